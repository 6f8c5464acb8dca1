//! Kernel-VF mode through the runtime harness: ADD/CHECK/DEL round trips on veth "VFs" in a
//! test-made host namespace, chained with Debian's `tuning`, real `host-local` IPAM.

mod support;

use serde_json::json;
use support::{Netns, World, privileged};

#[test]
fn add_check_del_round_trip_with_tuning_chain() {
    if !privileged("add_check_del_round_trip_with_tuning_chain") {
        return;
    }
    let w = World::new("rt", 2, 0);
    let pod = Netns::new("rtp");
    let vf = w.vfs[0].clone();
    let rt = w.runtime();
    let ours = w.conf(
        "1.0.0",
        &vf,
        "10.201.0.0/24",
        json!({"vlan": 100, "vlanQoS": 2, "spoofchk": "off", "trust": "on",
               "mac": "02:aa:bb:cc:dd:01", "mtu": 1400, "min_tx_rate": 10, "max_tx_rate": 500,
               "link_state": "enable", "someUnknownField": [1, 2]}),
    );
    let tuning = json!({"cniVersion": "1.0.0", "name": "cnit-net", "type": "tuning",
                        "sysctl": {"net.ipv4.conf.net1.accept_local": "1"}});
    let chain = [ours.clone(), tuning.clone()];
    // The VF's peer learns the pod's address from the gratuitous ARP (arp_accept makes the
    // kernel create a neighbour entry from it); nothing else sends from the pod.
    w.host.ip(&["addr", "add", "10.201.0.1/24", "dev", "vf0p"]);
    support::sh(&[
        "ip",
        "netns",
        "exec",
        &w.host.name,
        "sh",
        "-c",
        "echo 1 > /proc/sys/net/ipv4/conf/vf0p/arp_accept",
    ]);
    let res = rt.add_chain(&chain, "cid1", &pod.path(), "net1").ok();

    eprintln!("ADD result: {res}");
    // What the user sees in the pod.
    let l = pod.link("net1").expect("net1 in the pod");
    assert_eq!(l["address"], "02:aa:bb:cc:dd:01");
    assert_eq!(l["mtu"], 1400);
    assert!(l["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(pod.addrs("net1"), vec!["10.201.0.2/24".to_string()]);
    let routes = pod.routes();
    assert!(
        routes.contains("10.199.0.0/16 via 10.201.0.1 dev net1"),
        "{routes}"
    );
    // The VF is gone from the host; no temporary name left anywhere.
    assert!(w.host.link("vf0").is_none());
    assert!(!format!("{:?}{:?}", w.host.links(), pod.links()).contains("csv"));
    let mut neigh = String::new();
    for _ in 0..50 {
        neigh = w.host.ip(&["neigh", "show", "dev", "vf0p"]);
        if neigh.contains("10.201.0.2") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        neigh.contains("10.201.0.2 lladdr 02:aa:bb:cc:dd:01"),
        "no gratuitous ARP seen by the peer: {neigh:?}"
    );
    // tuning received our result as prevResult and applied its sysctl to our interface.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pod.name,
            "cat",
            "/proc/sys/net/ipv4/conf/net1/accept_local",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // The final result (passed through tuning) names our interface, its sandbox and address.
    assert_eq!(res["interfaces"][0]["name"], "net1");
    assert_eq!(res["interfaces"][0]["sandbox"], pod.path());
    assert_eq!(res["ips"][0]["address"], "10.201.0.2/24");
    // PF side got exactly the configured VF attributes.
    let calls = w.pf_calls();
    let set = &calls[0]["set"];
    assert_eq!(set["vlan"], json!([100, 2, 0x8100]));
    assert_eq!(set["spoofchk"], json!(false));
    assert_eq!(set["trust"], json!(true));
    assert_eq!(set["rate"], json!([10, 500]));
    assert_eq!(set["link_state"], json!(1));
    assert_eq!(set["mac"], json!([2, 0xaa, 0xbb, 0xcc, 0xdd, 1]));
    // Gratuitous ARP is armed (the kernel announces on link-up and MAC change).
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pod.name,
            "cat",
            "/proc/sys/net/ipv4/conf/net1/arp_notify",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    // logFile/logLevel: structured lines that name the attachment.
    let log = std::fs::read_to_string(w.dir.join("plugin.log")).unwrap();
    assert!(
        log.lines().any(|l| l.contains("level=info")
            && l.contains("cmd=Add")
            && l.contains("containerID=\"cid1\"")
            && l.contains(&vf.pci)),
        "{log}"
    );

    rt.check_chain(&chain, "cid1", &pod.path(), "net1").ok();

    // CHECK catches drift: an address removed behind our back.
    pod.ip(&["addr", "del", "10.201.0.2/24", "dev", "net1"]);
    let msg = rt
        .check_chain(&chain, "cid1", &pod.path(), "net1")
        .fails_with(105);
    assert!(msg.contains("10.201.0.2/24"), "{msg}");
    pod.ip(&["addr", "add", "10.201.0.2/24", "dev", "net1"]);
    pod.ip(&[
        "route",
        "add",
        "10.199.0.0/16",
        "via",
        "10.201.0.1",
        "dev",
        "net1",
    ]);
    rt.check_chain(&chain, "cid1", &pod.path(), "net1").ok();
    // ... and a MAC changed behind our back.
    pod.ip(&["link", "set", "net1", "address", "02:aa:bb:cc:dd:99"]);
    let msg = rt
        .check_chain(&chain, "cid1", &pod.path(), "net1")
        .fails_with(105);
    assert!(msg.contains("MAC"), "{msg}");
    pod.ip(&["link", "set", "net1", "address", "02:aa:bb:cc:dd:01"]);

    rt.del_chain(&chain, "cid1", &pod.path(), "net1").ok();
    assert!(pod.link("net1").is_none());
    w.assert_vf_pristine(&vf);
    assert!(w.ipam_files().is_empty(), "IPAM leak: {:?}", w.ipam_files());
    assert!(
        w.state_files().is_empty(),
        "state leak: {:?}",
        w.state_files()
    );

    // DEL twice: still success, nothing changes.
    rt.del_chain(&chain, "cid1", &pod.path(), "net1").ok();
    w.assert_vf_pristine(&vf);
}

#[test]
fn production_netlink_pf_control_against_a_real_link() {
    if !privileged("production_netlink_pf_control") {
        return;
    }
    // The PF is a real link here (a veth): reading its VF list works (it has none), and a
    // VF setting is refused by the kernel with EOPNOTSUPP, which also proves the kernel parsed
    // our IFLA_VFINFO_LIST nesting (a malformed one is EINVAL).
    let w = World::new("nlpf", 1, 0);
    let pod = Netns::new("nlpfp");
    w.host.ip(&[
        "link", "add", &w.pf, "type", "veth", "peer", "name", "cnitpf0p",
    ]);
    let vf = w.vfs[0].clone();
    let mut rt = w.runtime();
    rt.netlink_pf = true;
    let plain = w.conf("1.0.0", &vf, "10.214.0.0/24", json!({}));
    rt.add_chain(std::slice::from_ref(&plain), "cid1", &pod.path(), "net1")
        .ok();
    assert!(pod.link("net1").is_some());
    rt.del_chain(std::slice::from_ref(&plain), "cid1", &pod.path(), "net1")
        .ok();
    w.assert_vf_pristine(&vf);
    let vlan = w.conf("1.0.0", &vf, "10.214.0.0/24", json!({"vlan": 12}));
    let msg = rt
        .add_chain(&[vlan], "cid2", &pod.path(), "net1")
        .fails_with(102);
    assert!(msg.contains("not supported"), "{msg}");
    w.assert_vf_pristine(&vf);
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
    assert!(w.pf_calls().is_empty(), "recording PF used");
}
