//! Owned packet buffers ([`Mbuf`]) and fixed-capacity bursts of them ([`MbufBurst`]).
//!
//! An `Mbuf` is freed when dropped. Transmitting one hands it to the driver: the burst API
//! removes sent mbufs from the caller's burst, so they cannot be freed twice.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;

/// Offload flag bits of `rte_mbuf::ol_flags`, re-exported with short names.
pub mod ol_flags {
    pub const RX_IP_CKSUM_MASK: u64 = dpdk_sys::SHIM_MBUF_F_RX_IP_CKSUM_MASK;
    pub const RX_IP_CKSUM_GOOD: u64 = dpdk_sys::SHIM_MBUF_F_RX_IP_CKSUM_GOOD;
    pub const RX_IP_CKSUM_BAD: u64 = dpdk_sys::SHIM_MBUF_F_RX_IP_CKSUM_BAD;
    pub const RX_L4_CKSUM_MASK: u64 = dpdk_sys::SHIM_MBUF_F_RX_L4_CKSUM_MASK;
    pub const RX_L4_CKSUM_GOOD: u64 = dpdk_sys::SHIM_MBUF_F_RX_L4_CKSUM_GOOD;
    pub const RX_L4_CKSUM_BAD: u64 = dpdk_sys::SHIM_MBUF_F_RX_L4_CKSUM_BAD;
    pub const RX_RSS_HASH: u64 = dpdk_sys::SHIM_MBUF_F_RX_RSS_HASH;
    pub const TX_IPV4: u64 = dpdk_sys::SHIM_MBUF_F_TX_IPV4;
    pub const TX_IPV6: u64 = dpdk_sys::SHIM_MBUF_F_TX_IPV6;
    pub const TX_IP_CKSUM: u64 = dpdk_sys::SHIM_MBUF_F_TX_IP_CKSUM;
    pub const TX_UDP_CKSUM: u64 = dpdk_sys::SHIM_MBUF_F_TX_UDP_CKSUM;
    pub const TX_TCP_CKSUM: u64 = dpdk_sys::SHIM_MBUF_F_TX_TCP_CKSUM;
    pub const TX_OUTER_IPV4: u64 = dpdk_sys::SHIM_MBUF_F_TX_OUTER_IPV4;
    pub const TX_OUTER_IP_CKSUM: u64 = dpdk_sys::SHIM_MBUF_F_TX_OUTER_IP_CKSUM;
    pub const TX_OUTER_UDP_CKSUM: u64 = dpdk_sys::SHIM_MBUF_F_TX_OUTER_UDP_CKSUM;
    pub const TX_TUNNEL_VXLAN: u64 = dpdk_sys::SHIM_MBUF_F_TX_TUNNEL_VXLAN;
}

/// Header lengths the NIC needs for checksum offload (`rte_mbuf::tx_offload`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TxOffloadLens {
    pub l2_len: u8,
    pub l3_len: u16,
    pub l4_len: u8,
    pub tso_segsz: u16,
    pub outer_l3_len: u16,
    pub outer_l2_len: u8,
}

impl TxOffloadLens {
    /// Packs the lengths as `rte_mbuf_tx_offload()` does: l2 7 bits, l3 9, l4 8, tso 16,
    /// outer l3 9, outer l2 7. Values wider than their field are truncated to it.
    #[inline]
    pub fn pack(&self) -> u64 {
        (self.l2_len as u64 & 0x7f)
            | (self.l3_len as u64 & 0x1ff) << 7
            | (self.l4_len as u64) << 16
            | (self.tso_segsz as u64) << 24
            | (self.outer_l3_len as u64 & 0x1ff) << 40
            | (self.outer_l2_len as u64 & 0x7f) << 49
    }

    /// Unpacks a `tx_offload` word.
    #[inline]
    pub fn unpack(v: u64) -> TxOffloadLens {
        TxOffloadLens {
            l2_len: (v & 0x7f) as u8,
            l3_len: ((v >> 7) & 0x1ff) as u16,
            l4_len: ((v >> 16) & 0xff) as u8,
            tso_segsz: ((v >> 24) & 0xffff) as u16,
            outer_l3_len: ((v >> 40) & 0x1ff) as u16,
            outer_l2_len: ((v >> 49) & 0x7f) as u8,
        }
    }
}

/// An owned DPDK packet buffer. Freed (returned to its pool) on drop.
///
/// `Send` so a packet can move between threads; not `Sync`: an mbuf has one owner.
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf {
    raw: NonNull<dpdk_sys::rte_mbuf>,
}

// SAFETY: an Mbuf is uniquely owned; moving that ownership to another thread is sound because
// freeing from any thread is allowed by the (thread-safe) mempool.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must point to a valid, initialised mbuf that nobody else owns or will free.
    #[inline(always)]
    pub unsafe fn from_raw(raw: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf { raw }
    }

    /// Gives up ownership without freeing; the caller must free or transmit the pointer.
    #[inline(always)]
    pub fn into_raw(self) -> NonNull<dpdk_sys::rte_mbuf> {
        ManuallyDrop::new(self).raw
    }

    #[inline(always)]
    fn m(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as self lives.
        unsafe { self.raw.as_ref() }
    }

    #[inline(always)]
    fn m_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own a valid mbuf, and &mut self makes this the only reference.
        unsafe { self.raw.as_mut() }
    }

    /// The first segment's data (what headers are parsed from).
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's data room, which
        // we own; the slice borrows self so the mbuf outlives it.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment's data, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.m_mut();
        // SAFETY: as in `data`; &mut self guarantees exclusive access to the data room.
        unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// Total packet length over all segments.
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.m().pkt_len
    }

    /// Length of the first segment.
    #[inline(always)]
    pub fn data_len(&self) -> u16 {
        self.m().data_len
    }

    /// Number of segments.
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.m().nb_segs
    }

    /// Whether the whole packet is in the first segment.
    #[inline(always)]
    pub fn is_contiguous(&self) -> bool {
        self.m().nb_segs == 1
    }

    /// Makes the packet one segment; `false` if it does not fit.
    pub fn linearize(&mut self) -> bool {
        // SAFETY: we own the mbuf chain exclusively.
        unsafe { dpdk_sys::shim_rte_pktmbuf_linearize(self.raw.as_ptr()) == 0 }
    }

    /// Free bytes in front of the data.
    #[inline(always)]
    pub fn headroom(&self) -> u16 {
        self.m().data_off
    }

    /// Free bytes after the data of the last segment (first segment when contiguous).
    #[inline]
    pub fn tailroom(&self) -> u16 {
        // SAFETY: we own a valid mbuf.
        unsafe { dpdk_sys::shim_rte_pktmbuf_tailroom(self.raw.as_ptr()) }
    }

    /// Grows the packet at the front by `len` bytes and returns them, or `None` when the
    /// headroom is too small (the packet is then unchanged).
    #[inline]
    pub fn prepend(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf exclusively; DPDK checks the headroom and returns NULL.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_prepend(self.raw.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p is not NULL, so it points at `len` writable bytes of our data room.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
    }

    /// Grows the packet at the end by `len` bytes and returns them, or `None` when the
    /// tailroom is too small (the packet is then unchanged).
    #[inline]
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: we own the mbuf exclusively; DPDK checks the tailroom and returns NULL.
        let p = unsafe { dpdk_sys::shim_rte_pktmbuf_append(self.raw.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p is not NULL, so it points at `len` writable bytes at the end of the data.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
    }

    /// Removes `len` bytes from the front (e.g. a decapsulated outer header); `false` if the
    /// first segment is shorter.
    #[inline]
    pub fn adj(&mut self, len: u16) -> bool {
        // SAFETY: we own the mbuf exclusively; DPDK checks the length and returns NULL.
        unsafe { !dpdk_sys::shim_rte_pktmbuf_adj(self.raw.as_ptr(), len).is_null() }
    }

    /// Removes `len` bytes from the end; `false` if the last segment is shorter.
    #[inline]
    pub fn trim(&mut self, len: u16) -> bool {
        // SAFETY: we own the mbuf exclusively; DPDK checks the length.
        unsafe { dpdk_sys::shim_rte_pktmbuf_trim(self.raw.as_ptr(), len) == 0 }
    }

    /// Offload flags (`RTE_MBUF_F_*`, see [`ol_flags`]).
    #[inline(always)]
    pub fn ol_flags(&self) -> u64 {
        self.m().ol_flags
    }

    #[inline(always)]
    pub fn set_ol_flags(&mut self, flags: u64) {
        self.m_mut().ol_flags = flags;
    }

    /// Header lengths used by transmit offloads.
    #[inline(always)]
    pub fn tx_offload(&self) -> TxOffloadLens {
        // SAFETY: tx_offload is a plain u64 view of the union; every bit pattern is valid.
        TxOffloadLens::unpack(unsafe { self.m().__bindgen_anon_3.tx_offload })
    }

    #[inline(always)]
    pub fn set_tx_offload(&mut self, lens: TxOffloadLens) {
        self.m_mut().__bindgen_anon_3.tx_offload = lens.pack();
    }

    /// `RTE_PTYPE_*` packet type the driver recognised (0 when unknown).
    #[inline(always)]
    pub fn packet_type(&self) -> u32 {
        // SAFETY: packet_type is a plain u32 view of the union; every bit pattern is valid.
        unsafe { self.m().__bindgen_anon_1.packet_type }
    }

    /// The NIC's RSS hash when `RX_RSS_HASH` is set in `ol_flags`.
    #[inline(always)]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.m();
        if m.ol_flags & ol_flags::RX_RSS_HASH == 0 {
            return None;
        }
        // SAFETY: rss is a plain u32 view of the hash union; every bit pattern is valid.
        Some(unsafe { m.__bindgen_anon_2.hash.rss })
    }

    /// Port the packet was received on.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    #[inline(always)]
    pub fn set_port(&mut self, port: u16) {
        self.m_mut().port = port;
    }

    /// VLAN TCI stripped by the NIC (valid with the VLAN rx flag).
    #[inline(always)]
    pub fn vlan_tci(&self) -> u16 {
        self.m().vlan_tci
    }

    /// Raw pointer, for prefetching.
    #[inline(always)]
    pub fn as_ptr(&self) -> *const dpdk_sys::rte_mbuf {
        self.raw.as_ptr()
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf and nobody else will free it (ownership invariant).
        unsafe { dpdk_sys::shim_rte_pktmbuf_free(self.raw.as_ptr()) }
    }
}

/// A fixed-capacity burst of owned mbufs, stored as the raw pointer array DPDK's burst calls
/// read and write, so rx/tx need no copying and no allocation. Dropping it frees what is left.
pub struct MbufBurst<const N: usize> {
    ptrs: [*mut dpdk_sys::rte_mbuf; N],
    len: usize,
}

// SAFETY: the burst owns its mbufs exactly as Vec<Mbuf> would; Mbuf is Send.
unsafe impl<const N: usize> Send for MbufBurst<N> {}

impl<const N: usize> Default for MbufBurst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for MbufBurst<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MbufBurst")
            .field("len", &self.len)
            .field("capacity", &N)
            .finish()
    }
}

impl<const N: usize> MbufBurst<N> {
    /// An empty burst. `N` must fit a DPDK burst count (u16).
    pub const fn new() -> Self {
        assert!(N <= u16::MAX as usize);
        MbufBurst {
            ptrs: [std::ptr::null_mut(); N],
            len: 0,
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    /// Adds an mbuf at the end; gives it back when the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let p = self.ptrs[self.len];
        // SAFETY: slots below len hold owned, non-null mbufs; the slot is now outside len,
        // so ownership moves out exactly once.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }

    /// Borrows the i-th mbuf.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        if i >= self.len {
            return None;
        }
        // SAFETY: Mbuf is repr(transparent) over NonNull<rte_mbuf>, which has the layout of a
        // non-null pointer; slots below len are non-null owned mbufs.
        Some(unsafe { &*(&self.ptrs[i] as *const *mut dpdk_sys::rte_mbuf as *const Mbuf) })
    }

    /// Mutably borrows the i-th mbuf.
    #[inline(always)]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Mbuf> {
        if i >= self.len {
            return None;
        }
        // SAFETY: as in `get`; &mut self makes the borrow exclusive.
        Some(unsafe { &mut *(&mut self.ptrs[i] as *mut *mut dpdk_sys::rte_mbuf as *mut Mbuf) })
    }

    /// The mbufs as a slice.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: as in `get`: the first len slots are valid Mbufs, laid out identically.
        unsafe { std::slice::from_raw_parts(self.ptrs.as_ptr() as *const Mbuf, self.len) }
    }

    /// The mbufs as a mutable slice.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [Mbuf] {
        // SAFETY: as in `as_slice`, with exclusive access through &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptrs.as_mut_ptr() as *mut Mbuf, self.len) }
    }

    /// Moves every mbuf out, in order.
    pub fn drain(&mut self) -> impl Iterator<Item = Mbuf> + '_ {
        let n = std::mem::replace(&mut self.len, 0);
        self.ptrs[..n].iter().map(|&p| {
            // SAFETY: each of the first n slots held an owned mbuf; len is already 0, so no
            // other path can take them again.
            unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) }
        })
    }

    /// Frees every mbuf (what drop does, without dropping the burst).
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: the first len slots are owned mbufs; after this they are forgotten.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Space for the driver to write up to `N - len` new mbufs (rx).
    #[inline(always)]
    pub(crate) fn spare_ptrs(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        // len <= N, so the slice is the free tail (empty when full) and needs no unsafe.
        (self.ptrs[self.len..].as_mut_ptr(), (N - self.len) as u16)
    }

    /// Records that the driver wrote `n` more mbufs after the current ones.
    #[inline(always)]
    pub(crate) fn commit(&mut self, n: u16) {
        debug_assert!(self.len + n as usize <= N);
        self.len += n as usize;
    }

    /// Pointer to the owned mbufs (tx).
    #[inline(always)]
    pub(crate) fn ptrs_mut(&mut self) -> *mut *mut dpdk_sys::rte_mbuf {
        self.ptrs.as_mut_ptr()
    }

    /// Forgets the first `n` mbufs (the driver took them) and moves the rest to the front.
    #[inline(always)]
    pub(crate) fn consume_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        if n < self.len {
            self.ptrs.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }
}

impl<const N: usize> Drop for MbufBurst<N> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_offload_packing_matches_bindgen_bitfields() {
        let lens = TxOffloadLens {
            l2_len: 14,
            l3_len: 20,
            l4_len: 8,
            tso_segsz: 1400,
            outer_l3_len: 20,
            outer_l2_len: 14,
        };
        let mut raw = dpdk_sys::rte_mbuf__bindgen_ty_3 { tx_offload: 0 };
        // SAFETY: plain-old-data union access in a test.
        let bf = unsafe { &mut raw.__bindgen_anon_1 };
        bf.set_l2_len(14);
        bf.set_l3_len(20);
        bf.set_l4_len(8);
        bf.set_tso_segsz(1400);
        bf.set_outer_l3_len(20);
        bf.set_outer_l2_len(14);
        // SAFETY: reading the u64 view of a fully initialised union.
        let expected = unsafe { raw.tx_offload };
        assert_eq!(lens.pack(), expected);
        assert_eq!(TxOffloadLens::unpack(expected), lens);
    }
}
