//! `commit` keeps hard links and extended attributes, and `save` → `load` keeps them
//! too: a container makes a second name for a file that carries a `user.*` xattr and a
//! file capability (`security.capability`, from the image), and a hard link between two
//! new files; the committed layer tar has hard-link entries (not second copies) and PAX
//! `SCHILY.xattr.*` records; a container of the committed image sees one inode with
//! two links for each pair; the unpacked layer on disk has the attributes back.

mod image_support;

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use burrow_image::manifest::Compression;
use burrow_image::testing::TestImage;
use burrow_tests::runtime::Runtime;
use burrow_tests::{unique_name, Cmd, Sandbox};
use image_support::{base_layer, skopeo_push, Registry};

/// `cap_net_raw=ep` as a v2 `vfs_cap_data` (what setcap writes).
const CAP_NET_RAW_EP: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// A layer with `data/capfile` carrying `user.test` and a capability, and the busybox
/// applets the test needs.
fn xattr_layer() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut append = |kind: tar::EntryType, path: &str, link: Option<&str>, body: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o755);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        header.set_size(body.len() as u64);
        if let Some(link) = link {
            header.set_link_name(link).unwrap_or_else(|e| panic!("{e}"));
        }
        header.set_path(path).unwrap_or_else(|e| panic!("{e}"));
        header.set_cksum();
        builder
            .append(&header, body)
            .unwrap_or_else(|e| panic!("{e}"));
    };
    for applet in ["ln", "touch", "stat"] {
        append(
            tar::EntryType::Symlink,
            &format!("bin/{applet}"),
            Some("busybox"),
            b"",
        );
    }
    append(tar::EntryType::Directory, "data", None, b"");
    builder
        .append_pax_extensions([
            ("SCHILY.xattr.user.test", &b"hello"[..]),
            ("SCHILY.xattr.security.capability", &CAP_NET_RAW_EP[..]),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(1_700_000_000);
    header.set_size(4);
    builder
        .append_data(&mut header, "data/capfile", &b"cap\n"[..])
        .unwrap_or_else(|e| panic!("{e}"));
    builder.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

fn burrow(sandbox: &Sandbox, root: &Path) -> Cmd {
    sandbox
        .command(Runtime::burrow().program())
        .arg("--root")
        .arg(root)
}

/// What a layer tar says of one path.
#[derive(Debug, Default)]
struct Entry {
    kind: Option<tar::EntryType>,
    link: Option<PathBuf>,
    xattrs: Vec<(String, Vec<u8>)>,
}

fn entries(tar_bytes: &[u8]) -> Vec<(PathBuf, Entry)> {
    let mut archive = tar::Archive::new(tar_bytes);
    let mut out = Vec::new();
    for entry in archive.entries().unwrap_or_else(|e| panic!("{e}")) {
        let mut entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let path = entry.path().unwrap_or_else(|e| panic!("{e}")).into_owned();
        let mut xattrs = Vec::new();
        if let Ok(Some(extensions)) = entry.pax_extensions() {
            for extension in extensions.flatten() {
                if let Some(name) = extension.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((
                        String::from_utf8_lossy(name).into_owned(),
                        extension.value_bytes().to_vec(),
                    ));
                }
            }
        }
        let link = entry.link_name().ok().flatten().map(|l| l.into_owned());
        let kind = Some(entry.header().entry_type());
        let mut sink = Vec::new();
        let _ = entry.read_to_end(&mut sink);
        out.push((path, Entry { kind, link, xattrs }));
    }
    out
}

fn find<'a>(entries: &'a [(PathBuf, Entry)], path: &str) -> &'a Entry {
    entries
        .iter()
        .find(|(p, _)| p == Path::new(path))
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("{path} not in the layer: {entries:#?}"))
}

/// The value of xattr `name` of `path` (as root, on the host).
fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let c_path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let c_name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and the buffer is as long as we say.
    let len = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

/// The unpacked layer folder of the store at `root` that holds `relative`.
fn layer_with(root: &Path, relative: &str) -> PathBuf {
    let layers = root.join("images-store/layers");
    std::fs::read_dir(&layers)
        .unwrap_or_else(|e| panic!("{}: {e}", layers.display()))
        .flatten()
        .map(|e| e.path().join("diff").join(relative))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no layer holds {relative}"))
}

/// `stat -c '%i %h'` of both names in a container of `image`: same inode, 2 links.
fn assert_one_inode(sandbox: &Sandbox, root: &Path, image: &str, a: &str, b: &str) {
    let out = burrow(sandbox, root)
        .args(["run", "--rm", "--network", "none", image])
        .args(["stat", "-c", "%i %h", a, b])
        .run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], lines[1], "{a} and {b} are one inode: {out}");
    assert!(lines[0].ends_with(" 2"), "link count 2: {out}");
}

#[test]
fn commit_and_save_load_keep_hard_links_and_xattrs() {
    let sandbox = Sandbox::new("commit-links");
    let registry = Registry::start(&sandbox, "r", None);
    let image = TestImage::new(
        vec![
            (base_layer(), Compression::Gzip),
            (xattr_layer(), Compression::Gzip),
        ],
        false,
    );
    skopeo_push(&sandbox, &image, &registry, "links/base:1");
    let remote = format!("{}/links/base:1", registry.host);
    let root = sandbox.dir().join("store");
    burrow(&sandbox, &root)
        .args(["pull", "-q", &remote])
        .run()
        .assert_success();
    let pulled = layer_with(&root, "data/capfile");
    assert_eq!(xattr(&pulled, "user.test").as_deref(), Some(&b"hello"[..]));
    let with_cap = xattr(&pulled, "security.capability").is_some();
    if !with_cap {
        eprintln!("note: the kernel refused the file capability on unpack; not checked");
    }

    let name = unique_name("linker");
    burrow(&sandbox, &root)
        .args([
            "run",
            "--name",
            &name,
            "--network",
            "none",
            &remote,
            "sh",
            "-c",
        ])
        .arg(
            "touch /data/capfile && ln /data/capfile /data/twin && \
             echo made > /data/new && ln /data/new /data/new2",
        )
        .run()
        .assert_success();
    burrow(&sandbox, &root)
        .args(["commit", &name, "links/committed:1"])
        .run()
        .assert_success();

    // The layer blob (uncompressed: its digest is the last diff id).
    let out = burrow(&sandbox, &root)
        .args(["image", "inspect", "--format", "{{json .RootFS.Layers}}"])
        .arg("links/committed:1")
        .run();
    out.assert_success();
    let layers: Vec<String> = serde_json::from_str(out.stdout_trimmed()).unwrap_or_default();
    let top = layers.last().unwrap_or_else(|| panic!("no layers: {out}"));
    let hex = top.trim_start_matches("sha256:");
    let blob = std::fs::read(root.join("images-store/blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("layer blob {top}: {e}"));
    let listed = entries(&blob);
    let first = find(&listed, "data/capfile");
    assert_eq!(first.kind, Some(tar::EntryType::Regular), "{listed:#?}");
    assert!(
        first
            .xattrs
            .contains(&("user.test".to_string(), b"hello".to_vec())),
        "user.test is a PAX record: {first:?}"
    );
    if with_cap {
        assert!(
            first
                .xattrs
                .contains(&("security.capability".to_string(), CAP_NET_RAW_EP.to_vec())),
            "the capability is a PAX record as the container saw it: {first:?}"
        );
    }
    let twin = find(&listed, "data/twin");
    assert_eq!(twin.kind, Some(tar::EntryType::Link), "{twin:?}");
    assert_eq!(twin.link.as_deref(), Some(Path::new("data/capfile")));
    let new2 = find(&listed, "data/new2");
    assert_eq!(new2.kind, Some(tar::EntryType::Link), "{new2:?}");
    assert_eq!(new2.link.as_deref(), Some(Path::new("data/new")));

    assert_one_inode(
        &sandbox,
        &root,
        "links/committed:1",
        "/data/capfile",
        "/data/twin",
    );
    assert_one_inode(
        &sandbox,
        &root,
        "links/committed:1",
        "/data/new",
        "/data/new2",
    );
    let committed = layer_with(&root, "data/twin");
    assert_eq!(
        xattr(&committed, "user.test").as_deref(),
        Some(&b"hello"[..])
    );

    // save → load into another store: the same.
    let archive = sandbox.dir().join("committed.tar");
    burrow(&sandbox, &root)
        .args(["save", "-o"])
        .arg(&archive)
        .arg("links/committed:1")
        .run()
        .assert_success();
    let other = sandbox.dir().join("other");
    burrow(&sandbox, &other)
        .args(["load", "-i"])
        .arg(&archive)
        .run()
        .assert_success();
    assert_one_inode(
        &sandbox,
        &other,
        "links/committed:1",
        "/data/capfile",
        "/data/twin",
    );
    assert_one_inode(
        &sandbox,
        &other,
        "links/committed:1",
        "/data/new",
        "/data/new2",
    );
    let loaded = layer_with(&other, "data/twin");
    assert_eq!(xattr(&loaded, "user.test").as_deref(), Some(&b"hello"[..]));
    if with_cap {
        assert!(xattr(&loaded, "security.capability").is_some());
    }
    burrow(&sandbox, &root)
        .args(["rm", &name])
        .run()
        .assert_success();
}
