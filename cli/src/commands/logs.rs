//! `burrow logs`: the container's output; `-f`, `--tail`, `-t`, `--since`.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Result};
use burrow_engine::logs::{log_path, read_entries, read_from, LogEntry, LogFilter};
use burrow_engine::ContainerStatus;

#[derive(clap::Args)]
pub struct Args {
    /// Follow the output until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// Show only the last N lines ("all" for everything).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Prefix each line with its timestamp.
    #[arg(short, long)]
    timestamps: bool,
    /// Only lines since an RFC 3339 time or a relative duration (10s, 5m, 2h).
    #[arg(long)]
    since: Option<String>,
    container: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let record = store.resolve(&args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("--tail takes a number or \"all\""))?,
        ),
    };
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let path = log_path(&store.container_dir(&record.id));
    let (entries, mut offset) = read_entries(&path, &LogFilter { tail, since })?;
    print_entries(&entries, args.timestamps);
    if !args.follow {
        return Ok(0);
    }
    loop {
        let running = store.load(&record.id)?.status == ContainerStatus::Running;
        if path.exists() {
            let (entries, next) = read_from(&path, offset)?;
            offset = next;
            print_entries(&entries, args.timestamps);
        }
        if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn print_entries(entries: &[LogEntry], timestamps: bool) {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let (mut out, mut err) = (stdout.lock(), stderr.lock());
    for e in entries {
        let target: &mut dyn Write = if e.stream == "stderr" {
            &mut err
        } else {
            &mut out
        };
        if timestamps {
            let _ = write!(target, "{} ", e.time);
        }
        let _ = target.write_all(e.log.as_bytes());
    }
    let _ = out.flush();
    let _ = err.flush();
}

/// An RFC 3339 time as is, or now minus `10s`/`5m`/`2h`.
fn parse_since(text: &str) -> Result<String> {
    if burrow_runtime::state::parse_rfc3339(text).is_some() {
        return Ok(text.to_string());
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds: u64 = match (number.parse::<u64>(), unit) {
        (Ok(n), "s") => n,
        (Ok(n), "m") => n * 60,
        (Ok(n), "h") => n * 3600,
        _ => bail!("--since takes an RFC 3339 time or a duration like 10s, 5m, 2h"),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(burrow_runtime::state::rfc3339(
        now.as_secs() as i64 - seconds as i64,
        0,
    ))
}
