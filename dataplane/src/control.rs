//! The control API's backend: what `dpctl` and the CNI plugin reach over the unix socket,
//! implemented on the forwarding state's single writer ([`Control`]).
//!
//! Requests arrive validated by the server; the backend maps them onto `Control`, whose own
//! checks make every change all-or-nothing, and maps its refusals onto HTTP statuses with the
//! field that was wrong. Workers see changes at their next quiescent point; nothing here
//! stops or locks them.

use dp_net::wire::VXLAN_DEFAULT_TUNNEL_MTU;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use dp_api::{
    ApiError, CreatePort, DeviceSpec, Ipv4Cidr, Ipv4Prefix, MacAddr, Neighbor, NeighborInfo,
    NeighborKind, NextHop, PortInfo, PortStats as ApiPortStats, Route, RouteInfo, RouteSource,
    SetAddress, SetAdminState, Tunnel, WorkerErrors, WorkerRuntime,
};
use std::sync::atomic::Ordering;

use dp_api::{
    CaptureDirection, CaptureRequest, CaptureResult, TraceRequest, TraceResult, TracedPacket,
};

use crate::worker::CaptureAsk;
use dp_net::fwd::{Control, FwdError, IfaceKind, LearnQueue, ProbeQueue, RouteKind, VxlanTunnel};

use crate::config::tunnel_mac;
use crate::dpdk::{Port, PortConfig};
use crate::worker::WorkerStats;
use crate::worker::{RxCmd, TxCmd};

/// State the API works on: the forwarding state's writer, the ports, the workers' counters.
pub struct Inner {
    pub control: Control,
    pub ports: Vec<Port>,
    pub workers: Vec<Arc<Mutex<WorkerStats>>>,
    /// Per worker (same order): trace, capture and port requests.
    pub worker_ctls: Vec<Arc<crate::worker::WorkerCtl>>,
    /// Kept for probing ports at runtime; dropped after the ports at shutdown.
    pub eal: Arc<crate::dpdk::Eal>,
    pub pool: crate::dpdk::Mempool,
    /// Port name -> the worker polling each of its rx queues (index = queue).
    pub rx_worker: HashMap<String, Vec<usize>>,
    /// Ports created through the API, with what they were created from.
    pub specs: HashMap<String, DeviceSpec>,
    /// Cross-connected ports (L2 only; not deletable at runtime).
    pub xconnected: Vec<String>,
    /// Where API-made ports and routes are kept (`[control] state-file`).
    pub state_file: Option<std::path::PathBuf>,
    /// What the API made, as last written there.
    pub api_state: crate::state::ApiState,
}

impl Inner {
    fn save_state(&self) {
        if let Some(path) = &self.state_file
            && let Err(e) = self.api_state.save(path)
        {
            eprintln!("dataplane: {e}");
        }
    }
}

/// The daemon's implementation of `dp_api::server::Backend`.
pub struct DaemonBackend {
    inner: Mutex<Inner>,
}

impl DaemonBackend {
    pub fn new(inner: Inner) -> DaemonBackend {
        DaemonBackend {
            inner: Mutex::new(inner),
        }
    }

    /// The state, for the control loop (neighbor learning) and shutdown.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies what the workers learned.
    pub fn learn(&self, q: &LearnQueue) -> Result<usize, FwdError> {
        self.lock().control.learn(q, Instant::now())
    }

    /// Announces the addresses of every port whose link came up since the last call (`seen`:
    /// each port's link then). A port seen for the first time is only recorded: its addresses
    /// were announced when they were added.
    pub fn announce_link_ups(&self, seen: &mut HashMap<String, bool>) {
        let mut s = self.lock();
        let Inner { control, ports, .. } = &mut *s;
        for p in ports.iter() {
            let up = p.link().is_ok_and(|l| l.up);
            let was = seen.insert(p.name().to_string(), up);
            if up
                && was == Some(false)
                && let Ok(i) = control.iface(p.name())
            {
                control.announce(i.index);
            }
        }
        seen.retain(|name, _| ports.iter().any(|p| p.name() == name));
    }

    /// One neighbor aging pass: probes into `probes`, unanswered entries removed.
    pub fn age_neighbors(&self, probes: &ProbeQueue) -> Result<usize, FwdError> {
        self.lock().control.age_neighbors(Instant::now(), probes)
    }
}

/// Maps a control-plane refusal onto an API error naming `field`.
fn refused(e: FwdError, field: &str) -> ApiError {
    let msg = e.to_string();
    let err = match e {
        FwdError::NoIface(_) | FwdError::NoRoute(..) | FwdError::NoAddress(..) => {
            ApiError::not_found(msg)
        }
        FwdError::IfaceExists(_)
        | FwdError::RouteExists(..)
        | FwdError::TunnelExists { .. }
        | FwdError::AddressInUse { .. } => ApiError::conflict(msg),
        FwdError::WorkersStuck => ApiError::unavailable(msg),
        FwdError::TooManyIfaces | FwdError::Fib(dp_net::ip4::FibError::RouteTableFull { .. }) => {
            ApiError::conflict(msg)
        }
        _ => ApiError::bad_request(msg),
    };
    err.with_field(field)
}

fn cidr(a: Ipv4Addr, len: u8) -> Option<Ipv4Cidr> {
    Ipv4Cidr::new(a, len).ok()
}

impl Inner {
    fn port_info(&self, p: &Port) -> Result<PortInfo, ApiError> {
        let iface = self
            .control
            .iface(p.name())
            .map_err(|e| refused(e, "name"))?;
        Ok(PortInfo {
            name: p.name().to_string(),
            device: self
                .specs
                .get(p.name())
                .cloned()
                .unwrap_or_else(|| DeviceSpec::Dpdk {
                    devargs: p.device().to_string(),
                }),
            mac: Some(MacAddr(iface.mac)),
            mtu: Some(iface.mtu),
            address: iface.addrs.first().and_then(|&(a, l)| cidr(a, l)),
            admin_up: iface.up,
            link_up: p.link().map(|l| l.up).unwrap_or(false),
            persistent: self.state_file.is_some() && self.specs.contains_key(p.name()),
            rx_workers: self
                .rx_worker
                .get(p.name())
                .map(|w| w.iter().map(|&w| w as u32).collect())
                .unwrap_or_default(),
            offloads: crate::dpdk::offload_names(p.offloads()),
        })
    }

    fn port(&self, name: &str) -> Result<&Port, ApiError> {
        self.ports
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ApiError::not_found(format!("no port `{name}`")).with_field("name"))
    }

    fn tunnels(&self) -> Vec<Tunnel> {
        self.control
            .state()
            .ifaces
            .iter()
            .flatten()
            .filter_map(|i| match i.kind {
                IfaceKind::Vxlan(t) => Some(Tunnel {
                    name: i.name.clone(),
                    vni: t.vni,
                    local: t.local,
                    remote: t.remote,
                    udp_port: t.udp_port,
                    address: i.addrs.first().and_then(|&(a, l)| cidr(a, l)),
                }),
                IfaceKind::Port { .. } => None,
            })
            .collect()
    }
}

impl dp_api::server::Backend for DaemonBackend {
    async fn list_ports(&self) -> Result<Vec<PortInfo>, ApiError> {
        let s = self.lock();
        s.ports.iter().map(|p| s.port_info(p)).collect()
    }

    async fn get_port(&self, name: &str) -> Result<PortInfo, ApiError> {
        let s = self.lock();
        let p = s.port(name)?;
        s.port_info(p)
    }

    async fn create_port(&self, req: CreatePort) -> Result<PortInfo, ApiError> {
        let mut s = self.lock();
        if s.control.iface(&req.name).is_ok() {
            return Err(
                ApiError::conflict(format!("`{}` exists already", req.name)).with_field("name")
            );
        }
        let devargs = req.device.devargs(&req.name);
        let dev_name = crate::dpdk::device_name(&devargs).to_string();
        if s.ports
            .iter()
            .any(|p| crate::dpdk::device_name(p.device()) == dev_name)
        {
            return Err(
                ApiError::conflict(format!("device `{dev_name}` is in use")).with_field("device")
            );
        }
        // The mbufs were sized at start: a longer frame would not fit one, and be dropped.
        let most = s.pool.max_mtu();
        if let Some(m) = req.mtu.filter(|&m| m > most) {
            return Err(ApiError::invalid(
                "mtu",
                format!(
                    "{m} is above {most}, the largest the mbufs were sized for at start \
                     (the config's [mempool] max-mtu)"
                ),
            ));
        }
        if let Some(sock) = req.device.socket()
            && let Some(dir) = sock.parent()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                ApiError::invalid(
                    "device.socket",
                    format!("cannot create {}: {e}", dir.display()),
                )
            })?;
        }
        let nw = s.worker_ctls.len();
        let (port, caps) = crate::daemon::open_port(&s.eal, &req.name, &devargs)
            .map_err(|e| ApiError::invalid("device", e))?;
        // The device's own MTU limits, checked before configuring it: DPDK would only say
        // EINVAL, and the fault is the `mtu` asked, not the device.
        if let Some(why) = req
            .mtu
            .and_then(|m| crate::daemon::device_mtu_problem(&caps, m))
        {
            return Err(ApiError::invalid("mtu", why));
        }
        // The daemon's rule: an rx and a tx queue per worker as far as the device has them
        // (the workers share the tx queues when it has fewer).
        let rx_queues = crate::daemon::rx_queues_default(&caps, nw);
        let pc = PortConfig {
            mtu: req.mtu,
            rx_queues,
            tx_queues: crate::daemon::tx_queue_count(&caps, nw),
            ..PortConfig::default()
        };
        let info = crate::daemon::start_port(&port, s.pool, pc)
            .map_err(|e| ApiError::invalid("device", e))?;
        let index = s
            .control
            .add_port(&req.name, info.port_id, info.mac, info.mtu, info.caps)
            .map_err(|e| refused(e, "name"))?;
        // From here a failure takes the interface out again; dropping `port` closes the device.
        let undo = |s: &mut Inner, e: ApiError| {
            let _ = s.control.del_port(&req.name);
            e
        };
        if let Some(a) = req.address
            && let Err(e) = s.control.add_address(&req.name, a.addr(), a.prefix_len())
        {
            return Err(undo(&mut s, refused(e, "address")));
        }
        if !req.up
            && let Err(e) = s.control.set_up(&req.name, false)
        {
            return Err(undo(&mut s, refused(e, "up")));
        }
        // Hand the queues to the workers: each rx queue to the least loaded, a tx queue to
        // each. Nothing else changes for the workers: they take these at their next loop.
        let tx = crate::daemon::worker_tx_queues(&port, nw);
        let rx = (0..rx_queues)
            .map(|q| port.rx_queue(q))
            .collect::<Result<Vec<_>, _>>();
        let (tx, rx) = match (tx, rx) {
            (Ok(t), Ok(r)) => (t, r),
            (Err(e), _) | (_, Err(e)) => {
                return Err(undo(&mut s, ApiError::internal(e.to_string())));
            }
        };
        let mut load = vec![0usize; nw];
        for &w in s.rx_worker.values().flatten() {
            if let Some(l) = load.get_mut(w) {
                *l += 1;
            }
        }
        let dealt = crate::daemon::deal_rx_queues(&mut load, rx_queues);
        for (ctl, q) in s.worker_ctls.iter().zip(tx) {
            ctl.tx(TxCmd::Add(q));
        }
        for (q, &w) in rx.into_iter().zip(&dealt) {
            s.worker_ctls[w].rx(RxCmd::Add(q, index));
        }
        s.rx_worker.insert(req.name.clone(), dealt);
        s.specs.insert(req.name.clone(), req.device.clone());
        s.api_state.ports.retain(|p| p.name != req.name);
        s.api_state.ports.push(req.clone());
        s.save_state();
        s.ports.push(port.clone());
        s.port_info(&port)
    }

    async fn delete_port(&self, name: &str) -> Result<(), ApiError> {
        let port = {
            let mut s = self.lock();
            let port = s.port(name)?.clone();
            if s.xconnected.iter().any(|x| x == name) {
                return Err(ApiError::conflict(format!(
                    "`{name}` is cross-connected; remove it from the config"
                ))
                .with_field("name"));
            }
            // Out of the forwarding state first: nothing is routed to it any more.
            s.control.del_port(name).map_err(|e| refused(e, "name"))?;
            for ctl in &s.worker_ctls {
                ctl.rx(RxCmd::Remove(port.id()));
                ctl.tx(TxCmd::Remove(port.id()));
            }
            port
        };
        // Workers drop their queue handles at their next loop.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while port.queue_handles() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::unavailable(format!(
                    "workers did not release `{name}` in time"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let mut s = self.lock();
        let _ = port.stop();
        s.ports.retain(|p| p.name() != name);
        s.rx_worker.remove(name);
        s.specs.remove(name);
        s.api_state.ports.retain(|p| p.name != name);
        s.save_state();
        // The last handle closes the device (and removes it when it was hot-plugged).
        drop(port);
        Ok(())
    }

    async fn set_port_address(&self, name: &str, req: SetAddress) -> Result<PortInfo, ApiError> {
        let mut s = self.lock();
        s.port(name)?;
        let iface = s.control.iface(name).map_err(|e| refused(e, "name"))?;
        let old = iface.addrs.first().copied();
        if old.is_some_and(|(a, l)| {
            req.address
                .is_some_and(|n| n.addr() == a && n.prefix_len() == l)
        }) {
            let p = s.port(name)?.clone();
            return s.port_info(&p);
        }
        if let Some((a, l)) = old {
            s.control
                .del_address(name, a, l)
                .map_err(|e| refused(e, "address"))?;
        }
        if let Some(new) = req.address
            && let Err(e) = s.control.add_address(name, new.addr(), new.prefix_len())
        {
            // Put the old address back: nothing half-applied.
            if let Some((a, l)) = old {
                let _ = s.control.add_address(name, a, l);
            }
            return Err(refused(e, "address"));
        }
        let p = s.port(name)?.clone();
        s.port_info(&p)
    }

    async fn set_port_admin_state(
        &self,
        name: &str,
        req: SetAdminState,
    ) -> Result<PortInfo, ApiError> {
        let mut s = self.lock();
        s.port(name)?;
        s.control
            .set_up(name, req.up)
            .map_err(|e| refused(e, "name"))?;
        let p = s.port(name)?.clone();
        s.port_info(&p)
    }

    async fn list_routes(&self) -> Result<Vec<RouteInfo>, ApiError> {
        let s = self.lock();
        let state = s.control.state();
        Ok(s.control
            .routes()
            .filter_map(|r| {
                let prefix = Ipv4Prefix::new(r.prefix, r.len).ok()?;
                let (source, next_hops) = match r.kind {
                    RouteKind::Static => (
                        RouteSource::Static,
                        r.hops
                            .iter()
                            .map(|&(gw, dev)| NextHop {
                                via: gw,
                                interface: dev.and_then(|i| state.iface(i)).map(|i| i.name.clone()),
                            })
                            .collect(),
                    ),
                    RouteKind::Connected => {
                        let iface = state
                            .connected_iface(r.prefix)
                            .and_then(|i| state.iface(i))
                            .map(|i| i.name.clone());
                        (
                            RouteSource::Connected,
                            vec![NextHop {
                                via: None,
                                interface: iface,
                            }],
                        )
                    }
                    RouteKind::Local => (RouteSource::Local, vec![]),
                };
                Some(RouteInfo {
                    prefix,
                    next_hops,
                    source,
                })
            })
            .collect())
    }

    async fn add_route(&self, route: Route) -> Result<RouteInfo, ApiError> {
        let mut s = self.lock();
        let mut hops = Vec::new();
        for (i, nh) in route.next_hops.iter().enumerate() {
            let dev = match &nh.interface {
                Some(name) => Some(
                    s.control
                        .iface(name)
                        .map_err(|e| refused(e, &format!("next_hops[{i}].interface")))?
                        .index,
                ),
                None => None,
            };
            hops.push((nh.via, dev));
        }
        s.control
            .add_route_hops(route.prefix.addr(), route.prefix.prefix_len(), &hops)
            .map_err(|e| refused(e, "next_hops"))?;
        s.api_state.routes.retain(|r| r.prefix != route.prefix);
        s.api_state.routes.push(route.clone());
        s.save_state();
        Ok(RouteInfo {
            prefix: route.prefix,
            next_hops: route.next_hops,
            source: RouteSource::Static,
        })
    }

    async fn delete_route(&self, prefix: Ipv4Prefix) -> Result<(), ApiError> {
        let mut s = self.lock();
        s.control
            .del_route(prefix.addr(), prefix.prefix_len())
            .map_err(|e| refused(e, "prefix"))?;
        if s.api_state.routes.iter().any(|r| r.prefix == prefix) {
            s.api_state.routes.retain(|r| r.prefix != prefix);
            s.save_state();
        }
        Ok(())
    }

    async fn list_neighbors(&self) -> Result<Vec<NeighborInfo>, ApiError> {
        let s = self.lock();
        let state = s.control.state();
        let now = Instant::now();
        let mut out: Vec<NeighborInfo> = state
            .neighbors
            .iter()
            .filter_map(|(&(i, ip), n)| {
                Some(NeighborInfo {
                    address: ip,
                    mac: MacAddr(n.mac),
                    interface: state.iface(i)?.name.clone(),
                    kind: if n.is_static {
                        NeighborKind::Static
                    } else {
                        NeighborKind::Dynamic
                    },
                    age_secs: s.control.neighbor_age(i, ip, now).map(|a| a.as_secs()),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.interface, a.address).cmp(&(&b.interface, b.address)));
        Ok(out)
    }

    async fn add_neighbor(&self, n: Neighbor) -> Result<NeighborInfo, ApiError> {
        let mut s = self.lock();
        let iface = s
            .control
            .iface(&n.interface)
            .map_err(|e| refused(e, "interface"))?;
        if s.control
            .state()
            .neighbor(iface.index, n.address)
            .is_some_and(|e| e.is_static)
        {
            return Err(ApiError::conflict(format!(
                "neighbor {} on `{}` exists already",
                n.address, n.interface
            ))
            .with_field("address"));
        }
        s.control
            .set_neighbor(iface.index, n.address, n.mac.0, true)
            .map_err(|e| refused(e, "interface"))?;
        Ok(NeighborInfo {
            address: n.address,
            mac: n.mac,
            interface: n.interface,
            kind: NeighborKind::Static,
            age_secs: None,
        })
    }

    async fn delete_neighbor(&self, interface: &str, address: Ipv4Addr) -> Result<(), ApiError> {
        let mut s = self.lock();
        let iface = s
            .control
            .iface(interface)
            .map_err(|e| refused(e, "interface"))?;
        match s.control.del_neighbor(iface.index, address) {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::not_found(format!(
                "no neighbor {address} on `{interface}`"
            ))
            .with_field("address")),
            Err(e) => Err(refused(e, "interface")),
        }
    }

    async fn list_tunnels(&self) -> Result<Vec<Tunnel>, ApiError> {
        Ok(self.lock().tunnels())
    }

    async fn add_tunnel(&self, t: Tunnel) -> Result<Tunnel, ApiError> {
        let mut s = self.lock();
        let index = s.control.state().ifaces.len();
        let tunnel = VxlanTunnel {
            vni: t.vni,
            local: t.local,
            remote: t.remote,
            udp_port: t.udp_port,
        };
        s.control
            .add_vxlan(
                &t.name,
                tunnel,
                tunnel_mac(t.vni, index),
                VXLAN_DEFAULT_TUNNEL_MTU,
            )
            .map_err(|e| refused(e, "local"))?;
        if let Some(a) = t.address
            && let Err(e) = s.control.add_address(&t.name, a.addr(), a.prefix_len())
        {
            // The tunnel stays without the address; say so rather than half-succeed silently.
            return Err(refused(e, "address"));
        }
        Ok(t)
    }

    async fn delete_tunnel(&self, name: &str) -> Result<(), ApiError> {
        let mut s = self.lock();
        if !s.tunnels().iter().any(|t| t.name == name) {
            return Err(ApiError::not_found(format!("no tunnel `{name}`")).with_field("name"));
        }
        s.control.del_vxlan(name).map_err(|e| refused(e, "name"))
    }

    async fn trace(&self, req: TraceRequest) -> Result<TraceResult, ApiError> {
        let (workers, names) = {
            let s = self.lock();
            for w in &s.workers {
                if let Ok(mut w) = w.lock() {
                    w.traces.clear();
                }
            }
            for r in &s.worker_ctls {
                r.trace_req.store(req.count, Ordering::Release);
            }
            let state = s.control.state();
            let names: Vec<String> = state
                .ifaces
                .iter()
                .map(|i| i.as_ref().map(|i| i.name.clone()).unwrap_or_default())
                .collect();
            (s.workers.clone(), names)
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(req.wait_ms);
        let mut packets = Vec::new();
        loop {
            for (wi, w) in workers.iter().enumerate() {
                if let Ok(mut w) = w.lock() {
                    for t in w.traces.drain(..) {
                        packets.push(TracedPacket {
                            worker: wi as u32,
                            port: names
                                .get(t.rx_if as usize)
                                .cloned()
                                .unwrap_or_else(|| format!("#{}", t.rx_if)),
                            nodes: t.nodes.iter().map(|n| n.to_string()).collect(),
                            summary: summarize(t.len, &t.head),
                        });
                    }
                }
            }
            if packets.len() >= req.count as usize || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Stop tracing what did not arrive in time.
        for r in &self.lock().worker_ctls {
            r.trace_req.store(0, Ordering::Release);
        }
        packets.truncate(req.count as usize);
        Ok(TraceResult { packets })
    }

    async fn capture(&self, req: CaptureRequest) -> Result<CaptureResult, ApiError> {
        let (workers, ctls) = {
            let s = self.lock();
            s.port(&req.port)?;
            let iface = s.control.iface(&req.port).map_err(|e| refused(e, "port"))?;
            let (node, by_tx) = match req.direction {
                CaptureDirection::Rx => ("ethernet-input", false),
                CaptureDirection::Tx => ("port-tx", true),
                CaptureDirection::Drop => ("drop", false),
            };
            let ask = CaptureAsk {
                node,
                iface: iface.index,
                by_tx,
                count: req.count as usize,
                max_bytes: req.max_bytes as usize,
            };
            for w in &s.workers {
                if let Ok(mut w) = w.lock() {
                    w.captured.clear();
                }
            }
            for c in &s.worker_ctls {
                c.capture(Some(ask));
            }
            (s.workers.clone(), s.worker_ctls.clone())
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(req.wait_ms);
        let mut packets = Vec::new();
        let mut bytes = 0u64;
        loop {
            for w in &workers {
                if let Ok(mut w) = w.lock() {
                    for c in w.captured.drain(..) {
                        bytes += c.data.len() as u64;
                        packets.push(c);
                    }
                }
            }
            if packets.len() >= req.count as usize
                || bytes >= req.max_bytes
                || tokio::time::Instant::now() >= deadline
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for c in &ctls {
            c.capture(None);
        }
        packets.sort_by_key(|c| c.ts_ns);
        packets.truncate(req.count as usize);
        write_pcapng(&req.file, &packets).map_err(|e| ApiError::invalid("file", e))?;
        let bytes = packets.iter().map(|c| c.data.len() as u64).sum();
        Ok(CaptureResult {
            file: req.file,
            packets: packets.len() as u64,
            bytes,
        })
    }

    async fn port_stats(&self) -> Result<Vec<ApiPortStats>, ApiError> {
        let s = self.lock();
        Ok(s.ports
            .iter()
            .map(|p| {
                let i = usize::from(p.id());
                let st = p.stats().unwrap_or_default();
                let sw_drop: u64 = s
                    .workers
                    .iter()
                    .filter_map(|w| {
                        w.lock()
                            .ok()
                            .and_then(|w| w.xconnect_ports.get(i).map(|c| c.tx_dropped))
                    })
                    .sum();
                ApiPortStats {
                    name: p.name().to_string(),
                    rx_packets: st.ipackets,
                    rx_bytes: st.ibytes,
                    tx_packets: st.opackets,
                    tx_bytes: st.obytes,
                    rx_missed: st.imissed,
                    rx_errors: st.ierrors + st.rx_nombuf,
                    tx_errors: st.oerrors,
                    drops: sw_drop,
                }
            })
            .collect())
    }

    async fn runtime_stats(&self) -> Result<Vec<WorkerRuntime>, ApiError> {
        let s = self.lock();
        Ok(s.workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some(w.lock().ok()?.runtime(i as u32)))
            .collect())
    }

    async fn error_stats(&self) -> Result<Vec<WorkerErrors>, ApiError> {
        let s = self.lock();
        Ok(s.workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some(w.lock().ok()?.errors(i as u32)))
            .collect())
    }
}

/// One line about a traced packet from its first bytes (as it entered the graph).
fn summarize(len: usize, head: &[u8]) -> String {
    if head.len() < 14 {
        return format!("{len} bytes");
    }
    let et = u16::from_be_bytes([head[12], head[13]]);
    let l3 = &head[14..];
    match et {
        0x0800 if l3.len() >= 20 => {
            let src = Ipv4Addr::new(l3[12], l3[13], l3[14], l3[15]);
            let dst = Ipv4Addr::new(l3[16], l3[17], l3[18], l3[19]);
            let proto = match l3[9] {
                1 => "icmp".to_string(),
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                p => format!("proto {p}"),
            };
            format!("IPv4 {src} > {dst} {proto} ttl {}, {len} bytes", l3[8])
        }
        0x0806 if l3.len() >= 28 => {
            let op = if l3[7] == 1 { "who-has" } else { "reply" };
            let tpa = Ipv4Addr::new(l3[24], l3[25], l3[26], l3[27]);
            let spa = Ipv4Addr::new(l3[14], l3[15], l3[16], l3[17]);
            format!("ARP {op} {tpa} from {spa}, {len} bytes")
        }
        _ => format!("ethertype 0x{et:04x}, {len} bytes"),
    }
}

/// Writes captured frames as pcapng (one Ethernet interface) that tshark and Wireshark read.
fn write_pcapng(
    path: &std::path::Path,
    packets: &[dp_net::graph::capture::Captured],
) -> Result<(), String> {
    use pcap_file::DataLink;
    use pcap_file::pcapng::PcapNgWriter;
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut w = PcapNgWriter::new(file).map_err(|e| format!("{}: {e}", path.display()))?;
    let idb = InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0xffff,
        options: vec![],
    };
    w.write_pcapng_block(idb)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    for p in packets {
        let epb = EnhancedPacketBlock {
            interface_id: 0,
            timestamp: std::time::Duration::from_nanos(p.ts_ns),
            original_len: p.data.len() as u32,
            data: std::borrow::Cow::Borrowed(&p.data),
            options: vec![],
        };
        w.write_pcapng_block(epb)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
