//! Test support for graph nodes: a node that stands in for a real one by name, records every
//! packet it gets (with its own name, so one recorder can serve several stand-ins) and drops it.

use std::sync::{Arc, Mutex};

use crate::buffer::VecBuf;

use super::{Nexts, Node, NodeCtx, Vector};

/// What the stand-ins received, in order.
pub type Recorded = Arc<Mutex<Vec<(&'static str, VecBuf)>>>;

crate::arcs! { enum SinkNext { Drop => "drop" } }

/// A stand-in named `.0`, recording into `.1`.
pub struct RecordingSink(pub &'static str, pub Recorded);

impl Node<VecBuf> for RecordingSink {
    fn name(&self) -> &'static str {
        self.0
    }
    fn arcs(&self) -> &'static [&'static str] {
        SinkNext::TARGETS
    }
    fn process(
        &mut self,
        pkts: &mut Vector<VecBuf>,
        next: &mut Nexts,
        _: &mut NodeCtx<'_, VecBuf>,
    ) {
        let mut got = self.1.lock().unwrap_or_else(|p| p.into_inner());
        for (i, p) in pkts.iter().enumerate() {
            got.push((self.0, p.clone()));
            next[i] = SinkNext::Drop.arc();
        }
    }
}
