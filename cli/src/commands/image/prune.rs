//! `burrow image prune [-a] [-f]`: dangling (or all unused) images, then every blob and
//! layer no remaining image needs.

use std::io::BufRead;

use anyhow::Result;

use super::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove every image no container uses, not only the dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Don't ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    if !args.force && !confirm(args.all)? {
        return Ok(0);
    }
    let report = burrow_engine::images::prune(&store, args.all)?;
    if !report.images.is_empty() {
        println!("Deleted Images:");
        for id in &report.images {
            println!("deleted: {id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report.reclaimed_bytes)
    );
    Ok(0)
}

fn confirm(all: bool) -> Result<bool> {
    let what = if all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    };
    eprint!("WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}
