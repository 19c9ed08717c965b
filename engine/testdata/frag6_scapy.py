# Crafts IPv6 fragment sequences of UDP datagrams with scapy for
# TestFrag6ScapyKernelVsEngine (frag6_scapy_e2e_test.go). It runs in the
# bed's peer namespace, sends Ethernet frames on the peer's link, and
# listens there for the ICMPv6 errors sent back to the peer's address.
#
#   /usr/bin/python3 frag6_scapy.py IFACE SRC-MAC DST-MAC SRC-ADDR
#
# Commands, one JSON object a line on stdin, each answered by one JSON
# object a line on stdout:
#
#   {"op": "case", "case": NAME, "dst": ADDR, "id": N, "sport": P, "dport": P}
#       sends the case's fragments (all with identification N, from port
#       P), then an unfragmented "fence" datagram from the same port;
#       answers {"want": [hex payloads of the datagrams the fragments
#       carry], "frags": count}.
#   {"op": "unreach", "dst": ADDR, "sport": P}
#       sends one datagram to port 9, which has no socket: a fence for the
#       ICMPv6 errors of that destination.
#   {"op": "icmp"}
#       answers {"icmp": [every ICMPv6 error received so far]}, each as
#       {"from", "type", "code", "pointer", "id" (the quoted fragment
#       header's identification, -1 without), "sport" and "dport" (of
#       the quoted UDP header, -1 if not quoted)}.
import json
import random
import socket
import struct
import sys
import threading
import time

from scapy.layers.inet import TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

iface, smac, dmac, src = sys.argv[1:5]
ETH_P_IPV6 = 0x86DD
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind((iface, 0))
rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
rx.bind((iface, ETH_P_IPV6))
src_bin = socket.inet_pton(socket.AF_INET6, src)
icmp_seen = []
lock = threading.Lock()


def quoted_info(q):
    """Identification of a quoted fragment header, quoted UDP ports."""
    if len(q) < 40:
        return -1, -1, -1
    nh, off = q[6], 40
    ident = -1
    for _ in range(8):
        if nh == 44 and off + 8 <= len(q):
            ident = struct.unpack("!I", q[off + 4:off + 8])[0]
            if struct.unpack("!H", q[off + 2:off + 4])[0] & 0xFFF8:
                return ident, -1, -1  # not a first fragment
            nh, off = q[off], off + 8
        elif nh in (0, 43, 60) and off + 2 <= len(q):
            nh, off = q[off], off + 8 * (q[off + 1] + 1)
        else:
            break
    if nh == 17 and off + 4 <= len(q):
        sport, dport = struct.unpack("!HH", q[off:off + 4])
        return ident, sport, dport
    return ident, -1, -1


def listen():
    while True:
        f, addr = rx.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING or len(f) < 14 + 40 + 8:
            continue
        ip = f[14:]
        if ip[6] != 58 or ip[24:40] != src_bin or not 1 <= ip[40] <= 4:
            continue
        ident, sport, dport = quoted_info(ip[48:])
        e = {
            "from": socket.inet_ntop(socket.AF_INET6, ip[8:24]),
            "type": ip[40],
            "code": ip[41],
            "pointer": struct.unpack("!I", ip[44:48])[0],
            "id": ident,
            "sport": sport,
            "dport": dport,
        }
        with lock:
            icmp_seen.append(e)


def payload(name, n):
    """n bytes that name the case and differ from fragment to fragment."""
    head = ("%s|" % name).encode()
    body = bytes((i * 7 + 3) & 0xFF for i in range(max(0, n - len(head))))
    return (head + body)[:n]


def udp_bytes(dst, sport, dport, data, destopt=0):
    """The fragmentable part: destopt destination options headers (8
    bytes each), the UDP header and data, with the checksum over the IPv6
    pseudo-header."""
    p = IPv6(src=src, dst=dst)
    for _ in range(destopt):
        p = p / IPv6ExtHdrDestOpt()
    return bytes(p / UDP(sport=sport, dport=dport) / Raw(data))[40:]


def frame(dst, ident, off, data, more, nh=17):
    return bytes(
        Ether(src=smac, dst=dmac)
        / IPv6(src=src, dst=dst)
        / IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=int(more), id=ident)
        / Raw(data)
    )


def split(b, size):
    """Fragments (offset, data, more) of b, size bytes each (a multiple of 8)."""
    out = []
    for off in range(0, len(b), size):
        out.append((off, b[off:off + size], off + size < len(b)))
    return out


def build(case, dst, ident, sport, dport):
    """Returns (list of frames or delays in seconds, wanted payloads)."""
    data = payload(case, 180)
    b = udp_bytes(dst, sport, dport, data)  # 188 bytes
    fr = split(b, 64)  # [0,64) [64,128) [128,188)

    def f(off, d, more, nh=17):
        return frame(dst, ident, off, d, more, nh)

    plain = [f(*x) for x in fr]
    if case == "in-order":
        return plain, [data]
    if case == "reversed":
        return plain[::-1], [data]
    if case == "shuffled":
        many = [f(*x) for x in split(b, 16)]
        random.Random(ident).shuffle(many)
        return many, [data]
    if case == "duplicate":
        return [plain[0], plain[1], plain[1], plain[0], plain[2]], [data]
    if case == "overlap":
        # [32,96) with other bytes, over the first fragment's end.
        bad = f(32, bytes(64), True)
        return [plain[0], bad, plain[1], plain[2]], []
    if case == "overlap-same-bytes":
        # [32,96): the bytes the datagram has there, straddling the end of
        # [0,64), before [64,128) arrived.
        return [plain[0], f(32, b[32:96], True), plain[1], plain[2]], []
    if case == "inside-other-bytes":
        # [16,48), inside [0,64), with other bytes.
        return [plain[0], f(16, bytes(32), True), plain[1], plain[2]], [data]
    if case == "spanning-dup-in-order":
        # [32,96) identical, over [0,64) and [64,128) received in order.
        return [plain[0], plain[1], f(32, b[32:96], True), plain[2]], [data]
    if case == "spanning-dup-reordered":
        # The same, [64,128) having come before [0,64).
        return [plain[1], plain[0], f(32, b[32:96], True), plain[2]], [data]
    if case == "atomic":
        return [f(0, b, False)], [data]
    if case == "atomic-while-pending":
        other = payload(case + "-atomic", 40)
        ob = udp_bytes(dst, sport, dport, other)
        return [plain[0], f(0, ob, False), plain[1], plain[2]], [other, data]
    if case == "incomplete-chain":
        # RFC 7112: destination options, then UDP; the first fragment
        # holds only the destination options header (8 bytes).
        db = udp_bytes(dst, sport, dport, data, destopt=1)
        return [f(0, db[:8], True, 60), f(8, db[8:], False, 60)], []
    if case == "destopt-chain-complete":
        db = udp_bytes(dst, sport, dport, data, destopt=1)
        return [f(0, db[:16], True, 60), f(16, db[16:], False, 60)], [data]
    if case == "incomplete-tcp-header":
        # RFC 7112 as Linux counts it: 16 of the 20 bytes of a TCP header.
        tb = bytes(IPv6(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags="S") / Raw(b"abcd"))[40:]
        return [f(0, tb[:16], True, 6), f(16, tb[16:], False, 6)], []
    if case == "chain-ends-at-ext-boundary":
        # Two destination options headers; the first fragment holds the
        # first one only, and ends where the second starts.
        db = udp_bytes(dst, sport, dport, data, destopt=2)
        return [f(0, db[:8], True, 60), f(8, db[8:], False, 60)], [data]
    if case == "bad-length":
        # [64,100) with M set: 36 bytes, not a multiple of 8; then the
        # right fragments.
        return [plain[0], f(64, b[64:100], True), plain[1], plain[2]], [data]
    if case == "tiny":
        small = payload(case, 32)
        sb = udp_bytes(dst, sport, dport, small)  # 40 bytes: 5 fragments of 8
        return [f(*x) for x in split(sb, 8)], [small]
    if case == "gap-1s":
        return [plain[0], plain[2], 1.0, plain[1]], [data]
    if case == "next-header-differs":
        return [plain[0], f(*fr[1], nh=6), f(*fr[2], nh=59)], [data]
    if case == "next-header-differs-first-last":
        return [f(*fr[1], nh=6), f(*fr[2], nh=59), plain[0]], [data]
    if case == "last-conflict":
        # Two last fragments with different ends.
        return [plain[0], plain[1], f(128, b[128:136], False), plain[2]], []
    if case == "resend-after-overlap":
        # An overlap discards the datagram; then all of it comes again
        # with the same identification.
        bad = f(32, bytes(64), True)
        return [plain[0], bad] + plain, [data]
    raise ValueError("unknown case " + case)


def main():
    threading.Thread(target=listen, daemon=True).start()
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "case":
            items, want = build(cmd["case"], cmd["dst"], cmd["id"], cmd["sport"], cmd["dport"])
            n = 0
            for it in items:
                if isinstance(it, float):
                    time.sleep(it)
                    continue
                tx.send(it)
                n += 1
            fence = udp_bytes(cmd["dst"], cmd["sport"], cmd["dport"], b"fence")
            tx.send(bytes(Ether(src=smac, dst=dmac) / IPv6(src=src, dst=cmd["dst"], nh=17) / Raw(fence)))
            out = {"want": [w.hex() for w in want], "frags": n}
        elif op == "unreach":
            u = udp_bytes(cmd["dst"], cmd["sport"], 9, b"unreach")
            tx.send(bytes(Ether(src=smac, dst=dmac) / IPv6(src=src, dst=cmd["dst"], nh=17) / Raw(u)))
            out = {}
        elif op == "icmp":
            with lock:
                out = {"icmp": list(icmp_seen)}
        else:
            out = {"error": "unknown op " + op}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


main()
