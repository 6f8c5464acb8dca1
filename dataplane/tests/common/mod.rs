//! Shared support for tests that need root, hugepages or a running EAL.
//!
//! Convention for the whole project: a test whose precondition is missing prints a loud
//! `SKIPPED (reason)` line and returns, unless `DP_REQUIRE_PRIVILEGED=1` is set (CI sets it),
//! in which case it fails with the reason. A skipped test never passes silently in CI.
#![allow(dead_code)]

pub mod net;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use dataplane::dpdk::{Eal, Mempool};

/// Returns `false` (after saying why) when the test must be skipped.
pub fn require(cond: bool, reason: &str) -> bool {
    if cond {
        return true;
    }
    if std::env::var("DP_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("precondition missing and DP_REQUIRE_PRIVILEGED=1: {reason}");
    }
    eprintln!("\n*** SKIPPED ({reason}); set DP_REQUIRE_PRIVILEGED=1 to make this a failure ***\n");
    false
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn free_hugepages() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("HugePages_Free:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Root and free hugepages: what a real EAL needs here.
pub fn require_dpdk() -> bool {
    require(is_root(), "needs root for DPDK")
        && require(
            free_hugepages() > 0,
            "needs free hugepages (run ci/setup.sh)",
        )
}

struct Shared {
    eal: Eal,
    pool: Mempool,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// One EAL per test process (nextest runs each test in its own process; plain `cargo test`
/// shares it between the tests of a binary). Vdevs are hot-plugged by the tests themselves
/// with unique names, so sharing is harmless.
fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        // Not --in-memory: net_memif needs the EAL's multi-process channel. --huge-unlink
        // leaves no hugepage files behind, even when the test is killed.
        let prefix = format!("--file-prefix=dpt{}", std::process::id());
        // DP_TEST_EAL_LOG=pmd.net.memif:debug (for example) shows a driver's story.
        let log = format!(
            "--log-level={}",
            std::env::var("DP_TEST_EAL_LOG").unwrap_or("*:warning".into())
        );
        let args = [
            "-l",
            "0-1",
            "--no-pci",
            "--huge-unlink",
            prefix.as_str(),
            log.as_str(),
        ];
        let eal = Eal::init(args).expect("EAL init");
        // The EAL is never torn down (it lives in this static); its runtime folder goes when
        // the process exits. Handlers run last-registered first, so this one runs before the
        // EAL's own, which then find their sockets gone: harmless at exit.
        extern "C" fn remove_runtime_dir() {
            net::remove_runtime_dir(&format!("dpt{}", std::process::id()));
        }
        // SAFETY: registers a plain function with no arguments; it touches only the file
        // system.
        unsafe { libc::atexit(remove_runtime_dir) };
        let pool = Mempool::new(&eal, "test_pool", 8191, 256, 2176, None).expect("mbuf pool");
        Shared { eal, pool }
    })
}

pub fn eal() -> &'static Eal {
    &shared().eal
}

pub fn pool() -> Mempool {
    shared().pool
}

/// A process-unique suffix for vdev, ring and socket names.
pub fn unique(base: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{base}{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A deterministic Ethernet/IPv4/UDP-looking frame of `len` bytes, distinct per `seq`.
pub fn frame(seq: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = (i as u32).wrapping_mul(31).wrapping_add(seq) as u8;
    }
    f[14..18].copy_from_slice(&seq.to_be_bytes());
    f
}

/// A broadcast Ethernet/IPv4/UDP frame from 02:00:00:00:01:02 and 10.0.1.2 (TTL 64, IP id
/// `id`, checksum right) to `dst`, from UDP port `sport` to 5000 (no UDP checksum), carrying
/// `payload`.
pub fn udp_frame(dst: [u8; 4], sport: u16, id: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0, 0, 0, 0x01, 0x02, 0x08, 0x00]);
    let mut ip = vec![0x45, 0];
    ip.extend((20 + udp_len).to_be_bytes());
    ip.extend(id.to_be_bytes());
    ip.extend([0, 0, 64, 17, 0, 0, 10, 0, 1, 2]);
    ip.extend(dst);
    let c = !dp_net::wire::checksum::sum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend(ip);
    f.extend(sport.to_be_bytes());
    f.extend(5000u16.to_be_bytes());
    f.extend(udp_len.to_be_bytes());
    f.extend([0, 0]);
    f.extend(payload);
    f
}

/// Writes `frames` as a pcap file, one microsecond apart.
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    let mut w = PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(&PcapPacket::new(
            std::time::Duration::from_micros(i as u64),
            f.len() as u32,
            f,
        ))
        .unwrap();
    }
}

/// Takes out of `frames` the gratuitous ARP requests the dataplane announces its addresses
/// with (at start, when an address is added or its interface comes up): returns the other
/// frames, in order, and the addresses announced.
pub fn split_announcements(frames: Vec<Vec<u8>>) -> (Vec<Vec<u8>>, Vec<std::net::Ipv4Addr>) {
    use dp_net::wire::{
        ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetAddress, EthernetFrame,
    };
    // The address a broadcast gratuitous ARP request in `f` announces.
    let announces = |f: &[u8]| {
        let eth = EthernetFrame::new_checked(f).ok()?;
        if eth.dst_addr() != EthernetAddress::BROADCAST || eth.ethertype() != EtherType::Arp {
            return None;
        }
        let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()?;
        (arp.operation == ArpOperation::Request && arp.is_gratuitous())
            .then_some(arp.sender_protocol_addr)
    };
    let mut announced = Vec::new();
    let rest = frames
        .into_iter()
        .filter(|f| match announces(f) {
            Some(ip) => {
                announced.push(ip);
                false
            }
            None => true,
        })
        .collect();
    (rest, announced)
}

/// The frames of a pcap file, in order.
pub fn read_pcap(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}
