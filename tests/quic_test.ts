import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import {
  CryptoMessage,
  CryptoReassembler,
  deriveInitialKeys,
  isKnownQuicVersion,
  PacketType,
  parseChlo,
  parseLongHeader,
  QUIC_MAX_CRYPTO_BUFFER,
  QUIC_V1,
  QUIC_V2,
  QuicFlowAnalyzer,
  QuicHeader,
  quicVersionString,
} from "../lib/protocols/quic.ts";
import { quicExtractor } from "../extractors/quic.ts";
import { ja3sHash, parseServerHello } from "../lib/protocols/tls.ts";
import { extractFlows } from "../mod.ts";
import type { FeatureExtractor, FlowRecord } from "../lib/extractor.ts";
import type { PacketView } from "../lib/packet.ts";
import {
  CAPTURES_URL,
  collect,
  concat,
  EXPECTED_URL,
  HAVE_TSHARK,
  hex,
  toHex,
  tsharkFields,
  tsharkRows,
} from "./helpers.ts";

const CAPTURES = CAPTURES_URL;
const EXPECTED = EXPECTED_URL;

function varint(v: number): number[] {
  if (v < 64) return [v];
  if (v < 16384) return [0x40 | (v >> 8), v & 0xff];
  return [0x80 | (v >>> 24), (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function cryptoFrame(offset: number, data: Uint8Array): Uint8Array {
  return concat([0x06], varint(offset), varint(data.length), data);
}

/** A fake ClientHello handshake message (type 1) whose body contains `marker`. */
function fakeClientHello(marker: string, bodyLen: number): Uint8Array {
  const body = new Uint8Array(bodyLen);
  for (let i = 0; i < bodyLen; i++) body[i] = (i * 7 + 3) & 0xff;
  body.set(new TextEncoder().encode(marker), 10);
  return concat([1, bodyLen >> 16, (bodyLen >> 8) & 0xff, bodyLen & 0xff], body);
}

interface ProtectOptions {
  version: number;
  dcid: Uint8Array;
  scid?: Uint8Array;
  pn: number;
  pnLen?: number;
  payload: Uint8Array;
  token?: Uint8Array;
  server?: boolean;
  /** Keys from this DCID instead of `dcid` (after a Retry the client keeps the new DCID's keys). */
  keyDcid?: Uint8Array;
}

/** Builds a protected Initial packet (the sender's side of RFC 9001 section 5), for tests only. */
function protectInitial(o: ProtectOptions): Uint8Array {
  const pnLen = o.pnLen ?? 2;
  const scid = o.scid ?? new Uint8Array(0);
  const token = o.token ?? new Uint8Array(0);
  const kd = o.keyDcid ?? o.dcid;
  const keys = deriveInitialKeys(o.version, kd, 0, kd.length, o.server ?? false);
  assert.ok(keys);
  const typeBits = o.version === QUIC_V2 ? 1 : 0;
  const length = pnLen + o.payload.length + 16;
  const pnBytes: number[] = [];
  for (let i = pnLen - 1; i >= 0; i--) pnBytes.push(Math.floor(o.pn / 2 ** (8 * i)) & 0xff);
  const header = concat(
    [0xc0 | (typeBits << 4) | (pnLen - 1)],
    [(o.version >>> 24) & 0xff, (o.version >>> 16) & 0xff, (o.version >>> 8) & 0xff, o.version & 0xff],
    [o.dcid.length],
    o.dcid,
    [scid.length],
    scid,
    varint(token.length),
    token,
    [0x40 | (length >> 8), length & 0xff],
    pnBytes,
  );
  const nonce = keys.iv.slice();
  for (let i = 0; i < 8; i++) nonce[11 - i] ^= Math.floor(o.pn / 2 ** (8 * i)) & 0xff;
  const c = createCipheriv("aes-128-gcm", keys.key, nonce);
  c.setAAD(header);
  const ct = concat(c.update(o.payload), c.final(), c.getAuthTag());
  const pkt = concat(header, ct);
  const pnOff = header.length - pnLen;
  const ecb = createCipheriv("aes-128-ecb", keys.hp, null);
  ecb.setAutoPadding(false);
  const mask = ecb.update(pkt.subarray(pnOff + 4, pnOff + 20));
  pkt[0] ^= mask[0] & 0x0f;
  for (let i = 0; i < pnLen; i++) pkt[pnOff + i] ^= mask[1 + i];
  return pkt;
}

function pad(pkt: Uint8Array, size = 1200): Uint8Array {
  return pkt.length >= size ? pkt : concat(pkt, new Uint8Array(size - pkt.length));
}

// ------------------------------------------------------------------------------------------------------------
// Key schedule and header protection: RFC 9001 appendix A and RFC 9369 appendix A.

const RFC_DCID = hex("8394c8f03e515708");

Deno.test("quic: RFC 9001 A.1 initial keys (v1)", () => {
  const c = deriveInitialKeys(QUIC_V1, RFC_DCID, 0, 8)!;
  assert.equal(toHex(c.key), "1f369613dd76d5467730efcbe3b1a22d");
  assert.equal(toHex(c.iv), "fa044b2f42a3fd3b46fb255c");
  assert.equal(toHex(c.hp), "9f50449e04a0e810283a1e9933adedd2");
  const s = deriveInitialKeys(QUIC_V1, RFC_DCID, 0, 8, true)!;
  assert.equal(toHex(s.key), "cf3a5331653c364c88f0f379b6067e37");
  assert.equal(toHex(s.iv), "0ac1493ca1905853b0bba03e");
  assert.equal(toHex(s.hp), "c206b8d9b9f0f37644430b490eeaa314");
});

Deno.test("quic: RFC 9369 A.1 initial keys (v2)", () => {
  const c = deriveInitialKeys(QUIC_V2, RFC_DCID, 0, 8)!;
  assert.equal(toHex(c.key), "8b1a0bc121284290a29e0971b5cd045d");
  assert.equal(toHex(c.iv), "91f73e2351d8fa91660e909f");
  assert.equal(toHex(c.hp), "45b95e15235d6f45a6b19cbcb0294ba9");
});

Deno.test("quic: RFC header protection masks (v1 A.2, v2 A.2)", () => {
  for (
    const [v, sample, mask] of [
      [QUIC_V1, "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"],
      [QUIC_V2, "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80"],
    ] as const
  ) {
    const k = deriveInitialKeys(v, RFC_DCID, 0, 8)!;
    const ecb = createCipheriv("aes-128-ecb", k.hp, null);
    ecb.setAutoPadding(false);
    assert.equal(toHex(ecb.update(hex(sample))).slice(0, 10), mask);
  }
});

Deno.test("quic: salts of drafts and Google versions, none for unknown ones", () => {
  const d = hex("0102030405060708");
  for (
    const v of [
      0xff000016,
      0xff00001b,
      0xff00001c,
      0xff00001d,
      0xff000020,
      0xff000022,
      0x51303530,
      0x54303531,
    ]
  ) {
    assert.ok(deriveInitialKeys(v, d, 0, 8), v.toString(16));
  }
  // drafts 23-28 share a salt, 29-32 another: keys differ across the boundary
  const k28 = deriveInitialKeys(0xff00001c, d, 0, 8)!;
  const k27 = deriveInitialKeys(0xff00001b, d, 0, 8)!;
  const k29 = deriveInitialKeys(0xff00001d, d, 0, 8)!;
  const k32 = deriveInitialKeys(0xff000020, d, 0, 8)!;
  assert.deepEqual(k27.key, k28.key);
  assert.deepEqual(k29.key, k32.key);
  assert.notDeepEqual(k28.key, k29.key);
  assert.equal(deriveInitialKeys(0x12345678, d, 0, 8), null);
  assert.equal(deriveInitialKeys(0xff000014, d, 0, 8), null);
  assert.equal(deriveInitialKeys(QUIC_V1, d, 4, 8), null);
});

Deno.test("quic: version names", () => {
  assert.equal(quicVersionString(1), "v1");
  assert.equal(quicVersionString(0x6b3343cf), "v2");
  assert.equal(quicVersionString(0xff00001d), "draft-29");
  assert.equal(quicVersionString(0xff00001c), "draft-28");
  assert.equal(quicVersionString(0x51303436), "Q046");
  assert.equal(quicVersionString(0x54303531), "T051");
  assert.equal(quicVersionString(0xfaceb002), "mvfst-27");
  assert.equal(quicVersionString(0), "negotiation");
  assert.equal(quicVersionString(0x1a2a3a4a), "grease");
  assert.equal(quicVersionString(0x12345678), "0x12345678");
  assert.ok(isKnownQuicVersion(0xff00001d) && isKnownQuicVersion(0x51303234) && !isKnownQuicVersion(0));
});

// ------------------------------------------------------------------------------------------------------------
// Headers

Deno.test("quic: long header types (v1 and v2 type bits), retry, version negotiation, truncation", () => {
  const h = new QuicHeader();
  const mk = (b0: number, v: number, rest: number[]) =>
    new Uint8Array([b0, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff, ...rest]);
  // v1 Handshake: type bits 2
  assert.ok(parseLongHeader(mk(0xe0, 1, [1, 0xaa, 0, 2, 0, 0]), 0, 11, h));
  assert.equal(h.type, PacketType.HANDSHAKE);
  assert.equal(h.end, 11);
  // v2: bits 1 = Initial, 2 = 0-RTT, 3 = Handshake, 0 = Retry
  const v2 = (bits: number) => {
    const rest = bits === 1 ? [0, 0, 0, 1, 0] : bits === 0 ? [0, 0, ...new Array(20).fill(0)] : [0, 0, 1, 0];
    const p = mk(0xc0 | (bits << 4), QUIC_V2, rest);
    assert.ok(parseLongHeader(p, 0, p.length, h));
    return h.type;
  };
  assert.equal(v2(1), PacketType.INITIAL);
  assert.equal(v2(2), PacketType.ZERO_RTT);
  assert.equal(v2(3), PacketType.HANDSHAKE);
  assert.equal(v2(0), PacketType.RETRY);
  // Retry: token then a 16-byte integrity tag
  const retry = mk(0xf0, 1, [0, 0, 1, 2, 3, ...new Array(16).fill(9)]);
  assert.ok(parseLongHeader(retry, 0, retry.length, h));
  assert.equal(h.type, PacketType.RETRY);
  assert.equal(h.tokenLen, 3);
  // Version negotiation
  const vn = mk(0x80, 0, [1, 5, 0, 0, 0, 0, 1]);
  assert.ok(parseLongHeader(vn, 0, vn.length, h));
  assert.equal(h.type, PacketType.VERSION_NEGOTIATION);
  // Length past the end: truncated, not rejected
  const tr = mk(0xc0, 1, [0, 0, 0, 0x40, 0x80, 1, 2]);
  assert.ok(parseLongHeader(tr, 0, tr.length, h));
  assert.ok(h.truncated);
  // Connection ID longer than 20 for a known version; short buffers; short header
  assert.equal(parseLongHeader(mk(0xc0, 1, [21, ...new Array(30).fill(0)]), 0, 36, h), false);
  assert.equal(parseLongHeader(new Uint8Array([0xc0, 0, 0]), 0, 3, h), false);
  assert.equal(parseLongHeader(new Uint8Array([0x40, 0, 0, 0, 1, 0, 0, 0]), 0, 8, h), false);
  // Unknown version: invariants only
  const unk = mk(0xc0, 0x12345678, [30, ...new Array(30).fill(1), 0, 9, 9]);
  assert.ok(parseLongHeader(unk, 0, unk.length, h));
  assert.equal(h.type, PacketType.UNKNOWN);
  assert.equal(h.dcidLen, 30);
});

// ------------------------------------------------------------------------------------------------------------
// CRYPTO reassembly

Deno.test("quic: CRYPTO reassembly out of order, overlapping, bounded", () => {
  const ch = fakeClientHello("reassembly.test", 3000);
  const r = new CryptoReassembler(CryptoMessage.TLS);
  r.add(ch, 2000, ch.length - 2000, 2000);
  r.add(ch, 500, 1000, 500);
  assert.equal(r.message(), null);
  r.add(ch, 1400, 700, 1400); // overlaps both neighbours
  assert.equal(r.contiguous(), 0);
  r.add(ch, 0, 600, 0);
  assert.deepEqual(r.message(), ch);
  // Not a ClientHello
  const bad = new CryptoReassembler(CryptoMessage.TLS);
  bad.add(new Uint8Array([2, 0, 0, 1, 0]), 0, 5, 0);
  assert.equal(bad.message(), null);
  assert.ok(bad.failed);
  // Longer than the buffer bound
  const big = new CryptoReassembler(CryptoMessage.TLS);
  big.add(new Uint8Array([1, 0x01, 0x00, 0x00]), 0, 4, 0);
  assert.equal(big.message(), null);
  assert.ok(big.failed);
  // Data beyond the bound is ignored, never stored
  const far = new CryptoReassembler(CryptoMessage.TLS);
  far.add(new Uint8Array(100), 0, 100, QUIC_MAX_CRYPTO_BUFFER + 5);
  assert.equal(far.contiguous(), 0);
  assert.equal(far.peek(), null);
  // A frame far from offset 0 costs its own length, not its offset (a review's flood: one 1,000-byte CRYPTO
  // frame at 63,000 per Initial held 64 KiB, 1.35 GB for 10,000 flows of 25 MB)
  const lone = new CryptoReassembler(CryptoMessage.TLS);
  lone.add(new Uint8Array(1000), 0, 1000, 63000);
  assert.ok(lone.capacity <= 2048, `capacity ${lone.capacity}`);
  assert.equal(lone.contiguous(), 0);
  // Too many holes
  const holes = new CryptoReassembler(CryptoMessage.TLS);
  for (let i = 0; i < 200; i++) holes.add(new Uint8Array(1), 0, 1, 10 + 2 * i);
  assert.ok(holes.failed);
});

// ------------------------------------------------------------------------------------------------------------
// Analyzer on synthetic packets

Deno.test("quic: ClientHello across packets, frames out of order, coalesced with 0-RTT, then short headers", () => {
  const dcid = hex("0011223344556677");
  const scid = hex("a1a2a3a4");
  const ch = fakeClientHello("split.example", 1500);
  const p1 = protectInitial({
    version: QUIC_V1,
    dcid,
    scid,
    pn: 0,
    pnLen: 4,
    payload: concat(
      [1],
      cryptoFrame(1000, ch.subarray(1000)),
      [0, 0, 0],
      cryptoFrame(0, ch.subarray(0, 400)),
    ),
  });
  const zeroRtt = concat([0xd0, 0, 0, 0, 1, 8], dcid, [4], scid, [0x40, 20], new Uint8Array(20));
  const p2 = protectInitial({
    version: QUIC_V1,
    dcid,
    scid,
    pn: 1,
    payload: concat([2, 0, 0, 0, 0], cryptoFrame(400, ch.subarray(400, 1000)), new Uint8Array(30)),
  });
  const a = new QuicFlowAnalyzer();
  const d1 = concat(p1, zeroRtt);
  a.onDatagram(0, d1, 0, d1.length);
  assert.equal(a.clientHello, null);
  assert.equal(a.done, false);
  const d2 = pad(p2);
  a.onDatagram(0, d2, 0, d2.length);
  assert.deepEqual(a.clientHello, ch);
  assert.equal(a.done, false); // the server's Initial is still awaited
  // The server's Initial (server keys from the client's DCID), ServerHello split over two CRYPTO frames.
  const sh = concat([2, 0, 0, 90], new Uint8Array(90).fill(0x5a));
  const sp = protectInitial({
    version: QUIC_V1,
    dcid: scid,
    scid: hex("b1b2b3b4b5"),
    keyDcid: dcid,
    server: true,
    pn: 0,
    payload: concat([2, 0, 0, 0, 0], cryptoFrame(50, sh.subarray(50)), cryptoFrame(0, sh.subarray(0, 50))),
  });
  a.onDatagram(1, sp, 0, sp.length);
  assert.deepEqual(a.serverHello, sh);
  assert.equal(a.decryptedServerInitials, 1);
  assert.ok(a.done);
  assert.equal(a.version, QUIC_V1);
  assert.equal(a.dcidLen, 8);
  assert.equal(a.scidLen, 4);
  assert.equal(a.pnLength, 4);
  assert.equal(a.initialPackets, 3);
  assert.equal(a.zeroRttPackets, 1);
  assert.equal(a.decryptedInitials, 2);
  assert.equal(a.clientDir, 0);
  assert.ok((a.frameTypes & (1 << 6)) !== 0 && (a.frameTypes & (1 << 2)) !== 0);
  // steady state: short headers only cost a byte test
  a.onDatagram(1, new Uint8Array([0x40, 1, 2, 3]), 0, 4);
  a.onDatagram(0, new Uint8Array([0x60, 1, 2, 3]), 0, 4);
  assert.equal(a.shortPackets, 2);
  assert.equal(a.spinSetPackets, 1);
  // later long headers are still counted
  a.onDatagram(0, d2, 0, d2.length);
  assert.equal(a.initialPackets, 4);
  // A short-header packet coalesced after a long one counts even with its fixed bit greased to 0 (RFC 9287);
  // zero bytes after a long one are padding.
  const greased = concat(p2, [0x20, 1, 2, 3]), padded = concat(p2, [0, 0, 0, 0]);
  a.onDatagram(0, greased, 0, greased.length);
  assert.equal(a.shortPackets, 3);
  assert.equal(a.spinSetPackets, 2);
  a.onDatagram(0, padded, 0, padded.length);
  assert.equal(a.shortPackets, 3);
});

Deno.test("quic: v2 and draft-29 Initial decryption, server Initial not taken for the client's", () => {
  for (const version of [QUIC_V2, 0xff00001d, 0xff00001c, 0x54303531]) {
    const dcid = hex("0102030405060708090a");
    const ch = fakeClientHello("v.example", 200);
    const a = new QuicFlowAnalyzer();
    // A server Initial first (capture started late): server keys, must not be mistaken for the client's.
    const srv = pad(
      protectInitial({
        version,
        dcid: hex("cafe"),
        pn: 0,
        server: true,
        keyDcid: dcid,
        payload: concat(cryptoFrame(0, concat([2, 0, 0, 4], [3, 3, 3, 3]))),
      }),
    );
    a.onDatagram(1, srv, 0, srv.length);
    assert.equal(a.clientHello, null, version.toString(16));
    let cl: Uint8Array;
    if (version === 0x54303531) {
      // T051 carries the ClientHello in Google CRYPTO frames (type 0x08)
      cl = protectInitial({ version, dcid, pn: 1, payload: concat([0x08, 0], varint(ch.length), ch) });
    } else {
      cl = protectInitial({ version, dcid, pn: 1, payload: cryptoFrame(0, ch) });
    }
    const d = pad(cl);
    a.onDatagram(0, d, 0, d.length);
    assert.deepEqual(a.clientHello, ch, version.toString(16));
    assert.equal(a.clientDir, 0);
  }
});

Deno.test("quic: after a Retry the client's Initial keys come from the new DCID", () => {
  const odcid = hex("1111111111111111");
  const ndcid = hex("2222222222222222");
  const ch = fakeClientHello("retry.example", 100);
  const a = new QuicFlowAnalyzer();
  // First Initial carries only PING (its CRYPTO frame lost), then a Retry, then the ClientHello.
  const first = pad(
    protectInitial({ version: QUIC_V1, dcid: odcid, pn: 0, payload: concat([1], new Uint8Array(10)) }),
  );
  a.onDatagram(0, first, 0, first.length);
  const retry = concat([0xf0, 0, 0, 0, 1, 0, 8], ndcid, [5, 6, 7], new Uint8Array(16));
  a.onDatagram(1, retry, 0, retry.length);
  const second = pad(protectInitial({ version: QUIC_V1, dcid: ndcid, pn: 1, payload: cryptoFrame(0, ch) }));
  a.onDatagram(0, second, 0, second.length);
  assert.deepEqual(a.clientHello, ch);
  assert.equal(a.retryPackets, 1);
  assert.equal(a.dcidLen, 8);
});

Deno.test("quic: Google QUIC CHLO (Q043 public header, Q046 long header)", () => {
  const chlo = concat(
    new TextEncoder().encode("CHLO"),
    [3, 0, 0, 0],
    new TextEncoder().encode("PAD\0"),
    [4, 0, 0, 0],
    new TextEncoder().encode("SNI\0"),
    [16, 0, 0, 0],
    new TextEncoder().encode("UAID"),
    [19, 0, 0, 0],
    new TextEncoder().encode("----www.test.com"),
    new TextEncoder().encode("Chr"),
  );
  const info = parseChlo(chlo, 0, chlo.length)!;
  assert.equal(info.sni, "www.test.com");
  assert.equal(info.uaid, "Chr");
  assert.deepEqual(info.tags, ["PAD", "SNI", "UAID"]);
  assert.equal(parseChlo(chlo, 0, 20)?.sni, null);
  assert.equal(parseChlo(new Uint8Array(3), 0, 3), null);
  // Q043: flags 0x09, CID, version, pn(1), 12-byte hash, STREAM frame 0xa0 sid 1, big-endian length
  const q043 = concat(
    [0x09, 1, 2, 3, 4, 5, 6, 7, 8],
    new TextEncoder().encode("Q043"),
    [1],
    new Uint8Array(12),
    [0xa0, 1, chlo.length >> 8, chlo.length & 0xff],
    chlo,
  );
  const a = new QuicFlowAnalyzer();
  a.onDatagram(0, q043, 0, q043.length);
  assert.ok(a.detected && a.gquic);
  assert.equal(quicVersionString(a.version!), "Q043");
  assert.equal(a.chlo?.sni, "www.test.com");
  assert.ok(a.done);
  // Q046: 0xc3, version, 0x50, DCID(8), pn(4), hash(12), frames
  const q046 = concat(
    [0xc3],
    new TextEncoder().encode("Q046"),
    [0x50, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1],
    new Uint8Array(12),
    [0xa0, 1, chlo.length >> 8, chlo.length & 0xff],
    chlo,
  );
  const b = new QuicFlowAnalyzer();
  b.onDatagram(0, q046, 0, q046.length);
  assert.equal(b.version, 0x51303436);
  assert.equal(b.dcidLen, 8);
  assert.equal(b.pnLength, 4);
  assert.equal(b.initialPackets, 1);
  assert.equal(b.chlo?.sni, "www.test.com");
});

Deno.test("quic: non-QUIC datagrams are given up quickly", () => {
  const a = new QuicFlowAnalyzer();
  const dns = hex("abcd01000001000000000000076578616d706c6503636f6d0000010001");
  for (let i = 0; i < 8; i++) a.onDatagram(i & 1, dns, 0, dns.length);
  assert.equal(a.detected, false);
  assert.ok(a.done);
  const b = new QuicFlowAnalyzer();
  b.onDatagram(0, new Uint8Array(0), 0, 0);
  b.onDatagram(0, dns, 5, 1000);
  b.onDatagram(0, dns, -1, 4);
  assert.equal(b.detected, false);
});

// ------------------------------------------------------------------------------------------------------------
// Real captures through the pipeline

type Key = string;

function canon(proto: unknown, ipA: unknown, portA: unknown, ipB: unknown, portB: unknown): Key {
  const a = `${String(ipA).toLowerCase()}|${portA}`;
  const b = `${String(ipB).toLowerCase()}|${portB}`;
  return `${proto}|` + (a <= b ? `${a}|${b}` : `${b}|${a}`);
}

function keyOf(r: FlowRecord): Key {
  return canon(r.protocol, r.src_ip, r.src_port, r.dst_ip, r.dst_port);
}

interface Expected {
  key: [number, string, number, string, number];
  sni?: string[];
  ja3?: string[];
  ja3s?: string[];
  alpn?: string[];
  quic_version?: string[];
}

function expKey(e: Expected): Key {
  return canon(...e.key);
}

function readExpected(name: string): Expected[] {
  return Deno.readTextFileSync(new URL(name + ".jsonl", EXPECTED)).split("\n").filter((l) => l.trim()).map((
    l,
  ) => JSON.parse(l));
}

/** A test-only group that keeps its own analyzer per flow to expose the reassembled ClientHello. */
interface TapState {
  a: QuicFlowAnalyzer;
  datagrams: Uint8Array[];
}
const TAP_KEEP = 8;
const tapped: Uint8Array[][] = [];
const tapExtractor: FeatureExtractor<TapState> = {
  name: "quic_test_tap",
  features: [
    { name: "t_quic_ch", type: "str", description: "Reassembled ClientHello (hex)." },
    { name: "t_quic_sh", type: "str", description: "Reassembled ServerHello (hex)." },
  ],
  init: () => ({ a: new QuicFlowAnalyzer(), datagrams: [] }),
  update: (s: TapState, p: PacketView, _f, dir) => {
    if (p.proto !== 17 || p.payloadCapLen <= 0) return;
    if (s.datagrams.length < TAP_KEEP) {
      s.datagrams.push(p.buf.slice(p.payloadOff, p.payloadOff + p.payloadCapLen));
    }
    s.a.onDatagram(dir, p.buf, p.payloadOff, p.payloadCapLen);
  },
  finish: (s: TapState, _f, out: FlowRecord) => {
    out.t_quic_ch = s.a.clientHello === null ? null : toHex(s.a.clientHello);
    out.t_quic_sh = s.a.serverHello === null ? null : toHex(s.a.serverHello);
    if (s.a.detected) tapped.push(s.datagrams);
  },
};

async function run(name: string): Promise<Map<Key, FlowRecord>> {
  const out = new Map<Key, FlowRecord>();
  const path = new URL(name, CAPTURES).pathname;
  for await (
    const r of extractFlows(path, {
      features: ["quic"],
      extractors: [tapExtractor as FeatureExtractor<unknown>],
    })
  ) {
    out.set(keyOf(r), r);
  }
  return out;
}

const QUIC_CAPTURES = [
  "quic.pcap",
  "quic-29.pcap",
  "quic-v2.pcapng",
  "quic_0RTT.pcap",
  "quic-with-several-tls-frames.pcapng",
  "quic_frags_ch_in_multiple_packets.pcapng",
  "quic-tls-handshake.pcapng",
  "chrome-cloudflare-quic-with-secrets.pcapng",
  "youtube_quic.pcap",
  "https3-301-get.pcap",
  "dlt_ppp.pcap",
  "ssh2.pcapng",
  "tls-handshake.pcapng",
  "tls-sni.pcapng",
  "tls3.pcapng",
];

const hasCaptures = (() => {
  try {
    return Deno.statSync(new URL("quic.pcap", CAPTURES)).isFile;
  } catch {
    return false;
  }
})();

/** Google QUIC SNIs by client port, as tshark's gquic.tag.sni shows them. */
const GQUIC_SNI: Record<string, Record<number, string>> = {
  "quic.pcap": {
    34438: "www.youtube.com",
    35236: "www.youtube.com",
    40030: "fonts.gstatic.com",
    45669: "www.google.com",
    48445: "i.ytimg.com",
    53817: "yt3.ggpht.com",
    55934: "s.ytimg.com",
    57833: "mail.google.com",
  },
  "youtube_quic.pcap": {
    53859: "googleads.g.doubleclick.net",
    54997: "pagead2.googlesyndication.com",
    56074: "yt3.ggpht.com",
  },
};

Deno.test({
  name: "quic: real captures: versions, SNIs, ClientHello bytes per 5-tuple",
  ignore: !hasCaptures,
  fn: async () => {
    let quicFlows = 0, chChecked = 0, shChecked = 0;
    for (const name of QUIC_CAPTURES) {
      const got = await run(name);
      for (const e of readExpected(name)) {
        const r = got.get(expKey(e));
        assert.ok(r, `${name} ${e.key}: no record`);
        if (e.quic_version) {
          quicFlows++;
          assert.equal(r.quic_detected, true, `${name} ${e.key}`);
          const want = e.quic_version.map((v) => parseInt(v, 16));
          assert.ok(want.includes(r.quic_version as number), `${name} ${e.key}: version ${r.quic_version}`);
          assert.equal(r.quic_version_str, `QUIC ${quicVersionString(r.quic_version as number)}`);
          assert.equal(typeof r.quic_initial_packets, "number");
          const ch = r.t_quic_ch as string | null;
          assert.ok(ch !== null, `${name} ${e.key}: no ClientHello`);
          // A whole handshake message: type 1 and exactly the announced length.
          assert.equal(ch.slice(0, 2), "01");
          assert.equal(ch.length / 2, 4 + parseInt(ch.slice(2, 8), 16));
          for (const sni of e.sni ?? []) assert.ok(ch.includes(toHex(new TextEncoder().encode(sni))), sni);
          for (const alpn of e.alpn ?? []) {
            assert.ok(ch.includes(toHex(new TextEncoder().encode(alpn))), alpn);
          }
          chChecked++;
          // ClientHello columns, as tshark reads them
          if (e.sni) assert.ok(e.sni.includes(r.quic_sni as string), `${name} ${e.key}: sni ${r.quic_sni}`);
          else assert.equal(r.quic_sni, null);
          if (e.ja3) {
            assert.ok(e.ja3.includes(r.quic_ja3_hash as string), `${name} ${e.key}: ja3 ${r.quic_ja3_hash}`);
          }
          assert.match(r.quic_ja3_string as string, /^\d+,[\d-]*,[\d-]*,[\d-]*,[\d-]*$/);
          if (e.alpn) {
            assert.ok(e.alpn.includes(r.quic_alpn as string), `${name} ${e.key}: alpn ${r.quic_alpn}`);
            assert.deepEqual([...new Set(r.quic_alpn_offered as string[])].sort(), [...e.alpn].sort());
          }
          assert.match(r.quic_ja4 as string, /^q[0-9a-z]{2}[di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/);
          assert.equal((r.quic_ja4_r as string).slice(0, 10), (r.quic_ja4 as string).slice(0, 10));
          // ServerHello from the decrypted server Initial: JA3S as tshark computes it
          if (e.ja3s) {
            const sh = r.t_quic_sh as string | null;
            assert.ok(sh !== null, `${name} ${e.key}: no ServerHello`);
            const info = parseServerHello(hex(sh), 0, sh.length / 2);
            assert.ok(info);
            assert.ok(e.ja3s.includes(ja3sHash(info)), `${name} ${e.key}: ja3s`);
            shChecked++;
          }
        } else if (e.key[0] === 17 && !GQUIC_SNI[name]) {
          assert.equal(r.quic_detected, false, `${name} ${e.key}: not QUIC for tshark`);
        }
        if (e.key[0] !== 17) assert.equal(r.quic_detected, false);
      }
      for (const [port, sni] of Object.entries(GQUIC_SNI[name] ?? {})) {
        const rs = [...got.values()].filter((r) =>
          r.src_port === Number(port) || r.dst_port === Number(port)
        );
        assert.equal(rs.length, 1);
        assert.equal(rs[0].quic_detected, true);
        assert.equal(rs[0].quic_sni, sni, `${name} ${port}`);
        assert.match(rs[0].quic_version_str as string, /^gQUIC Q0\d\d$/);
        assert.equal(rs[0].quic_dcid_len, 8);
      }
    }
    assert.equal(quicFlows, 57);
    assert.equal(chChecked, 57);
    assert.equal(shChecked, 34);
  },
});

Deno.test({
  name: "quic: real captures: per-flow header columns",
  ignore: !hasCaptures,
  fn: async () => {
    const q29 = [...(await run("quic-29.pcap")).values()].find((r) => r.protocol === 17)!;
    assert.equal(q29.quic_version_str, "QUIC draft-29");
    assert.equal(q29.quic_dcid_len, 18);
    assert.equal(q29.quic_scid_len, 17);
    assert.equal(q29.quic_pn_length, 1);
    assert.equal(q29.quic_initial_packets, 6);
    assert.equal(q29.quic_retry_detected, true);
    assert.equal(q29.quic_0rtt_detected, false);
    assert.equal(q29.quic_spin_bit, false);
    const v2 = [...(await run("quic-v2.pcapng")).values()][0];
    assert.equal(v2.quic_version_str, "QUIC v2");
    assert.equal(v2.quic_pn_length, 4);
    assert.equal(v2.quic_initial_packets, 2);
    assert.equal(v2.quic_0rtt_detected, true);
    assert.equal(v2.quic_retry_detected, false);
    assert.equal(v2.quic_spin_bit, true);
    const cf = [...(await run("chrome-cloudflare-quic-with-secrets.pcapng")).values()].find((r) =>
      r.protocol === 17 && r.quic_detected
    )!;
    assert.equal(cf.quic_initial_packets, 3);
    assert.equal(cf.quic_dcid_len, 8);
    assert.equal(cf.quic_scid_len, 0);
  },
});

// ------------------------------------------------------------------------------------------------------------
// Fuzzing: mutated real and synthetic Initial packets never throw.

/** xorshift32, seeded, so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b: Uint8Array = src.slice();
  const kind = Math.floor(r() * 6);
  const n = 1 + Math.floor(r() * 8);
  for (let i = 0; i < n && b.length > 0; i++) {
    const at = Math.floor(r() * b.length);
    if (kind === 0) b[at] ^= 1 << Math.floor(r() * 8);
    else if (kind === 1) b[at] = Math.floor(r() * 256);
    else if (kind === 2) b = b.slice(0, at);
    else if (kind === 3) b[Math.min(at, 64) % b.length] = [0, 0xff, 0x3f, 0x40, 0x80, 0xc0, 20, 21][i & 7];
    else if (kind === 4) {
      b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 40))));
    } else b = concat(b.subarray(0, at), b.subarray(at, Math.min(b.length, at + 100)), b.subarray(at));
  }
  return b;
}

Deno.test({
  name: "quic: fuzz: mutated real datagrams never throw",
  ignore: !hasCaptures,
  fn: async () => {
    tapped.length = 0;
    for (const name of QUIC_CAPTURES) await run(name);
    assert.ok(tapped.length > 20);
    const r = rng(0x51c0ffee);
    let fed = 0;
    for (let round = 0; round < 30; round++) {
      for (const flow of tapped) {
        const a = new QuicFlowAnalyzer();
        for (const d of flow) {
          const m = r() < 0.8 ? mutate(d, r) : d;
          // Feed at an offset inside a larger buffer, as the pipeline does.
          const buf = new Uint8Array(m.length + 20);
          buf.set(m, 7);
          a.onDatagram(r() < 0.5 ? 0 : 1, buf, 7, m.length);
          fed++;
        }
      }
    }
    assert.ok(fed > 1000);
  },
});

Deno.test("quic: fuzz: valid protection around mutated frames never throws", () => {
  const r = rng(12345);
  const dcid = hex("5555666677778888");
  const ch = fakeClientHello("fuzz.example", 600);
  const base = concat(
    [2, 5, 0, 1, 0, 3, 1, 1, 1],
    cryptoFrame(300, ch.subarray(300)),
    [1],
    [0x18, 1, 0, 4, 1, 2, 3, 4, ...new Array(16).fill(7)],
    [0x1c, 0, 6, 2, 0x41, 0x42],
    [0x0e, 4, 3, 2, 1, 0],
    cryptoFrame(0, ch.subarray(0, 300)),
    [0, 0, 0],
  );
  for (let i = 0; i < 400; i++) {
    const version = [QUIC_V1, QUIC_V2, 0xff00001d, 0x51303530][i & 3];
    const payload = mutate(base, r);
    if (payload.length < 8) continue;
    const pkt = protectInitial({ version, dcid, pn: i, pnLen: 1 + (i % 4), payload });
    const a = new QuicFlowAnalyzer();
    const d = pad(pkt);
    a.onDatagram(0, d, 0, d.length);
    a.onDatagram(0, d, 0, d.length);
    assert.ok(a.detected);
  }
});

Deno.test("quic: extractor writes every declared column, nulls for non-QUIC", () => {
  const names = quicExtractor.features.map((f) => f.name);
  assert.deepEqual(names.slice(0, 12), [
    "quic_detected",
    "quic_version",
    "quic_version_str",
    "quic_dcid_len",
    "quic_scid_len",
    "quic_pn_length",
    "quic_initial_packets",
    "quic_0rtt_detected",
    "quic_retry_detected",
    "quic_spin_bit",
    "quic_alpn",
    "quic_sni",
  ]);
  assert.deepEqual(names.slice(12), [
    "quic_ja4",
    "quic_ja4_r",
    "quic_ja3_hash",
    "quic_ja3_string",
    "quic_alpn_offered",
  ]);
  const out: FlowRecord = {};
  quicExtractor.finish(null, undefined as never, out);
  assert.deepEqual(Object.keys(out), names);
  assert.equal(out.quic_detected, false);
  assert.equal(out.quic_version, null);
});

Deno.test({
  name:
    "quic: version and connection ID lengths of the first long header, an unknown version's included (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // vn_ngtcp2.pcap: ngtcp2's client offering version 0x1a2a3a4a on lo, and the server's Version Negotiation;
    // vn_then_v1.pcap (built to order): the same, then a v1 Initial on the same ports.
    for (const [file, port] of [["vn_ngtcp2.pcap", 4433], ["vn_then_v1.pcap", 443]] as const) {
      const path = `testdata/quic_edge/${file}`;
      const rows = tsharkRows([
        "-r",
        path,
        "-d",
        `udp.port==${port},quic`,
        "-T",
        "fields",
        "-e",
        "quic.version",
        "-e",
        "quic.dcil",
        "-e",
        "quic.scil",
      ]);
      const first = rows.find((r) => r[0] !== "");
      assert.ok(first !== undefined, `${file}: tshark read a long header`);
      const [r] = (await collect(path, { features: ["quic"] })).records;
      assert.equal(r.quic_detected, true, file);
      assert.equal(r.quic_version, Number(first[0]), file);
      assert.equal(r.quic_dcid_len, Number(first[1]), file);
      assert.equal(r.quic_scid_len, Number(first[2]), file);
    }
  },
});

Deno.test("quic: a server name in UTF-8 reads as tls_sni reads it", async () => {
  // Built to order: a v1 Initial whose ClientHello names "bücher.example" in UTF-8 bytes.
  const [r] = (await collect("testdata/quic_edge/sni_utf8.pcap", { features: ["quic", "tls"] })).records;
  assert.equal(r.quic_sni, "bücher.example");
  assert.equal(r.tls_sni, r.quic_sni);
});

Deno.test({
  name:
    "quic: CRYPTO data sent again with other bytes keeps the first copy (server name, cipher list), as tshark",
  ignore: !HAVE_TSHARK,
  async fn() {
    // The ClientHello in two Initials whose CRYPTO ranges overlap, the second copy changed where they overlap:
    // the server name (other.example for split.example), or bytes of the cipher list. The last copy won, so a
    // client could show a monitor another ClientHello than the one its server read.
    for (const file of ["crypto_overlap_sni.pcap", "crypto_overlap_ciphers.pcap"]) {
      const path = `testdata/quic_edge/${file}`;
      const rows = tsharkRows([
        "-r",
        path,
        "-Y",
        "tls.handshake.type == 1",
        "-T",
        "fields",
        "-e",
        "tls.handshake.extensions_server_name",
        "-e",
        "tls.handshake.ja3",
      ]);
      assert.equal(rows.length, 1, `${file}: tshark read one ClientHello`);
      const [r] = (await collect(path, { features: ["quic", "tls"] })).records;
      assert.equal(r.quic_sni, "split.example", file);
      assert.equal(r.quic_sni, rows[0][0], file);
      assert.equal(r.quic_ja3_hash, rows[0][1], file);
    }
  },
});

Deno.test({
  name:
    "http3_detected: a QUIC v1 long header with the fixed bit clear (RFC 9287) is QUIC, as for the quic group",
  ignore: !HAVE_TSHARK,
  async fn() {
    // ngtcp2's server clears the bit; with the client's first Initial not captured, its Initial comes first.
    const path = "testdata/quic_edge/fixed_bit_clear_server_first.pcap";
    const first = await tsharkFields(path, ["quic.fixed_bit", "quic.version"], ["-c", "1"]);
    assert.deepEqual(first[0].map((x) => x.split("|")[0]), ["0", "0x00000001"]);
    const [r] = (await collect(path, { features: ["quic", "http2"] })).records;
    // It was false, while quic_detected was true.
    assert.deepEqual([r.quic_detected, r.quic_version, r.http3_detected], [true, 1, true]);
  },
});

Deno.test({
  name:
    "quic: two Retries (one per Initial of a two-datagram ClientHello): the server's Initials read with the first",
  ignore: !HAVE_TSHARK,
  async fn() {
    // quic-go (a review's): a ClientHello of 80 ALPNs over two Initials, a server with Retry on, which answers
    // each with a Retry; the client follows the first (RFC 9000 17.2.5.2). The server's Initials were tried with
    // the last Retry's keys: no ServerHello, JA3S, cipher or group.
    const file = "testdata/quic_edge/two_retries.pcap";
    const rows = await tsharkFields(file, [
      "quic.long.packet_type",
      "tls.handshake.ja3s",
      "tls.handshake.ciphersuite",
    ]);
    assert.equal(rows.flatMap((r) => r[0].split(/[,|]/)).filter((t) => t === "3").length, 2, "two Retries");
    const [, ja3s, cipher] = rows.find((r) => r[1] !== "")!;
    const [r] = (await collect(file, { features: ["tls", "quic"] })).records;
    assert.deepEqual([r.ja3s_hash, r.tls_cipher_suite], [ja3s, Number(cipher)]);
  },
});
