//! The whole forwarding graph, every real node, fed damaged frames: nothing panics, nothing is
//! lost, and every packet that is dropped is counted under a reason.
//!
//! The graph is the daemon's (`build_graph`), except port-tx, which is a recording stand-in
//! (the real one needs DPDK). The state is built by the real control plane: an uplink with
//! a known host and a VXLAN tunnel over it (so the midchain and the stacked encap paths
//! run), a pod port with a smaller MTU, an ECMP route, an unresolved gateway, a pod /32 and
//! no default route. The frames are Linux's own (the captured fixtures) and routed packets
//! built from them, then damaged at random: bytes overwritten, cut short or extended, sent
//! in on any interface (one that does not exist included), with any checksum verdict and RSS
//! hash from the NIC, true or not. 50,000 cases in a debug build (overflow checks on) and
//! 200,000 in release passed when this was written; CI runs 2,048.
//!
//! The books must balance on every run. Each packet ends in the drop node: either it left
//! through port-tx (and the stand-in passed it on to drop) or a node counted why it dropped
//! it. So, with `ARP requests` the packets ip4-rewrite made for unresolved next hops:
//! - `drop.packets == sent + ARP requests` (none lost, none made up);
//! - `drop.packets == left through port-tx + dropped with a reason` (no silent drop).
//!
//! Reasons that count something other than a drop ([`crate::NOT_DROPS`]) are taken out of
//! the second sum, so a new non-drop reason fails this test until it is listed there.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use crate::arp::{ArpError, ArpInput};
use crate::buffer::{CsumStatus, RxOffload, VecAlloc, VecBuf};
use crate::ethernet::{EthernetError, EthernetInput};
use crate::fwd::{Control, IfIndex, LearnQueue, TxCaps, VxlanTunnel};
use crate::graph::testing::{Recorded, RecordingSink};
use crate::graph::{Graph, GraphBuilder};
use crate::ip4::local::Ip4LocalError;
use crate::ip4::lookup::Ip4LookupError;
use crate::ip4::rewrite::Ip4RewriteError;
use crate::ip4::{Ip4Input, Ip4Local, Ip4Lookup, Ip4Rewrite};
use crate::vxlan::{VxlanDecap, VxlanEncap};
use crate::wire::{checksum, fixtures};

/// The router's MAC in the fixtures (10.99.1.1), and the host's (10.99.1.2).
const ROUTER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef];
const HOST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const POD_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const POD_A: [u8; 6] = [2, 0, 0, 0, 0xa, 0xa];
const TUNNEL_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
/// An interface index nothing has.
const NO_IFACE: IfIndex = 99;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("address")
}

struct Rig {
    _c: Control,
    g: Graph<VecBuf>,
    out: Recorded,
    ifaces: Vec<IfIndex>,
}

fn rig() -> Rig {
    let mut c = Control::for_tests(1024);
    let up = c
        .add_port("uplink", 0, ROUTER_MAC, 1500, TxCaps::default())
        .expect("uplink");
    c.add_address("uplink", ip("10.99.1.1"), 24).expect("addr");
    c.set_neighbor(up, ip("10.99.1.2"), HOST_MAC, true)
        .expect("host");
    let pod = c
        .add_port("pod0", 1, POD_MAC, 1280, TxCaps::default())
        .expect("pod0");
    c.add_address("pod0", ip("10.0.1.1"), 24).expect("addr");
    c.set_neighbor(pod, ip("10.0.1.2"), POD_A, true)
        .expect("pod A");
    let vx = c
        .add_vxlan(
            "vx100",
            VxlanTunnel {
                vni: 100,
                local: ip("10.99.1.1"),
                remote: ip("10.99.1.2"),
                udp_port: 4789,
            },
            TUNNEL_MAC,
            1450,
        )
        .expect("vx100");
    c.add_address("vx100", ip("172.16.99.1"), 24).expect("addr");
    // The kernel's end of the tunnel, as the fixtures' inner frames come from it.
    let inner_src = fixtures::VXLAN_ECHO_FRAME[50 + 6..50 + 12]
        .try_into()
        .expect("6 bytes");
    c.set_neighbor(vx, ip("172.16.99.2"), inner_src, true)
        .expect("inner host");
    c.add_route(ip("10.2.0.0"), 16, &[ip("172.16.99.2")])
        .expect("into the tunnel");
    c.add_route(ip("10.3.0.0"), 16, &[ip("10.0.1.2"), ip("10.99.1.2")])
        .expect("ECMP");
    c.add_route(ip("10.4.0.0"), 16, &[ip("10.0.1.9")])
        .expect("unresolved gateway");
    c.add_route_hops(ip("10.5.0.1"), 32, &[(None, Some(pod))])
        .expect("pod route");
    let learn: LearnQueue = Arc::new(crossbeam_queue::ArrayQueue::new(1024));
    let out = Recorded::default();
    let (fib, st) = c.readers();
    let mut b = GraphBuilder::new();
    b.add(EthernetInput::new(st.clone()));
    b.add(ArpInput::new(st.clone(), learn));
    b.add(Ip4Input::new(st.clone()));
    b.add(Ip4Lookup::new(fib, st.clone()));
    b.add(Ip4Local::new(st.clone()));
    b.add(VxlanDecap::new(st.clone()));
    b.add(Ip4Rewrite::new(st.clone(), 1000));
    b.add(VxlanEncap::new(st));
    b.add(RecordingSink("port-tx", out.clone()));
    let g = b.build(|| 0, Box::new(VecAlloc::default())).expect("graph");
    Rig {
        _c: c,
        g,
        out,
        ifaces: vec![up, pod, vx, NO_IFACE],
    }
}

/// `UDP4_FRAME` (10.99.1.2 -> 10.99.1.1, to our MAC) sent on to `dst` with `ttl`, and DF and
/// zero padding to `len` bytes of IPv4 when given; its header checksum right.
fn routed(dst: &str, ttl: u8, df_len: Option<usize>) -> Vec<u8> {
    let mut f = fixtures::UDP4_FRAME.to_vec();
    if let Some(len) = df_len {
        f.resize(14 + len, 0);
        f[14 + 2..14 + 4].copy_from_slice(&(len as u16).to_be_bytes());
        f[14 + 6] = 0x40;
        // The UDP length with it, so only the IPv4 header speaks of the size.
        f[14 + 24..14 + 26].copy_from_slice(&(len as u16 - 20).to_be_bytes());
        f[14 + 26..14 + 28].fill(0);
    }
    f[14 + 8] = ttl;
    f[14 + 16..14 + 20].copy_from_slice(&ip(dst).octets());
    f[14 + 10..14 + 12].fill(0);
    let sum = !checksum::sum(&f[14..34]);
    f[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    f
}

/// `f`, an untagged VXLAN frame, with its outer UDP checksum 0 (none).
fn no_udp_checksum(f: &[u8]) -> Vec<u8> {
    let mut f = f.to_vec();
    f[14 + 20 + 6..14 + 20 + 8].fill(0);
    f
}

/// An 802.1Q-tagged copy of `f` (VLAN 10).
fn tagged(f: &[u8]) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    t.extend_from_slice(&f[12..]);
    t
}

/// An ARP request from the host for `target`, broadcast.
fn arp_request(target: &str) -> Vec<u8> {
    // The fixture's request (router asks for the host), turned around.
    let mut f = fixtures::ARP_REQUEST_FRAME.to_vec();
    f[6..12].copy_from_slice(&HOST_MAC);
    f[14 + 8..14 + 14].copy_from_slice(&HOST_MAC);
    f[14 + 14..14 + 18].copy_from_slice(&ip("10.99.1.2").octets());
    f[14 + 24..14 + 28].copy_from_slice(&ip(target).octets());
    f
}

/// What the damaged frames start from, each meant for the uplink unless said otherwise: the
/// paths through every node.
fn templates() -> Vec<Vec<u8>> {
    vec![
        arp_request("10.99.1.1"),
        arp_request("10.99.1.77"),
        fixtures::ARP_REPLY_FRAME.to_vec(),
        fixtures::ECHO_REQUEST_FRAME.to_vec(),
        fixtures::UDP4_FRAME.to_vec(),
        fixtures::UDP4_PARTIAL_FRAME.to_vec(),
        fixtures::TCP_SYN_FRAME.to_vec(),
        fixtures::VXLAN_ECHO_FRAME.to_vec(),
        fixtures::VXLAN_ECHO_PARTIAL_FRAME.to_vec(),
        fixtures::VXLAN_ARP_FRAME.to_vec(),
        // Without the outer UDP checksum (RFC 7348's default), so damage to the inner frame
        // reaches the nodes after decap rather than the checksum test.
        no_udp_checksum(&fixtures::VXLAN_ECHO_FRAME),
        no_udp_checksum(&fixtures::VXLAN_ARP_FRAME),
        fixtures::UDP6_FRAME.to_vec(),
        fixtures::NEIGHBOR_SOLICIT_FRAME.to_vec(),
        routed("10.2.0.5", 64, None),
        routed("10.3.0.7", 64, None),
        routed("10.4.0.1", 64, None),
        routed("10.5.0.1", 64, None),
        routed("10.0.1.2", 64, None),
        routed("10.0.1.3", 64, None),
        routed("8.8.8.8", 64, None),
        routed("10.3.0.7", 1, None),
        routed("10.0.1.2", 64, Some(1400)),
        routed("10.2.0.5", 64, Some(1440)),
        tagged(&routed("10.3.0.7", 64, None)),
    ]
}

/// One damaged frame: which template, which interface, which bytes overwritten (positions
/// taken modulo the length), the length it is cut or grown to (`None`: as it is), and the
/// NIC's verdicts on it.
#[derive(Debug, Clone)]
struct Damage {
    template: usize,
    iface: usize,
    edits: Vec<(usize, u8)>,
    len: Option<usize>,
    /// What the NIC says of it, right or wrong: a NIC that calls a damaged header good must
    /// not make a node trust it into a panic.
    nic: RxOffload,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        0usize..64,
        0usize..8,
        prop::collection::vec((0usize..1600, any::<u8>()), 0..4),
        prop::option::weighted(0.3, 0usize..1600),
        (csum_status(), csum_status(), any::<Option<u32>>()),
    )
        .prop_map(|(template, iface, edits, len, (ip, l4, rss_hash))| Damage {
            template,
            iface,
            edits,
            len,
            nic: RxOffload { ip, l4, rss_hash },
        })
}

/// Mostly what a NIC without checksum offload says (nothing), else good or bad.
fn csum_status() -> impl Strategy<Value = CsumStatus> {
    prop_oneof![
        4 => Just(CsumStatus::Unknown),
        1 => Just(CsumStatus::Good),
        1 => Just(CsumStatus::Bad),
    ]
}

impl Damage {
    /// The frame, and the interface it arrives on (the uplink five times in eight).
    fn apply(&self, templates: &[Vec<u8>], ifaces: &[IfIndex]) -> VecBuf {
        let mut f = templates[self.template % templates.len()].clone();
        if let Some(len) = self.len {
            f.resize(len, 0x5a);
        }
        if !f.is_empty() {
            let n = f.len();
            for &(at, b) in &self.edits {
                // Mostly within the headers, where the checks are.
                f[at % n.min(if at % 2 == 0 { 80 } else { n })] = b;
            }
        }
        let iface = match self.iface {
            i @ 0..=3 => ifaces[i],
            _ => ifaces[0],
        };
        let mut b = VecBuf::on(iface, &f);
        b.rx = self.nic;
        b
    }
}

/// Sends `frames` through the graph in one vector and checks the books (module doc); how
/// many frames left through port-tx.
fn check_books(r: &mut Rig, frames: Vec<VecBuf>) -> Result<u64, TestCaseError> {
    let before = books(r);
    let sent = frames.len() as u64;
    let eth = r.g.node_id("ethernet-input").expect("ethernet-input");
    let mut v = r.g.take_vector();
    v.extend(frames);
    r.g.enqueue_vector(eth, v);
    r.g.run();
    let left = std::mem::take(&mut *r.out.lock().expect("recorder")).len() as u64;
    let after = books(r);
    let dropped = after.dropped - before.dropped;
    let counted = after.counted - before.counted;
    let arp_requests = after.arp_requests - before.arp_requests;
    prop_assert_eq!(
        dropped,
        sent + arp_requests,
        "packets lost or made up: {} sent, {} ARP requests made, {} reached drop",
        sent,
        arp_requests,
        dropped
    );
    prop_assert_eq!(
        dropped,
        left + counted,
        "a drop without a reason: {} reached drop, {} left through port-tx, {} counted; {:?}",
        dropped,
        left,
        counted,
        after.reasons
    );
    Ok(left)
}

struct Books {
    /// Packets the drop node freed.
    dropped: u64,
    /// Drops counted under a reason, all nodes.
    counted: u64,
    /// ARP requests ip4-rewrite made (one per "ARP request sent").
    arp_requests: u64,
    reasons: Vec<(&'static str, &'static str, u64)>,
}

fn books(r: &Rig) -> Books {
    let report = r.g.report();
    let mut b = Books {
        dropped: 0,
        counted: 0,
        arp_requests: 0,
        reasons: Vec::new(),
    };
    let unresolved = Ip4RewriteError::Unresolved.name();
    for n in &report {
        if n.name == "drop" {
            b.dropped = n.stats.packets;
        }
        for (reason, count) in n.nonzero_errors() {
            b.reasons.push((n.name, reason, count));
            if n.name == "ip4-rewrite" && reason == unresolved {
                b.arp_requests += count;
            }
            if !crate::NOT_DROPS.contains(&(n.name, reason)) {
                b.counted += count;
            }
        }
    }
    b
}

#[test]
fn the_templates_take_the_paths_they_are_meant_for() {
    // Undamaged, the frames go where the state sends them, so the property below damages
    // frames that would have gone somewhere, not frames refused at the door.
    let mut r = rig();
    let frames = templates()
        .iter()
        .map(|f| VecBuf::on(r.ifaces[0], f))
        .collect();
    let left = check_books(&mut r, frames).expect("books balance");
    let reasons = books(&r).reasons;
    let has = |node: &str, reason: &str| {
        reasons
            .iter()
            .any(|&(n, why, _)| n == node && why == reason)
    };
    // Out, 14: the ARP reply; the echo reply; the replies to three requests that came
    // through the tunnel (the echo with a full outer UDP checksum, the echo and the ARP
    // request without one; the two with a partial checksum are refused, as no NIC completed
    // it); routed into the tunnel (64 B, and 1440 B, which fits its MTU), by ECMP, to pod A;
    // the ICMP errors for TTL 1 and for 1400 B with DF to the 1280 B pod port; the ARP
    // requests for 10.4.0.1's gateway, 10.5.0.1 and 10.0.1.3.
    assert_eq!(
        left, 14,
        "frames that left through port-tx; reasons {reasons:?}"
    );
    for (node, reason) in [
        ("arp-input", ArpError::RepliesSent.name()),
        ("arp-input", ArpError::NotForUs.name()),
        ("ip4-local", Ip4LocalError::EchoReplied.name()),
        ("ip4-rewrite", Ip4RewriteError::Unresolved.name()),
        ("ip4-rewrite", Ip4RewriteError::TtlExpired.name()),
        ("ip4-rewrite", Ip4RewriteError::FragNeeded.name()),
        ("ip4-lookup", Ip4LookupError::NoRoute.name()),
        ("ethernet-input", EthernetError::Ipv6.name()),
        ("ethernet-input", EthernetError::Vlan.name()),
    ] {
        assert!(has(node, reason), "no {node}: {reason}; saw {reasons:?}");
    }
}

#[test]
fn damaged_frames_are_forwarded_or_dropped_with_a_reason_never_lost() {
    let t = templates();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 2048,
        ..ProptestConfig::default()
    });
    // One graph for all cases, as a worker's: its caches (last tunnel, host rewrites, ARP
    // rate limits) carry over from vector to vector.
    let r = RefCell::new(rig());
    runner
        .run(&prop::collection::vec(damage(), 1..48), |frames| {
            let mut r = r.borrow_mut();
            let bufs = frames.iter().map(|d| d.apply(&t, &r.ifaces)).collect();
            check_books(&mut r, bufs).map(drop)
        })
        .expect("books balance");
}
