//! A first look at each Ethernet frame from the container, before the smoltcp
//! interface sees it. smoltcp cannot listen on "any port", so the stack must know
//! about a new TCP connection or UDP flow before the interface polls: this module
//! says what a frame is (a TCP SYN opening a connection, a UDP datagram, an ICMP echo
//! request, an ARP request) and nothing more. It only reads through smoltcp's checked
//! packet views, so any byte string — truncated, with lying length fields, fragments —
//! yields [`Frame::Other`] or [`Frame::Malformed`], never a panic. IPv4 fragments
//! other than the first carry no transport header and are [`Frame::Other`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use smoltcp::wire::{
    ArpOperation, ArpPacket, EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv4Message,
    Icmpv4Packet, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};

/// What a frame from the container is, as far as flow creation cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A TCP segment with SYN and without ACK: a connection attempt.
    TcpSyn { src: SocketAddr, dst: SocketAddr },
    /// Any other TCP segment.
    Tcp { src: SocketAddr, dst: SocketAddr },
    /// A UDP datagram (first fragment or whole).
    Udp { src: SocketAddr, dst: SocketAddr },
    /// An ICMPv4 echo request.
    EchoRequest {
        src_mac: EthernetAddress,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        ident: u16,
        seq: u16,
    },
    /// An ICMPv6 echo request.
    EchoRequest6 { dst: std::net::Ipv6Addr },
    /// An ARP request for `target`.
    ArpRequest { target: Ipv4Addr },
    /// Anything else that parses (other ICMP, IPv6 control traffic, ARP replies).
    Other,
    /// Not a well-formed frame of a kind the stack handles.
    Malformed,
}

/// Looks at one Ethernet frame.
pub fn inspect(bytes: &[u8]) -> Frame {
    let Ok(eth) = EthernetFrame::new_checked(bytes) else {
        return Frame::Malformed;
    };
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => inspect_ipv4(eth.src_addr(), eth.payload()),
        EthernetProtocol::Ipv6 => inspect_ipv6(eth.payload()),
        EthernetProtocol::Arp => inspect_arp(eth.src_addr(), eth.payload()),
        _ => Frame::Other,
    }
}

/// An ARP packet whose sender hardware address is not the frame's source is malformed:
/// the container's kernel never sends one, and letting the interface learn from it would
/// point the container's own address at a MAC nobody has, cutting its traffic off until
/// the entry expires (found by `tests/frame_fuzz.rs`).
fn inspect_arp(src_mac: EthernetAddress, bytes: &[u8]) -> Frame {
    let Ok(arp) = ArpPacket::new_checked(bytes) else {
        return Frame::Malformed;
    };
    if arp.source_hardware_addr() != src_mac.as_bytes() {
        return Frame::Malformed;
    }
    if arp.operation() != ArpOperation::Request {
        return Frame::Other;
    }
    match <[u8; 4]>::try_from(arp.target_protocol_addr()) {
        Ok(target) => Frame::ArpRequest {
            target: Ipv4Addr::from(target),
        },
        Err(_) => Frame::Malformed,
    }
}

fn inspect_ipv4(src_mac: EthernetAddress, bytes: &[u8]) -> Frame {
    let Ok(ip) = Ipv4Packet::new_checked(bytes) else {
        return Frame::Malformed;
    };
    if ip.frag_offset() != 0 {
        return Frame::Other;
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        IpProtocol::Tcp => inspect_tcp(src.into(), dst.into(), ip.payload()),
        IpProtocol::Udp if ip.more_frags() => inspect_udp_first_fragment(src, dst, ip.payload()),
        IpProtocol::Udp => inspect_udp(src.into(), dst.into(), ip.payload()),
        IpProtocol::Icmp => inspect_icmpv4(src_mac, src, dst, ip.payload()),
        _ => Frame::Other,
    }
}

fn inspect_ipv6(bytes: &[u8]) -> Frame {
    let Ok(ip) = Ipv6Packet::new_checked(bytes) else {
        return Frame::Malformed;
    };
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        IpProtocol::Tcp => inspect_tcp(src.into(), dst.into(), ip.payload()),
        IpProtocol::Udp => inspect_udp(src.into(), dst.into(), ip.payload()),
        IpProtocol::Icmpv6 => match ip.payload().first() {
            Some(128) => Frame::EchoRequest6 { dst },
            Some(_) => Frame::Other,
            None => Frame::Malformed,
        },
        _ => Frame::Other,
    }
}

fn inspect_tcp(src: IpAddr, dst: IpAddr, bytes: &[u8]) -> Frame {
    let Ok(tcp) = TcpPacket::new_checked(bytes) else {
        return Frame::Malformed;
    };
    let src = SocketAddr::new(src, tcp.src_port());
    let dst = SocketAddr::new(dst, tcp.dst_port());
    if tcp.syn() && !tcp.ack() && !tcp.rst() {
        Frame::TcpSyn { src, dst }
    } else {
        Frame::Tcp { src, dst }
    }
}

fn inspect_udp(src: IpAddr, dst: IpAddr, bytes: &[u8]) -> Frame {
    let Ok(udp) = UdpPacket::new_checked(bytes) else {
        return Frame::Malformed;
    };
    Frame::Udp {
        src: SocketAddr::new(src, udp.src_port()),
        dst: SocketAddr::new(dst, udp.dst_port()),
    }
}

/// The first fragment of a large datagram: its UDP length covers all fragments, so
/// only the ports are read.
fn inspect_udp_first_fragment(src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Frame {
    match bytes.get(..4) {
        Some(ports) => Frame::Udp {
            src: SocketAddr::new(src.into(), u16::from_be_bytes([ports[0], ports[1]])),
            dst: SocketAddr::new(dst.into(), u16::from_be_bytes([ports[2], ports[3]])),
        },
        None => Frame::Malformed,
    }
}

fn inspect_icmpv4(src_mac: EthernetAddress, src: Ipv4Addr, dst: Ipv4Addr, bytes: &[u8]) -> Frame {
    let Ok(icmp) = Icmpv4Packet::new_checked(bytes) else {
        return Frame::Malformed;
    };
    if icmp.msg_type() != Icmpv4Message::EchoRequest {
        return Frame::Other;
    }
    Frame::EchoRequest {
        src_mac,
        src,
        dst,
        ident: icmp.echo_ident(),
        seq: icmp.echo_seq_no(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetRepr, IpAddress, Ipv4Repr, TcpControl, TcpRepr, TcpSeqNumber, UdpRepr,
    };

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    fn ipv4_frame(
        protocol: IpProtocol,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 2, 100),
            dst_addr: Ipv4Addr::new(192, 0, 2, 1),
            next_header: protocol,
            payload_len,
            hop_limit: 64,
        };
        let eth = EthernetRepr {
            src_addr: MAC,
            dst_addr: EthernetAddress([2, 0, 0, 0, 0, 2]),
            ethertype: EthernetProtocol::Ipv4,
        };
        let mut bytes = vec![0; eth.buffer_len() + ip.buffer_len() + payload_len];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        eth.emit(&mut frame);
        let mut packet = Ipv4Packet::new_unchecked(frame.payload_mut());
        ip.emit(&mut packet, &ChecksumCapabilities::default());
        fill(packet.payload_mut());
        bytes
    }

    fn tcp_frame(control: TcpControl, ack: bool) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            control,
            seq_number: TcpSeqNumber(1),
            ack_number: ack.then_some(TcpSeqNumber(1)),
            window_len: 100,
            window_scale: None,
            max_seg_size: None,
            sack_permitted: false,
            sack_ranges: [None; 3],
            timestamp: None,
            payload: &[],
        };
        ipv4_frame(IpProtocol::Tcp, repr.buffer_len(), |buf| {
            repr.emit(
                &mut TcpPacket::new_unchecked(buf),
                &IpAddress::v4(10, 0, 2, 100),
                &IpAddress::v4(192, 0, 2, 1),
                &ChecksumCapabilities::default(),
            )
        })
    }

    #[test]
    fn a_syn_opens_a_connection_and_a_syn_ack_does_not() {
        let src: SocketAddr = "10.0.2.100:40000".parse().unwrap();
        let dst: SocketAddr = "192.0.2.1:80".parse().unwrap();
        assert_eq!(
            inspect(&tcp_frame(TcpControl::Syn, false)),
            Frame::TcpSyn { src, dst }
        );
        assert_eq!(
            inspect(&tcp_frame(TcpControl::Syn, true)),
            Frame::Tcp { src, dst }
        );
        assert_eq!(
            inspect(&tcp_frame(TcpControl::None, true)),
            Frame::Tcp { src, dst }
        );
    }

    #[test]
    fn udp_datagrams_are_recognised() {
        let repr = UdpRepr {
            src_port: 5000,
            dst_port: 53,
        };
        let frame = ipv4_frame(IpProtocol::Udp, repr.header_len() + 3, |buf| {
            let mut packet = UdpPacket::new_unchecked(buf);
            repr.emit(
                &mut packet,
                &IpAddress::v4(10, 0, 2, 100),
                &IpAddress::v4(192, 0, 2, 1),
                3,
                |p| p.copy_from_slice(b"abc"),
                &ChecksumCapabilities::default(),
            );
        });
        assert_eq!(
            inspect(&frame),
            Frame::Udp {
                src: "10.0.2.100:5000".parse().unwrap(),
                dst: "192.0.2.1:53".parse().unwrap()
            }
        );
    }

    #[test]
    fn truncated_frames_are_malformed() {
        let frame = tcp_frame(TcpControl::Syn, false);
        for len in [0, 5, 13, 14, 20, 33, 40] {
            assert_eq!(inspect(&frame[..len]), Frame::Malformed, "length {len}");
        }
    }

    #[test]
    fn arp_lying_about_its_sender_is_malformed() {
        // The fuzz case: an ARP request whose sender MAC's last byte was changed.
        let mut arp = vec![0u8; 14 + 28];
        arp[..6].copy_from_slice(&[0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
        arp[6..12].copy_from_slice(MAC.as_bytes());
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        arp[22..28].copy_from_slice(MAC.as_bytes());
        arp[28..32].copy_from_slice(&[10, 0, 2, 100]);
        arp[38..42].copy_from_slice(&[10, 0, 2, 2]);
        let target = Ipv4Addr::new(10, 0, 2, 2);
        assert_eq!(inspect(&arp), Frame::ArpRequest { target });
        arp[27] = 131;
        assert_eq!(inspect(&arp), Frame::Malformed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = inspect(&bytes);
        }

        #[test]
        fn corrupted_frames_never_panic(
            flips in proptest::collection::vec((0usize..60, any::<u8>()), 1..8),
            cut in 0usize..60,
        ) {
            let mut frame = tcp_frame(TcpControl::Syn, false);
            for (at, value) in flips {
                if let Some(byte) = frame.get_mut(at) {
                    *byte = value;
                }
            }
            frame.truncate(cut.max(1));
            let _ = inspect(&frame);
        }
    }
}
