#!/usr/bin/env bash
# Quick-start demo on a machine with no NIC. Network namespaces play the pods and a remote
# host; veth pairs join them to the dataplane, which drives the host ends with net_af_packet.
#
#   ci/demo.sh            routing + VXLAN (conf/routed-vxlan.toml):
#                         pod-a 10.0.1.2 -- [pod0 | dataplane | pod1] -- pod-b 10.0.2.2
#                                             [uplink 192.168.50.1] -- remote 192.168.50.2
#                         remote runs a Linux kernel vxlan device (VNI 100, 172.16.0.2) with
#                         10.0.3.1 behind it; the dataplane routes 10.0.3.0/24 into the tunnel.
#   ci/demo.sh xconnect   an L2 cross-connect between two pods (conf/xconnect.toml).
#
# It pings across, stops the dataplane with SIGINT and shows its report (ports, per-node
# clocks, drops by reason). Everything it creates is removed on exit. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-routed}

bash ci/setup.sh
echo "== building dataplane (release)"
bash ci/build-release.sh
BIN=target/release/dataplane

NAMESPACES=(dpdemo-a dpdemo-b dpdemo-remote)
LINKS=(dp-pod0 dp-pod1 dp-up0 xc-a xc-b)
DP_PID=
cleanup() {
  if [ -n "$DP_PID" ]; then kill -INT "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null || true; fi
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  for l in "${LINKS[@]}"; do ip link del "$l" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup

# pod NS HOSTVETH ADDRESS [GATEWAY]
pod() {
  ip netns add "$1"
  ip link add "$2" type veth peer name "$2-p"
  ip link set "$2-p" netns "$1"
  ip -n "$1" link set "$2-p" name eth0
  ip -n "$1" addr add "$3" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
  # veth leaves checksums to "hardware"; have the kernel finish them, as a NIC peer sees them.
  ip netns exec "$1" ethtool -K eth0 tx off >/dev/null
  [ -n "${4:-}" ] && ip -n "$1" route add default via "$4"
  ip link set "$2" up
}

if [ "$MODE" = xconnect ]; then
  CONF=conf/xconnect.toml
  pod dpdemo-a xc-a 10.99.0.1/24
  pod dpdemo-b xc-b 10.99.0.2/24
  TARGETS=("dpdemo-a 10.99.0.2")
else
  CONF=conf/routed-vxlan.toml
  pod dpdemo-a dp-pod0 10.0.1.2/24 10.0.1.1
  pod dpdemo-b dp-pod1 10.0.2.2/24 10.0.2.1
  pod dpdemo-remote dp-up0 192.168.50.2/24
  R="ip netns exec dpdemo-remote"
  $R ip link add vx100 type vxlan id 100 local 192.168.50.2 remote 192.168.50.1 dstport 4789 dev eth0
  $R ethtool -K vx100 tx off >/dev/null
  $R ip addr add 172.16.0.2/24 dev vx100
  $R ip link set vx100 up
  $R ip addr add 10.0.3.1/32 dev lo
  $R ip route add 10.0.1.0/24 via 172.16.0.1
  $R ip route add 10.0.2.0/24 via 172.16.0.1
  TARGETS=("dpdemo-a 10.0.2.2" "dpdemo-a 10.0.3.1" "dpdemo-b 10.0.3.1")
fi

echo "== starting: $BIN --config $CONF"
OUT=$(mktemp)
"$BIN" --config "$CONF" >"$OUT" 2> >(sed -u 's/^/   | /' >&2) &
DP_PID=$!
for t in "${TARGETS[@]}"; do
  set -- $t
  # The first packets resolve ARP (and, through the tunnel, ARP over VXLAN).
  for _ in $(seq 50); do
    ip netns exec "$1" ping -c 1 -W 0.3 "$2" >/dev/null 2>&1 && break
    kill -0 "$DP_PID" 2>/dev/null || { echo "dataplane exited early" >&2; exit 1; }
  done
  echo "== ping from $1 to $2 through the dataplane"
  ip netns exec "$1" ping -c 3 -i 0.2 "$2"
done
if [ "$MODE" != xconnect ]; then
  echo "== the kernel VTEP learned our tunnel interface over VXLAN:"
  ip netns exec dpdemo-remote ip neigh show dev vx100
  echo "== TTL 1: the dataplane answers with ICMP time exceeded"
  ip netns exec dpdemo-a ping -c 1 -t 1 -W 1 10.0.2.2 || true
fi

echo "== SIGINT: the dataplane stops and reports"
kill -INT "$DP_PID"
wait "$DP_PID"
DP_PID=
cat "$OUT"
rm -f "$OUT"
