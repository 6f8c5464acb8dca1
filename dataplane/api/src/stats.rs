//! Counters: per port (from the NIC), per graph node and per drop/error reason (per worker,
//! and summed over workers).
//!
//! Backends report raw counts per worker; [`RuntimeStats::from_workers`] and
//! [`ErrorStats::from_workers`] add the totals and the derived ratios, so every answer's sums
//! and ratios are computed one way, in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One port's counters (`GET /v1/stats/ports`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    /// The port's name.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because no rx descriptor was free (the worker was too slow).
    pub rx_missed: u64,
    /// Receive errors reported by the NIC.
    pub rx_errors: u64,
    /// Transmit errors reported by the NIC.
    pub tx_errors: u64,
    /// Packets the dataplane dropped for this port (tx queue full, no mbuf).
    pub drops: u64,
}

/// One node's counters on one worker, with derived ratios.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Node name (`ip4-lookup`).
    pub name: String,
    /// Times the dispatcher ran the node.
    pub calls: u64,
    /// Vectors handed to it.
    pub vectors: u64,
    /// Packets handed to it.
    pub packets: u64,
    /// TSC clocks spent in it.
    pub clocks: u64,
    /// `clocks / packets` (0 when no packet).
    #[serde(default)]
    pub clocks_per_packet: f64,
    /// `vectors / calls` (0 when never called).
    #[serde(default)]
    pub vectors_per_call: f64,
    /// `packets / vectors`: the average vector size, VPP's efficiency figure (its
    /// "Vectors/Call" column counts packets).
    #[serde(default)]
    pub packets_per_vector: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl NodeStats {
    /// A node's raw counts; the ratios are computed here.
    pub fn new(
        name: impl Into<String>,
        calls: u64,
        vectors: u64,
        packets: u64,
        clocks: u64,
    ) -> Self {
        let mut n = NodeStats {
            name: name.into(),
            calls,
            vectors,
            packets,
            clocks,
            ..Default::default()
        };
        n.derive();
        n
    }

    /// Recomputes the ratios from the counts.
    pub fn derive(&mut self) {
        self.clocks_per_packet = ratio(self.clocks, self.packets);
        self.vectors_per_call = ratio(self.vectors, self.calls);
        self.packets_per_vector = ratio(self.packets, self.vectors);
    }
}

/// One worker's node counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRuntime {
    /// Worker index (0-based).
    pub worker: u32,
    /// The lcore it runs on.
    pub lcore: u32,
    /// Its nodes, in graph order.
    pub nodes: Vec<NodeStats>,
}

/// `GET /v1/stats/runtime`: per worker and summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeStats {
    /// Each worker's nodes.
    pub workers: Vec<WorkerRuntime>,
    /// Every node summed over the workers (ratios recomputed from the sums).
    pub total: Vec<NodeStats>,
}

impl RuntimeStats {
    /// Sums `workers` by node name (first-seen order) and fills every ratio.
    pub fn from_workers(mut workers: Vec<WorkerRuntime>) -> Self {
        let mut order: Vec<String> = Vec::new();
        let mut sums: BTreeMap<String, NodeStats> = BTreeMap::new();
        for w in &mut workers {
            for n in &mut w.nodes {
                n.derive();
                let s = sums.entry(n.name.clone()).or_insert_with(|| {
                    order.push(n.name.clone());
                    NodeStats::new(n.name.clone(), 0, 0, 0, 0)
                });
                s.calls = s.calls.saturating_add(n.calls);
                s.vectors = s.vectors.saturating_add(n.vectors);
                s.packets = s.packets.saturating_add(n.packets);
                s.clocks = s.clocks.saturating_add(n.clocks);
            }
        }
        let total = order
            .into_iter()
            .filter_map(|name| sums.remove(&name))
            .map(|mut n| {
                n.derive();
                n
            })
            .collect();
        RuntimeStats { workers, total }
    }
}

/// One drop/error counter: a node's reason and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounter {
    /// The node that counted it (`ip4-input`).
    pub node: String,
    /// The reason, as `show errors` prints it (`bad header checksum`).
    pub reason: String,
    /// How many packets.
    pub count: u64,
}

/// One worker's drop/error counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerErrors {
    /// Worker index (0-based).
    pub worker: u32,
    /// Its counters (zero counts may be left out).
    pub counters: Vec<ErrorCounter>,
}

/// `GET /v1/stats/errors`: per worker and summed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorStats {
    /// Each worker's counters.
    pub workers: Vec<WorkerErrors>,
    /// Summed over workers by (node, reason), first-seen order; zero counts left out.
    pub total: Vec<ErrorCounter>,
}

impl ErrorStats {
    /// Sums `workers` by (node, reason).
    pub fn from_workers(workers: Vec<WorkerErrors>) -> Self {
        let mut total: Vec<ErrorCounter> = Vec::new();
        let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
        for c in workers.iter().flat_map(|w| &w.counters) {
            let key = (c.node.clone(), c.reason.clone());
            match index.get(&key) {
                Some(&i) => total[i].count = total[i].count.saturating_add(c.count),
                None => {
                    index.insert(key, total.len());
                    total.push(c.clone());
                }
            }
        }
        total.retain(|c| c.count > 0);
        ErrorStats { workers, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_handle_zero() {
        let n = NodeStats::new("idle", 0, 0, 0, 0);
        assert_eq!(
            (
                n.clocks_per_packet,
                n.vectors_per_call,
                n.packets_per_vector
            ),
            (0.0, 0.0, 0.0)
        );
        let n = NodeStats::new("ip4-lookup", 10, 10, 2560, 25600);
        assert_eq!(n.clocks_per_packet, 10.0);
        assert_eq!(n.vectors_per_call, 1.0);
        assert_eq!(n.packets_per_vector, 256.0);
    }

    #[test]
    fn runtime_totals_sum_workers_and_recompute_ratios() {
        let w0 = WorkerRuntime {
            worker: 0,
            lcore: 1,
            nodes: vec![
                NodeStats::new("port-rx", 100, 10, 320, 3200),
                NodeStats::new("ip4-lookup", 10, 10, 320, 6400),
            ],
        };
        let mut w1 = WorkerRuntime {
            worker: 1,
            lcore: 2,
            nodes: vec![NodeStats::new("port-rx", 50, 10, 80, 4800)],
        };
        // A backend that forgot the ratios still gets them filled in.
        w1.nodes[0].clocks_per_packet = 0.0;
        let s = RuntimeStats::from_workers(vec![w0, w1]);
        assert_eq!(s.workers[1].nodes[0].clocks_per_packet, 60.0);
        assert_eq!(s.total.len(), 2);
        assert_eq!(s.total[0].name, "port-rx", "first-seen order");
        assert_eq!(
            (s.total[0].calls, s.total[0].vectors, s.total[0].packets),
            (150, 20, 400)
        );
        assert_eq!(s.total[0].clocks_per_packet, 20.0, "(3200+4800)/400");
        assert_eq!(s.total[0].packets_per_vector, 20.0);
        assert_eq!(s.total[1].clocks_per_packet, 20.0);
    }

    #[test]
    fn error_totals_group_by_node_and_reason() {
        let c = |node: &str, reason: &str, count| ErrorCounter {
            node: node.into(),
            reason: reason.into(),
            count,
        };
        let s = ErrorStats::from_workers(vec![
            WorkerErrors {
                worker: 0,
                counters: vec![
                    c("ip4-input", "bad checksum", 3),
                    c("ip4-input", "ttl expired", 0),
                ],
            },
            WorkerErrors {
                worker: 1,
                counters: vec![
                    c("ip4-input", "bad checksum", 4),
                    c("arp-input", "bad checksum", 1),
                ],
            },
        ]);
        assert_eq!(
            s.total,
            vec![
                c("ip4-input", "bad checksum", 7),
                c("arp-input", "bad checksum", 1)
            ]
        );
    }
}
