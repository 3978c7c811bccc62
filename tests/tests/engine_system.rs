//! `commit`, `system df|prune|info`, the config file, `BURROW_LOG` and `info`'s
//! checks — each on real behaviour: the committed image holds the change when run,
//! prune removes what it says, a config file's `root` moves the store, debug lines
//! appear on stderr, a bad config file stops burrow with one line and status 125.
//! Driven as the unprivileged test user on a busybox image imported offline.

use std::path::{Path, PathBuf};

use burrow_tests::engine::Engine;
use burrow_tests::runtime::Runtime;
use burrow_tests::Cmd;

/// `burrow ARGS…` without `--root`, with `XDG_CONFIG_HOME` in the sandbox.
fn burrow_with_config(e: &Engine, args: &[&str]) -> Cmd {
    e.sandbox
        .command(Runtime::burrow().program())
        .env("XDG_CONFIG_HOME", config_home(e))
        .args(args)
}

fn config_home(e: &Engine) -> PathBuf {
    e.sandbox.dir().join("config")
}

fn write_config(e: &Engine, text: &str) -> PathBuf {
    let dir = config_home(e).join("burrow");
    std::fs::create_dir_all(&dir).expect("config dir");
    let file = dir.join("config.toml");
    std::fs::write(&file, text).expect("config file");
    file
}

fn store_of(info: &str) -> String {
    let report: serde_json::Value = serde_json::from_str(info).expect("info JSON");
    report["store"]["data"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn commit_makes_an_image_of_the_containers_changes() {
    let e = Engine::new("sys-commit");
    e.sandbox.import_busybox("bb");
    e.burrow([
        "run",
        "--name",
        "maker",
        "bb",
        "sh",
        "-c",
        "echo hello > /etc/greeting && chown 65534:65534 /etc/greeting && \
         chmod 0640 /etc/greeting && rm /etc/group && mkdir /srv && echo x > /srv/file",
    ])
    .run()
    .assert_success();
    let out = e
        .burrow([
            "commit",
            "-m",
            "made by hand",
            "-a",
            "Tester <t@example.com>",
            "-c",
            r#"CMD ["cat", "/etc/greeting"]"#,
            "maker",
            "committed:v1",
        ])
        .run();
    out.assert_success();
    let id = out.stdout_trimmed().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{out}");
    let out = e.burrow(["run", "--rm", "committed:v1"]).run();
    out.assert_success();
    assert_eq!(out.stdout, "hello\n", "the -c CMD and the new file: {out}");
    let out = e
        .burrow([
            "run",
            "--rm",
            "committed:v1",
            "sh",
            "-c",
            "stat -c '%u:%g %a' /etc/greeting; ls /etc/group 2>/dev/null || echo gone; \
             cat /srv/file /etc/passwd | head -2",
        ])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout, "65534:65534 640\ngone\nx\nroot:x:0:0:root:/root:/bin/sh\n",
        "owner and mode kept, the deleted file stays deleted, the base layer is there: {out}"
    );
    let out = e
        .burrow([
            "image",
            "inspect",
            "--format",
            "{{.Author}}|{{.Comment}}",
            "committed:v1",
        ])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout_trimmed(),
        "Tester <t@example.com>|made by hand",
        "{out}"
    );
    let history = e.burrow(["history", "--no-trunc", "committed:v1"]).run();
    history.assert_success();
    assert!(history.stdout.contains("made by hand"), "{history}");
}

#[test]
fn commit_of_a_running_container_pauses_it_only_for_the_copy() {
    let e = Engine::new("sys-commit-live");
    e.sandbox.import_busybox("bb");
    e.burrow(["run", "-d", "--name", "live", "bb", "sleep", "100"])
        .run()
        .assert_success();
    e.burrow(["exec", "live", "sh", "-c", "echo live > /tmp/state"])
        .run()
        .assert_success();
    e.burrow(["commit", "live", "snap"]).run().assert_success();
    let status = e
        .burrow(["inspect", "--format", "{{.State.Status}}", "live"])
        .run();
    assert_eq!(status.stdout_trimmed(), "running", "{status}");
    let out = e.burrow(["run", "--rm", "snap", "cat", "/tmp/state"]).run();
    assert_eq!(out.stdout, "live\n", "{out}");
    let bad = e.burrow(["commit", "-c", "FROBNICATE x", "live"]).run();
    bad.assert_code(125);
    e.burrow(["rm", "-f", "live"]).run().assert_success();
}

#[test]
fn system_df_shows_dockers_table() {
    let e = Engine::new("sys-df");
    e.sandbox.import_busybox("bb");
    e.burrow([
        "run",
        "--name",
        "writer",
        "bb",
        "sh",
        "-c",
        "head -c 100000 /bin/busybox > /big",
    ])
    .run()
    .assert_success();
    let out = e.burrow(["system", "df"]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "{out}"
    );
    let row = |kind: &str| -> Vec<String> {
        let line = lines
            .iter()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("no {kind} row: {out}"));
        line[kind.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Images")[..2], ["1", "1"], "{out}");
    let containers = row("Containers");
    assert_eq!(containers[..2], ["1", "0"], "{out}");
    assert_eq!(containers[2], "100kB", "the container wrote 100 kB: {out}");
    assert_eq!(row("Local Volumes")[..2], ["0", "0"], "{out}");
    assert_eq!(row("Build Cache")[..3], ["0", "0", "0B"], "{out}");
    let verbose = e.burrow(["system", "df", "-v"]).run();
    verbose.assert_success();
    assert!(verbose.stdout.contains("writer"), "{verbose}");
}

#[test]
fn system_prune_removes_what_nothing_uses() {
    let e = Engine::new("sys-prune");
    e.sandbox.import_busybox("bb");
    let old = e
        .burrow(["image", "inspect", "--format", "{{.Id}}", "bb"])
        .run();
    old.assert_success();
    let old_id = old.stdout_trimmed().to_string();
    // The name moves to the new import (another config, so another id even within
    // the same second): the first image is dangling.
    let tar = e.sandbox.busybox_rootfs_tar();
    e.burrow(["import", "-c", "ENV SECOND=1"])
        .arg(&tar)
        .arg("bb")
        .run()
        .assert_success();
    e.burrow(["run", "--name", "stopped", "-v", "/data", "bb", "true"])
        .run()
        .assert_success();
    e.burrow(["run", "-d", "--name", "running", "bb", "sleep", "100"])
        .run()
        .assert_success();
    e.burrow(["network", "create", "unused"])
        .run()
        .assert_success();
    e.burrow(["volume", "create", "named"])
        .run()
        .assert_success();
    let declined = e.burrow(["system", "prune"]).stdin("n\n").run();
    declined.assert_success();
    assert!(
        declined.stdout.contains("WARNING! This will remove:"),
        "{declined}"
    );
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(
        ps.stdout_lines().len(),
        2,
        "declined: nothing removed: {ps}"
    );

    let out = e.burrow(["system", "prune", "-f", "--volumes"]).run();
    out.assert_success();
    for heading in [
        "Deleted Containers:",
        "Deleted Networks:\nunused\n",
        "Deleted Volumes:",
        "Deleted Images:",
        "Total reclaimed space: ",
    ] {
        assert!(out.stdout.contains(heading), "{heading:?} in: {out}");
    }
    let ps = e.burrow(["ps", "-a", "--format", "{{.Names}}"]).run();
    assert_eq!(ps.stdout_trimmed(), "running", "{ps}");
    let networks = e.burrow(["network", "ls", "--format", "{{.Name}}"]).run();
    assert!(!networks.stdout.contains("unused"), "{networks}");
    let volumes = e.burrow(["volume", "ls", "-q"]).run();
    assert_eq!(
        volumes.stdout_trimmed(),
        "named",
        "the anonymous volume went, the named one stays (Docker 23's rule): {volumes}"
    );
    let gone = e.burrow(["image", "inspect", &old_id]).run();
    assert!(!gone.success(), "the dangling image is gone: {gone}");
    e.burrow(["image", "inspect", "bb"]).run().assert_success();

    e.burrow(["rm", "-f", "running"]).run().assert_success();
    let all = e.burrow(["system", "prune", "-a", "-f"]).run();
    all.assert_success();
    assert!(all.stdout.contains("Deleted Images:"), "{all}");
    let images = e.burrow(["images", "-q"]).run();
    assert_eq!(
        images.stdout_trimmed(),
        "",
        "-a removes unused images: {images}"
    );
}

#[test]
fn system_info_is_info_with_the_fixes_for_what_is_missing() {
    let e = Engine::new("sys-info");
    let out = e.burrow(["system", "info", "--format", "json"]).run();
    out.assert_success();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let checks = report["checks"].as_array().expect("checks");
    let check = |name: &str| {
        checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {report}"))
    };
    for name in [
        "subuid",
        "subgid",
        "fuse",
        "tun",
        "cgroups",
        "cgroup delegation",
    ] {
        assert!(check(name)["hint"].as_str().is_some_and(|h| !h.is_empty()));
    }
    assert!(check("fuse")["hint"]
        .as_str()
        .is_some_and(|h| h.contains("sudo chmod 0666 /dev/fuse")));
    assert!(check("subuid")["hint"]
        .as_str()
        .is_some_and(|h| h.contains(":100000:65536` to /etc/subuid")));
    let text = e.burrow(["info"]).run();
    text.assert_success();
    assert!(text.stdout.contains("cgroup delegation:"), "{text}");
}

#[test]
fn the_config_files_root_moves_the_store_and_the_environment_wins() {
    let e = Engine::new("sys-config");
    let moved = e.sandbox.dir().join("moved-store");
    write_config(
        &e,
        &format!(
            "# burrow settings\nroot = \"{}\"\nlog_level = \"warn\"\n",
            moved.display()
        ),
    );
    let out = burrow_with_config(&e, &["info", "--format", "json"]).run();
    out.assert_success();
    assert_eq!(store_of(&out.stdout), moved.to_string_lossy(), "{out}");
    burrow_with_config(&e, &["volume", "create", "in-moved"])
        .run()
        .assert_success();
    assert!(Path::new(&moved).join("volumes/in-moved").is_dir());
    let other = e.sandbox.dir().join("env-store");
    let out = burrow_with_config(&e, &["info", "--format", "json"])
        .env("BURROW_ROOT", &other)
        .run();
    assert_eq!(store_of(&out.stdout), other.to_string_lossy(), "{out}");
}

#[test]
fn burrow_log_debug_prints_the_start_path_on_stderr() {
    let e = Engine::new("sys-log");
    e.sandbox.import_busybox("bb");
    let quiet = e.burrow(["run", "--rm", "bb", "true"]).run();
    quiet.assert_success();
    assert!(!quiet.stderr.contains("debug"), "{quiet}");
    let out = e
        .burrow(["run", "--rm", "bb", "echo", "hi"])
        .env("BURROW_LOG", "debug")
        .run();
    out.assert_success();
    assert_eq!(out.stdout, "hi\n", "debug lines stay off stdout: {out}");
    for needle in [
        "resolved to sha256:",
        "created container",
        "starting container",
    ] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with("burrow: debug ") && l.contains(needle)),
            "{needle:?} in: {out}"
        );
    }
    write_config(&e, "log_level = \"debug\"\n");
    let out = e
        .burrow(["images"])
        .env("XDG_CONFIG_HOME", config_home(&e))
        .run();
    assert!(
        out.stderr.contains("burrow: debug "),
        "log_level from the file: {out}"
    );
}

#[test]
fn a_bad_config_file_is_one_line_naming_file_and_key_and_exit_125() {
    let e = Engine::new("sys-badconfig");
    let file = write_config(&e, "root = 3\n");
    let out = burrow_with_config(&e, &["ps"]).run();
    out.assert_code(125);
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("burrow: error: "), "{out}");
    assert!(lines[0].contains(&*file.to_string_lossy()), "{out}");
    assert!(lines[0].contains("`root`"), "{out}");
    write_config(&e, "roots = \"/x\"\n");
    let out = burrow_with_config(&e, &["ps"]).run();
    out.assert_code(125);
    assert!(out.stderr.contains("`roots`"), "{out}");
    write_config(&e, "root = = \n");
    let out = burrow_with_config(&e, &["ps"]).run();
    out.assert_code(125);
    assert_eq!(out.stderr_lines().len(), 1, "{out}");
    assert!(out.stderr.contains("line 1"), "{out}");
    let out = e.burrow(["ps"]).env("BURROW_LOG", "loud").run();
    out.assert_code(125);
    assert!(out.stderr.contains("BURROW_LOG"), "{out}");
}
