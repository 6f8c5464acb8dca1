//! ethernet-input: the first node every received frame goes through, and decapsulated inner
//! frames that vxlan-decap does not take straight to ip4-input (ARP, drops by reason).
//!
//! Reads: the Ethernet header at the start of the data, `meta.rx_if`; for IPv4, the IPv4
//! header after it and the NIC's checksum verdict.
//! Sets: strips the header (`adj`), `meta.l2_len`, `F_L2_MCAST` for broadcast/multicast.
//! Next: `arp-input` (ARP); for IPv4, where ip4-input would send it when ip4-input would pass
//! it on as it is (`ip4::input::pass_on`: no options, no padding, checksum right):
//! `ip4-lookup`, or `vxlan-decap` for a VXLAN packet to a local VTEP; any other IPv4 packet
//! goes to `ip4-input`, which trims, checks and counts it. `drop` for everything else, by
//! reason. Taking the clean packet past ip4-input saves it a whole pass over the vector: one
//! look at a header that is already in registers, instead of a node that loads it again
//! (measured with alternating fresh processes: L3 routing 42.39 -> 43.78 Mpps, decap
//! 27.84 -> 28.87). So ip4-input's packet counter in `show runtime` counts only the packets
//! it had to check in full.
//!
//! The common frame, IPv4 to the unicast MAC of an interface that is up, is told apart in two
//! compares against a key kept per vector; every other frame takes the full classification,
//! out of line.

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::{FwdState, Iface};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::ip4::input::Ip4InputNext;
use crate::rcu::RcuReader;
use crate::wire::EtherType;

crate::arcs! {
    pub enum EthernetNext {
        Drop => "drop",
        Arp => "arp-input",
        Ip4 => "ip4-input",
        Ip4Lookup => "ip4-lookup",
        VxlanDecap => "vxlan-decap",
    }
}

crate::errors! {
    pub enum EthernetError {
        Runt => "frame shorter than an Ethernet header",
        NoIface => "arrived on an unknown interface",
        IfaceDown => "arrived on an interface that is down",
        NotForUs => "destination MAC is not ours",
        Vlan => "VLAN-tagged frame (no VLAN sub-interfaces configured)",
        Ipv6 => "IPv6 frame (IPv6 not enabled)",
        UnknownEthertype => "unknown EtherType",
    }
}

const ETH_HLEN: usize = 14;

/// The ethernet-input node.
pub struct EthernetInput {
    state: RcuReader<FwdState>,
}

impl EthernetInput {
    pub fn new(state: RcuReader<FwdState>) -> Self {
        EthernetInput { state }
    }
}

impl<B: PacketBuf> Node<B> for EthernetInput {
    fn name(&self) -> &'static str {
        "ethernet-input"
    }
    fn arcs(&self) -> &'static [&'static str] {
        EthernetNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        EthernetError::NAMES
    }
    fn quiescent(&mut self) {
        self.state.refresh();
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let state = self.state.get();
        let vteps = &state.vtep_bypass[..];
        // Vectors mostly come from one interface: look it up once per change. Its key is
        // `MacKey::NONE` while it is down or unknown, so that every frame from it takes the
        // full path, which counts it.
        let mut cur = u32::MAX;
        let mut rx = Rx::NoIface;
        let mut key = MacKey::NONE;
        let n = pkts.len();
        for i in 0..n {
            if let Some(p) = pkts.get(i + 2) {
                p.prefetch();
            }
            let p = &mut pkts[i];
            let rx_if = p.meta().rx_if;
            if u32::from(rx_if) != cur {
                cur = u32::from(rx_if);
                rx = Rx::of(state.iface(rx_if));
                key = rx.key();
            }
            next[i] = if unicast_ip4(p, key) {
                strip(p, false);
                ip4_next(p, vteps)
            } else {
                classify(p, rx, vteps, ctx)
            };
        }
    }
}

/// Whether `p` is the common frame: IPv4 to the unicast MAC `key`. Two compares. (Also
/// vxlan-decap's test of an inner frame: it takes this one a node further itself.)
#[inline(always)]
pub(crate) fn unicast_ip4<B: PacketBuf>(p: &B, key: MacKey) -> bool {
    p.data()
        .first_chunk::<ETH_HLEN>()
        .is_some_and(|h| key.matches(h) && h[12..14] == [0x08, 0x00])
}

/// Where an IPv4 packet goes once its Ethernet header is off.
#[inline(always)]
fn ip4_next<B: PacketBuf>(p: &B, vteps: &[(u32, u16)]) -> u8 {
    match crate::ip4::input::pass_on(p, vteps) {
        Some(Ip4InputNext::Lookup) => EthernetNext::Ip4Lookup.arc(),
        Some(Ip4InputNext::VxlanDecap) => EthernetNext::VxlanDecap.arc(),
        _ => EthernetNext::Ip4.arc(),
    }
}

/// What ethernet-input knows of the interface a frame arrived on.
#[derive(Debug, Clone, Copy)]
enum Rx {
    NoIface,
    Down,
    Up(MacKey),
}

impl Rx {
    #[inline(always)]
    fn of(iface: Option<&Iface>) -> Rx {
        match iface {
            None => Rx::NoIface,
            Some(f) if !f.up => Rx::Down,
            Some(f) => Rx::Up(MacKey::new(&f.mac)),
        }
    }

    /// The key [`unicast_ip4`] compares frames with: the MAC while the interface is up.
    #[inline(always)]
    fn key(self) -> MacKey {
        match self {
            Rx::Up(mac) => mac,
            Rx::NoIface | Rx::Down => MacKey::NONE,
        }
    }
}

/// Where a frame [`unicast_ip4`] did not take goes: group addresses, ARP, everything to
/// count. Out of line, off the common path, whose loop then holds its state in registers
/// (callgrind, L3: ethernet-input 113.3 -> 84.3 instructions a packet).
#[cold]
#[inline(never)]
fn classify<B: PacketBuf>(p: &mut B, rx: Rx, vteps: &[(u32, u16)], ctx: &mut NodeCtx<'_, B>) -> u8 {
    let drop = |ctx: &mut NodeCtx<'_, B>, e: EthernetError| {
        ctx.count(e.idx());
        EthernetNext::Drop.arc()
    };
    let mac = match rx {
        Rx::Up(mac) => mac,
        Rx::NoIface => return drop(ctx, EthernetError::NoIface),
        Rx::Down => return drop(ctx, EthernetError::IfaceDown),
    };
    let Some(h) = p.data().first_chunk::<ETH_HLEN>() else {
        return drop(ctx, EthernetError::Runt);
    };
    match accept(h, mac) {
        Ok((EthernetNext::Ip4, mcast)) => {
            strip(p, mcast);
            ip4_next(p, vteps)
        }
        Ok((next, mcast)) => {
            strip(p, mcast);
            next.arc()
        }
        Err(e) => drop(ctx, e),
    }
}

/// An interface's unicast MAC as [`accept`] compares it: the six bytes in the top 48 bits of
/// a little-endian `u64`, so a frame's destination is one 8-byte load and a shift away from
/// it (made once per interface, not per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MacKey(u64);

impl MacKey {
    /// A key no frame matches: a real key's low 16 bits are zero, and so are a shifted
    /// header's.
    const NONE: MacKey = MacKey(1);

    #[inline(always)]
    pub(crate) const fn new(mac: &[u8; 6]) -> MacKey {
        let [a, b, c, d, e, f] = *mac;
        MacKey(u64::from_le_bytes([0, 0, a, b, c, d, e, f]))
    }

    /// Whether the frame whose header is `h` is addressed to this MAC.
    #[inline(always)]
    fn matches(self, h: &[u8; ETH_HLEN]) -> bool {
        let first8 = h
            .first_chunk::<8>()
            .expect("an Ethernet header holds 8 bytes");
        // Bytes 6 and 7 (the source MAC's start) shift out; 0..6 land where `new` put ours.
        u64::from_le_bytes(*first8) << 16 == self.0
    }
}

/// Where a frame with Ethernet header `h` goes when it arrives on an interface whose MAC is
/// `mac`, and whether it was sent to a group address: the one rule for "is this frame ours".
/// ([`unicast_ip4`] is its common case alone.)
#[inline(always)]
fn accept(h: &[u8; ETH_HLEN], mac: MacKey) -> Result<(EthernetNext, bool), EthernetError> {
    // Our MAC is unicast: a frame to it is never a group frame.
    let mcast = if mac.matches(h) {
        false
    } else if h[0] & 1 != 0 {
        true
    } else {
        return Err(EthernetError::NotForUs);
    };
    // IPv4 first, on its own: in a match it would sit in a search tree with the rest.
    let next = match u16::from_be_bytes([h[12], h[13]]) {
        0x0800 => EthernetNext::Ip4,
        t => not_ip4(t)?,
    };
    Ok((next, mcast))
}

/// Where a frame of EtherType `t`, not IPv4, goes.
#[cold]
#[inline(never)]
fn not_ip4(t: u16) -> Result<EthernetNext, EthernetError> {
    match t {
        0x0806 => Ok(EthernetNext::Arp),
        0x86dd => Err(EthernetError::Ipv6),
        t if EtherType::from(t).is_vlan_tpid() => Err(EthernetError::Vlan),
        _ => Err(EthernetError::UnknownEthertype),
    }
}

/// Takes the Ethernet header off an accepted frame and records what it said.
#[inline(always)]
pub(crate) fn strip<B: PacketBuf>(p: &mut B, mcast: bool) {
    p.adj(ETH_HLEN);
    let m = p.meta_mut();
    m.l2_len = ETH_HLEN as u8;
    if mcast {
        m.flags |= PacketMeta::F_L2_MCAST;
    }
}

#[cfg(test)]
mod tests {
    use super::{ETH_HLEN, EthernetError, EthernetNext, MacKey, accept};

    const OURS: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    fn header(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> [u8; ETH_HLEN] {
        let mut h = [0u8; ETH_HLEN];
        h[..6].copy_from_slice(&dst);
        h[6..12].copy_from_slice(&src);
        h[12..].copy_from_slice(&ethertype.to_be_bytes());
        h
    }

    #[test]
    fn the_mac_key_takes_exactly_our_six_bytes_whatever_the_source() {
        let key = MacKey::new(&OURS);
        for src in [[0; 6], [0xff; 6], OURS] {
            assert!(key.matches(&header(OURS, src, 0x0800)), "from {src:02x?}");
        }
        for i in 0..6 {
            for bit in 0..8 {
                let mut dst = OURS;
                dst[i] ^= 1 << bit;
                assert!(!key.matches(&header(dst, OURS, 0x0800)), "{dst:02x?}");
            }
        }
    }

    #[test]
    fn accept_takes_our_mac_and_group_frames_only() {
        let key = MacKey::new(&OURS);
        let other = [0x02, 0x11, 0x22, 0x33, 0x44, 0x56];
        assert_eq!(
            accept(&header(OURS, other, 0x0800), key),
            Ok((EthernetNext::Ip4, false))
        );
        assert_eq!(
            accept(&header([0xff; 6], other, 0x0806), key),
            Ok((EthernetNext::Arp, true))
        );
        assert_eq!(
            accept(&header([0x01, 0, 0x5e, 0, 0, 1], other, 0x0800), key),
            Ok((EthernetNext::Ip4, true))
        );
        assert_eq!(
            accept(&header(other, OURS, 0x0800), key),
            Err(EthernetError::NotForUs)
        );
        assert_eq!(
            accept(&header(OURS, other, 0x86dd), key),
            Err(EthernetError::Ipv6)
        );
        assert_eq!(
            accept(&header(OURS, other, 0x8100), key),
            Err(EthernetError::Vlan)
        );
        assert_eq!(
            accept(&header(OURS, other, 0x88cc), key),
            Err(EthernetError::UnknownEthertype)
        );
    }
}
