//! `diff`: what the container changed in its filesystem, read from its
//! upper dir (`<container dir>/upper`, kept in OCI layer-diff form): a
//! whiteout `.wh.NAME` is a deletion (D), an entry that also exists in one
//! of the image's layers a change (C), anything else an addition (A). An
//! opaque directory marker makes its directory a change. A `--rootfs`
//! container writes straight into its directory and has no upper dir: no
//! changes to show. The walk runs as the container's root, in a user
//! namespace mapped like the container's, so directories the container
//! made private to one of its users are read too.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::record::ContainerRecord;
use crate::store::Store;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_MARKER: &str = ".wh..wh..opq";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Changed,
    Deleted,
}

impl ChangeKind {
    /// Docker's letter.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Changed => 'C',
            ChangeKind::Deleted => 'D',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    /// Absolute path inside the container.
    pub path: String,
}

pub fn diff(store: &Store, record: &ContainerRecord) -> Result<Vec<Change>> {
    let upper = store.container_dir(&record.id).join("upper");
    if !upper.is_dir() {
        return Ok(Vec::new());
    }
    let layers = &record.config.layers;
    let mut changes = if nix::unistd::geteuid().is_root() {
        let mut changes = Vec::new();
        walk(&upper, Path::new("/"), layers, &mut changes)?;
        changes
    } else {
        // As the container's root: directories private to its other users open.
        let listing = crate::userns::run_as_container_root(|| {
            let mut changes = Vec::new();
            walk(&upper, Path::new("/"), layers, &mut changes).map_err(|e| e.to_string())?;
            Ok(changes
                .iter()
                .map(|c| format!("{}{}\0", c.kind.letter(), c.path))
                .collect())
        })?;
        listing
            .split_terminator('\0')
            .filter_map(parse_change)
            .collect()
    };
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(changes)
}

fn parse_change(entry: &str) -> Option<Change> {
    let mut chars = entry.chars();
    let kind = match chars.next()? {
        'A' => ChangeKind::Added,
        'C' => ChangeKind::Changed,
        'D' => ChangeKind::Deleted,
        _ => return None,
    };
    Some(Change {
        kind,
        path: chars.as_str().to_string(),
    })
}

/// Files the runtime creates as mount points for burrow's own mounts when
/// the image lacks them; Docker keeps these in a hidden init layer, so they
/// are not the container's changes.
const MOUNT_POINT_STUBS: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

/// Appends the changes under `dir` (upper) to `out`; returns whether it
/// skipped a mount-point stub there.
fn walk(dir: &Path, inside: &Path, lowers: &[PathBuf], out: &mut Vec<Change>) -> Result<bool> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .context(|| format!("cannot read {}", dir.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut skipped_stub = false;
    for name in names {
        if name == OPAQUE_MARKER {
            continue;
        }
        if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
            out.push(change(ChangeKind::Deleted, &inside.join(deleted)));
            continue;
        }
        let path = inside.join(&name);
        let in_lower = lowers.iter().any(|l| {
            std::fs::symlink_metadata(l.join(path.strip_prefix("/").unwrap_or(&path))).is_ok()
        });
        if !in_lower && MOUNT_POINT_STUBS.iter().any(|s| Path::new(s) == path) {
            skipped_stub = true;
            continue;
        }
        let host = dir.join(&name);
        let is_dir = std::fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir());
        let mut below = Vec::new();
        let stub_below = is_dir && walk(&host, &path, lowers, &mut below)?;
        if in_lower && stub_below && below.is_empty() {
            // Copied up only to hold a mount point.
            continue;
        }
        let kind = if in_lower {
            ChangeKind::Changed
        } else {
            ChangeKind::Added
        };
        out.push(change(kind, &path));
        out.extend(below);
    }
    Ok(skipped_stub)
}

fn change(kind: ChangeKind, path: &Path) -> Change {
    Change {
        kind,
        path: path.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_are_deletions_lower_entries_changes_the_rest_additions() {
        let dir = tempfile::tempdir().unwrap();
        let lower = dir.path().join("lower");
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(lower.join("etc")).unwrap();
        std::fs::write(lower.join("etc/passwd"), "x").unwrap();
        std::fs::create_dir_all(upper.join("etc")).unwrap();
        std::fs::write(upper.join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.join("etc/new"), "n").unwrap();
        std::fs::write(upper.join(".wh.gone"), "").unwrap();
        std::fs::create_dir_all(upper.join("srv/data")).unwrap();
        std::fs::create_dir_all(lower.join("etc2")).unwrap();
        std::fs::create_dir_all(upper.join("etc2")).unwrap();
        std::fs::write(upper.join("etc/hosts"), "").unwrap();
        let mut changes = Vec::new();
        std::fs::create_dir_all(upper.join("run")).unwrap();
        std::fs::create_dir_all(lower.join("run")).unwrap();
        walk(&upper, Path::new("/"), &[lower], &mut changes).unwrap();
        let lines: Vec<String> = changes
            .iter()
            .map(|c| format!("{} {}", c.kind.letter(), c.path))
            .collect();
        // etc/hosts is a mount-point stub; /run and /etc2 are copied-up, unchanged dirs
        // (a changed directory still shows).
        assert_eq!(
            lines,
            [
                "D /gone",
                "C /etc",
                "A /etc/new",
                "C /etc/passwd",
                "C /etc2",
                "C /run",
                "A /srv",
                "A /srv/data"
            ]
        );
    }
}
