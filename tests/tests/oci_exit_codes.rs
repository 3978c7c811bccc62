//! Exit codes of programs that cannot be run, through `exec` (127 not found, 126 not
//! executable, as Docker and podman report them; runc itself exits 1), and `run --keep`:
//! the program's code, then a stopped container that a plain `delete` removes.

use std::time::{Duration, Instant};

use burrow_tests::procfs::is_alive;
use burrow_tests::{Bundle, Sandbox};

/// A detached `sleep` container with a non-executable script in its rootfs.
fn sleeping_container(sandbox: &Sandbox) -> (Bundle, String) {
    let bundle = sandbox.bundle("b");
    bundle.write_rootfs_file("bin/not-executable", "#!/bin/sh\necho ran\n");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
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

fn delete_and_check(sandbox: &Sandbox, id: &str) {
    assert_eq!(
        sandbox.state(id)["status"],
        "running",
        "a failed exec leaves the container running"
    );
    sandbox
        .oci(["delete", "--force", id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(id);
}

#[test]
fn exec_of_a_missing_program_exits_127() {
    let sandbox = Sandbox::new("exec-127");
    let (_bundle, id) = sleeping_container(&sandbox);
    let exec = sandbox.oci(["exec", &id, "no-such-program"]).run();
    exec.assert_code(127);
    exec.assert_one_line_error(&["executable file not found", "no-such-program"]);
    let absolute = sandbox.oci(["exec", &id, "/bin/no-such-program"]).run();
    absolute.assert_code(127);
    absolute.assert_one_line_error(&["/bin/no-such-program"]);
    delete_and_check(&sandbox, &id);
}

#[test]
fn exec_of_a_non_executable_file_exits_126() {
    let sandbox = Sandbox::new("exec-126");
    let (_bundle, id) = sleeping_container(&sandbox);
    let exec = sandbox.oci(["exec", &id, "/bin/not-executable"]).run();
    exec.assert_code(126);
    exec.assert_one_line_error(&["permission denied"]);
    assert!(!exec.stdout.contains("ran"), "{exec}");
    delete_and_check(&sandbox, &id);
}

#[test]
fn run_keep_returns_the_code_and_leaves_a_stopped_container() {
    let sandbox = Sandbox::new("run-keep-code");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", "echo $$; exit 3"]);
    });
    let id = sandbox.container_id("kept");
    let run = sandbox
        .oci(["run", "--keep", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_code(3);
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "stopped", "{state}");
    assert_eq!(state["id"], id.as_str(), "{state}");
    if let Some(pid) = state["pid"].as_i64().filter(|pid| *pid > 0) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_alive(pid as i32) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!is_alive(pid as i32), "a stopped container's pid is gone");
    }
    let list = sandbox.oci(["list", "-q"]).run();
    assert_eq!(list.stdout_lines(), [id.as_str()], "{list}");
    let start = sandbox.oci(["start", &id]).run();
    start.assert_failure();
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}
