//! The stack's frame entry: the input is split into frames (a two-byte big-endian
//! length before each), written with a virtio-net header to the socket pair the stack
//! takes for its tap, and the stack runs a few turns after each. The network is
//! internal: the policy refuses every destination outside the subnet, so nothing the
//! fuzzer makes up opens a host socket.
#![no_main]

use std::time::Duration;

use burrow_net::{NetConfig, Stack, Tap};
use libfuzzer_sys::fuzz_target;
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

const VNET_HDR_LEN: usize = 10;

fuzz_target!(|data: &[u8]| {
    let Ok((stack_end, container_end)) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    ) else {
        return;
    };
    let config = NetConfig {
        mtu: 1500,
        internal: true,
        ..NetConfig::default()
    };
    let tap = Tap::from_frame_socket(stack_end, true, config.mtu);
    let Ok(mut stack) = Stack::new(config, tap, Vec::new()) else {
        return;
    };
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let mut frame = vec![0u8; VNET_HDR_LEN];
        frame.extend_from_slice(&rest[2..2 + len]);
        rest = &rest[2 + len..];
        let _ = nix::unistd::write(&container_end, &frame);
        let _ = stack.run_once(Duration::ZERO);
    }
    for _ in 0..4 {
        let _ = stack.run_once(Duration::ZERO);
    }
});
