//! Shared setup for the benchmarks: one EAL per bench process on virtual devices.

use dataplane::dpdk::{Eal, Mempool, Port, PortConfig, RxQueue, TxQueue};

/// Why a benchmark cannot run here (printed, never a silent pass).
pub fn precondition() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        return Err("needs root for DPDK".into());
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if free == 0 {
        return Err("needs free hugepages (run ci/setup.sh)".into());
    }
    Ok(())
}

/// The raw burst loop's devices: `net_null` as source (it hands out pool mbufs, no copy) and
/// `net_null,no-rx=1` as sink; the same pair `ci/bench.sh` gives testpmd.
///
/// Fields drop in declaration order: queues, then ports, and the EAL last.
pub struct NullPair {
    pub rx: RxQueue,
    pub tx: TxQueue,
    pub src: Port,
    pub dst: Port,
    pub pool: Mempool,
    pub eal: Eal,
}

impl NullPair {
    pub fn new() -> Result<NullPair, String> {
        precondition()?;
        let prefix = format!("--file-prefix=dpbench{}", std::process::id());
        let eal = Eal::init([
            "-l",
            "0",
            "--no-pci",
            "--huge-unlink",
            prefix.as_str(),
            "--log-level=*:warning",
        ])
        .map_err(|e| e.to_string())?;
        let pool =
            Mempool::new(&eal, "bench_pool", 16383, 256, 2176, None).map_err(|e| e.to_string())?;
        let open = |name: &str, dev: &str| -> Result<Port, String> {
            let p = Port::open(&eal, name, dev).map_err(|e| e.to_string())?;
            p.configure(&PortConfig::default(), &pool)
                .map_err(|e| e.to_string())?;
            p.start().map_err(|e| e.to_string())?;
            Ok(p)
        };
        let src = open("src", "net_null_bsrc")?;
        let dst = open("dst", "net_null_bdst,no-rx=1")?;
        let rx = src.rx_queue(0).map_err(|e| e.to_string())?;
        let tx = dst.tx_queue(0).map_err(|e| e.to_string())?;
        Ok(NullPair {
            rx,
            tx,
            src,
            dst,
            pool,
            eal,
        })
    }
}
