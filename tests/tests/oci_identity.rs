//! Who the container is: uid 0 inside is the test user outside, subordinate ranges through
//! newuidmap, process.user with supplementary groups. Checked from inside (uid_map, id)
//! and from the host (the owner of files the container creates in a bind-mounted dir).

use std::os::unix::fs::MetadataExt;

use burrow_tests::procfs::cap_mask;
use burrow_tests::{fsutil, Sandbox};
use serde_json::json;

fn map_lines(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| line.split_whitespace().map(str::to_string).collect())
        .filter(|fields: &Vec<String>| !fields.is_empty())
        .collect()
}

#[test]
fn root_inside_is_the_test_user_outside() {
    let sandbox = Sandbox::new("single-map");
    let shared = sandbox.make_dir("shared");
    let (id, run) = sandbox.run_container(|spec| {
        spec.bind_mount(&shared, "/shared", &[]).args(&[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map > /shared/uid_map; touch /shared/by-root",
        ]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["0", "0"], "{run}");
    let user = sandbox.user();
    let uid_map = std::fs::read_to_string(shared.join("uid_map")).unwrap();
    assert_eq!(
        map_lines(&uid_map),
        [["0".to_string(), user.uid.to_string(), "1".to_string()]]
    );
    let made = std::fs::metadata(shared.join("by-root")).unwrap();
    assert_eq!((made.uid(), made.gid()), (user.uid, user.gid));
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_65536_id_map_goes_through_newuidmap() {
    let sandbox = Sandbox::new("subid-map");
    let user = sandbox.user();
    let (id, run) = sandbox.run_container(|spec| {
        spec.map_subordinate_ids(user).args(&[
            "sh",
            "-c",
            "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map",
        ]);
    });
    run.assert_success();
    let (uid_map, gid_map) = run.stdout.split_once("--\n").expect("two maps");
    let expect = |own: u32, start: u32| {
        vec![
            vec!["0".to_string(), own.to_string(), "1".to_string()],
            vec!["1".to_string(), start.to_string(), "65536".to_string()],
        ]
    };
    assert_eq!(
        map_lines(uid_map),
        expect(user.uid, user.subuid().start),
        "{run}"
    );
    assert_eq!(
        map_lines(gid_map),
        expect(user.gid, user.subgid().start),
        "{run}"
    );
    sandbox.assert_nothing_left(&id);
}

#[test]
fn process_user_sets_uid_and_gid() {
    let sandbox = Sandbox::new("process-user");
    let user = sandbox.user();
    let shared = sandbox.make_dir("shared");
    fsutil::set_mode(&shared, 0o777);
    let (id, run) = sandbox.run_container(|spec| {
        spec.map_subordinate_ids(user)
            .user(1000, 1001, &[])
            .bind_mount(&shared, "/shared", &[])
            .args(&["sh", "-c", "id -u; id -g; touch /shared/by-1000"]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["1000", "1001"], "{run}");
    let made = std::fs::metadata(shared.join("by-1000")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (user.subuid().start + 999, user.subgid().start + 1000),
        "container id N >= 1 is subordinate id start+N-1"
    );
    sandbox.assert_nothing_left(&id);
}

/// runc refuses this ("cannot set any additional groups in a rootless container") even
/// with a full gid map; crun and the burrow allow it when newgidmap wrote the map
/// (setgroups is then permitted in the user namespace).
#[test]
fn process_user_sets_additional_gids() {
    let sandbox = Sandbox::new("additional-gids");
    let (id, run) = sandbox.run_container(|spec| {
        spec.map_subordinate_ids(sandbox.user())
            .user(1000, 1001, &[10, 20])
            .args(&["sh", "-c", "id -u; id -g; id -G"]);
    });
    run.assert_success();
    let lines = run.stdout_lines();
    assert_eq!(lines[..2], ["1000", "1001"], "{run}");
    let mut groups: Vec<u32> = lines[2]
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, [10, 20, 1001], "{run}");
    sandbox.assert_nothing_left(&id);
}

#[test]
fn a_non_root_process_user_keeps_only_ambient_capabilities() {
    let sandbox = Sandbox::new("user-caps");
    let user = sandbox.user();
    let (id, run) = sandbox.run_container(|spec| {
        spec.map_subordinate_ids(user).user(1000, 1000, &[]).set(
            "/process/capabilities",
            json!({
                "bounding": ["CAP_CHOWN", "CAP_KILL"],
                "effective": ["CAP_CHOWN", "CAP_KILL"],
                "permitted": ["CAP_CHOWN", "CAP_KILL"],
                "inheritable": ["CAP_KILL"],
                "ambient": ["CAP_KILL"],
            }),
        );
        spec.args(&["sh", "-c", "grep -E '^Cap(Eff|Prm|Amb)' /proc/self/status"]);
    });
    run.assert_success();
    let kill = format!("{:016x}", cap_mask(&["CAP_KILL"]));
    let expected: Vec<String> = ["CapPrm", "CapEff", "CapAmb"]
        .iter()
        .map(|set| format!("{set}:\t{kill}"))
        .collect();
    assert_eq!(run.stdout.lines().collect::<Vec<_>>(), expected, "{run}");
    sandbox.assert_nothing_left(&id);
}
