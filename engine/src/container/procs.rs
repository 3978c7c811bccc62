//! A running container's processes, found through /proc: every process in
//! the pid namespace of the container's init (exec'd processes included),
//! or, for a container that shares the host's pid namespace, the init and
//! its descendants. `pause`, `top` and `stats` build on this.
//!
//! The user owns the container's user namespace, so it may read the
//! namespace links and signal every process in it, whatever id it runs as
//! inside.

use crate::error::{EngineError, Result};
use crate::record::{ContainerRecord, ContainerStatus};

/// One process as /proc shows it.
#[derive(Debug, Clone, Default)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    /// One-letter state (`R`, `S`, `T` stopped, …).
    pub state: char,
    /// Real uid, as seen from the host.
    pub uid: u32,
    /// Controlling terminal device number (0: none).
    pub tty_nr: u64,
    /// Start time in clock ticks since boot.
    pub start_ticks: u64,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    pub threads: u64,
    /// The command line (`[comm]` for kernel-style processes without one).
    pub command: String,
}

/// The pids of `record`'s processes, init first.
pub fn container_pids(record: &ContainerRecord) -> Result<Vec<i32>> {
    if record.status != ContainerStatus::Running
        || !burrow_runtime::state::is_alive(record.pid, record.pid_start_time)
    {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: record.status.to_string(),
            action: "container is not running".into(),
        });
    }
    let init = record.pid;
    let all = all_pids();
    let own_ns = ns_link("self");
    let init_ns = ns_link(&init.to_string());
    let mut pids: Vec<i32> = match (init_ns, own_ns) {
        (Some(init_ns), Some(own_ns)) if init_ns != own_ns => all
            .into_iter()
            .filter(|pid| ns_link(&pid.to_string()).as_deref() == Some(init_ns.as_str()))
            .collect(),
        _ => descendants(init, &all),
    };
    pids.sort_unstable();
    pids.retain(|&p| p != init);
    pids.insert(0, init);
    Ok(pids)
}

/// The processes of `record`, init first (processes that exit meanwhile are left out).
pub fn container_processes(record: &ContainerRecord) -> Result<Vec<ProcessInfo>> {
    Ok(container_pids(record)?
        .into_iter()
        .filter_map(process_info)
        .collect())
}

pub fn process_info(pid: i32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let status_field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let command = if cmdline.is_empty() {
        format!("[{comm}]")
    } else {
        cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(ProcessInfo {
        pid,
        ppid: number(1)? as i32,
        state: fields.first()?.chars().next()?,
        uid: status_field("Uid:").unwrap_or_default() as u32,
        tty_nr: number(4).unwrap_or_default(),
        start_ticks: number(19).unwrap_or_default(),
        cpu_ticks: number(11).unwrap_or_default() + number(12).unwrap_or_default(),
        rss_bytes: status_field("VmRSS:").unwrap_or_default() * 1024,
        threads: status_field("Threads:").unwrap_or(1),
        command,
    })
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn ns_link(pid: &str) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|l| l.to_string_lossy().into_owned())
}

fn descendants(root: i32, all: &[i32]) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = all
        .iter()
        .filter_map(|&pid| Some((pid, process_info(pid)?.ppid)))
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(
            parents
                .iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        index += 1;
    }
    found
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100, |t| t as u64)
}

/// Seconds since boot, from /proc/uptime.
pub fn uptime_seconds() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_reads_back() {
        let me = process_info(std::process::id() as i32).unwrap();
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        assert!(me.threads >= 1);
        assert!(me.rss_bytes > 0);
        assert!(!me.command.is_empty());
    }
}
