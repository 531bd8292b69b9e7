/**
 * Strings from packet bytes, without a per-byte concatenation: the protocol parsers turn header values, names and
 * banners into strings on every flow, so this is on the hot path.
 *
 * @module
 */

/** Longest run handed to one `String.fromCharCode.apply` call (well below engine argument limits). */
const CHUNK = 2048;

/** Strings made recently, by a hash of their bytes (see {@linkcode byteString}). */
const recent = new Map<number, string>();
/** Most strings remembered, and the longest one (bounds the table's memory). */
const RECENT_MAX = 2048;
const RECENT_LONGEST = 512;

/**
 * The bytes `b[s .. e)` as a "binary string": one character per byte, code 0-255 (what `String.fromCharCode`
 * makes of each byte). For ASCII bytes this is the text itself.
 *
 * Names, header values and algorithm lists repeat from flow to flow, so the strings made recently are
 * remembered by a hash of their bytes and handed out again after a byte-for-byte comparison: no new string
 * when the same bytes come back.
 *
 * @example
 * ```ts
 * import { byteString } from "./text.ts";
 * console.log(byteString(new Uint8Array([0x68, 0x32]), 0, 2)); // "h2"
 * ```
 */
export function byteString(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n <= 0) return "";
  if (n > RECENT_LONGEST) return makeString(b, s, e);
  // The hash only picks the entry; a hit is compared in full. Long strings hash a sample of their bytes.
  let h = 0x811c9dc5 ^ n;
  const step = n <= 32 ? 1 : n >> 4;
  for (let i = s; i < e; i += step) h = Math.imul(h ^ b[i], 0x01000193);
  h = Math.imul(h ^ b[e - 1], 0x01000193);
  const hit = recent.get(h);
  if (hit !== undefined && hit.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (hit.charCodeAt(i) !== b[s + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit;
  }
  const str = makeString(b, s, e);
  if (hit === undefined && recent.size >= RECENT_MAX) recent.clear();
  recent.set(h, str);
  return str;
}

function makeString(b: Uint8Array, s: number, e: number): string {
  const n = e - s;
  if (n <= 12) {
    let out = "";
    for (let i = s; i < e; i++) out += String.fromCharCode(b[i]);
    return out;
  }
  if (n <= CHUNK) return String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]);
  // Longer: pieces joined by + make a rope, which JSON.stringify flattens for every record it is in (an 8 KB
  // URI). The bytes widened to UTF-16 code units decode into one flat string, each byte the character it is.
  const units = new Uint16Array(n);
  units.set(b.subarray(s, e));
  return UTF16.decode(units);
}

const UTF16 = new TextDecoder("utf-16le");

/**
 * True when every byte of `b[s .. e)` is below 0x80.
 *
 * @example
 * ```ts
 * import { isAscii } from "./text.ts";
 * console.log(isAscii(new Uint8Array([0x41, 0xc3]), 0, 2)); // false
 * ```
 */
export function isAscii(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] >= 0x80) return false;
  return true;
}
