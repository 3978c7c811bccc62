//! `run`: create, start and (unless detached) wait, forwarding signals, then delete.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::create::{create, CreateOptions};
use crate::error::{Context, Result};
use crate::init::StartTrigger;

pub struct RunOptions<'a> {
    pub create: CreateOptions<'a>,
    pub detach: bool,
    pub keep: bool,
}

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        let _ = crate::sys::send_signal(pid, signal);
    }
}

/// Runs the container; returns its exit status (0 when detached).
pub fn run(opts: RunOptions, terminal: bool) -> Result<i32> {
    // A foreground terminal without a console socket: we are the console.
    let own_console = terminal && opts.create.console_socket.is_none() && !opts.detach;
    let console_dir = opts
        .create
        .root
        .join(format!(".console-{}", std::process::id()));
    let console_path = console_dir.join("console.sock");
    let console_listener = if own_console {
        std::fs::create_dir_all(&console_dir)
            .context(|| format!("cannot create {}", console_dir.display()))?;
        Some(
            std::os::unix::net::UnixListener::bind(&console_path)
                .context(|| "cannot create console socket".into())?,
        )
    } else {
        None
    };
    let create_opts = CreateOptions {
        trigger: StartTrigger::Channel,
        console_socket: if own_console {
            Some(&console_path)
        } else {
            opts.create.console_socket
        },
        ..opts.create
    };
    let result = create(&create_opts);
    if own_console {
        let _ = std::fs::remove_dir_all(&console_dir);
    }
    let mut container = result?;
    let master = match &console_listener {
        Some(listener) => Some(receive_master(listener)?),
        None => None,
    };
    let pid = container.state.pid;
    FORWARD_TO.store(pid, Ordering::Relaxed);
    install_forwarding()?;
    if let Err(e) = container.start_now() {
        if !opts.keep {
            let _ = super::delete(create_opts.root, create_opts.id, true);
        }
        return Err(e);
    }
    if opts.detach {
        return Ok(0);
    }
    let code = match master {
        Some(master) => crate::tty_proxy::proxy_until_exit(&master, pid)?,
        None => wait_exit_code(pid)?,
    };
    FORWARD_TO.store(0, Ordering::Relaxed);
    if !opts.keep {
        super::delete(create_opts.root, create_opts.id, true)?;
    }
    Ok(code)
}

fn receive_master(listener: &std::os::unix::net::UnixListener) -> Result<OwnedFd> {
    let (stream, _) = listener
        .accept()
        .context(|| "console socket accept failed".into())?;
    crate::tty_proxy::receive_fd(&stream)
}

fn install_forwarding() -> Result<()> {
    let action = SigAction::new(
        SigHandler::Handler(forward_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for signal in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        // SAFETY: the handler only reads an atomic and calls kill(2), both async-signal-safe.
        unsafe { sigaction(signal, &action) }.context(|| format!("cannot forward {signal}"))?;
    }
    Ok(())
}

/// Waits for child `pid`; exit code, or 128+N when killed by signal N.
pub fn wait_exit_code(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, signal, _)) => return Ok(128 + signal as i32),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context(|| format!("cannot wait for pid {pid}")),
        }
    }
}
