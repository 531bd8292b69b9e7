from pcap import *
import struct
REQ=bytes([0x82,0x86,0x84,0x41,9])+b'localhost'
SET=h2f(4,0,0,struct.pack('!HI',3,100))
w=W('h2_midcapture2.pcap'); c=TcpConv(w,handshake=False)
w.pkt(tcp(c.c,c.s,c.cp,c.sp,c.seq[0],c.seq[1],0x10))   # client bare ACK (of its preface) first
c.send(1,SET)
c.send(0,h2f(4,1,0)+h2f(1,5,1,REQ))
c.send(1,h2f(4,1,0)+h2f(1,4,1,b'\x88')+h2f(0,1,1,b'hi'))
c.send(0,h2f(1,5,3,REQ))
c.send(1,h2f(1,4,3,b'\x88')+h2f(0,1,3,b'hi'))
w.close()
