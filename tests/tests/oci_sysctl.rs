//! `linux.sysctl`: namespaced sysctls are written in the container's own namespaces
//! (observed in /proc/sys from inside, the host's values untouched); a sysctl of a
//! namespace the container does not own is refused with one line.
//!
//! The values are chosen away from the kernel defaults (a new network namespace may
//! inherit the host's IPv4 settings, so `ip_forward=1` alone could be the default).

use burrow_tests::Sandbox;
use serde_json::json;

const HOST_TTL: &str = "/proc/sys/net/ipv4/ip_default_ttl";
const HOST_MSGMAX: &str = "/proc/sys/kernel/msgmax";

fn read_host(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn namespaced_sysctls_are_set_inside_only() {
    let sandbox = Sandbox::new("sysctl");
    let host_ttl = read_host(HOST_TTL);
    let host_msgmax = read_host(HOST_MSGMAX);
    assert_ne!(host_ttl, "42", "pick another test value");
    assert_ne!(host_msgmax, "12345", "pick another test value");
    let script = "cat /proc/sys/net/ipv4/ip_default_ttl /proc/sys/net/ipv4/ip_forward \
                  /proc/sys/kernel/msgmax /proc/sys/kernel/shm_rmid_forced";
    let (id, run) = sandbox.run_container(|spec| {
        // The rootless spec has no network namespace; ipc is there already.
        spec.add_namespace("network", None);
        assert!(spec.namespace_types().iter().any(|t| t == "ipc"));
        spec.set(
            "/linux/sysctl",
            json!({
                "net.ipv4.ip_default_ttl": "42",
                "net.ipv4.ip_forward": "1",
                "kernel.msgmax": "12345",
                "kernel.shm_rmid_forced": "1",
            }),
        )
        .args(&["sh", "-c", script]);
    });
    run.assert_success();
    assert_eq!(run.stdout_lines(), ["42", "1", "12345", "1"], "{run}");
    assert_eq!(read_host(HOST_TTL), host_ttl, "the host's ttl changed");
    assert_eq!(
        read_host(HOST_MSGMAX),
        host_msgmax,
        "the host's msgmax changed"
    );
    sandbox.assert_nothing_left(&id);
}

/// Without a network namespace of its own, a net.* sysctl would be the host's: refused.
#[test]
fn a_net_sysctl_without_a_network_namespace_is_refused() {
    let sandbox = Sandbox::new("sysctl-no-netns");
    let host_ttl = read_host(HOST_TTL);
    let (id, run) = sandbox.run_container(|spec| {
        assert!(!spec.namespace_types().iter().any(|t| t == "network"));
        spec.set("/linux/sysctl", json!({ "net.ipv4.ip_default_ttl": "42" }))
            .args(&["true"]);
    });
    run.assert_one_line_error(&["net.ipv4.ip_default_ttl"]);
    assert_eq!(read_host(HOST_TTL), host_ttl, "the host's ttl changed");
    sandbox.assert_nothing_left(&id);
}

/// vm.* belongs to no namespace: a container must not (and here cannot) set it.
#[test]
fn a_sysctl_of_no_namespace_is_refused() {
    let sandbox = Sandbox::new("sysctl-global");
    let (id, run) = sandbox.run_container(|spec| {
        spec.add_namespace("network", None);
        spec.set("/linux/sysctl", json!({ "vm.swappiness": "10" }))
            .args(&["true"]);
    });
    run.assert_one_line_error(&["vm.swappiness"]);
    sandbox.assert_nothing_left(&id);
}
