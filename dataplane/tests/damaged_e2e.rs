//! Damaged frames through the real daemon, on real DPDK mbufs: the daemon survives them, keeps
//! no mbuf, and accounts for every frame.
//!
//! 16,384 frames, eight times the mempool, are made from ARP, ICMP and UDP frames to us, routed
//! and unroutable UDP, and TTL 1, then damaged with a fixed seed: bytes overwritten (mostly in
//! the headers), frames cut short or padded. `net_pcap` reads them once into port `in` (its
//! transmit side writes a file, so replies and ICMP errors are counted as sent); routed
//! packets leave through port `out`, another `net_pcap` file.
//!
//! - Every frame is received, with none missing for want of an mbuf: an mbuf kept by any
//!   path would empty the pool long before the last frame.
//! - The books balance: frames received + ARP requests the graph made == frames sent on
//!   both ports + drops counted under a reason (`show errors`, less the reasons that count
//!   replies or lost neighbor events). Frames longer than one mbuf, which the rx poll drops
//!   before the graph, are among them, under port-rx: as many as the test made.
//! - The daemon exits cleanly afterwards.
//!
//! The in-memory twin of this test, over every node with random damage, is dp-net's
//! `tests::damaged_frames_are_forwarded_or_dropped_with_a_reason_never_lost`.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;

/// Lcore 0 (main) on CPU 0, the worker on CPU 1.
const CORES: &str = "0@0,1@1";
const MBUFS: u64 = 2048;
const FRAMES: usize = 16384;

/// Reasons that count something other than a dropped packet.
const NOT_DROPS: &[&str] = &[
    "ARP replies sent",
    "ARP neighbor learn queue full",
    "ICMP echo requests answered",
    "TTL expired in transit (ICMP time exceeded sent)",
    "too big with DF set (ICMP fragmentation needed sent)",
];
const ARP_REQUEST_SENT: &str = "next hop not resolved (ARP request sent)";

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

/// `udp_frame`'s IPv4 header with its checksum made right again after a change.
fn fix_ip_checksum(f: &mut [u8]) {
    f[24..26].fill(0);
    let c = !dp_net::wire::checksum::sum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// An ICMP echo request from 10.0.1.2 to us (10.0.1.1).
fn echo_request() -> Vec<u8> {
    let mut f = udp_frame([10, 0, 1, 1], 0, 7, &[0x5a; 32]);
    f[23] = 1;
    fix_ip_checksum(&mut f);
    // Type 8, code 0, identifier and sequence where the UDP ports were, then the checksum.
    f[34..42].copy_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 1]);
    let c = !dp_net::wire::checksum::sum(&f[34..]);
    f[36..38].copy_from_slice(&c.to_be_bytes());
    f
}

/// An ARP request from 10.0.1.2 (02:00:00:00:01:02) for `target`, broadcast.
fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let mac = [0x02, 0, 0, 0, 0x01, 0x02];
    let mut f = vec![0xff; 6];
    f.extend(mac);
    f.extend([0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend(mac);
    f.extend([10, 0, 1, 2]);
    f.extend([0; 6]);
    f.extend(target);
    f
}

fn templates() -> Vec<Vec<u8>> {
    let mut ttl1 = udp_frame([10, 2, 0, 9], 1000, 3, &[1; 18]);
    ttl1[22] = 1;
    fix_ip_checksum(&mut ttl1);
    vec![
        arp_request([10, 0, 1, 1]),
        arp_request([10, 0, 1, 99]),
        echo_request(),
        udp_frame([10, 0, 1, 1], 1000, 1, &[2; 18]),
        udp_frame([10, 2, 0, 5], 1001, 2, &[3; 18]),
        udp_frame([10, 2, 7, 5], 1002, 4, &[4; 700]),
        udp_frame([10, 0, 2, 7], 1003, 5, &[5; 18]),
        udp_frame([8, 8, 8, 8], 1004, 6, &[6; 18]),
        ttl1,
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
    let errors = d.json(&["show", "errors"]);
    let mut drops = 0;
    let mut arp = 0;
    let mut long = 0;
    for c in errors["total"].as_array().expect("show errors: total") {
        let reason = c["reason"].as_str().expect("a reason");
        let n = c["count"].as_u64().expect("a count");
        if reason == ARP_REQUEST_SENT {
            arp += n;
        }
        if c["node"] == "port-rx" && reason.starts_with("frame longer than one mbuf") {
            long += n;
        }
        if !NOT_DROPS.contains(&reason) {
            drops += n;
        }
    }
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
        "[mempool]\nmbufs = {MBUFS}\n[worker]\npoll-mode = true\n{}{}",
        in_port(&in_dev),
        routed_out(&out_dev)
    );
    let prefix = format!("dpd{tag}");
    let cfg = dir.path().join("damaged.toml");
    std::fs::write(
        &cfg,
        dp_config(CORES, &prefix, dir.path().join("api.sock"), &body),
    )
    .unwrap();
    let (dp, _lines) = start_ready(&cfg);
    let d = Dpctl::new(dir.path().join("api.sock"));

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
        sent > 0 && drops > 0,
        "the damage should leave some frames routable and drop others: {sent} sent, {drops} \
         dropped"
    );
    assert!(exit.status.success(), "dataplane exit: {:?}", exit.status);
}
