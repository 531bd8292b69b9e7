/**
 * `tcp_window`: advertised receive windows per direction: the first one, the window scale from the handshake,
 * statistics of the raw 16-bit field, zero windows, how often the window grew or shrank, and the largest window
 * in bytes once scaling applies. For flows that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { readTcpOptions } from "./tcp_options.ts";

/** Per-flow state of `tcp_window`; arrays are indexed by direction. */
export class TcpWindowState {
  n: number[] = [0, 0];
  first: number[] = [0, 0];
  min: number[] = [65536, 65536];
  max: number[] = [-1, -1];
  sum: number[] = [0, 0];
  zero: number[] = [0, 0];
  last: number[] = [-1, -1];
  up: number[] = [0, 0];
  down: number[] = [0, 0];
  /** Window scale shift from each side's SYN (-1 absent), and the largest window outside SYNs. */
  ws: number[] = [-1, -1];
  maxData: number[] = [-1, -1];
  synMax: number[] = [-1, -1];
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("tcp_init_win_fwd", "int", "Window field of the initiator's first packet (its SYN when captured)."),
  f("tcp_init_win_bwd", "int", "Window field of the responder's first packet."),
  f("tcp_win_scale_fwd", "int", "Window scale shift in the initiator's SYN (null when absent)."),
  f("tcp_win_scale_bwd", "int", "Window scale shift in the responder's SYN-ACK (null when absent)."),
  f("tcp_win_fwd_min", "int", "Smallest window field the initiator sent (unscaled)."),
  f("tcp_win_fwd_max", "int", "Largest window field the initiator sent (unscaled)."),
  f("tcp_win_fwd_mean", "float", "Mean window field the initiator sent (unscaled)."),
  f("tcp_win_fwd_zero_count", "int", "The initiator's packets advertising a zero window (RST excluded)."),
  f("tcp_win_bwd_min", "int", "Smallest window field the responder sent (unscaled)."),
  f("tcp_win_bwd_max", "int", "Largest window field the responder sent (unscaled)."),
  f("tcp_win_bwd_mean", "float", "Mean window field the responder sent (unscaled)."),
  f("tcp_win_bwd_zero_count", "int", "The responder's packets advertising a zero window (RST excluded)."),
  f("tcp_win_fwd_up_count", "int", "Times the initiator's window field grew from its previous packet's."),
  f("tcp_win_fwd_down_count", "int", "Times the initiator's window field shrank."),
  f("tcp_win_fwd_change_count", "int", "tcp_win_fwd_up_count + tcp_win_fwd_down_count."),
  f("tcp_win_bwd_up_count", "int", "Times the responder's window field grew."),
  f("tcp_win_bwd_down_count", "int", "Times the responder's window field shrank."),
  f("tcp_win_bwd_change_count", "int", "tcp_win_bwd_up_count + tcp_win_bwd_down_count."),
  f(
    "tcp_scaled_win_fwd_max",
    "int",
    "Largest initiator window in bytes: field << shift outside SYNs when both SYNs carried window scale, " +
      "else the field.",
  ),
  f("tcp_scaled_win_bwd_max", "int", "Largest responder window in bytes, scaled the same way."),
  f("tcp_zero_win_ratio", "float", "Zero-window packets / TCP packets, both directions."),
];

/** Largest window of direction `d` in bytes: SYN windows as sent, others shifted when scaling is in effect. */
function scaledMax(s: TcpWindowState, d: number, scaled: boolean): number {
  if (!scaled || s.maxData[d] < 0) return s.max[d];
  return Math.max(s.synMax[d], s.maxData[d] * 2 ** s.ws[d]);
}

/**
 * The `tcp_window` group.
 *
 * @example
 * ```ts
 * import { tcpWindowExtractor } from "./tcp_window.ts";
 * console.log(tcpWindowExtractor.features.length); // 21
 * ```
 */
export const tcpWindowExtractor: FeatureExtractor<TcpWindowState | null> = {
  name: "tcp_window",
  features,
  init: (flow: FlowState): TcpWindowState | null => flow.protocol === 6 ? new TcpWindowState() : null,
  update(s: TcpWindowState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen === 0) return;
    const w = p.tcpWindow, fl = p.tcpFlags;
    if (s.n[dir]++ === 0) s.first[dir] = w;
    if (w < s.min[dir]) s.min[dir] = w;
    if (w > s.max[dir]) s.max[dir] = w;
    s.sum[dir] += w;
    if (w === 0 && !(fl & TCP.RST)) s.zero[dir]++;
    const last = s.last[dir];
    if (last >= 0) {
      if (w > last) s.up[dir]++;
      else if (w < last) s.down[dir]++;
    }
    s.last[dir] = w;
    if (fl & TCP.SYN) {
      if (s.ws[dir] < 0 && p.tcpHdrLen > 20) {
        const o = readTcpOptions(p);
        if (o.ws >= 0) s.ws[dir] = Math.min(o.ws, 14);
      }
      if (w > s.synMax[dir]) s.synMax[dir] = w;
    } else if (w > s.maxData[dir]) s.maxData[dir] = w;
  },
  finish(s: TcpWindowState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const scaled = s.ws[0] >= 0 && s.ws[1] >= 0;
    const nf = s.n[0], nb = s.n[1];
    if (nf > 0) {
      out.tcp_init_win_fwd = s.first[0];
      out.tcp_win_fwd_min = s.min[0];
      out.tcp_win_fwd_max = s.max[0];
      out.tcp_win_fwd_mean = s.sum[0] / nf;
      out.tcp_scaled_win_fwd_max = scaledMax(s, 0, scaled);
    }
    if (nb > 0) {
      out.tcp_init_win_bwd = s.first[1];
      out.tcp_win_bwd_min = s.min[1];
      out.tcp_win_bwd_max = s.max[1];
      out.tcp_win_bwd_mean = s.sum[1] / nb;
      out.tcp_scaled_win_bwd_max = scaledMax(s, 1, scaled);
    }
    out.tcp_win_scale_fwd = s.ws[0] >= 0 ? s.ws[0] : null;
    out.tcp_win_scale_bwd = s.ws[1] >= 0 ? s.ws[1] : null;
    out.tcp_win_fwd_zero_count = s.zero[0];
    out.tcp_win_bwd_zero_count = s.zero[1];
    out.tcp_win_fwd_up_count = s.up[0];
    out.tcp_win_fwd_down_count = s.down[0];
    out.tcp_win_fwd_change_count = s.up[0] + s.down[0];
    out.tcp_win_bwd_up_count = s.up[1];
    out.tcp_win_bwd_down_count = s.down[1];
    out.tcp_win_bwd_change_count = s.up[1] + s.down[1];
    const n = nf + nb;
    out.tcp_zero_win_ratio = n > 0 ? (s.zero[0] + s.zero[1]) / n : null;
  },
};
