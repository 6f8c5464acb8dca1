//! IPv4 forwarding: the FIB and the ip4 graph nodes (input, lookup, local, rewrite).

pub mod fib;
pub mod icmp;
pub mod input;
pub mod local;
pub mod lookup;
pub mod rewrite;

pub use fib::{FibConfig, FibError, FibReader, FibStats, FibWriter, Route};
pub use input::Ip4Input;
pub use local::Ip4Local;
pub use lookup::Ip4Lookup;
pub use rewrite::Ip4Rewrite;
#[cfg(test)]
mod tests;
