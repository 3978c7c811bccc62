//! IPv6 on user-defined networks (`network create --ipv6`): members get an
//! address in the network's /64 (a ULA prefix derived from its IPv4 subnet,
//! or the one given with `--subnet`) next to their IPv4 one, reach each other
//! over IPv6 by address and by name (AAAA answers), and not across networks;
//! a network that is not internal gives the IPv6 default route. `inspect`
//! and `network inspect` show the addresses as Docker does. Every network
//! here but one is `--internal`, and nothing is sent beyond the containers.

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

fn json(e: &Engine, args: &[&str]) -> serde_json::Value {
    let out = e.burrow(args).run();
    out.assert_success();
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

fn ipv6_network(e: &Engine, label: &str, extra: &[&str]) -> String {
    let name = unique_name(label);
    e.burrow(["network", "create", "--ipv6"])
        .args(extra)
        .arg(&name)
        .run()
        .assert_success();
    name
}

/// A detached busybox httpd on `network`; its IPv6 address there.
fn web_server(e: &Engine, name: &str, network: &str) -> String {
    e.burrow(["run", "-d", "--name", name, "--network", network])
        .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        .run()
        .assert_success();
    let inspected = json(e, &["inspect", name]);
    inspected["NetworkSettings"]["Networks"][network]["GlobalIPv6Address"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn members_of_an_ipv6_network_reach_each_other_over_ipv6_by_address_and_name() {
    let e = Engine::new("netipv6");
    e.sandbox.import_busybox("busybox");
    let a = ipv6_network(&e, "v6a", &["--internal"]);
    let network = json(&e, &["network", "inspect", &a]);
    assert_eq!(network["EnableIPv6"], true, "{network}");
    let configs = network["IPAM"]["Config"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "{network}");
    let subnet6 = configs[1]["Subnet"].as_str().unwrap();
    assert!(
        subnet6.starts_with("fd62:7572:") && subnet6.ends_with("::/64"),
        "{subnet6}"
    );
    let prefix = subnet6.trim_end_matches("/64");

    let server = unique_name("web6");
    let address = web_server(&e, &server, &a);
    assert_eq!(
        address,
        format!("{prefix}2"),
        "the first member after the gateway"
    );
    let hostname = e.burrow(["exec", &server, "hostname"]).run();
    let hostname = hostname.stdout_trimmed().to_string();
    let hosts = e.burrow(["exec", &server, "cat", "/etc/hosts"]).run();
    assert!(
        hosts.stdout.contains(&format!("{address}\t{hostname}")),
        "{hosts}"
    );

    let script = format!(
        "nslookup -type=AAAA {server} | grep -c '{address}'; \
         wget -qO- 'http://[{address}]/hostname'; \
         ping6 -c1 -W3 {address} >/dev/null && echo pinged; \
         ip -6 route | grep -c default || true"
    );
    let client = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &a,
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .run();
    client.assert_success();
    assert_eq!(
        client.stdout_lines(),
        ["1", hostname.as_str(), "pinged", "0"],
        "internal: no default route; {client}"
    );

    // Another IPv6 network: the address is not reachable from there.
    let b = ipv6_network(&e, "v6b", &["--internal"]);
    let across =
        format!("wget -T 3 -qO- 'http://[{address}]/hostname' 2>/dev/null || echo unreachable");
    let out = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &b,
            "busybox",
            "sh",
            "-c",
            &across,
        ])
        .run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "unreachable", "{out}");

    e.burrow(["rm", "-f", &server]).run().assert_success();
    e.burrow(["network", "rm", &a, &b]).run().assert_success();
}

#[test]
fn an_ipv6_subnet_can_be_given_and_a_network_that_is_not_internal_routes_ipv6() {
    let e = Engine::new("netipv6-subnet");
    e.sandbox.import_busybox("busybox");
    // Unique per test run: the pid and a counter go in the prefix.
    let pid = std::process::id() & 0xffff;
    let subnet = format!("fd00:b0b:{pid:x}:1::/64");
    let routed = ipv6_network(&e, "v6routed", &["--subnet", &subnet]);
    let script = "ip -6 addr show eth0 | grep -o 'fd00[^ ]*/64'; \
                  ip -6 route | awk '/default/ { print $3 }'; \
                  ping6 -c1 -W3 $(ip -6 route | awk '/default/ { print $3 }') >/dev/null && echo gateway";
    let out = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &routed,
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .run();
    out.assert_success();
    let prefix = subnet.trim_end_matches("/64");
    assert_eq!(
        out.stdout_lines(),
        [
            format!("{prefix}2/64").as_str(),
            format!("{prefix}1").as_str(),
            "gateway"
        ],
        "{out}"
    );

    let failing = |args: &[&str], says: &str| {
        e.burrow(args).run().assert_one_line_error(&[says]);
    };
    failing(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            "fd00:1::/48",
            &unique_name("x"),
        ],
        "only /64",
    );
    failing(
        &[
            "network",
            "create",
            "--subnet",
            "fd00:1::/64",
            &unique_name("x"),
        ],
        "needs --ipv6",
    );
    failing(
        &[
            "network",
            "create",
            "--ipv6",
            "--subnet",
            &subnet,
            &unique_name("x"),
        ],
        "overlaps",
    );
    e.burrow(["network", "rm", &routed]).run().assert_success();
}
