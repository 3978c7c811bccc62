//! Push against a real registry (Debian's `docker-registry`), library-level: a layer
//! above the chunk threshold goes up in `PATCH` chunks with byte progress,
//! and a blob known to be in another repository of the registry is mounted from it
//! instead of being sent. Both pushes read back by a fresh store blob for blob.

mod image_support;

use burrow_image::progress::ProgressEvent;
use burrow_image::registry;
use burrow_image::{Digest, Platform};
use burrow_tests::Sandbox;
use image_support::*;

#[test]
fn a_large_layer_goes_up_in_chunks_and_a_known_blob_is_mounted_from_its_repository() {
    let sandbox = Sandbox::new("image-push-chunks");
    let registry = Registry::start(&sandbox, "r", None);
    let image = big::big_image();
    let big_blob = Digest::sha256_of(&image.layers[1].0);
    skopeo_push(&sandbox, &image, &registry, "src/big:1");
    let first = store(&sandbox, "first");
    registry::pull(
        &client(None),
        &first,
        &registry.reference("src/big:1"),
        &Platform::parse("linux/amd64").unwrap(),
        &burrow_image::testing::TarUnpacker,
        &burrow_image::progress::Quiet,
    )
    .unwrap_or_else(|e| panic!("pull: {e}"));
    let source = registry.reference("src/big:1").to_string();

    // The pull remembered src/big: every blob is mounted, none sent.
    let mounted = Events::default();
    registry::push(
        &client(None),
        &first,
        &source,
        &registry.reference("mounted/big:1"),
        &mounted,
    )
    .unwrap_or_else(|e| panic!("push with mounts: {e}"));
    assert_eq!(
        mounted.count(|e| matches!(e, ProgressEvent::Mounted { from, .. } if from == "src/big")),
        3,
        "config and two layers"
    );
    assert_eq!(
        mounted.count(|e| matches!(
            e,
            ProgressEvent::Advanced { .. } | ProgressEvent::Finished { .. }
        )),
        0
    );

    // Without the record, everything is sent; the big layer in three chunks.
    std::fs::remove_dir_all(first.root().join("blob-sources"))
        .unwrap_or_else(|e| panic!("forget the sources: {e}"));
    let sent = Events::default();
    registry::push(
        &client(None),
        &first,
        &source,
        &registry.reference("sent/big:1"),
        &sent,
    )
    .unwrap_or_else(|e| panic!("push: {e}"));
    assert_eq!(
        sent.count(|e| matches!(e, ProgressEvent::Finished { .. })),
        3
    );
    assert_eq!(
        sent.count(|e| matches!(e, ProgressEvent::Mounted { .. })),
        0
    );
    // Byte counts as the chunks go out (the path is chunked for any blob above the
    // threshold: see the chunk unit test), ending at the full size exactly once.
    let steps =
        sent.count(|e| matches!(e, ProgressEvent::Advanced { digest, .. } if *digest == big_blob));
    assert!(steps >= 3, "{steps} progress steps for 20 MiB");
    let ends = sent.count(|e| {
        matches!(e, ProgressEvent::Advanced { digest, done, size }
            if *digest == big_blob && done == size)
    });
    assert_eq!(ends, 1);

    for name in ["mounted/big:1", "sent/big:1"] {
        assert_eq!(
            skopeo_raw_manifest(&sandbox, &registry, name),
            image.manifest
        );
        let fresh = store(&sandbox, &name.replace(['/', ':'], "-"));
        let record = registry::pull(
            &client(None),
            &fresh,
            &registry.reference(name),
            &Platform::parse("linux/amd64").unwrap(),
            &burrow_image::testing::TarUnpacker,
            &burrow_image::progress::Quiet,
        )
        .unwrap_or_else(|e| panic!("pull {name}: {e}"));
        assert_eq!(record.manifest, image.manifest_digest());
        assert_has_blobs(&fresh, &image);
    }
}
