//! `burrow import FILE|- [REFERENCE]`: a one-layer image from a rootfs tarball; prints
//! the new image id.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Dockerfile instruction for the image config (CMD, ENTRYPOINT, ENV, WORKDIR, USER,
    /// EXPOSE, VOLUME, LABEL, STOPSIGNAL); repeatable.
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// The tarball (plain, gzip or zstd), or `-` for stdin.
    file: PathBuf,
    /// Name for the image.
    reference: Option<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let name = args.reference.as_deref();
    let record = if args.file.as_os_str() == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            bail!("import from stdin, but stdin is a terminal: give a file or a redirect");
        }
        burrow_engine::images::import(&store, stdin.lock(), name, &args.change)
            .context("cannot import from stdin")?
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot open {}", args.file.display()))?;
        burrow_engine::images::import(&store, file, name, &args.change)
            .with_context(|| format!("cannot import {}", args.file.display()))?
    };
    println!("{}", record.id);
    Ok(0)
}
