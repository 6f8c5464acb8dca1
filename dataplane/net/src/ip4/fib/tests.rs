//! Tests of the DIR-24-8 FIB: edge cases, a property test against a naive linear LPM, a
//! concurrent writer/readers test, and a 1M-route build (timed, printed, never asserted).
use super::*;
use crate::rcu::Domain;
use proptest::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::thread;
use std::time::Instant;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn fib_with(config: FibConfig) -> (Domain, FibWriter, FibReader) {
    let domain = Domain::new(4);
    let w = FibWriter::new(&domain, config).unwrap();
    let r = w.reader();
    (domain, w, r)
}

fn fib() -> (Domain, FibWriter, FibReader) {
    fib_with(FibConfig {
        tbl8_groups: 16,
        ..FibConfig::default()
    })
}

fn look(r: &FibReader, s: &str) -> Option<u32> {
    r.lookup(u32::from(ip(s)))
}

fn add(w: &mut FibWriter, s: &str, len: u8, nh: u32) {
    w.add(ip(s), len, nh).unwrap();
}

#[test]
fn handles_can_move_to_worker_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<FibReader>();
    send::<FibWriter>();
}

#[test]
fn empty_fib_matches_nothing() {
    let (_d, w, r) = fib();
    for a in ["0.0.0.0", "10.0.0.1", "255.255.255.255"] {
        assert_eq!(look(&r, a), None, "{a}");
    }
    assert!(w.is_empty());
    assert_eq!(w.stats().tbl8_in_use, 0);
}

#[test]
fn default_route_matches_everything_until_deleted() {
    let (_d, mut w, r) = fib();
    add(&mut w, "0.0.0.0", 0, 7);
    for a in ["0.0.0.0", "10.0.0.1", "255.255.255.255"] {
        assert_eq!(look(&r, a), Some(7), "{a}");
    }
    add(&mut w, "10.0.0.0", 8, 8);
    add(&mut w, "10.0.0.128", 25, 9);
    assert_eq!(look(&r, "10.1.1.1"), Some(8));
    assert_eq!(look(&r, "10.0.0.200"), Some(9));
    assert_eq!(look(&r, "10.0.0.1"), Some(8));
    assert_eq!(look(&r, "11.0.0.0"), Some(7));
    assert_eq!(w.delete(ip("0.0.0.0"), 0), Ok(7));
    assert_eq!(look(&r, "11.0.0.0"), None);
    assert_eq!(look(&r, "255.255.255.255"), None);
    assert_eq!(look(&r, "10.1.1.1"), Some(8));
    assert_eq!(look(&r, "10.0.0.200"), Some(9));
}

#[test]
fn host_route_matches_one_address() {
    let (_d, mut w, r) = fib();
    add(&mut w, "192.0.2.77", 32, 3);
    assert_eq!(look(&r, "192.0.2.77"), Some(3));
    assert_eq!(look(&r, "192.0.2.76"), None);
    assert_eq!(look(&r, "192.0.2.78"), None);
    add(&mut w, "255.255.255.255", 32, 4);
    assert_eq!(look(&r, "255.255.255.255"), Some(4));
    assert_eq!(look(&r, "255.255.255.254"), None);
    assert_eq!(w.stats().tbl8_in_use, 2);
}

#[test]
fn slash_24_boundaries() {
    let (_d, mut w, r) = fib();
    add(&mut w, "10.0.0.0", 24, 1);
    add(&mut w, "10.0.2.0", 23, 2);
    assert_eq!(look(&r, "9.255.255.255"), None);
    assert_eq!(look(&r, "10.0.0.0"), Some(1));
    assert_eq!(look(&r, "10.0.0.255"), Some(1));
    assert_eq!(look(&r, "10.0.1.0"), None);
    assert_eq!(look(&r, "10.0.2.0"), Some(2));
    assert_eq!(look(&r, "10.0.3.255"), Some(2));
    assert_eq!(look(&r, "10.0.4.0"), None);
    assert_eq!(
        w.stats().tbl8_in_use,
        0,
        "routes up to /24 need no tbl8 group"
    );
}

#[test]
fn longer_than_24_goes_to_tbl8_and_rest_of_the_24_keeps_its_route() {
    let (_d, mut w, r) = fib();
    add(&mut w, "10.0.0.0", 24, 1);
    add(&mut w, "10.0.0.128", 25, 2);
    assert_eq!(w.stats().tbl8_in_use, 1);
    assert_eq!(look(&r, "10.0.0.0"), Some(1));
    assert_eq!(look(&r, "10.0.0.127"), Some(1));
    assert_eq!(look(&r, "10.0.0.128"), Some(2));
    assert_eq!(look(&r, "10.0.0.255"), Some(2));
    // A long route in a /24 with no covering route leaves the rest unrouted.
    add(&mut w, "10.0.5.64", 26, 3);
    assert_eq!(look(&r, "10.0.5.63"), None);
    assert_eq!(look(&r, "10.0.5.64"), Some(3));
    assert_eq!(look(&r, "10.0.5.127"), Some(3));
    assert_eq!(look(&r, "10.0.5.128"), None);
    assert_eq!(w.stats().tbl8_in_use, 2);
    // A second long route in the same /24 reuses its group.
    add(&mut w, "10.0.5.0", 30, 4);
    assert_eq!(w.stats().tbl8_in_use, 2);
    assert_eq!(look(&r, "10.0.5.3"), Some(4));
    assert_eq!(look(&r, "10.0.5.4"), None);
}

const NESTED: [(&str, u8, u32); 6] = [
    ("10.0.0.0", 8, 8),
    ("10.1.0.0", 16, 16),
    ("10.1.1.0", 24, 24),
    ("10.1.1.0", 26, 26),
    ("10.1.1.16", 28, 28),
    ("10.1.1.20", 32, 32),
];

fn check_nested(r: &FibReader) {
    for (a, want) in [
        ("10.200.0.0", 8),
        ("10.1.200.0", 16),
        ("10.1.1.200", 24),
        ("10.1.1.1", 26),
        ("10.1.1.63", 26),
        ("10.1.1.16", 28),
        ("10.1.1.31", 28),
        ("10.1.1.20", 32),
        ("10.1.1.21", 28),
    ] {
        assert_eq!(look(r, a), Some(want), "{a}");
    }
    assert_eq!(look(r, "11.0.0.0"), None);
}

#[test]
fn overlapping_prefixes_match_longest_in_any_insertion_order() {
    let (_d, mut w, r) = fib();
    for &(p, l, nh) in &NESTED {
        add(&mut w, p, l, nh);
    }
    check_nested(&r);
    let (_d, mut w, r) = fib();
    for &(p, l, nh) in NESTED.iter().rev() {
        add(&mut w, p, l, nh);
    }
    check_nested(&r);
}

#[test]
fn delete_reveals_the_covering_route() {
    let (_d, mut w, r) = fib();
    for &(p, l, nh) in &NESTED {
        add(&mut w, p, l, nh);
    }
    assert_eq!(w.delete(ip("10.1.1.20"), 32), Ok(32));
    assert_eq!(look(&r, "10.1.1.20"), Some(28));
    assert_eq!(w.delete(ip("10.1.1.0"), 26), Ok(26));
    assert_eq!(look(&r, "10.1.1.1"), Some(24));
    assert_eq!(look(&r, "10.1.1.17"), Some(28), "deeper route survives");
    assert_eq!(w.delete(ip("10.1.1.0"), 24), Ok(24));
    assert_eq!(look(&r, "10.1.1.200"), Some(16));
    assert_eq!(look(&r, "10.1.1.1"), Some(16));
    assert_eq!(look(&r, "10.1.1.17"), Some(28));
    assert_eq!(w.delete(ip("10.0.0.0"), 8), Ok(8));
    assert_eq!(look(&r, "10.200.0.0"), None);
    assert_eq!(look(&r, "10.1.200.0"), Some(16));
    assert_eq!(look(&r, "10.1.1.17"), Some(28));
    assert_eq!(w.delete(ip("10.1.0.0"), 16), Ok(16));
    assert_eq!(look(&r, "10.1.1.1"), None);
    assert_eq!(look(&r, "10.1.1.17"), Some(28));
    assert_eq!(w.len(), 1);
}

#[test]
fn deleting_the_last_long_route_folds_the_group_back_into_tbl24() {
    let (_d, mut w, r) = fib_with(FibConfig {
        tbl8_groups: 1,
        ..FibConfig::default()
    });
    add(&mut w, "10.0.0.0", 24, 1);
    add(&mut w, "10.0.0.128", 25, 2);
    add(&mut w, "10.0.0.200", 30, 3);
    w.delete(ip("10.0.0.200"), 30).unwrap();
    assert_eq!(w.stats().tbl8_in_use, 1, "the /25 still needs the group");
    assert_eq!(look(&r, "10.0.0.201"), Some(2));
    w.delete(ip("10.0.0.128"), 25).unwrap();
    let s = w.stats();
    assert_eq!((s.tbl8_in_use, s.tbl8_awaiting_reclaim), (0, 0));
    assert_eq!(look(&r, "10.0.0.0"), Some(1));
    assert_eq!(look(&r, "10.0.0.201"), Some(1));
    // The only group is free again: another /24 can take it.
    add(&mut w, "10.9.9.0", 25, 4);
    assert_eq!(look(&r, "10.9.9.1"), Some(4));
    assert_eq!(look(&r, "10.9.9.200"), None);
    assert_eq!(look(&r, "10.0.0.201"), Some(1));
    // Without a covering route the /24 folds back to "no route".
    w.delete(ip("10.9.9.0"), 25).unwrap();
    assert_eq!(w.stats().tbl8_in_use, 0);
    assert_eq!(look(&r, "10.9.9.1"), None);
}

#[test]
fn replace_returns_the_old_next_hop_and_updates_lookups() {
    let (_d, mut w, r) = fib();
    assert_eq!(w.add(ip("10.0.0.0"), 24, 1), Ok(None));
    assert_eq!(w.add(ip("10.0.0.0"), 24, 5), Ok(Some(1)));
    assert_eq!(look(&r, "10.0.0.9"), Some(5));
    assert_eq!(w.len(), 1);
    // Replacing the covering route of a /24 with a tbl8 group updates only its part.
    add(&mut w, "10.0.0.128", 25, 2);
    assert_eq!(w.add(ip("10.0.0.0"), 24, 6), Ok(Some(5)));
    assert_eq!(look(&r, "10.0.0.9"), Some(6));
    assert_eq!(look(&r, "10.0.0.129"), Some(2));
    assert_eq!(w.add(ip("10.0.0.128"), 25, 3), Ok(Some(2)));
    assert_eq!(look(&r, "10.0.0.129"), Some(3));
    assert_eq!(look(&r, "10.0.0.9"), Some(6));
    assert_eq!(w.add(ip("10.0.0.128"), 25, 3), Ok(Some(3)), "same next hop");
    assert_eq!(w.len(), 2);
    assert_eq!(w.stats().tbl8_in_use, 1);
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let (_d, mut w, r) = fib();
    assert_eq!(
        w.add(ip("10.0.0.0"), 33, 1),
        Err(FibError::InvalidLength(33))
    );
    let err = w.add(ip("10.0.0.1"), 24, 1).unwrap_err();
    assert_eq!(
        err,
        FibError::HostBitsSet {
            prefix: ip("10.0.0.1"),
            len: 24,
            network: ip("10.0.0.0")
        }
    );
    assert!(
        err.to_string().contains("did you mean 10.0.0.0/24"),
        "{err}"
    );
    assert_eq!(
        w.add(ip("10.0.0.0"), 24, 1 << 24),
        Err(FibError::NextHopOutOfRange(1 << 24))
    );
    assert!(w.add(ip("10.0.0.0"), 24, MAX_NEXT_HOP).is_ok());
    assert_eq!(look(&r, "10.0.0.1"), Some(MAX_NEXT_HOP));
    assert_eq!(
        w.delete(ip("10.0.0.0"), 25),
        Err(FibError::NotFound {
            prefix: ip("10.0.0.0"),
            len: 25
        })
    );
    assert_eq!(
        w.delete(ip("10.0.1.0"), 24).unwrap_err().to_string(),
        "no route 10.0.1.0/24"
    );
    assert_eq!(w.delete(ip("10.0.0.1"), 24).unwrap_err(), err);
    assert_eq!(w.len(), 1);
    let domain = Domain::new(1);
    assert!(matches!(
        FibWriter::new(
            &domain,
            FibConfig {
                tbl8_groups: MAX_TBL8_GROUPS + 1,
                ..FibConfig::default()
            }
        ),
        Err(FibError::InvalidConfig(_))
    ));
}

#[test]
fn full_route_table_refuses_new_routes_but_accepts_replacements() {
    let (_d, mut w, r) = fib_with(FibConfig {
        max_routes: 2,
        tbl8_groups: 4,
        ..FibConfig::default()
    });
    add(&mut w, "10.0.0.0", 8, 1);
    add(&mut w, "10.0.0.0", 25, 2);
    assert_eq!(
        w.add(ip("11.0.0.0"), 8, 3),
        Err(FibError::RouteTableFull { max: 2 })
    );
    assert_eq!(look(&r, "11.0.0.0"), None);
    assert_eq!(w.add(ip("10.0.0.0"), 8, 4), Ok(Some(1)));
    w.delete(ip("10.0.0.0"), 25).unwrap();
    add(&mut w, "11.0.0.0", 8, 3);
    assert_eq!(w.len(), 2);
}

#[test]
fn running_out_of_tbl8_groups_changes_nothing() {
    let (_d, mut w, r) = fib_with(FibConfig {
        tbl8_groups: 1,
        ..FibConfig::default()
    });
    add(&mut w, "10.0.0.0", 8, 1);
    add(&mut w, "10.0.0.0", 25, 2);
    let err = w.add(ip("10.0.1.0"), 25, 3).unwrap_err();
    assert_eq!(
        err,
        FibError::Tbl8Exhausted {
            total: 1,
            awaiting: 0
        }
    );
    assert!(err.to_string().contains("raise tbl8_groups"), "{err}");
    assert_eq!(w.get_exact(ip("10.0.1.0"), 25), None);
    assert_eq!(w.len(), 2);
    assert_eq!(look(&r, "10.0.1.1"), Some(1));
    // More routes in a /24 that already has a group still fit.
    add(&mut w, "10.0.0.128", 26, 4);
    assert_eq!(look(&r, "10.0.0.130"), Some(4));
}

#[test]
fn a_freed_group_is_reused_only_after_readers_pass_a_quiescent_state() {
    let (domain, mut w, r) = fib_with(FibConfig {
        tbl8_groups: 1,
        reclaim_wait: Duration::from_millis(20),
        ..FibConfig::default()
    });
    let mut worker = domain.register().unwrap();
    add(&mut w, "10.0.0.0", 25, 1);
    assert_eq!(look(&r, "10.0.0.1"), Some(1));
    w.delete(ip("10.0.0.0"), 25).unwrap();
    let s = w.stats();
    assert_eq!((s.tbl8_in_use, s.tbl8_awaiting_reclaim), (0, 1));
    // The worker may still hold the old tbl24 entry: the group must not be refilled.
    let started = Instant::now();
    assert_eq!(
        w.add(ip("10.0.1.0"), 25, 2),
        Err(FibError::Tbl8Exhausted {
            total: 1,
            awaiting: 1
        })
    );
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "waited reclaim_wait"
    );
    assert_eq!(look(&r, "10.0.1.1"), None);
    worker.quiescent();
    add(&mut w, "10.0.1.0", 25, 2);
    assert_eq!(look(&r, "10.0.1.1"), Some(2));
    // An offline (idle) worker does not hold reclamation back.
    w.delete(ip("10.0.1.0"), 25).unwrap();
    worker.offline();
    add(&mut w, "10.0.2.0", 25, 3);
    assert_eq!(look(&r, "10.0.2.1"), Some(3));
    assert_eq!(w.stats().tbl8_awaiting_reclaim, 0);
}

#[test]
fn iteration_count_and_exact_match() {
    let (_d, mut w, _r) = fib();
    for &(p, l, nh) in &NESTED {
        add(&mut w, p, l, nh);
    }
    assert_eq!(w.len(), NESTED.len());
    assert_eq!(w.get_exact(ip("10.1.1.0"), 26), Some(26));
    assert_eq!(w.get_exact(ip("10.1.1.0"), 25), None);
    assert_eq!(w.get_exact(ip("10.1.1.1"), 26), None);
    assert_eq!(w.get_exact(ip("10.1.1.0"), 40), None);
    assert_eq!(w.lookup(ip("10.1.1.21")), Some(28));
    let sorted = w.routes_sorted();
    let want: Vec<Route> = {
        let mut v: Vec<Route> = NESTED
            .iter()
            .map(|&(p, len, next_hop)| Route {
                prefix: ip(p),
                len,
                next_hop,
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted, want);
    assert_eq!(sorted[0].to_string(), "10.0.0.0/8 -> 8");
    let lens: Vec<u8> = w.iter().map(|r| r.len).collect();
    assert!(
        lens.windows(2).all(|p| p[0] <= p[1]),
        "shortest first: {lens:?}"
    );
}

#[test]
fn lookup_bulk_equals_lookup() {
    let (_d, mut w, r) = fib();
    for &(p, l, nh) in &NESTED {
        add(&mut w, p, l, nh);
    }
    let addrs: Vec<u32> = [
        "10.1.1.20",
        "10.1.1.21",
        "10.1.1.1",
        "11.0.0.0",
        "10.200.0.0",
        "10.1.200.0",
        "10.1.1.200",
        "0.0.0.0",
        "10.1.1.17",
    ]
    .iter()
    .map(|s| u32::from(ip(s)))
    .collect();
    for n in 0..=addrs.len() {
        let mut out = vec![Some(u32::MAX); n];
        r.lookup_bulk(&addrs, &mut out);
        let want: Vec<Option<u32>> = addrs[..n].iter().map(|&a| r.lookup(a)).collect();
        assert_eq!(out, want, "n={n}");
        // Fewer addresses than outputs: the rest of `out` is left alone.
        let mut out = vec![Some(u32::MAX); addrs.len()];
        r.lookup_bulk(&addrs[..n], &mut out);
        assert_eq!(&out[..n], &want[..]);
        assert!(out[n..].iter().all(|o| *o == Some(u32::MAX)));
    }
}

// ---------------------------------------------------------------------------------------
// Property test against a naive reference.

/// The reference: a list of routes, longest-prefix match by linear scan.
#[derive(Default)]
struct Naive(Vec<(u32, u8, u32)>);

impl Naive {
    fn lookup(&self, addr: u32) -> Option<u32> {
        self.0
            .iter()
            .filter(|&&(p, l, _)| addr & mask(l) == p)
            .max_by_key(|&&(_, l, _)| l)
            .map(|&(_, _, nh)| nh)
    }

    fn find(&self, p: u32, l: u8) -> Option<usize> {
        self.0.iter().position(|&(q, m, _)| q == p && m == l)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(u32, u8, u32),
    /// Delete the n-th route of the reference (modulo its length), if any.
    DeleteExisting(usize),
    /// Delete a prefix that may or may not exist.
    Delete(u32, u8),
}

/// Addresses packed into a few /24s of two /8s, so that routes overlap a lot.
fn addr() -> impl Strategy<Value = u32> {
    (
        prop::sample::select(vec![10u32, 11]),
        0u32..2,
        0u32..3,
        any::<u8>(),
    )
        .prop_map(|(a, b, c, d)| (a << 24) | (b << 16) | (c << 8) | u32::from(d))
}

fn prefix_len() -> impl Strategy<Value = u8> {
    // Short prefixes touch millions of entries (slow in debug builds): keep them rare.
    prop_oneof![1 => Just(0u8), 2 => 1u8..=15, 8 => 16u8..=24, 8 => 25u8..=32]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (addr(), prefix_len(), 0u32..1000).prop_map(|(a, l, nh)| Op::Add(a & mask(l), l, nh)),
        3 => any::<usize>().prop_map(Op::DeleteExisting),
        1 => (addr(), prefix_len()).prop_map(|(a, l)| Op::Delete(a & mask(l), l)),
    ]
}

/// Addresses worth checking around a prefix: both ends and just outside them.
fn probes(p: u32, l: u8) -> [u32; 4] {
    let last = p | !mask(l);
    [p.wrapping_sub(1), p, last, last.wrapping_add(1)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn fib_matches_naive_lpm(ops in prop::collection::vec(op(), 1..60), extra in prop::collection::vec(addr(), 32)) {
        let (_d, mut w, r) = fib_with(FibConfig { tbl8_groups: 64, ..FibConfig::default() });
        let mut naive = Naive::default();
        for op in &ops {
            let touched = match *op {
                Op::Add(p, l, nh) => {
                    let old = naive.find(p, l).map(|i| std::mem::replace(&mut naive.0[i].2, nh));
                    if old.is_none() {
                        naive.0.push((p, l, nh));
                    }
                    prop_assert_eq!(w.add(Ipv4Addr::from(p), l, nh), Ok(old));
                    (p, l)
                }
                Op::DeleteExisting(n) => {
                    if naive.0.is_empty() {
                        continue;
                    }
                    let (p, l, nh) = naive.0.swap_remove(n % naive.0.len());
                    prop_assert_eq!(w.delete(Ipv4Addr::from(p), l), Ok(nh));
                    (p, l)
                }
                Op::Delete(p, l) => {
                    let got = w.delete(Ipv4Addr::from(p), l);
                    match naive.find(p, l) {
                        Some(i) => prop_assert_eq!(got, Ok(naive.0.swap_remove(i).2)),
                        None => prop_assert!(matches!(got, Err(FibError::NotFound { .. })), "{:?}", got),
                    }
                    (p, l)
                }
            };
            for a in probes(touched.0, touched.1).into_iter().chain(extra.iter().copied()) {
                prop_assert_eq!(r.lookup(a), naive.lookup(a), "addr {} after {:?}", Ipv4Addr::from(a), op);
            }
        }
        // Everything at the end: every route's edges, the random addresses, the route set.
        let mut all: Vec<u32> = naive.0.iter().flat_map(|&(p, l, _)| probes(p, l)).collect();
        all.extend(&extra);
        let mut out = vec![None; all.len()];
        r.lookup_bulk(&all, &mut out);
        for (a, got) in all.iter().zip(&out) {
            prop_assert_eq!(*got, naive.lookup(*a), "addr {}", Ipv4Addr::from(*a));
        }
        prop_assert_eq!(w.len(), naive.0.len());
        let mut want: Vec<(u32, u8, u32)> = naive.0.clone();
        want.sort_unstable();
        let mut got: Vec<(u32, u8, u32)> = w.iter().map(|r| (u32::from(r.prefix), r.len, r.next_hop)).collect();
        got.sort_unstable();
        prop_assert_eq!(got, want);
        // Deleting everything must leave an empty table and every tbl8 group free.
        for (p, l, nh) in std::mem::take(&mut naive.0) {
            prop_assert_eq!(w.delete(Ipv4Addr::from(p), l), Ok(nh));
        }
        for a in all.iter().chain(&extra) {
            prop_assert_eq!(r.lookup(*a), None);
        }
        let s = w.stats();
        prop_assert_eq!((s.routes, s.tbl8_in_use, s.tbl8_awaiting_reclaim), (0, 0, 0));
    }
}

// ---------------------------------------------------------------------------------------
// Concurrency.

/// The writer churns routes in eight /24s (adding and deleting long routes so tbl8 groups are
/// attached, folded back and reused between /24s all the time; only two groups exist) while
/// readers look up addresses whose possible answers are known. A reader that saw a group
/// reused too early, or a half-built group, would get another /24's next hop or `None`.
#[test]
fn concurrent_readers_see_only_old_or_new_routes() {
    const BLOCKS: u32 = 8;
    const READERS: usize = 2;
    let domain = Domain::new(READERS);
    let mut w = FibWriter::new(
        &domain,
        FibConfig {
            tbl8_groups: 2,
            reclaim_wait: Duration::from_secs(2),
            ..FibConfig::default()
        },
    )
    .unwrap();
    let r = w.reader();
    let base = u32::from(ip("10.1.0.0"));
    w.add(ip("10.0.0.0"), 8, 1).unwrap();
    // Possible answers for host byte `h` of block `x`.
    let allowed = |x: u32, h: u32, nh: u32| {
        nh == 1
            || nh == 2
            || nh == 100 + x
            || (h >= 128 && nh == 200 + x)
            || ((192..208).contains(&h) && nh == 300 + x)
    };
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    // Lookups so far, for the writer to know the readers have had their turn.
    let progress = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..READERS)
        .map(|id| {
            let mut qsbr = domain.register().unwrap();
            let (r, stop, errors, progress) = (
                r.clone(),
                Arc::clone(&stop),
                Arc::clone(&errors),
                Arc::clone(&progress),
            );
            thread::spawn(move || {
                let mut lookups = 0u64;
                let mut loops = 0u64;
                let hosts = [0x05, 0x85, 0xc5, 0xcf, 0xff];
                let mut addrs = Vec::new();
                for x in 0..BLOCKS {
                    for h in hosts {
                        addrs.push(base | (x << 8) | h);
                    }
                }
                let mut out = vec![None; addrs.len()];
                while !stop.load(Ordering::Relaxed) {
                    loops += 1;
                    r.lookup_bulk(&addrs, &mut out);
                    for (a, got) in addrs.iter().zip(&out) {
                        let single = r.lookup(*a);
                        lookups += 2;
                        let (x, h) = ((a >> 8) & 0xff, a & 0xff);
                        for got in [*got, single] {
                            if !got.is_some_and(|nh| allowed(x, h, nh)) {
                                errors.lock().unwrap().push(format!(
                                    "reader {id}: {} -> {got:?}",
                                    Ipv4Addr::from(*a)
                                ));
                                return lookups;
                            }
                        }
                    }
                    progress.fetch_add(2 * addrs.len() as u64, Ordering::Relaxed);
                    if loops % 512 == id as u64 {
                        qsbr.offline();
                        thread::yield_now();
                        qsbr.online();
                    } else {
                        qsbr.quiescent();
                    }
                }
                lookups
            })
        })
        .collect();

    // At least 1.5 s of churn, and on until both sides did enough work (a loaded machine
    // is slow, not wrong); a minute without that is a hang.
    let start = Instant::now();
    let mut rounds = 0u32;
    let mut seed = 0x9e37_79b9_u32;
    while (start.elapsed() < Duration::from_millis(1500)
        || rounds <= 100
        || progress.load(Ordering::Relaxed) <= 10_000)
        && start.elapsed() < Duration::from_secs(60)
    {
        let x = rounds % BLOCKS;
        let net = Ipv4Addr::from(base | (x << 8));
        let routes = [
            (net, 24, 100 + x),
            (Ipv4Addr::from(base | (x << 8) | 128), 25, 200 + x),
            (Ipv4Addr::from(base | (x << 8) | 192), 28, 300 + x),
        ];
        // Add in order, delete in a pseudo-random order (covering route first sometimes).
        for &(p, l, nh) in &routes {
            w.add(p, l, nh).unwrap();
        }
        if rounds & 15 == 0 {
            w.add(ip("10.1.0.0"), 16, 2).unwrap();
        }
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let order: [usize; 3] = match seed % 3 {
            0 => [0, 1, 2],
            1 => [2, 1, 0],
            _ => [1, 0, 2],
        };
        for i in order {
            let (p, l, _) = routes[i];
            w.delete(p, l).unwrap();
        }
        if rounds & 15 == 8 {
            w.delete(ip("10.1.0.0"), 16).unwrap();
        }
        rounds += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let lookups: u64 = readers.into_iter().map(|t| t.join().unwrap()).sum();
    let errors = errors.lock().unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    // Only a minute without enough progress gets here with too little done.
    assert!(
        rounds > 100,
        "no progress in 60 s: the writer made {rounds} rounds"
    );
    assert!(
        lookups > 10_000,
        "no progress in 60 s: the readers made {lookups} lookups"
    );
    eprintln!("fib concurrent: {rounds} writer rounds, {lookups} reader lookups");
}

// ---------------------------------------------------------------------------------------
// Scale.

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Builds a 1M-route FIB shaped like an Internet table (mostly /24, 30% /16-/23, 2% longer
/// than /24 and a few /8-/15; 32768 tbl8 groups, 96 MiB in all), prints the build time, and
/// checks lookups of a sample against the writer's own route set. Lookup rates are the fib
/// benchmark's job (`cargo bench -p dp-benches --bench fib`), not a test's.
#[test]
fn one_million_routes() {
    const ROUTES: usize = 1 << 20;
    let domain = Domain::new(1);
    let mut w = FibWriter::new(
        &domain,
        FibConfig {
            tbl8_groups: 1 << 15,
            ..FibConfig::default()
        },
    )
    .unwrap();
    let r = w.reader();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut routes = Vec::with_capacity(ROUTES);
    let start = Instant::now();
    while w.len() < ROUTES {
        let x = rng.next();
        let len = match x % 1000 {
            0 => 8 + (x >> 10) % 8,          // 0.1% /8-/15
            1..=300 => 16 + (x >> 10) % 8,   // 30% /16-/23
            301..=320 => 25 + (x >> 10) % 8, // 2% /25-/32
            _ => 24,
        } as u8;
        let p = (x >> 32) as u32 & mask(len);
        let nh = (x >> 40) as u32 & MAX_NEXT_HOP;
        if w.add(Ipv4Addr::from(p), len, nh).unwrap().is_none() {
            routes.push((p, len));
        }
    }
    let build = start.elapsed();
    let stats = w.stats();
    eprintln!(
        "fib 1M: built {} routes in {build:?} ({:.0} routes/s), {} tbl8 groups",
        stats.routes,
        stats.routes as f64 / build.as_secs_f64(),
        stats.tbl8_in_use
    );
    assert_eq!(w.len(), ROUTES);

    // Reference LPM from the writer's exact-match maps, for a sample of addresses.
    let slow = |a: u32| {
        (0..=32u8)
            .rev()
            .find_map(|l| w.get_exact(Ipv4Addr::from(a & mask(l)), l))
    };
    for &(p, l) in routes.iter().step_by(97) {
        for a in probes(p, l) {
            assert_eq!(r.lookup(a), slow(a), "{}", Ipv4Addr::from(a));
        }
    }
}
