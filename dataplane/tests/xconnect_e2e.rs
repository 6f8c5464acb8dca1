//! The `dataplane` binary end to end: an L2 cross-connect between two net_af_packet ports on
//! veth pairs whose peers sit in namespaces; the kernel pings through it. And bad configs
//! exit non-zero with one line that says what and where.

mod common;

use std::process::Command;
use std::time::Duration;

use common::net::*;
use common::*;

#[test]
fn xconnect_forwards_ping_between_namespaces_and_reports_on_sigint() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let ns_a = Netns::new(&format!("dpxa{tag}"));
    let ns_b = Netns::new(&format!("dpxb{tag}"));
    let (ha, hb) = (format!("xa{tag}"), format!("xb{tag}"));
    let _va = plug(&ns_a, &ha, "10.231.0.1/24");
    let _vb = plug(&ns_b, &hb, "10.231.0.2/24");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("xc.toml");
    let sock = dir.path().join("api.sock").display().to_string();
    std::fs::write(
        &cfg,
        dp_config(
            "0-1",
            &format!("dpx{tag}"),
            &sock,
            &format!(
                r#"[[port]]
name = "a"
device = "net_af_packet{tag}a,iface={ha}"
[[port]]
name = "b"
device = "net_af_packet{tag}b,iface={hb}"
[[xconnect]]
ports = ["a", "b"]
"#
            ),
        ),
    )
    .unwrap();
    let (child, lines) = start(&cfg);
    assert!(
        wait_line(&lines, "forwarding on", Duration::from_secs(30)),
        "dataplane did not start"
    );

    let ping = ns_a.exec(&["ping", "-c", "5", "-i", "0.2", "-W", "2", "10.231.0.2"]);
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success(),
        "ping through the cross-connect failed:\n{ping_out}"
    );
    assert!(ping_out.contains("5 received"), "{ping_out}");

    signal(&child, "INT");
    assert!(
        wait_line(&lines, "SIGINT received", Duration::from_secs(10)),
        "no shutdown message"
    );
    let out = child.wait_with_output();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    let row = |name: &str| -> Vec<u64> {
        report
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for port {name} in:\n{report}"))
            .split_whitespace()
            .skip(1)
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (a, b) = (row("a"), row("b"));
    // 5 echo requests + 5 replies, plus ARP both ways, cross the connect.
    assert!(
        a[0] >= 5 && b[1] >= 5,
        "requests: rx on a {}, tx on b {}",
        a[0],
        b[1]
    );
    assert!(
        b[0] >= 5 && a[1] >= 5,
        "replies: rx on b {}, tx on a {}",
        b[0],
        a[1]
    );
    assert!(report.lines().next().unwrap().contains("tx-dropped"));
}

fn run_with_config(text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = Command::new(dataplane_bin())
        .args(["--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    if let Some(prefix) = file_prefix(text) {
        remove_runtime_dir(&prefix);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !stderr.contains("panicked"),
        "no panic on bad config:\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stderr)
}

/// The one line the dataplane itself prints (EAL log lines may precede it).
fn error_line(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("dataplane: error:"))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line:\n{stderr}");
    lines[0].to_string()
}

const BASE: &str = "[eal]\ncores = \"0-1\"\nargs = [\"--no-pci\"]\n[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n";

#[test]
fn bad_configs_exit_nonzero_with_one_line() {
    let (code, err) = run_with_config(&format!("{BASE}colour = \"red\"\n"));
    assert_eq!(code, 2);
    assert!(
        error_line(&err).contains("line 7, column 1: unknown field `colour`"),
        "{err}"
    );

    let (code, err) = run_with_config("[eal]\ncores = \"0-1\"\n[[port]]\nname = \"a\"\n");
    assert_eq!(code, 2);
    assert!(error_line(&err).contains("missing field `device`"), "{err}");

    let (code, err) = run_with_config("[eal\ncores = ");
    assert_eq!(code, 2);
    assert!(error_line(&err).contains("line 1, column"), "{err}");

    let (code, err) = run_with_config(&BASE.replace("0-1", "0,900"));
    assert_ne!(code, 0);
    assert!(
        error_line(&err).contains("core(s) 900 are not available"),
        "{err}"
    );

    let (code, err) = run_with_config("");
    assert_eq!(code, 2);
    assert!(error_line(&err).contains("missing field `eal`"), "{err}");
}

#[test]
fn device_that_does_not_probe_is_one_clear_line() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id();
    let text = format!(
        "[eal]\ncores = \"0-1\"\nargs = [\"--no-pci\", \"--file-prefix=dpbad{tag}\", \"--huge-unlink\"]\n\
         [[port]]\nname = \"up\"\ndevice = \"net_af_packet{tag},iface=no-such-if{}\"\n",
        tag % 1000
    );
    let (code, err) = run_with_config(&text);
    assert_eq!(code, 1);
    let line = error_line(&err);
    assert!(
        line.contains("port `up`") && line.contains("did not probe"),
        "{line}"
    );
}

#[test]
fn an_mtu_the_device_cannot_take_is_one_line_naming_the_key() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("dpmtu{tag}");
    // A memif carries 1500 bytes at most.
    let text = format!(
        "[eal]\ncores = \"0-1\"\nargs = [\"--no-pci\", \"--file-prefix={prefix}\", \"--huge-unlink\"]\n\
         [[port]]\nname = \"pod\"\ndevice = \"net_memif{n},role=server,socket={}\"\nmtu = 9000\n",
        dir.path().join("memif.sock").display(),
        n = tag % 1000
    );
    let (code, err) = run_with_config(&text);
    assert_eq!(code, 1);
    let line = error_line(&err);
    assert!(
        line.contains("port[0].mtu")
            && line.contains("port `pod`")
            && line.contains("9000 is out of the range the device (net_memif) takes"),
        "{line}"
    );
}

/// `cores = "auto"` takes the CPUs the process may run on (taskset here; the kubelet's CPU
/// manager in a pod): the first is the main lcore, the rest workers; one CPU is refused.
#[test]
fn auto_cores_follow_the_cpu_affinity() {
    if !require_dpdk()
        || !require(
            Command::new("taskset").arg("-V").output().is_ok(),
            "needs taskset (util-linux)",
        )
    {
        return;
    }
    let tag = std::process::id() % 100000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("auto.toml");
    std::fs::write(
        &cfg,
        dp_config(
            "auto",
            &format!("dpx{tag}"),
            dir.path().join("api.sock"),
            &format!("[[port]]\nname = \"a\"\ndevice = \"net_null_x{tag},no-rx=1\"\n"),
        ),
    )
    .unwrap();
    // Both CPUs: main lcore 0, worker 1.
    let mut child = Command::new("taskset")
        .args(["-c", "0,1"])
        .arg(dataplane_bin())
        .arg("--config")
        .arg(&cfg)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    let line = wait_line_text(&rx, "forwarding on", Duration::from_secs(30)).expect("started");
    stop_child(&mut child, Duration::from_secs(10), || {
        eprintln!("dataplane: no exit 10 s after SIGINT: SIGKILL")
    });
    remove_runtime_dir(&format!("dpx{tag}"));
    assert!(
        line.contains("1 worker lcore(s) [1] (main lcore 0)"),
        "{line}"
    );

    // One CPU: refused before DPDK starts, naming the setting.
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(dataplane_bin())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let line = error_line(&err);
    assert!(
        line.contains(
            "eal.cores: `auto`: this process may run on 1 CPU(s) (1); at least 2 are needed"
        ),
        "{line}"
    );
}
