# new segment starting earlier covering the old fully: Linux removes the old one (merge_right)
R=open(DIR + '/ch_real.bin','rb').read(); F=open(DIR + '/ch_fake.bin','rb').read()
run(4431,[{'off':100,'data':F[100:300]},{'off':50,'data':R[50:340]},{'off':0,'data':R[:50]}],dmac=DMAC)
