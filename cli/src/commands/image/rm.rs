//! `burrow rmi` / `burrow image rm`: "Untagged: NAME" and "Deleted: ID" lines.

use anyhow::Result;
use burrow_engine::images::{self, familiar_name, Removed};

#[derive(clap::Args)]
pub struct Args {
    /// Delete an image with several names by id, or one a container uses.
    #[arg(short, long)]
    force: bool,
    /// Accepted for Docker compatibility.
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    let _ = args.no_prune;
    let mut failed = false;
    for name in &args.images {
        match images::remove(&store, name, args.force) {
            Ok(lines) => {
                for line in lines {
                    match line {
                        Removed::Untagged(name) => println!("Untagged: {}", familiar_name(&name)),
                        Removed::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
