from pcap import *
import struct,os
w=W('esp_natt.pcap')
for i in range(8):
    d=i%2
    a,b=('10.0.0.1','10.0.0.2') if d==0 else ('10.0.0.2','10.0.0.1')
    spi=0x11223344 if d==0 else 0x55667788
    w.pkt(udp(a,b,4500,4500,struct.pack('!II',spi,i//2+1)+os.urandom(120)))
w.close()
# L2TP control SCCRQ on 1701, and reversed
def l2tp(): return bytes([0xc8,0x02])+struct.pack('!HHHHH',20,0,0,0,0)+os.urandom(8)
w=W('l2tp.pcap')
for i in range(2): w.pkt(udp('10.0.0.1','10.0.0.2',1701,1701,l2tp()))
w.close()
w=W('port1701_rev.pcap')
for i in range(2): w.pkt(udp('10.0.0.2','10.0.0.1',1701,40000,os.urandom(60))); w.pkt(udp('10.0.0.1','10.0.0.2',40000,1701,os.urandom(60)))
w.close()
