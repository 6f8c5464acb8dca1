#!/usr/bin/env bash
# Prepares a Debian bookworm machine to build, test and run the dataplane: installs DPDK 22.11
# (runtime, headers, testpmd), the C toolchain bindgen needs, the network tools and CNI plugins
# the tests drive, and reserves and mounts hugepages. Idempotent: safe to run any number of
# times; it only installs what is missing. Needs root.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PACKAGES=(
  libdpdk-dev dpdk dpdk-dev          # DPDK 22.11 headers/libs, PMDs, dpdk-testpmd
  pkg-config clang libclang-dev      # pkg-config finds DPDK; bindgen needs libclang
  iproute2 iputils-ping ethtool      # namespaces, veth, vxlan; ping; offload switches
  procps psmisc                      # kill, pgrep, fuser
  tcpdump tshark                     # captures in tests and for people
  containernetworking-plugins        # host-local IPAM, tuning: the CNI tests' real plugins
  jq                                 # scripts read JSON results
  prometheus                         # promtool lints the metrics exposition
  python3-venv                       # kubernetes-validate's venv (ci/validate-k8s.sh)
  openvswitch-switch-dpdk            # OVS-DPDK 3.1, side by side in benches/e2e (not as a service)
  dpdk-doc make gcc                  # DPDK's l3fwd sources, built by benches/e2e (dpdk_l3fwd.py)
)
HUGEPAGES=${HUGEPAGES:-1024}         # 2 MiB pages: 2 GiB

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/setup.sh: needs root (apt-get, hugepages); run it with sudo" >&2
  exit 1
fi

# tshark asks whether non-root users may capture; answer for it, should it be installed now.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt_install_missing "${PACKAGES[@]}"

ver=$(pkg-config --modversion libdpdk)
case "$ver" in
  22.11*) ;;
  *) echo "ci/setup.sh: warning: DPDK $ver found; the project targets 22.11 LTS" >&2 ;;
esac

# Hugepages: reserve, then make sure hugetlbfs is mounted where the EAL looks.
total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
if [ "${total:-0}" -lt "$HUGEPAGES" ]; then
  echo "$HUGEPAGES" > /proc/sys/vm/nr_hugepages
  total=$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)
  if [ "$total" -lt "$HUGEPAGES" ]; then
    echo "ci/setup.sh: asked for $HUGEPAGES hugepages, the kernel gave $total (memory fragmented?)" >&2
    [ "$total" -gt 0 ] || exit 1
  fi
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs nodev /dev/hugepages
fi

# Kernel modules the interop tests use, when they are modules at all (built-in is fine too).
for m in veth vxlan; do modprobe -q "$m" 2>/dev/null || true; done

# kubernetes-validate (PyPI, pinned) checks conf/k8s offline in ci/validate-k8s.sh. It lives in a
# venv of its own: bookworm's pip refuses system-wide installs (PEP 668).
DP_VENV=${DP_VENV:-/opt/dp-venv}
KUBERNETES_VALIDATE_VERSION=1.37.0
if [ "$("$DP_VENV/bin/kubernetes-validate" --version 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  echo "ci/setup.sh: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $DP_VENV"
  /usr/bin/python3 -m venv "$DP_VENV"
  "$DP_VENV/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

if ! command -v cargo >/dev/null; then
  echo "ci/setup.sh: cargo not found: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "ci/setup.sh: installing cargo-nextest (runs each test in its own process: one EAL each)"
  cargo install --locked cargo-nextest >/dev/null
fi

echo "ci/setup.sh: ready: DPDK $ver, hugepages $(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)/$total free, $(cargo nextest --version | head -1), kubernetes-validate $("$DP_VENV/bin/kubernetes-validate" --version)"
