//! `burrow start`.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Attach to the output and wait (one container only).
    #[arg(short, long)]
    attach: bool,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let mut failed = false;
    for reference in &args.containers {
        let started = store.resolve(reference).and_then(|r| {
            burrow_engine::container::start(&store, &r, &super::run::self_exe(), root)
        });
        match started {
            Ok(record) if args.attach => return super::run::follow_until_exit(&store, &record.id),
            Ok(_) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 125 } else { 0 })
}
