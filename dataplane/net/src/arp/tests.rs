//! arp-input and build_request through a real graph over in-memory buffers, with the
//! forwarding state built by a real `fwd::Control`.
//!
//! Frames are fed as ethernet-input leaves them: the Ethernet header stripped with `adj`,
//! `meta.l2_len = 14`, `F_L2_MCAST` set for broadcasts. Sinks named `port-tx` and
//! `vxlan-encap` record what reaches them.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::buffer::{PacketBuf, PacketMeta, VecAlloc, VecBuf};
use crate::fwd::{
    Control, FwdState, IfIndex, Iface, LearnQueue, NeighborEvent, TxCaps, VxlanTunnel,
};
use crate::graph::testing::{Recorded as Got, RecordingSink as Sink};
use crate::graph::{DROP, Graph, GraphBuilder, NodeId};
use crate::rcu::{Domain, Rcu, RcuReader};
use crate::wire::{
    ARP_PACKET_LEN, ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame,
    EthernetRepr,
};

/// The requester of the kernel capture below.
const PEER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
/// Our port: the owner of 10.99.1.2 in the kernel capture.
const POD_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const POD_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 2);
const UPLINK_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x50, 0x01];
const VX_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x64, 0x01];
const VX_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);
const VX_PEER_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 2);
const VX_PEER_MAC: [u8; 6] = [0x02, 0x42, 0, 0, 0x64, 0x02];

/// who-has 10.99.1.2 tell 10.99.1.1, and 10.99.1.2 is-at 52:54:00:12:34:56 (the kernel's own
/// answer to it), captured from the Linux kernel.
use crate::wire::fixtures::{ARP_REPLY_FRAME as KERNEL_REPLY, ARP_REQUEST_FRAME as KERNEL_REQUEST};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn queue(cap: usize) -> LearnQueue {
    Arc::new(crossbeam_queue::ArrayQueue::new(cap))
}

fn control() -> Control {
    Control::for_tests(1024)
}

impl Net {
    /// Applies what `q` holds to the table, now; how many entries changed.
    fn learn(&mut self, q: &LearnQueue) -> usize {
        self.control.learn(q, std::time::Instant::now()).unwrap()
    }
}

/// A graph holding arp-probe and the two sinks it sends to.
struct ProbeRig {
    graph: Graph<VecBuf>,
    node: NodeId,
    got: Got,
}

impl ProbeRig {
    /// arp-probe over `control`'s state, taking from `probes`, with buffers from `alloc`.
    fn new(control: &Control, probes: &crate::fwd::ProbeQueue, alloc: VecAlloc) -> ProbeRig {
        let got: Got = Arc::default();
        let mut b = GraphBuilder::new();
        let node = b.add_source(ArpProbe::new(control.readers().1, probes.clone()));
        b.add(Sink("port-tx", got.clone()));
        b.add(Sink("vxlan-encap", got.clone()));
        let graph = b.build(|| 0, Box::new(alloc)).unwrap();
        ProbeRig { graph, node, got }
    }

    /// One poll of the graph's sources, as a worker makes it: whether arp-probe had work, and
    /// what the sinks got.
    fn poll(&mut self) -> (bool, Vec<(&'static str, VecBuf)>) {
        let worked = self.graph.poll_sources();
        self.graph.run();
        (worked, std::mem::take(&mut *self.got.lock().unwrap()))
    }

    /// arp-probe's `show runtime` entry.
    fn report(&self) -> crate::graph::NodeReport {
        self.graph.report().swap_remove(self.node.0 as usize)
    }
}

/// A graph holding arp-input over `state` and the two sinks.
struct Rig {
    graph: Graph<VecBuf>,
    arp: NodeId,
    got: Got,
    learn: LearnQueue,
}

impl Rig {
    fn new(state: RcuReader<FwdState>, learn: LearnQueue) -> Rig {
        let got: Got = Arc::default();
        let mut b = GraphBuilder::new();
        let arp = b.add(ArpInput::new(state, learn.clone()));
        b.add(Sink("port-tx", got.clone()));
        b.add(Sink("vxlan-encap", got.clone()));
        let graph = b.build(|| 0, Box::new(VecAlloc::default())).unwrap();
        Rig {
            graph,
            arp,
            got,
            learn,
        }
    }

    /// Runs one vector through the graph; returns what the sinks got.
    fn run(&mut self, pkts: Vec<VecBuf>) -> Vec<(&'static str, VecBuf)> {
        let mut v = self.graph.take_vector();
        v.extend(pkts);
        self.graph.enqueue_vector(self.arp, v);
        self.graph.run();
        std::mem::take(&mut *self.got.lock().unwrap())
    }

    fn count(&self, reason: ArpError) -> u64 {
        self.graph.stats(self.arp).errors[reason.idx()]
    }

    /// Every non-zero counter, by name (so a failure shows what happened instead).
    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.graph.report()[self.arp.0 as usize]
            .nonzero_errors()
            .collect()
    }

    fn events(&self) -> Vec<NeighborEvent> {
        std::iter::from_fn(|| self.learn.pop()).collect()
    }
}

/// pod0 (port, 10.99.1.2/24), uplink (port, 192.168.50.1/24) and vx100 (VXLAN to
/// 192.168.50.2, 172.16.0.1/24).
struct Net {
    control: Control,
    pod: IfIndex,
    vx: IfIndex,
}

fn net() -> Net {
    let mut control = control();
    let pod = control
        .add_port("pod0", 0, POD_MAC, 1500, TxCaps::default())
        .unwrap();
    control.add_address("pod0", POD_IP, 24).unwrap();
    control
        .add_port("uplink", 1, UPLINK_MAC, 1500, TxCaps::default())
        .unwrap();
    control
        .add_address("uplink", ip("192.168.50.1"), 24)
        .unwrap();
    let vx = control
        .add_vxlan(
            "vx100",
            VxlanTunnel {
                vni: 100,
                local: ip("192.168.50.1"),
                remote: ip("192.168.50.2"),
                udp_port: 4789,
            },
            VX_MAC,
            1450,
        )
        .unwrap();
    control.add_address("vx100", VX_IP, 24).unwrap();
    Net { control, pod, vx }
}

fn rig(net: &Net, cap: usize) -> Rig {
    Rig::new(net.control.readers().1, queue(cap))
}

/// A received frame as ethernet-input hands it to arp-input.
fn received(rx_if: IfIndex, frame: &[u8]) -> VecBuf {
    let mut b = VecBuf::on(rx_if, frame);
    let broadcast = frame.len() >= 6 && frame[..6] == [0xff; 6];
    assert!(b.adj(14), "test frames carry an Ethernet header");
    let m = b.meta_mut();
    m.l2_len = 14;
    if broadcast {
        m.flags |= PacketMeta::F_L2_MCAST;
    }
    b
}

/// An Ethernet + ARP frame (broadcast for requests, to `to` for replies), padded to the
/// 60-byte Ethernet minimum as on a real wire.
fn arp_frame(repr: ArpRepr, to: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + ARP_PACKET_LEN];
    EthernetRepr {
        src_addr: repr.sender_hardware_addr,
        dst_addr: EthernetAddress(to),
        outer_tag: None,
        inner_tag: None,
        ethertype: EtherType::Arp,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    repr.emit(&mut ArpPacket::new_unchecked(&mut f[14..]));
    // Padding with recognisable bytes: a reply must not echo them back.
    f.resize(60, 0xee);
    f
}

fn request(sha: [u8; 6], sip: Ipv4Addr, tip: Ipv4Addr) -> Vec<u8> {
    arp_frame(ArpRepr::request(EthernetAddress(sha), sip, tip), [0xff; 6])
}

fn reply(sha: [u8; 6], sip: Ipv4Addr, tha: [u8; 6], tip: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr {
        operation: ArpOperation::Reply,
        sender_hardware_addr: EthernetAddress(sha),
        sender_protocol_addr: sip,
        target_hardware_addr: EthernetAddress(tha),
        target_protocol_addr: tip,
    };
    arp_frame(repr, tha)
}

fn ev(iface: IfIndex, ip: Ipv4Addr, mac: [u8; 6]) -> NeighborEvent {
    NeighborEvent { iface, ip, mac }
}

#[test]
fn arcs_and_reasons_are_the_contract() {
    assert_eq!(ArpNext::TARGETS, &["drop", "port-tx", "vxlan-encap"]);
    assert_eq!(ArpNext::Drop.arc(), 0);
    assert_eq!(ArpError::NAMES.len(), ArpError::LearnQueueFull.idx() + 1);
    for (i, a) in ArpError::NAMES.iter().enumerate() {
        assert!(
            !ArpError::NAMES[..i].contains(a),
            "duplicate reason text {a}"
        );
    }
    assert!(!ArpError::ReplyLearned.is_error());
    assert!(!ArpError::RepliesSent.is_error());
    assert!(ArpError::NotForUs.is_error());
    assert!(ArpError::Truncated.is_error());
}

#[test]
fn request_for_our_address_is_answered_like_the_kernel_and_requester_learned() {
    let mut net = net();
    let mut rig = rig(&net, 16);
    // The kernel's 42-byte request, padded to 60 as it arrives from a wire.
    let mut frame = KERNEL_REQUEST.to_vec();
    frame.resize(60, 0xee);
    let out = rig.run(vec![received(net.pod, &frame)]);

    assert_eq!(out.len(), 1, "one reply: {:?}", rig.counters());
    let (node, pkt) = &out[0];
    assert_eq!(*node, "port-tx");
    assert_eq!(
        pkt.data(),
        &KERNEL_REPLY[..],
        "reply differs from the kernel's"
    );
    let m = pkt.meta();
    assert_eq!((m.rx_if, m.tx_if, m.l2_len), (net.pod, net.pod, 14));
    assert_ne!(m.flags & PacketMeta::F_LOCAL_ORIGIN, 0);
    assert_eq!(m.flags & PacketMeta::F_L2_MCAST, 0, "the reply is unicast");
    assert_eq!(rig.counters(), vec![("ARP replies sent", 1)]);

    // The requester is learned, and the control plane installs it.
    let learned = rig.events();
    assert_eq!(learned, vec![ev(net.pod, PEER_IP, PEER_MAC)]);
    for e in learned {
        rig.learn.push(e).unwrap();
    }
    assert_eq!(net.learn(&rig.learn), 1);
    let n = *net.control.state().neighbor(net.pod, PEER_IP).unwrap();
    assert_eq!((n.mac, n.is_static), (PEER_MAC, false));

    // Once the worker sees that entry, asking again is answered without a redundant event.
    rig.graph.quiescent();
    let out = rig.run(vec![received(net.pod, &frame)]);
    assert_eq!(out[0].1.data(), &KERNEL_REPLY[..]);
    assert_eq!(rig.events(), vec![], "nothing changed, nothing queued");
    // A new MAC for the same host is learned again.
    let moved = [0x52, 0x54, 0, 0, 0, 0x99];
    rig.run(vec![received(net.pod, &request(moved, PEER_IP, POD_IP))]);
    assert_eq!(rig.events(), vec![ev(net.pod, PEER_IP, moved)]);
    net.control
        .set_neighbor(net.pod, PEER_IP, [0x52, 0x54, 0, 0, 0, 0x77], true)
        .unwrap();
    rig.graph.quiescent();
    rig.run(vec![received(net.pod, &request(moved, PEER_IP, POD_IP))]);
    assert_eq!(rig.events(), vec![], "a static entry is never overridden");
}

#[test]
fn request_for_another_host_is_dropped_and_counted() {
    let net = net();
    let mut rig = rig(&net, 16);
    let frames = vec![
        received(net.pod, &request(PEER_MAC, PEER_IP, ip("10.99.1.77"))),
        // Our tunnel's address asked on the pod port: strong host, not answered there.
        received(net.pod, &request(PEER_MAC, PEER_IP, VX_IP)),
        // A probe for somebody else's address.
        received(
            net.pod,
            &request(PEER_MAC, Ipv4Addr::UNSPECIFIED, ip("10.99.1.77")),
        ),
    ];
    let out = rig.run(frames);
    assert!(out.is_empty());
    assert_eq!(rig.counters(), vec![("ARP request for another host", 3)]);
    assert_eq!(rig.graph.stats(DROP).packets, 3);
    assert_eq!(
        rig.events(),
        vec![],
        "a request for someone else teaches nothing"
    );
}

#[test]
fn reply_to_us_is_learned_and_consumed() {
    let mut net = net();
    let mut rig = rig(&net, 16);
    let out = rig.run(vec![
        received(net.pod, &reply(PEER_MAC, PEER_IP, POD_MAC, POD_IP)),
        received(
            net.pod,
            &reply(
                PEER_MAC,
                ip("10.99.1.9"),
                [0x52, 0, 0, 0, 0, 9],
                ip("10.99.1.8"),
            ),
        ),
    ]);
    assert!(out.is_empty());
    assert_eq!(
        rig.counters(),
        vec![
            ("ARP replies received and learned", 1),
            ("ARP reply for another host", 1)
        ]
    );
    let events = rig.events();
    assert_eq!(events, vec![ev(net.pod, PEER_IP, PEER_MAC)]);
    rig.learn.push(events[0]).unwrap();
    net.learn(&rig.learn);
    assert_eq!(
        net.control.state().neighbor(net.pod, PEER_IP).unwrap().mac,
        PEER_MAC
    );

    // Known and unchanged, a reply still confirms the learned entry (it answers a probe)...
    rig.graph.quiescent();
    let again = || received(net.pod, &reply(PEER_MAC, PEER_IP, POD_MAC, POD_IP));
    rig.run(vec![again()]);
    assert_eq!(rig.events(), vec![ev(net.pod, PEER_IP, PEER_MAC)]);
    // ...but a request does not (a chatty neighbor must not fill the queue),
    rig.run(vec![received(net.pod, &request(PEER_MAC, PEER_IP, POD_IP))]);
    assert_eq!(rig.events(), vec![]);
    // and a static entry has nothing to confirm.
    net.control
        .set_neighbor(net.pod, PEER_IP, PEER_MAC, true)
        .unwrap();
    rig.graph.quiescent();
    rig.run(vec![again()]);
    assert_eq!(rig.events(), vec![]);
}

#[test]
fn gratuitous_arp_refreshes_a_known_neighbor_and_ignores_strangers() {
    let mut net = net();
    net.control
        .set_neighbor(net.pod, PEER_IP, [0x52, 0x54, 0, 0, 0, 1], false)
        .unwrap();
    let mut rig = rig(&net, 16);
    let stranger = ip("10.99.1.50");
    rig.run(vec![
        // The known host moved to PEER_MAC and announces it (request and reply forms).
        received(net.pod, &request(PEER_MAC, PEER_IP, PEER_IP)),
        received(net.pod, &reply(PEER_MAC, PEER_IP, [0xff; 6], PEER_IP)),
        // A host we never talked to announces itself.
        received(
            net.pod,
            &request([0x52, 0, 0, 0, 0, 0x50], stranger, stranger),
        ),
        // The same announcement for a host known on another interface is not ours to refresh.
        received(net.vx, &request(PEER_MAC, PEER_IP, PEER_IP)),
    ]);
    assert_eq!(
        rig.counters(),
        vec![
            ("gratuitous ARP from a known neighbor", 2),
            ("gratuitous ARP from an unknown host ignored", 2)
        ]
    );
    let events = rig.events();
    assert_eq!(events, vec![ev(net.pod, PEER_IP, PEER_MAC); 2]);
    for e in events {
        rig.learn.push(e).unwrap();
    }
    assert_eq!(net.learn(&rig.learn), 1);
    let st = net.control.state();
    assert_eq!(st.neighbor(net.pod, PEER_IP).unwrap().mac, PEER_MAC);
    assert!(st.neighbor(net.pod, stranger).is_none());
}

#[test]
fn truncated_and_garbage_arp_is_dropped_under_its_reason() {
    let net = net();
    let mut rig = rig(&net, 16);
    let whole = request(PEER_MAC, PEER_IP, POD_IP);
    // Every length short of a full ARP packet, 0 included.
    let truncated: Vec<VecBuf> = (0..ARP_PACKET_LEN)
        .map(|len| received(net.pod, &whole[..14 + len]))
        .collect();
    assert!(rig.run(truncated).is_empty());
    assert_eq!(
        rig.counters(),
        vec![("ARP packet truncated", ARP_PACKET_LEN as u64)]
    );

    // Other hardware/protocol pairs, then an unknown opcode.
    let mut rig = self::rig(&net, 16);
    let mut bad = Vec::new();
    for (at, value) in [(0, 0x01u8), (1, 6), (2, 0x86), (3, 0xdd), (4, 8), (5, 16)] {
        let mut f = whole.clone();
        f[14 + at] = value;
        bad.push(received(net.pod, &f));
    }
    let mut f = whole.clone();
    f[14 + 7] = 9; // InARP request
    bad.push(received(net.pod, &f));
    assert!(rig.run(bad).is_empty());
    assert_eq!(
        rig.counters(),
        vec![
            ("ARP not Ethernet/IPv4", 6),
            ("ARP opcode not request or reply", 1)
        ]
    );
    assert_eq!(rig.events(), vec![]);

    // Pseudo-random bytes of every length up to 64, a few times each, never panic and all
    // end in drop or a sink; nothing is lost.
    let mut rig = self::rig(&net, 1024);
    let mut x: u32 = 0x9e37_79b9;
    let mut sent = 0u64;
    for len in 0..64usize {
        let mut v = Vec::new();
        for _ in 0..8 {
            let mut f = vec![0u8; 14 + len];
            for b in f.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            // Half of them look like real Ethernet/IPv4 ARP, so the later checks run too.
            if len >= 8 && x.is_multiple_of(2) {
                f[14..20].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
            }
            v.push(received(net.pod, &f));
            sent += 1;
        }
        rig.run(v);
    }
    let st = rig.graph.stats(rig.arp);
    assert_eq!(st.packets, sent);
    assert_eq!(rig.graph.stats(DROP).packets, sent, "{:?}", rig.counters());
}

#[test]
fn bad_senders_are_refused_and_never_learned() {
    let net = net();
    let mut rig = rig(&net, 16);
    rig.run(vec![
        received(net.pod, &request([0x01, 0, 0x5e, 0, 0, 1], PEER_IP, POD_IP)),
        received(net.pod, &request([0xff; 6], PEER_IP, POD_IP)),
        received(net.pod, &request([0; 6], PEER_IP, POD_IP)),
        // Our own request looped back, and a host claiming our address.
        received(net.pod, &request(POD_MAC, POD_IP, ip("10.99.1.77"))),
        received(net.pod, &request(PEER_MAC, POD_IP, POD_IP)),
        received(
            net.pod,
            &reply(PEER_MAC, Ipv4Addr::UNSPECIFIED, POD_MAC, POD_IP),
        ),
    ]);
    assert_eq!(
        rig.counters(),
        vec![
            ("ARP sender MAC zero, multicast or broadcast", 3),
            ("ARP sender IP 0.0.0.0 in a reply", 1),
            ("ARP sender IP is one of ours", 2),
        ]
    );
    assert_eq!(rig.events(), vec![]);
}

#[test]
fn a_probe_for_our_address_is_answered_but_not_learned() {
    let net = net();
    let mut rig = rig(&net, 16);
    let out = rig.run(vec![received(
        net.pod,
        &request(PEER_MAC, Ipv4Addr::UNSPECIFIED, POD_IP),
    )]);
    assert_eq!(out.len(), 1, "{:?}", rig.counters());
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&out[0].1.data()[14..]).unwrap()).unwrap();
    assert_eq!(arp.operation, ArpOperation::Reply);
    assert_eq!(
        (arp.sender_hardware_addr.0, arp.sender_protocol_addr),
        (POD_MAC, POD_IP)
    );
    assert_eq!(
        (arp.target_hardware_addr.0, arp.target_protocol_addr),
        (PEER_MAC, Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(rig.events(), vec![], "0.0.0.0 is nobody's address");
}

#[test]
fn arp_on_a_tunnel_interface_is_answered_through_vxlan_encap() {
    let net = net();
    let mut rig = rig(&net, 16);
    let mut pkt = received(net.vx, &request(VX_PEER_MAC, VX_PEER_IP, VX_IP));
    pkt.meta_mut().decap_depth = 1;
    let out = rig.run(vec![pkt]);
    assert_eq!(out.len(), 1, "{:?}", rig.counters());
    let (node, pkt) = &out[0];
    assert_eq!(*node, "vxlan-encap");
    // 172.16.0.1 is-at 02:00:00:00:64:01, written out by hand: the inner frame vxlan-encap
    // wraps, from the tunnel's own MAC to the asking VTEP's inner MAC.
    #[rustfmt::skip]
    let expected: [u8; 42] = [
        0x02, 0x42, 0x00, 0x00, 0x64, 0x02, 0x02, 0x00, 0x00, 0x00, 0x64, 0x01, 0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x64, 0x01, 172, 16, 0, 1,
        0x02, 0x42, 0x00, 0x00, 0x64, 0x02, 172, 16, 0, 2,
    ];
    assert_eq!(pkt.data(), &expected[..]);
    assert_eq!(pkt.meta().tx_if, net.vx);
    assert_ne!(pkt.meta().flags & PacketMeta::F_LOCAL_ORIGIN, 0);
    assert_eq!(rig.events(), vec![ev(net.vx, VX_PEER_IP, VX_PEER_MAC)]);

    // Both tunnel ends may carry the same MAC (derived from the VNI, say): still answered.
    let out = rig.run(vec![received(net.vx, &request(VX_MAC, VX_PEER_IP, VX_IP))]);
    assert_eq!(out.len(), 1, "{:?}", rig.counters());
    assert_eq!(&out[0].1.data()[..6], &VX_MAC);
}

#[test]
fn a_full_learn_queue_is_counted_and_the_reply_still_sent() {
    let net = net();
    let mut rig = rig(&net, 1);
    rig.learn
        .push(ev(net.pod, ip("10.99.1.200"), [2; 6]))
        .unwrap();
    let out = rig.run(vec![received(net.pod, &KERNEL_REQUEST)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1.data(), &KERNEL_REPLY[..]);
    assert_eq!(rig.count(ArpError::LearnQueueFull), 1);
    assert_eq!(rig.count(ArpError::RepliesSent), 1);
    assert_eq!(
        rig.events(),
        vec![ev(net.pod, ip("10.99.1.200"), [2; 6])],
        "queue untouched"
    );
}

#[test]
fn unknown_deleted_and_down_interfaces_drop() {
    let net = net();
    let mut rig = rig(&net, 16);
    assert!(rig.run(vec![received(9, &KERNEL_REQUEST)]).is_empty());
    assert_eq!(rig.counters(), vec![("ARP on an unknown interface", 1)]);

    // Control has no interface removal yet: publish the states it would leave behind.
    let domain = Domain::new(1);
    let mut st = (*net.control.state()).clone();
    st.ifaces[net.vx as usize] = None;
    st.ifaces[net.pod as usize].as_mut().unwrap().up = false;
    let rcu = Rcu::new(&domain, st);
    let mut rig = Rig::new(rcu.reader(), queue(16));
    let out = rig.run(vec![
        received(net.vx, &request(VX_PEER_MAC, VX_PEER_IP, VX_IP)),
        received(net.pod, &KERNEL_REQUEST),
    ]);
    assert!(out.is_empty());
    assert_eq!(
        rig.counters(),
        vec![
            ("ARP on an unknown interface", 1),
            ("ARP on an interface that is down", 1)
        ]
    );
    assert_eq!(rig.events(), vec![]);
}

#[test]
fn new_addresses_are_answered_after_the_quiescent_point() {
    let mut net = net();
    let mut rig = rig(&net, 16);
    let extra = ip("10.50.0.1");
    net.control
        .add_port("pod1", 2, [2, 0, 0, 0, 0, 0x11], 1500, TxCaps::default())
        .unwrap();
    let pod1 = net.control.iface("pod1").unwrap().index;
    let ask = request(PEER_MAC, ip("10.50.0.2"), extra);
    assert!(rig.run(vec![received(pod1, &ask)]).is_empty());
    assert_eq!(
        rig.counters(),
        vec![("ARP on an unknown interface", 1)],
        "old snapshot"
    );
    net.control.add_address("pod1", extra, 24).unwrap();
    rig.graph.quiescent();
    let out = rig.run(vec![received(pod1, &ask)]);
    assert_eq!(out.len(), 1, "{:?}", rig.counters());
    assert_eq!(out[0].1.meta().tx_if, pod1);
}

#[test]
fn a_mixed_vector_splits_by_outcome_in_order() {
    let net = net();
    let mut rig = rig(&net, 64);
    let mut pkts = Vec::new();
    for i in 0..100u8 {
        let sip = Ipv4Addr::new(10, 99, 1, 100 + i);
        let mac = [0x52, 0, 0, 0, 1, i];
        pkts.push(match i % 3 {
            0 => received(net.pod, &request(mac, sip, POD_IP)),
            1 => received(net.pod, &request(mac, sip, ip("10.99.1.250"))),
            _ => received(
                net.vx,
                &request(mac, Ipv4Addr::new(172, 16, 0, 100 + i), VX_IP),
            ),
        });
    }
    let out = rig.run(pkts);
    let port: Vec<u8> = out
        .iter()
        .filter(|o| o.0 == "port-tx")
        .map(|o| o.1.data()[5])
        .collect();
    let vx: Vec<u8> = out
        .iter()
        .filter(|o| o.0 == "vxlan-encap")
        .map(|o| o.1.data()[5])
        .collect();
    assert_eq!(port, (0..100).filter(|i| i % 3 == 0).collect::<Vec<u8>>());
    assert_eq!(vx, (0..100).filter(|i| i % 3 == 2).collect::<Vec<u8>>());
    assert_eq!(rig.count(ArpError::NotForUs), 33);
    assert_eq!(rig.count(ArpError::RepliesSent), 67);
    assert_eq!(rig.events().len(), 64, "queue capacity");
    assert_eq!(rig.count(ArpError::LearnQueueFull), 3);
}

fn pod_iface(net: &Net) -> Iface {
    net.control.state().iface(net.pod).unwrap().clone()
}

#[test]
fn build_request_writes_a_broadcast_who_has_from_the_interface() {
    let net = net();
    let mut pkt = VecBuf::new(&[]);
    let target = ip("10.99.1.1");
    assert!(build_request(&mut pkt, &pod_iface(&net), target));
    // Byte for byte what the kernel sends for the same question from the same host.
    let mut kernel = KERNEL_REQUEST;
    kernel[6..12].copy_from_slice(&POD_MAC);
    kernel[22..28].copy_from_slice(&POD_MAC);
    kernel[28..32].copy_from_slice(&POD_IP.octets());
    kernel[38..42].copy_from_slice(&target.octets());
    assert_eq!(pkt.data(), &kernel[..]);

    let eth = EthernetFrame::new_checked(pkt.data()).unwrap();
    assert!(eth.dst_addr().is_broadcast());
    assert_eq!(eth.src_addr().0, POD_MAC);
    assert_eq!(eth.ethertype(), EtherType::Arp);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
    assert_eq!(
        arp,
        ArpRepr::request(EthernetAddress(POD_MAC), POD_IP, target)
    );
    let m = pkt.meta();
    assert_eq!((m.tx_if, m.l2_len), (net.pod, 14));
    assert_ne!(m.flags & PacketMeta::F_LOCAL_ORIGIN, 0);

    // Answered by our own arp-input on the other side of a wire, it teaches them our MAC.
    let mut peer = control();
    let p = peer
        .add_port("p", 0, PEER_MAC, 1500, TxCaps::default())
        .unwrap();
    peer.add_address("p", target, 24).unwrap();
    let mut rig = Rig::new(peer.readers().1, queue(4));
    let out = rig.run(vec![received(p, pkt.data())]);
    assert_eq!(out.len(), 1, "{:?}", rig.counters());
    assert_eq!(rig.events(), vec![ev(p, POD_IP, POD_MAC)]);
}

#[test]
fn build_request_picks_the_source_in_the_targets_subnet_and_refuses_what_it_cannot() {
    let net = net();
    let mut iface = pod_iface(&net);
    iface.addrs.push((ip("10.7.0.1"), 16));
    let mut pkt = VecBuf::new(&[]);
    assert!(build_request(&mut pkt, &iface, ip("10.7.3.3")));
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&pkt.data()[14..]).unwrap()).unwrap();
    assert_eq!(arp.sender_protocol_addr, ip("10.7.0.1"));
    // Off every subnet (a /32 gateway, say): the primary address.
    assert!(build_request(&mut pkt, &iface, ip("8.8.8.8")));
    assert_eq!(
        pkt.len(),
        42,
        "a reused buffer is rewritten, not appended to"
    );
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&pkt.data()[14..]).unwrap()).unwrap();
    assert_eq!(arp.sender_protocol_addr, POD_IP);

    iface.addrs.clear();
    assert!(
        !build_request(&mut VecBuf::new(&[]), &iface, ip("10.7.3.3")),
        "no address"
    );
    let iface = pod_iface(&net);
    // A buffer whose room is all headroom: no space for 42 bytes.
    let mut full = VecBuf::new(&vec![0u8; VecBuf::ROOM - VecBuf::HEADROOM]);
    assert!(full.adj(VecBuf::ROOM - VecBuf::HEADROOM - 10));
    assert!(!build_request(&mut full, &iface, ip("10.99.1.1")));
}

#[test]
fn senders_we_never_route_to_are_answered_but_not_learned() {
    let mut net = net();
    // A pod whose address is in no subnet of ours, behind pod0 by a /32 route: its next hop,
    // so wanted, as a gateway's would be.
    let pod_b = ip("10.5.0.1");
    net.control
        .add_route_hops(pod_b, 32, &[(None, Some(net.pod))])
        .unwrap();
    let stranger = ip("203.0.113.7");
    let mut rig = rig(&net, 16);
    let out = rig.run(vec![
        received(net.pod, &request(PEER_MAC, stranger, POD_IP)),
        received(net.pod, &reply(PEER_MAC, stranger, POD_MAC, POD_IP)),
        received(net.pod, &request(PEER_MAC, pod_b, POD_IP)),
    ]);
    // Both requests are answered: the stranger may still talk to us, from its own subnet
    // view, as Linux answers it.
    assert_eq!(out.len(), 2, "{:?}", rig.counters());
    assert_eq!(
        rig.counters(),
        vec![
            ("ARP replies sent", 2),
            (ArpError::RequestNotLearned.name(), 1),
            (ArpError::ReplyUnwanted.name(), 1),
        ]
    );
    assert_eq!(rig.events(), vec![ev(net.pod, pod_b, PEER_MAC)]);
    // The same address on the interface it is not routed through is not wanted either.
    assert!(
        !net.control
            .state()
            .wants_neighbor(net.control.state().iface(net.vx).unwrap(), pod_b)
    );
    // A flood of made-up senders leaves the table as it was (and the queue empty).
    for chunk in 0..5u32 {
        let flood = (0..200u32)
            .map(|i| {
                let n = chunk * 200 + i;
                let sender = Ipv4Addr::from(0xcb00_7100 + n);
                let mac = [2, 0, 0, 1, (n >> 8) as u8, n as u8];
                received(net.pod, &request(mac, sender, POD_IP))
            })
            .collect();
        rig.run(flood);
    }
    assert!(rig.events().is_empty());
    assert_eq!(net.learn(&rig.learn), 0);
    assert!(net.control.state().neighbors.is_empty());
}

/// arp-probe: each queued probe becomes the who-has `build_request` writes, out of a port or
/// into a tunnel; what cannot be sent is counted under its reason; a long queue drains
/// `PROBES_PER_POLL` a poll; an empty one is no work.
#[test]
fn arp_probe_sends_what_is_queued_and_counts_what_it_cannot() {
    let mut net = net();
    let c = &mut net.control;
    let bare = c
        .add_port("bare", 2, [2, 0, 0, 0, 0, 9], 1500, TxCaps::default())
        .unwrap();
    let off = c
        .add_port("off", 3, [2, 0, 0, 0, 0, 10], 1500, TxCaps::default())
        .unwrap();
    c.add_address("off", ip("10.98.0.1"), 24).unwrap();
    c.set_up("off", false).unwrap();
    let probes: crate::fwd::ProbeQueue = Arc::new(crossbeam_queue::ArrayQueue::new(64));
    let alloc = VecAlloc {
        limit: Some(3),
        made: 0,
    };
    let mut rig = ProbeRig::new(c, &probes, alloc);
    assert_eq!(rig.poll(), (false, vec![]), "nothing queued: no work");

    let probe = |iface, ip| crate::fwd::NeighborProbe { iface, ip };
    for p in [
        probe(net.pod, PEER_IP),
        probe(net.vx, VX_PEER_IP),
        probe(bare, ip("10.97.0.2")),
        probe(off, ip("10.98.0.2")),
        probe(99, ip("10.99.1.3")),
        probe(net.pod, ip("10.99.1.3")),
        probe(net.pod, ip("10.99.1.4")),
    ] {
        probes.push(p).unwrap();
    }
    let (worked, out) = rig.poll();
    assert!(worked);
    let expect = |iface: &str, target| {
        let mut b = VecBuf::new(&[]);
        assert!(build_request(
            &mut b,
            &net.control.iface(iface).unwrap(),
            target
        ));
        b
    };
    let sent: Vec<_> = out
        .iter()
        .map(|(n, b)| (*n, b.data().to_vec(), b.meta().tx_if))
        .collect();
    assert_eq!(
        sent,
        vec![
            // The sinks run in the order they were added.
            ("port-tx", expect("pod0", PEER_IP).data().to_vec(), net.pod),
            (
                "port-tx",
                expect("pod0", ip("10.99.1.3")).data().to_vec(),
                net.pod
            ),
            (
                "vxlan-encap",
                expect("vx100", VX_PEER_IP).data().to_vec(),
                net.vx
            ),
        ]
    );
    let counted: Vec<_> = rig.report().nonzero_errors().collect();
    assert_eq!(
        counted,
        vec![
            ("ARP probes sent", 3),
            ("ARP probe on an interface gone or down", 2),
            ("ARP probe on an interface without an IPv4 address", 1),
            ("no buffer for an ARP probe", 1),
        ]
    );

    // A long queue: PROBES_PER_POLL at a time.
    let mut rig = ProbeRig::new(&net.control, &probes, VecAlloc::default());
    for n in 0..40 {
        probes
            .push(probe(net.pod, Ipv4Addr::new(10, 99, 1, 10 + n)))
            .unwrap();
    }
    assert_eq!(rig.poll().1.len(), PROBES_PER_POLL);
    assert_eq!(rig.poll().1.len(), 40 - PROBES_PER_POLL);
    assert_eq!(rig.poll(), (false, vec![]));
}

/// A probe for one of the interface's own addresses is a gratuitous ARP request (sender =
/// target = that address), counted as an announcement.
#[test]
fn arp_probe_for_our_own_address_is_a_gratuitous_arp() {
    let net = net();
    let probes: crate::fwd::ProbeQueue = Arc::new(crossbeam_queue::ArrayQueue::new(4));
    let mut rig = ProbeRig::new(&net.control, &probes, VecAlloc::default());
    probes
        .push(crate::fwd::NeighborProbe {
            iface: net.pod,
            ip: POD_IP,
        })
        .unwrap();
    let (worked, out) = rig.poll();
    assert!(worked);
    assert_eq!(out.len(), 1);
    let frame = EthernetFrame::new_checked(out[0].1.data()).unwrap();
    assert_eq!(frame.dst_addr(), EthernetAddress::BROADCAST);
    let arp = ArpRepr::parse(&ArpPacket::new_checked(frame.payload()).unwrap()).unwrap();
    assert_eq!(arp.operation, ArpOperation::Request);
    assert_eq!(
        (
            arp.sender_hardware_addr.0,
            arp.sender_protocol_addr,
            arp.target_protocol_addr
        ),
        (POD_MAC, POD_IP, POD_IP)
    );
    assert!(arp.is_gratuitous());
    let report = rig.report();
    let counted: Vec<_> = report.nonzero_errors().collect();
    assert_eq!(counted, vec![("gratuitous ARP sent for our address", 1)]);
    assert_eq!(
        (report.stats.calls, report.stats.packets),
        (1, 1),
        "a source node's packets are those it made"
    );
}
