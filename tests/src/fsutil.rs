//! Files and directories the test user must own, and removing trees that containers
//! filled with files owned by the user's subordinate ids.
//!
//! Removal: root removes anything. A non-root user cannot remove a file owned by one of
//! its subordinate ids from a directory that id owns; inside a user namespace mapping
//! those ids (`unshare --map-auto --map-root-user`, which goes through newuidmap), its
//! root can. So removal tries the plain way first and falls back to that.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::user::TestUser;

/// Where sandboxes and binary copies go: `BURROW_TEST_TMPDIR`, else the system temp dir.
pub fn temp_base() -> PathBuf {
    std::env::var_os("BURROW_TEST_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// Gives `path` (not following symlinks) to the test user when the tests drop privileges.
pub fn give_to_user(path: &Path, user: &TestUser) {
    if user.drop_privileges {
        std::os::unix::fs::lchown(path, Some(user.uid), Some(user.gid))
            .unwrap_or_else(|e| panic!("cannot chown {} to {}: {e}", path.display(), user.name));
    }
}

/// Gives a whole tree to the test user.
pub fn give_tree_to_user(root: &Path, user: &TestUser) {
    if !user.drop_privileges {
        return;
    }
    for path in walk(root) {
        give_to_user(&path, user);
    }
}

/// Creates `path` with `mode` (and missing parents, 0755), all owned by the test user.
pub fn make_dir(path: &Path, mode: u32, user: &TestUser) {
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
    std::fs::create_dir_all(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    for parent in missing.iter().skip(1) {
        set_mode(parent, 0o755);
        give_to_user(parent, user);
    }
    set_mode(path, mode);
    give_to_user(path, user);
}

/// Writes `contents` to `path` with `mode`, owned by the test user.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32, user: &TestUser) {
    std::fs::write(path, contents)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    set_mode(path, mode);
    give_to_user(path, user);
}

/// chmod that panics with the path.
pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// Every path under `root` (included), without following symlinks.
pub fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut next = 0;
    while next < out.len() {
        let path = out[next].clone();
        next += 1;
        let is_dir = std::fs::symlink_metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        if !is_dir {
            continue;
        }
        if let Ok(entries) = std::fs::read_dir(&path) {
            out.extend(entries.flatten().map(|entry| entry.path()));
        }
    }
    out
}

/// Removes `root` and everything below it, also files owned by the test user's
/// subordinate ids. Returns a description of the failure when something is left.
pub fn remove_tree(root: &Path, user: &TestUser) -> Result<(), String> {
    if std::fs::symlink_metadata(root).is_err() {
        return Ok(());
    }
    let plain = std::fs::remove_dir_all(root);
    if plain.is_ok() || std::fs::symlink_metadata(root).is_err() {
        return Ok(());
    }
    if user.drop_privileges {
        // Root: only a busy mount or a still-running writer stops it; try once more.
        make_tree_writable(root);
        return std::fs::remove_dir_all(root)
            .map_err(|e| format!("cannot remove {}: {e}", root.display()));
    }
    let output = Command::new("unshare")
        .args(["--map-auto", "--map-root-user", "rm", "-rf", "--"])
        .arg(root)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare to remove {}: {e}", root.display()))?;
    if std::fs::symlink_metadata(root).is_err() {
        return Ok(());
    }
    Err(format!(
        "cannot remove {} (plain: {}; in a user namespace: {})",
        root.display(),
        plain.err().map(|e| e.to_string()).unwrap_or_default(),
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

fn make_tree_writable(root: &Path) {
    for path in walk(root) {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let _ = std::fs::set_permissions(
                &path,
                std::fs::Permissions::from_mode(meta.permissions().mode() | 0o700),
            );
        }
    }
}
