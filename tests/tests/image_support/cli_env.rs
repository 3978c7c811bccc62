//! The `burrow` CLI as the test user with a private HOME and XDG_CONFIG_HOME
//! in the sandbox, so the machine user's credentials and registry
//! configuration are never read; a store per label.

use std::path::{Path, PathBuf};

use burrow_tests::runtime::Runtime;
use burrow_tests::{Cmd, Sandbox};

/// A sandbox with a private HOME and config folder for burrow.
pub struct Env {
    pub sandbox: Sandbox,
    pub home: PathBuf,
    pub config: PathBuf,
}

impl Env {
    pub fn new(label: &str) -> Env {
        let sandbox = Sandbox::new(label);
        let home = sandbox.make_dir("home");
        let config = sandbox.make_dir("home/config");
        Env {
            sandbox,
            home,
            config,
        }
    }

    /// `burrow --root ROOT ARGS…` with the private HOME and XDG_CONFIG_HOME.
    pub fn burrow_at<I, S>(&self, root: &Path, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.sandbox
            .command(Runtime::burrow().program())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .env("PATH", self.path())
            .arg("--root")
            .arg(root)
            .args(args)
    }

    /// The usual PATH with the sandbox's `bin` (credential helpers) first.
    pub fn path(&self) -> String {
        format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.sandbox.dir().join("bin").display()
        )
    }

    /// Writes an executable script `bin/NAME` for the test user.
    pub fn write_script(&self, name: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        self.sandbox.make_dir("bin");
        let path = self.sandbox.write_file(&format!("bin/{name}"), text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        path
    }

    pub fn burrow<I, S>(&self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.burrow_at(&self.sandbox.engine_root(), args)
    }

    pub fn store(&self, label: &str) -> PathBuf {
        self.sandbox.dir().join(format!("store-{label}"))
    }

    pub fn image_id(&self, root: &Path, name: &str) -> String {
        let out = self
            .burrow_at(root, ["image", "inspect", "--format", "{{.Id}}", name])
            .run();
        out.assert_success();
        out.stdout_trimmed().to_string()
    }

    pub fn image_count(&self, root: &Path) -> usize {
        let out = self.burrow_at(root, ["images", "-q"]).run();
        out.assert_success();
        out.stdout_lines().len()
    }

    pub fn leftover_temps(&self, root: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(root.join("images-store/tmp"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}
