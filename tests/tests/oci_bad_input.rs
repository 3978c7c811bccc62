//! Bad input: each case must give a non-zero exit, one error line naming the problem, no
//! panic, and leave nothing behind (no state entry, no `list` line, no process).

use std::path::Path;

use burrow_tests::{fsutil, Bundle, Sandbox};
use serde_json::json;

fn run(sandbox: &Sandbox, bundle: &Path, id: &str) -> burrow_tests::Output {
    sandbox.oci(["run", "--bundle"]).arg(bundle).arg(id).run()
}

fn true_bundle(sandbox: &Sandbox) -> Bundle {
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["true"]);
    });
    bundle
}

#[test]
fn missing_config_json() {
    let sandbox = Sandbox::new("bad-no-config");
    let bundle = true_bundle(&sandbox);
    std::fs::remove_file(bundle.config_path()).unwrap();
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["config.json"]);
    sandbox.assert_nothing_left(&id);
}

/// runc fails this one: its message ("invalid character 't' looking for beginning of
/// object key string") does not say which file.
#[test]
fn invalid_json() {
    let sandbox = Sandbox::new("bad-json");
    let bundle = true_bundle(&sandbox);
    fsutil::write_file(
        &bundle.config_path(),
        "{ this is not json",
        0o644,
        sandbox.user(),
    );
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["config.json"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn json_of_the_wrong_shape() {
    let sandbox = Sandbox::new("bad-shape");
    let bundle = true_bundle(&sandbox);
    bundle.edit(|spec| {
        spec.set("/process/args", json!("true"));
    });
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["args"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn empty_args() {
    let sandbox = Sandbox::new("bad-empty-args");
    let bundle = true_bundle(&sandbox);
    bundle.edit(|spec| {
        spec.args(&[]);
    });
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["args"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn unknown_namespace_type() {
    let sandbox = Sandbox::new("bad-namespace");
    let bundle = true_bundle(&sandbox);
    bundle.edit(|spec| {
        spec.add_namespace("bogus", None);
    });
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["bogus"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn missing_rootfs() {
    let sandbox = Sandbox::new("bad-rootfs");
    let bundle = true_bundle(&sandbox);
    bundle.edit(|spec| {
        spec.root_path("no-such-rootfs");
    });
    let id = sandbox.container_id("bad");
    run(&sandbox, bundle.path(), &id).assert_one_line_error(&["no-such-rootfs"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn missing_bundle_directory() {
    let sandbox = Sandbox::new("bad-bundle");
    let id = sandbox.container_id("bad");
    let nowhere = sandbox.dir().join("no-such-bundle");
    run(&sandbox, &nowhere, &id).assert_one_line_error(&["no-such-bundle"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn executable_not_found_at_create() {
    let sandbox = Sandbox::new("bad-exe");
    let bundle = true_bundle(&sandbox);
    bundle.edit(|spec| {
        spec.args(&["no-such-command"]);
    });
    let id = sandbox.container_id("bad");
    let create = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    create.assert_one_line_error(&["executable file not found", "no-such-command"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn duplicate_container_id() {
    let sandbox = Sandbox::new("bad-duplicate");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("dup");
    sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let first = sandbox.state(&id);
    let again = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    again.assert_one_line_error(&["exists"]);
    let after = sandbox.state(&id);
    assert_eq!(
        after["status"], "created",
        "the first container is untouched: {after}"
    );
    assert_eq!(
        after["pid"], first["pid"],
        "the first container is untouched: {after}"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn unwritable_state_dir() {
    let sandbox = Sandbox::new("bad-state-dir");
    let bundle = true_bundle(&sandbox);
    let locked = sandbox.make_dir("locked");
    fsutil::set_mode(&locked, 0o555);
    let state = locked.join("state");
    let id = sandbox.container_id("bad");
    let output = sandbox
        .oci_without_root(["--root".as_ref(), state.as_os_str()])
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    output.assert_one_line_error(&[state.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_dir(&locked).unwrap().count(),
        0,
        "nothing created in {locked:?}"
    );
    let leftovers = sandbox.leftover_processes(std::time::Duration::from_secs(2));
    assert!(
        leftovers.is_empty(),
        "processes left behind: {leftovers:#?}"
    );
    fsutil::set_mode(&locked, 0o755);
}

#[test]
fn a_container_id_with_a_slash_is_refused() {
    let sandbox = Sandbox::new("bad-id");
    let bundle = true_bundle(&sandbox);
    let output = run(&sandbox, bundle.path(), "../escaped");
    output.assert_one_line_error(&["id"]);
    assert!(
        !sandbox.dir().join("escaped").exists(),
        "the id escaped the state dir"
    );
    assert!(sandbox.live_processes().is_empty());
}

#[test]
fn commands_on_a_missing_container() {
    let sandbox = Sandbox::new("bad-missing");
    for command in [
        &["state", "no-such-container"][..],
        &["start", "no-such-container"],
        &["kill", "no-such-container", "KILL"],
        &["delete", "no-such-container"],
        &["exec", "no-such-container", "true"],
    ] {
        let output = sandbox.oci(command).run();
        output.assert_one_line_error(&["does not exist"]);
    }
}

#[test]
fn an_unknown_signal_is_refused() {
    let sandbox = Sandbox::new("bad-signal");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("sig");
    sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let output = sandbox.oci(["kill", &id, "SIGNOPE"]).run();
    output.assert_one_line_error(&["signal"]);
    assert_eq!(sandbox.state(&id)["status"], "created");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}
