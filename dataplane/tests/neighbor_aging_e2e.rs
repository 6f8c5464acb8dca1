//! Neighbor aging end to end, with the Linux kernel as the neighbor: a pod namespace on a veth
//! behind a routed af_packet port, and `[arp]` ages of seconds.
//!
//! * At start the dataplane announces its address (gratuitous ARP): the pod's kernel, which
//!   had cached another MAC for it (an earlier run on another port), updates at once.
//! * A port whose link comes up (a tap set up again from the kernel side) announces its
//!   address again.
//! * Past `[arp] max-neighbors`, a new neighbor is not learned: counted, logged, and the
//!   neighbors already learned keep working.
//! * A learned neighbor that keeps answering stays: the dataplane probes it once it is
//!   `age-secs` old, its kernel answers, and pings to the dataplane lose nothing meanwhile.
//! * A neighbor whose MAC changed without telling anyone (a pod's address given to a new pod)
//!   is relearned from the answer to the next probe.
//! * A neighbor that left is removed after its probes go unanswered, and counted.
//! * A static neighbor is never probed nor removed.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;
use dp_net::arp::ArpProbeError;

const STATIC_IP: &str = "10.0.1.9";
const STATIC_MAC: &str = "02:00:00:00:01:09";

/// The dataplane's entry for `address`: (MAC, kind, age in seconds).
fn entry(d: &Dpctl, address: &str) -> Option<(String, String, Option<u64>)> {
    let all = d.json(&["show", "neighbors"]);
    all.as_array()
        .expect("neighbors")
        .iter()
        .find(|n| n["address"] == address)
        .map(|n| {
            (
                n["mac"].as_str().unwrap().to_string(),
                n["kind"].as_str().unwrap().to_string(),
                n["age_secs"].as_u64(),
            )
        })
}

fn probes_sent(d: &Dpctl) -> u64 {
    d.error_count("arp-probe", &[ArpProbeError::Sent.name()])
}

/// Gratuitous ARPs sent so far.
fn announced(d: &Dpctl) -> u64 {
    d.error_count("arp-probe", &[ArpProbeError::Announced.name()])
}

fn mac_of(ns: &Netns) -> String {
    let out = ns.exec(&["cat", "/sys/class/net/eth0/address"]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Polls `f` every 100 ms until it holds or `timeout` passes.
fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
}

/// A pod namespace (`eth0` 10.0.1.2/24, gateway 10.0.1.1) on a veth, for a dataplane whose
/// port `pod0` (10.0.1.1/24) is the veth's other end by net_af_packet.
struct Pod {
    ns: Netns,
    _veth: Veth,
    host: String,
    /// Names this test's namespace, veth and EAL prefix apart from the other tests'.
    name: String,
}

impl Pod {
    fn new(letter: char) -> Pod {
        let tag = std::process::id() % 100000;
        let name = format!("dpn{letter}{tag}");
        let ns = Netns::new(&name);
        let host = format!("n{letter}{tag}");
        let veth = plug_via(&ns, &host, "10.0.1.2/24", "10.0.1.1");
        Pod {
            ns,
            _veth: veth,
            host,
            name,
        }
    }

    /// Starts the dataplane in `dir` with metrics on, port `pod0`, and `tail` (more config
    /// tables); returns it, its log, its API client and the metrics address.
    fn start(&self, dir: &std::path::Path, tail: &str) -> (DpProc, Lines, Dpctl, String) {
        let body = format!(
            "metrics = \"127.0.0.1:0\"\n{tail}[[port]]\nname = \"pod0\"\n\
             device = \"net_af_packet_{}a,iface={}\"\naddress = \"10.0.1.1/24\"\n",
            self.name, self.host
        );
        let (dp, lines, d) = start_config(dir, "0-1", &self.name, &body);
        let metrics = metrics_addr(&lines);
        (dp, lines, d, metrics)
    }
}

#[test]
fn addresses_announced_and_learned_neighbors_probed_kept_relearned_and_aged_out() {
    if !require_dpdk() {
        return;
    }
    let p = Pod::new('a');
    let pod = &p.ns;
    // A new MAC must not be announced (Linux's default; set so the test does not depend on it).
    pod.ok(&["sysctl", "-qw", "net.ipv4.conf.eth0.arp_notify=0"]);
    // What an earlier run left in the pod's cache: another MAC for the gateway.
    let old = "02:00:00:00:00:99";
    pod.ok(&[
        "ip", "neigh", "replace", "10.0.1.1", "lladdr", old, "dev", "eth0", "nud", "stale",
    ]);
    let cached = || {
        let out = pod.exec(&["ip", "neigh", "show", "10.0.1.1", "dev", "eth0"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(cached().contains(old), "{}", cached());
    let dir = tempfile::tempdir().unwrap();
    let tail = format!(
        r#"[arp]
age-secs = 2
probes = 2
probe-interval-ms = 300
[[neighbor]]
interface = "pod0"
ip = "{STATIC_IP}"
mac = "{STATIC_MAC}"
"#
    );
    let (_dp, _lines, d, metrics) = p.start(dir.path(), &tail);

    // The gratuitous ARP corrects the pod's cache before the pod sends anything.
    let ours = d.port("pod0")["mac"]
        .as_str()
        .expect("pod0's MAC")
        .to_string();
    assert!(
        until(Duration::from_secs(5), || cached().contains(&ours)),
        "the pod still has {} for the gateway; show errors: {:?}",
        cached(),
        d.errors()
    );

    // The pod asks for us; we learn it from its request and answer its pings.
    assert!(
        ping_until(pod, "10.0.1.1", Duration::from_secs(10)),
        "the pod cannot ping the dataplane"
    );
    let first = mac_of(pod);
    let (mac, kind, _) = entry(&d, "10.0.1.2").expect("the pod is learned");
    assert_eq!((mac.as_str(), kind.as_str()), (first.as_str(), "dynamic"));

    // 5 s of pings while the entry passes its age twice: the kernel answers each probe, the
    // entry is confirmed and never leaves, and no echo reply is lost.
    let out = pod.exec(&["ping", "-q", "-c", "25", "-i", "0.2", "-W", "1", "10.0.1.1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("25 received"),
        "pings lost while probing:\n{text}"
    );
    let sent = probes_sent(&d);
    assert!(sent >= 2, "{sent} probes sent in 5 s with an age of 2 s");
    let (mac, _, age) = entry(&d, "10.0.1.2").expect("an answering neighbor stays");
    assert_eq!(mac, first);
    assert!(
        age.is_some_and(|a| a <= 2),
        "confirmed by the probes: age {age:?}"
    );

    // The pod's MAC changes, unannounced: the next probe's answer teaches the new one.
    let moved = "02:00:00:00:01:02";
    assert_ne!(first, moved);
    pod.ok(&["ip", "link", "set", "eth0", "address", moved]);
    assert!(
        until(Duration::from_secs(10), || entry(&d, "10.0.1.2")
            .is_some_and(|e| e.0 == moved)),
        "not relearned: {:?}",
        entry(&d, "10.0.1.2")
    );

    // The pod leaves: after 2 s and 2 unanswered probes 300 ms apart, the entry goes.
    pod.ok(&["ip", "link", "set", "eth0", "down"]);
    let gone = Instant::now();
    assert!(
        until(Duration::from_secs(10), || entry(&d, "10.0.1.2").is_none()),
        "a neighbor that left was never removed"
    );
    // Confirmed at most one age ago, then two probes: not removed much sooner than that.
    assert!(
        gone.elapsed() >= Duration::from_millis(400),
        "removed {:?} after it left, before its probes could go unanswered",
        gone.elapsed()
    );
    let body = http_get(&metrics, "/metrics");
    assert!(metric(&body, "dataplane_neighbors_aged_out_total") >= 1);
    assert!(metric(&body, "dataplane_neighbor_probes_total") >= sent + 2);
    assert_eq!(metric(&body, "dataplane_neighbor_learns_refused_total"), 0);

    // The static entry was never probed away.
    assert_eq!(
        entry(&d, STATIC_IP),
        Some((STATIC_MAC.to_string(), "static".to_string(), None))
    );
}

#[test]
fn a_port_whose_link_comes_up_announces_its_addresses_again() {
    if !require_dpdk() {
        return;
    }
    let tag = std::process::id() % 100000;
    let tap = format!("dpnt{tag}");
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "[[port]]\nname = \"t0\"\ndevice = \"net_tap{tag},iface={tap}\"\naddress = \"10.77.0.1/24\"\n"
    );
    let (_dp, _lines, d) = start_config(dir.path(), "0-1", &format!("dpnt{tag}"), &body);
    assert!(
        until(Duration::from_secs(5), || announced(&d) == 1),
        "announced once at start: {}",
        announced(&d)
    );
    let link = |d: &Dpctl| d.port("t0")["link_up"].as_bool().expect("link_up");
    ip_ok(&["link", "set", &tap, "down"]);
    assert!(
        until(Duration::from_secs(5), || !link(&d)),
        "the tap's link went down"
    );
    // Links are looked at twice a second: let one look see it down.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(announced(&d), 1, "nothing while the link is down");
    ip_ok(&["link", "set", &tap, "up"]);
    assert!(
        until(Duration::from_secs(5), || announced(&d) == 2),
        "announced again when the link came up: {}",
        announced(&d)
    );
}

/// `[arp] max-neighbors = 1`: the pod's first address is learned, its second is not, and
/// that is counted and said once in the log; traffic to the first goes on.
#[test]
fn past_max_neighbors_a_new_neighbor_is_refused_counted_and_logged() {
    if !require_dpdk() {
        return;
    }
    let p = Pod::new('m');
    let pod = &p.ns;
    pod.ok(&["ip", "addr", "add", "10.0.1.3/24", "dev", "eth0"]);
    let dir = tempfile::tempdir().unwrap();
    let (_dp, lines, d, metrics) = p.start(dir.path(), "[arp]\nmax-neighbors = 1\n");
    assert!(
        ping_until(pod, "10.0.1.1", Duration::from_secs(10)),
        "the pod's first address cannot ping the dataplane"
    );
    // From the second address: our echo replies would need a second neighbor.
    let out = pod.exec(&[
        "ping", "-q", "-c", "3", "-i", "0.3", "-W", "1", "-I", "10.0.1.3", "10.0.1.1",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(" 0 received"),
        "answered past the cap:\n{text}"
    );
    assert!(
        wait_line(&lines, "neighbor table full", Duration::from_secs(5)),
        "the refusal is logged"
    );
    let body = http_get(&metrics, "/metrics");
    assert!(metric(&body, "dataplane_neighbor_learns_refused_total") >= 1);
    assert_eq!(metric(&body, "dataplane_neighbors"), 1);
    assert!(entry(&d, "10.0.1.2").is_some() && entry(&d, "10.0.1.3").is_none());
    assert!(
        ping_until(pod, "10.0.1.1", Duration::from_secs(5)),
        "the neighbor that was learned still works"
    );
}
