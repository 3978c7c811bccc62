//! `burrow rename OLD NEW`.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    container: String,
    new_name: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::daemon_result(|| {
        let record = store.resolve(&args.container)?;
        burrow_engine::container::rename(&store, &record, &args.new_name)?;
        Ok(0)
    })
}
