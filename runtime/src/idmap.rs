//! Writing a new user namespace's uid and gid maps.
//!
//! A map that only names the caller's own id is written straight into
//! `/proc/PID/uid_map` (after `deny` into `setgroups`, as the kernel requires).
//! Anything wider goes through the setuid helpers `newuidmap`/`newgidmap`,
//! which check the ranges against `/etc/subuid` and `/etc/subgid`.

use std::io::ErrorKind;
use std::process::Command;

use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Result, RuntimeError};

/// Which id map to write.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum IdKind {
    User,
    Group,
}

impl IdKind {
    fn proc_file(self) -> &'static str {
        match self {
            IdKind::User => "uid_map",
            IdKind::Group => "gid_map",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            IdKind::User => "newuidmap",
            IdKind::Group => "newgidmap",
        }
    }
    fn sub_file(self) -> &'static str {
        match self {
            IdKind::User => "/etc/subuid",
            IdKind::Group => "/etc/subgid",
        }
    }
    fn own_id(self) -> u32 {
        match self {
            IdKind::User => nix::unistd::geteuid().as_raw(),
            IdKind::Group => nix::unistd::getegid().as_raw(),
        }
    }
}

/// The maps to use: the config's, or the caller's own id as 0 when it gives none.
pub fn effective_mappings(
    kind: IdKind,
    configured: Option<&[LinuxIdMapping]>,
) -> Vec<(u32, u32, u32)> {
    match configured {
        Some(maps) if !maps.is_empty() => maps
            .iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect(),
        _ => vec![(0, kind.own_id(), 1)],
    }
}

/// Whether the map can be written without the setuid helper.
fn is_self_map(kind: IdKind, maps: &[(u32, u32, u32)]) -> bool {
    nix::unistd::geteuid().is_root()
        || (maps.len() == 1 && maps[0].1 == kind.own_id() && maps[0].2 == 1)
}

/// Writes the `kind` map of process `pid`.
pub fn write_map(pid: i32, kind: IdKind, maps: &[(u32, u32, u32)]) -> Result<()> {
    if is_self_map(kind, maps) {
        return write_direct(pid, kind, maps);
    }
    let mut args = vec![pid.to_string()];
    for (inside, outside, size) in maps {
        args.extend([inside.to_string(), outside.to_string(), size.to_string()]);
    }
    let output = Command::new(kind.helper()).args(&args).output();
    let output = match output {
        Ok(o) => o,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(RuntimeError::Other(format!(
                "{} not found: the config maps a range of ids, which needs the setuid helpers \
                 newuidmap and newgidmap (install the `uidmap` package)",
                kind.helper()
            )))
        }
        Err(e) => {
            return Err(RuntimeError::Io {
                context: format!("cannot run {}", kind.helper()),
                error: e,
            })
        }
    };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let user = whoami();
    Err(RuntimeError::Other(format!(
        "{} {} failed: {} (is there a line like `{user}:100000:65536` in {}?)",
        kind.helper(),
        args.join(" "),
        stderr.trim(),
        kind.sub_file()
    )))
}

fn write_direct(pid: i32, kind: IdKind, maps: &[(u32, u32, u32)]) -> Result<()> {
    if kind == IdKind::Group && !nix::unistd::geteuid().is_root() {
        let path = format!("/proc/{pid}/setgroups");
        std::fs::write(&path, "deny").map_err(|e| RuntimeError::Io {
            context: format!("cannot write {path}"),
            error: e,
        })?;
    }
    let text: String = maps
        .iter()
        .map(|(inside, outside, size)| format!("{inside} {outside} {size}\n"))
        .collect();
    let path = format!("/proc/{pid}/{}", kind.proc_file());
    std::fs::write(&path, text).map_err(|e| RuntimeError::Io {
        context: format!("cannot write {path}"),
        error: e,
    })
}

/// The caller's user name, for hints.
pub fn whoami() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mapping_is_own_id_as_root() {
        let m = effective_mappings(IdKind::User, None);
        assert_eq!(m, vec![(0, nix::unistd::geteuid().as_raw(), 1)]);
    }
}
