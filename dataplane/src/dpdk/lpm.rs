//! DPDK's own `rte_lpm` (DIR-24-8), wrapped for the benchmark that compares it with our FIB.
//! The dataplane itself uses `dp_net::ip4` (live updates under RCU, host-bit checks).

use std::ffi::CString;
use std::ptr::NonNull;

use super::eal::Eal;
use super::error::{DpdkError, Result, last_error, strerror};

/// An `rte_lpm` table, freed on drop.
#[derive(Debug)]
pub struct Lpm {
    raw: NonNull<dpdk_sys::rte_lpm>,
}

/// `RTE_LPM_LOOKUP_SUCCESS`: set in a bulk lookup's result when a route matched.
pub const LPM_FOUND: u32 = 0x0100_0000;

impl Lpm {
    pub fn new(_eal: &Eal, name: &str, max_rules: u32, tbl8s: u32) -> Result<Lpm> {
        let cname = CString::new(name).map_err(|_| DpdkError::NulInArgument(name.into()))?;
        let cfg = dpdk_sys::rte_lpm_config {
            max_rules,
            number_tbl8s: tbl8s,
            flags: 0,
        };
        // SAFETY: EAL initialised (`_eal`); valid name and config for the call.
        let raw = unsafe { dpdk_sys::rte_lpm_create(cname.as_ptr(), -1, &cfg) };
        let raw = NonNull::new(raw).ok_or_else(|| DpdkError::EalInit {
            reason: format!("rte_lpm_create: {}", last_error()),
        })?;
        Ok(Lpm { raw })
    }

    /// Adds `ip/depth -> next_hop` (host-order address).
    pub fn add(&mut self, ip: u32, depth: u8, next_hop: u32) -> Result<()> {
        // SAFETY: the table is ours (&mut self).
        let rc = unsafe { dpdk_sys::rte_lpm_add(self.raw.as_ptr(), ip, depth, next_hop) };
        if rc < 0 {
            return Err(DpdkError::EalInit {
                reason: format!("rte_lpm_add: {}", strerror(rc)),
            });
        }
        Ok(())
    }

    /// Looks up `ips` (host order); `out[i]` has `LPM_FOUND` set when a route matched.
    #[inline]
    pub fn lookup_bulk(&self, ips: &[u32], out: &mut [u32]) {
        let n = ips.len().min(out.len());
        // SAFETY: both slices hold at least n elements; lookups only read the table.
        unsafe {
            dpdk_sys::shim_rte_lpm_lookup_bulk(
                self.raw.as_ptr(),
                ips.as_ptr(),
                out.as_mut_ptr(),
                n as u32,
            )
        };
    }
}

impl Drop for Lpm {
    fn drop(&mut self) {
        // SAFETY: created by rte_lpm_create and freed once.
        unsafe { dpdk_sys::rte_lpm_free(self.raw.as_ptr()) };
    }
}
