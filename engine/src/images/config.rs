//! What an image config (the JSON blob whose digest is the image id) says, in the
//! shapes the engine and the CLI use. Read leniently: fields Docker and OCI leave out
//! or set to `null` become empty values, never errors.

use std::collections::BTreeMap;

use serde_json::Value;

use super::rootfs::ImageRunDefaults;

/// One `history` entry of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryEntry {
    pub created: Option<String>,
    pub created_by: String,
    pub comment: String,
    pub empty_layer: bool,
}

/// The parts of an image config that `inspect`, `images` and `history` show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub created: Option<String>,
    pub author: String,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    pub defaults: ImageRunDefaults,
    pub diff_ids: Vec<String>,
    pub history: Vec<HistoryEntry>,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        let root: Value = serde_json::from_slice(bytes)?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_string);
        Ok(ImageConfig {
            created: text(&root, "created"),
            author: text(&root, "author").unwrap_or_default(),
            architecture: text(&root, "architecture").unwrap_or_default(),
            os: text(&root, "os").unwrap_or_default(),
            variant: text(&root, "variant"),
            defaults: run_defaults(root.get("config").unwrap_or(&Value::Null)),
            diff_ids: strings(root.pointer("/rootfs/diff_ids")),
            history: root
                .get("history")
                .and_then(Value::as_array)
                .map(|entries| entries.iter().map(history_entry).collect())
                .unwrap_or_default(),
        })
    }
}

/// The `config` object of an image config (Docker's capitalized keys).
pub fn run_defaults(config: &Value) -> ImageRunDefaults {
    let text = |key: &str| {
        config
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    ImageRunDefaults {
        entrypoint: strings(config.get("Entrypoint")),
        cmd: strings(config.get("Cmd")),
        env: strings(config.get("Env")),
        workdir: text("WorkingDir"),
        user: text("User"),
        exposed_ports: keys(config.get("ExposedPorts")),
        volumes: keys(config.get("Volumes")),
        stop_signal: text("StopSignal"),
        labels: config
            .get("Labels")
            .and_then(Value::as_object)
            .map(|labels| {
                labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect::<BTreeMap<_, _>>()
            })
            .unwrap_or_default(),
    }
}

fn history_entry(entry: &Value) -> HistoryEntry {
    let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_string);
    HistoryEntry {
        created: text("created"),
        created_by: text("created_by").unwrap_or_default(),
        comment: text("comment").unwrap_or_default(),
        empty_layer: entry
            .get("empty_layer")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_object)
        .map(|map| map.keys().cloned().collect())
        .unwrap_or_default()
}

/// Docker's short form of a full name: `docker.io/library/busybox:latest` →
/// `busybox:latest`, `docker.io/me/app:1` → `me/app:1`; other registries unchanged.
pub fn familiar_name(name: &str) -> &str {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
}

/// `(repository, tag)` of a full `name:tag` (the tag is after the last `:` that follows
/// the last `/`, so a registry port is not mistaken for one).
pub fn split_name(name: &str) -> (&str, &str) {
    let familiar = familiar_name(name);
    let slash = familiar.rfind('/').map_or(0, |i| i + 1);
    match familiar[slash..].rfind(':') {
        Some(i) => (&familiar[..slash + i], &familiar[slash + i + 1..]),
        None => (familiar, "<none>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_shorten_like_dockers() {
        assert_eq!(
            familiar_name("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar_name("docker.io/me/app:1"), "me/app:1");
        assert_eq!(
            familiar_name("127.0.0.1:5000/a/b:c"),
            "127.0.0.1:5000/a/b:c"
        );
        assert_eq!(
            split_name("127.0.0.1:5000/a/b:c"),
            ("127.0.0.1:5000/a/b", "c")
        );
        assert_eq!(
            split_name("docker.io/library/busybox:1.36"),
            ("busybox", "1.36")
        );
        assert_eq!(
            split_name("localhost:5000/x"),
            ("localhost:5000/x", "<none>")
        );
    }

    #[test]
    fn configs_parse_leniently() {
        let config = ImageConfig::parse(
            br#"{"created":"2024-01-02T03:04:05Z","architecture":"amd64","os":"linux",
                "config":{"Cmd":["sh"],"Env":null,"WorkingDir":"","User":"1000",
                          "ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"}},
                "rootfs":{"type":"layers","diff_ids":["sha256:00"]},
                "history":[{"created_by":"x","empty_layer":true}]}"#,
        )
        .unwrap();
        assert_eq!(config.defaults.cmd, ["sh"]);
        assert!(config.defaults.env.is_empty());
        assert_eq!(config.defaults.workdir, None);
        assert_eq!(config.defaults.user.as_deref(), Some("1000"));
        assert_eq!(config.defaults.exposed_ports, ["80/tcp"]);
        assert_eq!(config.defaults.labels["a"], "b");
        assert_eq!(config.diff_ids, ["sha256:00"]);
        assert!(config.history[0].empty_layer);
        assert!(ImageConfig::parse(b"{}").is_ok());
        assert!(ImageConfig::parse(b"[").is_err());
    }
}
