//! `burrow container prune`: remove every stopped container.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    if !args.force && !confirmed()? {
        return Ok(0);
    }
    let store = super::store(root)?;
    let pruned = burrow_engine::container::prune(&store)?;
    if !pruned.is_empty() {
        println!("Deleted Containers:");
        for p in &pruned {
            println!("{}", p.id);
        }
        println!();
    }
    let total = pruned.iter().map(|p| p.reclaimed_bytes).sum();
    println!("Total reclaimed space: {}", super::ps::human_size(total));
    Ok(0)
}

fn confirmed() -> Result<bool> {
    super::confirm(
        "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
    )
}
