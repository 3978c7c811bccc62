//! `burrow oci kill ID [SIGNAL]`.

use anyhow::Result;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Signal every process of the container, not only its init.
    #[arg(short, long)]
    all: bool,
    id: String,
    /// Signal name (TERM, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    signal: String,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    let signal = burrow_runtime::container::parse_signal(&args.signal)?;
    burrow_runtime::container::kill(&global.root, &args.id, signal, args.all)?;
    Ok(0)
}
