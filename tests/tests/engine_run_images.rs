//! `burrow run IMAGE`: the image's config gives the command and its
//! defaults, the root filesystem is burrow's FUSE overlay of the image's
//! layers plus the container's own upper layer (served by the supervisor in
//! the container's user namespace), and owners in the image are the owners
//! the container sees.

use std::os::unix::fs::MetadataExt;

use burrow_tests::engine::Engine;
use burrow_tests::{fsutil, unique_name};

/// `burrow import -c CHANGE… <busybox tar> NAME`.
fn import_with(e: &Engine, name: &str, changes: &[&str]) {
    let tar = e.sandbox.busybox_rootfs_tar();
    let mut cmd = e.burrow(["import"]);
    for change in changes {
        cmd = cmd.arg("-c").arg(change);
    }
    cmd.arg(&tar).arg(name).run().assert_success();
}

#[test]
fn the_image_gives_the_command_and_flags_override_it() {
    let e = Engine::new("img-run");
    import_with(
        &e,
        "bb",
        &[
            r#"CMD ["sh", "-c", "echo from-image-cmd $GREETING; pwd"]"#,
            "ENV GREETING=hello",
            "WORKDIR /tmp",
        ],
    );
    let out = e.burrow(["run", "--rm", "bb"]).run();
    out.assert_success();
    assert_eq!(out.stdout, "from-image-cmd hello\n/tmp\n", "{out}");
    let out = e
        .burrow(["run", "--rm", "-e", "GREETING=bye", "-w", "/", "bb"])
        .run();
    assert_eq!(out.stdout, "from-image-cmd bye\n/\n", "{out}");
    let out = e.burrow(["run", "--rm", "bb", "echo", "override"]).run();
    assert_eq!(out.stdout, "override\n", "{out}");
    let out = e
        .burrow(["run", "--rm", "--entrypoint", "echo", "bb", "entry"])
        .run();
    assert_eq!(out.stdout, "entry\n", "{out}");
    let out = e
        .burrow(["run", "--rm", "-u", "nobody", "bb", "id", "-u"])
        .run();
    assert_eq!(out.stdout, "65534\n", "{out}");
    let out = e.burrow(["run", "--rm", "bb", "sh", "-c", "exit 3"]).run();
    out.assert_code(3);
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "--rm leaves nothing: {ps}");
    let fuse = e
        .burrow(["run", "--rm", "bb", "grep", "-c", " / fuse", "/proc/mounts"])
        .run();
    assert_eq!(
        fuse.stdout_trimmed(),
        "1",
        "the root is the FUSE overlay: {fuse}"
    );
}

#[test]
fn a_missing_image_fails_with_125_and_leaves_nothing() {
    let e = Engine::new("img-missing");
    let out = e
        .burrow(["run", "--pull", "never", "no-such-image", "true"])
        .run();
    out.assert_code(125);
    assert!(out.stderr.contains("No such image"), "{out}");
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "{ps}");
    import_with(&e, "bb-nocmd", &[]);
    let out = e.burrow(["run", "--rm", "bb-nocmd"]).run();
    out.assert_code(125);
    assert!(out.stderr.contains("no command specified"), "{out}");
}

#[test]
fn owners_in_the_image_are_the_owners_the_container_sees() {
    let e = Engine::new("img-owners");
    let uid = e.sandbox.user().uid;
    // The busybox tar plus files of uid 33 and of the invoking user's own uid
    // (which inside is just another user, not root).
    let tar = e.sandbox.dir().join("owners.tar");
    std::fs::copy(e.sandbox.busybox_rootfs_tar(), &tar).unwrap();
    let script = format!(
        "import tarfile, io\n\
         t = tarfile.open('{}', 'a')\n\
         def add(name, uid, mode, data=None):\n\
         \x20   i = tarfile.TarInfo(name); i.uid = i.gid = uid; i.mode = mode\n\
         \x20   if data is None:\n\
         \x20       i.type = tarfile.DIRTYPE; t.addfile(i)\n\
         \x20   else:\n\
         \x20       i.size = len(data); t.addfile(i, io.BytesIO(data))\n\
         add('srv', 0, 0o755)\n\
         add('srv/www', 33, 0o750)\n\
         add('srv/www/index.html', 33, 0o640, b'secret')\n\
         add('srv/mine', {uid}, 0o600, b'mine')\n\
         t.close()\n",
        tar.display()
    );
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    fsutil::set_mode(&tar, 0o644);
    e.burrow(["import"])
        .arg(&tar)
        .arg("owners")
        .run()
        .assert_success();

    let out = e
        .burrow(["run", "--rm", "owners", "stat", "-c", "%n %u:%g %a"])
        .args([
            "/srv/www",
            "/srv/www/index.html",
            "/srv/mine",
            "/tmp",
            "/bin/busybox",
        ])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout_lines(),
        [
            "/srv/www 33:33 750".to_string(),
            "/srv/www/index.html 33:33 640".to_string(),
            format!("/srv/mine {uid}:{uid} 600"),
            "/tmp 0:0 1777".to_string(),
            "/bin/busybox 0:0 755".to_string(),
        ],
        "{out}"
    );
    // Permissions are enforced inside: uid 33 reads its file, nobody cannot.
    let out = e
        .burrow([
            "run",
            "--rm",
            "-u",
            "33",
            "owners",
            "cat",
            "/srv/www/index.html",
        ])
        .run();
    assert_eq!(out.stdout, "secret", "{out}");
    let out = e
        .burrow([
            "run",
            "--rm",
            "-u",
            "nobody",
            "owners",
            "cat",
            "/srv/www/index.html",
        ])
        .run();
    out.assert_failure();
    // A file a container user creates is that user's.
    let out = e
        .burrow(["run", "--rm", "-u", "33:33", "owners", "sh", "-c"])
        .arg("echo new > /srv/www/new && stat -c '%u:%g' /srv/www/new")
        .run();
    assert_eq!(out.stdout_trimmed(), "33:33", "{out}");
}

#[test]
fn changes_survive_a_restart_and_are_the_containers_alone() {
    let e = Engine::new("img-upper");
    import_with(&e, "bb", &[]);
    let name = unique_name("keeper");
    e.burrow(["run", "-d", "--name", &name, "bb", "sleep", "1000"])
        .run()
        .assert_success();
    e.burrow([
        "exec",
        &name,
        "sh",
        "-c",
        "echo kept > /root/file; rm /bin/vi",
    ])
    .run()
    .assert_success();
    e.burrow(["stop", "-t", "1", &name]).run().assert_success();
    e.burrow(["start", &name]).run().assert_success();
    let out = e
        .burrow(["exec", &name, "sh", "-c", "cat /root/file; ls /bin/vi"])
        .run();
    assert_eq!(out.stdout, "kept\n", "{out}");
    assert!(out.stderr.contains("No such file"), "{out}");
    // Another container of the image sees the image as it is.
    let other = e
        .burrow(["run", "--rm", "bb", "sh", "-c", "ls /root/file; ls /bin/vi"])
        .run();
    assert_eq!(other.stdout, "/bin/vi\n", "{other}");
    // The container's changes are files in its upper dir, owned by the user.
    let id = e.burrow(["inspect", "-f", "{{.Id}}", &name]).run();
    let upper = e
        .sandbox
        .engine_root()
        .join("containers")
        .join(id.stdout_trimmed())
        .join("upper");
    let meta = std::fs::metadata(upper.join("root/file")).unwrap();
    assert_eq!(meta.uid(), e.sandbox.user().uid);
    assert!(
        upper.join("bin/.wh.vi").exists(),
        "a whiteout hides /bin/vi"
    );
    e.burrow(["rm", "-f", &name]).run().assert_success();
    assert!(!upper.exists(), "rm removes the container's layer");
}
