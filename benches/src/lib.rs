//! Shared setup for the benchmarks: one EAL per bench process on virtual devices, and the
//! deterministic route tables and addresses the FIB and graph-node benches draw from.

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

/// xorshift64*: deterministic, no dependency, so every run measures the same tables and keys.
pub struct Rng(pub u64);

/// The seed the FIB and graph-node benches start their [`Rng`] from: one constant, so every
/// run of either draws the same tables and keys.
pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `n` distinct prefixes `(prefix, length, next hop 1..=1000)`: mostly /24, some shorter,
/// some longer (like an Internet table).
pub fn random_routes(n: usize, rng: &mut Rng) -> Vec<(u32, u8, u32)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next_u64();
        let len = match r % 100 {
            0..=59 => 24,
            60..=84 => 16 + (r >> 8) as u8 % 8,
            85..=94 => 8 + (r >> 8) as u8 % 8,
            _ => 25 + (r >> 8) as u8 % 8,
        };
        // len is 8..=32: the shift is at most 24.
        let mask = u32::MAX << (32 - len as u32);
        let prefix = (r >> 16) as u32 & mask;
        if seen.insert((prefix, len)) {
            out.push((prefix, len, (out.len() % 1000) as u32 + 1));
        }
    }
    out
}
