import sys
def enc_len(n):
    if n<128: return bytes([n])
    b=n.to_bytes((n.bit_length()+7)//8,'big'); return bytes([0x80|len(b)])+b
def tlv(tag,content): return bytes([tag])+enc_len(len(content))+content
def parse(d,off=0):
    tag=d[off]; p=off+1; l=d[p]; p+=1
    if l&0x80:
        n=l&0x7f; l=int.from_bytes(d[p:p+n],'big'); p+=n
    return tag,d[p:p+l],p+l
def children(c):
    out=[];o=0
    while o<len(c):
        t,v,e=parse(c,o); out.append((t,v)); o=e
    return out
def oid(s):
    a=[int(x) for x in s.split('.')]; b=bytes([a[0]*40+a[1]])
    for x in a[2:]:
        enc=[x&0x7f]; x>>=7
        while x: enc.append(0x80|(x&0x7f)); x>>=7
        b+=bytes(reversed(enc))
    return tlv(6,b)
def name(rdns):  # rdns: list of list of (oid, tag, bytes)
    return tlv(0x30,b''.join(tlv(0x31,b''.join(tlv(0x30,oid(o)+tlv(t,v)) for o,t,v in rdn)) for rdn in rdns))
def rebuild(der, subject=None, issuer=None, validity=None, serial=None, extra_ext=None):
    t,cert,_=parse(der); top=children(cert); tbs=children(top[0][1])
    i=1 if tbs[0][0]==0xa0 else 0
    if serial is not None: tbs[i]=(2,serial)
    if issuer is not None: tbs[i+2]=(0x30,issuer[2:] if False else children_strip(issuer))
    if validity is not None: tbs[i+3]=(0x30,validity)
    if subject is not None: tbs[i+4]=(0x30,children_strip(subject))
    if extra_ext is not None:
        tbs=[x for x in tbs if x[0]!=0xa3]+[(0xa3,tlv(0x30,extra_ext))]
    newtbs=tlv(0x30,b''.join(tlv(a,b) for a,b in tbs))
    return tlv(0x30,newtbs+b''.join(tlv(a,b) for a,b in top[1:]))
def children_strip(full):
    t,v,_=parse(full); return v
