//! `docker import --change`: Dockerfile instructions applied to a new image's `config`.
//! Supported: CMD, ENTRYPOINT (JSON or shell form), ENV (`K=V …` or `K V`), WORKDIR,
//! USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL — what Docker accepts there, minus ONBUILD.

use serde_json::{json, Map, Value};

use crate::error::{EngineError, Result};

/// Applies each `change` to `config` (Docker's capitalized `config` object).
pub fn apply_changes(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for change in changes {
        apply_change(config, change)?;
    }
    Ok(())
}

fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (instruction, rest) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(i, r)| (i, r.trim()));
    let invalid = |why: &str| EngineError::Other(format!("invalid --change {change:?}: {why}"));
    if rest.is_empty() {
        return Err(invalid("missing arguments"));
    }
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command_form(rest)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command_form(rest)));
        }
        "ENV" => {
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env
                .as_array_mut()
                .ok_or_else(|| invalid("Env is not a list"))?;
            for (key, value) in key_values(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                let prefix = format!("{key}=");
                list.retain(|e| !e.as_str().is_some_and(|e| e.starts_with(&prefix)));
                list.push(json!(format!("{key}={value}")));
            }
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            let map = labels
                .as_object_mut()
                .ok_or_else(|| invalid("Labels is not a map"))?;
            for (key, value) in key_values(rest).ok_or_else(|| invalid("expected KEY=VALUE"))? {
                map.insert(key, json!(value));
            }
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), json!(rest));
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            let map = ports
                .as_object_mut()
                .ok_or_else(|| invalid("bad ExposedPorts"))?;
            for port in rest.split_whitespace() {
                let port = if port.contains('/') {
                    port.to_string()
                } else {
                    format!("{port}/tcp")
                };
                map.insert(port, json!({}));
            }
        }
        "VOLUME" => {
            let volumes = config.entry("Volumes").or_insert_with(|| json!({}));
            let map = volumes
                .as_object_mut()
                .ok_or_else(|| invalid("bad Volumes"))?;
            let paths = serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect());
            for path in paths {
                map.insert(path, json!({}));
            }
        }
        other => {
            return Err(invalid(&format!(
                "{other} is not supported (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, \
                 USER, VOLUME, WORKDIR)"
            )))
        }
    }
    Ok(())
}

/// `["a","b"]` as is; anything else is shell form, run by `/bin/sh -c`.
fn command_form(text: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(args) => args,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), text.into()],
    }
}

/// `K=V K2="v 2"` or the legacy `K rest of line`.
fn key_values(text: &str) -> Option<Vec<(String, String)>> {
    let first = text.split_whitespace().next()?;
    if !first.contains('=') {
        let (key, value) = text.split_once(char::is_whitespace)?;
        return Some(vec![(key.to_string(), value.trim().to_string())]);
    }
    let mut pairs = Vec::new();
    for word in shell_words(text) {
        let (key, value) = word.split_once('=')?;
        if key.is_empty() {
            return None;
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    Some(pairs)
}

/// Splits on whitespace, honouring double and single quotes.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Value {
        let mut config = Map::new();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut config, &changes).unwrap();
        Value::Object(config)
    }

    #[test]
    fn changes_set_the_run_config() {
        let config = apply(&[
            r#"CMD ["sh", "-c", "echo hi"]"#,
            "ENTRYPOINT /bin/run it",
            "ENV A=1 B=\"two words\"",
            "ENV C three",
            "ENV A=replaced",
            "WORKDIR /srv",
            "user 1000:1000",
            "EXPOSE 80 53/udp",
            "LABEL k=v",
        ]);
        assert_eq!(config["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(
            config["Entrypoint"],
            json!(["/bin/sh", "-c", "/bin/run it"])
        );
        assert_eq!(
            config["Env"],
            json!(["B=two words", "C=three", "A=replaced"])
        );
        assert_eq!(config["WorkingDir"], "/srv");
        assert_eq!(config["User"], "1000:1000");
        assert_eq!(config["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(config["Labels"], json!({"k": "v"}));
    }

    #[test]
    fn bad_changes_are_refused() {
        let mut config = Map::new();
        for bad in ["RUN echo", "CMD", "ENV =x", ""] {
            assert!(
                apply_changes(&mut config, &[bad.to_string()]).is_err(),
                "{bad:?}"
            );
        }
    }
}
