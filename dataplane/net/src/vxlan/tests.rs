//! The VXLAN nodes in a real [`Graph`] over in-memory buffers, with forwarding state built by
//! a real [`Control`]: byte-for-byte interop with a Linux kernel `vxlan` device (id 100,
//! dstport 4789; the packet below was captured from one), every drop reason, state refreshes,
//! the decapsulation depth bound, and encap -> decap round trips.
//!
//! Recording sinks stand in for the nodes around ours (`ip4-lookup` after encap,
//! `ethernet-input` after decap), so the tests see exactly what those nodes would get.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use super::*;
use crate::buffer::{CsumStatus, PacketBuf, PacketMeta, VecAlloc, VecBuf};
use crate::fwd::{Control, FwdState, IfIndex, TxCaps, VxlanTunnel};
use crate::graph::{Graph, GraphBuilder, Nexts, Node, NodeCtx, Vector};
use crate::ip4::Ip4Rewrite;
use crate::ip4::rewrite::Ip4RewriteError;
use crate::rcu::{Domain, Rcu, RcuReader};
use crate::wire::{Checksum, Ipv4Packet, VXLAN_ENCAP_V4_LEN, checksum, vxlan_source_port};

/// A Linux kernel `vxlan` device (VNI 100, dstport 4789) at 10.99.1.2 sending an
/// Ethernet/IPv4 echo request 172.16.99.2 -> 172.16.99.1 to 10.99.1.1, from UDP port 32822,
/// IPv4 identification 0x2e52, DF clear, TTL 64, with the outer UDP checksum computed in full.
use crate::wire::fixtures::VXLAN_ECHO_FRAME as KERNEL_ECHO;

/// The kernel VTEP and ours, as in the capture.
const KERNEL: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 2);
const US: Ipv4Addr = Ipv4Addr::new(10, 99, 1, 1);
const VNI: u32 = 100;

/// The outer IPv4 packet the kernel sent (what ip4-local hands vxlan-decap).
fn kernel_outer() -> Vec<u8> {
    KERNEL_ECHO[14..].to_vec()
}

/// The inner Ethernet frame the kernel encapsulated.
fn kernel_inner() -> &'static [u8] {
    &KERNEL_ECHO[14 + VXLAN_ENCAP_V4_LEN..]
}

fn fill_ip_csum(outer: &mut [u8]) {
    Ipv4Packet::new_unchecked(outer).fill_checksum(Checksum::Software);
}

fn decap_reason(e: VxlanDecapError) -> &'static str {
    e.name()
}

fn encap_reason(e: VxlanEncapError) -> &'static str {
    e.name()
}

type Seen = Arc<Mutex<Vec<VecBuf>>>;

crate::arcs! { enum SinkNext { Drop => "drop" } }

/// Stands in for the node named `.0`: records every packet, then frees it.
struct Sink(&'static str, Seen);

impl Node<VecBuf> for Sink {
    fn name(&self) -> &'static str {
        self.0
    }
    fn arcs(&self) -> &'static [&'static str] {
        SinkNext::TARGETS
    }
    fn process(
        &mut self,
        pkts: &mut Vector<VecBuf>,
        next: &mut Nexts,
        _: &mut NodeCtx<'_, VecBuf>,
    ) {
        let mut seen = self.1.lock().unwrap();
        for (i, p) in pkts.iter().enumerate() {
            seen.push(p.clone());
            next[i] = SinkNext::Drop.arc();
        }
    }
}

/// A dataplane with one uplink port at `local`/24 and tunnel `vx100` (VNI 100, port 4789)
/// to `remote`.
fn control(local: Ipv4Addr, remote: Ipv4Addr) -> (Control, IfIndex, IfIndex) {
    let mut c = Control::for_tests(1024);
    let port = c
        .add_port("uplink", 0, [2, 0, 0, 0, 0, 1], 1500, TxCaps::default())
        .unwrap();
    c.add_address("uplink", local, 24).unwrap();
    let tunnel = c
        .add_vxlan(
            "vx100",
            VxlanTunnel {
                vni: VNI,
                local,
                remote,
                udp_port: 4789,
            },
            [2, 0, 0, 0, 1, 1],
            1450,
        )
        .unwrap();
    c.add_address("vx100", Ipv4Addr::new(172, 16, 99, 1), 24)
        .unwrap();
    (c, port, tunnel)
}

/// One worker's graph: ip4-rewrite, vxlan-encap and vxlan-decap between recording sinks.
struct Site {
    graph: Graph<VecBuf>,
    /// What reached ip4-lookup (after encap).
    routed: Seen,
    /// What reached ethernet-input (after decap).
    inner: Seen,
    /// What reached ip4-input (after decap: inner IPv4 frames to the tunnel's MAC or a group
    /// address, their Ethernet header taken off).
    inner_ip4: Seen,
    /// What reached port-tx (encap over a resolved underlay).
    sent: Seen,
    tunnel: IfIndex,
    port: IfIndex,
}

impl Site {
    fn with_reader(reader: RcuReader<FwdState>, port: IfIndex, tunnel: IfIndex) -> Site {
        let (routed, inner, sent) = (Seen::default(), Seen::default(), Seen::default());
        let inner_ip4 = Seen::default();
        let mut b = GraphBuilder::new();
        b.add(Ip4Rewrite::new(reader.clone(), 1000));
        b.add(VxlanEncap::new(reader.clone()));
        b.add(VxlanDecap::new(reader));
        b.add(Sink("ip4-lookup", routed.clone()));
        b.add(Sink("ethernet-input", inner.clone()));
        b.add(Sink("ip4-input", inner_ip4.clone()));
        b.add(Sink("port-tx", sent.clone()));
        Site {
            graph: b.build(|| 0, Box::new(VecAlloc::default())).unwrap(),
            routed,
            inner,
            inner_ip4,
            sent,
            tunnel,
            port,
        }
    }

    /// A site at `local` with its tunnel to `remote`; keeps the control plane for changes.
    fn new(local: Ipv4Addr, remote: Ipv4Addr) -> (Site, Control) {
        let (c, port, tunnel) = control(local, remote);
        let site = Site::with_reader(c.readers().1, port, tunnel);
        (site, c)
    }

    /// A site whose state the test publishes itself (to delete or change a tunnel, which
    /// `Control` has no call for yet), seeded from a real control plane.
    fn with_rcu(local: Ipv4Addr, remote: Ipv4Addr) -> (Site, Rcu<FwdState>) {
        let (c, port, tunnel) = control(local, remote);
        let rcu = Rcu::new(&Domain::new(1), (*c.state()).clone());
        (Site::with_reader(rcu.reader(), port, tunnel), rcu)
    }

    fn errors(&self, node: &str) -> Vec<u64> {
        let id = self.graph.node_id(node).unwrap();
        self.graph.stats(id).errors.clone()
    }

    /// Runs `pkts` through `node` as one vector.
    fn run(&mut self, node: &str, pkts: Vec<VecBuf>) {
        let id = self.graph.node_id(node).unwrap();
        let mut v = self.graph.take_vector();
        v.extend(pkts);
        self.graph.enqueue_vector(id, v);
        self.graph.run();
    }

    /// Runs one packet through `node`: the node it went to and what came out the other
    /// side, or the one reason it was dropped under (and checks it was counted exactly once).
    fn one(
        &mut self,
        node: &str,
        names: &'static [&'static str],
        p: VecBuf,
    ) -> Result<(&'static str, VecBuf), &'static str> {
        let before = self.errors(node);
        self.run(node, vec![p]);
        let after = self.errors(node);
        let mut out = Vec::new();
        for (to, seen) in [
            ("ip4-lookup", &self.routed),
            ("ethernet-input", &self.inner),
            ("ip4-input", &self.inner_ip4),
            ("port-tx", &self.sent),
        ] {
            out.extend(
                seen.lock()
                    .unwrap()
                    .split_off(0)
                    .into_iter()
                    .map(|p| (to, p)),
            );
        }
        let counted: Vec<usize> = (0..after.len())
            .filter(|&i| after[i] != before[i])
            .collect();
        match (out.len(), counted.as_slice()) {
            (1, []) => Ok(out.pop().unwrap()),
            (0, &[i]) if after[i] == before[i] + 1 => Err(names[i]),
            _ => panic!(
                "one packet in: {} out, counters {before:?} -> {after:?}",
                out.len()
            ),
        }
    }

    fn encap(&mut self, p: VecBuf) -> Result<VecBuf, &'static str> {
        self.one("vxlan-encap", VxlanEncapError::NAMES, p)
            .map(|(_, p)| p)
    }

    /// Decapsulates one packet: the node it went to and the packet as that node got it.
    fn decap_to(&mut self, p: VecBuf) -> Result<(&'static str, VecBuf), &'static str> {
        self.one("vxlan-decap", VxlanDecapError::NAMES, p)
    }

    /// Decapsulates one packet: the inner frame, whole ([`whole`]).
    fn decap(&mut self, p: VecBuf) -> Result<VecBuf, &'static str> {
        self.decap_to(p).map(|(_, p)| whole(p))
    }

    /// An inner frame to send through the tunnel, as ip4-rewrite leaves it.
    fn to_tunnel(&self, inner: &[u8], flow_hash: u32) -> VecBuf {
        let mut p = VecBuf::on(7, inner);
        p.meta_mut().tx_if = self.tunnel;
        p.meta_mut().flow_hash = flow_hash;
        p
    }

    /// An outer IPv4 packet as ip4-local hands it over, received on the uplink.
    fn arriving(&self, outer: &[u8]) -> VecBuf {
        VecBuf::on(self.port, outer)
    }
}

/// A decapsulated packet as the inner Ethernet frame: the ones vxlan-decap took on to
/// ip4-input had their Ethernet header stripped too (`l2_len` 14, the header's bytes still in
/// the buffer in front of the data), so it is put back to compare frames whole. Tests that
/// care about the path use [`Site::decap_to`].
fn whole(mut p: VecBuf) -> VecBuf {
    if p.meta().l2_len == 14 {
        assert!(p.prepend(14).is_some());
        p.meta_mut().l2_len = 0;
    }
    p
}

// ---------------------------------------------------------------------------------------
// vxlan-encap
// ---------------------------------------------------------------------------------------

#[test]
fn encap_writes_what_the_kernel_vxlan_device_sends() {
    // We play the kernel's side of the capture: 10.99.1.2 -> 10.99.1.1, VNI 100.
    let (mut site, _c) = Site::new(KERNEL, US);
    let mut p = site.to_tunnel(kernel_inner(), 0x1234_5678);
    p.meta_mut().flags = PacketMeta::F_L2_MCAST;
    p.meta_mut().decap_depth = 1;
    p.meta_mut().trace = 3;
    let out = site.encap(p).unwrap();
    let data = out.data();
    assert_eq!(data.len(), VXLAN_ENCAP_V4_LEN + kernel_inner().len());
    assert_eq!(
        &data[VXLAN_ENCAP_V4_LEN..],
        kernel_inner(),
        "inner frame untouched"
    );
    assert_eq!(
        &data[10..12],
        &[0, 0],
        "outer IPv4 checksum left for ip4-rewrite"
    );
    assert_eq!(&data[26..28], &[0, 0], "outer UDP checksum 0 (RFC 7348)");
    assert_eq!(
        u16::from_be_bytes([data[20], data[21]]),
        vxlan_source_port(0x1234_5678),
        "source port from the packet's flow hash"
    );

    // Give our header the two fields we cannot match (identification, UDP source port) the
    // kernel's values, compute the checksum as ip4-rewrite will: then every byte of the
    // outer IPv4 + UDP + VXLAN header equals the kernel's, checksum included, but for the
    // outer UDP checksum, which the kernel computed and RFC 7348 lets us leave 0.
    let mut ours = data[..VXLAN_ENCAP_V4_LEN].to_vec();
    ours[4..6].copy_from_slice(&0x2e52u16.to_be_bytes());
    ours[20..22].copy_from_slice(&32822u16.to_be_bytes());
    fill_ip_csum(&mut ours);
    let mut kernel = KERNEL_ECHO[14..14 + VXLAN_ENCAP_V4_LEN].to_vec();
    kernel[26..28].fill(0);
    assert_eq!(ours, kernel);

    let m = out.meta();
    assert_eq!(
        m.flags,
        PacketMeta::F_IP4_CSUM_PENDING | PacketMeta::F_LOCAL_ORIGIN,
        "pending checksum, locally originated; inner packet's flags gone"
    );
    assert_eq!((m.rx_if, m.tx_if), (7, site.tunnel));
    assert_eq!((m.decap_depth, m.trace, m.flow_hash), (1, 3, 0x1234_5678));
}

#[test]
fn encap_over_a_resolved_underlay_writes_the_whole_frame_for_port_tx() {
    // We are the kernel's side again: local 10.99.1.2, remote 10.99.1.1 on the uplink.
    let (mut site, mut c) = Site::new(KERNEL, US);
    let unstacked = site
        .encap(site.to_tunnel(kernel_inner(), 0x1234_5678))
        .unwrap();
    assert_eq!(
        unstacked.len(),
        VXLAN_ENCAP_V4_LEN + kernel_inner().len(),
        "remote VTEP not resolved yet: the outer packet is routed"
    );
    assert!(site.sent.lock().unwrap().is_empty());

    let gw_mac = [2, 0, 0, 0, 0, 0x99];
    c.set_neighbor(site.port, US, gw_mac, true).unwrap();
    site.graph.quiescent();
    let stacked = site
        .encap(site.to_tunnel(kernel_inner(), 0x1234_5678))
        .unwrap();
    let d = stacked.data();
    assert_eq!(
        d.len(),
        14 + VXLAN_ENCAP_V4_LEN + kernel_inner().len(),
        "outer Ethernet header written too"
    );
    assert_eq!(&d[..6], &gw_mac, "to the remote VTEP's MAC");
    assert_eq!(&d[6..12], &[2, 0, 0, 0, 0, 1], "from the uplink's MAC");
    assert_eq!(&d[12..14], &[0x08, 0x00]);
    let outer = &d[14..];
    assert!(
        checksum::verifies(&outer[..20]),
        "outer IPv4 checksum filled in, not left pending"
    );
    // The same outer header the routed path writes, once ip4-rewrite filled its checksum.
    let mut expect = unstacked.data()[..VXLAN_ENCAP_V4_LEN].to_vec();
    expect[4..6].copy_from_slice(&outer[4..6]);
    fill_ip_csum(&mut expect);
    assert_eq!(&outer[..VXLAN_ENCAP_V4_LEN], &expect[..]);
    assert_eq!(&outer[VXLAN_ENCAP_V4_LEN..], kernel_inner());
    let m = stacked.meta();
    assert_eq!(m.tx_if, site.port, "leaves on the uplink port");
    assert_eq!(m.flags, PacketMeta::F_LOCAL_ORIGIN, "nothing pending");

    // An outer packet over the uplink's MTU takes the routed path (which counts it).
    let big = vec![0u8; 1500 - VXLAN_ENCAP_V4_LEN + 1];
    let routed = site.encap(site.to_tunnel(&big, 1)).unwrap();
    assert_eq!(routed.len(), VXLAN_ENCAP_V4_LEN + big.len());

    // The neighbor goes: routed again.
    assert!(c.del_neighbor(site.port, US).unwrap());
    site.graph.quiescent();
    let again = site.encap(site.to_tunnel(kernel_inner(), 1)).unwrap();
    assert_eq!(again.len(), VXLAN_ENCAP_V4_LEN + kernel_inner().len());
}

#[test]
fn the_underlay_follows_route_changes() {
    // The remote VTEP is behind a gateway: the underlay is the route's.
    let remote = Ipv4Addr::new(10, 77, 0, 9);
    let (c0, port, tunnel) = control(US, remote);
    let mut c = c0;
    let gw = Ipv4Addr::new(10, 99, 1, 254);
    c.set_neighbor(port, gw, [2, 0, 0, 0, 0, 0xfe], true)
        .unwrap();
    let underlay = |c: &Control| c.state().tunnel_underlay[usize::from(tunnel)];
    assert_eq!(underlay(&c), None, "no route to the remote VTEP");
    c.add_route(Ipv4Addr::new(10, 77, 0, 0), 16, &[gw]).unwrap();
    let u = underlay(&c).expect("resolved through the new route");
    assert_eq!((u.tx_if, &u.l2[..6]), (port, &[2, 0, 0, 0, 0, 0xfe][..]));
    c.set_up("uplink", false).unwrap();
    assert_eq!(underlay(&c), None, "the port went down");
    c.set_up("uplink", true).unwrap();
    assert!(underlay(&c).is_some());
    c.del_route(Ipv4Addr::new(10, 77, 0, 0), 16).unwrap();
    assert_eq!(underlay(&c), None, "the route went away");
}

#[test]
fn identification_counts_per_packet() {
    let (mut site, _c) = Site::new(KERNEL, US);
    let pkts = (0..3).map(|_| site.to_tunnel(kernel_inner(), 1)).collect();
    site.run("vxlan-encap", pkts);
    let idents: Vec<u16> = site
        .routed
        .lock()
        .unwrap()
        .iter()
        .map(|p| u16::from_be_bytes([p.data()[4], p.data()[5]]))
        .collect();
    assert_eq!(idents.len(), 3);
    assert_eq!(idents[1], idents[0].wrapping_add(1));
    assert_eq!(idents[2], idents[0].wrapping_add(2));
}

/// Ethernet + IPv4 + UDP 172.16.99.2:`sport` -> `dst`:`dport` carrying `payload`.
fn udp_frame(dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = kernel_inner()[..14 + 20].to_vec();
    let total = (20 + 8 + payload.len()) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[14 + 9] = 17;
    f[30..34].copy_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn source_port(outer: &VecBuf) -> u16 {
    u16::from_be_bytes([outer.data()[20], outer.data()[21]])
}

#[test]
fn outer_source_port_spreads_flows_and_is_stable_per_flow() {
    let (mut site, _c) = Site::new(KERNEL, US);
    let mut ports = std::collections::HashSet::new();
    for i in 0..64u16 {
        // No flow hash from the NIC or lookup: the node hashes the inner flow itself.
        let a = site.to_tunnel(&udp_frame([172, 16, 99, 1], 40000 + i, 9999, b"a"), 0);
        let b = site.to_tunnel(&udp_frame([172, 16, 99, 1], 40000 + i, 9999, b"bbbb"), 0);
        let (a, b) = (site.encap(a).unwrap(), site.encap(b).unwrap());
        let port = source_port(&a);
        assert!(port >= 49152, "port {port} outside the dynamic range");
        assert_eq!(port, source_port(&b), "one flow, one source port");
        assert_ne!(
            a.meta().flow_hash,
            0,
            "the computed hash is kept for the underlay"
        );
        assert_eq!(port, vxlan_source_port(a.meta().flow_hash));
        ports.insert(port);
    }
    for last in 2..34u8 {
        let p = site.to_tunnel(&udp_frame([172, 16, 99, last], 40000, 9999, b""), 0);
        ports.insert(source_port(&site.encap(p).unwrap()));
    }
    assert!(
        ports.len() >= 90,
        "96 flows got only {} source ports",
        ports.len()
    );
}

#[test]
fn encap_drops_packets_it_cannot_send_under_their_own_reasons() {
    let (mut site, mut rcu) = Site::with_rcu(KERNEL, US);
    // Not a tunnel: the uplink port, and an interface that does not exist.
    let mut p = site.to_tunnel(kernel_inner(), 1);
    p.meta_mut().tx_if = site.port;
    assert_eq!(site.encap(p), Err(encap_reason(VxlanEncapError::NoTunnel)));
    let mut p = site.to_tunnel(kernel_inner(), 1);
    p.meta_mut().tx_if = 999;
    assert_eq!(site.encap(p), Err(encap_reason(VxlanEncapError::NoTunnel)));

    // The 98-byte frame placed at the front of a fresh buffer leaves 30 bytes of headroom,
    // short of 36.
    let mut p = VecBuf::new(&[]);
    p.prepend(98).unwrap().copy_from_slice(kernel_inner());
    assert_eq!(p.headroom(), 30);
    p.meta_mut().tx_if = site.tunnel;
    assert_eq!(
        site.encap(p),
        Err(encap_reason(VxlanEncapError::NoHeadroom))
    );

    // An outer packet may not exceed 65535 bytes.
    let big = vec![0u8; 65535 - VXLAN_ENCAP_V4_LEN + 1];
    let p = site.to_tunnel(&big, 1);
    assert_eq!(site.encap(p), Err(encap_reason(VxlanEncapError::TooLong)));
    let fits = vec![0u8; 65535 - VXLAN_ENCAP_V4_LEN];
    let out = site.encap(site.to_tunnel(&fits, 1)).unwrap();
    assert_eq!(&out.data()[2..4], &[0xff, 0xff]);

    // The tunnel goes down: seen at the next quiescent point.
    let mut down = (*rcu.load()).clone();
    down.ifaces[site.tunnel as usize].as_mut().unwrap().up = false;
    rcu.publish(down);
    site.graph.quiescent();
    let p = site.to_tunnel(kernel_inner(), 1);
    assert_eq!(site.encap(p), Err(encap_reason(VxlanEncapError::Down)));
}

#[test]
fn encap_picks_up_new_tunnels_at_the_quiescent_point() {
    let (mut site, mut c) = Site::new(KERNEL, US);
    let t2 = c
        .add_vxlan(
            "vx200",
            VxlanTunnel {
                vni: 200,
                local: KERNEL,
                remote: Ipv4Addr::new(10, 99, 1, 3),
                udp_port: 8472,
            },
            [2, 0, 0, 0, 2, 2],
            1450,
        )
        .unwrap();
    let mut p = site.to_tunnel(kernel_inner(), 1);
    p.meta_mut().tx_if = t2;
    assert_eq!(
        site.encap(p.clone()),
        Err(encap_reason(VxlanEncapError::NoTunnel)),
        "a worker keeps its snapshot until its quiescent point"
    );
    site.graph.quiescent();
    let out = site.encap(p).unwrap();
    let d = out.data();
    assert_eq!(
        &d[16..20],
        &[10, 99, 1, 3],
        "outer destination: the new remote"
    );
    assert_eq!(u16::from_be_bytes([d[22], d[23]]), 8472);
    assert_eq!(&d[32..35], &[0, 0, 200], "VNI 200");
}

// ---------------------------------------------------------------------------------------
// The midchain: ip4-rewrite writing the whole frame into a stacked tunnel
// ---------------------------------------------------------------------------------------

/// The inner next hop behind the tunnel (on its 172.16.99.0/24), and its MAC.
const TUN_NH: Ipv4Addr = Ipv4Addr::new(172, 16, 99, 2);
const TUN_NH_MAC: [u8; 6] = [2, 0, 0, 0, 0x63, 2];
/// The remote VTEP's MAC on the uplink.
const REMOTE_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x99];

/// A site at the kernel's address whose tunnel is stacked (the remote VTEP resolved on the
/// uplink), with 10.50.0.0/16 routed into the tunnel via [`TUN_NH`] (resolved); returns the
/// route's adjacency too.
fn midchain_site() -> (Site, Control, u32) {
    let (mut site, mut c) = Site::new(KERNEL, US);
    c.set_neighbor(site.port, US, REMOTE_MAC, true).unwrap();
    c.set_neighbor(site.tunnel, TUN_NH, TUN_NH_MAC, true)
        .unwrap();
    c.add_route(Ipv4Addr::new(10, 50, 0, 0), 16, &[TUN_NH])
        .unwrap();
    site.graph.quiescent();
    let adj = c.fib().lookup(Ipv4Addr::new(10, 50, 1, 1)).unwrap();
    (site, c, adj)
}

/// An IPv4 packet (no Ethernet header) as ip4-lookup hands it to ip4-rewrite: UDP
/// 172.16.99.2:`sport` -> 10.50.1.`last`:9999 with `payload_len` bytes, TTL `ttl`, a right
/// header checksum, routed to adjacency `adj` with flow hash `hash` (0: none known).
fn routed(adj: u32, ttl: u8, sport: u16, last: u8, payload_len: usize, hash: u32) -> VecBuf {
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    let mut ip = udp_frame([10, 50, 1, last], sport, 9999, &payload)[14..].to_vec();
    ip[8] = ttl;
    fill_ip_csum(&mut ip);
    let mut p = VecBuf::on(7, &ip);
    p.meta_mut().adj = adj;
    p.meta_mut().flow_hash = hash;
    p
}

impl Site {
    fn rewrite(&mut self, p: VecBuf) -> Result<(&'static str, VecBuf), &'static str> {
        self.one("ip4-rewrite", Ip4RewriteError::NAMES, p)
    }

    /// Packets vxlan-encap has handled (what its runtime counters say).
    fn encapsulated(&self) -> u64 {
        let id = self.graph.node_id("vxlan-encap").unwrap();
        self.graph.stats(id).packets
    }
}

/// What ip4-rewrite and then vxlan-encap would make of `p` over the stacked tunnel: the inner
/// TTL decremented, the route's Ethernet header, vxlan-encap's whole outer frame.
fn rewrite_then_encap(site: &mut Site, p: &VecBuf) -> VecBuf {
    let mut inner = [0x08u8; 14].to_vec();
    inner[..6].copy_from_slice(&TUN_NH_MAC);
    inner[6..12].copy_from_slice(&[2, 0, 0, 0, 1, 1]);
    inner[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut ip = p.data().to_vec();
    ip[8] -= 1;
    fill_ip_csum(&mut ip);
    inner.extend_from_slice(&ip);
    let mut t = site.to_tunnel(&inner, p.meta().flow_hash);
    t.meta_mut().rx_if = p.meta().rx_if;
    site.encap(t).unwrap()
}

#[test]
fn a_route_into_a_stacked_tunnel_leaves_rewrite_whole_as_rewrite_then_encap_would_write_it() {
    let (site, _c, adj) = midchain_site();
    let site = std::cell::RefCell::new(site);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
    let cases = (
        2u8..=255,
        any::<u16>(),
        any::<u8>(),
        0usize..1500 - 64 - 20 - 8 + 1,
        prop_oneof![Just(0u32), any::<u32>()],
    );
    runner
        .run(&cases, |(ttl, sport, last, len, hash)| {
            let site = &mut *site.borrow_mut();
            let p = routed(adj, ttl, sport, last, len, hash);
            let want = rewrite_then_encap(site, &p);
            let before = site.encapsulated();
            let (to, got) = site.rewrite(p).unwrap();
            prop_assert_eq!(to, "port-tx");
            prop_assert_eq!(site.encapsulated(), before, "vxlan-encap not on the path");
            let (g, w) = (got.data(), want.data());
            prop_assert_eq!(g.len(), w.len());
            // Byte for byte, but for the outer identification (a counter per node) and the
            // outer checksum that covers it.
            prop_assert_eq!(&g[..18], &w[..18]);
            prop_assert_eq!(&g[20..24], &w[20..24]);
            prop_assert_eq!(&g[26..], &w[26..]);
            prop_assert!(checksum::verifies(&g[14..34]), "outer IPv4 checksum");
            prop_assert!(checksum::verifies(&g[64..84]), "inner IPv4 checksum");
            prop_assert_eq!(g[64 + 8], ttl - 1);
            let (gm, wm) = (got.meta(), want.meta());
            prop_assert_eq!(gm.tx_if, site.port);
            prop_assert_eq!(
                (gm.tx_if, gm.flags, gm.flow_hash, gm.rx_if),
                (wm.tx_if, wm.flags, wm.flow_hash, wm.rx_if)
            );
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_midchain_counts_identification_per_packet() {
    let (mut site, _c, adj) = midchain_site();
    let pkts = (0..3)
        .map(|i| routed(adj, 64, 1000 + i, 1, 10, 0))
        .collect();
    site.run("ip4-rewrite", pkts);
    let sent = site.sent.lock().unwrap();
    let idents: Vec<u16> = sent
        .iter()
        .map(|p| u16::from_be_bytes([p.data()[14 + 4], p.data()[14 + 5]]))
        .collect();
    assert_eq!(idents.len(), 3);
    assert_eq!(idents[1], idents[0].wrapping_add(1));
    assert_eq!(idents[2], idents[0].wrapping_add(2));
}

#[test]
fn what_the_midchain_cannot_take_goes_through_vxlan_encap_with_its_ttl_decremented_once() {
    let (mut site, mut c, adj) = midchain_site();
    // A second tunnel to the same VTEP whose MTU (1480) the uplink's (1500) cannot carry
    // encapsulated: a 1460-byte packet fits the tunnel, not the uplink. ip4-rewrite hands
    // the inner frame to vxlan-encap, which routes the outer packet (and ip4-rewrite would
    // refuse it there, counted).
    let wide = c
        .add_vxlan(
            "vx200",
            VxlanTunnel {
                vni: 200,
                local: KERNEL,
                remote: US,
                udp_port: 4789,
            },
            [2, 0, 0, 0, 2, 2],
            1480,
        )
        .unwrap();
    c.add_address("vx200", Ipv4Addr::new(172, 16, 200, 1), 24)
        .unwrap();
    let nh = Ipv4Addr::new(172, 16, 200, 2);
    c.set_neighbor(wide, nh, TUN_NH_MAC, true).unwrap();
    c.add_route(Ipv4Addr::new(10, 60, 0, 0), 16, &[nh]).unwrap();
    site.graph.quiescent();
    let wide_adj = c.fib().lookup(Ipv4Addr::new(10, 60, 1, 1)).unwrap();
    let fits = routed(wide_adj, 64, 1, 1, 1450 - 28, 0);
    let (to, out) = site.rewrite(fits).unwrap();
    assert_eq!(
        (to, out.len()),
        ("port-tx", 64 + 1450),
        "the largest the uplink takes"
    );
    let p = routed(wide_adj, 64, 1, 1, 1460 - 28, 0);
    assert_eq!(p.len(), 1460);
    let before = site.encapsulated();
    let (to, out) = site.rewrite(p).unwrap();
    assert_eq!(to, "ip4-lookup", "the outer packet is routed");
    assert_eq!(site.encapsulated(), before + 1);
    let inner_ip = &out.data()[VXLAN_ENCAP_V4_LEN + 14..];
    assert_eq!(inner_ip.len(), 1460);
    assert_eq!(inner_ip[8], 63, "TTL decremented once");
    assert!(checksum::verifies(&inner_ip[..20]));

    // 60 bytes of headroom: short of the midchain's 64, not of the inner Ethernet header,
    // after which vxlan-encap has room for the outer headers but not the whole frame.
    let ip = routed(adj, 9, 1, 1, 10, 0);
    let mut p = VecBuf::new(&[]);
    p.prepend(VecBuf::HEADROOM - 60).unwrap();
    assert!(p.truncate(ip.len()));
    p.data_mut().copy_from_slice(ip.data());
    *p.meta_mut() = *ip.meta();
    assert_eq!(p.headroom(), 60);
    let (to, out) = site.rewrite(p).unwrap();
    assert_eq!(to, "ip4-lookup");
    let inner_ip = &out.data()[VXLAN_ENCAP_V4_LEN + 14..];
    assert_eq!(
        inner_ip,
        &{
            let mut want = ip.data().to_vec();
            want[8] = 8;
            fill_ip_csum(&mut want);
            want
        }[..]
    );

    // The remote VTEP's MAC goes: the tunnel is no longer stacked, the route's packets go
    // to vxlan-encap and on to ip4-lookup.
    assert!(c.del_neighbor(site.port, US).unwrap());
    site.graph.quiescent();
    let before = site.encapsulated();
    let (to, out) = site.rewrite(routed(adj, 64, 1, 1, 10, 0)).unwrap();
    assert_eq!(to, "ip4-lookup");
    assert_eq!(site.encapsulated(), before + 1);
    assert_eq!(out.data()[VXLAN_ENCAP_V4_LEN + 14 + 8], 63);

    // Resolved again: whole from ip4-rewrite.
    c.set_neighbor(site.port, US, REMOTE_MAC, true).unwrap();
    site.graph.quiescent();
    let (to, out) = site.rewrite(routed(adj, 64, 1, 1, 10, 0)).unwrap();
    assert_eq!((to, out.meta().tx_if), ("port-tx", site.port));
}

// ---------------------------------------------------------------------------------------
// vxlan-decap
// ---------------------------------------------------------------------------------------

#[test]
fn decap_of_the_kernels_packet_yields_its_inner_frame_on_the_tunnel() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let mut p = site.arriving(&kernel_outer());
    let m = p.meta_mut();
    m.flags = PacketMeta::F_LOCAL_ORIGIN | PacketMeta::F_IP4_CSUM_PENDING | PacketMeta::F_L2_MCAST;
    (m.flow_hash, m.tx_if, m.adj, m.l2_len, m.trace) = (0xabcd, 9, 5, 0, 2);
    // The inner frame is IPv4 to the tunnel's MAC with a right header: decap takes its
    // Ethernet header off too, as ethernet-input would have, and hands it to ip4-lookup, as
    // ip4-input would have.
    let (to, out) = site.decap_to(p).unwrap();
    assert_eq!(to, "ip4-lookup");
    assert_eq!(
        out.data(),
        &kernel_inner()[14..],
        "inner packet byte for byte"
    );
    assert_eq!(whole(out.clone()).data(), kernel_inner());
    let m = out.meta();
    assert_eq!(m.rx_if, site.tunnel);
    assert_eq!(m.decap_depth, 1);
    assert_eq!(
        m.flags, 0,
        "nothing said about the outer packet sticks to the inner one"
    );
    assert_eq!((m.flow_hash, m.tx_if, m.adj, m.l2_len), (0, 0, 0, 14));
    assert_eq!(
        m.trace, 2,
        "a traced packet stays traced through the tunnel"
    );
}

#[test]
fn decap_leaves_to_ip4_input_the_inner_packets_it_must_trim_count_or_bypass() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let edited = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut f = kernel_inner().to_vec();
        edit(&mut f);
        wrap(&f)
    };
    let (to, _) = site.decap_to(site.arriving(&edited(&|_| ()))).unwrap();
    assert_eq!(to, "ip4-lookup", "the unedited packet skips ip4-input");
    for (outer, why) in [
        (edited(&|f| f[14 + 10] ^= 1), "bad header checksum: counted"),
        (edited(&|f| f.extend([0; 4])), "Ethernet padding: trimmed"),
        (edited(&|f| f[14] = 0x46), "options"),
        (
            edited(&|f| f.truncate(14 + 19)),
            "truncated header: counted",
        ),
        (
            wrap(&framed(&wrap(kernel_inner()))),
            "VXLAN to our VTEP inside: bypassed to decap",
        ),
    ] {
        let (to, p) = site.decap_to(site.arriving(&outer)).unwrap();
        assert_eq!((to, p.meta().l2_len), ("ip4-input", 14), "{why}");
    }
}

#[test]
fn decap_takes_only_what_ethernet_input_would_pass_to_ip4_input_past_it() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let with_header = |dst: [u8; 6], ethertype: [u8; 2]| {
        let mut f = kernel_inner().to_vec();
        f[..6].copy_from_slice(&dst);
        f[12..14].copy_from_slice(&ethertype);
        wrap(&f)
    };
    let tunnel_mac = [2, 0, 0, 0, 1, 1];
    let (to, p) = site
        .decap_to(site.arriving(&with_header(tunnel_mac, [8, 0])))
        .unwrap();
    assert_eq!((to, p.meta().l2_len), ("ip4-lookup", 14));
    assert_eq!(p.meta().flags, 0);
    for (dst, ethertype, why) in [
        (
            [0xff; 6],
            [8, 0],
            "broadcast: ethernet-input takes it, marked as a group frame",
        ),
        (
            [2, 0, 0, 0, 1, 7],
            [8, 0],
            "another MAC: ethernet-input counts it",
        ),
        (tunnel_mac, [8, 6], "ARP"),
        (tunnel_mac, [0x86, 0xdd], "IPv6: ethernet-input counts it"),
        (tunnel_mac, [0x81, 0], "VLAN: ethernet-input counts it"),
    ] {
        let (to, p) = site
            .decap_to(site.arriving(&with_header(dst, ethertype)))
            .unwrap();
        assert_eq!(to, "ethernet-input", "{why}");
        assert_eq!(&p.data()[..6], &dst, "{why}: Ethernet header kept");
        assert_eq!((p.meta().l2_len, p.meta().flags), (0, 0), "{why}");
    }
}

#[test]
fn decap_checks_the_vxlan_header_and_the_tunnel() {
    let (mut site, _c) = Site::new(US, KERNEL);
    // The kernel's outer UDP checksum covers the VXLAN header: these edits drop it (0 = none).
    let base = {
        let mut b = kernel_outer();
        b[26..28].fill(0);
        b
    };
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        fill_ip_csum(&mut b);
        b
    };
    let i_clear = edit(&|b| b[28] = 0x00);
    assert_eq!(
        site.decap(site.arriving(&i_clear)),
        Err(decap_reason(VxlanDecapError::BadFlags))
    );
    let only_reserved = edit(&|b| b[28] = 0xf7);
    assert_eq!(
        site.decap(site.arriving(&only_reserved)),
        Err(decap_reason(VxlanDecapError::BadFlags))
    );
    // Reserved bits are ignored when I is set (RFC 7348).
    let reserved = edit(&|b| {
        b[28] = 0xff;
        b[29..32].fill(0xff);
        b[35] = 0xff;
    });
    assert_eq!(
        site.decap(site.arriving(&reserved)).unwrap().data(),
        kernel_inner()
    );

    let unknown_vni = edit(&|b| b[34] = 101);
    assert_eq!(
        site.decap(site.arriving(&unknown_vni)),
        Err(decap_reason(VxlanDecapError::UnknownVni))
    );
    let wrong_remote = edit(&|b| b[15] = 3); // outer source 10.99.1.3
    assert_eq!(
        site.decap(site.arriving(&wrong_remote)),
        Err(decap_reason(VxlanDecapError::WrongRemote))
    );
    let other_port = edit(&|b| b[22..24].copy_from_slice(&8472u16.to_be_bytes()));
    assert_eq!(
        site.decap(site.arriving(&other_port)),
        Err(decap_reason(VxlanDecapError::WrongLocal))
    );
    let fragment = edit(&|b| b[6] = 0x20); // MF
    assert_eq!(
        site.decap(site.arriving(&fragment)),
        Err(decap_reason(VxlanDecapError::Fragment))
    );
    let tcp = edit(&|b| b[9] = 6);
    assert_eq!(
        site.decap(site.arriving(&tcp)),
        Err(decap_reason(VxlanDecapError::NotUdp))
    );
    // After all that, the tunnel still works (no drop poisoned the last-tunnel cache).
    assert!(site.decap(site.arriving(&base)).is_ok());
    let counted: u64 = site.errors("vxlan-decap").iter().sum();
    assert_eq!(counted, 7);
}

#[test]
fn a_nonzero_outer_udp_checksum_is_verified_unless_the_nic_did() {
    let (mut site, _c) = Site::new(US, KERNEL);
    // The kernel's own checksum verifies.
    assert!(site.decap(site.arriving(&kernel_outer())).is_ok());
    let mut corrupt = kernel_outer();
    *corrupt.last_mut().unwrap() ^= 0x40;
    assert_eq!(
        site.decap(site.arriving(&corrupt)),
        Err(decap_reason(VxlanDecapError::UdpBadChecksum))
    );
    let mut nic_good = site.arriving(&corrupt);
    nic_good.rx.l4 = CsumStatus::Good;
    assert!(site.decap(nic_good).is_ok(), "the NIC verified it: trusted");
    let mut nic_bad = site.arriving(&kernel_outer());
    nic_bad.rx.l4 = CsumStatus::Bad;
    assert_eq!(
        site.decap(nic_bad),
        Err(decap_reason(VxlanDecapError::UdpBadChecksum))
    );
    let mut none = corrupt.clone();
    none[26..28].fill(0);
    assert!(
        site.decap(site.arriving(&none)).is_ok(),
        "0 means no checksum"
    );
    // Once decapsulated, the NIC's verdict is about the outer packet, not this one.
    let mut inner_good = site.arriving(&corrupt);
    inner_good.rx.l4 = CsumStatus::Good;
    inner_good.meta_mut().decap_depth = 1;
    assert_eq!(
        site.decap(inner_good),
        Err(decap_reason(VxlanDecapError::UdpBadChecksum)),
        "a nested packet's checksum is verified, whatever the NIC said"
    );
}

/// The kernel's packet cut to `n` bytes, with a valid IPv4 header for that length (as
/// ip4-input lets through) and no UDP checksum. With `udp_len`, the UDP length is set too.
fn cut(n: usize, udp_len: Option<u16>) -> Vec<u8> {
    let mut b = kernel_outer();
    b[26..28].fill(0);
    b.truncate(n);
    if n >= 20 {
        b[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        fill_ip_csum(&mut b);
    }
    if let (Some(len), true) = (udp_len, n >= 26) {
        b[24..26].copy_from_slice(&len.to_be_bytes());
    }
    b
}

#[test]
fn decap_of_packets_truncated_at_every_length() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let full = kernel_outer().len();
    for n in 0..full {
        // The UDP length agrees with the cut: the headers themselves are short.
        let udp_len = n.saturating_sub(20) as u16;
        let got = site.decap(site.arriving(&cut(n, Some(udp_len))));
        // IPv4 20 | UDP 8 | VXLAN 8 | inner Ethernet 14 ...
        let want = match n {
            0..20 => Err(decap_reason(VxlanDecapError::BadOuterIp)),
            20..28 => Err(decap_reason(VxlanDecapError::UdpTruncated)),
            28..36 => Err(decap_reason(VxlanDecapError::VxlanTruncated)),
            36..50 => Err(decap_reason(VxlanDecapError::InnerRunt)),
            _ => Ok(kernel_inner()[..n - 36].to_vec()),
        };
        assert_eq!(got.map(|p| p.data().to_vec()), want, "cut at {n}");

        // The UDP length still claims the whole datagram: it lies.
        if n >= 28 {
            let got = site.decap(site.arriving(&cut(n, None)));
            assert_eq!(
                got,
                Err(decap_reason(VxlanDecapError::UdpBadLength)),
                "cut at {n}"
            );
        }
    }
}

#[test]
fn decap_trusts_only_a_udp_length_that_fits() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let full = kernel_outer().len();
    for lie in [0u16, 7, (full - 20 + 1) as u16, u16::MAX] {
        let got = site.decap(site.arriving(&cut(full, Some(lie))));
        assert_eq!(
            got,
            Err(decap_reason(VxlanDecapError::UdpBadLength)),
            "UDP length {lie}"
        );
    }
    // A UDP length shorter than the IPv4 payload is legal: the datagram ends there and what
    // follows (here 10 bytes) is not part of the inner frame.
    let short = (full - 20 - 10) as u16;
    let got = site.decap(site.arriving(&cut(full, Some(short)))).unwrap();
    assert_eq!(got.data(), &kernel_inner()[..kernel_inner().len() - 10]);
    // Ethernet padding after the IPv4 total length is cut as well.
    let mut padded = kernel_outer();
    padded.extend_from_slice(&[0; 6]);
    let got = site.decap(site.arriving(&padded)).unwrap();
    assert_eq!(got.data(), kernel_inner());
}

#[test]
fn the_last_tunnel_cache_follows_state_changes() {
    let (mut site, mut rcu) = Site::with_rcu(US, KERNEL);
    let packet = || VecBuf::on(0, &KERNEL_ECHO[14..]);
    let first = site.tunnel;
    assert_eq!(site.decap(packet()).unwrap().meta().rx_if, first);

    // The tunnel moves to another interface index (deleted and created again).
    let mut moved = (*rcu.load()).clone();
    let mut iface = moved.ifaces[first as usize].take().unwrap();
    let second = moved.ifaces.len() as IfIndex;
    iface.index = second;
    moved.ifaces.push(Some(iface));
    moved.vxlan.insert((VNI, KERNEL), second);
    rcu.publish(moved.clone());
    assert_eq!(
        site.decap(packet()).unwrap().meta().rx_if,
        first,
        "until its quiescent point a worker keeps its snapshot"
    );
    site.graph.quiescent();
    assert_eq!(site.decap(packet()).unwrap().meta().rx_if, second);

    // Its remote changes: packets from the old remote no longer match.
    let mut remote_changed = moved.clone();
    let other = Ipv4Addr::new(10, 99, 1, 9);
    remote_changed.vxlan.clear();
    remote_changed.vxlan.insert((VNI, other), second);
    if let Some(Some(i)) = remote_changed.ifaces.get_mut(second as usize)
        && let crate::fwd::IfaceKind::Vxlan(t) = &mut i.kind
    {
        t.remote = other;
    }
    rcu.publish(remote_changed);
    site.graph.quiescent();
    assert_eq!(
        site.decap(packet()),
        Err(decap_reason(VxlanDecapError::WrongRemote))
    );

    // It is deleted.
    let mut deleted = moved.clone();
    deleted.vxlan.clear();
    deleted.ifaces[second as usize] = None;
    rcu.publish(deleted);
    site.graph.quiescent();
    assert_eq!(
        site.decap(packet()),
        Err(decap_reason(VxlanDecapError::UnknownVni))
    );

    // It comes back, down.
    let mut down = moved;
    down.ifaces[second as usize].as_mut().unwrap().up = false;
    rcu.publish(down);
    site.graph.quiescent();
    assert_eq!(
        site.decap(packet()),
        Err(decap_reason(VxlanDecapError::Down))
    );
}

#[test]
fn decap_skips_outer_ipv4_options() {
    let (mut site, _c) = Site::new(US, KERNEL);
    // IHL 6: one 4-byte option word (NOP NOP NOP EOL) between the IPv4 and UDP headers.
    let mut b = KERNEL_ECHO[14..34].to_vec();
    b[0] = 0x46;
    b.extend_from_slice(&[1, 1, 1, 0]);
    b.extend_from_slice(&KERNEL_ECHO[34..]);
    let total = b.len() as u16;
    b[2..4].copy_from_slice(&total.to_be_bytes());
    fill_ip_csum(&mut b);
    let out = site.decap(site.arriving(&b)).unwrap();
    assert_eq!(out.data(), kernel_inner());
}

#[test]
fn decap_depth_bounds_nesting() {
    let (mut site, _c) = Site::new(US, KERNEL);
    let mut once = site.arriving(&kernel_outer());
    once.meta_mut().decap_depth = 1;
    assert_eq!(site.decap(once).unwrap().meta().decap_depth, 2);
    let mut twice = site.arriving(&kernel_outer());
    twice.meta_mut().decap_depth = MAX_DECAP_DEPTH;
    assert_eq!(
        site.decap(twice),
        Err(decap_reason(VxlanDecapError::TooDeep))
    );
}

/// `inner` wrapped in the kernel's outer IPv4/UDP/VXLAN headers (lengths fixed, no UDP
/// checksum).
fn wrap(inner: &[u8]) -> Vec<u8> {
    let mut b = KERNEL_ECHO[14..14 + VXLAN_ENCAP_V4_LEN].to_vec();
    b.extend_from_slice(inner);
    let total = b.len() as u16;
    b[2..4].copy_from_slice(&total.to_be_bytes());
    b[24..26].copy_from_slice(&(total - 20).to_be_bytes());
    b[26..28].fill(0);
    fill_ip_csum(&mut b);
    b
}

/// `outer` behind an Ethernet header, as a frame inside a tunnel.
fn framed(outer: &[u8]) -> Vec<u8> {
    let mut f = kernel_inner()[..14].to_vec();
    f.extend_from_slice(outer);
    f
}

#[test]
fn nested_tunnels_cannot_loop_forever() {
    let (c, port, tunnel) = control(US, KERNEL);
    // The real ip4-input: its VTEP bypass sends each decapsulated VXLAN packet to decap
    // again; the echo request inside goes on to ip4-lookup.
    let delivered = Seen::default();
    let mut b = GraphBuilder::new();
    b.add(VxlanDecap::new(c.readers().1));
    b.add(crate::ip4::Ip4Input::new(c.readers().1));
    b.add(Sink("ip4-lookup", delivered.clone()));
    b.add(Sink("ethernet-input", delivered.clone()));
    let mut g = b.build(|| 0, Box::new(VecAlloc::default())).unwrap();
    let decap = g.node_id("vxlan-decap").unwrap();

    // VXLAN in VXLAN: decapsulated twice, the echo request comes out.
    let two = wrap(&framed(&wrap(kernel_inner())));
    g.enqueue(decap, VecBuf::on(port, &two));
    g.run();
    let out = delivered.lock().unwrap().split_off(0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].data(), &kernel_inner()[14..]);
    assert_eq!(
        (out[0].meta().decap_depth, out[0].meta().rx_if),
        (2, tunnel)
    );

    // Three levels: the third decapsulation is refused.
    let three = wrap(&framed(&wrap(&framed(&wrap(kernel_inner())))));
    g.enqueue(decap, VecBuf::on(port, &three));
    g.run();
    assert!(delivered.lock().unwrap().is_empty());
    let errors = &g.stats(decap).errors;
    assert_eq!(errors[VxlanDecapError::TooDeep.idx()], 1);
    assert_eq!(errors.iter().sum::<u64>(), 1);
    assert_eq!(
        g.stats(decap).packets,
        2 + 3,
        "each level is one pass through decap"
    );
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

/// What the underlay does between two sites: ip4-rewrite fills the pending checksum; the
/// receiver's ip4-input finds it valid.
fn over_the_wire(from: &VecBuf, to: &Site) -> VecBuf {
    assert_ne!(from.meta().flags & PacketMeta::F_IP4_CSUM_PENDING, 0);
    let mut outer = from.data().to_vec();
    fill_ip_csum(&mut outer);
    assert!(
        Ipv4Packet::new_checked(&outer[..])
            .unwrap()
            .verify_checksum()
    );
    to.arriving(&outer)
}

#[test]
fn encap_then_decap_restores_the_inner_frame() {
    let (mut a, _ca) = Site::new(KERNEL, US);
    let (mut b, _cb) = Site::new(US, KERNEL);
    let frames = [
        kernel_inner().to_vec(),
        udp_frame([172, 16, 99, 1], 1234, 53, b"query"),
        kernel_inner()[..14].to_vec(),
    ];
    let pkts = frames.iter().map(|f| a.to_tunnel(f, 0)).collect();
    a.run("vxlan-encap", pkts);
    let outers = a.routed.lock().unwrap().split_off(0);
    assert_eq!(outers.len(), frames.len());
    let arriving = outers.iter().map(|o| over_the_wire(o, &b)).collect();
    b.run("vxlan-decap", arriving);
    // All three are IPv4 to the tunnel's MAC: decap hands the echo request, whose header is
    // right, to ip4-lookup; the UDP frame (`udp_frame` leaves the echo's header checksum) and
    // the bare Ethernet header to ip4-input, which counts them.
    assert!(b.inner.lock().unwrap().is_empty());
    for (seen, want) in [(&b.routed, &frames[..1]), (&b.inner_ip4, &frames[1..])] {
        let inner: Vec<VecBuf> = seen.lock().unwrap().drain(..).map(whole).collect();
        let got: Vec<&[u8]> = inner.iter().map(|p| p.data()).collect();
        let want: Vec<&[u8]> = want.iter().map(|f| &f[..]).collect();
        assert_eq!(got, want, "inner frames restored, in order");
        assert!(inner.iter().all(|p| p.meta().rx_if == b.tunnel));
    }
}

#[test]
fn round_trip_of_random_frames() {
    let (a, _ca) = Site::new(KERNEL, US);
    let (b, _cb) = Site::new(US, KERNEL);
    let sites = std::cell::RefCell::new((a, b));
    let mut runner = TestRunner::new(ProptestConfig::with_cases(128));
    let frames = (prop::collection::vec(any::<u8>(), 14..1500), any::<u32>());
    runner
        .run(&frames, |(frame, hash)| {
            let (a, b) = &mut *sites.borrow_mut();
            let outer = a.encap(a.to_tunnel(&frame, hash)).unwrap();
            prop_assert!(source_port(&outer) >= 49152);
            let inner = b.decap(over_the_wire(&outer, b)).unwrap();
            prop_assert_eq!(inner.data(), &frame[..]);
            prop_assert_eq!(inner.meta().rx_if, b.tunnel);
            Ok(())
        })
        .unwrap();
}

#[test]
fn garbage_after_the_ipv4_header_never_panics() {
    let (site, _c) = Site::new(US, KERNEL);
    let sites = std::cell::RefCell::new(site);
    let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
    let garbage = (
        prop::collection::vec(any::<u8>(), 0..80),
        any::<bool>(),
        any::<bool>(),
    );
    runner
        .run(&garbage, |(tail, keep_vxlan_port, keep_vni)| {
            let site = &mut *sites.borrow_mut();
            let mut b = KERNEL_ECHO[14..34].to_vec();
            b.extend_from_slice(&tail);
            if keep_vxlan_port && b.len() >= 24 {
                b[22..24].copy_from_slice(&4789u16.to_be_bytes());
            }
            if keep_vni && b.len() >= 36 {
                b[28] |= 0x08;
                b[32..35].copy_from_slice(&[0, 0, 100]);
            }
            let total = b.len() as u16;
            b[2..4].copy_from_slice(&total.to_be_bytes());
            fill_ip_csum(&mut b);
            // Either a frame comes out or exactly one reason is counted (`one` checks).
            let _ = site.decap(site.arriving(&b));
            Ok(())
        })
        .unwrap();
}
