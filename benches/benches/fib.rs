//! Our FIB (`dp_net::ip4`, DIR-24-8 with RCU-safe live updates) beside DPDK's `rte_lpm` in one
//! criterion run: the same routes (1k and 1M random prefixes, lengths weighted like a real
//! table), the same random addresses, bulk lookups of 64. Results are checked equal first.

use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dataplane::dpdk::{Eal, LPM_FOUND, Lpm};
use dp_benches::{Rng, SEED, precondition, random_routes};
use dp_net::ip4::{FibConfig, FibWriter};
use dp_net::rcu::Domain;

fn bench(c: &mut Criterion) {
    // rte_lpm needs DPDK: root and hugepages.
    if let Err(why) = precondition() {
        eprintln!("\n*** fib benchmark SKIPPED: {why} ***\n");
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
    let mut rng = Rng(SEED);
    let addrs: Vec<u32> = (0..65536).map(|_| rng.next_u64() as u32).collect();
    let mut group = c.benchmark_group("ip4-fib-lookup");
    group.throughput(Throughput::Elements(64));
    for n in [1_000usize, 1_000_000] {
        let table = random_routes(n, &mut rng);
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
