//! On-disk state: attachment records, VF allocations and per-VF locks.
//!
//! Layout under the state directory (default `/var/lib/cni/cni-sriov`):
//! - `attachments/<containerID>-<ifname>.json`: everything DEL needs (original VF state, mode,
//!   what was applied, the result), written *before* anything is changed.
//! - `allocations/<pci>.json`: which attachment owns a VF, so two pods never get one VF.
//! - `locks/<pci>.lock`: `flock` per VF, held for a whole ADD/DEL/GC step on that VF.
//!
//! Every write is write-to-temp + fsync + rename, so a crash leaves the old or the new file,
//! never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::netlink::VfConfig;

/// How long ADD/DEL wait for a VF lock before answering "try again later" (code 11).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Write `body` to `path` atomically.
pub fn write_atomic(path: &Path, body: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| Error::state(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let res = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(Error::state(path, e));
    }
    Ok(())
}

/// Remove a file; already gone is fine.
pub fn remove(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::state(path, e)),
    }
}

/// How the attachment is handed to the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// VF netdev moved into the pod.
    KernelVf,
    /// VF bound to a userspace driver; only its PCI address is handed over.
    DpdkVf,
    /// A memif port of the dataplane; the pod gets its socket.
    Memif,
    /// A vhost-user port of the dataplane; the pod gets its socket.
    VhostUser,
}

impl Mode {
    /// A port of the dataplane rather than a VF.
    pub fn is_userspace(self) -> bool {
        matches!(self, Mode::Memif | Mode::VhostUser)
    }
}

/// What a memif/vhost-user attachment holds in the dataplane (the VF fields of
/// [`Attachment`] stay empty for these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserspacePort {
    /// The dataplane's API socket used at ADD (DEL and GC talk to the same one).
    pub dataplane_socket: PathBuf,
    /// The port's exact name in the dataplane.
    pub port: String,
    /// The memif/vhost-user socket on the host.
    pub socket: PathBuf,
    /// ADD asked the dataplane to create the port (teardown must delete it).
    pub port_requested: bool,
    /// IPAM has released the pod's addresses (a pending teardown must not run it twice).
    #[serde(default)]
    pub ipam_released: bool,
    /// DEL ran while the dataplane was unreachable: the port and route may still exist and a
    /// later DEL or GC must delete them.
    #[serde(default)]
    pub cleanup_pending: bool,
}

/// The VF netdev as it was in the host before ADD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedNetdev {
    /// Host name.
    pub name: String,
    /// MAC.
    pub mac: Vec<u8>,
    /// MTU.
    pub mtu: u32,
    /// Admin up.
    pub up: bool,
}

/// Everything DEL, CHECK and GC need about one attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// Container ID.
    pub container_id: String,
    /// Interface name in the pod.
    pub ifname: String,
    /// Pod netns path.
    pub netns: String,
    /// Network name.
    pub network: String,
    /// Mode, read from the VF's driver at ADD.
    pub mode: Mode,
    /// VF PCI address.
    pub pci: String,
    /// PF netdev.
    pub pf: String,
    /// VF index.
    pub vf_index: u32,
    /// PF-side VF state before ADD.
    pub orig_pf: VfConfig,
    /// What ADD set on the PF (only these fields are restored).
    pub applied_pf: VfConfig,
    /// Host netdev before ADD (kernel mode).
    pub orig_netdev: Option<SavedNetdev>,
    /// Temporary name used while moving the netdev between namespaces.
    pub temp_name: String,
    /// IPAM plugin type, when IPAM ran (or was about to).
    pub ipam: Option<String>,
    /// Device-info file written at ADD.
    pub device_info_file: Option<PathBuf>,
    /// The result ADD returned (current format), once complete.
    pub result: Option<Value>,
    /// memif/vhost-user modes: the dataplane port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<UserspacePort>,
}

/// Owner record of a VF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// Container ID.
    pub container_id: String,
    /// Interface name.
    pub ifname: String,
}

/// A held per-VF lock; released on drop.
pub struct VfLock {
    _lock: Flock<File>,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// State under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    fn attachment_path(&self, cid: &str, ifname: &str) -> PathBuf {
        self.dir
            .join("attachments")
            .join(format!("{cid}-{ifname}.json"))
    }

    fn allocation_path(&self, pci: &str) -> PathBuf {
        self.dir.join("allocations").join(format!("{pci}.json"))
    }

    /// Take the lock of VF `pci`, waiting up to [`LOCK_TIMEOUT`].
    pub fn lock_vf(&self, pci: &str) -> Result<VfLock> {
        let dir = self.dir.join("locks");
        fs::create_dir_all(&dir).map_err(|e| Error::state(&dir, e))?;
        let path = dir.join(format!("{pci}.lock"));
        let deadline = Instant::now() + LOCK_TIMEOUT;
        loop {
            let f = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| Error::state(&path, e))?;
            match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
                Ok(l) => return Ok(VfLock { _lock: l }),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(Error::TryAgain(format!(
                        "VF {pci} is locked by another CNI operation for more than {}s",
                        LOCK_TIMEOUT.as_secs()
                    )));
                }
                Err((_, e)) => return Err(Error::state(&path, e.into())),
            }
        }
    }

    /// The attachment record, if any.
    pub fn attachment(&self, cid: &str, ifname: &str) -> Result<Option<Attachment>> {
        read_json(&self.attachment_path(cid, ifname))
    }

    /// Save the attachment record.
    pub fn save_attachment(&self, a: &Attachment) -> Result<()> {
        let p = self.attachment_path(&a.container_id, &a.ifname);
        write_atomic(&p, &to_json(a)?)
    }

    /// Remove the attachment record.
    pub fn remove_attachment(&self, cid: &str, ifname: &str) -> Result<()> {
        remove(&self.attachment_path(cid, ifname))
    }

    /// Every attachment record (GC).
    pub fn attachments(&self) -> Result<Vec<Attachment>> {
        let dir = self.dir.join("attachments");
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::state(&dir, e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json")
                && let Some(a) = read_json::<Attachment>(&p)?
            {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Owner of VF `pci`, if any.
    pub fn allocation(&self, pci: &str) -> Result<Option<Allocation>> {
        read_json(&self.allocation_path(pci))
    }

    /// Record `a` as the owner of VF `pci`.
    pub fn save_allocation(&self, pci: &str, a: &Allocation) -> Result<()> {
        write_atomic(&self.allocation_path(pci), &to_json(a)?)
    }

    /// Drop VF `pci`'s owner record.
    pub fn remove_allocation(&self, pci: &str) -> Result<()> {
        remove(&self.allocation_path(pci))
    }
}

fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(v).map_err(|e| Error::Internal(format!("serialize state: {e}")))
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Result<Option<T>> {
    match fs::read(p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::state(
                p,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::state(p, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cnit-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let d = tmpdir("atomic");
        let p = d.join("a/b.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(d.join("a"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "temp file left behind: {names:?}");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn vf_lock_excludes_second_holder_until_dropped() {
        let d = tmpdir("lock");
        let s = Store::new(&d);
        let l = s.lock_vf("0000:00:05.1").unwrap();
        // A second open file description on the same file must not get the lock.
        let f = OpenOptions::new()
            .write(true)
            .open(d.join("locks/0000:00:05.1.lock"))
            .unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err());
        drop(l);
        let f = OpenOptions::new()
            .write(true)
            .open(d.join("locks/0000:00:05.1.lock"))
            .unwrap();
        assert!(Flock::lock(f, FlockArg::LockExclusiveNonblock).is_ok());
        fs::remove_dir_all(&d).unwrap();
    }
}
