//! Test support (feature `testing`): [`FakeBackend`], an in-memory dataplane that really keeps
//! the objects and enforces the rules a real one does (duplicates 409, unknown 404, in use
//! 409, unreachable gateway 400), and [`TestServer`], a real [`Server`] on a real unix socket,
//! run on its own thread so synchronous tests (and `std::process::Command`) can drive it.
//!
//! Meant for this crate's tests, dpctl's, and cni-sriov's (a fake dataplane for its
//! memif/vhost-user modes). Never enable it in a shipped binary.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::addr::{Ipv4Prefix, MacAddr};
use crate::error::ApiError;
use crate::model::{
    CaptureRequest, CaptureResult, CreatePort, DeviceSpec, Neighbor, NeighborInfo, NeighborKind,
    NextHop, PortInfo, Route, RouteInfo, RouteSource, SetAddress, SetAdminState, TraceRequest,
    TraceResult, TracedPacket, Tunnel,
};
use crate::server::{Backend, BindError, Server};
use crate::stats::{ErrorCounter, NodeStats, PortStats, WorkerErrors, WorkerRuntime};

#[derive(Debug, Default)]
struct State {
    ports: BTreeMap<String, PortInfo>,
    port_stats: BTreeMap<String, PortStats>,
    routes: BTreeMap<Ipv4Prefix, RouteInfo>,
    neighbors: BTreeMap<(String, Ipv4Addr), NeighborInfo>,
    tunnels: BTreeMap<String, Tunnel>,
    runtime: Vec<WorkerRuntime>,
    errors: Vec<WorkerErrors>,
    fail_next: Option<ApiError>,
    macs: u8,
}

/// An in-memory backend with the real rules. Thread-safe; share it as `Arc<FakeBackend>`.
#[derive(Debug)]
pub struct FakeBackend {
    state: Mutex<State>,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend::new()
    }
}

impl FakeBackend {
    /// Empty tables; runtime and error counters preset to [`sample_runtime`] and
    /// [`sample_errors`] (two workers), so `show runtime` has something to print.
    pub fn new() -> Self {
        FakeBackend {
            state: Mutex::new(State {
                runtime: sample_runtime(),
                errors: sample_errors(),
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent maps behind.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes the next operation fail with `e` (to test how clients handle 5xx and others).
    pub fn fail_next(&self, e: ApiError) {
        self.state().fail_next = Some(e);
    }

    /// Sets a port's counters (ports start at zero).
    pub fn set_port_stats(&self, stats: PortStats) {
        self.state().port_stats.insert(stats.name.clone(), stats);
    }

    /// Sets what port `name` says its device offloads (as the daemon reports a NIC's).
    ///
    /// # Panics
    /// If there is no port `name` (a test's mistake).
    pub fn set_port_offloads(&self, name: &str, offloads: &[&str]) {
        let mut s = self.state();
        let p = s
            .ports
            .get_mut(name)
            .unwrap_or_else(|| panic!("set_port_offloads: no port `{name}`"));
        p.offloads = offloads.iter().map(|o| o.to_string()).collect();
    }

    /// Replaces the per-worker node counters.
    pub fn set_runtime(&self, workers: Vec<WorkerRuntime>) {
        self.state().runtime = workers;
    }

    /// A snapshot of the ports (for assertions).
    pub fn ports(&self) -> Vec<PortInfo> {
        self.state().ports.values().cloned().collect()
    }

    /// A snapshot of the static routes.
    pub fn static_routes(&self) -> Vec<Route> {
        self.state()
            .routes
            .values()
            .map(|r| Route {
                prefix: r.prefix,
                next_hops: r.next_hops.clone(),
            })
            .collect()
    }

    fn begin(&self) -> Result<MutexGuard<'_, State>, ApiError> {
        let mut s = self.state();
        match s.fail_next.take() {
            Some(e) => Err(e),
            None => Ok(s),
        }
    }
}

impl State {
    fn interface_exists(&self, name: &str) -> bool {
        self.ports.contains_key(name) || self.tunnels.contains_key(name)
    }

    /// (interface, address) of every port and tunnel that has one.
    fn addresses(&self) -> Vec<(String, crate::addr::Ipv4Cidr)> {
        let ports = self
            .ports
            .values()
            .filter_map(|p| p.address.map(|a| (p.name.clone(), a)));
        let tunnels = self
            .tunnels
            .values()
            .filter_map(|t| t.address.map(|a| (t.name.clone(), a)));
        ports.chain(tunnels).collect()
    }

    fn connected_routes(&self) -> Vec<RouteInfo> {
        let mut out = Vec::new();
        for (name, a) in self.addresses() {
            let dev = NextHop {
                via: None,
                interface: Some(name),
            };
            out.push(RouteInfo {
                prefix: a.network(),
                next_hops: vec![dev.clone()],
                source: RouteSource::Connected,
            });
            if let Ok(local) = Ipv4Prefix::new(a.addr(), 32) {
                out.push(RouteInfo {
                    prefix: local,
                    next_hops: vec![dev],
                    source: RouteSource::Local,
                });
            }
        }
        out
    }

    fn routes_using(&self, interface: &str) -> Option<Ipv4Prefix> {
        self.routes
            .values()
            .find(|r| {
                r.next_hops
                    .iter()
                    .any(|h| h.interface.as_deref() == Some(interface))
            })
            .map(|r| r.prefix)
    }

    fn stats_for(&self, name: &str) -> PortStats {
        self.port_stats.get(name).cloned().unwrap_or(PortStats {
            name: name.to_string(),
            ..PortStats::default()
        })
    }
}

fn missing_port(name: &str) -> ApiError {
    ApiError::not_found(format!("no port named `{name}`"))
}

impl Backend for FakeBackend {
    async fn list_ports(&self) -> Result<Vec<PortInfo>, ApiError> {
        Ok(self.begin()?.ports.values().cloned().collect())
    }

    async fn get_port(&self, name: &str) -> Result<PortInfo, ApiError> {
        let s = self.begin()?;
        s.ports.get(name).cloned().ok_or_else(|| missing_port(name))
    }

    async fn create_port(&self, req: CreatePort) -> Result<PortInfo, ApiError> {
        let mut s = self.begin()?;
        if s.interface_exists(&req.name) {
            return Err(ApiError::conflict(format!(
                "an interface named `{}` exists already",
                req.name
            ))
            .with_field("name"));
        }
        for p in s.ports.values() {
            let clash = match (&p.device, &req.device) {
                (DeviceSpec::Dpdk { devargs: a }, DeviceSpec::Dpdk { devargs: b }) => a == b,
                (a, b) => a.socket().is_some() && a.socket() == b.socket(),
            };
            if clash {
                let field = if req.device.socket().is_some() {
                    "device.socket"
                } else {
                    "device.devargs"
                };
                return Err(ApiError::conflict(format!(
                    "port `{}` already uses this device",
                    p.name
                ))
                .with_field(field));
            }
        }
        s.macs = s.macs.wrapping_add(1);
        let info = PortInfo {
            name: req.name.clone(),
            persistent: !matches!(req.device, DeviceSpec::Dpdk { .. }),
            device: req.device,
            mac: Some(MacAddr([2, 0, 0, 0, 0, s.macs])),
            mtu: Some(req.mtu.unwrap_or(1500)),
            address: req.address,
            admin_up: req.up,
            link_up: req.up,
            rx_workers: vec![0],
            offloads: Vec::new(),
        };
        s.ports.insert(req.name, info.clone());
        Ok(info)
    }

    async fn delete_port(&self, name: &str) -> Result<(), ApiError> {
        let mut s = self.begin()?;
        if !s.ports.contains_key(name) {
            return Err(missing_port(name));
        }
        if let Some(p) = s.routes_using(name) {
            return Err(ApiError::conflict(format!(
                "port `{name}` is used by route {p}; delete the route first"
            )));
        }
        s.ports.remove(name);
        s.port_stats.remove(name);
        s.neighbors.retain(|(i, _), _| i != name);
        Ok(())
    }

    async fn set_port_address(&self, name: &str, req: SetAddress) -> Result<PortInfo, ApiError> {
        let mut s = self.begin()?;
        let port = s.ports.get_mut(name).ok_or_else(|| missing_port(name))?;
        port.address = req.address;
        Ok(port.clone())
    }

    async fn set_port_admin_state(
        &self,
        name: &str,
        req: SetAdminState,
    ) -> Result<PortInfo, ApiError> {
        let mut s = self.begin()?;
        let port = s.ports.get_mut(name).ok_or_else(|| missing_port(name))?;
        port.admin_up = req.up;
        port.link_up = req.up;
        Ok(port.clone())
    }

    async fn list_routes(&self) -> Result<Vec<RouteInfo>, ApiError> {
        let s = self.begin()?;
        let mut all: Vec<RouteInfo> = s.routes.values().cloned().collect();
        all.extend(s.connected_routes());
        all.sort_by_key(|r| r.prefix);
        Ok(all)
    }

    async fn add_route(&self, route: Route) -> Result<RouteInfo, ApiError> {
        let mut s = self.begin()?;
        let connected = s.connected_routes();
        if s.routes.contains_key(&route.prefix)
            || connected.iter().any(|c| c.prefix == route.prefix)
        {
            return Err(
                ApiError::conflict(format!("a route for {} exists already", route.prefix))
                    .with_field("prefix"),
            );
        }
        let addresses = s.addresses();
        for (i, hop) in route.next_hops.iter().enumerate() {
            if let Some(dev) = &hop.interface
                && !s.interface_exists(dev)
            {
                return Err(ApiError::not_found(format!(
                    "next_hops[{i}].interface: no port or tunnel named `{dev}`"
                ))
                .with_field(format!("next_hops[{i}].interface")));
            }
            if let (Some(via), None) = (hop.via, &hop.interface)
                && !addresses.iter().any(|(_, a)| a.network().contains(via))
            {
                return Err(ApiError::invalid(
                    format!("next_hops[{i}].via"),
                    format!("gateway {via} is not in any connected subnet"),
                ));
            }
        }
        let info = RouteInfo {
            prefix: route.prefix,
            next_hops: route.next_hops,
            source: RouteSource::Static,
        };
        s.routes.insert(route.prefix, info.clone());
        Ok(info)
    }

    async fn delete_route(&self, prefix: Ipv4Prefix) -> Result<(), ApiError> {
        let mut s = self.begin()?;
        s.routes
            .remove(&prefix)
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no static route for {prefix}")))
    }

    async fn list_neighbors(&self) -> Result<Vec<NeighborInfo>, ApiError> {
        Ok(self.begin()?.neighbors.values().cloned().collect())
    }

    async fn add_neighbor(&self, n: Neighbor) -> Result<NeighborInfo, ApiError> {
        let mut s = self.begin()?;
        if !s.interface_exists(&n.interface) {
            return Err(ApiError::not_found(format!(
                "interface: no port or tunnel named `{}`",
                n.interface
            ))
            .with_field("interface"));
        }
        let key = (n.interface.clone(), n.address);
        if s.neighbors.contains_key(&key) {
            return Err(ApiError::conflict(format!(
                "a neighbor {} on {} exists already",
                n.address, n.interface
            ))
            .with_field("address"));
        }
        let info = NeighborInfo {
            address: n.address,
            mac: n.mac,
            interface: n.interface,
            kind: NeighborKind::Static,
            age_secs: None,
        };
        s.neighbors.insert(key, info.clone());
        Ok(info)
    }

    async fn delete_neighbor(&self, interface: &str, address: Ipv4Addr) -> Result<(), ApiError> {
        let mut s = self.begin()?;
        s.neighbors
            .remove(&(interface.to_string(), address))
            .map(|_| ())
            .ok_or_else(|| ApiError::not_found(format!("no neighbor {address} on {interface}")))
    }

    async fn list_tunnels(&self) -> Result<Vec<Tunnel>, ApiError> {
        Ok(self.begin()?.tunnels.values().cloned().collect())
    }

    async fn add_tunnel(&self, t: Tunnel) -> Result<Tunnel, ApiError> {
        let mut s = self.begin()?;
        if s.interface_exists(&t.name) {
            return Err(ApiError::conflict(format!(
                "an interface named `{}` exists already",
                t.name
            ))
            .with_field("name"));
        }
        if let Some(other) = s
            .tunnels
            .values()
            .find(|o| o.vni == t.vni && o.remote == t.remote && o.udp_port == t.udp_port)
        {
            return Err(ApiError::conflict(format!(
                "tunnel `{}` already carries VNI {} to {}",
                other.name, t.vni, t.remote
            ))
            .with_field("vni"));
        }
        if !s.addresses().iter().any(|(_, a)| a.addr() == t.local) {
            return Err(ApiError::invalid(
                "local",
                format!("{} is not one of our port addresses", t.local),
            ));
        }
        s.tunnels.insert(t.name.clone(), t.clone());
        Ok(t)
    }

    async fn delete_tunnel(&self, name: &str) -> Result<(), ApiError> {
        let mut s = self.begin()?;
        if !s.tunnels.contains_key(name) {
            return Err(ApiError::not_found(format!("no tunnel named `{name}`")));
        }
        if let Some(p) = s.routes_using(name) {
            return Err(ApiError::conflict(format!(
                "tunnel `{name}` is used by route {p}; delete the route first"
            )));
        }
        s.tunnels.remove(name);
        s.neighbors.retain(|(i, _), _| i != name);
        Ok(())
    }

    async fn port_stats(&self) -> Result<Vec<PortStats>, ApiError> {
        let s = self.begin()?;
        Ok(s.ports.keys().map(|n| s.stats_for(n)).collect())
    }

    async fn runtime_stats(&self) -> Result<Vec<WorkerRuntime>, ApiError> {
        Ok(self.begin()?.runtime.clone())
    }

    async fn error_stats(&self) -> Result<Vec<WorkerErrors>, ApiError> {
        Ok(self.begin()?.errors.clone())
    }

    async fn trace(&self, req: TraceRequest) -> Result<TraceResult, ApiError> {
        let port = self.begin()?.ports.keys().next().cloned();
        // With no port no packet can come: like a real idle dataplane, wait the whole
        // `wait_ms` and answer with nothing (the lock is released while waiting).
        let Some(port) = port else {
            tokio::time::sleep(std::time::Duration::from_millis(req.wait_ms)).await;
            return Ok(TraceResult::default());
        };
        let nodes = [
            "port-rx",
            "ethernet-input",
            "ip4-input",
            "ip4-lookup",
            "ip4-rewrite",
            "port-tx",
        ];
        let packets = (0..req.count)
            .map(|i| TracedPacket {
                worker: i % 2,
                port: port.clone(),
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                summary: format!("10.0.1.2 -> 10.0.2.{} ICMP echo request", i + 2),
            })
            .collect();
        Ok(TraceResult { packets })
    }

    async fn capture(&self, req: CaptureRequest) -> Result<CaptureResult, ApiError> {
        let s = self.begin()?;
        if !s.ports.contains_key(&req.port) {
            return Err(
                ApiError::not_found(format!("port: no port named `{}`", req.port))
                    .with_field("port"),
            );
        }
        // The fake writes no file: capture itself is the daemon's job.
        Ok(CaptureResult {
            file: req.file,
            packets: 0,
            bytes: 0,
        })
    }
}

/// Two workers' worth of plausible node counters.
pub fn sample_runtime() -> Vec<WorkerRuntime> {
    let w = |worker: u32, scale: u64| WorkerRuntime {
        worker,
        lcore: worker + 1,
        nodes: vec![
            NodeStats::new(
                "port-rx",
                1000 * scale,
                100 * scale,
                3200 * scale,
                96_000 * scale,
            ),
            NodeStats::new(
                "ethernet-input",
                100 * scale,
                100 * scale,
                3200 * scale,
                64_000 * scale,
            ),
            NodeStats::new(
                "ip4-lookup",
                100 * scale,
                100 * scale,
                3200 * scale,
                80_000 * scale,
            ),
            NodeStats::new(
                "port-tx",
                100 * scale,
                100 * scale,
                3200 * scale,
                48_000 * scale,
            ),
        ],
    };
    vec![w(0, 1), w(1, 3)]
}

/// Two workers' worth of drop counters.
pub fn sample_errors() -> Vec<WorkerErrors> {
    let c = |node: &str, reason: &str, count| ErrorCounter {
        node: node.into(),
        reason: reason.into(),
        count,
    };
    vec![
        WorkerErrors {
            worker: 0,
            counters: vec![
                c("ip4-input", "bad header checksum", 5),
                c("ip4-lookup", "no route", 2),
            ],
        },
        WorkerErrors {
            worker: 1,
            counters: vec![c("ip4-input", "bad header checksum", 7)],
        },
    ]
}

/// A real API server on a real unix socket, on its own thread and runtime. Stops (and removes
/// its socket) when dropped.
#[derive(Debug)]
pub struct TestServer {
    path: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Binds `path` with `backend` and serves until dropped. Bind errors are returned here.
    pub fn start<B: Backend>(path: impl AsRef<Path>, backend: Arc<B>) -> Result<Self, BindError> {
        let path = path.as_ref().to_path_buf();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let bind_path = path.clone();
        let thread = std::thread::spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(BindError::Io {
                        path: bind_path,
                        action: "starting a runtime",
                        source: e,
                    }));
                    return;
                }
            };
            rt.block_on(async move {
                match Server::bind(&bind_path, backend).await {
                    Ok(server) => {
                        let _ = ready_tx.send(Ok(()));
                        server
                            .serve(async {
                                let _ = stop_rx.await;
                            })
                            .await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        });
        let ready = ready_rx.recv().unwrap_or_else(|_| {
            Err(BindError::Io {
                path: path.clone(),
                action: "starting the server thread",
                source: std::io::Error::other("the server thread died"),
            })
        });
        let mut server = TestServer {
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
        };
        match ready {
            Ok(()) => Ok(server),
            Err(e) => {
                server.shutdown();
                Err(e)
            }
        }
    }

    /// A fresh [`FakeBackend`] behind a server on `path`.
    pub fn fake(path: impl AsRef<Path>) -> Result<(Self, Arc<FakeBackend>), BindError> {
        let backend = Arc::new(FakeBackend::new());
        Ok((TestServer::start(path, backend.clone())?, backend))
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the server and waits until its socket is gone.
    pub fn stop(mut self) {
        self.shutdown();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
