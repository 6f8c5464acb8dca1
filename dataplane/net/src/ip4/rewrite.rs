//! ip4-rewrite: the last node that changes an IPv4 packet's headers before it leaves.
//!
//! Reads: `meta.adj` (from ip4-lookup), the IPv4 header, the egress interface and neighbor.
//! Does, in order: TTL check (expired -> ICMP time exceeded in place, back to ip4-lookup);
//! MTU check (too big with DF -> ICMP fragmentation needed; without DF -> dropped, no
//! fragmentation); TTL decrement with an incremental checksum update (not for packets we
//! originated); finishes a pending IPv4 header checksum, by the egress NIC when it can
//! (`set_tx_offload`) or in software; resolves the next hop's MAC (unresolved -> an ARP
//! request, rate-limited per next hop, and the packet is dropped and counted); prepends the
//! Ethernet header. Resolved next hops (a gateway's, and a glean's host in a connected
//! subnet) have their rewrite precomputed at every publish: the fast path copies it (a
//! host's through a small per-worker cache in front of the state's map).
//! Sets: `meta.tx_if`.
//! Next: `port-tx` (ports), `vxlan-encap` (tunnel interfaces), `ip4-lookup` (ICMP errors we
//! generated), `drop`.
//! The fast path (`FastRewrite`) also runs in ip4-lookup, on the packets it routes: those it
//! takes never come here (one pass over the vector fewer); this node gets the rest, and the
//! traced packets.
//! Into a tunnel stacked on a resolved underlay, a routed packet does not go on to
//! vxlan-encap: the node writes the whole frame from the adjacency's
//! [`Midchain`] (inner Ethernet header and vxlan-encap's outer frame
//! in one 64-byte copy) and sends it to `port-tx` on the underlay port. The midchains are
//! rebuilt from the state at the quiescent point, per adjacency, never per packet.

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use crate::arp;
use crate::buffer::{PacketBuf, PacketMeta, TxOffload};
use crate::fwd::{Adj, FwdState, IfIndex, Iface, IfaceKind, Rewrite};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::ip4::icmp::{self, IcmpError};
use crate::rcu::RcuReader;
use crate::vxlan::Midchain;
use crate::wire::{checksum, ipv4_decrement_ttl};

crate::arcs! {
    pub enum Ip4RewriteNext {
        Drop => "drop",
        PortTx => "port-tx",
        VxlanEncap => "vxlan-encap",
        Lookup => "ip4-lookup",
    }
}

crate::errors! {
    pub enum Ip4RewriteError {
        AdjUnknown => "adjacency not yet published to this worker",
        NoIface => "egress interface gone",
        IfaceDown => "egress interface down",
        TtlExpired => "TTL expired in transit (ICMP time exceeded sent)",
        TtlExpiredSilent => "TTL expired in transit (no ICMP allowed)",
        FragNeeded => "too big with DF set (ICMP fragmentation needed sent)",
        FragNeededSilent => "too big with DF set (no ICMP allowed)",
        TtlExpiredLimited => "TTL expired in transit (ICMP error rate-limited)",
        FragNeededLimited => "too big with DF set (ICMP error rate-limited)",
        TooBig => "too big without DF (fragmentation not supported)",
        NoIcmpSource => "no address to send an ICMP error from",
        NoArpSource => "no address on the egress interface to send an ARP request from",
        Unresolved => "next hop not resolved (ARP request sent)",
        UnresolvedLimited => "next hop not resolved (ARP request rate-limited)",
        NoBuffer => "no buffer for an ARP request",
        NoHeadroom => "no headroom for the Ethernet header",
    }
}

/// At most this many next hops remembered for ARP rate limiting (then the memory restarts).
const ARP_LIMIT_ENTRIES: usize = 4096;

/// The ip4-rewrite node.
pub struct Ip4Rewrite {
    state: RcuReader<FwdState>,
    /// Clock value of the last ARP request per (interface, next hop).
    arp_sent: FxHashMap<(IfIndex, Ipv4Addr), u64>,
    /// Minimum clocks between two ARP requests for one next hop.
    arp_interval: u64,
    /// How many ICMP errors this worker may send.
    icmp_limit: icmp::IcmpLimit,
    fast: FastRewrite,
}

/// The common case's rewrite ([`FastRewrite::run`]) with the per-worker state it keeps.
/// ip4-rewrite has one, and so has ip4-lookup, which runs it on the packets it routes (one
/// pass over the vector fewer); each keeps its own copies, rebuilt from the state when it
/// changes.
pub(crate) struct FastRewrite {
    /// Per adjacency: its [`Midchain`] when it leads into a stacked tunnel.
    midchains: Vec<Option<Midchain>>,
    /// Outer IPv4 identification of the packets the midchains encapsulate: one counter per
    /// node (per worker), as vxlan-encap keeps its own. At these rates any 16-bit counter
    /// wraps within milliseconds; it only has to tell apart the fragments of packets sent
    /// close together (the outer DF is clear).
    ident: u16,
    /// Recent hosts' rewrites for glean adjacencies, emptied when the state changes.
    hosts: HostCache,
}

impl FastRewrite {
    pub(crate) fn new(state: &FwdState) -> FastRewrite {
        let mut f = FastRewrite {
            midchains: Vec::new(),
            ident: 0,
            hosts: HostCache::new(),
        };
        f.rebuild(state);
        f
    }

    /// Recomputes the midchains and empties the host cache: at the quiescent point, when
    /// the state changed.
    pub(crate) fn rebuild(&mut self, state: &FwdState) {
        self.hosts.clear();
        self.midchains.clear();
        self.midchains
            .extend(state.rewrites.iter().map(|rw| match rw {
                Some(rw) if rw.tunnel => Midchain::new(state, rw),
                _ => None,
            }));
    }

    /// The common case in a few loads and stores: a packet to a resolved gateway (or, by a
    /// glean, to a resolved host in a connected subnet) on an interface that is up, within
    /// its MTU, with a TTL above 1 unless we originated it (VXLAN outer headers, ICMP
    /// replies; their pending header checksum is filled here too). Gives ip4-rewrite's arc
    /// out: `port-tx`, or `vxlan-encap` for a tunnel without a midchain. `None` changes
    /// nothing and leaves the packet to ip4-rewrite's full path, which handles (and counts)
    /// everything else.
    #[inline(always)]
    pub(crate) fn run<B: PacketBuf>(&mut self, p: &mut B, state: &FwdState) -> Option<u8> {
        let m = p.meta();
        let flags = m.flags;
        let adj = m.adj as usize;
        let rw = match state.rewrites.get(adj)? {
            Some(rw) => rw,
            None => host_rewrite(p, state, adj, &mut self.hosts)?,
        };
        if p.headroom() < 14 {
            return None;
        }
        let d = p.data_mut();
        if d.len() > usize::from(rw.mtu) {
            return None;
        }
        let h = d.first_chunk_mut::<20>()?;
        if flags & (PacketMeta::F_LOCAL_ORIGIN | PacketMeta::F_IP4_CSUM_PENDING) != 0 {
            return fast_rewrite_own(p, rw, flags);
        }
        // Transit, the fast path's bulk: one flag test above, then the TTL.
        if h[8] <= 1 {
            return None;
        }
        ipv4_decrement_ttl(h);
        if rw.tunnel
            && let Some(mc) = self.midchains.get(adj).and_then(Option::as_ref)
            && mc.push_routed(p, &mut self.ident)
        {
            return Some(Ip4RewriteNext::PortTx.arc());
        }
        push_l2(p, rw)
    }
}

/// Slots of a [`HostCache`]: one per host of a /24, so a /24's hosts never evict each other.
const HOST_CACHE_SLOTS: usize = 256;

/// No host: interface indexes are 16 bits, so a real key's top bits are 0.
const NO_HOST: u64 = u64::MAX;

/// A worker's direct-mapped cache of [`FwdState::host_rewrites`] for packets to hosts in a
/// connected subnet (glean adjacencies), slotted by the destination's last byte: a hit is a
/// compare where the map costs a hash and a probe (nodes bench, 256 hosts: 9.1-9.5 -> 6.9 ns
/// a packet). It holds copies of the state's rewrites, so it is emptied whenever the state
/// changes (the quiescent point): a changed MAC is never served from it. 8 KiB per worker.
struct HostCache(Box<[(u64, Rewrite); HOST_CACHE_SLOTS]>);

impl HostCache {
    fn new() -> HostCache {
        HostCache(Box::new([(NO_HOST, Rewrite::default()); HOST_CACHE_SLOTS]))
    }

    fn clear(&mut self) {
        for slot in self.0.iter_mut() {
            slot.0 = NO_HOST;
        }
    }
}

impl Ip4Rewrite {
    /// `arp_interval`: minimum clocks (of the graph's clock) between ARP requests for one
    /// next hop.
    pub fn new(state: RcuReader<FwdState>, arp_interval: u64) -> Self {
        Ip4Rewrite {
            fast: FastRewrite::new(state.get()),
            state,
            arp_sent: FxHashMap::default(),
            arp_interval,
            icmp_limit: icmp::IcmpLimit::unlimited(),
        }
    }

    /// Limits the ICMP errors (time exceeded, fragmentation needed) the node sends; without
    /// this, it sends one for every packet that calls for it.
    pub fn with_icmp_limit(mut self, limit: icmp::IcmpLimit) -> Self {
        self.icmp_limit = limit;
        self
    }
}

enum Verdict {
    Out(u8),
    /// Out on the arc, and counted under the reason (the ICMP errors we send).
    OutCounted(u8, Ip4RewriteError),
    Drop(Ip4RewriteError),
}

impl<B: PacketBuf> Node<B> for Ip4Rewrite {
    fn name(&self) -> &'static str {
        "ip4-rewrite"
    }
    fn arcs(&self) -> &'static [&'static str] {
        Ip4RewriteNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        Ip4RewriteError::NAMES
    }
    fn quiescent(&mut self) {
        if self.state.refresh() {
            self.fast.rebuild(self.state.get());
        }
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let state = self.state.get();
        for (p, nx) in pkts.iter_mut().zip(next.iter_mut()) {
            if let Some(arc) = self.fast.run(p, state) {
                *nx = arc;
                continue;
            }
            let v = rewrite(
                p,
                state,
                &mut self.arp_sent,
                self.arp_interval,
                &mut self.icmp_limit,
                ctx,
            );
            *nx = match v {
                Verdict::Out(arc) => arc,
                Verdict::OutCounted(arc, e) => {
                    ctx.count(e.idx());
                    arc
                }
                Verdict::Drop(e) => {
                    ctx.count(e.idx());
                    Ip4RewriteNext::Drop.arc()
                }
            };
        }
    }
}

/// The arc that takes a frame out of `iface`.
#[inline(always)]
pub fn output_arc(iface: &Iface) -> u8 {
    match iface.kind {
        IfaceKind::Port { .. } => Ip4RewriteNext::PortTx.arc(),
        IfaceKind::Vxlan(_) => Ip4RewriteNext::VxlanEncap.arc(),
    }
}

/// The rewrite to a packet's own destination when its adjacency is a glean (a host in a
/// connected subnet) and the host's MAC is known: [`FwdState::host_rewrites`], through the
/// worker's [`HostCache`]. Out of line: inlined, it cost the gateway path's loop 7% (its
/// registers).
#[inline(never)]
fn host_rewrite<'c, B: PacketBuf>(
    p: &B,
    state: &FwdState,
    adj: usize,
    hosts: &'c mut HostCache,
) -> Option<&'c Rewrite> {
    let Some(&Adj::Glean { iface }) = state.adjs.get(adj) else {
        return None;
    };
    let h = p.data().first_chunk::<20>()?;
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    let key = u64::from(iface) << 32 | u64::from(dst);
    let slot = &mut hosts.0[dst as usize % HOST_CACHE_SLOTS];
    if slot.0 != key {
        *slot = (
            key,
            *state.host_rewrites.get(&(iface, Ipv4Addr::from(dst)))?,
        );
    }
    Some(&slot.1)
}

/// [`FastRewrite::run`] for a packet we built (no TTL decrement) or whose header checksum is
/// pending (filled here), out of line so transit packets keep a tight loop. The caller
/// checked the rewrite, headroom, MTU and a 20-byte header.
#[inline(never)]
fn fast_rewrite_own<B: PacketBuf>(p: &mut B, rw: &Rewrite, flags: u16) -> Option<u8> {
    if flags & PacketMeta::F_LOCAL_ORIGIN == 0 {
        let h = p.data_mut().first_chunk_mut::<20>()?;
        if h[8] <= 1 {
            return None;
        }
        ipv4_decrement_ttl(h);
    }
    if flags & PacketMeta::F_IP4_CSUM_PENDING != 0 {
        fill_pending_checksum(p, rw.csum_offload);
    }
    push_l2(p, rw)
}

/// Finishes a pending IPv4 header checksum (`F_IP4_CSUM_PENDING`): asks the egress NIC when
/// it can (`offload`), else computes it in software, and clears any offload request left from
/// an earlier header (an inner packet's). The one place both rewrite paths do it.
#[inline(always)]
fn fill_pending_checksum<B: PacketBuf>(p: &mut B, offload: bool) {
    let d = p.data_mut();
    let ihl = usize::from(d[0] & 0xf) * 4;
    d[10..12].copy_from_slice(&[0, 0]);
    if offload {
        let mut req = p.tx_offload();
        req.ipv4 = true;
        req.ip_csum = true;
        req.l2_len = 14;
        req.l3_len = ihl as u16;
        p.set_tx_offload(req);
    } else {
        let c = match d.first_chunk::<20>() {
            Some(h) if ihl == 20 => !checksum::sum20(h),
            _ => !checksum::sum(&d[..ihl]),
        };
        d[10..12].copy_from_slice(&c.to_be_bytes());
        if p.tx_offload() != TxOffload::default() {
            p.set_tx_offload(TxOffload::default());
        }
    }
    p.meta_mut().flags &= !PacketMeta::F_IP4_CSUM_PENDING;
}

/// Writes `rw`'s Ethernet header in front of the packet and sets its egress: the arc out, or
/// `None` without headroom (nothing changed then).
#[inline(always)]
fn push_l2<B: PacketBuf>(p: &mut B, rw: &Rewrite) -> Option<u8> {
    p.prepend(14)?.copy_from_slice(&rw.l2);
    p.meta_mut().tx_if = rw.tx_if;
    Some(if rw.tunnel {
        Ip4RewriteNext::VxlanEncap.arc()
    } else {
        Ip4RewriteNext::PortTx.arc()
    })
}

#[inline(always)]
fn rewrite<B: PacketBuf>(
    p: &mut B,
    state: &FwdState,
    arp_sent: &mut FxHashMap<(IfIndex, Ipv4Addr), u64>,
    arp_interval: u64,
    icmp_limit: &mut icmp::IcmpLimit,
    ctx: &mut NodeCtx<'_, B>,
) -> Verdict {
    let d = p.data();
    let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
    let (out_if, nh) = match state.adjs.get(p.meta().adj as usize) {
        Some(Adj::Glean { iface }) => (*iface, dst),
        Some(Adj::Via { iface, gw }) => (*iface, *gw),
        _ => return Verdict::Drop(Ip4RewriteError::AdjUnknown),
    };
    let Some(iface) = state.iface(out_if) else {
        return Verdict::Drop(Ip4RewriteError::NoIface);
    };
    if !iface.up {
        return Verdict::Drop(Ip4RewriteError::IfaceDown);
    }
    let local = p.meta().flags & PacketMeta::F_LOCAL_ORIGIN != 0;
    let ttl = d[8];
    if !local && ttl <= 1 {
        let why = IcmpReasons {
            sent: Ip4RewriteError::TtlExpired,
            silent: Ip4RewriteError::TtlExpiredSilent,
            limited: Ip4RewriteError::TtlExpiredLimited,
        };
        return icmp_error(p, state, IcmpError::TtlExpired, why, icmp_limit, ctx.now);
    }
    let len = d.len();
    if len > iface.mtu as usize {
        let df = d[6] & 0x40 != 0;
        if df && !local {
            let why = IcmpReasons {
                sent: Ip4RewriteError::FragNeeded,
                silent: Ip4RewriteError::FragNeededSilent,
                limited: Ip4RewriteError::FragNeededLimited,
            };
            let err = IcmpError::FragNeeded { mtu: iface.mtu };
            return icmp_error(p, state, err, why, icmp_limit, ctx.now);
        }
        return Verdict::Drop(Ip4RewriteError::TooBig);
    }
    // Resolved next hops on interfaces that are up (gateways, and hosts in a connected
    // subnet) took the fast path; here: the unresolved, and everything else it leaves.
    let Some(mac) = state.neighbor(out_if, nh).map(|n| n.mac) else {
        return resolve(iface, nh, arp_sent, arp_interval, ctx);
    };
    if p.headroom() < 14 {
        return Verdict::Drop(Ip4RewriteError::NoHeadroom);
    }
    if !local {
        // (A pending checksum is computed below; patching it first does no harm.)
        if let Some(h) = p.data_mut().first_chunk_mut() {
            ipv4_decrement_ttl(h);
        }
    }
    if p.meta().flags & PacketMeta::F_IP4_CSUM_PENDING != 0 {
        fill_pending_checksum(p, iface.tx_caps.ipv4_csum);
    }
    // Written in place rather than through a `Rewrite` built per packet.
    let Some(l2) = p.prepend(14) else {
        return Verdict::Drop(Ip4RewriteError::NoHeadroom);
    };
    l2[..6].copy_from_slice(&mac);
    l2[6..12].copy_from_slice(&iface.mac);
    l2[12..].copy_from_slice(&[0x08, 0x00]);
    p.meta_mut().tx_if = iface.index;
    Verdict::Out(output_arc(iface))
}

/// What an ICMP error's packet is counted under: sent, not allowed (RFC 1812), or over the
/// worker's limit.
struct IcmpReasons {
    sent: Ip4RewriteError,
    silent: Ip4RewriteError,
    limited: Ip4RewriteError,
}

/// Replaces the packet with an ICMP error from our address on the interface it came in on,
/// routed back through ip4-lookup, unless RFC 1812 forbids one or the worker's limit is
/// reached (the packet is then dropped, counted).
fn icmp_error<B: PacketBuf>(
    p: &mut B,
    state: &FwdState,
    err: IcmpError,
    why: IcmpReasons,
    limit: &mut icmp::IcmpLimit,
    now: u64,
) -> Verdict {
    if !icmp::may_send_error(p) {
        return Verdict::Drop(why.silent);
    }
    let rx_if = p.meta().rx_if;
    let Some(src) = state.iface(rx_if).and_then(Iface::primary_addr) else {
        return Verdict::Drop(Ip4RewriteError::NoIcmpSource);
    };
    if !limit.allow(now) {
        return Verdict::Drop(why.limited);
    }
    if icmp::make_error(p, err, src) {
        Verdict::OutCounted(Ip4RewriteNext::Lookup.arc(), why.sent)
    } else {
        Verdict::Drop(Ip4RewriteError::NoHeadroom)
    }
}

/// Sends an ARP request for `nh` on `iface` unless one went out recently; the packet itself
/// is dropped (counted).
fn resolve<B: PacketBuf>(
    iface: &Iface,
    nh: Ipv4Addr,
    arp_sent: &mut FxHashMap<(IfIndex, Ipv4Addr), u64>,
    arp_interval: u64,
    ctx: &mut NodeCtx<'_, B>,
) -> Verdict {
    let now = ctx.now;
    if let Some(&last) = arp_sent.get(&(iface.index, nh))
        && now.wrapping_sub(last) < arp_interval
    {
        return Verdict::Drop(Ip4RewriteError::UnresolvedLimited);
    }
    let req = match arp::make_request(ctx, iface, nh) {
        Ok(req) => req,
        Err(arp::RequestError::NoSource) => return Verdict::Drop(Ip4RewriteError::NoArpSource),
        Err(arp::RequestError::NoBuffer) => return Verdict::Drop(Ip4RewriteError::NoBuffer),
    };
    if arp_sent.len() >= ARP_LIMIT_ENTRIES {
        arp_sent.clear();
    }
    arp_sent.insert((iface.index, nh), now);
    ctx.emit(output_arc(iface), req);
    Verdict::Drop(Ip4RewriteError::Unresolved)
}
