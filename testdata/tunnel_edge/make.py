"""Builds the captures of this directory (see ../README.md): tunnels whose inner packet is not IP or cannot be
read, ERSPAN type I, a cut Teredo packet, and plain UDP on VXLAN's port, laid out with pcaplib.py."""
import os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.chdir(HERE)
from pcaplib import eth, ipv4, ipv6, tcp, udp, write  # noqa: E402

arp = eth(b'\x00\x01\x08\x00\x06\x04\x00\x01'+b'\0'*20, et=0x0806)
inner = ipv4('192.168.1.1','192.168.2.2',17,udp(1234,53,b'q'*20))
vx_arp = struct.pack('!BBHI',0x08,0,0,100<<8)+arp
vx_ip = struct.pack('!BBHI',0x08,0,0,100<<8)+eth(inner)
write('vxlan_arp.pcap',[(1.0,eth(ipv4('1.1.1.1','2.2.2.2',17,udp(55555,4789,vx_ip)))),
                        (2.0,eth(ipv4('1.1.1.1','2.2.2.2',17,udp(55555,4789,vx_arp))))])
gre_arp = struct.pack('!BBH',0,0,0x6558)+arp
write('gre_arp.pcap',[(1.0,eth(ipv4('1.1.1.1','2.2.2.2',47,gre_arp)))])
# Teredo cut by snaplen 120
in6 = ipv6('2001:0:4136:e378:8000:63bf:3fff:fdd2','2001:db8::1',6,tcp(5000,443,0x18,b'x'*200))
fr = eth(ipv4('1.1.1.1','2.2.2.2',17,udp(3544,40000,in6)))
fr2 = eth(ipv4('1.1.1.1','2.2.2.2',17,udp(3544,40000,ipv6('2001:0:4136:e378:8000:63bf:3fff:fdd2','2001:db8::1',6,tcp(5000,443,0x10)))))
write('teredo_snap.pcap',[(1.0,fr2),(1.5,fr[:120],len(fr))],snap=120)
# GTP-U cut by snaplen 64
g = struct.pack('!BBHI',0x30,0xff,len(inner),1)+inner
fr = eth(ipv4('1.1.1.1','2.2.2.2',17,udp(2152,2152,g)))
write('gtp_snap.pcap',[(1.0,fr[:64],len(fr))],snap=64)

inner = ipv4('192.168.1.1','192.168.2.2',6,tcp(1234,80,0x18,b'd'*10))
ppp = b'\xff\x03\x00\x21'+inner
# PPTP GRE data with seq + ack
g1 = struct.pack('!BBHHH',0x30,0x81,0x880b,len(ppp),5)+struct.pack('!II',1,0)+ppp
# PPTP GRE ack-only (no payload): K + A flags, ver 1
g2 = struct.pack('!BBHHH',0x20,0x81,0x880b,0,5)+struct.pack('!I',1)
# PPTP LCP echo
lcp = b'\xff\x03\xc0\x21'+b'\x09\x01\x00\x08'+b'\0'*4
g3 = struct.pack('!BBHHH',0x30,0x01,0x880b,len(lcp),5)+struct.pack('!I',2)+lcp
write('pptp.pcap',[(1.0,eth(ipv4('1.1.1.1','2.2.2.2',47,g1))),(1.1,eth(ipv4('2.2.2.2','1.1.1.1',47,g2))),(1.2,eth(ipv4('1.1.1.1','2.2.2.2',47,g3)))])

inner = eth(ipv4('192.168.1.1','192.168.2.2',6,tcp(1234,80,0x02)))
# ERSPAN type I: GRE without S bit, protocol 0x88be, mirrored frame right after the 4-byte GRE header
g1 = struct.pack('!BBH',0x00,0x00,0x88be)+inner
# ERSPAN type II: GRE with S bit + 8-byte ERSPAN header
g2 = struct.pack('!BBHI',0x10,0x00,0x88be,1)+struct.pack('!II',0x10010064,0)+inner
write('erspan1.pcap',[(1.0,eth(ipv4('1.1.1.1','2.2.2.2',47,g1))),(2.0,eth(ipv4('1.1.1.1','2.2.2.2',47,g2)))])

q = struct.pack('!HHHHHH',0x0812,0x0100,1,0,0,0)+b'\x07example\x03com\x00\x00\x01\x00\x01'
r = struct.pack('!HHHHHH',0x0812,0x8180,1,0,0,0)+b'\x07example\x03com\x00\x00\x01\x00\x01'
write('udp4789.pcap',[(1.0,eth(ipv4('10.0.0.1','10.0.0.53',17,udp(4789,53,q)))),(1.1,eth(ipv4('10.0.0.53','10.0.0.1',17,udp(53,4789,r))))])

# The real vxlan_inner_vlan.pcap as `tcpdump -i any` would have it: each frame's Ethernet header replaced by a
# Linux cooked header (v1, then v2), so that the first Ethernet header is the tunnelled frame's.
def frames(fn):
    with open(fn,'rb') as f:
        data=f.read()
    o=24
    while o<len(data):
        sec,us,cl,wl=struct.unpack('<IIII',data[o:o+16])
        yield sec+us/1e6, data[o+16:o+16+cl], wl
        o+=16+cl
sll=[]; sll2=[]
for ts,b,wl in frames('vxlan_inner_vlan.pcap'):
    et=b[12:14]; mac=b[6:12]; body=b[14:]
    sll.append((ts,struct.pack('!HHH',4,1,6)+mac+b'\0\0'+et+body,wl-14+16))
    sll2.append((ts,et+b'\0\0'+struct.pack('!IHBB',2,1,4,6)+mac+b'\0\0'+body,wl-14+20))
write('vxlan_inner_vlan_sll.pcap',sll,link=113)
write('vxlan_inner_vlan_sll2.pcap',sll2,link=276)

# VXLAN over IPv6 behind a Linux cooked header: the cooked header's protocol (IPv6) is not the tunnelled
# Ethernet frame's EtherType (IPv4), which the mac columns take.
inner = eth(ipv4('192.168.1.1','192.168.2.2',6,tcp(1234,80,0x02)))
vx6 = struct.pack('!BBHI',0x08,0,0,100<<8)+inner
cooked = struct.pack('!HHH',0,1,6)+b'\x02\x00\x00\x00\x00\x01\0\0'+struct.pack('!H',0x86dd)
write('vxlan6_sll.pcap',[(1.0,cooked+ipv6('2001:db8::1','2001:db8::2',17,udp(55555,4789,vx6)))],link=113)
