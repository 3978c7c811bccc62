//! The user's settings: `$XDG_CONFIG_HOME/burrow/config.toml` (default
//! `~/.config/burrow/config.toml`); a missing file is an empty one. Keys:
//!
//! ```toml
//! root = "/srv/burrow"     # the store, as --root (absolute path)
//! log_level = "debug"      # off, error, warn (default), info, debug, trace
//! ```
//!
//! The environment wins over the file: `BURROW_ROOT` (and `--root`) over `root`,
//! `BURROW_LOG` over `log_level`. An unknown key, a value of the wrong kind or a file
//! that is not TOML is an error naming the file and the key, so a typo never passes
//! silently.

use std::path::{Path, PathBuf};

use log::LevelFilter;

#[derive(Debug, Default, PartialEq)]
pub struct Config {
    pub root: Option<PathBuf>,
    pub log_level: Option<LevelFilter>,
}

/// The file's path: `$XDG_CONFIG_HOME/burrow/config.toml`, else under `$HOME/.config`.
pub fn path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("burrow").join("config.toml"))
}

/// Reads the file at [`path`]; one-line error text when it is unusable.
pub fn load() -> Result<Config, String> {
    let Some(path) = path() else {
        return Ok(Config::default());
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            parse(&text).map_err(|e| format!("invalid config file {}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
        Err(e) => Err(format!("cannot read config file {}: {e}", path.display())),
    }
}

/// Parses the file's text; the error names the key (or the line of a syntax error).
pub fn parse(text: &str) -> Result<Config, String> {
    let document: toml_edit::Document<String> =
        text.parse().map_err(|e: toml_edit::TomlError| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim().to_string();
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        })?;
    let mut config = Config::default();
    for (key, item) in document.as_table().iter() {
        let value = item.as_str();
        match key {
            "root" => config.root = Some(root(value).map_err(|e| format!("key `root`: {e}"))?),
            "log_level" => {
                config.log_level = Some(level(value).map_err(|e| format!("key `log_level`: {e}"))?)
            }
            other => return Err(format!("unknown key `{other}` (known: root, log_level)")),
        }
    }
    Ok(config)
}

fn root(value: Option<&str>) -> Result<PathBuf, String> {
    let value = value.ok_or("expected a string")?;
    if !Path::new(value).is_absolute() {
        return Err(format!("{value:?} is not an absolute path"));
    }
    Ok(PathBuf::from(value))
}

/// A level name, as `log_level` and `BURROW_LOG` take it.
pub fn level(value: Option<&str>) -> Result<LevelFilter, String> {
    let value = value.ok_or("expected a string")?;
    value
        .parse()
        .map_err(|_| format!("{value:?} is not one of off, error, warn, info, debug, trace"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_and_mistakes_name_the_key() {
        let config = parse("root = \"/srv/b\"\nlog_level = \"debug\"\n").unwrap();
        assert_eq!(config.root, Some(PathBuf::from("/srv/b")));
        assert_eq!(config.log_level, Some(LevelFilter::Debug));
        assert_eq!(parse("").unwrap(), Config::default());
        assert!(parse("root = 3").unwrap_err().contains("key `root`"));
        assert!(parse("root = \"rel\"").unwrap_err().contains("key `root`"));
        assert!(parse("log_level = \"loud\"")
            .unwrap_err()
            .contains("key `log_level`"));
        assert!(parse("rot = \"/x\"").unwrap_err().contains("`rot`"));
        assert!(parse("x = = 1").unwrap_err().starts_with("line 1:"));
    }
}
