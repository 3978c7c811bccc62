//! `burrow exec`.

use anyhow::{bail, Result};
use burrow_engine::container::ExecRequest;

#[derive(clap::Args)]
pub struct Args {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    /// Keep stdin open (not yet).
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY (not yet).
    #[arg(short, long)]
    tty: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    if args.tty {
        bail!("exec -t is not available yet (use `burrow oci exec --tty --console-socket`)");
    }
    let store = super::store(root)?;
    burrow_runtime::selfexe::ensure_sealed()?;
    let record = store.resolve(&args.container)?;
    let user = args
        .user
        .as_deref()
        .map(burrow_engine::spec_builder::parse_user)
        .transpose()?;
    let request = ExecRequest {
        args: args.command,
        env: args.env,
        workdir: args.workdir,
        user,
        detach: args.detach,
    };
    Ok(burrow_engine::container::exec(&store, &record, request)?)
}
