//! `burrow tag SOURCE TARGET`.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// The image: a name or an id.
    source: String,
    /// The new name (`[REGISTRY/]PATH[:TAG]`).
    target: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = crate::commands::store(root)?;
    burrow_engine::images::tag(&store, &args.source, &args.target)?;
    Ok(0)
}
