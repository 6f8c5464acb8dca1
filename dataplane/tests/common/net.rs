//! Namespaces, veth pairs and a running `dataplane` process, for end-to-end tests. Everything
//! is made with unique names and removed on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn ip_ok(args: &[&str]) {
    assert!(ip(args), "ip {} failed", args.join(" "));
}

/// A namespace deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = ip(&["netns", "del", name]);
        ip_ok(&["netns", "add", name]);
        Netns(name.to_string())
    }
    pub fn exec(&self, cmd: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .output()
            .expect("ip netns exec")
    }

    /// [`Netns::exec`] that must succeed: a failure panics with the command and its stderr.
    pub fn ok(&self, cmd: &[&str]) {
        let out = self.exec(cmd);
        assert!(
            out.status.success(),
            "in {}: `{}` failed ({}): {}",
            self.0,
            cmd.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.0]);
    }
}

/// A host-side veth deleted on drop (its peer goes with it).
pub struct Veth(pub String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.0]);
    }
}

/// veth `host` in the host, its peer as `eth0` in `ns` with `addr`.
pub fn plug(ns: &Netns, host: &str, addr: &str) -> Veth {
    let _ = ip(&["link", "del", host]);
    let peer = format!("{host}p");
    ip_ok(&["link", "add", host, "type", "veth", "peer", "name", &peer]);
    let v = Veth(host.to_string());
    ip_ok(&["link", "set", &peer, "netns", &ns.0]);
    ip_ok(&[
        "netns", "exec", &ns.0, "ip", "link", "set", &peer, "name", "eth0",
    ]);
    ip_ok(&[
        "netns", "exec", &ns.0, "ip", "addr", "add", addr, "dev", "eth0",
    ]);
    ip_ok(&["netns", "exec", &ns.0, "ip", "link", "set", "eth0", "up"]);
    ip_ok(&["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"]);
    ip_ok(&["link", "set", host, "up"]);
    v
}

/// [`plug`], and in `ns` a default route via `gateway` (a pod behind the dataplane).
pub fn plug_via(ns: &Netns, host: &str, addr: &str, gateway: &str) -> Veth {
    let v = plug(ns, host, addr);
    ip_ok(&[
        "netns", "exec", &ns.0, "ip", "route", "add", "default", "via", gateway,
    ]);
    v
}

/// The dataplane binary under test (`DATAPLANE_BIN` overrides it, e.g. with a release build
/// for figures).
pub fn dataplane_bin() -> String {
    std::env::var("DATAPLANE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dataplane").to_string())
}

/// The next hop behind port `out` in the routed end-to-end tests, 10.0.2.2: a static
/// neighbor, as nothing answers ARP on a virtual sink.
pub const NH_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x02];

/// Config for the routed end-to-end tests' ingress: port `in`, 10.0.1.1/24, on device `dev`.
pub fn in_port(dev: &str) -> String {
    format!("[[port]]\nname = \"in\"\ndevice = \"{dev}\"\naddress = \"10.0.1.1/24\"\n")
}

/// The sum of `node`'s counters under `reasons` in `errors` (a [`Dpctl::errors`] answer, so
/// several sums can come from one snapshot).
pub fn error_count(errors: &[(String, String, u64)], node: &str, reasons: &[&str]) -> u64 {
    errors
        .iter()
        .filter(|(n, r, _)| n == node && reasons.contains(&r.as_str()))
        .map(|e| e.2)
        .sum()
}

/// The address of port `out` in [`routed_out`].
pub const OUT_ADDR: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 2, 1);

/// Config for the routed end-to-end tests' egress: port `out`, 10.0.2.1/24, on device `dev`,
/// and 10.2.0.0/16 routed out of it through 10.0.2.2 (at [`NH_MAC`]).
pub fn routed_out(dev: &str) -> String {
    let m = NH_MAC.map(|b| format!("{b:02x}")).join(":");
    format!(
        r#"[[port]]
name = "out"
device = "{dev}"
address = "{OUT_ADDR}/24"
[[route]]
prefix = "10.2.0.0/16"
via = "10.0.2.2"
[[neighbor]]
interface = "out"
ip = "10.0.2.2"
mac = "{m}"
"#
    )
}

/// A running `dataplane`: stopped (SIGINT, then SIGKILL after 5 s) when dropped, so a failing
/// test never leaves one behind, nor, once it has exited, its EAL runtime folder.
pub struct DpProc {
    child: Option<Child>,
    /// The EAL `--file-prefix` of its config.
    prefix: Option<String>,
}

impl DpProc {
    pub fn id(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits for it to exit (after a signal) and returns its output.
    pub fn wait_with_output(mut self) -> std::process::Output {
        self.child
            .take()
            .expect("running")
            .wait_with_output()
            .expect("wait for dataplane")
    }
}

impl Drop for DpProc {
    fn drop(&mut self) {
        let exited = match self.child.take() {
            Some(mut c) => stop_child(&mut c, Duration::from_secs(5), || {}).is_some(),
            None => true, // waited for by wait_with_output
        };
        if let (true, Some(p)) = (exited, &self.prefix) {
            remove_runtime_dir(p);
        }
    }
}

/// Removes the EAL runtime folder of file prefix `prefix`, once its process has exited:
/// DPDK removes its sockets there at exit, but not the folder itself.
pub fn remove_runtime_dir(prefix: &str) {
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
}

/// The value of `--file-prefix=` in config text `text`.
pub fn file_prefix(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("--file-prefix=")?;
    let end = rest.find(|c: char| c == '"' || c.is_whitespace())?;
    Some(rest[..end].to_string()).filter(|p| !p.is_empty() && !p.contains('/'))
}

/// Stops `child`: SIGINT, then up to `grace` for it to exit, then SIGKILL (calling `on_sigkill`
/// just before) and up to 30 s more. Returns how it exited, if it did.
///
/// It waits for the exit without reaping the child (`waitid` with `WNOWAIT`) and leaves the
/// zombie to init when the test process ends. Reaping a DPDK process here once took 25-75 s
/// inside the kernel (`wait4` -> `release_task` -> `shrink_dcache_parent` on its `/proc`
/// entries), with the child long gone: the caller's thread sat in that `wait4`, past its own
/// SIGKILL deadline. A zombie holds no memory, files or sockets, only its pid, which it also
/// keeps from being reused while we may still signal it.
pub fn stop_child(
    child: &mut Child,
    grace: Duration,
    on_sigkill: impl FnOnce(),
) -> Option<std::process::ExitStatus> {
    let pid = child_pid(child.id())?;
    // Running, so its pid is still its own (and, unreaped, stays so until we are done).
    match child_state(pid) {
        ChildState::Running => {}
        ChildState::Exited(status) => return Some(status),
        // Reaped elsewhere: its pid may be another process's now, so no signal.
        ChildState::Gone => return None,
    }
    let _ = kill(pid, libc::SIGINT);
    if let Some(status) = exited_within(pid, grace) {
        return Some(status);
    }
    on_sigkill();
    let _ = kill(pid, libc::SIGKILL);
    exited_within(pid, Duration::from_secs(30))
}

/// A child's pid for kill(2): never 0 or negative (those signal process groups).
fn child_pid(id: u32) -> Option<libc::pid_t> {
    libc::pid_t::try_from(id).ok().filter(|&p| p > 0)
}

/// kill(2): a signal, not a `kill` process.
fn kill(pid: libc::pid_t, signo: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) has no memory effects; callers pass a child's pid (`child_pid`).
    match unsafe { libc::kill(pid, signo) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// A child as `waitid` sees it without reaping it.
enum ChildState {
    Running,
    Exited(std::process::ExitStatus),
    /// Not a child to wait for any more (reaped already).
    Gone,
}

fn child_state(pid: libc::pid_t) -> ChildState {
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: an all-zero siginfo_t is valid; waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid siginfo_t for waitid to fill.
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
        return ChildState::Gone;
    }
    // SAFETY: waitid filled `info` (si_pid 0: the child has not exited).
    let (who, status) = unsafe { (info.si_pid(), info.si_status()) };
    if who == 0 {
        return ChildState::Running;
    }
    // The wait(2) status word: exit code in the second byte, else the signal.
    ChildState::Exited(std::process::ExitStatus::from_raw(match info.si_code {
        libc::CLD_EXITED => (status & 0xff) << 8,
        _ => status & 0x7f,
    }))
}

/// How child `pid` exited, waiting up to `wait` for it; `None` if it did not, or if it can
/// no longer be waited for.
fn exited_within(pid: libc::pid_t, wait: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + wait;
    loop {
        match child_state(pid) {
            ChildState::Exited(status) => return Some(status),
            ChildState::Gone => return None,
            ChildState::Running if Instant::now() >= deadline => return None,
            ChildState::Running => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

pub fn start(config: &Path) -> (DpProc, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(dataplane_bin())
        .args(["--config", config.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dataplane");
    let (txl, rxl) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[dataplane] {line}");
            let _ = txl.send(line);
        }
    });
    let prefix = std::fs::read_to_string(config)
        .ok()
        .as_deref()
        .and_then(file_prefix);
    (
        DpProc {
            child: Some(child),
            prefix,
        },
        rxl,
    )
}

/// The `[eal]` and `[control]` head of a dataplane config every end-to-end test uses (EAL file
/// prefix `prefix`, in memory, warnings only; the API on `socket`), then `body`. `body` follows
/// the `socket` line, so it may begin with more `[control]` keys (`metrics = ...`).
pub fn dp_config(cores: &str, prefix: &str, socket: impl AsRef<Path>, body: &str) -> String {
    format!(
        r#"[eal]
cores = "{cores}"
args = ["--no-pci", "--file-prefix={prefix}", "--in-memory", "--log-level=*:warning"]
[control]
socket = "{}"
{body}"#,
        socket.as_ref().display()
    )
}

/// A running dataplane's stderr: what came before "control API on" (`seen`), and the rest as
/// it comes (`wait_line` and `wait_line_text` take it as the receiver).
pub struct Lines {
    pub seen: Vec<String>,
    pub rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    /// The first line containing `needle` printed up to "control API on".
    pub fn seen(&self, needle: &str) -> Option<&str> {
        self.seen
            .iter()
            .find(|l| l.contains(needle))
            .map(String::as_str)
    }
}

impl std::ops::Deref for Lines {
    type Target = std::sync::mpsc::Receiver<String>;
    fn deref(&self) -> &Self::Target {
        &self.rx
    }
}

/// [`start`], then waits up to 30 s for "control API on" (panics "dataplane did not start"
/// otherwise). The lines up to it are kept (ports come up before it, a restore is reported
/// before it).
pub fn start_ready(config: &Path) -> (DpProc, Lines) {
    let (dp, rx) = start(config);
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ready = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        ready = line.contains("control API on");
        seen.push(line);
        if ready {
            break;
        }
    }
    assert!(ready, "dataplane did not start");
    (dp, Lines { seen, rx })
}

/// Writes `dp_config(cores, prefix, <dir>/api.sock, body)` to `<dir>/dataplane.toml`, starts
/// the dataplane on it ([`start_ready`]) and returns it with a client of its API.
pub fn start_config(dir: &Path, cores: &str, prefix: &str, body: &str) -> (DpProc, Lines, Dpctl) {
    let socket = dir.join("api.sock");
    let cfg = dir.join("dataplane.toml");
    std::fs::write(&cfg, dp_config(cores, prefix, &socket, body)).unwrap();
    let (dp, lines) = start_ready(&cfg);
    (dp, lines, Dpctl::new(socket))
}

pub fn wait_line(rx: &std::sync::mpsc::Receiver<String>, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Waits for a line containing `needle` and returns it.
pub fn wait_line_text(
    rx: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    timeout: Duration,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains(needle) => return Some(l),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

/// The address the metrics endpoint is on (`[control] metrics`), from its start-up line.
pub fn metrics_addr(lines: &std::sync::mpsc::Receiver<String>) -> String {
    let line =
        wait_line_text(lines, "metrics on http://", Duration::from_secs(5)).expect("metrics line");
    line.split_whitespace()
        .last()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_string()
}

/// A whole HTTP/1.1 answer to `GET path` from `addr`.
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Sends signal `sig` ("INT", "TERM", "HUP") to the running dataplane: kill(2), no `kill`
/// process.
pub fn signal(child: &DpProc, sig: &str) {
    let signo = match sig {
        "INT" => libc::SIGINT,
        "TERM" => libc::SIGTERM,
        "HUP" => libc::SIGHUP,
        _ => panic!("signal {sig}: not one the tests send"),
    };
    let pid = child_pid(child.id()).expect("a running dataplane");
    if let Err(e) = kill(pid, signo) {
        panic!("kill -{sig} {pid}: {e}");
    }
}

/// A binary of another workspace package (`dpctl`, `cni-sriov`), built by
/// `cargo build --workspace --bins`, which `ci/test.sh` runs before the tests.
pub fn workspace_bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join(name))
        .expect("target dir");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p {name}` first (ci/test.sh does)",
        bin.display()
    );
    bin
}

/// The workspace's `dpctl` binary.
pub fn dpctl_bin() -> std::path::PathBuf {
    workspace_bin("dpctl")
}

/// The real `dpctl` binary against one dataplane's API socket.
pub struct Dpctl {
    pub socket: std::path::PathBuf,
}

impl Dpctl {
    pub fn new(socket: impl AsRef<Path>) -> Dpctl {
        Dpctl {
            socket: socket.as_ref().to_path_buf(),
        }
    }

    /// Runs dpctl; returns (exit code, stdout, stderr).
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> (i32, String, String) {
        let out = Command::new(dpctl_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run dpctl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Runs dpctl and expects success; returns its stdout.
    pub fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "dpctl {} failed: {err}{out}", Self::show(args));
        out
    }

    /// Runs `dpctl --json ARGS`, expects success, and parses the answer.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("dpctl {}: {e}: {out}", all.join(" ")))
    }

    /// `show errors` summed over the workers: (node, reason, count) for each counter that
    /// moved.
    pub fn errors(&self) -> Vec<(String, String, u64)> {
        let j = self.json(&["show", "errors"]);
        let total = j["total"]
            .as_array()
            .unwrap_or_else(|| panic!("show errors: {j}"));
        total
            .iter()
            .map(|c| {
                let text = |k: &str| {
                    c[k].as_str()
                        .unwrap_or_else(|| panic!("{k}: {c}"))
                        .to_string()
                };
                let n = c["count"].as_u64().unwrap_or_else(|| panic!("count: {c}"));
                (text("node"), text("reason"), n)
            })
            .collect()
    }

    /// The sum of `node`'s counters under `reasons` in `show errors` ([`error_count`]).
    pub fn error_count(&self, node: &str, reasons: &[&str]) -> u64 {
        error_count(&self.errors(), node, reasons)
    }

    /// Expects exit `code` and a stderr line containing `needle`.
    pub fn fails(&self, args: &[&str], code: i32, needle: &str) {
        let (c, out, err) = self.run(args);
        assert_eq!(c, code, "dpctl {}: {err}{out}", args.join(" "));
        assert!(
            err.contains(needle),
            "dpctl {}: expected `{needle}` in: {err}",
            args.join(" ")
        );
        if code != 2 {
            // Usage errors are clap's (error, blank line, --help hint); the rest is one line.
            assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        }
    }

    /// Port `name` as `dpctl --json show interfaces` lists it.
    pub fn port(&self, name: &str) -> serde_json::Value {
        port_in(&self.json(&["show", "interfaces"]), name).clone()
    }

    /// Prints `show errors` and `show interfaces`, for a failing test's output.
    pub fn dump(&self) {
        for what in ["errors", "interfaces"] {
            eprintln!("{}", self.run(&["show", what]).1);
        }
    }

    fn show<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The first port of a `dpctl --json show interfaces` answer for which `pred` holds.
pub fn port_where(
    interfaces: &serde_json::Value,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Option<&serde_json::Value> {
    interfaces["ports"].as_array()?.iter().find(|p| pred(p))
}

/// Port `name` in a `dpctl --json show interfaces` answer.
pub fn port_in<'a>(interfaces: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    port_where(interfaces, |p| p["name"] == name)
        .unwrap_or_else(|| panic!("no port {name} in: {interfaces}"))
}

/// Port `name`'s counters in a `dpctl --json show interfaces` answer.
pub fn stats_in<'a>(interfaces: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    interfaces["stats"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no counters of {name} in: {interfaces}"))
}

/// A pod-side testpmd attached to a memif socket as the client, answering ARP and ping.
pub struct PodDpdk(Child, String);

impl PodDpdk {
    /// testpmd with `vdev` (the pod side of the port).
    pub fn start(vdev: &str, prefix: &str) -> PodDpdk {
        PodDpdk::start_with(vdev, prefix, &["--forward-mode=icmpecho"])
    }

    /// testpmd with `vdev` and its own forwarding arguments (e.g. a txonly generator).
    pub fn start_with(vdev: &str, prefix: &str, fwd: &[&str]) -> PodDpdk {
        let child = Command::new("dpdk-testpmd")
            // One file per memory segment list: vhost-user can map only a few regions.
            .args([
                "-l",
                "0-1",
                "--no-pci",
                "--in-memory",
                "--single-file-segments",
                "--log-level=*:warning",
            ])
            .arg(format!("--file-prefix={prefix}"))
            .arg(format!("--vdev={vdev}"))
            .arg("--")
            .args(fwd)
            .args(["-a", "--no-lsc-interrupt", "--total-num-mbufs=8192"])
            // testpmd without -i waits for Enter on stdin and quits at EOF: keep a pipe open.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dpdk-testpmd (package dpdk) runs");
        eprintln!("[pod {prefix}] testpmd started, pid {}", child.id());
        PodDpdk(child, prefix.to_string())
    }
}

impl Drop for PodDpdk {
    fn drop(&mut self) {
        let start = Instant::now();
        eprintln!("[pod {}] stopping testpmd (SIGINT)", self.1);
        let exited = stop_child(&mut self.0, Duration::from_secs(5), || {
            eprintln!("[pod {}] no exit 5 s after SIGINT: SIGKILL", self.1)
        });
        eprintln!(
            "[pod {}] testpmd gone after {:.1} s: {exited:?}",
            self.1,
            start.elapsed().as_secs_f64()
        );
        remove_runtime_dir(&self.1);
    }
}

/// Pings until `n` replies in a row arrive or `timeout` passes.
pub fn ping_until(ns: &Netns, ip: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let out = ns.exec(&["ping", "-c", "3", "-i", "0.2", "-W", "1", ip]);
        if String::from_utf8_lossy(&out.stdout).contains("3 received") {
            return true;
        }
    }
    false
}
