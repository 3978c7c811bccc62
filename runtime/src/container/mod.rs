//! One module per verb of the runc-compatible interface.

mod create;
mod delete;
mod exec;
mod kill;
mod list;
mod ps;
mod run;
mod start;

pub use create::{create, CreateOptions, CreatedContainer};
pub use delete::delete;
pub use exec::{exec, ExecOptions};
pub use kill::{kill, parse_signal};
pub use list::list;
pub use ps::container_pids;
pub use run::{run, wait_exit_code, RunOptions};
pub use start::start;

use crate::init::InitContext;

/// The runtime-spec state JSON handed to hooks on stdin.
pub(crate) fn hook_state(ctx: &InitContext, pid: i32, status: &str) -> String {
    let annotations = ctx.bundle.spec.annotations().clone().unwrap_or_default();
    serde_json::json!({
        "ociVersion": ctx.bundle.spec.version(),
        "id": ctx.id,
        "status": status,
        "pid": pid,
        "bundle": ctx.bundle.dir,
        "annotations": annotations,
    })
    .to_string()
}
