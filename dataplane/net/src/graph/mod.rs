//! The vector packet graph: nodes that each handle a vector of up to 256 packets in one tight
//! loop, and a run-to-completion dispatcher per worker.
//!
//! A node writes one next arc per packet into a small array; the dispatcher then moves the
//! packets to the next nodes' pending vectors in one pass, or moves the whole vector when every
//! packet takes the same arc (the common case). Arcs are declared per node as a typed enum with
//! [`crate::arcs!`], drop/error reasons as a typed enum with [`crate::errors!`]; both carry the
//! names `show runtime` and `show errors` print. Node 0 is always `drop`, which frees packets.
//!
//! Every counter here (calls, packets, clocks, drops by reason) belongs to one worker's graph
//! and is a plain integer: no atomics, no sharing on the hot path. The control plane reads
//! copies the worker publishes.
//!
//! The graph may have cycles (vxlan-decap feeds ethernet-input): the dispatcher keeps sweeping
//! the nodes in order until no vector is pending, and nodes that create cycles bound them
//! (a decapsulation depth in the packet's metadata).

use std::collections::VecDeque;
use std::fmt;

use crate::buffer::{PacketAlloc, PacketBuf};

pub mod capture;
#[cfg(test)]
pub(crate) mod testing;
pub mod trace;

/// Packets per vector.
pub const VECTOR_SIZE: usize = 256;

/// A vector of packets.
pub type Vector<B> = arrayvec::ArrayVec<B, VECTOR_SIZE>;

/// One next arc per packet, written by a node.
pub type Nexts = [u8; VECTOR_SIZE];

/// A node's index in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u16);

/// The built-in drop node's id.
pub const DROP: NodeId = NodeId(0);

/// Declares a node's next arcs: `arcs! { pub enum FooNext { Drop => "drop", Out => "bar" } }`.
/// Each variant names the node it leads to.
#[macro_export]
macro_rules! arcs {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident => $target:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        $vis enum $name { $($(#[$vm])* $var),+ }
        impl $name {
            /// Target node names, indexed by arc.
            pub const TARGETS: &'static [&'static str] = &[$($target),+];
            /// The arc number written into the next array.
            #[inline(always)]
            pub const fn arc(self) -> u8 {
                self as u8
            }
        }
    };
}

/// Declares a node's error/drop reasons with the text `show errors` prints:
/// `errors! { pub enum FooError { Runt => "frame shorter than 14 bytes" } }`.
#[macro_export]
macro_rules! errors {
    ($(#[$m:meta])* $vis:vis enum $name:ident { $($(#[$vm:meta])* $var:ident => $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        $vis enum $name { $($(#[$vm])* $var),* }
        impl $name {
            /// Reason texts, indexed by reason.
            pub const NAMES: &'static [&'static str] = &[$($text),*];
            #[inline(always)]
            pub const fn idx(self) -> usize {
                self as usize
            }
            /// This reason's text, as `show errors` prints it.
            #[allow(dead_code, reason = "a private reason list may never be named")]
            pub const fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }
    };
}

/// What a node gets besides its packets: its error counters, an allocator for packets it
/// creates, and a place to put them.
pub struct NodeCtx<'a, B: PacketBuf> {
    errors: &'a mut [u64],
    alloc: &'a mut dyn PacketAlloc<B>,
    emitted: &'a mut Vec<(u8, B)>,
    /// Clock value at the start of the call (TSC in the dataplane).
    pub now: u64,
}

impl<B: PacketBuf> NodeCtx<'_, B> {
    /// Counts one packet under error reason `idx`.
    #[inline(always)]
    pub fn count(&mut self, idx: usize) {
        if let Some(c) = self.errors.get_mut(idx) {
            *c += 1;
        }
    }

    /// Counts `n` packets under error reason `idx`.
    #[inline(always)]
    pub fn count_n(&mut self, idx: usize, n: u64) {
        if let Some(c) = self.errors.get_mut(idx) {
            *c += n;
        }
    }

    /// A new, empty packet (e.g. an ARP request), or `None` when the pool is empty.
    #[inline]
    pub fn alloc(&mut self) -> Option<B> {
        self.alloc.alloc()
    }

    /// Sends a packet the node created down `arc`, after this vector's packets.
    #[inline]
    pub fn emit(&mut self, arc: u8, pkt: B) {
        self.emitted.push((arc, pkt));
    }
}

/// A graph node.
pub trait Node<B: PacketBuf>: Send {
    /// Unique name (`show runtime` prints it; arcs of other nodes name it).
    fn name(&self) -> &'static str;
    /// Target node names, indexed by arc number (`FooNext::TARGETS`).
    fn arcs(&self) -> &'static [&'static str];
    /// Error reason texts, indexed by reason (`FooError::NAMES`).
    fn errors(&self) -> &'static [&'static str] {
        &[]
    }
    /// Handles `pkts`: may change them, must keep them all (in order) and write one arc per
    /// packet into `next[..pkts.len()]` — or, for a sink such as drop or port-tx, consume
    /// them all.
    fn process(&mut self, pkts: &mut Vector<B>, next: &mut Nexts, ctx: &mut NodeCtx<'_, B>);
    /// Called at the worker's quiescent point, between loops: refresh table snapshots.
    fn quiescent(&mut self) {}
    /// A source node (added with [`GraphBuilder::add_source`]) makes packets of its own, as
    /// VPP's input nodes do: whether it has some to make now. Asked at every
    /// [`Graph::poll_sources`] (the dataplane's workers: up to 1000 times a second), so keep
    /// it to a load or two; when `true`, `process` is called with an empty vector and sends
    /// what it makes with [`NodeCtx::emit`].
    fn has_work(&self) -> bool {
        false
    }
}

/// The built-in drop node: frees what reaches it. Reasons are counted by the senders.
#[derive(Debug, Default)]
pub struct DropNode;

impl<B: PacketBuf> Node<B> for DropNode {
    fn name(&self) -> &'static str {
        "drop"
    }
    fn arcs(&self) -> &'static [&'static str] {
        &[]
    }
    fn process(&mut self, pkts: &mut Vector<B>, _next: &mut Nexts, _ctx: &mut NodeCtx<'_, B>) {
        B::free_all(pkts);
    }
}

/// Per-node counters of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub calls: u64,
    pub packets: u64,
    pub clocks: u64,
    /// Indexed like the node's `errors()`.
    pub errors: Vec<u64>,
}

impl NodeStats {
    pub fn clocks_per_packet(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.clocks as f64 / self.packets as f64
        }
    }
    pub fn packets_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.packets as f64 / self.calls as f64
        }
    }
}

/// A node's name, counters and reason texts, for reports.
#[derive(Debug, Clone)]
pub struct NodeReport {
    pub name: &'static str,
    pub stats: NodeStats,
    pub error_names: &'static [&'static str],
}

impl NodeReport {
    /// The reasons this node counted at least once, with their counts, in reason order: what
    /// `show errors` and test failures print.
    pub fn nonzero_errors(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.error_names
            .iter()
            .zip(&self.stats.errors)
            .filter(|&(_, &n)| n > 0)
            .map(|(&reason, &n)| (reason, n))
    }
}

/// A graph that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    DuplicateNode(&'static str),
    UnknownArcTarget {
        node: &'static str,
        target: &'static str,
    },
    TooManyNodes,
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::DuplicateNode(n) => write!(f, "two nodes are named `{n}`"),
            GraphError::UnknownArcTarget { node, target } => {
                write!(
                    f,
                    "node `{node}` has an arc to `{target}`, which is not in the graph"
                )
            }
            GraphError::TooManyNodes => write!(f, "too many nodes"),
        }
    }
}

impl std::error::Error for GraphError {}

/// Collects nodes, then resolves their arcs by name.
pub struct GraphBuilder<B: PacketBuf> {
    nodes: Vec<Box<dyn Node<B>>>,
    sources: Vec<NodeId>,
}

impl<B: PacketBuf + 'static> Default for GraphBuilder<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: PacketBuf + 'static> GraphBuilder<B> {
    /// A builder holding the drop node (id 0).
    pub fn new() -> Self {
        GraphBuilder {
            nodes: vec![Box::new(DropNode)],
            sources: Vec::new(),
        }
    }

    /// Adds a node. Nodes run in the order added when several have work, so add them in
    /// pipeline order (input first, tx last).
    pub fn add(&mut self, node: impl Node<B> + 'static) -> NodeId {
        self.nodes.push(Box::new(node));
        NodeId((self.nodes.len() - 1) as u16)
    }

    /// Adds a source node: one [`Graph::poll_sources`] asks whether it has work
    /// ([`Node::has_work`]).
    pub fn add_source(&mut self, node: impl Node<B> + 'static) -> NodeId {
        let id = self.add(node);
        self.sources.push(id);
        id
    }

    /// Resolves every arc. `clock` timestamps node calls (TSC in the dataplane).
    pub fn build(
        self,
        clock: fn() -> u64,
        alloc: Box<dyn PacketAlloc<B> + Send>,
    ) -> Result<Graph<B>, GraphError> {
        if self.nodes.len() > u16::MAX as usize {
            return Err(GraphError::TooManyNodes);
        }
        let names: Vec<&'static str> = self.nodes.iter().map(|n| n.name()).collect();
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(GraphError::DuplicateNode(n));
            }
        }
        let mut slots = Vec::with_capacity(self.nodes.len());
        for node in self.nodes {
            let mut arcs = Vec::new();
            for target in node.arcs() {
                let id =
                    names
                        .iter()
                        .position(|n| n == target)
                        .ok_or(GraphError::UnknownArcTarget {
                            node: node.name(),
                            target,
                        })?;
                arcs.push(NodeId(id as u16));
            }
            let errors = vec![0; node.errors().len()];
            slots.push(Slot {
                node,
                arcs,
                pending: VecDeque::new(),
                stats: NodeStats {
                    errors,
                    ..Default::default()
                },
            });
        }
        Ok(Graph {
            slots,
            free: Vec::new(),
            next: Box::new([0; VECTOR_SIZE]),
            emitted: Vec::with_capacity(VECTOR_SIZE),
            clock,
            alloc,
            tracer: trace::Tracer::default(),
            capture: None,
            sources: self.sources,
        })
    }
}

struct Slot<B: PacketBuf> {
    node: Box<dyn Node<B>>,
    arcs: Vec<NodeId>,
    pending: VecDeque<Box<Vector<B>>>,
    stats: NodeStats,
}

/// One worker's graph: nodes, their pending vectors and counters.
pub struct Graph<B: PacketBuf> {
    slots: Vec<Slot<B>>,
    /// Spare vectors, reused so the steady state allocates nothing.
    free: Vec<Box<Vector<B>>>,
    next: Box<Nexts>,
    emitted: Vec<(u8, B)>,
    clock: fn() -> u64,
    alloc: Box<dyn PacketAlloc<B> + Send>,
    tracer: trace::Tracer,
    capture: Option<capture::Capture>,
    /// Nodes added with [`GraphBuilder::add_source`].
    sources: Vec<NodeId>,
}

impl<B: PacketBuf> fmt::Debug for Graph<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.slots.len())
            .finish()
    }
}

impl<B: PacketBuf> Graph<B> {
    /// The id of the node named `name`.
    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.slots
            .iter()
            .position(|s| s.node.name() == name)
            .map(|i| NodeId(i as u16))
    }

    /// An empty vector for an input to fill (from the spare list when possible).
    #[inline]
    pub fn take_vector(&mut self) -> Box<Vector<B>> {
        self.free.pop().unwrap_or_default()
    }

    /// Gives back a vector taken with `take_vector` (its packets are dropped).
    #[inline]
    pub fn give_vector(&mut self, mut v: Box<Vector<B>>) {
        v.clear();
        self.free.push(v);
    }

    /// Queues a whole vector for `node` (the input path).
    #[inline]
    pub fn enqueue_vector(&mut self, node: NodeId, mut v: Box<Vector<B>>) {
        if v.is_empty() {
            self.give_vector(v);
            return;
        }
        if self.tracer.wants_more() {
            self.tracer.mark(&mut v);
        }
        self.slots[node.0 as usize].pending.push_back(v);
    }

    /// Queues one packet for `node`.
    #[inline]
    pub fn enqueue(&mut self, node: NodeId, pkt: B) {
        let free = &mut self.free;
        push(&mut self.slots[node.0 as usize].pending, free, pkt);
    }

    /// Attributes work done outside the graph (the rx poll) to `node`'s counters.
    #[inline]
    pub fn account(&mut self, node: NodeId, packets: u64, clocks: u64) {
        let s = &mut self.slots[node.0 as usize].stats;
        s.calls += 1;
        s.packets += packets;
        s.clocks += clocks;
    }

    /// Counts `n` packets under reason `reason` of `node` (`node.errors()[reason]`): drops
    /// made outside the graph, on the rx poll, show with the graph's own.
    ///
    /// # Panics
    /// If `reason` is not one of the node's reasons.
    #[inline]
    pub fn count(&mut self, node: NodeId, reason: usize, n: u64) {
        self.slots[node.0 as usize].stats.errors[reason] += n;
    }

    /// Lets every source node that has work ([`Node::has_work`]) make its packets, which then
    /// wait in their next nodes' vectors for [`Graph::run`]. Returns whether any had work.
    pub fn poll_sources(&mut self) -> bool {
        let mut any = false;
        for k in 0..self.sources.len() {
            let id = self.sources[k].0 as usize;
            if self.slots[id].node.has_work() {
                any = true;
                let v = self.take_vector();
                self.dispatch(id, v);
            }
        }
        any
    }

    /// Runs every pending vector to completion; returns the packets processed (counting a
    /// packet once per node it went through).
    pub fn run(&mut self) -> usize {
        let mut total = 0;
        loop {
            let mut any = false;
            for id in 0..self.slots.len() {
                while let Some(v) = self.slots[id].pending.pop_front() {
                    any = true;
                    total += self.dispatch(id, v);
                }
            }
            if !any {
                return total;
            }
        }
    }

    fn dispatch(&mut self, id: usize, mut v: Box<Vector<B>>) -> usize {
        let n = v.len();
        if self.tracer.active() {
            self.tracer.visit(self.slots[id].node.name(), &v);
        }
        if let Some(c) = self.capture.as_mut()
            && c.spec.node.0 as usize == id
            && !c.done()
        {
            c.take(&v);
        }
        let t0 = (self.clock)();
        {
            let slot = &mut self.slots[id];
            let mut ctx = NodeCtx {
                errors: &mut slot.stats.errors,
                alloc: &mut *self.alloc,
                emitted: &mut self.emitted,
                now: t0,
            };
            slot.node.process(&mut v, &mut self.next, &mut ctx);
        }
        let t1 = (self.clock)();
        let slot = &mut self.slots[id];
        slot.stats.calls += 1;
        slot.stats.packets += n as u64;
        slot.stats.clocks += t1.wrapping_sub(t0);

        // Move packets on. Arcs are taken out of the slot so other slots can be borrowed.
        let arcs = std::mem::take(&mut slot.arcs);
        let m = v.len();
        // A node keeps every packet (and names an arc for each) or consumes them all (drop,
        // port-tx); anything in between would misalign the arcs.
        debug_assert!(
            m == n || m == 0,
            "node {} lost some of its packets",
            slot.node.name()
        );
        if m > 0 {
            let first = self.next[0];
            if all_equal(&self.next[..m], first) {
                // The common case: the whole vector goes one way.
                let target = arcs[first as usize].0 as usize;
                let q = &mut self.slots[target].pending;
                if q.back().is_none_or(|last| last.len() + m > VECTOR_SIZE) {
                    q.push_back(v);
                    v = self.free.pop().unwrap_or_default();
                } else {
                    let last = q.back_mut().expect("checked non-empty");
                    last.extend(v.drain(..));
                }
            } else {
                for (i, pkt) in v.drain(..).enumerate() {
                    let target = arcs[self.next[i] as usize].0 as usize;
                    push(&mut self.slots[target].pending, &mut self.free, pkt);
                }
            }
        }
        if n == 0 {
            // A source node's call (the only call without packets): its packets are the ones
            // it made, so `show runtime` gives it clocks per packet like the others.
            self.slots[id].stats.packets += self.emitted.len() as u64;
        }
        for (arc, pkt) in self.emitted.drain(..) {
            let target = arcs[arc as usize].0 as usize;
            push(&mut self.slots[target].pending, &mut self.free, pkt);
        }
        self.slots[id].arcs = arcs;
        v.clear();
        self.free.push(v);
        n
    }

    /// Calls every node's `quiescent` (the worker's quiescent point).
    pub fn quiescent(&mut self) {
        for s in &mut self.slots {
            s.node.quiescent();
        }
    }

    /// Counters of every node.
    pub fn report(&self) -> Vec<NodeReport> {
        self.slots
            .iter()
            .map(|s| NodeReport {
                name: s.node.name(),
                stats: s.stats.clone(),
                error_names: s.node.errors(),
            })
            .collect()
    }

    /// Counters of one node.
    pub fn stats(&self, node: NodeId) -> &NodeStats {
        &self.slots[node.0 as usize].stats
    }

    /// Starts tracing the next `count` packets that enter through `enqueue_vector`.
    pub fn trace(&mut self, count: usize) {
        self.tracer.start(count);
    }

    /// Starts a capture (replacing any running one).
    pub fn start_capture(&mut self, spec: capture::CaptureSpec) {
        self.capture = Some(capture::Capture::new(spec));
    }

    /// The packets captured so far (the capture goes on until its bounds or `stop_capture`).
    pub fn drain_capture(&mut self) -> Vec<capture::Captured> {
        self.capture
            .as_mut()
            .map(|c| std::mem::take(&mut c.packets))
            .unwrap_or_default()
    }

    /// Whether a capture is running and not yet at its bounds.
    pub fn capturing(&self) -> bool {
        self.capture.as_ref().is_some_and(|c| !c.done())
    }

    /// Stops the capture; returns what was not drained yet.
    pub fn stop_capture(&mut self) -> Vec<capture::Captured> {
        self.capture.take().map(|c| c.packets).unwrap_or_default()
    }

    /// The traces recorded so far, tracing going on for the packets still wanted. Call between
    /// `run`s (every traced packet's path is then complete).
    pub fn drain_traces(&mut self) -> Vec<trace::PacketTrace> {
        self.tracer.drain()
    }

    /// Finished (and in-progress) packet traces.
    pub fn traces(&mut self) -> Vec<trace::PacketTrace> {
        self.tracer.take()
    }
}

/// Whether every arc in `arcs` is `first`: eight at a time, OR-ing the differences without
/// stopping at the first one (a vector that splits is the rare case), so the loop compiles to
/// a few SIMD compares per vector instead of a compare and a branch per packet.
#[inline(always)]
fn all_equal(arcs: &[u8], first: u8) -> bool {
    let splat = u64::from_ne_bytes([first; 8]);
    let mut chunks = arcs.chunks_exact(8);
    let mut diff = 0u64;
    for c in &mut chunks {
        diff |= u64::from_ne_bytes(c.try_into().unwrap_or([first; 8])) ^ splat;
    }
    diff == 0 && chunks.remainder().iter().all(|&a| a == first)
}

#[inline(always)]
fn push<B: PacketBuf>(q: &mut VecDeque<Box<Vector<B>>>, free: &mut Vec<Box<Vector<B>>>, pkt: B) {
    match q.back_mut() {
        Some(last) if !last.is_full() => last.push(pkt),
        _ => {
            let mut v = free.pop().unwrap_or_default();
            v.push(pkt);
            q.push_back(v);
        }
    }
}

#[cfg(test)]
mod tests;
