//! Network configuration (stdin) parsing and validation.
//!
//! Accepts sriov-cni's configuration unchanged (only `type` differs) plus `mtu`, `stateDir`
//! and `sysfsRoot`. Fields are read one by one from the JSON value rather than through a serde
//! derive so that every refusal names the field and the value, which is what an operator needs
//! when a NetworkAttachmentDefinition is wrong. Unknown fields are accepted (the spec requires
//! it: runtimes and meta-plugins add their own).

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::types::check_version;

/// The dataplane's API socket unless `dataplaneSocket` says otherwise.
pub const DEFAULT_DATAPLANE_SOCKET: &str = "/run/dataplane/api.sock";

/// Where per-pod memif/vhost-user socket directories live unless `socketDir` says otherwise.
pub const DEFAULT_SOCKET_DIR: &str = "/run/dataplane/pods";

/// The largest MTU the dataplane accepts for a port (its `CreatePort` rule).
pub const MAX_PORT_MTU: u32 = *dp_api::MTU_RANGE.end() as u32;

/// Fields that configure a VF on its PF; meaningless (and refused) for memif/vhost-user.
const VF_ONLY_FIELDS: &[&str] = &[
    "vlan",
    "vlanQoS",
    "vlanProto",
    "mac",
    "spoofchk",
    "trust",
    "link_state",
    "min_tx_rate",
    "max_tx_rate",
];

/// Which userspace interface the dataplane serves the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserspaceKind {
    /// A memif port (shared memory).
    Memif,
    /// A vhost-user port (virtio; the pod runs virtio-user).
    VhostUser,
}

impl UserspaceKind {
    /// The device-info spec's type name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserspaceKind::Memif => "memif",
            UserspaceKind::VhostUser => "vhost-user",
        }
    }
}

/// The `userspace` object: the kind, and the container's side of the socket (the spec's
/// point of view). Only `client` exists today: the dataplane serves and creates the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Userspace {
    /// memif or vhost-user.
    pub kind: UserspaceKind,
}

/// Where state lives unless `stateDir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cni/cni-sriov";

/// 802.1Q or 802.1ad VLAN protocol for the VF's port VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum VlanProto {
    /// 802.1Q (0x8100).
    #[serde(rename = "802.1q")]
    Dot1Q,
    /// 802.1ad (0x88a8).
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

impl VlanProto {
    /// The ethertype.
    pub fn ethertype(self) -> u16 {
        match self {
            VlanProto::Dot1Q => 0x8100,
            VlanProto::Dot1Ad => 0x88a8,
        }
    }
}

/// VF link state as the PF driver sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Follow the PF's link.
    Auto,
    /// Always up.
    Enable,
    /// Always down.
    Disable,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// `cniVersion`.
    pub cni_version: String,
    /// `name` of the network.
    pub name: String,
    /// `type` (our binary name; kept for logs).
    pub plugin_type: String,
    /// VF PCI address, from `deviceID`, `runtimeConfig.deviceID` or `pciBusID`.
    pub device_id: Option<String>,
    /// Port VLAN, 0 = none.
    pub vlan: Option<u32>,
    /// VLAN priority.
    pub vlan_qos: Option<u32>,
    /// VLAN protocol.
    pub vlan_proto: Option<VlanProto>,
    /// MAC for the VF (`mac` or `runtimeConfig.mac`).
    pub mac: Option<[u8; 6]>,
    /// Spoof check.
    pub spoofchk: Option<bool>,
    /// Trust.
    pub trust: Option<bool>,
    /// Link state.
    pub link_state: Option<LinkState>,
    /// Minimum TX rate, Mbps.
    pub min_tx_rate: Option<u32>,
    /// Maximum TX rate, Mbps.
    pub max_tx_rate: Option<u32>,
    /// MTU for the VF netdev.
    pub mtu: Option<u32>,
    /// The `ipam` object, with `type`.
    pub ipam: Option<Map<String, Value>>,
    /// Log level.
    pub log_level: crate::log::Level,
    /// Log file.
    pub log_file: Option<PathBuf>,
    /// State directory.
    pub state_dir: PathBuf,
    /// sysfs root (tests point it at a fake tree).
    pub sysfs_root: PathBuf,
    /// memif/vhost-user mode: the `userspace` object (absent: SR-IOV VF modes).
    pub userspace: Option<Userspace>,
    /// The dataplane's API socket (`dataplaneSocket`).
    pub dataplane_socket: PathBuf,
    /// Root of the per-pod socket directories (`socketDir`).
    pub socket_dir: PathBuf,
    /// `runtimeConfig.CNIDeviceInfoFile`.
    pub device_info_file: Option<PathBuf>,
    /// `prevResult`, raw.
    pub prev_result: Option<Value>,
    /// GC: `cni.dev/valid-attachments` (or the older `cni.dev/attachments`).
    pub valid_attachments: Option<Vec<(String, String)>>,
    /// The whole input, passed on to IPAM untouched.
    pub raw: Map<String, Value>,
}

/// Parse stdin. Decoding failures give code 6, bad values code 7.
pub fn parse(stdin: &[u8]) -> Result<NetConf> {
    let v: Value = serde_json::from_slice(stdin).map_err(|e| Error::Decode(e.to_string()))?;
    let Value::Object(raw) = v else {
        return Err(Error::Decode("configuration is not a JSON object".into()));
    };
    let cni_version = req_str(&raw, "cniVersion")?;
    check_version(&cni_version)?;
    let rc = match raw.get("runtimeConfig") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Error::config("runtimeConfig", "must be an object")),
    };

    let device_id = opt_str(&rc, "runtimeConfig.deviceID", "deviceID")?
        .or(opt_str(&raw, "deviceID", "deviceID")?)
        .or(opt_str(&raw, "pciBusID", "pciBusID")?)
        .map(|d| {
            normalize_pci(&d).ok_or_else(|| {
                Error::config(
                    "deviceID",
                    format!("{d:?} is not a PCI address (DDDD:BB:DD.F)"),
                )
            })
        })
        .transpose()?;

    let vlan = opt_uint(&raw, "vlan")?;
    if let Some(v) = vlan
        && v > 4094
    {
        return Err(Error::config("vlan", format!("{v} is out of range 0-4094")));
    }
    let vlan_qos = opt_uint(&raw, "vlanQoS")?;
    if let Some(q) = vlan_qos {
        if q > 7 {
            return Err(Error::config("vlanQoS", format!("{q} is out of range 0-7")));
        }
        if q != 0 && vlan.unwrap_or(0) == 0 {
            return Err(Error::config(
                "vlanQoS",
                "a non-zero QoS needs a non-zero vlan",
            ));
        }
    }
    let vlan_proto = match opt_str(&raw, "vlanProto", "vlanProto")? {
        None => None,
        Some(p) => Some(match p.to_ascii_lowercase().as_str() {
            "802.1q" => VlanProto::Dot1Q,
            "802.1ad" => {
                if vlan.unwrap_or(0) == 0 {
                    return Err(Error::config("vlanProto", "802.1ad needs a non-zero vlan"));
                }
                VlanProto::Dot1Ad
            }
            _ => {
                return Err(Error::config(
                    "vlanProto",
                    format!("{p:?} is not one of 802.1q, 802.1ad"),
                ));
            }
        }),
    };

    let mac_s = opt_str(&rc, "runtimeConfig.mac", "mac")?.or(opt_str(&raw, "mac", "mac")?);
    let mac = match mac_s {
        None => None,
        Some(s) => Some(
            parse_mac(&s)
                .ok_or_else(|| Error::config("mac", format!("{s:?} is not a MAC address")))?,
        ),
    };
    if let Some(m) = mac
        && (m[0] & 1 == 1 || m == [0; 6])
    {
        return Err(Error::config("mac", "must be a unicast, non-zero address"));
    }
    let spoofchk = opt_onoff(&raw, "spoofchk")?;
    let trust = opt_onoff(&raw, "trust")?;
    let link_state = match opt_str(&raw, "link_state", "link_state")? {
        None => None,
        Some(s) => Some(match s.as_str() {
            "auto" => LinkState::Auto,
            "enable" => LinkState::Enable,
            "disable" => LinkState::Disable,
            _ => {
                return Err(Error::config(
                    "link_state",
                    format!("{s:?} is not one of auto, enable, disable"),
                ));
            }
        }),
    };
    let min_tx_rate = opt_uint(&raw, "min_tx_rate")?;
    let max_tx_rate = opt_uint(&raw, "max_tx_rate")?;
    if let (Some(min), Some(max)) = (min_tx_rate, max_tx_rate)
        && max != 0
        && min > max
    {
        return Err(Error::config(
            "min_tx_rate",
            format!("{min} is above max_tx_rate {max}"),
        ));
    }
    let mtu = opt_uint(&raw, "mtu")?;
    if let Some(m) = mtu
        && !(68..=65535).contains(&m)
    {
        return Err(Error::config(
            "mtu",
            format!("{m} is out of range 68-65535"),
        ));
    }
    let ipam = match raw.get("ipam") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Object(m)) => {
            match m.get("type") {
                Some(Value::String(t)) if !t.is_empty() && !t.contains('/') => {}
                _ => {
                    return Err(Error::config(
                        "ipam.type",
                        "must be a plugin name (non-empty, no '/')",
                    ));
                }
            }
            Some(m.clone())
        }
        Some(_) => return Err(Error::config("ipam", "must be an object")),
    };
    let log_level = match opt_str(&raw, "logLevel", "logLevel")? {
        None => crate::log::Level::Info,
        Some(s) => crate::log::Level::parse(&s).ok_or_else(|| {
            Error::config(
                "logLevel",
                format!("{s:?} is not one of panic, error, warning, info, debug"),
            )
        })?,
    };
    let log_file = opt_str(&raw, "logFile", "logFile")?.map(PathBuf::from);
    let state_dir = opt_str(&raw, "stateDir", "stateDir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
    if !state_dir.is_absolute() {
        return Err(Error::config("stateDir", "must be an absolute path"));
    }
    let sysfs_root = opt_str(&raw, "sysfsRoot", "sysfsRoot")?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/sys"));
    let device_info_file =
        opt_str(&rc, "runtimeConfig.CNIDeviceInfoFile", "CNIDeviceInfoFile")?.map(PathBuf::from);
    let prev_result = raw.get("prevResult").filter(|v| !v.is_null()).cloned();
    let valid_attachments = parse_attachments(&raw)?;
    let dataplane_socket = opt_str(&raw, "dataplaneSocket", "dataplaneSocket")?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATAPLANE_SOCKET));
    if !dataplane_socket.is_absolute() {
        return Err(Error::config("dataplaneSocket", "must be an absolute path"));
    }
    let socket_dir = opt_str(&raw, "socketDir", "socketDir")?
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_DIR));
    if !socket_dir.is_absolute() {
        return Err(Error::config("socketDir", "must be an absolute path"));
    }
    let userspace = parse_userspace(&raw)?;
    if userspace.is_some() {
        // A VF setting in a memif/vhost-user network is a mistake in the NAD; say so rather
        // than ignore it.
        if device_id.is_some() {
            return Err(Error::config(
                "deviceID",
                "cannot be combined with `userspace` (memif/vhost-user ports are not VFs)",
            ));
        }
        if let Some(f) = VF_ONLY_FIELDS
            .iter()
            .find(|f| raw.get(**f).is_some_and(|v| !v.is_null()))
        {
            return Err(Error::config(
                *f,
                "is a VF setting; it has no meaning with `userspace`",
            ));
        }
        if let Some(m) = mtu
            && m > MAX_PORT_MTU
        {
            return Err(Error::config(
                "mtu",
                format!("{m} is above {MAX_PORT_MTU}, the largest the dataplane accepts"),
            ));
        }
        if ipam.is_none() {
            return Err(Error::config(
                "ipam",
                "is required with `userspace`: the dataplane routes to the pod by its address",
            ));
        }
    }

    Ok(NetConf {
        name: opt_str(&raw, "name", "name")?.unwrap_or_default(),
        plugin_type: opt_str(&raw, "type", "type")?.unwrap_or_default(),
        cni_version,
        device_id,
        vlan,
        vlan_qos,
        vlan_proto,
        mac,
        spoofchk,
        trust,
        link_state,
        min_tx_rate,
        max_tx_rate,
        mtu,
        ipam,
        log_level,
        log_file,
        state_dir,
        sysfs_root,
        userspace,
        dataplane_socket,
        socket_dir,
        device_info_file,
        prev_result,
        valid_attachments,
        raw,
    })
}

/// Read only `cniVersion` (VERSION needs nothing else; a broken rest must not fail it).
pub fn parse_version_only(stdin: &[u8]) -> Result<String> {
    let v: Value = serde_json::from_slice(stdin).map_err(|e| Error::Decode(e.to_string()))?;
    match v.get("cniVersion") {
        Some(Value::String(s)) => Ok(s.clone()),
        // Pre-0.2 configs had no version; treat as the oldest.
        None => Ok("0.1.0".into()),
        Some(_) => Err(Error::config("cniVersion", "must be a string")),
    }
}

/// The `userspace` object: `{"type": "memif", "role": "client"}` or
/// `{"type": "vhost-user", "mode": "client"}`, roles from the container's point of view.
fn parse_userspace(raw: &Map<String, Value>) -> Result<Option<Userspace>> {
    let m = match raw.get("userspace") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(Error::config("userspace", "must be an object")),
    };
    let kind = match opt_str(m, "type", "userspace.type")?.as_deref() {
        Some("memif") => UserspaceKind::Memif,
        Some("vhost-user") => UserspaceKind::VhostUser,
        Some(t) => {
            return Err(Error::config(
                "userspace.type",
                format!("{t:?} is not one of memif, vhost-user"),
            ));
        }
        None => return Err(Error::config("userspace.type", "is required")),
    };
    // memif calls it a role, vhost-user a mode; the wrong word is refused, not ignored.
    let (key, other) = match kind {
        UserspaceKind::Memif => ("role", "mode"),
        UserspaceKind::VhostUser => ("mode", "role"),
    };
    if m.get(other).is_some_and(|v| !v.is_null()) {
        return Err(Error::config(
            format!("userspace.{other}"),
            format!("{} takes `{key}`, not `{other}`", kind.as_str()),
        ));
    }
    let field = format!("userspace.{key}");
    match opt_str(m, key, &field)?.as_deref() {
        // The device-info spec names memif roles master/slave; accept its words too.
        None | Some("client") => {}
        Some("slave") if kind == UserspaceKind::Memif => {}
        Some(r @ ("server" | "master")) => {
            return Err(Error::config(
                field,
                format!(
                    "{r:?} (the container serving the socket) needs the dataplane to connect as \
                     client, which it does not support yet; use \"client\""
                ),
            ));
        }
        Some(r) => {
            return Err(Error::config(
                field,
                format!("{r:?} is not one of client, server"),
            ));
        }
    }
    if let Some(k) = m
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "role" | "mode"))
    {
        return Err(Error::config(
            format!("userspace.{k}"),
            "is not a known field (type, role for memif, mode for vhost-user)",
        ));
    }
    Ok(Some(Userspace { kind }))
}

fn parse_attachments(raw: &Map<String, Value>) -> Result<Option<Vec<(String, String)>>> {
    for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
        if let Some(v) = raw.get(key) {
            let arr = v
                .as_array()
                .ok_or_else(|| Error::config(key, "must be an array"))?;
            let mut out = Vec::with_capacity(arr.len());
            for (i, a) in arr.iter().enumerate() {
                let cid = a.get("containerID").and_then(Value::as_str);
                let ifn = a.get("ifname").and_then(Value::as_str);
                match (cid, ifn) {
                    (Some(c), Some(n)) => out.push((c.to_string(), n.to_string())),
                    _ => {
                        return Err(Error::config(
                            format!("{key}[{i}]"),
                            "needs string fields containerID and ifname",
                        ));
                    }
                }
            }
            return Ok(Some(out));
        }
    }
    Ok(None)
}

fn req_str(m: &Map<String, Value>, key: &str) -> Result<String> {
    opt_str(m, key, key)?.ok_or_else(|| Error::config(key, "is required"))
}

fn opt_str(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>> {
    let k = key.rsplit('.').next().unwrap_or(key);
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::config(
            field,
            format!("expected a string, got {other}"),
        )),
    }
}

fn opt_uint(m: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .map(Some)
            .ok_or_else(|| Error::config(key, format!("{n} is not a non-negative integer"))),
        Some(other) => Err(Error::config(
            key,
            format!("expected a non-negative integer, got {other}"),
        )),
    }
}

fn opt_onoff(m: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match opt_str(m, key, key)?.as_deref() {
        None => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(s) => Err(Error::config(key, format!("{s:?} is not one of on, off"))),
    }
}

/// Accept `DDDD:BB:DD.F` or `BB:DD.F`, return the full lower-case form.
pub fn normalize_pci(s: &str) -> Option<String> {
    let s = s.to_ascii_lowercase();
    let full = if s.matches(':').count() == 1 {
        format!("0000:{s}")
    } else {
        s
    };
    let (dom, rest) = full.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex = |x: &str, n: usize| x.len() == n && x.chars().all(|c| c.is_ascii_hexdigit());
    if hex(dom, 4)
        && hex(bus, 2)
        && hex(dev, 2)
        && func.len() == 1
        && ('0'..='7').contains(&func.chars().next()?)
    {
        Some(full)
    } else {
        None
    }
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut n = 0;
    for part in s.split(':') {
        if n == 6 || part.len() != 2 {
            return None;
        }
        out[n] = u8::from_str_radix(part, 16).ok()?;
        n += 1;
    }
    (n == 6).then_some(out)
}

/// Format a MAC in lower-case colon form.
pub fn fmt_mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(extra: &str) -> Result<NetConf> {
        let s = format!(
            r#"{{"cniVersion":"1.0.0","name":"n","type":"cni-sriov","deviceID":"0000:00:05.1"{extra}}}"#
        );
        parse(s.as_bytes())
    }

    fn field_of(e: Error) -> String {
        match e {
            Error::Config { field, .. } => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn accepts_sriov_cni_config_with_unknown_fields() {
        let c = conf(
            r#","vlan":100,"vlanQoS":3,"vlanProto":"802.1ad","spoofchk":"off","trust":"on",
            "link_state":"enable","min_tx_rate":10,"max_tx_rate":100,"mtu":9000,
            "ipam":{"type":"host-local"},"someFutureField":{"x":1},"logLevel":"debug""#,
        )
        .unwrap();
        assert_eq!(c.vlan, Some(100));
        assert_eq!(c.vlan_proto, Some(VlanProto::Dot1Ad));
        assert_eq!(c.spoofchk, Some(false));
        assert_eq!(c.trust, Some(true));
        assert_eq!(c.link_state, Some(LinkState::Enable));
        assert_eq!(c.mtu, Some(9000));
    }

    #[test]
    fn runtime_config_device_and_mac_take_precedence() {
        let c = conf(r#","mac":"02:00:00:00:00:01","runtimeConfig":{"deviceID":"00:06.2","mac":"02:00:00:00:00:09"}"#).unwrap();
        assert_eq!(c.device_id.as_deref(), Some("0000:00:06.2"));
        assert_eq!(c.mac, Some([2, 0, 0, 0, 0, 9]));
        let p = parse(br#"{"cniVersion":"1.0.0","name":"n","type":"t","pciBusID":"0000:00:07.0"}"#)
            .unwrap();
        assert_eq!(p.device_id.as_deref(), Some("0000:00:07.0"));
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(field_of(conf(r#","vlan":5000"#).unwrap_err()), "vlan");
        assert_eq!(field_of(conf(r#","vlan":"x""#).unwrap_err()), "vlan");
        assert_eq!(
            field_of(conf(r#","vlanQoS":9,"vlan":3"#).unwrap_err()),
            "vlanQoS"
        );
        assert_eq!(field_of(conf(r#","vlanQoS":2"#).unwrap_err()), "vlanQoS");
        assert_eq!(
            field_of(conf(r#","vlanProto":"802.1x","vlan":3"#).unwrap_err()),
            "vlanProto"
        );
        assert_eq!(
            field_of(conf(r#","mac":"zz:00:00:00:00:01""#).unwrap_err()),
            "mac"
        );
        assert_eq!(
            field_of(conf(r#","mac":"01:00:00:00:00:01""#).unwrap_err()),
            "mac"
        );
        assert_eq!(
            field_of(conf(r#","spoofchk":"yes""#).unwrap_err()),
            "spoofchk"
        );
        assert_eq!(field_of(conf(r#","trust":true"#).unwrap_err()), "trust");
        assert_eq!(
            field_of(conf(r#","link_state":"up""#).unwrap_err()),
            "link_state"
        );
        assert_eq!(
            field_of(conf(r#","min_tx_rate":-1"#).unwrap_err()),
            "min_tx_rate"
        );
        assert_eq!(
            field_of(conf(r#","min_tx_rate":200,"max_tx_rate":100"#).unwrap_err()),
            "min_tx_rate"
        );
        assert_eq!(field_of(conf(r#","mtu":10"#).unwrap_err()), "mtu");
        assert_eq!(
            field_of(conf(r#","ipam":{"type":""}"#).unwrap_err()),
            "ipam.type"
        );
        assert_eq!(
            field_of(conf(r#","logLevel":"loud""#).unwrap_err()),
            "logLevel"
        );
        let e = parse(br#"{"cniVersion":"1.0.0","name":"n","type":"t","deviceID":"garbage"}"#)
            .unwrap_err();
        assert_eq!(field_of(e), "deviceID");
    }

    #[test]
    fn decode_and_version_errors_have_spec_codes() {
        assert_eq!(parse(b"{not json").unwrap_err().code(), 6);
        assert_eq!(parse(b"[]").unwrap_err().code(), 6);
        assert_eq!(
            parse(br#"{"cniVersion":"9.9.9","name":"n"}"#)
                .unwrap_err()
                .code(),
            1
        );
        assert_eq!(parse(br#"{"name":"n"}"#).unwrap_err().code(), 7);
    }

    #[test]
    fn gc_attachments_in_both_spellings() {
        let a = parse(br#"{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/valid-attachments":[{"containerID":"c","ifname":"net1"}]}"#).unwrap();
        assert_eq!(a.valid_attachments, Some(vec![("c".into(), "net1".into())]));
        let b = parse(br#"{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/attachments":[]}"#)
            .unwrap();
        assert_eq!(b.valid_attachments, Some(vec![]));
    }

    fn us(extra: &str) -> Result<NetConf> {
        let s = format!(
            r#"{{"cniVersion":"1.1.0","name":"n","type":"cni-sriov","ipam":{{"type":"host-local"}}{extra}}}"#
        );
        parse(s.as_bytes())
    }

    #[test]
    fn userspace_modes_parse_with_defaults() {
        let c = us(r#","userspace":{"type":"memif"}"#).unwrap();
        assert_eq!(c.userspace.map(|u| u.kind), Some(UserspaceKind::Memif));
        assert_eq!(c.dataplane_socket, PathBuf::from(DEFAULT_DATAPLANE_SOCKET));
        assert_eq!(c.socket_dir, PathBuf::from(DEFAULT_SOCKET_DIR));
        let c = us(r#","userspace":{"type":"vhost-user","mode":"client"},"dataplaneSocket":"/x/api.sock","socketDir":"/x/pods","mtu":9000"#).unwrap();
        assert_eq!(c.userspace.map(|u| u.kind), Some(UserspaceKind::VhostUser));
        assert_eq!(c.dataplane_socket, PathBuf::from("/x/api.sock"));
        assert_eq!(c.socket_dir, PathBuf::from("/x/pods"));
        assert!(us(r#","userspace":{"type":"memif","role":"slave"}"#).is_ok());
        assert!(us("").unwrap().userspace.is_none());
    }

    #[test]
    fn bad_userspace_configs_name_their_field() {
        for (extra, field) in [
            (r#","userspace":"memif""#, "userspace"),
            (r#","userspace":{}"#, "userspace.type"),
            (r#","userspace":{"type":"tap"}"#, "userspace.type"),
            (
                r#","userspace":{"type":"memif","role":"server"}"#,
                "userspace.role",
            ),
            (
                r#","userspace":{"type":"memif","role":"master"}"#,
                "userspace.role",
            ),
            (
                r#","userspace":{"type":"memif","role":"boss"}"#,
                "userspace.role",
            ),
            (
                r#","userspace":{"type":"memif","mode":"client"}"#,
                "userspace.mode",
            ),
            (
                r#","userspace":{"type":"vhost-user","mode":"server"}"#,
                "userspace.mode",
            ),
            (
                r#","userspace":{"type":"vhost-user","role":"client"}"#,
                "userspace.role",
            ),
            (
                r#","userspace":{"type":"memif","queues":2}"#,
                "userspace.queues",
            ),
            (
                r#","userspace":{"type":"memif"},"deviceID":"0000:00:05.1""#,
                "deviceID",
            ),
            (
                r#","userspace":{"type":"memif"},"runtimeConfig":{"deviceID":"0000:00:05.1"}"#,
                "deviceID",
            ),
            (r#","userspace":{"type":"memif"},"vlan":5"#, "vlan"),
            (r#","userspace":{"type":"memif"},"mtu":9500"#, "mtu"),
            (r#","userspace":{"type":"memif"},"ipam":null"#, "ipam"),
            (
                r#","userspace":{"type":"memif"},"socketDir":"pods""#,
                "socketDir",
            ),
            (r#","dataplaneSocket":"api.sock""#, "dataplaneSocket"),
        ] {
            // A later "ipam" key replaces the first one (serde_json keeps the last).
            let e = us(extra).unwrap_err();
            assert_eq!(e.code(), 7, "{extra}: {e}");
            assert_eq!(field_of(e), field, "{extra}");
        }
    }

    #[test]
    fn pci_and_mac_helpers() {
        assert_eq!(normalize_pci("00:05.1").as_deref(), Some("0000:00:05.1"));
        assert_eq!(
            normalize_pci("0000:AF:05.7").as_deref(),
            Some("0000:af:05.7")
        );
        assert!(normalize_pci("0000:00:05.8").is_none());
        assert!(normalize_pci("../../etc").is_none());
        assert_eq!(
            fmt_mac(&parse_mac("0A:0b:00:00:00:01").unwrap()),
            "0a:0b:00:00:00:01"
        );
        assert!(parse_mac("0a:0b:00:00:00").is_none());
    }
}
