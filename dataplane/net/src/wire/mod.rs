//! Wire formats: zero-copy views and `Repr`s for the protocols the dataplane speaks.
//!
//! Two levels, in the shape of smoltcp's `wire` module:
//!
//! * **Views** (`EthernetFrame`, `Ipv4Packet`, `UdpPacket`, ...): a `Packet<T: AsRef<[u8]>>` over
//!   a byte buffer (an mbuf's data, a slice of a test vector) with a getter per field, and a
//!   setter per field when `T: AsMut<[u8]>`. Nothing is copied and nothing is allocated.
//!   `new_unchecked` wraps any buffer; `new_checked` (or `check_len` later) proves the buffer is
//!   long enough for every field the view exposes. **After a successful `check_len`, no
//!   accessor of that view panics**, whatever the bytes say. Without it, accessors may panic
//!   on a short buffer: graph nodes call `new_checked` on every received packet.
//! * **Reprs** (`Ipv4Repr`, `ArpRepr`, `Icmpv4Repr`, ...): small `Copy` values holding the
//!   meaning of a header. `parse` validates (version, lengths, checksum when asked) and says
//!   what was wrong with an [`Error`], which graph nodes turn into per-reason drop counters.
//!   `emit` writes the header into a view; the caller sizes the buffer with `header_len()` /
//!   `buffer_len()` (emit panics on a buffer too short for the header, a caller bug, never
//!   something a packet can cause).
//!
//! Protocol numbers are enums with an `Unknown(n)` case, so parsing never fails on a value we
//! have no name for. Checksum work is driven by a [`ChecksumCapabilities`] value handed to
//! `emit`/`fill_checksum`/`parse`: the egress port's offloads decide at run time whether
//! software computes a checksum or prepares the packet for the NIC to do it.
//!
//! Every file holds one protocol; inside, names are generic (`Packet`, `Repr`, `HEADER_LEN`)
//! and re-exported here with a prefix.

use core::fmt;

pub mod checksum;

mod arp;
mod ethernet;
mod icmpv4;
mod icmpv6;
mod ip;
mod ipv4;
mod ipv6;
mod tcp;
mod udp;
mod vxlan;

/// Captured frames, shared with the node tests.
#[cfg(test)]
pub(crate) mod fixtures;

pub use self::arp::{
    Hardware as ArpHardware, Operation as ArpOperation, PACKET_LEN as ARP_PACKET_LEN,
    Packet as ArpPacket, Repr as ArpRepr,
};
pub use self::checksum::{Checksum, ChecksumCapabilities, PseudoHeader};
pub use self::ethernet::{
    Address as EthernetAddress, AddressParseError as EthernetAddressParseError, EtherType,
    Frame as EthernetFrame, HEADER_LEN as ETHERNET_HEADER_LEN, Header as EthernetHeader,
    MAX_TAGS as ETHERNET_MAX_TAGS, Repr as EthernetRepr, TAG_LEN as VLAN_TAG_LEN, VlanTag,
};
pub use self::icmpv4::{
    DstUnreachable as Icmpv4DstUnreachable, HEADER_LEN as ICMPV4_HEADER_LEN,
    Message as Icmpv4Message, Packet as Icmpv4Packet, Repr as Icmpv4Repr,
    TimeExceeded as Icmpv4TimeExceeded, quote as icmpv4_quote,
};
pub use self::icmpv6::{
    HEADER_LEN as ICMPV6_HEADER_LEN, Message as Icmpv6Message, Packet as Icmpv6Packet,
    Repr as Icmpv6Repr, quote as icmpv6_quote,
};
pub use self::ip::IpProtocol;
pub use self::ipv4::{
    HEADER_LEN as IPV4_HEADER_LEN, MAX_HEADER_LEN as IPV4_MAX_HEADER_LEN, Packet as Ipv4Packet,
    Repr as Ipv4Repr, decrement_ttl as ipv4_decrement_ttl,
};
pub use self::ipv6::{HEADER_LEN as IPV6_HEADER_LEN, Packet as Ipv6Packet, Repr as Ipv6Repr};
pub use self::tcp::{HEADER_LEN as TCP_HEADER_LEN, Packet as TcpPacket, TcpFlags};
pub use self::udp::{HEADER_LEN as UDP_HEADER_LEN, Packet as UdpPacket, Repr as UdpRepr};
pub use self::vxlan::{
    DEFAULT_TUNNEL_MTU as VXLAN_DEFAULT_TUNNEL_MTU, ENCAP_OVERHEAD_V4 as VXLAN_ENCAP_OVERHEAD_V4,
    ENCAP_V4_LEN as VXLAN_ENCAP_V4_LEN, HEADER_LEN as VXLAN_HEADER_LEN,
    Ipv4Encap as VxlanIpv4Encap, Packet as VxlanPacket, Repr as VxlanRepr,
    UDP_PORT as VXLAN_UDP_PORT, Vni, source_port as vxlan_source_port,
};

/// What was wrong with a packet. Graph nodes count drops by these reasons, so each variant
/// names one cause an operator can act on; [`Error::as_str`] is the counter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the fixed header (or the header its own length field claims).
    Truncated,
    /// The IP version nibble is not the one of the header being parsed.
    BadVersion,
    /// IPv4 IHL below 5 (a header shorter than 20 bytes).
    BadIhl,
    /// IPv4 total length shorter than the header or longer than the buffer; IPv6 payload
    /// length longer than the buffer.
    BadTotalLength,
    /// A transport length field is impossible: UDP length below 8 or beyond the buffer, TCP
    /// data offset below 5.
    BadLength,
    /// The checksum does not verify.
    BadChecksum,
    /// VXLAN flags without the I (valid VNI) bit.
    BadFlags,
    /// Well-formed on the wire, but not something this `Repr` represents (ARP for another
    /// hardware/protocol pair, an ICMP message type without a `Repr` variant).
    Unsupported,
}

impl Error {
    /// Short, stable, lower-case name for counters and `show errors`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Truncated => "truncated",
            Error::BadVersion => "bad-version",
            Error::BadIhl => "bad-ihl",
            Error::BadTotalLength => "bad-total-length",
            Error::BadLength => "bad-length",
            Error::BadChecksum => "bad-checksum",
            Error::BadFlags => "bad-flags",
            Error::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for Error {}

/// Result of parsing or checking a wire format.
pub type Result<T> = core::result::Result<T, Error>;

/// Byte ranges of header fields, shared by every protocol's private `field` module.
pub(crate) mod field {
    /// A fixed field: `start..end` bytes from the start of the header.
    pub type Field = core::ops::Range<usize>;
    /// Everything from an offset to the end of the buffer.
    pub type Rest = core::ops::RangeFrom<usize>;
}

/// Big-endian reads and writes of fixed fields. Indexing panics only if the buffer is shorter
/// than the field, which `check_len` rules out; a field range of the wrong width is a bug in
/// this module, caught by its tests.
pub(crate) mod bytes {
    use super::field::Field;

    #[inline(always)]
    fn array<const N: usize>(data: &[u8], field: Field) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&data[field]);
        out
    }

    #[inline(always)]
    pub fn get_u16(data: &[u8], field: Field) -> u16 {
        u16::from_be_bytes(array(data, field))
    }

    #[inline(always)]
    pub fn get_u32(data: &[u8], field: Field) -> u32 {
        u32::from_be_bytes(array(data, field))
    }

    #[inline(always)]
    pub fn get_array<const N: usize>(data: &[u8], field: Field) -> [u8; N] {
        array(data, field)
    }

    #[inline(always)]
    pub fn set_u16(data: &mut [u8], field: Field, value: u16) {
        data[field].copy_from_slice(&value.to_be_bytes());
    }

    #[inline(always)]
    pub fn set_u32(data: &mut [u8], field: Field, value: u32) {
        data[field].copy_from_slice(&value.to_be_bytes());
    }
}

/// Defines an on-wire number as an enum with named values and an `Unknown(n)` case, with
/// lossless conversions both ways. Build values from numbers with `From`; `Unknown(n)` with
/// a named `n` is never produced by parsing and compares unequal to the named variant.
macro_rules! wire_enum {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($repr:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vattr])* $variant, )+
            /// A value without a name here, kept exactly as read from the wire.
            Unknown($repr),
        }

        impl From<$repr> for $name {
            #[inline]
            fn from(value: $repr) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $repr {
            #[inline]
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_distinct() {
        let all = [
            Error::Truncated,
            Error::BadVersion,
            Error::BadIhl,
            Error::BadTotalLength,
            Error::BadLength,
            Error::BadChecksum,
            Error::BadFlags,
            Error::Unsupported,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a.as_str(), b.as_str());
            }
        }
        assert_eq!(Error::BadIhl.to_string(), "bad-ihl");
    }

    /// Parses a frame layer by layer as the graph will (ethernet-input, arp-input / ip4-input,
    /// ip4-local, vxlan-decap and back), verifying every checksum in software. Returns how
    /// many headers were understood.
    fn walk(frame: &[u8]) -> Result<usize> {
        let caps = ChecksumCapabilities::SOFTWARE;
        let eth = EthernetFrame::new_checked(frame)?;
        let header = eth.header()?;
        let l3 = &frame[header.header_len..];
        match header.ethertype {
            EtherType::Arp => ArpRepr::parse(&ArpPacket::new_checked(l3)?).map(|_| 2),
            EtherType::Ipv4 => {
                let ip = Ipv4Packet::new_checked(l3)?;
                let repr = Ipv4Repr::parse(&ip, &caps)?;
                let pseudo = PseudoHeader::V4 {
                    src: repr.src_addr,
                    dst: repr.dst_addr,
                };
                match repr.protocol {
                    IpProtocol::Icmp => {
                        Icmpv4Repr::parse(&Icmpv4Packet::new_checked(ip.payload())?, &caps)
                            .map(|_| 3)
                    }
                    IpProtocol::Tcp => {
                        let tcp = TcpPacket::new_checked(ip.payload())?;
                        if tcp.verify_checksum(&pseudo) {
                            Ok(3)
                        } else {
                            Err(Error::BadChecksum)
                        }
                    }
                    IpProtocol::Udp => {
                        let udp = UdpPacket::new_checked(ip.payload())?;
                        let repr = UdpRepr::parse(&udp, &pseudo, &caps)?;
                        if repr.dst_port != VXLAN_UDP_PORT {
                            return Ok(3);
                        }
                        let vxlan = VxlanPacket::new_checked(udp.payload())?;
                        VxlanRepr::parse(&vxlan)?;
                        walk(vxlan.payload()).map(|inner| 4 + inner)
                    }
                    _ => Ok(2),
                }
            }
            EtherType::Ipv6 => {
                let ip = Ipv6Packet::new_checked(l3)?;
                let repr = Ipv6Repr::parse(&ip)?;
                let pseudo = PseudoHeader::V6 {
                    src: repr.src_addr,
                    dst: repr.dst_addr,
                };
                match repr.next_header {
                    IpProtocol::Icmpv6 => {
                        let icmp = Icmpv6Packet::new_checked(ip.payload())?;
                        if icmp.verify_checksum(&repr.src_addr, &repr.dst_addr) {
                            Ok(3)
                        } else {
                            Err(Error::BadChecksum)
                        }
                    }
                    IpProtocol::Udp => {
                        UdpRepr::parse(&UdpPacket::new_checked(ip.payload())?, &pseudo, &caps)
                            .map(|_| 3)
                    }
                    _ => Ok(2),
                }
            }
            _ => Ok(1),
        }
    }

    #[test]
    fn every_truncation_of_every_real_frame_is_refused() {
        use fixtures::*;
        // Expected headers understood; 0 for CHECKSUM_PARTIAL captures, which a NIC would
        // finish and software verification must refuse.
        let frames: [(&[u8], usize); 19] = [
            (&ARP_REQUEST_FRAME, 2),
            (&ARP_REPLY_FRAME, 2),
            (&ECHO_REQUEST_FRAME, 3),
            (&ECHO_REPLY_FRAME, 3),
            (&PORT_UNREACHABLE_FRAME, 3),
            (&TIME_EXCEEDED_FRAME, 3),
            (&FRAG_NEEDED_FRAME, 3),
            (&UDP4_FRAME, 3),
            (&UDP6_FRAME, 3),
            (&TCP_SYN_FRAME, 3),
            (&TCP_RST_FRAME, 3),
            (&VXLAN_ECHO_FRAME, 7),
            (&VXLAN_ARP_FRAME, 0),
            (&VXLAN_ECHO_PARTIAL_FRAME, 0),
            (&ECHO6_REQUEST_FRAME, 3),
            (&ECHO6_REPLY_FRAME, 3),
            (&NEIGHBOR_SOLICIT_FRAME, 3),
            (&TIME_EXCEEDED6_FRAME, 3),
            (&UDP4_PARTIAL_FRAME, 0),
        ];
        for (i, (frame, layers)) in frames.iter().enumerate() {
            let full = walk(frame);
            if *layers == 0 {
                assert_eq!(full, Err(Error::BadChecksum), "frame {i}");
            } else {
                assert_eq!(full, Ok(*layers), "frame {i}");
            }
            for cut in 0..frame.len() {
                let err = walk(&frame[..cut]).expect_err("a cut frame must not parse");
                assert!(
                    matches!(
                        err,
                        Error::Truncated | Error::BadTotalLength | Error::BadLength
                    ),
                    "frame {i} cut at {cut}: {err}"
                );
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_detected_or_harmless() {
        // Flipping any bit of a checksummed IPv4/UDP frame must never panic, and must be
        // refused unless it only hits bytes no checksum covers (the Ethernet header).
        let frame = fixtures::UDP4_FRAME;
        for byte in 0..frame.len() {
            for bit in 0..8 {
                let mut data = frame;
                data[byte] ^= 1 << bit;
                let result = walk(&data);
                if byte >= ETHERNET_HEADER_LEN {
                    assert!(result.is_err(), "flip at {byte}.{bit} went unnoticed");
                } else if byte >= 12 {
                    assert_ne!(result, Ok(3), "ethertype flip at {byte}.{bit}");
                }
            }
        }
    }

    #[test]
    fn unknown_values_round_trip() {
        assert_eq!(EtherType::from(0x0800), EtherType::Ipv4);
        assert_eq!(EtherType::from(0x88b5), EtherType::Unknown(0x88b5));
        assert_eq!(u16::from(EtherType::Unknown(0x88b5)), 0x88b5);
        assert_eq!(u8::from(IpProtocol::from(17)), 17);
    }
}
