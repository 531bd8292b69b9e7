R=open(DIR + '/ch_real.bin','rb').read()
ch=[(i,R[i:i+4]) for i in range(0,len(R),4)]
odd=[c for k,c in enumerate(ch) if k%2==1]; even=[c for k,c in enumerate(ch) if k%2==0]
segs=[{'off':o,'data':d,'sleep':0.005} for o,d in odd]+[{'off':o,'data':d,'sleep':0.005} for o,d in even]
run(4431,segs,dmac=DMAC)
