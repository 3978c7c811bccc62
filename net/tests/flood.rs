//! A container flooding SYNs or datagrams to many ports hits the flow tables' limits:
//! the stack's sockets, host sockets and memory stay bounded, the flood is reported in
//! one warning line per table, a connection established before keeps working during
//! the flood, and once the flood's half-open connections time out new connections
//! work again, and so do new UDP flows once the flood's have been idle a little. The flood comes from spoofed sources (other addresses of the subnet,
//! which never answer), as a flooder that ignores the stack's SYN-ACKs would.

mod harness;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use harness::{config, open_fds, rss_kib, silent_udp, syn_frame, udp_frame, EchoServer, Harness};

const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

#[test]
fn a_syn_and_udp_flood_is_bounded_and_an_established_connection_keeps_working() {
    let echo = EchoServer::start();
    let dns = silent_udp();
    // The flood's destinations: listeners and UDP sockets of the test's own (the kernel
    // completes handshakes to a listener without accept), reached through the gateway.
    let listeners: Vec<TcpListener> = (0..8)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a listener"))
        .collect();
    let udp_sockets: Vec<UdpSocket> = (0..96)
        .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket"))
        .collect();
    let mut allowed = vec![echo.addr, dns.local_addr().expect("DNS address")];
    allowed.extend(listeners.iter().map(|l| l.local_addr().expect("address")));
    allowed.extend(udp_sockets.iter().map(|s| s.local_addr().expect("address")));
    let mut config = config(allowed[1]);
    config.limits.tcp_unresponsive = Duration::from_secs(2);
    config.limits.udp_idle_when_full = Duration::from_secs(2);
    let max_tcp = config.limits.max_tcp_flows;
    let max_udp = config.limits.max_udp_flows;
    let mut harness = Harness::new(config, allowed.clone());

    let echo_port = echo.addr.port();
    let established = harness.connect(SocketAddr::new(GATEWAY.into(), echo_port));
    harness.echo(established, b"before the flood");
    let fds_before = open_fds();
    let rss_before = rss_kib();

    let mut source_port = 1024u16;
    for round in 0..40 {
        for i in 0..50 {
            source_port += 1;
            // Spoofed sources 10.0.2.101–10.0.2.120 nobody answers for.
            let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 101 + (i % 20)), source_port);
            let listener = &allowed[2 + usize::from(i) % listeners.len()];
            let dst = SocketAddrV4::new(GATEWAY, listener.port());
            assert!(harness.inject(&syn_frame(src, dst)));
            let udp =
                &allowed[2 + listeners.len() + (usize::from(source_port) % udp_sockets.len())];
            let dst = SocketAddrV4::new(GATEWAY, udp.port());
            assert!(harness.inject(&udp_frame(src, dst, b"flood")));
        }
        harness.step();
        harness.echo(
            established,
            format!("during the flood, round {round}").as_bytes(),
        );
        let in_use = harness.stack.sockets_in_use();
        assert!(
            in_use <= max_tcp + max_udp + 4,
            "{in_use} smoltcp sockets for tables of {max_tcp} + {max_udp}"
        );
        let fds = open_fds();
        assert!(
            fds <= fds_before + max_tcp + max_udp + 8,
            "{fds} fds open during the flood, {fds_before} before"
        );
    }
    let stats = harness.stack.stats().clone();
    let rss_after = rss_kib();
    eprintln!(
        "flood: {} SYNs refused for a full table, {} datagrams dropped, {} warning lines; \
         RSS {rss_before} -> {rss_after} KiB",
        stats.tcp_table_full, stats.udp_table_full, stats.limit_warnings
    );
    assert!(stats.tcp_table_full > 1000, "{stats:?}");
    assert!(stats.udp_table_full > 1000, "{stats:?}");
    assert_eq!(
        stats.limit_warnings, 2,
        "one line per table, not per packet"
    );
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );

    // The half-open connections time out (tcp_unresponsive): a new connection is
    // accepted again (refused, with an RST, until then).
    let deadline = Instant::now() + Duration::from_secs(60);
    let fresh = loop {
        if let Some(fresh) = harness.try_connect(SocketAddr::new(GATEWAY.into(), echo_port)) {
            break fresh;
        }
        assert!(Instant::now() < deadline, "the TCP table stayed full");
    };
    harness.echo(fresh, b"after the flood");
    harness.echo(established, b"still established");

    // The idle UDP flows of the full table go (udp_idle_when_full): a datagram to a new
    // destination gets a flow again and arrives.
    let receiver = &udp_sockets[0];
    let dst = SocketAddrV4::new(GATEWAY, receiver.local_addr().expect("address").port());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut port = 999;
    loop {
        let opened = harness.stack.stats().udp_opened;
        port += 1;
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 100), port);
        assert!(harness.inject(&udp_frame(src, dst, b"after the flood")));
        harness.step();
        if harness.stack.stats().udp_opened > opened {
            break;
        }
        assert!(Instant::now() < deadline, "the UDP table stayed full");
    }
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut buf = [0u8; 64];
    loop {
        let (n, _) = receiver
            .recv_from(&mut buf)
            .expect("the datagram after the flood");
        if &buf[..n] == b"after the flood" {
            break;
        }
    }
}
