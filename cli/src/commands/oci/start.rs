//! `burrow oci start`.

use anyhow::Result;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    burrow_runtime::container::start(&global.root, &args.id)?;
    Ok(0)
}
