#!/usr/bin/env bash
# Throughput beside its ceiling, in one run on the same devices: dpdk-testpmd io mode, our
# dataplane's cross-connect, and the criterion raw-burst loop, all net_null (source) ->
# net_null,no-rx=1 (sink) on one worker core. net_null hands out pool mbufs without touching
# packet data, so this measures per-burst overhead, not memory bandwidth. Then a memif pod
# link, then the end-to-end benchmark on real frames (benches/e2e). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-10}
# testpmd takes 2-3 s to start; shorter runs leave too few stats samples for a median.
if [ "$SECS" -lt 8 ]; then SECS=8; fi

bash ci/setup.sh >/dev/null
bash ci/build-release.sh

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else print a[int((NR+1)/2)]}'; }

echo "== testpmd io mode, ${SECS}s"
TP_LOG=$(mktemp)
timeout -s INT "$SECS" dpdk-testpmd -l 0-1 --no-pci --file-prefix dpbench-tp --huge-unlink \
  --vdev net_null0 --vdev net_null1,no-rx=1 --log-level='*:warning' -- \
  --forward-mode=io --stats-period 1 -a --no-lsc-interrupt --txd=1024 --rxd=1024 >"$TP_LOG" 2>&1 || true
# Tx-pps of the sink port, skipping the first two seconds of ramp-up.
TP=$(grep -E 'Tx-pps' "$TP_LOG" | awk '{print $2}' | awk '$1 > 0' | tail -n +3 | median)
rm -f "$TP_LOG"; rm -rf /var/run/dpdk/dpbench-tp

echo "== dataplane cross-connect, poll-mode, ${SECS}s"
CFG=$(mktemp --suffix=.toml)
cat >"$CFG" <<TOML
[eal]
cores = "0-1"
args = ["--no-pci", "--file-prefix=dpbench-dp", "--huge-unlink", "--log-level=*:warning"]
[control]
socket = "/tmp/dpbench-api.sock"
[worker]
poll-mode = true
[[port]]
name = "src"
device = "net_null0"
[[port]]
name = "sink"
device = "net_null1,no-rx=1"
[[xconnect]]
ports = ["src", "sink"]
TOML
DP_OUT=$(timeout -s INT "$SECS" target/release/dataplane --config "$CFG" 2>/dev/null || true)
rm -f "$CFG"; rm -rf /var/run/dpdk/dpbench-dp
echo "$DP_OUT"
DP=$(echo "$DP_OUT" | awk '/^forwarded/ {print $(NF-1)}')

# A pod link: a pod-side DPDK generator (testpmd txonly, memif client, forwarding on core 0)
# sends 64-byte UDP over many flows through a memif port of the dataplane (worker on core 1),
# which routes it into a VXLAN tunnel and out to net_null.
MEMIF_DIR=$(mktemp -d)
MEMIF_SOCK="$MEMIF_DIR/pod.sock"
MEMIF_MAC=02:00:00:00:56:01
cat >"$MEMIF_DIR/dp.toml" <<TOML
[eal]
cores = "0-1"
args = ["--no-pci", "--file-prefix=dpbench-memif", "--in-memory", "--log-level=*:warning"]
[control]
socket = "$MEMIF_DIR/api.sock"
[worker]
poll-mode = true
[[port]]
name = "pod"
device = "net_memif_bench,role=server,id=0,socket=$MEMIF_SOCK,socket-abstract=no,mac=$MEMIF_MAC"
address = "10.56.0.1/24"
[[port]]
name = "out"
device = "net_null1,no-rx=1"
address = "10.0.2.1/24"
[[tunnel]]
name = "vx100"
vni = 100
local = "10.0.2.1"
remote = "10.0.2.9"
address = "172.16.0.1/24"
[[route]]
prefix = "10.2.0.0/16"
via = "172.16.0.2"
[[neighbor]]
interface = "vx100"
ip = "172.16.0.2"
mac = "02:00:00:00:16:02"
[[neighbor]]
interface = "out"
ip = "10.0.2.9"
mac = "02:00:00:00:02:09"
TOML
echo "== memif pod -> dataplane route + VXLAN encap -> null, ${SECS}s"
target/release/dataplane --config "$MEMIF_DIR/dp.toml" >"$MEMIF_DIR/dp.out" 2>/dev/null &
MEMIF_DP_PID=$!
for _ in $(seq 100); do [ -S "$MEMIF_SOCK" ] && break; sleep 0.1; done
sleep 1
# stdin from a pipe kept open: testpmd without -i quits at EOF on stdin.
sleep $((SECS + 5)) | timeout -s INT $((SECS + 2)) dpdk-testpmd -l 0-1 --main-lcore 1 --no-pci \
  --file-prefix dpbench-pod --in-memory --log-level='*:warning' \
  --vdev "net_memif0,role=client,socket=$MEMIF_SOCK,socket-abstract=no" -- \
  --forward-mode=txonly --eth-peer=0,$MEMIF_MAC --tx-ip=10.56.0.5,10.2.0.1 --txonly-multi-flow \
  -a --no-lsc-interrupt >"$MEMIF_DIR/tp.out" 2>&1 || true
kill -INT "$MEMIF_DP_PID" 2>/dev/null; wait "$MEMIF_DP_PID" 2>/dev/null || true
sed -n '/^node/,/^$/p' "$MEMIF_DIR/dp.out"
MEMIF=$(awk '/^forwarded/ {print $(NF-1)}' "$MEMIF_DIR/dp.out")
GEN=$(awk '/TX-packets:/ {v=$2} END {print v+0}' "$MEMIF_DIR/tp.out")
rm -rf "$MEMIF_DIR" /var/run/dpdk/dpbench-memif /var/run/dpdk/dpbench-pod

echo "== criterion raw-burst loop"
BENCH_OUT=$(cargo bench -q -p dp-benches --bench burst 2>&1 | tee /dev/stderr | grep '^raw-burst:' || true)
rm -rf /var/run/dpdk/dpbench[0-9]*

echo
echo "== results (1 worker core, 64-byte net_null packets)"
printf '%-44s %10s\n' "testpmd io (ceiling)" "$(awk -v v="$TP" 'BEGIN {printf "%.1f Mpps", v/1e6}')"
printf '%-44s %10s  (%s of testpmd)\n' "dataplane xconnect (poll-mode)" "${DP:-?} Mpps" \
  "$(awk -v d="${DP:-0}" -v t="$TP" 'BEGIN {if (t > 0) printf "%.0f%%", 100*d*1e6/t; else print "?"}')"
echo "criterion ${BENCH_OUT:-raw-burst: not run}"
echo
echo "== results (1 worker core, memif pod link)"
printf '%-44s %10s  (generator sent %s packets; the worker shares the machine with it)\n' \
  "memif pod -> route + VXLAN encap -> null" "${MEMIF:-?} Mpps" "$GEN"

echo
echo "== the end-to-end benchmark: routing, VXLAN encap and decap on pcap frames (benches/e2e)"
python3 benches/e2e
