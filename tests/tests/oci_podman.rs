//! podman 4 (from apt) as a real client: `podman --runtime <burrow-oci symlink> …` as the
//! test user, with storage and configuration private to the sandbox and an image imported
//! from a busybox tarball (no registry is reachable). With `BURROW_TEST_RUNTIME=runc` the
//! same commands run with `--runtime runc`, which checks the podman side.

use std::path::PathBuf;
use std::time::Duration;

use burrow_tests::binary::burrow_binary;
use burrow_tests::{Cmd, Podman, Sandbox};

const IMAGE: &str = "localhost/burrow-e2e-busybox:latest";
const PATIENCE: Duration = Duration::from_secs(90);

struct Client<'a> {
    podman: Podman<'a>,
    runtime: PathBuf,
}

impl Client<'_> {
    /// `podman --runtime R ARGS…`
    fn podman(&self, args: &[&str]) -> Cmd {
        self.podman
            .command(["--runtime".as_ref(), self.runtime.as_os_str()])
            .args(args)
            .timeout(PATIENCE)
    }
}

fn client(sandbox: &Sandbox) -> Client<'_> {
    let runtime = if sandbox.runtime().is_burrow() {
        burrow_binary().burrow_oci.clone()
    } else {
        sandbox.runtime().program().to_path_buf()
    };
    let podman = Podman::new(sandbox);
    podman.import_busybox(IMAGE);
    Client { podman, runtime }
}

#[test]
fn podman_run_rm_echo() {
    let sandbox = Sandbox::new("podman-echo");
    let client = client(&sandbox);
    let run = client
        .podman(&["run", "--rm", "--network", "none", IMAGE, "echo", "hi"])
        .run();
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "hi", "{run}");
    let left = client.podman(&["ps", "--all", "--quiet"]).run();
    left.assert_success();
    assert_eq!(
        left.stdout_trimmed(),
        "",
        "--rm removes the container: {left}"
    );
}

#[test]
fn podman_run_propagates_exit_codes() {
    let sandbox = Sandbox::new("podman-exit");
    let client = client(&sandbox);
    let run = client
        .podman(&[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "exit 3",
        ])
        .run();
    run.assert_code(3);
    let missing = client
        .podman(&["run", "--rm", "--network", "none", IMAGE, "no-such-command"])
        .run();
    missing.assert_code(127);
    missing.assert_stderr_contains("executable file not found");
}

#[test]
fn podman_run_with_a_tty() {
    let sandbox = Sandbox::new("podman-tty");
    let client = client(&sandbox);
    let run = client
        .podman(&["run", "--rm", "-t", "--network", "none", IMAGE, "tty"])
        .run();
    run.assert_success();
    assert_eq!(run.stdout, "/dev/pts/0\r\n", "{run}");
}

#[test]
fn podman_detached_container_exec_and_stop() {
    let sandbox = Sandbox::new("podman-exec");
    let client = client(&sandbox);
    let run = client
        .podman(&[
            "run",
            "-d",
            "--name",
            "sleeper",
            "--network",
            "none",
            IMAGE,
            "sleep",
            "1000",
        ])
        .run();
    run.assert_success();
    let exec = client
        .podman(&[
            "exec",
            "sleeper",
            "sh",
            "-c",
            "echo from-exec; cat /proc/1/cmdline",
        ])
        .run();
    exec.assert_success();
    assert_eq!(
        exec.stdout_lines(),
        ["from-exec", "sleep\u{0}1000\u{0}"],
        "{exec}"
    );
    let tty_exec = client.podman(&["exec", "-t", "sleeper", "tty"]).run();
    tty_exec.assert_success();
    assert!(tty_exec.stdout.starts_with("/dev/pts/"), "{tty_exec}");
    client
        .podman(&["stop", "-t", "1", "sleeper"])
        .run()
        .assert_success();
    let inspect = client
        .podman(&["inspect", "--format", "{{.State.Status}}", "sleeper"])
        .run();
    assert_eq!(inspect.stdout_trimmed(), "exited", "{inspect}");
    client.podman(&["rm", "sleeper"]).run().assert_success();
}
