//! burrow-engine: containers as persistent objects of one user's store —
//! their records, the supervisor process that runs each one, its logs, and
//! the volumes and mounts it uses.
//! The CLI only parses, calls these functions and prints.

pub mod attach;
pub mod container;
pub mod error;
pub mod ids;
pub mod idshift;
pub mod images;
pub mod logs;
pub mod mounts;
pub mod networks;
mod overlay_rootfs;
pub mod record;
pub mod restart;
pub mod security;
pub mod spec_builder;
pub mod store;
pub mod supervisor;
pub mod units;
pub mod userns;
pub mod volumes;

pub use error::{EngineError, Result};
pub use mounts::{MountKind, MountSpec};
pub use record::{ContainerRecord, ContainerStatus, NetworkAttachment, RunConfig};
pub use restart::RestartPolicy;
pub use store::Store;
pub use volumes::{VolumeRecord, VolumeRequest};
