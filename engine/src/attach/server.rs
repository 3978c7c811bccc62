//! The supervisor's side of attaching: a listener thread accepts clients,
//! every client gets the container's output, and clients that say so feed
//! its stdin (a pipe, or the pty master with a terminal).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::protocol::{self, read_frame, write_frame};
use crate::error::{IoContext, Result};

/// Where the container's stdin goes.
pub enum Input {
    /// The write end of the container's stdin pipe (`-i` without `-t`).
    Pipe(File),
    /// The pty master (`-t`): input, and terminal size changes.
    Pty(File),
}

#[derive(Default)]
struct Shared {
    clients: Mutex<Vec<UnixStream>>,
    input: Mutex<Option<Input>>,
    attached: Mutex<bool>,
    attached_changed: Condvar,
}

pub struct AttachServer {
    shared: Arc<Shared>,
    path: PathBuf,
}

impl AttachServer {
    /// Listens at `path` (a stale socket there is replaced).
    pub fn listen(path: &Path) -> Result<AttachServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).context(|| format!("cannot create {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(path);
        let listener =
            UnixListener::bind(path).context(|| format!("cannot listen on {}", path.display()))?;
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("attach".into())
            .spawn(move || accept_loop(&listener, &accepting))
            .context(|| "cannot start the attach thread".into())?;
        Ok(AttachServer {
            shared,
            path: path.to_path_buf(),
        })
    }

    pub fn set_input(&self, input: Option<Input>) {
        if let Ok(mut slot) = self.shared.input.lock() {
            *slot = input;
        }
    }

    /// Waits up to `timeout` for a first client; whether one came.
    pub fn wait_for_client(&self, timeout: Duration) -> bool {
        let Ok(attached) = self.shared.attached.lock() else {
            return false;
        };
        self.shared
            .attached_changed
            .wait_timeout_while(attached, timeout, |a| !*a)
            .map(|(a, _)| *a)
            .unwrap_or(false)
    }

    /// Sends output to every client; a client that cannot take it within
    /// the write timeout is dropped.
    pub fn broadcast(&self, kind: u8, bytes: &[u8]) {
        if let Ok(mut clients) = self.shared.clients.lock() {
            clients.retain_mut(|client| write_frame(client, kind, bytes).is_ok());
        }
    }

    /// Tells every client the exit code, and stops listening.
    pub fn finish(&self, exit_code: i32) {
        let _ = std::fs::remove_file(&self.path);
        if let Ok(mut clients) = self.shared.clients.lock() {
            for client in clients.iter_mut() {
                let _ = write_frame(client, protocol::EXIT, &exit_code.to_be_bytes());
                let _ = client.flush();
            }
            clients.clear();
        }
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    for client in listener.incoming().flatten() {
        let shared = Arc::clone(shared);
        let _ = std::thread::Builder::new()
            .name("attach-client".into())
            .spawn(move || serve_client(client, &shared));
    }
}

fn serve_client(mut client: UnixStream, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    let wants_stdin = match read_frame(&mut client) {
        Ok(Some((protocol::HELLO, payload))) => payload.first() == Some(&1),
        _ => return,
    };
    let _ = client.set_read_timeout(None);
    let _ = client.set_write_timeout(Some(Duration::from_secs(10)));
    let Ok(writer) = client.try_clone() else {
        return;
    };
    if let Ok(mut clients) = shared.clients.lock() {
        clients.push(writer);
    }
    if let Ok(mut attached) = shared.attached.lock() {
        *attached = true;
        shared.attached_changed.notify_all();
    }
    while let Ok(Some((kind, payload))) = read_frame(&mut client) {
        match kind {
            protocol::STDIN if wants_stdin => write_input(shared, &payload),
            protocol::RESIZE => {
                if let Some((rows, cols)) = protocol::parse_resize(&payload) {
                    resize(shared, rows, cols);
                }
            }
            protocol::STDIN_EOF if wants_stdin => close_pipe_input(shared),
            _ => {}
        }
    }
}

fn write_input(shared: &Shared, bytes: &[u8]) {
    if let Ok(mut input) = shared.input.lock() {
        let failed = match input.as_mut() {
            Some(Input::Pipe(file) | Input::Pty(file)) => file.write_all(bytes).is_err(),
            None => false,
        };
        if failed {
            *input = None;
        }
    }
}

/// End of input closes a pipe (the program reads EOF); a terminal stays.
fn close_pipe_input(shared: &Shared) {
    if let Ok(mut input) = shared.input.lock() {
        if matches!(*input, Some(Input::Pipe(_))) {
            *input = None;
        }
    }
}

fn resize(shared: &Shared, rows: u16, cols: u16) {
    if let Ok(input) = shared.input.lock() {
        if let Some(Input::Pty(master)) = input.as_ref() {
            let size = libc::winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which
            // outlives the call; the fd is the open pty master.
            unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        }
    }
}
