# logs every accepted connection's received byte stream (hex) to OUTDIR/<port>-<n>.bin
import socket, sys, threading, os
port=int(sys.argv[1]); outdir=sys.argv[2]
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1); s.bind(('0.0.0.0',port)); s.listen(50)
n=0
def handle(c,i):
    data=b''
    c.settimeout(8)
    try:
        while True:
            d=c.recv(65536)
            if not d: break
            data+=d
    except Exception as e: pass
    open(os.path.join(outdir,f'{port}-{i}.bin'),'wb').write(data)
    c.close()
while True:
    c,a=s.accept(); n+=1
    threading.Thread(target=handle,args=(c,n),daemon=True).start()
