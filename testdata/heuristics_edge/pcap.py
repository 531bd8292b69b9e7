import struct, socket
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
class W:
    def __init__(s,path,link=1): s.f=open(path,'wb'); s.f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,65535,link)); s.t=1700000000.0
    def pkt(s,frame,ts=None):
        if ts is None: s.t+=0.001; ts=s.t
        s.f.write(struct.pack('<IIII',int(ts),int(round((ts%1)*1e6)),len(frame),len(frame))+frame)
    def close(s): s.f.close()
def ip4(src,dst,proto,payload,ttl=64):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),1,0,ttl,proto,0,socket.inet_aton(src),socket.inet_aton(dst))
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]; return h+payload
def eth(p,et=0x0800): return b'\x02\0\0\0\0\x01'+b'\x02\0\0\0\0\x02'+struct.pack('!H',et)+p
def tcp(src,dst,sp,dp,seq,ack,flags,data=b'',win=65535):
    h=struct.pack('!HHIIBBHHH',sp,dp,seq&0xffffffff,ack&0xffffffff,5<<4,flags,win,0,0)
    ph=socket.inet_aton(src)+socket.inet_aton(dst)+struct.pack('!BBH',0,6,len(h)+len(data))
    c=csum(ph+h+data); h=h[:16]+struct.pack('!H',c)+h[18:]
    return eth(ip4(src,dst,6,h+data))
def udp(src,dst,sp,dp,data):
    h=struct.pack('!HHHH',sp,dp,8+len(data),0); return eth(ip4(src,dst,17,h+data))
class TcpConv:
    def __init__(s,w,c='10.0.0.1',sv='10.0.0.2',cp=40000,sp=8080,handshake=True):
        s.w=w;s.c=c;s.s=sv;s.cp=cp;s.sp=sp;s.seq=[1000,5000]
        if handshake:
            w.pkt(tcp(c,sv,cp,sp,s.seq[0],0,0x02)); s.seq[0]+=1
            w.pkt(tcp(sv,c,sp,cp,s.seq[1],s.seq[0],0x12)); s.seq[1]+=1
            w.pkt(tcp(c,sv,cp,sp,s.seq[0],s.seq[1],0x10))
    def send(s,d,data):
        if d==0: s.w.pkt(tcp(s.c,s.s,s.cp,s.sp,s.seq[0],s.seq[1],0x18,data))
        else: s.w.pkt(tcp(s.s,s.c,s.sp,s.cp,s.seq[1],s.seq[0],0x18,data))
        s.seq[d]+=len(data)
    def fin(s):
        s.w.pkt(tcp(s.c,s.s,s.cp,s.sp,s.seq[0],s.seq[1],0x11)); s.seq[0]+=1
        s.w.pkt(tcp(s.s,s.c,s.sp,s.cp,s.seq[1],s.seq[0],0x11)); s.seq[1]+=1
        s.w.pkt(tcp(s.c,s.s,s.cp,s.sp,s.seq[0],s.seq[1],0x10))
def h2f(t,fl,sid,payload=b''): return struct.pack('!I',len(payload))[1:]+bytes([t,fl])+struct.pack('!I',sid)+payload
PREFACE=b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
