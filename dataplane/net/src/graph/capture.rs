//! Packet capture inside the graph: copies of the packets entering one node (ethernet-input
//! for rx, port-tx for tx, drop for drops), filtered by interface, bounded in count and bytes.
//! Costs one branch per node call when no capture runs; allocates only while capturing.

use crate::buffer::PacketBuf;

use super::{NodeId, Vector};

/// A packet copied by a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    pub data: Vec<u8>,
}

/// What to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec {
    /// The node whose input is copied.
    pub node: NodeId,
    /// Interface to match: the packet's `tx_if` when `by_tx`, else its `rx_if`.
    pub iface: u16,
    pub by_tx: bool,
    pub count: usize,
    pub max_bytes: usize,
}

/// A running capture.
#[derive(Debug)]
pub struct Capture {
    pub spec: CaptureSpec,
    /// Copied and not yet drained.
    pub packets: Vec<Captured>,
    /// Copied in all (the bounds count these, drained or not).
    pub taken: usize,
    pub bytes: usize,
}

impl Capture {
    pub fn new(spec: CaptureSpec) -> Capture {
        Capture {
            spec,
            packets: Vec::new(),
            taken: 0,
            bytes: 0,
        }
    }

    /// Whether the count or byte bound is reached.
    pub fn done(&self) -> bool {
        self.taken >= self.spec.count || self.bytes >= self.spec.max_bytes
    }

    /// Copies the matching packets of a vector entering the captured node.
    pub fn take<B: PacketBuf>(&mut self, v: &Vector<B>) {
        let ts_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        for p in v.iter() {
            if self.done() {
                return;
            }
            let m = p.meta();
            let iface = if self.spec.by_tx { m.tx_if } else { m.rx_if };
            if iface != self.spec.iface {
                continue;
            }
            let room = self.spec.max_bytes - self.bytes;
            let data = p.data()[..p.len().min(room)].to_vec();
            self.bytes += data.len();
            self.taken += 1;
            self.packets.push(Captured { ts_ns, data });
        }
    }
}
