//! Named and anonymous volumes of the `local` driver: plain directories at
//! `DATA/volumes/NAME/_data`, described by `DATA/volumes/NAME/volume.json`.
//!
//! A volume appears whole or not at all: `create` builds it under a
//! dot-named temp directory and renames it into place without replacing
//! (RENAME_NOREPLACE), so two concurrent creates of one name both succeed
//! with the same volume. Removal renames it to a dot-named directory first,
//! so a half-deleted volume is never listed (and deletes it through the
//! user namespace when the container's other users own files in it, see
//! `crate::userns`). Listings skip dot entries.
//! Whether a volume is in use is read from the container records; `rm` and
//! `prune` hold the store lock, as `create` of a container does, so a
//! container cannot start using a volume while it is being removed.
//! First use copies the image's content at the mount path in
//! ([`populate_from`], see `populate.rs`).

mod populate;
mod size;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, IoContext, Result};
use crate::ids::new_id;
use crate::mounts::MountKind;
use crate::store::Store;

pub use crate::units::decimal_size as human_size;
pub use populate::{populate_container_volumes, populate_from};

use crate::userns::remove_tree;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed")]
    InvalidName(String),
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    #[error("remove {name}: volume is in use - [{}]", ids.join(" "))]
    InUse { name: String, ids: Vec<String> },
    #[error("volume driver {0:?} is not available (only local)")]
    UnknownDriver(String),
    #[error("invalid option key: {0:?}")]
    InvalidOption(String),
    #[error("volume option {0:?} is not available yet: local volumes are plain directories")]
    UnsupportedOption(String),
}

/// `volume.json`: Docker's fields, plus burrow's own in lower case.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub scope: String,
    /// Created for a `-v /path` mount: removed with `rm -v`, `--rm`, `prune`.
    #[serde(default, rename = "anonymous")]
    pub anonymous: bool,
    /// The image's content was copied in (or the volume was found in use).
    #[serde(default, rename = "populated")]
    pub populated: bool,
}

impl VolumeRecord {
    /// The volume's own directory (holds `_data` and `volume.json`).
    pub fn dir(&self) -> &Path {
        self.mountpoint.parent().unwrap_or(&self.mountpoint)
    }
}

/// What `volume create` (or a container's mount) asks for.
#[derive(Debug, Clone, Default)]
pub struct VolumeRequest {
    /// None: an anonymous volume with a 64-hex name.
    pub name: Option<String>,
    pub driver: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// Docker's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn validate_volume_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidName(name.into()))
    }
}

/// The local driver's keys (type, device, o) would mount a file system
/// into the volume, which burrow does not do yet; others are unknown.
fn validate_options(options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    match options.keys().next() {
        None => Ok(()),
        Some(key) if ["type", "device", "o", "size"].contains(&key.as_str()) => {
            Err(VolumeError::UnsupportedOption(key.clone()))
        }
        Some(key) => Err(VolumeError::InvalidOption(key.clone())),
    }
}

impl Store {
    pub fn volumes_dir(&self) -> PathBuf {
        self.data.join("volumes")
    }

    fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name)
    }

    /// Creates the volume, or returns the existing one of that name; the
    /// flag says whether this call created it.
    pub fn create_volume(&self, request: &VolumeRequest) -> Result<(VolumeRecord, bool)> {
        if let Some(driver) = request.driver.as_deref().filter(|d| *d != "local") {
            return Err(VolumeError::UnknownDriver(driver.into()).into());
        }
        validate_options(&request.options)?;
        let (name, anonymous) = match &request.name {
            Some(name) => {
                validate_volume_name(name)?;
                (name.clone(), false)
            }
            None => (new_id()?, true),
        };
        if let Ok(existing) = self.load_volume(&name) {
            return Ok((existing, false));
        }
        let volumes = self.volumes_dir();
        std::fs::create_dir_all(&volumes)
            .context(|| format!("cannot create {}", volumes.display()))?;
        let temp = volumes.join(format!(".tmp-{}", new_id()?));
        let record = VolumeRecord {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: self.volume_dir(&name).join("_data"),
            created_at: rfc3339_seconds(),
            labels: request.labels.clone(),
            options: request.options.clone(),
            scope: "local".into(),
            anonymous,
            populated: false,
        };
        let built = std::fs::create_dir_all(temp.join("_data"))
            .context(|| format!("cannot create {}", temp.display()))
            .and_then(|()| write_record(&temp, &record));
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
        match nix::fcntl::renameat2(
            None,
            &temp,
            None,
            &self.volume_dir(&name),
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => Ok((record, true)),
            Err(nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY) => {
                let _ = std::fs::remove_dir_all(&temp);
                Ok((self.load_volume(&name)?, false))
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&temp);
                Err(EngineError::Other(format!(
                    "cannot create volume {name}: {e}"
                )))
            }
        }
    }

    pub fn load_volume(&self, name: &str) -> Result<VolumeRecord> {
        if validate_volume_name(name).is_err() {
            return Err(VolumeError::NoSuchVolume(name.into()).into());
        }
        let dir = self.volume_dir(name);
        let path = dir.join("volume.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VolumeError::NoSuchVolume(name.into()).into(),
            _ => EngineError::Io {
                context: format!("cannot read {}", path.display()),
                error: e,
            },
        })?;
        let mut record: VolumeRecord = serde_json::from_str(&text)
            .map_err(|e| EngineError::Other(format!("corrupt record {}: {e}", path.display())))?;
        // The store may have moved (`--root`): the directory is the truth.
        record.mountpoint = dir.join("_data");
        Ok(record)
    }

    /// Every volume, by name.
    pub fn list_volumes(&self) -> Result<Vec<VolumeRecord>> {
        let dir = self.volumes_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context(|| format!("cannot read {}", dir.display())),
        };
        let mut volumes: Vec<VolumeRecord> = entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !name.starts_with('.'))
            .filter_map(|name| self.load_volume(&name).ok())
            .collect();
        volumes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(volumes)
    }

    /// Ids of the containers (any status) that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self.volumes_in_use()?.remove(name).unwrap_or_default())
    }

    /// For every volume some container (any status) mounts, those containers' ids.
    pub fn volumes_in_use(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for record in self.list()? {
            for mount in &record.config.mounts {
                if mount.kind == MountKind::Volume && !mount.source.is_empty() {
                    let ids = users.entry(mount.source.clone()).or_default();
                    if !ids.contains(&record.id) {
                        ids.push(record.id.clone());
                    }
                }
            }
        }
        Ok(users)
    }

    /// Removes an unused volume; the bytes it held.
    pub fn remove_volume(&self, name: &str) -> Result<u64> {
        let _lock = self.lock()?;
        self.remove_volume_locked(name)
    }

    /// `remove_volume` for a caller that holds the store lock.
    pub(crate) fn remove_volume_locked(&self, name: &str) -> Result<u64> {
        let record = self.load_volume(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(VolumeError::InUse {
                name: name.into(),
                ids: users,
            }
            .into());
        }
        let doomed = self.volumes_dir().join(format!(".removing-{}", new_id()?));
        std::fs::rename(record.dir(), &doomed)
            .context(|| format!("cannot remove volume {name}"))?;
        let bytes = size::tree_size(&doomed.join("_data"));
        // The volume is gone already; what stays behind is cleared by `prune`.
        remove_tree(&doomed)?;
        Ok(bytes)
    }

    /// Removes unused volumes (only anonymous ones unless `all`) that match
    /// `keep`; their names and the bytes freed.
    pub fn prune_volumes(
        &self,
        all: bool,
        matches: impl Fn(&VolumeRecord) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let _lock = self.lock()?;
        self.remove_leftovers();
        let in_use = self.volumes_in_use()?;
        let mut removed = Vec::new();
        let mut bytes = 0;
        for volume in self.list_volumes()? {
            if !(all || volume.anonymous) || !matches(&volume) || in_use.contains_key(&volume.name)
            {
                continue;
            }
            bytes += self.remove_volume_locked(&volume.name)?;
            removed.push(volume.name);
        }
        Ok((removed, bytes))
    }

    /// What crashed commands left: volumes half-removed, and creations
    /// older than an hour that never got renamed into place.
    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(self.volumes_dir()) else {
            return;
        };
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale_temp = name.starts_with(".tmp-")
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < an_hour_ago);
            if name.starts_with(".removing-") || stale_temp {
                let _ = remove_tree(&entry.path());
            }
        }
    }

    /// Rewrites `volume.json` (temp file and rename).
    pub fn save_volume(&self, record: &VolumeRecord) -> Result<()> {
        write_record(record.dir(), record)
    }
}

fn write_record(dir: &Path, record: &VolumeRecord) -> Result<()> {
    let temp = dir.join(".volume.json.tmp");
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| EngineError::Other(e.to_string()))?;
    std::fs::write(&temp, bytes).context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, dir.join("volume.json"))
        .context(|| format!("cannot save {}", dir.join("volume.json").display()))
}

/// Docker's `CreatedAt`: RFC 3339 to the second.
fn rfc3339_seconds() -> String {
    let now = burrow_runtime::state::rfc3339_now();
    match now.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        (dir, store)
    }

    fn named(name: &str) -> VolumeRequest {
        VolumeRequest {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert!(validate_volume_name("db-data_1.x").is_ok());
        assert!(validate_volume_name("a").is_err());
        assert!(validate_volume_name("_ab").is_err());
        assert!(validate_volume_name("a/b").is_err());
        assert!(validate_volume_name("..").is_err());
    }

    #[test]
    fn create_is_idempotent_and_lists() {
        let (_dir, store) = store();
        let (first, created) = store.create_volume(&named("data")).unwrap();
        assert!(created);
        assert!(first.mountpoint.is_dir());
        let (again, created) = store.create_volume(&named("data")).unwrap();
        assert!(!created);
        assert_eq!(again.created_at, first.created_at);
        let (anonymous, _) = store.create_volume(&VolumeRequest::default()).unwrap();
        assert_eq!(anonymous.name.len(), 64);
        assert!(anonymous.anonymous);
        let names: Vec<String> = store
            .list_volumes()
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
    }

    #[test]
    fn concurrent_creates_of_one_name_agree() {
        let (_dir, store) = store();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.create_volume(&named("race")).unwrap())
            })
            .collect();
        let results: Vec<(VolumeRecord, bool)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
        let stamps: std::collections::HashSet<&String> =
            results.iter().map(|(v, _)| &v.created_at).collect();
        assert_eq!(stamps.len(), 1);
        assert_eq!(store.list_volumes().unwrap().len(), 1);
    }

    #[test]
    fn remove_and_prune() {
        let (_dir, store) = store();
        let (v, _) = store.create_volume(&named("keep")).unwrap();
        std::fs::write(v.mountpoint.join("f"), b"12345").unwrap();
        store.create_volume(&VolumeRequest::default()).unwrap();
        let (names, _) = store.prune_volumes(false, |_| true).unwrap();
        assert_eq!(names.len(), 1);
        assert_eq!(store.remove_volume("keep").unwrap(), 5);
        assert!(matches!(
            store.remove_volume("keep"),
            Err(EngineError::Volume(VolumeError::NoSuchVolume(_)))
        ));
        assert!(store.list_volumes().unwrap().is_empty());
    }

    #[test]
    fn remove_copes_with_read_only_directories() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, store) = store();
        let (v, _) = store.create_volume(&named("locked")).unwrap();
        let sub = v.mountpoint.join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("f"), b"x").unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o555)).unwrap();
        assert_eq!(store.remove_volume("locked").unwrap(), 1);
        assert!(!v.dir().exists());
    }

    #[test]
    fn options_are_refused_clearly() {
        let (_dir, store) = store();
        let mut request = named("opts");
        request.options.insert("bogus".into(), "1".into());
        assert!(store.create_volume(&request).is_err());
        request.driver = Some("nfs".into());
        assert!(store.create_volume(&request).is_err());
    }
}
