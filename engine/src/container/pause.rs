//! `pause` and `unpause`: SIGSTOP and SIGCONT to every process of the
//! container. Without a cgroup freezer there is no atomic freeze: a process
//! forked while the signals go out is caught by the next sweep, and the
//! sweeps repeat until one finds nothing new to stop. The record's `paused`
//! flag is what `ps` and `inspect` show; `stop` and `kill` continue a paused
//! container after signalling it so the signal is delivered.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::procs::{container_pids, process_info};
use crate::error::{EngineError, Result};
use crate::record::ContainerRecord;
use crate::store::Store;

const SWEEPS: usize = 10;

pub fn pause(store: &Store, record: &ContainerRecord) -> Result<()> {
    if record.is_paused() {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: "paused".into(),
            action: "container is already paused".into(),
        });
    }
    for _ in 0..SWEEPS {
        let pids = container_pids(record)?;
        let running: Vec<i32> = pids
            .into_iter()
            .filter(|&pid| process_info(pid).is_some_and(|p| !"TtZX".contains(p.state)))
            .collect();
        // Zombies and already stopped processes need nothing.
        if running.is_empty() {
            break;
        }
        for pid in running {
            let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
        }
        // Let the stops land before looking again.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    set_paused(store, record, true)
}

pub fn unpause(store: &Store, record: &ContainerRecord) -> Result<()> {
    if !record.is_paused() {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: record.state_name(),
            action: "container is not paused".into(),
        });
    }
    continue_all(record)?;
    set_paused(store, record, false)
}

/// SIGCONT to every process of the container, init last (so it sees its
/// children running again when it runs).
pub(crate) fn continue_all(record: &ContainerRecord) -> Result<()> {
    for pid in container_pids(record)?.into_iter().rev() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
    }
    Ok(())
}

fn set_paused(store: &Store, record: &ContainerRecord, paused: bool) -> Result<()> {
    let _lock = store.lock()?;
    let mut current = store.load(&record.id)?;
    current.paused = paused;
    store.save(&current)
}
