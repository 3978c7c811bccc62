//! `burrow diff`: the files a container added (A), changed (C) and deleted (D).

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    container: String,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    super::daemon_result(|| {
        let record = store.resolve(&args.container)?;
        for change in burrow_engine::container::diff(&store, &record)? {
            println!("{} {}", change.kind.letter(), change.path);
        }
        Ok(0)
    })
}
