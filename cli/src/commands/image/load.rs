//! `burrow load [-i FILE] [-q]`: a docker-archive or oci-archive, from stdin by default.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use burrow_engine::images::{self, familiar_name};

#[derive(clap::Args)]
pub struct Args {
    /// Read from this file instead of stdin.
    #[arg(short, long)]
    input: Option<PathBuf>,
    /// Accepted for Docker compatibility (load prints no progress).
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let loaded = match &args.input {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            images::load(&store, file).with_context(|| format!("cannot load {}", path.display()))?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!(
                    "requested load from stdin, but stdin is a terminal: use -i FILE or a redirect"
                );
            }
            images::load(&store, stdin.lock()).context("cannot load from stdin")?
        }
    };
    let _ = args.quiet;
    for record in loaded {
        if record.names.is_empty() {
            println!("Loaded image ID: {}", record.id);
        }
        for name in &record.names {
            println!("Loaded image: {}", familiar_name(name));
        }
    }
    Ok(0)
}
