//! net-probe: a static helper put inside test containers for what busybox cannot do
//! (UDP). Built by the test harness with `rustc -C target-feature=+crt-static`.
//!
//!   net-probe udp-echo PORT          echo every datagram back to its sender, forever
//!   net-probe udp-ask ADDR MESSAGE   send MESSAGE to ADDR, print the reply (2 s timeout)

use std::net::UdpSocket;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let code = match args.get(1).map(String::as_str) {
        Some("udp-echo") => udp_echo(&args[2]),
        Some("udp-ask") => udp_ask(&args[2], &args[3]),
        _ => {
            eprintln!("usage: net-probe udp-echo PORT | udp-ask ADDR MESSAGE");
            2
        }
    };
    std::process::exit(code);
}

fn udp_echo(port: &str) -> i32 {
    // [::] takes IPv4 too (v4-mapped) unless the namespace says otherwise.
    let socket = UdpSocket::bind(format!("[::]:{port}"))
        .or_else(|_| UdpSocket::bind(format!("0.0.0.0:{port}")))
        .expect("bind");
    let mut buf = vec![0u8; 65536];
    loop {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let _ = socket.send_to(&buf[..n], from);
        }
    }
}

fn udp_ask(addr: &str, message: &str) -> i32 {
    let local = if addr.starts_with('[') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let socket = UdpSocket::bind(local).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    socket.send_to(message.as_bytes(), addr).expect("send");
    let mut buf = vec![0u8; 65536];
    match socket.recv_from(&mut buf) {
        Ok((n, from)) => {
            println!("{from} {}", String::from_utf8_lossy(&buf[..n]));
            0
        }
        Err(e) => {
            println!("no reply: {e}");
            1
        }
    }
}
