//! An attached session on the user's terminal: the container's output to
//! stdout/stderr, the user's input to the container (`-i`), the terminal in
//! raw mode and its size followed (`-t`), and the detach keys (ctrl-p ctrl-q
//! by default) that leave the container running.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use burrow_engine::attach::client::{AttachClient, InputSender, Output};
use nix::sys::termios::{self, SetArg, Termios};

/// How the session treats the user's terminal.
#[derive(Clone, Debug)]
pub struct Session {
    pub stdin: bool,
    pub tty: bool,
    pub detach_keys: Vec<u8>,
}

/// How a session ended.
pub enum Ended {
    Exited(i32),
    Detached,
    /// The supervisor went away without an exit code.
    Lost,
}

impl Session {
    /// Refuses `-it` when stdin is not a terminal, as Docker does.
    pub fn check_terminal(&self) -> Result<()> {
        if self.tty && self.stdin && !nix::unistd::isatty(0).unwrap_or(false) {
            bail!("the input device is not a TTY");
        }
        Ok(())
    }

    /// Connects to the container's attach socket; with a terminal, sends its
    /// size at once (so the program starts with the right one).
    pub fn connect(&self, store: &burrow_engine::Store, id: &str) -> Result<AttachClient> {
        let client =
            AttachClient::connect(&burrow_engine::attach::socket_path(store, id), self.stdin)?;
        if self.tty {
            if let Some((rows, cols)) = terminal_size() {
                client.input()?.resize(rows, cols)?;
            }
        }
        Ok(client)
    }

    /// Runs the session to its end.
    pub fn run(&self, mut client: AttachClient) -> Result<Ended> {
        let _raw = match self.tty && nix::unistd::isatty(0).unwrap_or(false) {
            true => Some(RawMode::enter()?),
            false => None,
        };
        let detached = Arc::new(AtomicBool::new(false));
        if self.stdin {
            let input = client.input()?;
            let keys = if self.tty {
                self.detach_keys.clone()
            } else {
                Vec::new()
            };
            let detached = Arc::clone(&detached);
            std::thread::spawn(move || forward_input(input, &keys, &detached));
        }
        if self.tty {
            let input = client.input()?;
            std::thread::spawn(move || follow_terminal_size(input));
        }
        let mut stdout = std::io::stdout();
        let mut stderr = std::io::stderr();
        loop {
            match client.next_output() {
                Some(Output::Stdout(bytes)) => {
                    let _ = stdout.write_all(&bytes);
                    let _ = stdout.flush();
                }
                Some(Output::Stderr(bytes)) => {
                    let _ = stderr.write_all(&bytes);
                }
                Some(Output::Exited(code)) => return Ok(Ended::Exited(code)),
                None if detached.load(Ordering::SeqCst) => return Ok(Ended::Detached),
                None => return Ok(Ended::Lost),
            }
        }
    }
}

/// Parses Docker's `--detach-keys` (`ctrl-p,ctrl-q`, `a`, `ctrl-@`…).
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>> {
    spec.split(',')
        .map(|key| {
            let key = key.trim();
            match key.strip_prefix("ctrl-") {
                Some(c) if c.len() == 1 => {
                    let c = c.as_bytes()[0].to_ascii_uppercase();
                    match c {
                        b'@'..=b'_' => Ok(c - b'@'),
                        _ => bail!("invalid detach key {key:?}"),
                    }
                }
                None if key.len() == 1 => Ok(key.as_bytes()[0]),
                _ => bail!("invalid detach key {key:?}"),
            }
        })
        .collect()
}

fn forward_input(mut input: InputSender, detach_keys: &[u8], detached: &AtomicBool) {
    let mut buf = [0u8; 8192];
    let mut matched = 0;
    loop {
        let n = match nix::unistd::read(0, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &byte in &buf[..n] {
            if !detach_keys.is_empty() && byte == detach_keys[matched] {
                matched += 1;
                if matched == detach_keys.len() {
                    detached.store(true, Ordering::SeqCst);
                    let _ = input.send(&out);
                    input.detach();
                    return;
                }
                continue;
            }
            // A partial sequence that did not complete is passed on.
            out.extend_from_slice(&detach_keys[..matched]);
            matched = 0;
            out.push(byte);
        }
        if input.send(&out).is_err() {
            return;
        }
    }
    let _ = input.close();
}

fn follow_terminal_size(mut input: InputSender) {
    let mut last = terminal_size();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = terminal_size();
        if now != last {
            if let Some((rows, cols)) = now {
                if input.resize(rows, cols).is_err() {
                    return;
                }
            }
            last = now;
        }
    }
}

pub fn terminal_size() -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    for fd in [1, 0, 2] {
        // SAFETY: TIOCGWINSZ writes one winsize into `size`, which lives
        // across the call.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_row > 0 {
            return Some((size.ws_row, size.ws_col));
        }
    }
    None
}

/// Sets the size of the terminal behind `fd` (a pty master).
pub fn set_terminal_size(fd: &impl std::os::fd::AsRawFd, (rows, cols): (u16, u16)) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, valid across the call.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

/// The terminal in raw mode until dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).context("cannot read the terminal's mode")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)
            .context("cannot put the terminal in raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_dockers() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-@,a").unwrap(), vec![0, b'a']);
        assert!(parse_detach_keys("ctrl-").is_err());
        assert!(parse_detach_keys("shift-a").is_err());
    }
}
