//! The optional init (`--init`, like `docker run --init`): pid 1 of the
//! container stays the runtime's own small loop instead of the user's
//! program. It forks the program, forwards every catchable signal to it,
//! reaps every zombie that gets reparented to pid 1, and exits with the
//! program's status (128+N for signal N) once the program is gone; the
//! kernel then kills whatever is left in the pid namespace.

use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{ForkResult, Pid};

use crate::error::{Context, Result};
use crate::sys;

/// Blocks every signal and returns the previous mask. Called before the
/// container can be seen as created: a pid-namespace init drops signals it has
/// no handler for, unless they are blocked, so blocked early they stay pending
/// until the reaper waits for them.
pub fn block_all_signals() -> Result<SigSet> {
    let mut previous = SigSet::empty();
    nix::sys::signal::sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::all()),
        Some(&mut previous),
    )
    .context(|| "cannot block signals for the init".into())?;
    Ok(previous)
}

/// In the child: returns `Ok(())` to go on towards exec, with `previous`
/// (from [`block_all_signals`]) as its mask. In the parent: never returns (it
/// becomes the reaper).
pub fn fork_under_init(previous: SigSet) -> Result<()> {
    let all = SigSet::all();
    // SAFETY: single-threaded process; the child only continues the setup
    // code path to execve.
    match unsafe { nix::unistd::fork() }.context(|| "cannot fork the init's child".into())? {
        ForkResult::Child => {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&previous), None)
                .context(|| "cannot restore the signal mask".into())?;
            Ok(())
        }
        ForkResult::Parent { child } => {
            // Hold nothing of the runtime's: the setup channel must close at
            // the program's exec, and the container sees no stray fds.
            let _ = sys::close_from(3);
            // The init now runs with the program's credentials and filter;
            // `exec` must be able to open its /proc/PID/ns/* to join it.
            let _ = nix::sys::prctl::set_dumpable(true);
            reap_until_exit(child, &all)
        }
    }
}

fn reap_until_exit(child: Pid, signals: &SigSet) -> ! {
    loop {
        let signal = match signals.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if signal != Signal::SIGCHLD {
            let _ = sys::send_signal(child.as_raw(), signal as i32);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => sys::exit_now(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                    sys::exit_now(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
