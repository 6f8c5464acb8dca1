//! The L2 cross-connect: every frame received on one port of a pair is sent unchanged out of
//! the other, both ways. The first forwarding mode; the packet graph takes over routed ports.

use crate::dpdk::{MbufBurst, RxQueue, TxQueue};

/// Burst size for rx and tx: DPDK's customary 32.
pub const BURST: usize = 32;

/// One direction of a cross-connect: rx on one port, tx on the other.
#[derive(Debug)]
pub struct Direction {
    pub rx: RxQueue,
    pub tx: TxQueue,
    /// DPDK port ids of the two ports, which index the worker's per-port counters (a port
    /// id stays with its port while ports before it in the list come and go).
    pub rx_port: usize,
    pub tx_port: usize,
}

/// Software counters a worker keeps per port (the NIC counts the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SwPortCounters {
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// Frames dropped because the tx ring stayed full.
    pub tx_dropped: u64,
}

/// One pass over the cross-connect directions; returns the packets moved.
#[inline]
pub fn poll(
    dirs: &mut [Direction],
    burst: &mut MbufBurst<BURST>,
    ports: &mut [SwPortCounters],
) -> usize {
    let mut moved = 0usize;
    for d in dirs.iter_mut() {
        let n = d.rx.rx_burst(burst) as usize;
        if n == 0 {
            continue;
        }
        moved += n;
        ports[d.rx_port].rx_packets += n as u64;
        ports[d.tx_port].tx_packets += d.tx.tx_burst(burst) as u64;
        // What the driver did not take is dropped here, not retried: a full tx ring means
        // the peer is slower than the line, and holding packets only adds latency.
        ports[d.tx_port].tx_dropped += burst.len() as u64;
        burst.clear();
    }
    moved
}
