//! `burrow completion bash|zsh|fish`: shell completion scripts, generated
//! from the command-line definition.

use anyhow::Result;
use clap::CommandFactory;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to write a completion script for.
    shell: clap_complete::Shell,
}

pub fn run(args: Args) -> Result<i32> {
    let mut command = super::Cli::command();
    clap_complete::generate(args.shell, &mut command, "burrow", &mut std::io::stdout());
    Ok(0)
}
