//! `burrow logs`: the container's output; `-f`, `--tail`, `-t`, `--since`, `--until`.

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
    /// Only lines since a time: RFC 3339, Unix seconds, or a duration ago (10s, 5m, 1h30m).
    #[arg(long)]
    since: Option<String>,
    /// Only lines before a time (same forms as --since).
    #[arg(long)]
    until: Option<String>,
    container: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let record = store.resolve(&args.container)?;
    let tail = match args.tail.as_str() {
        "all" | "-1" => None,
        n => Some(
            n.parse()
                .map_err(|_| anyhow::anyhow!("--tail takes a number or \"all\", not {n:?}"))?,
        ),
    };
    let filter = LogFilter {
        tail,
        since: args.since.as_deref().map(parse_time).transpose()?,
        until: args.until.as_deref().map(parse_time).transpose()?,
    };
    let path = log_path(&store.container_dir(&record.id));
    let (entries, mut offset) = read_entries(&path, &filter)?;
    print_entries(&entries, args.timestamps);
    if !args.follow {
        return Ok(0);
    }
    loop {
        let running = store.load(&record.id)?.status == ContainerStatus::Running;
        if path.exists() {
            let (entries, next) = read_from(&path, offset)?;
            offset = next;
            let entries: Vec<LogEntry> = entries.into_iter().filter(|e| filter.admits(e)).collect();
            print_entries(&entries, args.timestamps);
        }
        let past_until = filter
            .until
            .as_ref()
            .is_some_and(|u| burrow_runtime::state::rfc3339_now() >= *u);
        if !running || past_until {
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

/// A time as the log writes them: RFC 3339 (`Z` or an offset, optional
/// fraction), Unix seconds (`1700000000[.5]`), or now minus a Go duration.
fn parse_time(text: &str) -> Result<String> {
    let (secs, nanos) = match parse_rfc3339(text)
        .or_else(|| parse_unix(text))
        .or_else(|| parse_ago(text))
    {
        Some(t) => t,
        None => bail!(
            "invalid time {text:?}: use RFC 3339 (2024-01-02T15:04:05Z), Unix seconds, or a duration like 10m"
        ),
    };
    Ok(burrow_runtime::state::rfc3339(secs, nanos))
}

fn parse_rfc3339(text: &str) -> Option<(i64, u32)> {
    let (date_time, offset) = if let Some(rest) = text.strip_suffix('Z') {
        (rest, 0)
    } else {
        let split = text.len().checked_sub(6)?;
        let (rest, zone) = text.split_at(split);
        let sign = match zone.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let hours: i64 = zone.get(1..3)?.parse().ok()?;
        let minutes: i64 = zone.get(4..6)?.parse().ok()?;
        (rest, sign * (hours * 3600 + minutes * 60))
    };
    let (whole, fraction) = date_time.split_once('.').unwrap_or((date_time, ""));
    let secs = burrow_runtime::state::parse_rfc3339(&format!("{whole}Z"))?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        if !fraction.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 9 {
            return None;
        }
        format!("{fraction:0<9}").parse().ok()?
    };
    Some((secs - offset, nanos))
}

fn parse_unix(text: &str) -> Option<(i64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = whole.parse().ok()?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{:0<9}", fraction.get(..fraction.len().min(9))?)
            .parse()
            .ok()?
    };
    Some((secs, nanos))
}

/// Now minus a Go duration: `10s`, `5m`, `1h30m`, `1.5h`, `300ms`.
fn parse_ago(text: &str) -> Option<(i64, u32)> {
    let seconds = go_duration_seconds(text)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let then = now - seconds;
    Some((then.floor() as i64, ((then.fract()) * 1e9) as u32))
}

fn go_duration_seconds(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_normalise_to_the_logs_form() {
        assert_eq!(
            parse_time("2024-01-02T15:04:05Z").unwrap(),
            "2024-01-02T15:04:05.000000000Z"
        );
        assert_eq!(
            parse_time("2024-01-02T16:04:05.5+01:00").unwrap(),
            "2024-01-02T15:04:05.500000000Z"
        );
        assert_eq!(
            parse_time("1704207845").unwrap(),
            "2024-01-02T15:04:05.000000000Z"
        );
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("10x").is_err());
    }

    #[test]
    fn go_durations_add_up() {
        assert_eq!(go_duration_seconds("10m"), Some(600.0));
        assert_eq!(go_duration_seconds("1h30m"), Some(5400.0));
        assert_eq!(go_duration_seconds("1.5s"), Some(1.5));
        assert_eq!(go_duration_seconds("300ms"), Some(0.3));
        assert_eq!(go_duration_seconds("5"), None);
    }
}
