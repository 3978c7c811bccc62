//! `burrow exec`.

use anyhow::{bail, Result};
use burrow_engine::container::ExecRequest;

#[derive(clap::Args)]
pub struct Args {
    /// Run in the background.
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables.
    #[arg(short, long)]
    env: Vec<String>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// UID[:GID].
    #[arg(short, long)]
    user: Option<String>,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub fn run(root: Option<&std::path::Path>, args: Args) -> Result<i32> {
    if args.tty && args.interactive && !nix::unistd::isatty(0).unwrap_or(false) {
        eprintln!("burrow: error: the input device is not a TTY");
        return Ok(1);
    }
    let store = super::store(root)?;
    burrow_runtime::selfexe::ensure_sealed()?;
    let record = store.resolve(&args.container)?;
    let user = args
        .user
        .as_deref()
        .map(burrow_engine::spec_builder::parse_user)
        .transpose()?;
    if args.tty && args.detach {
        bail!("exec -t with -d: a detached process cannot have a terminal here");
    }
    let console = match args.tty {
        true => Some(ExecConsole::listen(&store)?),
        false => None,
    };
    let request = ExecRequest {
        args: args.command,
        env: args.env,
        workdir: args.workdir,
        user,
        detach: args.detach,
        console_socket: console.as_ref().map(|c| c.path.clone()),
    };
    let proxy = console.map(|c| c.serve(args.interactive));
    let code = burrow_engine::container::exec(&store, &record, request)?;
    if let Some(proxy) = proxy {
        proxy.finish();
    }
    Ok(code)
}

/// The terminal of `exec -t`: the runtime sends the pty master to a socket;
/// a thread copies it to stdout and (with `-i`) stdin to it.
struct ExecConsole {
    listener: std::os::unix::net::UnixListener,
    path: std::path::PathBuf,
}

struct ExecProxy {
    output: std::thread::JoinHandle<()>,
    _raw: Option<super::attach_session::RawMode>,
}

impl ExecConsole {
    fn listen(store: &burrow_engine::Store) -> Result<ExecConsole> {
        let dir = store.run.join("attach");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("exec-{}.console", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path)?;
        Ok(ExecConsole { listener, path })
    }

    fn serve(self, interactive: bool) -> ExecProxy {
        let raw = match interactive && nix::unistd::isatty(0).unwrap_or(false) {
            true => super::attach_session::RawMode::enter().ok(),
            false => None,
        };
        let output = std::thread::spawn(move || {
            let Ok((stream, _)) = self.listener.accept() else {
                return;
            };
            let _ = std::fs::remove_file(&self.path);
            let Ok(master) = burrow_runtime::tty_proxy::receive_fd(&stream) else {
                return;
            };
            let master = std::fs::File::from(master);
            if let Some(size) = super::attach_session::terminal_size() {
                super::attach_session::set_terminal_size(&master, size);
            }
            if interactive {
                if let Ok(mut to_master) = master.try_clone() {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut std::io::stdin(), &mut to_master);
                    });
                }
            }
            let mut from_master = master;
            let _ = std::io::copy(&mut from_master, &mut std::io::stdout());
        });
        ExecProxy { output, _raw: raw }
    }
}

impl ExecProxy {
    /// Waits for the last output (the master reads EOF once the process is gone).
    fn finish(self) {
        let _ = self.output.join();
    }
}
