//! Top-level commands; one module per command.

mod attach;
mod attach_session;
mod container_args;
mod create;
mod exec;
mod info;
mod inspect;
mod kill;
mod logs;
pub mod net;
mod network_switch;
pub mod oci;
pub mod overlay;
mod port;
mod ps;
mod rm;
mod run;
mod start;
mod stop;
mod supervise;
mod time_format;
mod wait;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "burrow",
    version,
    about = "Rootless containers",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Store directory (default: $XDG_DATA_HOME/burrow; runtime state goes to ROOT/run).
    /// Given before the command, as Podman's; `oci` has its own `--root`.
    #[arg(long, env = "BURROW_ROOT")]
    root: Option<PathBuf>,
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
    /// Create and start a container.
    #[command(disable_help_flag = true)]
    Run(run::Args),
    /// Create a container without starting it.
    #[command(disable_help_flag = true)]
    Create(create::Args),
    /// Attach the terminal to a running container's stdio.
    Attach(attach::Args),
    /// Start one or more created or stopped containers.
    Start(start::Args),
    /// List containers.
    Ps(ps::Args),
    /// Show a container's output.
    Logs(logs::Args),
    /// Stop containers (stop signal, then SIGKILL after the timeout).
    Stop(stop::Args),
    /// Send a signal to containers.
    Kill(kill::Args),
    /// Remove containers.
    Rm(rm::Args),
    /// Wait for containers to exit and print their exit codes.
    Wait(wait::Args),
    /// Run a command in a running container.
    Exec(exec::Args),
    /// Show containers as JSON.
    Inspect(inspect::Args),
    /// List a container's published ports.
    Port(port::Args),
    /// Show the store and what this machine offers (with hints for what is missing).
    Info(info::Args),
    /// Print version information.
    Version,
    #[command(hide = true, name = "net-helper")]
    NetHelper(net::NetHelperArgs),
    #[command(hide = true, name = "network-switch")]
    NetworkSwitch(network_switch::NetworkSwitchArgs),
    /// Internal: run one container's supervisor.
    #[command(hide = true)]
    Supervise {
        /// Start the program once a client has attached.
        #[arg(long)]
        wait_for_attach: bool,
        id: String,
    },
}

pub fn dispatch(cli: Cli) -> i32 {
    let root = cli.root;
    let result = match cli.command {
        Command::Oci { args } => {
            let mut argv = vec![std::ffi::OsString::from("burrow oci")];
            argv.extend(args);
            return oci::main(argv);
        }
        Command::NetHelper(args) => return net::main(args),
        Command::NetworkSwitch(args) => return network_switch::main(args),
        Command::Version => {
            println!("burrow version {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Command::Run(a) => run::run(root.as_deref(), a),
        Command::Create(a) => create::run(root.as_deref(), a),
        Command::Attach(a) => attach::run(root.as_deref(), a),
        Command::Start(a) => start::run(root.as_deref(), a),
        Command::Ps(a) => ps::run(root.as_deref(), a),
        Command::Logs(a) => logs::run(root.as_deref(), a),
        Command::Stop(a) => stop::run(root.as_deref(), a),
        Command::Kill(a) => kill::run(root.as_deref(), a),
        Command::Rm(a) => rm::run(root.as_deref(), a),
        Command::Wait(a) => wait::run(root.as_deref(), a),
        Command::Exec(a) => exec::run(root.as_deref(), a),
        Command::Inspect(a) => inspect::run(root.as_deref(), a),
        Command::Port(a) => port::run(root.as_deref(), a),
        Command::Info(a) => info::run(root.as_deref(), a),
        Command::Supervise {
            id,
            wait_for_attach,
        } => supervise::run(root.as_deref(), &id, wait_for_attach),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("burrow: error: {e:#}");
            e.downcast_ref::<burrow_engine::EngineError>()
                .map(|e| e.exit_code())
                .unwrap_or(125)
        }
    }
}

/// The store for `--root`.
pub fn store(root: Option<&std::path::Path>) -> anyhow::Result<burrow_engine::Store> {
    Ok(burrow_engine::Store::open(root)?)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
        super::oci::OciCli::command().debug_assert();
    }
}
