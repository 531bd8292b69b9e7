# A DNS responder whose answers do not fit one packet: TXT queries get 14 TXT records of 200 bytes (about 2,900
# bytes), A queries 120 A records, AAAA queries 90 AAAA records; sent over UDP as they are (no truncation), so
# that the kernel fragments them on a 1500-byte link. Usage: python3 frag_responder.py ADDR (v4 or v6).
import socket, struct, sys

addr = sys.argv[1]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((addr, 53))


def answer(q):
    tid, flags, qd = struct.unpack("!HHH", q[:6])
    i = 12
    while q[i]:
        i += q[i] + 1
    qname_end = i + 1
    qtype = struct.unpack("!H", q[qname_end:qname_end + 2])[0]
    question = q[12:qname_end + 4]
    rrs = []
    if qtype == 16:
        for k in range(14):
            txt = bytes([199]) + (b"%03d" % k) * 66 + b"x"
            rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 300 + k, len(txt)) + txt)
    elif qtype == 1:
        for k in range(120):
            rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60 + k, 4) + bytes([10, 99, k // 250, k % 250 + 1]))
    elif qtype == 28:
        for k in range(90):
            rrs.append(b"\xc0\x0c" + struct.pack("!HHIH", 28, 1, 120 + k, 16) + b"\xfd\x99" + b"\x00" * 12 + struct.pack("!H", k + 1))
    hdr = struct.pack("!HHHHHH", tid, 0x8180 | (flags & 0x0100), 1, len(rrs), 0, 0)
    return hdr + question + b"".join(rrs)


while True:
    q, peer = s.recvfrom(4096)
    s.sendto(answer(q), peer)
