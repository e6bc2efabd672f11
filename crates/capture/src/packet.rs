//! From a captured frame to the TCP segment it carries: the link layers tcpdump and Wireshark write (Ethernet,
//! Linux cooked capture v1 and v2, BSD loopback, raw IP), IPv4 and IPv6, decoded by `etherparse`.

use std::net::{IpAddr, SocketAddr};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// The link layer of a capture, as pcap numbers it (`LINKTYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    /// Linux cooked capture (`-i any`), version 1.
    LinuxSll,
    /// Linux cooked capture, version 2 (newer libpcap with `-i any`).
    LinuxSll2,
    /// BSD loopback: a 4-byte address family, then IP.
    Null,
    /// IP with no link header.
    Raw,
}

impl Link {
    /// The link of a pcap `LINKTYPE_` number; None for one cachescope does not read.
    pub fn from_linktype(number: u32) -> Option<Link> {
        match number {
            1 => Some(Link::Ethernet),
            113 => Some(Link::LinuxSll),
            276 => Some(Link::LinuxSll2),
            0 | 108 => Some(Link::Null),
            12 | 14 | 101 | 228 | 229 => Some(Link::Raw),
            _ => None,
        }
    }
}

/// One TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub seq: u32,
    /// The acknowledgement number, meaningful when `has_ack`.
    pub ack: u32,
    pub has_ack: bool,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

/// The TCP segment in `frame`, or None when it carries something else (ARP, UDP, an IP fragment) or is cut
/// short.
pub fn segment(link: Link, frame: &[u8]) -> Option<Segment<'_>> {
    let sliced = match link {
        Link::Ethernet => SlicedPacket::from_ethernet(frame),
        Link::LinuxSll => SlicedPacket::from_linux_sll(frame),
        Link::LinuxSll2 => SlicedPacket::from_ip(frame.get(20..)?),
        Link::Null => SlicedPacket::from_ip(frame.get(4..)?),
        Link::Raw => SlicedPacket::from_ip(frame),
    }
    .ok()?;
    let (source, destination): (IpAddr, IpAddr) = match sliced.net? {
        NetSlice::Ipv4(ip) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        NetSlice::Ipv6(ip) => (ip.header().source_addr().into(), ip.header().destination_addr().into()),
        NetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(tcp) = sliced.transport? else { return None };
    Some(Segment {
        source: SocketAddr::new(source, tcp.source_port()),
        destination: SocketAddr::new(destination, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        has_ack: tcp.ack(),
        syn: tcp.syn(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv6 with a hop-by-hop options header before TCP (what the kernel filter lets through whatever its
    /// ports): the segment is found past it.
    #[test]
    fn tcp_after_ipv6_extension_headers() {
        let payload = b"PING\r\n";
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend_from_slice(&((8 + 20 + payload.len()) as u16).to_be_bytes());
        packet.extend_from_slice(&[0, 64]); // next: hop-by-hop options; hop limit
        packet.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        packet.extend_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        packet.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]); // next: TCP; PadN
        packet.extend_from_slice(&50000u16.to_be_bytes());
        packet.extend_from_slice(&6379u16.to_be_bytes());
        packet.extend_from_slice(&7u32.to_be_bytes());
        packet.extend_from_slice(&9u32.to_be_bytes());
        packet.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]); // offset 5, ACK+PSH
        packet.extend_from_slice(payload);
        let segment = segment(Link::Raw, &packet).expect("a TCP segment");
        assert_eq!((segment.source.port(), segment.destination.port()), (50000, 6379));
        assert_eq!((segment.seq, segment.ack, segment.has_ack), (7, 9, true));
        assert_eq!(segment.payload, payload);
    }
}
