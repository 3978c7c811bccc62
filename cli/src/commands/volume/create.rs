//! `burrow volume create [--label K=V] [--driver local] [-o K=V] [NAME]`.

use anyhow::Result;
use burrow_engine::{Store, VolumeRequest};

#[derive(clap::Args)]
pub struct Args {
    /// Volume driver (only local).
    #[arg(short, long, default_value = "local")]
    driver: String,
    /// Set metadata (KEY=VALUE).
    #[arg(long)]
    label: Vec<String>,
    /// Driver options (KEY=VALUE).
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Name (default: a random 64-hex id).
    name: Option<String>,
}

pub fn run(store: &Store, args: Args) -> Result<i32> {
    let request = VolumeRequest {
        name: args.name,
        driver: Some(args.driver),
        labels: super::key_values(&args.label),
        options: super::key_values(&args.opt),
    };
    let (volume, _) = store.create_volume(&request)?;
    println!("{}", volume.name);
    Ok(0)
}
