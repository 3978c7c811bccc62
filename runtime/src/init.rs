//! The processes forked to become the container.
//!
//! Stage 1 (a plain fork of the CLI) joins the namespaces the config names by
//! path, creates the new ones (user namespace first: the parent writes its id
//! maps while stage 1 waits), then clones stage 2 with `CLONE_PARENT` so the
//! container's init is the CLI's own child (`run` can wait for it; under a
//! subreaper like conmon it is reparented there) and is pid 1 of a new pid
//! namespace. Stage 1 reports the init's host pid and exits.
//!
//! Stage 2 builds the rootfs, pivots, prepares the process, reports `Ready`
//! and blocks until started (on `exec.fifo` for `create`/`start`, on the setup
//! channel for `run`), then drops to the configured user and execs. Any
//! failure before `Ready` goes back to the parent as one `Failed` message.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::Uid;
use oci_spec::runtime::{LinuxNamespaceType, Process};

use crate::error::{Context, Result, RuntimeError};
use crate::namespaces::NamespacePlan;
use crate::seccomp::SeccompProgram;
use crate::spec::Bundle;
use crate::sync::{Channel, Message};
use crate::sys::{self, CloneResult};
use crate::{hooks, process, rootfs, tty};

/// How a created container learns that it was started.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum StartTrigger {
    /// `create` then `start`: the init blocks opening `exec.fifo` for writing.
    Fifo,
    /// `run`: the parent says `Proceed` on the setup channel.
    Channel,
}

/// Everything the forked processes need; they see it through fork's copy.
pub struct InitContext {
    pub id: String,
    pub bundle: Bundle,
    pub process: Process,
    pub plan: NamespacePlan,
    pub channel: Channel,
    pub fifo: Option<PathBuf>,
    pub console_socket: Option<OwnedFd>,
    pub seccomp: Option<SeccompProgram>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    /// Whether the hooks that need the parent or the pid are configured.
    pub has_create_hooks: bool,
    /// `exec` into an existing container rather than a new one.
    pub joining: bool,
    /// Keep a reaping, signal-forwarding init as pid 1 (`--init`).
    pub with_init: bool,
    /// Descriptors for stdin, stdout, stderr instead of the caller's.
    pub stdio: Option<[std::os::fd::RawFd; 3]>,
    /// SIGKILL the init when the runtime's process (its parent) dies.
    pub die_with_parent: bool,
}

/// Stage 1: namespaces, then the init. Never returns.
pub fn stage1(ctx: &InitContext) -> ! {
    let result = enter_namespaces(ctx).and_then(|()| {
        sys::fork_with_flags(libc::CLONE_PARENT as libc::c_long)
            .context(|| "cannot fork the container init".into())
    });
    match result {
        Ok(CloneResult::Parent(pid)) => {
            let _ = ctx.channel.send(&Message::InitPid(pid.as_raw()));
            sys::exit_now(0)
        }
        Ok(CloneResult::Child) => stage2(ctx),
        Err(e) => fail(ctx, e),
    }
}

fn enter_namespaces(ctx: &InitContext) -> Result<()> {
    // While we are still dumpable our /proc files are ours to write; the
    // score is inherited by the init forked below.
    process::apply_oom_score(&ctx.process)?;
    ctx.plan.enter()?;
    if ctx.plan.creates(LinuxNamespaceType::User) {
        // The parent writes /proc/PID/{uid,gid}_map, which needs us dumpable.
        ctx.channel.send(&Message::NeedIdMaps)?;
        ctx.channel.wait_proceed()?;
    }
    // From here on, keep the container's processes from ptracing us or
    // opening our /proc files (exec's joiners are visible to the container).
    nix::sys::prctl::set_dumpable(false).context(|| "cannot clear dumpable".into())
}

/// Set once `start` released us: from then on nobody reads the setup
/// channel on the other side (after `create`), so errors go to stderr.
static STARTED_BY_FIFO: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn fail(ctx: &InitContext, error: RuntimeError) -> ! {
    let exit_code = match error.exit_code() {
        125 => 1,
        code => code,
    };
    let message = Message::Failed {
        message: error.to_string(),
        exit_code,
    };
    if STARTED_BY_FIFO.load(std::sync::atomic::Ordering::Relaxed)
        || ctx.channel.send(&message).is_err()
    {
        eprintln!("burrow: {error}");
    }
    sys::exit_now(exit_code)
}

fn stage2(ctx: &InitContext) -> ! {
    let error = match setup_and_exec(ctx) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    fail(ctx, error)
}

fn setup_and_exec(ctx: &InitContext) -> Result<std::convert::Infallible> {
    if ctx.plan.creates(LinuxNamespaceType::User) {
        // Become the namespace's root when it is mapped (it may not be).
        let root = Uid::from_raw(0);
        let _ = nix::unistd::setresgid(0.into(), 0.into(), 0.into());
        let _ = nix::unistd::setresuid(root, root, root);
    }
    nix::unistd::setsid().context(|| "cannot start a new session".into())?;
    if ctx.die_with_parent {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .context(|| "cannot set the parent-death signal".into())?;
    }
    if let Some(fds) = ctx.stdio {
        for (target, fd) in fds.into_iter().enumerate() {
            nix::unistd::dup2(fd, target as i32)
                .context(|| "cannot attach the container's stdio".into())?;
        }
    }
    let spec = &ctx.bundle.spec;
    let mut pid = 0;
    if !ctx.joining {
        set_names(ctx)?;
        rootfs::prepare(spec, &ctx.bundle.rootfs)?;
        if ctx.has_create_hooks {
            ctx.channel.send(&Message::RunCreateRuntimeHooks)?;
            pid = ctx.channel.wait_proceed()?;
            let state = crate::container::hook_state(ctx, pid, "creating");
            let hooks = spec.hooks().as_ref();
            if let Some(list) = hooks.and_then(|h| h.create_container().as_deref()) {
                hooks::run_all("createContainer", list, &state)?;
            }
        }
    }
    let fifo = match &ctx.fifo {
        Some(path) => Some(
            nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
                .context(|| format!("cannot open {}", path.display()))?,
        ),
        None => None,
    };
    if !ctx.joining {
        rootfs::enter(&ctx.bundle.rootfs, ctx.no_pivot)?;
        rootfs::finish(spec)?;
    }
    let process = &ctx.process;
    if process.terminal().unwrap_or(false) {
        attach_terminal(ctx)?;
    }
    let env = process::environment(process);
    let args = process.args().clone().unwrap_or_default();
    let program = args.first().map(String::as_str).unwrap_or_default();
    let executable = process::find_executable(program, &env)?;
    process::enter_cwd(process)?;
    process::apply_rlimits(process)?;
    let mask_before_init = if ctx.with_init {
        Some(crate::reaper::block_all_signals()?)
    } else {
        None
    };
    ctx.channel.send(&Message::Ready)?;

    match fifo {
        Some(fd) => {
            wait_for_start_fifo(fd)?;
            STARTED_BY_FIFO.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        None if !ctx.joining => pid = ctx.channel.wait_proceed()?,
        None => {}
    }
    if !ctx.joining {
        if let Some(list) = spec
            .hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_deref())
        {
            let state = crate::container::hook_state(ctx, pid, "created");
            hooks::run_all("startContainer", list, &state)?;
        }
    }
    let setgroups_allowed = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "allow")
        .unwrap_or(true);
    process::become_user(process, ctx.seccomp.as_ref(), setgroups_allowed)?;
    if let Some(previous) = mask_before_init {
        // The init keeps the process's user, capabilities and seccomp filter.
        crate::reaper::fork_under_init(previous)?;
    }
    close_inherited_fds(ctx.preserve_fds)?;
    Err(process::exec(&executable, &args, &env))
}

fn set_names(ctx: &InitContext) -> Result<()> {
    let spec = &ctx.bundle.spec;
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(name).context(|| format!("cannot set hostname {name}"))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        sys::set_domainname(name).context(|| format!("cannot set domainname {name}"))?;
    }
    Ok(())
}

fn attach_terminal(ctx: &InitContext) -> Result<()> {
    let socket = ctx.console_socket.as_ref().ok_or_else(|| {
        RuntimeError::Other("process.terminal is set but no --console-socket was given".into())
    })?;
    let (master, peer) = tty::open_pty()?;
    if let Some(size) = ctx.process.console_size() {
        let _ = sys::set_window_size(peer.as_raw_fd(), size.height() as u16, size.width() as u16);
    }
    let name = nix::unistd::ttyname(&peer)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    tty::send_fd(socket.as_raw_fd(), master.as_raw_fd(), &name)?;
    drop(master);
    tty::become_console(&peer)
}

/// Blocks until `start` opens the fifo, then tells it we are going.
fn wait_for_start_fifo(fd: std::os::fd::RawFd) -> Result<()> {
    let path = format!("/proc/self/fd/{fd}");
    let writer = nix::fcntl::open(
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| "cannot open exec.fifo for writing".into())?;
    nix::unistd::write(
        // SAFETY: `writer` was just opened and stays open until the close below.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(writer) },
        b"0",
    )
    .context(|| "cannot write exec.fifo".into())?;
    // `writer` stays open, close-on-exec: `start` waits for its EOF, so it
    // returns (and runs poststart) only once the program has been exec'd.
    let _ = nix::unistd::close(fd);
    Ok(())
}

/// Everything but stdio and the `--preserve-fds` range is closed on exec.
fn close_inherited_fds(preserve: u32) -> Result<()> {
    for fd in 3..3 + preserve {
        match sys::clear_cloexec(fd as i32) {
            Ok(()) | Err(nix::errno::Errno::EBADF) => {}
            Err(e) => return Err(e).context(|| format!("cannot preserve fd {fd}")),
        }
    }
    sys::cloexec_from(3 + preserve).context(|| "cannot mark inherited fds close-on-exec".into())
}
