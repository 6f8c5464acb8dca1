//! The safe DPDK layer: the only module of the dataplane allowed to use `unsafe`.
//!
//! Everything above this module (graph, nodes, control plane) sees owned [`Mbuf`]s, [`Port`]s
//! and queue handles whose misuse the type system refuses: an mbuf is freed exactly once (on
//! drop, or by the driver after a successful transmit), an rx/tx queue is owned by one thread
//! at a time, and a port cannot be closed while a queue handle to it is alive.
#![allow(unsafe_code)]

mod eal;
mod error;
mod lcore;
mod lpm;
mod mbuf;
mod mempool;
mod pkt;
mod port;

pub use eal::{Eal, EalPreflight};
pub use error::{DpdkError, Result};
pub use lcore::{LcoreJoin, launch_on_lcore, lcore_id, worker_lcores};
pub use lpm::{LPM_FOUND, Lpm};
pub use mbuf::{Mbuf, MbufBurst, TxOffloadLens, ol_flags};
pub use mempool::{Mempool, max_mtu_for, mbuf_data_room};
pub use pkt::{META_OFFSET, MbufAlloc, PktMbuf, rx_into, tx_from};
pub use port::{
    DevCaps, LinkState, MAX_QUEUES, Port, PortConfig, PortStats, RxQueue, TxQueue, XStat,
    device_name, is_pci_address, offload, offload_names,
};

/// Reads the CPU timestamp counter: the clock used for per-node clocks-per-packet.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no memory effects and is available on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC frequency in Hz as measured by the EAL at init.
pub fn tsc_hz() -> u64 {
    // SAFETY: rte_get_tsc_hz reads a value computed at EAL init; it has no preconditions.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}
