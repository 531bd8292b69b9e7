/**
 * QUIC analysis: long and short headers (RFC 8999 invariants, RFC 9000, RFC 9369 v2, IETF drafts 22-34,
 * Facebook mvfst, Google QUIC Q0xx/T0xx), removal of Initial packet protection (RFC 9001 section 5, RFC 9369
 * section 3.3), frame parsing, CRYPTO-stream reassembly across packets and out of order, and the Google QUIC
 * CHLO (SNI and user agent in clear text up to Q046, inside Initial encryption for Q050).
 *
 * Everything is synchronous (`node:crypto`), reads from the caller's buffer with offsets and never throws on
 * malformed input. {@linkcode QuicFlowAnalyzer} is the per-flow entry point: it does the expensive work (key
 * derivation, decryption, reassembly) only until the ClientHello (and the ServerHello, for JA3S) is complete,
 * then only counts header types and spin bits from the first bytes of each datagram.
 *
 * @module
 */
import { createDecipheriv } from "node:crypto";
import { aes128EncryptBlock, aes128Key, type HmacKey, hmacKey, hmacSha256 } from "./quic_crypto.ts";
import { isHelloRetryRandom } from "./tls.ts";
import { withRoom } from "./buffers.ts";

/** QUIC version 1 (RFC 9000). */
export const QUIC_V1 = 0x00000001;
/** QUIC version 2 (RFC 9369). */
export const QUIC_V2 = 0x6b3343cf;
/** Google QUIC Q046 (IETF-style long header, clear-text CHLO). */
export const GQUIC_Q046 = 0x51303436;
/** Google QUIC Q050 (IETF-style long header, encrypted Initial, CHLO). */
export const GQUIC_Q050 = 0x51303530;
/** Google QUIC T050 (TLS). */
export const GQUIC_T050 = 0x54303530;
/** Google QUIC T051 (TLS). */
export const GQUIC_T051 = 0x54303531;

/** Largest CRYPTO-stream prefix that is buffered while looking for the ClientHello. */
export const QUIC_MAX_CRYPTO_BUFFER = 65536;

/** Normalized long header packet types (v2 type bits are mapped onto these). */
export const PacketType = {
  INITIAL: 0,
  ZERO_RTT: 1,
  HANDSHAKE: 2,
  RETRY: 3,
  VERSION_NEGOTIATION: 4,
  /** A long header of a version whose layout past the connection IDs is unknown. */
  UNKNOWN: 5,
} as const;

/** Header family of a version: how far {@linkcode parseLongHeader} can read it. */
const Family = {
  NONE: 0,
  /** RFC 9000 layout (v1, v2, drafts 22+, mvfst, Q050, T05x). */
  IETF: 1,
  /** Draft 21 and older, Q046: one byte holding both connection ID lengths; read up to the CIDs only. */
  NIBBLE: 2,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Versions

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * True for Google QUIC versions "Q" or "T" followed by three digits (Q024 ... Q050, T050, T051).
 *
 * @example
 * ```ts
 * import { isGoogleVersion } from "./quic.ts";
 * console.log(isGoogleVersion(0x51303436), isGoogleVersion(1)); // true false
 * ```
 */
export function isGoogleVersion(v: number): boolean {
  const c0 = v >>> 24;
  return (c0 === 0x51 || c0 === 0x54) && isDigit((v >>> 16) & 0xff) && isDigit((v >>> 8) & 0xff) &&
    isDigit(v & 0xff);
}

/** The IETF draft number of a version (0xff0000NN, mvfst aliases), or 0. */
function draftOf(v: number): number {
  if ((v >>> 8) === 0xff0000) return v & 0xff;
  if (v === 0xfaceb001) return 22;
  if (v === 0xfaceb002 || v === 0xfaceb00e) return 27;
  if (v === QUIC_V1) return 34;
  return 0;
}

function googleNumber(v: number): number {
  return ((v >>> 16) & 0xff) * 100 + ((v >>> 8) & 0xff) * 10 + (v & 0xff) - 0x30 * 111;
}

function familyOf(v: number): number {
  if (v === QUIC_V1 || v === QUIC_V2) return Family.IETF;
  if ((v >>> 8) === 0xfaceb0) return Family.IETF;
  const d = (v >>> 8) === 0xff0000 ? v & 0xff : 0;
  if (d >= 22) return Family.IETF;
  if (d > 0) return Family.NIBBLE;
  if (isGoogleVersion(v)) {
    const n = googleNumber(v);
    if (n >= 47) return Family.IETF;
    if (n === 46) return Family.NIBBLE;
  }
  return Family.NONE;
}

/**
 * True when `v` is a version this module recognizes as QUIC: v1, v2, IETF drafts (0xff0000NN), Facebook mvfst
 * (0xfaceb0NN) and Google QUIC (Q0NN, T0NN). Version negotiation (0) and grease versions are not included.
 *
 * @example
 * ```ts
 * import { isKnownQuicVersion } from "./quic.ts";
 * console.log(isKnownQuicVersion(1), isKnownQuicVersion(0x51303436), isKnownQuicVersion(0x0a0a0a0a)); // true true false
 * ```
 */
export function isKnownQuicVersion(v: number): boolean {
  v = v >>> 0;
  return v === QUIC_V1 || v === QUIC_V2 || ((v >>> 8) === 0xff0000 && (v & 0xff) !== 0) ||
    (v >>> 8) === 0xfaceb0 || isGoogleVersion(v);
}

/**
 * Short display name of a QUIC version: "v1", "v2", "draft-29", "Q046", "T051", "mvfst-27", "negotiation" for 0,
 * "grease" for 0x?a?a?a?a, else "0x" and eight hex digits.
 *
 * @example
 * ```ts
 * import { quicVersionString } from "./quic.ts";
 * console.log(quicVersionString(0xff00001d), quicVersionString(0x6b3343cf)); // draft-29 v2
 * ```
 */
export function quicVersionString(v: number): string {
  v = v >>> 0;
  if (v === QUIC_V1) return "v1";
  if (v === QUIC_V2) return "v2";
  if (v === 0) return "negotiation";
  if ((v >>> 8) === 0xff0000) return "draft-" + (v & 0xff);
  if (isGoogleVersion(v)) {
    return String.fromCharCode(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  if (v === 0xfaceb001) return "mvfst-22";
  if (v === 0xfaceb002) return "mvfst-27";
  if (v === 0xfaceb00e) return "mvfst-exp";
  if ((v & 0x0f0f0f0f) === 0x0a0a0a0a) return "grease";
  return "0x" + v.toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------------------------
// Initial secrets

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

const SALT_V1 = hex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a");
const SALT_V2 = hex("0dede3def700a6db819381be6e269dcbf9bd2ed9");
const SALT_D22 = hex("7fbcdb0e7c66bbe9193a96cd21519ebd7a02644a");
const SALT_D23 = hex("c3eef712c72ebb5a11a7d2432bb46365bef9f502");
const SALT_D29 = hex("afbfec289993d24c9e9786f19c6111e04390a899");
const SALT_Q050 = hex("504574efd066fe2f9d945cfcdbd3a7f0d3b56b45");
const SALT_T050 = hex("7ff579e5acd072915580304c43a2367c60488310");
const SALT_T051 = hex("7a4edef4e7ccee5fa4506c19124fc8ccda6e033d");

/**
 * The Initial salt of a version (RFC 9001 section 5.2, RFC 9369 section 3.3.1, the drafts, Google Q050/T050/T051),
 * or null when Initial packets of that version cannot be decrypted here.
 */
function initialSalt(v: number): Uint8Array | null {
  if (v === QUIC_V2) return SALT_V2;
  if (v === GQUIC_Q050) return SALT_Q050;
  if (v === GQUIC_T050) return SALT_T050;
  if (v === GQUIC_T051) return SALT_T051;
  const d = draftOf(v);
  if (d === 0 || d < 22) return null;
  if (d === 22) return SALT_D22;
  if (d <= 28) return SALT_D23;
  if (d <= 32) return SALT_D29;
  return SALT_V1;
}

/** The HkdfLabel structure of TLS 1.3 (RFC 8446 section 7.1) for `label`, empty context; `counter` appends T(1)'s 0x01. */
function hkdfLabel(label: string, length: number, counter: boolean): Uint8Array {
  const full = "tls13 " + label;
  const info = new Uint8Array(2 + 1 + full.length + 1 + (counter ? 1 : 0));
  info[0] = length >> 8;
  info[1] = length & 0xff;
  info[2] = full.length;
  for (let i = 0; i < full.length; i++) info[3 + i] = full.charCodeAt(i);
  info[3 + full.length] = 0; // empty context
  if (counter) info[4 + full.length] = 1;
  return info;
}

const INFO_CLIENT_IN = hkdfLabel("client in", 32, true);
const INFO_SERVER_IN = hkdfLabel("server in", 32, true);
/** key, iv, hp labels for v1 (and drafts, Google) and for v2, each as HKDF-Expand's first block input. */
const INFO_V1 = [
  hkdfLabel("quic key", 16, true),
  hkdfLabel("quic iv", 12, true),
  hkdfLabel("quic hp", 16, true),
];
const INFO_V2 = [
  hkdfLabel("quicv2 key", 16, true),
  hkdfLabel("quicv2 iv", 12, true),
  hkdfLabel("quicv2 hp", 16, true),
];
/** HMAC keys of the salts (HKDF-Extract's key), made on first use. */
const saltKeys = new Map<Uint8Array, HmacKey>();
const prk = new Uint8Array(32);
const secretBytes = new Uint8Array(32);
const expanded = new Uint8Array(32);
const scratchKey: HmacKey = { inner: new Int32Array(8), outer: new Int32Array(8) };

/**
 * HKDF-Expand-Label(secret, label, "", L) for the three packet protection labels: each is the first block of
 * HKDF-Expand, HMAC-SHA256(secret, HkdfLabel || 0x01), truncated to L.
 */
function expandKeys(secret: HmacKey, infos: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const info of infos) {
    hmacSha256(secret, info, 0, info.length, expanded, 0);
    out.push(expanded.slice(0, (info[0] << 8) | info[1]));
  }
  return out;
}

/** Packet protection keys of one direction's Initial packets. */
export interface InitialKeys {
  /** AEAD_AES_128_GCM key (16 bytes). */
  key: Uint8Array;
  /** AEAD IV (12 bytes). */
  iv: Uint8Array;
  /** Header protection key (16 bytes, AES-128-ECB). */
  hp: Uint8Array;
}

/**
 * Derives the Initial keys of a version from the client's Destination Connection ID: client keys by default,
 * server keys with `server` true. Null when the version has no known Initial salt.
 *
 * @example
 * ```ts
 * import { deriveInitialKeys } from "./quic.ts";
 * const dcid = new Uint8Array([0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08]); // RFC 9001 appendix A
 * const k = deriveInitialKeys(1, dcid, 0, dcid.length);
 * console.log(k?.key.length); // 16
 * ```
 */
export function deriveInitialKeys(
  version: number,
  buf: Uint8Array,
  dcidOff: number,
  dcidLen: number,
  server = false,
): InitialKeys | null {
  const salt = initialSalt(version >>> 0);
  if (salt === null || dcidOff < 0 || dcidLen < 0 || dcidOff + dcidLen > buf.length) return null;
  // HKDF-Extract(salt, DCID), then Expand-Label("client in" / "server in"): 32 bytes, one HMAC block.
  let sk = saltKeys.get(salt);
  if (sk === undefined) saltKeys.set(salt, sk = hmacKey(salt));
  hmacSha256(sk, buf, dcidOff, dcidLen, prk, 0);
  const info = server ? INFO_SERVER_IN : INFO_CLIENT_IN;
  hmacSha256(hmacKey(prk, scratchKey), info, 0, info.length, secretBytes, 0);
  const [key, iv, hp] = expandKeys(
    hmacKey(secretBytes, scratchKey),
    (version >>> 0) === QUIC_V2 ? INFO_V2 : INFO_V1,
  );
  return { key, iv, hp };
}

// ---------------------------------------------------------------------------------------------------------------
// Headers

let vLen = 0;

/** Reads a QUIC variable-length integer at `off`; -1 when it runs past `end`. Its size is left in `vLen`. */
function varint(buf: Uint8Array, off: number, end: number): number {
  if (off >= end) return -1;
  const b = buf[off];
  const n = 1 << (b >> 6);
  if (off + n > end) return -1;
  vLen = n;
  let v = b & 0x3f;
  for (let i = 1; i < n; i++) v = v * 256 + buf[off + i];
  return v;
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

function u32le(buf: Uint8Array, off: number): number {
  return (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
}

/**
 * One parsed long header; a single instance is refilled by {@linkcode parseLongHeader}. Offsets index the buffer
 * that was parsed.
 *
 * @example
 * ```ts
 * import { QuicHeader } from "./quic.ts";
 * const h = new QuicHeader();
 * console.log(h.type); // -1
 * ```
 */
export class QuicHeader {
  /** Offset of the packet's first byte. */
  start = 0;
  /** First byte as sent (still header-protected for Initial, 0-RTT and Handshake packets). */
  firstByte = 0;
  /** Version field. */
  version = 0;
  /** Normalized packet type ({@linkcode PacketType}), -1 before parsing. */
  type = -1;
  /** Destination and Source Connection IDs. */
  dcidOff = 0;
  dcidLen = 0;
  scidOff = 0;
  scidLen = 0;
  /** Token of Initial and Retry packets (length 0 for other types). */
  tokenOff = 0;
  tokenLen = 0;
  /** Offset of the (protected) packet number, -1 for types without one. */
  pnOff = -1;
  /** Offset one past the packet; a coalesced packet may follow. Never beyond the parsed range. */
  end = 0;
  /** True when the Length field points past the captured bytes. */
  truncated = false;
}

/**
 * Parses a long header packet at `buf[off .. end)` into `h`. Returns false when the bytes are not a long header
 * that can be read (first bit clear, too short, connection IDs longer than the version allows, lengths past the
 * end for non-truncated packets). For unknown versions only the invariant fields (RFC 8999) are read, the type is
 * {@linkcode PacketType.UNKNOWN} and the packet extends to `end`.
 *
 * @example
 * ```ts
 * import { parseLongHeader, QuicHeader, PacketType } from "./quic.ts";
 * const pkt = new Uint8Array([0xc0, 0, 0, 0, 1, 0, 0, 0, 2, 0xaa, 0xbb]);
 * const h = new QuicHeader();
 * console.log(parseLongHeader(pkt, 0, pkt.length, h), h.type === PacketType.INITIAL); // true true
 * ```
 */
export function parseLongHeader(buf: Uint8Array, off: number, end: number, h: QuicHeader): boolean {
  if (end > buf.length) end = buf.length;
  if (off < 0 || end - off < 7) return false;
  const b0 = buf[off];
  if ((b0 & 0x80) === 0) return false;
  const version = u32(buf, off + 1);
  h.start = off;
  h.firstByte = b0;
  h.version = version;
  h.tokenOff = 0;
  h.tokenLen = 0;
  h.pnOff = -1;
  h.truncated = false;
  h.type = -1;
  const fam = version === 0 ? Family.IETF : familyOf(version);
  let p = off + 5;
  if (fam === Family.NIBBLE) {
    const cil = buf[p++];
    h.dcidLen = cil >> 4 === 0 ? 0 : (cil >> 4) + 3;
    h.scidLen = (cil & 0x0f) === 0 ? 0 : (cil & 0x0f) + 3;
    h.dcidOff = p;
    h.scidOff = p + h.dcidLen;
    p = h.scidOff + h.scidLen;
    if (p > end) return false;
    h.type = (b0 >> 4) & 3;
    if (version === GQUIC_Q046 || h.type !== PacketType.RETRY) h.pnOff = p;
    h.end = end;
    return true;
  }
  const dcil = buf[p++];
  if (fam !== Family.NONE && dcil > 20) return false;
  h.dcidOff = p;
  h.dcidLen = dcil;
  p += dcil;
  if (p >= end) return false;
  const scil = buf[p++];
  if (fam !== Family.NONE && scil > 20) return false;
  h.scidOff = p;
  h.scidLen = scil;
  p += scil;
  if (p > end) return false;
  if (version === 0) {
    // Version negotiation: a list of 32-bit versions follows.
    if (((end - p) & 3) !== 0 || end === p) return false;
    h.type = PacketType.VERSION_NEGOTIATION;
    h.end = end;
    return true;
  }
  if (fam === Family.NONE) {
    h.type = PacketType.UNKNOWN;
    h.end = end;
    return true;
  }
  // The fixed bit may be 0: endpoints that negotiated grease_quic_bit (RFC 9287) set it at random.
  const bits = (b0 >> 4) & 3;
  const type = version === QUIC_V2 ? (bits + 3) & 3 : bits; // v2: 1 Initial, 2 0-RTT, 3 Handshake, 0 Retry
  h.type = type;
  if (type === PacketType.RETRY) {
    h.tokenOff = p;
    h.tokenLen = end - p - 16;
    if (h.tokenLen < 0) return false;
    h.end = end;
    return true;
  }
  if (type === PacketType.INITIAL) {
    const tl = varint(buf, p, end);
    if (tl < 0) return false;
    p += vLen;
    if (p + tl > end) return false;
    h.tokenOff = p;
    h.tokenLen = tl;
    p += tl;
  }
  const len = varint(buf, p, end);
  if (len < 0) return false;
  p += vLen;
  h.pnOff = p;
  if (len < 1) return false;
  if (p + len > end) {
    h.truncated = true;
    h.end = end;
  } else {
    h.end = p + len;
  }
  return true;
}

/** Recovers a full packet number from its truncated form (RFC 9000 appendix A.3). */
function decodePn(truncated: number, pnLen: number, largest: number): number {
  const expected = largest + 1;
  const win = 2 ** (pnLen * 8);
  const hwin = win / 2;
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}

// ---------------------------------------------------------------------------------------------------------------
// CRYPTO stream reassembly

/** What message a {@linkcode CryptoReassembler} waits for. */
export const CryptoMessage = {
  /** A TLS handshake message: type(1) length(3) body. */
  TLS: 0,
  /** A Google QUIC crypto handshake message: tag(4) count(2 LE) pad(2) count x (tag, end offset LE) values. */
  CHLO: 1,
} as const;

/** Most disjoint ranges tracked before giving up. */
const MAX_RANGES = 64;

/**
 * Collects the first message of a CRYPTO stream (or of gQUIC's crypto stream 1) from fragments arriving in any
 * order, each range received in a buffer of its own (offsets up to {@linkcode QUIC_MAX_CRYPTO_BUFFER}).
 *
 * @example
 * ```ts
 * import { CryptoMessage, CryptoReassembler } from "./quic.ts";
 * const r = new CryptoReassembler(CryptoMessage.TLS);
 * r.add(new Uint8Array([9, 9]), 0, 2, 4);
 * r.add(new Uint8Array([1, 0, 0, 2]), 0, 4, 0);
 * console.log(r.message()?.length); // 6
 * ```
 */
export class CryptoReassembler {
  /** The message kind ({@linkcode CryptoMessage}). */
  readonly kind: number;
  /** The bytes received from offset 0 on (the first range's array), or null. */
  private buf: Uint8Array | null = null;
  /** Sorted, disjoint, non-adjacent [start, end) ranges received. */
  private ranges: number[] = [];
  /** The bytes of each range, from its start (arrays may be longer: room to grow). */
  private chunks: Uint8Array[] = [];
  /** True once the stream cannot yield the message (wrong type, too large, too fragmented). */
  failed = false;

  /** The handshake message type expected first for {@linkcode CryptoMessage.TLS} (1 ClientHello, 2 ServerHello). */
  readonly hsType: number;

  /** Creates a reassembler for one message kind. */
  constructor(kind: number, hsType = 1) {
    this.kind = kind;
    this.hsType = hsType;
  }

  /** Adds `len` bytes from `data[dOff ..]` at stream offset `offset`. */
  add(data: Uint8Array, dOff: number, len: number, offset: number): void {
    if (this.failed || len <= 0 || offset < 0 || dOff < 0 || dOff + len > data.length) return;
    if (offset >= QUIC_MAX_CRYPTO_BUFFER) return;
    if (offset + len > QUIC_MAX_CRYPTO_BUFFER) len = QUIC_MAX_CRYPTO_BUFFER - offset;
    const need = offset + len;
    // The ranges [offset, need) overlaps or touches join into one, whose bytes are in one array: each range has
    // its own (a CRYPTO frame far from offset 0 costs its own length, not its offset).
    const r = this.ranges, chunks = this.chunks;
    let i = 0;
    while (i < r.length && r[i + 1] < offset) i += 2;
    let start = offset, end = need, j = i;
    while (j < r.length && r[j] <= need) {
      if (r[j] < start) start = r[j];
      if (r[j + 1] > end) end = r[j + 1];
      j += 2;
    }
    let chunk: Uint8Array;
    if (j === i + 2 && r[i] === start) {
      chunk = withRoom(chunks[i >> 1], r[i + 1] - start, end - start, QUIC_MAX_CRYPTO_BUFFER - start);
    } else {
      // A first piece at offset 0 gets room for a browser's ClientHello.
      chunk = new Uint8Array(
        start === 0 && j === i ? Math.max(end, Math.min(2048, QUIC_MAX_CRYPTO_BUFFER)) : end - start,
      );
      for (let k = i; k < j; k += 2) chunk.set(chunks[k >> 1].subarray(0, r[k + 1] - r[k]), r[k] - start);
    }
    // The first copy wins: only bytes not yet received are written, as a receiver may (RFC 9000 section 2.2:
    // data at an offset must not change, and what was received can be discarded) and as jj's TCP reassembly
    // does. A later copy that rewrote the SNI reported a ClientHello the server never read. (tshark keeps the
    // copy of lower offset, the same when that one came first.)
    let at = offset;
    for (let k = i; k < j && at < need; k += 2) {
      if (r[k + 1] <= at) continue;
      if (r[k] > at) chunk.set(data.subarray(dOff + at - offset, dOff + r[k] - offset), at - start);
      at = r[k + 1];
    }
    if (at < need) chunk.set(data.subarray(dOff + at - offset, dOff + need - offset), at - start);
    r.splice(i, j - i, start, end);
    chunks.splice(i >> 1, (j - i) >> 1, chunk);
    this.buf = r[0] === 0 ? chunks[0] : null;
    if (r.length > MAX_RANGES * 2) this.failed = true;
  }

  /** Bytes of storage allocated for the ranges received (room to grow included). */
  get capacity(): number {
    let n = 0;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /** Length of the contiguous prefix received from offset 0. */
  contiguous(): number {
    return this.ranges.length > 0 && this.ranges[0] === 0 ? this.ranges[1] : 0;
  }

  /**
   * Length the first message will have once its header is in, -1 while unknown, 0 when it can never complete
   * (and `failed` is set).
   */
  messageLength(): number {
    const c = this.contiguous();
    const b = this.buf;
    if (b === null || this.failed) return this.failed ? 0 : -1;
    let need = -1;
    if (this.kind === CryptoMessage.TLS) {
      if (c >= 1 && b[0] !== this.hsType) this.failed = true;
      else if (c >= 4) need = 4 + ((b[1] << 16) | (b[2] << 8) | b[3]);
    } else {
      if (c >= 4 && (b[0] !== 0x43 || b[1] !== 0x48 || b[2] !== 0x4c || b[3] !== 0x4f)) this.failed = true;
      else if (c >= 8) {
        const n = b[4] | (b[5] << 8);
        const tags = 8 + 8 * n;
        if (n === 0) need = 8;
        else if (tags <= QUIC_MAX_CRYPTO_BUFFER && c >= tags) need = tags + u32le(b, tags - 4);
      }
    }
    if (need > QUIC_MAX_CRYPTO_BUFFER) this.failed = true;
    return this.failed ? 0 : need;
  }

  /** A view (no copy) of the contiguous prefix received so far; valid until the next `add`. */
  peek(): Uint8Array | null {
    return this.buf === null ? null : this.buf.subarray(0, this.contiguous());
  }

  /** The complete first message (a copy of exactly its bytes), or null while incomplete or failed. */
  message(): Uint8Array | null {
    const need = this.messageLength();
    if (need <= 0 || this.contiguous() < need || this.buf === null) return null;
    return this.buf.slice(0, need);
  }

  /**
   * The complete handshake message of the expected type starting at `start` of the stream (the one after a
   * first message), or null while incomplete or of another type.
   */
  messageAt(start: number): Uint8Array | null {
    const b = this.buf, c = this.contiguous();
    if (b === null || this.failed || this.kind !== CryptoMessage.TLS || c < start + 4) return null;
    if (b[start] !== this.hsType) return null;
    const end = start + 4 + ((b[start + 1] << 16) | (b[start + 2] << 8) | b[start + 3]);
    return end <= c ? b.slice(start, end) : null;
  }

  /** Drops the buffer. */
  release(): void {
    this.buf = null;
    this.ranges.length = 0;
    this.chunks.length = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Google QUIC CHLO

/** Values read from a Google QUIC CHLO message. */
export interface ChloInfo {
  /** "SNI\0" tag, or null. */
  sni: string | null;
  /** "UAID" tag (user agent), or null. */
  uaid: string | null;
  /** Tags in message order, e.g. ["PAD", "SNI", "VER", ...] (trailing NULs stripped). */
  tags: string[];
}

function ascii(buf: Uint8Array, off: number, end: number): string {
  let s = "";
  for (let i = off; i < end; i++) s += String.fromCharCode(buf[i]);
  return s;
}

function tagName(buf: Uint8Array, off: number): string {
  let e = off + 4;
  while (e > off && buf[e - 1] === 0) e--;
  return ascii(buf, off, e);
}

/**
 * Parses a Google QUIC crypto handshake message "CHLO" at `buf[off .. off + len)` (little-endian tag table).
 * Values that lie beyond `len` are null. Returns null when the bytes are not a CHLO.
 *
 * @example
 * ```ts
 * import { parseChlo } from "./quic.ts";
 * const m = new Uint8Array([0x43, 0x48, 0x4c, 0x4f, 1, 0, 0, 0, 0x53, 0x4e, 0x49, 0, 1, 0, 0, 0, 0x61]);
 * console.log(parseChlo(m, 0, m.length)?.sni); // "a"
 * ```
 */
export function parseChlo(buf: Uint8Array, off: number, len: number): ChloInfo | null {
  let end = off + len;
  if (end > buf.length) end = buf.length;
  if (off < 0 || end - off < 8) return null;
  if (buf[off] !== 0x43 || buf[off + 1] !== 0x48 || buf[off + 2] !== 0x4c || buf[off + 3] !== 0x4f) {
    return null;
  }
  const n = buf[off + 4] | (buf[off + 5] << 8);
  const values = off + 8 + 8 * n;
  const out: ChloInfo = { sni: null, uaid: null, tags: [] };
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const t = off + 8 + 8 * i;
    if (t + 8 > end) break;
    const e = u32le(buf, t + 4);
    if (e < prev) break;
    const name = tagName(buf, t);
    out.tags.push(name);
    const vs = values + prev;
    const ve = values + e;
    if (ve <= end && e - prev <= 1024) {
      if (name === "SNI") out.sni = ascii(buf, vs, ve);
      else if (name === "UAID") out.uaid = ascii(buf, vs, ve);
    }
    prev = e;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Per-flow analyzer

/** Datagrams looked at before a flow with no recognizable QUIC packet is given up. */
const MAX_PROBE_DATAGRAMS = 8;
/** Initial packets tried for decryption per flow and direction. */
const MAX_DECRYPT_ATTEMPTS = 16;
/** Short header packets after which a missing server Initial is no longer waited for. */
const SHORT_PACKETS_WAIT = 2;

/** Frame-type bit for {@linkcode QuicFlowAnalyzer.frameTypes}: types 0x00-0x1e map to their own bit. */
const FRAME_BIT_OTHER = 31;

interface KeySet extends InitialKeys {
  dcid: Uint8Array;
  /** AES-128 round keys of the header protection key. */
  hpKey: Int32Array;
}

/** Initial-packet decryption state of one side of a connection. */
class Side {
  readonly client: boolean;
  keys: KeySet | null = null;
  largestPn = -1;
  crypto: CryptoReassembler | null = null;
  attempts = 0;
  done = false;
  constructor(client: boolean) {
    this.client = client;
  }
  finish(): void {
    this.crypto?.release();
    this.crypto = null;
    this.keys = null;
    this.done = true;
  }
}

function makeKeys(
  version: number,
  buf: Uint8Array,
  off: number,
  len: number,
  server: boolean,
): KeySet | null {
  const k = deriveInitialKeys(version, buf, off, len, server);
  if (k === null) return null;
  return { key: k.key, iv: k.iv, hp: k.hp, dcid: buf.slice(off, off + len), hpKey: aes128Key(k.hp, 0) };
}

const GQUIC_PN_LEN = [1, 2, 4, 6];
let scratch = new Uint8Array(2048);
const nonce = new Uint8Array(12);
/** Header protection mask of the packet being unprotected. */
const hpMask = new Uint8Array(16);
const hdr = new QuicHeader();

/**
 * Per-flow QUIC state. Feed every UDP payload of the flow to {@linkcode QuicFlowAnalyzer.onDatagram}; read the
 * public fields at the end. Client Initial packets are decrypted until the ClientHello is complete, server
 * Initial packets until the ServerHello is; once `done` is true the analyzer only looks at the first byte of
 * short-header datagrams and walks the headers of long-header ones.
 *
 * @example
 * ```ts
 * import { QuicFlowAnalyzer } from "./quic.ts";
 * const a = new QuicFlowAnalyzer();
 * a.onDatagram(0, new Uint8Array([1, 2, 3]), 0, 3);
 * console.log(a.detected, a.version); // false null
 * ```
 */
export class QuicFlowAnalyzer {
  /** True once the expensive part is over (hellos found or given up, or not QUIC). */
  done = false;
  /** A QUIC packet was recognized. */
  detected = false;
  /** True for Google QUIC before Q046 (public header). */
  gquic = false;
  /** Version of the first long header (or gQUIC public header) with a non-zero version, or null. */
  version: number | null = null;
  /** Connection ID lengths of that first packet. */
  dcidLen: number | null = null;
  scidLen: number | null = null;
  /** Packet number length of the first decrypted client Initial (or gQUIC public header). */
  pnLength: number | null = null;
  /** Long header packets by type, both directions. */
  initialPackets = 0;
  zeroRttPackets = 0;
  handshakePackets = 0;
  retryPackets = 0;
  versionNegotiationPackets = 0;
  /** Short header packets and how many had the spin bit set. */
  shortPackets = 0;
  spinSetPackets = 0;
  /**
   * Times the spin bit changed between consecutive short-header packets of one direction: a spinning bit
   * (RFC 9000 section 17.4) changes once per round trip; a disabled one keeps its value per connection ID.
   */
  spinFlips = 0;
  /** The spin bit of each direction's last short-header packet (-1 before the first). */
  private lastSpin0 = -1;
  private lastSpin1 = -1;
  /** Client and server Initial packets decrypted; the client's direction (-1 unknown). */
  decryptedInitials = 0;
  decryptedServerInitials = 0;
  clientDir = -1;
  /** Frame types seen in decrypted Initial packets, one bit per type (bit 31: types above 0x1e). */
  frameTypes = 0;
  /** The client's complete TLS ClientHello handshake message (type, length, body), or null. */
  clientHello: Uint8Array | null = null;
  /** The server's complete ServerHello (or HelloRetryRequest) handshake message, or null. */
  serverHello: Uint8Array | null = null;
  /**
   * The QUIC version of the Initial packets that completed `clientHello` (or the CHLO) and `serverHello`, or
   * null: not the flow's first version after a Version Negotiation or a compatible one (RFC 9368: a v1 Initial
   * answered in v2).
   */
  clientHelloVersion: number | null = null;
  serverHelloVersion: number | null = null;
  /** The Google QUIC CHLO, parsed, or null. */
  chlo: ChloInfo | null = null;

  private probes = 0;
  /**
   * A long header of an unknown version seen before the flow was recognized (a client's Initial that a Version
   * Negotiation answers): it is the flow's first long header, whose version and connection ID lengths the
   * columns give, as tshark reads them. -1 when none.
   */
  private unknownVersion = -1;
  private unknownDcidLen = 0;
  private unknownScidLen = 0;
  private cl: Side | null = null;
  private sv: Side | null = null;
  /** DCID the server's Initial keys come from: the client's first Initial's, or a Retry's SCID. */
  private serverKeyDcid: Uint8Array | null = null;

  /**
   * Folds one UDP payload `buf[off .. off + len)` sent in direction `dir` (0 initiator, 1 responder).
   * Never throws.
   */
  onDatagram(dir: number, buf: Uint8Array, off: number, len: number): void {
    if (len <= 0 || off < 0) return;
    let end = off + len;
    if (end > buf.length) end = buf.length;
    if (off >= end) return;
    const b0 = buf[off];
    if (this.done) {
      if (!this.detected) return;
      if ((b0 & 0x80) === 0) {
        if (!this.gquic) this.onShortHeader(dir, b0);
        return;
      }
    }
    try {
      this.walk(dir, buf, off, end);
    } catch {
      // Defensive: parsing never throws by design, but a crypto binding might on odd input.
      this.cl?.finish();
      this.sv?.finish();
      this.done = true;
    }
  }

  private onShortHeader(dir: number, b0: number): void {
    this.shortPackets++;
    const spin = (b0 >> 5) & 1;
    this.spinSetPackets += spin;
    const last = dir === 0 ? this.lastSpin0 : this.lastSpin1;
    if (last >= 0 && last !== spin) this.spinFlips++;
    if (dir === 0) this.lastSpin0 = spin;
    else this.lastSpin1 = spin;
  }

  private onDetected(): void {
    this.detected = true;
    if (this.unknownVersion >= 0) {
      this.version = this.unknownVersion;
      this.dcidLen = this.unknownDcidLen;
      this.scidLen = this.unknownScidLen;
    }
    this.cl = new Side(true);
    this.sv = new Side(false);
  }

  private walk(dir: number, buf: Uint8Array, off: number, end: number): void {
    if (!this.detected) {
      if (!this.probe(buf, off, end)) {
        if (++this.probes >= MAX_PROBE_DATAGRAMS) this.done = true;
        return;
      }
    }
    if (this.gquic) {
      if (!this.done) this.gquicPublic(buf, off, end);
      return;
    }
    let p = off;
    while (p < end) {
      const b0 = buf[p];
      if ((b0 & 0x80) === 0) {
        // Short header: last packet of the datagram. Zero bytes after coalesced packets are padding; any other
        // first byte is a packet, its fixed bit possibly 0 (RFC 9287 greasing).
        if (b0 !== 0 || p === off) {
          this.onShortHeader(dir, b0);
          this.updateDone();
        }
        return;
      }
      if (!parseLongHeader(buf, p, end, hdr)) return;
      this.onLongHeader(dir, buf, hdr);
      if (hdr.end <= p) return;
      p = hdr.end;
    }
  }

  /** Recognizes the first QUIC packet of the flow. */
  private probe(buf: Uint8Array, off: number, end: number): boolean {
    const b0 = buf[off];
    if ((b0 & 0x80) !== 0) {
      if (end - off < 7) return false;
      const v = u32(buf, off + 1);
      if (v === 0) {
        // Version negotiation alone counts when it lists a known version.
        if (!parseLongHeader(buf, off, end, hdr)) return false;
        for (let p = hdr.scidOff + hdr.scidLen; p + 4 <= end; p += 4) {
          if (isKnownQuicVersion(u32(buf, p))) {
            this.onDetected();
            return true;
          }
        }
        return false;
      }
      if (!isKnownQuicVersion(v)) {
        if (
          this.unknownVersion < 0 && (b0 & 0x40) !== 0 && parseLongHeader(buf, off, end, hdr) &&
          hdr.dcidLen <= 20 && hdr.scidLen <= 20
        ) {
          this.unknownVersion = v;
          this.unknownDcidLen = hdr.dcidLen;
          this.unknownScidLen = hdr.scidLen;
        }
        return false;
      }
      if (familyOf(v) === Family.NONE) {
        // Google QUIC before Q046 never sets the first bit.
        return false;
      }
      if (!parseLongHeader(buf, off, end, hdr)) return false;
      if (v === GQUIC_Q046 && hdr.type === PacketType.INITIAL && (b0 & 0x03) !== 0x03) return false;
      this.onDetected();
      return true;
    }
    // Google QUIC public header with the version flag and an 8-byte connection ID.
    if ((b0 & 0x01) !== 0 && (b0 & 0x08) !== 0 && (b0 & 0xc0) === 0 && end - off >= 14) {
      const v = u32(buf, off + 9);
      if (isGoogleVersion(v) && googleNumber(v) < 46) {
        this.onDetected();
        this.gquic = true;
        this.version = v;
        this.dcidLen = 8;
        this.scidLen = 0;
        return true;
      }
    }
    return false;
  }

  private onLongHeader(dir: number, buf: Uint8Array, h: QuicHeader): void {
    const t = h.type;
    if (t === PacketType.VERSION_NEGOTIATION) {
      this.versionNegotiationPackets++;
      return;
    }
    if (this.version === null) {
      this.version = h.version;
      this.dcidLen = h.dcidLen;
      this.scidLen = h.scidLen;
    }
    if (t === PacketType.INITIAL) this.initialPackets++;
    else if (t === PacketType.ZERO_RTT) this.zeroRttPackets++;
    else if (t === PacketType.HANDSHAKE) this.handshakePackets++;
    else if (t === PacketType.RETRY) {
      this.retryPackets++;
      // The client's next Initial (and the server's keys) use the Retry's Source Connection ID: the first
      // Retry's, the only one a client accepts (RFC 9000 17.2.5.2). A server answers each Initial sent before
      // the Retry came with a Retry of its own; the last one's keys read none of the server's Initials.
      if (!this.done && this.retryPackets === 1) {
        this.serverKeyDcid = buf.slice(h.scidOff, h.scidOff + h.scidLen);
      }
    }
    const cl = this.cl, sv = this.sv;
    if (this.done || t !== PacketType.INITIAL || h.truncated || cl === null || sv === null) return;
    if (h.version === GQUIC_Q046) {
      this.gquicQ046(buf, h);
      return;
    }
    if (initialSalt(h.version) === null) {
      cl.finish();
      sv.finish();
      this.updateDone();
      return;
    }
    if (this.clientDir < 0 || dir === this.clientDir) {
      if (!cl.done) this.clientInitial(dir, buf, h, cl);
    } else if (!sv.done) {
      this.serverInitial(buf, h, sv);
    }
    this.updateDone();
  }

  private clientInitial(dir: number, buf: Uint8Array, h: QuicHeader, cl: Side): void {
    if (cl.attempts >= MAX_DECRYPT_ATTEMPTS) {
      cl.finish();
      return;
    }
    cl.attempts++;
    const pt = this.decryptClient(buf, h, cl);
    if (pt === null || cl.keys === null) return;
    this.decryptedInitials++;
    if (this.clientDir < 0) this.clientDir = dir;
    if (this.serverKeyDcid === null) this.serverKeyDcid = cl.keys.dcid;
    const v = h.version;
    const google = v === GQUIC_Q050 || v === GQUIC_T050 || v === GQUIC_T051;
    const crypto = cl.crypto ??= new CryptoReassembler(
      v === GQUIC_Q050 ? CryptoMessage.CHLO : CryptoMessage.TLS,
    );
    if (google) {
      this.sv?.finish(); // Google's server side is not read
      this.googleFrames(pt, 0, pt.length, crypto);
    } else {
      this.frames(pt, 0, pt.length, crypto);
    }
    this.checkClient(cl);
    if (this.clientHelloVersion === null && (this.clientHello !== null || this.chlo !== null)) {
      this.clientHelloVersion = v;
    }
  }

  private serverInitial(buf: Uint8Array, h: QuicHeader, sv: Side): void {
    const kd = this.serverKeyDcid;
    if (kd === null) return;
    if (sv.attempts >= MAX_DECRYPT_ATTEMPTS) {
      sv.finish();
      return;
    }
    sv.attempts++;
    let ks = sv.keys;
    if (ks === null || !sameBytes(ks.dcid, kd, 0, kd.length)) {
      ks = sv.keys = makeKeys(h.version, kd, 0, kd.length, true);
      sv.largestPn = -1;
      if (ks === null) {
        sv.finish();
        return;
      }
    }
    const pt = this.unprotect(buf, h, sv, ks);
    if (pt === null) return;
    this.decryptedServerInitials++;
    const crypto = sv.crypto ??= new CryptoReassembler(CryptoMessage.TLS, 2);
    this.frames(pt, 0, pt.length, crypto);
    const msg = crypto.message();
    if (msg !== null) {
      // A HelloRetryRequest is kept until the ServerHello that follows it in the same stream (after the
      // client's second Initial), which holds the key exchange and the extensions.
      // The message: type, 3-byte length, version, then the random.
      const next = isHelloRetryRandom(msg, 6) ? crypto.messageAt(msg.length) : msg;
      this.serverHello = next ?? msg;
      this.serverHelloVersion = h.version;
      if (next !== null) sv.finish();
    } else if (crypto.failed) {
      sv.finish();
    }
  }

  /** Tries the cached keys, then keys from this packet's DCID (first Initial, or after a Retry). */
  private decryptClient(buf: Uint8Array, h: QuicHeader, cl: Side): Uint8Array | null {
    const ks = cl.keys;
    if (ks !== null) {
      const pt = this.unprotect(buf, h, cl, ks);
      if (pt !== null) return pt;
      if (sameBytes(ks.dcid, buf, h.dcidOff, h.dcidLen)) return null;
    }
    const cand = makeKeys(h.version, buf, h.dcidOff, h.dcidLen, false);
    if (cand === null) return null;
    const pt = this.unprotect(buf, h, cl, cand);
    if (pt !== null || ks === null) cl.keys = cand;
    return pt;
  }

  /** Removes header protection and AEAD protection; null when authentication fails. */
  private unprotect(buf: Uint8Array, h: QuicHeader, side: Side, ks: KeySet): Uint8Array | null {
    const pnOff = h.pnOff;
    const end = h.end;
    if (pnOff < 0 || pnOff + 4 + 16 > end) return null;
    const mask = hpMask;
    aes128EncryptBlock(ks.hpKey, buf, pnOff + 4, mask);
    const fb = h.firstByte ^ (mask[0] & 0x0f);
    const pnLen = (fb & 3) + 1;
    const payOff = pnOff + pnLen;
    if (payOff + 16 > end) return null;
    const hdrLen = payOff - h.start;
    if (scratch.length < hdrLen) scratch = new Uint8Array(Math.max(hdrLen, scratch.length * 2));
    scratch.set(buf.subarray(h.start, payOff), 0);
    scratch[0] = fb;
    let tpn = 0;
    const pnRel = pnOff - h.start;
    for (let i = 0; i < pnLen; i++) {
      const b = buf[pnOff + i] ^ mask[1 + i];
      scratch[pnRel + i] = b;
      tpn = tpn * 256 + b;
    }
    const pn = decodePn(tpn, pnLen, side.largestPn);
    const hi = Math.floor(pn / 0x100000000);
    const lo = pn >>> 0;
    const iv = ks.iv;
    for (let i = 0; i < 12; i++) nonce[i] = iv[i];
    nonce[4] ^= hi >>> 24;
    nonce[5] ^= (hi >>> 16) & 0xff;
    nonce[6] ^= (hi >>> 8) & 0xff;
    nonce[7] ^= hi & 0xff;
    nonce[8] ^= lo >>> 24;
    nonce[9] ^= (lo >>> 16) & 0xff;
    nonce[10] ^= (lo >>> 8) & 0xff;
    nonce[11] ^= lo & 0xff;
    let pt: Uint8Array;
    try {
      const d = createDecipheriv("aes-128-gcm", ks.key, nonce, { authTagLength: 16 });
      d.setAAD(scratch.subarray(0, hdrLen));
      d.setAuthTag(buf.subarray(end - 16, end));
      pt = d.update(buf.subarray(payOff, end - 16));
      d.final();
    } catch {
      return null;
    }
    if (pn > side.largestPn) side.largestPn = pn;
    if (side.client && this.pnLength === null) this.pnLength = pnLen;
    return pt;
  }

  /** Walks the frames of a decrypted IETF packet payload, feeding CRYPTO data to the reassembler. */
  private frames(b: Uint8Array, p: number, end: number, crypto: CryptoReassembler): void {
    while (p < end) {
      if (b[p] === 0) {
        // PADDING runs are common and long.
        this.frameTypes |= 1;
        while (p < end && b[p] === 0) p++;
        continue;
      }
      const t = varint(b, p, end);
      if (t < 0) return;
      p += vLen;
      this.frameTypes = (this.frameTypes | (1 << (t <= 0x1e ? t : FRAME_BIT_OTHER))) >>> 0;
      let n = 0;
      switch (t) {
        case 0x01: // PING
        case 0x1e: // HANDSHAKE_DONE
          break;
        case 0x02: // ACK
        case 0x03: { // ACK_ECN
          if ((n = skipVarints(b, p, end, 2)) < 0) return; // largest acknowledged, ack delay
          const count = varint(b, n, end);
          if (count < 0) return;
          p = n + vLen;
          if ((p = skipVarints(b, p, end, 1)) < 0) return; // first range
          if (count > (end - p) / 2) return;
          if ((p = skipVarints(b, p, end, 2 * count)) < 0) return;
          if (t === 0x03 && (p = skipVarints(b, p, end, 3)) < 0) return;
          break;
        }
        case 0x04: // RESET_STREAM
          if ((p = skipVarints(b, p, end, 3)) < 0) return;
          break;
        case 0x05: // STOP_SENDING
        case 0x11: // MAX_STREAM_DATA
        case 0x15: // STREAM_DATA_BLOCKED
          if ((p = skipVarints(b, p, end, 2)) < 0) return;
          break;
        case 0x06: { // CRYPTO
          const offset = varint(b, p, end);
          if (offset < 0) return;
          p += vLen;
          const len = varint(b, p, end);
          if (len < 0) return;
          p += vLen;
          if (p + len > end) return;
          crypto.add(b, p, len, offset);
          p += len;
          break;
        }
        case 0x07: { // NEW_TOKEN
          const len = varint(b, p, end);
          if (len < 0 || p + vLen + len > end) return;
          p += vLen + len;
          break;
        }
        case 0x10: // MAX_DATA
        case 0x12: // MAX_STREAMS
        case 0x13:
        case 0x14: // DATA_BLOCKED
        case 0x16: // STREAMS_BLOCKED
        case 0x17:
        case 0x19: // RETIRE_CONNECTION_ID
          if ((p = skipVarints(b, p, end, 1)) < 0) return;
          break;
        case 0x18: { // NEW_CONNECTION_ID
          if ((p = skipVarints(b, p, end, 2)) < 0 || p >= end) return;
          const l = b[p];
          p += 1 + l + 16;
          if (l > 20 || p > end) return;
          break;
        }
        case 0x1a: // PATH_CHALLENGE
        case 0x1b: // PATH_RESPONSE
          p += 8;
          if (p > end) return;
          break;
        case 0x1c: // CONNECTION_CLOSE (transport)
        case 0x1d: { // CONNECTION_CLOSE (application)
          if ((p = skipVarints(b, p, end, t === 0x1c ? 2 : 1)) < 0) return;
          const len = varint(b, p, end);
          if (len < 0 || p + vLen + len > end) return;
          p += vLen + len;
          break;
        }
        case 0x30: // DATAGRAM without length: rest of the packet
          return;
        case 0x31: { // DATAGRAM
          const len = varint(b, p, end);
          if (len < 0 || p + vLen + len > end) return;
          p += vLen + len;
          break;
        }
        default:
          if (t >= 0x08 && t <= 0x0f) { // STREAM
            if ((p = skipVarints(b, p, end, 1 + ((t & 4) !== 0 ? 1 : 0))) < 0) return;
            if ((t & 2) === 0) return;
            const len = varint(b, p, end);
            if (len < 0 || p + vLen + len > end) return;
            p += vLen + len;
            break;
          }
          return; // unknown frame type: its length is unknown
      }
    }
  }

  /** Q050/T050/T051 Initial payloads: padding (0x00), PING (0x07) and CRYPTO (0x08, varint offset and length). */
  private googleFrames(b: Uint8Array, p: number, end: number, crypto: CryptoReassembler): void {
    while (p < end) {
      const t = b[p++];
      if (t === 0x00 || t === 0x07) continue;
      if (t !== 0x08) return;
      const offset = varint(b, p, end);
      if (offset < 0) return;
      p += vLen;
      const len = varint(b, p, end);
      if (len < 0) return;
      p += vLen;
      if (p + len > end) return;
      crypto.add(b, p, len, offset);
      p += len;
    }
  }

  /** Google QUIC before Q046: clear-text CHLO in stream 1 after the public header and a 12-byte hash. */
  private gquicPublic(buf: Uint8Array, off: number, end: number): void {
    const b0 = buf[off];
    if ((b0 & 0x80) !== 0 || (b0 & 0x01) === 0 || (b0 & 0x08) === 0 || end - off < 14) return;
    const v = u32(buf, off + 9);
    if (!isGoogleVersion(v)) return;
    const n = googleNumber(v);
    const pnLen = GQUIC_PN_LEN[(b0 >> 4) & 3];
    if (this.pnLength === null) this.pnLength = pnLen;
    let p = off + 13 + pnLen + 12;
    if (n <= 33) p++; // private flags
    this.gquicFrames(buf, p, end, n);
  }

  /** Q046: IETF-style long header with both CID lengths in one byte, 12-byte hash, clear-text frames. */
  private gquicQ046(buf: Uint8Array, h: QuicHeader): void {
    const pnLen = (h.firstByte & 3) + 1;
    if (this.pnLength === null) this.pnLength = pnLen;
    this.gquicFrames(buf, (h.pnOff < 0 ? h.scidOff + h.scidLen : h.pnOff) + pnLen + 12, h.end, 46);
  }

  private gquicFrames(b: Uint8Array, p: number, end: number, ver: number): void {
    const cl = this.cl;
    if (cl === null || cl.done) return;
    const crypto = cl.crypto ??= new CryptoReassembler(CryptoMessage.CHLO);
    const le = ver < 39;
    while (p < end) {
      const t = b[p++];
      if ((t & 0x80) !== 0) {
        // STREAM: 1 F D OOO SS
        const sidLen = (t & 3) + 1;
        const ol = (t >> 2) & 7;
        const offLen = ol === 0 ? 0 : ol + 1;
        if (p + sidLen + offLen > end) return;
        const sid = readUint(b, p, sidLen, le);
        p += sidLen;
        const offset = readUint(b, p, offLen, le);
        p += offLen;
        let len = end - p;
        if ((t & 0x20) !== 0) {
          if (p + 2 > end) return;
          len = le ? b[p] | (b[p + 1] << 8) : (b[p] << 8) | b[p + 1];
          p += 2;
        }
        if (p + len > end) len = end - p;
        if (sid === 1) crypto.add(b, p, len, offset);
        p += len;
      } else if (t === 0x07) { // PING
        continue;
      } else if (t === 0x06) { // STOP_WAITING: least unacked delta (packet number length; assume the header's)
        p += this.pnLength ?? 1;
      } else {
        break; // padding (0x00), ACK (0x40-0x7f) and the rest: stop
      }
    }
    this.checkClient(cl);
  }

  private checkClient(cl: Side): void {
    const c = cl.crypto;
    if (c === null) return;
    const msg = c.message();
    if (msg !== null) {
      if (c.kind === CryptoMessage.TLS) this.clientHello = msg;
      else this.chlo = parseChlo(msg, 0, msg.length);
      cl.finish();
    } else if (c.failed) {
      cl.finish();
    } else if (c.kind === CryptoMessage.CHLO && this.chlo === null) {
      // A CHLO longer than its packets so far still gives the tags that are in.
      const prefix = c.peek();
      if (prefix !== null && prefix.length >= 8) {
        const info = parseChlo(prefix, 0, prefix.length);
        if (info !== null && info.sni !== null) this.chlo = info;
      }
    }
    if (cl.done && (this.gquic || this.version === GQUIC_Q046 || this.version === GQUIC_Q050)) {
      this.sv?.finish();
    }
    this.updateDone();
  }

  private updateDone(): void {
    const cl = this.cl, sv = this.sv;
    if (cl === null || sv === null || !cl.done) return;
    if (sv.done || this.shortPackets >= SHORT_PACKETS_WAIT) {
      sv.finish();
      this.serverKeyDcid = null;
      this.done = true;
    }
  }
}

function skipVarints(b: Uint8Array, p: number, end: number, count: number): number {
  for (let i = 0; i < count; i++) {
    if (p >= end) return -1;
    p += 1 << (b[p] >> 6);
  }
  return p > end ? -1 : p;
}

function readUint(b: Uint8Array, p: number, n: number, le: boolean): number {
  let v = 0;
  if (le) { for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i]; }
  else for (let i = 0; i < n; i++) v = v * 256 + b[p + i];
  return v;
}

function sameBytes(a: Uint8Array, b: Uint8Array, off: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== b[off + i]) return false;
  return true;
}
