#!/bin/bash
# Same client port twice within seconds: 1st connection with window scaling on both sides, 2nd after the server turned window scaling off (SYN-ACK without WS); then a 3rd aborted by RST (SO_LINGER 0) and a 4th right after it
D=/work/hunt-covtcp/out/gen; name=reuse_ws
ip netns exec covB tcpdump -i covB0 -U -s 200 -w $D/$name.pcap tcp port 5070 2>/dev/null & TP=$!; sleep 1.5
ip netns exec covB timeout 30 python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('10.77.0.2',5070)); s.listen(5)
for i in range(4):
    c,_=s.accept(); n=0
    try:
        while True:
            d=c.recv(65536)
            if not d: break
            n+=len(d)
        c.sendall(b'y'*n); c.close()
    except Exception as e: print(e); c.close()
" & SP=$!; sleep 0.3
ip netns exec covA timeout 30 python3 -c "
import socket,time,struct,subprocess
def conn(big, abort=False):
    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); s.bind(('10.77.0.1',40070)); s.connect(('10.77.0.2',5070))
    s.sendall(b'x'*big)
    if abort:
        time.sleep(0.2); s.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0)); s.close(); return
    s.shutdown(socket.SHUT_WR); n=0
    while True:
        d=s.recv(65536)
        if not d: break
        n+=len(d)
    s.close(); print(n)
conn(300000); time.sleep(0.5)
subprocess.run(['ip','netns','exec','covB','sysctl','-q','-w','net.ipv4.tcp_window_scaling=0'])
conn(300000); time.sleep(0.5)
subprocess.run(['ip','netns','exec','covB','sysctl','-q','-w','net.ipv4.tcp_window_scaling=1'])
conn(100000, abort=True); conn(100000)
"
ip netns exec covB sysctl -q -w net.ipv4.tcp_window_scaling=1
wait $SP; sleep 1; kill -INT $TP; wait $TP 2>/dev/null; ls -la $D/$name.pcap
