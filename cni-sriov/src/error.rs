//! Errors of the plugin and their CNI error codes.
//!
//! Every failure the plugin can report maps to one of the spec's well-known codes (1 incompatible
//! version, 4 invalid environment, 6 decode, 7 invalid netconf, 11 try again later, 50/51 for
//! STATUS) or to a plugin-specific code (100 and up), so a runtime can tell a bad configuration
//! from a busy device from a kernel refusal.

use std::io;

use serde::Serialize;

/// Plugin-specific code: the VF is allocated to another attachment.
pub const CODE_DEVICE_IN_USE: u32 = 100;
/// Plugin-specific code: sysfs does not describe the device the way we need.
pub const CODE_DEVICE: u32 = 101;
/// Plugin-specific code: a netlink request was refused by the kernel.
pub const CODE_NETLINK: u32 = 102;
/// Plugin-specific code: the IPAM plugin could not be run or returned garbage.
pub const CODE_IPAM: u32 = 103;
/// Plugin-specific code: state or lock files could not be read or written.
pub const CODE_STATE: u32 = 104;
/// Plugin-specific code: CHECK found the attachment differs from what ADD returned.
pub const CODE_CHECK: u32 = 105;
/// Plugin-specific code: the dataplane's API refused or failed a request (memif/vhost-user).
pub const CODE_DATAPLANE: u32 = 106;
/// Plugin-specific code: anything else (namespace switch, thread, I/O).
pub const CODE_INTERNAL: u32 = 999;

/// Library error. Each variant says what went wrong and where, so the message the runtime shows
/// is enough to fix the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config's `cniVersion` is not one we speak (code 1).
    #[error("incompatible CNI version {0:?}; supported: {1}")]
    IncompatibleVersion(String, String),
    /// A `CNI_*` variable is missing or invalid (code 4).
    #[error("invalid environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// stdin is not JSON (code 6).
    #[error("failed to decode network configuration from stdin: {0}")]
    Decode(String),
    /// A netconf field is invalid (code 7).
    #[error("invalid network configuration: field `{field}`: {reason}")]
    Config {
        /// JSON name of the field (dotted for nested fields).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A transient condition: lock held too long (code 11).
    #[error("try again later: {0}")]
    TryAgain(String),
    /// The VF belongs to another attachment.
    #[error("device {pci} is already in use by container {container} interface {ifname}")]
    DeviceInUse {
        /// VF PCI address.
        pci: String,
        /// Owner container ID.
        container: String,
        /// Owner interface name.
        ifname: String,
    },
    /// sysfs does not describe the device as expected.
    #[error("device {pci}: {reason}")]
    Device {
        /// PCI address.
        pci: String,
        /// What is wrong.
        reason: String,
    },
    /// A netlink request failed.
    #[error("netlink: {op}: {source}")]
    Netlink {
        /// What we were doing.
        op: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The IPAM plugin failed; its own code and message are passed through.
    #[error("IPAM plugin {plugin}: {msg}")]
    Ipam {
        /// Plugin name.
        plugin: String,
        /// Its error code (or ours when it could not be run).
        code: u32,
        /// Its message.
        msg: String,
    },
    /// State or lock file trouble.
    #[error("state {path}: {source}")]
    State {
        /// File or directory.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// CHECK found drift.
    #[error("check failed: {0}")]
    Check(String),
    /// STATUS: the plugin cannot serve ADDs now (code 50).
    #[error("plugin not available: {0}")]
    Unavailable(String),
    /// A call to the dataplane's API failed (memif/vhost-user modes).
    #[error("dataplane API: {op}: {source}")]
    Dataplane {
        /// What we asked for.
        op: String,
        /// The client's error (unreachable, refused with a status, failed).
        #[source]
        source: dp_api::ClientError,
    },
    /// Namespace switching, threads and other internal failures.
    #[error("{0}")]
    Internal(String),
    /// Failure injected by the test hooks (only ever built with the `test-hooks` feature).
    #[error("injected failure at step {0}")]
    Injected(String),
    /// An ADD failed and undoing it failed too: the runtime learns both (in `details`); the
    /// code and `msg` are the ADD failure's.
    #[error("{error}; rollback incomplete: {rollback}")]
    RollbackIncomplete {
        /// Why ADD failed.
        error: Box<Error>,
        /// Why undoing it failed.
        rollback: Box<Error>,
    },
}

impl Error {
    /// The result of an ADD that failed with `self` and was rolled back with `rollback`.
    pub fn rolled_back(self, rollback: Result<(), Error>) -> Error {
        match rollback {
            Ok(()) => self,
            Err(e) => {
                crate::log::error(&format!("rollback incomplete: {e}"));
                Error::RollbackIncomplete {
                    error: Box::new(self),
                    rollback: Box::new(e),
                }
            }
        }
    }

    /// Shorthand for a netconf error naming `field`.
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for a netlink error.
    pub fn netlink(op: impl Into<String>, source: io::Error) -> Self {
        Error::Netlink {
            op: op.into(),
            source,
        }
    }

    /// Shorthand for a dataplane API error.
    pub fn dataplane(op: impl Into<String>, source: dp_api::ClientError) -> Self {
        Error::Dataplane {
            op: op.into(),
            source,
        }
    }

    /// Shorthand for a state file error.
    pub fn state(path: impl AsRef<std::path::Path>, source: io::Error) -> Self {
        Error::State {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// The CNI error code for this error.
    pub fn code(&self) -> u32 {
        match self {
            Error::IncompatibleVersion(..) => 1,
            Error::Env { .. } => 4,
            Error::Decode(_) => 6,
            Error::Config { .. } => 7,
            Error::TryAgain(_) => 11,
            Error::Unavailable(_) => 50,
            Error::DeviceInUse { .. } => CODE_DEVICE_IN_USE,
            Error::Device { .. } => CODE_DEVICE,
            Error::Netlink { .. } => CODE_NETLINK,
            Error::Ipam { code, .. } => *code,
            Error::State { .. } => CODE_STATE,
            Error::Check(_) => CODE_CHECK,
            Error::Dataplane { .. } => CODE_DATAPLANE,
            Error::Internal(_) | Error::Injected(_) => CODE_INTERNAL,
            Error::RollbackIncomplete { error, .. } => error.code(),
        }
    }

    /// The short `msg` of the CNI error object (the long form goes into `details`).
    pub fn msg(&self) -> &'static str {
        match self {
            Error::IncompatibleVersion(..) => "incompatible CNI versions",
            Error::Env { .. } => "invalid environment variables",
            Error::Decode(_) => "failed to decode content",
            Error::Config { .. } => "invalid network config",
            Error::TryAgain(_) => "try again later",
            Error::Unavailable(_) => "plugin not available",
            Error::DeviceInUse { .. } => "device already in use",
            Error::Device { .. } => "device error",
            Error::Netlink { .. } => "netlink error",
            Error::Ipam { .. } => "IPAM plugin error",
            Error::State { .. } => "state error",
            Error::Check(_) => "check failed",
            Error::Dataplane { .. } => "dataplane API error",
            Error::Internal(_) | Error::Injected(_) => "internal error",
            Error::RollbackIncomplete { error, .. } => error.msg(),
        }
    }

    /// The CNI error object printed on stdout.
    pub fn to_cni(&self, cni_version: &str) -> CniError {
        CniError {
            cni_version: cni_version.to_string(),
            code: self.code(),
            msg: self.msg().to_string(),
            details: self.to_string(),
        }
    }
}

/// The error JSON of the CNI spec.
#[derive(Debug, Serialize)]
pub struct CniError {
    /// Version of the config that was given (or our highest when it could not be read).
    #[serde(rename = "cniVersion")]
    pub cni_version: String,
    /// Error code.
    pub code: u32,
    /// Short message.
    pub msg: String,
    /// Full message.
    pub details: String,
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
