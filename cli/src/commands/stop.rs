//! `burrow stop`.

use std::time::Duration;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait before SIGKILL.
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut failed = false;
    for reference in &args.containers {
        let result = store.resolve(reference).and_then(|r| {
            burrow_engine::container::stop(&store, &r, args.time.map(Duration::from_secs))
        });
        match result {
            Ok(()) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 125 } else { 0 })
}
