#!/usr/bin/env bash
# Validates the Kubernetes manifests under conf/k8s offline (ci/test.sh runs it):
#  1. every built-in object passes `kubernetes-validate --strict` (no unknown fields) for each
#     Kubernetes version in K8S_VERSIONS, and every kind is one it has a schema for or our custom
#     resource (k8s.cni.cncf.io/v1 NetworkAttachmentDefinition);
#  2. ci/k8s_check.py: NAD configs are JSON for cni-sriov; the device plugin ConfigMap's JSON
#     provides exactly the NADs' resourceNames; example pods request what their attachments
#     need; the DaemonSets agree with the dataplane ConfigMap (socket, metrics port, hugepages,
#     Guaranteed QoS, dropped capabilities, dpctl probes); the 1Gi DaemonSet differs from the
#     2Mi one only in pages;
#  3. the ConfigMap's dataplane.toml passes `dataplane --check` (the daemon's own validation), of
#     a dataplane built with test.sh's command (a no-op under it; DATAPLANE_BIN=... skips it);
#  4. every NAD's CNI config passes cni-sriov's own config validation
#     (cargo test --workspace --test conf_examples: the package set and features of test.sh, so
#     cargo unifies dependency features the same way and nothing rebuilds). Under ci/test.sh
#     (DP_CI_TEST_SH=1) this step is skipped: test.sh's nextest run runs these tests.
# ci/setup.sh installs kubernetes-validate (pinned) into $DP_VENV (default /opt/dp-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh

K8S_VERSIONS=${K8S_VERSIONS:-1.34.0 1.37.0}
VENV=${DP_VENV:-/opt/dp-venv}
KV=$VENV/bin/kubernetes-validate
if [ ! -x "$KV" ]; then
  echo "ci/validate-k8s.sh: $KV missing: run ci/setup.sh (it installs kubernetes-validate)" >&2
  exit 1
fi
mapfile -t FILES < <(find conf/k8s -name '*.yaml' -o -name '*.yml' | sort)
[ ${#FILES[@]} -gt 0 ] || { echo "ci/validate-k8s.sh: no manifests under conf/k8s" >&2; exit 1; }
status=0

vflags=()
for v in $K8S_VERSIONS; do vflags+=(-k "$v"); done
echo "== kubernetes-validate $("$KV" --version) --strict ${vflags[*]}: ${#FILES[@]} files"
# It only warns (exit code 0) about a kind it has no schema for. Our custom resources have none
# there: their WARN lines are expected (step 2 checks them); any other WARN fails.
out=$("$KV" --strict "${vflags[@]}" "${FILES[@]}" 2>&1) || status=1
NAD_WARN="^WARN .* Couldn't find schema for kind NetworkAttachmentDefinition with api version k8s\.cni\.cncf\.io/v1 for "
grep -v "$NAD_WARN" <<<"$out" | grep -v '^INFO ' || true
unknown=$(grep -v "$NAD_WARN" <<<"$out" | grep -c '^WARN ' || true)
echo "   $(grep -c '^INFO .* passed' <<<"$out") object/version pairs passed, $(grep -c '^ERROR' <<<"$out") failed, $unknown unknown"
if [ "$unknown" != 0 ]; then
  echo "ci/validate-k8s.sh: $unknown object/version pair(s) not validated (WARN above): a kind that is" \
    "neither Kubernetes' nor one of our custom resources" >&2
  status=1
fi

echo "== cross-checks (ci/k8s_check.py)"
TOML=$(mktemp /tmp/dp-k8s-config.XXXXXX.toml)
trap 'rm -f "$TOML"' EXIT
"$VENV/bin/python3" ci/k8s_check.py conf/k8s --toml-out "$TOML" ||
  status=1

echo "== the ConfigMap's dataplane.toml through dataplane --check"
if [ -n "${DATAPLANE_BIN:-}" ]; then
  BIN=$DATAPLANE_BIN
else
  # ci/test.sh's build: the same packages and features, so neither rebuilds the other's.
  cargo build -q --workspace --bins "${TEST_FEATURES[@]}"
  BIN=${CARGO_TARGET_DIR:-target}/debug/dataplane
fi
if [ -s "$TOML" ]; then
  "$BIN" --config "$TOML" --check 2>&1 |
    sed "s|$TOML|conf/k8s/dataplane-config.yaml: dataplane.toml|" || status=1
fi

echo "== every NAD's config through cni-sriov's validation"
if [ "${DP_CI_TEST_SH:-0}" = 1 ]; then
  echo "   skipped here: ci/test.sh's cargo nextest run runs the conf_examples tests"
elif out=$(cargo test -q --workspace "${TEST_FEATURES[@]}" --test conf_examples 2>&1); then
  grep 'test result' <<<"$out"
else
  grep -v '^\s*Compiling\|^\s*Finished\|^\s*Running' <<<"$out"
  status=1
fi

[ $status = 0 ] && echo "ci/validate-k8s.sh: all manifests valid" || echo "ci/validate-k8s.sh: FAILED" >&2
exit $status
