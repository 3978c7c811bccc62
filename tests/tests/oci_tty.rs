//! Terminals through `--console-socket`, the way podman's conmon receives them: the test
//! gets the pty master over SCM_RIGHTS and talks to the container through it. A pty turns
//! "\n" into "\r\n", which proves the output went through a terminal and not a pipe.

use std::time::Duration;

use burrow_tests::console::{read_until_closed, write_all};
use burrow_tests::{ConsoleSocket, Sandbox};

const PATIENCE: Duration = Duration::from_secs(20);

#[test]
fn create_sends_the_pty_master_and_the_process_runs_on_it() {
    let sandbox = Sandbox::new("tty-create");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.terminal(true).args(&[
            "sh",
            "-c",
            "tty; test -t 0 && test -t 1 && test -t 2 && echo all-ttys",
        ]);
    });
    let id = sandbox.container_id("tty");
    let socket = ConsoleSocket::listen(&sandbox, PATIENCE);
    let create = sandbox
        .oci(["create", "--console-socket"])
        .arg(socket.path())
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .run();
    create.assert_success();
    assert!(
        create.stdout.is_empty(),
        "nothing of the container on create's stdout: {create}"
    );
    let master = socket.master();
    sandbox.oci(["start", &id]).run().assert_success();
    let printed = String::from_utf8_lossy(&read_until_closed(&master, PATIENCE)).into_owned();
    assert_eq!(printed, "/dev/pts/0\r\nall-ttys\r\n");
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn input_written_to_the_master_reaches_the_process() {
    let sandbox = Sandbox::new("tty-input");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.terminal(true)
            .args(&["sh", "-c", "read line; echo got:$line"]);
    });
    let id = sandbox.container_id("tty-in");
    let socket = ConsoleSocket::listen(&sandbox, PATIENCE);
    sandbox
        .oci(["run", "--detach", "--console-socket"])
        .arg(socket.path())
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let master = socket.master();
    write_all(&master, b"hello\n");
    let printed = String::from_utf8_lossy(&read_until_closed(&master, PATIENCE)).into_owned();
    // The terminal echoes the input, then the process answers.
    assert_eq!(printed, "hello\r\ngot:hello\r\n");
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn exec_with_a_tty_gets_its_own_pty() {
    let sandbox = Sandbox::new("tty-exec");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("tty-exec");
    sandbox
        .oci(["run", "--detach", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let socket = ConsoleSocket::listen(&sandbox, PATIENCE);
    sandbox
        .oci(["exec", "--tty", "--detach", "--console-socket"])
        .arg(socket.path())
        .args([&id, "sh", "-c", "tty; test -t 0 && echo stdin-tty"])
        .run()
        .assert_success();
    let master = socket.master();
    let printed = String::from_utf8_lossy(&read_until_closed(&master, PATIENCE)).into_owned();
    assert_eq!(printed, "/dev/pts/0\r\nstdin-tty\r\n");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_terminal_without_a_console_socket_is_refused_for_create() {
    let sandbox = Sandbox::new("tty-no-socket");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.terminal(true).args(&["true"]);
    });
    let id = sandbox.container_id("tty-none");
    let create = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    create.assert_failure();
    let stderr = create.stderr.to_lowercase().replace('-', " ");
    assert!(
        stderr.contains("console socket"),
        "the error names the missing socket: {create}"
    );
    sandbox.assert_nothing_left(&id);
}
