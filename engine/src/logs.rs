//! Container logs in Docker's json-file shape: one JSON object per line,
//! `{"log": "...\n", "stream": "stdout"|"stderr", "time": RFC3339}`. The
//! supervisor appends whole lines (a partial line is held until its newline
//! or the stream's end); readers filter by tail and time and may follow.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result};

pub const LOG_FILE: &str = "container.log";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogEntry {
    pub log: String,
    pub stream: String,
    pub time: String,
}

/// Appends entries; shared by the stdout and stderr pumps.
#[derive(Clone)]
pub struct LogWriter {
    file: Arc<Mutex<std::fs::File>>,
}

impl LogWriter {
    pub fn create(path: &Path) -> Result<LogWriter> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .context(|| format!("cannot open log {}", path.display()))?;
        Ok(LogWriter {
            file: Arc::new(Mutex::new(file)),
        })
    }

    fn write_line(&self, stream: &str, line: &[u8]) {
        let entry = LogEntry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: stream.into(),
            time: burrow_runtime::state::rfc3339_now(),
        };
        let Ok(mut text) = serde_json::to_vec(&entry) else {
            return;
        };
        text.push(b'\n');
        if let Ok(mut file) = self.file.lock() {
            let _ = file.write_all(&text);
        }
    }

    /// Copies `source` into the log as `stream`, line by line, until EOF;
    /// `tee` gets every chunk as soon as it is read (attached clients).
    pub fn pump(&self, stream: &str, mut source: impl Read, mut tee: impl FnMut(&[u8])) {
        let mut chunk = vec![0u8; 64 * 1024];
        let mut partial: Vec<u8> = Vec::new();
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            tee(&chunk[..n]);
            partial.extend_from_slice(&chunk[..n]);
            let mut start = 0;
            while let Some(newline) = partial[start..].iter().position(|&b| b == b'\n') {
                self.write_line(stream, &partial[start..start + newline + 1]);
                start += newline + 1;
            }
            partial.drain(..start);
        }
        if !partial.is_empty() {
            self.write_line(stream, &partial);
        }
    }
}

/// Which entries `logs` shows.
#[derive(Debug, Default, Clone)]
pub struct LogFilter {
    pub tail: Option<usize>,
    /// RFC 3339 lower bound (entries at or after it), as written by
    /// `burrow_runtime::state::rfc3339` so that text order is time order.
    pub since: Option<String>,
    /// RFC 3339 upper bound (entries before it), in the same form.
    pub until: Option<String>,
}

impl LogFilter {
    pub fn admits(&self, entry: &LogEntry) -> bool {
        self.since
            .as_ref()
            .is_none_or(|s| entry.time.as_str() >= s.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|u| entry.time.as_str() < u.as_str())
    }
}

pub fn log_path(container_dir: &Path) -> PathBuf {
    container_dir.join(LOG_FILE)
}

/// Reads the entries now in the log, filtered; returns them and the offset
/// to continue from when following.
pub fn read_entries(path: &Path, filter: &LogFilter) -> Result<(Vec<LogEntry>, u64)> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).context(|| format!("cannot open {}", path.display())),
    };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .context(|| format!("cannot read {}", path.display()))?;
    // Only complete lines count; a line being written is read next time.
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut entries: Vec<LogEntry> = text[..complete]
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &LogEntry| filter.admits(e))
        .collect();
    if let Some(n) = filter.tail {
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    Ok((entries, complete as u64))
}

/// Entries appended after `offset`; returns them and the new offset.
pub fn read_from(path: &Path, offset: u64) -> Result<(Vec<LogEntry>, u64)> {
    let mut file =
        std::fs::File::open(path).context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .context(|| "cannot seek in the log".into())?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .context(|| "cannot read the log".into())?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let entries = text[..complete]
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    Ok((entries, offset + complete as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_with_streams_tail_and_partial_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let writer = LogWriter::create(&path).unwrap();
        writer.pump("stdout", &b"one\ntwo\nthree"[..], |_| {});
        writer.pump("stderr", &b"oops\n"[..], |_| {});
        let (all, end) = read_entries(&path, &LogFilter::default()).unwrap();
        let logs: Vec<(&str, &str)> = all
            .iter()
            .map(|e| (e.stream.as_str(), e.log.as_str()))
            .collect();
        assert_eq!(
            logs,
            [
                ("stdout", "one\n"),
                ("stdout", "two\n"),
                ("stdout", "three"),
                ("stderr", "oops\n")
            ]
        );
        let tail = read_entries(
            &path,
            &LogFilter {
                tail: Some(1),
                ..LogFilter::default()
            },
        )
        .unwrap()
        .0;
        assert_eq!(tail[0].log, "oops\n");
        writer.pump("stdout", &b"later\n"[..], |_| {});
        let (more, _) = read_from(&path, end).unwrap();
        assert_eq!(more.len(), 1);
        assert_eq!(more[0].log, "later\n");
    }
}
