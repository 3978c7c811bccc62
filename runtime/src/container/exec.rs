//! `exec`: start another process inside a running container, joining its
//! init's namespaces (user namespace first), with the container's seccomp
//! profile and the given process's user, capabilities and terminal.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::ForkResult;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::error::{Context, Result, RuntimeError};
use crate::init::{self, InitContext};
use crate::namespaces::NamespacePlan;
use crate::seccomp;
use crate::spec::Bundle;
use crate::state::{StateDir, Status};
use crate::sync::{channel_pair, Message};

pub struct ExecOptions<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub console_socket: Option<&'a Path>,
    pub pid_file: Option<&'a Path>,
    pub detach: bool,
    pub preserve_fds: u32,
}

/// Runs the process; returns its exit status, or 0 once started when detached.
pub fn exec(opts: ExecOptions) -> Result<i32> {
    let dir = StateDir::open(opts.root, opts.id)?;
    let state = dir.load()?;
    if state.status != Status::Running && state.status != Status::Created {
        return Err(RuntimeError::WrongStatus {
            id: opts.id.into(),
            status: state.status.to_string(),
            action: "cannot exec in a container that is not running".into(),
        });
    }
    let spec = Spec::load(dir.config_path())
        .map_err(|e| RuntimeError::Other(format!("cannot load saved config: {e}")))?;
    let seccomp = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(seccomp::compile(profile)?),
        None => None,
    };
    if opts.process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::Other("exec: no command given".into()));
    }
    let plan = join_plan(state.pid)?;
    let console_socket = match opts.console_socket {
        Some(path) => Some(OwnedFd::from(UnixStream::connect(path).context(|| {
            format!("cannot connect to console socket {}", path.display())
        })?)),
        None => None,
    };
    if opts.process.terminal().unwrap_or(false) && console_socket.is_none() {
        return Err(RuntimeError::Other(
            "exec --tty needs --console-socket".into(),
        ));
    }
    let (parent_end, child_end) = channel_pair(3 + opts.preserve_fds)?;
    let ctx = InitContext {
        id: opts.id.to_string(),
        bundle: Bundle {
            dir: state.bundle.clone(),
            spec,
            rootfs: state.rootfs.clone(),
        },
        process: opts.process,
        plan,
        channel: child_end,
        fifo: None,
        console_socket,
        seccomp,
        preserve_fds: opts.preserve_fds,
        no_pivot: false,
        has_create_hooks: false,
        joining: true,
        with_init: false,
        stdio: None,
        die_with_parent: false,
    };
    // SAFETY: the CLI is single-threaded here; the child runs setup code and
    // then execs or _exits.
    let stage1 = match unsafe { nix::unistd::fork() }.context(|| "cannot fork".into())? {
        ForkResult::Child => {
            drop(parent_end);
            init::stage1(&ctx)
        }
        ForkResult::Parent { child } => child,
    };
    drop(ctx);
    // Read until the channel closes: the process's end is close-on-exec, so
    // EOF after `Ready` means it has exec'd (what runc's exec waits for).
    let mut pid = None;
    let mut ready = false;
    let mut failure = None;
    while let Some(message) = parent_end.recv()? {
        match message {
            Message::InitPid(p) => pid = Some(p),
            Message::Ready => ready = true,
            Message::Failed { message, exit_code } => {
                failure = Some(RuntimeError::Init { message, exit_code })
            }
            other => {
                return Err(RuntimeError::Other(format!(
                    "exec: unexpected message {other:?}"
                )))
            }
        }
    }
    let _ = waitpid(stage1, None);
    if let Some(e) = failure {
        if let Some(p) = pid {
            let _ = waitpid(nix::unistd::Pid::from_raw(p), None);
        }
        return Err(e);
    }
    let pid = pid
        .filter(|_| ready)
        .ok_or_else(|| RuntimeError::Other("exec: the process exited during setup".into()))?;
    if let Some(cgroup) = &state.cgroup {
        let _ = std::fs::write(cgroup.join("cgroup.procs"), pid.to_string());
    }
    if let Some(path) = opts.pid_file {
        super::create::write_pid_file(path, pid)?;
    }
    if opts.detach {
        return Ok(0);
    }
    super::wait_exit_code(pid)
}

/// The namespaces of `pid` that differ from ours, opened up front.
fn join_plan(pid: i32) -> Result<NamespacePlan> {
    let kinds = [
        (LinuxNamespaceType::User, "user"),
        (LinuxNamespaceType::Mount, "mnt"),
        (LinuxNamespaceType::Pid, "pid"),
        (LinuxNamespaceType::Uts, "uts"),
        (LinuxNamespaceType::Ipc, "ipc"),
        (LinuxNamespaceType::Network, "net"),
        (LinuxNamespaceType::Cgroup, "cgroup"),
    ];
    let mut join = Vec::new();
    for (typ, name) in kinds {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let mine = format!("/proc/self/ns/{name}");
        let Ok(b) = std::fs::metadata(&mine) else {
            continue; // this kernel has no such namespace type
        };
        // Failing to see the container's namespace must stop the exec: a
        // partial join could start the process outside the container.
        let a = std::fs::metadata(&theirs).context(|| format!("cannot inspect {theirs}"))?;
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let file = File::open(&theirs).context(|| format!("cannot open {theirs}"))?;
        join.push((typ, theirs.into(), file));
    }
    nested_user_namespace_last(&mut join)?;
    Ok(NamespacePlan {
        join,
        create: CloneFlags::empty(),
    })
}

/// A container in a user namespace nested in another one that is not ours (e.g.
/// `--userns=keep-id` inside the supervisor's namespace) may have namespaces owned
/// by the outer one (its network), which its own user namespace gives no right to
/// join: the outer user namespace is joined first, then the others, then the
/// container's own.
fn nested_user_namespace_last(join: &mut Vec<(LinuxNamespaceType, PathBuf, File)>) -> Result<()> {
    let Some(index) = join
        .iter()
        .position(|(typ, _, _)| *typ == LinuxNamespaceType::User)
    else {
        return Ok(());
    };
    let Ok(parent) = crate::sys::parent_user_namespace(&join[index].2) else {
        return Ok(()); // no parent we may see: join as before
    };
    let parent = File::from(parent);
    let (Ok(theirs), Ok(mine)) = (parent.metadata(), std::fs::metadata("/proc/self/ns/user"))
    else {
        return Ok(());
    };
    if theirs.ino() == mine.ino() && theirs.dev() == mine.dev() {
        return Ok(());
    }
    let own = join.remove(index);
    join.insert(
        0,
        (
            LinuxNamespaceType::User,
            PathBuf::from("the parent of the container's user namespace"),
            parent,
        ),
    );
    join.push(own);
    Ok(())
}
