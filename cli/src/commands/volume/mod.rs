//! `burrow volume create|ls|inspect|rm|prune`, one module per verb.

mod create;
mod inspect;
mod ls;
mod prune;
mod rm;

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use burrow_engine::VolumeRecord;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a volume (prints its name).
    Create(create::Args),
    /// List volumes.
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Show volumes as JSON.
    Inspect(inspect::Args),
    /// Remove volumes that no container uses.
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Remove unused volumes (anonymous ones only, unless --all).
    Prune(prune::Args),
}

/// Exits 1 on errors, as Docker's volume commands do (125 is for `run`).
pub fn run(root: Option<&std::path::Path>, command: Command) -> Result<i32> {
    let store = super::store(root)?;
    let result = match command {
        Command::Create(a) => create::run(&store, a),
        Command::Ls(a) => ls::run(&store, a),
        Command::Inspect(a) => inspect::run(&store, a),
        Command::Rm(a) => rm::run(&store, a),
        Command::Prune(a) => prune::run(&store, a),
    };
    result.or_else(|e| {
        eprintln!("burrow: error: {e:#}");
        Ok(1)
    })
}

/// `KEY=VALUE` (or `KEY`, an empty value) flags as a map.
fn key_values(flags: &[String]) -> BTreeMap<String, String> {
    flags
        .iter()
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap_or((f, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Docker's `volume inspect` object.
fn docker_json(v: &VolumeRecord) -> serde_json::Value {
    let map_or_null = |m: &BTreeMap<String, String>| {
        if m.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::json!(m)
        }
    };
    serde_json::json!({
        "CreatedAt": v.created_at,
        "Driver": v.driver,
        "Labels": map_or_null(&v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": map_or_null(&v.options),
        "Scope": v.scope,
    })
}

/// A `--filter` for ls and prune: `name=`, `label=KEY[=VALUE]`,
/// `label!=KEY[=VALUE]`, `driver=`, `dangling=true|false`.
struct Filter {
    key: String,
    value: String,
}

impl Filter {
    fn parse(text: &str, allowed: &[&str]) -> Result<Filter> {
        let (key, value) = text.split_once('=').unwrap_or((text, ""));
        if !allowed.contains(&key) {
            bail!("invalid filter {key:?} (use {})", allowed.join(", "));
        }
        if key == "dangling" && !["true", "false", "1", "0"].contains(&value) {
            bail!("invalid filter 'dangling={value}'");
        }
        Ok(Filter {
            key: key.into(),
            value: value.into(),
        })
    }

    /// `in_use`: whether any container mounts the volume.
    fn matches(&self, v: &VolumeRecord, in_use: bool) -> bool {
        let label = || {
            let (k, want) = self
                .value
                .split_once('=')
                .map_or((self.value.as_str(), None), |(k, w)| (k, Some(w)));
            v.labels
                .get(k)
                .is_some_and(|have| want.is_none_or(|w| w == have))
        };
        match self.key.as_str() {
            "name" => v.name.contains(&self.value),
            "driver" => v.driver == self.value,
            "label" => label(),
            "label!" => !label(),
            "dangling" => in_use != matches!(self.value.as_str(), "true" | "1"),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            mountpoint: format!("/v/{name}/_data").into(),
            created_at: String::new(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
            scope: "local".into(),
            anonymous: false,
            populated: false,
        }
    }

    #[test]
    fn filters_match_like_dockers() {
        let all = ["name", "label", "label!", "dangling"];
        let db = volume("dbdata", &[("tier", "db")]);
        let filter = |text: &str| Filter::parse(text, &all).unwrap();
        assert!(filter("name=bda").matches(&db, false));
        assert!(filter("label=tier").matches(&db, false));
        assert!(filter("label=tier=db").matches(&db, false));
        assert!(!filter("label=tier=web").matches(&db, false));
        assert!(filter("label!=tier=web").matches(&db, false));
        assert!(filter("dangling=true").matches(&db, false));
        assert!(!filter("dangling=true").matches(&db, true));
        assert!(filter("dangling=0").matches(&db, true));
        assert!(Filter::parse("dangling=maybe", &all).is_err());
        assert!(Filter::parse("color=red", &all).is_err());
    }
}
