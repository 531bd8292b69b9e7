/**
 * `size`: packet and payload length statistics overall and per direction, payload counts, the dominant size,
 * layer-7 byte totals and asymmetry. Packet length is the original length on the wire; payload length is the
 * transport payload by the IP and transport headers.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { IntegerCounts, integerVariance, ratio, SeriesLog, type SeriesSample } from "../lib/stats.ts";

/**
 * Per-flow state of `size`. Each series keeps exact integer sums (see `integerVariance`): its first value, the
 * sum, and the sum of squared differences from the first value; fields here rather than six objects, so that a
 * packet's update touches one object (see `TimingState`).
 */
export class SizeState {
  /** Packet lengths: count, first, sum, squared differences from the first, min, max; then per direction. */
  n = 0;
  x0 = 0;
  sum = 0;
  sq = 0;
  min = Infinity;
  max = -Infinity;
  fn = 0;
  fx0 = 0;
  fsum = 0;
  fsq = 0;
  fmin = Infinity;
  fmax = -Infinity;
  bn = 0;
  bx0 = 0;
  bsum = 0;
  bsq = 0;
  bmin = Infinity;
  bmax = -Infinity;
  /** Payload lengths: first, sum, squared differences, min, max (the count is `n`); then per direction. */
  px0 = 0;
  psum = 0;
  psq = 0;
  pmin = Infinity;
  pmax = -Infinity;
  pfx0 = 0;
  pfsum = 0;
  pfsq = 0;
  pbx0 = 0;
  pbsum = 0;
  pbsq = 0;
  /** Packet lengths, responder lengths as -1 - length, for their medians, percentiles and mode (`lengthSeries`). */
  logHead = -1;
  logTail = -1;
  logN = 0;
  allSample: SeriesSample | null = null;
  fwdSample: SeriesSample | null = null;
  bwdSample: SeriesSample | null = null;
  /** Packets with payload, and the smallest non-empty and largest payload, per direction. */
  withPayload0 = 0;
  withPayload1 = 0;
  l7Min0 = Infinity;
  l7Min1 = Infinity;
  l7Max0 = 0;
  l7Max1 = 0;
}

/** The standard deviation of a variance (null when there is none). */
const std = (variance: number | null): number | null => variance === null ? null : Math.sqrt(variance);

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("pkt_len_min", "int", "Smallest packet (wire length)."),
  f("pkt_len_max", "int", "Largest packet."),
  f("pkt_len_mean", "float", "Mean packet length."),
  f("pkt_len_std", "float", "Population standard deviation of packet lengths."),
  f("pkt_len_median", "float", "Median packet length."),
  f("pkt_len_p25", "float", "25th percentile of packet lengths."),
  f("pkt_len_p75", "float", "75th percentile of packet lengths."),
  f("pkt_len_p90", "float", "90th percentile of packet lengths."),
  f("pkt_len_fwd_min", "int", "Smallest initiator packet."),
  f("pkt_len_fwd_max", "int", "Largest initiator packet."),
  f("pkt_len_fwd_mean", "float", "Mean initiator packet length."),
  f("pkt_len_fwd_std", "float", "Standard deviation of initiator packet lengths."),
  f("pkt_len_fwd_median", "float", "Median initiator packet length."),
  f("pkt_len_bwd_min", "int", "Smallest responder packet."),
  f("pkt_len_bwd_max", "int", "Largest responder packet."),
  f("pkt_len_bwd_mean", "float", "Mean responder packet length."),
  f("pkt_len_bwd_std", "float", "Standard deviation of responder packet lengths."),
  f("pkt_len_bwd_median", "float", "Median responder packet length."),
  f("payload_len_min", "int", "Smallest transport payload (0 for pure ACKs)."),
  f("payload_len_max", "int", "Largest transport payload."),
  f("payload_len_mean", "float", "Mean transport payload."),
  f("payload_len_std", "float", "Standard deviation of transport payloads."),
  f("payload_len_fwd_mean", "float", "Mean initiator payload."),
  f("payload_len_fwd_std", "float", "Standard deviation of initiator payloads."),
  f("payload_len_bwd_mean", "float", "Mean responder payload."),
  f("payload_len_bwd_std", "float", "Standard deviation of responder payloads."),
  f("packets_with_payload", "int", "Packets with a non-empty transport payload."),
  f("packets_with_payload_fwd", "int", "Initiator packets with payload."),
  f("packets_with_payload_bwd", "int", "Responder packets with payload."),
  f("header_only_ratio", "float", "Share of packets without payload."),
  f("pkt_len_variance", "float", "Population variance of packet lengths."),
  f(
    "dominant_pkt_size",
    "int",
    "Most common packet length (smallest among ties); past 2048 different lengths in a flow, of a uniform " +
      "sample of its lengths (padding's dominant_size_mode counts every length up to 2048 of them).",
  ),
  f("dominant_pkt_ratio", "float", "Share of packets with the dominant length (of the sample, as above)."),
  f("l7_bytes_fwd", "int", "Payload bytes from the initiator."),
  f("l7_bytes_bwd", "int", "Payload bytes from the responder."),
  f("l7_bytes_total", "int", "Payload bytes in both directions."),
  f("l7_pkt_min_fwd", "int", "Smallest non-empty initiator payload."),
  f("l7_pkt_max_fwd", "int", "Largest initiator payload."),
  f("l7_pkt_min_bwd", "int", "Smallest non-empty responder payload."),
  f("l7_pkt_max_bwd", "int", "Largest responder payload."),
  f("pkt_asymmetry", "float", "(packets_fwd - packets_bwd) / total_packets."),
  f("byte_asymmetry", "float", "(bytes_fwd - bytes_bwd) / total_bytes."),
];

/**
 * The lengths' three series: logged for a flow's first 4096 packets, then counted (lengths are integers), so
 * that the medians, percentiles and mode are exact however long the flow, unless its lengths take more than
 * 2048 different values (then sampled, see `IntegerCounts`).
 */
const lengthSeries = new SeriesLog(4096, (log, n, all, fwd, bwd) => {
  for (let i = 0; i < n; i++) {
    const x = log[i];
    if (x >= 0) {
      all.add(x);
      fwd.add(x);
    } else {
      all.add(-1 - x);
      bwd.add(-1 - x);
    }
  }
}, () => new IntegerCounts());

/**
 * The `size` group.
 *
 * @example
 * ```ts
 * import { sizeExtractor } from "./size.ts";
 * console.log(sizeExtractor.name); // size
 * ```
 */
export const sizeExtractor: FeatureExtractor<SizeState> = {
  name: "size",
  features,
  init: (): SizeState => new SizeState(),
  update(s: SizeState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const len = p.wireLen, pay = p.payloadLen;
    lengthSeries.append(s, dir === 0 ? len : -1 - len);
    if (++s.n === 1) {
      s.x0 = len;
      s.px0 = pay;
    }
    s.sum += len;
    let d = len - s.x0;
    s.sq += d * d;
    if (len < s.min) s.min = len;
    if (len > s.max) s.max = len;
    if (s.allSample !== null) s.allSample.add(len);
    s.psum += pay;
    d = pay - s.px0;
    s.psq += d * d;
    if (pay < s.pmin) s.pmin = pay;
    if (pay > s.pmax) s.pmax = pay;
    if (dir === 0) {
      if (++s.fn === 1) {
        s.fx0 = len;
        s.pfx0 = pay;
      }
      s.fsum += len;
      d = len - s.fx0;
      s.fsq += d * d;
      if (len < s.fmin) s.fmin = len;
      if (len > s.fmax) s.fmax = len;
      if (s.fwdSample !== null) s.fwdSample.add(len);
      s.pfsum += pay;
      d = pay - s.pfx0;
      s.pfsq += d * d;
      if (pay > 0) {
        s.withPayload0++;
        if (pay < s.l7Min0) s.l7Min0 = pay;
        if (pay > s.l7Max0) s.l7Max0 = pay;
      }
    } else {
      if (++s.bn === 1) {
        s.bx0 = len;
        s.pbx0 = pay;
      }
      s.bsum += len;
      d = len - s.bx0;
      s.bsq += d * d;
      if (len < s.bmin) s.bmin = len;
      if (len > s.bmax) s.bmax = len;
      if (s.bwdSample !== null) s.bwdSample.add(len);
      s.pbsum += pay;
      d = pay - s.pbx0;
      s.pbsq += d * d;
      if (pay > 0) {
        s.withPayload1++;
        if (pay < s.l7Min1) s.l7Min1 = pay;
        if (pay > s.l7Max1) s.l7Max1 = pay;
      }
    }
  },
  finish(s: SizeState, flow: FlowState, out): void {
    const n = s.n, fn = s.fn, bn = s.bn;
    const { all, fwd, bwd } = lengthSeries.finish(s);
    // The mode sorts the sample once; the quantiles below then read it without further work.
    const mode = all.mode();
    out.pkt_len_min = n > 0 ? s.min : null;
    out.pkt_len_max = n > 0 ? s.max : null;
    const variance = integerVariance(n, s.x0, s.sum, s.sq);
    out.pkt_len_mean = n > 0 ? s.sum / n : null;
    out.pkt_len_std = std(variance);
    out.pkt_len_median = all.quantile(0.5);
    out.pkt_len_p25 = all.quantile(0.25);
    out.pkt_len_p75 = all.quantile(0.75);
    out.pkt_len_p90 = all.quantile(0.9);
    out.pkt_len_fwd_min = fn > 0 ? s.fmin : null;
    out.pkt_len_fwd_max = fn > 0 ? s.fmax : null;
    out.pkt_len_fwd_mean = fn > 0 ? s.fsum / fn : null;
    out.pkt_len_fwd_std = std(integerVariance(fn, s.fx0, s.fsum, s.fsq));
    out.pkt_len_fwd_median = fwd.quantile(0.5);
    out.pkt_len_bwd_min = bn > 0 ? s.bmin : null;
    out.pkt_len_bwd_max = bn > 0 ? s.bmax : null;
    out.pkt_len_bwd_mean = bn > 0 ? s.bsum / bn : null;
    out.pkt_len_bwd_std = std(integerVariance(bn, s.bx0, s.bsum, s.bsq));
    out.pkt_len_bwd_median = bwd.quantile(0.5);
    out.payload_len_min = n > 0 ? s.pmin : null;
    out.payload_len_max = n > 0 ? s.pmax : null;
    out.payload_len_mean = n > 0 ? s.psum / n : null;
    out.payload_len_std = std(integerVariance(n, s.px0, s.psum, s.psq));
    out.payload_len_fwd_mean = fn > 0 ? s.pfsum / fn : null;
    out.payload_len_fwd_std = std(integerVariance(fn, s.pfx0, s.pfsum, s.pfsq));
    out.payload_len_bwd_mean = bn > 0 ? s.pbsum / bn : null;
    out.payload_len_bwd_std = std(integerVariance(bn, s.pbx0, s.pbsum, s.pbsq));
    const wp = s.withPayload0 + s.withPayload1;
    out.packets_with_payload = wp;
    out.packets_with_payload_fwd = s.withPayload0;
    out.packets_with_payload_bwd = s.withPayload1;
    out.header_only_ratio = ratio(n - wp, n);
    out.pkt_len_variance = variance;
    out.dominant_pkt_size = mode ? mode.value : null;
    out.dominant_pkt_ratio = mode ? mode.ratio : null;
    out.l7_bytes_fwd = flow.payloadBytes0;
    out.l7_bytes_bwd = flow.payloadBytes1;
    out.l7_bytes_total = flow.payloadBytes0 + flow.payloadBytes1;
    out.l7_pkt_min_fwd = s.withPayload0 > 0 ? s.l7Min0 : null;
    out.l7_pkt_max_fwd = flow.packets0 > 0 ? s.l7Max0 : null;
    out.l7_pkt_min_bwd = s.withPayload1 > 0 ? s.l7Min1 : null;
    out.l7_pkt_max_bwd = flow.packets1 > 0 ? s.l7Max1 : null;
    const pf = flow.packets0, pb = flow.packets1, bf = flow.bytes0, bb = flow.bytes1;
    out.pkt_asymmetry = ratio(pf - pb, pf + pb);
    out.byte_asymmetry = ratio(bf - bb, bf + bb);
    lengthSeries.release(s);
  },
};
