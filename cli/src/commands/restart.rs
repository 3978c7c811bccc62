//! `burrow restart`: stop (stop signal, SIGKILL after the timeout), then start.

use std::time::Duration;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds to wait for the stop before killing the container.
    #[arg(short, long)]
    time: Option<u64>,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let timeout = args.time.map(Duration::from_secs);
    super::each_container(&store, &args.containers, |record| {
        burrow_engine::container::stop(&store, record, timeout)?;
        let stopped = store.load(&record.id)?;
        burrow_engine::container::start(&store, &stopped, &super::run::self_exe(), root)?;
        Ok(())
    })
}
