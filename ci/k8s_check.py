#!/usr/bin/env python3
"""Cross-checks the Kubernetes manifests under conf/k8s (run by ci/validate-k8s.sh, with the
venv's Python: it needs PyYAML).

kubernetes-validate checks each built-in object against its schema (and ci/validate-k8s.sh fails
on a kind it has no schema for, but our NADs); this checks what no schema can: NADs hold JSON for
cni-sriov whose resourceName the device plugin ConfigMap provides, pods ask for what their
attachments need, the DaemonSets agree with the dataplane's ConfigMap (socket, metrics port,
hugepages), the 1Gi DaemonSet differs from the 2Mi one in its hugepages only, and so on.
The dataplane's ConfigMap TOML is written to --toml-out for `dataplane --check`.

usage: k8s_check.py K8S_DIR --toml-out FILE
"""

import argparse
import copy
import json
import pathlib
import sys
import tomllib

import yaml

NAD_ANNOTATION = "k8s.v1.cni.cncf.io/resourceName"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
DEFAULT_API_SOCKET = "/run/dataplane/api.sock"
DEFAULT_SOCKET_DIR = "/run/dataplane/pods"
DRA_DRIVER = "sriovnetwork.k8snetworkplumbingwg.io"

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


class Obj:
    def __init__(self, file, doc):
        self.file = file
        self.doc = doc
        self.kind = doc.get("kind", "?")
        self.api = doc.get("apiVersion", "?")
        meta = doc.get("metadata") or {}
        self.name = meta.get("name", "?")
        self.ns = meta.get("namespace", "default")
        self.annotations = meta.get("annotations") or {}

    def __str__(self):
        return f"{self.file}: {self.kind}/{self.name}"


def load(root):
    objs = []
    for path in sorted(root.rglob("*.y*ml")):
        rel = path.relative_to(root.parent.parent)
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            err(rel, f"not YAML: {e}")
            continue
        for d in docs:
            if not isinstance(d, dict) or not {"apiVersion", "kind", "metadata"} <= d.keys():
                err(rel, "a document without apiVersion, kind and metadata")
                continue
            objs.append(Obj(rel, d))
    return objs


def pod_specs(objs):
    """(object, pod spec, pod metadata) for Pods and the pod templates of DaemonSets."""
    for o in objs:
        if o.kind == "Pod":
            yield o, o.doc.get("spec") or {}, o.doc.get("metadata") or {}
        elif o.kind in ("DaemonSet", "Deployment", "StatefulSet", "Job"):
            t = (o.doc.get("spec") or {}).get("template") or {}
            yield o, t.get("spec") or {}, t.get("metadata") or {}


def containers(spec):
    return (spec.get("initContainers") or []) + (spec.get("containers") or [])


def check_nads(objs, dp_resources):
    nads = {}
    for o in objs:
        if o.kind != "NetworkAttachmentDefinition":
            continue
        try:
            conf = json.loads((o.doc.get("spec") or {}).get("config", ""))
        except json.JSONDecodeError as e:
            err(o, f"spec.config is not JSON: {e}")
            continue
        nads[(o.ns, o.name)] = (o, conf)
        if conf.get("type") != "cni-sriov":
            err(o, f"config type is {conf.get('type')!r}, not cni-sriov")
        if conf.get("name") != o.name:
            err(o, f"config name {conf.get('name')!r} differs from the NAD's name")
        res = o.annotations.get(NAD_ANNOTATION)
        if "userspace" in conf:
            if res:
                err(o, "a memif/vhost-user NAD names a VF resource")
        elif res is not None and res not in dp_resources:
            err(o, f"{NAD_ANNOTATION} {res!r} is not a pool of the device plugin ConfigMap "
                   f"({', '.join(sorted(dp_resources)) or 'none found'})")
    return nads


def device_plugin_resources(objs):
    """resourcePrefix/resourceName of every pool in the SR-IOV device plugin's ConfigMap."""
    found = set()
    cms = [o for o in objs if o.kind == "ConfigMap" and "config.json" in (o.doc.get("data") or {})]
    if not cms:
        err("conf/k8s", "no SR-IOV device plugin ConfigMap (data config.json)")
    for o in cms:
        try:
            conf = json.loads(o.doc["data"]["config.json"])
        except json.JSONDecodeError as e:
            err(o, f"config.json is not JSON: {e}")
            continue
        pools = conf.get("resourceList")
        if not isinstance(pools, list) or not pools:
            err(o, "config.json has no resourceList")
            continue
        for i, p in enumerate(pools):
            name = p.get("resourceName")
            if not name or not isinstance(p.get("selectors"), (dict, list)):
                err(o, f"resourceList[{i}] needs resourceName and selectors")
                continue
            full = f"{p.get('resourcePrefix', 'intel.com')}/{name}"
            if full in found:
                err(o, f"resourceList[{i}]: {full} twice")
            found.add(full)
    return found


def dataplane_config(objs):
    cms = [o for o in objs if o.kind == "ConfigMap" and "dataplane.toml" in (o.doc.get("data") or {})]
    if len(cms) != 1:
        err("conf/k8s", f"expected one ConfigMap with dataplane.toml, found {len(cms)}")
        return None, None, {}
    o = cms[0]
    text = o.doc["data"]["dataplane.toml"]
    try:
        toml = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        err(o, f"dataplane.toml: {e}")
        toml = {}
    return o, text, toml


def check_pods(objs, nads, dp_resources):
    claim_templates = {(o.ns, o.name): o for o in objs if o.kind == "ResourceClaimTemplate"}
    classes = {o.name for o in objs if o.kind == "DeviceClass"}
    used = set()
    for o, spec, meta in pod_specs(objs):
        ns = (meta.get("namespace") or o.ns)
        ann = meta.get("annotations") or {}
        ctrs = containers(spec)
        requests = {}
        for c in ctrs:
            r = c.get("resources") or {}
            requests.update(r.get("requests") or {})
            requests.update(r.get("limits") or {})
        # A DPDK pod (hugepages) polls: it wants Guaranteed QoS with whole CPUs of its own.
        if any(k.startswith("hugepages-") for k in requests):
            for c in ctrs:
                r = c.get("resources") or {}
                if r.get("requests") != r.get("limits") or not str(
                        (r.get("limits") or {}).get("cpu", "")).isdigit():
                    err(o, f"container {c['name']}: a hugepages pod needs Guaranteed QoS "
                           "(requests = limits, integer cpu)")
        mounts = {m["name"]: m["mountPath"] for c in ctrs for m in c.get("volumeMounts") or []}
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for net in filter(None, (s.strip() for s in ann.get(NETWORKS_ANNOTATION, "").split(","))):
            name = net.split("@")[0]
            nns, _, nname = name.rpartition("/")
            key = (nns or ns, nname)
            if key not in nads:
                err(o, f"network {net!r}: no NAD {key[0]}/{key[1]} under conf/k8s")
                continue
            used.add(key)
            nad, conf = nads[key]
            res = nad.annotations.get(NAD_ANNOTATION)
            if res and requests.get(res) is None:
                err(o, f"network {net!r} needs the resource {res} in the containers' resources")
            if "userspace" in conf:
                sdir = conf.get("socketDir", DEFAULT_SOCKET_DIR)
                ok = any(v.get("hostPath", {}).get("path") == sdir and mounts.get(n) == sdir
                         for n, v in volumes.items())
                if not ok:
                    err(o, f"network {net!r}: mount hostPath {sdir} at {sdir} (the socketPath)")
                if not any(k.startswith("hugepages-") for k in requests):
                    err(o, f"network {net!r}: a userspace interface needs hugepages")
        for rc in spec.get("resourceClaims") or []:
            tname = rc.get("resourceClaimTemplateName")
            t = claim_templates.get((ns, tname))
            if t is None:
                err(o, f"resourceClaims: no ResourceClaimTemplate {ns}/{tname}")
                continue
            devices = t.doc["spec"]["spec"].get("devices") or {}
            for r in devices.get("requests") or []:
                dc = (r.get("exactly") or {}).get("deviceClassName")
                if dc not in classes:
                    err(t, f"request {r.get('name')}: no DeviceClass {dc!r} under conf/k8s")
            for c in devices.get("config") or []:
                op = c.get("opaque") or {}
                if op.get("driver") != DRA_DRIVER:
                    continue
                nad = (op.get("parameters") or {}).get("netAttachDefName")
                if (ns, nad) not in nads:
                    err(t, f"VfConfig netAttachDefName {nad!r}: no NAD {ns}/{nad}")
                else:
                    used.add((ns, nad))
    for key, (nad, _) in nads.items():
        if key not in used:
            err(nad, "no example pod uses this NAD")
    used_res = {nads[k][0].annotations.get(NAD_ANNOTATION) for k in nads}
    for r in sorted(dp_resources - used_res):
        err("device plugin ConfigMap", f"pool {r} is used by no NAD")


def check_dataplane(objs, cm, toml, nads):
    dss = [o for o in objs if o.kind == "DaemonSet" and o.name == "dataplane"]
    if len(dss) != 2:
        err("conf/k8s", f"expected the dataplane DaemonSet in a 2Mi and a 1Gi variant, found {len(dss)}")
        return
    control = toml.get("control") or {}
    socket = control.get("socket", DEFAULT_API_SOCKET)
    metrics_port = str(control.get("metrics", "")).rpartition(":")[2]
    if toml.get("eal", {}).get("cores") != "auto":
        err(cm, 'eal.cores should be "auto" (the CPUs the CPU manager gives the pod)')
    for o in dss:
        spec = o.doc["spec"]["template"]["spec"]
        meta = o.doc["spec"]["template"]["metadata"]
        c = spec["containers"][0]
        if not spec.get("hostNetwork"):
            err(o, "hostNetwork: true is needed")
        ann = meta.get("annotations") or {}
        if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != metrics_port:
            err(o, f"prometheus.io annotations must name the ConfigMap's metrics port {metrics_port!r}")
        res = c.get("resources") or {}
        if res.get("requests") != res.get("limits"):
            err(o, "requests must equal limits (Guaranteed QoS)")
        cpu = str((res.get("limits") or {}).get("cpu", ""))
        if not cpu.isdigit() or int(cpu) < 2:
            err(o, f"cpu {cpu!r}: an integer of at least 2 (control core + a worker)")
        sc = c.get("securityContext") or {}
        if sc.get("privileged") or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            err(o, "not privileged, capabilities: drop ALL and add them one by one")
        for probe in ("readinessProbe", "livenessProbe"):
            cmd = ((c.get(probe) or {}).get("exec") or {}).get("command") or []
            if not cmd or cmd[0] != "dpctl":
                err(o, f"{probe} must ask the API with dpctl")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
        sock_dir = str(pathlib.PurePosixPath(socket).parent)
        v = volumes.get(mounts.get(sock_dir, ""), {})
        if v.get("hostPath", {}).get("path") != sock_dir:
            err(o, f"the API socket's directory {sock_dir} must be a hostPath mounted at the same path")
        cfg = volumes.get(mounts.get("/etc/dataplane", ""), {}).get("configMap", {}).get("name")
        if cfg != cm.name:
            err(o, f"/etc/dataplane must be the ConfigMap {cm.name}")
        huge = [k for k in (res.get("limits") or {}) if k.startswith("hugepages-")]
        hv = volumes.get(mounts.get("/dev/hugepages", ""), {}).get("emptyDir", {}).get("medium", "")
        if len(huge) != 1 or hv != "HugePages-" + huge[0].split("-")[1]:
            err(o, f"one hugepages resource and a matching emptyDir at /dev/hugepages ({huge}, {hv!r})")
    # The 1Gi variant is the 2Mi one with 1 GiB pages, nothing more.
    norm = []
    for o in dss:
        d = copy.deepcopy(o.doc)
        c = d["spec"]["template"]["spec"]["containers"][0]
        for part in ("requests", "limits"):
            r = c["resources"][part]
            for k in [k for k in r if k.startswith("hugepages-")]:
                del r[k]
        for v in d["spec"]["template"]["spec"]["volumes"]:
            if v.get("emptyDir", {}).get("medium", "").startswith("HugePages-"):
                v["emptyDir"]["medium"] = "HugePages"
        norm.append(d)
    if norm[0] != norm[1]:
        err(f"{dss[0].file} / {dss[1].file}", "the two variants differ in more than hugepages")
    # NADs' dataplaneSocket is the ConfigMap's socket (check_nads parsed their configs).
    for o, conf in nads.values():
        if "userspace" in conf and conf.get("dataplaneSocket", DEFAULT_API_SOCKET) != socket:
            err(o, f"dataplaneSocket is not the dataplane's socket {socket}")


def check_installer(objs):
    dss = [o for o in objs if o.kind == "DaemonSet" and o.name == "cni-sriov-installer"]
    if len(dss) != 1:
        err("conf/k8s", "expected one cni-sriov-installer DaemonSet")
        return
    o = dss[0]
    spec = o.doc["spec"]["template"]["spec"]
    init = (spec.get("initContainers") or [{}])[0]
    cmd = init.get("command") or []
    if not cmd or cmd[0] != "install-cni.sh" or len(cmd) != 3:
        err(o, "the init container runs install-cni.sh SRC DEST_DIR")
        return
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    mounts = {m["mountPath"]: m["name"] for m in init.get("volumeMounts") or []}
    if volumes.get(mounts.get(cmd[2], ""), {}).get("hostPath", {}).get("path") != "/opt/cni/bin":
        err(o, f"{cmd[2]} must be the host's /opt/cni/bin")


def check_images(objs):
    images = {c["image"] for o, spec, _ in pod_specs(objs)
              if o.kind == "DaemonSet" for c in containers(spec)}
    if len(images) != 1:
        err("conf/k8s", f"the DaemonSets should use one image, not {sorted(images)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--toml-out", type=pathlib.Path, required=True)
    a = ap.parse_args()
    objs = load(a.dir.resolve())
    dp_resources = device_plugin_resources(objs)
    nads = check_nads(objs, dp_resources)
    check_pods(objs, nads, dp_resources)
    cm, text, toml = dataplane_config(objs)
    if cm is not None:
        a.toml_out.write_text(text)
        check_dataplane(objs, cm, toml, nads)
    check_installer(objs)
    check_images(objs)
    kinds = {}
    for o in objs:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if errors:
        for e in errors:
            print(f"FAIL {e}")
        print(f"k8s_check: {len(errors)} problem(s) in {len(objs)} objects")
        return 1
    print(f"k8s_check: {len(objs)} objects consistent ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
