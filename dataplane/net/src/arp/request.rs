//! ARP request construction, for next hops the dataplane has to resolve.
//!
//! Reads: the egress [`Iface`] (MAC, addresses). Writes: a complete 42-byte broadcast frame
//! (Ethernet + ARP who-has) into a fresh buffer, `meta.tx_if` and
//! [`PacketMeta::F_LOCAL_ORIGIN`]. Goes: wherever the caller emits it; by the interface's kind,
//! `port-tx` for a port, `vxlan-encap` for a tunnel (the inner frame is the same either way).

use std::net::Ipv4Addr;

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::{Iface, same_subnet};
use crate::graph::NodeCtx;
use crate::wire::{
    ARP_PACKET_LEN, ArpPacket, ArpRepr, ETHERNET_HEADER_LEN, EtherType, EthernetAddress,
    EthernetFrame, EthernetRepr,
};

/// Why [`make_request`] made no request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// The interface has no IPv4 address to send from.
    NoSource,
    /// The pool was empty (or a buffer too small for the request).
    NoBuffer,
}

/// A fresh buffer from `ctx` holding the request [`build_request`] writes for `target` out of
/// `iface`: what ip4-rewrite sends for an unresolved next hop and arp-probe for a probe. The
/// address is checked before a buffer is taken: an unnumbered interface would otherwise cost
/// an allocation and a free each time.
pub fn make_request<B: PacketBuf>(
    ctx: &mut NodeCtx<'_, B>,
    iface: &Iface,
    target: Ipv4Addr,
) -> Result<B, RequestError> {
    if iface.addrs.is_empty() {
        return Err(RequestError::NoSource);
    }
    let mut req = ctx.alloc().ok_or(RequestError::NoBuffer)?;
    // It has an address: only a buffer too small for the request fails here.
    build_request(&mut req, iface, target)
        .then_some(req)
        .ok_or(RequestError::NoBuffer)
}

/// Writes a broadcast ARP request for `target` out of `iface` into `pkt` (a buffer from
/// `NodeCtx::alloc`; whatever data it held is replaced).
///
/// The sender is the interface's MAC and its address whose subnet holds `target`, else its
/// primary address (as Linux picks the source of an ARP request), so the neighbor learns us
/// under an address it can reach. Sets `meta.tx_if = iface.index`, `meta.l2_len = 14` and
/// [`PacketMeta::F_LOCAL_ORIGIN`].
///
/// Returns `false`, with nothing promised about `pkt`'s data, when the interface has no IPv4
/// address or the buffer has no room for the 42 bytes; the caller drops the buffer and counts.
pub fn build_request<B: PacketBuf>(pkt: &mut B, iface: &Iface, target: Ipv4Addr) -> bool {
    let Some(source) = iface
        .addrs
        .iter()
        .find(|&&(a, len)| same_subnet(a, target, len))
        .map(|&(a, _)| a)
        .or_else(|| iface.primary_addr())
    else {
        return false;
    };
    let mac = EthernetAddress(iface.mac);
    // A fresh buffer is empty; cutting to 0 makes a reused one so too (a no-op otherwise).
    pkt.truncate(0);
    let Some(frame) = pkt.append(ETHERNET_HEADER_LEN + ARP_PACKET_LEN) else {
        return false;
    };
    let (eth, arp) = frame.split_at_mut(ETHERNET_HEADER_LEN);
    EthernetRepr {
        src_addr: mac,
        dst_addr: EthernetAddress::BROADCAST,
        outer_tag: None,
        inner_tag: None,
        ethertype: EtherType::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(eth));
    ArpRepr::request(mac, source, target).emit(&mut ArpPacket::new_unchecked(arp));
    let meta = pkt.meta_mut();
    meta.tx_if = iface.index;
    meta.l2_len = ETHERNET_HEADER_LEN as u8;
    meta.flags |= PacketMeta::F_LOCAL_ORIGIN;
    true
}
