from pcap import *
import struct
REQ=bytes([0x82,0x86,0x84,0x41,9])+b'localhost'
SET=h2f(4,0,0,struct.pack('!HI',3,100))
UP=b'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n'
R101=b'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'
# V1: response frames in 101 segment, before client preface
w=W('h2c_up_v1.pcap'); c=TcpConv(w)
c.send(0,UP); c.send(1,R101+h2f(4,0,0)+h2f(1,4,1,b'\x88')+h2f(0,1,1,b'hi'))
c.send(0,PREFACE+SET+h2f(4,1,0)); c.send(1,h2f(4,1,0))
c.send(0,h2f(1,5,3,REQ)); c.send(1,h2f(1,4,3,b'\x88')+h2f(0,1,3,b'hi')); c.fin(); w.close()
# V2: response frames after client preface
w=W('h2c_up_v2.pcap'); c=TcpConv(w)
c.send(0,UP); c.send(1,R101+h2f(4,0,0))
c.send(0,PREFACE+SET+h2f(4,1,0)); c.send(1,h2f(4,1,0))
c.send(1,h2f(1,4,1,b'\x88')+h2f(0,1,1,b'hi'))
c.send(0,h2f(1,5,3,REQ)); c.send(1,h2f(1,4,3,b'\x88')+h2f(0,1,3,b'hi')); c.fin(); w.close()
