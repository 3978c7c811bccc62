//! The container's `eth0`: a tap device created inside the container's network
//! namespace and handed to the host-side stack as a file descriptor.
//!
//! An unprivileged process can create a tap device only where it has CAP_NET_ADMIN:
//! in a network namespace owned by a user namespace it entered. So a forked child
//! joins the container's user namespace (unless it is ours already), then its network
//! namespace, opens `/dev/net/tun`, creates `eth0`, brings `lo` and `eth0` up, sets the
//! address and default route over rtnetlink ([`crate::netlink`]), and passes the fd
//! back over a socketpair (SCM_RIGHTS). The fd keeps working from the host side: a tap
//! fd is bound to its device, not to the namespace of the process that reads it.
//!
//! With `IFF_VNET_HDR` every frame is preceded by a 10-byte virtio-net header; the
//! stack turns on checksum offload so the container's kernel skips TCP/UDP checksums
//! on the way out, and sends its own TCP/UDP frames as "checksum partial" (only the
//! pseudo-header sum filled in, [`offload_header`]), which the container's kernel
//! accepts without verifying: no side computes checksums over the payload on a path
//! that cannot corrupt data.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::netlink::{self, LOOPBACK_IFINDEX};
use crate::sys;
pub use crate::sys::NsChannel;

/// Size of `struct virtio_net_hdr` (no mergeable buffers).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only
/// the pseudo-header sum; a receiver on this host treats the frame as checksummed.
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("cannot open namespace {}: {error}", path.display())]
    OpenNamespace { path: PathBuf, error: io::Error },
    #[error("cannot start the namespace helper process: {0}")]
    Fork(io::Error),
    #[error("cannot {step} in the container's network namespace: {error}{}", hint(.error))]
    Setup { step: String, error: io::Error },
    #[error("cannot turn on checksum offload on the tap device: {0}")]
    Offload(io::Error),
}

fn hint(error: &io::Error) -> &'static str {
    match error.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            " (is /dev/net/tun readable and writable by this user?)"
        }
        _ => "",
    }
}

/// The namespaces to create the tap device in.
#[derive(Clone, Debug)]
pub struct NamespaceTarget {
    /// The user namespace owning `net_ns`; joined first unless it is the caller's own.
    pub user_ns: Option<PathBuf>,
    pub net_ns: PathBuf,
}

impl NamespaceTarget {
    /// The namespaces of process `pid` (`/proc/PID/ns/{user,net}`).
    pub fn of_pid(pid: i32) -> NamespaceTarget {
        let ns = PathBuf::from(format!("/proc/{pid}/ns"));
        NamespaceTarget {
            user_ns: Some(ns.join("user")),
            net_ns: ns.join("net"),
        }
    }
}

/// How `eth0` is set up.
#[derive(Clone, Debug)]
pub struct TapConfig {
    pub name: String,
    pub mtu: u32,
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// Route everything not on a connected subnet through `gateway` (only one
    /// interface of a namespace has the default route).
    pub default_route: bool,
    /// An IPv6 address (/64) and gateway, if any.
    pub ipv6: Option<(std::net::Ipv6Addr, std::net::Ipv6Addr)>,
    pub vnet_hdr: bool,
    /// Keep a helper in the namespace that opens loopback connections there
    /// ([`Tap::namespace`]), for splicing published ports.
    pub keep_namespace_helper: bool,
    /// Bring `lo` and the device up and set addresses and routes; without it the
    /// device is only created (slirp4netns without `--configure`).
    pub configure: bool,
}

impl TapConfig {
    /// `eth0` as `config` describes it, with virtio-net headers.
    pub fn for_network(config: &crate::NetConfig) -> TapConfig {
        TapConfig {
            name: "eth0".into(),
            mtu: config.mtu,
            address: config.container_ip,
            prefix_len: config.prefix_len,
            gateway: config.gateway_ip,
            default_route: true,
            ipv6: config
                .ipv6
                .then_some((config.container_ip6, config.gateway_ip6)),
            vnet_hdr: true,
            keep_namespace_helper: config.splice_loopback,
            configure: true,
        }
    }
}

/// An open tap device; frames are read and written whole.
#[derive(Debug)]
pub struct Tap {
    fd: OwnedFd,
    vnet_hdr: bool,
    mtu: u32,
    namespace: Option<NsChannel>,
}

impl Tap {
    /// Creates and configures the tap device in `target`'s namespaces.
    pub fn create_in(target: &NamespaceTarget, config: &TapConfig) -> Result<Tap, TapError> {
        let net_ns = open_namespace(&target.net_ns)?;
        let user_ns = match &target.user_ns {
            Some(path) => {
                let fd = open_namespace(path)?;
                let ours = open_namespace(Path::new("/proc/self/ns/user"))?;
                let same =
                    sys::file_identity(fd.as_fd()).ok() == sys::file_identity(ours.as_fd()).ok();
                (!same).then_some(fd)
            }
            None => None,
        };
        let mut requests = vec![
            netlink::link_up(Some(LOOPBACK_IFINDEX), None, 1, "bring lo up"),
            netlink::link_up(None, Some(config.mtu), 2, "bring the tap device up"),
            netlink::add_address(
                IpAddr::V4(config.address),
                config.prefix_len,
                3,
                "set the tap device's address",
            ),
        ];
        if config.default_route {
            requests.push(netlink::default_route(
                IpAddr::V4(config.gateway),
                4,
                "add the default route",
            ));
        }
        if let Some((address, gateway)) = config.ipv6 {
            requests.push(netlink::add_address(
                IpAddr::V6(address),
                64,
                5,
                "set the tap device's IPv6 address",
            ));
            if config.default_route {
                requests.push(netlink::default_route(
                    IpAddr::V6(gateway),
                    6,
                    "add the IPv6 default route",
                ));
            }
        }
        if !config.configure {
            requests.clear();
        }
        let setup = sys::ChildSetup {
            user_ns: user_ns.as_ref().map(|fd| fd.as_fd()),
            net_ns: net_ns.as_fd(),
            ifreq: sys::tap_ifreq(&config.name, config.vnet_hdr),
            requests: &mut requests,
            serve_sockets: config.keep_namespace_helper,
            existing_device: false,
        };
        let (fd, namespace) = match sys::create_tap_in_namespaces(setup).map_err(TapError::Fork)? {
            Ok(created) => created,
            Err((step, errno)) => {
                let step = describe_step(step, &requests);
                return Err(TapError::Setup {
                    step,
                    error: io::Error::from_raw_os_error(errno),
                });
            }
        };
        if config.vnet_hdr {
            sys::enable_checksum_offload(fd.as_fd()).map_err(TapError::Offload)?;
        }
        Ok(Tap {
            fd,
            vnet_hdr: config.vnet_hdr,
            mtu: config.mtu,
            namespace,
        })
    }

    /// A stand-in for a tap device: `fd` must be non-blocking and read and write one
    /// whole frame per call, as a unix `SOCK_SEQPACKET` socket pair does. Harnesses
    /// (tests, fuzzers) play the container on the other end; with `vnet_hdr` each frame
    /// carries a virtio-net header, as from a tap opened with `IFF_VNET_HDR`.
    pub fn from_frame_socket(fd: OwnedFd, vnet_hdr: bool, mtu: u32) -> Tap {
        Tap {
            fd,
            vnet_hdr,
            mtu,
            namespace: None,
        }
    }

    /// The helper inside the container's namespaces, when kept.
    pub fn namespace(&self) -> Option<&NsChannel> {
        self.namespace.as_ref()
    }

    /// Reads one frame (with its virtio-net header when enabled).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(self.fd.as_fd(), buf)
    }

    /// Writes one frame (with its virtio-net header when enabled).
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        sys::write(self.fd.as_fd(), frame)
    }

    pub fn vnet_hdr(&self) -> bool {
        self.vnet_hdr
    }

    /// Bytes before the Ethernet header of each frame.
    pub fn header_len(&self) -> usize {
        if self.vnet_hdr {
            VNET_HDR_LEN
        } else {
            0
        }
    }

    pub fn mtu(&self) -> u32 {
        self.mtu
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Tap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Routes everything not on a connected subnet through `gateway` (and
/// `gateway6` for IPv6) on the existing interface `name` in `target`'s
/// namespaces: the default route moving to another interface when the one
/// that had it goes.
pub fn add_default_route(
    target: &NamespaceTarget,
    name: &str,
    gateway: Ipv4Addr,
    gateway6: Option<std::net::Ipv6Addr>,
) -> Result<(), TapError> {
    let net_ns = open_namespace(&target.net_ns)?;
    let user_ns = match &target.user_ns {
        Some(path) => Some(open_namespace(path)?),
        None => None,
    };
    let mut requests = vec![netlink::default_route(
        IpAddr::V4(gateway),
        1,
        "add the default route",
    )];
    if let Some(gateway6) = gateway6 {
        requests.push(netlink::default_route(
            IpAddr::V6(gateway6),
            2,
            "add the IPv6 default route",
        ));
    }
    let setup = sys::ChildSetup {
        user_ns: user_ns.as_ref().map(|fd| fd.as_fd()),
        net_ns: net_ns.as_fd(),
        ifreq: sys::tap_ifreq(name, false),
        requests: &mut requests,
        serve_sockets: false,
        existing_device: true,
    };
    match sys::configure_device_in_namespaces(setup).map_err(TapError::Fork)? {
        Ok(()) => Ok(()),
        Err((step, errno)) => Err(TapError::Setup {
            step: describe_step(step, &requests),
            error: io::Error::from_raw_os_error(errno),
        }),
    }
}

fn open_namespace(path: &Path) -> Result<OwnedFd, TapError> {
    std::fs::File::open(path)
        .map(OwnedFd::from)
        .map_err(|error| TapError::OpenNamespace {
            path: path.to_path_buf(),
            error,
        })
}

fn describe_step(step: i32, requests: &[netlink::Request]) -> String {
    if let Some(name) = usize::try_from(step)
        .ok()
        .and_then(|i| sys::STEP_NAMES.get(i))
    {
        return (*name).to_string();
    }
    let request = usize::try_from(step - sys::FIRST_REQUEST_STEP)
        .ok()
        .and_then(|i| requests.get(i));
    match request {
        Some(request) => request.what.to_string(),
        None => "pass the tap device back".to_string(),
    }
}

/// The virtio-net header for an outgoing Ethernet frame whose TCP or UDP checksum was
/// left at zero: marks it "checksum partial" and writes the pseudo-header sum into the
/// checksum field. Other frames (ARP, ICMP, anything unparsable) get an empty header
/// and must carry their own checksums.
pub fn offload_header(frame: &mut [u8]) -> [u8; VNET_HDR_LEN] {
    let mut header = [0u8; VNET_HDR_LEN];
    let Some((l4, csum_offset, sum)) = pseudo_header(frame) else {
        return header;
    };
    let Some(field) = frame.get_mut(l4 + csum_offset..l4 + csum_offset + 2) else {
        return header;
    };
    field.copy_from_slice(&sum.to_be_bytes());
    header[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    header[6..8].copy_from_slice(&(l4 as u16).to_le_bytes());
    header[8..10].copy_from_slice(&(csum_offset as u16).to_le_bytes());
    header
}

/// (transport header offset, checksum offset in it, folded pseudo-header sum).
fn pseudo_header(frame: &[u8]) -> Option<(usize, usize, u16)> {
    const ETH: usize = 14;
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (l4, protocol, l4_len, addresses) = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(ETH)? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([
                *frame.get(ETH + 2)?,
                *frame.get(ETH + 3)?,
            ]));
            (
                ETH + ihl,
                *frame.get(ETH + 9)?,
                total.checked_sub(ihl)?,
                frame.get(ETH + 12..ETH + 20)?,
            )
        }
        0x86dd => {
            let payload = usize::from(u16::from_be_bytes([
                *frame.get(ETH + 4)?,
                *frame.get(ETH + 5)?,
            ]));
            (
                ETH + 40,
                *frame.get(ETH + 6)?,
                payload,
                frame.get(ETH + 8..ETH + 40)?,
            )
        }
        _ => return None,
    };
    let csum_offset = match protocol {
        6 => 16,
        17 => 6,
        _ => return None,
    };
    let mut sum: u32 = addresses
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    sum += u32::from(protocol) + l4_len as u32;
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    Some((l4, csum_offset, sum as u16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_frames_are_marked_checksum_partial() {
        let mut frame = vec![0u8; 14 + 20 + 20];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[16..18].copy_from_slice(&40u16.to_be_bytes());
        frame[23] = 6;
        frame[26..30].copy_from_slice(&[10, 0, 2, 2]);
        frame[30..34].copy_from_slice(&[10, 0, 2, 100]);
        let header = offload_header(&mut frame);
        assert_eq!(header[0], VIRTIO_NET_HDR_F_NEEDS_CSUM);
        assert_eq!(u16::from_le_bytes([header[6], header[7]]), 34);
        assert_eq!(u16::from_le_bytes([header[8], header[9]]), 16);
        // 0x0a00 + 0x0202 + 0x0a00 + 0x0264 + 6 + 20
        let expected: u16 = 0x0a00 + 0x0202 + 0x0a00 + 0x0264 + 6 + 20;
        assert_eq!(u16::from_be_bytes([frame[50], frame[51]]), expected);
    }

    #[test]
    fn other_frames_get_an_empty_header() {
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(offload_header(&mut arp), [0; VNET_HDR_LEN]);
        assert_eq!(offload_header(&mut [0u8; 5]), [0; VNET_HDR_LEN]);
        let mut lying = vec![0u8; 20];
        lying[12..14].copy_from_slice(&[0x08, 0x00]);
        lying[14] = 0x4f;
        assert_eq!(offload_header(&mut lying), [0; VNET_HDR_LEN]);
    }
}
