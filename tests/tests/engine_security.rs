//! Confinement from Docker's flags: the default seccomp filter (Docker's
//! blocked syscalls) and `--security-opt seccomp=unconfined`,
//! `no-new-privileges`, `--privileged`, `--ulimit`, and the resource limits
//! (warned about where no delegated cgroup v2 tree can enforce them).

use burrow_tests::engine::Engine;

fn status_field(e: &Engine, flags: &[&str], field: &str) -> String {
    let out = e
        .run(
            &[&["--rm"], flags].concat(),
            &["grep", field, "/proc/self/status"],
        )
        .run();
    out.assert_success();
    out.stdout_trimmed()
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_default_seccomp_filter_blocks_dockers_syscalls_and_unconfined_lifts_it() {
    let e = Engine::new("sec-seccomp");
    assert_eq!(
        status_field(&e, &[], "Seccomp:"),
        "2",
        "filter mode by default"
    );
    let blocked = e.run(&["--rm"], &["unshare", "-U", "true"]).run();
    blocked.assert_failure();
    assert!(
        blocked.stderr.contains("Operation not permitted"),
        "{blocked}"
    );
    let unconfined = ["--security-opt", "seccomp=unconfined"];
    assert_eq!(status_field(&e, &unconfined, "Seccomp:"), "0");
    e.run(
        &["--rm", "--security-opt", "seccomp=unconfined"],
        &["unshare", "-U", "true"],
    )
    .run()
    .assert_success();
    // Everyday syscalls pass the filter: processes, pipes, files, time.
    e.run(
        &["--rm"],
        &[
            "sh",
            "-c",
            "ls / >/dev/null && echo x | sort && date >/tmp/d",
        ],
    )
    .run()
    .assert_success();
}

#[test]
fn no_new_privileges_privileged_and_ulimits_apply() {
    let e = Engine::new("sec-flags");
    assert_eq!(status_field(&e, &[], "NoNewPrivs:"), "0");
    assert_eq!(
        status_field(&e, &["--security-opt", "no-new-privileges"], "NoNewPrivs:"),
        "1"
    );
    let default_caps = status_field(&e, &[], "CapEff:");
    let privileged_caps = status_field(&e, &["--privileged"], "CapEff:");
    assert_ne!(default_caps, privileged_caps);
    assert_eq!(status_field(&e, &["--privileged"], "Seccomp:"), "0");
    let out = e
        .run(
            &["--rm", "--ulimit", "nofile=100:200"],
            &["sh", "-c", "ulimit -n; ulimit -Hn"],
        )
        .run();
    assert_eq!(out.stdout_lines(), ["100", "200"], "{out}");
}

#[test]
fn bad_options_are_refused_and_limits_are_warned_about_without_cgroups() {
    let e = Engine::new("sec-bad");
    for flags in [
        ["--security-opt", "bogus=1"],
        ["--ulimit", "nofile=9:1"],
        ["--memory", "lots"],
        ["--security-opt", "seccomp=/no/such/profile.json"],
    ] {
        let out = e.run(&[&["--rm"], &flags[..]].concat(), &["true"]).run();
        out.assert_code(125);
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    }
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "{ps}");
    let limited = e
        .run(
            &["--rm", "--memory", "64m", "--pids-limit", "50"],
            &["true"],
        )
        .run();
    limited.assert_success();
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        assert!(limited.stderr.contains("not enforced"), "{limited}");
    }
}
