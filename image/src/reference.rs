//! Image references, parsed and normalized the way Docker does.
//!
//! Grammar (docker/distribution's `reference` package):
//! `[domain[:port]/]path[:tag][@algorithm:hex]`, where `path` is `/`-separated lowercase
//! components (`[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`), a tag is
//! `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` and the whole name is at most 255 characters. The
//! first component is a registry domain when it contains `.` or `:`, is `localhost`, or
//! has an uppercase letter; otherwise the domain is `docker.io`, where one-component
//! names live under `library/`. Without tag or digest the tag is `latest`, so
//! `busybox` → `docker.io/library/busybox:latest`. A reference with a digest names that
//! exact content; its tag, if any, is kept only for display.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's canonical domain (what `busybox` means).
pub const DOCKER_HUB: &str = "docker.io";
/// The host actually serving Docker Hub's registry API.
pub const DOCKER_HUB_REGISTRY: &str = "registry-1.docker.io";

const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// Why a reference was refused; the message names the reference and the rule.
#[derive(Debug, thiserror::Error)]
#[error("invalid reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: String,
}

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes `input`.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let refuse = |reason: &str| ReferenceError {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        if input.is_empty() {
            return Err(refuse("empty reference"));
        }
        let (rest, digest) = match input.rsplit_once('@') {
            Some((rest, digest)) => {
                let digest = Digest::parse(digest).map_err(|e| refuse(e.reason))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                (&rest[..colon], Some(&rest[colon + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(refuse)?;
        }
        if name.len() > MAX_NAME_LEN {
            return Err(refuse("name longer than 255 characters"));
        }
        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            check_domain(domain).map_err(refuse)?;
        }
        check_path(path).map_err(refuse)?;
        let domain = match domain {
            None | Some("index.docker.io") => DOCKER_HUB.to_string(),
            Some(domain) => domain.to_string(),
        };
        let path = if domain == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `domain/path` with a new tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(&format!("{}:{tag}", self.repository()))
    }

    /// `domain/path@digest`.
    pub fn with_digest(&self, digest: &Digest) -> Reference {
        Reference {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    /// The registry domain as written (`docker.io`, `127.0.0.1:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The host to talk to for this domain (Docker Hub's API lives elsewhere).
    pub fn registry_host(&self) -> &str {
        if self.domain == DOCKER_HUB {
            DOCKER_HUB_REGISTRY
        } else {
            &self.domain
        }
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `domain/path`, the name without tag or digest.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_tag(tag: &str) -> Result<(), &'static str> {
    if tag.is_empty() {
        return Err("empty tag after ':'");
    }
    if tag.len() > MAX_TAG_LEN {
        return Err("tag longer than 128 characters");
    }
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut chars = tag.chars();
    if !chars.next().is_some_and(word) || !chars.all(|c| word(c) || c == '.' || c == '-') {
        return Err("tag must be [A-Za-z0-9_][A-Za-z0-9_.-]*");
    }
    Ok(())
}

fn check_domain(domain: &str) -> Result<(), &'static str> {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || domain.starts_with('[') => (host, Some(port)),
        _ => (domain, None),
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err("registry port must be a number");
        }
    }
    if host.starts_with('[') && host.ends_with(']') {
        let inner = &host[1..host.len() - 1];
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(()),
            Err(_) => Err("invalid IPv6 registry address"),
        };
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if !host.split('.').all(component_ok) {
        return Err("invalid registry domain");
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty repository name");
    }
    for component in path.split('/') {
        if component.is_empty() {
            return Err("empty path component (\"//\" or a leading/trailing \"/\")");
        }
        if component.chars().any(|c| c.is_ascii_uppercase()) {
            return Err("repository name must be lowercase");
        }
        check_path_component(component)?;
    }
    Ok(())
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn check_path_component(component: &str) -> Result<(), &'static str> {
    const BAD: &str = "repository name components must be [a-z0-9] joined by '.', '_', '__' or '-'";
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return Err(BAD);
        }
        if i == bytes.len() {
            return Ok(());
        }
        let separator_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[separator_start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return Err(BAD);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn normalized(input: &str) -> String {
        Reference::parse(input)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("busybox:1.36", "docker.io/library/busybox:1.36"),
            ("library/busybox", "docker.io/library/busybox:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("index.docker.io/x", "docker.io/library/x:latest"),
            ("quay.io/a/b/c:t", "quay.io/a/b/c:t"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app:1", "localhost:5000/app:1"),
            (
                "127.0.0.1:5000/a.b__c-d---e_f",
                "127.0.0.1:5000/a.b__c-d---e_f:latest",
            ),
            ("Registry/app", "Registry/app:latest"),
            ("[::1]:5000/app", "[::1]:5000/app:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(normalized(input), want, "{input}");
        }
        let by_digest = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        assert_eq!(
            by_digest.to_string(),
            format!("docker.io/library/busybox@sha256:{HEX}")
        );
        assert_eq!(by_digest.tag(), None);
        assert_eq!(by_digest.manifest_reference(), format!("sha256:{HEX}"));
        let both = Reference::parse(&format!("busybox:1@sha256:{HEX}")).unwrap();
        assert_eq!(both.manifest_reference(), format!("sha256:{HEX}"));
        assert_eq!(both.tag(), Some("1"));
    }

    #[test]
    fn parts_and_hosts() {
        let hub = Reference::parse("busybox").unwrap();
        assert_eq!(hub.registry_host(), DOCKER_HUB_REGISTRY);
        assert_eq!(hub.path(), "library/busybox");
        assert_eq!(hub.repository(), "docker.io/library/busybox");
        let local = Reference::parse("127.0.0.1:5000/x/y:z").unwrap();
        assert_eq!(
            (local.registry_host(), local.path()),
            ("127.0.0.1:5000", "x/y")
        );
        assert_eq!(
            local.with_tag("w").unwrap().to_string(),
            "127.0.0.1:5000/x/y:w"
        );
    }

    #[test]
    fn refuses_invalid_references() {
        let cases = [
            ("Busybox:", "empty tag"),
            ("Busybox", "lowercase"),
            ("a//b", "empty path component"),
            ("x@sha256:short", "wrong length"),
            ("x@md5:abc", "unsupported algorithm"),
            ("", "empty"),
            ("/busybox", "empty path component"),
            ("busybox/", "empty path component"),
            ("a:b:c", "components"),
            ("a-:x", "components"),
            ("-a", "components"),
            ("a..b", "components"),
            ("a___b", "components"),
            ("a:-tag", "tag must be"),
            ("host:port/x", "port must be a number"),
            ("bad_domain.com/x", "invalid registry domain"),
            ("x:@sha256:0", "wrong length"),
        ];
        for (input, needle) in cases {
            match Reference::parse(input) {
                Ok(r) => panic!("{input:?} accepted as {r}"),
                Err(e) => {
                    let message = e.to_string();
                    assert!(message.contains(needle), "{input:?}: {message}");
                    assert!(message.contains(&format!("{input:?}")), "{message}");
                }
            }
        }
        assert!(Reference::parse(&"a".repeat(256)).is_err());
        assert!(Reference::parse(&format!("a:{}", "t".repeat(129))).is_err());
    }
}
