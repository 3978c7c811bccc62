//! `burrow oci spec [--rootless]`: write a starting config.json, as `runc spec` does.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burrow_runtime::spec::oci::Spec;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write config.json into.
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// A config for an unprivileged user (user namespace, no network namespace).
    #[arg(long)]
    rootless: bool,
    /// burrow extension: the process to run (sets process.args, no terminal).
    #[arg(last = true)]
    command: Vec<String>,
}

pub fn run(args: Args) -> Result<i32> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{} already exists; remove it first", path.display());
    }
    let mut spec = burrow_runtime::spec::default_spec(args.rootless);
    if !args.command.is_empty() {
        if let Some(process) = spec.process_mut() {
            process.set_args(Some(args.command));
            process.set_terminal(Some(false));
        }
    }
    write(&spec, &path)?;
    Ok(0)
}

fn write(spec: &Spec, path: &std::path::Path) -> Result<()> {
    let text = serde_json::to_string_pretty(spec)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}
