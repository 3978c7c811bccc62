//! Nothing listens anywhere the user did not ask for: with containers on the
//! default network (a TCP and a UDP port published), on a user-defined
//! network (its switch running, members answering each other by name) and
//! traffic through all of it, the only sockets of the test's processes in the
//! host's network namespace that accept anything from anyone are the
//! published ports. Found the kernel's way: every socket inode the test's
//! processes hold (`/proc/PID/fd`, processes found by the sandbox marker),
//! matched against the host's `/proc/net/{tcp,tcp6,udp,udp6}`: TCP in LISTEN,
//! UDP not connected to a peer.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;

use burrow_tests::engine::Engine;
use burrow_tests::procfs::processes_with_marker;
use burrow_tests::{free_tcp_port, unique_name};

/// Socket inodes held by `pids` that live in the test's own network namespace.
fn host_socket_inodes(pids: &[i32]) -> BTreeSet<u64> {
    let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let mut inodes = BTreeSet::new();
    for pid in pids {
        let same_namespace = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .map(|m| m.ino() == ours)
            .unwrap_or(false);
        if !same_namespace {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().to_string();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// "tcp 0.0.0.0:PORT"-style lines for the sockets in `inodes` that accept
/// from anyone: TCP listeners, UDP sockets with no peer.
fn open_to_anyone(inodes: &BTreeSet<u64>) -> BTreeSet<String> {
    let mut open = BTreeSet::new();
    for table in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/self/net/{table}")).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some(state), Some(inode)) =
                (fields.get(1), fields.get(2), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let Ok(inode) = inode.parse::<u64>() else {
                continue;
            };
            if !inodes.contains(&inode) {
                continue;
            }
            let listening = match table.starts_with("tcp") {
                true => *state == "0A",
                false => remote.split(':').nth(1) == Some("0000"),
            };
            if listening {
                let port = local
                    .rsplit(':')
                    .next()
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok())
                    .unwrap_or(0);
                open.insert(format!("{} {port}", &table[..3]));
            }
        }
    }
    open
}

#[test]
fn only_published_ports_accept_connections_on_the_host() {
    let e = Engine::new("net-listening");
    e.sandbox.import_busybox("busybox");
    let (tcp_port, udp_port) = (free_tcp_port(), free_tcp_port());
    let web = unique_name("web");
    e.burrow(["run", "-d", "--name", &web])
        .args(["-p", &format!("127.0.0.1:{tcp_port}:80")])
        .args(["-p", &format!("127.0.0.1:{udp_port}:9/udp")])
        .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        .run()
        .assert_success();
    let net = unique_name("net");
    e.burrow(["network", "create", "--internal", &net])
        .run()
        .assert_success();
    let member = unique_name("member");
    e.burrow(["run", "-d", "--name", &member, "--network", &net])
        .args(["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"])
        .run()
        .assert_success();
    let client = e
        .burrow(["run", "--rm", "--network", &net, "busybox", "sh", "-c"])
        .arg(format!(
            "nslookup {member} >/dev/null && wget -qO- http://{member}/hostname >/dev/null && echo ok"
        ))
        .run();
    client.assert_success();
    assert_eq!(client.stdout_trimmed(), "ok", "{client}");
    // A connection through the published port, held open while looking.
    let mut held = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    held.write_all(b"GET /hostname HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    held.read_to_string(&mut reply).unwrap();
    assert!(
        reply.starts_with("HTTP/1.") && reply.contains(" 200 "),
        "{reply}"
    );
    let kept = std::net::TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();

    let pids = processes_with_marker(e.sandbox.token());
    assert!(!pids.is_empty(), "the test's processes are found");
    let open = open_to_anyone(&host_socket_inodes(&pids));
    let expected: BTreeSet<String> = [format!("tcp {tcp_port}"), format!("udp {udp_port}")]
        .into_iter()
        .collect();
    assert_eq!(open, expected, "sockets open to anyone on the host");

    drop(kept);
    e.burrow(["rm", "-f", &web, &member]).run().assert_success();
    e.burrow(["network", "rm", &net]).run().assert_success();
}
