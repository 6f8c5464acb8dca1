#!/usr/bin/env python3
"""Writes a pcap of UDP/IPv4 test frames for the throughput benchmark (no dependencies).

    gen_pcap.py OUT.pcap --size 64 --flows 256 --dst-net 10.2 [--count N] [--imix]
                         [--dst-mac M] [--vxlan VNI --outer-src A.B.C.D --outer-dst A.B.C.D
                          --inner-dst-mac M]

Frames go from 10.0.1.2 to DST_NET.x.y (one destination per flow, UDP ports varying too),
unicast to --dst-mac, the receiving port's MAC, as a router's traffic is (default
ff:ff:ff:ff:ff:ff, which any port takes, for when that MAC is not known in advance).
--size is the frame length as captured, without FCS.
--imix cycles through 64, 576 and 1500-byte frames 7:4:1 (the simple IMIX) instead.
--vxlan wraps each frame as a remote VTEP would (outer IPv4 OUTER_SRC -> OUTER_DST, UDP to
4789 with the source port from the flow, checksum 0; the outer frame to --dst-mac, the inner
one to --inner-dst-mac, the tunnel interface's MAC): --size then sizes the inner frame.
"""
import argparse
import struct
from typing import Iterable, Iterator


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac(s: str) -> bytes:
    """The six bytes of a MAC written aa:bb:cc:dd:ee:ff."""
    b = bytes(int(x, 16) for x in s.split(":"))
    if len(b) != 6:
        raise ValueError("not a MAC address: %r" % s)
    return b


def ethernet(dst_mac: bytes, src_mac: bytes) -> bytes:
    """An Ethernet header from `src_mac` to `dst_mac`, EtherType IPv4."""
    return dst_mac + src_mac + b"\x08\x00"


def ipv4_udp(src: bytes, dst: bytes, ident: int, payload_len: int) -> bytes:
    """A 20-byte IPv4 header (TTL 64, protocol UDP, identification `ident`) with its
    checksum, for `payload_len` bytes of UDP after it."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident & 0xFFFF, 0, 64, 17, 0,
                     src, dst)
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]


def flow_dst(flow: int, dst_net: str) -> bytes:
    """The IPv4 destination of flow `flow` in `dst_net` (a /16, "10.2"): host flow + 1."""
    a, b = (int(x) for x in dst_net.split("."))
    host = flow + 1  # never the .0 network address
    return bytes([a, b, (host >> 8) & 0xFF, host & 0xFF])


def frame(flow: int, size: int, dst_net: str, dst_mac: bytes) -> bytes:
    dst = flow_dst(flow, dst_net)
    src = bytes([10, 0, 1, 2])
    payload_len = max(size - 14 - 20 - 8, 0)
    udp = struct.pack("!HHHH", 1024 + flow % 4096, 5000, 8 + payload_len, 0) + bytes(payload_len)
    return ethernet(dst_mac, bytes([2, 0, 0, 0, 1, 2])) + ipv4_udp(src, dst, flow, len(udp)) + udp


IMIX = [64] * 7 + [576] * 4 + [1500]


def vxlan(inner: bytes, flow: int, vni: int, src: str, dst: str, dst_mac: bytes) -> bytes:
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    vx = struct.pack("!II", 0x08000000, vni << 8)
    udp = struct.pack("!HHHH", 49152 + flow % 16384, 4789, 8 + len(vx) + len(inner), 0)
    ip = ipv4_udp(s, d, flow, len(udp) + len(vx) + len(inner))
    return ethernet(dst_mac, bytes([2, 0, 0, 0, 1, 9])) + ip + udp + vx + inner


def write_frames(out: str, frames: Iterable[bytes]) -> None:
    """Writes `frames` to `out` as a pcap (microsecond, Ethernet), frame i stamped i us."""
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def write_pcap(out: str, size: int = 64, flows: int = 256, dst_net: str = "10.2",
               count: int = 0, imix: bool = False, vxlan_vni: int = 0,
               outer_src: str = "10.0.1.9", outer_dst: str = "10.0.1.1",
               dst_mac: str = BROADCAST, inner_dst_mac: str = BROADCAST) -> None:
    """Writes the frames described in the module doc to `out` (benches/e2e calls it too)."""
    n = count or (max(flows, len(IMIX)) if imix else flows)
    # The frame that reaches the router: the inner one when there is a tunnel around it.
    if vxlan_vni:
        first_dst, outer_dst_mac = mac(inner_dst_mac), mac(dst_mac)
    else:
        first_dst, outer_dst_mac = mac(dst_mac), b""

    def frames() -> Iterator[bytes]:
        for i in range(n):
            fr = frame(i % flows, IMIX[i % len(IMIX)] if imix else size, dst_net, first_dst)
            if vxlan_vni:
                fr = vxlan(fr, i % flows, vxlan_vni, outer_src, outer_dst, outer_dst_mac)
            yield fr

    write_frames(out, frames())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--flows", type=int, default=256)
    p.add_argument("--dst-net", default="10.2")
    p.add_argument("--count", type=int, default=0, help="frames (default: one per flow)")
    p.add_argument("--imix", action="store_true")
    p.add_argument("--vxlan", type=int, default=0, metavar="VNI")
    p.add_argument("--outer-src", default="10.0.1.9")
    p.add_argument("--outer-dst", default="10.0.1.1")
    p.add_argument("--dst-mac", default=BROADCAST)
    p.add_argument("--inner-dst-mac", default=BROADCAST)
    a = p.parse_args()
    write_pcap(a.out, a.size, a.flows, a.dst_net, a.count, a.imix, a.vxlan, a.outer_src,
               a.outer_dst, a.dst_mac, a.inner_dst_mac)


if __name__ == "__main__":
    main()
