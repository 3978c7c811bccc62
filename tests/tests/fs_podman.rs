//! burrow's overlay as Podman's `mount_program`: containers/storage's overlay
//! driver mounts every container's root through the `burrow-overlay` drop-in
//! (fuse-overlayfs's command line) instead of fuse-overlayfs, as the
//! unprivileged test user. Files written, deleted (whiteouts) and committed
//! into a new image layer come back in a container of the committed image,
//! which mounts two lower layers; `podman diff` reads the upper directory.

use std::time::Duration;

use burrow_tests::binary::burrow_binary;
use burrow_tests::procfs::processes_with_marker;
use burrow_tests::{Cmd, Podman, Sandbox};

const IMAGE: &str = "localhost/burrow-e2e-overlay:1";
const COMMITTED: &str = "localhost/burrow-e2e-overlay:2";

/// `podman --runtime runc ARGS…` (the overlay is under test, not the runtime).
fn podman(client: &Podman, args: &[&str]) -> Cmd {
    client
        .command(["--runtime", "runc"])
        .args(args)
        .timeout(Duration::from_secs(90))
}

#[test]
fn podman_runs_and_commits_containers_on_burrow_overlay() {
    let sandbox = Sandbox::new("fs-podman");
    let link = sandbox.dir().join("burrow-overlay");
    std::os::unix::fs::symlink(&burrow_binary().burrow, &link).unwrap();
    let client = Podman::with_mount_program(&sandbox, &link);
    client.import_busybox(IMAGE);

    let run = podman(
        &client,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "grep ' / ' /proc/mounts | cut -d' ' -f1,3; echo hi > /f; cat /f; \
             rm /etc/passwd && test ! -e /etc/passwd && echo gone",
        ],
    )
    .run();
    run.assert_success();
    let lines = run.stdout_lines();
    assert_eq!(lines.first().copied(), Some("burrow-overlay fuse"), "{run}");
    assert_eq!(lines.get(1).copied(), Some("hi"), "{run}");
    assert_eq!(lines.get(2).copied(), Some("gone"), "{run}");

    podman(
        &client,
        &[
            "run",
            "--name",
            "changer",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo layer2 > /etc/layer2 && rm -rf /root && rm /etc/group && mkdir -p /var/new && echo x > /var/new/y",
        ],
    )
    .run()
    .assert_success();
    let diff = podman(&client, &["diff", "changer"]).run();
    diff.assert_success();
    for change in ["A /etc/layer2", "D /root", "D /etc/group", "A /var/new"] {
        assert!(diff.stdout_lines().contains(&change), "{change}: {diff}");
    }
    podman(&client, &["commit", "-q", "changer", COMMITTED])
        .run()
        .assert_success();
    let committed = podman(
        &client,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            COMMITTED,
            "sh",
            "-c",
            "cat /etc/layer2 /var/new/y; test -e /root || echo no-root; test -e /etc/group || echo no-group; grep ' / ' /proc/mounts | cut -d' ' -f1",
        ],
    )
    .run();
    committed.assert_success();
    let lines = committed.stdout_lines();
    assert_eq!(lines[..2], ["layer2", "x"], "{committed}");
    assert_eq!(
        lines[2..],
        ["no-root", "no-group", "burrow-overlay"],
        "{committed}"
    );

    podman(&client, &["rm", "-f", "changer"])
        .run()
        .assert_success();
    // A running container has its overlay server; it ends with the container.
    let servers = || -> Vec<i32> {
        processes_with_marker(sandbox.token())
            .into_iter()
            .filter(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                argv0.ends_with(b"burrow-overlay")
            })
            .collect()
    };
    podman(
        &client,
        &[
            "run",
            "-d",
            "--name",
            "sleeper",
            "--network",
            "none",
            IMAGE,
            "sleep",
            "300",
        ],
    )
    .run()
    .assert_success();
    assert!(
        !servers().is_empty(),
        "the running container's overlay server"
    );
    podman(&client, &["rm", "-f", "-t", "0", "sleeper"])
        .run()
        .assert_success();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !servers().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(servers(), Vec::<i32>::new(), "overlay servers left");
}
