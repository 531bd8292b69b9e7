#!/bin/sh
# Real traffic on lo captured by tcpdump rotating its file every second (-G 1): one TCP connection that sends a
# line every 0.3 s for 3.6 s, and a UDP exchange every 0.7 s, so that both cross every file boundary.
# Files rot-EPOCH.pcap (tcpdump opens the next file at the first packet after each second), in time order by name.
# Run as root from this directory.
set -e
rm -f rot-*.pcap
tcpdump -Z root -U -q -i lo -s 0 -G 1 -w 'rot-%s.pcap' 'port 47011 or port 47012' & TP=$!
sleep 1
python3 - <<'PY'
import socket, threading, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 47011)); srv.listen(1)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 47012))
def serve():
    c, _ = srv.accept()
    while True:
        d = c.recv(100)
        if not d: break
        c.sendall(b"ok " + d)
    c.close()
def echo():
    for _ in range(6):
        d, a = udp.recvfrom(100); udp.sendto(b"re " + d, a)
threading.Thread(target=serve, daemon=True).start()
threading.Thread(target=echo, daemon=True).start()
cl = socket.create_connection(("127.0.0.1", 47011))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.time(); n = 0; m = 0
while time.time() - start < 3.6:
    cl.sendall(b"line %d\n" % n); cl.recv(100); n += 1
    if m < 6 and time.time() - start >= 0.7 * m:
        u.sendto(b"ping %d" % m, ("127.0.0.1", 47012)); u.recvfrom(100); m += 1
    time.sleep(0.3)
cl.close(); time.sleep(0.3)
PY
sleep 1.2
kill $TP; wait $TP 2>/dev/null || true
ls -la rot-*.pcap
