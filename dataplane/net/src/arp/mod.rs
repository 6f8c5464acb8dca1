//! ARP (RFC 826) for the dataplane's IPv4 interfaces, ports and VXLAN tunnels alike.
//!
//! Two pieces, one per direction:
//!
//! * [`ArpInput`], the `arp-input` graph node: answers requests for the receiving interface's
//!   own addresses (in place, in the packet's own buffer), learns neighbors into the
//!   [`crate::fwd::LearnQueue`] the control plane drains, and drops everything else under a
//!   reason of its own ([`ArpError`]). Replies leave through `port-tx` on a port and through
//!   `vxlan-encap` on a tunnel interface, because a tunnel is an L3 interface ARP runs over.
//! * [`build_request`] and [`make_request`]: the broadcast who-has that ip4-rewrite sends for
//!   a next hop it cannot resolve yet. Rate limiting and holding the packet that needed it
//!   are the caller's job.
//! * [`ArpProbe`], the `arp-probe` source node: the same request for a learned neighbor whose
//!   entry is about to expire, when the control plane asks ([`crate::fwd::ProbeQueue`]).
//!
//! Neighbors themselves live in [`crate::fwd::FwdState::neighbors`]; workers never write them.
//! They push a [`crate::fwd::NeighborEvent`] and [`crate::fwd::Control::learn`] applies it,
//! so the table changes through RCU like every other table.

mod aging;
mod input;
mod probe;
mod request;

pub use aging::{NeighborAging, NeighborCounters, NeighborPolicy, PROBES_PER_PASS};
pub use input::{ArpError, ArpInput, ArpNext};
pub use probe::{ArpProbe, ArpProbeError, ArpProbeNext, PROBES_PER_POLL};
pub use request::{RequestError, build_request, make_request};

#[cfg(test)]
mod tests;
