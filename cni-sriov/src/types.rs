//! CNI result types and version handling.
//!
//! The plugin speaks 1.1.0 and 1.0.0 natively and converts its results down to 0.4.0/0.3.x on
//! request. Results read from IPAM plugins and `prevResult` are parsed leniently (unknown fields
//! ignored, the old per-IP `version` field accepted) because they come from other programs.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// Every version we accept in `cniVersion`, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// Parse "a.b.c" into a comparable triple.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    let c = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((a, b, c))
}

/// Refuse versions we do not speak with code 1.
pub fn check_version(v: &str) -> Result<()> {
    if SUPPORTED_VERSIONS.contains(&v) {
        Ok(())
    } else {
        Err(Error::IncompatibleVersion(
            v.to_string(),
            SUPPORTED_VERSIONS.join(", "),
        ))
    }
}

/// True when `v` is at least `min`.
pub fn version_at_least(v: &str, min: &str) -> bool {
    match (parse_version(v), parse_version(min)) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

/// An interface of a CNI result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    /// Name (in the sandbox when `sandbox` is set).
    pub name: String,
    /// MAC address, lower-case colon form.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// MTU (1.1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Netns path for interfaces inside the sandbox.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
    /// Socket path for memif/vhost-user (1.1.0).
    #[serde(
        rename = "socketPath",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub socket_path: String,
    /// PCI address of the device (1.1.0).
    #[serde(rename = "pciID", default, skip_serializing_if = "String::is_empty")]
    pub pci_id: String,
}

/// An IP configuration of a CNI result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address in CIDR form (`10.1.2.3/24`).
    pub address: String,
    /// Gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route of a CNI result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Destination in CIDR form.
    pub dst: String,
    /// Next hop; none means the interface's gateway or on-link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// Metric (1.1.0 field, read and passed through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// The success result of ADD (current format).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    /// Version of the result.
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    /// Interfaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    /// IP configurations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// DNS, passed through from IPAM untouched.
    #[serde(default, skip_serializing_if = "is_empty_object")]
    pub dns: Value,
}

fn is_empty_object(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

impl CniResult {
    /// Parse a result of any supported version (IPAM output, `prevResult`, our cache).
    pub fn parse(v: &Value, what: &str) -> Result<Self> {
        serde_json::from_value(v.clone())
            .map_err(|e| Error::config(what, format!("not a valid CNI result: {e}")))
    }

    /// Render the result in `version`'s format. 0.3.x/0.4.0 have a per-IP `version` field and
    /// no `mtu`/`socketPath`/`pciID`; 1.0.0 and 1.1.0 share one shape (extra 1.1.0 interface
    /// fields are kept for 1.0.0 because 1.0.0 readers ignore unknown fields).
    pub fn to_version(&self, version: &str) -> Value {
        let mut r = self.clone();
        r.cni_version = version.to_string();
        let mut v = serde_json::to_value(&r).unwrap_or_else(|_| json!({}));
        if !version_at_least(version, "1.0.0") {
            if let Some(ifs) = v.get_mut("interfaces").and_then(Value::as_array_mut) {
                for i in ifs {
                    if let Some(o) = i.as_object_mut() {
                        o.remove("mtu");
                        o.remove("socketPath");
                        o.remove("pciID");
                    }
                }
            }
            if let Some(ips) = v.get_mut("ips").and_then(Value::as_array_mut) {
                for ip in ips {
                    let fam = ip
                        .get("address")
                        .and_then(Value::as_str)
                        .map(|a| if a.contains(':') { "6" } else { "4" })
                        .unwrap_or("4");
                    if let Some(o) = ip.as_object_mut() {
                        o.insert("version".into(), json!(fam));
                    }
                }
            }
            if let Some(routes) = v.get_mut("routes").and_then(Value::as_array_mut) {
                for r in routes {
                    if let Some(o) = r.as_object_mut() {
                        o.remove("priority");
                    }
                }
            }
        }
        v
    }
}

/// An IP network in CIDR form. Our own small type: we need only parse, print and containment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    /// Address (host bits kept: `10.1.2.3/24` is an address with its prefix).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl IpNet {
    /// Parse `a.b.c.d/n` or `x::y/n`; `what` names the field in errors.
    pub fn parse(s: &str, what: &str) -> Result<Self> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| Error::config(what, format!("{s:?} is not in CIDR form")))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| Error::config(what, format!("{a:?} is not an IP address")))?;
        let prefix: u8 = p
            .parse()
            .map_err(|_| Error::config(what, format!("{p:?} is not a prefix length")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(Error::config(
                what,
                format!("prefix {prefix} exceeds {max}"),
            ));
        }
        Ok(IpNet { addr, prefix })
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4((u32::from(a) & m).into())
            }
            IpAddr::V6(a) => {
                let m = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6((u128::from(a) & m).into())
            }
        }
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_and_refuse_unknown() {
        assert!(version_at_least("1.1.0", "1.0.0"));
        assert!(!version_at_least("0.4.0", "1.0.0"));
        assert!(check_version("1.1.0").is_ok());
        let e = check_version("2.0.0").unwrap_err();
        assert_eq!(e.code(), 1);
    }

    #[test]
    fn result_converts_to_040_with_ip_versions_and_no_new_fields() {
        let r = CniResult {
            cni_version: "1.1.0".into(),
            interfaces: vec![Interface {
                name: "net1".into(),
                mac: "02:00:00:00:00:01".into(),
                mtu: Some(1500),
                sandbox: "/var/run/netns/x".into(),
                pci_id: "0000:00:05.1".into(),
                ..Default::default()
            }],
            ips: vec![
                IpConfig {
                    address: "10.1.0.2/24".into(),
                    gateway: Some("10.1.0.1".parse().unwrap()),
                    interface: Some(0),
                },
                IpConfig {
                    address: "fd00::2/64".into(),
                    gateway: None,
                    interface: Some(0),
                },
            ],
            ..Default::default()
        };
        let v = r.to_version("0.4.0");
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["ips"][1]["version"], "6");
        assert!(v["interfaces"][0].get("pciID").is_none());
        assert!(v["interfaces"][0].get("mtu").is_none());
        let v1 = r.to_version("1.1.0");
        assert_eq!(v1["interfaces"][0]["pciID"], "0000:00:05.1");
        assert!(v1["ips"][0].get("version").is_none());
        // What we render we can read back.
        let back = CniResult::parse(&v, "x").unwrap();
        assert_eq!(back.ips.len(), 2);
    }

    #[test]
    fn ipnet_parses_and_masks() {
        let n = IpNet::parse("10.1.2.3/24", "f").unwrap();
        assert_eq!(n.network().to_string(), "10.1.2.0");
        assert!(IpNet::parse("10.1.2.3", "f").is_err());
        assert!(IpNet::parse("10.1.2.3/33", "f").is_err());
        let e = IpNet::parse("x/3", "ips.address").unwrap_err();
        assert!(e.to_string().contains("ips.address"));
    }
}
