from pcap import *
import struct,os
T=1700000000
def reset_plain(): return bytes([0x38])+os.urandom(8)+bytes([0])+struct.pack('!I',0)
def reset_tlsauth(): return bytes([0x38])+os.urandom(8)+os.urandom(20)+struct.pack('!II',1,T)+bytes([0])+struct.pack('!I',0)
def reset_tlscrypt(): return bytes([0x38])+os.urandom(8)+struct.pack('!II',1,T)+os.urandom(32)+os.urandom(10)
for name,fn in (('ovpn_plain',reset_plain),('ovpn_tlsauth',reset_tlsauth),('ovpn_tlscrypt',reset_tlscrypt)):
    w=W(name+'.pcap'); w.t=T
    for i in range(2): w.pkt(udp('10.0.0.1','10.0.0.2',40000,1195,fn()))
    w.close()
