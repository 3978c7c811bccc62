//! Confinement the kernel enforces: capabilities, no_new_privs, seccomp, rlimits, and no
//! file descriptor of the runtime (or of whatever started it) reaching the container.

use std::time::Duration;

use burrow_tests::procfs::{cap_mask, cap_names, parse_cap_mask, status_field};
use burrow_tests::Sandbox;

#[test]
fn capabilities_are_the_configured_sets() {
    let sandbox = Sandbox::new("caps");
    let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let (id, run) = sandbox.run_container(|spec| {
        spec.capabilities(&caps).args(&["cat", "/proc/self/status"]);
    });
    run.assert_success();
    let expected = cap_mask(&caps);
    for (field, want) in [
        ("CapEff", expected),
        ("CapPrm", expected),
        ("CapBnd", expected),
        ("CapInh", 0),
        ("CapAmb", 0),
    ] {
        let value = status_field(&run.stdout, field)
            .and_then(parse_cap_mask)
            .unwrap_or_else(|| panic!("no {field} in /proc/self/status: {run}"));
        assert_eq!(
            value,
            want,
            "{field} is {:?}, expected {:?}",
            cap_names(value),
            cap_names(want)
        );
    }
    sandbox.assert_nothing_left(&id);
}

#[test]
fn dropped_capabilities_are_really_gone() {
    let sandbox = Sandbox::new("caps-chown");
    // Without CAP_CHOWN even container root cannot give a file away.
    let script = "touch /tmp/f; chown 1:1 /tmp/f 2>&1; echo chown=$?";
    let (id, run) = sandbox.run_container(|spec| {
        spec.map_subordinate_ids(sandbox.user())
            .capabilities(&["CAP_KILL"])
            .args(&["sh", "-c", script]);
    });
    run.assert_success();
    run.assert_stdout_contains("Operation not permitted");
    assert!(run.stdout_lines().contains(&"chown=1"), "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn no_new_privileges_follows_the_config() {
    let sandbox = Sandbox::new("nnp");
    for (setting, expected) in [(true, "1"), (false, "0")] {
        let (id, run) = sandbox.run_container(|spec| {
            spec.no_new_privileges(setting)
                .args(&["cat", "/proc/self/status"]);
        });
        run.assert_success();
        assert_eq!(
            status_field(&run.stdout, "NoNewPrivs"),
            Some(expected),
            "{run}"
        );
        sandbox.assert_nothing_left(&id);
    }
}

#[test]
fn seccomp_blocks_the_listed_syscalls_only() {
    let sandbox = Sandbox::new("seccomp");
    let script = "mkdir /tmp/blocked 2>&1; echo mkdir=$?; touch /tmp/allowed && echo touch-ok; \
                  grep '^Seccomp:' /proc/self/status";
    let (id, run) = sandbox.run_container(|spec| {
        spec.seccomp_errno(&["mkdir", "mkdirat"], libc::EPERM as u32)
            .args(&["sh", "-c", script]);
    });
    run.assert_success();
    run.assert_stdout_contains("Operation not permitted");
    let lines = run.stdout_lines();
    assert!(lines.contains(&"mkdir=1"), "{run}");
    assert!(lines.contains(&"touch-ok"), "{run}");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().eq(["Seccomp:", "2"])),
        "filter mode: {run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn seccomp_errno_value_is_the_configured_one() {
    let sandbox = Sandbox::new("seccomp-errno");
    let (id, run) = sandbox.run_container(|spec| {
        spec.seccomp_errno(&["mkdir", "mkdirat"], libc::ENOSPC as u32)
            .args(&["sh", "-c", "mkdir /tmp/blocked 2>&1; true"]);
    });
    run.assert_success();
    run.assert_stdout_contains("No space left on device");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn rlimits_are_applied() {
    let sandbox = Sandbox::new("rlimits");
    let script = "ulimit -n; ulimit -Hn; grep 'Max open files' /proc/self/limits";
    let (id, run) = sandbox.run_container(|spec| {
        spec.rlimit("RLIMIT_NOFILE", 321, 654)
            .args(&["sh", "-c", script]);
    });
    run.assert_success();
    let lines = run.stdout_lines();
    assert_eq!(lines[..2], ["321", "654"], "{run}");
    assert!(
        lines[2]
            .split_whitespace()
            .eq(["Max", "open", "files", "321", "654", "files"]),
        "{run}"
    );
    sandbox.assert_nothing_left(&id);
}

/// The runtime is started with an extra fd 7 without close-on-exec (as a careless parent
/// would leave it), on top of whatever the test process itself inherited; the container
/// must see only stdio (and the fd `ls` opens to read the directory).
#[test]
fn inherited_fds_do_not_reach_the_container() {
    let sandbox = Sandbox::new("fd-leak");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["ls", "/proc/self/fd"]);
    });
    let leak = std::fs::File::open("/etc/passwd").unwrap();
    let id = sandbox.container_id("fds");
    let run = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .inherit_fd(&leak, 7)
        .run();
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["0", "1", "2", "3"], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn preserve_fds_passes_fd_3_through() {
    let sandbox = Sandbox::new("preserve-fds");
    let content = format!("preserved-{}", sandbox.token());
    let passed = sandbox.write_file("passed", &content);
    let bundle = sandbox.bundle("b");
    // `cat <&3` reads the preserved fd; the shell's child `ls` then has 0-3 plus its own 4.
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", "cat <&3; echo; ls /proc/self/fd"]);
    });
    let passed = std::fs::File::open(passed).unwrap();
    let leak = std::fs::File::open("/etc/passwd").unwrap();
    let id = sandbox.container_id("preserve");
    let run = sandbox
        .oci(["run", "--preserve-fds", "1", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .inherit_fd(&passed, 3)
        .inherit_fd(&leak, 7)
        .run();
    run.assert_success();
    assert_eq!(
        run.stdout_lines(),
        [content.as_str(), "0", "1", "2", "3", "4"],
        "{run}"
    );
    sandbox.assert_nothing_left(&id);
}

/// CVE-2019-5736: a container process must not get a writable handle on the runtime
/// binary. The binary is a private copy owned by the test user (as a rootless install
/// is), so container root could write it given a handle. The container's init loops over
/// /proc, holding `/proc/<pid>/exe` of every non-busybox process it sees (an exec helper
/// of the runtime may appear in its pid namespace) and writing through that handle once
/// the helper is gone. The binary on the host must be unchanged.
#[test]
fn the_runtime_binary_cannot_be_overwritten_from_the_container() {
    let mut sandbox = Sandbox::new("self-exe");
    let runtime = sandbox.use_private_runtime_copy();
    let before = std::fs::read(&runtime).unwrap();
    let shared = sandbox.make_dir("shared");
    // No fork per probe (test -ef and exec are shell builtins), to catch short-lived
    // helpers; busybox processes (this loop's own children) are skipped.
    let script = r#"
        while [ ! -e /shared/stop ]; do
            for p in /proc/[0-9]*; do
                [ $p/exe -ef /bin/busybox ] && continue
                exec 9< $p/exe 2>/dev/null || continue
                echo "held $p" >> /shared/seen
                ( sleep 0.2; printf pwned > /proc/self/fd/9 ) 2>/dev/null && echo wrote >> /shared/seen
                exec 9<&-
            done
        done
    "#;
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.bind_mount(&shared, "/shared", &[])
            .args(&["sh", "-c", script]);
    });
    let id = sandbox.container_id("self-exe");
    let run = sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    for _ in 0..20 {
        let _ = sandbox.oci(["exec", &id, "true"]).run();
    }
    std::fs::write(shared.join("stop"), "").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let seen = std::fs::read_to_string(shared.join("seen")).unwrap_or_default();
    let after = std::fs::read(&runtime).unwrap();
    assert!(
        before == after,
        "the runtime binary was modified from the container: {seen}"
    );
    assert!(
        !seen.contains("wrote"),
        "a write through /proc/<pid>/exe succeeded: {seen}"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
}
