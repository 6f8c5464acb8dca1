//! The packet-buffer abstraction the graph runs on, and an in-memory implementation for tests.
//!
//! A buffer exposes its current data (the header the next node parses starts at `data()[0]`:
//! nodes strip headers they consumed with `adj` and write new ones with `prepend`, as VPP
//! moves `current_data`), a small per-packet [`PacketMeta`] that travels with it through the
//! graph, what the NIC said about checksums on receive, and the transmit offload request the
//! last node that changed a header leaves for the NIC. The DPDK mbuf implementation lives in
//! the `dataplane` crate (metadata in a dynamic field of the mbuf).

use arrayvec::ArrayVec;

/// Checksum verdict from the receiving NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsumStatus {
    /// The NIC did not check (or cannot): verify in software.
    #[default]
    Unknown,
    Good,
    Bad,
}

/// What the receiving NIC reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxOffload {
    pub ip: CsumStatus,
    pub l4: CsumStatus,
    pub rss_hash: Option<u32>,
}

/// Which L4 checksum the NIC should fill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L4Csum {
    #[default]
    None,
    Udp,
    Tcp,
}

/// A transmit checksum-offload request (maps onto `RTE_MBUF_F_TX_*` and `tx_offload` lengths).
/// Lengths describe the packet as it leaves: outer headers first when `outer` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxOffload {
    /// Inner (or only) IPv4 header checksum by the NIC.
    pub ip_csum: bool,
    /// The packet's (inner) IP version is 4 (`RTE_MBUF_F_TX_IPV4`).
    pub ipv4: bool,
    pub l4: L4Csum,
    pub l2_len: u8,
    pub l3_len: u16,
    pub l4_len: u8,
    /// VXLAN: outer IPv4 header checksum by the NIC, with the outer lengths.
    pub outer: Option<OuterOffload>,
}

/// Outer-header part of a tunnel offload request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OuterOffload {
    pub ip_csum: bool,
    pub udp_csum: bool,
    pub l2_len: u8,
    pub l3_len: u16,
}

/// Per-packet metadata carried through the graph (kept small: it lives in every buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct PacketMeta {
    /// Interface the packet arrived on (a port or a tunnel).
    pub rx_if: u16,
    /// Interface it leaves on, set by lookup/rewrite.
    pub tx_if: u16,
    /// Adjacency / next-hop id chosen by the lookup.
    pub adj: u32,
    /// Flow hash (RSS when the NIC gave one, else computed), for ECMP and VXLAN source ports.
    pub flow_hash: u32,
    /// Bytes of L2 header that ethernet-input stripped (to restore for punts and replies).
    pub l2_len: u8,
    /// Times this packet has been decapsulated: bounds graph cycles.
    pub decap_depth: u8,
    /// `PacketMeta::F_*` bits.
    pub flags: u16,
    /// 1 + index of this packet's trace record; 0 = not traced.
    pub trace: u16,
}

impl PacketMeta {
    /// The packet's destination MAC was a broadcast/multicast address.
    pub const F_L2_MCAST: u16 = 1 << 0;
    /// We built this IPv4 packet (ICMP reply/error, VXLAN outer header): ip4-rewrite does
    /// not decrement its TTL or send ICMP errors about it.
    pub const F_LOCAL_ORIGIN: u16 = 1 << 2;
    /// The IPv4 header checksum at the start of the L3 header is not filled in yet:
    /// ip4-rewrite (the last node that changes headers) computes it in software or asks the
    /// egress NIC to.
    pub const F_IP4_CSUM_PENDING: u16 = 1 << 3;
}

/// A packet buffer the graph can process. Implementations must make every method cheap:
/// they run per packet.
pub trait PacketBuf: Send + Sized {
    /// The current data: the header the next node reads starts at index 0.
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Length of the current data.
    fn len(&self) -> usize {
        self.data().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Free bytes in front of the data.
    fn headroom(&self) -> usize;
    /// Grows the data at the front by `n` bytes and returns them; `None` (and no change)
    /// without enough headroom.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes at the front; `false` (and no change) when shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Cuts the data to `len` bytes; `false` (and no change) when shorter already.
    fn truncate(&mut self, len: usize) -> bool;
    /// Grows the data at the end by `n` bytes and returns them; `None` without room.
    fn append(&mut self, n: usize) -> Option<&mut [u8]>;
    fn meta(&self) -> &PacketMeta;
    fn meta_mut(&mut self) -> &mut PacketMeta;
    /// What the NIC said on receive.
    fn rx_offload(&self) -> RxOffload;
    /// The NIC's IPv4 header checksum verdict alone (`rx_offload().ip`, cheaper: ip4-input
    /// reads it per packet).
    #[inline(always)]
    fn rx_ip_csum(&self) -> CsumStatus {
        self.rx_offload().ip
    }
    /// The NIC's RSS hash alone (`rx_offload().rss_hash`).
    #[inline(always)]
    fn rx_rss_hash(&self) -> Option<u32> {
        self.rx_offload().rss_hash
    }
    /// Asks the egress NIC to finish checksums (only when its port can: the caller checks).
    fn set_tx_offload(&mut self, req: TxOffload);
    /// The pending transmit offload request.
    fn tx_offload(&self) -> TxOffload;
    /// Hint that this packet's metadata and first data line will be read soon.
    #[inline(always)]
    fn prefetch(&self) {}
    /// Hint that the cache line in front of the data will be written soon: a node about to
    /// prepend headers that reach past the data's first line (VXLAN's 50 bytes) would
    /// otherwise wait for that line per packet.
    #[inline(always)]
    fn prefetch_headroom(&self) {}
    /// Frees every packet of `pkts`, leaving it empty: the drop node's work, and what a tx
    /// queue did not take. One call for the lot, so an implementation can give its buffers
    /// back together (an mbuf pool takes a bulk put for much less than a put per packet).
    #[inline]
    fn free_all<const N: usize>(pkts: &mut ArrayVec<Self, N>) {
        pkts.clear();
    }
}

/// Makes new packets (ARP requests, ICMP replies that do not fit in place).
pub trait PacketAlloc<B: PacketBuf> {
    /// An empty packet with room for `len` bytes after the default headroom, or `None`.
    fn alloc(&mut self) -> Option<B>;
}

/// An in-memory packet buffer: the graph's reference implementation and test double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    meta: PacketMeta,
    pub rx: RxOffload,
    tx: TxOffload,
}

impl VecBuf {
    /// Default headroom, as DPDK's `RTE_PKTMBUF_HEADROOM`.
    pub const HEADROOM: usize = 128;
    /// Total room, as a default DPDK mbuf data room (2176 bytes including headroom).
    pub const ROOM: usize = 2176;

    /// A packet holding `data` after the default headroom.
    pub fn new(data: &[u8]) -> VecBuf {
        let mut buf = vec![0u8; Self::ROOM.max(Self::HEADROOM + data.len())];
        buf[Self::HEADROOM..Self::HEADROOM + data.len()].copy_from_slice(data);
        VecBuf {
            buf,
            start: Self::HEADROOM,
            end: Self::HEADROOM + data.len(),
            meta: PacketMeta::default(),
            rx: RxOffload::default(),
            tx: TxOffload::default(),
        }
    }

    /// Same, arriving on interface `rx_if`.
    pub fn on(rx_if: u16, data: &[u8]) -> VecBuf {
        let mut b = VecBuf::new(data);
        b.meta.rx_if = rx_if;
        b
    }
}

impl PacketBuf for VecBuf {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }
    fn headroom(&self) -> usize {
        self.start
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..self.start + n])
    }
    fn adj(&mut self, n: usize) -> bool {
        if n > self.end - self.start {
            return false;
        }
        self.start += n;
        true
    }
    fn truncate(&mut self, len: usize) -> bool {
        if len > self.end - self.start {
            return false;
        }
        self.end = self.start + len;
        true
    }
    fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.end + n > self.buf.len() {
            return None;
        }
        let old = self.end;
        self.end += n;
        Some(&mut self.buf[old..self.end])
    }
    fn meta(&self) -> &PacketMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut PacketMeta {
        &mut self.meta
    }
    fn rx_offload(&self) -> RxOffload {
        self.rx
    }
    fn set_tx_offload(&mut self, req: TxOffload) {
        self.tx = req;
    }
    fn tx_offload(&self) -> TxOffload {
        self.tx
    }
}

/// Allocates [`VecBuf`]s, optionally refusing after `limit` (to test allocation failure).
#[derive(Debug, Default)]
pub struct VecAlloc {
    pub limit: Option<usize>,
    pub made: usize,
}

impl PacketAlloc<VecBuf> for VecAlloc {
    fn alloc(&mut self) -> Option<VecBuf> {
        if self.limit.is_some_and(|l| self.made >= l) {
            return None;
        }
        self.made += 1;
        Some(VecBuf::new(&[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vecbuf_edits_behave_like_an_mbuf() {
        let mut b = VecBuf::new(&[1, 2, 3, 4]);
        assert_eq!(b.headroom(), 128);
        assert!(b.adj(2));
        assert_eq!(b.data(), &[3, 4]);
        b.prepend(3).unwrap().copy_from_slice(&[7, 8, 9]);
        assert_eq!(b.data(), &[7, 8, 9, 3, 4]);
        assert!(b.prepend(1000).is_none());
        assert!(!b.adj(6));
        assert!(b.truncate(2));
        assert_eq!(b.data(), &[7, 8]);
        assert!(!b.truncate(3));
        b.append(2).unwrap().copy_from_slice(&[5, 6]);
        assert_eq!(b.data(), &[7, 8, 5, 6]);
        assert!(b.append(5000).is_none());
    }
}
