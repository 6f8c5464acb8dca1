//! `arp-input`: answers ARP requests for our addresses and learns neighbors.
//!
//! Reads: packets whose data starts at the ARP header (ethernet-input stripped the Ethernet
//! header and set `meta.l2_len`), `meta.rx_if` (a port, or a VXLAN tunnel after decap), and
//! the receiving interface in the [`FwdState`] snapshot (up, MAC, addresses, known neighbors).
//!
//! Sets, on a request for one of `rx_if`'s addresses: the same buffer becomes the reply (ARP
//! reply over the first 28 bytes, padding cut, a new 14-byte Ethernet header prepended: dst =
//! requester, src = the interface's MAC, ethertype ARP), `meta.tx_if = meta.rx_if`,
//! `meta.l2_len = 14`, [`PacketMeta::F_LOCAL_ORIGIN`] set and [`PacketMeta::F_L2_MCAST`]
//! cleared (it described the request's destination, not the reply's).
//!
//! Learns (one [`NeighborEvent`] pushed into the [`LearnQueue`], never waiting) the sender of
//! a request or reply aimed at one of `rx_if`'s addresses, and the sender of a gratuitous ARP
//! (sender IP = target IP) already known on `rx_if`, as Linux does without `arp_accept`:
//! an unknown host announcing itself is not added. Only a sender we could ever forward to is
//! learned ([`FwdState::wants_neighbor`]: in one of `rx_if`'s subnets, or a next hop through
//! it, as a pod's /32): a request from any other is answered but not learned
//! ([`ArpError::RequestNotLearned`]), a reply from one is dropped
//! ([`ArpError::ReplyUnwanted`]), so made-up senders never grow the neighbor table. An event
//! that would change nothing (same MAC, or a static entry) is not sent, so chatty neighbors
//! do not fill the queue, except for a reply to us with a learned entry's own MAC: that
//! answers one of our requests and confirms the entry (`arp::NeighborAging`). A full queue
//! loses the event and counts [`ArpError::LearnQueueFull`]; the next ARP from that neighbor
//! learns it again.
//!
//! Next: `port-tx` (reply on a port), `vxlan-encap` (reply on a tunnel interface), `drop`
//! (everything else, each under its [`ArpError`] reason; a reply to us is dropped after it
//! was learned, under [`ArpError::ReplyLearned`], which is not an error).

use crate::buffer::{PacketBuf, PacketMeta};
use crate::fwd::{FwdState, IfIndex, Iface, IfaceKind, LearnQueue, NeighborEvent};
use crate::graph::{Nexts, Node, NodeCtx, Vector};
use crate::rcu::RcuReader;
use crate::wire::{
    ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr, ETHERNET_HEADER_LEN, Error as WireError,
    EtherType, EthernetAddress, EthernetFrame, EthernetRepr,
};

crate::arcs! {
    /// Where `arp-input` sends a packet.
    pub enum ArpNext {
        /// Consumed or refused (the reason is counted).
        Drop => "drop",
        /// A reply out of a port.
        PortTx => "port-tx",
        /// A reply out of a VXLAN tunnel interface (encapsulated toward its remote VTEP).
        VxlanEncap => "vxlan-encap",
    }
}

crate::errors! {
    /// What `arp-input` counts, one reason per cause (`show errors`). [`ArpError::is_error`]
    /// tells the outcomes that are the node doing its job from real drops.
    pub enum ArpError {
        /// Not a drop: each reply sent.
        RepliesSent => "ARP replies sent",
        /// A reply to one of our addresses, learned, then consumed.
        ReplyLearned => "ARP replies received and learned",
        /// A gratuitous ARP from a known neighbor, learned (when its MAC moved), consumed.
        GratuitousRefreshed => "gratuitous ARP from a known neighbor",
        /// A gratuitous ARP from a host we have no entry for: not added (Linux default).
        GratuitousUnknown => "gratuitous ARP from an unknown host ignored",
        /// Someone else's address asked about (includes probes for other addresses).
        NotForUs => "ARP request for another host",
        /// A reply addressed to an IP that is not the interface's.
        ReplyNotForUs => "ARP reply for another host",
        /// Shorter than the 28-byte Ethernet/IPv4 ARP packet.
        Truncated => "ARP packet truncated",
        /// Another hardware or protocol type, or other address lengths.
        Unsupported => "ARP not Ethernet/IPv4",
        /// Neither request (1) nor reply (2): RARP, InARP...
        BadOpcode => "ARP opcode not request or reply",
        /// A sender MAC no neighbor can have.
        SenderMacNotUnicast => "ARP sender MAC zero, multicast or broadcast",
        /// 0.0.0.0 as sender outside an RFC 5227 probe (which is a request).
        SenderIpUnset => "ARP sender IP 0.0.0.0 in a reply",
        /// One of the interface's addresses as sender: our own packet looped back, or another
        /// host claiming our address (a conflict). Never learned. (The sender MAC may equal
        /// ours: both ends of a tunnel can be given the same MAC, and that is not an error.)
        SenderIsLocal => "ARP sender IP is one of ours",
        /// `rx_if` is not in the forwarding state (deleted, or never existed).
        UnknownInterface => "ARP on an unknown interface",
        /// `rx_if` is administratively down.
        InterfaceDown => "ARP on an interface that is down",
        /// The buffer cannot take the reply's Ethernet header (never with a sane driver).
        NoHeadroom => "no headroom for the ARP reply header",
        /// Not a drop: a request for one of our addresses, answered, from a sender that is
        /// in none of the interface's subnets nor a next hop through it, so not learned.
        RequestNotLearned => "ARP request from a sender we never route to (answered, not learned)",
        /// A reply to one of our addresses from such a sender: consumed, not learned.
        ReplyUnwanted => "ARP reply from a sender we never route to (not learned)",
        /// Not a drop: a neighbor event lost because the control plane is behind.
        LearnQueueFull => "ARP neighbor learn queue full",
    }
}

impl ArpError {
    /// `false` for the counters that are the node doing its job ([`ArpError::RepliesSent`],
    /// [`ArpError::ReplyLearned`], [`ArpError::GratuitousRefreshed`]); `true` for drops of
    /// packets nobody wanted and for lost learn events.
    pub const fn is_error(self) -> bool {
        !matches!(
            self,
            ArpError::RepliesSent | ArpError::ReplyLearned | ArpError::GratuitousRefreshed
        )
    }
}

/// How many packets ahead the loop prefetches.
const PREFETCH: usize = 2;

/// The `arp-input` node. See the module doc for what it reads, sets and where packets go.
pub struct ArpInput {
    state: RcuReader<FwdState>,
    learn: LearnQueue,
}

impl std::fmt::Debug for ArpInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArpInput")
            .field("state", &self.state)
            .field("learn_queued", &self.learn.len())
            .finish()
    }
}

impl ArpInput {
    /// A node reading interfaces and neighbors from `state` and sending what it learns to
    /// `learn` (drained by [`crate::fwd::Control::learn`]).
    pub fn new(state: RcuReader<FwdState>, learn: LearnQueue) -> ArpInput {
        ArpInput { state, learn }
    }
}

impl<B: PacketBuf> Node<B> for ArpInput {
    fn name(&self) -> &'static str {
        "arp-input"
    }

    fn arcs(&self) -> &'static [&'static str] {
        ArpNext::TARGETS
    }

    fn errors(&self) -> &'static [&'static str] {
        ArpError::NAMES
    }

    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>) {
        let state = self.state.get();
        for i in 0..pkts.len() {
            if let Some(ahead) = pkts.get(i + PREFETCH) {
                ahead.prefetch();
            }
            let arc = match arp_one(state, &self.learn, &mut pkts[i], ctx) {
                Ok(arc) => arc,
                Err(reason) => {
                    ctx.count(reason.idx());
                    ArpNext::Drop
                }
            };
            next[i] = arc.arc();
        }
    }

    fn quiescent(&mut self) {
        self.state.refresh();
    }
}

/// One packet: its next arc, or the reason it is dropped (counted by the caller). Reasons for
/// packets that did their job are counted here and come back as `Ok(Drop)`.
#[inline(always)]
fn arp_one<B: PacketBuf>(
    state: &FwdState,
    learn: &LearnQueue,
    pkt: &mut B,
    ctx: &mut NodeCtx<'_, B>,
) -> Result<ArpNext, ArpError> {
    let iface = state
        .iface(pkt.meta().rx_if)
        .ok_or(ArpError::UnknownInterface)?;
    if !iface.up {
        return Err(ArpError::InterfaceDown);
    }
    let arp = ArpPacket::new_checked(pkt.data())
        .and_then(|p| ArpRepr::parse(&p))
        .map_err(|e| match e {
            WireError::Truncated => ArpError::Truncated,
            _ => ArpError::Unsupported,
        })?;
    let is_request = match arp.operation {
        ArpOperation::Request => true,
        ArpOperation::Reply => false,
        _ => return Err(ArpError::BadOpcode),
    };
    let (sha, sip, tip) = (
        arp.sender_hardware_addr,
        arp.sender_protocol_addr,
        arp.target_protocol_addr,
    );
    // A neighbor entry with such a MAC would send our traffic to a group or nowhere.
    if sha.is_multicast() || sha.is_zero() {
        return Err(ArpError::SenderMacNotUnicast);
    }
    if iface.has_addr(sip) {
        return Err(ArpError::SenderIsLocal);
    }
    let for_us = iface.has_addr(tip);
    if sip.is_unspecified() {
        // RFC 5227 probe: a host checks that `tip` is free before taking it. Answer when it
        // is ours so it backs off; 0.0.0.0 is nobody's address, so never learn it.
        return match (is_request, for_us) {
            (true, true) => reply(pkt, iface, &arp, ctx),
            (true, false) => Err(ArpError::NotForUs),
            (false, _) => Err(ArpError::SenderIpUnset),
        };
    }
    if for_us {
        // Only what we could ever forward to is learned: made-up senders never grow the table.
        if state.wants_neighbor(iface, sip) {
            // A reply is the answer to one of our requests: it confirms the entry even when
            // nothing changed (aging, see `arp::NeighborAging`).
            learn_sender(state, learn, iface.index, &arp, !is_request, ctx);
        } else if is_request {
            ctx.count(ArpError::RequestNotLearned.idx());
        } else {
            return Err(ArpError::ReplyUnwanted);
        }
        if is_request {
            return reply(pkt, iface, &arp, ctx);
        }
        ctx.count(ArpError::ReplyLearned.idx());
        return Ok(ArpNext::Drop);
    }
    if arp.is_gratuitous() {
        // Only refresh: adding every host that announces itself would let anyone on the
        // segment fill the table (Linux's `arp_accept = 0`).
        if state.neighbor(iface.index, sip).is_none() {
            return Err(ArpError::GratuitousUnknown);
        }
        learn_sender(state, learn, iface.index, &arp, false, ctx);
        ctx.count(ArpError::GratuitousRefreshed.idx());
        return Ok(ArpNext::Drop);
    }
    Err(if is_request {
        ArpError::NotForUs
    } else {
        ArpError::ReplyNotForUs
    })
}

/// Queues the sender for the control plane unless that changes nothing and it is not a
/// `confirm`ation of a learned entry.
#[inline(always)]
fn learn_sender<B: PacketBuf>(
    state: &FwdState,
    learn: &LearnQueue,
    iface: IfIndex,
    arp: &ArpRepr,
    confirm: bool,
    ctx: &mut NodeCtx<'_, B>,
) {
    let mac = arp.sender_hardware_addr.0;
    let ip = arp.sender_protocol_addr;
    if state
        .neighbor(iface, ip)
        .is_some_and(|n| !n.would_change(mac, false) && (n.is_static || !confirm))
    {
        return;
    }
    if learn.push(NeighborEvent { iface, ip, mac }).is_err() {
        ctx.count(ArpError::LearnQueueFull.idx());
    }
}

/// Turns the request in `pkt` into its reply, in place, and picks the arc by interface kind.
#[inline(always)]
fn reply<B: PacketBuf>(
    pkt: &mut B,
    iface: &Iface,
    request: &ArpRepr,
    ctx: &mut NodeCtx<'_, B>,
) -> Result<ArpNext, ArpError> {
    // Checked before touching the packet, so a refused one is dropped unchanged.
    if pkt.headroom() < ETHERNET_HEADER_LEN {
        return Err(ArpError::NoHeadroom);
    }
    let mac = EthernetAddress(iface.mac);
    // The request's Ethernet padding is the requester's bytes: do not echo it back (the NIC
    // pads the short frame again with zeros). Parsing proved at least 28 bytes.
    pkt.truncate(ARP_PACKET_LEN);
    request
        .reply(mac)
        .emit(&mut ArpPacket::new_unchecked(pkt.data_mut()));
    let hdr = pkt
        .prepend(ETHERNET_HEADER_LEN)
        .ok_or(ArpError::NoHeadroom)?;
    EthernetRepr {
        src_addr: mac,
        dst_addr: request.sender_hardware_addr,
        outer_tag: None,
        inner_tag: None,
        ethertype: EtherType::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(hdr));
    let meta = pkt.meta_mut();
    meta.tx_if = meta.rx_if;
    meta.l2_len = ETHERNET_HEADER_LEN as u8;
    meta.flags = (meta.flags | PacketMeta::F_LOCAL_ORIGIN) & !PacketMeta::F_L2_MCAST;
    ctx.count(ArpError::RepliesSent.idx());
    Ok(match iface.kind {
        IfaceKind::Port { .. } => ArpNext::PortTx,
        IfaceKind::Vxlan(_) => ArpNext::VxlanEncap,
    })
}
