//! `burrow volume ls`: Docker's `DRIVER  VOLUME NAME` table, `-q`,
//! `--filter`, `--format json|TEMPLATE`.

use anyhow::Result;
use burrow_engine::{Store, VolumeRecord};

use super::Filter;

#[derive(clap::Args)]
pub struct Args {
    /// Only names.
    #[arg(short, long)]
    quiet: bool,
    /// Filters: name=, label=KEY[=VALUE], driver=, dangling=true|false.
    #[arg(short, long)]
    filter: Vec<String>,
    /// json, or a Go-style template such as '{{.Name}}'.
    #[arg(long)]
    format: Option<String>,
}

pub fn run(store: &Store, args: Args) -> Result<i32> {
    let filters = args
        .filter
        .iter()
        .map(|f| Filter::parse(f, &["name", "label", "label!", "driver", "dangling"]))
        .collect::<Result<Vec<_>>>()?;
    let in_use = store.volumes_in_use()?;
    let mut volumes = store.list_volumes()?;
    volumes.retain(|v| {
        filters
            .iter()
            .all(|f| f.matches(v, in_use.contains_key(&v.name)))
    });
    if args.quiet {
        volumes.iter().for_each(|v| println!("{}", v.name));
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            for v in &volumes {
                println!("{}", row(v));
            }
        }
        Some(template) => {
            for v in &volumes {
                println!("{}", super::super::ps::render(template, &row(v))?);
            }
        }
        None => print_table(&volumes),
    }
    Ok(0)
}

/// Docker's `volume ls --format json` object.
fn row(v: &VolumeRecord) -> serde_json::Value {
    let labels: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": "N/A",
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope,
        "Size": "N/A",
        "Status": "N/A",
    })
}

fn print_table(volumes: &[VolumeRecord]) {
    // Docker's tabwriter: at least 10 wide, 3 spaces of padding.
    let width = volumes
        .iter()
        .map(|v| v.driver.len())
        .chain(std::iter::once("DRIVER".len()))
        .max()
        .map_or(10, |w| (w + 3).max(10));
    println!("{:<width$}VOLUME NAME", "DRIVER");
    for v in volumes {
        println!("{:<width$}{}", v.driver, v.name);
    }
}
