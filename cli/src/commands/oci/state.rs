//! `burrow oci state`: the runtime-spec state JSON.

use anyhow::Result;
use burrow_runtime::state::StateDir;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    id: String,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    let state = StateDir::open(&global.root, &args.id)?.load()?;
    println!("{}", serde_json::to_string_pretty(&state.to_spec_json())?);
    Ok(0)
}
