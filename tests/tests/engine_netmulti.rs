//! Several networks per container: `run --network a --network b`, `network
//! connect` and `disconnect` on running and stopped containers (one
//! interface per network, DNS for the members of each), `inspect` showing
//! every network, the errors Docker gives, and the default network's stack
//! refusing to NAT towards burrow's own subnets. Every user network here is
//! `--internal`: nothing a container sends can leave the host.

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

fn internal_network(e: &Engine, label: &str) -> String {
    let name = unique_name(label);
    e.burrow(["network", "create", "--internal", &name])
        .run()
        .assert_success();
    name
}

/// A detached busybox httpd on `network` serving its /etc; its hostname.
fn web_server(e: &Engine, name: &str, network: &str) -> String {
    e.burrow(["run", "-d", "--name", name, "--network", network])
        .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        .run()
        .assert_success();
    let hostname = e.burrow(["exec", name, "hostname"]).run();
    hostname.assert_success();
    hostname.stdout_trimmed().to_string()
}

fn inspect(e: &Engine, container: &str) -> serde_json::Value {
    let out = e.burrow(["inspect", container]).run();
    out.assert_success();
    serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()[0].clone()
}

fn network_names(json: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = json["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// What `wget http://NAME/hostname` from `container` gives: the hostname, or
/// `unreachable`.
fn fetch_from(e: &Engine, container: &str, name: &str) -> String {
    let script = format!("wget -qO- http://{name}/hostname 2>/dev/null || echo unreachable");
    let out = e.burrow(["exec", container, "sh", "-c", &script]).run();
    out.assert_success();
    out.stdout_trimmed().to_string()
}

fn interfaces(e: &Engine, container: &str) -> String {
    let out = e.burrow(["exec", container, "ls", "/sys/class/net"]).run();
    out.assert_success();
    out.stdout_lines().join(" ")
}

#[test]
fn netmulti_a_container_on_two_networks_reaches_members_of_each_by_name() {
    let e = Engine::new("netmulti-two");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let b = internal_network(&e, "netb");
    let (wa, wb) = (unique_name("wa"), unique_name("wb"));
    let host_a = web_server(&e, &wa, &a);
    let host_b = web_server(&e, &wb, &b);

    let both = unique_name("both");
    e.burrow([
        "run",
        "-d",
        "--name",
        &both,
        "--network",
        &a,
        "--network",
        &b,
    ])
    .args(["busybox", "sleep", "300"])
    .run()
    .assert_success();
    assert_eq!(interfaces(&e, &both), "eth0 eth1 lo");
    assert_eq!(fetch_from(&e, &both, &wa), host_a);
    assert_eq!(fetch_from(&e, &both, &wb), host_b);
    // Internal networks: no default route from either.
    let routes = e.burrow(["exec", &both, "route", "-n"]).run();
    assert!(!routes.stdout.contains("\n0.0.0.0"), "{routes}");
    // /etc/hosts names the container at both addresses.
    let json = inspect(&e, &both);
    assert_eq!(network_names(&json), {
        let mut v = vec![a.clone(), b.clone()];
        v.sort();
        v
    });
    let hosts = e.burrow(["exec", &both, "cat", "/etc/hosts"]).run();
    for net in [&a, &b] {
        let ip = json["NetworkSettings"]["Networks"][net]["IPAddress"]
            .as_str()
            .unwrap();
        assert!(ip.starts_with("10.89."), "{json}");
        assert!(hosts.stdout.contains(ip), "{ip} in {hosts}");
    }
    // Each network lists it.
    for net in [&a, &b] {
        let out = e.burrow(["network", "inspect", net]).run();
        let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert!(
            listed[0]["Containers"]
                .as_object()
                .unwrap()
                .values()
                .any(|c| c["Name"] == both.as_str()),
            "{out}"
        );
    }

    // Isolation stays: a member of a alone reaches nothing of b.
    assert_eq!(fetch_from(&e, &wa, &wb), "unreachable");
    let ip_b = inspect(&e, &wb)["NetworkSettings"]["Networks"][&b]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fetch_from(&e, &wa, &ip_b), "unreachable");

    e.burrow(["rm", "-f", &wa, &wb, &both])
        .run()
        .assert_success();
    e.burrow(["network", "rm", &a, &b]).run().assert_success();
}

#[test]
fn netmulti_connect_and_disconnect_a_running_container() {
    let e = Engine::new("netmulti-live");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let b = internal_network(&e, "netb");
    let wb = unique_name("wb");
    let host_b = web_server(&e, &wb, &b);
    let c = unique_name("client");
    e.burrow(["run", "-d", "--name", &c, "--network", &a])
        .args(["busybox", "sleep", "300"])
        .run()
        .assert_success();
    assert_eq!(fetch_from(&e, &c, &wb), "unreachable");

    let connect = e
        .burrow(["network", "connect", "--alias", "late", &b, &c])
        .run();
    connect.assert_success();
    assert_eq!(interfaces(&e, &c), "eth0 eth1 lo");
    assert_eq!(fetch_from(&e, &c, &wb), host_b);
    // The others on b find it by name and alias.
    let script = "nslookup late >/dev/null 2>&1 && echo found";
    let seen = e.burrow(["exec", &wb, "sh", "-c", script]).run();
    assert_eq!(seen.stdout_trimmed(), "found", "{seen}");
    let json = inspect(&e, &c);
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(network_names(&json), expected);
    assert_eq!(
        json["NetworkSettings"]["Networks"][&b]["Aliases"][0],
        "late"
    );

    e.burrow(["network", "disconnect", &b, &c])
        .run()
        .assert_success();
    assert_eq!(interfaces(&e, &c), "eth0 lo");
    assert_eq!(fetch_from(&e, &c, &wb), "unreachable");
    assert_eq!(network_names(&inspect(&e, &c)), [a.as_str()]);
    let net = e.burrow(["network", "inspect", &b]).run();
    assert!(!net.stdout.contains(&format!("\"{c}\"")), "{net}");

    e.burrow(["rm", "-f", &wb, &c]).run().assert_success();
    e.burrow(["network", "rm", &a, &b]).run().assert_success();
}

#[test]
fn netmulti_connect_and_disconnect_a_stopped_container_take_effect_at_start() {
    let e = Engine::new("netmulti-stopped");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let b = internal_network(&e, "netb");
    let wb = unique_name("wb");
    let host_b = web_server(&e, &wb, &b);
    let c = unique_name("client");
    e.burrow(["create", "--name", &c, "--network", &a])
        .args(["busybox", "sleep", "300"])
        .run()
        .assert_success();
    // An address of b's own choosing: --ip, checked against b's subnet.
    let net = e.burrow(["network", "inspect", &b]).run();
    let net: serde_json::Value = serde_json::from_str(&net.stdout).unwrap();
    let subnet = net[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    let wanted = subnet.replace(".0/24", ".50");
    e.burrow(["network", "connect", "--ip", &wanted, &b, &c])
        .run()
        .assert_success();
    let created = inspect(&e, &c);
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(network_names(&created), expected);
    assert_eq!(created["NetworkSettings"]["Networks"][&b]["IPAddress"], "");

    e.burrow(["start", &c]).run().assert_success();
    assert_eq!(interfaces(&e, &c), "eth0 eth1 lo");
    assert_eq!(fetch_from(&e, &c, &wb), host_b);
    let running = inspect(&e, &c);
    assert_eq!(
        running["NetworkSettings"]["Networks"][&b]["IPAddress"],
        wanted.as_str()
    );

    e.burrow(["stop", "-t", "1", &c]).run().assert_success();
    e.burrow(["network", "disconnect", &a, &c])
        .run()
        .assert_success();
    e.burrow(["start", &c]).run().assert_success();
    // b is its only network now: eth0.
    assert_eq!(interfaces(&e, &c), "eth0 lo");
    assert_eq!(network_names(&inspect(&e, &c)), [b.as_str()]);
    assert_eq!(fetch_from(&e, &c, &wb), host_b);

    e.burrow(["rm", "-f", &wb, &c]).run().assert_success();
    e.burrow(["network", "rm", &a, &b]).run().assert_success();
}

#[test]
fn netmulti_errors_are_one_line_and_fail() {
    let e = Engine::new("netmulti-errors");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let b = internal_network(&e, "netb");
    let c = unique_name("client");
    e.burrow(["create", "--name", &c, "--network", &a])
        .args(["busybox", "true"])
        .run()
        .assert_success();
    let failing = |args: &[&str], code: i32, says: &str| {
        let out = e.burrow(args).run();
        out.assert_code(code);
        assert!(out.stderr.contains(says), "{says:?} in {out}");
        assert_eq!(out.stderr.trim_end().lines().count(), 1, "one line: {out}");
    };
    failing(
        &["network", "connect", "nowhere", &c],
        1,
        "network nowhere not found",
    );
    failing(&["network", "connect", &b, "nobody"], 1, "nobody");
    failing(
        &["network", "connect", &a, &c],
        1,
        &format!("endpoint with name {c} already exists in network {a}"),
    );
    failing(
        &["network", "disconnect", &b, &c],
        1,
        &format!("container {c} is not connected to network {b}"),
    );
    failing(
        &["network", "connect", "--ip", "10.200.0.5", &b, &c],
        1,
        "invalid address 10.200.0.5",
    );
    for mode in ["host", "none"] {
        failing(
            &[
                "run",
                "--rm",
                "--network",
                mode,
                "--network",
                &a,
                "busybox",
                "true",
            ],
            125,
            "conflicting options",
        );
    }
    failing(
        &[
            "run",
            "--rm",
            "--network",
            &a,
            "--network",
            &a,
            "busybox",
            "true",
        ],
        125,
        "given twice",
    );
    e.burrow(["rm", &c]).run().assert_success();
    e.burrow(["network", "rm", &a, &b]).run().assert_success();
}

#[test]
fn netmulti_the_default_network_refuses_burrows_own_subnets() {
    let e = Engine::new("netmulti-refuse");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let wa = unique_name("wa");
    web_server(&e, &wa, &a);
    let ip = inspect(&e, &wa)["NetworkSettings"]["Networks"][&a]["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    // Refused inside the stack (an RST), not a connect attempt from the host.
    // (No `-T`: this busybox wget crashes with it.)
    let script = format!("wget -qO- http://{ip}/hostname 2>&1; true");
    let out = e
        .burrow(["run", "--rm", "busybox", "sh", "-c", &script])
        .run();
    out.assert_success();
    assert!(out.stdout.contains("Connection refused"), "{out}");
    e.burrow(["rm", "-f", &wa]).run().assert_success();
    e.burrow(["network", "rm", &a]).run().assert_success();
}

#[test]
fn netmulti_the_default_route_goes_through_the_first_network_that_is_not_internal() {
    let e = Engine::new("netmulti-route");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let wa = unique_name("wa");
    let host_a = web_server(&e, &wa, &a);
    for (first, second, outside) in [
        ("bridge", a.as_str(), "eth0"),
        (a.as_str(), "bridge", "eth1"),
    ] {
        let script = format!(
            "route -n | awk '$1 == \"0.0.0.0\" {{ print $2, $8 }}'; wget -qO- http://{wa}/hostname"
        );
        let out = e
            .burrow(["run", "--rm", "--network", first, "--network", second])
            .args(["busybox", "sh", "-c", &script])
            .run();
        out.assert_success();
        assert_eq!(
            out.stdout_lines(),
            [format!("10.0.2.2 {outside}"), host_a.clone()],
            "{out}"
        );
    }
    e.burrow(["rm", "-f", &wa]).run().assert_success();
    e.burrow(["network", "rm", &a]).run().assert_success();
}

/// The first address of `network`'s subnet plus `host` (`10.89.3.0/24`, 50 →
/// `10.89.3.50`), from `network inspect`.
fn address_in(e: &Engine, network: &str, host: u8) -> String {
    let out = e.burrow(["network", "inspect", network]).run();
    out.assert_success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let subnet = json[0]["IPAM"]["Config"][0]["Subnet"].as_str().unwrap();
    let base = subnet.split('/').next().unwrap();
    let mut octets: Vec<&str> = base.split('.').collect();
    let last = host.to_string();
    octets[3] = &last;
    octets.join(".")
}

#[test]
fn netmulti_run_ip_gives_the_container_that_address_on_its_first_network() {
    let e = Engine::new("netmulti-ip");
    e.sandbox.import_busybox("busybox");
    let a = internal_network(&e, "neta");
    let wanted = address_in(&e, &a, 77);
    let server = unique_name("fixed");
    e.burrow([
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &a,
        "--ip",
        &wanted,
    ])
    .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
    .run()
    .assert_success();

    let own = e
        .burrow(["exec", &server, "ip", "-4", "-o", "addr", "show", "eth0"])
        .run();
    own.assert_success();
    assert!(own.stdout.contains(&format!("inet {wanted}/")), "{own}");
    let json = inspect(&e, &server);
    assert_eq!(
        json["NetworkSettings"]["Networks"][&a]["IPAddress"],
        serde_json::json!(wanted),
        "{json}"
    );
    let script = format!("nslookup {server} 2>&1 | tail -n +3; wget -qO- http://{wanted}/hostname");
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
    assert!(client.stdout.contains(&wanted), "{client}");
    let hostname = e.burrow(["exec", &server, "hostname"]).run();
    assert!(
        client.stdout.contains(hostname.stdout_trimmed()),
        "{client}"
    );

    // Taken: the second container does not start, the first keeps its address.
    let taken = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &a,
            "--ip",
            &wanted,
            "busybox",
            "true",
        ])
        .run();
    taken.assert_failure();
    assert!(
        taken.stderr.contains(&format!(
            "address {wanted} is already in use on network {a}"
        )),
        "{taken}"
    );
    let outside = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &a,
            "--ip",
            "10.200.0.5",
            "busybox",
            "true",
        ])
        .run();
    outside.assert_one_line_error(&["invalid address 10.200.0.5", &a]);
    assert_eq!(outside.code(), Some(125), "{outside}");
    let on_bridge = e
        .burrow(["run", "--rm", "--ip", "10.0.2.50", "busybox", "true"])
        .run();
    on_bridge.assert_one_line_error(&["user defined networks only"]);
    let not_an_address = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &a,
            "--ip",
            "10.1.2",
            "busybox",
            "true",
        ])
        .run();
    not_an_address.assert_one_line_error(&["--ip"]);
    let again = e
        .burrow(["exec", &server, "ip", "-4", "-o", "addr", "show", "eth0"])
        .run();
    assert!(again.stdout.contains(&format!("inet {wanted}/")), "{again}");

    e.burrow(["rm", "-f", &server]).run().assert_success();
    e.burrow(["network", "rm", &a]).run().assert_success();
}

/// `route -n`'s default routes in `container`: "GATEWAY IFACE" lines.
fn default_routes(e: &Engine, container: &str) -> Vec<String> {
    let script = "route -n | awk '$1 == \"0.0.0.0\" { print $2, $8 }'";
    let out = e.burrow(["exec", container, "sh", "-c", script]).run();
    out.assert_success();
    out.stdout_lines().iter().map(|l| l.to_string()).collect()
}

#[test]
fn netmulti_the_default_route_moves_when_its_network_is_disconnected_live() {
    let e = Engine::new("netmulti-moveroute");
    e.sandbox.import_busybox("busybox");
    // Not internal, so it may carry the default route; nothing here sends
    // anything beyond the container's own networks.
    let outside = unique_name("netout");
    e.burrow(["network", "create", &outside])
        .run()
        .assert_success();
    let gateway = address_in(&e, &outside, 1);
    let c = unique_name("mover");
    e.burrow([
        "run",
        "-d",
        "--name",
        &c,
        "--network",
        "bridge",
        "--network",
        &outside,
    ])
    .args(["busybox", "sleep", "600"])
    .run()
    .assert_success();
    assert_eq!(default_routes(&e, &c), ["10.0.2.2 eth0"]);

    e.burrow(["network", "disconnect", "bridge", &c])
        .run()
        .assert_success();
    assert_eq!(default_routes(&e, &c), [format!("{gateway} eth1")]);

    // Back on the default network: the route stays where it is.
    e.burrow(["network", "connect", "bridge", &c])
        .run()
        .assert_success();
    assert_eq!(default_routes(&e, &c), [format!("{gateway} eth1")]);
    assert_eq!(interfaces(&e, &c), "eth0 eth1 lo");

    e.burrow(["rm", "-f", &c]).run().assert_success();
    e.burrow(["network", "rm", &outside]).run().assert_success();
}
