//! ip4-local: packets addressed to one of our addresses.
//!
//! Reads: the validated IPv4 header and its payload.
//! Does: answers ICMP echo requests in place (the reply is routed back through ip4-lookup,
//! its IPv4 checksum left pending for ip4-rewrite); hands UDP to a local VXLAN endpoint to
//! vxlan-decap; counts and drops everything else by reason.
//! Next: `ip4-lookup` (echo replies), `vxlan-decap`, `drop`.

use std::net::Ipv4Addr;

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::FwdState;
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;
use crate::wire::checksum;

crate::arcs! {
    pub enum Ip4LocalNext { Drop => "drop", Lookup => "ip4-lookup", VxlanDecap => "vxlan-decap" }
}

crate::errors! {
    pub enum Ip4LocalError {
        Fragment => "fragment addressed to us (no reassembly)",
        IcmpTruncated => "ICMP message truncated",
        IcmpChecksum => "ICMP checksum wrong",
        IcmpType => "ICMP type not handled locally",
        UdpTruncated => "UDP header truncated",
        UdpNoListener => "UDP to a port nothing listens on",
        Protocol => "IP protocol not handled locally",
        EchoReplied => "ICMP echo requests answered",
    }
}

/// The ip4-local node.
pub struct Ip4Local {
    state: RcuReader<FwdState>,
}

impl Ip4Local {
    pub fn new(state: RcuReader<FwdState>) -> Self {
        Ip4Local { state }
    }
}

impl<B: PacketBuf> Node<B> for Ip4Local {
    fn name(&self) -> &'static str {
        "ip4-local"
    }
    fn arcs(&self) -> &'static [&'static str] {
        Ip4LocalNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        Ip4LocalError::NAMES
    }
    fn quiescent(&mut self) {
        self.state.refresh();
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let state = self.state.get();
        for (i, p) in pkts.iter_mut().enumerate() {
            next[i] = match local(p, state) {
                Ok(n) => n,
                Err(e) => {
                    ctx.count(e.idx());
                    Ip4LocalNext::Drop.arc()
                }
            };
            if next[i] == Ip4LocalNext::Lookup.arc() {
                ctx.count(Ip4LocalError::EchoReplied.idx());
            }
        }
    }
}

#[inline(always)]
fn local<B: PacketBuf>(p: &mut B, state: &FwdState) -> Result<u8, Ip4LocalError> {
    let d = p.data();
    let ihl = ((d[0] & 0xf) as usize) * 4;
    if u16::from_be_bytes([d[6], d[7]]) & 0x3fff != 0 {
        return Err(Ip4LocalError::Fragment);
    }
    match d[9] {
        1 => {
            let icmp = &d[ihl..];
            if icmp.len() < 8 {
                return Err(Ip4LocalError::IcmpTruncated);
            }
            if icmp[0] != 8 || icmp[1] != 0 {
                return Err(Ip4LocalError::IcmpType);
            }
            if !checksum::verifies(icmp) {
                return Err(Ip4LocalError::IcmpChecksum);
            }
            echo_reply(p, ihl);
            Ok(Ip4LocalNext::Lookup.arc())
        }
        17 => {
            if d.len() < ihl + 8 {
                return Err(Ip4LocalError::UdpTruncated);
            }
            let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
            let dport = u16::from_be_bytes([d[ihl + 2], d[ihl + 3]]);
            if state.is_vtep(dst, dport) {
                Ok(Ip4LocalNext::VxlanDecap.arc())
            } else {
                Err(Ip4LocalError::UdpNoListener)
            }
        }
        _ => Err(Ip4LocalError::Protocol),
    }
}

/// Echo request -> reply in place: swap addresses, fresh TTL, type 0 with the ICMP checksum
/// patched incrementally (RFC 1624); the IPv4 checksum is left pending.
fn echo_reply<B: PacketBuf>(p: &mut B, ihl: usize) {
    let d = p.data_mut();
    let mut src = [0u8; 4];
    src.copy_from_slice(&d[12..16]);
    d.copy_within(16..20, 12);
    d[16..20].copy_from_slice(&src);
    d[8] = 64;
    d[10..12].copy_from_slice(&[0, 0]);
    let old = u16::from_be_bytes([d[ihl], d[ihl + 1]]);
    let csum = u16::from_be_bytes([d[ihl + 2], d[ihl + 3]]);
    let new_csum = checksum::update(csum, &old.to_be_bytes(), &[0, d[ihl + 1]]);
    d[ihl] = 0;
    d[ihl + 2..ihl + 4].copy_from_slice(&new_csum.to_be_bytes());
    let m = p.meta_mut();
    m.flags = (m.flags & !PacketMeta::F_L2_MCAST)
        | PacketMeta::F_LOCAL_ORIGIN
        | PacketMeta::F_IP4_CSUM_PENDING;
}
