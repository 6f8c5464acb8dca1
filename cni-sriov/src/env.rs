//! The `CNI_*` environment.
//!
//! Which variables a command needs follows the spec: ADD and CHECK need container ID, netns,
//! ifname and path; DEL may run with the netns already gone; GC and STATUS need only the path.
//! Missing or malformed variables are refused with code 4 naming the variable.

use crate::error::{Error, Result};

/// CNI commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// ADD.
    Add,
    /// DEL.
    Del,
    /// CHECK.
    Check,
    /// STATUS.
    Status,
    /// GC.
    Gc,
    /// VERSION.
    Version,
}

/// The parsed environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Container ID.
    pub container_id: String,
    /// Netns path (may be empty for DEL).
    pub netns: String,
    /// Interface name.
    pub ifname: String,
    /// `CNI_PATH`.
    pub path: String,
    /// `CNI_ARGS`.
    pub args: String,
}

fn var(get: &dyn Fn(&str) -> Option<String>, name: &'static str, need: bool) -> Result<String> {
    match get(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ if need => Err(Error::Env {
            var: name,
            reason: "is required".into(),
        }),
        _ => Ok(String::new()),
    }
}

/// Read the command.
pub fn command(get: &dyn Fn(&str) -> Option<String>) -> Result<Command> {
    let c = var(get, "CNI_COMMAND", true)?;
    Ok(match c.as_str() {
        "ADD" => Command::Add,
        "DEL" => Command::Del,
        "CHECK" => Command::Check,
        "STATUS" => Command::Status,
        "GC" => Command::Gc,
        "VERSION" => Command::Version,
        _ => {
            return Err(Error::Env {
                var: "CNI_COMMAND",
                reason: format!("unknown command {c:?}"),
            });
        }
    })
}

/// Read and check the variables `cmd` needs.
pub fn read(cmd: Command, get: &dyn Fn(&str) -> Option<String>) -> Result<Env> {
    let attach = matches!(cmd, Command::Add | Command::Del | Command::Check);
    let e = Env {
        container_id: var(get, "CNI_CONTAINERID", attach)?,
        netns: var(
            get,
            "CNI_NETNS",
            matches!(cmd, Command::Add | Command::Check),
        )?,
        ifname: var(get, "CNI_IFNAME", attach)?,
        path: var(get, "CNI_PATH", cmd != Command::Version)?,
        args: var(get, "CNI_ARGS", false)?,
    };
    if attach {
        if !e
            .container_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::Env {
                var: "CNI_CONTAINERID",
                reason: "may contain only letters, digits, '.', '_' and '-'".into(),
            });
        }
        if e.ifname.len() > 15
            || e.ifname == "."
            || e.ifname == ".."
            || e.ifname
                .chars()
                .any(|c| c == '/' || c == ':' || c.is_whitespace())
        {
            return Err(Error::Env {
                var: "CNI_IFNAME",
                reason: format!("{:?} is not a valid interface name", e.ifname),
            });
        }
    }
    Ok(e)
}
