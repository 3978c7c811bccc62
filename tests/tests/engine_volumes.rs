//! Volumes and mounts of supervised containers (`-v`, `--mount`, `--tmpfs`,
//! `--volumes-from`, `burrow volume …`, `rm -v`), driven as the unprivileged test
//! user on a busybox root filesystem (`--rootfs`). Each test has its own store
//! (`--root` in its sandbox), so names only need to be unique within a test, and
//! the sandbox removes everything on drop, also when a test fails.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use burrow_tests::engine::Engine;
use burrow_tests::{fsutil, Output};

/// What these tests ask of the shared engine helper besides running containers.
trait Volumes {
    /// `burrow run [flags] --rootfs ROOTFS CMD…`, run to completion.
    fn output(&self, flags: &[&str], command: &[&str]) -> Output;
    /// `burrow volume ls -q`, sorted.
    fn volume_names(&self) -> Vec<String>;
    fn mountpoint(&self, volume: &str) -> PathBuf;
    /// `burrow ps -aq`.
    fn containers(&self) -> Vec<String>;
    /// A file in the root filesystem (parents made), owned by the test user.
    fn write_rootfs_file(&self, relative: &str, contents: &str);
}

impl Volumes for Engine {
    fn output(&self, flags: &[&str], command: &[&str]) -> Output {
        self.run(flags, command).run()
    }

    fn volume_names(&self) -> Vec<String> {
        let out = self.burrow(["volume", "ls", "-q"]).run();
        out.assert_success();
        let mut names: Vec<String> = out.stdout_lines().iter().map(|s| s.to_string()).collect();
        names.sort();
        names
    }

    fn mountpoint(&self, volume: &str) -> PathBuf {
        let out = self
            .burrow(["volume", "inspect", "--format", "{{.Mountpoint}}", volume])
            .run();
        out.assert_success();
        PathBuf::from(out.stdout_trimmed())
    }

    fn containers(&self) -> Vec<String> {
        let out = self.burrow(["ps", "-aq"]).run();
        out.stdout_lines().iter().map(|s| s.to_string()).collect()
    }

    fn write_rootfs_file(&self, relative: &str, contents: &str) {
        let path = self.rootfs.join(relative);
        let user = self.sandbox.user();
        let mut missing = Vec::new();
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| !d.exists()) {
            missing.push(dir.to_path_buf());
            parent = dir.parent();
        }
        for dir in missing.iter().rev() {
            fsutil::make_dir(dir, 0o755, user);
        }
        fsutil::write_file(&path, contents, 0o644, user);
    }
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("sandbox paths are UTF-8")
}

#[test]
fn a_named_volume_outlives_its_container() {
    let e = Engine::new("vol-named");
    e.output(
        &["--name", "writer", "-v", "shared:/data"],
        &["sh", "-c", "echo kept > /data/note"],
    )
    .assert_success();
    assert_eq!(e.volume_names(), ["shared"], "-v NAME creates the volume");
    e.burrow(["rm", "writer"]).run().assert_success();
    let read = e.output(&["--rm", "-v", "shared:/data:ro"], &["cat", "/data/note"]);
    read.assert_success();
    assert_eq!(read.stdout_trimmed(), "kept", "{read}");
    assert_eq!(e.volume_names(), ["shared"], "--rm keeps named volumes");
    assert!(e.containers().is_empty());
}

#[test]
fn volume_commands_print_what_docker_prints() {
    let e = Engine::new("vol-cli");
    let create = e
        .burrow(["volume", "create", "--label", "tier=db", "dbdata"])
        .run();
    create.assert_success();
    assert_eq!(create.stdout_trimmed(), "dbdata");
    // Creating an existing volume is not an error, as in Docker.
    e.burrow(["volume", "create", "dbdata"])
        .run()
        .assert_success();
    let anonymous = e.burrow(["volume", "create"]).run();
    anonymous.assert_success();
    let anonymous = anonymous.stdout_trimmed().to_string();
    assert_eq!(anonymous.len(), 64, "an unnamed volume gets a 64-hex name");
    assert!(anonymous.chars().all(|c| c.is_ascii_hexdigit()));

    let table = e.burrow(["volume", "ls"]).run();
    table.assert_success();
    let lines = table.stdout_lines();
    assert_eq!(lines[0], "DRIVER    VOLUME NAME", "{table}");
    assert!(lines.contains(&"local     dbdata"), "{table}");
    assert_eq!(lines.len(), 3, "{table}");

    let filtered = e
        .burrow(["volume", "ls", "-q", "--filter", "label=tier=db"])
        .run();
    assert_eq!(filtered.stdout_lines(), ["dbdata"], "{filtered}");
    let by_name = e
        .burrow([
            "volume",
            "ls",
            "--filter",
            "name=bdat", // "t" is not hex: no anonymous name matches
            "--format",
            "{{.Name}}",
        ])
        .run();
    assert_eq!(by_name.stdout_lines(), ["dbdata"], "{by_name}");
    let dangling = e
        .burrow(["volume", "ls", "-q", "--filter", "dangling=true"])
        .run();
    assert_eq!(
        dangling.stdout_lines().len(),
        2,
        "nothing uses them: {dangling}"
    );
    let json = e
        .burrow([
            "volume",
            "ls",
            "--format",
            "json",
            "--filter",
            "name=dbdata",
        ])
        .run();
    let row: serde_json::Value = serde_json::from_str(json.stdout_trimmed()).expect("json");
    assert_eq!(row["Name"], "dbdata");
    assert_eq!(row["Driver"], "local");
    assert_eq!(row["Labels"], "tier=db");

    let inspect = e.burrow(["volume", "inspect", "dbdata"]).run();
    inspect.assert_success();
    let parsed: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    let volume = &parsed[0];
    assert_eq!(volume["Name"], "dbdata");
    assert_eq!(volume["Driver"], "local");
    assert_eq!(volume["Scope"], "local");
    assert_eq!(volume["Labels"]["tier"], "db");
    assert!(volume["CreatedAt"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));
    let mountpoint = PathBuf::from(volume["Mountpoint"].as_str().expect("mountpoint"));
    assert!(mountpoint.ends_with("volumes/dbdata/_data"), "{inspect}");
    assert!(mountpoint.is_dir());

    e.burrow(["volume", "inspect", "nosuch"])
        .run()
        .assert_one_line_error(&["no such volume", "nosuch"])
        .assert_code(1);
    e.burrow(["volume", "create", "bad/name"])
        .run()
        .assert_one_line_error(&["invalid characters"])
        .assert_code(1);
    e.burrow(["volume", "create", "-o", "type=nfs", "remote"])
        .run()
        .assert_one_line_error(&["type"])
        .assert_code(1);

    let rm = e.burrow(["volume", "rm", "dbdata", &anonymous]).run();
    rm.assert_success();
    assert_eq!(rm.stdout_lines(), ["dbdata", anonymous.as_str()]);
    e.burrow(["volume", "rm", "dbdata"]).run().assert_code(1);
    e.burrow(["volume", "rm", "-f", "dbdata"])
        .run()
        .assert_success();
    assert!(e.volume_names().is_empty());
    assert!(!mountpoint.exists());
}

#[test]
fn volume_rm_refuses_a_volume_any_container_uses_and_prune_keeps_them() {
    let e = Engine::new("vol-inuse");
    let created = e
        .burrow([
            "create",
            "--name",
            "holder",
            "-v",
            "busy:/busy",
            "-v",
            "/anon",
        ])
        .arg("--rootfs")
        .arg(&e.rootfs)
        .arg("true")
        .run();
    created.assert_success();
    let id = created.stdout_trimmed().to_string();
    let refused = e.burrow(["volume", "rm", "busy"]).run();
    refused
        .assert_one_line_error(&["volume is in use", &id])
        .assert_code(1);
    // Also once the container has run and exited.
    e.burrow(["start", "-a", "holder"]).run().assert_success();
    e.burrow(["volume", "rm", "busy"]).run().assert_code(1);
    let prune = e.burrow(["volume", "prune", "-f", "-a"]).run();
    prune.assert_success();
    assert_eq!(
        prune.stdout_lines(),
        ["Total reclaimed space: 0B"],
        "{prune}"
    );
    assert_eq!(e.volume_names().len(), 2);

    e.burrow(["rm", "holder"]).run().assert_success();
    e.burrow(["volume", "create", "named"])
        .run()
        .assert_success();
    std::fs::write(e.mountpoint("busy").join("five"), b"12345").expect("write");
    // Docker 23+: without --all only anonymous volumes go.
    let prune = e.burrow(["volume", "prune", "-f"]).run();
    prune.assert_success();
    let lines = prune.stdout_lines();
    assert_eq!(lines[0], "Deleted Volumes:", "{prune}");
    assert_eq!(lines.len(), 3, "one anonymous volume: {prune}");
    assert_eq!(lines[2], "Total reclaimed space: 0B", "{prune}");
    assert_eq!(e.volume_names(), ["busy", "named"]);
    let prune_all = e.burrow(["volume", "prune", "--force", "--all"]).run();
    prune_all.assert_success();
    assert_eq!(
        prune_all.stdout_lines(),
        [
            "Deleted Volumes:",
            "busy",
            "named",
            "Total reclaimed space: 5B"
        ],
        "{prune_all}"
    );
    assert!(e.volume_names().is_empty());
}

#[test]
fn bind_mounts_read_only_refuse_writes_and_rw_files_belong_to_the_user() {
    let e = Engine::new("vol-bind");
    let host = e.sandbox.make_dir("hostdir");
    e.sandbox.write_file("hostdir/given", "from-host\n");
    let ro = e.output(
        &["-v", &format!("{}:/mnt:ro", path_arg(&host))],
        &["sh", "-c", "cat /mnt/given; touch /mnt/new"],
    );
    ro.assert_failure();
    assert!(ro.stdout.contains("from-host"), "{ro}");
    assert!(ro.stderr.contains("Read-only file system"), "EROFS: {ro}");
    assert!(!host.join("new").exists());
    let mount_ro = e.output(
        &[
            "--mount",
            &format!("type=bind,src={},dst=/m,readonly", path_arg(&host)),
        ],
        &["touch", "/m/new"],
    );
    assert!(
        mount_ro.stderr.contains("Read-only file system"),
        "{mount_ro}"
    );

    e.output(
        &["-v", &format!("{}:/mnt:rw,z", path_arg(&host))],
        &["sh", "-c", "echo made > /mnt/made; mkdir /mnt/sub"],
    )
    .assert_success();
    let user = e.sandbox.user();
    for made in ["made", "sub"] {
        let meta = std::fs::metadata(host.join(made)).expect("created inside");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (user.uid, user.gid),
            "container root's {made} belongs to the invoking user on the host"
        );
    }
    let inspect = e
        .burrow(["create", "-v", &format!("{}:/mnt:ro", path_arg(&host))])
        .arg("--rootfs")
        .arg(&e.rootfs)
        .arg("true")
        .run();
    inspect.assert_success();
    let id = inspect.stdout_trimmed();
    let mounts = e.burrow(["inspect", "--format", "{{.Mounts}}", id]).run();
    let mounts: serde_json::Value = serde_json::from_str(mounts.stdout_trimmed()).expect("json");
    assert_eq!(mounts[0]["Type"], "bind");
    assert_eq!(mounts[0]["Source"], path_arg(&host));
    assert_eq!(mounts[0]["Destination"], "/mnt");
    assert_eq!(mounts[0]["RW"], false);
    assert_eq!(mounts[0]["Propagation"], "rprivate");
}

#[test]
fn tmpfs_is_a_fresh_tmpfs_each_run() {
    let e = Engine::new("vol-tmpfs");
    let script = "grep ' /scratch ' /proc/mounts; stat -c mode=%a /scratch; \
                  echo count=$(ls -A /scratch | wc -l); touch /scratch/left";
    let first = e.output(
        &["--name", "t", "--tmpfs", "/scratch:size=1m,mode=1777"],
        &["sh", "-c", script],
    );
    first.assert_success();
    let mount_line = first.stdout_lines()[0].to_string();
    let fields: Vec<&str> = mount_line.split_whitespace().collect();
    assert_eq!(fields[2], "tmpfs", "{first}");
    for option in ["nosuid", "nodev", "noexec", "size=1024k"] {
        assert!(
            fields[3].split(',').any(|o| o == option),
            "{option} in {mount_line}"
        );
    }
    assert!(first.stdout.contains("mode=1777"), "{first}");
    assert!(first.stdout.contains("count=0"), "{first}");
    // `start -a` shows the second run's output only.
    let again = e.burrow(["start", "-a", "t"]).run();
    again.assert_success();
    let counts: Vec<&str> = again
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("count="))
        .collect();
    assert_eq!(counts, ["count=0"], "empty on every start: {again}");

    let mount = e.output(
        &[
            "--mount",
            "type=tmpfs,destination=/t,tmpfs-size=2m,tmpfs-mode=700",
        ],
        &["sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t"],
    );
    mount.assert_success();
    assert!(mount.stdout.contains("size=2048k"), "{mount}");
    assert_eq!(mount.stdout_lines().last(), Some(&"700"), "{mount}");
}

#[test]
fn mount_flag_forms_and_inspect() {
    let e = Engine::new("vol-mount");
    let host = e.sandbox.make_dir("src");
    let out = e.output(
        &[
            "--name",
            "m",
            "--mount",
            "type=volume,source=mv,target=/v",
            "--mount",
            "dst=/anon",
            "--mount",
            &format!(
                "type=bind,source={},destination=/b,ro=true",
                path_arg(&host)
            ),
        ],
        &[
            "sh",
            "-c",
            "echo v > /v/f && echo a > /anon/f && ! touch /b/f",
        ],
    );
    out.assert_success();
    let inspect = e.burrow(["inspect", "m"]).run();
    let parsed: serde_json::Value = serde_json::from_str(&inspect.stdout).expect("json");
    let mounts = parsed[0]["Mounts"].as_array().expect("Mounts").clone();
    assert_eq!(mounts.len(), 3, "{inspect}");
    let at = |dest: &str| {
        mounts
            .iter()
            .find(|m| m["Destination"] == dest)
            .unwrap_or_else(|| panic!("no mount at {dest}: {inspect}"))
    };
    assert_eq!(at("/v")["Type"], "volume");
    assert_eq!(at("/v")["Name"], "mv");
    assert_eq!(at("/v")["RW"], true);
    assert!(at("/v")["Source"]
        .as_str()
        .is_some_and(|s| s.ends_with("volumes/mv/_data")));
    assert_eq!(at("/anon")["Name"].as_str().map(str::len), Some(64));
    assert_eq!(at("/b")["Type"], "bind");
    assert_eq!(at("/b")["RW"], false);
    assert_eq!(e.volume_names().len(), 2);

    let shared = e.output(
        &["--rm", "--volumes-from", "m:ro"],
        &["sh", "-c", "cat /v/f /anon/f; touch /v/x 2>&1"],
    );
    assert!(shared.stdout.contains("v\na\n"), "{shared}");
    assert!(shared.stdout.contains("Read-only file system"), "{shared}");
}

#[test]
fn bad_mount_input_is_one_line_exit_125_and_leaves_nothing() {
    let e = Engine::new("vol-bad");
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["-v", "rel/dir:/x"],
            &["includes invalid characters", "absolute path"],
        ),
        (&["-v", "relative"], &["invalid volume specification"]),
        (&["-v", "vol:inside"], &["must be absolute"]),
        (
            &["--mount", "type=nfs,dst=/x"],
            &["unknown mount type", "nfs"],
        ),
        (&["--mount", "type=bind,dst=/x"], &["source is required"]),
        (
            &["-v", "/no/such/burrow/dir:/x", "-v", "fresh:/y"],
            &["bind source path does not exist", "/no/such/burrow/dir"],
        ),
    ];
    for (flags, needles) in cases {
        e.output(flags, &["true"])
            .assert_one_line_error(needles)
            .assert_code(125);
    }
    e.output(&["--tmpfs", "/t:size=lots"], &["true"])
        .assert_one_line_error(&["--tmpfs", "size"])
        .assert_code(125);
    e.output(&["-v", "/a", "--tmpfs", "/a"], &["true"])
        .assert_one_line_error(&["duplicate mount point", "/a"])
        .assert_code(125);
    assert!(e.containers().is_empty());
    assert!(
        e.volume_names().is_empty(),
        "a refused run creates no volume"
    );
}

#[test]
fn first_use_copies_the_rootfs_content_once() {
    let e = Engine::new("vol-copy");
    e.write_rootfs_file("seed/file", "from-image\n");
    e.write_rootfs_file("seed/deep/more", "deeper\n");
    std::os::unix::fs::symlink("file", e.rootfs.join("seed/link")).expect("symlink");
    let read = e.output(
        &["--rm", "-v", "seeded:/seed"],
        &[
            "sh",
            "-c",
            "cat /seed/file /seed/deep/more; readlink /seed/link",
        ],
    );
    read.assert_success();
    assert_eq!(
        read.stdout_lines(),
        ["from-image", "deeper", "file"],
        "{read}"
    );
    let data = e.mountpoint("seeded");
    assert_eq!(
        std::fs::read_to_string(data.join("file")).expect("copied"),
        "from-image\n"
    );
    // Emptied by a container, the volume stays empty: only the first use copies.
    e.output(
        &["--rm", "-v", "seeded:/seed"],
        &["sh", "-c", "rm -rf /seed/*"],
    )
    .assert_success();
    let after = e.output(&["--rm", "-v", "seeded:/seed"], &["ls", "-A", "/seed"]);
    after.assert_success();
    assert_eq!(after.stdout_trimmed(), "", "{after}");
    assert!(
        e.rootfs.join("seed/file").exists(),
        "the rootfs is untouched"
    );

    let anonymous = e.output(&["--rm", "-v", "/seed"], &["cat", "/seed/file"]);
    assert_eq!(anonymous.stdout_trimmed(), "from-image", "{anonymous}");
    let nocopy = e.output(&["--rm", "-v", "bare:/seed:nocopy"], &["ls", "-A", "/seed"]);
    nocopy.assert_success();
    assert_eq!(nocopy.stdout_trimmed(), "", "{nocopy}");
}

#[test]
fn volumes_holding_files_of_other_container_users_can_be_removed() {
    let e = Engine::new("vol-subids");
    // uid 1000 inside is one of the user's subordinate ids on the host: the user
    // cannot delete its files from outside, only as the container's root.
    let script = "mkdir -p /d/x/y && touch /d/x/y/f && chown -R 1000:1000 /d/x && chmod 755 /d/x \
                  && cp -a /d/x /e/x";
    e.output(
        &["--name", "a", "-v", "owned:/d", "-v", "/e"],
        &["sh", "-c", script],
    )
    .assert_success();
    let owner = std::fs::metadata(e.mountpoint("owned").join("x"))
        .expect("made inside")
        .uid();
    assert_ne!(owner, e.sandbox.user().uid, "a subordinate id owns it");
    e.burrow(["rm", "-v", "a"]).run().assert_success();
    assert_eq!(e.volume_names(), ["owned"]);
    e.burrow(["volume", "rm", "owned"]).run().assert_success();
    assert!(e.volume_names().is_empty());
    let leftovers = std::fs::read_dir(e.sandbox.dir().join("store/volumes"))
        .expect("volumes dir")
        .count();
    assert_eq!(leftovers, 0, "nothing half-removed stays behind");
}

#[test]
fn rm_v_and_rm_remove_anonymous_volumes_only() {
    let e = Engine::new("vol-rmv");
    e.output(
        &["--name", "a", "-v", "/anon", "-v", "keep:/keep"],
        &["true"],
    )
    .assert_success();
    assert_eq!(e.volume_names().len(), 2);
    e.burrow(["rm", "-v", "a"]).run().assert_success();
    assert_eq!(e.volume_names(), ["keep"]);

    e.output(&["--name", "b", "-v", "/anon"], &["true"])
        .assert_success();
    e.burrow(["rm", "b"]).run().assert_success();
    assert_eq!(
        e.volume_names().len(),
        2,
        "plain rm keeps anonymous volumes"
    );
    e.burrow(["volume", "prune", "-f"]).run().assert_success();
    assert_eq!(e.volume_names(), ["keep"]);
}

#[test]
fn run_rm_removes_its_anonymous_volumes() {
    let e = Engine::new("vol-rm-flag");
    e.output(&["--rm", "-v", "/anon", "-v", "keep:/keep"], &["true"])
        .assert_success();
    e.wait_for("the --rm container to be gone", || {
        e.containers().is_empty()
    });
    assert_eq!(
        e.volume_names(),
        ["keep"],
        "--rm removes its anonymous volume"
    );
    e.output(&["-d", "--rm", "-v", "/anon"], &["true"])
        .assert_success();
    e.wait_for("the detached --rm container to be gone", || {
        e.containers().is_empty()
    });
    assert_eq!(e.volume_names(), ["keep"]);
}
