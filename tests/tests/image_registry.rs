//! Pull and push against a real registry (Debian's `docker-registry`), with skopeo as
//! the independent client: images pushed by skopeo are pulled by burrow and checked blob
//! by blob and file by file; images pushed by burrow are read back by skopeo and by a
//! fresh burrow store. Library-level: the `burrow pull` command comes with the engine.
//! Layers are unpacked by the test stand-in (`burrow_image::testing::TarUnpacker`).

mod image_support;

use std::os::unix::fs::MetadataExt;

use burrow_image::digest::Digest;
use burrow_image::progress::ProgressEvent;
use burrow_image::registry::{self, Credential, RegistryError};
use burrow_image::store::PruneOptions;
use burrow_image::testing::{flatten, TarUnpacker};
use burrow_image::{Error, Platform};
use burrow_tests::user::running_as_root;
use burrow_tests::Sandbox;
use image_support::*;

fn pull(
    client: &registry::Client,
    store: &burrow_image::Store,
    reference: &burrow_image::Reference,
) -> Result<burrow_image::ImageRecord, RegistryError> {
    registry::pull(
        client,
        store,
        reference,
        &Platform::parse("linux/amd64").unwrap(),
        &TarUnpacker,
        &burrow_image::progress::Quiet,
    )
}

#[test]
fn a_skopeo_pushed_image_pulls_back_blob_for_blob_and_file_for_file() {
    let sandbox = Sandbox::new("image-pull-skopeo");
    let registry = Registry::start(&sandbox, "r", None);
    let image = busybox_image("one", false);
    skopeo_push(&sandbox, &image, &registry, "test/busybox:one");
    let store = store(&sandbox, "a");
    let events = Events::default();
    let reference = registry.reference("test/busybox:one");
    let record = registry::pull(
        &client(None),
        &store,
        &reference,
        &Platform::default(),
        &TarUnpacker,
        &events,
    )
    .unwrap_or_else(|e| panic!("pull: {e}"));

    assert_eq!(record.id, image.config_digest());
    assert_eq!(record.manifest, image.manifest_digest());
    assert_eq!(record.names, vec![reference.to_string()]);
    assert_eq!(
        record.repo_digests,
        vec![format!(
            "{}/test/busybox@{}",
            registry.host,
            image.manifest_digest()
        )]
    );
    assert_has_blobs(&store, &image);
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Unpacked { .. })),
        3
    );

    let layers = layer_dirs(&store, &record.layers);
    let base = &layers[0];
    assert_eq!(read(&base.join("bin/busybox")), busybox());
    assert_eq!(
        std::fs::read_link(base.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    let busybox_meta = std::fs::metadata(base.join("bin/busybox")).unwrap();
    let hard = std::fs::metadata(base.join("bin/busybox-hard")).unwrap();
    assert_eq!(busybox_meta.ino(), hard.ino(), "hard link lost");
    let suid = std::fs::metadata(base.join("usr/local/suid")).unwrap();
    assert_eq!(suid.mode() & 0o7777, 0o4755, "setuid bit lost");
    assert_eq!(
        std::fs::metadata(base.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    if running_as_root() {
        let owned = std::fs::metadata(base.join("usr/local/owned-65534")).unwrap();
        assert_eq!((owned.uid(), owned.gid()), (65534, 65534));
        let owned = std::fs::metadata(base.join("usr/local/owned-1000")).unwrap();
        assert_eq!(
            (owned.uid(), owned.gid(), owned.mode() & 0o777),
            (1000, 1000, 0o640)
        );
    }
    assert!(
        layers[1].join("etc/.wh.doomed").exists(),
        "whiteout kept in its layer"
    );
    assert!(
        layers[1].join("opt/.wh..wh..opq").exists(),
        "opaque marker kept"
    );

    let view = sandbox.dir().join("view");
    flatten(&layers, &view).unwrap();
    assert!(!view.join("etc/doomed").exists(), "whiteout not applied");
    assert!(
        !view.join("opt/hidden-by-opaque").exists(),
        "opaque dir not applied"
    );
    assert_eq!(read(&view.join("opt/fresh")), b"new\n");
    assert!(String::from_utf8(read(&view.join("etc/passwd")))
        .unwrap()
        .contains("user:x:1000"));
    assert_eq!(read(&view.join("etc/image-tag")), b"one");

    // A second pull transfers nothing and unpacks nothing.
    let again = Events::default();
    registry::pull(
        &client(None),
        &store,
        &reference,
        &Platform::default(),
        &TarUnpacker,
        &again,
    )
    .unwrap_or_else(|e| panic!("second pull: {e}"));
    assert_eq!(
        again.count(|e| matches!(e, ProgressEvent::Started { .. })),
        0
    );
    assert_eq!(
        again.count(|e| matches!(e, ProgressEvent::Unpacked { .. })),
        0
    );
    assert_eq!(store.images().unwrap().len(), 1);
}

#[test]
fn burrow_push_is_read_back_by_skopeo_and_by_a_fresh_store() {
    let sandbox = Sandbox::new("image-push");
    let registry = Registry::start(&sandbox, "r", None);
    let image = busybox_image("push", true);
    skopeo_push(&sandbox, &image, &registry, "src/app:1");
    let first = store(&sandbox, "first");
    pull(&client(None), &first, &registry.reference("src/app:1")).unwrap_or_else(|e| panic!("{e}"));

    let destination = registry.reference("dst/app:2");
    let events = Events::default();
    let source = registry.reference("src/app:1").to_string();
    let digest = registry::push(&client(None), &first, &source, &destination, &events)
        .unwrap_or_else(|e| panic!("push: {e}"));
    assert_eq!(digest, image.manifest_digest());
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Started { .. })),
        4
    );
    assert_eq!(
        skopeo_raw_manifest(&sandbox, &registry, "dst/app:2"),
        image.manifest
    );

    // Pushing again finds every blob there already.
    let again = Events::default();
    registry::push(
        &client(None),
        &first,
        &image.config_digest().to_string(),
        &destination,
        &again,
    )
    .unwrap_or_else(|e| panic!("second push: {e}"));
    assert_eq!(
        again.count(|e| matches!(e, ProgressEvent::Exists { .. })),
        4
    );
    assert_eq!(
        again.count(|e| matches!(e, ProgressEvent::Started { .. })),
        0
    );

    let second = store(&sandbox, "second");
    let record = pull(&client(None), &second, &destination).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.manifest, image.manifest_digest());
    assert_has_blobs(&second, &image);
    let out = sandbox
        .command("skopeo")
        .args(["--insecure-policy", "inspect", "--tls-verify=false"])
        .arg(format!("docker://{}/dst/app:2", registry.host))
        .run();
    out.assert_success();
    for (blob, _, _) in &image.layers {
        assert!(
            out.stdout.contains(&Digest::sha256_of(blob).to_string()),
            "{out}"
        );
    }
}

#[test]
fn an_index_resolves_to_the_requested_platform() {
    let sandbox = Sandbox::new("image-index");
    let registry = Registry::start(&sandbox, "r", None);
    let amd64 = busybox_image("amd64", false);
    let arm64 = burrow_image::testing::TestImage::new(
        vec![(
            top_layer("arm64"),
            burrow_image::manifest::Compression::Gzip,
        )],
        false,
    );
    let index_digest = push_index(
        &sandbox,
        &registry,
        "multi/app:1",
        &[(&arm64, "arm64"), (&amd64, "amd64")],
    );

    let reference = registry.reference("multi/app:1");
    let pick = |platform: &str, label: &str| {
        let store = store(&sandbox, label);
        let result = registry::pull(
            &client(None),
            &store,
            &reference,
            &Platform::parse(platform).unwrap(),
            &TarUnpacker,
            &burrow_image::progress::Quiet,
        );
        (result, store)
    };
    let (amd, _) = pick("linux/amd64", "amd");
    let amd = amd.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(amd.id, amd64.config_digest());
    assert_eq!(amd.index, Some(index_digest.clone()));
    assert!(amd.repo_digests[0].ends_with(&index_digest.to_string()));
    let (arm, _) = pick("linux/arm64", "arm");
    assert_eq!(
        arm.unwrap_or_else(|e| panic!("{e}")).id,
        arm64.config_digest()
    );
    let (none, store) = pick("linux/s390x", "none");
    let message = none.unwrap_err().to_string();
    assert!(
        message.contains("linux/s390x") && message.contains("linux/arm64"),
        "{message}"
    );
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));
}

#[test]
fn basic_auth_registry_needs_the_right_login() {
    let sandbox = Sandbox::new("image-auth");
    let registry = Registry::start(&sandbox, "auth", Some(("alice", "s3cret")));
    let image = busybox_image("auth", false);
    let layout = sandbox.dir().join("layout");
    image.write_dir_layout(&layout).unwrap();
    burrow_tests::fsutil::give_tree_to_user(&layout, sandbox.user());
    skopeo_copy(
        &sandbox,
        &format!("dir:{}", layout.display()),
        &registry,
        "private/app:1",
        &["--dest-creds", "alice:s3cret"],
    );
    let reference = registry.reference("private/app:1");
    let source = reference.to_string();
    let store = store(&sandbox, "s");
    let auth_file = sandbox.dir().join("auth/auth.json");

    let anonymous = pull(&client(None), &store, &reference).unwrap_err();
    let message = anonymous.to_string();
    assert!(
        matches!(anonymous, RegistryError::Unauthorized { .. }),
        "{message}"
    );
    assert!(
        message.contains(&registry.host) && message.contains("401"),
        "{message}"
    );

    let credentials = burrow_image::registry::Credentials {
        store: Some(auth_file.clone()),
        docker_config: None,
    };
    let wrong = Credential {
        username: "alice".into(),
        password: "wrong".into(),
    };
    let login = client(Some(&auth_file)).check_login(&registry.host, &wrong);
    assert!(
        matches!(login, Err(RegistryError::Unauthorized { .. })),
        "{login:?}"
    );
    credentials.login(&registry.host, &wrong).unwrap();
    let message = pull(&client(Some(&auth_file)), &store, &reference)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("authentication to registry") && message.contains("401"),
        "{message}"
    );
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));

    let right = Credential {
        username: "alice".into(),
        password: "s3cret".into(),
    };
    client(Some(&auth_file))
        .check_login(&registry.host, &right)
        .unwrap();
    credentials.login(&registry.host, &right).unwrap();
    let record =
        pull(&client(Some(&auth_file)), &store, &reference).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.id, image.config_digest());
    registry::push(
        &client(Some(&auth_file)),
        &store,
        &source,
        &registry.reference("private/copy:1"),
        &burrow_image::progress::Quiet,
    )
    .unwrap_or_else(|e| panic!("push with credentials: {e}"));
    let denied = registry::push(
        &client(None),
        &store,
        &source,
        &registry.reference("private/copy:2"),
        &burrow_image::progress::Quiet,
    );
    assert!(
        matches!(denied, Err(RegistryError::Unauthorized { .. })),
        "{denied:?}"
    );
}

#[test]
fn concurrent_pulls_of_one_image_do_the_work_once() {
    let sandbox = Sandbox::new("image-concurrent");
    let registry = Registry::start(&sandbox, "r", None);
    let image = busybox_image("c", false);
    skopeo_push(&sandbox, &image, &registry, "c/app:1");
    let store = store(&sandbox, "s");
    let reference = registry.reference("c/app:1");
    let events = Events::default();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    registry::pull(
                        &client(None),
                        &store,
                        &reference,
                        &Platform::default(),
                        &TarUnpacker,
                        &events,
                    )
                })
            })
            .collect();
        for run in runs {
            run.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
        }
    });
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Started { .. })),
        4
    );
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Unpacked { .. })),
        3
    );
    assert_eq!(store.images().unwrap().len(), 1);
    assert_has_blobs(&store, &image);
}

#[test]
fn prune_keeps_what_any_image_still_uses() {
    let sandbox = Sandbox::new("image-prune");
    let registry = Registry::start(&sandbox, "r", None);
    let one = busybox_image("one", false);
    let two = busybox_image("two", false);
    skopeo_push(&sandbox, &one, &registry, "p/app:one");
    skopeo_push(&sandbox, &two, &registry, "p/app:two");
    let store = store(&sandbox, "s");
    let a = pull(&client(None), &store, &registry.reference("p/app:one")).unwrap();
    let b = pull(&client(None), &store, &registry.reference("p/app:two")).unwrap();
    assert_eq!(
        a.layers[..2],
        b.layers[..2],
        "the two images share two layers"
    );
    assert_eq!(store.layer_users(&a.layers[0]).unwrap(), 2);

    let report = store.prune(&PruneOptions::default()).unwrap();
    assert!(
        report.blobs.is_empty() && report.layers.is_empty(),
        "{report:?}"
    );

    store
        .remove_image(&format!("{}/p/app:one", registry.host))
        .unwrap();
    let in_use = store.prune(&PruneOptions {
        all: true,
        in_use: vec![b.id.clone()],
        ..PruneOptions::default()
    });
    let report = in_use.unwrap();
    assert!(
        report.images.is_empty(),
        "an image in use was pruned: {report:?}"
    );
    assert_eq!(report.layers, vec![a.layers[2].clone()]);
    assert_eq!(
        report.blobs.len(),
        3,
        "config, top layer, manifest of one: {report:?}"
    );
    assert_has_blobs(&store, &two);
    for chain in &b.layers {
        assert!(
            store.has_layer(chain),
            "layer {chain} of a kept image removed"
        );
    }
    let report = store
        .prune(&PruneOptions {
            all: true,
            ..PruneOptions::default()
        })
        .unwrap();
    assert_eq!(report.images, vec![b.id.clone()]);
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));
}

#[test]
fn missing_images_and_invalid_references_are_one_clear_error() {
    let sandbox = Sandbox::new("image-404");
    let registry = Registry::start(&sandbox, "r", None);
    let store = store(&sandbox, "s");
    let error = pull(&client(None), &store, &registry.reference("no/such:image")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{message}");
    assert!(
        message.contains("no/such:image")
            && message.contains("not found")
            && message.contains("404"),
        "{message}"
    );
    assert!(!message.contains('\n'));
    for (bad, needle) in [
        ("Busybox:", "empty tag"),
        ("a//b", "empty path component"),
        ("x@sha256:short", "wrong length"),
    ] {
        let error: Error = burrow_image::Reference::parse(bad).unwrap_err().into();
        let message = error.to_string();
        assert!(
            message.contains(needle) && message.contains(bad),
            "{message}"
        );
    }
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));
}

#[test]
fn a_truncated_gzip_layer_fails_the_pull_and_records_nothing() {
    let sandbox = Sandbox::new("image-truncated");
    let registry = Registry::start(&sandbox, "r", None);
    let mut image = busybox_image("t", false);
    // Layer 0 is gzip: cut it in half and rebuild the manifest around the cut blob, so
    // every digest is right and only the compressed stream is broken.
    let half = image.layers[0].0.len() / 2;
    let cut = image.layers[0].0[..half].to_vec();
    let manifest = String::from_utf8(image.manifest.clone()).unwrap();
    let old = Digest::sha256_of(&image.layers[0].0);
    let manifest = manifest
        .replace(&old.to_string(), &Digest::sha256_of(&cut).to_string())
        .replace(
            &format!("\"size\": {}", image.layers[0].0.len()),
            &format!("\"size\": {}", cut.len()),
        );
    image.layers[0].0 = cut;
    image.manifest = manifest.into_bytes();
    skopeo_push(&sandbox, &image, &registry, "t/app:1");
    let store = store(&sandbox, "s");
    let error = pull(&client(None), &store, &registry.reference("t/app:1")).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("failed to unpack layer"), "{message}");
    let (images, _, layers, temps) = snapshot(&store);
    assert_eq!(images, 0, "an image was recorded");
    assert!(
        !layers.contains(&image.layers[0].2),
        "the broken layer was kept"
    );
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}
