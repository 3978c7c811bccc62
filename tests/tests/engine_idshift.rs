//! Id shifting end to end, as the unprivileged test user on an imported busybox image:
//! `--userns=keep-id` (the user keeps its uid inside, image files keep their owners,
//! bind-mounted files are the user's on both sides) and `-v SRC:DST:U` (the
//! container's user sees the user's files as its own, the host still sees the user).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use burrow_tests::Sandbox;

fn owner(path: &Path) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("cannot stat {}: {e}", path.display()));
    (meta.uid(), meta.gid())
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("sandbox paths are UTF-8")
}

#[test]
fn idshift_keep_id_runs_as_the_user_and_keeps_image_owners() {
    let sandbox = Sandbox::new("eng-idshift-keep");
    sandbox.import_busybox("bb");
    let user = sandbox.user();
    let shared = sandbox.make_dir("shared");
    sandbox.write_file("shared/mine", "hello\n");
    let bind = format!("{}:/shared", path_arg(&shared));
    let script = "id -u; id -g; id -un; grep \"^$(id -un):\" /etc/passwd | cut -d: -f3; \
                  stat -c 'busybox %u:%g' /bin/busybox; stat -c 'root %u' /root; \
                  stat -c 'mine %u:%g' /shared/mine; \
                  touch /shared/made && stat -c 'made %u:%g' /shared/made; \
                  touch /tmp/t && stat -c 'tmp %u' /tmp/t";
    let out = sandbox
        .burrow([
            "run",
            "--rm",
            "--userns=keep-id",
            "-v",
            &bind,
            "bb",
            "sh",
            "-c",
        ])
        .arg(script)
        .run();
    out.assert_success();
    let lines = out.stdout_lines();
    let uid = user.uid.to_string();
    let gid = user.gid.to_string();
    assert_eq!(lines[0], uid, "id -u inside: {out}");
    assert_eq!(lines[1], gid, "id -g inside: {out}");
    assert_eq!(lines[2], user.name, "the user's name resolves: {out}");
    assert_eq!(lines[3], uid, "/etc/passwd has the user: {out}");
    for expected in [
        "busybox 0:0".to_string(),
        "root 0".to_string(),
        format!("mine {uid}:{gid}"),
        format!("made {uid}:{gid}"),
        format!("tmp {uid}"),
    ] {
        assert!(
            lines.contains(&expected.as_str()),
            "missing {expected:?}: {out}"
        );
    }
    assert_eq!(
        owner(&shared.join("made")),
        (user.uid, user.gid),
        "a file made in the bind mount belongs to the user on the host"
    );
    // -u still wins, and root stays root.
    let out = sandbox
        .burrow([
            "run",
            "--rm",
            "--userns=keep-id",
            "-u",
            "0",
            "bb",
            "id",
            "-u",
        ])
        .run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "0");
    // keep-id:uid=,gid= picks other ids inside.
    let out = sandbox
        .burrow([
            "run",
            "--rm",
            "--userns=keep-id:uid=2000,gid=3000",
            "bb",
            "sh",
            "-c",
            "id -u; id -g",
        ])
        .run();
    out.assert_success();
    assert_eq!(out.stdout_lines(), ["2000", "3000"]);
}

#[test]
fn idshift_keep_id_exec_joins_the_container() {
    let sandbox = Sandbox::new("eng-idshift-exec");
    sandbox.import_busybox("bb");
    let name = "kept";
    sandbox
        .burrow([
            "run",
            "-d",
            "--name",
            name,
            "--userns=keep-id",
            "bb",
            "sleep",
            "300",
        ])
        .run()
        .assert_success();
    let out = sandbox.burrow(["exec", name, "id", "-u"]).run();
    let removed = sandbox.burrow(["rm", "-f", name]).run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), sandbox.user().uid.to_string());
    removed.assert_success();
}

#[test]
fn idshift_u_volume_shows_the_users_files_as_the_container_users() {
    let sandbox = Sandbox::new("eng-idshift-u");
    sandbox.import_busybox("bb");
    let user = sandbox.user();
    let dir = sandbox.make_dir("data");
    sandbox.write_file("data/old", "old\n");
    sandbox.make_dir("data/sub");
    let volume = format!("{}:/d:U", path_arg(&dir));
    let script = "stat -c '%n %u:%g' /d /d/old /d/sub; echo more >> /d/old && echo appended; \
                  touch /d/new /d/sub/deep && stat -c '%n %u:%g' /d/new /d/sub/deep";
    let out = sandbox
        .burrow(["run", "--rm", "-u", "1000", "-v", &volume, "bb", "sh", "-c"])
        .arg(script)
        .run();
    out.assert_success();
    for expected in [
        "/d 1000:1000",
        "/d/old 1000:1000",
        "/d/sub 1000:1000",
        "appended",
        "/d/new 1000:1000",
        "/d/sub/deep 1000:1000",
    ] {
        assert!(
            out.stdout_lines().contains(&expected),
            "missing {expected:?}: {out}"
        );
    }
    for file in ["old", "new", "sub", "sub/deep"] {
        assert_eq!(
            owner(&dir.join(file)),
            (user.uid, user.gid),
            "{file} still belongs to the user on the host"
        );
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("old")).unwrap_or_default(),
        "old\nmore\n"
    );
    // `--mount …,U=true` is the same shift.
    let mount = format!("type=bind,source={},target=/m,U=true", path_arg(&dir));
    let out = sandbox
        .burrow([
            "run", "--rm", "-u", "1000", "--mount", &mount, "bb", "sh", "-c",
        ])
        .arg("stat -c '%u:%g' /m/old; echo again >> /m/old && echo appended")
        .run();
    assert_eq!(out.stdout_lines(), ["1000:1000", "appended"], "{out}");
    assert_eq!(owner(&dir.join("old")), (user.uid, user.gid));
    // Without :U the same user sees the files as root's and cannot write them.
    let plain = format!("{}:/d", path_arg(&dir));
    let out = sandbox
        .burrow(["run", "--rm", "-u", "1000", "-v", &plain, "bb", "sh", "-c"])
        .arg("stat -c '%u' /d/old; echo x >> /d/old || echo refused")
        .run();
    assert_eq!(out.stdout_lines().first().copied(), Some("0"), "{out}");
    assert!(out.stdout.contains("refused"), "{out}");
}

#[test]
fn idshift_u_volume_for_root_is_a_plain_bind_mount() {
    // The container's root already is the user: no FUSE server, the bind is direct.
    let sandbox = Sandbox::new("eng-idshift-root");
    sandbox.import_busybox("bb");
    let dir = sandbox.make_dir("data");
    let volume = format!("{}:/d:U", path_arg(&dir));
    let out = sandbox
        .burrow(["run", "--rm", "-v", &volume, "bb", "sh", "-c"])
        .arg("grep ' /d ' /proc/mounts | cut -d' ' -f3; touch /d/f && stat -c %u /d/f")
        .run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert!(
        lines.first().is_some_and(|fs| !fs.starts_with("fuse")),
        "a plain bind mount, not FUSE: {out}"
    );
    assert_eq!(lines.last().copied(), Some("0"), "{out}");
    assert_eq!(owner(&dir.join("f")).0, sandbox.user().uid);
}
