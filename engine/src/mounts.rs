//! What a container mounts besides its root: bind mounts of host paths,
//! named and anonymous volumes, and tmpfs, as `-v`, `--mount` and `--tmpfs`
//! spell them (Docker's syntax and error messages).
//!
//! Parsing is pure: a [`MountSpec`] says what to mount where. A volume's
//! name is empty for an anonymous volume until `create` gives it one, and
//! `host_source` (the volume's `_data`) is filled in by `create` too, so the
//! spec builder never needs to know where the store is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::volumes::validate_volume_name;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error("invalid volume specification: {spec:?}: {reason}")]
    InvalidVolumeSpec { spec: String, reason: String },
    #[error("create {0}: {0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")]
    NotAVolumeName(String),
    #[error("invalid argument {spec:?} for \"--mount\" flag: {reason}")]
    InvalidMountFlag { spec: String, reason: String },
    #[error("invalid argument {spec:?} for \"--tmpfs\" flag: {reason}")]
    InvalidTmpfs { spec: String, reason: String },
    #[error("invalid mount config for type \"bind\": bind source path does not exist: {0}")]
    BindSourceMissing(String),
    #[error("Duplicate mount point: {0}")]
    DuplicateMountPoint(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount of a container, as recorded in its `RunConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Bind: the absolute host path. Volume: its name (empty = anonymous, not
    /// yet created). Tmpfs: empty.
    #[serde(default)]
    pub source: String,
    /// Absolute path inside the container.
    pub target: String,
    #[serde(default)]
    pub readonly: bool,
    /// Docker's `Mode` column (`z`, `ro`, … as given to `-v`).
    #[serde(default)]
    pub mode: String,
    /// Bind propagation (`rprivate` when not given).
    #[serde(default)]
    pub propagation: Option<String>,
    /// Volume: do not copy the image's content in on first use.
    #[serde(default)]
    pub no_copy: bool,
    /// Volume: `volume-opt` and `volume-label` for a volume created on the fly.
    #[serde(default)]
    pub volume_options: BTreeMap<String, String>,
    #[serde(default)]
    pub volume_labels: BTreeMap<String, String>,
    /// Tmpfs: mount options beyond the defaults (`size=…`, `mode=…`, …).
    #[serde(default)]
    pub tmpfs_options: Vec<String>,
    /// Where the mount comes from on the host (bind source, or the volume's
    /// `_data`); filled in by `create`.
    #[serde(default)]
    pub host_source: PathBuf,
    /// `:U`: the container's user sees the files as its own (served through an id
    /// shift, see `crate::idshift`; nothing is chowned).
    #[serde(default)]
    pub shift_ids: bool,
}

impl MountSpec {
    fn new(kind: MountKind, source: &str, target: &str) -> MountSpec {
        MountSpec {
            kind,
            source: source.into(),
            target: target.into(),
            readonly: false,
            mode: String::new(),
            propagation: None,
            no_copy: false,
            volume_options: BTreeMap::new(),
            volume_labels: BTreeMap::new(),
            tmpfs_options: Vec::new(),
            host_source: PathBuf::new(),
            shift_ids: false,
        }
    }

    pub fn is_anonymous_volume(&self) -> bool {
        self.kind == MountKind::Volume && self.source.is_empty()
    }
}

const PROPAGATIONS: [&str; 6] = [
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

/// `-v`: `/path` (anonymous volume), `NAME:/path[:MODE]` (named volume) or
/// `/host:/path[:MODE]` (bind), MODE a comma list of ro, rw, z, Z, nocopy,
/// U (Podman's: the container's user owns the files; see `crate::idshift`) and a
/// propagation.
pub fn parse_volume_flag(spec: &str) -> Result<MountSpec, MountError> {
    let invalid = |reason: &str| MountError::InvalidVolumeSpec {
        spec: spec.into(),
        reason: reason.into(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => ("", *target, ""),
        [source, target] => (*source, *target, ""),
        [source, target, mode] => (*source, *target, *mode),
        _ => return Err(invalid("too many colons")),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(invalid(&format!(
            "invalid mount path: {target:?} mount path must be absolute"
        )));
    }
    if target == "/" {
        return Err(invalid("invalid mount path: \"/\" cannot be a mount point"));
    }
    let kind = if source.is_empty() {
        if parts.len() > 1 {
            return Err(invalid("empty source"));
        }
        MountKind::Volume
    } else if source.starts_with('/') {
        MountKind::Bind
    } else {
        validate_volume_name(source).map_err(|_| MountError::NotAVolumeName(source.into()))?;
        MountKind::Volume
    };
    let mut mount = MountSpec::new(kind, source, &clean(target));
    mount.mode = mode.into();
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => mount.readonly = true,
            "rw" => mount.readonly = false,
            "z" | "Z" => {}
            "U" if kind != MountKind::Tmpfs => mount.shift_ids = true,
            "nocopy" if kind == MountKind::Volume => mount.no_copy = true,
            p if PROPAGATIONS.contains(&p) && kind == MountKind::Bind => {
                mount.propagation = Some(p.into())
            }
            other => return Err(invalid(&format!("invalid mode: {other}"))),
        }
    }
    Ok(mount)
}

/// `--mount type=bind|volume|tmpfs,source=…,target=…,readonly,…`.
pub fn parse_mount_flag(spec: &str) -> Result<MountSpec, MountError> {
    let invalid = |reason: String| MountError::InvalidMountFlag {
        spec: spec.into(),
        reason,
    };
    let mut kind = MountKind::Volume;
    let mut fields = Vec::new();
    for field in spec.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        if key == "type" {
            kind = match value.unwrap_or_default() {
                "bind" => MountKind::Bind,
                "volume" => MountKind::Volume,
                "tmpfs" => MountKind::Tmpfs,
                other => {
                    return Err(invalid(format!(
                        "unknown mount type {other:?} (use bind, volume or tmpfs)"
                    )))
                }
            };
        } else {
            fields.push((key, value));
        }
    }
    let mut mount = MountSpec::new(kind, "", "");
    for (key, value) in fields {
        let needs_value = || {
            value.ok_or_else(|| invalid(format!("invalid field {key:?} must be a key=value pair")))
        };
        let applies = |wanted: MountKind| {
            if kind == wanted {
                Ok(())
            } else {
                Err(invalid(format!(
                    "cannot mix \"{key}\" with type={}",
                    kind.as_str()
                )))
            }
        };
        match key.as_str() {
            "source" | "src" => mount.source = needs_value()?.into(),
            "target" | "dst" | "destination" => mount.target = needs_value()?.into(),
            "readonly" | "ro" => mount.readonly = parse_bool(&key, value).map_err(invalid)?,
            "consistency" => {}
            // Podman's `U=true` (also spelled `chown`): the `-v …:U` id shift.
            "u" | "chown" => {
                if kind == MountKind::Tmpfs {
                    return Err(invalid(format!("cannot mix \"{key}\" with type=tmpfs")));
                }
                mount.shift_ids = parse_bool(&key, value).map_err(invalid)?;
            }
            "bind-propagation" => {
                applies(MountKind::Bind)?;
                let p = needs_value()?;
                if !PROPAGATIONS.contains(&p) {
                    return Err(invalid(format!("invalid propagation mode: {p}")));
                }
                mount.propagation = Some(p.into());
            }
            "volume-nocopy" => {
                applies(MountKind::Volume)?;
                mount.no_copy = parse_bool(&key, value).map_err(invalid)?;
            }
            "volume-driver" => {
                applies(MountKind::Volume)?;
                let driver = needs_value()?;
                if driver != "local" {
                    return Err(invalid(format!(
                        "volume driver {driver:?} is not available (only local)"
                    )));
                }
            }
            "volume-opt" | "volume-label" => {
                applies(MountKind::Volume)?;
                let pair = needs_value()?;
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let map = if key == "volume-opt" {
                    &mut mount.volume_options
                } else {
                    &mut mount.volume_labels
                };
                map.insert(k.into(), v.into());
            }
            "tmpfs-size" => {
                applies(MountKind::Tmpfs)?;
                let bytes = parse_size(needs_value()?).map_err(invalid)?;
                mount.tmpfs_options.push(format!("size={bytes}"));
            }
            "tmpfs-mode" => {
                applies(MountKind::Tmpfs)?;
                let mode = needs_value()?;
                u32::from_str_radix(mode, 8)
                    .map_err(|_| invalid(format!("invalid tmpfs-mode {mode:?}: use octal")))?;
                mount.tmpfs_options.push(format!("mode={mode}"));
            }
            other => return Err(invalid(format!("unexpected key {other:?}"))),
        }
    }
    if mount.target.is_empty() {
        return Err(invalid("target is required".into()));
    }
    if !mount.target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: {:?} mount path must be absolute",
            mount.target
        )));
    }
    mount.target = clean(&mount.target);
    match kind {
        MountKind::Bind if mount.source.is_empty() => {
            return Err(invalid("source is required when type is bind".into()))
        }
        MountKind::Bind if !mount.source.starts_with('/') => {
            return Err(invalid(format!(
                "invalid mount config for type \"bind\": invalid mount path: {:?} mount path must be absolute",
                mount.source
            )))
        }
        MountKind::Volume if !mount.source.is_empty() => {
            validate_volume_name(&mount.source)
                .map_err(|_| MountError::NotAVolumeName(mount.source.clone()))?;
        }
        MountKind::Tmpfs if !mount.source.is_empty() => {
            return Err(invalid("source is not allowed with type=tmpfs".into()))
        }
        _ => {}
    }
    Ok(mount)
}

/// `--tmpfs /path[:OPTIONS]` (OPTIONS passed to the mount, `size=64m` and
/// `mode=1777` included).
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountSpec, MountError> {
    let invalid = |reason: String| MountError::InvalidTmpfs {
        spec: spec.into(),
        reason,
    };
    let (target, options) = spec.split_once(':').unwrap_or((spec, ""));
    if !target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: {target:?} mount path must be absolute"
        )));
    }
    let mut mount = MountSpec::new(MountKind::Tmpfs, "", &clean(target));
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => {
                let bytes = parse_size(value).map_err(invalid)?;
                mount.tmpfs_options.push(format!("size={bytes}"));
            }
            Some(("mode", value)) => {
                u32::from_str_radix(value, 8)
                    .map_err(|_| invalid(format!("invalid mode {value:?}: use octal")))?;
                mount.tmpfs_options.push(option.into());
            }
            _ if option == "ro" => mount.readonly = true,
            _ if option == "rw" => mount.readonly = false,
            _ => mount.tmpfs_options.push(option.into()),
        }
    }
    Ok(mount)
}

/// Docker's mount checks that need the machine: a bind source must exist,
/// and no two mounts share a destination.
pub fn check(mounts: &[MountSpec]) -> Result<(), MountError> {
    for (i, m) in mounts.iter().enumerate() {
        if m.kind == MountKind::Bind && std::fs::metadata(&m.source).is_err() {
            return Err(MountError::BindSourceMissing(m.source.clone()));
        }
        if mounts[..i].iter().any(|o| o.target == m.target) {
            return Err(MountError::DuplicateMountPoint(m.target.clone()));
        }
    }
    Ok(())
}

/// Mount options of a tmpfs: Docker's defaults (noexec, nosuid, nodev) with
/// what the user gave overriding them.
pub fn tmpfs_mount_options(mount: &MountSpec) -> Vec<String> {
    let given = &mount.tmpfs_options;
    let overridden = |default: &str| {
        let opposite = default.trim_start_matches("no");
        given.iter().any(|o| o == default || o == opposite)
    };
    let mut options: Vec<String> = ["noexec", "nosuid", "nodev"]
        .iter()
        .filter(|d| !overridden(d))
        .map(|d| d.to_string())
        .collect();
    options.extend(given.iter().cloned());
    if mount.readonly {
        options.push("ro".into());
    }
    options
}

/// `readonly`, `readonly=true|false|1|0`.
fn parse_bool(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(format!("invalid value for {key}: {other}")),
    }
}

/// `64m`, `1g`, `512k`, `100` (bytes) → bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let trimmed = lower.trim_end_matches('b').trim_end_matches('i');
    let (number, multiplier) = match trimmed.chars().last() {
        Some('k') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('m') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('g') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        Some('t') => (&trimmed[..trimmed.len() - 1], 1 << 40),
        _ => (trimmed, 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("invalid size: {text:?}"))
}

/// `/a//b/` → `/a/b` (lexically, as Docker's filepath.Clean for targets).
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in Path::new(path).components() {
        match part {
            std::path::Component::Normal(p) => parts.push(p.to_str().unwrap_or_default()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_mode_asks_for_shifted_ids() {
        assert!(parse_volume_flag("/srv:/srv:U").unwrap().shift_ids);
        assert!(parse_volume_flag("data:/d:ro,U").unwrap().shift_ids);
        assert!(!parse_volume_flag("/srv:/srv").unwrap().shift_ids);
        assert!(parse_volume_flag("/srv:/srv:u").is_err());
    }

    #[test]
    fn volume_flags_pick_the_kind() {
        let anonymous = parse_volume_flag("/data").unwrap();
        assert!(anonymous.is_anonymous_volume());
        let named = parse_volume_flag("cache:/var/cache:ro").unwrap();
        assert_eq!(
            (named.kind, named.source.as_str(), named.readonly),
            (MountKind::Volume, "cache", true)
        );
        let bind = parse_volume_flag("/srv:/srv:rw,z").unwrap();
        assert_eq!((bind.kind, bind.readonly), (MountKind::Bind, false));
        assert!(parse_volume_flag("/srv:/srv:rslave")
            .unwrap()
            .propagation
            .is_some());
        assert!(parse_volume_flag("vol:/x:nocopy").unwrap().no_copy);
    }

    #[test]
    fn bad_volume_flags_are_refused() {
        assert!(matches!(
            parse_volume_flag("./dir:/x"),
            Err(MountError::NotAVolumeName(_))
        ));
        assert!(parse_volume_flag("relative").is_err());
        assert!(parse_volume_flag("vol:relative").is_err());
        assert!(parse_volume_flag("/a:/b:xx").is_err());
        assert!(parse_volume_flag("/a:/b:ro:x").is_err());
        assert!(parse_volume_flag("vol:/").is_err());
    }

    #[test]
    fn mount_flags_parse_all_spellings() {
        let m = parse_mount_flag("type=bind,src=/tmp,dst=/t,readonly").unwrap();
        assert_eq!(
            (m.kind, m.source.as_str(), m.target.as_str(), m.readonly),
            (MountKind::Bind, "/tmp", "/t", true)
        );
        let v = parse_mount_flag("source=v1,destination=/d,ro=false,volume-opt=o=1").unwrap();
        assert_eq!((v.kind, v.readonly), (MountKind::Volume, false));
        assert_eq!(v.volume_options["o"], "1");
        let t = parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777").unwrap();
        assert_eq!(t.tmpfs_options, ["size=67108864", "mode=1777"]);
        assert!(parse_mount_flag("type=nfs,target=/x").is_err());
        assert!(parse_mount_flag("type=bind,target=/x").is_err());
        assert!(parse_mount_flag("type=volume,src=v").is_err());
        assert!(parse_mount_flag("type=tmpfs,target=/x,volume-nocopy").is_err());
        assert!(parse_mount_flag("type=bind,src=/a,target=/x,bogus=1").is_err());
        for shifted in [
            "type=bind,src=/a,dst=/x,U=true",
            "src=vol1,dst=/x,chown",
            "src=vol1,dst=/x,U",
        ] {
            assert!(parse_mount_flag(shifted).unwrap().shift_ids, "{shifted}");
        }
        assert!(
            !parse_mount_flag("src=vol1,dst=/x,U=false")
                .unwrap()
                .shift_ids
        );
        assert!(parse_mount_flag("type=tmpfs,dst=/x,U=true").is_err());
        assert!(parse_mount_flag("src=vol1,dst=/x,U=maybe").is_err());
    }

    #[test]
    fn tmpfs_flags_keep_options_and_defaults() {
        let t = parse_tmpfs_flag("/run:size=1k,mode=1777,exec").unwrap();
        assert_eq!(t.tmpfs_options, ["size=1024", "mode=1777", "exec"]);
        assert_eq!(
            tmpfs_mount_options(&t),
            ["nosuid", "nodev", "size=1024", "mode=1777", "exec"]
        );
        assert!(parse_tmpfs_flag("run").is_err());
        assert!(parse_tmpfs_flag("/run:size=lots").is_err());
    }

    #[test]
    fn checks_need_existing_sources_and_unique_targets() {
        let bind = parse_volume_flag("/nonexistent-burrow-path:/x").unwrap();
        assert!(matches!(
            check(&[bind]),
            Err(MountError::BindSourceMissing(_))
        ));
        let a = parse_volume_flag("/a").unwrap();
        let b = parse_tmpfs_flag("/a/").unwrap();
        assert!(matches!(
            check(&[a, b]),
            Err(MountError::DuplicateMountPoint(_))
        ));
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert!(parse_size("x").is_err());
    }
}
