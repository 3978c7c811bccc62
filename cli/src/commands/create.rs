//! `burrow create`.

use anyhow::Result;

use super::container_args::ContainerArgs;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    container: ContainerArgs,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let config = args.container.to_config(&store)?;
    let record = burrow_engine::container::create(&store, config, args.container.name.as_deref())?;
    println!("{}", record.id);
    Ok(0)
}
