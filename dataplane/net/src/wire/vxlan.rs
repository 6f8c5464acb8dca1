//! VXLAN headers (RFC 7348): 8 bytes after the outer UDP header, then the inner Ethernet frame.
//!
//! ```text
//! |R|R|R|R|I|R|R|R|        reserved (24)        |
//! |            VNI (24)                |  reserved (8)  |
//! ```
//!
//! A receiver requires the I flag (a valid VNI) and ignores every reserved bit, as the RFC
//! says; a sender sets only I and zeroes the rest. Over an IPv4 underlay the outer UDP
//! checksum is sent as 0 (see `udp`'s `Checksum::Omit`), and the outer UDP source port comes
//! from a hash of the inner flow ([`source_port`]) so receivers' RSS spreads the tunnels.
//! [`Ipv4Encap`] holds one tunnel's precomputed outer IPv4/UDP/VXLAN headers for encap.
//!
//! Contract: after [`Packet::check_len`] (or [`Packet::new_checked`]) succeeds, no accessor
//! panics.

use core::fmt;

use super::bytes::get_u32;
use super::{Error, Result};

mod field {
    use crate::wire::field::{Field, Rest};

    pub const FLAGS: usize = 0;
    pub const RESERVED1: Field = 1..4;
    /// VNI in the top 24 bits, reserved in the low 8.
    pub const VNI_RESERVED2: Field = 4..8;
    pub const VNI: Field = 4..7;
    pub const RESERVED2: usize = 7;
    pub const PAYLOAD: Rest = 8..;
}

/// Length of the VXLAN header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// IANA port for VXLAN.
pub const UDP_PORT: u16 = 4789;
/// Bytes an IPv4 underlay MTU loses to VXLAN: outer IPv4 (20), UDP (8), VXLAN (8) and the
/// inner Ethernet header (14).
pub const ENCAP_OVERHEAD_V4: usize = ENCAP_V4_LEN + 14;

/// A tunnel's MTU over a 1500-byte underlay, the default (Linux's `vxlan` device's too).
pub const DEFAULT_TUNNEL_MTU: u16 = (1500 - ENCAP_OVERHEAD_V4) as u16;
const _: () = assert!(DEFAULT_TUNNEL_MTU == 1450);

/// The I flag: the VNI field is valid.
const FLAG_I: u8 = 0x08;

/// A 24-bit VXLAN network identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Vni(u32);

impl Vni {
    /// The largest VNI, 2^24 - 1.
    pub const MAX: Vni = Vni(0x00ff_ffff);

    /// A VNI, if `value` fits in 24 bits.
    #[inline]
    pub const fn new(value: u32) -> Option<Vni> {
        if value <= Self::MAX.0 {
            Some(Vni(value))
        } else {
            None
        }
    }

    /// The value.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<Vni> for u32 {
    #[inline]
    fn from(vni: Vni) -> u32 {
        vni.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Outer UDP source port for an inner flow hash: in the dynamic range 49152..=65535 (RFC
/// 7348 section 5), taken from the hash's high bits by multiply-shift, which keeps the
/// spread of a good hash.
#[inline]
pub const fn source_port(flow_hash: u32) -> u16 {
    const LOW: u32 = 49152;
    const SPAN: u64 = 65536 - LOW as u64;
    (LOW + ((flow_hash as u64 * SPAN) >> 32) as u32) as u16
}

/// Length of the outer headers [`Ipv4Encap`] writes: IPv4 (20), UDP (8), VXLAN (8).
pub const ENCAP_V4_LEN: usize = 20 + 8 + HEADER_LEN;

/// The outer IPv4 + UDP + VXLAN headers of one tunnel, built once by the control plane.
/// Per packet, [`Ipv4Encap::write`] copies them in front of the inner frame and patches
/// the lengths, identification, source port and IPv4 checksum (incrementally, RFC 1624).
/// The outer UDP checksum is 0, as RFC 7348 allows over IPv4. The outer Ethernet header
/// is ip4-rewrite's job, after the underlay route lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Encap {
    header: [u8; ENCAP_V4_LEN],
}

impl Ipv4Encap {
    /// Precomputes the headers for a tunnel from `local` to `remote` on UDP `dst_port`.
    pub fn new(
        local: core::net::Ipv4Addr,
        remote: core::net::Ipv4Addr,
        dst_port: u16,
        vni: Vni,
        ttl: u8,
        tos: u8,
        dont_frag: bool,
    ) -> Ipv4Encap {
        use super::checksum::ChecksumCapabilities;
        use super::ip::IpProtocol;
        use super::ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
        use super::udp::Packet as UdpPacket;

        let mut header = [0u8; ENCAP_V4_LEN];
        // Lengths as if the inner frame were empty; `write` adds the inner length.
        let ip = Ipv4Repr {
            tos,
            dont_frag,
            ..Ipv4Repr::new(local, remote, IpProtocol::Udp, ENCAP_V4_LEN - 20, ttl)
        };
        ip.emit(
            &mut Ipv4Packet::new_unchecked(&mut header[..]),
            &ChecksumCapabilities::SOFTWARE,
        );
        let mut udp = UdpPacket::new_unchecked(&mut header[20..]);
        udp.set_dst_port(dst_port);
        udp.set_len((ENCAP_V4_LEN - 20) as u16);
        Repr { vni }.emit(&mut Packet::new_unchecked(&mut header[28..]));
        Ipv4Encap { header }
    }

    /// The precomputed headers (source port and identification 0, lengths for an empty
    /// inner frame).
    #[inline]
    pub fn header(&self) -> &[u8; ENCAP_V4_LEN] {
        &self.header
    }

    /// Writes the outer headers into `out[..ENCAP_V4_LEN]` for an inner frame of
    /// `inner_len` bytes (which follows them): a copy of the template, then [`Self::patch`].
    /// Returns `Err(BadTotalLength)` when the outer packet would exceed 65535 bytes.
    ///
    /// # Panics
    /// If `out` is shorter than [`ENCAP_V4_LEN`].
    #[inline]
    pub fn write(
        &self,
        out: &mut [u8],
        inner_len: usize,
        src_port: u16,
        ident: u16,
        ipv4_checksum: super::checksum::Checksum,
    ) -> Result<()> {
        if ENCAP_V4_LEN + inner_len > usize::from(u16::MAX) {
            return Err(Error::BadTotalLength);
        }
        let out = out
            .first_chunk_mut::<ENCAP_V4_LEN>()
            .expect("out holds the outer headers");
        *out = self.header;
        self.patch(out, inner_len, src_port, ident, ipv4_checksum);
        Ok(())
    }

    /// Patches a copy of the template in `out` for an inner frame of `inner_len` bytes: IPv4
    /// total length and identification, UDP source port and length, and the IPv4 checksum.
    /// `ipv4_checksum` is the egress port's IPv4 mode: `Software` writes the checksum,
    /// patched from the template's in one RFC 1624 step (its length word is ENCAP_V4_LEN
    /// and its identification 0, so the change is `inner_len + ident`); `Hardware`/`Omit`
    /// write 0 for the NIC. The caller keeps `ENCAP_V4_LEN + inner_len` within 65535
    /// ([`Self::write`] checks it; a larger value writes wrapped lengths, nothing panics).
    #[inline(always)]
    pub fn patch(
        &self,
        out: &mut [u8; ENCAP_V4_LEN],
        inner_len: usize,
        src_port: u16,
        ident: u16,
        ipv4_checksum: super::checksum::Checksum,
    ) {
        let total = (ENCAP_V4_LEN + inner_len) as u16;
        out[2..4].copy_from_slice(&total.to_be_bytes());
        out[4..6].copy_from_slice(&ident.to_be_bytes());
        let checksum = if ipv4_checksum == super::checksum::Checksum::Software {
            let template = u16::from_be_bytes([self.header[10], self.header[11]]);
            let acc =
                u32::from(!template) + u32::from(total - ENCAP_V4_LEN as u16) + u32::from(ident);
            let acc = (acc & 0xffff) + (acc >> 16);
            let acc = (acc & 0xffff) + (acc >> 16);
            !(acc as u16)
        } else {
            0
        };
        out[10..12].copy_from_slice(&checksum.to_be_bytes());
        out[20..22].copy_from_slice(&src_port.to_be_bytes());
        out[24..26].copy_from_slice(&(total - 20).to_be_bytes());
    }
}

/// A read/write view of a VXLAN header and the inner frame after it.
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

    /// The flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// Whether the I flag says the VNI is valid.
    #[inline]
    pub fn has_vni(&self) -> bool {
        self.flags() & FLAG_I != 0
    }

    /// The VNI field (meaningful only with the I flag).
    #[inline]
    pub fn vni(&self) -> Vni {
        Vni(get_u32(self.buffer.as_ref(), field::VNI_RESERVED2) >> 8)
    }

    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the VNI, leaving the reserved byte after it alone.
    #[inline]
    pub fn set_vni(&mut self, vni: Vni) {
        self.buffer.as_mut()[field::VNI].copy_from_slice(&vni.0.to_be_bytes()[1..]);
    }

    /// The inner Ethernet frame, writable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The meaning of a VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// The network identifier.
    pub vni: Vni,
}

impl Repr {
    /// Reads a header: `Truncated`, or `BadFlags` when the I flag is clear.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        if !packet.has_vni() {
            return Err(Error::BadFlags);
        }
        Ok(Repr { vni: packet.vni() })
    }

    /// Bytes [`Repr::emit`] writes.
    #[inline]
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header: I flag, VNI, reserved bits zero.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`].
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let data = packet.buffer.as_mut();
        data[field::FLAGS] = FLAG_I;
        data[field::RESERVED1].fill(0);
        data[field::RESERVED2] = 0;
        packet.set_vni(self.vni);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::arp::{Operation, Packet as ArpPacket, Repr as ArpRepr};
    use crate::wire::checksum::{Checksum, ChecksumCapabilities, PseudoHeader};
    use crate::wire::ethernet::{Address, EtherType, Frame};
    use crate::wire::fixtures::{VXLAN_ARP_FRAME, VXLAN_ECHO_FRAME, VXLAN_ECHO_PARTIAL_FRAME};
    use crate::wire::ipv4::{Packet as Ipv4Packet, Repr as Ipv4Repr};
    use crate::wire::udp::{Packet as UdpPacket, Repr as UdpRepr};
    use core::net::Ipv4Addr;
    use proptest::prelude::*;

    /// Offset of the VXLAN header in an untagged IPv4 frame without options.
    const AT: usize = 14 + 20 + 8;

    #[test]
    fn deconstruct_kernel_packet() {
        let packet = Packet::new_checked(&VXLAN_ECHO_FRAME[AT..]).unwrap();
        assert_eq!(packet.flags(), 0x08);
        assert!(packet.has_vni());
        assert_eq!(packet.vni(), Vni::new(100).unwrap());
        let inner = Frame::new_checked(packet.payload()).unwrap();
        assert_eq!(inner.dst_addr(), Address([2, 0, 0, 0, 1, 1]));
        assert_eq!(inner.ethertype(), EtherType::Ipv4);
        assert_eq!(
            Repr::parse(&packet),
            Ok(Repr {
                vni: Vni::new(100).unwrap()
            })
        );

        let arp = Packet::new_checked(&VXLAN_ARP_FRAME[AT..]).unwrap();
        let inner = Frame::new_checked(arp.payload()).unwrap();
        assert!(inner.dst_addr().is_broadcast());
        let request = ArpRepr::parse(&ArpPacket::new_checked(inner.payload()).unwrap()).unwrap();
        assert_eq!(request.operation, Operation::Request);
        assert_eq!(request.target_protocol_addr, Ipv4Addr::new(172, 16, 99, 1));
    }

    #[test]
    fn i_flag_is_required_reserved_bits_are_ignored() {
        let mut buf = VXLAN_ECHO_FRAME[AT..].to_vec();
        buf[0] = 0x00;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Err(Error::BadFlags)
        );
        buf[0] = 0xf7; // every flag but I
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap()),
            Err(Error::BadFlags)
        );
        buf[0] = 0xff;
        buf[1..4].fill(0xff);
        buf[7] = 0xff;
        assert_eq!(
            Repr::parse(&Packet::new_checked(&buf[..]).unwrap())
                .unwrap()
                .vni
                .get(),
            100
        );
    }

    #[test]
    fn emit_clears_reserved_bits() {
        let mut buf = [0xffu8; 8];
        Repr { vni: Vni::MAX }.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0]);
        Repr {
            vni: Vni::new(0x123456).unwrap(),
        }
        .emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, [0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        assert_eq!(Packet::new_unchecked(&buf[..]).vni().get(), 0x123456);
    }

    #[test]
    fn truncated() {
        assert_eq!(
            Packet::new_checked(&VXLAN_ECHO_FRAME[AT..AT + 7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&[0x08u8][..])),
            Err(Error::Truncated)
        );
        let empty_inner = Packet::new_checked(&VXLAN_ECHO_FRAME[AT..AT + 8]).unwrap();
        assert!(empty_inner.payload().is_empty());
    }

    #[test]
    fn vni_range() {
        assert_eq!(Vni::new(0x0100_0000), None);
        assert_eq!(Vni::new(0).map(u32::from), Some(0));
        assert_eq!(Vni::MAX.to_string(), "16777215");
    }

    /// Encapsulates the kernel's inner frame the way vxlan-encap will, with the kernel's
    /// outer field values, and returns the whole outer frame.
    fn encapsulate(kernel: &[u8], udp_mode: Checksum) -> Vec<u8> {
        let outer_ip = Ipv4Repr::parse(
            &Ipv4Packet::new_checked(&kernel[14..]).unwrap(),
            &ChecksumCapabilities::SOFTWARE,
        )
        .unwrap();
        let inner = &kernel[AT + HEADER_LEN..];
        let mut buf = vec![0u8; AT + HEADER_LEN + inner.len()];
        buf[..14].copy_from_slice(&kernel[..14]);
        buf[AT + HEADER_LEN..].copy_from_slice(inner);
        Repr {
            vni: Vni::new(100).unwrap(),
        }
        .emit(&mut Packet::new_unchecked(&mut buf[AT..]));
        let udp = UdpRepr {
            src_port: 32822,
            dst_port: UDP_PORT,
            payload_len: HEADER_LEN + inner.len(),
        };
        let pseudo = PseudoHeader::V4 {
            src: outer_ip.src_addr,
            dst: outer_ip.dst_addr,
        };
        let caps = ChecksumCapabilities {
            udp: udp_mode,
            ..ChecksumCapabilities::SOFTWARE
        };
        udp.emit(
            &mut UdpPacket::new_unchecked(&mut buf[34..]),
            &pseudo,
            &caps,
        );
        let ip = Ipv4Repr {
            payload_len: udp.buffer_len(),
            ..outer_ip
        };
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[14..]), &caps);
        buf
    }

    #[test]
    fn encapsulation_matches_the_kernel() {
        assert_eq!(
            encapsulate(&VXLAN_ECHO_FRAME, Checksum::Software),
            VXLAN_ECHO_FRAME
        );
        assert_eq!(
            encapsulate(&VXLAN_ECHO_PARTIAL_FRAME, Checksum::Hardware),
            VXLAN_ECHO_PARTIAL_FRAME
        );
        // The RFC 7348 way over IPv4: no outer UDP checksum, accepted as "none".
        let zero = encapsulate(&VXLAN_ECHO_FRAME, Checksum::Omit);
        assert_eq!(&zero[40..42], &[0, 0]);
        let pseudo = PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 99, 1, 2),
            dst: Ipv4Addr::new(10, 99, 1, 1),
        };
        assert!(
            UdpPacket::new_checked(&zero[34..])
                .unwrap()
                .verify_checksum(&pseudo)
        );
    }

    #[test]
    fn template_matches_the_kernel_but_for_the_udp_checksum() {
        let encap = Ipv4Encap::new(
            Ipv4Addr::new(10, 99, 1, 2),
            Ipv4Addr::new(10, 99, 1, 1),
            UDP_PORT,
            Vni::new(100).unwrap(),
            64,
            0,
            false,
        );
        let inner_len = VXLAN_ECHO_FRAME.len() - AT - HEADER_LEN;
        let mut out = [0xaau8; ENCAP_V4_LEN];
        encap
            .write(&mut out, inner_len, 32822, 0x2e52, Checksum::Software)
            .unwrap();
        let mut kernel = VXLAN_ECHO_FRAME[14..14 + ENCAP_V4_LEN].to_vec();
        kernel[26..28].fill(0); // the kernel computed the outer UDP checksum; we send none
        assert_eq!(&out[..], &kernel[..]);
        assert!(Ipv4Packet::new_unchecked(&out[..]).verify_checksum());

        encap
            .write(&mut out, inner_len, 32822, 0x2e52, Checksum::Hardware)
            .unwrap();
        assert_eq!(&out[10..12], &[0, 0]);
        assert_eq!(
            encap.write(&mut out, 65535 - ENCAP_V4_LEN + 1, 1, 1, Checksum::Software),
            Err(Error::BadTotalLength)
        );
        assert!(
            encap
                .write(&mut out, 65535 - ENCAP_V4_LEN, 1, 1, Checksum::Software)
                .is_ok()
        );
    }

    #[test]
    fn template_output_decapsulates() {
        let encap = Ipv4Encap::new(
            Ipv4Addr::new(192, 168, 50, 1),
            Ipv4Addr::new(192, 168, 50, 2),
            UDP_PORT,
            Vni::MAX,
            32,
            0xb8,
            true,
        );
        let inner = &VXLAN_ECHO_FRAME[AT + HEADER_LEN..];
        let mut packet = vec![0u8; ENCAP_V4_LEN];
        encap
            .write(
                &mut packet,
                inner.len(),
                source_port(0xdead_beef),
                7,
                Checksum::Software,
            )
            .unwrap();
        packet.extend_from_slice(inner);
        let ip = Ipv4Packet::new_checked(&packet[..]).unwrap();
        let ip_repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::SOFTWARE).unwrap();
        assert_eq!(
            (ip_repr.ttl, ip_repr.tos, ip_repr.dont_frag, ip_repr.ident),
            (32, 0xb8, true, 7)
        );
        let udp = UdpPacket::new_checked(ip.payload()).unwrap();
        let pseudo = PseudoHeader::V4 {
            src: ip_repr.src_addr,
            dst: ip_repr.dst_addr,
        };
        let udp_repr = UdpRepr::parse(&udp, &pseudo, &ChecksumCapabilities::SOFTWARE).unwrap();
        assert_eq!(udp_repr.src_port, source_port(0xdead_beef));
        assert_eq!(udp_repr.dst_port, UDP_PORT);
        let vxlan = Packet::new_checked(udp.payload()).unwrap();
        assert_eq!(Repr::parse(&vxlan).unwrap().vni, Vni::MAX);
        assert_eq!(vxlan.payload(), inner);
    }

    #[test]
    fn source_ports_spread_over_the_dynamic_range() {
        assert_eq!(source_port(0), 49152);
        assert_eq!(source_port(u32::MAX), 65535);
        let ports: std::collections::HashSet<u16> = (0..1024u32)
            .map(|i| source_port(i.wrapping_mul(0x9e37_79b9)))
            .collect();
        assert!(ports.len() > 900, "only {} distinct ports", ports.len());
    }

    proptest! {
        #[test]
        fn never_panics_after_check_len(data in prop::collection::vec(any::<u8>(), 0..20)) {
            match Packet::new_checked(&data[..]) {
                Ok(packet) => {
                    let _ = (packet.flags(), packet.vni(), packet.payload(), Repr::parse(&packet));
                }
                Err(e) => prop_assert_eq!(e, Error::Truncated),
            }
        }

        #[test]
        fn template_checksum_equals_recompute(inner_len in 0usize..9000, ident in any::<u16>(), ttl in any::<u8>(), tos in any::<u8>()) {
            let encap = Ipv4Encap::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), UDP_PORT, Vni::new(5).unwrap(), ttl, tos, ident % 2 == 0);
            let mut out = [0u8; ENCAP_V4_LEN];
            encap.write(&mut out, inner_len, 50000, ident, Checksum::Software).unwrap();
            let patched = [out[10], out[11]];
            Ipv4Packet::new_unchecked(&mut out[..]).fill_checksum(Checksum::Software);
            prop_assert_eq!(patched, [out[10], out[11]]);
        }

        #[test]
        fn source_port_in_range(hash in any::<u32>()) {
            prop_assert!(source_port(hash) >= 49152);
        }
    }
}
