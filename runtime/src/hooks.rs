//! Running OCI hooks: the state JSON on stdin, the hook's own env, a timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Result, RuntimeError};

/// Runs `hooks` in order; the first failure stops the list.
pub fn run_all(stage: &str, hooks: &[Hook], state_json: &str) -> Result<()> {
    for hook in hooks {
        run_one(stage, hook, state_json)?;
    }
    Ok(())
}

fn run_one(stage: &str, hook: &Hook, state_json: &str) -> Result<()> {
    let path = hook.path();
    let fail = |why: String| RuntimeError::Other(format!("{stage} hook {}: {why}", path.display()));
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(path);
    if let Some((arg0, rest)) = args.split_first() {
        command.arg0(arg0).args(rest);
    }
    command
        .env_clear()
        .envs(
            hook.env()
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .filter_map(|e| e.split_once('=')),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                // One line, whatever the hook printed.
                let err: Vec<&str> = err
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                return Err(fail(format!("{status}: {}", err.join("; "))));
            }
            Ok(None) => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail("timed out".into()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
