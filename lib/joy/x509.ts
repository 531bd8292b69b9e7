/**
 * The certificate fields Joy 4.5 prints for each certificate of a TLS Certificate message (`"s_cert"` /
 * `"c_cert"` entries): length, serial number, signature and its algorithm, issuer and subject attributes,
 * extensions as OpenSSL 3.0 prints them (`X509V3_EXT_print`), validity as `ASN1_TIME_print` writes it, and
 * the public key algorithm and size. Joy reads certificates with OpenSSL; this module parses the DER itself
 * and renders the same text, for the names, extensions and algorithms OpenSSL 3.0 knows and that appear on
 * the web PKI. Strings go through Joy's JSON sanitizer (`joy_utils_convert_to_json_string`: non-printable
 * bytes, `\\`, `/` and `"` become `.`; a NUL ends the string).
 *
 * @module
 */
import { hex } from "./json.ts";
import { opensslObject } from "./openssl_objects.ts";

/** Joy's limits: attributes per name, extensions and certificates kept, serial number and signature size. */
const MAX_RDN = 12;
const MAX_CERT_EXTENSIONS = 12;
const MAX_CERT_SERIAL_LENGTH = 24;
const MAX_SIGNATURE_LENGTH = 512;
/** `MAX_OPENSSL_STRING`: names are cut to 31 characters. */
const MAX_OPENSSL_STRING = 32;

// ---------------------------------------------------------------------------------------------------------
// DER

interface Tlv {
  /** First identifier byte (class, constructed bit, tag number when < 31). */
  tag: number;
  /** Content start and end. */
  start: number;
  end: number;
}

/** Reads one DER element at `off` inside `[off, limit)`, or null when malformed. */
function tlv(d: Uint8Array, off: number, limit: number): Tlv | null {
  if (off + 2 > limit) return null;
  const tag = d[off];
  let p = off + 1;
  if ((tag & 0x1f) === 0x1f) {
    // Multi-byte tag number: skipped over (no such tag is used by certificates).
    while (p < limit && d[p] & 0x80) p++;
    p++;
  }
  if (p >= limit) return null;
  let len = d[p++];
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[p++];
  }
  if (p + len > limit) return null;
  return { tag, start: p, end: p + len };
}

/** The elements of a constructed element's content, or null when one is malformed. */
function children(d: Uint8Array, t: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end;) {
    const c = tlv(d, p, t.end);
    if (c === null) return null;
    out.push(c);
    p = c.end;
  }
  return out;
}

/** Dotted form of an OBJECT IDENTIFIER's content. */
function oidText(d: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let p = t.start; p < t.end; p++) {
    v = v * 128 + (d[p] & 0x7f);
    if (!(d[p] & 0x80)) {
      if (parts.length === 0) {
        const first = v < 40 ? 0 : v < 80 ? 1 : 2;
        parts.push(first, v - first * 40);
      } else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

// ---------------------------------------------------------------------------------------------------------
// OpenSSL 3.0 object names (lib/joy/openssl_objects.ts)

/** Bits of the curve order (`EVP_PKEY_bits` of an EC key) for named curves. */
const CURVE_BITS: Record<string, number> = {
  "1.2.840.10045.3.1.7": 256,
  "1.3.132.0.34": 384,
  "1.3.132.0.35": 521,
  "1.3.132.0.33": 224,
  "1.3.132.0.10": 256,
  "1.2.840.10045.3.1.1": 192,
  "1.3.36.3.3.2.8.1.1.7": 256,
  "1.3.36.3.3.2.8.1.1.11": 384,
  "1.3.36.3.3.2.8.1.1.13": 512,
};

/** `OBJ_obj2txt(.., 0)`: the long name when OpenSSL knows the object, else the dotted form. */
function objText(oid: string): string {
  return opensslObject(oid)?.[1] ?? oid;
}

/** The name `X509_NAME_oneline` gives an attribute: OpenSSL's short name, else the dotted form. */
function attrName(oid: string): string {
  return opensslObject(oid)?.[0] ?? oid;
}

/** The name as Joy stores it (`MAX_OPENSSL_STRING`). */
function idText(oid: string): string {
  return objText(oid).slice(0, MAX_OPENSSL_STRING - 1);
}

// ---------------------------------------------------------------------------------------------------------
// text helpers

/** `joy_utils_convert_to_json_string`: bytes up to the first NUL, made printable and JSON-safe. */
function jsonSafe(bytes: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e || c === 0x5c || c === 0x2f || c === 0x22) s += ".";
    else s += String.fromCharCode(c);
  }
  return s;
}

function latin1(d: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(d[i]);
  return s;
}

/** `%s` of a C string: up to the first NUL. */
function cString(d: Uint8Array, start: number, end: number): string {
  let e = start;
  while (e < end && d[e] !== 0) e++;
  return latin1(d, start, e);
}

function textBytes(s: string): number[] {
  const b: number[] = [];
  for (let i = 0; i < s.length; i++) b.push(s.charCodeAt(i) & 0xff);
  return b;
}

/** `OPENSSL_buf2hexstr`: `AB:CD:...`. */
function colonHex(d: Uint8Array, start: number, end: number): string {
  const parts: string[] = [];
  for (let i = start; i < end; i++) parts.push(d[i].toString(16).toUpperCase().padStart(2, "0"));
  return parts.join(":");
}

/** `BIO_hex_string`: colon hex, `width` bytes a line, continuation lines indented by `indent`. */
function bioHexString(d: Uint8Array, start: number, end: number, indent: number, width: number): string {
  const len = end - start;
  if (len < 1) return "";
  let s = "";
  let j = 0, i = 0;
  for (; i < len - 1; i++) {
    if (i && !j) s += " ".repeat(indent);
    s += d[start + i].toString(16).toUpperCase().padStart(2, "0") + ":";
    j = (j + 1) % width;
    if (!j) s += "\n";
  }
  if (i && !j) s += " ".repeat(indent);
  return s + d[start + len - 1].toString(16).toUpperCase().padStart(2, "0");
}

/** `ASN1_STRING_print`: printable ASCII, CR and LF kept, anything else as `.`. */
function asn1StringPrint(d: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) {
    const c = d[i];
    s += (c > 0x7e || (c < 0x20 && c !== 10 && c !== 13)) ? "." : String.fromCharCode(c);
  }
  return s;
}

/** Unsigned INTEGER content as a number (up to 2^53), or NaN when negative or too long. */
function intValue(d: Uint8Array, t: Tlv): number {
  if (t.end - t.start < 1 || t.end - t.start > 6 || d[t.start] & 0x80) return NaN;
  let v = 0;
  for (let p = t.start; p < t.end; p++) v = v * 256 + d[p];
  return v;
}

/**
 * The magnitude of a DER INTEGER's content bytes, as OpenSSL keeps an ASN1_INTEGER (its sign aside): leading
 * zero bytes dropped, and a negative number (two's complement) negated.
 */
function integerMagnitude(d: Uint8Array, start: number, end: number): Uint8Array {
  const b = d.slice(start, end);
  if (b.length > 0 && b[0] & 0x80) {
    let carry = 1;
    for (let i = b.length - 1; i >= 0; i--) {
      const x = (~b[i] & 0xff) + carry;
      b[i] = x & 0xff;
      carry = x >> 8;
    }
  }
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `ASN1_TIME_print` (RFC 822 style) of a UTCTime (0x17) or GeneralizedTime (0x18). */
function timeText(d: Uint8Array, t: Tlv): string {
  const v = latin1(d, t.start, t.end);
  const digits = (s: string) => /^[0-9]+$/.test(s);
  let year: number, rest: string;
  if (t.tag === 0x17) {
    if (v.length < 11 || !digits(v.slice(0, 10))) return "Bad time value";
    const yy = Number(v.slice(0, 2));
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    rest = v.slice(2);
  } else if (t.tag === 0x18) {
    if (v.length < 13 || !digits(v.slice(0, 12))) return "Bad time value";
    year = Number(v.slice(0, 4));
    rest = v.slice(4);
  } else return "Bad time value";
  let mon = Number(rest.slice(0, 2)), day = Number(rest.slice(2, 4));
  let hh = Number(rest.slice(4, 6)), mm = Number(rest.slice(6, 8));
  let ss = 0, tail = rest.slice(8);
  if (digits(tail.slice(0, 2)) && tail.length >= 2) {
    ss = Number(tail.slice(0, 2));
    tail = tail.slice(2);
  }
  // OpenSSL's ranges (a leap second is a bad time too).
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 59) return "Bad time value";
  let frac = "";
  if (t.tag === 0x18 && tail[0] === ".") {
    let n = 1;
    while (n < tail.length && tail[n] >= "0" && tail[n] <= "9") n++;
    frac = tail.slice(0, n);
    tail = tail.slice(n);
  }
  // Then Z, or an offset from GMT (+hhmm or -hhmm) that the time is moved back by, and nothing after it.
  if (tail !== "Z") {
    const off = /^([+-])([0-9]{2})([0-9]{2})$/.exec(tail);
    if (off === null || Number(off[2]) > 12 || Number(off[3]) > 59) return "Bad time value";
    const minutes = (off[1] === "+" ? -1 : 1) * (Number(off[2]) * 60 + Number(off[3]));
    // setUTCFullYear keeps a year before 100 as written (Date.UTC would take it for 19xx).
    const at = new Date(0);
    at.setUTCFullYear(year, mon - 1, day);
    at.setUTCHours(hh, mm + minutes, ss);
    [year, mon, day, hh, mm] = [
      at.getUTCFullYear(),
      at.getUTCMonth() + 1,
      at.getUTCDate(),
      at.getUTCHours(),
      at.getUTCMinutes(),
    ];
  }
  const p2 = (x: number) => String(x).padStart(2, "0");
  return `${MONTHS[mon - 1]} ${String(day).padStart(2, " ")} ${p2(hh)}:${p2(mm)}:${
    p2(ss)
  }${frac} ${year} GMT`;
}

// ---------------------------------------------------------------------------------------------------------
// names

/** `X509_NAME_oneline`: `/C=US/O=Org/CN=name`. */
function nameOneline(d: Uint8Array, name: Tlv): string | null {
  const rdns = children(d, name);
  if (rdns === null) return null;
  let s = "";
  for (const rdn of rdns) {
    // OpenSSL 3.0 (which `openssl x509 -text` here is): the attributes of one RDN joined by "+".
    let first = true;
    for (const ava of children(d, rdn) ?? []) {
      const f = children(d, ava);
      if (f === null || f.length < 2) return null;
      const oid = oidText(d, f[0]);
      s += `${first ? "/" : "+"}${attrName(oid)}=${onelineValue(d, f[1])}`;
      first = false;
    }
  }
  return s;
}

/**
 * A name's value as `X509_NAME_oneline` (OpenSSL 3.0) writes it: each byte that does not print as `\xHH`
 * (upper-case hex), `/` and `+` after a backslash; a GeneralString whose length is a multiple of 4 and whose
 * bytes are zero but every fourth (a universal string) by those fourth bytes only.
 */
function onelineValue(d: Uint8Array, v: Tlv): string {
  const n = v.end - v.start;
  const keep = [true, true, true, true];
  if (v.tag === 0x1b && n % 4 === 0) {
    const nonzero = [false, false, false, false];
    for (let j = 0; j < n; j++) if (d[v.start + j] !== 0) nonzero[j & 3] = true;
    if (!nonzero[0] && !nonzero[1] && !nonzero[2]) keep[0] = keep[1] = keep[2] = false;
  }
  let s = "";
  for (let j = 0; j < n; j++) {
    if (!keep[j & 3]) continue;
    const c = d[v.start + j];
    if (c < 0x20 || c > 0x7e) s += `\\x${c.toString(16).toUpperCase().padStart(2, "0")}`;
    else s += (c === 0x2f || c === 0x2b ? "\\" : "") + String.fromCharCode(c);
  }
  return s;
}

/**
 * Universal tags an attribute's value may have in OpenSSL's names (`B_ASN1_PRINTABLE`: the string types, BIT
 * STRING, SEQUENCE and the tags it calls unknown); another tag fails the name's decoding, and with it the
 * certificate or extension holding it.
 */
const NAME_VALUE_TAGS = new Set([3, 7, 8, 9, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 28, 29, 30]);

/** An attribute value as OpenSSL holds it once decoded: its universal tag number and its content octets. */
interface NameValue {
  tag: number;
  bytes: Uint8Array;
}

/**
 * An attribute value as OpenSSL 3.0 decodes it in a name (`X509_NAME_ENTRY`'s `ASN1_PRINTABLE`), or null when
 * the decoding fails: a tag outside {@linkcode NAME_VALUE_TAGS}, a SEQUENCE not constructed, a BMPString or
 * UniversalString of a length that is not a whole number of characters, a BIT STRING without its count of unused
 * bits (0 to 7). A constructed string is the concatenation of its parts (any tag; five levels at most). With
 * `canonical` (a whole name, whose decoding also builds its canonical form), a UTF8String that is not UTF-8
 * (overlong forms, surrogates, past U+10FFFF, cut) and a BMPString or UniversalString holding a surrogate or a
 * value past U+10FFFF fail too.
 */
function nameValue(d: Uint8Array, v: Tlv, canonical: boolean): NameValue | null {
  const tag = v.tag & 0x1f;
  if ((v.tag & 0xc0) !== 0 || tag === 0x1f || !NAME_VALUE_TAGS.has(tag)) return null;
  const constructed = (v.tag & 0x20) !== 0;
  let bytes: Uint8Array;
  if (tag === 16) {
    // Kept encoded, as OpenSSL keeps a SEQUENCE (with the length written again in DER's shortest form).
    if (!constructed) return null;
    bytes = Uint8Array.from([0x30, ...derLength(v.end - v.start), ...d.subarray(v.start, v.end)]);
  } else if (constructed) {
    const parts: number[] = [];
    if (!collectParts(d, v, parts, 0)) return null;
    bytes = Uint8Array.from(parts);
  } else bytes = d.subarray(v.start, v.end);
  if (tag === 3) {
    if (bytes.length === 0 || bytes[0] > 7) return null;
    // The unused bits are cleared, and written again as 0 when no byte follows.
    const b = Uint8Array.from(bytes);
    if (b.length === 1) b[0] = 0;
    else b[b.length - 1] &= 0xff << b[0];
    bytes = b;
  }
  if ((tag === 30 && bytes.length % 2 !== 0) || (tag === 28 && bytes.length % 4 !== 0)) return null;
  if (canonical && !canonicalForm(tag, bytes)) return null;
  return { tag, bytes };
}

/** A constructed string's parts, appended in order; false when a part is not a whole TLV or nests too deep. */
function collectParts(d: Uint8Array, t: Tlv, out: number[], depth: number): boolean {
  if (depth >= 5) return false;
  for (const part of children(d, t) ?? [null]) {
    if (part === null) return false;
    if (part.tag & 0x20) {
      if (!collectParts(d, part, out, depth + 1)) return false;
    } else for (let i = part.start; i < part.end; i++) out.push(d[i]);
  }
  return true;
}

/** DER's length octets for a content of `n` bytes. */
function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const b: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) b.unshift(x & 0xff);
  return [0x80 | b.length, ...b];
}

/** The characters of a BMPString (2 bytes each), UniversalString (4) or a string of bytes (1, Latin-1). */
function codePoints(tag: number, b: Uint8Array): number[] {
  const width = tag === 28 ? 4 : tag === 30 ? 2 : 1, out: number[] = [];
  for (let i = 0; i < b.length; i += width) {
    let c = 0;
    for (let k = 0; k < width; k++) c = c * 256 + b[i + k];
    out.push(c);
  }
  return out;
}

/** A character UTF-8 can hold: not past U+10FFFF, not a surrogate. */
const isScalar = (c: number): boolean => c <= 0x10ffff && (c < 0xd800 || c > 0xdfff);

/** Fails on what is not UTF-8 as OpenSSL's `UTF8_getc` does: cut, overlong, a surrogate, past U+10FFFF. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Whether OpenSSL can convert a string to UTF-8 for a name's canonical form (`ASN1_STRING_to_UTF8`). */
function canonicalForm(tag: number, b: Uint8Array): boolean {
  if (tag === 28 || tag === 30) return codePoints(tag, b).every(isScalar);
  if (tag !== 12) return true;
  try {
    strictUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

/** Whether every attribute value of a name decodes as OpenSSL decodes a whole name (see {@linkcode nameValue}). */
function nameDecodes(d: Uint8Array, name: Tlv): boolean {
  for (const rdn of children(d, name) ?? [null]) {
    if (rdn === null || rdn.tag !== 0x31) return false;
    for (const ava of children(d, rdn) ?? [null]) {
      const f = ava?.tag === 0x30 ? children(d, ava) : null;
      if (f === null || f.length !== 2 || f[0].tag !== 0x06 || nameValue(d, f[1], true) === null) {
        return false;
      }
    }
  }
  return true;
}

/** `, + ; < >` (and a space first or last, a # first): characters RFC 2253 escapes, which OpenSSL quotes. */
const QUOTED = new Set([0x2c, 0x2b, 0x3b, 0x3c, 0x3e]);

/**
 * A value as `X509_NAME_print_ex(.., XN_FLAG_ONELINE)` prints it (ASN1_STRFLGS_RFC2253 and ESC_QUOTE), or null
 * when OpenSSL's printing fails (a character UTF-8 cannot hold). A type that is not a string is dumped, `#` and
 * the hex of its DER encoding; a string's characters go to UTF-8 (a UTF8String's bytes are taken as they are),
 * a byte past 0x7f or a control byte is written `\XX`, `"` and `\` get a backslash, and a value holding one of
 * {@linkcode QUOTED} (or beginning with a space or #, or ending with a space) is put in double quotes.
 */
function printExValue(v: NameValue): string | null {
  const hexByte = (c: number) => c.toString(16).toUpperCase().padStart(2, "0");
  if (
    v.tag !== 12 && v.tag !== 18 && v.tag !== 19 && v.tag !== 20 && v.tag !== 22 && v.tag !== 28 &&
    v.tag !== 30
  ) {
    const der = v.tag === 16 ? v.bytes : [v.tag, ...derLength(v.bytes.length), ...v.bytes];
    let s = "#";
    for (const c of der) s += hexByte(c);
    return s;
  }
  // A UTF8String's bytes are taken as they are; another string's characters go to UTF-8. Only a one-byte
  // character can be the quoted space or # at either end, so the ends are the bytes'.
  let b = v.bytes;
  if (v.tag !== 12) {
    const cps = codePoints(v.tag, b);
    if (!cps.every(isScalar)) return null;
    b = new TextEncoder().encode(String.fromCodePoint(...cps));
  }
  let s = "", quote = false;
  for (let i = 0; i < b.length; i++) {
    const u = b[i], first = i === 0, last = i === b.length - 1;
    if (u > 0x7e || u < 0x20) s += `\\${hexByte(u)}`;
    else if (QUOTED.has(u) || (u === 0x20 && (last || first)) || (u === 0x23 && first && !last)) {
      quote = true;
      s += String.fromCharCode(u);
    } else s += (u === 0x22 || u === 0x5c ? "\\" : "") + String.fromCharCode(u);
  }
  return quote ? `"${s}"` : s;
}

/**
 * `X509_NAME_print_ex(.., XN_FLAG_ONELINE)`: `C = US, O = Org + OU = Unit, CN = name` (the attributes of one RDN
 * joined by ` + `), or null when the name does not decode (which fails the whole extension). `relative`: an RDN
 * given alone (a CRL distribution point's relative name), whose attributes OpenSSL prints as one RDN and decodes
 * without a canonical form. When a value's printing fails, the text ends where OpenSSL's stops (after its ` = `).
 */
function nameOnelineEx(d: Uint8Array, name: Tlv, relative: boolean): string | null {
  // One walk decodes the name (as nameDecodes) and prints it: a value that fails fails the whole name.
  const rdns = relative ? [name] : children(d, name);
  if (rdns === null) return null;
  let s = "";
  for (const rdn of rdns) {
    if (!relative && rdn.tag !== 0x31) return null;
    let first = true;
    for (const ava of children(d, rdn) ?? [null]) {
      const f = ava?.tag === 0x30 ? children(d, ava) : null;
      if (f === null || f.length !== 2 || f[0].tag !== 0x06) return null;
      const v = nameValue(d, f[1], !relative);
      if (v === null) return null;
      s += `${s === "" ? "" : first ? ", " : " + "}${attrName(oidText(d, f[0]))} = `;
      first = false;
      const text = printExValue(v);
      if (text === null) return relative ? s : null;
      s += text;
    }
  }
  return s;
}

/** Issuer or subject attributes: `{name: value}` pairs, at most 12. */
function nameEntries(d: Uint8Array, name: Tlv): [string, string][] {
  const out: [string, string][] = [];
  for (const rdn of children(d, name) ?? []) {
    for (const ava of children(d, rdn) ?? []) {
      if (out.length >= MAX_RDN) return out;
      const f = children(d, ava);
      if (f === null || f.length < 2) continue;
      out.push([idText(oidText(d, f[0])), jsonSafe(d.subarray(f[1].start, f[1].end))]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// general names

function ipText(d: Uint8Array, t: Tlv): string {
  const n = t.end - t.start;
  if (n === 4) return `${d[t.start]}.${d[t.start + 1]}.${d[t.start + 2]}.${d[t.start + 3]}`;
  if (n === 16) {
    const w: string[] = [];
    for (let i = 0; i < 16; i += 2) {
      w.push(((d[t.start + i] << 8) | d[t.start + i + 1]).toString(16).toUpperCase());
    }
    return w.join(":");
  }
  return "<invalid>";
}

/** One GeneralName as a (name, value) pair of `i2v_GENERAL_NAME`, or as `GENERAL_NAME_print` text. */
function generalName(d: Uint8Array, g: Tlv, forPrint: boolean): [string, string] | null {
  switch (g.tag) {
    case 0xa0:
      return otherName(d, g, forPrint);
    case 0x81:
      return ["email", cString(d, g.start, g.end)];
    case 0x82:
      return ["DNS", cString(d, g.start, g.end)];
    case 0xa3:
      return ["X400Name", "<unsupported>"];
    case 0xa4: {
      const inner = tlv(d, g.start, g.end);
      if (inner === null) return null;
      const n = forPrint
        ? nameOnelineEx(d, inner, false)
        : nameDecodes(d, inner)
        ? nameOneline(d, inner)
        : null;
      return n === null ? null : ["DirName", n];
    }
    case 0xa5:
      return ["EdiPartyName", "<unsupported>"];
    case 0x86:
      return ["URI", cString(d, g.start, g.end)];
    case 0x87:
      return ["IP Address", ipText(d, g)];
    case 0x88:
      return ["Registered ID", objText(oidText(d, g))];
    default:
      return null;
  }
}

/**
 * An otherName OpenSSL 3.0 prints (UPN, SMTP UTF-8 mailbox, XMPP address, SRV name, NAI realm): `othername:
 * UPN::value` as a pair of `i2v_GENERAL_NAME` (null, as OpenSSL fails the whole extension, when its value is not
 * the string type it expects), `othername:UPN:value` as `GENERAL_NAME_print` text; any other, unsupported.
 */
function otherName(d: Uint8Array, g: Tlv, forPrint: boolean): [string, string] | null {
  const f = children(d, g);
  const value = f !== null && f[0]?.tag === 0x06 && f[1]?.tag === 0xa0 ? tlv(d, f[1].start, f[1].end) : null;
  const kind = value !== null ? OTHER_NAMES[oidText(d, f![0])] : undefined;
  if (kind === undefined || value === null) return ["othername", "<unsupported>"];
  const [label, stringTag] = kind;
  if (value.tag !== stringTag) return forPrint ? ["othername", "<unsupported>"] : null;
  const text = latin1(d, value.start, value.end);
  return forPrint ? ["othername", `${label}:${text}`] : [`othername: ${label}:`, text];
}

/** otherName types OpenSSL 3.0 prints: label, and the string type (UTF8String 0x0c, IA5String 0x16). */
const OTHER_NAMES: Readonly<Record<string, readonly [string, number]>> = {
  "1.3.6.1.4.1.311.20.2.3": ["UPN", 0x0c],
  "1.3.6.1.5.5.7.8.9": ["SmtpUTF8Mailbox", 0x0c],
  "1.3.6.1.5.5.7.8.5": ["XmppAddr", 0x0c],
  "1.3.6.1.5.5.7.8.7": ["SRVName", 0x16],
  "1.3.6.1.5.5.7.8.8": ["NAIRealm", 0x0c],
};

type Pair = [string | null, string];

function generalNames(d: Uint8Array, seq: Tlv): Pair[] | null {
  const out: Pair[] = [];
  for (const g of children(d, seq) ?? []) {
    const p = generalName(d, g, false);
    if (p === null) return null;
    out.push(p);
  }
  return out;
}

/** `X509V3_EXT_val_prn` with indent 0. */
function valPrn(vals: Pair[], multiline: boolean): string {
  if (vals.length === 0) return "<EMPTY>\n";
  return vals.map(([n, v]) => n === null ? v : `${n}:${v}`).join(multiline ? "\n" : ", ");
}

// ---------------------------------------------------------------------------------------------------------
// extensions (OpenSSL 3.0 X509V3_EXT_print, indent 0)

const KEY_USAGE = [
  "Digital Signature",
  "Non Repudiation",
  "Key Encipherment",
  "Data Encipherment",
  "Key Agreement",
  "Certificate Sign",
  "CRL Sign",
  "Encipher Only",
  "Decipher Only",
];
const NS_CERT_TYPE = [
  "SSL Client",
  "SSL Server",
  "S/MIME",
  "Object Signing",
  "Unused",
  "SSL CA",
  "S/MIME CA",
  "Object Signing CA",
];

function bitNames(d: Uint8Array, t: Tlv, names: string[]): Pair[] | null {
  if (t.tag !== 0x03 || t.end <= t.start) return null;
  const out: Pair[] = [];
  const nbytes = t.end - t.start - 1;
  for (let bit = 0; bit < names.length; bit++) {
    const byte = bit >> 3;
    if (byte < nbytes && d[t.start + 1 + byte] & (0x80 >> (bit & 7))) out.push([null, names[bit]]);
  }
  return out;
}

function basicConstraints(d: Uint8Array, t: Tlv): string | null {
  const f = children(d, t);
  if (f === null) return null;
  let ca = false, i = 0;
  const vals: Pair[] = [];
  if (f[i]?.tag === 0x01) ca = d[f[i++].start] !== 0;
  vals.push(["CA", ca ? "TRUE" : "FALSE"]);
  if (f[i]?.tag === 0x02) {
    const v = intValue(d, f[i]);
    if (!Number.isNaN(v)) vals.push(["pathlen", String(v)]);
  }
  return valPrn(vals, false);
}

function authorityKeyId(d: Uint8Array, t: Tlv): string | null {
  const f = children(d, t);
  if (f === null) return null;
  const key = f.find((x) => x.tag === 0x80), issuer = f.find((x) => x.tag === 0xa1);
  const serial = f.find((x) => x.tag === 0x82);
  const vals: Pair[] = [];
  if (key) vals.push([issuer || serial ? "keyid" : null, colonHex(d, key.start, key.end)]);
  if (issuer) {
    const g = generalNames(d, issuer);
    if (g === null) return null;
    vals.push(...g);
  }
  if (serial) {
    const m = integerMagnitude(d, serial.start, serial.end);
    vals.push(["serial", colonHex(m, 0, m.length)]);
  }
  return valPrn(vals, true);
}

function infoAccess(d: Uint8Array, t: Tlv): string | null {
  const vals: Pair[] = [];
  for (const ad of children(d, t) ?? []) {
    const f = children(d, ad);
    if (f === null || f.length < 2 || f[0].tag !== 0x06) return null;
    const g = generalName(d, f[1], false);
    if (g === null) return null;
    vals.push([`${objText(oidText(d, f[0]))} - ${g[0]}`, g[1]]);
  }
  return valPrn(vals, true);
}

function extendedKeyUsage(d: Uint8Array, t: Tlv): string | null {
  const vals: Pair[] = [];
  for (const o of children(d, t) ?? []) {
    if (o.tag !== 0x06) return null;
    vals.push([null, objText(oidText(d, o))]);
  }
  return valPrn(vals, false);
}

function printGens(d: Uint8Array, seq: Tlv, indent: number): string | null {
  const lines: string[] = [];
  for (const g of children(d, seq) ?? []) {
    const p = generalName(d, g, true);
    if (p === null) return null;
    lines.push(" ".repeat(indent + 2) + `${p[0]}:${p[1]}`);
  }
  return lines.join("\n");
}

function crlDistributionPoints(d: Uint8Array, t: Tlv): string | null {
  const out: string[] = [];
  for (const dp of children(d, t) ?? []) {
    let s = "";
    for (const f of children(d, dp) ?? []) {
      if (f.tag === 0xa0) {
        const name = tlv(d, f.start, f.end);
        if (name === null) return null;
        if (name.tag === 0xa0) {
          const g = printGens(d, name, 0);
          if (g === null) return null;
          s += "Full Name:\n" + g;
        } else if (name.tag === 0xa1) {
          // The relative name is one RDN (a SET of attributes): printed as a one-RDN name.
          const rdn = nameOnelineEx(d, { tag: 0x31, start: name.start, end: name.end }, true);
          if (rdn === null) return null;
          s += `Relative Name:\n  ${rdn}\n`;
        }
      } else if (f.tag === 0xa2) {
        const g = printGens(d, f, 0);
        if (g === null) return null;
        s += "CRL Issuer:\n" + g;
      } else if (f.tag === 0x81) {
        const names = [
          "Unused",
          "Key Compromise",
          "CA Compromise",
          "Affiliation Changed",
          "Superseded",
          "Cessation Of Operation",
          "Certificate Hold",
          "Privilege Withdrawn",
          "AA Compromise",
        ];
        const r: string[] = [];
        for (let bit = 0; bit < names.length; bit++) {
          const byte = bit >> 3;
          if (f.start + 1 + byte < f.end && d[f.start + 1 + byte] & (0x80 >> (bit & 7))) r.push(names[bit]);
        }
        s += `Reasons:\n  ${r.length ? r.join(", ") : "<EMPTY>"}\n`;
      }
    }
    out.push(s);
  }
  return out.join("\n");
}

function certificatePolicies(d: Uint8Array, t: Tlv): string | null {
  const out: string[] = [];
  for (const pi of children(d, t) ?? []) {
    const f = children(d, pi);
    if (f === null || f.length < 1 || f[0].tag !== 0x06) return null;
    let s = `Policy: ${objText(oidText(d, f[0]))}`;
    if (f[1]) {
      const quals: string[] = [];
      for (const q of children(d, f[1]) ?? []) {
        const qf = children(d, q);
        if (qf === null || qf.length < 1) return null;
        const qid = oidText(d, qf[0]);
        if (qid === "1.3.6.1.5.5.7.2.1" && qf[1]) {
          quals.push(`  CPS: ${cString(d, qf[1].start, qf[1].end)}`);
        } else if (qid === "1.3.6.1.5.5.7.2.2") {
          let u = "  User Notice:\n";
          const parts = qf[1] ? children(d, qf[1]) ?? [] : [];
          for (const part of parts) {
            if (part.tag === 0x30) {
              const nr = children(d, part) ?? [];
              const org = nr[0] ? cString(d, nr[0].start, nr[0].end) : "";
              const nums = nr[1] ? (children(d, nr[1]) ?? []).map((x) => String(intValue(d, x))) : [];
              u += `    Organization: ${org}\n    Number${nums.length > 1 ? "s" : ""}: ${nums.join(", ")}`;
              // A line break only before an explicit text (OpenSSL's print_notice).
              if (parts.some((x) => x.tag !== 0x30)) u += "\n";
            } else u += `    Explicit Text: ${cString(d, part.start, part.end)}`;
          }
          quals.push(u);
        } else quals.push(`    Unknown Qualifier: ${objText(qid)}`);
      }
      s += "\n" + quals.join("\n");
    }
    out.push(s);
  }
  return out.join("\n");
}

const SCT_SIG: Record<string, string> = { "4,3": "ecdsa-with-SHA256", "4,1": "sha256WithRSAEncryption" };

/** `timestamp_print`: milliseconds since the epoch as a GeneralizedTime with milliseconds. */
function sctTime(ms: number): string {
  const t = new Date(ms);
  const p2 = (x: number) => String(x).padStart(2, "0");
  return `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2, " ")} ${p2(t.getUTCHours())}:${
    p2(t.getUTCMinutes())
  }:${p2(t.getUTCSeconds())}.${String(ms % 1000).padStart(3, "0")} ${t.getUTCFullYear()} GMT`;
}

function sctList(d: Uint8Array, t: Tlv): string | null {
  if (t.tag !== 0x04 || t.end - t.start < 2) return null;
  let p = t.start;
  const total = (d[p] << 8) | d[p + 1];
  p += 2;
  if (p + total !== t.end) return null;
  const out: string[] = [];
  while (p < t.end) {
    if (p + 2 > t.end) return null;
    const len = (d[p] << 8) | d[p + 1];
    p += 2;
    const end = p + len;
    if (end > t.end || len < 1) return null;
    let s = "Signed Certificate Timestamp:\n    Version   : ";
    if (d[p] !== 0) {
      s += "unknown\n" + " ".repeat(16) + bioHexString(d, p, end, 16, 16);
      out.push(s);
      p = end;
      continue;
    }
    if (len < 47) return null;
    let q = p + 1;
    s += "v1 (0x0)\n    Log ID    : " + bioHexString(d, q, q + 32, 16, 16);
    q += 32;
    let ms = 0;
    for (let i = 0; i < 8; i++) ms = ms * 256 + d[q + i];
    q += 8;
    s += "\n    Timestamp : " + sctTime(ms);
    const extLen = (d[q] << 8) | d[q + 1];
    q += 2;
    if (q + extLen + 4 > end) return null;
    s += "\n    Extensions: " + (extLen === 0 ? "none" : bioHexString(d, q, q + extLen, 16, 16));
    q += extLen;
    const hash = d[q], sig = d[q + 1];
    q += 2;
    const sigLen = (d[q] << 8) | d[q + 1];
    q += 2;
    if (q + sigLen !== end) return null;
    const alg = SCT_SIG[`${hash},${sig}`] ??
      hash.toString(16).toUpperCase().padStart(2, "0") + sig.toString(16).toUpperCase().padStart(2, "0");
    s += "\n    Signature : " + alg + "\n" + " ".repeat(16) + bioHexString(d, q, end, 16, 16);
    out.push(s);
    p = end;
  }
  return out.join("\n");
}

/** An INTEGER's value in decimal (`i2s_ASN1_INTEGER`). */
function decimal(d: Uint8Array, t: Tlv): string {
  const m = integerMagnitude(d, t.start, t.end);
  let v = 0n;
  for (const b of m) v = (v << 8n) | BigInt(b);
  return (t.end > t.start && d[t.start] & 0x80 ? "-" : "") + v.toString();
}

/** `i2r_NAME_CONSTRAINTS`: the permitted and excluded subtrees, an IP one as address/mask. */
function nameConstraints(d: Uint8Array, t: Tlv): string | null {
  const parts: string[] = [];
  for (const f of children(d, t) ?? []) {
    if (f.tag !== 0xa0 && f.tag !== 0xa1) return null;
    const lines: string[] = [];
    for (const sub of children(d, f) ?? []) {
      const base = children(d, sub)?.[0];
      if (base === undefined) return null;
      if (base.tag === 0x87) {
        const n = base.end - base.start, half = n >= 32 ? 16 : n >= 8 ? 4 : n >> 1;
        const ip = (start: number, end: number) => ipText(d, { tag: 0x87, start, end });
        lines.push(`  IP:${ip(base.start, base.start + half)}/${ip(base.start + half, base.end)}`);
      } else {
        const g = generalName(d, base, true);
        if (g === null) return null;
        lines.push(`  ${g[0]}:${g[1]}`);
      }
    }
    if (lines.length > 0) parts.push(`${f.tag === 0xa0 ? "Permitted" : "Excluded"}:\n${lines.join("\n")}`);
  }
  return parts.join("\n");
}

/** `i2v_POLICY_CONSTRAINTS`. */
function policyConstraints(d: Uint8Array, t: Tlv): string | null {
  const vals: Pair[] = [];
  for (const f of children(d, t) ?? []) {
    if (f.tag === 0x80) vals.push(["Require Explicit Policy", decimal(d, f)]);
    else if (f.tag === 0x81) vals.push(["Inhibit Policy Mapping", decimal(d, f)]);
    else return null;
  }
  return valPrn(vals, false);
}

/** `i2v_POLICY_MAPPINGS`: issuer's policy:subject's policy. */
function policyMappings(d: Uint8Array, t: Tlv): string | null {
  const vals: Pair[] = [];
  for (const m of children(d, t) ?? []) {
    const f = children(d, m);
    if (f === null || f.length !== 2 || f[0].tag !== 0x06 || f[1].tag !== 0x06) return null;
    vals.push([objText(oidText(d, f[0])), objText(oidText(d, f[1]))]);
  }
  return valPrn(vals, false);
}

/** `i2r_PKEY_USAGE_PERIOD`. */
function privateKeyUsagePeriod(d: Uint8Array, t: Tlv): string | null {
  const f = children(d, t) ?? [];
  const time = (tag: number) => {
    const x = f.find((y) => y.tag === tag);
    return x === undefined ? null : timeText(d, { tag: 0x18, start: x.start, end: x.end });
  };
  const before = time(0x80), after = time(0x81);
  return [before === null ? null : `Not Before: ${before}`, after === null ? null : `Not After: ${after}`]
    .filter((x) => x !== null).join(", ");
}

/** `i2r_pci` (RFC 3820 proxy certificates). */
function proxyCertInfo(d: Uint8Array, t: Tlv): string | null {
  const f = children(d, t);
  if (f === null) return null;
  let i = 0, length = "infinite";
  if (f[0]?.tag === 0x02) {
    const m = integerMagnitude(d, f[0].start, f[0].end);
    length = (d[f[0].start] & 0x80 ? "-" : "") + hex(m, 0, m.length).toUpperCase();
    i++;
  }
  const policy = f[i] !== undefined ? children(d, f[i]) : null;
  if (policy === null || policy[0]?.tag !== 0x06) return null;
  let s = `Path Length Constraint: ${length}\nPolicy Language: ${objText(oidText(d, policy[0]))}`;
  if (policy[1]?.tag === 0x04 && policy[1].end > policy[1].start) {
    s += `\nPolicy Text: ${latin1(d, policy[1].start, policy[1].end)}`;
  }
  return s;
}

/** An RFC 3779 address (a BIT STRING) as `i2r_address` prints it, its missing bits set to `fill`. */
function rfc3779Address(d: Uint8Array, t: Tlv, afi: number, fill: number): string | null {
  const n = t.end - t.start - 1, size = afi === 1 ? 4 : 16;
  if (t.tag !== 0x03 || n < 0 || ((afi === 1 || afi === 2) && n > size)) return null;
  if (afi !== 1 && afi !== 2) {
    const bytes: string[] = [];
    for (let i = 0; i < n; i++) bytes.push(hex(d, t.start + 1 + i, 1));
    return `${bytes.join(":")}[${d[t.start]}]`;
  }
  const a = new Uint8Array(size).fill(fill);
  const unused = d[t.start];
  for (let i = 0; i < n; i++) a[i] = d[t.start + 1 + i];
  if (n > 0 && unused > 0) {
    const mask = (1 << unused) - 1;
    a[n - 1] = fill ? a[n - 1] | mask : a[n - 1] & ~mask;
  }
  if (afi === 1) return a.join(".");
  let end = 16;
  while (end > 1 && a[end - 1] === 0 && a[end - 2] === 0) end -= 2;
  let s = "";
  for (let i = 0; i < end; i += 2) s += ((a[i] << 8) | a[i + 1]).toString(16) + (i < 14 ? ":" : "");
  if (end < 16) s += ":";
  if (end === 0) s += ":";
  return s;
}

const SAFI_NAMES: Readonly<Record<number, string>> = {
  1: "Unicast",
  2: "Multicast",
  3: "Unicast/Multicast",
  4: "MPLS",
  64: "Tunnel",
  65: "VPLS",
  66: "BGP MDT",
  128: "MPLS-labeled VPN",
};

/** `i2r_IPAddrBlocks` (RFC 3779 sbgp-ipAddrBlock). */
function ipAddrBlocks(d: Uint8Array, t: Tlv): string | null {
  let s = "";
  for (const fam of children(d, t) ?? []) {
    const f = children(d, fam);
    if (f === null || f.length !== 2 || f[0].tag !== 0x04 || f[0].end - f[0].start < 2) return null;
    const afi = (d[f[0].start] << 8) | d[f[0].start + 1];
    s += afi === 1 ? "IPv4" : afi === 2 ? "IPv6" : `Unknown AFI ${afi}`;
    if (f[0].end - f[0].start > 2) {
      const safi = d[f[0].start + 2];
      s += ` (${SAFI_NAMES[safi] ?? `Unknown SAFI ${safi}`})`;
    }
    if (f[1].tag === 0x05) {
      s += ": inherit\n";
      continue;
    }
    s += ":\n";
    for (const aor of children(d, f[1]) ?? []) {
      if (aor.tag === 0x03) {
        const a = rfc3779Address(d, aor, afi, 0);
        if (a === null) return null;
        s += `  ${a}/${(aor.end - aor.start - 1) * 8 - d[aor.start]}\n`;
      } else {
        const r = children(d, aor);
        const lo = r?.[0] ? rfc3779Address(d, r[0], afi, 0) : null;
        const hi = r?.[1] ? rfc3779Address(d, r[1], afi, 0xff) : null;
        if (lo === null || hi === null) return null;
        s += `  ${lo}-${hi}\n`;
      }
    }
  }
  return s;
}

/** `i2r_ASIdentifiers` (RFC 3779 sbgp-autonomousSysNum). */
function asIdentifiers(d: Uint8Array, t: Tlv): string | null {
  let s = "";
  for (const choice of children(d, t) ?? []) {
    if (choice.tag !== 0xa0 && choice.tag !== 0xa1) return null;
    s += `${choice.tag === 0xa0 ? "Autonomous System Numbers" : "Routing Domain Identifiers"}:\n`;
    const c = tlv(d, choice.start, choice.end);
    if (c === null) return null;
    if (c.tag === 0x05) {
      s += "  inherit\n";
      continue;
    }
    for (const id of children(d, c) ?? []) {
      if (id.tag === 0x02) s += `  ${decimal(d, id)}\n`;
      else {
        const r = children(d, id);
        if (r === null || r[0]?.tag !== 0x02 || r[1]?.tag !== 0x02) return null;
        s += `  ${decimal(d, r[0])}-${decimal(d, r[1])}\n`;
      }
    }
  }
  return s;
}

/** The text OpenSSL 3.0 prints for an extension's value, or null when it has no printer for it. */
function extensionText(oid: string, d: Uint8Array, v: Tlv): string | null {
  const inner = tlv(d, v.start, v.end);
  if (inner === null || inner.end !== v.end) return null;
  switch (oid) {
    case "2.5.29.15": {
      const b = bitNames(d, inner, KEY_USAGE);
      return b === null ? null : valPrn(b, false);
    }
    case "2.16.840.1.113730.1.1": {
      const b = bitNames(d, inner, NS_CERT_TYPE);
      return b === null ? null : valPrn(b, false);
    }
    case "2.5.29.19":
      return inner.tag === 0x30 ? basicConstraints(d, inner) : null;
    case "2.5.29.14":
      return inner.tag === 0x04 ? colonHex(d, inner.start, inner.end) : null;
    case "2.5.29.35":
      return inner.tag === 0x30 ? authorityKeyId(d, inner) : null;
    case "1.3.6.1.5.5.7.1.1":
    case "1.3.6.1.5.5.7.1.11":
      return inner.tag === 0x30 ? infoAccess(d, inner) : null;
    case "2.5.29.17":
    case "2.5.29.18": {
      if (inner.tag !== 0x30) return null;
      const g = generalNames(d, inner);
      return g === null ? null : valPrn(g, false);
    }
    case "2.5.29.37":
      return inner.tag === 0x30 ? extendedKeyUsage(d, inner) : null;
    // (OpenSSL 3.0 prints a Freshest CRL extension, 2.5.29.46, raw: its printer fails.)
    case "2.5.29.31":
      return inner.tag === 0x30 ? crlDistributionPoints(d, inner) : null;
    case "2.5.29.32":
      return inner.tag === 0x30 ? certificatePolicies(d, inner) : null;
    case "1.3.6.1.4.1.11129.2.4.2":
      return sctList(d, inner);
    case "2.16.840.1.113730.1.13":
    case "2.16.840.1.113730.1.2":
    case "2.16.840.1.113730.1.3":
    case "2.16.840.1.113730.1.4":
    case "2.16.840.1.113730.1.7":
    case "2.16.840.1.113730.1.8":
    case "2.16.840.1.113730.1.12":
      return inner.tag === 0x16 ? cString(d, inner.start, inner.end) : null;
    case "2.5.29.54": {
      const n = intValue(d, inner);
      return inner.tag === 0x02 && !Number.isNaN(n) ? String(n) : null;
    }
    case "1.3.6.1.4.1.11129.2.4.3":
      return inner.tag === 0x05 ? "NULL" : null;
    case "1.3.6.1.5.5.7.48.1.5":
      return inner.tag === 0x05 ? "" : null;
    case "2.5.29.30":
      return inner.tag === 0x30 ? nameConstraints(d, inner) : null;
    case "2.5.29.36":
      return inner.tag === 0x30 ? policyConstraints(d, inner) : null;
    case "2.5.29.33":
      return inner.tag === 0x30 ? policyMappings(d, inner) : null;
    case "2.5.29.16":
      return inner.tag === 0x30 ? privateKeyUsagePeriod(d, inner) : null;
    case "1.3.6.1.5.5.7.1.14":
      return inner.tag === 0x30 ? proxyCertInfo(d, inner) : null;
    case "1.3.6.1.5.5.7.1.7":
      return inner.tag === 0x30 ? ipAddrBlocks(d, inner) : null;
    case "1.3.6.1.5.5.7.1.8":
      return inner.tag === 0x30 ? asIdentifiers(d, inner) : null;
    case "1.3.6.1.5.5.7.1.24": {
      if (inner.tag !== 0x30) return null;
      const vals: Pair[] = [];
      for (const x of children(d, inner) ?? []) {
        const n = intValue(d, x);
        vals.push([null, n === 5 ? "status_request" : n === 17 ? "status_request_v2" : String(n)]);
      }
      return valPrn(vals, false);
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// certificate

/**
 * One certificate as Joy 4.5 prints it: the JSON object text (`{"length":...,...}`).
 *
 * @example
 * ```ts
 * import { certificateJson } from "./x509.ts";
 * console.log(certificateJson(new Uint8Array([0x30, 0x00]), 0, 2)); // {"length":2}
 * ```
 */
export function certificateJson(d: Uint8Array, off: number, len: number): string {
  let s = `{"length":${len}`;
  const end = Math.min(off + len, d.length);
  const cert = tlv(d, off, end);
  if (cert === null || cert.tag !== 0x30) return s + "}";
  const top = children(d, cert);
  if (top === null || top.length < 3 || top[0].tag !== 0x30 || top[1].tag !== 0x30 || top[2].tag !== 0x03) {
    return s + "}";
  }
  const tbs = children(d, top[0]);
  if (tbs === null) return s + "}";
  let i = 0;
  if (tbs[i]?.tag === 0xa0) i++;
  const serial = tbs[i++],
    issuer = tbs[i + 1],
    validity = tbs[i + 2],
    subject = tbs[i + 3],
    spki = tbs[i + 4];
  if (
    serial?.tag !== 0x02 || issuer?.tag !== 0x30 || validity?.tag !== 0x30 || subject?.tag !== 0x30 ||
    spki?.tag !== 0x30 || !nameDecodes(d, issuer) || !nameDecodes(d, subject)
  ) {
    return s + "}";
  }
  const exts = tbs.slice(i + 5).find((x) => x.tag === 0xa3);

  // serial number: the INTEGER's magnitude, as OpenSSL stores it (without a leading zero; a negative one's)
  const sn = integerMagnitude(d, serial.start, serial.end);
  if (sn.length <= MAX_CERT_SERIAL_LENGTH) s += `,"serial_number":"${hex(sn, 0, sn.length)}"`;

  // signature and its algorithm
  const sigBits = top[2];
  const sigLen = sigBits.end - sigBits.start - 1;
  const algo = children(d, top[1]);
  const sigAlgo = algo !== null && algo[0]?.tag === 0x06 ? idText(oidText(d, algo[0])) : "";
  if (sigLen >= 0 && sigLen <= MAX_SIGNATURE_LENGTH) {
    s += `,"signature":"${hex(d, sigBits.start + 1, sigLen)}"`;
  }
  if (sigAlgo) s += `,"signature_algo":"${sigAlgo}"`;
  if (sigLen > 0 && sigLen <= MAX_SIGNATURE_LENGTH) s += `,"signature_key_size":${sigLen * 8}`;

  const entries = (k: string, list: [string, string][]) =>
    list.length ? `,"${k}":[${list.map(([n, v]) => `{"${n}":"${v}"}`).join(",")}]` : "";
  s += entries("issuer", nameEntries(d, issuer));
  s += entries("subject", nameEntries(d, subject));

  if (exts) {
    const seq = tlv(d, exts.start, exts.end);
    const list: [string, string][] = [];
    for (const e of seq !== null ? children(d, seq) ?? [] : []) {
      if (list.length >= MAX_CERT_EXTENSIONS) break;
      const f = children(d, e);
      if (f === null || f.length < 2 || f[0].tag !== 0x06) continue;
      const oid = oidText(d, f[0]);
      const value = f[f.length - 1];
      if (value.tag !== 0x04) continue;
      const text = extensionText(oid, d, value) ?? asn1StringPrint(d, value.start, value.end);
      list.push([idText(oid), jsonSafe(textBytes(text))]);
    }
    s += entries("extensions", list);
  }

  const times = children(d, validity);
  if (times !== null && times.length >= 2) {
    s += `,"validity_not_before":"${jsonSafe(textBytes(timeText(d, times[0])))}"`;
    s += `,"validity_not_after":"${jsonSafe(textBytes(timeText(d, times[1])))}"`;
  }

  const pk = publicKey(d, spki);
  if (pk !== null) s += `,"subject_public_key_algo":"${pk[0]}","subject_public_key_size":${pk[1]}`;
  return s + "}";
}

/** Key type name and size in bits (`EVP_PKEY_bits`), or null when OpenSSL would not load the key. */
function publicKey(d: Uint8Array, spki: Tlv): [string, number] | null {
  const f = children(d, spki);
  if (f === null || f.length < 2 || f[0].tag !== 0x30 || f[1].tag !== 0x03) return null;
  const alg = children(d, f[0]);
  if (alg === null || alg[0]?.tag !== 0x06) return null;
  const oid = oidText(d, alg[0]);
  const key = f[1];
  if (oid === "1.2.840.113549.1.1.1" || oid === "1.2.840.113549.1.1.10") {
    const seq = tlv(d, key.start + 1, key.end);
    const parts = seq !== null ? children(d, seq) : null;
    if (parts === null || parts[0]?.tag !== 0x02) return null;
    let p = parts[0].start;
    while (p < parts[0].end && d[p] === 0) p++;
    if (p === parts[0].end) return [objText(oid), 0];
    const bits = (parts[0].end - p - 1) * 8 + (32 - Math.clz32(d[p]));
    return [objText(oid), bits];
  }
  if (oid === "1.2.840.10045.2.1") {
    const bits = alg[1]?.tag === 0x06 ? CURVE_BITS[oidText(d, alg[1])] : undefined;
    return bits === undefined ? null : [objText(oid), bits];
  }
  if (oid === "1.3.101.112") return ["ED25519", 253];
  if (oid === "1.3.101.113") return ["ED448", 456];
  if (oid === "1.2.840.10040.4.1") {
    const params = alg[1] ? children(d, alg[1]) : null;
    if (params === null || params[0]?.tag !== 0x02) return null;
    let p = params[0].start;
    while (p < params[0].end && d[p] === 0) p++;
    return [objText(oid), p === params[0].end ? 0 : (params[0].end - p - 1) * 8 + (32 - Math.clz32(d[p]))];
  }
  return null;
}

/**
 * Joy's `tls_certificate_parse`: the certificates of a Certificate handshake message body (a 3-byte list
 * length, then each certificate with a 3-byte length; Joy reads the lower 16 bits of each length), as JSON
 * object texts, at most `max`.
 *
 * @example
 * ```ts
 * import { parseCertificateMessage } from "./x509.ts";
 * console.log(parseCertificateMessage(new Uint8Array([0, 0, 0]), 0, 3, 4).length); // 0
 * ```
 */
export function parseCertificateMessage(d: Uint8Array, off: number, len: number, max: number): string[] {
  const out: string[] = [];
  if (len < 3 || max <= 0) return out;
  const total = (d[off + 1] << 8) | d[off + 2];
  if (total > len) return out;
  let p = off + 3;
  let remaining = total;
  while (remaining > 0 && remaining <= total) {
    if (out.length >= max) break;
    const certLen = ((d[p + 1] ?? 0) << 8) | (d[p + 2] ?? 0);
    if (certLen === 0 || certLen > remaining) break;
    p += 3;
    remaining = (remaining - 3) & 0xffff;
    out.push(certificateJson(d, p, certLen));
    p += certLen;
    remaining = (remaining - certLen) & 0xffff;
  }
  return out;
}
