//! `burrow oci run`: create + start + wait (+ delete unless --keep).

use anyhow::{Context, Result};
use burrow_runtime::spec::Bundle;
use burrow_runtime::{RunOptions, StartTrigger};

use super::{CreateArgs, Global};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    create: CreateArgs,
    /// Return once the container has started.
    #[arg(short, long)]
    detach: bool,
    /// Keep the stopped container's state (do not delete it).
    #[arg(long)]
    keep: bool,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    burrow_runtime::selfexe::ensure_sealed()?;
    let bundle = Bundle::load(&args.create.bundle).context("cannot load bundle")?;
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && args.detach && args.create.console_socket.is_none() {
        anyhow::bail!(
            "cannot detach a container with process.terminal set without --console-socket"
        );
    }
    let options = RunOptions {
        create: args.create.options(global, StartTrigger::Channel),
        detach: args.detach,
        keep: args.keep,
    };
    Ok(burrow_runtime::container::run(options, terminal)?)
}
