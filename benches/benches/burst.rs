//! The raw burst loop through our safe DPDK layer: rx 32 from net_null, tx them to a net_null
//! sink. Its packets per second sit beside testpmd's io mode on the same devices in
//! `ci/bench.sh`, so the cost of the wrappers is visible. Also prints TSC clocks per packet.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dataplane::dpdk::{MbufBurst, rdtsc, tsc_hz};
use dp_benches::NullPair;

fn burst_loop(c: &mut Criterion) {
    let mut pair = match NullPair::new() {
        Ok(p) => p,
        Err(why) => {
            eprintln!("\n*** burst benchmark SKIPPED: {why} ***\n");
            return;
        }
    };
    let mut burst = MbufBurst::<32>::new();
    let mut group = c.benchmark_group("raw-burst");
    group.throughput(Throughput::Elements(32));
    group.bench_function("net_null rx32 -> net_null tx", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            let mut pkts = 0u64;
            for _ in 0..iters {
                pkts += pair.rx.rx_burst(&mut burst) as u64;
                pair.tx.tx_burst(&mut burst);
                burst.clear();
            }
            let el = start.elapsed();
            // Every burst must be full, or the figure would flatter us.
            assert_eq!(pkts, iters * 32, "net_null returned short bursts");
            el
        })
    });
    group.finish();

    // Clocks per packet over a fixed 2-second run, as the dataplane reports them.
    let hz = tsc_hz();
    let (t0, c0) = (Instant::now(), rdtsc());
    let mut pkts = 0u64;
    while t0.elapsed() < Duration::from_secs(2) {
        for _ in 0..1024 {
            pkts += pair.rx.rx_burst(&mut burst) as u64;
            pair.tx.tx_burst(&mut burst);
            burst.clear();
        }
    }
    let cycles = rdtsc() - c0;
    let secs = cycles as f64 / hz as f64;
    println!(
        "raw-burst: {:.1} Mpps, {:.1} TSC clocks/packet (TSC {:.2} GHz, {} packets, {} mbufs free)",
        pkts as f64 / secs / 1e6,
        cycles as f64 / pkts as f64,
        hz as f64 / 1e9,
        pkts,
        pair.pool.available()
    );
    let _ = (&pair.src, &pair.dst, &pair.eal);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = burst_loop
}
criterion_main!(benches);
