//! PF-side VF control behind a trait.
//!
//! Production talks netlink to the PF (`IFLA_VFINFO_LIST`). Tests have no SR-IOV hardware, so
//! with the `test-hooks` feature a recording implementation keeps each fake VF's PF-side state in
//! a JSON file and appends every change to a log the tests assert on. That implementation is
//! compiled only with the feature, never into a default or release build.

use crate::error::Result;
use crate::netlink::{Netlink, VfConfig};

/// Reads and writes the PF-side settings of one VF.
pub trait PfControl {
    /// Current PF-side settings of VF `vf` on PF `pf` (host namespace).
    fn read(&self, pf: &str, vf: u32) -> Result<VfConfig>;
    /// Apply the `Some` fields of `c`.
    fn apply(&self, pf: &str, vf: u32, c: &VfConfig) -> Result<()>;
}

/// Netlink implementation (host namespace; opens its socket per call on the calling thread).
pub struct NetlinkPf;

impl PfControl for NetlinkPf {
    fn read(&self, pf: &str, vf: u32) -> Result<VfConfig> {
        Netlink::open()?.vf_config(pf, vf)
    }

    fn apply(&self, pf: &str, vf: u32, c: &VfConfig) -> Result<()> {
        Netlink::open()?.set_vf_config(pf, vf, c)
    }
}

/// Recording implementation for tests (feature `test-hooks`).
#[cfg(feature = "test-hooks")]
pub mod recording {
    use std::io::Write;
    use std::path::PathBuf;

    use super::{PfControl, VfConfig};
    use crate::error::{Error, Result};

    /// Keeps fake PF-side state under `dir` and logs every change to `dir/calls.jsonl`.
    pub struct RecordingPf {
        /// Directory of the fake PF state.
        pub dir: PathBuf,
    }

    impl RecordingPf {
        fn file(&self, pf: &str, vf: u32) -> PathBuf {
            self.dir.join(format!("{pf}-vf{vf}.json"))
        }
    }

    impl PfControl for RecordingPf {
        fn read(&self, pf: &str, vf: u32) -> Result<VfConfig> {
            let p = self.file(pf, vf);
            match std::fs::read(&p) {
                Ok(b) => serde_json::from_slice(&b)
                    .map_err(|e| Error::Internal(format!("fake PF state {}: {e}", p.display()))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(VfConfig {
                    mac: Some([0; 6]),
                    vlan: Some((0, 0, 0x8100)),
                    spoofchk: Some(true),
                    trust: Some(false),
                    rate: Some((0, 0)),
                    link_state: Some(0),
                }),
                Err(e) => Err(Error::state(&p, e)),
            }
        }

        fn apply(&self, pf: &str, vf: u32, c: &VfConfig) -> Result<()> {
            let mut cur = self.read(pf, vf)?;
            if c.mac.is_some() {
                cur.mac = c.mac;
            }
            if c.vlan.is_some() {
                cur.vlan = c.vlan;
            }
            if c.spoofchk.is_some() {
                cur.spoofchk = c.spoofchk;
            }
            if c.trust.is_some() {
                cur.trust = c.trust;
            }
            if c.rate.is_some() {
                cur.rate = c.rate;
            }
            if c.link_state.is_some() {
                cur.link_state = c.link_state;
            }
            let p = self.file(pf, vf);
            let body = serde_json::to_vec(&cur).map_err(|e| Error::Internal(e.to_string()))?;
            crate::state::write_atomic(&p, &body)?;
            let line = serde_json::json!({"pf": pf, "vf": vf, "set": c}).to_string() + "\n";
            let log = self.dir.join("calls.jsonl");
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| Error::state(&log, e))
        }
    }
}

/// The PF control this build uses: recording when the `test-hooks` feature is on and
/// `CNI_SRIOV_TEST_PF_DIR` is set, netlink otherwise.
pub fn select() -> Box<dyn PfControl> {
    #[cfg(feature = "test-hooks")]
    if let Some(d) = std::env::var_os("CNI_SRIOV_TEST_PF_DIR") {
        return Box::new(recording::RecordingPf { dir: d.into() });
    }
    Box::new(NetlinkPf)
}
