//! A small synchronous rtnetlink client.
//!
//! Why not the async `rtnetlink` crate: a CNI plugin is a short-lived process making a dozen
//! sequential requests, some in one network namespace and some in another. A netlink socket
//! belongs to the namespace of the thread that opened it, so the simplest correct model is "open
//! a blocking socket on the thread that has switched namespace, send, read the answer". That needs
//! no runtime, no executor thread that might sit in the wrong namespace, and far fewer crates. The
//! message types come from `netlink-packet-route`, the socket from `netlink-sys`.

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkFlags, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState,
    VfInfoMac, VfInfoRate, VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan,
    VfVlanInfo, VlanProtocol,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::error::{Error, Result};

/// What we read of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Name.
    pub name: String,
    /// MAC.
    pub mac: Vec<u8>,
    /// MTU.
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
}

/// Changes to a link; `None` leaves a property alone.
#[derive(Debug, Default, Clone)]
pub struct LinkChange {
    /// New name.
    pub name: Option<String>,
    /// New MAC.
    pub mac: Option<[u8; 6]>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// Admin state.
    pub up: Option<bool>,
    /// Move into the namespace behind this fd.
    pub netns_fd: Option<RawFd>,
}

/// A route as we compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// Destination network address.
    pub dst: IpAddr,
    /// Destination prefix length.
    pub prefix: u8,
    /// Gateway.
    pub gw: Option<IpAddr>,
}

/// PF-side VF settings as netlink carries them.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VfConfig {
    /// Admin MAC.
    pub mac: Option<[u8; 6]>,
    /// (vlan, qos, ethertype).
    pub vlan: Option<(u32, u32, u16)>,
    /// Spoof check.
    pub spoofchk: Option<bool>,
    /// Trust.
    pub trust: Option<bool>,
    /// (min, max) Mbps.
    pub rate: Option<(u32, u32)>,
    /// 0 auto, 1 enable, 2 disable.
    pub link_state: Option<u32>,
}

/// A netlink route socket in the namespace of the thread that opened it.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

fn nl_err(op: &str, e: io::Error) -> Error {
    Error::netlink(op, e)
}

impl Netlink {
    /// Open a socket in the calling thread's network namespace.
    pub fn open() -> Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| nl_err("open socket", e))?;
        sock.bind_auto().map_err(|e| nl_err("bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| nl_err("connect", e))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Send one request; collect replies until DONE or the ACK. Errors carry the kernel errno.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        hdr.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut off = 0;
            while off + 16 <= data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                            None => Ok(out),
                        };
                    }
                    NetlinkPayload::InnerMessage(i) => {
                        out.push(i);
                        if !dump && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn parse_link(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            mac: Vec::new(),
            mtu: 0,
            up: m.header.flags.contains(LinkFlags::Up),
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name = n.clone(),
                LinkAttribute::Address(a) => l.mac = a.clone(),
                LinkAttribute::Mtu(v) => l.mtu = *v,
                _ => {}
            }
        }
        l
    }

    fn get_link_msg(&mut self, name: &str, vf: bool) -> Result<Option<LinkMessage>> {
        let mut m = LinkMessage::default();
        m.attributes.push(LinkAttribute::IfName(name.to_string()));
        if vf {
            m.attributes
                .push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf]));
        }
        match self.request(RouteNetlinkMessage::GetLink(m), NLM_F_ACK) {
            Ok(v) => Ok(v.into_iter().find_map(|r| match r {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc_enodev()) => Ok(None),
            Err(e) => Err(nl_err(&format!("get link {name}"), e)),
        }
    }

    /// The link called `name`, if there is one.
    pub fn link(&mut self, name: &str) -> Result<Option<Link>> {
        Ok(self
            .get_link_msg(name, false)?
            .map(|m| Self::parse_link(&m)))
    }

    /// All links (for leak accounting and collision checks).
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let r = self
            .request(
                RouteNetlinkMessage::GetLink(LinkMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| nl_err("dump links", e))?;
        Ok(r.iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Self::parse_link(l)),
                _ => None,
            })
            .collect())
    }

    /// Apply `c` to the link with `index`.
    pub fn set_link(&mut self, index: u32, c: &LinkChange) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        if let Some(up) = c.up {
            m.header.change_mask = LinkFlags::Up;
            if up {
                m.header.flags = LinkFlags::Up;
            }
        }
        if let Some(n) = &c.name {
            m.attributes.push(LinkAttribute::IfName(n.clone()));
        }
        if let Some(mac) = c.mac {
            m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(mtu) = c.mtu {
            m.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(fd) = c.netns_fd {
            m.attributes.push(LinkAttribute::NetNsFd(fd));
        }
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| nl_err(&format!("set link {index} {c:?}"), e))
    }

    /// Addresses (address, prefix) on `index`.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<(IpAddr, u8)>> {
        let r = self
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                NLM_F_DUMP,
            )
            .map_err(|e| nl_err("dump addresses", e))?;
        let mut out = Vec::new();
        for m in r {
            let RouteNetlinkMessage::NewAddress(a) = m else {
                continue;
            };
            if a.header.index != index {
                continue;
            }
            let mut local = None;
            let mut addr = None;
            for at in &a.attributes {
                match at {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => addr = Some(*ip),
                    _ => {}
                }
            }
            if let Some(ip) = local.or(addr) {
                out.push((ip, a.header.prefix_len));
            }
        }
        Ok(out)
    }

    fn addr_msg(index: u32, ip: IpAddr, prefix: u8) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.header.scope = AddressScope::Universe;
        if ip.is_ipv4() {
            m.attributes.push(AddressAttribute::Local(ip));
        }
        m.attributes.push(AddressAttribute::Address(ip));
        m
    }

    /// Add `ip/prefix` to `index`.
    pub fn add_address(&mut self, index: u32, ip: IpAddr, prefix: u8) -> Result<()> {
        self.request(
            RouteNetlinkMessage::NewAddress(Self::addr_msg(index, ip, prefix)),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
        .map_err(|e| nl_err(&format!("add address {ip}/{prefix}"), e))
    }

    /// Main-table unicast routes leaving through `index`.
    pub fn routes(&mut self, index: u32) -> Result<Vec<RouteEntry>> {
        let mut out = Vec::new();
        for fam in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut q = RouteMessage::default();
            q.header.address_family = fam;
            let r = self
                .request(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)
                .map_err(|e| nl_err("dump routes", e))?;
            for m in r {
                let RouteNetlinkMessage::NewRoute(rt) = m else {
                    continue;
                };
                if rt.header.table != RouteHeader::RT_TABLE_MAIN
                    || rt.header.kind != RouteType::Unicast
                {
                    continue;
                }
                let mut oif = None;
                let mut dst = None;
                let mut gw = None;
                for a in &rt.attributes {
                    match a {
                        RouteAttribute::Oif(i) => oif = Some(*i),
                        RouteAttribute::Destination(d) => dst = route_ip(d),
                        RouteAttribute::Gateway(g) => gw = route_ip(g),
                        _ => {}
                    }
                }
                if oif != Some(index) {
                    continue;
                }
                let dst = dst.unwrap_or(if fam == AddressFamily::Inet {
                    IpAddr::from([0u8; 4])
                } else {
                    IpAddr::from([0u16; 8])
                });
                out.push(RouteEntry {
                    dst,
                    prefix: rt.header.destination_prefix_length,
                    gw,
                });
            }
        }
        Ok(out)
    }

    /// Add a main-table route out of `index`.
    pub fn add_route(
        &mut self,
        index: u32,
        dst: IpAddr,
        prefix: u8,
        gw: Option<IpAddr>,
        metric: Option<u32>,
    ) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = if dst.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.destination_prefix_length = prefix;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = if gw.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        m.header.kind = RouteType::Unicast;
        if prefix > 0 {
            m.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(dst)));
        }
        if let Some(g) = gw {
            m.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(g)));
        }
        m.attributes.push(RouteAttribute::Oif(index));
        if let Some(p) = metric {
            m.attributes.push(RouteAttribute::Priority(p));
        }
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(|_| ())
        .map_err(|e| nl_err(&format!("add route {dst}/{prefix} via {gw:?}"), e))
    }

    /// Read VF `vf`'s PF-side settings from the PF called `pf`.
    pub fn vf_config(&mut self, pf: &str, vf: u32) -> Result<VfConfig> {
        let m = self.get_link_msg(pf, true)?.ok_or_else(|| {
            nl_err(
                &format!("get PF {pf}"),
                io::Error::from_raw_os_error(libc_enodev()),
            )
        })?;
        let mut c = VfConfig::default();
        for a in &m.attributes {
            let LinkAttribute::VfInfoList(list) = a else {
                continue;
            };
            for LinkVfInfo(infos) in list {
                let mine = infos.iter().any(|i| match i {
                    VfInfo::Mac(m) => m.vf_id == vf,
                    _ => false,
                });
                if !mine {
                    continue;
                }
                for i in infos {
                    match i {
                        VfInfo::Mac(m) => {
                            let mut mac = [0u8; 6];
                            mac.copy_from_slice(&m.mac[..6]);
                            c.mac = Some(mac);
                        }
                        VfInfo::Vlan(v) => {
                            let proto = c.vlan.map(|x| x.2).unwrap_or(0x8100);
                            c.vlan = Some((v.vlan_id, v.qos, proto));
                        }
                        VfInfo::VlanList(l) => {
                            for v in l.iter().filter_map(|v| match v {
                                VfVlan::Info(i) => Some(i),
                                _ => None,
                            }) {
                                let p = match v.protocol {
                                    VlanProtocol::Ieee8021Ad => 0x88a8,
                                    _ => 0x8100,
                                };
                                c.vlan = Some((v.vlan_id, v.qos, p));
                            }
                        }
                        VfInfo::SpoofCheck(s) => c.spoofchk = Some(s.enabled),
                        VfInfo::Trust(t) => c.trust = Some(t.enabled),
                        VfInfo::Rate(r) => c.rate = Some((r.min_tx_rate, r.max_tx_rate)),
                        VfInfo::LinkState(l) => {
                            c.link_state = Some(match l.state {
                                VfLinkState::Auto => 0,
                                VfLinkState::Enable => 1,
                                VfLinkState::Disable => 2,
                                VfLinkState::Other(n) => n,
                                _ => 0,
                            })
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(c)
    }

    /// Apply PF-side settings for VF `vf` on the PF called `pf`.
    pub fn set_vf_config(&mut self, pf: &str, vf: u32, c: &VfConfig) -> Result<()> {
        let pf_link = self.link(pf)?.ok_or_else(|| {
            nl_err(
                &format!("get PF {pf}"),
                io::Error::from_raw_os_error(libc_enodev()),
            )
        })?;
        let mut infos = Vec::new();
        if let Some(mac) = c.mac {
            infos.push(VfInfo::Mac(VfInfoMac::new(vf, &mac)));
        }
        if let Some((vlan, qos, proto)) = c.vlan {
            if proto == 0x88a8 {
                infos.push(VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(
                    vf,
                    vlan,
                    qos,
                    VlanProtocol::Ieee8021Ad,
                ))]));
            } else {
                // Plain IFLA_VF_VLAN: every VF driver supports it; the list form only some.
                infos.push(VfInfo::Vlan(VfInfoVlan::new(vf, vlan, qos)));
            }
        }
        if let Some(s) = c.spoofchk {
            infos.push(VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, s)));
        }
        if let Some(t) = c.trust {
            infos.push(VfInfo::Trust(VfInfoTrust::new(vf, t)));
        }
        if let Some((min, max)) = c.rate {
            infos.push(VfInfo::Rate(VfInfoRate::new(vf, min, max)));
        }
        if let Some(ls) = c.link_state {
            infos.push(VfInfo::LinkState(VfInfoLinkState::new(
                vf,
                VfLinkState::from(ls),
            )));
        }
        if infos.is_empty() {
            return Ok(());
        }
        let mut m = LinkMessage::default();
        m.header.index = pf_link.index;
        m.attributes
            .push(LinkAttribute::VfInfoList(vec![LinkVfInfo(infos)]));
        self.request(RouteNetlinkMessage::SetLink(m), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| nl_err(&format!("set VF {vf} on {pf}: {c:?}"), e))
    }
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}
