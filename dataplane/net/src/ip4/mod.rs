//! IPv4 forwarding: the FIB and (later) the ip4 graph nodes.

pub mod fib;

pub use fib::{FibConfig, FibError, FibReader, FibStats, FibWriter, Route};
