//! A container's persisted state under the runtime root (`ROOT/ID/`):
//! `state.json` (written to a temp name and renamed), `config.json` (the
//! bundle's config as it was at create), and `exec.fifo` while the container
//! waits for `start`. Liveness is never trusted from the file alone: the pid
//! must still exist with the same start time and not be a zombie.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Result, RuntimeError};

pub const FIFO_NAME: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds; the runtime-spec state plus what the runtime needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Start time of `pid` (field 22 of /proc/PID/stat), to detect pid reuse.
    pub pid_start_time: u64,
    /// Whether the container has its own pid namespace (kill --all, ps).
    pub own_pid_namespace: bool,
    /// The delegated cgroup v2 directory the container runs in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<PathBuf>,
}

impl State {
    /// The runtime-spec view printed by `state`.
    pub fn to_spec_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": self.status,
            "pid": if self.status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

/// The directory of one container's state.
pub struct StateDir {
    pub path: PathBuf,
    pub id: String,
}

pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidId(id.to_string()))
    }
}

impl StateDir {
    /// Creates the directory for a new container; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        std::fs::create_dir_all(root)
            .context(|| format!("cannot create state directory {}", root.display()))?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => Ok(StateDir {
                path,
                id: id.into(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RuntimeError::AlreadyExists(id.into()))
            }
            Err(e) => {
                Err(e).context(|| format!("cannot create state directory {}", path.display()))
            }
        }
    }

    /// Opens the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<StateDir> {
        validate_id(id)?;
        let path = root.join(id);
        if path.join("state.json").is_file() {
            Ok(StateDir {
                path,
                id: id.into(),
            })
        } else {
            Err(RuntimeError::NotFound(id.into()))
        }
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO_NAME)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.json")
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let tmp = self.path.join(".state.json.tmp");
        let bytes =
            serde_json::to_vec_pretty(state).map_err(|e| RuntimeError::Other(e.to_string()))?;
        std::fs::write(&tmp, bytes).context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, self.path.join("state.json"))
            .context(|| "cannot save state.json".into())
    }

    /// Loads the state and refreshes its status from the process table.
    pub fn load(&self) -> Result<State> {
        let path = self.path.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RuntimeError::NotFound(self.id.clone()),
            _ => RuntimeError::Io {
                context: format!("cannot read {}", path.display()),
                error: e,
            },
        })?;
        let mut state: State = serde_json::from_str(&text)
            .map_err(|e| RuntimeError::Other(format!("corrupt {}: {e}", path.display())))?;
        state.status = self.live_status(&state);
        Ok(state)
    }

    fn live_status(&self, state: &State) -> Status {
        if !is_alive(state.pid, state.pid_start_time) {
            return Status::Stopped;
        }
        match state.status {
            Status::Created | Status::Creating if self.fifo().exists() => Status::Created,
            Status::Stopped => Status::Stopped,
            _ => Status::Running,
        }
    }

    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path)
            .context(|| format!("cannot remove {}", self.path.display()))
    }
}

/// (state letter, start time) from /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is the same live (non-zombie) process that started at `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && matches!(proc_stat(pid), Some((state, start)) if start == start_time && state != 'Z' && state != 'X')
}

/// RFC 3339 UTC timestamp with nanoseconds, as runc writes `created`.
pub fn rfc3339_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as written by
/// [`rfc3339`] (`YYYY-MM-DDTHH:MM:SS[.frac]Z`); `None` for anything else.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !text.ends_with('Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    Some(days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_709_210_096, 5), "2024-02-29T12:34:56.000000005Z");
    }

    #[test]
    fn rfc3339_parses_back() {
        assert_eq!(
            parse_rfc3339("2024-02-29T12:34:56.000000005Z"),
            Some(1_709_210_096)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn ids_are_checked() {
        assert!(validate_id("abc-1_2.x").is_ok());
        assert!(validate_id("../x").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("..").is_err());
    }

    #[test]
    fn own_process_is_alive_and_reuse_is_detected() {
        let pid = std::process::id() as i32;
        let (_, start) = proc_stat(pid).unwrap();
        assert!(is_alive(pid, start));
        assert!(!is_alive(pid, start + 1));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        StateDir::create(dir.path(), "a").unwrap();
        assert!(matches!(
            StateDir::create(dir.path(), "a"),
            Err(RuntimeError::AlreadyExists(_))
        ));
    }
}
