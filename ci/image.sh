#!/usr/bin/env bash
# Builds the node image (conf/Containerfile) with podman, and with --check runs it the way the
# dataplane DaemonSet does and asks dpctl inside it for answers.
#
#   ci/image.sh            release binaries + image $IMAGE (default localhost/dataplane:dev)
#   ci/image.sh --check    the same, then run it: host network, /dev/hugepages mounted, root
#                          with the DaemonSet's capabilities only, cores = "auto" from the
#                          container's cpuset, virtual devices only; wait for the API socket,
#                          run `dpctl show interfaces|runtime`, add a memif pod port, read the
#                          metrics, stop, remove the container and everything it made
#   ci/image.sh --fresh    remove the image and the locally made base first (a clean build)
#
# No registry is reachable on the project's machines. When no debian:bookworm-slim image is
# present, the base is made here with `debootstrap --variant=minbase bookworm` from Debian's
# mirror and imported as $LOCAL_BASE, so the same Containerfile builds offline and online
# (BASE_IMAGE=... overrides the choice). Needs root; installs podman, runc and debootstrap when
# missing. Cargo's target directory is $CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/lib.sh

IMAGE=${IMAGE:-localhost/dataplane:dev}
OFFICIAL_BASE=docker.io/library/debian:bookworm-slim
LOCAL_BASE=${LOCAL_BASE:-localhost/debian-minbase:bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
TARGET=${CARGO_TARGET_DIR:-target}
# The metrics port the check's dataplane listens on (127.0.0.1, host network).
CHECK_METRICS_PORT=${CHECK_METRICS_PORT:-19464}

CHECK=0
FRESH=0
for a in "$@"; do
  case "$a" in
    --check) CHECK=1 ;;
    --fresh) FRESH=1 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "ci/image.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/image.sh: needs root (rootful podman, debootstrap, hugepages); run it with sudo" >&2
  exit 1
fi

# This VM refuses crun and podman's default rlimits: runc and explicit limits for every podman
# command through a containers.conf of our own. Bookworm's podman (4.3.1) takes both its
# runtime and its default_ulimits for `podman build` (the RUN steps) as for `podman run`.
export CONTAINERS_CONF=$PWD/ci/containers.conf

apt_install_missing podman runc debootstrap

T0=$SECONDS
phase() { echo "== [$((SECONDS - T0))s] $*"; }

# Everything made here is removed on exit: the staging context, debootstrap's rootfs (its
# /proc and /sys mounts first, should debootstrap die holding them), the check's container and
# host directory.
STAGE=
ROOTFS=
CHECK_NAME=dp-image-check-$$
CHECK_DIR=
CHECK_VETH=dpimg$$
cleanup() {
  local rc=$?
  if [ "$CHECK" = 1 ] && podman container exists "$CHECK_NAME" 2>/dev/null; then
    podman rm -f -t 5 "$CHECK_NAME" >/dev/null 2>&1 || true
  fi
  if [ "$CHECK" = 1 ]; then ip link del "$CHECK_VETH" 2>/dev/null || true; fi
  [ -n "$CHECK_DIR" ] && rm -rf --one-file-system "$CHECK_DIR"
  [ -n "$STAGE" ] && rm -rf "$STAGE"
  if [ -n "$ROOTFS" ] && [ -d "$ROOTFS" ]; then
    findmnt -rn -o TARGET | grep "^$ROOTFS/" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf --one-file-system "$ROOTFS"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$FRESH" = 1 ]; then
  phase "--fresh: removing $IMAGE and $LOCAL_BASE"
  podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  podman rmi -f "$LOCAL_BASE" >/dev/null 2>&1 || true
fi

phase "release binaries (ci/build-release.sh)"
bash ci/build-release.sh

# The base: an explicit BASE_IMAGE, else Debian's official slim image when present, else ours.
if [ -n "${BASE_IMAGE:-}" ]; then
  BASE=$BASE_IMAGE
elif podman image exists "$OFFICIAL_BASE"; then
  BASE=$OFFICIAL_BASE
else
  BASE=$LOCAL_BASE
  if ! podman image exists "$LOCAL_BASE"; then
    phase "no $OFFICIAL_BASE here: making $LOCAL_BASE with debootstrap from $MIRROR"
    ROOTFS=$(mktemp -d /var/tmp/dp-rootfs.XXXXXX)
    if ! debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1; then
      tail -20 "$ROOTFS.log" >&2
      rm -f "$ROOTFS.log"
      echo "ci/image.sh: debootstrap failed (is $MIRROR reachable?)" >&2
      exit 1
    fi
    rm -f "$ROOTFS.log"
    # The same apt sources and trimming as Debian's bookworm-slim image.
    rm -f "$ROOTFS/etc/apt/sources.list"
    cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
      "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*
    tar --numeric-owner --xattrs -C "$ROOTFS" \
      --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
      podman import -q --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase bookworm $MIRROR" - "$LOCAL_BASE" >/dev/null
    rm -rf --one-file-system "$ROOTFS"
    ROOTFS=
  fi
fi
phase "base image: $BASE"

# A small build context: the three binaries and the installer script, nothing else.
STAGE=$(mktemp -d /tmp/dp-image-ctx.XXXXXX)
for b in dataplane dpctl cni-sriov; do install -m 0755 "$TARGET/release/$b" "$STAGE/$b"; done
install -m 0755 conf/k8s/install-cni.sh "$STAGE/install-cni.sh"

VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || REVISION="$REVISION-dirty"
OLD_ID=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
PULL=never
podman image exists "$BASE" || PULL=missing
phase "podman build $IMAGE"
# The build's apt-get uses the host's network: no bridge, CNI or firewall rules to depend on.
podman build --pull="$PULL" -q -f conf/Containerfile --network host \
  --build-arg BASE_IMAGE="$BASE" \
  --label org.opencontainers.image.version="$VERSION" \
  --label org.opencontainers.image.revision="$REVISION" \
  --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --label org.opencontainers.image.base.name="$BASE" \
  -t "$IMAGE" "$STAGE" >/dev/null
NEW_ID=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# The previous build of this tag, now untagged, would only pile up.
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then podman rmi "$OLD_ID" >/dev/null 2>&1 || true; fi
echo "   $IMAGE ${NEW_ID:0:12} $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'), version $VERSION, revision $REVISION"
phase "image built"

[ "$CHECK" = 1 ] || exit 0

# ---------------------------------------------------------------------------------------------
phase "check: the image's default user"
uid=$(podman run --rm --network none "$IMAGE" id -u)
[ "$uid" = 10001 ] || { echo "ci/image.sh: the default user is uid $uid, not 10001" >&2; exit 1; }
podman run --rm --network none "$IMAGE" dpctl --version
label=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.revision"}}' "$IMAGE")
[ "$label" = "$REVISION" ] || { echo "ci/image.sh: revision label is '$label'" >&2; exit 1; }

if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
  echo "ci/image.sh: no hugetlbfs at /dev/hugepages: run ci/setup.sh first" >&2
  exit 1
fi
if ss -ltnH "sport = :$CHECK_METRICS_PORT" | grep -q .; then
  echo "ci/image.sh: port $CHECK_METRICS_PORT is taken; set CHECK_METRICS_PORT" >&2
  exit 1
fi

# The host side of the DaemonSets' volumes, in a directory of our own: /opt/cni/bin, the
# config (the ConfigMap) and /run/dataplane (the API socket and the pods' socket directories).
CHECK_DIR=$(mktemp -d /tmp/dp-image-check.XXXXXX)
mkdir -p "$CHECK_DIR/cni-bin" "$CHECK_DIR/etc" "$CHECK_DIR/run"

phase "check: the CNI installer's init container (root, no capability, read-only root), twice"
for _ in 1 2; do
  podman run --rm --network none --user 0:0 --cap-drop all --read-only \
    -v "$CHECK_DIR/cni-bin:/host/opt/cni/bin" "$IMAGE" \
    install-cni.sh /usr/local/bin/cni-sriov /host/opt/cni/bin
done
cmp "$CHECK_DIR/cni-bin/cni-sriov" "$TARGET/release/cni-sriov"
echo "   the host's copy answers VERSION: $(echo '{"cniVersion":"1.0.0"}' | CNI_COMMAND=VERSION "$CHECK_DIR/cni-bin/cni-sriov")"
PREFIX=dpimg$$
cat >"$CHECK_DIR/etc/dataplane.toml" <<EOF
# ci/image.sh --check: virtual devices only.
[eal]
cores = "auto"
args = ["--no-pci", "--file-prefix=$PREFIX", "--huge-dir=/dev/hugepages", "--huge-unlink", "--log-level=*:warning"]

[[port]]
name = "uplink"
device = "net_null0,no-rx=1"         # transmit-only: no packet storm
address = "192.168.77.1/24"

[[port]]
name = "ring0"
device = "net_ring0"
address = "10.77.0.1/24"

[[route]]
prefix = "10.78.0.0/16"
via = "192.168.77.2"

[control]
socket = "/run/dataplane/api.sock"
metrics = "127.0.0.1:$CHECK_METRICS_PORT"
state-file = "/run/dataplane/api-state.json"
EOF

# The DaemonSet's security context: root, every capability dropped but these four (see
# conf/k8s/README.md for why each), podman's default seccomp profile.
CAPS=IPC_LOCK,NET_ADMIN,NET_RAW,SYS_NICE
phase "check: podman run (host network, /dev/hugepages, --cap-drop all --cap-add $CAPS, cpuset 0-1)"
podman run -d --name "$CHECK_NAME" \
  --network host --user 0:0 --cap-drop all --cap-add "$CAPS" --cpuset-cpus 0-1 \
  -v /dev/hugepages:/dev/hugepages \
  -v "$CHECK_DIR/etc:/etc/dataplane:ro" -v "$CHECK_DIR/run:/run/dataplane" \
  "$IMAGE" >/dev/null

ready=0
for _ in $(seq 120); do
  if [ "$(podman inspect --format '{{.State.Running}}' "$CHECK_NAME")" != true ]; then
    echo "ci/image.sh: the dataplane container exited:" >&2
    podman logs "$CHECK_NAME" >&2
    exit 1
  fi
  if podman exec "$CHECK_NAME" dpctl --timeout 2 status >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [ "$ready" != 1 ]; then
  echo "ci/image.sh: no answer on the API socket after 60 s:" >&2
  podman logs "$CHECK_NAME" >&2
  exit 1
fi
# expect_port NAME: `dpctl show interfaces` in the container lists port NAME (its row is
# printed), else the check stops naming the missing port.
expect_port() {
  local ifs
  ifs=$(podman exec "$CHECK_NAME" dpctl show interfaces) ||
    { echo "ci/image.sh: dpctl show interfaces failed (looking for port $1)" >&2; exit 1; }
  grep -w -- "$1" <<<"$ifs" ||
    { echo "ci/image.sh: port $1 missing from show interfaces:" >&2; echo "$ifs" >&2; exit 1; }
}

phase "check: dpctl answers inside the container"
# cores = "auto" took the container's cpuset 0-1: main lcore 0, worker lcore 1.
lcores=$(podman logs "$CHECK_NAME" 2>&1 | grep -o 'forwarding on .*(main lcore [0-9]*)' || true)
echo "-- dataplane: $lcores"
grep -q '\[1\] (main lcore 0)' <<<"$lcores" ||
  { echo "ci/image.sh: expected worker lcore 1 and main lcore 0 from the cpuset" >&2; exit 1; }
echo "-- dpctl status"
podman exec "$CHECK_NAME" dpctl status
echo "-- dpctl show interfaces"
podman exec "$CHECK_NAME" dpctl show interfaces
expect_port uplink >/dev/null
expect_port ring0 >/dev/null
echo "-- dpctl show runtime"
podman exec "$CHECK_NAME" dpctl show runtime

# A pod's memif port, as cni-sriov makes it: the socket appears on the host's side of the
# shared /run/dataplane, where a pod's hostPath volume would find it.
echo "-- dpctl port add pod-check --memif /run/dataplane/pods/check/net1.sock"
podman exec "$CHECK_NAME" dpctl port add pod-check --memif /run/dataplane/pods/check/net1.sock --address 10.77.1.1/32
[ -S "$CHECK_DIR/run/pods/check/net1.sock" ] ||
  { echo "ci/image.sh: no memif socket at the host's $CHECK_DIR/run/pods/check/net1.sock" >&2; exit 1; }
echo "   the host sees the pod socket: $(stat -c '%A %U' "$CHECK_DIR/run/pods/check/net1.sock") pods/check/net1.sock"
expect_port pod-check

# A host interface through net_af_packet, as a node without SR-IOV would attach its uplink:
# this is what needs NET_RAW (the AF_PACKET socket) and NET_ADMIN (promiscuous mode).
ip link add "$CHECK_VETH" type veth peer name "${CHECK_VETH}p"
ip link set "$CHECK_VETH" up
ip link set "${CHECK_VETH}p" up
echo "-- dpctl port add host0 --device net_af_packet0,iface=$CHECK_VETH (a host veth)"
podman exec "$CHECK_NAME" dpctl port add host0 --device "net_af_packet0,iface=$CHECK_VETH" --address 10.77.2.1/24
expect_port host0

echo "-- GET http://127.0.0.1:$CHECK_METRICS_PORT/metrics (from the host: host network)"
metrics=$(exec 3<>"/dev/tcp/127.0.0.1/$CHECK_METRICS_PORT" &&
  printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && cat <&3)
grep -E '^[a-z_]+\{[^}]*port="uplink"' <<<"$metrics" | head -3
grep -q 'port="uplink"' <<<"$metrics" ||
  { echo "ci/image.sh: the metrics do not name port uplink" >&2; exit 1; }

echo "-- the image's non-root user cannot drive root's owner-only socket (dpctl exit code 3)"
rc=0
podman exec --user 10001 "$CHECK_NAME" dpctl show interfaces 2>&1 || rc=$?
[ "$rc" = 3 ] || { echo "ci/image.sh: expected dpctl exit code 3 as uid 10001, got $rc" >&2; exit 1; }

phase "check: podman stop (SIGTERM): the dataplane stops cleanly and reports"
podman stop -t 20 "$CHECK_NAME" >/dev/null
code=$(podman inspect --format '{{.State.ExitCode}}' "$CHECK_NAME")
podman logs "$CHECK_NAME" 2>&1 | tail -n 12 | sed 's/^/   | /'
[ "$code" = 0 ] || { echo "ci/image.sh: the dataplane exited with $code" >&2; exit 1; }
podman rm "$CHECK_NAME" >/dev/null
if compgen -G "/dev/hugepages/${PREFIX}*" >/dev/null; then
  echo "ci/image.sh: hugepage files left behind: $(echo /dev/hugepages/"$PREFIX"*)" >&2
  exit 1
fi
phase "check passed; container, its host directory and hugepage files are gone"
