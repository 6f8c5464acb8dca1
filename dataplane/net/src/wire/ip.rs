//! What IPv4 and IPv6 share: the protocol / next-header numbers (IANA "Assigned Internet
//! Protocol Numbers").

use super::wire_enum;

wire_enum! {
    /// IPv4 `protocol` / IPv6 `next header` value.
    pub enum IpProtocol(u8) {
        /// IPv6 hop-by-hop options header.
        HopByHop = 0,
        /// ICMP for IPv4.
        Icmp = 1,
        /// IGMP.
        Igmp = 2,
        /// IPv4 in IP (IP-in-IP tunnels).
        IpIp = 4,
        /// TCP.
        Tcp = 6,
        /// UDP.
        Udp = 17,
        /// IPv6 encapsulated (6in4).
        Ipv6 = 41,
        /// IPv6 routing header.
        Ipv6Route = 43,
        /// IPv6 fragment header.
        Ipv6Frag = 44,
        /// Generic Routing Encapsulation.
        Gre = 47,
        /// IPsec Encapsulating Security Payload.
        Esp = 50,
        /// IPsec Authentication Header.
        Ah = 51,
        /// ICMP for IPv6.
        Icmpv6 = 58,
        /// IPv6 "no next header".
        Ipv6NoNxt = 59,
        /// IPv6 destination options header.
        Ipv6Opts = 60,
        /// SCTP.
        Sctp = 132,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(58), IpProtocol::Icmpv6);
        assert_eq!(IpProtocol::from(253), IpProtocol::Unknown(253));
        assert_eq!(u8::from(IpProtocol::Udp), 17);
    }
}
