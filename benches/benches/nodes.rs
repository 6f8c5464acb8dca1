//! One criterion group per graph node (ethernet-input, ip4-input, ip4-lookup, ip4-rewrite,
//! vxlan-encap, vxlan-decap) and one for the software checksums, each over a vector of 256
//! packets: `Throughput::Elements(256)`, so criterion prints the time per vector (ns) and
//! packets per second.
//!
//! **What a node figure is.** The node's own `process` call on one full vector, timed by the
//! graph around that call as the dataplane's per-node clocks (`show runtime`) time it, with a
//! nanosecond clock instead of the TSC, and handed to criterion through `iter_custom`. (Only
//! the graph can make the `NodeCtx` a node needs, so the bench runs the node in a graph of
//! its own and reads the graph's counters.) The figure includes the node's loop, its table
//! reads (RCU snapshot, FIB, neighbor and tunnel tables), its header writes and its next-arc
//! array, plus one clock read: the `graph-clock` group measures that floor, a node that only
//! writes its 256 arcs. It excludes everything around the call: rx and tx, the dispatcher
//! moving the vector on, the stand-in nodes that receive it, buffer allocation and freeing.
//!
//! **Packets.** In-memory [`VecBuf`]s, not DPDK mbufs: no EAL, no hugepages, no root, so the
//! benches run anywhere, CI included. A `VecBuf`'s data sits behind a heap pointer like an
//! mbuf's, but its metadata is a plain field rather than the mbuf's private area, and its
//! `prefetch` does nothing. Every iteration starts from fresh packets by a **cheap restore**,
//! outside the timed call: each buffer gets its template's headroom, bytes, metadata and
//! offload flags back (a copy of about 64 bytes, no allocation), which undoes TTL decrements
//! and prepended or stripped headers. The restore leaves the packets' first cache lines warm,
//! as they are for every node after the first in a real graph; for ethernet-input, which in
//! the dataplane reads mbufs a NIC just wrote, the figure is a lower bound.
//!
//! **Inputs.** Forwarding state is built through `fwd::Control` as the daemon builds it from
//! its config (ports, addresses, routes, static neighbors, tunnels), after the end-to-end
//! benchmark's (`benches/e2e`), with 64-byte UDP frames (without FCS, as
//! `benches/gen_pcap.py` writes them) over 256 flows. A node's input vector is what the real
//! nodes upstream of it produce: frames enter at ethernet-input and a stand-in stops them
//! where the node under test would be, so their metadata is what the dataplane would hand it.
//! ip4-lookup cycles through 65,536 random destinations instead (256 new ones per vector)
//! drawn from the installed routes, on 1k and on 1M random prefixes
//! (`dp_benches::random_routes`, as `fib.rs`), plus a 1M case with 256 flows only (its FIB
//! lines stay cached); as in the dataplane, it runs ip4-rewrite's fast path on what it routes
//! to the resolved gateway, so its figures include that rewrite. ip4-rewrite's cases take the
//! same common packets as ip4-lookup leaves them before it rewrites (in the dataplane,
//! ip4-rewrite gets what that path does not take, and traced packets): the precomputed
//! via-gateway fast path; a glean to hosts on a connected subnet (the host's rewrite by
//! destination, through ip4-rewrite's host cache); pods by their own /32 routes, as the CNI
//! plugin sets them up (host adjacencies: the fast path again); the midchain into a tunnel;
//! and VXLAN outer packets whose IPv4 checksum is pending (computed in software).
//! ethernet-input checks clean IPv4 itself and hands it straight to ip4-lookup, or to
//! vxlan-decap for a local VTEP; ip4-input runs on what it leaves: frames with Ethernet
//! padding to trim (small packets in minimum-size frames). vxlan-decap takes VXLAN packets,
//! with the outer UDP checksum 0 or verified in software, and hands inner IPv4 straight to
//! ip4-lookup.
//!
//! **Checked before timing.** Every input vector is run at least twice (once on buffers
//! restored after a run) and every output packet checked against its input: next arc,
//! stripped or prepended headers, TTL and checksums, metadata. While timing, every run must
//! still send all 256 packets to the expected next node, so a bench can never measure a path
//! that drops everything.
//!
//! The checksum group calls pure functions on 256 distinct headers or datagrams with plain
//! `iter`: nothing is changed, so nothing needs restoring.
//!
//! Run: `cargo bench -p dp-benches --bench nodes` (one group: append its name, e.g.
//! `-- ip4-lookup`). `ci/test.sh` runs each bench once, untimed, with
//! `cargo test --bench nodes` (criterion's test mode).

use std::cell::OnceCell;
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dp_benches::{Rng, SEED, random_routes};
use dp_net::buffer::{PacketBuf, PacketMeta, RxOffload, TxOffload, VecAlloc, VecBuf};
use dp_net::ethernet::EthernetInput;
use dp_net::fwd::{Adj, Control, FwdError, IfIndex, TxCaps, VxlanTunnel};
use dp_net::graph::{DROP, Graph, GraphBuilder, Nexts, Node, NodeCtx, NodeId, VECTOR_SIZE, Vector};
use dp_net::ip4::{FibConfig, Ip4Input, Ip4Local, Ip4Lookup, Ip4Rewrite};
use dp_net::rcu::Domain;
use dp_net::vxlan::{VxlanDecap, VxlanEncap};
use dp_net::wire::{
    Checksum, ChecksumCapabilities, ETHERNET_HEADER_LEN, IpProtocol, Ipv4Packet, Ipv4Repr,
    PseudoHeader, UdpPacket, VXLAN_ENCAP_V4_LEN, VXLAN_UDP_PORT, Vni, VxlanIpv4Encap, VxlanPacket,
    checksum,
};

/// Frame length without FCS (`gen_pcap.py --size 64`).
const FRAME_LEN: usize = 64;
/// Distinct flows per vector, as the end-to-end benchmark's 256-flow pcaps.
const FLOWS: usize = 256;

const MAC_IN: [u8; 6] = [2, 0, 0, 0, 1, 1];
const MAC_OUT: [u8; 6] = [2, 0, 0, 0, 2, 1];
const MAC_PODS: [u8; 6] = [2, 0, 0, 0, 3, 1];
const MAC_PODS32: [u8; 6] = [2, 0, 0, 0, 3, 2];
/// The sender in front of port `in`, and remote VTEP 10.0.1.9 behind it.
const MAC_PEER: [u8; 6] = [2, 0, 0, 0, 1, 2];
/// Gateways 10.0.2.2 and 10.0.2.3, and remote VTEP 10.0.2.9, behind port `out`.
const MAC_GW: [u8; 6] = [2, 0, 0, 0, 2, 2];
const MAC_GW2: [u8; 6] = [2, 0, 0, 0, 2, 3];
const MAC_VTEP: [u8; 6] = [2, 0, 0, 0, 2, 9];
/// The next hop inside either tunnel (172.16.0.2, 172.17.0.2).
const MAC_TUN_NH: [u8; 6] = [2, 0, 0, 0, 0x16, 2];
/// The tunnels' own MACs (decapsulated frames are addressed to `vxin`'s).
const MAC_VX100: [u8; 6] = [2, 0, 0, 0, 0x16, 1];
const MAC_VX200: [u8; 6] = [2, 0, 0, 0, 0x17, 1];
const MAC_VXIN: [u8; 6] = [2, 0, 0, 0, 0x18, 1];

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const GW2: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
const LOCAL_VTEP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const REMOTE_VTEP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 9);
/// vx200's remote VTEP, behind an ECMP route: its outer packets are not stacked.
const ECMP_VTEP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 9);
/// Decap: VXLAN arrives from 10.0.1.9 to our VTEP 10.0.1.1 on `in` (the e2e decap scenario).
const IN_VTEP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const PEER_VTEP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 9);

fn pod_mac(i: usize) -> [u8; 6] {
    [2, 0, 0, 0x0a, (i >> 8) as u8, i as u8]
}

/// Pod `i` (0..256) behind port `pods`: 10.1.0.2 and up.
fn pod_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 2)) + i as u32)
}

/// Pod `i` (0..256) behind port `pods32`, by its own /32 route: 10.56.0.2 and up.
fn pod32_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 56, 0, 2)) + i as u32)
}

/// Flow `i`'s destination in `net`/16, as gen_pcap.py numbers them.
fn flow_dst(net: [u8; 2], i: usize) -> Ipv4Addr {
    let host = i + 1;
    Ipv4Addr::new(net[0], net[1], (host >> 8) as u8, host as u8)
}

// ---------------------------------------------------------------------------------------
// Frames

/// A `len`-byte Ethernet/IPv4/UDP frame, laid out as gen_pcap.py writes them (TTL 64,
/// identification = flow, UDP checksum 0, zero payload).
fn udp_frame(dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, flow: usize, len: usize) -> Vec<u8> {
    let payload = len - 14 - 20 - 8;
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&MAC_PEER);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ipv4_header(src, dst, 8 + payload, flow as u16));
    f.extend_from_slice(&(1024 + (flow % 4096) as u16).to_be_bytes());
    f.extend_from_slice(&5000u16.to_be_bytes());
    f.extend_from_slice(&(8 + payload as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(len, 0);
    f
}

/// A 20-byte IPv4 header of a UDP datagram (TTL 64) with a valid checksum.
fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, payload: usize, ident: u16) -> [u8; 20] {
    let mut h = [0u8; 20];
    Ipv4Repr {
        ident,
        ..Ipv4Repr::new(src, dst, IpProtocol::Udp, payload, 64)
    }
    .emit(
        &mut Ipv4Packet::new_unchecked(&mut h[..]),
        &ChecksumCapabilities::SOFTWARE,
    );
    h
}

/// `inner` as a remote VTEP at 10.0.1.9 sends it to us (VNI 100, port 4789), outer UDP
/// checksum computed or left 0 ("none", Linux's default over IPv4).
fn vxlan_frame(inner: &[u8], flow: usize, udp_csum: bool) -> Vec<u8> {
    let vni = Vni::new(100).expect("a 24-bit VNI");
    let encap = VxlanIpv4Encap::new(PEER_VTEP, IN_VTEP, VXLAN_UDP_PORT, vni, 64, 0, false);
    let outer = ETHERNET_HEADER_LEN + VXLAN_ENCAP_V4_LEN;
    let mut f = Vec::with_capacity(outer + inner.len());
    f.extend_from_slice(&MAC_IN);
    f.extend_from_slice(&MAC_PEER);
    f.extend_from_slice(&[0x08, 0x00]);
    f.resize(outer, 0);
    let sport = 49152 + (flow % 16384) as u16;
    encap
        .write(
            &mut f[ETHERNET_HEADER_LEN..],
            inner.len(),
            sport,
            flow as u16,
            Checksum::Software,
        )
        .expect("a frame of less than 64 KiB");
    f.extend_from_slice(inner);
    if udp_csum {
        let pseudo = PseudoHeader::V4 {
            src: PEER_VTEP,
            dst: IN_VTEP,
        };
        UdpPacket::new_unchecked(&mut f[34..]).fill_checksum(&pseudo, Checksum::Software);
    }
    f
}

/// 256 flows from 10.0.1.2 to 10.2.0.0/16 sent into tunnel `vxin` by its remote VTEP
/// (inner frames to the tunnel's MAC), arriving on port `in`.
fn decap_frames(in_if: IfIndex, udp_csum: bool) -> Vec<VecBuf> {
    (0..FLOWS)
        .map(|i| {
            let inner = udp_frame(MAC_VXIN, SRC, flow_dst([10, 2], i), i, FRAME_LEN);
            VecBuf::on(in_if, &vxlan_frame(&inner, i, udp_csum))
        })
        .collect()
}

/// 256 flows from 10.0.1.2 to `net`/16, arriving on port `in` for its MAC.
fn flows_to(net: [u8; 2], rx_if: IfIndex) -> Vec<VecBuf> {
    (0..FLOWS)
        .map(|i| {
            VecBuf::on(
                rx_if,
                &udp_frame(MAC_IN, SRC, flow_dst(net, i), i, FRAME_LEN),
            )
        })
        .collect()
}

/// IPv4 length of a [`padded_flows_to`] packet: a UDP datagram with 12 bytes of payload.
const PADDED_IP_LEN: usize = 40;

/// As [`flows_to`], but each frame holds a smaller packet ([`PADDED_IP_LEN`]) and Ethernet
/// padding up to [`FRAME_LEN`], as a TCP ACK in a minimum-size frame does.
fn padded_flows_to(net: [u8; 2], rx_if: IfIndex) -> Vec<VecBuf> {
    (0..FLOWS)
        .map(|i| {
            let mut f = udp_frame(MAC_IN, SRC, flow_dst(net, i), i, 14 + PADDED_IP_LEN);
            f.resize(FRAME_LEN, 0);
            VecBuf::on(rx_if, &f)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Forwarding state

/// The forwarding state every node bench but ip4-lookup's runs on:
/// - port `in` 10.0.1.1/24 (the senders; VTEP of tunnel `vxin`, VNI 100 from 10.0.1.9);
/// - port `out` 10.0.2.1/24, gateways 10.0.2.2 and 10.0.2.3 and VTEP 10.0.2.9 resolved;
///   10.2.0.0/16 via 10.0.2.2 (the e2e routed scenario);
/// - tunnel `vx100` (VNI 100, 10.0.2.1 -> 10.0.2.9, 172.16.0.1/24), 10.3.0.0/16 via
///   172.16.0.2 inside it: its underlay resolves to one next hop, so encap writes the whole
///   outer frame (stacked; the e2e encap scenario);
/// - tunnel `vx200` (VNI 200, 10.0.2.1 -> 10.9.0.9, 172.17.0.1/24), 10.4.0.0/16 via
///   172.17.0.2: its VTEP is behind an ECMP route (10.9.0.0/16 via both gateways), so its
///   outer packets go back through ip4-lookup and ip4-rewrite;
/// - port `pods` 10.1.0.1/16 with 256 hosts resolved: routing to them takes a glean
///   adjacency and the host's rewrite by destination (ip4-rewrite's host cache);
/// - port `pods32`, unnumbered (10.56.0.1/32), with 256 pods resolved, each by its own /32
///   route through the port, as the CNI plugin sets pods up: a host adjacency each.
struct Site {
    c: Control,
    in_if: IfIndex,
    out_if: IfIndex,
    pods_if: IfIndex,
    pods32_if: IfIndex,
    vxin: IfIndex,
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("a literal address")
}

/// What [`site`] and [`lookup_site`] start from: ports `in` 10.0.1.1/24 and `out`
/// 10.0.2.1/24 (ifindexes 0 and 1), gateway 10.0.2.2 resolved behind `out`. Returns the
/// control plane and the two ports.
fn base(fib: FibConfig) -> Result<(Control, IfIndex, IfIndex), FwdError> {
    let mut c = Control::new(&Domain::new(1), fib)?;
    let in_if = c.add_port("in", 0, MAC_IN, 1500, TxCaps::default())?;
    let out_if = c.add_port("out", 1, MAC_OUT, 1500, TxCaps::default())?;
    c.add_address("in", IN_VTEP, 24)?;
    c.add_address("out", LOCAL_VTEP, 24)?;
    c.set_neighbor(out_if, GW, MAC_GW, true)?;
    Ok((c, in_if, out_if))
}

fn site() -> Result<Site, FwdError> {
    let (mut c, in_if, out_if) = base(FibConfig {
        max_routes: 4096,
        tbl8_groups: 256,
        ..Default::default()
    })?;
    let pods_if = c.add_port("pods", 2, MAC_PODS, 1500, TxCaps::default())?;
    c.add_address("pods", ip("10.1.0.1"), 16)?;
    c.set_neighbor(out_if, GW2, MAC_GW2, true)?;
    c.set_neighbor(out_if, REMOTE_VTEP, MAC_VTEP, true)?;
    for i in 0..FLOWS {
        c.set_neighbor(pods_if, pod_ip(i), pod_mac(i), true)?;
    }
    let pods32_if = c.add_port("pods32", 3, MAC_PODS32, 1500, TxCaps::default())?;
    c.add_address("pods32", ip("10.56.0.1"), 32)?;
    for i in 0..FLOWS {
        c.add_route_hops(pod32_ip(i), 32, &[(None, Some(pods32_if))])?;
        c.set_neighbor(pods32_if, pod32_ip(i), pod_mac(i), true)?;
    }
    c.add_route(ip("10.2.0.0"), 16, &[GW])?;
    c.add_route(ip("10.9.0.0"), 16, &[GW, GW2])?;
    let tunnel = |vni, local, remote| VxlanTunnel {
        vni,
        local,
        remote,
        udp_port: VXLAN_UDP_PORT,
    };
    let vx100 = c.add_vxlan(
        "vx100",
        tunnel(100, LOCAL_VTEP, REMOTE_VTEP),
        MAC_VX100,
        1450,
    )?;
    c.add_address("vx100", ip("172.16.0.1"), 24)?;
    c.set_neighbor(vx100, ip("172.16.0.2"), MAC_TUN_NH, true)?;
    c.add_route(ip("10.3.0.0"), 16, &[ip("172.16.0.2")])?;
    let vx200 = c.add_vxlan("vx200", tunnel(200, LOCAL_VTEP, ECMP_VTEP), MAC_VX200, 1450)?;
    c.add_address("vx200", ip("172.17.0.1"), 24)?;
    c.set_neighbor(vx200, ip("172.17.0.2"), MAC_TUN_NH, true)?;
    c.add_route(ip("10.4.0.0"), 16, &[ip("172.17.0.2")])?;
    let vxin = c.add_vxlan("vxin", tunnel(100, IN_VTEP, PEER_VTEP), MAC_VXIN, 1450)?;
    Ok(Site {
        c,
        in_if,
        out_if,
        pods_if,
        pods32_if,
        vxin,
    })
}

/// Random destinations the ip4-lookup benches cycle through, 256 per vector (as `fib.rs`).
const LOOKUP_DSTS: usize = 65_536;

/// ip4-lookup's tables: ports `in` and `out` as in [`site`] (its [`base`]), then `n` random prefixes via
/// 10.0.2.2, added one by one as the daemon adds configured routes; and [`LOOKUP_DSTS`]
/// random destinations that hit one of them and lead to the gateway (not into a connected
/// subnet or to one of our addresses).
struct LookupSite {
    c: Control,
    in_if: IfIndex,
    out_if: IfIndex,
    dsts: Vec<Ipv4Addr>,
}

fn lookup_site(n: usize) -> Result<LookupSite, FwdError> {
    let (mut c, in_if, out_if) = base(FibConfig {
        max_routes: n + 16,
        tbl8_groups: 1 << 16,
        ..Default::default()
    })?;
    let mut rng = Rng(SEED);
    // A few spare prefixes: one may collide with a connected or local route, or be one of
    // the special-use prefixes the FIB keeps (0/8, 127/8, 224/3).
    let table = random_routes(n + 16, &mut rng);
    let mut installed = Vec::with_capacity(n);
    for &(p, len, _) in &table {
        if installed.len() == n {
            break;
        }
        match c.add_route(Ipv4Addr::from(p), len, &[GW]) {
            Ok(()) => installed.push((p, len)),
            Err(FwdError::RouteExists(..) | FwdError::SpecialUse(..)) => {}
            Err(e) => return Err(e),
        }
    }
    let state = c.state();
    let to_gw = Adj::Via {
        iface: out_if,
        gw: GW,
    };
    let mut dsts = Vec::with_capacity(LOOKUP_DSTS);
    // Bounded: with the gateway behind nearly every prefix, almost every draw is kept.
    for _ in 0..LOOKUP_DSTS * 4 {
        if dsts.len() == LOOKUP_DSTS {
            break;
        }
        let r = rng.next_u64();
        let (p, len) = installed[(r % installed.len() as u64) as usize];
        let host = (r >> 32) as u32 & u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        let dst = Ipv4Addr::from(p | host);
        if c.fib()
            .lookup(dst)
            .and_then(|adj| state.adjs.get(adj as usize))
            == Some(&to_gw)
        {
            dsts.push(dst);
        }
    }
    assert_eq!(
        dsts.len(),
        LOOKUP_DSTS,
        "too few random destinations reach the gateway"
    );
    Ok(LookupSite {
        c,
        in_if,
        out_if,
        dsts,
    })
}

// ---------------------------------------------------------------------------------------
// Graphs

/// Every packet a stand-in node received.
type Stash = Arc<Mutex<Vec<VecBuf>>>;

fn take(s: &Stash) -> Vec<VecBuf> {
    std::mem::take(&mut *s.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Stands in for the node named `.0`: keeps every packet it gets (a sink, so it consumes
/// the whole vector), so the bench can check and reuse them.
struct Park(&'static str, Stash);

impl Node<VecBuf> for Park {
    fn name(&self) -> &'static str {
        self.0
    }
    fn arcs(&self) -> &'static [&'static str] {
        &[]
    }
    fn process(&mut self, pkts: &mut Vector<VecBuf>, _: &mut Nexts, _: &mut NodeCtx<'_, VecBuf>) {
        self.1
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(pkts.drain(..));
    }
}

/// The graph's clock: nanoseconds since the first call. (The dataplane uses the TSC; a
/// nanosecond clock needs no calibration and reads the TSC too where the kernel's
/// clocksource is `tsc`.)
fn now_ns() -> u64 {
    static T0: OnceLock<Instant> = OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The nodes of the dataplane's graph that these benches use, by name; `arp-input` and
/// `port-tx` are always stand-ins.
const REAL_NODES: [&str; 7] = [
    "ethernet-input",
    "ip4-input",
    "ip4-lookup",
    "ip4-local",
    "ip4-rewrite",
    "vxlan-encap",
    "vxlan-decap",
];

fn add_real(b: &mut GraphBuilder<VecBuf>, name: &str, c: &Control) {
    let (fib, st) = c.readers();
    match name {
        "ethernet-input" => b.add(EthernetInput::new(st)),
        "ip4-input" => b.add(Ip4Input::new(st)),
        "ip4-lookup" => b.add(Ip4Lookup::new(fib, st)),
        "ip4-local" => b.add(Ip4Local::new(st)),
        "ip4-rewrite" => b.add(Ip4Rewrite::new(st, ARP_INTERVAL)),
        "vxlan-encap" => b.add(VxlanEncap::new(st)),
        "vxlan-decap" => b.add(VxlanDecap::new(st)),
        other => unreachable!("no real node `{other}` here"),
    };
}

/// ip4-rewrite's ARP rate limit (graph clocks); no bench sends ARP requests.
const ARP_INTERVAL: u64 = 1_000_000;

/// Every non-zero drop counter of `g`, as `node: reason = n`.
fn err_counts(g: &Graph<VecBuf>) -> Vec<String> {
    g.report()
        .iter()
        .flat_map(|r| {
            r.nonzero_errors()
                .map(|(n, v)| format!("{}: {n} = {v}", r.name))
        })
        .collect()
}

/// The input of node `at` exactly as the dataplane's upstream nodes produce it: `pkts` enter
/// the real graph of `c` at node `entry` and stop at a stand-in for `at`.
fn upstream(c: &Control, entry: &str, at: &'static str, pkts: Vec<VecBuf>) -> Vec<VecBuf> {
    let stash = Stash::default();
    let mut b = GraphBuilder::new();
    for name in REAL_NODES {
        if name == at {
            b.add(Park(at, stash.clone()));
        } else {
            add_real(&mut b, name, c);
        }
    }
    let others = Stash::default();
    b.add(Park("arp-input", others.clone()));
    b.add(Park("port-tx", others.clone()));
    let mut g = b
        .build(now_ns, Box::new(VecAlloc::default()))
        .expect("the benches' graph is complete");
    let entry = g.node_id(entry).expect("a real node");
    let sent = pkts.len();
    let mut pkts = pkts.into_iter().peekable();
    while pkts.peek().is_some() {
        let mut v = g.take_vector();
        v.extend(pkts.by_ref().take(VECTOR_SIZE));
        g.enqueue_vector(entry, v);
        g.run();
    }
    let got = take(&stash);
    assert_eq!(
        got.len(),
        sent,
        "only {} of {sent} packets reached {at}; {} went elsewhere; drops: {:?}",
        got.len(),
        take(&others).len(),
        err_counts(&g)
    );
    got
}

/// The input of node `at` in [`site`]'s graph: `frames` arriving at ethernet-input, as
/// [`upstream`] of it produces them.
fn input_at(s: &Site, at: &'static str, frames: Vec<VecBuf>) -> Vec<VecBuf> {
    upstream(&s.c, "ethernet-input", at, frames)
}

/// `frames` as ip4-rewrite gets them from ip4-lookup. ip4-lookup now runs ip4-rewrite's fast
/// path on the packets it routes to one next hop, so in the dataplane only the packets that
/// path does not take (and traced ones) reach ip4-rewrite; its benches take the common
/// packets anyway, as ip4-lookup leaves them before it rewrites: stopped before ip4-lookup,
/// their adjacency set from the FIB as ip4-lookup sets it.
fn rewrite_input(s: &Site, frames: Vec<VecBuf>) -> Vec<VecBuf> {
    let state = s.c.state();
    let mut pkts = input_at(s, "ip4-lookup", frames);
    for p in &mut pkts {
        let d = p.data();
        let dst = Ipv4Addr::new(d[16], d[17], d[18], d[19]);
        let adj = s.c.fib().lookup(dst).expect("a route");
        assert!(
            matches!(
                state.adjs[adj as usize],
                Adj::Via { .. } | Adj::Glean { .. }
            ),
            "{dst}: one next hop"
        );
        p.meta_mut().adj = adj;
    }
    pkts
}

/// A routed packet into a tunnel as ip4-rewrite hands it to vxlan-encap when it does not
/// write the whole frame itself: TTL decremented, the route's Ethernet header in front,
/// `tx_if` the tunnel.
fn inner_frame(c: &Control, mut p: VecBuf) -> VecBuf {
    let rw = c.state().rewrites[p.meta().adj as usize].expect("a resolved route");
    let frame = rewritten(rw.l2, p.data());
    p.prepend(ETHERNET_HEADER_LEN).expect("headroom");
    p.data_mut().copy_from_slice(&frame);
    p.meta_mut().tx_if = rw.tx_if;
    p
}

/// IPv4 packet `ip` as ip4-rewrite routes it: behind Ethernet header `l2`, its TTL one less
/// and its header checksum computed afresh.
fn rewritten(l2: [u8; 14], ip: &[u8]) -> Vec<u8> {
    let mut f = l2.to_vec();
    f.extend_from_slice(ip);
    f[ETHERNET_HEADER_LEN + 8] -= 1;
    Ipv4Packet::new_unchecked(&mut f[ETHERNET_HEADER_LEN..]).fill_checksum(Checksum::Software);
    f
}

/// A packet as it enters the node under test, kept compactly (65,536 of them for
/// ip4-lookup) and written back into a used buffer before each run.
#[derive(Debug, Clone)]
struct Fresh {
    headroom: usize,
    data: Vec<u8>,
    meta: PacketMeta,
    rx: RxOffload,
    tx: TxOffload,
}

impl Fresh {
    fn of(p: &VecBuf) -> Fresh {
        Fresh {
            headroom: p.headroom(),
            data: p.data().to_vec(),
            meta: *p.meta(),
            rx: p.rx,
            tx: p.tx_offload(),
        }
    }

    /// Makes `p` this packet again: headroom, length, bytes, metadata, offload flags.
    #[inline]
    fn restore(&self, p: &mut VecBuf) {
        let h = p.headroom();
        let ok = if h > self.headroom {
            p.prepend(h - self.headroom).is_some()
        } else {
            let more = self.headroom - h;
            if p.len() < more {
                // Grow first so the start can move forward (a buffer emptied by a node).
                let _ = p.append(more - p.len());
            }
            p.adj(more)
        };
        let n = self.data.len();
        let ok = ok
            && if p.len() >= n {
                p.truncate(n)
            } else {
                p.append(n - p.len()).is_some()
            };
        assert!(ok, "a bench buffer cannot hold its template");
        p.data_mut().copy_from_slice(&self.data);
        *p.meta_mut() = self.meta;
        p.rx = self.rx;
        p.set_tx_offload(self.tx);
    }
}

/// One node under test in a graph of its own, stand-ins on each of its arcs.
struct NodeBench {
    graph: Graph<VecBuf>,
    node: NodeId,
    name: &'static str,
    /// The arc every packet must leave by, and its stand-in's packets.
    expect: &'static str,
    out: Stash,
    /// Input vectors, used in turn.
    inputs: Vec<Vec<Fresh>>,
    turn: usize,
    /// Buffers back from the stand-in, restored for the next run.
    spare: Vec<VecBuf>,
}

impl NodeBench {
    /// `inputs` are kept as [`Fresh`] templates, cut into vectors of 256. Before anything is
    /// timed, runs every vector (and at least two) and passes each packet to
    /// `check(input, output)`.
    fn new<N: Node<VecBuf> + 'static>(
        node: N,
        expect: &'static str,
        inputs: &[VecBuf],
        check: impl Fn(&Fresh, &VecBuf),
    ) -> NodeBench {
        assert!(
            inputs.len() >= VECTOR_SIZE && inputs.len().is_multiple_of(VECTOR_SIZE),
            "whole vectors only"
        );
        let name = node.name();
        let arcs = node.arcs();
        let mut b = GraphBuilder::new();
        let id = b.add(node);
        let mut out = None;
        for &target in arcs.iter().filter(|&&t| t != "drop") {
            let s = Stash::default();
            if target == expect {
                out = Some(s.clone());
            }
            b.add(Park(target, s));
        }
        let out = out.unwrap_or_else(|| panic!("{name} has no arc to {expect}"));
        let graph = b
            .build(now_ns, Box::new(VecAlloc::default()))
            .expect("stand-ins for every arc");
        let inputs: Vec<Vec<Fresh>> = inputs
            .chunks(VECTOR_SIZE)
            .map(|v| v.iter().map(Fresh::of).collect())
            .collect();
        let mut nb = NodeBench {
            graph,
            node: id,
            name,
            expect,
            out,
            inputs,
            turn: 0,
            spare: Vec::new(),
        };
        // At least twice: the second run checks buffers restored after a run, as timed.
        for _ in 0..nb.inputs.len().max(2) {
            let turn = nb.turn;
            nb.run();
            let out = nb.spare.iter().rev();
            for (i, (f, p)) in nb.inputs[turn].iter().zip(out).enumerate() {
                // Fails with the packet in hand, so a wrong path is named, not just timed.
                let at = std::panic::AssertUnwindSafe(|| check(f, p));
                if let Err(e) = std::panic::catch_unwind(at) {
                    eprintln!(
                        "{name}: packet {i} of vector {turn}\n in: {:02x?} {:?}\nout: {:02x?} {:?}",
                        f.data,
                        f.meta,
                        p.data(),
                        p.meta()
                    );
                    std::panic::resume_unwind(e);
                }
            }
        }
        nb
    }

    /// Restores the next input vector into the spare buffers, runs the node on it once and
    /// returns the node's own time. The packets come back into `spare`, last one first.
    fn run(&mut self) -> Duration {
        let inputs = &self.inputs[self.turn];
        self.turn = (self.turn + 1) % self.inputs.len();
        let mut v = self.graph.take_vector();
        for f in inputs {
            let mut p = self.spare.pop().unwrap_or_else(|| VecBuf::new(&[]));
            f.restore(&mut p);
            v.push(p);
        }
        let clocks = self.graph.stats(self.node).clocks;
        let drops = self.graph.stats(DROP).packets;
        self.graph.enqueue_vector(self.node, v);
        self.graph.run();
        let took = self.graph.stats(self.node).clocks - clocks;
        let mut out = take(&self.out);
        assert!(
            out.len() == inputs.len() && self.graph.stats(DROP).packets == drops,
            "{}: {} of {} packets went to {}; drops: {:?}",
            self.name,
            out.len(),
            inputs.len(),
            self.expect,
            err_counts(&self.graph)
        );
        // Reversed, so that read from the back (as `new` checks them, and as `pop` hands them
        // out) they come in input order.
        out.reverse();
        self.spare.append(&mut out);
        Duration::from_nanos(took)
    }

    fn time(&mut self, iters: u64) -> Duration {
        (0..iters).map(|_| self.run()).sum()
    }
}

/// A node bench in `group`, set up on first use only (so a filtered-out bench never builds
/// its tables).
fn bench_node(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: impl Into<String>,
    setup: impl FnOnce() -> NodeBench,
) {
    let mut setup = Some(setup);
    let mut nb: Option<NodeBench> = None;
    group.bench_function(id.into(), |b| {
        let nb = nb.get_or_insert_with(|| (setup.take().expect("set up once"))());
        b.iter_custom(|iters| nb.time(iters));
    });
}

// ---------------------------------------------------------------------------------------
// Checks

fn ipv4_valid(ip: &[u8]) -> bool {
    let ip = Ipv4Packet::new_unchecked(ip);
    ip.version() == 4 && ip.verify_checksum()
}

fn l2(dst: [u8; 6], src: [u8; 6]) -> [u8; 14] {
    let mut h = [0u8; 14];
    h[..6].copy_from_slice(&dst);
    h[6..12].copy_from_slice(&src);
    h[12..].copy_from_slice(&[0x08, 0x00]);
    h
}

/// A routed packet as ip4-rewrite leaves it: `l2` in front, TTL one less, checksum valid,
/// the rest unchanged.
fn check_routed(f: &Fresh, p: &VecBuf, l2: [u8; 14], tx_if: IfIndex) {
    let d = p.data();
    assert_eq!(d[..14], l2, "Ethernet header");
    assert_eq!(d.len(), f.data.len() + 14);
    assert_eq!(d[14 + 8], f.data[8] - 1, "TTL");
    assert!(ipv4_valid(&d[14..]), "IPv4 checksum");
    assert_eq!(d[14 + 12..], f.data[12..], "addresses and payload");
    assert_eq!(p.meta().tx_if, tx_if);
}

/// Outer IPv4 (with `csum_done`, a valid checksum; else the pending 0), UDP to 4789, VXLAN
/// `vni`, then exactly `inner`.
fn check_outer(o: &[u8], remote: Ipv4Addr, vni: u32, inner: &[u8], csum_done: bool) {
    assert_eq!(o[..2], [0x45, 0], "outer version, IHL, TOS");
    assert_eq!(usize::from(u16::from_be_bytes([o[2], o[3]])), o.len());
    assert_eq!((o[8], o[9]), (64, 17), "outer TTL, protocol");
    assert_eq!(o[12..16], LOCAL_VTEP.octets());
    assert_eq!(o[16..20], remote.octets());
    if csum_done {
        assert!(ipv4_valid(o), "outer IPv4 checksum");
    } else {
        assert_eq!(o[10..12], [0, 0], "outer checksum left pending");
    }
    let udp = UdpPacket::new_checked(&o[20..]).expect("outer UDP");
    assert_eq!(udp.dst_port(), VXLAN_UDP_PORT);
    assert!(udp.src_port() >= 49152, "source port from the flow hash");
    let vx = VxlanPacket::new_checked(udp.payload()).expect("VXLAN header");
    assert!(vx.has_vni());
    assert_eq!(vx.vni().get(), vni);
    assert_eq!(vx.payload(), inner, "inner frame");
}

// ---------------------------------------------------------------------------------------
// Benches

fn per_vector<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(VECTOR_SIZE as u64));
    g
}

fn nodes(cr: &mut Criterion) {
    let s = site().expect("the benches' forwarding state");
    let (_, st) = s.c.readers();

    // The floor under every node figure: the clock read plus the cheapest possible node.
    let mut g = per_vector(cr, "graph-clock");
    bench_node(&mut g, "write 256 arcs", || {
        NodeBench::new(ArcsOnly, "next", &flows_to([10, 2], s.in_if), |_, _| {})
    });
    g.finish();

    let mut g = per_vector(cr, "ethernet-input");
    bench_node(&mut g, "ipv4 unicast", || {
        NodeBench::new(
            EthernetInput::new(st.clone()),
            "ip4-lookup",
            &flows_to([10, 2], s.in_if),
            |f, p| {
                assert_eq!(p.data(), &f.data[14..]);
                assert_eq!(p.meta().l2_len, 14);
                assert_eq!(p.meta().flags & PacketMeta::F_L2_MCAST, 0);
            },
        )
    });
    g.finish();

    let mut g = per_vector(cr, "ip4-input");
    bench_node(&mut g, "software header checksum, padding trimmed", || {
        let input = input_at(&s, "ip4-input", padded_flows_to([10, 2], s.in_if));
        NodeBench::new(Ip4Input::new(st.clone()), "ip4-lookup", &input, |f, p| {
            assert_eq!(p.data(), &f.data[..PADDED_IP_LEN]);
        })
    });
    g.finish();

    let mut g = per_vector(cr, "ip4-lookup");
    // Built once for both 1M benches (loading a million routes takes a while).
    let million: OnceCell<Rc<LookupSite>> = OnceCell::new();
    for (id, routes, flows) in [
        ("1k routes", 1_000, LOOKUP_DSTS),
        ("1M routes", 1_000_000, LOOKUP_DSTS),
        ("1M routes, 256 flows", 1_000_000, FLOWS),
    ] {
        let million = &million;
        bench_node(&mut g, id, move || {
            let build = || Rc::new(lookup_site(routes).expect("the lookup tables"));
            let t = if routes == 1_000_000 {
                million.get_or_init(build).clone()
            } else {
                build()
            };
            let frames = t.dsts[..flows]
                .iter()
                .enumerate()
                .map(|(i, &d)| VecBuf::on(t.in_if, &udp_frame(MAC_IN, SRC, d, i, FRAME_LEN)))
                .collect();
            let input = upstream(&t.c, "ethernet-input", "ip4-lookup", frames);
            let (fib, st) = t.c.readers();
            // ip4-lookup rewrites what it routes to a resolved gateway itself (ip4-rewrite's
            // fast path): its figures include that.
            NodeBench::new(Ip4Lookup::new(fib, st), "port-tx", &input, |f, p| {
                let dst = Ipv4Addr::new(f.data[16], f.data[17], f.data[18], f.data[19]);
                assert_eq!(Some(p.meta().adj), t.c.fib().lookup(dst), "{dst}");
                check_routed(f, p, l2(MAC_GW, MAC_OUT), t.out_if);
            })
        });
    }
    g.finish();
    drop(million);

    let mut g = per_vector(cr, "ip4-rewrite");
    bench_node(&mut g, "via gateway (precomputed)", || {
        let input = rewrite_input(&s, flows_to([10, 2], s.in_if));
        NodeBench::new(
            Ip4Rewrite::new(st.clone(), ARP_INTERVAL),
            "port-tx",
            &input,
            |f, p| check_routed(f, p, l2(MAC_GW, MAC_OUT), s.out_if),
        )
    });
    // 256 pods, each its own flow: the frames ip4-rewrite gets, and the pod it must reach.
    let to_pods = |pod_ip: fn(usize) -> Ipv4Addr, port_mac: [u8; 6], port: IfIndex| {
        let frames = (0..FLOWS)
            .map(|i| VecBuf::on(s.out_if, &udp_frame(MAC_OUT, GW, pod_ip(i), i, FRAME_LEN)))
            .collect();
        let input = rewrite_input(&s, frames);
        NodeBench::new(
            Ip4Rewrite::new(st.clone(), ARP_INTERVAL),
            "port-tx",
            &input,
            move |f, p| {
                let pod = usize::from(f.data[18]) << 8 | usize::from(f.data[19]);
                check_routed(f, p, l2(pod_mac(pod - 2), port_mac), port);
            },
        )
    };
    bench_node(
        &mut g,
        "glean to 256 hosts (rewrite by destination)",
        || to_pods(pod_ip, MAC_PODS, s.pods_if),
    );
    bench_node(&mut g, "256 pods by /32 routes (host adjacencies)", || {
        to_pods(pod32_ip, MAC_PODS32, s.pods32_if)
    });
    bench_node(
        &mut g,
        "into a stacked tunnel (midchain, whole frame)",
        || {
            let input = rewrite_input(&s, flows_to([10, 3], s.in_if));
            NodeBench::new(
                Ip4Rewrite::new(st.clone(), ARP_INTERVAL),
                "port-tx",
                &input,
                |f, p| {
                    let d = p.data();
                    assert_eq!(d[..14], l2(MAC_VTEP, MAC_OUT), "underlay Ethernet header");
                    let inner = rewritten(l2(MAC_TUN_NH, MAC_VX100), &f.data);
                    check_outer(&d[14..], REMOTE_VTEP, 100, &inner, true);
                    assert_eq!(p.meta().tx_if, s.out_if);
                },
            )
        },
    );
    bench_node(&mut g, "vxlan outer, checksum pending", || {
        // Inner packets into vx200, then its outer packets through lookup (ECMP) to rewrite.
        let inner = input_at(&s, "vxlan-encap", flows_to([10, 4], s.in_if));
        let input = upstream(&s.c, "vxlan-encap", "ip4-rewrite", inner);
        NodeBench::new(
            Ip4Rewrite::new(st.clone(), ARP_INTERVAL),
            "port-tx",
            &input,
            |f, p| {
                assert_ne!(f.meta.flags & PacketMeta::F_IP4_CSUM_PENDING, 0);
                let d = p.data();
                assert!(
                    d[..14] == l2(MAC_GW, MAC_OUT) || d[..14] == l2(MAC_GW2, MAC_OUT),
                    "to one of the ECMP gateways"
                );
                assert_eq!(d[14 + 8], 64, "our own packet: TTL kept");
                assert!(ipv4_valid(&d[14..]), "outer checksum computed");
                assert_eq!(d[14 + 12..], f.data[12..]);
                assert_eq!(p.meta().flags & PacketMeta::F_IP4_CSUM_PENDING, 0);
            },
        )
    });
    g.finish();

    let mut g = per_vector(cr, "vxlan-encap");
    bench_node(&mut g, "stacked (outer frame to port-tx)", || {
        // Routed packets into vx100 take ip4-rewrite's midchain and never come here; ARP and
        // our own packets do. The same frames, as ip4-rewrite's two-node path leaves them.
        let input = rewrite_input(&s, flows_to([10, 3], s.in_if))
            .into_iter()
            .map(|p| inner_frame(&s.c, p))
            .collect::<Vec<_>>();
        NodeBench::new(VxlanEncap::new(st.clone()), "port-tx", &input, |f, p| {
            let d = p.data();
            assert_eq!(d[..14], l2(MAC_VTEP, MAC_OUT), "underlay Ethernet header");
            check_outer(&d[14..], REMOTE_VTEP, 100, &f.data, true);
            assert_eq!(p.meta().tx_if, s.out_if);
        })
    });
    bench_node(&mut g, "routed (outer to ip4-lookup)", || {
        let input = input_at(&s, "vxlan-encap", flows_to([10, 4], s.in_if));
        NodeBench::new(VxlanEncap::new(st.clone()), "ip4-lookup", &input, |f, p| {
            check_outer(p.data(), ECMP_VTEP, 200, &f.data, false);
            assert_ne!(p.meta().flags & PacketMeta::F_IP4_CSUM_PENDING, 0);
        })
    });
    g.finish();

    let mut g = per_vector(cr, "vxlan-decap");
    for (id, udp_csum) in [
        ("outer udp checksum 0", false),
        ("outer udp checksum verified", true),
    ] {
        bench_node(&mut g, id, || {
            let frames = decap_frames(s.in_if, udp_csum);
            let input = input_at(&s, "vxlan-decap", frames);
            NodeBench::new(VxlanDecap::new(st.clone()), "ip4-lookup", &input, |f, p| {
                // Outer IPv4, UDP and VXLAN, then the inner Ethernet header, stripped.
                assert_eq!(
                    p.data(),
                    &f.data[VXLAN_ENCAP_V4_LEN + ETHERNET_HEADER_LEN..],
                    "inner IPv4 packet"
                );
                assert_eq!(p.meta().rx_if, s.vxin);
                assert_eq!(p.meta().decap_depth, 1);
                assert_eq!(p.meta().l2_len, 14);
            })
        });
    }
    g.finish();
}

/// The floor: writes its 256 next arcs and nothing else.
struct ArcsOnly;

impl Node<VecBuf> for ArcsOnly {
    fn name(&self) -> &'static str {
        "arcs-only"
    }
    fn arcs(&self) -> &'static [&'static str] {
        &["next"]
    }
    fn process(
        &mut self,
        pkts: &mut Vector<VecBuf>,
        next: &mut Nexts,
        _: &mut NodeCtx<'_, VecBuf>,
    ) {
        next[..pkts.len()].fill(0);
    }
}

/// Software checksums on 256 distinct headers or datagrams per iteration (the 256 flows');
/// nothing is changed, so plain `iter` needs no fresh inputs.
fn checksums(cr: &mut Criterion) {
    let hdrs: Vec<[u8; 20]> = (0..FLOWS)
        .map(|i| ipv4_header(SRC, flow_dst([10, 2], i), 8 + 22, i as u16))
        .collect();
    let datagrams = |payload: usize| -> Vec<(PseudoHeader, Vec<u8>)> {
        (0..FLOWS)
            .map(|i| {
                let (src, dst) = (SRC, flow_dst([10, 2], i));
                let mut u = udp_frame(MAC_IN, src, dst, i, 14 + 20 + 8 + payload)[34..].to_vec();
                for (j, b) in u[8..].iter_mut().enumerate() {
                    *b = (i + j) as u8;
                }
                let pseudo = PseudoHeader::V4 { src, dst };
                UdpPacket::new_unchecked(&mut u[..]).fill_checksum(&pseudo, Checksum::Software);
                (pseudo, u)
            })
            .collect()
    };
    // The total length word changes 50 -> 86 (a header rewritten for a bigger packet).
    let (old_len, new_len) = (50u16, 86u16);
    for h in &hdrs {
        assert!(checksum::verifies(h) && checksum::sum20(h) == 0xffff);
        let mut n = *h;
        n[2..4].copy_from_slice(&new_len.to_be_bytes());
        let patched = checksum::update16(u16::from_be_bytes([h[10], h[11]]), old_len, new_len);
        n[10..12].copy_from_slice(&patched.to_be_bytes());
        assert!(
            checksum::verifies(&n),
            "RFC 1624 update equals recomputation"
        );
        let mut t = *h;
        t[8] -= 1;
        let patched = checksum::ttl_decrement_update(u16::from_be_bytes([h[10], h[11]]));
        t[10..12].copy_from_slice(&patched.to_be_bytes());
        assert!(checksum::verifies(&t), "TTL update equals recomputation");
    }

    let mut g = per_vector(cr, "checksum");
    g.bench_function("ipv4 header, RFC 1071 sum", |b| {
        b.iter(|| {
            hdrs.iter()
                .fold(0u16, |x, h| x ^ checksum::sum(std::hint::black_box(h)))
        })
    });
    g.bench_function("ipv4 header, sum20 (ip4-input's)", |b| {
        b.iter(|| {
            hdrs.iter()
                .fold(0u16, |x, h| x ^ checksum::sum20(std::hint::black_box(h)))
        })
    });
    for payload in [64usize, 1500] {
        let dg = datagrams(payload);
        assert!(dg.iter().all(|(ph, u)| {
            let p = UdpPacket::new_checked(&u[..]).expect("a datagram");
            p.checksum() != 0 && p.verify_checksum(ph)
        }));
        g.bench_function(BenchmarkId::new("udp verify", format!("{payload}B")), |b| {
            b.iter(|| {
                dg.iter().fold(true, |ok, (ph, u)| {
                    ok & UdpPacket::new_unchecked(std::hint::black_box(&u[..])).verify_checksum(ph)
                })
            })
        });
    }
    g.bench_function("RFC 1624 update16 (total length)", |b| {
        b.iter(|| {
            hdrs.iter().fold(0u16, |x, h| {
                let h = std::hint::black_box(h);
                let c = u16::from_be_bytes([h[10], h[11]]);
                x ^ checksum::update16(c, u16::from_be_bytes([h[2], h[3]]), new_len)
            })
        })
    });
    g.bench_function("RFC 1624 TTL decrement", |b| {
        b.iter(|| {
            hdrs.iter().fold(0u16, |x, h| {
                let h = std::hint::black_box(h);
                x ^ checksum::ttl_decrement_update(u16::from_be_bytes([h[10], h[11]]))
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = nodes, checksums
}
criterion_main!(benches);
