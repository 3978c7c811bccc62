//! Container verbs, one module each.

mod attach_mounts;
mod copy;
mod create;
mod diff;
pub mod etc_files;
mod exec;
pub mod from_image;
mod kill;
mod pause;
mod procs;
mod prune;
mod remove;
mod rename;
mod start;
mod stats;
mod stop;
mod stopped_rootfs;
mod wait;

pub use copy::{copy_in, copy_out, export, tar_in, tar_out};
pub use create::create;
pub use diff::{diff, Change, ChangeKind};
pub use exec::{exec, ExecRequest};
pub use kill::{kill, kill_by_user};
pub use pause::{pause, unpause};
pub use procs::{clock_ticks, container_processes, uptime_seconds, ProcessInfo};
pub use prune::{prune, tree_size, Pruned};
pub use remove::{remove, remove_anonymous_volumes};
pub use rename::rename;
pub use start::{start, start_attached, AttachHook};
pub use stats::{usage, Usage};
pub use stop::{mark_stopped_by_user, stop};
pub use wait::{wait, wait_until_exited};
