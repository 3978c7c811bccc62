//! burrow's userspace network, the part of the supervisor that gives a container a
//! network without root: a tap device (`eth0`) created inside the container's net
//! namespace ([`tap`]), and on the host side a [`smoltcp`] interface that terminates
//! the container's TCP, UDP, DNS and ICMP traffic and carries it over ordinary host
//! sockets ([`stack`]), plus listeners for published ports ([`publish`]).
//!
//! The address plan is slirp4netns's ([`NetConfig::default`]): the container is
//! 10.0.2.100/24, the gateway (the stack) 10.0.2.2, the DNS server (also the stack)
//! 10.0.2.3. The host's loopback is not reachable unless [`NetConfig::host_loopback`]
//! maps the gateway address to 127.0.0.1.

pub mod config;
pub mod device;
pub mod dns;
pub mod frame;
pub mod netlink;
pub mod policy;
pub mod publish;
pub mod stack;
pub mod switch;
mod sys;
pub mod tap;

pub use config::{Limits, NetConfig};
pub use dns::{NameSource, StaticNames};
pub use publish::{parse_publish, BoundPort, PortMapping, Protocol, PublishError};
pub use stack::{ControlError, PortControl, PortId, Stack, StackError, StackStats};
pub use tap::{add_default_route, NamespaceTarget, Tap, TapError};

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Tap(#[from] TapError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    #[error(transparent)]
    Switch(#[from] switch::SwitchError),
}

/// A file descriptor that becomes readable when process `pid` exits (a pidfd), to
/// stop a [`Stack`] with its container.
pub fn process_exit_fd(pid: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    sys::pidfd_open(pid)
}
