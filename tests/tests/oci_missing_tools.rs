//! A config that maps a range of ids needs the setuid helpers newuidmap and
//! newgidmap; without them on PATH the runtime must say what to install, in
//! one line, and leave nothing behind. A single-id map needs no helper.

use burrow_tests::Sandbox;

/// PATH holding only `setpriv` (which the harness needs to drop privileges).
fn path_without_uidmap(sandbox: &Sandbox) -> String {
    let bin = sandbox.make_dir("bin-without-uidmap");
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("setpriv (util-linux) is installed");
    std::os::unix::fs::symlink(setpriv, bin.join("setpriv")).expect("symlink setpriv");
    bin.display().to_string()
}

#[test]
fn a_range_map_without_newuidmap_names_the_package() {
    let sandbox = Sandbox::new("no-newuidmap");
    let user = sandbox.user();
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.map_subordinate_ids(user).args(&["true"]);
    });
    let id = sandbox.container_id("c");
    let path = path_without_uidmap(&sandbox);
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
    let path = path_without_uidmap(&sandbox);
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
