//! A worker lcore: polls its rx queues into the packet graph, runs the graph to completion,
//! passes its RCU quiescent point, and backs off when idle. Also runs the L2 cross-connects
//! assigned to it.
//!
//! The worker owns everything it touches on the hot path (queues, graph, counters); it
//! publishes copies of its counters for the control plane now and then with a `try_lock`
//! that never waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrayvec::ArrayVec;
use dp_net::buffer::PacketBuf;
use dp_net::fwd::{FwdState, IfIndex, IfaceKind};
use dp_net::graph::{Graph, Nexts, Node, NodeCtx, NodeReport, VECTOR_SIZE, Vector};
use dp_net::rcu::{RcuReader, Reader};

use crate::dpdk::{PktMbuf, RxQueue, TxQueue, rdtsc, rx_into, tx_from};
use crate::idle::IdleBackoff;
use crate::xconnect::{self, Direction, SwPortCounters};

/// Bursts of this many packets are read from each rx queue.
pub const RX_BURST: usize = 32;
/// At most this many bursts per queue per loop (fills up to a 128-packet vector).
const RX_BURSTS_PER_POLL: usize = 4;
/// Publications of the worker's counters per second (time-based, so idle workers publish too).
const PUBLISH_HZ: u64 = 10;
/// Polls of the graph's source nodes per second at most.
const SOURCES_HZ: u64 = 1000;

dp_net::arcs! { enum PortRxNext { Eth => "ethernet-input" } }

dp_net::errors! {
    /// What the workers' rx poll drops before the graph (counted under port-rx).
    pub enum PortRxError {
        MultiSegment => "frame longer than one mbuf (multi-segment, not linearisable)",
    }
}

/// port-rx: where the workers' rx polling is accounted (`show runtime`, and its drops in
/// `show errors`); packets enter the graph at ethernet-input directly.
pub struct PortRx;

impl Node<PktMbuf> for PortRx {
    fn name(&self) -> &'static str {
        "port-rx"
    }
    fn arcs(&self) -> &'static [&'static str] {
        PortRxNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        PortRxError::NAMES
    }
    fn process(
        &mut self,
        pkts: &mut Vector<PktMbuf>,
        next: &mut Nexts,
        _: &mut NodeCtx<'_, PktMbuf>,
    ) {
        next[..pkts.len()].fill(PortRxNext::Eth.arc());
    }
}

dp_net::arcs! { pub enum PortTxNext { Drop => "drop" } }

dp_net::errors! {
    pub enum PortTxError {
        NoIface => "egress interface gone",
        NotAPort => "egress interface is not a port",
        NoQueue => "no tx queue for the port on this worker",
        TxFull => "tx ring full",
    }
}

/// A worker's way out through one port.
#[derive(Debug)]
pub enum PortTxQueue {
    /// A tx queue of its own: the normal case, one per worker per port.
    Own(TxQueue),
    /// A tx queue shared with other workers, sent on under its lock: a device with fewer tx
    /// queues than there are workers (a memif's rings are its peer's choice: one).
    Shared(Arc<Mutex<TxQueue>>),
}

impl PortTxQueue {
    pub fn port_id(&self) -> u16 {
        match self {
            PortTxQueue::Own(q) => q.port_id(),
            PortTxQueue::Shared(q) => q.lock().unwrap_or_else(|p| p.into_inner()).port_id(),
        }
    }

    /// Sends from the front of `v` (see [`tx_from`]): what the driver took leaves `v`.
    #[inline]
    fn send<const N: usize>(&mut self, v: &mut ArrayVec<PktMbuf, N>) {
        match self {
            PortTxQueue::Own(q) => tx_from(q, v),
            PortTxQueue::Shared(q) => tx_from(&mut q.lock().unwrap_or_else(|p| p.into_inner()), v),
        };
    }
}

/// port-tx: the graph's last node. Batches packets per egress port and transmits them; what
/// the driver does not take is freed and counted.
pub struct PortTx {
    state: RcuReader<FwdState>,
    ctl: Arc<WorkerCtl>,
    /// This worker's tx queue per DPDK port id.
    queues: Vec<Option<PortTxQueue>>,
    batches: Vec<ArrayVec<PktMbuf, VECTOR_SIZE>>,
}

impl PortTx {
    pub fn new(
        state: RcuReader<FwdState>,
        queues: Vec<PortTxQueue>,
        ctl: Arc<WorkerCtl>,
    ) -> PortTx {
        let mut p = PortTx {
            state,
            ctl,
            queues: Vec::new(),
            batches: Vec::new(),
        };
        for q in queues {
            p.add(q);
        }
        p
    }

    fn add(&mut self, q: PortTxQueue) {
        let id = q.port_id() as usize;
        if self.queues.len() <= id {
            self.queues.resize_with(id + 1, || None);
            self.batches.resize_with(id + 1, ArrayVec::new);
        }
        self.queues[id] = Some(q);
    }
}

impl Node<PktMbuf> for PortTx {
    fn name(&self) -> &'static str {
        "port-tx"
    }
    fn arcs(&self) -> &'static [&'static str] {
        PortTxNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        PortTxError::NAMES
    }
    fn quiescent(&mut self) {
        self.state.refresh();
        if self.ctl.tx_pending.load(Ordering::Relaxed)
            && self.ctl.tx_pending.swap(false, Ordering::AcqRel)
        {
            let cmds = self
                .ctl
                .tx_cmds
                .lock()
                .map(|mut c| std::mem::take(&mut *c))
                .unwrap_or_default();
            for c in cmds {
                match c {
                    TxCmd::Add(q) => self.add(q),
                    TxCmd::Remove(id) => {
                        if let Some(slot) = self.queues.get_mut(id as usize) {
                            *slot = None;
                        }
                    }
                }
            }
        }
    }

    fn process(
        &mut self,
        pkts: &mut Vector<PktMbuf>,
        _next: &mut Nexts,
        ctx: &mut NodeCtx<'_, PktMbuf>,
    ) {
        let state = self.state.get();
        // The DPDK port (and this worker's tx queue) behind interface `tx_if`.
        let queue_of =
            |queues: &[Option<PortTxQueue>], tx_if: IfIndex| -> Result<usize, PortTxError> {
                match state.iface(tx_if).map(|f| f.kind) {
                    None => Err(PortTxError::NoIface),
                    Some(IfaceKind::Vxlan(_)) => Err(PortTxError::NotAPort),
                    Some(IfaceKind::Port { port_id }) => {
                        let id = usize::from(port_id);
                        if queues.get(id).is_some_and(Option::is_some) {
                            Ok(id)
                        } else {
                            Err(PortTxError::NoQueue)
                        }
                    }
                }
            };
        // The common case: the whole vector leaves through one port. Send it as it is. (The
        // differences are OR-ed, not tested one by one: a vector that splits is rare.)
        if let Some(first) = pkts.first().map(|p| p.meta().tx_if)
            && pkts.iter().fold(0, |d, p| d | (p.meta().tx_if ^ first)) == 0
            && let Ok(id) = queue_of(&self.queues, first)
            && let Some(Some(q)) = self.queues.get_mut(id)
        {
            flush(Some(q), pkts, ctx);
            return;
        }
        let mut last: Option<(IfIndex, Result<usize, PortTxError>)> = None;
        for p in pkts.drain(..) {
            let tx_if = p.meta().tx_if;
            let port = match last {
                Some((i, r)) if i == tx_if => r,
                _ => {
                    let r = queue_of(&self.queues, tx_if);
                    last = Some((tx_if, r));
                    r
                }
            };
            match port {
                Ok(id) => self.batches[id].push(p),
                Err(e) => ctx.count(e.idx()),
            }
        }
        for (id, batch) in self.batches.iter_mut().enumerate() {
            if batch.is_empty() {
                continue;
            }
            flush(self.queues.get_mut(id).and_then(Option::as_mut), batch, ctx);
        }
    }
}

/// Sends `v` on `q`; what the driver did not take is freed and counted as "tx ring full".
#[inline]
fn flush<const N: usize>(
    q: Option<&mut PortTxQueue>,
    v: &mut ArrayVec<PktMbuf, N>,
    ctx: &mut NodeCtx<'_, PktMbuf>,
) {
    if let Some(q) = q {
        q.send(v);
    }
    ctx.count_n(PortTxError::TxFull.idx(), v.len() as u64);
    PktMbuf::free_all(v);
}

/// What one worker polls and sends.
pub struct WorkerPlan {
    /// Graph inputs: an rx queue and the interface its packets arrive on.
    pub rx: Vec<(RxQueue, IfIndex)>,
    /// L2 cross-connect directions.
    pub xconnect: Vec<Direction>,
    /// The graph (its port-tx node holds this worker's tx queues). Every worker has one,
    /// so routed ports added at runtime find it.
    pub graph: Graph<PktMbuf>,
    /// This worker's RCU reader.
    pub qsbr: Reader,
    /// Requests from the control plane (trace, capture).
    pub ctl: Arc<WorkerCtl>,
}

/// A capture asked of a worker: the node whose input is copied, and the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureAsk {
    pub node: &'static str,
    pub iface: u16,
    pub by_tx: bool,
    pub count: usize,
    pub max_bytes: usize,
}

/// A port change for a worker's rx side.
#[derive(Debug)]
pub enum RxCmd {
    /// Start polling this queue for interface `IfIndex`.
    Add(RxQueue, IfIndex),
    /// Stop polling the port with this DPDK id (drops the queue handle).
    Remove(u16),
}

/// A port change for a worker's port-tx node.
#[derive(Debug)]
pub enum TxCmd {
    Add(PortTxQueue),
    Remove(u16),
}

/// Requests the control plane leaves for a worker; the worker checks one flag per loop.
#[derive(Debug, Default)]
pub struct WorkerCtl {
    /// Set when `rx_cmds` holds commands.
    pub rx_pending: AtomicBool,
    pub rx_cmds: Mutex<Vec<RxCmd>>,
    /// Set when `tx_cmds` holds commands (port-tx takes them at the quiescent point).
    pub tx_pending: AtomicBool,
    pub tx_cmds: Mutex<Vec<TxCmd>>,
    /// Trace the next N packets (0 = nothing asked).
    pub trace_req: std::sync::atomic::AtomicU32,
    /// Set when `capture` holds a new command.
    pub capture_pending: AtomicBool,
    /// `Some` starts a capture, `None` stops it.
    pub capture: Mutex<Option<CaptureAsk>>,
}

impl WorkerCtl {
    pub fn rx(&self, cmd: RxCmd) {
        if let Ok(mut c) = self.rx_cmds.lock() {
            c.push(cmd);
        }
        self.rx_pending.store(true, Ordering::Release);
    }

    pub fn tx(&self, cmd: TxCmd) {
        if let Ok(mut c) = self.tx_cmds.lock() {
            c.push(cmd);
        }
        self.tx_pending.store(true, Ordering::Release);
    }

    pub fn capture(&self, ask: Option<CaptureAsk>) {
        if let Ok(mut c) = self.capture.lock() {
            *c = ask;
        }
        self.capture_pending.store(true, Ordering::Release);
    }
}

/// A worker's counters, published for the control plane and returned at the end.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub lcore: u32,
    pub nodes: Vec<NodeReport>,
    /// Indexed by DPDK port id.
    pub xconnect_ports: Vec<SwPortCounters>,
    pub loops: u64,
    pub idle_sleeps: u64,
    pub elapsed: std::time::Duration,
    /// Packet traces not yet collected by the control plane.
    pub traces: Vec<dp_net::graph::trace::PacketTrace>,
    /// Captured packets not yet collected by the control plane.
    pub captured: Vec<dp_net::graph::capture::Captured>,
}

impl WorkerStats {
    /// The node counters as the API reports them, for worker number `worker` (the
    /// dispatcher hands a node one vector per call).
    pub fn runtime(&self, worker: u32) -> dp_api::WorkerRuntime {
        dp_api::WorkerRuntime {
            worker,
            lcore: self.lcore,
            nodes: self
                .nodes
                .iter()
                .map(|n| {
                    let s = &n.stats;
                    dp_api::NodeStats::new(n.name, s.calls, s.calls, s.packets, s.clocks)
                })
                .collect(),
        }
    }

    /// The nonzero drop counters as the API reports them, for worker number `worker`.
    pub fn errors(&self, worker: u32) -> dp_api::WorkerErrors {
        dp_api::WorkerErrors {
            worker,
            counters: self
                .nodes
                .iter()
                .flat_map(|n| {
                    n.nonzero_errors()
                        .map(|(reason, count)| dp_api::ErrorCounter {
                            node: n.name.to_string(),
                            reason: reason.to_string(),
                            count,
                        })
                })
                .collect(),
        }
    }
}

/// Runs until `stop`; returns the final counters. `nports` is one more than the highest DPDK
/// port id (it sizes the cross-connect counters, which are indexed by port id).
///
/// Never inlined: `benches/e2e` has callgrind collect from this function's entry on
/// (`--toggle-collect=dataplane::worker::run*`); it is called once per worker.
#[inline(never)]
pub fn run(
    mut plan: WorkerPlan,
    lcore: u32,
    nports: usize,
    poll_mode: bool,
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<WorkerStats>>,
) -> WorkerStats {
    let mut stats = WorkerStats {
        lcore,
        xconnect_ports: vec![SwPortCounters::default(); nports],
        ..Default::default()
    };
    let mut idle = IdleBackoff::new(poll_mode);
    let port_rx = plan.graph.node_id("port-rx").expect("graph has port-rx");
    let eth = plan
        .graph
        .node_id("ethernet-input")
        .expect("graph has ethernet-input");
    let mut xburst = crate::dpdk::MbufBurst::<{ xconnect::BURST }>::new();
    let start = std::time::Instant::now();
    let publish_every = (crate::dpdk::tsc_hz() / PUBLISH_HZ).max(1);
    // Publish on the first loop, so the control plane has the graph's shape at once.
    let mut last_publish = rdtsc().wrapping_sub(publish_every);
    let sources_every = (crate::dpdk::tsc_hz() / SOURCES_HZ).max(1);
    let mut last_sources = rdtsc();
    while !stop.load(Ordering::Relaxed) {
        if plan.ctl.rx_pending.load(Ordering::Relaxed)
            && plan.ctl.rx_pending.swap(false, Ordering::AcqRel)
        {
            let cmds = plan
                .ctl
                .rx_cmds
                .lock()
                .map(|mut c| std::mem::take(&mut *c))
                .unwrap_or_default();
            for c in cmds {
                match c {
                    RxCmd::Add(q, rx_if) => plan.rx.push((q, rx_if)),
                    RxCmd::Remove(id) => plan.rx.retain(|(q, _)| q.port_id() != id),
                }
            }
        }
        if plan.ctl.trace_req.load(Ordering::Relaxed) != 0 {
            let n = plan.ctl.trace_req.swap(0, Ordering::AcqRel);
            plan.graph.trace(n as usize);
        }
        if plan.ctl.capture_pending.load(Ordering::Relaxed)
            && plan.ctl.capture_pending.swap(false, Ordering::AcqRel)
        {
            let ask = plan.ctl.capture.lock().ok().and_then(|c| *c);
            let g = &mut plan.graph;
            match ask.and_then(|a| g.node_id(a.node).map(|n| (a, n))) {
                Some((a, node)) => g.start_capture(dp_net::graph::capture::CaptureSpec {
                    node,
                    iface: a.iface,
                    by_tx: a.by_tx,
                    count: a.count,
                    max_bytes: a.max_bytes,
                }),
                None => {
                    let rest = g.stop_capture();
                    if let Ok(mut s) = shared.lock() {
                        s.captured.extend(rest);
                    }
                }
            }
        }
        let mut moved = 0usize;
        {
            let g = &mut plan.graph;
            for (q, rx_if) in plan.rx.iter_mut() {
                let t0 = rdtsc();
                let mut v = g.take_vector();
                let mut got = 0;
                for _ in 0..RX_BURSTS_PER_POLL {
                    let (n, bad) = rx_into(q, &mut *v, RX_BURST, *rx_if);
                    got += n;
                    if bad > 0 {
                        g.count(port_rx, PortRxError::MultiSegment.idx(), bad as u64);
                    }
                    if n + bad < RX_BURST {
                        break;
                    }
                }
                if got == 0 {
                    g.give_vector(v);
                    continue;
                }
                g.account(port_rx, got as u64, rdtsc().wrapping_sub(t0));
                g.enqueue_vector(eth, v);
                moved += got;
            }
            if moved > 0 {
                g.run();
            }
        }
        moved += xconnect::poll(&mut plan.xconnect, &mut xburst, &mut stats.xconnect_ports);
        stats.loops += 1;

        // Quiescent point: nothing from a table is held across it.
        plan.graph.quiescent();
        plan.qsbr.quiescent();

        if idle.will_sleep(moved) {
            // Offline while asleep, so the control plane never waits for a sleeping worker.
            plan.qsbr.offline();
            idle.after_poll(moved);
            plan.qsbr.online();
            plan.graph.quiescent();
        } else {
            idle.after_poll(moved);
        }
        let now = rdtsc();
        // Packets nodes make of their own accord (ARP probes): asked for at most 1000 times
        // a second, which costs the loop one comparison otherwise.
        if now.wrapping_sub(last_sources) >= sources_every {
            last_sources = now;
            if plan.graph.poll_sources() {
                plan.graph.run();
            }
        }
        if now.wrapping_sub(last_publish) >= publish_every
            && let Ok(mut s) = shared.try_lock()
        {
            last_publish = now;
            fill(&mut s, &stats, &plan, &idle, start);
            s.traces.extend(plan.graph.drain_traces());
            s.captured.extend(plan.graph.drain_capture());
        }
    }
    let mut last = WorkerStats::default();
    fill(&mut last, &stats, &plan, &idle, start);
    if let Ok(mut s) = shared.lock() {
        let traces = std::mem::take(&mut s.traces);
        let captured = std::mem::take(&mut s.captured);
        *s = last.clone();
        s.traces = traces;
        s.captured = captured;
    }
    last
}

fn fill(
    out: &mut WorkerStats,
    stats: &WorkerStats,
    plan: &WorkerPlan,
    idle: &IdleBackoff,
    start: std::time::Instant,
) {
    out.lcore = stats.lcore;
    out.nodes = plan.graph.report();
    out.xconnect_ports.clone_from(&stats.xconnect_ports);
    out.loops = stats.loops;
    out.idle_sleeps = idle.sleeps;
    out.elapsed = start.elapsed();
}
