R=b'GET /index.html HTTP/1.1\r\nHost: real.example.com\r\nUser-Agent: curl/8.0\r\n\r\n'
F=R.replace(b'real',b'fake')
# B [30,40) fake first, then A [20,30) (not coalesced: it goes before B), then D [25,45) real covering B, then the start
run(8081,[{'off':30,'data':F[30:40]},{'off':20,'data':R[20:30]},{'off':25,'data':R[25:45]},{'off':45,'data':R[45:]},{'off':0,'data':R[:20]}],dmac=DMAC)
