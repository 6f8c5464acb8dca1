//! memif and vhost-user attachments: ports of the running dataplane, created through its API.
//!
//! ADD records the attachment, runs IPAM, asks the dataplane for a port whose socket lives in a
//! per-pod directory (`<socketDir>/<containerID>/<ifname>.sock`), gives the port the pod's
//! gateway as an unnumbered `/32`, and routes each of the pod's IPv4 addresses (`/32`) to the
//! port. The pod's own DPDK stack takes its address from the result; the dataplane only routes.
//!
//! Teardown (DEL, GC, a failed ADD) deletes the routes through the port, the port, releases
//! IPAM and removes the record. When the dataplane cannot be reached, the pod is going away
//! anyway: IPAM is released, the record stays marked `cleanup_pending`, and the command
//! succeeds (a failing DEL would only make the kubelet retry forever); the next DEL or GC of
//! that attachment deletes the port. The dataplane keeps API-created ports across its own
//! restarts, so a port left behind never disappears on its own.

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dp_api::client::block_on;
use dp_api::model::{MAX_NAME_LEN, RouteSource, validate_socket_path};
use dp_api::{
    Client, ClientError, CreatePort, DeviceSpec, Ipv4Cidr, Ipv4Prefix, MemifRole, NextHop, Route,
    VhostMode,
};
use serde_json::{Value, json};

use crate::config::{Userspace, UserspaceKind};
use crate::error::{Error, Result};
use crate::hooks::fail_point;
use crate::ipam::Ipam;
use crate::log;
use crate::plugin::{Ctx, Progress};
use crate::state::{Attachment, Mode, Store, UserspacePort, VfLock};
use crate::types::{CniResult, Interface, IpConfig, IpNet};

/// How long one API call may take. Well under a runtime's CNI timeout, so a hung dataplane
/// gives a clear error rather than a killed plugin.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// Lock buckets: attachments hash into a fixed set of lock files, so the lock directory does
/// not grow with every pod ever attached.
const LOCK_BUCKETS: u64 = 64;

fn client(socket: &Path) -> Client {
    Client::new(socket).with_timeout(API_TIMEOUT)
}

fn is_status(e: &Error, status: u16) -> bool {
    matches!(e, Error::Dataplane { source, .. } if source.status() == Some(status))
}

/// True when `e` says the dataplane could not be reached at all.
pub fn is_unreachable(e: &Error) -> bool {
    matches!(e, Error::Dataplane { source, .. } if source.is_unreachable())
}

fn call<T>(
    op: impl Into<String>,
    fut: impl Future<Output = std::result::Result<T, ClientError>>,
) -> Result<T> {
    block_on(fut).map_err(|e| Error::dataplane(op, e))
}

/// The dataplane port name of attachment (`cid`, `ifname`): `p` + the container ID's first 11
/// characters + `-` + the interface name, limited to the characters and length the API takes.
pub fn port_name(cid: &str, ifname: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let head: String = clean(cid).chars().take(11).collect();
    let mut n = format!("p{head}-{}", clean(ifname));
    // ASCII only after `clean`, so truncating at a byte count is safe.
    n.truncate(MAX_NAME_LEN);
    n
}

/// `<socketDir>/<containerID>/<ifname>.sock`, checked as the dataplane will check it.
pub fn socket_path(socket_dir: &Path, cid: &str, ifname: &str) -> Result<PathBuf> {
    let p = socket_dir.join(cid).join(format!("{ifname}.sock"));
    validate_socket_path("socketDir", &p).map_err(|e| Error::config("socketDir", e.message))?;
    Ok(p)
}

fn lock(store: &Store, cid: &str, ifname: &str) -> Result<VfLock> {
    // FNV-1a: stable across builds (std's hasher is not), so two plugin versions agree.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in cid.bytes().chain([0]).chain(ifname.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    store.lock_vf(&format!("userspace-{:02}", h % LOCK_BUCKETS))
}

/// What the dataplane needs from an IPAM result: the pod's IPv4 addresses and the gateway
/// the port takes as its own (unnumbered) address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The pod's IPv4 addresses (each routed as a `/32` to the port).
    pub pod: Vec<Ipv4Addr>,
    /// The gateway: IPAM's, or the subnet's first host address.
    pub gateway: Ipv4Addr,
}

/// Work out [`Plan`] from the IPAM addresses. IPv6 addresses stay in the result for the pod
/// but get no route (the dataplane routes IPv4 only).
pub fn plan(ips: &[IpConfig]) -> Result<Plan> {
    let mut pod = Vec::new();
    let mut gateway = None;
    let mut first_net = None;
    for c in ips {
        let n = IpNet::parse(&c.address, "ipam result ips.address")?;
        let IpAddr::V4(a) = n.addr else {
            log::warn(&format!(
                "IPAM gave IPv6 address {}; the dataplane routes IPv4 only, so it gets no route",
                c.address
            ));
            continue;
        };
        pod.push(a);
        first_net.get_or_insert((a, n.prefix));
        if let Some(IpAddr::V4(g)) = c.gateway {
            gateway.get_or_insert(g);
        }
    }
    let Some((addr, len)) = first_net else {
        return Err(Error::config(
            "ipam",
            "returned no IPv4 address; the dataplane routes pods by IPv4 address",
        ));
    };
    let gateway = match gateway {
        Some(g) => g,
        None if len <= 30 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            Ipv4Addr::from((u32::from(addr) & mask) + 1)
        }
        None => {
            return Err(Error::config(
                "ipam",
                format!("gives {addr}/{len} without a gateway; set one for /31 and /32 subnets"),
            ));
        }
    };
    if pod.contains(&gateway) {
        return Err(Error::config(
            "ipam",
            format!("gateway {gateway} is also the pod's address"),
        ));
    }
    Ok(Plan { pod, gateway })
}

/// ADD in a userspace mode.
pub fn add(ctx: &Ctx, us: Userspace) -> Result<Value> {
    let conf = ctx.conf;
    let env = ctx.env;
    let socket = socket_path(&conf.socket_dir, &env.container_id, &env.ifname)?;
    let store = ctx.store();
    let _lock = lock(&store, &env.container_id, &env.ifname)?;
    fail_point("lock")?;
    if store.attachment(&env.container_id, &env.ifname)?.is_some() {
        return Err(Error::config(
            "CNI_IFNAME",
            format!(
                "container {} already has an attachment {}; DEL it first",
                env.container_id, env.ifname
            ),
        ));
    }
    let mut att = Attachment {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: env.netns.clone(),
        network: conf.name.clone(),
        mode: match us.kind {
            UserspaceKind::Memif => Mode::Memif,
            UserspaceKind::VhostUser => Mode::VhostUser,
        },
        pci: String::new(),
        pf: String::new(),
        vf_index: 0,
        orig_pf: Default::default(),
        applied_pf: Default::default(),
        orig_netdev: None,
        temp_name: String::new(),
        ipam: ctx.ipam_type(),
        device_info_file: conf.device_info_file.clone(),
        result: None,
        userspace: Some(UserspacePort {
            dataplane_socket: conf.dataplane_socket.clone(),
            port: port_name(&env.container_id, &env.ifname),
            socket,
            port_requested: false,
            ipam_released: false,
            cleanup_pending: false,
        }),
    };
    log::info(&format!(
        "ADD {} port {:?} via {}",
        us.kind.as_str(),
        att.userspace.as_ref().map(|u| &u.port),
        conf.dataplane_socket.display()
    ));
    let mut progress = Progress::default();
    match add_steps(ctx, &mut att, &mut progress) {
        Ok(v) => Ok(v),
        Err(e) => {
            log::error(&format!("ADD failed: {e}; rolling back {progress:?}"));
            Err(e.rolled_back(teardown(ctx, &mut att, progress)))
        }
    }
}

fn add_steps(ctx: &Ctx, att: &mut Attachment, progress: &mut Progress) -> Result<Value> {
    let conf = ctx.conf;
    let store = ctx.store();
    progress.state = true;
    store.save_attachment(att)?;
    fail_point("save-state")?;

    let t = att
        .ipam
        .clone()
        .ok_or_else(|| Error::config("ipam", "is required with `userspace`"))?;
    progress.ipam = true;
    let ip = Ipam::new(&t, &conf.raw, &ctx.env.path).add()?;
    fail_point("ipam")?;
    let plan = plan(&ip.ips)?;

    let us = att
        .userspace
        .clone()
        .ok_or_else(|| Error::Internal("userspace attachment without its port record".into()))?;
    // Recorded before the request: a timed-out create may still have happened.
    set_port_requested(att, true);
    store.save_attachment(att)?;
    let c = client(&us.dataplane_socket);
    let gw = Ipv4Cidr::new(plan.gateway, 32)
        .map_err(|e| Error::config("ipam", format!("gateway: {e}")))?;
    let req = CreatePort {
        name: us.port.clone(),
        device: match att.mode {
            Mode::Memif => DeviceSpec::Memif {
                socket: us.socket.clone(),
                role: MemifRole::Server,
                id: 0,
            },
            _ => DeviceSpec::VhostUser {
                socket: us.socket.clone(),
                mode: VhostMode::Server,
            },
        },
        address: Some(gw),
        // The config check keeps it within the dataplane's range.
        mtu: conf.mtu.and_then(|m| u16::try_from(m).ok()),
        up: true,
    };
    let info = match call(format!("create port {}", us.port), c.create_port(&req)) {
        Ok(i) => i,
        Err(e) => {
            // Not connected at all (the request never left), or refused (the dataplane changes
            // nothing it refuses): there is no port of ours to delete. A clash (409) means
            // the name or socket belongs to someone else, whose port, routes and socket the
            // rollback must not touch. A timeout or a 5xx leaves it unknown: clean up.
            if matches!(
                &e,
                Error::Dataplane {
                    source: ClientError::Unreachable { .. }
                        | ClientError::Refused { .. }
                        | ClientError::Invalid(_),
                    ..
                }
            ) {
                set_port_requested(att, false);
            }
            return Err(e);
        }
    };
    fail_point("create-port")?;
    for a in &plan.pod {
        let prefix = Ipv4Prefix::new(*a, 32).map_err(|e| Error::Internal(e.to_string()))?;
        call(
            format!("add route {prefix} via port {}", us.port),
            c.add_route(&Route {
                prefix,
                next_hops: vec![NextHop {
                    via: None,
                    interface: Some(us.port.clone()),
                }],
            }),
        )?;
    }
    fail_point("add-route")?;

    let mut result = match &conf.prev_result {
        Some(v) => CniResult::parse(v, "prevResult")?,
        None => CniResult::default(),
    };
    result.cni_version = conf.cni_version.clone();
    let my_index = result.interfaces.len();
    result.interfaces.push(Interface {
        name: att.ifname.clone(),
        sandbox: att.netns.clone(),
        socket_path: us.socket.display().to_string(),
        mtu: info.mtu.map(u32::from),
        ..Default::default()
    });
    for mut c in ip.ips {
        c.interface = Some(my_index);
        result.ips.push(c);
    }
    result.routes.extend(ip.routes);
    if !CniResult::default().dns.eq(&ip.dns) {
        result.dns = ip.dns;
    }

    if let Some(path) = &att.device_info_file {
        progress.device_info = true;
        write_device_info(path, att.mode, &us.socket)?;
        fail_point("device-info")?;
    }
    att.result = Some(serde_json::to_value(&result).map_err(|e| Error::Internal(e.to_string()))?);
    store.save_attachment(att)?;
    fail_point("result")?;
    Ok(result.to_version(&conf.cni_version))
}

fn set_port_requested(att: &mut Attachment, v: bool) {
    if let Some(u) = att.userspace.as_mut() {
        u.port_requested = v;
    }
}

/// The device-info file, from the container's point of view (spec 1.1.0): the dataplane
/// serves, so the container is memif `slave` (the spec's word for client) / vhost-user
/// `client`.
fn write_device_info(path: &Path, mode: Mode, socket: &Path) -> Result<()> {
    let path_s = socket.display().to_string();
    let v = match mode {
        Mode::Memif => json!({
            "type": "memif",
            "version": "1.1.0",
            "memif": {"role": "slave", "mode": "ethernet", "path": path_s},
        }),
        _ => json!({
            "type": "vhost-user",
            "version": "1.1.0",
            "vhost-user": {"mode": "client", "path": path_s},
        }),
    };
    let body = serde_json::to_vec_pretty(&v).map_err(|e| Error::Internal(e.to_string()))?;
    crate::state::write_atomic(path, &body)
}

/// Delete every static route through the port, then the port; "already gone" (404) is fine.
/// Routes are found by their next hop rather than recomputed, so a route whose add timed out
/// is found too, and another attachment's route for the same prefix is never touched.
fn dataplane_cleanup(us: &UserspacePort) -> Result<()> {
    let c = client(&us.dataplane_socket);
    let routes = call("list routes", c.list_routes())?;
    for r in routes.iter().filter(|r| {
        r.source == RouteSource::Static
            && r.next_hops
                .iter()
                .any(|h| h.interface.as_deref() == Some(us.port.as_str()))
    }) {
        match call(
            format!("delete route {}", r.prefix),
            c.delete_route(r.prefix),
        ) {
            Err(e) if !is_status(&e, 404) => return Err(e),
            _ => {}
        }
    }
    match call(format!("delete port {}", us.port), c.delete_port(&us.port)) {
        Err(e) if !is_status(&e, 404) => return Err(e),
        _ => {}
    }
    remove_leftovers(&us.socket);
    Ok(())
}

/// The dataplane removes the socket with the port; a socket file left behind (a crashed
/// dataplane) and the per-pod directory, once empty, go too. Best effort: logged only.
fn remove_leftovers(socket: &Path) {
    if let Ok(m) = std::fs::symlink_metadata(socket)
        && m.file_type().is_socket()
        && let Err(e) = std::fs::remove_file(socket)
    {
        log::warn(&format!("cannot remove socket {}: {e}", socket.display()));
    }
    if let Some(dir) = socket.parent() {
        match std::fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::DirectoryNotEmpty
                ) => {}
            Err(e) => log::warn(&format!("cannot remove {}: {e}", dir.display())),
        }
    }
}

/// Undo `progress` for a userspace attachment. Dataplane unreachable: IPAM is still released,
/// the record is kept with `cleanup_pending` and this returns `Ok` (see the module doc).
pub fn teardown(ctx: &Ctx, att: &mut Attachment, progress: Progress) -> Result<()> {
    let store = ctx.store();
    let mut us = att
        .userspace
        .clone()
        .ok_or_else(|| Error::Internal("userspace attachment without its port record".into()))?;
    let mut first_err: Option<Error> = None;
    let mut note = |r: Result<()>, what: &str| {
        if let Err(e) = r {
            log::error(&format!("teardown {what}: {e}"));
            first_err.get_or_insert(e);
        }
    };
    if progress.device_info
        && let Some(p) = &att.device_info_file
    {
        note(crate::state::remove(p), "device-info");
    }
    let mut pending = false;
    if us.port_requested {
        match dataplane_cleanup(&us) {
            Ok(()) => us.port_requested = false,
            Err(e) if is_unreachable(&e) => {
                log::warn(&format!(
                    "dataplane cleanup of port {} deferred: {e}",
                    us.port
                ));
                pending = true;
            }
            Err(e) => note(Err(e), "dataplane"),
        }
    }
    if progress.ipam
        && !us.ipam_released
        && let Some(t) = &att.ipam
    {
        let mut c = ctx.conf.raw.clone();
        if let Some(r) = &att.result {
            c.insert("prevResult".into(), r.clone());
        }
        let r = Ipam::new(t, &c, &ctx.env.path)
            .for_attachment(&att.container_id, &att.ifname, &att.netns)
            .del();
        if r.is_ok() {
            us.ipam_released = true;
        }
        note(r, "IPAM DEL");
    }
    us.cleanup_pending = pending;
    att.userspace = Some(us);
    if first_err.is_some() || pending {
        if progress.state {
            store.save_attachment(att)?;
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        log::warn(&format!(
            "dataplane unreachable: attachment {} {} released its addresses and is gone for \
             the runtime; its port and routes stay recorded (cleanup pending) until a later \
             DEL or GC reaches the dataplane",
            att.container_id, att.ifname
        ));
        return Ok(());
    }
    if progress.state {
        store.remove_attachment(&att.container_id, &att.ifname)?;
    }
    Ok(())
}

/// DEL of a userspace attachment (the record exists).
pub fn del(ctx: &Ctx, att: &Attachment) -> Result<()> {
    let store = ctx.store();
    let _lock = lock(&store, &att.container_id, &att.ifname)?;
    // Re-read under the lock: a concurrent DEL may have finished or changed it.
    let Some(mut att) = store.attachment(&att.container_id, &att.ifname)? else {
        return Ok(());
    };
    teardown(ctx, &mut att, Progress::all())
}

/// CHECK: the port exists, is up, is the device ADD asked for with the gateway address, and
/// every pod address is routed to it.
pub fn check(ctx: &Ctx, att: &Attachment) -> Result<()> {
    let env = ctx.env;
    let us = att
        .userspace
        .as_ref()
        .ok_or_else(|| Error::Internal("userspace attachment without its port record".into()))?;
    if us.cleanup_pending {
        return Err(Error::Check(format!(
            "attachment {} {} was deleted (dataplane cleanup pending)",
            att.container_id, att.ifname
        )));
    }
    let cached = att
        .result
        .as_ref()
        .ok_or_else(|| Error::Check("ADD did not complete".into()))?;
    let res = CniResult::parse(cached, "cached result")?;
    let Some(idx) = res
        .interfaces
        .iter()
        .position(|i| i.name == env.ifname && Path::new(&i.socket_path) == us.socket.as_path())
    else {
        return Err(Error::Check("cached result lacks our interface".into()));
    };
    let ips: Vec<IpConfig> = res
        .ips
        .iter()
        .filter(|c| c.interface == Some(idx))
        .cloned()
        .collect();
    let plan = plan(&ips)?;
    let c = client(&us.dataplane_socket);
    let port = match call(format!("get port {}", us.port), c.get_port(&us.port)) {
        Ok(p) => p,
        Err(e) if is_status(&e, 404) => {
            return Err(Error::Check(format!(
                "port {} is missing from the dataplane",
                us.port
            )));
        }
        Err(e) => return Err(e),
    };
    let want_kind = if att.mode == Mode::Memif {
        "memif"
    } else {
        "vhost-user"
    };
    if port.device.kind() != want_kind || port.device.socket() != Some(us.socket.as_path()) {
        return Err(Error::Check(format!(
            "port {} is a {} on {:?}, expected a {want_kind} on {}",
            us.port,
            port.device.kind(),
            port.device.socket(),
            us.socket.display()
        )));
    }
    if !port.admin_up {
        return Err(Error::Check(format!(
            "port {} is administratively down",
            us.port
        )));
    }
    let want_gw = Ipv4Cidr::new(plan.gateway, 32).ok();
    if port.address != want_gw {
        return Err(Error::Check(format!(
            "port {} has address {:?}, expected {}/32",
            us.port,
            port.address.map(|a| a.to_string()),
            plan.gateway
        )));
    }
    let routes = call("list routes", c.list_routes())?;
    for a in &plan.pod {
        let found = routes.iter().any(|r| {
            r.source == RouteSource::Static
                && r.prefix.addr() == *a
                && r.prefix.prefix_len() == 32
                && r.next_hops
                    .iter()
                    .any(|h| h.interface.as_deref() == Some(us.port.as_str()))
        });
        if !found {
            return Err(Error::Check(format!(
                "route {a}/32 via port {} is missing from the dataplane",
                us.port
            )));
        }
    }
    if let Some(t) = ctx.ipam_type() {
        Ipam::new(&t, &ctx.conf.raw, &env.path).check()?;
    }
    Ok(())
}

/// STATUS, userspace part: the dataplane must answer on its API socket (code 50 otherwise).
pub fn status(ctx: &Ctx) -> Result<()> {
    let sock = &ctx.conf.dataplane_socket;
    call("status", client(sock).status())
        .map(|_| ())
        .map_err(|e| Error::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipc(a: &str, gw: Option<&str>) -> IpConfig {
        IpConfig {
            address: a.into(),
            gateway: gw.map(|g| g.parse().unwrap()),
            interface: None,
        }
    }

    #[test]
    fn port_names_are_valid_unique_per_attachment_and_bounded() {
        let cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(port_name(cid, "net1"), "p0123456789a-net1");
        assert_ne!(port_name(cid, "net1"), port_name(cid, "net2"));
        let n = port_name("x@y", "a:b/c.d-e_fffffffffffffff");
        assert!(n.len() <= MAX_NAME_LEN, "{n}");
        dp_api::model::validate_name("name", &n).unwrap();
        assert_eq!(&n[..5], "px_y-");
    }

    #[test]
    fn plan_takes_ipam_gateway_or_first_host_and_skips_ipv6() {
        let p = plan(&[ipc("10.1.2.5/24", Some("10.1.2.254"))]).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 2, 254));
        assert_eq!(p.pod, vec![Ipv4Addr::new(10, 1, 2, 5)]);
        let p = plan(&[ipc("fd00::5/64", None), ipc("10.1.2.5/24", None)]).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(p.pod.len(), 1);
        assert_eq!(plan(&[ipc("fd00::5/64", None)]).unwrap_err().code(), 7);
        assert_eq!(plan(&[ipc("10.1.2.5/32", None)]).unwrap_err().code(), 7);
        assert_eq!(plan(&[ipc("10.1.2.1/24", None)]).unwrap_err().code(), 7);
    }

    #[test]
    fn socket_path_too_long_names_socket_dir() {
        let long = PathBuf::from(format!("/{}", "d".repeat(100)));
        match socket_path(&long, "cid", "net1") {
            Err(Error::Config { field, .. }) => assert_eq!(field, "socketDir"),
            other => panic!("expected a socketDir error, got {other:?}"),
        }
        assert_eq!(
            socket_path(Path::new("/run/dataplane/pods"), "c1", "net1").unwrap(),
            PathBuf::from("/run/dataplane/pods/c1/net1.sock")
        );
    }
}
