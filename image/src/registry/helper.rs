//! Docker credential helpers: `docker-credential-NAME get|store|erase`.
//!
//! Theory of operation: a helper is a program on `PATH` named `docker-credential-NAME`
//! (NAME from `credsStore`, or from `credHelpers` for one registry). It speaks one
//! request per run on stdin/stdout:
//! - `get`: stdin is the server URL; stdout is `{"ServerURL","Username","Secret"}`.
//!   A helper that has nothing for the server says `credentials not found` (on stdout,
//!   exit 1): that is "no credential", not an error. A `Username` of `<token>` means
//!   `Secret` is an identity (refresh) token rather than a password.
//! - `store`: stdin is `{"ServerURL","Username","Secret"}`; nothing comes back.
//! - `erase`: stdin is the server URL; `credentials not found` again means "nothing
//!   there".
//!
//! Docker Hub's server URL is `https://index.docker.io/v1/`, every other registry's is
//! its `host[:port]`, as the Docker CLI sends them. A missing program or any other
//! failure is one [`RegistryError::CredentialHelper`] line naming the helper, the action
//! and the registry.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::auth::Credential;
use super::RegistryError;

/// What helpers print when they hold nothing for a server.
const NOT_FOUND: &str = "credentials not found";

/// A credential helper named by a Docker-style config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Helper {
    /// The NAME of `docker-credential-NAME`.
    pub name: String,
}

#[derive(Serialize, Deserialize)]
struct Message {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl Helper {
    pub fn new(name: &str) -> Helper {
        Helper {
            name: name.to_string(),
        }
    }

    /// The program run: `docker-credential-NAME`.
    pub fn program(&self) -> String {
        format!("docker-credential-{}", self.name)
    }

    /// The credential the helper holds for `host`, None when it holds none.
    pub fn get(&self, host: &str) -> Result<Option<Credential>, RegistryError> {
        let Some(stdout) = self.run("get", host, server_url(host).as_bytes())? else {
            return Ok(None);
        };
        let message: Message =
            serde_json::from_slice(&stdout).map_err(|e| self.fail("get", host, e.to_string()))?;
        if message.username.is_empty() && message.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(Credential {
            username: message.username,
            password: message.secret,
        }))
    }

    /// Hands `credential` for `host` to the helper.
    pub fn store(&self, host: &str, credential: &Credential) -> Result<(), RegistryError> {
        let message = Message {
            server_url: server_url(host),
            username: credential.username.clone(),
            secret: credential.password.clone(),
        };
        let input =
            serde_json::to_vec(&message).map_err(|e| self.fail("store", host, e.to_string()))?;
        match self.run("store", host, &input)? {
            Some(_) => Ok(()),
            None => Err(self.fail("store", host, NOT_FOUND.to_string())),
        }
    }

    /// Asks the helper to forget `host`; false when it held nothing.
    pub fn erase(&self, host: &str) -> Result<bool, RegistryError> {
        Ok(self
            .run("erase", host, server_url(host).as_bytes())?
            .is_some())
    }

    /// Runs `docker-credential-NAME ACTION` with `input` on stdin: its stdout on
    /// success, None when it answered "credentials not found".
    fn run(
        &self,
        action: &str,
        host: &str,
        input: &[u8],
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        let program = self.program();
        let mut child = Command::new(&program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                let message = if e.kind() == std::io::ErrorKind::NotFound {
                    format!("{program} is not installed (not found on PATH)")
                } else {
                    format!("cannot run {program}: {e}")
                };
                self.fail(action, host, message)
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input is judged by its exit.
            let _ = stdin.write_all(input);
        }
        let output = child
            .wait_with_output()
            .map_err(|e| self.fail(action, host, format!("cannot wait for {program}: {e}")))?;
        if output.status.success() {
            return Ok(Some(output.stdout));
        }
        let said = format!(
            "{} {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if said.to_ascii_lowercase().contains(NOT_FOUND) && action != "store" {
            return Ok(None);
        }
        let said = said.split_whitespace().collect::<Vec<_>>().join(" ");
        let said = if said.is_empty() {
            output.status.to_string()
        } else {
            said.chars().take(200).collect()
        };
        Err(self.fail(action, host, said))
    }

    fn fail(&self, action: &str, host: &str, message: String) -> RegistryError {
        RegistryError::CredentialHelper {
            helper: self.program(),
            action: action.to_string(),
            host: host.to_string(),
            message,
        }
    }
}

/// The server URL a helper is given for `host`, as the Docker CLI gives it.
pub fn server_url(host: &str) -> String {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => {
            "https://index.docker.io/v1/".to_string()
        }
        _ => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_has_its_v1_server_url() {
        assert_eq!(server_url("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_url("127.0.0.1:5000"), "127.0.0.1:5000");
    }

    #[test]
    fn a_missing_helper_is_one_line_naming_it() {
        let helper = Helper::new("burrow-test-no-such-helper");
        let error = helper.get("h:1").unwrap_err().to_string();
        assert!(
            error.contains("docker-credential-burrow-test-no-such-helper")
                && error.contains("not found on PATH")
                && !error.contains('\n'),
            "{error}"
        );
    }
}
