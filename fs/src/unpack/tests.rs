//! Unpacking tests, including hostile archives built here byte by byte (the `tar` crate's
//! own builder refuses the names an attacker would use, so headers are written raw).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;
use crate::ownership::{OverrideStat, OVERRIDE_STAT_XATTR};

/// Builds a tar with raw header names (no validation) in memory.
#[derive(Default)]
struct TarBuilder {
    bytes: Vec<u8>,
}

impl TarBuilder {
    fn entry(&mut self, name: &str, kind: tar::EntryType, mode: u32, link: &str, data: &[u8]) {
        let mut header = tar::Header::new_ustar();
        {
            let raw = header.as_old_mut();
            raw.name[..name.len()].copy_from_slice(name.as_bytes());
            raw.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_000_000_000);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.bytes.extend_from_slice(header.as_bytes());
        self.bytes.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
    }
    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(name, tar::EntryType::Directory, mode, "", b"");
        self
    }
    fn file(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.entry(name, tar::EntryType::Regular, mode, "", data);
        self
    }
    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Symlink, 0o777, target, b"");
        self
    }
    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Link, 0o644, target, b"");
        self
    }
    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.bytes);
        out.extend(std::iter::repeat_n(0u8, 1024));
        out
    }
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }
    /// Names in the scratch dir other than `outside`, to prove nothing else appeared.
    fn leftovers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "outside")
            .collect();
        names.sort();
        names
    }
}

fn unpack(scratch: &Scratch, tar: &[u8]) -> Result<UnpackReport, UnpackError> {
    unpack_layer(tar, &scratch.layer(), &UnpackOptions::default())
}

#[test]
fn plain_tar_unpacks_files_dirs_links_and_modes() {
    let scratch = Scratch::new();
    let tar = TarBuilder::default()
        .dir("./", 0o755)
        .dir("etc/", 0o755)
        .file("etc/hostname", 0o644, b"burrow\n")
        .file("usr/bin/su", 0o4755, b"#!/bin/sh\n")
        .symlink("bin", "usr/bin")
        .hardlink("etc/hostname2", "etc/hostname")
        .dir("ro/", 0o555)
        .file("ro/inside", 0o444, b"x")
        .finish();
    let report = unpack(&scratch, &tar).unwrap();
    assert_eq!(report.entries, 8);
    let layer = scratch.layer();
    assert_eq!(
        std::fs::read(layer.join("etc/hostname")).unwrap(),
        b"burrow\n"
    );
    assert_eq!(
        std::fs::read_link(layer.join("bin")).unwrap(),
        Path::new("usr/bin")
    );
    let a = std::fs::metadata(layer.join("etc/hostname")).unwrap();
    let b = std::fs::metadata(layer.join("etc/hostname2")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard link is one inode");
    let su = std::fs::metadata(layer.join("usr/bin/su")).unwrap();
    // The setuid bit survives on disk, or is recorded when the owner could not be kept.
    let recorded = crate::sys::lgetxattr(&layer.join("usr/bin/su"), OVERRIDE_STAT_XATTR).unwrap();
    match recorded {
        Some(raw) => assert_eq!(OverrideStat::parse(&raw).unwrap().mode, 0o4755),
        None => assert_eq!(su.permissions().mode() & 0o7777, 0o4755),
    }
    assert_eq!(su.mtime(), 1_000_000_000);
    let ro = std::fs::metadata(layer.join("ro")).unwrap();
    assert_eq!(ro.permissions().mode() & 0o777 & !0o200, 0o555);
    assert_eq!(scratch.leftovers(), vec!["layer".to_string()]);
}

#[test]
fn owners_that_cannot_be_set_go_to_the_override_xattr() {
    if rustix::process::geteuid().is_root() {
        // Root can chown to anything; the xattr path is for rootless unpacking.
        return;
    }
    let scratch = Scratch::new();
    let tar = TarBuilder::default()
        .file("f", 0o4750, b"x")
        .dir("d/", 0o700)
        .finish();
    let report = unpack(&scratch, &tar).unwrap();
    assert_eq!(report.overridden, 2);
    for (name, mode) in [("f", 0o4750), ("d", 0o700)] {
        let raw = crate::sys::lgetxattr(&scratch.layer().join(name), OVERRIDE_STAT_XATTR)
            .unwrap()
            .expect("override record");
        let record = OverrideStat::parse(&raw).unwrap();
        assert_eq!(
            (record.uid, record.gid, record.mode),
            (0, 0, mode),
            "{name}"
        );
    }
}

#[test]
fn gzip_and_zstd_are_detected() {
    let tar = TarBuilder::default().file("a", 0o644, b"hello").finish();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(&tar[..], 1).unwrap();
    for blob in [gz, zst] {
        let scratch = Scratch::new();
        unpack(&scratch, &blob).unwrap();
        assert_eq!(std::fs::read(scratch.layer().join("a")).unwrap(), b"hello");
    }
}

#[test]
fn whiteouts_are_kept_in_oci_form() {
    let scratch = Scratch::new();
    let tar = TarBuilder::default()
        .file("etc/.wh.motd", 0o644, b"")
        .file("var/.wh..wh..opq", 0o644, b"")
        .finish();
    unpack(&scratch, &tar).unwrap();
    assert!(scratch.layer().join("etc/.wh.motd").is_file());
    assert!(scratch.layer().join("var/.wh..wh..opq").is_file());
}

fn assert_refused(tar: Vec<u8>, expect: impl Fn(&UnpackError) -> bool) {
    let scratch = Scratch::new();
    let outside = scratch.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let error = unpack(&scratch, &tar).expect_err("hostile archive accepted");
    assert!(expect(&error), "unexpected error: {error}");
    assert!(!error.to_string().is_empty());
    assert_eq!(
        std::fs::read(outside.join("victim")).unwrap(),
        b"original",
        "file outside the layer changed"
    );
    let outside_names: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert_eq!(outside_names.len(), 1, "something was written outside");
    assert!(
        scratch.leftovers().is_empty(),
        "left behind: {:?}",
        scratch.leftovers()
    );
}

#[test]
fn dotdot_is_refused() {
    assert_refused(
        TarBuilder::default()
            .file("ok", 0o644, b"")
            .file("../outside/victim", 0o644, b"pwned")
            .finish(),
        |e| matches!(e, UnpackError::DotDot { .. }),
    );
    assert_refused(
        TarBuilder::default().file("a/../../x", 0o644, b"").finish(),
        |e| matches!(e, UnpackError::DotDot { .. }),
    );
}

#[test]
fn absolute_paths_are_refused() {
    assert_refused(
        TarBuilder::default()
            .file("/tmp/burrow-pwned", 0o644, b"")
            .finish(),
        |e| matches!(e, UnpackError::AbsolutePath { .. }),
    );
}

#[test]
fn writes_through_a_symlink_that_leaves_are_refused() {
    let scratch_outside = |target: &str| {
        TarBuilder::default()
            .symlink("escape", target)
            .file("escape/victim", 0o644, b"pwned")
            .finish()
    };
    // Relative, climbing out.
    assert_refused(scratch_outside("../outside"), |e| {
        matches!(e, UnpackError::EscapesThroughSymlink { .. })
    });
    // Absolute.
    assert_refused(scratch_outside("/tmp"), |e| {
        matches!(e, UnpackError::EscapesThroughSymlink { .. })
    });
    // Chained: a symlink to a symlink that leaves.
    assert_refused(
        TarBuilder::default()
            .symlink("one", "two")
            .symlink("two", "..")
            .file("one/outside/victim", 0o644, b"pwned")
            .finish(),
        |e| matches!(e, UnpackError::EscapesThroughSymlink { .. }),
    );
}

#[test]
fn a_symlink_inside_the_layer_is_followed() {
    let scratch = Scratch::new();
    let tar = TarBuilder::default()
        .dir("usr/lib/", 0o755)
        .symlink("lib", "usr/lib")
        .file("lib/libc.so", 0o644, b"elf")
        .finish();
    unpack(&scratch, &tar).unwrap();
    assert_eq!(
        std::fs::read(scratch.layer().join("usr/lib/libc.so")).unwrap(),
        b"elf"
    );
}

#[test]
fn replacing_a_symlink_never_writes_through_it() {
    // A file entry with the name of a symlink to outside replaces the symlink.
    let scratch = Scratch::new();
    let outside = scratch.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"original").unwrap();
    let target = outside.join("victim");
    let tar = TarBuilder::default()
        .symlink("link", target.to_str().unwrap())
        .file("link", 0o644, b"pwned")
        .finish();
    unpack(&scratch, &tar).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"original");
    assert_eq!(
        std::fs::read(scratch.layer().join("link")).unwrap(),
        b"pwned"
    );
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    assert_refused(
        TarBuilder::default()
            .hardlink("h", "../outside/victim")
            .finish(),
        |e| matches!(e, UnpackError::LinkOutside { .. }),
    );
    assert_refused(
        TarBuilder::default().hardlink("h", "/etc/passwd").finish(),
        |e| matches!(e, UnpackError::LinkOutside { .. }),
    );
    assert_refused(
        TarBuilder::default()
            .symlink("s", "../outside")
            .hardlink("h", "s/victim")
            .finish(),
        |e| matches!(e, UnpackError::EscapesThroughSymlink { .. }),
    );
}

#[test]
fn a_truncated_archive_leaves_nothing() {
    let scratch = Scratch::new();
    let mut tar = TarBuilder::default()
        .file("a", 0o644, &[7u8; 4096])
        .file("b", 0o644, &[8u8; 4096])
        .finish();
    tar.truncate(512 + 1000);
    assert!(unpack(&scratch, &tar).is_err());
    assert!(scratch.leftovers().is_empty(), "{:?}", scratch.leftovers());
}

#[test]
fn an_existing_destination_is_not_overwritten() {
    let scratch = Scratch::new();
    std::fs::create_dir(scratch.layer()).unwrap();
    let tar = TarBuilder::default().file("a", 0o644, b"").finish();
    assert!(matches!(
        unpack(&scratch, &tar),
        Err(UnpackError::DestinationExists(_))
    ));
}
