//! `burrow save [-o FILE] [--format docker-archive|oci-archive] IMAGE…`: an archive
//! (docker-archive unless `--format`, Podman's flag), to stdout unless `-o`. A file is
//! written under a temporary name and renamed, so a failed save leaves no half archive.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burrow_engine::images::ArchiveFormat;

#[derive(clap::Args)]
pub struct Args {
    /// Write to this file instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Archive format: docker-archive (what `docker load` reads) or oci-archive.
    #[arg(long, value_enum, default_value_t = Format::DockerArchive)]
    format: Format,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Format {
    DockerArchive,
    OciArchive,
}

impl From<Format> for ArchiveFormat {
    fn from(format: Format) -> ArchiveFormat {
        match format {
            Format::DockerArchive => ArchiveFormat::DockerArchive,
            Format::OciArchive => ArchiveFormat::OciArchive,
        }
    }
}

pub fn run(root: Option<&Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let names: Vec<&str> = args.images.iter().map(String::as_str).collect();
    let Some(output) = &args.output else {
        let stdout = std::io::stdout();
        if stdout.is_terminal() {
            bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
        }
        let mut out = BufWriter::new(stdout.lock());
        burrow_engine::images::save(&store, &names, args.format.into(), &mut out)?;
        out.flush().context("cannot write the archive to stdout")?;
        return Ok(0);
    };
    let temp = temp_name(output);
    let result = write_file(&store, &names, args.format.into(), &temp).and_then(|()| {
        std::fs::rename(&temp, output)
            .with_context(|| format!("cannot rename {} to {}", temp.display(), output.display()))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.map(|()| 0)
}

fn temp_name(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.burrow-save-{}", std::process::id()))
}

fn write_file(
    store: &burrow_engine::Store,
    names: &[&str],
    format: ArchiveFormat,
    path: &Path,
) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    burrow_engine::images::save(store, names, format, &mut out)?;
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}
