//! ip4-lookup: longest-prefix match of the destination in the FIB.
//!
//! Reads: the IPv4 destination (validated by ip4-input, or written by a node that built the
//! header); for ECMP, the packet's flow hash ([`packet_flow_hash`], kept in `meta.flow_hash`).
//! Sets: `meta.adj` (for ECMP, the chosen path's adjacency); for a packet it rewrites, what
//! ip4-rewrite sets.
//! Next: `ip4-rewrite` (glean or via a gateway), `ip4-local` (our addresses), `drop`; and
//! `port-tx` or `vxlan-encap` for a packet to one next hop that ip4-rewrite's fast path
//! (`FastRewrite`: resolved, within MTU, TTL above 1) rewrites here, one pass over the vector
//! fewer, its clocks counted in this node's. A traced packet always goes through ip4-rewrite,
//! so its trace shows the rewrite.
//! A destination no router forwards to (0/8, 127/8, multicast, 240/4, limited broadcast) finds
//! its FIB entry ([`crate::fwd::SPECIAL_USE`]) and is dropped, counted.

use crate::buffer::PacketBuf;
use crate::fwd::{Adj, FwdState};
use crate::graph::{Nexts, Node, NodeCtx, VECTOR_SIZE, Vector};
use crate::ip4::FibReader;
use crate::ip4::input::packet_flow_hash;
use crate::ip4::rewrite::{FastRewrite, Ip4RewriteNext};
use crate::rcu::RcuReader;

crate::arcs! {
    pub enum Ip4LookupNext {
        Drop => "drop",
        Rewrite => "ip4-rewrite",
        Local => "ip4-local",
        PortTx => "port-tx",
        VxlanEncap => "vxlan-encap",
    }
}

crate::errors! {
    pub enum Ip4LookupError {
        NoRoute => "no route to destination",
        Blackhole => "route to a blackhole",
        AdjUnknown => "route to an adjacency not yet published to this worker",
        Truncated => "packet too short for an IPv4 destination",
        SpecialUse => "destination never forwarded (0/8, 127/8, multicast, 240/4, broadcast)",
    }
}

/// The ip4-lookup node.
pub struct Ip4Lookup {
    fib: FibReader,
    state: RcuReader<FwdState>,
    addrs: Box<[u32; VECTOR_SIZE]>,
    found: Box<[Option<u32>; VECTOR_SIZE]>,
    /// ip4-rewrite's fast path, run here.
    fast: FastRewrite,
}

impl Ip4Lookup {
    pub fn new(fib: FibReader, state: RcuReader<FwdState>) -> Self {
        Ip4Lookup {
            fib,
            fast: FastRewrite::new(state.get()),
            state,
            addrs: Box::new([0; VECTOR_SIZE]),
            found: Box::new([None; VECTOR_SIZE]),
        }
    }
}

impl<B: PacketBuf> Node<B> for Ip4Lookup {
    fn name(&self) -> &'static str {
        "ip4-lookup"
    }
    fn arcs(&self) -> &'static [&'static str] {
        Ip4LookupNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        Ip4LookupError::NAMES
    }
    fn quiescent(&mut self) {
        if self.state.refresh() {
            self.fast.rebuild(self.state.get());
        }
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let n = pkts.len();
        // Gather destinations, then look them up together so the FIB's loads overlap.
        for (a, p) in self.addrs.iter_mut().zip(pkts.iter()) {
            *a = match p.data().first_chunk::<20>() {
                Some(h) => u32::from_be_bytes([h[16], h[17], h[18], h[19]]),
                None => 0,
            };
        }
        self.fib.lookup_bulk(&self.addrs[..n], &mut self.found[..n]);
        let state = self.state.get();
        let fast = &mut self.fast;
        let found = &self.found[..n];
        for ((p, nx), &found) in pkts.iter_mut().zip(next.iter_mut()).zip(found) {
            *nx = match found {
                Some(id) if p.len() >= 20 => match state.adjs.get(id as usize) {
                    // The common case first, apart: one compare of the variant's tag.
                    Some(Adj::Glean { .. } | Adj::Via { .. }) => rewrite_here(p, id, state, fast),
                    _ => other(found, &state.adjs, p, ctx),
                },
                // No route: a flood of it stays as cheap as it can be.
                None if p.len() >= 20 => {
                    ctx.count(Ip4LookupError::NoRoute.idx());
                    Ip4LookupNext::Drop.arc()
                }
                _ => other(found, &state.adjs, p, ctx),
            };
        }
    }
}

/// Where a packet goes that is not the common case (a route to one next hop to rewrite for):
/// `found` is what the FIB gave for it, an index into `adjs`.
#[inline(never)]
fn other<B: PacketBuf>(
    found: Option<u32>,
    adjs: &[Adj],
    p: &mut B,
    ctx: &mut NodeCtx<'_, B>,
) -> u8 {
    let drop = |ctx: &mut NodeCtx<'_, B>, e: Ip4LookupError| {
        ctx.count(e.idx());
        Ip4LookupNext::Drop.arc()
    };
    if p.len() < 20 {
        return drop(ctx, Ip4LookupError::Truncated);
    }
    let Some(id) = found else {
        return drop(ctx, Ip4LookupError::NoRoute);
    };
    match adjs.get(id as usize) {
        None => drop(ctx, Ip4LookupError::AdjUnknown),
        Some(Adj::Drop) => drop(ctx, Ip4LookupError::Blackhole),
        Some(Adj::Special) => drop(ctx, Ip4LookupError::SpecialUse),
        Some(Adj::Local) => Ip4LookupNext::Local.arc(),
        Some(Adj::Glean { .. } | Adj::Via { .. }) => to_rewrite(p, id),
        Some(Adj::Ecmp(members)) if !members.is_empty() => {
            let hash = packet_flow_hash(p);
            p.meta_mut().flow_hash = hash;
            to_rewrite(p, members[hash as usize % members.len()])
        }
        Some(Adj::Ecmp(_)) => drop(ctx, Ip4LookupError::Blackhole),
    }
}

/// Sets `p`'s adjacency `adj` and runs ip4-rewrite's fast path on it: the arc past
/// ip4-rewrite when the path took it, else ip4-rewrite (nothing else changed). Not for a
/// traced packet, so that its trace shows where it was rewritten.
#[inline(always)]
fn rewrite_here<B: PacketBuf>(p: &mut B, adj: u32, state: &FwdState, fast: &mut FastRewrite) -> u8 {
    to_rewrite(p, adj);
    if p.meta().trace != 0 {
        return Ip4LookupNext::Rewrite.arc();
    }
    match fast.run(p, state) {
        Some(arc) if arc == Ip4RewriteNext::PortTx.arc() => Ip4LookupNext::PortTx.arc(),
        Some(arc) => {
            debug_assert_eq!(arc, Ip4RewriteNext::VxlanEncap.arc());
            Ip4LookupNext::VxlanEncap.arc()
        }
        None => Ip4LookupNext::Rewrite.arc(),
    }
}

/// Sends `p` to ip4-rewrite for adjacency `adj`.
#[inline(always)]
fn to_rewrite<B: PacketBuf>(p: &mut B, adj: u32) -> u8 {
    p.meta_mut().adj = adj;
    Ip4LookupNext::Rewrite.arc()
}
