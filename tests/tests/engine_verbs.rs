//! The everyday Docker verbs beyond run/ps/logs/stop/rm: restart, pause/unpause, top,
//! rename, container prune and the `container` group, stats, diff, cp, export, the
//! gaps of logs and ps, version and completion — each checked on real behaviour
//! (process states in /proc, files round-tripped, archives listed by the host's tar),
//! driven as the unprivileged test user on a busybox root filesystem (and, for diff and
//! the overlay cases of cp/export, a busybox image imported offline).

use std::os::unix::fs::PermissionsExt;

use burrow_tests::engine::Engine;

fn inspect(e: &Engine, template: &str, container: &str) -> String {
    let out = e.burrow(["inspect", "--format", template, container]).run();
    out.assert_success();
    out.stdout_trimmed().to_string()
}

/// The one-letter state of `pid` in /proc (`T` when stopped).
fn proc_state(pid: &str) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next())
        .expect("state")
}

/// The pids `top` lists for a container (second column).
fn top_pids(e: &Engine, container: &str) -> Vec<String> {
    let top = e.burrow(["top", container]).run();
    top.assert_success();
    top.stdout_lines()
        .iter()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
        .collect()
}

#[test]
fn restart_runs_the_container_again_and_bad_policies_exit_125() {
    let e = Engine::new("verbs-restart");
    e.run(&["-d", "--name", "again"], &["sleep", "300"])
        .run()
        .assert_success();
    let first = inspect(&e, "{{.State.Pid}}", "again");
    let restart = e.burrow(["restart", "-t", "1", "again"]).run();
    restart.assert_success();
    assert_eq!(restart.stdout_lines(), ["again"], "{restart}");
    assert_eq!(inspect(&e, "{{.State.Status}}", "again"), "running");
    assert_ne!(inspect(&e, "{{.State.Pid}}", "again"), first);
    e.burrow(["restart", "nope"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["no such container"]);

    let bad = e.run(&["--restart", "sometimes"], &["true"]).run();
    bad.assert_code(125);
    bad.assert_one_line_error(&["restart policy", "sometimes"]);
    e.run(&["--restart", "always", "--rm"], &["true"])
        .run()
        .assert_code(125)
        .assert_one_line_error(&["--restart", "--rm"]);
    e.burrow([
        "create",
        "--name",
        "policy",
        "--restart",
        "on-failure:3",
        "--rootfs",
    ])
    .arg(&e.rootfs)
    .arg("true")
    .run()
    .assert_success();
    assert_eq!(
        inspect(
            &e,
            "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            "policy"
        ),
        "on-failure 3"
    );
    e.burrow(["rm", "-f", "again", "policy"])
        .run()
        .assert_success();
}

#[test]
fn pause_stops_every_process_and_stop_still_works() {
    let e = Engine::new("verbs-pause");
    e.run(
        &["-d", "--name", "frozen"],
        &["sh", "-c", "sleep 300 & sleep 301; wait"],
    )
    .run()
    .assert_success();
    e.wait_for("both sleeps", || top_pids(&e, "frozen").len() == 3);
    let pids = top_pids(&e, "frozen");
    e.burrow(["pause", "frozen"])
        .run()
        .assert_success()
        .assert_stdout_contains("frozen");
    for pid in &pids {
        assert_eq!(proc_state(pid), 'T', "pid {pid} is stopped");
    }
    assert_eq!(
        inspect(&e, "{{.State.Status}} {{.State.Paused}}", "frozen"),
        "paused true"
    );
    let ps = e.burrow(["ps", "--format", "{{.Status}}"]).run();
    assert!(ps.stdout_trimmed().ends_with("(Paused)"), "{ps}");
    let filtered = e
        .burrow(["ps", "--filter", "status=paused", "--format", "{{.Names}}"])
        .run();
    assert_eq!(filtered.stdout_lines(), ["frozen"], "{filtered}");
    e.burrow(["exec", "frozen", "true"])
        .run()
        .assert_one_line_error(&["paused"]);
    e.burrow(["pause", "frozen"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["already paused"]);

    e.burrow(["unpause", "frozen"]).run().assert_success();
    for pid in &pids {
        assert_ne!(proc_state(pid), 'T', "pid {pid} runs again");
    }
    assert_eq!(inspect(&e, "{{.State.Paused}}", "frozen"), "false");
    e.burrow(["unpause", "frozen"]).run().assert_code(1);

    e.burrow(["pause", "frozen"]).run().assert_success();
    e.burrow(["stop", "-t", "1", "frozen"])
        .run()
        .assert_success();
    assert_eq!(
        inspect(&e, "{{.State.Status}} {{.State.Paused}}", "frozen"),
        "exited false"
    );
}

#[test]
fn a_signal_to_a_paused_container_is_delivered() {
    let e = Engine::new("verbs-pause-kill");
    e.run(
        &["-d", "--name", "trapper"],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; while true; do sleep 0.1; done",
        ],
    )
    .run()
    .assert_success();
    e.burrow(["pause", "trapper"]).run().assert_success();
    e.burrow(["kill", "-s", "TERM", "trapper"])
        .run()
        .assert_success();
    let wait = e.burrow(["wait", "trapper"]).run();
    assert_eq!(wait.stdout_trimmed(), "7", "{wait}");
    e.burrow(["rm", "trapper"]).run().assert_success();
}

#[test]
fn top_lists_the_containers_processes_in_ps_columns() {
    let e = Engine::new("verbs-top");
    e.run(&["-d", "--name", "busy"], &["sleep", "300"])
        .run()
        .assert_success();
    let top = e.burrow(["top", "busy"]).run();
    top.assert_success();
    let lines = top.stdout_lines();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
        "{top}"
    );
    assert_eq!(lines.len(), 2, "{top}");
    assert!(lines[1].ends_with("sleep 300"), "{top}");
    assert_eq!(
        lines[1].split_whitespace().nth(1),
        Some(inspect(&e, "{{.State.Pid}}", "busy").as_str()),
        "{top}"
    );
    let custom = e.burrow(["top", "busy", "-o", "pid,comm"]).run();
    custom.assert_success();
    let custom_lines = custom.stdout_lines();
    assert_eq!(
        custom_lines[0].split_whitespace().collect::<Vec<_>>(),
        ["PID", "COMMAND"],
        "{custom}"
    );
    assert_eq!(custom_lines.len(), 2, "{custom}");
    assert!(custom_lines[1].ends_with("sleep"), "{custom}");
    e.burrow(["stop", "-t", "1", "busy"]).run().assert_success();
    e.burrow(["top", "busy"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["not running"]);
}

#[test]
fn rename_moves_the_name_and_keeps_it_after_the_exit() {
    let e = Engine::new("verbs-rename");
    e.run(&["-d", "--name", "old"], &["sleep", "300"])
        .run()
        .assert_success();
    e.run(&["-d", "--name", "other"], &["sleep", "300"])
        .run()
        .assert_success();
    e.burrow(["rename", "old", "new"]).run().assert_success();
    assert_eq!(inspect(&e, "{{.Name}}", "new"), "/new");
    e.burrow(["inspect", "old"]).run().assert_failure();
    e.burrow(["rename", "new", "other"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["already in use"]);
    e.burrow(["rename", "new", "bad/name"])
        .run()
        .assert_one_line_error(&["invalid container name"]);
    let missing = e.burrow(["rename", "new"]).run();
    missing.assert_code(125);
    missing.assert_one_line_error(&["NEW_NAME"]);
    e.burrow(["rename", "ghost", "x"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["no such container"]);
    // The supervisor writes the record when the container exits: the name stays.
    e.burrow(["stop", "-t", "1", "new"]).run().assert_success();
    assert_eq!(
        inspect(&e, "{{.Name}} {{.State.Status}}", "new"),
        "/new exited"
    );
    e.burrow(["rm", "-f", "new", "other"])
        .run()
        .assert_success();
}

#[test]
fn container_prune_removes_only_stopped_containers() {
    let e = Engine::new("verbs-prune");
    let done = e.run(&["--name", "done"], &["true"]).run();
    done.assert_success();
    e.burrow(["create", "--name", "made", "--rootfs"])
        .arg(&e.rootfs)
        .arg("true")
        .run()
        .assert_success();
    e.run(&["-d", "--name", "live"], &["sleep", "300"])
        .run()
        .assert_success();
    let ids: Vec<String> = ["done", "made", "live"]
        .iter()
        .map(|n| inspect(&e, "{{.Id}}", n))
        .collect();
    let prune = e.burrow(["container", "prune", "-f"]).run();
    prune.assert_success();
    let lines = prune.stdout_lines();
    assert_eq!(lines[0], "Deleted Containers:", "{prune}");
    assert!(lines.contains(&ids[0].as_str()), "{prune}");
    assert!(lines.contains(&ids[1].as_str()), "{prune}");
    assert!(!lines.contains(&ids[2].as_str()), "{prune}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("Total reclaimed space: ")),
        "{prune}"
    );
    let left = e.burrow(["ps", "-a", "--format", "{{.Names}}"]).run();
    assert_eq!(left.stdout_lines(), ["live"], "{left}");
    // Without -f it asks, and only "y" goes ahead.
    e.run(&["--name", "asked"], &["true"])
        .run()
        .assert_success();
    let declined = e.burrow(["container", "prune"]).stdin("n\n").run();
    declined.assert_success();
    assert!(declined.stdout.contains("Are you sure"), "{declined}");
    assert!(!declined.stdout.contains("Deleted"), "{declined}");
    let accepted = e.burrow(["container", "prune"]).stdin("y\n").run();
    accepted.assert_success();
    assert!(
        accepted.stdout.contains("Deleted Containers:"),
        "{accepted}"
    );
    let left = e.burrow(["ps", "-a", "--format", "{{.Names}}"]).run();
    assert_eq!(left.stdout_lines(), ["live"], "{left}");
    let again = e.burrow(["container", "prune", "--force"]).run();
    assert_eq!(
        again.stdout_lines(),
        ["Total reclaimed space: 0B"],
        "{again}"
    );
    e.burrow(["rm", "-f", "live"]).run().assert_success();
}

#[test]
fn the_container_group_reaches_every_verb() {
    let e = Engine::new("verbs-group");
    let run = e
        .burrow(["container", "run", "--name", "grouped", "--rootfs"])
        .arg(&e.rootfs)
        .args(["echo", "hello from the group"])
        .run();
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["hello from the group"], "{run}");
    for alias in ["ls", "list", "ps"] {
        let out = e
            .burrow(["container", alias, "-a", "--format", "{{.Names}}"])
            .run();
        assert_eq!(out.stdout_lines(), ["grouped"], "container {alias}: {out}");
    }
    let logs = e.burrow(["container", "logs", "grouped"]).run();
    assert_eq!(logs.stdout_trimmed(), "hello from the group", "{logs}");
    assert_eq!(
        e.burrow([
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}",
            "grouped"
        ])
        .run()
        .stdout_trimmed(),
        "exited"
    );
    e.burrow(["container", "rm", "grouped"])
        .run()
        .assert_success();
    assert!(e.burrow(["ps", "-aq"]).run().stdout_trimmed().is_empty());
}

#[test]
fn cp_round_trips_content_and_mode_both_ways() {
    let e = Engine::new("verbs-cp");
    e.run(&["-d", "--name", "box"], &["sleep", "300"])
        .run()
        .assert_success();
    let host = e.sandbox.write_file("tool.sh", "#!/bin/sh\necho copied\n");
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o751)).unwrap();
    e.burrow(["cp"])
        .arg(&host)
        .arg("box:/tmp/")
        .run()
        .assert_success();
    let inside = e
        .burrow([
            "exec",
            "box",
            "sh",
            "-c",
            "stat -c %a /tmp/tool.sh; /tmp/tool.sh",
        ])
        .run();
    inside.assert_success();
    assert_eq!(inside.stdout_lines(), ["751", "copied"], "{inside}");

    e.burrow([
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /data/sub && echo made inside > /data/sub/note && chmod 604 /data/sub/note",
    ])
    .run()
    .assert_success();
    let back = e.sandbox.make_dir("back");
    e.burrow(["cp", "box:/data"])
        .arg(&back)
        .run()
        .assert_success();
    let note = back.join("data/sub/note");
    assert_eq!(std::fs::read_to_string(&note).unwrap(), "made inside\n");
    let mode = std::fs::metadata(&note).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o604);

    let tar = e.burrow(["cp", "box:/data/sub/note", "-"]).run();
    tar.assert_success();
    assert!(tar.stdout.starts_with("note"), "a tar named by the file");
    assert!(tar.stdout.contains("made inside"), "the file's content");
    // A link planted in the container names a path that also exists on the host:
    // the archive must land in the container's, twice over (existing dirs merge).
    let host_twin = e.sandbox.make_dir("twin");
    let twin = host_twin.display().to_string();
    e.burrow(["exec", "box", "sh", "-c"])
        .arg(format!("mkdir -p {twin} && ln -s {twin} /planted"))
        .run()
        .assert_success();
    let archive = std::process::Command::new("tar")
        .args(["-cf", "-", "-C"])
        .arg(&back)
        .arg("data")
        .output()
        .unwrap();
    assert!(archive.status.success());
    for _ in 0..2 {
        e.burrow(["cp", "-", "box:/planted"])
            .stdin(archive.stdout.clone())
            .run()
            .assert_success();
    }
    let unpacked = e
        .burrow(["exec", "box", "sh", "-c"])
        .arg(format!(
            "cat {twin}/data/sub/note; stat -c %a {twin}/data/sub/note"
        ))
        .run();
    assert_eq!(
        unpacked.stdout_lines(),
        ["made inside", "604"],
        "{unpacked}"
    );
    assert!(
        std::fs::read_dir(&host_twin).unwrap().next().is_none(),
        "nothing escaped to the host"
    );

    // Files of another user of the container (a subordinate id on the host,
    // unreadable to the user outside) copy as they would for the container's root.
    e.burrow([
        "exec",
        "box",
        "sh",
        "-c",
        "mkdir -p /srv/own && echo private > /srv/own/key && chown -R 1000:1000 /srv/own \
         && chmod 600 /srv/own/key && chmod 700 /srv/own",
    ])
    .run()
    .assert_success();
    e.burrow(["cp", "box:/srv/own"])
        .arg(&back)
        .run()
        .assert_success();
    assert_eq!(
        std::fs::read_to_string(back.join("own/key")).unwrap(),
        "private\n"
    );
    e.burrow(["cp"])
        .arg(back.join("own/key"))
        .arg("box:/srv/own/copy")
        .run()
        .assert_success();
    let owners = e
        .burrow([
            "exec",
            "box",
            "stat",
            "-c",
            "%u %a",
            "/srv/own/key",
            "/srv/own/copy",
        ])
        .run();
    assert_eq!(owners.stdout_lines(), ["1000 600", "0 600"], "{owners}");

    e.burrow(["cp", "box:/no/such/file"])
        .arg(&back)
        .run()
        .assert_code(1)
        .assert_one_line_error(&["/no/such/file"]);
    e.burrow(["cp", "a", "b"])
        .run()
        .assert_one_line_error(&["container"]);

    // A stopped --rootfs container: its directory.
    e.burrow(["stop", "-t", "1", "box"]).run().assert_success();
    let after = e.sandbox.make_dir("after");
    e.burrow(["cp", "box:/tmp/tool.sh"])
        .arg(&after)
        .run()
        .assert_success();
    assert_eq!(
        std::fs::read_to_string(after.join("tool.sh")).unwrap(),
        "#!/bin/sh\necho copied\n"
    );
    e.burrow(["rm", "box"]).run().assert_success();
}

#[test]
fn export_writes_a_tar_of_the_filesystem() {
    let e = Engine::new("verbs-export");
    e.run(&["-d", "--name", "ship"], &["sleep", "300"])
        .run()
        .assert_success();
    let out = e.sandbox.make_dir("out");
    let file = out.join("ship.tar");
    e.burrow(["export", "-o"])
        .arg(&file)
        .arg("ship")
        .run()
        .assert_success();
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&file)
        .output()
        .unwrap();
    assert!(list.status.success());
    let names = String::from_utf8_lossy(&list.stdout);
    let names: Vec<&str> = names.lines().map(|l| l.trim_end_matches('/')).collect();
    assert!(names.contains(&"bin/busybox"), "{names:?}");
    // Mounts are exported as their empty mount points.
    assert!(names.contains(&"proc"), "{names:?}");
    assert!(!names.iter().any(|l| l.starts_with("proc/1/")), "{names:?}");
    // A stopped --rootfs container exports its directory.
    e.burrow(["stop", "-t", "1", "ship"]).run().assert_success();
    let stopped = out.join("stopped.tar");
    e.burrow(["export", "--output"])
        .arg(&stopped)
        .arg("ship")
        .run()
        .assert_success();
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&stopped)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout)
        .lines()
        .any(|l| l == "bin/busybox"));
    e.burrow(["export", "ghost"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["no such container"]);
    e.burrow(["rm", "-f", "ship"]).run().assert_success();
}

#[test]
fn logs_tail_since_and_until_cut_where_asked() {
    let e = Engine::new("verbs-logs");
    e.run(
        &["-d", "--name", "talker"],
        &[
            "sh",
            "-c",
            "echo one; echo two; sleep 1.2; echo three; sleep 300",
        ],
    )
    .run()
    .assert_success();
    e.wait_for("three lines", || {
        e.burrow(["logs", "talker"]).run().stdout_lines().len() == 3
    });
    let tail = e.burrow(["logs", "--tail", "2", "talker"]).run();
    assert_eq!(tail.stdout_lines(), ["two", "three"], "{tail}");
    let all = e.burrow(["logs", "-n", "all", "talker"]).run();
    assert_eq!(all.stdout_lines().len(), 3, "{all}");
    let stamped = e.burrow(["logs", "-t", "talker"]).run();
    let third = stamped.stdout_lines()[2].to_string();
    let (time, text) = third.split_once(' ').expect("a timestamp");
    assert_eq!(text, "three");
    assert!(time.ends_with('Z') && time.contains('T'), "{stamped}");
    let since = e.burrow(["logs", "--since", time, "talker"]).run();
    assert_eq!(since.stdout_lines(), ["three"], "{since}");
    let until = e.burrow(["logs", "--until", time, "talker"]).run();
    assert_eq!(until.stdout_lines(), ["one", "two"], "{until}");
    let recent = e.burrow(["logs", "--since", "10m", "talker"]).run();
    assert_eq!(recent.stdout_lines().len(), 3, "{recent}");
    e.burrow(["logs", "--since", "yesterday", "talker"])
        .run()
        .assert_one_line_error(&["yesterday"]);
    e.burrow(["logs", "--tail", "x", "talker"])
        .run()
        .assert_one_line_error(&["--tail"]);
    // -f follows until the container exits.
    let follow = e.burrow(["logs", "-f", "talker"]).spawn();
    std::thread::sleep(std::time::Duration::from_millis(300));
    e.burrow(["kill", "talker"]).run().assert_success();
    let followed = follow.wait();
    followed.assert_success();
    assert_eq!(
        followed.stdout_lines(),
        ["one", "two", "three"],
        "{followed}"
    );
    e.burrow(["rm", "talker"]).run().assert_success();
}

#[test]
fn ps_filters_limits_and_a_table_that_fits_its_content() {
    let e = Engine::new("verbs-ps");
    e.burrow(["create", "--name", "made", "--label", "tier=db", "--rootfs"])
        .arg(&e.rootfs)
        .arg("true")
        .run()
        .assert_success();
    e.run(&["--name", "done"], &["sh", "-c", "exit 3"])
        .run()
        .assert_code(3);
    e.run(
        &["-d", "--name", "live", "--label", "tier=web"],
        &["sleep", "300"],
    )
    .run()
    .assert_success();
    let names = |args: &[&str]| {
        let out = e.burrow(["ps", "--format", "{{.Names}}"]).args(args).run();
        out.assert_success();
        out.stdout_lines()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&[]), ["live"]);
    assert_eq!(names(&["-a"]), ["live", "done", "made"]);
    assert_eq!(names(&["--filter", "status=exited"]), ["done"]);
    assert_eq!(names(&["--filter", "status=created"]), ["made"]);
    assert_eq!(names(&["--filter", "exited=3"]), ["done"]);
    assert!(names(&["--filter", "exited=4"]).is_empty());
    assert_eq!(names(&["-a", "--filter", "name=liv"]), ["live"]);
    assert_eq!(names(&["-a", "--filter", "label=tier"]), ["live", "made"]);
    assert_eq!(names(&["-a", "--filter", "label=tier=db"]), ["made"]);
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            "status=exited",
            "--filter",
            "status=created"
        ]),
        ["done", "made"]
    );
    assert_eq!(names(&["-n", "2"]), ["live", "done"]);
    assert_eq!(names(&["-l"]), ["live"]);
    let id = inspect(&e, "{{.Id}}", "live");
    assert_eq!(names(&["--filter", &format!("id={}", &id[..6])]), ["live"]);
    let full = e.burrow(["ps", "-q", "--no-trunc"]).run();
    assert_eq!(full.stdout_lines(), [id.as_str()], "{full}");
    e.burrow(["ps", "--filter", "color=red"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["invalid filter"]);
    e.burrow(["ps", "--filter", "status=sleepy"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["status=sleepy"]);

    // Columns start where their header starts, three spaces at least between them.
    let table = e.burrow(["ps", "-a"]).run();
    let lines = table.stdout_lines();
    let header = lines[0];
    for column in ["IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        let at = header.find(column).expect(column);
        assert!(header[..at].ends_with("   "), "{column}: {table}");
    }
    let names_at = header.find("NAMES").unwrap();
    for line in &lines[1..] {
        let name = line.get(names_at..).unwrap_or_default();
        assert!(["live", "done", "made"].contains(&name), "{table}");
        assert!(line[..names_at].ends_with("   "), "{table}");
    }
    let status_at = header.find("STATUS").unwrap();
    let ports_at = header.find("PORTS").unwrap();
    for line in &lines[1..] {
        let status = line[status_at..ports_at].trim_end();
        assert!(
            status.starts_with("Up") || status.starts_with("Exited") || status == "Created",
            "{table}"
        );
    }
    let custom = e
        .burrow(["ps", "-a", "--format", "table {{.Names}}\\t{{.State}}"])
        .run();
    let custom_lines = custom.stdout_lines();
    assert_eq!(custom_lines[0], "NAMES     STATE", "{custom}");
    assert_eq!(custom_lines[1], "live      running", "{custom}");
    e.burrow(["rm", "-f", "live"]).run().assert_success();
}

#[test]
fn stats_reads_the_containers_processes_and_diff_of_a_rootfs_is_empty() {
    let e = Engine::new("verbs-stats");
    e.run(&["-d", "--name", "meter"], &["sleep", "300"])
        .run()
        .assert_success();
    let stats = e.burrow(["stats", "--no-stream"]).run();
    stats.assert_success();
    let lines = stats.stdout_lines();
    for column in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "NET I/O",
        "PIDS",
    ] {
        assert!(lines[0].contains(column), "{column}: {stats}");
    }
    assert_eq!(lines.len(), 2, "{stats}");
    assert!(lines[1].contains("meter"), "{stats}");
    assert!(lines[1].ends_with(" 1"), "one process: {stats}");
    let formatted = e
        .burrow([
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}} {{.CPUPerc}}",
            "meter",
        ])
        .run();
    formatted.assert_success();
    let words: Vec<&str> = formatted.stdout_trimmed().split(' ').collect();
    assert_eq!(words[..2], ["meter", "1"], "{formatted}");
    assert!(words[2].ends_with('%'), "{formatted}");
    let json = e
        .burrow(["stats", "--no-stream", "--format", "json", "meter"])
        .run();
    let row: serde_json::Value = serde_json::from_str(json.stdout_trimmed()).expect("json");
    assert!(
        row["MemUsage"].as_str().is_some_and(|m| m.contains(" / ")),
        "{json}"
    );

    // Without --no-stream it keeps printing, once a second or so.
    let streaming = e.burrow(["stats", "meter"]).spawn();
    e.wait_for("two readings", || {
        streaming.stdout_so_far().matches("meter").count() >= 2
    });
    drop(streaming);

    let diff = e.burrow(["diff", "meter"]).run();
    diff.assert_success();
    assert!(diff.stdout.is_empty(), "{diff}");
    e.burrow(["diff", "ghost"])
        .run()
        .assert_code(1)
        .assert_one_line_error(&["no such container"]);
    e.burrow(["rm", "-f", "meter"]).run().assert_success();
}

#[test]
fn version_completion_and_man_pages() {
    let e = Engine::new("verbs-version");
    let version = e.burrow(["version"]).run();
    version.assert_success();
    for word in [
        "Client:",
        "Server:",
        "Version:",
        "API version:",
        "1.43",
        "rustc",
        "OS/Arch:",
    ] {
        version.assert_stdout_contains(word);
    }
    let json = e.burrow(["version", "--format", "json"]).run();
    json.assert_success();
    let value: serde_json::Value = serde_json::from_str(json.stdout_trimmed()).expect("json");
    assert_eq!(value["Client"]["ApiVersion"], "1.43");
    assert_eq!(value["Server"]["ApiVersion"], "1.43");
    let api = e
        .burrow(["version", "--format", "{{.Server.ApiVersion}}"])
        .run();
    assert_eq!(api.stdout_trimmed(), "1.43", "{api}");

    for (shell, needle) in [
        ("bash", "_burrow()"),
        ("zsh", "#compdef burrow"),
        ("fish", "complete -c burrow"),
    ] {
        let out = e.burrow(["completion", shell]).run();
        out.assert_success();
        out.assert_stdout_contains(needle);
        out.assert_stdout_contains("unpause");
    }
    e.burrow(["completion", "tcsh"])
        .run()
        .assert_code(125)
        .assert_one_line_error(&["tcsh"]);
    let help = e.burrow(["container"]).run();
    help.assert_success();
    help.assert_stdout_contains("prune");

    let man = e.sandbox.make_dir("man");
    e.burrow(["man"]).arg(&man).run().assert_success();
    for page in [
        "burrow.1",
        "burrow-run.1",
        "burrow-cp.1",
        "burrow-container.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).expect(page);
        assert!(text.contains(".TH"), "{page}");
    }
}

#[test]
fn diff_cp_and_export_of_an_image_container_see_its_layers_and_changes() {
    let e = Engine::new("verbs-image");
    let tar = e.sandbox.busybox_rootfs_tar();
    e.burrow(["import"])
        .arg(&tar)
        .arg("bb")
        .run()
        .assert_success();
    e.burrow([
        "run",
        "--name",
        "layered",
        "bb",
        "sh",
        "-c",
        "echo new > /etc/added; rm /etc/passwd; echo more >> /etc/group; mkdir /data; \
         mkdir -p /data/private/deep && touch /data/private/deep/f && \
         chown -R 1000:1000 /data/private && chmod 700 /data/private; echo done",
    ])
    .run()
    .assert_success()
    .assert_stdout_contains("done");
    let diff = e.burrow(["diff", "layered"]).run();
    diff.assert_success();
    assert_eq!(
        diff.stdout_lines(),
        [
            "A /data",
            "A /data/private",
            "A /data/private/deep",
            "A /data/private/deep/f",
            "C /etc",
            "A /etc/added",
            "C /etc/group",
            "D /etc/passwd"
        ],
        "a directory private to the container's user 1000 is read too: {diff}"
    );
    let fresh = e.burrow(["run", "--rm", "bb", "cat", "/etc/group"]).run();
    assert!(
        !fresh.stdout.contains("more"),
        "the image is untouched: {fresh}"
    );

    // Stopped: cp and export mount the overlay for the copy.
    let out = e.sandbox.make_dir("out");
    e.burrow(["cp", "layered:/etc/added"])
        .arg(&out)
        .run()
        .assert_success();
    assert_eq!(std::fs::read_to_string(out.join("added")).unwrap(), "new\n");
    e.burrow(["cp", "layered:/etc/passwd"])
        .arg(&out)
        .run()
        .assert_code(1)
        .assert_one_line_error(&["/etc/passwd"]);
    let note = e.sandbox.write_file("note", "from the host\n");
    e.burrow(["cp"])
        .arg(&note)
        .arg("layered:/etc/note")
        .run()
        .assert_success();
    let diff = e.burrow(["diff", "layered"]).run();
    assert!(diff.stdout_lines().contains(&"A /etc/note"), "{diff}");
    let archive = out.join("layered.tar");
    e.burrow(["export", "-o"])
        .arg(&archive)
        .arg("layered")
        .run()
        .assert_success();
    let list = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&archive)
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    let names: Vec<&str> = names.lines().collect();
    for present in ["bin/busybox", "etc/added", "etc/note", "etc/group"] {
        assert!(names.contains(&present), "{present}: {names:?}");
    }
    assert!(!names.contains(&"etc/passwd"), "{names:?}");
    e.burrow(["rm", "layered"]).run().assert_success();
}
