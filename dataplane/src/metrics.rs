//! Prometheus text exposition (format 0.0.4) of the dataplane's counters: ports, per-node
//! calls/packets/clocks, drops by reason, and table sizes. Rendered at scrape time from the
//! snapshots workers publish, so scraping never touches a worker.
//!
//! Served on `[control] metrics = "ADDR:PORT"` (off by default) at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::control::DaemonBackend;

/// Escapes a label value (backslash, double quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One metric family: its type, help text, and (labels, value) samples.
struct Family {
    kind: &'static str,
    help: &'static str,
    samples: Vec<(String, u64)>,
}

/// Collects samples per metric so each family is written once with its HELP and TYPE.
#[derive(Default)]
struct Families {
    fams: BTreeMap<&'static str, Family>,
}

impl Families {
    fn add(
        &mut self,
        name: &'static str,
        kind: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        v: u64,
    ) {
        let l = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect::<Vec<_>>()
            .join(",");
        let l = if l.is_empty() {
            String::new()
        } else {
            format!("{{{l}}}")
        };
        self.fams
            .entry(name)
            .or_insert(Family {
                kind,
                help,
                samples: Vec::new(),
            })
            .samples
            .push((l, v));
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (
            name,
            Family {
                kind,
                help,
                samples,
            },
        ) in &self.fams
        {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        }
        out
    }
}

/// The exposition text.
pub fn render(backend: &DaemonBackend) -> String {
    let mut f = Families::default();
    let s = backend.lock();
    for p in &s.ports {
        let st = p.stats().unwrap_or_default();
        let port = [("port", p.name())];
        f.add(
            "dataplane_port_rx_packets_total",
            "counter",
            "Packets received by the port.",
            &port,
            st.ipackets,
        );
        f.add(
            "dataplane_port_tx_packets_total",
            "counter",
            "Packets sent by the port.",
            &port,
            st.opackets,
        );
        f.add(
            "dataplane_port_rx_bytes_total",
            "counter",
            "Bytes received by the port.",
            &port,
            st.ibytes,
        );
        f.add(
            "dataplane_port_tx_bytes_total",
            "counter",
            "Bytes sent by the port.",
            &port,
            st.obytes,
        );
        f.add(
            "dataplane_port_rx_missed_total",
            "counter",
            "Packets the NIC dropped because the rx ring was full.",
            &port,
            st.imissed,
        );
        f.add(
            "dataplane_port_rx_errors_total",
            "counter",
            "Receive errors, including no mbuf.",
            &port,
            st.ierrors + st.rx_nombuf,
        );
        f.add(
            "dataplane_port_tx_errors_total",
            "counter",
            "Transmit errors.",
            &port,
            st.oerrors,
        );
        let up = p.link().map(|l| l.up as u64).unwrap_or(0);
        f.add(
            "dataplane_port_link_up",
            "gauge",
            "1 when the port's link is up.",
            &port,
            up,
        );
    }
    for (wi, w) in s.workers.iter().enumerate() {
        let Ok(w) = w.lock() else { continue };
        let worker = wi.to_string();
        f.add(
            "dataplane_worker_loops_total",
            "counter",
            "Poll loops a worker ran.",
            &[("worker", &worker)],
            w.loops,
        );
        f.add(
            "dataplane_worker_idle_sleeps_total",
            "counter",
            "Idle back-off sleeps a worker took.",
            &[("worker", &worker)],
            w.idle_sleeps,
        );
        for n in &w.nodes {
            let l = [("node", n.name), ("worker", worker.as_str())];
            f.add(
                "dataplane_node_calls_total",
                "counter",
                "Times a graph node ran (one vector per call).",
                &l,
                n.stats.calls,
            );
            f.add(
                "dataplane_node_packets_total",
                "counter",
                "Packets a graph node handled.",
                &l,
                n.stats.packets,
            );
            f.add(
                "dataplane_node_clocks_total",
                "counter",
                "TSC clocks a graph node spent.",
                &l,
                n.stats.clocks,
            );
            for (reason, &count) in n.error_names.iter().zip(&n.stats.errors) {
                let l = [
                    ("node", n.name),
                    ("reason", *reason),
                    ("worker", worker.as_str()),
                ];
                f.add(
                    "dataplane_node_errors_total",
                    "counter",
                    "Packets a node dropped or counted, by reason.",
                    &l,
                    count,
                );
            }
        }
    }
    let state = s.control.state();
    f.add(
        "dataplane_fib_routes",
        "gauge",
        "Routes in the IPv4 FIB (static, connected, local).",
        &[],
        s.control.fib().len() as u64,
    );
    f.add(
        "dataplane_neighbors",
        "gauge",
        "Neighbor (ARP) entries.",
        &[],
        state.neighbors.len() as u64,
    );
    let n = s.control.neighbor_counters();
    f.add(
        "dataplane_neighbor_probes_total",
        "counter",
        "ARP probes asked of the workers for learned neighbors past their age.",
        &[],
        n.probes,
    );
    f.add(
        "dataplane_neighbors_aged_out_total",
        "counter",
        "Learned neighbors removed because they answered none of their probes.",
        &[],
        n.aged_out,
    );
    f.add(
        "dataplane_neighbor_learns_refused_total",
        "counter",
        "New neighbors not learned because [arp] max-neighbors were already learned.",
        &[],
        n.refused,
    );
    f.add(
        "dataplane_interfaces",
        "gauge",
        "Interfaces (ports and tunnels).",
        &[],
        state.ifaces.iter().flatten().count() as u64,
    );
    f.add(
        "dataplane_adjacencies",
        "gauge",
        "Adjacencies the FIB points at (slots freed by deleted pod routes not counted).",
        &[],
        state.adjs_in_use() as u64,
    );
    drop(s);
    f.render()
}

/// Serves `GET /metrics` on `addr` until the returned future is dropped.
pub async fn serve(listener: TcpListener, backend: Arc<DaemonBackend>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let backend = backend.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let backend = backend.clone();
                async move {
                    if req.method() == Method::GET && req.uri().path() == "/metrics" {
                        Response::builder()
                            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                            .body(Full::new(Bytes::from(render(&backend))))
                    } else {
                        Response::builder()
                            .status(StatusCode::NOT_FOUND)
                            .body(Full::new(Bytes::from_static(b"try /metrics\n")))
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Binds the metrics listener (an error names the address).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("metrics on {addr}: {e}"))
}
