#!/usr/bin/env bash
# Quick-start demo on a machine with no NIC: two "pods" (network namespaces dpdemo-a and
# dpdemo-b) are joined to the dataplane by veth pairs (xc-a, xc-b) that the dataplane drives
# with net_af_packet; conf/xconnect.toml cross-connects them. The kernel in one pod pings the
# other through the dataplane; then SIGINT stops it and it prints per-port counters.
# Everything it creates is removed on exit. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
echo "== building dataplane (release)"
cargo build --release -q -p dataplane
BIN=target/release/dataplane

DP_PID=
cleanup() {
  [ -n "$DP_PID" ] && kill -INT "$DP_PID" 2>/dev/null && wait "$DP_PID" 2>/dev/null || true
  ip netns del dpdemo-a 2>/dev/null || true
  ip netns del dpdemo-b 2>/dev/null || true
  ip link del xc-a 2>/dev/null || true
  ip link del xc-b 2>/dev/null || true
}
trap cleanup EXIT
cleanup

echo "== pods: dpdemo-a (10.99.0.1) and dpdemo-b (10.99.0.2), each behind a veth"
for side in a b; do
  ns=dpdemo-$side
  ip netns add "$ns"
  ip link add "xc-$side" type veth peer name "xc-$side-pod"
  ip link set "xc-$side-pod" netns "$ns"
  ip -n "$ns" link set "xc-$side-pod" name eth0
  ip -n "$ns" addr add "10.99.0.$([ $side = a ] && echo 1 || echo 2)/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  ip link set "xc-$side" up
done

echo "== starting: $BIN --config conf/xconnect.toml"
OUT=$(mktemp)
"$BIN" --config conf/xconnect.toml >"$OUT" 2> >(sed -u 's/^/   | /' >&2) &
DP_PID=$!
for _ in $(seq 100); do
  ip netns exec dpdemo-a ping -c 1 -W 0.2 10.99.0.2 >/dev/null 2>&1 && break
  kill -0 "$DP_PID" 2>/dev/null || { echo "dataplane exited early" >&2; exit 1; }
  sleep 0.1
done

echo "== ping dpdemo-a -> dpdemo-b through the dataplane"
ip netns exec dpdemo-a ping -c 5 -i 0.2 10.99.0.2

echo "== SIGINT: the dataplane stops and reports"
kill -INT "$DP_PID"
wait "$DP_PID"
DP_PID=
cat "$OUT"
rm -f "$OUT"
