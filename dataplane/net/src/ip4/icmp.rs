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

/// A token bucket for the ICMP errors one worker sends. RFC 1812 (4.3.2.8) asks a router to
/// limit them: each costs a rewrite and goes back towards a source that may be forged, so a
/// flood of TTL 1 packets must not turn into a flood of replies at line rate. Linux sends at
/// most 1000 a second, in bursts of 50 (`icmp_msgs_per_sec`, `icmp_msgs_burst`).
#[derive(Debug, Clone)]
pub struct IcmpLimit {
    /// Clocks per token; `None`: no limit.
    interval: Option<u64>,
    burst: u32,
    tokens: u32,
    /// Clock of the last refill.
    last: u64,
}

impl IcmpLimit {
    /// At most `per_sec` errors a second on average, `burst` at once, on a clock of `hz`
    /// ticks a second. `per_sec` 0 (or `burst` 0) sends none.
    pub fn new(per_sec: u32, burst: u32, hz: u64) -> IcmpLimit {
        let (interval, burst) = match per_sec {
            0 => (u64::MAX, 0),
            n => ((hz / u64::from(n)).max(1), burst),
        };
        IcmpLimit {
            interval: Some(interval),
            burst,
            tokens: burst,
            last: 0,
        }
    }

    /// No limit.
    pub fn unlimited() -> IcmpLimit {
        IcmpLimit {
            interval: None,
            burst: 0,
            tokens: 0,
            last: 0,
        }
    }

    /// Whether an error may be sent at clock `now` (taking a token if so).
    pub fn allow(&mut self, now: u64) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let add = now.wrapping_sub(self.last) / interval;
        if add > 0 {
            let tokens = u64::from(self.tokens) + add;
            // Full: an idle spell banks nothing beyond the burst. Else the remainder of the
            // interval carries over, so the rate holds whatever the calls' spacing.
            self.last = if tokens >= u64::from(self.burst) {
                now
            } else {
                self.last.wrapping_add(add * interval)
            };
            self.tokens = tokens.min(u64::from(self.burst)) as u32;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
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

#[cfg(test)]
mod tests {
    use super::IcmpLimit;

    /// How many of `n` errors asked at clock `now` the limit lets through.
    fn sent(l: &mut IcmpLimit, now: u64, n: usize) -> usize {
        (0..n).filter(|_| l.allow(now)).count()
    }

    #[test]
    fn a_burst_then_the_rate_and_never_more_than_the_burst_banked() {
        // 10 a second on a 1000 Hz clock: one every 100 clocks, 3 at once.
        let mut l = IcmpLimit::new(10, 3, 1000);
        assert_eq!(sent(&mut l, 0, 5), 3, "the burst");
        assert_eq!(sent(&mut l, 99, 5), 0, "not a whole interval later");
        assert_eq!(sent(&mut l, 150, 5), 1, "one interval");
        // The 50 clocks left over count towards the next token.
        assert_eq!(sent(&mut l, 200, 5), 1, "the remainder carried over");
        assert_eq!(
            sent(&mut l, 1_000_000, 10),
            3,
            "a long idle spell: the burst, no more"
        );
        // Asked every clock for the next 10 s, the burst just spent: one each 100 clocks,
        // at 100, 200, ... 9900.
        let total: usize = (1..10_000u64).map(|t| sent(&mut l, 1_000_000 + t, 1)).sum();
        assert_eq!(total, 99, "10 a second");
    }

    #[test]
    fn zero_sends_none_and_unlimited_sends_all() {
        let mut none = IcmpLimit::new(0, 50, 1000);
        assert_eq!(sent(&mut none, 0, 10), 0);
        assert_eq!(sent(&mut none, u64::MAX / 2, 10), 0);
        let mut no_burst = IcmpLimit::new(1000, 0, 1000);
        assert_eq!(sent(&mut no_burst, 5000, 10), 0);
        let mut all = IcmpLimit::unlimited();
        assert_eq!(sent(&mut all, 0, 1000), 1000);
    }
}
