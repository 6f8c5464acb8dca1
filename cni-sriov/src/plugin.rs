//! The CNI commands: ADD, DEL, CHECK, STATUS, GC.
//!
//! ADD records everything DEL needs *before* changing anything, then walks its steps, noting in
//! a [`Progress`] what it has done. On failure the same idempotent teardown that DEL uses undoes
//! exactly the steps that ran, so ADD, rollback, DEL and GC share one restore path. Teardown
//! keeps going after a failed step (a VF must come back to the host even when IPAM is sick) and
//! keeps the state record until everything succeeded, so a retried DEL can finish the job.

use std::fs::File;
use std::net::IpAddr;
use std::path::Path;

use serde_json::{Value, json};

use crate::config::{NetConf, fmt_mac};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::hooks::fail_point;
use crate::ipam::Ipam;
use crate::log;
use crate::netlink::{LinkChange, Netlink, VfConfig};
use crate::netns;
use crate::pf::PfControl;
use crate::state::{Allocation, Attachment, Mode, SavedNetdev, Store};
use crate::sysfs::Sysfs;
use crate::types::{CniResult, Interface, IpConfig, IpNet};

/// What an ADD has done so far (teardown undoes exactly these).
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// State and allocation records written.
    pub state: bool,
    /// PF-side VF settings changed.
    pub pf: bool,
    /// Netdev renamed to its temporary name / moved into the pod.
    pub moved: bool,
    /// IPAM ADD called.
    pub ipam: bool,
    /// Device-info file written.
    pub device_info: bool,
}

impl Progress {
    /// Everything (DEL and GC: assume every step may have run).
    pub fn all() -> Self {
        Progress {
            state: true,
            pf: true,
            moved: true,
            ipam: true,
            device_info: true,
        }
    }
}

/// Dependencies of a command, injectable for tests.
pub struct Ctx<'a> {
    /// Validated netconf.
    pub conf: &'a NetConf,
    /// Environment.
    pub env: &'a Env,
    /// PF control.
    pub pf: &'a dyn PfControl,
}

impl Ctx<'_> {
    pub(crate) fn store(&self) -> Store {
        Store::new(&self.conf.state_dir)
    }

    fn sysfs(&self) -> Sysfs {
        Sysfs::new(&self.conf.sysfs_root)
    }

    pub(crate) fn ipam_type(&self) -> Option<String> {
        self.conf
            .ipam
            .as_ref()
            .and_then(|m| m.get("type"))
            .and_then(Value::as_str)
            .map(String::from)
    }
}

/// Temporary name for VF `pci` while it moves between namespaces: derived from the PCI address
/// so it is unique per VF (and the per-VF lock makes it unique in time), short enough for
/// IFNAMSIZ, and unlike any name a runtime would choose.
pub fn temp_name(pci: &str) -> String {
    let digits: String = pci.chars().filter(char::is_ascii_hexdigit).collect();
    // 0000:00:05.1 -> "csv" + "0000005" + "1" (domain low bits + bus + dev + fn), at most 15.
    let tail = if digits.len() > 11 {
        &digits[digits.len() - 11..]
    } else {
        &digits[..]
    };
    format!("csv{tail}")
}

/// ADD.
pub fn add(ctx: &Ctx) -> Result<Value> {
    let conf = ctx.conf;
    let env = ctx.env;
    if let Some(us) = conf.userspace {
        return crate::userspace::add(ctx, us);
    }
    let pci = conf.device_id.clone().ok_or_else(|| {
        Error::config(
            "deviceID",
            "is required (top level, runtimeConfig.deviceID or pciBusID)",
        )
    })?;
    let vf = ctx.sysfs().vf(&pci)?;
    let store = ctx.store();
    let _lock = store.lock_vf(&pci)?;
    fail_point("lock")?;
    if let Some(owner) = store.allocation(&pci)? {
        return Err(Error::DeviceInUse {
            pci,
            container: owner.container_id,
            ifname: owner.ifname,
        });
    }
    if store.attachment(&env.container_id, &env.ifname)?.is_some() {
        return Err(Error::config(
            "CNI_IFNAME",
            format!(
                "container {} already has an attachment {}; DEL it first",
                env.container_id, env.ifname
            ),
        ));
    }
    // The VF's current driver decides the mode, never the config: the DRA driver may already
    // have bound it to vfio-pci.
    let mode = if vf.is_userspace() {
        Mode::DpdkVf
    } else {
        Mode::KernelVf
    };
    let pod_ns = match mode {
        Mode::KernelVf => Some(netns::open(Path::new(&env.netns)).map_err(|e| Error::Env {
            var: "CNI_NETNS",
            reason: e.to_string(),
        })?),
        Mode::DpdkVf | Mode::Memif | Mode::VhostUser => None,
    };
    let orig_netdev = match mode {
        Mode::KernelVf => {
            let name = vf.netdev.clone().ok_or_else(|| Error::Device {
                pci: pci.clone(),
                reason: format!(
                    "bound to {:?} but has no netdev in this namespace",
                    vf.driver
                ),
            })?;
            let l = Netlink::open()?.link(&name)?.ok_or_else(|| Error::Device {
                pci: pci.clone(),
                reason: format!("sysfs names netdev {name} but no such link exists"),
            })?;
            Some(SavedNetdev {
                name: l.name,
                mac: l.mac,
                mtu: l.mtu,
                up: l.up,
            })
        }
        Mode::DpdkVf | Mode::Memif | Mode::VhostUser => None,
    };
    let orig_pf = ctx.pf.read(&vf.pf_ifname, vf.index)?;
    let applied_pf = VfConfig {
        mac: conf.mac,
        vlan: if conf.vlan.is_some() || conf.vlan_qos.is_some() || conf.vlan_proto.is_some() {
            Some((
                conf.vlan.unwrap_or(0),
                conf.vlan_qos.unwrap_or(0),
                conf.vlan_proto.map(|p| p.ethertype()).unwrap_or(0x8100),
            ))
        } else {
            None
        },
        spoofchk: conf.spoofchk,
        trust: conf.trust,
        rate: if conf.min_tx_rate.is_some() || conf.max_tx_rate.is_some() {
            Some((conf.min_tx_rate.unwrap_or(0), conf.max_tx_rate.unwrap_or(0)))
        } else {
            None
        },
        link_state: conf.link_state.map(|l| l as u32),
    };
    let mut att = Attachment {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: env.netns.clone(),
        network: conf.name.clone(),
        mode,
        pci: pci.clone(),
        pf: vf.pf_ifname.clone(),
        vf_index: vf.index,
        orig_pf,
        applied_pf: applied_pf.clone(),
        orig_netdev,
        temp_name: temp_name(&pci),
        ipam: ctx.ipam_type(),
        device_info_file: conf.device_info_file.clone(),
        result: None,
        userspace: None,
    };
    log::info(&format!(
        "ADD {pci} (PF {} VF {}) mode {mode:?} driver {:?}",
        vf.pf_ifname, vf.index, vf.driver
    ));

    let mut progress = Progress::default();
    let res = add_steps(ctx, &mut att, &mut progress, &vf, pod_ns.as_ref());
    match res {
        Ok(v) => Ok(v),
        Err(e) => {
            log::error(&format!("ADD failed: {e}; rolling back {progress:?}"));
            Err(e.rolled_back(teardown(ctx, &att, progress, pod_ns.as_ref())))
        }
    }
}

fn add_steps(
    ctx: &Ctx,
    att: &mut Attachment,
    progress: &mut Progress,
    vf: &crate::sysfs::VfInfo,
    pod_ns: Option<&File>,
) -> Result<Value> {
    let conf = ctx.conf;
    let store = ctx.store();
    progress.state = true;
    store.save_attachment(att)?;
    store.save_allocation(
        &att.pci,
        &Allocation {
            container_id: att.container_id.clone(),
            ifname: att.ifname.clone(),
        },
    )?;
    fail_point("save-state")?;

    progress.pf = true;
    ctx.pf.apply(&att.pf, att.vf_index, &att.applied_pf)?;
    fail_point("pf-config")?;

    let mut iface = Interface {
        name: att.ifname.clone(),
        sandbox: att.netns.clone(),
        pci_id: att.pci.clone(),
        ..Default::default()
    };
    if let (Mode::KernelVf, Some(ns), Some(orig)) = (att.mode, pod_ns, att.orig_netdev.as_ref()) {
        // Host side: down, temporary name, into the pod. The temporary name means the VF never
        // appears in the pod under its host name (which could collide there).
        progress.moved = true;
        let mut nl = Netlink::open()?;
        let l = nl.link(&orig.name)?.ok_or_else(|| Error::Device {
            pci: att.pci.clone(),
            reason: format!("netdev {} vanished", orig.name),
        })?;
        nl.set_link(
            l.index,
            &LinkChange {
                up: Some(false),
                name: Some(att.temp_name.clone()),
                ..Default::default()
            },
        )?;
        nl.set_link(
            l.index,
            &LinkChange {
                netns_fd: Some(std::os::fd::AsRawFd::as_raw_fd(ns)),
                ..Default::default()
            },
        )?;
        fail_point("move")?;
        let (mac, mtu) = netns::run_in(ns, || {
            let mut nl = Netlink::open()?;
            let l = nl.link(&att.temp_name)?.ok_or_else(|| Error::Device {
                pci: att.pci.clone(),
                reason: "netdev not found in the pod after the move".into(),
            })?;
            if nl.link(&att.ifname)?.is_some() {
                return Err(Error::Env {
                    var: "CNI_IFNAME",
                    reason: format!("{} already exists in the pod namespace", att.ifname),
                });
            }
            nl.set_link(
                l.index,
                &LinkChange {
                    name: Some(att.ifname.clone()),
                    mac: conf.mac,
                    mtu: conf.mtu,
                    ..Default::default()
                },
            )?;
            // Gratuitous ARP / unsolicited NA: the kernel announces every address when the
            // link comes up (and on MAC changes) once these are set.
            for p in [
                format!("/proc/sys/net/ipv4/conf/{}/arp_notify", att.ifname),
                format!("/proc/sys/net/ipv6/conf/{}/ndisc_notify", att.ifname),
            ] {
                if let Err(e) = std::fs::write(&p, "1") {
                    log::warn(&format!("cannot enable announcements via {p}: {e}"));
                }
            }
            let l = nl.link(&att.ifname)?.ok_or_else(|| Error::Device {
                pci: att.pci.clone(),
                reason: "netdev vanished after rename".into(),
            })?;
            Ok((l.mac, l.mtu))
        })?;
        iface.mac = fmt_mac(&mac);
        iface.mtu = Some(mtu);
        fail_point("configure")?;
    } else if let Some(mac) = conf.mac {
        iface.mac = fmt_mac(&mac);
    }

    let mut result = CniResult {
        cni_version: conf.cni_version.clone(),
        ..Default::default()
    };
    // Interfaces from earlier plugins in the chain stay first; ours is appended.
    let prev = match &conf.prev_result {
        Some(v) => Some(CniResult::parse(v, "prevResult")?),
        None => None,
    };
    if let Some(p) = &prev {
        result = p.clone();
        result.cni_version = conf.cni_version.clone();
    }
    let my_index = result.interfaces.len();
    result.interfaces.push(iface);
    if let Some(t) = att.ipam.clone() {
        progress.ipam = true;
        let ip = Ipam::new(&t, &conf.raw, &ctx.env.path).add()?;
        fail_point("ipam")?;
        for mut c in ip.ips {
            c.interface = Some(my_index);
            result.ips.push(c);
        }
        result.routes.extend(ip.routes);
        if !crate::types::CniResult::default().dns.eq(&ip.dns) {
            result.dns = ip.dns;
        }
    }
    if let (Mode::KernelVf, Some(ns)) = (att.mode, pod_ns) {
        let ips: Vec<IpConfig> = result
            .ips
            .iter()
            .filter(|c| c.interface == Some(my_index))
            .cloned()
            .collect();
        let routes = result.routes.clone();
        netns::run_in(ns, || apply_ip(&att.ifname, &ips, &routes))?;
        fail_point("addresses")?;
    }
    if let Some(path) = &att.device_info_file {
        progress.device_info = true;
        write_device_info(path, att, vf)?;
        fail_point("device-info")?;
    }
    let out = serde_json::to_value(&result).map_err(|e| Error::Internal(e.to_string()))?;
    att.result = Some(out);
    store.save_attachment(att)?;
    fail_point("result")?;
    Ok(result.to_version(&conf.cni_version))
}

/// Addresses, link up, then routes (routes via a gateway need the link up and the prefix
/// route of the address in place).
fn apply_ip(ifname: &str, ips: &[IpConfig], routes: &[crate::types::Route]) -> Result<()> {
    let mut nl = Netlink::open()?;
    let l = nl
        .link(ifname)?
        .ok_or_else(|| Error::Internal(format!("{ifname} vanished")))?;
    for c in ips {
        let n = IpNet::parse(&c.address, "ips.address")?;
        nl.add_address(l.index, n.addr, n.prefix)?;
    }
    nl.set_link(
        l.index,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )?;
    for r in routes {
        let dst = IpNet::parse(&r.dst, "routes.dst")?;
        // A route without gw uses the gateway of the first address of its family.
        let gw = r.gw.or_else(|| {
            ips.iter()
                .filter(|c| {
                    IpNet::parse(&c.address, "ips.address")
                        .is_ok_and(|n| n.addr.is_ipv4() == dst.addr.is_ipv4())
                })
                .find_map(|c| c.gateway)
        });
        nl.add_route(l.index, dst.network(), dst.prefix, gw, r.priority)?;
    }
    Ok(())
}

fn write_device_info(path: &Path, att: &Attachment, vf: &crate::sysfs::VfInfo) -> Result<()> {
    let mut pci = json!({
        "pci-address": att.pci,
        "pf-pci-address": vf.pf_pci,
    });
    if att.mode == Mode::DpdkVf
        && let (Some(g), Some(o)) = (&vf.iommu_group, pci.as_object_mut())
    {
        // Not in the spec's schema: where the pod finds the VFIO group of its VF.
        o.insert("vfio-device".into(), json!(format!("/dev/vfio/{g}")));
    }
    let v = json!({"type": "pci", "version": "1.1.0", "pci": pci});
    let body = serde_json::to_vec_pretty(&v).map_err(|e| Error::Internal(e.to_string()))?;
    crate::state::write_atomic(path, &body)
}

/// Undo `progress` for `att`, newest step first; remove the records when all went well.
pub fn teardown(
    ctx: &Ctx,
    att: &Attachment,
    progress: Progress,
    pod_ns: Option<&File>,
) -> Result<()> {
    let mut first_err: Option<Error> = None;
    let mut note = |r: Result<()>, what: &str| {
        if let Err(e) = r {
            log::error(&format!("teardown {what}: {e}"));
            if first_err.is_none() {
                first_err = Some(e);
            }
        }
    };
    if progress.device_info
        && let Some(p) = &att.device_info_file
    {
        note(crate::state::remove(p), "device-info");
    }
    if progress.ipam
        && let Some(t) = &att.ipam
    {
        let mut c = ctx.conf.raw.clone();
        if let Some(r) = &att.result {
            c.insert("prevResult".into(), r.clone());
        }
        note(
            Ipam::new(t, &c, &ctx.env.path)
                .for_attachment(&att.container_id, &att.ifname, &att.netns)
                .del(),
            "IPAM DEL",
        );
    }
    if progress.moved && att.mode == Mode::KernelVf {
        note(return_netdev(ctx, att, pod_ns), "return netdev");
    }
    if progress.pf {
        note(restore_pf(ctx, att), "restore PF settings");
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if progress.state {
        let store = ctx.store();
        store.remove_allocation(&att.pci)?;
        store.remove_attachment(&att.container_id, &att.ifname)?;
    }
    Ok(())
}

fn restore_pf(ctx: &Ctx, att: &Attachment) -> Result<()> {
    // Restore only what ADD set *and* what the PF now reports different from the original.
    // A field the PF does not report (None) was never changed (a PF that cannot report a VF
    // cannot configure it either); skipping it keeps DEL from failing forever on a setting
    // the hardware refused in the first place.
    let live = ctx.pf.read(&att.pf, att.vf_index)?;
    let (o, a) = (&att.orig_pf, &att.applied_pf);
    fn pick<T: PartialEq + Copy>(
        applied: Option<T>,
        live: Option<T>,
        orig: Option<T>,
        default: T,
    ) -> Option<T> {
        let orig = orig.unwrap_or(default);
        match (applied, live) {
            (Some(_), Some(l)) if l != orig => Some(orig),
            _ => None,
        }
    }
    let r = VfConfig {
        mac: pick(a.mac, live.mac, o.mac, [0; 6]),
        vlan: pick(a.vlan, live.vlan, o.vlan, (0, 0, 0x8100)),
        spoofchk: pick(a.spoofchk, live.spoofchk, o.spoofchk, true),
        trust: pick(a.trust, live.trust, o.trust, false),
        rate: pick(a.rate, live.rate, o.rate, (0, 0)),
        link_state: pick(a.link_state, live.link_state, o.link_state, 0),
    };
    ctx.pf.apply(&att.pf, att.vf_index, &r)
}

/// Bring the VF netdev back to the host and restore its name, MAC, MTU and admin state.
/// Works whether it is still in the pod, already back in the host (the kernel returns physical
/// devices to the initial namespace when a pod's namespace is destroyed), or only renamed.
fn return_netdev(ctx: &Ctx, att: &Attachment, pod_ns: Option<&File>) -> Result<()> {
    let Some(orig) = &att.orig_netdev else {
        return Ok(());
    };
    let host = netns::current()?;
    let owned_ns;
    let pod_ns = match pod_ns {
        Some(ns) => Some(ns),
        None if !att.netns.is_empty() && Path::new(&att.netns).exists() => {
            match netns::open(Path::new(&att.netns)) {
                Ok(f) => {
                    owned_ns = f;
                    Some(&owned_ns)
                }
                Err(e) => {
                    log::warn(&format!("pod netns {} unusable: {e}", att.netns));
                    None
                }
            }
        }
        None => None,
    };
    if let Some(ns) = pod_ns {
        let host_fd = std::os::fd::AsRawFd::as_raw_fd(&host);
        netns::run_in(ns, || {
            let mut nl = Netlink::open()?;
            // The temporary name first: it is ours for sure (unique per VF, under the VF
            // lock). CNI_IFNAME may belong to another device when ADD failed at the rename.
            let l = match nl.link(&att.temp_name)? {
                Some(l) => Some(l),
                None => nl.link(&att.ifname)?,
            };
            if let Some(l) = l {
                nl.set_link(
                    l.index,
                    &LinkChange {
                        up: Some(false),
                        name: Some(att.temp_name.clone()),
                        ..Default::default()
                    },
                )?;
                nl.set_link(
                    l.index,
                    &LinkChange {
                        netns_fd: Some(host_fd),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })?;
    }
    // Host side: find it under the temporary name, else where sysfs says it is (returned by
    // the kernel under whatever name it had), else it is already restored or gone.
    let mut nl = Netlink::open()?;
    let mut l = nl.link(&att.temp_name)?;
    if l.is_none()
        && let Some(n) = ctx.sysfs().netdev_of(&att.pci)
        && n != orig.name
    {
        l = nl.link(&n)?;
    }
    if l.is_none() {
        l = nl.link(&orig.name)?;
    }
    let Some(l) = l else {
        log::warn(&format!(
            "VF {} netdev not found in the host; nothing to restore",
            att.pci
        ));
        return Ok(());
    };
    let mut change = LinkChange {
        up: Some(false),
        ..Default::default()
    };
    if l.name != orig.name {
        if nl.link(&orig.name)?.is_some() {
            log::warn(&format!(
                "cannot restore name {}: taken in the host; VF {} stays {}",
                orig.name, att.pci, l.name
            ));
        } else {
            change.name = Some(orig.name.clone());
        }
    }
    if orig.mac.len() == 6 && l.mac != orig.mac {
        let mut m = [0u8; 6];
        m.copy_from_slice(&orig.mac);
        change.mac = Some(m);
    }
    if orig.mtu != 0 && l.mtu != orig.mtu {
        change.mtu = Some(orig.mtu);
    }
    nl.set_link(l.index, &change)?;
    if orig.up {
        nl.set_link(
            l.index,
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        )?;
    }
    Ok(())
}

/// DEL: idempotent; no state means nothing to do beyond releasing IPAM.
pub fn del(ctx: &Ctx) -> Result<()> {
    let store = ctx.store();
    let env = ctx.env;
    let Some(att) = store.attachment(&env.container_id, &env.ifname)? else {
        log::info("DEL: no state for this attachment; releasing IPAM only");
        if let Some(t) = ctx.ipam_type() {
            // host-local & co. treat an unknown container as success.
            Ipam::new(&t, &ctx.conf.raw, &env.path).del()?;
        }
        return Ok(());
    };
    if att.mode.is_userspace() {
        return crate::userspace::del(ctx, &att);
    }
    let _lock = store.lock_vf(&att.pci)?;
    teardown(ctx, &att, Progress::all(), None)
}

/// CHECK: compare the live attachment with what ADD returned.
pub fn check(ctx: &Ctx) -> Result<()> {
    let env = ctx.env;
    if ctx.conf.prev_result.is_none() {
        return Err(Error::config("prevResult", "is required for CHECK"));
    }
    let att = ctx
        .store()
        .attachment(&env.container_id, &env.ifname)?
        .ok_or_else(|| {
            Error::Check(format!("no attachment {} {}", env.container_id, env.ifname))
        })?;
    if att.mode.is_userspace() {
        return crate::userspace::check(ctx, &att);
    }
    let cached = att
        .result
        .as_ref()
        .ok_or_else(|| Error::Check("ADD did not complete".into()))?;
    let res = CniResult::parse(cached, "cached result")?;
    let Some((idx, iface)) = res
        .interfaces
        .iter()
        .enumerate()
        .find(|(_, i)| i.name == env.ifname && i.pci_id == att.pci)
    else {
        return Err(Error::Check("cached result lacks our interface".into()));
    };
    // PF side: what we set must still be set.
    let live = ctx.pf.read(&att.pf, att.vf_index)?;
    let a = &att.applied_pf;
    let drift = |n: &str, want: String, got: String| {
        Error::Check(format!("VF {} {n} is {got}, expected {want}", att.pci))
    };
    if a.mac.is_some() && live.mac != a.mac {
        return Err(drift(
            "admin MAC",
            format!("{:?}", a.mac),
            format!("{:?}", live.mac),
        ));
    }
    if let Some((v, q, _)) = a.vlan
        && live.vlan.map(|x| (x.0, x.1)) != Some((v, q))
    {
        return Err(drift(
            "vlan",
            format!("{v}/{q}"),
            format!("{:?}", live.vlan),
        ));
    }
    for (n, want, got) in [
        ("spoofchk", a.spoofchk, live.spoofchk),
        ("trust", a.trust, live.trust),
    ] {
        if want.is_some() && want != got {
            return Err(drift(n, format!("{want:?}"), format!("{got:?}")));
        }
    }
    if a.rate.is_some() && a.rate != live.rate {
        return Err(drift(
            "tx rate",
            format!("{:?}", a.rate),
            format!("{:?}", live.rate),
        ));
    }
    if a.link_state.is_some() && a.link_state != live.link_state {
        return Err(drift(
            "link_state",
            format!("{:?}", a.link_state),
            format!("{:?}", live.link_state),
        ));
    }
    match att.mode {
        Mode::DpdkVf => {
            let vf = ctx.sysfs().vf(&att.pci)?;
            if !vf.is_userspace() {
                return Err(Error::Check(format!(
                    "VF {} is now bound to {:?}, not a userspace driver",
                    att.pci, vf.driver
                )));
            }
        }
        Mode::Memif | Mode::VhostUser => {}
        Mode::KernelVf => {
            let ns = netns::open(Path::new(&env.netns))?;
            let want_ips: Vec<IpNet> = res
                .ips
                .iter()
                .filter(|c| c.interface == Some(idx))
                .map(|c| IpNet::parse(&c.address, "ips.address"))
                .collect::<Result<_>>()?;
            let want_routes: Vec<(IpNet, Option<IpAddr>)> = res
                .routes
                .iter()
                .map(|r| IpNet::parse(&r.dst, "routes.dst").map(|d| (d, r.gw)))
                .collect::<Result<_>>()?;
            let ifname = env.ifname.clone();
            let iface = iface.clone();
            let ips_gw: Vec<IpConfig> = res.ips.clone();
            netns::run_in(&ns, || {
                let mut nl = Netlink::open()?;
                let l = nl
                    .link(&ifname)?
                    .ok_or_else(|| Error::Check(format!("{ifname} is missing from the pod")))?;
                if !iface.mac.is_empty() && fmt_mac(&l.mac) != iface.mac {
                    return Err(Error::Check(format!(
                        "{ifname} MAC is {}, expected {}",
                        fmt_mac(&l.mac),
                        iface.mac
                    )));
                }
                if let Some(m) = iface.mtu
                    && l.mtu != m
                {
                    return Err(Error::Check(format!(
                        "{ifname} MTU is {}, expected {m}",
                        l.mtu
                    )));
                }
                if !l.up {
                    return Err(Error::Check(format!("{ifname} is down")));
                }
                let have = nl.addresses(l.index)?;
                for w in &want_ips {
                    if !have.contains(&(w.addr, w.prefix)) {
                        return Err(Error::Check(format!("{ifname} lacks address {w}")));
                    }
                }
                let routes = nl.routes(l.index)?;
                for (d, gw) in &want_routes {
                    let gw = gw.or_else(|| {
                        ips_gw
                            .iter()
                            .filter(|c| c.address.contains(':') == d.addr.is_ipv6())
                            .find_map(|c| c.gateway)
                    });
                    let found = routes
                        .iter()
                        .any(|r| r.dst == d.network() && r.prefix == d.prefix && r.gw == gw);
                    if !found {
                        return Err(Error::Check(format!("{ifname} lacks route {d} via {gw:?}")));
                    }
                }
                Ok(())
            })?;
        }
    }
    if let Some(t) = ctx.ipam_type() {
        Ipam::new(&t, &ctx.conf.raw, &env.path).check()?;
    }
    Ok(())
}

/// GC: tear down every attachment of this network not in the valid list, then forward to IPAM.
pub fn gc(ctx: &Ctx) -> Result<()> {
    // Without the list we cannot tell stale from live: refuse rather than remove everything.
    let valid = ctx.conf.valid_attachments.clone().ok_or_else(|| {
        Error::config(
            "cni.dev/valid-attachments",
            "is required for GC (an empty list means none is valid)",
        )
    })?;
    let store = ctx.store();
    let mut first_err = None;
    for att in store.attachments()? {
        if att.network != ctx.conf.name
            || valid
                .iter()
                .any(|(c, i)| *c == att.container_id && *i == att.ifname)
        {
            continue;
        }
        log::info(&format!(
            "GC: removing stale attachment {} {} ({})",
            att.container_id, att.ifname, att.pci
        ));
        let r = if att.mode.is_userspace() {
            crate::userspace::del(ctx, &att)
        } else {
            store
                .lock_vf(&att.pci)
                .and_then(|_l| teardown(ctx, &att, Progress::all(), None))
        };
        if let Err(e) = r {
            log::error(&format!("GC of {} {}: {e}", att.container_id, att.ifname));
            first_err.get_or_insert(e);
        }
    }
    if let Some(t) = ctx.ipam_type() {
        Ipam::new(&t, &ctx.conf.raw, &ctx.env.path).forward_if_supported("GC")?;
    }
    first_err.map_or(Ok(()), Err)
}

/// STATUS: ready when the state directory is usable and IPAM (if it speaks 1.1.0) is.
pub fn status(ctx: &Ctx) -> Result<()> {
    if ctx.conf.userspace.is_some() {
        crate::userspace::status(ctx)?;
    }
    let dir = &ctx.conf.state_dir;
    let probe = dir.join(".status-probe");
    crate::state::write_atomic(&probe, b"ok")
        .and_then(|_| crate::state::remove(&probe))
        .map_err(|e| Error::Unavailable(format!("state directory unusable: {e}")))?;
    if let Some(t) = ctx.ipam_type() {
        Ipam::new(&t, &ctx.conf.raw, &ctx.env.path)
            .forward_if_supported("STATUS")
            .map_err(|e| match e {
                Error::Ipam { code: 50 | 51, .. } => e,
                other => Error::Unavailable(other.to_string()),
            })?;
    }
    Ok(())
}
