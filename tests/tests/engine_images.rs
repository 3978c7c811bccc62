//! The image commands of the `burrow` CLI end to end, as the unprivileged test user, each
//! test with its own engine store (`--root`): import, images, image inspect, tag, rmi,
//! save/load, push/pull through a real registry (Debian's `docker-registry`, started by
//! the test on a free 127.0.0.1 port), prune, and clean refusals of bad input.

mod image_support;

use std::path::{Path, PathBuf};

use burrow_tests::runtime::Runtime;
use burrow_tests::{free_tcp_port, Cmd, Sandbox};
use image_support::Registry;
use serde_json::Value;

/// `burrow --root ROOT ARGS…` for a second store in the same sandbox.
fn burrow_at<I, S>(sandbox: &Sandbox, root: &Path, args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    sandbox
        .command(Runtime::burrow().program())
        .arg("--root")
        .arg(root)
        .args(args)
}

/// The id `image inspect` reports for `name` in the store at `root`.
fn image_id(sandbox: &Sandbox, root: &Path, name: &str) -> String {
    let out = burrow_at(
        sandbox,
        root,
        ["image", "inspect", "--format", "{{.Id}}", name],
    )
    .run();
    out.assert_success();
    out.stdout_trimmed().to_string()
}

fn inspect(sandbox: &Sandbox, name: &str) -> Value {
    let out = sandbox.burrow(["image", "inspect", name]).run();
    out.assert_success();
    let value: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("image inspect printed invalid JSON ({e}): {out}"));
    assert_eq!(value.as_array().map(Vec::len), Some(1), "{out}");
    value[0].clone()
}

fn image_ids(sandbox: &Sandbox) -> Vec<String> {
    let out = sandbox.burrow(["images", "-q", "--no-trunc"]).run();
    out.assert_success();
    out.stdout_lines().into_iter().map(str::to_string).collect()
}

#[test]
fn an_imported_image_is_listed_with_dockers_columns() {
    let sandbox = Sandbox::new("img-list");
    let tar = sandbox.busybox_rootfs_tar();
    let out = sandbox.burrow(["import"]).arg(&tar).arg("bbtest").run();
    out.assert_success();
    let id = out.stdout_trimmed().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the image id: {out}"
    );

    let out = sandbox.burrow(["images"]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    let header: Vec<&str> = lines[0]
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"],
        "{out}"
    );
    assert_eq!(lines.len(), 2, "{out}");
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..3], ["bbtest", "latest", &id[7..19]], "{out}");
    assert!(
        row.last().is_some_and(|s| s.ends_with("MB")),
        "size column: {out}"
    );

    let out = sandbox.burrow(["image", "ls", "-q"]).run();
    assert_eq!(out.stdout_lines(), [&id[7..19]], "{out}");
    assert_eq!(image_ids(&sandbox), [id.as_str()]);
    let out = sandbox
        .burrow(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
        .run();
    assert_eq!(
        out.stdout_lines(),
        [format!("bbtest:latest {}", &id[7..19]).as_str()],
        "{out}"
    );
    let out = sandbox.burrow(["images", "--format", "json"]).run();
    let row: Value = serde_json::from_str(out.stdout_trimmed())
        .unwrap_or_else(|e| panic!("--format json: {e}: {out}"));
    assert_eq!(row["Repository"], "bbtest");
    assert_eq!(row["Tag"], "latest");
    let out = sandbox.burrow(["images", "--digests"]).run();
    assert!(out.stdout_lines()[0].contains("DIGEST"), "{out}");
    // Lookups accept the short name, name:tag, the full name and id prefixes.
    for name in [
        "bbtest",
        "bbtest:latest",
        "docker.io/library/bbtest:latest",
        &id[7..19],
        &id,
    ] {
        assert_eq!(
            image_id(&sandbox, &sandbox.engine_root(), name),
            id,
            "{name}"
        );
    }
}

#[test]
fn image_inspect_shows_the_config_import_changes_set() {
    let sandbox = Sandbox::new("img-inspect");
    let tar = sandbox.busybox_rootfs_tar();
    sandbox
        .burrow(["import"])
        .args(["-c", r#"CMD ["sh", "-c", "echo hi"]"#])
        .args(["--change", "ENTRYPOINT [\"/bin/env\"]"])
        .args(["-c", "ENV GREETING=hello"])
        .args(["-c", "WORKDIR /tmp"])
        .args(["-c", "USER 1000:1000"])
        .args(["-c", "EXPOSE 8080"])
        .arg(&tar)
        .arg("127.0.0.1:5000/team/bb:v1")
        .run()
        .assert_success();
    let image = inspect(&sandbox, "127.0.0.1:5000/team/bb:v1");
    assert!(image["Id"]
        .as_str()
        .is_some_and(|id| id.starts_with("sha256:")));
    assert_eq!(
        image["RepoTags"],
        serde_json::json!(["127.0.0.1:5000/team/bb:v1"])
    );
    assert_eq!(image["RepoDigests"], serde_json::json!([]));
    assert_eq!(image["Os"], "linux");
    assert!(image["Architecture"]
        .as_str()
        .is_some_and(|a| !a.is_empty()));
    assert!(image["Created"].as_str().is_some_and(|c| c.ends_with('Z')));
    assert!(
        image["Size"].as_u64().is_some_and(|s| s > 100_000),
        "{image}"
    );
    let config = &image["Config"];
    assert_eq!(config["Cmd"], serde_json::json!(["sh", "-c", "echo hi"]));
    assert_eq!(config["Entrypoint"], serde_json::json!(["/bin/env"]));
    assert_eq!(config["Env"], serde_json::json!(["GREETING=hello"]));
    assert_eq!(config["WorkingDir"], "/tmp");
    assert_eq!(config["User"], "1000:1000");
    assert_eq!(config["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(image["RootFS"]["Type"], "layers");
    assert_eq!(image["RootFS"]["Layers"].as_array().map(Vec::len), Some(1));

    let out = sandbox
        .burrow(["image", "inspect", "--format", "{{json .Config.Cmd}}"])
        .arg("127.0.0.1:5000/team/bb:v1")
        .run();
    assert_eq!(out.stdout_trimmed(), r#"["sh","-c","echo hi"]"#, "{out}");
    // Top-level inspect falls back to images, as Docker's does.
    let out = sandbox
        .burrow(["inspect", "--format", "{{.Config.WorkingDir}}"])
        .arg("127.0.0.1:5000/team/bb:v1")
        .run();
    assert_eq!(out.stdout_trimmed(), "/tmp", "{out}");
    sandbox
        .burrow(["image", "inspect", "nosuchimage"])
        .run()
        .assert_one_line_error(&["No such image: nosuchimage"])
        .assert_code(1);
    sandbox
        .burrow(["import", "-c", "RUN rm -rf /"])
        .arg(&tar)
        .run()
        .assert_one_line_error(&["RUN"])
        .assert_code(1);
}

#[test]
fn tag_adds_names_and_rmi_untags_before_it_deletes() {
    let sandbox = Sandbox::new("img-tag-rmi");
    sandbox.import_busybox("bb");
    let id = image_id(&sandbox, &sandbox.engine_root(), "bb");
    sandbox
        .burrow(["tag", "bb", "bb:two"])
        .run()
        .assert_success();
    sandbox
        .burrow(["image", "tag", &id[7..15], "example.com/x/bb:3"])
        .run()
        .assert_success();
    assert_eq!(
        inspect(&sandbox, "bb")["RepoTags"],
        serde_json::json!(["bb:latest", "bb:two", "example.com/x/bb:3"])
    );

    let out = sandbox.burrow(["rmi", "bb:two"]).run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), ["Untagged: bb:two"], "{out}");
    assert_eq!(image_ids(&sandbox), [id.as_str()]);

    // By id, an image with several names needs -f.
    sandbox
        .burrow(["rmi", &id[7..19]])
        .run()
        .assert_one_line_error(&["conflict", "must be forced"])
        .assert_code(1);
    let out = sandbox.burrow(["image", "rm", "-f", &id[7..19]]).run();
    out.assert_success();
    assert_eq!(
        out.stdout_lines(),
        [
            "Untagged: bb:latest",
            "Untagged: example.com/x/bb:3",
            &format!("Deleted: {id}")
        ],
        "{out}"
    );
    assert!(image_ids(&sandbox).is_empty());

    sandbox
        .burrow(["rmi", "bb"])
        .run()
        .assert_one_line_error(&["No such image: bb"])
        .assert_code(1);
    sandbox
        .burrow(["tag", "missing", "other"])
        .run()
        .assert_one_line_error(&["No such image: missing"])
        .assert_code(1);
    sandbox.import_busybox("bb");
    sandbox
        .burrow(["tag", "bb", "Not A Name"])
        .run()
        .assert_one_line_error(&["invalid reference"])
        .assert_code(1);
    // One bad name among several: the others are still removed, exit 1.
    let out = sandbox.burrow(["rmi", "nope", "bb"]).run();
    out.assert_code(1);
    assert!(out.stdout.contains("Deleted: sha256:"), "{out}");
    assert!(out.stderr.contains("No such image: nope"), "{out}");
}

#[test]
fn save_then_load_into_a_fresh_store_keeps_the_image_id() {
    let sandbox = Sandbox::new("img-save-load");
    sandbox.import_busybox("bb");
    sandbox
        .burrow(["tag", "bb", "bb:second"])
        .run()
        .assert_success();
    let id = image_id(&sandbox, &sandbox.engine_root(), "bb");
    let archive = sandbox.dir().join("io/bb.tar");
    sandbox
        .burrow(["save", "-o"])
        .arg(&archive)
        .arg("bb")
        .run()
        .assert_success();

    let fresh = sandbox.dir().join("store-fresh");
    let out = burrow_at(&sandbox, &fresh, ["load", "-i"])
        .arg(&archive)
        .run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), ["Loaded image: bb:latest"], "{out}");
    assert_eq!(image_id(&sandbox, &fresh, "bb:latest"), id);

    // stdout and stdin work too.
    let piped = sandbox.dir().join("io/piped.tar");
    let out = sandbox
        .command("sh")
        .arg("-c")
        .arg("\"$0\" --root \"$1\" save bb:second > \"$2\"")
        .arg(Runtime::burrow().program())
        .arg(sandbox.engine_root())
        .arg(&piped)
        .run();
    out.assert_success();
    let bytes = std::fs::read(&piped).unwrap_or_else(|e| panic!("{e}"));
    let other = sandbox.dir().join("store-other");
    let out = burrow_at(&sandbox, &other, ["load"]).stdin(bytes).run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), ["Loaded image: bb:second"], "{out}");
    assert_eq!(image_id(&sandbox, &other, "bb:second"), id);

    sandbox
        .burrow(["save", "-o"])
        .arg(sandbox.dir().join("io/none.tar"))
        .arg("nosuch")
        .run()
        .assert_one_line_error(&["No such image: nosuch"])
        .assert_code(1);
    assert!(!sandbox.dir().join("io/none.tar").exists());
}

#[test]
fn push_then_pull_into_a_fresh_store_gives_the_same_image_with_unpacked_layers() {
    let sandbox = Sandbox::new("img-push-pull");
    let registry = Registry::start(&sandbox, "r", None);
    sandbox.import_busybox("bb");
    let id = image_id(&sandbox, &sandbox.engine_root(), "bb");
    let remote = format!("{}/test/bb:v1", registry.host);
    sandbox
        .burrow(["tag", "bb", &remote])
        .run()
        .assert_success();
    let out = sandbox.burrow(["push", &remote]).run();
    out.assert_success();
    // One line per layer (one layer here; the config blob is not listed).
    assert_eq!(out.stdout.matches(": Pushed").count(), 1, "{out}");
    assert!(
        out.stdout_lines()
            .last()
            .is_some_and(|l| l.starts_with("v1: digest: sha256:")),
        "{out}"
    );

    let fresh = sandbox.dir().join("store-pulled");
    let out = burrow_at(&sandbox, &fresh, ["pull", &remote]).run();
    out.assert_success();
    assert_eq!(out.stdout_lines().last(), Some(&remote.as_str()), "{out}");
    assert!(
        out.stdout.contains("Status: Downloaded newer image"),
        "{out}"
    );
    assert_eq!(out.stdout.matches(": Pull complete").count(), 1, "{out}");
    assert_eq!(out.stdout.matches(": Pulling fs layer").count(), 1, "{out}");
    let out = burrow_at(&sandbox, &fresh, ["images", "--no-trunc"]).run();
    out.assert_success();
    let row: Vec<&str> = out.stdout_lines()[1].split_whitespace().collect();
    assert_eq!(
        &row[..3],
        [format!("{}/test/bb", registry.host).as_str(), "v1", &id],
        "{out}"
    );
    let out = burrow_at(&sandbox, &fresh, ["images", "--digests"]).run();
    assert!(out.stdout_lines()[1].contains("sha256:"), "{out}");

    // The layer is unpacked in the store: busybox is there, byte for byte.
    let layers = layer_dirs(&fresh);
    assert_eq!(layers.len(), 1, "{layers:?}");
    let busybox = std::fs::read(layers[0].join("bin/busybox")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        busybox,
        std::fs::read(&burrow_tests::bundle::host_busybox().path).unwrap()
    );
    assert!(layers[0].join("tmp").is_dir());
    // Layers are unpacked as the containers' root (the user, in a user namespace
    // mapped like the containers'): root's files are the user's on disk, with their
    // modes, and need no override record.
    for (path, mode) in [("bin/busybox", 0o755), ("tmp", 0o1777)] {
        let meta = std::fs::symlink_metadata(layers[0].join(path)).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.uid(), sandbox.user().uid, "{path}");
        assert_eq!(meta.mode() & 0o7777, mode, "{path}");
    }

    // Pulling again transfers nothing; -q prints only the name.
    let out = burrow_at(&sandbox, &fresh, ["pull", "-q", &remote]).run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), [remote.as_str()], "{out}");
    // Unknown tag: one line, exit 1.
    burrow_at(&sandbox, &fresh, ["pull"])
        .arg(format!("{}/test/bb:nope", registry.host))
        .run()
        .assert_one_line_error(&["not found"])
        .assert_code(1);
}

fn layer_dirs(root: &Path) -> Vec<PathBuf> {
    let layers = root.join("images-store/layers");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&layers)
        .unwrap_or_else(|e| panic!("{}: {e}", layers.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("diff"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn bad_input_gets_one_error_line_and_exit_code_1() {
    let sandbox = Sandbox::new("img-bad-input");
    let garbage = sandbox.write_file("io/garbage.tar", b"this is not a tar archive\n".repeat(3));
    let empty = sandbox.write_file("io/empty.tar", b"");
    for args in [["load", "-i"], ["import", "--"]] {
        sandbox
            .burrow(args)
            .arg(&garbage)
            .run()
            .assert_one_line_error(&["garbage.tar"])
            .assert_code(1);
    }
    sandbox
        .burrow(["load", "-i"])
        .arg(&empty)
        .run()
        .assert_one_line_error(&["not an image archive"])
        .assert_code(1);
    sandbox
        .burrow(["load"])
        .stdin(b"nonsense".to_vec())
        .run()
        .assert_one_line_error(&["stdin"])
        .assert_code(1);
    sandbox
        .burrow(["import", "/nonexistent/rootfs.tar"])
        .run()
        .assert_one_line_error(&["/nonexistent/rootfs.tar"])
        .assert_code(1);
    let port = free_tcp_port();
    sandbox
        .burrow(["pull", &format!("127.0.0.1:{port}/x/y:z")])
        .run()
        .assert_one_line_error(&["cannot reach registry", &port.to_string()])
        .assert_code(1);
    sandbox
        .burrow(["pull", "UPPER/Case"])
        .run()
        .assert_one_line_error(&["invalid reference"])
        .assert_code(1);
    sandbox
        .burrow(["push", "localhost:1/nothing:here"])
        .run()
        .assert_one_line_error(&["No such image"])
        .assert_code(1);
    // Nothing of the failed imports and loads is left behind.
    assert!(image_ids(&sandbox).is_empty());
    let temp = sandbox.engine_root().join("images-store/tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&temp)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn prune_removes_dangling_images_and_all_with_a() {
    let sandbox = Sandbox::new("img-prune");
    let tar = sandbox.busybox_rootfs_tar();
    let out = sandbox
        .burrow(["import", "-c", "CMD [\"a\"]"])
        .arg(&tar)
        .run();
    out.assert_success();
    let dangling = out.stdout_trimmed().to_string();
    sandbox.import_busybox("kept");
    let out = sandbox.burrow(["images"]).run();
    assert!(out.stdout.contains("<none>"), "{out}");

    let out = sandbox
        .burrow(["images", "-q", "--no-trunc", "--filter", "dangling=true"])
        .run();
    assert_eq!(out.stdout_lines(), [dangling.as_str()], "{out}");
    let out = sandbox
        .burrow(["images", "kept", "--format", "{{.Tag}}"])
        .run();
    assert_eq!(out.stdout_lines(), ["latest"], "{out}");

    let out = sandbox.burrow(["image", "prune", "-f"]).run();
    out.assert_success();
    assert!(
        out.stdout.contains(&format!("deleted: {dangling}")),
        "{out}"
    );
    assert!(out.stdout.contains("Total reclaimed space:"), "{out}");
    assert_eq!(image_ids(&sandbox).len(), 1);
    // Without -f it asks; "n" keeps everything.
    let out = sandbox
        .burrow(["image", "prune", "-a"])
        .stdin(b"n\n".to_vec())
        .run();
    out.assert_success();
    assert_eq!(image_ids(&sandbox).len(), 1);
    let out = sandbox.burrow(["image", "prune", "-a", "-f"]).run();
    out.assert_success();
    assert!(image_ids(&sandbox).is_empty(), "{out}");
    assert!(layer_dirs(&sandbox.engine_root()).is_empty());
}

#[test]
fn history_lists_the_import_step() {
    let sandbox = Sandbox::new("img-history");
    sandbox.import_busybox("bb");
    let out = sandbox.burrow(["history", "bb"]).run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert!(lines[0].starts_with("IMAGE"), "{out}");
    assert!(lines[1].contains("burrow import"), "{out}");
}

#[test]
fn skopeo_reads_what_save_writes_and_its_oci_archive_loads_back() {
    let sandbox = Sandbox::new("img-skopeo-archive");
    sandbox.import_busybox("bb");
    let id = image_id(&sandbox, &sandbox.engine_root(), "bb");
    let saved = sandbox.dir().join("io/saved.tar");
    sandbox
        .burrow(["save", "-o"])
        .arg(&saved)
        .arg("bb")
        .run()
        .assert_success();
    let oci = sandbox.dir().join("io/copy-oci.tar");
    sandbox
        .command("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("docker-archive:{}", saved.display()))
        .arg(format!(
            "oci-archive:{}:docker.io/library/bb:copied",
            oci.display()
        ))
        .timeout(std::time::Duration::from_secs(120))
        .run()
        .assert_success();
    let fresh = sandbox.dir().join("store-oci");
    let out = burrow_at(&sandbox, &fresh, ["load", "-i"]).arg(&oci).run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), ["Loaded image: bb:copied"], "{out}");
    // skopeo re-serializes the config when it converts to OCI (so the id changes); the
    // layers and the run config must not.
    let inspect_at = |root: &Path, name: &str| -> Value {
        let out = burrow_at(&sandbox, root, ["image", "inspect", name]).run();
        out.assert_success();
        serde_json::from_str::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))[0]
            .clone()
    };
    let original = inspect_at(&sandbox.engine_root(), &id);
    let copied = inspect_at(&fresh, "bb:copied");
    assert_eq!(copied["RootFS"], original["RootFS"]);
    assert_eq!(copied["Config"], original["Config"]);
    assert_eq!(copied["Created"], original["Created"]);
    assert_eq!(layer_dirs(&fresh).len(), 1);
}
