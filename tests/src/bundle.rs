//! OCI bundles built from the host's static busybox.
//!
//! The rootfs holds `bin/busybox` with a symlink per applet it reports (`busybox --list`),
//! `etc/passwd` and `etc/group` with root and nobody, empty `dev`, `proc`, `sys`, a 1777
//! `tmp` and `root`, all owned by the test user (container root under every mapping the
//! tests use). `config.json` is what the runtime's own `spec --rootless` writes, run as the
//! test user in the bundle dir (so the id mappings name that user), with three changes:
//! no terminal, a writable root (tests that want a read-only one say so), and the
//! sandbox marker in `process.env` so container processes can be found and killed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::fsutil;
use crate::procfs::MARKER_VAR;
use crate::sandbox::Sandbox;
use crate::spec::Spec;
use crate::user::TestUser;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnobody:x:65534:\n";

pub struct Bundle {
    dir: PathBuf,
    user: &'static TestUser,
}

impl Bundle {
    pub(crate) fn create(sandbox: &Sandbox, label: &str) -> Bundle {
        let user = sandbox.user();
        let dir = sandbox.dir().join("bundles").join(label);
        if dir.exists() {
            panic!("bundle {label} already exists in this sandbox");
        }
        fsutil::make_dir(&dir, 0o755, user);
        let bundle = Bundle { dir, user };
        populate_busybox_rootfs(&bundle.rootfs(), user);
        bundle.generate_spec(sandbox);
        bundle.edit(|spec| {
            spec.terminal(false)
                .readonly_root(false)
                .env(MARKER_VAR, sandbox.token());
        });
        bundle
    }

    fn generate_spec(&self, sandbox: &Sandbox) {
        let output = sandbox
            .oci_without_root(["spec", "--rootless"])
            .current_dir(&self.dir)
            .run();
        if !output.success() || !self.config_path().is_file() {
            panic!(
                "`{} spec --rootless` did not write config.json: {output}",
                sandbox.runtime().name()
            );
        }
    }

    /// The bundle directory (what `--bundle` takes).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// The current config.json.
    pub fn spec(&self) -> Spec {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Spec::from_json(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }

    pub fn write_spec(&self, spec: &Spec) {
        fsutil::write_file(&self.config_path(), spec.to_json(), 0o644, self.user);
    }

    /// Reads config.json, applies `change`, writes it back.
    pub fn edit(&self, change: impl FnOnce(&mut Spec)) -> &Bundle {
        let mut spec = self.spec();
        change(&mut spec);
        self.write_spec(&spec);
        self
    }

    /// Writes a file into the rootfs (parents created), owned by the test user.
    pub fn write_rootfs_file(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.rootfs().join(relative.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            fsutil::make_dir(parent, 0o755, self.user);
        }
        fsutil::write_file(&path, contents, 0o644, self.user);
        path
    }

    /// Creates a directory in the rootfs, owned by the test user.
    pub fn make_rootfs_dir(&self, relative: &str) -> PathBuf {
        let path = self.rootfs().join(relative.trim_start_matches('/'));
        fsutil::make_dir(&path, 0o755, self.user);
        path
    }
}

/// Fills `rootfs` with busybox, its applet links and a minimal /etc, owned by `user`.
pub fn populate_busybox_rootfs(rootfs: &Path, user: &TestUser) {
    let busybox = host_busybox();
    for (dir, mode) in [
        ("", 0o755),
        ("bin", 0o755),
        ("etc", 0o755),
        ("dev", 0o755),
        ("proc", 0o755),
        ("sys", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
    ] {
        fsutil::make_dir(&rootfs.join(dir), mode, user);
    }
    let target = rootfs.join("bin/busybox");
    std::fs::copy(&busybox.path, &target)
        .unwrap_or_else(|e| panic!("cannot copy {}: {e}", busybox.path.display()));
    fsutil::set_mode(&target, 0o755);
    for applet in &busybox.applets {
        let link = rootfs.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            std::os::unix::fs::symlink("busybox", &link)
                .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
        }
    }
    fsutil::write_file(&rootfs.join("etc/passwd"), PASSWD, 0o644, user);
    fsutil::write_file(&rootfs.join("etc/group"), GROUP, 0o644, user);
    fsutil::give_tree_to_user(rootfs, user);
}

/// The host's busybox and its applet names.
pub struct HostBusybox {
    pub path: PathBuf,
    pub applets: Vec<String>,
}

/// `BURROW_TEST_BUSYBOX`, else /bin/busybox or /usr/bin/busybox; it must be static (the
/// rootfs has no libc). Panics with the package to install otherwise.
pub fn host_busybox() -> &'static HostBusybox {
    static BUSYBOX: OnceLock<Result<HostBusybox, String>> = OnceLock::new();
    match BUSYBOX.get_or_init(find_busybox) {
        Ok(busybox) => busybox,
        Err(message) => panic!("{message}"),
    }
}

fn find_busybox() -> Result<HostBusybox, String> {
    let candidates: Vec<PathBuf> = std::env::var_os("BURROW_TEST_BUSYBOX")
        .map(|p| vec![PathBuf::from(p)])
        .unwrap_or_else(|| vec!["/bin/busybox".into(), "/usr/bin/busybox".into()]);
    let path = candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or("busybox is not installed: install busybox-static (.ci/run does)".to_string())?;
    let elf = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if has_interpreter(&elf) {
        return Err(format!(
            "{} is dynamically linked: install busybox-static (.ci/run does)",
            path.display()
        ));
    }
    let output = std::process::Command::new(&path)
        .arg("--list")
        .output()
        .map_err(|e| format!("cannot run {} --list: {e}", path.display()))?;
    let applets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !output.status.success() || applets.is_empty() {
        return Err(format!("{} --list printed no applets", path.display()));
    }
    Ok(HostBusybox { path, applets })
}

/// Whether a 64-bit little-endian ELF image has a PT_INTERP program header (is dynamic).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let read_u16 = |at: usize| {
        elf.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let read_u32 = |at: usize| {
        elf.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let read_u64 = |at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    if elf.get(..5) != Some(b"\x7fELF\x02") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) =
        (read_u64(0x20), read_u16(0x36), read_u16(0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        let at = phoff as usize + i * usize::from(phentsize);
        read_u32(at) == Some(PT_INTERP)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static_and_has_the_applets_tests_use() {
        let busybox = host_busybox();
        for applet in [
            "sh", "cat", "id", "hostname", "ls", "sleep", "mkdir", "touch", "tty",
        ] {
            assert!(
                busybox.applets.iter().any(|a| a == applet),
                "no {applet} applet"
            );
        }
    }

    #[test]
    fn dynamic_binaries_have_an_interpreter() {
        let sh = std::fs::read("/bin/sh").expect("read /bin/sh");
        assert!(
            has_interpreter(&sh),
            "/bin/sh is expected to be dynamically linked"
        );
        assert!(!has_interpreter(b"not an elf"));
    }
}
