//! `kill`: send a signal to the init, or with `all` to every process of the container.

use std::path::Path;

use crate::error::{Context, Result, RuntimeError};
use crate::state::{StateDir, Status};

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(text: &str) -> Result<i32> {
    if let Ok(n) = text.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .or_else(|_| realtime_signal(&name).ok_or(()))
        .map_err(|_| RuntimeError::Other(format!("unknown signal {text:?}")))
}

fn realtime_signal(name: &str) -> Option<i32> {
    let min = libc::SIGRTMIN();
    let max = libc::SIGRTMAX();
    if name == "SIGRTMIN" {
        return Some(min);
    }
    if name == "SIGRTMAX" {
        return Some(max);
    }
    let offset: i32 = name.strip_prefix("SIGRTMIN+")?.parse().ok()?;
    (min + offset <= max).then_some(min + offset)
}

pub fn kill(root: &Path, id: &str, signal: i32, all: bool) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    if state.status == Status::Stopped {
        return Err(RuntimeError::WrongStatus {
            id: id.into(),
            status: state.status.to_string(),
            action: "container not running".into(),
        });
    }
    let targets = if all {
        super::container_pids(&state)
    } else {
        vec![state.pid]
    };
    for pid in targets {
        match crate::sys::send_signal(pid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(e) => return Err(e).context(|| format!("cannot signal pid {pid}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGHUP").unwrap(), 1);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
        assert_eq!(parse_signal("RTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
    }
}
