R=b'GET /index.html HTTP/1.1\r\nHost: real.example.com\r\nUser-Agent: curl/8.0\r\n\r\n'
F=R.replace(b'real',b'fake')
run(8080,[{'off':30,'data':F[30:50]},{'off':20,'data':R[20:]},{'off':0,'data':R[:20]}],dmac=DMAC)
