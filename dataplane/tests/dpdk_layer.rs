//! The safe DPDK layer against a real EAL on virtual devices: mbufs, ports on net_ring,
//! net_pcap and net_memif, hot-plug, stats, and worker lcores.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dataplane::dpdk::{
    Mbuf, MbufBurst, Port, PortConfig, RxQueue, TxQueue, launch_on_lcore, worker_lcores,
};

fn open_started(name: &str, device: &str) -> (Port, RxQueue, TxQueue) {
    let port = Port::open(eal(), name, device).unwrap_or_else(|e| panic!("open {device}: {e}"));
    port.configure(&PortConfig::default(), &pool())
        .expect("configure");
    port.start().expect("start");
    let rx = port.rx_queue(0).expect("rx queue");
    let tx = port.tx_queue(0).expect("tx queue");
    (port, rx, tx)
}

fn mbuf_with(data: &[u8]) -> Mbuf {
    let mut m = pool().alloc().expect("pool has mbufs");
    m.append(data.len() as u16)
        .expect("tailroom")
        .copy_from_slice(data);
    m
}

/// Polls `rx` until `want` packets arrived or `timeout` passed.
fn receive(rx: &mut RxQueue, want: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut burst = MbufBurst::<32>::new();
    let start = Instant::now();
    while got.len() < want && start.elapsed() < timeout {
        if rx.rx_burst(&mut burst) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        got.extend(burst.drain().map(|m| m.data().to_vec()));
    }
    got
}

fn send_all(tx: &mut TxQueue, frames: &[Vec<u8>]) {
    for chunk in frames.chunks(32) {
        let mut burst = MbufBurst::<32>::new();
        for f in chunk {
            burst.push(mbuf_with(f)).expect("room");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !burst.is_empty() {
            tx.tx_burst(&mut burst);
            assert!(
                Instant::now() < deadline,
                "tx stuck with {} mbufs left",
                burst.len()
            );
        }
    }
}

/// Sends `frames` on `tx` while polling `rx`, as a live peer would: some drivers (memif's
/// server side) can only transmit into buffers the receiver posts when it polls.
fn transfer(tx: &mut TxQueue, rx: &mut RxQueue, frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut rx_burst = MbufBurst::<32>::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    for chunk in frames.chunks(32) {
        let mut burst = MbufBurst::<32>::new();
        for f in chunk {
            burst.push(mbuf_with(f)).expect("room");
        }
        while !burst.is_empty() {
            tx.tx_burst(&mut burst);
            rx.rx_burst(&mut rx_burst);
            got.extend(rx_burst.drain().map(|m| m.data().to_vec()));
            assert!(
                Instant::now() < deadline,
                "tx stuck with {} mbufs left",
                burst.len()
            );
        }
    }
    got.extend(receive(
        rx,
        frames.len() - got.len(),
        Duration::from_secs(5),
    ));
    got
}

#[test]
fn mbuf_edits_and_free_on_drop() {
    if !require_dpdk() {
        return;
    }
    let p = pool();
    let before = p.available();
    let mut m = p.alloc().expect("alloc");
    assert_eq!(m.data_len(), 0);
    assert_eq!(m.headroom(), 128, "default RTE_PKTMBUF_HEADROOM");
    m.append(60).expect("append").copy_from_slice(&[0xab; 60]);
    assert_eq!((m.pkt_len(), m.data_len()), (60, 60));
    m.prepend(14).expect("prepend").copy_from_slice(&[0x11; 14]);
    assert_eq!(m.data()[..14], [0x11; 14]);
    assert_eq!(m.data()[14..], [0xab; 60]);
    assert_eq!(m.headroom(), 128 - 14);
    assert!(
        m.prepend(1000).is_none(),
        "more than the headroom must be refused"
    );
    assert_eq!(m.data_len(), 74, "a refused prepend changes nothing");
    assert!(m.adj(14));
    assert_eq!(m.data(), &[0xab; 60][..]);
    assert!(m.trim(10));
    assert_eq!(m.data_len(), 50);
    assert!(!m.adj(51), "cannot remove more than there is");
    assert!(
        m.append(5000).is_none(),
        "more than the tailroom must be refused"
    );
    m.set_ol_flags(dataplane::dpdk::ol_flags::TX_IPV4 | dataplane::dpdk::ol_flags::TX_IP_CKSUM);
    assert_eq!(
        m.ol_flags() & dataplane::dpdk::ol_flags::TX_IP_CKSUM,
        dataplane::dpdk::ol_flags::TX_IP_CKSUM
    );
    let lens = dataplane::dpdk::TxOffloadLens {
        l2_len: 14,
        l3_len: 20,
        ..Default::default()
    };
    m.set_tx_offload(lens);
    assert_eq!(m.tx_offload(), lens);
    assert_eq!(p.available(), before - 1);
    drop(m);
    assert_eq!(
        p.available(),
        before,
        "dropping an mbuf returns it to the pool"
    );

    let mut burst = MbufBurst::<8>::new();
    for _ in 0..8 {
        burst.push(p.alloc().unwrap()).unwrap();
    }
    assert!(
        burst.push(p.alloc().unwrap()).is_err(),
        "a full burst gives the mbuf back"
    );
    assert_eq!(p.available(), before - 8);
    drop(burst);
    assert_eq!(
        p.available(),
        before,
        "dropping a burst frees what it holds"
    );
}

#[test]
fn free_all_gives_every_graph_packet_back_to_its_pool() {
    if !require_dpdk() {
        return;
    }
    use dataplane::dpdk::PktMbuf;
    use dp_net::buffer::PacketBuf;
    let p = pool();
    let before = p.available();
    let mut v = arrayvec::ArrayVec::<PktMbuf, 8>::new();
    for i in 0..8 {
        let m = mbuf_with(&frame(i, 60 + i as usize));
        v.push(PktMbuf::from_mbuf(m, 1).expect("metadata field registered by the pool"));
    }
    assert_eq!(p.available(), before - 8);
    PktMbuf::free_all(&mut v);
    assert!(v.is_empty(), "the vector is left empty");
    assert_eq!(p.available(), before, "each mbuf back in the pool, once");
    drop(v);
    assert_eq!(
        p.available(),
        before,
        "and dropping the emptied vector frees nothing more"
    );
    PktMbuf::free_all(&mut arrayvec::ArrayVec::<PktMbuf, 4>::new());
    assert_eq!(p.available(), before, "an empty vector is a no-op");
}

#[test]
fn graph_metadata_lives_apart_from_the_mbufs_own_fields() {
    if !require_dpdk() {
        return;
    }
    use dataplane::dpdk::{PktMbuf, TxOffloadLens, ol_flags};
    use dp_net::buffer::{PacketBuf, PacketMeta};
    let mut m = mbuf_with(&[0x5a; 60]);
    assert_eq!(
        m.data().as_ptr() as usize % 64,
        0,
        "no private area: packet data starts on a cache line"
    );
    let lens = TxOffloadLens {
        l2_len: 14,
        l3_len: 20,
        l4_len: 8,
        ..Default::default()
    };
    m.set_tx_offload(lens);
    m.set_ol_flags(ol_flags::TX_IPV4);
    let mut p = PktMbuf::from_mbuf(m, 7).expect("metadata field registered by the pool");
    assert_eq!(p.meta().rx_if, 7);
    let all_ones = PacketMeta {
        rx_if: u16::MAX,
        tx_if: u16::MAX,
        adj: u32::MAX,
        flow_hash: u32::MAX,
        l2_len: u8::MAX,
        decap_depth: u8::MAX,
        flags: u16::MAX,
        trace: u16::MAX,
    };
    *p.meta_mut() = all_ones;
    let m = p.into_mbuf();
    assert_eq!(m.data(), &[0x5a; 60][..], "data untouched");
    assert_eq!((m.pkt_len(), m.data_len(), m.headroom()), (60, 60, 128));
    assert_eq!(m.tx_offload(), lens, "tx_offload untouched");
    assert_eq!(m.ol_flags(), ol_flags::TX_IPV4, "ol_flags untouched");
    assert!(m.is_contiguous(), "next and nb_segs untouched");
    let p = PktMbuf::from_mbuf(m, 3).expect("wraps again");
    assert_eq!(
        *p.meta(),
        PacketMeta {
            rx_if: 3,
            ..Default::default()
        },
        "fresh metadata"
    );
}

#[test]
fn net_ring_frames_come_back_byte_for_byte() {
    if !require_dpdk() {
        return;
    }
    // A net_ring port without nodeaction uses one ring set for rx and tx: what it transmits,
    // it receives. (A CREATE/ATTACH pair of ports needs two processes: ATTACH refuses a
    // name that already exists in this one.)
    let (port, mut rx, mut tx) = open_started("ring", &unique("net_ring"));
    let frames: Vec<Vec<u8>> = (0..100)
        .map(|i| frame(i, 60 + (i as usize * 13) % 1400))
        .collect();
    let got = transfer(&mut tx, &mut rx, &frames);
    assert_eq!(got.len(), frames.len(), "all frames arrive");
    assert_eq!(got, frames, "byte for byte, in order");
    let stats = port.stats().unwrap();
    assert_eq!(
        (stats.ipackets, stats.opackets),
        (100, 100),
        "port stats count what was sent"
    );
}

#[test]
fn pcap_written_by_the_test_is_read_by_net_pcap() {
    if !require_dpdk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pcap");
    let frames: Vec<Vec<u8>> = (0..50).map(|i| frame(i, 64 + i as usize * 7)).collect();
    write_pcap(&path, &frames);
    let out = dir.path().join("out.pcap");
    let dev = format!(
        "{},rx_pcap={},tx_pcap={}",
        unique("net_pcap"),
        path.display(),
        out.display()
    );
    let (port, mut rx, mut tx) = open_started("pcap", &dev);
    let got = receive(&mut rx, frames.len(), Duration::from_secs(5));
    assert_eq!(
        got, frames,
        "net_pcap replays the file's packets byte for byte"
    );
    // And what we transmit lands in tx_pcap.
    send_all(&mut tx, &frames[..10]);
    let stats = port.stats().unwrap();
    assert_eq!((stats.ipackets, stats.opackets), (50, 10));
    assert_eq!(
        stats.ibytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    drop((rx, tx, port)); // closing the port flushes the pcap writer
    assert_eq!(read_pcap(&out), frames[..10].to_vec());
}

#[test]
fn memif_server_and_client_in_one_process_exchange_packets() {
    if !require_dpdk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("memif.sock");
    let server = format!(
        "{},role=server,id=0,socket={}",
        unique("net_memif"),
        sock.display()
    );
    let client = format!(
        "{},role=client,id=0,socket={}",
        unique("net_memif"),
        sock.display()
    );
    let (ps, mut rxs, mut txs) = open_started("memif-server", &server);
    let (pc, mut rxc, mut txc) = open_started("memif-client", &client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(ps.link().unwrap().up && pc.link().unwrap().up) {
        assert!(Instant::now() < deadline, "memif link did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let frames: Vec<Vec<u8>> = (0..200).map(|i| frame(i, 60 + i as usize)).collect();
    assert_eq!(
        transfer(&mut txc, &mut rxs, &frames),
        frames,
        "client -> server"
    );
    assert_eq!(
        transfer(&mut txs, &mut rxc, &frames),
        frames,
        "server -> client"
    );
    assert_eq!(ps.stats().unwrap().ipackets, 200);
    assert_eq!(pc.stats().unwrap().ipackets, 200);
}

#[test]
fn hotplugged_vdev_forwards_and_is_removed_on_close() {
    if !require_dpdk() {
        return;
    }
    // Not on the EAL command line: Port::open probes it now, after init.
    let name = unique("net_ring");
    let (port, mut rx, mut tx) = open_started("hot", &name);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| frame(i, 100)).collect();
    // A lone net_ring port loops its tx ring back to its rx.
    send_all(&mut tx, &frames);
    assert_eq!(receive(&mut rx, 10, Duration::from_secs(5)), frames);
    let stats = port.stats().unwrap();
    assert_eq!(
        (stats.opackets, stats.ipackets),
        (10, 10),
        "port stats count what was sent"
    );
    // Reconfiguration is refused while queue handles live.
    let err = port.stop().unwrap_err().to_string();
    assert!(err.contains("queue handle"), "{err}");
    drop((rx, tx));
    port.stop().unwrap();
    drop(port);
    // Removed at close: opening the same name again probes a fresh device.
    let again = Port::open(eal(), "hot2", &name).expect("re-probe after removal");
    assert_eq!(again.stats().unwrap().opackets, 0);
}

#[test]
fn bad_device_is_refused_with_a_reason() {
    if !require_dpdk() {
        return;
    }
    let err = Port::open(eal(), "bogus", "net_doesnotexist0")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("net_doesnotexist0") && err.contains("did not probe"),
        "{err}"
    );
    let err = Port::open(eal(), "bogus2", "net_af_packet_x,iface=surely-no-such-if")
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not probe"), "{err}");
}

#[test]
fn queue_taken_twice_is_refused() {
    if !require_dpdk() {
        return;
    }
    let (port, _rx, _tx) = open_started("q", &unique("net_ring"));
    assert!(
        port.rx_queue(0)
            .unwrap_err()
            .to_string()
            .contains("already taken")
    );
    assert!(
        port.rx_queue(1)
            .unwrap_err()
            .to_string()
            .contains("not configured")
    );
}

#[test]
fn worker_lcore_runs_closures_and_reports_panics() {
    if !require_dpdk() {
        return;
    }
    let workers = worker_lcores(eal());
    if !require(!workers.is_empty(), "needs 2 CPUs for a worker lcore") {
        return;
    }
    let lcore = workers[0];
    let job = launch_on_lcore(eal(), lcore, dataplane::dpdk::lcore_id).unwrap();
    assert_eq!(
        job.join().unwrap(),
        lcore,
        "the closure ran on the worker lcore"
    );
    let job = launch_on_lcore(eal(), lcore, || -> u32 { panic!("boom in worker") }).unwrap();
    let err = job.join().unwrap_err().to_string();
    assert!(err.contains("boom in worker"), "{err}");
    // The lcore is usable again after a panic.
    let job = launch_on_lcore(eal(), lcore, || 7).unwrap();
    assert_eq!(job.join().unwrap(), 7);
}
