"""OVS-DPDK beside the dataplane, for benches/e2e: Debian's Open vSwitch 3.1 built with DPDK
(openvswitch-switch-dpdk), on the same devices, the same pcap and the same CPU, forwarding as
the dataplane's l3, encap and decap scenarios do.

- l3: `dec_ttl, mod_dl_src, mod_dl_dst, output` on one bridge.
- encap: the same into a VXLAN port (VNI 100, remote 10.0.2.9) on an integration bridge;
  OVS's userspace tunnelling pushes the outer headers and sends the frame out of a second
  bridge, whose internal port has the local VTEP address 10.0.2.1 and a static ARP entry for
  the remote (`tnl/arp/set`).
- decap: frames from the remote VTEP 10.0.1.9 to the internal port's address 10.0.1.1 and
  MAC are popped off the tunnel (OVS's native tunnel termination), then routed as in l3 from
  the VXLAN port.

Each Ovs is an ovsdb-server and an ovs-vswitchd of its own, in a network namespace of its own
(its internal ports are kernel taps), with a private directory for its database, sockets and
logs, and its own DPDK file prefix: nothing of the host's is touched, and stop() removes it
all. The bridges are `fail-mode=secure` with the flows installed before the input port is
added, so no frame is switched by a default NORMAL flow. One PMD thread, on the CPU given,
polls both ports; OVS's caches are left at their defaults (EMC, SMC off, megaflows).
"""
import os
import re
import shutil
import subprocess
import time

import eal

VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
PACKAGE = "openvswitch-switch-dpdk"
# The dataplane's scenario kinds OVS runs (benches/e2e's SCENARIOS kinds).
KINDS = ("routed", "encap", "decap")
# OpenFlow port numbers, requested: the flows go in before the ports they name exist.
IN, OUT, VX = 1, 2, 3
# The integration bridge's MAC in the encap scenario: the inner frames' source.
INT_MAC = "02:00:00:00:16:01"


def missing():
    """What of OVS-DPDK is not installed, or None when all of it is."""
    for tool in ("ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"):
        if not shutil.which(tool):
            return tool
    for path in (VSWITCHD, SCHEMA):
        if not os.path.exists(path):
            return path
    return None


class Ovs:
    """One OVS-DPDK, configured for scenario kind `kind` (KINDS) with `in_dev` and `out_dev`
    as its DPDK ports (devargs). `net` holds the addresses and MACs of benches/e2e's
    scenarios: in_mac (the input frames' destination), out_mac, nh_mac (routed next hop),
    tun_nh_mac (next hop inside the tunnel), vtep_mac (remote VTEP). `settings`: more
    Open_vSwitch columns to set before ovs-vswitchd starts ("other_config:KEY=VALUE")."""

    def __init__(self, workdir, prefix, kind, in_dev, out_dev, main_cpu, pmd_cpu, net,
                 settings=()):
        if kind not in KINDS:
            raise ValueError("OVS runs %s, not %s" % (", ".join(KINDS), kind))
        self.dir = os.path.join(workdir, prefix)
        self.prefix = prefix
        self.netns = prefix
        self.procs = []
        self.netns_created = False
        os.makedirs(self.dir)
        self.env = dict(os.environ, OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir,
                        OVS_LOGDIR=self.dir, OVS_SYSCONFDIR=self.dir, OVS_PKGDATADIR=self.dir)
        self.db = "unix:" + self.path("db.sock")
        try:
            self._start(main_cpu, pmd_cpu, settings)
            {"routed": self._routed, "encap": self._encap, "decap": self._decap}[kind](
                in_dev, out_dev, net)
        except BaseException:
            self.stop()
            raise

    def path(self, name):
        return os.path.join(self.dir, name)

    # Each scenario's bridges: flows first, the input port last.

    def _routed(self, in_dev, out_dev, net):
        self.out_bridge = "br0"
        self._bridge("br0", net["out_mac"])
        self._route("br0", IN, net["out_mac"], net["nh_mac"], OUT)
        self._dpdk_port("br0", "out", OUT, out_dev)
        self._dpdk_port("br0", "in", IN, in_dev)

    def _encap(self, in_dev, out_dev, net):
        self.out_bridge = "br-phy"
        self._bridge("br-phy", net["out_mac"])
        self._dpdk_port("br-phy", "out", OUT, out_dev)
        # Only the tunnelled IPv4 leaves: nothing the tap's kernel side might send.
        self.flow("br-phy", "in_port=LOCAL,ip,actions=output:%d" % OUT)
        self._vtep("10.0.2.1/24")
        self.appctl("tnl/arp/set", "br-phy", "10.0.2.9", net["vtep_mac"])
        self._bridge("br-int", INT_MAC)
        self._vxlan("10.0.2.9")
        self._route("br-int", IN, INT_MAC, net["tun_nh_mac"], VX)
        self._dpdk_port("br-int", "in", IN, in_dev)

    def _decap(self, in_dev, out_dev, net):
        # Frames to the internal port's MAC and VTEP address are popped off the tunnel
        # (OVS's native tunnel termination) and come in on the VXLAN port.
        self.out_bridge = "br-int"
        self._bridge("br-int", net["out_mac"])
        self._vxlan("10.0.1.9")
        self._route("br-int", VX, net["out_mac"], net["nh_mac"], OUT)
        self._dpdk_port("br-int", "out", OUT, out_dev)
        self._bridge("br-phy", net["in_mac"])
        self.flow("br-phy", "in_port=%d,actions=LOCAL" % IN)
        self._vtep("10.0.1.1/24")
        self._dpdk_port("br-phy", "in", IN, in_dev)

    def _route(self, bridge, in_port, src_mac, dst_mac, out_port):
        """The route every scenario takes: IPv4 to 10.2/16 from `in_port`, TTL decremented,
        MACs rewritten to `src_mac` -> `dst_mac`, out of `out_port`."""
        self.flow(bridge, "in_port=%d,ip,nw_dst=10.2.0.0/16,actions=dec_ttl,"
                  "mod_dl_src:%s,mod_dl_dst:%s,output:%d"
                  % (in_port, src_mac, dst_mac, out_port))

    def _vtep(self, cidr):
        """The local VTEP address, on br-phy's internal port (a tap in the namespace)."""
        self.netns_run("ip", "addr", "add", cidr, "dev", "br-phy")
        self.netns_run("ip", "link", "set", "br-phy", "up")

    def _vxlan(self, remote):
        self.vsctl("add-port", "br-int", "vx", "--", "set", "Interface", "vx", "type=vxlan",
                   "ofport_request=%d" % VX, "options:remote_ip=" + remote, "options:key=100")

    def _start(self, main_cpu, pmd_cpu, settings):
        subprocess.run(["ip", "netns", "add", self.netns], check=True)
        self.netns_created = True
        # The namespace's own sysctl: its taps send no IPv6 (router solicitations, MLD).
        self.netns_run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1")
        subprocess.run(["ovsdb-tool", "create", self.path("conf.db"), SCHEMA], check=True,
                       env=self.env)
        self._spawn("ovsdb-server", self.path("conf.db"), "--remote=punix:" + self.path("db.sock"),
                    "--unixctl=" + self.path("ovsdb-server.ctl"),
                    "--log-file=" + self.path("ovsdb-server.log"))
        self._wait_for(self.path("db.sock"))
        self.vsctl("--no-wait", "init")
        self.vsctl("--no-wait", "set", "Open_vSwitch", ".",
                   "other_config:dpdk-init=true",
                   "other_config:dpdk-lcore-mask=0x%x" % (1 << main_cpu),
                   "other_config:pmd-cpu-mask=0x%x" % (1 << pmd_cpu),
                   "other_config:dpdk-extra=--no-pci --file-prefix=%s --huge-unlink "
                   "--log-level=*:warning" % self.prefix, *settings)
        self._spawn(VSWITCHD, self.db, "--unixctl=" + self.path("ovs-vswitchd.ctl"),
                    "--log-file=" + self.path("ovs-vswitchd.log"))
        # DPDK initialises before the unixctl socket appears.
        self._wait_for(self.path("ovs-vswitchd.ctl"), 60)

    def _spawn(self, *cmd):
        err = open(self.path(os.path.basename(cmd[0]) + ".stderr"), "w")
        self.procs.append(subprocess.Popen(["ip", "netns", "exec", self.netns] + list(cmd),
                                           env=self.env, stdin=subprocess.DEVNULL,
                                           stdout=err, stderr=err))
        err.close()

    def _wait_for(self, sock, secs=20):
        deadline = time.monotonic() + secs
        while not os.path.exists(sock):
            dead = [p.args for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError("OVS did not start (%s): %s" % (
                    "exited: %s" % dead if dead else "no %s in %ds" % (sock, secs),
                    self.log_tail()))
            time.sleep(0.1)

    def log_tail(self):
        out = ""
        for f in ("ovs-vswitchd.log", "ovs-vswitchd-dpdk.stderr", "ovsdb-server.stderr"):
            try:
                with open(self.path(f)) as fh:
                    out += "\n%s: %s" % (f, fh.read()[-1200:])
            except OSError:
                pass
        return out

    def _run(self, cmd):
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(cmd), r.stderr.strip(), self.log_tail()))
        return r.stdout

    def netns_run(self, *cmd):
        return self._run(["ip", "netns", "exec", self.netns] + list(cmd))

    def vsctl(self, *args):
        return self._run(["ovs-vsctl", "--db=" + self.db, "--timeout=60"] + list(args))

    def appctl(self, *args):
        return self._run(["ovs-appctl", "-t", self.path("ovs-vswitchd.ctl")] + list(args))

    def flow(self, bridge, spec):
        self._run(["ovs-ofctl", "add-flow", bridge, spec])

    def _bridge(self, name, mac):
        self.vsctl("add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev",
                   "fail-mode=secure", "other-config:hwaddr=" + mac)
        self._run(["ovs-ofctl", "del-flows", name])

    def _dpdk_port(self, bridge, name, ofport, devargs):
        self.vsctl("add-port", bridge, name, "--", "set", "Interface", name, "type=dpdk",
                   "ofport_request=%d" % ofport, "options:dpdk-devargs=" + devargs)
        err = self.vsctl("get", "Interface", name, "error").strip()
        if err not in ("[]", '""'):
            raise RuntimeError("OVS port %s (%s): %s" % (name, devargs, err))

    def tx_packets(self):
        """Frames the out port has sent, read live from the datapath."""
        text = self._run(["ovs-ofctl", "dump-ports", self.out_bridge, str(OUT)])
        m = re.search(r"tx pkts=(\d+)", text)
        if not m:
            raise RuntimeError("no tx count in: " + text)
        return int(m.group(1))

    def failed_upcalls(self):
        """Frames the PMD dropped because the upcall for a new flow failed: the first few
        after a port is added, while OVS's upcall path catches up."""
        text = self.appctl("dpif-netdev/pmd-stats-show")
        return sum(int(n) for n in re.findall(r"miss with failed upcall: (\d+)", text))

    def close_out(self):
        """Removes the out port: DPDK closes the device, which flushes a tx_pcap file."""
        self.vsctl("del-port", self.out_bridge, "out")

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        if self.netns_created:
            subprocess.run(["ip", "netns", "del", self.netns], check=False)
            self.netns_created = False
        eal.remove_files(self.prefix)
