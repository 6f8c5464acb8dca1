//! Read-copy-update with quiescent-state-based reclamation (QSBR) for tables workers read.
//!
//! The shape follows DPDK's `rte_rcu_qsbr`: a global epoch counter and one cache-line-padded
//! slot per reader thread.
//!
//! - **Readers** (poll-mode workers) never lock and never wait. Once per loop, at a point where
//!   they hold no reference into any shared table, they call [`Reader::quiescent`]: one load of
//!   the global epoch and (only when it changed) one store into their own slot. An idle worker
//!   calls [`Reader::offline`] before it sleeps and [`Reader::online`] when it wakes, so a
//!   sleeping worker never holds back reclamation.
//! - **The writer** (the control plane, one thread at a time) unpublishes an object, then
//!   [`Domain::advance`]s the epoch, which yields a token ([`Epoch`]). Once every online reader
//!   has announced that epoch ([`Domain::poll`], non-blocking), no reader can still hold the
//!   object and it can be reclaimed. [`Domain::synchronize`] waits for that with a ramping
//!   backoff and a timeout; it is for the control plane only, never for a worker.
//! - [`DeferQueue`] retires objects (a `Box`, an `Arc`, a table slot index...) with their token
//!   and hands back or drops those that became safe, each time the writer polls it.
//! - [`Rcu`] / [`RcuReader`] publish whole-table snapshots (`Arc<T>`): a reader keeps a cached
//!   `Arc` and refreshes it at its quiescent point when a generation counter moved; the last
//!   reference to an old version is always dropped by the writer, never on a worker.
//!
//! # The protocol, and why each ordering is what it is
//!
//! Writer: unpublish `X`; `e = advance()` (epoch `e-1 -> e`); later, when every online slot is
//! `>= e`, reclaim `X`. Reader at its quiescent point: `e = epoch.load(Acquire)`;
//! `slot.store(e, Release)`.
//! - The reader's `Acquire` load of the epoch synchronises with the writer's `advance`: once a
//!   reader has announced `e`, all its later reads see the unpublish that preceded `e`.
//! - The reader's `Release` store orders all its earlier reads (which may have touched `X`)
//!   before the writer's `Acquire` load that sees `slot >= e`, so the writer reclaims only after
//!   those reads.
//! - Coming online is a store-then-load race against the writer's unpublish-then-scan (the
//!   "store buffering" pattern): both sides put a `SeqCst` fence between their store and their
//!   load, so either the writer sees the reader online, or the reader sees the new publication.
//!
//! Loom checks this protocol (`#[cfg(loom)]` tests at the bottom):
//! `RUSTFLAGS="--cfg loom" cargo test -p dp-net --release --lib rcu::loom`.
//!
//! # Rules for users
//! - A thread that reads a table protected here must own a registered, online [`Reader`] and
//!   must not keep any reference or index obtained from a table across a call to
//!   [`Reader::quiescent`] or [`Reader::offline`].
//! - The writer must not hold an online [`Reader`] of the same domain while it calls
//!   [`Domain::synchronize`]: it would wait for itself (and time out).
#![allow(unexpected_cfgs)] // `cfg(loom)` is set through RUSTFLAGS, not a Cargo feature.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

#[cfg(not(loom))]
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering, fence},
};

#[cfg(loom)]
use ::loom::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering, fence},
};

/// Value of a reader slot while the reader is offline or the slot is unused.
const OFFLINE: u64 = 0;

/// An epoch of a [`Domain`]: the token an object is retired with. Epochs only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

/// Errors of the RCU domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RcuError {
    /// Every reader slot is taken; the domain was created with `max` slots.
    #[error("all {max} RCU reader slots are registered; raise the domain's reader capacity")]
    TooManyReaders {
        /// Capacity of the domain.
        max: usize,
    },
    /// An online reader did not pass a quiescent state in time (a stuck or very slow worker).
    #[error(
        "RCU grace period for epoch {epoch} not reached after {waited:?}: an online reader did \
         not announce a quiescent state"
    )]
    Timeout {
        /// The epoch that was waited for.
        epoch: u64,
        /// How long the writer waited.
        waited: Duration,
    },
}

/// One reader's slot. 128-byte alignment rather than 64: x86 prefetches cache lines in pairs,
/// so two workers' slots 64 bytes apart would still bounce the same pair between cores.
#[repr(align(128))]
struct Slot {
    /// Last epoch the reader announced, or [`OFFLINE`].
    seen: AtomicU64,
    /// Whether a [`Reader`] currently owns this slot.
    claimed: AtomicBool,
}

struct Shared {
    /// The global epoch; starts at 1 so that [`OFFLINE`] (0) is never a real epoch.
    epoch: AtomicU64,
    slots: Box<[Slot]>,
}

/// An RCU domain: the global epoch and the reader slots. Cheap to clone (an `Arc`); give one
/// clone to each table writer and register one [`Reader`] per worker thread.
#[derive(Clone)]
pub struct Domain {
    shared: Arc<Shared>,
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Domain")
            .field("epoch", &self.shared.epoch.load(Ordering::Relaxed))
            .field("max_readers", &self.shared.slots.len())
            .field("online", &self.readers_online())
            .finish()
    }
}

impl Domain {
    /// A domain with room for `max_readers` registered readers (worker threads).
    pub fn new(max_readers: usize) -> Domain {
        let slots = (0..max_readers)
            .map(|_| Slot {
                seen: AtomicU64::new(OFFLINE),
                claimed: AtomicBool::new(false),
            })
            .collect();
        Domain {
            shared: Arc::new(Shared {
                epoch: AtomicU64::new(1),
                slots,
            }),
        }
    }

    /// Registers a reader (call on or for a worker thread, then move it there). The reader
    /// starts online. Its slot is released when it is dropped.
    pub fn register(&self) -> Result<Reader, RcuError> {
        for (index, slot) in self.shared.slots.iter().enumerate() {
            if slot
                .claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                let mut reader = Reader {
                    shared: Arc::clone(&self.shared),
                    index,
                    online: false,
                };
                reader.online();
                return Ok(reader);
            }
        }
        Err(RcuError::TooManyReaders {
            max: self.shared.slots.len(),
        })
    }

    /// The current epoch.
    pub fn current(&self) -> Epoch {
        Epoch(self.shared.epoch.load(Ordering::Acquire))
    }

    /// Starts a new epoch and returns it. Call after unpublishing an object; the object may be
    /// reclaimed once [`Domain::poll`] says the returned epoch is reached.
    pub fn advance(&self) -> Epoch {
        // AcqRel: Release publishes the writer's earlier unpublish to readers that load the
        // new epoch; Acquire keeps the writer's later slot scan after the increment.
        Epoch(self.shared.epoch.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// The newest epoch that every online reader has announced (the current epoch when no
    /// reader is online). Everything retired with a token `<=` this is safe to reclaim.
    pub fn quiesced(&self) -> Epoch {
        // Pairs with the fence in `Reader::online` (see the module doc): after it, a reader
        // this scan sees as offline is certain to see everything unpublished before it.
        fence(Ordering::SeqCst);
        let mut min = self.shared.epoch.load(Ordering::Acquire);
        for slot in self.shared.slots.iter() {
            let seen = slot.seen.load(Ordering::Acquire);
            if seen != OFFLINE && seen < min {
                min = seen;
            }
        }
        Epoch(min)
    }

    /// Whether every online reader has passed a quiescent state since `token` began
    /// (non-blocking).
    pub fn poll(&self, token: Epoch) -> bool {
        self.quiesced() >= token
    }

    /// Waits until every online reader has passed `token`, spinning briefly, then yielding,
    /// then sleeping in ramping steps (up to 1 ms). Control plane only.
    pub fn wait_for(&self, token: Epoch, timeout: Duration) -> Result<(), RcuError> {
        let start = Instant::now();
        let mut round: u32 = 0;
        loop {
            if self.poll(token) {
                return Ok(());
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(RcuError::Timeout {
                    epoch: token.0,
                    waited,
                });
            }
            backoff(round, timeout - waited);
            round = round.saturating_add(1);
        }
    }

    /// Starts a new epoch and waits until every online reader has passed it: afterwards no
    /// reader holds anything unpublished before this call. Control plane only.
    pub fn synchronize(&self, timeout: Duration) -> Result<(), RcuError> {
        let token = self.advance();
        self.wait_for(token, timeout)
    }

    /// How many registered readers are online now (for metrics and `show`).
    pub fn readers_online(&self) -> usize {
        self.shared
            .slots
            .iter()
            .filter(|s| s.seen.load(Ordering::Relaxed) != OFFLINE)
            .count()
    }

    /// How many readers can be registered at most.
    pub fn max_readers(&self) -> usize {
        self.shared.slots.len()
    }
}

/// One step of the writer's wait: a few spins (a worker loop is microseconds), then yields,
/// then sleeps growing to 1 ms so a long wait does not burn the control core.
fn backoff(round: u32, left: Duration) {
    if round < 64 {
        std::hint::spin_loop();
    } else if round < 128 {
        std::thread::yield_now();
    } else {
        let micros = 10u64 << ((round - 128) / 16).min(7);
        std::thread::sleep(Duration::from_micros(micros.min(1000)).min(left));
    }
}

/// A registered reader: owned by one worker thread (its methods take `&mut self`, so it
/// cannot be shared). Dropping it takes the reader offline and frees its slot.
pub struct Reader {
    shared: Arc<Shared>,
    index: usize,
    online: bool,
}

impl fmt::Debug for Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("slot", &self.index)
            .field("online", &self.online)
            .finish()
    }
}

impl Reader {
    #[inline]
    fn slot(&self) -> &Slot {
        &self.shared.slots[self.index]
    }

    /// Announces a quiescent state: the calling worker holds no reference into any table.
    /// Call once per loop. A load and, only when the epoch moved, a store to the reader's own
    /// cache line. Does nothing while offline.
    #[inline]
    pub fn quiescent(&mut self) {
        if !self.online {
            return;
        }
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        let slot = &self.slot().seen;
        // Only this reader writes its slot, so a relaxed read of it is exact.
        if slot.load(Ordering::Relaxed) != epoch {
            slot.store(epoch, Ordering::Release);
        }
    }

    /// Takes the reader offline (before an idle worker sleeps): the writer stops waiting for
    /// it. The worker must not read tables until [`Reader::online`].
    pub fn offline(&mut self) {
        // Release: the reads done while online come before the writer seeing us offline.
        self.slot().seen.store(OFFLINE, Ordering::Release);
        self.online = false;
    }

    /// Brings the reader back online; afterwards it may read tables again.
    pub fn online(&mut self) {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        self.slot().seen.store(epoch, Ordering::SeqCst);
        // Store-then-load against the writer's unpublish-then-scan: see the module doc.
        fence(Ordering::SeqCst);
        self.online = true;
    }

    /// Whether the reader is online.
    pub fn is_online(&self) -> bool {
        self.online
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.offline();
        self.slot().claimed.store(false, Ordering::Release);
    }
}

/// Objects retired by one writer, each with the epoch it was retired at, oldest first.
pub struct DeferQueue<T> {
    domain: Domain,
    items: VecDeque<(Epoch, T)>,
}

impl<T> fmt::Debug for DeferQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferQueue")
            .field("pending", &self.items.len())
            .finish()
    }
}

impl<T> DeferQueue<T> {
    /// An empty queue over `domain`.
    pub fn new(domain: Domain) -> Self {
        DeferQueue {
            domain,
            items: VecDeque::new(),
        }
    }

    /// Retires `item`, which the caller has already unpublished (no reader can find it any
    /// more), and returns the epoch it waits for.
    pub fn retire(&mut self, item: T) -> Epoch {
        let token = self.domain.advance();
        self.items.push_back((token, item));
        token
    }

    /// Hands every item that no reader can still hold to `f`, oldest first; returns how many.
    pub fn reclaim_into(&mut self, mut f: impl FnMut(T)) -> usize {
        let Some(&(oldest, _)) = self.items.front() else {
            return 0;
        };
        let safe = self.domain.quiesced();
        if safe < oldest {
            return 0;
        }
        let mut n = 0;
        // Tokens grow along the queue (epochs only grow), so the safe items are a prefix.
        while let Some((token, _)) = self.items.front() {
            if *token > safe {
                break;
            }
            if let Some((_, item)) = self.items.pop_front() {
                f(item);
                n += 1;
            }
        }
        n
    }

    /// Drops every item that no reader can still hold; returns how many.
    pub fn reclaim(&mut self) -> usize {
        self.reclaim_into(drop)
    }

    /// Waits (control plane only) until the oldest item can be reclaimed, then reclaims all
    /// that can be; returns how many. `Ok(0)` when the queue is empty.
    pub fn wait_reclaim_into(
        &mut self,
        timeout: Duration,
        f: impl FnMut(T),
    ) -> Result<usize, RcuError> {
        let Some(&(oldest, _)) = self.items.front() else {
            return Ok(0);
        };
        self.domain.wait_for(oldest, timeout)?;
        Ok(self.reclaim_into(f))
    }

    /// Items still waiting for a grace period.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits for a grace period.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The domain this queue waits on.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }
}

#[cfg(not(loom))]
pub use snapshot::{Rcu, RcuReader};

/// Whole-value snapshots published through `arc-swap` (not modelled by loom, hence its own
/// module and `cfg`).
#[cfg(not(loom))]
mod snapshot {
    use super::{DeferQueue, Domain, Epoch};
    use arc_swap::ArcSwap;
    use std::fmt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Published<T> {
        current: ArcSwap<T>,
        /// Bumped after each publish, so readers check one integer per loop instead of
        /// touching the `ArcSwap`.
        generation: AtomicU64,
    }

    /// The writer side of an RCU-published value: the only handle that can publish. Keeps
    /// every replaced version until no reader can hold it, then drops it itself, so a worker
    /// never runs a (possibly large) destructor.
    pub struct Rcu<T> {
        shared: Arc<Published<T>>,
        retired: DeferQueue<Arc<T>>,
    }

    impl<T> fmt::Debug for Rcu<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Rcu")
                .field("generation", &self.generation())
                .field("retired", &self.retired.len())
                .finish()
        }
    }

    impl<T> Rcu<T> {
        /// Publishes `initial` as generation 0.
        pub fn new(domain: &Domain, initial: T) -> Self {
            Rcu {
                shared: Arc::new(Published {
                    current: ArcSwap::from_pointee(initial),
                    generation: AtomicU64::new(0),
                }),
                retired: DeferQueue::new(domain.clone()),
            }
        }

        /// A reader handle for a worker (clone it for more workers).
        pub fn reader(&self) -> RcuReader<T> {
            RcuReader {
                cached: self.shared.current.load_full(),
                generation: self.shared.generation.load(Ordering::Acquire),
                shared: Arc::clone(&self.shared),
            }
        }

        /// The current version (writer's view).
        pub fn load(&self) -> Arc<T> {
            self.shared.current.load_full()
        }

        /// Generation of the current version (0 for the initial one).
        pub fn generation(&self) -> u64 {
            self.shared.generation.load(Ordering::Acquire)
        }

        /// Publishes `value` as the new version; the old one is retired. Returns the epoch
        /// after which the old version is out of every worker's hands.
        pub fn publish(&mut self, value: T) -> Epoch {
            self.publish_arc(Arc::new(value))
        }

        /// Like [`Rcu::publish`], for a value already in an `Arc`.
        pub fn publish_arc(&mut self, value: Arc<T>) -> Epoch {
            let old = self.shared.current.swap(value);
            // Release: a reader that sees the new generation then loads the new version.
            self.shared.generation.fetch_add(1, Ordering::Release);
            let token = self.retired.retire(old);
            self.reclaim();
            token
        }

        /// Copy-update: publishes `f(current)`.
        pub fn update(&mut self, f: impl FnOnce(&T) -> T) -> Epoch {
            let next = f(&self.load());
            self.publish(next)
        }

        /// Drops the retired versions no reader holds any more; returns how many. Call it
        /// from the control plane's periodic tick as well as after publishing.
        pub fn reclaim(&mut self) -> usize {
            let mut kept = Vec::new();
            let mut dropped = 0;
            self.retired.reclaim_into(|old| {
                // Past the grace period online readers have refreshed, but an offline reader
                // may still cache this version: keep it until ours is the last reference, so
                // the final drop stays on this thread.
                if Arc::strong_count(&old) == 1 {
                    drop(old);
                    dropped += 1;
                } else {
                    kept.push(old);
                }
            });
            // Re-queue what is still cached somewhere at the front with token 0: its grace
            // period has passed already, and 0 keeps the queue's tokens in ascending order.
            for old in kept.into_iter().rev() {
                self.retired.items.push_front((Epoch(0), old));
            }
            dropped
        }

        /// Retired versions not yet dropped.
        pub fn pending(&self) -> usize {
            self.retired.len()
        }
    }

    /// A worker's handle on an RCU-published value: a cached `Arc` read without any atomic
    /// operation, refreshed at the worker's quiescent point.
    pub struct RcuReader<T> {
        shared: Arc<Published<T>>,
        cached: Arc<T>,
        generation: u64,
    }

    impl<T> Clone for RcuReader<T> {
        fn clone(&self) -> Self {
            RcuReader {
                shared: Arc::clone(&self.shared),
                cached: Arc::clone(&self.cached),
                generation: self.generation,
            }
        }
    }

    impl<T> fmt::Debug for RcuReader<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("RcuReader")
                .field("generation", &self.generation)
                .finish()
        }
    }

    impl<T> RcuReader<T> {
        /// The cached version. Stable until the next [`RcuReader::refresh`].
        #[inline]
        pub fn get(&self) -> &T {
            &self.cached
        }

        /// Generation of the cached version.
        #[inline]
        pub fn generation(&self) -> u64 {
            self.generation
        }

        /// Picks up the newest version if one was published; returns whether it changed.
        /// Call at the worker's quiescent point, before [`super::Reader::quiescent`]. One
        /// relaxed-cost load when nothing changed; never blocks.
        #[inline]
        pub fn refresh(&mut self) -> bool {
            let generation = self.shared.generation.load(Ordering::Acquire);
            if generation == self.generation {
                return false;
            }
            self.refresh_slow(generation);
            true
        }

        #[cold]
        fn refresh_slow(&mut self, generation: u64) {
            // Replacing `cached` drops the worker's reference to the old version; the writer
            // still holds one, so this is never the final drop.
            self.cached = self.shared.current.load_full();
            self.generation = generation;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;
    use std::thread;

    #[test]
    fn register_until_full_then_slot_is_reused_after_drop() {
        let domain = Domain::new(2);
        let a = domain.register().unwrap();
        let _b = domain.register().unwrap();
        assert_eq!(domain.readers_online(), 2);
        assert_eq!(
            domain.register().unwrap_err(),
            RcuError::TooManyReaders { max: 2 }
        );
        drop(a);
        assert_eq!(domain.readers_online(), 1);
        assert!(domain.register().is_ok());
    }

    #[test]
    fn poll_waits_for_every_online_reader() {
        let domain = Domain::new(4);
        let mut r1 = domain.register().unwrap();
        let mut r2 = domain.register().unwrap();
        let token = domain.advance();
        assert!(!domain.poll(token));
        r1.quiescent();
        assert!(!domain.poll(token), "r2 has not passed a quiescent state");
        r2.quiescent();
        assert!(domain.poll(token));
        // A later epoch needs new quiescent states.
        let token2 = domain.advance();
        assert!(!domain.poll(token2));
        assert!(domain.poll(token));
    }

    #[test]
    fn offline_reader_does_not_block_and_online_reader_does_again() {
        let domain = Domain::new(1);
        let mut r = domain.register().unwrap();
        let token = domain.advance();
        assert!(!domain.poll(token));
        r.offline();
        assert!(
            domain.poll(token),
            "an idle worker must not block reclamation"
        );
        r.quiescent(); // no effect while offline
        assert_eq!(domain.readers_online(), 0);
        r.online();
        // Back online at the current epoch: what was retired before is still safe...
        assert!(domain.poll(token));
        // ...but a new retirement waits for it again.
        let token2 = domain.advance();
        assert!(!domain.poll(token2));
        r.quiescent();
        assert!(domain.poll(token2));
    }

    #[test]
    fn no_readers_means_immediately_safe() {
        let domain = Domain::new(1);
        let token = domain.advance();
        assert!(domain.poll(token));
        assert!(domain.synchronize(Duration::from_millis(1)).is_ok());
    }

    #[test]
    fn synchronize_times_out_on_a_stuck_reader_and_succeeds_with_a_live_one() {
        let domain = Domain::new(2);
        let stuck = domain.register().unwrap();
        let err = domain.synchronize(Duration::from_millis(20)).unwrap_err();
        assert!(
            matches!(err, RcuError::Timeout { waited, .. } if waited >= Duration::from_millis(20))
        );
        drop(stuck);

        let mut live = domain.register().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let worker = thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                while !stop.load(Ordering::Relaxed) {
                    live.quiescent();
                    std::hint::spin_loop();
                }
            }
        });
        let result = domain.synchronize(Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap();
        assert!(result.is_ok());
    }

    #[test]
    fn defer_queue_reclaims_in_order_only_after_grace_period() {
        let domain = Domain::new(1);
        let mut r = domain.register().unwrap();
        let mut q = DeferQueue::new(domain.clone());
        q.retire(1u32);
        q.retire(2u32);
        let mut got = Vec::new();
        assert_eq!(q.reclaim_into(|x| got.push(x)), 0);
        r.quiescent();
        q.retire(3u32); // retired after the reader's quiescent state: must wait
        assert_eq!(q.reclaim_into(|x| got.push(x)), 2);
        assert_eq!(got, vec![1, 2]);
        assert_eq!(q.len(), 1);
        r.quiescent();
        assert_eq!(q.reclaim_into(|x| got.push(x)), 1);
        assert_eq!(got, vec![1, 2, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn wait_reclaim_into_times_out_then_succeeds() {
        let domain = Domain::new(1);
        let mut r = domain.register().unwrap();
        let mut q = DeferQueue::new(domain.clone());
        q.retire(7u8);
        assert!(q.wait_reclaim_into(Duration::from_millis(5), drop).is_err());
        r.quiescent();
        assert_eq!(q.wait_reclaim_into(Duration::from_millis(5), drop), Ok(1));
    }

    /// Records on which thread a version was finally dropped.
    struct Version {
        generation: u64,
        writer: thread::ThreadId,
        dropped_elsewhere: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
    }

    impl Drop for Version {
        fn drop(&mut self) {
            if thread::current().id() != self.writer {
                self.dropped_elsewhere.fetch_add(1, Ordering::SeqCst);
            }
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn rcu_reader_refreshes_at_quiescent_point_and_writer_drops_old_versions() {
        let domain = Domain::new(1);
        let elsewhere = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let make = |generation| Version {
            generation,
            writer: thread::current().id(),
            dropped_elsewhere: Arc::clone(&elsewhere),
            dropped: Arc::clone(&dropped),
        };
        let mut rcu = Rcu::new(&domain, make(0));
        let mut snap = rcu.reader();
        let mut qsbr = domain.register().unwrap();
        assert_eq!(snap.get().generation, 0);

        rcu.publish(make(1));
        assert_eq!(snap.get().generation, 0, "stable until refresh");
        assert_eq!(rcu.pending(), 1);
        assert_eq!(rcu.reclaim(), 0, "the reader still holds version 0");

        assert!(snap.refresh());
        assert!(!snap.refresh());
        qsbr.quiescent();
        assert_eq!(snap.get().generation, 1);
        assert_eq!(rcu.reclaim(), 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 1);

        // An offline reader that still caches an old version delays the drop instead of
        // leaving the final drop to the worker.
        qsbr.offline();
        rcu.publish(make(2));
        assert_eq!(rcu.reclaim(), 0);
        assert_eq!(rcu.pending(), 1);
        qsbr.online();
        snap.refresh();
        qsbr.quiescent();
        assert_eq!(rcu.reclaim(), 1);
        assert_eq!(dropped.load(Ordering::SeqCst), 2);

        rcu.update(|v| make(v.generation + 1));
        assert_eq!(rcu.load().generation, 3);
        assert_eq!(rcu.generation(), 3);
        drop(snap);
        drop(qsbr);
        drop(rcu);
        assert_eq!(dropped.load(Ordering::SeqCst), 4);
        assert_eq!(elsewhere.load(Ordering::SeqCst), 0);
    }

    const POISON: u64 = u64::MAX;
    const STRESS_TIME: Duration = Duration::from_millis(1500);

    /// The tbl8 pattern: objects are slots of a fixed pool that the writer reuses. Readers
    /// read the published slot many times between quiescent states and check it still holds
    /// the generation it was published with; a slot reused or poisoned too early shows up as
    /// a mismatch. Readers also go offline and online now and then.
    #[test]
    fn stress_reused_slots_are_never_seen_changed_by_readers() {
        const POOL: usize = 4;
        const READERS: usize = 2;
        let domain = Domain::new(READERS);
        let pool: Arc<Vec<AtomicU64>> = Arc::new((0..POOL).map(|_| AtomicU64::new(1)).collect());
        // (slot << 48) | generation
        let published = Arc::new(AtomicU64::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(Mutex::new(Vec::<String>::new()));

        let readers: Vec<_> = (0..READERS)
            .map(|id| {
                let mut qsbr = domain.register().unwrap();
                let (pool, published, stop, errors) = (
                    Arc::clone(&pool),
                    Arc::clone(&published),
                    Arc::clone(&stop),
                    Arc::clone(&errors),
                );
                thread::spawn(move || {
                    let mut checks = 0u64;
                    let mut loops = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        loops += 1;
                        let p = published.load(Ordering::Acquire);
                        let (slot, generation) = ((p >> 48) as usize, p & 0xffff_ffff_ffff);
                        for _ in 0..32 {
                            let seen = pool[slot].load(Ordering::Acquire);
                            checks += 1;
                            if seen != generation {
                                errors.lock().unwrap().push(format!(
                                    "reader {id}: slot {slot} published with generation \
                                     {generation} now holds {seen:#x}"
                                ));
                                return checks;
                            }
                        }
                        if loops % 1024 == id as u64 {
                            qsbr.offline();
                            thread::yield_now();
                            qsbr.online();
                        } else {
                            qsbr.quiescent();
                        }
                    }
                    checks
                })
            })
            .collect();

        let mut free: Vec<usize> = (1..POOL).collect();
        let mut queue = DeferQueue::new(domain.clone());
        let mut current = 0usize;
        let mut generation = 1u64;
        let mut reuses = 0u64;
        let start = Instant::now();
        while start.elapsed() < STRESS_TIME {
            let next = match free.pop() {
                Some(slot) => slot,
                None => {
                    let got = queue.wait_reclaim_into(Duration::from_secs(5), |slot: usize| {
                        pool[slot].store(POISON, Ordering::Release);
                        free.push(slot);
                    });
                    assert!(got.is_ok(), "readers stopped announcing: {got:?}");
                    continue;
                }
            };
            reuses += 1;
            generation += 1;
            pool[next].store(generation, Ordering::Release);
            published.store(((next as u64) << 48) | generation, Ordering::Release);
            queue.retire(current);
            current = next;
            queue.reclaim_into(|slot| {
                pool[slot].store(POISON, Ordering::Release);
                free.push(slot);
            });
        }
        stop.store(true, Ordering::Relaxed);
        let checks: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        let errors = errors.lock().unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(checks > 1000, "readers barely ran ({checks} checks)");
        assert!(reuses > 100, "writer barely reused slots ({reuses})");
        eprintln!("rcu stress: {reuses} slot reuses, {checks} reader checks");
    }

    /// `Rcu<T>` under load: readers refresh every loop and check the snapshot they hold is
    /// intact and never goes backwards; every old version is dropped on the writer thread.
    #[test]
    fn stress_rcu_snapshots() {
        const READERS: usize = 2;
        let domain = Domain::new(READERS);
        let elsewhere = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let writer = thread::current().id();
        let make = |generation| Version {
            generation,
            writer,
            dropped_elsewhere: Arc::clone(&elsewhere),
            dropped: Arc::clone(&dropped),
        };
        let mut rcu = Rcu::new(&domain, make(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let mut qsbr = domain.register().unwrap();
                let mut snap = rcu.reader();
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    let mut last = 0;
                    let mut refreshes = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let v = snap.get();
                        assert_eq!(v.writer, writer, "snapshot corrupted");
                        assert!(
                            v.generation >= last,
                            "went back from {last} to {}",
                            v.generation
                        );
                        last = v.generation;
                        if snap.refresh() {
                            refreshes += 1;
                        }
                        qsbr.quiescent();
                    }
                    refreshes
                })
            })
            .collect();
        let start = Instant::now();
        let mut generation = 0;
        while start.elapsed() < STRESS_TIME {
            generation += 1;
            rcu.publish(make(generation));
            if generation & 63 == 0 {
                thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        let refreshes: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        // The readers are gone: everything but the current version can now go.
        let until = Instant::now() + Duration::from_secs(5);
        while rcu.pending() > 0 && Instant::now() < until {
            rcu.reclaim();
        }
        assert_eq!(rcu.pending(), 0);
        assert_eq!(dropped.load(Ordering::SeqCst), generation as usize);
        assert_eq!(
            elsewhere.load(Ordering::SeqCst),
            0,
            "a worker dropped a version"
        );
        assert!(refreshes > 0);
        eprintln!("rcu snapshot stress: {generation} versions, {refreshes} reader refreshes");
    }
}

/// Model-checked with loom: `RUSTFLAGS="--cfg loom" cargo test -p dp-net --release --lib
/// rcu::loom`. Each model is an unpublish/retire/reclaim race in which the writer poisons what
/// it reclaims and the reader asserts it never reads poison. Removing the fence in
/// `Reader::online` or shortening the grace period by one epoch makes them fail. Loom does not
/// explore load buffering (a load reading a later store), so it cannot catch a `Relaxed`
/// instead of `Release` slot store in `quiescent`; that one rests on the argument in the
/// module doc.
#[cfg(all(test, loom))]
mod loom {
    use super::*;
    use ::loom::sync::atomic::AtomicUsize;
    use ::loom::thread;

    const POISON: u64 = u64::MAX;

    struct World {
        objects: [AtomicU64; 2],
        published: AtomicUsize,
    }

    fn world() -> Arc<World> {
        Arc::new(World {
            objects: [AtomicU64::new(10), AtomicU64::new(11)],
            published: AtomicUsize::new(0),
        })
    }

    fn read_published(w: &World) {
        let i = w.published.load(Ordering::Acquire);
        let v = w.objects[i].load(Ordering::Relaxed);
        assert_ne!(v, POISON, "read object {i} after it was reclaimed");
    }

    /// The writer swaps the published object and reclaims the old one as soon as it may
    /// (twice, so both sides of the reader's quiescent state are explored).
    fn writer(domain: &Domain, w: &World) {
        let mut q = DeferQueue::new(domain.clone());
        w.published.store(1, Ordering::Release);
        q.retire(0usize);
        for _ in 0..2 {
            q.reclaim_into(|i| w.objects[i].store(POISON, Ordering::Relaxed));
        }
    }

    #[test]
    fn quiescent_reader_never_sees_reclaimed_object() {
        ::loom::model(|| {
            let domain = Domain::new(1);
            let w = world();
            let mut reader = domain.register().unwrap();
            let t = thread::spawn({
                let w = Arc::clone(&w);
                move || {
                    read_published(&w);
                    reader.quiescent();
                    read_published(&w);
                }
            });
            writer(&domain, &w);
            t.join().unwrap();
        });
    }

    #[test]
    fn reader_coming_online_never_sees_reclaimed_object() {
        ::loom::model(|| {
            let domain = Domain::new(1);
            let w = world();
            let mut reader = domain.register().unwrap();
            reader.offline();
            let t = thread::spawn({
                let w = Arc::clone(&w);
                move || {
                    reader.online();
                    read_published(&w);
                    reader.offline();
                }
            });
            writer(&domain, &w);
            t.join().unwrap();
        });
    }

    /// Three threads explode the state space: bounded to 4 preemptions (2.6 s in release).
    #[test]
    fn two_readers_both_hold_back_reclamation() {
        let mut builder = ::loom::model::Builder::new();
        builder.preemption_bound = Some(4);
        builder.check(|| {
            let domain = Domain::new(2);
            let w = world();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let mut reader = domain.register().unwrap();
                    let w = Arc::clone(&w);
                    thread::spawn(move || {
                        read_published(&w);
                        reader.quiescent();
                    })
                })
                .collect();
            writer(&domain, &w);
            for t in threads {
                t.join().unwrap();
            }
        });
    }
}
