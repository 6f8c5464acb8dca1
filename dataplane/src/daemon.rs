//! Startup, run and shutdown of the dataplane process: preflight checks, EAL, mbuf pool,
//! ports, workers on their lcores, signals, and the final per-port report.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::{Config, allowed_cpus};
use crate::dpdk::{
    Eal, EalPreflight, Mempool, Port, PortConfig, PortStats, launch_on_lcore, worker_lcores,
};
use crate::xconnect::{self, Direction, SwPortCounters, XconnectReport};

/// A startup or runtime failure, printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Preflight(String),
    #[error("{0}")]
    Dpdk(#[from] crate::dpdk::DpdkError),
    #[error("port `{port}`: {err}")]
    Port {
        port: String,
        err: crate::dpdk::DpdkError,
    },
    #[error("{0}")]
    Runtime(String),
}

/// The EAL arguments for `cfg`: cores, main lcore, a default file prefix, then the user's.
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let cores = cfg.cores();
    let mut args = vec![
        "-l".to_string(),
        cfg.eal.cores.clone(),
        "--main-lcore".to_string(),
        cores[0].to_string(),
    ];
    if !cfg.eal.args.iter().any(|a| a.starts_with("--file-prefix")) {
        args.push("--file-prefix=dataplane".to_string());
    }
    args.extend(cfg.eal.args.iter().cloned());
    args
}

/// Checks that need no DPDK: cores present, hugepages available.
pub fn preflight(cfg: &Config) -> Result<(), DaemonError> {
    let allowed = allowed_cpus();
    let missing: Vec<String> = cfg
        .cores()
        .into_iter()
        .filter(|c| !allowed.contains(c))
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
    EalPreflight::hugepages(&cfg.eal.args).map_err(DaemonError::Preflight)
}

fn pool_size(cfg: &Config) -> u32 {
    if cfg.mempool.mbufs > 0 {
        return cfg.mempool.mbufs;
    }
    let per_port: u32 = cfg
        .ports
        .iter()
        .map(|p| p.rx_desc as u32 + p.tx_desc as u32 + 512)
        .sum();
    // Next power of two minus one: the mempool ring's most efficient size.
    ((per_port + 4096).next_power_of_two() - 1).max(8191)
}

/// Runs the dataplane until SIGINT/SIGTERM; returns the final report text.
pub fn run(cfg: Config) -> Result<String, DaemonError> {
    preflight(&cfg)?;
    let eal = Eal::init(eal_args(&cfg))?;
    let pool = Mempool::new(
        &eal,
        "dp_pool",
        pool_size(&cfg),
        cfg.mempool.cache,
        2176,
        None,
    )?;

    let mut ports = Vec::new();
    for p in &cfg.ports {
        let port = Port::open(&eal, &p.name, &p.device).map_err(|err| DaemonError::Port {
            port: p.name.clone(),
            err,
        })?;
        let pc = PortConfig {
            mtu: p.mtu,
            rx_desc: p.rx_desc,
            tx_desc: p.tx_desc,
            ..PortConfig::default()
        };
        port.configure(&pc, &pool)
            .map_err(|err| DaemonError::Port {
                port: p.name.clone(),
                err,
            })?;
        port.start().map_err(|err| DaemonError::Port {
            port: p.name.clone(),
            err,
        })?;
        let mac = port.mac().map(fmt_mac).unwrap_or_default();
        eprintln!(
            "dataplane: port {} up: device {} (port id {}, mac {mac})",
            p.name,
            p.device,
            port.id()
        );
        ports.push(port);
    }
    let index = |name: &str| {
        ports
            .iter()
            .position(|p| p.name() == name)
            .expect("validated port name")
    };

    // Spread cross-connects over workers; each pair's two directions stay on one worker.
    let workers = worker_lcores(&eal);
    if workers.is_empty() {
        return Err(DaemonError::Runtime(
            "no worker lcore: eal.cores needs at least 2 cores".into(),
        ));
    }
    let mut plans: Vec<Vec<Direction>> = workers.iter().map(|_| Vec::new()).collect();
    for (i, x) in cfg.xconnects.iter().enumerate() {
        let (a, b) = (index(&x.ports[0]), index(&x.ports[1]));
        let plan = &mut plans[i % workers.len()];
        for (from, to) in [(a, b), (b, a)] {
            plan.push(Direction {
                rx: ports[from].rx_queue(0)?,
                tx: ports[to].tx_queue(0)?,
                rx_port: from,
                tx_port: to,
            });
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let nports = ports.len();
    let mut jobs = Vec::new();
    for (lcore, plan) in workers.iter().zip(plans) {
        if plan.is_empty() {
            continue;
        }
        let stop = stop.clone();
        let poll_mode = cfg.worker.poll_mode;
        jobs.push(launch_on_lcore(&eal, *lcore, move || {
            xconnect::run(plan, nports, poll_mode, stop)
        })?);
    }
    eprintln!(
        "dataplane: forwarding on {} worker lcore(s), {} cross-connect(s); SIGINT or SIGTERM stops",
        jobs.len(),
        cfg.xconnects.len()
    );

    wait_for_signal()?;
    stop.store(true, Ordering::Relaxed);
    let mut sw = vec![SwPortCounters::default(); nports];
    let mut failure = None;
    let mut elapsed = std::time::Duration::ZERO;
    for job in jobs {
        match job.join() {
            Ok(XconnectReport {
                ports: per_port,
                elapsed: e,
                ..
            }) => {
                elapsed = elapsed.max(e);
                for (acc, c) in sw.iter_mut().zip(per_port) {
                    acc.rx_packets += c.rx_packets;
                    acc.tx_packets += c.tx_packets;
                    acc.tx_dropped += c.tx_dropped;
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    let mut report = final_report(&ports, &sw);
    let forwarded: u64 = sw.iter().map(|c| c.tx_packets).sum();
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        let _ = writeln!(
            report,
            "forwarded {forwarded} packets in {secs:.2} s: {:.2} Mpps",
            forwarded as f64 / secs / 1e6
        );
    }
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

fn wait_for_signal() -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DaemonError::Runtime(format!("cannot start the control runtime: {e}")))?;
    rt.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| DaemonError::Runtime(format!("SIGINT handler: {e}")))?;
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| DaemonError::Runtime(format!("SIGTERM handler: {e}")))?;
        let which = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        eprintln!("dataplane: {which} received, stopping");
        Ok(())
    })
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The per-port table printed at exit: the NIC's counters beside the workers' own.
pub fn final_report(ports: &[Port], sw: &[SwPortCounters]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "port", "rx-packets", "tx-packets", "rx-missed", "rx-errors", "tx-errors", "tx-dropped"
    );
    for (p, c) in ports.iter().zip(sw) {
        let s = p.stats().unwrap_or(PortStats::default());
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
    out
}
