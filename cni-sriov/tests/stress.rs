//! Concurrency and endurance: concurrent ADDs never hand out one VF twice; many ADD/DEL cycles
//! leak no interface, IPAM allocation or state file.

mod support;

use std::time::Instant;

use serde_json::json;
use support::{Netns, World, privileged};

#[test]
fn eight_concurrent_adds_over_four_vfs_never_share_a_vf() {
    if !privileged("eight_concurrent_adds_over_four_vfs") {
        return;
    }
    let w = World::new("conc", 4, 0);
    let pods: Vec<Netns> = (0..8).map(|_| Netns::new("concp")).collect();
    let confs: Vec<_> = (0..8)
        .map(|i| {
            w.conf(
                "1.0.0",
                &w.vfs[i % 4],
                "10.212.0.0/24",
                json!({"vlan": 10 + i}),
            )
        })
        .collect();
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let (w, pods, confs) = (&w, &pods, &confs);
                s.spawn(move || {
                    w.runtime().add_chain(
                        std::slice::from_ref(&confs[i]),
                        &format!("c{i}"),
                        &pods[i].path(),
                        "net1",
                    )
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut winners = vec![None; 4];
    for (i, r) in results.iter().enumerate() {
        let vf = i % 4;
        if r.code == 0 {
            assert!(winners[vf].is_none(), "VF {vf} handed out twice");
            winners[vf] = Some(i);
            assert!(pods[i].link("net1").is_some(), "winner {i} has no net1");
        } else {
            assert_eq!(r.out["code"], 100, "loser {i}: {}", r.out);
            assert_eq!(pods[i].links().len(), 1, "loser {i} got an interface");
        }
    }
    assert!(
        winners.iter().all(Option::is_some),
        "some VF unused: {winners:?}"
    );
    // Each winner's VF carries the winner's VLAN on the PF side.
    for (vf, win) in winners.iter().enumerate() {
        let s = w.pf_state(&w.vfs[vf]).unwrap();
        assert_eq!(
            s["vlan"][0],
            10 + win.unwrap(),
            "VF {vf} PF state from a loser"
        );
    }
    assert_eq!(w.ipam_files().len(), 4, "{:?}", w.ipam_files());
    // The runtime DELs every attachment, losers included; losers must not disturb winners.
    for i in (0..8).filter(|i| !winners.contains(&Some(*i))) {
        w.runtime()
            .del_chain(
                std::slice::from_ref(&confs[i]),
                &format!("c{i}"),
                &pods[i].path(),
                "net1",
            )
            .ok();
    }
    for &i in winners.iter().flatten() {
        assert!(
            pods[i].link("net1").is_some(),
            "a loser's DEL removed winner {i}'s VF"
        );
        w.runtime()
            .del_chain(
                std::slice::from_ref(&confs[i]),
                &format!("c{i}"),
                &pods[i].path(),
                "net1",
            )
            .ok();
    }
    for vf in &w.vfs {
        w.assert_vf_pristine(vf);
    }
    assert!(w.ipam_files().is_empty() && w.state_files().is_empty());
}

#[test]
fn many_add_del_cycles_leak_nothing() {
    if !privileged("many_add_del_cycles_leak_nothing") {
        return;
    }
    // Each cycle moves a netdev between namespaces twice, and the kernel's synchronize_net()
    // in that move costs ~20 ms per pair here: a cycle is 60-80 ms, so 1000 cycles take 60-80 s
    // on this 2-core machine (measured: 1000 cycles, 81 s, no leak). The default of 300 keeps
    // the test near 20 s; CNI_SRIOV_CYCLES=1000 runs the full count.
    let cycles: usize = std::env::var("CNI_SRIOV_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let w = World::new("cyc", 1, 0);
    let pod = Netns::new("cycp");
    let vf = w.vfs[0].clone();
    let conf = w.conf(
        "1.0.0",
        &vf,
        "10.213.0.0/24",
        json!({"vlan": 3, "mac": "02:00:00:00:99:01", "mtu": 1450}),
    );
    let rt = w.runtime();
    let host_before = w.host.links().len();
    let pod_before = pod.links().len();
    let t = Instant::now();
    for i in 0..cycles {
        let cid = format!("cyc{i}");
        let r = rt.add_chain(std::slice::from_ref(&conf), &cid, &pod.path(), "net1");
        assert_eq!(r.code, 0, "cycle {i} ADD: {}", r.out);
        let r = rt.del_chain(std::slice::from_ref(&conf), &cid, &pod.path(), "net1");
        assert_eq!(r.code, 0, "cycle {i} DEL: {}", r.out);
    }
    let el = t.elapsed();
    eprintln!(
        "{cycles} ADD/DEL cycles in {:.1}s ({:.1} ms per cycle, incl. host-local and ip netns exec)",
        el.as_secs_f64(),
        el.as_secs_f64() * 1000.0 / cycles.max(1) as f64
    );
    assert_eq!(w.host.links().len(), host_before, "host interfaces leaked");
    assert_eq!(pod.links().len(), pod_before, "pod interfaces leaked");
    w.assert_vf_pristine(&vf);
    assert!(w.ipam_files().is_empty(), "IPAM leak {:?}", w.ipam_files());
    assert!(
        w.state_files().is_empty(),
        "state leak {:?}",
        w.state_files()
    );
    let leftovers: Vec<_> = std::fs::read_dir(w.dir.join("state/attachments"))
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "temp files in state dir: {leftovers:?}"
    );
}
