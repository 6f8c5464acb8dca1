//! Errors of the safe DPDK layer: which call failed, on what, and DPDK's own reason.

use std::ffi::CStr;

/// Result alias for the DPDK layer.
pub type Result<T> = std::result::Result<T, DpdkError>;

/// An error from a DPDK call, carrying enough context to print one clear line.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error("the EAL is already initialised in this process (DPDK allows one init per process)")]
    AlreadyInitialized,
    #[error("EAL init failed: {reason}")]
    EalInit { reason: String },
    #[error("argument contains a NUL byte: {0:?}")]
    NulInArgument(String),
    #[error("cannot create mbuf pool `{name}` ({count} mbufs of {data_room} bytes): {reason}")]
    Mempool {
        name: String,
        count: u32,
        data_room: u16,
        reason: String,
    },
    #[error("device `{device}` did not probe: {reason}")]
    Probe { device: String, reason: String },
    #[error("no ethdev port named `{0}` after probing it")]
    NoSuchPort(String),
    #[error("port `{port}`: {op} failed: {reason}")]
    Port {
        port: String,
        op: &'static str,
        reason: String,
    },
    #[error("port `{port}`: {what}")]
    PortConfig { port: String, what: String },
    #[error("port `{port}`: queue {queue} is already taken by another handle")]
    QueueTaken { port: String, queue: u16 },
    #[error("lcore {lcore}: {reason}")]
    Lcore { lcore: u32, reason: String },
}

impl DpdkError {
    /// The port the error already names, if it names one.
    pub fn port(&self) -> Option<&str> {
        match self {
            DpdkError::Port { port, .. }
            | DpdkError::PortConfig { port, .. }
            | DpdkError::QueueTaken { port, .. } => Some(port),
            _ => None,
        }
    }
}

/// DPDK's text for an errno value (positive or negative).
pub(crate) fn strerror(errnum: i32) -> String {
    let errnum = errnum.abs();
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string
    // that stays valid until the next call on this thread; we copy it out immediately.
    let msg = unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(errnum)) };
    format!("{} (errno {errnum})", msg.to_string_lossy())
}

/// The calling thread's `rte_errno`, as text.
pub(crate) fn last_error() -> String {
    // SAFETY: reading the per-thread rte_errno has no preconditions.
    let errnum = unsafe { dpdk_sys::shim_rte_errno() };
    strerror(errnum)
}
