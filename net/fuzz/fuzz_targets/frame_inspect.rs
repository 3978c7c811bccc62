//! The first look at each frame and the switch's routing: any bytes, no panic.
#![no_main]

use burrow_net::{frame, switch, NetConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let config = NetConfig::default();
    let _ = frame::inspect(data);
    let _ = switch::route(&config, data);
    let _ = switch::from_peer_allowed(&config, data);
});
