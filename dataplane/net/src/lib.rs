//! Packet wire formats, forwarding tables and graph nodes of the dataplane.
//!
//! Nothing here links DPDK or uses `unsafe`: every node is tested on plain in-memory buffers,
//! and the DPDK mbuf is only one implementation of the buffer trait (in the `dataplane` crate).
#![forbid(unsafe_code)]

pub mod arp;
pub mod buffer;
pub mod ethernet;
pub mod fwd;
pub mod graph;
pub mod ip4;
pub mod rcu;
pub mod vxlan;
pub mod wire;

/// The (node, reason) counters that do not count a dropped packet: the packet went on (a
/// reply or an ICMP error made in its place), or the count is of something else (an answered
/// request not learned from, a lost neighbor event). Every other reason counts one packet
/// dropped, so drops can be balanced against packets (the whole-graph and damaged-frame
/// tests do). A reason added that is not a drop belongs here.
pub const NOT_DROPS: [(&str, &str); 11] = [
    ("arp-input", arp::ArpError::RepliesSent.name()),
    ("arp-input", arp::ArpError::RequestNotLearned.name()),
    ("arp-input", arp::ArpError::LearnQueueFull.name()),
    // arp-probe counts probes, never packets that entered the graph.
    ("arp-probe", arp::ArpProbeError::Sent.name()),
    ("arp-probe", arp::ArpProbeError::Announced.name()),
    ("arp-probe", arp::ArpProbeError::NoIface.name()),
    ("arp-probe", arp::ArpProbeError::NoSource.name()),
    ("arp-probe", arp::ArpProbeError::NoBuffer.name()),
    ("ip4-local", ip4::local::Ip4LocalError::EchoReplied.name()),
    (
        "ip4-rewrite",
        ip4::rewrite::Ip4RewriteError::TtlExpired.name(),
    ),
    (
        "ip4-rewrite",
        ip4::rewrite::Ip4RewriteError::FragNeeded.name(),
    ),
];

#[cfg(test)]
mod tests;
