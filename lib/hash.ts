/**
 * Keyed hashing for tables whose keys come from captures, which are hostile input. Key words are hashed by
 * simple tabulation (Zobrist; Pătraşcu and Thorup 2012): each byte of each word picks a random 32-bit value from
 * a table of its own, and the values are XORed. The family is 3-independent, so whatever the keys, two of them
 * share a bucket with probability 1 / buckets over the tables, which are drawn for each hash table: no set of
 * keys can be built to collide without them. (Multiplying words by random numbers is not enough: keys that
 * differ only in their words' top bits then differ only in the hash's top bits.)
 *
 * @module
 */

/**
 * A tabulation hash of key words (32-bit integers), with random tables of its own.
 *
 * @example
 * ```ts
 * import { KeyHash } from "./hash.ts";
 * const h = new KeyHash(3);
 * const k = new Int32Array([4 << 8 | 17, 0x0a000001, 0x0a000002]);
 * console.log(h.hash(k, 3) === h.hash(k, 3), h.hash(k, 3) >= 0); // true true
 * ```
 */
export class KeyHash {
  /**
   * The tables: 256 values for each byte of each word, word `i`'s byte `j` (from the top) at `(4 i + j) * 256`.
   * A word of 0 adds nothing (its bytes' values would add a constant for every key, which changes no bucket).
   */
  readonly tables: Int32Array;

  /** Random tables for keys of up to `words` words. */
  constructor(readonly words: number) {
    this.tables = crypto.getRandomValues(new Int32Array(words * 4 * 256));
  }

  /** The hash of the first `n` words of `k`: 30 bits (a small integer to V8, never boxed). */
  hash(k: ArrayLike<number>, n: number): number {
    const t = this.tables;
    let h = 0;
    for (let i = 0; i < n; i++) {
      const w = k[i];
      if (w !== 0) {
        const o = i << 10;
        h ^= t[o | (w >>> 24)] ^ t[o | 256 | ((w >>> 16) & 255)] ^ t[o | 512 | ((w >>> 8) & 255)] ^
          t[o | 768 | (w & 255)];
      }
    }
    return h >>> 2;
  }
}

/**
 * A random odd 32-bit multiplier, for multiply-shift hashing of one word (a universal family for a single word:
 * Dietzfelbinger 1996).
 *
 * @example
 * ```ts
 * import { randomMultiplier } from "./hash.ts";
 * console.log((randomMultiplier() & 1) === 1); // true
 * ```
 */
export function randomMultiplier(): number {
  return crypto.getRandomValues(new Int32Array(1))[0] | 1;
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
