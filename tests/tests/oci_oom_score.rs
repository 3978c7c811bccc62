//! `process.oomScoreAdj`: raising it (which needs no privilege) is applied to the
//! container's process, seen from inside and from the host before the program starts.

use burrow_tests::Sandbox;
use serde_json::json;

fn own_oom_score_adj() -> i64 {
    std::fs::read_to_string("/proc/self/oom_score_adj")
        .expect("read /proc/self/oom_score_adj")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn a_raised_oom_score_adj_is_seen_inside() {
    let sandbox = Sandbox::new("oom-score");
    assert!(
        own_oom_score_adj() < 500,
        "the test must start below the value it sets"
    );
    let (id, run) = sandbox.run_container(|spec| {
        spec.set("/process/oomScoreAdj", json!(500))
            .args(&["cat", "/proc/self/oom_score_adj"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "500", "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_created_container_has_its_oom_score_adj_before_start() {
    let sandbox = Sandbox::new("oom-score-created");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.set("/process/oomScoreAdj", json!(321))
            .args(&["sleep", "1000"]);
    });
    let id = sandbox.container_id("oom");
    sandbox
        .oci(["create", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run()
        .assert_success();
    let pid = sandbox.state(&id)["pid"].as_i64().expect("a pid");
    let value = std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj"))
        .expect("the init's oom_score_adj");
    assert_eq!(value.trim(), "321");
    sandbox
        .oci(["delete", "--force", &id])
        .run()
        .assert_success();
    sandbox.assert_nothing_left(&id);
}
