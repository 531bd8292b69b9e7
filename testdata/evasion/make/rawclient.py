# raw TCP client from an unassigned address; segments described in a JSON-ish python list
import sys, time, random, json
from scapy.all import Ether, IP, TCP, Raw, sendp, AsyncSniffer, conf
conf.verb=0
IFACE='evasion_vc'; SRC='10.77.0.3'; DST='10.77.0.2'
def run(dport, segs, isn=None, syn_data=b'', sport=None, dmac=None, fin=True, gap=0.05):
    sport = sport or random.randint(20000,60000)
    isn = random.randint(0,2**32-1) if isn is None else isn
    sn = AsyncSniffer(iface=IFACE, filter=f'tcp and src host {DST} and src port {dport} and dst port {sport}', store=True)
    sn.start(); time.sleep(0.3)
    eth=Ether(dst=dmac)
    ip=IP(src=SRC,dst=DST)
    syn=eth/ip/TCP(sport=sport,dport=dport,flags='S',seq=isn,options=[('MSS',1460)])
    if syn_data: syn=syn/Raw(syn_data)
    sendp(syn, iface=IFACE)
    t0=time.time(); sa=None
    while time.time()-t0<3:
        for p in sn.results if hasattr(sn,'results') and sn.results else []:
            pass
        time.sleep(0.1)
        res = sn.results if sn.results is not None else []
        # AsyncSniffer exposes results only after stop; use a workaround
        break
    time.sleep(0.4)
    sn.stop(); res=sn.results
    sa=[p for p in res if p[TCP].flags & 0x12 == 0x12]
    if not sa: print('no synack'); return
    sisn=sa[0][TCP].seq; ack=(sisn+1)&0xffffffff
    sendp(eth/ip/TCP(sport=sport,dport=dport,flags='A',seq=(isn+1)&0xffffffff,ack=ack), iface=IFACE)
    for sg in segs:
        off=sg['off']; data=sg['data']
        t=TCP(sport=sport,dport=dport,flags=sg.get('flags','PA'),seq=(isn+1+off)&0xffffffff,ack=ack,window=64000)
        if 'urg' in sg: t.urgptr=sg['urg']
        pkt=eth/IP(src=SRC,dst=DST,ttl=sg.get('ttl',64))/t/Raw(data)
        if sg.get('badsum'):
            pkt=Ether(bytes(pkt)); pkt[TCP].chksum=(pkt[TCP].chksum+1)&0xffff
        time.sleep(sg.get('sleep',gap))
        sendp(pkt, iface=IFACE)
    time.sleep(0.3)
    if fin:
        total=max(s['off']+len(s['data']) for s in segs) if segs else 0
        sendp(eth/ip/TCP(sport=sport,dport=dport,flags='FA',seq=(isn+1+total)&0xffffffff,ack=ack), iface=IFACE)
    time.sleep(0.3)
    return sport
