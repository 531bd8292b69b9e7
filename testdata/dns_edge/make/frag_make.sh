#!/bin/sh
# Real fragmented DNS over UDP: a responder (frag_responder.py) in one network namespace, dig in another, a veth
# pair of MTU 1500 between them; the responder's kernel fragments its answers (IPv4 and IPv6). Writes
# ../frag_udp.pcap (captured at the client). Run as root from this directory.
set -e
D=$(pwd)
ip netns del jjfa 2>/dev/null || true; ip netns del jjfb 2>/dev/null || true
ip netns add jjfa; ip netns add jjfb
ip link add jjva netns jjfa type veth peer name jjvb netns jjfb
ip -n jjfa addr add 10.77.0.1/24 dev jjva; ip -n jjfb addr add 10.77.0.2/24 dev jjvb
ip -n jjfa addr add fd77::1/64 dev jjva nodad; ip -n jjfb addr add fd77::2/64 dev jjvb nodad
ip -n jjfa link set jjva up mtu 1500; ip -n jjfb link set jjvb up mtu 1500
ip -n jjfa link set lo up; ip -n jjfb link set lo up
ip netns exec jjfa python3 $D/frag_responder.py 10.77.0.1 & R4=$!
ip netns exec jjfa python3 $D/frag_responder.py fd77::1 & R6=$!
ip netns exec jjfb tcpdump -Z root -U -q -i jjvb -s 0 -w $D/../frag_udp.pcap udp or ip6 2>/dev/null & TP=$!
sleep 1.5
ip netns exec jjfb dig @10.77.0.1 +bufsize=4096 +notcp +ignore +tries=1 big.test TXT >/dev/null
ip netns exec jjfb dig @10.77.0.1 +bufsize=4096 +notcp +ignore +tries=1 many.test A >/dev/null
ip netns exec jjfb dig @fd77::1 +bufsize=4096 +notcp +ignore +tries=1 many6.test AAAA >/dev/null
ip netns exec jjfb dig @fd77::1 +bufsize=4096 +notcp +ignore +tries=1 big6.test TXT >/dev/null
sleep 1
kill $TP; kill $R4 $R6; wait 2>/dev/null || true
ip netns del jjfa; ip netns del jjfb
