//! Unique names and free ports, so that tests running in parallel threads (and parallel
//! test processes) never share a container id, a directory or a port.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// `label-<pid>-<n>`: unique within this process by the counter, across processes by the
/// pid. The label is reduced to `[a-z0-9-]` (valid in container ids and file names) and
/// shortened so the whole name stays well under the 64-character limits some tools have.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut clean: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "t" } else { clean };
    format!("{clean}-{}-{n}", std::process::id())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel picked it).
pub fn free_tcp_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_clean() {
        let a = unique_name("oci::Exit Codes");
        let b = unique_name("oci::Exit Codes");
        assert_ne!(a, b);
        assert!(a.starts_with("oci--exit-codes-"), "{a}");
        assert!(a
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        assert!(unique_name("").starts_with("t-"));
        assert!(unique_name(&"x".repeat(200)).len() < 64);
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_tcp_port(), 0);
    }
}
