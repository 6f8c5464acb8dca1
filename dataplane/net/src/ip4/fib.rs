//! The IPv4 FIB: a DIR-24-8 longest-prefix-match table (the shape of DPDK's `rte_lpm`),
//! updated in place while workers read it.
//!
//! # Layout
//! - `tbl24`: 2^24 entries, one per /24, indexed by the top 24 bits of the address.
//! - `tbl8`: a fixed pool of groups of 256 entries; a /24 that holds a route longer than /24
//!   "extends" to one group, indexed by the last byte of the address.
//!
//! Each entry is one `AtomicU32` (see `Entry`): valid bit, "extends to tbl8" bit, the depth
//! (prefix length, 0-32) of the route that wrote it, and a 24-bit value: the next-hop id, or
//! the tbl8 group index. A lookup is one or two loads and never loops, locks or allocates.
//!
//! # Live updates
//! There is exactly one [`FibWriter`] (the control plane); workers hold [`FibReader`]s. The
//! writer changes entries in place with single atomic stores, so a concurrent lookup sees, for
//! each address, either the route before or the route after a change. A new tbl8 group is
//! filled completely before the `Release` store of the tbl24 entry that points to it, and
//! lookups load tbl24 with `Acquire`, so a reader never sees a half-built group. (`Release`
//! stores and `Acquire` loads everywhere also mean that whatever the caller wrote before
//! adding a route, e.g. the adjacency behind a next-hop id, is visible to a worker that finds
//! the route.) A group emptied by a delete collapses back into its tbl24 entry and is
//! retired to the RCU [`Domain`]; it is reused only after every online reader has passed a
//! quiescent state, so a worker still holding the old tbl24 entry reads the old group, not
//! somebody else's routes.
//!
//! The writer keeps the route set itself (one hash map per prefix length), to answer exact
//! queries and to find the covering route that a delete uncovers, as `rte_lpm` does.
//!
//! # Memory
//! tbl24 is 64 MiB; each tbl8 group is 1 KiB ([`FibConfig::tbl8_groups`]).
use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::rcu::{DeferQueue, Domain};

/// Number of tbl24 entries (one per /24).
const TBL24_LEN: usize = 1 << 24;
/// Entries per tbl8 group (one per address of a /24).
const TBL8_GROUP_LEN: usize = 256;
/// The largest next-hop id an entry can carry.
pub const MAX_NEXT_HOP: u32 = (1 << 24) - 1;
/// The largest number of tbl8 groups an entry can index.
pub const MAX_TBL8_GROUPS: u32 = 1 << 24;

/// One table entry, packed in a `u32` as
/// `valid:1 | extended:1 | depth:6 | value:24` (most significant bit first).
///
/// In tbl24, `extended` means `value` is a tbl8 group index. A tbl8 entry never has
/// `extended`. An invalid entry is all zeros.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Entry(u32);

impl Entry {
    const VALID: u32 = 1 << 31;
    const EXTENDED: u32 = 1 << 30;
    const DEPTH_SHIFT: u32 = 24;
    const DEPTH_MASK: u32 = 0x3f;
    const VALUE_MASK: u32 = MAX_NEXT_HOP;
    const INVALID: Entry = Entry(0);

    #[inline]
    fn route(next_hop: u32, depth: u8) -> Entry {
        Entry(Self::VALID | (u32::from(depth) << Self::DEPTH_SHIFT) | (next_hop & Self::VALUE_MASK))
    }

    #[inline]
    fn group(index: u32) -> Entry {
        Entry(Self::VALID | Self::EXTENDED | (index & Self::VALUE_MASK))
    }

    #[inline]
    fn is_valid(self) -> bool {
        self.0 & Self::VALID != 0
    }

    #[inline]
    fn is_extended(self) -> bool {
        self.0 & Self::EXTENDED != 0
    }

    #[inline]
    fn depth(self) -> u8 {
        ((self.0 >> Self::DEPTH_SHIFT) & Self::DEPTH_MASK) as u8
    }

    #[inline]
    fn value(self) -> u32 {
        self.0 & Self::VALUE_MASK
    }

    /// Whether a route of `depth` may overwrite this (non-extended) entry: the entry is empty
    /// or was written by a route no longer than `depth`.
    #[inline]
    fn yields_to(self, depth: u8) -> bool {
        !self.is_valid() || self.depth() <= depth
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_valid() {
            write!(f, "Entry(invalid)")
        } else if self.is_extended() {
            write!(f, "Entry(tbl8 group {})", self.value())
        } else {
            write!(f, "Entry(nh {} /{})", self.value(), self.depth())
        }
    }
}

/// Sizing of a FIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FibConfig {
    /// Most routes the FIB accepts (default 1,048,576).
    pub max_routes: usize,
    /// tbl8 groups, i.e. how many distinct /24s can hold routes longer than /24 at once
    /// (default 8192, 8 MiB; at most 2^24).
    pub tbl8_groups: u32,
    /// When every tbl8 group is in use but some are only waiting for the workers' grace
    /// period, how long `add` may wait for them before refusing (default 100 ms; workers
    /// normally pass a quiescent state within microseconds).
    pub reclaim_wait: Duration,
}

impl Default for FibConfig {
    fn default() -> Self {
        FibConfig {
            max_routes: 1 << 20,
            tbl8_groups: 8192,
            reclaim_wait: Duration::from_millis(100),
        }
    }
}

/// Why a FIB operation was refused. A refused operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FibError {
    /// The prefix length is over 32.
    #[error("invalid prefix length /{0}: must be 0 to 32")]
    InvalidLength(u8),
    /// The prefix has bits set beyond its length (e.g. 10.0.0.1/24).
    #[error("{prefix}/{len} has host bits set; did you mean {network}/{len}?")]
    HostBitsSet {
        /// The prefix as given.
        prefix: Ipv4Addr,
        /// Its length.
        len: u8,
        /// The prefix with the host bits cleared.
        network: Ipv4Addr,
    },
    /// The next-hop id does not fit in an entry's 24 bits.
    #[error("next-hop id {0} is too large (at most {MAX_NEXT_HOP})")]
    NextHopOutOfRange(u32),
    /// No route with this exact prefix and length.
    #[error("no route {prefix}/{len}")]
    NotFound {
        /// The prefix asked for.
        prefix: Ipv4Addr,
        /// Its length.
        len: u8,
    },
    /// A reserved route where a route is already.
    #[error("reserved route {0}/{1}: a route {0}/{1} is there already")]
    Reserved(Ipv4Addr, u8),
    /// The route table holds `max` routes already.
    #[error("route table full ({max} routes)")]
    RouteTableFull {
        /// [`FibConfig::max_routes`].
        max: usize,
    },
    /// No tbl8 group is free for a route longer than /24 in a new /24.
    #[error(
        "no free tbl8 group for a route longer than /24 ({total} groups in use, {awaiting} of \
         them waiting for workers to pass a quiescent state); raise tbl8_groups"
    )]
    Tbl8Exhausted {
        /// [`FibConfig::tbl8_groups`].
        total: u32,
        /// Groups freed but still waiting for the grace period.
        awaiting: usize,
    },
    /// The configuration cannot be built.
    #[error("invalid FIB configuration: {0}")]
    InvalidConfig(&'static str),
}

/// A route as the writer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Network address (host bits clear).
    pub prefix: Ipv4Addr,
    /// Prefix length, 0-32.
    pub len: u8,
    /// Next-hop id.
    pub next_hop: u32,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} -> {}", self.prefix, self.len, self.next_hop)
    }
}

/// Occupancy figures for `show fib` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FibStats {
    /// Routes installed.
    pub routes: usize,
    /// [`FibConfig::max_routes`].
    pub max_routes: usize,
    /// [`FibConfig::tbl8_groups`].
    pub tbl8_groups: u32,
    /// tbl8 groups attached to a /24.
    pub tbl8_in_use: u32,
    /// tbl8 groups detached but waiting for the workers' grace period.
    pub tbl8_awaiting_reclaim: u32,
}

/// The tables shared by the writer and the readers.
struct Tables {
    /// Fixed-size, so `addr >> 8` indexes it without a bounds check.
    tbl24: Box<[AtomicU32; TBL24_LEN]>,
    tbl8: Box<[AtomicU32]>,
}

impl Tables {
    fn new(tbl8_groups: u32) -> Result<Tables, FibError> {
        let tbl24: Box<[AtomicU32]> = std::iter::repeat_with(|| AtomicU32::new(0))
            .take(TBL24_LEN)
            .collect();
        let tbl24 = tbl24
            .try_into()
            .map_err(|_| FibError::InvalidConfig("tbl24 allocation has the wrong size"))?;
        let tbl8 = std::iter::repeat_with(|| AtomicU32::new(0))
            .take(tbl8_groups as usize * TBL8_GROUP_LEN)
            .collect();
        Ok(Tables { tbl24, tbl8 })
    }

    /// The tbl24 entry for `addr`. `Acquire`: pairs with the `Release` store that attached a
    /// freshly filled tbl8 group.
    #[inline(always)]
    fn tbl24_entry(&self, addr: u32) -> Entry {
        Entry(self.tbl24[(addr >> 8) as usize].load(Ordering::Acquire))
    }

    /// Resolves a tbl24 entry to the next hop of `addr`.
    #[inline(always)]
    fn resolve(&self, entry: Entry, addr: u32) -> Option<u32> {
        let entry = if entry.is_extended() {
            let index = ((entry.value() as usize) << 8) | (addr & 0xff) as usize;
            // `get`: a lookup must never panic, whatever the table holds.
            Entry(self.tbl8.get(index)?.load(Ordering::Acquire))
        } else {
            entry
        };
        if entry.is_valid() {
            Some(entry.value())
        } else {
            None
        }
    }

    #[inline]
    fn lookup(&self, addr: u32) -> Option<u32> {
        self.resolve(self.tbl24_entry(addr), addr)
    }

    // Writer-side accessors. Only the single writer stores, so its own loads can be relaxed.

    fn load24(&self, index: usize) -> Entry {
        Entry(self.tbl24[index].load(Ordering::Relaxed))
    }

    fn store24(&self, index: usize, entry: Entry) {
        self.tbl24[index].store(entry.0, Ordering::Release);
    }

    fn group(&self, group: u32) -> &[AtomicU32] {
        let start = group as usize * TBL8_GROUP_LEN;
        &self.tbl8[start..start + TBL8_GROUP_LEN]
    }
}

/// The worker side: lookups only. Cheap to clone (an `Arc`), `Send` and `Sync`.
///
/// A worker must own an online [`crate::rcu::Reader`] of the FIB's domain and must not hold a
/// lookup in progress across its quiescent point (a lookup is a single call, so this only
/// rules out calling `lookup` from a thread that never announces quiescent states).
#[derive(Clone)]
pub struct FibReader {
    tables: Arc<Tables>,
}

impl fmt::Debug for FibReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FibReader").finish_non_exhaustive()
    }
}

impl FibReader {
    /// The next-hop id of the longest prefix matching `addr` (host byte order, i.e.
    /// `u32::from(Ipv4Addr)`), or `None` when no route matches.
    #[inline]
    pub fn lookup(&self, addr: u32) -> Option<u32> {
        self.tables.lookup(addr)
    }

    /// [`FibReader::lookup`] for each of `addrs` into `out`, for the first
    /// `min(addrs.len(), out.len())` addresses. Four lookups at a time are interleaved (all
    /// four tbl24 loads issued before any is used) so their cache misses overlap.
    #[inline]
    pub fn lookup_bulk(&self, addrs: &[u32], out: &mut [Option<u32>]) {
        let n = addrs.len().min(out.len());
        let (addrs, out) = (&addrs[..n], &mut out[..n]);
        let mut a4 = addrs.chunks_exact(4);
        let mut o4 = out.chunks_exact_mut(4);
        for (a, o) in (&mut a4).zip(&mut o4) {
            if let (Ok(a), Ok(o)) = (
                <&[u32; 4]>::try_from(a),
                <&mut [Option<u32>; 4]>::try_from(o),
            ) {
                let t = &self.tables;
                let e = [
                    t.tbl24_entry(a[0]),
                    t.tbl24_entry(a[1]),
                    t.tbl24_entry(a[2]),
                    t.tbl24_entry(a[3]),
                ];
                o[0] = t.resolve(e[0], a[0]);
                o[1] = t.resolve(e[1], a[1]);
                o[2] = t.resolve(e[2], a[2]);
                o[3] = t.resolve(e[3], a[3]);
            }
        }
        for (a, o) in a4.remainder().iter().zip(o4.into_remainder()) {
            *o = self.lookup(*a);
        }
    }
}

/// The control-plane side: the only handle that changes the FIB.
pub struct FibWriter {
    tables: Arc<Tables>,
    /// Routes by prefix length (index 0-32): masked prefix -> next hop.
    routes: Vec<HashMap<u32, u32>>,
    /// Routes in the table, the reserved ones included.
    count: usize,
    /// Routes added by [`FibWriter::add_reserved`]: on top of `max_routes`, and not in `len`.
    reserved: usize,
    free_groups: Vec<u32>,
    retired_groups: DeferQueue<u32>,
    config: FibConfig,
}

impl fmt::Debug for FibWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FibWriter")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The netmask of a prefix length (0 for /0).
#[inline]
fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

/// Checks a (prefix, length) pair and returns the prefix as a `u32`.
fn check_prefix(prefix: Ipv4Addr, len: u8) -> Result<u32, FibError> {
    if len > 32 {
        return Err(FibError::InvalidLength(len));
    }
    let addr = u32::from(prefix);
    if addr & !mask(len) != 0 {
        return Err(FibError::HostBitsSet {
            prefix,
            len,
            network: Ipv4Addr::from(addr & mask(len)),
        });
    }
    Ok(addr)
}

impl FibWriter {
    /// An empty FIB whose freed tbl8 groups wait for the readers of `domain` (register one
    /// [`crate::rcu::Reader`] per worker that calls [`FibReader::lookup`]). This is the only
    /// writer; hand [`FibWriter::reader`]s to the workers.
    pub fn new(domain: &Domain, config: FibConfig) -> Result<FibWriter, FibError> {
        if config.tbl8_groups > MAX_TBL8_GROUPS {
            return Err(FibError::InvalidConfig("tbl8_groups is above 2^24"));
        }
        Ok(FibWriter {
            tables: Arc::new(Tables::new(config.tbl8_groups)?),
            routes: (0..=32).map(|_| HashMap::new()).collect(),
            count: 0,
            reserved: 0,
            // Popped from the end: hand out group 0 first, which keeps tests readable.
            free_groups: (0..config.tbl8_groups).rev().collect(),
            retired_groups: DeferQueue::new(domain.clone()),
            config,
        })
    }

    /// A reader for a worker (clone it or call this again for more workers).
    pub fn reader(&self) -> FibReader {
        FibReader {
            tables: Arc::clone(&self.tables),
        }
    }

    /// Adds `prefix/len -> next_hop`, or replaces the next hop of an existing route; returns
    /// the replaced next hop. On error nothing changed.
    pub fn add(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        next_hop: u32,
    ) -> Result<Option<u32>, FibError> {
        let addr = check_prefix(prefix, len)?;
        if next_hop > MAX_NEXT_HOP {
            return Err(FibError::NextHopOutOfRange(next_hop));
        }
        let old = self.routes[usize::from(len)].get(&addr).copied();
        if old == Some(next_hop) {
            return Ok(old);
        }
        if old.is_none() && self.count >= self.config.max_routes + self.reserved {
            return Err(FibError::RouteTableFull {
                max: self.config.max_routes,
            });
        }
        // The only step that can fail comes first, so nothing is half-applied.
        let new_group = if len > 24 && !self.tables.load24((addr >> 8) as usize).is_extended() {
            Some(self.alloc_group()?)
        } else {
            None
        };
        self.routes[usize::from(len)].insert(addr, next_hop);
        if old.is_none() {
            self.count += 1;
        }
        let entry = Entry::route(next_hop, len);
        if len <= 24 {
            self.write_short(addr, len, entry);
        } else {
            self.write_long(addr, len, entry, new_group);
        }
        Ok(old)
    }

    /// Deletes `prefix/len`; returns its next hop. Addresses it covered fall back to the
    /// longest shorter route covering them, as if it had never been added.
    pub fn delete(&mut self, prefix: Ipv4Addr, len: u8) -> Result<u32, FibError> {
        let addr = check_prefix(prefix, len)?;
        let Some(next_hop) = self.routes[usize::from(len)].remove(&addr) else {
            return Err(FibError::NotFound { prefix, len });
        };
        self.count -= 1;
        let cover = (0..len).rev().find_map(|d| {
            self.routes[usize::from(d)]
                .get(&(addr & mask(d)))
                .map(|&nh| Entry::route(nh, d))
        });
        let replacement = cover.unwrap_or(Entry::INVALID);
        if len <= 24 {
            self.erase_short(addr, len, replacement);
        } else {
            self.erase_long(addr, len, replacement);
        }
        Ok(next_hop)
    }

    /// The next hop of exactly `prefix/len`, if that route exists.
    pub fn get_exact(&self, prefix: Ipv4Addr, len: u8) -> Option<u32> {
        let addr = u32::from(prefix);
        if len > 32 || addr & !mask(len) != 0 {
            return None;
        }
        self.routes[usize::from(len)].get(&addr).copied()
    }

    /// Longest-prefix match through the tables, as a worker would see it (for `show`).
    pub fn lookup(&self, addr: Ipv4Addr) -> Option<u32> {
        self.tables.lookup(u32::from(addr))
    }

    /// Every route, shortest prefixes first, in no particular order within a length.
    pub fn iter(&self) -> impl Iterator<Item = Route> + '_ {
        self.routes.iter().enumerate().flat_map(|(len, routes)| {
            routes.iter().map(move |(&addr, &next_hop)| Route {
                prefix: Ipv4Addr::from(addr),
                len: len as u8,
                next_hop,
            })
        })
    }

    /// Every route sorted by address, then length (what `show fib` prints).
    pub fn routes_sorted(&self) -> Vec<Route> {
        let mut routes: Vec<Route> = self.iter().collect();
        routes.sort_unstable();
        routes
    }

    /// Adds a route the table keeps for itself (the control plane's special-use prefixes):
    /// it does not take one of the `max_routes`, nor count in `len`. Only for prefixes that
    /// are never replaced nor deleted afterwards.
    pub fn add_reserved(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        next_hop: u32,
    ) -> Result<(), FibError> {
        if self.get_exact(prefix, len).is_some() {
            return Err(FibError::Reserved(prefix, len));
        }
        self.reserved += 1;
        self.add(prefix, len, next_hop)
            .map(drop)
            .inspect_err(|_| self.reserved -= 1)
    }

    /// Number of routes (the reserved ones left out).
    pub fn len(&self) -> usize {
        self.count - self.reserved
    }

    /// Whether there are no routes (the reserved ones left out).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Occupancy figures.
    pub fn stats(&self) -> FibStats {
        let awaiting = self.retired_groups.len() as u32;
        FibStats {
            routes: self.len(),
            max_routes: self.config.max_routes,
            tbl8_groups: self.config.tbl8_groups,
            tbl8_in_use: self.config.tbl8_groups - self.free_groups.len() as u32 - awaiting,
            tbl8_awaiting_reclaim: awaiting,
        }
    }

    /// Returns to the free pool the tbl8 groups no worker can still read; call from the
    /// control plane's periodic tick (allocation also does it when it needs a group).
    /// Returns how many were freed.
    pub fn reclaim(&mut self) -> usize {
        let free = &mut self.free_groups;
        self.retired_groups.reclaim_into(|g| free.push(g))
    }

    fn alloc_group(&mut self) -> Result<u32, FibError> {
        if self.free_groups.is_empty() {
            self.reclaim();
        }
        if self.free_groups.is_empty() && !self.retired_groups.is_empty() {
            let free = &mut self.free_groups;
            // A timeout only means the pool stays empty; the error below says so.
            let _ = self
                .retired_groups
                .wait_reclaim_into(self.config.reclaim_wait, |g| free.push(g));
        }
        self.free_groups.pop().ok_or(FibError::Tbl8Exhausted {
            total: self.config.tbl8_groups,
            awaiting: self.retired_groups.len(),
        })
    }

    /// Writes a route of length <= 24 over every entry it covers that holds no longer route.
    fn write_short(&self, addr: u32, len: u8, entry: Entry) {
        let t = &*self.tables;
        let first = (addr >> 8) as usize;
        for index in first..first + (1usize << (24 - len)) {
            let current = t.load24(index);
            if current.is_extended() {
                // The /24 also holds longer routes: update the addresses they do not cover.
                for slot in t.group(current.value()) {
                    if Entry(slot.load(Ordering::Relaxed)).yields_to(len) {
                        slot.store(entry.0, Ordering::Release);
                    }
                }
            } else if current.yields_to(len) {
                t.store24(index, entry);
            }
        }
    }

    /// Writes a route of length > 24 into the tbl8 group of its /24; `new_group` is a free
    /// group to attach when the /24 has none yet.
    fn write_long(&self, addr: u32, len: u8, entry: Entry, new_group: Option<u32>) {
        let t = &*self.tables;
        let index = (addr >> 8) as usize;
        let current = t.load24(index);
        let (group, attach) = match new_group {
            Some(group) => (group, true),
            None => (current.value(), false),
        };
        let slots = t.group(group);
        if attach {
            // Start from what the /24 resolves to now, so the rest of it keeps its route.
            for slot in slots {
                slot.store(current.0, Ordering::Relaxed);
            }
        }
        let first = (addr & 0xff) as usize;
        for slot in &slots[first..first + (1usize << (32 - len))] {
            if Entry(slot.load(Ordering::Relaxed)).yields_to(len) {
                slot.store(entry.0, Ordering::Release);
            }
        }
        if attach {
            // Release: the group is complete before any reader can reach it.
            t.store24(index, Entry::group(group));
        }
    }

    /// Replaces the entries written by a deleted route of length <= 24 with `replacement`.
    fn erase_short(&self, addr: u32, len: u8, replacement: Entry) {
        let t = &*self.tables;
        let first = (addr >> 8) as usize;
        for index in first..first + (1usize << (24 - len)) {
            let current = t.load24(index);
            if current.is_extended() {
                for slot in t.group(current.value()) {
                    let e = Entry(slot.load(Ordering::Relaxed));
                    if e.is_valid() && e.depth() <= len {
                        slot.store(replacement.0, Ordering::Release);
                    }
                }
            } else if current.is_valid() && current.depth() <= len {
                t.store24(index, replacement);
            }
        }
    }

    /// Replaces the entries written by a deleted route of length > 24, then folds the group
    /// back into tbl24 when no route longer than /24 is left in it.
    fn erase_long(&mut self, addr: u32, len: u8, replacement: Entry) {
        let t = &*self.tables;
        let index = (addr >> 8) as usize;
        let current = t.load24(index);
        if !current.is_extended() {
            return; // cannot happen while the route set and tables agree
        }
        let group = current.value();
        let slots = t.group(group);
        let first = (addr & 0xff) as usize;
        for slot in &slots[first..first + (1usize << (32 - len))] {
            let e = Entry(slot.load(Ordering::Relaxed));
            if e.is_valid() && e.depth() <= len {
                slot.store(replacement.0, Ordering::Release);
            }
        }
        // Entries of depth <= 24 in one /24 all come from the same covering route, so the
        // group is redundant exactly when all its entries are equal and none is deeper.
        let head = Entry(slots[0].load(Ordering::Relaxed));
        let collapsible = (!head.is_valid() || head.depth() <= 24)
            && slots.iter().all(|s| s.load(Ordering::Relaxed) == head.0);
        if collapsible {
            t.store24(index, head);
            // Workers may still hold the old tbl24 entry: the group waits for a grace period.
            self.retired_groups.retire(group);
            self.reclaim();
        }
    }
}

#[cfg(test)]
mod tests;
