//! Several workers end to end: a routed port with two rx queues (net_pcap, one pcap file per
//! queue, each carrying its own flows) and two worker lcores. Each worker must poll its own
//! queue (queue w to worker w) and forward every frame correctly through its own tx queue of
//! the egress port (net_pcap, one tx_pcap file per queue), in order within its queue. Once
//! through a port in the config file, once through a port added with `dpctl port add`, which is
//! then deleted (every queue released from every worker) and added again.
//!
//! The two workers run on lcores 1 and 2, both on CPU 1 (`cores = "0@0,1@1,2@1"`): on a 2-CPU
//! machine the run is oversubscribed, which is fine for correctness.

mod common;

use std::time::{Duration, Instant};

use common::net::*;
use common::*;
use dp_net::wire::checksum;

/// Lcore 0 (main) on CPU 0, workers 1 and 2 both on CPU 1.
const CORES: &str = "0@0,1@1,2@1";

/// `sent` as the dataplane must forward it out of a port with MAC `out_mac`: next hop's MAC,
/// our MAC, TTL one less, IPv4 checksum right, the rest unchanged.
fn forwarded(sent: &[u8], out_mac: [u8; 6]) -> Vec<u8> {
    let mut f = sent.to_vec();
    f[0..6].copy_from_slice(&NH_MAC);
    f[6..12].copy_from_slice(&out_mac);
    f[14 + 8] -= 1;
    f[24..26].fill(0);
    let c = !checksum::sum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

/// `n` frames of flows `flows`, taken in turn. Flow `flow` goes to 10.2.0.<flow+1> from UDP
/// port 1024+`flow`; its packet number `seq` is in the IP id and the payload.
fn frames(flows: std::ops::Range<u8>, n: usize) -> Vec<Vec<u8>> {
    let k = flows.len();
    (0..n)
        .map(|i| {
            let (flow, seq) = (flows.start + (i % k) as u8, (i / k) as u16);
            let payload: Vec<u8> = (0..22u8).map(|b| b ^ flow ^ seq as u8).collect();
            udp_frame([10, 2, 0, flow + 1], 1024 + u16::from(flow), seq, &payload)
        })
        .collect()
}

/// The packets each worker's port-rx node took, by worker number, once they add up to `total`
/// (workers publish their counters ten times a second).
fn port_rx_per_worker(d: &Dpctl, total: u64) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = port_rx_now(d);
        if got.iter().sum::<u64>() >= total || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The packets each worker's port-rx node has taken so far, by worker number.
fn port_rx_now(d: &Dpctl) -> Vec<u64> {
    let rt = d.json(&["show", "runtime"]);
    rt["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| {
            w["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .find(|n| n["name"] == "port-rx")
                .map_or(0, |n| n["packets"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// The worker polling each rx queue of port `name`, from `dpctl show interfaces`.
fn rx_workers(d: &Dpctl, name: &str) -> Vec<u64> {
    let p = d.port(name);
    p["rx_workers"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has rx_workers: {p}"))
        .iter()
        .map(|w| w.as_u64().expect("a worker number"))
        .collect()
}

/// (`out` port's MAC, its tx packets), from `dpctl show interfaces`.
fn out_port(d: &Dpctl) -> ([u8; 6], u64) {
    let j = d.json(&["show", "interfaces"]);
    let mac = port_in(&j, "out")["mac"]
        .as_str()
        .expect("out has a MAC")
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect::<Vec<_>>();
    let tx = stats_in(&j, "out")["tx_packets"]
        .as_u64()
        .expect("out's counters");
    (mac.try_into().expect("6-byte MAC"), tx)
}

fn wait_tx(d: &Dpctl, want: u64) -> [u8; 6] {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (mac, tx) = out_port(d);
        if tx >= want {
            return mac;
        }
        if Instant::now() > deadline {
            eprintln!("{}", d.run(&["show", "errors"]).1);
            panic!("out sent {tx} frames of {want} in 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Root, hugepages, and CPUs 0 and 1 (the lcores run on them).
fn preconditions() -> bool {
    let cpus = dataplane::config::allowed_cpus();
    require_dpdk()
        && require(
            cpus.contains(&0) && cpus.contains(&1),
            "needs CPUs 0 and 1 (lcores 0, 1 and 2 run on them)",
        )
}

struct Setup {
    /// Makes the test's device names unique.
    tag: u32,
    dir: tempfile::TempDir,
    /// The EAL file prefix (its runtime directory is removed on drop).
    prefix: String,
    /// Frames into queue 0 and queue 1 (distinct flows, distinct counts).
    q0: Vec<Vec<u8>>,
    q1: Vec<Vec<u8>>,
    in_dev: String,
}

impl Setup {
    fn new(tag: u32) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let q0 = frames(0..8, 300);
        let q1 = frames(8..16, 200);
        let (a, b) = (dir.path().join("q0.pcap"), dir.path().join("q1.pcap"));
        write_pcap(&a, &q0);
        write_pcap(&b, &q1);
        let in_dev = format!(
            "net_pcap{tag}i,rx_pcap={},rx_pcap={}",
            a.display(),
            b.display()
        );
        Setup {
            tag,
            dir,
            prefix: format!("dpw{tag}"),
            q0,
            q1,
            in_dev,
        }
    }

    /// Starts the dataplane on the common head, then `body` ([`start_config`]).
    fn start(&self, body: &str) -> (DpProc, Lines, Dpctl) {
        start_config(self.dir.path(), CORES, &self.prefix, body)
    }

    /// [`Setup::start`] with `in` when `with_in`, and `out` with `tx_files` tx_pcap files (its
    /// tx queues).
    fn run(&self, with_in: bool, tx_files: usize) -> (DpProc, Lines, Dpctl) {
        let (d, tag) = (self.dir.path(), self.tag);
        let tx = (0..tx_files)
            .map(|k| format!("tx_pcap={}", d.join(format!("o{k}.pcap")).display()))
            .collect::<Vec<_>>()
            .join(",");
        let ingress = if with_in {
            in_port(&self.in_dev)
        } else {
            String::new()
        };
        let body = ingress + &routed_out(&format!("net_pcap{tag}o,{tx}"));
        self.start(&body)
    }

    /// Each tx_pcap file holds its queue's frames, forwarded, `rounds` times, in order, and
    /// one of them the announcement of `out`'s address.
    fn check_outputs(&self, out_mac: [u8; 6], rounds: usize) {
        let mut announced = Vec::new();
        for (w, sent) in [&self.q0, &self.q1].into_iter().enumerate() {
            let (got, a) =
                split_announcements(read_pcap(&self.dir.path().join(format!("o{w}.pcap"))));
            announced.extend(a);
            let want: Vec<Vec<u8>> = (0..rounds)
                .flat_map(|_| sent.iter().map(|f| forwarded(f, out_mac)))
                .collect();
            assert_eq!(
                got.len(),
                want.len(),
                "worker {w}'s tx queue (o{w}.pcap): frames out"
            );
            for (i, (g, x)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g, x, "o{w}.pcap frame {i}: forwarded wrong");
            }
        }
        assert_eq!(announced, [OUT_ADDR], "out's address announced once");
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // --in-memory leaves only the runtime directory (the telemetry socket's). DpProc
        // removes it too; this covers a setup whose dataplane never started.
        remove_runtime_dir(&self.prefix);
    }
}

/// Stops the dataplane (SIGINT) and waits for it, so the tx_pcap files are complete.
fn stop(dp: DpProc) {
    signal(&dp, "INT");
    let out = dp.wait_with_output();
    assert!(out.status.success(), "dataplane exit: {:?}", out.status);
}

#[test]
fn two_workers_each_forward_their_own_rx_queue_of_a_config_port() {
    if !preconditions() {
        return;
    }
    let s = Setup::new(std::process::id() % 100000);
    let (dp, lines, d) = s.run(true, 2);
    let up = lines
        .seen("port in up")
        .expect("dataplane did not bring `in` up");
    assert!(up.contains("rx queues 2"), "{up}");
    // The API says which worker polls each rx queue (and dpctl shows the count).
    assert_eq!(rx_workers(&d, "in"), vec![0, 1]);
    let table = d.ok(&["show", "interfaces"]);
    assert!(
        table.lines().next().unwrap_or("").contains("RxQ"),
        "{table}"
    );
    let mac = wait_tx(&d, 500);
    // Queue w to worker w: each worker took exactly its queue's frames.
    assert_eq!(port_rx_per_worker(&d, 500), vec![300, 200]);
    stop(dp);
    s.check_outputs(mac, 1);
}

#[test]
fn two_workers_each_forward_their_own_rx_queue_of_an_api_port_until_it_is_deleted() {
    if !preconditions() {
        return;
    }
    let s = Setup::new(std::process::id() % 100000);
    let (dp, _lines, d) = s.run(false, 2);
    let add = [
        "port",
        "add",
        "in",
        "--device",
        &s.in_dev,
        "--address",
        "10.0.1.1/24",
    ];
    d.ok(&add);
    assert_eq!(rx_workers(&d, "in"), vec![0, 1]);
    let mac = wait_tx(&d, 500);
    assert_eq!(port_rx_per_worker(&d, 500), vec![300, 200]);
    // Deleting takes both queues from both workers (or it would time out and fail); adding
    // the port again probes the device again, which replays both files once more.
    d.ok(&["port", "del", "in"]);
    d.ok(&add);
    wait_tx(&d, 1000);
    assert_eq!(port_rx_per_worker(&d, 1000), vec![600, 400]);
    stop(dp);
    s.check_outputs(mac, 2);
}

/// The egress port has one tx queue for two workers: they share it, and every frame still
/// leaves, forwarded right, each flow in order.
#[test]
fn two_workers_share_the_one_tx_queue_of_a_port() {
    if !preconditions() {
        return;
    }
    let s = Setup::new(std::process::id() % 100000);
    let (dp, lines, d) = s.run(true, 1);
    let up = lines
        .seen("port out up")
        .expect("dataplane did not bring `out` up");
    assert!(up.contains("tx queues 1 shared by the workers"), "{up}");
    let mac = wait_tx(&d, 500);
    assert_eq!(port_rx_per_worker(&d, 500), vec![300, 200]);
    stop(dp);
    let (got, announced) = split_announcements(read_pcap(&s.dir.path().join("o0.pcap")));
    assert_eq!(announced, [OUT_ADDR], "out's address announced once");
    assert_eq!(got.len(), 500, "frames out");
    // Per flow (its destination address), the frames forwarded in the order sent.
    let flow = |f: &[u8]| f[14 + 19];
    for fl in 1..=16u8 {
        let want: Vec<Vec<u8>> =
            s.q0.iter()
                .chain(&s.q1)
                .filter(|f| flow(f) == fl)
                .map(|f| forwarded(f, mac))
                .collect();
        let out: Vec<&Vec<u8>> = got.iter().filter(|f| flow(f) == fl).collect();
        assert_eq!(out.len(), want.len(), "flow {fl}: frames out");
        for (i, (g, w)) in out.iter().zip(&want).enumerate() {
            assert_eq!(
                *g, w,
                "flow {fl} frame {i}: forwarded wrong or out of order"
            );
        }
    }
}

/// A memif pod port made through the API while two workers run: the memif gets one rx and one
/// tx queue (its peer, a one-queue testpmd, decides the rings), which the workers share. A
/// kernel pod on an af_packet port (one queue too) pings the pod's DPDK process through it:
/// the request is polled by one worker and the reply by the other, each sending on the other
/// port's shared tx queue.
#[test]
fn a_memif_pod_port_works_with_two_workers() {
    if !preconditions() {
        return;
    }
    let tag = std::process::id() % 100000;
    let pa = Netns::new(&format!("dpwa{tag}"));
    let ha = format!("wa{tag}");
    let _va = plug_via(&pa, &ha, "10.0.1.2/24", "10.0.1.1");
    let s = Setup::new(tag);
    let (dp, lines, d) = s.start(&format!(
        r#"[[port]]
name = "pod0"
device = "net_af_packet{tag}w,iface={ha}"
address = "10.0.1.1/24"
"#
    ));
    let up = lines
        .seen("port pod0 up")
        .expect("dataplane did not bring pod0 up");
    assert!(up.contains("tx queues 1 shared by the workers"), "{up}");
    let sock = s.dir.path().join("pods").join("pod3").join("memif.sock");
    let sock = sock.to_str().expect("UTF-8 temp path");
    d.ok(&[
        "port",
        "add",
        "pod3",
        "--memif",
        sock,
        "--address",
        "10.56.0.1/32",
    ]);
    d.ok(&["route", "add", "10.56.0.5/32", "dev", "pod3"]);
    let _pod = PodDpdk::start(
        &format!("net_memif0,role=client,socket={sock},socket-abstract=no"),
        &format!("dpwp{tag}"),
    );
    let ok = ping_until(&pa, "10.56.0.5", Duration::from_secs(20));
    if !ok {
        d.dump();
    }
    assert!(ok, "ping over the memif pod port with two workers");
    // One worker polled the kernel pod's port, the other the memif.
    let rx = port_rx_now(&d);
    assert!(
        rx.iter().all(|&n| n > 0),
        "both workers polled packets: {rx:?}"
    );
    drop(_pod);
    d.ok(&["route", "del", "10.56.0.5/32"]);
    d.ok(&["port", "del", "pod3"]);
    stop(dp);
}
