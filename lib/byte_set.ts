/**
 * A set of byte values (0-255) in 256 bits: the distinct TTLs, ToS or traffic classes of a flow in 32 bytes,
 * whatever the flow's length.
 *
 * @module
 */

/**
 * A set of byte values.
 *
 * @example
 * ```ts
 * import { ByteSet } from "./byte_set.ts";
 * const s = new ByteSet();
 * s.add(64);
 * s.add(3);
 * s.add(64);
 * console.log(s.size, s.min()); // 2 3
 * ```
 */
export class ByteSet {
  private readonly words = new Int32Array(8);

  /** Adds `v` (0-255). */
  add(v: number): void {
    this.words[v >> 5] |= 1 << (v & 31);
  }

  /** Number of values in the set. */
  get size(): number {
    let n = 0;
    for (const w of this.words) {
      for (let x = w; x !== 0; x &= x - 1) n++;
    }
    return n;
  }

  /** The smallest value, or -1 when the set is empty. */
  min(): number {
    for (let i = 0; i < 8; i++) {
      const w = this.words[i];
      if (w !== 0) return i * 32 + 31 - Math.clz32(w & -w);
    }
    return -1;
  }
}
