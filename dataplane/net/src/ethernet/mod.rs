//! ethernet-input: the first node every received frame goes through, and decapsulated inner
//! frames that vxlan-decap does not take straight to ip4-input (ARP, drops by reason).
//!
//! Reads: the Ethernet header at the start of the data, `meta.rx_if`.
//! Sets: strips the header (`adj`), `meta.l2_len`, `F_L2_MCAST` for broadcast/multicast.
//! Next: `arp-input` (ARP), `ip4-input` (IPv4), `drop` (everything else, by reason).

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::{FwdState, IfIndex, Iface};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;
use crate::wire::EtherType;

crate::arcs! {
    pub enum EthernetNext { Drop => "drop", Arp => "arp-input", Ip4 => "ip4-input" }
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
        // Vectors mostly come from one interface: look it up once per change.
        let mut cur: Option<(IfIndex, Option<&Iface>)> = None;
        let n = pkts.len();
        for i in 0..n {
            if let Some(p) = pkts.get(i + 2) {
                p.prefetch();
            }
            let p = &mut pkts[i];
            let rx_if = p.meta().rx_if;
            let iface = match cur {
                Some((idx, f)) if idx == rx_if => f,
                _ => {
                    let f = state.iface(rx_if);
                    cur = Some((rx_if, f));
                    f
                }
            };
            next[i] = classify(p, iface, ctx);
        }
    }
}

#[inline(always)]
fn classify<B: PacketBuf>(p: &mut B, iface: Option<&Iface>, ctx: &mut NodeCtx<'_, B>) -> u8 {
    let drop = |ctx: &mut NodeCtx<'_, B>, e: EthernetError| {
        ctx.count(e.idx());
        EthernetNext::Drop.arc()
    };
    let Some(iface) = iface else {
        return drop(ctx, EthernetError::NoIface);
    };
    if !iface.up {
        return drop(ctx, EthernetError::IfaceDown);
    }
    let Some(h) = p.data().first_chunk::<ETH_HLEN>() else {
        return drop(ctx, EthernetError::Runt);
    };
    match accept(h, &iface.mac) {
        Ok((next, mcast)) => {
            strip(p, mcast);
            next.arc()
        }
        Err(e) => drop(ctx, e),
    }
}

/// Where a frame with Ethernet header `h` goes when it arrives on an interface whose MAC is
/// `mac`, and whether it was sent to a group address. The one rule for "is this frame ours",
/// shared with vxlan-decap, which classifies inner frames itself to skip a second pass
/// through this node.
#[inline(always)]
pub(crate) fn accept(
    h: &[u8; ETH_HLEN],
    mac: &[u8; 6],
) -> Result<(EthernetNext, bool), EthernetError> {
    let mcast = h[0] & 1 != 0;
    if !mcast && h.first_chunk::<6>() != Some(mac) {
        return Err(EthernetError::NotForUs);
    }
    let next = match u16::from_be_bytes([h[12], h[13]]) {
        0x0800 => EthernetNext::Ip4,
        0x0806 => EthernetNext::Arp,
        0x86dd => return Err(EthernetError::Ipv6),
        t if EtherType::from(t).is_vlan_tpid() => return Err(EthernetError::Vlan),
        _ => return Err(EthernetError::UnknownEthertype),
    };
    Ok((next, mcast))
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
