//! Malformed frames from the container never crash or stall the stack: arbitrary bytes
//! and mutated valid frames of every kind the stack parses (Ethernet, ARP, IPv4 with
//! options and fragments, IPv6, TCP with options, UDP, DNS, ICMP, ICMPv6) go through the
//! stack's frame entry — the tap, with virtio-net headers — and afterwards the state is
//! bounded and connections still work, both a new one and one opened before.

mod harness;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use harness::{config, silent_udp, EchoServer, Harness, CONTAINER_MAC, VNET_HDR_LEN};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

const GATEWAY_MAC: [u8; 6] = [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02];

/// The test's own host-side servers, shared by every case.
fn servers() -> &'static (EchoServer, SocketAddr) {
    static SERVERS: OnceLock<(EchoServer, SocketAddr)> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let dns = silent_udp();
        let addr = dns.local_addr().expect("DNS socket address");
        std::mem::forget(dns);
        (EchoServer::start(), addr)
    })
}

fn harness() -> Harness {
    let (echo, dns) = servers();
    Harness::new(config(*dns), vec![echo.addr, *dns])
}

/// The echo server as the container reaches it: through the gateway.
fn echo_via_gateway() -> SocketAddr {
    SocketAddr::new(Ipv4Addr::new(10, 0, 2, 2).into(), servers().0.addr.port())
}

/// The kinds of valid frame a case starts from.
#[derive(Clone, Debug)]
enum Kind {
    Arp,
    Tcp4,
    Udp4,
    Dns4,
    Icmp4,
    Tcp6,
    Udp6,
    Icmp6,
    Other,
}

/// A valid frame's fields, before mutation.
#[derive(Clone, Debug)]
struct Spec {
    kind: Kind,
    /// Which destination: the gateway, the DNS address, another subnet address, a
    /// loopback or multicast address, the echo server's port or another.
    dst: u8,
    broadcast: bool,
    src_port: u16,
    dst_port: u16,
    tcp_flags: u8,
    seq: u32,
    ack: u32,
    tcp_options: Vec<u8>,
    ip_options: Vec<u8>,
    more_fragments: bool,
    fragment_offset: u16,
    hop_limit: u8,
    icmp_type: u8,
    payload: Vec<u8>,
}

/// What is done to the valid frame.
#[derive(Clone, Debug)]
struct Mutation {
    flips: Vec<(usize, u8)>,
    cut: Option<usize>,
    junk: Vec<u8>,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Arp),
        Just(Kind::Tcp4),
        Just(Kind::Udp4),
        Just(Kind::Dns4),
        Just(Kind::Icmp4),
        Just(Kind::Tcp6),
        Just(Kind::Udp6),
        Just(Kind::Icmp6),
        Just(Kind::Other),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            kind(),
            any::<u8>(),
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
        ),
        (any::<u8>(), any::<u32>(), any::<u32>()),
        (
            prop::collection::vec(any::<u8>(), 0..44),
            prop::collection::vec(any::<u8>(), 0..44),
        ),
        (any::<bool>(), 0u16..8192, any::<u8>(), any::<u8>()),
        prop::collection::vec(any::<u8>(), 0..200),
    )
        .prop_map(
            |(
                (kind, dst, broadcast, src_port, dst_port),
                (tcp_flags, seq, ack),
                (tcp_options, ip_options),
                (more_fragments, fragment_offset, hop_limit, icmp_type),
                payload,
            )| Spec {
                kind,
                dst,
                broadcast,
                src_port,
                dst_port,
                tcp_flags,
                seq,
                ack,
                tcp_options,
                ip_options,
                more_fragments,
                fragment_offset,
                hop_limit,
                icmp_type,
                payload,
            },
        )
}

fn mutation() -> impl Strategy<Value = Mutation> {
    (
        prop::collection::vec((0usize..160, any::<u8>()), 0..6),
        prop::option::weighted(0.3, 0usize..160),
        prop::collection::vec(any::<u8>(), 0..3)
            .prop_flat_map(|_| prop::collection::vec(any::<u8>(), 0..40)),
    )
        .prop_map(|(flips, cut, junk)| Mutation { flips, cut, junk })
}

/// A frame the stack might get: a mutated valid frame, or arbitrary bytes (with
/// whatever stands where the virtio-net header goes).
#[derive(Clone, Debug)]
enum Input {
    Mutated(Spec, Mutation),
    Raw(Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (spec(), mutation()).prop_map(|(s, m)| Input::Mutated(s, m)),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Input::Raw),
    ]
}

fn ipv4_destination(spec: &Spec) -> [u8; 4] {
    match spec.dst % 8 {
        0 | 1 => [10, 0, 2, 2],
        2 => [10, 0, 2, 3],
        3 => [10, 0, 2, spec.dst],
        4 => [127, 0, 0, 1],
        5 => [224, 0, 0, 251],
        6 => [255, 255, 255, 255],
        _ => [192, 0, 2, spec.dst],
    }
}

fn ipv6_destination(spec: &Spec) -> [u8; 16] {
    let mut addr = [0u8; 16];
    match spec.dst % 4 {
        0 => addr[..2].copy_from_slice(&[0xfd, 0]),
        1 => addr[..2].copy_from_slice(&[0xff, 0x02]),
        2 => addr[15] = 1,
        _ => addr[..2].copy_from_slice(&[0x20, 0x01]),
    }
    addr[15] = addr[15].max(spec.dst % 5 + 1);
    addr
}

fn port(spec: &Spec) -> u16 {
    match spec.dst % 3 {
        0 => servers().0.addr.port(),
        1 => 53,
        _ => spec.dst_port,
    }
}

/// TCP header with options padded to a multiple of four (at most 40 bytes).
fn tcp_segment(spec: &Spec) -> Vec<u8> {
    let mut options = spec.tcp_options.clone();
    options.truncate(40);
    while !options.len().is_multiple_of(4) {
        options.push(1); // NOP
    }
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&port(spec).to_be_bytes());
    tcp[4..8].copy_from_slice(&spec.seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&spec.ack.to_be_bytes());
    tcp[12] = (((20 + options.len()) / 4) as u8) << 4;
    tcp[13] = spec.tcp_flags;
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp.extend_from_slice(&options);
    tcp.extend_from_slice(&spec.payload);
    tcp
}

fn udp_datagram(spec: &Spec, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut udp = vec![0u8; 8];
    udp[0..2].copy_from_slice(&spec.src_port.to_be_bytes());
    udp[2..4].copy_from_slice(&dst_port.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    udp.extend_from_slice(payload);
    udp
}

/// A DNS query for a name made of the payload's bytes, with its flags and counts.
fn dns_query(spec: &Spec) -> Vec<u8> {
    let mut query = vec![0x12, 0x34, spec.tcp_flags, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in spec.payload.chunks(9).take(4) {
        query.push(label.len() as u8);
        query.extend(label.iter().map(|b| b'a' + b % 26));
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    query
}

fn icmp(spec: &Spec, echo_request: u8) -> Vec<u8> {
    let kind = if spec.icmp_type.is_multiple_of(2) {
        echo_request
    } else {
        spec.icmp_type
    };
    let mut icmp = vec![kind, 0, 0, 0];
    icmp.extend_from_slice(&spec.src_port.to_be_bytes());
    icmp.extend_from_slice(&spec.dst_port.to_be_bytes());
    icmp.extend_from_slice(&spec.payload);
    icmp
}

fn ethernet(spec: &Spec, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(if spec.broadcast {
        &[0xff; 6]
    } else {
        &GATEWAY_MAC
    });
    frame.extend_from_slice(CONTAINER_MAC.as_bytes());
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn ipv4(spec: &Spec, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut options = spec.ip_options.clone();
    options.truncate(40);
    while !options.len().is_multiple_of(4) {
        options.push(0);
    }
    let header_len = 20 + options.len();
    let mut ip = vec![0u8; 20];
    ip[0] = 0x40 | (header_len / 4) as u8;
    ip[2..4].copy_from_slice(&((header_len + payload.len()) as u16).to_be_bytes());
    let fragment = u16::from(spec.more_fragments) << 13 | (spec.fragment_offset % 4 * 185);
    ip[6..8].copy_from_slice(&fragment.to_be_bytes());
    ip[8] = spec.hop_limit;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&[10, 0, 2, 100]);
    ip[16..20].copy_from_slice(&ipv4_destination(spec));
    ip.extend_from_slice(&options);
    let checksum = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    ip.extend_from_slice(payload);
    ip
}

fn ipv6(spec: &Spec, next_header: u8, payload: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    ip.push(next_header);
    ip.push(spec.hop_limit);
    let mut src = [0u8; 16];
    src[..2].copy_from_slice(&[0xfd, 0]);
    src[14..].copy_from_slice(&[1, 0]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&ipv6_destination(spec));
    ip.extend_from_slice(payload);
    ip
}

fn arp(spec: &Spec) -> Vec<u8> {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1 + spec.icmp_type % 2];
    arp.extend_from_slice(CONTAINER_MAC.as_bytes());
    arp.extend_from_slice(&[10, 0, 2, 100]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&ipv4_destination(spec));
    arp
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn build(spec: &Spec) -> Vec<u8> {
    match spec.kind {
        Kind::Arp => ethernet(spec, 0x0806, &arp(spec)),
        Kind::Tcp4 => ethernet(spec, 0x0800, &ipv4(spec, 6, &tcp_segment(spec))),
        Kind::Udp4 => {
            let udp = udp_datagram(spec, port(spec), &spec.payload);
            ethernet(spec, 0x0800, &ipv4(spec, 17, &udp))
        }
        Kind::Dns4 => {
            let mut spec = spec.clone();
            spec.dst = 2; // the DNS address
            let udp = udp_datagram(&spec, 53, &dns_query(&spec));
            ethernet(&spec, 0x0800, &ipv4(&spec, 17, &udp))
        }
        Kind::Icmp4 => ethernet(spec, 0x0800, &ipv4(spec, 1, &icmp(spec, 8))),
        Kind::Tcp6 => ethernet(spec, 0x86dd, &ipv6(spec, 6, &tcp_segment(spec))),
        Kind::Udp6 => {
            let udp = udp_datagram(spec, port(spec), &spec.payload);
            ethernet(spec, 0x86dd, &ipv6(spec, 17, &udp))
        }
        Kind::Icmp6 => ethernet(spec, 0x86dd, &ipv6(spec, 58, &icmp(spec, 128))),
        Kind::Other => ethernet(spec, spec.dst_port, &spec.payload),
    }
}

fn mutate(mut frame: Vec<u8>, mutation: &Mutation) -> Vec<u8> {
    for &(at, value) in &mutation.flips {
        if let Some(byte) = frame.get_mut(at) {
            *byte = value;
        }
    }
    if let Some(cut) = mutation.cut {
        frame.truncate(cut);
    }
    frame.extend_from_slice(&mutation.junk);
    frame
}

fn feed(harness: &mut Harness, input: &Input) {
    match input {
        Input::Mutated(spec, mutation) => {
            let frame = mutate(build(spec), mutation);
            harness.inject(&frame);
        }
        Input::Raw(bytes) => harness.inject_raw(bytes),
    }
}

/// Flows bounded by the tables: TCP and UDP limits, plus the DNS server's sockets.
fn assert_bounded(harness: &Harness) {
    let limits = &harness.config.limits;
    let bound = limits.max_tcp_flows + limits.max_udp_flows + 4;
    let in_use = harness.stack.sockets_in_use();
    assert!(in_use <= bound, "{in_use} sockets in use, bound {bound}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 192,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn malformed_frames_never_crash_the_stack_and_a_connection_works_after(
        inputs in prop::collection::vec(input(), 1..24)
    ) {
        let mut harness = harness();
        for input in &inputs {
            feed(&mut harness, input);
            harness.step();
        }
        for _ in 0..4 {
            harness.step();
        }
        assert_bounded(&harness);
        let connection = harness.connect(echo_via_gateway());
        harness.echo(connection, b"still alive");
    }
}

/// One stack through thousands of bad frames: a connection opened before keeps
/// working between them, the tables stay bounded, and a new connection works at the end.
#[test]
fn an_established_connection_survives_thousands_of_malformed_frames() {
    let mut harness = harness();
    let before = harness.connect(echo_via_gateway());
    harness.echo(before, b"before");
    // FRAME_FUZZ_ROUNDS and FRAME_FUZZ_SEED (a number) make a longer or another run;
    let rounds: usize = env_number("FRAME_FUZZ_ROUNDS").unwrap_or(4000) as usize;
    let mut runner = match env_number("FRAME_FUZZ_SEED") {
        Some(seed) => {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
            TestRunner::new_with_rng(ProptestConfig::default(), rng)
        }
        None => TestRunner::deterministic(),
    };
    // FRAME_FUZZ_CHECK_EVERY=1 FRAME_FUZZ_VERBOSE=1 find the frame that broke a run.
    let check_every = env_number("FRAME_FUZZ_CHECK_EVERY").unwrap_or(500).max(1) as usize;
    let verbose = std::env::var_os("FRAME_FUZZ_VERBOSE").is_some();
    let strategy = input();
    for round in 0..rounds {
        let input = strategy
            .new_tree(&mut runner)
            .expect("generate a frame")
            .current();
        feed(&mut harness, &input);
        harness.step();
        if verbose {
            eprintln!("round {round}: {input:?}");
        }
        if round % check_every == check_every - 1 {
            assert_bounded(&harness);
            harness.echo(before, format!("round {round}").as_bytes());
        }
    }
    assert!(harness.stack.stats().frames_in >= rounds as u64 * 3 / 4);
    let after = harness.connect(echo_via_gateway());
    harness.echo(after, b"after");
    harness.echo(before, b"still here");
}

/// On a user-defined network the tap's frames are also routed to the switch and
/// peers' frames come back through it: bad frames both ways (from the container, and
/// from a peer through a real switch) leave the container's outside access working.
#[test]
fn a_switched_stack_survives_malformed_frames_from_the_container_and_from_peers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("switch.sock");
    let serving = socket.clone();
    std::thread::spawn(move || burrow_net::switch::serve(&serving, Duration::from_secs(60)));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the switch did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (echo, dns) = servers();
    let mut config = config(*dns);
    config.ipv6 = false;
    config.switch = Some(socket.clone());
    let mut harness = Harness::new(config, vec![echo.addr, *dns]);
    let peer = burrow_net::switch::SwitchPort::connect(&socket).expect("join the switch");
    let before = harness.connect(echo_via_gateway());
    let mut runner = TestRunner::deterministic();
    let strategy = input();
    for round in 0..1500 {
        let from_container = strategy.new_tree(&mut runner).expect("frame").current();
        feed(&mut harness, &from_container);
        // A peer's frame: the same kinds, addressed to the container (or broadcast).
        let from_peer = match strategy.new_tree(&mut runner).expect("frame").current() {
            Input::Mutated(spec, mutation) => {
                let mut frame = vec![0u8; VNET_HDR_LEN];
                let mut built = mutate(build(&spec), &mutation);
                if let Some(dst) = built.get_mut(..6) {
                    if !spec.broadcast {
                        dst.copy_from_slice(CONTAINER_MAC.as_bytes());
                    }
                }
                frame.extend_from_slice(&built);
                frame
            }
            Input::Raw(bytes) => bytes,
        };
        let _ = peer.send(&from_peer);
        harness.step();
        if round % 300 == 299 {
            assert_bounded(&harness);
            harness.echo(before, format!("round {round}").as_bytes());
        }
    }
    assert!(
        harness.stack.stats().switch_in > 0,
        "no frame came from the peer"
    );
    let after = harness.connect(echo_via_gateway());
    harness.echo(after, b"after");
}

/// A datagram shorter than the virtio-net header (a real tap never delivers one, a
/// fuzzer does) must not make the stack stop reading: the frames queued behind it are
/// read in the same turn, without waiting for another wake-up.
#[test]
fn a_runt_frame_does_not_hold_up_the_frames_behind_it() {
    let mut harness = harness();
    for _ in 0..4 {
        harness.step();
    }
    let before = harness.stack.stats().frames_in;
    let arp = build(&Spec {
        kind: Kind::Arp,
        dst: 0,
        broadcast: true,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        seq: 0,
        ack: 0,
        tcp_options: Vec::new(),
        ip_options: Vec::new(),
        more_fragments: false,
        fragment_offset: 0,
        hop_limit: 64,
        icmp_type: 0,
        payload: Vec::new(),
    });
    harness.inject_raw(&[0u8; 3]);
    assert!(harness.inject(&arp));
    for _ in 0..10 {
        harness
            .stack
            .run_once(Duration::from_millis(10))
            .expect("the stack runs");
    }
    assert_eq!(harness.stack.stats().frames_in, before + 1);
}
