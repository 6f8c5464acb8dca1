//! The dataplane's TOML configuration: parsed strictly (unknown keys are errors) and validated
//! as a whole before anything is touched, so a bad file changes nothing and says what and where.
//!
//! ```toml
//! [eal]
//! cores = "0-1"                 # first core = main/control, the rest = workers
//!                               # ("0@0,1@1,2@1": lcore@cpu, several lcores on one CPU)
//! args = ["--no-pci", "--file-prefix=dp0"]
//! [[port]]
//! name = "left"
//! device = "net_af_packet0,iface=veth-l"
//! [[xconnect]]
//! ports = ["left", "right"]
//! ```

use dp_net::wire::VXLAN_DEFAULT_TUNNEL_MTU;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::dpdk::MAX_QUEUES;
use dp_net::fwd::{Control, Hops, IfIndex, TxCaps, VxlanTunnel};
use dp_net::ip4::FibConfig;
use dp_net::rcu::Domain;
use serde::Deserialize;
use smallvec::SmallVec;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub eal: EalConfig,
    #[serde(default)]
    pub mempool: MempoolConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default, rename = "port")]
    pub ports: Vec<PortEntry>,
    #[serde(default, rename = "xconnect")]
    pub xconnects: Vec<XconnectEntry>,
    #[serde(default, rename = "tunnel")]
    pub tunnels: Vec<TunnelEntry>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RouteConfig>,
    /// Files of routes for tables too big for `[[route]]`: one route per line,
    /// `PREFIX via GW [via GW]... [dev NAME]` (several gateways: ECMP) or `PREFIX dev NAME`;
    /// `#` starts a comment. Relative paths are from the config file's folder. A top-level
    /// key: it goes before the first `[table]`. (1M routes as `[[route]]` tables take about
    /// 2 GB of memory to parse; as a file, the whole check takes 180 MB.)
    #[serde(default, rename = "route-files")]
    pub route_files: Vec<std::path::PathBuf>,
    /// The routes of `route_files`, read by [`Config::parse`].
    #[serde(skip)]
    pub file_routes: Vec<FileRoute>,
    #[serde(default, rename = "neighbor")]
    pub neighbors: Vec<NeighborEntry>,
    #[serde(default)]
    pub fib: FibSection,
    #[serde(default)]
    pub arp: ArpSection,
    #[serde(default)]
    pub control: ControlSection,
}

/// `[arp]`: how long learned neighbors live and how many there may be. Static
/// `[[neighbor]]` entries never age and do not count.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArpSection {
    /// Seconds a learned neighbor may go without answering one of our ARP requests before
    /// it is probed (as long as it answers, it stays, and traffic to it is never held up);
    /// 0: learned neighbors never age.
    pub age_secs: u32,
    /// Probes (broadcast who-has), `probe-interval-ms` apart, before an entry nobody
    /// answered is removed. 0: removed as soon as it is `age-secs` old.
    pub probes: u32,
    pub probe_interval_ms: u32,
    /// Learned neighbors at most: past it, a new neighbor is not learned (counted in
    /// `dataplane_neighbor_learns_refused_total`) until entries age out.
    pub max_neighbors: u32,
}

impl Default for ArpSection {
    /// The control plane's own defaults ([`dp_net::arp::NeighborPolicy::default`]).
    fn default() -> Self {
        let p = dp_net::arp::NeighborPolicy::default();
        ArpSection {
            age_secs: p.age.map_or(0, |a| a.as_secs() as u32),
            probes: p.probes,
            probe_interval_ms: p.probe_interval.as_millis() as u32,
            max_neighbors: p.max_learned as u32,
        }
    }
}

impl ArpSection {
    /// What is wrong with these values, as (field, message).
    fn problem(&self) -> Option<(String, String)> {
        let (field, msg) = if self.probes > 10 {
            ("probes", format!("{} probes: at most 10", self.probes))
        } else if !(10..=60_000).contains(&self.probe_interval_ms) {
            (
                "probe-interval-ms",
                format!("{} ms is outside 10..=60000", self.probe_interval_ms),
            )
        } else if self.max_neighbors == 0 {
            ("max-neighbors", "must be at least 1".to_string())
        } else {
            return None;
        };
        Some((format!("arp.{field}"), msg))
    }

    /// The policy the control plane applies.
    pub fn policy(&self) -> dp_net::arp::NeighborPolicy {
        dp_net::arp::NeighborPolicy {
            age: (self.age_secs > 0).then(|| Duration::from_secs(self.age_secs.into())),
            probes: self.probes,
            probe_interval: Duration::from_millis(self.probe_interval_ms.into()),
            max_learned: self.max_neighbors as usize,
        }
    }
}

/// `[control]`: the API socket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ControlSection {
    /// The API's unix socket (created owner-only; its directory is created if missing).
    #[serde(default = "default_socket")]
    pub socket: std::path::PathBuf,
    /// Prometheus exposition address (`"127.0.0.1:9100"`); off when absent.
    #[serde(default)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Where ports and routes made through the API are kept, so they come back when the
    /// dataplane restarts (pods reconnect without operator action); off when absent.
    #[serde(default)]
    pub state_file: Option<std::path::PathBuf>,
}

fn default_socket() -> std::path::PathBuf {
    "/run/dataplane/api.sock".into()
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: default_socket(),
            metrics: None,
            state_file: None,
        }
    }
}

/// `[fib]`: IPv4 FIB sizing.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FibSection {
    #[serde(default = "default_max_routes")]
    pub max_routes: u32,
    /// Groups of 256 entries for prefixes longer than /24 (1 KiB each).
    #[serde(default = "default_tbl8")]
    pub tbl8_groups: u32,
}

fn default_max_routes() -> u32 {
    1 << 20
}

fn default_tbl8() -> u32 {
    8192
}

impl Default for FibSection {
    fn default() -> Self {
        FibSection {
            max_routes: default_max_routes(),
            tbl8_groups: default_tbl8(),
        }
    }
}

/// `[[tunnel]]`: a VXLAN tunnel interface, point-to-point to one remote VTEP.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TunnelEntry {
    pub name: String,
    pub vni: u32,
    pub local: String,
    pub remote: String,
    #[serde(default = "default_vxlan_port")]
    pub port: u16,
    #[serde(default)]
    pub address: Option<String>,
    /// Default: 1450 (a 1500-byte underlay minus the 50 bytes VXLAN adds).
    #[serde(default)]
    pub mtu: Option<u16>,
}

fn default_vxlan_port() -> u16 {
    4789
}

/// One next hop or several (ECMP).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// `[[route]]`: a prefix through one or more gateways (`via`, several = ECMP), through a
/// port or tunnel alone (`dev`: the destination is on that link, resolved by ARP, as for a
/// pod's /32 or a point-to-point link), or both (each gateway on that interface).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub prefix: String,
    #[serde(default)]
    pub via: Option<OneOrMany>,
    #[serde(default)]
    pub dev: Option<String>,
}

impl RouteConfig {
    /// The next hops; errors are (field, message).
    pub fn hops(&self) -> Result<NextHops, (&'static str, String)> {
        let via = match &self.via {
            Some(v) => v
                .items()
                .into_iter()
                .map(parse_ip)
                .collect::<Result<Gateways, _>>()
                .map_err(|m| (".via", m))?,
            None => Gateways::new(),
        };
        NextHops::new(via, self.dev.as_deref()).map_err(|m| ("", m))
    }
}

/// A configured route's next hops: gateways (several = ECMP), an interface by name, or both
/// (each gateway on that interface). Never neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHops {
    via: Gateways,
    dev: Option<Box<str>>,
}

/// A route's gateways, two inline: a million file routes make no million small allocations
/// (neither kept nor while their lines are read).
pub type Gateways = SmallVec<[Ipv4Addr; 2]>;

impl NextHops {
    /// Refuses a route with neither gateways nor an interface.
    pub fn new(via: Gateways, dev: Option<&str>) -> Result<NextHops, String> {
        if via.is_empty() && dev.is_none() {
            return Err(
                "no next hop: give `via` (gateways), `dev` (a port or tunnel), or both".into(),
            );
        }
        Ok(NextHops {
            via,
            dev: dev.map(Box::from),
        })
    }

    /// The gateways.
    pub fn via(&self) -> &[Ipv4Addr] {
        &self.via
    }

    /// The interface's name.
    pub fn dev(&self) -> Option<&str> {
        self.dev.as_deref()
    }

    /// Adds route `prefix/len` through these hops to `control`, the interface looked up by
    /// name. Errors are (field, message): `.dev` for an interface that does not exist.
    pub fn add_route(
        &self,
        control: &mut Control,
        prefix: Ipv4Addr,
        len: u8,
    ) -> Result<(), (&'static str, String)> {
        let dev = match self.dev() {
            Some(name) => Some(
                control
                    .iface(name)
                    .map_err(|e| (".dev", format!("route {prefix}/{len}: {e}")))?
                    .index,
            ),
            None => None,
        };
        let hops: Hops = match self.via.as_slice() {
            [] => [(None, dev)].into_iter().collect(),
            via => via.iter().map(|&gw| (Some(gw), dev)).collect(),
        };
        control
            .add_route_hops(prefix, len, &hops)
            .map_err(|e| ("", e.to_string()))
    }
}

/// A route read from one of `route-files`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRoute {
    /// Which of `route-files` (its index) and the line, from 1: for errors.
    pub file: usize,
    pub line: usize,
    pub prefix: Ipv4Addr,
    pub len: u8,
    pub hops: NextHops,
}

/// `route-files[i] (PATH)`, route file `i` at `path` as configured: where its errors are.
fn route_file_place(i: usize, path: &Path) -> String {
    format!("route-files[{i}] ({})", path.display())
}

/// The syntax of a route file's line, for errors.
const ROUTE_LINE: &str = "`PREFIX via GATEWAY [via GATEWAY]... [dev NAME]` or `PREFIX dev NAME`";

/// One line of a route file: `None` for a blank or comment line.
fn parse_route_line(line: &str) -> Result<Option<(Ipv4Addr, u8, NextHops)>, String> {
    let line = line.split('#').next().unwrap_or_default();
    let mut words = line.split_whitespace();
    let Some(prefix) = words.next() else {
        return Ok(None);
    };
    let (prefix, len) = parse_cidr(prefix)?;
    let mut via = Gateways::new();
    let mut dev = None;
    while let Some(w) = words.next() {
        match w {
            "via" => via.push(parse_ip(words.next().ok_or("`via` without a gateway")?)?),
            "dev" if dev.is_some() => return Err("`dev` given twice".into()),
            "dev" => dev = Some(words.next().ok_or("`dev` without an interface name")?),
            _ => return Err(format!("`{w}`: expected `via GATEWAY` or `dev NAME`")),
        }
    }
    let hops =
        NextHops::new(via, dev).map_err(|_| format!("no next hop: a line is {ROUTE_LINE}"))?;
    Ok(Some((prefix, len, hops)))
}

/// `[[neighbor]]`: a static ARP entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeighborEntry {
    /// Port or tunnel name.
    pub interface: String,
    pub ip: String,
    pub mac: String,
}

/// `[eal]`: which cores and which extra EAL arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Core list (`"0-1"`, `"0,2-3"`): the first is the main (control) core, the rest run
    /// workers. An entry `L@C` runs lcore L on CPU C (`"0@0,1@1,2@1"`: two workers time-share
    /// CPU 1), to try several workers on a small machine; such a run is oversubscribed.
    pub cores: String,
    /// Extra EAL arguments, passed as given (`--no-pci`, `--vdev=...`, `--file-prefix=...`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// `[mempool]`: the packet-buffer pool.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MempoolConfig {
    /// Number of mbufs; 0 = sized from the ports.
    #[serde(default)]
    pub mbufs: u32,
    #[serde(default = "default_cache")]
    pub cache: u32,
    /// The largest MTU any port may have, configured here or added through the API later:
    /// each mbuf holds a whole frame of it (jumbo frames need this; a frame longer than one
    /// mbuf is dropped). Default: the largest configured port MTU, and at least 1500.
    #[serde(default)]
    pub max_mtu: Option<u16>,
}

fn default_cache() -> u32 {
    256
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            mbufs: 0,
            cache: default_cache(),
            max_mtu: None,
        }
    }
}

/// `[worker]`: how workers poll, and what they may send on their own.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkerConfig {
    /// Spin without ever sleeping (benchmarks). By default an idle worker backs off with
    /// short, ramping sleeps so a quiet node does not burn its cores.
    #[serde(default)]
    pub poll_mode: bool,
    /// ICMP errors (time exceeded, fragmentation needed) each worker sends at most, a
    /// second on average (RFC 1812 4.3.2.8; Linux's `icmp_msgs_per_sec` is 1000). The
    /// packets over it are dropped, counted. 0: none are sent.
    #[serde(default = "default_icmp_errors_per_sec")]
    pub icmp_errors_per_sec: u32,
    /// How many of them a worker may send at once after a quiet spell (Linux's
    /// `icmp_msgs_burst`: 50).
    #[serde(default = "default_icmp_errors_burst")]
    pub icmp_errors_burst: u32,
}

fn default_icmp_errors_per_sec() -> u32 {
    1000
}

fn default_icmp_errors_burst() -> u32 {
    50
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_mode: false,
            icmp_errors_per_sec: default_icmp_errors_per_sec(),
            icmp_errors_burst: default_icmp_errors_burst(),
        }
    }
}

/// `[[port]]`: one DPDK port.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortEntry {
    pub name: String,
    /// A PCI address (`0000:3b:02.1`) or a vdev string (`net_af_packet0,iface=veth0`).
    pub device: String,
    #[serde(default)]
    pub mtu: Option<u16>,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// Rx queues of a routed port; default: one per worker, capped by what the device has.
    #[serde(default)]
    pub rx_queues: Option<u16>,
    /// `a.b.c.d/len`: makes the port a routed interface.
    #[serde(default)]
    pub address: Option<String>,
}

fn default_desc() -> u16 {
    1024
}

/// `[[xconnect]]`: an L2 cross-connect, both ways, between two ports.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct XconnectEntry {
    pub ports: [String; 2],
}

/// A configuration error: where (file, line and column when known, or the config path of
/// the offending value) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub location: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{}: {}: {}", self.file, loc, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            location: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses and validates `text` (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let location = e.span().map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before
                    .rfind('\n')
                    .map_or(before.len(), |nl| before.len() - nl - 1)
                    + 1;
                format!("line {line}, column {col}")
            });
            // toml's message can span lines; the first line is the whole story.
            let message = e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string();
            ConfigError {
                file: file.to_string(),
                location,
                message,
            }
        })?;
        cfg.read_route_files(Path::new(file).parent())
            .map_err(|(location, message)| ConfigError {
                file: file.to_string(),
                location: Some(location),
                message,
            })?;
        cfg.validate().map_err(|(location, message)| ConfigError {
            file: file.to_string(),
            location: Some(location),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads `route_files` (relative to `dir`, the config file's folder) into
    /// `file_routes`. Errors are (where, message).
    fn read_route_files(&mut self, dir: Option<&Path>) -> Result<(), (String, String)> {
        use std::io::BufRead;
        for (i, path) in self.route_files.iter().enumerate() {
            let full = match dir {
                Some(d) if path.is_relative() => d.join(path),
                _ => path.clone(),
            };
            // The place as configured, as apply's errors give it; the path read, in the
            // message.
            let at = route_file_place(i, path);
            let unreadable =
                |e: std::io::Error| (at.clone(), format!("cannot read {}: {e}", full.display()));
            let f = std::fs::File::open(&full).map_err(unreadable)?;
            for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
                let line = line.map_err(unreadable)?;
                let route =
                    parse_route_line(&line).map_err(|m| (format!("{at} line {}", n + 1), m))?;
                if let Some((prefix, len, hops)) = route {
                    self.file_routes.push(FileRoute {
                        file: i,
                        line: n + 1,
                        prefix,
                        len,
                        hops,
                    });
                }
            }
        }
        Ok(())
    }

    /// Where route `r` of `file_routes` came from, for errors.
    pub fn file_route_location(&self, r: &FileRoute) -> String {
        let path = self.route_files.get(r.file).map_or(Path::new(""), |p| p);
        format!("{} line {}", route_file_place(r.file, path), r.line)
    }

    /// Cross-field checks. Errors are (config path, message).
    fn validate(&self) -> Result<(), (String, String)> {
        let cores = resolve_lcores(&self.eal.cores, allowed_cpus())
            .map_err(|m| ("eal.cores".to_string(), m))?;
        if cores.len() < 2 {
            let what = if self.eal.cores.trim() == "auto" {
                format!(
                    "`auto`: this process may run on {} CPU(s) ({})",
                    cores.len(),
                    cores
                        .iter()
                        .map(|l| l.cpu.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            } else {
                format!("`{}` names {} core(s)", self.eal.cores, cores.len())
            };
            return Err((
                "eal.cores".into(),
                format!(
                    "{what}; at least 2 are needed (the first runs the control plane, the others \
                     run workers)"
                ),
            ));
        }
        for a in &self.eal.args {
            let flag = a.split('=').next().unwrap_or(a);
            if matches!(flag, "-l" | "--lcores" | "-c" | "--main-lcore")
                || a.starts_with("-l") && a.len() > 2 && !a.starts_with("--")
            {
                return Err((
                    "eal.args".into(),
                    format!("`{a}`: cores are set by eal.cores, not by EAL arguments"),
                ));
            }
        }
        if let Some(m) = self.mempool.max_mtu.and_then(dp_api::mtu_problem) {
            return Err(("mempool.max-mtu".into(), m));
        }
        if let Some(p) = self.arp.problem() {
            return Err(p);
        }
        let mut names = HashMap::new();
        let mut devices = HashMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            let at = format!("port[{i}]");
            // The API's rule, so dpctl can name every port the file makes.
            if let Some(reason) = dp_api::name_problem(&p.name) {
                return Err((format!("{at}.name"), reason));
            }
            if p.device.trim().is_empty() {
                return Err((format!("{at}.device"), "missing device".into()));
            }
            if let Some(j) = names.insert(p.name.clone(), i) {
                return Err((
                    format!("{at}.name"),
                    format!("`{}` is already the name of port[{j}]", p.name),
                ));
            }
            let dev = crate::dpdk::device_name(&p.device).to_string();
            if let Some(j) = devices.insert(dev.clone(), i) {
                return Err((
                    format!("{at}.device"),
                    format!("device `{dev}` is already used by port[{j}]"),
                ));
            }
            if p.rx_desc == 0
                || p.tx_desc == 0
                || !p.rx_desc.is_power_of_two()
                || !p.tx_desc.is_power_of_two()
            {
                return Err((
                    at.clone(),
                    "rx-desc and tx-desc must be powers of two".into(),
                ));
            }
            if let Some(m) = p.mtu.and_then(dp_api::mtu_problem) {
                return Err((format!("{at}.mtu"), m));
            }
            if let (Some(m), Some(max)) = (p.mtu, self.mempool.max_mtu)
                && m > max
            {
                return Err((
                    format!("{at}.mtu"),
                    format!(
                        "port `{}`: mtu {m} is above [mempool] max-mtu {max}, the largest \
                         frame the mbufs are sized for",
                        p.name
                    ),
                ));
            }
            if let Some(n) = p.rx_queues {
                if !(1..=MAX_QUEUES).contains(&n) {
                    return Err((
                        format!("{at}.rx-queues"),
                        format!(
                            "port `{}`: {n} rx queues is outside 1..={MAX_QUEUES}",
                            p.name
                        ),
                    ));
                }
                if n > 1 && self.is_xconnected(&p.name) {
                    return Err((
                        format!("{at}.rx-queues"),
                        format!(
                            "port `{}` is cross-connected: a cross-connect polls one rx queue",
                            p.name
                        ),
                    ));
                }
            }
        }
        let mut used = HashMap::new();
        for (i, x) in self.xconnects.iter().enumerate() {
            let at = format!("xconnect[{i}].ports");
            if x.ports[0] == x.ports[1] {
                return Err((
                    at,
                    format!("cannot cross-connect `{}` to itself", x.ports[0]),
                ));
            }
            for p in &x.ports {
                if !names.contains_key(p) {
                    return Err((at, format!("no port named `{p}`")));
                }
                if let Some(j) = used.insert(p.clone(), i) {
                    return Err((at, format!("port `{p}` is already in xconnect[{j}]")));
                }
            }
        }
        for (i, x) in self.xconnects.iter().enumerate() {
            for p in &x.ports {
                if self
                    .ports
                    .iter()
                    .any(|e| &e.name == p && e.address.is_some())
                {
                    return Err((
                        format!("xconnect[{i}].ports"),
                        format!("port `{p}` has an address: a cross-connected port is L2 only"),
                    ));
                }
            }
        }
        // Everything about addresses, tunnels, routes and neighbors is checked by applying
        // them to a scratch forwarding state: the same code the dataplane runs at startup.
        self.scratch_control().map(drop)
    }

    /// The file applied to a scratch forwarding state, with made-up ports (MAC
    /// `02:00:00:00:00:<i>`, MTU 1500): the check [`Config::parse`] makes, and what tests look
    /// into. Errors are (config path, message).
    pub fn scratch_control(&self) -> Result<Control, (String, String)> {
        let fake: Vec<PortInfo> = (0..self.ports.len())
            .map(|i| PortInfo {
                port_id: i as u16,
                mac: [2, 0, 0, 0, 0, i as u8],
                mtu: 1500,
                caps: TxCaps::default(),
            })
            .collect();
        let domain = Domain::new(1);
        let mut control = Control::new(&domain, self.fib_config())
            .map_err(|e| ("fib".to_string(), e.to_string()))?;
        apply(self, &mut control, &fake)?;
        Ok(control)
    }

    /// The FIB sizing.
    pub fn fib_config(&self) -> FibConfig {
        FibConfig {
            max_routes: self.fib.max_routes as usize,
            tbl8_groups: self.fib.tbl8_groups,
            ..FibConfig::default()
        }
    }

    /// Whether port `name` is cross-connected (L2) rather than routed.
    pub fn is_xconnected(&self, name: &str) -> bool {
        self.xconnects
            .iter()
            .any(|x| x.ports.iter().any(|p| p == name))
    }

    /// The largest MTU a port may have: `[mempool] max-mtu`, else the largest configured
    /// port MTU, at least 1500. The mbufs are sized for it
    /// ([`crate::dpdk::mbuf_data_room`]).
    pub fn max_mtu(&self) -> u16 {
        self.mempool
            .max_mtu
            .unwrap_or_else(|| self.ports.iter().filter_map(|p| p.mtu).fold(1500, u16::max))
    }

    /// The lcores and their CPUs, in lcore order (valid after `validate`); the first is the
    /// main lcore.
    pub fn lcores(&self) -> Vec<Lcore> {
        resolve_lcores(&self.eal.cores, allowed_cpus()).unwrap_or_default()
    }
}

/// An EAL lcore and the CPU it runs on (the same number unless `eal.cores` says `L@C`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lcore {
    pub id: u32,
    pub cpu: u32,
}

/// CPUs that run more than one lcore, each with its lcores: an oversubscribed run, whose
/// figures are not per-core.
pub fn shared_cpus(lcores: &[Lcore]) -> Vec<(u32, Vec<u32>)> {
    let mut by_cpu: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    for l in lcores {
        by_cpu.entry(l.cpu).or_default().push(l.id);
    }
    by_cpu.into_iter().filter(|(_, v)| v.len() > 1).collect()
}

/// What the forwarding state needs to know about a started port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortInfo {
    pub port_id: u16,
    pub mac: [u8; 6],
    pub mtu: u16,
    pub caps: TxCaps,
}

pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not ADDRESS/LENGTH (e.g. 10.0.1.1/24)"))?;
    let addr: Ipv4Addr = a
        .trim()
        .parse()
        .map_err(|_| format!("`{a}` is not an IPv4 address"))?;
    let len: u8 = l
        .trim()
        .parse()
        .map_err(|_| format!("`{l}` is not a prefix length"))?;
    if len > 32 {
        return Err(format!("prefix length {len} is over 32"));
    }
    Ok((addr, len))
}

pub fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address"))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("`{s}` is not a MAC address (aa:bb:cc:dd:ee:ff)");
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    Ok(mac)
}

/// A tunnel interface's MAC: locally administered, derived from its VNI.
pub fn tunnel_mac(vni: u32, index: usize) -> [u8; 6] {
    [
        0x02,
        0xd0,
        (vni >> 16) as u8,
        (vni >> 8) as u8,
        vni as u8,
        index as u8,
    ]
}

/// Applies ports (with `ports[i]` describing `cfg.ports[i]`), addresses, tunnels, routes and
/// neighbors to `control`, in that order. Returns the interface index of each port. Errors are
/// (config path, message).
pub fn apply(
    cfg: &Config,
    control: &mut Control,
    ports: &[PortInfo],
) -> Result<Vec<IfIndex>, (String, String)> {
    control.set_neighbor_policy(cfg.arp.policy());
    let mut idx = Vec::new();
    for (i, (p, info)) in cfg.ports.iter().zip(ports).enumerate() {
        let at = |m: String| (format!("port[{i}]"), m);
        let ix = control
            .add_port(&p.name, info.port_id, info.mac, info.mtu, info.caps)
            .map_err(|e| at(e.to_string()))?;
        idx.push(ix);
    }
    for (i, p) in cfg.ports.iter().enumerate() {
        if let Some(a) = &p.address {
            let at = |m: String| (format!("port[{i}].address"), m);
            let (addr, len) = parse_cidr(a).map_err(at)?;
            control
                .add_address(&p.name, addr, len)
                .map_err(|e| at(e.to_string()))?;
        }
    }
    for (i, t) in cfg.tunnels.iter().enumerate() {
        let at = |field: &str, m: String| (format!("tunnel[{i}]{field}"), m);
        let local = parse_ip(&t.local).map_err(|m| at(".local", m))?;
        let remote = parse_ip(&t.remote).map_err(|m| at(".remote", m))?;
        let tunnel = VxlanTunnel {
            vni: t.vni,
            local,
            remote,
            udp_port: t.port,
        };
        let mtu = t.mtu.unwrap_or(VXLAN_DEFAULT_TUNNEL_MTU);
        control
            .add_vxlan(&t.name, tunnel, tunnel_mac(t.vni, i), mtu)
            .map_err(|e| at("", e.to_string()))?;
        if let Some(a) = &t.address {
            let (addr, len) = parse_cidr(a).map_err(|m| at(".address", m))?;
            control
                .add_address(&t.name, addr, len)
                .map_err(|e| at(".address", e.to_string()))?;
        }
    }
    for (i, r) in cfg.routes.iter().enumerate() {
        let at = |field: &str, m: String| (format!("route[{i}]{field}"), m);
        let (prefix, len) = parse_cidr(&r.prefix).map_err(|m| at(".prefix", m))?;
        let hops = r.hops().map_err(|(f, m)| at(f, m))?;
        hops.add_route(control, prefix, len)
            .map_err(|(f, m)| at(f, m))?;
    }
    for r in &cfg.file_routes {
        r.hops
            .add_route(control, r.prefix, r.len)
            .map_err(|(_, m)| (cfg.file_route_location(r), m))?;
    }
    for (i, n) in cfg.neighbors.iter().enumerate() {
        let at = |field: &str, m: String| (format!("neighbor[{i}]{field}"), m);
        let iface = control
            .iface(&n.interface)
            .map_err(|e| at(".interface", e.to_string()))?;
        let ip = parse_ip(&n.ip).map_err(|m| at(".ip", m))?;
        let mac = parse_mac(&n.mac).map_err(|m| at(".mac", m))?;
        control
            .set_neighbor(iface.index, ip, mac, true)
            .map_err(|e| at("", e.to_string()))?;
    }
    Ok(idx)
}

/// The lcores `eal.cores` means, in ascending lcore order: `auto` for the CPUs this process
/// may run on (what the kubelet's static CPU manager gives a Guaranteed pod), or a core list
/// whose entries may be `L@C` (lcore L on CPU C, DPDK's `--lcores` form).
pub fn resolve_lcores(spec: &str, allowed: &BTreeSet<u32>) -> Result<Vec<Lcore>, String> {
    if spec.trim() == "auto" {
        return Ok(allowed.iter().map(|&c| Lcore { id: c, cpu: c }).collect());
    }
    let mut out = std::collections::BTreeMap::new();
    for part in spec.split(',').map(str::trim) {
        let bad = || {
            format!(
                "`{spec}` is not a core list (expected e.g. \"0-1\", \"0,2-3\" or \"0@0,1@1,2@1\")"
            )
        };
        let items: Vec<Lcore> = match part.split_once('@') {
            Some((l, c)) => {
                let id = l.trim().parse::<u32>().map_err(|_| bad())?;
                let cpu = c.trim().parse::<u32>().map_err(|_| bad())?;
                if id >= 1024 || cpu >= 1024 {
                    return Err(bad());
                }
                vec![Lcore { id, cpu }]
            }
            None => parse_core_list(part)
                .map_err(|_| bad())?
                .into_iter()
                .map(|c| Lcore { id: c, cpu: c })
                .collect(),
        };
        for l in items {
            if out.insert(l.id, l).is_some() {
                return Err(format!("`{spec}`: lcore {} is listed twice", l.id));
            }
        }
    }
    Ok(out.into_values().collect())
}

/// Parses a DPDK-style core list: `"0-3"`, `"0,2,4-5"`.
pub fn parse_core_list(s: &str) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim) {
        let bad = || format!("`{s}` is not a core list (expected e.g. \"0-1\" or \"0,2-3\")");
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<u32>().map_err(|_| bad())?,
                b.trim().parse::<u32>().map_err(|_| bad())?,
            ),
            None => {
                let v = part.parse::<u32>().map_err(|_| bad())?;
                (v, v)
            }
        };
        if lo > hi || hi >= 1024 {
            return Err(bad());
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// The CPUs this process may run on as it was started (from /proc/self/status
/// `Cpus_allowed_list`), read on the first call and kept: EAL init pins the main thread to the
/// main lcore's CPU, after which the file names that one CPU, and `auto` read again (a SIGHUP
/// reload) would mean a single core. The daemon's first call is in config validation, before
/// the EAL starts.
pub fn allowed_cpus() -> &'static BTreeSet<u32> {
    static CPUS: std::sync::OnceLock<BTreeSet<u32>> = std::sync::OnceLock::new();
    CPUS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .map(|v| v.trim().to_string())
            })
            .and_then(|v| parse_core_list(&v).ok())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lcore ids of `spec`.
    fn resolve_cores(spec: &str, allowed: &BTreeSet<u32>) -> Result<Vec<u32>, String> {
        Ok(resolve_lcores(spec, allowed)?
            .into_iter()
            .map(|l| l.id)
            .collect())
    }

    /// The lcore ids of a validated config.
    fn cores(c: &Config) -> Vec<u32> {
        c.lcores().into_iter().map(|l| l.id).collect()
    }

    const GOOD: &str = r#"
[eal]
cores = "0-1"
args = ["--no-pci"]
[[port]]
name = "a"
device = "net_null0"
[[port]]
name = "b"
device = "net_null1,no-rx=1"
[[xconnect]]
ports = ["a", "b"]
"#;

    fn err(text: &str) -> String {
        Config::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn good_config_parses() {
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(cores(&c), vec![0, 1]);
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0].rx_desc, 1024);
        assert!(!c.worker.poll_mode);
        assert_eq!(
            (c.worker.icmp_errors_per_sec, c.worker.icmp_errors_burst),
            (1000, 50),
            "Linux's ICMP error limits by default"
        );
        let quiet = Config::parse(
            &format!("{GOOD}\n[worker]\nicmp-errors-per-sec = 0\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(quiet.worker.icmp_errors_per_sec, 0);
        assert_eq!(quiet.worker.icmp_errors_burst, 50);
    }

    #[test]
    fn arp_aging_defaults_and_refusals() {
        use dp_net::arp::NeighborPolicy;
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(
            c.arp.policy(),
            NeighborPolicy::default(),
            "the file's defaults are the control plane's"
        );
        let never = Config::parse(&format!("{GOOD}\n[arp]\nage-secs = 0\n"), "t.toml").unwrap();
        assert_eq!(never.arp.policy().age, None);
        let quick = Config::parse(
            &format!("{GOOD}\n[arp]\nage-secs = 2\nprobes = 1\nprobe-interval-ms = 200\n"),
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            quick.arp.policy(),
            NeighborPolicy {
                age: Some(Duration::from_secs(2)),
                probes: 1,
                probe_interval: Duration::from_millis(200),
                max_learned: 50_000,
            }
        );
        for (body, at, what) in [
            ("probes = 11", "arp.probes", "at most 10"),
            (
                "probe-interval-ms = 5",
                "arp.probe-interval-ms",
                "outside 10..=60000",
            ),
            ("max-neighbors = 0", "arp.max-neighbors", "at least 1"),
            ("age = 3", "line 15", "unknown field `age`"),
        ] {
            let e = err(&format!("{GOOD}\n[arp]\n{body}\n"));
            assert!(e.contains(at) && e.contains(what), "{body}: {e}");
        }
    }

    #[test]
    fn mbufs_hold_a_whole_frame_of_the_largest_mtu() {
        use crate::dpdk::{max_mtu_for, mbuf_data_room};
        assert_eq!(mbuf_data_room(1500), 2176, "DPDK's default mbuf");
        assert_eq!(mbuf_data_room(2026), 2176);
        assert_eq!(max_mtu_for(2176), 2026);
        assert_eq!(mbuf_data_room(9000), 9152);
        for mtu in dp_api::MTU_RANGE {
            let room = mbuf_data_room(mtu);
            assert!(max_mtu_for(room) >= mtu, "mtu {mtu}: data room {room}");
            assert_eq!(
                room % 64,
                0,
                "mtu {mtu}: data room {room} is whole cache lines"
            );
        }
        let c = Config::parse(GOOD, "t.toml").unwrap();
        assert_eq!(c.max_mtu(), 1500, "no port asks for more");
        let jumbo = GOOD.replacen("name = \"a\"", "name = \"a\"\nmtu = 9000", 1);
        assert_eq!(Config::parse(&jumbo, "t.toml").unwrap().max_mtu(), 9000);
        let room = format!("[mempool]\nmax-mtu = 9216\n{GOOD}");
        assert_eq!(Config::parse(&room, "t.toml").unwrap().max_mtu(), 9216);
        let short = format!("[mempool]\nmax-mtu = 1500\n{jumbo}");
        let e = err(&short);
        assert!(
            e.contains("port[0].mtu") && e.contains("above [mempool] max-mtu 1500"),
            "{e}"
        );
        let e = err(&format!("[mempool]\nmax-mtu = 20000\n{GOOD}"));
        assert!(e.contains("mempool.max-mtu") && e.contains("20000"), "{e}");
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let e = err(&GOOD.replace("name = \"a\"", "name = \"a\"\nspeed = 10"));
        assert!(
            e.starts_with("t.toml: line 7, column 1: unknown field `speed`"),
            "{e}"
        );
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let e = err("[eal\ncores = 1");
        assert!(e.starts_with("t.toml: line 1,"), "{e}");
    }

    #[test]
    fn missing_device_is_refused() {
        let e = err("[eal]\ncores = \"0-1\"\n[[port]]\nname = \"a\"\n");
        assert!(
            e.contains("line 3") && e.contains("missing field `device`"),
            "{e}"
        );
        let e = err("[eal]\ncores = \"0-1\"\n[[port]]\nname = \"a\"\ndevice = \" \"\n");
        assert_eq!(e, "t.toml: port[0].device: missing device");
    }

    #[test]
    fn cross_field_errors_say_where() {
        assert_eq!(
            err(&GOOD.replace("[\"a\", \"b\"]", "[\"a\", \"c\"]")),
            "t.toml: xconnect[0].ports: no port named `c`"
        );
        assert_eq!(
            err(&GOOD.replace("name = \"b\"", "name = \"a\"")),
            "t.toml: port[1].name: `a` is already the name of port[0]"
        );
        assert!(
            err(&GOOD.replace("net_null1,no-rx=1", "net_null0"))
                .contains("port[1].device: device `net_null0` is already used")
        );
        assert!(err(&GOOD.replace("\"0-1\"", "\"0\"")).contains("eal.cores: `0` names 1 core(s)"));
        assert!(
            err(&GOOD.replace("\"0-1\"", "\"zero\""))
                .contains("eal.cores: `zero` is not a core list")
        );
        assert!(err(&GOOD.replace("[\"--no-pci\"]", "[\"-l\", \"0-3\"]")).contains("eal.args"));
        assert!(err(&GOOD.replace("[\"a\", \"b\"]", "[\"a\", \"a\"]")).contains("to itself"));
    }

    const ROUTED: &str = r#"
[eal]
cores = "0-1"
[[port]]
name = "pod0"
device = "net_null0"
address = "10.0.1.1/24"
[[port]]
name = "uplink"
device = "net_null1"
address = "192.168.50.1/24"
[[tunnel]]
name = "vx100"
vni = 100
local = "192.168.50.1"
remote = "192.168.50.2"
address = "172.16.0.1/24"
[[route]]
prefix = "10.0.2.0/24"
via = "172.16.0.2"
[[route]]
prefix = "10.0.3.0/24"
via = ["172.16.0.2", "192.168.50.9"]
[[neighbor]]
interface = "uplink"
ip = "192.168.50.2"
mac = "02:00:00:00:50:02"
"#;

    #[test]
    fn routed_config_with_tunnel_and_ecmp_parses() {
        let c = Config::parse(ROUTED, "t.toml").unwrap();
        assert_eq!(c.tunnels[0].port, 4789);
        assert_eq!(
            c.routes[1].via.as_ref().map(OneOrMany::items),
            Some(vec!["172.16.0.2", "192.168.50.9"])
        );
    }

    /// ROUTED with `route-files = [...]` in front and `files` (name, text) written beside
    /// it in a fresh folder; returns the folder (kept alive) and the config's path.
    fn with_route_files(files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = files.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let cfg = dir.path().join("node.toml");
        let text = format!("route-files = [{}]\n{ROUTED}", names.join(", "));
        std::fs::write(&cfg, text).unwrap();
        (dir, cfg)
    }

    #[test]
    fn route_files_are_read_beside_the_config_and_applied() {
        let (_dir, path) = with_route_files(&[
            (
                "a.txt",
                "# upstream\n10.8.0.0/16 via 172.16.0.2\n\n   10.9.0.0/24 via 172.16.0.2 via 192.168.50.9  # ECMP\n",
            ),
            ("b.txt", "10.7.0.0/16 via 192.168.50.9\n"),
        ]);
        let c = Config::load(&path).unwrap();
        let got: Vec<_> = c
            .file_routes
            .iter()
            .map(|r| (r.file, r.line, r.prefix, r.len, r.hops.via().len()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 2, Ipv4Addr::new(10, 8, 0, 0), 16, 1),
                (0, 4, Ipv4Addr::new(10, 9, 0, 0), 24, 2),
                (1, 1, Ipv4Addr::new(10, 7, 0, 0), 16, 1),
            ]
        );
        let control = c.scratch_control().unwrap();
        let prefixes: Vec<(Ipv4Addr, u8)> = control.routes().map(|r| (r.prefix, r.len)).collect();
        for p in [(10, 8, 16), (10, 9, 24), (10, 7, 16)] {
            let want = (Ipv4Addr::new(p.0, p.1, 0, 0), p.2);
            assert!(prefixes.contains(&want), "{want:?} in {prefixes:?}");
        }
    }

    /// A route's next hops, the interfaces by name.
    type NamedHops = Vec<(Option<Ipv4Addr>, Option<String>)>;

    /// The static (configured) routes of `control`, as (prefix, hops).
    fn static_routes(control: &Control) -> Vec<(String, NamedHops)> {
        let state = control.state();
        let name = |i: IfIndex| state.iface(i).map(|f| f.name.clone());
        let mut out: Vec<_> = control
            .routes()
            .filter(|r| r.kind == dp_net::fwd::RouteKind::Static)
            .map(|r| {
                let hops = r
                    .hops
                    .iter()
                    .map(|&(gw, dev)| (gw, dev.and_then(name)))
                    .collect();
                (format!("{}/{}", r.prefix, r.len), hops)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn routes_through_a_port_or_tunnel_by_name_are_applied() {
        let text = format!(
            "{ROUTED}[[route]]\nprefix = \"10.0.1.7/32\"\ndev = \"pod0\"\n\
             [[route]]\nprefix = \"10.0.4.0/24\"\nvia = \"192.168.50.9\"\ndev = \"uplink\"\n\
             [[route]]\nprefix = \"10.0.5.0/24\"\ndev = \"vx100\"\n"
        );
        let control = Config::parse(&text, "t.toml")
            .unwrap()
            .scratch_control()
            .unwrap();
        let dev = |d: &str| Some(d.to_string());
        let gw = |a, b, c, d| Some(Ipv4Addr::new(a, b, c, d));
        let got = static_routes(&control);
        for want in [
            ("10.0.1.7/32".to_string(), vec![(None, dev("pod0"))]),
            (
                "10.0.4.0/24".to_string(),
                vec![(gw(192, 168, 50, 9), dev("uplink"))],
            ),
            ("10.0.5.0/24".to_string(), vec![(None, dev("vx100"))]),
            ("10.0.2.0/24".to_string(), vec![(gw(172, 16, 0, 2), None)]),
        ] {
            assert!(got.contains(&want), "{want:?} in {got:?}");
        }
    }

    #[test]
    fn a_route_without_a_next_hop_or_with_an_unknown_interface_is_refused() {
        let extra = |r: &str| format!("{ROUTED}[[route]]\nprefix = \"10.0.1.7/32\"\n{r}");
        assert_eq!(
            err(&extra("")),
            "t.toml: route[2]: no next hop: give `via` (gateways), `dev` (a port or tunnel), or both"
        );
        assert_eq!(
            err(&extra("via = []\n")),
            "t.toml: route[2]: no next hop: give `via` (gateways), `dev` (a port or tunnel), or both"
        );
        assert_eq!(
            err(&extra("dev = \"pod9\"\n")),
            "t.toml: route[2].dev: route 10.0.1.7/32: no interface `pod9`"
        );
        assert_eq!(
            err(&extra("via = \"10.0.1.300\"\ndev = \"pod0\"\n")),
            format!(
                "t.toml: route[2].via: {}",
                parse_ip("10.0.1.300").unwrap_err()
            )
        );
    }

    #[test]
    fn route_file_lines_may_name_an_interface() {
        let (_dir, path) = with_route_files(&[(
            "r.txt",
            "10.0.1.7/32 dev pod0\n10.0.4.0/24 via 192.168.50.9 dev uplink # on the uplink\n",
        )]);
        let c = Config::load(&path).unwrap();
        let got = static_routes(&c.scratch_control().unwrap());
        let want_pod = (
            "10.0.1.7/32".to_string(),
            vec![(None, Some("pod0".to_string()))],
        );
        let want_gw = (
            "10.0.4.0/24".to_string(),
            vec![(
                Some(Ipv4Addr::new(192, 168, 50, 9)),
                Some("uplink".to_string()),
            )],
        );
        assert!(got.contains(&want_pod) && got.contains(&want_gw), "{got:?}");
    }

    #[test]
    fn route_file_errors_name_the_file_and_line() {
        let cases = [
            (
                "10.8.0.0/16 via 172.16.0.2\n10.8.1.0/33 via 172.16.0.2\n",
                "line 2: prefix length 33 is over 32",
            ),
            (
                "10.8.0.0/16\n",
                "line 1: no next hop: a line is `PREFIX via GATEWAY",
            ),
            (
                "10.8.0.0/16 172.16.0.2\n",
                "line 1: `172.16.0.2`: expected `via GATEWAY` or `dev NAME`",
            ),
            ("10.8.0.0/16 via\n", "line 1: `via` without a gateway"),
            (
                "10.8.0.0/16 dev\n",
                "line 1: `dev` without an interface name",
            ),
            (
                "10.8.0.0/16 dev pod0 dev uplink\n",
                "line 1: `dev` given twice",
            ),
            (
                "\n\n10.8.0.0/16 dev pod9\n",
                "line 3: route 10.8.0.0/16: no interface `pod9`",
            ),
            ("10.8.0.0/16 via 172.16.0\n", "line 1: "),
            // Read, but refused when applied: the same checks as [[route]].
            (
                "\n10.8.0.0/16 via 10.9.9.9\n",
                "line 2: route 10.8.0.0/16: next hop 10.9.9.9 is not in a connected subnet",
            ),
            (
                "10.0.2.0/24 via 172.16.0.2\n",
                "line 1: route 10.0.2.0/24 exists",
            ),
        ];
        for (text, want) in cases {
            let (_dir, path) = with_route_files(&[("r.txt", text)]);
            let e = Config::load(&path).unwrap_err().to_string();
            assert!(
                e.contains("route-files[0] (") && e.contains(want),
                "{text:?}: {e}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("node.toml");
        std::fs::write(&cfg, format!("route-files = [\"gone.txt\"]\n{ROUTED}")).unwrap();
        let e = Config::load(&cfg).unwrap_err().to_string();
        let full = dir.path().join("gone.txt");
        assert!(
            e.contains(&format!(
                "route-files[0] (gone.txt): cannot read {}: ",
                full.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn routing_errors_are_refused_with_their_place() {
        let e = err(&ROUTED.replace("via = \"172.16.0.2\"\n", "via = \"10.9.9.9\"\n"));
        assert_eq!(
            e,
            "t.toml: route[0]: route 10.0.2.0/24: next hop 10.9.9.9 is not in a connected subnet"
        );
        let e = err(&ROUTED.replace("10.0.2.0/24", "10.0.2.1/24"));
        assert!(
            e.starts_with("t.toml: route[0]: FIB: ") && e.contains("10.0.2.0/24"),
            "{e}"
        );
        let e = err(&ROUTED.replace("local = \"192.168.50.1\"", "local = \"192.168.77.1\""));
        assert_eq!(
            e,
            "t.toml: tunnel[0]: tunnel `vx100`: local address 192.168.77.1 is not one of our addresses"
        );
        let e = err(&ROUTED.replace("172.16.0.1/24", "10.0.1.9/16"));
        assert!(
            e.starts_with("t.toml: tunnel[0].address: address 10.0.1.9/16 overlaps 10.0.1.1/24"),
            "{e}"
        );
        let e = err(&ROUTED.replace("10.0.1.1/24", "10.0.1.1"));
        assert!(
            e.contains("port[0].address: `10.0.1.1` is not ADDRESS/LENGTH"),
            "{e}"
        );
        let e = err(&ROUTED.replace("10.0.1.1/24", "10.0.1.1/33"));
        assert!(
            e.contains("port[0].address: prefix length 33 is over 32"),
            "{e}"
        );
        let e = err(&ROUTED.replace("02:00:00:00:50:02", "02:00:00"));
        assert!(e.contains("neighbor[0].mac"), "{e}");
        let e = err(&ROUTED.replace("interface = \"uplink\"", "interface = \"nope\""));
        assert!(
            e.contains("neighbor[0].interface: no interface `nope`"),
            "{e}"
        );
        let e = err(&ROUTED.replace("vni = 100", "vni = 16777216"));
        assert!(
            e.contains("tunnel[0]: tunnel `vx100`: VNI 16777216 out of range"),
            "{e}"
        );
        let e = err(&ROUTED.replace("vni = 100", "vni = 100\ncolour = 1"));
        assert!(e.contains("unknown field `colour`"), "{e}");
    }

    #[test]
    fn auto_cores_come_from_the_affinity() {
        let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
        assert_eq!(
            resolve_cores("auto", &set(&[2, 5, 7])).unwrap(),
            vec![2, 5, 7]
        );
        assert_eq!(resolve_cores(" auto ", &set(&[3])).unwrap(), vec![3]);
        assert_eq!(
            resolve_cores("0-2", &set(&[9])).unwrap(),
            vec![0, 1, 2],
            "an explicit list is kept"
        );
        let c = Config::parse(&GOOD.replace("\"0-1\"", "\"auto\""), "t.toml");
        if allowed_cpus().len() >= 2 {
            assert_eq!(
                cores(&c.unwrap()),
                allowed_cpus().iter().copied().collect::<Vec<_>>()
            );
        } else {
            assert!(
                c.unwrap_err()
                    .to_string()
                    .contains("`auto`: this process may run on 1 CPU(s)")
            );
        }
    }

    #[test]
    fn lcore_maps_put_several_lcores_on_one_cpu() {
        let set = |v: &[u32]| v.iter().copied().collect::<BTreeSet<u32>>();
        let l = |id, cpu| Lcore { id, cpu };
        assert_eq!(
            resolve_lcores("0@0,1@1,2@1", &set(&[])).unwrap(),
            vec![l(0, 0), l(1, 1), l(2, 1)]
        );
        assert_eq!(
            resolve_lcores("2@1, 0-1", &set(&[])).unwrap(),
            vec![l(0, 0), l(1, 1), l(2, 1)],
            "lcore order, plain entries run on their own CPU"
        );
        assert_eq!(
            resolve_lcores("0@0,1@1,1@0", &set(&[])).unwrap_err(),
            "`0@0,1@1,1@0`: lcore 1 is listed twice"
        );
        assert!(resolve_lcores("0@x", &set(&[])).is_err());
        assert!(resolve_lcores("0@", &set(&[])).is_err());
        assert!(resolve_lcores("0@0@1", &set(&[])).is_err());
        assert_eq!(shared_cpus(&[l(0, 0), l(1, 1)]), vec![]);
        assert_eq!(
            shared_cpus(&[l(0, 0), l(1, 1), l(2, 1), l(3, 0)]),
            vec![(0, vec![0, 3]), (1, vec![1, 2])]
        );
    }

    #[test]
    fn rx_queues_are_checked_with_the_port_named() {
        let e = err(&ROUTED.replace(
            "device = \"net_null0\"",
            "device = \"net_null0\"\nrx-queues = 0",
        ));
        assert_eq!(
            e,
            "t.toml: port[0].rx-queues: port `pod0`: 0 rx queues is outside 1..=64"
        );
        let e = err(&ROUTED.replace(
            "device = \"net_null0\"",
            "device = \"net_null0\"\nrx-queues = 65",
        ));
        assert!(
            e.contains("port[0].rx-queues: port `pod0`: 65 rx queues"),
            "{e}"
        );
        let e = err(&GOOD.replace(
            "device = \"net_null0\"",
            "device = \"net_null0\"\nrx-queues = 2",
        ));
        assert_eq!(
            e,
            "t.toml: port[0].rx-queues: port `a` is cross-connected: a cross-connect polls one rx queue"
        );
        let c = Config::parse(
            &ROUTED.replace(
                "device = \"net_null0\"",
                "device = \"net_null0\"\nrx-queues = 4",
            ),
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.ports[0].rx_queues, Some(4));
        assert_eq!(c.ports[1].rx_queues, None);
    }

    #[test]
    fn core_lists() {
        assert_eq!(
            parse_core_list("0-2,5")
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            vec![0, 1, 2, 5]
        );
        assert!(parse_core_list("3-1").is_err());
        assert!(parse_core_list("").is_err());
        assert!(!allowed_cpus().is_empty());
    }
}
