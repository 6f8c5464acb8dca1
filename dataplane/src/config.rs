//! The dataplane's TOML configuration: parsed strictly (unknown keys are errors) and validated
//! as a whole before anything is touched, so a bad file changes nothing and says what and where.
//!
//! ```toml
//! [eal]
//! cores = "0-1"                 # first core = main/control, the rest = workers
//! args = ["--no-pci", "--file-prefix=dp0"]
//! [[port]]
//! name = "left"
//! device = "net_af_packet0,iface=veth-l"
//! [[xconnect]]
//! ports = ["left", "right"]
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use serde::Deserialize;

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
}

/// `[eal]`: which cores and which extra EAL arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Core list (`"0-1"`, `"0,2-3"`): the first is the main (control) core, the rest run
    /// workers.
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
}

fn default_cache() -> u32 {
    256
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            mbufs: 0,
            cache: default_cache(),
        }
    }
}

/// `[worker]`: how workers poll.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WorkerConfig {
    /// Spin without ever sleeping (benchmarks). By default an idle worker backs off with
    /// short, ramping sleeps so a quiet node does not burn its cores.
    #[serde(default)]
    pub poll_mode: bool,
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
        let cfg: Config = toml::from_str(text).map_err(|e| {
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
        cfg.validate().map_err(|(location, message)| ConfigError {
            file: file.to_string(),
            location: Some(location),
            message,
        })?;
        Ok(cfg)
    }

    /// Cross-field checks. Errors are (config path, message).
    fn validate(&self) -> Result<(), (String, String)> {
        let cores = parse_core_list(&self.eal.cores).map_err(|m| ("eal.cores".to_string(), m))?;
        if cores.len() < 2 {
            return Err((
                "eal.cores".into(),
                format!(
                    "`{}` names {} core(s); at least 2 are needed (the first runs the control \
                     plane, the others run workers)",
                    self.eal.cores,
                    cores.len()
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
        let mut names = HashMap::new();
        let mut devices = HashMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            let at = format!("port[{i}]");
            if p.name.is_empty()
                || !p
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err((
                    format!("{at}.name"),
                    format!(
                        "`{}`: a port name is 1+ characters of [A-Za-z0-9-_.]",
                        p.name
                    ),
                ));
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
            let dev = p.device.split(',').next().unwrap_or("").trim().to_string();
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
            if let Some(mtu) = p.mtu
                && !(68..=9216).contains(&mtu)
            {
                return Err((format!("{at}.mtu"), format!("{mtu} is outside 68..=9216")));
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
        Ok(())
    }

    /// The core list, parsed (valid after `validate`).
    pub fn cores(&self) -> Vec<u32> {
        parse_core_list(&self.eal.cores)
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
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

/// The CPUs this process may run on (from /proc/self/status `Cpus_allowed_list`).
pub fn allowed_cpus() -> BTreeSet<u32> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| parse_core_list(&v).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(c.cores(), vec![0, 1]);
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0].rx_desc, 1024);
        assert!(!c.worker.poll_mode);
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
