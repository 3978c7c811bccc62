//! `--restart`: the supervisor runs the container again after it exits, as
//! the policy says, with Docker's back-off, and a user's `stop` ends it.

use std::time::Duration;

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

fn runs(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn on_failure_restarts_up_to_its_count_and_keeps_the_last_status() {
    let e = Engine::new("restart-failure");
    let data = e.sandbox.make_dir("data");
    let name = unique_name("flaky");
    let volume = format!("{}:/data", data.display());
    e.run(
        &[
            "-d",
            "--name",
            &name,
            "--restart",
            "on-failure:2",
            "-v",
            &volume,
        ],
        &["sh", "-c", "echo run >> /data/log; exit 3"],
    )
    .run()
    .assert_success();
    e.wait_for("three runs and a final exit", || {
        let status = e
            .burrow([
                "inspect",
                "-f",
                "{{.State.Status}} {{.RestartCount}}",
                &name,
            ])
            .run();
        status.stdout_trimmed() == "exited 2" && runs(&data.join("log")) == 3
    });
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(runs(&data.join("log")), 3, "no fourth run");
    let ps = e.burrow(["ps", "-a", "--format", "{{.Status}}"]).run();
    assert!(ps.stdout_trimmed().starts_with("Exited (3)"), "{ps}");
    e.burrow(["rm", &name]).run().assert_success();
}

#[test]
fn always_restarts_a_clean_exit_until_the_user_stops_it() {
    let e = Engine::new("restart-always");
    let data = e.sandbox.make_dir("data");
    let name = unique_name("loop");
    let volume = format!("{}:/data", data.display());
    e.run(
        &["-d", "--name", &name, "--restart", "always", "-v", &volume],
        &["sh", "-c", "echo run >> /data/log; sleep 0.2"],
    )
    .run()
    .assert_success();
    e.wait_for("a restart", || runs(&data.join("log")) >= 2);
    e.burrow(["stop", "-t", "1", &name]).run().assert_success();
    e.wait_for("the stop to hold", || {
        e.burrow(["inspect", "-f", "{{.State.Status}}", &name])
            .run()
            .stdout_trimmed()
            == "exited"
    });
    let after_stop = runs(&data.join("log"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(runs(&data.join("log")), after_stop, "no run after stop");
    e.burrow(["rm", &name]).run().assert_success();

    // The default policy runs once.
    let once = e.sandbox.make_dir("once");
    let volume = format!("{}:/data", once.display());
    let out = e
        .run(
            &["--rm", "-v", &volume],
            &["sh", "-c", "echo run >> /data/log; exit 1"],
        )
        .run();
    out.assert_code(1);
    assert_eq!(runs(&once.join("log")), 1);
}
