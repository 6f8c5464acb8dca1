//! `arp-probe`: the ARP requests the control plane asks for, to confirm that a learned
//! neighbor is still there before its entry expires ([`crate::fwd::Control::age_neighbors`]).
//!
//! A source node ([`crate::graph::GraphBuilder::add_source`]): it has work while the
//! [`ProbeQueue`] holds probes, and then takes up to [`PROBES_PER_POLL`] of them per worker
//! loop, so a burst of expiring entries never holds forwarding up for long. Each becomes the
//! broadcast who-has [`build_request`] writes (the same request a packet to an unresolved
//! next hop triggers). The neighbor's reply, through `arp-input`, confirms the entry; an
//! entry nobody answers for is removed once its probes are spent.
//!
//! A probe for one of the interface's own addresses is a gratuitous ARP (sender = target):
//! the control plane announces an address that was added or whose interface came up
//! ([`crate::fwd::Control::take_announcements`]).
//!
//! Next: `port-tx` (a port), `vxlan-encap` (a tunnel interface). Its counters count probes,
//! not packets that entered the graph: [`ArpProbeError::Sent`] for each request sent, the
//! others for probes that could not be ([`crate::NOT_DROPS`] lists them all).

use crate::buffer::PacketBuf;
use crate::fwd::{FwdState, IfaceKind, ProbeQueue};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;

use super::{RequestError, make_request};

crate::arcs! {
    /// Where `arp-probe` sends the requests it makes.
    pub enum ArpProbeNext {
        /// Never used: the node makes packets, it does not receive them.
        Drop => "drop",
        /// A request out of a port.
        PortTx => "port-tx",
        /// A request out of a VXLAN tunnel interface.
        VxlanEncap => "vxlan-encap",
    }
}

crate::errors! {
    /// What `arp-probe` counts, per probe taken from the queue.
    pub enum ArpProbeError {
        /// Not a drop: each request sent.
        Sent => "ARP probes sent",
        /// Not a drop: each gratuitous ARP sent (a probe for one of the interface's own
        /// addresses: the control plane announcing it).
        Announced => "gratuitous ARP sent for our address",
        /// The interface was deleted or is down: nothing to send on.
        NoIface => "ARP probe on an interface gone or down",
        /// The interface has no IPv4 address to send from.
        NoSource => "ARP probe on an interface without an IPv4 address",
        /// The pool was empty.
        NoBuffer => "no buffer for an ARP probe",
    }
}

/// Probes taken per worker loop at most.
pub const PROBES_PER_POLL: usize = 32;

/// The `arp-probe` node. See the module doc.
pub struct ArpProbe {
    state: RcuReader<FwdState>,
    probes: ProbeQueue,
}

impl std::fmt::Debug for ArpProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArpProbe")
            .field("queued", &self.probes.len())
            .finish()
    }
}

impl ArpProbe {
    /// A node sending the probes queued in `probes` (by [`crate::fwd::Control::age_neighbors`]),
    /// from the interfaces in `state`.
    pub fn new(state: RcuReader<FwdState>, probes: ProbeQueue) -> ArpProbe {
        ArpProbe { state, probes }
    }
}

impl<B: PacketBuf> Node<B> for ArpProbe {
    fn name(&self) -> &'static str {
        "arp-probe"
    }

    fn arcs(&self) -> &'static [&'static str] {
        ArpProbeNext::TARGETS
    }

    fn errors(&self) -> &'static [&'static str] {
        ArpProbeError::NAMES
    }

    #[inline]
    fn has_work(&self) -> bool {
        !self.probes.is_empty()
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        // Nothing is sent here; were anything, it would go to drop.
        next[..pkts.len()].fill(ArpProbeNext::Drop.arc());
        let state = self.state.get();
        for _ in 0..PROBES_PER_POLL {
            let Some(p) = self.probes.pop() else {
                break;
            };
            let Some(iface) = state.iface(p.iface).filter(|i| i.up) else {
                ctx.count(ArpProbeError::NoIface.idx());
                continue;
            };
            let req = match make_request(ctx, iface, p.ip) {
                Ok(req) => req,
                Err(e) => {
                    ctx.count(match e {
                        RequestError::NoSource => ArpProbeError::NoSource.idx(),
                        RequestError::NoBuffer => ArpProbeError::NoBuffer.idx(),
                    });
                    continue;
                }
            };
            let arc = match iface.kind {
                IfaceKind::Port { .. } => ArpProbeNext::PortTx,
                IfaceKind::Vxlan(_) => ArpProbeNext::VxlanEncap,
            };
            // For our own address, the request has sender = target: a gratuitous ARP.
            ctx.count(if iface.has_addr(p.ip) {
                ArpProbeError::Announced.idx()
            } else {
                ArpProbeError::Sent.idx()
            });
            ctx.emit(arc.arc(), req);
        }
    }

    fn quiescent(&mut self) {
        self.state.refresh();
    }
}
