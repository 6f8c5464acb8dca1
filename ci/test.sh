#!/usr/bin/env bash
# The project's test command: formatting, lints, doc links, the Kubernetes manifests'
# validation, the node image's build and run check, and the whole test suite (unit tests,
# real-EAL integration tests on virtual devices, namespace end-to-end tests). Run ci/setup.sh
# first.
#
# Tests that need root, hugepages or DPDK fail when those are missing (DP_REQUIRE_PRIVILEGED=1,
# the default here); set DP_REQUIRE_PRIVILEGED=0 to let them skip loudly instead.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh

export DP_REQUIRE_PRIVILEGED=${DP_REQUIRE_PRIVILEGED:-1}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== cargo fmt --check"
cargo fmt --all -- --check

# The test features (cni-sriov's test hooks), shared with ci/validate-k8s.sh through ci/lib.sh.
FEATURES=("${TEST_FEATURES[@]}")

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets "${FEATURES[@]}" -- -D warnings

echo "== cargo doc -D warnings (broken and private intra-doc links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

echo "== build (the end-to-end tests run the dataplane and dpctl binaries)"
cargo build --workspace --bins "${FEATURES[@]}"

status=0
# Its step 4 (the conf_examples tests) is left to the nextest run below, which runs them too.
echo "== Kubernetes manifests (ci/validate-k8s.sh)"
DP_CI_TEST_SH=1 bash ci/validate-k8s.sh || status=1

# The node image from this tree, run as the DaemonSet runs it (a release build, then about 40 s;
# Debian's mirror must answer for the base image and the DPDK packages).
echo "== node image (ci/image.sh --check)"
bash ci/image.sh --check || status=1

echo "== tests"
cargo nextest run --workspace "${FEATURES[@]}" --no-fail-fast || status=$?

# The per-node benchmarks' output checks: without `--bench`, criterion runs each bench once,
# untimed (about 10 s, mostly loading 1M routes). The dev profile keeps overflow checks and
# debug assertions on, and the same packages and features as above reuse their build, where
# `cargo bench -- --test` would first link a fat-LTO binary for minutes.
echo "== node benchmarks, checks only (cargo test --bench nodes)"
cargo test --workspace "${FEATURES[@]}" --bench nodes || status=1

# The end-to-end benchmark's output checks (every frame of every scenario), one short run each;
# no speed is asserted.
echo "== benchmark smoke (benches/e2e --smoke)"
python3 benches/e2e --smoke || status=1

# The in-process EAL tests leave their runtime directory behind (their hugepage files are
# unlinked by --huge-unlink; the end-to-end tests run --in-memory, which leaves only the
# directory of the telemetry socket).
for p in dpt dpc dpr dpx dpbad dpm dps dpu; do rm -rf /var/run/dpdk/$p[0-9]*; done 2>/dev/null || true

exit $status
