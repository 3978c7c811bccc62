//! Container verbs, one module each.

mod attach_mounts;
mod create;
mod etc_files;
mod exec;
pub mod from_image;
mod kill;
mod remove;
mod start;
mod stop;
mod wait;

pub use create::create;
pub use exec::{exec, ExecRequest};
pub use kill::kill;
pub use remove::{remove, remove_anonymous_volumes};
pub use start::{start, start_attached, AttachHook};
pub use stop::stop;
pub use wait::{wait, wait_until_exited};
