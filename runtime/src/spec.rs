//! Loading and checking a bundle's `config.json`.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Result, RuntimeError};

/// A parsed bundle: its directory, its config and the absolute rootfs path.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Reads `dir/config.json` and checks what the runtime relies on.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::fs::canonicalize(dir).map_err(|e| RuntimeError::Io {
            context: format!("bundle directory {}", dir.display()),
            error: e,
        })?;
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| RuntimeError::Io {
            context: format!("cannot read {}", path.display()),
            error: e,
        })?;
        // serde_path_to_error names the offending field (`process.args: …`).
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        let spec: Spec = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            RuntimeError::Config {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?;
        let rootfs = resolve_rootfs(&dir, &spec, &path)?;
        validate(&spec, &path)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

fn resolve_rootfs(dir: &Path, spec: &Spec, config: &Path) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| RuntimeError::Config {
        path: config.to_path_buf(),
        reason: "root.path is missing".into(),
    })?;
    let rootfs = dir.join(root.path());
    match std::fs::metadata(&rootfs) {
        Ok(meta) if meta.is_dir() => Ok(rootfs),
        Ok(_) => Err(RuntimeError::Config {
            path: config.to_path_buf(),
            reason: format!("root.path {} is not a directory", rootfs.display()),
        }),
        Err(e) => Err(RuntimeError::Io {
            context: format!("rootfs {}", rootfs.display()),
            error: e,
        }),
    }
}

fn validate(spec: &Spec, config: &Path) -> Result<()> {
    let bad = |reason: String| RuntimeError::Config {
        path: config.to_path_buf(),
        reason,
    };
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| bad("process is missing".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(bad("process.args must name a program".into()));
    }
    if !process.cwd().is_absolute() {
        return Err(bad(format!(
            "process.cwd {} is not absolute",
            process.cwd().display()
        )));
    }
    let namespaces = namespaces(spec);
    let mut seen = Vec::new();
    for ns in namespaces {
        if seen.contains(&ns.typ()) {
            return Err(bad(format!("namespace {} is listed twice", ns.typ())));
        }
        seen.push(ns.typ());
        if ns.typ() == LinuxNamespaceType::Time {
            return Err(bad("time namespaces are not supported".into()));
        }
    }
    let has = |t| seen.contains(&t);
    let hostname = spec.hostname().as_deref().is_some_and(|h| !h.is_empty());
    if hostname && !has(LinuxNamespaceType::Uts) {
        return Err(bad(
            "hostname is set but there is no private UTS namespace".into()
        ));
    }
    if !has(LinuxNamespaceType::Mount) {
        return Err(bad("a mount namespace is required".into()));
    }
    Ok(())
}

/// The config's namespace list (empty when absent).
pub fn namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// Whether the config asks for namespace `typ` (new or joined).
pub fn has_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespaces(spec).iter().any(|ns| ns.typ() == typ)
}

/// Whether the config creates a new namespace of `typ` (no `path`).
pub fn creates_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    namespaces(spec)
        .iter()
        .any(|ns| ns.typ() == typ && ns.path().is_none())
}

/// The oci-spec runtime types, for callers that build or edit configs.
pub use oci_spec::runtime as oci;

/// A starting config like `runc spec` writes: `sh` on a terminal in a
/// read-only `rootfs`; with `rootless`, a user namespace mapping the caller
/// to root and no network namespace.
pub fn default_spec(rootless: bool) -> Spec {
    let mut spec = if rootless {
        Spec::rootless(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        )
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("burrow".into()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(true));
        // Like runc since CVE-2022-29162: nothing in the inheritable set.
        if let Some(mut caps) = process.capabilities().clone() {
            caps.set_inheritable(None);
            process.set_capabilities(Some(caps));
        }
    }
    if !rootless {
        // runc's default device rule: deny everything, then the defaults.
        let deny_all = oci::LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .ok();
        if let (Some(linux), Some(rule)) = (spec.linux_mut(), deny_all) {
            if let Some(resources) = linux.resources_mut() {
                resources.set_devices(Some(vec![rule]));
            }
        }
    }
    let mut root = oci::Root::default();
    root.set_path("rootfs".into());
    root.set_readonly(Some(true));
    spec.set_root(Some(root));
    spec
}

/// The kernel's name of capability number `n` (`CAP_CHOWN`), if it knows it.
pub fn capability_name(n: u8) -> Option<String> {
    caps::all()
        .into_iter()
        .find(|c| c.index() == n)
        .map(|c| c.to_string())
}
