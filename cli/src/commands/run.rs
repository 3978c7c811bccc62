//! `burrow run`: create, start, and (unless -d) print the output and exit
//! with the container's exit code.

use std::time::Duration;

use anyhow::Result;
use burrow_engine::logs::{log_path, read_from};
use burrow_engine::ContainerStatus;

use super::container_args::ContainerArgs;

#[derive(clap::Args)]
pub struct Args {
    /// Run in the background and print the container id.
    #[arg(short, long)]
    detach: bool,
    #[command(flatten)]
    container: ContainerArgs,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    let store = super::store(root)?;
    let config = args.container.to_config(args.detach)?;
    let record = burrow_engine::container::create(&store, config, args.container.name.as_deref())?;
    let started = burrow_engine::container::start(&store, &record, &self_exe(), root);
    let record = match started {
        Ok(r) => r,
        Err(e) => {
            let _ = store.remove_record(&record.id);
            return Err(e.into());
        }
    };
    if args.detach {
        println!("{}", record.id);
        return Ok(0);
    }
    let code = follow_until_exit(&store, &record.id)?;
    if args.container.rm {
        store.remove_record(&record.id)?;
    }
    Ok(code)
}

/// Prints the log as it grows until the container has exited; its exit code.
pub fn follow_until_exit(store: &burrow_engine::Store, id: &str) -> Result<i32> {
    let path = log_path(&store.container_dir(id));
    let mut offset = 0;
    loop {
        let exited = store.load(id)?.status != ContainerStatus::Running;
        if path.exists() {
            let (entries, next) = read_from(&path, offset)?;
            offset = next;
            super::logs::print_entries(&entries, false);
        }
        if exited {
            return Ok(store.load(id)?.exit_code.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The binary to run as the supervisor: this one (also when re-executed from a memfd).
pub fn self_exe() -> std::path::PathBuf {
    std::path::PathBuf::from("/proc/self/exe")
}
