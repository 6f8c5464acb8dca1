//! Overload end to end: an egress port that takes nothing. A memif server no pod has connected
//! to refuses every tx burst, so each routed packet stays with port-tx, which must count it as
//! "tx ring full" and free it. A packet kept or leaked there would empty the mempool within a
//! few thousand packets, and receiving (and so the count) would stop.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;

/// Lcore 0 (main) on CPU 0, the worker on CPU 1.
const CORES: &str = "0@0,1@1";

/// The pool's size: the test wants many times this many packets counted.
const MBUFS: u64 = 8192;

fn tx_ring_full(d: &Dpctl) -> u64 {
    d.error_count("port-tx", &["tx ring full"])
}

#[test]
fn a_port_that_takes_nothing_has_every_packet_counted_and_freed() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..64u8)
        .map(|i| udp_frame([10, 2, 0, i + 1], 1024 + u16::from(i), 0, &[i; 22]))
        .collect();
    write_pcap(&pcap, &frames);
    let in_dev = format!("net_pcap{tag}i,rx_pcap={},infinite_rx=1", pcap.display());
    let memif = dir.path().join("memif.sock");
    let out_dev = format!(
        "net_memif{tag}o,role=server,socket={},socket-abstract=no",
        memif.display()
    );
    let body = format!(
        "[mempool]\nmbufs = {MBUFS}\n[worker]\npoll-mode = true\n{}{}",
        in_port(&in_dev),
        routed_out(&out_dev)
    );
    let prefix = format!("dpo{tag}");
    let (dp, _lines, d) = start_config(dir.path(), CORES, &prefix, &body);

    // 50 pools' worth: only packets given back can be received again.
    let want = 50 * MBUFS;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counted = tx_ring_full(&d);
    while counted < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        counted = tx_ring_full(&d);
    }
    if counted < want {
        d.dump();
    }
    let out = stats_in(&d.json(&["show", "interfaces"]), "out").clone();
    signal(&dp, "INT");
    let exit = dp.wait_with_output();
    assert!(
        counted >= want,
        "port-tx counted {counted} packets as `tx ring full` in 30 s, fewer than {want} (50 \
         times the pool): the packets it could not send are not given back"
    );
    assert_eq!(
        out["tx_packets"], 0,
        "nothing leaves a memif nobody connected to: {out}"
    );
    assert!(exit.status.success(), "dataplane exit: {:?}", exit.status);
}
