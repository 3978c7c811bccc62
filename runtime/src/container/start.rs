//! `start`: release a created container's init through its `exec.fifo`.

use std::io::Read;
use std::os::fd::{AsFd, FromRawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use crate::error::{Context, Result, RuntimeError};
use crate::state::{is_alive, State, StateDir, Status};

pub fn start(root: &Path, id: &str) -> Result<State> {
    let dir = StateDir::open(root, id)?;
    let mut state = dir.load()?;
    if state.status != Status::Created {
        return Err(RuntimeError::WrongStatus {
            id: id.into(),
            status: state.status.to_string(),
            action: "only a created container can be started".into(),
        });
    }
    let fifo = dir.fifo();
    // Non-blocking open: a dead init must not leave `start` hanging.
    let raw = nix::fcntl::open(
        &fifo,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context(|| format!("cannot open {}", fifo.display()))?;
    // SAFETY: open just returned this descriptor; the File owns it from here.
    let mut file = unsafe { std::fs::File::from_raw_fd(raw) };
    // First the init's byte (it is going), then EOF: its end of the fifo is
    // close-on-exec, so EOF means the program has been exec'd (or setup died).
    let mut byte = [0u8; 1];
    let mut released = false;
    loop {
        match file.read(&mut byte) {
            Ok(1) => released = true,
            Ok(_) if released => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e).context(|| "cannot read exec.fifo".into()),
        }
        if !released && !is_alive(state.pid, state.pid_start_time) {
            return Err(RuntimeError::Other(format!(
                "container {id} init exited before start"
            )));
        }
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(100u8));
    }
    let _ = std::fs::remove_file(&fifo);
    state.status = Status::Running;
    dir.save(&state)?;
    if let Ok(spec) = Spec::load(dir.config_path()) {
        run_poststart(&state, &spec);
    }
    Ok(state)
}

/// poststart hooks: a failure is reported but does not stop the container.
pub(crate) fn run_poststart(state: &State, spec: &Spec) {
    let Some(list) = spec.hooks().as_ref().and_then(|h| h.poststart().clone()) else {
        return;
    };
    let json = state.to_spec_json().to_string();
    if let Err(e) = crate::hooks::run_all("poststart", &list, &json) {
        eprintln!("burrow: warning: {e}");
    }
}
