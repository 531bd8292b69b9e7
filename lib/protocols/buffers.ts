/**
 * Buffers that a message fills as it comes, grown to what arrives rather than to the length a header claims (a
 * header can claim 16 MB, or 64 KiB, and nothing follow it).
 *
 * @module
 */

/**
 * `bytes` itself when it holds `need` bytes, else a larger copy of its first `kept` bytes: twice as long, as often
 * as needed, but at most `cap` (at least `need`): a TLS handshake message, an SSH KEXINIT, a QUIC CRYPTO range.
 *
 * @example
 * ```ts
 * import { withRoom } from "./buffers.ts";
 * const a = new Uint8Array([1, 2, 3]);
 * const b = withRoom(a, 3, 5, 1024);
 * console.log(b.length, b[2], withRoom(b, 5, 6, 1024) === b); // 6 3 true
 * ```
 */
export function withRoom(bytes: Uint8Array, kept: number, need: number, cap: number): Uint8Array {
  if (bytes.length >= need) return bytes;
  let size = bytes.length || 1;
  while (size < need) size *= 2;
  const next = new Uint8Array(Math.max(need, Math.min(size, cap)));
  next.set(bytes.subarray(0, kept));
  return next;
}
