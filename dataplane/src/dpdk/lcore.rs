//! Running closures on worker lcores (threads the EAL created and pinned to their cores).
//!
//! A panic in a worker never unwinds into DPDK's C frames: the trampoline catches it and
//! hands it to [`LcoreJoin::join`] as an error with the panic message.

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use super::eal::Eal;
use super::error::{DpdkError, Result, strerror};

type Slot<R> = Arc<Mutex<Option<std::thread::Result<R>>>>;

struct Job<F, R> {
    f: F,
    slot: Slot<R>,
}

extern "C" fn trampoline<F, R>(arg: *mut c_void) -> c_int
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    // SAFETY: `arg` is the Box<Job<F, R>> leaked by launch_on_lcore for exactly this call;
    // it is reclaimed here once.
    let job = unsafe { Box::from_raw(arg as *mut Job<F, R>) };
    let Job { f, slot } = *job;
    let result = catch_unwind(AssertUnwindSafe(f));
    let failed = result.is_err();
    if let Ok(mut s) = slot.lock() {
        *s = Some(result);
    }
    if failed { -1 } else { 0 }
}

/// The lcore id of the calling thread (`u32::MAX` on a thread the EAL did not create).
#[inline]
pub fn lcore_id() -> u32 {
    // SAFETY: reads a thread-local; no preconditions.
    unsafe { dpdk_sys::shim_rte_lcore_id() }
}

/// The worker lcores (every enabled lcore except the main one), in order.
pub fn worker_lcores(_eal: &Eal) -> Vec<u32> {
    let mut out = Vec::new();
    let mut i = u32::MAX; // -1: start from the beginning
    loop {
        // SAFETY: EAL initialised (`_eal`); skip_main=1, wrap=0 iterates once.
        i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
        if i >= dpdk_sys::RTE_MAX_LCORE {
            break;
        }
        out.push(i);
    }
    out
}

/// A running lcore job.
#[derive(Debug)]
pub struct LcoreJoin<R> {
    lcore: u32,
    slot: Slot<R>,
}

impl<R> LcoreJoin<R> {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Whether the job has ended (returned or panicked) without waiting.
    pub fn is_finished(&self) -> bool {
        self.slot.lock().map(|s| s.is_some()).unwrap_or(true)
    }

    /// Waits for the job; a panic in it comes back as an error carrying its message.
    pub fn join(self) -> Result<R> {
        // SAFETY: the lcore was launched by us; waiting has no other precondition.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        let taken = self.slot.lock().ok().and_then(|mut s| s.take());
        match taken {
            Some(Ok(r)) => Ok(r),
            Some(Err(p)) => Err(DpdkError::Lcore {
                lcore: self.lcore,
                reason: format!("worker panicked: {}", panic_message(&p)),
            }),
            None => Err(DpdkError::Lcore {
                lcore: self.lcore,
                reason: "job did not run".into(),
            }),
        }
    }
}

fn panic_message(p: &Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

/// Runs `f` on worker lcore `lcore` (which must be idle).
pub fn launch_on_lcore<F, R>(_eal: &Eal, lcore: u32, f: F) -> Result<LcoreJoin<R>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot: Slot<R> = Arc::new(Mutex::new(None));
    let job = Box::into_raw(Box::new(Job {
        f,
        slot: slot.clone(),
    }));
    // SAFETY: trampoline::<F, R> matches the job type; ownership of `job` passes to the
    // trampoline when the launch succeeds.
    let rc = unsafe {
        dpdk_sys::rte_eal_remote_launch(Some(trampoline::<F, R>), job as *mut c_void, lcore)
    };
    if rc != 0 {
        // SAFETY: the launch failed, so the trampoline never got the job: reclaim it.
        drop(unsafe { Box::from_raw(job) });
        return Err(DpdkError::Lcore {
            lcore,
            reason: format!("cannot launch: {}", strerror(rc)),
        });
    }
    Ok(LcoreJoin { lcore, slot })
}
