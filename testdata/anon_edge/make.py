"""Builds the captures of this directory (see ../README.md): address fields and cut headers that anon --pcap
must rewrite or leave out, laid out with ../tunnel_edge/pcaplib.py."""
import os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tunnel_edge"))
os.chdir(HERE)
from pcaplib import *  # noqa: E402,F403

def pseudo4(src,dst,proto,l): return ip4a(src)+ip4a(dst)+struct.pack('!BBH',0,proto,l)
def pseudo6(src,dst,nh,l): return ip6a(src)+ip6a(dst)+struct.pack('!IxxxB',l,nh)
def tcpc(ps, seg):  # seg with zero csum at 16
    c=csum(ps+seg); return seg[:16]+struct.pack('!H',c)+seg[18:]
def udpc(ps, seg):
    c=csum(ps+seg) or 0xffff; return seg[:6]+struct.pack('!H',c)+seg[8:]
def icmp4(t,code,rest):
    b=struct.pack('!BBH',t,code,0)+rest; c=csum(b); return b[:2]+struct.pack('!H',c)+b[4:]
def icmp6(src,dst,t,code,rest):
    b=struct.pack('!BBH',t,code,0)+rest; c=csum(pseudo6(src,dst,58,len(b))+b); return b[:2]+struct.pack('!H',c)+b[4:]
def tcp4(src,dst,sp,dp,data=b'',flags=0x18):
    seg=tcp(sp,dp,flags,data); return tcpc(pseudo4(src,dst,6,len(seg)),seg)
def tcp6(src,dst,sp,dp,data=b'',flags=0x18,pdst=None,psrc=None):
    seg=tcp(sp,dp,flags,data); return tcpc(pseudo6(psrc or src,pdst or dst,6,len(seg)),seg)
def udp4(src,dst,sp,dp,data=b''):
    seg=udp(sp,dp,data); return udpc(pseudo4(src,dst,17,len(seg)),seg)
def udp6(src,dst,sp,dp,data=b'',pdst=None,psrc=None):
    seg=udp(sp,dp,data); return udpc(pseudo6(psrc or src,pdst or dst,17,len(seg)),seg)
def writeng(fn, blocks):
    with open(fn,'wb') as f:
        for b in blocks: f.write(b)
def blk(t, body):
    body += b'\0'*((-len(body))%4)
    L=12+len(body); return struct.pack('<II',t,L)+body+struct.pack('<I',L)
def opt(code,val):
    return struct.pack('<HH',code,len(val))+val+b'\0'*((-len(val))%4)
def shb(opts=b''): return blk(0x0a0d0d0a, struct.pack('<IHHq',0x1a2b3c4d,1,0,-1)+opts)
def idb(link=1,opts=b''): return blk(1, struct.pack('<HHI',link,0,0)+opts)
def epb(data,ifid=0,ts=0,opts=b''):
    d=data+b'\0'*((-len(data))%4)
    return blk(6, struct.pack('<IIIII',ifid,ts>>32,ts&0xffffffff,len(data),len(data))+d+opts)
def isb(ifid=0,ts=0,opts=b''): return blk(5, struct.pack('<III',ifid,ts>>32,ts&0xffffffff)+opts)

# inner IP headers cut short: 6in4 cut at snaplen 64, an ICMPv6 error quote cut at 96
S,D='10.1.1.1','10.2.2.2'
pk=[]
# 6in4 cut inside inner IPv6 header (snaplen 64)
inner=ipv6('2001:db8::aaaa','2001:db8::bbbb',17,udp6('2001:db8::aaaa','2001:db8::bbbb',1,2,b'x'*20))
f=eth(ipv4(S,D,41,inner)); pk.append((1.0,f[:64],len(f)))
# ICMPv6 error quoting IPv6 packet, cut at snaplen 96
q=ipv6('2001:db8::cccc','2001:db8::dddd',17,udp6('2001:db8::cccc','2001:db8::dddd',1,2,b'y'*40))
ic=icmp6('2001:db8::1','2001:db8::2',1,4,b'\0'*4+q)
f=eth(ipv6('2001:db8::1','2001:db8::2',58,ic),0x86dd); pk.append((2.0,f[:96],len(f)))
write('cut_inner.pcap',pk,snap=96)

# IPv4 cut short behind MPLS and PPPoE (and on plain Ethernet), snaplen 40
pk=[]
inner=ipv4('10.77.1.1','10.77.2.2',17,udp4('10.77.1.1','10.77.2.2',1,2,b'm'*10))
f=eth(struct.pack('!I',(100<<12)|0x100|64)+inner,0x8847); pk.append((1.0,f[:14+4+18],len(f)))
pp=struct.pack('!BBHH',0x11,0,1,len(inner)+2)+b'\x00\x21'+inner
f=eth(pp,0x8864); pk.append((2.0,f[:14+8+18],len(f)))
# plain ethernet for comparison
f=eth(inner); pk.append((3.0,f[:14+18],len(f)))
write('cut_mpls_pppoe.pcap',pk,snap=40)

# addresses in an ICMP router advertisement, a RARP reply, an IPv4 traceroute option
pk=[]
# ICMP router advertisement: num=2, entry size=2, lifetime 1800, then (addr, pref)
ra=icmp4(9,0,struct.pack('!BBH',2,2,1800)+ip4a('10.9.9.1')+struct.pack('!I',0)+ip4a('10.9.9.2')+struct.pack('!I',0))
pk.append((1.0,eth(ipv4('10.9.9.1','224.0.0.1',1,ra))))
# RARP reply
arp=struct.pack('!HHBBH',1,0x0800,6,4,4)+b'\x00\x11\x22\x33\x44\x55'+ip4a('10.7.7.7')+b'\x66\x77\x88\x99\xaa\xbb'+ip4a('10.7.7.8')
pk.append((2.0,eth(arp,0x8035)))
# IPv4 traceroute option 82: type,len=12, id(2), ohc(2), rhc(2), originator(4)
trace_opt=bytes([82,12])+struct.pack('!HHH',1,1,0)+ip4a('10.5.5.5')
pk.append((3.0,eth(ipv4('10.5.5.5','10.6.6.6',17,udp4('10.5.5.5','10.6.6.6',1,2,b'zz'),opts=trace_opt))))
write('router_adv_rarp_traceroute.pcap',pk)

# Mobile IPv6 Home Address destination option (checksum over the home address, then over the care-of address)
pk=[]
CoA,HoA,CN='2001:db8:1::1','2001:db8:2::2','2001:db8:3::3'
seg=tcp6(CoA,CN,1000,80,b'hello',psrc=HoA)
# dest opts: nh=6, hdrlen=2 (24 bytes): PadN(4 bytes) then HoA option at offset 6 (8n+6 alignment)
do=struct.pack('!BB',6,2)+bytes([1,2,0,0])+bytes([201,16])+ip6a(HoA)
f=eth(ipv6(CoA,CN,60,do+seg),0x86dd); pk.append((1.0,f))
# same with checksum computed from CoA (in case wireshark uses ipv6.src)
seg=tcp6(CoA,CN,1000,80,b'hello')
f=eth(ipv6(CoA,CN,60,do+seg),0x86dd); pk.append((2.0,f))
write('home_address.pcap',pk)

# an interface statistics block with a comment naming an address
p=eth(ipv4('10.1.1.1','10.2.2.2',17,udp4('10.1.1.1','10.2.2.2',1,2,b'hi')))
writeng('isb_comment.pcapng',[shb(),idb(),epb(p,ts=1234567),isb(0,ts=0x0005f00012345678,opts=opt(1,b'capture on host 10.1.2.3')+opt(0,b''))])

# an interface statistics block whose timestamp low word is 1 (a comment option code)
p=eth(ipv4('10.1.1.1','10.2.2.2',17,udp4('10.1.1.1','10.2.2.2',1,2,b'hi')))
# ISB with timestamp low word 0x00000001 and isb_ifrecv option (code 4, 8 bytes) 
writeng('isb_timestamp.pcapng',[shb(),idb(),epb(p,ts=1),isb(0,ts=0x0000000500000001,opts=opt(4,struct.pack('<Q',1))+opt(0,b''))])

# multicast listener discovery and node information (RFC 2710, 3810, 4620): groups, sources, subjects, addresses
pk=[]
L,G='fe80::1:1','ff3e::7:7'
def mld2rec(rtype,group,sources,aux=b''):
    return struct.pack('!BBH',rtype,len(aux)//4,len(sources))+ip6a(group)+b''.join(ip6a(a) for a in sources)+aux
q=struct.pack('!HH',1000,0)+ip6a(G)+struct.pack('!BBH',2,125,2)+ip6a('2001:db8:7::1')+ip6a('2001:db8:7::2')
pk.append((1.0,eth(ipv6(L,'ff02::1',58,icmp6(L,'ff02::1',130,0,q),hlim=1),0x86dd)))
pk.append((2.0,eth(ipv6(L,G,58,icmp6(L,G,131,0,struct.pack('!HH',0,0)+ip6a(G)),hlim=1),0x86dd)))
pk.append((3.0,eth(ipv6(L,'ff02::2',58,icmp6(L,'ff02::2',132,0,struct.pack('!HH',0,0)+ip6a(G)),hlim=1),0x86dd)))
recs=mld2rec(1,'ff3e::8:8',['2001:db8:7::3'],aux=b'\0'*4)+mld2rec(3,'ff3e::9:9',['2001:db8:7::4','2001:db8:7::5'])
pk.append((4.0,eth(ipv6(L,'ff02::16',58,icmp6(L,'ff02::16',143,0,struct.pack('!HH',0,2)+recs),hlim=1),0x86dd)))
A,B='2001:db8:8::1','2001:db8:8::2'
nonce=b'\x01\x02\x03\x04\x05\x06\x07\x08'
pk.append((5.0,eth(ipv6(A,B,58,icmp6(A,B,139,0,struct.pack('!HH',3,0)+nonce+ip6a('2001:db8:8::9'))),0x86dd)))
pk.append((6.0,eth(ipv6(A,B,58,icmp6(A,B,139,2,struct.pack('!HH',4,0)+nonce+ip4a('10.8.8.9'))),0x86dd)))
pk.append((7.0,eth(ipv6(B,A,58,icmp6(B,A,140,0,struct.pack('!HH',3,0)+nonce+struct.pack('!I',60)+ip6a('2001:db8:8::a')+struct.pack('!I',60)+ip6a('2001:db8:8::b'))),0x86dd)))
pk.append((8.0,eth(ipv6(B,A,58,icmp6(B,A,140,0,struct.pack('!HH',4,0)+nonce+struct.pack('!I',60)+ip4a('10.8.8.10'))),0x86dd)))
write('mld_node_information.pcap',pk)

# pcapng blocks and options that cannot be rewritten: a packet's hash (epb_hash, MD5 of the frame as captured),
# a custom block with a note, systemd journal export and decryption secrets (a TLS key log) blocks
import hashlib
p=eth(ipv4('10.1.1.1','10.2.2.2',17,udp4('10.1.1.1','10.2.2.2',1,2,b'hi')))
h=opt(3,b'\x02'+hashlib.md5(p).digest())
custom=blk(0xbad, struct.pack('<I',32473)+b'note: host 10.1.1.1 is alice')
journal=blk(9, b'__REALTIME_TIMESTAMP=1\nMESSAGE=dhcp lease 10.1.1.1 to alice\n')
secrets=blk(10, struct.pack('<II',0x544c534b,48)+b'CLIENT_RANDOM 00112233 445566778899aabbccddeeff\n')
vendor=blk(0x80000123, b'vendor note: 10.1.1.1 is alice\n\0\0')
writeng('pcapng_blocks.pcapng',[shb(),idb(),epb(p,ts=1234567,opts=h+opt(0,b'')),custom,journal,secrets,vendor])
