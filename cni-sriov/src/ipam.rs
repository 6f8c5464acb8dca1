//! Delegating to the IPAM plugin.
//!
//! The IPAM plugin is exec'd from `CNI_PATH` with our environment (only `CNI_COMMAND` changed)
//! and our netconf on stdin, as the spec's delegation rules say. Version negotiation: an IPAM
//! plugin older than our config's version (Debian's `host-local` stops at 1.0.0) answers code 1;
//! we then ask it for its versions and retry with the highest one both sides speak. STATUS and GC
//! exist only from 1.1.0; an IPAM plugin that does not speak 1.1.0 has nothing to report or
//! collect, so those are forwarded only when it does.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Map, Value};

use crate::error::{CODE_IPAM, Error, Result};
use crate::types::{CniResult, SUPPORTED_VERSIONS, parse_version};

/// One IPAM delegation context.
pub struct Ipam<'a> {
    /// Plugin type (binary name).
    pub plugin: String,
    /// Our netconf, passed on.
    pub conf: &'a Map<String, Value>,
    /// `CNI_PATH`.
    pub cni_path: &'a str,
    /// (container ID, ifname, netns) when they differ from our own environment (GC tears down
    /// attachments the runtime did not name).
    pub attachment: Option<(String, String, String)>,
}

impl<'a> Ipam<'a> {
    /// Context for `conf`'s `ipam.type`.
    pub fn new(plugin: &str, conf: &'a Map<String, Value>, cni_path: &'a str) -> Self {
        Ipam {
            plugin: plugin.to_string(),
            conf,
            cni_path,
            attachment: None,
        }
    }

    /// Run IPAM for attachment (`cid`, `ifname`, `netns`) rather than our environment's.
    pub fn for_attachment(mut self, cid: &str, ifname: &str, netns: &str) -> Self {
        self.attachment = Some((cid.into(), ifname.into(), netns.into()));
        self
    }

    fn find(&self) -> Result<PathBuf> {
        for dir in self.cni_path.split(':').filter(|d| !d.is_empty()) {
            let p = PathBuf::from(dir).join(&self.plugin);
            if p.is_file() {
                return Ok(p);
            }
        }
        Err(Error::Ipam {
            plugin: self.plugin.clone(),
            code: CODE_IPAM,
            msg: format!("not found in CNI_PATH {:?}", self.cni_path),
        })
    }

    /// Run `command` with `conf` (cniVersion replaced by `version` when given). Returns stdout
    /// parsed as JSON (Null when empty) or the plugin's error.
    fn exec(&self, command: &str, version: Option<&str>) -> Result<Value> {
        let bin = self.find()?;
        let mut conf = self.conf.clone();
        if let Some(v) = version {
            conf.insert("cniVersion".into(), Value::String(v.into()));
        }
        let stdin = serde_json::to_vec(&conf).map_err(|e| Error::Internal(e.to_string()))?;
        let ipam_err = |code, msg| Error::Ipam {
            plugin: self.plugin.clone(),
            code,
            msg,
        };
        let mut cmd = Command::new(&bin);
        if let Some((cid, ifname, netns)) = &self.attachment {
            cmd.env("CNI_CONTAINERID", cid)
                .env("CNI_IFNAME", ifname)
                .env("CNI_NETNS", netns);
        }
        let mut child = cmd
            .env("CNI_COMMAND", command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| ipam_err(CODE_IPAM, format!("cannot run {}: {e}", bin.display())))?;
        // A plugin may answer without reading its stdin: CNI's skel does not read it for
        // VERSION, and a plugin may fail early. Its stdin is then closed, and if it exited
        // before we wrote, the write fails with EPIPE. That is no error of ours (Go's os/exec,
        // which libcni uses, ignores it too): its answer is in its output and exit status.
        let written = match child.stdin.take() {
            Some(mut si) => si.write_all(&stdin),
            None => Ok(()),
        };
        let out = child
            .wait_with_output()
            .map_err(|e| ipam_err(CODE_IPAM, format!("wait: {e}")))?;
        match written {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(ipam_err(CODE_IPAM, format!("write stdin: {e}")));
            }
            _ => {}
        }
        let v: Value = if out.stdout.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&out.stdout).map_err(|e| {
                ipam_err(
                    CODE_IPAM,
                    format!(
                        "{command}: unreadable output ({e}); stderr: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                )
            })?
        };
        if out.status.success() {
            return Ok(v);
        }
        // The plugin's own code and message are passed through, as the spec asks.
        let code = v
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(CODE_IPAM);
        let msg = [v.get("msg"), v.get("details")]
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(": ");
        Err(ipam_err(
            code,
            format!(
                "{command} failed: {}",
                if msg.is_empty() {
                    String::from_utf8_lossy(&out.stderr).trim().to_string()
                } else {
                    msg
                }
            ),
        ))
    }

    /// The versions the plugin says it supports.
    pub fn versions(&self) -> Result<Vec<String>> {
        let v = self.exec("VERSION", None)?;
        Ok(v.get("supportedVersions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Highest version both we and the plugin speak, not above `ours`.
    fn negotiate(&self, ours: &str) -> Result<String> {
        let theirs = self.versions()?;
        let ours_t = parse_version(ours);
        SUPPORTED_VERSIONS
            .iter()
            .rev()
            .find(|v| parse_version(v) <= ours_t && theirs.iter().any(|t| t == *v))
            .map(|v| v.to_string())
            .ok_or_else(|| Error::Ipam {
                plugin: self.plugin.clone(),
                code: 1,
                msg: format!("no common CNI version (it supports {theirs:?})"),
            })
    }

    /// Run `command`, retrying once with a negotiated version on "incompatible version".
    fn exec_negotiated(&self, command: &str) -> Result<Value> {
        match self.exec(command, None) {
            Err(Error::Ipam { code: 1, .. }) => {
                let ours = self
                    .conf
                    .get("cniVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("1.0.0");
                let v = self.negotiate(ours)?;
                self.exec(command, Some(&v))
            }
            other => other,
        }
    }

    /// IPAM ADD.
    pub fn add(&self) -> Result<CniResult> {
        let v = self.exec_negotiated("ADD")?;
        CniResult::parse(&v, "IPAM result")
    }

    /// IPAM DEL (errors are returned; the caller decides whether DEL can go on).
    pub fn del(&self) -> Result<()> {
        self.exec_negotiated("DEL").map(|_| ())
    }

    /// IPAM CHECK.
    pub fn check(&self) -> Result<()> {
        self.exec_negotiated("CHECK").map(|_| ())
    }

    /// STATUS or GC, forwarded only to a plugin that speaks 1.1.0. Returns whether it ran.
    pub fn forward_if_supported(&self, command: &str) -> Result<bool> {
        let vs = self.versions()?;
        if !vs.iter().any(|v| v == "1.1.0") {
            return Ok(false);
        }
        self.exec(command, Some("1.1.0")).map(|_| true)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::{Map, Value, json};

    use super::Ipam;
    use crate::error::Error;

    /// A plugin that answers `answer` with exit status `status` without reading its stdin.
    fn plugin(dir: &std::path::Path, answer: &str, status: u8) {
        let path = dir.join("fake-ipam");
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{answer}'\nexit {status}\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A netconf far larger than a pipe's buffer, so the write outlives the plugin and fails
    /// with EPIPE every time, not only when the plugin happens to exit first.
    fn big_conf() -> Map<String, Value> {
        let v = json!({"cniVersion": "1.1.0", "name": "n", "pad": "x".repeat(1 << 20)});
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_plugin_that_answers_without_reading_stdin_is_heard() {
        let dir = tempfile::tempdir().unwrap();
        let cni_path = dir.path().to_str().unwrap().to_string();
        let conf = big_conf();
        plugin(
            dir.path(),
            r#"{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}"#,
            0,
        );
        let ipam = Ipam::new("fake-ipam", &conf, &cni_path);
        assert_eq!(ipam.versions().unwrap(), ["0.4.0", "1.0.0"]);

        // Failing early: its own code and message, not "broken pipe".
        plugin(
            dir.path(),
            r#"{"cniVersion":"1.0.0","code":11,"msg":"try again later"}"#,
            1,
        );
        match ipam.del() {
            Err(Error::Ipam { code: 11, msg, .. }) => assert!(msg.contains("try again"), "{msg}"),
            other => panic!("expected the plugin's own error (code 11), got {other:?}"),
        }
    }
}
