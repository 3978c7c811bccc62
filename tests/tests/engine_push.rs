//! `burrow push` and `burrow pull` end to end, as the unprivileged test user, against
//! Debian's `docker-registry`: a two-layer image (one layer above the chunk threshold)
//! pushed to two repositories — the second push mounts every layer from the first —
//! then pulled back by digest into a fresh store, with the same image id and the same
//! file inside a container. The output is checked in both of Docker's shapes: plain
//! lines when stdout is not a terminal, redrawn bars under a terminal (`script`).

mod image_support;

use burrow_image::Digest;
use burrow_tests::runtime::Runtime;
use image_support::cli_env::Env;
use image_support::{big, Registry};

/// The lines between the first and the last, sorted (layers go in parallel).
fn middle_sorted(lines: &[&str]) -> Vec<String> {
    let mut middle: Vec<String> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.to_string())
        .collect();
    middle.sort();
    middle
}

fn expected(ids: &[String], statuses: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = ids
        .iter()
        .flat_map(|id| statuses.iter().map(move |s| format!("{id}: {s}")))
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_large_image_pushes_to_two_repos_with_mounts_and_pulls_back_by_digest() {
    let env = Env::new("push-mount");
    let sandbox = &env.sandbox;
    let registry = Registry::start(sandbox, "r", None);
    let image = big::big_image();

    // The image reaches burrow as a docker-archive written by skopeo.
    let layout = sandbox.dir().join("layout");
    image
        .write_dir_layout(&layout)
        .unwrap_or_else(|e| panic!("dir layout: {e}"));
    burrow_tests::fsutil::give_tree_to_user(&layout, sandbox.user());
    let io = sandbox.make_dir("io");
    let archive = io.join("big.tar");
    sandbox
        .command("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("dir:{}", layout.display()))
        .arg(format!("docker-archive:{}:big:v1", archive.display()))
        .run()
        .assert_success();
    sandbox
        .burrow(["load", "-i"])
        .arg(&archive)
        .run()
        .assert_success();
    let id = env.image_id(&sandbox.engine_root(), "big:v1");

    // First push: every layer sent (the big one in chunks), plain lines only.
    let first = format!("{}/first/big:v1", registry.host);
    sandbox
        .burrow(["tag", "big:v1", &first])
        .run()
        .assert_success();
    let out = sandbox.burrow(["push", &first]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert!(!out.stdout.contains('\x1b'), "{out}");
    assert_eq!(
        lines[0],
        format!(
            "The push refers to repository [{}/first/big]",
            registry.host
        ),
        "{out}"
    );
    // The layers as stored (load keeps docker-archive layers as the archive has them).
    let mut ids: Vec<String> = lines
        .iter()
        .filter_map(|l| l.strip_suffix(": Pushed"))
        .map(str::to_string)
        .collect();
    ids.sort();
    assert_eq!(ids.len(), 2, "{out}");
    assert_eq!(
        middle_sorted(&lines),
        expected(&ids, &["Preparing", "Pushed"]),
        "{out}"
    );
    let last = lines[lines.len() - 1];
    let digest = last
        .strip_prefix("v1: digest: ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no digest line: {out}"))
        .to_string();
    assert!(last.contains(" size: "), "{out}");

    // Second push to another repository: every layer mounted from the first.
    let second = format!("{}/second/big:v1", registry.host);
    sandbox
        .burrow(["tag", "big:v1", &second])
        .run()
        .assert_success();
    let out = sandbox.burrow(["push", &second]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(
        middle_sorted(&lines),
        expected(&ids, &["Preparing", "Mounted from first/big"]),
        "{out}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        format!(
            "v1: digest: {digest} size: {}",
            last.rsplit(' ').next().unwrap_or("")
        ),
        "{out}"
    );
    // A third push finds every layer there.
    let out = sandbox.burrow(["push", &second]).run();
    out.assert_success();
    assert_eq!(
        middle_sorted(&out.stdout_lines()),
        expected(&ids, &["Layer already exists"]),
        "{out}"
    );

    // Pulled back by digest from the second repository into a fresh store.
    let by_digest = format!("{}/second/big@{digest}", registry.host);
    let fresh = sandbox.dir().join("store-fresh");
    let out = env.burrow_at(&fresh, ["pull", &by_digest]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert!(!out.stdout.contains('\x1b'), "{out}");
    assert_eq!(
        lines[0],
        format!("{digest}: Pulling from second/big"),
        "{out}"
    );
    let mut middle = middle_sorted(&lines[..lines.len() - 2]);
    middle.retain(|l| !l.starts_with("Digest: "));
    assert_eq!(
        middle,
        expected(
            &ids,
            &[
                "Pulling fs layer",
                "Verifying Checksum",
                "Download complete",
                "Extracting",
                "Pull complete"
            ]
        ),
        "{out}"
    );
    assert!(
        lines.contains(&format!("Digest: {digest}").as_str()),
        "{out}"
    );
    assert!(
        lines.contains(&format!("Status: Downloaded newer image for {by_digest}").as_str()),
        "{out}"
    );
    assert_eq!(lines[lines.len() - 1], by_digest, "{out}");
    assert_eq!(env.image_id(&fresh, &by_digest), id);

    let out = env
        .burrow_at(
            &fresh,
            [
                "run",
                "--rm",
                "--network",
                "none",
                &by_digest,
                "busybox",
                "sha256sum",
                "/data/big",
            ],
        )
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout.split_whitespace().next(),
        Some(Digest::sha256_of(&big::big_file()).hex()),
        "{out}"
    );

    // Under a terminal: bars redrawn in place, the same closing lines.
    let tty = sandbox.dir().join("store-tty");
    let command = format!(
        "{} --root {} pull {first}",
        Runtime::burrow().program().display(),
        tty.display()
    );
    let out = sandbox
        .command("script")
        .args(["-qec", &command, "/dev/null"])
        .run();
    out.assert_success();
    assert!(out.stdout.contains("\x1b[2K"), "{out}");
    assert!(out.stdout.contains("\x1b[2A"), "{out}");
    assert!(out.stdout.contains(": Downloading [="), "{out}");
    assert!(out.stdout.contains("MB/2"), "{out}");
    assert!(
        out.stdout.contains("Status: Downloaded newer image for"),
        "{out}"
    );
    assert_eq!(env.image_id(&tty, &first), id);
}
