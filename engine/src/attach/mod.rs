//! Attaching to a container's stdio: the supervisor listens on a unix socket
//! (`RUN/attach/<id>.sock`); `run` (without `-d`), `start -a` and `attach`
//! connect to it. Both directions carry [`protocol`] frames: the container's
//! stdout and stderr (raw bytes, as they come) and finally its exit code one
//! way; stdin bytes, terminal resizes and end-of-input the other way.

pub mod client;
pub mod protocol;
pub mod server;

use std::path::PathBuf;

use crate::store::Store;

/// The attach socket of container `id` (short: unix socket paths are limited
/// to 107 bytes).
pub fn socket_path(store: &Store, id: &str) -> PathBuf {
    store
        .run
        .join("attach")
        .join(format!("{}.sock", &id[..12.min(id.len())]))
}
