//! Checks of the harness itself, independent of burrow: the privilege drop, deadlines,
//! cleanup, fd inheritance, and the bundle builder and console socket driven by runc.

use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use burrow_tests::console::read_until_closed;
use burrow_tests::user::running_as_root;
use burrow_tests::{ConsoleSocket, Runtime, Sandbox, TestUser};

#[test]
fn commands_run_as_the_unprivileged_test_user() {
    let sandbox = Sandbox::new("smoke-user");
    let user = TestUser::get();
    let uid = sandbox.command("id").arg("-u").run();
    uid.assert_success();
    let uid: u32 = uid.stdout_trimmed().parse().expect("id -u prints a number");
    assert_eq!(uid, user.uid);
    if running_as_root() {
        assert_ne!(uid, 0, "running as root must drop to the test user");
    }
    let env = sandbox
        .command("sh")
        .args(["-c", "echo $HOME; echo $XDG_RUNTIME_DIR"])
        .run();
    env.assert_success();
    let lines = env.stdout_lines();
    assert_eq!(lines[0], user.home.to_str().unwrap(), "{env}");
    assert_eq!(lines[1], sandbox.xdg_dir().to_str().unwrap(), "{env}");
    let xdg = std::fs::metadata(sandbox.xdg_dir()).unwrap();
    assert_eq!((xdg.uid(), xdg.mode() & 0o777), (user.uid, 0o700));
}

#[test]
fn a_command_past_its_deadline_is_killed_and_fails_the_test() {
    let sandbox = Sandbox::new("smoke-timeout");
    let hang = sandbox
        .command("sleep")
        .arg("100")
        .timeout(Duration::from_millis(300));
    let result = catch_unwind(AssertUnwindSafe(|| hang.run()));
    let message = result.expect_err("a hang must fail");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("timed out"), "{text}");
    assert!(
        sandbox.live_processes().is_empty(),
        "sleep survived: {:?}",
        sandbox.live_processes()
    );
}

#[test]
fn drop_kills_marked_processes_and_removes_files_of_subordinate_ids() {
    let sandbox = Sandbox::new("smoke-cleanup");
    let dir = sandbox.dir().to_path_buf();
    let files = sandbox.make_dir("files");
    // Files owned by subordinate ids, in a directory the user cannot write without them.
    let script = "mkdir -p d/e && touch d/e/f && chown -R 1000:1000 d && chmod 700 d";
    let made = sandbox
        .command("unshare")
        .args(["--map-auto", "--map-root-user", "sh", "-c", script])
        .current_dir(&files)
        .run();
    made.assert_success();
    let owner = std::fs::metadata(files.join("d")).unwrap().uid();
    assert_eq!(owner, TestUser::get().subuid().start + 999);
    let orphan = sandbox.command("sleep").arg("100").spawn();
    let pid = orphan.pid();
    std::mem::forget(orphan); // leave it to the sandbox
                              // Until it execs, the child's environ is still the test's (no marker).
    for _ in 0..500 {
        if !sandbox.live_processes().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(sandbox.live_processes(), vec![pid]);
    drop(sandbox);
    assert!(!dir.exists(), "{} left behind", dir.display());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "sleep {pid} survived: {stat}"
    );
}

#[test]
fn an_inherited_fd_reaches_the_command() {
    let sandbox = Sandbox::new("smoke-fds");
    let file = std::fs::File::open("/etc/hostname").unwrap();
    // The test process may itself have inherited fds without close-on-exec (from the
    // shell or cargo); those reach every child and are compared away here.
    let without = sandbox.command("ls").arg("/proc/self/fd").run();
    let with = sandbox
        .command("ls")
        .arg("/proc/self/fd")
        .inherit_fd(&file, 7)
        .run();
    let added: Vec<&str> = with
        .stdout_lines()
        .into_iter()
        .filter(|fd| !without.stdout_lines().contains(fd))
        .collect();
    assert_eq!(added, ["7"], "{with}{without}");
}

#[test]
fn the_bundle_builder_makes_bundles_runc_runs() {
    let sandbox = Sandbox::with_runtime("smoke-runc", Runtime::runc());
    let bundle = sandbox.bundle("b");
    let shared = sandbox.make_dir("shared");
    bundle.edit(|spec| {
        spec.args(&[
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; touch /shared/made; ls /",
        ])
        .map_subordinate_ids(sandbox.user())
        .bind_mount(&shared, "/shared", &[]);
    });
    let id = sandbox.container_id("runc");
    let run = sandbox
        .oci(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    let lines = run.stdout_lines();
    assert_eq!(lines[0], "0", "{run}");
    let subuid = sandbox.user().subuid();
    let map: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(map, ["1", &subuid.start.to_string(), "65536"], "{run}");
    assert_eq!(
        std::fs::metadata(shared.join("made")).unwrap().uid(),
        sandbox.user().uid
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn the_console_socket_receives_runcs_pty_master() {
    let sandbox = Sandbox::with_runtime("smoke-console", Runtime::runc());
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.terminal(true)
            .args(&["sh", "-c", "tty; test -t 0 && echo stdin-is-a-tty"]);
    });
    let id = sandbox.container_id("console");
    let socket = ConsoleSocket::listen(&sandbox, Duration::from_secs(20));
    let create = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg("--console-socket")
        .arg(socket.path())
        .arg(&id)
        .run();
    create.assert_success();
    let master = socket.master();
    sandbox.oci(["start", &id]).run().assert_success();
    let printed =
        String::from_utf8_lossy(&read_until_closed(&master, Duration::from_secs(20))).into_owned();
    assert_eq!(printed, "/dev/pts/0\r\nstdin-is-a-tty\r\n");
}
