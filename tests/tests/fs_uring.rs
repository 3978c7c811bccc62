//! FUSE over io_uring: where root has switched it on (`fuse.enable_uring=1`; `.ci/run`
//! does), burrow's overlay serves requests through one pinned queue thread per CPU,
//! and `io_uring=0` keeps it on /dev/fuse. The semantics suite (`fs_overlay.rs`) runs
//! its scenarios over both transports; these tests check that the queues really carry
//! the requests, including large reads and writes and the kernel's own background
//! writeback, and that an unmount ends them.

// Shared with fs_overlay.rs; this file does not use every helper.
#[allow(dead_code)]
mod fs_support;

use burrow_tests::Sandbox;
use fs_support::{io_uring_switched_on, run_with, Scenario, Setup};

/// Prints, for the server `$server`, how many queue threads it has and whether they
/// used any CPU; then a workload; then the same again.
const RING_THREADS: &str = r#"
rings() {
  label=$1; n=0; busy=0
  for t in /proc/$server/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in fuse-ring-*)
      n=$((n+1))
      set -- $(sed 's/^.*) //' "$t/stat")
      busy=$((busy + ${12} + ${13}))
    esac
  done
  echo "$label ring threads=$n"
  echo "$n $busy" > "$base/rings.$label"
}
"#;

fn scenario_ops(workload: &str) -> String {
    format!(
        r#"{RING_THREADS}
        sleep 0.2
        rings before
        {workload}
        rings after
        read n0 b0 < "$base/rings.before"; read n1 b1 < "$base/rings.after"
        [ "$b1" -gt "$b0" ] && echo "ring cpu grew" || echo "ring cpu same"
        "#
    )
}

/// Creates, writes big and small files, reads them back and removes them.
const WORKLOAD: &str = r#"
        step 'for i in $(seq 300); do echo "file $i" > small-$i; done; cat small-150 small-300'
        step 'head -c 3000000 /dev/urandom > big && cp big big2 && cmp big big2 && echo same'
        step 'mkdir d && mv small-* d/ && ls d | wc -l && rm -r d && ls'
        step 'cat lower.txt && echo more >> lower.txt && cat lower.txt'
"#;

fn run_once(sandbox: &Sandbox, name: &str, options: Option<&str>) -> String {
    let ops = scenario_ops(WORKLOAD);
    let seen = run_with(
        sandbox,
        &Scenario {
            name,
            layers: &["echo from-lower > lower.txt"],
            ops: &ops,
        },
        "oci",
        &["-Urm"],
        Setup {
            foreground: true,
            options,
            ..Setup::default()
        },
    );
    assert!(seen.output.success(), "scenario failed: {}", seen.output);
    let text = seen.text().to_string();
    assert!(!text.contains("panicked"), "the server panicked: {text}");
    for expected in [
        "file 150\nfile 300\nrc=0",
        "same\nrc=0",
        "300\nbig\nbig2\nlower.txt\nrc=0",
        "from-lower\nfrom-lower\nmore\nrc=0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in: {text}");
    }
    text
}

#[test]
fn with_io_uring_switched_on_the_per_cpu_queues_carry_the_requests() {
    if !io_uring_switched_on() {
        eprintln!("skipped: FUSE over io_uring is not switched on (fuse.enable_uring)");
        return;
    }
    let sandbox = Sandbox::new("fs-uring-on");
    let text = run_once(&sandbox, "uring-on", None);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        text.contains(&format!("after ring threads={cpus}")) || cpus > 64,
        "expected one queue thread per CPU ({cpus}): {text}"
    );
    assert!(
        text.contains("ring cpu grew"),
        "the queue threads did no work: {text}"
    );
}

#[test]
fn io_uring_0_keeps_the_overlay_on_dev_fuse() {
    let sandbox = Sandbox::new("fs-uring-off");
    let text = run_once(&sandbox, "uring-off", Some("io_uring=0"));
    assert!(
        text.contains("after ring threads=0"),
        "io_uring=0 still started queues: {text}"
    );
}
