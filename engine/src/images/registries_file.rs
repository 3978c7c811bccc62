//! `$XDG_CONFIG_HOME/burrow/registries.json`, the user's registry settings,
//! read in one place: `insecure-registries` (Docker's daemon.json key),
//! `registry-mirrors` (Docker's, for Docker Hub) and `mirrors` (per registry;
//! see [`super::mirrors`]). A missing file is an empty one; an unreadable or
//! malformed one is one error line naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// What the file holds (every key optional).
#[derive(Debug, Default, serde::Deserialize)]
pub struct RegistriesFile {
    #[serde(default, rename = "insecure-registries")]
    pub insecure_registries: Vec<String>,
    #[serde(default, rename = "registry-mirrors")]
    pub docker_hub_mirrors: Vec<String>,
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
}

/// Where the file is: under `$XDG_CONFIG_HOME` (or `~/.config`).
pub fn path() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("burrow/registries.json"))
}

/// The user's file, or an empty one when there is none.
pub fn load() -> Result<RegistriesFile> {
    match path() {
        Some(path) => read(&path),
        None => Ok(RegistriesFile::default()),
    }
}

/// The file at `path` (empty when it does not exist).
pub fn read(path: &Path) -> Result<RegistriesFile> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RegistriesFile::default()),
        Err(e) => {
            return Err(EngineError::Other(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| EngineError::Other(format!("invalid {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_optional_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.json");
        assert!(read(&path).unwrap().insecure_registries.is_empty());
        std::fs::write(&path, r#"{"insecure-registries":["m.local:5000"]}"#).unwrap();
        let file = read(&path).unwrap();
        assert_eq!(file.insecure_registries, ["m.local:5000"]);
        assert!(file.mirrors.is_empty() && file.docker_hub_mirrors.is_empty());
        std::fs::write(&path, "{").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("registries.json"), "{error}");
    }
}
