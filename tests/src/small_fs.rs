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
    /// What to unmount, when not `path` itself (a subvolume of a btrfs mount).
    mount_point: Option<PathBuf>,
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
        Some(SmallFs {
            path,
            mount_point: None,
        })
    }

    /// A directory at `<sandbox>/<name>`, owned by the test user, where writes beyond
    /// `quota_kib` KiB fail with EDQUOT: a tmpfs of `size_mib` MiB with user quotas
    /// (Linux 6.6 and later, built with CONFIG_TMPFS_QUOTA), else a btrfs subvolume
    /// with a qgroup limit on a loop-mounted image (btrfs-progs). `None`, with the
    /// reason printed, where the test cannot be root or neither is available.
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
            let tmpfs = String::from_utf8_lossy(&output.stderr).trim().to_string();
            return match btrfs_with_qgroup_limit(sandbox, &path, quota_kib) {
                Ok(quota) => Some(quota),
                Err(btrfs) => {
                    eprintln!(
                        "skipped: no quota-limited filesystem here: no tmpfs with user \
                         quotas (Linux >= 6.6 with CONFIG_TMPFS_QUOTA: {tmpfs}), and no \
                         btrfs qgroup ({btrfs})"
                    );
                    None
                }
            };
        }
        fsutil::give_to_user(&path, sandbox.user());
        Some(SmallFs {
            path,
            mount_point: None,
        })
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

/// A btrfs image (128 MiB, sparse) loop-mounted at `mount_point`, with quotas on and
/// a subvolume `q` limited to `quota_kib` KiB, owned by the test user.
fn btrfs_with_qgroup_limit(
    sandbox: &Sandbox,
    mount_point: &Path,
    quota_kib: u32,
) -> Result<SmallFs, String> {
    let image = mount_point.with_extension("btrfs.img");
    let file = std::fs::File::create(&image).map_err(|e| format!("{}: {e}", image.display()))?;
    file.set_len(128 << 20)
        .map_err(|e| format!("{}: {e}", image.display()))?;
    let subvolume = mount_point.join("q");
    let limit = format!("{quota_kib}K");
    let steps: [(&str, Vec<&std::ffi::OsStr>); 5] = [
        ("mkfs.btrfs", vec!["-q".as_ref(), image.as_os_str()]),
        (
            "mount",
            vec![
                "-o".as_ref(),
                "loop".as_ref(),
                image.as_os_str(),
                mount_point.as_os_str(),
            ],
        ),
        (
            "btrfs",
            vec!["quota".as_ref(), "enable".as_ref(), mount_point.as_os_str()],
        ),
        (
            "btrfs",
            vec![
                "subvolume".as_ref(),
                "create".as_ref(),
                subvolume.as_os_str(),
            ],
        ),
        (
            "btrfs",
            vec![
                "qgroup".as_ref(),
                "limit".as_ref(),
                limit.as_ref(),
                subvolume.as_os_str(),
            ],
        ),
    ];
    for (i, (program, args)) in steps.iter().enumerate() {
        let output = Command::new(program)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if !output.status.success() {
            if i > 1 {
                let _ = Command::new("umount").arg("-l").arg(mount_point).status();
            }
            return Err(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    fsutil::give_to_user(mount_point, sandbox.user());
    fsutil::give_to_user(&subvolume, sandbox.user());
    Ok(SmallFs {
        path: subvolume,
        mount_point: Some(mount_point.to_path_buf()),
    })
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let target = self.mount_point.as_ref().unwrap_or(&self.path);
        let _ = Command::new("umount").arg("-l").arg(target).status();
    }
}
