//! UDP datagrams (RFC 768), over IPv4 or IPv6, with the checksum rules a tunnel endpoint
//! needs: over IPv4 a zero checksum means "none" (VXLAN outer headers, RFC 7348), a computed
//! zero is sent as 0xFFFF, and over IPv6 a zero checksum is invalid (RFC 8200).
//!
//! The view should cover the IP payload; the datagram is the first `len()` bytes of it.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics: the header fits and `8 <= len() <= buffer length`.

use super::bytes::{get_u16, set_u16};
use super::checksum::{self, Checksum, ChecksumCapabilities, PseudoHeader};
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use crate::wire::field::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A read/write view of a UDP datagram.
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

    /// `Truncated` when the header does not fit, `BadLength` when the length field is below
    /// 8 or beyond the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let buffer_len = self.buffer.as_ref().len();
        if buffer_len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > buffer_len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header plus payload.
    #[inline]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the datagram carries no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum as sent (0: none, over IPv4).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The datagram: header and payload, without what follows `len()`.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.len())]
    }

    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// Whether the checksum verifies against `pseudo`. A zero checksum over IPv4 means
    /// "none" and verifies; over IPv6 it does not.
    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return pseudo.is_v4();
        }
        let data = self.as_bytes();
        checksum::combine(&[
            pseudo.sum(IpProtocol::Udp, u32::from(self.len())),
            checksum::sum(data),
        ]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets the length field.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Writes the checksum as `mode` says, over the header and payload already in place:
    /// `Software` computes it (a computed 0 is sent as 0xFFFF); `Hardware` writes the
    /// pseudo-header sum, what a NIC doing `RTE_MBUF_F_TX_UDP_CKSUM` (or a kernel
    /// CHECKSUM_PARTIAL skb) expects; `Omit` writes 0 ("none", valid over IPv4 only).
    #[inline]
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader, mode: Checksum) {
        let pseudo_sum = pseudo.sum(IpProtocol::Udp, u32::from(self.len()));
        let value = match mode {
            Checksum::Software => {
                self.set_checksum(0);
                match checksum::finish(checksum::combine(&[
                    pseudo_sum,
                    checksum::sum(self.as_bytes()),
                ])) {
                    0 => 0xffff,
                    c => c,
                }
            }
            Checksum::Hardware => pseudo_sum,
            Checksum::Omit => 0,
        };
        self.set_checksum(value);
    }

    /// Patches a computed checksum after bytes of the datagram or its pseudo-header changed
    /// from `old` to `new` (same even length, at an even offset), RFC 1624. A zero
    /// checksum ("none") stays zero; a result of 0 is sent as 0xFFFF. Not for a field holding
    /// a `Hardware` pseudo-header sum: refill that one.
    #[inline]
    pub fn patch_checksum(&mut self, old: &[u8], new: &[u8]) {
        let current = self.checksum();
        if current == 0 {
            return;
        }
        let value = match checksum::update(current, old, new) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(value);
    }
}

/// The meaning of a UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Validates and reads a header: the `check_len` errors, then `BadChecksum` when
    /// `caps.udp` says to verify.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        pseudo: &PseudoHeader,
        caps: &ChecksumCapabilities,
    ) -> Result<Repr> {
        packet.check_len()?;
        if caps.udp.verify_rx() && !packet.verify_checksum(pseudo) {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()) - HEADER_LEN,
        })
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header, then the checksum as `caps.udp` says over the payload **already
    /// in the buffer** (write the payload first, or prepend this header to it).
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        pseudo: &PseudoHeader,
        caps: &ChecksumCapabilities,
    ) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(self.buffer_len() as u16);
        packet.fill_checksum(pseudo, caps.udp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{UDP4_FRAME, UDP4_PARTIAL_FRAME, UDP6_FRAME};
    use core::net::{Ipv4Addr, Ipv6Addr};
    use proptest::prelude::*;

    const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities::SOFTWARE;

    fn v4() -> PseudoHeader {
        PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 2),
            dst: Ipv4Addr::new(10, 99, 1, 1),
        }
    }

    fn v6() -> PseudoHeader {
        PseudoHeader::V6 {
            src: "fd99:1::2".parse::<Ipv6Addr>().unwrap(),
            dst: "fd99:1::1".parse::<Ipv6Addr>().unwrap(),
        }
    }

    #[test]
    fn deconstruct_v4() {
        let packet = Packet::new_checked(&UDP4_FRAME[34..]).unwrap();
        assert_eq!(packet.src_port(), 40340);
        assert_eq!(packet.dst_port(), 9999);
        assert_eq!(packet.len(), 14);
        assert_eq!(packet.checksum(), 0xe089);
        assert_eq!(packet.payload(), b"hello\n");
        assert!(packet.verify_checksum(&v4()));
        // The same bytes do not verify for other addresses.
        let other = PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 3),
            dst: Ipv4Addr::new(10, 99, 1, 1),
        };
        assert!(!packet.verify_checksum(&other));
    }

    #[test]
    fn emit_matches_the_kernel_v4_and_v6() {
        for (frame, at, pseudo) in [(&UDP4_FRAME[..], 34, v4()), (&UDP6_FRAME[..], 54, v6())] {
            let repr = Repr::parse(
                &Packet::new_checked(&frame[at..]).unwrap(),
                &pseudo,
                &SOFTWARE,
            )
            .unwrap();
            let mut buf = frame[at..].to_vec();
            buf[..8].fill(0);
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &pseudo, &SOFTWARE);
            assert_eq!(&buf[..], &frame[at..]);
        }
        let repr = Repr::parse(
            &Packet::new_checked(&UDP6_FRAME[54..]).unwrap(),
            &v6(),
            &SOFTWARE,
        )
        .unwrap();
        assert_eq!(
            repr,
            Repr {
                src_port: 38159,
                dst_port: 9999,
                payload_len: 7
            }
        );
    }

    #[test]
    fn hardware_mode_writes_what_the_kernel_leaves_for_the_nic() {
        // The kernel's CHECKSUM_PARTIAL datagram holds the pseudo-header sum; ours must too,
        // and finishing it in software must give a checksum that verifies.
        let kernel = &UDP4_PARTIAL_FRAME[34..];
        let mut buf = kernel.to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_checksum(0x1234);
        packet.fill_checksum(&v4(), Checksum::Hardware);
        assert_eq!(packet.checksum(), 0x16e8);
        assert_eq!(&buf[..], kernel);
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        assert!(!packet.verify_checksum(&v4()));
        packet.fill_checksum(&v4(), Checksum::Software);
        assert!(packet.verify_checksum(&v4()));
    }

    #[test]
    fn zero_checksum_means_none_over_ipv4_only() {
        let mut buf = UDP4_FRAME[34..].to_vec();
        let caps = ChecksumCapabilities {
            udp: Checksum::Omit,
            ..SOFTWARE
        };
        let repr = Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), &v4(), &SOFTWARE).unwrap();
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &v4(), &caps);
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.checksum(), 0);
        assert!(packet.verify_checksum(&v4()));
        assert!(Repr::parse(&packet, &v4(), &SOFTWARE).is_ok());
        assert!(!packet.verify_checksum(&v6()));
        assert_eq!(
            Repr::parse(&packet, &v6(), &SOFTWARE),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn computed_zero_is_sent_as_ffff() {
        // Choose the payload so the datagram sums to all ones: the checksum computes to 0.
        let mut buf = [0u8; 10];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_src_port(4789);
        packet.set_dst_port(4789);
        packet.set_len(10);
        let pseudo = v4();
        let partial = checksum::combine(&[
            pseudo.sum(IpProtocol::Udp, 10),
            checksum::sum(&packet.buffer[..]),
        ]);
        packet
            .payload_mut()
            .copy_from_slice(&(!partial).to_be_bytes());
        packet.fill_checksum(&pseudo, Checksum::Software);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum(&pseudo));
        // And an incremental patch that lands on 0 also sends 0xFFFF.
        packet.set_src_port(4790);
        packet.fill_checksum(&pseudo, Checksum::Software);
        let before = packet.checksum();
        packet.set_src_port(4789);
        packet.patch_checksum(&4790u16.to_be_bytes(), &4789u16.to_be_bytes());
        assert_ne!(before, 0xffff);
        assert_eq!(packet.checksum(), 0xffff);
    }

    #[test]
    fn bad_checksum_detected() {
        let mut buf = UDP4_FRAME[34..].to_vec();
        buf[8] = b'j';
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet, &v4(), &SOFTWARE),
            Err(Error::BadChecksum)
        );
        let trusted = ChecksumCapabilities {
            udp: Checksum::Hardware,
            ..SOFTWARE
        };
        assert!(Repr::parse(&packet, &v4(), &trusted).is_ok());
    }

    #[test]
    fn impossible_lengths() {
        let good = &UDP4_FRAME[34..];
        assert_eq!(
            Packet::new_checked(&good[..7]).unwrap_err(),
            Error::Truncated
        );
        for bad_len in [0u16, 7, 15, 0xffff] {
            let mut buf = good.to_vec();
            buf[4..6].copy_from_slice(&bad_len.to_be_bytes());
            assert_eq!(
                Packet::new_checked(&buf[..]).unwrap_err(),
                Error::BadLength,
                "len {bad_len}"
            );
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&buf[..]), &v4(), &SOFTWARE),
                Err(Error::BadLength)
            );
        }
        // Trailing bytes beyond the length field are not payload.
        let mut padded = good.to_vec();
        padded.extend_from_slice(&[0xee; 4]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.payload(), b"hello\n");
        assert!(packet.verify_checksum(&v4()));
        // An empty datagram.
        let mut empty = good[..8].to_vec();
        empty[4..6].copy_from_slice(&8u16.to_be_bytes());
        let mut packet = Packet::new_checked(&mut empty[..]).unwrap();
        assert!(packet.is_empty());
        packet.fill_checksum(&v6(), Checksum::Software);
        assert!(packet.verify_checksum(&v6()));
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..30), len in 0u16..40) {
            let mut data = data;
            if data.len() >= 6 {
                data[4..6].copy_from_slice(&len.to_be_bytes());
            }
            match Packet::new_checked(&mut data[..]) {
                Ok(mut packet) => {
                    let _ = (packet.src_port(), packet.dst_port(), packet.payload(), packet.verify_checksum(&v6()));
                    packet.payload_mut();
                    packet.fill_checksum(&v6(), Checksum::Software);
                    prop_assert!(packet.verify_checksum(&v6()));
                }
                Err(_) => prop_assert!(Repr::parse(&Packet::new_unchecked(&data[..]), &v4(), &SOFTWARE).is_err()),
            }
        }

        #[test]
        fn patch_equals_recompute(port in any::<u16>(), addr in any::<u32>()) {
            // A NAT-like rewrite of the destination port and of the pseudo-header source.
            let mut buf = UDP4_FRAME[34..].to_vec();
            let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
            let old_port = packet.dst_port();
            packet.set_dst_port(port);
            packet.patch_checksum(&old_port.to_be_bytes(), &port.to_be_bytes());
            let new_src = Ipv4Addr::from_bits(addr);
            packet.patch_checksum(&Ipv4Addr::new(10, 99, 1, 2).octets(), &new_src.octets());
            let pseudo = PseudoHeader::V4 { src: new_src, dst: Ipv4Addr::new(10, 99, 1, 1) };
            prop_assert!(packet.verify_checksum(&pseudo));
            let incremental = packet.checksum();
            packet.fill_checksum(&pseudo, Checksum::Software);
            prop_assert_eq!(incremental, packet.checksum());
        }
    }
}
