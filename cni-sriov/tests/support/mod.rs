//! Test support: privileged-test gate, namespace guards, a fake sysfs with veth "VFs", and a
//! runtime-like harness that execs the built plugin exactly as a container runtime does.
//!
//! Everything a test makes carries the `cnit` prefix plus the test's pid and a counter, lives in
//! namespaces the test created, and is removed by `Drop` guards, also when the test fails.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};

/// Privileged-test gate (project convention): returns false after a loud SKIPPED line when a
/// precondition is missing, unless `DP_REQUIRE_PRIVILEGED=1`, which turns it into a panic.
pub fn privileged(test: &str) -> bool {
    let mut missing = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        missing.push("not root".to_string());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        missing.push("`ip` (iproute2) missing".to_string());
    }
    for p in ["/usr/lib/cni/host-local", "/usr/lib/cni/tuning"] {
        if !Path::new(p).exists() {
            missing.push(format!("{p} missing (Debian containernetworking-plugins)"));
        }
    }
    if !cfg!(feature = "test-hooks") {
        missing.push("built without `--features test-hooks`".to_string());
    }
    if missing.is_empty() {
        return true;
    }
    let reason = missing.join(", ");
    if std::env::var("DP_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: privileged precondition missing: {reason}");
    }
    eprintln!("\n*** SKIPPED ({reason}): {test} ***\n");
    false
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for this process and call.
pub fn unique(tag: &str) -> String {
    format!(
        "cnit{tag}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// Run a command, panic with its output on failure.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop.
pub struct Netns {
    /// `ip netns` name.
    pub name: String,
}

impl Netns {
    /// Create one.
    pub fn new(tag: &str) -> Self {
        let name = unique(tag);
        sh(&["ip", "netns", "add", &name]);
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        Netns { name }
    }

    /// Its path, as a runtime passes it in `CNI_NETNS`.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Delete it now (the guard tolerates that).
    pub fn delete(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }

    /// `ip -j link` inside, parsed.
    pub fn links(&self) -> Vec<Value> {
        let s = sh(&["ip", "-n", &self.name, "-j", "link", "show"]);
        serde_json::from_str(&s).unwrap_or_default()
    }

    /// One link by name.
    pub fn link(&self, name: &str) -> Option<Value> {
        self.links()
            .into_iter()
            .find(|l| l["ifname"].as_str() == Some(name))
    }

    /// `ip -j addr show dev`, as "a.b.c.d/n" strings.
    pub fn addrs(&self, dev: &str) -> Vec<String> {
        let s = sh(&["ip", "-n", &self.name, "-j", "addr", "show", "dev", dev]);
        let v: Vec<Value> = serde_json::from_str(&s).unwrap_or_default();
        v.iter()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["scope"] == "global")
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
            .collect()
    }

    /// `ip route` lines.
    pub fn routes(&self) -> String {
        sh(&["ip", "-n", &self.name, "route", "show"])
    }

    /// Run an `ip` command inside.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["ip", "-n", &self.name];
        v.extend_from_slice(args);
        sh(&v)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// One fake VF.
#[derive(Debug, Clone)]
pub struct FakeVf {
    /// PCI address.
    pub pci: String,
    /// Host netdev name (kernel VFs).
    pub netdev: Option<String>,
    /// Its peer, left in the host.
    pub peer: Option<String>,
    /// Original MAC.
    pub mac: String,
    /// VF index.
    pub index: u32,
}

/// A test world: host namespace, fake sysfs, state/IPAM/PF-record dirs; removed on drop.
pub struct World {
    /// The "host".
    pub host: Netns,
    /// Scratch root.
    pub dir: PathBuf,
    /// VFs.
    pub vfs: Vec<FakeVf>,
    /// PF netdev name.
    pub pf: String,
}

impl World {
    /// A host with one PF and `kernel` kernel-driver VFs plus `dpdk` vfio-pci VFs.
    pub fn new(tag: &str, kernel: u32, dpdk: u32) -> Self {
        let host = Netns::new(&format!("{tag}h"));
        let dir = std::env::temp_dir().join(unique(tag));
        let _ = fs::remove_dir_all(&dir);
        for d in ["sysfs", "state", "ipam", "pf", "cache", "devinfo"] {
            fs::create_dir_all(dir.join(d)).unwrap();
        }
        let mut w = World {
            host,
            dir,
            vfs: Vec::new(),
            pf: "cnitpf0".into(),
        };
        w.build_sysfs(kernel, dpdk);
        w
    }

    /// Fake sysfs root.
    pub fn sysfs(&self) -> PathBuf {
        self.dir.join("sysfs")
    }

    fn build_sysfs(&mut self, kernel: u32, dpdk: u32) {
        let root = self.sysfs();
        let devs = root.join("devices/pci0000:00");
        let bus = root.join("bus/pci/devices");
        fs::create_dir_all(&bus).unwrap();
        for d in ["iavf", "vfio-pci", "ice"] {
            fs::create_dir_all(root.join("bus/pci/drivers").join(d)).unwrap();
        }
        let pf_pci = "0000:00:05.0".to_string();
        let pf_dir = devs.join(&pf_pci);
        fs::create_dir_all(pf_dir.join("net").join(&self.pf)).unwrap();
        fs::write(pf_dir.join("sriov_numvfs"), format!("{}\n", kernel + dpdk)).unwrap();
        fs::write(pf_dir.join("sriov_totalvfs"), "64\n").unwrap();
        symlink(&pf_dir, bus.join(&pf_pci)).unwrap();
        symlink(root.join("bus/pci/drivers/ice"), pf_dir.join("driver")).unwrap();
        for i in 0..kernel + dpdk {
            let pci = format!("0000:00:05.{}", i + 1);
            let vf_dir = devs.join(&pci);
            fs::create_dir_all(&vf_dir).unwrap();
            symlink(&pf_dir, vf_dir.join("physfn")).unwrap();
            symlink(&vf_dir, pf_dir.join(format!("virtfn{i}"))).unwrap();
            symlink(&vf_dir, bus.join(&pci)).unwrap();
            let group = root.join(format!("kernel/iommu_groups/{}", 40 + i));
            fs::create_dir_all(&group).unwrap();
            symlink(&group, vf_dir.join("iommu_group")).unwrap();
            let mac = format!("02:00:00:00:05:{:02x}", i + 1);
            if i < kernel {
                symlink(root.join("bus/pci/drivers/iavf"), vf_dir.join("driver")).unwrap();
                let name = format!("vf{i}");
                let peer = format!("vf{i}p");
                self.host.ip(&[
                    "link", "add", &name, "address", &mac, "type", "veth", "peer", "name", &peer,
                ]);
                self.host.ip(&["link", "set", &peer, "up"]);
                fs::create_dir_all(vf_dir.join("net").join(&name)).unwrap();
                self.vfs.push(FakeVf {
                    pci,
                    netdev: Some(name),
                    peer: Some(peer),
                    mac,
                    index: i,
                });
            } else {
                symlink(root.join("bus/pci/drivers/vfio-pci"), vf_dir.join("driver")).unwrap();
                self.vfs.push(FakeVf {
                    pci,
                    netdev: None,
                    peer: None,
                    mac,
                    index: i,
                });
            }
        }
    }

    /// Act as the kernel does for a physical VF when its pod namespace is destroyed: the
    /// netdev returns to the host under its current name, and sysfs shows that name.
    pub fn kernel_returns_vf(&self, pod: &Netns, vf: &FakeVf, pod_ifname: &str) {
        pod.ip(&["link", "set", pod_ifname, "netns", &self.host.name]);
        let net = self
            .sysfs()
            .join("bus/pci/devices")
            .join(&vf.pci)
            .join("net");
        fs::remove_dir_all(&net).unwrap();
        fs::create_dir_all(net.join(pod_ifname)).unwrap();
    }

    /// A sriov-cni style netconf for `vf` with host-local IPAM on `subnet`.
    pub fn conf(&self, version: &str, vf: &FakeVf, subnet: &str, extra: Value) -> Value {
        let gw = subnet.replace(".0/24", ".1");
        let mut c = json!({
            "cniVersion": version,
            "name": "cnit-net",
            "type": "cni-sriov",
            "deviceID": vf.pci,
            "stateDir": self.dir.join("state"),
            "sysfsRoot": self.sysfs(),
            "logFile": self.dir.join("plugin.log"),
            "logLevel": "debug",
            "ipam": {
                "type": "host-local",
                "dataDir": self.dir.join("ipam"),
                "ranges": [[{"subnet": subnet, "gateway": gw}]],
                "routes": [{"dst": "10.199.0.0/16"}]
            }
        });
        if let (Some(o), Value::Object(e)) = (c.as_object_mut(), extra) {
            for (k, v) in e {
                if v.is_null() {
                    o.remove(&k);
                } else {
                    o.insert(k, v);
                }
            }
        }
        c
    }

    /// Files host-local holds (allocated IPs), excluding its lock and last-reserved markers.
    pub fn ipam_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        let base = self.dir.join("ipam");
        if let Ok(rd) = fs::read_dir(&base) {
            for net in rd.flatten() {
                if let Ok(rd2) = fs::read_dir(net.path()) {
                    for f in rd2.flatten() {
                        let n = f.file_name().to_string_lossy().into_owned();
                        if n != "lock" && !n.starts_with("last_reserved_ip") {
                            out.push(n);
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Attachment and allocation records (lock files are permanent by design).
    pub fn state_files(&self) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["attachments", "allocations"] {
            if let Ok(rd) = fs::read_dir(self.dir.join("state").join(d)) {
                for f in rd.flatten() {
                    out.push(format!("{d}/{}", f.file_name().to_string_lossy()));
                }
            }
        }
        out.sort();
        out
    }

    /// Fake PF-side state of VF `i` (None = never touched).
    pub fn pf_state(&self, vf: &FakeVf) -> Option<Value> {
        let p = self
            .dir
            .join("pf")
            .join(format!("{}-vf{}.json", self.pf, vf.index));
        fs::read(p)
            .ok()
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    /// The PF-side calls recorded so far.
    pub fn pf_calls(&self) -> Vec<Value> {
        fs::read_to_string(self.dir.join("pf/calls.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The runtime for this world.
    pub fn runtime(&self) -> Runtime<'_> {
        Runtime {
            world: self,
            fail_at: None,
            netlink_pf: false,
        }
    }

    /// Assert `vf` is back in the host exactly as it was and nothing else is left.
    pub fn assert_vf_pristine(&self, vf: &FakeVf) {
        let name = vf.netdev.as_deref().unwrap();
        let l = self
            .host
            .link(name)
            .unwrap_or_else(|| panic!("VF {name} not back in the host: {:?}", self.host.links()));
        assert_eq!(l["address"], vf.mac, "VF MAC not restored");
        assert_eq!(l["mtu"], 1500, "VF MTU not restored");
        if let Some(s) = self.pf_state(vf) {
            assert_eq!(
                s["vlan"],
                json!([0, 0, 0x8100]),
                "PF vlan not restored: {s}"
            );
            assert_eq!(
                s["mac"],
                json!([0, 0, 0, 0, 0, 0]),
                "PF MAC not restored: {s}"
            );
            assert_eq!(s["spoofchk"], json!(true), "PF spoofchk not restored: {s}");
            assert_eq!(s["trust"], json!(false), "PF trust not restored: {s}");
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Leave the scratch dir when the test failed, for the post-mortem (it is in /tmp).
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What one plugin execution returned.
#[derive(Debug, Clone)]
pub struct Exec {
    /// Exit code.
    pub code: i32,
    /// stdout parsed (Null when empty).
    pub out: Value,
    /// stderr.
    pub err: String,
}

impl Exec {
    /// Assert success and return stdout.
    pub fn ok(self) -> Value {
        assert_eq!(self.code, 0, "plugin failed: {} {}", self.out, self.err);
        self.out
    }

    /// Assert failure with `code` and return the message.
    pub fn fails_with(self, code: u64) -> String {
        assert_ne!(self.code, 0, "expected failure, got {}", self.out);
        assert_eq!(
            self.out["code"], code,
            "wrong error: {} {}",
            self.out, self.err
        );
        format!("{} {}", self.out["msg"], self.out["details"])
    }
}

/// A runtime-like harness.
pub struct Runtime<'a> {
    world: &'a World,
    /// Inject a failure at this ADD step.
    pub fail_at: Option<String>,
    /// Use the production netlink PF control instead of the recording one.
    pub netlink_pf: bool,
}

/// `CNI_PATH`: our binary's directory first, then Debian's plugins.
pub fn cni_path() -> String {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_cni-sriov"));
    format!("{}:/usr/lib/cni", bin.parent().unwrap().display())
}

impl Runtime<'_> {
    /// Exec one plugin binary with full CNI env in the host namespace.
    pub fn exec_raw(&self, plugin: &str, env: &[(&str, &str)], stdin: &[u8]) -> Exec {
        let bin = if plugin == "cni-sriov" {
            env!("CARGO_BIN_EXE_cni-sriov").to_string()
        } else {
            format!("/usr/lib/cni/{plugin}")
        };
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.world.host.name, &bin])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if !self.netlink_pf {
            c.env("CNI_SRIOV_TEST_PF_DIR", self.world.dir.join("pf"));
        }
        if let Some(f) = &self.fail_at {
            c.env("CNI_SRIOV_TEST_FAIL_AT", f);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn plugin");
        {
            use std::io::Write;
            let mut si = child.stdin.take().unwrap();
            si.write_all(stdin).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        Exec {
            code: out.status.code().unwrap_or(-1),
            out: if s.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&s).unwrap_or_else(|e| panic!("stdout not JSON ({e}): {s}"))
            },
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Exec `conf`'s plugin for `cmd` on attachment (cid, netns, ifname).
    pub fn exec(&self, cmd: &str, conf: &Value, cid: &str, netns: &str, ifname: &str) -> Exec {
        let plugin = conf["type"].as_str().unwrap().to_string();
        let path = cni_path();
        self.exec_raw(
            &plugin,
            &[
                ("CNI_COMMAND", cmd),
                ("CNI_CONTAINERID", cid),
                ("CNI_NETNS", netns),
                ("CNI_IFNAME", ifname),
                ("CNI_PATH", &path),
                ("CNI_ARGS", ""),
            ],
            &serde_json::to_vec(conf).unwrap(),
        )
    }

    fn cache_file(&self, cid: &str, ifname: &str) -> PathBuf {
        self.world.dir.join("cache").join(format!("{cid}-{ifname}"))
    }

    /// ADD a chain as libcni does: in order, each plugin gets the previous result; the final
    /// result is cached. On failure, the error of the failing plugin is returned.
    pub fn add_chain(&self, chain: &[Value], cid: &str, netns: &str, ifname: &str) -> Exec {
        let mut prev: Option<Value> = None;
        let mut last = None;
        for c in chain {
            let mut c = c.clone();
            if let Some(p) = &prev {
                c["prevResult"] = p.clone();
            }
            let r = self.exec("ADD", &c, cid, netns, ifname);
            if r.code != 0 {
                return r;
            }
            prev = Some(r.out.clone());
            last = Some(r);
        }
        let r = last.expect("empty chain");
        fs::write(self.cache_file(cid, ifname), r.out.to_string()).unwrap();
        r
    }

    /// CHECK a chain with the cached result as prevResult.
    pub fn check_chain(&self, chain: &[Value], cid: &str, netns: &str, ifname: &str) -> Exec {
        let cached: Value =
            serde_json::from_slice(&fs::read(self.cache_file(cid, ifname)).unwrap()).unwrap();
        let mut last = None;
        for c in chain {
            let mut c = c.clone();
            c["prevResult"] = cached.clone();
            let r = self.exec("CHECK", &c, cid, netns, ifname);
            if r.code != 0 {
                return r;
            }
            last = Some(r);
        }
        last.expect("empty chain")
    }

    /// DEL a chain in reverse with the cached result as prevResult (if any); drop the cache.
    pub fn del_chain(&self, chain: &[Value], cid: &str, netns: &str, ifname: &str) -> Exec {
        let cached: Option<Value> = fs::read(self.cache_file(cid, ifname))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut last = None;
        for c in chain.iter().rev() {
            let mut c = c.clone();
            if let Some(p) = &cached {
                c["prevResult"] = p.clone();
            }
            let r = self.exec("DEL", &c, cid, netns, ifname);
            if r.code != 0 {
                return r;
            }
            last = Some(r);
        }
        let _ = fs::remove_file(self.cache_file(cid, ifname));
        last.expect("empty chain")
    }
}
