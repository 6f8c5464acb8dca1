//! Failure injection for tests (feature `test-hooks`).
//!
//! `CNI_SRIOV_TEST_FAIL_AT=<step>` makes ADD fail right after `<step>` succeeded, so tests prove
//! that every step's rollback leaves nothing behind. Without the feature this compiles to nothing.

use crate::error::Result;

/// ADD's steps, in order; each is a point where an injected failure can be requested.
pub const ADD_STEPS: &[&str] = &[
    "lock",
    "save-state",
    "pf-config",
    "move",
    "configure",
    "ipam",
    "addresses",
    "device-info",
    "result",
];

/// ADD's steps in the memif/vhost-user modes, in order.
pub const USERSPACE_ADD_STEPS: &[&str] = &[
    "lock",
    "save-state",
    "ipam",
    "create-port",
    "add-route",
    "device-info",
    "result",
];

/// Fail here if the test asked for it.
#[cfg(feature = "test-hooks")]
pub fn fail_point(step: &str) -> Result<()> {
    match std::env::var("CNI_SRIOV_TEST_FAIL_AT") {
        Ok(s) if s == step => Err(crate::error::Error::Injected(step.to_string())),
        _ => Ok(()),
    }
}

/// Fail here if the test asked for it (no-op in this build).
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn fail_point(_step: &str) -> Result<()> {
    Ok(())
}
