/**
 * A capture held in memory, read as a `ByteReader` (what the readers take from a file), so that benchmarks time
 * the pipeline without the disk.
 *
 * @example
 * ```ts
 * import { memorySource } from "./memory_source.ts";
 * const src = memorySource(new Uint8Array([1, 2, 3]));
 * console.log(await src.read(new Uint8Array(2))); // 2
 * ```
 *
 * @module
 */
import type { ByteReader } from "../lib/capture_file.ts";

/** A fresh reader over `data` from its first byte. */
export function memorySource(data: Uint8Array): ByteReader {
  let o = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (o >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, data.length - o);
      p.set(data.subarray(o, o + n));
      o += n;
      return Promise.resolve(n);
    },
  };
}
