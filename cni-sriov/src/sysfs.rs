//! sysfs access through a configurable root.
//!
//! Production reads `/sys`; tests point the root at a fake tree (PF and VF directories with
//! `physfn`, `virtfnN`, `driver`, `iommu_group` links and `net/<ifname>` entries). Everything the
//! plugin learns about a device comes from here, including the VF's *current* driver: the mode is
//! never assumed from configuration, because the DRA driver may already have rebound the VF.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Drivers that mean "userspace owns this VF" (DPDK mode).
pub const USERSPACE_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio"];

/// A sysfs tree.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

/// What sysfs says about one VF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfInfo {
    /// VF PCI address.
    pub pci: String,
    /// PF PCI address.
    pub pf_pci: String,
    /// PF netdev name.
    pub pf_ifname: String,
    /// VF index on the PF.
    pub index: u32,
    /// Bound driver, if any.
    pub driver: Option<String>,
    /// VF netdev name in the namespace sysfs reflects, if any.
    pub netdev: Option<String>,
    /// IOMMU group number, if any.
    pub iommu_group: Option<String>,
}

impl VfInfo {
    /// True when the VF is bound to a userspace (DPDK) driver.
    pub fn is_userspace(&self) -> bool {
        self.driver
            .as_deref()
            .is_some_and(|d| USERSPACE_DRIVERS.contains(&d))
    }
}

fn link_name(p: &Path) -> Option<String> {
    fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

fn first_entry(dir: &Path) -> Option<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.into_iter().next()
}

impl Sysfs {
    /// A tree rooted at `root` (`/sys` in production).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Sysfs { root: root.into() }
    }

    /// `<root>/bus/pci/devices/<pci>`.
    pub fn device_dir(&self, pci: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(pci)
    }

    /// Everything we need about the VF at `pci`.
    pub fn vf(&self, pci: &str) -> Result<VfInfo> {
        let dev = self.device_dir(pci);
        let dev_err = |reason: String| Error::Device {
            pci: pci.to_string(),
            reason,
        };
        if !dev.exists() {
            return Err(dev_err(format!(
                "no such PCI device ({} does not exist)",
                dev.display()
            )));
        }
        let pf_pci = link_name(&dev.join("physfn"))
            .ok_or_else(|| dev_err("not a SR-IOV VF (no physfn link)".into()))?;
        let pf_dir = self.device_dir(&pf_pci);
        let mut index = None;
        for e in fs::read_dir(&pf_dir)
            .map_err(|e| dev_err(format!("cannot list PF {pf_pci}: {e}")))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_prefix("virtfn")
                && let Ok(n) = n.parse::<u32>()
                && link_name(&e.path()).as_deref() == Some(pci)
            {
                index = Some(n);
                break;
            }
        }
        let index =
            index.ok_or_else(|| dev_err(format!("PF {pf_pci} has no virtfnN link to it")))?;
        let pf_ifname = first_entry(&pf_dir.join("net"))
            .ok_or_else(|| dev_err(format!("PF {pf_pci} has no netdev")))?;
        Ok(VfInfo {
            pci: pci.to_string(),
            pf_pci,
            pf_ifname,
            index,
            driver: link_name(&dev.join("driver")),
            netdev: first_entry(&dev.join("net")),
            iommu_group: link_name(&dev.join("iommu_group")),
        })
    }

    /// The VF's netdev name as sysfs shows it now (used by DEL to find a VF the kernel returned
    /// to the host when the pod's namespace went away).
    pub fn netdev_of(&self, pci: &str) -> Option<String> {
        first_entry(&self.device_dir(pci).join("net"))
    }
}
