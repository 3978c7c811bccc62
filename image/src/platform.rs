//! Platforms (`os/architecture[/variant]`) and choosing one manifest from an index.
//!
//! The default is the host's own platform in Go's names (x86_64 → `linux/amd64`,
//! aarch64 → `linux/arm64`). Matching follows containerd's rules for the common cases:
//! os and architecture must be equal; a requested variant must match, where `arm64`
//! without a variant means `v8`; without a requested variant the first entry for the
//! os/architecture wins.

use std::fmt;
use std::str::FromStr;

/// An `os/architecture[/variant]` triple.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid platform {input:?}: expected os/architecture[/variant], e.g. linux/amd64")]
pub struct PlatformError {
    pub input: String,
}

impl Platform {
    /// The platform of the running host.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    pub fn parse(input: &str) -> Result<Platform, PlatformError> {
        let parts: Vec<&str> = input.split('/').collect();
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(PlatformError {
                input: input.to_string(),
            });
        }
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: parts[1].to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    /// Whether an index entry for `os/architecture/variant` satisfies this request.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if self.os != os || self.architecture != architecture {
            return false;
        }
        let Some(wanted) = self.variant.as_deref() else {
            return true;
        };
        let normalize = |v: Option<&str>| match (architecture, v) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        normalize(Some(wanted)) == normalize(variant)
    }
}

impl Default for Platform {
    fn default() -> Platform {
        Platform::host()
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(s: &str) -> Result<Platform, PlatformError> {
        Platform::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.matches("linux", "amd64", None));
        assert!(amd64.matches("linux", "amd64", Some("v3")));
        assert!(!amd64.matches("linux", "arm64", None));
        assert!(!amd64.matches("windows", "amd64", None));
        let v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(v8.matches("linux", "arm64", None));
        assert!(v8.matches("linux", "arm64", Some("v8")));
        let v7 = Platform::parse("linux/arm/v7").unwrap();
        assert!(!v7.matches("linux", "arm", Some("v6")));
        assert_eq!(v7.to_string(), "linux/arm/v7");
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "Linux/amd64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        if cfg!(target_arch = "x86_64") {
            assert_eq!(Platform::host().to_string(), "linux/amd64");
        }
    }
}
