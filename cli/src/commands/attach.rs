//! `burrow attach`: the user's terminal on a running container's stdio.

use anyhow::Result;
use burrow_engine::ContainerStatus;

use super::attach_session::{parse_detach_keys, Session};

#[derive(clap::Args)]
pub struct Args {
    /// Do not attach stdin.
    #[arg(long)]
    no_stdin: bool,
    /// Keys that detach from the container.
    #[arg(long, default_value = "ctrl-p,ctrl-q")]
    detach_keys: String,
    /// Accepted for Docker compatibility (signals go through `burrow kill`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    container: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let record = store.resolve(&args.container)?;
    if record.status != ContainerStatus::Running {
        eprintln!("burrow: error: you cannot attach to a stopped container, start it first");
        return Ok(1);
    }
    let session = Session {
        stdin: record.config.interactive && !args.no_stdin,
        tty: record.config.tty,
        detach_keys: parse_detach_keys(&args.detach_keys)?,
    };
    if let Err(e) = session.check_terminal() {
        eprintln!("burrow: error: {e}");
        return Ok(1);
    }
    let client = session.connect(&store, &record.id)?;
    super::run::finish_session(&store, &record.id, session.run(client)?)
}
