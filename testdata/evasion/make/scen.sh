#!/bin/bash
# usage: scen.sh NAME PORT PYTHON_SNIPPET_FILE
NAME=$1; PORT=$2; SNIP=$3
D=$(cd "$(dirname "$0")" && pwd); mkdir -p $D/recv/$NAME $D/caps; rm -f $D/recv/$NAME/*
ip netns exec evasion_s /usr/bin/python3 $D/server.py $PORT $D/recv/$NAME & SP=$!
ip netns exec evasion_s tcpdump -U -q -i evasion_vs -s 0 -w $D/caps/$NAME.pcap tcp port $PORT 2>/dev/null & TP=$!
sleep 0.8
ip netns exec evasion_c /usr/bin/python3 -c "
import sys; sys.path.insert(0,'$D'); from rawclient import run; DIR='$D'
DMAC='$(ip -n evasion_s link show evasion_vs | awk '/ether/{print $2}')'
exec(open('$SNIP').read())
"
sleep 1.5; kill $TP; sleep 0.3; kill $SP; wait $SP 2>/dev/null
ls -la $D/recv/$NAME/
