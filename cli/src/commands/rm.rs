//! `burrow rm`.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Kill running containers first.
    #[arg(short, long)]
    force: bool,
    /// Remove the container's anonymous volumes too.
    #[arg(short, long)]
    volumes: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut failed = false;
    for reference in &args.containers {
        let result = store.resolve(reference).and_then(|r| {
            burrow_engine::container::remove(&store, &r, args.force)?;
            if args.volumes {
                burrow_engine::container::remove_anonymous_volumes(&store, &r)?;
            }
            Ok(())
        });
        match result {
            Ok(()) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
