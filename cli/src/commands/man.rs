//! Hidden `burrow man DIR`: man pages for burrow and each of its commands
//! (`burrow.1`, `burrow-run.1`, …), generated from the command-line definition.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::CommandFactory;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write the pages into (created if missing).
    dir: PathBuf,
}

pub fn run(args: Args) -> Result<i32> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let command = super::Cli::command();
    write_page(&args.dir, "burrow", command.clone())?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("burrow-{}", sub.get_name());
        write_page(&args.dir, &name, sub.clone())?;
    }
    Ok(0)
}

fn write_page(dir: &Path, name: &str, command: clap::Command) -> Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut bytes = Vec::new();
    clap_mangen::Man::new(command)
        .title(name.to_uppercase())
        .render(&mut bytes)?;
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
