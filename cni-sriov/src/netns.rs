//! Running code inside another network namespace.
//!
//! `setns(CLONE_NEWNET)` changes only the calling thread. We therefore run namespace work on a
//! fresh, dedicated OS thread that enters the target namespace and then simply ends: it is never
//! switched back and never reused, so no later work can accidentally run in the pod's namespace
//! (the failure mode of switching back on a pooled thread and getting it wrong). Every netlink
//! socket used for the pod is opened on that thread, after the switch.

use std::fs::File;
use std::path::Path;

use nix::sched::{CloneFlags, setns};

use crate::error::{Error, Result};

/// Open a namespace file (for moving links into it, or entering it).
pub fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| Error::Internal(format!("open netns {}: {e}", path.display())))
}

/// The calling thread's own network namespace (the "host" side for this plugin run).
pub fn current() -> Result<File> {
    open(Path::new("/proc/thread-self/ns/net"))
}

/// Run `f` in the namespace `ns` on a dedicated thread that ends afterwards.
pub fn run_in<T, F>(ns: &File, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    std::thread::scope(|s| {
        let h = s.spawn(|| -> Result<T> {
            setns(ns, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::Internal(format!("setns into pod namespace: {e}")))?;
            f()
        });
        h.join()
            .map_err(|_| Error::Internal("namespace worker thread panicked".into()))?
    })
}
