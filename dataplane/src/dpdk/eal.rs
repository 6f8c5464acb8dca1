//! The Environment Abstraction Layer: initialised once per process, cleaned up on drop.

use std::ffi::{CString, c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{DpdkError, Result, last_error};

/// DPDK allows `rte_eal_init` once per process, even after `rte_eal_cleanup`.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised EAL. Holding one proves DPDK may be used; dropping it runs
/// `rte_eal_cleanup`, after which no other DPDK object may be used (drop it last).
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Initialises the EAL with `args` (without the program name, which is added).
    ///
    /// The argument strings are leaked on purpose: the EAL and some drivers keep pointers
    /// into argv for the life of the process.
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::AlreadyInitialized);
        }
        let mut argv: Vec<*mut c_char> = Vec::new();
        for arg in std::iter::once("dataplane".to_string())
            .chain(args.into_iter().map(|s| s.as_ref().to_string()))
        {
            let c = CString::new(arg.clone()).map_err(|_| DpdkError::NulInArgument(arg))?;
            argv.push(c.into_raw());
        }
        let argc = argv.len() as c_int;
        let argv: &'static mut [*mut c_char] = Box::leak(argv.into_boxed_slice());
        // SAFETY: argv holds argc valid NUL-terminated strings that live for the rest of the
        // process (leaked above); INITIALISED guarantees this is the only call.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::EalInit {
                reason: last_error(),
            });
        }
        Ok(Eal { _private: () })
    }

    /// The main lcore's id.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: valid after EAL init, which `self` proves.
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The DPDK version string, e.g. "DPDK 22.11.11".
    pub fn version() -> String {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_version()) };
        v.to_string_lossy().into_owned()
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised by `init`; `Eal` is not Clone, so this runs once.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

/// Checks made before `rte_eal_init`, so a missing prerequisite gives one clear line instead
/// of a page of EAL log output.
#[derive(Debug, Clone, Copy)]
pub struct EalPreflight;

impl EalPreflight {
    /// Refuses to start when the EAL would need hugepages and none are free or none are
    /// mounted. `args` are the EAL arguments (`--no-huge` skips the check).
    pub fn hugepages(args: &[String]) -> std::result::Result<(), String> {
        if args.iter().any(|a| a == "--no-huge") {
            return Ok(());
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo")
            .map_err(|e| format!("cannot read /proc/meminfo: {e}"))?;
        let field = |name: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        let free = field("HugePages_Free:");
        let size_kb = field("Hugepagesize:");
        if free == 0 {
            return Err(format!(
                "not enough hugepages: HugePages_Free is 0 (HugePages_Total {}, page size {} kB); \
                 reserve some with `echo 1024 > /proc/sys/vm/nr_hugepages` (or run ci/setup.sh), \
                 or add \"--no-huge\" to [eal] args for a small test",
                field("HugePages_Total:"),
                size_kb
            ));
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if !args.iter().any(|a| a == "--in-memory")
            && !mounts.lines().any(|l| l.contains(" hugetlbfs "))
        {
            return Err("no hugetlbfs is mounted; mount one with \
                        `mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages` \
                        (or run ci/setup.sh), or add \"--in-memory\" to [eal] args"
                .to_string());
        }
        Ok(())
    }
}
