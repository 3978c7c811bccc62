//! The CLI's side of attaching.

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::protocol::{self, read_frame, write_frame};
use crate::error::{EngineError, Result};

/// What the container sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Exited(i32),
}

pub struct AttachClient {
    stream: UnixStream,
}

/// Sends to the container (from the thread that reads the user's input).
pub struct InputSender {
    stream: UnixStream,
}

impl AttachClient {
    /// Connects to the attach socket at `path`; `with_stdin` forwards input.
    pub fn connect(path: &Path, with_stdin: bool) -> Result<AttachClient> {
        let mut stream = UnixStream::connect(path).map_err(|e| {
            EngineError::Other(format!(
                "cannot attach (is the container running?): {}: {e}",
                path.display()
            ))
        })?;
        write_frame(&mut stream, protocol::HELLO, &[u8::from(with_stdin)])
            .map_err(|e| EngineError::Other(format!("cannot attach: {e}")))?;
        Ok(AttachClient { stream })
    }

    pub fn input(&self) -> Result<InputSender> {
        let stream = self
            .stream
            .try_clone()
            .map_err(|e| EngineError::Other(format!("cannot attach: {e}")))?;
        Ok(InputSender { stream })
    }

    /// The next output; `None` when the supervisor went away without an
    /// exit code (killed), or the client detached.
    pub fn next_output(&mut self) -> Option<Output> {
        match read_frame(&mut self.stream) {
            Ok(Some((protocol::STDOUT, bytes))) => Some(Output::Stdout(bytes)),
            Ok(Some((protocol::STDERR, bytes))) => Some(Output::Stderr(bytes)),
            Ok(Some((protocol::EXIT, code))) => {
                let code = <[u8; 4]>::try_from(code.as_slice()).ok()?;
                Some(Output::Exited(i32::from_be_bytes(code)))
            }
            Ok(Some(_)) => self.next_output(),
            Ok(None) | Err(_) => None,
        }
    }
}

impl InputSender {
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_frame(&mut self.stream, protocol::STDIN, bytes)
    }

    pub fn resize(&mut self, rows: u16, cols: u16) -> io::Result<()> {
        write_frame(
            &mut self.stream,
            protocol::RESIZE,
            &protocol::resize_payload(rows, cols),
        )
    }

    /// End of the user's input.
    pub fn close(&mut self) -> io::Result<()> {
        write_frame(&mut self.stream, protocol::STDIN_EOF, &[])?;
        self.stream.flush()
    }

    /// Leaves the container running and ends the session (detach keys).
    pub fn detach(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}
