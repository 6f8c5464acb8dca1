//! The CNI plugin and the dataplane together, as a node runs them: the built `cni-sriov` binary
//! is exec'd like a container runtime does (CNI_* environment, config on stdin, real
//! `host-local` IPAM) to ADD two pods on memif; each pod runs a DPDK process (testpmd
//! icmpecho) on the socket the result names; a kernel pod and a Linux kernel VXLAN peer reach
//! both through the dataplane; a pod's process restarts and traffic resumes; DEL removes the
//! ports and sockets; DEL again succeeds.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::net::*;
use common::*;

/// Runs the plugin like a runtime: returns (exit code, stdout).
fn cni(cmd: &str, container: &str, netns: &str, config: &str) -> (i32, String) {
    let mut child = Command::new(workspace_bin("cni-sriov"))
        .env("CNI_COMMAND", cmd)
        .env("CNI_CONTAINERID", container)
        .env("CNI_NETNS", format!("/var/run/netns/{netns}"))
        .env("CNI_IFNAME", "net1")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run cni-sriov");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(config.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        eprintln!(
            "cni-sriov {cmd} {container}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.code().unwrap_or(-1), stdout)
}

fn sh_ok(ns: &Netns, script: &str) {
    let out = ns.exec(&["sh", "-c", script]);
    assert!(
        out.status.success(),
        "in {}: `{script}`: {}",
        ns.0,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn cni_adds_memif_pods_that_the_kernel_and_a_vxlan_peer_reach() {
    cni_pods("memif");
}

#[test]
fn cni_adds_vhost_user_pods_that_the_kernel_and_a_vxlan_peer_reach() {
    cni_pods("vhost-user");
}

/// The pod side of a port of `kind` on `socket`.
fn pod_vdev(kind: &str, socket: &Path) -> String {
    match kind {
        "memif" => format!(
            "net_memif0,role=client,socket={},socket-abstract=no",
            socket.display()
        ),
        _ => format!("net_virtio_user0,path={},queues=1", socket.display()),
    }
}

fn cni_pods(kind: &str) {
    if !require_dpdk()
        || !require(
            Path::new("/usr/lib/cni/host-local").exists(),
            "needs host-local (containernetworking-plugins)",
        )
    {
        return;
    }
    // Timestamped phases: nextest prints them for a failed or retried run, to show where an
    // intermittent slow run (see .config/nextest.toml) spends its time.
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("[test +{:.1}s] {what}", t0.elapsed().as_secs_f64());
    let tag = std::process::id() % 100000;
    let pa = Netns::new(&format!("dpua{tag}"));
    let rh = Netns::new(&format!("dpur{tag}"));
    let (ha, hu) = (format!("ua{tag}"), format!("uu{tag}"));
    let _va = plug_via(&pa, &ha, "10.0.1.2/24", "10.0.1.1");
    let _vu = plug(&rh, &hu, "192.168.50.2/24");
    sh_ok(
        &rh,
        "ethtool -K eth0 tx off >/dev/null && \
         ip link add vx100 type vxlan id 100 local 192.168.50.2 remote 192.168.50.1 dstport 4789 dev eth0 && \
         ethtool -K vx100 tx off >/dev/null && ip addr add 172.16.0.2/24 dev vx100 && ip link set vx100 up && \
         ip route add 10.56.0.0/24 via 172.16.0.1",
    );
    // The pods' own network namespaces (CNI_NETNS); their traffic goes through the sockets.
    let pod_ns: Vec<Netns> = (0..2)
        .map(|i| Netns::new(&format!("dpun{tag}{i}")))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api.sock");
    let cfg = dir.path().join("node.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpu{tag}"),
            &api,
            &format!(
                r#"[[port]]
name = "pod0"
device = "net_af_packet{tag}a,iface={ha}"
address = "10.0.1.1/24"
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
"#
            ),
        ),
    )
    .unwrap();
    let (dp, _lines) = start_ready(&cfg);

    let netconf = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": "dp-memif",
        "type": "cni-sriov",
        "userspace": if kind == "memif" {
            serde_json::json!({"type": "memif", "role": "client"})
        } else {
            serde_json::json!({"type": "vhost-user", "mode": "client"})
        },
        "dataplaneSocket": api,
        "socketDir": dir.path().join("pods"),
        "stateDir": dir.path().join("cni-state"),
        "ipam": {
            "type": "host-local",
            "dataDir": dir.path().join("ipam"),
            "ranges": [[{"subnet": "10.56.0.0/24", "gateway": "10.56.0.1", "rangeStart": "10.56.0.10"}]]
        }
    })
    .to_string();

    // ADD two pods; each gets an address and a socket, served by the dataplane.
    let mut pods = Vec::new();
    for (i, ns) in pod_ns.iter().enumerate() {
        let container = format!("c{tag}{i}0123456789abcdef");
        let (code, out) = cni("ADD", &container, &ns.0, &netconf);
        assert_eq!(code, 0, "ADD pod {i}: {out}");
        let result: serde_json::Value = serde_json::from_str(&out).expect("ADD result JSON");
        let ip = result["ips"][0]["address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let socket = PathBuf::from(
            result["interfaces"][0]["socketPath"]
                .as_str()
                .expect("socketPath"),
        );
        assert!(socket.exists(), "the dataplane serves {}", socket.display());
        assert!(
            dir.path().join("ipam").join("dp-memif").join(&ip).exists(),
            "host-local holds {ip}"
        );
        pods.push((container, ip, socket));
    }
    assert_ne!(pods[0].1, pods[1].1, "two pods, two addresses");
    step("both pods added");

    let mut procs: Vec<PodDpdk> = pods
        .iter()
        .enumerate()
        .map(|(i, (_, _, s))| PodDpdk::start(&pod_vdev(kind, s), &format!("dpup{tag}{i}")))
        .collect();
    step("pod processes started");
    for (_, ip, _) in &pods {
        assert!(
            ping_until(&pa, ip, Duration::from_secs(15)),
            "kernel pod -> memif pod {ip}"
        );
        step(&format!("kernel pod pinged {ip}"));
    }
    assert!(
        ping_until(&rh, &pods[0].1, Duration::from_secs(15)),
        "kernel VXLAN peer -> memif pod through the tunnel"
    );
    step("VXLAN peer pinged pod 0");

    // Pod to pod: pod 0's process becomes a generator of UDP to pod 1's address, sent to its
    // port's MAC; the dataplane routes it out of pod 1's port.
    procs.remove(0);
    step("pod 0's process stopped");
    let show = || Dpctl::new(&api).json(&["show", "interfaces"]);
    let by_socket = |v: &serde_json::Value, sock: &Path| -> (String, String) {
        let p = port_where(v, |p| p["device"]["socket"].as_str() == sock.to_str())
            .unwrap_or_else(|| panic!("no port on {}: {v}", sock.display()));
        (
            p["name"].as_str().unwrap().to_string(),
            p["mac"].as_str().unwrap().to_string(),
        )
    };
    let tx_of =
        |v: &serde_json::Value, name: &str| stats_in(v, name)["tx_packets"].as_u64().unwrap();
    let before = show();
    let (_, mac0) = by_socket(&before, &pods[0].2);
    let (port1, _) = by_socket(&before, &pods[1].2);
    let sent_before = tx_of(&before, &port1);
    step("interfaces read; starting the generator");
    {
        let peer = format!("--eth-peer=0,{mac0}");
        let ips = format!("--tx-ip={},{}", pods[0].1, pods[1].1);
        let _gen = PodDpdk::start_with(
            &pod_vdev(kind, &pods[0].2),
            &format!("dpug{tag}"),
            &["--forward-mode=txonly", &peer, &ips],
        );
        // Until pod 1 got a real stream (a loaded machine is slower, not wrong).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while tx_of(&show(), &port1) - sent_before <= 10_000 && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let forwarded = tx_of(&show(), &port1) - sent_before;
    step(&format!("generator done: {forwarded} packets forwarded"));
    assert!(
        forwarded > 10_000,
        "pod 0 -> pod 1 through the dataplane: {forwarded} packets"
    );

    // The first pod's process restarts; traffic resumes without anyone acting.
    procs.insert(
        0,
        PodDpdk::start(&pod_vdev(kind, &pods[0].2), &format!("dpuq{tag}")),
    );
    assert!(
        ping_until(&pa, &pods[0].1, Duration::from_secs(15)),
        "traffic resumes after the pod's process restarts"
    );
    step("pod 0 reached again after its restart");
    drop(procs);
    step("pod processes stopped");

    // DEL removes ports and sockets; DEL again succeeds.
    for ((container, ip, socket), ns) in pods.iter().zip(&pod_ns) {
        let (code, out) = cni("DEL", container, &ns.0, &netconf);
        assert_eq!(code, 0, "DEL: {out}");
        assert!(!socket.exists(), "DEL removed {}", socket.display());
        let (code, out) = cni("DEL", container, &ns.0, &netconf);
        assert_eq!(code, 0, "DEL again: {out}");
        assert!(
            !dir.path().join("ipam").join("dp-memif").join(ip).exists(),
            "IPAM released {ip}"
        );
    }
    let ports = Dpctl::new(&api).json(&["show", "interfaces"]);
    let names: Vec<&str> = ports["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["pod0", "uplink"],
        "only the node's own ports are left"
    );
    drop(dp);
}
