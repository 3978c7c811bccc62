//! `burrow network-switch` (hidden): the switch of one user-defined network, a process
//! of its own started on first use; it exits once no container has been connected for
//! `--idle-exit` seconds.

use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct NetworkSwitchArgs {
    /// The unix socket containers' stacks connect to.
    #[arg(long)]
    socket: PathBuf,
    /// Exit after this many seconds without any member.
    #[arg(long, default_value_t = 10)]
    idle_exit: u64,
}

pub fn main(args: NetworkSwitchArgs) -> i32 {
    // Started as /proc/self/exe: name the process for ps and top.
    let _ = nix::sys::prctl::set_name(c"burrow-switch");
    match burrow_net::switch::serve(&args.socket, Duration::from_secs(args.idle_exit)) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("burrow: error: {error}");
            125
        }
    }
}
