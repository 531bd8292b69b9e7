/**
 * HTTP analysis: HTTP/1.x request and status lines with a few headers (RFC 9112), the HTTP/2 connection preface,
 * and an incremental HTTP/2 frame-header parser (RFC 9113 section 4.1) that counts frames by type and follows
 * stream ids without buffering frame payloads.
 *
 * Pure parsers: bytes in, results out; nothing here throws on malformed input.
 *
 * @module
 */
import { byteString } from "./text.ts";

/** The client connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
export const HTTP2_PREFACE: Uint8Array = new Uint8Array([
  0x50,
  0x52,
  0x49,
  0x20,
  0x2a,
  0x20,
  0x48,
  0x54,
  0x54,
  0x50,
  0x2f,
  0x32,
  0x2e,
  0x30,
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x53,
  0x4d,
  0x0d,
  0x0a,
  0x0d,
  0x0a,
]);

/** HTTP/2 frame types. */
export const H2Frame = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Methods recognised at the start of a request (RFC 9110, WebDAV, SSDP, and a few common extensions). */
const METHODS: readonly string[] = [
  "GET",
  "POST",
  "HEAD",
  "PUT",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
  "PATCH",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
  "SEARCH",
  "REPORT",
  "MKACTIVITY",
  "CHECKOUT",
  "MERGE",
  "NOTIFY",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "M-SEARCH",
  "M-POST",
  "PURGE",
  "LINK",
  "UNLINK",
  // Those tshark's HTTP dissector also knows: Exchange's RPC over HTTP, SCCM, WebDAV's Microsoft batch
  // methods and versioning (RFC 3253), GENA.
  "RPC_IN_DATA",
  "RPC_OUT_DATA",
  "RPC_CONNECT",
  "CCM_POST",
  "BCOPY",
  "BMOVE",
  "BDELETE",
  "BPROPFIND",
  "BPROPPATCH",
  "POLL",
  "LABEL",
  "UPDATE",
  "CHECKIN",
  "UNCHECKOUT",
  "MKWORKSPACE",
  "VERSION-CONTROL",
  "BASELINE-CONTROL",
];
const METHOD_BYTES: readonly Uint8Array[] = METHODS.map((m) => new TextEncoder().encode(m + " "));

/**
 * True when `buf[off, end)` starts with the whole HTTP/2 client preface.
 *
 * @example
 * ```ts
 * import { HTTP2_PREFACE, isHttp2Preface } from "./http.ts";
 * console.log(isHttp2Preface(HTTP2_PREFACE, 0, HTTP2_PREFACE.length)); // true
 * ```
 */
export function isHttp2Preface(buf: Uint8Array, off: number, end: number): boolean {
  if (end > buf.length) end = buf.length;
  if (end - off < HTTP2_PREFACE.length) return false;
  for (let i = 0; i < HTTP2_PREFACE.length; i++) if (buf[off + i] !== HTTP2_PREFACE[i]) return false;
  return true;
}

const CONNECT = [0x43, 0x4f, 0x4e, 0x4e, 0x45, 0x43, 0x54, 0x20];

/**
 * Whether `b[s..s+n)` starts with "CONNECT " (a proxy's tunnel request, after which TLS or SSH may follow).
 *
 * @example
 * ```ts
 * import { isHttpConnect } from "./http.ts";
 * const b = new TextEncoder().encode("CONNECT example.com:22 HTTP/1.1\r\n");
 * console.log(isHttpConnect(b, 0, b.length)); // true
 * ```
 */
export function isHttpConnect(b: Uint8Array, s: number, n: number): boolean {
  if (n < 8) return false;
  for (let i = 0; i < 8; i++) if (b[s + i] !== CONNECT[i]) return false;
  return true;
}

/**
 * Length of the request method at `off` when the bytes start with a known method followed by a space, else 0.
 *
 * @example
 * ```ts
 * import { httpMethodLength } from "./http.ts";
 * const b = new TextEncoder().encode("GET / HTTP/1.1\r\n");
 * console.log(httpMethodLength(b, 0, b.length)); // 3
 * ```
 */
export function httpMethodLength(buf: Uint8Array, off: number, end: number): number {
  if (end > buf.length) end = buf.length;
  if (end - off < 4) return 0;
  const c = buf[off];
  if (c < 0x41 || c > 0x5a) return 0;
  outer: for (const m of METHOD_BYTES) {
    if (m[0] !== c || end - off < m.length) continue;
    for (let i = 1; i < m.length; i++) if (buf[off + i] !== m[i]) continue outer;
    return m.length - 1;
  }
  return 0;
}

/**
 * True when the `end - off` bytes could still grow into a request line with a known method, a status line or the
 * HTTP/2 preface (a first segment cut very short).
 *
 * @example
 * ```ts
 * import { httpStartPrefix } from "./http.ts";
 * const b = new TextEncoder().encode("GE");
 * console.log(httpStartPrefix(b, 0, b.length)); // true
 * ```
 */
export function httpStartPrefix(buf: Uint8Array, off: number, end: number): boolean {
  if (end > buf.length) end = buf.length;
  const n = end - off;
  if (n <= 0) return false;
  outer: for (const m of START_CANDIDATES) {
    const k = Math.min(n, m.length);
    for (let i = 0; i < k; i++) if (buf[off + i] !== m[i]) continue outer;
    return true;
  }
  return false;
}

const HTTP_SLASH = new Uint8Array([0x48, 0x54, 0x54, 0x50, 0x2f]);
/** What a message may start with (see {@linkcode httpStartPrefix}). */
const START_CANDIDATES: readonly Uint8Array[] = [...METHOD_BYTES, HTTP_SLASH, HTTP2_PREFACE];

/**
 * True when the bytes start like a status line: "HTTP/" digit "." digit SP.
 *
 * @example
 * ```ts
 * import { isHttpStatusStart } from "./http.ts";
 * const b = new TextEncoder().encode("HTTP/1.1 200 OK\r\n");
 * console.log(isHttpStatusStart(b, 0, b.length)); // true
 * ```
 */
export function isHttpStatusStart(buf: Uint8Array, off: number, end: number): boolean {
  if (end > buf.length) end = buf.length;
  if (end - off < 9) return false;
  return buf[off] === 0x48 && buf[off + 1] === 0x54 && buf[off + 2] === 0x54 && buf[off + 3] === 0x50 &&
    buf[off + 4] === 0x2f && isDigit(buf[off + 5]) && buf[off + 6] === 0x2e && isDigit(buf[off + 7]) &&
    buf[off + 8] === 0x20;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Offset just past the blank line that ends a message head (CRLF CRLF, or bare LF LF), or -1 when not found.
 *
 * @example
 * ```ts
 * import { findHeadEnd } from "./http.ts";
 * const b = new TextEncoder().encode("GET / HTTP/1.0\n\nbody");
 * console.log(findHeadEnd(b, 0, b.length)); // 16
 * ```
 */
export function findHeadEnd(buf: Uint8Array, off: number, end: number): number {
  if (end > buf.length) end = buf.length;
  for (let i = off; i < end; i++) {
    if (buf[i] !== 0x0a) continue;
    // LF followed by LF or CR LF ends the head.
    if (i + 1 < end && buf[i + 1] === 0x0a) return i + 2;
    if (i + 2 < end && buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/** True when `buf[off, end)` (cut short) could begin an HTTP version: "HTTP/" then digits and dots. */
function isVersionStart(buf: Uint8Array, off: number, end: number): boolean {
  if (end <= off) return false;
  for (let i = off; i < end; i++) {
    const c = buf[i], k = i - off;
    if (k < 5 ? c !== "HTTP/".charCodeAt(k) : !(isDigit(c) || c === 0x2e)) return false;
  }
  return true;
}

/** Whether `c` can begin a request target: `/` (origin form), `*`, or a letter (absolute or authority form). */
function isTargetStart(c: number): boolean {
  return c === 0x2f || c === 0x2a || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
}

/** A parsed HTTP/1.x message head. */
export interface Http1Head {
  /** True for a request, false for a response. */
  isRequest: boolean;
  /** Request method, URI and version ("HTTP/1.1"); version also for responses. */
  method: string | null;
  uri: string | null;
  version: string | null;
  /** Response status code. */
  statusCode: number | null;
  /** Values of Host, User-Agent, Content-Type and Upgrade (the first of each), null when absent. */
  host: string | null;
  userAgent: string | null;
  contentType: string | null;
  upgrade: string | null;
  /** The first Content-Length value when it is a decimal number, else null. */
  contentLength: number | null;
  /**
   * True when the blank line ending the head was inside the bytes parsed (the `http2` group also sets it for a
   * head it read up to its own cap, which no capture cut).
   */
  complete: boolean;
  /** Offset just past the head when complete, else the end of the bytes parsed. */
  headEnd: number;
}

const UTF8 = new TextDecoder("utf-8");

function text(buf: Uint8Array, off: number, end: number): string {
  let ascii = true;
  for (let i = off; i < end; i++) {
    if (buf[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (!ascii) return UTF8.decode(buf.subarray(off, end));
  return byteString(buf, off, end);
}

/** Compares `buf[off, off + name.length)` with a lowercase ASCII header name, ignoring case. */
function nameIs(buf: Uint8Array, off: number, end: number, name: string): boolean {
  if (end - off !== name.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = buf[off + i];
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses the request or status line and headers in `buf[off, end)`. Returns null unless the bytes start with a
 * known method and a request line ending in an HTTP version, or with a status line. Headers cut short by `end`
 * are read as far as they go (`complete` false).
 *
 * @example
 * ```ts
 * import { parseHttp1Head } from "./http.ts";
 * const b = new TextEncoder().encode("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n");
 * const h = parseHttp1Head(b, 0, b.length);
 * console.log(h?.method, h?.uri, h?.host); // GET /x example.com
 * ```
 */
export function parseHttp1Head(buf: Uint8Array, off: number, end: number): Http1Head | null {
  if (end > buf.length) end = buf.length;
  const head: Http1Head = {
    isRequest: false,
    method: null,
    uri: null,
    version: null,
    statusCode: null,
    host: null,
    userAgent: null,
    contentType: null,
    upgrade: null,
    contentLength: null,
    complete: false,
    headEnd: end,
  };
  // Start line.
  let eol = off;
  while (eol < end && buf[eol] !== 0x0a) eol++;
  let lineEnd = eol;
  const ml = httpMethodLength(buf, off, end);
  // Whitespace (and a stray CR) ending the line is not the version's: servers take "GET / HTTP/1.1 \r\n" and
  // "...HTTP/1.1\r\r\n" (RFC 9112 section 3 lets a recipient ignore it).
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d;
  if (ml > 0) {
    while (lineEnd > off && ws(buf[lineEnd - 1])) lineEnd--;
  } else if (lineEnd > off && buf[lineEnd - 1] === 0x0d) lineEnd--;
  if (ml > 0) {
    // METHOD SP URI SP HTTP/x.y; runs of whitespace between them are one separator (as nginx and python read
    // "GET  /index.html  HTTP/1.1").
    let sp = lineEnd;
    while (sp > off + ml + 1 && buf[sp - 1] !== 0x20 && buf[sp - 1] !== 0x09) sp--;
    const vOff = sp;
    let uriStart = off + ml + 1, uriEnd = vOff - 1;
    while (uriStart < uriEnd && (buf[uriStart] === 0x20 || buf[uriStart] === 0x09)) uriStart++;
    while (uriEnd > uriStart && (buf[uriEnd - 1] === 0x20 || buf[uriEnd - 1] === 0x09)) uriEnd--;
    const isHttp = buf[vOff] === 0x48 && buf[vOff + 1] === 0x54 && buf[vOff + 2] === 0x54 &&
      buf[vOff + 3] === 0x50;
    if (vOff <= off + ml + 1 || lineEnd - vOff < 8 || !isHttp) {
      // The request line itself is cut short (by the capture, or by the head's 32 KB cap: a long query): keep what
      // is known (the target too, when what follows its space is the start of a version: tshark reads it). A long
      // line is taken when what follows the method is a request target's start.
      let target = off + ml + 1;
      while (target < lineEnd && (buf[target] === 0x20 || buf[target] === 0x09)) target++;
      if (eol >= end && (lineEnd - off < 2048 || isTargetStart(buf[target]))) {
        head.isRequest = true;
        head.method = text(buf, off, off + ml);
        if (vOff > off + ml + 1 && isVersionStart(buf, vOff, lineEnd)) head.uri = text(buf, uriStart, uriEnd);
        return head;
      }
      return null;
    }
    head.isRequest = true;
    head.method = text(buf, off, off + ml);
    head.uri = text(buf, uriStart, uriEnd);
    head.version = text(buf, vOff, lineEnd);
  } else if (isHttpStatusStart(buf, off, end)) {
    head.version = text(buf, off, off + 8);
    let p = off + 9;
    let code = 0;
    let digits = 0;
    while (p < lineEnd && isDigit(buf[p]) && digits < 3) {
      code = code * 10 + buf[p] - 0x30;
      digits++;
      p++;
    }
    head.statusCode = digits === 3 ? code : null;
  } else {
    return null;
  }
  if (eol >= end) return head;
  // Header lines.
  let p = eol + 1;
  while (p < end) {
    let e = p;
    while (e < end && buf[e] !== 0x0a) e++;
    if (e >= end) break; // incomplete line
    let le = e;
    if (le > p && buf[le - 1] === 0x0d) le--;
    if (le === p) {
      head.complete = true;
      head.headEnd = e + 1;
      return head;
    }
    let colon = p;
    while (colon < le && buf[colon] !== 0x3a) colon++;
    if (colon < le && buf[p] !== 0x20 && buf[p] !== 0x09) {
      let vs = colon + 1;
      while (vs < le && (buf[vs] === 0x20 || buf[vs] === 0x09)) vs++;
      let ve = le;
      while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
      if (head.host === null && nameIs(buf, p, colon, "host")) head.host = fieldValue(buf, vs, ve, e, end);
      else if (head.userAgent === null && nameIs(buf, p, colon, "user-agent")) {
        head.userAgent = fieldValue(buf, vs, ve, e, end);
      } else if (head.contentType === null && nameIs(buf, p, colon, "content-type")) {
        head.contentType = fieldValue(buf, vs, ve, e, end);
      } else if (head.upgrade === null && nameIs(buf, p, colon, "upgrade")) {
        head.upgrade = fieldValue(buf, vs, ve, e, end);
      } else if (head.contentLength === null && nameIs(buf, p, colon, "content-length")) {
        const v = fieldValue(buf, vs, ve, e, end);
        if (/^[0-9]{1,15}$/.test(v)) head.contentLength = Number(v);
      }
    }
    p = e + 1;
  }
  return head;
}

/**
 * A header field's value `buf[vs, ve)` (trimmed), whose line ends with the line feed at `lf`, with the lines
 * that continue it (obs-fold: a line starting with a space or tab) joined by a space, as RFC 9112 section 5.2
 * asks of a recipient (their text was lost: `Content-Type:` folded onto the next line read as "").
 */
function fieldValue(buf: Uint8Array, vs: number, ve: number, lf: number, end: number): string {
  let q = lf + 1;
  if (q >= end || (buf[q] !== 0x20 && buf[q] !== 0x09)) return text(buf, vs, ve);
  let value = text(buf, vs, ve);
  while (q < end && (buf[q] === 0x20 || buf[q] === 0x09)) {
    let e = q;
    while (e < end && buf[e] !== 0x0a) e++;
    if (e >= end) break;
    let s = q, t = e > q && buf[e - 1] === 0x0d ? e - 1 : e;
    while (s < t && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
    while (t > s && (buf[t - 1] === 0x20 || buf[t - 1] === 0x09)) t--;
    if (t > s) value = value === "" ? text(buf, s, t) : `${value} ${text(buf, s, t)}`;
    q = e + 1;
  }
  return value;
}

/** Per-direction frame parser state of {@linkcode Http2Connection}. */
class H2Dir {
  hdr = new Uint8Array(9);
  hdrLen = 0;
  /** Payload bytes of the current frame still to skip. */
  remaining = 0;
  type = 0;
  flags = 0;
  stream = 0;
  /** First payload bytes of a PUSH_PROMISE (pad length and promised stream id). */
  peek = new Uint8Array(5);
  peekLen = 0;
  peekNeed = 0;
  failed = false;
  /** Frames read in this direction. */
  frames = 0;
  /** False after bytes were lost (see `Http2Connection.resync`) until a frame header is found again. */
  inSync = true;
  /** Bytes passed over since the resync began, without a frame header found. */
  resyncPassed = 0;
}

/** Streams a resync allows past the highest seen: those the lost bytes may have opened. */
const RESYNC_NEW_STREAMS = 200;
/**
 * Bytes a resync passes over before it allows any stream: a DATA frame's (16 KiB) and some. Where frames are on
 * streams that bound allows, the next real header comes within that; where none comes, the lost bytes opened more
 * streams (a burst of requests the capture missed), and counting resumes rather than never.
 */
const RESYNC_WIDEN_AFTER = 16384 + 1024;

/**
 * The 9 bytes at `b[o]` can be a frame header as senders write them: a frame of at most 16 KiB (the size
 * every peer accepts without a SETTINGS change), a known type with only its defined flags, the reserved bit 0,
 * a length its type allows (DATA and HEADERS not empty, but a DATA that ends its stream), and a stream its type
 * allows, at most `maxStream` (zero-heavy binaries hold pairs of such headers by the thousand per megabyte when
 * any stream number and empty DATA frames pass: a review's ELF and font downloads).
 */
function plausibleFrameHeader(b: Uint8Array, o: number, maxStream: number): boolean {
  const len = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  const type = b[o + 3], fl = b[o + 4];
  if (len > 16384 || (b[o + 5] & 0x80) !== 0) return false;
  const sid = (b[o + 5] << 24) | (b[o + 6] << 16) | (b[o + 7] << 8) | b[o + 8];
  if (sid > maxStream) return false;
  switch (type) {
    case H2Frame.DATA:
      return sid !== 0 && (fl & ~0x09) === 0 && (len > 0 || (fl & 1) !== 0);
    case H2Frame.HEADERS:
      return sid !== 0 && (fl & ~0x2d) === 0 && len > 0;
    case H2Frame.PRIORITY:
      return sid !== 0 && fl === 0 && len === 5;
    case H2Frame.RST_STREAM:
      return sid !== 0 && fl === 0 && len === 4;
    case H2Frame.SETTINGS:
      return sid === 0 && (fl & ~1) === 0 && len % 6 === 0 && ((fl & 1) === 0 || len === 0);
    case H2Frame.PUSH_PROMISE:
      return sid !== 0 && (fl & ~0x0c) === 0 && len >= 4;
    case H2Frame.PING:
      return sid === 0 && (fl & ~1) === 0 && len === 8;
    case H2Frame.GOAWAY:
      return sid === 0 && fl === 0 && len >= 8;
    case H2Frame.WINDOW_UPDATE:
      return fl === 0 && len === 4;
    case H2Frame.CONTINUATION:
      return sid !== 0 && (fl & ~0x04) === 0 && len > 0;
    default:
      return false;
  }
}

/** Most streams tracked as open at once; beyond it the connection is multiplexed anyway. */
const MAX_OPEN_STREAMS = 256;

/**
 * Both directions of an HTTP/2 connection: frame headers are parsed incrementally (a frame may span any number
 * of segments), payloads are skipped except the promised stream id of PUSH_PROMISE. Feed it each direction's
 * bytes in order, starting at a frame boundary (after the client preface).
 *
 * @example
 * ```ts
 * import { Http2Connection } from "./http.ts";
 * const c = new Http2Connection();
 * c.feed(0, new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]), 0, 9); // empty SETTINGS
 * console.log(c.frames, c.settings); // 1 1
 * ```
 */
export class Http2Connection {
  /** Valid frames seen, in total and by type. */
  frames = 0;
  data = 0;
  headers = 0;
  priority = 0;
  rstStream = 0;
  settings = 0;
  pushPromise = 0;
  ping = 0;
  goaway = 0;
  windowUpdate = 0;
  continuation = 0;
  /** Distinct streams seen opening (HEADERS, DATA or a promised id above the highest so far of its parity). */
  streamsOpened = 0;
  /** True once two streams were open at the same time. */
  multiplexed = false;
  private maxId: number[] = [0, 0];
  /** Open streams: id → bits (1 client side ended, 2 server side ended). */
  private open = new Map<number, number>();
  /** Streams a PUSH_PROMISE reserved: not open until the server's HEADERS on them (RFC 9113 section 5.1). */
  private reserved = new Set<number>();
  private dirs: H2Dir[] = [new H2Dir(), new H2Dir()];

  /**
   * Payload bytes of `dir`'s current frame that the parser passes over unread (0 while it still reads some, as a
   * PUSH_PROMISE's promised stream id, or between frames).
   *
   * @example
   * ```ts
   * import { Http2Connection } from "./http.ts";
   * const c = new Http2Connection();
   * c.feed(0, new Uint8Array([0, 0, 100, 0, 0, 0, 0, 0, 1]), 0, 9); // a DATA frame of 100 bytes, none yet
   * console.log(c.skippable(0)); // 100
   * ```
   */
  skippable(dir: 0 | 1): number {
    const d = this.dirs[dir];
    return d.failed || d.peekLen < d.peekNeed ? 0 : d.remaining;
  }

  /**
   * Passes over `n` bytes of {@linkcode Http2Connection.skippable}, which the stream need not hold (see
   * `TcpStreamBuffer.skip`).
   *
   * @example
   * ```ts
   * import { Http2Connection } from "./http.ts";
   * const c = new Http2Connection();
   * c.feed(0, new Uint8Array([0, 0, 100, 0, 0, 0, 0, 0, 1]), 0, 9);
   * c.skip(0, 100);
   * console.log(c.skippable(0)); // 0
   * ```
   */
  skip(dir: 0 | 1, n: number): void {
    const d = this.dirs[dir];
    d.remaining -= Math.min(n, this.skippable(dir));
  }

  /** True when the direction (0 client, 1 server) stopped parsing on an invalid frame. */
  failed(dir: 0 | 1): boolean {
    return this.dirs[dir].failed;
  }

  /**
   * Consumes `buf[off, end)` from the client (`dir` 0) or the server (1); returns how many bytes it took: all
   * of them, but after a {@linkcode Http2Connection.resync}, where the bytes from a frame header not yet
   * confirmed on are left to be given again with more. Never throws.
   */
  feed(dir: 0 | 1, buf: Uint8Array, off: number, end: number, final = false): number {
    if (end > buf.length) end = buf.length;
    const d = this.dirs[dir];
    let p = off;
    if (!d.inSync) {
      const wide = d.resyncPassed > RESYNC_WIDEN_AFTER;
      const at = this.findFrameHeader(buf, off, end, final, wide);
      if (at < 0) {
        const took = -at - 1 - off;
        d.resyncPassed += took;
        return took;
      }
      d.inSync = true;
      d.resyncPassed = 0;
      p = at;
    }
    while (p < end && !d.failed) {
      if (d.remaining > 0) {
        if (d.peekLen < d.peekNeed) {
          const take = Math.min(d.peekNeed - d.peekLen, end - p, d.remaining);
          for (let i = 0; i < take; i++) d.peek[d.peekLen++] = buf[p + i];
          p += take;
          d.remaining -= take;
          if (d.peekLen === d.peekNeed) this.onPushPromise(d);
          continue;
        }
        const n = Math.min(d.remaining, end - p);
        d.remaining -= n;
        p += n;
        continue;
      }
      while (d.hdrLen < 9 && p < end) d.hdr[d.hdrLen++] = buf[p++];
      if (d.hdrLen < 9) return end - off;
      d.hdrLen = 0;
      const h = d.hdr;
      const len = (h[0] << 16) | (h[1] << 8) | h[2];
      d.type = h[3];
      d.flags = h[4];
      d.stream = ((h[5] & 0x7f) << 24 | (h[6] << 16) | (h[7] << 8) | h[8]) >>> 0;
      if (!this.onFrame(dir, d, len)) {
        d.failed = true;
        return end - off;
      }
      d.remaining = len;
      d.peekLen = 0;
      d.peekNeed = 0;
      if (d.type === H2Frame.PUSH_PROMISE) {
        d.peekNeed = Math.min(len, d.flags & 0x8 ? 5 : 4);
        if (d.peekNeed < 4) d.peekNeed = 0;
      }
    }
    return end - off;
  }

  /**
   * Bytes of `dir` were lost where a frame header lay (not captured, or more than a stream buffer holds before
   * their retransmission): the frame being read is given up, and reading resumes at the next frame header that
   * the two after it confirm (see {@linkcode plausibleFrameHeader}); the frames in between are not counted.
   * Streams whose end was among them would stay open for ever: none is taken as open any more, so that
   * multiplexing is not inferred from them.
   *
   * @example
   * ```ts
   * import { Http2Connection } from "./http.ts";
   * const c = new Http2Connection();
   * c.resync(1);
   * const ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
   * console.log(c.feed(1, new Uint8Array([9, 9, 9, ...ping, ...ping, ...ping]), 0, 54), c.ping); // 54 3
   * ```
   */
  resync(dir: 0 | 1): void {
    const d = this.dirs[dir];
    if (d.failed) return;
    d.inSync = false;
    d.hdrLen = 0;
    d.remaining = 0;
    d.peekLen = 0;
    d.peekNeed = 0;
    d.resyncPassed = 0;
    // Its first frame, the SETTINGS that must open a direction, may have been among the bytes lost.
    if (d.frames === 0) d.frames = 1;
    this.open.clear();
  }

  /**
   * Where in `b[off, end)` a frame header begins that the two after it confirm (each where the one before ends),
   * or, when these are the last bytes (`final`), whose frames end exactly at `end`; when none is found, -(k + 1)
   * for the position k from which the bytes must be given again (a header whose next two frames end past
   * `end`, or the last 8 bytes, which may begin one).
   */
  private findFrameHeader(b: Uint8Array, off: number, end: number, final: boolean, wide: boolean): number {
    const maxStream = wide ? 0x7fffffff : Math.max(this.maxId[0], this.maxId[1]) + RESYNC_NEW_STREAMS;
    for (let x = off; x + 9 <= end; x++) {
      if (!plausibleFrameHeader(b, x, maxStream)) continue;
      const y = x + 9 + ((b[x] << 16) | (b[x + 1] << 8) | b[x + 2]);
      // Its frames (16 KiB at most each) end past `end`: wait for those bytes.
      if (y + 9 > end) {
        if (final && y === end) return x;
        return -(x + 1);
      }
      if (!plausibleFrameHeader(b, y, maxStream)) continue;
      const z = y + 9 + ((b[y] << 16) | (b[y + 1] << 8) | b[y + 2]);
      if (z + 9 > end) {
        if (final && z === end) return x;
        return -(x + 1);
      }
      if (plausibleFrameHeader(b, z, maxStream)) return x;
    }
    return -(Math.max(off, end - 8) + 1);
  }

  /**
   * The connection's start was seen (the client's preface): each side's first frame must be its SETTINGS
   * (RFC 9113 section 3.4), so that a server answering in another protocol is not read as frames.
   */
  startSeen(): void {
    this.settingsFirst = true;
  }

  private settingsFirst = false;

  /** Validates and counts a frame header; false when it cannot be HTTP/2. */
  private onFrame(dir: 0 | 1, d: H2Dir, len: number): boolean {
    const t = d.type, sid = d.stream, fl = d.flags;
    if (d.frames++ === 0 && this.settingsFirst && t !== H2Frame.SETTINGS) return false;
    switch (t) {
      case H2Frame.DATA:
        if (sid === 0) return false;
        this.data++;
        this.touch(dir, sid, (fl & 1) !== 0);
        break;
      case H2Frame.HEADERS:
        if (sid === 0) return false;
        this.headers++;
        this.touch(dir, sid, (fl & 1) !== 0);
        break;
      case H2Frame.PRIORITY:
        if (sid === 0 || len !== 5) return false;
        this.priority++;
        break;
      case H2Frame.RST_STREAM:
        if (sid === 0 || len !== 4) return false;
        this.rstStream++;
        this.open.delete(sid);
        // A refused push closes its reserved stream: frames already in flight on it do not open it again.
        this.reserved.delete(sid);
        break;
      case H2Frame.SETTINGS:
        if (sid !== 0 || len % 6 !== 0 || ((fl & 1) !== 0 && len !== 0)) return false;
        this.settings++;
        break;
      case H2Frame.PUSH_PROMISE:
        if (sid === 0 || dir === 0) return false;
        this.pushPromise++;
        break;
      case H2Frame.PING:
        if (sid !== 0 || len !== 8) return false;
        this.ping++;
        break;
      case H2Frame.GOAWAY:
        if (sid !== 0 || len < 8) return false;
        this.goaway++;
        break;
      case H2Frame.WINDOW_UPDATE:
        if (len !== 4) return false;
        this.windowUpdate++;
        break;
      case H2Frame.CONTINUATION:
        if (sid === 0) return false;
        this.continuation++;
        break;
      default:
        // Unknown types are allowed and ignored (RFC 9113 section 4.1).
        break;
    }
    this.frames++;
    return true;
  }

  /**
   * The connection began with an HTTP/1.1 upgrade (h2c): that request is stream 1, half-closed on the client
   * side (RFC 9113 section 3.2), so the server's END_STREAM on it closes it.
   */
  upgraded(): void {
    this.openStream(1, 1);
  }

  private onPushPromise(d: H2Dir): void {
    const o = d.peekNeed === 5 ? 1 : 0;
    const p = d.peek;
    const id = ((p[o] & 0x7f) << 24 | (p[o + 1] << 16) | (p[o + 2] << 8) | p[o + 3]) >>> 0;
    if (id === 0 || id <= this.maxId[id & 1]) return;
    // Reserved, not yet open: it counts as a stream, and opens (half-closed on the client side) with its HEADERS.
    this.maxId[id & 1] = id;
    this.streamsOpened++;
    if (this.reserved.size < MAX_OPEN_STREAMS) this.reserved.add(id);
  }

  private openStream(id: number, bits: number): void {
    const parity = id & 1;
    if (id > this.maxId[parity]) {
      this.maxId[parity] = id;
      this.streamsOpened++;
    }
    if (!this.open.has(id) && this.open.size < MAX_OPEN_STREAMS) this.open.set(id, bits);
    if (this.open.size >= 2) this.multiplexed = true;
  }

  private touch(dir: 0 | 1, sid: number, endStream: boolean): void {
    let bits = this.open.get(sid);
    if (bits === undefined && this.reserved.delete(sid)) {
      if (this.open.size < MAX_OPEN_STREAMS) this.open.set(sid, 1);
      if (this.open.size >= 2) this.multiplexed = true;
      bits = this.open.get(sid);
      if (bits === undefined) return;
    }
    if (bits === undefined) {
      // Only new streams open; frames of a closed stream (or one never tracked) are ignored.
      if (sid <= this.maxId[sid & 1]) return;
      this.openStream(sid, 0);
      bits = this.open.get(sid);
      if (bits === undefined) return;
    }
    if (endStream) {
      bits |= dir === 0 ? 1 : 2;
      if (bits === 3) this.open.delete(sid);
      else this.open.set(sid, bits);
    }
  }
}
