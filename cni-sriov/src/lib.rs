//! `cni-sriov`: a CNI 1.0/1.1 plugin that gives pods SR-IOV VFs.
//!
//! Kernel mode moves the VF netdev into the pod and configures it; DPDK mode (VF bound to
//! vfio-pci or a uio driver, read from sysfs) sets PF-side attributes and hands over the PCI
//! address. Configuration is sriov-cni's, unchanged. With a `userspace` object in the config the
//! pod gets a memif or vhost-user port of the running dataplane instead ([`userspace`]), created
//! through the dataplane's API (`dp-api`, which links no DPDK either). No DPDK is linked.
#![forbid(unsafe_code)]

pub mod config;
pub mod env;
pub mod error;
pub mod hooks;
pub mod ipam;
pub mod log;
pub mod netlink;
pub mod netns;
pub mod pf;
pub mod plugin;
pub mod state;
pub mod sysfs;
pub mod types;
pub mod userspace;

use serde_json::json;

use crate::env::Command;
use crate::error::{Error, Result};
use crate::types::SUPPORTED_VERSIONS;

/// What the binary prints and how it exits.
#[derive(Debug)]
pub struct Outcome {
    /// stdout (result or error JSON; empty for commands that print nothing).
    pub stdout: String,
    /// Process exit code.
    pub exit: i32,
}

/// Run one CNI command: `get` reads the environment, `stdin` is the netconf.
pub fn run(get: &dyn Fn(&str) -> Option<String>, stdin: &[u8]) -> Outcome {
    // For error objects: the config's version when we could read one.
    let version = config::parse_version_only(stdin)
        .ok()
        .filter(|v| SUPPORTED_VERSIONS.contains(&v.as_str()))
        .unwrap_or_else(|| "1.1.0".to_string());
    match run_inner(get, stdin) {
        Ok(Some(v)) => Outcome {
            stdout: v.to_string(),
            exit: 0,
        },
        Ok(None) => Outcome {
            stdout: String::new(),
            exit: 0,
        },
        Err(e) => {
            log::error(&e.to_string());
            Outcome {
                stdout: serde_json::to_string(&e.to_cni(&version)).unwrap_or_default(),
                exit: 1,
            }
        }
    }
}

fn run_inner(
    get: &dyn Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Result<Option<serde_json::Value>> {
    let cmd = env::command(get)?;
    if cmd == Command::Version {
        // VERSION needs nothing but cniVersion, and must answer even for versions we lack.
        let v = config::parse_version_only(stdin)?;
        return Ok(Some(json!({
            "cniVersion": v,
            "supportedVersions": SUPPORTED_VERSIONS,
        })));
    }
    let env = env::read(cmd, get)?;
    let conf = config::parse(stdin)?;
    log::init(
        conf.log_level,
        conf.log_file.as_deref(),
        format!(
            "cmd={cmd:?} containerID={:?} ifname={:?} network={:?}",
            env.container_id, env.ifname, conf.name
        ),
    );
    if matches!(cmd, Command::Status | Command::Gc)
        && !types::version_at_least(&conf.cni_version, "1.1.0")
    {
        return Err(Error::IncompatibleVersion(
            conf.cni_version.clone(),
            format!("{cmd:?} needs cniVersion 1.1.0"),
        ));
    }
    let pf = pf::select();
    let ctx = plugin::Ctx {
        conf: &conf,
        env: &env,
        pf: pf.as_ref(),
    };
    match cmd {
        Command::Add => plugin::add(&ctx).map(Some),
        Command::Del => plugin::del(&ctx).map(|_| None),
        Command::Check => plugin::check(&ctx).map(|_| None),
        Command::Gc => plugin::gc(&ctx).map(|_| None),
        Command::Status => plugin::status(&ctx).map(|_| None),
        Command::Version => Ok(None),
    }
}
