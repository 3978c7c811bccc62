//! `burrow info`: the store it reports is the one given, and what the machine lacks
//! comes with the fix (checked by hiding newuidmap from PATH).

use burrow_tests::runtime::Runtime;
use burrow_tests::Sandbox;
use serde_json::Value;

fn info(sandbox: &Sandbox, path: Option<&str>) -> Value {
    let mut cmd = sandbox
        .command(Runtime::burrow().program())
        .arg("--root")
        .arg(sandbox.dir().join("store"))
        .args(["info", "--format", "json"]);
    if let Some(path) = path {
        cmd = cmd.env("PATH", path);
    }
    let out = cmd.run();
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("info JSON: {e}\n{out}"))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

#[test]
fn info_reports_the_store_and_the_id_mapping() {
    let sandbox = Sandbox::new("eng-info");
    let report = info(&sandbox, None);
    assert_eq!(
        report["store"]["data"].as_str(),
        sandbox.dir().join("store").to_str()
    );
    let mapping = check(&report, "id mapping");
    assert_eq!(
        mapping["ok"], true,
        "the test user has subordinate ids: {mapping}"
    );
    assert_eq!(
        check(&report, "fuse")["ok"],
        true,
        ".ci/run makes /dev/fuse 0666"
    );
}

#[test]
fn a_missing_newuidmap_is_reported_with_the_package_to_install() {
    let sandbox = Sandbox::new("eng-info-no-uidmap");
    let path = burrow_tests::tools::path_with_only_setpriv(&sandbox);
    let report = info(&sandbox, Some(&path));
    let mapping = check(&report, "id mapping");
    assert_eq!(mapping["ok"], false, "{mapping}");
    assert!(
        mapping["hint"]
            .as_str()
            .is_some_and(|h| h.contains("uidmap")),
        "{mapping}"
    );
}
