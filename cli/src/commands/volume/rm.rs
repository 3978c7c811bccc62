//! `burrow volume rm [-f] NAME…`: refuses volumes a container (any status)
//! uses; `-f` ignores missing ones.

use anyhow::Result;
use burrow_engine::volumes::VolumeError;
use burrow_engine::{EngineError, Store};

#[derive(clap::Args)]
pub struct Args {
    /// Do not fail on volumes that do not exist.
    #[arg(short, long)]
    force: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn run(store: &Store, args: Args) -> Result<i32> {
    let mut failed = false;
    for name in &args.names {
        match store.remove_volume(name) {
            Ok(_) => println!("{name}"),
            Err(EngineError::Volume(VolumeError::NoSuchVolume(_))) if args.force => {}
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
