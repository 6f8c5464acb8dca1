//! Routing and VXLAN end to end, with the Linux kernel as the peer: two pods on two routed
//! ports, and a remote host whose kernel `vxlan` device (id 100, dstport 4789) is the other
//! VTEP. Pods and host are namespaces joined to the dataplane by veth + net_af_packet.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::net::*;
use common::*;

fn sh(ns: &Netns, script: &str) -> (bool, String) {
    let out = ns.exec(&["sh", "-c", script]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn sh_ok(ns: &Netns, script: &str) -> String {
    let (ok, text) = sh(ns, script);
    assert!(ok, "in {}: `{script}` failed:\n{text}", ns.0);
    text
}

/// /proc/net/snmp counters of a namespace: (Ip InHdrErrors, Icmp InCsumErrors, Udp InCsumErrors).
fn kernel_errors(ns: &Netns) -> (u64, u64, u64) {
    let snmp = sh_ok(ns, "cat /proc/net/snmp");
    let field = |proto: &str, name: &str| -> u64 {
        let lines: Vec<&str> = snmp
            .lines()
            .filter(|l| l.starts_with(&format!("{proto}:")))
            .collect();
        let names: Vec<&str> = lines[0].split_whitespace().collect();
        let vals: Vec<&str> = lines[1].split_whitespace().collect();
        let i = names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{proto} {name} in {snmp}"));
        vals[i].parse().unwrap()
    };
    (
        field("Ip", "InHdrErrors"),
        field("Icmp", "InCsumErrors"),
        field("Udp", "InCsumErrors"),
    )
}

struct Bg(Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn routed_and_vxlan_traffic_interoperates_with_the_kernel() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let pa = Netns::new(&format!("dpra{tag}"));
    let pb = Netns::new(&format!("dprb{tag}"));
    let rh = Netns::new(&format!("dprh{tag}"));
    let (ha, hb, hu) = (format!("ra{tag}"), format!("rb{tag}"), format!("ru{tag}"));
    let _va = plug_via(&pa, &ha, "10.0.1.2/24", "10.0.1.1");
    let _vb = plug_via(&pb, &hb, "10.0.2.2/24", "10.0.2.1");
    let _vu = plug(&rh, &hu, "192.168.50.2/24");
    // veth hands af_packet frames whose checksums the kernel meant to finish in "hardware":
    // make the namespaces compute them in software, as a real NIC peer would see them.
    for ns in [&pa, &pb, &rh] {
        sh_ok(ns, "ethtool -K eth0 tx off >/dev/null");
    }
    sh_ok(
        &rh,
        "ip link add vx100 type vxlan id 100 local 192.168.50.2 remote 192.168.50.1 dstport 4789 dev eth0 && \
         ethtool -K vx100 tx off >/dev/null && \
         ip addr add 172.16.0.2/24 dev vx100 && ip link set vx100 up && \
         ip addr add 10.0.3.1/32 dev lo && \
         ip route add 10.0.1.0/24 via 172.16.0.1 && ip route add 10.0.2.0/24 via 172.16.0.1",
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("routed.toml");
    let sock = dir.path().join("api.sock").display().to_string();
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpr{tag}"),
            &sock,
            &format!(
                r#"[[port]]
name = "pod0"
device = "net_af_packet{tag}a,iface={ha}"
address = "10.0.1.1/24"
[[port]]
name = "pod1"
device = "net_af_packet{tag}b,iface={hb}"
address = "10.0.2.1/24"
[[port]]
name = "uplink"
device = "net_af_packet{tag}u,iface={hu}"
address = "192.168.50.1/24"
[[tunnel]]
name = "vx100"
vni = 100
local = "192.168.50.1"
remote = "192.168.50.2"
address = "172.16.0.1/24"
[[route]]
prefix = "10.0.3.0/24"
via = "172.16.0.2"
"#
            ),
        ),
    )
    .unwrap();
    let before = [kernel_errors(&pa), kernel_errors(&pb), kernel_errors(&rh)];
    let (child, lines) = start(&cfg);
    assert!(
        wait_line(&lines, "forwarding on", Duration::from_secs(30)),
        "dataplane did not start"
    );

    // Plain routing between two pods on two ports (the first ping may be lost to ARP).
    let (_, out) = sh(&pa, "ping -c 1 -W 1 10.0.2.2");
    eprintln!("{out}");
    let out = sh_ok(&pa, "ping -c 3 -i 0.2 -W 2 10.0.2.2");
    assert!(out.contains("3 received"), "{out}");
    assert!(out.contains("ttl=63"), "one routed hop: {out}");

    // Through the tunnel to what sits behind the kernel VTEP, both ways.
    let _ = sh(&pa, "ping -c 2 -W 1 10.0.3.1");
    let out = sh_ok(&pa, "ping -c 3 -i 0.2 -W 2 10.0.3.1");
    assert!(
        out.contains("3 received"),
        "pod -> behind the kernel VTEP: {out}"
    );
    let out = sh_ok(&rh, "ping -c 3 -i 0.2 -W 2 -I 10.0.3.1 10.0.1.2");
    assert!(
        out.contains("3 received"),
        "behind the kernel VTEP -> pod: {out}"
    );
    // ARP resolved over the tunnel: the kernel knows our tunnel interface's MAC.
    let neigh = sh_ok(&rh, "ip neigh show dev vx100");
    assert!(
        neigh.contains("172.16.0.1 lladdr 02:d0:00:00:64:00"),
        "kernel ARP over the tunnel: {neigh}"
    );

    // UDP of several sizes, up to the tunnel MTU (1450 = 20 IP + 8 UDP + 1422).
    let _server = Bg(Command::new("ip")
        .args(["netns", "exec", &rh.0, "python3", "-c",
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('10.0.3.1',7777))\nwhile True:\n d,a=s.recvfrom(65535)\n s.sendto(d,a)"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap());
    std::thread::sleep(Duration::from_millis(300));
    let client = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
for size in (1, 64, 512, 1000, 1400, 1422):
    data = bytes((i * 7 + size) % 256 for i in range(size))
    for attempt in range(3):
        s.sendto(data, ("10.0.3.1", 7777))
        try:
            got, _ = s.recvfrom(65535)
            break
        except socket.timeout:
            continue
    else:
        sys.exit("no echo for size %d" % size)
    if got != data:
        sys.exit("echo differs for size %d" % size)
print("udp ok")
"#;
    let out = sh_ok(&pa, &format!("python3 -c '{client}'"));
    assert!(out.contains("udp ok"), "{out}");

    // Too big for the tunnel with DF: ICMP fragmentation needed with the tunnel MTU.
    let (_, out) = sh(&pa, "ping -c 1 -W 2 -M do -s 1430 10.0.3.1");
    assert!(
        out.contains("mtu = 1450") || out.contains("Frag needed"),
        "frag needed: {out}"
    );
    // TTL 1: time exceeded from the dataplane.
    let (_, out) = sh(&pa, "ping -c 1 -W 2 -t 1 10.0.2.2");
    assert!(
        out.contains("From 10.0.1.1") && out.contains("Time to live exceeded"),
        "ttl: {out}"
    );

    // IPv4 options (ping -R: record route) are the one kind of the kernel's packets that
    // ethernet-input leaves to ip4-input's full check; they are routed like any other.
    let out = sh_ok(&pa, "ping -c 2 -i 0.2 -W 2 -R 10.0.2.2");
    assert!(out.contains("2 received"), "ping with IPv4 options: {out}");

    // A pod joins at runtime: a port created through the API, polled without stopping anyone.
    let pc = Netns::new(&format!("dprc{tag}"));
    let hc = format!("rc{tag}");
    let _vc = plug_via(&pc, &hc, "10.0.4.2/24", "10.0.4.1");
    sh_ok(&pc, "ethtool -K eth0 tx off >/dev/null");
    let dev = format!("net_af_packet{tag}c,iface={hc}");
    let d = Dpctl::new(&sock);
    d.ok(&[
        "port",
        "add",
        "pod2",
        "--device",
        &dev,
        "--address",
        "10.0.4.1/24",
    ]);
    let _ = sh(&pa, "ping -c 2 -W 1 10.0.4.2");
    let out = sh_ok(&pa, "ping -c 3 -i 0.2 -W 2 10.0.4.2");
    assert!(
        out.contains("3 received"),
        "to the pod added at runtime: {out}"
    );
    // Deleting it while other traffic flows costs that traffic nothing.
    let steady = Command::new("ip")
        .args([
            "netns", "exec", &pa.0, "ping", "-c", "30", "-i", "0.05", "-W", "1", "10.0.2.2",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.ok(&["port", "del", "pod2"]);
    let steady = steady.wait_with_output().unwrap();
    let steady = String::from_utf8_lossy(&steady.stdout);
    assert!(
        steady.contains("30 received"),
        "pod1 traffic during the delete: {steady}"
    );
    let (ok, out) = sh(&pa, "ping -c 1 -W 1 10.0.4.2");
    assert!(!ok, "the deleted port forwards nothing: {out}");

    // Trace packets through the live graph while a pod pings.
    let _pinger = Bg(Command::new("ip")
        .args([
            "netns", "exec", &pa.0, "ping", "-c", "200", "-i", "0.05", "10.0.2.2",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap());
    let trace = d.json(&["trace", "3", "--wait", "5"]);
    let packets = trace["packets"].as_array().expect("packets");
    assert_eq!(packets.len(), 3, "{trace}");
    for p in packets {
        let nodes: Vec<&str> = p["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        assert_eq!(nodes.first(), Some(&"ethernet-input"), "{p}");
        assert!(
            nodes.contains(&"ip4-rewrite") && nodes.last() == Some(&"port-tx"),
            "{p}"
        );
        assert!(
            p["summary"].as_str().unwrap().starts_with("IPv4 10.0."),
            "{p}"
        );
    }

    // Capture what pod0 receives and what pod1 sends, as pcapng that tshark reads.
    for (port, dir) in [("pod0", "rx"), ("pod1", "tx")] {
        let file = cfg
            .parent()
            .expect("config in a temp dir")
            .join(format!("{port}-{dir}.pcapng"));
        let file_arg = file.to_str().expect("UTF-8 temp path");
        let out = d.ok(&[
            "capture", "--port", port, "--dir", dir, "--count", "4", "--wait", "5", "--out",
            file_arg,
        ]);
        assert!(out.contains("captured 4 packets"), "{out}");
        let t = Command::new("tshark")
            .arg("-r")
            .arg(&file)
            .args([
                "-T",
                "fields",
                "-e",
                "ip.src",
                "-e",
                "ip.dst",
                "-e",
                "icmp.type",
            ])
            .output()
            .expect("tshark (ci/setup.sh installs it)");
        let text = String::from_utf8_lossy(&t.stdout);
        assert!(
            t.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&t.stderr)
        );
        assert_eq!(text.lines().count(), 4, "{port} {dir}: {text}");
        assert!(
            text.lines().all(|l| l == "10.0.1.2\t10.0.2.2\t8"),
            "{port} {dir}: {text}"
        );
    }

    // The uplink's tx is VXLAN: tshark decodes the headers (VNI 100) and the inner ICMP.
    let _tunnel_pinger = Bg(Command::new("ip")
        .args([
            "netns", "exec", &pa.0, "ping", "-c", "200", "-i", "0.05", "10.0.3.1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap());
    let file = cfg
        .parent()
        .expect("config in a temp dir")
        .join("uplink-tx.pcapng");
    let file_arg = file.to_str().expect("UTF-8 temp path");
    d.ok(&[
        "capture", "--port", "uplink", "--dir", "tx", "--count", "3", "--wait", "5", "--out",
        file_arg,
    ]);
    let t = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-Y",
            "icmp",
            "-T",
            "fields",
            "-e",
            "vxlan.vni",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "icmp.type",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(
        !text.is_empty(),
        "tshark found VXLAN ICMP in the uplink capture"
    );
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f[0], "100", "VXLAN VNI: {l}");
        assert_eq!(
            f[1], "192.168.50.1,10.0.1.2",
            "outer and inner sources: {l}"
        );
        assert_eq!(
            f[2], "192.168.50.2,10.0.3.1",
            "outer and inner destinations: {l}"
        );
        assert_eq!(f[3], "8", "inner ICMP echo request: {l}");
    }

    signal(&child, "INT");
    assert!(wait_line(
        &lines,
        "SIGINT received",
        Duration::from_secs(10)
    ));
    let out = child.wait_with_output();
    assert!(out.status.success(), "exit {:?}", out.status);
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    for node in [
        "ethernet-input",
        "arp-input",
        "ip4-input",
        "ip4-lookup",
        "ip4-rewrite",
        "vxlan-encap",
        "vxlan-decap",
        "port-tx",
    ] {
        assert!(
            report.lines().any(|l| l.starts_with(node)),
            "{node} ran: {report}"
        );
    }
    assert!(
        report.contains("TTL expired in transit (ICMP time exceeded sent)"),
        "{report}"
    );

    // The kernels saw no checksum or header errors from us.
    let after = [kernel_errors(&pa), kernel_errors(&pb), kernel_errors(&rh)];
    assert_eq!(
        before, after,
        "kernel IP header / ICMP / UDP checksum error counters moved"
    );
    let stats = sh_ok(&rh, "ip -s -s link show vx100");
    eprintln!("{stats}");
}
