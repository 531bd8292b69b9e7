/**
 * `timing`: inter-arrival times overall and per direction, burstiness, bursts and idle periods, first response.
 * Gaps are differences of exact nanosecond times (`PacketView.tsNs`), as tshark's `frame.time_delta`; means and
 * deviations are their running moments (Welford's), durations exact sums; medians and percentiles are exact up
 * to the sample capacity (4096 gaps), a uniform sample beyond.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { num, ratio, SeriesLog, type SeriesSample, welfordStd } from "../lib/stats.ts";

/** Settings of the timing group. */
export interface TimingOptions {
  /**
   * Gaps shorter than this (seconds) join packets into one burst; the others, between bursts, are the idle
   * periods (default 0.05, JoyfulJay's 50 ms).
   */
  burstThreshold: number;
}

/** Default timing settings: JoyfulJay's 50 ms burst threshold. */
export const DEFAULT_TIMING_OPTIONS: Readonly<TimingOptions> = { burstThreshold: 0.05 };

/**
 * The burst threshold in nanoseconds, as gaps (whole nanoseconds) compare with it: a gap below `seconds` is below
 * this. A threshold of whole nanoseconds is that number (0.3 ms, which doubles give as 300000.00000000006 ns, is
 * 300000: a gap equal to it ends a burst); a finer one is rounded up (2.4 ns: gaps of 2 ns join a burst).
 *
 * @example
 * ```ts
 * import { burstThresholdNs } from "./timing.ts";
 * console.log(burstThresholdNs(0.0003), burstThresholdNs(2.4e-9)); // 300000 3
 * ```
 */
export function burstThresholdNs(seconds: number): number {
  const x = seconds * 1e9, whole = Math.round(x);
  return Math.abs(x - whole) <= Math.max(1e-6, Math.abs(x) * 4e-16) ? whole : Math.ceil(x);
}

/**
 * Per-flow state of `timing`. The running moments of the gaps (all, per direction, idle) are Welford's method
 * as `RunningStats` computes it, with the fields held here: one object per flow instead of five keeps a packet's
 * update on one or two cache lines (the flows of a busy capture interleave, so each object is a cache miss).
 */
export class TimingState {
  /** Gaps below this (nanoseconds) join a burst: this run's threshold, kept per flow so that two pipelines in
   * one process never share it. Gaps are exact: one equal to it ends a burst. */
  burstBelowNs = burstThresholdNs(DEFAULT_TIMING_OPTIONS.burstThreshold);
  /** The last packet's time (`tsNs`), overall and per direction; NaN before the first (a time can be negative:
   * before the first packet's second, stamped out of order). */
  last = NaN;
  last0 = NaN;
  last1 = NaN;
  /** All gaps (seconds): count, mean, sum of squared deviations, min, max. Their sum is the last packet's time
   * less the first's. */
  n = 0;
  mean = 0;
  m2 = 0;
  min = Infinity;
  max = -Infinity;
  /** Initiator gaps. */
  fn = 0;
  fmean = 0;
  fm2 = 0;
  fmin = Infinity;
  fmax = -Infinity;
  /** Responder gaps. */
  bn = 0;
  bmean = 0;
  bm2 = 0;
  bmin = Infinity;
  bmax = -Infinity;
  /** Idle gaps: count, mean, max. */
  idleN = 0;
  idleMean = 0;
  idleMax = -Infinity;
  /** Packet times, negated for responder packets, for the gaps' medians and percentiles (see `gapSeries`); a
   * flow with a negative time goes to samples at once (the sign would be read as the direction). */
  logHead = -1;
  logTail = -1;
  logN = 0;
  allSample: SeriesSample | null = null;
  fwdSample: SeriesSample | null = null;
  bwdSample: SeriesSample | null = null;
  /** Current run: packets and start time (`tsNs`). Bursts are the idle gaps plus one, and hold every packet. Their
   * durations' sum in nanoseconds (exact). */
  runPackets = 0;
  runStart = 0;
  burstDurationNs = 0;
  maxBurst = 0;
  /** NaN until the responder's first packet (its time can be before the first packet's, stamped out of order). */
  firstResponse = NaN;
  /** The flow's first packet's `tsNs`. */
  first = 0;
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

/**
 * The columns the burst threshold (`burstThresholdMs`) changes: bursts and the idle periods between them.
 *
 * @example
 * ```ts
 * import { TIMING_BURST_COLUMNS } from "./timing.ts";
 * console.log(TIMING_BURST_COLUMNS.includes("idle_count")); // true
 * ```
 */
export const TIMING_BURST_COLUMNS: readonly string[] = [
  "burst_count",
  "avg_burst_packets",
  "avg_burst_duration",
  "max_burst_packets",
  "idle_count",
  "avg_idle_duration",
  "max_idle_duration",
];

const features: FeatureSpec[] = [
  f("iat_min", "float", "Smallest gap between consecutive packets of the flow, seconds."),
  f("iat_max", "float", "Largest gap between consecutive packets, seconds."),
  f("iat_mean", "float", "Mean gap, seconds."),
  f("iat_std", "float", "Population standard deviation of the gaps."),
  f(
    "iat_median",
    "float",
    "Median gap: exact up to 4,096 gaps; beyond, of a uniform sample of 4,096 (as are the percentiles below).",
  ),
  f("iat_sum", "float", "Sum of the gaps (the duration)."),
  f("iat_p25", "float", "25th percentile of the gaps (linear interpolation)."),
  f("iat_p75", "float", "75th percentile of the gaps."),
  f("iat_p90", "float", "90th percentile of the gaps."),
  f("iat_p99", "float", "99th percentile of the gaps."),
  f("iat_fwd_min", "float", "Smallest gap between consecutive initiator packets."),
  f("iat_fwd_max", "float", "Largest gap between consecutive initiator packets."),
  f("iat_fwd_mean", "float", "Mean gap between initiator packets."),
  f("iat_fwd_std", "float", "Standard deviation of initiator gaps."),
  f("iat_fwd_median", "float", "Median initiator gap (sampled past 4,096 gaps, as iat_median)."),
  f("iat_bwd_min", "float", "Smallest gap between consecutive responder packets."),
  f("iat_bwd_max", "float", "Largest gap between consecutive responder packets."),
  f("iat_bwd_mean", "float", "Mean gap between responder packets."),
  f("iat_bwd_std", "float", "Standard deviation of responder gaps."),
  f("iat_bwd_median", "float", "Median responder gap (sampled past 4,096 gaps, as iat_median)."),
  f("burstiness_index", "float", "Coefficient of variation (std / mean) of the gaps."),
  f("burstiness_index_fwd", "float", "Coefficient of variation of initiator gaps."),
  f("burstiness_index_bwd", "float", "Coefficient of variation of responder gaps."),
  f(
    "burst_count",
    "int",
    "Bursts: the runs of packets that gaps of at least burst_threshold_ms (exact gaps) split the flow " +
      "into (a lone packet is a burst too, as in JoyfulJay; 0 for a one-packet flow).",
  ),
  f("avg_burst_packets", "float", "Mean packets per burst."),
  f("avg_burst_duration", "float", "Mean burst duration (first to last packet of the burst), seconds."),
  f("max_burst_packets", "int", "Packets in the largest burst."),
  f("idle_count", "int", "Idle periods: the gaps between bursts (at least burst_threshold_ms)."),
  f("avg_idle_duration", "float", "Mean idle gap, seconds."),
  f("max_idle_duration", "float", "Longest idle gap, seconds."),
  f("first_response_time", "float", "Seconds from the first packet to the responder's first packet."),
];

/**
 * The gaps' three series, from each flow's first 4096 packet times (`tsNs`, as the samples' capacity): the same
 * values (each the same subtraction and division) in the same order as adding them per packet.
 */
const gapSeries = new SeriesLog(4096, (log, n, all, fwd, bwd) => {
  let last = NaN, last0 = NaN, last1 = NaN;
  for (let i = 0; i < n; i++) {
    const x = log[i];
    // Responder times are negated; a time of 0 is told apart by its sign bit.
    const responder = x < 0 || (x === 0 && 1 / x < 0);
    const ts = responder ? -x : x;
    if (last === last) all.add((ts - last) / 1e9);
    last = ts;
    if (responder) {
      if (last1 === last1) bwd.add((ts - last1) / 1e9);
      last1 = ts;
    } else {
      if (last0 === last0) fwd.add((ts - last0) / 1e9);
      last0 = ts;
    }
  }
});

function closeRun(s: TimingState): void {
  s.burstDurationNs += s.last - s.runStart;
  if (s.runPackets > s.maxBurst) s.maxBurst = s.runPackets;
}

/**
 * The `timing` group with its own settings (what `extractFlows` runs for `burstThresholdMs`).
 *
 * @example
 * ```ts
 * import { timingExtractorWith } from "./timing.ts";
 * const timing = timingExtractorWith({ burstThreshold: 0.1 });
 * console.log(timing.name); // timing
 * ```
 */
export function timingExtractorWith(options: Partial<TimingOptions>): FeatureExtractor<TimingState> {
  const burst = options.burstThreshold ?? DEFAULT_TIMING_OPTIONS.burstThreshold;
  return { ...timingGroup, init: (flow: FlowState) => timingGroup.init(flow, burst) };
}

const timingGroup = {
  name: "timing",
  features,
  init(flow: FlowState, burst: number): TimingState {
    const s = new TimingState();
    s.burstBelowNs = burstThresholdNs(burst);
    s.first = flow.firstNs;
    return s;
  },
  update(s: TimingState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const ts = p.tsNs;
    if (ts >= 0) gapSeries.append(s, dir === 0 ? ts : -ts);
    else gapSeries.toSamples(s);
    // NaN before the first packet (x === x is false only for NaN).
    if (s.last === s.last) {
      const gapNs = ts - s.last, gap = gapNs / 1e9;
      const n = ++s.n;
      const d = gap - s.mean;
      s.mean += d / n;
      s.m2 += d * (gap - s.mean);
      if (gap < s.min) s.min = gap;
      if (gap > s.max) s.max = gap;
      if (s.allSample !== null) s.allSample.add(gap);
      if (gapNs < s.burstBelowNs) {
        s.runPackets++;
      } else {
        // The gap between two bursts is an idle period.
        closeRun(s);
        s.runPackets = 1;
        s.runStart = ts;
        s.idleMean += (gap - s.idleMean) / ++s.idleN;
        if (gap > s.idleMax) s.idleMax = gap;
      }
    } else {
      s.runPackets = 1;
      s.runStart = ts;
    }
    s.last = ts;
    if (dir === 0) {
      const ld = s.last0;
      if (ld === ld) {
        const gap = (ts - ld) / 1e9;
        const n = ++s.fn;
        const d = gap - s.fmean;
        s.fmean += d / n;
        s.fm2 += d * (gap - s.fmean);
        if (gap < s.fmin) s.fmin = gap;
        if (gap > s.fmax) s.fmax = gap;
        if (s.fwdSample !== null) s.fwdSample.add(gap);
      }
      s.last0 = ts;
    } else {
      const ld = s.last1;
      if (ld === ld) {
        const gap = (ts - ld) / 1e9;
        const n = ++s.bn;
        const d = gap - s.bmean;
        s.bmean += d / n;
        s.bm2 += d * (gap - s.bmean);
        if (gap < s.bmin) s.bmin = gap;
        if (gap > s.bmax) s.bmax = gap;
        if (s.bwdSample !== null) s.bwdSample.add(gap);
      }
      s.last1 = ts;
      if (s.firstResponse !== s.firstResponse) s.firstResponse = (ts - s.first) / 1e9;
    }
  },
  finish(s: TimingState, _flow: FlowState, out: FlowRecord): void {
    // The last burst (a one-packet flow has no gap, hence no burst, as in JoyfulJay).
    if (s.n > 0 && s.runPackets > 0) closeRun(s);
    s.runPackets = 0;
    const std = welfordStd(s.m2, s.n);
    const fstd = welfordStd(s.fm2, s.fn);
    const bstd = welfordStd(s.bm2, s.bn);
    const { all, fwd, bwd } = gapSeries.finish(s);
    out.iat_min = s.n > 0 ? s.min : null;
    out.iat_max = s.n > 0 ? s.max : null;
    out.iat_mean = s.n > 0 ? s.mean : null;
    out.iat_std = std;
    out.iat_median = all.quantile(0.5);
    out.iat_sum = s.n > 0 ? (s.last - s.first) / 1e9 : null;
    out.iat_p25 = all.quantile(0.25);
    out.iat_p75 = all.quantile(0.75);
    out.iat_p90 = all.quantile(0.9);
    out.iat_p99 = all.quantile(0.99);
    out.iat_fwd_min = s.fn > 0 ? s.fmin : null;
    out.iat_fwd_max = s.fn > 0 ? s.fmax : null;
    out.iat_fwd_mean = s.fn > 0 ? s.fmean : null;
    out.iat_fwd_std = fstd;
    out.iat_fwd_median = fwd.quantile(0.5);
    out.iat_bwd_min = s.bn > 0 ? s.bmin : null;
    out.iat_bwd_max = s.bn > 0 ? s.bmax : null;
    out.iat_bwd_mean = s.bn > 0 ? s.bmean : null;
    out.iat_bwd_std = bstd;
    out.iat_bwd_median = bwd.quantile(0.5);
    out.burstiness_index = std !== null ? ratio(std, s.mean) : null;
    out.burstiness_index_fwd = fstd !== null ? ratio(fstd, s.fmean) : null;
    out.burstiness_index_bwd = bstd !== null ? ratio(bstd, s.bmean) : null;
    // Every idle gap ends a burst and the last burst ends the flow; bursts hold every packet (n gaps: n + 1).
    const bursts = s.n > 0 ? s.idleN + 1 : 0;
    out.burst_count = bursts;
    out.avg_burst_packets = ratio(s.n + 1, bursts);
    out.avg_burst_duration = ratio(s.burstDurationNs / 1e9, bursts);
    out.max_burst_packets = s.maxBurst;
    out.idle_count = s.idleN;
    out.avg_idle_duration = s.idleN > 0 ? s.idleMean : null;
    out.max_idle_duration = s.idleN > 0 ? s.idleMax : null;
    out.first_response_time = Number.isNaN(s.firstResponse) ? null : num(s.firstResponse);
    gapSeries.release(s);
  },
};

/**
 * The `timing` group.
 *
 * @example
 * ```ts
 * import { timingExtractor } from "./timing.ts";
 * console.log(timingExtractor.features.length); // 31
 * ```
 */
export const timingExtractor: FeatureExtractor<TimingState> = timingExtractorWith({});
