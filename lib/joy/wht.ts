/**
 * Joy's Walsh-Hadamard transform feature (`wht.c`): every payload of a flow (any protocol) is read as 4-byte
 * blocks, the last one zero-padded, and each block's 4-point Walsh-Hadamard transform is summed over the flow,
 * with the count of payload bytes. Printed as `"wht":[a,b,c,d]`: the sums divided by the byte count in single
 * precision, `%.5g`, both directions added for a bidirectional flow; nothing when no payload byte was seen.
 *
 * @module
 */
import type { JoyFlowRecord } from "./flow_record.ts";
import { cfmtG } from "./json.ts";

/**
 * Folds one payload into the record's transform sums: `size` bytes at `buf[p ..]`, bytes at or past `readEnd`
 * read as zero (Joy reads the payload length the IP header claims).
 *
 * @example
 * ```ts
 * import { whtUpdate } from "./wht.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * const r = new JoyFlowRecord();
 * whtUpdate(r, new Uint8Array([1, 2, 3, 4, 5]), 0, 5, 5);
 * console.log(Array.from(r.wht!), r.whtBytes); // [ 15, 3, 1, 5 ] 5
 * ```
 */
export function whtUpdate(
  rec: JoyFlowRecord,
  buf: Uint8Array,
  p: number,
  size: number,
  readEnd: number,
): void {
  const w = rec.wht ??= new Float64Array(4);
  if (size <= 0) return;
  rec.whtBytes += size;
  const end = Math.min(buf.length, readEnd);
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  // Whole blocks of captured bytes, then the one block cut by the payload's or the frame's end (read with zeros
  // past it); blocks wholly past the frame are zeros and add nothing.
  const whole = Math.max(0, Math.min(size, end - p)) & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    const q = p + i;
    const a = buf[q], b = buf[q + 1], c = buf[q + 2], d = buf[q + 3];
    s0 += a + b + c + d;
    s1 += a - b + c - d;
    s2 += a + b - c - d;
    s3 += a - b - c + d;
  }
  if (i < size && p + i < end) {
    const q = p + i;
    const a = buf[q];
    const b = i + 1 < size && q + 1 < end ? buf[q + 1] : 0;
    const c = i + 2 < size && q + 2 < end ? buf[q + 2] : 0;
    const d = i + 3 < size && q + 3 < end ? buf[q + 3] : 0;
    s0 += a + b + c + d;
    s1 += a - b + c - d;
    s2 += a + b - c - d;
    s3 += a - b - c + d;
  }
  // Joy's sums are 32-bit signed integers.
  w[0] = (w[0] + s0) | 0;
  w[1] = (w[1] + s1) | 0;
  w[2] = (w[2] + s2) | 0;
  w[3] = (w[3] + s3) | 0;
}

/**
 * The `,"wht":[...]` fragment.
 *
 * @example
 * ```ts
 * import { whtJson, whtUpdate } from "./wht.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * const r = new JoyFlowRecord();
 * console.log(whtJson(r, null)); // (empty string)
 * whtUpdate(r, new Uint8Array([1, 2, 3, 4]), 0, 4, 4);
 * console.log(whtJson(r, null)); // ,"wht":[2.5,-0.5,-1,0]
 * ```
 */
export function whtJson(rec: JoyFlowRecord, twin: JoyFlowRecord | null): string {
  if (rec.wht === null) return "";
  const f = Math.fround;
  let n: number;
  const v = [0, 0, 0, 0];
  if (twin === null || twin.wht === null) {
    n = rec.whtBytes >>> 0;
    for (let i = 0; i < 4; i++) v[i] = rec.wht[i];
  } else {
    n = rec.whtBytes + twin.whtBytes;
    for (let i = 0; i < 4; i++) v[i] = rec.wht[i] + twin.wht[i];
  }
  if (n === 0) return "";
  return `,"wht":[${v.map((x) => cfmtG(f(f(x) / f(n)), 5)).join(",")}]`;
}
