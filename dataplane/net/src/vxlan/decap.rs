//! Node `vxlan-decap`: takes the outer IPv4 + UDP + VXLAN headers off a packet addressed to
//! one of our VTEPs and hands the inner frame on, as received on the tunnel interface.
//!
//! - Reads: the packet's data, starting at the outer IPv4 header (ip4-input validated it;
//!   ip4-local, or ip4-input's VTEP bypass, saw a UDP packet to a local VTEP address and
//!   port); `meta.decap_depth`;
//!   `rx_offload().l4` for the outer UDP checksum (not after a decapsulation: it described
//!   the outermost packet).
//! - Checks: outer not a fragment and UDP; UDP header and length (the inner frame ends where
//!   the UDP length says, so Ethernet padding and trailing bytes are cut); a non-zero outer
//!   UDP checksum unless the NIC verified it (RFC 7348 lets a receiver verify it; a zero one
//!   means none); the VXLAN header with the I flag (reserved bits are ignored, as the RFC
//!   says); an inner frame of at least an Ethernet header; then the tunnel by (VNI, outer
//!   source address), through a one-entry last-tunnel cache in front of
//!   [`FwdState::vxlan`], and that the packet came to the tunnel's own local address and port.
//! - Writes: strips the outer headers (`adj`), so the data starts at the inner Ethernet
//!   header; `meta.rx_if` = the tunnel; `meta.decap_depth` + 1; and resets what described the
//!   outer packet: the flags `F_LOCAL_ORIGIN`, `F_IP4_CSUM_PENDING`,
//!   `F_L2_MCAST`, and `flow_hash`, `tx_if`, `adj`, `l2_len` (set again by the nodes that
//!   own them). `trace` is kept, so a traced packet stays traced through the tunnel.
//!   `rx_offload()` still describes the outer packet (the buffer trait has no way to change
//!   it): ip4-input must not trust the NIC's IPv4 verdict when `decap_depth > 0`.
//! - Next: for an inner IPv4 frame to the tunnel interface's own MAC (ethernet-input's test
//!   of the common frame, [`crate::ethernet::unicast_ip4`]), decap strips the inner
//!   Ethernet header too and sets what ethernet-input sets, which saves the inner packet a
//!   node. It then goes to `ip4-lookup` when ip4-input would pass it on as it is
//!   ([`crate::ip4::input::pass_on`]: no options, no padding, checksum right, not to a
//!   local VTEP), which saves it a second node; else to `ip4-input`, which trims, counts
//!   or bypasses it (VXLAN in VXLAN). Every other inner frame (ARP, broadcast and
//!   multicast, frames for another MAC, other EtherTypes) goes to `ethernet-input`, which
//!   handles or counts it. Else `drop`, counted under [`VxlanDecapError`]. A packet already
//!   decapsulated [`MAX_DECAP_DEPTH`] times is dropped, so nothing loops forever through
//!   decap -> ethernet-input -> ... -> decap.

use std::net::Ipv4Addr;

use crate::buffer::{CsumStatus, PacketBuf, PacketMeta};
use crate::ethernet::MacKey;
use crate::fwd::{FwdState, IfIndex, Iface, IfaceKind};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::ip4::input::Ip4InputNext;
use crate::rcu::RcuReader;
use crate::wire::{
    ETHERNET_HEADER_LEN, Error as WireError, IpProtocol, Ipv4Packet, PseudoHeader, UDP_HEADER_LEN,
    UdpPacket, VXLAN_HEADER_LEN, VxlanPacket,
};

use super::PREFETCH_AHEAD;

/// Decapsulations a packet may go through (VXLAN in VXLAN is legal, once).
pub const MAX_DECAP_DEPTH: u8 = 2;

crate::arcs! {
    /// Where `vxlan-decap` sends packets.
    pub enum VxlanDecapNext {
        Drop => "drop",
        EthernetInput => "ethernet-input",
        Ip4Input => "ip4-input",
        Ip4Lookup => "ip4-lookup",
    }
}

crate::errors! {
    /// Why `vxlan-decap` dropped a packet.
    pub enum VxlanDecapError {
        TooDeep => "too many nested decapsulations",
        BadOuterIp => "outer IPv4 header invalid",
        Fragment => "outer IPv4 fragment (not reassembled)",
        NotUdp => "outer packet is not UDP",
        UdpTruncated => "truncated UDP header",
        UdpBadLength => "UDP length below 8 or beyond the IPv4 payload",
        UdpBadChecksum => "bad outer UDP checksum",
        VxlanTruncated => "truncated VXLAN header",
        BadFlags => "VXLAN I flag clear (no valid VNI)",
        InnerRunt => "inner frame shorter than an Ethernet header",
        UnknownVni => "no tunnel with this VNI",
        WrongRemote => "VNI known, but not from this remote VTEP",
        WrongLocal => "tunnel found, but the packet came to another local address or port",
        Down => "tunnel interface down",
    }
}

/// Flags that described the outer packet, cleared on the inner one.
const OUTER_FLAGS: u16 =
    PacketMeta::F_LOCAL_ORIGIN | PacketMeta::F_IP4_CSUM_PENDING | PacketMeta::F_L2_MCAST;

/// No key: VNIs have 24 bits, so a real key's top byte is 0.
const NO_KEY: u64 = u64::MAX;

/// The tunnel the previous packet matched: consecutive packets usually belong to the same
/// tunnel, so most packets skip the hash lookup.
#[derive(Debug, Clone, Copy)]
struct LastTunnel {
    /// `vni << 32 | remote`, or [`NO_KEY`].
    key: u64,
    local: Ipv4Addr,
    port: u16,
    iface: IfIndex,
    /// The tunnel interface's MAC, for the inner frame's destination, in the form
    /// ethernet's `accept` compares (made once per tunnel lookup, not per packet).
    mac: MacKey,
    up: bool,
}

const EMPTY: LastTunnel = LastTunnel {
    key: NO_KEY,
    local: Ipv4Addr::UNSPECIFIED,
    port: 0,
    iface: 0,
    mac: MacKey::new(&[0; 6]),
    up: false,
};

/// The `vxlan-decap` node (one per worker).
#[derive(Debug)]
pub struct VxlanDecap {
    state: RcuReader<FwdState>,
    last: LastTunnel,
    /// Every configured VNI, sorted: tells "unknown VNI" from "known VNI, wrong remote" for
    /// packets that miss the table, without scanning it. Rebuilt with the state.
    vnis: Vec<u32>,
    /// [`FwdState::vtep_bypass`], copied with the state: an inner packet to a local VTEP goes
    /// to ip4-input, whose bypass brings it back here.
    vteps: Vec<(u32, u16)>,
}

impl VxlanDecap {
    /// A node reading tunnels from `state`.
    pub fn new(state: RcuReader<FwdState>) -> VxlanDecap {
        let mut node = VxlanDecap {
            state,
            last: EMPTY,
            vnis: Vec::new(),
            vteps: Vec::new(),
        };
        node.rebuild();
        node
    }

    /// Forgets the cached tunnel (it may be gone or changed) and re-indexes the VNIs. Runs at
    /// the quiescent point, never per packet.
    fn rebuild(&mut self) {
        self.last = EMPTY;
        self.vnis.clear();
        self.vnis
            .extend(self.state.get().vxlan.keys().map(|&(vni, _)| vni));
        self.vnis.sort_unstable();
        self.vnis.dedup();
        self.vteps.clone_from(&self.state.get().vtep_bypass);
    }

    /// The tunnel interface for a packet from `remote` to `local:port` with `vni`.
    #[inline(always)]
    fn tunnel(
        &mut self,
        vni: u32,
        remote: Ipv4Addr,
        local: Ipv4Addr,
        port: u16,
    ) -> Result<&LastTunnel, VxlanDecapError> {
        let key = u64::from(vni) << 32 | u64::from(remote.to_bits());
        if self.last.key != key {
            self.last = self.lookup(vni, remote, key)?;
        }
        let t = &self.last;
        if t.local != local || t.port != port {
            return Err(VxlanDecapError::WrongLocal);
        }
        if !t.up {
            return Err(VxlanDecapError::Down);
        }
        Ok(t)
    }

    #[inline(never)]
    fn lookup(&self, vni: u32, remote: Ipv4Addr, key: u64) -> Result<LastTunnel, VxlanDecapError> {
        let state = self.state.get();
        let Some(&index) = state.vxlan.get(&(vni, remote)) else {
            return Err(if self.vnis.binary_search(&vni).is_ok() {
                VxlanDecapError::WrongRemote
            } else {
                VxlanDecapError::UnknownVni
            });
        };
        // The map and the interface table are published together; a mismatch would be a
        // control-plane bug, counted rather than trusted.
        match state.iface(index) {
            Some(Iface {
                kind: IfaceKind::Vxlan(t),
                up,
                mac,
                ..
            }) if t.vni == vni && t.remote == remote => Ok(LastTunnel {
                key,
                local: t.local,
                port: t.udp_port,
                iface: index,
                mac: MacKey::new(mac),
                up: *up,
            }),
            _ => Err(VxlanDecapError::UnknownVni),
        }
    }

    /// Decapsulates one packet in place and says where it goes; on `Err` the packet may be
    /// left as it came.
    #[inline(always)]
    fn decap<B: PacketBuf>(&mut self, p: &mut B) -> Result<VxlanDecapNext, VxlanDecapError> {
        if p.meta().decap_depth >= MAX_DECAP_DEPTH {
            return Err(VxlanDecapError::TooDeep);
        }
        let o = match Outer::common(p.data()) {
            Some(o) => o,
            // The NIC's UDP verdict describes the outermost packet, not one already
            // decapsulated once (ip4-input distrusts its IPv4 verdict alike).
            None => {
                let l4 = match p.meta().decap_depth {
                    0 => p.rx_offload().l4,
                    _ => CsumStatus::Unknown,
                };
                Outer::parse(p.data(), l4)?
            }
        };
        let t = self.tunnel(o.vni, o.src, o.dst, o.dport)?;
        let (iface, mac, end, strip) = (t.iface, t.mac, o.end, o.strip);
        // Both succeed: `strip < end <= len` was proven above. Bytes past the UDP length
        // (padding) are not part of the inner frame.
        let cut = p.truncate(end);
        let adjusted = p.adj(strip);
        debug_assert!(cut && adjusted);
        let m = p.meta_mut();
        m.rx_if = iface;
        m.decap_depth += 1;
        m.flags &= !OUTER_FLAGS;
        m.flow_hash = 0;
        m.tx_if = 0;
        m.adj = 0;
        m.l2_len = 0;
        if !crate::ethernet::unicast_ip4(p, mac) {
            return Ok(VxlanDecapNext::EthernetInput);
        }
        crate::ethernet::strip(p, false);
        Ok(match crate::ip4::input::pass_on(p, &self.vteps) {
            Some(Ip4InputNext::Lookup) => VxlanDecapNext::Ip4Lookup,
            // VXLAN in VXLAN, and anything to trim or count, through ip4-input.
            _ => VxlanDecapNext::Ip4Input,
        })
    }
}

/// What decap needs from the outer headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outer {
    vni: u32,
    /// The outer source (the remote VTEP) and destination (ours).
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    /// Where the UDP datagram ends (the inner frame with it).
    end: usize,
    /// Bytes of outer headers before the inner frame.
    strip: usize,
}

impl Outer {
    /// The common case in one look at the first 50 bytes: IPv4 without options whose total
    /// length is the data's (as ip4-input leaves it), unfragmented UDP with a zero checksum
    /// (RFC 7348's default for IPv4) and a length that fits, the VXLAN I flag, room for an
    /// inner Ethernet header. `None` for anything else, right or wrong: [`Outer::parse`]
    /// decides those, so both agree on every packet this one takes.
    #[inline(always)]
    fn common(d: &[u8]) -> Option<Outer> {
        const LEN: usize = 20 + UDP_HEADER_LEN + VXLAN_HEADER_LEN + ETHERNET_HEADER_LEN;
        let h = d.first_chunk::<LEN>()?;
        let be16 = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
        let udp_len = be16(24);
        let ok = h[0] == 0x45
            && be16(2) == d.len()
            && be16(6) & 0x3fff == 0
            && h[9] == 17
            && be16(26) == 0
            && h[28] & 0x08 != 0
            && (LEN - 20..=d.len() - 20).contains(&udp_len);
        ok.then(|| Outer {
            vni: u32::from_be_bytes([0, h[32], h[33], h[34]]),
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            dport: u16::from_be_bytes([h[22], h[23]]),
            end: 20 + udp_len,
            strip: 20 + UDP_HEADER_LEN + VXLAN_HEADER_LEN,
        })
    }

    /// Every case, with the reason for refusing: options, a UDP checksum (verified unless
    /// the NIC did), and everything malformed.
    #[inline(never)]
    fn parse(data: &[u8], l4_status: CsumStatus) -> Result<Outer, VxlanDecapError> {
        use VxlanDecapError as E;
        let ip = Ipv4Packet::new_checked(data).map_err(|_| E::BadOuterIp)?;
        if ip.more_frags() || ip.frag_offset() != 0 {
            return Err(E::Fragment);
        }
        if ip.protocol() != IpProtocol::Udp {
            return Err(E::NotUdp);
        }
        let ihl = ip.header_len();
        // check_len proved ihl <= total_len <= data.len().
        let l4 = data
            .get(ihl..usize::from(ip.total_len()))
            .ok_or(E::BadOuterIp)?;
        let udp = UdpPacket::new_checked(l4).map_err(|e| match e {
            WireError::Truncated => E::UdpTruncated,
            _ => E::UdpBadLength,
        })?;
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if udp.checksum() != 0 {
            let good = match l4_status {
                CsumStatus::Good => true,
                CsumStatus::Bad => false,
                CsumStatus::Unknown => udp.verify_checksum(&PseudoHeader::V4 { src, dst }),
            };
            if !good {
                return Err(E::UdpBadChecksum);
            }
        }
        let vxlan = VxlanPacket::new_checked(udp.payload()).map_err(|_| E::VxlanTruncated)?;
        if !vxlan.has_vni() {
            return Err(E::BadFlags);
        }
        if vxlan.payload().len() < ETHERNET_HEADER_LEN {
            return Err(E::InnerRunt);
        }
        Ok(Outer {
            vni: vxlan.vni().get(),
            src,
            dst,
            dport: udp.dst_port(),
            end: ihl + usize::from(udp.len()),
            strip: ihl + UDP_HEADER_LEN + VXLAN_HEADER_LEN,
        })
    }
}

impl<B: PacketBuf> Node<B> for VxlanDecap {
    fn name(&self) -> &'static str {
        "vxlan-decap"
    }

    fn arcs(&self) -> &'static [&'static str] {
        VxlanDecapNext::TARGETS
    }

    fn errors(&self) -> &'static [&'static str] {
        VxlanDecapError::NAMES
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let n = pkts.len();
        for i in 0..n {
            if let Some(ahead) = pkts.get(i + PREFETCH_AHEAD) {
                ahead.prefetch();
            }
            next[i] = match self.decap(&mut pkts[i]) {
                Ok(to) => to.arc(),
                Err(e) => {
                    ctx.count(e.idx());
                    VxlanDecapNext::Drop.arc()
                }
            };
        }
    }

    fn quiescent(&mut self) {
        if self.state.refresh() {
            self.rebuild();
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{CsumStatus, Outer};
    use crate::wire::fixtures::VXLAN_ECHO_FRAME;

    /// The kernel's packet from its IPv4 header, with a zero UDP checksum (the common case).
    fn outer() -> Vec<u8> {
        let mut d = VXLAN_ECHO_FRAME[14..].to_vec();
        d[26..28].fill(0);
        d
    }

    #[test]
    fn the_common_case_is_recognised() {
        let d = outer();
        let o = Outer::common(&d).expect("plain VXLAN packet");
        assert_eq!(Ok(o), Outer::parse(&d, CsumStatus::Unknown));
        assert_eq!((o.vni, o.dport, o.end, o.strip), (100, 4789, d.len(), 36));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        /// Whatever the one-look path takes, the full parser takes the same way: any header
        /// byte changed, the packet cut or padded, with its lengths made to agree or not.
        #[test]
        fn common_agrees_with_parse(
            edits in prop::collection::vec((0usize..50, any::<u8>()), 1..3),
            len in prop::option::of(0usize..140),
            fix_lengths in any::<bool>(),
        ) {
            let mut d = outer();
            if let Some(len) = len {
                d.resize(len, 0);
                if fix_lengths && len >= 26 {
                    d[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                    d[24..26].copy_from_slice(&(len as u16 - 20).to_be_bytes());
                }
            }
            for (i, b) in edits {
                if let Some(x) = d.get_mut(i) {
                    *x = b;
                }
            }
            if let Some(o) = Outer::common(&d) {
                prop_assert_eq!(Ok(o), Outer::parse(&d, CsumStatus::Unknown));
            }
        }
    }
}
