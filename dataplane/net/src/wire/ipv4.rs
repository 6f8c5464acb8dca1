//! IPv4 headers (RFC 791), with the in-place edits a router makes: TTL decrement and field
//! rewrites that patch the header checksum incrementally (RFC 1624).
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics: the buffer holds the fixed header, IHL >= 5, the header with its options fits,
//! and `header_len <= total_len <= buffer length` (so [`Packet::payload`] is in bounds;
//! bytes after `total_len`, such as Ethernet padding, are outside it). `check_len` does not
//! look at the version or the checksum: [`Repr::parse`] does, or call
//! [`Packet::verify_checksum`].
//!
//! [`Repr`] keeps what a router needs to build or rebuild a header, fragmentation fields
//! included. It does not keep options: `parse` skips them, `emit` writes IHL 5.

use core::net::Ipv4Addr;

use super::bytes::{get_array, get_u16, set_u16};
use super::checksum::{self, Checksum, ChecksumCapabilities};
use super::ip::IpProtocol;
use super::{Error, Result};

mod field {
    use crate::wire::field::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Longest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// Decrements the TTL of the header `h` and patches its checksum (RFC 1624: the TTL/protocol
/// word, one 16-bit word of the checksum, goes down by 0x0100, [`checksum::ttl_decrement_update`]). At TTL 0 nothing changes
/// (the protocol byte must not be borrowed from). For the graph's per-packet path, which has
/// the header as an array already; [`Packet::decrement_ttl`] is the view's form.
#[inline(always)]
pub fn decrement_ttl(h: &mut [u8; HEADER_LEN]) {
    if h[field::TTL] == 0 {
        return;
    }
    h[field::TTL] -= 1;
    let c = checksum::ttl_decrement_update(get_u16(h, field::CHECKSUM));
    set_u16(h, field::CHECKSUM, c);
}

/// A read/write view of an IPv4 packet.
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

    /// Checks the lengths every accessor relies on: `Truncated` (buffer shorter than 20
    /// bytes or than IHL says), `BadIhl` (IHL < 5), `BadTotalLength` (total length shorter
    /// than the header or longer than the buffer).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::BadIhl);
        }
        if len < header_len {
            return Err(Error::Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > len {
            return Err(Error::BadTotalLength);
        }
        Ok(())
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version nibble (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL x 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP/ECN byte (formerly TOS), copied to outer headers by tunnels.
    #[inline]
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Total length: header plus payload.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't fragment: a router must send "fragmentation needed" instead.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_DF != 0
    }

    /// More fragments follow.
    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (not first-and-last): more fragments or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Payload protocol.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as sent.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), field::SRC_ADDR))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), field::DST_ADDR))
    }

    /// Whether the header checksum verifies (a computed one; see [`Checksum::Software`]).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.header())
    }

    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }

    /// The options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The payload: from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// The packet as IPv4 sees it: header and payload, without any padding after.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.total_len())]
    }

    /// Source and destination ports of TCP, UDP or SCTP, for flow hashing (ECMP, the VXLAN
    /// source port). `None` for other protocols, for fragments after the first (they carry
    /// no transport header: hash them on addresses alone, or their flow would be split),
    /// and for a payload too short to hold the ports.
    #[inline]
    pub fn ports(&self) -> Option<(u16, u16)> {
        if !matches!(
            self.protocol(),
            IpProtocol::Tcp | IpProtocol::Udp | IpProtocol::Sctp
        ) || self.frag_offset() != 0
        {
            return None;
        }
        match *self.payload() {
            [a, b, c, d, ..] => Some((u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]))),
            _ => None,
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (version << 4);
    }

    /// Sets the DSCP/ECN byte.
    #[inline]
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = tos;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, ident);
    }

    /// Sets flags and fragment offset (in bytes; the low 3 bits are dropped) at once.
    #[inline]
    pub fn set_fragmentation(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let value = (if dont_frag { FLAG_DF } else { 0 })
            | (if more_frags { FLAG_MF } else { 0 })
            | ((offset >> 3) & OFFSET_MASK);
        set_u16(self.buffer.as_mut(), field::FLG_OFF, value);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the payload protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol.into();
    }

    /// Sets the header checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Writes the header checksum as `mode` says: computed (`Software`), or 0 for the NIC
    /// to fill (`Hardware`) or for nobody (`Omit`).
    #[inline]
    pub fn fill_checksum(&mut self, mode: Checksum) {
        self.set_checksum(0);
        if mode == Checksum::Software {
            let value = checksum::finish(checksum::sum(self.header()));
            self.set_checksum(value);
        }
    }

    /// Decrements the TTL and patches the checksum (RFC 1624). The caller has checked that
    /// the TTL is above 1 (a router sends "time exceeded" instead); at 0 it stays 0.
    #[inline]
    pub fn decrement_ttl(&mut self) {
        if let Some(h) = self.buffer.as_mut().first_chunk_mut::<HEADER_LEN>() {
            decrement_ttl(h);
        }
    }

    /// Sets the total length and patches the checksum (a precomputed tunnel header).
    #[inline]
    pub fn patch_total_len(&mut self, len: u16) {
        let old = self.total_len();
        self.set_total_len(len);
        self.set_checksum(checksum::update16(self.checksum(), old, len));
    }

    /// Sets the identification and patches the checksum.
    #[inline]
    pub fn patch_ident(&mut self, ident: u16) {
        let old = self.ident();
        self.set_ident(ident);
        self.set_checksum(checksum::update16(self.checksum(), old, ident));
    }

    /// Sets the source address and patches the header checksum (not any transport checksum).
    #[inline]
    pub fn patch_src_addr(&mut self, addr: Ipv4Addr) {
        let old = self.src_addr();
        self.set_src_addr(addr);
        self.set_checksum(checksum::update32(
            self.checksum(),
            old.to_bits(),
            addr.to_bits(),
        ));
    }

    /// Sets the destination address and patches the header checksum.
    #[inline]
    pub fn patch_dst_addr(&mut self, addr: Ipv4Addr) {
        let old = self.dst_addr();
        self.set_dst_addr(addr);
        self.set_checksum(checksum::update32(
            self.checksum(),
            old.to_bits(),
            addr.to_bits(),
        ));
    }

    /// The payload, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.header_len()..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }
}

/// The meaning of an IPv4 header (options excepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes (total length minus the header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// DSCP/ECN byte.
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
}

impl Repr {
    /// Validates and reads a header: `BadVersion`, then the [`Packet::check_len`] errors,
    /// then `BadChecksum` when `caps.ipv4` says to verify. Options are skipped.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, caps: &ChecksumCapabilities) -> Result<Repr> {
        // Version first: an IPv6 packet sent with the IPv4 EtherType is a version error,
        // whatever its lengths look like.
        match packet.buffer.as_ref().first() {
            None => return Err(Error::Truncated),
            Some(b) if b >> 4 != 4 => return Err(Error::BadVersion),
            Some(_) => {}
        }
        packet.check_len()?;
        if caps.ipv4.verify_rx() && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
            more_frags: packet.more_frags(),
            frag_offset: packet.frag_offset(),
        })
    }

    /// A plain, unfragmented header with DF clear, TOS 0 and identification 0.
    #[inline]
    pub const fn new(
        src_addr: Ipv4Addr,
        dst_addr: Ipv4Addr,
        protocol: IpProtocol,
        payload_len: usize,
        ttl: u8,
    ) -> Repr {
        Repr {
            src_addr,
            dst_addr,
            protocol,
            payload_len,
            ttl,
            tos: 0,
            ident: 0,
            dont_frag: false,
            more_frags: false,
            frag_offset: 0,
        }
    }

    /// Bytes of header [`Repr::emit`] writes (always 20: no options).
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the header (IHL 5) and its checksum as `caps.ipv4` says. The payload is not
    /// touched. `payload_len` above 65515 does not fit the total length field and is
    /// truncated modulo 2^16.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        caps: &ChecksumCapabilities,
    ) {
        packet.buffer.as_mut()[field::VER_IHL] = 0x45;
        packet.set_tos(self.tos);
        packet.set_total_len(self.buffer_len() as u16);
        packet.set_ident(self.ident);
        packet.set_fragmentation(self.dont_frag, self.more_frags, self.frag_offset);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum(caps.ipv4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{
        ECHO_REPLY_FRAME, ECHO_REQUEST_FRAME, FRAG_NEEDED_FRAME, UDP4_FRAME,
    };
    use proptest::prelude::*;

    const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities::SOFTWARE;

    fn ip(frame: &[u8]) -> &[u8] {
        &frame[14..]
    }

    #[test]
    fn deconstruct_echo_request() {
        let packet = Packet::new_checked(ip(&ECHO_REQUEST_FRAME)).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!(packet.tos(), 0);
        assert_eq!(packet.total_len(), 84);
        assert_eq!(packet.ident(), 0x7090);
        assert!(packet.dont_frag() && !packet.more_frags() && !packet.is_fragment());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.ttl(), 64);
        assert_eq!(packet.protocol(), IpProtocol::Icmp);
        assert_eq!(packet.checksum(), 0xb350);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 99, 1, 2));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(10, 99, 1, 1));
        assert!(packet.verify_checksum());
        assert!(packet.options().is_empty());
        assert_eq!(packet.payload().len(), 64);
        assert_eq!(packet.payload()[0], 8); // ICMP echo request
    }

    #[test]
    fn parse_and_emit_round_trip() {
        for frame in [
            &ECHO_REQUEST_FRAME[..],
            &ECHO_REPLY_FRAME[..],
            &UDP4_FRAME[..],
            &FRAG_NEEDED_FRAME[..],
        ] {
            let packet = Packet::new_checked(ip(frame)).unwrap();
            let repr = Repr::parse(&packet, &SOFTWARE).unwrap();
            let mut buf = ip(frame).to_vec();
            buf[..20].fill(0);
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &SOFTWARE);
            assert_eq!(&buf[..], ip(frame), "kernel and emit disagree");
        }
        let repr = Repr::parse(
            &Packet::new_checked(ip(&FRAG_NEEDED_FRAME)).unwrap(),
            &SOFTWARE,
        )
        .unwrap();
        assert_eq!(repr.tos, 0xc0);
        assert_eq!(repr.payload_len, 556);
        assert!(!repr.dont_frag);
    }

    #[test]
    fn construct_plain_header() {
        let repr = Repr::new(
            Ipv4Addr::new(192, 168, 0, 1),
            Ipv4Addr::new(192, 168, 0, 199),
            IpProtocol::Udp,
            95,
            64,
        );
        let repr = Repr {
            dont_frag: true,
            ..repr
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &SOFTWARE);
        assert_eq!(
            &buf[..20],
            &[
                0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
                0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7
            ]
        );
    }

    #[test]
    fn offloaded_checksum_is_zero() {
        let repr = Repr::parse(
            &Packet::new_checked(ip(&ECHO_REQUEST_FRAME)).unwrap(),
            &SOFTWARE,
        )
        .unwrap();
        for mode in [Checksum::Hardware, Checksum::Omit] {
            let mut buf = ip(&ECHO_REQUEST_FRAME).to_vec();
            let caps = ChecksumCapabilities {
                ipv4: mode,
                ..SOFTWARE
            };
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &caps);
            assert_eq!(&buf[10..12], &[0, 0]);
            // The receiver that trusts the NIC accepts it; one that verifies does not.
            let packet = Packet::new_checked(&buf[..]).unwrap();
            assert!(
                Repr::parse(
                    &packet,
                    &ChecksumCapabilities {
                        ipv4: Checksum::Hardware,
                        ..SOFTWARE
                    }
                )
                .is_ok()
            );
            assert_eq!(Repr::parse(&packet, &SOFTWARE), Err(Error::BadChecksum));
        }
    }

    #[test]
    fn bad_checksum_detected() {
        let mut buf = ip(&ECHO_REQUEST_FRAME).to_vec();
        buf[8] = 63; // TTL changed without the checksum
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Repr::parse(&packet, &SOFTWARE), Err(Error::BadChecksum));
        assert!(Repr::parse(&packet, &ChecksumCapabilities::IGNORE).is_ok());
    }

    #[test]
    fn impossible_lengths() {
        let good = ip(&ECHO_REQUEST_FRAME);
        type Mangle = dyn Fn(&mut Vec<u8>);
        let cases: [(&Mangle, Error); 7] = [
            (&|b| b.truncate(19), Error::Truncated),
            (&|b| b.clear(), Error::Truncated),
            (&|b| b[0] = 0x44, Error::BadIhl),
            (&|b| b[0] = 0x40, Error::BadIhl),
            (
                &|b| {
                    b[0] = 0x4f;
                    b.truncate(40)
                },
                Error::Truncated,
            ),
            (
                &|b| b[2..4].copy_from_slice(&19u16.to_be_bytes()),
                Error::BadTotalLength,
            ),
            (
                &|b| b[2..4].copy_from_slice(&85u16.to_be_bytes()),
                Error::BadTotalLength,
            ),
        ];
        for (i, (mangle, expected)) in cases.iter().enumerate() {
            let mut buf = good.to_vec();
            mangle(&mut buf);
            assert_eq!(
                Packet::new_checked(&buf[..]).unwrap_err(),
                *expected,
                "case {i}"
            );
            assert_eq!(
                Repr::parse(
                    &Packet::new_unchecked(&buf[..]),
                    &ChecksumCapabilities::IGNORE
                )
                .unwrap_err(),
                *expected,
                "case {i}"
            );
        }
        let mut v6 = good.to_vec();
        v6[0] = 0x65;
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&v6[..]), &SOFTWARE),
            Err(Error::BadVersion)
        );
    }

    #[test]
    fn padding_after_total_length_is_not_payload() {
        let mut buf = ip(&UDP4_FRAME).to_vec(); // 34 bytes of IPv4
        buf.resize(46, 0); // what a 60-byte Ethernet minimum adds
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.payload().len(), 14);
        assert_eq!(packet.as_bytes().len(), 34);
    }

    #[test]
    fn options_are_exposed_and_skipped() {
        // The echo request with a 4-byte option (NOP NOP NOP EOL) inserted.
        let mut buf = ip(&ECHO_REQUEST_FRAME)[..20].to_vec();
        buf.extend_from_slice(&[1, 1, 1, 0]);
        buf.extend_from_slice(&ip(&ECHO_REQUEST_FRAME)[20..]);
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&88u16.to_be_bytes());
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.fill_checksum(Checksum::Software);
        assert!(packet.verify_checksum());
        assert_eq!(packet.options(), &[1, 1, 1, 0]);
        let repr = Repr::parse(&packet, &SOFTWARE).unwrap();
        assert_eq!(repr.payload_len, 64);
        assert_eq!(packet.payload(), &ip(&ECHO_REQUEST_FRAME)[20..]);
    }

    #[test]
    fn fragments() {
        let mut buf = ip(&ECHO_REQUEST_FRAME).to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_fragmentation(false, true, 1480);
        assert!(packet.more_frags() && !packet.dont_frag() && packet.is_fragment());
        assert_eq!(packet.frag_offset(), 1480);
        packet.set_fragmentation(false, false, 8);
        assert!(packet.is_fragment());
        packet.set_fragmentation(true, false, 0);
        assert!(!packet.is_fragment());
    }

    #[test]
    fn router_edits_keep_the_checksum_valid() {
        let mut buf = ip(&ECHO_REQUEST_FRAME).to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.decrement_ttl();
        assert_eq!(packet.ttl(), 63);
        assert_eq!(packet.protocol(), IpProtocol::Icmp);
        assert!(packet.verify_checksum());
        packet.patch_src_addr(Ipv4Addr::new(192, 168, 50, 1));
        packet.patch_dst_addr(Ipv4Addr::new(255, 255, 255, 255));
        packet.patch_ident(0xffff);
        packet.patch_total_len(80);
        assert!(packet.verify_checksum());
        let incremental = packet.checksum();
        packet.fill_checksum(Checksum::Software);
        assert_eq!(packet.checksum(), incremental);
        assert_eq!(packet.total_len(), 80);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(192, 168, 50, 1));

        // TTL 0 stays 0 (and the protocol byte is never borrowed from).
        packet.set_ttl(0);
        packet.fill_checksum(Checksum::Software);
        packet.decrement_ttl();
        assert_eq!((packet.ttl(), packet.protocol()), (0, IpProtocol::Icmp));
        assert!(packet.verify_checksum());
    }

    #[test]
    fn ports_for_flow_hashing() {
        use crate::wire::fixtures::TCP_SYN_FRAME;
        let udp = Packet::new_checked(ip(&UDP4_FRAME)).unwrap();
        assert_eq!(udp.ports(), Some((40340, 9999)));
        assert_eq!(
            Packet::new_checked(ip(&TCP_SYN_FRAME)).unwrap().ports(),
            Some((52960, 8080))
        );
        assert_eq!(
            Packet::new_checked(ip(&ECHO_REQUEST_FRAME))
                .unwrap()
                .ports(),
            None
        );

        let mut buf = ip(&UDP4_FRAME).to_vec();
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.set_fragmentation(false, true, 0); // first fragment: ports present
        assert_eq!(packet.ports(), Some((40340, 9999)));
        packet.set_fragmentation(false, false, 8); // a later fragment: payload is not UDP
        assert_eq!(packet.ports(), None);

        let mut short = ip(&UDP4_FRAME)[..23].to_vec();
        short[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&short[..]).unwrap().ports(), None);
    }

    #[test]
    fn payload_mut_writes_the_payload() {
        let mut buf = ip(&UDP4_FRAME).to_vec();
        Packet::new_checked(&mut buf[..]).unwrap().payload_mut()[0] = 0xaa;
        assert_eq!(buf[20], 0xaa);
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(mut data in prop::collection::vec(any::<u8>(), 0..80), ihl in 0u8..16, total in 0u16..90) {
            if data.len() >= 4 {
                data[0] = 0x40 | ihl;
                data[2..4].copy_from_slice(&total.to_be_bytes());
            }
            let parsed = Repr::parse(&Packet::new_unchecked(&data[..]), &SOFTWARE);
            if let Ok(mut packet) = Packet::new_checked(&mut data[..]) {
                let _ = (packet.version(), packet.tos(), packet.ident(), packet.frag_offset(),
                    packet.ttl(), packet.protocol(), packet.src_addr(), packet.dst_addr(),
                    packet.verify_checksum(), packet.options(), packet.payload(), packet.as_bytes(),
                    packet.ports());
                packet.decrement_ttl();
                packet.payload_mut();
                packet.fill_checksum(Checksum::Software);
                prop_assert!(packet.verify_checksum());
            } else {
                prop_assert!(parsed.is_err());
            }
        }

        #[test]
        fn every_truncation_of_a_real_packet_is_refused(cut in 0usize..84) {
            let data = &ip(&ECHO_REQUEST_FRAME)[..cut];
            prop_assert!(Packet::new_checked(data).is_err());
            prop_assert!(Repr::parse(&Packet::new_unchecked(data), &SOFTWARE).is_err());
        }

        #[test]
        fn patches_equal_recompute(ttl in 2u8.., src in any::<u32>(), len in 20u16..84, ident in any::<u16>()) {
            let mut buf = ip(&ECHO_REQUEST_FRAME).to_vec();
            let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
            packet.set_ttl(ttl);
            packet.fill_checksum(Checksum::Software);
            packet.decrement_ttl();
            packet.patch_src_addr(Ipv4Addr::from_bits(src));
            packet.patch_total_len(len);
            packet.patch_ident(ident);
            let incremental = packet.checksum();
            packet.fill_checksum(Checksum::Software);
            prop_assert_eq!(incremental, packet.checksum());
            prop_assert_eq!(packet.ttl(), ttl - 1);
        }
    }
}
