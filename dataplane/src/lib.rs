//! The dataplane library: the safe DPDK layer, configuration, and the workers that move
//! packets. Only [`dpdk`] may use `unsafe`.
#![deny(unsafe_code)]

pub mod config;
pub mod control;
pub mod daemon;
pub mod dpdk;
pub mod idle;
pub mod metrics;
pub mod reload;
pub mod state;
pub mod worker;
pub mod xconnect;
