//! Published ports: clients on the host reach servers in the container through
//! listeners of burrow's userspace network (`net-helper -p`).

mod net_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use burrow_tests::Sandbox;
use net_support::{retry, NetOptions};

/// One HTTP GET through `addr`; None until the server answers.
fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    (!response.is_empty()).then_some(response)
}

#[test]
fn busybox_httpd_in_the_container_answers_through_a_published_port() {
    httpd_answers(false);
}

#[test]
fn busybox_httpd_answers_through_the_loopback_splice_too() {
    httpd_answers(true);
}

fn httpd_answers(splice: bool) {
    let sandbox = Sandbox::new("net-httpd");
    let options = NetOptions {
        publish: vec!["127.0.0.1::8080/tcp".into()],
        splice,
        ..NetOptions::default()
    };
    let container = net_support::start(
        &sandbox,
        "mkdir -p /www && echo hello-from-the-container > /www/index.html && exec httpd -f -p 8080 -h /www",
        &options,
    );
    let addr = container.host_port(8080, "tcp");
    assert!(addr.ip().is_loopback(), "published on {addr}");
    let response = retry(Duration::from_secs(10), || http_get(addr, "/index.html"))
        .unwrap_or_else(|| panic!("no HTTP answer on {addr}"));
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.contains("hello-from-the-container"), "{response}");
}

#[test]
fn loopback_clients_are_spliced_to_the_containers_loopback() {
    let answer = peer_seen_by_the_container(true);
    assert!(answer.contains("127.0.0.1:7000"), "{answer}");
}

#[test]
fn through_the_stack_loopback_clients_appear_as_the_gateway() {
    let answer = peer_seen_by_the_container(false);
    assert!(answer.contains("10.0.2.100:7000"), "{answer}");
    assert!(
        answer.contains("10.0.2.2:3"),
        "the peer should be the gateway: {answer}"
    );
}

/// What `netstat` in the container shows of a connection to a published port.
fn peer_seen_by_the_container(splice: bool) -> String {
    let sandbox = Sandbox::new("net-peer");
    let options = NetOptions {
        publish: vec!["127.0.0.1::7000".into()],
        splice,
        ..NetOptions::default()
    };
    // nc -e runs the program with the connection on stdin/stdout and NCAT-like env
    // unset; busybox nc prints nothing of the peer, so the server reports it via netstat.
    let container = net_support::start(
        &sandbox,
        "exec nc -ll -p 7000 -e sh -c 'netstat -tn | grep :7000 | grep ESTABLISHED'",
        &options,
    );
    let addr = container.host_port(7000, "tcp");
    retry(Duration::from_secs(10), || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).ok()?;
        (!text.is_empty()).then_some(text)
    })
    .unwrap_or_else(|| panic!("no answer on {addr}"))
}

#[test]
fn a_large_transfer_arrives_intact_both_ways() {
    large_transfer(false);
}

#[test]
fn a_large_transfer_through_the_loopback_splice_arrives_intact_both_ways() {
    large_transfer(true);
}

fn large_transfer(splice: bool) {
    let sandbox = Sandbox::new("net-large");
    let options = NetOptions {
        publish: vec!["127.0.0.1::9000".into(), "127.0.0.1::9001".into()],
        splice,
        ..NetOptions::default()
    };
    // 48 MiB of pseudo-random data served by nc on 9000; 9001 stores what it receives.
    let script = "dd if=/dev/urandom of=/tmp/out bs=1M count=48 2>/dev/null && \
                  touch /tmp/made && (nc -l -p 9001 > /tmp/in &) && (nc -l -p 9000 < /tmp/out &) && exec sleep 600";
    let container = net_support::start(&sandbox, script, &options);
    let made = container.rootfs_path("/tmp/made");
    retry(Duration::from_secs(30), || made.exists().then_some(()))
        .expect("the container never wrote its data");

    // Container → host.
    let addr = container.host_port(9000, "tcp");
    let received = retry(Duration::from_secs(10), || {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .ok()?;
        let mut data = Vec::new();
        stream.read_to_end(&mut data).ok()?;
        (!data.is_empty()).then_some(data)
    })
    .expect("nothing received");
    let sent = std::fs::read(container.rootfs_path("/tmp/out")).expect("read /tmp/out");
    assert_eq!(received.len(), sent.len(), "length differs");
    assert!(received == sent, "content differs");

    // Host → container.
    let addr = container.host_port(9001, "tcp");
    let payload: Vec<u8> = (0..32u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let mut stream =
        retry(Duration::from_secs(10), || TcpStream::connect(addr).ok()).expect("connect 9001");
    stream.write_all(&payload).expect("send");
    drop(stream);
    let stored = container.rootfs_path("/tmp/in");
    let arrived = retry(Duration::from_secs(30), || {
        let len = std::fs::metadata(&stored).ok()?.len();
        (len == payload.len() as u64).then_some(())
    });
    assert!(
        arrived.is_some(),
        "only {:?} bytes arrived",
        std::fs::metadata(&stored).map(|m| m.len())
    );
    let inside = container.exec("sha256sum /tmp/in");
    inside.assert_success();
    let written = container.sandbox.write_file("expected", &payload);
    let expected = net_support::sha256_of(&written);
    assert!(
        inside.stdout.starts_with(&expected),
        "checksum differs: {inside} vs {expected}"
    );
}

#[test]
fn udp_datagrams_are_echoed_through_a_published_port() {
    let sandbox = Sandbox::new("net-udp-pub");
    let options = NetOptions {
        publish: vec!["127.0.0.1::5300/udp".into()],
        with_probe: true,
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, "exec net-probe udp-echo 5300", &options);
    let addr = container.host_port(5300, "udp");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    let echoed = retry(Duration::from_secs(10), || {
        socket.send_to(b"marco", addr).ok()?;
        let (n, from) = socket.recv_from(&mut buf).ok()?;
        Some((buf[..n].to_vec(), from))
    })
    .expect("no echo");
    assert_eq!(echoed.0, b"marco");
    assert_eq!(echoed.1, addr, "the reply comes from the published port");
}

#[test]
fn a_published_port_in_use_fails_before_the_network_starts() {
    let sandbox = Sandbox::new("net-port-in-use");
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let options = NetOptions {
        publish: vec![format!("127.0.0.1:{port}:80")],
        ..NetOptions::default()
    };
    let bundle = net_support::prepare_bundle(&sandbox, "sleep 60", &options);
    let (_, pid) = net_support::run_detached(&sandbox, &bundle);
    let output = sandbox
        .command(&burrow_tests::binary::burrow_binary().burrow)
        .args(net_support::helper_args(pid, &options))
        .run();
    output.assert_code(125);
    output.assert_one_line_error(&["already in use", &format!("127.0.0.1:{port}")]);
    assert!(!output.stdout.contains("ready"), "{output}");
}

#[test]
fn a_bad_publish_spec_is_refused_clearly() {
    let sandbox = Sandbox::new("net-bad-spec");
    let output = sandbox
        .command(&burrow_tests::binary::burrow_binary().burrow)
        .args(["net-helper", "--pid", "1", "--publish", "80:70000"])
        .run();
    output.assert_code(125);
    output.assert_one_line_error(&["invalid port mapping", "80:70000"]);
}

#[test]
fn the_container_reaches_its_own_published_port_through_the_gateway() {
    let sandbox = Sandbox::new("net-hairpin");
    let options = NetOptions {
        publish: vec!["127.0.0.1::8080".into()],
        host_loopback: true,
        ..NetOptions::default()
    };
    let container = net_support::start(
        &sandbox,
        "mkdir -p /www && echo hairpin > /www/index.html && exec httpd -f -p 8080 -h /www",
        &options,
    );
    let port = container.host_port(8080, "tcp").port();
    // Out through the stack to the host's loopback, in again through the published
    // port: 20 short connections, each must answer (a TIME-WAIT clash once cost 1 s).
    let script = format!(
        "for i in $(seq 20); do echo -e 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | \
         nc -w 3 10.0.2.2 {port} | grep -c hairpin; done | grep -c 1"
    );
    let started = std::time::Instant::now();
    let run = container.exec(&script);
    run.assert_success();
    assert_eq!(run.stdout_trimmed(), "20", "{run}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Sends `payload` on a new connection through `addr`, closes the sending half and
/// returns everything the server sent back.
fn echo_once(addr: std::net::SocketAddr, payload: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    stream.write_all(payload)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut echoed = Vec::new();
    stream.read_to_end(&mut echoed)?;
    Ok(echoed)
}

/// The stack reuses the sockets of finished connections: many connections in a row and
/// at once, after a bulk one that filled their buffers, each get exactly their own
/// bytes back — nothing left over from an earlier connection, none refused.
#[test]
fn many_short_connections_each_get_their_own_bytes() {
    let sandbox = Sandbox::new("net-short");
    let options = NetOptions {
        publish: vec!["127.0.0.1::7100".into()],
        ..NetOptions::default()
    };
    let container = net_support::start(&sandbox, "exec nc -ll -p 7100 -e cat", &options);
    let addr = container.host_port(7100, "tcp");
    let first = retry(Duration::from_secs(10), || {
        echo_once(addr, b"ready").ok().filter(|e| e == b"ready")
    });
    assert!(first.is_some(), "the echo server never answered on {addr}");

    // A bulk connection first: its socket's buffers are full of other bytes when the
    // next connections reuse them.
    let bulk: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let echoed = echo_once(addr, &bulk).expect("bulk echo");
    assert!(
        echoed == bulk,
        "bulk echo differs ({} bytes back)",
        echoed.len()
    );

    let threads: Vec<_> = (0..4)
        .map(|thread| {
            std::thread::spawn(move || {
                for n in 0..50 {
                    let payload = format!("thread {thread} connection {n}\n").repeat(n + 1);
                    let echoed = echo_once(addr, payload.as_bytes())
                        .unwrap_or_else(|e| panic!("connection {thread}/{n}: {e}"));
                    assert_eq!(
                        String::from_utf8_lossy(&echoed),
                        payload,
                        "connection {thread}/{n}"
                    );
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a client thread failed");
    }
}
