//! The L2 cross-connect: every frame received on one port of a pair is sent unchanged out of
//! the other, both ways. The first forwarding mode; the packet graph takes over routed ports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::dpdk::{MbufBurst, RxQueue, TxQueue};
use crate::idle::IdleBackoff;

/// Burst size for rx and tx: DPDK's customary 32.
pub const BURST: usize = 32;

/// One direction of a cross-connect: rx on one port, tx on the other.
#[derive(Debug)]
pub struct Direction {
    pub rx: RxQueue,
    pub tx: TxQueue,
    /// Index of the rx port in the caller's port list (for stats).
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

/// What a cross-connect worker reports when it stops.
#[derive(Debug, Clone, Default)]
pub struct XconnectReport {
    /// Indexed like the caller's port list.
    pub ports: Vec<SwPortCounters>,
    pub loops: u64,
    pub idle_sleeps: u64,
    /// How long the worker forwarded.
    pub elapsed: std::time::Duration,
}

/// Forwards until `stop` is set. `nports` sizes the report.
pub fn run(
    mut dirs: Vec<Direction>,
    nports: usize,
    poll_mode: bool,
    stop: Arc<AtomicBool>,
) -> XconnectReport {
    let mut report = XconnectReport {
        ports: vec![SwPortCounters::default(); nports],
        ..Default::default()
    };
    let mut idle = IdleBackoff::new(poll_mode);
    let mut burst = MbufBurst::<BURST>::new();
    let start = std::time::Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut moved = 0usize;
        for d in dirs.iter_mut() {
            let n = d.rx.rx_burst(&mut burst) as usize;
            if n == 0 {
                continue;
            }
            moved += n;
            report.ports[d.rx_port].rx_packets += n as u64;
            let sent = d.tx.tx_burst(&mut burst) as u64;
            report.ports[d.tx_port].tx_packets += sent;
            // What the driver did not take is dropped here, not retried: a full tx ring
            // means the peer is slower than the line, and holding packets only adds latency.
            report.ports[d.tx_port].tx_dropped += burst.len() as u64;
            burst.clear();
        }
        report.loops += 1;
        idle.after_poll(moved);
    }
    report.idle_sleeps = idle.sleeps;
    report.elapsed = start.elapsed();
    report
}
