//! Top-level commands; one module per command.

pub mod net;
pub mod oci;
pub mod overlay;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "burrow",
    version,
    about = "Rootless containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The runc-compatible low-level runtime (also reachable as `burrow-oci`).
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Oci {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Print version information.
    Version,
    #[command(hide = true, name = "net-helper")]
    NetHelper(net::NetHelperArgs),
}

pub fn dispatch(cli: Cli) -> i32 {
    match cli.command {
        Command::Oci { args } => {
            let mut argv = vec![std::ffi::OsString::from("burrow oci")];
            argv.extend(args);
            oci::main(argv)
        }
        Command::NetHelper(args) => net::main(args),
        Command::Version => {
            println!("burrow version {}", env!("CARGO_PKG_VERSION"));
            0
        }
    }
}
