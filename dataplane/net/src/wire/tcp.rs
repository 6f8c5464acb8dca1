//! TCP segment headers (RFC 9293), as much as a router needs: ports and flags for flow
//! hashing, header length, and the checksum for software fallback and offload preparation.
//! There is no TCP state machine here, so no `Repr`.
//!
//! TCP has no length field: the segment is the whole buffer, so the view must cover exactly
//! the IP payload (an IPv4 view's `payload()`), or the checksum covers the wrong bytes.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics: the fixed header fits, the data offset is at least 5, and the header with its
//! options fits in the buffer.

use super::bytes::{get_u16, get_u32, set_u16, set_u32};
use super::checksum::{self, Checksum, PseudoHeader};
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use crate::wire::field::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset in the top 4 bits, then reserved bits and the 9 flags.
    pub const OFFSET_FLAGS: Field = 12..14;
    pub const WINDOW: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// The TCP flag bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x001);
    /// Synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x002);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x004);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x008);
    /// The acknowledgment number is valid.
    pub const ACK: TcpFlags = TcpFlags(0x010);
    /// The urgent pointer is valid.
    pub const URG: TcpFlags = TcpFlags(0x020);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x040);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x080);

    /// Whether every bit of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets of flags.
    #[inline]
    pub const fn union(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }
}

/// A read/write view of a TCP segment.
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

    /// `Truncated` when the fixed header or the options do not fit, `BadLength` when the
    /// data offset is below 5.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if header_len > len {
            return Err(Error::Truncated);
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset x 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::OFFSET_FLAGS.start] >> 4) * 4
    }

    /// The flags.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(get_u16(self.buffer.as_ref(), field::OFFSET_FLAGS) & 0x01ff)
    }

    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum as sent.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options (empty with a 20-byte header).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum over the whole segment verifies against `pseudo`.
    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        let data = self.buffer.as_ref();
        checksum::combine(&[
            pseudo.sum(IpProtocol::Tcp, data.len() as u32),
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets the header length in bytes (a multiple of 4, 20..=60) and the flags.
    #[inline]
    pub fn set_header_len_and_flags(&mut self, header_len: usize, flags: TcpFlags) {
        let value = (((header_len / 4) as u16 & 0xf) << 12) | (flags.0 & 0x01ff);
        set_u16(self.buffer.as_mut(), field::OFFSET_FLAGS, value);
    }

    /// Sets the window.
    #[inline]
    pub fn set_window(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::WINDOW, value);
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Writes the checksum as `mode` says: `Software` computes it over the whole buffer;
    /// `Hardware` writes the pseudo-header sum a NIC doing `RTE_MBUF_F_TX_TCP_CKSUM`
    /// expects; `Omit` writes 0 (which no TCP receiver accepts: tests only).
    #[inline]
    pub fn fill_checksum(&mut self, pseudo: &PseudoHeader, mode: Checksum) {
        let pseudo_sum = pseudo.sum(IpProtocol::Tcp, self.buffer.as_ref().len() as u32);
        let value = match mode {
            Checksum::Software => {
                self.set_checksum(0);
                checksum::finish(checksum::combine(&[
                    pseudo_sum,
                    checksum::sum(self.buffer.as_ref()),
                ]))
            }
            Checksum::Hardware => pseudo_sum,
            Checksum::Omit => 0,
        };
        self.set_checksum(value);
    }

    /// Patches the checksum after bytes of the segment or its pseudo-header changed from
    /// `old` to `new` (same even length, at an even offset), RFC 1624.
    #[inline]
    pub fn patch_checksum(&mut self, old: &[u8], new: &[u8]) {
        let value = checksum::update(self.checksum(), old, new);
        self.set_checksum(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{TCP_RST_FRAME, TCP_SYN_FRAME};
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    fn from_host() -> PseudoHeader {
        PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 2),
            dst: Ipv4Addr::new(10, 99, 1, 1),
        }
    }

    fn from_router() -> PseudoHeader {
        PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 1),
            dst: Ipv4Addr::new(10, 99, 1, 2),
        }
    }

    #[test]
    fn deconstruct_syn() {
        let packet = Packet::new_checked(&TCP_SYN_FRAME[34..]).unwrap();
        assert_eq!(packet.src_port(), 52960);
        assert_eq!(packet.dst_port(), 8080);
        assert_eq!(packet.seq_number(), 0x4a8f_26bd);
        assert_eq!(packet.ack_number(), 0);
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), TcpFlags::SYN);
        assert_eq!(packet.window(), 64240);
        assert_eq!(packet.checksum(), 0x7175);
        assert_eq!(packet.urgent(), 0);
        assert_eq!(&packet.options()[..4], &[0x02, 0x04, 0x05, 0xb4]); // MSS 1460
        assert!(packet.payload().is_empty());
        assert!(packet.verify_checksum(&from_host()));
        let spoofed = PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 3),
            dst: Ipv4Addr::new(10, 99, 1, 1),
        };
        assert!(!packet.verify_checksum(&spoofed));
    }

    #[test]
    fn deconstruct_rst() {
        let packet = Packet::new_checked(&TCP_RST_FRAME[34..]).unwrap();
        assert_eq!(packet.header_len(), 20);
        assert!(packet.flags().contains(TcpFlags::RST.union(TcpFlags::ACK)));
        assert!(!packet.flags().contains(TcpFlags::SYN));
        assert_eq!(packet.ack_number(), 0x4a8f_26be);
        assert!(packet.verify_checksum(&from_router()));
    }

    #[test]
    fn fill_checksum_modes() {
        let mut buf = TCP_SYN_FRAME[34..].to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.fill_checksum(&from_host(), Checksum::Software);
        assert_eq!(packet.checksum(), 0x7175);
        packet.fill_checksum(&from_host(), Checksum::Hardware);
        assert_eq!(packet.checksum(), from_host().sum(IpProtocol::Tcp, 40));
        assert!(!packet.verify_checksum(&from_host()));
        packet.fill_checksum(&from_host(), Checksum::Omit);
        assert_eq!(packet.checksum(), 0);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 20];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_src_port(8080);
        packet.set_dst_port(52960);
        packet.set_seq_number(0);
        packet.set_ack_number(0x4a8f_26be);
        packet.set_header_len_and_flags(20, TcpFlags::RST.union(TcpFlags::ACK));
        packet.set_window(0);
        packet.set_urgent(0);
        packet.fill_checksum(&from_router(), Checksum::Software);
        assert_eq!(&buf[..], &TCP_RST_FRAME[34..]);
    }

    #[test]
    fn impossible_lengths() {
        let syn = &TCP_SYN_FRAME[34..];
        assert_eq!(
            Packet::new_checked(&syn[..19]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Packet::new_checked(&syn[..39]).unwrap_err(),
            Error::Truncated
        );
        let mut buf = syn.to_vec();
        buf[12] = 0x40;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::BadLength);
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..70)) {
            if let Ok(mut packet) = Packet::new_checked(data) {
                let _ = (packet.src_port(), packet.dst_port(), packet.seq_number(), packet.ack_number(),
                    packet.flags(), packet.window(), packet.urgent(), packet.options(), packet.payload());
                packet.fill_checksum(&from_host(), Checksum::Software);
                prop_assert!(packet.verify_checksum(&from_host()));
            }
        }

        #[test]
        fn port_patch_equals_recompute(port in any::<u16>()) {
            let mut buf = TCP_SYN_FRAME[34..].to_vec();
            let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
            let old = packet.src_port();
            packet.set_src_port(port);
            packet.patch_checksum(&old.to_be_bytes(), &port.to_be_bytes());
            let incremental = packet.checksum();
            packet.fill_checksum(&from_host(), Checksum::Software);
            prop_assert_eq!(incremental, packet.checksum());
        }
    }
}
