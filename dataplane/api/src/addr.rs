//! Address value types of the API: an IPv4 route prefix, an interface address with its prefix
//! length, and a MAC address.
//!
//! Each parses from and prints as the text an operator types (`10.0.2.0/24`, `10.0.1.1/24`,
//! `02:00:00:00:00:01`) and is carried in JSON as that same string, so `--json` output reads
//! like the CLI and the config file. Parsing is strict: a route prefix with host bits set is
//! refused rather than silently masked, because it is almost always a typo for another prefix.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an address text did not parse. The message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AddrParseError(pub String);

fn parse_len(text: &str, len: &str) -> Result<u8, AddrParseError> {
    match len.parse::<u8>() {
        Ok(n) if n <= 32 && !len.starts_with('+') => Ok(n),
        _ => Err(AddrParseError(format!(
            "`{text}`: prefix length must be a number from 0 to 32"
        ))),
    }
}

fn parse_ip(text: &str, ip: &str) -> Result<Ipv4Addr, AddrParseError> {
    ip.parse::<Ipv4Addr>()
        .map_err(|_| AddrParseError(format!("`{text}`: `{ip}` is not an IPv4 address")))
}

fn mask(len: u8) -> u32 {
    // A shift by 32 overflows; length 0 is the all-zero mask.
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// An IPv4 route prefix (`10.0.2.0/24`): the address has no bits set past the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Prefix {
    /// Builds a prefix; refuses a length above 32 or host bits set past the length.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, AddrParseError> {
        if len > 32 {
            return Err(AddrParseError(format!(
                "`{addr}/{len}`: prefix length must be a number from 0 to 32"
            )));
        }
        let bits = u32::from(addr);
        if bits & !mask(len) != 0 {
            let network = Ipv4Addr::from(bits & mask(len));
            return Err(AddrParseError(format!(
                "`{addr}/{len}` has host bits set (did you mean `{network}/{len}`?)"
            )));
        }
        Ok(Ipv4Prefix { addr, len })
    }

    /// The network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length, 0 to 32.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for the default route `0.0.0.0/0` (it has no length in the usual sense).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// True when `ip` is inside the prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.len) == u32::from(self.addr)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = AddrParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (ip, len) = text.split_once('/').ok_or_else(|| {
            AddrParseError(format!(
                "`{text}` is not an IPv4 prefix (expected ADDRESS/LENGTH, e.g. 10.0.2.0/24)"
            ))
        })?;
        Ipv4Prefix::new(parse_ip(text, ip)?, parse_len(text, len)?)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An interface address with its subnet's prefix length (`10.0.1.1/24`): host bits are the
/// point here, so they are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Cidr {
    /// Builds an interface address; refuses a length above 32, and the network and broadcast
    /// addresses of subnets where those are not usable hosts (lengths up to /30).
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, AddrParseError> {
        if len > 32 {
            return Err(AddrParseError(format!(
                "`{addr}/{len}`: prefix length must be a number from 0 to 32"
            )));
        }
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
            return Err(AddrParseError(format!(
                "`{addr}/{len}`: an interface address must be a unicast address"
            )));
        }
        if len <= 30 {
            let host = u32::from(addr) & !mask(len);
            if host == 0 || host == !mask(len) {
                return Err(AddrParseError(format!(
                    "`{addr}/{len}` is the {} address of its subnet, not a host address",
                    if host == 0 { "network" } else { "broadcast" }
                )));
            }
        }
        Ok(Ipv4Cidr { addr, len })
    }

    /// The interface's own address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The subnet's prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// The connected subnet (`10.0.1.0/24` for `10.0.1.1/24`).
    pub fn network(&self) -> Ipv4Prefix {
        Ipv4Prefix {
            addr: Ipv4Addr::from(u32::from(self.addr) & mask(self.len)),
            len: self.len,
        }
    }
}

impl FromStr for Ipv4Cidr {
    type Err = AddrParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (ip, len) = text.split_once('/').ok_or_else(|| {
            AddrParseError(format!(
                "`{text}` is not an interface address (expected ADDRESS/LENGTH, e.g. 10.0.1.1/24)"
            ))
        })?;
        Ipv4Cidr::new(parse_ip(text, ip)?, parse_len(text, len)?)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// An Ethernet MAC address, written `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// True for a group (multicast or broadcast) address: never a neighbor's address.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for `00:00:00:00:00:00`.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = AddrParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            AddrParseError(format!(
                "`{text}` is not a MAC address (expected six hex bytes, e.g. 02:00:00:00:00:01)"
            ))
        };
        let mut out = [0u8; 6];
        let mut parts = text.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(bad)?;
            // from_str_radix alone would take a sign (`+2`).
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Serde as the display string, so JSON carries what an operator types.
macro_rules! serde_as_string {
    ($t:ty, $what:literal) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

serde_as_string!(Ipv4Prefix, "an IPv4 prefix string such as \"10.0.2.0/24\"");
serde_as_string!(
    Ipv4Cidr,
    "an interface address string such as \"10.0.1.1/24\""
);
serde_as_string!(
    MacAddr,
    "a MAC address string such as \"02:00:00:00:00:01\""
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_parses_and_prints() {
        let p: Ipv4Prefix = "10.0.2.0/24".parse().unwrap();
        assert_eq!(p.addr(), Ipv4Addr::new(10, 0, 2, 0));
        assert_eq!(p.prefix_len(), 24);
        assert_eq!(p.to_string(), "10.0.2.0/24");
        assert!(p.contains(Ipv4Addr::new(10, 0, 2, 77)));
        assert!(!p.contains(Ipv4Addr::new(10, 0, 3, 1)));
        let d: Ipv4Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(d.is_default() && d.contains(Ipv4Addr::new(8, 8, 8, 8)));
        let h: Ipv4Prefix = "10.1.2.3/32".parse().unwrap();
        assert!(h.contains(Ipv4Addr::new(10, 1, 2, 3)));
    }

    #[test]
    fn prefix_refusals_say_why() {
        let e = "10.0.2.1/24".parse::<Ipv4Prefix>().unwrap_err().0;
        assert!(e.contains("host bits") && e.contains("10.0.2.0/24"), "{e}");
        let e = "10.0.2.0/33".parse::<Ipv4Prefix>().unwrap_err().0;
        assert!(e.contains("0 to 32"), "{e}");
        let e = "10.0.2.0".parse::<Ipv4Prefix>().unwrap_err().0;
        assert!(e.contains("ADDRESS/LENGTH"), "{e}");
        let e = "10.0.300.0/24".parse::<Ipv4Prefix>().unwrap_err().0;
        assert!(e.contains("not an IPv4 address"), "{e}");
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "a/8",
            "10.0.0.0/24/1",
        ] {
            assert!(bad.parse::<Ipv4Prefix>().is_err(), "{bad}");
        }
    }

    #[test]
    fn cidr_keeps_host_bits_and_refuses_non_hosts() {
        let c: Ipv4Cidr = "10.0.1.1/24".parse().unwrap();
        assert_eq!(c.addr(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(c.network().to_string(), "10.0.1.0/24");
        assert_eq!(c.to_string(), "10.0.1.1/24");
        // Point-to-point and host addresses have no network/broadcast to refuse.
        assert!("10.0.0.0/31".parse::<Ipv4Cidr>().is_ok());
        assert!("10.0.0.7/32".parse::<Ipv4Cidr>().is_ok());
        let e = "10.0.1.0/24".parse::<Ipv4Cidr>().unwrap_err().0;
        assert!(e.contains("network address"), "{e}");
        let e = "10.0.1.255/24".parse::<Ipv4Cidr>().unwrap_err().0;
        assert!(e.contains("broadcast address"), "{e}");
        assert!("224.0.0.1/24".parse::<Ipv4Cidr>().is_err());
        assert!("0.0.0.0/0".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.1.1".parse::<Ipv4Cidr>().is_err());
        assert!("10.0.1.1/40".parse::<Ipv4Cidr>().is_err());
    }

    #[test]
    fn mac_parses_prints_and_classifies() {
        let m: MacAddr = "02:00:0A:ff:00:01".parse().unwrap();
        assert_eq!(m.0, [2, 0, 10, 255, 0, 1]);
        assert_eq!(m.to_string(), "02:00:0a:ff:00:01");
        assert!(!m.is_multicast() && !m.is_zero());
        assert!(
            "ff:ff:ff:ff:ff:ff"
                .parse::<MacAddr>()
                .unwrap()
                .is_multicast()
        );
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:01:02",
            "2:0:0:0:0:1",
            "02-00-00-00-00-01",
            "0g:00:00:00:00:01",
            "+2:00:00:00:00:01",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn json_carries_the_text_form() {
        let p: Ipv4Prefix = "10.0.0.0/8".parse().unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"10.0.0.0/8\"");
        let back: Ipv4Prefix = serde_json::from_str("\"10.0.0.0/8\"").unwrap();
        assert_eq!(back, p);
        let e = serde_json::from_str::<Ipv4Prefix>("\"10.0.0.1/8\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("host bits"), "{e}");
        assert!(serde_json::from_str::<MacAddr>("42").is_err());
    }
}
