/**
 * `entropy`: randomness and character classes of the payload, from a sample: the first `entropy_sample_bytes`
 * captured transport payload bytes of each direction (default 256, JoyfulJay's), counted into a 256-bin
 * histogram per direction. Only those bytes are read, so the cost per flow is bounded whatever its length.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";

/** Settings of the entropy group. */
export interface EntropyOptions {
  /** Payload bytes sampled per direction (default 256); 0 turns the sample off. */
  sampleBytes: number;
}

/** Current entropy settings; `extractFlows` sets them from its options. A flow keeps the value it started with. */
export const entropyOptions: EntropyOptions = { sampleBytes: 256 };

/** Per-flow state of `entropy`: byte histograms per direction, allocated at the first payload byte. */
export class EntropyState {
  limit: number;
  sampled: number[] = [0, 0];
  counts: (number[] | null)[] = [null, null];
  constructor(limit: number) {
    this.limit = limit;
  }
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "entropy_payload",
    "float",
    "Shannon entropy of the sampled payload bytes of both directions, bits per byte (0-8).",
  ),
  f("entropy_initiator", "float", "Shannon entropy of the initiator's sampled payload bytes."),
  f("entropy_responder", "float", "Shannon entropy of the responder's sampled payload bytes."),
  f(
    "entropy_ratio",
    "float",
    "entropy_initiator / entropy_responder (null when the responder's is 0 or missing).",
  ),
  f(
    "byte_distribution_uniformity",
    "float",
    "1 - sum((count - n/256)^2) / n^2 over the 256 byte values, 0-1 (null below 256 sampled bytes).",
  ),
  f("printable_ratio", "float", "Share of sampled bytes that are printable ASCII (0x20-0x7e, tab, LF, CR)."),
  f("null_ratio", "float", "Share of sampled bytes that are 0x00."),
  f("high_byte_ratio", "float", "Share of sampled bytes 0x80-0xff."),
  f(
    "payload_bytes_sampled",
    "int",
    "Payload bytes in the sample (both directions; at most 2 x entropy_sample_bytes).",
  ),
];

/** c * log2(c) for small counts (the sums below need it 256 times per flow). */
const CLOGC: number[] = [0];
for (let c = 1; c <= 4096; c++) CLOGC.push(c * Math.log2(c));
const clogc = (c: number): number => c <= 4096 ? CLOGC[c] : c * Math.log2(c);

/** Shannon entropy of counts summing to n: log2(n) - sum(c log2 c) / n. */
function shannon(c: number[], n: number): number {
  let s = 0;
  for (let i = 0; i < 256; i++) s += clogc(c[i]);
  return Math.max(0, Math.log2(n) - s / n);
}

/** Shannon entropy of the sum of two histograms. */
function shannon2(a: number[], b: number[], n: number): number {
  let s = 0;
  for (let i = 0; i < 256; i++) s += clogc(a[i] + b[i]);
  return Math.max(0, Math.log2(n) - s / n);
}

const ZEROS: readonly number[] = new Array(256).fill(0);

/**
 * The `entropy` group.
 *
 * @example
 * ```ts
 * import { entropyExtractor } from "./entropy.ts";
 * console.log(entropyExtractor.features.length); // 9
 * ```
 */
export const entropyExtractor: FeatureExtractor<EntropyState> = {
  name: "entropy",
  features,
  init: (): EntropyState => new EntropyState(entropyOptions.sampleBytes),
  update(s: EntropyState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const done = s.sampled[dir];
    if (done >= s.limit || p.payloadCapLen === 0) return;
    let c = s.counts[dir];
    if (c === null) c = s.counts[dir] = new Array(256).fill(0);
    const n = Math.min(p.payloadCapLen, s.limit - done);
    const buf = p.buf, off = p.payloadOff;
    for (let i = 0; i < n; i++) c[buf[off + i]]++;
    s.sampled[dir] = done + n;
  },
  finish(s: EntropyState, _flow: FlowState, out): void {
    const n0 = s.sampled[0], n1 = s.sampled[1], n = n0 + n1;
    out.payload_bytes_sampled = n;
    if (n === 0) return;
    const c0 = s.counts[0] ?? ZEROS as number[], c1 = s.counts[1] ?? ZEROS as number[];
    out.entropy_payload = shannon2(c0, c1, n);
    const e0 = n0 > 0 ? shannon(c0, n0) : null;
    const e1 = n1 > 0 ? shannon(c1, n1) : null;
    out.entropy_initiator = e0;
    out.entropy_responder = e1;
    out.entropy_ratio = e0 !== null && e1 !== null && e1 > 0 ? e0 / e1 : null;
    if (n >= 256) {
      const expected = n / 256;
      let v = 0;
      for (let i = 0; i < 256; i++) v += (c0[i] + c1[i] - expected) ** 2;
      out.byte_distribution_uniformity = Math.max(0, 1 - v / (n * n));
    }
    let printable = c0[9] + c1[9] + c0[10] + c1[10] + c0[13] + c1[13], high = 0;
    for (let i = 0x20; i <= 0x7e; i++) printable += c0[i] + c1[i];
    for (let i = 0x80; i < 256; i++) high += c0[i] + c1[i];
    out.printable_ratio = printable / n;
    out.null_ratio = (c0[0] + c1[0]) / n;
    out.high_byte_ratio = high / n;
  },
};
