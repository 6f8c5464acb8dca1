//! ICMPv6 (RFC 4443): echo and the errors a router sends (destination unreachable, packet
//! too big, time exceeded), plus the target address of neighbor solicitations and
//! advertisements (RFC 4861) for the IPv6 issue. The checksum covers an IPv6 pseudo-header.
//!
//! The view covers one whole message, i.e. exactly the upper-layer payload of the IPv6
//! packet.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics ([`Packet::target_addr`] returns `None` on a message too short to hold one).
//!
//! Error messages quote the offending packet verbatim, as much as fits the IPv6 minimum MTU
//! (RFC 4443 section 2.4 (c)); see [`quote`].

use core::net::Ipv6Addr;

use super::bytes::{get_array, get_u16, get_u32, set_u16, set_u32};
use super::checksum::{self, Checksum, ChecksumCapabilities};
use super::ip::IpProtocol;
use super::{Error, Result, wire_enum};

wire_enum! {
    /// ICMPv6 message type.
    pub enum Message(u8) {
        /// Destination unreachable.
        DstUnreachable = 1,
        /// Packet too big (carries the MTU).
        PacketTooBig = 2,
        /// Time exceeded (code 0: hop limit).
        TimeExceeded = 3,
        /// Parameter problem.
        ParamProblem = 4,
        /// Echo request.
        EchoRequest = 128,
        /// Echo reply.
        EchoReply = 129,
        /// Multicast listener query.
        MldQuery = 130,
        /// Router solicitation.
        RouterSolicit = 133,
        /// Router advertisement.
        RouterAdvert = 134,
        /// Neighbor solicitation.
        NeighborSolicit = 135,
        /// Neighbor advertisement.
        NeighborAdvert = 136,
        /// Redirect.
        Redirect = 137,
        /// Multicast listener report v2.
        MldReport = 143,
    }
}

mod field {
    use crate::wire::field::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    /// MTU of "packet too big", pointer of "parameter problem", unused otherwise.
    pub const WORD: Field = 4..8;
    pub const DATA: Rest = 8..;
    /// Neighbor solicitation / advertisement target.
    pub const TARGET: Field = 8..24;
}

/// Length of the ICMPv6 header.
pub const HEADER_LEN: usize = field::DATA.start;

/// Most original-packet bytes an error quotes: 1280 - 40 (IPv6) - 8 (ICMPv6).
pub const MAX_QUOTE_LEN: usize = 1232;

/// The part of an offending IPv6 packet (starting at its header) an error quotes: up to
/// `MAX_QUOTE_LEN` (1232) bytes, never past its payload length or the buffer. Never panics.
#[inline]
pub fn quote(original: &[u8]) -> &[u8] {
    let mut len = original.len().min(MAX_QUOTE_LEN);
    if let [_, _, _, _, hi, lo, ..] = *original {
        len = len.min(40 + usize::from(u16::from_be_bytes([hi, lo])));
    }
    &original[..len]
}

/// A read/write view of an ICMPv6 message.
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

    /// Wraps a buffer and checks that the 8-byte header fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` when the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives the buffer back.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type.
    #[inline]
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as sent.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier.
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// MTU of "packet too big" (the 32-bit word after the checksum).
    #[inline]
    pub fn mtu(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::WORD)
    }

    /// Target address of a neighbor solicitation or advertisement, if the message is long
    /// enough to hold one (whatever its type).
    #[inline]
    pub fn target_addr(&self) -> Option<Ipv6Addr> {
        let data = self.buffer.as_ref();
        (data.len() >= field::TARGET.end)
            .then(|| Ipv6Addr::from(get_array::<16>(data, field::TARGET)))
    }

    /// Everything after the 8-byte header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// Whether the checksum verifies for a message from `src` to `dst`.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let data = self.buffer.as_ref();
        checksum::combine(&[
            checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32),
            checksum::sum(data),
        ]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// [`Packet::data`] with the buffer's lifetime, for `Repr`s that borrow it.
    #[inline]
    pub fn data_ref(&self) -> &'a [u8] {
        &self.buffer.as_ref()[field::DATA]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, value: Message) {
        self.buffer.as_mut()[field::TYPE] = value.into();
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets the 32-bit word after the checksum (MTU, pointer, or 0 where unused).
    #[inline]
    pub fn set_mtu(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::WORD, value);
    }

    /// The data after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Writes the checksum for a message from `src` to `dst` when `mode` is `Software`,
    /// else 0 (no NIC offloads ICMPv6).
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr, mode: Checksum) {
        self.set_checksum(0);
        if mode == Checksum::Software {
            let data = self.buffer.as_ref();
            let sum = checksum::combine(&[
                checksum::pseudo_header_v6(src, dst, IpProtocol::Icmpv6, data.len() as u32),
                checksum::sum(data),
            ]);
            self.set_checksum(checksum::finish(sum));
        }
    }
}

/// The meaning of the ICMPv6 messages the dataplane answers or sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data, echoed back by the reply.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier of the request.
        ident: u16,
        /// Sequence number of the request.
        seq_no: u16,
        /// Data of the request.
        data: &'a [u8],
    },
    /// Destination unreachable.
    DstUnreachable {
        /// 0 no route, 1 prohibited, 3 address unreachable, 4 port unreachable, ...
        code: u8,
        /// The offending packet from its IPv6 header on, as [`quote`] cuts it.
        quote: &'a [u8],
    },
    /// Packet too big.
    PacketTooBig {
        /// MTU of the next hop.
        mtu: u32,
        /// The offending packet from its IPv6 header on, as [`quote`] cuts it.
        quote: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// 0 hop limit exceeded in transit, 1 reassembly time exceeded.
        code: u8,
        /// The offending packet from its IPv6 header on, as [`quote`] cuts it.
        quote: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Reads a message from `src` to `dst`: the `check_len` error, then `BadChecksum` when
    /// `caps.icmpv6` says to verify, then `Unsupported` for types without a variant
    /// (neighbor discovery included: use the view).
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        caps: &ChecksumCapabilities,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        if caps.icmpv6.verify_rx() && !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        let data = packet.data_ref();
        match packet.msg_type() {
            Message::EchoRequest => Ok(Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Message::EchoReply => Ok(Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            Message::DstUnreachable => Ok(Repr::DstUnreachable {
                code: packet.msg_code(),
                quote: data,
            }),
            Message::PacketTooBig => Ok(Repr::PacketTooBig {
                mtu: packet.mtu(),
                quote: data,
            }),
            Message::TimeExceeded => Ok(Repr::TimeExceeded {
                code: packet.msg_code(),
                quote: data,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    /// The reply to an echo request (`None` for anything else).
    #[inline]
    pub fn echo_reply(&self) -> Option<Repr<'a>> {
        match *self {
            Repr::EchoRequest {
                ident,
                seq_no,
                data,
            } => Some(Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            _ => None,
        }
    }

    #[inline]
    const fn data(&self) -> &'a [u8] {
        match *self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => data,
            Repr::DstUnreachable { quote, .. }
            | Repr::PacketTooBig { quote, .. }
            | Repr::TimeExceeded { quote, .. } => quote,
        }
    }

    /// Bytes [`Repr::emit`] writes: header plus data.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message from `src` to `dst` and its checksum as `caps.icmpv6` says.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        caps: &ChecksumCapabilities,
    ) {
        let (kind, code, word) = match *self {
            Repr::EchoRequest { ident, seq_no, .. } => (
                Message::EchoRequest,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
            ),
            Repr::EchoReply { ident, seq_no, .. } => (
                Message::EchoReply,
                0,
                (u32::from(ident) << 16) | u32::from(seq_no),
            ),
            Repr::DstUnreachable { code, .. } => (Message::DstUnreachable, code, 0),
            Repr::PacketTooBig { mtu, .. } => (Message::PacketTooBig, 0, mtu),
            Repr::TimeExceeded { code, .. } => (Message::TimeExceeded, code, 0),
        };
        packet.set_msg_type(kind);
        packet.set_msg_code(code);
        packet.set_mtu(word);
        let data = self.data();
        packet.data_mut()[..data.len()].copy_from_slice(data);
        packet.fill_checksum(src, dst, caps.icmpv6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{
        ECHO6_REPLY_FRAME, ECHO6_REQUEST_FRAME, NEIGHBOR_SOLICIT_FRAME, TIME_EXCEEDED6_FRAME,
    };
    use crate::wire::ipv6::Packet as Ipv6Packet;
    use proptest::prelude::*;

    const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities::SOFTWARE;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn icmp(frame: &[u8]) -> &[u8] {
        &frame[54..]
    }

    #[test]
    fn echo_reply_matches_the_kernel() {
        let (host, router) = (addr("fd99:1::2"), addr("fd99:1::1"));
        let packet = Packet::new_checked(icmp(&ECHO6_REQUEST_FRAME)).unwrap();
        assert_eq!(packet.msg_type(), Message::EchoRequest);
        assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (0x2ec0, 1));
        assert!(packet.verify_checksum(&host, &router));
        // Swapped addresses sum the same; another address does not.
        assert!(packet.verify_checksum(&router, &host));
        assert!(!packet.verify_checksum(&host, &addr("fd99:1::3")));

        let request = Repr::parse(&packet, &host, &router, &SOFTWARE).unwrap();
        let reply = request.echo_reply().unwrap();
        let mut buf = vec![0u8; reply.buffer_len()];
        reply.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            &router,
            &host,
            &SOFTWARE,
        );
        assert_eq!(&buf[..], icmp(&ECHO6_REPLY_FRAME));
        // Another destination makes it a bad checksum.
        assert_eq!(
            Repr::parse(
                &Packet::new_checked(&buf[..]).unwrap(),
                &router,
                &addr("fd99:1::3"),
                &SOFTWARE
            ),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn time_exceeded_matches_the_kernel() {
        let ip = Ipv6Packet::new_checked(&TIME_EXCEEDED6_FRAME[14..]).unwrap();
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let repr = Repr::parse(
            &Packet::new_checked(ip.payload()).unwrap(),
            &src,
            &dst,
            &SOFTWARE,
        )
        .unwrap();
        let Repr::TimeExceeded {
            code,
            quote: quoted,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(code, 0);
        assert_eq!(quoted.len(), 104);
        let original = Ipv6Packet::new_checked(quoted).unwrap();
        assert_eq!(original.hop_limit(), 1);
        let ours = Repr::TimeExceeded {
            code: 0,
            quote: quote(quoted),
        };
        let mut buf = vec![0u8; ours.buffer_len()];
        ours.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            &src,
            &dst,
            &SOFTWARE,
        );
        assert_eq!(&buf[..], ip.payload());
    }

    #[test]
    fn packet_too_big_round_trip() {
        let (router, host) = (addr("fd99:1::1"), addr("fd99:1::2"));
        let original = &ECHO6_REQUEST_FRAME[14..];
        let repr = Repr::PacketTooBig {
            mtu: 1280,
            quote: quote(original),
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            &router,
            &host,
            &SOFTWARE,
        );
        assert_eq!(&buf[..8], &[2, 0, buf[2], buf[3], 0, 0, 0x05, 0x00]);
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.mtu(), 1280);
        assert_eq!(Repr::parse(&packet, &router, &host, &SOFTWARE), Ok(repr));
    }

    #[test]
    fn quote_cuts() {
        let echo = &ECHO6_REQUEST_FRAME[14..];
        assert_eq!(quote(echo).len(), 104);
        let mut big = vec![0u8; 2000];
        big[..40].copy_from_slice(&echo[..40]);
        big[4..6].copy_from_slice(&1960u16.to_be_bytes());
        assert_eq!(quote(&big).len(), MAX_QUOTE_LEN);
        assert_eq!(quote(&echo[..3]).len(), 3);
    }

    #[test]
    fn neighbor_solicitation_target() {
        let ip = Ipv6Packet::new_checked(&NEIGHBOR_SOLICIT_FRAME[14..]).unwrap();
        let packet = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(packet.msg_type(), Message::NeighborSolicit);
        assert_eq!(packet.target_addr(), Some(addr("fd99:1::1")));
        assert!(packet.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
        assert_eq!(
            Repr::parse(&packet, &ip.src_addr(), &ip.dst_addr(), &SOFTWARE),
            Err(Error::Unsupported)
        );
        assert_eq!(
            Packet::new_checked(&ip.payload()[..23])
                .unwrap()
                .target_addr(),
            None
        );
    }

    #[test]
    fn truncated_and_unknown() {
        assert_eq!(
            Packet::new_checked(&[128u8, 0, 0][..]).unwrap_err(),
            Error::Truncated
        );
        let data = [250u8, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Packet::new_checked(&data[..]).unwrap().msg_type(),
            Message::Unknown(250)
        );
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..40), kind in prop::sample::select(vec![1u8, 2, 3, 128, 129, 135])) {
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = kind; }
            let (a, b) = (addr("fe80::1"), addr("ff02::1"));
            if let Ok(packet) = Packet::new_checked(&data[..]) {
                let _ = (packet.msg_code(), packet.echo_ident(), packet.echo_seq_no(), packet.mtu(),
                    packet.target_addr(), packet.data(), quote(&data));
                if let Ok(repr) = Repr::parse(&packet, &a, &b, &ChecksumCapabilities::IGNORE) {
                    let mut out = vec![0u8; repr.buffer_len()];
                    repr.emit(&mut Packet::new_unchecked(&mut out[..]), &a, &b, &SOFTWARE);
                    prop_assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap(), &a, &b, &SOFTWARE), Ok(repr));
                }
            }
        }
    }
}
