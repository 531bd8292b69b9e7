/**
 * `entropy`: randomness and character classes of the payload, from a sample: the first `entropy_sample_bytes`
 * captured transport payload bytes of each direction (default 256, JoyfulJay's), counted into a 256-bin
 * histogram per direction. Only those bytes are read, so the cost per flow is bounded whatever its length.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
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

const ZEROS: readonly number[] = new Array(256).fill(0);

/** Histograms of finished flows, zeroed, for reuse: a flow with payload then allocates none. */
const POOL: number[][] = [];
const POOL_MAX = 1024;

function release(s: EntropyState): void {
  for (let d = 0; d < 2; d++) {
    const c = s.counts[d];
    if (c === null) continue;
    s.counts[d] = null;
    if (POOL.length < POOL_MAX) {
      c.fill(0);
      POOL.push(c);
    }
  }
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
    if (c === null) c = s.counts[dir] = POOL.length > 0 ? POOL.pop()! : new Array(256).fill(0);
    const n = Math.min(p.payloadCapLen, s.limit - done);
    const buf = p.buf, off = p.payloadOff;
    for (let i = 0; i < n; i++) c[buf[off + i]]++;
    s.sampled[dir] = done + n;
  },
  finish(s: EntropyState, _flow: FlowState, out): void {
    const n0 = s.sampled[0], n1 = s.sampled[1];
    out.payload_bytes_sampled = n0 + n1;
    if (n0 + n1 === 0) return;
    const c0 = s.counts[0] ?? ZEROS as number[], c1 = s.counts[1] ?? ZEROS as number[];
    try {
      writeEntropy(out, c0, c1, n0, n1);
    } finally {
      release(s);
    }
  },
};

/** Writes the entropy columns from the two histograms, in one pass over the 256 byte values. */
function writeEntropy(out: FlowRecord, c0: number[], c1: number[], n0: number, n1: number): void {
  const n = n0 + n1, expected = n / 256;
  let s0 = 0, s1 = 0, s = 0, v = 0, printable = 0, high = 0;
  for (let i = 0; i < 256; i++) {
    const a = c0[i], b = c1[i], c = a + b;
    if (c === 0) {
      v += expected * expected;
      continue;
    }
    s0 += clogc(a);
    s1 += clogc(b);
    s += clogc(c);
    v += (c - expected) * (c - expected);
    if (i >= 0x80) high += c;
    else if ((i >= 0x20 && i <= 0x7e) || i === 9 || i === 10 || i === 13) printable += c;
  }
  out.entropy_payload = Math.max(0, Math.log2(n) - s / n);
  const e0 = n0 > 0 ? Math.max(0, Math.log2(n0) - s0 / n0) : null;
  const e1 = n1 > 0 ? Math.max(0, Math.log2(n1) - s1 / n1) : null;
  out.entropy_initiator = e0;
  out.entropy_responder = e1;
  out.entropy_ratio = e0 !== null && e1 !== null && e1 > 0 ? e0 / e1 : null;
  if (n >= 256) out.byte_distribution_uniformity = Math.max(0, 1 - v / (n * n));
  out.printable_ratio = printable / n;
  out.null_ratio = (c0[0] + c1[0]) / n;
  out.high_byte_ratio = high / n;
}
