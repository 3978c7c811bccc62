//! burrow-runtime: executes one OCI runtime-spec bundle as an unprivileged
//! user — namespaces and id maps, the root filesystem, the process's user,
//! capabilities, rlimits and seccomp, a terminal, hooks — and keeps the
//! runc-style state that `create`/`start`/`state`/`kill`/`delete`/`exec` share.

mod cgroups;
pub use cgroups::delegated as cgroups_delegated;
pub mod container;
pub mod error;
mod hooks;
pub mod idmap;
mod init;
mod namespaces;
mod process;
mod reaper;
mod rootfs;
pub mod seccomp;
pub mod selfexe;
pub mod spec;
pub mod state;
mod sync;
mod sys;
mod tty;
pub mod tty_proxy;

pub use container::RunOptions;
pub use error::{Result, RuntimeError};
pub use init::StartTrigger;
