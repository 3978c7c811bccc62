//! `delete`: remove a stopped (or, with force, any) container and run poststop hooks.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::Spec;

use crate::error::{Result, RuntimeError};
use crate::state::{is_alive, StateDir, Status};

pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let dir = StateDir::open(root, id)?;
    let state = dir.load()?;
    match state.status {
        Status::Stopped => {}
        // A container that was never started holds nothing of the user's.
        Status::Created | Status::Creating => stop(&state)?,
        Status::Running if force => stop(&state)?,
        Status::Running => {
            return Err(RuntimeError::WrongStatus {
                id: id.into(),
                status: state.status.to_string(),
                action: "cannot delete a running container (stop it first, or use --force)".into(),
            })
        }
    }
    if let Some(cgroup) = &state.cgroup {
        crate::cgroups::remove(cgroup);
    }
    if let Ok(spec) = Spec::load(dir.config_path()) {
        if let Some(list) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
            let mut json = state.to_spec_json();
            json["status"] = "stopped".into();
            if let Err(e) = crate::hooks::run_all("poststop", &list, &json.to_string()) {
                eprintln!("burrow: warning: {e}");
            }
        }
    }
    dir.remove()
}

/// SIGKILLs the container and waits until its init is gone.
fn stop(state: &crate::state::State) -> Result<()> {
    let targets = if state.own_pid_namespace {
        vec![state.pid]
    } else {
        super::container_pids(state)
    };
    for pid in targets {
        let _ = crate::sys::send_signal(pid, libc::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_alive(state.pid, state.pid_start_time) {
        if Instant::now() > deadline {
            return Err(RuntimeError::Other(format!(
                "container {} (pid {}) did not die after SIGKILL",
                state.id, state.pid
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
