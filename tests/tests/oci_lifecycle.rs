//! runc's container life cycle: create → start → kill → delete, the state JSON at each
//! step, `list`, `ps`, pid files, `run --detach` and `--keep`, and the transitions that
//! must be refused.

use std::path::Path;
use std::time::{Duration, Instant};

use burrow_tests::procfs::is_alive;
use burrow_tests::Sandbox;
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(10);

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path) {
            if !text.is_empty() {
                return text;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} did not appear within {PATIENCE:?}", path.display());
}

fn pid_of(state: &Value) -> i32 {
    state["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {state}")) as i32
}

#[test]
fn create_start_kill_delete() {
    let sandbox = Sandbox::new("lifecycle");
    let shared = sandbox.make_dir("shared");
    let bundle = sandbox.bundle("b");
    // pid 1 only gets signals it handles, hence the trap; `wait` is interrupted by it.
    let script = "trap 'echo got-term >> /shared/log; exit 0' TERM; \
                  echo started >> /shared/log; sleep 1000 & wait";
    bundle.edit(|spec| {
        spec.bind_mount(&shared, "/shared", &[])
            .args(&["sh", "-c", script]);
        spec.annotation("org.burrow.test", "lifecycle");
    });
    let id = sandbox.container_id("life");
    let pid_file = sandbox.dir().join("container.pid");

    let create = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .run();
    create.assert_success();
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], id.as_str(), "{state}");
    assert_eq!(state["bundle"], bundle.path().to_str().unwrap(), "{state}");
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{state}"
    );
    assert_eq!(
        state["annotations"]["org.burrow.test"], "lifecycle",
        "{state}"
    );
    let pid = pid_of(&state);
    assert!(
        pid > 0 && is_alive(pid),
        "created container has a live pid: {state}"
    );
    let written: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(written, pid, "--pid-file holds the state's pid");
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !shared.join("log").exists(),
        "the process must not run before start"
    );

    let list = sandbox.oci(["list", "--format", "json"]).run();
    list.assert_success();
    let listed: Value = serde_json::from_str(&list.stdout).expect("list JSON");
    let entry = listed
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == id.as_str()))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert_eq!(entry["status"], "created", "{list}");
    assert_eq!(entry["pid"], state["pid"], "{list}");
    let quiet = sandbox.oci(["list", "-q"]).run();
    assert_eq!(quiet.stdout_lines(), [id.as_str()], "{quiet}");

    sandbox.oci(["start", &id]).run().assert_success();
    assert_eq!(wait_for_file(&shared.join("log")), "started\n");
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(pid_of(&state), pid, "start keeps the pid");

    sandbox.oci(["kill", &id, "TERM"]).run().assert_success();
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    assert_eq!(
        std::fs::read_to_string(shared.join("log")).unwrap(),
        "started\ngot-term\n"
    );

    sandbox.oci(["delete", &id]).run().assert_success();
    let gone = sandbox.oci(["state", &id]).run();
    gone.assert_failure();
    gone.assert_stderr_contains("does not exist");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn kill_accepts_names_with_and_without_sig_and_numbers() {
    let sandbox = Sandbox::new("kill-signals");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    for signal in ["KILL", "SIGKILL", "9"] {
        let id = sandbox.container_id("kill");
        let run = sandbox
            .oci(["run", "--detach", "--bundle"])
            .arg(bundle.path())
            .arg(&id)
            .run();
        run.assert_success();
        sandbox.wait_for_status(&id, "running", PATIENCE);
        sandbox.oci(["kill", &id, signal]).run().assert_success();
        sandbox.wait_for_status(&id, "stopped", PATIENCE);
        sandbox.oci(["delete", &id]).run().assert_success();
        sandbox.assert_nothing_left(&id);
    }
}

#[test]
fn run_detach_writes_the_pid_file_and_delete_force_stops_it() {
    let sandbox = Sandbox::new("run-detach");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("detached");
    let pid_file = sandbox.dir().join("detached.pid");
    let run = sandbox
        .oci(["run", "--detach", "--pid-file"])
        .arg(&pid_file)
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    let pid = pid_of(&state);
    let written: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(written, pid);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"sleep\0"),
        "the state pid is the container's process"
    );

    let refused = sandbox.oci(["delete", &id]).run();
    refused.assert_failure();
    assert!(
        is_alive(pid),
        "delete without --force must not touch a running container"
    );

    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    let deadline = Instant::now() + PATIENCE;
    while is_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!is_alive(pid), "delete --force leaves the process running");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn run_keep_leaves_a_stopped_container_to_delete() {
    let sandbox = Sandbox::new("run-keep");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["true"]);
    });
    let id = sandbox.container_id("kept");
    let run = sandbox
        .oci(["run", "--keep", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    let state = sandbox.state(&id);
    assert_eq!(state["status"], "stopped", "{state}");
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn refused_transitions() {
    let sandbox = Sandbox::new("transitions");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("t");
    sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let again = sandbox.oci(["start", &id]).run();
    again.assert_failure();
    assert_eq!(sandbox.state(&id)["status"], "running");
    for command in [
        &["start", "no-such-container"][..],
        &["kill", "no-such-container", "KILL"],
        &["delete", "no-such-container"],
    ] {
        let output = sandbox.oci(command).run();
        output.assert_failure();
        output.assert_stderr_contains("does not exist");
    }
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

/// runc cannot do this here: its `ps` needs the container's cgroup, and this machine
/// delegates none. burrow must list the processes without one.
#[test]
fn ps_lists_the_containers_processes() {
    let sandbox = Sandbox::new("ps");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", "sleep 1000 & wait"]);
    });
    let id = sandbox.container_id("ps");
    sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let pid = pid_of(&sandbox.state(&id));
    let deadline = Instant::now() + PATIENCE;
    let pids = loop {
        let ps = sandbox.oci(["ps", "--format", "json", &id]).run();
        ps.assert_success();
        let pids: Vec<i64> = serde_json::from_str(&ps.stdout)
            .unwrap_or_else(|e| panic!("ps --format json is not a JSON list of pids ({e}): {ps}"));
        if pids.len() >= 2 || Instant::now() >= deadline {
            break pids;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        pids.contains(&i64::from(pid)),
        "init pid {pid} missing from {pids:?}"
    );
    assert_eq!(pids.len(), 2, "sh and sleep: {pids:?}");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}
