//! The command line as OCI clients use it: the `burrow-oci` symlink (podman's
//! `--runtime`, containerd's BinaryName, CRI-O's runtime_path), `spec`, the global flags
//! (`--log`, `--log-format json`, `--systemd-cgroup`), and `spec --rootless` compared with
//! runc's, the oracle.

use burrow_tests::binary::burrow_binary;
use burrow_tests::{Runtime, Sandbox, Spec};
use serde_json::Value;

/// Tests of burrow's own command line have nothing to check against runc.
fn burrow_only(sandbox: &Sandbox) -> bool {
    if sandbox.runtime().is_burrow() {
        return true;
    }
    eprintln!("burrow-only test: not run with BURROW_TEST_RUNTIME=runc");
    false
}

#[test]
fn the_burrow_oci_symlink_behaves_as_burrow_oci() {
    let sandbox = Sandbox::new("burrow-oci");
    if !burrow_only(&sandbox) {
        return;
    }
    let burrow_oci = &burrow_binary().burrow_oci;
    let version = sandbox.command(burrow_oci).arg("--version").run();
    version.assert_success();
    assert!(!version.stdout_trimmed().is_empty(), "{version}");

    let dir = sandbox.make_dir("spec-here");
    let spec = sandbox
        .command(burrow_oci)
        .args(["spec", "--rootless"])
        .current_dir(&dir)
        .run();
    spec.assert_success();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json written");
    let spec = Spec::from_json(&text).expect("valid JSON");
    assert!(spec.get("/ociVersion").is_some(), "{text}");

    let list = sandbox
        .command(burrow_oci)
        .arg("--root")
        .arg(sandbox.state_dir())
        .args(["list", "-q"])
        .run();
    list.assert_success();
    assert_eq!(list.stdout_trimmed(), "", "{list}");
}

#[test]
fn the_burrow_oci_symlink_runs_containers() {
    let sandbox = Sandbox::new("burrow-oci-run");
    if !burrow_only(&sandbox) {
        return;
    }
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["echo", "hi from burrow-oci"]);
    });
    let id = sandbox.container_id("symlink");
    let run = sandbox
        .command(&burrow_binary().burrow_oci)
        .arg("--root")
        .arg(sandbox.state_dir())
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "hi from burrow-oci", "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn spec_writes_into_the_bundle_dir_and_keeps_an_existing_config() {
    let sandbox = Sandbox::new("spec-bundle");
    let dir = sandbox.make_dir("target-bundle");
    sandbox
        .oci_without_root(["spec", "--rootless", "--bundle"])
        .arg(&dir)
        .run()
        .assert_success();
    let first = std::fs::read_to_string(dir.join("config.json")).expect("config.json in --bundle");
    let again = sandbox
        .oci_without_root(["spec", "--rootless", "--bundle"])
        .arg(&dir)
        .run();
    again.assert_one_line_error(&["exists"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        first
    );
}

/// How a field of burrow's spec must relate to runc's.
#[derive(Clone, Copy, Debug)]
enum Agreement {
    /// The same value.
    Equal,
    /// burrow's list holds at least runc's items (more isolation is fine).
    Superset,
}

/// The isolation-relevant parts of a spec, as sorted lists where order does not matter.
/// An absent list counts as empty.
fn essentials(spec: &Spec) -> Vec<(&'static str, Vec<String>, Agreement)> {
    let list = |pointer: &str| -> Vec<String> {
        let mut items: Vec<String> = spec
            .get(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.to_string()).collect())
            .unwrap_or_default();
        items.sort();
        items
    };
    let value = |pointer: &str| vec![spec.get(pointer).cloned().unwrap_or_default().to_string()];
    let mut mounts: Vec<String> = spec
        .get("/mounts")
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .map(|m| format!("{} {}", m["destination"], m["type"]))
                .collect()
        })
        .unwrap_or_default();
    mounts.sort();
    let mut namespaces = spec.namespace_types();
    namespaces.sort();
    use Agreement::*;
    vec![
        ("namespaces", namespaces, Superset),
        ("mounts", mounts, Equal),
        ("maskedPaths", list("/linux/maskedPaths"), Superset),
        ("readonlyPaths", list("/linux/readonlyPaths"), Superset),
        ("uidMappings", value("/linux/uidMappings"), Equal),
        ("gidMappings", value("/linux/gidMappings"), Equal),
        ("user", value("/process/user"), Equal),
        ("bounding", list("/process/capabilities/bounding"), Equal),
        ("effective", list("/process/capabilities/effective"), Equal),
        ("permitted", list("/process/capabilities/permitted"), Equal),
        // runc stopped filling this after CVE-2022-29162 (GHSA-f3fp-gc8g-vw66).
        (
            "inheritable",
            list("/process/capabilities/inheritable"),
            Equal,
        ),
        ("ambient", list("/process/capabilities/ambient"), Equal),
        ("noNewPrivileges", value("/process/noNewPrivileges"), Equal),
        ("rlimits", list("/process/rlimits"), Equal),
        ("root", value("/root"), Equal),
        ("devices", list("/linux/resources/devices"), Equal),
    ]
}

fn generated_spec(sandbox: &Sandbox, runtime: &Runtime, rootless: bool, dir: &str) -> Spec {
    let dir = sandbox.make_dir(dir);
    let (program, prefix) = runtime.oci_command();
    let mut command = sandbox
        .command(program)
        .args(prefix)
        .arg("spec")
        .current_dir(&dir);
    if rootless {
        command = command.arg("--rootless");
    }
    command.run().assert_success();
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config.json written");
    Spec::from_json(&text).expect("valid JSON")
}

#[test]
fn spec_matches_runcs() {
    let sandbox = Sandbox::new("spec-oracle");
    if !burrow_only(&sandbox) {
        return;
    }
    let runc = Runtime::runc();
    for (rootless, label) in [(true, "rootless"), (false, "root")] {
        let ours = generated_spec(
            &sandbox,
            sandbox.runtime(),
            rootless,
            &format!("burrow-{label}"),
        );
        let theirs = generated_spec(&sandbox, &runc, rootless, &format!("runc-{label}"));
        let flag = if rootless { "spec --rootless" } else { "spec" };
        let mut differences = Vec::new();
        for ((field, mine, agreement), (_, oracle, _)) in
            essentials(&ours).into_iter().zip(essentials(&theirs))
        {
            let agrees = match agreement {
                Agreement::Equal => mine == oracle,
                Agreement::Superset => oracle.iter().all(|item| mine.contains(item)),
            };
            if !agrees {
                differences.push(format!(
                    "{field} ({agreement:?}): burrow {mine:?}, runc {oracle:?}"
                ));
            }
        }
        assert!(
            differences.is_empty(),
            "{flag} differs from runc's:\n{}",
            differences.join("\n")
        );
    }
}

#[test]
fn log_format_json_reports_errors_in_the_log_file() {
    let sandbox = Sandbox::new("log-json");
    let bundle = sandbox.bundle("b");
    bundle.edit(|spec| {
        spec.args(&["no-such-command"]);
    });
    let log = sandbox.dir().join("runtime.log");
    let id = sandbox.container_id("log");
    let run = sandbox
        .oci([
            "--log".as_ref(),
            log.as_os_str(),
            "--log-format".as_ref(),
            "json".as_ref(),
        ])
        .args(["run", "--bundle"])
        .arg(bundle.path())
        .arg(&id)
        .run();
    run.assert_failure();
    let text = std::fs::read_to_string(&log)
        .unwrap_or_else(|e| panic!("no {}: {e}: {run}", log.display()));
    let entries: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let error = entries
        .iter()
        .find(|e| e["level"] == "error")
        .unwrap_or_else(|| panic!("no level=error entry in {text}"));
    let message = error["msg"].as_str().unwrap_or_default();
    assert!(message.contains("executable file not found"), "{error}");
    sandbox.assert_nothing_left(&id);
}

/// Accepted as a global flag (clients pass it); this machine has no systemd to use it.
#[test]
fn systemd_cgroup_is_accepted() {
    let sandbox = Sandbox::new("systemd-cgroup");
    sandbox
        .oci(["--systemd-cgroup", "list", "-q"])
        .run()
        .assert_success();
}
