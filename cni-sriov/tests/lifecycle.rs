//! DPDK mode, DEL edge cases, refusal of a VF in use, failure injection at every ADD step, GC,
//! STATUS, VERSION, result conversion and error codes, all through the runtime harness.

mod support;

use serde_json::{Value, json};
use support::{Netns, World, privileged};

#[test]
fn dpdk_mode_round_trip_with_device_info_and_version_negotiation() {
    if !privileged("dpdk_mode_round_trip") {
        return;
    }
    let w = World::new("dp", 0, 1);
    let pod = Netns::new("dpp");
    let vf = w.vfs[0].clone();
    let rt = w.runtime();
    let info = w.dir.join("devinfo/cid1-net1.json");
    // 1.1.0 config: host-local speaks only up to 1.0.0, so IPAM must be negotiated down.
    let conf = w.conf(
        "1.1.0",
        &vf,
        "10.202.0.0/24",
        json!({"vlan": 200, "vlanProto": "802.1ad", "trust": "on",
               "runtimeConfig": {"CNIDeviceInfoFile": info}}),
    );
    let res = rt
        .add_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .ok();
    assert_eq!(res["cniVersion"], "1.1.0");
    assert_eq!(res["interfaces"][0]["pciID"], vf.pci);
    assert_eq!(res["ips"][0]["address"], "10.202.0.2/24");
    // No netdev was moved: the pod has only lo.
    assert_eq!(pod.links().len(), 1, "{:?}", pod.links());
    let di: Value = serde_json::from_slice(&std::fs::read(&info).unwrap()).unwrap();
    assert_eq!(di["type"], "pci");
    assert_eq!(di["pci"]["pci-address"], vf.pci);
    assert_eq!(di["pci"]["pf-pci-address"], "0000:00:05.0");
    assert_eq!(di["pci"]["vfio-device"], "/dev/vfio/40");
    let set = &w.pf_calls()[0]["set"];
    assert_eq!(set["vlan"], json!([200, 0, 0x88a8]));
    assert_eq!(set["trust"], json!(true));

    rt.check_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .ok();
    // CHECK notices the VF was rebound to a kernel driver behind our back.
    let drv = w
        .sysfs()
        .join("devices/pci0000:00")
        .join(&vf.pci)
        .join("driver");
    std::fs::remove_file(&drv).unwrap();
    std::os::unix::fs::symlink(w.sysfs().join("bus/pci/drivers/iavf"), &drv).unwrap();
    let msg = rt
        .check_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .fails_with(105);
    assert!(msg.contains("iavf"), "{msg}");
    // DEL uses the saved mode (DPDK), not today's driver: PF side restored, no netdev hunt.
    rt.del_chain(&[conf], "cid1", &pod.path(), "net1").ok();
    assert!(!info.exists(), "device-info file left behind");
    let s = w.pf_state(&vf).unwrap();
    assert_eq!(s["vlan"], json!([0, 0, 0x8100]));
    assert_eq!(s["trust"], json!(false));
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
}

#[test]
fn del_after_pod_netns_deleted_restores_name_and_mac_in_host() {
    if !privileged("del_after_pod_netns_deleted") {
        return;
    }
    let w = World::new("gone", 1, 0);
    let pod = Netns::new("gonep");
    let vf = w.vfs[0].clone();
    let rt = w.runtime();
    let conf = w.conf(
        "1.0.0",
        &vf,
        "10.203.0.0/24",
        json!({"mac": "02:11:22:33:44:55"}),
    );
    rt.add_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .ok();
    // The pod's namespace goes away; the kernel hands the (physical) VF back to the host
    // under its pod name, with the pod's MAC.
    w.kernel_returns_vf(&pod, &vf, "net1");
    pod.delete();
    assert!(w.host.link("net1").is_some());
    rt.del_chain(&[conf], "cid1", &pod.path(), "net1").ok();
    assert!(w.host.link("net1").is_none(), "VF left under its pod name");
    w.assert_vf_pristine(&vf);
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
}

#[test]
fn del_with_no_state_succeeds_and_changes_nothing() {
    if !privileged("del_with_no_state") {
        return;
    }
    let w = World::new("nost", 1, 0);
    let vf = w.vfs[0].clone();
    let conf = w.conf("1.0.0", &vf, "10.204.0.0/24", json!({}));
    w.runtime()
        .exec(
            "DEL",
            &conf,
            "never-added",
            "/run/netns/cnit-does-not-exist",
            "net1",
        )
        .ok();
    // Also with an empty CNI_NETNS, as a runtime sends after the sandbox is gone.
    w.runtime()
        .exec("DEL", &conf, "never-added", "", "net1")
        .ok();
    w.assert_vf_pristine(&vf);
    assert!(w.pf_calls().is_empty());
}

#[test]
fn add_of_vf_in_use_is_refused_and_changes_nothing() {
    if !privileged("add_of_vf_in_use") {
        return;
    }
    let w = World::new("busy", 1, 0);
    let pod1 = Netns::new("busyp");
    let pod2 = Netns::new("busyq");
    let vf = w.vfs[0].clone();
    let rt = w.runtime();
    let conf = w.conf("1.0.0", &vf, "10.205.0.0/24", json!({"vlan": 5}));
    rt.add_chain(std::slice::from_ref(&conf), "cid1", &pod1.path(), "net1")
        .ok();
    let calls = w.pf_calls().len();
    let ipam = w.ipam_files();
    let conf2 = w.conf("1.0.0", &vf, "10.205.0.0/24", json!({"vlan": 6}));
    let msg = rt
        .add_chain(&[conf2], "cid2", &pod2.path(), "net1")
        .fails_with(100);
    assert!(msg.contains("cid1"), "message should name the owner: {msg}");
    assert_eq!(w.pf_calls().len(), calls, "PF touched by the refused ADD");
    assert_eq!(w.ipam_files(), ipam, "IPAM touched by the refused ADD");
    assert!(pod1.link("net1").is_some(), "owner lost its VF");
    assert_eq!(pod2.links().len(), 1);
    rt.check_chain(std::slice::from_ref(&conf), "cid1", &pod1.path(), "net1")
        .ok();
    rt.del_chain(&[conf], "cid1", &pod1.path(), "net1").ok();
    w.assert_vf_pristine(&vf);
}

#[test]
fn pod_ifname_equal_to_vf_host_name_does_not_collide() {
    if !privileged("pod_ifname_equal_to_vf_host_name") {
        return;
    }
    let w = World::new("coll", 2, 0);
    let pod = Netns::new("collp");
    // The pod already has a link named like VF 1's host netdev; moving VF 1 under its host
    // name would fail with EEXIST. The temporary name avoids that.
    pod.ip(&["link", "add", "vf1", "type", "veth", "peer", "name", "vf1x"]);
    let vf = w.vfs[1].clone();
    let rt = w.runtime();
    let conf = w.conf("1.0.0", &vf, "10.206.0.0/24", json!({}));
    rt.add_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net7")
        .ok();
    assert!(pod.link("net7").is_some());
    // And an ifname that already exists in the pod is refused, VF untouched.
    let vf0 = w.vfs[0].clone();
    let conf0 = w.conf("1.0.0", &vf0, "10.206.0.0/24", json!({}));
    let msg = rt
        .add_chain(&[conf0], "cid2", &pod.path(), "vf1")
        .fails_with(4);
    assert!(msg.contains("vf1"), "{msg}");
    w.assert_vf_pristine(&vf0);
    rt.del_chain(&[conf], "cid1", &pod.path(), "net7").ok();
    w.assert_vf_pristine(&vf);
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
}

#[test]
fn failure_at_every_add_step_leaves_nothing_behind() {
    if !privileged("failure_at_every_add_step") {
        return;
    }
    let w = World::new("fail", 1, 1);
    let pod = Netns::new("failp");
    for (vf, extra) in [
        (
            w.vfs[0].clone(),
            json!({"vlan": 7, "mac": "02:00:00:00:77:01", "mtu": 1300}),
        ),
        (w.vfs[1].clone(), json!({"vlan": 8})),
    ] {
        for step in cni_sriov::hooks::ADD_STEPS {
            let info = w.dir.join("devinfo/x.json");
            let mut extra = extra.clone();
            extra["runtimeConfig"] = json!({"CNIDeviceInfoFile": info});
            let conf = w.conf("1.0.0", &vf, "10.207.0.0/24", extra);
            let mut rt = w.runtime();
            rt.fail_at = Some(step.to_string());
            let r = rt.add_chain(std::slice::from_ref(&conf), "cidf", &pod.path(), "net1");
            let kernel = vf.netdev.is_some();
            let applies = kernel || !matches!(*step, "move" | "configure" | "addresses");
            if !applies {
                // That step does not exist in DPDK mode: ADD succeeds; clean up and go on.
                r.ok();
                rt.fail_at = None;
                rt.del_chain(&[conf], "cidf", &pod.path(), "net1").ok();
                continue;
            }
            let msg = r.fails_with(999);
            assert!(msg.contains(step), "{step}: {msg}");
            assert_eq!(
                pod.links().len(),
                1,
                "{step}: pod has leftovers {:?}",
                pod.links()
            );
            if kernel {
                w.assert_vf_pristine(&vf);
                assert!(
                    !format!("{:?}", w.host.links()).contains("csv"),
                    "{step}: temporary name left in host"
                );
            }
            if let Some(s) = w.pf_state(&vf) {
                assert_eq!(
                    s["vlan"],
                    json!([0, 0, 0x8100]),
                    "{step}: PF vlan not restored"
                );
            }
            assert!(
                w.ipam_files().is_empty(),
                "{step}: IPAM leak {:?}",
                w.ipam_files()
            );
            assert!(
                w.state_files().is_empty(),
                "{step}: state leak {:?}",
                w.state_files()
            );
            assert!(!info.exists(), "{step}: device-info left");
        }
    }
}

#[test]
fn gc_removes_stale_attachments_only() {
    if !privileged("gc_removes_stale_attachments_only") {
        return;
    }
    let w = World::new("gc", 2, 0);
    let pod1 = Netns::new("gcp");
    let pod2 = Netns::new("gcq");
    let rt = w.runtime();
    let c0 = w.conf("1.1.0", &w.vfs[0], "10.208.0.0/24", json!({"vlan": 9}));
    let c1 = w.conf("1.1.0", &w.vfs[1], "10.208.0.0/24", json!({}));
    rt.add_chain(std::slice::from_ref(&c0), "stale", &pod1.path(), "net1")
        .ok();
    rt.add_chain(std::slice::from_ref(&c1), "live", &pod2.path(), "net1")
        .ok();
    assert_eq!(w.ipam_files().len(), 2);
    for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
        let mut gc = c1.clone();
        gc[key] = json!([{"containerID": "live", "ifname": "net1"}]);
        rt.exec_raw(
            "cni-sriov",
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", &support::cni_path())],
            &serde_json::to_vec(&gc).unwrap(),
        )
        .ok();
    }
    // GC without the list is refused (it must never mean "everything is stale").
    let msg = rt
        .exec_raw(
            "cni-sriov",
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", &support::cni_path())],
            &serde_json::to_vec(&c1).unwrap(),
        )
        .fails_with(7);
    assert!(msg.contains("valid-attachments"), "{msg}");
    assert!(pod1.link("net1").is_none(), "stale VF still in its pod");
    w.assert_vf_pristine(&w.vfs[0]);
    assert!(pod2.link("net1").is_some(), "GC took a valid attachment");
    assert_eq!(w.ipam_files(), vec!["10.208.0.3".to_string()]);
    assert_eq!(w.state_files().len(), 2);
    rt.del_chain(&[c1], "live", &pod2.path(), "net1").ok();
    assert!(w.state_files().is_empty());
}

#[test]
fn status_and_version() {
    if !privileged("status_and_version") {
        return;
    }
    let w = World::new("st", 1, 0);
    let rt = w.runtime();
    let path = support::cni_path();
    let env = [("CNI_COMMAND", "STATUS"), ("CNI_PATH", path.as_str())];
    let conf = w.conf("1.1.0", &w.vfs[0], "10.209.0.0/24", json!({}));
    rt.exec_raw("cni-sriov", &env, &serde_json::to_vec(&conf).unwrap())
        .ok();
    // A state directory that cannot be written means "not available" (50).
    std::fs::write(w.dir.join("blocker"), "x").unwrap();
    let bad = w.conf(
        "1.1.0",
        &w.vfs[0],
        "10.209.0.0/24",
        json!({"stateDir": w.dir.join("blocker/state")}),
    );
    let msg = rt
        .exec_raw("cni-sriov", &env, &serde_json::to_vec(&bad).unwrap())
        .fails_with(50);
    assert!(msg.contains("state directory"), "{msg}");
    // STATUS is a 1.1.0 command.
    let old = w.conf("1.0.0", &w.vfs[0], "10.209.0.0/24", json!({}));
    rt.exec_raw("cni-sriov", &env, &serde_json::to_vec(&old).unwrap())
        .fails_with(1);
    // VERSION needs nothing but cniVersion, not even CNI_PATH or a valid rest.
    let v = rt
        .exec_raw(
            "cni-sriov",
            &[("CNI_COMMAND", "VERSION")],
            br#"{"cniVersion":"1.0.0","vlan":"garbage"}"#,
        )
        .ok();
    assert_eq!(v["cniVersion"], "1.0.0");
    let sv: Vec<&str> = v["supportedVersions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(sv, ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
}

#[test]
fn result_converts_to_040_on_request() {
    if !privileged("result_converts_to_040") {
        return;
    }
    let w = World::new("old", 1, 0);
    let pod = Netns::new("oldp");
    let rt = w.runtime();
    let conf = w.conf("0.4.0", &w.vfs[0], "10.210.0.0/24", json!({}));
    let res = rt
        .add_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .ok();
    assert_eq!(res["cniVersion"], "0.4.0");
    assert_eq!(res["ips"][0]["version"], "4");
    assert_eq!(res["ips"][0]["address"], "10.210.0.2/24");
    assert!(res["interfaces"][0].get("pciID").is_none(), "{res}");
    assert!(res["interfaces"][0].get("mtu").is_none(), "{res}");
    rt.check_chain(std::slice::from_ref(&conf), "cid1", &pod.path(), "net1")
        .ok();
    rt.del_chain(&[conf], "cid1", &pod.path(), "net1").ok();
    w.assert_vf_pristine(&w.vfs[0]);
}

#[test]
fn malformed_input_missing_env_and_bad_fields_give_spec_codes() {
    if !privileged("malformed_input") {
        return;
    }
    let w = World::new("bad", 1, 0);
    let rt = w.runtime();
    let pod = Netns::new("badp");
    let path = support::cni_path();
    let full = |cmd: &'static str| {
        vec![
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", "cidb"),
            ("CNI_IFNAME", "net1"),
            ("CNI_PATH", path.as_str()),
        ]
    };
    let mut env = full("ADD");
    let netns = pod.path();
    env.push(("CNI_NETNS", netns.as_str()));
    let good = w.conf("1.0.0", &w.vfs[0], "10.211.0.0/24", json!({}));
    let msg = rt.exec_raw("cni-sriov", &env, b"{not json").fails_with(6);
    assert!(msg.contains("decode"), "{msg}");
    let msg = rt
        .exec_raw(
            "cni-sriov",
            &full("ADD"),
            &serde_json::to_vec(&good).unwrap(),
        )
        .fails_with(4);
    assert!(msg.contains("CNI_NETNS"), "{msg}");
    let mut bad_if = full("ADD");
    bad_if.retain(|(k, _)| *k != "CNI_IFNAME");
    bad_if.push(("CNI_IFNAME", "a/b"));
    bad_if.push(("CNI_NETNS", netns.as_str()));
    let msg = rt
        .exec_raw("cni-sriov", &bad_if, &serde_json::to_vec(&good).unwrap())
        .fails_with(4);
    assert!(msg.contains("CNI_IFNAME"), "{msg}");
    let msg = rt
        .exec_raw("cni-sriov", &[("CNI_PATH", path.as_str())], b"{}")
        .fails_with(4);
    assert!(msg.contains("CNI_COMMAND"), "{msg}");
    for (extra, field) in [
        (json!({"vlan": 4095}), "vlan"),
        (json!({"vlanQoS": 8, "vlan": 1}), "vlanQoS"),
        (json!({"vlanProto": "802.1x", "vlan": 1}), "vlanProto"),
        (json!({"mac": "not-a-mac"}), "mac"),
        (json!({"spoofchk": "maybe"}), "spoofchk"),
        (json!({"trust": "yes"}), "trust"),
        (json!({"link_state": "up"}), "link_state"),
        (json!({"max_tx_rate": "fast"}), "max_tx_rate"),
        (json!({"mtu": 0}), "mtu"),
        (json!({"deviceID": null}), "deviceID"),
        (json!({"deviceID": "nonsense"}), "deviceID"),
    ] {
        let c = w.conf("1.0.0", &w.vfs[0], "10.211.0.0/24", extra);
        let msg = rt
            .exec_raw("cni-sriov", &env, &serde_json::to_vec(&c).unwrap())
            .fails_with(7);
        assert!(msg.contains(&format!("`{field}`")), "{field}: {msg}");
    }
    let c = w.conf("2.0.0", &w.vfs[0], "10.211.0.0/24", json!({}));
    rt.exec_raw("cni-sriov", &env, &serde_json::to_vec(&c).unwrap())
        .fails_with(1);
    // A PCI address that is not a VF on this host.
    let c = w.conf(
        "1.0.0",
        &w.vfs[0],
        "10.211.0.0/24",
        json!({"deviceID": "0000:00:09.0"}),
    );
    let msg = rt
        .exec_raw("cni-sriov", &env, &serde_json::to_vec(&c).unwrap())
        .fails_with(101);
    assert!(msg.contains("0000:00:09.0"), "{msg}");
    // None of that touched anything.
    w.assert_vf_pristine(&w.vfs[0]);
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
}
