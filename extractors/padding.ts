/**
 * `padding`: signs of padding and traffic shaping: how concentrated the packet sizes are, how regular the gaps
 * are, Tor-cell-sized packets, and header overhead per burst. Packet size is the length on the wire (as in
 * `size`); bursts use the same threshold as `timing` (`burst_threshold_ms`).
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { integerVariance, ratio } from "../lib/stats.ts";
import { randomMultiplier } from "../lib/hash.ts";
import { burstThresholdNs, DEFAULT_TIMING_OPTIONS } from "./timing.ts";

/** Smallest and largest transport payload counted as one Tor cell in a TLS record (514-byte cell plus TLS 1.3,
 * TLS 1.2 GCM or TLS 1.0 CBC record overhead: 536, 543, 586). */
export const TOR_CELL_PAYLOAD_MIN = 536;
/** See {@linkcode TOR_CELL_PAYLOAD_MIN}. */
export const TOR_CELL_PAYLOAD_MAX = 600;

/**
 * Whether a TCP packet's payload has a Tor cell's size (Tor's links are TLS over TCP: a ping or a UDP datagram
 * of that size is no cell). Not an IP fragment's: its payload is a share of a datagram's.
 *
 * @example
 * ```ts
 * import { torCellSized } from "./padding.ts";
 * import { PacketView } from "../lib/packet.ts";
 * const p = new PacketView();
 * p.proto = 6;
 * p.payloadLen = 543;
 * console.log(torCellSized(p)); // true
 * ```
 */
export function torCellSized(p: PacketView): boolean {
  const pay = p.payloadLen;
  return pay >= TOR_CELL_PAYLOAD_MIN && pay <= TOR_CELL_PAYLOAD_MAX && p.proto === 6 && !p.fragmented;
}

/** Share of packets at the dominant size from which a flow counts as constant-size (JoyfulJay's 0.95). */
const CONSTANT_SIZE_RATIO = 0.95;
/** Coefficient of variation of the gaps at or below which a flow counts as constant-rate (JoyfulJay's 0.1). */
const CONSTANT_RATE_CV = 0.1;

/** Per-flow state of `padding`. Sizes keep exact integer sums (first size, sum, squared differences from the
 * first: see `integerVariance`), gaps running moments (Welford's, as `RunningStats`, of which only these three
 * fields are needed). */
export class PaddingState {
  /** Gaps at least this long (nanoseconds, exact) end a burst: the run's burst threshold, as in `timing`. */
  burstFromNs = burstThresholdNs(DEFAULT_TIMING_OPTIONS.burstThreshold);
  n = 0;
  sizeX0 = 0;
  sizeSum = 0;
  sizeSq = 0;
  iatN = 0;
  iatMean = 0;
  iatM2 = 0;
  /** Size histogram: (size, count) pairs in order of first appearance, for the first `MAX_SIZES` distinct
   * sizes; `hit` is the index in `pairs` of the last packet's size. Past a few sizes, `index` finds a size's
   * pair: an open-addressing hash table of pair index + 1 (0 empty), at most half full. */
  pairs: number[] = [];
  hit = 0;
  index: number[] | null = null;
  /** Packets whose size was first seen after the histogram was full: one pooled bucket. */
  pooled = 0;
  /**
   * The pooled sizes' frequent ones (Misra-Gries, `MAX_LATE` counters as (size, count) pairs): a size that makes
   * more than 1/(MAX_LATE + 1) of the pooled packets is kept, its count short by at most that share. The mode
   * of a flow whose dominant size first came late (after offloading changed its lengths) is found there.
   */
  late: number[] | null = null;
  /** The last packet's time (`tsNs`); NaN before the first (a time can be negative: stamped out of order). */
  last = NaN;
  torCells = 0;
  withPayload = 0;
  overhead = 0;
  wire = 0;
  /** Current burst: payload and wire bytes; finished bursts: count and summed payload/wire ratios. */
  burstPayload = 0;
  burstWire = 0;
  bursts = 0;
  efficiencySum = 0;
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

/**
 * The padding group's column the burst threshold (`burstThresholdMs`) changes.
 *
 * @example
 * ```ts
 * import { PADDING_BURST_COLUMNS } from "./padding.ts";
 * console.log(PADDING_BURST_COLUMNS); // ["avg_burst_payload_efficiency"]
 * ```
 */
export const PADDING_BURST_COLUMNS: readonly string[] = ["avg_burst_payload_efficiency"];

const features: FeatureSpec[] = [
  f("pkt_size_variance", "float", "Population variance of packet lengths (wire)."),
  f("pkt_size_cv", "float", "Coefficient of variation (std / mean) of packet lengths."),
  f("is_constant_size", "bool", "At least 95% of the packets have the dominant length."),
  f(
    "dominant_size_mode",
    "int",
    "Most common packet length (smallest among ties). Exact up to 2048 different lengths in a flow; past that, " +
      "a length first seen after the 2048th is found when it makes more than 1/65 of those later packets.",
  ),
  f(
    "dominant_size_ratio",
    "float",
    "Share of packets with the most common length (for a length first seen after the 2048th, a lower bound " +
      "within 1/65 of the later packets).",
  ),
  f(
    "unique_size_count",
    "int",
    "Number of distinct packet lengths (exact up to 2048; lengths first seen after that count as one more).",
  ),
  f(
    "size_entropy",
    "float",
    "Shannon entropy of the packet length distribution over log2(distinct lengths), 0-1 (past 2048 distinct " +
      "lengths, the later ones as one length).",
  ),
  f("iat_variance", "float", "Population variance of the gaps between consecutive packets, seconds squared."),
  f("iat_cv", "float", "Coefficient of variation of the gaps (null when the mean gap is 0)."),
  f(
    "is_constant_rate",
    "bool",
    "Gap coefficient of variation at most 0.1 (null below two packets, or when the mean gap is not above 0: " +
      "every gap 0, or packets stamped out of order).",
  ),
  f(
    "tor_cell_count",
    "int",
    "TCP packets whose payload is 536-600 bytes, the size of one Tor cell in a TLS record (IP fragments not " +
      "counted: theirs is a share of a datagram's).",
  ),
  f("tor_cell_ratio", "float", "tor_cell_count / total_packets."),
  f(
    "is_tor_like",
    "bool",
    "At least 5 Tor-cell-sized packets making at least half of the packets with payload.",
  ),
  f("burst_padding_ratio", "float", "Header bytes (wire minus payload) over wire bytes, over all bursts."),
  f("burst_overhead_bytes", "int", "Header bytes (wire length minus transport payload) over all packets."),
  f("avg_burst_payload_efficiency", "float", "Mean over bursts of payload bytes / wire bytes."),
  f(
    "padding_score",
    "float",
    "0-1: +0.3 constant size, +0.2 dominant size ratio > 0.8, +0.2 constant rate, +0.3 Tor-like.",
  ),
];

/** Distinct sizes looked up by a scan of the pairs; more get a hash table. */
const MAX_SCANNED = 16;
/**
 * Distinct sizes a flow's histogram holds (about 100 KB at most): every size an Ethernet flow without
 * offloading can have (at most 1514) fits, and a capture whose lengths vary without bound (original lengths are
 * any 32-bit value) cannot grow a flow's memory with its packets.
 */
const MAX_SIZES = 2048;

/** The size tables' hash multiplier: random, so that no set of sizes can be chosen to share slots (see lib/hash.ts;
 * a fixed one let 2,048 crafted sizes make each packet probe 2,000 slots). */
const SLOT_MULTIPLIER = randomMultiplier();

/** Slot of `size` in a hash table of `mask + 1` slots (a power of two): multiply-shift's top bits. */
const slotOf = (size: number, mask: number): number => Math.imul(size, SLOT_MULTIPLIER) >>> Math.clz32(mask);

function countSize(s: PaddingState, len: number): void {
  const a = s.pairs, t = s.index;
  if (t === null) {
    for (let i = 0; i < a.length; i += 2) {
      if (a[i] === len) {
        a[i + 1]++;
        s.hit = i;
        return;
      }
    }
    s.hit = a.length;
    a.push(len, 1);
    if (a.length > 2 * MAX_SCANNED) buildIndex(s, 4 * a.length);
    return;
  }
  const mask = t.length - 1;
  let j = slotOf(len, mask);
  for (let v = t[j]; v !== 0; v = t[j]) {
    if (a[v - 1] === len) {
      a[v]++;
      s.hit = v - 1;
      return;
    }
    j = (j + 1) & mask;
  }
  if (a.length >= 2 * MAX_SIZES) {
    s.pooled++;
    countLate(s, len);
    return;
  }
  s.hit = a.length;
  t[j] = a.length + 1;
  a.push(len, 1);
  if (a.length > t.length) buildIndex(s, 2 * t.length);
}

/** Counters kept for the sizes first seen after the histogram was full. */
const MAX_LATE = 64;

/** Counts a pooled size in the Misra-Gries counters (see `PaddingState.late`). */
function countLate(s: PaddingState, len: number): void {
  const l = s.late ??= [];
  for (let i = 0; i < l.length; i += 2) {
    if (l[i] === len) {
      l[i + 1]++;
      return;
    }
  }
  if (l.length < 2 * MAX_LATE) {
    l.push(len, 1);
    return;
  }
  // Full: every counter loses one, and those at zero make room.
  let w = 0;
  for (let i = 0; i < l.length; i += 2) {
    if (l[i + 1] > 1) {
      l[w] = l[i];
      l[w + 1] = l[i + 1] - 1;
      w += 2;
    }
  }
  l.length = w;
}

/** (Re)builds the hash table with `slots` slots (a power of two) over every pair. */
function buildIndex(s: PaddingState, slots: number): void {
  let size = 1;
  while (size < slots) size *= 2;
  const t: number[] = new Array(size).fill(0), a = s.pairs, mask = size - 1;
  for (let i = 0; i < a.length; i += 2) {
    let j = slotOf(a[i], mask);
    while (t[j] !== 0) j = (j + 1) & mask;
    t[j] = i + 1;
  }
  s.index = t;
}

function closeBurst(s: PaddingState): void {
  if (s.burstWire > 0) {
    s.bursts++;
    s.efficiencySum += s.burstPayload / s.burstWire;
  }
  s.burstPayload = 0;
  s.burstWire = 0;
}

/**
 * The `padding` group.
 *
 * @example
 * ```ts
 * import { paddingExtractor } from "./padding.ts";
 * console.log(paddingExtractor.features[0].name); // pkt_size_variance
 * ```
 */
export const paddingExtractor: FeatureExtractor<PaddingState> = {
  name: "padding",
  features,
  init: (): PaddingState => new PaddingState(),
  update(s: PaddingState, p: PacketView, _flow: FlowState, _dir: 0 | 1): void {
    const len = p.wireLen, pay = p.payloadLen;
    if (++s.n === 1) s.sizeX0 = len;
    const d = len - s.sizeX0;
    s.sizeSum += len;
    s.sizeSq += d * d;
    // Consecutive packets often have the same size.
    const a = s.pairs, i = s.hit;
    if (i < a.length && a[i] === len) a[i + 1]++;
    else countSize(s, len);
    const ts = p.tsNs;
    if (s.last === s.last) {
      const gapNs = ts - s.last, gap = gapNs / 1e9;
      const k = ++s.iatN, e = gap - s.iatMean;
      s.iatMean += e / k;
      s.iatM2 += e * (gap - s.iatMean);
      if (gapNs >= s.burstFromNs) closeBurst(s);
    }
    s.last = ts;
    if (pay > 0) {
      s.withPayload++;
      if (torCellSized(p)) s.torCells++;
    }
    const over = len > pay ? len - pay : 0;
    s.overhead += over;
    s.wire += len;
    s.burstPayload += len - over;
    s.burstWire += len;
  },
  finish(s: PaddingState, _flow: FlowState, out): void {
    closeBurst(s);
    const n = s.n;
    if (n === 0) return;
    const variance = integerVariance(n, s.sizeX0, s.sizeSum, s.sizeSq)!;
    out.pkt_size_variance = variance;
    out.pkt_size_cv = ratio(Math.sqrt(variance), s.sizeSum / n);
    let mode = -1, modeCount = 0, entropy = 0;
    // Sizes in order of first appearance (the order of the entropy sum).
    const a = s.pairs;
    const unique = (a.length >> 1) + (s.pooled > 0 ? 1 : 0);
    for (let i = 0; i < a.length; i += 2) {
      const size = a[i], count = a[i + 1];
      if (count > modeCount || (count === modeCount && size < mode)) {
        mode = size;
        modeCount = count;
      }
      const q = count / n;
      entropy -= q * Math.log2(q);
    }
    if (s.pooled > 0) {
      const q = s.pooled / n;
      entropy -= q * Math.log2(q);
      // A size first seen late that outnumbers the histogram's mode (its count a lower bound).
      const l = s.late!;
      for (let i = 0; i < l.length; i += 2) {
        if (l[i + 1] > modeCount || (l[i + 1] === modeCount && l[i] < mode)) {
          mode = l[i];
          modeCount = l[i + 1];
        }
      }
    }
    const modeRatio = modeCount / n;
    const constantSize = modeRatio >= CONSTANT_SIZE_RATIO;
    out.is_constant_size = constantSize;
    out.dominant_size_mode = mode;
    out.dominant_size_ratio = modeRatio;
    out.unique_size_count = unique;
    out.size_entropy = unique > 1 ? entropy / Math.log2(unique) : 0;
    let constantRate: boolean | null = null;
    if (s.iatN > 0) {
      const iatVariance = Math.max(0, s.iatM2 / s.iatN);
      out.iat_variance = iatVariance;
      const cv = ratio(Math.sqrt(iatVariance), s.iatMean);
      out.iat_cv = cv;
      // A mean gap below 0 (packets stamped out of order) makes the CV negative: no rate to judge.
      constantRate = cv !== null && s.iatMean > 0 ? cv <= CONSTANT_RATE_CV : null;
    }
    out.is_constant_rate = constantRate;
    out.tor_cell_count = s.torCells;
    out.tor_cell_ratio = s.torCells / n;
    const torLike = s.torCells >= 5 && s.torCells * 2 >= s.withPayload;
    out.is_tor_like = torLike;
    out.burst_padding_ratio = ratio(s.overhead, s.wire);
    out.burst_overhead_bytes = s.overhead;
    out.avg_burst_payload_efficiency = ratio(s.efficiencySum, s.bursts);
    let score = 0;
    if (constantSize) score += 0.3;
    if (modeRatio > 0.8) score += 0.2;
    if (constantRate === true) score += 0.2;
    if (torLike) score += 0.3;
    out.padding_score = Math.min(1, Math.round(score * 10) / 10);
  },
};

/**
 * The `padding` group with its own burst threshold (seconds), as `extractFlows` runs it for `burstThresholdMs`.
 *
 * @example
 * ```ts
 * import { paddingExtractorWith } from "./padding.ts";
 * console.log(paddingExtractorWith({ burstThreshold: 0.1 }).name); // padding
 * ```
 */
export function paddingExtractorWith(options: { burstThreshold?: number }): FeatureExtractor<PaddingState> {
  const burst = options.burstThreshold ?? DEFAULT_TIMING_OPTIONS.burstThreshold;
  return {
    ...paddingExtractor,
    init: (): PaddingState => {
      const s = new PaddingState();
      s.burstFromNs = burstThresholdNs(burst);
      return s;
    },
  };
}
