//! Resource limits through a delegated cgroup v2 subtree, when there is one.
//!
//! A rootless runtime may only use cgroups the system delegated to the user
//! (systemd's `user@UID.service` with `Delegate=yes`, or a subtree an
//! administrator chowned). On a pure v2 host we create the container's cgroup
//! next to our own (`<parent of our cgroup>/burrow-<id>`, or the config's
//! absolute `cgroupsPath`), enable what controllers the parent offers, write
//! memory/pids/cpu limits and move the init in. Anything missing — a v1 or
//! hybrid host, no write access, a controller not delegated — means the
//! container runs without that limit; it never makes `create` fail.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxResources, Spec};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Places `pid` in a cgroup for container `id`; its path when that worked.
pub fn enter(spec: &Spec, id: &str, pid: i32) -> Option<PathBuf> {
    if !Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() {
        return None; // not a unified (v2-only) hierarchy
    }
    let linux = spec.linux().as_ref()?;
    let path = match linux.cgroups_path() {
        Some(p) if p.is_absolute() => Path::new(CGROUP_ROOT).join(p.strip_prefix("/").ok()?),
        _ => own_cgroup()?.parent()?.join(format!("burrow-{id}")),
    };
    let parent = path.parent()?;
    if nix::unistd::access(parent, nix::unistd::AccessFlags::W_OK).is_err() {
        return None;
    }
    std::fs::create_dir_all(&path).ok()?;
    enable_controllers(parent);
    if let Some(resources) = linux.resources() {
        write_limits(&path, resources);
    }
    if std::fs::write(path.join("cgroup.procs"), pid.to_string()).is_err() {
        let _ = std::fs::remove_dir(&path);
        return None;
    }
    Some(path)
}

/// Whether limits can be enforced here: a unified hierarchy and a writable
/// parent of our own cgroup (what [`enter`] needs).
pub fn delegated() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
        && own_cgroup()
            .and_then(|own| own.parent().map(Path::to_path_buf))
            .is_some_and(|parent| {
                nix::unistd::access(&parent, nix::unistd::AccessFlags::W_OK).is_ok()
            })
}

/// Removes the container's cgroup once its processes are gone.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_dir(path);
}

fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let relative = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new(CGROUP_ROOT).join(relative.trim_start_matches('/')))
}

fn enable_controllers(parent: &Path) {
    let Ok(available) = std::fs::read_to_string(parent.join("cgroup.controllers")) else {
        return;
    };
    for controller in ["memory", "pids", "cpu"] {
        if available.split_whitespace().any(|c| c == controller) {
            let _ = std::fs::write(
                parent.join("cgroup.subtree_control"),
                format!("+{controller}"),
            );
        }
    }
}

fn write_limits(path: &Path, resources: &LinuxResources) {
    let mut settings: Vec<(&str, String)> = Vec::new();
    if let Some(memory) = resources.memory() {
        if let Some(limit) = memory.limit() {
            settings.push(("memory.max", limit_value(limit)));
        }
        if let Some(swap) = memory.swap() {
            // v1's swap is memory+swap; v2's swap.max is swap alone.
            let swap_only = match (swap, memory.limit()) {
                (s, Some(l)) if s > 0 && l > 0 => (s - l).max(0),
                (s, _) => s,
            };
            settings.push(("memory.swap.max", limit_value(swap_only)));
        }
    }
    if let Some(pids) = resources.pids() {
        settings.push(("pids.max", limit_value(pids.limit())));
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = cpu.quota() {
            let period = cpu.period().unwrap_or(100_000);
            settings.push(("cpu.max", format!("{} {period}", limit_value(quota))));
        }
        if let Some(shares) = cpu.shares() {
            settings.push(("cpu.weight", shares_to_weight(shares).to_string()));
        }
    }
    for (file, value) in settings {
        if let Err(e) = std::fs::write(path.join(file), &value) {
            eprintln!(
                "burrow: warning: cannot set {file}={value} (controller not delegated?): {e}"
            );
        }
    }
}

fn limit_value(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// cgroup v1 cpu.shares (2..262144) → v2 cpu.weight (1..10000), as runc converts.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn negative_limits_mean_max() {
        assert_eq!(limit_value(-1), "max");
        assert_eq!(limit_value(1 << 20), "1048576");
    }
}
