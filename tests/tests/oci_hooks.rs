//! OCI hooks: every stage runs at its point of the life cycle, in order, with the state
//! JSON on stdin, exactly its own `args` (args[0] is argv[0]) and `env`; a failing
//! createRuntime hook makes `create` fail cleanly (and poststop still runs); a failing
//! startContainer hook stops the container before its program, and `run` reports it.
//!
//! Each hook is the host's static busybox run as `sh -c SCRIPT STAGE ARG`, so argv[0]
//! (`sh`) selects the applet; the script reads its own argv[0] from /proc/self/cmdline
//! and appends one line per run to a log. The hooks directory is bind-mounted at the same
//! path inside the container, so one path works for the hooks that run in the runtime's
//! namespaces (prestart, createRuntime, poststart, poststop), for createContainer (in the
//! container's namespaces before pivot_root) and for startContainer (after it).
//!
//! runc is not a full oracle here: it runs poststart at `create` (before startContainer
//! and the program), so it fails every test that checks when poststart runs.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burrow_tests::bundle::host_busybox;
use burrow_tests::{fsutil, Bundle, Sandbox};
use serde_json::{json, Value};

const PATIENCE: Duration = Duration::from_secs(10);

/// Appends `STAGE key=value…` to $HOOK_LOG. The state JSON is one object; the fields
/// are picked with sed (no jq in busybox). `exec 3<` opens /proc/self/cmdline in the
/// shell itself (a redirection on an external command would open the child's).
const HOOK_SCRIPT: &str = r#"exec 3</proc/self/cmdline
"$BB" sleep "${HOOK_DELAY:-0}"
argv0=$("$BB" tr '\0' '\n' <&3 | "$BB" head -n 1)
state=$("$BB" cat)
status=$(echo "$state" | "$BB" sed -n 's/.*"status" *: *"\([^"]*\)".*/\1/p')
id=$(echo "$state" | "$BB" sed -n 's/.*"id" *: *"\([^"]*\)".*/\1/p')
pid=$(echo "$state" | "$BB" sed -n 's/.*"pid" *: *\([0-9]*\).*/\1/p')
echo "$0 status=$status id=$id pid=$pid argv0=$argv0 arg=$1 var=$HOOK_VAR xdg=${XDG_RUNTIME_DIR-unset}" >> "$HOOK_LOG"
"#;

/// The stages in the order the runtime-spec runs them.
const STAGES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// A directory with a copy of busybox for the hooks, and the log they append to.
struct HookDir {
    dir: PathBuf,
}

impl HookDir {
    fn new(sandbox: &Sandbox) -> HookDir {
        let dir = sandbox.make_dir("hooks");
        let busybox = dir.join("busybox");
        std::fs::copy(&host_busybox().path, &busybox)
            .unwrap_or_else(|e| panic!("cannot copy busybox to {}: {e}", busybox.display()));
        fsutil::set_mode(&busybox, 0o755);
        fsutil::give_to_user(&busybox, sandbox.user());
        HookDir { dir }
    }

    fn busybox(&self) -> PathBuf {
        self.dir.join("busybox")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn path_str(&self) -> &str {
        self.dir.to_str().expect("a UTF-8 sandbox path")
    }

    /// A hook that logs its stage, what it read on stdin, its argv[0], arg and env.
    fn logging_hook(&self, stage: &str) -> Value {
        self.slow_logging_hook(stage, "0")
    }

    /// A logging hook that first sleeps `delay` seconds, so that whatever the runtime
    /// does concurrently with it (it should not) shows up in the log order.
    fn slow_logging_hook(&self, stage: &str, delay: &str) -> Value {
        let busybox = self.busybox();
        json!({
            "path": busybox,
            "args": ["sh", "-c", HOOK_SCRIPT, stage, format!("arg-of-{stage}")],
            "env": [
                format!("BB={}", busybox.display()),
                format!("HOOK_LOG={}", self.log_path().display()),
                format!("HOOK_VAR=env-of-{stage}"),
                format!("HOOK_DELAY={delay}"),
            ],
        })
    }

    /// A hook that prints one line on stderr and exits 3.
    fn failing_hook(&self, stage: &str) -> Value {
        json!({
            "path": self.busybox(),
            "args": ["sh", "-c", format!("echo {stage} hook refuses >&2; exit 3")],
        })
    }

    /// Makes the hooks directory visible at the same path inside the container.
    fn mount_into(&self, bundle: &Bundle) {
        let dir = self.dir.clone();
        bundle.edit(|spec| {
            spec.bind_mount(&dir, self.path_str(), &[]);
        });
    }

    fn lines(&self) -> Vec<LogLine> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(LogLine::parse)
            .collect()
    }

    fn stages(&self) -> Vec<String> {
        self.lines().into_iter().map(|l| l.stage).collect()
    }

    /// Waits until the log has a line for `stage`.
    fn wait_for(&self, stage: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.stages().iter().any(|s| s == stage) {
            assert!(
                Instant::now() < deadline,
                "no {stage} line in the hook log after {PATIENCE:?}: {:?}",
                self.stages()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// One line of the hook log: the stage (or `program`) and its `key=value` fields.
#[derive(Debug)]
struct LogLine {
    stage: String,
    fields: HashMap<String, String>,
}

impl LogLine {
    fn parse(line: &str) -> LogLine {
        let mut words = line.split_whitespace();
        let stage = words.next().unwrap_or_default().to_string();
        let fields = words
            .filter_map(|word| word.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogLine { stage, fields }
    }

    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map(String::as_str).unwrap_or("")
    }
}

fn add_hook(spec: &mut burrow_tests::Spec, stage: &str, hook: Value) {
    spec.array(&format!("/hooks/{stage}")).push(hook);
}

/// Asserts what one hook was given besides its status: the container id, its own
/// argv[0], arg and env, and nothing of the runtime's environment.
#[track_caller]
fn assert_hook_invocation(line: &LogLine, stage: &str, id: &str, all: &[LogLine]) {
    assert_eq!(line.stage, stage, "{all:#?}");
    assert_eq!(line.field("id"), id, "{stage} id: {all:#?}");
    assert_eq!(
        line.field("argv0"),
        "sh",
        "{stage}: args[0] is argv[0]: {all:#?}"
    );
    assert_eq!(
        line.field("arg"),
        format!("arg-of-{stage}"),
        "{stage} args: {all:#?}"
    );
    assert_eq!(
        line.field("var"),
        format!("env-of-{stage}"),
        "{stage} env: {all:#?}"
    );
    assert_eq!(
        line.field("xdg"),
        "unset",
        "{stage}: the hook's env is exactly its `env`: {all:#?}"
    );
}

/// What the hook log held at each step of create → start → kill → delete.
struct LifeCycle {
    id: String,
    /// The state's pid after create.
    pid: i64,
    after_create: Vec<String>,
    after_start: Vec<String>,
    after_kill: Vec<String>,
    /// Every line, after delete.
    lines: Vec<LogLine>,
}

impl LifeCycle {
    fn line(&self, stage: &str) -> &LogLine {
        self.lines
            .iter()
            .find(|l| l.stage == stage)
            .unwrap_or_else(|| panic!("no {stage} line: {:#?}", self.lines))
    }

    fn stages(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.stage.as_str()).collect()
    }
}

/// A container with a logging hook for every stage, whose program logs `program` and
/// sleeps, taken through create, start, kill and delete. The startContainer hook takes
/// 0.3 s, so a `start` that runs poststart without waiting for the program to be
/// started shows it every time.
fn hooked_life_cycle(sandbox: &Sandbox) -> LifeCycle {
    let hooks = HookDir::new(sandbox);
    let bundle = sandbox.bundle("b");
    hooks.mount_into(&bundle);
    let program = format!(
        "echo program >> {}; exec sleep 1000",
        hooks.log_path().display()
    );
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", &program]);
        for stage in STAGES {
            let delay = if stage == "startContainer" {
                "0.3"
            } else {
                "0"
            };
            add_hook(spec, stage, hooks.slow_logging_hook(stage, delay));
        }
    });
    let id = sandbox.container_id("hooks");
    sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let pid = sandbox.state(&id)["pid"]
        .as_i64()
        .expect("a created container has a pid");
    let after_create = hooks.stages();
    sandbox.oci(["start", &id]).run().assert_success();
    hooks.wait_for("program");
    hooks.wait_for("poststart");
    let after_start = hooks.stages();
    sandbox.oci(["kill", &id, "KILL"]).run().assert_success();
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    let after_kill = hooks.stages();
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
    LifeCycle {
        id,
        pid,
        after_create,
        after_start,
        after_kill,
        lines: hooks.lines(),
    }
}

/// runc also gives createContainer and startContainer the pid the init has in its own
/// pid namespace (1) where runtime-spec state.md asks for the pid "as seen by the host".
#[test]
fn every_stage_runs_in_order_with_the_state_args_and_env() {
    let sandbox = Sandbox::new("hooks-order");
    let run = hooked_life_cycle(&sandbox);
    let all = &run.lines;
    assert_eq!(
        run.after_create,
        ["prestart", "createRuntime", "createContainer"],
        "create runs these three, in order: {all:#?}"
    );
    let mut started: Vec<&str> = run
        .after_start
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "program")
        .collect();
    assert_eq!(
        started,
        STAGES[..5],
        "start adds startContainer and poststart: {all:#?}"
    );
    assert_eq!(
        run.after_kill, run.after_start,
        "nothing runs when the container stops: {all:#?}"
    );
    started.push("poststop");
    let mut stages = run.stages();
    let program = stages.iter().position(|s| *s == "program");
    let start_container = stages.iter().position(|s| *s == "startContainer");
    assert!(
        start_container < program,
        "startContainer runs before the program: {all:#?}"
    );
    stages.retain(|s| *s != "program");
    assert_eq!(stages, STAGES, "delete adds poststop, once: {all:#?}");
    for stage in STAGES {
        assert_hook_invocation(run.line(stage), stage, &run.id, all);
    }
    for stage in &STAGES[..5] {
        assert_eq!(
            run.line(stage).field("pid"),
            run.pid.to_string(),
            "{stage} is given the container's host pid: {all:#?}"
        );
    }
}

/// The status each stage sees (runtime-spec runtime.md and state.md): the create hooks
/// run while the container is "creating", startContainer before the program is run
/// ("created"), poststart after ("running"), poststop after delete ("stopped").
#[test]
fn each_stage_sees_the_status_of_its_point_in_the_life_cycle() {
    let sandbox = Sandbox::new("hooks-status");
    let run = hooked_life_cycle(&sandbox);
    let expected = [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ];
    let seen: Vec<(&str, &str)> = expected
        .iter()
        .map(|(stage, _)| (*stage, run.line(stage).field("status")))
        .collect();
    assert_eq!(seen, expected, "{:#?}", run.lines);
}

#[test]
fn run_runs_every_stage_once_in_order() {
    let sandbox = Sandbox::new("hooks-run");
    let hooks = HookDir::new(&sandbox);
    let bundle = sandbox.bundle("b");
    hooks.mount_into(&bundle);
    bundle.edit(|spec| {
        spec.args(&["true"]);
        for stage in STAGES {
            add_hook(spec, stage, hooks.logging_hook(stage));
        }
    });
    let id = sandbox.container_id("hooks");
    sandbox.run_bundle(&bundle, &id).assert_success();
    let lines = hooks.lines();
    assert_eq!(hooks.stages(), STAGES, "{lines:#?}");
    for (line, stage) in lines.iter().zip(STAGES) {
        assert_hook_invocation(line, stage, &id, &lines);
    }
    sandbox.assert_nothing_left(&id);
}

/// runtime-spec lifecycle: a failing createRuntime hook is an error, the container is
/// destroyed (step 12) and the poststop hooks run (step 13); later stages never run.
#[test]
fn a_failing_create_runtime_hook_fails_create_and_leaves_nothing() {
    let sandbox = Sandbox::new("hooks-fail-create");
    let hooks = HookDir::new(&sandbox);
    let bundle = sandbox.bundle("b");
    hooks.mount_into(&bundle);
    bundle.edit(|spec| {
        spec.args(&["sleep", "1000"]);
        add_hook(spec, "prestart", hooks.logging_hook("prestart"));
        add_hook(spec, "createRuntime", hooks.failing_hook("createRuntime"));
        add_hook(spec, "createRuntime", hooks.logging_hook("createRuntime"));
        add_hook(
            spec,
            "createContainer",
            hooks.logging_hook("createContainer"),
        );
        add_hook(spec, "startContainer", hooks.logging_hook("startContainer"));
        add_hook(spec, "poststop", hooks.logging_hook("poststop"));
    });
    let id = sandbox.container_id("hooks");
    let create = sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    create.assert_one_line_error(&["createRuntime"]);
    sandbox.assert_nothing_left(&id);
    let stages = hooks.stages();
    assert_eq!(
        stages.first().map(String::as_str),
        Some("prestart"),
        "{stages:?}"
    );
    for never in ["createRuntime", "createContainer", "startContainer"] {
        assert!(
            !stages.iter().any(|s| s == never),
            "{never} ran after createRuntime failed: {stages:?}"
        );
    }
    assert_eq!(
        stages,
        ["prestart", "poststop"],
        "poststop runs once the failed container is destroyed"
    );
}

/// A failing startContainer hook stops the container before its program runs, and
/// `run` reports it (runtime-spec: "the runtime MUST generate an error").
#[test]
fn a_failing_start_container_hook_fails_run_before_the_program() {
    let sandbox = Sandbox::new("hooks-fail-start");
    let hooks = HookDir::new(&sandbox);
    let bundle = sandbox.bundle("b");
    hooks.mount_into(&bundle);
    let program = format!("echo program >> {}", hooks.log_path().display());
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", &program]);
        add_hook(spec, "startContainer", hooks.failing_hook("startContainer"));
        add_hook(spec, "poststart", hooks.logging_hook("poststart"));
    });
    let id = sandbox.container_id("hooks");
    let run = sandbox.run_bundle(&bundle, &id);
    run.assert_one_line_error(&["startContainer"]);
    sandbox.assert_nothing_left(&id);
    let stages = hooks.stages();
    assert!(
        stages.is_empty(),
        "neither the program nor poststart may run: {stages:?}"
    );
}

/// With create/start, `start` returns once the init is released (runc's exec.fifo
/// protocol reports nothing later, so its exit code is not checked here): the program
/// and poststart still must not run, and the container ends stopped.
#[test]
fn a_failing_start_container_hook_stops_a_created_container() {
    let sandbox = Sandbox::new("hooks-fail-start2");
    let hooks = HookDir::new(&sandbox);
    let bundle = sandbox.bundle("b");
    hooks.mount_into(&bundle);
    let program = format!("echo program >> {}", hooks.log_path().display());
    bundle.edit(|spec| {
        spec.args(&["sh", "-c", &program]);
        add_hook(spec, "startContainer", hooks.failing_hook("startContainer"));
    });
    let id = sandbox.container_id("hooks");
    sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let _ = sandbox.oci(["start", &id]).run();
    sandbox.wait_for_status(&id, "stopped", PATIENCE);
    let stages = hooks.stages();
    assert!(
        stages.is_empty(),
        "the program ran although startContainer failed: {stages:?}"
    );
    sandbox.oci(["delete", &id]).run().assert_success();
    sandbox.assert_nothing_left(&id);
}
