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
import { BoundedSample, ratio, RunningStats } from "../lib/stats.ts";

/** Per-flow state of `size`. */
export class SizeState {
  len: RunningStats = new RunningStats();
  lenFwd: RunningStats = new RunningStats();
  lenBwd: RunningStats = new RunningStats();
  lenSample: BoundedSample = new BoundedSample();
  fwdSample: BoundedSample = new BoundedSample();
  bwdSample: BoundedSample = new BoundedSample();
  pay: RunningStats = new RunningStats();
  payFwd: RunningStats = new RunningStats();
  payBwd: RunningStats = new RunningStats();
  withPayload: number[] = [0, 0];
  l7Min: number[] = [Infinity, Infinity];
  l7Max: number[] = [0, 0];
}

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
  f("dominant_pkt_size", "int", "Most common packet length (smallest among ties)."),
  f("dominant_pkt_ratio", "float", "Share of packets with the dominant length."),
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
    s.len.add(len);
    s.lenSample.add(len);
    s.pay.add(pay);
    if (dir === 0) {
      s.lenFwd.add(len);
      s.fwdSample.add(len);
      s.payFwd.add(pay);
    } else {
      s.lenBwd.add(len);
      s.bwdSample.add(len);
      s.payBwd.add(pay);
    }
    if (pay > 0) {
      s.withPayload[dir]++;
      if (pay < s.l7Min[dir]) s.l7Min[dir] = pay;
      if (pay > s.l7Max[dir]) s.l7Max[dir] = pay;
    }
  },
  finish(s: SizeState, flow: FlowState, out): void {
    const l = s.len, lf = s.lenFwd, lb = s.lenBwd;
    // The mode sorts the sample once; the quantiles below then read it without further work.
    const mode = s.lenSample.mode();
    out.pkt_len_min = l.minOrNull;
    out.pkt_len_max = l.maxOrNull;
    out.pkt_len_mean = l.meanOrNull;
    out.pkt_len_std = l.std;
    out.pkt_len_median = s.lenSample.quantile(0.5);
    out.pkt_len_p25 = s.lenSample.quantile(0.25);
    out.pkt_len_p75 = s.lenSample.quantile(0.75);
    out.pkt_len_p90 = s.lenSample.quantile(0.9);
    out.pkt_len_fwd_min = lf.minOrNull;
    out.pkt_len_fwd_max = lf.maxOrNull;
    out.pkt_len_fwd_mean = lf.meanOrNull;
    out.pkt_len_fwd_std = lf.std;
    out.pkt_len_fwd_median = s.fwdSample.quantile(0.5);
    out.pkt_len_bwd_min = lb.minOrNull;
    out.pkt_len_bwd_max = lb.maxOrNull;
    out.pkt_len_bwd_mean = lb.meanOrNull;
    out.pkt_len_bwd_std = lb.std;
    out.pkt_len_bwd_median = s.bwdSample.quantile(0.5);
    out.payload_len_min = s.pay.minOrNull;
    out.payload_len_max = s.pay.maxOrNull;
    out.payload_len_mean = s.pay.meanOrNull;
    out.payload_len_std = s.pay.std;
    out.payload_len_fwd_mean = s.payFwd.meanOrNull;
    out.payload_len_fwd_std = s.payFwd.std;
    out.payload_len_bwd_mean = s.payBwd.meanOrNull;
    out.payload_len_bwd_std = s.payBwd.std;
    const wp = s.withPayload[0] + s.withPayload[1];
    out.packets_with_payload = wp;
    out.packets_with_payload_fwd = s.withPayload[0];
    out.packets_with_payload_bwd = s.withPayload[1];
    out.header_only_ratio = ratio(l.n - wp, l.n);
    out.pkt_len_variance = l.variance;
    out.dominant_pkt_size = mode ? mode.value : null;
    out.dominant_pkt_ratio = mode ? mode.ratio : null;
    out.l7_bytes_fwd = flow.payloadBytes[0];
    out.l7_bytes_bwd = flow.payloadBytes[1];
    out.l7_bytes_total = flow.payloadBytes[0] + flow.payloadBytes[1];
    out.l7_pkt_min_fwd = s.withPayload[0] > 0 ? s.l7Min[0] : null;
    out.l7_pkt_max_fwd = flow.packets[0] > 0 ? s.l7Max[0] : null;
    out.l7_pkt_min_bwd = s.withPayload[1] > 0 ? s.l7Min[1] : null;
    out.l7_pkt_max_bwd = flow.packets[1] > 0 ? s.l7Max[1] : null;
    const pf = flow.packets[0], pb = flow.packets[1], bf = flow.bytes[0], bb = flow.bytes[1];
    out.pkt_asymmetry = ratio(pf - pb, pf + pb);
    out.byte_asymmetry = ratio(bf - bb, bf + bb);
  },
};
