//! IPv6 fixed headers (RFC 8200), ready for the IPv6 forwarding issue. Extension headers are
//! not walked: `next_header` says what follows the fixed header, whatever it is.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics: the 40-byte header fits and `40 + payload_len <= buffer length`. A payload length
//! of 0 is taken literally (jumbograms, RFC 2675, are not supported).

use core::net::Ipv6Addr;

use super::bytes::{get_array, get_u16, get_u32, set_u16, set_u32};
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use crate::wire::field::Field;

    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Packet::check_len`]
    /// has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and runs [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Truncated` when the fixed header does not fit, `BadTotalLength` when the payload
    /// length runs past the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::VER_TC_FLOW)
    }

    /// Version nibble (6 for IPv6).
    #[inline]
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length: everything after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// What follows the fixed header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.buffer.as_ref(), field::SRC_ADDR))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.buffer.as_ref(), field::DST_ADDR))
    }

    /// The payload, without any padding after it.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Header and payload, without any padding after.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..HEADER_LEN + usize::from(self.payload_len())]
    }

    /// Source and destination ports when TCP, UDP or SCTP directly follows the fixed
    /// header, for flow hashing; `None` otherwise (extension headers are not walked: hash
    /// such packets on addresses and flow label).
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        if !matches!(
            self.next_header(),
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp
        ) {
            return None;
        }
        match *self.payload() {
            [a, b, c, d, ..] => Some((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
            _ => None,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::VER_TC_FLOW, value);
    }

    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let v = (self.ver_tc_flow() & 0x0fff_ffff) | (u32::from(version & 0xf) << 28);
        self.set_ver_tc_flow(v);
    }

    /// Sets the traffic class.
    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let v = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_ver_tc_flow(v);
    }

    /// Sets the flow label (only its low 20 bits are kept).
    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let v = (self.ver_tc_flow() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_ver_tc_flow(v);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets what follows the fixed header.
    #[inline]
    pub fn set_next_header(&mut self, value: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = value.into();
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, value: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = value;
    }

    /// Decrements the hop limit (no header checksum in IPv6); 0 stays 0.
    #[inline]
    pub fn decrement_hop_limit(&mut self) {
        let b = &mut self.buffer.as_mut()[field::HOP_LIMIT];
        *b = b.saturating_sub(1);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// The meaning of an IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// What follows the fixed header.
    pub next_header: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Validates and reads the header: `BadVersion`, then the `check_len` errors.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        match packet.buffer.as_ref().first() {
            None => return Err(Error::Truncated),
            Some(b) if b >> 4 != 6 => return Err(Error::BadVersion),
            Some(_) => {}
        }
        packet.check_len()?;
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes of header [`Repr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header; the payload is not touched. `payload_len` above 65535 is
    /// truncated modulo 2^16.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_ver_tc_flow(
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff),
        );
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ECHO6_REQUEST_FRAME, NEIGHBOR_SOLICIT_FRAME, UDP6_FRAME};
    use proptest::prelude::*;

    #[test]
    fn deconstruct_echo_request() {
        let packet = Packet::new_checked(&ECHO6_REQUEST_FRAME[14..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!(packet.traffic_class(), 0);
        assert_eq!(packet.flow_label(), 0x421a9);
        assert_eq!(packet.payload_len(), 64);
        assert_eq!(packet.next_header(), IpProtocol::Icmpv6);
        assert_eq!(packet.hop_limit(), 64);
        assert_eq!(packet.src_addr(), "fd99:1::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(packet.dst_addr(), "fd99:1::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(packet.payload()[0], 128);
    }

    #[test]
    fn neighbor_solicitation_header() {
        let repr =
            Repr::parse(&Packet::new_checked(&NEIGHBOR_SOLICIT_FRAME[14..]).unwrap()).unwrap();
        assert_eq!(repr.hop_limit, 255);
        assert!(repr.dst_addr.is_multicast());
        assert_eq!(repr.dst_addr, "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn ports_for_flow_hashing() {
        assert_eq!(
            Packet::new_checked(&UDP6_FRAME[14..]).unwrap().ports(),
            Some((38159, 9999))
        );
        assert_eq!(
            Packet::new_checked(&ECHO6_REQUEST_FRAME[14..])
                .unwrap()
                .ports(),
            None
        );
    }

    #[test]
    fn round_trip() {
        for frame in [
            &ECHO6_REQUEST_FRAME[..],
            &NEIGHBOR_SOLICIT_FRAME[..],
            &UDP6_FRAME[..],
        ] {
            let repr = Repr::parse(&Packet::new_checked(&frame[14..]).unwrap()).unwrap();
            let mut buf = frame[14..].to_vec();
            buf[..40].fill(0xff);
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
            assert_eq!(&buf[..], &frame[14..]);
        }
    }

    #[test]
    fn setters_keep_neighbouring_bits() {
        let mut buf = ECHO6_REQUEST_FRAME[14..].to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_traffic_class(0xb8);
        assert_eq!(
            (
                packet.version(),
                packet.traffic_class(),
                packet.flow_label()
            ),
            (6, 0xb8, 0x421a9)
        );
        packet.set_flow_label(0xfff_ffff);
        assert_eq!(
            (
                packet.version(),
                packet.traffic_class(),
                packet.flow_label()
            ),
            (6, 0xb8, 0xfffff)
        );
        packet.set_version(4);
        assert_eq!(packet.traffic_class(), 0xb8);
        packet.set_hop_limit(1);
        packet.decrement_hop_limit();
        packet.decrement_hop_limit();
        assert_eq!(packet.hop_limit(), 0);
        packet.payload_mut()[0] = 129;
        assert_eq!(buf[40], 129);
    }

    #[test]
    fn impossible_lengths_and_version() {
        let good = &ECHO6_REQUEST_FRAME[14..];
        assert_eq!(
            Packet::new_checked(&good[..39]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&good[..103]).unwrap_err(),
            Error::BadTotalLength
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&good[..103])),
            Err(Error::BadTotalLength)
        );
        let mut v4 = good.to_vec();
        v4[0] = 0x45;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&v4[..])),
            Err(Error::BadVersion)
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[][..])),
            Err(Error::Truncated)
        );
        let mut padded = good.to_vec();
        padded.extend_from_slice(&[0; 6]);
        assert_eq!(
            Packet::new_checked(&padded[..]).unwrap().payload().len(),
            64
        );
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(mut data in prop::collection::vec(any::<u8>(), 0..60), len in 0u16..30) {
            if data.len() >= 6 {
                data[4..6].copy_from_slice(&len.to_be_bytes());
            }
            if let Ok(mut packet) = Packet::new_checked(&mut data[..]) {
                let _ = (packet.version(), packet.flow_label(), packet.next_header(), packet.src_addr(),
                    packet.dst_addr(), packet.payload(), packet.as_bytes(), packet.ports());
                packet.payload_mut();
                packet.decrement_hop_limit();
            } else {
                prop_assert!(Repr::parse(&Packet::new_unchecked(&data[..])).is_err());
            }
        }
    }
}
