//! ethernet-input and the ip4 nodes together, on in-memory buffers, with state built by the
//! real control plane. ARP, VXLAN and port-tx are recording sinks here.

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::buffer::{CsumStatus, PacketBuf, PacketMeta, VecAlloc, VecBuf};
use crate::ethernet::EthernetInput;
use crate::fwd::{Control, FwdError, IfIndex, TxCaps};
use crate::graph::testing::{Recorded as Out, RecordingSink as Sink};
use crate::graph::{Graph, GraphBuilder};
use crate::ip4::icmp::IcmpLimit;
use crate::ip4::lookup::Ip4LookupError;
use crate::ip4::rewrite::Ip4RewriteError;
use crate::ip4::{Ip4Input, Ip4Local, Ip4Lookup, Ip4Rewrite};
use crate::wire::checksum;

const MAC0: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const MAC1: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
const POD_A: [u8; 6] = [2, 0, 0, 0, 0xa, 0xa];
const POD_B: [u8; 6] = [2, 0, 0, 0, 0xb, 0xb];

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

struct H {
    c: Control,
    g: Graph<VecBuf>,
    out: Out,
    p0: IfIndex,
    p1: IfIndex,
}

/// pod0 10.0.1.1/24 (pod A 10.0.1.2 known), pod1 10.0.2.1/24 (pod B 10.0.2.2 known, 10.0.2.3
/// unknown); `caps1` are pod1's transmit offloads.
fn harness(caps1: TxCaps, mtu1: u16) -> H {
    harness_with(caps1, mtu1, IcmpLimit::unlimited())
}

/// [`harness`], ip4-rewrite sending ICMP errors within `limit`.
fn harness_with(caps1: TxCaps, mtu1: u16, limit: IcmpLimit) -> H {
    let mut c = Control::for_tests(1024);
    let p0 = c
        .add_port("pod0", 0, MAC0, 1500, TxCaps::default())
        .unwrap();
    let p1 = c.add_port("pod1", 1, MAC1, mtu1, caps1).unwrap();
    c.add_address("pod0", ip("10.0.1.1"), 24).unwrap();
    c.add_address("pod1", ip("10.0.2.1"), 24).unwrap();
    c.set_neighbor(p0, ip("10.0.1.2"), POD_A, true).unwrap();
    c.set_neighbor(p1, ip("10.0.2.2"), POD_B, true).unwrap();
    let out: Out = Arc::default();
    let (fib, st) = c.readers();
    let mut b = GraphBuilder::new();
    b.add(EthernetInput::new(st.clone()));
    b.add(Sink("arp-input", out.clone()));
    b.add(Ip4Input::new(st.clone()));
    b.add(Ip4Lookup::new(fib, st.clone()));
    b.add(Ip4Local::new(st.clone()));
    b.add(Sink("vxlan-decap", out.clone()));
    b.add(Ip4Rewrite::new(st, 1000).with_icmp_limit(limit));
    b.add(Sink("vxlan-encap", out.clone()));
    b.add(Sink("port-tx", out.clone()));
    let g = b.build(|| 0, Box::new(VecAlloc::default())).unwrap();
    H { c, g, out, p0, p1 }
}

impl H {
    fn send(&mut self, rx_if: IfIndex, frames: &[Vec<u8>]) -> Vec<(&'static str, VecBuf)> {
        self.inject(
            "ethernet-input",
            frames.iter().map(|f| VecBuf::on(rx_if, f)),
        )
    }

    /// Runs `pkts`, one vector, from `node` on; what reached the sinks.
    fn inject(
        &mut self,
        node: &str,
        pkts: impl IntoIterator<Item = VecBuf>,
    ) -> Vec<(&'static str, VecBuf)> {
        let id = self.g.node_id(node).unwrap();
        let mut v = self.g.take_vector();
        v.extend(pkts);
        self.g.enqueue_vector(id, v);
        self.g.run();
        std::mem::take(&mut *self.out.lock().unwrap())
    }

    fn packets(&self, node: &str) -> u64 {
        self.g.stats(self.g.node_id(node).unwrap()).packets
    }

    fn errors(&self, node: &str) -> Vec<(&'static str, u64)> {
        let id = self.g.node_id(node).unwrap();
        self.g.report()[id.0 as usize].nonzero_errors().collect()
    }
}

fn ipv4(src: &str, dst: &str, ttl: u8, proto: u8, df: bool, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        0,
        0,
        0x12,
        0x34,
        if df { 0x40 } else { 0 },
        0,
        ttl,
        proto,
        0,
        0,
    ];
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h.extend_from_slice(&ip(src).octets());
    h.extend_from_slice(&ip(dst).octets());
    let c = !checksum::sum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// An IPv4 header with 4 bytes of options (a no-op list) from `src` to `dst`, TTL 64,
/// protocol UDP, its checksum right, and `payload` after it.
fn ipv4_with_options(src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let mut ip = ipv4(src, dst, 64, 17, false, &[1, 1, 1, 0]);
    ip[0] = 0x46;
    ip.extend_from_slice(payload);
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[10..12].fill(0);
    let c = !checksum::sum(&ip[..24]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip
}

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn echo_request(seq: u16, data_len: usize) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x42, 0x42];
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend((0..data_len).map(|i| i as u8));
    let c = !checksum::sum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    icmp
}

fn udp(sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + len) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend((0..len).map(|i| (i * 7) as u8));
    u
}

/// A frame from pod A to `dst`.
fn from_a(dst: &str, ttl: u8, payload: &[u8]) -> Vec<u8> {
    eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", dst, ttl, 17, false, payload),
    )
}

#[test]
fn routes_between_ports_with_ttl_and_mac_rewrite() {
    let mut h = harness(TxCaps::default(), 1500);
    let f = from_a("10.0.2.2", 64, &udp(1000, 2000, 100));
    let out = h.send(h.p0, std::slice::from_ref(&f));
    assert_eq!(out.len(), 1);
    let (node, p) = &out[0];
    assert_eq!(*node, "port-tx");
    assert_eq!(p.meta().tx_if, h.p1);
    let d = p.data();
    assert_eq!(d[..6], POD_B, "to the neighbor's MAC");
    assert_eq!(d[6..12], MAC1, "from pod1's MAC");
    assert_eq!(d[14 + 8], 63, "TTL decremented");
    assert!(checksum::verifies(&d[14..34]), "incremental checksum right");
    let mut expect = f.clone();
    expect[14 + 8] = 63;
    assert_eq!(d[34..], expect[34..], "payload untouched");
}

/// A host in a connected subnet (a glean) whose MAC changes: the next packets go to the new
/// MAC (its precomputed rewrite follows the neighbor table).
#[test]
fn a_host_in_a_connected_subnet_is_reached_at_its_current_mac() {
    let mut h = harness(TxCaps::default(), 1500);
    let f = from_a("10.0.2.2", 64, &udp(1000, 2000, 100));
    let out = h.send(h.p0, std::slice::from_ref(&f));
    assert_eq!(out[0].1.data()[..6], POD_B);
    const MOVED: [u8; 6] = [2, 0, 0, 0, 0xb, 0xc];
    h.c.set_neighbor(h.p1, ip("10.0.2.2"), MOVED, true).unwrap();
    h.g.quiescent();
    let out = h.send(h.p0, std::slice::from_ref(&f));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1.meta().tx_if), ("port-tx", h.p1));
    assert_eq!(out[0].1.data()[..6], MOVED, "to the new MAC");
    // Both rewritten by ip4-lookup's own fast path, through its host cache, which the state
    // change emptied.
    assert_eq!(h.packets("ip4-rewrite"), 0);
}

/// The commonest packet, transit to a resolved next hop out of a port, is rewritten by
/// ip4-lookup with ip4-rewrite's fast path and skips ip4-rewrite; a traced one goes through
/// ip4-rewrite, so that its trace shows the rewrite. Both come out the same; so do a gateway's
/// and a host's.
#[test]
fn ip4_lookup_rewrites_the_common_packet_itself_and_a_traced_one_goes_through_ip4_rewrite() {
    let mut h = harness(TxCaps::default(), 1500);
    h.c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.2.2")])
        .unwrap();
    h.g.quiescent();
    let via = from_a("10.9.0.5", 64, &udp(1000, 2000, 100));
    let host = from_a("10.0.2.2", 64, &udp(1000, 2000, 100));
    let out = h.send(h.p0, &[via.clone(), host.clone()]);
    assert_eq!(h.packets("ip4-rewrite"), 0, "ip4-lookup rewrote both");
    assert_eq!(out.len(), 2);
    for (f, (node, p)) in [&via, &host].into_iter().zip(&out) {
        assert_eq!((*node, p.meta().tx_if), ("port-tx", h.p1));
        let d = p.data();
        assert_eq!(d[..6], POD_B, "to the next hop's MAC");
        assert_eq!(d[6..12], MAC1, "from pod1's MAC");
        assert_eq!(d[14 + 8], 63, "TTL decremented once");
        assert!(checksum::verifies(&d[14..34]));
        assert_eq!(d[14..14 + 8], f[14..14 + 8]);
        assert_eq!(d[14 + 9], f[14 + 9]);
        assert_eq!(d[14 + 12..], f[14 + 12..], "the rest as sent");
    }

    h.g.trace(2);
    let traced = h.send(h.p0, &[via.clone(), host.clone()]);
    assert_eq!(
        h.packets("ip4-rewrite"),
        2,
        "traced packets go through ip4-rewrite"
    );
    let t = h.g.traces();
    assert_eq!(t.len(), 2);
    for tr in &t {
        // (The test's port-tx is a sink that records and drops.)
        assert_eq!(
            tr.nodes[..4],
            ["ethernet-input", "ip4-lookup", "ip4-rewrite", "port-tx"]
        );
    }
    assert_eq!(
        traced
            .iter()
            .map(|(n, p)| (*n, p.data()))
            .collect::<Vec<_>>(),
        out.iter().map(|(n, p)| (*n, p.data())).collect::<Vec<_>>(),
        "the same frames either way"
    );

    // What the fast path does not take goes on to ip4-rewrite unchanged, which handles it:
    // a TTL of 1 gets its ICMP time exceeded.
    let expiring = from_a("10.9.0.5", 1, &udp(1000, 2000, 100));
    let out = h.send(h.p0, &[expiring]);
    assert_eq!(h.packets("ip4-rewrite"), 3);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1.meta().tx_if), ("port-tx", h.p0));
    assert_eq!(out[0].1.data()[14 + 9], 1, "an ICMP error back to pod A");
    assert_eq!(out[0].1.data()[14 + 20], 11, "time exceeded");
}

/// Hosts of a /16 whose addresses share a last byte share a slot of ip4-rewrite's host
/// cache: in one vector, each still goes to its own MAC, and an unresolved one between them
/// (ARP) disturbs neither.
#[test]
fn hosts_sharing_a_host_cache_slot_each_get_their_own_mac() {
    let mut h = harness(TxCaps::default(), 1500);
    const LAN_MAC: [u8; 6] = [2, 0, 0, 0, 9, 1];
    const X: [u8; 6] = [2, 0, 0, 0, 9, 0xa];
    const Y: [u8; 6] = [2, 0, 0, 0, 9, 0xb];
    let lan =
        h.c.add_port("lan", 2, LAN_MAC, 1500, TxCaps::default())
            .unwrap();
    h.c.add_address("lan", ip("10.9.0.1"), 16).unwrap();
    h.c.set_neighbor(lan, ip("10.9.0.5"), X, true).unwrap();
    h.c.set_neighbor(lan, ip("10.9.1.5"), Y, true).unwrap();
    h.g.quiescent();
    let to = |dst: &str| from_a(dst, 64, &udp(1000, 2000, 20));
    let frames = [
        to("10.9.0.5"),
        to("10.9.1.5"),
        to("10.9.2.5"), // unresolved: dropped, ARP sent
        to("10.9.0.5"),
        to("10.9.1.5"),
        to("10.9.1.5"),
    ];
    let out = h.send(h.p0, &frames);
    let sent: Vec<([u8; 4], [u8; 6])> = out
        .iter()
        .filter(|(node, _)| *node == "port-tx")
        .filter(|(_, p)| p.data()[12..14] == [0x08, 0x00])
        .map(|(_, p)| {
            let d = p.data();
            (d[30..34].try_into().unwrap(), d[..6].try_into().unwrap())
        })
        .collect();
    let (a, b) = ([10, 9, 0, 5], [10, 9, 1, 5]);
    assert_eq!(sent, vec![(a, X), (b, Y), (a, X), (b, Y), (b, Y)]);
}

#[test]
fn no_arp_request_from_an_interface_without_an_address() {
    let mut h = harness(TxCaps::default(), 1500);
    let p2 =
        h.c.add_port("pod2", 2, [2, 0, 0, 0, 0, 0x22], 1500, TxCaps::default())
            .unwrap();
    h.c.add_route_hops(ip("10.9.0.0"), 16, &[(None, Some(p2))])
        .unwrap();
    h.g.quiescent();
    let f = from_a("10.9.0.5", 64, &udp(1, 2, 10));
    assert!(h.send(h.p0, &[f.clone(), f]).is_empty(), "nothing sent");
    assert_eq!(
        h.errors("ip4-rewrite"),
        vec![(
            "no address on the egress interface to send an ARP request from",
            2
        )]
    );
}

/// A pod behind an unnumbered port (10.56.0.1/32 on it, a /32 route to the pod through the
/// port, as the CNI plugin sets it up): ARP for the pod itself, then its packets routed with
/// its MAC (through its host adjacency's precomputed rewrite).
#[test]
fn a_pod_behind_an_unnumbered_port_is_resolved_then_reached() {
    let mut h = harness(TxCaps::default(), 1500);
    const POD_C: [u8; 6] = [2, 0, 0, 0, 0xc, 0xc];
    let p2 =
        h.c.add_port("pod2", 2, [2, 0, 0, 0, 0, 0x22], 1500, TxCaps::default())
            .unwrap();
    h.c.add_address("pod2", ip("10.56.0.1"), 32).unwrap();
    h.c.add_route_hops(ip("10.56.0.7"), 32, &[(None, Some(p2))])
        .unwrap();
    h.g.quiescent();
    let f = from_a("10.56.0.7", 64, &udp(1, 2, 10));
    let out = h.send(h.p0, std::slice::from_ref(&f));
    assert_eq!(out.len(), 1, "an ARP request, the packet dropped");
    let d = out[0].1.data();
    assert_eq!((out[0].1.meta().tx_if, &d[12..14]), (p2, &[8u8, 6][..]));
    assert_eq!(
        d[28..32],
        ip("10.56.0.1").octets(),
        "from the port's address"
    );
    assert_eq!(d[38..42], ip("10.56.0.7").octets(), "for the pod");

    h.c.set_neighbor(p2, ip("10.56.0.7"), POD_C, false).unwrap();
    h.g.quiescent();
    let out = h.send(h.p0, std::slice::from_ref(&f));
    assert_eq!(out.len(), 1);
    let (node, p) = &out[0];
    assert_eq!((*node, p.meta().tx_if), ("port-tx", p2));
    let d = p.data();
    assert_eq!(d[..6], POD_C, "to the pod's MAC");
    assert_eq!(d[6..12], [2, 0, 0, 0, 0, 0x22], "from its port's MAC");
    assert_eq!(d[14 + 8], 63, "TTL decremented");
    assert!(checksum::verifies(&d[14..34]));
    assert_eq!(d[34..], f[34..], "payload untouched");
}

#[test]
fn unresolved_next_hop_sends_one_arp_request_then_rate_limits() {
    let mut h = harness(TxCaps::default(), 1500);
    let f = from_a("10.0.2.3", 64, &udp(1, 2, 10));
    let out = h.send(h.p0, &[f.clone(), f]);
    assert_eq!(out.len(), 1, "one ARP request for two packets");
    let (node, req) = &out[0];
    assert_eq!(*node, "port-tx");
    assert_eq!(req.meta().tx_if, h.p1);
    let d = req.data();
    assert_eq!(d[..6], [0xff; 6]);
    assert_eq!(d[12..14], [8, 6]);
    assert_eq!(d[38..42], ip("10.0.2.3").octets(), "asks for the next hop");
    assert_eq!(
        h.errors("ip4-rewrite"),
        vec![
            ("next hop not resolved (ARP request sent)", 1),
            ("next hop not resolved (ARP request rate-limited)", 1)
        ]
    );
}

#[test]
fn ttl_expiry_answers_with_icmp_time_exceeded() {
    for ttl in [0u8, 1] {
        let mut h = harness(TxCaps::default(), 1500);
        let f = from_a("10.0.2.2", ttl, &udp(1000, 2000, 30));
        let out = h.send(h.p0, std::slice::from_ref(&f));
        assert_eq!(out.len(), 1, "ttl {ttl}");
        let (node, p) = &out[0];
        assert_eq!(
            (*node, p.meta().tx_if),
            ("port-tx", h.p0),
            "back out of pod0"
        );
        let d = p.data();
        assert_eq!(d[..6], POD_A);
        let ip4 = &d[14..];
        assert!(checksum::verifies(&ip4[..20]), "IPv4 checksum");
        assert_eq!(
            ip4[12..16],
            ip("10.0.1.1").octets(),
            "from our address on the ingress interface"
        );
        assert_eq!(ip4[16..20], ip("10.0.1.2").octets(), "to the sender");
        assert_eq!(ip4[8], 64, "our own packet: TTL not decremented");
        assert_eq!((ip4[20], ip4[21]), (11, 0));
        assert!(checksum::verifies(&ip4[20..]), "ICMP checksum");
        assert_eq!(ip4[28..], f[14..], "quotes the whole original packet");
        assert!(
            h.errors("ip4-rewrite")
                .contains(&("TTL expired in transit (ICMP time exceeded sent)", 1))
        );
    }
}

#[test]
fn icmp_errors_beyond_the_workers_limit_are_dropped_and_counted() {
    // Two at once, and the graph's clock (always 0 here) never refills the bucket.
    let mut h = harness_with(TxCaps::default(), 1000, IcmpLimit::new(1000, 2, 1_000_000));
    let expired: Vec<Vec<u8>> = (0..5)
        .map(|_| from_a("10.0.2.2", 1, &udp(1000, 2000, 30)))
        .collect();
    let out = h.send(h.p0, &expired);
    assert_eq!(out.len(), 2, "the burst of time-exceeded errors");
    // Fragmentation-needed errors draw on the same bucket, now empty.
    let big_df = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.2", 64, 17, true, &udp(1000, 2000, 1200)),
    );
    assert!(h.send(h.p0, &[big_df]).is_empty());
    let errors = h.errors("ip4-rewrite");
    for (reason, n) in [
        (Ip4RewriteError::TtlExpired, 2),
        (Ip4RewriteError::TtlExpiredLimited, 3),
        (Ip4RewriteError::FragNeededLimited, 1),
    ] {
        assert!(
            errors.contains(&(reason.name(), n)),
            "{} x{n}; counted {errors:?}",
            reason.name()
        );
    }
}

#[test]
fn too_big_with_df_gets_frag_needed_and_without_df_is_dropped() {
    let mut h = harness(TxCaps::default(), 1000);
    let big = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.2", 64, 17, true, &udp(1, 2, 1200)),
    );
    let out = h.send(h.p0, std::slice::from_ref(&big));
    assert_eq!(out.len(), 1);
    let d = out[0].1.data();
    assert_eq!((d[14 + 20], d[14 + 21]), (3, 4), "fragmentation needed");
    assert_eq!(
        u16::from_be_bytes([d[14 + 26], d[14 + 27]]),
        1000,
        "next-hop MTU"
    );
    assert_eq!(d.len(), 14 + 28 + 548, "quote cut at 548 bytes");
    assert!(checksum::verifies(&d[14 + 20..]));
    let big = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.2", 64, 17, false, &udp(1, 2, 1200)),
    );
    assert!(h.send(h.p0, &[big]).is_empty());
    assert!(
        h.errors("ip4-rewrite")
            .contains(&("too big without DF (fragmentation not supported)", 1))
    );
    // Exactly the MTU passes.
    let fits = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.2", 64, 17, true, &udp(1, 2, 1000 - 28)),
    );
    assert_eq!(h.send(h.p0, &[fits]).len(), 1);
}

#[test]
fn no_icmp_error_about_an_icmp_error() {
    let mut h = harness(TxCaps::default(), 1500);
    let err = [11u8, 0, 0xf4, 0xff, 0, 0, 0, 0];
    let f = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.2", 1, 1, false, &err),
    );
    assert!(h.send(h.p0, &[f]).is_empty());
    assert_eq!(
        h.errors("ip4-rewrite"),
        vec![("TTL expired in transit (no ICMP allowed)", 1)]
    );
}

#[test]
fn ping_to_our_address_is_answered() {
    let mut h = harness(TxCaps::default(), 1500);
    let req = echo_request(7, 56);
    let f = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.1.1", 64, 1, false, &req),
    );
    let out = h.send(h.p0, &[f]);
    assert_eq!(out.len(), 1);
    let (node, p) = &out[0];
    assert_eq!((*node, p.meta().tx_if), ("port-tx", h.p0));
    let d = p.data();
    assert_eq!(
        (d[..6].to_vec(), d[6..12].to_vec()),
        (POD_A.to_vec(), MAC0.to_vec())
    );
    let ip4 = &d[14..];
    assert!(checksum::verifies(&ip4[..20]));
    assert_eq!(ip4[12..16], ip("10.0.1.1").octets());
    assert_eq!(ip4[16..20], ip("10.0.1.2").octets());
    assert_eq!(ip4[20], 0, "echo reply");
    assert!(
        checksum::verifies(&ip4[20..]),
        "ICMP checksum patched correctly"
    );
    assert_eq!(ip4[24..], req[4..], "ident, sequence and data echoed");
    // Ping the other interface's address from pod A too (routed to local).
    let f = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.2.1", 64, 1, false, &req),
    );
    assert_eq!(h.send(h.p0, &[f]).len(), 1);
}

/// Echo replies (locally originated, header checksum pending) to a host behind a resolved
/// gateway take ip4-rewrite's precomputed rewrite, which fills the checksum as the full path
/// does: in software, or asked of a NIC that can.
#[test]
fn replies_via_a_gateway_get_their_pending_checksum_on_the_fast_path() {
    let req = echo_request(3, 24);
    let frame = eth(
        MAC1,
        POD_B,
        0x0800,
        &ipv4("10.9.0.5", "10.0.2.1", 64, 1, false, &req),
    );
    for offload in [false, true] {
        let caps = TxCaps {
            ipv4_csum: offload,
            ..Default::default()
        };
        let mut h = harness(caps, 1500);
        h.c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.2.2")])
            .unwrap();
        h.g.quiescent();
        // What makes the reply take the fast path: the gateway's precomputed rewrite.
        let st = h.c.state();
        assert!(
            st.adjs.iter().zip(&st.rewrites).any(|(a, r)| {
                matches!(a, crate::fwd::Adj::Via { gw, .. } if *gw == ip("10.0.2.2")) && r.is_some()
            }),
            "the gateway 10.0.2.2 has a precomputed rewrite"
        );
        let out = h.send(h.p1, std::slice::from_ref(&frame));
        assert_eq!(out.len(), 1, "offload {offload}");
        let (node, p) = &out[0];
        assert_eq!((*node, p.meta().tx_if), ("port-tx", h.p1));
        assert_eq!(p.meta().flags & PacketMeta::F_IP4_CSUM_PENDING, 0);
        let d = p.data();
        assert_eq!(d[..6], POD_B, "to the gateway's MAC");
        assert_eq!(d[14 + 8], 64, "our own reply keeps its TTL");
        assert_eq!(d[14 + 16..14 + 20], ip("10.9.0.5").octets());
        let o = p.tx_offload();
        if offload {
            assert!(
                o.ip_csum && o.ipv4 && o.l2_len == 14 && o.l3_len == 20,
                "{o:?}"
            );
            assert_eq!(d[24..26], [0, 0], "checksum field left for the NIC");
        } else {
            assert_eq!(o, Default::default());
            assert!(checksum::verifies(&d[14..34]), "header checksum filled");
        }
    }
}

#[test]
fn checksum_offload_requests_what_software_would_write() {
    let req = echo_request(1, 20);
    let frame = eth(
        MAC1,
        POD_B,
        0x0800,
        &ipv4("10.0.2.2", "10.0.2.1", 64, 1, false, &req),
    );
    let mut hw = harness(
        TxCaps {
            ipv4_csum: true,
            ..Default::default()
        },
        1500,
    );
    let mut sw = harness(TxCaps::default(), 1500);
    let hw_out = hw.send(hw.p1, std::slice::from_ref(&frame)).remove(0).1;
    let sw_out = sw.send(sw.p1, std::slice::from_ref(&frame)).remove(0).1;
    let o = hw_out.tx_offload();
    assert!(
        o.ip_csum && o.ipv4 && o.l2_len == 14 && o.l3_len == 20,
        "{o:?}"
    );
    assert_eq!(
        hw_out.data()[24..26],
        [0, 0],
        "checksum field left for the NIC"
    );
    assert_eq!(
        sw_out.tx_offload(),
        Default::default(),
        "software path asks nothing of the NIC"
    );
    // What the NIC would write: the checksum of the header as sent.
    let mut nic = hw_out.data().to_vec();
    let c = !checksum::sum(&nic[14..34]);
    nic[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        nic,
        sw_out.data(),
        "software result equals the hardware result"
    );
}

#[test]
fn ecmp_spreads_flows_and_keeps_each_flow_on_one_path() {
    let mut h = harness(TxCaps::default(), 1500);
    h.c.set_neighbor(h.p1, ip("10.0.2.3"), [2, 0, 0, 0, 0xc, 0xc], true)
        .unwrap();
    h.c.add_route(ip("10.50.0.0"), 16, &[ip("10.0.2.2"), ip("10.0.2.3")])
        .unwrap();
    h.g.quiescent();
    let mut per_flow = Vec::new();
    for sport in 0..64u16 {
        let f = from_a("10.50.1.1", 64, &udp(1000 + sport, 80, 10));
        let a = h.send(h.p0, std::slice::from_ref(&f)).remove(0).1.data()[..6].to_vec();
        let b = h.send(h.p0, &[f]).remove(0).1.data()[..6].to_vec();
        assert_eq!(a, b, "a flow stays on its path");
        per_flow.push(a);
    }
    let via_b = per_flow.iter().filter(|m| m[..] == POD_B).count();
    assert!(
        (16..=48).contains(&via_b),
        "64 flows over 2 paths: {via_b} took the first"
    );
}

#[test]
fn udp_to_a_vtep_goes_to_decap_and_other_udp_is_counted() {
    let mut h = harness(TxCaps::default(), 1500);
    h.c.add_vxlan(
        "vx",
        crate::fwd::VxlanTunnel {
            vni: 100,
            local: ip("10.0.1.1"),
            remote: ip("10.0.1.2"),
            udp_port: 4789,
        },
        [2, 0, 0, 0, 0, 0x99],
        1450,
    )
    .unwrap();
    h.g.quiescent();
    let to_vtep = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.1.1", 64, 17, false, &udp(5555, 4789, 50)),
    );
    let other = eth(
        MAC0,
        POD_A,
        0x0800,
        &ipv4("10.0.1.2", "10.0.1.1", 64, 17, false, &udp(5555, 53, 50)),
    );
    let out = h.send(h.p0, &[to_vtep.clone(), other]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "vxlan-decap");
    assert_eq!(out[0].1.data()[0], 0x45, "data at the outer IPv4 header");
    assert_eq!(
        h.errors("ip4-local"),
        vec![("UDP to a port nothing listens on", 1)]
    );
    // ethernet-input took the VTEP's packet straight to decap (ip4-input's bypass, decided
    // where the header was already at hand): only the other one was looked up.
    assert_eq!(h.packets("ip4-lookup"), 1);
    assert_eq!(h.packets("ip4-input"), 0);

    // With IPv4 options the bypass does not look: the packet gets there through ip4-lookup
    // and ip4-local.
    let opts = ipv4_with_options("10.0.1.2", "10.0.1.1", &udp(5555, 4789, 50));
    let out = h.send(h.p0, &[eth(MAC0, POD_A, 0x0800, &opts)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "vxlan-decap");
    assert_eq!((h.packets("ip4-lookup"), h.packets("ip4-local")), (2, 2));

    // The VTEP's address goes away: its packets are no longer ours, not even through the
    // bypass (there is no route left for them).
    h.c.del_address("pod0", ip("10.0.1.1"), 24).unwrap();
    h.g.quiescent();
    assert!(h.send(h.p0, &[to_vtep]).is_empty());
    assert_eq!(h.packets("ip4-lookup"), 3);
    assert_eq!(h.errors("ip4-lookup"), vec![("no route to destination", 1)]);
}

#[test]
fn arp_goes_to_arp_input_without_its_ethernet_header() {
    let mut h = harness(TxCaps::default(), 1500);
    let arp = [0u8, 1, 8, 0, 6, 4, 0, 1];
    let out = h.send(h.p0, &[eth([0xff; 6], POD_A, 0x0806, &arp)]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "arp-input");
    assert_eq!(out[0].1.data(), &arp);
    assert_eq!(out[0].1.meta().l2_len, 14);
}

#[test]
fn malformed_packets_are_dropped_by_reason_never_panicking() {
    let mut h = harness(TxCaps::default(), 1500);
    let good = from_a("10.0.2.2", 64, &udp(1, 2, 40));
    // Truncated at every length.
    for len in 0..good.len() {
        h.send(h.p0, &[good[..len].to_vec()]);
    }
    let mut bad_version = good.clone();
    bad_version[14] = 0x65;
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    let mut long_total = good.clone();
    long_total[16..18].copy_from_slice(&2000u16.to_be_bytes());
    let mut bad_csum = good.clone();
    bad_csum[24] ^= 0xff;
    let mut not_us = good.clone();
    not_us[..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
    let ipv6 = eth(MAC0, POD_A, 0x86dd, &[0x60; 40]);
    let vlan = eth(MAC0, POD_A, 0x8100, &[0, 5, 8, 0]);
    let other = eth(MAC0, POD_A, 0x88cc, &[0; 40]);
    let no_route = from_a("192.0.2.9", 64, &udp(1, 2, 4));
    let out = h.send(
        h.p0,
        &[
            bad_version,
            bad_ihl,
            long_total,
            bad_csum,
            not_us,
            ipv6,
            vlan,
            other,
            no_route,
        ],
    );
    assert!(
        out.is_empty(),
        "nothing malformed gets out: {:?}",
        out.iter().map(|o| o.0).collect::<Vec<_>>()
    );
    assert_eq!(
        h.errors("ethernet-input"),
        vec![
            ("frame shorter than an Ethernet header", 14),
            ("destination MAC is not ours", 1),
            ("VLAN-tagged frame (no VLAN sub-interfaces configured)", 1),
            ("IPv6 frame (IPv6 not enabled)", 1),
            ("unknown EtherType", 1),
        ]
    );
    assert_eq!(
        h.errors("ip4-input"),
        vec![
            ("IPv4 header truncated", 20),
            ("IP version is not 4", 1),
            ("IPv4 header length below 20 bytes", 1),
            ("IPv4 total length disagrees with the frame", 1 + 48),
            ("IPv4 header checksum wrong", 1),
        ]
    );
    assert_eq!(h.errors("ip4-lookup"), vec![("no route to destination", 1)]);
    // A NIC verdict is trusted.
    let mut p = VecBuf::on(h.p0, &good);
    p.rx.ip = CsumStatus::Bad;
    h.inject("ethernet-input", [p]);
    assert!(
        h.errors("ip4-input")
            .contains(&("IPv4 header checksum wrong", 2))
    );
}

#[test]
fn ethernet_padding_is_trimmed() {
    let mut h = harness(TxCaps::default(), 1500);
    let mut f = from_a("10.0.2.2", 64, &udp(1, 2, 2));
    let unpadded = f.len();
    f.extend_from_slice(&[0; 20]);
    let out = h.send(h.p0, &[f]);
    assert_eq!(out[0].1.data().len(), unpadded);
    assert_eq!(h.packets("ip4-input"), 1, "trimmed by ip4-input");
}

#[test]
fn clean_ipv4_goes_past_ip4_input_and_everything_else_through_it() {
    let mut h = harness(TxCaps::default(), 1500);
    let clean = from_a("10.0.2.2", 64, &udp(1, 2, 10));
    let out = h.send(h.p0, std::slice::from_ref(&clean));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "port-tx");
    assert_eq!(
        (h.packets("ip4-input"), h.packets("ip4-lookup")),
        (0, 1),
        "ethernet-input checked it and sent it on to ip4-lookup"
    );

    let mut bad_sum = clean.clone();
    bad_sum[14 + 10] ^= 0x40;
    let options = ipv4_with_options("10.0.1.2", "10.0.2.2", &udp(1, 2, 10));
    let mut too_long = clean.clone();
    too_long[14 + 3] += 1;
    too_long[14 + 11] = too_long[14 + 11].wrapping_sub(1);
    assert!(
        checksum::verifies(&too_long[14..34]),
        "only the length is wrong"
    );
    let out = h.send(
        h.p0,
        &[bad_sum, eth(MAC0, POD_A, 0x0800, &options), too_long],
    );
    assert_eq!(out.len(), 1, "the packet with options is routed");
    assert_eq!(h.packets("ip4-input"), 3, "each went through ip4-input");
    assert_eq!(
        h.errors("ip4-input"),
        vec![
            ("IPv4 total length disagrees with the frame", 1),
            ("IPv4 header checksum wrong", 1),
        ]
    );
}

/// ethernet-input judges each frame by the interface it came in on, looked up again whenever
/// that changes within a vector: frames from an interface that is down or unknown are
/// counted wherever they sit, and the frames around them still go through; a broadcast IPv4
/// frame gets in too, marked as sent to a group address.
#[test]
fn each_frame_is_judged_by_the_interface_it_came_in_on() {
    let mut h = harness(TxCaps::default(), 1500);
    h.c.set_up("pod1", false).unwrap();
    h.g.quiescent();
    let to_a = from_a("10.0.1.2", 64, &udp(1, 2, 4));
    let mut on_p1 = to_a.clone();
    on_p1[..6].copy_from_slice(&MAC1);
    let mut broadcast = to_a.clone();
    broadcast[..6].fill(0xff);
    let frames = [
        (h.p0, &to_a),
        (h.p1, &on_p1),
        (h.p0, &to_a),
        (42, &to_a),
        (h.p1, &on_p1),
        (h.p0, &broadcast),
        (h.p0, &to_a),
    ];
    let out = h.inject(
        "ethernet-input",
        frames.map(|(rx_if, f)| VecBuf::on(rx_if, f)),
    );
    assert_eq!(
        out.iter().map(|o| o.0).collect::<Vec<_>>(),
        vec!["port-tx"; 4],
        "the four frames from pod0"
    );
    let group: Vec<bool> = out
        .iter()
        .map(|(_, p)| p.meta().flags & PacketMeta::F_L2_MCAST != 0)
        .collect();
    assert_eq!(group, [false, false, true, false]);
    assert_eq!(
        h.errors("ethernet-input"),
        vec![
            ("arrived on an unknown interface", 1),
            ("arrived on an interface that is down", 2),
        ]
    );
}

/// ip4-lookup on its own, one vector: the common case (a next hop to rewrite for) between
/// every other outcome, each sent or counted where it belongs.
#[test]
fn ip4_lookup_sends_each_packet_by_its_route() {
    let mut h = harness(TxCaps::default(), 1500);
    // A route for the address a truncated packet would be read as (0.0.0.0; inside the
    // special-use 0/8, more specific, so taken for whole packets): it must not be taken.
    h.c.add_route(ip("0.0.0.0"), 24, &[ip("10.0.2.2")]).unwrap();
    h.g.quiescent();
    let to_b = ipv4("10.0.1.2", "10.0.2.2", 64, 17, false, &udp(1, 2, 4));
    let packets = [
        to_b.clone(),
        to_b[..10].to_vec(),
        ipv4("10.0.1.2", "192.0.2.9", 64, 17, false, &udp(1, 2, 4)),
        ipv4("10.0.1.2", "10.0.1.1", 64, 17, false, &udp(1, 2, 4)),
        to_b,
    ];
    let p0 = h.p0;
    let out = h.inject("ip4-lookup", packets.iter().map(|ip| VecBuf::on(p0, ip)));
    let dsts: Vec<&[u8]> = out.iter().map(|(_, p)| &p.data()[30..34]).collect();
    assert_eq!(
        dsts,
        [[10, 0, 2, 2], [10, 0, 2, 2]],
        "both to pod B, rewritten"
    );
    assert_eq!(
        h.errors("ip4-lookup"),
        vec![
            ("no route to destination", 1),
            ("packet too short for an IPv4 destination", 1),
        ]
    );
    assert_eq!(h.packets("ip4-local"), 1, "the one to our own address");
}

#[test]
fn special_use_destinations_are_never_forwarded_even_by_a_default_route() {
    let mut h = harness(TxCaps::default(), 1500);
    h.c.add_route(ip("0.0.0.0"), 0, &[ip("10.0.2.2")]).unwrap();
    h.g.quiescent();
    let to = |dsts: &[&str]| -> Vec<Vec<u8>> {
        dsts.iter()
            .map(|d| from_a(d, 64, &udp(1000, 2000, 100)))
            .collect()
    };
    let special = [
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.5",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
    ];
    let out = h.send(h.p0, &to(&special));
    assert!(out.is_empty(), "{} forwarded", out.len());
    assert_eq!(
        h.errors("ip4-lookup"),
        vec![(Ip4LookupError::SpecialUse.name(), special.len() as u64)]
    );
    // Their neighbours in the address space are routed as any other, and the special
    // prefixes are not among the configured routes.
    let edges = ["1.0.0.0", "126.255.255.255", "128.0.0.1", "223.255.255.255"];
    let out = h.send(h.p0, &to(&edges));
    assert_eq!(out.len(), edges.len(), "{:?}", h.errors("ip4-lookup"));
    assert!(h.c.routes().all(|r| r.prefix != ip("224.0.0.0")));
    // The special prefixes themselves are the dataplane's: neither a route nor an address.
    let e = h.c.add_route(ip("224.0.0.0"), 3, &[ip("10.0.2.2")]);
    assert!(matches!(e, Err(FwdError::SpecialUse(..))), "{e:?}");
    let e = h.c.add_address("pod0", ip("127.0.0.2"), 8);
    assert!(matches!(e, Err(FwdError::SpecialUse(..))), "{e:?}");
    // A more specific route inside one is the operator's choice, and taken.
    h.c.add_route(ip("239.1.0.0"), 16, &[ip("10.0.2.2")])
        .unwrap();
    h.g.quiescent();
    let out = h.send(h.p0, &to(&["239.1.2.3"]));
    assert_eq!(out.len(), 1);
}
