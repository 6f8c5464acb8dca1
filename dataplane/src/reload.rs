//! Config reload on SIGHUP: the file is read and validated as a whole (as at startup); if it
//! passes, the difference to the running config is applied through the same control-plane
//! calls the API uses. A file that fails validation, or that changes something only a restart
//! can (EAL, mempool, FIB sizing, ports' devices, cross-connects, existing tunnels), changes
//! nothing and says why.

use dp_net::wire::VXLAN_DEFAULT_TUNNEL_MTU;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dp_net::fwd::Control;

use crate::config::{Config, NextHops, parse_cidr, parse_ip, parse_mac, tunnel_mac};

/// What a reload did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReloadSummary {
    pub routes_added: usize,
    pub routes_deleted: usize,
    pub neighbors_added: usize,
    pub neighbors_deleted: usize,
    pub addresses_changed: usize,
    pub tunnels_added: usize,
    /// `[arp]` changed (applied at once).
    pub arp_changed: bool,
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "routes +{} -{}, neighbors +{} -{}, addresses changed {}, tunnels +{}",
            self.routes_added,
            self.routes_deleted,
            self.neighbors_added,
            self.neighbors_deleted,
            self.addresses_changed,
            self.tunnels_added
        )?;
        if self.arp_changed {
            write!(f, ", [arp] applied")?;
        }
        Ok(())
    }
}

type Routes = BTreeMap<(Ipv4Addr, u8), NextHops>;
type Neighbors = BTreeMap<(String, Ipv4Addr), [u8; 6]>;

fn routes(c: &Config) -> Result<Routes, String> {
    c.routes
        .iter()
        .map(|r| Ok((parse_cidr(&r.prefix)?, r.hops().map_err(|(_, m)| m)?)))
        .chain(
            c.file_routes
                .iter()
                .map(|r| Ok(((r.prefix, r.len), r.hops.clone()))),
        )
        .collect()
}

fn neighbors(c: &Config) -> Result<Neighbors, String> {
    c.neighbors
        .iter()
        .map(|n| Ok(((n.interface.clone(), parse_ip(&n.ip)?), parse_mac(&n.mac)?)))
        .collect()
}

/// Refuses changes that need a restart.
fn restart_needed(old: &Config, new: &Config) -> Option<String> {
    if old.eal != new.eal {
        return Some("[eal] changed: restart the dataplane to apply it".into());
    }
    if old.mempool != new.mempool || old.fib != new.fib || old.worker != new.worker {
        return Some(
            "[mempool], [fib] or [worker] changed: restart the dataplane to apply it".into(),
        );
    }
    if old.control != new.control {
        return Some("[control] changed: restart the dataplane to apply it".into());
    }
    if old.xconnects != new.xconnects {
        return Some("[[xconnect]] changed: restart the dataplane to apply it".into());
    }
    let key = |c: &Config| {
        c.ports
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.device.clone(),
                    p.mtu,
                    p.rx_desc,
                    p.tx_desc,
                    p.rx_queues,
                )
            })
            .collect::<Vec<_>>()
    };
    if key(old) != key(new) {
        return Some("ports added, removed or with another device/mtu/descriptors/rx-queues: restart the dataplane (or use dpctl port add/del)".into());
    }
    for t in &old.tunnels {
        match new.tunnels.iter().find(|n| n.name == t.name) {
            Some(n) if n == t => {}
            Some(_) => {
                return Some(format!(
                    "tunnel `{}` changed: restart the dataplane to apply it",
                    t.name
                ));
            }
            None => {
                return Some(format!(
                    "tunnel `{}` removed: restart the dataplane to apply it",
                    t.name
                ));
            }
        }
    }
    None
}

/// Why a reload stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ReloadError {
    /// Nothing was changed.
    Refused(String),
    /// A step failed after the listed ones were applied (the API may have changed the live
    /// state in a way the file does not know).
    Partial(ReloadSummary, String),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReloadError::Refused(why) => write!(f, "reload refused, nothing changed: {why}"),
            ReloadError::Partial(done, why) => {
                write!(f, "reload stopped part-way ({done} applied): {why}")
            }
        }
    }
}

/// Applies `new` over `old` on `control`. `new` must already have passed `Config::parse`.
pub fn apply_diff(
    old: &Config,
    new: &Config,
    control: &mut Control,
) -> Result<ReloadSummary, ReloadError> {
    if let Some(why) = restart_needed(old, new) {
        return Err(ReloadError::Refused(why));
    }
    let parsed =
        (|| Ok::<_, String>((routes(old)?, routes(new)?, neighbors(old)?, neighbors(new)?)))();
    let (or, nr, on, nn) = parsed.map_err(ReloadError::Refused)?;
    let mut sum = ReloadSummary::default();
    apply_steps(old, new, control, (&or, &nr, &on, &nn), &mut sum)
        .map_err(|why| ReloadError::Partial(sum, why))?;
    Ok(sum)
}

fn apply_steps(
    old: &Config,
    new: &Config,
    control: &mut Control,
    (or, nr, on, nn): (&Routes, &Routes, &Neighbors, &Neighbors),
    sum: &mut ReloadSummary,
) -> Result<(), String> {
    let e = |what: String| move |err: dp_net::fwd::FwdError| format!("{what}: {err}");

    for ((p, l), hops) in or {
        if nr.get(&(*p, *l)) != Some(hops) {
            control
                .del_route(*p, *l)
                .map_err(e(format!("route {p}/{l}")))?;
            sum.routes_deleted += 1;
        }
    }
    for ((iface, ip), mac) in on {
        if nn.get(&(iface.clone(), *ip)) != Some(mac) {
            let i = control.iface(iface).map_err(e(format!("neighbor {ip}")))?;
            control
                .del_neighbor(i.index, *ip)
                .map_err(e(format!("neighbor {ip}")))?;
            sum.neighbors_deleted += 1;
        }
    }
    for (po, pn) in old.ports.iter().zip(&new.ports) {
        if po.address != pn.address {
            if let Some(a) = &po.address {
                let (addr, len) = parse_cidr(a)?;
                control
                    .del_address(&po.name, addr, len)
                    .map_err(e(format!("port `{}` address", po.name)))?;
            }
            if let Some(a) = &pn.address {
                let (addr, len) = parse_cidr(a)?;
                control
                    .add_address(&pn.name, addr, len)
                    .map_err(e(format!("port `{}` address", pn.name)))?;
            }
            sum.addresses_changed += 1;
        }
    }
    for (i, t) in new.tunnels.iter().enumerate() {
        if old.tunnels.iter().any(|o| o.name == t.name) {
            continue;
        }
        let tunnel = dp_net::fwd::VxlanTunnel {
            vni: t.vni,
            local: parse_ip(&t.local)?,
            remote: parse_ip(&t.remote)?,
            udp_port: t.port,
        };
        control
            .add_vxlan(
                &t.name,
                tunnel,
                tunnel_mac(t.vni, i),
                t.mtu.unwrap_or(VXLAN_DEFAULT_TUNNEL_MTU),
            )
            .map_err(e(format!("tunnel `{}`", t.name)))?;
        if let Some(a) = &t.address {
            let (addr, len) = parse_cidr(a)?;
            control
                .add_address(&t.name, addr, len)
                .map_err(e(format!("tunnel `{}` address", t.name)))?;
        }
        sum.tunnels_added += 1;
    }
    for ((p, l), hops) in nr {
        if or.get(&(*p, *l)) != Some(hops) {
            hops.add_route(control, *p, *l)
                .map_err(|(_, m)| format!("route {p}/{l}: {m}"))?;
            sum.routes_added += 1;
        }
    }
    for ((iface, ip), mac) in nn {
        if on.get(&(iface.clone(), *ip)) != Some(mac) {
            let i = control.iface(iface).map_err(e(format!("neighbor {ip}")))?;
            control
                .set_neighbor(i.index, *ip, *mac, true)
                .map_err(e(format!("neighbor {ip}")))?;
            sum.neighbors_added += 1;
        }
    }
    if old.arp != new.arp {
        control.set_neighbor_policy(new.arp.policy());
        sum.arp_changed = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_with_other_rx_queues_needs_a_restart() {
        let text = "[eal]\ncores = \"0-1\"\n[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n";
        let old = Config::parse(text, "t.toml").unwrap();
        assert_eq!(restart_needed(&old, &old), None);
        let new = Config::parse(&format!("{text}rx-queues = 2\n"), "t.toml").unwrap();
        let why = restart_needed(&old, &new).expect("a restart is needed");
        assert!(why.contains("rx-queues"), "{why}");
    }

    /// A route file edited between two loads: the reload adds and deletes the difference.
    #[test]
    fn a_changed_route_file_is_applied_as_a_difference() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("node.toml");
        let routes = dir.path().join("r.txt");
        std::fs::write(
            &cfg,
            "route-files = [\"r.txt\"]\n[eal]\ncores = \"0-1\"\n[[port]]\nname = \"up\"\n\
             device = \"net_null0\"\naddress = \"10.0.2.1/24\"\n",
        )
        .unwrap();
        std::fs::write(
            &routes,
            "10.8.0.0/16 via 10.0.2.2\n10.9.0.0/16 via 10.0.2.2\n",
        )
        .unwrap();
        let old = Config::load(&cfg).unwrap();
        std::fs::write(
            &routes,
            "10.9.0.0/16 via 10.0.2.2\n10.7.0.0/16 via 10.0.2.3\n",
        )
        .unwrap();
        let new = Config::load(&cfg).unwrap();

        let mut control = old.scratch_control().unwrap();
        let sum = apply_diff(&old, &new, &mut control).unwrap();
        assert_eq!((sum.routes_added, sum.routes_deleted), (1, 1));
        let mut have: Vec<String> = control
            .routes()
            .filter(|r| r.kind == dp_net::fwd::RouteKind::Static)
            .map(|r| format!("{}/{}", r.prefix, r.len))
            .collect();
        have.sort();
        assert_eq!(have, vec!["10.7.0.0/16", "10.9.0.0/16"]);
    }

    /// A route that moves from a gateway to a port (a pod's /32, say) is replaced; one whose
    /// next hops are unchanged is left alone.
    #[test]
    fn a_route_moved_from_a_gateway_to_a_port_is_replaced() {
        let base = "[eal]\ncores = \"0-1\"\n[[port]]\nname = \"pod0\"\ndevice = \"net_null0\"\n\
                    address = \"10.0.1.1/24\"\n[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"10.0.1.2\"\n\
                    [[route]]\nprefix = \"10.0.1.7/32\"\n";
        let old = Config::parse(&format!("{base}via = \"10.0.1.2\"\n"), "t.toml").unwrap();
        let new = Config::parse(&format!("{base}dev = \"pod0\"\n"), "t.toml").unwrap();
        let mut control = old.scratch_control().unwrap();
        let sum = apply_diff(&old, &new, &mut control).unwrap();
        assert_eq!((sum.routes_added, sum.routes_deleted), (1, 1));
        let pod0 = control.iface("pod0").unwrap().index;
        let hops: Vec<_> = control
            .routes()
            .filter(|r| r.kind == dp_net::fwd::RouteKind::Static)
            .map(|r| (format!("{}/{}", r.prefix, r.len), r.hops.to_vec()))
            .collect();
        assert!(
            hops.contains(&("10.0.1.7/32".into(), vec![(None, Some(pod0))]))
                && hops.contains(&(
                    "10.9.0.0/16".into(),
                    vec![(Some(Ipv4Addr::new(10, 0, 1, 2)), None)]
                )),
            "{hops:?}"
        );
        // Loading the same file again changes nothing.
        let sum = apply_diff(&new, &new, &mut control).unwrap();
        assert_eq!(sum, ReloadSummary::default());
    }

    /// `[arp]` is applied at once, and said so.
    #[test]
    fn a_changed_arp_section_is_applied() {
        let base = "[eal]\ncores = \"0-1\"\n";
        let old = Config::parse(base, "t.toml").unwrap();
        let new = Config::parse(
            &format!("{base}[arp]\nage-secs = 0\nmax-neighbors = 10\n"),
            "t.toml",
        )
        .unwrap();
        let mut control = old.scratch_control().unwrap();
        assert_eq!(control.neighbor_policy(), old.arp.policy());
        let sum = apply_diff(&old, &new, &mut control).unwrap();
        assert!(
            sum.arp_changed && sum.to_string().ends_with(", [arp] applied"),
            "{sum}"
        );
        let p = control.neighbor_policy();
        assert_eq!((p.age, p.max_learned), (None, 10));
    }
}
