from pcap import *
import struct
REQ=bytes([0x82,0x86,0x84,0x41,9])+b'localhost'
RESP=bytes([0x88])
SET=h2f(4,0,0,struct.pack('!HI',3,100))
def prior(c):
    c.send(0,PREFACE+SET)
    c.send(1,SET+h2f(4,1,0))
    c.send(0,h2f(4,1,0))
# A: push
w=W('h2_push.pcap'); c=TcpConv(w)
prior(c)
c.send(0,h2f(1,5,1,REQ))
c.send(1,h2f(5,4,1,struct.pack('!I',2)+REQ))
c.send(1,h2f(1,4,1,RESP)+h2f(0,1,1,b'hello'))
c.send(1,h2f(1,4,2,RESP)+h2f(0,1,2,b'pushed'))
c.fin(); w.close()
# A2: push where promised stream's response starts only after stream 1 is closed -> no overlap under RFC "open"
# same as A actually (stream1 closed before HEADERS on 2)
# B: sequential streams 1,3
w=W('h2_seq.pcap'); c=TcpConv(w)
prior(c)
for sid in (1,3,5):
    c.send(0,h2f(1,5,sid,REQ)); c.send(1,h2f(1,4,sid,RESP)+h2f(0,1,sid,b'x'))
c.fin(); w.close()
# C: concurrent streams 1,3
w=W('h2_conc.pcap'); c=TcpConv(w)
prior(c)
c.send(0,h2f(1,5,1,REQ)+h2f(1,5,3,REQ))
c.send(1,h2f(1,4,1,RESP)+h2f(0,1,1,b'x')+h2f(1,4,3,RESP)+h2f(0,1,3,b'y'))
c.fin(); w.close()
# D: padded push promise
w=W('h2_pushpad.pcap'); c=TcpConv(w)
prior(c)
c.send(0,h2f(1,5,1,REQ))
c.send(1,h2f(5,0xc,1,bytes([3])+struct.pack('!I',2)+REQ+b'\0\0\0'))
c.send(1,h2f(1,4,1,RESP)+h2f(0,1,1,b'hello'))
c.send(1,h2f(1,4,2,RESP)+h2f(0,1,2,b'pushed'))
c.fin(); w.close()
# E: h2c upgrade with push
w=W('h2c_upgrade_push.pcap'); c=TcpConv(w)
c.send(0,b'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n')
c.send(1,b'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'+SET)
c.send(0,PREFACE+SET)
c.send(1,h2f(4,1,0)); c.send(0,h2f(4,1,0))
c.send(1,h2f(5,4,1,struct.pack('!I',2)+REQ))
c.send(1,h2f(1,4,1,RESP)+h2f(0,1,1,b'hello'))
c.send(1,h2f(1,4,2,RESP)+h2f(0,1,2,b'pushed'))
c.fin(); w.close()
# F: h2c upgrade, no push, single stream 1 (implicit)
w=W('h2c_upgrade.pcap'); c=TcpConv(w)
c.send(0,b'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n')
c.send(1,b'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'+SET)
c.send(0,PREFACE+SET)
c.send(1,h2f(4,1,0)); c.send(0,h2f(4,1,0))
c.send(1,h2f(1,4,1,RESP)+h2f(0,1,1,b'hello'))
c.send(0,h2f(1,5,3,REQ))
c.send(1,h2f(1,4,3,RESP)+h2f(0,1,3,b'hello'))
c.fin(); w.close()
