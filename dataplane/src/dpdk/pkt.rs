//! [`PktMbuf`]: an mbuf as the packet graph's buffer (`dp_net::buffer::PacketBuf`).
//!
//! The graph's per-packet metadata lives in the mbuf itself, in a dynamic field at the start
//! of the mbuf's second cache line (registered with DPDK, so no driver or library is given the
//! same bytes). Drivers touch that line anyway (`next`, `tx_offload`) and the pools need no
//! private area, so a packet costs three cache lines (two of mbuf, one of headers) instead of
//! four, and moving it between nodes moves one pointer. Header edits
//! (prepend, adj, truncate, append) are plain field arithmetic here rather than calls into
//! the C shim: they run once or twice per packet per node. They follow DPDK's semantics for
//! single-segment packets, which is all the graph handles (multi-segment packets are
//! linearised or dropped before they enter it).

use std::mem::size_of;
use std::sync::atomic::{AtomicBool, Ordering};

use arrayvec::ArrayVec;
use dp_net::buffer::{
    CsumStatus, L4Csum, OuterOffload, PacketAlloc, PacketBuf, PacketMeta, RxOffload, TxOffload,
};

use super::mbuf::{Mbuf, TxOffloadLens, ol_flags};
use super::mempool::Mempool;

/// Where [`PacketMeta`] lives in every mbuf: the start of the dynamic-field area.
pub const META_OFFSET: usize = std::mem::offset_of!(dpdk_sys::rte_mbuf, dynfield1);
const META_NAME: &std::ffi::CStr = c"dp_graph_packet_meta";

const _: () = assert!(META_OFFSET.is_multiple_of(std::mem::align_of::<PacketMeta>()));
const _: () = assert!(META_OFFSET + size_of::<PacketMeta>() <= size_of::<dpdk_sys::rte_mbuf>());

/// Set once the metadata field is registered: only then may an mbuf be a [`PktMbuf`].
static META_REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers the metadata's dynamic field at [`META_OFFSET`] (idempotent). Called before the
/// first pool is made; fails when something else took those bytes first.
pub(crate) fn register_meta_field() -> Result<(), String> {
    if META_REGISTERED.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut params = dpdk_sys::rte_mbuf_dynfield {
        name: [0; 64],
        size: size_of::<PacketMeta>(),
        align: std::mem::align_of::<PacketMeta>(),
        flags: 0,
    };
    for (d, s) in params.name.iter_mut().zip(META_NAME.to_bytes()) {
        *d = *s as std::ffi::c_char;
    }
    // SAFETY: params is a valid, NUL-terminated description that outlives the call.
    let off = unsafe { dpdk_sys::rte_mbuf_dynfield_register_offset(&params, META_OFFSET) };
    if off < 0 {
        return Err(format!(
            "cannot register the packet metadata as an mbuf dynamic field at offset {META_OFFSET}: {}",
            super::error::last_error()
        ));
    }
    META_REGISTERED.store(true, Ordering::Release);
    Ok(())
}

/// All transmit-offload flag bits this module sets.
const TX_MASK: u64 = ol_flags::TX_IPV4
    | ol_flags::TX_IPV6
    | ol_flags::TX_IP_CKSUM
    | ol_flags::TX_UDP_CKSUM
    | ol_flags::TX_TCP_CKSUM
    | ol_flags::TX_OUTER_IPV4
    | ol_flags::TX_OUTER_IP_CKSUM
    | ol_flags::TX_OUTER_UDP_CKSUM
    | ol_flags::TX_TUNNEL_VXLAN;

/// An mbuf whose private area holds a [`PacketMeta`] (checked when it is made).
#[derive(Debug)]
#[repr(transparent)]
pub struct PktMbuf(Mbuf);

impl PktMbuf {
    /// Wraps an mbuf with fresh metadata; gives it back when the metadata field is not
    /// registered (no pool was made through [`super::Mempool`]).
    #[inline(always)]
    pub fn from_mbuf(m: Mbuf, rx_if: u16) -> Result<PktMbuf, Mbuf> {
        if !META_REGISTERED.load(Ordering::Relaxed) {
            return Err(m);
        }
        let mut p = PktMbuf(m);
        *p.meta_mut() = PacketMeta {
            rx_if,
            ..PacketMeta::default()
        };
        Ok(p)
    }

    /// The underlying mbuf.
    pub fn into_mbuf(self) -> Mbuf {
        self.0
    }

    pub fn mbuf(&self) -> &Mbuf {
        &self.0
    }

    #[inline(always)]
    fn raw(&self) -> *mut dpdk_sys::rte_mbuf {
        self.0.as_ptr() as *mut dpdk_sys::rte_mbuf
    }

    #[inline(always)]
    fn meta_ptr(&self) -> *mut PacketMeta {
        // SAFETY: META_OFFSET..+size_of::<PacketMeta>() lies inside the rte_mbuf struct
        // (asserted above), suitably aligned, and is registered to us (checked in from_mbuf).
        unsafe { (self.raw() as *mut u8).add(META_OFFSET) as *mut PacketMeta }
    }
}

impl PacketBuf for PktMbuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        self.0.data()
    }

    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        self.0.data_mut()
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.0.data_len() as usize
    }

    #[inline(always)]
    fn headroom(&self) -> usize {
        self.0.headroom() as usize
    }

    #[inline(always)]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let raw = self.raw();
        // SAFETY: we own the mbuf exclusively (&mut self); plain field updates keep
        // data_off/data_len/pkt_len consistent as rte_pktmbuf_prepend does.
        unsafe {
            let m = &mut *raw;
            if n > m.data_off as usize {
                return None;
            }
            m.data_off -= n as u16;
            m.data_len += n as u16;
            m.pkt_len += n as u32;
        }
        Some(&mut self.0.data_mut()[..n])
    }

    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        // SAFETY: exclusive ownership; mirrors rte_pktmbuf_adj on the first segment.
        unsafe {
            let m = &mut *self.raw();
            if n > m.data_len as usize {
                return false;
            }
            m.data_off += n as u16;
            m.data_len -= n as u16;
            m.pkt_len -= n as u32;
        }
        true
    }

    #[inline(always)]
    fn truncate(&mut self, len: usize) -> bool {
        // SAFETY: exclusive ownership; the graph only holds single-segment packets, so the
        // first segment is the whole packet.
        unsafe {
            let m = &mut *self.raw();
            if len > m.data_len as usize {
                return false;
            }
            m.data_len = len as u16;
            m.pkt_len = len as u32;
        }
        true
    }

    #[inline(always)]
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let old = self.len();
        // SAFETY: exclusive ownership; the tailroom check keeps data inside buf_len.
        unsafe {
            let m = &mut *self.raw();
            let tail = m.buf_len as usize - m.data_off as usize - m.data_len as usize;
            if n > tail {
                return None;
            }
            m.data_len += n as u16;
            m.pkt_len += n as u32;
        }
        Some(&mut self.0.data_mut()[old..])
    }

    #[inline(always)]
    fn meta(&self) -> &PacketMeta {
        // SAFETY: meta_ptr points at an initialised PacketMeta (written in from_mbuf) that
        // lives as long as the mbuf, which self borrows.
        unsafe { &*self.meta_ptr() }
    }

    #[inline(always)]
    fn meta_mut(&mut self) -> &mut PacketMeta {
        // SAFETY: as in meta, and &mut self makes the access exclusive.
        unsafe { &mut *self.meta_ptr() }
    }

    #[inline(always)]
    fn rx_offload(&self) -> RxOffload {
        let f = self.0.ol_flags();
        RxOffload {
            ip: csum_status(f, ol_flags::RX_IP_CKSUM_GOOD, ol_flags::RX_IP_CKSUM_BAD),
            l4: csum_status(f, ol_flags::RX_L4_CKSUM_GOOD, ol_flags::RX_L4_CKSUM_BAD),
            rss_hash: self.0.rss_hash(),
        }
    }

    #[inline(always)]
    fn rx_ip_csum(&self) -> CsumStatus {
        csum_status(
            self.0.ol_flags(),
            ol_flags::RX_IP_CKSUM_GOOD,
            ol_flags::RX_IP_CKSUM_BAD,
        )
    }

    #[inline(always)]
    fn rx_rss_hash(&self) -> Option<u32> {
        self.0.rss_hash()
    }

    fn set_tx_offload(&mut self, req: TxOffload) {
        let mut f = 0u64;
        if req.ipv4 {
            f |= ol_flags::TX_IPV4;
        }
        if req.ip_csum {
            f |= ol_flags::TX_IP_CKSUM;
        }
        match req.l4 {
            L4Csum::None => {}
            L4Csum::Udp => f |= ol_flags::TX_UDP_CKSUM,
            L4Csum::Tcp => f |= ol_flags::TX_TCP_CKSUM,
        }
        let mut lens = TxOffloadLens {
            l2_len: req.l2_len,
            l3_len: req.l3_len,
            l4_len: req.l4_len,
            ..Default::default()
        };
        if let Some(o) = req.outer {
            f |= ol_flags::TX_OUTER_IPV4 | ol_flags::TX_TUNNEL_VXLAN;
            if o.ip_csum {
                f |= ol_flags::TX_OUTER_IP_CKSUM;
            }
            if o.udp_csum {
                f |= ol_flags::TX_OUTER_UDP_CKSUM;
            }
            lens.outer_l2_len = o.l2_len;
            lens.outer_l3_len = o.l3_len;
        }
        let old = self.0.ol_flags();
        self.0.set_ol_flags((old & !TX_MASK) | f);
        self.0.set_tx_offload(lens);
    }

    fn tx_offload(&self) -> TxOffload {
        let f = self.0.ol_flags();
        let l = self.0.tx_offload();
        let l4 = if f & ol_flags::TX_UDP_CKSUM == ol_flags::TX_UDP_CKSUM {
            L4Csum::Udp
        } else if f & ol_flags::TX_TCP_CKSUM == ol_flags::TX_TCP_CKSUM {
            L4Csum::Tcp
        } else {
            L4Csum::None
        };
        TxOffload {
            ip_csum: f & ol_flags::TX_IP_CKSUM != 0,
            ipv4: f & ol_flags::TX_IPV4 != 0,
            l4,
            l2_len: l.l2_len,
            l3_len: l.l3_len,
            l4_len: l.l4_len,
            outer: (f & ol_flags::TX_OUTER_IPV4 != 0).then_some(OuterOffload {
                ip_csum: f & ol_flags::TX_OUTER_IP_CKSUM != 0,
                udp_csum: f & ol_flags::TX_OUTER_UDP_CKSUM != 0,
                l2_len: l.outer_l2_len,
                l3_len: l.outer_l3_len,
            }),
        }
    }

    #[inline(always)]
    fn prefetch(&self) {
        // SAFETY: prefetch is a hint with no memory effects; the addresses are the mbuf and
        // its data, both valid while self lives.
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(self.raw() as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(self.0.data().as_ptr() as *const i8);
        }
    }

    #[inline(always)]
    fn prefetch_headroom(&self) {
        // The line before the data: inside the mbuf's headroom while it holds 64 bytes or
        // more; a prefetch of any other address is harmless (it is a hint and cannot fault),
        // and the address is computed without pointer arithmetic.
        let line = (self.0.data().as_ptr() as usize).wrapping_sub(64);
        // SAFETY: prefetch has no memory effects and never faults.
        unsafe {
            use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(line as *const i8);
        }
    }

    #[inline]
    fn free_all<const N: usize>(pkts: &mut ArrayVec<Self, N>) {
        let n = pkts.len();
        if n == 0 {
            return;
        }
        // PktMbuf is repr(transparent) down to an rte_mbuf pointer: the first n slots are an
        // array of n owned mbuf pointers (the storage is inline, so the pointer outlives the
        // length change below).
        let ptr = pkts.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf;
        // SAFETY: 0 <= len; the n packets are forgotten by the vector, never dropped by it,
        // and freed once just below.
        unsafe { pkts.set_len(0) };
        // SAFETY: `ptr` holds n owned mbuf pointers nothing else will free.
        unsafe { dpdk_sys::rte_pktmbuf_free_bulk(ptr, n as u32) };
    }
}

/// The NIC's verdict on one checksum, from the mbuf's flags `f`: its two-bit field is `good`,
/// `bad`, or anything else (UNKNOWN, or NONE: both bits, "integrity verified, checksum field
/// wrong"), which the graph verifies itself.
#[inline(always)]
fn csum_status(f: u64, good: u64, bad: u64) -> CsumStatus {
    // A table indexed by the two flag bits: one load where a match compiles to a chain of
    // compares and conditional moves (ethernet-input reads it per packet).
    const BY_BITS: [CsumStatus; 4] = [
        CsumStatus::Unknown,
        CsumStatus::Bad,
        CsumStatus::Good,
        CsumStatus::Unknown,
    ];
    let g = usize::from(f & good != 0);
    let b = usize::from(f & bad != 0);
    BY_BITS[g << 1 | b]
}

// csum_status reads each field as its two bits, GOOD and BAD.
const _: () = {
    use ol_flags::*;
    assert!(RX_IP_CKSUM_MASK == RX_IP_CKSUM_GOOD | RX_IP_CKSUM_BAD);
    assert!(RX_L4_CKSUM_MASK == RX_L4_CKSUM_GOOD | RX_L4_CKSUM_BAD);
    assert!(RX_IP_CKSUM_GOOD.is_power_of_two() && RX_IP_CKSUM_BAD.is_power_of_two());
    assert!(RX_L4_CKSUM_GOOD.is_power_of_two() && RX_L4_CKSUM_BAD.is_power_of_two());
};

/// Allocates graph packets from a mempool.
#[derive(Debug, Clone, Copy)]
pub struct MbufAlloc(pub Mempool);

impl PacketAlloc<PktMbuf> for MbufAlloc {
    #[inline]
    fn alloc(&mut self) -> Option<PktMbuf> {
        PktMbuf::from_mbuf(self.0.alloc()?, 0).ok()
    }
}

/// Receives into the free space of a graph vector, at most `max` packets. Packets are
/// stamped with `rx_if` and fresh metadata; multi-segment packets that cannot be linearised
/// are freed and counted in the second value.
#[inline]
pub fn rx_into<const N: usize>(
    q: &mut super::RxQueue,
    v: &mut ArrayVec<PktMbuf, N>,
    max: usize,
    rx_if: u16,
) -> (usize, usize) {
    let start = v.len();
    let room = (N - start).min(max);
    if room == 0 {
        return (0, 0);
    }
    // SAFETY: PktMbuf is repr(transparent) down to an rte_mbuf pointer, so the spare slots form
    // a pointer array; the driver writes `n` valid mbuf pointers into it, which we then own.
    let n = unsafe {
        let ptr = v.as_mut_ptr().add(start) as *mut *mut dpdk_sys::rte_mbuf;
        let n = q.rx_raw(ptr, room as u16) as usize;
        v.set_len(start + n);
        n
    };
    let mut bad = 0;
    let mut i = start;
    while i < v.len() {
        let p = &mut v[i];
        if !p.0.is_contiguous() && !p.0.linearize() {
            v.remove(i);
            bad += 1;
            continue;
        }
        *p.meta_mut() = PacketMeta {
            rx_if,
            ..PacketMeta::default()
        };
        i += 1;
    }
    (n - bad, bad)
}

/// Transmits the packets of `v` from the front; what the driver took is removed, the rest
/// stays in `v` in order. Returns how many were sent.
#[inline]
pub fn tx_from<const N: usize>(q: &mut super::TxQueue, v: &mut ArrayVec<PktMbuf, N>) -> usize {
    let len = v.len();
    if len == 0 {
        return 0;
    }
    // SAFETY: the first len slots are owned mbufs laid out as a pointer array (repr(transparent));
    // the driver owns the first n sent, which we forget by shifting the rest down, not dropping.
    unsafe {
        let ptr = v.as_mut_ptr() as *mut *mut dpdk_sys::rte_mbuf;
        let n = q.tx_raw(ptr, len as u16) as usize;
        if n > 0 {
            std::ptr::copy(ptr.add(n), ptr, len - n);
            v.set_len(len - n);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::{CsumStatus, csum_status, ol_flags::*};

    /// Each field's four states, with every other flag bit set or clear around them.
    #[test]
    fn csum_status_reads_each_field_alone() {
        let fields = [
            (RX_IP_CKSUM_GOOD, RX_IP_CKSUM_BAD),
            (RX_L4_CKSUM_GOOD, RX_L4_CKSUM_BAD),
        ];
        for (good, bad) in fields {
            for rest in [0, !(good | bad)] {
                let cases = [
                    (0, CsumStatus::Unknown),
                    (good, CsumStatus::Good),
                    (bad, CsumStatus::Bad),
                    (good | bad, CsumStatus::Unknown),
                ];
                for (bits, want) in cases {
                    assert_eq!(csum_status(rest | bits, good, bad), want, "{bits:#x}");
                }
            }
        }
    }
}
