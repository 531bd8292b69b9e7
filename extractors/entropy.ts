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

function shannon(c: number[], n: number): number {
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const x = c[i];
    if (x > 0) {
      const q = x / n;
      h -= q * Math.log2(q);
    }
  }
  return h;
}

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
    const c0 = s.counts[0], c1 = s.counts[1];
    const all: number[] = new Array(256);
    for (let i = 0; i < 256; i++) all[i] = (c0 === null ? 0 : c0[i]) + (c1 === null ? 0 : c1[i]);
    out.entropy_payload = shannon(all, n);
    const e0 = c0 === null ? null : shannon(c0, n0);
    const e1 = c1 === null ? null : shannon(c1, n1);
    out.entropy_initiator = e0;
    out.entropy_responder = e1;
    out.entropy_ratio = e0 !== null && e1 !== null && e1 > 0 ? e0 / e1 : null;
    if (n >= 256) {
      const expected = n / 256;
      let v = 0;
      for (let i = 0; i < 256; i++) v += (all[i] - expected) ** 2;
      out.byte_distribution_uniformity = Math.max(0, 1 - v / (n * n));
    }
    let printable = all[9] + all[10] + all[13], high = 0;
    for (let i = 0x20; i <= 0x7e; i++) printable += all[i];
    for (let i = 0x80; i < 256; i++) high += all[i];
    out.printable_ratio = printable / n;
    out.null_ratio = all[0] / n;
    out.high_byte_ratio = high / n;
  },
};
