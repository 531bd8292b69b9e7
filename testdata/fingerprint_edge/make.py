#!/usr/bin/env python3
"""Builds the captures of testdata/fingerprint_edge (see testdata/README.md): python3 testdata/fingerprint_edge/make.py
quic_hrr.pcap needs the `cryptography` package (QUIC Initials are encrypted with RFC 9001's initial keys)."""
import os
OUT = os.path.dirname(os.path.abspath(__file__))

import struct, sys
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def ip4(src,dst,proto,payload,ttl=64,ident=1,df=True):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),ident,0x4000 if df else 0,ttl,proto,0,bytes(src),bytes(dst))
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]
    return h+payload
def tcp(src,dst,sp,dp,seq,ack,flags,data=b'',opts=b'',win=65535):
    off=(20+len(opts))//4
    h=struct.pack('!HHIIBBHHH',sp,dp,seq,ack,off<<4,flags,win,0,0)+opts
    ph=bytes(src)+bytes(dst)+struct.pack('!BBH',0,6,len(h)+len(data))
    c=csum(ph+h+data); h=h[:16]+struct.pack('!H',c)+h[18:]
    return h+data
def udp(src,dst,sp,dp,data):
    h=struct.pack('!HHHH',sp,dp,8+len(data),0)
    return h+data
class Pcap:
    def __init__(s,fn): s.f=open(fn,'wb'); s.f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,1)); s.t=1700000000.0
    def add(s,pkt):
        s.t+=0.001; eth=b'\x00\x01\x02\x03\x04\x05\x00\x01\x02\x03\x04\x06\x08\x00'+pkt
        s.f.write(struct.pack('<IIII',int(s.t),int((s.t%1)*1e6),len(eth),len(eth))+eth)
    def close(s): s.f.close()
C=[10,0,0,1]; S=[10,0,0,2]
def tcpflow(pc,sp,dp,cdatas,sdatas=[],synopts=b'\x02\x04\x05\xb4'):
    cs=1000; ss=5000
    pc.add(ip4(C,S,6,tcp(C,S,sp,dp,cs,0,0x02,opts=synopts))); 
    pc.add(ip4(S,C,6,tcp(S,C,dp,sp,ss,cs+1,0x12,opts=b'\x02\x04\x05\xb4'))); cs+=1; ss+=1
    pc.add(ip4(C,S,6,tcp(C,S,sp,dp,cs,ss,0x10)))
    for d in cdatas:
        pc.add(ip4(C,S,6,tcp(C,S,sp,dp,cs,ss,0x18,d))); cs+=len(d)
    for d in sdatas:
        pc.add(ip4(S,C,6,tcp(S,C,dp,sp,ss,cs,0x18,d))); ss+=len(d)
def ext(t,data): return struct.pack('!HH',t,len(data))+data
def ch(ver=0x0303,ciphers=[0x1301,0xc02f],exts=b'',sid=b'',comp=b'\x00'):
    body=struct.pack('!H',ver)+b'\x11'*32+bytes([len(sid)])+sid+struct.pack('!H',2*len(ciphers))+b''.join(struct.pack('!H',c) for c in ciphers)+bytes([len(comp)])+comp
    if exts is not None: body+=struct.pack('!H',len(exts))+exts
    return b'\x01'+struct.pack('!I',len(body))[1:]+body
def rec(hs,ver=0x0301,ct=22): return struct.pack('!BHH',ct,ver,len(hs))+hs
def sni(name): n=name.encode(); e=b'\x00'+struct.pack('!H',len(n))+n; return ext(0,struct.pack('!H',len(e))+e)
def alpn(*vals):
    l=b''.join(bytes([len(v)])+v for v in vals); return ext(16,struct.pack('!H',len(l))+l)
def sv(*vs): return ext(43,bytes([2*len(vs)])+b''.join(struct.pack('!H',v) for v in vs))
def sig(*vs): return ext(13,struct.pack('!H',2*len(vs))+b''.join(struct.pack('!H',v) for v in vs))
def groups(*vs): return ext(10,struct.pack('!H',2*len(vs))+b''.join(struct.pack('!H',v) for v in vs))
def pf(*vs): return ext(11,bytes([len(vs)])+bytes(vs))

# --- hrr2.pcap: a TLS 1.3 HelloRetryRequest with no ServerHello after it, then only ACKs
HRR=bytes.fromhex('CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C')
def sh(rand,exts,cipher=0x1301,ver=0x0303):
    body=struct.pack('!H',ver)+rand+b'\x00'+struct.pack('!H',cipher)+b'\x00'+struct.pack('!H',len(exts))+exts
    return b'\x02'+struct.pack('!I',len(body))[1:]+body
base=sni('a.com')+sv(0x0304)+groups(29)+sig(0x0403)
c1=rec(ch(exts=base)); c2=rec(ch(exts=base+ext(44,b'\x00\x02ab')))
hrr=rec(sh(HRR,ext(43,b'\x03\x04')+ext(51,b'\x00\x1d')+ext(44,b'\x00\x02ab')))
s=rec(sh(b'\x33'*32,ext(43,b'\x03\x04')+ext(51,b'\x00\x1d\x00\x01\x00')))
pc=Pcap(OUT+'/hrr2.pcap')
cs=1000; ss=5000; sp=41002
pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,0,0x02))); pc.add(ip4(S,C,6,tcp(S,C,443,sp,ss,cs+1,0x12))); cs+=1; ss+=1
pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x18,c1))); cs+=len(c1)
pc.add(ip4(S,C,6,tcp(S,C,443,sp,ss,cs,0x18,hrr))); ss+=len(hrr)
pc.t+=5
for i in range(3):
    pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x10))); pc.t+=2
pc.close()

# --- reuse.pcap: two connections on one 5-tuple, FIN both ways between them
pc=Pcap(OUT+'/reuse.pcap')
base=sig(0x0403)+groups(29)+pf(0)
sp=47000
for name,isn in (('first.com',1000),('second.com',90000)):
    cs=isn; ss=isn+7000
    pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,0,0x02,opts=b'\x02\x04\x05\xb4'))); pc.add(ip4(S,C,6,tcp(S,C,443,sp,ss,cs+1,0x12,opts=b'\x02\x04\x05\xb4'))); cs+=1; ss+=1
    pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x10)))
    r=rec(ch(exts=sni(name)+base)); pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x18,r))); cs+=len(r)
    pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x11))); cs+=1
    pc.add(ip4(S,C,6,tcp(S,C,443,sp,ss,cs,0x11))); ss+=1
    pc.add(ip4(C,S,6,tcp(C,S,sp,443,cs,ss,0x10)))
    pc.t+=2
pc.close()

# --- tfo.pcap: a SYN with data (TCP Fast Open), its SYN+ACK, an ACK
pc=Pcap(OUT+'/tfo.pcap')
sp=48000; cs=1000; ss=5000
data=b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
opts=b'\x02\x04\x05\xb4'+b'\x04\x02'+b'\x22\x0a'+b'\x11'*8   # mss, sackok, TFO cookie (kind 34 len 10)
opts+=b'\x01'*((4-len(opts)%4)%4)
pc.add(ip4(C,S,6,tcp(C,S,sp,80,cs,0,0x02,data,opts=opts)))
pc.add(ip4(S,C,6,tcp(S,C,80,sp,ss,cs+1+len(data),0x12,opts=b'\x02\x04\x05\xb4\x04\x02\x01\x01')))
pc.add(ip4(C,S,6,tcp(C,S,sp,80,cs+1+len(data),ss+1,0x10)))
pc.close()

# --- quic_hrr.pcap: QUIC v1 Initials: ClientHello, HelloRetryRequest, second ClientHello, ServerHello
import hashlib, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
SALT=bytes.fromhex('38762cf7f55934b34d179ae6a4c80cadccbb7f0a')
def hext(salt,ikm): return hmac.new(salt,ikm,hashlib.sha256).digest()
def hexp(prk,info,l):
    out=b''; t=b''; i=1
    while len(out)<l:
        t=hmac.new(prk,t+info+bytes([i]),hashlib.sha256).digest(); out+=t; i+=1
    return out[:l]
def label(secret,lab,l):
    full=b'tls13 '+lab
    return hexp(secret,struct.pack('!H',l)+bytes([len(full)])+full+b'\x00',l)
def keys(dcid,server):
    init=hext(SALT,dcid); sec=label(init,b'server in' if server else b'client in',32)
    return label(sec,b'quic key',16),label(sec,b'quic iv',12),label(sec,b'quic hp',16)
def varint(v):
    if v<64: return bytes([v])
    if v<16384: return struct.pack('!H',0x4000|v)
    return struct.pack('!I',0x80000000|v)
def initial(dcid,scid,pn,payload,server):
    key,iv,hp=keys(ODCID,server)
    pnb=struct.pack('!I',pn); pnlen=4
    hdr=bytes([0xc0|(pnlen-1)])+struct.pack('!I',1)+bytes([len(dcid)])+dcid+bytes([len(scid)])+scid
    if not server: hdr+=varint(0)
    else: hdr+=varint(0)
    length=pnlen+len(payload)+16
    hdr+=struct.pack('!H',0x4000|length)
    pnoff=len(hdr); hdr+=pnb
    nonce=bytes(a^b for a,b in zip(iv,b'\x00'*8+pnb))
    ct=AESGCM(key).encrypt(nonce,payload,hdr)
    pkt=bytearray(hdr+ct)
    sample=pkt[pnoff+4:pnoff+20]
    enc=Cipher(algorithms.AES(hp),modes.ECB()).encryptor(); mask=enc.update(bytes(sample))+enc.finalize()
    pkt[0]^=mask[0]&0x0f
    for i in range(4): pkt[pnoff+i]^=mask[1+i]
    return bytes(pkt)
def crypto(off,data): return b'\x06'+varint(off)+varint(len(data))+data
ODCID=bytes.fromhex('8394c8f03e515708'); SCID=bytes.fromhex('f067a5502a4262b5')
HRR=bytes.fromhex('CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C')
def sh(rand,exts,cipher=0x1301):
    body=struct.pack('!H',0x0303)+rand+b'\x00'+struct.pack('!H',cipher)+b'\x00'+struct.pack('!H',len(exts))+exts
    return b'\x02'+struct.pack('!I',len(body))[1:]+body
tp=ext(57,b'\x01\x02\x40\x64')
ks=ext(51,struct.pack('!H',36)+struct.pack('!HH',29,32)+b'\x05'*32)
c1=ch(ciphers=[0x1301,0x1302],exts=sni('q.example')+alpn(b'h3')+sv(0x0304)+groups(29,23)+sig(0x0403,0x0804)+ks+tp)
c2=ch(ciphers=[0x1301,0x1302],exts=sni('q.example')+alpn(b'h3')+sv(0x0304)+groups(29,23)+sig(0x0403,0x0804)+ext(51,struct.pack('!H',69)+struct.pack('!HH',23,65)+b'\x04'+b'\x06'*64)+ext(44,b'\x00\x02ab')+tp)
hrr=sh(HRR,ext(43,b'\x03\x04')+ext(51,b'\x00\x17')+ext(44,b'\x00\x02ab'))
real=sh(b'\x33'*32,ext(43,b'\x03\x04')+ext(51,struct.pack('!HH',23,65)+b'\x04'+b'\x07'*64))
pad=lambda p: p+b'\x00'*(1200-len(p)) if len(p)<1200 else p
pc=Pcap(OUT+'/quic_hrr.pcap')
Cp,Sp=50123,443
pc.add(ip4(C,S,17,udp(C,S,Cp,Sp,initial(ODCID,SCID,0,pad(crypto(0,c1)),False))))
pc.add(ip4(S,C,17,udp(S,C,Sp,Cp,initial(SCID,ODCID,0,crypto(0,hrr)+b'\x00'*20,True))))
pc.add(ip4(C,S,17,udp(C,S,Cp,Sp,initial(ODCID,SCID,1,pad(crypto(len(c1),c2)),False))))
pc.t+=0.5
pc.add(ip4(S,C,17,udp(S,C,Sp,Cp,initial(SCID,ODCID,1,crypto(len(hrr),real)+b'\x00'*20,True))))
pc.close()
