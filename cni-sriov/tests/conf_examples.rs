//! Every NetworkAttachmentDefinition under `conf/k8s/` (the attachments, the DRA example, any
//! file added later) must hold a CNI config that `cni-sriov` itself accepts, with the
//! `deviceID` its caller injects, so a NAD with a field the plugin refuses fails here and the
//! examples cannot rot. `ci/validate-k8s.sh` checks the rest of the manifests (schemas, cross
//! references).

use std::path::{Path, PathBuf};

fn k8s_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/k8s")
}

/// Every `*.yaml` under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The documents of a multi-document YAML file (split on `---` lines).
fn documents(yaml: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in yaml.lines() {
        if line.trim_end() == "---" {
            docs.push(String::new());
        } else if let Some(d) = docs.last_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs.retain(|d| d.lines().any(|l| l.starts_with("kind:")));
    docs
}

/// A NAD as our manifests write it: metadata.name, the device plugin annotation, the config.
struct Nad {
    file: String,
    name: String,
    resource_name: Option<String>,
    config: String,
}

/// The value of the first `key: value` line indented by exactly `indent` spaces.
fn field(doc: &str, indent: usize, key: &str) -> Option<String> {
    let prefix = format!("{}{key}:", " ".repeat(indent));
    doc.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().trim_matches('"').to_string())
}

/// The block under `config: |` (the JSON), up to the first line indented less.
fn nad_config(doc: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in doc.lines() {
        if inside {
            if !line.starts_with("    ") && !line.trim().is_empty() {
                break;
            }
            out.push_str(line);
            out.push('\n');
        } else if matches!(line.trim(), "config: |" | "config: |-") {
            inside = true;
        }
    }
    out
}

fn nads() -> Vec<Nad> {
    let root = k8s_dir();
    let mut out = Vec::new();
    for path in yaml_files(&root) {
        let file = path.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in documents(&text) {
            if field(&doc, 0, "kind").as_deref() != Some("NetworkAttachmentDefinition") {
                continue;
            }
            let name = field(&doc, 2, "name").unwrap_or_else(|| panic!("{file}: NAD without name"));
            out.push(Nad {
                resource_name: field(&doc, 4, "k8s.v1.cni.cncf.io/resourceName"),
                config: nad_config(&doc),
                file: file.clone(),
                name,
            });
        }
    }
    out
}

#[test]
fn every_nad_holds_a_config_the_plugin_accepts() {
    use cni_sriov::config::UserspaceKind;
    let nads = nads();
    let mut names: Vec<&str> = nads.iter().map(|n| n.name.as_str()).collect();
    names.sort();
    // The walk must find them all: a NAD in a file it cannot see would go unchecked.
    assert_eq!(
        names,
        [
            "dp-memif",
            "dp-vhost",
            "sriov-dpdk-a",
            "sriov-dra-net",
            "sriov-net-a"
        ],
        "NADs under conf/k8s"
    );
    for nad in &nads {
        let at = format!("{} ({})", nad.file, nad.name);
        let mut v: serde_json::Value = serde_json::from_str(&nad.config)
            .unwrap_or_else(|e| panic!("{at}: spec.config is not JSON: {e}"));
        assert_eq!(v["type"], "cni-sriov", "{at}: type");
        assert_eq!(v["name"], nad.name.as_str(), "{at}: config name = NAD name");
        if v.get("userspace").is_some() {
            // memif / vhost-user: no VF, the dataplane's API makes the port.
            assert!(
                nad.resource_name.is_none(),
                "{at}: userspace NAD with a VF resource"
            );
            let c = cni_sriov::config::parse(nad.config.as_bytes())
                .unwrap_or_else(|e| panic!("{at}: refused by cni-sriov: {e}"));
            let kind = c.userspace.as_ref().map(|u| u.kind);
            assert!(
                matches!(kind, Some(UserspaceKind::Memif | UserspaceKind::VhostUser)),
                "{at}: userspace kind"
            );
            assert!(c.device_id.is_none() && c.ipam.is_some(), "{at}");
            assert_eq!(v["capabilities"]["CNIDeviceInfoFile"], true, "{at}");
            continue;
        }
        // A VF: Multus injects the device plugin's choice as runtimeConfig.deviceID; the DRA
        // driver (no resourceName annotation) puts deviceID into the netconf itself.
        match &nad.resource_name {
            Some(r) => {
                assert!(r.contains('/'), "{at}: resourceName {r:?} lacks its prefix");
                v["runtimeConfig"] = serde_json::json!({"deviceID": "0000:af:02.1"});
            }
            None => v["deviceID"] = serde_json::json!("0000:af:02.1"),
        }
        let c = cni_sriov::config::parse(v.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{at}: refused by cni-sriov: {e}"));
        assert_eq!(c.device_id.as_deref(), Some("0000:af:02.1"), "{at}");
    }
}

#[test]
fn a_nad_with_a_field_the_plugin_refuses_is_caught() {
    // The check above is only worth something if the parser refuses what it does not know.
    let nad = nads().into_iter().find(|n| n.name == "dp-memif").unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&nad.config).unwrap();
    v["userspace"]["rol"] = serde_json::json!("client");
    assert!(cni_sriov::config::parse(v.to_string().as_bytes()).is_err());
}
