//! Small structured (logfmt) logger for `logFile`/`logLevel`.
//!
//! A CNI plugin lives for one command, so a global sink set once from the netconf is enough; we
//! do not pull a logging framework for it. Without `logFile`, warnings and errors go to stderr
//! (runtimes capture it); stdout is reserved for the CNI result.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Log levels, named as sriov-cni names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Only fatal.
    Panic,
    /// Errors.
    Error,
    /// Warnings.
    Warning,
    /// Normal operation.
    Info,
    /// Everything.
    Debug,
}

impl Level {
    /// Parse a `logLevel` value.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.to_ascii_lowercase().as_str() {
            "panic" => Level::Panic,
            "error" => Level::Error,
            "warning" | "warn" => Level::Warning,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Level::Panic => "panic",
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

struct Sink {
    level: Level,
    file: Option<std::fs::File>,
    context: String,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// Set up the sink. `context` (command, container ID, ifname) prefixes every line. A log file
/// that cannot be opened is reported on stderr and otherwise ignored: logging must never fail
/// an attachment.
pub fn init(level: Level, file: Option<&Path>, context: String) {
    let file = file.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| eprintln!("cni-sriov: cannot open logFile {}: {e}", p.display()))
            .ok()
    });
    let _ = SINK.set(Mutex::new(Sink {
        level,
        file,
        context,
    }));
}

/// Write one line at `level`.
pub fn log(level: Level, msg: &str) {
    let Some(sink) = SINK.get() else {
        if level <= Level::Warning {
            eprintln!("cni-sriov: {}: {msg}", level.name());
        }
        return;
    };
    let Ok(mut s) = sink.lock() else { return };
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut line = String::new();
    let _ = write!(
        line,
        "ts={ts:.6} level={} {} msg={:?}",
        level.name(),
        s.context,
        msg
    );
    line.push('\n');
    let enabled = level <= s.level;
    match (&mut s.file, enabled) {
        (Some(f), true) => {
            // One write per line with O_APPEND keeps concurrent plugins' lines whole.
            let _ = f.write_all(line.as_bytes());
        }
        (None, _) if level <= Level::Warning => {
            eprint!("cni-sriov: {line}");
        }
        _ => {}
    }
}

/// Info-level line.
pub fn info(msg: &str) {
    log(Level::Info, msg);
}

/// Debug-level line.
pub fn debug(msg: &str) {
    log(Level::Debug, msg);
}

/// Warning-level line.
pub fn warn(msg: &str) {
    log(Level::Warning, msg);
}

/// Error-level line.
pub fn error(msg: &str) {
    log(Level::Error, msg);
}
