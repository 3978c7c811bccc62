//! `burrow oci delete`.

use anyhow::Result;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Kill the container first if it is running.
    #[arg(short, long)]
    force: bool,
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    burrow_runtime::container::delete(&global.root, &args.id, args.force)?;
    Ok(0)
}
