//! The supervisor's control socket (`RUN/attach/<short id>.control`): how
//! `network connect` and `disconnect` reach a running container, whose
//! network namespace only its supervisor holds.
//!
//! One request per connection, one line each way: the client writes
//! `connect NETWORK` or `disconnect NETWORK`, the supervisor answers `ok` or
//! `error: MESSAGE` once the change is done. For `connect` the supervisor
//! reads the attachment (aliases, address) from the container's record,
//! which the client has already updated. The socket lives in the user's
//! runtime directory (mode 0700), so only the user reaches it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::nics::Nics;
use crate::error::{EngineError, IoContext, Result};
use crate::store::Store;

/// Where container `id`'s supervisor listens.
pub fn socket_path(store: &Store, id: &str) -> PathBuf {
    crate::attach::socket_path(store, id).with_extension("control")
}

/// Serves requests on a thread for the supervisor's whole life.
pub fn serve(store: &Store, id: &str, nics: Arc<Nics>) -> Result<()> {
    let path = socket_path(store, id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).context(|| format!("cannot listen on {}", path.display()))?;
    let store = store.clone();
    let id = id.to_string();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = handle(&store, &id, &nics, stream);
            }
        })
        .context(|| "cannot start the control thread".to_string())?;
    Ok(())
}

fn handle(store: &Store, id: &str, nics: &Nics, stream: UnixStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let answer = match line.trim_end().split_once(' ') {
        Some(("connect", network)) => connect(store, id, nics, network),
        Some(("disconnect", network)) => nics.disconnect(store, network),
        _ => Err(EngineError::Other(format!(
            "unknown control request {:?}",
            line.trim_end()
        ))),
    };
    let mut stream = stream;
    match answer {
        Ok(()) => writeln!(stream, "ok"),
        Err(e) => writeln!(stream, "error: {e}"),
    }
}

fn connect(store: &Store, id: &str, nics: &Nics, network: &str) -> Result<()> {
    let config = store.load(id)?.config;
    let attachment = config
        .attachments()
        .into_iter()
        .find(|a| a.name == network)
        .ok_or_else(|| {
            EngineError::Other(format!("container {id} has no network {network} recorded"))
        })?;
    nics.connect(store, &attachment)
}

/// Sends one request to the supervisor listening at `path`; its answer.
pub fn request(path: &Path, line: &str) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| {
        EngineError::Other(format!(
            "cannot reach the container's supervisor at {}: {e}",
            path.display()
        ))
    };
    let mut stream = UnixStream::connect(path).map_err(|e| failed(&e))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| failed(&e))?;
    writeln!(stream, "{line}").map_err(|e| failed(&e))?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .read_line(&mut answer)
        .map_err(|e| failed(&e))?;
    match answer.trim_end() {
        "ok" => Ok(()),
        other => Err(EngineError::Other(
            other.strip_prefix("error: ").unwrap_or(other).to_string(),
        )),
    }
}
