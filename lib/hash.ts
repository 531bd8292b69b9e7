/**
 * Keyed hashing for tables whose keys come from captures, which are hostile input: random multipliers for
 * multiply-shift hashes (a universal family, Dietzfelbinger 1996: no set of keys collides more than by chance
 * without the multipliers, which are drawn for each table or process), and the key words they multiply.
 *
 * @module
 */

/**
 * `n` random odd 32-bit multipliers for a keyed multiply-shift hash.
 *
 * @example
 * ```ts
 * import { randomMultipliers } from "./hash.ts";
 * const m = randomMultipliers(4);
 * console.log(m.length, m.every((x) => (x & 1) === 1)); // 4 true
 * ```
 */
export function randomMultipliers(n: number): Int32Array {
  const m = crypto.getRandomValues(new Int32Array(n));
  for (let i = 0; i < n; i++) m[i] |= 1;
  return m;
}

/**
 * The big-endian 32-bit word at `b[o]`, as a signed integer (key words of the flow tables' hashes).
 *
 * @example
 * ```ts
 * import { int32At } from "./hash.ts";
 * console.log(int32At(new Uint8Array([10, 0, 0, 1]), 0)); // 167772161
 * ```
 */
export function int32At(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}
