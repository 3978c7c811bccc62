//! `pull` and `load` on a disk too small for the image: one error line naming the
//! operation and "no space left on device", a non-zero exit, and the store exactly as
//! it was (no image listed, no blob, no layer, no temp file); once space is freed, the
//! same command works in the same store.
//!
//! The store lives on a size-limited tmpfs (`SmallFs`, root only: skipped otherwise)
//! with a filler file that takes most of it; the image has one incompressible layer, so
//! neither its blob nor its unpacked tree fit beside the filler.

mod image_support;

use std::path::{Path, PathBuf};

use burrow_image::manifest::Compression;
use burrow_image::testing::{LayerBuilder, TestImage};
use burrow_tests::runtime::Runtime;
use burrow_tests::small_fs::SmallFs;
use burrow_tests::{Cmd, Sandbox};
use image_support::{skopeo_push, Registry};

/// Bytes no compressor shrinks (xorshift), so the blob is as big as the file.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// busybox, then a gzip layer holding `mib` MiB of noise.
fn big_image(mib: usize, seed: u64) -> TestImage {
    let layer = LayerBuilder::new()
        .dir("data", 0o755)
        .file("data/noise", &noise(mib << 20, seed), 0o644)
        .finish();
    TestImage::new(
        vec![
            (image_support::base_layer(), Compression::Gzip),
            (layer, Compression::Gzip),
        ],
        true,
    )
}

/// The size of `/data/noise` as a container of `image` sees it.
fn noise_size(sandbox: &Sandbox, root: &Path, image: &str) -> String {
    let out = burrow(sandbox, root)
        .args(["run", "--rm", "--network", "none", image, "ls", "-l"])
        .arg("/data/noise")
        .run();
    out.assert_success();
    out.stdout
}

fn burrow(sandbox: &Sandbox, root: &Path) -> Cmd {
    sandbox
        .command(Runtime::burrow().program())
        .arg("--root")
        .arg(root)
}

/// Every path under the store with its size (lock files aside: they are empty and
/// stay by design), to compare a store before and after a failed command.
fn contents(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out: Vec<(PathBuf, u64)> = burrow_tests::fsutil::walk(root)
        .into_iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "locks"))
        .map(|p| {
            let size =
                std::fs::symlink_metadata(&p).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
            (p.strip_prefix(root).unwrap_or(&p).to_path_buf(), size)
        })
        .collect();
    out.sort();
    out
}

/// A small fs holding a store with busybox imported, and a filler taking `filler_mib`.
struct FullStore {
    /// Unmounted on drop.
    _small: SmallFs,
    root: PathBuf,
    filler: PathBuf,
}

impl FullStore {
    fn new(sandbox: &Sandbox, size_mib: u32, filler_mib: u32) -> Option<FullStore> {
        let small = SmallFs::mount(sandbox, "small", size_mib)?;
        let root = small.path().join("store");
        burrow(sandbox, &root)
            .arg("import")
            .arg(sandbox.busybox_rootfs_tar())
            .arg("busybox")
            .run()
            .assert_success();
        let filler = small.path().join("filler");
        sandbox
            .command("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", filler.display()))
            .arg("bs=1M")
            .arg(format!("count={filler_mib}"))
            .run()
            .assert_success();
        Some(FullStore {
            _small: small,
            root,
            filler,
        })
    }

    fn free_space(&self) {
        std::fs::remove_file(&self.filler)
            .unwrap_or_else(|e| panic!("remove {}: {e}", self.filler.display()));
    }
}

fn assert_failed_cleanly(
    sandbox: &Sandbox,
    root: &Path,
    out: &burrow_tests::Output,
    operation: &str,
    before: &[(PathBuf, u64)],
) {
    assert_ne!(
        out.code(),
        Some(0),
        "{operation} on a full disk fails: {out}"
    );
    out.assert_one_line_error(&[operation, "no space left on device"]);
    let images = burrow(sandbox, root).args(["images", "-q"]).run();
    images.assert_success();
    assert_eq!(
        images.stdout_lines().len(),
        1,
        "only busybox is listed: {images}"
    );
    let after = contents(root);
    let added: Vec<_> = after.iter().filter(|e| !before.contains(e)).collect();
    let gone: Vec<_> = before.iter().filter(|e| !after.contains(e)).collect();
    assert!(
        added.is_empty() && gone.is_empty(),
        "the store is as it was before the failed {operation}: added {added:?}, gone {gone:?}"
    );
}

#[test]
fn pull_of_an_image_bigger_than_the_disk_fails_cleanly_and_works_once_space_is_freed() {
    let sandbox = Sandbox::new("full-pull");
    let registry = Registry::start(&sandbox, "r", None);
    // 16 MiB of noise: the blob fits beside the filler, its unpacked copy does not.
    let image = big_image(16, 7);
    skopeo_push(&sandbox, &image, &registry, "big/noise:1");
    let remote = format!("{}/big/noise:1", registry.host);
    let Some(store) = FullStore::new(&sandbox, 64, 36) else {
        return;
    };
    let before = contents(&store.root);

    let out = burrow(&sandbox, &store.root).args(["pull", &remote]).run();
    assert_failed_cleanly(&sandbox, &store.root, &out, "pull", &before);

    // 40 MiB of noise: the download itself runs out of space.
    let huge = big_image(40, 8);
    skopeo_push(&sandbox, &huge, &registry, "big/noise:2");
    let remote2 = format!("{}/big/noise:2", registry.host);
    let out = burrow(&sandbox, &store.root).args(["pull", &remote2]).run();
    assert_failed_cleanly(&sandbox, &store.root, &out, "pull", &before);

    store.free_space();
    burrow(&sandbox, &store.root)
        .args(["pull", "-q", &remote])
        .run()
        .assert_success();
    let listing = noise_size(&sandbox, &store.root, &remote);
    assert!(listing.contains(&(16 << 20).to_string()), "{listing}");
}

#[test]
fn load_of_an_archive_bigger_than_the_disk_fails_cleanly_and_works_once_space_is_freed() {
    let sandbox = Sandbox::new("full-load");
    // Make the archive in a store on the ordinary disk.
    let big_root = sandbox.dir().join("big-store");
    let registry = Registry::start(&sandbox, "r", None);
    let image = big_image(16, 9);
    skopeo_push(&sandbox, &image, &registry, "big/load:1");
    let remote = format!("{}/big/load:1", registry.host);
    burrow(&sandbox, &big_root)
        .args(["pull", "-q", &remote])
        .run()
        .assert_success();
    let archive = sandbox.dir().join("big.tar");
    burrow(&sandbox, &big_root)
        .args(["save", "-o"])
        .arg(&archive)
        .arg(&remote)
        .run()
        .assert_success();

    let Some(store) = FullStore::new(&sandbox, 64, 36) else {
        return;
    };
    let before = contents(&store.root);
    let out = burrow(&sandbox, &store.root)
        .args(["load", "-i"])
        .arg(&archive)
        .run();
    assert_failed_cleanly(&sandbox, &store.root, &out, "load", &before);
    // From stdin too (no file to measure first).
    let out = burrow(&sandbox, &store.root)
        .arg("load")
        .stdin(std::fs::read(&archive).unwrap_or_default())
        .run();
    assert_failed_cleanly(&sandbox, &store.root, &out, "load", &before);

    store.free_space();
    let out = burrow(&sandbox, &store.root)
        .args(["load", "-i"])
        .arg(&archive)
        .run();
    out.assert_success();
    let listing = noise_size(&sandbox, &store.root, &remote);
    assert!(listing.contains(&(16 << 20).to_string()), "{listing}");
}
