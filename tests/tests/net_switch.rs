//! User-defined networks at the library level: a `burrow network-switch` process per
//! network and containers whose `net-helper` joins it with their own address on
//! 10.89.1.0/24 (gateway and DNS 10.89.1.1). Members reach each other by IP and by
//! name; a container on another switch — same subnet, another network — reaches none
//! of them; an internal network reaches nothing outside while members still talk. No
//! address outside this machine is ever contacted (the only outside peer is a server
//! on 127.0.0.1). HTTP requests are made with `nc`: the host's static busybox `wget`
//! crashes (SIGSEGV) even against 127.0.0.1.

mod net_support;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use burrow_tests::binary::burrow_binary;
use burrow_tests::{Running, Sandbox};
use net_support::{NetContainer, NetOptions};

const IDLE: &str = "exec sleep 600";
/// B serves HTTP on 8080, echoes on 9000 and sends an 8 MiB random file on 9001.
const SERVER: &str = "mkdir -p /www && echo hello-from-b > /www/index.html && \
    dd if=/dev/urandom of=/big bs=1M count=8 2>/dev/null && \
    httpd -p 8080 -h /www && (nc -ll -p 9000 -e cat &) && \
    (nc -ll -p 9001 -e cat /big &) ; exec sleep 600";

/// An HTTP/1.0 GET of `/` from `host`:8080.
fn http_get(host: &str) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} 8080")
}

struct Switch {
    socket: PathBuf,
    process: Running,
}

fn start_switch(sandbox: &Sandbox, name: &str) -> Switch {
    start_switch_idle(sandbox, name, 600)
}

fn start_switch_idle(sandbox: &Sandbox, name: &str, idle_exit: u64) -> Switch {
    let socket = sandbox.dir().join(format!("tmp/{name}.sock"));
    let process = sandbox
        .command(&burrow_binary().burrow)
        .args([
            "network-switch",
            "--idle-exit",
            &idle_exit.to_string(),
            "--socket",
        ])
        .arg(&socket)
        .timeout(Duration::from_secs(600))
        .spawn();
    sandbox.track_pid(process.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the switch did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Switch { socket, process }
}

fn member<'a>(
    sandbox: &'a Sandbox,
    switch: &Switch,
    ip: &str,
    script: &str,
    extra: impl FnOnce(&mut NetOptions),
) -> NetContainer<'a> {
    let mut options = NetOptions {
        switch: Some(switch.socket.clone()),
        ip: Some(format!("{ip}/24")),
        gateway: Some("10.89.1.1".into()),
        names: vec!["a=10.89.1.2".into(), "b=10.89.1.3".into()],
        ..NetOptions::default()
    };
    extra(&mut options);
    net_support::start(sandbox, script, &options)
}

/// Waits until B's servers answer (they start in the background).
fn wait_for_servers(a: &NetContainer) {
    let ready = net_support::retry(Duration::from_secs(20), || {
        let run = a.exec(&http_get("10.89.1.3"));
        run.stdout.contains("hello-from-b").then_some(())
    });
    if ready.is_none() {
        let diag = a.exec("ping -c 1 -W 1 10.89.1.3; ip neigh; ip addr; ip route");
        panic!("B's httpd never answered: {diag}");
    }
}

#[test]
fn members_reach_each_other_by_ip_and_by_name() {
    let sandbox = Sandbox::new("net-switch");
    let switch = start_switch(&sandbox, "net1");
    let b = member(&sandbox, &switch, "10.89.1.3", SERVER, |_| {});
    let a = member(&sandbox, &switch, "10.89.1.2", IDLE, |_| {});

    let route = a.exec("ip -4 addr show dev eth0; ip route");
    assert!(route.stdout.contains("inet 10.89.1.2/24"), "{route}");
    assert!(route.stdout.contains("default via 10.89.1.1"), "{route}");
    // The gateway is the container's own stack.
    let ping = a.exec("ping -c 1 -W 2 10.89.1.1");
    assert!(ping.stdout.contains("1 packets received"), "{ping}");

    wait_for_servers(&a);
    for target in ["10.89.1.3", "b"] {
        let ping = a.exec(&format!("ping -c 2 -W 2 {target}"));
        assert!(ping.stdout.contains("2 packets received"), "{ping}");
        let echo = a.exec(&format!("echo hello-{target} | nc -w 2 {target} 9000"));
        assert_eq!(echo.stdout_trimmed(), format!("hello-{target}"), "{echo}");
        let page = a.exec(&http_get(target));
        assert!(page.stdout.contains("200 OK"), "{page}");
        assert!(page.stdout.contains("hello-from-b"), "{page}");
    }
    // And back, by name.
    let ping = b.exec("ping -c 1 -W 2 a");
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
    // A bulk transfer arrives intact (checksum offload passes from tap to tap).
    let sent = b.exec("sha256sum /big");
    let got = a.exec("nc -w 10 b 9001 </dev/null | sha256sum");
    let digest = |s: &str| s.split_whitespace().next().unwrap_or_default().to_string();
    assert_eq!(digest(&sent.stdout), digest(&got.stdout), "{sent}\n{got}");
    assert_eq!(digest(&got.stdout).len(), 64, "{got}");
    drop(switch.process);
}

#[test]
fn a_container_on_another_network_reaches_no_member() {
    let sandbox = Sandbox::new("net-switch-iso");
    let net1 = start_switch(&sandbox, "net1");
    let net2 = start_switch(&sandbox, "net2");
    let b = member(&sandbox, &net1, "10.89.1.3", SERVER, |_| {});
    let a = member(&sandbox, &net1, "10.89.1.2", IDLE, |_| {});
    // Same subnet, same names, another switch.
    let c = member(&sandbox, &net2, "10.89.1.4", IDLE, |_| {});
    wait_for_servers(&a);
    // C's own network works: its gateway answers.
    let ping = c.exec("ping -c 1 -W 2 10.89.1.1");
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
    for target in ["10.89.1.2", "10.89.1.3", "b"] {
        let ping = c.exec(&format!("ping -c 1 -W 1 {target}; echo rc=$?"));
        assert!(ping.stdout.contains("rc=1"), "{ping}");
    }
    let echo = c.exec("echo x | nc -w 2 10.89.1.3 9000; echo rc=$?");
    assert!(!echo.stdout.contains("x\n"), "{echo}");
    let page = c.exec(&http_get("10.89.1.3"));
    assert!(!page.stdout.contains("hello-from-b"), "{page}");
    // Nor does B reach C.
    let ping = b.exec("ping -c 1 -W 1 10.89.1.4; echo rc=$?");
    assert!(ping.stdout.contains("rc=1"), "{ping}");
}

#[test]
fn an_internal_network_reaches_nothing_outside_but_members_still_talk() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    // A resolver on 127.0.0.1 that must never be asked.
    let resolver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    resolver.set_nonblocking(true).expect("nonblocking");
    let upstream = resolver.local_addr().expect("address");

    let sandbox = Sandbox::new("net-switch-internal");
    let switch = start_switch(&sandbox, "internal");
    let internal = |options: &mut NetOptions| {
        options.internal = true;
        options.host_loopback = true;
        options.dns_upstreams = vec![upstream];
    };
    let _b = member(&sandbox, &switch, "10.89.1.3", SERVER, internal);
    let a = member(&sandbox, &switch, "10.89.1.2", IDLE, internal);
    wait_for_servers(&a);

    let started = Instant::now();
    let run = a.exec(&format!("nc -w 3 10.89.1.1 {port} </dev/null; echo rc=$?"));
    assert!(run.stdout.contains("rc=1"), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a timeout, not a refusal"
    );
    assert!(listener.accept().is_err(), "the host loopback was reached");
    let lookup = a.exec("nslookup -type=a example.com 10.89.1.1; echo rc=$?");
    assert!(!lookup.stdout.contains("rc=0"), "{lookup}");
    let mut buf = [0u8; 512];
    assert!(
        resolver.recv_from(&mut buf).is_err(),
        "a query went upstream"
    );

    let page = a.exec(&http_get("b"));
    assert!(page.stdout.contains("hello-from-b"), "{page}");
    let ping = a.exec("ping -c 1 -W 2 b");
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
}

#[test]
fn the_switch_goes_away_with_its_last_member() {
    let sandbox = Sandbox::new("net-switch-idle");
    let switch = start_switch_idle(&sandbox, "idle", 1);
    let a = member(&sandbox, &switch, "10.89.1.2", IDLE, |_| {});
    std::thread::sleep(Duration::from_millis(1500));
    let mut process = switch.process;
    assert!(
        !process.has_exited(),
        "the switch left while a member was connected"
    );
    // The member's network goes away (as with its container).
    a.helper.signal(libc::SIGTERM);
    let started = Instant::now();
    let exited = process.wait_or_kill().expect("the switch did not exit");
    exited.assert_success();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!switch.socket.exists(), "the socket file was left behind");
}
