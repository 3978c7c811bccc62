//! `burrow volume prune [-f] [-a] [--filter label=…]`: Docker 23's rule,
//! only anonymous volumes unless `--all`; never one a container uses.

use anyhow::Result;
use burrow_engine::volumes::human_size;
use burrow_engine::Store;

use super::Filter;

#[derive(clap::Args)]
pub struct Args {
    /// Remove all unused volumes, not just anonymous ones.
    #[arg(short, long)]
    all: bool,
    /// Do not prompt for confirmation.
    #[arg(short, long)]
    force: bool,
    /// Filters: label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long)]
    filter: Vec<String>,
}

pub fn run(store: &Store, args: Args) -> Result<i32> {
    let filters = args
        .filter
        .iter()
        .map(|f| Filter::parse(f, &["label", "label!"]))
        .collect::<Result<Vec<_>>>()?;
    if !args.force && !confirmed(args.all)? {
        return Ok(0);
    }
    let (removed, bytes) =
        store.prune_volumes(args.all, |v| filters.iter().all(|f| f.matches(v, false)))?;
    if !removed.is_empty() {
        println!("Deleted Volumes:");
        removed.iter().for_each(|name| println!("{name}"));
        println!();
    }
    println!("Total reclaimed space: {}", human_size(bytes));
    Ok(0)
}

fn confirmed(all: bool) -> Result<bool> {
    let which = if all { "all" } else { "anonymous" };
    crate::commands::confirm(&format!(
        "WARNING! This will remove {which} local volumes not used by at least one container.\n\
         Are you sure you want to continue?"
    ))
}
