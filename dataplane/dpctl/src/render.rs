//! What each command prints: a human table (VPP-like column names) or, with `--json`, the
//! API's JSON as received, pretty-printed, so scripts see exactly the API's objects.

use dp_api::{
    ErrorCounter, ErrorStats, NeighborInfo, NeighborKind, NodeStats, PortInfo, PortStats,
    RouteInfo, RouteSource, RuntimeStats, TraceResult, Tunnel,
};
use serde::Serialize;
use serde_json::json;

use crate::table::{Align, Table};

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// JSON instead of tables.
    pub json: bool,
}

fn print_json<T: Serialize + ?Sized>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        // Values that came from JSON always go back to JSON; say so loudly if not.
        Err(e) => eprintln!("dpctl: cannot print JSON: {e}"),
    }
}

fn float(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

impl Output {
    /// A change was made: the object in JSON, or one line.
    pub fn done<T: Serialize>(&self, value: &T, line: &str) {
        if self.json {
            print_json(value);
        } else {
            println!("{line}");
        }
    }

    /// Something was deleted.
    pub fn deleted(&self, what: &str) {
        if self.json {
            print_json(&json!({ "deleted": what }));
        } else {
            println!("{what} deleted");
        }
    }

    /// `show interfaces`: each port with its counters.
    pub fn interfaces(&self, ports: &[PortInfo], stats: &[PortStats]) {
        if self.json {
            print_json(&json!({ "ports": ports, "stats": stats }));
            return;
        }
        let mut t = Table::new(&[
            ("Name", Align::Left),
            ("Kind", Align::Left),
            ("Admin", Align::Left),
            ("Link", Align::Left),
            ("Address", Align::Left),
            ("MAC", Align::Left),
            ("MTU", Align::Right),
            ("RxQ", Align::Right),
            ("RX packets", Align::Right),
            ("TX packets", Align::Right),
            ("Missed", Align::Right),
            ("Errors", Align::Right),
            ("Drops", Align::Right),
            ("Offloads", Align::Left),
            ("Device", Align::Left),
        ]);
        for p in ports {
            let s = stats.iter().find(|s| s.name == p.name);
            let n = |f: fn(&PortStats) -> u64| s.map_or("-".to_string(), |s| f(s).to_string());
            let device = match p.device.socket() {
                Some(sock) => sock.display().to_string(),
                None => match &p.device {
                    dp_api::DeviceSpec::Dpdk { devargs } => devargs.clone(),
                    _ => String::new(),
                },
            };
            t.row(vec![
                p.name.clone(),
                p.device.kind().to_string(),
                if p.admin_up { "up" } else { "down" }.to_string(),
                if p.link_up { "up" } else { "down" }.to_string(),
                p.address.map_or("-".into(), |a| a.to_string()),
                p.mac.map_or("-".into(), |m| m.to_string()),
                p.mtu.map_or("-".into(), |m| m.to_string()),
                match p.rx_workers.len() {
                    0 => "-".to_string(),
                    q => q.to_string(),
                },
                n(|s| s.rx_packets),
                n(|s| s.tx_packets),
                n(|s| s.rx_missed),
                n(|s| s.rx_errors.saturating_add(s.tx_errors)),
                n(|s| s.drops),
                offloads(&p.offloads),
                device,
            ]);
        }
        print!("{}", t.render());
    }

    fn node_table(nodes: &[NodeStats]) -> String {
        let mut t = Table::new(&[
            ("Name", Align::Left),
            ("Calls", Align::Right),
            ("Vectors", Align::Right),
            ("Packets", Align::Right),
            ("Clocks", Align::Right),
            ("Clocks/Pkt", Align::Right),
            ("Vectors/Call", Align::Right),
            ("Pkts/Vector", Align::Right),
        ]);
        for n in nodes {
            t.row(vec![
                n.name.clone(),
                n.calls.to_string(),
                n.vectors.to_string(),
                n.packets.to_string(),
                n.clocks.to_string(),
                float(n.clocks_per_packet),
                float(n.vectors_per_call),
                float(n.packets_per_vector),
            ]);
        }
        t.render()
    }

    /// `show runtime`: one table per worker, then the sum when there are several.
    pub fn runtime(&self, r: &RuntimeStats) {
        if self.json {
            print_json(r);
            return;
        }
        if r.workers.is_empty() {
            println!("no workers");
            return;
        }
        for (i, w) in r.workers.iter().enumerate() {
            if i > 0 {
                println!();
            }
            println!("Worker {} (lcore {})", w.worker, w.lcore);
            print!("{}", Self::node_table(&w.nodes));
        }
        if r.workers.len() > 1 {
            println!();
            println!("Total ({} workers)", r.workers.len());
            print!("{}", Self::node_table(&r.total));
        }
    }

    fn error_table(counters: &[ErrorCounter]) -> String {
        let mut t = Table::new(&[
            ("Count", Align::Right),
            ("Node", Align::Left),
            ("Reason", Align::Left),
        ]);
        for c in counters.iter().filter(|c| c.count > 0) {
            t.row(vec![c.count.to_string(), c.node.clone(), c.reason.clone()]);
        }
        if t.is_empty() {
            "no drops or errors\n".to_string()
        } else {
            t.render()
        }
    }

    /// `show errors`: the sum over workers, or one table per worker.
    pub fn errors(&self, e: &ErrorStats, per_worker: bool) {
        if self.json {
            print_json(e);
            return;
        }
        if per_worker {
            for (i, w) in e.workers.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("Worker {}", w.worker);
                print!("{}", Self::error_table(&w.counters));
            }
        } else {
            print!("{}", Self::error_table(&e.total));
        }
    }

    /// `show fib`: one line per next hop (ECMP routes take several lines).
    pub fn fib(&self, routes: &[RouteInfo]) {
        if self.json {
            print_json(routes);
            return;
        }
        let mut t = Table::new(&[
            ("Prefix", Align::Left),
            ("Source", Align::Left),
            ("Next hop", Align::Left),
        ]);
        for r in routes {
            let source = match r.source {
                RouteSource::Static => "static",
                RouteSource::Connected => "connected",
                RouteSource::Local => "local",
            };
            for (i, h) in r.next_hops.iter().enumerate() {
                let (p, s) = if i == 0 {
                    (r.prefix.to_string(), source.to_string())
                } else {
                    (String::new(), String::new())
                };
                t.row(vec![p, s, h.to_string()]);
            }
        }
        print!("{}", t.render());
    }

    /// `show neighbors`.
    pub fn neighbors(&self, ns: &[NeighborInfo]) {
        if self.json {
            print_json(ns);
            return;
        }
        let mut t = Table::new(&[
            ("Address", Align::Left),
            ("MAC", Align::Left),
            ("Interface", Align::Left),
            ("Kind", Align::Left),
            ("Age", Align::Right),
        ]);
        for n in ns {
            t.row(vec![
                n.address.to_string(),
                n.mac.to_string(),
                n.interface.clone(),
                match n.kind {
                    NeighborKind::Static => "static",
                    NeighborKind::Dynamic => "dynamic",
                }
                .to_string(),
                n.age_secs
                    .map_or_else(|| "-".to_string(), |s| format!("{s}s")),
            ]);
        }
        print!("{}", t.render());
    }

    /// `show tunnels`.
    pub fn tunnels(&self, ts: &[Tunnel]) {
        if self.json {
            print_json(ts);
            return;
        }
        let mut t = Table::new(&[
            ("Name", Align::Left),
            ("VNI", Align::Right),
            ("Local", Align::Left),
            ("Remote", Align::Left),
            ("UDP port", Align::Right),
            ("Address", Align::Left),
        ]);
        for x in ts {
            t.row(vec![
                x.name.clone(),
                x.vni.to_string(),
                x.local.to_string(),
                x.remote.to_string(),
                x.udp_port.to_string(),
                x.address.map_or("-".into(), |a| a.to_string()),
            ]);
        }
        print!("{}", t.render());
    }

    /// `trace N`: each packet's path.
    pub fn trace(&self, r: &TraceResult) {
        if self.json {
            print_json(r);
            return;
        }
        if r.packets.is_empty() {
            println!("no packet seen");
            return;
        }
        for (i, p) in r.packets.iter().enumerate() {
            println!(
                "Packet {} (worker {}, from {}): {}",
                i + 1,
                p.worker,
                p.port,
                p.summary
            );
            println!("  {}", p.nodes.join(" -> "));
        }
    }
}

/// The Offloads cell of `show interfaces`: the API's offload names (`rx-ipv4-cksum`,
/// `rx-flow-hash`, `tx-udp-cksum`, ...) short, by direction: `rx:ip4,udp,tcp,hash
/// tx:ip4,udp,tcp`; `-` when the device does none (the graph does it all in software). A
/// name it does not know is shown whole.
fn offloads(names: &[String]) -> String {
    let (mut rx, mut tx, mut other) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        let (dir, what) = match name.split_once('-') {
            Some(("rx", w)) => (&mut rx, w),
            Some(("tx", w)) => (&mut tx, w),
            _ => {
                other.push(name.as_str());
                continue;
            }
        };
        dir.push(match what {
            "ipv4-cksum" => "ip4",
            "udp-cksum" => "udp",
            "tcp-cksum" => "tcp",
            "flow-hash" => "hash",
            _ => name.as_str(),
        });
    }
    let mut parts = Vec::new();
    if !rx.is_empty() {
        parts.push(format!("rx:{}", rx.join(",")));
    }
    if !tx.is_empty() {
        parts.push(format!("tx:{}", tx.join(",")));
    }
    parts.extend(other.into_iter().map(str::to_string));
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::offloads;

    fn cell(names: &[&str]) -> String {
        offloads(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn offloads_are_shown_short_by_direction() {
        assert_eq!(cell(&[]), "-");
        assert_eq!(
            cell(&[
                "rx-ipv4-cksum",
                "rx-udp-cksum",
                "rx-tcp-cksum",
                "rx-flow-hash",
                "tx-ipv4-cksum",
                "tx-udp-cksum",
                "tx-tcp-cksum"
            ]),
            "rx:ip4,udp,tcp,hash tx:ip4,udp,tcp"
        );
        assert_eq!(cell(&["tx-udp-cksum"]), "tx:udp");
        // Names it does not know (a newer daemon's) are shown whole, not lost.
        assert_eq!(
            cell(&["rx-flow-hash", "rx-lro", "tso"]),
            "rx:hash,rx-lro tso"
        );
    }
}
