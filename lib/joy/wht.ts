/**
 * Joy's Walsh-Hadamard transform feature (`wht.c`): the payload is read as 4-byte blocks and each block's
 * 4-point Walsh-Hadamard transform is summed over the flow; printed as `"wht":[a,b,c,d]` (both directions
 * added for a bidirectional flow).
 *
 * @module
 */
import type { JoyFlowRecord } from "./flow_record.ts";

/**
 * Folds one payload into the record's transform sums.
 *
 * @example
 * ```ts
 * import { whtUpdate } from "./wht.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * const r = new JoyFlowRecord();
 * whtUpdate(r, new Uint8Array([1, 2, 3, 4]), 0, 4);
 * console.log(Array.from(r.wht!)); // [10, -2, -4, 0]
 * ```
 */
export function whtUpdate(rec: JoyFlowRecord, buf: Uint8Array, p: number, len: number): void {
  const w = rec.wht ??= new Float64Array(4);
  for (let i = 0; i + 4 <= len; i += 4) {
    const a = buf[p + i], b = buf[p + i + 1], c = buf[p + i + 2], d = buf[p + i + 3];
    w[0] += a + b + c + d;
    w[1] += a - b + c - d;
    w[2] += a + b - c - d;
    w[3] += a - b - c + d;
  }
}

/**
 * The `,"wht":[...]` fragment.
 *
 * @example
 * ```ts
 * import { whtJson } from "./wht.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * console.log(whtJson(new JoyFlowRecord(), null)); // ""
 * ```
 */
export function whtJson(rec: JoyFlowRecord, twin: JoyFlowRecord | null): string {
  if (rec.wht === null && (twin === null || twin.wht === null)) return "";
  const v = [0, 0, 0, 0];
  for (let i = 0; i < 4; i++) v[i] = (rec.wht?.[i] ?? 0) + (twin?.wht?.[i] ?? 0);
  return `,"wht":[${v.join(",")}]`;
}
