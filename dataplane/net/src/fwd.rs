//! Forwarding state: interfaces, adjacencies, neighbors and VXLAN tunnels that every node reads,
//! and [`Control`], the control plane's single writer that builds it and the FIB.
//!
//! Workers read a [`FwdState`] snapshot through RCU (refreshed at their quiescent point) and the
//! FIB in place. The control plane keeps them consistent by ordering its writes: a new
//! adjacency is published and every worker has seen it before a FIB entry points at it; a FIB
//! entry is gone (and every worker has passed a quiescent point) before its adjacency is
//! removed. A worker that still meets an adjacency id it does not know drops the packet and
//! counts it; nothing panics.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use crate::arp::{NeighborAging, NeighborCounters, NeighborPolicy};
use crate::ip4::{FibConfig, FibError, FibReader, FibWriter};
use crate::rcu::{Domain, Rcu, RcuReader};

/// An interface's index: ports and tunnels share one space.
pub type IfIndex = u16;

/// A VXLAN tunnel: point-to-point to one remote VTEP, like a kernel `vxlan` device with `remote`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VxlanTunnel {
    pub vni: u32,
    pub local: Ipv4Addr,
    pub remote: Ipv4Addr,
    pub udp_port: u16,
}

/// What an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfaceKind {
    /// A DPDK port.
    Port { port_id: u16 },
    /// A VXLAN tunnel: an L3 interface whose frames travel encapsulated.
    Vxlan(VxlanTunnel),
}

/// Transmit checksum offloads the interface's NIC can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxCaps {
    pub ipv4_csum: bool,
    pub udp_csum: bool,
    pub tcp_csum: bool,
}

/// An interface as the workers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iface {
    pub index: IfIndex,
    pub name: String,
    pub kind: IfaceKind,
    pub mac: [u8; 6],
    /// L3 MTU.
    pub mtu: u16,
    /// IPv4 addresses with their prefix lengths.
    pub addrs: Vec<(Ipv4Addr, u8)>,
    pub up: bool,
    pub tx_caps: TxCaps,
}

impl Iface {
    /// The first address, used as the source of packets we originate on this interface.
    pub fn primary_addr(&self) -> Option<Ipv4Addr> {
        self.addrs.first().map(|a| a.0)
    }

    /// Whether `ip` is one of the interface's own addresses.
    pub fn has_addr(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|a| a.0 == ip)
    }

    /// Whether `ip` is in one of the interface's connected subnets.
    pub fn on_link(&self, ip: Ipv4Addr) -> bool {
        self.addrs.iter().any(|&(a, len)| same_subnet(a, ip, len))
    }
}

/// Where the FIB sends a packet (the FIB's next-hop id indexes `FwdState::adjs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adj {
    /// Blackhole (slot 0); in any other slot, a freed one that no route points to.
    Drop,
    /// One of our addresses: ip4-local.
    Local,
    /// A connected subnet: the next hop is the packet's destination, resolved by ARP.
    Glean { iface: IfIndex },
    /// Through a gateway on `iface`.
    Via { iface: IfIndex, gw: Ipv4Addr },
    /// Equal-cost paths (adjacency ids of `Via`s), chosen by flow hash.
    Ecmp(Box<[u32]>),
    /// Slot 1: destinations no router forwards to ([`SPECIAL_USE`]), whatever other route
    /// would match them (a default route matches everything). ip4-lookup drops them,
    /// counted.
    Special,
}

/// Adjacency slot of [`Adj::Special`].
pub const SPECIAL_ADJ: u32 = 1;

/// Destinations a router never forwards (RFC 1812 5.3.7, RFC 6890), each in the FIB from the
/// start, to [`Adj::Special`], under every configured route, as VPP's FIBs have them:
/// "this network" 0/8, loopback 127/8, and 224/3, which is multicast 224/4 (no multicast
/// routing here), reserved 240/4 and the limited broadcast. Being routes, they cost the
/// packet nothing: the lookup it makes anyway finds them. They are not listed with the
/// configured routes. A more specific route configured inside one takes precedence.
pub const SPECIAL_USE: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(224, 0, 0, 0), 3),
];

/// A neighbor learned by ARP or set statically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbor {
    pub mac: [u8; 6],
    pub is_static: bool,
}

impl Neighbor {
    /// Whether setting this entry to `mac` (static or learned) would change it: a learned
    /// entry never overrides a static one, and an identical one changes nothing. The one
    /// rule for the API, the control plane's learning and the workers' ARP.
    #[inline]
    pub fn would_change(&self, mac: [u8; 6], is_static: bool) -> bool {
        (!self.is_static || is_static) && (self.mac != mac || self.is_static != is_static)
    }
}

/// What workers read, published as one RCU snapshot.
#[derive(Debug, Clone, Default)]
pub struct FwdState {
    /// Indexed by `IfIndex`; `None` for deleted interfaces.
    pub ifaces: Vec<Option<Iface>>,
    /// Indexed by FIB next-hop id.
    pub adjs: Vec<Adj>,
    pub neighbors: FxHashMap<(IfIndex, Ipv4Addr), Neighbor>,
    /// VXLAN interfaces by (VNI, remote VTEP).
    pub vxlan: FxHashMap<(u32, Ipv4Addr), IfIndex>,
    /// UDP ports VXLAN listens on, with the local VTEP addresses.
    pub vteps: Vec<(Ipv4Addr, u16)>,
    /// Per adjacency: the precomputed rewrite when it is a `Via` whose gateway is resolved on
    /// an interface that is up (recomputed at every publish), so ip4-rewrite indexes a vector
    /// and copies 14 bytes instead of hashing and checking per packet.
    pub rewrites: Vec<Option<Rewrite>>,
    /// Per interface (`IfIndex`): for a VXLAN tunnel whose remote VTEP the FIB resolves to a
    /// single next hop on a port that is up, with its MAC known, the underlay's rewrite.
    /// vxlan-encap then writes the whole outer frame and hands it straight to port-tx,
    /// skipping a second ip4-lookup and ip4-rewrite, and ip4-rewrite writes routed packets
    /// into the tunnel whole (`vxlan::Midchain`). Recomputed at every publish and after
    /// every FIB change; `None` sends encapsulated packets through ip4-lookup.
    pub tunnel_underlay: Vec<Option<Rewrite>>,
    /// The local VXLAN endpoints, as (address bits, UDP port), whose address the FIB delivers
    /// locally: ip4-input hands packets to them straight to vxlan-decap, skipping ip4-lookup
    /// and ip4-local (VPP's "vxlan-bypass"). Recomputed with `tunnel_underlay`, so an
    /// endpoint whose address went away stops being bypassed and takes the routed path.
    pub vtep_bypass: Vec<(u32, u16)>,
    /// Per neighbor whose MAC is known, on an interface that is up: its rewrite (recomputed
    /// at every publish). A packet routed by a glean (into a connected subnet) finds its own
    /// with one hash lookup by destination and takes ip4-rewrite's fast path, as a `Via`
    /// takes `rewrites`, instead of the neighbor table and the full checks.
    pub host_rewrites: FxHashMap<(IfIndex, Ipv4Addr), Rewrite>,
    /// Every gateway of a `Via` adjacency, with its interface (recomputed at every publish):
    /// with the connected subnets, the neighbors worth learning ([`FwdState::wants_neighbor`]).
    pub next_hops: FxHashSet<(IfIndex, Ipv4Addr)>,
}

/// A resolved adjacency, ready to be written in front of a packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// Destination MAC (the gateway's), source MAC (the egress interface's), EtherType IPv4.
    pub l2: [u8; 14],
    pub tx_if: IfIndex,
    /// The egress interface's L3 MTU.
    pub mtu: u16,
    /// The egress interface is a VXLAN tunnel: the frame goes on to vxlan-encap.
    pub tunnel: bool,
    /// The egress interface's NIC computes IPv4 header checksums.
    pub csum_offload: bool,
}

impl Rewrite {
    /// The rewrite towards `gw_mac` out of `iface`.
    pub fn new(gw_mac: [u8; 6], iface: &Iface) -> Rewrite {
        let mut l2 = [0u8; 14];
        l2[..6].copy_from_slice(&gw_mac);
        l2[6..12].copy_from_slice(&iface.mac);
        l2[12..].copy_from_slice(&[0x08, 0x00]);
        Rewrite {
            l2,
            tx_if: iface.index,
            mtu: iface.mtu,
            tunnel: matches!(iface.kind, IfaceKind::Vxlan(_)),
            csum_offload: iface.tx_caps.ipv4_csum,
        }
    }
}

impl FwdState {
    #[inline]
    pub fn iface(&self, i: IfIndex) -> Option<&Iface> {
        self.ifaces.get(i as usize).and_then(Option::as_ref)
    }

    /// Adjacencies in use: the blackhole and every slot not freed (see [`Adj::Drop`]).
    pub fn adjs_in_use(&self) -> usize {
        1 + self
            .adjs
            .iter()
            .skip(1)
            .filter(|a| **a != Adj::Drop)
            .count()
    }

    #[inline]
    pub fn neighbor(&self, i: IfIndex, ip: Ipv4Addr) -> Option<&Neighbor> {
        self.neighbors.get(&(i, ip))
    }

    /// The rewrite to next hop `nh` out of `iface` when it is up and `nh`'s MAC is known.
    fn resolved(&self, iface: IfIndex, nh: Ipv4Addr) -> Option<Rewrite> {
        let f = self.iface(iface).filter(|f| f.up)?;
        let n = self.neighbors.get(&(iface, nh))?;
        Some(Rewrite::new(n.mac, f))
    }

    /// Whether `(ip, port)` is a local VXLAN endpoint.
    #[inline]
    pub fn is_vtep(&self, ip: Ipv4Addr, port: u16) -> bool {
        self.vteps.iter().any(|&(a, p)| a == ip && p == port)
    }

    /// Whether `ip` is a neighbor worth learning on `iface`: a host in one of its connected
    /// subnets, or a next hop routed through it (a gateway, a pod's /32 behind its port).
    /// Nothing else can ever be forwarded to, so an ARP packet that claims another address
    /// must not grow the neighbor table (a flood of made-up senders would, without limit).
    pub fn wants_neighbor(&self, iface: &Iface, ip: Ipv4Addr) -> bool {
        iface.on_link(ip) || self.next_hops.contains(&(iface.index, ip))
    }

    /// The interface whose connected subnet holds `ip`, if any.
    pub fn connected_iface(&self, ip: Ipv4Addr) -> Option<IfIndex> {
        self.ifaces
            .iter()
            .flatten()
            .find_map(|i| i.on_link(ip).then_some(i.index))
    }
}

/// A neighbor a worker learned from ARP, sent to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborEvent {
    pub iface: IfIndex,
    pub ip: Ipv4Addr,
    pub mac: [u8; 6],
}

/// Bounded, lock-free queue from workers to the control plane. A full queue drops the event
/// (the next ARP packet from that neighbor learns it again).
pub type LearnQueue = Arc<crossbeam_queue::ArrayQueue<NeighborEvent>>;

/// A learned neighbor the control plane wants confirmed before its entry expires
/// ([`Control::age_neighbors`]): a worker's `arp-probe` node sends it an ARP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborProbe {
    pub iface: IfIndex,
    pub ip: Ipv4Addr,
}

/// Bounded, lock-free queue from the control plane to the workers' `arp-probe` nodes (any
/// worker may take a probe). When it is full, the probe waits for the next aging pass.
pub type ProbeQueue = Arc<crossbeam_queue::ArrayQueue<NeighborProbe>>;

/// Every resolved neighbor's rewrite: [`FwdState::host_rewrites`] rebuilt from the state.
fn all_host_rewrites(st: &FwdState) -> FxHashMap<(IfIndex, Ipv4Addr), Rewrite> {
    st.neighbors
        .keys()
        .filter_map(|&(i, ip)| Some(((i, ip), st.resolved(i, ip)?)))
        .collect()
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

/// Whether `a` and `b` share the first `len` bits.
pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, len: u8) -> bool {
    (u32::from(a) ^ u32::from(b)) & mask(len) == 0
}

/// A refused control-plane change. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FwdError {
    #[error("interface `{0}` exists already")]
    IfaceExists(String),
    #[error("no interface `{0}`")]
    NoIface(String),
    #[error("too many interfaces")]
    TooManyIfaces,
    #[error("address {0}/{1}: prefix length must be 1..=32")]
    BadPrefixLen(Ipv4Addr, u8),
    #[error("address {addr}/{len} overlaps {other}/{other_len} on interface `{iface}`")]
    AddressOverlap {
        addr: Ipv4Addr,
        len: u8,
        other: Ipv4Addr,
        other_len: u8,
        iface: String,
    },
    #[error("route {0}/{1}: next hop {2} is not in a connected subnet")]
    UnreachableNextHop(Ipv4Addr, u8, Ipv4Addr),
    #[error("route {0}/{1}: next hop {2} is one of our own addresses")]
    NextHopIsLocal(Ipv4Addr, u8, Ipv4Addr),
    #[error("route {0}/{1}: needs at least one next hop")]
    NoNextHop(Ipv4Addr, u8),
    #[error("route {0}/{1} exists already")]
    RouteExists(Ipv4Addr, u8),
    #[error(
        "{0}/{1} is special-use (0/8, 127/8, 224/3): the dataplane never forwards to it, and \
         keeps that route itself"
    )]
    SpecialUse(Ipv4Addr, u8),
    #[error("no route {0}/{1}")]
    NoRoute(Ipv4Addr, u8),
    #[error("tunnel `{name}`: local address {local} is not one of our addresses")]
    TunnelLocalNotOurs { name: String, local: Ipv4Addr },
    #[error("tunnel `{name}`: VNI {vni} to {remote} is already used by `{other}`")]
    TunnelExists {
        name: String,
        vni: u32,
        remote: Ipv4Addr,
        other: String,
    },
    #[error("tunnel `{name}`: VNI {vni} out of range 0..=16777215")]
    BadVni { name: String, vni: u32 },
    #[error("interface `{2}` has no address {0}/{1}")]
    NoAddress(Ipv4Addr, u8, String),
    #[error("address {addr}/{len} is still needed by route {prefix}/{prefix_len}")]
    AddressInUse {
        addr: Ipv4Addr,
        len: u8,
        prefix: Ipv4Addr,
        prefix_len: u8,
    },
    #[error("interface `{iface}` is still used by tunnel `{by}`")]
    IfaceInUse { iface: String, by: String },
    #[error("FIB: {0}")]
    Fib(#[from] FibError),
    #[error(
        "workers did not pass a quiescent point within 2 s: the new forwarding state is \
         published, but the rest of this change was not applied"
    )]
    WorkersStuck,
}

/// A route's next hops: a gateway, an interface, or both, each. One is kept inline (most
/// routes have one): a million routes then make no million small allocations.
pub type Hops = SmallVec<[(Option<Ipv4Addr>, Option<IfIndex>); 1]>;

/// A configured route (what `show fib` lists besides connected routes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub prefix: Ipv4Addr,
    pub len: u8,
    /// Every next hop: a gateway, an interface, or both.
    pub hops: Hops,
    /// Connected or local routes come from interface addresses.
    pub kind: RouteKind,
}

impl RouteEntry {
    /// The gateways of the next hops (for checks that follow gateways).
    pub fn gateways(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.hops.iter().filter_map(|h| h.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Static,
    Connected,
    Local,
}

/// How long the control plane waits for workers to pass a quiescent point.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// The control plane's single writer of the forwarding state and the FIB.
pub struct Control {
    domain: Domain,
    fib: FibWriter,
    state: Rcu<FwdState>,
    routes: BTreeMap<(Ipv4Addr, u8), RouteEntry>,
    /// How many static routes have each address as a gateway: whether a pod's host
    /// adjacency is still a gateway's, without a scan of every route.
    gateway_uses: FxHashMap<Ipv4Addr, u32>,
    /// Learned neighbors' ages and their cap.
    aging: NeighborAging,
    /// Addresses to announce with a gratuitous ARP ([`Control::take_announcements`]).
    announce: Vec<NeighborProbe>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("routes", &self.routes.len())
            .finish()
    }
}

impl Control {
    pub fn new(domain: &Domain, fib: FibConfig) -> Result<Control, FwdError> {
        let mut fib = FibWriter::new(domain, fib)?;
        for (prefix, len) in SPECIAL_USE {
            fib.add_reserved(prefix, len, SPECIAL_ADJ)?;
        }
        let state = Rcu::new(
            domain,
            FwdState {
                adjs: vec![Adj::Drop, Adj::Special],
                ..Default::default()
            },
        );
        Ok(Control {
            domain: domain.clone(),
            fib,
            state,
            routes: BTreeMap::new(),
            gateway_uses: FxHashMap::default(),
            aging: NeighborAging::default(),
            announce: Vec::new(),
        })
    }

    /// Handles for a worker.
    pub fn readers(&self) -> (FibReader, RcuReader<FwdState>) {
        (self.fib.reader(), self.state.reader())
    }

    /// The current state (control-plane view).
    pub fn state(&self) -> Arc<FwdState> {
        self.state.load()
    }

    pub fn fib(&self) -> &FibWriter {
        &self.fib
    }

    /// Every route: configured, connected and local.
    pub fn routes(&self) -> impl Iterator<Item = &RouteEntry> {
        self.routes.values()
    }

    /// Publishes `next` and waits until every online worker has seen it.
    fn publish(&mut self, mut next: FwdState) -> Result<(), FwdError> {
        next.host_rewrites = all_host_rewrites(&next);
        self.publish_derived(next)
    }

    /// [`Control::publish`] for `next`, a copy of the current state whose neighbors differ
    /// only at `keys` (learned, changed or removed): only their host rewrites are redone. The
    /// whole map is a hash insert per neighbor, 1.4 ms at 50,000 neighbors, where a learn
    /// batch or an aging pass usually changes a few (one change among 50,000 neighbors:
    /// 1.5-3.5 ms -> 0.07-0.15 ms, the first few up to 1.3 ms while the allocator warms up).
    /// A batch of thousands that touches more than an eighth of the table rebuilds it whole,
    /// which is then the cheaper (50,000 learned at once: 8 ms, against 11 ms one by one).
    fn publish_neighbors(
        &mut self,
        mut next: FwdState,
        keys: &[(IfIndex, Ipv4Addr)],
    ) -> Result<(), FwdError> {
        if keys.len() > 1024 && keys.len() > next.neighbors.len() / 8 {
            return self.publish(next);
        }
        for &(i, ip) in keys {
            match next.resolved(i, ip) {
                Some(rw) => next.host_rewrites.insert((i, ip), rw),
                None => next.host_rewrites.remove(&(i, ip)),
            };
        }
        debug_assert!(
            next.host_rewrites == all_host_rewrites(&next),
            "host rewrites out of step with the neighbors"
        );
        self.publish_derived(next)
    }

    /// Publishes `next`, whose host rewrites are up to date: derives the rest (each
    /// adjacency's rewrite, the next hops, tunnel underlays, VTEP bypass), then waits for the
    /// workers to leave the old state and frees it.
    fn publish_derived(&mut self, mut next: FwdState) -> Result<(), FwdError> {
        // A gateway's adjacency takes its gateway's rewrite.
        next.rewrites = next
            .adjs
            .iter()
            .map(|a| match a {
                Adj::Via { iface, gw } => next.host_rewrites.get(&(*iface, *gw)).copied(),
                _ => None,
            })
            .collect();
        next.next_hops = next
            .adjs
            .iter()
            .filter_map(|a| match a {
                Adj::Via { iface, gw } => Some((*iface, *gw)),
                _ => None,
            })
            .collect();
        next.tunnel_underlay = self.underlays(&next);
        next.vtep_bypass = self.bypass(&next);
        self.state.publish(next);
        self.domain
            .synchronize(SYNC_TIMEOUT)
            .map_err(|_| FwdError::WorkersStuck)?;
        self.state.reclaim();
        self.fib.reclaim();
        Ok(())
    }

    /// [`FwdState::tunnel_underlay`] for `st` and the FIB as it is now.
    fn underlays(&self, st: &FwdState) -> Vec<Option<Rewrite>> {
        st.ifaces.iter().map(|f| self.underlay(st, f)).collect()
    }

    /// The underlay of interface `f` of `st` (`None` but for a stacked tunnel).
    fn underlay(&self, st: &FwdState, f: &Option<Iface>) -> Option<Rewrite> {
        let IfaceKind::Vxlan(t) = f.as_ref()?.kind else {
            return None;
        };
        let (iface, nh) = match st.adjs.get(self.fib.lookup(t.remote)? as usize)? {
            Adj::Via { iface, gw } => (*iface, *gw),
            Adj::Glean { iface } => (*iface, t.remote),
            _ => return None,
        };
        st.host_rewrites.get(&(iface, nh)).copied().filter(|_| {
            matches!(
                st.iface(iface).map(|o| o.kind),
                Some(IfaceKind::Port { .. })
            )
        })
    }

    /// [`FwdState::vtep_bypass`] for `st` and the FIB as it is now.
    fn bypass(&self, st: &FwdState) -> Vec<(u32, u16)> {
        self.bypass_iter(st).collect()
    }

    fn bypass_iter<'a>(&'a self, st: &'a FwdState) -> impl Iterator<Item = (u32, u16)> + 'a {
        st.vteps
            .iter()
            .filter(|(a, _)| {
                let adj = self.fib.lookup(*a).and_then(|id| st.adjs.get(id as usize));
                matches!(adj, Some(Adj::Local))
            })
            .map(|&(a, port)| (a.to_bits(), port))
    }

    /// Publishes the state again when a FIB change moved a tunnel's underlay or a VTEP
    /// address's route. Compared in place, without building either: it runs after every
    /// route change (a million of them when a big table loads). `publish` gives every
    /// interface its underlay slot, so the two lists pair up.
    fn restack(&mut self) -> Result<(), FwdError> {
        let st = self.state.load();
        let moved = st
            .ifaces
            .iter()
            .zip(&st.tunnel_underlay)
            .any(|(f, u)| self.underlay(&st, f) != *u)
            || !self.bypass_iter(&st).eq(st.vtep_bypass.iter().copied());
        if moved {
            self.publish((*st).clone())?;
        }
        Ok(())
    }

    fn by_name(&self, name: &str) -> Option<Iface> {
        self.state
            .load()
            .ifaces
            .iter()
            .flatten()
            .find(|i| i.name == name)
            .cloned()
    }

    /// The interface named `name`.
    pub fn iface(&self, name: &str) -> Result<Iface, FwdError> {
        self.by_name(name)
            .ok_or_else(|| FwdError::NoIface(name.to_string()))
    }

    fn add_iface(
        &mut self,
        name: &str,
        kind: IfaceKind,
        mac: [u8; 6],
        mtu: u16,
        caps: TxCaps,
    ) -> Result<IfIndex, FwdError> {
        if self.by_name(name).is_some() {
            return Err(FwdError::IfaceExists(name.to_string()));
        }
        let mut next = (*self.state.load()).clone();
        let index = match next.ifaces.iter().position(Option::is_none) {
            Some(i) => i,
            None if next.ifaces.len() < u16::MAX as usize => {
                next.ifaces.push(None);
                next.ifaces.len() - 1
            }
            None => return Err(FwdError::TooManyIfaces),
        } as IfIndex;
        next.ifaces[index as usize] = Some(Iface {
            index,
            name: name.to_string(),
            kind,
            mac,
            mtu,
            addrs: Vec::new(),
            up: true,
            tx_caps: caps,
        });
        if let IfaceKind::Vxlan(t) = kind {
            next.vxlan.insert((t.vni, t.remote), index);
            if !next.vteps.contains(&(t.local, t.udp_port)) {
                next.vteps.push((t.local, t.udp_port));
            }
        }
        self.publish(next)?;
        Ok(index)
    }

    /// Adds a DPDK port interface.
    pub fn add_port(
        &mut self,
        name: &str,
        port_id: u16,
        mac: [u8; 6],
        mtu: u16,
        caps: TxCaps,
    ) -> Result<IfIndex, FwdError> {
        self.add_iface(name, IfaceKind::Port { port_id }, mac, mtu, caps)
    }

    /// Adds a VXLAN tunnel interface. Its local VTEP must be one of our addresses.
    pub fn add_vxlan(
        &mut self,
        name: &str,
        t: VxlanTunnel,
        mac: [u8; 6],
        mtu: u16,
    ) -> Result<IfIndex, FwdError> {
        if t.vni > 0xff_ffff {
            return Err(FwdError::BadVni {
                name: name.into(),
                vni: t.vni,
            });
        }
        let state = self.state.load();
        if !state.ifaces.iter().flatten().any(|i| i.has_addr(t.local)) {
            return Err(FwdError::TunnelLocalNotOurs {
                name: name.into(),
                local: t.local,
            });
        }
        if let Some(&other) = state.vxlan.get(&(t.vni, t.remote)) {
            let other = state
                .iface(other)
                .map(|i| i.name.clone())
                .unwrap_or_default();
            return Err(FwdError::TunnelExists {
                name: name.into(),
                vni: t.vni,
                remote: t.remote,
                other,
            });
        }
        self.add_iface(name, IfaceKind::Vxlan(t), mac, mtu, TxCaps::default())
    }

    /// The id of adjacency `adj` in `next`: an equal one's, else a freed slot's (an
    /// [`Adj::Drop`] past slot 0, see [`Control::free_host_adjs`]), else a new one.
    fn adj_id(next: &mut FwdState, adj: Adj) -> u32 {
        if let Some(i) = next.adjs.iter().position(|a| *a == adj) {
            return i as u32;
        }
        if let Some(i) = next.adjs.iter().skip(1).position(|a| *a == Adj::Drop) {
            next.adjs[i + 1] = adj;
            return (i + 1) as u32;
        }
        next.adjs.push(adj);
        (next.adjs.len() - 1) as u32
    }

    /// Adds `addr/len` to interface `name`: a local /32 and a connected route for the subnet.
    pub fn add_address(&mut self, name: &str, addr: Ipv4Addr, len: u8) -> Result<(), FwdError> {
        if len == 0 || len > 32 {
            return Err(FwdError::BadPrefixLen(addr, len));
        }
        if SPECIAL_USE.iter().any(|&(p, l)| same_subnet(p, addr, l)) {
            return Err(FwdError::SpecialUse(addr, len));
        }
        let iface = self.iface(name)?;
        let state = self.state.load();
        for other in state.ifaces.iter().flatten() {
            for &(a, l) in &other.addrs {
                // The same /32 on several interfaces is allowed ("unnumbered": every pod port
                // answers ARP for the pods' gateway).
                if len == 32 && l == 32 && a == addr && other.index != iface.index {
                    continue;
                }
                let shorter = l.min(len);
                if same_subnet(a, addr, shorter) {
                    return Err(FwdError::AddressOverlap {
                        addr,
                        len,
                        other: a,
                        other_len: l,
                        iface: other.name.clone(),
                    });
                }
            }
        }
        let subnet = Ipv4Addr::from(u32::from(addr) & mask(len));
        if self.routes.contains_key(&(subnet, len)) && len < 32 {
            return Err(FwdError::RouteExists(subnet, len));
        }
        let mut next = (*state).clone();
        if let Some(Some(i)) = next.ifaces.get_mut(iface.index as usize) {
            i.addrs.push((addr, len));
        }
        let glean = Self::adj_id(&mut next, Adj::Glean { iface: iface.index });
        let local = Self::adj_id(&mut next, Adj::Local);
        self.publish(next)?;
        // A FIB that cannot take the routes (full) refuses the address as a whole: the
        // interface goes back to the addresses it had and no route is left behind.
        let undo = |c: &mut Control, e: FibError, connected: bool| -> Result<(), FwdError> {
            if connected {
                let _ = c.fib.delete(subnet, len);
                c.routes.remove(&(subnet, len));
            }
            c.publish((*state).clone())?;
            Err(FwdError::from(e))
        };
        if len < 32 {
            if let Err(e) = self.fib.add(subnet, len, glean) {
                return undo(self, e, false);
            }
            self.routes.insert(
                (subnet, len),
                RouteEntry {
                    prefix: subnet,
                    len,
                    hops: Hops::new(),
                    kind: RouteKind::Connected,
                },
            );
        }
        if !self.routes.contains_key(&(addr, 32))
            && let Err(e) = self.fib.add(addr, 32, local)
        {
            return undo(self, e, len < 32);
        }
        self.routes.insert(
            (addr, 32),
            RouteEntry {
                prefix: addr,
                len: 32,
                hops: Hops::new(),
                kind: RouteKind::Local,
            },
        );
        self.restack()?;
        self.queue_announcements(&iface, [addr]);
        Ok(())
    }

    /// Removes `addr/len` from interface `name`, with its local and connected routes. Refused
    /// while a static route's gateway still depends on the subnet.
    pub fn del_address(&mut self, name: &str, addr: Ipv4Addr, len: u8) -> Result<(), FwdError> {
        let iface = self.iface(name)?;
        if !iface.addrs.contains(&(addr, len)) {
            return Err(FwdError::NoAddress(addr, len, name.to_string()));
        }
        let subnet = Ipv4Addr::from(u32::from(addr) & mask(len));
        if let Some(r) = self.routes.values().find(|r| {
            r.kind == RouteKind::Static && r.gateways().any(|gw| same_subnet(gw, addr, len))
        }) {
            return Err(FwdError::AddressInUse {
                addr,
                len,
                prefix: r.prefix,
                prefix_len: r.len,
            });
        }
        // FIB entries go first; workers that still hold them find valid adjacencies.
        if len < 32
            && self
                .routes
                .get(&(subnet, len))
                .is_some_and(|r| r.kind == RouteKind::Connected)
        {
            self.fib.delete(subnet, len)?;
            self.routes.remove(&(subnet, len));
        }
        let shared = self
            .state
            .load()
            .ifaces
            .iter()
            .flatten()
            .any(|i| i.index != iface.index && i.has_addr(addr));
        if !shared
            && self
                .routes
                .get(&(addr, 32))
                .is_some_and(|r| r.kind == RouteKind::Local)
        {
            self.fib.delete(addr, 32)?;
            self.routes.remove(&(addr, 32));
        }
        let mut next = (*self.state.load()).clone();
        if let Some(Some(i)) = next.ifaces.get_mut(iface.index as usize) {
            i.addrs.retain(|a| *a != (addr, len));
        }
        self.publish(next)
    }

    /// Deletes VXLAN tunnel `name` with its addresses and neighbors. Refused while a route's
    /// gateway is in one of its subnets.
    pub fn del_vxlan(&mut self, name: &str) -> Result<(), FwdError> {
        if !matches!(self.iface(name)?.kind, IfaceKind::Vxlan(_)) {
            return Err(FwdError::NoIface(format!("{name} (not a tunnel)")));
        }
        self.del_iface(name)
    }

    /// Deletes port interface `name` with its addresses and neighbors; refused while a route's
    /// gateway or a tunnel's local address needs one of its addresses.
    pub fn del_port(&mut self, name: &str) -> Result<(), FwdError> {
        let iface = self.iface(name)?;
        if !matches!(iface.kind, IfaceKind::Port { .. }) {
            return Err(FwdError::NoIface(format!("{name} (not a port)")));
        }
        let state = self.state.load();
        if let Some(t) = state
            .ifaces
            .iter()
            .flatten()
            .find(|t| matches!(t.kind, IfaceKind::Vxlan(v) if iface.has_addr(v.local)))
        {
            return Err(FwdError::IfaceInUse {
                iface: name.to_string(),
                by: t.name.clone(),
            });
        }
        self.del_iface(name)
    }

    fn del_iface(&mut self, name: &str) -> Result<(), FwdError> {
        let iface = self.iface(name)?;
        if let Some(r) = self
            .routes
            .values()
            .find(|r| r.hops.iter().any(|h| h.1 == Some(iface.index)))
        {
            return Err(FwdError::IfaceInUse {
                iface: name.to_string(),
                by: format!("route {}/{}", r.prefix, r.len),
            });
        }
        // Refuse before changing anything when a route still needs one of the subnets.
        for &(a, l) in &iface.addrs {
            if let Some(r) = self.routes.values().find(|r| {
                r.kind == RouteKind::Static && r.gateways().any(|gw| same_subnet(gw, a, l))
            }) {
                return Err(FwdError::AddressInUse {
                    addr: a,
                    len: l,
                    prefix: r.prefix,
                    prefix_len: r.len,
                });
            }
        }
        for &(a, l) in &iface.addrs {
            self.del_address(name, a, l)?;
        }
        let mut next = (*self.state.load()).clone();
        next.ifaces[iface.index as usize] = None;
        next.neighbors.retain(|&(i, _), _| i != iface.index);
        self.aging.forget_iface(iface.index);
        if let IfaceKind::Vxlan(t) = iface.kind {
            next.vxlan.remove(&(t.vni, t.remote));
            let still_used = next.ifaces.iter().flatten().any(|i| {
                matches!(i.kind, IfaceKind::Vxlan(o) if o.local == t.local && o.udp_port == t.udp_port)
            });
            if !still_used {
                next.vteps.retain(|&v| v != (t.local, t.udp_port));
            }
        }
        self.publish(next)
    }

    /// Sets interface `name` administratively up or down (down: nothing is received or sent
    /// on it; packets routed to it are dropped and counted).
    pub fn set_up(&mut self, name: &str, up: bool) -> Result<Iface, FwdError> {
        let iface = self.iface(name)?;
        if iface.up == up {
            return Ok(iface);
        }
        let mut next = (*self.state.load()).clone();
        if let Some(Some(i)) = next.ifaces.get_mut(iface.index as usize) {
            i.up = up;
        }
        self.publish(next)?;
        if up {
            self.announce(iface.index);
        }
        self.iface(name)
    }

    /// Queues the announcement of every address of port `iface` when it is up (see
    /// [`Control::take_announcements`]): for a link that came up.
    pub fn announce(&mut self, iface: IfIndex) {
        let state = self.state.load();
        if let Some(i) = state.iface(iface) {
            self.queue_announcements(i, i.addrs.iter().map(|&(ip, _)| ip));
        }
    }

    /// Queues `addrs` of `iface` for announcement when it is a port that is up: the one rule
    /// for both callers (see [`Control::take_announcements`] for why not tunnels).
    fn queue_announcements(&mut self, iface: &Iface, addrs: impl IntoIterator<Item = Ipv4Addr>) {
        if iface.up && matches!(iface.kind, IfaceKind::Port { .. }) {
            let i = iface.index;
            self.announce
                .extend(addrs.into_iter().map(|ip| NeighborProbe { iface: i, ip }));
        }
    }

    /// Adds a route through one or more gateways (ECMP when several). Each gateway must be in
    /// a connected subnet and not one of our addresses.
    pub fn add_route(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        via: &[Ipv4Addr],
    ) -> Result<(), FwdError> {
        let hops: Vec<(Option<Ipv4Addr>, Option<IfIndex>)> =
            via.iter().map(|&g| (Some(g), None)).collect();
        self.add_route_hops(prefix, len, &hops)
    }

    /// Adds a route whose next hops are a gateway (which must be in a connected subnet), an
    /// interface (the destination itself is resolved by ARP on it: a pod behind its port), or
    /// both (a gateway on that interface). Several hops make an ECMP group.
    ///
    /// A /32 through an interface alone (a pod's route) gets a host adjacency, a `Via` to the
    /// address itself, rather than the interface's glean: its rewrite is then precomputed
    /// once the pod's MAC is known, indexed by the adjacency like a gateway's, with no
    /// lookup by destination per packet (VPP's adjacency per attached host). ARP resolves it
    /// the same way. [`Control::del_route`] frees it for reuse.
    pub fn add_route_hops(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        hops: &[(Option<Ipv4Addr>, Option<IfIndex>)],
    ) -> Result<(), FwdError> {
        if hops.is_empty() || hops.iter().any(|h| h.0.is_none() && h.1.is_none()) {
            return Err(FwdError::NoNextHop(prefix, len));
        }
        if self.routes.contains_key(&(prefix, len)) {
            return Err(FwdError::RouteExists(prefix, len));
        }
        if SPECIAL_USE.contains(&(prefix, len)) {
            return Err(FwdError::SpecialUse(prefix, len));
        }
        let state = self.state.load();
        // Cloned only when an adjacency is new: most routes share their gateway's, and a
        // clone of the whole state per route was a third of loading a big table.
        let mut next: Option<FwdState> = None;
        let id = |next: &mut Option<FwdState>, adj: Adj| match next {
            Some(n) => Self::adj_id(n, adj),
            None => match state.adjs.iter().position(|a| *a == adj) {
                Some(i) => i as u32,
                None => Self::adj_id(next.insert((*state).clone()), adj),
            },
        };
        let mut members: SmallVec<[u32; 4]> = SmallVec::new();
        for &(gw, dev) in hops {
            if let Some(i) = dev
                && state.iface(i).is_none()
            {
                return Err(FwdError::NoIface(format!("#{i}")));
            }
            let adj = match (gw, dev) {
                (Some(gw), dev) => {
                    if state.ifaces.iter().flatten().any(|i| i.has_addr(gw)) {
                        return Err(FwdError::NextHopIsLocal(prefix, len, gw));
                    }
                    let iface = match dev {
                        Some(i) => i,
                        None => state
                            .connected_iface(gw)
                            .ok_or(FwdError::UnreachableNextHop(prefix, len, gw))?,
                    };
                    Adj::Via { iface, gw }
                }
                (None, Some(iface)) if len == 32 => Adj::Via { iface, gw: prefix },
                (None, Some(iface)) => Adj::Glean { iface },
                (None, None) => return Err(FwdError::NoNextHop(prefix, len)),
            };
            members.push(id(&mut next, adj));
        }
        let adj = if members.len() == 1 {
            members[0]
        } else {
            id(&mut next, Adj::Ecmp(members.into_iter().collect()))
        };
        // Validate the FIB change before publishing anything (host bits, capacity).
        if self.fib.get_exact(prefix, len).is_some() {
            return Err(FwdError::RouteExists(prefix, len));
        }
        // Most routes reuse an adjacency the workers already have: then the FIB's in-place
        // update is the whole change, and no worker is waited for.
        let grew = next.is_some();
        if let Some(next) = next {
            self.publish(next)?;
        }
        if let Err(e) = self.fib.add(prefix, len, adj) {
            // Refused whole (a full FIB): the adjacencies go back to what they were, so a
            // pod's host adjacency, or a new ECMP group, is not left behind unreferenced.
            if grew {
                self.publish((*state).clone())?;
            }
            return Err(e.into());
        }
        let route = RouteEntry {
            prefix,
            len,
            hops: Hops::from_slice(hops),
            kind: RouteKind::Static,
        };
        for gw in route.gateways() {
            *self.gateway_uses.entry(gw).or_default() += 1;
        }
        self.routes.insert((prefix, len), route);
        self.restack()
    }

    /// Deletes a configured route.
    pub fn del_route(&mut self, prefix: Ipv4Addr, len: u8) -> Result<(), FwdError> {
        match self.routes.get(&(prefix, len)) {
            Some(r) if r.kind == RouteKind::Static => {}
            _ => return Err(FwdError::NoRoute(prefix, len)),
        }
        self.fib.delete(prefix, len)?;
        let r = self.routes.remove(&(prefix, len)).expect("found above");
        for gw in r.gateways() {
            if let Entry::Occupied(mut uses) = self.gateway_uses.entry(gw) {
                *uses.get_mut() -= 1;
                if *uses.get() == 0 {
                    uses.remove();
                }
            }
        }
        // Shared adjacencies stay (gateways and gleans are few); workers that still hold the
        // old entry find a valid adjacency. A pod's host adjacency is freed.
        self.free_host_adjs(prefix, len, &r.hops)?;
        self.restack()
    }

    /// Frees the host adjacencies of deleted route `prefix/len` (a /32 through interfaces
    /// alone, see [`Control::add_route_hops`]) unless a route still has `prefix` as its
    /// gateway (the same adjacency). Freed slots become [`Adj::Drop`] and are published
    /// before anything reuses them: once every worker has seen the state without the route,
    /// no packet still carries the id, so [`Control::adj_id`] may give it to another
    /// adjacency. Pods come and go with new addresses; their adjacencies do not pile up.
    fn free_host_adjs(
        &mut self,
        prefix: Ipv4Addr,
        len: u8,
        hops: &[(Option<Ipv4Addr>, Option<IfIndex>)],
    ) -> Result<(), FwdError> {
        let through_iface_alone = hops.iter().any(|h| matches!(h, (None, Some(_))));
        if len != 32 || !through_iface_alone || self.gateway_uses.contains_key(&prefix) {
            return Ok(());
        }
        let mut next = (*self.state.load()).clone();
        let mut freed = false;
        for &(gw, dev) in hops {
            let (None, Some(iface)) = (gw, dev) else {
                continue;
            };
            let host = Adj::Via { iface, gw: prefix };
            if let Some(slot) = next.adjs.iter_mut().skip(1).find(|a| **a == host) {
                *slot = Adj::Drop;
                freed = true;
            }
        }
        if freed {
            self.publish(next)?;
        }
        Ok(())
    }

    /// Records a neighbor (learned by a worker, or static).
    pub fn set_neighbor(
        &mut self,
        iface: IfIndex,
        ip: Ipv4Addr,
        mac: [u8; 6],
        is_static: bool,
    ) -> Result<(), FwdError> {
        let state = self.state.load();
        if state.iface(iface).is_none() {
            return Err(FwdError::NoIface(format!("#{iface}")));
        }
        if state
            .neighbor(iface, ip)
            .is_some_and(|n| !n.would_change(mac, is_static))
        {
            return Ok(());
        }
        if is_static {
            self.aging.forget((iface, ip));
        }
        let mut next = (*state).clone();
        next.neighbors
            .insert((iface, ip), Neighbor { mac, is_static });
        self.publish(next)
    }

    /// Applies what workers learned at `now`: new neighbors and moved MACs change the table;
    /// an event about a learned entry confirms it (see [`NeighborAging`]). A new neighbor is
    /// not learned when [`NeighborPolicy::max_learned`] are already (counted). Returns how
    /// many entries changed.
    pub fn learn(&mut self, q: &LearnQueue, now: Instant) -> Result<usize, FwdError> {
        let mut changed = Vec::new();
        let state = self.state.load();
        let mut next: Option<FwdState> = None;
        while let Some(ev) = q.pop() {
            let cur = next.as_ref().map_or_else(
                || state.neighbor(ev.iface, ev.ip).copied(),
                |n| n.neighbor(ev.iface, ev.ip).copied(),
            );
            // arp-input learns only wanted senders; checked again here, where the table is.
            let wanted = state
                .iface(ev.iface)
                .is_some_and(|i| state.wants_neighbor(i, ev.ip));
            if !wanted
                || cur.is_some_and(|n| n.is_static)
                || !self.aging.confirm((ev.iface, ev.ip), now, cur.is_some())
                || cur.is_some_and(|n| !n.would_change(ev.mac, false))
            {
                continue;
            }
            next.get_or_insert_with(|| (*state).clone())
                .neighbors
                .insert(
                    (ev.iface, ev.ip),
                    Neighbor {
                        mac: ev.mac,
                        is_static: false,
                    },
                );
            changed.push((ev.iface, ev.ip));
        }
        if let Some(n) = next {
            self.publish_neighbors(n, &changed)?;
        }
        Ok(changed.len())
    }

    /// Deletes a neighbor; `false` when there was none.
    pub fn del_neighbor(&mut self, iface: IfIndex, ip: Ipv4Addr) -> Result<bool, FwdError> {
        let state = self.state.load();
        if state.neighbor(iface, ip).is_none() {
            return Ok(false);
        }
        let mut next = (*state).clone();
        next.neighbors.remove(&(iface, ip));
        self.aging.forget((iface, ip));
        self.publish(next)?;
        Ok(true)
    }

    /// One aging pass at `now` (the daemon runs one every 100 ms): queues
    /// the probes due into `probes` and removes the learned entries whose probes went
    /// unanswered. Returns how many were removed. See [`NeighborAging`].
    pub fn age_neighbors(&mut self, now: Instant, probes: &ProbeQueue) -> Result<usize, FwdError> {
        let state = self.state.load();
        let expired = self.aging.pass(&state, now, probes);
        if expired.is_empty() {
            return Ok(0);
        }
        let mut next = (*state).clone();
        for k in &expired {
            next.neighbors.remove(k);
        }
        self.publish_neighbors(next, &expired)?;
        Ok(expired.len())
    }

    /// The addresses to announce since the last call: each added to a port that is up, and
    /// each of a port brought up (or whose link came up, [`Control::announce`]). The daemon
    /// hands them to the workers' `arp-probe` as probes for our own address, which are
    /// gratuitous ARP requests: neighbors that cached another MAC for the address (an earlier
    /// run on another port) update at once. Not on VXLAN tunnels: a tunnel's MAC is derived
    /// from its VNI and does not move, and announcing would make the underlay resolve the
    /// remote VTEP for nothing.
    pub fn take_announcements(&mut self) -> Vec<NeighborProbe> {
        std::mem::take(&mut self.announce)
    }

    pub fn neighbor_policy(&self) -> NeighborPolicy {
        self.aging.policy()
    }

    /// Takes effect at the next aging pass and the next learned neighbor.
    pub fn set_neighbor_policy(&mut self, policy: NeighborPolicy) {
        self.aging.set_policy(policy);
    }

    pub fn neighbor_counters(&self) -> NeighborCounters {
        self.aging.counters()
    }

    /// How long ago the learned entry for `ip` on `iface` was last confirmed (`None` for a
    /// static entry, or none).
    pub fn neighbor_age(&self, iface: IfIndex, ip: Ipv4Addr, now: Instant) -> Option<Duration> {
        self.aging.since_confirmed((iface, ip), now)
    }
}

#[cfg(test)]
impl Control {
    /// The control plane the crate's tests build on: a FIB of `max_routes` routes and 64
    /// tbl8 groups, 4 reader slots.
    pub(crate) fn for_tests(max_routes: usize) -> Control {
        Control::new(
            &Domain::new(4),
            FibConfig {
                max_routes,
                tbl8_groups: 64,
                ..Default::default()
            },
        )
        .expect("a small control plane")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A VXLAN tunnel `local` -> `remote` with `vni`, on the IANA port.
    fn tunnel(vni: u32, local: &str, remote: &str) -> VxlanTunnel {
        VxlanTunnel {
            vni,
            local: ip(local),
            remote: ip(remote),
            udp_port: 4789,
        }
    }

    fn control() -> Control {
        control_with(1024)
    }

    /// A control plane whose FIB holds at most `max_routes` routes.
    fn control_with(max_routes: usize) -> Control {
        Control::for_tests(max_routes)
    }

    #[test]
    fn addresses_make_connected_and_local_routes() {
        let mut c = control();
        let p = c
            .add_port("pod0", 0, [2, 0, 0, 0, 0, 1], 1500, TxCaps::default())
            .unwrap();
        c.add_address("pod0", ip("10.0.1.1"), 24).unwrap();
        let (fib, snap) = c.readers();
        let st = snap.get();
        let adj = |a: &str| {
            fib.lookup(u32::from(ip(a)))
                .map(|id| st.adjs[id as usize].clone())
        };
        assert_eq!(adj("10.0.1.1"), Some(Adj::Local));
        assert_eq!(adj("10.0.1.77"), Some(Adj::Glean { iface: p }));
        assert_eq!(adj("10.0.2.1"), None);
        assert_eq!(c.routes().count(), 2);
    }

    #[test]
    fn an_address_the_fib_has_no_room_for_is_refused_whole() {
        let mut c = control_with(3);
        c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_port("b", 1, [3; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        let before = c.state().clone();
        // Room for b's connected /24 (the third route) but not its local /32.
        let e = c.add_address("b", ip("10.0.2.1"), 24).unwrap_err();
        assert!(matches!(e, FwdError::Fib(_)), "{e:?}");
        assert_eq!(c.iface("b").unwrap().addrs, vec![], "no address half-added");
        assert_eq!(c.routes().count(), 2, "no route left behind");
        let (fib, _) = c.readers();
        assert_eq!(fib.lookup(u32::from(ip("10.0.2.7"))), None);
        assert_eq!(c.state().ifaces, before.ifaces);
        // With no room for the connected route either, the same.
        c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.2")]).unwrap();
        assert!(c.add_address("b", ip("10.0.2.1"), 24).is_err());
        assert_eq!(c.iface("b").unwrap().addrs, vec![]);
        assert_eq!(c.routes().count(), 3);
        // Room again: it goes in.
        c.del_route(ip("10.9.0.0"), 16).unwrap();
        c.del_address("a", ip("10.0.1.1"), 24).unwrap();
        c.add_address("b", ip("10.0.2.1"), 24).unwrap();
        assert_eq!(c.iface("b").unwrap().addrs, vec![(ip("10.0.2.1"), 24)]);
    }

    #[test]
    fn routes_need_reachable_next_hops_and_ecmp_groups_paths() {
        let mut c = control();
        c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_port("b", 1, [3; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        c.add_address("b", ip("10.0.2.1"), 24).unwrap();
        assert_eq!(
            c.add_route(ip("10.9.0.0"), 16, &[ip("10.7.0.1")]),
            Err(FwdError::UnreachableNextHop(
                ip("10.9.0.0"),
                16,
                ip("10.7.0.1")
            ))
        );
        assert_eq!(
            c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.1")]),
            Err(FwdError::NextHopIsLocal(ip("10.9.0.0"), 16, ip("10.0.1.1")))
        );
        c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.2"), ip("10.0.2.2")])
            .unwrap();
        let (fib, snap) = c.readers();
        let id = fib.lookup(u32::from(ip("10.9.3.4"))).unwrap();
        assert!(
            snap.get().rewrites.iter().all(Option::is_none),
            "no gateway resolved yet"
        );
        let Adj::Ecmp(members) = &snap.get().adjs[id as usize] else {
            panic!("not ECMP")
        };
        let paths: Vec<Adj> = members
            .iter()
            .map(|m| snap.get().adjs[*m as usize].clone())
            .collect();
        assert_eq!(
            paths,
            vec![
                Adj::Via {
                    iface: 0,
                    gw: ip("10.0.1.2")
                },
                Adj::Via {
                    iface: 1,
                    gw: ip("10.0.2.2")
                }
            ]
        );
        assert!(matches!(
            c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.2")]),
            Err(FwdError::RouteExists(..))
        ));
        assert!(matches!(
            c.add_route(ip("10.9.0.1"), 16, &[ip("10.0.1.2")]),
            Err(FwdError::Fib(FibError::HostBitsSet { .. }))
        ));
        c.del_route(ip("10.9.0.0"), 16).unwrap();
        assert_eq!(fib.lookup(u32::from(ip("10.9.3.4"))), None);
        assert_eq!(
            c.del_route(ip("10.9.0.0"), 16),
            Err(FwdError::NoRoute(ip("10.9.0.0"), 16))
        );
        assert_eq!(
            c.del_route(ip("10.0.1.0"), 24),
            Err(FwdError::NoRoute(ip("10.0.1.0"), 24)),
            "connected routes go with the address"
        );
    }

    #[test]
    fn overlapping_addresses_and_foreign_tunnel_endpoints_are_refused() {
        let mut c = control();
        c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_port("b", 1, [3; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        assert!(matches!(
            c.add_address("b", ip("10.0.1.9"), 24),
            Err(FwdError::AddressOverlap { .. })
        ));
        assert!(matches!(
            c.add_address("b", ip("10.0.0.1"), 16),
            Err(FwdError::AddressOverlap { .. })
        ));
        assert_eq!(
            c.add_address("zz", ip("10.5.0.1"), 24),
            Err(FwdError::NoIface("zz".into()))
        );
        let t = tunnel(100, "192.168.50.1", "192.168.50.2");
        assert!(matches!(
            c.add_vxlan("vx", t, [4; 6], 1450),
            Err(FwdError::TunnelLocalNotOurs { .. })
        ));
        c.add_address("b", ip("192.168.50.1"), 24).unwrap();
        let vx = c.add_vxlan("vx", t, [4; 6], 1450).unwrap();
        assert!(matches!(
            c.add_vxlan("vx2", t, [4; 6], 1450),
            Err(FwdError::TunnelExists { .. })
        ));
        assert!(matches!(
            c.add_vxlan("vx", VxlanTunnel { vni: 7, ..t }, [4; 6], 1450),
            Err(FwdError::IfaceExists(_))
        ));
        let st = c.state();
        assert_eq!(st.vxlan.get(&(100, ip("192.168.50.2"))), Some(&vx));
        assert!(st.is_vtep(ip("192.168.50.1"), 4789));
        c.add_address("vx", ip("172.16.0.1"), 24).unwrap();
        c.add_route(ip("10.0.2.0"), 24, &[ip("172.16.0.2")])
            .unwrap();
    }

    #[test]
    fn addresses_can_be_removed_unless_a_route_needs_them_and_interfaces_go_down() {
        let mut c = control();
        c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.2")]).unwrap();
        assert!(matches!(
            c.del_address("a", ip("10.0.1.1"), 24),
            Err(FwdError::AddressInUse { .. })
        ));
        assert_eq!(
            c.del_address("a", ip("10.0.7.1"), 24),
            Err(FwdError::NoAddress(ip("10.0.7.1"), 24, "a".into()))
        );
        c.del_route(ip("10.9.0.0"), 16).unwrap();
        c.del_address("a", ip("10.0.1.1"), 24).unwrap();
        let (fib, _) = c.readers();
        assert_eq!(fib.lookup(u32::from(ip("10.0.1.1"))), None);
        assert_eq!(fib.lookup(u32::from(ip("10.0.1.9"))), None);
        assert!(c.iface("a").unwrap().addrs.is_empty());
        assert_eq!(c.routes().count(), 0);
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        assert!(!c.set_up("a", false).unwrap().up);
        assert!(!c.state().iface(0).unwrap().up);
        assert!(c.set_up("a", true).unwrap().up);
    }

    #[test]
    fn tunnels_can_be_deleted_unless_a_route_needs_them() {
        let mut c = control();
        c.add_port("up", 0, [2; 6], 1500, TxCaps::default())
            .unwrap();
        c.add_address("up", ip("192.168.50.1"), 24).unwrap();
        let t = tunnel(100, "192.168.50.1", "192.168.50.2");
        let vx = c.add_vxlan("vx", t, [4; 6], 1450).unwrap();
        c.add_address("vx", ip("172.16.0.1"), 24).unwrap();
        c.set_neighbor(vx, ip("172.16.0.2"), [5; 6], true).unwrap();
        c.add_route(ip("10.0.2.0"), 24, &[ip("172.16.0.2")])
            .unwrap();
        assert!(matches!(
            c.del_vxlan("vx"),
            Err(FwdError::AddressInUse { .. })
        ));
        c.del_route(ip("10.0.2.0"), 24).unwrap();
        assert!(
            matches!(c.del_vxlan("up"), Err(FwdError::NoIface(_))),
            "a port is not a tunnel"
        );
        c.del_vxlan("vx").unwrap();
        let st = c.state();
        assert!(st.iface(vx).is_none() && st.vxlan.is_empty() && st.vteps.is_empty());
        assert!(st.neighbor(vx, ip("172.16.0.2")).is_none());
        assert_eq!(
            c.routes().count(),
            2,
            "only the uplink's connected and local routes"
        );
        // The same tunnel can come back.
        c.add_vxlan("vx", t, [4; 6], 1450).unwrap();
        // A port under a tunnel cannot go; without the tunnel it can.
        assert!(matches!(c.del_port("up"), Err(FwdError::IfaceInUse { .. })));
        c.del_vxlan("vx").unwrap();
        c.del_port("up").unwrap();
        assert!(c.state().ifaces.iter().flatten().next().is_none());
        assert_eq!(c.routes().count(), 0);
        assert_eq!(
            c.add_port("up", 0, [2; 6], 1500, TxCaps::default())
                .unwrap(),
            0,
            "index reused"
        );
    }

    /// A pod's port as the CNI plugin makes it: port `name` (MAC all `2 + port_id` bytes)
    /// with the pods' unnumbered gateway 10.56.0.1/32 on it.
    fn pod_port(c: &mut Control, name: &str, port_id: u16) -> IfIndex {
        let mac = [2 + port_id as u8; 6];
        let i = c
            .add_port(name, port_id, mac, 1500, TxCaps::default())
            .unwrap();
        c.add_address(name, ip("10.56.0.1"), 32).unwrap();
        i
    }

    #[test]
    fn pod_ports_share_an_unnumbered_gateway_and_get_interface_routes() {
        let mut c = control();
        let a = pod_port(&mut c, "p-a", 0);
        let b = pod_port(&mut c, "p-b", 1);
        assert!(
            matches!(
                c.add_address("p-b", ip("10.56.0.1"), 24),
                Err(FwdError::AddressOverlap { .. })
            ),
            "only identical /32s share"
        );
        c.add_route_hops(ip("10.56.0.5"), 32, &[(None, Some(a))])
            .unwrap();
        c.add_route_hops(ip("10.56.0.6"), 32, &[(None, Some(b))])
            .unwrap();
        let (fib, snap) = c.readers();
        let adj =
            |addr: &str| snap.get().adjs[fib.lookup(u32::from(ip(addr))).unwrap() as usize].clone();
        // A host adjacency each (the pod itself as the next hop), not the ports' gleans.
        assert_eq!(
            adj("10.56.0.5"),
            Adj::Via {
                iface: a,
                gw: ip("10.56.0.5")
            }
        );
        assert_eq!(
            adj("10.56.0.6"),
            Adj::Via {
                iface: b,
                gw: ip("10.56.0.6")
            }
        );
        assert_eq!(adj("10.56.0.1"), Adj::Local);
        assert!(
            matches!(c.del_port("p-a"), Err(FwdError::IfaceInUse { .. })),
            "a route still goes through it"
        );
        c.del_route(ip("10.56.0.5"), 32).unwrap();
        c.del_port("p-a").unwrap();
        assert_eq!(
            adj("10.56.0.1"),
            Adj::Local,
            "p-b still holds the shared gateway"
        );
        c.del_route(ip("10.56.0.6"), 32).unwrap();
        c.del_port("p-b").unwrap();
        assert_eq!(
            fib.lookup(u32::from(ip("10.56.0.1"))),
            None,
            "the last holder took it away"
        );
        assert!(matches!(
            c.add_route_hops(ip("10.9.0.0"), 16, &[(None, None)]),
            Err(FwdError::NoNextHop(..))
        ));
    }

    /// A pod's /32 gets its rewrite precomputed once its MAC is known (ip4-rewrite's fast
    /// path), and a deleted pod's adjacency slot goes to the next pod: churn does not grow
    /// the adjacency table.
    #[test]
    fn pod_routes_get_host_adjacencies_that_are_reused_after_the_pod_goes() {
        let mut c = control();
        let a = pod_port(&mut c, "p-a", 0);
        let (fib, _) = c.readers();
        let id = |addr: &str| fib.lookup(u32::from(ip(addr))).unwrap() as usize;
        c.add_route_hops(ip("10.56.0.5"), 32, &[(None, Some(a))])
            .unwrap();
        let pod = id("10.56.0.5");
        assert_eq!(c.state().rewrites[pod], None, "MAC not known yet");
        c.set_neighbor(a, ip("10.56.0.5"), [5; 6], false).unwrap();
        let rw = c.state().rewrites[pod].expect("precomputed once the MAC is known");
        assert_eq!(
            rw.l2[..12],
            [[5; 6], [2; 6]].concat()[..],
            "pod's MAC, port's MAC"
        );
        assert_eq!(rw.tx_if, a);

        let before = c.state().adjs.len();
        for n in 6..40 {
            let old = ip(&format!("10.56.0.{}", n - 1));
            c.del_route(old, 32).unwrap();
            assert_eq!(c.state().adjs[pod], Adj::Drop, "freed when the pod goes");
            assert_eq!(c.state().adjs_in_use(), before - 1);
            c.add_route_hops(ip(&format!("10.56.0.{n}")), 32, &[(None, Some(a))])
                .unwrap();
            assert_eq!(
                id(&format!("10.56.0.{n}")),
                pod,
                "the next pod takes the slot"
            );
        }
        assert_eq!(
            c.state().adjs.len(),
            before,
            "34 pods later, no new adjacency"
        );
    }

    /// Every resolved neighbor on an interface that is up has its rewrite for gleans, kept in
    /// step with its MAC, the interface's state and the neighbor's removal.
    #[test]
    fn resolved_hosts_have_a_rewrite_for_gleans_kept_in_step() {
        let mut c = control();
        let a = c.add_port("p", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("p", ip("10.0.1.1"), 24).unwrap();
        let host = (a, ip("10.0.1.5"));
        let dst_mac = |c: &Control| {
            c.state()
                .host_rewrites
                .get(&host)
                .map(|r| r.l2[..6].to_vec())
        };
        assert_eq!(dst_mac(&c), None);
        c.set_neighbor(a, host.1, [5; 6], false).unwrap();
        assert_eq!(dst_mac(&c), Some(vec![5; 6]));
        c.set_neighbor(a, host.1, [6; 6], false).unwrap();
        assert_eq!(dst_mac(&c), Some(vec![6; 6]), "the new MAC");
        c.set_up("p", false).unwrap();
        assert_eq!(dst_mac(&c), None, "not while the port is down");
        c.set_up("p", true).unwrap();
        assert_eq!(dst_mac(&c), Some(vec![6; 6]));
        assert!(c.del_neighbor(a, host.1).unwrap());
        assert_eq!(dst_mac(&c), None, "gone with the neighbor");
    }

    /// A route the FIB has no room for leaves no adjacency behind (a pod added to a full
    /// FIB, again and again, would otherwise grow the table each time).
    #[test]
    fn a_route_the_fib_has_no_room_for_leaves_no_adjacency_behind() {
        // Room for p-a's local /32 and one more route.
        let mut c = control_with(2);
        let a = pod_port(&mut c, "p-a", 0);
        c.add_route_hops(ip("10.56.0.5"), 32, &[(None, Some(a))])
            .unwrap();
        let before = c.state().adjs.clone();
        for n in 6..10 {
            let pod = ip(&format!("10.56.0.{n}"));
            let e = c.add_route_hops(pod, 32, &[(None, Some(a))]).unwrap_err();
            assert!(matches!(e, FwdError::Fib(_)), "{e:?}");
            assert_eq!(c.state().adjs, before, "no adjacency for {pod}");
        }
    }

    /// A pod that is also a gateway (a route via its address, a CNF router) keeps its
    /// adjacency when its /32 goes.
    #[test]
    fn a_host_adjacency_a_gateway_route_still_uses_is_kept() {
        let mut c = control();
        let a = pod_port(&mut c, "p-a", 0);
        c.add_route_hops(ip("10.56.0.5"), 32, &[(None, Some(a))])
            .unwrap();
        c.add_route_hops(ip("10.99.0.0"), 16, &[(Some(ip("10.56.0.5")), Some(a))])
            .unwrap();
        let (fib, _) = c.readers();
        let host = fib.lookup(u32::from(ip("10.56.0.5"))).unwrap();
        assert_eq!(
            fib.lookup(u32::from(ip("10.99.1.1"))),
            Some(host),
            "one adjacency"
        );
        c.del_route(ip("10.56.0.5"), 32).unwrap();
        assert_eq!(
            c.state().adjs[host as usize],
            Adj::Via {
                iface: a,
                gw: ip("10.56.0.5")
            },
            "still the /16's next hop"
        );
        c.add_route_hops(ip("10.56.0.6"), 32, &[(None, Some(a))])
            .unwrap();
        assert_ne!(fib.lookup(u32::from(ip("10.56.0.6"))), Some(host));

        // Through two gateway routes: kept until the last one goes, then freed with the /32.
        c.add_route_hops(ip("10.98.0.0"), 16, &[(Some(ip("10.56.0.5")), Some(a))])
            .unwrap();
        c.del_route(ip("10.99.0.0"), 16).unwrap();
        let pod = |c: &mut Control| {
            c.add_route_hops(ip("10.56.0.5"), 32, &[(None, Some(a))])
                .unwrap();
            let id = fib.lookup(u32::from(ip("10.56.0.5"))).unwrap();
            c.del_route(ip("10.56.0.5"), 32).unwrap();
            (id, c.state().adjs[id as usize].clone())
        };
        let (id, adj) = pod(&mut c);
        assert_eq!(
            (id, adj),
            (
                host,
                Adj::Via {
                    iface: a,
                    gw: ip("10.56.0.5")
                }
            ),
            "10.98/16's"
        );
        c.del_route(ip("10.98.0.0"), 16).unwrap();
        assert_eq!(
            pod(&mut c),
            (host, Adj::Drop),
            "freed: no route through it is left"
        );
    }

    #[test]
    fn learned_neighbors_never_override_static_ones() {
        let mut c = control();
        let a = c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        c.set_neighbor(a, ip("10.0.1.2"), [9; 6], true).unwrap();
        let q: LearnQueue = Arc::new(crossbeam_queue::ArrayQueue::new(16));
        // Outside a's subnet and no next hop: never learned (arp-input does not send such
        // events; the control plane refuses them anyway).
        q.push(NeighborEvent {
            iface: a,
            ip: ip("10.9.9.9"),
            mac: [7; 6],
        })
        .unwrap();
        q.push(NeighborEvent {
            iface: a,
            ip: ip("10.0.1.2"),
            mac: [7; 6],
        })
        .unwrap();
        q.push(NeighborEvent {
            iface: a,
            ip: ip("10.0.1.3"),
            mac: [7; 6],
        })
        .unwrap();
        q.push(NeighborEvent {
            iface: a,
            ip: ip("10.0.1.3"),
            mac: [7; 6],
        })
        .unwrap();
        q.push(NeighborEvent {
            iface: 99,
            ip: ip("10.0.1.4"),
            mac: [7; 6],
        })
        .unwrap();
        assert_eq!(c.learn(&q, Instant::now()).unwrap(), 1);
        let st = c.state();
        assert_eq!(
            st.rewrites.len(),
            st.adjs.len(),
            "kept in step with the adjacencies"
        );
        assert_eq!(st.neighbor(a, ip("10.0.1.2")).unwrap().mac, [9; 6]);
        assert_eq!(st.neighbor(a, ip("10.0.1.3")).unwrap().mac, [7; 6]);
        assert!(st.neighbor(a, ip("10.9.9.9")).is_none());
        assert!(c.del_neighbor(a, ip("10.0.1.3")).unwrap());
        assert!(!c.del_neighbor(a, ip("10.0.1.3")).unwrap());
    }

    /// The learned-entry cap holds against new neighbors only (a known one still moves), and
    /// an aging pass takes entries nobody confirms out of the table the workers read.
    #[test]
    fn learned_neighbors_are_capped_and_age_out_of_the_table() {
        let mut c = control();
        let a = c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        c.set_neighbor(a, ip("10.0.1.100"), [9; 6], true).unwrap();
        c.set_neighbor_policy(NeighborPolicy {
            age: Some(Duration::from_secs(60)),
            probes: 1,
            probe_interval: Duration::from_secs(1),
            max_learned: 2,
        });
        let t0 = Instant::now();
        let q: LearnQueue = Arc::new(crossbeam_queue::ArrayQueue::new(16));
        let ev = |n: u8, m: u8| NeighborEvent {
            iface: a,
            ip: Ipv4Addr::new(10, 0, 1, n),
            mac: [m; 6],
        };
        for e in [ev(2, 7), ev(3, 7), ev(4, 7), ev(2, 8)] {
            q.push(e).unwrap();
        }
        assert_eq!(c.learn(&q, t0).unwrap(), 3, ".2, .3, .2 moved; not .4");
        let st = c.state();
        assert!(st.neighbor(a, ip("10.0.1.4")).is_none(), "over the cap");
        assert_eq!(st.neighbor(a, ip("10.0.1.2")).unwrap().mac, [8; 6]);
        assert_eq!(c.neighbor_counters().refused, 1);
        assert_eq!(c.neighbor_age(a, ip("10.0.1.100"), t0), None, "static");

        let probes: ProbeQueue = Arc::new(crossbeam_queue::ArrayQueue::new(16));
        let s = Duration::from_secs;
        assert_eq!(c.age_neighbors(t0 + s(30), &probes).unwrap(), 0);
        // .3 answers (a reply to us is an event even when nothing changed).
        q.push(ev(3, 7)).unwrap();
        assert_eq!(
            c.learn(&q, t0 + s(30)).unwrap(),
            0,
            "confirmed, not changed"
        );
        assert_eq!(c.age_neighbors(t0 + s(60), &probes).unwrap(), 0);
        let asked: Vec<_> = std::iter::from_fn(|| probes.pop()).collect();
        assert_eq!(
            asked,
            [NeighborProbe {
                iface: a,
                ip: ip("10.0.1.2")
            }]
        );
        assert_eq!(c.age_neighbors(t0 + s(61), &probes).unwrap(), 1);
        let st = c.state();
        assert!(st.neighbor(a, ip("10.0.1.2")).is_none(), "aged out");
        assert!(!st.host_rewrites.contains_key(&(a, ip("10.0.1.2"))));
        assert!(
            st.neighbor(a, ip("10.0.1.3")).is_some(),
            "confirmed at 30 s"
        );
        assert!(st.neighbor(a, ip("10.0.1.100")).is_some(), "static");
        assert_eq!(c.neighbor_counters().aged_out, 1);
        // Room again for .4.
        q.push(ev(4, 7)).unwrap();
        assert_eq!(c.learn(&q, t0 + s(61)).unwrap(), 1);
    }

    /// Learn batches and age-outs redo only the host rewrites of the neighbors they touch
    /// (`publish_neighbors`, which debug builds check against a full rebuild). What follows
    /// from those rewrites follows too: a gateway's adjacency and a tunnel's underlay take a
    /// learned MAC, a changed one, and lose it when it ages out; the other neighbors keep
    /// theirs.
    #[test]
    fn learning_and_aging_keep_the_derived_rewrites_in_step() {
        let mut c = control();
        let a = c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        c.add_route(ip("10.9.0.0"), 16, &[ip("10.0.1.2")]).unwrap();
        let vx = c
            .add_vxlan("vx", tunnel(100, "10.0.1.1", "10.0.1.3"), [4; 6], 1450)
            .unwrap();
        c.set_neighbor_policy(NeighborPolicy {
            age: Some(Duration::from_secs(60)),
            probes: 1,
            probe_interval: Duration::from_secs(1),
            max_learned: 100,
        });
        let (fib, _) = c.readers();
        let gw_adj = fib.lookup(u32::from(ip("10.9.0.0"))).unwrap() as usize;
        // Everything the neighbors feed, as (gateway's dst MAC, VTEP's dst MAC, host count).
        let derived = |c: &Control| {
            let st = c.state();
            let dst = |rw: Option<Rewrite>| rw.map(|r| r.l2[0]);
            (
                dst(st.rewrites[gw_adj]),
                dst(st.tunnel_underlay[usize::from(vx)]),
                st.host_rewrites.len(),
            )
        };
        let t0 = Instant::now();
        let q: LearnQueue = Arc::new(crossbeam_queue::ArrayQueue::new(16));
        let learn = |c: &mut Control, evs: &[(u8, u8)], at: Instant| {
            for &(n, m) in evs {
                let ip = Ipv4Addr::new(10, 0, 1, n);
                q.push(NeighborEvent {
                    iface: a,
                    ip,
                    mac: [m; 6],
                })
                .unwrap();
            }
            c.learn(&q, at).unwrap()
        };
        assert_eq!(derived(&c), (None, None, 0));
        assert_eq!(learn(&mut c, &[(2, 7), (3, 8), (4, 9)], t0), 3);
        assert_eq!(derived(&c), (Some(7), Some(8), 3));
        assert_eq!(learn(&mut c, &[(2, 5)], t0 + Duration::from_secs(30)), 1);
        assert_eq!(derived(&c), (Some(5), Some(8), 3), "the gateway moved");
        let probes: ProbeQueue = Arc::new(crossbeam_queue::ArrayQueue::new(16));
        // .3 and .4 go unconfirmed past 60 s, are probed, and are gone a probe later.
        assert_eq!(
            c.age_neighbors(t0 + Duration::from_secs(61), &probes)
                .unwrap(),
            0
        );
        assert_eq!(
            c.age_neighbors(t0 + Duration::from_secs(62), &probes)
                .unwrap(),
            2
        );
        assert_eq!(derived(&c), (Some(5), None, 1), "the VTEP aged out");
        assert_eq!(learn(&mut c, &[(3, 6)], t0 + Duration::from_secs(62)), 1);
        assert_eq!(derived(&c), (Some(5), Some(6), 2));
    }

    /// An address added to an interface that is up, and the addresses of one brought up, are
    /// announced (once each); nothing while it is down.
    #[test]
    fn added_addresses_and_interfaces_brought_up_are_announced() {
        let mut c = control();
        let a = c.add_port("a", 0, [2; 6], 1500, TxCaps::default()).unwrap();
        let probe = |ip| NeighborProbe { iface: a, ip };
        c.add_address("a", ip("10.0.1.1"), 24).unwrap();
        assert_eq!(c.take_announcements(), [probe(ip("10.0.1.1"))]);
        assert_eq!(c.take_announcements(), [], "once");
        c.set_up("a", false).unwrap();
        c.add_address("a", ip("10.0.2.1"), 32).unwrap();
        assert_eq!(c.take_announcements(), [], "down: nobody to tell");
        c.set_up("a", true).unwrap();
        assert_eq!(
            c.take_announcements(),
            [probe(ip("10.0.1.1")), probe(ip("10.0.2.1"))]
        );
        c.set_up("a", true).unwrap();
        assert_eq!(c.take_announcements(), [], "already up: no change");
        assert!(c.add_address("a", ip("10.0.1.7"), 24).is_err());
        assert_eq!(
            c.take_announcements(),
            [],
            "a refused address is not announced"
        );
        c.add_vxlan("vx7", tunnel(7, "10.0.1.1", "10.0.1.9"), [3; 6], 1450)
            .unwrap();
        c.add_address("vx7", ip("172.16.7.1"), 24).unwrap();
        assert_eq!(c.take_announcements(), [], "tunnels are not announced on");
        let vx = c.iface("vx7").unwrap().index;
        c.announce(vx);
        assert_eq!(
            c.take_announcements(),
            [],
            "nor on a tunnel's link coming up"
        );
        c.announce(a);
        assert_eq!(
            c.take_announcements(),
            [probe(ip("10.0.1.1")), probe(ip("10.0.2.1"))],
            "a port's link came up"
        );
        c.set_up("a", false).unwrap();
        c.announce(a);
        assert_eq!(c.take_announcements(), [], "down: nothing");
    }
}
