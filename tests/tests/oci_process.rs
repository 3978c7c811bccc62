//! The container process: environment, working directory, umask, and how its end turns
//! into the runtime's exit code (its code; 128+N for signal N; 127 when not found).

use std::time::Duration;

use burrow_tests::Sandbox;

#[test]
fn env_is_the_configs_and_nothing_of_the_runtimes() {
    let sandbox = Sandbox::new("env");
    let (id, run) = sandbox.run_container(|spec| {
        spec.env("GREETING", "hello world")
            .args(&["sh", "-c", "echo \"$GREETING\"; env"]);
    });
    run.assert_success();
    let lines = run.stdout_lines();
    assert_eq!(lines[0], "hello world", "{run}");
    assert!(
        lines.iter().any(|l| l.starts_with("PATH=")),
        "PATH from the config: {run}"
    );
    // The runtime runs with these; the container must not inherit them.
    for leaked in ["XDG_RUNTIME_DIR=", "TMPDIR=", "LOGNAME="] {
        assert!(
            !lines.iter().any(|l| l.starts_with(leaked)),
            "{leaked} leaked: {run}"
        );
    }
    let host_home = format!("HOME={}", sandbox.user().home.display());
    assert!(
        !lines.contains(&host_home.as_str()),
        "the runtime's HOME leaked: {run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_missing_cwd_is_created() {
    let sandbox = Sandbox::new("cwd");
    let (id, run) = sandbox.run_container(|spec| {
        spec.cwd("/work/deep/dir").args(&["pwd"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "/work/deep/dir", "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn an_existing_cwd_is_used() {
    let sandbox = Sandbox::new("cwd-existing");
    let (id, run) = sandbox.run_container(|spec| {
        spec.cwd("/etc").args(&["sh", "-c", "pwd; ls passwd"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["/etc", "passwd"], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn umask_comes_from_the_config() {
    let sandbox = Sandbox::new("umask");
    let (id, run) = sandbox.run_container(|spec| {
        spec.umask(0o077)
            .args(&["sh", "-c", "umask; touch /tmp/f; stat -c %a /tmp/f"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["0077", "600"], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn the_exit_code_is_the_processes() {
    let sandbox = Sandbox::new("exit-code");
    for code in [0, 3, 42] {
        let script = format!("exit {code}");
        let (id, run) = sandbox.run_container(|spec| {
            spec.args(&["sh", "-c", &script]);
        });
        run.assert_code(code);
        sandbox.assert_nothing_left(&id);
    }
}

/// A process killed by its own signal exits 128+N. pid 1 of a pid namespace ignores its
/// own signals, so this container shares the host's pid namespace.
#[test]
fn a_process_killed_by_a_signal_exits_128_plus_the_signal() {
    let sandbox = Sandbox::new("signal-exit");
    for (signal, code) in [("KILL", 137), ("TERM", 143)] {
        let script = format!("kill -{signal} $$");
        let (id, run) = sandbox.run_container(|spec| {
            spec.share_host_pid_namespace().args(&["sh", "-c", &script]);
        });
        run.assert_code(code);
        sandbox.assert_nothing_left(&id);
    }
}

#[test]
fn a_container_killed_from_outside_exits_137() {
    let sandbox = Sandbox::new("kill-from-outside");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("sleeper");
    let running = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .spawn();
    sandbox.wait_for_status(&id, "running", Duration::from_secs(10));
    sandbox.oci(["kill", &id, "KILL"]).run().assert_success();
    let run = running.wait();
    run.assert_code(137);
    sandbox.assert_nothing_left(&id);
}

/// 127 as Docker and podman report it (runc itself exits 1).
#[test]
fn an_executable_not_found_exits_127_and_leaves_nothing() {
    let sandbox = Sandbox::new("not-found");
    let (id, run) = sandbox.run_container(|spec| {
        spec.args(&["no-such-command"]);
    });
    run.assert_code(127);
    run.assert_stderr_contains("executable file not found");
    run.assert_stderr_contains("no-such-command");
    sandbox.assert_nothing_left(&id);
}

/// 126, "cannot invoke", as Docker and podman report it (runc itself exits 1).
#[test]
fn a_non_executable_file_exits_126() {
    let sandbox = Sandbox::new("not-executable");
    let bundle = sandbox.bundle("b");
    bundle.write_rootfs_file("bin/not-executable", "#!/bin/sh\necho hi\n");
    bundle.edit(|spec| {
        spec.args(&["/bin/not-executable"]);
    });
    let id = sandbox.container_id("noexec");
    let run = sandbox.run_bundle(&bundle, &id);
    run.assert_code(126);
    assert!(
        run.stderr.to_lowercase().contains("permission denied"),
        "{run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn stdin_reaches_the_process() {
    let sandbox = Sandbox::new("stdin");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", "read line; echo got:$line"]);
    });
    let id = sandbox.container_id("stdin");
    let run = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .stdin("hello\n")
        .run();
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "got:hello", "{run}");
    sandbox.assert_nothing_left(&id);
}
