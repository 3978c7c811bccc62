//! Top-level commands; one module per command.

mod attach;
mod attach_session;
mod commit;
mod completion;
mod container_args;
mod cp;
mod create;
mod diff;
mod exec;
mod export;
pub mod image;
mod info;
mod inspect;
mod kill;
mod logs;
mod man;
pub mod net;
mod network;
mod network_switch;
pub mod oci;
pub mod overlay;
mod pause;
mod port;
mod prune;
mod ps;
mod rename;
mod restart;
mod rm;
mod run;
pub mod slirp;
mod start;
mod stats;
mod stop;
mod supervise;
mod system;
mod table;
mod time_format;
mod top;
mod unpause;
mod version;
mod volume;
mod wait;

use std::path::PathBuf;

use burrow_engine::{ContainerRecord, Store};
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
    #[command(flatten)]
    Verb(ContainerVerb),
    /// List containers.
    Ps(ps::Args),
    /// Manage containers (`burrow container ls`, `burrow container prune`, …).
    #[command(subcommand)]
    Container(ContainerGroup),
    /// Manage volumes.
    #[command(subcommand)]
    Volume(volume::Command),
    /// Manage networks.
    #[command(subcommand)]
    Network(network::Command),
    /// Show the store and what this machine offers (with hints for what is missing).
    Info(info::Args),
    /// Manage the store as a whole (df, prune, info).
    #[command(subcommand)]
    System(system::Command),
    /// Manage images (ls, inspect, rm, tag, pull, push, load, save, import, prune, history).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// List images (`image ls`).
    Images(image::list::Args),
    /// Download an image from a registry (`image pull`).
    Pull(image::pull::Args),
    /// Upload an image to a registry (`image push`).
    Push(image::push::Args),
    /// Log in to a registry (credentials kept 0600 in `$XDG_CONFIG_HOME/burrow/auth.json`).
    Login(image::login::Args),
    /// Forget the credentials of a registry.
    Logout(image::logout::Args),
    /// Remove images (`image rm`).
    Rmi(image::rm::Args),
    /// Give an image another name (`image tag`).
    Tag(image::tag::Args),
    /// Load images from an archive (`image load`).
    Load(image::load::Args),
    /// Write images as an archive (`image save`).
    Save(image::save::Args),
    /// Make an image from a rootfs tarball (`image import`).
    Import(image::import::Args),
    /// Show the history of an image (`image history`).
    History(image::history::Args),
    /// Print version information.
    Version(version::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion(completion::Args),
    /// Write man pages into a directory.
    #[command(hide = true)]
    Man(man::Args),
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

/// The verbs on containers, at the top level and under `burrow container`.
#[derive(Subcommand)]
enum ContainerVerb {
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
    /// Restart containers (stop, then start).
    Restart(restart::Args),
    /// Stop containers (stop signal, then SIGKILL after the timeout).
    Stop(stop::Args),
    /// Send a signal to containers.
    Kill(kill::Args),
    /// Pause every process of containers.
    Pause(pause::Args),
    /// Let paused containers run again.
    Unpause(unpause::Args),
    /// Remove containers.
    Rm(rm::Args),
    /// Wait for containers to exit and print their exit codes.
    Wait(wait::Args),
    /// Run a command in a running container.
    Exec(exec::Args),
    /// Show a container's output.
    Logs(logs::Args),
    /// Show containers (or images) as JSON.
    Inspect(inspect::Args),
    /// List a container's published ports.
    Port(port::Args),
    /// Show a container's processes.
    Top(top::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Show containers' resource use.
    Stats(stats::Args),
    /// Show the files a container added, changed or deleted.
    Diff(diff::Args),
    /// Copy files between a container and the host.
    Cp(cp::Args),
    /// Write a container's filesystem as a tar archive.
    Export(export::Args),
    /// Make an image of a container's changes.
    Commit(commit::Args),
}

// Parsed once per process: the size of the enum does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ContainerGroup {
    #[command(flatten)]
    Verb(ContainerVerb),
    /// List containers.
    #[command(visible_aliases = ["list", "ps"])]
    Ls(ps::Args),
    /// Remove all stopped containers.
    Prune(prune::Args),
}

impl Cli {
    /// `root` (the config file's) unless `--root` or `BURROW_ROOT` gave one.
    pub fn with_default_root(mut self, root: Option<PathBuf>) -> Cli {
        self.root = self.root.or(root);
        self
    }
}

pub fn dispatch(cli: Cli) -> i32 {
    let root = cli.root;
    let root = root.as_deref();
    let result = match cli.command {
        Command::Oci { args } => {
            let mut argv = vec![std::ffi::OsString::from("burrow oci")];
            argv.extend(args);
            return oci::main(argv);
        }
        Command::NetHelper(args) => return net::main(args),
        Command::NetworkSwitch(args) => return network_switch::main(args),
        Command::Image(command) => return image::main(root, command),
        Command::Images(a) => return image::main(root, image::ImageCommand::Ls(a)),
        Command::Pull(a) => return image::main(root, image::ImageCommand::Pull(a)),
        Command::Push(a) => return image::main(root, image::ImageCommand::Push(a)),
        Command::Login(a) => return image::report(image::login::run(a)),
        Command::Logout(a) => return image::report(image::logout::run(a)),
        Command::Rmi(a) => return image::main(root, image::ImageCommand::Rm(a)),
        Command::Tag(a) => return image::main(root, image::ImageCommand::Tag(a)),
        Command::Load(a) => return image::main(root, image::ImageCommand::Load(a)),
        Command::Save(a) => return image::main(root, image::ImageCommand::Save(a)),
        Command::Import(a) => return image::main(root, image::ImageCommand::Import(a)),
        Command::History(a) => return image::main(root, image::ImageCommand::History(a)),
        Command::Verb(verb) => dispatch_verb(root, verb),
        Command::Ps(a) => ps::run(root, a),
        Command::Container(ContainerGroup::Verb(verb)) => dispatch_verb(root, verb),
        Command::Container(ContainerGroup::Ls(a)) => ps::run(root, a),
        Command::Container(ContainerGroup::Prune(a)) => prune::run(root, a),
        Command::Info(a) => info::run(root, a),
        Command::System(c) => system::run(root, c),
        Command::Version(a) => version::run(a),
        Command::Completion(a) => completion::run(a),
        Command::Man(a) => man::run(a),
        Command::Volume(c) => volume::run(root, c),
        Command::Network(c) => network::run(root, c),
        Command::Supervise {
            id,
            wait_for_attach,
        } => supervise::run(root, &id, wait_for_attach),
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

fn dispatch_verb(root: Option<&std::path::Path>, verb: ContainerVerb) -> anyhow::Result<i32> {
    match verb {
        ContainerVerb::Run(a) => run::run(root, a),
        ContainerVerb::Create(a) => create::run(root, a),
        ContainerVerb::Attach(a) => attach::run(root, a),
        ContainerVerb::Start(a) => start::run(root, a),
        ContainerVerb::Restart(a) => restart::run(root, a),
        ContainerVerb::Stop(a) => stop::run(root, a),
        ContainerVerb::Kill(a) => kill::run(root, a),
        ContainerVerb::Pause(a) => pause::run(root, a),
        ContainerVerb::Unpause(a) => unpause::run(root, a),
        ContainerVerb::Rm(a) => rm::run(root, a),
        ContainerVerb::Wait(a) => wait::run(root, a),
        ContainerVerb::Exec(a) => exec::run(root, a),
        ContainerVerb::Logs(a) => logs::run(root, a),
        ContainerVerb::Inspect(a) => inspect::run(root, a),
        ContainerVerb::Port(a) => port::run(root, a),
        ContainerVerb::Top(a) => top::run(root, a),
        ContainerVerb::Rename(a) => rename::run(root, a),
        ContainerVerb::Stats(a) => stats::run(root, a),
        ContainerVerb::Diff(a) => diff::run(root, a),
        ContainerVerb::Cp(a) => cp::run(root, a),
        ContainerVerb::Export(a) => export::run(root, a),
        ContainerVerb::Commit(a) => commit::run(root, a),
    }
}

/// Runs `action` on each referenced container as Docker's multi-container
/// verbs do: the reference printed on success, one error line per failure,
/// exit status 1 if any failed.
fn each_container(
    store: &Store,
    references: &[String],
    mut action: impl FnMut(&ContainerRecord) -> anyhow::Result<()>,
) -> anyhow::Result<i32> {
    let mut failed = false;
    for reference in references {
        let result = store
            .resolve(reference)
            .map_err(anyhow::Error::from)
            .and_then(|record| action(&record));
        match result {
            Ok(()) => println!("{reference}"),
            Err(e) => {
                eprintln!("burrow: error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// An error of a verb that Docker reports as the daemon's: one line, exit status 1.
fn daemon_result(action: impl FnOnce() -> anyhow::Result<i32>) -> anyhow::Result<i32> {
    match action() {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("burrow: error: {e:#}");
            Ok(1)
        }
    }
}

/// Asks `question` with Docker's `[y/N]` on the terminal; whether the answer was yes.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, Write};
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
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
