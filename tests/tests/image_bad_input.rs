//! Registry misbehaviour the pull must survive with one clear error and an unchanged
//! store: bytes that do not match their digest, unknown media types, a registry that
//! goes away in the middle of a blob. A real registry never serves these, so a scripted
//! server plays the registry (see `image_support::fake`).

mod image_support;

use std::time::{Duration, Instant};

use burrow_image::digest::Digest;
use burrow_image::progress::ProgressEvent;
use burrow_image::registry::{self, RegistryError};
use burrow_image::store::StoreError;
use burrow_image::testing::TarUnpacker;
use burrow_image::Platform;
use burrow_tests::Sandbox;
use image_support::fake::{routes_for, FakeRegistry, Route};
use image_support::*;

fn pull_from(
    fake: &FakeRegistry,
    store: &burrow_image::Store,
    name: &str,
    events: &Events,
) -> Result<burrow_image::ImageRecord, RegistryError> {
    registry::pull(
        &client(None),
        store,
        &fake.reference(name),
        &Platform::default(),
        &TarUnpacker,
        events,
    )
}

#[test]
fn a_layer_whose_bytes_do_not_match_its_digest_is_not_stored() {
    let sandbox = Sandbox::new("image-bad-layer");
    let image = busybox_image("bad", false);
    let mut routes = routes_for(&image, "x/app", "1");
    let victim = Digest::sha256_of(&image.layers[1].0);
    let path = format!("/v2/x/app/blobs/{victim}");
    let mut forged = image.layers[1].0.clone();
    forged[10] ^= 0xff;
    routes.insert(path, Route::ok("application/octet-stream", forged));
    let fake = FakeRegistry::start(routes);
    let store = store(&sandbox, "s");
    let error = pull_from(&fake, &store, "x/app:1", &Events::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            RegistryError::Store(StoreError::DigestMismatch { .. })
        ),
        "{message}"
    );
    assert!(message.contains(&victim.to_string()), "{message}");
    let (images, blobs, layers, temps) = snapshot(&store);
    assert_eq!(images, 0);
    assert!(!blobs.contains(&victim), "forged blob stored");
    assert!(!layers.contains(&image.layers[1].2));
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn a_manifest_that_does_not_match_the_requested_digest_is_refused() {
    let sandbox = Sandbox::new("image-bad-manifest");
    let image = busybox_image("m", false);
    let other = busybox_image("other", false);
    let mut routes = routes_for(&image, "x/app", "1");
    routes.insert(
        format!("/v2/x/app/manifests/{}", image.manifest_digest()),
        Route::ok(&other.manifest_media_type, other.manifest.clone()),
    );
    let mut lying = Route::ok(&image.manifest_media_type, image.manifest.clone());
    lying.headers.push((
        "Docker-Content-Digest".into(),
        other.manifest_digest().to_string(),
    ));
    routes.insert("/v2/x/app/manifests/lying".into(), lying);
    let fake = FakeRegistry::start(routes);
    let store = store(&sandbox, "s");
    let by_digest = format!("x/app@{}", image.manifest_digest());
    for name in [by_digest.as_str(), "x/app:lying"] {
        let error = pull_from(&fake, &store, name, &Events::default()).unwrap_err();
        let message = error.to_string();
        assert!(
            matches!(error, RegistryError::DigestMismatch { .. }),
            "{message}"
        );
        assert!(
            message.contains("digest mismatch for manifest"),
            "{message}"
        );
        assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));
    }
}

#[test]
fn unknown_layer_media_types_fail_before_any_download() {
    let sandbox = Sandbox::new("image-bad-type");
    let image = busybox_image("u", false);
    let manifest = String::from_utf8(image.manifest.clone()).unwrap().replace(
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/x-mystery",
    );
    let mut routes = routes_for(&image, "x/app", "1");
    routes.insert(
        "/v2/x/app/manifests/1".into(),
        Route::ok(&image.manifest_media_type, manifest.into_bytes()),
    );
    let fake = FakeRegistry::start(routes);
    let store = store(&sandbox, "s");
    let events = Events::default();
    let message = pull_from(&fake, &store, "x/app:1", &events)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("unsupported layer media type \"application/x-mystery\""),
        "{message}"
    );
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Started { .. })),
        0
    );
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));
}

#[test]
fn a_registry_that_goes_away_mid_blob_fails_after_retries_and_stores_no_part() {
    let sandbox = Sandbox::new("image-gone");
    let image = busybox_image("gone", false);
    let mut routes = routes_for(&image, "x/app", "1");
    let victim = Digest::sha256_of(&image.layers[0].0);
    let path = format!("/v2/x/app/blobs/{victim}");
    let mut cut = Route::ok("application/octet-stream", image.layers[0].0.clone());
    cut.vanish_after = Some(image.layers[0].0.len() / 2);
    routes.insert(path, cut);
    let fake = FakeRegistry::start(routes);
    let store = store(&sandbox, "s");
    let events = Events::default();
    let client = burrow_image::registry::Client::new(burrow_image::registry::RegistryOptions {
        credentials: burrow_image::registry::Credentials::none(),
        max_concurrent_transfers: 1,
        ..Default::default()
    });
    let error = registry::pull(
        &client,
        &store,
        &fake.reference("x/app:1"),
        &Platform::default(),
        &TarUnpacker,
        &events,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains(&fake.host), "{message}");
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(
        events.count(|e| matches!(e, ProgressEvent::Retrying { .. })),
        2,
        "two retries before giving up: {message}"
    );
    let (images, blobs, layers, temps) = snapshot(&store);
    assert_eq!(images, 0);
    assert!(!blobs.contains(&victim), "a partial blob was stored");
    assert!(layers.is_empty());
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn bearer_tokens_come_from_the_challenge_realm_with_the_stored_credentials() {
    let sandbox = Sandbox::new("image-token");
    let image = busybox_image("token", false);
    let fake = FakeRegistry::start_with(|host| {
        let mut routes = routes_for(&image, "x/app", "1");
        let challenge = format!(
            "Bearer realm=\"http://{host}/token\",service=\"fake\",scope=\"repository:x/app:pull\""
        );
        for route in routes.values_mut() {
            route.require = Some(("Bearer tok-pull".into(), challenge.clone()));
        }
        let mut token = Route::ok("application/json", br#"{"token":"tok-pull"}"#.to_vec());
        // base64("bob:pw")
        token.require = Some(("Basic Ym9iOnB3".into(), "Basic realm=\"fake\"".into()));
        routes.insert("/token".into(), token);
        routes
    });
    let store = store(&sandbox, "s");
    let anonymous = pull_from(&fake, &store, "x/app:1", &Events::default()).unwrap_err();
    let message = anonymous.to_string();
    assert!(
        matches!(anonymous, RegistryError::Unauthorized { .. }),
        "{message}"
    );
    assert!(message.contains(&fake.host), "{message}");
    assert_eq!(snapshot(&store), (0, vec![], vec![], vec![]));

    let auth = sandbox.dir().join("auth.json");
    burrow_image::registry::Credentials {
        store: Some(auth.clone()),
        docker_config: None,
    }
    .login(
        &fake.host,
        &burrow_image::registry::Credential {
            username: "bob".into(),
            password: "pw".into(),
        },
    )
    .unwrap();
    let record = registry::pull(
        &client(Some(&auth)),
        &store,
        &fake.reference("x/app:1"),
        &Platform::default(),
        &TarUnpacker,
        &burrow_image::progress::Quiet,
    )
    .unwrap_or_else(|e| panic!("pull with a token: {e}"));
    assert_eq!(record.id, image.config_digest());
    assert_has_blobs(&store, &image);
}

const CRASH_TEST: &str =
    "a_pull_killed_mid_download_leaves_nothing_visible_and_the_next_pull_completes";

#[test]
fn a_pull_killed_mid_download_leaves_nothing_visible_and_the_next_pull_completes() {
    // The child: this same test binary, pulling from a registry that stalls mid-blob.
    if let (Ok(root), Ok(reference)) = (
        std::env::var("BURROW_IMAGE_CRASH_ROOT"),
        std::env::var("BURROW_IMAGE_CRASH_REF"),
    ) {
        let store = burrow_image::Store::open(root).unwrap();
        let reference = burrow_image::Reference::parse(&reference).unwrap();
        let _ = registry::pull(
            &client(None),
            &store,
            &reference,
            &Platform::default(),
            &TarUnpacker,
            &burrow_image::progress::Quiet,
        );
        return;
    }
    let sandbox = Sandbox::new("image-crash");
    let image = busybox_image("crash", false);
    let victim = Digest::sha256_of(&image.layers[0].0);
    let stalling = FakeRegistry::start({
        let mut routes = routes_for(&image, "x/app", "1");
        let mut stall = Route::ok("application/octet-stream", image.layers[0].0.clone());
        stall.stall_after = Some(image.layers[0].0.len() / 2);
        routes.insert(format!("/v2/x/app/blobs/{victim}"), stall);
        routes
    });
    let store = store(&sandbox, "s");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CRASH_TEST, "--nocapture", "--test-threads=1"])
        .env("BURROW_IMAGE_CRASH_ROOT", store.root())
        .env(
            "BURROW_IMAGE_CRASH_REF",
            stalling.reference("x/app:1").to_string(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    sandbox.track_pid(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(30);
    let half_written =
        || {
            store.temp_entries().unwrap().iter().any(|name| {
                std::fs::metadata(store.tmp_dir().join(name)).is_ok_and(|m| m.len() > 0)
            })
        };
    while !half_written() {
        assert!(
            Instant::now() < deadline,
            "the child never started writing the blob"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child pull ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (images, blobs, _, temps) = snapshot(&store);
    assert_eq!(images, 0, "a half-pulled image is visible");
    assert!(!blobs.contains(&victim), "a half-written blob is visible");
    assert!(!temps.is_empty(), "the crash should have left a temp file");

    let working = FakeRegistry::start(routes_for(&image, "x/app", "1"));
    let record = registry::pull(
        &client(None),
        &store,
        &working.reference("x/app:1"),
        &Platform::default(),
        &TarUnpacker,
        &burrow_image::progress::Quiet,
    )
    .unwrap_or_else(|e| panic!("pull after the crash: {e}"));
    assert_eq!(record.id, image.config_digest());
    assert_has_blobs(&store, &image);
    assert!(
        store.temp_entries().unwrap().is_empty(),
        "crash leftovers not cleaned"
    );
}

#[test]
fn a_config_that_lies_about_a_diff_id_cannot_plant_a_shared_layer() {
    let sandbox = Sandbox::new("image-diff-id");
    let honest = busybox_image("honest", false);
    // Same two lower layers; the top layer claims the honest image's diff id, so it
    // would land under the honest image's chain id.
    let mut liar = busybox_image("liar", false);
    let old_config = liar.config_digest();
    liar.config = String::from_utf8(liar.config.clone())
        .unwrap()
        .replace(
            &liar.layers[2].2.to_string(),
            &honest.layers[2].2.to_string(),
        )
        .into_bytes();
    liar.manifest = String::from_utf8(liar.manifest.clone())
        .unwrap()
        .replace(&old_config.to_string(), &liar.config_digest().to_string())
        .into_bytes();
    let fake = FakeRegistry::start(routes_for(&liar, "x/app", "liar"));
    let store = store(&sandbox, "s");
    let error = pull_from(&fake, &store, "x/app:liar", &Events::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            RegistryError::Store(StoreError::DiffIdMismatch { .. })
        ),
        "{message}"
    );
    assert!(message.contains("diff id"), "{message}");
    let honest_chain = burrow_image::manifest::chain_ids(
        &honest
            .layers
            .iter()
            .map(|l| l.2.clone())
            .collect::<Vec<_>>(),
    );
    assert!(
        !store.has_layer(&honest_chain[2]),
        "the lying layer was planted"
    );
    assert_eq!(store.images().unwrap().len(), 0);

    let good = FakeRegistry::start(routes_for(&honest, "x/app", "honest"));
    let record = pull_from(&good, &store, "x/app:honest", &Events::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let top = store.layer_path(&record.layers[2]);
    assert_eq!(read(&top.join("etc/image-tag")), b"honest");
}

/// Unmounts on drop, so a failing test leaves no mount behind.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_fails_the_pull_with_the_write_error_and_leaves_no_part() {
    if !burrow_tests::user::running_as_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let sandbox = Sandbox::new("image-full");
    let small = sandbox.make_dir("small");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs failed");
    let _unmount = Unmount(small.clone());
    let image = busybox_image("full", false);
    let fake = FakeRegistry::start(routes_for(&image, "x/app", "1"));
    let store = burrow_image::Store::open(small.join("store")).unwrap();
    let error = pull_from(&fake, &store, "x/app:1", &Events::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("No space left on device"), "{message}");
    assert!(!message.contains('\n'), "{message}");
    let (images, blobs, _, temps) = snapshot(&store);
    assert_eq!(images, 0);
    assert!(!blobs.contains(&Digest::sha256_of(&image.layers[0].0)));
    assert!(temps.is_empty(), "{temps:?}");
}
