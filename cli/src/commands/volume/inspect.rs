//! `burrow volume inspect NAME…`: a JSON array of Docker's volume objects.

use anyhow::Result;
use burrow_engine::Store;

#[derive(clap::Args)]
pub struct Args {
    /// A Go-style template such as '{{.Mountpoint}}'.
    #[arg(short, long)]
    format: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn run(store: &Store, args: Args) -> Result<i32> {
    let mut found = Vec::new();
    let mut failed = false;
    for name in &args.names {
        match store.load_volume(name) {
            Ok(v) => found.push(super::docker_json(&v)),
            Err(e) => {
                eprintln!("burrow: error: {e}");
                failed = true;
            }
        }
    }
    match &args.format {
        Some(template) => {
            for value in &found {
                println!("{}", super::super::ps::render(template, value)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(if failed { 1 } else { 0 })
}
