import struct
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def ip4a(s): return bytes(int(x) for x in s.split('.'))
import ipaddress
def ip6a(s): return ipaddress.IPv6Address(s).packed
def ipv4(src,dst,proto,payload,ident=1,flags=0,frag=0,ttl=64,opts=b'',total=None):
    ihl=(20+len(opts))//4
    tl = total if total is not None else 20+len(opts)+len(payload)
    h=struct.pack('!BBHHHBBH4s4s',0x40|ihl,0,tl,ident,(flags<<13)|frag,ttl,proto,0,ip4a(src),ip4a(dst))+opts
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]
    return h+payload
def ipv6(src,dst,nh,payload,hlim=64,plen=None):
    return struct.pack('!IHBB16s16s',6<<28,len(payload) if plen is None else plen,nh,hlim,ip6a(src),ip6a(dst))+payload
def udp(sp,dp,data): return struct.pack('!HHHH',sp,dp,8+len(data),0)+data
def tcp(sp,dp,flags,data=b'',seq=1,ack=0,win=1000):
    return struct.pack('!HHIIBBHHH',sp,dp,seq,ack,5<<4,flags,win,0,0)+data
def eth(payload,et=0x0800,vlans=()):
    h=b'\x00\x11\x22\x33\x44\x55'+b'\x66\x77\x88\x99\xaa\xbb'
    for tpid,vid in vlans: h+=struct.pack('!HH',tpid,vid)
    return h+struct.pack('!H',et)+payload
def write(fn,pkts,link=1,snap=65535):
    # pkts: list of (ts, bytes) or (ts,bytes,wirelen)
    with open(fn,'wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,snap,link))
        for p in pkts:
            ts,b=p[0],p[1]; wl=p[2] if len(p)>2 else len(b)
            sec=int(ts); us=int(round((ts-sec)*1e6))
            f.write(struct.pack('<IIII',sec,us,len(b),wl)); f.write(b)
