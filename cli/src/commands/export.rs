//! `burrow export`: the container's filesystem as a tar archive.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// Write to a file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    container: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::daemon_result(|| {
        let record = store.resolve(&args.container)?;
        match &args.output {
            Some(path) => {
                let file = std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                let mut out = std::io::BufWriter::new(file);
                burrow_engine::container::export(&record, &mut out)?;
                out.flush()?;
            }
            None => {
                let stdout = std::io::stdout();
                if stdout.is_terminal() {
                    bail!("cowardly refusing to write the archive to a terminal (use -o FILE or redirect)");
                }
                // Not locked: the archive is written by a forked helper.
                let mut out = std::io::BufWriter::new(stdout);
                burrow_engine::container::export(&record, &mut out)?;
                out.flush()?;
            }
        }
        Ok(0)
    })
}
