//! The user's container user namespace: the invoking user as root, plus its
//! subordinate ids (`/etc/subuid`, `/etc/subgid`) as 1…N when `newuidmap` and
//! `newgidmap` can map them, else the user alone.
//!
//! Everything that owns container files runs inside such a namespace, as its
//! root: the supervisor (which serves the overlay and runs the container), the
//! layer unpacker (so image owners land on disk as the matching subordinate
//! ids) and removals of trees written by containers (files of subordinate ids
//! that the user cannot delete from outside). Every namespace made here has
//! the same maps, so ownership on disk means the same thing in all of them.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use burrow_runtime::idmap::{self, IdKind};
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Gid, Uid};

use crate::error::{EngineError, Result};
use crate::spec_builder::{on_path, subordinate_range};

/// `(inside, outside, count)` triples for uids and gids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMaps {
    pub uid: Vec<(u32, u32, u32)>,
    pub gid: Vec<(u32, u32, u32)>,
}

impl IdMaps {
    /// The maps for the invoking user (see the module comment).
    pub fn for_current_user() -> IdMaps {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        if uid == 0 {
            // Real root maps the whole id space onto itself.
            let all = vec![(0, 0, u32::MAX)];
            return IdMaps {
                uid: all.clone(),
                gid: all,
            };
        }
        let helpers = ["newuidmap", "newgidmap"].iter().all(|h| on_path(h));
        let name = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_default();
        let map = |own: u32, file: &str| {
            let mut maps = vec![(0, own, 1)];
            if helpers {
                if let Some((start, count)) = subordinate_range(file, &name, uid) {
                    maps.push((1, start, count));
                }
            }
            maps
        };
        IdMaps {
            uid: map(uid, "/etc/subuid"),
            gid: map(gid, "/etc/subgid"),
        }
    }

    /// How many ids the namespace has (1 without subordinate ids).
    pub fn size(&self) -> u64 {
        self.uid.iter().map(|m| u64::from(m.2)).sum()
    }
}

/// Moves the calling process into a new user namespace with `maps`, as its
/// root with every capability there.
///
/// The caller must be single-threaded: `unshare(CLONE_NEWUSER)` refuses a
/// process with other threads.
pub fn enter(maps: &IdMaps) -> Result<()> {
    let (go_read, go_write) = pipe()?;
    let (done_read, done_write) = pipe()?;
    let target = nix::unistd::getpid().as_raw();
    // SAFETY: the child only writes the maps of its parent (running the
    // setuid helpers) and exits; nothing it runs depends on locks another
    // thread could hold, the caller being single-threaded.
    match unsafe { nix::unistd::fork() }.map_err(|e| other(format!("cannot fork: {e}")))? {
        ForkResult::Child => {
            drop((go_write, done_read));
            let code = write_maps_when_told(target, maps, go_read, done_write);
            // SAFETY: leaving the forked child without running the parent's
            // exit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop((go_read, done_write));
            let unshared = nix::sched::unshare(CloneFlags::CLONE_NEWUSER);
            if unshared.is_ok() {
                let _ = std::fs::File::from(go_write).write_all(b"go");
            } else {
                drop(go_write);
            }
            let mut report = String::new();
            let _ = std::fs::File::from(done_read).read_to_string(&mut report);
            let _ = waitpid(child, None);
            unshared.map_err(|e| {
                other(format!(
                    "cannot create a user namespace: {e} (are unprivileged user namespaces \
                     enabled? see sysctl kernel.unprivileged_userns_clone)"
                ))
            })?;
            if report != "ok" {
                return Err(other(if report.is_empty() {
                    "the id-mapping helper died".to_string()
                } else {
                    report
                }));
            }
        }
    }
    become_root()
}

fn write_maps_when_told(target: i32, maps: &IdMaps, go: OwnedFd, done: OwnedFd) -> i32 {
    let mut word = [0u8; 2];
    if std::fs::File::from(go).read_exact(&mut word).is_err() {
        return 1;
    }
    let result = idmap::write_map(target, IdKind::User, &maps.uid)
        .and_then(|()| idmap::write_map(target, IdKind::Group, &maps.gid));
    let report = match result {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let _ = std::fs::File::from(done).write_all(report.as_bytes());
    0
}

fn become_root() -> Result<()> {
    let root_gid = Gid::from_raw(0);
    let root_uid = Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .map_err(|e| other(format!("cannot become gid 0 in the user namespace: {e}")))?;
    // Supplementary groups of the host are unmapped there; drop them where allowed.
    let _ = nix::unistd::setgroups(&[]);
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .map_err(|e| other(format!("cannot become uid 0 in the user namespace: {e}")))?;
    Ok(())
}

/// Runs `work` in a child process inside a new user namespace with `maps`
/// and returns what it returned; an `Err` string becomes the error.
///
/// The child is forked: `work` must not need locks that another thread of
/// the caller may hold at that moment.
pub fn run_inside(
    maps: &IdMaps,
    work: impl FnOnce() -> std::result::Result<String, String>,
) -> Result<String> {
    run_forked(|| enter(maps).map_err(|e| e.to_string()), work)
}

/// Runs `work` in a child process that joins the user namespace of process
/// `pid` (one the user owns: a container's) and returns what it returned.
/// There it has every capability over the container's files and processes,
/// which a namespace of its own would not give it over another namespace's.
pub fn run_joined(
    pid: i32,
    work: impl FnOnce() -> std::result::Result<String, String>,
) -> Result<String> {
    let join = move || {
        let path = format!("/proc/{pid}/ns/user");
        let ns = std::fs::File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
        nix::sched::setns(ns, CloneFlags::CLONE_NEWUSER)
            .map_err(|e| format!("cannot join the user namespace of process {pid}: {e}"))
    };
    run_forked(join, work)
}

/// Forks; the child runs `setup` then `work` and reports the outcome.
fn run_forked(
    setup: impl FnOnce() -> std::result::Result<(), String>,
    work: impl FnOnce() -> std::result::Result<String, String>,
) -> Result<String> {
    let (report_read, report_write) = pipe()?;
    // SAFETY: see `run_inside`; the child ends with _exit.
    match unsafe { nix::unistd::fork() }.map_err(|e| other(format!("cannot fork: {e}")))? {
        ForkResult::Child => {
            drop(report_read);
            let outcome = setup().and_then(|()| work());
            let report = match outcome {
                Ok(value) => format!("ok {value}"),
                Err(e) => format!("error {e}"),
            };
            let _ = std::fs::File::from(report_write).write_all(report.as_bytes());
            // SAFETY: leaving the forked child without the parent's exit handlers.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(report_write);
            let mut report = String::new();
            let _ = std::fs::File::from(report_read).read_to_string(&mut report);
            let status = waitpid(child, None);
            if let Some(value) = report.strip_prefix("ok ") {
                return Ok(value.to_string());
            }
            if let Some(message) = report.strip_prefix("error ") {
                return Err(other(message.to_string()));
            }
            Err(other(match status {
                Ok(WaitStatus::Signaled(_, signal, _)) => {
                    format!("the user-namespace helper process was killed by {signal}")
                }
                _ => "the user-namespace helper process died".into(),
            }))
        }
    }
}

/// [`run_inside`] with the invoking user's maps.
pub fn run_as_container_root(
    work: impl FnOnce() -> std::result::Result<String, String>,
) -> Result<String> {
    run_inside(&IdMaps::for_current_user(), work)
}

/// Removes the tree at `path`, from inside the user namespace when files of
/// subordinate ids make it impossible from outside. A missing path is fine.
pub fn remove_tree(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => {
            return Err(other(format!("cannot remove {}: {e}", path.display())))
        }
        Err(_) => {}
    }
    run_as_container_root(|| match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(String::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    })
    .map(drop)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| other(format!("cannot create a pipe: {e}")))
}

fn other(message: String) -> EngineError {
    EngineError::Other(message)
}
