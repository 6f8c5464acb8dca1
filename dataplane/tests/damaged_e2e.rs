//! Damaged frames through the real daemon, on real DPDK mbufs: the daemon survives them, keeps
//! no mbuf, and accounts for every frame.
//!
//! 16,384 frames, eight times the mempool, are made from ARP, ICMP and UDP frames to us, routed
//! and unroutable UDP, TTL 1, UDP into a VXLAN tunnel, and VXLAN packets from its remote VTEP
//! (an echo to us, UDP routed on, ARP), then damaged with a fixed seed: bytes overwritten
//! (mostly in the headers), frames cut short or padded. `net_pcap` reads them once into port
//! `in` (its transmit side writes a file, so replies and ICMP errors are counted as sent);
//! routed packets leave through port `out`, another `net_pcap` file.
//!
//! - Every frame is received, with none missing for want of an mbuf: an mbuf kept by any
//!   path would empty the pool long before the last frame.
//! - The books balance: frames received + ARP requests the graph made (for unresolved next
//!   hops, probes, and the announcements of our addresses) == frames sent on
//!   both ports + drops counted under a reason (`show errors`, less the reasons that count
//!   replies or lost neighbor events). Frames longer than one mbuf, which the rx poll drops
//!   before the graph, are among them, under port-rx: as many as the test made.
//! - The worker's ICMP error limit (`[worker] icmp-errors-per-sec`, set low here) holds: some
//!   errors are sent, no more than it allows, and the TTL 1 frames beyond it are counted.
//! - The daemon exits cleanly afterwards.
//!
//! The in-memory twin of this test, over every node with random damage, is dp-net's
//! `tests::damaged_frames_are_forwarded_or_dropped_with_a_reason_never_lost`.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;
use dataplane::worker::PortRxError;
use dp_net::arp::ArpProbeError;
use dp_net::ip4::rewrite::Ip4RewriteError;

/// Lcore 0 (main) on CPU 0, the worker on CPU 1.
const CORES: &str = "0@0,1@1";
const MBUFS: u64 = 2048;
const FRAMES: usize = 16384;

/// A tunnel over `out` to 10.0.2.2 (`routed_out`'s static neighbor, so its underlay is
/// resolved), carrying 10.9.0.0/16.
const TUNNEL: &str = r#"
[[tunnel]]
name = "vx100"
vni = 100
local = "10.0.2.1"
remote = "10.0.2.2"
address = "172.16.0.1/24"
[[neighbor]]
interface = "vx100"
ip = "172.16.0.2"
mac = "02:00:00:00:09:09"
[[route]]
prefix = "10.9.0.0/16"
via = "172.16.0.2"
"#;

/// The worker's ICMP error limit here: low, so the TTL 1 frames overrun it.
const ICMP_PER_SEC: u64 = 100;
const ICMP_BURST: u64 = 10;

/// The counts of ip4-rewrite's `reasons` in `errors`, summed.
fn rewrite_counts(errors: &[(String, String, u64)], reasons: &[Ip4RewriteError]) -> u64 {
    let names: Vec<&str> = reasons.iter().map(|r| r.name()).collect();
    error_count(errors, "ip4-rewrite", &names)
}

/// (ICMP errors sent, ICMP errors over the limit) from `show errors`.
fn icmp_errors(d: &Dpctl) -> (u64, u64) {
    use Ip4RewriteError::*;
    let errors = d.errors();
    (
        rewrite_counts(&errors, &[TtlExpired, FragNeeded]),
        rewrite_counts(&errors, &[TtlExpiredLimited, FragNeededLimited]),
    )
}

/// xorshift64*: the same damage on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The pod-side host's MAC, and the one of the host behind the tunnel.
const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x01, 0x02];
const INNER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x09, 0x09];
/// Port `in`'s MAC: net_pcap names its ports 02:70:63:61:70:<n> ("pcap", then the port's
/// index in the process; `in` is the first). Checked once the daemon is up. Frames are
/// unicast to it, as on a real link: a broadcast one would get no ICMP error (RFC 1812).
const IN_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];

/// An Ethernet frame from `src` to `dst`.
fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend(src);
    f.extend(ethertype.to_be_bytes());
    f.extend(payload);
    f
}

/// An IPv4 packet (no options, identification 7, DF clear), its header checksum right.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0];
    ip.extend((20 + l4.len() as u16).to_be_bytes());
    ip.extend([0, 7, 0, 0, ttl, proto, 0, 0]);
    ip.extend(src);
    ip.extend(dst);
    let c = !dp_net::wire::checksum::sum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend(l4);
    ip
}

/// A UDP datagram from port 1000 to `dport`, with no checksum, carrying `payload`.
fn udp(dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = 1000u16.to_be_bytes().to_vec();
    u.extend(dport.to_be_bytes());
    u.extend((8 + payload.len() as u16).to_be_bytes());
    u.extend([0, 0]);
    u.extend(payload);
    u
}

/// An ICMP echo request with 32 bytes of data, its checksum right.
fn echo() -> Vec<u8> {
    let mut m = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    m.extend([0x5a; 32]);
    let c = !dp_net::wire::checksum::sum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ARP request from `sender` (`sha`) for `target`.
fn arp(sha: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut a = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    a.extend(sha);
    a.extend(sender);
    a.extend([0; 6]);
    a.extend(target);
    eth([0xff; 6], sha, 0x0806, &a)
}

/// `inner`, an Ethernet frame, as the remote VTEP 10.0.2.2 sends it to ours, 10.0.2.1 (VNI
/// 100, UDP checksum 0).
fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut v = vec![0x08, 0, 0, 0, 0, 0, 100, 0];
    v.extend(inner);
    let ip = ipv4([10, 0, 2, 2], [10, 0, 2, 1], 17, 64, &udp(4789, &v));
    eth(IN_MAC, NH_MAC, 0x0800, &ip)
}

/// From the pod-side host 10.0.1.2.
fn from_host(dst: [u8; 4], proto: u8, ttl: u8, l4: &[u8]) -> Vec<u8> {
    eth(
        IN_MAC,
        HOST_MAC,
        0x0800,
        &ipv4([10, 0, 1, 2], dst, proto, ttl, l4),
    )
}

/// From the host behind the tunnel, 172.16.0.2, inside a VXLAN packet, to the tunnel's MAC.
fn through_tunnel(dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    vxlan(&eth(
        dataplane::config::tunnel_mac(100, 0),
        INNER_MAC,
        0x0800,
        &ipv4([172, 16, 0, 2], dst, proto, 64, l4),
    ))
}

fn templates() -> Vec<Vec<u8>> {
    vec![
        arp(HOST_MAC, [10, 0, 1, 2], [10, 0, 1, 1]),
        arp(HOST_MAC, [10, 0, 1, 2], [10, 0, 1, 99]),
        from_host([10, 0, 1, 1], 1, 64, &echo()),
        from_host([10, 0, 1, 1], 17, 64, &udp(9, &[2; 18])),
        from_host([10, 2, 0, 5], 17, 64, &udp(5000, &[3; 18])),
        from_host([10, 2, 7, 5], 17, 64, &udp(5000, &[4; 700])),
        from_host([10, 0, 2, 7], 17, 64, &udp(5000, &[5; 18])),
        from_host([8, 8, 8, 8], 17, 64, &udp(5000, &[6; 18])),
        from_host([10, 2, 0, 9], 17, 1, &udp(5000, &[7; 18])),
        // Broadcast, as a misconfigured host may send it: routed, but never an ICMP error.
        udp_frame([10, 2, 0, 10], 1005, 8, &[8; 18]),
        // Into the tunnel (its underlay resolved: the whole frame from ip4-rewrite).
        from_host([10, 9, 0, 5], 17, 64, &udp(5000, &[8; 18])),
        // Out of it: to us, routed on, and ARP over it.
        through_tunnel([172, 16, 0, 1], 1, &echo()),
        through_tunnel([10, 2, 0, 6], 17, &udp(5000, &[9; 18])),
        vxlan(&arp(INNER_MAC, [172, 16, 0, 2], [172, 16, 0, 1])),
    ]
}

/// A template with 0 to 4 bytes overwritten (three in four within the first 64 bytes), and
/// one frame in five cut to a random length or padded with up to 1400 bytes.
fn damaged(t: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut f = t[rng.below(t.len())].clone();
    match rng.below(10) {
        0 => f.truncate(rng.below(f.len())),
        1 => {
            let extra = rng.below(1400);
            f.extend((0..extra).map(|_| rng.next() as u8));
        }
        _ => {}
    }
    if !f.is_empty() {
        for _ in 0..rng.below(5) {
            let span = if rng.below(4) == 0 {
                f.len()
            } else {
                f.len().min(64)
            };
            let at = rng.below(span);
            f[at] = rng.next() as u8;
        }
    }
    f
}

/// (drops counted under a reason, ARP requests made, frames port-rx dropped as longer than
/// one mbuf) from `show errors`.
fn counted(d: &Dpctl) -> (u64, u64, u64) {
    let errors = d.errors();
    let drops = errors
        .iter()
        .filter(|(node, reason, _)| !dp_net::NOT_DROPS.contains(&(node, reason)))
        .map(|e| e.2)
        .sum();
    let made = [ArpProbeError::Sent.name(), ArpProbeError::Announced.name()];
    let arp = rewrite_counts(&errors, &[Ip4RewriteError::Unresolved])
        + error_count(&errors, "arp-probe", &made);
    let long = error_count(&errors, "port-rx", &[PortRxError::MultiSegment.name()]);
    (drops, arp, long)
}

/// (received on `in`, missing for want of an mbuf on `in`, sent on both ports, counted
/// drops, ARP requests made, dropped as longer than one mbuf).
fn books(d: &Dpctl) -> (u64, u64, u64, u64, u64, u64) {
    let ifaces = d.json(&["show", "interfaces"]);
    let (i, o) = (stats_in(&ifaces, "in"), stats_in(&ifaces, "out"));
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {v}"));
    let (drops, arp, long) = counted(d);
    (
        n(i, "rx_packets"),
        n(i, "drops") + n(i, "rx_missed"),
        n(i, "tx_packets") + n(o, "tx_packets"),
        drops,
        arp,
        long,
    )
}

#[test]
fn damaged_frames_are_all_received_and_accounted_for() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let t = templates();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let frames: Vec<Vec<u8>> = (0..FRAMES).map(|_| damaged(&t, &mut rng)).collect();
    let pcap = dir.path().join("in.pcap");
    write_pcap(&pcap, &frames);
    let in_dev = format!(
        "net_pcap{tag}i,rx_pcap={},tx_pcap={}",
        pcap.display(),
        dir.path().join("in-tx.pcap").display()
    );
    let out_dev = format!(
        "net_pcap{tag}o,tx_pcap={}",
        dir.path().join("out.pcap").display()
    );
    let body = format!(
        "[mempool]\nmbufs = {MBUFS}\n[worker]\npoll-mode = true\n\
         icmp-errors-per-sec = {ICMP_PER_SEC}\nicmp-errors-burst = {ICMP_BURST}\n{}{}{TUNNEL}",
        in_port(&in_dev),
        routed_out(&out_dev)
    );
    let prefix = format!("dpd{tag}");
    let (dp, _lines, d) = start_config(dir.path(), CORES, &prefix, &body);
    let started = Instant::now();
    let mac = IN_MAC.map(|b| format!("{b:02x}")).join(":");
    assert_eq!(
        port_in(&d.json(&["show", "interfaces"]), "in")["mac"],
        mac.as_str(),
        "port in's MAC, which the frames are sent to"
    );

    // Until every frame is in and two reads a quarter second apart agree.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = books(&d);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = books(&d);
        let settled = now == last && now.0 + now.1 >= FRAMES as u64;
        last = now;
        if settled || Instant::now() > deadline {
            break;
        }
    }
    let (received, missing, sent, drops, arp, long) = last;
    let (icmp_sent, icmp_limited) = icmp_errors(&d);
    let icmp_most = ICMP_BURST + ICMP_PER_SEC * (started.elapsed().as_secs() + 1);
    // A default mbuf holds 2048 bytes after its headroom; the pcap driver chains longer
    // frames, which the graph does not take.
    let want_long = frames.iter().filter(|f| f.len() > 2048).count() as u64;
    if received != FRAMES as u64 || received + arp != sent + drops {
        d.dump();
    }
    signal(&dp, "INT");
    let exit = dp.wait_with_output();
    assert_eq!(
        (received, missing),
        (FRAMES as u64, 0),
        "frames received, and missing for want of an mbuf, of {FRAMES} (the pool has \
         {MBUFS}): a path that keeps mbufs starves receive"
    );
    assert_eq!(
        received + arp,
        sent + drops,
        "{received} received + {arp} ARP requests made must equal {sent} sent + {drops} \
         dropped with a reason"
    );
    assert_eq!(
        long, want_long,
        "frames longer than one mbuf, counted by port-rx in `show errors`"
    );
    assert!(
        icmp_sent > 0 && icmp_sent <= icmp_most && icmp_limited > 0,
        "ICMP errors: {icmp_sent} sent (at most {icmp_most} allowed so far), {icmp_limited} \
         over the limit: the TTL 1 frames must overrun {ICMP_PER_SEC}/s, burst {ICMP_BURST}"
    );
    assert!(
        sent > 0 && drops > 0,
        "the damage should leave some frames routable and drop others: {sent} sent, {drops} \
         dropped"
    );
    assert!(exit.status.success(), "dataplane exit: {:?}", exit.status);
}
