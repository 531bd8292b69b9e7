# From ../frag_udp.pcap (real fragments): ../frag_udp_reversed.pcap, each fragmented datagram's fragments in
# reverse order (its first fragment last), and ../frag_udp_lost.pcap, the middle fragment of the first
# three-fragment datagram left out. Timestamps stay in capture order.
import struct

raw = open("../frag_udp.pcap", "rb").read()
head, recs, i = raw[:24], [], 24
while i < len(raw):
    ts_s, ts_u, cap, wire = struct.unpack("<IIII", raw[i:i + 16])
    recs.append([raw[i:i + 8], raw[i + 8:i + 16], raw[i + 16:i + 16 + cap]])
    i += 16 + cap


def frag_id(frame):
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800:
        ip = frame[14:]
        if struct.unpack("!H", ip[6:8])[0] & 0x3FFF:
            return ("4", ip[4:6])
    elif et == 0x86DD and frame[14 + 6] == 44:
        return ("6", frame[14 + 40 + 4:14 + 40 + 8])
    return None


groups = {}
for n, r in enumerate(recs):
    k = frag_id(r[2])
    if k:
        groups.setdefault(k, []).append(n)
rev = list(recs)
for idx in groups.values():
    frames = [recs[n][1:] for n in idx][::-1]
    for n, f in zip(idx, frames):
        rev[n] = [recs[n][0]] + f
lost_group = next(idx for idx in groups.values() if len(idx) == 3)
lost = [r for n, r in enumerate(recs) if n != lost_group[1]]


def write(name, rs):
    with open(name, "wb") as f:
        f.write(head)
        for t, lens, data in rs:
            f.write(t + lens + data)


write("../frag_udp_reversed.pcap", rev)
write("../frag_udp_lost.pcap", lost)
print({k: len(v) for k, v in groups.items()})
