//! The Docker-style verbs on supervised containers (`burrow run|ps|logs|exec|stop|rm|
//! wait|inspect`), driven as the unprivileged test user on a busybox root filesystem
//! (`--rootfs`, until images are wired in). Each test has its own store (`--root`).

use std::time::Duration;

use burrow_tests::engine::Engine;

#[test]
fn run_prints_the_output_and_exits_with_the_containers_code() {
    let e = Engine::new("eng-run");
    let out = e
        .run(&[], &["sh", "-c", "echo to-out; echo to-err >&2; exit 3"])
        .run();
    out.assert_code(3);
    assert_eq!(out.stdout_lines(), ["to-out"], "{out}");
    assert!(out.stderr.contains("to-err"), "{out}");
    let ps = e.burrow(["ps", "-a", "--format", "{{.Status}}"]).run();
    assert!(ps.stdout_trimmed().starts_with("Exited (3)"), "{ps}");
}

#[test]
fn a_missing_program_exits_127_and_bad_flags_125() {
    let e = Engine::new("eng-codes");
    let out = e.run(&[], &["no-such-program"]).run();
    out.assert_code(127);
    assert!(out.stderr.contains("executable file not found"), "{out}");
    e.burrow(["run", "--no-such-flag", "x"])
        .run()
        .assert_failure();
    let bad_user = e.run(&["--user", "bob"], &["true"]).run();
    bad_user.assert_code(125);
}

#[test]
fn detached_container_logs_exec_stop_and_rm() {
    let e = Engine::new("eng-detached");
    let run = e
        .run(
            &["-d", "--name", "ticker", "--hostname", "tick-host"],
            &[
                "sh",
                "-c",
                "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
            ],
        )
        .run();
    run.assert_success();
    let id = run.stdout_trimmed().to_string();
    assert_eq!(id.len(), 64, "{run}");
    e.wait_for("three ticks", || {
        e.burrow(["logs", "ticker"]).run().stdout_lines().len() >= 3
    });
    let ps = e.burrow(["ps", "--format", "{{.Names}} {{.State}}"]).run();
    assert_eq!(ps.stdout_lines(), ["ticker running"], "{ps}");
    let tail = e.burrow(["logs", "--tail", "1", "ticker"]).run();
    assert_eq!(tail.stdout_lines().len(), 1, "{tail}");
    assert!(tail.stdout_trimmed().starts_with("tick "), "{tail}");

    let exec = e
        .burrow([
            "exec",
            "ticker",
            "sh",
            "-c",
            "hostname; cat /proc/1/cmdline | tr '\\0' ' '; exit 4",
        ])
        .run();
    exec.assert_code(4);
    let lines = exec.stdout_lines();
    assert_eq!(lines[0], "tick-host", "{exec}");
    assert!(
        lines[1].starts_with("sh -c i=0"),
        "exec sees the container's pid 1: {exec}"
    );

    e.burrow(["stop", "-t", "1", "ticker"])
        .run()
        .assert_success();
    let inspect = e
        .burrow([
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ticker",
        ])
        .run();
    // sh as pid 1 ignores SIGTERM: stop escalates to SIGKILL.
    assert_eq!(inspect.stdout_trimmed(), "exited 137", "{inspect}");
    e.burrow(["wait", "ticker"])
        .run()
        .assert_success()
        .assert_stdout_contains("137");
    e.burrow(["rm", "ticker"]).run().assert_success();
    let again = e.burrow(["rm", "ticker"]).run();
    again.assert_failure();
    assert!(again.stderr.contains("no such container"), "{again}");
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
    assert!(e
        .sandbox
        .leftover_processes(Duration::from_secs(5))
        .iter()
        .all(|p| !p.contains("supervise")));
}

#[test]
fn rm_leaves_nothing_and_names_are_unique() {
    let e = Engine::new("eng-rm");
    e.run(&["--rm", "--name", "once"], &["echo", "bye"])
        .run()
        .assert_success()
        .assert_stdout_contains("bye");
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
    e.run(&["-d", "--name", "dup"], &["sleep", "30"])
        .run()
        .assert_success();
    let clash = e.run(&["--name", "dup"], &["true"]).run();
    clash.assert_code(125);
    assert!(clash.stderr.contains("already in use"), "{clash}");
    e.burrow(["rm", "dup"]).run().assert_failure();
    e.burrow(["rm", "-f", "dup"]).run().assert_success();
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
}

#[test]
fn a_killed_supervisor_shows_its_container_exited_and_rm_cleans_up() {
    let e = Engine::new("eng-supervisor-kill");
    e.run(&["-d", "--name", "victim"], &["sleep", "300"])
        .run()
        .assert_success();
    let record = e
        .burrow(["inspect", "--format", "{{.State.Pid}}", "victim"])
        .run();
    let init_pid: i32 = record.stdout_trimmed().parse().expect("pid");
    let supervisor = std::fs::read_to_string(format!("/proc/{init_pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok())
        })
        .expect("init's parent");
    // SAFETY: kill(2) on a pid this test's container started; no memory effects.
    unsafe { libc::kill(supervisor, libc::SIGKILL) };
    e.wait_for("the container to show as exited", || {
        e.burrow(["ps", "-a", "--format", "{{.State}}"])
            .run()
            .stdout_trimmed()
            == "exited"
    });
    e.wait_for("the container's init to die with its supervisor", || {
        !std::path::Path::new(&format!("/proc/{init_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{init_pid}/stat"))
                .is_ok_and(|s| s.contains(") Z"))
    });
    e.burrow(["rm", "victim"]).run().assert_success();
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
}

#[test]
fn twenty_detached_containers_start_at_once() {
    let e = Engine::new("eng-twenty");
    let running: Vec<_> = (0..20)
        .map(|i| {
            e.run(&["-d", "--name", &format!("c{i}")], &["sleep", "30"])
                .spawn()
        })
        .collect();
    let ids: Vec<String> = running
        .into_iter()
        .map(|r| {
            let out = r.wait();
            out.assert_success();
            out.stdout_trimmed().to_string()
        })
        .collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 20);
    let ps = e.burrow(["ps", "-q"]).run();
    assert_eq!(ps.stdout_lines().len(), 20, "{ps}");
    let mut rm = e.burrow(["rm", "-f"]);
    for i in 0..20 {
        rm = rm.arg(format!("c{i}"));
    }
    rm.run().assert_success();
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
}
