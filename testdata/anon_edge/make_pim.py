# PIMv2 messages of every type jj rewrites, over IPv4 and IPv6, with valid checksums (RFC 7761 4.9).
import struct, ipaddress
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff
def A(a): return ipaddress.ip_address(a).packed
def fam(a): return 1 if ipaddress.ip_address(a).version == 4 else 2
def uni(a): return bytes([fam(a), 0]) + A(a)
def grp(a, m): return bytes([fam(a), 0, 0, m]) + A(a)
def src(a, m, f=0): return bytes([fam(a), 0, f, m]) + A(a)
def pim(t, body): return bytes([0x20 | t, 0, 0, 0]) + body
def ip4(s, d, proto, payload, ttl=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0xc0, 20 + len(payload), 1, 0, ttl, proto, 0, A(s), A(d))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload
def ip6(s, d, nh, payload):
    return struct.pack("!IHBB", 0x6 << 28, len(payload), nh, 1) + A(s) + A(d) + payload
def finish(msg, s, d, register=False):
    # Checksum over the message (a Register's over its first 8 bytes), with the pseudo-header over IPv6.
    part = msg[:8] if register else msg
    if ipaddress.ip_address(s).version == 6:
        pseudo = A(s) + A(d) + struct.pack("!IxxxB", len(part), 103)
        c = csum(pseudo + part)
    else:
        c = csum(part)
    return msg[:2] + struct.pack("!H", c) + msg[4:]
def udp4(s, d, data):
    u = struct.pack("!HHHH", 4000, 5000, 8 + len(data), 0) + data
    return ip4(s, d, 17, u, 16)
def messages(v):
    if v == 4:
        me, nb, rp, rp2, s1, s2, g1, g2, g0, gm = "10.9.0.1", "10.9.0.2", "10.9.9.9", "10.9.9.8", "10.9.5.5", "10.9.5.6", "239.1.1.1", "239.2.2.2", "224.0.0.0", 4
        allpim = "224.0.0.13"
        inner = udp4(s1, g1, b"multicast data")
        m = 32
    else:
        me, nb, rp, rp2, s1, s2, g1, g2, g0, gm = "fd09::1", "fd09::2", "fd09::9:9", "fd09::9:8", "fd09::5:5", "fd09::5:6", "ff3e::1:1", "ff3e::2:2", "ff00::", 8
        allpim = "ff02::d"
        u = struct.pack("!HHHH", 4000, 5000, 8 + 14, 0) + b"multicast data"
        inner = ip6(s1, g1, 17, u)
        m = 128
    out = []
    hello = struct.pack("!HHH", 1, 2, 105) + struct.pack("!HHI", 19, 4, 1) + struct.pack("!HHI", 20, 4, 0x1234)
    al = uni(nb) + uni(rp)
    hello += struct.pack("!HH", 24, len(al)) + al
    out.append((me, allpim, pim(0, hello), False))
    out.append((nb, rp, pim(1, b"\0\0\0\0" + inner), True))
    out.append((rp, nb, pim(2, grp(g1, m) + uni(s1)), False))
    jp = uni(nb) + bytes([0, 2]) + struct.pack("!H", 210)
    jp += grp(g1, m) + struct.pack("!HH", 1, 1) + src(s1, m, 0) + src(s2, m, 0)
    jp += grp(g2, m) + struct.pack("!HH", 1, 0) + src(rp, m, 7)
    out.append((me, allpim, pim(3, jp), False))
    bs = struct.pack("!HBB", 77, 30, 5) + uni(me) + grp(g0, gm) + bytes([2, 2, 0, 0]) + uni(rp) + struct.pack("!HBB", 150, 20, 0) + uni(rp2) + struct.pack("!HBB", 150, 30, 0)
    out.append((me, allpim, pim(4, bs), False))
    out.append((me, allpim, pim(5, grp(g1, m) + uni(s1) + struct.pack("!II", 110, 20)), False))
    out.append((me, nb, pim(6, jp), False))
    out.append((nb, me, pim(7, jp), False))
    out.append((rp, me, pim(8, bytes([2, 20]) + struct.pack("!H", 150) + uni(rp) + grp(g1, m) + grp(g2, m)), False))
    out.append((me, allpim, pim(9, grp(g1, m) + uni(s1) + uni(rp) + struct.pack("!IIBBBB", 110, 20, m, 16, 0, 60)), False))
    res = []
    for s, d, msg, reg in out:
        msg = finish(msg, s, d, reg)
        res.append(ip4(s, d, 103, msg) if v == 4 else ip6(s, d, 103, msg))
    return res
pkts = messages(4) + messages(6)
import os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
with open("pim_messages.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, p in enumerate(pkts):
        eth = b"\x01\x00\x5e\x00\x00\x0d" + b"\x02\x00\x00\x00\x00\x01" + (b"\x08\x00" if p[0] >> 4 == 4 else b"\x86\xdd")
        fr = eth + p
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)
