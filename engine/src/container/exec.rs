//! `exec`: another process in a running container, through the runtime.

use burrow_runtime::container::ExecOptions;
use burrow_runtime::spec::oci::Spec;

use crate::error::{EngineError, Result};
use crate::record::{ContainerRecord, ContainerStatus};
use crate::store::Store;

pub struct ExecRequest {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<(u32, u32)>,
    pub detach: bool,
    /// With a terminal: where the runtime sends the pty master.
    pub console_socket: Option<std::path::PathBuf>,
}

pub fn exec(store: &Store, record: &ContainerRecord, request: ExecRequest) -> Result<i32> {
    if record.status != ContainerStatus::Running {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: record.status.to_string(),
            action: "cannot exec in a container that is not running".into(),
        });
    }
    if record.is_paused() {
        return Err(EngineError::WrongStatus {
            id: record.short_id().into(),
            status: "paused".into(),
            action: "unpause the container before exec".into(),
        });
    }
    let bundle = store.container_dir(&record.id).join("bundle/config.json");
    let spec = Spec::load(&bundle)
        .map_err(|e| EngineError::Other(format!("cannot load {}: {e}", bundle.display())))?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(request.args));
    process.set_terminal(Some(request.console_socket.is_some()));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in request.env {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    process.set_env(Some(env));
    if let Some(dir) = request.workdir {
        process.set_cwd(dir.into());
    }
    if let Some((uid, gid)) = request.user {
        process.user_mut().set_uid(uid);
        process.user_mut().set_gid(gid);
    }
    let root = store.runtime_root();
    Ok(burrow_runtime::container::exec(ExecOptions {
        root: &root,
        id: &record.id,
        process,
        console_socket: request.console_socket.as_deref(),
        pid_file: None,
        detach: request.detach,
        preserve_fds: 0,
    })?)
}
