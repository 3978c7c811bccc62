//! Joining existing namespaces by `path`: container B joins the user, uts and ipc
//! namespaces of container A (a running `sleep`) through `/proc/<A's pid>/ns/…`, with no
//! id mappings of its own (a joined user namespace has them already). B sees A's
//! hostname and A's namespace inodes, and still gets its own mount namespace. A path that
//! does not exist, or names a namespace of another type, is refused with one line.
//!
//! runc 1.1 (this machine's) refuses a joined user namespace without mappings ("User
//! namespaces enabled, but no uid mappings found"), so it fails the tests that join one.

use std::path::Path;

use burrow_tests::{Sandbox, Spec};

/// Starts container A (hostname `ns-owner`, `sleep`); returns its id and host pid.
fn owner_container(sandbox: &Sandbox) -> (String, i32) {
    let bundle = sandbox.bundle("owner");
    bundle.edit(|spec| {
        spec.hostname("ns-owner").args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("owner");
    sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let pid = sandbox.state(&id)["pid"].as_i64().expect("a pid") as i32;
    (id, pid)
}

/// Replaces the namespace entry of `kind` by one that joins `path`.
fn join(spec: &mut Spec, kind: &str, path: &str) {
    spec.remove_namespace(kind).add_namespace(kind, Some(path));
}

/// `readlink /proc/<pid>/ns/<name>` on the host, e.g. `uts:[4026532301]`.
fn host_ns(pid: i32, name: &str) -> String {
    let link = format!("/proc/{pid}/ns/{name}");
    std::fs::read_link(&link)
        .unwrap_or_else(|e| panic!("cannot read {link}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// The owner's `sleep` is the sandbox's last process: delete it, then nothing of either
/// container may be left.
fn delete_owner_then_check_nothing_left(sandbox: &Sandbox, owner: &str, joiner: &str) {
    sandbox
        .oci(["delete", "--force", owner])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(joiner);
    sandbox.assert_nothing_left(owner);
}

#[test]
fn a_container_joins_another_ones_user_uts_and_ipc_namespaces() {
    let sandbox = Sandbox::new("ns-join");
    let (owner, pid) = owner_container(&sandbox);
    let script = "hostname; id -u; for ns in user uts ipc mnt; do readlink /proc/self/ns/$ns; done";
    let (id, run) = sandbox.run_container(|spec| {
        for (kind, name) in [("user", "user"), ("uts", "uts"), ("ipc", "ipc")] {
            join(spec, kind, &format!("/proc/{pid}/ns/{name}"));
        }
        spec.remove("/linux/uidMappings")
            .remove("/linux/gidMappings")
            .remove("/hostname")
            .args(&["sh", "-c", script]);
    });
    run.assert_success();
    let expected = [
        "ns-owner".to_string(),
        "0".to_string(),
        host_ns(pid, "user"),
        host_ns(pid, "uts"),
        host_ns(pid, "ipc"),
    ];
    let lines = run.stdout_lines();
    assert_eq!(lines[..5], expected, "{run}");
    assert_ne!(
        lines[5],
        host_ns(pid, "mnt"),
        "the mount namespace is new: {run}"
    );
    assert_eq!(
        sandbox.state(&owner)["status"],
        "running",
        "the owner is untouched"
    );
    delete_owner_then_check_nothing_left(&sandbox, &owner, &id);
}

#[test]
fn a_namespace_path_that_does_not_exist_is_refused() {
    let sandbox = Sandbox::new("ns-join-missing");
    let missing = sandbox.dir().join("no-such-namespace");
    let missing = missing.to_str().expect("a UTF-8 path");
    let (id, run) = sandbox.run_container(|spec| {
        join(spec, "uts", missing);
        spec.remove("/hostname").args(&["true"]);
    });
    run.assert_one_line_error(&[missing]);
    assert!(!Path::new(missing).exists());
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_namespace_path_of_another_type_is_refused() {
    let sandbox = Sandbox::new("ns-join-wrong-type");
    let (owner, pid) = owner_container(&sandbox);
    let ipc = format!("/proc/{pid}/ns/ipc");
    let (id, run) = sandbox.run_container(|spec| {
        join(spec, "user", &format!("/proc/{pid}/ns/user"));
        join(spec, "uts", &ipc);
        spec.remove("/linux/uidMappings")
            .remove("/linux/gidMappings")
            .remove("/hostname")
            .args(&["true"]);
    });
    run.assert_one_line_error(&[&ipc]);
    delete_owner_then_check_nothing_left(&sandbox, &owner, &id);
}
