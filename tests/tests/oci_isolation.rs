//! What a container can see of the host: hostname, pids, files, masked and read-only
//! paths. Everything is observed from inside by busybox.

use burrow_tests::Sandbox;

#[test]
fn hostname_comes_from_the_config() {
    let sandbox = Sandbox::new("hostname");
    let (id, run) = sandbox.run_container(|spec| {
        spec.hostname("burrow-e2e")
            .args(&["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["burrow-e2e", "burrow-e2e"], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn only_the_containers_pids_are_visible() {
    let sandbox = Sandbox::new("pidns");
    // The glob runs in the shell itself (no child), so the only pid is the shell's.
    let script = "echo self=$$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done";
    let (id, run) = sandbox.run_container(|spec| {
        spec.args(&["sh", "-c", script]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["self=1", "1"], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn host_files_are_invisible() {
    let sandbox = Sandbox::new("hostfiles");
    let marker = sandbox.write_file("host-marker", "from the host");
    let marker = marker.to_str().expect("UTF-8 path");
    let script = format!(
        "test -e {marker} && echo marker-visible; ls -A /; echo --; ls -A /tmp; echo --; ls /bin | grep -v -x busybox | while read f; do test -L /bin/$f || echo not-a-link:$f; done"
    );
    let (id, run) = sandbox.run_container(|spec| {
        spec.args(&["sh", "-c", &script]);
    });
    run.assert_success();
    assert!(!run.stdout.contains("marker-visible"), "{run}");
    assert!(
        !run.stdout.contains("not-a-link"),
        "rootfs /bin should hold only busybox links: {run}"
    );
    let sections: Vec<&str> = run.stdout.split("--\n").collect();
    let root: Vec<&str> = sections[0].split_whitespace().collect();
    let allowed = ["bin", "dev", "etc", "proc", "root", "sys", "tmp"];
    for entry in &root {
        assert!(
            allowed.contains(entry),
            "unexpected /{entry} in the container: {run}"
        );
    }
    assert!(
        sections[1].trim().is_empty(),
        "the rootfs /tmp should be empty: {run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn masked_paths_hide_their_content() {
    let sandbox = Sandbox::new("masked");
    let bundle = sandbox.bundle("b");
    bundle.write_rootfs_file("etc/secret-file", "top-secret\n");
    bundle.write_rootfs_file("etc/secret-dir/hidden", "top-secret\n");
    // /proc/keys is in the default masked paths (/proc/kcore too, but this kernel has none):
    // masking binds /dev/null (char 1:3) over a file.
    assert!(
        std::path::Path::new("/proc/keys").exists(),
        "this test expects /proc/keys"
    );
    let script = "stat -c '%F %t:%T' /proc/keys; echo keys:$(cat /proc/keys); \
                  echo file:$(cat /etc/secret-file); \
                  echo dir:$(ls -A /etc/secret-dir); echo unmasked:$(cat /etc/passwd | head -1)";
    bundle.edit(|spec| {
        spec.masked_path("/etc/secret-file")
            .masked_path("/etc/secret-dir")
            .args(&["sh", "-c", script]);
    });
    let id = sandbox.container_id("masked");
    let run = sandbox.run_bundle(&bundle, &id);
    run.assert_success();
    assert_eq!(
        run.stdout_lines(),
        [
            "character special file 1:3",
            "keys:",
            "file:",
            "dir:",
            "unmasked:root:x:0:0:root:/root:/bin/sh"
        ],
        "{run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_read_only_root_refuses_writes() {
    let sandbox = Sandbox::new("readonly-root");
    let script = "touch /x 2>&1; echo root=$?; touch /tmp/x 2>&1; echo tmp=$?; \
                  touch /dev/shm/x && echo shm-writable";
    let (id, run) = sandbox.run_container(|spec| {
        spec.readonly_root(true).args(&["sh", "-c", script]);
    });
    run.assert_success();
    run.assert_stdout_contains("Read-only file system");
    let lines = run.stdout_lines();
    assert!(lines.contains(&"root=1"), "{run}");
    assert!(lines.contains(&"tmp=1"), "{run}");
    assert!(
        lines.contains(&"shm-writable"),
        "a tmpfs mount stays writable: {run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_read_only_path_refuses_writes_and_the_rest_does_not() {
    let sandbox = Sandbox::new("readonly-path");
    let script = "touch /etc/x 2>&1; echo etc=$?; touch /x && echo root-writable";
    let (id, run) = sandbox.run_container(|spec| {
        spec.readonly_path("/etc").args(&["sh", "-c", script]);
    });
    run.assert_success();
    run.assert_stdout_contains("Read-only file system");
    let lines = run.stdout_lines();
    assert!(lines.contains(&"etc=1"), "{run}");
    assert!(lines.contains(&"root-writable"), "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn proc_sys_is_read_only_by_default() {
    let sandbox = Sandbox::new("proc-sys");
    let script = "echo x > /proc/sys/kernel/hostname 2>&1; echo rc=$?";
    let (id, run) = sandbox.run_container(|spec| {
        spec.args(&["sh", "-c", script]);
    });
    run.assert_success();
    assert!(run.stdout_lines().contains(&"rc=1"), "{run}");
    sandbox.assert_nothing_left(&id);
}
