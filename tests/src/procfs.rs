//! Reading /proc: finding a test's processes by the marker in their environment, and
//! decoding the capability masks of /proc/<pid>/status.
//!
//! Each sandbox puts `BURROW_TEST_SANDBOX=<token>` in the environment of every command it
//! starts (so the runtime and its helpers carry it) and in the `process.env` of every
//! bundle (so container processes carry it too). Scanning /proc/*/environ for it finds
//! exactly that test's processes, even among parallel tests running as the same user.
//! Reading another process' environ needs ptrace access: root has it, and the test user
//! has it over its own processes and those of the user namespaces it owns.

use std::time::{Duration, Instant};

/// Name of the environment variable that marks a test's processes.
pub const MARKER_VAR: &str = "BURROW_TEST_SANDBOX";

/// Pids of live processes whose initial environment holds `MARKER_VAR=token`.
pub fn processes_with_marker(token: &str) -> Vec<i32> {
    let wanted = format!("{MARKER_VAR}={token}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|environ| {
                    environ
                        .split(|b| *b == 0)
                        .any(|var| var == wanted.as_bytes())
                })
                .unwrap_or(false)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Sends SIGKILL to `pid` (errors ignored: it may be gone already).
pub fn kill_pid(pid: i32) {
    if pid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Whether `pid` exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may contain spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Kills the marked processes and the given pids until none is left or `patience` runs out.
/// Returns the pids still alive.
pub fn kill_all(token: &str, pids: &[i32], patience: Duration) -> Vec<i32> {
    let deadline = Instant::now() + patience;
    loop {
        let mut alive: Vec<i32> = processes_with_marker(token);
        alive.extend(pids.iter().copied().filter(|pid| is_alive(*pid)));
        alive.sort_unstable();
        alive.dedup();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        alive.iter().copied().for_each(kill_pid);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of `field` (e.g. `CapEff`) in a /proc/<pid>/status text.
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name == field).then(|| value.trim())
    })
}

/// A capability mask as /proc prints it (hex, no prefix).
pub fn parse_cap_mask(hex: &str) -> Option<u64> {
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// Capability names in the order of their numbers (linux/capability.h).
pub const CAPABILITY_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The mask of a list of capability names; panics on an unknown name.
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0, |mask, name| {
        let bit = CAPABILITY_NAMES
            .iter()
            .position(|known| known == name)
            .unwrap_or_else(|| panic!("unknown capability {name}"));
        mask | (1u64 << bit)
    })
}

/// The names in a capability mask, for readable assertion messages.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| {
            CAPABILITY_NAMES
                .get(bit)
                .map(|name| name.to_string())
                .unwrap_or_else(|| format!("cap{bit}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_masks_round_trip() {
        let mask = cap_mask(&["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        assert_eq!(mask, 0x421);
        assert_eq!(
            cap_names(mask),
            ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
        );
        assert_eq!(parse_cap_mask("0000000000000421"), Some(0x421));
        assert_eq!(cap_mask(&["CAP_CHECKPOINT_RESTORE"]), 1 << 40);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tsh\nCapEff:\t0000000000000421\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(status, "CapEff"), Some("0000000000000421"));
        assert_eq!(status_field(status, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(status, "CapBnd"), None);
    }

    #[test]
    fn marker_scan_finds_a_marked_child_only() {
        let token = crate::unique_name("marker");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env(MARKER_VAR, &token)
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        // Until the child execs, its environ is still the parent's.
        let deadline = Instant::now() + Duration::from_secs(5);
        while processes_with_marker(&token).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(processes_with_marker(&token), vec![pid]);
        assert!(is_alive(pid));
        // A killed child stays a zombie until reaped; zombies have no environ.
        assert!(kill_all(&token, &[], Duration::from_secs(5)).is_empty());
        assert!(!is_alive(pid));
        let _ = child.wait();
        assert!(processes_with_marker(&token).is_empty());
    }
}
