from pcap import *
import struct,os
def wgdata(n): return bytes([4,0,0,0])+os.urandom(n-4)
for name,iplen,link in (('wg_mtu1500_eth',1500,1),('wg_mtu1500_raw',1500,101),('wg_ip1450_eth',1450,1)):
    w=W(name+'.pcap',link)
    for i in range(10):
        d=(i%2)
        a,b=('10.0.0.1','10.0.0.2') if d==0 else ('10.0.0.2','10.0.0.1')
        pa,pb=(40000,41000) if d==0 else (41000,40000)
        fr=udp(a,b,pa,pb,wgdata(iplen-28))
        if link==101: fr=fr[14:]
        w.pkt(fr)
    w.close()
