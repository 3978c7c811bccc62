//! `create`: a record with a unique name and the bundle the runtime will run.

use crate::error::{EngineError, IoContext, Result};
use crate::ids::{generated_name, new_id, validate_name};
use crate::record::{ContainerRecord, ContainerStatus, RunConfig};
use crate::spec_builder;
use crate::store::Store;

pub fn create(store: &Store, mut config: RunConfig, name: Option<&str>) -> Result<ContainerRecord> {
    if config.args.is_empty() {
        return Err(EngineError::Other("no command given".into()));
    }
    let id = new_id()?;
    if !config.layers.is_empty() {
        // An image: the supervisor mounts its overlay there.
        config.rootfs = store.container_dir(&id).join("rootfs");
    } else if !config.rootfs.is_dir() {
        return Err(EngineError::Other(format!(
            "rootfs {} is not a directory",
            config.rootfs.display()
        )));
    }
    let spec = spec_builder::build(&config, &id)?;
    let _lock = store.lock()?;
    let taken: Vec<String> = store.list()?.into_iter().map(|r| r.name).collect();
    let name = match name {
        Some(n) => {
            validate_name(n)?;
            if taken.iter().any(|t| t == n) {
                return Err(EngineError::NameInUse(n.into()));
            }
            n.to_string()
        }
        None => (0..)
            .map(|attempt| generated_name(&id, attempt))
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or_else(|| id.clone()),
    };
    let record = ContainerRecord {
        id: id.clone(),
        name,
        created: burrow_runtime::state::rfc3339_now(),
        config,
        status: ContainerStatus::Created,
        pid: 0,
        pid_start_time: 0,
        supervisor_pid: 0,
        supervisor_start_time: 0,
        started_at: None,
        finished_at: None,
        exit_code: None,
    };
    let bundle = store.container_dir(&id).join("bundle");
    std::fs::create_dir_all(&bundle).context(|| format!("cannot create {}", bundle.display()))?;
    spec.save(bundle.join("config.json"))
        .map_err(|e| EngineError::Other(format!("cannot write the bundle config: {e}")))?;
    // The record last: a container without one is invisible and never half-listed.
    store.save(&record)?;
    Ok(record)
}
