import socket,sys,time
R=open(__file__.rsplit('/', 1)[0] + '/ch_real.bin','rb').read()
v=bytes.fromhex(sys.argv[1])
s=socket.create_connection(('10.77.0.2',4433)); s.sendall(b'\x16'+v+R[3:]); s.settimeout(1.5); d=b''
try:
    while True:
        x=s.recv(65536)
        if not x: break
        d+=x
except Exception: pass
s.close(); print(sys.argv[1], len(d), d[:11].hex())
