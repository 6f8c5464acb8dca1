//! The URL paths of the API, shared by the client and the server so the two cannot drift.
//!
//! Names in paths are validated first ([`crate::model::validate_name`]), so they never need
//! percent-encoding. A route's prefix is two segments (`/v1/routes/10.0.2.0/24`), which reads
//! as the prefix itself.

use std::net::Ipv4Addr;

use crate::addr::Ipv4Prefix;

/// `GET`: liveness and versions.
pub const STATUS: &str = "/v1/status";
/// `GET` list, `POST` create.
pub const PORTS: &str = "/v1/ports";
/// `GET` the FIB, `POST` add a route.
pub const ROUTES: &str = "/v1/routes";
/// `GET` list, `POST` add a static entry.
pub const NEIGHBORS: &str = "/v1/neighbors";
/// `GET` list, `POST` add.
pub const TUNNELS: &str = "/v1/tunnels";
/// `GET` port counters.
pub const STATS_PORTS: &str = "/v1/stats/ports";
/// `GET` per-node counters.
pub const STATS_RUNTIME: &str = "/v1/stats/runtime";
/// `GET` drops by reason.
pub const STATS_ERRORS: &str = "/v1/stats/errors";
/// `POST` trace the next N packets.
pub const TRACE: &str = "/v1/trace";
/// `POST` capture packets to a pcapng file.
pub const CAPTURE: &str = "/v1/capture";

/// `GET` show, `DELETE` remove one port.
pub fn port(name: &str) -> String {
    format!("{PORTS}/{name}")
}

/// `PUT` a port's address.
pub fn port_address(name: &str) -> String {
    format!("{PORTS}/{name}/address")
}

/// `PUT` a port's admin state.
pub fn port_admin_state(name: &str) -> String {
    format!("{PORTS}/{name}/admin-state")
}

/// `DELETE` one route.
pub fn route(prefix: Ipv4Prefix) -> String {
    format!("{ROUTES}/{}/{}", prefix.addr(), prefix.prefix_len())
}

/// `DELETE` one static neighbor.
pub fn neighbor(interface: &str, address: Ipv4Addr) -> String {
    format!("{NEIGHBORS}/{interface}/{address}")
}

/// `GET` show, `DELETE` remove one tunnel.
pub fn tunnel(name: &str) -> String {
    format!("{TUNNELS}/{name}")
}
