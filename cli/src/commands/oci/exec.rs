//! `burrow oci exec`: a process from --process, or from the command line on
//! top of the container's own process settings (as runc does).

use std::path::PathBuf;

use anyhow::{Context, Result};
use burrow_runtime::container::ExecOptions;
use burrow_runtime::spec::oci::Process;
use burrow_runtime::state::StateDir;

use super::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Unix socket that receives the pty master.
    #[arg(long)]
    console_socket: Option<PathBuf>,
    /// Working directory.
    #[arg(long)]
    cwd: Option<PathBuf>,
    /// Extra environment variables (KEY=VALUE).
    #[arg(short, long)]
    env: Vec<String>,
    /// Allocate a pty.
    #[arg(short, long)]
    tty: bool,
    /// UID[:GID] to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Additional gids.
    #[arg(short = 'g', long)]
    additional_gids: Vec<u32>,
    /// process.json holding the whole process (overrides the flags).
    #[arg(short, long)]
    process: Option<PathBuf>,
    /// Return once the process has started.
    #[arg(short, long)]
    detach: bool,
    /// File to write the process's pid to.
    #[arg(long)]
    pid_file: Option<PathBuf>,
    /// Set no_new_privs.
    #[arg(long)]
    no_new_privs: bool,
    /// Pass this many extra fds (from 3) to the process.
    #[arg(long, default_value_t = 0)]
    preserve_fds: u32,
    /// Accepted for runc compatibility.
    #[arg(long)]
    process_label: Option<String>,
    /// Accepted for runc compatibility.
    #[arg(long)]
    apparmor: Option<String>,
    /// Add a capability to the bounding, effective, permitted sets.
    #[arg(short, long)]
    cap: Vec<String>,
    id: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(global: &Global, args: Args) -> Result<i32> {
    burrow_runtime::selfexe::ensure_sealed()?;
    let process = match &args.process {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("invalid process JSON {}", path.display()))?
        }
        None => process_from_flags(global, &args)?,
    };
    let code = burrow_runtime::container::exec(ExecOptions {
        root: &global.root,
        id: &args.id,
        process,
        console_socket: args.console_socket.as_deref(),
        pid_file: args.pid_file.as_deref(),
        detach: args.detach,
        preserve_fds: args.preserve_fds,
    })?;
    Ok(code)
}

fn process_from_flags(global: &Global, args: &Args) -> Result<Process> {
    if args.command.is_empty() {
        anyhow::bail!("exec: no command given (pass a command or --process)");
    }
    let dir = StateDir::open(&global.root, &args.id)?;
    let spec = burrow_runtime::spec::oci::Spec::load(dir.config_path())
        .context("cannot load the container's config")?;
    let mut process = spec.process().clone().unwrap_or_default();
    process.set_args(Some(args.command.clone()));
    process.set_terminal(Some(args.tty));
    let mut env = process.env().clone().unwrap_or_default();
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    process.set_env(Some(env));
    if let Some(cwd) = &args.cwd {
        process.set_cwd(cwd.clone());
    }
    if let Some(user) = &args.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u.parse()?, g.parse()?),
            None => (
                user.parse().context("--user takes UID[:GID]")?,
                process.user().gid(),
            ),
        };
        process.user_mut().set_uid(uid);
        process.user_mut().set_gid(gid);
    }
    if !args.additional_gids.is_empty() {
        process
            .user_mut()
            .set_additional_gids(Some(args.additional_gids.clone()));
    }
    if args.no_new_privs {
        process.set_no_new_privileges(Some(true));
    }
    if !args.cap.is_empty() {
        let mut caps = process.capabilities().clone().unwrap_or_default();
        for name in &args.cap {
            let cap: burrow_runtime::spec::oci::Capability = name
                .trim_start_matches("CAP_")
                .parse()
                .with_context(|| format!("unknown capability {name}"))?;
            let add = |s: &Option<burrow_runtime::spec::oci::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        process.set_capabilities(Some(caps));
    }
    Ok(process)
}
