//! `burrow wait`: prints each container's exit code.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut failed = false;
    for reference in &args.containers {
        match store
            .resolve(reference)
            .and_then(|r| burrow_engine::container::wait(&store, &r.id))
        {
            Ok(code) => println!("{code}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
