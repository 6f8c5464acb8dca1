//! The example NetworkAttachmentDefinitions in `conf/sriov/` must be configs the plugin accepts
//! (with the `deviceID` Multus injects), so the examples cannot rot.

use std::path::Path;

/// The JSON block under `config: |` of a NAD manifest.
fn nad_config(yaml: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in yaml.lines() {
        if inside {
            if !line.starts_with("    ") && !line.trim().is_empty() {
                break;
            }
            out.push_str(line);
            out.push('\n');
        } else if line.trim() == "config: |" {
            inside = true;
        }
    }
    out
}

#[test]
fn example_nads_are_accepted_configs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/sriov");
    for (file, dpdk) in [("nad-kernel.yaml", false), ("nad-dpdk.yaml", true)] {
        let yaml = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            yaml.contains("k8s.v1.cni.cncf.io/resourceName:"),
            "{file} lacks the device plugin annotation"
        );
        let mut v: serde_json::Value = serde_json::from_str(&nad_config(&yaml))
            .unwrap_or_else(|e| panic!("{file}: config is not JSON: {e}"));
        assert_eq!(v["type"], "cni-sriov");
        v["runtimeConfig"] = serde_json::json!({"deviceID": "0000:af:02.1"});
        let c = cni_sriov::config::parse(v.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{file}: refused: {e}"));
        assert_eq!(c.device_id.as_deref(), Some("0000:af:02.1"));
        assert_eq!(c.ipam.is_none(), dpdk, "{file}: ipam presence");
    }
}
