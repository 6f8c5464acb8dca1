//! Startup, run and shutdown of the dataplane process: preflight checks, EAL, mbuf pool, ports,
//! the forwarding state, one packet graph per worker lcore, signals, and the final report.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dp_net::arp::{ArpInput, ArpProbe};
use dp_net::ethernet::EthernetInput;
use dp_net::fwd::{Control, LearnQueue, ProbeQueue, TxCaps};
use dp_net::graph::{Graph, GraphBuilder};
use dp_net::ip4::icmp::IcmpLimit;
use dp_net::ip4::{Ip4Input, Ip4Local, Ip4Lookup, Ip4Rewrite};
use dp_net::rcu::Domain;
use dp_net::vxlan::{VxlanDecap, VxlanEncap};

use crate::config::{Config, PortInfo, WorkerConfig, allowed_cpus, apply, shared_cpus};
use crate::control::{DaemonBackend, Inner};
use crate::dpdk::{
    DevCaps, Eal, EalPreflight, MAX_QUEUES, MbufAlloc, Mempool, PktMbuf, Port, PortConfig,
    PortStats, launch_on_lcore, offload, rdtsc, tsc_hz, worker_lcores,
};
use crate::worker::{self, PortRx, PortTx, PortTxQueue, WorkerCtl, WorkerPlan, WorkerStats};
use crate::xconnect::{Direction, SwPortCounters};

/// A startup or runtime failure, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Preflight(String),
    #[error("{0}")]
    Dpdk(#[from] crate::dpdk::DpdkError),
    /// `err` prefixed with the port, unless it names the port itself.
    #[error("{}", if err.port().is_some() { err.to_string() } else { format!("port `{port}`: {err}") })]
    Port {
        port: String,
        err: crate::dpdk::DpdkError,
    },
    #[error("{0}")]
    Runtime(String),
}

/// The EAL arguments for `cfg`: cores (`-l`, or `--lcores` when an lcore runs on another
/// CPU than its number), main lcore, a default file prefix, then the user's.
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let lcores = cfg.lcores();
    let mut args = if lcores.iter().all(|l| l.id == l.cpu) {
        let list = lcores
            .iter()
            .map(|l| l.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        vec!["-l".to_string(), list]
    } else {
        let map = lcores
            .iter()
            .map(|l| format!("{}@{}", l.id, l.cpu))
            .collect::<Vec<_>>()
            .join(",");
        vec![format!("--lcores={map}")]
    };
    args.extend(["--main-lcore".to_string(), lcores[0].id.to_string()]);
    if !cfg.eal.args.iter().any(|a| a.starts_with("--file-prefix")) {
        args.push("--file-prefix=dataplane".to_string());
    }
    args.extend(cfg.eal.args.iter().cloned());
    args
}

/// Checks that need no DPDK: cores present, hugepages available.
pub fn preflight(cfg: &Config) -> Result<(), DaemonError> {
    preflight_cpus(cfg)?;
    EalPreflight::hugepages(&cfg.eal.args).map_err(DaemonError::Preflight)
}

/// The CPUs the lcores run on are ones this process may use.
fn preflight_cpus(cfg: &Config) -> Result<(), DaemonError> {
    let allowed = allowed_cpus();
    let missing: Vec<String> = cfg
        .lcores()
        .into_iter()
        .filter(|l| !allowed.contains(&l.cpu))
        .map(|l| l.cpu)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|c| c.to_string())
        .collect();
    if !missing.is_empty() {
        let have = allowed
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        return Err(DaemonError::Preflight(format!(
            "eal.cores `{}`: core(s) {} are not available to this process (available: {have})",
            cfg.eal.cores,
            missing.join(",")
        )));
    }
    Ok(())
}

fn pool_size(cfg: &Config, workers: usize) -> u32 {
    if cfg.mempool.mbufs > 0 {
        return cfg.mempool.mbufs;
    }
    // Every rx ring is filled at start; a routed port has up to one rx and one tx ring per
    // worker (fewer when the device has fewer), a cross-connected port one of each.
    let per_port: u32 = cfg
        .ports
        .iter()
        .map(|p| {
            let rings = if cfg.is_xconnected(&p.name) {
                1
            } else {
                p.rx_queues.map_or(workers as u32, u32::from)
            };
            p.rx_desc as u32 * rings + p.tx_desc as u32 * workers as u32 + 1024
        })
        .sum();
    // Next power of two minus one: the mempool ring's most efficient size.
    ((per_port + 8192).next_power_of_two() - 1).max(16383)
}

/// How many rx queues a routed port gets: `asked` (a port's `rx-queues`), or else one per
/// worker, capped by what the device has. A memif device gets one unless asked: its rings are
/// the peer's choice, and in DPDK 22.11 a queue the peer did not set up reads ring 0, which
/// would put two workers on one ring. Errors say why `asked` cannot be had.
pub(crate) fn rx_queue_count(
    caps: &DevCaps,
    workers: usize,
    asked: Option<u16>,
) -> Result<u16, String> {
    let max = caps.max_rx_queues.min(MAX_QUEUES);
    match asked {
        Some(n) if n == 0 || n > max => Err(format!(
            "{n} rx queues asked; the device ({}) has 1..={max}",
            caps.driver
        )),
        Some(n) => Ok(n),
        None => Ok(rx_queues_default(caps, workers)),
    }
}

/// What keeps the device from taking `mtu`, if anything: DPDK's own rule (ethdev's MTU
/// validation at configure time) over what the device reports, so a refusal can name the MTU
/// instead of surfacing as `rte_eth_dev_configure` failing with EINVAL. The largest MTU is
/// `max_mtu`, and no more than the largest frame less the device's L2 overhead (the gap
/// between its largest frame and largest MTU when it gives both, else Ethernet header + CRC).
pub(crate) fn device_mtu_problem(caps: &DevCaps, mtu: u16) -> Option<String> {
    const ETH_HDR_AND_CRC: u32 = 14 + 4;
    if caps.max_mtu == 0 || caps.max_rx_pktlen == 0 {
        // The device did not say; configuring it will tell.
        return None;
    }
    let overhead = if caps.max_mtu != u16::MAX && caps.max_rx_pktlen > u32::from(caps.max_mtu) {
        caps.max_rx_pktlen - u32::from(caps.max_mtu)
    } else {
        ETH_HDR_AND_CRC
    };
    let by_frame = caps.max_rx_pktlen.saturating_sub(overhead);
    let max = u32::from(caps.max_mtu).min(by_frame);
    let min = u32::from(caps.min_mtu);
    (!(min..=max).contains(&u32::from(mtu))).then(|| {
        format!(
            "{mtu} is out of the range the device ({}) takes: {min}..={max}",
            caps.driver
        )
    })
}

/// A routed port's rx queues when its config does not say (and for ports made through the
/// API): one per worker, as far as the device has them.
pub(crate) fn rx_queues_default(caps: &DevCaps, workers: usize) -> u16 {
    per_worker(caps, workers, caps.max_rx_queues)
}

/// How many tx queues a routed port gets: one per worker, capped by what the device has (a
/// memif: one, for the same reason as its rx queues). With fewer than workers, the workers
/// share them ([`worker_tx_queues`]).
pub(crate) fn tx_queue_count(caps: &DevCaps, workers: usize) -> u16 {
    per_worker(caps, workers, caps.max_tx_queues)
}

/// One queue per worker, as far as the device (`device_max`) and [`MAX_QUEUES`] allow, and
/// at least one; a memif gets one (its rings are the peer's choice).
fn per_worker(caps: &DevCaps, workers: usize, device_max: u16) -> u16 {
    if caps.driver == "net_memif" {
        return 1;
    }
    let n = u16::try_from(workers).unwrap_or(u16::MAX);
    n.clamp(1, device_max.clamp(1, MAX_QUEUES))
}

/// Each worker's tx queue of `port`, in worker order: queue w of its own while the port has
/// a queue per worker, else queue w % (tx queues), shared under a lock.
pub(crate) fn worker_tx_queues(
    port: &Port,
    workers: usize,
) -> Result<Vec<PortTxQueue>, crate::dpdk::DpdkError> {
    let (_, ntx) = port.queue_counts();
    if usize::from(ntx) >= workers {
        return (0..workers)
            .map(|w| port.tx_queue(w as u16).map(PortTxQueue::Own))
            .collect();
    }
    let shared = (0..ntx)
        .map(|q| port.tx_queue(q).map(|t| Arc::new(Mutex::new(t))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..workers)
        .map(|w| PortTxQueue::Shared(shared[w % shared.len()].clone()))
        .collect())
}

/// Opens a port's device (probing it when needed) and reads what it can do.
pub(crate) fn open_port(
    eal: &Eal,
    name: &str,
    devargs: &str,
) -> Result<(Port, DevCaps), crate::dpdk::DpdkError> {
    let port = Port::open(eal, name, devargs)?;
    let caps = port.caps()?;
    Ok((port, caps))
}

/// Configures and starts a port the graph forwards on (at start or through the API): `pc`
/// gives the queues, descriptors and MTU (and RSS, used when there are several rx queues and
/// the device hashes); the offloads are the graph's (checksums on transmit where the NIC can;
/// on receive the NIC's checksum verdicts, which ip4-input trusts, and its flow hash). Returns
/// what the forwarding state needs to know of it.
pub(crate) fn start_port(
    port: &Port,
    pool: Mempool,
    pc: PortConfig,
) -> Result<PortInfo, crate::dpdk::DpdkError> {
    let pc = PortConfig {
        tx_offloads: offload::TX_IPV4_CKSUM | offload::TX_UDP_CKSUM | offload::TX_TCP_CKSUM,
        rx_offloads: offload::RX_IPV4_CKSUM
            | offload::RX_UDP_CKSUM
            | offload::RX_TCP_CKSUM
            | offload::RX_RSS_HASH,
        ..pc
    };
    let (_rx_on, tx_on) = port.configure(&pc, &pool)?;
    port.start()?;
    Ok(PortInfo {
        port_id: port.id(),
        mac: port.mac()?,
        mtu: port.mtu().unwrap_or(1500),
        caps: TxCaps {
            ipv4_csum: tx_on & offload::TX_IPV4_CKSUM != 0,
            udp_csum: tx_on & offload::TX_UDP_CKSUM != 0,
            tcp_csum: tx_on & offload::TX_TCP_CKSUM != 0,
        },
    })
}

/// Deals `queues` rx queues of one port to workers, given each worker's current number of rx
/// queues (`load`, updated): each queue goes to the least loaded worker that has none of this
/// port's queues yet (all of them once every worker has one), ties to the lowest index. With
/// N workers and N queues on every port, worker w polls queue w of every port.
pub fn deal_rx_queues(load: &mut [usize], queues: u16) -> Vec<usize> {
    let mut got = Vec::with_capacity(usize::from(queues));
    for _ in 0..queues {
        let fresh = got.len() < load.len();
        let w = (0..load.len())
            .filter(|w| !fresh || !got.contains(w))
            .min_by_key(|&w| (load[w], w))
            .unwrap_or(0);
        if let Some(l) = load.get_mut(w) {
            *l += 1;
        }
        got.push(w);
    }
    got
}

/// Between workers and the control plane: neighbors learned (workers to control) and
/// probes asked for (control to workers).
struct NeighborQueues {
    learn: LearnQueue,
    probes: ProbeQueue,
}

/// Aging passes run every this many 10 ms control ticks.
const AGING_EVERY_TICKS: u64 = 10;

/// Ports' links are looked at every this many 10 ms control ticks: a port whose link came up
/// announces its addresses (a VF's link comes up after the port starts; a memif's when its
/// pod connects).
const LINKS_EVERY_TICKS: u64 = 50;

/// Says, at most once a minute, that new neighbors are being refused (`[arp] max-neighbors`).
#[derive(Default)]
struct RefusalLog {
    seen: u64,
    last: Option<std::time::Instant>,
}

impl RefusalLog {
    fn check(&mut self, control: &Control) {
        let refused = control.neighbor_counters().refused;
        if refused == self.seen
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return;
        }
        eprintln!(
            "dataplane: neighbor table full ([arp] max-neighbors = {}): {} new neighbor(s) \
             not learned so far; they are learned once entries age out",
            control.neighbor_policy().max_learned,
            refused
        );
        self.seen = refused;
        self.last = Some(std::time::Instant::now());
    }
}

/// One worker's graph over the shared forwarding state.
fn build_graph(
    control: &Control,
    nq: &NeighborQueues,
    worker: &WorkerConfig,
    pool: Mempool,
    tx: Vec<PortTxQueue>,
    ctl: Arc<WorkerCtl>,
) -> Result<Graph<PktMbuf>, DaemonError> {
    let (fib, st) = control.readers();
    let mut b = GraphBuilder::new();
    b.add(PortRx);
    b.add(EthernetInput::new(st.clone()));
    b.add(ArpInput::new(st.clone(), nq.learn.clone()));
    b.add(Ip4Input::new(st.clone()));
    b.add(Ip4Lookup::new(fib, st.clone()));
    b.add(Ip4Local::new(st.clone()));
    b.add(VxlanDecap::new(st.clone()));
    // One ARP request per next hop per 100 ms at most.
    let icmp = IcmpLimit::new(
        worker.icmp_errors_per_sec,
        worker.icmp_errors_burst,
        tsc_hz(),
    );
    b.add(Ip4Rewrite::new(st.clone(), tsc_hz() / 10).with_icmp_limit(icmp));
    b.add(VxlanEncap::new(st.clone()));
    b.add(PortTx::new(st.clone(), tx, ctl));
    // Any worker may take a probe; the queue is shared.
    b.add_source(ArpProbe::new(st, nq.probes.clone()));
    b.build(rdtsc, Box::new(MbufAlloc(pool)))
        .map_err(|e| DaemonError::Runtime(format!("packet graph: {e}")))
}

/// Runs the dataplane until SIGINT/SIGTERM; returns the final report text.
pub fn run(cfg: Config, path: &std::path::Path) -> Result<String, DaemonError> {
    preflight(&cfg)?;
    let eal = Arc::new(Eal::init(eal_args(&cfg))?);
    let workers = worker_lcores(&eal);
    if workers.is_empty() {
        return Err(DaemonError::Runtime(
            "no worker lcore: eal.cores needs at least 2 cores".into(),
        ));
    }
    let nw = workers.len();
    let pool = Mempool::new(
        &eal,
        "dp_pool",
        pool_size(&cfg, nw),
        cfg.mempool.cache,
        crate::dpdk::mbuf_data_room(cfg.max_mtu()),
        None,
    )?;

    let lcores = cfg.lcores();
    for (cpu, on) in shared_cpus(&lcores) {
        eprintln!(
            "dataplane: WARNING: lcores {} share CPU {cpu}: oversubscribed, the workers \
             time-share it; no figure from this run is a per-core figure",
            on.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        );
    }

    let mut ports = Vec::new();
    let mut infos = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        let perr = |err| DaemonError::Port {
            port: p.name.clone(),
            err,
        };
        let (port, caps) = open_port(&eal, &p.name, &p.device).map_err(perr)?;
        // A cross-connect polls one rx queue and only its worker sends (one worker runs both
        // directions of it; several cross-connects spread over the workers). A routed port
        // gets a queue pair per worker.
        let xconnected = cfg.is_xconnected(&p.name);
        let rx_queues = if xconnected {
            1
        } else {
            rx_queue_count(&caps, nw, p.rx_queues).map_err(|message| {
                DaemonError::Config(crate::config::ConfigError {
                    file: path.display().to_string(),
                    location: Some(format!("port[{i}].rx-queues")),
                    message: format!("port `{}`: {message}", p.name),
                })
            })?
        };
        let tx_queues = if xconnected {
            1
        } else {
            tx_queue_count(&caps, nw)
        };
        // As the API does: the MTU the device cannot take is the config's `mtu`, not an
        // EINVAL from configuring the device.
        if let Some(message) = p.mtu.and_then(|m| device_mtu_problem(&caps, m)) {
            return Err(DaemonError::Config(crate::config::ConfigError {
                file: path.display().to_string(),
                location: Some(format!("port[{i}].mtu")),
                message: format!("port `{}`: {message}", p.name),
            }));
        }
        let pc = PortConfig {
            mtu: p.mtu,
            rx_desc: p.rx_desc,
            tx_desc: p.tx_desc,
            rx_queues,
            tx_queues,
            ..PortConfig::default()
        };
        let info = start_port(&port, pool, pc).map_err(perr)?;
        let (mac, mtu) = (info.mac, info.mtu);
        eprintln!(
            "dataplane: port {} up: device {} (port id {}, mac {}, mtu {mtu}, rx queues {rx_queues}{}, tx queues {tx_queues}{}, offloads: {})",
            p.name,
            p.device,
            port.id(),
            fmt_mac(mac),
            match (rx_queues, port.rss()) {
                (1, _) => "",
                (_, true) => " spread by RSS",
                (_, false) => " (no RSS: the device spreads them)",
            },
            if usize::from(tx_queues) < nw && !xconnected {
                " shared by the workers"
            } else {
                ""
            },
            match crate::dpdk::offload_names(port.offloads()) {
                names if names.is_empty() => "none".to_string(),
                names => names.join(","),
            }
        );
        infos.push(info);
        ports.push(port);
    }

    // Forwarding state: one reader slot per worker (plus slack for a restart).
    let domain = Domain::new(nw + 2);
    let mut control =
        Control::new(&domain, cfg.fib_config()).map_err(|e| DaemonError::Runtime(e.to_string()))?;
    let if_idx = apply(&cfg, &mut control, &infos).map_err(|(location, message)| {
        DaemonError::Config(crate::config::ConfigError {
            file: "config".into(),
            location: Some(location),
            message,
        })
    })?;
    let nq = NeighborQueues {
        learn: Arc::new(crossbeam_queue::ArrayQueue::new(4096)),
        probes: Arc::new(crossbeam_queue::ArrayQueue::new(4096)),
    };

    let routed: Vec<usize> = (0..ports.len())
        .filter(|&i| !cfg.is_xconnected(&cfg.ports[i].name))
        .collect();
    let index = |name: &str| {
        ports
            .iter()
            .position(|p| p.name() == name)
            .expect("validated port name")
    };
    // Cross-connects round-robin, then every (routed port, rx queue) to the least loaded
    // worker: with N queues per port and N workers, worker w polls queue w of every port.
    let mut load = vec![0usize; nw];
    let mut rx_worker = std::collections::HashMap::new();
    let mut rx: Vec<Vec<(crate::dpdk::RxQueue, dp_net::fwd::IfIndex)>> =
        (0..nw).map(|_| Vec::new()).collect();
    let mut xconnect: Vec<Vec<Direction>> = (0..nw).map(|_| Vec::new()).collect();
    for (k, x) in cfg.xconnects.iter().enumerate() {
        let w = k % nw;
        let (a, b) = (index(&x.ports[0]), index(&x.ports[1]));
        for (from, to) in [(a, b), (b, a)] {
            xconnect[w].push(Direction {
                rx: ports[from].rx_queue(0)?,
                tx: ports[to].tx_queue(0)?,
                rx_port: usize::from(ports[from].id()),
                tx_port: usize::from(ports[to].id()),
            });
            load[w] += 1;
            rx_worker.insert(ports[from].name().to_string(), vec![w]);
        }
    }
    for &i in &routed {
        let (nrx, _) = ports[i].queue_counts();
        let dealt = deal_rx_queues(&mut load, nrx);
        for (q, &w) in dealt.iter().enumerate() {
            rx[w].push((ports[i].rx_queue(q as u16)?, if_idx[i]));
        }
        rx_worker.insert(ports[i].name().to_string(), dealt);
    }
    // Each worker's tx queue of every routed port.
    let mut tx: Vec<Vec<PortTxQueue>> = (0..nw).map(|_| Vec::new()).collect();
    for &i in &routed {
        for (w, q) in worker_tx_queues(&ports[i], nw)?.into_iter().enumerate() {
            tx[w].push(q);
        }
    }
    let mut plans = Vec::new();
    for ((rx, xconnect), tx) in rx.into_iter().zip(xconnect).zip(tx) {
        // Every worker has a graph, so routed ports added at runtime find one.
        let ctl = Arc::new(WorkerCtl::default());
        let graph = build_graph(&control, &nq, &cfg.worker, pool, tx, ctl.clone())?;
        let qsbr = domain
            .register()
            .map_err(|e| DaemonError::Runtime(format!("RCU: {e}")))?;
        plans.push(WorkerPlan {
            rx,
            xconnect,
            graph,
            qsbr,
            ctl,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    // Per-port software counters are indexed by DPDK port id.
    let nports = ports
        .iter()
        .map(|p| usize::from(p.id()) + 1)
        .max()
        .unwrap_or(0);
    let mut jobs = Vec::new();
    let mut shared = Vec::new();
    let mut worker_ctls = Vec::new();
    for (lcore, plan) in workers.iter().zip(plans) {
        worker_ctls.push(plan.ctl.clone());
        let stop = stop.clone();
        let out = Arc::new(Mutex::new(WorkerStats::default()));
        shared.push(out.clone());
        let poll_mode = cfg.worker.poll_mode;
        let lc = *lcore;
        jobs.push(launch_on_lcore(&eal, lc, move || {
            worker::run(plan, lc, nports, poll_mode, stop, out)
        })?);
    }
    eprintln!(
        "dataplane: TSC {:.6} GHz (the unit of clocks per packet)",
        tsc_hz() as f64 / 1e9
    );
    eprintln!(
        "dataplane: forwarding on {} worker lcore(s) [{}] (main lcore {}): {} routed port(s), {} tunnel(s), {} route(s), {} cross-connect(s); SIGINT or SIGTERM stops",
        jobs.len(),
        workers
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        eal.main_lcore(),
        routed.len(),
        cfg.tunnels.len(),
        cfg.routes.len(),
        cfg.xconnects.len()
    );

    let backend = Arc::new(DaemonBackend::new(Inner {
        control,
        ports,
        workers: shared,
        worker_ctls,
        eal: eal.clone(),
        pool,
        rx_worker,
        specs: std::collections::HashMap::new(),
        xconnected: cfg
            .xconnects
            .iter()
            .flat_map(|x| x.ports.iter().cloned())
            .collect(),
        state_file: cfg.control.state_file.clone(),
        api_state: Default::default(),
    }));
    let control_result = control_loop(&backend, &nq, &jobs, &cfg, path);
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    let mut failure = control_result.err();
    for job in jobs {
        match job.join() {
            Ok(s) => results.push(s),
            Err(e) => failure = Some(DaemonError::Runtime(e.to_string())),
        }
    }
    // The server has stopped. Take the ports out to stop and close them before the EAL goes;
    // the backend (normally the last reference) then drops the FIB while the EAL clone it
    // holds keeps the EAL up, and that clone goes last.
    let ports = std::mem::take(&mut backend.lock().ports);
    let out = finish(ports, &results, failure, eal);
    drop(backend);
    out
}

fn finish(
    ports: Vec<Port>,
    results: &[WorkerStats],
    failure: Option<DaemonError>,
    eal: Arc<Eal>,
) -> Result<String, DaemonError> {
    let report = final_report(&ports, results);
    // Queue handles went away with the workers; stop and close the ports before the EAL.
    for p in &ports {
        let _ = p.stop();
    }
    drop(ports);
    drop(eal);
    match failure {
        Some(e) => Err(DaemonError::Runtime(format!("{e}\n{report}"))),
        None => Ok(report),
    }
}

/// The main lcore's control loop: applies what workers learned, until a signal.
/// Also watches the workers: one that ends on its own (a panic) stops the dataplane with an
/// error instead of leaving it up without forwarding.
fn control_loop(
    backend: &Arc<DaemonBackend>,
    nq: &NeighborQueues,
    jobs: &[crate::dpdk::LcoreJoin<WorkerStats>],
    cfg: &Config,
    path: &std::path::Path,
) -> Result<(), DaemonError> {
    let ctl = &cfg.control;
    let socket = ctl.socket.as_path();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Runtime(format!("cannot start the control runtime: {e}")))?;
    rt.block_on(async {
        // Handlers first: once "control API on" is out, a supervisor may signal at once, and
        // a SIGHUP or SIGINT before them would end the process (the default action) instead
        // of reloading or stopping it cleanly.
        let signals = Signals::new()?;
        if let Some(path) = &ctl.state_file {
            restore(backend, path).await;
        }
        let server = dp_api::server::Server::bind(socket, backend.clone())
            .await
            .map_err(|e| {
                DaemonError::Runtime(format!("control API on {}: {e}", socket.display()))
            })?;
        eprintln!("dataplane: control API on {}", socket.display());
        let metrics = match ctl.metrics {
            Some(addr) => {
                let l = crate::metrics::bind(addr)
                    .await
                    .map_err(DaemonError::Runtime)?;
                eprintln!(
                    "dataplane: metrics on http://{}/metrics",
                    l.local_addr().unwrap_or(addr)
                );
                Some(tokio::spawn(crate::metrics::serve(l, backend.clone())))
            }
            None => None,
        };
        let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            let _ = quit_rx.await;
        }));
        let r = signals_and_ticks(signals, backend, nq, jobs, cfg.clone(), path).await;
        let _ = quit_tx.send(());
        let _ = serving.await;
        if let Some(m) = metrics {
            m.abort();
            let _ = m.await;
        }
        r
    })
}

/// Applies the API state file again (ports, then routes) through the API's own code; what
/// fails is logged and left out of the rewritten file.
async fn restore(backend: &Arc<DaemonBackend>, path: &std::path::Path) {
    use dp_api::server::Backend;
    let state = match crate::state::ApiState::load(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dataplane: {e}; starting without it");
            return;
        }
    };
    let (mut ports, mut routes) = (0, 0);
    for p in state.ports {
        let name = p.name.clone();
        match backend.create_port(p).await {
            Ok(_) => ports += 1,
            Err(e) => eprintln!(
                "dataplane: state file: port `{name}` not restored: {}",
                e.message
            ),
        }
    }
    for r in state.routes {
        let prefix = r.prefix;
        match backend.add_route(r).await {
            Ok(_) => routes += 1,
            Err(e) => eprintln!(
                "dataplane: state file: route {prefix} not restored: {}",
                e.message
            ),
        }
    }
    eprintln!(
        "dataplane: restored {ports} port(s) and {routes} route(s) from {}",
        path.display()
    );
}

/// The signals the daemon acts on, caught from when they are made (inside the control runtime).
struct Signals {
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, DaemonError> {
        use tokio::signal::unix::{SignalKind, signal};
        let catch = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| DaemonError::Runtime(format!("{name} handler: {e}")))
        };
        Ok(Signals {
            hup: catch(SignalKind::hangup(), "SIGHUP")?,
            int: catch(SignalKind::interrupt(), "SIGINT")?,
            term: catch(SignalKind::terminate(), "SIGTERM")?,
        })
    }
}

async fn signals_and_ticks(
    signals: Signals,
    backend: &Arc<DaemonBackend>,
    nq: &NeighborQueues,
    jobs: &[crate::dpdk::LcoreJoin<WorkerStats>],
    mut current: Config,
    path: &std::path::Path,
) -> Result<(), DaemonError> {
    {
        let Signals {
            mut hup,
            mut int,
            mut term,
        } = signals;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let mut ticks = 0u64;
        let mut refusals = RefusalLog::default();
        let mut links = std::collections::HashMap::new();
        loop {
            tokio::select! {
                _ = int.recv() => { eprintln!("dataplane: SIGINT received, stopping"); return Ok(()); }
                _ = term.recv() => { eprintln!("dataplane: SIGTERM received, stopping"); return Ok(()); }
                _ = hup.recv() => {
                    match Config::load(path) {
                        Err(e) => eprintln!("dataplane: reload refused, nothing changed: {e}"),
                        Ok(new) => {
                            let r = crate::reload::apply_diff(&current, &new, &mut backend.lock().control);
                            match r {
                                Ok(sum) => {
                                    eprintln!("dataplane: reloaded {}: {sum}", path.display());
                                    current = new;
                                }
                                Err(e) => eprintln!("dataplane: {e}"),
                            }
                        }
                    }
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if let Err(e) = backend.learn(&nq.learn) {
                        eprintln!("dataplane: neighbor learning: {e}");
                    }
                    // Gratuitous ARP for addresses added or brought up (lost if the queue
                    // is full: thousands of probes pending).
                    for a in backend.lock().control.take_announcements() {
                        let _ = nq.probes.push(a);
                    }
                    if ticks.is_multiple_of(LINKS_EVERY_TICKS) {
                        backend.announce_link_ups(&mut links);
                    }
                    if ticks.is_multiple_of(AGING_EVERY_TICKS) {
                        if let Err(e) = backend.age_neighbors(&nq.probes) {
                            eprintln!("dataplane: neighbor aging: {e}");
                        }
                        refusals.check(&backend.lock().control);
                    }
                    if let Some(j) = jobs.iter().find(|j| j.is_finished()) {
                        return Err(DaemonError::Runtime(format!("worker on lcore {} stopped unexpectedly", j.lcore())));
                    }
                }
            }
        }
    }
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The report printed at exit: ports (the NIC's counters beside the workers' own), per-node
/// runtime summed over workers (like VPP's `show runtime`), and drops by reason.
pub fn final_report(ports: &[Port], workers: &[WorkerStats]) -> String {
    let mut out = String::new();
    // Summed over workers, per port in `ports` order (the workers index by port id).
    let mut sw = vec![SwPortCounters::default(); ports.len()];
    for (acc, p) in sw.iter_mut().zip(ports) {
        for c in workers
            .iter()
            .filter_map(|w| w.xconnect_ports.get(usize::from(p.id())))
        {
            acc.rx_packets += c.rx_packets;
            acc.tx_packets += c.tx_packets;
            acc.tx_dropped += c.tx_dropped;
        }
    }
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "port", "rx-packets", "tx-packets", "rx-missed", "rx-errors", "tx-errors", "tx-dropped"
    );
    let mut opackets = 0;
    for (p, c) in ports.iter().zip(&sw) {
        let s = p.stats().unwrap_or(PortStats::default());
        opackets += s.opackets.max(c.tx_packets);
        let _ = writeln!(
            out,
            "{:<12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
            p.name(),
            s.ipackets.max(c.rx_packets),
            s.opackets.max(c.tx_packets),
            s.imissed,
            s.ierrors + s.rx_nombuf,
            s.oerrors,
            c.tx_dropped
        );
    }
    // Per-node runtime and drops, summed over workers as the API sums them.
    let runtime = dp_api::RuntimeStats::from_workers(
        workers.iter().zip(0..).map(|(w, i)| w.runtime(i)).collect(),
    );
    let errors = dp_api::ErrorStats::from_workers(
        workers.iter().zip(0..).map(|(w, i)| w.errors(i)).collect(),
    )
    .total;
    if runtime.total.iter().any(|n| n.packets > 0) {
        let _ = writeln!(
            out,
            "\n{:<16} {:>12} {:>14} {:>12} {:>12}",
            "node", "calls", "packets", "clocks/pkt", "pkts/call"
        );
        for n in runtime.total.iter().filter(|n| n.calls > 0) {
            let _ = writeln!(
                out,
                "{:<16} {:>12} {:>14} {:>12.1} {:>12.1}",
                n.name, n.calls, n.packets, n.clocks_per_packet, n.packets_per_vector
            );
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(out, "\n{:<16} {:>12}  reason", "node", "count");
        for e in &errors {
            let _ = writeln!(out, "{:<16} {:>12}  {}", e.node, e.count, e.reason);
        }
    }
    let secs = workers
        .iter()
        .map(|w| w.elapsed.as_secs_f64())
        .fold(0.0, f64::max);
    if secs > 0.0 {
        let _ = writeln!(
            out,
            "\nforwarded {opackets} packets in {secs:.2} s: {:.2} Mpps",
            opackets as f64 / secs / 1e6
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(driver: &str, rxq: u16) -> DevCaps {
        DevCaps {
            driver: driver.into(),
            max_rx_queues: rxq,
            max_tx_queues: 64,
            ..DevCaps::default()
        }
    }

    #[test]
    fn a_port_error_names_the_port_once() {
        let started = DaemonError::Port {
            port: "in".into(),
            err: crate::dpdk::DpdkError::Port {
                port: "in".into(),
                op: "rte_eth_dev_start",
                reason: "no".into(),
            },
        };
        assert_eq!(
            started.to_string(),
            "port `in`: rte_eth_dev_start failed: no"
        );
        let probe = DaemonError::Port {
            port: "in".into(),
            err: crate::dpdk::DpdkError::NoSuchPort("net_x0".into()),
        };
        assert_eq!(
            probe.to_string(),
            "port `in`: no ethdev port named `net_x0` after probing it"
        );
    }

    #[test]
    fn the_mempool_holds_every_ring_of_every_worker() {
        let cfg = Config::parse(
            r#"
[eal]
cores = "0-8"
[[port]]
name = "a"
device = "net_null0"
address = "10.0.1.1/24"
[[port]]
name = "b"
device = "net_null1"
address = "10.0.2.1/24"
"#,
            "t.toml",
        )
        .unwrap();
        // 8 workers: each routed port has 8 rx and 8 tx rings of 1024 descriptors.
        let rings = 2 * (8 * 1024 + 8 * 1024);
        assert!(
            pool_size(&cfg, 8) as usize > rings,
            "{}",
            pool_size(&cfg, 8)
        );
    }

    #[test]
    fn n_queues_on_n_workers_give_worker_w_queue_w_of_every_port() {
        let mut load = vec![0; 4];
        for _ in 0..3 {
            assert_eq!(deal_rx_queues(&mut load, 4), vec![0, 1, 2, 3]);
        }
        assert_eq!(load, vec![3, 3, 3, 3]);
    }

    #[test]
    fn single_queue_ports_go_round_robin_and_mixed_ports_stay_fair() {
        let mut load = vec![0; 3];
        let got: Vec<_> = (0..4).map(|_| deal_rx_queues(&mut load, 1)).collect();
        assert_eq!(got, vec![vec![0], vec![1], vec![2], vec![0]]);
        // Worker 0 has 2 queues, 1 and 2 have one: a 2-queue port goes to 1 and 2.
        assert_eq!(deal_rx_queues(&mut load, 2), vec![1, 2]);
        assert_eq!(load, vec![2, 2, 2]);
        // More queues than workers: each worker first gets one, then the least loaded.
        let mut load = vec![0; 2];
        assert_eq!(deal_rx_queues(&mut load, 3), vec![0, 1, 0]);
        // Uneven loads: this port's queues still land on distinct workers first.
        let mut load = vec![0, 5];
        assert_eq!(deal_rx_queues(&mut load, 2), vec![0, 1]);
    }

    #[test]
    fn rx_queue_count_is_one_per_worker_capped_by_the_device() {
        assert_eq!(rx_queue_count(&caps("net_ixgbe", 128), 4, None), Ok(4));
        assert_eq!(rx_queue_count(&caps("net_pcap", 2), 4, None), Ok(2));
        assert_eq!(rx_queue_count(&caps("net_ring", 1), 1, None), Ok(1));
        assert_eq!(rx_queue_count(&caps("net_ixgbe", 128), 100, None), Ok(64));
        // memif: the peer decides the rings; one unless asked.
        assert_eq!(rx_queue_count(&caps("net_memif", 255), 4, None), Ok(1));
        assert_eq!(rx_queue_count(&caps("net_memif", 255), 4, Some(2)), Ok(2));
        assert_eq!(rx_queue_count(&caps("net_ixgbe", 128), 4, Some(1)), Ok(1));
        let e = rx_queue_count(&caps("net_pcap", 2), 4, Some(3)).unwrap_err();
        assert_eq!(e, "3 rx queues asked; the device (net_pcap) has 1..=2");
    }

    #[test]
    fn an_mtu_the_device_cannot_take_is_named_with_its_range() {
        let caps = |driver: &str, min_mtu, max_mtu, max_rx_pktlen| DevCaps {
            driver: driver.into(),
            min_mtu,
            max_mtu,
            max_rx_pktlen,
            ..DevCaps::default()
        };
        // net_tap: no max MTU given (65535), 1522-byte frames: header + CRC off that.
        let tap = caps("net_tap", 68, u16::MAX, 1522);
        assert_eq!(device_mtu_problem(&tap, 1504), None);
        assert_eq!(device_mtu_problem(&tap, 68), None);
        assert_eq!(
            device_mtu_problem(&tap, 1505).as_deref(),
            Some("1505 is out of the range the device (net_tap) takes: 68..=1504")
        );
        // A NIC giving both: its own overhead (26 bytes here, VLAN tags included).
        let nic = caps("net_ice", 68, 9702, 9728);
        assert_eq!(device_mtu_problem(&nic, 9216), None);
        assert_eq!(device_mtu_problem(&nic, 9702), None);
        assert!(device_mtu_problem(&nic, 9703).is_some());
        // A frame limit below max_mtu caps it too.
        let small = caps("net_x", 68, 9000, 2048);
        assert!(device_mtu_problem(&small, 9000).is_some());
        // The low end.
        let big_min = caps("net_y", 256, u16::MAX, 9018);
        assert!(device_mtu_problem(&big_min, 255).is_some());
        assert_eq!(device_mtu_problem(&big_min, 9000), None);
        // A device that gives no limits is left to configure.
        assert_eq!(device_mtu_problem(&caps("net_z", 0, 0, 0), 9000), None);
    }

    #[test]
    fn tx_queue_count_is_one_per_worker_or_what_the_device_has() {
        let caps = |driver: &str, txq: u16| DevCaps {
            driver: driver.into(),
            max_tx_queues: txq,
            ..DevCaps::default()
        };
        assert_eq!(tx_queue_count(&caps("net_ixgbe", 128), 4), 4);
        assert_eq!(tx_queue_count(&caps("net_af_packet", 1), 4), 1);
        assert_eq!(tx_queue_count(&caps("net_vhost", 2), 4), 2);
        assert_eq!(tx_queue_count(&caps("net_memif", 255), 4), 1);
        assert_eq!(tx_queue_count(&caps("net_ixgbe", 128), 100), 64);
    }

    #[test]
    fn lcores_on_shared_cpus_use_the_lcores_form() {
        let text =
            |cores: &str| format!("[eal]\ncores = \"{cores}\"\nargs = [\"--file-prefix=x\"]\n");
        let c = Config::parse(&text("0-1"), "t.toml").unwrap();
        assert_eq!(
            eal_args(&c),
            ["-l", "0,1", "--main-lcore", "0", "--file-prefix=x"]
        );
        let c = Config::parse(&text("0@0,1@1,2@1"), "t.toml").unwrap();
        assert_eq!(
            eal_args(&c),
            [
                "--lcores=0@0,1@1,2@1",
                "--main-lcore",
                "0",
                "--file-prefix=x"
            ]
        );
        assert_eq!(shared_cpus(&c.lcores()), vec![(1, vec![1, 2])]);
        // The check is on CPUs, not lcore ids: lcore 2 runs on CPU 1.
        let cpus = allowed_cpus();
        assert_eq!(
            preflight_cpus(&c).is_ok(),
            cpus.contains(&0) && cpus.contains(&1)
        );
        let c = Config::parse(&text("0@0,1@1,2@1023"), "t.toml").unwrap();
        let e = preflight_cpus(&c).unwrap_err().to_string();
        assert!(e.contains("core(s) 1023 are not available"), "{e}");
    }
}
