//! The API state file: ports and routes made through the control API, written after every
//! change (write to a temporary file, then rename, so a crash never leaves half a file) and
//! applied again at startup, so pods' memif/vhost-user ports come back after a restart.

use std::path::Path;

use dp_api::{CreatePort, Route};
use serde::{Deserialize, Serialize};

/// What the API made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiState {
    #[serde(default)]
    pub ports: Vec<CreatePort>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

impl ApiState {
    /// Reads the file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<ApiState, String> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("state file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ApiState::default()),
            Err(e) => Err(format!("state file {}: {e}", path.display())),
        }
    }

    /// Writes the file atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let err = |e: std::io::Error| format!("state file {}: {e}", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_vec_pretty(self).map_err(|e| format!("state file: {e}"))?;
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("state.json");
        assert_eq!(ApiState::load(&path).unwrap(), ApiState::default());
        let s: ApiState = serde_json::from_str(
            r#"{"ports":[{"name":"p1","device":{"kind":"memif","socket":"/run/pods/p1.sock"},"address":"10.56.0.1/32"}],
                "routes":[{"prefix":"10.56.0.5/32","next_hops":[{"interface":"p1"}]}]}"#,
        )
        .unwrap();
        s.save(&path).unwrap();
        assert_eq!(ApiState::load(&path).unwrap(), s);
        std::fs::write(&path, "{ broken").unwrap();
        assert!(ApiState::load(&path).unwrap_err().contains("state file"));
    }
}
