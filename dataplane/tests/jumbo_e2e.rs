//! Jumbo frames end to end: ports with a 9000-byte MTU route 9000-byte packets whole, because
//! the mbufs are sized from the largest MTU (`[mempool] max-mtu`, else the largest configured
//! port MTU). Before, every mbuf held 2048 bytes: the driver chained longer frames, and the
//! rx poll dropped them. A port added through the API with an MTU above what the mbufs hold
//! is refused, naming the key that would allow it.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;

/// Lcore 0 (main) on CPU 0, the worker on CPU 1.
const CORES: &str = "0@0,1@1";

#[test]
fn jumbo_frames_are_routed_whole_and_too_big_api_ports_refused() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    // Packets of exactly the MTU (9000), and of 1500 and 64, to 10.2.0.0/16.
    let sizes = [9000usize, 1500, 64, 9000, 8999];
    let frames: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            let ip_len = sizes[i % sizes.len()];
            udp_frame(
                [10, 2, 0, 1 + i as u8],
                1000,
                i as u16,
                &vec![i as u8; ip_len - 28],
            )
        })
        .collect();
    let pcap = dir.path().join("in.pcap");
    write_pcap(&pcap, &frames);
    let out_pcap = dir.path().join("out.pcap");
    let in_dev = format!("net_pcap{tag}i,rx_pcap={}", pcap.display());
    let out_dev = format!("net_pcap{tag}o,tx_pcap={}", out_pcap.display());
    let body = format!(
        "{}mtu = 9000\n{}",
        in_port(&in_dev),
        routed_out(&out_dev).replacen("address", "mtu = 9000\naddress", 1)
    );
    let prefix = format!("dpj{tag}");
    let (dp, _lines, d) = start_config(dir.path(), CORES, &prefix, &body);

    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = |d: &Dpctl| {
        stats_in(&d.json(&["show", "interfaces"]), "out")["tx_packets"]
            .as_u64()
            .expect("tx_packets")
    };
    while sent(&d) < frames.len() as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let errors = d.ok(&["show", "errors"]);
    // The mbufs hold a 9000-byte MTU; one more is refused before any device is touched.
    let dev = format!("net_null_j{tag}z,no-rx=1");
    d.fails(
        &["port", "add", "pod9", "--device", &dev, "--mtu", "9100"],
        1,
        "max-mtu",
    );
    d.ok(&["port", "add", "pod9", "--device", &dev, "--mtu", "9000"]);
    signal(&dp, "INT");
    let exit = dp.wait_with_output();
    assert!(exit.status.success(), "dataplane exit: {:?}", exit.status);

    let (got, announced) = split_announcements(read_pcap(&out_pcap));
    assert_eq!(announced, [OUT_ADDR], "out's address announced once");
    assert_eq!(
        got.len(),
        frames.len(),
        "every frame routed, none dropped as longer than one mbuf; show errors:\n{errors}"
    );
    for (i, (f, g)) in frames.iter().zip(&got).enumerate() {
        assert_eq!(g.len(), f.len(), "frame {i}: length");
        assert_eq!(g[14 + 8], f[14 + 8] - 1, "frame {i}: TTL decremented");
        assert_eq!(g[34..], f[34..], "frame {i}: the UDP datagram unchanged");
    }
}
