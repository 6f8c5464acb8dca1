//! ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses: the only pairing the
//! dataplane resolves.
//!
//! The view reads the fixed 28-byte Ethernet/IPv4 layout. The hardware/protocol types and
//! address lengths are readable, and [`Repr::parse`] refuses any other pairing with
//! `Unsupported`; the address getters do not look at the lengths.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics.

use core::net::Ipv4Addr;

use super::bytes::{get_array, get_u16, set_u16};
use super::ethernet::{Address as EthernetAddress, EtherType};
use super::{Error, Result, wire_enum};

wire_enum! {
    /// ARP hardware type.
    pub enum Hardware(u16) {
        /// Ethernet (10 Mb and every faster one).
        Ethernet = 1,
    }
}

wire_enum! {
    /// ARP operation.
    pub enum Operation(u16) {
        /// Who has the target protocol address?
        Request = 1,
        /// The sender has the sender protocol address.
        Reply = 2,
    }
}

mod field {
    use crate::wire::field::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet (before Ethernet padding).
pub const PACKET_LEN: usize = field::TPA.end;

/// A read/write view of an Ethernet/IPv4 ARP packet.
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

    /// Wraps a buffer and checks that the 28-byte packet fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// `Err(Truncated)` when the buffer is shorter than [`PACKET_LEN`]. Longer buffers (the
    /// Ethernet minimum-size padding) are fine.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < PACKET_LEN {
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

    /// Hardware type.
    #[inline]
    pub fn hardware_type(&self) -> Hardware {
        Hardware::from(get_u16(self.buffer.as_ref(), field::HTYPE))
    }

    /// Protocol type (an EtherType).
    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::PTYPE))
    }

    /// Hardware address length.
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length.
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation.
    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(get_u16(self.buffer.as_ref(), field::OPER))
    }

    /// Sender hardware address.
    #[inline]
    pub fn sender_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress(get_array(self.buffer.as_ref(), field::SHA))
    }

    /// Sender protocol address.
    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), field::SPA))
    }

    /// Target hardware address.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress(get_array(self.buffer.as_ref(), field::THA))
    }

    /// Target protocol address.
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    #[inline]
    pub fn set_hardware_type(&mut self, value: Hardware) {
        set_u16(self.buffer.as_mut(), field::HTYPE, value.into());
    }

    /// Sets the protocol type.
    #[inline]
    pub fn set_protocol_type(&mut self, value: EtherType) {
        set_u16(self.buffer.as_mut(), field::PTYPE, value.into());
    }

    /// Sets the hardware address length.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets the protocol address length.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets the operation.
    #[inline]
    pub fn set_operation(&mut self, value: Operation) {
        set_u16(self.buffer.as_mut(), field::OPER, value.into());
    }

    /// Sets the sender hardware address.
    #[inline]
    pub fn set_sender_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets the sender protocol address.
    #[inline]
    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&addr.octets());
    }

    /// Sets the target hardware address.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets the target protocol address.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&addr.octets());
    }
}

/// The meaning of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Request, reply, or an operation we do not name.
    pub operation: Operation,
    /// Who sends (learned into the neighbor table).
    pub sender_hardware_addr: EthernetAddress,
    /// The sender's IPv4 address.
    pub sender_protocol_addr: Ipv4Addr,
    /// Zero in a request.
    pub target_hardware_addr: EthernetAddress,
    /// The address asked about (request) or answered to (reply).
    pub target_protocol_addr: Ipv4Addr,
}

impl Repr {
    /// Reads a packet, refusing anything but Ethernet/IPv4 with `Unsupported`.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.hardware_type() != Hardware::Ethernet
            || packet.protocol_type() != EtherType::Ipv4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_hardware_addr: packet.sender_hardware_addr(),
            sender_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// A request for `target` from `(our_mac, our_ip)`.
    #[inline]
    pub const fn request(our_mac: EthernetAddress, our_ip: Ipv4Addr, target: Ipv4Addr) -> Repr {
        Repr {
            operation: Operation::Request,
            sender_hardware_addr: our_mac,
            sender_protocol_addr: our_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: target,
        }
    }

    /// The reply to this request, saying the asked address is at `our_mac`.
    #[inline]
    pub const fn reply(&self, our_mac: EthernetAddress) -> Repr {
        Repr {
            operation: Operation::Reply,
            sender_hardware_addr: our_mac,
            sender_protocol_addr: self.target_protocol_addr,
            target_hardware_addr: self.sender_hardware_addr,
            target_protocol_addr: self.sender_protocol_addr,
        }
    }

    /// A gratuitous ARP: announces the sender's own address (sender and target IP equal).
    #[inline]
    pub fn is_gratuitous(&self) -> bool {
        self.sender_protocol_addr == self.target_protocol_addr
    }

    /// Bytes [`Repr::emit`] writes.
    #[inline]
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet.
    ///
    /// # Panics
    /// If the buffer is shorter than [`PACKET_LEN`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(Hardware::Ethernet);
        packet.set_protocol_type(EtherType::Ipv4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.sender_hardware_addr);
        packet.set_sender_protocol_addr(self.sender_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ARP_REPLY_FRAME, ARP_REQUEST_FRAME};
    use proptest::prelude::*;

    /// who-has 10.99.1.2 tell 10.99.1.1, from the kernel (after the Ethernet header).
    fn request_bytes() -> &'static [u8] {
        &ARP_REQUEST_FRAME[14..]
    }

    /// 10.99.1.2 is-at 52:54:00:12:34:56, the kernel's answer.
    fn reply_bytes() -> &'static [u8] {
        &ARP_REPLY_FRAME[14..]
    }

    const ASKER: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef]);
    const OWNER: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    const ASKER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
    const OWNER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 2);

    #[test]
    fn deconstruct_request() {
        let packet = Packet::new_checked(request_bytes()).unwrap();
        assert_eq!(packet.hardware_type(), Hardware::Ethernet);
        assert_eq!(packet.protocol_type(), EtherType::Ipv4);
        assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
        assert_eq!(packet.operation(), Operation::Request);
        assert_eq!(packet.sender_hardware_addr(), ASKER);
        assert_eq!(packet.sender_protocol_addr(), ASKER_IP);
        assert!(packet.target_hardware_addr().is_zero());
        assert_eq!(packet.target_protocol_addr(), OWNER_IP);
    }

    #[test]
    fn request_and_reply_round_trip() {
        let request = Repr::parse(&Packet::new_checked(request_bytes()).unwrap()).unwrap();
        assert_eq!(request, Repr::request(ASKER, ASKER_IP, OWNER_IP));
        assert!(!request.is_gratuitous());

        let reply = request.reply(OWNER);
        let mut buf = [0xaau8; 28];
        reply.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], reply_bytes());
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(),
            reply
        );

        let mut buf = [0u8; 28];
        request.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..], request_bytes());
    }

    #[test]
    fn padded_packet_parses() {
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(reply_bytes());
        let repr = Repr::parse(&Packet::new_checked(&padded[..]).unwrap()).unwrap();
        assert_eq!(repr.operation, Operation::Reply);
        assert_eq!(repr.sender_hardware_addr, OWNER);
    }

    #[test]
    fn refuses_other_pairings_and_short_buffers() {
        for (at, value) in [(1, 6u8), (2, 0x86), (4, 8), (5, 16)] {
            let mut data: [u8; 28] = request_bytes().try_into().unwrap();
            data[at] = value;
            assert_eq!(
                Repr::parse(&Packet::new_unchecked(&data[..])),
                Err(Error::Unsupported),
                "byte {at}"
            );
        }
        assert_eq!(
            Packet::new_checked(&request_bytes()[..27]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&request_bytes()[..10])),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn unknown_operation_is_kept() {
        let mut data: [u8; 28] = request_bytes().try_into().unwrap();
        data[7] = 9; // RARP-ish / InARP values exist in the wild
        let repr = Repr::parse(&Packet::new_checked(&data[..]).unwrap()).unwrap();
        assert_eq!(repr.operation, Operation::Unknown(9));
    }

    #[test]
    fn gratuitous() {
        assert!(Repr::request(ASKER, ASKER_IP, ASKER_IP).is_gratuitous());
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..40)) {
            match Packet::new_checked(&data[..]) {
                Ok(packet) => {
                    let _ = (packet.operation(), packet.sender_hardware_addr(),
                        packet.sender_protocol_addr(), packet.target_hardware_addr(),
                        packet.target_protocol_addr());
                    let _ = Repr::parse(&packet);
                }
                Err(e) => {
                    prop_assert_eq!(e, Error::Truncated);
                    prop_assert_eq!(Repr::parse(&Packet::new_unchecked(&data[..])), Err(Error::Truncated));
                }
            }
        }
    }
}
