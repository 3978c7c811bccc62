use std::sync::mpsc;
use std::thread;

use super::*;

const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
const C: [u8; 6] = [2, 0, 0, 0, 0, 0xc];
const BROADCAST: [u8; 6] = [0xff; 6];

/// A switch on a socket in a fresh directory; the receiver gets serve's result.
fn start(idle: Duration) -> (tempfile::TempDir, PathBuf, mpsc::Receiver<bool>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("switch.sock");
    let serving = path.clone();
    let (done, result) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(serve(&serving, idle).is_ok());
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while !path.exists() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    (dir, path, result)
}

fn frame(src: [u8; 6], dst: [u8; 6], tag: u8) -> Vec<u8> {
    let mut bytes = vec![0; VNET_HDR_LEN + 14 + 4];
    bytes[VNET_HDR_LEN..VNET_HDR_LEN + 6].copy_from_slice(&dst);
    bytes[VNET_HDR_LEN + 6..VNET_HDR_LEN + 12].copy_from_slice(&src);
    bytes[VNET_HDR_LEN + 12..VNET_HDR_LEN + 14].copy_from_slice(&[0x08, 0x00]);
    bytes[VNET_HDR_LEN + 14] = tag;
    bytes
}

fn recv_within(port: &SwitchPort, wait: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + wait;
    let mut buf = vec![0; MAX_FRAME];
    loop {
        match port.recv(&mut buf) {
            Ok(Received::Frame(n)) => return Some(buf[..n].to_vec()),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("recv: {e}"),
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

const SOON: Duration = Duration::from_secs(2);
const NOT: Duration = Duration::from_millis(200);

#[test]
fn unknown_destinations_are_flooded_and_learned_ones_get_unicast() {
    let (_dir, path, _) = start(Duration::from_secs(30));
    let ports: Vec<SwitchPort> = (0..3)
        .map(|_| SwitchPort::connect(&path).expect("connect"))
        .collect();
    ports[0].send(&frame(A, B, 1)).expect("send");
    assert_eq!(recv_within(&ports[1], SOON), Some(frame(A, B, 1)));
    assert_eq!(recv_within(&ports[2], SOON), Some(frame(A, B, 1)));
    assert_eq!(recv_within(&ports[0], NOT), None, "no echo to the sender");
    // B answers A: A was learned on port 0, so only port 0 gets it.
    ports[1].send(&frame(B, A, 2)).expect("send");
    assert_eq!(recv_within(&ports[0], SOON), Some(frame(B, A, 2)));
    assert_eq!(recv_within(&ports[2], NOT), None);
    // Now B is known too.
    ports[0].send(&frame(A, B, 3)).expect("send");
    assert_eq!(recv_within(&ports[1], SOON), Some(frame(A, B, 3)));
    assert_eq!(recv_within(&ports[2], NOT), None);
    // Broadcast reaches everyone else.
    ports[2].send(&frame(C, BROADCAST, 4)).expect("send");
    assert_eq!(recv_within(&ports[0], SOON), Some(frame(C, BROADCAST, 4)));
    assert_eq!(recv_within(&ports[1], SOON), Some(frame(C, BROADCAST, 4)));
}

#[test]
fn large_frames_pass_whole() {
    let (_dir, path, _) = start(Duration::from_secs(30));
    let a = SwitchPort::connect(&path).expect("connect");
    let b = SwitchPort::connect(&path).expect("connect");
    let mut big = frame(A, BROADCAST, 9);
    big.resize(VNET_HDR_LEN + 14 + 65520, 0x5a);
    a.send(&big).expect("send");
    assert_eq!(recv_within(&b, SOON), Some(big));
}

#[test]
fn a_lost_port_is_dropped_and_a_stalled_port_never_blocks_the_others() {
    let (_dir, path, _) = start(Duration::from_secs(30));
    let a = SwitchPort::connect(&path).expect("connect");
    let b = SwitchPort::connect(&path).expect("connect");
    let stalled = SwitchPort::connect(&path).expect("connect");
    b.send(&frame(B, BROADCAST, 1)).expect("send");
    assert!(recv_within(&a, SOON).is_some());
    assert!(recv_within(&stalled, SOON).is_some());
    drop(b);
    // B's address was forgotten with its port: frames to it are flooded again.
    a.send(&frame(A, B, 2)).expect("send");
    assert_eq!(recv_within(&stalled, SOON), Some(frame(A, B, 2)));
    // `stalled` never reads again: far more than its queue holds is flooded at it,
    // while a new member still gets everything sent to it.
    let c = SwitchPort::connect(&path).expect("connect");
    c.send(&frame(C, BROADCAST, 3)).expect("send");
    assert!(recv_within(&a, SOON).is_some());
    let mut big = frame(A, BROADCAST, 4);
    big.resize(60_000, 0);
    let mut delivered = 0;
    for _ in 0..400 {
        loop {
            match a.send(&big) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("send: {e}"),
            }
        }
        while recv_within(&c, Duration::ZERO).is_some() {
            delivered += 1;
        }
    }
    while recv_within(&c, NOT).is_some() {
        delivered += 1;
    }
    assert!(delivered >= 300, "only {delivered} of 400 frames reached c");
}

#[test]
fn the_switch_exits_when_idle_and_removes_its_socket() {
    let (_dir, path, done) = start(Duration::from_millis(300));
    let port = SwitchPort::connect(&path).expect("connect");
    assert!(done.recv_timeout(Duration::from_millis(800)).is_err());
    drop(port);
    assert_eq!(done.recv_timeout(Duration::from_secs(5)), Ok(true));
    assert!(!path.exists());

    // Never joined: exits too.
    let (_dir, path, done) = start(Duration::from_millis(100));
    assert_eq!(done.recv_timeout(Duration::from_secs(5)), Ok(true));
    assert!(!path.exists());
}

#[test]
fn a_live_socket_is_not_taken_over_and_a_stale_one_is() {
    let (_dir, path, _) = start(Duration::from_secs(30));
    let _member = SwitchPort::connect(&path).expect("connect");
    assert!(matches!(
        serve(&path, Duration::from_millis(10)),
        Err(SwitchError::InUse(_))
    ));
    let dir = tempfile::tempdir().expect("temp dir");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(serve(&stale, Duration::from_millis(10)).is_ok());
}
