//! Internet checksum: RFC 1071 full sum, pseudo-header sums, RFC 1624 incremental update, and
//! the checksum-offload choice as a value.
//!
//! All sums here are **folded, not complemented** ones'-complement sums of big-endian 16-bit
//! words: the checksum field itself is `!sum(...)`. Data is read byte-wise with
//! `from_be_bytes` (no pointer casts); speed comes from adding 64-bit chunks as two 32-bit
//! halves into a 64-bit accumulator, which folds to the same 16-bit result because 2^16 ≡ 1
//! (mod 0xFFFF). The software fallback runs this per packet, so it has no branches per word.
//!
//! Nothing in this module panics.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::ip::IpProtocol;

/// Adds `data` to a running 64-bit accumulator. `data` is taken to start at an even offset of
/// the checksummed region; an odd final byte is padded with a zero byte on the right.
#[inline]
fn accumulate(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        // Always 8 bytes; the fallback is dead code the optimiser removes.
        let word = u64::from_be_bytes(chunk.try_into().unwrap_or([0; 8]));
        // Each step adds at most 2^33, so 2^31 steps (16 GiB) cannot overflow the u64.
        acc += (word >> 32) + (word & 0xffff_ffff);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        acc += u64::from(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        acc += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let Some(&last) = rest.first() {
        acc += u64::from(last) << 8;
    }
    acc
}

/// Folds a wide accumulator into a 16-bit ones'-complement sum (end-around carry).
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Ones'-complement sum (RFC 1071) of `data`, folded, not complemented.
///
/// The result is 0 only when every byte is zero. To sum a region held in several slices,
/// combine the sums of the pieces with [`combine`]; every piece but the last must have an
/// even length.
#[inline]
pub fn sum(data: &[u8]) -> u16 {
    fold(accumulate(0, data))
}

/// Ones'-complement sum of already folded sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// [`sum`] of a 20-byte IPv4 header (no options), for ip4-input, ip4-rewrite and vxlan-decap,
/// which run it per packet: three native-endian loads, two additions with end-around carry and
/// a straight-line fold. The ones'-complement sum does not depend on byte order (RFC 1071
/// section 2(B)): summed as native words, the folded result laid out in memory is the
/// big-endian sum's bytes, so no word is byte-swapped.
#[inline(always)]
pub fn sum20(h: &[u8; 20]) -> u16 {
    let (a, rest) = h.split_first_chunk::<8>().expect("20 > 8");
    let (b, c) = rest.split_first_chunk::<8>().expect("12 > 8");
    let c: &[u8; 4] = c.try_into().expect("20 = 8 + 8 + 4");
    // Each carry out goes back in before the next add (end-around carry), and cannot carry
    // again: after a carry out of a + b, the sum is at most 2^64 - 2; out of s + c (c below
    // 2^32), it is below 2^32.
    let (s, o) = u64::from_ne_bytes(*a).overflowing_add(u64::from_ne_bytes(*b));
    let s = s + u64::from(o);
    let (s, o) = s.overflowing_add(u64::from(u32::from_ne_bytes(*c)));
    let s = s + u64::from(o);
    // Two end-around folds, each one add of the value and itself rotated by half: the top
    // half of `x + rotate(x)` is `hi + lo` with the carry out of `lo + hi` added back in.
    let s = (s.wrapping_add(s.rotate_right(32)) >> 32) as u32;
    let s = (s.wrapping_add(s.rotate_right(16)) >> 16) as u16;
    u16::from_be_bytes(s.to_ne_bytes())
}

/// The checksum field after the TTL (the high byte of its 16-bit word) went down by one:
/// RFC 1624's update reduces to adding 0x0100 with end-around carry. A result of 0xffff is
/// written as 0 (the two are the same ones'-complement zero; a full recomputation gives 0).
#[inline(always)]
pub const fn ttl_decrement_update(checksum: u16) -> u16 {
    let c = checksum as u32 + 0x0100;
    (c + (c >= 0xffff) as u32) as u16
}

/// Whether a region whose checksum field is included verifies: its sum is all ones.
#[inline]
pub fn verifies(data: &[u8]) -> bool {
    sum(data) == 0xffff
}

/// The checksum field value for a region summing to `sum`: its complement.
#[inline]
pub const fn finish(sum: u16) -> u16 {
    !sum
}

/// Sum of the IPv4 pseudo-header (RFC 768 / RFC 793) for a transport of `length` bytes.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, length: u16) -> u16 {
    let s = src.to_bits();
    let d = dst.to_bits();
    let acc = u64::from(s >> 16)
        + u64::from(s & 0xffff)
        + u64::from(d >> 16)
        + u64::from(d & 0xffff)
        + u64::from(u8::from(protocol))
        + u64::from(length);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header (RFC 8200 section 8.1) for an upper layer of `length` bytes.
#[inline]
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    let acc = accumulate(accumulate(0, &src.octets()), &dst.octets())
        + u64::from(length >> 16)
        + u64::from(length & 0xffff)
        + u64::from(u8::from(next_header));
    fold(acc)
}

/// The addresses a transport checksum covers, for either IP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PseudoHeader {
    /// Transport over IPv4.
    V4 {
        /// Source address of the IPv4 header.
        src: Ipv4Addr,
        /// Destination address of the IPv4 header.
        dst: Ipv4Addr,
    },
    /// Transport over IPv6.
    V6 {
        /// Source address of the IPv6 header.
        src: Ipv6Addr,
        /// Destination address of the IPv6 header (the final one with a routing header).
        dst: Ipv6Addr,
    },
}

impl PseudoHeader {
    /// Sum of this pseudo-header for `protocol` carrying `length` bytes of transport.
    /// Over IPv4 the length is taken modulo 2^16, as the field is 16 bits wide.
    #[inline]
    pub fn sum(&self, protocol: IpProtocol, length: u32) -> u16 {
        match self {
            PseudoHeader::V4 { src, dst } => pseudo_header_v4(*src, *dst, protocol, length as u16),
            PseudoHeader::V6 { src, dst } => pseudo_header_v6(src, dst, protocol, length),
        }
    }

    /// Whether this is IPv4 (where a zero UDP checksum means "none").
    #[inline]
    pub const fn is_v4(&self) -> bool {
        matches!(self, PseudoHeader::V4 { .. })
    }
}

/// RFC 1624 eqn. 3: the header checksum after one 16-bit word changes from `old` to `new`,
/// `HC' = ~(~HC + ~m + m')`. Equals full recomputation for every header that is not all
/// zeros, including the cases where the result is 0x0000 (where eqn. 2 would give 0xFFFF).
#[inline]
pub const fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = (!checksum) as u64 + (!old) as u64 + new as u64;
    // `fold` is not const; two rounds suffice for three 16-bit terms (< 2^18).
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// RFC 1624 update for a 32-bit field (an IPv4 address, a sequence number) changing.
#[inline]
pub const fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let acc = (!checksum) as u64
        + (!(old >> 16) & 0xffff) as u64
        + (!old & 0xffff) as u64
        + (new >> 16) as u64
        + (new & 0xffff) as u64;
    let acc = (acc & 0xffff) + (acc >> 16);
    let acc = (acc & 0xffff) + (acc >> 16);
    !(acc as u16)
}

/// RFC 1624 update for a field of any even width (an IPv6 address) changing from `old` to
/// `new`. The two slices must have the same even length starting at an even offset of the
/// checksummed region; otherwise the result is meaningless (but nothing panics).
#[inline]
pub fn update(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    let acc = u64::from(!checksum) + u64::from(!sum(old)) + u64::from(sum(new));
    !fold(acc)
}

/// What software does with one protocol's checksum.
///
/// One [`ChecksumCapabilities`] describes a direction: a node keeps one for the receive side
/// (from the packet's rx offload flags: "the NIC verified it") and one for the transmit side
/// (from the egress port's tx offloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Checksum {
    /// Transmit: compute in software. Receive: verify in software.
    #[default]
    Software,
    /// Transmit: prepare the packet the way a checksum-offloading NIC expects (DPDK
    /// `RTE_MBUF_F_TX_*_CKSUM`): IPv4 header checksum 0, TCP/UDP checksum field = the
    /// pseudo-header sum, not complemented. Receive: the NIC has verified it; skip.
    Hardware,
    /// Transmit: write 0 (for UDP over IPv4, "no checksum", as VXLAN outer headers use per
    /// RFC 7348). Receive: do not verify.
    Omit,
}

impl Checksum {
    /// Whether a received packet's checksum must be verified in software.
    #[inline]
    pub const fn verify_rx(self) -> bool {
        matches!(self, Checksum::Software)
    }
}

/// Checksum behaviour per protocol: the offload ability of a port, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChecksumCapabilities {
    /// IPv4 header checksum.
    pub ipv4: Checksum,
    /// UDP checksum (over IPv4 or IPv6).
    pub udp: Checksum,
    /// TCP checksum (over IPv4 or IPv6).
    pub tcp: Checksum,
    /// ICMPv4 checksum (no NIC offloads it).
    pub icmpv4: Checksum,
    /// ICMPv6 checksum (no NIC offloads it).
    pub icmpv6: Checksum,
}

impl ChecksumCapabilities {
    /// Everything computed and verified in software (a port without offloads, unit tests).
    pub const SOFTWARE: ChecksumCapabilities = ChecksumCapabilities {
        ipv4: Checksum::Software,
        udp: Checksum::Software,
        tcp: Checksum::Software,
        icmpv4: Checksum::Software,
        icmpv6: Checksum::Software,
    };

    /// Nothing computed or verified (fuzzing, trusted test fixtures).
    pub const IGNORE: ChecksumCapabilities = ChecksumCapabilities {
        ipv4: Checksum::Omit,
        udp: Checksum::Omit,
        tcp: Checksum::Omit,
        icmpv4: Checksum::Omit,
        icmpv6: Checksum::Omit,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook RFC 1071 loop, one 16-bit word at a time: the reference for the fast sum.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            acc += u32::from(word);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    /// Sets the checksum at `at` so that `data` verifies, the way a sender does.
    fn fill(data: &mut [u8], at: usize) {
        data[at..at + 2].copy_from_slice(&[0, 0]);
        let c = finish(sum(data));
        data[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// Whether every byte but the checksum field at `at` is zero: the one region the
    /// incremental update is documented not to match (no real header is all zeros).
    fn all_zero_but(data: &[u8], at: usize) -> bool {
        data.iter()
            .enumerate()
            .all(|(i, &b)| b == 0 || i == at || i == at + 1)
    }

    fn word(data: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([data[at], data[at + 1]])
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(finish(sum(&data)), 0x220d);
    }

    #[test]
    fn known_ipv4_header_checksum() {
        // A real IPv4 header (ICMP echo 192.168.0.1 -> 192.168.0.199) with checksum b861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(verifies(&header));
        let mut zeroed = header;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(finish(sum(&zeroed)), 0xb861);
    }

    #[test]
    fn odd_lengths_pad_on_the_right() {
        assert_eq!(sum(&[0xab]), 0xab00);
        assert_eq!(sum(&[0x01, 0x02, 0x03]), 0x0102 + 0x0300);
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0; 64]), 0);
    }

    #[test]
    fn combine_matches_one_sum() {
        let data: Vec<u8> = (0..200u8).collect();
        let whole = sum(&data);
        assert_eq!(
            combine(&[sum(&data[..64]), sum(&data[64..130]), sum(&data[130..])]),
            whole
        );
    }

    #[test]
    fn rfc1624_example_gives_zero_not_ffff() {
        // RFC 1624 section 4: other words sum to 0xCD7A, m = 0x5555 changes to 0x3285.
        // HC = ~(0xCD7A + 0x5555) = 0xDD2F; the right answer is 0x0000 (eqn. 2 gave 0xFFFF).
        assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
        let mut data = [0xcd, 0x7a, 0x55, 0x55, 0, 0];
        fill(&mut data, 4);
        assert_eq!(word(&data, 4), 0xdd2f);
        data[2..4].copy_from_slice(&[0x32, 0x85]);
        fill(&mut data, 4);
        assert_eq!(word(&data, 4), 0x0000);
    }

    #[test]
    fn update_out_of_zero_checksum() {
        // Header words 0x0001 0xFFFE sum to 0xFFFF: checksum 0x0000. Moving out of it.
        assert_eq!(update16(0x0000, 0xfffe, 0x0000), 0xfffe);
        assert_eq!(update32(0x0000, 0x0001_fffe, 0x0001_0000), 0xfffe);
    }

    #[test]
    fn pseudo_headers_match_their_byte_layout() {
        let src = Ipv4Addr::new(192, 168, 50, 1);
        let dst = Ipv4Addr::new(192, 168, 50, 2);
        let bytes = [192, 168, 50, 1, 192, 168, 50, 2, 0, 17, 0x01, 0x00];
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::Udp, 0x100),
            sum(&bytes)
        );

        let s6: Ipv6Addr = "fe80::1".parse().unwrap();
        let d6: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let mut b6 = Vec::new();
        b6.extend_from_slice(&s6.octets());
        b6.extend_from_slice(&d6.octets());
        b6.extend_from_slice(&0x0001_0020u32.to_be_bytes());
        b6.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_v6(&s6, &d6, IpProtocol::Icmpv6, 0x0001_0020),
            sum(&b6)
        );
        let ph = PseudoHeader::V6 { src: s6, dst: d6 };
        assert_eq!(ph.sum(IpProtocol::Icmpv6, 0x0001_0020), sum(&b6));
    }

    #[test]
    fn capabilities_default_to_software() {
        assert_eq!(
            ChecksumCapabilities::default(),
            ChecksumCapabilities::SOFTWARE
        );
        assert!(Checksum::Software.verify_rx());
        assert!(!Checksum::Hardware.verify_rx());
        assert!(!Checksum::Omit.verify_rx());
    }

    /// A header-like region: even length, checksum at a random even offset, never all zero
    /// (real headers carry a version or a protocol number).
    fn header() -> impl Strategy<Value = (Vec<u8>, usize)> {
        (4usize..40)
            .prop_flat_map(|words| (prop::collection::vec(any::<u8>(), words * 2), 0..words))
            .prop_map(|(mut data, cw)| {
                let at = cw * 2;
                let other = (at + 2) % data.len();
                data[other] |= 0x40;
                fill(&mut data, at);
                (data, at)
            })
    }

    #[test]
    fn sum20_carries_end_around_at_the_edges() {
        // Carries out of both 64-bit additions, and none; random headers rarely get there.
        let mut cases = vec![[0xff; 20], [0; 20], [0xfe; 20]];
        for i in 0..20 {
            let mut h = [0xff; 20];
            h[i] = 0;
            cases.push(h);
            let mut h = [0; 20];
            h[i] = 0xff;
            cases.push(h);
        }
        // The first add carries out and the second lands exactly on 2^64 - 1: adding the
        // first carry then would overflow (as a 0x45 header can: 45 ff .. ff | ff .. ff |
        // bb 00 00 00 on a little-endian machine, 00 00 00 bb on a big-endian one).
        let mut h = [0xff; 20];
        h[0] = 0x45;
        h[16..].copy_from_slice(&[0xbb, 0, 0, 0]);
        cases.push(h);
        h[16..].copy_from_slice(&[0, 0, 0, 0xbb]);
        h[0] = 0xff;
        h[7] = 0x45;
        cases.push(h);
        for h in cases {
            assert_eq!(sum20(&h), sum(&h), "{h:02x?}");
        }
    }

    proptest! {
        #[test]
        fn sum20_equals_sum(h in proptest::array::uniform20(any::<u8>())) {
            prop_assert_eq!(sum20(&h), sum(&h));
        }

        #[test]
        fn ttl_decrement_update_equals_recomputation(
            h in proptest::array::uniform20(any::<u8>()),
            ttl in 1u8..=255,
        ) {
            let mut h = h;
            h[8] = ttl;
            h[10] = 0;
            h[11] = 0;
            let c = finish(sum20(&h));
            h[10..12].copy_from_slice(&c.to_be_bytes());
            h[8] -= 1;
            let updated = ttl_decrement_update(c);
            h[10..12].copy_from_slice(&[0, 0]);
            let recomputed = finish(sum20(&h));
            // Equal, except for an all-zero header, whose recomputed checksum is the other
            // ones'-complement zero.
            prop_assert!(updated == recomputed || (updated == 0 && recomputed == 0xffff),
                "updated {:#06x} recomputed {:#06x}", updated, recomputed);
        }
        #[test]
        fn fast_sum_matches_reference(data in prop::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(sum(&data), reference_sum(&data));
        }

        #[test]
        fn filled_regions_verify((data, _at) in header()) {
            prop_assert!(verifies(&data));
        }

        #[test]
        fn update16_equals_recompute((mut data, at) in header(), pick in any::<usize>(), new in any::<u16>()) {
            let words = data.len() / 2;
            let w = (pick % (words - 1) + at / 2 + 1) % words * 2; // any word but the checksum
            let old = word(&data, w);
            let hc = word(&data, at);
            data[w..w + 2].copy_from_slice(&new.to_be_bytes());
            prop_assume!(!all_zero_but(&data, at));
            let incremental = update16(hc, old, new);
            fill(&mut data, at);
            prop_assert_eq!(incremental, word(&data, at));
        }

        #[test]
        fn update32_and_slices_equal_recompute((mut data, at) in header(), pick in any::<usize>(), new in any::<u32>()) {
            // A 32-bit field at an even offset that does not overlap the checksum.
            let len = data.len();
            let starts: Vec<usize> = (0..len - 2).step_by(2)
                .filter(|&s| s + 4 <= len && (s + 4 <= at || s >= at + 2))
                .collect();
            prop_assume!(!starts.is_empty());
            let s = starts[pick % starts.len()];
            let old_bytes = data[s..s + 4].to_vec();
            let old = u32::from_be_bytes([old_bytes[0], old_bytes[1], old_bytes[2], old_bytes[3]]);
            let hc = word(&data, at);
            data[s..s + 4].copy_from_slice(&new.to_be_bytes());
            prop_assume!(!all_zero_but(&data, at));
            let by_u32 = update32(hc, old, new);
            let by_slice = update(hc, &old_bytes, &new.to_be_bytes());
            fill(&mut data, at);
            prop_assert_eq!(by_u32, word(&data, at));
            prop_assert_eq!(by_slice, word(&data, at));
        }

        #[test]
        fn update16_into_and_out_of_the_corners(rest in 1u16..=0xfffe, m in any::<u16>()) {
            // Choose m' so that the header sums to all ones: the checksum must become exactly
            // 0x0000 (never the other zero, 0xFFFF); then change it back.
            let mut data = [0u8; 6];
            data[0..2].copy_from_slice(&rest.to_be_bytes());
            data[2..4].copy_from_slice(&m.to_be_bytes());
            fill(&mut data, 4);
            let hc = word(&data, 4);
            let target = !rest; // rest + target = 0xFFFF
            let hc2 = update16(hc, m, target);
            prop_assert_eq!(hc2, 0x0000);
            data[2..4].copy_from_slice(&target.to_be_bytes());
            fill(&mut data, 4);
            prop_assert_eq!(word(&data, 4), 0x0000);
            prop_assert_eq!(update16(hc2, target, m), hc);
        }
    }
}
