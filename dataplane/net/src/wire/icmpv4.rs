//! ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU): echo, and the errors a router
//! sends (destination unreachable / fragmentation needed, time exceeded).
//!
//! The view covers one whole ICMP message, i.e. exactly the IPv4 payload: the checksum runs
//! over all of it, with no pseudo-header.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics.
//!
//! Error messages carry the offending packet's bytes verbatim ([`Repr::DstUnreachable`]'s and
//! [`Repr::TimeExceeded`]'s `quote`), options included, as [`quote`] cuts them: as much as
//! fits a 576-byte ICMP datagram (RFC 1812 section 4.3.2.3, what Linux sends), and never less
//! than the IP header plus 8 bytes (RFC 792) when the packet has them.

use super::bytes::{get_u16, set_u16};
use super::checksum::{self, Checksum, ChecksumCapabilities};
use super::{Error, Result, wire_enum};

wire_enum! {
    /// ICMPv4 message type.
    pub enum Message(u8) {
        /// Echo reply.
        EchoReply = 0,
        /// Destination unreachable (see [`DstUnreachable`] for codes).
        DstUnreachable = 3,
        /// Redirect.
        Redirect = 5,
        /// Echo request.
        EchoRequest = 8,
        /// Router advertisement.
        RouterAdvert = 9,
        /// Router solicitation.
        RouterSolicit = 10,
        /// Time exceeded (see [`TimeExceeded`] for codes).
        TimeExceeded = 11,
        /// Parameter problem.
        ParamProblem = 12,
        /// Timestamp request.
        Timestamp = 13,
        /// Timestamp reply.
        TimestampReply = 14,
    }
}

wire_enum! {
    /// Codes of "destination unreachable".
    pub enum DstUnreachable(u8) {
        /// Network unreachable (no route).
        NetUnreachable = 0,
        /// Host unreachable (next hop does not answer ARP).
        HostUnreachable = 1,
        /// Protocol unreachable.
        ProtoUnreachable = 2,
        /// Port unreachable.
        PortUnreachable = 3,
        /// Fragmentation needed and DF set; carries the next-hop MTU.
        FragRequired = 4,
        /// Source route failed.
        SrcRouteFailed = 5,
        /// Destination network unknown.
        DstNetUnknown = 6,
        /// Destination host unknown.
        DstHostUnknown = 7,
        /// Source host isolated.
        SrcHostIsolated = 8,
        /// Network administratively prohibited.
        NetProhibited = 9,
        /// Host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for TOS.
        NetUnreachToS = 11,
        /// Host unreachable for TOS.
        HostUnreachToS = 12,
        /// Communication administratively prohibited (a filter).
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedViol = 14,
        /// Precedence cutoff in effect.
        PrecedCutoff = 15,
    }
}

wire_enum! {
    /// Codes of "time exceeded".
    pub enum TimeExceeded(u8) {
        /// TTL reached zero in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

mod field {
    use crate::wire::field::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    /// RFC 1191: the low half of the "unused" word of "fragmentation needed".
    pub const NEXT_HOP_MTU: Field = 6..8;
    pub const UNUSED: Field = 4..8;
    pub const DATA: Rest = 8..;
}

/// Length of the ICMP header (type, code, checksum, and the 4-byte rest of header).
pub const HEADER_LEN: usize = field::DATA.start;

/// Most original-packet bytes an error quotes: 576 - 20 (IPv4) - 8 (ICMP).
pub const MAX_QUOTE_LEN: usize = 548;

/// The part of an offending IPv4 packet (starting at its IP header) an ICMP error quotes:
/// up to `MAX_QUOTE_LEN` (548) bytes, never past its total length or the buffer. Never panics.
#[inline]
pub fn quote(original: &[u8]) -> &[u8] {
    let mut len = original.len().min(MAX_QUOTE_LEN);
    if let [_, _, hi, lo, ..] = *original {
        let total = usize::from(u16::from_be_bytes([hi, lo]));
        // A bogus total length shorter than the header + 8 must not shrink the quote below
        // the minimum RFC 792 asks for.
        let ihl = usize::from(original[0] & 0x0f) * 4;
        len = len.min(total.max(ihl + 8));
    }
    &original[..len]
}

/// A read/write view of an ICMPv4 message.
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

    /// Message code (its meaning depends on the type).
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

    /// Next-hop MTU of "fragmentation needed" (0 from pre-RFC 1191 routers).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the quoted packet of an error.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// Whether the checksum over the whole message verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verifies(self.buffer.as_ref())
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

    /// Clears the 4-byte rest of header, then sets the next-hop MTU in its low half.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        self.buffer.as_mut()[field::UNUSED].fill(0);
        set_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    /// The data after the header, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// Writes the checksum over the whole message when `mode` is `Software`, else 0 (no
    /// NIC offloads ICMP: ports should keep `icmpv4` at `Software`).
    #[inline]
    pub fn fill_checksum(&mut self, mode: Checksum) {
        self.set_checksum(0);
        if mode == Checksum::Software {
            let value = checksum::finish(checksum::sum(self.buffer.as_ref()));
            self.set_checksum(value);
        }
    }
}

/// The meaning of the ICMPv4 messages the dataplane answers or sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr<'a> {
    /// Echo request ("ping").
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
    /// Destination unreachable, including "fragmentation needed".
    DstUnreachable {
        /// Why.
        reason: DstUnreachable,
        /// Next-hop MTU for `FragRequired`; 0 for the other codes.
        next_hop_mtu: u16,
        /// The offending packet from its IP header on, as [`quote`] cuts it.
        quote: &'a [u8],
    },
    /// Time exceeded.
    TimeExceeded {
        /// Why.
        reason: TimeExceeded,
        /// The offending packet from its IP header on, as [`quote`] cuts it.
        quote: &'a [u8],
    },
}

impl<'a> Repr<'a> {
    /// Reads a message: the `check_len` error, then `BadChecksum` when `caps.icmpv4` says to
    /// verify, then `Unsupported` for types without a variant.
    #[inline]
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        caps: &ChecksumCapabilities,
    ) -> Result<Repr<'a>> {
        packet.check_len()?;
        if caps.icmpv4.verify_rx() && !packet.verify_checksum() {
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
                reason: DstUnreachable::from(packet.msg_code()),
                next_hop_mtu: packet.next_hop_mtu(),
                quote: data,
            }),
            Message::TimeExceeded => Ok(Repr::TimeExceeded {
                reason: TimeExceeded::from(packet.msg_code()),
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

    /// The data after the header.
    #[inline]
    const fn data(&self) -> &'a [u8] {
        match *self {
            Repr::EchoRequest { data, .. } | Repr::EchoReply { data, .. } => data,
            Repr::DstUnreachable { quote, .. } | Repr::TimeExceeded { quote, .. } => quote,
        }
    }

    /// Bytes [`Repr::emit`] writes: header plus data.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data().len()
    }

    /// Writes the message and its checksum as `caps.icmpv4` says.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::buffer_len`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        caps: &ChecksumCapabilities,
    ) {
        match *self {
            Repr::EchoRequest { ident, seq_no, .. } | Repr::EchoReply { ident, seq_no, .. } => {
                let kind = if matches!(self, Repr::EchoRequest { .. }) {
                    Message::EchoRequest
                } else {
                    Message::EchoReply
                };
                packet.set_msg_type(kind);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
            }
            Repr::DstUnreachable {
                reason,
                next_hop_mtu,
                ..
            } => {
                packet.set_msg_type(Message::DstUnreachable);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(next_hop_mtu);
            }
            Repr::TimeExceeded { reason, .. } => {
                packet.set_msg_type(Message::TimeExceeded);
                packet.set_msg_code(reason.into());
                packet.set_next_hop_mtu(0);
            }
        }
        let data = self.data();
        packet.data_mut()[..data.len()].copy_from_slice(data);
        packet.fill_checksum(caps.icmpv4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{
        ECHO_REPLY_FRAME, ECHO_REQUEST_FRAME, FRAG_NEEDED_FRAME, PORT_UNREACHABLE_FRAME,
        TIME_EXCEEDED_FRAME,
    };
    use crate::wire::ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
    use proptest::prelude::*;

    const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities::SOFTWARE;

    /// The ICMP message of an untagged IPv4 frame without options.
    fn icmp(frame: &[u8]) -> &[u8] {
        &frame[34..]
    }

    /// Builds a whole ICMP error the way ip4-rewrite will: an IPv4 header from the router to
    /// the offender's source, then the message. Returns the IPv4 packet.
    fn build_error(router_header: Ipv4Repr, repr: &Repr<'_>) -> Vec<u8> {
        let ip_repr = Ipv4Repr {
            payload_len: repr.buffer_len(),
            ..router_header
        };
        let mut buf = vec![0u8; ip_repr.buffer_len()];
        let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
        ip_repr.emit(&mut ip, &SOFTWARE);
        repr.emit(&mut Packet::new_unchecked(ip.payload_mut()), &SOFTWARE);
        buf
    }

    #[test]
    fn deconstruct_echo_request() {
        let packet = Packet::new_checked(icmp(&ECHO_REQUEST_FRAME)).unwrap();
        assert_eq!(packet.msg_type(), Message::EchoRequest);
        assert_eq!(packet.msg_code(), 0);
        assert_eq!(packet.checksum(), 0xe0e5);
        assert_eq!(packet.echo_ident(), 0x2eba);
        assert_eq!(packet.echo_seq_no(), 1);
        assert_eq!(packet.data().len(), 56);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn echo_reply_matches_the_kernel() {
        let request = Repr::parse(
            &Packet::new_checked(icmp(&ECHO_REQUEST_FRAME)).unwrap(),
            &SOFTWARE,
        )
        .unwrap();
        let reply = request.echo_reply().unwrap();
        let mut buf = vec![0u8; reply.buffer_len()];
        reply.emit(&mut Packet::new_unchecked(&mut buf[..]), &SOFTWARE);
        assert_eq!(&buf[..], icmp(&ECHO_REPLY_FRAME));
        assert_eq!(reply.echo_reply(), None);
        let parsed = Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), &SOFTWARE).unwrap();
        assert_eq!(parsed, reply);
    }

    #[test]
    fn time_exceeded_matches_the_kernel() {
        let ip = Ipv4Packet::new_checked(&TIME_EXCEEDED_FRAME[14..]).unwrap();
        let router = Ipv4Repr::parse(&ip, &SOFTWARE).unwrap();
        let repr = Repr::parse(&Packet::new_checked(ip.payload()).unwrap(), &SOFTWARE).unwrap();
        let Repr::TimeExceeded {
            reason,
            quote: quoted,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!(reason, TimeExceeded::TtlExpired);
        assert_eq!(quoted.len(), 84);
        let original = Ipv4Packet::new_checked(quoted).unwrap();
        assert_eq!(original.ttl(), 1); // quoted as received, before any decrement
        assert_eq!(original.dst_addr(), core::net::Ipv4Addr::new(10, 99, 2, 2));

        // Build it from the original packet alone, as ip4-rewrite will.
        let ours = Repr::TimeExceeded {
            reason: TimeExceeded::TtlExpired,
            quote: quote(quoted),
        };
        assert_eq!(build_error(router, &ours), &TIME_EXCEEDED_FRAME[14..]);
    }

    #[test]
    fn frag_needed_matches_the_kernel() {
        let ip = Ipv4Packet::new_checked(&FRAG_NEEDED_FRAME[14..]).unwrap();
        let router = Ipv4Repr::parse(&ip, &SOFTWARE).unwrap();
        let repr = Repr::parse(&Packet::new_checked(ip.payload()).unwrap(), &SOFTWARE).unwrap();
        let Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            quote: quoted,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!((reason, next_hop_mtu), (DstUnreachable::FragRequired, 1280));
        assert_eq!(quoted.len(), MAX_QUOTE_LEN);
        // The original was 1428 bytes; the quote stops at 548.
        assert_eq!(Ipv4Packet::new_unchecked(quoted).total_len(), 1428);
        assert_eq!(quote(quoted).len(), MAX_QUOTE_LEN);

        let ours = Repr::DstUnreachable {
            reason: DstUnreachable::FragRequired,
            next_hop_mtu: 1280,
            quote: quote(quoted),
        };
        assert_eq!(build_error(router, &ours), &FRAG_NEEDED_FRAME[14..]);
    }

    #[test]
    fn port_unreachable() {
        let repr = Repr::parse(
            &Packet::new_checked(icmp(&PORT_UNREACHABLE_FRAME)).unwrap(),
            &SOFTWARE,
        )
        .unwrap();
        let Repr::DstUnreachable {
            reason,
            next_hop_mtu,
            quote,
        } = repr
        else {
            panic!("{repr:?}")
        };
        assert_eq!((reason, next_hop_mtu), (DstUnreachable::PortUnreachable, 0));
        assert_eq!(quote.len(), 34); // the whole 34-byte UDP datagram
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &SOFTWARE);
        assert_eq!(&buf[..], icmp(&PORT_UNREACHABLE_FRAME));
    }

    #[test]
    fn quote_cuts() {
        let echo = &ECHO_REQUEST_FRAME[14..];
        assert_eq!(quote(echo).len(), 84);
        // Padding after the total length is not quoted.
        let mut padded = echo.to_vec();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(quote(&padded).len(), 84);
        // A lying total length still gets header + 8.
        let mut lying = echo.to_vec();
        lying[2..4].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(quote(&lying).len(), 28);
        assert_eq!(quote(&echo[..10]).len(), 10);
        assert_eq!(quote(&[]).len(), 0);
    }

    #[test]
    fn bad_checksum_and_unknown_types() {
        let mut buf = icmp(&ECHO_REQUEST_FRAME).to_vec();
        buf[20] ^= 0xff;
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&packet, &SOFTWARE), Err(Error::BadChecksum));
        assert!(Repr::parse(&packet, &ChecksumCapabilities::IGNORE).is_ok());

        let mut buf = icmp(&ECHO_REQUEST_FRAME).to_vec();
        buf[0] = 13; // timestamp
        let mut packet = Packet::new_checked(&mut buf[..]).unwrap();
        packet.fill_checksum(Checksum::Software);
        assert_eq!(packet.msg_type(), Message::Timestamp);
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap(), &SOFTWARE),
            Err(Error::Unsupported)
        );
        buf[0] = 200;
        assert_eq!(
            Packet::new_unchecked(&buf[..]).msg_type(),
            Message::Unknown(200)
        );
    }

    #[test]
    fn zero_checksum_when_not_software() {
        let repr = Repr::EchoRequest {
            ident: 1,
            seq_no: 2,
            data: b"abc",
        };
        let mut buf = [0xffu8; 11];
        repr.emit(
            &mut Packet::new_unchecked(&mut buf[..]),
            &ChecksumCapabilities::IGNORE,
        );
        assert_eq!(&buf[2..4], &[0, 0]);
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &SOFTWARE);
        assert!(Packet::new_checked(&buf[..]).unwrap().verify_checksum());
        assert_eq!(&buf[8..], b"abc");
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&[8u8, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[8u8][..]), &SOFTWARE),
            Err(Error::Truncated)
        );
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..40), kind in prop::sample::select(vec![0u8, 3, 8, 11, 5])) {
            let mut data = data;
            if let Some(b) = data.first_mut() { *b = kind; }
            match Packet::new_checked(&data[..]) {
                Ok(packet) => {
                    let _ = (packet.msg_code(), packet.checksum(), packet.echo_ident(),
                        packet.echo_seq_no(), packet.next_hop_mtu(), packet.data());
                    if let Ok(repr) = Repr::parse(&packet, &ChecksumCapabilities::IGNORE) {
                        let mut out = vec![0u8; repr.buffer_len()];
                        repr.emit(&mut Packet::new_unchecked(&mut out[..]), &SOFTWARE);
                        prop_assert_eq!(Repr::parse(&Packet::new_checked(&out[..]).unwrap(), &SOFTWARE), Ok(repr));
                    }
                    let _ = quote(&data);
                }
                Err(e) => prop_assert_eq!(e, Error::Truncated),
            }
        }
    }
}
