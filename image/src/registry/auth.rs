//! Registry authentication: `WWW-Authenticate` challenges and stored credentials.
//!
//! The distribution protocol answers an unauthenticated request with 401 and a
//! challenge. `Basic realm=…` means: send `Authorization: Basic` with the user's
//! credentials. `Bearer realm=…,service=…,scope=…` means: get a token from `realm`
//! (with the credentials as basic auth, or anonymously) for `service` and the scope
//! `repository:NAME:pull[,push]`, then send `Authorization: Bearer TOKEN`.
//!
//! Credentials come from burrow's own store (written by `login`, mode 0600, the
//! `{"auths": {HOST: {"auth": base64(user:password)}}}` format Docker and podman use)
//! and then from `~/.docker/config.json`. Either file may name credential helpers, as
//! Docker's does: `credHelpers` (`{HOST: NAME}`) for one registry, `credsStore` (NAME)
//! for all; a helper applies before the file's inline `auths` (see [`super::helper`]).
//! `login` stores through the first helper that applies (burrow's file first), else
//! inline in burrow's file; `logout` erases in both. Docker Hub's entry may be keyed
//! `https://index.docker.io/v1/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::helper::Helper;
use super::RegistryError;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses `Scheme k="v",k2=v2`; None for schemes burrow does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }),
            _ => None,
        }
    }
}

fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

/// A user name and password (or identity token as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <password>)", self.username)
    }
}

impl Credential {
    /// The user name helpers give for an identity (OAuth2 refresh) token.
    pub const IDENTITY_TOKEN_USER: &'static str = "<token>";

    /// Whether the password is an identity token to trade at the token realm.
    pub fn is_identity_token(&self) -> bool {
        self.username == Self::IDENTITY_TOKEN_USER
    }

    pub fn basic_header(&self) -> String {
        let pair = format!("{}:{}", self.username, self.password);
        format!("Basic {}", BASE64.encode(pair))
    }

    fn decode(auth: &str) -> Option<Credential> {
        let bytes = BASE64.decode(auth.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(Credential {
            username: username.to_string(),
            password: password.to_string(),
        })
    }
}

#[derive(Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(
        rename = "credsStore",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    creds_store: Option<String>,
    #[serde(
        rename = "credHelpers",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    cred_helpers: BTreeMap<String, String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

impl AuthFile {
    /// The helper this file names for `host`: its `credHelpers` entry, else `credsStore`.
    fn helper(&self, host: &str) -> Option<Helper> {
        keys_for(host)
            .iter()
            .find_map(|key| self.cred_helpers.get(key))
            .or(self.creds_store.as_ref())
            .filter(|name| !name.is_empty())
            .map(|name| Helper::new(name))
    }
}

impl AuthEntry {
    fn credential(&self) -> Option<Credential> {
        if let Some(auth) = &self.auth {
            return Credential::decode(auth);
        }
        Some(Credential {
            username: self.username.clone()?,
            password: self.password.clone()?,
        })
    }
}

/// Where credentials are looked up, in order.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// burrow's own file (`login` writes it).
    pub store: Option<PathBuf>,
    /// Docker's `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
}

impl Credentials {
    /// `$XDG_CONFIG_HOME/burrow/auth.json` (or `~/.config/…`) and `~/.docker/config.json`.
    pub fn from_env() -> Credentials {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        Credentials {
            store: config.map(|c| c.join("burrow/auth.json")),
            docker_config: home.map(|h| h.join(".docker/config.json")),
        }
    }

    /// No credentials at all.
    pub fn none() -> Credentials {
        Credentials::default()
    }

    /// The credential for a registry host (`docker.io` also matches Docker Hub's keys).
    /// Per file: its helper for the host first, then its inline `auths`.
    pub fn lookup(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        for path in self.files() {
            let file = read_auth_file(path)?;
            if let Some(helper) = file.helper(host) {
                if let Some(credential) = helper.get(host)? {
                    return Ok(Some(credential));
                }
            }
            for key in keys_for(host) {
                if let Some(credential) = file.auths.get(&key).and_then(AuthEntry::credential) {
                    return Ok(Some(credential));
                }
            }
        }
        Ok(None)
    }

    /// Stores a credential: through the first credential helper configured for `host`
    /// (burrow's file, then Docker's), else in burrow's file (mode 0600, written
    /// atomically).
    pub fn login(&self, host: &str, credential: &Credential) -> Result<(), RegistryError> {
        if let Some(helper) = self.helper(host)? {
            return helper.store(host, credential);
        }
        let path = self.store_path()?;
        let mut file = read_auth_file(path)?;
        let entry = AuthEntry {
            auth: Some(BASE64.encode(format!("{}:{}", credential.username, credential.password))),
            ..AuthEntry::default()
        };
        file.auths.insert(host.to_string(), entry);
        write_auth_file(path, &file)
    }

    /// Removes a host from the configured credential helper and from burrow's file;
    /// false when neither held it.
    pub fn logout(&self, host: &str) -> Result<bool, RegistryError> {
        let mut removed = match self.helper(host)? {
            Some(helper) => helper.erase(host)?,
            None => false,
        };
        let path = self.store_path()?;
        let mut file = read_auth_file(path)?;
        if file.auths.remove(host).is_some() {
            write_auth_file(path, &file)?;
            removed = true;
        }
        Ok(removed)
    }

    /// The credential helper that `login` and `logout` use for `host`, if any.
    pub fn helper(&self, host: &str) -> Result<Option<Helper>, RegistryError> {
        for path in self.files() {
            if let Some(helper) = read_auth_file(path)?.helper(host) {
                return Ok(Some(helper));
            }
        }
        Ok(None)
    }

    fn files(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.store, &self.docker_config].into_iter().flatten()
    }

    fn store_path(&self) -> Result<&Path, RegistryError> {
        self.store
            .as_deref()
            .ok_or_else(|| RegistryError::Credentials {
                path: PathBuf::new(),
                message: "no credential file configured (HOME unset?)".to_string(),
            })
    }
}

fn keys_for(host: &str) -> Vec<String> {
    let mut keys = vec![
        host.to_string(),
        format!("https://{host}"),
        format!("http://{host}"),
    ];
    if matches!(
        host,
        "docker.io" | "registry-1.docker.io" | "index.docker.io"
    ) {
        keys.push("https://index.docker.io/v1/".to_string());
        keys.push("docker.io".to_string());
        keys.push("index.docker.io".to_string());
    }
    keys
}

fn read_auth_file(path: &Path) -> Result<AuthFile, RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(AuthFile::default()),
        Err(e) => {
            return Err(RegistryError::Credentials {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| RegistryError::Credentials {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn write_auth_file(path: &Path, file: &AuthFile) -> Result<(), RegistryError> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let fail = |message: String| RegistryError::Credentials {
        path: path.to_path_buf(),
        message,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let bytes = serde_json::to_vec_pretty(file).map_err(|e| fail(e.to_string()))?;
    // tempfile creates 0600 files: the secret is never readable by others, even briefly.
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(e.to_string()))?;
    temp.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
    temp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| fail(e.to_string()))?;
    temp.persist(path).map_err(|e| fail(e.error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Some(Challenge::Basic)
        );
        let bearer = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(
            bearer,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        let unquoted = Challenge::parse("bearer realm=http://h/t, service=s");
        assert!(matches!(unquoted, Some(Challenge::Bearer { service: Some(s), .. }) if s == "s"));
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse("Bearer service=x"), None);
    }

    #[test]
    fn login_store_is_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let credentials = Credentials {
            store: Some(dir.path().join("burrow/auth.json")),
            docker_config: Some(dir.path().join("docker.json")),
        };
        assert_eq!(credentials.lookup("h:5000").unwrap(), None);
        let secret = Credential {
            username: "u".into(),
            password: "p:w".into(),
        };
        credentials.login("h:5000", &secret).unwrap();
        let mode = std::fs::metadata(dir.path().join("burrow/auth.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(credentials.lookup("h:5000").unwrap(), Some(secret));
        std::fs::write(
            dir.path().join("docker.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"ZG9jazpodWI="}},"credHelpers":{"other.example":"x"}}"#,
        )
        .unwrap();
        let hub = credentials.lookup("registry-1.docker.io").unwrap().unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("dock", "hub")
        );
        assert!(credentials.logout("h:5000").unwrap());
        assert!(!credentials.logout("h:5000").unwrap());
        assert_eq!(credentials.lookup("h:5000").unwrap(), None);
        std::fs::write(dir.path().join("docker.json"), "{broken").unwrap();
        let error = credentials.lookup("x").unwrap_err().to_string();
        assert!(error.contains("docker.json"), "{error}");
    }
}
