//! Finding the burrow binary and putting a copy where the test user can run it.
//!
//! Cargo sets `CARGO_BIN_EXE_<name>` only for binaries of the package whose integration
//! tests are being built, and ignores a dev-dependency on a package that has no library
//! (`cli/` is binary-only), so this crate cannot get the path at compile time. Instead:
//! `BURROW_BIN` if set, else `cargo build -p burrow` with the same profile and target
//! directory as the running test executable (`<target>/<profile>/deps/<test>`), which is
//! fast when up to date and never tests a stale binary.
//!
//! The checkout (and so the target dir) may not be readable by the test user, so the
//! binary is copied once per test process into a world-readable temp dir, next to a
//! `burrow-oci` and a `burrow-slirp` symlink. Copies left by test processes that no longer run are removed.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::fsutil;

const COPY_DIR_PREFIX: &str = "burrow-e2e-bin-";

/// Paths of the burrow binary copy every test uses.
#[derive(Clone, Debug)]
pub struct BurrowBinary {
    /// The world-readable copy of `burrow`.
    pub burrow: PathBuf,
    /// A symlink named `burrow-oci` to the copy.
    pub burrow_oci: PathBuf,
    /// A symlink named `burrow-slirp` to the copy (slirp4netns's command line).
    pub burrow_slirp: PathBuf,
}

/// The binary copy for this test process (built/copied on first use). Panics with the
/// build error when burrow does not build.
pub fn burrow_binary() -> &'static BurrowBinary {
    static BINARY: OnceLock<Result<BurrowBinary, String>> = OnceLock::new();
    match BINARY.get_or_init(|| locate_burrow().and_then(|source| copy_for_test_user(&source))) {
        Ok(binary) => binary,
        Err(message) => panic!("{message}"),
    }
}

fn locate_burrow() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("BURROW_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("BURROW_BIN={} is not a file", path.display()));
        }
        return Ok(path);
    }
    build_with_cargo()
}

/// Builds `burrow` into the target dir the test executable lives in.
fn build_with_cargo() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let layout = TargetLayout::from_test_exe(&exe)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let mut build = Command::new(cargo);
    build
        .arg("build")
        .arg("--quiet")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["-p", "burrow", "--bin", "burrow"])
        .arg("--target-dir")
        .arg(&layout.target_dir)
        .args(layout.profile_args());
    if let Some(triple) = &layout.triple {
        build.arg("--target").arg(triple);
    }
    let output = build
        .output()
        .map_err(|e| format!("cannot run cargo to build burrow: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "burrow does not build (set BURROW_BIN to test a prebuilt binary):\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let binary = layout.profile_dir.join("burrow");
    if !binary.is_file() {
        return Err(format!(
            "cargo built burrow but {} is missing",
            binary.display()
        ));
    }
    Ok(binary)
}

/// Where a test executable sits: `<target>[/<triple>]/<profile>/deps/<exe>`.
#[derive(Debug, PartialEq)]
struct TargetLayout {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: PathBuf,
    profile: String,
}

impl TargetLayout {
    fn from_test_exe(exe: &Path) -> Result<TargetLayout, String> {
        let not_cargo = || format!("{} is not inside a cargo target dir", exe.display());
        let deps = exe.parent().ok_or_else(not_cargo)?;
        let profile_dir = deps.parent().ok_or_else(not_cargo)?.to_path_buf();
        let profile = profile_dir
            .file_name()
            .ok_or_else(not_cargo)?
            .to_string_lossy()
            .into_owned();
        let above = profile_dir.parent().ok_or_else(not_cargo)?;
        // The target dir root carries CACHEDIR.TAG; with --target there is a triple level.
        let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
            (above.to_path_buf(), None)
        } else {
            match above.parent() {
                Some(root) if root.join("CACHEDIR.TAG").exists() => (
                    root.to_path_buf(),
                    above.file_name().map(|t| t.to_string_lossy().into_owned()),
                ),
                _ => (above.to_path_buf(), None),
            }
        };
        Ok(TargetLayout {
            target_dir,
            triple,
            profile_dir,
            profile,
        })
    }

    fn profile_args(&self) -> Vec<String> {
        match self.profile.as_str() {
            "debug" => vec!["--profile".into(), "dev".into()],
            "release" => vec!["--release".into()],
            other => vec!["--profile".into(), other.into()],
        }
    }
}

fn copy_for_test_user(source: &Path) -> Result<BurrowBinary, String> {
    let temp = fsutil::temp_base();
    remove_stale_copies(&temp);
    let dir = temp.join(format!("{COPY_DIR_PREFIX}{}", std::process::id()));
    let fail = |what: &str, e: std::io::Error| format!("{what} {}: {e}", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| fail("cannot clear", e))?;
    }
    std::fs::create_dir(&dir).map_err(|e| fail("cannot create", e))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("cannot chmod", e))?;
    let burrow = dir.join("burrow");
    std::fs::copy(source, &burrow).map_err(|e| {
        format!(
            "cannot copy {} to {}: {e}",
            source.display(),
            burrow.display()
        )
    })?;
    std::fs::set_permissions(&burrow, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("cannot chmod the binary in", e))?;
    let burrow_oci = dir.join("burrow-oci");
    std::os::unix::fs::symlink("burrow", &burrow_oci)
        .map_err(|e| fail("cannot create the burrow-oci symlink in", e))?;
    let burrow_slirp = dir.join("burrow-slirp");
    std::os::unix::fs::symlink("burrow", &burrow_slirp)
        .map_err(|e| fail("cannot create the burrow-slirp symlink in", e))?;
    Ok(BurrowBinary {
        burrow,
        burrow_oci,
        burrow_slirp,
    })
}

/// Removes `burrow-e2e-bin-<pid>` dirs whose test process is gone.
fn remove_stale_copies(temp: &Path) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(COPY_DIR_PREFIX)) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_a_plain_target_dir() {
        let temp = std::env::temp_dir().join(crate::unique_name("layout"));
        std::fs::create_dir_all(temp.join("release/deps")).unwrap();
        std::fs::write(temp.join("CACHEDIR.TAG"), "").unwrap();
        let layout = TargetLayout::from_test_exe(&temp.join("release/deps/oci-1234")).unwrap();
        assert_eq!(layout.target_dir, temp);
        assert_eq!(layout.triple, None);
        assert_eq!(layout.profile_args(), vec!["--release".to_string()]);
        std::fs::remove_dir_all(&temp).unwrap();
    }

    #[test]
    fn layout_with_a_target_triple() {
        let temp = std::env::temp_dir().join(crate::unique_name("layout"));
        std::fs::create_dir_all(temp.join("x86_64-unknown-linux-gnu/debug/deps")).unwrap();
        std::fs::write(temp.join("CACHEDIR.TAG"), "").unwrap();
        let exe = temp.join("x86_64-unknown-linux-gnu/debug/deps/oci-1234");
        let layout = TargetLayout::from_test_exe(&exe).unwrap();
        assert_eq!(layout.target_dir, temp);
        assert_eq!(layout.triple.as_deref(), Some("x86_64-unknown-linux-gnu"));
        assert_eq!(
            layout.profile_args(),
            vec!["--profile".to_string(), "dev".to_string()]
        );
        std::fs::remove_dir_all(&temp).unwrap();
    }
}
