//! A size-limited tmpfs for disk-full tests: mounted (by root, in CI) in the sandbox,
//! owned by the test user, unmounted (lazily, in case a process still holds it) on drop.
//! Without root there is no way to mount one where the test user's burrow sees it, so
//! `mount` says so and returns `None`, and the test is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fsutil;
use crate::sandbox::Sandbox;

pub struct SmallFs {
    path: PathBuf,
}

impl SmallFs {
    /// A tmpfs of `size_mib` MiB at `<sandbox>/<name>`, owned by the test user.
    pub fn mount(sandbox: &Sandbox, name: &str, size_mib: u32) -> Option<SmallFs> {
        // The harness drops privileges exactly when it runs as root.
        if !sandbox.user().drop_privileges {
            eprintln!("skipped: mounting a small tmpfs needs root (CI runs the tests as root)");
            return None;
        }
        let path = sandbox.make_dir(name);
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_mib}m,mode=0755"))
            .arg("burrow-test-small")
            .arg(&path)
            .status()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            status.success(),
            "mount of a tmpfs on {} failed",
            path.display()
        );
        fsutil::give_to_user(&path, sandbox.user());
        Some(SmallFs { path })
    }

    /// A tmpfs of `size_mib` MiB at `<sandbox>/<name>` whose users may each hold at
    /// most `quota_kib` KiB (tmpfs quotas: Linux 6.6 and later, built with
    /// CONFIG_TMPFS_QUOTA), owned by the test user. `None`, with the reason printed,
    /// where the test cannot be root or the kernel has no tmpfs quotas.
    pub fn mount_with_user_quota(
        sandbox: &Sandbox,
        name: &str,
        size_mib: u32,
        quota_kib: u32,
    ) -> Option<SmallFs> {
        if !sandbox.user().drop_privileges {
            eprintln!(
                "skipped: mounting a tmpfs with quotas needs root (CI runs the tests as root)"
            );
            return None;
        }
        let path = sandbox.make_dir(name);
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!(
                "size={size_mib}m,mode=0755,usrquota,usrquota_block_hardlimit={quota_kib}k"
            ))
            .arg("burrow-test-quota")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        if !output.status.success() {
            eprintln!(
                "skipped: this kernel mounts no tmpfs with user quotas (Linux >= 6.6 with \
                 CONFIG_TMPFS_QUOTA): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            return None;
        }
        fsutil::give_to_user(&path, sandbox.user());
        Some(SmallFs { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Fills what is left with one file (written as the test user), so the next
    /// write fails with ENOSPC; returns the file, whose removal frees the space.
    pub fn fill(&self, sandbox: &Sandbox) -> PathBuf {
        let filler = self.path.join("filler");
        let _ = sandbox
            .command("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .arg("bs=64k")
            .run();
        // tmpfs may still take a few bytes into a partial page: take those too.
        let _ = sandbox
            .command("sh")
            .arg("-c")
            .arg(format!(
                "for i in $(seq 64); do echo x > {}/filler-$i || break; done",
                self.path.display()
            ))
            .run();
        filler
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
