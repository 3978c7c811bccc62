//! The container's stdin, stdout and stderr as the supervisor holds them:
//! pipes (stdin only with `-i`, /dev/null otherwise) or, with `-t`, the pty
//! whose master the runtime hands over on a console socket. Output goes to
//! the log and to attached clients; attached input goes to the stdin pipe
//! or the master.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::attach::protocol;
use crate::attach::server::{AttachServer, Input};
use crate::error::{EngineError, IoContext, Result};
use crate::logs::LogWriter;
use crate::record::RunConfig;

pub struct Stdio {
    null: File,
    /// (container's end, supervisor's end) of each pipe.
    stdin: Option<(OwnedFd, OwnedFd)>,
    output: Option<[(OwnedFd, OwnedFd); 2]>,
    console: Option<(UnixListener, PathBuf)>,
}

impl Stdio {
    /// `console_path`: where the runtime sends the pty master (with `-t`).
    pub fn prepare(config: &RunConfig, console_path: &Path) -> Result<Stdio> {
        let null = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .context(|| "cannot open /dev/null".into())?;
        if config.tty {
            if let Some(dir) = console_path.parent() {
                std::fs::create_dir_all(dir)
                    .context(|| format!("cannot create {}", dir.display()))?;
            }
            let _ = std::fs::remove_file(console_path);
            let listener = UnixListener::bind(console_path)
                .context(|| format!("cannot listen on {}", console_path.display()))?;
            return Ok(Stdio {
                null,
                stdin: None,
                output: None,
                console: Some((listener, console_path.to_path_buf())),
            });
        }
        let stdin = match config.interactive {
            true => Some(pipe()?),
            false => None,
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        Ok(Stdio {
            null,
            stdin,
            output: Some([(out_w, out_r), (err_w, err_r)]),
            console: None,
        })
    }

    pub fn console_socket(&self) -> Option<&Path> {
        self.console.as_ref().map(|(_, path)| path.as_path())
    }

    /// The container's stdin, stdout and stderr for the runtime.
    pub fn fds(&self) -> [RawFd; 3] {
        let null = self.null.as_raw_fd();
        let stdin = self.stdin.as_ref().map_or(null, |(r, _)| r.as_raw_fd());
        match &self.output {
            Some([(out, _), (err, _)]) => [stdin, out.as_raw_fd(), err.as_raw_fd()],
            None => [null, null, null],
        }
    }

    /// Once the container exists: drops its ends, gives the input to
    /// `server` and starts copying output to `logs` and `server`.
    pub fn connect(
        self,
        server: &Arc<AttachServer>,
        logs: &LogWriter,
    ) -> Result<Vec<JoinHandle<()>>> {
        let pump = |stream: &'static str, kind: u8, source: File| {
            let logs = logs.clone();
            let server = Arc::clone(server);
            std::thread::spawn(move || {
                logs.pump(stream, source, |chunk| server.broadcast(kind, chunk))
            })
        };
        if let Some((listener, path)) = self.console {
            let (stream, _) = listener
                .accept()
                .context(|| "cannot accept the runtime's console connection".into())?;
            let master = burrow_runtime::tty_proxy::receive_fd(&stream)?;
            let _ = std::fs::remove_file(path);
            let reader = File::from(master);
            let writer = reader
                .try_clone()
                .context(|| "cannot duplicate the pty master".into())?;
            server.set_input(Some(Input::Pty(writer)));
            return Ok(vec![pump("stdout", protocol::STDOUT, reader)]);
        }
        if let Some((_, writer)) = self.stdin {
            server.set_input(Some(Input::Pipe(File::from(writer))));
        }
        let Some([(_, out), (_, err)]) = self.output else {
            return Ok(Vec::new());
        };
        Ok(vec![
            pump("stdout", protocol::STDOUT, File::from(out)),
            pump("stderr", protocol::STDERR, File::from(err)),
        ])
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| EngineError::Other(format!("cannot create a pipe: {e}")))
}
