//! The real `dpctl` binary against a real API server on a unix socket in a temp dir, backed
//! by the in-memory fake dataplane (`dp_api::testing`), which keeps objects and enforces the
//! rules (duplicates, unknown names, objects in use). Every resource is added, listed and
//! deleted; the failures an operator meets are checked for their exit code and their line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use dp_api::testing::{FakeBackend, TestServer};
use dp_api::{ApiError, NodeStats, PortStats, WorkerRuntime};
use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }

    /// Fails with `code` and a single stderr line containing every one of `needles`.
    fn fails(&self, code: i32, needles: &[&str]) {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}: {}",
                self.stderr
            );
        }
    }

    fn fails_one_line(&self, code: i32, needles: &[&str]) {
        self.fails(code, needles);
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "one line: {}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {}", self.stdout);
    }
}

fn dpctl(socket: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("DPCTL_SOCKET")
        .output()
        .expect("dpctl runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Daemon {
    dir: tempfile::TempDir,
    sock: PathBuf,
    backend: Arc<FakeBackend>,
    _server: TestServer,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("run/api.sock");
        let (server, backend) = TestServer::fake(&sock).unwrap();
        Daemon {
            dir,
            sock,
            backend,
            _server: server,
        }
    }

    fn run(&self, args: &[&str]) -> Out {
        dpctl(&self.sock, args)
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Two ports with addresses, so gateways and VTEPs are reachable.
    fn with_two_ports(self) -> Daemon {
        self.run(&[
            "port",
            "add",
            "pod0",
            "--device",
            "net_null0",
            "--address",
            "10.0.1.1/24",
        ])
        .ok();
        self.run(&[
            "port",
            "add",
            "uplink",
            "--device",
            "net_null1",
            "--address",
            "192.168.50.1/24",
        ])
        .ok();
        self
    }
}

fn line_with<'a>(text: &'a str, start: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting with {start:?} in:\n{text}"))
}

/// The cell of a left-aligned column `header` in the row starting with `row` (cells start
/// under their header and end at the two spaces between columns).
fn cell<'a>(text: &'a str, row: &str, header: &str) -> &'a str {
    let at = line_with(text, "Name ")
        .find(header)
        .unwrap_or_else(|| panic!("no column {header:?} in:\n{text}"));
    let rest = line_with(text, row).get(at..).unwrap_or("");
    rest.split("  ").next().unwrap_or("")
}

#[test]
fn ports_add_show_set_delete() {
    let d = Daemon::start();
    let memif = d.path("pods/p1/memif.sock");
    let vhost = d.path("pods/p2/vhost.sock");
    let out = d.run(&[
        "port",
        "add",
        "pod0",
        "--device",
        "net_tap0,iface=dpt0",
        "--address",
        "10.0.1.1/24",
        "--mtu",
        "9000",
    ]);
    assert_eq!(out.ok(), "port pod0 created (dpdk)\n");
    d.run(&[
        "port", "add", "pod1", "--memif", &memif, "--role", "server", "--id", "7",
    ])
    .ok();
    d.run(&[
        "port",
        "add",
        "pod2",
        "--vhost-user",
        &vhost,
        "--mode",
        "client",
        "--down",
    ])
    .ok();

    d.backend
        .set_port_offloads("pod0", &["rx-ipv4-cksum", "rx-flow-hash", "tx-udp-cksum"]);
    let out = d.run(&["show", "interfaces"]);
    let text = out.ok();
    assert!(text.starts_with("Name "), "{text}");
    let pod0 = line_with(text, "pod0 ");
    for cell in ["dpdk", "up", "10.0.1.1/24", "9000", "net_tap0,iface=dpt0"] {
        assert!(pod0.contains(cell), "{cell} in {pod0}");
    }
    assert_eq!(
        cell(text, "pod0 ", "Offloads"),
        "rx:ip4,hash tx:udp",
        "{text}"
    );
    assert!(line_with(text, "pod1 ").contains(&memif), "{text}");
    assert_eq!(cell(text, "pod1 ", "Offloads"), "-", "none: {text}");
    let pod2 = line_with(text, "pod2 ");
    assert!(
        pod2.contains("vhost-user") && pod2.contains("down"),
        "{pod2}"
    );

    let v = d.run(&["--json", "show", "interfaces"]).json();
    let ports = v["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 3);
    assert_eq!(ports[1]["device"]["kind"], "memif");
    assert_eq!(
        ports[0]["offloads"],
        serde_json::json!(["rx-ipv4-cksum", "rx-flow-hash", "tx-udp-cksum"])
    );
    assert_eq!(ports[1]["device"]["id"], 7);
    assert_eq!(ports[1]["device"]["socket"], memif.as_str());
    assert_eq!(ports[2]["device"]["mode"], "client");
    assert_eq!(ports[2]["admin_up"], false);
    assert_eq!(v["stats"].as_array().unwrap().len(), 3);

    // Counters appear in the table.
    d.backend.set_port_stats(PortStats {
        name: "pod0".into(),
        rx_packets: 1234,
        tx_packets: 999,
        rx_missed: 3,
        rx_errors: 1,
        tx_errors: 1,
        drops: 5,
        ..PortStats::default()
    });
    let out = d.run(&["show", "int"]);
    let pod0 = line_with(out.ok(), "pod0 ");
    for n in ["1234", "999", "  3", "  2", "  5"] {
        assert!(pod0.contains(n), "{n} in {pod0}");
    }

    let out = d.run(&["port", "set", "pod1", "address", "10.0.5.1/24"]);
    assert_eq!(out.ok(), "port pod1: up, 10.0.5.1/24\n");
    let out = d.run(&["port", "set", "pod1", "down"]);
    assert_eq!(out.ok(), "port pod1: down, 10.0.5.1/24\n");
    let v = d
        .run(&["--json", "port", "set", "pod1", "address", "none"])
        .json();
    assert!(v.get("address").is_none(), "address removed: {v}");
    d.run(&["port", "set", "pod2", "up"]).ok();
    d.run(&["port", "set", "pod1", "up"]).ok();
    let ports = d.backend.ports();
    assert!(ports.iter().all(|p| p.admin_up), "{ports:?}");

    // Refusals: duplicate name, socket already used, unknown port, bad values.
    d.run(&["port", "add", "pod1", "--device", "net_null9"])
        .fails_one_line(1, &["request refused", "pod1", "exists already"]);
    d.run(&["port", "add", "pod9", "--memif", &memif])
        .fails_one_line(1, &["refused", "already uses this device"]);
    d.run(&["port", "set", "nope", "up"])
        .fails_one_line(1, &["no port named `nope`"]);
    d.run(&["port", "add", "pod9", "--memif", "/run/a,b.sock"])
        .fails_one_line(1, &["device.socket", "DPDK device arguments"]);
    d.run(&[
        "port",
        "add",
        "pod9",
        "--device",
        "net_null9",
        "--mtu",
        "20",
    ])
    .fails_one_line(1, &["mtu", "68..=9216"]);
    d.run(&["port", "set", "pod1", "address", "10.0.5.0/24"])
        .fails(2, &["network address"]);
    d.run(&["port", "add", "pod9"]).fails(2, &["--device"]);
    d.run(&["port", "add", "pod9", "--device", "x", "--role", "client"])
        .fails(2, &["--role", "cannot be used with"]);
    d.run(&["port", "del", "a/b"])
        .fails_one_line(2, &["invalid request", "a/b"]);

    let out = d.run(&["port", "del", "pod1"]);
    assert_eq!(out.ok(), "port pod1 deleted\n");
    let v = d.run(&["--json", "port", "del", "pod2"]).json();
    assert_eq!(v["deleted"], "port pod2");
    d.run(&["port", "del", "pod1"])
        .fails_one_line(1, &["request refused", "no port named `pod1`"]);
    assert_eq!(d.backend.ports().len(), 1);
}

#[test]
fn routes_add_show_delete_with_ecmp() {
    let d = Daemon::start().with_two_ports();
    let out = d.run(&[
        "route",
        "add",
        "10.0.2.0/24",
        "via",
        "10.0.1.2",
        "via",
        "192.168.50.2",
        "dev",
        "uplink",
    ]);
    assert_eq!(
        out.ok(),
        "route 10.0.2.0/24 added: via 10.0.1.2, via 192.168.50.2 dev uplink\n"
    );
    d.run(&["route", "add", "0.0.0.0/0", "dev", "uplink"]).ok();

    let out = d.run(&["show", "fib"]);
    let text = out.ok();
    let first = line_with(text, "10.0.2.0/24");
    assert!(
        first.contains("static") && first.contains("via 10.0.1.2"),
        "{first}"
    );
    // The second ECMP path is on the next line, under the same prefix.
    let lines: Vec<&str> = text.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with("10.0.2.0/24"))
        .unwrap();
    assert!(
        lines[i + 1]
            .trim_start()
            .starts_with("via 192.168.50.2 dev uplink"),
        "{text}"
    );
    assert!(
        line_with(text, "10.0.1.0/24").contains("connected"),
        "{text}"
    );
    assert!(line_with(text, "10.0.1.1/32").contains("local"), "{text}");

    let v = d.run(&["--json", "show", "fib"]).json();
    let r = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["prefix"] == "10.0.2.0/24")
        .unwrap();
    assert_eq!(r["next_hops"].as_array().unwrap().len(), 2);
    assert_eq!(r["next_hops"][1]["interface"], "uplink");

    // Refusals.
    d.run(&["route", "add", "10.0.2.0/24", "via", "10.0.1.3"])
        .fails_one_line(1, &["refused", "exists already"]);
    d.run(&["route", "add", "10.0.3.0/24", "dev", "nope"])
        .fails_one_line(1, &["refused", "next_hops[0].interface", "nope"]);
    d.run(&["route", "add", "10.0.3.0/24", "via", "172.31.0.1"])
        .fails_one_line(1, &["next_hops[0].via", "not in any connected subnet"]);
    d.run(&[
        "route",
        "add",
        "10.0.3.0/24",
        "via",
        "10.0.1.2",
        "via",
        "10.0.1.2",
    ])
    .fails_one_line(1, &["listed twice"]);
    d.run(&["route", "add", "10.0.3.1/24", "via", "10.0.1.2"])
        .fails(2, &["host bits", "10.0.3.0/24"]);
    d.run(&["route", "add", "10.0.3.0/33", "via", "10.0.1.2"])
        .fails(2, &["0 to 32"]);
    d.run(&["route", "add", "10.0.3.0/24", "gw", "10.0.1.2"])
        .fails(2, &["unexpected `gw`"]);
    d.run(&["route", "add", "10.0.3.0/24"])
        .fails(2, &["required"]);
    d.run(&["port", "del", "uplink"])
        .fails_one_line(1, &["used by route"]);

    assert_eq!(
        d.run(&["route", "del", "10.0.2.0/24"]).ok(),
        "route 10.0.2.0/24 deleted\n"
    );
    d.run(&["route", "del", "0.0.0.0/0"]).ok();
    d.run(&["route", "del", "10.0.2.0/24"])
        .fails_one_line(1, &["refused", "no static route for 10.0.2.0/24"]);
    assert!(d.backend.static_routes().is_empty());
    d.run(&["port", "del", "uplink"]).ok();
}

#[test]
fn neighbors_add_show_delete() {
    let d = Daemon::start().with_two_ports();
    let out = d.run(&[
        "neighbor",
        "add",
        "10.0.1.2",
        "02:00:00:00:aa:01",
        "--dev",
        "pod0",
    ]);
    assert_eq!(
        out.ok(),
        "neighbor 10.0.1.2 at 02:00:00:00:aa:01 on pod0 added\n"
    );
    d.run(&[
        "neigh",
        "add",
        "192.168.50.2",
        "02:00:00:00:bb:01",
        "--dev",
        "uplink",
    ])
    .ok();

    let out = d.run(&["show", "neighbors"]);
    let row = line_with(out.ok(), "10.0.1.2 ");
    assert!(row.contains("02:00:00:00:aa:01") && row.contains("pod0") && row.contains("static"));
    let v = d.run(&["--json", "show", "neighbors"]).json();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["mac"], "02:00:00:00:bb:01");

    d.run(&[
        "neighbor",
        "add",
        "10.0.1.2",
        "02:00:00:00:aa:02",
        "--dev",
        "pod0",
    ])
    .fails_one_line(1, &["exists already"]);
    d.run(&[
        "neighbor",
        "add",
        "10.0.1.3",
        "02:00:00:00:aa:02",
        "--dev",
        "nope",
    ])
    .fails_one_line(1, &["interface", "nope"]);
    d.run(&[
        "neighbor",
        "add",
        "10.0.1.3",
        "01:00:5e:00:00:01",
        "--dev",
        "pod0",
    ])
    .fails_one_line(1, &["mac", "not a unicast MAC"]);
    d.run(&[
        "neighbor",
        "add",
        "10.0.1.3",
        "02:00:00:00:aa",
        "--dev",
        "pod0",
    ])
    .fails(2, &["not a MAC address"]);

    assert_eq!(
        d.run(&["neighbor", "del", "10.0.1.2", "--dev", "pod0"])
            .ok(),
        "neighbor 10.0.1.2 on pod0 deleted\n"
    );
    d.run(&["neighbor", "del", "10.0.1.2", "--dev", "pod0"])
        .fails_one_line(1, &["no neighbor 10.0.1.2 on pod0"]);
    let v = d.run(&["--json", "show", "neighbors"]).json();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

#[test]
fn tunnels_add_show_delete() {
    let d = Daemon::start().with_two_ports();
    let add = [
        "tunnel",
        "add",
        "vx100",
        "--vni",
        "100",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.2",
        "--address",
        "172.16.0.1/24",
    ];
    assert_eq!(
        d.run(&add).ok(),
        "tunnel vx100 added: VNI 100, 192.168.50.1 -> 192.168.50.2\n"
    );
    let out = d.run(&["show", "tunnels"]);
    let row = line_with(out.ok(), "vx100 ");
    for cell in [
        "100",
        "192.168.50.1",
        "192.168.50.2",
        "4789",
        "172.16.0.1/24",
    ] {
        assert!(row.contains(cell), "{cell} in {row}");
    }
    let v = d.run(&["--json", "show", "tunnels"]).json();
    assert_eq!(v[0]["udp_port"], 4789);
    assert_eq!(v[0]["vni"], 100);

    // A tunnel is an interface: routes go through it and it cannot go while they do.
    d.run(&["route", "add", "10.0.2.0/24", "via", "172.16.0.2"])
        .ok();
    d.run(&["route", "add", "10.0.4.0/24", "dev", "vx100"]).ok();
    d.run(&["tunnel", "del", "vx100"])
        .fails_one_line(1, &["used by route"]);

    d.run(&add).fails_one_line(1, &["exists already"]);
    d.run(&[
        "tunnel",
        "add",
        "vx2",
        "--vni",
        "16777216",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.3",
    ])
    .fails_one_line(1, &["refused", "vni", "out of range"]);
    d.run(&[
        "tunnel",
        "add",
        "vx2",
        "--vni",
        "100",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.2",
    ])
    .fails_one_line(1, &["already carries VNI 100"]);
    d.run(&[
        "tunnel",
        "add",
        "vx2",
        "--vni",
        "200",
        "--local",
        "192.168.99.1",
        "--remote",
        "192.168.50.2",
    ])
    .fails_one_line(1, &["local", "not one of our port addresses"]);
    d.run(&[
        "tunnel",
        "add",
        "vx2",
        "--vni",
        "200",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.1",
    ])
    .fails_one_line(1, &["remote", "also the local"]);
    d.run(&[
        "tunnel",
        "add",
        "pod0",
        "--vni",
        "200",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.9",
    ])
    .fails_one_line(1, &["interface named `pod0` exists already"]);
    d.run(&[
        "tunnel",
        "add",
        "vx2",
        "--vni",
        "-1",
        "--local",
        "192.168.50.1",
        "--remote",
        "192.168.50.2",
    ])
    .fails(2, &["--vni"]);

    d.run(&["route", "del", "10.0.2.0/24"]).ok();
    d.run(&["route", "del", "10.0.4.0/24"]).ok();
    assert_eq!(
        d.run(&["tunnel", "del", "vx100"]).ok(),
        "tunnel vx100 deleted\n"
    );
    d.run(&["tunnel", "del", "vx100"])
        .fails_one_line(1, &["no tunnel named `vx100`"]);
    assert_eq!(
        d.run(&["--json", "show", "tunnels"]).json(),
        serde_json::json!([])
    );
}

#[test]
fn show_runtime_sums_workers_and_derives_ratios() {
    let d = Daemon::start();
    d.backend.set_runtime(vec![
        WorkerRuntime {
            worker: 0,
            lcore: 1,
            nodes: vec![
                NodeStats::new("port-rx", 400, 10, 100, 2000),
                NodeStats::new("ip4-lookup", 10, 10, 100, 1000),
            ],
        },
        WorkerRuntime {
            worker: 1,
            lcore: 2,
            nodes: vec![NodeStats::new("ip4-lookup", 30, 60, 900, 27000)],
        },
    ]);
    let out = d.run(&["show", "runtime"]);
    let text = out.ok();
    assert!(
        text.contains("Worker 0 (lcore 1)") && text.contains("Worker 1 (lcore 2)"),
        "{text}"
    );
    let header = line_with(text, "Name ");
    for col in ["Calls", "Vectors", "Packets", "Clocks/Pkt", "Vectors/Call"] {
        assert!(header.contains(col), "{col} in {header}");
    }
    let total = &text[text.find("Total (2 workers)").expect("a total section")..];
    // (1000 + 27000) clocks / (100 + 900) packets = 28; (10 + 60) vectors / 40 calls = 1.75.
    let row: Vec<&str> = line_with(total, "ip4-lookup").split_whitespace().collect();
    assert_eq!(
        row,
        [
            "ip4-lookup",
            "40",
            "70",
            "1000",
            "28000",
            "28.00",
            "1.75",
            "14.29"
        ]
    );
    // Worker 0 alone: 10 clocks per packet.
    let w0 = &text[..text.find("Worker 1").unwrap()];
    let row: Vec<&str> = line_with(w0, "ip4-lookup").split_whitespace().collect();
    assert_eq!(row[5], "10.00");

    let v = d.run(&["--json", "show", "runtime"]).json();
    assert_eq!(v["total"][1]["name"], "ip4-lookup");
    assert_eq!(v["total"][1]["clocks_per_packet"], 28.0);
    assert_eq!(v["workers"][1]["nodes"][0]["vectors_per_call"], 2.0);
}

#[test]
fn show_errors_total_and_per_worker() {
    let d = Daemon::start();
    let out = d.run(&["show", "errors"]);
    let text = out.ok();
    assert!(text.starts_with("Count"), "{text}");
    let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        row,
        ["12", "ip4-input", "bad", "header", "checksum"],
        "5 + 7 summed"
    );
    let out = d.run(&["show", "errors", "--per-worker"]);
    let text = out.ok();
    assert!(
        text.contains("Worker 0") && text.contains("Worker 1"),
        "{text}"
    );
    assert!(
        text.contains("    5  ip4-input") || text.contains(" 5  ip4-input"),
        "{text}"
    );
    let v = d.run(&["--json", "show", "errors"]).json();
    assert_eq!(v["total"][0]["count"], 12);
    assert_eq!(v["workers"].as_array().unwrap().len(), 2);
}

#[test]
fn trace_and_capture() {
    let d = Daemon::start();
    let out = d.run(&["trace", "5", "--wait", "0.1"]);
    assert_eq!(out.ok(), "no packet seen\n");
    let d = d.with_two_ports();
    let out = d.run(&["trace", "2"]);
    let text = out.ok();
    assert!(text.contains("Packet 1 (worker 0, from pod0)"), "{text}");
    assert!(
        text.contains("port-rx -> ethernet-input -> ip4-input -> ip4-lookup"),
        "{text}"
    );
    assert!(text.contains("Packet 2"), "{text}");
    let v = d.run(&["--json", "trace", "3"]).json();
    assert_eq!(v["packets"].as_array().unwrap().len(), 3);
    d.run(&["trace", "0"])
        .fails_one_line(1, &["count", "outside 1..=1000"]);
    d.run(&["trace", "1", "--wait", "9999"])
        .fails(2, &["--wait"]);

    let out = d.run(&[
        "capture",
        "--port",
        "pod0",
        "--dir",
        "rx",
        "--count",
        "10",
        "--out",
        "cap.pcapng",
    ]);
    let text = out.ok();
    assert!(
        text.starts_with("captured 0 packets (0 bytes) to /"),
        "made absolute: {text}"
    );
    d.run(&[
        "capture",
        "--port",
        "nope",
        "--dir",
        "drop",
        "--count",
        "10",
        "--out",
        "/tmp/x.pcapng",
    ])
    .fails_one_line(1, &["port", "nope"]);
    d.run(&[
        "capture", "--port", "pod0", "--dir", "sideways", "--count", "1", "--out", "/tmp/x",
    ])
    .fails(2, &["sideways"]);
}

#[test]
fn daemon_down_is_exit_3_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("api.sock");
    dpctl(&sock, &["show", "interfaces"]).fails_one_line(
        3,
        &[
            "dataplane is not running",
            "no API socket",
            sock.to_str().unwrap(),
        ],
    );
    // A socket file left by a dead daemon.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    dpctl(&sock, &["route", "add", "10.0.0.0/8", "dev", "x"])
        .fails_one_line(3, &["dataplane is not running", "connection refused"]);
    // Listening but never answering.
    std::fs::remove_file(&sock).unwrap();
    let _hung = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    dpctl(&sock, &["--timeout", "1", "status"]).fails_one_line(3, &["did not answer within 1s"]);
}

#[test]
fn status_and_server_failures() {
    let d = Daemon::start();
    let out = d.run(&["status"]);
    assert!(
        out.ok().starts_with("dataplane is running: API v1"),
        "{}",
        out.stdout
    );
    assert_eq!(d.run(&["--json", "status"]).json()["api"], "v1");
    d.backend
        .fail_next(ApiError::internal("rte_eth_dev_start failed: -5"));
    d.run(&["show", "fib"]).fails_one_line(
        1,
        &[
            "the dataplane failed",
            "rte_eth_dev_start failed: -5",
            "HTTP 500",
        ],
    );
    // The socket option's environment variable works too.
    let out = Command::new(env!("CARGO_BIN_EXE_dpctl"))
        .arg("status")
        .env("DPCTL_SOCKET", &d.sock)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn usage_errors_are_exit_2_and_help_is_exit_0() {
    let sock = Path::new("/nonexistent/api.sock");
    dpctl(sock, &["show", "everything"]).fails(2, &["everything"]);
    dpctl(sock, &[]).fails(2, &["Usage"]);
    let help = dpctl(sock, &["--help"]);
    assert!(help.ok().contains("Exit codes:"), "{}", help.stdout);
}

#[test]
fn dpctl_links_no_dpdk() {
    let out = match Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_dpctl"))
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("ldd is needed to check the binary's libraries: {e}"),
    };
    let libs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldd failed: {libs}");
    assert!(libs.contains("libc.so"), "ldd listed the libraries: {libs}");
    assert!(
        !libs.contains("librte_"),
        "dpctl must not link DPDK:\n{libs}"
    );
}
