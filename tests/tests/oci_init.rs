//! `--init` (a burrow extension of `run` and `create`, like `docker run --init`): pid 1 of
//! the container is a small init, not the program; it reaps the zombies reparented to it,
//! forwards the signals it gets to the program, and exits with the program's status.
//!
//! runc has no `--init`: those tests say so and return under `BURROW_TEST_RUNTIME=runc`.
//! The control scenario (an orphan without an init stays a zombie) runs on both, and
//! shows that the zombie observation can see a zombie.

use std::path::Path;
use std::time::{Duration, Instant};

use burrow_tests::{Bundle, Output, Sandbox};

const PATIENCE: Duration = Duration::from_secs(10);

fn burrow_only(sandbox: &Sandbox) -> bool {
    if sandbox.runtime().is_burrow() {
        return true;
    }
    eprintln!("burrow-only test (--init): not run with BURROW_TEST_RUNTIME=runc");
    false
}

fn bundle_running(sandbox: &Sandbox, args: &[&str]) -> Bundle {
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(args);
    });
    bundle
}

/// `run --init` in the foreground.
fn run_with_init(sandbox: &Sandbox, bundle: &Bundle, id: &str) -> Output {
    sandbox
        .oci(["run", "--init", "--bundle"])
        .arg(bundle.path())
        .arg(id)
        .run()
}

fn wait_for_path(path: &Path) {
    let deadline = Instant::now() + PATIENCE;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} did not appear within {PATIENCE:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process as the host sees it: its pid in the container (the last NSpid), its
/// command name and its state letter.
#[derive(Debug)]
struct HostProcess {
    inner_pid: i32,
    comm: String,
    state: char,
}

/// The children of host pid `parent`, read from the host's /proc (world-readable stat
/// and status, so this works for any test user and needs no exec into the container).
fn children_of(parent: i32) -> Vec<HostProcess> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let comm = head.split_once(" (")?.1.to_string();
            let mut fields = rest.split_whitespace();
            let state = fields.next()?.chars().next()?;
            let ppid: i32 = fields.next()?.parse().ok()?;
            if ppid != parent {
                return None;
            }
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let inner_pid = status
                .lines()
                .find_map(|line| line.strip_prefix("NSpid:"))
                .and_then(|ids| ids.split_whitespace().last()?.parse().ok())
                .unwrap_or(pid);
            Some(HostProcess {
                inner_pid,
                comm,
                state,
            })
        })
        .collect()
}

/// The orphan is a `sh` that writes its pid (in the container) to /tmp/orphan.pid and
/// becomes `sleep 0.1`; its parent subshell exits at once, so it is reparented to pid 1.
/// The program then becomes `sleep 1000`, which never reaps anything.
const ORPHAN_THEN_SLEEP: &str = "(sh -c 'echo $$ > /tmp/orphan.tmp; \
     mv /tmp/orphan.tmp /tmp/orphan.pid; exec sleep 0.1' &); exec sleep 1000";

/// Starts the orphan scenario detached; returns the id, the state's pid (pid 1 of the
/// container) and the orphan's pid inside the container.
fn start_orphan_scenario(sandbox: &Sandbox, with_init: bool) -> (String, i32, i32) {
    let bundle = bundle_running(sandbox, &["sh", "-c", ORPHAN_THEN_SLEEP]);
    let id = sandbox.container_id("orphan");
    let mut run = sandbox.oci(["run", "--detach"]);
    if with_init {
        run = run.arg("--init");
    }
    run.arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let pid_file = bundle.rootfs().join("tmp/orphan.pid");
    wait_for_path(&pid_file);
    let orphan: i32 = std::fs::read_to_string(&pid_file)
        .unwrap_or_default()
        .trim()
        .parse()
        .expect("the orphan's pid");
    let init = sandbox.state(&id)["pid"].as_i64().expect("a pid") as i32;
    (id, init, orphan)
}

#[test]
fn pid_1_is_the_init_and_the_program_its_child() {
    let sandbox = Sandbox::new("init-pid1");
    if !burrow_only(&sandbox) {
        return;
    }
    let bundle = bundle_running(
        &sandbox,
        &[
            "sh",
            "-c",
            "echo $$ $PPID; tr '\\0' ' ' < /proc/1/cmdline; echo",
        ],
    );
    let id = sandbox.container_id("init");
    let run = run_with_init(&sandbox, &bundle, &id);
    run.assert_success();
    let lines = run.stdout_lines();
    let ids: Vec<&str> = lines[0].split_whitespace().collect();
    assert_ne!(ids[0], "1", "the program must not be pid 1: {run}");
    assert_eq!(ids[1], "1", "the program is the init's child: {run}");
    assert!(
        !lines[1].starts_with("sh -c"),
        "pid 1 is not the program: {run}"
    );
    sandbox.assert_nothing_left(&id);
}

/// The control: without an init, pid 1 is `sleep`, and the orphan stays its zombie.
#[test]
fn without_init_an_orphan_stays_a_zombie() {
    let sandbox = Sandbox::new("init-control");
    let (id, pid1, orphan) = start_orphan_scenario(&sandbox, false);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let children = children_of(pid1);
        if children
            .iter()
            .any(|p| p.inner_pid == orphan && p.state == 'Z')
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphan {orphan} is not a zombie of pid 1 after {PATIENCE:?}: {children:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn the_init_reaps_orphaned_zombies() {
    let sandbox = Sandbox::new("init-reaps");
    if !burrow_only(&sandbox) {
        return;
    }
    let (id, init, orphan) = start_orphan_scenario(&sandbox, true);
    // Reaped, the orphan disappears; a zombie would stay listed under the init.
    let deadline = Instant::now() + PATIENCE;
    let children = loop {
        let children = children_of(init);
        if !children.iter().any(|p| p.inner_pid == orphan) || Instant::now() >= deadline {
            break children;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let zombies: Vec<&HostProcess> = children.iter().filter(|p| p.state == 'Z').collect();
    assert!(zombies.is_empty(), "the init left zombies: {children:#?}");
    assert!(
        !children.iter().any(|p| p.inner_pid == orphan),
        "orphan {orphan} still there after {PATIENCE:?}: {children:#?}"
    );
    assert!(
        children
            .iter()
            .any(|p| p.comm == "sleep" && p.inner_pid != 1),
        "the program runs as a child of the init: {children:#?}"
    );
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

/// exec joins a container whose pid 1 is the init (the init must stay reachable:
/// its /proc/PID/ns links are what exec joins).
#[test]
fn exec_works_in_a_container_run_with_init() {
    let sandbox = Sandbox::new("init-exec");
    if !burrow_only(&sandbox) {
        return;
    }
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.hostname("init-box").args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("init");
    sandbox
        .oci(["run", "--detach", "--init", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let exec = sandbox
        .oci(["exec", &id, "sh", "-c", "hostname; echo $$; id -u"])
        .run();
    exec.assert_success();
    let lines = exec.stdout_lines();
    assert_eq!(lines.first(), Some(&"init-box"), "{exec}");
    let pid: i32 = lines[1].parse().expect("a pid");
    assert!(pid > 2, "exec is in the container's pid namespace: {exec}");
    assert_eq!(lines[2], "0", "{exec}");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}

/// `sleep` has no handler: as pid 1 it would ignore TERM; under the init it dies of it.
#[test]
fn kill_term_reaches_the_program_which_exits_143() {
    let sandbox = Sandbox::new("init-term");
    if !burrow_only(&sandbox) {
        return;
    }
    let bundle = bundle_running(&sandbox, &["sleep", "1000"]);
    let id = sandbox.container_id("init");
    let running = sandbox
        .oci(["run", "--init", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .spawn();
    sandbox.wait_for_status(&id, "running", PATIENCE);
    sandbox.oci(["kill", &id, "TERM"]).run().assert_success();
    let run = running.wait();
    run.assert_code(143);
    sandbox.assert_nothing_left(&id);
}

/// The program's own TERM handler runs (so the init forwarded the signal rather than
/// dying of it), with `create --init` then `start`.
#[test]
fn create_with_init_forwards_signals_to_the_programs_handler() {
    let sandbox = Sandbox::new("init-trap");
    if !burrow_only(&sandbox) {
        return;
    }
    let script = "trap 'echo got-term > /tmp/log; exit 3' TERM; \
                  echo started > /tmp/log; sleep 1000 & wait";
    let bundle = bundle_running(&sandbox, &["sh", "-c", script]);
    let log = bundle.rootfs().join("tmp/log");
    let id = sandbox.container_id("init");
    sandbox
        .oci(["create", "--init", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    sandbox.oci(["start", &id]).run().assert_success();
    wait_for_path(&log);
    sandbox.oci(["kill", &id, "TERM"]).run().assert_success();
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    assert_eq!(
        std::fs::read_to_string(&log).unwrap_or_default(),
        "got-term\n",
        "the program's TERM handler ran"
    );
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}

#[test]
fn the_programs_exit_status_passes_through() {
    let sandbox = Sandbox::new("init-exit");
    if !burrow_only(&sandbox) {
        return;
    }
    // Not pid 1 any more, the shell can be killed by its own signal.
    for (script, code) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$", 137)] {
        let bundle_label = format!("exit-{code}");
        let bundle = sandbox.bundle(&bundle_label);
        bundle.edit(|spec| {
            spec.args(&["sh", "-c", script]);
        });
        let id = sandbox.container_id("init");
        run_with_init(&sandbox, &bundle, &id).assert_code(code);
        sandbox.assert_nothing_left(&id);
    }
}
