//! IPv6 alongside IPv4: the container gets fd00::100/64 with the stack at fd00::2
//! (gateway, the host's ::1 with the opt-in) and fd00::3 (DNS). Every peer is a server
//! this test runs on the host's ::1.

mod net_support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use burrow_tests::Sandbox;
use net_support::NetOptions;

const IDLE: &str = "exec sleep 600";

fn host_has_ipv6_loopback() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

#[test]
fn the_container_has_an_ipv6_address_and_route() {
    let sandbox = Sandbox::new("net6-addr");
    let container = net_support::start(&sandbox, IDLE, &NetOptions::default());
    let run = container.exec("ip -6 addr show dev eth0; ip -6 route");
    run.assert_success();
    assert!(run.stdout.contains("inet6 fd00::100/64"), "{run}");
    assert!(run.stdout.contains("default via fd00::2 dev eth0"), "{run}");
    let ping = container.exec("ping -6 -c 1 -W 2 fd00::2");
    assert!(ping.stdout.contains("1 packets received"), "{ping}");
    // Not the stack's address: no answer (AnyIP must not answer for every address).
    let ping = container.exec("ping -6 -c 1 -W 1 2001:db8::1; echo rc=$?");
    assert!(ping.stdout.contains("rc=1"), "{ping}");
}

#[test]
fn tcp_over_ipv6_reaches_the_host_loopback_only_with_the_opt_in() {
    if !host_has_ipv6_loopback() {
        eprintln!("skipped: the host has no ::1");
        return;
    }
    let listener = TcpListener::bind("[::1]:0").expect("bind [::1]");
    let port = listener.local_addr().expect("address").port();
    listener.set_nonblocking(true).expect("nonblocking");

    let sandbox = Sandbox::new("net6-refused");
    let container = net_support::start(&sandbox, IDLE, &NetOptions::default());
    let run = container.exec(&format!("nc -w 3 fd00::2 {port} </dev/null; echo rc=$?"));
    assert!(run.stdout.contains("rc=1"), "{run}");
    assert!(listener.accept().is_err(), "a connection reached ::1");
    drop(container);

    let sandbox = Sandbox::new("net6-tcp");
    let options = NetOptions {
        host_loopback: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let server = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut stream, peer) = loop {
            match listener.accept() {
                Ok(accepted) => break accepted,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("no connection: {e}"),
            }
        };
        stream.set_nonblocking(false).expect("blocking");
        let mut got = String::new();
        stream.read_to_string(&mut got).expect("read");
        write!(stream, "v6:{}", got.trim()).expect("write");
        peer
    });
    let run = container.exec(&format!("echo hello | nc -w 5 fd00::2 {port}"));
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "v6:hello", "{run}");
    let peer = server.join().expect("server thread");
    assert!(peer.ip().is_loopback(), "{peer}");
}

#[test]
fn udp_over_ipv6_gets_its_echo() {
    if !host_has_ipv6_loopback() {
        eprintln!("skipped: the host has no ::1");
        return;
    }
    let socket = UdpSocket::bind("[::1]:0").expect("bind [::1]");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let port = socket.local_addr().expect("address").port();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&[b"echo:", &buf[..n]].concat(), from);
        }
    });
    let sandbox = Sandbox::new("net6-udp");
    let options = NetOptions {
        host_loopback: true,
        with_probe: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec(&format!("net-probe udp-ask [fd00::2]:{port} marco"));
    run.assert_success();
    assert_eq!(
        run.stdout_trimmed(),
        format!("[fd00::2]:{port} echo:marco"),
        "{run}"
    );
    echo.join().expect("echo thread");
}
