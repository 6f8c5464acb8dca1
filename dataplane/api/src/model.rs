//! The API's objects: ports, routes, neighbors, tunnels, trace and capture requests, with the
//! checks a request must pass before any backend sees it ([`Validate`]).
//!
//! The objects mirror the dataplane's config file (`[[port]] name/device/address`,
//! `[[route]] prefix/via`, `[[tunnel]] name/vni/local/remote/address`), so what an operator
//! writes in one place reads the same in the other. JSON field names are `snake_case`; unknown
//! fields are refused so a typo (`"adress"`) is an error and not a silently ignored value.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::addr::{Ipv4Cidr, Ipv4Prefix, MacAddr};
use crate::error::ApiError;

/// The VXLAN UDP port assigned by IANA (RFC 7348).
pub const VXLAN_UDP_PORT: u16 = 4789;
/// The largest VXLAN network identifier (24 bits).
pub const VNI_MAX: u32 = 0x00FF_FFFF;
/// Most next hops one route may have (ECMP width).
pub const MAX_NEXT_HOPS: usize = 16;
/// Longest port or tunnel name.
pub const MAX_NAME_LEN: usize = 32;
/// Longest unix socket path (`sun_path` holds 108 bytes with the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// Most packets one trace may ask for.
pub const MAX_TRACE_PACKETS: u32 = 1000;
/// Longest a trace or capture request may wait for its packets, in milliseconds.
pub const MAX_WAIT_MS: u64 = 600_000;

/// A request body the server checks before calling the backend. The error names the field.
pub trait Validate {
    /// `Err` is always a 400 naming the offending field.
    fn validate(&self) -> Result<(), ApiError>;
}

/// Checks a port or tunnel name: 1 to 32 characters from `A-Z a-z 0-9 . _ -`, starting with a
/// letter or digit. Names appear in URL paths and DPDK device names, hence the small alphabet.
pub fn validate_name(field: &str, name: &str) -> Result<(), ApiError> {
    name_problem(name).map_or(Ok(()), |m| Err(ApiError::invalid(field, m)))
}

/// What is wrong with `name` as a port or tunnel name ([`validate_name`]'s rule), if anything:
/// the reason alone, for callers that say where themselves (the config file).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Some(format!("`{name}` is longer than {MAX_NAME_LEN} characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some(format!("`{name}` must start with a letter or a digit"));
    }
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .map(|c| format!("`{name}` contains {c:?}; use letters, digits, `.`, `_` and `-`"))
}

/// Checks that `ip` can be a host's address: not 0.0.0.0, multicast or broadcast.
pub fn validate_unicast(field: &str, ip: Ipv4Addr) -> Result<(), ApiError> {
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Err(ApiError::invalid(
            field,
            format!("`{ip}` is not a unicast address"),
        ));
    }
    Ok(())
}

/// Checks a unix socket path handed to DPDK in a device string: absolute, short enough for
/// `sun_path`, and free of the `,` and `=` that would split DPDK's `key=value,...` arguments.
pub fn validate_socket_path(field: &str, path: &Path) -> Result<(), ApiError> {
    let text = path.to_string_lossy();
    if !path.is_absolute() {
        return Err(ApiError::invalid(
            field,
            format!("`{text}` must be an absolute path"),
        ));
    }
    if text.len() > MAX_SOCKET_PATH {
        return Err(ApiError::invalid(
            field,
            format!(
                "`{text}` is {} bytes; a unix socket path holds at most {MAX_SOCKET_PATH}",
                text.len()
            ),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| matches!(c, ',' | '=') || c.is_control())
    {
        return Err(ApiError::invalid(
            field,
            format!("`{text}` contains {c:?}, which DPDK device arguments cannot carry"),
        ));
    }
    if text.ends_with('/') {
        return Err(ApiError::invalid(
            field,
            format!("`{text}` names a directory, not a socket file"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ports

/// The memif role of the dataplane's side of the link (not the pod's: with `server`, the
/// default, the dataplane creates the socket and the pod connects as client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemifRole {
    /// The dataplane listens on the socket.
    #[default]
    Server,
    /// The dataplane connects to a socket the pod created.
    Client,
}

/// The vhost-user mode of the dataplane's side (not the pod's): with `server`, the default, the
/// dataplane creates the socket and the pod's virtio-user connects to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VhostMode {
    /// The dataplane listens on the socket.
    #[default]
    Server,
    /// The dataplane connects to a socket the pod's virtio-user created (`client=1`).
    Client,
}

/// What device backs a port. JSON: `{"kind": "dpdk", "devargs": "net_tap0,iface=t0"}`,
/// `{"kind": "memif", "socket": "/run/pods/p1/memif.sock", "role": "server", "id": 0}`,
/// `{"kind": "vhost-user", "socket": "/run/pods/p1/vhost.sock", "mode": "server"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DeviceSpec {
    /// Any DPDK device string, as the config file's `device` takes it: a vdev with its
    /// arguments (`net_af_packet0,iface=veth0`) or a PCI address (`0000:3b:02.1`).
    Dpdk {
        /// The device string.
        devargs: String,
    },
    /// A memif port (DPDK `net_memif`), one socket per pod.
    Memif {
        /// The socket file (absolute path, on the filesystem, not the abstract namespace).
        socket: PathBuf,
        /// The dataplane side's role.
        #[serde(default)]
        role: MemifRole,
        /// The memif interface id on that socket.
        #[serde(default)]
        id: u32,
    },
    /// A vhost-user port (DPDK `net_vhost`).
    VhostUser {
        /// The socket file (absolute path).
        socket: PathBuf,
        /// The dataplane side's mode.
        #[serde(default)]
        mode: VhostMode,
    },
}

impl DeviceSpec {
    /// The socket file of a memif or vhost-user port.
    pub fn socket(&self) -> Option<&Path> {
        match self {
            DeviceSpec::Dpdk { .. } => None,
            DeviceSpec::Memif { socket, .. } | DeviceSpec::VhostUser { socket, .. } => Some(socket),
        }
    }

    /// A short name of the kind: `dpdk`, `memif`, `vhost-user`.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceSpec::Dpdk { .. } => "dpdk",
            DeviceSpec::Memif { .. } => "memif",
            DeviceSpec::VhostUser { .. } => "vhost-user",
        }
    }

    /// The DPDK device string that creates this device for port `port_name` (which makes
    /// the vdev name unique). Memif sockets are put on the filesystem (`socket-abstract=no`):
    /// DPDK 22.11 defaults to the abstract namespace, which a pod's mounted directory cannot
    /// reach. Call after [`Validate::validate`]: paths are then free of `,` and `=`.
    pub fn devargs(&self, port_name: &str) -> String {
        match self {
            DeviceSpec::Dpdk { devargs } => devargs.clone(),
            DeviceSpec::Memif { socket, role, id } => format!(
                "net_memif_{port_name},role={},id={id},socket={},socket-abstract=no",
                match role {
                    MemifRole::Server => "server",
                    MemifRole::Client => "client",
                },
                socket.display()
            ),
            DeviceSpec::VhostUser { socket, mode } => format!(
                "net_vhost_{port_name},iface={},client={},queues=1",
                socket.display(),
                match mode {
                    VhostMode::Server => 0,
                    VhostMode::Client => 1,
                }
            ),
        }
    }

    fn validate(&self, field: &str) -> Result<(), ApiError> {
        match self {
            DeviceSpec::Dpdk { devargs } => {
                let f = format!("{field}.devargs");
                if devargs.trim().is_empty() {
                    return Err(ApiError::invalid(f, "must not be empty"));
                }
                if devargs.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ApiError::invalid(
                        f,
                        format!("`{devargs}` contains white space"),
                    ));
                }
                if devargs.starts_with(',') {
                    return Err(ApiError::invalid(
                        f,
                        format!("`{devargs}` must start with a device name"),
                    ));
                }
                Ok(())
            }
            DeviceSpec::Memif { socket, .. } | DeviceSpec::VhostUser { socket, .. } => {
                validate_socket_path(&format!("{field}.socket"), socket)
            }
        }
    }
}

fn yes() -> bool {
    true
}

/// `POST /v1/ports`: create a port at runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePort {
    /// The port's name (unique among ports and tunnels).
    pub name: String,
    /// What backs it.
    pub device: DeviceSpec,
    /// Its address, if any; also installs the connected route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Cidr>,
    /// MTU; the device's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Administratively up once created (default `true`).
    #[serde(default = "yes")]
    pub up: bool,
}

/// The L3 MTUs a port may be given, through the API or the config file: 68 is the IPv4
/// minimum (RFC 791); above 9216 no NIC we target goes.
pub const MTU_RANGE: std::ops::RangeInclusive<u16> = 68..=9216;

/// What is wrong with `mtu` as a port's MTU ([`MTU_RANGE`]), if anything.
pub fn mtu_problem(mtu: u16) -> Option<String> {
    (!MTU_RANGE.contains(&mtu)).then(|| {
        format!(
            "{mtu} is outside {}..={}",
            MTU_RANGE.start(),
            MTU_RANGE.end()
        )
    })
}

impl Validate for CreatePort {
    fn validate(&self) -> Result<(), ApiError> {
        validate_name("name", &self.name)?;
        self.device.validate("device")?;
        if let Some(m) = self.mtu.and_then(mtu_problem) {
            return Err(ApiError::invalid("mtu", m));
        }
        Ok(())
    }
}

/// One port as the dataplane has it (`GET /v1/ports`, `GET /v1/ports/{name}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// The port's name.
    pub name: String,
    /// What backs it (config ports show their device string as `kind: dpdk`).
    pub device: DeviceSpec,
    /// Its MAC address, once the device is up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// MTU in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Cidr>,
    /// Administratively up.
    pub admin_up: bool,
    /// Carrier/link up (for memif and vhost-user: the peer is connected).
    pub link_up: bool,
    /// Created through the API and kept in the state file (recreated after a restart).
    #[serde(default)]
    pub persistent: bool,
    /// The worker polling each of its rx queues (index = queue); its length is the number
    /// of rx queues. Empty when not known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rx_workers: Vec<u32>,
    /// The offloads the device does for the dataplane: `rx-ipv4-cksum`, `rx-udp-cksum`,
    /// `rx-tcp-cksum` (checksums verified), `rx-flow-hash` (each packet's RSS hash, taken
    /// for VXLAN source ports and ECMP instead of hashing in software), `tx-ipv4-cksum`,
    /// `tx-udp-cksum`, `tx-tcp-cksum` (checksums filled in). What is not listed is done in
    /// software.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub offloads: Vec<String>,
}

/// `PUT /v1/ports/{name}/address`: set (`"10.0.1.1/24"`) or clear (`null`) the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAddress {
    /// The new address; `null` removes it.
    pub address: Option<Ipv4Cidr>,
}

impl Validate for SetAddress {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// `PUT /v1/ports/{name}/admin-state`: up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAdminState {
    /// `true` to bring the port up.
    pub up: bool,
}

impl Validate for SetAdminState {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

/// One next hop: a gateway, an interface, or both. A route with an interface and no gateway
/// sends to the destination itself on that link (resolved by ARP).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NextHop {
    /// Gateway address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<Ipv4Addr>,
    /// Outgoing port or tunnel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

impl std::fmt::Display for NextHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.via, &self.interface) {
            (Some(via), Some(dev)) => write!(f, "via {via} dev {dev}"),
            (Some(via), None) => write!(f, "via {via}"),
            (None, Some(dev)) => write!(f, "dev {dev}"),
            (None, None) => f.write_str("-"),
        }
    }
}

/// `POST /v1/routes`: a prefix and its next hops (several = ECMP by flow hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination prefix.
    pub prefix: Ipv4Prefix,
    /// One or more next hops.
    pub next_hops: Vec<NextHop>,
}

impl Validate for Route {
    fn validate(&self) -> Result<(), ApiError> {
        if self.next_hops.is_empty() {
            return Err(ApiError::invalid(
                "next_hops",
                "a route needs at least one next hop",
            ));
        }
        if self.next_hops.len() > MAX_NEXT_HOPS {
            return Err(ApiError::invalid(
                "next_hops",
                format!(
                    "{} next hops; at most {MAX_NEXT_HOPS} are supported",
                    self.next_hops.len()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (i, hop) in self.next_hops.iter().enumerate() {
            if hop.via.is_none() && hop.interface.is_none() {
                return Err(ApiError::invalid(
                    format!("next_hops[{i}]"),
                    "a next hop needs a gateway (`via`), an interface, or both",
                ));
            }
            if let Some(via) = hop.via {
                validate_unicast(&format!("next_hops[{i}].via"), via)?;
            }
            if let Some(dev) = &hop.interface {
                validate_name(&format!("next_hops[{i}].interface"), dev)?;
            }
            if !seen.insert(hop) {
                return Err(ApiError::invalid(
                    format!("next_hops[{i}]"),
                    format!("next hop `{hop}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Where a FIB entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteSource {
    /// Configured (config file or API).
    Static,
    /// The subnet of a port or tunnel address.
    Connected,
    /// One of our own addresses (/32, delivered to ip4-local).
    Local,
}

/// One FIB entry (`GET /v1/routes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    /// Destination prefix.
    pub prefix: Ipv4Prefix,
    /// Its next hops.
    pub next_hops: Vec<NextHop>,
    /// Where it came from.
    pub source: RouteSource,
}

// ---------------------------------------------------------------------------------------------
// Neighbors

/// `POST /v1/neighbors`: a static ARP entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbor {
    /// The neighbor's IPv4 address.
    pub address: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// The port or tunnel it is reached on.
    pub interface: String,
}

impl Validate for Neighbor {
    fn validate(&self) -> Result<(), ApiError> {
        validate_unicast("address", self.address)?;
        if self.mac.is_multicast() || self.mac.is_zero() {
            return Err(ApiError::invalid(
                "mac",
                format!("`{}` is not a unicast MAC address", self.mac),
            ));
        }
        validate_name("interface", &self.interface)
    }
}

/// How a neighbor entry was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NeighborKind {
    /// Added through the API; never expires.
    Static,
    /// Learned from ARP.
    Dynamic,
}

/// One neighbor entry (`GET /v1/neighbors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborInfo {
    /// The neighbor's IPv4 address.
    pub address: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddr,
    /// The port or tunnel it is reached on.
    pub interface: String,
    /// Static or learned.
    pub kind: NeighborKind,
    /// A learned entry: seconds since the neighbor last confirmed it (was learned, or
    /// answered one of our ARP requests). Past `[arp] age-secs` it is probed, and removed if
    /// it does not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_secs: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Tunnels

fn vxlan_port() -> u16 {
    VXLAN_UDP_PORT
}

/// A VXLAN tunnel: an L3 interface point-to-point to one remote VTEP (`POST /v1/tunnels`,
/// `GET /v1/tunnels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// Interface name (unique among ports and tunnels).
    pub name: String,
    /// VXLAN network identifier, 0 to 16777215.
    pub vni: u32,
    /// Our VTEP address (one of our port addresses).
    pub local: Ipv4Addr,
    /// The remote VTEP.
    pub remote: Ipv4Addr,
    /// Outer UDP destination port (default 4789).
    #[serde(default = "vxlan_port")]
    pub udp_port: u16,
    /// The tunnel interface's own address, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Cidr>,
}

impl Validate for Tunnel {
    fn validate(&self) -> Result<(), ApiError> {
        validate_name("name", &self.name)?;
        if self.vni > VNI_MAX {
            return Err(ApiError::invalid(
                "vni",
                format!("{} is out of range 0..={VNI_MAX} (24 bits)", self.vni),
            ));
        }
        validate_unicast("local", self.local)?;
        validate_unicast("remote", self.remote)?;
        if self.local == self.remote {
            return Err(ApiError::invalid(
                "remote",
                format!("`{}` is also the local VTEP address", self.remote),
            ));
        }
        if self.udp_port == 0 {
            return Err(ApiError::invalid("udp_port", "must not be 0"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Trace and capture

/// `POST /v1/trace`: follow the next `count` packets through the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRequest {
    /// How many packets, 1 to 1000.
    pub count: u32,
    /// How long to wait for them, in milliseconds; the answer holds what came by then.
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

fn default_wait_ms() -> u64 {
    1000
}

impl Validate for TraceRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if !(1..=MAX_TRACE_PACKETS).contains(&self.count) {
            return Err(ApiError::invalid(
                "count",
                format!("{} is outside 1..={MAX_TRACE_PACKETS}", self.count),
            ));
        }
        validate_wait(self.wait_ms)
    }
}

fn validate_wait(wait_ms: u64) -> Result<(), ApiError> {
    if wait_ms > MAX_WAIT_MS {
        return Err(ApiError::invalid(
            "wait_ms",
            format!("{wait_ms} is above {MAX_WAIT_MS} (10 minutes)"),
        ));
    }
    Ok(())
}

/// One traced packet: the nodes it went through, in order, and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TracedPacket {
    /// The worker that handled it.
    pub worker: u32,
    /// The port it came in on.
    pub port: String,
    /// Node names, in the order visited (`port-rx`, `ethernet-input`, ..., `port-tx` or `drop`).
    pub nodes: Vec<String>,
    /// A one-line summary (`10.0.1.2 -> 10.0.2.2 ICMP echo, out uplink`).
    pub summary: String,
}

/// The answer to a trace: up to `count` packets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceResult {
    /// The packets seen, oldest first.
    pub packets: Vec<TracedPacket>,
}

/// Which packets a capture takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaptureDirection {
    /// Received on the port.
    Rx,
    /// Sent on the port.
    Tx,
    /// Dropped (with the drop reason in the pcapng comment).
    Drop,
}

/// `POST /v1/capture`: write the next `count` packets of a port to a pcapng file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// The port to capture on.
    pub port: String,
    /// Which packets.
    pub direction: CaptureDirection,
    /// How many packets at most.
    pub count: u32,
    /// How many bytes of file at most (default 64 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// The pcapng file to write, an absolute path on the dataplane's host.
    pub file: PathBuf,
    /// How long to wait for the packets, in milliseconds.
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

fn default_max_bytes() -> u64 {
    64 << 20
}

impl Validate for CaptureRequest {
    fn validate(&self) -> Result<(), ApiError> {
        validate_name("port", &self.port)?;
        if !(1..=1_000_000).contains(&self.count) {
            return Err(ApiError::invalid(
                "count",
                format!("{} is outside 1..=1000000", self.count),
            ));
        }
        if self.max_bytes < 4096 {
            return Err(ApiError::invalid(
                "max_bytes",
                format!("{} is below 4096", self.max_bytes),
            ));
        }
        if !self.file.is_absolute() {
            return Err(ApiError::invalid(
                "file",
                format!("`{}` must be an absolute path", self.file.display()),
            ));
        }
        validate_wait(self.wait_ms)
    }
}

/// What a capture wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureResult {
    /// The file written.
    pub file: PathBuf,
    /// Packets written.
    pub packets: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// `GET /v1/status`: the server answers this itself (liveness, versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The API version (`v1`).
    pub api: String,
    /// The server's crate version.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<(), ApiError>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.status, 400);
        let f = e.field.clone().unwrap();
        assert!(e.message.starts_with(&f), "message names the field: {e}");
        f
    }

    #[test]
    fn names() {
        for ok in ["a", "pod0", "uplink", "vx100", "p.1_x-2", &"x".repeat(32)] {
            validate_name("name", ok).unwrap();
        }
        for bad in ["", "-a", ".a", "a b", "a/b", "ä", "a%2F", &"x".repeat(33)] {
            assert_eq!(field_of(validate_name("name", bad)), "name", "{bad:?}");
        }
    }

    #[test]
    fn socket_paths() {
        validate_socket_path("s", Path::new("/run/pods/p1/memif.sock")).unwrap();
        for bad in [
            "memif.sock",
            "/run/a,b.sock",
            "/run/a=b.sock",
            "/run/pods/",
            &format!("/{}", "x".repeat(107)),
        ] {
            assert_eq!(field_of(validate_socket_path("s", Path::new(bad))), "s");
        }
    }

    fn port(device: DeviceSpec) -> CreatePort {
        CreatePort {
            name: "pod1".into(),
            device,
            address: None,
            mtu: None,
            up: true,
        }
    }

    #[test]
    fn create_port_checks_name_device_and_mtu() {
        let memif = DeviceSpec::Memif {
            socket: "/run/pods/p1/memif.sock".into(),
            role: MemifRole::Server,
            id: 0,
        };
        port(memif.clone()).validate().unwrap();
        let mut p = port(memif);
        p.mtu = Some(67);
        assert_eq!(field_of(p.validate()), "mtu");
        p.mtu = Some(9000);
        p.validate().unwrap();
        p.name = "bad name".into();
        assert_eq!(field_of(p.validate()), "name");
        let p = port(DeviceSpec::VhostUser {
            socket: "rel.sock".into(),
            mode: VhostMode::Client,
        });
        assert_eq!(field_of(p.validate()), "device.socket");
        let p = port(DeviceSpec::Dpdk {
            devargs: " ".into(),
        });
        assert_eq!(field_of(p.validate()), "device.devargs");
        let p = port(DeviceSpec::Dpdk {
            devargs: "net_tap0, iface=x".into(),
        });
        assert_eq!(field_of(p.validate()), "device.devargs");
    }

    #[test]
    fn devargs_for_pod_ports() {
        let memif = DeviceSpec::Memif {
            socket: "/run/pods/p1/memif.sock".into(),
            role: MemifRole::Server,
            id: 3,
        };
        assert_eq!(
            memif.devargs("pod1"),
            "net_memif_pod1,role=server,id=3,socket=/run/pods/p1/memif.sock,socket-abstract=no"
        );
        let vhost = DeviceSpec::VhostUser {
            socket: "/run/pods/p1/vhost.sock".into(),
            mode: VhostMode::Client,
        };
        assert_eq!(
            vhost.devargs("pod1"),
            "net_vhost_pod1,iface=/run/pods/p1/vhost.sock,client=1,queues=1"
        );
        assert_eq!(vhost.kind(), "vhost-user");
        assert_eq!(vhost.socket(), Some(Path::new("/run/pods/p1/vhost.sock")));
    }

    #[test]
    fn device_spec_json_shape() {
        let d: DeviceSpec =
            serde_json::from_str(r#"{"kind":"memif","socket":"/run/m.sock"}"#).unwrap();
        assert_eq!(
            d,
            DeviceSpec::Memif {
                socket: "/run/m.sock".into(),
                role: MemifRole::Server,
                id: 0
            }
        );
        let d: DeviceSpec =
            serde_json::from_str(r#"{"kind":"vhost-user","socket":"/run/v.sock","mode":"client"}"#)
                .unwrap();
        assert!(matches!(
            d,
            DeviceSpec::VhostUser {
                mode: VhostMode::Client,
                ..
            }
        ));
        assert!(
            serde_json::from_str::<DeviceSpec>(r#"{"kind":"memif","sock":"/run/m.sock"}"#).is_err()
        );
        assert!(serde_json::from_str::<DeviceSpec>(r#"{"kind":"floppy"}"#).is_err());
    }

    fn hop(via: Option<&str>, dev: Option<&str>) -> NextHop {
        NextHop {
            via: via.map(|v| v.parse().unwrap()),
            interface: dev.map(str::to_string),
        }
    }

    #[test]
    fn routes() {
        let mut r = Route {
            prefix: "10.0.2.0/24".parse().unwrap(),
            next_hops: vec![hop(Some("172.16.0.2"), None), hop(None, Some("uplink"))],
        };
        r.validate().unwrap();
        r.next_hops.push(hop(Some("172.16.0.2"), None));
        assert_eq!(field_of(r.validate()), "next_hops[2]");
        r.next_hops = vec![];
        assert_eq!(field_of(r.validate()), "next_hops");
        r.next_hops = vec![hop(None, None)];
        assert_eq!(field_of(r.validate()), "next_hops[0]");
        r.next_hops = vec![hop(Some("224.0.0.5"), None)];
        assert_eq!(field_of(r.validate()), "next_hops[0].via");
        r.next_hops = vec![hop(Some("10.0.0.1"), Some("no such"))];
        assert_eq!(field_of(r.validate()), "next_hops[0].interface");
        r.next_hops = (1..=17)
            .map(|i| hop(Some(&format!("10.0.0.{i}")), None))
            .collect();
        assert_eq!(field_of(r.validate()), "next_hops");
        // Unknown fields are refused, so a typo never passes silently.
        assert!(
            serde_json::from_str::<Route>(
                r#"{"prefix":"10.0.0.0/8","next_hops":[{"via":"1.1.1.1","gw":"x"}]}"#
            )
            .is_err()
        );
    }

    #[test]
    fn neighbors() {
        let mut n = Neighbor {
            address: "10.0.1.2".parse().unwrap(),
            mac: "02:00:00:00:00:02".parse().unwrap(),
            interface: "pod0".into(),
        };
        n.validate().unwrap();
        n.mac = "01:00:5e:00:00:01".parse().unwrap();
        assert_eq!(field_of(n.validate()), "mac");
        n.mac = "00:00:00:00:00:00".parse().unwrap();
        assert_eq!(field_of(n.validate()), "mac");
        n.mac = "02:00:00:00:00:02".parse().unwrap();
        n.address = "255.255.255.255".parse().unwrap();
        assert_eq!(field_of(n.validate()), "address");
    }

    #[test]
    fn tunnels() {
        let t: Tunnel = serde_json::from_str(
            r#"{"name":"vx100","vni":100,"local":"192.168.50.1","remote":"192.168.50.2","address":"172.16.0.1/24"}"#,
        )
        .unwrap();
        assert_eq!(t.udp_port, 4789, "the IANA port is the default");
        t.validate().unwrap();
        let mut bad = t.clone();
        bad.vni = VNI_MAX + 1;
        assert_eq!(field_of(bad.validate()), "vni");
        bad.vni = VNI_MAX;
        bad.validate().unwrap();
        bad.remote = bad.local;
        assert_eq!(field_of(bad.validate()), "remote");
        let mut bad = t.clone();
        bad.local = "0.0.0.0".parse().unwrap();
        assert_eq!(field_of(bad.validate()), "local");
        let mut bad = t;
        bad.udp_port = 0;
        assert_eq!(field_of(bad.validate()), "udp_port");
    }

    #[test]
    fn trace_and_capture_bounds() {
        TraceRequest {
            count: 10,
            wait_ms: 100,
        }
        .validate()
        .unwrap();
        let t = TraceRequest {
            count: 0,
            wait_ms: 100,
        };
        assert_eq!(field_of(t.validate()), "count");
        let t = TraceRequest {
            count: 5,
            wait_ms: MAX_WAIT_MS + 1,
        };
        assert_eq!(field_of(t.validate()), "wait_ms");
        let mut c = CaptureRequest {
            port: "pod0".into(),
            direction: CaptureDirection::Rx,
            count: 10,
            max_bytes: default_max_bytes(),
            file: "/tmp/x.pcapng".into(),
            wait_ms: 10,
        };
        c.validate().unwrap();
        c.file = "x.pcapng".into();
        assert_eq!(field_of(c.validate()), "file");
    }
}
