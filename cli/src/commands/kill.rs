//! `burrow kill`.

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    /// Signal to send (name or number).
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    #[arg(required = true)]
    containers: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let signal = burrow_runtime::container::parse_signal(&args.signal)?;
    let mut failed = false;
    for reference in &args.containers {
        match store
            .resolve(reference)
            .and_then(|r| burrow_engine::container::kill_by_user(&store, &r, signal))
        {
            Ok(()) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 125 } else { 0 })
}
