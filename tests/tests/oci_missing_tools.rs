//! A config that maps a range of ids needs the setuid helpers newuidmap and
//! newgidmap; without them on PATH the runtime must say what to install, in
//! one line, and leave nothing behind. A single-id map needs no helper.

use burrow_tests::Sandbox;

#[test]
fn a_range_map_without_newuidmap_names_the_package() {
    let sandbox = Sandbox::new("no-newuidmap");
    let user = sandbox.user();
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.map_subordinate_ids(user).args(&["true"]);
    });
    let id = sandbox.container_id("c");
    let path = burrow_tests::tools::path_with_only_setpriv(&sandbox);
    let run = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .env("PATH", &path)
        .run();
    run.assert_one_line_error(&["newuidmap", "uidmap"]);
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_single_id_map_needs_no_helper() {
    let sandbox = Sandbox::new("no-helper-needed");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["echo", "ran"]);
    });
    let id = sandbox.container_id("c");
    let path = burrow_tests::tools::path_with_only_setpriv(&sandbox);
    let run = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .env("PATH", &path)
        .run();
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["ran"], "{run}");
    sandbox.assert_nothing_left(&id);
}
