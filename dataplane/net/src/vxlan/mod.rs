//! VXLAN (RFC 7348) over an IPv4 underlay: the `vxlan-encap` and `vxlan-decap` graph nodes.
//!
//! A tunnel is an L3 interface ([`crate::fwd::IfaceKind::Vxlan`]), point-to-point to one
//! remote VTEP like a kernel `vxlan` device with `remote`:
//!
//! ```text
//! ip4-rewrite / arp-input --(inner frame, tx_if = tunnel)--> vxlan-encap --> ip4-lookup
//!     (outer IPv4/UDP/VXLAN prepended, outer IPv4 checksum pending) --> ip4-rewrite --> port-tx
//!
//! ip4-lookup --(route into a tunnel stacked on a resolved underlay)--> ip4-rewrite
//!     (inner Ethernet + outer IPv4/UDP/VXLAN + underlay Ethernet, one 64-byte midchain)
//!     --> port-tx
//!
//! port-rx --> ethernet-input --> ip4-input --> ip4-lookup --> ip4-local
//!     --(outer IPv4 at data[0], dst is our VTEP)--> vxlan-decap
//!     --(inner frame, rx_if = tunnel)--> ethernet-input
//! ```
//!
//! The graph has a cycle through decap and ethernet-input; [`MAX_DECAP_DEPTH`] bounds it.
//! Both nodes read [`crate::fwd::FwdState`] through RCU and keep derived per-node tables
//! (precomputed outer headers, a last-tunnel cache, the set of known VNIs) that they rebuild
//! at the worker's quiescent point when the state changed, never per packet.

mod decap;
mod encap;
mod flow;

pub use decap::{MAX_DECAP_DEPTH, VxlanDecap, VxlanDecapError, VxlanDecapNext};
pub use encap::{
    MIDCHAIN_LEN, Midchain, OUTER_DONT_FRAG, OUTER_TOS, OUTER_TTL, VxlanEncap, VxlanEncapError,
    VxlanEncapNext,
};
pub use flow::inner_flow_hash;

/// Packets looked ahead of the one being handled (their metadata and first line are
/// prefetched so the loop does not stall on the next packet's cache miss).
const PREFETCH_AHEAD: usize = 4;

#[cfg(test)]
mod tests;
