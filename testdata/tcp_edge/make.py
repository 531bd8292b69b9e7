"""Builds the captures of this directory (see ../README.md): TCP segmentations that real stacks produce
rarely but legitimately, laid out with pcaplib.py. The SSH bytes are the flights of ssh_flights.pcap, a real
OpenSSH 9.2 session captured on loopback; the DNS and HTTP bytes are written here."""
import os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.chdir(HERE)
from pcaplib import Conn, build, flights  # noqa: E402


def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"


def query(id, qn, qt=1, flags=0x0100):
    return struct.pack(">HHHHHH", id, flags, 1, 0, 0, 0) + name(qn) + struct.pack(">HH", qt, 1)


def response(id, qn, qt=1, rcode=0):
    h = struct.pack(">HHHHHH", id, 0x8180 | rcode, 1, 3, 1, 0)
    q = name(qn) + struct.pack(">HH", qt, 1)
    cn = b"\x03cdn\xc0\x0c"
    a1 = b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 300, len(cn)) + cn
    cn_off = 12 + len(q) + 10
    a2 = struct.pack(">H", 0xC000 | cn_off) + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([1, 2, 3, 4])
    a3 = struct.pack(">H", 0xC000 | cn_off) + struct.pack(">HHIH", 1, 1, 7200, 4) + bytes([5, 6, 7, 8])
    ns = b"\xc0\x0c" + struct.pack(">HHIH", 2, 1, 99, 2) + b"\xc0\x0c"
    return h + q + a1 + a2 + a3 + ns


def tcpmsg(m):
    return struct.pack(">H", len(m)) + m


q1 = query(0x1111, "www.example.com")
r1 = response(0x1111, "www.example.com")
q2 = query(0x2222, "mail.example.org", 28)
r2 = response(0x2222, "mail.example.org", 28, 3)


def tfo(c, data):
    """A SYN carrying data (TCP Fast Open): sequence number ISN, payload from ISN + 1."""
    c.t += 0.001
    c.frames.append((c.t, build(c.ip[0], c.ip[1], c.port[0], c.port[1], c.isn[0], 0, 0x02, data)))
    c.t += 0.001
    c.frames.append((c.t, build(c.ip[1], c.ip[0], c.port[1], c.port[0], c.isn[1], c.isn[0] + 1 + len(data), 0x12, b"")))
    c.nxt[0] += len(data)
    c.t += 0.001
    c.frames.append((c.t, build(c.ip[0], c.ip[1], c.port[0], c.port[1], c.nxt[0], c.nxt[1], 0x10, b"")))


ssh = flights("ssh_flights.pcap")
get = b"GET /one HTTP/1.1\r\nHost: a.example\r\nUser-Agent: UA/1\r\n\r\n"
ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi"

# DNS over TCP, one message per segment after a SYN with data.
c = Conn(sport=53); tfo(c, tcpmsg(q1)); c.send(1, tcpmsg(r1)); c.fin(); c.write("tfo_dns.pcap")
# HTTP request in the SYN.
c = Conn(sport=80)
tfo(c, b"GET /tfo HTTP/1.1\r\nHost: tfo.example\r\nUser-Agent: TFO/1\r\n\r\n")
c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n"); c.fin(); c.write("tfo_http.pcap")
# SSH client banner in the SYN.
c = Conn(sport=22); tfo(c, ssh[0][1])
for d, b in ssh[1:]:
    c.send(d, b)
c.fin(); c.write("tfo_ssh.pcap")
# The server sends a line of text before its identification string (RFC 4253 section 4.2).
c = Conn(sport=22); c.handshake()
c.send(1, b"Welcome to test host\r\n"); c.send(1, ssh[1][1]); c.send(0, ssh[0][1])
for d, b in ssh[2:]:
    c.send(d, b)
c.fin(); c.write("ssh_prebanner.pcap")
# DNS query whose last 4 bytes arrive before the rest.
c = Conn(sport=53); c.handshake(); d = tcpmsg(q1); n = len(d); k = n - 4
c.send_segs(0, d, [(k, n - k), (0, k)]); c.send(1, tcpmsg(r1)); c.fin(); c.write("dns_tcp_reordered.pcap")
# Two pipelined DNS queries and their responses, one byte per segment.
c = Conn(sport=53); c.handshake()
d = tcpmsg(q1) + tcpmsg(q2); c.send(0, d, [1] * len(d))
d = tcpmsg(r1) + tcpmsg(r2); c.send(1, d, [1] * len(d))
c.fin(); c.write("dns_tcp_bytewise.pcap")
# HTTP request whose first 20 bytes arrive after the rest.
c = Conn(sport=8080); c.handshake(); n = len(get)
c.send_segs(0, get, [(20, n - 20), (0, 20)]); c.send(1, ok); c.fin(); c.write("http_reordered.pcap")
