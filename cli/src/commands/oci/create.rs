//! `burrow oci create`.

use anyhow::Result;
use burrow_runtime::StartTrigger;

use super::{CreateArgs, Global};

pub type Args = CreateArgs;

pub fn run(global: &Global, args: Args) -> Result<i32> {
    burrow_runtime::selfexe::ensure_sealed()?;
    burrow_runtime::container::create(&args.options(global, StartTrigger::Fifo))?;
    Ok(0)
}
