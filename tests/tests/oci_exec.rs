//! `exec` into a running container: same namespaces as its init, exit code propagated,
//! `--env`, `--cwd`, `--user`, `--process`, `--detach` with `--pid-file`.

use std::time::{Duration, Instant};

use burrow_tests::{Bundle, Sandbox};
use serde_json::json;

/// A detached container whose init is `sleep`, with the subordinate id map (for --user).
fn sleeping_container(sandbox: &Sandbox) -> (Bundle, String) {
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.hostname("exec-host")
            .map_subordinate_ids(sandbox.user())
            .env("FROM_CONFIG", "yes")
            .args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("exec");
    sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    (bundle, id)
}

#[test]
fn exec_joins_the_containers_namespaces() {
    let sandbox = Sandbox::new("exec-ns");
    let (_bundle, id) = sleeping_container(&sandbox);
    let script =
        "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/self/uid_map";
    let exec = sandbox.oci(["exec", &id, "sh", "-c", script]).run();
    exec.assert_success();
    let lines = exec.stdout_lines();
    assert_eq!(lines[0], "exec-host", "{exec}");
    let own_pid: i32 = lines[1].parse().unwrap();
    assert!(own_pid > 1, "exec is not pid 1 of the container: {exec}");
    assert_eq!(
        lines[2], "sleep 1000",
        "pid 1 is the container's init: {exec}"
    );
    assert_eq!(
        lines[3].split_whitespace().next(),
        Some("0"),
        "same user namespace: {exec}"
    );
    assert_eq!(lines.len(), 5, "both id map lines: {exec}");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_propagates_the_exit_code() {
    let sandbox = Sandbox::new("exec-code");
    let (_bundle, id) = sleeping_container(&sandbox);
    sandbox
        .oci(["exec", &id, "sh", "-c", "exit 5"])
        .run()
        .assert_code(5);
    sandbox.oci(["exec", &id, "true"]).run().assert_code(0);
    let missing = sandbox.oci(["exec", &id, "no-such-command"]).run();
    missing.assert_failure();
    missing.assert_stderr_contains("executable file not found");
    assert_eq!(
        sandbox.state(&id)["status"],
        "running",
        "failed execs leave the init alone"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_env_cwd_and_user() {
    let sandbox = Sandbox::new("exec-flags");
    let (_bundle, id) = sleeping_container(&sandbox);
    let exec = sandbox
        .oci([
            "exec",
            "--env",
            "EXTRA=value",
            "--cwd",
            "/tmp",
            "--user",
            "1000:1001",
            &id,
        ])
        .args(["sh", "-c", "echo $EXTRA $FROM_CONFIG; pwd; id -u; id -g"])
        .run();
    exec.assert_success();
    assert_eq!(
        exec.stdout_lines(),
        ["value yes", "/tmp", "1000", "1001"],
        "{exec}"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_process_json() {
    let sandbox = Sandbox::new("exec-process");
    let (_bundle, id) = sleeping_container(&sandbox);
    let process = json!({
        "terminal": false,
        "user": { "uid": 1000, "gid": 1000 },
        "args": ["sh", "-c", "echo from-process-json; id -u; pwd; echo $ONLY_HERE"],
        "env": ["PATH=/bin", "ONLY_HERE=1"],
        "cwd": "/etc",
    });
    let path = sandbox.write_file("process.json", process.to_string());
    let exec = sandbox.oci(["exec", "--process"]).arg(&path).arg(&id).run();
    exec.assert_success();
    assert_eq!(
        exec.stdout_lines(),
        ["from-process-json", "1000", "/etc", "1"],
        "{exec}"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_detach_writes_a_pid_file() {
    let sandbox = Sandbox::new("exec-detach");
    let (_bundle, id) = sleeping_container(&sandbox);
    let pid_file = sandbox.dir().join("exec.pid");
    sandbox
        .oci(["exec", "--detach", "--pid-file"])
        .arg(&pid_file)
        .args([&id, "sleep", "999"])
        .run()
        .assert_success();
    let deadline = Instant::now() + Duration::from_secs(10);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "no pid in {}",
            pid_file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert_eq!(
        cmdline, b"sleep\0999\0",
        "the pid file names the exec'd process"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_into_a_missing_or_stopped_container_fails() {
    let sandbox = Sandbox::new("exec-stopped");
    let missing = sandbox.oci(["exec", "no-such-container", "true"]).run();
    missing.assert_failure();
    missing.assert_stderr_contains("does not exist");

    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["true"]);
    });
    let id = sandbox.container_id("stopped");
    sandbox
        .oci(["run", "--keep", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let stopped = sandbox.oci(["exec", &id, "true"]).run();
    stopped.assert_failure();
    assert!(
        stopped.stderr.contains("stopped") || stopped.stderr.contains("not running"),
        "{stopped}"
    );
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}
