//! Packet tracing: the next N packets entering the graph are marked, and every node they pass
//! through is recorded, as VPP's `trace add`. Costs nothing when no trace is running (one
//! branch per node call).

use crate::buffer::PacketBuf;

use super::Vector;

/// How many bytes of a traced packet are kept (at admission).
pub const TRACE_HEAD: usize = 64;

/// The recorded path of one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketTrace {
    /// Interface it arrived on.
    pub rx_if: u16,
    /// Its length and first bytes when it entered.
    pub len: usize,
    pub head: Vec<u8>,
    /// Nodes it went through, in order (ends with `drop` when dropped).
    pub nodes: Vec<&'static str>,
}

/// The per-graph trace state.
#[derive(Debug, Default)]
pub struct Tracer {
    remaining: usize,
    traces: Vec<PacketTrace>,
}

impl Tracer {
    pub fn start(&mut self, count: usize) {
        self.remaining = count.min(u16::MAX as usize - 1);
        self.traces.clear();
    }

    #[inline(always)]
    pub fn wants_more(&self) -> bool {
        self.remaining > 0
    }

    #[inline(always)]
    pub fn active(&self) -> bool {
        !self.traces.is_empty()
    }

    /// Marks up to `remaining` packets of `v` for tracing.
    pub fn mark<B: PacketBuf>(&mut self, v: &mut Vector<B>) {
        for p in v.iter_mut() {
            if self.remaining == 0 {
                break;
            }
            self.remaining -= 1;
            self.traces.push(PacketTrace {
                rx_if: p.meta().rx_if,
                len: p.len(),
                head: p.data()[..p.len().min(TRACE_HEAD)].to_vec(),
                nodes: Vec::new(),
            });
            p.meta_mut().trace = self.traces.len() as u16;
        }
    }

    /// Records that `node` handled the traced packets of `v`.
    pub fn visit<B: PacketBuf>(&mut self, node: &'static str, v: &Vector<B>) {
        for p in v.iter() {
            let t = p.meta().trace;
            if t != 0
                && let Some(tr) = self.traces.get_mut(t as usize - 1)
                && tr.nodes.len() < 64
            {
                tr.nodes.push(node);
            }
        }
    }

    /// The traces recorded so far, leaving tracing running for packets still to come. Call
    /// only between `run`s: no packet in flight then holds a trace index.
    pub fn drain(&mut self) -> Vec<PacketTrace> {
        std::mem::take(&mut self.traces)
    }

    /// The traces so far; tracing stops.
    pub fn take(&mut self) -> Vec<PacketTrace> {
        self.remaining = 0;
        std::mem::take(&mut self.traces)
    }
}
