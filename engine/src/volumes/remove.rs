//! Removing a volume's tree, including what the container's other users own.
//!
//! Files that a non-root user of the container created belong, on the host,
//! to one of the caller's subordinate ids; in directories they own the
//! caller cannot delete them. Inside a user namespace with the container's
//! mapping (the caller as 0, its subordinate range from 1) the caller is
//! root with CAP_DAC_OVERRIDE over all of them, as `podman unshare` uses.
//! So when a plain removal fails, `rm -rf` runs in such a namespace: a
//! child shell unshares its user namespace, waits until `newuidmap` and
//! `newgidmap` have written its maps, then execs `rm` (as root of the
//! namespace, so with its capabilities). A caller that already runs inside
//! the container's namespace (as its root) succeeds with the plain removal.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{EngineError, IoContext, Result};
use crate::spec_builder::subordinate_range;

/// Removes `path`, also where a container took the write bit off
/// directories or its other users own parts of it.
pub fn remove_tree(path: &Path) -> Result<()> {
    if std::fs::remove_dir_all(path).is_ok() {
        return Ok(());
    }
    make_dirs_writable(path);
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => remove_in_user_namespace(path).map_err(|ns| {
            EngineError::Other(format!(
                "cannot remove {}: {e}; as the container's root neither: {ns}",
                path.display()
            ))
        }),
    }
}

fn make_dirs_writable(path: &Path) {
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
}

/// `rm -rf PATH` as root of a user namespace mapping the caller and its
/// subordinate ranges.
fn remove_in_user_namespace(path: &Path) -> Result<()> {
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let name = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let ranges = subordinate_range("/etc/subuid", &name, uid).zip(subordinate_range(
        "/etc/subgid",
        &name,
        gid,
    ));
    let Some(((uid_start, uid_count), (gid_start, gid_count))) = ranges else {
        return Err(EngineError::Other(format!(
            "no subordinate ids for {name} in /etc/subuid and /etc/subgid"
        )));
    };
    let (go_read, go_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EngineError::Other(format!("cannot create a pipe: {e}")))?;
    let go_fd = go_read.as_raw_fd();
    let script = format!("read -r go <&{go_fd} && exec rm -rf -- \"$1\"");
    let mut command = Command::new("sh");
    command
        .args(["-c", &script, "sh"])
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: between fork and exec the closure only calls fcntl and
    // unshare, both async-signal-safe, on a descriptor it owns.
    unsafe {
        command.pre_exec(move || {
            nix::fcntl::fcntl(
                go_fd,
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            )
            .map_err(std::io::Error::from)?;
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .context(|| "cannot start sh to remove files as the container's root".into())?;
    drop(go_read);
    let pid = child.id().to_string();
    let mapped = [
        ("newuidmap", uid, uid_start, uid_count),
        ("newgidmap", gid, gid_start, gid_count),
    ]
    .into_iter()
    .try_for_each(|(helper, own, start, count)| {
        let output = Command::new(helper)
            .args([&pid, "0", &own.to_string(), "1"])
            .args(["1", &start.to_string(), &count.to_string()])
            .output()
            .context(|| format!("cannot run {helper}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(EngineError::Other(format!(
                "{helper} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    });
    if mapped.is_ok() {
        let _ = std::fs::File::from(go_write).write_all(b"go\n");
    } else {
        // Closing the pipe unblocks `read`, which fails: nothing is removed.
        drop(go_write);
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let status = child.wait().context(|| "cannot wait for rm".into())?;
    mapped?;
    if status.success() {
        Ok(())
    } else {
        Err(EngineError::Other(format!("rm failed: {}", stderr.trim())))
    }
}
