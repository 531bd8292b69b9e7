/**
 * Joy's HTTP feature (`http.c`): for each TCP payload that starts like an HTTP/1 message, the start line, the
 * header elements (names and values as sent, made printable) and the first 16 body bytes, at most 15 messages
 * per direction. Joy parses every payload on its own, without reassembly; so does this module.
 *
 * @module
 */
import { hex } from "./json.ts";

const MAGIC = 16;
const HTTP_MAX_LEN = 2048;
const HTTP_MAX_MESSAGES = 16;
const HTTP_MAX_HEADER_ELEMENTS = 32;
const MAX_STRLEN = 2048;

const T_DONE = 0, T_HEADER = 2, T_REQUEST = 3, T_STATUS = 4, T_MALFORMED = 5;

/**
 * One parsed message.
 *
 * @example
 * ```ts
 * import { JoyHttp, type JoyHttpMessage } from "./http.ts";
 * const h = new JoyHttp();
 * const response = new TextEncoder().encode("HTTP/1.1 404 Not Found\r\nServer: x\r\n\r\n");
 * h.update(response, 0, response.length);
 * const m: JoyHttpMessage = h.messages[0];
 * console.log(m.lineType, m.line, m.elements); // status [ "HTTP/1.1", "404", "Not Found" ] [ [ "Server", "x" ] ]
 * ```
 */
export interface JoyHttpMessage {
  /** `request`, `status`, or `none` (no start line). */
  lineType: "request" | "status" | "none";
  /** Start line tokens: method, uri, version (request) or version, code, reason (status). */
  line: [string, string, string];
  /** Header elements in order. */
  elements: [string, string][];
  /** First body bytes (16, zero-padded as Joy copies them), or null. */
  body: Uint8Array | null;
}

function cstr(b: Uint8Array, p: number): string {
  if (p < 0) return "";
  let s = "";
  for (let i = p; i < b.length && b[i] !== 0 && i - p < MAX_STRLEN; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * HTTP messages of one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoyHttp } from "./http.ts";
 * const h = new JoyHttp();
 * const req = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
 * h.update(req, 0, req.length);
 * console.log(h.messages[0].line[0]); // GET
 * ```
 */
export class JoyHttp {
  /** Messages parsed so far. */
  messages: JoyHttpMessage[] = [];

  /**
   * `http_update`: one TCP payload of `len` bytes at `buf[off]`; bytes at or past `end` read as zero (Joy
   * reads the whole length its headers give, captured or not; see `JoyContext.processPacket`).
   */
  update(buf: Uint8Array, off: number, len: number, end: number = buf.length): void {
    if (len === 0 || this.messages.length >= HTTP_MAX_MESSAGES - 1) return;
    const tmpLen = Math.min(len + MAGIC, HTTP_MAX_LEN);
    const dst = new Uint8Array(tmpLen);
    copyUpToCrlfCrlf(dst, buf, off, tmpLen, Math.min(len, end - off));
    const msg = parseMessage(dst, tmpLen);
    if (msg !== null) this.messages.push(msg);
  }
}

function copyUpToCrlfCrlf(
  dst: Uint8Array,
  src: Uint8Array,
  off: number,
  length: number,
  srcLen: number,
): void {
  let state = 0;
  let bodyBytes = 0;
  for (let i = 0; i < length; i++) {
    if (i === length - MAGIC) break;
    const c = i < srcLen ? src[off + i] : 0;
    dst[i] = c;
    if (state === 4) {
      if (bodyBytes < MAGIC) bodyBytes++;
      else break;
    } else {
      if ((c < 32 || c > 126) && c !== 13 && c !== 10) dst[i] = 46;
      if (dst[i] === 34 || dst[i] === 92) dst[i] = 46;
      if (c === 13) {
        if (state === 0) state = 1;
        else if (state === 2) state = 3;
      } else if (c === 10) {
        if (state === 1) state = 2;
        else if (state === 3) state = 4;
      } else if (state !== 4) state = 0;
    }
  }
}

interface Cursor {
  p: number;
  len: number;
}

function startLine(s: Uint8Array, cur: Cursor, tok: number[]): number {
  if (cur.p < 0) return T_DONE;
  let state = 0, start = 0, last = 0, lineType = T_REQUEST;
  const src = cur.p;
  tok[0] = src;
  tok[1] = tok[2] = -1;
  for (let i = 0; i < cur.len; i++) {
    const c = s[src + i];
    if (c === 13) {
      if (state === 0) state = 1;
      else if (state === 2) state = 3;
      s[src + i] = 46;
    } else if (c === 10) {
      if (state === 1) state = 2;
      else if (state === 3) state = 4;
      s[src + i] = 46;
    } else if (c === 32) {
      if (start === 0) start = 1;
      else if (start === 2) start = 3;
      state = 0;
    } else {
      if (state === 2) {
        s[src + i - 2] = 0;
        cur.len -= i;
        cur.p = src + i;
        return start === 4 ? lineType : T_MALFORMED;
      }
      if (start === 0) {
        if (last === 0 && c === 72) last = 72;
        else if ((last === 72 || last === 84) && c === 84) last = 84;
        else if (last === 84 && c === 80) lineType = T_STATUS;
      } else if (start === 1) {
        s[src + i - 1] = 0;
        tok[1] = src + i;
        start = 2;
      } else if (start === 3) {
        s[src + i - 1] = 0;
        tok[2] = src + i;
        start = 4;
      }
      state = 0;
    }
    if (state === 4) {
      s[src + i - 3] = 0;
      cur.len -= i;
      cur.p = src + i;
      return T_DONE;
    }
  }
  cur.p = -1;
  return T_MALFORMED;
}

function nextLine(s: Uint8Array, cur: Cursor, tok: number[]): number {
  if (cur.p < 0) return T_DONE;
  let state = 0, hs = 0;
  const src = cur.p;
  tok[0] = src;
  tok[1] = -1;
  for (let i = 0; i < cur.len; i++) {
    const c = s[src + i];
    if (c === 13) {
      if (state === 0) state = 1;
      else if (state === 2) state = 3;
      s[src + i] = 46;
    } else if (c === 10) {
      if (state === 1) state = 2;
      else if (state === 3) state = 4;
      s[src + i] = 46;
    } else if (c === 58) {
      if (hs === 0) {
        s[src + i] = 0;
        hs = 1;
      }
      state = 0;
    } else if (c === 32) {
      // whitespace is skipped
    } else {
      if (state === 2) {
        s[src + i - 2] = 0;
        cur.len -= i;
        cur.p = src + i;
        return T_HEADER;
      }
      if (hs === 1) {
        tok[1] = src + i;
        hs = 2;
      }
      state = 0;
    }
    if (state === 4) {
      s[src + i - 3] = 0;
      cur.len = cur.len - i - 1;
      cur.p = src + i + 1;
      return hs > 0 ? -T_HEADER : T_DONE;
    }
  }
  cur.p = -1;
  return T_MALFORMED;
}

function parseMessage(s: Uint8Array, length: number): JoyHttpMessage | null {
  if (length < 4) return null;
  const cur: Cursor = { p: 0, len: length };
  const tok = [0, -1, -1];
  let type = startLine(s, cur, tok);
  if (type === T_MALFORMED) return null;
  const msg: JoyHttpMessage = { lineType: "none", line: ["", "", ""], elements: [], body: null };
  if (type === T_REQUEST || type === T_STATUS) {
    msg.lineType = type === T_REQUEST ? "request" : "status";
    msg.line = [cstr(s, tok[0]), cstr(s, tok[1]), cstr(s, tok[2])];
    // Joy 4.5 keeps only start lines that carry an HTTP version.
    if (!msg.line[type === T_REQUEST ? 2 : 0].startsWith("HTTP/")) return null;
  }
  if (type !== T_DONE) {
    for (let i = 0; i < HTTP_MAX_HEADER_ELEMENTS; i++) {
      type = nextLine(s, cur, tok);
      if (type === T_HEADER || type === -T_HEADER) {
        // A header without a value is left out.
        if (tok[1] >= 0) msg.elements.push([cstr(s, tok[0]), cstr(s, tok[1])]);
        if (type === -T_HEADER) {
          type = T_DONE;
          break;
        }
        continue;
      }
      if (type === T_MALFORMED) return msg;
      break;
    }
  }
  if (type === T_DONE && cur.p >= 0) {
    const n = Math.max(0, Math.min(cur.len, MAGIC));
    msg.body = new Uint8Array(n);
    msg.body.set(s.subarray(cur.p, Math.min(s.length, cur.p + n)));
  }
  return msg;
}

function messageJson(m: JoyHttpMessage, uri?: (u: string) => string): string {
  const parts: string[] = [];
  const q = (v: string) => JSON.stringify(v);
  if (m.lineType === "status") {
    parts.push(`{"version":${q(m.line[0])}}`, `{"code":${q(m.line[1])}}`, `{"reason":${q(m.line[2])}}`);
  } else if (m.lineType === "request") {
    parts.push(
      `{"method":${q(m.line[0])}}`,
      `{"uri":${q(uri ? uri(m.line[1]) : m.line[1])}}`,
      `{"version":${q(m.line[2])}}`,
    );
  }
  for (const [k, v] of m.elements) parts.push(`{${q(k)}:${q(v)}}`);
  if (m.body !== null) parts.push(`{"body":"${hex(m.body, 0, m.body.length)}"}`);
  return `[${parts.join(",")}]`;
}

/**
 * `http_print_json`: the `"http"` list pairing the i-th message of each direction (`out` / `in`).
 *
 * @example
 * ```ts
 * import { httpPrintJson, JoyHttp } from "./http.ts";
 * console.log(httpPrintJson(new JoyHttp(), null)); // ""
 * ```
 */
export function httpPrintJson(h1: JoyHttp, h2: JoyHttp | null, uri?: (u: string) => string): string {
  const n1 = h1.messages.length, n2 = h2?.messages.length ?? 0;
  const total = Math.max(n1, n2);
  if (total === 0) return "";
  const items: string[] = [];
  for (let i = 0; i < total; i++) {
    const p: string[] = [];
    if (i < n1) p.push(`"out":${messageJson(h1.messages[i], uri)}`);
    if (h2 && i < n2) p.push(`"in":${messageJson(h2.messages[i], uri)}`);
    items.push(`{${p.join(",")}}`);
  }
  return `,"http":[${items.join(",")}]`;
}
