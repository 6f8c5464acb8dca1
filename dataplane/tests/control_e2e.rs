//! The control API end to end: the real `dpctl` binary against a running dataplane on virtual
//! devices, for every resource, including the refusals and a daemon that is not running.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::net::*;
use common::*;

#[test]
fn every_resource_through_dpctl_against_a_running_dataplane() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("api.sock");
    let cfg = dir.path().join("api.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpc{tag}"),
            &socket,
            &format!(
                r#"metrics = "127.0.0.1:0"
[[port]]
name = "pod0"
device = "net_null_c{tag}a,no-rx=1"
address = "10.0.1.1/24"
[[port]]
name = "pod1"
device = "net_null_c{tag}b,no-rx=1"
"#
            ),
        ),
    )
    .unwrap();
    let (child, lines) = start_ready(&cfg);
    let d = Dpctl {
        socket: socket.clone(),
    };

    // The socket is owner-only, in a directory the daemon created.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "API socket mode");

    // Interfaces.
    let out = d.ok(&["show", "interfaces"]);
    assert!(
        out.contains("pod0") && out.contains("10.0.1.1/24") && out.contains("pod1"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&d.ok(&["--json", "show", "interfaces"])).expect("--json parses");
    assert!(json.to_string().contains("10.0.1.1/24"), "{json}");
    d.ok(&["port", "set", "pod1", "address", "10.0.2.1/24"]);
    assert!(d.ok(&["show", "interfaces"]).contains("10.0.2.1/24"));
    d.fails(
        &["port", "set", "pod1", "address", "10.0.1.9/24"],
        1,
        "overlaps",
    );
    assert!(
        d.ok(&["show", "interfaces"]).contains("10.0.2.1/24"),
        "a refused change leaves the old address"
    );
    d.ok(&["port", "set", "pod1", "down"]);
    let pod1 = d.port("pod1");
    assert_eq!(pod1["admin_up"], false, "{pod1}");
    d.ok(&["port", "set", "pod1", "up"]);
    d.fails(&["port", "set", "nope", "up"], 1, "nope");
    // Ports come and go at runtime.
    let dev9 = format!("net_null_c{tag}z,no-rx=1");
    d.ok(&[
        "port",
        "add",
        "pod9",
        "--device",
        &dev9,
        "--address",
        "10.0.9.1/24",
    ]);
    let ifs = d.ok(&["show", "interfaces"]);
    assert!(ifs.contains("pod9") && ifs.contains("10.0.9.1/24"), "{ifs}");
    assert!(d.ok(&["show", "fib"]).contains("10.0.9.0/24"));
    d.fails(&["port", "add", "pod9", "--device", &dev9], 1, "exists");
    d.fails(
        &["port", "add", "pod8", "--device", "net_nosuchdriver0"],
        1,
        "did not probe",
    );
    d.ok(&["port", "del", "pod9"]);
    assert!(!d.ok(&["show", "interfaces"]).contains("pod9"));
    assert!(
        !d.ok(&["show", "fib"]).contains("10.0.9.0/24"),
        "its connected route went with it"
    );
    d.fails(&["port", "del", "pod9"], 1, "pod9");
    // Each port lists the offloads its device does: none for net_null; a tap verifies and
    // fills IPv4, UDP and TCP checksums, and hands over no flow hash.
    assert_eq!(d.port("pod0").get("offloads"), None, "{}", d.port("pod0"));
    let tap = format!("dpct{tag}");
    d.ok(&[
        "port",
        "add",
        "pod7",
        "--device",
        &format!("net_tap_c{tag},iface={tap}"),
    ]);
    let offloads = d.port("pod7")["offloads"].clone();
    assert_eq!(
        offloads,
        serde_json::json!([
            "rx-ipv4-cksum",
            "rx-udp-cksum",
            "rx-tcp-cksum",
            "tx-ipv4-cksum",
            "tx-udp-cksum",
            "tx-tcp-cksum"
        ]),
        "{}",
        d.port("pod7")
    );
    // The table says it short, and `-` for a device that does none.
    let ifs = d.ok(&["show", "interfaces"]);
    let offloads = |name: &str| {
        let line = |start: &str| {
            ifs.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no {start} in {ifs}"))
        };
        let at = line("Name ").find("Offloads").expect("an Offloads column");
        let rest = line(name).get(at..).unwrap_or("");
        rest.split("  ").next().unwrap_or("").to_string()
    };
    assert_eq!(offloads("pod7 "), "rx:ip4,udp,tcp tx:ip4,udp,tcp", "{ifs}");
    assert_eq!(offloads("pod0 "), "-", "{ifs}");
    d.ok(&["port", "del", "pod7"]);
    // The same device can be added again after its removal.
    d.ok(&["port", "add", "pod9", "--device", &dev9]);
    d.ok(&["port", "del", "pod9"]);
    // A refusal names what was wrong: an MTU the device cannot take (a memif carries 1500 at
    // most) is the request's `mtu`, not its device; and nothing is left behind.
    let memif = dir.path().join("pods").join("pod8.sock");
    let refused = dp_api::client::block_on(dp_api::Client::new(&socket).create_port(
        &dp_api::CreatePort {
            name: "pod8".into(),
            device: dp_api::DeviceSpec::Memif {
                socket: memif.clone(),
                role: Default::default(),
                id: 0,
            },
            address: None,
            // Within what the mbufs hold (2026 here), beyond what a memif takes.
            mtu: Some(2000),
            up: true,
        },
    ))
    .unwrap_err();
    match &refused {
        dp_api::ClientError::Refused {
            status: 400,
            field,
            message,
        } => {
            assert_eq!(field.as_deref(), Some("mtu"), "{message}");
            assert!(
                message.contains("2000") && message.contains("net_memif"),
                "{message}"
            );
        }
        other => panic!("expected a 400 naming `mtu`, got: {other}"),
    }
    assert!(!d.ok(&["show", "interfaces"]).contains("pod8"));
    let memif = memif.to_str().unwrap();
    d.ok(&["port", "add", "pod8", "--memif", memif, "--mtu", "1500"]);
    d.ok(&["port", "del", "pod8"]);

    // Routes, including ECMP and the refusals.
    d.ok(&[
        "route",
        "add",
        "10.9.0.0/16",
        "via",
        "10.0.1.2",
        "via",
        "10.0.2.2",
    ]);
    let fib = d.ok(&["show", "fib"]);
    assert!(
        fib.contains("10.9.0.0/16") && fib.contains("10.0.1.2") && fib.contains("10.0.2.2"),
        "{fib}"
    );
    assert!(
        fib.contains("10.0.1.0/24"),
        "connected routes are listed: {fib}"
    );
    d.fails(
        &["route", "add", "10.9.0.0/16", "via", "10.0.1.3"],
        1,
        "exists",
    );
    d.fails(
        &["route", "add", "10.9.0.1/16", "via", "10.0.1.3"],
        2,
        "10.9.0.0/16",
    );
    d.fails(
        &["route", "add", "10.8.0.0/16", "via", "10.77.0.1"],
        1,
        "not in a connected subnet",
    );
    d.fails(
        &[
            "route",
            "add",
            "10.8.0.0/16",
            "via",
            "10.0.1.2",
            "dev",
            "nope",
        ],
        1,
        "nope",
    );
    d.ok(&["route", "del", "10.9.0.0/16"]);
    assert!(!d.ok(&["show", "fib"]).contains("10.9.0.0/16"));
    d.fails(&["route", "del", "10.9.0.0/16"], 1, "no route");

    // Neighbors.
    d.ok(&[
        "neighbor",
        "add",
        "10.0.1.5",
        "02:00:00:00:01:05",
        "--dev",
        "pod0",
    ]);
    assert!(d.ok(&["show", "neighbors"]).contains("02:00:00:00:01:05"));
    d.fails(
        &[
            "neighbor",
            "add",
            "10.0.1.5",
            "02:00:00:00:01:06",
            "--dev",
            "pod0",
        ],
        1,
        "exists",
    );
    d.fails(
        &[
            "neighbor",
            "add",
            "10.0.1.6",
            "02:00:00:00:01:06",
            "--dev",
            "nope",
        ],
        1,
        "nope",
    );
    d.fails(
        &["neighbor", "add", "10.0.1.6", "02:00:00", "--dev", "pod0"],
        2,
        "MAC",
    );
    d.ok(&["neighbor", "del", "10.0.1.5", "--dev", "pod0"]);
    d.fails(
        &["neighbor", "del", "10.0.1.5", "--dev", "pod0"],
        1,
        "no neighbor",
    );

    // Tunnels.
    d.ok(&[
        "tunnel",
        "add",
        "vx7",
        "--vni",
        "7",
        "--local",
        "10.0.1.1",
        "--remote",
        "10.0.1.9",
        "--address",
        "172.20.0.1/24",
    ]);
    let t = d.ok(&["show", "tunnels"]);
    assert!(t.contains("vx7") && t.contains("172.20.0.1/24"), "{t}");
    d.fails(
        &[
            "tunnel",
            "add",
            "vx8",
            "--vni",
            "8",
            "--local",
            "192.0.2.1",
            "--remote",
            "10.0.1.9",
        ],
        1,
        "not one of our addresses",
    );
    d.fails(
        &[
            "tunnel", "add", "vx7", "--vni", "9", "--local", "10.0.1.1", "--remote", "10.0.1.8",
        ],
        1,
        "exists",
    );
    d.ok(&["route", "add", "10.50.0.0/16", "via", "172.20.0.2"]);
    assert!(
        d.ok(&["show", "fib"]).contains("172.20.0.2"),
        "routes point through the tunnel"
    );

    // Stats answer.
    d.ok(&["show", "runtime"]);
    d.ok(&["show", "errors"]);

    // Prometheus exposition, valid per promtool.
    let url = metrics_addr(&lines);
    let body = http_get(&url, "/metrics");
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    let text = body
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    for needle in [
        "dataplane_port_rx_packets_total{port=\"pod0\"}",
        "dataplane_node_packets_total{node=\"ip4-lookup\",worker=\"0\"}",
        "dataplane_node_errors_total{node=\"ip4-rewrite\",reason=\"TTL expired in transit (ICMP time exceeded sent)\",worker=\"0\"}",
        "dataplane_fib_routes ",
        "dataplane_interfaces 3",
        "dataplane_neighbor_learns_refused_total 0",
    ] {
        assert!(text.contains(needle), "{needle} missing in:\n{text}");
    }
    if require(
        Path::new("/usr/bin/promtool").exists(),
        "promtool (Debian package prometheus) to lint the metrics",
    ) {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(http_get(&url, "/nope").starts_with("HTTP/1.1 404"));

    // Stop the daemon: dpctl says it is not running (exit 3), and the socket is gone.
    signal(&child, "INT");
    let out = child.wait_with_output();
    assert!(out.status.success(), "exit {:?}", out.status);
    assert!(!socket.exists(), "the socket is removed at shutdown");
    d.fails(&["show", "interfaces"], 3, "not running");
}

#[test]
fn sighup_reload_applies_the_difference_and_refuses_bad_files() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let cfg = dir.path().join("reload.toml");
    let base = dp_config(
        "0-1",
        &format!("dpc{tag}"),
        &socket,
        &format!(
            r#"[[port]]
name = "pod0"
device = "net_null_h{tag}a,no-rx=1"
address = "10.0.1.1/24"
[[port]]
name = "pod1"
device = "net_null_h{tag}b,no-rx=1"
"#
        ),
    );
    std::fs::write(
        &cfg,
        format!("{base}[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\n"),
    )
    .unwrap();
    let (child, lines) = start_ready(&cfg);
    let d = Dpctl { socket };
    assert!(d.ok(&["show", "fib"]).contains("10.9.0.0/16"));

    // A new file: one route replaced, one added, a neighbor, an address on pod1, a tunnel.
    let new = base.replace(
        "name = \"pod1\"\n",
        "name = \"pod1\"\naddress = \"10.0.2.1/24\"\n",
    ) + "[[route]]\nprefix = \"10.8.0.0/16\"\nvia = \"10.0.2.2\"\n\
           [[route]]\nprefix = \"10.7.0.0/16\"\nvia = [\"10.0.1.2\", \"10.0.2.2\"]\n\
           [[neighbor]]\ninterface = \"pod0\"\nip = \"10.0.1.2\"\nmac = \"02:00:00:00:01:02\"\n\
           [[tunnel]]\nname = \"vx5\"\nvni = 5\nlocal = \"10.0.2.1\"\nremote = \"10.0.2.9\"\naddress = \"172.21.0.1/24\"\n";
    std::fs::write(&cfg, &new).unwrap();
    signal(&child, "HUP");
    let line = wait_line_text(&lines, "reloaded", Duration::from_secs(10)).expect("reload line");
    assert!(
        line.contains("routes +2 -1")
            && line.contains("neighbors +1 -0")
            && line.contains("tunnels +1"),
        "{line}"
    );
    let fib = d.ok(&["show", "fib"]);
    assert!(
        !fib.contains("10.9.0.0/16") && fib.contains("10.8.0.0/16") && fib.contains("10.7.0.0/16"),
        "{fib}"
    );
    assert!(d.ok(&["show", "neighbors"]).contains("02:00:00:00:01:02"));
    assert!(d.ok(&["show", "interfaces"]).contains("10.0.2.1/24"));
    assert!(d.ok(&["show", "tunnels"]).contains("vx5"));

    // A broken file changes nothing.
    std::fs::write(
        &cfg,
        new.replace("[[neighbor]]", "[[neighbor]]\ncolour = 1"),
    )
    .unwrap();
    signal(&child, "HUP");
    let line =
        wait_line_text(&lines, "reload refused", Duration::from_secs(10)).expect("refusal line");
    assert!(
        line.contains("unknown field `colour`") && line.contains("line "),
        "{line}"
    );
    assert_eq!(d.ok(&["show", "fib"]), fib, "nothing changed");
    // What only a restart can change is refused, also without other errors.
    std::fs::write(&cfg, new.replace("cores = \"0-1\"", "cores = \"0,1\"")).unwrap();
    signal(&child, "HUP");
    let line =
        wait_line_text(&lines, "reload refused", Duration::from_secs(10)).expect("refusal line");
    assert!(line.contains("[eal] changed: restart"), "{line}");
    assert_eq!(d.ok(&["show", "fib"]), fib, "nothing changed");
    drop(child);
}

#[test]
fn sighup_reload_of_an_auto_cores_config_is_applied() {
    if !require_dpdk()
        || !require(
            dataplane::config::allowed_cpus().len() >= 2,
            "`auto` needs 2 CPUs for this process",
        )
    {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let cfg = dir.path().join("auto.toml");
    let base = dp_config(
        "auto",
        &format!("dpa{tag}"),
        &socket,
        &format!(
            r#"[[port]]
name = "pod0"
device = "net_null_a{tag}a,no-rx=1"
address = "10.0.1.1/24"
"#
        ),
    );
    std::fs::write(&cfg, &base).unwrap();
    let (child, lines) = start_ready(&cfg);
    // The EAL has pinned the main thread to one CPU by now; `auto` still means the CPUs the
    // daemon was started with, so the unchanged [eal] passes and the route goes in.
    std::fs::write(
        &cfg,
        format!("{base}[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\n"),
    )
    .unwrap();
    signal(&child, "HUP");
    let line = wait_line_text(&lines, "reload", Duration::from_secs(10)).expect("reload line");
    assert!(
        line.contains("reloaded") && line.contains("routes +1"),
        "{line}"
    );
    let d = Dpctl { socket };
    assert!(d.ok(&["show", "fib"]).contains("10.9.0.0/16"));
    drop(child);
}
