//! The processes of a container: those sharing its init's pid namespace
//! (without one of its own, just the init).

use std::os::unix::fs::MetadataExt;

use crate::state::{is_alive, State};

pub fn container_pids(state: &State) -> Vec<i32> {
    if !is_alive(state.pid, state.pid_start_time) {
        return Vec::new();
    }
    let Some(ns) = pid_ns_inode(state.pid) else {
        return Vec::new();
    };
    if !state.own_pid_namespace {
        return vec![state.pid];
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return vec![state.pid];
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| pid_ns_inode(*pid) == Some(ns))
        .collect();
    pids.sort_unstable();
    pids
}

fn pid_ns_inode(pid: i32) -> Option<(u64, u64)> {
    let meta = std::fs::metadata(format!("/proc/{pid}/ns/pid")).ok()?;
    Some((meta.dev(), meta.ino()))
}
