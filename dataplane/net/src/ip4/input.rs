//! ip4-input: validates IPv4 headers before anything trusts them.
//!
//! Reads: the IPv4 header at the start of the data; the NIC's checksum verdict.
//! Checks: version, IHL, total length against the frame, header checksum (unless the NIC
//! already verified it), and options when there are any: well formed, and no source route
//! (LSRR/SSRR: dropped, as routers do by default). Trims Ethernet padding past the total
//! length.
//! Sets nothing in the metadata: a packet that leaves towards ip4-lookup passed. (The flow
//! hash is computed later, only by the nodes that need one: [`packet_flow_hash`].)
//! Next: `vxlan-decap` for an unfragmented UDP datagram to a local VXLAN endpoint
//! ([`FwdState::vtep_bypass`]; a header without options, so the check is a few compares on a
//! line already loaded); `ip4-lookup` for everything else, or `drop` by reason. The bypass
//! is what ip4-lookup (our address) and ip4-local (a VTEP's port) would decide, two nodes
//! sooner; packets it does not take (options, fragments) still get there that way.

use crate::buffer::{CsumStatus, PacketBuf};
use crate::fwd::FwdState;
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;
use crate::wire::checksum;

crate::arcs! {
    pub enum Ip4InputNext { Drop => "drop", Lookup => "ip4-lookup", VxlanDecap => "vxlan-decap" }
}

crate::errors! {
    pub enum Ip4InputError {
        Truncated => "IPv4 header truncated",
        BadVersion => "IP version is not 4",
        BadIhl => "IPv4 header length below 20 bytes",
        BadTotalLength => "IPv4 total length disagrees with the frame",
        BadChecksum => "IPv4 header checksum wrong",
        BadOptions => "IPv4 options malformed",
        SourceRouted => "source-routed (LSRR/SSRR option; not forwarded)",
    }
}

/// The ip4-input node.
pub struct Ip4Input {
    state: RcuReader<FwdState>,
}

impl Ip4Input {
    pub fn new(state: RcuReader<FwdState>) -> Self {
        Ip4Input { state }
    }
}

/// Where ip4-input would send `p` (its data starting at an IPv4 header) when it would pass
/// the packet on as it is, decided in one look: `Some(Lookup)`, or `Some(VxlanDecap)` for the
/// VTEP bypass; `None` when this node must see the packet: options, Ethernet padding to trim,
/// anything wrong to count. The nodes in front of ip4-input that already hold the header
/// (ethernet-input, and vxlan-decap for an inner packet) use it to save the packet a pass
/// through this node; what it lets through is exactly what [`check`] passes unchanged.
#[inline(always)]
pub(crate) fn pass_on<B: PacketBuf>(p: &B, vteps: &[(u32, u16)]) -> Option<Ip4InputNext> {
    let verdict = verdict(p);
    let ip = p.data();
    if passes_as_is(ip, verdict) {
        Some(onward(ip, vteps))
    } else {
        None
    }
}

/// Where a packet that passed the checks goes: `vxlan-decap` for VXLAN to one of `vteps`
/// (the bypass), else `ip4-lookup`. The one rule, for this node and for [`pass_on`].
#[inline(always)]
fn onward(ip: &[u8], vteps: &[(u32, u16)]) -> Ip4InputNext {
    if !vteps.is_empty() && to_vtep(ip, vteps) {
        Ip4InputNext::VxlanDecap
    } else {
        Ip4InputNext::Lookup
    }
}

/// Whether `ip` is an IPv4 header [`check`] passes as it is: no options, a total length equal
/// to the data's (no padding to trim) and a right checksum (`verdict`, or summed in software
/// when the NIC gave none).
#[inline(always)]
fn passes_as_is(ip: &[u8], verdict: CsumStatus) -> bool {
    ip.first_chunk::<20>().is_some_and(|h| {
        h[0] == 0x45
            && usize::from(u16::from_be_bytes([h[2], h[3]])) == ip.len()
            && match verdict {
                CsumStatus::Good => true,
                CsumStatus::Bad => false,
                CsumStatus::Unknown => checksum::sum20(h) == 0xffff,
            }
    })
}

/// The NIC's verdict on `p`'s IPv4 header checksum. After decapsulation it described the
/// outer packet: unknown.
#[inline(always)]
fn verdict<B: PacketBuf>(p: &B) -> CsumStatus {
    if p.meta().decap_depth > 0 {
        CsumStatus::Unknown
    } else {
        p.rx_ip_csum()
    }
}

/// A flow hash of an IPv4 packet (`ip` starts at its header, at least 20 bytes): addresses,
/// protocol, and the TCP/UDP/SCTP ports of unfragmented packets. Fragments (MF set or an
/// offset) hash on addresses and protocol only, as Linux's flow dissector does, so every
/// fragment of a datagram takes the same ECMP path and VXLAN source port. Cheap and well
/// mixed; the one IPv4 hash of the graph (vxlan's `inner_flow_hash` calls it too).
///
/// # Panics
/// If `ip` is shorter than 20 bytes.
#[inline(always)]
pub fn flow_hash(ip: &[u8]) -> u32 {
    // The common header, without options, with its transport ports in the same 24 bytes:
    // fixed offsets, no length arithmetic.
    if let Some(h) = ip.first_chunk::<24>()
        && h[0] == 0x45
    {
        let ports = match h[20..] {
            [a, b, c, d] if has_ports(h) => u32::from_be_bytes([a, b, c, d]),
            _ => 0,
        };
        return mix(h, ports);
    }
    let h = ip.first_chunk::<20>().expect("flow_hash needs 20 bytes");
    let ihl = usize::from(h[0] & 0xf) * 4;
    let ports = match ip.get(ihl..ihl + 4) {
        Some(&[a, b, c, d]) if ihl >= 20 && has_ports(h) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    };
    mix(h, ports)
}

/// Whether a packet with IPv4 header `h` carries transport ports the flow hash takes: TCP,
/// UDP or SCTP, and not a fragment.
#[inline(always)]
fn has_ports(h: &[u8]) -> bool {
    u16::from_be_bytes([h[6], h[7]]) & 0x3fff == 0 && matches!(h[9], 6 | 17 | 132)
}

/// The hash of addresses, protocol and `ports` (0 when none).
#[inline(always)]
fn mix(h: &[u8], ports: u32) -> u32 {
    let addrs = u64::from_be_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
    let mut x = addrs.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= (u64::from(ports) << 8 | u64::from(h[9])).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    x ^= x >> 29;
    (x ^ (x >> 32)) as u32
}

impl<B: PacketBuf> Node<B> for Ip4Input {
    fn name(&self) -> &'static str {
        "ip4-input"
    }
    fn arcs(&self) -> &'static [&'static str] {
        Ip4InputNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        Ip4InputError::NAMES
    }

    fn quiescent(&mut self) {
        self.state.refresh();
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let vteps = &self.state.get().vtep_bypass[..];
        for (p, nx) in pkts.iter_mut().zip(next.iter_mut()) {
            *nx = match check(p) {
                Ok(()) => onward(p.data(), vteps).arc(),
                Err(e) => {
                    ctx.count(e.idx());
                    Ip4InputNext::Drop.arc()
                }
            };
        }
    }
}

/// Whether `ip`, a packet [`check`] passed, is an unfragmented UDP datagram without IPv4
/// options to one of `vteps` (address bits, UDP port). The destination address is compared
/// first, so routed traffic (nearly all of it) is told apart in one compare; a node has one
/// local VTEP address far more often than several.
#[inline(always)]
fn to_vtep(ip: &[u8], vteps: &[(u32, u16)]) -> bool {
    // `check` cut the data to the total length: 28 bytes hold the UDP header.
    let Some(h) = ip.first_chunk::<28>() else {
        return false;
    };
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    let port = match vteps {
        [(a, port)] if *a == dst => *port,
        [_] => return false,
        _ => match vteps.iter().find(|&&(a, p)| a == dst && p == dport(h)) {
            Some(&(_, port)) => port,
            None => return false,
        },
    };
    dport(h) == port && h[0] == 0x45 && h[9] == 17 && u16::from_be_bytes([h[6], h[7]]) & 0x3fff == 0
}

/// The UDP destination port of an option-less IPv4 header and what follows.
#[inline(always)]
fn dport(h: &[u8; 28]) -> u16 {
    u16::from_be_bytes([h[22], h[23]])
}

#[inline(always)]
fn check<B: PacketBuf>(p: &mut B) -> Result<(), Ip4InputError> {
    let verdict = verdict(p);
    let d = p.data();
    let len = d.len();
    let Some(h) = d.first_chunk::<20>() else {
        return Err(Ip4InputError::Truncated);
    };
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // 0x45, no options, is the common case: the header is `h` and sums in five adds.
    let ihl = if h[0] == 0x45 {
        20
    } else if h[0] >> 4 != 4 {
        return Err(Ip4InputError::BadVersion);
    } else {
        match usize::from(h[0] & 0xf) * 4 {
            ihl if ihl < 20 => return Err(Ip4InputError::BadIhl),
            ihl if len < ihl => return Err(Ip4InputError::Truncated),
            ihl => ihl,
        }
    };
    if total < ihl || total > len {
        return Err(Ip4InputError::BadTotalLength);
    }
    let good = match verdict {
        CsumStatus::Good => true,
        CsumStatus::Bad => false,
        CsumStatus::Unknown if ihl == 20 => checksum::sum20(h) == 0xffff,
        CsumStatus::Unknown => checksum::verifies(&d[..ihl]),
    };
    if !good {
        return Err(Ip4InputError::BadChecksum);
    }
    if ihl > 20 {
        options(&d[20..ihl])?;
    }
    if total < len {
        // Ethernet padding.
        p.truncate(total);
    }
    Ok(())
}

/// Checks a header's options: each well formed (RFC 791: a length that covers its own two
/// bytes and stays within the header), and none a loose or strict source route. Source
/// routing lets a sender pick the path through us, around filters; routers drop it by
/// default (RFC 7126 section 4.3-4.4, Linux's `accept_source_route = 0`). The other options
/// (record route, timestamps, router alert...) are forwarded as they are, unprocessed.
fn options(opts: &[u8]) -> Result<(), Ip4InputError> {
    const END: u8 = 0;
    const NOP: u8 = 1;
    const LSRR: u8 = 0x83;
    const SSRR: u8 = 0x89;
    let mut rest = opts;
    while let Some((&kind, after)) = rest.split_first() {
        match kind {
            END => break,
            NOP => rest = after,
            _ => {
                let len = usize::from(*after.first().ok_or(Ip4InputError::BadOptions)?);
                if len < 2 || len > rest.len() {
                    return Err(Ip4InputError::BadOptions);
                }
                if kind == LSRR || kind == SSRR {
                    return Err(Ip4InputError::SourceRouted);
                }
                rest = &rest[len..];
            }
        }
    }
    Ok(())
}

/// A flow hash the packet already has: the one in its metadata (set by the first node that
/// computed one), else the NIC's RSS hash (not after decapsulation: it hashed the outer
/// packet). `None`: the caller hashes the headers it has in front of it.
#[inline(always)]
pub fn known_flow_hash<B: PacketBuf>(p: &B) -> Option<u32> {
    let m = p.meta();
    if m.flow_hash != 0 {
        Some(m.flow_hash)
    } else if m.decap_depth == 0 {
        p.rx_rss_hash()
    } else {
        None
    }
}

/// The flow hash of a packet whose data starts at its IPv4 header: [`known_flow_hash`], else
/// [`flow_hash`]. Computed by the nodes that need one (ECMP), so plain routing never pays.
#[inline(always)]
pub fn packet_flow_hash<B: PacketBuf>(p: &B) -> u32 {
    known_flow_hash(p).unwrap_or_else(|| match p.data() {
        ip if ip.len() >= 20 => flow_hash(ip),
        _ => 0,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Ip4InputError, Ip4InputNext, check, flow_hash, pass_on, passes_as_is};
    use crate::buffer::{CsumStatus, PacketBuf, VecBuf};
    use crate::wire::checksum;

    fn udp(sport: u16, frag: u16) -> [u8; 28] {
        let mut ip = [0u8; 28];
        ip[0] = 0x45;
        ip[6..8].copy_from_slice(&frag.to_be_bytes());
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
        ip[20..22].copy_from_slice(&sport.to_be_bytes());
        ip
    }

    #[test]
    fn ports_count_except_in_fragments() {
        assert_ne!(flow_hash(&udp(1000, 0)), flow_hash(&udp(1001, 0)));
        // The first fragment (MF, offset 0) hashes like a later one, whose "ports" are data.
        assert_eq!(
            flow_hash(&udp(1000, 0x2000)),
            flow_hash(&udp(0xdead, 0x00b9))
        );
    }

    /// A 28-byte UDP datagram whose IPv4 header is right: total length 28, checksum filled.
    fn clean() -> Vec<u8> {
        let mut ip = udp(1000, 0).to_vec();
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        ip[8] = 64;
        let sum = checksum::sum20(ip.first_chunk().expect("28 bytes"));
        ip[10..12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
        ip
    }

    /// `clean()` with `opts` (padded to a multiple of 4 with end-of-options) in its header,
    /// lengths and checksum right.
    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut o = opts.to_vec();
        o.resize(opts.len().div_ceil(4) * 4, 0);
        let c = clean();
        let mut ip = c[..20].to_vec();
        ip.extend(&o);
        ip.extend(&c[20..]);
        ip[0] = 0x45 + (o.len() / 4) as u8;
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[10..12].fill(0);
        let sum = !checksum::sum(&ip[..20 + o.len()]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip
    }

    #[test]
    fn source_routes_and_malformed_options_are_refused_others_pass() {
        let route = [10, 0, 0, 9, 10, 0, 0, 2];
        let lsrr = [[0x83, 11, 4].as_slice(), &route].concat();
        let ssrr = [[0x89, 11, 4].as_slice(), &route].concat();
        let record_route = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0];
        let router_alert = [0x94, 4, 0, 0];
        let nops_then_lsrr = [[1, 1].as_slice(), &lsrr].concat();
        let alert_then_ssrr = [router_alert.as_slice(), &ssrr].concat();
        let cases: [(&[u8], Result<(), Ip4InputError>); 9] = [
            (&[1, 1, 1, 1], Ok(())),
            (&record_route, Ok(())),
            (&router_alert, Ok(())),
            // After end-of-options: not looked at.
            (&[1, 0, 0x83, 11], Ok(())),
            (&nops_then_lsrr, Err(Ip4InputError::SourceRouted)),
            (&alert_then_ssrr, Err(Ip4InputError::SourceRouted)),
            // A length below 2, one beyond the header, none at all.
            (&[0x94, 1, 0, 0], Err(Ip4InputError::BadOptions)),
            (&[7, 40, 4, 0], Err(Ip4InputError::BadOptions)),
            (&[1, 1, 1, 0x94], Err(Ip4InputError::BadOptions)),
        ];
        for (opts, want) in cases {
            let ip = with_options(opts);
            let mut p = VecBuf::new(&ip);
            assert_eq!(check(&mut p), want, "options {opts:02x?}");
        }
    }

    #[test]
    fn a_clean_header_passes_as_is_and_padding_options_or_a_bad_sum_do_not() {
        let unknown = CsumStatus::Unknown;
        assert!(passes_as_is(&clean(), unknown));
        let mut padded = clean();
        padded.extend([0; 4]);
        assert!(
            !passes_as_is(&padded, unknown),
            "padding is ip4-input's to trim"
        );
        let mut bad = clean();
        bad[10] ^= 1;
        assert!(!passes_as_is(&bad, unknown), "bad checksum");
        assert!(
            passes_as_is(&bad, CsumStatus::Good),
            "the NIC's verdict is taken"
        );
        assert!(
            !passes_as_is(&clean(), CsumStatus::Bad),
            "the NIC's verdict is taken"
        );
        let mut options = clean();
        options[0] = 0x46;
        assert!(!passes_as_is(&options, unknown), "options");
        assert!(!passes_as_is(&clean()[..19], unknown), "runt");
    }

    #[test]
    fn pass_on_names_the_vtep_bypass_and_ignores_the_nic_after_decap() {
        let p = VecBuf::new(&clean());
        assert_eq!(pass_on(&p, &[]), Some(Ip4InputNext::Lookup));
        // clean() is UDP from 10.0.0.1 port 1000 to 10.0.0.2, port 0 (its bytes 22..24).
        let vtep = (u32::from_be_bytes([10, 0, 0, 2]), 0);
        assert_eq!(pass_on(&p, &[vtep]), Some(Ip4InputNext::VxlanDecap));
        assert_eq!(pass_on(&p, &[(vtep.0, 4789)]), Some(Ip4InputNext::Lookup));
        let mut bad = clean();
        bad[10] ^= 1;
        let mut p = VecBuf::new(&bad);
        p.rx.ip = CsumStatus::Good;
        assert_eq!(pass_on(&p, &[]), Some(Ip4InputNext::Lookup));
        p.meta_mut().decap_depth = 1;
        assert_eq!(pass_on(&p, &[]), None, "the verdict was the outer packet's");
    }

    /// The hash as first written (one general path), kept to show the values never changed:
    /// ECMP paths and VXLAN source ports stay the same across an upgrade.
    fn reference_hash(ip: &[u8]) -> u32 {
        let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
        let proto = ip[9];
        let ihl = usize::from(ip[0] & 0xf) * 4;
        let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
        let ports = match ip.get(ihl..ihl + 4) {
            Some(&[a, b, c, d]) if ihl >= 20 && !fragment && matches!(proto, 6 | 17 | 132) => {
                u32::from_be_bytes([a, b, c, d])
            }
            _ => 0,
        };
        let mut h = (u64::from(src) << 32 | u64::from(dst)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= (u64::from(ports) << 8 | u64::from(proto)).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        h ^= h >> 29;
        (h ^ (h >> 32)) as u32
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn flow_hash_values_are_unchanged(
            mut ip in prop::collection::vec(any::<u8>(), 20..64),
            common in any::<bool>(),
            proto in prop::sample::select(vec![6u8, 17, 132, 1, 47]),
            frag in prop::sample::select(vec![0u16, 0x2000, 0x00b9, 0x4000]),
        ) {
            if common {
                ip[0] = 0x45;
            }
            ip[9] = proto;
            ip[6..8].copy_from_slice(&frag.to_be_bytes());
            prop_assert_eq!(flow_hash(&ip), reference_hash(&ip));
        }

        /// What the one-look test lets through, ip4-input passes without changing it: any
        /// header byte changed, the packet cut or padded.
        #[test]
        fn passes_as_is_agrees_with_check(
            edits in prop::collection::vec((0usize..28, any::<u8>()), 0..3),
            len in 0usize..40,
            fix_sum in any::<bool>(),
        ) {
            let mut ip = clean();
            for (i, b) in edits {
                ip[i] = b;
            }
            if fix_sum {
                ip[10..12].fill(0);
                let sum = checksum::sum20(ip.first_chunk().expect("28 bytes"));
                ip[10..12].copy_from_slice(&checksum::finish(sum).to_be_bytes());
            }
            ip.resize(len, 0);
            if passes_as_is(&ip, CsumStatus::Unknown) {
                let mut p = VecBuf::new(&ip);
                prop_assert_eq!(check(&mut p), Ok(()));
                prop_assert_eq!(p.data(), &ip[..]);
            }
        }
    }
}
