//! The store stays consistent when commands race or die: two `rm` of one
//! container (one wins, the other finds no container), a CLI killed with
//! SIGKILL in the middle of a foreground `run` (the container, owned by its
//! supervisor, finishes and is recorded; nothing is left half-made), a full disk
//! (one line, no half container, everything works once space is back).

use std::time::Duration;

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

#[test]
fn two_removals_of_one_container_one_wins_the_other_finds_nothing() {
    let e = Engine::new("fault-rm");
    for round in 0..3 {
        let name = unique_name(&format!("twice{round}"));
        e.run(&["-d", "--name", &name], &["sleep", "100"])
            .run()
            .assert_success();
        let first = e.burrow(["rm", "-f", &name]).spawn();
        let second = e.burrow(["rm", "-f", &name]).spawn();
        let outcomes = [first.wait(), second.wait()];
        let won = outcomes.iter().filter(|o| o.success()).count();
        assert_eq!(won, 1, "exactly one removal succeeds: {outcomes:?}");
        let lost = outcomes.iter().find(|o| !o.success()).unwrap();
        assert!(
            lost.stderr.to_lowercase().contains("no such container"),
            "the other says so: {lost}"
        );
    }
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "{ps}");
}

#[test]
fn a_cli_killed_mid_run_leaves_a_whole_container_behind() {
    let e = Engine::new("fault-cli");
    let name = unique_name("orphaned");
    let cli = e
        .run(&["--name", &name], &["sh", "-c", "sleep 1; echo finished"])
        .spawn();
    e.wait_for("the container to run", || {
        e.burrow(["ps", "--format", "{{.Names}}"])
            .run()
            .stdout_trimmed()
            == name
    });
    cli.signal(libc::SIGKILL);
    let _ = cli.wait();
    e.wait_for("the container to finish under its supervisor", || {
        e.burrow(["ps", "-a", "--format", "{{.Status}}"])
            .run()
            .stdout_trimmed()
            .starts_with("Exited (0)")
    });
    let logs = e.burrow(["logs", &name]).run();
    assert_eq!(logs.stdout, "finished\n", "{logs}");
    std::thread::sleep(Duration::from_millis(100));
    e.burrow(["rm", &name]).run().assert_success();
    let leftovers = e.sandbox.leftover_processes(Duration::from_secs(5));
    assert!(
        leftovers.is_empty(),
        "processes left behind: {leftovers:#?}"
    );
}

/// A `--rm` container that exits at once is removed by its supervisor while
/// `run` is still finishing its start: `run` must not call that a failure.
#[test]
fn quick_rm_containers_started_at_once_all_succeed() {
    let e = Engine::new("fault-quick-rm");
    let runs: Vec<_> = (0..8)
        .map(|_| e.run(&["--rm", "--network", "none"], &["true"]).spawn())
        .collect();
    for run in runs {
        run.wait().assert_success();
    }
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "{ps}");
}

#[test]
fn a_full_disk_fails_run_with_one_line_and_leaves_the_store_consistent() {
    let e = Engine::new("fault-full");
    let Some(small) = burrow_tests::small_fs::SmallFs::mount(&e.sandbox, "small", 48) else {
        return;
    };
    let store = small.path().join("store");
    let burrow = |args: &[&str]| {
        e.sandbox
            .command(burrow_tests::runtime::Runtime::burrow().program())
            .arg("--root")
            .arg(&store)
            .args(args)
    };
    burrow(&["import"])
        .arg(e.sandbox.busybox_rootfs_tar())
        .arg("busybox")
        .run()
        .assert_success();
    let kept = unique_name("kept");
    burrow(&["create", "--name", &kept, "busybox", "true"])
        .run()
        .assert_success();
    let filler = small.fill(&e.sandbox);

    let name = unique_name("full");
    let out = burrow(&["run", "--name", &name, "busybox", "echo", "hi"]).run();
    assert_ne!(out.code(), Some(0), "run on a full disk fails: {out}");
    out.assert_one_line_error(&["no space left on device"]);
    let ps = burrow(&["ps", "-a", "--format", "{{.Names}}"]).run();
    ps.assert_success();
    assert_eq!(
        ps.stdout_trimmed(),
        kept,
        "no half container is listed: {ps}"
    );

    // Space back: the same names work, and what was there before still does.
    std::fs::remove_file(&filler).unwrap();
    for leftover in std::fs::read_dir(small.path()).unwrap().flatten() {
        if leftover
            .file_name()
            .to_string_lossy()
            .starts_with("filler-")
        {
            let _ = std::fs::remove_file(leftover.path());
        }
    }
    let out = burrow(&["run", "--rm", "--name", &name, "busybox", "echo", "hi"]).run();
    out.assert_success();
    assert_eq!(out.stdout, "hi\n", "{out}");
    burrow(&["start", "-a", &kept]).run().assert_success();
    burrow(&["rm", &kept]).run().assert_success();
}
