//! Per-registry TLS material, kept as Docker and Podman keep it: a directory
//! per registry (`HOST` or `HOST:PORT`) under a `certs.d` directory, holding
//! CA certificates (`*.crt`) trusted for that registry only, on top of the
//! system's roots, and client certificates (`NAME.cert` with its key
//! `NAME.key`) presented to it. The first `certs.d` (in the order of
//! [`default_dirs`]) with a directory for the host is used, as containers/image
//! does. A registry with a directory of its own is always checked against it,
//! even on a loopback address that is otherwise insecure: configuring a CA for
//! a registry asks for its certificate to be checked.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What `certs.d` holds for one registry.
#[derive(Debug)]
pub struct HostCerts {
    /// The directory it came from, for error messages.
    pub dir: PathBuf,
    /// CA certificates to trust for this registry.
    pub roots: Vec<CertificateDer<'static>>,
    /// A client certificate chain and its key, when there is one.
    pub client: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// The `certs.d` directories looked at, in order: burrow's own, Podman's
/// (the user's, then the system's) and Docker's.
pub fn default_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let mut dirs = Vec::new();
    if let Some(config) = config {
        dirs.push(config.join("burrow/certs.d"));
        dirs.push(config.join("containers/certs.d"));
    }
    dirs.push(PathBuf::from("/etc/containers/certs.d"));
    if let Some(home) = home {
        dirs.push(home.join(".docker/certs.d"));
    }
    dirs.push(PathBuf::from("/etc/docker/certs.d"));
    dirs
}

/// The TLS material for `host` from the first of `dirs` that has a directory
/// for it; `None` when none has.
pub fn load(dirs: &[PathBuf], host: &str) -> Result<Option<HostCerts>, String> {
    // A host name cannot hold a path: never look outside the certs.d dirs.
    if host.is_empty() || host.contains('/') || host.starts_with('.') {
        return Ok(None);
    }
    let Some(dir) = dirs.iter().map(|d| d.join(host)).find(|d| d.is_dir()) else {
        return Ok(None);
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    let mut roots = Vec::new();
    let mut client = None;
    for path in &entries {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => roots.extend(read_certificates(path)?),
            Some("cert") if client.is_none() => {
                let key = path.with_extension("key");
                if !key.is_file() {
                    return Err(format!(
                        "client certificate {} has no key {}",
                        path.display(),
                        key.display()
                    ));
                }
                client = Some((read_certificates(path)?, read_key(&key)?));
            }
            Some("key") if !path.with_extension("cert").is_file() => {
                return Err(format!(
                    "client key {} has no certificate {}",
                    path.display(),
                    path.with_extension("cert").display()
                ));
            }
            _ => {}
        }
    }
    Ok(Some(HostCerts { dir, roots, client }))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certificates)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read the private key {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "burrow-certs-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn hosts_without_a_directory_or_with_path_characters_have_nothing() {
        let dir = scratch("none");
        std::fs::create_dir_all(dir.join("certs.d/elsewhere:5000")).unwrap();
        let dirs = vec![dir.join("certs.d")];
        assert!(load(&dirs, "registry:5000").unwrap().is_none());
        assert!(load(&dirs, "../certs.d").unwrap().is_none());
        assert!(load(&dirs, "a/b").unwrap().is_none());
        let empty = load(&dirs, "elsewhere:5000").unwrap().unwrap();
        assert!(empty.roots.is_empty() && empty.client.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_files_are_one_line_naming_the_file() {
        let dir = scratch("bad");
        let host = dir.join("certs.d/registry:5000");
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("ca.crt"), "not a certificate\n").unwrap();
        let dirs = vec![dir.join("certs.d")];
        let error = load(&dirs, "registry:5000").unwrap_err();
        assert!(error.contains("ca.crt"), "{error}");
        std::fs::remove_file(host.join("ca.crt")).unwrap();
        std::fs::write(host.join("client.cert"), "x").unwrap();
        let error = load(&dirs, "registry:5000").unwrap_err();
        assert!(
            error.contains("has no key") && error.contains("client.key"),
            "{error}"
        );
        assert_eq!(error.lines().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
