//! Userspace pod ports end to end, memif and vhost-user: a port created through the API
//! (`dpctl port add --memif|--vhost-user`), a pod-side DPDK process (testpmd in icmpecho mode:
//! the memif client, or virtio-user) attached through the socket, a kernel pod pinging it
//! through the dataplane; the pod's process restarts and traffic resumes without operator
//! action; deleting the port removes its socket.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Memif,
    VhostUser,
}

fn pod_port_through_the_api_survives_a_pod_restart(kind: Kind) {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let pa = Netns::new(&format!("dpma{tag}"));
    let ha = format!("ma{tag}");
    let _va = plug_via(&pa, &ha, "10.0.1.2/24", "10.0.1.1");
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api.sock");
    let cfg = dir.path().join("memif.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpm{tag}"),
            &api,
            &format!(
                r#"[[port]]
name = "pod0"
device = "net_af_packet{tag}m,iface={ha}"
address = "10.0.1.1/24"
"#
            ),
        ),
    )
    .unwrap();
    let (child, _lines) = start_ready(&cfg);

    let (flag, file, kind_name) = match kind {
        Kind::Memif => ("--memif", "memif.sock", "memif"),
        Kind::VhostUser => ("--vhost-user", "vhost.sock", "vhost-user"),
    };
    let memif = dir.path().join("pods").join("pod3").join(file);
    let pod_vdev = match kind {
        Kind::Memif => format!(
            "net_memif0,role=client,socket={},socket-abstract=no",
            memif.display()
        ),
        Kind::VhostUser => format!("net_virtio_user0,path={},queues=1", memif.display()),
    };
    let d = Dpctl::new(&api);
    // What the CNI plugin does for a pod: the pods' gateway as a /32 on the port...
    let sock = memif.to_str().expect("UTF-8 temp path");
    d.ok(&[
        "port",
        "add",
        "pod3",
        flag,
        sock,
        "--address",
        "10.56.0.1/32",
    ]);
    assert!(
        memif.exists(),
        "the dataplane created the socket in the pod's directory"
    );
    // ... and a host route to the pod's address through the port.
    d.ok(&["route", "add", "10.56.0.5/32", "dev", "pod3"]);
    // Another pod port shares the same gateway (unnumbered).
    let other = dir.path().join("pods").join("pod4").join(file);
    let other = other.to_str().expect("UTF-8 temp path");
    d.ok(&[
        "port",
        "add",
        "pod4",
        flag,
        other,
        "--address",
        "10.56.0.1/32",
    ]);

    {
        let _pod = PodDpdk::start(&pod_vdev, &format!("dpmp{tag}"));
        let ok = ping_until(&pa, "10.56.0.5", Duration::from_secs(15));
        if !ok {
            d.dump();
        }
        assert!(ok, "ping over the pod port to the pod's DPDK process");
    }
    // The pod's process went away; a new one attaches to the same socket, no operator action.
    {
        let _pod = PodDpdk::start(&pod_vdev, &format!("dpmq{tag}"));
        assert!(
            ping_until(&pa, "10.56.0.5", Duration::from_secs(15)),
            "traffic resumes after the pod restarts"
        );
    }
    let pod3 = d.port("pod3");
    assert_eq!(pod3["device"]["kind"], kind_name, "{pod3}");

    assert_eq!(
        d.run(&["port", "del", "pod3"]).0,
        1,
        "a port a route goes through is not deleted"
    );
    d.ok(&["route", "del", "10.56.0.5/32"]);
    d.ok(&["port", "del", "pod3"]);
    assert!(!memif.exists(), "deleting the port removes its socket");
    drop(child);
}

#[test]
fn memif_pod_port_through_the_api_survives_a_pod_restart() {
    pod_port_through_the_api_survives_a_pod_restart(Kind::Memif);
}

#[test]
fn vhost_user_pod_port_through_the_api_survives_a_pod_restart() {
    pod_port_through_the_api_survives_a_pod_restart(Kind::VhostUser);
}

/// A pod whose process keeps running while the dataplane restarts: its memif port (the pod
/// serves the socket, the dataplane is the memif client) and its route come back from the
/// state file, and traffic resumes without operator action.
#[test]
fn dataplane_restart_recreates_pod_ports_from_the_state_file() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let pa = Netns::new(&format!("dpsa{tag}"));
    let ha = format!("sa{tag}");
    let _va = plug_via(&pa, &ha, "10.0.1.2/24", "10.0.1.1");
    let dir = tempfile::tempdir().unwrap();
    let api = dir.path().join("api.sock");
    let state = dir.path().join("state").join("api-state.json");
    let cfg = dir.path().join("restart.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dps{tag}"),
            &api,
            &format!(
                r#"state-file = "{}"
[[port]]
name = "pod0"
device = "net_af_packet{tag}s,iface={ha}"
address = "10.0.1.1/24"
"#,
                state.display()
            ),
        ),
    )
    .unwrap();
    let sock = dir.path().join("pods").join("pod5").join("memif.sock");
    std::fs::create_dir_all(sock.parent().unwrap()).unwrap();
    // The pod is up first and serves the socket.
    let _pod = PodDpdk::start(
        &format!(
            "net_memif0,role=server,socket={},socket-abstract=no",
            sock.display()
        ),
        &format!("dpsp{tag}"),
    );

    // The pod's DPDK process starts slowly under load: wait for the socket it serves.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() {
        assert!(
            Instant::now() < deadline,
            "the pod's process did not create {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (dp, _lines) = start_ready(&cfg);
    let dpctl = |args: &[&str]| {
        Dpctl::new(&api).ok(args);
    };
    dpctl(&[
        "port",
        "add",
        "pod5",
        "--memif",
        sock.to_str().unwrap(),
        "--role",
        "client",
        "--address",
        "10.56.0.1/32",
    ]);
    dpctl(&["route", "add", "10.56.0.5/32", "dev", "pod5"]);
    assert!(state.exists(), "the API's changes are kept");
    assert!(
        ping_until(&pa, "10.56.0.5", Duration::from_secs(15)),
        "ping the pod before the restart"
    );

    drop(dp);
    let (dp, lines) = start_ready(&cfg);
    let restored = lines.seen("restored").expect("restore line");
    assert!(
        restored.contains("restored 1 port(s) and 1 route(s)"),
        "{restored}"
    );
    assert!(
        ping_until(&pa, "10.56.0.5", Duration::from_secs(15)),
        "traffic resumes after the dataplane restarts"
    );
    // Deleting removes it from the state file too.
    dpctl(&["route", "del", "10.56.0.5/32"]);
    dpctl(&["port", "del", "pod5"]);
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(kept["ports"].as_array().map(Vec::len), Some(0), "{kept}");
    drop(dp);
}
