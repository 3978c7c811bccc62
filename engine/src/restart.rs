//! Restart policies (`--restart`), as Docker has them: `no`, `on-failure[:N]`,
//! `always` and `unless-stopped`.
//!
//! This module only decides; the supervisor owns the loop. After the
//! container's init exits it calls [`should_restart`] with the policy from
//! the record, the exit code, how many times it has already restarted the
//! container, and whether a user asked for the stop (`stop`, `kill`, `rm -f`).
//! `always` and `unless-stopped` differ only when the engine itself starts
//! again (a reboot): `always` containers come back, `unless-stopped` ones that
//! a user stopped do not — see [`restart_on_engine_start`].

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// What `--restart` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "Name")]
pub enum RestartPolicy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max_retries` times (0: no limit).
    OnFailure {
        #[serde(rename = "MaximumRetryCount", default)]
        max_retries: u32,
    },
    Always,
    UnlessStopped,
}

impl RestartPolicy {
    /// Parses Docker's `--restart` values (`on-failure:3`, `always`, …).
    pub fn parse(text: &str) -> Result<RestartPolicy> {
        let invalid = |why: &str| {
            EngineError::Other(format!(
                "invalid restart policy {text:?}: {why} (use no, on-failure[:N], always or unless-stopped)"
            ))
        };
        let (name, count) = match text.split_once(':') {
            Some((name, count)) => (name, Some(count)),
            None => (text, None),
        };
        let policy = match name {
            "" | "no" => RestartPolicy::No,
            "on-failure" => RestartPolicy::OnFailure { max_retries: 0 },
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            _ => return Err(invalid("unknown policy")),
        };
        let Some(count) = count else {
            return Ok(policy);
        };
        let count: u32 = count
            .parse()
            .map_err(|_| invalid("the retry count must be a non-negative number"))?;
        match policy {
            RestartPolicy::OnFailure { .. } => Ok(RestartPolicy::OnFailure { max_retries: count }),
            _ => Err(invalid("only on-failure takes a retry count")),
        }
    }

    /// Docker's name for the policy (`HostConfig.RestartPolicy.Name`).
    pub fn name(&self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnFailure { .. } => "on-failure",
            RestartPolicy::Always => "always",
            RestartPolicy::UnlessStopped => "unless-stopped",
        }
    }

    pub fn max_retries(&self) -> u32 {
        match self {
            RestartPolicy::OnFailure { max_retries } => *max_retries,
            _ => 0,
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestartPolicy::OnFailure { max_retries } if *max_retries > 0 => {
                write!(f, "on-failure:{max_retries}")
            }
            other => f.write_str(other.name()),
        }
    }
}

/// Whether the supervisor should start the container again after its init
/// exited with `exit_code`, having restarted it `restart_count` times so far.
/// A stop a user asked for is never undone.
pub fn should_restart(
    policy: RestartPolicy,
    exit_code: i32,
    restart_count: u32,
    stopped_by_user: bool,
) -> bool {
    if stopped_by_user {
        return false;
    }
    match policy {
        RestartPolicy::No => false,
        RestartPolicy::OnFailure { max_retries } => {
            exit_code != 0 && (max_retries == 0 || restart_count < max_retries)
        }
        RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
    }
}

/// Whether a container should be started when the engine itself starts
/// (after a reboot): `always` ones, and `unless-stopped` ones no user stopped.
pub fn restart_on_engine_start(policy: RestartPolicy, stopped_by_user: bool) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::UnlessStopped => !stopped_by_user,
        _ => false,
    }
}

/// Docker's back-off between restarts: 100 ms doubling per restart, at most a minute.
pub fn restart_delay(restart_count: u32) -> std::time::Duration {
    let millis = 100u64.saturating_mul(1u64 << restart_count.min(10));
    std::time::Duration::from_millis(millis.min(60_000))
}

/// What the supervisor calls once the container's init has exited with
/// `exit_code`: reads the record again (a user's `stop`/`kill` is recorded
/// there while the supervisor waits), decides, and when the container is to
/// run again counts the restart in the record and returns how long to wait
/// before starting it. `None`: record the exit as usual.
pub fn plan_restart(
    store: &crate::store::Store,
    id: &str,
    exit_code: i32,
) -> Result<Option<std::time::Duration>> {
    let _lock = store.lock()?;
    let mut record = store.load(id)?;
    let policy = record.config.restart;
    if !should_restart(
        policy,
        exit_code,
        record.restart_count,
        record.stopped_by_user,
    ) {
        return Ok(None);
    }
    let delay = restart_delay(record.restart_count);
    record.restart_count += 1;
    record.exit_code = Some(exit_code);
    store.save(&record)?;
    Ok(Some(delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use RestartPolicy::*;

    #[test]
    fn policies_parse_like_dockers() {
        assert_eq!(RestartPolicy::parse("no").unwrap(), No);
        assert_eq!(RestartPolicy::parse("always").unwrap(), Always);
        assert_eq!(
            RestartPolicy::parse("unless-stopped").unwrap(),
            UnlessStopped
        );
        assert_eq!(
            RestartPolicy::parse("on-failure").unwrap(),
            OnFailure { max_retries: 0 }
        );
        assert_eq!(
            RestartPolicy::parse("on-failure:3").unwrap(),
            OnFailure { max_retries: 3 }
        );
        for bad in [
            "sometimes",
            "always:2",
            "on-failure:x",
            "on-failure:-1",
            "no:1",
        ] {
            assert!(RestartPolicy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(OnFailure { max_retries: 3 }.to_string(), "on-failure:3");
        assert_eq!(OnFailure { max_retries: 0 }.to_string(), "on-failure");
    }

    #[test]
    fn no_never_restarts() {
        assert!(!should_restart(No, 1, 0, false));
        assert!(!should_restart(No, 0, 0, false));
    }

    #[test]
    fn on_failure_restarts_failures_up_to_the_limit() {
        let policy = OnFailure { max_retries: 2 };
        assert!(!should_restart(policy, 0, 0, false));
        assert!(should_restart(policy, 1, 0, false));
        assert!(should_restart(policy, 137, 1, false));
        assert!(!should_restart(policy, 1, 2, false));
        let unlimited = OnFailure { max_retries: 0 };
        assert!(should_restart(unlimited, 1, 1000, false));
    }

    #[test]
    fn always_and_unless_stopped_restart_any_exit_but_not_a_user_stop() {
        for policy in [Always, UnlessStopped] {
            assert!(should_restart(policy, 0, 0, false));
            assert!(should_restart(policy, 3, 50, false));
            assert!(!should_restart(policy, 0, 0, true));
        }
        assert!(!should_restart(OnFailure { max_retries: 0 }, 1, 0, true));
    }

    #[test]
    fn engine_start_brings_back_always_and_unstopped_unless_stopped() {
        assert!(restart_on_engine_start(Always, true));
        assert!(restart_on_engine_start(UnlessStopped, false));
        assert!(!restart_on_engine_start(UnlessStopped, true));
        assert!(!restart_on_engine_start(
            OnFailure { max_retries: 0 },
            false
        ));
    }

    #[test]
    fn delays_double_and_cap() {
        assert_eq!(restart_delay(0).as_millis(), 100);
        assert_eq!(restart_delay(3).as_millis(), 800);
        assert_eq!(restart_delay(40).as_secs(), 60);
    }

    fn stored(policy: RestartPolicy, stopped_by_user: bool) -> (tempfile::TempDir, crate::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(Some(dir.path())).unwrap();
        let config = crate::RunConfig {
            restart: policy,
            ..crate::RunConfig::default()
        };
        let mut record = crate::ContainerRecord::new("c1".into(), "c1".into(), config);
        record.stopped_by_user = stopped_by_user;
        store.save_renamed(&record).unwrap();
        (dir, store)
    }

    #[test]
    fn plans_count_restarts_in_the_record_until_the_limit() {
        let (_dir, store) = stored(OnFailure { max_retries: 2 }, false);
        assert!(plan_restart(&store, "c1", 1).unwrap().is_some());
        let second = plan_restart(&store, "c1", 1).unwrap();
        assert_eq!(second, Some(restart_delay(1)));
        assert_eq!(plan_restart(&store, "c1", 1).unwrap(), None);
        assert_eq!(store.load("c1").unwrap().restart_count, 2);
        let (_dir, stopped) = stored(Always, true);
        assert_eq!(plan_restart(&stopped, "c1", 0).unwrap(), None);
    }

    #[test]
    fn policies_serialize_as_docker_restart_policy_objects() {
        let json = serde_json::to_value(OnFailure { max_retries: 5 }).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 5})
        );
        let back: RestartPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back, OnFailure { max_retries: 5 });
        let always: RestartPolicy = serde_json::from_str(r#"{"Name":"always"}"#).unwrap();
        assert_eq!(always, Always);
    }
}
