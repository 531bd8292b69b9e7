import struct, sys
def read_pcap(path):
    d=open(path,'rb').read()
    magic=struct.unpack('<I',d[:4])[0]
    assert magic in (0xa1b2c3d4,0xa1b23c4d), hex(magic)
    lt=struct.unpack('<I',d[20:24])[0]
    off=24; out=[]
    while off+16<=len(d):
        ts,us,cl,ol=struct.unpack('<IIII',d[off:off+16]); off+=16
        out.append((ts+us/1e6 if magic==0xa1b2c3d4 else ts+us/1e9, d[off:off+cl])); off+=cl
    return lt,out
def tcp_parse(frame, lt=1):
    # returns (src,dst,sport,dport,seq,ack,flags,payload) for ethernet ipv4 tcp
    if lt==1: ip=frame[14:]
    elif lt==113: ip=frame[16:]
    else: ip=frame
    if ip[0]>>4!=4: return None
    ihl=(ip[0]&15)*4; tot=struct.unpack('>H',ip[2:4])[0]
    if ip[9]!=6: return None
    t=ip[ihl:tot]
    sp,dp,seq,ack=struct.unpack('>HHII',t[:12]); doff=(t[12]>>4)*4; fl=t[13]
    return (ip[12:16],ip[16:20],sp,dp,seq,ack,fl,t[doff:])
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('>%dH'%(len(b)//2),b)); 
    while s>>16: s=(s&0xffff)+(s>>16)
    return (~s)&0xffff
def build(src,dst,sp,dp,seq,ack,flags,payload,win=65535,proto=6):
    if proto==6:
        t=struct.pack('>HHIIBBHHH',sp,dp,seq&0xffffffff,ack&0xffffffff,5<<4,flags,win,0,0)+payload
        ph=src+dst+struct.pack('>BBH',0,6,len(t))
        c=csum(ph+t); t=t[:16]+struct.pack('>H',c)+t[18:]
    else:
        t=struct.pack('>HHHH',sp,dp,8+len(payload),0)+payload
        ph=src+dst+struct.pack('>BBH',0,17,len(t)); c=csum(ph+t) or 0xffff
        t=t[:6]+struct.pack('>H',c)+t[8:]
    ip=struct.pack('>BBHHHBBH4s4s',0x45,0,20+len(t),0,0x4000,64,proto,0,src,dst)
    ip=ip[:10]+struct.pack('>H',csum(ip))+ip[12:]
    return b'\x00'*12+b'\x08\x00'+ip+t
def write_pcap(path,frames):
    with open(path,'wb') as f:
        f.write(struct.pack('<IHHiIII',0xa1b2c3d4,2,4,0,0,262144,1))
        for ts,fr in frames:
            f.write(struct.pack('<IIII',int(ts),int((ts-int(ts))*1e6),len(fr),len(fr))); f.write(fr)
class Conn:
    """synthetic TCP connection builder"""
    def __init__(s,cport=40000,sport=443,cip=b'\x0a\0\0\x01',sip=b'\x0a\0\0\x02',isn=(1000,5000)):
        s.ip=[cip,sip]; s.port=[cport,sport]; s.isn=list(isn); s.frames=[]; s.t=1700000000.0
        s.nxt=[isn[0]+1,isn[1]+1]
    def pkt(s,d,seq,payload,flags=0x18):
        s.t+=0.001
        s.frames.append((s.t,build(s.ip[d],s.ip[1-d],s.port[d],s.port[1-d],seq,s.nxt[1-d],flags,payload)))
    def handshake(s):
        s.t+=0.001; s.frames.append((s.t,build(s.ip[0],s.ip[1],s.port[0],s.port[1],s.isn[0],0,0x02,b'')))
        s.t+=0.001; s.frames.append((s.t,build(s.ip[1],s.ip[0],s.port[1],s.port[0],s.isn[1],s.isn[0]+1,0x12,b'')))
        s.t+=0.001; s.frames.append((s.t,build(s.ip[0],s.ip[1],s.port[0],s.port[1],s.isn[0]+1,s.isn[1]+1,0x10,b'')))
    def send(s,d,data,chunks=None):
        """send data in chunks (list of sizes) in order"""
        if chunks is None: chunks=[len(data)]
        p=0
        for c in chunks:
            s.pkt(d,s.nxt[d]+p,data[p:p+c]); p+=c
        if p<len(data): s.pkt(d,s.nxt[d]+p,data[p:])
        s.nxt[d]+=len(data)
    def send_segs(s,d,data,segs):
        """segs: list of (offset,len) relative to current nxt, in emission order"""
        for o,l in segs: s.pkt(d,s.nxt[d]+o,data[o:o+l])
        s.nxt[d]+=len(data)
    def fin(s):
        s.pkt(0,s.nxt[0],b'',0x11); s.nxt[0]+=1
        s.pkt(1,s.nxt[1],b'',0x11); s.nxt[1]+=1
    def write(s,path): write_pcap(path,s.frames)
def streams(path):
    """return client/server payload streams (in order, dedup by seq) of the first TCP conn"""
    lt,pk=read_pcap(path); st={}; first=None
    for ts,fr in pk:
        r=tcp_parse(fr,lt)
        if not r: continue
        src,dst,sp,dp,seq,ack,fl,pl=r
        if first is None: first=(sp,dp)
        d=0 if (sp,dp)==first else 1
        st.setdefault(d,{})
        if pl: st[d].setdefault(seq,pl)
    out=[]
    for d in (0,1):
        m=st.get(d,{}); 
        if not m: out.append(b''); continue
        base=min(m); b=bytearray()
        for seq in sorted(m):
            o=seq-base
            if o>=len(b): b+=m[seq][o-len(b):] if o==len(b) else m[seq]
            else: b+=m[seq][len(b)-o:]
        out.append(bytes(b))
    return out
def flights(path):
    """list of (dir, bytes) in original order merging consecutive same-dir payloads"""
    lt,pk=read_pcap(path); first=None; fl=[]
    for ts,fr in pk:
        r=tcp_parse(fr,lt)
        if not r: continue
        src,dst,sp,dp,seq,ack,f,pl=r
        if first is None: first=(sp,dp)
        d=0 if (sp,dp)==first else 1
        if not pl: continue
        if fl and fl[-1][0]==d: fl[-1]=(d,fl[-1][1]+pl)
        else: fl.append((d,pl))
    return fl
