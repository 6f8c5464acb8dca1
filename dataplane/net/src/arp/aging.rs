//! Learned neighbors' lifetimes and their number: the control plane's bookkeeping beside the
//! neighbor table ([`crate::fwd::FwdState::neighbors`]), which workers never see.
//!
//! A learned entry is *confirmed* when it is learned and whenever its neighbor answers one of
//! our ARP requests (or changes its MAC). Once it has gone [`NeighborPolicy::age`] without
//! that, the control plane asks a worker for a probe (a broadcast who-has, through
//! [`crate::fwd::ProbeQueue`] and `arp-probe`) every [`NeighborPolicy::probe_interval`]; after
//! [`NeighborPolicy::probes`] unanswered probes the entry is removed, and the next packet to
//! that address resolves it again. So an entry in use is refreshed while traffic keeps
//! flowing on it (it stays in the table while it is probed), a neighbor that left goes away,
//! and an address that moved to another MAC (a pod's IP given to a new pod) is relearned from
//! whoever answers the broadcast. Linux does the same with `base_reachable_time` and
//! `mcast_solicit`; VPP with `ip neighbor age`.
//!
//! [`NeighborPolicy::max_learned`] caps the learned entries: past it a new neighbor is not
//! learned, and counted ([`NeighborCounters::refused`]), until entries age out. Static
//! entries are the operator's: they never age and are not capped.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use crate::fwd::{FwdState, IfIndex, NeighborProbe, ProbeQueue};

/// How learned neighbors age, and how many there may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborPolicy {
    /// How long a learned entry stays without being confirmed before it is probed; `None`:
    /// entries never age.
    pub age: Option<Duration>,
    /// Probes sent, `probe_interval` apart, before an entry nobody confirmed is removed (0:
    /// removed as soon as it is `age` old).
    pub probes: u32,
    pub probe_interval: Duration,
    /// Learned entries at most.
    pub max_learned: usize,
}

impl Default for NeighborPolicy {
    /// Probed after 5 minutes, 3 probes 1 s apart, 50,000 learned entries (VPP's limit).
    fn default() -> Self {
        NeighborPolicy {
            age: Some(Duration::from_secs(300)),
            probes: 3,
            probe_interval: Duration::from_secs(1),
            max_learned: 50_000,
        }
    }
}

/// What happened to learned neighbors since the control plane started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborCounters {
    /// Probes handed to the workers.
    pub probes: u64,
    /// Entries removed because nobody answered their probes.
    pub aged_out: u64,
    /// New neighbors not learned because the table held `max_learned` entries.
    pub refused: u64,
}

/// A learned entry's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Learned {
    confirmed: Instant,
    /// Probes sent since it was last confirmed.
    probes: u32,
    last_probe: Option<Instant>,
}

impl Learned {
    fn at(now: Instant) -> Learned {
        Learned {
            confirmed: now,
            probes: 0,
            last_probe: None,
        }
    }
}

type Key = (IfIndex, Ipv4Addr);

/// Probes one pass queues at most: with a pass every 100 ms, 5,000 broadcast ARPs a second.
pub const PROBES_PER_PASS: usize = 500;

/// The learned entries' timelines and the policy they follow.
#[derive(Debug, Default)]
pub struct NeighborAging {
    policy: NeighborPolicy,
    learned: FxHashMap<Key, Learned>,
    counters: NeighborCounters,
}

impl NeighborAging {
    pub fn policy(&self) -> NeighborPolicy {
        self.policy
    }

    /// Takes effect at once: entries already older than a shorter age are probed at the next
    /// pass; a lower cap removes nothing, it only stops learning until entries age out.
    pub fn set_policy(&mut self, policy: NeighborPolicy) {
        self.policy = policy;
    }

    pub fn counters(&self) -> NeighborCounters {
        self.counters
    }

    /// Learned entries being tracked.
    pub fn len(&self) -> usize {
        self.learned.len()
    }

    pub fn is_empty(&self) -> bool {
        self.learned.is_empty()
    }

    /// Confirms `key` at `now`, or starts tracking it. `false` (counted) when it is new to
    /// the table (not `in_table`) and the table is full: it must not be learned.
    pub fn confirm(&mut self, key: Key, now: Instant, in_table: bool) -> bool {
        if let Some(l) = self.learned.get_mut(&key) {
            *l = Learned::at(now);
            return true;
        }
        if !in_table && self.learned.len() >= self.policy.max_learned {
            self.counters.refused += 1;
            return false;
        }
        self.learned.insert(key, Learned::at(now));
        true
    }

    /// Stops tracking `key` (deleted, or made static).
    pub fn forget(&mut self, key: Key) {
        self.learned.remove(&key);
    }

    /// Stops tracking every entry on `iface` (deleted).
    pub fn forget_iface(&mut self, iface: IfIndex) {
        self.learned.retain(|&(i, _), _| i != iface);
    }

    /// Seconds since `key` was last confirmed, when it is a learned entry.
    pub fn since_confirmed(&self, key: Key, now: Instant) -> Option<Duration> {
        self.learned
            .get(&key)
            .map(|l| now.saturating_duration_since(l.confirmed))
    }

    /// One aging pass at `now` over the learned entries of `state`: queues the probes that
    /// are due into `probes` and returns the entries to remove. An entry the table learned
    /// some other way is tracked from `now`; one the table no longer has is forgotten. When
    /// `probes` is full, or [`PROBES_PER_PASS`] were queued, the rest wait for the next pass:
    /// thousands of entries learned together come due together, and their probes are spread
    /// out rather than broadcast at once.
    pub fn pass(&mut self, state: &FwdState, now: Instant, probes: &ProbeQueue) -> Vec<Key> {
        self.learned
            .retain(|k, _| state.neighbors.get(k).is_some_and(|n| !n.is_static));
        for (k, _) in state.neighbors.iter().filter(|(_, n)| !n.is_static) {
            self.learned.entry(*k).or_insert_with(|| Learned::at(now));
        }
        let Some(age) = self.policy.age else {
            return Vec::new();
        };
        let (limit, interval) = (self.policy.probes, self.policy.probe_interval);
        let mut expired = Vec::new();
        // The probes this pass may queue: the control plane is the queue's one producer, so
        // the room there now is room for the whole pass.
        let mut budget = PROBES_PER_PASS.min(probes.capacity() - probes.len());
        for (&(iface, ip), l) in &mut self.learned {
            let due = now.saturating_duration_since(l.confirmed) >= age
                && l.last_probe
                    .is_none_or(|t| now.saturating_duration_since(t) >= interval);
            if !due {
                continue;
            }
            if l.probes >= limit {
                expired.push((iface, ip));
                continue;
            }
            if budget == 0 || probes.push(NeighborProbe { iface, ip }).is_err() {
                continue;
            }
            budget -= 1;
            l.probes += 1;
            l.last_probe = Some(now);
            self.counters.probes += 1;
        }
        for k in &expired {
            self.learned.remove(k);
        }
        self.counters.aged_out += expired.len() as u64;
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fwd::Neighbor;
    use std::sync::Arc;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn state(entries: &[(Key, bool)]) -> FwdState {
        let mut s = FwdState::default();
        for &(k, is_static) in entries {
            s.neighbors.insert(
                k,
                Neighbor {
                    mac: MAC,
                    is_static,
                },
            );
        }
        s
    }

    fn queue() -> ProbeQueue {
        Arc::new(crossbeam_queue::ArrayQueue::new(16))
    }

    fn drain(q: &ProbeQueue) -> Vec<NeighborProbe> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    fn policy(age: u64, probes: u32, max: usize) -> NeighborPolicy {
        NeighborPolicy {
            age: Some(Duration::from_secs(age)),
            probes,
            probe_interval: Duration::from_secs(1),
            max_learned: max,
        }
    }

    /// Probed at the age, then once a second, removed after the last probe went unanswered.
    #[test]
    fn an_unconfirmed_entry_is_probed_then_removed() {
        let (t0, s) = (Instant::now(), Duration::from_millis);
        let k = (1, ip("10.0.0.2"));
        let st = state(&[(k, false)]);
        let q = queue();
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 2, 100));
        assert!(a.confirm(k, t0, false));
        assert!(a.pass(&st, t0 + s(9_999), &q).is_empty());
        assert!(drain(&q).is_empty(), "younger than its age: not probed");
        let at = t0 + s(10_000);
        assert!(a.pass(&st, at, &q).is_empty());
        assert_eq!(drain(&q), [NeighborProbe { iface: 1, ip: k.1 }]);
        assert!(a.pass(&st, at + s(999), &q).is_empty());
        assert!(drain(&q).is_empty(), "the next probe waits an interval");
        assert!(a.pass(&st, at + s(1_000), &q).is_empty());
        assert_eq!(drain(&q).len(), 1, "second probe");
        assert!(a.pass(&st, at + s(1_999), &q).is_empty(), "not yet");
        assert_eq!(a.pass(&st, at + s(2_000), &q), [k], "probes spent");
        assert!(drain(&q).is_empty());
        assert_eq!(
            a.counters(),
            NeighborCounters {
                probes: 2,
                aged_out: 1,
                refused: 0
            }
        );
        assert!(a.is_empty());
    }

    #[test]
    fn a_confirmation_starts_the_age_again() {
        let (t0, s) = (Instant::now(), Duration::from_secs);
        let k = (1, ip("10.0.0.2"));
        let st = state(&[(k, false)]);
        let q = queue();
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 1, 100));
        a.confirm(k, t0, false);
        a.pass(&st, t0 + s(10), &q);
        assert_eq!(drain(&q).len(), 1);
        // The reply to that probe.
        assert!(a.confirm(k, t0 + s(10), true));
        assert_eq!(a.since_confirmed(k, t0 + s(12)), Some(s(2)));
        assert!(a.pass(&st, t0 + s(11), &q).is_empty(), "not removed");
        assert!(a.pass(&st, t0 + s(19), &q).is_empty());
        assert!(drain(&q).is_empty(), "young again: no probe");
        a.pass(&st, t0 + s(20), &q);
        assert_eq!(drain(&q).len(), 1, "probed again one age later");
    }

    #[test]
    fn static_entries_and_no_age_are_never_probed() {
        let (t0, s) = (Instant::now(), Duration::from_secs);
        let (learned, fixed) = ((1, ip("10.0.0.2")), (1, ip("10.0.0.3")));
        let st = state(&[(learned, false), (fixed, true)]);
        let q = queue();
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 0, 100));
        // Tracked from the first pass, though nothing confirmed it through `confirm`.
        assert!(a.pass(&st, t0, &q).is_empty());
        assert_eq!(a.len(), 1, "the static entry is not tracked");
        assert_eq!(
            a.pass(&st, t0 + s(10), &q),
            [learned],
            "no probes: removed at its age"
        );
        assert!(drain(&q).is_empty());
        a.set_policy(NeighborPolicy {
            age: None,
            ..policy(10, 3, 100)
        });
        assert!(a.pass(&st, t0 + s(1_000_000), &q).is_empty());
        assert!(drain(&q).is_empty());
    }

    #[test]
    fn the_cap_refuses_new_entries_but_confirms_known_ones() {
        let t0 = Instant::now();
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 3, 2));
        let k = |n: u8| (1, Ipv4Addr::new(10, 0, 0, n));
        assert!(a.confirm(k(1), t0, false));
        assert!(a.confirm(k(2), t0, false));
        assert!(!a.confirm(k(3), t0, false), "full");
        assert!(
            a.confirm(k(1), t0, true),
            "a tracked entry is still confirmed"
        );
        assert!(
            a.confirm(k(4), t0, true),
            "one the table has but nobody tracked yet is not new: never refused"
        );
        assert_eq!(a.counters().refused, 1);
        a.forget(k(2));
        a.forget(k(4));
        assert!(a.confirm(k(3), t0, false), "room again");
    }

    /// Entries the table dropped (deleted, interface gone, made static) are forgotten at the
    /// next pass even when nobody called `forget`.
    #[test]
    fn a_pass_follows_the_table() {
        let t0 = Instant::now();
        let mut a = NeighborAging::default();
        let (k1, k2) = ((1, ip("10.0.0.2")), (2, ip("10.0.1.2")));
        a.confirm(k1, t0, false);
        a.confirm(k2, t0, false);
        a.pass(&state(&[(k1, true)]), t0, &queue());
        assert!(a.is_empty());
        a.confirm(k1, t0, false);
        a.confirm(k2, t0, false);
        a.forget_iface(2);
        assert_eq!(a.since_confirmed(k2, t0), None);
        assert_eq!(a.since_confirmed(k1, t0), Some(Duration::ZERO));
    }

    #[test]
    fn a_full_probe_queue_delays_probes_without_spending_them() {
        let (t0, s) = (Instant::now(), Duration::from_millis);
        let keys: Vec<Key> = (1..=20).map(|n| (1, Ipv4Addr::new(10, 0, 0, n))).collect();
        let st = state(&keys.iter().map(|&k| (k, false)).collect::<Vec<_>>());
        let q = queue();
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 1, 100));
        for &k in &keys {
            a.confirm(k, t0, false);
        }
        a.pass(&st, t0 + s(10_000), &q);
        assert_eq!(drain(&q).len(), 16, "as many as the queue holds");
        assert!(a.pass(&st, t0 + s(10_500), &q).is_empty());
        assert_eq!(drain(&q).len(), 4, "the rest at the next pass");
        assert_eq!(a.counters().probes, 20);
        assert_eq!(
            a.pass(&st, t0 + s(11_000), &q).len(),
            16,
            "each after its own probe"
        );
        assert_eq!(a.pass(&st, t0 + s(11_500), &q).len(), 4);
    }

    /// Entries learned together come due together: their probes go out PROBES_PER_PASS a
    /// pass, and the others keep theirs for the next.
    #[test]
    fn probes_are_spread_over_passes() {
        let (t0, s) = (Instant::now(), Duration::from_millis);
        let n = PROBES_PER_PASS + 100;
        let keys: Vec<Key> = (0..n as u32)
            .map(|i| (1, Ipv4Addr::from(0x0a00_0000 + i)))
            .collect();
        let st = state(&keys.iter().map(|&k| (k, false)).collect::<Vec<_>>());
        let q: ProbeQueue = Arc::new(crossbeam_queue::ArrayQueue::new(4 * n));
        let mut a = NeighborAging::default();
        a.set_policy(policy(10, 1, 2 * n));
        for &k in &keys {
            a.confirm(k, t0, false);
        }
        a.pass(&st, t0 + s(10_000), &q);
        assert_eq!(drain(&q).len(), PROBES_PER_PASS);
        a.pass(&st, t0 + s(10_100), &q);
        assert_eq!(drain(&q).len(), 100);
        assert_eq!(a.counters().probes, n as u64);
    }
}
