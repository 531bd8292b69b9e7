from der import *
d=open('c_p521.der','rb').read()
subj=name([
 [('2.5.4.3',0x1e,'BMP名'.encode('utf-16-be'))],
 [('2.5.4.10',0x1c,'UNI'.encode('utf-32-be'))],
 [('2.5.4.11',0x14,b'T61 \xe9t\xe9')],
 [('2.5.4.7',0x0c,'Zürich'.encode())],
 [('1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18',0x0c,b'longoid')],
 [('2.5.4.3',0x0c,b'a'),('2.5.4.10',0x0c,b'b')],
 [('2.5.4.6',0x13,b'US')],[('2.5.4.8',0x0c,b'nul\x00after')],[('2.5.4.9',0x0c,b'tab\there')],
 [('1.3.6.1.4.1.311.60.2.1.3',0x13,b'DE')],[('2.5.4.97',0x0c,b'VATDE-123')],[('2.5.4.15',0x0c,b'Private Organization')],
 [('2.5.4.5',0x13,b'13th')],[('2.5.4.3',0x0c,b'14th')],
])
# validity: UTCTime without seconds, GeneralizedTime with fraction and offset
val=tlv(0x17,b'2601011230Z')+tlv(0x18,b'20501231235959.123Z')
open('c5.der','wb').write(rebuild(d,subject=subj,validity=val))
val2=tlv(0x17,b'260101123000+0100')+tlv(0x18,b'20501231235959')
open('c6.der','wb').write(rebuild(d,validity=val2))
val3=tlv(0x17,b'491231235959Z')+tlv(0x17,b'500101000000Z')
open('c7.der','wb').write(rebuild(d,validity=val3,serial=b'\x80'))
val4=tlv(0x18,b'19500101000000Z')+tlv(0x18,b'99991231235960Z')
open('c8.der','wb').write(rebuild(d,validity=val4,serial=b'\xff\x7f'))
