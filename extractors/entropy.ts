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

/** Default entropy settings. */
export const DEFAULT_ENTROPY_OPTIONS: Readonly<EntropyOptions> = { sampleBytes: 256 };

/** A byte histogram of both directions: the initiator's counts at 0-255, the responder's at 256-511. 16-bit
 * counts while the sample fits (the default), which halves the memory that every flow with payload touches. */
type ByteHistogram = Uint16Array | Int32Array;

/**
 * Per-flow state of `entropy`: the byte histogram, taken from a pool at the first payload byte and given back
 * when the flow finishes.
 */
export class EntropyState {
  limit: number;
  sampled0 = 0;
  sampled1 = 0;
  hist: ByteHistogram | null = null;
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
const CLOG_MAX = 4096;
const CLOGC = new Float64Array(CLOG_MAX + 1);
for (let c = 1; c <= CLOG_MAX; c++) CLOGC[c] = c * Math.log2(c);

/** Histograms of finished flows, zeroed, for reuse: a flow with payload then allocates none (a typed array costs
 * about a microsecond to create). */
const POOL16: Uint16Array[] = [];
const POOL32: Int32Array[] = [];
const POOL_MAX = 1024;

/** A zeroed histogram for samples of `limit` bytes per direction. */
function takeHistogram(limit: number): ByteHistogram {
  if (limit <= 0xffff) return POOL16.length > 0 ? POOL16.pop()! : new Uint16Array(512);
  return POOL32.length > 0 ? POOL32.pop()! : new Int32Array(512);
}

/** Gives back a zeroed histogram. */
function releaseHistogram(h: ByteHistogram): void {
  if (h instanceof Uint16Array) {
    if (POOL16.length < POOL_MAX) POOL16.push(h);
  } else if (POOL32.length < POOL_MAX) POOL32.push(h);
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
  init: (): EntropyState => new EntropyState(DEFAULT_ENTROPY_OPTIONS.sampleBytes),
  update(s: EntropyState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const cap = p.payloadCapLen;
    if (cap === 0) return;
    const done = dir === 0 ? s.sampled0 : s.sampled1, left = s.limit - done;
    if (left <= 0) return;
    let h = s.hist;
    if (h === null) h = s.hist = takeHistogram(s.limit);
    const n = cap < left ? cap : left;
    const buf = p.buf, off = p.payloadOff, end = off + n;
    if (dir === 0) {
      for (let i = off; i < end; i++) h[buf[i]]++;
      s.sampled0 = done + n;
    } else {
      for (let i = off; i < end; i++) h[256 + buf[i]]++;
      s.sampled1 = done + n;
    }
  },
  finish(s: EntropyState, _flow: FlowState, out): void {
    const n0 = s.sampled0, n1 = s.sampled1, h = s.hist;
    out.payload_bytes_sampled = n0 + n1;
    if (n0 + n1 === 0 || h === null) return;
    s.hist = null;
    writeEntropy(out, h, n0, n1);
    releaseHistogram(h); // zeroed by writeEntropy
  },
};

/** Per byte value: 1 when printable ASCII (0x20-0x7e, tab, LF, CR), and 1 when 0x80-0xff. */
const PRINTABLE = new Int32Array(256);
const HIGH = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  PRINTABLE[i] = (i >= 0x20 && i <= 0x7e) || i === 9 || i === 10 || i === 13 ? 1 : 0;
  HIGH[i] = i >= 0x80 ? 1 : 0;
}

/** What {@linkcode histogramSums} computes: the three sums of c * log2(c) (initiator, responder, both), the
 * uniformity sum, and the printable and high byte counts. */
const SUMS = new Float64Array(6);

/**
 * Fills {@linkcode SUMS} from the two histograms in one pass over the 256 byte values, and zeroes them. Kept apart
 * from the writes to the record, which can deoptimize (a record field changing representation) and would take
 * the loop with them.
 */
function histogramSums(h: ByteHistogram, n: number): void {
  // The three entropy sums add c * log2(c) in byte order (the order fixes the rounding); zero counts add
  // 0, which changes nothing, so the loop has no branch.
  let s0 = 0, s1 = 0, s = 0, squares = 0, printable = 0, high = 0, v = 0;
  if (n <= CLOG_MAX) {
    const t = CLOGC;
    for (let i = 0; i < 256; i++) {
      const a = h[i], b = h[256 + i], c = a + b;
      h[i] = 0;
      h[256 + i] = 0;
      s0 += t[a];
      s1 += t[b];
      s += t[c];
      squares += c * c;
      printable += c * PRINTABLE[i];
      high += c * HIGH[i];
    }
    // With n <= 4096 every term (c - n/256)^2 of the uniformity sum, and every partial sum, is a multiple of
    // 2^-16 below 2^25: exact, so the sum is the same in any order and equals sum(c^2) - n^2/256.
    v = squares - n * n / 256;
  } else {
    const expected = n / 256;
    for (let i = 0; i < 256; i++) {
      const a = h[i], b = h[256 + i], c = a + b;
      h[i] = 0;
      h[256 + i] = 0;
      v += c === 0 ? expected * expected : (c - expected) * (c - expected);
      if (c === 0) continue;
      s0 += a <= CLOG_MAX ? CLOGC[a] : a * Math.log2(a);
      s1 += b <= CLOG_MAX ? CLOGC[b] : b * Math.log2(b);
      s += c <= CLOG_MAX ? CLOGC[c] : c * Math.log2(c);
      printable += c * PRINTABLE[i];
      high += c * HIGH[i];
    }
  }
  SUMS[0] = s0;
  SUMS[1] = s1;
  SUMS[2] = s;
  SUMS[3] = v;
  SUMS[4] = printable;
  SUMS[5] = high;
}

/**
 * Shannon entropy in bits of `n` bytes whose counts c give `s` = Σ c·log2(c): log2(n) - s/n. When one byte value
 * fills the sample the two terms cancel but for an ulp or two (4.4e-16 for 11 bytes), which made
 * `entropy_ratio` 1e16 instead of null: such a remainder is 0. The smallest entropy of a sample of at most
 * 2^32 bytes that is not one value is above 7e-9.
 */
function shannon(n: number, s: number): number {
  const e = Math.log2(n) - s / n;
  return e > 1e-9 ? e : 0;
}

/** Writes the entropy columns from the two histograms, which it zeroes. */
function writeEntropy(out: FlowRecord, h: ByteHistogram, n0: number, n1: number): void {
  const n = n0 + n1, nulls = h[0] + h[256];
  histogramSums(h, n);
  const s0 = SUMS[0], s1 = SUMS[1], s = SUMS[2], v = SUMS[3];
  out.entropy_payload = shannon(n, s);
  const e0 = n0 > 0 ? shannon(n0, s0) : null;
  const e1 = n1 > 0 ? shannon(n1, s1) : null;
  out.entropy_initiator = e0;
  out.entropy_responder = e1;
  out.entropy_ratio = e0 !== null && e1 !== null && e1 > 0 ? e0 / e1 : null;
  if (n >= 256) out.byte_distribution_uniformity = Math.max(0, 1 - v / (n * n));
  out.printable_ratio = SUMS[4] / n;
  out.null_ratio = nulls / n;
  out.high_byte_ratio = SUMS[5] / n;
}

/**
 * The `entropy` group with its own sample size, as `extractFlows` runs it for `entropySampleBytes`.
 *
 * @example
 * ```ts
 * import { entropyExtractorWith } from "./entropy.ts";
 * console.log(entropyExtractorWith({ sampleBytes: 1024 }).name); // entropy
 * ```
 */
export function entropyExtractorWith(options: Partial<EntropyOptions>): FeatureExtractor<EntropyState> {
  const n = options.sampleBytes ?? DEFAULT_ENTROPY_OPTIONS.sampleBytes;
  return { ...entropyExtractor, init: (): EntropyState => new EntropyState(n) };
}
