//! How the engine reaches registries: which registries may be plain HTTP or unverified
//! TLS, whether certificates are checked at all (`--tls-verify=false`), and the
//! credentials `login` stores and pull/push use.
//!
//! Insecure registries are, as in Docker's `insecure-registries`: loopback hosts
//! always, then the hosts (`host[:port]`, comma or space separated) of
//! `BURROW_INSECURE_REGISTRIES`, then the `insecure-registries` list of
//! `$XDG_CONFIG_HOME/burrow/registries.json` (`{"insecure-registries": ["h:5000"]}`).
//! The same file lists registry mirrors (see [`super::mirrors`]).
//! Credentials live in `$XDG_CONFIG_HOME/burrow/auth.json` (mode 0600, Docker's
//! `auths` shape) and are also read from `~/.docker/config.json`; either file's
//! `credsStore`/`credHelpers` send them through Docker credential helpers instead.

use burrow_image::registry::{Client, Credential, Credentials, RegistryError, RegistryOptions};

use crate::error::{EngineError, Result};

/// The environment variable listing extra insecure registries.
pub const INSECURE_REGISTRIES_VAR: &str = "BURROW_INSECURE_REGISTRIES";

/// Per-command registry settings (the flags of pull, push and login).
#[derive(Clone, Debug)]
pub struct RegistrySettings {
    /// Check TLS certificates and refuse plain HTTP (loopback and configured insecure
    /// registries excepted). `--tls-verify=false` turns this off for every registry.
    pub tls_verify: bool,
}

impl Default for RegistrySettings {
    fn default() -> RegistrySettings {
        RegistrySettings { tls_verify: true }
    }
}

/// A client with the user's credentials and insecure registries.
pub fn client(settings: &RegistrySettings) -> Result<Client> {
    client_with_insecure(settings, &[])
}

/// [`client`], with `extra` hosts (plain-HTTP mirrors) counted as insecure too.
pub(crate) fn client_with_insecure(
    settings: &RegistrySettings,
    extra: &[String],
) -> Result<Client> {
    let mut insecure_registries = insecure_registries()?;
    insecure_registries.extend(extra.iter().cloned());
    Ok(Client::new(RegistryOptions {
        tls_verify: settings.tls_verify,
        insecure_registries,
        credentials: Credentials::from_env(),
        ..RegistryOptions::default()
    }))
}

/// Checks `username`/`password` against `host`'s `/v2/`, then stores them.
pub fn login(
    settings: &RegistrySettings,
    host: &str,
    username: &str,
    password: &str,
) -> Result<()> {
    let credential = Credential {
        username: username.to_string(),
        password: password.to_string(),
    };
    let client = client(settings)?;
    client.check_login(host, &credential).map_err(|e| match e {
        // Docker's words, which scripts look for.
        RegistryError::Unauthorized { .. } => EngineError::Other(format!(
            "login to {host} failed: unauthorized: incorrect username or password"
        )),
        other => other.into(),
    })?;
    Credentials::from_env().login(host, &credential)?;
    Ok(())
}

/// Forgets the stored credentials of `host`; false when there were none.
pub fn logout(host: &str) -> Result<bool> {
    Ok(Credentials::from_env().logout(host)?)
}

/// The registry host a `login`/`logout` argument names (`https://h:5000/` → `h:5000`,
/// nothing → Docker Hub's `docker.io`).
pub fn login_host(server: Option<&str>) -> String {
    let Some(server) = server else {
        return "docker.io".to_string();
    };
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => host.to_string(),
    }
}

fn insecure_registries() -> Result<Vec<String>> {
    let mut hosts = parse_list(&std::env::var(INSECURE_REGISTRIES_VAR).unwrap_or_default());
    let file = super::registries_file::load()?;
    hosts.extend(file.insecure_registries.iter().map(|h| login_host(Some(h))));
    Ok(hosts)
}

fn parse_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .map(|h| login_host(Some(h.trim())))
        .filter(|h| !h.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_normalized_like_dockers() {
        assert_eq!(login_host(None), "docker.io");
        assert_eq!(login_host(Some("https://index.docker.io/v1/")), "docker.io");
        assert_eq!(login_host(Some("http://h.example:5000/")), "h.example:5000");
        assert_eq!(login_host(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(
            parse_list(" a:1, b.example  http://c:2 ,"),
            ["a:1", "b.example", "c:2"]
        );
    }
}
