//! A registry client for the OCI distribution protocol (pull and push).
//!
//! Theory of operation:
//! - Transport: blocking HTTP/1.1 with `ureq` and rustls. Verified HTTPS with the
//!   system's roots by default. A registry is *insecure* when it is on a loopback
//!   address, listed in [`RegistryOptions::insecure_registries`], or when
//!   `tls_verify` is off: then HTTPS is tried without certificate checks and, if the
//!   server does not speak TLS, plain HTTP — decided once per host by pinging `/v2/`.
//!   A registry with a directory in `certs.d` ([`certs`]) is verified with the CAs
//!   there (and gets the client certificate there), loopback or not, unless it is
//!   made insecure explicitly.
//! - Auth: requests go out with whatever authorization the client already holds for
//!   the host and scope. A 401 carries a challenge (see [`auth`]); the client answers
//!   it (token from the realm, or basic credentials) and repeats the request once. A
//!   second 401 is an authentication failure naming the host. Tokens are cached per
//!   host and scope for the client's lifetime.
//! - Bodies: uploads are files or bytes so a request can be repeated after a challenge.
//!   Downloads are streamed straight into the store, which verifies digest and size
//!   before anything becomes visible ([`crate::store::Store::write_blob`]).
//! - Redirects (blob storage behind a CDN) are followed, without the Authorization
//!   header when the host changes.

pub mod auth;
pub mod certs;
pub mod helper;
mod pull;
mod push;
mod sources;
mod upload;

pub use auth::{Challenge, Credential, Credentials};
pub(crate) use pull::now;
pub use pull::{pull, pull_from};
pub use push::push;

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::digest::Digest;
use crate::manifest::ManifestError;
use crate::store::StoreError;

/// Registry failures; each names the registry, the object and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot reach registry {host}: {message}")]
    Unreachable { host: String, message: String },
    #[error("failed to {action} {url}: {message}")]
    Transport {
        action: String,
        url: String,
        message: String,
    },
    #[error("failed to {action} {url}: HTTP {status}{detail}")]
    Status {
        action: String,
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{what} not found in registry {host} (HTTP 404{detail})")]
    NotFound {
        what: String,
        host: String,
        detail: String,
    },
    #[error("authentication to registry {host} failed: HTTP 401{detail} (check the credentials given to `burrow login {host}`)")]
    Unauthorized { host: String, detail: String },
    #[error(
        "registry {host} asks for authentication scheme {scheme:?}, which burrow does not support"
    )]
    UnsupportedAuth { host: String, scheme: String },
    #[error("failed to get a token from {realm}: {message}")]
    Token { realm: String, message: String },
    #[error("digest mismatch for {what}: expected {expected}, registry sent {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{what} from {host} is larger than the {limit} bytes allowed")]
    TooLarge {
        what: String,
        host: String,
        limit: u64,
    },
    #[error("invalid credentials file {}: {message}", path.display())]
    Credentials { path: PathBuf, message: String },
    #[error("credential helper {helper} failed to {action} the credentials of {host}: {message}")]
    CredentialHelper {
        helper: String,
        action: String,
        host: String,
        message: String,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to talk to registries.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Verify TLS certificates (and refuse plain HTTP) except for insecure registries.
    pub tls_verify: bool,
    /// Hosts (`host[:port]`) to treat as insecure, like Docker's `insecure-registries`.
    pub insecure_registries: Vec<String>,
    pub credentials: Credentials,
    /// Where per-registry CA and client certificates are looked for.
    pub certs_dirs: Vec<PathBuf>,
    /// Blobs transferred at once.
    pub max_concurrent_transfers: usize,
    /// Attempts per blob transfer (network errors and 5xx are retried).
    pub attempts: u32,
    pub connect_timeout: Duration,
    /// Longest silence while reading a response.
    pub read_timeout: Duration,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            tls_verify: true,
            insecure_registries: Vec::new(),
            credentials: Credentials::from_env(),
            certs_dirs: certs::default_dirs(),
            max_concurrent_transfers: 3,
            attempts: 3,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// What is being asked of a repository (the token scope).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Pull,
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

/// Whom a request is for: the registry host, the repository and the access wanted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub host: &'a str,
    pub repository: &'a str,
    pub access: Access,
}

/// A request body that can be sent again after an auth challenge.
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (a blob upload, or a chunk of one); the
    /// callback, if any, hears the bytes of the range sent so far as they go.
    FileRange(PathBuf, u64, u64, Option<&'a (dyn Fn(u64) + Sync)>),
}

/// A reader that reports how many bytes went through it.
struct Counting<'a, R> {
    inner: R,
    done: u64,
    report: &'a (dyn Fn(u64) + Sync),
}

impl<R: std::io::Read> std::io::Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.done += n as u64;
            (self.report)(self.done);
        }
        Ok(n)
    }
}

#[derive(Default)]
struct AuthState {
    /// host → http or https, decided by the first ping.
    schemes: HashMap<String, &'static str>,
    /// (host, repository, access) → Authorization header value.
    authorizations: HashMap<(String, String, Access), String>,
    /// Hosts that answered with a basic challenge: send credentials up front.
    basic_hosts: HashSet<String>,
}

/// A registry client; cheap to share between threads.
pub struct Client {
    options: RegistryOptions,
    verified: OnceLock<Result<ureq::Agent, String>>,
    unverified: OnceLock<Result<ureq::Agent, String>>,
    /// host → an agent checking its `certs.d` CAs, or `None` when it has none.
    host_agents: Mutex<HashMap<String, Result<Option<ureq::Agent>, String>>>,
    state: Mutex<AuthState>,
}

/// A response with its status (any status; transport errors are errors).
pub(crate) struct Response {
    pub status: u16,
    pub url: String,
    inner: ureq::Response,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.header(name)
    }

    pub fn into_reader(self) -> Box<dyn Read + Send + Sync + 'static> {
        self.inner.into_reader()
    }

    /// The body, at most `limit` bytes (more is an error).
    pub fn read_limited(
        self,
        limit: u64,
        what: &str,
        host: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.url.clone();
        let mut bytes = Vec::new();
        self.inner
            .into_reader()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::Transport {
                action: format!("read {what} from"),
                url,
                message: e.to_string(),
            })?;
        if bytes.len() as u64 > limit {
            return Err(RegistryError::TooLarge {
                what: what.to_string(),
                host: host.to_string(),
                limit,
            });
        }
        Ok(bytes)
    }

    /// The registry's error summary (`CODE: message`), for error messages.
    pub fn detail(self) -> String {
        let mut body = String::new();
        let _ = self
            .inner
            .into_reader()
            .take(8192)
            .read_to_string(&mut body);
        summarize_errors(&body)
    }
}

fn summarize_errors(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Errors>(body) {
        Ok(errors) if !errors.errors.is_empty() => {
            let parts: Vec<String> = errors
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect();
            format!(", {}", parts.join("; "))
        }
        _ => String::new(),
    }
}

impl Client {
    pub fn new(options: RegistryOptions) -> Client {
        Client {
            options,
            verified: OnceLock::new(),
            unverified: OnceLock::new(),
            host_agents: Mutex::new(HashMap::new()),
            state: Mutex::new(AuthState::default()),
        }
    }

    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `host` may use plain HTTP and unverified TLS.
    pub fn is_insecure(&self, host: &str) -> bool {
        if self.explicitly_insecure(host) {
            return true;
        }
        if !matches!(self.host_agent(host), Ok(None)) {
            return false;
        }
        let name = host_without_port(host);
        name == "localhost"
            || name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `--tls-verify=false`, or listed as insecure.
    fn explicitly_insecure(&self, host: &str) -> bool {
        !self.options.tls_verify || self.options.insecure_registries.iter().any(|h| h == host)
    }

    /// The agent checking `host`'s own CAs (`certs.d`), built once per host.
    fn host_agent(&self, host: &str) -> Result<Option<ureq::Agent>, RegistryError> {
        let mut agents = self.host_agents.lock().unwrap_or_else(|p| p.into_inner());
        agents
            .entry(host.to_string())
            .or_insert_with(|| {
                let found = certs::load(&self.options.certs_dirs, host)?;
                found
                    .map(|certs| build_agent(&self.options, TlsTrust::Host(certs)))
                    .transpose()
            })
            .clone()
            .map_err(RegistryError::Tls)
    }

    /// The agent for a request to `host` over HTTPS (`https`) or plain HTTP.
    fn agent_for(&self, host: &str, https: bool) -> Result<ureq::Agent, RegistryError> {
        if https && !self.explicitly_insecure(host) {
            if let Some(agent) = self.host_agent(host)? {
                return Ok(agent);
            }
        }
        self.agent(https && !self.is_insecure(host))
    }

    fn agent(&self, verify: bool) -> Result<ureq::Agent, RegistryError> {
        let cell = if verify {
            &self.verified
        } else {
            &self.unverified
        };
        let trust = match verify {
            true => TlsTrust::System,
            false => TlsTrust::Anything,
        };
        cell.get_or_init(|| build_agent(&self.options, trust))
            .clone()
            .map_err(RegistryError::Tls)
    }

    /// `scheme://host`, pinging `/v2/` the first time to pick the scheme.
    fn base_url(&self, host: &str) -> Result<String, RegistryError> {
        if let Some(scheme) = self.state().schemes.get(host) {
            return Ok(format!("{scheme}://{host}"));
        }
        let schemes: &[&'static str] = if self.is_insecure(host) {
            &["https", "http"]
        } else {
            &["https"]
        };
        let mut failures = Vec::new();
        for scheme in schemes {
            let agent = self.agent_for(host, *scheme == "https")?;
            let url = format!("{scheme}://{host}/v2/");
            match agent.get(&url).call() {
                Ok(_) | Err(ureq::Error::Status(..)) => {
                    self.state().schemes.insert(host.to_string(), scheme);
                    return Ok(format!("{scheme}://{host}"));
                }
                // ureq names the URL itself.
                Err(e) => failures.push(e.to_string()),
            }
        }
        Err(RegistryError::Unreachable {
            host: host.to_string(),
            message: failures.join("; "),
        })
    }

    /// Sends a request to `host` for `repository`, answering one auth challenge.
    /// `target` is a path (`/v2/…`) or an absolute URL (an upload location).
    pub(crate) fn send(
        &self,
        scope: &Scope<'_>,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
    ) -> Result<Response, RegistryError> {
        let Scope {
            host,
            repository,
            access,
        } = *scope;
        let url = if target.starts_with("http://") || target.starts_with("https://") {
            target.to_string()
        } else {
            format!("{}{target}", self.base_url(host)?)
        };
        let key = (host.to_string(), repository.to_string(), access);
        let mut authorization = self.state().authorizations.get(&key).cloned();
        if authorization.is_none() && self.state().basic_hosts.contains(host) {
            authorization = self
                .options
                .credentials
                .lookup(host)?
                .map(|c| c.basic_header());
        }
        let response =
            self.send_once(host, method, &url, headers, body, authorization.as_deref())?;
        if response.status != 401 {
            return Ok(response);
        }
        let challenge = response
            .header("www-authenticate")
            .unwrap_or("")
            .to_string();
        let answer = self.answer_challenge(host, repository, access, &challenge, response)?;
        self.state().authorizations.insert(key, answer.clone());
        let response = self.send_once(host, method, &url, headers, body, Some(&answer))?;
        if response.status == 401 {
            return Err(RegistryError::Unauthorized {
                host: host.to_string(),
                detail: response.detail(),
            });
        }
        Ok(response)
    }

    fn send_once(
        &self,
        host: &str,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &Body<'_>,
        authorization: Option<&str>,
    ) -> Result<Response, RegistryError> {
        let mut request = self
            .agent_for(host, url.starts_with("https://"))?
            .request(method, url);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        if let Some(authorization) = authorization {
            request = request.set("Authorization", authorization);
        }
        let result = match body {
            Body::Empty => request.call(),
            Body::Bytes(bytes) => request.send_bytes(bytes),
            Body::FileRange(path, offset, len, report) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut file = std::fs::File::open(path).map_err(|e| RegistryError::Transport {
                    action: format!("read {} to upload to", path.display()),
                    url: url.to_string(),
                    message: e.to_string(),
                })?;
                file.seek(SeekFrom::Start(*offset))
                    .map_err(|e| RegistryError::Transport {
                        action: format!("seek in {} to upload to", path.display()),
                        url: url.to_string(),
                        message: e.to_string(),
                    })?;
                let reader = std::io::BufReader::with_capacity(256 << 10, file.take(*len));
                let request = request.set("Content-Length", &len.to_string());
                match report {
                    Some(report) => request.send(Counting {
                        inner: reader,
                        done: 0,
                        report: *report,
                    }),
                    None => request.send(reader),
                }
            }
        };
        let inner = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(_, response)) => response,
            Err(ureq::Error::Transport(e)) => {
                return Err(RegistryError::Transport {
                    action: method.to_string(),
                    url: url.to_string(),
                    message: e.to_string(),
                })
            }
        };
        Ok(Response {
            status: inner.status(),
            url: url.to_string(),
            inner,
        })
    }

    fn answer_challenge(
        &self,
        host: &str,
        repository: &str,
        access: Access,
        header: &str,
        response: Response,
    ) -> Result<String, RegistryError> {
        let credential = self.options.credentials.lookup(host)?;
        match Challenge::parse(header) {
            Some(Challenge::Basic) => {
                self.state().basic_hosts.insert(host.to_string());
                credential
                    .map(|c| c.basic_header())
                    .ok_or_else(|| RegistryError::Unauthorized {
                        host: host.to_string(),
                        detail: format!("{}, no credentials stored", response.detail()),
                    })
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let scope = format!("repository:{repository}:{}", access.actions());
                self.fetch_token(host, &realm, service.as_deref(), &scope, credential)
            }
            None => Err(RegistryError::UnsupportedAuth {
                host: host.to_string(),
                scheme: header.split(' ').next().unwrap_or("").to_string(),
            }),
        }
    }

    fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: Option<Credential>,
    ) -> Result<String, RegistryError> {
        let fail = |message: String| RegistryError::Token {
            realm: realm.to_string(),
            message,
        };
        let realm_host = realm
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let agent = self.agent_for(realm_host, realm.starts_with("https://"))?;
        let result = match &credential {
            // An identity token is an OAuth2 refresh token: traded by POST, as Docker does.
            Some(credential) if credential.is_identity_token() => agent.post(realm).send_form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", credential.password.as_str()),
                ("service", service.unwrap_or("")),
                ("scope", scope),
                ("client_id", "burrow"),
            ]),
            _ => {
                let mut request = agent.get(realm).query("scope", scope);
                if let Some(service) = service {
                    request = request.query("service", service);
                }
                if let Some(credential) = &credential {
                    request = request.set("Authorization", &credential.basic_header());
                }
                request.call()
            }
        };
        let response = match result {
            Ok(response) => response,
            Err(ureq::Error::Status(401 | 403, response)) => {
                let mut body = String::new();
                let _ = response.into_reader().take(8192).read_to_string(&mut body);
                return Err(RegistryError::Unauthorized {
                    host: host.to_string(),
                    detail: summarize_errors(&body),
                });
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let mut body = Vec::new();
        response
            .into_reader()
            .take(1 << 20)
            .read_to_end(&mut body)
            .map_err(|e| fail(e.to_string()))?;
        let token: Token = serde_json::from_slice(&body).map_err(|e| fail(e.to_string()))?;
        token
            .token
            .or(token.access_token)
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| fail("no token in the response".to_string()))
    }

    /// Checks that `credential` is accepted by `host` (what `login` does before saving).
    pub fn check_login(&self, host: &str, credential: &Credential) -> Result<(), RegistryError> {
        let base = self.base_url(host)?;
        let url = format!("{base}/v2/");
        let first = self.send_once(host, "GET", &url, &[], &Body::Empty, None)?;
        if first.status != 401 {
            return Ok(());
        }
        let header = first.header("www-authenticate").unwrap_or("").to_string();
        let answer = match Challenge::parse(&header) {
            Some(Challenge::Basic) => credential.basic_header(),
            Some(Challenge::Bearer { realm, service, .. }) => self.fetch_token(
                host,
                &realm,
                service.as_deref(),
                "registry:catalog:*",
                Some(credential.clone()),
            )?,
            None => {
                return Err(RegistryError::UnsupportedAuth {
                    host: host.to_string(),
                    scheme: header,
                })
            }
        };
        let second = self.send_once(host, "GET", &url, &[], &Body::Empty, Some(&answer))?;
        if second.status == 401 {
            return Err(RegistryError::Unauthorized {
                host: host.to_string(),
                detail: second.detail(),
            });
        }
        Ok(())
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split(']').next().map_or(host, |h| &h[1..]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// Which certificates a TLS connection accepts.
enum TlsTrust {
    /// The system's roots.
    System,
    /// The system's roots and a registry's own CAs, with its client certificate.
    Host(certs::HostCerts),
    /// Any (insecure registries only).
    Anything,
}

fn build_agent(options: &RegistryOptions, trust: TlsTrust) -> Result<ureq::Agent, String> {
    let tls = tls_config(trust)?;
    Ok(ureq::AgentBuilder::new()
        .tls_config(tls)
        .timeout_connect(options.connect_timeout)
        .timeout_read(options.read_timeout)
        .redirects(5)
        .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
        .user_agent(concat!("burrow/", env!("CARGO_PKG_VERSION")))
        .max_idle_connections_per_host(options.max_concurrent_transfers.max(1) * 2)
        .build())
}

fn tls_config(trust: TlsTrust) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let host = match trust {
        TlsTrust::Anything => {
            return Ok(Arc::new(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
                    .with_no_client_auth(),
            ))
        }
        TlsTrust::System => None,
        TlsTrust::Host(certs) => Some(certs),
    };
    let mut roots = rustls::RootCertStore::empty();
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    let mut client = None;
    if let Some(host) = host {
        for cert in host.roots {
            roots
                .add(cert)
                .map_err(|e| format!("unusable CA certificate in {}: {e}", host.dir.display()))?;
        }
        client = host.client.map(|pair| (pair, host.dir));
    }
    if roots.is_empty() {
        return Err("no usable CA certificates in the system store".to_string());
    }
    let builder = builder.with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(((chain, key), dir)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("unusable client certificate in {}: {e}", dir.display()))?,
    };
    Ok(Arc::new(config))
}

/// Accepts any certificate (insecure registries only); signatures are still checked so
/// the handshake itself is sound.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_hosts_are_insecure() {
        let client = Client::new(RegistryOptions {
            insecure_registries: vec!["mirror.local:5000".into()],
            credentials: Credentials::none(),
            ..RegistryOptions::default()
        });
        for host in [
            "127.0.0.1:5000",
            "localhost",
            "[::1]:80",
            "127.1.2.3",
            "mirror.local:5000",
        ] {
            assert!(client.is_insecure(host), "{host}");
        }
        for host in ["registry-1.docker.io", "mirror.local", "10.0.0.1:5000"] {
            assert!(!client.is_insecure(host), "{host}");
        }
        assert_eq!(
            summarize_errors(
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            ", MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(summarize_errors("<html>"), "");
    }
}
