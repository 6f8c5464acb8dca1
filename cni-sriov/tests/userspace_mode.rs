//! memif and vhost-user modes through the runtime harness, against a real API server on a
//! real unix socket backed by dp-api's in-memory fake dataplane (`TestServer` +
//! `FakeBackend`), with Debian's `host-local` as IPAM.

mod support;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use dp_api::testing::{FakeBackend, TestServer};
use dp_api::{ApiError, Client, CreatePort, DeviceSpec, Ipv4Cidr, MemifRole, VhostMode};
use serde_json::{Value, json};
use support::{Netns, Runtime, World, privileged};

/// A world plus a fake dataplane serving its API socket.
struct Dp {
    w: World,
    backend: Arc<FakeBackend>,
    server: RefCell<Option<TestServer>>,
}

impl Dp {
    fn new(tag: &str) -> Self {
        let w = World::new(tag, 0, 0);
        let (server, backend) = TestServer::fake(w.dir.join("api.sock")).unwrap();
        Dp {
            w,
            backend,
            server: RefCell::new(Some(server)),
        }
    }

    fn api(&self) -> PathBuf {
        self.w.dir.join("api.sock")
    }

    fn client(&self) -> Client {
        Client::new(self.api())
    }

    fn stop(&self) {
        if let Some(s) = self.server.borrow_mut().take() {
            s.stop();
        }
        assert!(!self.api().exists(), "socket left after stop");
    }

    /// The dataplane comes back with the objects it had (it persists pod ports).
    fn restart(&self) {
        *self.server.borrow_mut() =
            Some(TestServer::start(self.api(), self.backend.clone()).unwrap());
    }

    fn conf(&self, version: &str, kind: &str, subnet: &str, extra: Value) -> Value {
        let mut c = json!({
            "cniVersion": version,
            "name": "cnit-us",
            "type": "cni-sriov",
            "userspace": {"type": kind},
            "dataplaneSocket": self.api(),
            "socketDir": self.w.dir.join("pods"),
            "stateDir": self.w.dir.join("state"),
            "logFile": self.w.dir.join("plugin.log"),
            "logLevel": "debug",
            "ipam": {
                "type": "host-local",
                "dataDir": self.w.dir.join("ipam"),
                "ranges": [[{"subnet": subnet}]],
                "routes": [{"dst": "10.199.0.0/16"}]
            }
        });
        if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
            for (k, v) in e {
                o.insert(k, v);
            }
        }
        c
    }

    fn state(&self, cid: &str, ifname: &str) -> Option<Value> {
        let p = self
            .w
            .dir
            .join("state/attachments")
            .join(format!("{cid}-{ifname}.json"));
        std::fs::read(p)
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    /// Nothing of ours is left: no port, no static route, no address, no record.
    fn assert_clean(&self, what: &str) {
        assert!(
            self.backend.ports().is_empty(),
            "{what}: ports left {:?}",
            self.backend.ports()
        );
        assert!(
            self.backend.static_routes().is_empty(),
            "{what}: routes left {:?}",
            self.backend.static_routes()
        );
        assert!(
            self.w.ipam_files().is_empty(),
            "{what}: IPAM leak {:?}",
            self.w.ipam_files()
        );
        assert!(
            self.w.state_files().is_empty(),
            "{what}: state leak {:?}",
            self.w.state_files()
        );
    }

    fn gc(&self, rt: &Runtime, conf: &Value, valid: Value) {
        let mut gc = conf.clone();
        gc["cni.dev/valid-attachments"] = valid;
        rt.exec_raw(
            "cni-sriov",
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", &support::cni_path())],
            &serde_json::to_vec(&gc).unwrap(),
        )
        .ok();
    }
}

fn port_name(cid: &str, ifname: &str) -> String {
    cni_sriov::userspace::port_name(cid, ifname)
}

#[test]
fn memif_and_vhost_user_add_check_del_round_trip() {
    if !privileged("memif_and_vhost_user_round_trip") {
        return;
    }
    let dp = Dp::new("usrt");
    let pod = Netns::new("usrtp");
    let rt = dp.w.runtime();
    // host-local hands out addresses in turn: .2 then .3.
    for (kind, version, cid, ip) in [
        ("memif", "1.1.0", "0123456789abcdef0123", "10.230.0.2"),
        ("vhost-user", "1.0.0", "fedcba9876543210fedc", "10.230.0.3"),
    ] {
        let info = dp.w.dir.join(format!("devinfo/{kind}.json"));
        let conf = dp.conf(
            version,
            kind,
            "10.230.0.0/24",
            json!({"mtu": 9000, "runtimeConfig": {"CNIDeviceInfoFile": info}}),
        );
        let chain = std::slice::from_ref(&conf);
        let res = rt.add_chain(chain, cid, &pod.path(), "net1").ok();
        let sock = dp.w.dir.join(format!("pods/{cid}/net1.sock"));
        let sock_s = sock.display().to_string();
        // The result: our interface with its socket (kept in 1.0.0 too), IPAM's addresses.
        assert_eq!(res["cniVersion"], version);
        let iface = &res["interfaces"][0];
        assert_eq!(iface["name"], "net1", "{res}");
        assert_eq!(iface["sandbox"], pod.path());
        assert_eq!(iface["socketPath"], sock_s);
        assert_eq!(iface["mtu"], 9000);
        assert_eq!(res["ips"][0]["address"], format!("{ip}/24"));
        assert_eq!(res["ips"][0]["gateway"], "10.230.0.1");
        assert_eq!(res["ips"][0]["interface"], 0);
        assert_eq!(res["routes"][0]["dst"], "10.199.0.0/16");
        // The device-info file, from the container's side.
        let di: Value = serde_json::from_slice(&std::fs::read(&info).unwrap()).unwrap();
        let want = if kind == "memif" {
            json!({"type": "memif", "version": "1.1.0",
                   "memif": {"role": "slave", "mode": "ethernet", "path": sock_s}})
        } else {
            json!({"type": "vhost-user", "version": "1.1.0",
                   "vhost-user": {"mode": "client", "path": sock_s}})
        };
        assert_eq!(di, want);
        // The dataplane: one port, dataplane side serving, gateway /32, pod /32 routed to it.
        let name = port_name(cid, "net1");
        let ports = dp.backend.ports();
        assert_eq!(ports.len(), 1, "{ports:?}");
        let p = &ports[0];
        assert_eq!(p.name, name);
        let want_dev = if kind == "memif" {
            DeviceSpec::Memif {
                socket: sock.clone(),
                role: MemifRole::Server,
                id: 0,
            }
        } else {
            DeviceSpec::VhostUser {
                socket: sock.clone(),
                mode: VhostMode::Server,
            }
        };
        assert_eq!(p.device, want_dev);
        assert_eq!(
            p.address.map(|a| a.to_string()).as_deref(),
            Some("10.230.0.1/32")
        );
        assert_eq!(p.mtu, Some(9000));
        assert!(p.admin_up);
        let routes = dp.backend.static_routes();
        assert_eq!(routes.len(), 1, "{routes:?}");
        assert_eq!(routes[0].prefix.to_string(), format!("{ip}/32"));
        assert_eq!(routes[0].next_hops.len(), 1);
        assert_eq!(routes[0].next_hops[0].via, None);
        assert_eq!(
            routes[0].next_hops[0].interface.as_deref(),
            Some(name.as_str())
        );

        rt.check_chain(chain, cid, &pod.path(), "net1").ok();
        // Drift: somebody deleted the route.
        dp_api::client::block_on(dp.client().delete_route(routes[0].prefix)).unwrap();
        let msg = rt
            .check_chain(chain, cid, &pod.path(), "net1")
            .fails_with(105);
        assert!(
            msg.contains(&format!("{ip}/32")) && msg.contains(&name),
            "{msg}"
        );
        // Drift: the port itself is gone.
        dp_api::client::block_on(dp.client().delete_port(&name)).unwrap();
        let msg = rt
            .check_chain(chain, cid, &pod.path(), "net1")
            .fails_with(105);
        assert!(msg.contains("missing") && msg.contains(&name), "{msg}");

        // DEL with things already gone from the dataplane (404s) still cleans everything.
        rt.del_chain(chain, cid, &pod.path(), "net1").ok();
        assert!(!info.exists(), "{kind}: device-info left");
        dp.assert_clean(kind);
        rt.del_chain(chain, cid, &pod.path(), "net1").ok();
        dp.assert_clean(kind);
    }
    // A full ADD/DEL without drift deletes the route and the port itself.
    let conf = dp.conf("1.1.0", "memif", "10.230.0.0/24", json!({}));
    rt.add_chain(std::slice::from_ref(&conf), "c3", &pod.path(), "net2")
        .ok();
    assert_eq!(dp.backend.ports().len(), 1);
    // The per-pod directory exists when the dataplane made its socket; DEL removes it empty.
    let pod_dir = dp.w.dir.join("pods/c3");
    std::fs::create_dir_all(&pod_dir).unwrap();
    rt.del_chain(&[conf], "c3", &pod.path(), "net2").ok();
    dp.assert_clean("plain DEL");
    assert!(!pod_dir.exists(), "per-pod socket directory left");
}

#[test]
fn del_with_dataplane_down_releases_ipam_and_keeps_cleanup_pending() {
    if !privileged("del_with_dataplane_down") {
        return;
    }
    let dp = Dp::new("usdown");
    let pod = Netns::new("usdownp");
    let rt = dp.w.runtime();
    let conf = dp.conf("1.1.0", "memif", "10.231.0.0/24", json!({}));
    let chain = std::slice::from_ref(&conf);
    rt.add_chain(chain, "ca", &pod.path(), "net1").ok();
    rt.add_chain(chain, "cb", &pod.path(), "net1").ok();
    assert_eq!(dp.backend.ports().len(), 2);
    assert_eq!(dp.w.ipam_files().len(), 2);

    dp.stop();
    // DEL succeeds (the pod is going away), releases the addresses, keeps the record pending.
    rt.del_chain(chain, "ca", &pod.path(), "net1").ok();
    rt.del_chain(chain, "cb", &pod.path(), "net1").ok();
    assert!(dp.w.ipam_files().is_empty(), "{:?}", dp.w.ipam_files());
    for cid in ["ca", "cb"] {
        let s = dp.state(cid, "net1").expect("record kept");
        assert_eq!(s["userspace"]["cleanup_pending"], true, "{s}");
        assert_eq!(s["userspace"]["ipam_released"], true, "{s}");
    }
    // A DEL while still down changes nothing and still succeeds.
    rt.del_chain(chain, "ca", &pod.path(), "net1").ok();
    assert!(dp.state("ca", "net1").is_some());
    let log = std::fs::read_to_string(dp.w.dir.join("plugin.log")).unwrap();
    assert!(
        log.contains("cleanup pending"),
        "no log line for the deferral"
    );
    // GC while down leaves them pending too, without failing.
    dp.gc(&rt, &conf, json!([]));
    assert_eq!(dp.w.state_files().len(), 2);

    dp.restart();
    assert_eq!(
        dp.backend.ports().len(),
        2,
        "the dataplane kept its pod ports"
    );
    // The next DEL of one finishes it; GC finishes the other.
    rt.del_chain(chain, "ca", &pod.path(), "net1").ok();
    assert!(dp.state("ca", "net1").is_none());
    let left: Vec<String> = dp.backend.ports().into_iter().map(|p| p.name).collect();
    assert_eq!(left, vec![port_name("cb", "net1")]);
    dp.gc(&rt, &conf, json!([]));
    dp.assert_clean("after restart");
}

#[test]
fn failure_at_every_userspace_add_step_leaves_nothing_behind() {
    if !privileged("failure_at_every_userspace_add_step") {
        return;
    }
    let dp = Dp::new("usfail");
    let pod = Netns::new("usfailp");
    let info = dp.w.dir.join("devinfo/x.json");
    for kind in ["memif", "vhost-user"] {
        let conf = dp.conf(
            "1.1.0",
            kind,
            "10.232.0.0/24",
            json!({"runtimeConfig": {"CNIDeviceInfoFile": info}}),
        );
        let chain = std::slice::from_ref(&conf);
        for step in cni_sriov::hooks::USERSPACE_ADD_STEPS {
            let mut rt = dp.w.runtime();
            rt.fail_at = Some(step.to_string());
            let msg = rt
                .add_chain(chain, "cidf", &pod.path(), "net1")
                .fails_with(999);
            assert!(msg.contains(step), "{step}: {msg}");
            dp.assert_clean(&format!("{kind} {step}"));
            assert!(!info.exists(), "{kind} {step}: device-info left");
        }
        let rt = dp.w.runtime();
        // The dataplane refuses the port (409).
        dp.backend.fail_next(
            ApiError::conflict("an interface named `x` exists already").with_field("name"),
        );
        let msg = rt
            .add_chain(chain, "cidf", &pod.path(), "net1")
            .fails_with(106);
        assert!(
            msg.contains("409") || msg.contains("exists already"),
            "{msg}"
        );
        dp.assert_clean(&format!("{kind} 409"));
        // A real clash: another port already uses the socket path of this attachment.
        let sock = dp.w.dir.join("pods/cidf/net1.sock");
        let other = CreatePort {
            name: "squatter".into(),
            device: DeviceSpec::Memif {
                socket: sock,
                role: MemifRole::Server,
                id: 0,
            },
            address: Some("10.9.9.1/24".parse::<Ipv4Cidr>().unwrap()),
            mtu: None,
            up: true,
        };
        dp_api::client::block_on(dp.client().create_port(&other)).unwrap();
        let msg = rt
            .add_chain(chain, "cidf", &pod.path(), "net1")
            .fails_with(106);
        assert!(
            msg.contains("device.socket") || msg.contains("uses this device"),
            "{msg}"
        );
        assert_eq!(dp.backend.ports().len(), 1, "only the squatter stays");
        assert!(dp.backend.static_routes().is_empty());
        assert!(dp.w.ipam_files().is_empty() && dp.w.state_files().is_empty());
        dp_api::client::block_on(dp.client().delete_port("squatter")).unwrap();
        // A name clash with a real port (409): the rollback leaves the owner's port and its
        // route alone, since the refused request created nothing of ours.
        let owner = cni_sriov::userspace::port_name("cidf", "net1");
        let theirs = CreatePort {
            name: owner.clone(),
            device: DeviceSpec::Memif {
                socket: dp.w.dir.join("elsewhere.sock"),
                role: MemifRole::Server,
                id: 0,
            },
            address: Some("10.9.8.1/24".parse::<Ipv4Cidr>().unwrap()),
            mtu: None,
            up: true,
        };
        dp_api::client::block_on(dp.client().create_port(&theirs)).unwrap();
        let route = dp_api::Route {
            prefix: "10.9.7.0/24".parse().unwrap(),
            next_hops: vec![dp_api::NextHop {
                via: None,
                interface: Some(owner.clone()),
            }],
        };
        dp_api::client::block_on(dp.client().add_route(&route)).unwrap();
        rt.add_chain(chain, "cidf", &pod.path(), "net1")
            .fails_with(106);
        let left: Vec<String> = dp.backend.ports().into_iter().map(|p| p.name).collect();
        assert_eq!(left, vec![owner.clone()], "the owner's port stays");
        assert_eq!(
            dp.backend.static_routes().len(),
            1,
            "the owner's route stays"
        );
        assert!(dp.w.ipam_files().is_empty() && dp.w.state_files().is_empty());
        dp_api::client::block_on(dp.client().delete_route(route.prefix)).unwrap();
        dp_api::client::block_on(dp.client().delete_port(&owner)).unwrap();
    }
    // The dataplane is down at ADD: a clear error, and nothing left (no pending record: the
    // request never left, so there is no port to clean up later).
    dp.stop();
    let rt = dp.w.runtime();
    let conf = dp.conf("1.1.0", "memif", "10.232.0.0/24", json!({}));
    let msg = rt
        .add_chain(std::slice::from_ref(&conf), "cidd", &pod.path(), "net1")
        .fails_with(106);
    assert!(msg.contains("not running"), "{msg}");
    assert!(dp.w.ipam_files().is_empty() && dp.w.state_files().is_empty());
}

#[test]
fn status_reports_50_without_the_dataplane_and_bad_config_gives_7() {
    if !privileged("userspace_status") {
        return;
    }
    let dp = Dp::new("usst");
    let rt = dp.w.runtime();
    let path = support::cni_path();
    let env = [("CNI_COMMAND", "STATUS"), ("CNI_PATH", path.as_str())];
    let conf = dp.conf("1.1.0", "vhost-user", "10.233.0.0/24", json!({}));
    let stdin = serde_json::to_vec(&conf).unwrap();
    rt.exec_raw("cni-sriov", &env, &stdin).ok();
    dp.stop();
    let msg = rt.exec_raw("cni-sriov", &env, &stdin).fails_with(50);
    assert!(msg.contains(&dp.api().display().to_string()), "{msg}");

    let pod = Netns::new("usstp");
    for (us, field) in [
        (json!({"type": "memif", "role": "server"}), "userspace.role"),
        (
            json!({"type": "vhost-user", "mode": "server"}),
            "userspace.mode",
        ),
        (json!({"type": "af_xdp"}), "userspace.type"),
    ] {
        let mut c = conf.clone();
        c["userspace"] = us;
        let msg = rt
            .add_chain(std::slice::from_ref(&c), "cidc", &pod.path(), "net1")
            .fails_with(7);
        assert!(msg.contains(field), "{field}: {msg}");
    }
    let mut c = conf.clone();
    c["deviceID"] = json!("0000:00:05.1");
    let msg = rt
        .add_chain(std::slice::from_ref(&c), "cidc", &pod.path(), "net1")
        .fails_with(7);
    assert!(msg.contains("deviceID"), "{msg}");
    assert!(dp.w.ipam_files().is_empty() && dp.w.state_files().is_empty());
}
