//! The dispatcher on toy nodes over in-memory buffers.

use std::sync::{Arc, Mutex};

use super::*;
use crate::buffer::{VecAlloc, VecBuf};

crate::arcs! { enum ClassNext { Drop => "drop", A => "a", B => "b" } }
crate::errors! { enum ClassError { Marked => "packet marked 0xff" } }

/// Even first byte -> a, odd -> b, 0xff -> drop (counted); first byte 0xfe also emits a copy.
struct Classify;

impl Node<VecBuf> for Classify {
    fn name(&self) -> &'static str {
        "classify"
    }
    fn arcs(&self) -> &'static [&'static str] {
        ClassNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        ClassError::NAMES
    }
    fn process(
        &mut self,
        pkts: &mut Vector<VecBuf>,
        next: &mut Nexts,
        ctx: &mut NodeCtx<'_, VecBuf>,
    ) {
        for (i, p) in pkts.iter().enumerate() {
            let b = p.data()[0];
            next[i] = if b == 0xff {
                ctx.count(ClassError::Marked.idx());
                ClassNext::Drop.arc()
            } else if b % 2 == 0 {
                ClassNext::A.arc()
            } else {
                ClassNext::B.arc()
            };
            if b == 0xfe
                && let Some(mut n) = ctx.alloc()
            {
                n.append(1).unwrap()[0] = 1;
                ctx.emit(ClassNext::B.arc(), n);
            }
        }
    }
}

crate::arcs! { enum SinkNext { Drop => "drop" } }

/// Records (node, first byte) and sends everything to drop.
struct Sink(&'static str, Arc<Mutex<Vec<(&'static str, u8)>>>);

impl Node<VecBuf> for Sink {
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
        _ctx: &mut NodeCtx<'_, VecBuf>,
    ) {
        let mut seen = self.1.lock().unwrap();
        for (i, p) in pkts.iter().enumerate() {
            seen.push((self.0, p.data()[0]));
            next[i] = SinkNext::Drop.arc();
        }
    }
}

crate::arcs! { enum LoopNext { Drop => "drop", Again => "loop", Out => "a" } }
crate::errors! { enum LoopError { TooDeep => "looped too often" } }

/// Sends a packet back to itself while its decap depth is below its first byte; drops past 4.
struct Loop;

impl Node<VecBuf> for Loop {
    fn name(&self) -> &'static str {
        "loop"
    }
    fn arcs(&self) -> &'static [&'static str] {
        LoopNext::TARGETS
    }
    fn errors(&self) -> &'static [&'static str] {
        LoopError::NAMES
    }
    fn process(
        &mut self,
        pkts: &mut Vector<VecBuf>,
        next: &mut Nexts,
        ctx: &mut NodeCtx<'_, VecBuf>,
    ) {
        for (i, p) in pkts.iter_mut().enumerate() {
            let want = p.data()[0];
            let m = p.meta_mut();
            next[i] = if m.decap_depth >= 4 {
                ctx.count(LoopError::TooDeep.idx());
                LoopNext::Drop.arc()
            } else if m.decap_depth < want {
                m.decap_depth += 1;
                LoopNext::Again.arc()
            } else {
                LoopNext::Out.arc()
            };
        }
    }
}

type Seen = Arc<Mutex<Vec<(&'static str, u8)>>>;

fn graph() -> (Graph<VecBuf>, Seen) {
    let seen: Seen = Arc::default();
    let mut b = GraphBuilder::new();
    b.add(Classify);
    b.add(Loop);
    b.add(Sink("a", seen.clone()));
    b.add(Sink("b", seen.clone()));
    let g = b.build(|| 7, Box::new(VecAlloc::default())).unwrap();
    (g, seen)
}

fn vector(g: &mut Graph<VecBuf>, bytes: &[u8]) -> Box<Vector<VecBuf>> {
    let mut v = g.take_vector();
    for &b in bytes {
        v.push(VecBuf::on(3, &[b, 0, 0]));
    }
    v
}

#[test]
fn whole_vector_moves_and_split_vectors_keep_order() {
    let (mut g, seen) = graph();
    let class = g.node_id("classify").unwrap();
    let v = vector(&mut g, &[2, 4, 6]);
    g.enqueue_vector(class, v);
    let v = vector(&mut g, &[1, 2, 3, 4, 0xff, 5]);
    g.enqueue_vector(class, v);
    g.run();
    let seen = seen.lock().unwrap().clone();
    let a: Vec<u8> = seen.iter().filter(|s| s.0 == "a").map(|s| s.1).collect();
    let b: Vec<u8> = seen.iter().filter(|s| s.0 == "b").map(|s| s.1).collect();
    assert_eq!(a, vec![2, 4, 6, 2, 4], "order kept per next node");
    assert_eq!(b, vec![1, 3, 5]);
    let st = g.stats(class);
    assert_eq!((st.calls, st.packets, st.clocks), (2, 9, 0));
    assert_eq!(
        st.errors,
        vec![1],
        "the 0xff packet counted under its reason"
    );
    assert_eq!(g.stats(DROP).packets, 9, "everything ends in drop");
    let a_id = g.node_id("a").unwrap();
    assert_eq!(
        g.stats(a_id).calls,
        1,
        "a's two inputs were merged into one vector"
    );
}

#[test]
fn nonzero_errors_are_the_reasons_that_counted() {
    let r = NodeReport {
        name: "n",
        stats: NodeStats {
            errors: vec![0, 3, 0, 1],
            ..NodeStats::default()
        },
        error_names: &["a", "b", "c", "d"],
    };
    assert_eq!(r.nonzero_errors().collect::<Vec<_>>(), [("b", 3), ("d", 1)]);
    // On a running graph: the classify node's one drop, nothing from the others.
    let (mut g, _) = graph();
    let class = g.node_id("classify").unwrap();
    let v = vector(&mut g, &[1, 0xff, 2]);
    g.enqueue_vector(class, v);
    g.run();
    let counted: Vec<_> = g
        .report()
        .iter()
        .flat_map(|r| r.nonzero_errors().map(|(why, n)| (r.name, why, n)))
        .collect();
    assert_eq!(counted, [("classify", "packet marked 0xff", 1)]);
}

#[test]
fn more_than_a_vector_of_single_packets_forms_several_vectors() {
    let (mut g, seen) = graph();
    let a = g.node_id("a").unwrap();
    for i in 0..600u32 {
        g.enqueue(a, VecBuf::new(&[(i % 200) as u8]));
    }
    g.run();
    assert_eq!(seen.lock().unwrap().len(), 600);
    assert_eq!(g.stats(a).calls, 3, "256 + 256 + 88");
    assert_eq!(g.stats(a).packets_per_call(), 200.0);
}

#[test]
fn cycles_run_to_completion_and_are_bounded() {
    let (mut g, seen) = graph();
    let lp = g.node_id("loop").unwrap();
    let v = vector(&mut g, &[0, 2, 9]);
    g.enqueue_vector(lp, v);
    g.run();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![("a", 0), ("a", 2)],
        "the 9 looped until the bound and was dropped"
    );
    assert_eq!(g.stats(lp).errors, vec![1]);
    // [0,2,9] -> [2,9] -> [2,9] -> [9] -> [9]: every pass through the loop counts.
    assert_eq!(g.stats(lp).packets, 3 + 2 + 2 + 1 + 1);
}

#[test]
fn emitted_packets_follow_their_arc() {
    let (mut g, seen) = graph();
    let class = g.node_id("classify").unwrap();
    let v = vector(&mut g, &[0xfe]);
    g.enqueue_vector(class, v);
    g.run();
    assert_eq!(seen.lock().unwrap().clone(), vec![("a", 0xfe), ("b", 1)]);
}

#[test]
fn trace_records_each_packets_path() {
    let (mut g, _) = graph();
    let class = g.node_id("classify").unwrap();
    g.trace(2);
    let v = vector(&mut g, &[2, 0xff, 3]);
    g.enqueue_vector(class, v);
    g.run();
    let t = g.traces();
    assert_eq!(t.len(), 2, "only the first 2 packets");
    assert_eq!(t[0].nodes, vec!["classify", "a", "drop"]);
    assert_eq!(t[1].nodes, vec!["classify", "drop"]);
    assert_eq!(
        (t[0].rx_if, t[0].len, t[0].head.clone()),
        (3, 3, vec![2, 0, 0])
    );
}

#[test]
fn bad_graphs_are_refused() {
    struct Bad;
    impl Node<VecBuf> for Bad {
        fn name(&self) -> &'static str {
            "bad"
        }
        fn arcs(&self) -> &'static [&'static str] {
            &["nowhere"]
        }
        fn process(&mut self, _: &mut Vector<VecBuf>, _: &mut Nexts, _: &mut NodeCtx<'_, VecBuf>) {}
    }
    let mut b = GraphBuilder::<VecBuf>::new();
    b.add(Bad);
    let err = b.build(|| 0, Box::new(VecAlloc::default())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node `bad` has an arc to `nowhere`, which is not in the graph"
    );
    let mut b = GraphBuilder::<VecBuf>::new();
    b.add(Classify);
    b.add(Classify);
    assert_eq!(
        b.build(|| 0, Box::new(VecAlloc::default())).unwrap_err(),
        GraphError::DuplicateNode("classify")
    );
}

#[test]
fn vectors_are_recycled() {
    let (mut g, _) = graph();
    let class = g.node_id("classify").unwrap();
    let v = vector(&mut g, &[1, 2, 3]);
    g.enqueue_vector(class, v);
    g.run();
    let spare = g.free.len();
    assert!(spare > 0, "the vectors a run used are kept for the next");
    for _ in 0..100 {
        let v = vector(&mut g, &[1, 2, 3]);
        g.enqueue_vector(class, v);
        g.run();
    }
    assert_eq!(
        g.free.len(),
        spare,
        "steady state: every run takes its vectors from the spares and gives them back"
    );
    assert!(
        g.free.len() <= 8,
        "spare vectors stay bounded: {}",
        g.free.len()
    );
}

#[test]
fn capture_copies_matching_packets_up_to_its_bounds() {
    use super::capture::CaptureSpec;
    let (mut g, _) = graph();
    let a = g.node_id("a").unwrap();
    let class = g.node_id("classify").unwrap();
    g.start_capture(CaptureSpec {
        node: a,
        iface: 3,
        by_tx: false,
        count: 2,
        max_bytes: 1 << 20,
    });
    let v = vector(&mut g, &[2, 4, 1, 6]);
    g.enqueue_vector(class, v);
    let mut other = g.take_vector();
    other.push(VecBuf::on(9, &[8, 0, 0]));
    g.enqueue_vector(class, other);
    g.run();
    let got = g.drain_capture();
    assert_eq!(
        got.iter().map(|c| c.data.clone()).collect::<Vec<_>>(),
        vec![vec![2, 0, 0], vec![4, 0, 0]],
        "first 2 on interface 3 entering `a`"
    );
    assert!(!g.capturing(), "bounded by count");
    g.start_capture(CaptureSpec {
        node: a,
        iface: 3,
        by_tx: false,
        count: 100,
        max_bytes: 4,
    });
    let v = vector(&mut g, &[2, 4, 6]);
    g.enqueue_vector(class, v);
    g.run();
    let got = g.stop_capture();
    assert_eq!(
        got.iter().map(|c| c.data.len()).sum::<usize>(),
        4,
        "bounded by bytes (the last copy truncated)"
    );
}

#[test]
fn all_equal_finds_one_odd_arc_anywhere() {
    for len in 1..=VECTOR_SIZE {
        let arcs = vec![3u8; len];
        assert!(all_equal(&arcs, 3), "{len} equal arcs");
        for odd in 0..len {
            let mut arcs = arcs.clone();
            arcs[odd] = 4;
            assert!(!all_equal(&arcs, 3), "{len} arcs, arc {odd} differs");
        }
    }
}
