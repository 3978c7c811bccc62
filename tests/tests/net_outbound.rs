//! Traffic the container starts: TCP and UDP to the host's loopback (only with the
//! opt-in), DNS through the stack, ping. Every peer is a server this test runs on
//! 127.0.0.1; no other address is ever contacted.

mod net_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burrow_tests::Sandbox;
use net_support::NetOptions;

const IDLE: &str = "exec sleep 600";

/// A TCP server on 127.0.0.1 that reads until EOF and answers `got:<what it read>`
/// (so the answer needs the container's half-close to have arrived).
fn half_close_server() -> (SocketAddr, JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(true).ok()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut got = String::new();
        stream.read_to_string(&mut got).ok()?;
        write!(stream, "got:{}", got.trim()).ok()?;
        Some(got)
    });
    (addr, handle)
}

/// A UDP server on 127.0.0.1 running `answer` on each datagram until dropped.
struct UdpServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl UdpServer {
    fn start(answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> UdpServer {
        UdpServer::start_on("127.0.0.1:0", answer)
    }

    /// A server on `bind` (an address with port 0).
    fn start_on(
        bind: &str,
        answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static,
    ) -> UdpServer {
        let socket = UdpSocket::bind(bind).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let addr = socket.local_addr().expect("address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let deadline = Instant::now() + Duration::from_secs(120);
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if let Some(reply) = answer(&buf[..n]) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            }
        });
        UdpServer {
            addr,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A resolver that answers every A query with `address` (the answer is only data:
/// nothing is ever sent to it).
fn fake_resolver(address: [u8; 4]) -> UdpServer {
    fake_resolver_on("127.0.0.1:0", address)
}

/// A resolver on `bind` answering every query with `address`.
fn fake_resolver_on(bind: &str, address: [u8; 4]) -> UdpServer {
    UdpServer::start_on(bind, move |query| {
        if query.len() < 12 {
            return None;
        }
        let mut reply = query.to_vec();
        reply[2] = 0x81; // QR, RD
        reply[3] = 0x80; // RA
        reply[6..8].copy_from_slice(&1u16.to_be_bytes());
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&address);
        Some(reply)
    })
}

#[test]
fn the_host_loopback_is_unreachable_by_default() {
    let sandbox = Sandbox::new("net-no-loopback");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("address").port();
    let container = net_support::start(&sandbox, IDLE, &NetOptions::default());
    let started = Instant::now();
    let run = container.exec(&format!("nc -w 3 10.0.2.2 {port} </dev/null; echo rc=$?"));
    assert!(run.stdout.contains("rc=1"), "{run}");
    assert!(
        run.stderr.contains("refused"),
        "a refusal, not a timeout: {run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        listener.accept().is_err(),
        "a connection reached the host's loopback"
    );
}

#[test]
fn the_host_loopback_is_reachable_with_the_opt_in_and_half_close_works() {
    let sandbox = Sandbox::new("net-loopback");
    let (addr, server) = half_close_server();
    let options = NetOptions {
        host_loopback: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec(&format!("echo hello | nc -w 5 10.0.2.2 {}", addr.port()));
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "got:hello", "{run}");
    assert_eq!(
        server.join().expect("server thread").as_deref(),
        Some("hello\n")
    );
}

#[test]
fn a_refused_host_connection_is_refused_in_the_container() {
    let sandbox = Sandbox::new("net-refused");
    let closed_port = burrow_tests::free_tcp_port();
    let options = NetOptions {
        host_loopback: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let started = Instant::now();
    let run = container.exec(&format!(
        "nc -w 3 10.0.2.2 {closed_port} </dev/null; echo rc=$?"
    ));
    assert!(run.stdout.contains("rc=1"), "{run}");
    assert!(run.stderr.contains("refused"), "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn udp_to_the_host_loopback_gets_its_echo() {
    let sandbox = Sandbox::new("net-udp-out");
    let echo = UdpServer::start(|data| Some([b"echo:", data].concat()));
    let options = NetOptions {
        host_loopback: true,
        with_probe: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec(&format!(
        "net-probe udp-ask 10.0.2.2:{} marco",
        echo.addr.port()
    ));
    run.assert_success();
    assert_eq!(
        run.stdout_trimmed(),
        format!("10.0.2.2:{} echo:marco", echo.addr.port()),
        "the reply comes from the address the container sent to: {run}"
    );
}

#[test]
fn udp_to_the_host_loopback_is_refused_by_default() {
    let sandbox = Sandbox::new("net-udp-refused");
    let echo = UdpServer::start(|data| Some(data.to_vec()));
    let options = NetOptions {
        with_probe: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec(&format!(
        "net-probe udp-ask 10.0.2.2:{} marco",
        echo.addr.port()
    ));
    assert!(run.stdout.contains("no reply"), "{run}");
}

#[test]
fn dns_queries_are_forwarded_to_the_configured_resolver() {
    let sandbox = Sandbox::new("net-dns");
    let resolver = fake_resolver([192, 0, 2, 55]);
    let options = NetOptions {
        dns_upstreams: vec![resolver.addr],
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec("nslookup -type=a probe.test 10.0.2.3");
    run.assert_success();
    assert!(run.stdout.contains("192.0.2.55"), "{run}");
}

#[test]
fn dns_queries_reach_an_ipv6_loopback_resolver() {
    let sandbox = Sandbox::new("net-dns6");
    // An IPv4 resolver that never answers, then one on ::1 (as a host with
    // only `nameserver ::1` has): the query moves on and is answered.
    let silent = UdpServer::start(|_| None);
    let resolver = fake_resolver_on("[::1]:0", [192, 0, 2, 56]);
    let options = NetOptions {
        dns_upstreams: vec![silent.addr, resolver.addr],
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec("nslookup -type=a probe6.test 10.0.2.3");
    run.assert_success();
    assert!(run.stdout.contains("192.0.2.56"), "{run}");
}

#[test]
fn the_stack_answers_host_containers_internal_itself() {
    let sandbox = Sandbox::new("net-dns-local");
    // A resolver that would give a wrong answer: the stack must not ask it.
    let resolver = fake_resolver([192, 0, 2, 66]);
    let options = NetOptions {
        host_loopback: true,
        dns_upstreams: vec![resolver.addr],
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec("nslookup -type=a host.containers.internal 10.0.2.3");
    run.assert_success();
    assert!(run.stdout.contains("10.0.2.2"), "{run}");
    assert!(!run.stdout.contains("192.0.2.66"), "{run}");
}

#[test]
fn the_gateway_answers_ping_and_refused_destinations_are_told_so() {
    let sandbox = Sandbox::new("net-ping");
    // With ICMP forwarding off nothing is ever sent to another address, so the
    // documentation address 198.51.100.7 is safe to ping: the gateway refuses it.
    let options = NetOptions {
        no_icmp_forward: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, IDLE, &options);
    let run = container.exec("ping -c 2 -W 2 10.0.2.2");
    run.assert_success();
    assert!(run.stdout.contains("2 packets received"), "{run}");
    // busybox ping does not print ICMP errors: the container's kernel counts them.
    let run = container.exec("ping -c 1 -W 2 198.51.100.7 >/dev/null; grep ^Icmp: /proc/net/snmp");
    assert_eq!(
        icmp_counter(&run.stdout, "InDestUnreachs"),
        Some(1),
        "{run}"
    );
}

/// A counter of the `Icmp:` lines of /proc/net/snmp.
fn icmp_counter(snmp: &str, name: &str) -> Option<u64> {
    let lines: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Icmp:")).collect();
    let column = lines.first()?.split_whitespace().position(|w| w == name)?;
    lines.get(1)?.split_whitespace().nth(column)?.parse().ok()
}
