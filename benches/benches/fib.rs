//! Our FIB (`dp_net::ip4`, DIR-24-8 with RCU-safe live updates) beside DPDK's `rte_lpm` in one
//! criterion run: the same routes (1k and 1M random prefixes, lengths weighted like a real
//! table), the same random addresses, bulk lookups of 64. Results are checked equal first.

use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dataplane::dpdk::{Eal, LPM_FOUND, Lpm};
use dp_net::ip4::{FibConfig, FibWriter};
use dp_net::rcu::Domain;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `n` distinct prefixes: mostly /24, some shorter, some longer (like an Internet table).
fn routes(n: usize, rng: &mut Rng) -> Vec<(u32, u8, u32)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let r = rng.next();
        let len = match r % 100 {
            0..=59 => 24,
            60..=84 => 16 + (r >> 8) as u8 % 8,
            85..=94 => 8 + (r >> 8) as u8 % 8,
            _ => 25 + (r >> 8) as u8 % 8,
        };
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - len as u32)
        };
        let prefix = (r >> 16) as u32 & mask;
        if seen.insert((prefix, len)) {
            out.push((prefix, len, (out.len() % 1000) as u32 + 1));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !root {
        eprintln!("\n*** fib benchmark SKIPPED: rte_lpm needs root for DPDK ***\n");
        return;
    }
    let prefix = format!("--file-prefix=dpfib{}", std::process::id());
    let eal = match Eal::init([
        "-l",
        "0",
        "--no-pci",
        "--in-memory",
        prefix.as_str(),
        "--log-level=*:warning",
    ]) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("\n*** fib benchmark SKIPPED: {e} ***\n");
            return;
        }
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let addrs: Vec<u32> = (0..65536).map(|_| rng.next() as u32).collect();
    let mut group = c.benchmark_group("ip4-fib-lookup");
    group.throughput(Throughput::Elements(64));
    for n in [1_000usize, 1_000_000] {
        let table = routes(n, &mut rng);
        let domain = Domain::new(1);
        let mut ours = FibWriter::new(
            &domain,
            FibConfig {
                max_routes: n,
                tbl8_groups: 1 << 16,
                ..Default::default()
            },
        )
        .expect("our FIB");
        let mut lpm = Lpm::new(&eal, &format!("lpm{n}"), n as u32, 1 << 16).expect("rte_lpm");
        for &(p, len, nh) in &table {
            ours.add(Ipv4Addr::from(p), len, nh)
                .expect("add to our FIB");
            lpm.add(p, len, nh).expect("add to rte_lpm");
        }
        let reader = ours.reader();
        // Same answers before timing anything.
        let mut a = [None; 64];
        let mut b = [0u32; 64];
        for chunk in addrs.chunks(64) {
            reader.lookup_bulk(chunk, &mut a);
            lpm.lookup_bulk(chunk, &mut b);
            for i in 0..chunk.len() {
                let theirs = (b[i] & LPM_FOUND != 0).then_some(b[i] & 0x00ff_ffff);
                assert_eq!(
                    a[i],
                    theirs,
                    "{} routes: {} disagrees",
                    n,
                    Ipv4Addr::from(chunk[i])
                );
            }
        }
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("dp-net FIB", n), |bch| {
            bch.iter(|| {
                i = (i + 64) % addrs.len();
                reader.lookup_bulk(&addrs[i..i + 64], &mut a);
                a[0]
            })
        });
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("rte_lpm", n), |bch| {
            bch.iter(|| {
                i = (i + 64) % addrs.len();
                lpm.lookup_bulk(&addrs[i..i + 64], &mut b);
                b[0]
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
