/**
 * TLS handshake analysis: ClientHello/ServerHello parsing, JA3/JA3S (as Wireshark computes them), JA4/JA4_r
 * (FoxIO specification), and a per-flow analyzer that follows both directions of a TCP connection through
 * bounded reassembly, TLS record and handshake-message layers, STARTTLS upgrades and OpenVPN-over-TCP control
 * channels.
 *
 * Nothing here throws on malformed input: a value that cannot be read stays `null` (or the message is flagged
 * `truncated` / `malformed`).
 *
 * @module
 */
import { md5Hex, sha256Hex12 } from "./hash.ts";
import { isHttpConnect } from "./http.ts";
import { byteString } from "./text.ts";
import { withRoom } from "./buffers.ts";
import { DEFAULT_STREAM_CAP, TcpStreamBuffer } from "./tcp_stream.ts";

// ---------------------------------------------------------------------------------------------------------------
// Constants and small helpers
// ---------------------------------------------------------------------------------------------------------------

/**
 * TLS record content types.
 *
 * @example
 * ```ts
 * import { TlsContentType } from "./tls.ts";
 * console.log(TlsContentType.HANDSHAKE); // 22
 * ```
 */
export const TlsContentType = {
  CHANGE_CIPHER_SPEC: 20,
  ALERT: 21,
  HANDSHAKE: 22,
  APPLICATION_DATA: 23,
  HEARTBEAT: 24,
} as const;

/**
 * TLS handshake message types used here.
 *
 * @example
 * ```ts
 * import { TlsHandshakeType } from "./tls.ts";
 * console.log(TlsHandshakeType.CLIENT_HELLO); // 1
 * ```
 */
export const TlsHandshakeType = {
  CLIENT_HELLO: 1,
  SERVER_HELLO: 2,
  NEW_SESSION_TICKET: 4,
  CERTIFICATE: 11,
  SERVER_KEY_EXCHANGE: 12,
  SERVER_HELLO_DONE: 14,
  CLIENT_KEY_EXCHANGE: 16,
  FINISHED: 20,
} as const;

/**
 * Largest record body accepted: 2^14 plus 2048 bytes of expansion.
 *
 * @example
 * ```ts
 * import { MAX_RECORD_LENGTH } from "./tls.ts";
 * console.log(MAX_RECORD_LENGTH); // 18432
 * ```
 */
export const MAX_RECORD_LENGTH = 16384 + 2048;

/** Largest handshake message buffered for parsing (longer ones are parsed truncated). */
const MAX_HANDSHAKE_BUFFER = 65536;
/** A buffered handshake message's first allocation (a ClientHello of a browser fits). */
const HANDSHAKE_BUFFER_START = 2048;

/** ClientHellos / ServerHellos kept per flow (a HelloRetryRequest makes two). */
const MAX_HELLOS = 4;
/** Waiting packets per direction whose payload `handshakePackets` can match to handshake records. */
const MAX_PACKET_RANGES = 256;

/** Keeps a segment's payload range for `handshakePackets` (a repeat of the same range once; MAX_PACKET_RANGES
 * at most). */
function remember(d: DirState, s: number, e: number): void {
  const pr = d.pktRanges ??= [];
  if (pr.length < 2 * MAX_PACKET_RANGES && !hasRange(pr, s, e)) pr.push(s, e);
}

/** True when the flat [start, end) pairs `r` hold exactly [s, e). */
function hasRange(r: number[], s: number, e: number): boolean {
  for (let i = 0; i < r.length; i += 2) if (r[i] === s && r[i + 1] === e) return true;
  return false;
}

/** Adds [s, e) to the flat pairs `r`, joined to the last one when they meet (records come in stream order). */
function addRange(r: number[], s: number, e: number): void {
  const n = r.length;
  if (n > 0 && r[n - 1] === s) r[n - 1] = e;
  else if (n < 2 * MAX_PACKET_RANGES) r.push(s, e);
}

/** The packets of `d` whose payload holds a byte of one of its handshake records. */
function handshakeSegments(d: DirState): number {
  const p = d.pktRanges, h = d.hsRanges;
  if (p === null || h === null) return 0;
  let n = 0;
  for (let i = 0; i < p.length; i += 2) {
    for (let j = 0; j < h.length; j += 2) {
      if (p[i] < h[j + 1] && h[j] < p[i + 1]) {
        n++;
        break;
      }
    }
  }
  return n;
}
/** The PROXY protocol v2 signature (HAProxy's spec, section 2.2). */
const PROXY_V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

/** The length of a whole PROXY protocol v2 header at `p` (signature, version 2, its length), else 0. */
function proxyV2Length(buf: Uint8Array, p: number, end: number): number {
  if (end - p < 16) return 0;
  for (let i = 0; i < 12; i++) if (buf[p + i] !== PROXY_V2_SIGNATURE[i]) return 0;
  if (buf[p + 12] >> 4 !== 2) return 0;
  const n = 16 + ((buf[p + 14] << 8) | buf[p + 15]);
  return end - p >= n ? n : 0;
}

/** 0-RTT records a client direction skips while waiting for the server's answer (a HelloRetryRequest, then a
 * second ClientHello); past them, or once a ServerHello came, the direction is encrypted traffic. */
const MAX_EARLY_RECORDS = 64;
/** Before TLS is seen, how much non-TLS data a direction may carry before it is given up. */
const DETECT_MAX_CHUNKS = 16;
const DETECT_MAX_LINES = 64;
const DETECT_MAX_BYTES = 65536;
const MAX_TEXT_LINE = 4096;
/** Bytes of a text line looked at for STARTTLS commands and replies. */
const LINE_PREFIX = 80;
/** OpenVPN-over-TCP packet size limit. */
const MAX_OPENVPN_PACKET = 4096;
/** OpenVPN over UDP: out-of-order control packets kept per direction. */
const MAX_OPENVPN_PENDING = 32;

const HANDSHAKE_TYPE_VALID = (() => {
  const t = new Uint8Array(256);
  for (const x of [0, 1, 2, 3, 4, 5, 6, 8, 11, 12, 13, 14, 15, 16, 20, 21, 22, 23, 24, 25, 67, 254]) t[x] = 1;
  return t;
})();

/** SHA-256("HelloRetryRequest"): the ServerHello.random of a HelloRetryRequest. */
const HRR_RANDOM = new Uint8Array(
  "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c".match(/../g)!.map((h) =>
    parseInt(h, 16)
  ),
);

/**
 * Whether the 32 bytes at `buf[off]` are a HelloRetryRequest's ServerHello.random (RFC 8446 section 4.1.3).
 *
 * @example
 * ```ts
 * import { isHelloRetryRandom } from "./tls.ts";
 * console.log(isHelloRetryRandom(new Uint8Array(32), 0)); // false
 * ```
 */
export function isHelloRetryRandom(buf: Uint8Array, off: number): boolean {
  if (off + 32 > buf.length) return false;
  for (let i = 0; i < 32; i++) if (buf[off + i] !== HRR_RANDOM[i]) return false;
  return true;
}

/**
 * True for an RFC 8701 GREASE value (0x0a0a, 0x1a1a, ... 0xfafa).
 *
 * @example
 * ```ts
 * import { isGrease } from "./tls.ts";
 * console.log(isGrease(0x3a3a), isGrease(0x1301)); // true false
 * ```
 */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v & 0xff) === ((v >> 8) & 0xff);
}

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u24(b: Uint8Array, p: number): number {
  return (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

/** Bytes as a "binary string", one character (code 0-255) per byte. */
function binaryString(b: Uint8Array, s: number, n: number): string {
  return byteString(b, s, s + n);
}

const HEX2: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Four lowercase hex digits of a 16-bit value. */
function hex4(v: number): string {
  return HEX2[(v >> 8) & 0xff] + HEX2[v & 0xff];
}

const EMPTY_BYTES = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------------------------
// Hello messages
// ---------------------------------------------------------------------------------------------------------------

/**
 * What a ClientHello says. Lists keep GREASE values and the wire order.
 *
 * @example
 * ```ts
 * import { type ClientHelloInfo, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * const ch: ClientHelloInfo | null = parseClientHello(msg, 0, msg.length);
 * console.log(ch?.extensions.length); // 0
 * ```
 */
export interface ClientHelloInfo {
  /** `legacy_version` (client_version). */
  version: number;
  /** Session id bytes (copy, at most 32 bytes in a well-formed hello). */
  sessionId: Uint8Array;
  /** Offered cipher suites. */
  ciphers: number[];
  /** Offered compression methods. */
  compressionMethods: number[];
  /** Extension types in order. */
  extensions: number[];
  /** First host_name of the server_name extension. */
  sni: string | null;
  /** ALPN protocol names, as binary strings (one character per byte; see {@linkcode alpnText}). */
  alpn: string[];
  /** supported_groups (elliptic_curves). */
  supportedGroups: number[];
  /** ec_point_formats. */
  ecPointFormats: number[];
  /** signature_algorithms, in order. */
  signatureAlgorithms: number[];
  /** supported_versions. */
  supportedVersions: number[];
  /** Groups of the key_share entries. */
  keyShareGroups: number[];
  /** session_ticket (35), pre_shared_key (41), early_data (42), encrypted_client_hello (0xfe0d) present. */
  hasSessionTicket: boolean;
  hasPsk: boolean;
  hasEarlyData: boolean;
  hasEch: boolean;
  /** Handshake body length declared in the message header. */
  length: number;
  /** The message was cut short (fewer bytes than declared). */
  truncated: boolean;
  /** A length field inside the message is inconsistent. */
  malformed: boolean;
}

/**
 * What a ServerHello (or HelloRetryRequest) says.
 *
 * @example
 * ```ts
 * import { parseServerHello, type ServerHelloInfo } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(1), 0, 0x13, 0x01, 0, 0, 6, 0, 43, 0, 2, 3, 4];
 * const msg = new Uint8Array([2, 0, 0, body.length, ...body]);
 * const sh: ServerHelloInfo | null = parseServerHello(msg, 0, msg.length);
 * console.log(sh?.selectedVersion); // 772
 * ```
 */
export interface ServerHelloInfo {
  /** `legacy_version` (server_version). */
  version: number;
  /** Session id bytes (copy). */
  sessionId: Uint8Array;
  /** Selected cipher suite. */
  cipherSuite: number;
  /** Selected compression method. */
  compressionMethod: number;
  /** Extension types in order. */
  extensions: number[];
  /** supported_versions selection (TLS 1.3), or null. */
  selectedVersion: number | null;
  /** Selected ALPN protocol (binary string), or null. */
  alpn: string | null;
  /** key_share group and key_exchange length in bytes (null when absent; a HelloRetryRequest has no key). */
  keyShareGroup: number | null;
  keyShareLength: number | null;
  /** pre_shared_key extension present (TLS 1.3 resumption accepted). */
  hasPsk: boolean;
  /** session_ticket extension present. */
  hasSessionTicket: boolean;
  /** This is a HelloRetryRequest. */
  isHelloRetryRequest: boolean;
  /** Handshake body length declared in the message header. */
  length: number;
  truncated: boolean;
  malformed: boolean;
}

function newClientHello(): ClientHelloInfo {
  return {
    version: 0,
    sessionId: EMPTY_BYTES,
    ciphers: [],
    compressionMethods: [],
    extensions: [],
    sni: null,
    alpn: [],
    supportedGroups: [],
    ecPointFormats: [],
    signatureAlgorithms: [],
    supportedVersions: [],
    keyShareGroups: [],
    hasSessionTicket: false,
    hasPsk: false,
    hasEarlyData: false,
    hasEch: false,
    length: 0,
    truncated: false,
    malformed: false,
  };
}

function newServerHello(): ServerHelloInfo {
  return {
    version: 0,
    sessionId: EMPTY_BYTES,
    cipherSuite: 0,
    compressionMethod: 0,
    extensions: [],
    selectedVersion: null,
    alpn: null,
    keyShareGroup: null,
    keyShareLength: null,
    hasPsk: false,
    hasSessionTicket: false,
    isHelloRetryRequest: false,
    length: 0,
    truncated: false,
    malformed: false,
  };
}

/** Reads a list of 16-bit values from `[s, e)`, into `out`; returns false when the length is odd. */
function readU16List(b: Uint8Array, s: number, e: number, out: number[]): boolean {
  let p = s;
  while (p + 2 <= e) {
    out.push(u16(b, p));
    p += 2;
  }
  return p === e;
}

/** Bounds of a message: returns [start of body, end] clamped to the bytes given, and whether it was cut. */
function messageBounds(buf: Uint8Array, off: number, len: number): [number, number, number, boolean] | null {
  if (!(off >= 0) || !(len > 0)) return null;
  const avail = Math.min(len, buf.length - off);
  if (avail < 4) return null;
  const declared = u24(buf, off + 1);
  let end = off + 4 + declared;
  let truncated = false;
  if (declared > avail - 4) {
    end = off + avail;
    truncated = true;
  }
  return [off + 4, end, declared, truncated];
}

/**
 * Parses a ClientHello handshake message. `off` points at the handshake header (type 1) and `len` is the
 * number of bytes available from there (header included). Independent of the record layer: QUIC CRYPTO data
 * can be passed as is. Returns null when the bytes are not a ClientHello or too short to hold its fixed part;
 * a message cut short or with inconsistent inner lengths is still parsed as far as possible and flagged.
 *
 * @example
 * ```ts
 * import { parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * const ch = parseClientHello(msg, 0, msg.length);
 * console.log(ch?.version, ch?.ciphers); // 771 [ 4865 ]
 * ```
 */
export function parseClientHello(buf: Uint8Array, off: number, len: number): ClientHelloInfo | null {
  const bounds = messageBounds(buf, off, len);
  if (bounds === null || buf[off] !== TlsHandshakeType.CLIENT_HELLO) return null;
  const [start, end, declared, truncated] = bounds;
  let p = start;
  if (p + 35 > end) return null;
  const ch = newClientHello();
  ch.length = declared;
  ch.truncated = truncated;
  ch.version = u16(buf, p);
  p += 34;
  const sidLen = buf[p++];
  if (p + sidLen > end) {
    ch.malformed = !truncated;
    ch.truncated = true;
    return ch;
  }
  ch.sessionId = buf.slice(p, p + sidLen);
  p += sidLen;
  if (p + 2 > end) {
    ch.truncated = true;
    return ch;
  }
  const cipherLen = u16(buf, p);
  p += 2;
  let cEnd = p + cipherLen;
  if (cEnd > end) {
    cEnd = end;
    ch.malformed = !truncated;
    ch.truncated = true;
  }
  if (!readU16List(buf, p, cEnd, ch.ciphers)) ch.malformed = true;
  p = cEnd;
  if (p >= end) {
    ch.truncated = true; // compression methods are missing
    return ch;
  }
  const compLen = buf[p++];
  if (p + compLen > end) {
    for (let i = p; i < end; i++) ch.compressionMethods.push(buf[i]);
    ch.malformed = !truncated;
    ch.truncated = true;
    return ch;
  }
  for (let i = 0; i < compLen; i++) ch.compressionMethods.push(buf[p + i]);
  p += compLen;
  if (p + 2 > end) {
    if (p < end) ch.malformed = true;
    return ch; // no extensions (SSL 3.0 style hello) or a cut one
  }
  parseHelloExtensions(buf, p, end, truncated, ch, null);
  return ch;
}

/**
 * Parses a ServerHello handshake message (also a HelloRetryRequest). `off` points at the handshake header
 * (type 2) and `len` is the number of bytes available from there. Returns null when the bytes are not a
 * ServerHello or too short to hold version, random, session id and cipher suite.
 *
 * @example
 * ```ts
 * import { parseServerHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(1), 0, 0xc0, 0x2f, 0, 0, 5, 0xff, 0x01, 0, 1, 0];
 * const msg = new Uint8Array([2, 0, 0, body.length, ...body]);
 * console.log(parseServerHello(msg, 0, msg.length)?.cipherSuite); // 49199
 * ```
 */
export function parseServerHello(buf: Uint8Array, off: number, len: number): ServerHelloInfo | null {
  const bounds = messageBounds(buf, off, len);
  if (bounds === null || buf[off] !== TlsHandshakeType.SERVER_HELLO) return null;
  const [start, end, declared, truncated] = bounds;
  let p = start;
  if (p + 35 > end) return null;
  const sh = newServerHello();
  sh.length = declared;
  sh.truncated = truncated;
  sh.version = u16(buf, p);
  sh.isHelloRetryRequest = isHelloRetryRandom(buf, p + 2);
  p += 34;
  const sidLen = buf[p++];
  if (p + sidLen + 2 > end) return null;
  sh.sessionId = buf.slice(p, p + sidLen);
  p += sidLen;
  sh.cipherSuite = u16(buf, p);
  p += 2;
  if (p >= end) {
    sh.truncated = true;
    return sh;
  }
  sh.compressionMethod = buf[p++];
  if (p + 2 > end) {
    if (p < end) sh.malformed = true;
    return sh;
  }
  parseHelloExtensions(buf, p, end, truncated, null, sh);
  return sh;
}

/** Walks the extensions block at `p` (its 2-byte length first) into `ch` or `sh`. */
function parseHelloExtensions(
  buf: Uint8Array,
  p: number,
  end: number,
  truncated: boolean,
  ch: ClientHelloInfo | null,
  sh: ServerHelloInfo | null,
): void {
  const info = (ch ?? sh) as ClientHelloInfo | ServerHelloInfo;
  const extLen = u16(buf, p);
  p += 2;
  let extEnd = p + extLen;
  if (extEnd > end) {
    extEnd = end;
    info.malformed = !truncated;
    info.truncated = true;
  } else if (extEnd < end) {
    info.malformed = true;
  }
  while (extEnd - p >= 4) {
    const type = u16(buf, p);
    const n = u16(buf, p + 2);
    p += 4;
    let e = p + n;
    if (e > extEnd) {
      e = extEnd;
      info.malformed = !truncated;
      info.truncated = info.truncated || truncated;
    }
    info.extensions.push(type);
    if (ch !== null) clientExtension(buf, p, e, type, ch);
    else if (sh !== null) serverExtension(buf, p, e, type, sh);
    p = e;
  }
  if (p < extEnd) info.malformed = true;
}

function clientExtension(b: Uint8Array, s: number, e: number, type: number, ch: ClientHelloInfo): void {
  switch (type) {
    case 0: { // server_name
      if (e - s < 2) return;
      let q = s + 2;
      const qe = Math.min(e, q + u16(b, s));
      while (q + 3 <= qe) {
        const t = b[q];
        const n = u16(b, q + 1);
        q += 3;
        if (q + n > qe) break;
        if (t === 0 && ch.sni === null) ch.sni = binaryString(b, q, n);
        q += n;
      }
      return;
    }
    case 10: // supported_groups
      if (e - s >= 2) readU16List(b, s + 2, Math.min(e, s + 2 + u16(b, s)), ch.supportedGroups);
      return;
    case 11: { // ec_point_formats
      if (e - s < 1) return;
      const qe = Math.min(e, s + 1 + b[s]);
      for (let q = s + 1; q < qe; q++) ch.ecPointFormats.push(b[q]);
      return;
    }
    case 13: // signature_algorithms
      if (e - s >= 2) readU16List(b, s + 2, Math.min(e, s + 2 + u16(b, s)), ch.signatureAlgorithms);
      return;
    case 16: { // application_layer_protocol_negotiation
      if (e - s < 2) return;
      let q = s + 2;
      const qe = Math.min(e, q + u16(b, s));
      while (q < qe) {
        const n = b[q++];
        if (q + n > qe) break;
        ch.alpn.push(binaryString(b, q, n));
        q += n;
      }
      return;
    }
    case 35:
      ch.hasSessionTicket = true;
      return;
    case 41:
      ch.hasPsk = true;
      return;
    case 42:
      ch.hasEarlyData = true;
      return;
    case 43: // supported_versions
      if (e - s >= 1) readU16List(b, s + 1, Math.min(e, s + 1 + b[s]), ch.supportedVersions);
      return;
    case 51: { // key_share
      if (e - s < 2) return;
      let q = s + 2;
      const qe = Math.min(e, q + u16(b, s));
      while (q + 4 <= qe) {
        ch.keyShareGroups.push(u16(b, q));
        q += 4 + u16(b, q + 2);
      }
      return;
    }
    case 0xfe0d:
      ch.hasEch = true;
      return;
  }
}

function serverExtension(b: Uint8Array, s: number, e: number, type: number, sh: ServerHelloInfo): void {
  switch (type) {
    case 16: { // ALPN: a list holding the selected protocol
      if (e - s < 3) return;
      const n = b[s + 2];
      if (s + 3 + n <= e) sh.alpn = binaryString(b, s + 3, n);
      return;
    }
    case 35:
      sh.hasSessionTicket = true;
      return;
    case 41:
      sh.hasPsk = true;
      return;
    case 43:
      if (e - s >= 2) sh.selectedVersion = u16(b, s);
      return;
    case 51:
      if (e - s >= 2) sh.keyShareGroup = u16(b, s);
      if (e - s >= 4) sh.keyShareLength = u16(b, s + 2);
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------------------------------------------------

/** The values of `list` in decimal joined by "-", GREASE values left out when `skipGrease`. */
function joinDecimal(list: readonly number[], skipGrease: boolean): string {
  let s = "";
  let first = true;
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (skipGrease && isGrease(v)) continue;
    s += first ? "" + v : "-" + v;
    first = false;
  }
  return s;
}

/**
 * The JA3 string, as Wireshark builds `tls.handshake.ja3_full`: client version, ciphers, extensions,
 * supported groups, EC point formats, in decimal, GREASE values left out.
 *
 * @example
 * ```ts
 * import { ja3String, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 4, 0x0a, 0x0a, 0xc0, 0x2f, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(ja3String(parseClientHello(msg, 0, msg.length)!)); // "771,49199,,,"
 * ```
 */
export function ja3String(ch: ClientHelloInfo): string {
  return ch.version + "," + joinDecimal(ch.ciphers, true) + "," + joinDecimal(ch.extensions, true) + "," +
    joinDecimal(ch.supportedGroups, true) + "," + joinDecimal(ch.ecPointFormats, false);
}

/**
 * MD5 of {@linkcode ja3String}.
 *
 * @example
 * ```ts
 * import { ja3Hash, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0xc0, 0x2f, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(ja3Hash(parseClientHello(msg, 0, msg.length)!).length); // 32
 * ```
 */
export function ja3Hash(ch: ClientHelloInfo): string {
  return md5Hex(ja3String(ch));
}

/**
 * The JA3S string as Wireshark builds `tls.handshake.ja3s_full`: server version, cipher, extensions (decimal,
 * GREASE left out).
 *
 * @example
 * ```ts
 * import { ja3sString, parseServerHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(1), 0, 0xc0, 0x2f, 0, 0, 5, 0xff, 0x01, 0, 1, 0];
 * const msg = new Uint8Array([2, 0, 0, body.length, ...body]);
 * console.log(ja3sString(parseServerHello(msg, 0, msg.length)!)); // "771,49199,65281"
 * ```
 */
export function ja3sString(sh: ServerHelloInfo): string {
  return sh.version + "," + sh.cipherSuite + "," + joinDecimal(sh.extensions, true);
}

/**
 * MD5 of {@linkcode ja3sString}.
 *
 * @example
 * ```ts
 * import { ja3sHash, parseServerHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(1), 0, 0xc0, 0x2f, 0];
 * const msg = new Uint8Array([2, 0, 0, body.length, ...body]);
 * console.log(ja3sHash(parseServerHello(msg, 0, msg.length)!).length); // 32
 * ```
 */
export function ja3sHash(sh: ServerHelloInfo): string {
  return md5Hex(ja3sString(sh));
}

const JA4_VERSIONS: Record<number, string> = {
  0x0304: "13",
  0x0303: "12",
  0x0302: "11",
  0x0301: "10",
  0x0300: "s3",
  0x0002: "s2",
  0xfeff: "d1",
  0xfefd: "d2",
  0xfefc: "d3",
};

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** JA4's two ALPN characters from the first ALPN value (binary string). */
function ja4Alpn(first: string | undefined): string {
  if (first === undefined || first.length === 0) return "00";
  const a = first.charCodeAt(0);
  const z = first.charCodeAt(first.length - 1);
  if (isAlnum(a) && isAlnum(z)) return String.fromCharCode(a, z);
  // Non-alphanumeric: first and last characters of the hex of the whole value.
  return (a >> 4).toString(16) + (z & 15).toString(16);
}

/** Scratch list for sorting (reused: fingerprints are computed one at a time). */
const sortScratch: number[] = [];

/**
 * The non-GREASE values of `list` (without 0 and 16 when `dropSniAlpn`), sorted, as 4-hex-digit strings joined by
 * ",". Fixed-width lowercase hex sorts like the numbers, so the numbers are sorted. Returns the count in `lastCount`.
 */
function sortedHexList(list: readonly number[], dropSniAlpn: boolean): string {
  const a = sortScratch;
  a.length = 0;
  for (let i = 0; i < list.length; i++) {
    const v = list[i];
    if (isGrease(v) || (dropSniAlpn && (v === 0 || v === 16))) continue;
    // Insertion sort: lists are short.
    let j = a.length;
    a.push(v);
    while (j > 0 && a[j - 1] > v) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = v;
  }
  lastCount = a.length;
  let s = "";
  for (let i = 0; i < a.length; i++) s += i === 0 ? hex4(a[i]) : "," + hex4(a[i]);
  return s;
}
let lastCount = 0;

/** The three JA4 parts, unhashed. */
function ja4Parts(
  ch: ClientHelloInfo,
  transport: "t" | "q" | "d",
): [string, string, string, boolean, boolean] {
  let nCiphers = 0;
  for (const x of ch.ciphers) if (!isGrease(x)) nCiphers++;
  let nExts = 0;
  let hasVersions = false;
  let hasSni = false;
  for (const x of ch.extensions) {
    if (isGrease(x)) continue;
    nExts++;
    if (x === 43) hasVersions = true;
    else if (x === 0) hasSni = true;
  }
  let v = ch.version;
  if (hasVersions) {
    v = -1;
    for (const x of ch.supportedVersions) if (!isGrease(x) && x > v) v = x;
  }
  const ver = JA4_VERSIONS[v] ?? "00";
  const nc = Math.min(99, nCiphers);
  const ne = Math.min(99, nExts);
  const a = transport + ver + (hasSni ? "d" : "i") + (nc < 10 ? "0" + nc : "" + nc) +
    (ne < 10 ? "0" + ne : "" + ne) + ja4Alpn(ch.alpn[0]);
  const b = sortedHexList(ch.ciphers, false);
  let c = sortedHexList(ch.extensions, true);
  const nSorted = lastCount;
  let first = true;
  for (const x of ch.signatureAlgorithms) {
    if (isGrease(x)) continue;
    c += (first ? "_" : ",") + hex4(x);
    first = false;
  }
  return [a, b, c, nCiphers > 0, nSorted > 0];
}

/**
 * JA4 and JA4_r of a ClientHello at once (the same as {@linkcode ja4} and {@linkcode ja4Raw}, built once).
 *
 * @example
 * ```ts
 * import { ja4Pair, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(ja4Pair(parseClientHello(msg, 0, msg.length)!, "t")[1]); // "t12i010000_1301_"
 * ```
 */
export function ja4Pair(ch: ClientHelloInfo, transport: "t" | "q" | "d"): [string, string] {
  const [a, b, c, hasCiphers, hasExts] = ja4Parts(ch, transport);
  return [
    a + "_" + (hasCiphers ? sha256Hex12(b) : "000000000000") + "_" +
    (hasExts ? sha256Hex12(c) : "000000000000"),
    a + "_" + b + "_" + c,
  ];
}

/**
 * JA4 fingerprint of a ClientHello (FoxIO specification): `t13d1516h2_8daaf6152771_e5627efa2ab1`.
 * `transport` is "t" (TLS over TCP), "q" (QUIC) or "d" (DTLS).
 *
 * @example
 * ```ts
 * import { ja4, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(ja4(parseClientHello(msg, 0, msg.length)!, "t")); // "t12i010000_..._000000000000"
 * ```
 */
export function ja4(ch: ClientHelloInfo, transport: "t" | "q" | "d"): string {
  const [a, b, c, hasCiphers, hasExts] = ja4Parts(ch, transport);
  return a + "_" + (hasCiphers ? sha256Hex12(b) : "000000000000") + "_" +
    (hasExts ? sha256Hex12(c) : "000000000000");
}

/**
 * JA4_r, the raw (unhashed) JA4: sorted cipher list and sorted extension list plus signature algorithms.
 *
 * @example
 * ```ts
 * import { ja4Raw, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(ja4Raw(parseClientHello(msg, 0, msg.length)!, "t")); // "t12i010000_1301_"
 * ```
 */
export function ja4Raw(ch: ClientHelloInfo, transport: "t" | "q" | "d"): string {
  const [a, b, c] = ja4Parts(ch, transport);
  return a + "_" + b + "_" + c;
}

/**
 * The fingerprints of a ClientHello: JA3 string and hash (as {@linkcode ja3String} / {@linkcode ja3Hash}) and
 * JA4 / JA4_r (as {@linkcode ja4} / {@linkcode ja4Raw}).
 */
export interface ClientHelloPrints {
  ja3String: string;
  ja3Hash: string;
  ja4: string;
  ja4r: string;
}

/** A remembered result and the exact inputs it was computed from. */
interface PrintsEntry {
  key: number[];
  prints: ClientHelloPrints;
}

/** Most remembered ClientHello fingerprints (the table is emptied when full). */
const PRINTS_MAX = 1024;
/** Largest hello remembered, in key values (bounds the table's memory: ciphers, extensions and lists). */
const PRINTS_LONGEST_KEY = 512;
/**
 * Most hellos remembered under one hash: the hash is FNV-1a, public, and hellos crafted to share it (1,100
 * distinct ones, cycled) made every lookup compare against a full table's worth of 512-value keys.
 */
const PRINTS_BUCKET_MAX = 8;
const printsMemo = new Map<number, PrintsEntry[]>();
let printsCount = 0;
const keyScratch: number[] = [];

function pushList(key: number[], list: readonly number[]): void {
  for (let i = 0; i < list.length; i++) key.push(list[i]);
  key.push(-1);
}

/**
 * JA3 and JA4 of a ClientHello in one call. They depend only on the transport, the version and the lists of
 * ciphers, extensions, groups, point formats, signature algorithms, supported versions and the first ALPN value;
 * hellos of one client stack repeat these exactly, so results are remembered (bounded), keyed by those values
 * and compared in full, and the strings and hashes are built once per distinct hello.
 *
 * @example
 * ```ts
 * import { clientHelloPrints, parseClientHello } from "./tls.ts";
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const msg = new Uint8Array([1, 0, 0, body.length, ...body]);
 * console.log(clientHelloPrints(parseClientHello(msg, 0, msg.length)!, "t").ja4r); // "t12i010000_1301_"
 * ```
 */
export function clientHelloPrints(ch: ClientHelloInfo, transport: "t" | "q" | "d"): ClientHelloPrints {
  const key = keyScratch;
  key.length = 0;
  key.push(transport === "t" ? 0 : transport === "q" ? 1 : 2, ch.version);
  pushList(key, ch.ciphers);
  pushList(key, ch.extensions);
  pushList(key, ch.supportedGroups);
  pushList(key, ch.ecPointFormats);
  pushList(key, ch.signatureAlgorithms);
  pushList(key, ch.supportedVersions);
  const alpn0 = ch.alpn.length > 0 ? ch.alpn[0] : null;
  if (alpn0 === null) key.push(-2);
  else for (let i = 0; i < alpn0.length; i++) key.push(alpn0.charCodeAt(i));
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i], 0x01000193);
  let bucket = printsMemo.get(h);
  if (bucket !== undefined) {
    outer: for (const e of bucket) {
      const k = e.key;
      if (k.length !== key.length) continue;
      for (let i = 0; i < k.length; i++) if (k[i] !== key[i]) continue outer;
      return e.prints;
    }
  }
  const j3 = ja3String(ch);
  const [j4, j4r] = ja4Pair(ch, transport);
  const prints: ClientHelloPrints = { ja3String: j3, ja3Hash: md5Hex(j3), ja4: j4, ja4r: j4r };
  // An unusually large hello, and one whose hash too many others share, is not remembered.
  if (key.length > PRINTS_LONGEST_KEY || (bucket !== undefined && bucket.length >= PRINTS_BUCKET_MAX)) {
    return prints;
  }
  if (printsCount >= PRINTS_MAX) {
    printsMemo.clear();
    printsCount = 0;
    bucket = undefined;
  }
  if (bucket === undefined) printsMemo.set(h, bucket = []);
  bucket.push({ key: key.slice(), prints });
  printsCount++;
  return prints;
}

/**
 * Decodes a binary-string ALPN value (as stored in {@linkcode ClientHelloInfo.alpn}) as UTF-8 for display.
 *
 * @example
 * ```ts
 * import { alpnText } from "./tls.ts";
 * console.log(alpnText("h2")); // "h2"
 * ```
 */
export function alpnText(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return s; // ASCII is its own UTF-8
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return UTF8.decode(b);
}

const UTF8 = new TextDecoder("utf-8");

/**
 * The version of a session: the ServerHello's supported_versions selection, else the ServerHello version; without
 * a ServerHello, the highest (non-GREASE) version the ClientHello offers in supported_versions, else its
 * legacy version.
 *
 * @example
 * ```ts
 * import { negotiatedVersion } from "./tls.ts";
 * console.log(negotiatedVersion(null, null)); // null
 * ```
 */
export function negotiatedVersion(ch: ClientHelloInfo | null, sh: ServerHelloInfo | null): number | null {
  if (sh !== null) return sh.selectedVersion ?? sh.version;
  if (ch === null) return null;
  let v = -1;
  for (const x of ch.supportedVersions) if (!isGrease(x) && x > v) v = x;
  return v >= 0 ? v : ch.version;
}

/**
 * Display name of a TLS version number ("TLS 1.2", "SSL 3.0"), or null when unknown.
 *
 * @example
 * ```ts
 * import { tlsVersionName } from "./tls.ts";
 * console.log(tlsVersionName(0x0303)); // "TLS 1.2"
 * ```
 */
export function tlsVersionName(v: number | null): string | null {
  switch (v) {
    case 0x0300:
      return "SSL 3.0";
    case 0x0301:
      return "TLS 1.0";
    case 0x0302:
      return "TLS 1.1";
    case 0x0303:
      return "TLS 1.2";
    case 0x0304:
      return "TLS 1.3";
    case 0x0002:
      return "SSL 2.0";
  }
  if (v !== null && ((v >= 0x7f0e && v <= 0x7f1c) || (v & 0xff00) === 0xfb00)) return "TLS 1.3"; // drafts
  return null;
}

const GROUP_NAMES: Record<number, string> = {
  1: "sect163k1",
  2: "sect163r1",
  3: "sect163r2",
  4: "sect193r1",
  5: "sect193r2",
  6: "sect233k1",
  7: "sect233r1",
  8: "sect239k1",
  9: "sect283k1",
  10: "sect283r1",
  11: "sect409k1",
  12: "sect409r1",
  13: "sect571k1",
  14: "sect571r1",
  15: "secp160k1",
  16: "secp160r1",
  17: "secp160r2",
  18: "secp192k1",
  19: "secp192r1",
  20: "secp224k1",
  21: "secp224r1",
  22: "secp256k1",
  23: "secp256r1",
  24: "secp384r1",
  25: "secp521r1",
  26: "brainpoolP256r1",
  27: "brainpoolP384r1",
  28: "brainpoolP512r1",
  29: "x25519",
  30: "x448",
  31: "brainpoolP256r1tls13",
  32: "brainpoolP384r1tls13",
  33: "brainpoolP512r1tls13",
  34: "GC256A",
  35: "GC256B",
  36: "GC256C",
  37: "GC256D",
  38: "GC512A",
  39: "GC512B",
  40: "GC512C",
  41: "curveSM2",
  256: "ffdhe2048",
  257: "ffdhe3072",
  258: "ffdhe4096",
  259: "ffdhe6144",
  260: "ffdhe8192",
  512: "MLKEM512",
  513: "MLKEM768",
  514: "MLKEM1024",
  0x11eb: "SecP256r1MLKEM768",
  0x11ec: "X25519MLKEM768",
  0x11ed: "SecP384r1MLKEM1024",
  0x6399: "X25519Kyber768Draft00",
  0x639a: "SecP256r1Kyber768Draft00",
  0xff01: "arbitrary_explicit_prime_curves",
  0xff02: "arbitrary_explicit_char2_curves",
};

/**
 * Name of a TLS named group (supported_groups / key_share), or null when unknown.
 *
 * @example
 * ```ts
 * import { tlsGroupName } from "./tls.ts";
 * console.log(tlsGroupName(29)); // "x25519"
 * ```
 */
export function tlsGroupName(g: number | null): string | null {
  if (g === null) return null;
  return GROUP_NAMES[g] ?? (isGrease(g) ? "GREASE" : null);
}

// ---------------------------------------------------------------------------------------------------------------
// Per-flow analyzer
// ---------------------------------------------------------------------------------------------------------------

const MODE_DETECT = 0;
const MODE_TLS = 1;
const MODE_OPENVPN = 2;
const MODE_DONE = 3;

const ROLE_UNKNOWN = 0;
const ROLE_CLIENT = 1;
const ROLE_SERVER = 2;

const PLAIN_NONE = 0;
const PLAIN_SMTP_FTP = 1;
const PLAIN_IMAP = 2;
const PLAIN_POP3 = 3;
/** HTTP/1, told by the client's request line: TLS in it starts after a CONNECT that was not refused. */
const PLAIN_HTTP = 4;

const SYN = 0x02;
const ACK = 0x10;

/** State of one direction. */
class DirState {
  readonly stream: TcpStreamBuffer;
  mode = MODE_DETECT;
  /** The direction's SYN was seen: its bytes are read from the start of its stream. */
  startSeen = false;
  role = ROLE_UNKNOWN;
  // Detection of TLS in a stream that may start with something else.
  detectChunks = 0;
  detectLines = 0;
  detectBytes = 0;
  expectTls = false;
  /**
   * Bytes of a text line still waiting for its LF, taken from earlier segments (they are not kept in the stream
   * buffer; {@linkcode TcpStreamBuffer.held} accounts for them), and the line's first bytes.
   */
  lineLen = 0;
  linePrefix: Uint8Array | null = null;
  // Record layer.
  /** Bytes of a record header split across calls (allocated when one is). */
  recHdr: Uint8Array | null = null;
  recHdrLen = 0;
  recType = 0;
  recLeft = 0;
  /** The rest of the current record is passed over unread: bytes of it were never captured (see `resync`). */
  recSkip = false;
  /** Stream offset of the first byte handed to `consume`, and its offset in that call's buffer. */
  parsePos = 0;
  parseOff = 0;
  /**
   * For `handshakePackets`, in stream offsets: the payload of each packet whose bytes waited in the buffer (one
   * of a repeated range once; a packet read in order is counted at once), and the handshake records read,
   * headers included (adjacent ones joined), as flat [start, end) pairs. Waiting packets are matched to records
   * at the end, so that the count does not depend on the order they came in (a segment waiting behind a hole
   * was counted with the one that filled it).
   */
  pktRanges: number[] | null = null;
  hsRanges: number[] | null = null;
  firstRecordVersion = -1;
  encrypted = false;
  /**
   * After this direction's (TLS <= 1.2) ChangeCipherSpec: record headers are still read, so that its encrypted
   * Finished counts as a handshake packet, and the direction ends with that record.
   */
  afterCcs = false;
  /** After a CCS that may be TLS 1.3's compatibility one: only a ClientHello may follow in clear. */
  ccsTentative = false;
  /** 0-RTT records skipped (see {@linkcode MAX_EARLY_RECORDS}). */
  earlyRecords = 0;
  // Handshake layer.
  /** Bytes of a handshake header split across calls (allocated when one is). */
  hsHdr: Uint8Array | null = null;
  hsHdrLen = 0;
  hsInBody = false;
  /** The message being read lost bytes to a hole (see `resync`): it is passed over to its end. */
  hsLost = false;
  hsType = 0;
  hsLeft = 0;
  hsBuf: Uint8Array | null = null;
  hsBufLen = 0;
  /** Bytes `hsBuf` may grow to: the message's length as its header claims it, within the cap. */
  hsBufCap = 0;
  // Certificate message, parsed as it streams by.
  certActive = false;
  certPhase = 0;
  certAcc = 0;
  certAccN = 0;
  certSkip = 0;
  certCount = 0;
  certTotal = 0;
  certFirst = -1;
  // OpenVPN control channel.
  ovpnNextId = 0;
  /** Bytes of tls-auth (HMAC, packet id, time) after the session id, as the hard reset showed them; -1: unknown. */
  ovpnAuth = -1;
  /** OpenVPN over UDP: control packets that arrived ahead of a missing one, by packet id. */
  ovpnPending: Map<number, Uint8Array> | null = null;

  constructor(cap: number) {
    this.stream = new TcpStreamBuffer(cap);
  }
}

/** The directions of every finished analyzer: idle, never written to. */
const RETIRED_DIRS: [DirState, DirState] = [new DirState(16), new DirState(16)];
RETIRED_DIRS[0].mode = RETIRED_DIRS[1].mode = MODE_DONE;

/**
 * Follows the TLS handshake of one TCP connection. Feed every TCP segment of the flow to
 * {@linkcode TlsFlowAnalyzer.onSegment} until {@linkcode TlsFlowAnalyzer.done} turns true; then read the
 * results. TLS is recognised by content on any port, also after a plain-text STARTTLS exchange
 * (SMTP/IMAP/POP3/FTP), after a SOCKS or HTTP CONNECT preamble, and inside an OpenVPN-over-TCP control channel.
 *
 * @example
 * ```ts
 * import { TlsFlowAnalyzer } from "./tls.ts";
 * const a = new TlsFlowAnalyzer();
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, 0];
 * const rec = new Uint8Array([22, 3, 1, 0, body.length + 4, 1, 0, 0, body.length, ...body]);
 * a.onSegment(0, 1000, rec, 0, rec.length, 0x18);
 * console.log(a.detected, a.clientHello?.ciphers); // true [ 4865 ]
 * ```
 */
export class TlsFlowAnalyzer {
  /** True once nothing more can be learned; stop calling onSegment. */
  done = false;
  /** A TLS record stream was recognised in at least one direction. */
  detected = false;
  /** ClientHellos seen (two after a HelloRetryRequest), at most 4. */
  readonly clientHellos: ClientHelloInfo[] = [];
  /** ServerHellos seen (the first may be a HelloRetryRequest), at most 4. */
  readonly serverHellos: ServerHelloInfo[] = [];
  /** Handshake packets of OpenVPN datagrams, and of the TCP directions retired (see `handshakePackets`). */
  private hsPackets = 0;

  /**
   * Packets that carried bytes of handshake records: of TCP, each segment whose payload holds at least one byte
   * of one (a repeat of the same bytes once), whatever the order segments came in.
   *
   * @example
   * ```ts
   * import { TlsFlowAnalyzer } from "./tls.ts";
   * console.log(new TlsFlowAnalyzer().handshakePackets); // 0
   * ```
   */
  get handshakePackets(): number {
    return this.hsPackets + handshakeSegments(this.dirs[0]) + handshakeSegments(this.dirs[1]);
  }
  /** Alert records seen. */
  alertCount = 0;
  /** Server Certificate message: number of certificates, their total and first lengths (null when not seen). */
  certCount: number | null = null;
  /** Bytes a direction that is not the client's waited for never came, and it went on after them (see
   * `endOfFlow`): a server message may be missing, so the absence of one (a Certificate) says nothing. A gap in
   * the client's bytes hides no server message (a resumed session whose client Finished was not captured is
   * still known to have sent no Certificate). */
  gapSkipped = false;
  certTotalLength: number | null = null;
  certFirstLength: number | null = null;
  /** ServerKeyExchange (TLS <= 1.2): named group (ECDHE) and key size in bits (ECDHE public key or DHE prime). */
  skeGroup: number | null = null;
  skeKeyBits: number | null = null;
  /** The server sent ChangeCipherSpec without a Certificate first (abbreviated TLS <= 1.2 handshake). */
  abbreviatedHandshake = false;
  /** A message of a full handshake (Certificate to ClientKeyExchange) began (see `sessionResumed`). */
  fullHandshakeBegun = false;
  /**
   * The server's ServerHelloDone was seen: a full TLS <= 1.2 handshake, in which the server sent no Certificate
   * when none came before it (a certificate-less cipher: PSK, anonymous).
   */
  fullHandshake = false;
  /** The client's ClientKeyExchange was seen: a full handshake too (the server's side may be missing). */
  private clientKeyExchange = false;
  /** Plain-text protocol upgraded by STARTTLS ("smtp", "imap", "pop3", "ftp"), or null. */
  startTls: string | null = null;
  /** The TLS stream was carried in an OpenVPN-over-TCP control channel. */
  openVpn = false;

  /** The two directions; once done, a shared pair of idle states (the per-direction state is let go). */
  private dirs: [DirState, DirState];
  /** {@linkcode TlsFlowAnalyzer.recordVersion} as it was when the directions were let go, or undefined. */
  private doneRecordVersion: number | null | undefined = undefined;
  private hsTouched = false;
  /** Handshake records were seen in the flow (`hsTouched` is per segment). */
  private hsSeen = false;
  private plain = PLAIN_NONE;
  private plainServerDir = -1;
  private startTlsPending = "";
  private imapTag = "";
  private tls13 = false;

  /** `maxBytes` caps the reassembly buffer of each direction. */
  constructor(maxBytes: number = DEFAULT_STREAM_CAP) {
    this.dirs = [new DirState(maxBytes), new DirState(maxBytes)];
  }

  /** The first ClientHello, or null. */
  get clientHello(): ClientHelloInfo | null {
    return this.clientHellos.length > 0 ? this.clientHellos[0] : null;
  }

  /** The ServerHello that fixed the session (the first that is not a HelloRetryRequest), or null. */
  get serverHello(): ServerHelloInfo | null {
    for (const sh of this.serverHellos) if (!sh.isHelloRetryRequest) return sh;
    return this.serverHellos.length > 0 ? this.serverHellos[0] : null;
  }

  /** Version of the first TLS record of the client (or of any direction when the client's is unknown). */
  get recordVersion(): number | null {
    if (this.doneRecordVersion !== undefined) return this.doneRecordVersion;
    const [a, b] = this.dirs;
    const client = a.role === ROLE_CLIENT ? a : b.role === ROLE_CLIENT ? b : null;
    if (client !== null && client.firstRecordVersion >= 0) return client.firstRecordVersion;
    if (a.firstRecordVersion >= 0) return a.firstRecordVersion;
    return b.firstRecordVersion >= 0 ? b.firstRecordVersion : null;
  }

  /** Bytes of memory held for reassembly: both stream buffers and partially received handshake messages. */
  get memoryBytes(): number {
    let n = 0;
    for (const d of this.dirs) n += d.stream.capacity + (d.hsBuf !== null ? d.hsBuf.length : 0);
    return n;
  }

  /** Negotiated version; see {@linkcode negotiatedVersion}. */
  get version(): number | null {
    return negotiatedVersion(this.clientHello, this.serverHello);
  }

  /** Whether the session was resumed; null when no ServerHello was seen, or it cannot be told (see below). */
  get sessionResumed(): boolean | null {
    const sh = this.serverHello;
    if (sh === null) return null;
    if (this.isTls13Hello(sh)) return sh.hasPsk;
    const ch = this.clientHello;
    if (ch !== null && sh.sessionId.length > 0 && sameBytes(ch.sessionId, sh.sessionId)) return true;
    // A CCS without a Certificate before it says resumed only when no bytes before it went uncaptured (a
    // snapshot length, a loss): the Certificate and ClientKeyExchange may have been in them.
    if (this.abbreviatedHandshake) return this.gapSkipped ? null : true;
    // Neither the server's CCS nor a full handshake's messages were seen (the capture ended, or a snapshot length
    // cut it, after the ServerHello): it cannot be told.
    const full = this.fullHandshake || this.fullHandshakeBegun || this.certCount !== null ||
      this.clientKeyExchange || this.skeGroup !== null || this.skeKeyBits !== null;
    return full ? false : null;
  }

  /** Key exchange group: TLS 1.3 key_share of the ServerHello, else the ServerKeyExchange curve. */
  get keyExchangeGroup(): number | null {
    const sh = this.serverHello;
    if (sh !== null && sh.keyShareGroup !== null) return sh.keyShareGroup;
    return this.skeGroup;
  }

  /** Key exchange size in bits: TLS 1.3 key_share length, else ServerKeyExchange public key (or DH prime). */
  get keyExchangeBits(): number | null {
    const sh = this.serverHello;
    if (sh !== null && sh.keyShareLength !== null) return sh.keyShareLength * 8;
    return this.skeKeyBits;
  }

  /**
   * Feeds one TCP segment: `dir` 0 from the initiator, 1 from the responder; payload `buf[off .. off + len)`;
   * `flags` the TCP flags (a SYN fixes the initial sequence number); `ack` the acknowledgement number, read when
   * `flags` has ACK (it tells whether a gap in the other direction is one its receiver waits for too).
   */
  onSegment(
    dir: number,
    seq: number,
    buf: Uint8Array,
    off: number,
    len: number,
    flags: number,
    ack = 0,
  ): void {
    if (this.done) return;
    if ((flags & ACK) !== 0) this.dirs[dir === 0 ? 1 : 0].stream.noteAck(ack);
    const d = this.dirs[dir === 0 ? 0 : 1];
    if (d.mode === MODE_DONE) return;
    const st = d.stream;
    if ((flags & SYN) !== 0) {
      seq = (seq + 1) >>> 0;
      st.setInitialSeq(seq);
      d.startSeen = true;
    }
    if (!(len > 0)) return;
    if (off < 0 || off + len > buf.length) {
      len = buf.length - off;
      if (!(len > 0)) return;
    }
    this.hsTouched = false;
    const at = st.offsetOf(seq);
    // In order with nothing stored: read the bytes in place. With a text line pending (held), only while the
    // segment fits under the cap the stored line would have left (else it goes through the buffer, as the bytes
    // past the cap are dropped there).
    if (st.isNext(seq) && (st.held === 0 || st.held + len <= st.maxBytes)) {
      d.parsePos = at;
      const n = this.consume(d, dir, buf, off, len);
      st.advanceDirect(seq, n);
      // Its own bytes were read now: it is counted now (unless the same bytes wait to be matched: a segment
      // the buffer refused, sent again).
      const touched = this.hsTouched;
      if (touched && (d.pktRanges === null || !hasRange(d.pktRanges, at, at + len))) this.hsPackets++;
      if (n < len && d.mode !== MODE_DONE) {
        st.push((seq + n) >>> 0, buf, off + n, len - n);
        if (!touched) remember(d, at, at + len);
      }
    } else {
      // Bytes that wait (out of order), or come after waiting ones: matched to the handshake records by stream
      // offset at the end (see handshakePackets). Bytes already read (a retransmission) are not counted again.
      const dropped = st.droppedBytes;
      st.push(seq, buf, off, len);
      // Not when the buffer refused every byte (past its cap, or one disjoint range too many): such a segment
      // is counted when it comes again.
      if (!this.openVpn && at + len > st.consumedBytes && st.droppedBytes - dropped < len) {
        remember(d, at, at + len);
      }
      this.drain(d, dir);
      if (st.hasGap && st.buffered >= (st.maxBytes * 3) >> 2 && !st.gapAwaited) {
        // A hole that does not fill (the receiver had its bytes, or nothing tells): give up on it and
        // resynchronise after it.
        this.resync(d, st.skipGap());
        this.drain(d, dir);
      }
      // OpenVPN over TCP: its control packets' records are not in stream offsets; counted as they are read.
      if (this.hsTouched && this.openVpn) this.hsPackets++;
    }
    if (d.mode !== MODE_DONE && st.available + st.held >= st.maxBytes) d.mode = MODE_DONE; // consumer is stuck
    if (d.mode === MODE_DONE) {
      st.release();
      this.releaseDir(d);
      this.done = this.dirs[0].mode === MODE_DONE && this.dirs[1].mode === MODE_DONE;
      if (this.done) this.retire();
    }
  }

  /** Keeps what the results need from the directions and lets their state go (nothing more is parsed). */
  private retire(): void {
    this.hsPackets += handshakeSegments(this.dirs[0]) + handshakeSegments(this.dirs[1]);
    this.doneRecordVersion = this.recordVersion;
    this.dirs = RETIRED_DIRS;
  }

  private drain(d: DirState, dir: number): void {
    const st = d.stream;
    while (st.available > 0 && d.mode !== MODE_DONE) {
      d.parsePos = st.consumedBytes;
      const n = this.consume(d, dir, st.data, st.offset, st.available);
      if (n <= 0) break;
      st.consume(n);
    }
  }

  private releaseDir(d: DirState): void {
    d.hsBuf = null;
    d.linePrefix = null;
  }

  /**
   * Bytes of the flow that never came: the directions waiting behind a hole (a segment the capture missed) go
   * on after it, as tshark does, so that the records after it (a ServerKeyExchange after a Certificate cut by
   * the hole) are still read. Called at the flow's end, when no retransmission can fill a hole any more.
   *
   * @example
   * ```ts
   * import { TlsFlowAnalyzer } from "./tls.ts";
   * const a = new TlsFlowAnalyzer();
   * a.endOfFlow();
   * console.log(a.detected); // false
   * ```
   */
  endOfFlow(): void {
    if (this.done) return;
    for (let dir = 0; dir < 2; dir++) {
      const d = this.dirs[dir];
      if (d.mode === MODE_DONE) continue;
      const st = d.stream;
      while (st.hasGap && d.mode !== MODE_DONE) {
        this.resync(d, st.skipGap());
        this.drain(d, dir);
      }
    }
  }

  /**
   * Goes on after `skipped` bytes that will not come (see `TcpStreamBuffer.skipGap`). Inside a handshake
   * message, that message is passed over to its end (by its length, across records), and the next one read;
   * elsewhere in a record's body, the rest of that record is; a hole over a record header loses the
   * direction's sync.
   */
  private resync(d: DirState, skipped: number): void {
    d.lineLen = 0; // a partial text line before the gap is dropped with the bytes it was in
    d.stream.held = 0;
    if (skipped > 0 && d.role !== ROLE_CLIENT) this.gapSkipped = true;
    const inRecord = d.mode === MODE_TLS && d.recHdrLen === 0 && d.recLeft > skipped;
    if (
      d.mode === MODE_TLS && d.recHdrLen === 0 && d.recType === TlsContentType.HANDSHAKE && !d.recSkip &&
      d.hsInBody && skipped <= d.recLeft && skipped <= d.hsLeft
    ) {
      // Inside one handshake message (a Certificate), the hole ending in its record or at its end: the message
      // is lost, but its length says where the next one starts, also when it goes on in later records.
      d.recLeft -= skipped;
      d.hsLeft -= skipped;
      d.hsBuf = null;
      d.certActive = false;
      if (d.hsLeft === 0) d.hsInBody = false; // it ended with the hole: the next message comes
      else d.hsLost = true;
      return;
    }
    if (inRecord) {
      d.recLeft -= skipped;
      d.recSkip = true;
    } else d.recLeft = 0;
    d.recHdrLen = 0;
    d.hsHdrLen = 0;
    d.hsInBody = false;
    d.hsLeft = 0;
    d.hsLost = false;
    d.hsBuf = null;
    d.certActive = false;
  }

  /** Consumes bytes according to the direction's mode; returns how many were used. */
  private consume(d: DirState, dir: number, buf: Uint8Array, off: number, len: number): number {
    d.parseOff = off;
    switch (d.mode) {
      case MODE_TLS:
        this.records(d, dir, buf, off, len);
        return len;
      case MODE_DETECT:
        return this.detect(d, dir, buf, off, len);
      case MODE_OPENVPN:
        return this.openvpn(d, dir, buf, off, len);
      default:
        return len;
    }
  }

  // --- Detection ---------------------------------------------------------------------------------------------

  private detect(d: DirState, dir: number, buf: Uint8Array, off: number, len: number): number {
    const end = off + len;
    let p = off;
    while (p < end && d.mode === MODE_DETECT) {
      if (d.lineLen > 0 && p === off && end - p >= 6 && buf[p] === 22 && recordStartOk(buf, p)) {
        // A segment that starts a TLS handshake record ends a text line left without its line feed: the
        // replies that start TLS need not end with one (XMPP's <proceed/>, PostgreSQL's "S").
        this.textLine(d, dir, d.linePrefix!, 0, Math.min(d.lineLen, LINE_PREFIX));
        d.detectBytes += d.lineLen;
        d.lineLen = 0;
        d.stream.held = 0;
        d.detectLines++;
        this.detectLimits(d);
        continue;
      }
      if (d.lineLen > 0) {
        // A text line begun in an earlier segment (its first bytes are in linePrefix).
        const room = MAX_TEXT_LINE - d.lineLen;
        const lim = Math.min(end, p + room);
        let nl = p;
        while (nl < lim && buf[nl] !== 10) nl++;
        if (nl === lim) {
          if (lim - p < room) {
            linePrefixAdd(d, buf, p, lim);
            d.lineLen += lim - p;
            d.stream.held = d.lineLen;
            return lim - off;
          }
          d.detectBytes += MAX_TEXT_LINE;
          p = lim;
        } else {
          linePrefixAdd(d, buf, p, nl + 1);
          const total = d.lineLen + nl + 1 - p;
          this.textLine(d, dir, d.linePrefix!, 0, Math.min(total, LINE_PREFIX));
          d.detectBytes += total;
          p = nl + 1;
        }
        d.lineLen = 0;
        d.stream.held = 0;
        d.detectLines++;
        this.detectLimits(d);
        continue;
      }
      const avail = end - p;
      const b0 = buf[p];
      if (b0 >= 20 && b0 <= 24) {
        const need = b0 === 22 ? 6 : 5;
        if (avail < need) {
          if (avail < 2 || buf[p + 1] === 3) return p - off; // wait for the rest of the header
        } else if (
          // A stream read from its start begins TLS with a handshake record; any record type where the capture
          // began inside the stream (or past a gap), or once the other direction is TLS (a server's first record
          // can be an alert). A MySQL query of 791 bytes (17 03 00 00 03) read as TLS.
          recordStartOk(buf, p, this.detected || !d.startSeen || d.stream.skippedBytes > 0) &&
          // In SMTP, IMAP, POP3 or FTP (told by the server's greeting), TLS starts only where STARTTLS (STLS,
          // AUTH TLS) was accepted, and in HTTP/1 after a CONNECT not refused (its answer can share a segment
          // with a body, unread), or where either may have been, in bytes the capture missed: a ClientHello's
          // bytes in a mail sent in clear after a refusal, or in a request's body, were TLS.
          (this.plain === PLAIN_NONE || d.expectTls || this.startTls !== null || this.detected ||
            this.startTlsPending === "http" || d.stream.skippedBytes > 0)
        ) {
          d.mode = MODE_TLS;
          d.expectTls = false;
          this.records(d, dir, buf, p, end - p);
          return len;
        }
      }
      if ((d.detectBytes === 0 || this.openVpn) && avail >= 16) {
        const auth = openVpnStart(buf, p, avail);
        if (auth >= 0) {
          d.mode = MODE_OPENVPN;
          d.ovpnAuth = auth;
          this.openVpn = true;
          return p - off + this.openvpn(d, dir, buf, p, end - p);
        }
      }
      d.expectTls = false;
      const proxy = b0 === 0x0d ? proxyV2Length(buf, p, end) : 0;
      if (proxy > 0) {
        // A PROXY protocol v2 header (a load balancer's, in front of TLS passed through): the ClientHello after
        // it in the same segment was passed over with it (its CR LF CR LF begins like text lines).
        d.detectBytes += proxy;
        p += proxy;
        continue;
      }
      if (isTextByte(b0)) {
        const lim = Math.min(end, p + MAX_TEXT_LINE);
        let nl = p;
        while (nl < lim && buf[nl] !== 10) nl++;
        if (nl === lim) {
          if (avail < MAX_TEXT_LINE) {
            // Wait for the end of the line. A line starting with a printable byte cannot turn into a TLS record
            // or an OpenVPN packet (whose 2-byte length would exceed its limit): keep only its first bytes and
            // go on from the next segment, in place. (Lines starting with a tab or CR stay in the buffer, where
            // the OpenVPN test is repeated as bytes arrive.)
            if (b0 < 0x20) return p - off;
            linePrefixAdd(d, buf, p, end);
            d.lineLen = avail;
            d.stream.held = avail;
            return len;
          }
          d.detectBytes += lim - p;
          d.detectLines++;
          p = lim;
        } else {
          this.textLine(d, dir, buf, p, nl + 1);
          d.detectBytes += nl + 1 - p;
          d.detectLines++;
          p = nl + 1;
        }
      } else {
        d.detectBytes += avail;
        d.detectChunks++;
        p = end;
      }
      this.detectLimits(d);
    }
    return p - off;
  }

  /**
   * Gives a direction up once it carried too much that is not TLS; in SMTP, IMAP, POP3 and FTP (told by the
   * server's greeting), never: STARTTLS may follow any amount of mail or listing (a 1,000-line mail before it
   * lost the ClientHello), and TLS starts there only where STARTTLS was accepted (see detect).
   */
  private detectLimits(d: DirState): void {
    if (this.plain !== PLAIN_NONE) return;
    if (
      d.detectChunks > DETECT_MAX_CHUNKS || d.detectLines > DETECT_MAX_LINES ||
      d.detectBytes > DETECT_MAX_BYTES
    ) {
      d.mode = MODE_DONE;
    }
  }

  /** Looks at one plain-text line for a STARTTLS exchange. */
  private textLine(d: DirState, dir: number, buf: Uint8Array, s: number, e: number): void {
    const n = Math.min(e - s, LINE_PREFIX);
    if (this.plain === PLAIN_NONE && d.detectLines === 0 && d.detectBytes === 0) {
      // A server greeting "220 " / "220-" (SMTP, FTP), "* OK" (IMAP) or "+OK" (POP3), in any case for OK.
      const c0 = n > 0 ? buf[s] : 0;
      if (
        c0 === 0x32 && n >= 4 && buf[s + 1] === 0x32 && buf[s + 2] === 0x30 &&
        (buf[s + 3] === 0x20 || buf[s + 3] === 0x2d)
      ) {
        this.plain = PLAIN_SMTP_FTP;
      } else if (c0 === 0x2a && n >= 4 && buf[s + 1] === 0x20 && isOk(buf, s + 2)) this.plain = PLAIN_IMAP;
      else if (c0 === 0x2b && n >= 3 && isOk(buf, s + 1)) this.plain = PLAIN_POP3;
      if (this.plain !== PLAIN_NONE) this.plainServerDir = dir;
      else if (c0 >= 0x41 && c0 <= 0x5a && HTTP_REQUEST_LINE.test(binaryString(buf, s, n))) {
        // A client's request line: the server is the other side.
        this.plain = PLAIN_HTTP;
        this.plainServerDir = dir ^ 1;
      }
    }
    // Most lines can matter to nothing below: skip them without building a string. Every client-side command
    // looked for contains "TLS" or "SSL"; server-side lines matter only with a command pending.
    if (dir !== this.plainServerDir) {
      if (!hasTlsOrSsl(buf, s, s + n) && !(this.plain === PLAIN_HTTP && isHttpConnect(buf, s, n))) return;
    } else if (this.startTlsPending === "") return;
    const line = binaryString(buf, s, n).replace(/[\r\n]+$/, "");
    if (dir !== this.plainServerDir) {
      let m: RegExpMatchArray | null;
      if (/^STARTTLS\s*$/i.test(line)) this.startTlsPending = this.plain === PLAIN_IMAP ? "imap" : "smtp";
      else if ((m = /^(\S+) STARTTLS\s*$/i.exec(line)) !== null) {
        this.startTlsPending = "imap";
        this.imapTag = m[1];
      } else if (/^STLS\s*$/i.test(line)) this.startTlsPending = "pop3";
      else if (/^AUTH (TLS|SSL|TLS-C|TLS-P)\s*$/i.test(line)) this.startTlsPending = "ftp";
      else if (this.plain === PLAIN_HTTP && isHttpConnect(buf, s, n)) this.startTlsPending = "http";
      else return;
      d.expectTls = true;
      if (this.plainServerDir < 0) this.plainServerDir = dir ^ 1;
      return;
    }
    const pending = this.startTlsPending;
    if (pending === "") return;
    let ok = false;
    let fail = false;
    switch (pending) {
      case "smtp":
        ok = /^220 /.test(line);
        fail = /^[45]\d\d /.test(line);
        break;
      case "ftp":
        ok = /^234 /.test(line) || /^334 /.test(line);
        fail = /^[45]\d\d /.test(line);
        break;
      case "http":
        ok = /^HTTP\/1\.[01] 2\d\d/.test(line);
        fail = /^HTTP\/1\.[01] [345]\d\d/.test(line);
        break;
      case "pop3":
        ok = /^\+OK/i.test(line);
        fail = /^-ERR/i.test(line);
        break;
      case "imap": {
        const tag = this.imapTag;
        if (tag !== "" && line.startsWith(tag + " ")) {
          const rest = line.slice(tag.length + 1);
          ok = /^OK/i.test(rest);
          fail = !ok;
        } else if (tag === "" && /^\S+ OK/i.test(line) && !line.startsWith("* ")) ok = true;
        break;
      }
    }
    if (ok) {
      this.startTls = pending;
      this.startTlsPending = "";
      d.expectTls = true;
    } else if (fail) {
      this.startTlsPending = "";
      this.dirs[dir ^ 1].expectTls = false;
    }
  }

  // --- OpenVPN over TCP ----------------------------------------------------------------------------------------

  private openvpn(d: DirState, dir: number, buf: Uint8Array, off: number, len: number): number {
    const end = off + len;
    let p = off;
    while (end - p >= 2 && d.mode === MODE_OPENVPN) {
      const n = u16(buf, p);
      if (n < 1 || n > MAX_OPENVPN_PACKET) {
        d.mode = MODE_DONE;
        return len;
      }
      if (end - p < 2 + n) break;
      this.openvpnPacket(d, dir, buf, p + 2, p + 2 + n);
      p += 2 + n;
    }
    return d.mode === MODE_OPENVPN ? p - off : len;
  }

  private openvpnPacket(d: DirState, dir: number, buf: Uint8Array, s: number, e: number): void {
    const op = buf[s] >> 3;
    if (op === 6 || op === 9) {
      d.mode = MODE_DONE; // data channel: the TLS handshake is over
      return;
    }
    if (op < 1 || op > 11) {
      d.mode = MODE_DONE;
      return;
    }
    let q = s + 1 + 8; // opcode, session id
    if (q >= e) return;
    // tls-auth: as long as the direction's hard reset showed it (`OPENVPN_AUTH_BYTES`), else Wireshark's
    // heuristic (a non-empty "ack array" whose first 4 bytes look random is a SHA-1 HMAC).
    if (d.ovpnAuth >= 0) q += d.ovpnAuth;
    else if (buf[q] > 0 && q + 4 <= e && hmacLike(u32(buf, q))) q += 20 + 8;
    if (q >= e) return;
    const acks = buf[q++];
    q += acks * 4 + (acks > 0 ? 8 : 0);
    if (op === 5) return; // P_ACK_V1
    if (q + 4 > e) return;
    const id = u32(buf, q);
    q += 4;
    if (id < d.ovpnNextId) return; // retransmission
    if (id > d.ovpnNextId && d.ovpnPending !== null) {
      // A datagram ahead of a missing one: keep its TLS bytes until the gap fills (bounded).
      if (op === 4 && d.ovpnPending.size < MAX_OPENVPN_PENDING && !d.ovpnPending.has(id)) {
        d.ovpnPending.set(id, buf.slice(q, e));
      }
      return;
    }
    d.ovpnNextId = id + 1;
    if (op === 4 && q < e) this.records(d, dir, buf, q, e - q);
    const pending = d.ovpnPending;
    if (pending === null) return;
    for (let b = pending.get(d.ovpnNextId); b !== undefined; b = pending.get(d.ovpnNextId)) {
      pending.delete(d.ovpnNextId);
      d.ovpnNextId++;
      if (d.mode !== MODE_OPENVPN) return;
      this.records(d, dir, b, 0, b.length);
    }
  }

  /**
   * True when a UDP payload is an OpenVPN hard-reset packet, the start of an OpenVPN-over-UDP session.
   *
   * @example
   * ```ts
   * import { TlsFlowAnalyzer } from "./tls.ts";
   * const reset = new Uint8Array([0x38, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0]);
   * console.log(TlsFlowAnalyzer.isOpenVpnDatagram(reset, 0, reset.length)); // true
   * ```
   */
  static isOpenVpnDatagram(buf: Uint8Array, off: number, len: number): boolean {
    return off >= 0 && off + len <= buf.length && openVpnReset(buf, off, off + len);
  }

  /**
   * Feeds one UDP datagram of an OpenVPN-over-UDP flow (one OpenVPN packet, no length prefix): the TLS
   * handshake of its control channel is analysed like a TCP one. `dir` is 0 from the initiator, 1 from the
   * responder. A direction whose first datagram is not OpenVPN control traffic is given up.
   */
  onDatagram(dir: number, buf: Uint8Array, off: number, len: number): void {
    if (this.done) return;
    const d = this.dirs[dir === 0 ? 0 : 1];
    if (d.mode === MODE_DONE || !(len > 0) || off < 0 || off + len > buf.length) return;
    this.hsTouched = false;
    if (d.mode === MODE_DETECT) {
      d.ovpnAuth = openVpnResetAuth(buf, off, off + len);
      if (d.ovpnAuth < 0) {
        d.mode = MODE_DONE;
      } else {
        d.mode = MODE_OPENVPN;
        d.ovpnPending = new Map();
        this.openVpn = true;
      }
    }
    if (d.mode === MODE_OPENVPN) this.openvpnPacket(d, dir, buf, off, off + len);
    if (this.hsTouched) this.hsPackets++;
    if (d.mode === MODE_DONE) {
      d.ovpnPending = null;
      this.releaseDir(d);
      this.done = this.dirs[0].mode === MODE_DONE && this.dirs[1].mode === MODE_DONE;
      if (this.done) this.retire();
    }
  }

  // --- Record layer --------------------------------------------------------------------------------------------

  private records(d: DirState, dir: number, buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let p = off;
    const mode = d.mode;
    while (p < end && d.mode === mode) {
      if (d.recLeft === 0) {
        // Record header, possibly split across calls.
        let h: Uint8Array;
        let hp: number;
        if (d.recHdrLen === 0 && end - p >= 5) {
          h = buf;
          hp = p;
          p += 5;
        } else {
          const rh = d.recHdr ??= new Uint8Array(5);
          while (d.recHdrLen < 5 && p < end) rh[d.recHdrLen++] = buf[p++];
          if (d.recHdrLen < 5) return;
          h = rh;
          hp = 0;
        }
        d.recHdrLen = 0;
        if (!recordHeaderOk(h, hp, d.firstRecordVersion < 0 && h[hp] === TlsContentType.HANDSHAKE)) {
          d.mode = MODE_DONE; // lost sync, or not TLS after all
          return;
        }
        this.detected = true;
        const type = h[hp];
        if (d.firstRecordVersion < 0) d.firstRecordVersion = u16(h, hp + 1);
        d.recType = type;
        d.recLeft = u16(h, hp + 3);
        if (type === TlsContentType.HANDSHAKE) {
          this.hsTouched = true;
          this.hsSeen = true;
          // In stream offsets, for a record of the TCP stream itself (an OpenVPN control packet's are counted
          // by packet: see onSegment).
          if (mode === MODE_TLS) {
            const hdrEnd = d.parsePos + (p - d.parseOff);
            addRange(d.hsRanges ??= [], hdrEnd - 5, hdrEnd + d.recLeft);
          }
          if (d.afterCcs) {
            // The encrypted Finished: this direction's last handshake record, which ends it once read (it may
            // span packets, each of them a handshake packet).
            if (d.recLeft === 0) {
              d.mode = MODE_DONE;
              return;
            }
          }
        } else if (type === TlsContentType.ALERT) {
          // A plaintext alert is 2 bytes. A longer one is encrypted: after a CCS that was seen (up to the
          // Finished) one of the handshake's, and in a flow whose handshake was not captured at all the only
          // kind there is; but after a handshake that was seen, before this direction's CCS, the CCS was in
          // bytes never captured (a snapshot length, a loss) and this is a close_notify after the handshake.
          if (d.recLeft === 2 || d.afterCcs || !this.hsSeen) this.alertCount++;
        } else if (type === TlsContentType.CHANGE_CIPHER_SPEC) this.changeCipherSpec(d);
        else if (type === TlsContentType.APPLICATION_DATA) {
          // 0-RTT data after a ClientHello offering early_data, before the server's ServerHello: skipped, for a
          // HelloRetryRequest has the client send a second ClientHello, in clear, after it.
          if (
            d.role === ROLE_CLIENT && this.clientHello?.hasEarlyData === true &&
            this.serverHello?.isHelloRetryRequest !== false &&
            ++d.earlyRecords <= MAX_EARLY_RECORDS
          ) continue;
          d.mode = MODE_DONE; // encrypted traffic: nothing more to learn from this direction
          return;
        }
        continue;
      }
      const take = Math.min(d.recLeft, end - p);
      if (d.recType === TlsContentType.HANDSHAKE) {
        this.hsTouched = true;
        if (!d.encrypted && !d.recSkip) this.handshake(d, dir, buf, p, take);
      }
      d.recLeft -= take;
      p += take;
      if (d.recLeft === 0) d.recSkip = false;
      // A handshake record after the CCS is that Finished: the direction ends with its last byte.
      if (d.recLeft === 0 && d.afterCcs && d.recType === TlsContentType.HANDSHAKE) {
        d.mode = MODE_DONE;
        return;
      }
    }
  }

  private changeCipherSpec(d: DirState): void {
    if (this.tls13) return; // TLS 1.3 middlebox-compatibility CCS: nothing changes
    if (d.role === ROLE_CLIENT && this.serverHellos.length === 0 && this.offered13()) {
      // Without the server's side we cannot tell: a TLS 1.3 client sends this CCS before its second
      // ClientHello (after a HelloRetryRequest). Keep reading, but accept nothing but a ClientHello.
      d.ccsTentative = true;
      return;
    }
    if (d.role === ROLE_SERVER || (d.role === ROLE_UNKNOWN && this.otherIsClient(d))) {
      if (
        this.certCount === null && this.serverHellos.length > 0 && !this.fullHandshake &&
        !this.clientKeyExchange
      ) {
        this.abbreviatedHandshake = true;
      }
    }
    d.encrypted = true;
    d.afterCcs = true;
  }

  private offered13(): boolean {
    const ch = this.clientHello;
    return ch !== null && ch.supportedVersions.includes(0x0304);
  }

  private otherIsClient(d: DirState): boolean {
    const o = this.dirs[0] === d ? this.dirs[1] : this.dirs[0];
    return o.role === ROLE_CLIENT;
  }

  // --- Handshake layer -----------------------------------------------------------------------------------------

  private handshake(d: DirState, dir: number, buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let p = off;
    while (p < end && d.mode !== MODE_DONE && !d.encrypted) {
      if (!d.hsInBody) {
        if (d.hsHdrLen === 0 && end - p >= 4) {
          const type = buf[p];
          const n = u24(buf, p + 1);
          if (
            HANDSHAKE_TYPE_VALID[type] === 0 || (d.ccsTentative && type !== TlsHandshakeType.CLIENT_HELLO)
          ) {
            d.encrypted = true; // not a plain handshake message: encrypted or garbage
            if (d.ccsTentative) d.mode = MODE_DONE;
            return;
          }
          if (end - p - 4 >= n) {
            // Whole message in this slice: parse in place.
            this.message(d, dir, type, buf, p, 4 + n, true);
            p += 4 + n;
            continue;
          }
          this.startMessage(d, type, n, buf, p);
          p += 4;
          continue;
        }
        const hh = d.hsHdr ??= new Uint8Array(4);
        hh[d.hsHdrLen++] = buf[p++];
        if (d.hsHdrLen < 4) continue;
        d.hsHdrLen = 0;
        const type = hh[0];
        const n = u24(hh, 1);
        if (HANDSHAKE_TYPE_VALID[type] === 0 || (d.ccsTentative && type !== TlsHandshakeType.CLIENT_HELLO)) {
          d.encrypted = true;
          if (d.ccsTentative) d.mode = MODE_DONE;
          return;
        }
        if (n === 0) this.message(d, dir, type, hh, 0, 4, true);
        else this.startMessage(d, type, n, hh, 0);
        continue;
      }
      const take = Math.min(d.hsLeft, end - p);
      if (d.hsBuf !== null) {
        d.hsBuf = withRoom(d.hsBuf, d.hsBufLen, Math.min(d.hsBufLen + take, d.hsBufCap), d.hsBufCap);
        const room = Math.min(take, d.hsBuf.length - d.hsBufLen);
        if (room > 0) {
          d.hsBuf.set(buf.subarray(p, p + room), d.hsBufLen);
          d.hsBufLen += room;
        }
      }
      if (d.certActive) certFeed(d, buf, p, take);
      d.hsLeft -= take;
      p += take;
      if (d.hsLeft === 0) {
        d.hsInBody = false;
        const hb = d.hsBuf;
        d.hsBuf = null;
        if (d.hsLost) d.hsLost = false;
        else if (hb !== null) this.message(d, dir, d.hsType, hb, 0, d.hsBufLen, false);
        else this.message(d, dir, d.hsType, EMPTY_BYTES, 0, 0, false);
      }
    }
  }

  private startMessage(d: DirState, type: number, n: number, hdr: Uint8Array, hp: number): void {
    // A full handshake's message began (its header read, in clear before TLS 1.3): no resumption, whether or
    // not the rest of it was captured.
    if (type >= TlsHandshakeType.CERTIFICATE && type <= TlsHandshakeType.CLIENT_KEY_EXCHANGE && !this.tls13) {
      this.fullHandshakeBegun = true;
    }
    d.hsInBody = true;
    d.hsType = type;
    d.hsLeft = n;
    d.hsBuf = null;
    d.hsBufLen = 0;
    if (
      type === TlsHandshakeType.CLIENT_HELLO || type === TlsHandshakeType.SERVER_HELLO ||
      type === TlsHandshakeType.SERVER_KEY_EXCHANGE
    ) {
      // Grown as the body comes (withRoom): a header can claim 16 MB and nothing follow it.
      d.hsBufCap = Math.min(4 + n, MAX_HANDSHAKE_BUFFER);
      d.hsBuf = new Uint8Array(Math.min(d.hsBufCap, HANDSHAKE_BUFFER_START));
      d.hsBuf.set(hdr.subarray(hp, hp + 4));
      d.hsBufLen = 4;
    }
    if (type === TlsHandshakeType.CERTIFICATE) certBegin(d);
  }

  /**
   * One handshake message. `whole` is true when `buf[off .. off + len)` is the whole message; otherwise the
   * message was streamed (Certificate) or buffered (possibly truncated at the buffer cap).
   */
  private message(
    d: DirState,
    _dir: number,
    type: number,
    buf: Uint8Array,
    off: number,
    len: number,
    whole: boolean,
  ): void {
    switch (type) {
      case TlsHandshakeType.CLIENT_HELLO: {
        const ch = parseClientHello(buf, off, len);
        if (ch !== null && d.ccsTentative && (ch.version >> 8 !== 3 || ch.malformed)) {
          d.mode = MODE_DONE; // the bytes after that CCS were encrypted after all
          return;
        }
        if (ch !== null) {
          if (d.role === ROLE_UNKNOWN) d.role = ROLE_CLIENT;
          if (this.clientHellos.length < MAX_HELLOS) this.clientHellos.push(ch);
        }
        return;
      }
      case TlsHandshakeType.SERVER_HELLO: {
        const sh = parseServerHello(buf, off, len);
        if (sh === null) return;
        if (d.role === ROLE_UNKNOWN) d.role = ROLE_SERVER;
        if (this.serverHellos.length < MAX_HELLOS) this.serverHellos.push(sh);
        if (sh.isHelloRetryRequest || this.isTls13Hello(sh)) this.tls13 = true;
        if (!sh.isHelloRetryRequest && this.isTls13Hello(sh)) d.mode = MODE_DONE; // the rest is encrypted
        return;
      }
      case TlsHandshakeType.CERTIFICATE: {
        if (whole) {
          certBegin(d);
          certFeed(d, buf, off + 4, len - 4);
        }
        if (d.certActive) {
          d.certActive = false;
          const serverSide = d.role === ROLE_SERVER || (d.role === ROLE_UNKNOWN && this.otherIsClient(d));
          if (serverSide && this.certCount === null && !this.tls13) {
            this.certCount = d.certCount;
            this.certTotalLength = d.certTotal;
            this.certFirstLength = d.certFirst >= 0 ? d.certFirst : null;
          }
        }
        return;
      }
      case TlsHandshakeType.SERVER_KEY_EXCHANGE:
        this.serverKeyExchange(buf, off + 4, off + len);
        return;
      case TlsHandshakeType.SERVER_HELLO_DONE:
        // The server's NewSessionTicket, ChangeCipherSpec and Finished follow: still handshake records.
        this.fullHandshake = true;
        return;
      case TlsHandshakeType.CLIENT_KEY_EXCHANGE:
        this.clientKeyExchange = true;
        return;
    }
  }

  private serverKeyExchange(b: Uint8Array, s: number, e: number): void {
    if (this.skeGroup !== null || this.skeKeyBits !== null || e - s < 4) return;
    // PSK key exchanges (RFC 4279, 5489) begin with the psk_identity_hint; plain and RSA PSK have nothing else.
    const psk = pskKeyExchange(this.serverHello?.cipherSuite ?? -1);
    if (psk !== 0) {
      if (psk === PSK_ONLY) return;
      s += 2 + u16(b, s);
      if (e - s < 4) return;
    }
    if (b[s] === 3) {
      // ECDHE: curve_type named_curve(3), group, public key length; then the signature must end the message
      // exactly. A DHE prime of 768 to 1023 bytes (ffdhe6144) also starts with 3, its length's high byte.
      const pub = b[s + 3];
      if (s + 4 + pub <= e && pub > 0 && signatureEnds(b, s + 4 + pub, e)) {
        this.skeGroup = u16(b, s + 1);
        this.skeKeyBits = pub * 8;
        return;
      }
    }
    // DHE: p, g, Ys (each with a 2-byte length).
    const pLen = u16(b, s);
    if (pLen === 0 || s + 2 + pLen + 2 > e) return;
    const gLen = u16(b, s + 2 + pLen);
    const ys = s + 4 + pLen + gLen;
    if (ys + 2 > e || ys + 2 + u16(b, ys) > e) return;
    let lead = 0;
    while (lead < pLen && b[s + 2 + lead] === 0) lead++;
    this.skeKeyBits = (pLen - lead) * 8;
  }

  private isTls13Hello(sh: ServerHelloInfo): boolean {
    const v = sh.selectedVersion;
    return v !== null && (v === 0x0304 || (v >= 0x7f00 && v <= 0x7fff) || (v & 0xff00) === 0xfb00);
  }
}

const PSK_ONLY = 1, PSK_DHE = 2, PSK_ECDHE = 3;

/** Cipher suites with a PSK key exchange (IANA registry: RFC 4279, 4785, 5487, 5489, 6209, 6367, 6655, 7905, 8442). */
const PSK_SUITES: ReadonlyMap<number, number> = new Map([
  ...[
    0x002c,
    0x008a,
    0x008b,
    0x008c,
    0x008d,
    0x00a8,
    0x00a9,
    0x00ae,
    0x00af,
    0x00b0,
    0x00b1,
    0xc064,
    0xc065,
    0xc06a,
    0xc06b,
    0xc08e,
    0xc08f,
    0xc094,
    0xc095,
    0xc0a4,
    0xc0a5,
    0xc0a8,
    0xc0a9,
    0xccab, // PSK
    0x002e,
    0x0092,
    0x0093,
    0x0094,
    0x0095,
    0x00ac,
    0x00ad,
    0x00b6,
    0x00b7,
    0x00b8,
    0x00b9,
    0xc068,
    0xc069,
    0xc06e,
    0xc06f,
    0xc092,
    0xc093,
    0xc098,
    0xc099,
    0xccae, // RSA_PSK
  ].map((c) => [c, PSK_ONLY] as const),
  ...[
    0x002d,
    0x008e,
    0x008f,
    0x0090,
    0x0091,
    0x00aa,
    0x00ab,
    0x00b2,
    0x00b3,
    0x00b4,
    0x00b5,
    0xc066,
    0xc067,
    0xc06c,
    0xc06d,
    0xc090,
    0xc091,
    0xc096,
    0xc097,
    0xc0a6,
    0xc0a7,
    0xc0aa,
    0xc0ab,
    0xccad, // DHE_PSK
  ].map((c) => [c, PSK_DHE] as const),
  ...[
    0xc033,
    0xc034,
    0xc035,
    0xc036,
    0xc037,
    0xc038,
    0xc039,
    0xc03a,
    0xc03b,
    0xc070,
    0xc071,
    0xc09a,
    0xc09b,
    0xccac,
    0xd001,
    0xd002,
    0xd003,
    0xd005, // ECDHE_PSK
  ].map((c) => [c, PSK_ECDHE] as const),
]);

/** The PSK kind of a cipher suite's key exchange, 0 for none. */
function pskKeyExchange(suite: number): number {
  return PSK_SUITES.get(suite) ?? 0;
}

/**
 * Whether `b[o .. e)` is exactly what follows a ServerKeyExchange's parameters: nothing (anonymous), a
 * signature with its 2-byte length (TLS 1.0 and 1.1), or one with its algorithm before (TLS 1.2).
 */
function signatureEnds(b: Uint8Array, o: number, e: number): boolean {
  const rest = e - o;
  return rest === 0 || (rest >= 2 && rest === 2 + u16(b, o)) || (rest >= 4 && rest === 4 + u16(b, o + 2));
}

/** Appends `b[s .. e)` to the kept first bytes of the pending text line (`d.lineLen` bytes so far). */
function linePrefixAdd(d: DirState, b: Uint8Array, s: number, e: number): void {
  const have = d.lineLen;
  if (have >= LINE_PREFIX) return;
  const lp = d.linePrefix ??= new Uint8Array(LINE_PREFIX);
  const n = Math.min(e - s, LINE_PREFIX - have);
  for (let i = 0; i < n; i++) lp[have + i] = b[s + i];
}

function certBegin(d: DirState): void {
  d.certActive = true;
  d.certPhase = 0;
  d.certAcc = 0;
  d.certAccN = 0;
  d.certSkip = 0;
  d.certCount = 0;
  d.certTotal = 0;
  d.certFirst = -1;
}

/** Streams Certificate body bytes: a 3-byte list length, then (3-byte length, certificate) entries. */
function certFeed(d: DirState, b: Uint8Array, p: number, n: number): void {
  while (n > 0) {
    if (d.certSkip > 0) {
      const t = Math.min(d.certSkip, n);
      d.certSkip -= t;
      p += t;
      n -= t;
      continue;
    }
    d.certAcc = (d.certAcc << 8) | b[p];
    p++;
    n--;
    if (++d.certAccN < 3) continue;
    const v = d.certAcc;
    d.certAcc = 0;
    d.certAccN = 0;
    if (d.certPhase === 0) {
      d.certPhase = 1;
      continue;
    }
    d.certCount++;
    d.certTotal += v;
    if (d.certFirst < 0) d.certFirst = v;
    d.certSkip = v;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Sanity of a record header at `p` (5 bytes present). Versions 0x0300 (SSL 3.0) to 0x0304, as tshark takes them;
 * any 0x03xx when `anyMinor` (a direction's first record, a handshake: OpenSSL reads a ClientHello in a record of
 * version 0x0305 to 0x03ff, which tshark passes over, so that such a version hid the hello from a monitor).
 */
function recordHeaderOk(b: Uint8Array, p: number, anyMinor = false): boolean {
  const t = b[p];
  if (t < 20 || t > 24 || b[p + 1] !== 3 || (b[p + 2] > 4 && !anyMinor)) return false;
  const n = u16(b, p + 3);
  return n <= MAX_RECORD_LENGTH && (n > 0 || t === TlsContentType.APPLICATION_DATA);
}

/**
 * A record header that may start a TLS stream (for a handshake record, a plausible message type follows); other
 * record types than handshake only when `anyType`.
 */
function recordStartOk(b: Uint8Array, p: number, anyType = true): boolean {
  if (b[p] > 23 || !recordHeaderOk(b, p, b[p] === TlsContentType.HANDSHAKE && b[p + 5] === 1)) return false;
  if (b[p] === TlsContentType.HANDSHAKE) return HANDSHAKE_TYPE_VALID[b[p + 5]] === 1;
  if (!anyType) return false;
  if (b[p] === TlsContentType.CHANGE_CIPHER_SPEC) return u16(b, p + 3) === 1;
  return true;
}

/**
 * An OpenVPN hard-reset packet in `b[s .. e)` (without the TCP length prefix): opcode 1, 2, 7, 8 or 10 with key
 * id 0, and message packet id 0 where it should be, with or without a tls-auth block (see `openVpnResetAuth`).
 */
function openVpnReset(b: Uint8Array, s: number, e: number): boolean {
  return openVpnResetAuth(b, s, e) >= 0;
}

/**
 * The bytes of tls-auth between an OpenVPN hard reset's session id and its ACK array: 0 without it, else an HMAC
 * (see `OPENVPN_AUTH_BYTES`: `auth SHA256` hardens many setups) and the 8-byte packet id and time; -1 when
 * `b[s, e)` is no hard reset.
 */
function openVpnResetAuth(b: Uint8Array, s: number, e: number): number {
  if (e - s < 14 || (b[s] & 7) !== 0) return -1;
  const op = b[s] >> 3;
  if (op !== 1 && op !== 2 && op !== 7 && op !== 8 && op !== 10) return -1;
  for (const auth of OPENVPN_AUTH_BYTES) {
    const q = s + 9 + auth;
    if (q >= e) continue;
    const acks = b[q];
    if (acks > 8) continue;
    const m = q + 1 + acks * 4 + (acks > 0 ? 8 : 0);
    if (m + 4 <= e && u32(b, m) === 0) return auth;
  }
  return -1;
}

/**
 * The HMAC sizes OpenVPN's tls-auth can have, in the order they are tried: none (no tls-auth, or tls-crypt),
 * SHA-1's 20 bytes (the default), MD5's 16, SHA-224's 28, SHA-256's 32, SHA-384's 48, SHA-512's 64.
 *
 * @example
 * ```ts
 * import { OPENVPN_HMAC_SIZES } from "./tls.ts";
 * console.log(OPENVPN_HMAC_SIZES[1]); // 20
 * ```
 */
export const OPENVPN_HMAC_SIZES: readonly number[] = [0, 20, 16, 28, 32, 48, 64];

/** tls-auth's bytes after the session id: its HMAC, then the packet id and time (none without tls-auth). */
const OPENVPN_AUTH_BYTES: readonly number[] = OPENVPN_HMAC_SIZES.map((h) => h === 0 ? 0 : h + 8);

/**
 * The first packet of an OpenVPN-over-TCP session, a length then a hard reset: its tls-auth bytes (see
 * `openVpnResetAuth`), or -1 when it is none.
 */
function openVpnStart(b: Uint8Array, p: number, avail: number): number {
  const n = u16(b, p);
  if (n < 14 || n > MAX_OPENVPN_PACKET || avail < 2 + n) return -1;
  return openVpnResetAuth(b, p + 2, p + 2 + n);
}

/** Wireshark's check: at most one zero byte among four means "random", i.e. an HMAC. */
function hmacLike(x: number): boolean {
  let zeros = 0;
  if ((x & 0xff) === 0) zeros++;
  if ((x & 0xff00) === 0) zeros++;
  if ((x & 0xff0000) === 0) zeros++;
  if ((x & 0xff000000) === 0) zeros++;
  return zeros <= 1;
}

/** "OK" in any case at `b[p]`. */
function isOk(b: Uint8Array, p: number): boolean {
  return (b[p] | 0x20) === 0x6f && (b[p + 1] | 0x20) === 0x6b;
}

/** The start of an HTTP/1 request line, a client's first line (its end may be past the bytes looked at). */
const HTTP_REQUEST_LINE = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) \S/;

/** True when `b[s .. e)` contains "TLS" or "SSL", in any case. */
function hasTlsOrSsl(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i + 2 < e; i++) {
    const c1 = b[i + 1] | 0x20;
    if (c1 !== 0x73 && c1 !== 0x6c) continue; // second letter "s" (SSL) or "l" (TLS)
    const c0 = b[i] | 0x20, c2 = b[i + 2] | 0x20;
    if ((c0 === 0x74 && c1 === 0x6c && c2 === 0x73) || (c0 === 0x73 && c1 === 0x73 && c2 === 0x6c)) {
      return true;
    }
  }
  return false;
}

function isTextByte(c: number): boolean {
  return (c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13;
}
