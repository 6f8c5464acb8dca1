//! Ethernet II frames, with 802.1Q (C-tag) and 802.1ad / QinQ (S-tag) VLAN tags.
//!
//! [`Frame`] views the untagged 14-byte header: destination, source, and the first EtherType
//! (which is a TPID when the frame is tagged). [`Frame::header`] walks up to
//! [`MAX_TAGS`] VLAN tags and returns the tags, the inner EtherType and the payload offset;
//! a frame with a third tag comes back with that tag's TPID as its EtherType, for
//! ethernet-input to count as unknown. The FCS is not part of the buffer (NICs strip it).
//!
//! Contract: after [`Frame::check_len`] (or [`Frame::new_checked`]) succeeds, no accessor
//! panics, and [`Frame::header`] returns an error instead of reading past the buffer.

use core::fmt;
use core::str::FromStr;

use super::bytes::{get_array, get_u16, set_u16};
use super::{Error, Result, wire_enum};

wire_enum! {
    /// The EtherType / TPID field.
    pub enum EtherType(u16) {
        /// IPv4.
        Ipv4 = 0x0800,
        /// ARP.
        Arp = 0x0806,
        /// 802.1Q customer VLAN tag (C-tag).
        Vlan = 0x8100,
        /// IPv6.
        Ipv6 = 0x86dd,
        /// Slow protocols (LACP).
        Slow = 0x8809,
        /// MPLS unicast.
        Mpls = 0x8847,
        /// 802.1ad service VLAN tag (S-tag, QinQ outer).
        QinQ = 0x88a8,
        /// LLDP.
        Lldp = 0x88cc,
        /// Pre-standard QinQ outer tag some switches still send.
        QinQLegacy = 0x9100,
    }
}

impl EtherType {
    /// Whether this value introduces a VLAN tag (802.1Q, 802.1ad, or the legacy 0x9100).
    #[inline]
    pub const fn is_vlan_tpid(self) -> bool {
        matches!(
            self,
            EtherType::Vlan | EtherType::QinQ | EtherType::QinQLegacy
        )
    }
}

/// A 48-bit Ethernet (MAC) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: Address = Address([0xff; 6]);

    /// The six bytes, first byte first on the wire.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// ff:ff:ff:ff:ff:ff.
    #[inline]
    pub const fn is_broadcast(&self) -> bool {
        matches!(self.0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    }

    /// Group bit set (includes broadcast).
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Neither multicast nor broadcast: a station address (all zeros counts, though no
    /// station should use it; see [`Address::is_zero`]).
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// 00:00:00:00:00:00, the "unknown" target of an ARP request.
    #[inline]
    pub const fn is_zero(&self) -> bool {
        matches!(self.0, [0, 0, 0, 0, 0, 0])
    }

    /// Locally administered bit set (addresses we generate for tunnels and memif ports).
    #[inline]
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address string that is not six colon-separated hex bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressParseError;

impl fmt::Display for AddressParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "expected a MAC address as six colon-separated hex bytes, e.g. 02:00:00:00:00:01",
        )
    }
}

impl core::error::Error for AddressParseError {}

impl FromStr for Address {
    type Err = AddressParseError;

    fn from_str(s: &str) -> core::result::Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or(AddressParseError)?;
            if part.is_empty() || part.len() > 2 {
                return Err(AddressParseError);
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| AddressParseError)?;
        }
        if parts.next().is_some() {
            return Err(AddressParseError);
        }
        Ok(Address(out))
    }
}

mod field {
    use crate::wire::field::{Field, Rest};

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// Length of the untagged Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// Length of one VLAN tag (TPID + TCI).
pub const TAG_LEN: usize = 4;
/// Tags [`Frame::header`] walks before giving up (outer S-tag + inner C-tag).
pub const MAX_TAGS: usize = 2;

/// One VLAN tag: its TPID and the fields of its TCI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// The EtherType that introduced the tag: `Vlan` (C-tag), `QinQ` (S-tag), `QinQLegacy`.
    pub tpid: EtherType,
    /// Priority code point, 0..=7.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095 (0: priority tag only).
    pub vid: u16,
}

impl VlanTag {
    /// An 802.1Q C-tag with priority 0.
    #[inline]
    pub const fn c_tag(vid: u16) -> VlanTag {
        VlanTag {
            tpid: EtherType::Vlan,
            pcp: 0,
            dei: false,
            vid: vid & 0x0fff,
        }
    }

    /// An 802.1ad S-tag with priority 0.
    #[inline]
    pub const fn s_tag(vid: u16) -> VlanTag {
        VlanTag {
            tpid: EtherType::QinQ,
            pcp: 0,
            dei: false,
            vid: vid & 0x0fff,
        }
    }

    /// Splits a TCI into its fields.
    #[inline]
    pub const fn from_tci(tpid: EtherType, tci: u16) -> VlanTag {
        VlanTag {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// The TCI as sent: PCP and VID are truncated to their 3 and 12 bits.
    #[inline]
    pub const fn tci(&self) -> u16 {
        ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// What [`Frame::header`] found after the addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// First tag on the wire (the only one of a single-tagged frame).
    pub outer: Option<VlanTag>,
    /// Second tag (QinQ inner C-tag).
    pub inner: Option<VlanTag>,
    /// The EtherType after the tags: what the payload is.
    pub ethertype: EtherType,
    /// Offset of the payload: 14, 18 or 22.
    pub header_len: usize,
}

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Frame::check_len`]
    /// has succeeded.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks that the untagged header fits.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// `Err(Truncated)` when the buffer is shorter than the untagged header.
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

    /// The whole frame.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Address {
        Address(get_array(self.buffer.as_ref(), field::DESTINATION))
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Address {
        Address(get_array(self.buffer.as_ref(), field::SOURCE))
    }

    /// The EtherType right after the addresses (a TPID if the frame is tagged).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(get_u16(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Walks up to two VLAN tags: `Err(Truncated)` if a tag or the EtherType after it is cut
    /// off by the end of the buffer.
    #[inline]
    pub fn header(&self) -> Result<Header> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let mut tags = [None; MAX_TAGS];
        let mut at = field::ETHERTYPE.start;
        for slot in &mut tags {
            let tpid = EtherType::from(get_u16(data, at..at + 2));
            if !tpid.is_vlan_tpid() {
                break;
            }
            // The TCI and the next EtherType must both be there.
            if data.len() < at + TAG_LEN + 2 {
                return Err(Error::Truncated);
            }
            *slot = Some(VlanTag::from_tci(tpid, get_u16(data, at + 2..at + 4)));
            at += TAG_LEN;
        }
        Ok(Header {
            outer: tags[0],
            inner: tags[1],
            ethertype: EtherType::from(get_u16(data, at..at + 2)),
            header_len: at + 2,
        })
    }

    /// Everything after the untagged header (starts with the tags of a tagged frame; use
    /// [`Frame::header`]'s `header_len` to skip them).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the EtherType right after the addresses.
    #[inline]
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.into());
    }

    /// Everything after the untagged header, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of an Ethernet header, tags included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src_addr: Address,
    /// Destination address.
    pub dst_addr: Address,
    /// First tag on the wire, if any.
    pub outer_tag: Option<VlanTag>,
    /// Second tag; emitted only after `outer_tag` (alone, it is emitted as the only tag).
    pub inner_tag: Option<VlanTag>,
    /// What the payload is.
    pub ethertype: EtherType,
}

impl Repr {
    /// Reads the header and its tags.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr> {
        let header = frame.header()?;
        Ok(Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            outer_tag: header.outer,
            inner_tag: header.inner,
            ethertype: header.ethertype,
        })
    }

    /// Bytes [`Repr::emit`] writes: 14 plus 4 per tag.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
            + TAG_LEN * (self.outer_tag.is_some() as usize + self.inner_tag.is_some() as usize)
    }

    /// Writes the header and tags at the start of `frame`.
    ///
    /// # Panics
    /// If the buffer is shorter than [`Repr::header_len`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        frame.set_dst_addr(self.dst_addr);
        frame.set_src_addr(self.src_addr);
        let data = frame.buffer.as_mut();
        let mut at = field::ETHERTYPE.start;
        for tag in [self.outer_tag, self.inner_tag].into_iter().flatten() {
            set_u16(data, at..at + 2, tag.tpid.into());
            set_u16(data, at + 2..at + 4, tag.tci());
            at += TAG_LEN;
        }
        set_u16(data, at..at + 2, self.ethertype.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures::{ARP_REQUEST_FRAME, ECHO_REQUEST_FRAME};
    use proptest::prelude::*;

    /// The start of an IPv4 frame carried on VLAN 100 with priority 5 (TCI 0xa064).
    static VLAN_FRAME: [u8; 22] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0x81, 0x00, 0xa0, 0x64, 0x08, 0x00, //
        0x45, 0x00, 0x00, 0x54,
    ];

    /// QinQ: S-tag 0x88a8 VID 300, C-tag 0x8100 VID 10 with DEI, then IPv6.
    static QINQ_FRAME: [u8; 26] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, //
        0x88, 0xa8, 0x01, 0x2c, 0x81, 0x00, 0x10, 0x0a, 0x86, 0xdd, //
        0x60, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn deconstruct_untagged() {
        let frame = Frame::new_checked(&ARP_REQUEST_FRAME[..]).unwrap();
        assert!(frame.dst_addr().is_broadcast());
        assert_eq!(
            frame.src_addr(),
            Address([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef])
        );
        assert_eq!(frame.ethertype(), EtherType::Arp);
        let header = frame.header().unwrap();
        assert_eq!(header.outer, None);
        assert_eq!(header.ethertype, EtherType::Arp);
        assert_eq!(header.header_len, 14);
        assert_eq!(&frame.payload()[..4], &[0x00, 0x01, 0x08, 0x00]);
    }

    #[test]
    fn deconstruct_vlan() {
        let frame = Frame::new_checked(&VLAN_FRAME[..]).unwrap();
        assert_eq!(frame.ethertype(), EtherType::Vlan);
        let header = frame.header().unwrap();
        assert_eq!(
            header.outer,
            Some(VlanTag {
                tpid: EtherType::Vlan,
                pcp: 5,
                dei: false,
                vid: 100
            })
        );
        assert_eq!(header.inner, None);
        assert_eq!(header.ethertype, EtherType::Ipv4);
        assert_eq!(header.header_len, 18);
        assert_eq!(VLAN_FRAME[header.header_len], 0x45);
    }

    #[test]
    fn deconstruct_qinq() {
        let frame = Frame::new_checked(&QINQ_FRAME[..]).unwrap();
        let header = frame.header().unwrap();
        assert_eq!(header.outer, Some(VlanTag::s_tag(300)));
        assert_eq!(
            header.inner,
            Some(VlanTag {
                tpid: EtherType::Vlan,
                pcp: 0,
                dei: true,
                vid: 10
            })
        );
        assert_eq!(header.ethertype, EtherType::Ipv6);
        assert_eq!(header.header_len, 22);
    }

    /// The kernel's echo request frame with `tags` inserted after the addresses.
    fn tagged(tags: &[VlanTag]) -> Vec<u8> {
        let mut out = ECHO_REQUEST_FRAME[..12].to_vec();
        for tag in tags {
            out.extend_from_slice(&u16::from(tag.tpid).to_be_bytes());
            out.extend_from_slice(&tag.tci().to_be_bytes());
        }
        out.extend_from_slice(&ECHO_REQUEST_FRAME[12..]);
        out
    }

    #[test]
    fn tagged_real_frames_find_their_ip_packet() {
        let untagged = Frame::new_checked(&ECHO_REQUEST_FRAME[..])
            .unwrap()
            .header()
            .unwrap();
        assert_eq!(
            (untagged.ethertype, untagged.header_len),
            (EtherType::Ipv4, 14)
        );
        let c = VlanTag {
            tpid: EtherType::Vlan,
            pcp: 5,
            dei: false,
            vid: 100,
        };
        let stacks: [&[VlanTag]; 3] = [
            &[c],
            &[VlanTag::s_tag(300), VlanTag::c_tag(10)],
            &[
                VlanTag {
                    tpid: EtherType::QinQLegacy,
                    ..c
                },
                c,
            ],
        ];
        for tags in stacks {
            let data = tagged(tags);
            let frame = Frame::new_checked(&data[..]).unwrap();
            let header = frame.header().unwrap();
            assert_eq!(header.ethertype, EtherType::Ipv4);
            assert_eq!(header.header_len, 14 + 4 * tags.len());
            assert_eq!(&data[header.header_len..], &ECHO_REQUEST_FRAME[14..]);
            assert_eq!(header.outer, Some(tags[0]));
            assert_eq!(header.inner, tags.get(1).copied());
        }
    }

    #[test]
    fn third_tag_is_left_as_ethertype() {
        let mut data = QINQ_FRAME.to_vec();
        data[20..22].copy_from_slice(&[0x81, 0x00]);
        let header = Frame::new_checked(&data[..]).unwrap().header().unwrap();
        assert_eq!(header.ethertype, EtherType::Vlan);
        assert_eq!(header.header_len, 22);
    }

    #[test]
    fn truncated_tags_are_errors() {
        assert_eq!(
            Frame::new_checked(&VLAN_FRAME[..13]).unwrap_err(),
            Error::Truncated
        );
        // Tag present but the EtherType after it is cut off.
        for len in 14..18 {
            let frame = Frame::new_checked(&VLAN_FRAME[..len]).unwrap();
            assert_eq!(frame.header(), Err(Error::Truncated), "len {len}");
        }
        for len in 18..22 {
            let frame = Frame::new_checked(&QINQ_FRAME[..len]).unwrap();
            assert_eq!(frame.header(), Err(Error::Truncated), "len {len}");
        }
        assert!(
            Frame::new_checked(&VLAN_FRAME[..18])
                .unwrap()
                .header()
                .is_ok()
        );
    }

    #[test]
    fn construct_and_round_trip() {
        let repr = Repr {
            src_addr: "02:00:00:00:00:01".parse().unwrap(),
            dst_addr: "02:00:00:00:00:02".parse().unwrap(),
            outer_tag: Some(VlanTag::s_tag(300)),
            inner_tag: Some(VlanTag {
                tpid: EtherType::Vlan,
                pcp: 0,
                dei: true,
                vid: 10,
            }),
            ethertype: EtherType::Ipv6,
        };
        assert_eq!(repr.header_len(), 22);
        let mut buf = [0u8; 26];
        buf[22..].copy_from_slice(&QINQ_FRAME[22..]);
        repr.emit(&mut Frame::new_unchecked(&mut buf[..]));
        assert_eq!(buf, QINQ_FRAME);
        assert_eq!(
            Repr::parse(&Frame::new_checked(&buf[..]).unwrap()).unwrap(),
            repr
        );

        let plain = Repr {
            outer_tag: None,
            inner_tag: None,
            ethertype: EtherType::Arp,
            ..repr
        };
        let mut buf = [0u8; 14];
        let mut frame = Frame::new_unchecked(&mut buf[..]);
        plain.emit(&mut frame);
        assert_eq!(frame.ethertype(), EtherType::Arp);
        assert_eq!(&buf[12..], &[0x08, 0x06]);

        // An inner tag alone is sent as the only tag.
        let lone = Repr {
            outer_tag: None,
            inner_tag: Some(VlanTag::c_tag(7)),
            ..repr
        };
        let mut buf = [0u8; 18];
        lone.emit(&mut Frame::new_unchecked(&mut buf[..]));
        let header = Frame::new_checked(&buf[..]).unwrap().header().unwrap();
        assert_eq!(header.outer, Some(VlanTag::c_tag(7)));
        assert_eq!(header.ethertype, EtherType::Ipv6);
    }

    #[test]
    fn setters() {
        let mut buf = ARP_REQUEST_FRAME;
        let mut frame = Frame::new_checked(&mut buf[..]).unwrap();
        frame.set_dst_addr(Address([2, 0, 0, 0, 0, 9]));
        frame.set_ethertype(EtherType::Ipv4);
        frame.payload_mut()[0] = 0x45;
        assert_eq!(&buf[..6], &[2, 0, 0, 0, 0, 9]);
        assert_eq!(&buf[12..15], &[0x08, 0x00, 0x45]);
    }

    #[test]
    fn tci_fields_are_masked() {
        let tag = VlanTag {
            tpid: EtherType::Vlan,
            pcp: 9,
            dei: true,
            vid: 0x1fff,
        };
        assert_eq!(tag.tci(), 0x3fff);
        assert_eq!(VlanTag::from_tci(EtherType::Vlan, 0xffff).vid, 4095);
    }

    #[test]
    fn addresses() {
        let a: Address = "52:54:00:AB:cd:0e".parse().unwrap();
        assert_eq!(a.to_string(), "52:54:00:ab:cd:0e");
        assert!(a.is_unicast() && !a.is_multicast() && a.is_local() && !a.is_zero());
        assert!(Address([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
        assert!(Address::BROADCAST.is_multicast() && Address::BROADCAST.is_broadcast());
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0e:01",
            "52:54:00:ab:cd:xy",
            "525:4:0:a:c:0",
        ] {
            assert_eq!(bad.parse::<Address>(), Err(AddressParseError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..40), tag in any::<bool>()) {
            let mut data = data;
            // Bias towards tags so the walk is exercised.
            if tag && data.len() >= 14 {
                data[12] = 0x81;
                data[13] = 0x00;
            }
            if let Ok(frame) = Frame::new_checked(&data[..]) {
                let _ = (frame.dst_addr(), frame.src_addr(), frame.ethertype(), frame.payload());
                if let Ok(header) = frame.header() {
                    prop_assert!(header.header_len <= data.len());
                }
                let _ = Repr::parse(&frame);
            } else {
                prop_assert!(data.len() < HEADER_LEN);
            }
        }
    }
}
