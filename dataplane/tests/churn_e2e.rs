//! Zero-loss reconfiguration: while net_pcap replays a steady stream of routed traffic
//! through the dataplane, the control API adds and deletes 10,000 unrelated routes and churns a
//! VXLAN tunnel. Every packet received must be forwarded, and no node may count a drop.
//! (Port `out` also sends one frame of the dataplane's own: the announcement of its address.)

mod common;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::net::*;
use common::*;
use dp_api::client::block_on;
use dp_api::{Client, Ipv4Cidr, Ipv4Prefix, NextHop, Route, Tunnel};

#[test]
fn ten_thousand_route_changes_and_tunnel_churn_lose_no_packet() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("stream.pcap");
    // 256 flows, to 10.2.1.0 to 10.2.1.255, each from its own UDP port.
    let flows: Vec<Vec<u8>> = (0..256u32)
        .map(|f| {
            udp_frame(
                [10, 2, (f >> 8) as u8 + 1, f as u8],
                1024 + f as u16,
                0,
                &[0; 22],
            )
        })
        .collect();
    write_pcap(&pcap, &flows);
    let socket = dir.path().join("api.sock");
    let cfg = dir.path().join("churn.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpc{tag}"),
            &socket,
            &format!(
                "[worker]\npoll-mode = true\n{}{}",
                in_port(&format!(
                    "net_pcap_k{tag},rx_pcap={},infinite_rx=1",
                    pcap.display()
                )),
                routed_out(&format!("net_null_k{tag},no-rx=1"))
            ),
        ),
    )
    .unwrap();
    let (child, _lines) = start_ready(&cfg);
    let client = Client::new(&socket);

    let start_t = Instant::now();
    let mut tunnel_churns = 0;
    let prefix = |i: u32| {
        Ipv4Prefix::new(Ipv4Addr::new(20, (i >> 8) as u8, (i & 0xff) as u8, 0), 24).unwrap()
    };
    let route = |i: u32| Route {
        prefix: prefix(i),
        next_hops: vec![NextHop {
            via: Some("10.0.2.2".parse().unwrap()),
            interface: None,
        }],
    };
    let tunnel = Tunnel {
        name: "churn".into(),
        vni: 4242,
        local: "10.0.2.1".parse().unwrap(),
        remote: "10.0.2.77".parse().unwrap(),
        udp_port: 4789,
        address: Some(Ipv4Cidr::new("172.30.0.1".parse().unwrap(), 24).unwrap()),
    };
    for i in 0..10_000u32 {
        block_on(client.add_route(&route(i))).unwrap_or_else(|e| panic!("add route {i}: {e}"));
        if i % 500 == 0 {
            block_on(client.add_tunnel(&tunnel)).expect("add tunnel");
            block_on(client.delete_tunnel("churn")).expect("delete tunnel");
            tunnel_churns += 1;
        }
    }
    for i in 0..10_000u32 {
        block_on(client.delete_route(prefix(i)))
            .unwrap_or_else(|e| panic!("delete route {i}: {e}"));
    }
    let churn = start_t.elapsed();
    let left = block_on(client.list_routes()).unwrap();
    assert!(
        !left.iter().any(|r| r.prefix.addr().octets()[0] == 20),
        "every churned route is gone"
    );
    // The stream runs on until it is a meaningful one, however fast the churn went (a
    // loaded machine is slower, not wrong): the check below is about loss, not speed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline
        && block_on(client.port_stats())
            .unwrap()
            .iter()
            .find(|s| s.name == "in")
            .is_none_or(|s| s.rx_packets <= 100_000)
    {
        std::thread::sleep(Duration::from_millis(100));
    }

    signal(&child, "INT");
    let out = child.wait_with_output();
    assert!(out.status.success(), "exit {:?}", out.status);
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let row = |name: &str| -> Vec<u64> {
        report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}:\n{report}"))
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (input, output) = (row("in"), row("out"));
    eprintln!("{report}");
    assert!(
        input[0] > 100_000,
        "a steady stream ran: {} packets",
        input[0]
    );
    assert_eq!(
        output[1],
        input[0] + 1,
        "every packet received was forwarded, beside the announcement of out's address"
    );
    // The report's counters (node, count, reason): none may be a drop.
    let drops: Vec<(String, String)> = report
        .lines()
        .skip_while(|l| !(l.starts_with("node") && l.ends_with("reason")))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let mut w = l.split_whitespace();
            let node = w.next().unwrap_or_default().to_string();
            (node, w.skip(1).collect::<Vec<_>>().join(" "))
        })
        .filter(|(n, r)| !dp_net::NOT_DROPS.contains(&(n.as_str(), r.as_str())))
        .collect();
    assert!(
        drops.is_empty(),
        "no node counted a drop: {drops:?}\n{report}"
    );
    let mpps = report
        .lines()
        .find(|l| l.starts_with("forwarded"))
        .unwrap_or_default();
    eprintln!(
        "churn: 20000 route changes and {tunnel_churns} tunnel add/delete pairs in {:.2} s ({:.0} route changes/s) while {mpps}",
        churn.as_secs_f64(),
        20_000.0 / churn.as_secs_f64()
    );
}
