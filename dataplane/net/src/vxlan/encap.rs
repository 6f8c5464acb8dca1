//! Node `vxlan-encap`: wraps an inner Ethernet frame in the outer IPv4 + UDP + VXLAN headers
//! of the tunnel it leaves on.
//!
//! - Reads: the packet's data, a complete inner Ethernet frame (ip4-rewrite or arp-input
//!   prepended its header); `meta.tx_if`, a VXLAN tunnel interface; the packet's flow hash
//!   (`known_flow_hash`: metadata, else RSS; otherwise the node hashes the inner frame).
//! - Writes: 36 bytes in front of the frame, copied from the tunnel's precomputed header
//!   ([`VxlanIpv4Encap`], built off the hot path) and patched: IPv4 total length and
//!   identification (a per-node counter), UDP length, UDP source port from the flow hash
//!   (49152..=65535, RFC 7348 section 5), UDP checksum 0 (allowed over IPv4 by RFC 7348). No
//!   outer Ethernet header: the outer packet is routed next.
//! - The outer IPv4 header checksum is left 0 for ip4-rewrite, the last node that changes
//!   headers (it computes it in software or has the egress NIC do it): the node sets
//!   `F_IP4_CSUM_PENDING | F_LOCAL_ORIGIN` (locally originated: rewrite keeps the TTL of 64)
//!   and clears the flag that described the inner packet (`F_L2_MCAST`).
//!   `meta.flow_hash` keeps the hash the source port came from (the underlay's ECMP then
//!   follows the inner flow too); `rx_if`, `tx_if` (the tunnel, until rewrite sets the
//!   underlay port), `decap_depth` and `trace` are left as they are.
//! - Next: `ip4-lookup` (the underlay route to the remote VTEP), or `drop` counted under
//!   [`VxlanEncapError`].
//! - Stacked: when the control plane resolved the tunnel's underlay
//!   ([`FwdState::tunnel_underlay`]: one next hop on a port that is up, its MAC known) and
//!   the outer packet fits the port's MTU, the node writes the whole outer frame instead:
//!   the underlay's 14-byte Ethernet header, then the 36 bytes above with the outer IPv4
//!   checksum patched in software from the template's (one RFC 1624 update, cheaper than
//!   asking the NIC), sets `tx_if` to the port and goes straight to `port-tx`. The outer
//!   packet then skips a second ip4-lookup and ip4-rewrite, as VPP's midchain adjacency
//!   stacking does.
//! - Folded into ip4-rewrite: a routed packet whose route leads into a stacked tunnel does not
//!   come here at all. ip4-rewrite writes the route's inner Ethernet header and this node's
//!   outer frame in one go from a [`Midchain`] (64 bytes: the underlay's Ethernet header,
//!   the outer IPv4 + UDP + VXLAN headers, the inner Ethernet header), with the same source
//!   port, lengths, checksum and flags as here. What comes here then: ARP over the tunnel,
//!   packets we originate (ICMP errors), tunnels whose underlay is not resolved, and what
//!   the midchain leaves alone (too long for the underlay, short of headroom).

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::{FwdState, IfIndex, IfaceKind, Rewrite, VxlanTunnel};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;
use crate::wire::{
    Checksum, ETHERNET_HEADER_LEN as ETH_HLEN, VXLAN_ENCAP_V4_LEN, Vni, VxlanIpv4Encap,
    vxlan_source_port,
};

use super::PREFETCH_AHEAD;
use super::flow::inner_flow_hash;
use crate::ip4::input::{known_flow_hash, packet_flow_hash};

/// TTL of the outer IPv4 header (Linux's default for a `vxlan` device without `ttl`).
pub const OUTER_TTL: u8 = 64;
/// TOS of the outer IPv4 header (Linux's default: 0, not inherited).
pub const OUTER_TOS: u8 = 0;
/// DF on the outer IPv4 header: clear, as Linux sends by default, so an underlay hop with a
/// smaller MTU fragments rather than drops. [`crate::fwd::VxlanTunnel`] has no setting for it
/// yet; when it grows one, `rebuild` reads it there.
pub const OUTER_DONT_FRAG: bool = false;

crate::arcs! {
    /// Where `vxlan-encap` sends packets.
    pub enum VxlanEncapNext {
        Drop => "drop",
        Ip4Lookup => "ip4-lookup",
        PortTx => "port-tx",
    }
}

crate::errors! {
    /// Why `vxlan-encap` dropped a packet.
    pub enum VxlanEncapError {
        NoTunnel => "tx interface is not a VXLAN tunnel",
        Down => "tunnel interface down",
        NoHeadroom => "no headroom for the outer headers",
        TooLong => "encapsulated packet longer than 65535 bytes",
    }
}

/// One tunnel's encap data, indexed by its interface.
#[derive(Debug, Clone)]
struct Tunnel {
    header: VxlanIpv4Encap,
    up: bool,
    /// The whole outer frame when the underlay is resolved (see the module doc).
    stacked: Option<Stacked>,
}

/// A tunnel's outer frame over its resolved underlay, precomputed: the underlay's Ethernet
/// header, then the tunnel's [`VxlanIpv4Encap`] template, which patches it per packet.
#[derive(Debug, Clone)]
struct Stacked {
    frame: [u8; STACKED_LEN],
    tx_if: IfIndex,
    /// The longest inner frame the underlay port's MTU takes.
    max_inner: usize,
}

const STACKED_LEN: usize = ETH_HLEN + VXLAN_ENCAP_V4_LEN;

/// The outer IPv4 + UDP + VXLAN template of tunnel `t` (`None` for a VNI over 24 bits, which
/// the control plane refuses).
fn tunnel_header(t: &VxlanTunnel) -> Option<VxlanIpv4Encap> {
    Some(VxlanIpv4Encap::new(
        t.local,
        t.remote,
        t.udp_port,
        Vni::new(t.vni)?,
        OUTER_TTL,
        OUTER_TOS,
        OUTER_DONT_FRAG,
    ))
}

impl Stacked {
    fn new(header: &VxlanIpv4Encap, u: &Rewrite) -> Stacked {
        let mut frame = [0u8; STACKED_LEN];
        frame[..ETH_HLEN].copy_from_slice(&u.l2);
        frame[ETH_HLEN..].copy_from_slice(header.header());
        Stacked {
            frame,
            tx_if: u.tx_if,
            max_inner: usize::from(u.mtu).saturating_sub(VXLAN_ENCAP_V4_LEN),
        }
    }

    /// Writes the outer frame for an inner frame of `inner_len` (at most `max_inner`) bytes
    /// into `out`, the outer IPv4 checksum in software.
    #[inline(always)]
    fn write(
        &self,
        header: &VxlanIpv4Encap,
        out: &mut [u8; STACKED_LEN],
        inner_len: usize,
        src_port: u16,
        ident: u16,
    ) {
        write_over_underlay(out, &self.frame, header, inner_len, src_port, ident);
    }
}

/// Copies `frame`, a precomputed string that starts with the underlay's Ethernet header and
/// `header`'s outer headers ([`Stacked`]'s, [`Midchain`]'s), into `out`, and patches the outer
/// headers for an inner frame of `inner_len` bytes, the IPv4 checksum in software.
#[inline(always)]
fn write_over_underlay<const N: usize>(
    out: &mut [u8; N],
    frame: &[u8; N],
    header: &VxlanIpv4Encap,
    inner_len: usize,
    src_port: u16,
    ident: u16,
) {
    const { assert!(N >= STACKED_LEN) };
    *out = *frame;
    if let Some(outer) = out[ETH_HLEN..].first_chunk_mut() {
        header.patch(outer, inner_len, src_port, ident, Checksum::Software);
    }
}

/// Bytes a [`Midchain`] writes in front of an inner IPv4 packet: the underlay's Ethernet
/// header, the outer IPv4 + UDP + VXLAN headers, the inner Ethernet header. One cache line.
pub const MIDCHAIN_LEN: usize = ETH_HLEN + VXLAN_ENCAP_V4_LEN + ETH_HLEN;

/// A route's whole rewrite into a stacked VXLAN tunnel, for ip4-rewrite: what ip4-rewrite
/// and then vxlan-encap would write, precomputed as one 64-byte string, so a routed packet
/// leaves for the underlay port from ip4-rewrite itself (VPP's midchain adjacency with the
/// tunnel's rewrite folded in). Built off the hot path, per adjacency, by [`Midchain::new`].
#[derive(Debug, Clone)]
pub struct Midchain {
    frame: [u8; MIDCHAIN_LEN],
    /// The tunnel's outer template, for its checksum (patched per packet).
    header: VxlanIpv4Encap,
    tx_if: IfIndex,
    /// The longest inner IPv4 packet: the tunnel's MTU, and the underlay port's less the 64
    /// bytes. Longer ones take the two-node path, which counts or fragments-refuses them.
    max_ip: usize,
}

impl Midchain {
    /// The midchain of adjacency rewrite `rw` when it leads into a VXLAN tunnel that is up
    /// and stacked on a resolved underlay ([`FwdState::tunnel_underlay`]); `None` otherwise
    /// (a port, or a tunnel whose outer packets must be routed).
    pub fn new(state: &FwdState, rw: &Rewrite) -> Option<Midchain> {
        let iface = state.iface(rw.tx_if)?;
        let IfaceKind::Vxlan(t) = &iface.kind else {
            return None;
        };
        if !iface.up {
            return None;
        }
        let header = tunnel_header(t)?;
        let u = state.tunnel_underlay.get(usize::from(rw.tx_if))?.as_ref()?;
        let stacked = Stacked::new(&header, u);
        let mut frame = [0u8; MIDCHAIN_LEN];
        frame[..STACKED_LEN].copy_from_slice(&stacked.frame);
        frame[STACKED_LEN..].copy_from_slice(&rw.l2);
        Some(Midchain {
            frame,
            header,
            tx_if: stacked.tx_if,
            max_ip: usize::from(rw.mtu).min(stacked.max_inner.saturating_sub(ETH_HLEN)),
        })
    }

    /// Turns a routed IPv4 packet, data at its header (whose TTL the caller decremented, as
    /// for any route), into the whole frame for the underlay port: prepends the 64 bytes
    /// and patches them as vxlan-encap does (outer checksum in
    /// software, source port from the packet's flow hash, identification `ident`, which it
    /// advances), sets `tx_if`, `flow_hash` and the flags vxlan-encap sets. `false`, the
    /// packet untouched, when it is longer than the midchain takes or short of headroom.
    #[inline(always)]
    pub fn push_routed<B: PacketBuf>(&self, p: &mut B, ident: &mut u16) -> bool {
        let ip_len = p.len();
        if ip_len > self.max_ip || p.headroom() < MIDCHAIN_LEN {
            return false;
        }
        // The same hash vxlan-encap takes: the packet's own, else the inner frame's, which
        // for an untagged IPv4 frame is the IPv4 header's.
        let hash = packet_flow_hash(p);
        let Some(out) = p
            .prepend(MIDCHAIN_LEN)
            .and_then(|d| d.first_chunk_mut::<MIDCHAIN_LEN>())
        else {
            return false; // (checked above)
        };
        write_over_underlay(
            out,
            &self.frame,
            &self.header,
            ETH_HLEN + ip_len,
            vxlan_source_port(hash),
            *ident,
        );
        *ident = ident.wrapping_add(1);
        let m = p.meta_mut();
        m.tx_if = self.tx_if;
        m.flow_hash = hash;
        m.flags = (m.flags & !PacketMeta::F_L2_MCAST) | PacketMeta::F_LOCAL_ORIGIN;
        true
    }
}

/// The `vxlan-encap` node (one per worker).
#[derive(Debug)]
pub struct VxlanEncap {
    state: RcuReader<FwdState>,
    /// Per interface index: the precomputed headers of VXLAN tunnels, `None` for every other
    /// interface. Rebuilt from `state` when it changes.
    tunnels: Vec<Option<Tunnel>>,
    /// Outer IPv4 identification, one counter per node (per worker), as a host does: only
    /// unique enough for the (rare) reassembly of fragments between the same two VTEPs.
    ident: u16,
}

impl VxlanEncap {
    /// A node reading tunnels from `state`.
    pub fn new(state: RcuReader<FwdState>) -> VxlanEncap {
        let mut node = VxlanEncap {
            state,
            tunnels: Vec::new(),
            ident: 0,
        };
        node.rebuild();
        node
    }

    /// Recomputes every tunnel's outer header from the current snapshot. Runs at the quiescent
    /// point (it allocates when the interface table grew), never per packet.
    fn rebuild(&mut self) {
        let state = self.state.get();
        self.tunnels.clear();
        self.tunnels.resize(state.ifaces.len(), None);
        for iface in state.ifaces.iter().flatten() {
            let IfaceKind::Vxlan(t) = iface.kind else {
                continue;
            };
            // The control plane refuses VNIs over 24 bits; a tunnel that still had one would
            // be left out, so its packets are counted as "not a VXLAN tunnel".
            let Some(header) = tunnel_header(&t) else {
                continue;
            };
            if let Some(slot) = self.tunnels.get_mut(usize::from(iface.index)) {
                let stacked = state
                    .tunnel_underlay
                    .get(usize::from(iface.index))
                    .and_then(Option::as_ref)
                    .map(|u| Stacked::new(&header, u));
                *slot = Some(Tunnel {
                    header,
                    up: iface.up,
                    stacked,
                });
            }
        }
    }

    /// Encapsulates one packet in place.
    #[inline(always)]
    fn encap<B: PacketBuf>(
        tunnels: &[Option<Tunnel>],
        ident: &mut u16,
        p: &mut B,
    ) -> Result<u8, VxlanEncapError> {
        let meta = *p.meta();
        let t = tunnels
            .get(usize::from(meta.tx_if))
            .and_then(Option::as_ref)
            .ok_or(VxlanEncapError::NoTunnel)?;
        if !t.up {
            return Err(VxlanEncapError::Down);
        }
        let inner_len = p.len();
        // Checked before touching the buffer, so a refused packet is left as it came.
        if inner_len > usize::from(u16::MAX) - VXLAN_ENCAP_V4_LEN {
            return Err(VxlanEncapError::TooLong);
        }
        // The packet's own hash (ECMP, RSS), else one of the inner frame.
        let hash = known_flow_hash(p).unwrap_or_else(|| inner_flow_hash(p.data()));
        let id = *ident;
        let src_port = vxlan_source_port(hash);
        // Stacked over a resolved underlay: the whole outer frame, straight to port-tx.
        let stacked = match &t.stacked {
            Some(st) if inner_len <= st.max_inner => p
                .prepend(STACKED_LEN)
                .and_then(|o| o.first_chunk_mut::<STACKED_LEN>())
                .map(|out| {
                    st.write(&t.header, out, inner_len, src_port, id);
                    st.tx_if
                }),
            _ => None,
        };
        let (arc, flags) = match stacked {
            Some(tx_if) => {
                p.meta_mut().tx_if = tx_if;
                (VxlanEncapNext::PortTx, PacketMeta::F_LOCAL_ORIGIN)
            }
            None => {
                let out = p
                    .prepend(VXLAN_ENCAP_V4_LEN)
                    .ok_or(VxlanEncapError::NoHeadroom)?;
                // `Hardware` writes a 0 IPv4 checksum: ip4-rewrite fills it
                // (F_IP4_CSUM_PENDING).
                t.header
                    .write(out, inner_len, src_port, id, Checksum::Hardware)
                    .map_err(|_| VxlanEncapError::TooLong)?;
                (
                    VxlanEncapNext::Ip4Lookup,
                    PacketMeta::F_IP4_CSUM_PENDING | PacketMeta::F_LOCAL_ORIGIN,
                )
            }
        };
        *ident = id.wrapping_add(1);
        let m = p.meta_mut();
        m.flow_hash = hash;
        m.flags = (m.flags & !PacketMeta::F_L2_MCAST) | flags;
        Ok(arc.arc())
    }
}

impl<B: PacketBuf> Node<B> for VxlanEncap {
    fn name(&self) -> &'static str {
        "vxlan-encap"
    }

    fn arcs(&self) -> &'static [&'static str] {
        VxlanEncapNext::TARGETS
    }

    fn errors(&self) -> &'static [&'static str] {
        VxlanEncapError::NAMES
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let n = pkts.len();
        for i in 0..n {
            if let Some(ahead) = pkts.get(i + PREFETCH_AHEAD) {
                ahead.prefetch();
                ahead.prefetch_headroom();
            }
            next[i] = match Self::encap(&self.tunnels, &mut self.ident, &mut pkts[i]) {
                Ok(arc) => arc,
                Err(e) => {
                    ctx.count(e.idx());
                    VxlanEncapNext::Drop.arc()
                }
            };
        }
    }

    fn quiescent(&mut self) {
        if self.state.refresh() {
            self.rebuild();
        }
    }
}
