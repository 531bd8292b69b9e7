/**
 * Joy's DNS feature (`dns.c`): keeps the first DNS messages of each direction and prints them as Joy 4.5 does:
 * question name (`qn` for queries, `rn` for responses), return code and the resource records (`a`, `aaaa`,
 * `cname`, `ns`, `ptr`, `soa`, `mx`, or type/class/rdlength), with the TTL of each, including Joy's handling
 * of malformed messages.
 *
 * @module
 */

const MAX_NUM_DNS_PKT = 200;
/** Joy's DNS_OUTNAME_LEN: names are read into a buffer of 256 bytes, of which 255 may be written. */
const OUTNAME_LEN = 256;

/**
 * DNS messages kept for one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoyDns } from "./dns.ts";
 * const d = new JoyDns();
 * d.update(new Uint8Array(12), 0, 12); // too short: ignored
 * console.log(d.messages.length); // 0
 * ```
 */
export class JoyDns {
  /** Copies of the messages (at most 200). */
  messages: Uint8Array[] = [];

  /**
   * `dns_update`: one UDP payload of `len` bytes (as the headers give it). Joy copies that many bytes from its
   * packet buffer even when fewer were captured; what `buf` holds past the packet is copied the same way up to
   * `end`, and zeros past it.
   */
  update(buf: Uint8Array, off: number, len: number, end: number = buf.length): void {
    if (this.messages.length >= MAX_NUM_DNS_PKT || len < 13) return;
    const m = new Uint8Array(len);
    if (off < end) m.set(buf.subarray(off, Math.min(end, buf.length, off + len)));
    this.messages.push(m);
  }
}

const ERR_OK = 0;

function printable(c: number): string {
  return c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : "*";
}

/**
 * Joy's name parser; `st.p`/`st.len` advance as in C. Returns [err, name]. Reading stops once `outLen`
 * characters are written (Joy's fixed `terminus`); a pointer's name is read with what is left of it.
 */
function parseName(
  m: Uint8Array,
  st: { p: number; len: number },
  outLen: number,
  mx: boolean,
  depth = 0,
): [number, string] {
  let out = "";
  let c = st.p;
  let offsetLen = st.p + st.len;
  let pref = false;
  if (st.len <= 0 || outLen < 2 || depth > 64) return [9, ""];
  while (st.len > 0 && out.length < outLen) {
    const b = c < m.length ? m[c] : 0;
    if ((b & 0xc0) === 0) {
      if (mx && !pref) {
        c += 2;
        st.len -= 2;
        pref = true;
      }
      const l = c < m.length ? m[c] : 0;
      if (l < 64 && st.len > l) {
        if (l === 0) {
          st.p = c + 1;
          return [ERR_OK, out];
        }
        out += ".";
        for (let i = 1; i <= l; i++) out += printable(c + i < m.length ? m[c + i] : 0);
        st.len -= l + 1;
        c += l + 1;
        st.p += l + 1;
      } else return [2, out];
    } else if ((b & 0xc0) === 0xc0) {
      if (st.len < 2) return [3, out];
      const o = (((m[st.p] ?? 0) << 8) | (m[st.p + 1] ?? 0)) & 0x3fff;
      st.p += 2;
      st.len -= 2;
      offsetLen -= o;
      const sub = { p: o, len: offsetLen };
      const [e, rest] = parseName(m, sub, outLen - out.length, false, depth + 1);
      return [e, out + rest];
    } else return [5, out];
  }
  return [9, out];
}

/** Prints the RDATA of one record; returns [err, text]. `rd` is the record's remaining rdlength. */
function rdata(
  m: Uint8Array,
  type: number,
  cls: number,
  rdlen: number,
  st: { p: number },
  rd: { len: number },
): [
  number,
  string,
] {
  if (cls === 1) {
    if (type === 1) {
      if (rd.len < 4) return [4, ""];
      if (rdlen !== 4) return [6, ""];
      const p = st.p;
      st.p += 4;
      rd.len -= 4;
      return [ERR_OK, `"a":"${m[p]}.${m[p + 1]}.${m[p + 2]}.${m[p + 3]}"`];
    }
    if (type === 28) {
      if (rd.len < 16) return [4, ""];
      if (rdlen !== 16) return [6, ""];
      const p = st.p;
      st.p += 16;
      rd.len -= 16;
      return [ERR_OK, `"aaaa":"${ip6(m, p)}"`];
    }
    if (type === 6 || type === 12 || type === 5 || type === 2 || type === 15) {
      const s2 = { p: st.p, len: rd.len };
      const [e, name] = parseName(m, s2, OUTNAME_LEN - 1, type === 15);
      st.p = s2.p;
      rd.len = s2.len;
      if (e !== ERR_OK) return [e, ""];
      const tn = type === 6 ? "soa" : type === 12 ? "ptr" : type === 2 ? "ns" : type === 15 ? "mx" : "cname";
      if (rd.len - 1 > 0) {
        st.p += rd.len - 1;
        rd.len = 1;
      }
      return [ERR_OK, `"${tn}":${JSON.stringify(name.slice(1))}`];
    }
    if (type === 16) return [ERR_OK, `"txt":"NYI"`];
  }
  if (rd.len < rdlen) return [4, ""];
  st.p += rdlen;
  rd.len -= rdlen;
  return [ERR_OK, `"type":"${type.toString(16)}","class":"${cls.toString(16)}","rdlength":${rdlen}`];
}

function ip6(m: Uint8Array, p: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((m[p + 2 * i] << 8) | m[p + 2 * i + 1]);
  let bs = -1, bl = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bl && j - i >= 2) {
      bs = i;
      bl = j - i;
    }
    i = j;
  }
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) {
    if (i === bs) {
      parts.push(i === 0 ? ":" : "");
      i += bl - 1;
      if (i === 7) parts.push("");
      continue;
    }
    if (i === 6 && bs === 0 && (bl === 6 || (bl === 5 && w[5] === 0xffff))) {
      parts.push(`${m[p + 12]}.${m[p + 13]}.${m[p + 14]}.${m[p + 15]}`);
      break;
    }
    parts.push(w[i].toString(16));
  }
  return parts.join(":");
}

/** The end of a message whose record header cannot be read (Joy's `dns_rr_parse` error), with its note. */
function rrMalformed(section: string, left: number, err: number, len: number): string {
  return `"malformed":${len},"DEBUG": "rr ${section}=${left}; err=${err}; len=${len}"}]}`;
}

/** One message as Joy's `dns_print_packet`. */
function packetJson(m: Uint8Array): string {
  let s = "{";
  const pktLen = m.length;
  if (pktLen < 12) return s + `"malformed":0}`;
  const flags = (m[2] << 8) | m[3];
  const rcode = flags & 0xf;
  const qr = flags >> 15 ? "r" : "q";
  const st = { p: 12, len: pktLen - 12 };
  let qd = (m[4] << 8) | m[5];
  // Joy 4.5 adds a debug note (zprintf_debug, with a space after its colon) to each malformed message but one
  // whose record data cannot be read.
  if (qd > 1) return s + `"malformed":${st.len},"DEBUG": "qdcount=${qd}; err=8"}`;
  while (qd-- > 0) {
    const [e, name] = parseName(m, st, OUTNAME_LEN - 1, false);
    if (e !== ERR_OK) return s + `"malformed":${st.len},"DEBUG": "question name err=${e}; len=${st.len}"}`;
    if (st.len < 4) return s + `"malformed":${st.len},"DEBUG": "question err=4; len=${st.len}"}`;
    st.p += 4;
    st.len -= 4;
    s += `"${qr}n":${JSON.stringify(name.slice(1))},`;
  }
  s += `"rc":${rcode},"rr":[`;
  const counts = [(m[6] << 8) | m[7], (m[8] << 8) | m[9], (m[10] << 8) | m[11]];
  const countNames = ["ancount", "nscount", "arcount"];
  let comma = 0;
  let rdlength = 0;
  for (let sec = 0; sec < 3; sec++) {
    let n = counts[sec];
    if (sec > 0 && rdlength > 1) st.p += rdlength - 1;
    while (n-- > 0) {
      if (comma++) s += ",";
      s += "{";
      const [e] = parseName(m, st, OUTNAME_LEN - 1, false);
      if (e !== ERR_OK) {
        return s +
          `"malformed":${st.len},"DEBUG": "rr name ${countNames[sec]}=${n}; err=${e}; len=${st.len}"}]}`;
      }
      if (st.len < 10) return s + rrMalformed(countNames[sec], n, 4, st.len);
      const p = st.p;
      const type = (m[p] << 8) | m[p + 1];
      const cls = (m[p + 2] << 8) | m[p + 3];
      const ttl = ((m[p + 4] << 24) | (m[p + 5] << 16) | (m[p + 6] << 8) | m[p + 7]) >>> 0;
      const rdl = (m[p + 8] << 8) | m[p + 9];
      if (st.len < rdl) return s + rrMalformed(countNames[sec], n, 10, st.len);
      rdlength = rdl;
      st.p += 10;
      st.len -= 10;
      const rd = { len: rdlength };
      const [e2, text] = rdata(m, type, cls, rdl, st, rd);
      rdlength = rd.len;
      if (e2 !== ERR_OK) return s + `"malformed":${st.len}}]}`;
      s += text;
      st.len -= rdlength;
      if (rdlength > 1) {
        st.p += rdlength - 1;
        rdlength = 1;
      }
      s += `,"ttl":${ttl}}`;
    }
  }
  return s + "]}";
}

/**
 * `dns_print_json`: the `"dns"` list of a flow. For a bidirectional flow Joy 4.5 prints the twin's messages
 * (the other direction's), for a unidirectional one the record's own.
 *
 * @example
 * ```ts
 * import { dnsPrintJson, JoyDns } from "./dns.ts";
 * console.log(dnsPrintJson(new JoyDns(), null, false)); // ""
 * ```
 */
export function dnsPrintJson(d1: JoyDns, d2: JoyDns | null, hasTwin: boolean): string {
  const src = hasTwin ? d2 : d1;
  const count = src ? Math.min(src.messages.length, MAX_NUM_DNS_PKT) : 0;
  if (count === 0 || src === null) return "";
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(packetJson(src.messages[i]));
  return `,"dns":[${parts.join(",")}]`;
}
