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

#[cfg(test)]
mod tests;
