//! `burrow pause`: stop every process of the containers (SIGSTOP).

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::each_container(&store, &args.containers, |record| {
        Ok(burrow_engine::container::pause(&store, record)?)
    })
}
