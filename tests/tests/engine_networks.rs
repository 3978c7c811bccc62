//! User-defined networks: `burrow network create|ls|inspect|rm|prune`, and
//! containers on one network reaching each other by name and alias through
//! the network's switch, apart from containers on another network.

use burrow_tests::engine::Engine;
use burrow_tests::unique_name;

fn network(e: &Engine, label: &str) -> String {
    let name = unique_name(label);
    let out = e.burrow(["network", "create", &name]).run();
    out.assert_success();
    assert_eq!(out.stdout_trimmed().len(), 64, "prints the id: {out}");
    name
}

fn address_of(e: &Engine, network: &str, container: &str) -> String {
    let out = e.burrow(["network", "inspect", network]).run();
    out.assert_success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json[0]["Containers"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["Name"] == container)
        .and_then(|c| c["IPv4Address"].as_str())
        .map(|a| a.split('/').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("{container} is not on {network}: {out}"))
}

#[test]
fn containers_on_a_network_reach_each_other_by_name_and_alias_and_no_one_else() {
    let e = Engine::new("nets-talk");
    e.sandbox.import_busybox("busybox");
    let net = network(&e, "appnet");
    // The other network is internal: nothing it sends may leave its subnet,
    // so the probes below cannot reach past the host either.
    let other = unique_name("othernet");
    e.burrow(["network", "create", "--internal", &other])
        .run()
        .assert_success();
    let web = unique_name("web");
    e.burrow([
        "run",
        "-d",
        "--name",
        &web,
        "--network",
        &net,
        "--network-alias",
        "site",
    ])
    .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
    .run()
    .assert_success();
    let hostname = e.burrow(["exec", &web, "hostname"]).run();
    let hostname = hostname.stdout_trimmed().to_string();
    let script = format!(
        "wget -qO- http://{web}/hostname && wget -qO- http://site/hostname && ping -c1 -W3 {web} >/dev/null && echo pinged"
    );
    let client = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .run();
    client.assert_success();
    assert_eq!(
        client.stdout_lines(),
        [hostname.as_str(), hostname.as_str(), "pinged"],
        "{client}"
    );

    // From another network: neither the name nor the address answers.
    let ip = address_of(&e, &net, &web);
    let probe = format!(
        "nslookup {web} >/dev/null 2>&1 && echo resolved; wget -T 3 -qO- http://{ip}/hostname || echo no-route"
    );
    let outsider = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &other,
            "busybox",
            "sh",
            "-c",
            &probe,
        ])
        .run();
    assert_eq!(outsider.stdout_trimmed(), "no-route", "{outsider}");

    e.burrow(["rm", "-f", &web]).run().assert_success();
    e.burrow(["network", "rm", &net, &other])
        .run()
        .assert_success();
}

#[test]
fn network_commands_list_inspect_and_refuse_what_docker_refuses() {
    let e = Engine::new("nets-cmds");
    e.sandbox.import_busybox("busybox");
    let net = unique_name("mine");
    e.burrow([
        "network",
        "create",
        "--subnet",
        "10.123.4.0/24",
        "--label",
        "team=a",
        &net,
    ])
    .run()
    .assert_success();
    let ls = e
        .burrow(["network", "ls", "--format", "{{.Name}} {{.Driver}}"])
        .run();
    assert_eq!(
        ls.stdout_lines(),
        [
            "bridge bridge",
            "host host",
            "none null",
            &format!("{net} bridge")
        ],
        "{ls}"
    );
    let clash = e
        .burrow([
            "network",
            "create",
            "--subnet",
            "10.123.0.0/16",
            "overlapping",
        ])
        .run();
    clash.assert_code(1);
    assert!(clash.stderr.contains("overlaps"), "{clash}");
    let again = e.burrow(["network", "create", &net]).run();
    again.assert_code(1);
    assert!(again.stderr.contains("already exists"), "{again}");

    let name = unique_name("member");
    e.burrow([
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "busybox",
        "sleep",
        "100",
    ])
    .run()
    .assert_success();
    let inspect = e.burrow(["network", "inspect", &net]).run();
    let json: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(json[0]["IPAM"]["Config"][0]["Subnet"], "10.123.4.0/24");
    assert_eq!(json[0]["IPAM"]["Config"][0]["Gateway"], "10.123.4.1");
    assert_eq!(json[0]["Labels"]["team"], "a");
    assert!(address_of(&e, &net, &name).starts_with("10.123.4."));
    let inside = e.burrow(["exec", &name, "cat", "/etc/resolv.conf"]).run();
    assert!(inside.stdout.contains("nameserver 10.123.4.1"), "{inside}");

    let busy = e.burrow(["network", "rm", &net]).run();
    busy.assert_code(1);
    assert!(busy.stderr.contains("active endpoints"), "{busy}");
    let builtin = e.burrow(["network", "rm", "bridge"]).run();
    builtin.assert_code(1);
    assert!(builtin.stderr.contains("pre-defined"), "{builtin}");
    let unknown = e
        .burrow(["run", "--rm", "--network", "nowhere", "busybox", "true"])
        .run();
    unknown.assert_code(125);
    assert!(
        unknown.stderr.contains("network nowhere not found"),
        "{unknown}"
    );

    e.burrow(["rm", "-f", &name]).run().assert_success();
    let pruned = e.burrow(["network", "prune", "-f"]).run();
    pruned.assert_success();
    assert_eq!(
        pruned.stdout_lines(),
        ["Deleted Networks:", net.as_str()],
        "{pruned}"
    );
    let ls = e.burrow(["network", "ls", "-q"]).run();
    assert_eq!(ls.stdout_lines().len(), 3, "only the built-in ones: {ls}");
}

#[test]
fn a_network_mtu_option_sets_every_members_mtu_and_traffic_still_flows() {
    let e = Engine::new("net-mtu");
    e.sandbox.import_busybox("busybox");
    let net = unique_name("mtu");
    e.burrow(["network", "create", "--internal", "-o", "mtu=1400", &net])
        .run()
        .assert_success();
    let inspected = e.burrow(["network", "inspect", &net]).run();
    let json: serde_json::Value = serde_json::from_str(&inspected.stdout).unwrap();
    assert_eq!(json[0]["Options"]["mtu"], "1400", "{inspected}");

    let server = unique_name("bulk");
    let script = "mkdir /www && dd if=/dev/urandom of=/www/blob bs=1k count=300 2>/dev/null \
                  && md5sum /www/blob > /www/sum && exec httpd -f -p 80 -h /www";
    e.burrow([
        "run",
        "-d",
        "--name",
        &server,
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        script,
    ])
    .run()
    .assert_success();
    let fetch = format!(
        "cat /sys/class/net/eth0/mtu; sleep 0.5; wget -qO /tmp/blob http://{server}/blob && \
         wget -qO- http://{server}/sum | cut -d' ' -f1; md5sum /tmp/blob | cut -d' ' -f1"
    );
    let out = e
        .burrow([
            "run",
            "--rm",
            "--network",
            &net,
            "busybox",
            "sh",
            "-c",
            &fetch,
        ])
        .run();
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "1400", "{out}");
    assert_eq!(lines[1], lines[2], "300 KiB crossed intact: {out}");

    for (option, says) in [
        ("mtu=70", "invalid mtu"),
        ("color=blue", "unknown network option"),
    ] {
        e.burrow(["network", "create", "-o", option, &unique_name("bad")])
            .run()
            .assert_one_line_error(&[says]);
    }
    e.burrow(["rm", "-f", &server]).run().assert_success();
    e.burrow(["network", "rm", &net]).run().assert_success();
}
