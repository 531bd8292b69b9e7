fake=b'GET /malware.exe HTTP/1.1\r\nHost: fake.example.com\r\nUser-Agent: innocent\r\n\r\n'
body=fake+b'A'*(50000-len(fake))
real=b'POST /upload HTTP/1.1\r\nHost: real.example.com\r\nUser-Agent: curl/8.0\r\nContent-Length: %d\r\n\r\n'%len(body)
N=len(real)
segs=[]
for i in range(0,len(body),1400): segs.append({'off':N+i,'data':body[i:i+1400],'sleep':0.003})
segs.append({'off':0,'data':real})
run(8080,segs,dmac=DMAC)
