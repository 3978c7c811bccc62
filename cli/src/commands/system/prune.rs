//! `burrow system prune [-a] [--volumes] [-f]`: Docker's sweep, in Docker's order and
//! words — stopped containers, networks no container uses, dangling images (every
//! image no container uses with `-a`) and, with `--volumes`, anonymous volumes no
//! container uses (Docker 23's rule; named ones stay).

use std::path::Path;

use anyhow::Result;

use crate::commands::ps::human_size;

#[derive(clap::Args)]
pub struct Args {
    /// Remove every unused image, not only dangling ones.
    #[arg(short, long)]
    all: bool,
    /// Also remove anonymous volumes no container uses.
    #[arg(long)]
    volumes: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: Option<&Path>, args: Args) -> Result<i32> {
    if !args.force && !crate::commands::confirm(&warning(&args))? {
        return Ok(0);
    }
    let store = crate::commands::store(root)?;
    let mut reclaimed = 0;
    let containers = burrow_engine::container::prune(&store)?;
    reclaimed += containers.iter().map(|p| p.reclaimed_bytes).sum::<u64>();
    section(
        "Deleted Containers:",
        containers.iter().map(|p| p.id.clone()),
    );
    section(
        "Deleted Networks:",
        burrow_engine::networks::prune(&store)?.into_iter(),
    );
    if args.volumes {
        let (names, bytes) = store.prune_volumes(false, |_| true)?;
        reclaimed += bytes;
        section("Deleted Volumes:", names.into_iter());
    }
    let images = burrow_engine::images::prune(&store, args.all)?;
    reclaimed += images.reclaimed_bytes;
    section(
        "Deleted Images:",
        images.images.iter().map(|id| format!("deleted: {id}")),
    );
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

fn warning(args: &Args) -> String {
    let mut text = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if args.volumes {
        text.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    if args.all {
        text.push_str("  - all images without at least one container associated to them\n");
    } else {
        text.push_str("  - all dangling images\n");
    }
    text.push_str("  - unused build cache\n\nAre you sure you want to continue?");
    text
}

/// A heading, its lines and a blank line; nothing when there are no lines.
fn section(heading: &str, lines: impl Iterator<Item = String>) {
    let lines: Vec<String> = lines.collect();
    if lines.is_empty() {
        return;
    }
    println!("{heading}");
    lines.iter().for_each(|l| println!("{l}"));
    println!();
}
