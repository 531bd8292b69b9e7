R=open(DIR + '/ch_real.bin','rb').read(); F=open(DIR + '/ch_fake.bin','rb').read()
# after the real ClientHello: the fake one, then application-data-looking records (filler)
fill=b''
while len(fill)<50000: fill+=b'\x17\x03\x03\x03\xe8'+b'\x00'*1000
after=F+fill
N=len(R); segs=[]
for i in range(0,len(after),1400): segs.append({'off':N+i,'data':after[i:i+1400],'sleep':0.003})
segs.append({'off':0,'data':R})
run(4431,segs,dmac=DMAC)
