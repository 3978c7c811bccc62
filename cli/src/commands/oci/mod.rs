//! `burrow oci`: runc's command line (global flags, then one verb), one module per verb.

mod create;
mod delete;
mod exec;
mod kill;
mod list;
mod ps;
mod run;
mod spec;
mod start;
mod state;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::oci_log::OciLog;

#[derive(Parser)]
#[command(name = "burrow-oci", version, about = "runc-compatible OCI runtime")]
pub struct OciCli {
    /// Directory for container state (default: $XDG_RUNTIME_DIR/burrow-oci).
    #[arg(long, global = true, env = "BURROW_OCI_ROOT")]
    root: Option<PathBuf>,
    /// Also write errors to this file.
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    /// Accepted for runc compatibility; burrow uses cgroups only where delegated.
    #[arg(long, global = true)]
    systemd_cgroup: bool,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility (true, false or auto).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long, global = true, hide = true)]
    criu: Option<String>,
    #[command(subcommand)]
    command: OciCommand,
}

#[derive(Subcommand)]
enum OciCommand {
    /// Create a container; it waits for `start`.
    Create(create::Args),
    /// Start a created container.
    Start(start::Args),
    /// Print a container's state JSON.
    State(state::Args),
    /// Send a signal to a container's init (or all its processes).
    Kill(kill::Args),
    /// Delete a container.
    Delete(delete::Args),
    /// Create, start and wait for a container, then delete it.
    Run(run::Args),
    /// Run a process inside a running container.
    Exec(exec::Args),
    /// List the processes of a container.
    Ps(ps::Args),
    /// List containers.
    List(list::Args),
    /// Write a default config.json.
    Spec(spec::Args),
}

/// Context shared by the verbs.
pub struct Global {
    pub root: PathBuf,
}

pub fn main(argv: Vec<std::ffi::OsString>) -> i32 {
    let cli = match OciCli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let log = OciLog {
        path: cli.log.clone(),
        json: cli.log_format == "json",
    };
    let global = Global {
        root: cli.root.clone().unwrap_or_else(default_root),
    };
    let result = match cli.command {
        OciCommand::Create(a) => create::run(&global, a),
        OciCommand::Start(a) => start::run(&global, a),
        OciCommand::State(a) => state::run(&global, a),
        OciCommand::Kill(a) => kill::run(&global, a),
        OciCommand::Delete(a) => delete::run(&global, a),
        OciCommand::Run(a) => run::run(&global, a),
        OciCommand::Exec(a) => exec::run(&global, a),
        OciCommand::Ps(a) => ps::run(&global, a),
        OciCommand::List(a) => list::run(&global, a),
        OciCommand::Spec(a) => spec::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            log.error(&format!("{e:#}"));
            exit_code_for(&e)
        }
    }
}

/// runc exits 1 on errors; a program that cannot be found or run keeps 127/126.
fn exit_code_for(error: &anyhow::Error) -> i32 {
    match error.downcast_ref::<burrow_runtime::RuntimeError>() {
        Some(e @ burrow_runtime::RuntimeError::Init { .. }) => e.exit_code(),
        _ => 1,
    }
}

fn default_root() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("burrow-oci"),
        _ => PathBuf::from(format!("/tmp/burrow-oci-{}", nix::unistd::geteuid())),
    }
}

/// The arguments `create` and `run` share.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is set.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// File to write the init's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Use move + chroot instead of pivot_root.
    #[arg(long)]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long)]
    no_new_keyring: bool,
    /// Pass this many extra fds (from 3) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// burrow extension: keep a small init as pid 1 that reaps zombies and
    /// forwards signals to the process (like `docker run --init`).
    #[arg(long)]
    init: bool,
    /// Container id.
    id: String,
}

impl CreateArgs {
    fn options<'a>(
        &'a self,
        global: &'a Global,
        trigger: burrow_runtime::StartTrigger,
    ) -> burrow_runtime::container::CreateOptions<'a> {
        burrow_runtime::container::CreateOptions {
            root: &global.root,
            id: &self.id,
            bundle: &self.bundle,
            console_socket: self.console_socket.as_deref(),
            pid_file: self.pid_file.as_deref(),
            preserve_fds: self.preserve_fds,
            no_pivot: self.no_pivot,
            with_init: self.init,
            stdio: None,
            die_with_parent: false,
            trigger,
        }
    }
}
