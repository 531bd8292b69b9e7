"""Builds the captures of this directory (see ../README.md) with ../tunnel_edge/pcaplib.py: TCP closes whose
last ACK ends the flow under --tcp-end (sequence and acknowledgement numbers as a real stack sends them), and
UDP gaps of exactly the idle timeout at many times of day."""
import os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tunnel_edge'))
os.chdir(HERE)
from pcaplib import eth, ipv4, tcp, udp, write  # noqa: E402

SYN, FIN, ACK, PSH = 0x02, 0x01, 0x10, 0x08
C, S = ('10.0.0.1', 40001), ('10.0.0.2', 80)


def seg(t, frm, flags, seq, ack, data=b''):
    to = S if frm == C else C
    return (t, eth(ipv4(frm[0], to[0], 6, tcp(frm[1], to[1], flags, data, seq=seq, ack=ack))))


def opening(t, cs, ss):
    # Handshake and one request and reply: the client's next sequence number is cs+6, the server's ss+13.
    return [seg(t, C, SYN, cs, 0), seg(t + 0.001, S, SYN | ACK, ss, cs + 1), seg(t + 0.002, C, ACK, cs + 1, ss + 1),
            seg(t + 0.003, C, PSH | ACK, cs + 1, ss + 1, b'hello'), seg(t + 0.004, S, PSH | ACK, ss + 1, cs + 6,
                                                                        b'hello, world')]


T, CS, SS = 1700000000.5, 1000, 5000
c, s = CS + 6, SS + 13
# Both FINs cross (neither acknowledges the other), then each side acknowledges the other's.
write('simultaneous_close.pcap', opening(T, CS, SS) + [
    seg(T + 0.005, C, FIN | ACK, c, s), seg(T + 0.005001, S, FIN | ACK, s, c),
    seg(T + 0.006, C, ACK, c + 1, s + 1), seg(T + 0.006001, S, ACK, s + 1, c + 1)])
# The client's FIN is answered by the server's FIN+ACK; the client sends its FIN again, then the last ACK.
write('fin_retransmitted.pcap', opening(T, CS, SS) + [
    seg(T + 0.005, C, FIN | ACK, c, s), seg(T + 0.006, S, FIN | ACK, s, c + 1),
    seg(T + 0.206, C, FIN | ACK, c, s + 1), seg(T + 0.207, C, ACK, c + 1, s + 1)])
# The usual four-way close.
write('four_way_close.pcap', opening(T, CS, SS) + [
    seg(T + 0.005, C, FIN | ACK, c, s), seg(T + 0.006, S, ACK, s, c + 1),
    seg(T + 0.007, S, FIN | ACK, s, c + 1), seg(T + 0.008, C, ACK, c + 1, s + 1)])

# UDP flows, each a packet, a gap of exactly 0.1 s, a packet, a gap of 0.100001 s, a packet: at 40 times of
# day whose fractions make the doubles' difference come out over or under 0.1.
pkts = []
for i in range(40):
    base = 1700000000 + i * 37 + (i * 123457 % 1000000) / 1e6
    port = 20000 + i
    for t in (base, base + 0.1, base + 0.2 + 0.000001):
        us = round(t * 1e6)
        pkts.append((us / 1e6, eth(ipv4('10.0.1.1', '10.0.1.2', 17, udp(port, 9999, b'x' * 8)))))
pkts.sort(key=lambda p: p[0])
write('idle_exact_gaps.pcap', pkts)
