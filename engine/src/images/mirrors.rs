//! Registry mirrors: where a pull looks before the registry an image is named after.
//!
//! `$XDG_CONFIG_HOME/burrow/registries.json` may list them two ways:
//! ```json
//! { "registry-mirrors": ["http://mirror.local:5000"],
//!   "mirrors": { "registry.example:5000": ["m1.local", "http://m2.local:5000"] } }
//! ```
//! `registry-mirrors` is Docker's daemon.json key and, as there, mirrors Docker Hub
//! only; `mirrors` gives any registry (`host[:port]`, `docker.io` for Docker Hub) its
//! own list, like `[[registry.mirror]]` in containers-registries.conf. A mirror serves
//! the same repository paths. `http://` marks a mirror as plain HTTP (loopback mirrors
//! are anyway); `https://` or no scheme means TLS.
//!
//! A pull tries the mirrors in order and the registry itself last; whatever fails at a
//! mirror (unreachable, 404, auth, a bad blob) moves on to the next source, except a
//! failure of the local store (a full disk), which no other source would cure. The
//! image is recorded under its own name, whichever source served it; manifests and
//! blobs are verified by digest as always, so a mirror cannot change what is pulled.

use super::registries_file::{self, RegistriesFile};
use super::registry::login_host;
use crate::error::Result;

/// One mirror: the host to fetch from, and whether it speaks plain HTTP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mirror {
    pub host: String,
    pub plain_http: bool,
}

/// The mirrors configured for the registry `domain` (`docker.io`, `host:port`), in
/// order.
pub fn mirrors_for(domain: &str) -> Result<Vec<Mirror>> {
    Ok(configured(&registries_file::load()?, domain))
}

/// The mirrors `config` lists for `domain`, in order, without duplicates or
/// the registry itself.
fn configured(config: &RegistriesFile, domain: &str) -> Vec<Mirror> {
    let domain = login_host(Some(domain));
    let mut listed: Vec<&String> = config
        .mirrors
        .iter()
        .filter(|(registry, _)| login_host(Some(registry)) == domain)
        .flat_map(|(_, mirrors)| mirrors)
        .collect();
    if domain == "docker.io" {
        listed.extend(&config.docker_hub_mirrors);
    }
    let mut out: Vec<Mirror> = Vec::new();
    for entry in listed {
        let mirror = Mirror {
            host: login_host(Some(entry.trim())),
            plain_http: entry.trim().starts_with("http://"),
        };
        if mirror.host.is_empty() || mirror.host == domain {
            continue;
        }
        if !out.iter().any(|m| m.host == mirror.host) {
            out.push(mirror);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read_mirrors(path: &Path, domain: &str) -> Result<Vec<Mirror>> {
        Ok(configured(&registries_file::read(path)?, domain))
    }

    #[test]
    fn mirrors_are_listed_per_registry_and_dockers_key_serves_docker_hub() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registries.json");
        assert!(read_mirrors(&path, "docker.io").unwrap().is_empty());
        std::fs::write(
            &path,
            r#"{"registry-mirrors": ["http://hub-mirror:5000/"],
                "mirrors": {"r.example:5000": ["m1", "http://m2:5000", "m1"],
                            "index.docker.io": ["https://hub2"]}}"#,
        )
        .unwrap();
        let hosts = |domain| -> Vec<(String, bool)> {
            read_mirrors(&path, domain)
                .unwrap()
                .into_iter()
                .map(|m| (m.host, m.plain_http))
                .collect()
        };
        assert_eq!(
            hosts("r.example:5000"),
            [("m1".to_string(), false), ("m2:5000".to_string(), true)]
        );
        assert_eq!(
            hosts("docker.io"),
            [
                ("hub2".to_string(), false),
                ("hub-mirror:5000".to_string(), true)
            ]
        );
        assert!(hosts("other").is_empty());
        std::fs::write(&path, r#"{"mirrors": ["not a map"]}"#).unwrap();
        let error = read_mirrors(&path, "docker.io").unwrap_err().to_string();
        assert!(error.contains("registries.json"), "{error}");
    }
}
