//! Packet-buffer pools (`rte_pktmbuf_pool_create`).
//!
//! A pool lives until the process exits: ports' rx rings and in-flight packets point into it
//! until their devices are closed, so freeing it earlier could never be proven sound. Pools
//! are created at startup (one per NUMA socket in practice), so nothing leaks over time.

use std::ffi::CString;
use std::ptr::NonNull;

use super::eal::Eal;
use super::error::{DpdkError, Result, last_error};
use super::mbuf::Mbuf;

/// What a frame takes beyond its MTU: the Ethernet header, one VLAN tag and the CRC.
const FRAME_OVERHEAD: u16 = 14 + 4 + 4;
const HEADROOM: u16 = dpdk_sys::RTE_PKTMBUF_HEADROOM as u16;

/// The mbuf data room (headroom included) that holds a whole frame of a port with `max_mtu`:
/// DPDK's default (`RTE_MBUF_DEFAULT_BUF_SIZE`, 2176) up to an MTU of 2026, then the frame
/// rounded up to a cache line.
pub fn mbuf_data_room(max_mtu: u16) -> u16 {
    let frame = max_mtu
        .saturating_add(FRAME_OVERHEAD)
        .next_multiple_of(64)
        .max(dpdk_sys::RTE_MBUF_DEFAULT_DATAROOM as u16);
    frame + HEADROOM
}

/// The largest port MTU whose frames fit one mbuf of `data_room` bytes.
pub fn max_mtu_for(data_room: u16) -> u16 {
    data_room.saturating_sub(HEADROOM + FRAME_OVERHEAD)
}

/// A handle to an mbuf pool. Cheap to copy; usable from any thread (DPDK's default ring
/// mempool is multi-producer/multi-consumer safe, with a per-lcore cache on EAL threads).
#[derive(Debug, Clone, Copy)]
pub struct Mempool {
    raw: NonNull<dpdk_sys::rte_mempool>,
    data_room: u16,
}

// SAFETY: the default mempool ops (ring_mp_mc) are thread-safe for get/put; the handle is
// only a pointer to a pool that is never freed (see module doc).
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations through `&Mempool` are thread-safe DPDK calls.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a packet mbuf pool of `count` mbufs with `data_room` bytes each (including
    /// headroom; `RTE_MBUF_DEFAULT_BUF_SIZE` is 2176), a per-lcore cache of `cache` mbufs,
    /// on `socket` (`None` = any). The graph's per-packet metadata lives in each
    /// mbuf's dynamic-field area (see `PktMbuf`), registered here on first use.
    pub fn new(
        _eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
        socket: Option<i32>,
    ) -> Result<Mempool> {
        let err = |reason: String| DpdkError::Mempool {
            name: name.to_string(),
            count,
            data_room,
            reason,
        };
        let cname = CString::new(name).map_err(|_| err("name contains a NUL byte".into()))?;
        let socket = socket.unwrap_or(-1); // SOCKET_ID_ANY
        // Every mbuf carries the graph's per-packet metadata in a dynamic field (no private
        // area: packet data then starts on a cache line).
        super::pkt::register_meta_field().map_err(err)?;
        let priv_size = 0;
        // SAFETY: the EAL is initialised (`_eal`); cname is a valid C string for the call.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                count,
                cache,
                priv_size,
                data_room,
                socket,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| {
            let mut reason = last_error();
            if reason.contains("errno 12") {
                reason.push_str(
                    ": not enough hugepage memory; reserve more hugepages or lower the pool size",
                );
            }
            err(reason)
        })?;
        Ok(Mempool { raw, data_room })
    }

    /// The largest port MTU whose frames fit one of the pool's mbufs ([`max_mtu_for`]).
    pub fn max_mtu(&self) -> u16 {
        max_mtu_for(self.data_room)
    }

    /// Allocates one mbuf, or `None` when the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid for the life of the process.
        let m = unsafe { dpdk_sys::shim_rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a non-null mbuf from the pool is ours alone until freed or transmitted.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of the process.
        unsafe { dpdk_sys::shim_rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.raw.as_ptr()
    }
}
