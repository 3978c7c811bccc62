//! The container's stdio from the user's side: `run -i` (stdin through, stdout
//! and stderr apart), `run -it`/`exec -it` on a real terminal (driven through
//! `script`, which gives burrow a pty), the detach keys, `attach` and
//! `start -a`.

use burrow_tests::engine::Engine;
use burrow_tests::runtime::Runtime;
use burrow_tests::{unique_name, Output};

/// Runs `burrow --root STORE <args>` on a 33x101 terminal made by `script`,
/// typing `input` (printf escapes) after a second.
fn on_terminal(e: &Engine, args: &str, input: &str) -> Output {
    let label = unique_name("tty");
    let inner = e.sandbox.write_file(
        &format!("{label}-inner.sh"),
        format!(
            "stty rows 33 cols 101\nexec {} --root {} {args}\n",
            Runtime::burrow().program().display(),
            e.sandbox.dir().join("store").display()
        ),
    );
    let outer = e.sandbox.write_file(
        &format!("{label}-outer.sh"),
        format!(
            "(sleep 1; printf '{input}'; sleep 2) | script -qec 'sh {}' /dev/null\n",
            inner.display()
        ),
    );
    e.sandbox.command("sh").arg(outer).run()
}

#[test]
fn run_i_passes_stdin_and_keeps_stdout_and_stderr_apart() {
    let e = Engine::new("att-stdin");
    let out = e
        .run(
            &["-i", "--rm"],
            &["sh", "-c", "tr a-z A-Z; echo to-err >&2; exit 4"],
        )
        .stdin("piped input\n")
        .run();
    out.assert_code(4);
    assert_eq!(out.stdout, "PIPED INPUT\n", "{out}");
    assert_eq!(out.stderr, "to-err\n", "{out}");
    // Without -i the program reads nothing.
    let closed = e.run(&["--rm"], &["cat"]).stdin("ignored\n").run();
    closed.assert_success();
    assert_eq!(closed.stdout, "", "{closed}");
}

#[test]
fn run_it_gives_the_program_a_terminal_of_the_users_size() {
    let e = Engine::new("att-tty");
    let rootfs = e.rootfs.display().to_string();
    let out = on_terminal(
        &e,
        &format!("run -it --rm --rootfs {rootfs} sh"),
        "tty; stty size; exit 6\\n",
    );
    // script exits with its child's status: burrow's is the shell's.
    out.assert_code(6);
    assert!(out.stdout.contains("/dev/pts/0"), "{out}");
    assert!(out.stdout.contains("33 101"), "{out}");
    let refused = e.run(&["-it", "--rm"], &["true"]).run();
    refused.assert_code(1);
    assert!(refused.stderr.contains("not a TTY"), "{refused}");
}

#[test]
fn detach_keys_leave_the_container_running_and_attach_comes_back() {
    let e = Engine::new("att-detach");
    let name = unique_name("shell");
    let rootfs = e.rootfs.display().to_string();
    let out = on_terminal(
        &e,
        &format!("run -it --name {name} --rootfs {rootfs} sh"),
        "echo before > /tmp/mark\\n\\020\\021",
    );
    out.assert_code(0);
    let status = e.burrow(["ps", "--format", "{{.Names}} {{.State}}"]).run();
    assert_eq!(
        status.stdout_trimmed(),
        format!("{name} running"),
        "{status}"
    );
    let mark = e.burrow(["exec", &name, "cat", "/tmp/mark"]).run();
    assert_eq!(mark.stdout, "before\n", "{mark}");

    let again = on_terminal(
        &e,
        &format!("attach {name}"),
        "echo attached-$((40+2)); exit 7\\n",
    );
    assert!(again.stdout.contains("attached-42"), "{again}");
    e.wait_for("the container to exit", || {
        e.burrow(["ps", "-a", "--format", "{{.Status}}"])
            .run()
            .stdout_trimmed()
            .starts_with("Exited (7)")
    });
    let stopped = e.burrow(["attach", &name]).run();
    stopped.assert_code(1);
    e.burrow(["rm", &name]).run().assert_success();
}

#[test]
fn exec_it_gets_its_own_terminal() {
    let e = Engine::new("att-exec");
    let name = unique_name("target");
    e.run(&["-d", "--name", &name], &["sleep", "1000"])
        .run()
        .assert_success();
    let out = on_terminal(
        &e,
        &format!("exec -it {name} sh"),
        "tty; stty size; exit\\n",
    );
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(out.stdout.contains("33 101"), "{out}");
    let piped = e
        .burrow(["exec", "-i", &name, "tr", "a-z", "A-Z"])
        .stdin("exec input\n")
        .run();
    assert_eq!(piped.stdout, "EXEC INPUT\n", "{piped}");
    e.burrow(["rm", "-f", &name]).run().assert_success();
}

#[test]
fn start_a_shows_the_output_and_returns_the_exit_code() {
    let e = Engine::new("att-start");
    let name = unique_name("once");
    e.burrow(["create", "--name", &name, "--rootfs"])
        .arg(&e.rootfs)
        .args(["sh", "-c", "echo started-and-attached; exit 9"])
        .run()
        .assert_success();
    let out = e.burrow(["start", "-a", &name]).run();
    out.assert_code(9);
    assert_eq!(out.stdout, "started-and-attached\n", "{out}");
    let logs = e.burrow(["logs", &name]).run();
    assert_eq!(logs.stdout, "started-and-attached\n", "{logs}");
}
