//! Docker's default network on supervised containers: each container has its
//! own network namespace with `eth0` served by burrow's userspace stack in the
//! supervisor, `-p` publishes its ports on the host, and `/etc/hosts`,
//! `/etc/hostname` and `/etc/resolv.conf` are the container's own.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use burrow_tests::engine::Engine;
use burrow_tests::free_tcp_port;

/// GET / over HTTP/1.0 to `host` (an address of the host's loopback).
fn http_get_from(host: &str, port: u16) -> Option<String> {
    let mut stream = TcpStream::connect((host, port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// The first `200 OK` response from `host:port`, asked again until the
/// container's server answers (10 s at most).
fn wait_for_page(host: &str, port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match http_get_from(host, port) {
            Some(r) if r.contains("200 OK") => return r,
            _ if Instant::now() > deadline => panic!("no answer on {host} port {port}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn web_root(e: &Engine, content: &str) -> std::path::PathBuf {
    let dir = e.sandbox.make_dir("www");
    std::fs::write(dir.join("index.html"), content).unwrap();
    std::fs::set_permissions(
        dir.join("index.html"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    dir
}

#[test]
fn a_published_port_reaches_the_containers_web_server() {
    let e = Engine::new("net-publish");
    let www = web_root(&e, "hello from the container\n");
    let port = free_tcp_port();
    let mapping = format!("127.0.0.1:{port}:80");
    let volume = format!("{}:/www:ro", www.display());
    let name = burrow_tests::unique_name("web");
    e.run(
        &["-d", "--name", &name, "-p", &mapping, "-v", &volume],
        &["httpd", "-f", "-p", "80", "-h", "/www"],
    )
    .run()
    .assert_success();
    let response = wait_for_page("127.0.0.1", port);
    assert!(
        response.ends_with("hello from the container\n"),
        "{response}"
    );

    let port_out = e.burrow(["port", &name]).run();
    port_out.assert_success();
    assert_eq!(
        port_out.stdout_trimmed(),
        format!("80/tcp -> 127.0.0.1:{port}"),
        "{port_out}"
    );
    let ps = e.burrow(["ps", "--format", "{{.Ports}}"]).run();
    assert_eq!(
        ps.stdout_trimmed(),
        format!("127.0.0.1:{port}->80/tcp"),
        "{ps}"
    );

    e.burrow(["rm", "-f", &name]).run().assert_success();
    // The supervisor is gone, and so is its listener.
    e.wait_for("the port to be released", || {
        TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
}

#[test]
fn a_taken_port_fails_the_run_with_125_and_leaves_nothing() {
    let e = Engine::new("net-clash");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mapping = format!("127.0.0.1:{port}:80");
    let out = e.run(&["-d", "-p", &mapping], &["sleep", "100"]).run();
    out.assert_code(125);
    assert!(out.stderr.contains("already in use"), "{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {out}");
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "no container is left: {ps}");

    let bad = e.run(&["-p", "80:http"], &["true"]).run();
    bad.assert_code(125);
    assert!(bad.stderr.contains("invalid port mapping"), "{bad}");
    let unknown = e.run(&["--network", "no-such-net"], &["true"]).run();
    unknown.assert_code(125);
    assert!(unknown.stderr.contains("not found"), "{unknown}");
    let ps = e.burrow(["ps", "-a", "-q"]).run();
    assert_eq!(ps.stdout_trimmed(), "", "no container is left: {ps}");
}

#[test]
fn the_container_has_its_own_address_hosts_and_resolver() {
    let e = Engine::new("net-files");
    let out = e
        .run(
            &[
                "--rm",
                "--hostname",
                "web1",
                "--add-host",
                "db:10.1.2.3",
                "--dns",
                "10.9.9.9",
            ],
            &[
                "sh",
                "-c",
                "ip -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf; hostname",
            ],
        )
        .run();
    out.assert_success();
    assert!(out.stdout.contains("inet 10.0.2.100/24"), "{out}");
    assert!(out.stdout.contains("default via 10.0.2.2"), "{out}");
    assert!(out.stdout.contains("10.1.2.3\tdb\n"), "{out}");
    assert!(out.stdout.contains("10.0.2.100\tweb1\n"), "{out}");
    assert!(out.stdout.contains("nameserver 10.9.9.9\n"), "{out}");
    assert!(!out.stdout.contains("nameserver 10.0.2.3"), "{out}");
    assert_eq!(out.stdout_lines().last().copied(), Some("web1"), "{out}");

    let default = e.run(&["--rm"], &["cat", "/etc/resolv.conf"]).run();
    default.assert_success();
    assert!(
        default.stdout.contains("nameserver 10.0.2.3\n"),
        "{default}"
    );
}

#[test]
fn network_none_has_only_loopback_and_host_shares_the_hosts() {
    let e = Engine::new("net-modes");
    let none = e
        .run(&["--rm", "--network", "none"], &["ls", "/sys/class/net"])
        .run();
    none.assert_success();
    assert_eq!(none.stdout_lines(), ["lo"], "{none}");

    let host_links = std::fs::read_dir("/sys/class/net").unwrap().count();
    let host = e
        .run(&["--rm", "--network", "host"], &["ls", "/sys/class/net"])
        .run();
    host.assert_success();
    assert_eq!(host.stdout_lines().len(), host_links, "{host}");
}

#[test]
fn publish_all_maps_the_images_exposed_ports_to_free_host_ports() {
    let e = Engine::new("net-publish-all");
    let tar = e.sandbox.busybox_rootfs_tar();
    e.burrow(["import", "-c", "EXPOSE 80"])
        .arg(&tar)
        .arg("exposing")
        .run()
        .assert_success();
    let www = web_root(&e, "published by -P\n");
    let volume = format!("{}:/www:ro", www.display());
    let name = burrow_tests::unique_name("allports");
    e.burrow([
        "run", "-d", "-P", "--name", &name, "-v", &volume, "exposing",
    ])
    .args(["httpd", "-f", "-p", "80", "-h", "/www"])
    .run()
    .assert_success();
    let port = e.burrow(["port", &name, "80"]).run();
    port.assert_success();
    let host_port: u16 = port
        .stdout_trimmed()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a host port: {port}"));
    assert_ne!(host_port, 0);
    let response = wait_for_page("127.0.0.1", host_port);
    assert!(response.ends_with("published by -P\n"), "{response}");
    e.burrow(["rm", "-f", &name]).run().assert_success();
}

/// Two consecutive free TCP ports on 127.0.0.1.
fn free_port_pair() -> u16 {
    for _ in 0..50 {
        let first = free_tcp_port();
        if first < u16::MAX && TcpListener::bind(("127.0.0.1", first + 1)).is_ok() {
            return first;
        }
    }
    panic!("no two consecutive free ports");
}

#[test]
fn a_port_range_and_a_random_host_port_reach_the_containers_servers() {
    let e = Engine::new("net-range");
    let name = burrow_tests::unique_name("ranged");
    let first = free_port_pair();
    let range = format!("127.0.0.1:{first}-{}:8080-8081", first + 1);
    let script =
        "for p in 8080 8081 8082; do mkdir -p /tmp/$p; echo port $p > /tmp/$p/index.html; \
                  httpd -p $p -h /tmp/$p; done; exec sleep 600";
    e.run(
        &["-d", "--name", &name, "-p", &range, "-p", "127.0.0.1::8082"],
        &["sh", "-c", script],
    )
    .run()
    .assert_success();

    let port_out = e.burrow(["port", &name]).run();
    port_out.assert_success();
    let lines = port_out.stdout_lines();
    assert_eq!(lines.len(), 3, "{port_out}");
    assert_eq!(lines[0], format!("8080/tcp -> 127.0.0.1:{first}"));
    assert_eq!(lines[1], format!("8081/tcp -> 127.0.0.1:{}", first + 1));
    let random: u16 = lines[2]
        .strip_prefix("8082/tcp -> 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a random port for 8082: {port_out}"));
    for (host_port, container_port) in [(first, 8080), (first + 1, 8081), (random, 8082)] {
        let response = wait_for_page("127.0.0.1", host_port);
        assert!(
            response.ends_with(&format!("port {container_port}\n")),
            "{host_port} → {container_port}: {response}"
        );
    }
    e.burrow(["rm", "-f", &name]).run().assert_success();
}

#[test]
fn a_port_published_on_ipv6_loopback_reaches_the_container() {
    let e = Engine::new("net-publish6");
    let name = burrow_tests::unique_name("web6");
    e.run(
        &["-d", "--name", &name, "-p", "[::1]::80"],
        &[
            "sh",
            "-c",
            "echo over ipv6 > /tmp/index.html; exec httpd -f -p 80 -h /tmp",
        ],
    )
    .run()
    .assert_success();
    let port_out = e.burrow(["port", &name, "80"]).run();
    port_out.assert_success();
    let port: u16 = port_out
        .stdout_trimmed()
        .strip_prefix("[::1]:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a random port on [::1]: {port_out}"));
    let response = wait_for_page("::1", port);
    assert!(response.ends_with("over ipv6\n"), "{response}");
    e.burrow(["rm", "-f", &name]).run().assert_success();
}
