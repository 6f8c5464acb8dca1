//! Building ICMP errors in place: the offending packet's buffer becomes the error, so sending
//! one never allocates. The packet is cut to what the error quotes (its IP header and as much
//! payload as fits in 576 bytes, as Linux does) and the new IPv4 + ICMP headers are prepended.

use std::net::Ipv4Addr;

use crate::buffer::{PacketBuf, PacketMeta};
use crate::wire::checksum;

/// ICMP type/code pairs the dataplane sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Time exceeded, TTL expired in transit (11/0).
    TtlExpired,
    /// Destination unreachable, fragmentation needed and DF set (3/4), with the next-hop MTU.
    FragNeeded { mtu: u16 },
}

/// Most bytes of the original packet an error quotes (576 - 20 - 8).
const MAX_QUOTE: usize = 548;

/// Whether RFC 1812 allows an ICMP error about this packet (data at its IPv4 header): never
/// about an ICMP error, a non-first fragment, or a packet from 0.0.0.0, a multicast or a
/// broadcast source, nor to a packet sent to a link-layer multicast.
pub fn may_send_error<B: PacketBuf>(p: &B) -> bool {
    let d = p.data();
    if d.len() < 20 || p.meta().flags & PacketMeta::F_L2_MCAST != 0 {
        return false;
    }
    let ihl = ((d[0] & 0xf) as usize) * 4;
    let frag_off = u16::from_be_bytes([d[6], d[7]]) & 0x1fff;
    let src = Ipv4Addr::new(d[12], d[13], d[14], d[15]);
    if frag_off != 0 || src.is_unspecified() || src.is_multicast() || src.is_broadcast() {
        return false;
    }
    if d[9] == 1 {
        // Only echo request/reply (and other queries) may trigger an error.
        let Some(&ty) = d.get(ihl) else { return false };
        return matches!(ty, 0 | 8 | 13 | 14);
    }
    true
}

/// Turns the packet (data at its IPv4 header) into an ICMP error from `src` back to its
/// sender. The new IPv4 header's checksum is left pending (`F_IP4_CSUM_PENDING`) for the
/// last node that changes headers; the ICMP checksum is complete. `false` (packet unchanged)
/// when there is no headroom.
pub fn make_error<B: PacketBuf>(p: &mut B, err: IcmpError, src: Ipv4Addr) -> bool {
    let d = p.data();
    if d.len() < 20 || p.headroom() < 28 {
        return false;
    }
    let orig_src = [d[12], d[13], d[14], d[15]];
    let quote_len = d.len().min(MAX_QUOTE);
    p.truncate(quote_len);
    let Some(h) = p.prepend(28) else { return false };
    let total = (28 + quote_len) as u16;
    let (ty, code, rest) = match err {
        IcmpError::TtlExpired => (11u8, 0u8, 0u32),
        IcmpError::FragNeeded { mtu } => (3, 4, u32::from(mtu)),
    };
    h[0] = 0x45;
    h[1] = 0xc0; // Internetwork control, as Linux sends ICMP errors.
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&[0, 0]);
    h[6..8].copy_from_slice(&[0, 0]);
    h[8] = 64;
    h[9] = 1;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&orig_src);
    h[20] = ty;
    h[21] = code;
    h[22..24].copy_from_slice(&[0, 0]);
    h[24..28].copy_from_slice(&rest.to_be_bytes());
    let d = p.data_mut();
    let csum = !checksum::sum(&d[20..]);
    d[22..24].copy_from_slice(&csum.to_be_bytes());
    let m = p.meta_mut();
    m.flags = (m.flags & !PacketMeta::F_L2_MCAST)
        | PacketMeta::F_LOCAL_ORIGIN
        | PacketMeta::F_IP4_CSUM_PENDING;
    true
}
