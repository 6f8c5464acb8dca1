//! Ethernet ports: open (PCI address or vdev string, hot-plugged when needed), configure,
//! start/stop, stats, and per-queue burst handles.
//!
//! A [`Port`] is the control-plane handle. [`RxQueue`]/[`TxQueue`] are the data-plane handles:
//! each (port, queue) can be taken once, is owned by one thread, and keeps the port open while
//! it lives. Reconfiguring, starting or stopping a port is refused while any queue handle is
//! alive, so a worker's burst can never race a reconfiguration; the last handle to go closes
//! the device (and removes it when this process hot-plugged it).

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::eal::Eal;
use super::error::{DpdkError, Result, strerror};
use super::mbuf::MbufBurst;
use super::mempool::Mempool;

/// Whether `s` looks like a PCI address (`0000:3b:02.1` or `3b:02.1`).
pub fn is_pci_address(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, devfn) = match parts.as_slice() {
        [d, b, df] => (Some(*d), *b, *df),
        [b, df] => (None, *b, *df),
        _ => return false,
    };
    let hex = |x: &str, n: usize| x.len() == n && x.chars().all(|c| c.is_ascii_hexdigit());
    let Some((dev, func)) = devfn.split_once('.') else {
        return false;
    };
    dom.is_none_or(|d| hex(d, 4)) && hex(bus, 2) && hex(dev, 2) && hex(func, 1)
}

/// What a port can do, from `rte_eth_dev_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevCaps {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub rx_offload_capa: u64,
    pub tx_offload_capa: u64,
    pub flow_type_rss_offloads: u64,
    pub min_mtu: u16,
    pub max_mtu: u16,
    pub max_rx_pktlen: u32,
}

/// Offload capability bits, re-exported with short names.
pub mod offload {
    pub const RX_IPV4_CKSUM: u64 = dpdk_sys::SHIM_RX_OFFLOAD_IPV4_CKSUM;
    pub const RX_UDP_CKSUM: u64 = dpdk_sys::SHIM_RX_OFFLOAD_UDP_CKSUM;
    pub const RX_TCP_CKSUM: u64 = dpdk_sys::SHIM_RX_OFFLOAD_TCP_CKSUM;
    pub const RX_RSS_HASH: u64 = dpdk_sys::SHIM_RX_OFFLOAD_RSS_HASH;
    pub const TX_IPV4_CKSUM: u64 = dpdk_sys::SHIM_TX_OFFLOAD_IPV4_CKSUM;
    pub const TX_UDP_CKSUM: u64 = dpdk_sys::SHIM_TX_OFFLOAD_UDP_CKSUM;
    pub const TX_TCP_CKSUM: u64 = dpdk_sys::SHIM_TX_OFFLOAD_TCP_CKSUM;
    pub const TX_OUTER_IPV4_CKSUM: u64 = dpdk_sys::SHIM_TX_OFFLOAD_OUTER_IPV4_CKSUM;
    pub const TX_OUTER_UDP_CKSUM: u64 = dpdk_sys::SHIM_TX_OFFLOAD_OUTER_UDP_CKSUM;
    pub const TX_MBUF_FAST_FREE: u64 = dpdk_sys::SHIM_TX_OFFLOAD_MBUF_FAST_FREE;
    pub const TX_MULTI_SEGS: u64 = dpdk_sys::SHIM_TX_OFFLOAD_MULTI_SEGS;
}

/// The names of the offloads the dataplane asks for, as the API reports them, in that order,
/// of those set in `(rx, tx)`.
pub fn offload_names((rx, tx): (u64, u64)) -> Vec<String> {
    use offload::*;
    [
        (rx & RX_IPV4_CKSUM, "rx-ipv4-cksum"),
        (rx & RX_UDP_CKSUM, "rx-udp-cksum"),
        (rx & RX_TCP_CKSUM, "rx-tcp-cksum"),
        (rx & RX_RSS_HASH, "rx-flow-hash"),
        (tx & TX_IPV4_CKSUM, "tx-ipv4-cksum"),
        (tx & TX_UDP_CKSUM, "tx-udp-cksum"),
        (tx & TX_TCP_CKSUM, "tx-tcp-cksum"),
    ]
    .into_iter()
    .filter(|&(on, _)| on != 0)
    .map(|(_, name)| name.to_string())
    .collect()
}

/// How to configure a port before starting it.
#[derive(Debug, Clone)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// L3 MTU; `None` keeps the driver's default.
    pub mtu: Option<u16>,
    /// Use RSS (IP/UDP/TCP): to spread rx over the queues when there is more than one, and,
    /// with one queue, for its hash alone when the device hands it over (see `RssUse`).
    pub rss: bool,
    /// Rx offloads wanted; only those the device supports are enabled.
    pub rx_offloads: u64,
    /// Tx offloads wanted; only those the device supports are enabled.
    pub tx_offloads: u64,
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            rss: true,
            rx_offloads: 0,
            tx_offloads: 0,
            promiscuous: true,
        }
    }
}

/// Link state from `rte_eth_link_get_nowait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// Basic port counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub ipackets: u64,
    pub opackets: u64,
    pub ibytes: u64,
    pub obytes: u64,
    /// Dropped by the NIC because the rx ring was full.
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    /// Rx failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// One extended statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XStat {
    pub name: String,
    pub value: u64,
}

#[derive(Debug)]
struct PortInner {
    id: u16,
    name: String,
    device: String,
    /// `Some(bus)` when this process probed the device and must remove it at close.
    hotplugged_on: Option<&'static str>,
    /// Bit q set = rx / tx queue q taken (hence [`MAX_QUEUES`]).
    rx_taken: AtomicU64,
    tx_taken: AtomicU64,
    /// Live queue handles (each holds an `Arc<PortInner>` too).
    handles: AtomicUsize,
    state: Mutex<PortState>,
}

#[derive(Debug, Default)]
struct PortState {
    configured: Option<PortConfig>,
    /// Rx is spread over the queues by RSS.
    rss: bool,
    /// The offloads enabled, (rx, tx), as `configure` returned them.
    offloads: (u64, u64),
    started: bool,
}

/// What a port uses RSS for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssUse {
    /// No RSS: the port has one queue and the device would not hand over a hash, or RSS was
    /// not asked for, or the device hashes none of IP, UDP, TCP.
    Off,
    /// Spread rx over several queues (the NIC's hash comes with it when the RSS hash
    /// offload is asked for and offered).
    Spread,
    /// One queue, RSS on for the hash alone: the NIC writes each packet's flow hash into
    /// its mbuf, and the graph takes it for the VXLAN source port and ECMP instead of
    /// hashing the headers (about 40 instructions a packet). OVS-DPDK configures its ports
    /// the same way. Only when the device offers the RSS hash offload: without it there is
    /// nothing to gain from RSS on one queue.
    HashOnly,
}

impl RssUse {
    /// The use for a port configured as `cfg`, on a device with `caps`, which hashes the
    /// flow types `rss_hf` of IP/UDP/TCP.
    pub fn choose(cfg: &PortConfig, caps: &DevCaps, rss_hf: u64) -> RssUse {
        if !cfg.rss || rss_hf == 0 {
            RssUse::Off
        } else if cfg.rx_queues > 1 {
            RssUse::Spread
        } else if cfg.rx_offloads & caps.rx_offload_capa & offload::RX_RSS_HASH != 0 {
            RssUse::HashOnly
        } else {
            RssUse::Off
        }
    }
}

/// The `rte_eth_conf` for `cfg` on a device with `caps`: the offloads asked for that the
/// device offers, RSS as `rss` says over flow types `rss_hf`, and the MTU.
fn eth_conf(cfg: &PortConfig, caps: &DevCaps, rss: RssUse, rss_hf: u64) -> dpdk_sys::rte_eth_conf {
    let mut conf = dpdk_sys::rte_eth_conf::default();
    conf.rxmode.offloads = cfg.rx_offloads & caps.rx_offload_capa;
    conf.txmode.offloads = cfg.tx_offloads & caps.tx_offload_capa;
    if rss == RssUse::Off {
        // The ethdev layer refuses the RSS hash offload without RSS.
        conf.rxmode.offloads &= !offload::RX_RSS_HASH;
    } else {
        conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
    }
    if let Some(mtu) = cfg.mtu {
        conf.rxmode.mtu = mtu as u32;
    }
    conf
}

/// The most rx (and tx) queues a port may have: the queue handles taken are tracked in a
/// 64-bit mask per direction.
pub const MAX_QUEUES: u16 = 64;

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: no queue handle is alive (each holds an Arc to us), so no data path runs;
        // the port id is valid until this close.
        unsafe {
            if self.state.get_mut().map(|s| s.started).unwrap_or(true) {
                dpdk_sys::rte_eth_dev_stop(self.id);
            }
            dpdk_sys::rte_eth_dev_close(self.id);
        }
        if let Some(bus) = self.hotplugged_on {
            let dev_name = device_name(&self.device);
            if let (Ok(b), Ok(n)) = (CString::new(bus), CString::new(dev_name)) {
                // SAFETY: valid C strings; the device's only port was closed above.
                unsafe { dpdk_sys::rte_eal_hotplug_remove(b.as_ptr(), n.as_ptr()) };
            }
        }
    }
}

/// The device name DPDK knows: the devargs string up to its first comma (two ports on one
/// device name are one device).
pub fn device_name(device: &str) -> &str {
    device.split(',').next().unwrap_or(device).trim()
}

/// The port for device `dev_name`: the port of that name, or else the first port whose
/// underlying device has that name (drivers such as net_ring name their ports differently).
fn find_port(dev_name: &str) -> Option<u16> {
    let c = CString::new(dev_name).ok()?;
    let mut id = 0u16;
    // SAFETY: c is a valid C string and id a valid out-pointer.
    if unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) } == 0 {
        return Some(id);
    }
    // SAFETY: iterating valid port ids; rte_eth_find_next returns RTE_MAX_ETHPORTS at the end.
    let mut p = unsafe { dpdk_sys::rte_eth_find_next(0) };
    while (p as u32) < dpdk_sys::RTE_MAX_ETHPORTS {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: p is a valid port id; info is a valid out-pointer.
        if unsafe { dpdk_sys::rte_eth_dev_info_get(p, &mut info) } == 0 && !info.device.is_null() {
            // SAFETY: info.device points at the port's live rte_device, whose name is a
            // NUL-terminated string owned by the bus.
            let name = unsafe { CStr::from_ptr(dpdk_sys::rte_dev_name(info.device)) };
            if name.to_bytes() == dev_name.as_bytes() {
                return Some(p);
            }
        }
        // SAFETY: as above.
        p = unsafe { dpdk_sys::rte_eth_find_next(p + 1) };
    }
    None
}

/// A DPDK ethernet port (control-plane handle). Closed when it and all its queue handles
/// are dropped.
#[derive(Debug, Clone)]
pub struct Port {
    inner: Arc<PortInner>,
}

impl Port {
    /// Opens the port for `device`: a PCI address (`0000:3b:02.1`) or a vdev string
    /// (`net_af_packet0,iface=veth0`). A device the EAL has not probed yet (not given with
    /// `-a`/`--vdev`) is hot-plugged with `rte_dev_probe` and removed again at close.
    /// `name` is the operator's name for the port, used in messages.
    pub fn open(_eal: &Eal, name: &str, device: &str) -> Result<Port> {
        let dev_name = device_name(device);
        if dev_name.is_empty() {
            return Err(DpdkError::Probe {
                device: device.into(),
                reason: "empty device".into(),
            });
        }
        let (id, hotplugged_on) = match find_port(dev_name) {
            Some(id) => (id, None),
            None => {
                let c = CString::new(device)
                    .map_err(|_| DpdkError::NulInArgument(device.to_string()))?;
                // SAFETY: c is a valid C string; the EAL is initialised (`_eal`).
                let rc = unsafe { dpdk_sys::rte_dev_probe(c.as_ptr()) };
                if rc < 0 {
                    return Err(DpdkError::Probe {
                        device: device.into(),
                        reason: strerror(rc),
                    });
                }
                let id = find_port(dev_name)
                    .ok_or_else(|| DpdkError::NoSuchPort(dev_name.to_string()))?;
                let bus = if is_pci_address(dev_name) {
                    "pci"
                } else {
                    "vdev"
                };
                (id, Some(bus))
            }
        };
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                name: name.to_string(),
                device: device.to_string(),
                hotplugged_on,
                rx_taken: AtomicU64::new(0),
                tx_taken: AtomicU64::new(0),
                handles: AtomicUsize::new(0),
                state: Mutex::new(PortState::default()),
            }),
        })
    }

    /// DPDK's port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// The operator's name for the port.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The device string it was opened with.
    pub fn device(&self) -> &str {
        &self.inner.device
    }

    fn err(&self, op: &'static str, rc: i32) -> DpdkError {
        DpdkError::Port {
            port: self.inner.name.clone(),
            op,
            reason: strerror(rc),
        }
    }

    fn refuse_if_queues_alive(&self, op: &str) -> Result<()> {
        let n = self.inner.handles.load(Ordering::Acquire);
        if n > 0 {
            return Err(DpdkError::PortConfig {
                port: self.inner.name.clone(),
                what: format!("cannot {op} while {n} queue handle(s) are in use by workers"),
            });
        }
        Ok(())
    }

    /// Capabilities from `rte_eth_dev_info_get`.
    pub fn caps(&self) -> Result<DevCaps> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(self.inner.id, &mut info) };
        if rc != 0 {
            return Err(self.err("rte_eth_dev_info_get", rc));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: driver_name points at the driver's static NUL-terminated name.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(DevCaps {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rx_offload_capa: info.rx_offload_capa,
            tx_offload_capa: info.tx_offload_capa,
            flow_type_rss_offloads: info.flow_type_rss_offloads,
            min_mtu: info.min_mtu,
            max_mtu: info.max_mtu,
            max_rx_pktlen: info.max_rx_pktlen,
        })
    }

    /// Configures queues, RSS and offloads (the supported subset of what `cfg` asks), and
    /// sets up every queue with mbufs from `pool`. Returns the offloads actually enabled
    /// as (rx, tx). Refused while queue handles are alive or the port is started.
    pub fn configure(&self, cfg: &PortConfig, pool: &Mempool) -> Result<(u64, u64)> {
        self.refuse_if_queues_alive("reconfigure the port")?;
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.started {
            return Err(DpdkError::PortConfig {
                port: self.inner.name.clone(),
                what: "cannot reconfigure a started port; stop it first".into(),
            });
        }
        let caps = self.caps()?;
        let bad = |what: String| DpdkError::PortConfig {
            port: self.inner.name.clone(),
            what,
        };
        for (what, n, max) in [
            ("rx", cfg.rx_queues, caps.max_rx_queues),
            ("tx", cfg.tx_queues, caps.max_tx_queues),
        ] {
            let max = max.min(MAX_QUEUES);
            if n == 0 || n > max {
                return Err(bad(format!("{what} queues {n} out of range 1..={max}")));
            }
        }
        if let Some(mtu) = cfg.mtu
            && caps.max_mtu != 0
            && (mtu < caps.min_mtu || mtu > caps.max_mtu)
        {
            return Err(bad(format!(
                "mtu {mtu} out of the device's range {}..={}",
                caps.min_mtu, caps.max_mtu
            )));
        }
        let rss_hf = (dpdk_sys::SHIM_RSS_IP | dpdk_sys::SHIM_RSS_UDP | dpdk_sys::SHIM_RSS_TCP)
            & caps.flow_type_rss_offloads;
        let mut rss = RssUse::choose(cfg, &caps, rss_hf);
        let (id, nrx, ntx) = (self.inner.id, cfg.rx_queues, cfg.tx_queues);
        let conf = loop {
            let conf = eth_conf(cfg, &caps, rss, rss_hf);
            // SAFETY: valid port id, not started, no data path running (checked above); conf
            // is a fully initialised rte_eth_conf.
            let rc = unsafe { dpdk_sys::rte_eth_dev_configure(id, nrx, ntx, &conf) };
            match (rc, rss) {
                (0, _) => break conf,
                // RSS on one queue is only for the hash: a device that refuses it works
                // without, and the graph hashes in software.
                (_, RssUse::HashOnly) => rss = RssUse::Off,
                _ => return Err(self.err("rte_eth_dev_configure", rc)),
            }
        };
        // SAFETY: valid port id; socket lookup has no preconditions.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) } as u32;
        for q in 0..cfg.rx_queues {
            // SAFETY: port configured with rx_queues queues; NULL rxconf = driver defaults;
            // pool lives for the process.
            let rc = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    cfg.rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if rc != 0 {
                return Err(self.err("rte_eth_rx_queue_setup", rc));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: port configured with tx_queues queues; NULL txconf = driver defaults.
            let rc = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, cfg.tx_desc, socket, std::ptr::null())
            };
            if rc != 0 {
                return Err(self.err("rte_eth_tx_queue_setup", rc));
            }
        }
        if cfg.promiscuous {
            // SAFETY: valid port id. Some vdevs cannot do promiscuous; that is not fatal.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }
        state.configured = Some(cfg.clone());
        state.rss = rss == RssUse::Spread;
        state.offloads = (conf.rxmode.offloads, conf.txmode.offloads);
        Ok((conf.rxmode.offloads, conf.txmode.offloads))
    }

    /// Rx and tx queues configured (0, 0 before `configure`).
    pub fn queue_counts(&self) -> (u16, u16) {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state
            .configured
            .as_ref()
            .map_or((0, 0), |c| (c.rx_queues, c.tx_queues))
    }

    /// Whether rx is spread over the queues by RSS (IP/UDP/TCP hash, as far as the device
    /// hashes them), as configured.
    pub fn rss(&self) -> bool {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.rss
    }

    /// The offloads enabled, (rx, tx): those asked for that the device offers ((0, 0)
    /// before `configure`).
    pub fn offloads(&self) -> (u64, u64) {
        let state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.offloads
    }

    /// Starts the port (after `configure`).
    pub fn start(&self) -> Result<()> {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.configured.is_none() {
            return Err(DpdkError::PortConfig {
                port: self.inner.name.clone(),
                what: "start before configure".into(),
            });
        }
        // SAFETY: valid, configured port id.
        let rc = unsafe { dpdk_sys::rte_eth_dev_start(self.inner.id) };
        if rc != 0 {
            return Err(self.err("rte_eth_dev_start", rc));
        }
        state.started = true;
        Ok(())
    }

    /// Stops the port. Refused while queue handles are alive.
    pub fn stop(&self) -> Result<()> {
        self.refuse_if_queues_alive("stop the port")?;
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.started {
            // SAFETY: valid port id; no data path runs (no queue handles).
            let rc = unsafe { dpdk_sys::rte_eth_dev_stop(self.inner.id) };
            if rc != 0 {
                return Err(self.err("rte_eth_dev_stop", rc));
            }
            state.started = false;
        }
        Ok(())
    }

    /// Sets the L3 MTU.
    pub fn set_mtu(&self, mtu: u16) -> Result<()> {
        // SAFETY: valid port id.
        let rc = unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.inner.id, mtu) };
        if rc != 0 {
            return Err(self.err("rte_eth_dev_set_mtu", rc));
        }
        Ok(())
    }

    /// Current L3 MTU.
    pub fn mtu(&self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.inner.id, &mut mtu) };
        if rc != 0 {
            return Err(self.err("rte_eth_dev_get_mtu", rc));
        }
        Ok(mtu)
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(self.inner.id, &mut addr) };
        if rc != 0 {
            return Err(self.err("rte_eth_macaddr_get", rc));
        }
        Ok(addr.addr_bytes)
    }

    /// Link state without waiting.
    pub fn link(&self) -> Result<LinkState> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.inner.id, &mut link) };
        if rc != 0 {
            return Err(self.err("rte_eth_link_get_nowait", rc));
        }
        Ok(LinkState {
            up: link.link_status() as u32 == dpdk_sys::RTE_ETH_LINK_UP,
            speed_mbps: link.link_speed,
            full_duplex: link.link_duplex() != 0,
        })
    }

    /// Basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.inner.id, &mut s) };
        if rc != 0 {
            return Err(self.err("rte_eth_stats_get", rc));
        }
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Extended counters (driver-specific names).
    pub fn xstats(&self) -> Result<Vec<XStat>> {
        let id = self.inner.id;
        // SAFETY: NULL/0 asks for the count only.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(self.err("rte_eth_xstats_get_names", n));
        }
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n as usize];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n as usize];
        // SAFETY: names has room for n entries.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
        if got < 0 {
            return Err(self.err("rte_eth_xstats_get_names", got));
        }
        // SAFETY: vals has room for n entries.
        let gotv = unsafe { dpdk_sys::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32) };
        if gotv < 0 {
            return Err(self.err("rte_eth_xstats_get", gotv));
        }
        let count = (got.min(gotv)) as usize;
        Ok(vals[..count]
            .iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: the driver wrote a NUL-terminated name into the fixed array.
                let s = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                Some(XStat {
                    name: s.to_string_lossy().into_owned(),
                    value: v.value,
                })
            })
            .collect())
    }

    fn take(&self, tx: bool, queue: u16) -> Result<()> {
        let cfg = self
            .inner
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .configured
            .clone();
        let n = cfg
            .map(|c| if tx { c.tx_queues } else { c.rx_queues })
            .unwrap_or(0);
        if queue >= n {
            return Err(DpdkError::PortConfig {
                port: self.inner.name.clone(),
                what: format!(
                    "{} queue {queue} is not configured ({n} configured)",
                    if tx { "tx" } else { "rx" }
                ),
            });
        }
        let bits = if tx {
            &self.inner.tx_taken
        } else {
            &self.inner.rx_taken
        };
        let bit = 1u64 << queue;
        if bits.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            return Err(DpdkError::QueueTaken {
                port: self.inner.name.clone(),
                queue,
            });
        }
        self.inner.handles.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Takes the handle of rx queue `queue` (once; it comes back when the handle drops).
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue> {
        self.take(false, queue)?;
        Ok(RxQueue {
            port: self.inner.clone(),
            id: self.inner.id,
            queue,
        })
    }

    /// Takes the handle of tx queue `queue` (once; it comes back when the handle drops).
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue> {
        self.take(true, queue)?;
        Ok(TxQueue {
            port: self.inner.clone(),
            id: self.inner.id,
            queue,
        })
    }

    /// Queue handles currently alive.
    pub fn queue_handles(&self) -> usize {
        self.inner.handles.load(Ordering::Acquire)
    }
}

fn release(inner: &PortInner, tx: bool, queue: u16) {
    let bits = if tx { &inner.tx_taken } else { &inner.rx_taken };
    bits.fetch_and(!(1u64 << queue), Ordering::AcqRel);
    inner.handles.fetch_sub(1, Ordering::AcqRel);
}

/// Receive side of one queue. Owned by one thread at a time (`Send`, not `Sync`).
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortInner>,
    id: u16,
    queue: u16,
}

impl RxQueue {
    /// Receives up to the burst's free space; returns how many mbufs were added at its end.
    #[inline(always)]
    pub fn rx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> u16 {
        let (ptr, room) = burst.spare_ptrs();
        if room == 0 {
            return 0;
        }
        // SAFETY: the only user of (port, queue) (taken once, &mut self), port kept open by us;
        // ptr has room for `room` mbuf pointers, which the driver writes and we then own.
        let n = unsafe { dpdk_sys::shim_rte_eth_rx_burst(self.id, self.queue, ptr, room) };
        burst.commit(n);
        n
    }

    /// Raw burst into `ptr` (room for `room` pointers).
    ///
    /// # Safety
    /// `ptr` must be valid for writing `room` mbuf pointers; the caller owns what is written.
    #[inline(always)]
    pub(crate) unsafe fn rx_raw(&mut self, ptr: *mut *mut dpdk_sys::rte_mbuf, room: u16) -> u16 {
        // SAFETY: exclusive use of the queue (&mut self); the caller vouches for ptr.
        unsafe { dpdk_sys::shim_rte_eth_rx_burst(self.id, self.queue, ptr, room) }
    }

    pub fn port_id(&self) -> u16 {
        self.id
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    pub fn port_name(&self) -> &str {
        &self.port.name
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        release(&self.port, false, self.queue);
    }
}

/// Transmit side of one queue. Owned by one thread at a time (`Send`, not `Sync`).
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<PortInner>,
    id: u16,
    queue: u16,
}

impl TxQueue {
    /// Transmits from the front of the burst. Sent mbufs now belong to the driver and are
    /// removed from the burst; those the driver did not take stay in it, in order, for the
    /// caller to retry or drop. Returns how many were sent.
    #[inline(always)]
    pub fn tx_burst<const N: usize>(&mut self, burst: &mut MbufBurst<N>) -> u16 {
        let len = burst.len() as u16;
        if len == 0 {
            return 0;
        }
        let ptrs = burst.ptrs_mut();
        // SAFETY: exclusive use of (port, queue) as in rx_burst; the first len pointers are
        // owned mbufs; the driver takes ownership of the first n it returns.
        let n = unsafe { dpdk_sys::shim_rte_eth_tx_burst(self.id, self.queue, ptrs, len) };
        burst.consume_front(n as usize);
        n
    }

    /// Raw burst of `len` mbufs at `ptr`; the driver owns the first n returned.
    ///
    /// # Safety
    /// `ptr` must point at `len` owned mbuf pointers; the caller must forget the first n.
    #[inline(always)]
    pub(crate) unsafe fn tx_raw(&mut self, ptr: *mut *mut dpdk_sys::rte_mbuf, len: u16) -> u16 {
        // SAFETY: exclusive use of the queue (&mut self); the caller vouches for ptr.
        unsafe { dpdk_sys::shim_rte_eth_tx_burst(self.id, self.queue, ptr, len) }
    }

    pub fn port_id(&self) -> u16 {
        self.id
    }

    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    pub fn port_name(&self) -> &str {
        &self.port.name
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        release(&self.port, true, self.queue);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses_are_recognised() {
        assert!(is_pci_address("0000:3b:02.1"));
        assert!(is_pci_address("3b:02.1"));
        assert!(!is_pci_address("net_null0"));
        assert!(!is_pci_address("0000:3b:02"));
        assert!(!is_pci_address("000:3b:02.1"));
        assert!(!is_pci_address("0000:3b:02.10"));
    }

    #[test]
    fn device_name_is_devargs_up_to_first_comma() {
        assert_eq!(device_name("net_af_packet0,iface=veth0"), "net_af_packet0");
        assert_eq!(device_name("0000:3b:02.1"), "0000:3b:02.1");
    }

    /// A VF as iavf or mlx5 describes itself: RSS over IP/UDP/TCP, the RSS hash offload.
    fn vf_caps() -> DevCaps {
        DevCaps {
            rx_offload_capa: offload::RX_IPV4_CKSUM | offload::RX_RSS_HASH,
            flow_type_rss_offloads: dpdk_sys::SHIM_RSS_IP | dpdk_sys::SHIM_RSS_UDP,
            ..DevCaps::default()
        }
    }

    #[test]
    fn one_queue_takes_rss_for_the_hash_only_when_the_device_hands_it_over() {
        let want_hash = PortConfig {
            rx_offloads: offload::RX_RSS_HASH,
            ..PortConfig::default()
        };
        let caps = vf_caps();
        let hf = caps.flow_type_rss_offloads;
        assert_eq!(RssUse::choose(&want_hash, &caps, hf), RssUse::HashOnly);
        let conf = eth_conf(&want_hash, &caps, RssUse::HashOnly, hf);
        assert_eq!(conf.rxmode.mq_mode, dpdk_sys::RTE_ETH_MQ_RX_RSS);
        assert_eq!(conf.rx_adv_conf.rss_conf.rss_hf, hf);
        assert_eq!(conf.rxmode.offloads, offload::RX_RSS_HASH);

        // net_null and net_tap hash flow types but write no hash: RSS stays off, and so
        // does the offload (the ethdev layer refuses it without RSS).
        let no_offload = DevCaps {
            rx_offload_capa: offload::RX_IPV4_CKSUM,
            ..vf_caps()
        };
        assert_eq!(RssUse::choose(&want_hash, &no_offload, hf), RssUse::Off);
        // Not asked for the hash, RSS not wanted, or no flow type hashed: off.
        let plain = PortConfig::default();
        assert_eq!(RssUse::choose(&plain, &caps, hf), RssUse::Off);
        let no_rss = PortConfig {
            rss: false,
            ..want_hash.clone()
        };
        assert_eq!(RssUse::choose(&no_rss, &caps, hf), RssUse::Off);
        assert_eq!(RssUse::choose(&want_hash, &caps, 0), RssUse::Off);
        let off = eth_conf(&want_hash, &caps, RssUse::Off, hf);
        assert_eq!(off.rxmode.mq_mode, dpdk_sys::RTE_ETH_MQ_RX_NONE);
        assert_eq!(off.rxmode.offloads & offload::RX_RSS_HASH, 0);
    }

    #[test]
    fn several_queues_are_spread_whether_or_not_the_hash_is_handed_over() {
        let cfg = PortConfig {
            rx_queues: 4,
            ..PortConfig::default()
        };
        let caps = DevCaps {
            rx_offload_capa: 0,
            ..vf_caps()
        };
        assert_eq!(
            RssUse::choose(&cfg, &caps, caps.flow_type_rss_offloads),
            RssUse::Spread
        );
    }
}
