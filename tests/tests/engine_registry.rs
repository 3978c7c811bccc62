//! The registry side of the `burrow` CLI end to end, as the unprivileged test user:
//! `login`/`logout` against Debian's `docker-registry` with htpasswd auth (and
//! credentials read from `~/.docker/config.json`), `pull --platform` from a
//! multi-platform index pushed with skopeo, `save --format` round trips through `load`,
//! `--tls-verify=false` and configured insecure registries for a plain-HTTP registry
//! that is not named as a loopback host, a registry that vanishes mid-blob, and Docker
//! credential helpers (`credsStore`, `credHelpers`) played by a small shell script.
//!
//! Each test gives burrow its own HOME and XDG_CONFIG_HOME in the sandbox, so the
//! credentials and registry configuration of the machine's user are never read.

mod image_support;

use std::path::Path;

use burrow_image::digest::Digest;
use burrow_image::manifest::Compression;
use burrow_image::testing::TestImage;
use burrow_tests::Sandbox;
use image_support::cli_env::Env;
use image_support::fake::{routes_for, FakeRegistry, Route};
use image_support::{busybox_image, push_index, top_layer, Registry};

/// base64("alice:s3cret"), as Docker's config files keep it.
const ALICE: &str = "YWxpY2U6czNjcmV0";

#[test]
fn login_lets_push_and_pull_through_an_htpasswd_registry_and_logout_forgets() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new("reg-login");
    let registry = Registry::start(&env.sandbox, "auth", Some(("alice", "s3cret")));
    let host = registry.host.as_str();
    let remote = format!("{host}/team/bb:v1");
    let out = env
        .burrow(["import"])
        .arg(env.sandbox.busybox_rootfs_tar())
        .arg("bb")
        .run();
    out.assert_success();
    env.burrow(["tag", "bb", &remote]).run().assert_success();
    let id = env.image_id(&env.sandbox.engine_root(), "bb");

    // Nothing stored: push and pull fail with the registry's 401, one line each.
    env.burrow(["push", &remote])
        .run()
        .assert_one_line_error(&["401", host])
        .assert_code(1);
    let fresh = env.store("anonymous");
    env.burrow_at(&fresh, ["pull", &remote])
        .run()
        .assert_one_line_error(&["401", host])
        .assert_code(1);
    assert_eq!(env.image_count(&fresh), 0);

    // A wrong password is refused with Docker's words and stores nothing.
    let auth_file = env.config.join("burrow/auth.json");
    env.burrow(["login", "-u", "alice", "--password-stdin", host])
        .stdin(b"wrong\n".to_vec())
        .run()
        .assert_one_line_error(&["unauthorized: incorrect username or password", host])
        .assert_code(1);
    assert!(!auth_file.exists());
    env.burrow(["login", "--password-stdin", host])
        .stdin(b"s3cret\n".to_vec())
        .run()
        .assert_one_line_error(&["--username"])
        .assert_code(1);
    env.burrow(["login", "-u", "alice", host])
        .run()
        .assert_one_line_error(&["non TTY"])
        .assert_code(1);

    let out = env
        .burrow(["login", "-u", "alice", "--password-stdin", host])
        .stdin(b"s3cret\n".to_vec())
        .run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "Login Succeeded", "{out}");
    let mode = std::fs::metadata(&auth_file)
        .unwrap_or_else(|e| panic!("{}: {e}", auth_file.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&auth_file).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][host]["auth"].as_str(),
        Some(ALICE),
        "{stored}"
    );

    let out = env.burrow(["push", &remote]).run();
    out.assert_success();
    assert!(out.stdout.contains(": Pushed"), "{out}");
    let pulled = env.store("pulled");
    env.burrow_at(&pulled, ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&pulled, &remote), id);

    // logout forgets; a second logout says so; the pull fails again.
    let out = env.burrow(["logout", host]).run();
    out.assert_success();
    assert_eq!(
        out.stdout_trimmed(),
        format!("Removing login credentials for {host}")
    );
    let out = env.burrow(["logout", host]).run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), format!("Not logged in to {host}"));
    let again = env.store("again");
    env.burrow_at(&again, ["pull", &remote])
        .run()
        .assert_one_line_error(&["401"])
        .assert_code(1);
    assert_eq!(env.image_count(&again), 0);

    // Docker's own config file is read too (its `auths`, keyed by host).
    let docker = env.sandbox.make_dir("home/.docker");
    env.sandbox.write_file(
        "home/.docker/config.json",
        serde_json::json!({"auths": {host: {"auth": ALICE}}}).to_string(),
    );
    assert!(docker.join("config.json").is_file());
    env.burrow_at(&again, ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&again, &remote), id);
}

/// A credential helper keeping one file per server URL in STATE (Docker's protocol:
/// `get`/`erase` read the URL on stdin, `store` reads the JSON; "credentials not found"
/// and exit 1 when it has nothing).
const HELPER: &str = r#"#!/bin/sh
state=STATE
echo "$1" >> "$state/calls"
key() { printf %s "$1" | tr -c 'A-Za-z0-9' _; }
case "$1" in
get) url=$(cat); f="$state/$(key "$url")"
  if [ -f "$f" ]; then cat "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
store) json=$(cat); url=$(printf %s "$json" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')
  printf %s "$json" > "$state/$(key "$url")" ;;
erase) url=$(cat); f="$state/$(key "$url")"
  if [ -f "$f" ]; then rm "$f"; else echo "credentials not found in native keychain"; exit 1; fi ;;
*) echo "unknown action $1" >&2; exit 2 ;;
esac
"#;

#[test]
fn imagegaps_credential_helpers_store_get_and_erase_like_dockers() {
    let env = Env::new("reg-helper");
    let registry = Registry::start(&env.sandbox, "auth", Some(("alice", "s3cret")));
    let host = registry.host.as_str();
    let remote = format!("{host}/team/helped:v1");
    let state = env.sandbox.make_dir("helper-state");
    env.write_script(
        "docker-credential-burrowtest",
        &HELPER.replace("STATE", &state.display().to_string()),
    );
    env.write_script(
        "docker-credential-locked",
        "#!/bin/sh\ncat >/dev/null\necho 'the keychain is locked' >&2\nexit 3\n",
    );
    env.sandbox.make_dir("home/.docker");
    let docker_config = |config: serde_json::Value| {
        env.sandbox
            .write_file("home/.docker/config.json", config.to_string());
    };
    let helper_file = state.join(host.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));

    // credsStore: login stores through the helper and nothing in burrow's own file.
    docker_config(serde_json::json!({"credsStore": "burrowtest"}));
    let out = env
        .burrow(["login", "-u", "alice", "--password-stdin", host])
        .stdin(b"s3cret\n".to_vec())
        .run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "Login Succeeded", "{out}");
    let stored: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&helper_file).unwrap_or_else(|e| panic!("{}: {e}", helper_file.display())),
    )
    .unwrap();
    assert_eq!(
        stored,
        serde_json::json!({"ServerURL": host, "Username": "alice", "Secret": "s3cret"})
    );
    let burrow_auth = env.config.join("burrow/auth.json");
    let own = std::fs::read_to_string(&burrow_auth).unwrap_or_default();
    assert!(!own.contains("YWxpY2U6czNjcmV0"), "{own}");

    // push and pull get the credential from the helper.
    env.burrow(["import"])
        .arg(env.sandbox.busybox_rootfs_tar())
        .arg(&remote)
        .run()
        .assert_success();
    let id = env.image_id(&env.sandbox.engine_root(), &remote);
    env.burrow(["push", "-q", &remote]).run().assert_success();
    let pulled = env.store("pulled");
    env.burrow_at(&pulled, ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&pulled, &remote), id);
    let calls = std::fs::read_to_string(state.join("calls")).unwrap();
    assert!(calls.lines().any(|l| l == "get"), "{calls}");

    // logout erases through the helper; the next pull is refused again.
    let out = env.burrow(["logout", host]).run();
    out.assert_success();
    assert_eq!(
        out.stdout_trimmed(),
        format!("Removing login credentials for {host}")
    );
    assert!(!helper_file.exists());
    let out = env.burrow(["logout", host]).run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), format!("Not logged in to {host}"));
    let refused = env.store("refused");
    env.burrow_at(&refused, ["pull", "-q", &remote])
        .run()
        .assert_one_line_error(&["401", host])
        .assert_code(1);
    assert_eq!(env.image_count(&refused), 0);

    // credHelpers names a helper for this registry; it wins over credsStore.
    std::fs::write(
        &helper_file,
        serde_json::json!({"ServerURL": host, "Username": "alice", "Secret": "s3cret"}).to_string(),
    )
    .unwrap();
    docker_config(serde_json::json!({
        "credsStore": "locked",
        "credHelpers": {host: "burrowtest"},
    }));
    env.burrow_at(&refused, ["pull", "-q", &remote])
        .run()
        .assert_success();
    assert_eq!(env.image_id(&refused, &remote), id);

    // A helper that fails, or is not installed: one line naming it, nothing stored.
    docker_config(serde_json::json!({"credsStore": "locked"}));
    let locked = env.store("locked");
    env.burrow_at(&locked, ["pull", "-q", &remote])
        .run()
        .assert_one_line_error(&["docker-credential-locked", "the keychain is locked", host])
        .assert_code(1);
    env.burrow(["login", "-u", "alice", "--password-stdin", host])
        .stdin(b"s3cret\n".to_vec())
        .run()
        .assert_one_line_error(&["docker-credential-locked", "store", host])
        .assert_code(1);
    docker_config(serde_json::json!({"credsStore": "absent"}));
    env.burrow_at(&locked, ["pull", "-q", &remote])
        .run()
        .assert_one_line_error(&["docker-credential-absent", "not found on PATH"])
        .assert_code(1);
    assert_eq!(env.image_count(&locked), 0);
}

#[test]
fn pull_platform_chooses_from_an_index_and_names_the_missing_one() {
    let env = Env::new("reg-platform");
    let registry = Registry::start(&env.sandbox, "r", None);
    let amd64 = busybox_image("amd64", false);
    let arm64 = TestImage::new(vec![(top_layer("arm64"), Compression::Gzip)], false);
    let index = push_index(
        &env.sandbox,
        &registry,
        "multi/app:1",
        &[(&arm64, "arm64"), (&amd64, "amd64")],
    );
    let remote = format!("{}/multi/app:1", registry.host);

    let arm = env.store("arm");
    let out = env
        .burrow_at(&arm, ["pull", "--platform", "linux/arm64", &remote])
        .run();
    out.assert_success();
    // Docker prints the index digest: the name pins every platform.
    assert!(out.stdout.contains(&format!("Digest: {index}")), "{out}");
    assert_eq!(
        env.image_id(&arm, &remote),
        arm64.config_digest().to_string()
    );
    let amd = env.store("amd");
    env.burrow_at(&amd, ["pull", "-q", "--platform=linux/amd64", &remote])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&amd, &remote),
        amd64.config_digest().to_string()
    );
    // Without --platform, the host's.
    let host_store = env.store("host");
    let result = env.burrow_at(&host_store, ["pull", "-q", &remote]).run();
    match std::env::consts::ARCH {
        "x86_64" => {
            result.assert_success();
            assert_eq!(
                env.image_id(&host_store, &remote),
                amd64.config_digest().to_string()
            );
        }
        "aarch64" => {
            result.assert_success();
            assert_eq!(
                env.image_id(&host_store, &remote),
                arm64.config_digest().to_string()
            );
        }
        _ => {
            result.assert_one_line_error(&["no manifest for platform"]);
        }
    }

    let none = env.store("none");
    env.burrow_at(&none, ["pull", "--platform", "linux/s390x", &remote])
        .run()
        .assert_one_line_error(&["linux/s390x", "linux/amd64", "linux/arm64"])
        .assert_code(1);
    assert_eq!(env.image_count(&none), 0);
    assert!(env.leftover_temps(&none).is_empty());
    env.burrow_at(&none, ["pull", "--platform", "amd64", &remote])
        .run()
        .assert_one_line_error(&["invalid platform"])
        .assert_code(1);
}

#[test]
fn save_in_either_format_loads_back_with_the_same_id() {
    let env = Env::new("reg-save");
    env.burrow(["import"])
        .arg(env.sandbox.busybox_rootfs_tar())
        .arg("bb:v1")
        .run()
        .assert_success();
    let id = env.image_id(&env.sandbox.engine_root(), "bb:v1");
    for (format, marker) in [
        (None, "manifest.json"),
        (Some("docker-archive"), "manifest.json"),
        (Some("oci-archive"), "oci-layout"),
    ] {
        let label = format.unwrap_or("default");
        let archive = env.sandbox.dir().join(format!("io/{label}.tar"));
        let mut save = env.burrow(["save", "-o"]).arg(&archive);
        if let Some(format) = format {
            save = save.args(["--format", format]);
        }
        save.arg("bb:v1").run().assert_success();
        let names = tar_names(&env.sandbox, &archive);
        assert!(names.iter().any(|n| n == marker), "{label}: {names:?}");
        if format == Some("oci-archive") {
            assert!(!names.iter().any(|n| n == "manifest.json"), "{names:?}");
        }
        let fresh = env.store(label);
        let out = env.burrow_at(&fresh, ["load", "-i"]).arg(&archive).run();
        out.assert_success();
        assert!(out.stdout.contains("Loaded image"), "{label}: {out}");
        assert_eq!(env.image_id(&fresh, "bb:v1"), id, "{label}");
    }
    let out = env
        .burrow(["save", "--format", "tarball", "-o", "/dev/null", "bb:v1"])
        .run();
    out.assert_failure();
    assert!(out.stderr.contains("'tarball'"), "{out}");
}

fn tar_names(sandbox: &Sandbox, path: &Path) -> Vec<String> {
    let out = sandbox.command("tar").arg("-tf").arg(path).run();
    out.assert_success();
    out.stdout_lines()
        .into_iter()
        .map(|n| n.trim_start_matches("./").to_string())
        .collect()
}

/// The registry as a host that is on the loopback but not *named* as one: an
/// IPv4-mapped IPv6 address, which burrow treats as any remote registry.
fn unnamed_loopback(registry: &Registry) -> String {
    let port = registry
        .host
        .rsplit_once(':')
        .map(|(_, port)| port)
        .unwrap_or_default();
    format!("[::ffff:127.0.0.1]:{port}")
}

#[test]
fn a_plain_http_registry_needs_tls_verify_false_or_an_insecure_listing() {
    let env = Env::new("reg-insecure");
    let registry = Registry::start(&env.sandbox, "r", None);
    let image = busybox_image("insecure", false);
    image_support::skopeo_push(&env.sandbox, &image, &registry, "plain/app:1");
    let host = unnamed_loopback(&registry);
    let remote = format!("{host}/plain/app:1");

    let refused = env.store("refused");
    env.burrow_at(&refused, ["pull", &remote])
        .run()
        .assert_one_line_error(&["cannot reach registry", &host])
        .assert_code(1);
    assert_eq!(env.image_count(&refused), 0);

    let flag = env.store("flag");
    env.burrow_at(&flag, ["pull", "-q", "--tls-verify=false", &remote])
        .run()
        .assert_success();
    assert_eq!(
        env.image_id(&flag, &remote),
        image.config_digest().to_string()
    );

    let listed = env.store("listed");
    env.burrow_at(&listed, ["pull", "-q", &remote])
        .env("BURROW_INSECURE_REGISTRIES", format!("other:1, {host}"))
        .run()
        .assert_success();

    env.sandbox.make_dir("home/config/burrow");
    env.sandbox.write_file(
        "home/config/burrow/registries.json",
        serde_json::json!({"insecure-registries": [host]}).to_string(),
    );
    let configured = env.store("configured");
    env.burrow_at(&configured, ["pull", "-q", &remote])
        .run()
        .assert_success();
    // Push follows the same rules.
    env.burrow_at(
        &configured,
        ["tag", &remote, &format!("{host}/plain/copy:1")],
    )
    .run()
    .assert_success();
    env.burrow_at(&configured, ["push", "-q", &format!("{host}/plain/copy:1")])
        .run()
        .assert_success();
}

#[test]
fn a_registry_gone_mid_blob_fails_the_pull_with_one_line_and_no_image() {
    let env = Env::new("reg-gone");
    let image = busybox_image("gone", false);
    let mut routes = routes_for(&image, "x/app", "1");
    let victim = Digest::sha256_of(&image.layers[0].0);
    let mut cut = Route::ok("application/octet-stream", image.layers[0].0.clone());
    cut.vanish_after = Some(image.layers[0].0.len() / 2);
    routes.insert(format!("/v2/x/app/blobs/{victim}"), cut);
    let fake = FakeRegistry::start(routes);
    let root = env.store("s");
    let out = env
        .burrow_at(&root, ["pull", &format!("{}/x/app:1", fake.host)])
        .run();
    out.assert_one_line_error(&[&fake.host]).assert_code(1);
    assert_eq!(env.image_count(&root), 0);
    assert!(env.leftover_temps(&root).is_empty());
    let blob = root.join("images-store/blobs/sha256").join(victim.hex());
    assert!(!blob.exists(), "a partial blob was stored");
}
