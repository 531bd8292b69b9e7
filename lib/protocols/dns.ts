/**
 * DNS message parsing (RFC 1035) for UDP payloads and TCP length-prefixed messages: header, question, and the
 * answer section's data and TTLs. Names are expanded with compression pointers under a loop bound and rendered
 * like Wireshark does (`<Root>`, `<Name too long>`, `<Name contains a pointer that loops>`).
 *
 * Pure functions: bytes in, results out; nothing here throws on malformed input.
 *
 * @module
 */

import { byteString } from "./text.ts";
import { formatIp } from "../addr.ts";

/** Longest rendered name, as Wireshark's MAX_DNAME_LEN (255 including the terminator). */
const MAX_DNAME_LEN = 255;
/** Most compression pointers followed for one name. */
const MAX_POINTERS = 255;
/** Most answer strings kept from one message. */
export const DNS_MAX_ANSWERS = 64;

/** Names of the RR types in IANA's registry (but the reserved and private ranges); tshark 4.0 names most. */
const TYPE_NAMES: Record<number, string> = {
  1: "A",
  2: "NS",
  3: "MD",
  4: "MF",
  5: "CNAME",
  6: "SOA",
  7: "MB",
  8: "MG",
  9: "MR",
  10: "NULL",
  11: "WKS",
  12: "PTR",
  13: "HINFO",
  14: "MINFO",
  15: "MX",
  16: "TXT",
  17: "RP",
  18: "AFSDB",
  19: "X25",
  20: "ISDN",
  21: "RT",
  22: "NSAP",
  23: "NSAP-PTR",
  24: "SIG",
  25: "KEY",
  26: "PX",
  27: "GPOS",
  28: "AAAA",
  29: "LOC",
  30: "NXT",
  31: "EID",
  32: "NIMLOC",
  33: "SRV",
  34: "ATMA",
  35: "NAPTR",
  36: "KX",
  37: "CERT",
  38: "A6",
  39: "DNAME",
  40: "SINK",
  41: "OPT",
  42: "APL",
  43: "DS",
  44: "SSHFP",
  45: "IPSECKEY",
  46: "RRSIG",
  47: "NSEC",
  48: "DNSKEY",
  49: "DHCID",
  50: "NSEC3",
  51: "NSEC3PARAM",
  52: "TLSA",
  53: "SMIMEA",
  55: "HIP",
  56: "NINFO",
  57: "RKEY",
  58: "TALINK",
  59: "CDS",
  60: "CDNSKEY",
  61: "OPENPGPKEY",
  62: "CSYNC",
  63: "ZONEMD",
  64: "SVCB",
  65: "HTTPS",
  99: "SPF",
  100: "UINFO",
  101: "UID",
  102: "GID",
  103: "UNSPEC",
  104: "NID",
  105: "L32",
  106: "L64",
  107: "LP",
  108: "EUI48",
  109: "EUI64",
  249: "TKEY",
  250: "TSIG",
  251: "IXFR",
  252: "AXFR",
  253: "MAILB",
  254: "MAILA",
  255: "ANY",
  256: "URI",
  257: "CAA",
  258: "AVC",
  259: "DOA",
  260: "AMTRELAY",
  261: "RESINFO",
  32768: "TA",
  32769: "DLV",
};

/** Names of the RCODEs (RFC 1035, 2136, 6895, 8490; 16 and up extended by an OPT record, RFC 6891, 7873). */
const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  11: "DSOTYPENI",
  16: "BADVERS",
  17: "BADKEY",
  18: "BADTIME",
  19: "BADMODE",
  20: "BADNAME",
  21: "BADALG",
  22: "BADTRUNC",
  23: "BADCOOKIE",
};

/**
 * Mnemonic of an RR type, e.g. 28 → "AAAA"; unknown types as "TYPE<n>" (RFC 3597).
 *
 * @example
 * ```ts
 * import { dnsTypeName } from "./dns.ts";
 * console.log(dnsTypeName(28)); // "AAAA"
 * ```
 */
export function dnsTypeName(t: number): string {
  return TYPE_NAMES[t] ?? `TYPE${t}`;
}

/**
 * Mnemonic of an RCODE, e.g. 3 → "NXDOMAIN", 23 → "BADCOOKIE"; unknown codes as "RCODE<n>".
 *
 * @example
 * ```ts
 * import { dnsRcodeName } from "./dns.ts";
 * console.log(dnsRcodeName(3)); // "NXDOMAIN"
 * ```
 */
export function dnsRcodeName(r: number): string {
  return RCODE_NAMES[r] ?? `RCODE${r}`;
}

/** A parsed DNS message. */
export interface DnsMessage {
  id: number;
  /** The 16 flag bits. */
  flags: number;
  /** True for a response (QR set). */
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdCount: number;
  anCount: number;
  nsCount: number;
  arCount: number;
  /** First question's name, type and class (class without the mDNS QU bit); null when absent or unreadable. */
  qName: string | null;
  qType: number | null;
  qClass: number | null;
  /** Answer-section data as text (A/AAAA addresses, names, TXT strings), at most {@linkcode DNS_MAX_ANSWERS}. */
  answers: string[];
  /** Smallest and largest TTL of the answer-section RRs read whole; null when none could be read. */
  minTtl: number | null;
  maxTtl: number | null;
  /** Answer RRs read whole (fewer than anCount when the message or the capture is cut). */
  answersRead: number;
  /**
   * The upper 8 bits of the extended RCODE, from the OPT record's TTL (RFC 6891 6.1.3): the RCODE is
   * `extendedRcode << 4 | rcode`; 0 without an OPT record or when the records before it could not be read.
   */
  extendedRcode: number;
}

/** Result of {@linkcode readDnsName}: rendered name and the offset just past the name's wire form. */
export interface DnsName {
  name: string;
  next: number;
}

function renderByte(c: number): string {
  if (c >= 0x20 && c < 0x7f) return String.fromCharCode(c);
  switch (c) {
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
  }
  return "\\" + c.toString(8).padStart(3, "0");
}

/**
 * Expands the (possibly compressed) name at `off`. `msgOff` is the start of the DNS message (pointer base), `end`
 * the end of the readable bytes. Returns null when the name runs past `end` or uses a reserved label type.
 *
 * @example
 * ```ts
 * import { readDnsName } from "./dns.ts";
 * const b = new Uint8Array([3, 0x77, 0x77, 0x77, 0]);
 * console.log(readDnsName(b, 0, 0, b.length)); // { name: "www", next: 5 }
 * ```
 */
export function readDnsName(buf: Uint8Array, msgOff: number, off: number, end: number): DnsName | null {
  if (end > buf.length) end = buf.length;
  const out = NAME_SCRATCH;
  let len = 0;
  let p = off;
  let next = -1;
  let pointers = 0;
  let maxname = MAX_DNAME_LEN;
  let first = true;
  for (;;) {
    if (p >= end) return null;
    const c = buf[p++];
    if (c === 0) break;
    const kind = c & 0xc0;
    if (kind === 0) {
      if (p + c > end) return null;
      if (!first) {
        if (maxname > 0) {
          out[len++] = 0x2e;
          maxname--;
        }
      } else {
        maxname--;
        first = false;
      }
      for (let i = 0; i < c && maxname > 0; i++) {
        out[len++] = buf[p + i];
        maxname--;
      }
      p += c;
    } else if (kind === 0xc0) {
      if (p >= end) return null;
      const target = msgOff + (((c & 0x3f) << 8) | buf[p++]);
      if (next < 0) next = p;
      pointers++;
      if (target === p - 2 || pointers > MAX_POINTERS) {
        return { name: "<Name contains a pointer that loops>", next };
      }
      p = target;
    } else {
      // 0x40 extended labels (RFC 2673, obsolete) and 0x80 are not supported.
      return null;
    }
  }
  if (next < 0) next = p;
  if (maxname <= 0) return { name: "<Name too long>", next };
  if (len === 0) return { name: "<Root>", next };
  return { name: renderText(out, 0, len), next };
}

/**
 * Offset just past the wire form of the name at `off`, following compression pointers exactly as
 * {@linkcode readDnsName} does but without rendering it; -1 where readDnsName returns null.
 */
function nameEnd(buf: Uint8Array, msgOff: number, off: number, end: number): number {
  if (end > buf.length) end = buf.length;
  let p = off;
  let next = -1;
  let pointers = 0;
  for (;;) {
    if (p >= end) return -1;
    const c = buf[p++];
    if (c === 0) break;
    const kind = c & 0xc0;
    if (kind === 0) {
      if (p + c > end) return -1;
      p += c;
    } else if (kind === 0xc0) {
      if (p >= end) return -1;
      const target = msgOff + (((c & 0x3f) << 8) | buf[p++]);
      if (next < 0) next = p;
      pointers++;
      if (target === p - 2 || pointers > MAX_POINTERS) return next;
      p = target;
    } else {
      return -1;
    }
  }
  return next < 0 ? p : next;
}

/** Scratch space for a name's raw bytes (at most MAX_DNAME_LEN). */
const NAME_SCRATCH = new Uint8Array(MAX_DNAME_LEN + 1);
const UTF8 = new TextDecoder("utf-8");

/**
 * Renders raw bytes like Wireshark's format_text: printable ASCII as is, valid UTF-8 as characters, invalid bytes
 * as U+FFFD, control characters as C escapes or three-digit octal, other characters that do not print as
 * `\uXXXX` (see {@linkcode NOT_PRINTABLE}).
 */
function renderText(b: Uint8Array, off: number, end: number): string {
  let ascii = true;
  for (let i = off; i < end; i++) {
    if (b[i] >= 0x80) {
      ascii = false;
      break;
    }
  }
  let s = "";
  if (ascii) {
    let printable = true;
    for (let i = off; i < end; i++) {
      if (b[i] < 0x20 || b[i] === 0x7f) {
        printable = false;
        break;
      }
    }
    if (printable) return byteString(b, off, end);
    for (let i = off; i < end; i++) s += renderByte(b[i]);
    return s;
  }
  for (const ch of UTF8.decode(b.subarray(off, end))) {
    const c = ch.codePointAt(0)!;
    s += c < 0x80 ? renderByte(c) : NOT_PRINTABLE.test(ch) ? unicodeEscape(c) : ch;
  }
  return s;
}

/**
 * Characters format_text escapes (glib's `g_unichar_isprint` is false): controls, format characters (a
 * right-to-left override, a zero-width space, a byte order mark), surrogates and unassigned code points, which
 * would otherwise reach the output unseen or reorder it.
 */
const NOT_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Cn}]$/u;

/** `\uXXXX`, or `\UXXXXXXXX` past the basic plane, in upper-case hexadecimal, as format_text writes them. */
function unicodeEscape(c: number): string {
  return c <= 0xffff
    ? `\\u${c.toString(16).toUpperCase().padStart(4, "0")}`
    : `\\U${c.toString(16).toUpperCase().padStart(8, "0")}`;
}

function u16(buf: Uint8Array, o: number): number {
  return (buf[o] << 8) | buf[o + 1];
}

function u32(buf: Uint8Array, o: number): number {
  return ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
}

/** Renders one answer's RDATA as text, or null for types not rendered. */
function rdataText(buf: Uint8Array, msgOff: number, type: number, p: number, rdEnd: number): string | null {
  switch (type) {
    case 1:
      return rdEnd - p === 4 ? ipv4Text(buf, p) : null;
    case 28:
      return rdEnd - p === 16 ? formatIp(buf, p, 6) : null;
    case 2:
    case 5:
    case 12:
    case 39:
      return readDnsName(buf, msgOff, p, rdEnd)?.name ?? null;
    case 15:
      return rdEnd - p >= 3 ? readDnsName(buf, msgOff, p + 2, rdEnd)?.name ?? null : null;
    case 33:
      return rdEnd - p >= 7 ? readDnsName(buf, msgOff, p + 6, rdEnd)?.name ?? null : null;
    case 16: {
      let s = "";
      let q = p;
      while (q < rdEnd) {
        const n = buf[q++];
        s += renderText(buf, q, Math.min(q + n, rdEnd));
        q += n;
      }
      return s;
    }
  }
  return null;
}

/** Dotted quads made recently, by address (answers repeat from flow to flow); emptied when full. */
const ipv4Recent = new Map<number, string>();

function ipv4Text(buf: Uint8Array, p: number): string {
  const a = u32(buf, p);
  let s = ipv4Recent.get(a);
  if (s === undefined) {
    s = `${buf[p]}.${buf[p + 1]}.${buf[p + 2]}.${buf[p + 3]}`;
    if (ipv4Recent.size >= 4096) ipv4Recent.clear();
    ipv4Recent.set(a, s);
  }
  return s;
}

/** Known classes (IN, CS, CH, HS, NONE, ANY) for the sanity check. */
function classOk(c: number): boolean {
  const k = c & 0x7fff;
  // IN, CS (RFC 1035's, obsolete but valid: tshark reads it), CH, HS, NONE, ANY.
  return (k >= 1 && k <= 4) || k === 254 || k === 255;
}

/**
 * True when `buf[off, end)`, a message that the snapshot length cut at `end` inside its question, reads as DNS as
 * far as it goes: a sane header (known opcode; a query with a question and rcode 0; at most 64 questions) and
 * the first question's labels well formed up to the cut. What a cut message can show of being DNS, for a flow on
 * a DNS port (tshark reads such a message by its port, header first).
 *
 * @example
 * ```ts
 * import { isCutDnsMessage } from "./dns.ts";
 * // A query for "example.com" cut after "exa".
 * const q = new Uint8Array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 0x65, 0x78, 0x61]);
 * console.log(isCutDnsMessage(q, 0, q.length)); // true
 * ```
 */
export function isCutDnsMessage(buf: Uint8Array, off: number, end: number): boolean {
  if (end > buf.length) end = buf.length;
  if (off < 0 || end - off < 12) return false;
  const flags = u16(buf, off + 2);
  const opcode = (flags >> 11) & 0xf;
  const qdCount = u16(buf, off + 4);
  if (opcode === 3 || opcode > 6 || qdCount === 0 || qdCount > 64) return false;
  if ((flags & 0x8000) === 0 && (flags & 0xf) !== 0) return false;
  let p = off + 12;
  while (p < end) {
    const c = buf[p];
    // The name ends (a zero, or a pointer) before the cut: the cut falls in the type and class, or the question
    // was whole and something else made the message unreadable.
    if (c === 0) return end - (p + 1) < 4;
    if (c >= 0xc0) return end - (p + 2) < 4;
    if (c > 63) return false;
    p += c + 1;
  }
  return true;
}

/**
 * Parses the DNS message in `buf[off, end)`. Returns null unless the header is sane (known opcode) and every
 * question is readable with a known class (the content-based detection test). A message cut short (snap length,
 * IP fragment) still yields the header, question and the answers that fit. With `wantQName` false the first
 * question's name is checked but not rendered (`qName` stays null).
 *
 * @example
 * ```ts
 * import { parseDnsMessage } from "./dns.ts";
 * const q = new Uint8Array([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
 * console.log(parseDnsMessage(q, 0, q.length)?.qName); // "a"
 * ```
 */
export function parseDnsMessage(
  buf: Uint8Array,
  off: number,
  end: number,
  wantQName = true,
): DnsMessage | null {
  if (end > buf.length) end = buf.length;
  if (off < 0 || end - off < 12) return null;
  const flags = u16(buf, off + 2);
  const opcode = (flags >> 11) & 0xf;
  if (opcode === 3 || opcode > 6) return null;
  const qdCount = u16(buf, off + 4);
  const anCount = u16(buf, off + 6);
  const nsCount = u16(buf, off + 8);
  const arCount = u16(buf, off + 10);
  const qr = (flags & 0x8000) !== 0;
  // A query carries questions; the 4-bit rcode of a query is 0.
  if (!qr && (qdCount === 0 || (flags & 0xf) !== 0)) return null;
  if (qdCount > 64) return null;
  const msg: DnsMessage = {
    id: u16(buf, off),
    flags,
    qr,
    opcode,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdCount,
    anCount,
    nsCount,
    arCount,
    qName: null,
    qType: null,
    qClass: null,
    answers: [],
    minTtl: null,
    maxTtl: null,
    answersRead: 0,
    extendedRcode: 0,
  };
  let p = off + 12;
  let qName: string | null = null;
  for (let i = 0; i < qdCount; i++) {
    // The first question's name is rendered, once it is known to be a valid question; the others are skipped.
    const next = nameEnd(buf, off, p, end);
    if (next < 0 || next + 4 > end) return null;
    const qClass = u16(buf, next + 2);
    if (!classOk(qClass)) return null;
    if (i === 0) {
      if (wantQName) qName = readDnsName(buf, off, p, end)!.name;
      msg.qType = u16(buf, next);
      msg.qClass = qClass & 0x7fff;
    }
    p = next + 4;
  }
  msg.qName = qName;
  if (qdCount === 0) {
    // Responses without a question (mDNS announcements): demand at least one readable RR of a known class.
    if (anCount + nsCount + arCount === 0) return null;
    const next = nameEnd(buf, off, p, end);
    if (next < 0 || next + 10 > end) return null;
    if (!classOk(u16(buf, next + 2)) && u16(buf, next) !== 41) return null;
  }
  for (let i = 0; i < anCount; i++) {
    const next = nameEnd(buf, off, p, end);
    if (next < 0 || next + 10 > end) break;
    const type = u16(buf, next);
    const ttl = u32(buf, next + 4);
    const rdLen = u16(buf, next + 8);
    const rd = next + 10;
    // A record whose data runs past the message (or the capture) is malformed: tshark shows no TTL for it.
    if (rd + rdLen > end) break;
    msg.answersRead++;
    if (msg.minTtl === null || ttl < msg.minTtl) msg.minTtl = ttl;
    if (msg.maxTtl === null || ttl > msg.maxTtl) msg.maxTtl = ttl;
    if (msg.answers.length < DNS_MAX_ANSWERS) {
      const t = rdataText(buf, off, type, rd, rd + rdLen);
      if (t !== null) msg.answers.push(t);
    }
    p = rd + rdLen;
  }
  if (qr && msg.answersRead === anCount) {
    msg.extendedRcode = optExtendedRcode(buf, off, p, end, nsCount, arCount);
  }
  return msg;
}

/** The OPT record's extended RCODE bits among the authority and additional records from `p` (0: none read). */
function optExtendedRcode(
  buf: Uint8Array,
  off: number,
  p: number,
  end: number,
  nsCount: number,
  arCount: number,
): number {
  for (let i = 0; i < nsCount + arCount; i++) {
    const next = nameEnd(buf, off, p, end);
    if (next < 0 || next + 10 > end) return 0;
    const rd = next + 10 + u16(buf, next + 8);
    if (rd > end) return 0;
    if (i >= nsCount && u16(buf, next) === 41) return buf[next + 4];
    p = rd;
  }
  return 0;
}
