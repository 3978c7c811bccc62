//! `burrow stats`: CPU, memory, network, block I/O and pids per container,
//! from /proc (see `burrow_engine::container::usage`). CPU % is the CPU time
//! used between two readings over the wall time between them (100% is one
//! core busy). Streams every second unless `--no-stream`.

use burrow_engine::units::binary_size;
use std::time::{Duration, Instant};

use anyhow::Result;
use burrow_engine::container::{clock_ticks, usage, Usage};
use burrow_engine::{ContainerRecord, ContainerStatus, Store};

#[derive(clap::Args)]
pub struct Args {
    /// Show all containers (default: running only).
    #[arg(short, long)]
    all: bool,
    /// Print one reading and exit.
    #[arg(long)]
    no_stream: bool,
    /// Don't truncate ids.
    #[arg(long)]
    no_trunc: bool,
    /// json, table, or a Go-style template such as '{{.Name}} {{.CPUPerc}}'.
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

/// Column titles for `--format 'table {{.Field}}…'`.
const HEADERS: [(&str, &str); 9] = [
    ("Container", "CONTAINER"),
    ("ID", "CONTAINER ID"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

const INTERVAL: Duration = Duration::from_millis(500);

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let records = match selected(&store, &args) {
        Ok(records) => records,
        Err(e) => {
            eprintln!("burrow: error: {e:#}");
            return Ok(1);
        }
    };
    let mut previous = (Instant::now(), readings(&records));
    loop {
        std::thread::sleep(INTERVAL);
        let now = (Instant::now(), readings(&records));
        let elapsed = now.0.duration_since(previous.0).as_secs_f64();
        let rows: Vec<serde_json::Value> = records
            .iter()
            .zip(previous.1.iter().zip(&now.1))
            .map(|(r, (before, after))| row(r, before, after, elapsed, args.no_trunc))
            .collect();
        if !args.no_stream {
            print!("\x1b[2J\x1b[H");
        }
        print_rows(&rows, args.format.as_deref())?;
        if args.no_stream {
            return Ok(0);
        }
        previous = now;
    }
}

fn selected(store: &Store, args: &Args) -> Result<Vec<ContainerRecord>> {
    if args.containers.is_empty() {
        let mut all = store.list()?;
        all.retain(|r| args.all || r.status == ContainerStatus::Running);
        return Ok(all);
    }
    Ok(args
        .containers
        .iter()
        .map(|c| store.resolve(c))
        .collect::<Result<_, _>>()?)
}

fn readings(records: &[ContainerRecord]) -> Vec<Option<Usage>> {
    records.iter().map(|r| usage(r).ok()).collect()
}

fn row(
    r: &ContainerRecord,
    before: &Option<Usage>,
    after: &Option<Usage>,
    elapsed: f64,
    full: bool,
) -> serde_json::Value {
    let id = if full { r.id.as_str() } else { r.short_id() };
    let Some(now) = after else {
        return serde_json::json!({
            "Container": id, "ID": id, "Name": r.name, "CPUPerc": "0.00%",
            "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
            "BlockIO": "0B / 0B", "PIDs": "0",
        });
    };
    let cpu_ticks = before
        .as_ref()
        .map_or(0, |b| now.cpu_ticks.saturating_sub(b.cpu_ticks));
    let cpu = cpu_ticks as f64 / clock_ticks().max(1) as f64 / elapsed.max(0.001) * 100.0;
    let memory = if now.memory_limit > 0 {
        now.memory_bytes as f64 / now.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    serde_json::json!({
        "Container": id,
        "ID": id,
        "Name": r.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(now.memory_bytes), binary_size(now.memory_limit)),
        "MemPerc": format!("{memory:.2}%"),
        "NetIO": format!("{} / {}", super::ps::human_size(now.net_rx), super::ps::human_size(now.net_tx)),
        "BlockIO": format!("{} / {}", super::ps::human_size(now.block_read), super::ps::human_size(now.block_write)),
        "PIDs": now.pids.to_string(),
    })
}

fn print_rows(rows: &[serde_json::Value], format: Option<&str>) -> Result<()> {
    match format {
        Some("json") => {
            for row in rows {
                println!("{}", serde_json::to_string(row)?);
            }
        }
        Some(template) if !template.starts_with("table") => {
            for row in rows {
                println!("{}", super::ps::render(template, row)?);
            }
        }
        Some(table) if !table.trim_start_matches("table").trim().is_empty() => {
            let template = table.trim_start_matches("table").trim();
            print!(
                "{}",
                super::table::render_template(template, &HEADERS, rows)?
            );
        }
        _ => {
            let columns = [
                ("CONTAINER ID", "ID"),
                ("NAME", "Name"),
                ("CPU %", "CPUPerc"),
                ("MEM USAGE / LIMIT", "MemUsage"),
                ("MEM %", "MemPerc"),
                ("NET I/O", "NetIO"),
                ("BLOCK I/O", "BlockIO"),
                ("PIDS", "PIDs"),
            ];
            let mut table = vec![columns.iter().map(|(h, _)| h.to_string()).collect()];
            for row in rows {
                table.push(
                    columns
                        .iter()
                        .map(|(_, k)| row[*k].as_str().unwrap_or_default().to_string())
                        .collect(),
                );
            }
            print!("{}", super::table::render(&table, 10));
        }
    }
    Ok(())
}
