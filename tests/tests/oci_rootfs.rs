//! Entering the root filesystem: `run --no-pivot` (move + chroot instead of pivot_root)
//! and `linux.rootfsPropagation`.
//!
//! This machine's host `/` is a private mount, so propagation to or from the host cannot
//! be observed; what can be is that the values are accepted, that the container's `/`
//! ends up with the propagation asked for as /proc/self/mountinfo reports it (its
//! optional fields: `shared:N`, `master:N`), and that a bad value is refused.

use burrow_tests::Sandbox;
use serde_json::json;

/// Prints the /proc/self/mountinfo line of the mount at `/`.
const ROOT_MOUNT: &str = "awk '$5 == \"/\"' /proc/self/mountinfo";

/// The optional fields of a mountinfo line (between the 6th field and ` - `).
fn optional_fields(line: &str) -> Vec<&str> {
    let before_separator = line.split(" - ").next().unwrap_or_default();
    before_separator.split_whitespace().skip(6).collect()
}

#[test]
fn no_pivot_runs_the_process_in_its_rootfs() {
    let sandbox = Sandbox::new("no-pivot");
    let host_marker = sandbox.write_file("host-marker", "host");
    let bundle = sandbox.bundle("b");
    bundle.write_rootfs_file("rootfs-marker", "inside\n");
    let script = format!(
        "cat /rootfs-marker; test -e {} && echo host-visible; ls -A /; echo --; {ROOT_MOUNT}",
        host_marker.display()
    );
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", &script]);
    });
    let id = sandbox.container_id("nopivot");
    let run = sandbox
        .oci(["run", "--no-pivot", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    let (listing, mounts) = run.stdout.split_once("--\n").expect("two sections");
    let mut lines = listing.lines();
    assert_eq!(lines.next(), Some("inside"), "{run}");
    assert!(!run.stdout.contains("host-visible"), "{run}");
    let mut root: Vec<&str> = lines.flat_map(str::split_whitespace).collect();
    root.sort_unstable();
    let mut expected = vec![
        "bin",
        "dev",
        "etc",
        "proc",
        "rootfs-marker",
        "root",
        "sys",
        "tmp",
    ];
    expected.sort_unstable();
    assert_eq!(root, expected, "/ is the bundle's rootfs: {run}");
    let rootfs = bundle.rootfs();
    let rootfs = rootfs.to_str().expect("a UTF-8 path");
    let root_line = mounts.trim();
    assert!(
        root_line.split_whitespace().nth(3) == Some(rootfs),
        "the mount at / is the rootfs ({rootfs}): {run}"
    );
    sandbox.assert_nothing_left(&id);
}

/// private and slave (and their recursive forms, which runc accepts too) are accepted;
/// `/` is then not shared, and with private it has no peer or master at all.
#[test]
fn private_and_slave_root_propagation_are_accepted() {
    let sandbox = Sandbox::new("propagation");
    for value in ["private", "rprivate", "slave", "rslave"] {
        let (id, run) = sandbox.run_container(|spec| {
            spec.set("/linux/rootfsPropagation", json!(value))
                .args(&["sh", "-c", ROOT_MOUNT]);
        });
        run.assert_success();
        let fields = optional_fields(run.stdout_trimmed());
        assert!(
            !fields.iter().any(|f| f.starts_with("shared:")),
            "{value}: / must not be shared: {run}"
        );
        if value.ends_with("private") {
            assert!(fields.is_empty(), "{value}: / is private: {run}");
        }
        sandbox.assert_nothing_left(&id);
    }
}

/// runtime-spec config-linux.md lists shared among the values; runc runs it.
#[test]
fn shared_root_propagation_is_accepted() {
    let sandbox = Sandbox::new("propagation-shared");
    let (id, run) = sandbox.run_container(|spec| {
        spec.set("/linux/rootfsPropagation", json!("shared"))
            .args(&["sh", "-c", ROOT_MOUNT]);
    });
    run.assert_success();
    assert!(!run.stdout_trimmed().is_empty(), "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn an_invalid_root_propagation_is_refused() {
    let sandbox = Sandbox::new("propagation-bad");
    let (id, run) = sandbox.run_container(|spec| {
        spec.set("/linux/rootfsPropagation", json!("sideways"))
            .args(&["true"]);
    });
    run.assert_one_line_error(&["sideways"]);
    sandbox.assert_nothing_left(&id);
}
