//! Archives against skopeo as the oracle: docker-archive and oci-archive tarballs
//! written by skopeo load into burrow's store with the same image id and files, and
//! the archives burrow saves are read by skopeo (inspect and copy). Plus `import` of a
//! busybox rootfs tarball.

mod image_support;

use std::fs::File;

use burrow_image::archive::{self, ArchiveFormat};
use burrow_image::digest::Digest;
use burrow_image::manifest::Compression;
use burrow_image::testing::{compress, LayerBuilder, TarUnpacker};
use burrow_image::{Platform, Reference};
use burrow_tests::Sandbox;
use image_support::*;

fn skopeo(sandbox: &Sandbox, args: &[&str]) -> burrow_tests::Output {
    let out = sandbox
        .command("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .timeout(std::time::Duration::from_secs(120))
        .run();
    out.assert_success();
    out
}

/// skopeo as the test process's own user: the one that saved the archive (burrow
/// writes entries owned by the saving user, and skopeo extracts an oci-archive with
/// those owners).
fn skopeo_as_saver(args: &[&str]) -> String {
    let out = std::process::Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run skopeo: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn archives_written_by_skopeo_load_with_the_same_image() {
    let sandbox = Sandbox::new("image-load");
    let image = busybox_image("load", true);
    let layout = sandbox.dir().join("layout");
    image.write_dir_layout(&layout).unwrap();
    burrow_tests::fsutil::give_tree_to_user(&layout, sandbox.user());
    let source = format!("dir:{}", layout.display());
    for (transport, file) in [("docker-archive", "d.tar"), ("oci-archive", "o.tar")] {
        let path = sandbox.dir().join(file);
        let destination = format!("{transport}:{}:example.com/load/app:v1", path.display());
        skopeo(&sandbox, &["copy", "--quiet", &source, &destination]);
        let store = store(&sandbox, transport);
        let archive = File::open(&path).unwrap();
        let loaded = archive::load(&store, archive, &Platform::default(), &TarUnpacker)
            .unwrap_or_else(|e| panic!("load {transport}: {e}"));
        assert_eq!(loaded.len(), 1, "{transport}");
        // skopeo converts the Docker config to OCI for an oci-archive: same layers,
        // another config digest.
        let config = store.read_blob(&loaded[0].id).unwrap();
        let summary = burrow_image::manifest::ConfigSummary::parse(&config).unwrap();
        let diff_ids: Vec<Digest> = image.layers.iter().map(|l| l.2.clone()).collect();
        assert_eq!(summary.diff_ids, diff_ids, "{transport}");
        if transport == "docker-archive" {
            assert_eq!(loaded[0].id, image.config_digest());
            assert_eq!(loaded[0].names, vec!["example.com/load/app:v1".to_string()]);
        }
        let layers = layer_dirs(&store, &loaded[0].layers);
        assert_eq!(
            read(&layers[0].join("bin/busybox")),
            busybox(),
            "{transport}"
        );
        assert!(layers[1].join("etc/.wh.doomed").exists(), "{transport}");
        assert!(store.temp_entries().unwrap().is_empty());
    }
}

#[test]
fn archives_saved_by_burrow_are_read_by_skopeo() {
    let sandbox = Sandbox::new("image-save");
    let rootfs = LayerBuilder::new()
        .dir("bin", 0o755)
        .file("bin/busybox", &busybox(), 0o755)
        .symlink("bin/sh", "busybox")
        .finish();
    let store = store(&sandbox, "s");
    let name = Reference::parse("example.com/save/app:v2").unwrap();
    let image = archive::import(
        &store,
        &compress(&rootfs, Compression::Gzip)[..],
        Some(&name),
        &TarUnpacker,
    )
    .unwrap_or_else(|e| panic!("import: {e}"));
    let diff_id = Digest::sha256_of(&rootfs);
    assert_eq!(store.layer(&image.layers[0]).unwrap().diff_id, diff_id);
    assert_eq!(
        read(&store.layer_path(&image.layers[0]).join("bin/busybox")),
        busybox()
    );
    for (format, transport) in [
        (ArchiveFormat::DockerArchive, "docker-archive"),
        (ArchiveFormat::OciArchive, "oci-archive"),
    ] {
        let path = sandbox.dir().join(format!("{transport}.tar"));
        let file = File::create(&path).unwrap();
        archive::save(&store, &[&name.to_string()], format, file)
            .unwrap_or_else(|e| panic!("save {transport}: {e}"));
        burrow_tests::fsutil::give_to_user(&path, sandbox.user());
        let reference = format!("{transport}:{}", path.display());
        let inspect = skopeo_as_saver(&["inspect", "--config", &reference]);
        assert!(inspect.contains(&diff_id.to_string()), "{inspect}");
        let copy = sandbox.dir().join(format!("copy-{transport}"));
        skopeo_as_saver(&[
            "copy",
            "--quiet",
            &reference,
            &format!("dir:{}", copy.display()),
        ]);
        // Loading our own archive again gives the same image.
        let again = store_for(&sandbox, transport);
        let loaded = archive::load(
            &again,
            File::open(&path).unwrap(),
            &Platform::default(),
            &TarUnpacker,
        )
        .unwrap_or_else(|e| panic!("reload {transport}: {e}"));
        assert_eq!(loaded[0].id, image.id);
        assert_eq!(loaded[0].names, vec![name.to_string()]);
    }
}

fn store_for(sandbox: &Sandbox, label: &str) -> burrow_image::Store {
    store(sandbox, &format!("again-{label}"))
}
