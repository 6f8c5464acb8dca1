//! A cheap flow hash of an inner Ethernet frame, for the outer UDP source port when the
//! packet carries no flow hash yet (RFC 7348 section 5: the source port should come from the
//! inner flow, so the receiver's RSS and the underlay's ECMP spread tunnels' traffic).
//!
//! What is hashed, after up to two VLAN tags:
//! - IPv4: [`crate::ip4::input::flow_hash`], the graph's one IPv4 hash: source, destination,
//!   protocol, and the TCP/UDP/SCTP ports of unfragmented packets. Fragments (MF set or an
//!   offset) are hashed on addresses and protocol only, as Linux's flow dissector does, so
//!   every fragment of a datagram takes the same source port.
//! - IPv6: source, destination, next header, and the TCP/UDP/SCTP ports when the next header
//!   is one of them (extension headers are not walked: such packets hash on addresses).
//! - Anything else (ARP, ...): the MAC addresses and EtherType.
//!
//! Reads at most the first ~60 bytes, never panics on short or garbled frames (a short frame
//! hashes on what is there), and allocates nothing.

use crate::wire::EtherType;

/// EtherTypes and protocol numbers the hash looks at.
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;

#[inline(always)]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    match b.get(at..at + 2) {
        Some(&[x, y]) => Some(u16::from_be_bytes([x, y])),
        _ => None,
    }
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> Option<u32> {
    match b.get(at..at + 4) {
        Some(&[a, c, d, e]) => Some(u32::from_be_bytes([a, c, d, e])),
        _ => None,
    }
}

#[inline(always)]
fn be64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
}

/// Folds one 64-bit word into the running hash (multiply by an odd constant, then rotate so
/// high input bits reach the low output bits).
#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(31)
}

/// MurmurHash3's 64-bit finalizer: every input bit affects every output bit, so the high
/// bits `vxlan_source_port` takes are as good as the low ones.
#[inline(always)]
fn finish(mut h: u64) -> u32 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    (h >> 32) as u32 ^ h as u32
}

#[inline(always)]
fn has_ports(proto: u8) -> bool {
    matches!(proto, PROTO_TCP | PROTO_UDP | PROTO_SCTP)
}

/// The flow hash of an inner Ethernet frame (see the module doc for what it covers).
#[inline]
pub fn inner_flow_hash(frame: &[u8]) -> u32 {
    // The common case first: an untagged IPv4 frame (what ip4-rewrite writes).
    if let Some((eth, ip)) = frame.split_first_chunk::<14>()
        && eth[12..] == [0x08, 0x00]
        && ip.len() >= 20
    {
        return crate::ip4::input::flow_hash(ip);
    }
    let mut et_at = 12;
    let mut ethertype = be16(frame, et_at).unwrap_or(0);
    // Up to two tags (802.1Q, 802.1ad QinQ, legacy 0x9100, as ethernet-input knows them): the
    // flow is the same with or without them.
    for _ in 0..2 {
        if EtherType::from(ethertype).is_vlan_tpid() {
            et_at += 4;
            ethertype = be16(frame, et_at).unwrap_or(0);
        }
    }
    let l3 = frame.get(et_at + 2..).unwrap_or(&[]);
    let h = match ethertype {
        // The graph's one IPv4 hash, so a flow's ECMP path and source port agree.
        ETH_IPV4 if l3.len() >= 20 => return crate::ip4::input::flow_hash(l3),
        ETH_IPV6 if l3.len() >= 40 => {
            let nh = l3[6];
            let ports = if has_ports(nh) {
                be32(l3, 40).unwrap_or(0)
            } else {
                0
            };
            let mut h = 6;
            for at in [8, 16, 24, 32] {
                h = mix(h, be64(l3, at).unwrap_or(0));
            }
            mix(h, u64::from(nh) << 32 | u64::from(ports))
        }
        _ => {
            // Not IP (or a runt): both MAC addresses and the EtherType.
            let macs = be64(frame, 0).unwrap_or(frame.len() as u64);
            let rest = u64::from(be32(frame, 8).unwrap_or(0)) << 16 | u64::from(ethertype);
            mix(mix(0, macs), rest)
        }
    };
    finish(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, frag: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&ETH_IPV4.to_be_bytes());
        f[14] = 0x45;
        f[20..22].copy_from_slice(&frag.to_be_bytes());
        f[23] = PROTO_UDP;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sport.to_be_bytes());
        f[36..38].copy_from_slice(&dport.to_be_bytes());
        f
    }

    #[test]
    fn ports_and_addresses_matter_macs_and_payload_do_not() {
        let a = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, 0);
        let h = inner_flow_hash(&a);
        assert_ne!(
            h,
            inner_flow_hash(&udp4([10, 0, 0, 1], [10, 0, 0, 2], 1001, 53, 0))
        );
        assert_ne!(
            h,
            inner_flow_hash(&udp4([10, 0, 0, 1], [10, 0, 0, 3], 1000, 53, 0))
        );
        let mut b = a.clone();
        b[0..12].fill(0xee); // other MACs
        b.extend_from_slice(b"payload");
        assert_eq!(h, inner_flow_hash(&b));
        // The same flow behind a VLAN tag.
        let mut tagged = a[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
        tagged.extend_from_slice(&a[12..]);
        assert_eq!(h, inner_flow_hash(&tagged));
    }

    #[test]
    fn every_fragment_of_a_datagram_hashes_alike() {
        let first = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000, 53, 0x2000); // MF
        let mut later = udp4([10, 0, 0, 1], [10, 0, 0, 2], 0xdead, 0xbeef, 0x00b9);
        later[34..].fill(0x55); // no transport header in a later fragment
        assert_eq!(inner_flow_hash(&first), inner_flow_hash(&later));
    }

    #[test]
    fn short_and_odd_frames_do_not_panic() {
        for len in 0..64 {
            let f: Vec<u8> = (0..len as u8).collect();
            let _ = inner_flow_hash(&f);
            let mut v4 = udp4([1; 4], [2; 4], 3, 4, 0);
            v4.truncate(len.min(v4.len()));
            let _ = inner_flow_hash(&v4);
        }
        let mut bad_ihl = udp4([1; 4], [2; 4], 3, 4, 0);
        bad_ihl[14] = 0x4f; // IHL 60 beyond the frame
        let _ = inner_flow_hash(&bad_ihl);
    }
}
