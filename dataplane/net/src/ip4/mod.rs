//! IPv4 forwarding: the FIB and (later) the ip4 graph nodes.
