/**
 * Memoized MD5 and SHA-256 of short strings for the fingerprints (JA3, JA3S, JA4, HASSH).
 *
 * Fingerprint inputs repeat a lot (one client stack makes the same JA3 string on every connection), and each
 * `node:crypto` hash costs about a microsecond of per-call overhead (three native calls and an object) on inputs
 * of a few hundred bytes, so the hex results are kept per input string in a small bounded table. (Plain
 * TypeScript MD5 / SHA-256 were measured no faster than `node:crypto` on such inputs in Deno.) Results are those of
 * `createHash(alg).update(s, "utf8").digest("hex")`.
 *
 * @module
 */
import { createHash } from "node:crypto";

/**
 * Most memoized results per table before it is emptied, and the longest input kept: they bound the memory
 * whatever the traffic (about 4096 x 1024 characters per table).
 */
const MEMO_MAX = 4096;
const MEMO_LONGEST = 1024;
const md5Memo = new Map<string, string>();
const sha256Memo = new Map<string, string>();

/**
 * MD5 of the UTF-8 bytes of `s`, as 32 lowercase hex digits (memoized).
 *
 * @example
 * ```ts
 * import { md5Hex } from "./hash.ts";
 * console.log(md5Hex("abc")); // "900150983cd24fb0d6963f7d28e17f72"
 * ```
 */
export function md5Hex(s: string): string {
  if (s.length > MEMO_LONGEST) return createHash("md5").update(s, "utf8").digest("hex");
  let h = md5Memo.get(s);
  if (h === undefined) {
    h = createHash("md5").update(s, "utf8").digest("hex");
    if (md5Memo.size >= MEMO_MAX) md5Memo.clear();
    md5Memo.set(s, h);
  }
  return h;
}

/**
 * The first 12 hex digits of SHA-256 of the UTF-8 bytes of `s`, JA4's truncated hash (memoized).
 *
 * @example
 * ```ts
 * import { sha256Hex12 } from "./hash.ts";
 * console.log(sha256Hex12("abc")); // "ba7816bf8f01"
 * ```
 */
export function sha256Hex12(s: string): string {
  if (s.length > MEMO_LONGEST) return createHash("sha256").update(s, "utf8").digest("hex").slice(0, 12);
  let h = sha256Memo.get(s);
  if (h === undefined) {
    h = createHash("sha256").update(s, "utf8").digest("hex").slice(0, 12);
    if (sha256Memo.size >= MEMO_MAX) sha256Memo.clear();
    sha256Memo.set(s, h);
  }
  return h;
}
