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

#[test]
fn userspace_example_nads_are_accepted_configs() {
    use cni_sriov::config::UserspaceKind;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/userspace");
    for (file, kind) in [
        ("nad-memif.yaml", UserspaceKind::Memif),
        ("nad-vhost-user.yaml", UserspaceKind::VhostUser),
    ] {
        let yaml = std::fs::read_to_string(dir.join(file)).unwrap();
        let cfg = nad_config(&yaml);
        let c = cni_sriov::config::parse(cfg.as_bytes())
            .unwrap_or_else(|e| panic!("{file}: refused: {e}"));
        assert_eq!(c.userspace.map(|u| u.kind), Some(kind), "{file}");
        assert!(c.device_id.is_none() && c.ipam.is_some(), "{file}");
        let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
        assert_eq!(v["capabilities"]["CNIDeviceInfoFile"], true, "{file}");
    }
    let pod = std::fs::read_to_string(dir.join("pod-example.yaml")).unwrap();
    for want in [
        "dp-memif@net1",
        "dp-vhost@net2",
        "hostPath:",
        "path: /run/dataplane/pods",
        "mountPath: /run/dataplane/pods",
        "hugepages-2Mi:",
        "medium: HugePages-2Mi",
    ] {
        assert!(pod.contains(want), "pod-example.yaml lacks {want:?}");
    }
}
