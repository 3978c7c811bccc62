//! `burrow top CONTAINER [ps OPTIONS]`: the container's processes. Without
//! options, `ps -ef`'s columns read from /proc; with options, the host's
//! `ps` with them, keeping the rows of the container's processes (as Docker
//! does; the output needs a PID column).

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use burrow_engine::container::{clock_ticks, container_processes, uptime_seconds, ProcessInfo};

#[derive(clap::Args)]
pub struct Args {
    container: String,
    /// Options for ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_options: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::daemon_result(|| {
        let record = store.resolve(&args.container)?;
        let processes = container_processes(&record)?;
        let rows = if args.ps_options.is_empty() || args.ps_options == ["-ef"] {
            default_rows(&processes)
        } else {
            host_ps_rows(&args.ps_options, &processes)?
        };
        print!("{}", super::table::render(&rows, 20));
        Ok(0)
    })
}

fn default_rows(processes: &[ProcessInfo]) -> Vec<Vec<String>> {
    let ticks = clock_ticks().max(1);
    let uptime = uptime_seconds();
    let boot = boot_time();
    let mut rows = vec![["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        .map(String::from)
        .to_vec()];
    for p in processes {
        let started = p.start_ticks / ticks;
        let cpu_seconds = p.cpu_ticks / ticks;
        let elapsed = (uptime - started as f64).max(1.0);
        let percent = (p.cpu_ticks as f64 / ticks as f64 * 100.0 / elapsed) as u64;
        rows.push(vec![
            user_name(p.uid),
            p.pid.to_string(),
            p.ppid.to_string(),
            percent.to_string(),
            start_clock(boot + started),
            tty_name(p.tty_nr),
            cpu_time(cpu_seconds),
            p.command.clone(),
        ]);
    }
    rows
}

fn host_ps_rows(options: &[String], processes: &[ProcessInfo]) -> Result<Vec<Vec<String>>> {
    let output = std::process::Command::new("ps")
        .args(options)
        .output()
        .context("cannot run ps")?;
    if !output.status.success() {
        bail!(
            "ps {}: {}",
            options.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let Some(pid_column) = header.iter().position(|h| h == "PID") else {
        bail!("couldn't find the PID field in the ps output");
    };
    let pids: BTreeSet<String> = processes.iter().map(|p| p.pid.to_string()).collect();
    let mut rows = vec![header.clone()];
    for line in lines {
        let cells = split_columns(line, header.len());
        if cells.get(pid_column).is_some_and(|pid| pids.contains(pid)) {
            rows.push(cells);
        }
    }
    Ok(rows)
}

/// The first `n - 1` whitespace-separated fields, then the rest of the line.
fn split_columns(line: &str, n: usize) -> Vec<String> {
    let mut cells = Vec::new();
    let mut rest = line.trim_start();
    while cells.len() + 1 < n {
        let Some(end) = rest.find(char::is_whitespace) else {
            break;
        };
        cells.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        cells.push(rest.to_string());
    }
    cells
}

fn boot_time() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        })
        .unwrap_or_default()
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

/// `HH:MM` (UTC) for a start today, else `MonDD`.
fn start_clock(epoch: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp = burrow_runtime::state::rfc3339(epoch as i64, 0);
    if now / 86_400 == epoch / 86_400 {
        return stamp[11..16].to_string();
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = stamp[5..7].parse().unwrap_or(1);
    format!("{}{}", MONTHS[(month - 1) % 12], &stamp[8..10])
}

fn tty_name(tty_nr: u64) -> String {
    if tty_nr == 0 {
        return "?".into();
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 => format!("tty{minor}"),
        _ => "?".into(),
    }
}

/// `[D-]HH:MM:SS`, as ps prints cumulative CPU time.
fn cpu_time(seconds: u64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if days > 0 {
        format!("{days}-{clock}")
    } else {
        clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_fields_format_like_procps() {
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(3723), "01:02:03");
        assert_eq!(cpu_time(90_000), "1-01:00:00");
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name(136 << 8 | 3), "pts/3");
        assert_eq!(
            split_columns("  1 root   sleep 100", 3),
            ["1", "root", "sleep 100"]
        );
    }
}
