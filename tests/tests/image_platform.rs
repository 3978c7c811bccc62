//! `--platform` on `run`, `create` and `pull` agree, as in Docker: `run --platform`
//! pulls the requested platform when it is missing; an image here under the name but
//! for another platform is never used silently: with `--pull missing` (the default) it
//! counts as missing and the requested platform is pulled (the name moves to it, the
//! other image stays under its id), with `--pull never` the error is Docker's "image
//! with reference X was found but does not match the specified platform"; `pull
//! --platform` always fetches the platform asked for.
//!
//! The registry serves a two-platform index: the amd64 entry is the busybox test image,
//! the arm64 one the same layers with an arm64 config (never run, only created).

mod image_support;

use std::path::{Path, PathBuf};

use burrow_image::testing::TestImage;
use burrow_tests::runtime::Runtime;
use burrow_tests::{Cmd, Sandbox};
use image_support::{busybox_image, push_index, skopeo_push, Registry};

fn burrow(sandbox: &Sandbox, root: &Path) -> Cmd {
    sandbox
        .command(Runtime::burrow().program())
        .arg("--root")
        .arg(root)
}

fn image_id(sandbox: &Sandbox, root: &Path, name: &str) -> String {
    let out = burrow(sandbox, root)
        .args(["image", "inspect", "--format", "{{.Id}}", name])
        .run();
    out.assert_success();
    out.stdout_trimmed().to_string()
}

fn image_ids(sandbox: &Sandbox, root: &Path) -> Vec<String> {
    let out = burrow(sandbox, root)
        .args(["images", "-q", "--no-trunc"])
        .run();
    out.assert_success();
    let mut ids: Vec<String> = out.stdout_lines().iter().map(|l| l.to_string()).collect();
    ids.sort();
    ids
}

struct Multi {
    sandbox: Sandbox,
    _registry: Registry,
    remote: String,
    amd64: TestImage,
    arm64: TestImage,
    single_arm: String,
}

impl Multi {
    fn new(label: &str) -> Multi {
        let sandbox = Sandbox::new(label);
        let registry = Registry::start(&sandbox, "r", None);
        let amd64 = busybox_image("amd64", false);
        let arm64 = busybox_image("arm64", false).with_architecture("arm64");
        push_index(
            &sandbox,
            &registry,
            "multi/app:1",
            &[(&amd64, "amd64"), (&arm64, "arm64")],
        );
        // An arm64 image under a plain manifest: pulling "for amd64" still gets arm64.
        skopeo_push(&sandbox, &arm64, &registry, "single/arm:1");
        Multi {
            remote: format!("{}/multi/app:1", registry.host),
            single_arm: format!("{}/single/arm:1", registry.host),
            sandbox,
            _registry: registry,
            amd64,
            arm64,
        }
    }

    fn store(&self, label: &str) -> PathBuf {
        self.sandbox.dir().join(format!("store-{label}"))
    }
}

#[test]
fn run_and_create_with_platform_pull_it_and_never_use_another_silently() {
    let m = Multi::new("plat-run");
    let root = m.store("a");
    let amd64_id = m.amd64.config_digest().to_string();
    let arm64_id = m.arm64.config_digest().to_string();

    // create --platform of a missing image pulls that platform.
    let out = burrow(&m.sandbox, &root)
        .args(["create", "--platform", "linux/arm64", &m.remote, "true"])
        .run();
    out.assert_success();
    assert!(
        out.stderr.contains("Unable to find image"),
        "it says it pulls: {out}"
    );
    assert_eq!(image_id(&m.sandbox, &root, &m.remote), arm64_id);

    // Here for arm64; amd64 asked with --pull never: Docker's error, nothing pulled.
    let out = burrow(&m.sandbox, &root)
        .args([
            "run",
            "--rm",
            "--pull",
            "never",
            "--platform",
            "linux/amd64",
            &m.remote,
            "true",
        ])
        .run();
    out.assert_one_line_error(&[
        &format!("image with reference {} was found", m.remote),
        "does not match the specified platform",
        "wanted linux/amd64",
        "actual: linux/arm64",
    ]);
    assert_eq!(out.code(), Some(125), "{out}");
    burrow(&m.sandbox, &root)
        .args([
            "create",
            "--pull=never",
            "--platform=linux/amd64",
            &m.remote,
        ])
        .run()
        .assert_one_line_error(&["does not match the specified platform"]);
    assert_eq!(image_ids(&m.sandbox, &root), vec![arm64_id.clone()]);

    // The default (--pull missing) pulls amd64 and runs it; the name moves to it.
    let out = burrow(&m.sandbox, &root)
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "--platform",
            "linux/amd64",
        ])
        .args([&m.remote, "cat", "/etc/image-tag"])
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "amd64", "{out}");
    assert!(out.stderr.contains("Unable to find image"), "{out}");
    assert_eq!(image_id(&m.sandbox, &root, &m.remote), amd64_id);
    let mut both = vec![amd64_id.clone(), arm64_id.clone()];
    both.sort();
    assert_eq!(image_ids(&m.sandbox, &root), both);
    // Matching platform with --pull never: used as it is.
    burrow(&m.sandbox, &root)
        .args(["run", "--rm", "--network", "none", "--pull", "never"])
        .args(["--platform", "linux/amd64", &m.remote, "echo", "ok"])
        .run()
        .assert_success();

    // A registry that has only arm64 under the name: pulled, still wrong, refused.
    let out = burrow(&m.sandbox, &root)
        .args(["create", "--platform", "linux/amd64", &m.single_arm, "true"])
        .run();
    assert_ne!(out.code(), Some(0), "{out}");
    assert!(
        out.stderr.contains(
            "does not match the specified platform: wanted linux/amd64, actual: linux/arm64"
        ),
        "{out}"
    );
    burrow(&m.sandbox, &root)
        .args(["create", "--platform", "amd64", &m.remote, "true"])
        .run()
        .assert_one_line_error(&["invalid platform"]);
}

#[test]
fn pull_platform_fetches_the_other_platform_when_one_is_here() {
    let m = Multi::new("plat-pull");
    let root = m.store("b");
    burrow(&m.sandbox, &root)
        .args(["pull", "-q", "--platform", "linux/amd64", &m.remote])
        .run()
        .assert_success();
    assert_eq!(
        image_id(&m.sandbox, &root, &m.remote),
        m.amd64.config_digest().to_string()
    );
    burrow(&m.sandbox, &root)
        .args(["pull", "-q", "--platform", "linux/arm64", &m.remote])
        .run()
        .assert_success();
    assert_eq!(
        image_id(&m.sandbox, &root, &m.remote),
        m.arm64.config_digest().to_string()
    );
    let out = burrow(&m.sandbox, &root)
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            &m.remote,
        ])
        .run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "arm64");
    // The layers are shared: only the config and manifest are new.
    assert_eq!(image_ids(&m.sandbox, &root).len(), 2);
}
