//! Registry mirrors from burrow's `registries.json` (`"mirrors": {REGISTRY: [MIRROR…]}`,
//! like containers-registries.conf's `[[registry.mirror]]`): a pull tries the mirrors in
//! order and the registry itself last. Two local docker-registry instances play the
//! registry and the mirror; a free port with nothing listening plays a mirror that is
//! down. The image is recorded under the name asked for, whichever source served it.

mod image_support;

use std::path::{Path, PathBuf};

use burrow_tests::runtime::Runtime;
use burrow_tests::{free_tcp_port, Cmd, Sandbox};
use image_support::{busybox_image, skopeo_push, Registry};

struct Env {
    sandbox: Sandbox,
    home: PathBuf,
    config: PathBuf,
}

impl Env {
    fn new(label: &str) -> Env {
        let sandbox = Sandbox::new(label);
        let home = sandbox.make_dir("home");
        let config = sandbox.make_dir("home/config");
        sandbox.make_dir("home/config/burrow");
        Env {
            sandbox,
            home,
            config,
        }
    }

    fn burrow(&self, root: &Path) -> Cmd {
        self.sandbox
            .command(Runtime::burrow().program())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .arg("--root")
            .arg(root)
    }

    /// Mirrors of `registry`, in order.
    fn set_mirrors(&self, registry: &str, mirrors: &[&str]) {
        let json = serde_json::json!({ "mirrors": { registry: mirrors } });
        self.sandbox
            .write_file("home/config/burrow/registries.json", json.to_string());
    }

    fn image_id(&self, root: &Path, name: &str) -> String {
        let out = self
            .burrow(root)
            .args(["image", "inspect", "--format", "{{.Id}}", name])
            .run();
        out.assert_success();
        out.stdout_trimmed().to_string()
    }
}

/// A port on 127.0.0.1 where nothing listens (a mirror that is down).
fn dead_host() -> String {
    format!("127.0.0.1:{}", free_tcp_port())
}

#[test]
fn pull_tries_mirrors_in_order_and_falls_back_to_the_registry() {
    let env = Env::new("mirrors");
    let main = Registry::start(&env.sandbox, "main", None);
    let mut mirror = Registry::start(&env.sandbox, "mirror", None);
    let on_mirror = busybox_image("mirror", false);
    let on_main = busybox_image("main", false);
    // Only the mirror has mirrored/app; both have shared/app, different images.
    skopeo_push(&env.sandbox, &on_mirror, &mirror, "mirrored/app:1");
    skopeo_push(&env.sandbox, &on_mirror, &mirror, "shared/app:1");
    skopeo_push(&env.sandbox, &on_main, &main, "shared/app:1");
    skopeo_push(&env.sandbox, &on_main, &main, "only/main:1");
    let name = |path: &str| format!("{}/{path}", main.host);

    // A mirror down comes first: skipped; the second mirror serves the image.
    env.set_mirrors(&main.host, &[&dead_host(), &mirror.host]);
    let root = env.sandbox.dir().join("store-a");
    let out = env
        .burrow(&root)
        .args(["pull", &name("mirrored/app:1")])
        .run();
    out.assert_success();
    assert_eq!(
        env.image_id(&root, &name("mirrored/app:1")),
        on_mirror.config_digest().to_string(),
        "served by the mirror, named after the registry"
    );
    let listed = env
        .burrow(&root)
        .args(["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .run();
    listed.assert_success();
    assert_eq!(listed.stdout_trimmed(), name("mirrored/app:1"), "{listed}");
    // The mirror is asked first even when the registry has the name too.
    env.burrow(&root)
        .args(["pull", "-q", &name("shared/app:1")])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&root, &name("shared/app:1")),
        on_mirror.config_digest().to_string()
    );
    // The mirror lacks it (404): the registry serves it.
    env.burrow(&root)
        .args(["pull", "-q", &name("only/main:1")])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&root, &name("only/main:1")),
        on_main.config_digest().to_string()
    );

    // Every mirror down: the registry itself.
    mirror.stop();
    let root = env.sandbox.dir().join("store-b");
    env.burrow(&root)
        .args(["pull", "-q", &name("shared/app:1")])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&root, &name("shared/app:1")),
        on_main.config_digest().to_string()
    );
    // Nowhere: the registry's own error, one line; nothing stored.
    let out = env
        .burrow(&root)
        .args(["pull", &name("mirrored/app:1")])
        .run();
    out.assert_one_line_error(&[&main.host, "not found"]);
    let images = env.burrow(&root).args(["images", "-q"]).run();
    assert_eq!(images.stdout_lines().len(), 1, "{images}");

    // A broken config is one line naming the file.
    env.sandbox
        .write_file("home/config/burrow/registries.json", "{\"mirrors\": [1]}");
    env.burrow(&root)
        .args(["pull", &name("shared/app:1")])
        .run()
        .assert_one_line_error(&["registries.json"]);
}
