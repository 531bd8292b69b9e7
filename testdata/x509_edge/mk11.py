"""Certificates c11-c15: names OpenSSL 3.0 prints with X509_NAME_print_ex's RFC 2253 quoting (a CRL
distribution point's directory names), and names it cannot decode (a whole extension, or the certificate,
fails). Each extension's DER is written here and put in a certificate by `openssl req -x509` (run: python3
mk11.py; needs openssl)."""
import os
import subprocess
import tempfile


def tlv(tag, body):
    n = len(body)
    length = bytes([n]) if n < 128 else bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255])
    return bytes([tag]) + length + body


OIDS = {"CN": b"\x55\x04\x03", "O": b"\x55\x04\x0a", "OU": b"\x55\x04\x0b", "X": b"\x2a\x03\x04"}
U8 = 0x0C


def ava(oid, tag, val):
    return tlv(0x30, tlv(0x06, OIDS[oid]) + tlv(tag, val))


def name(rdns):
    return tlv(0x30, b"".join(tlv(0x31, b"".join(ava(*a) for a in rdn)) for rdn in rdns))


def dp_full(nm):
    return tlv(0x30, tlv(0xA0, tlv(0xA0, tlv(0xA4, nm))))


def dp_rel(avas):
    return tlv(0x30, tlv(0xA0, tlv(0xA1, b"".join(ava(*a) for a in avas))))


tmp = tempfile.mkdtemp()
key = os.path.join(tmp, "k.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
               check=True, capture_output=True)


def cert(out, ext_name, ext):
    cnf = os.path.join(tmp, "c.cnf")
    with open(cnf, "w") as f:
        f.write("[req]\ndistinguished_name=dn\nx509_extensions=ext\nprompt=no\n[dn]\nCN=t\n[ext]\n"
                f"{ext_name}=DER:{ext.hex()}\n")
    subprocess.run(["openssl", "req", "-x509", "-new", "-key", key, "-config", cnf, "-outform", "der", "-out",
                    out, "-days", "3650", "-set_serial", "11"], check=True)


dps = []
for c in range(128):  # every ASCII byte inside a value
    dps.append(dp_full(name([[("CN", U8, b"a" + bytes([c]) + b"b")]])))
for c in b' #"\\,+;<>=a\x00\x7f':  # first, last, alone
    for v in (bytes([c]) + b"b", b"a" + bytes([c]), bytes([c])):
        dps.append(dp_full(name([[("CN", U8, v)]])))
for v in (b"  two  ", b"", b"caf\xc3\xa9", b"\xf0\x9f\x98\x80 x", b"a\xf4\x8f\xbf\xbf"):
    dps.append(dp_full(name([[("CN", U8, v)]])))
dps.append(dp_full(name([[("CN", 0x14, bytes(range(0x80, 0x100)))]])))  # T61String, Latin-1 to UTF-8
dps.append(dp_full(name([[("CN", 0x16, b"lat\xe9, x")]])))
dps.append(dp_full(name([[("CN", 0x13, b"a b")]])))
dps.append(dp_full(name([[("CN", 0x12, b"12 34")]])))
for s in ("caf\u00e9", " a,b", "\u20ac", "\U0001F600", "\uffff"):
    b = s.encode("utf-16-be")
    dps.append(dp_full(name([[("CN", 0x1E, b) if len(b) == 2 * len(s) else ("CN", 0x1C, s.encode("utf-32-be"))]])))
    dps.append(dp_full(name([[("CN", 0x1C, s.encode("utf-32-be"))]])))
for tag, val in ((3, b"\x03\xaf"), (3, b"\x05"), (7, b"A,b"), (8, b"x"), (9, b""), (11, b"\x01\x02"), (13, b"x"),
                 (14, b"x"), (15, b"x"), (29, b"x")):  # types dumped as # and their DER
    dps.append(dp_full(name([[("CN", tag, val)]])))
dps.append(dp_full(name([[("CN", 0x30, tlv(0x02, b"\x05"))]])))
dps.append(dp_full(name([[("CN", 0x2C, tlv(0x04, b"ab") + tlv(0x0C, b",c"))]])))  # a constructed UTF8String
dps.append(dp_full(name([[("O", U8, b"a"), ("OU", U8, b"b, c")], [("CN", 0x13, b"x")], [("X", U8, b"v")]])))
dps.append(dp_full(tlv(0x30, b"")))
dps.append(dp_full(tlv(0x30, tlv(0x31, b"") + tlv(0x31, ava("CN", U8, b"x")))))
dps.append(dp_rel([("O", U8, b"a\xff,"), ("CN", U8, b" x"), ("OU", 0x1E, "\u00e9".encode("utf-16-be"))]))
cert("c11_dp_names.der", "crlDistributionPoints", tlv(0x30, b"".join(dps)))
# A UTF-8 surrogate: the name does not decode, nor the extension.
cert("c12_dp_bad_utf8.der", "crlDistributionPoints",
     tlv(0x30, dp_full(name([[("O", U8, b"ok"), ("CN", U8, b"a\xed\xa0\x80")]]))))
# A relative name whose second value UTF-8 cannot hold: OpenSSL's text stops after its "CN = ".
cert("c13_dp_relative_cut.der", "crlDistributionPoints",
     tlv(0x30, dp_rel([("O", U8, b"a+b"), ("CN", 0x1C, b"\x00\x11\x00\x00"), ("OU", U8, b"after")])))
# A BMP surrogate in a subject alternative name's directory name.
cert("c14_san_bad_bmp.der", "subjectAltName", tlv(0x30, tlv(0xA4, name([[("CN", 0x1E, b"\x00a\xd8\x00")]]))))
# A subject (and issuer) whose UTF8String is the byte ff: OpenSSL cannot read the certificate.
cert(os.path.join(tmp, "t.der"), "subjectKeyIdentifier", tlv(0x04, b"\x01"))
with open(os.path.join(tmp, "t.der"), "rb") as f:
    d = f.read()
with open("c15_subject_bad_utf8.der", "wb") as f:
    f.write(d.replace(b"\x0c\x01t", b"\x0c\x01\xff"))
