"""DPDK's own IPv4 forwarders beside the dataplane, for benches/e2e's l3 scenario: the
examples l3fwd (run to completion: bursts of 32, LPM looked up four packets at a time with
SSE) and l3fwd-graph (the same work as rte_graph nodes, the library VPP-style routers such as
grout are built on: ethdev_rx, pkt_cls, ip4_lookup, ip4_rewrite, ethdev_tx). Both are built
from Debian's dpdk-doc sources (/usr/share/dpdk/examples) against the installed DPDK, with
the examples' own Makefiles (-O3, Debian's -march=corei7), and run on the same devices, pcap,
sink and worker CPU as the dataplane, with its route (10.2.0.0/16 out of port 1) and next-hop
MAC.

They do less for each packet than the dataplane: neither checks the IPv4 header checksum nor
the TTL before decrementing it (l3fwd's RFC 1812 checks are the version, header length and
total length; the checksum is updated as a plain +1), neither keeps per-interface counters or
resolves next hops. They are the floor of what a forwarder does, not a router.

Two changes to the sources, so they run on these devices; none to their packet paths:
- l3fwd asks every port for rx checksum offload, which net_pcap does not offer, and ethdev
  refuses the port: the request is masked by what the device offers (l3fwd's LPM path reads
  no checksum flags).
- l3fwd-graph's routes are compiled in (198.18.N.0/24 out of port N): the route out of port 1
  becomes 10.2.0.0/16. l3fwd takes the same route from a rule file.

Their rates are read from DPDK's telemetry socket (the egress port's opackets), as the
dataplane's are from its API.
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import eal

SRC = "/usr/share/dpdk/examples"
PACKAGE = "dpdk-doc"
APPS = ("l3fwd", "l3fwd-graph")

# (file, text, replacement): each text occurs exactly once in its file.
PATCHES = {
    "l3fwd": [
        ("main.c",
         "\t\tif (dev_info.max_rx_queues == 1)\n"
         "\t\t\tlocal_port_conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;\n",
         "\t\tif (dev_info.max_rx_queues == 1)\n"
         "\t\t\tlocal_port_conf.rxmode.mq_mode = RTE_ETH_MQ_RX_NONE;\n"
         "\t\tlocal_port_conf.rxmode.offloads &= dev_info.rx_offload_capa;\n"),
        ("main.c",
         "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads;\n",
         "\t\t\trxq_conf.offloads = port_conf.rxmode.offloads &\n"
         "\t\t\t\tdev_info.rx_offload_capa;\n"),
    ],
    "l3fwd-graph": [
        ("main.c", "{RTE_IPV4(198, 18, 1, 0), 24, 1}", "{RTE_IPV4(10, 2, 0, 0), 16, 1}"),
    ],
}


def missing():
    """What the build needs and is not installed, or None."""
    for app in APPS:
        if not os.path.exists(os.path.join(SRC, app, "main.c")):
            return os.path.join(SRC, app, "main.c")
    for tool in ("make", "cc", "pkg-config"):
        if not shutil.which(tool):
            return tool
    return None


def _stamp():
    """A digest of the sources and the patches: the build is redone when either changes."""
    h = hashlib.sha256(repr(PATCHES).encode())
    for d in APPS + ("common",):
        for root, dirs, files in sorted(os.walk(os.path.join(SRC, d))):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(root, f)
                h.update(p.encode())
                with open(p, "rb") as fh:
                    h.update(fh.read())
    return h.hexdigest()


def build(dest):
    """Builds the APPS into `dest` (once: kept while the sources and patches are the same);
    returns {app: path of its binary}."""
    bins = {app: os.path.join(dest, app, "build", app) for app in APPS}
    stamp = _stamp()
    stamp_file = os.path.join(dest, "stamp")
    if all(os.path.exists(b) for b in bins.values()) and _read(stamp_file) == stamp:
        return bins
    shutil.rmtree(dest, ignore_errors=True)
    # The examples include ../common.
    for d in APPS + ("common",):
        shutil.copytree(os.path.join(SRC, d), os.path.join(dest, d))
    for app in APPS:
        for name, old, new in PATCHES[app]:
            path = os.path.join(dest, app, name)
            with open(path) as f:
                text = f.read()
            if text.count(old) != 1:
                raise RuntimeError("%s: the text to patch occurs %d times, not once: %r"
                                   % (path, text.count(old), old))
            with open(path, "w") as f:
                f.write(text.replace(old, new))
        r = subprocess.run(["make", "-C", os.path.join(dest, app), "-j2"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("building DPDK's %s failed:\n%s" % (app, (r.stdout + r.stderr)[-3000:]))
    with open(stamp_file, "w") as f:
        f.write(stamp)
    return bins


def _read(path):
    """The text of file `path`, or None when there is none."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def telemetry(prefix, cmd):
    """The answer of a DPDK process's telemetry socket to `cmd` (JSON)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.settimeout(5)
        s.connect("/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix)
        s.recv(16384)  # the greeting: version, pid, max output length
        s.send(cmd.encode())
        return json.loads(s.recv(1 << 20).decode())
    finally:
        s.close()


def _main_tx_queue(dev):
    """`dev` with a second tx queue, for l3fwd-graph's main lcore, which sends nothing: its
    one graph sends on queue 0 (the graph's id). net_pcap has one tx queue per tx_pcap (none
    given: one that drops); a net_null has as many as asked for."""
    if not dev.startswith("net_pcap"):
        return dev
    if "tx_pcap=" not in dev:
        return dev + ",tx_pcap=/dev/null,tx_pcap=/dev/null"
    return dev + ",tx_pcap=/dev/null"


class Forwarder:
    """One DPDK example forwarding from `in_dev` (its port 0) out of `out_dev` (port 1) with
    next-hop MAC `nh_mac`; its forwarding lcore on `fwd_cpu`, its main lcore (l3fwd-graph's
    statistics) on `main_cpu`. `workdir` holds the route files and its log."""

    def __init__(self, binary, app, workdir, prefix, in_dev, out_dev, main_cpu, fwd_cpu, nh_mac):
        self.prefix = prefix
        self.log = os.path.join(workdir, "%s-%s.log" % (app, prefix))
        if app == "l3fwd":
            # One lcore, main and forwarding both: l3fwd opens a tx queue per port for every
            # lcore, and the input port (net_pcap without tx_pcap) has one.
            lcores = ["--lcores", "1@%d" % fwd_cpu, "--main-lcore", "1"]
            v4, v6 = (os.path.join(workdir, "l3fwd-%s.cfg" % v) for v in ("v4", "v6"))
            with open(v4, "w") as f:
                f.write("R10.2.0.0/16 1\n")
            with open(v6, "w") as f:
                f.write("R2001:db8::/32 1\n")
            extra = ["--rule_ipv4=" + v4, "--rule_ipv6=" + v6, "--parse-ptype"]
        else:
            # l3fwd-graph wants its main lcore apart (it prints the graph's statistics), and
            # opens a tx queue on each port for each lcore.
            lcores = ["--lcores", "0@%d,1@%d" % (main_cpu, fwd_cpu), "--main-lcore", "0"]
            in_dev, out_dev = _main_tx_queue(in_dev), _main_tx_queue(out_dev)
            extra = []
        cmd = ([binary] + lcores + ["--no-pci", "--file-prefix", prefix, "--huge-unlink",
                                    "--log-level=*:warning", "--vdev", in_dev, "--vdev", out_dev,
                                    "--", "-p", "0x3", "--config=(0,0,1)",
                                    "--eth-dest=1," + nh_mac] + extra)
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d:\n%s" % (app, self.proc.returncode,
                                                                self.output()[-3000:]))
            try:
                if self.stats(0) is not None:
                    break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start in 30 s:\n%s" % (app, self.output()[-3000:]))
            time.sleep(0.2)

    def output(self):
        """What it printed (stdout and stderr)."""
        with open(self.log, errors="replace") as f:
            return f.read()

    def stats(self, port):
        return telemetry(self.prefix, "/ethdev/stats,%d" % port).get("/ethdev/stats")

    def tx_packets(self):
        return self.stats(1)["opackets"]

    def node_clocks(self):
        """l3fwd-graph's own per-node TSC clocks (rte_graph's statistics, printed once a
        second, cumulative since start) per packet sent: {node: clocks}, the rx and tx nodes
        named without their port and queue. Empty for l3fwd, or before the first print."""
        table, rows = None, {}
        for line in self.output().splitlines():
            cells = [c.strip() for c in line.split("|")[1:-1]]
            if cells[:1] == ["Node"]:
                table, rows = cells, {}
            elif table and len(cells) == len(table) and cells[0]:
                try:
                    rows[cells[0]] = dict(zip(table[1:], (float(c) for c in cells[1:])))
                except ValueError:
                    pass
        sent = sum(r["objs"] for n, r in rows.items() if n.startswith("ethdev_tx"))
        if not sent:
            return {}
        return {n.split("-")[0]: r["calls"] * r["cycles/call"] / sent for n, r in rows.items()}

    def stop(self):
        """Stops it (SIGINT: it closes its ports, so a tx_pcap file is complete) and removes
        what its EAL left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        eal.remove_files(self.prefix)
