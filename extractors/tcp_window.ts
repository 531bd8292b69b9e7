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

/** What `tcp_window` keeps about one direction's window fields. */
class TcpWindowDirection {
  n = 0;
  first = 0;
  min = 65536;
  max = -1;
  sum = 0;
  zero = 0;
  last = -1;
  up = 0;
  down = 0;
  /** Window scale shift from the side's SYN (-1 absent), and the largest window in SYNs and outside them. */
  ws = -1;
  maxData = -1;
  synMax = -1;
  /** A SYN whose window scale could not be read: the snapshot length cut its options before it. */
  wsCut = false;
}

/** Per-flow state of `tcp_window`. */
export class TcpWindowState {
  fwd: TcpWindowDirection = new TcpWindowDirection();
  bwd: TcpWindowDirection = new TcpWindowDirection();
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("tcp_init_win_fwd", "int", "Window field of the initiator's first packet (its SYN when captured)."),
  f("tcp_init_win_bwd", "int", "Window field of the responder's first packet."),
  f(
    "tcp_win_scale_fwd",
    "int",
    "Window scale shift in the initiator's SYN, or its SYN-ACK when the capture began after the SYN (null " +
      "when absent).",
  ),
  f("tcp_win_scale_bwd", "int", "Window scale shift in the responder's SYN-ACK (or SYN; null when absent)."),
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
      "else the field; null when a snapshot length cut a SYN's options before its window scale.",
  ),
  f("tcp_scaled_win_bwd_max", "int", "Largest responder window in bytes, scaled the same way."),
  f("tcp_zero_win_ratio", "float", "Zero-window packets / TCP packets, both directions."),
];

/** Largest window of a direction in bytes: SYN windows as sent, others shifted when scaling is in effect. */
function scaledMax(d: TcpWindowDirection, scaled: boolean): number {
  if (!scaled || d.maxData < 0) return d.max;
  // A shift past 14 is taken as 14 (RFC 7323 section 2.3), as the column reports the shift as sent.
  return Math.max(d.synMax, d.maxData * 2 ** Math.min(d.ws, 14));
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
    const d = dir === 0 ? s.fwd : s.bwd;
    const w = p.tcpWindow, fl = p.tcpFlags;
    if (d.n++ === 0) d.first = w;
    if (w < d.min) d.min = w;
    if (w > d.max) d.max = w;
    d.sum += w;
    if (w === 0 && !(fl & TCP.RST)) d.zero++;
    const last = d.last;
    if (last >= 0) {
      if (w > last) d.up++;
      else if (w < last) d.down++;
    }
    d.last = w;
    if (fl & TCP.SYN) {
      if (d.ws < 0 && p.tcpHdrLen > 20) {
        const o = readTcpOptions(p);
        if (o.ws >= 0) d.ws = o.ws;
        else if (o.wsSeen || o.cut) d.wsCut = true;
      }
      if (w > d.synMax) d.synMax = w;
    } else if (w > d.maxData) d.maxData = w;
  },
  finish(s: TcpWindowState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const f = s.fwd, b = s.bwd;
    const scaled = f.ws >= 0 && b.ws >= 0;
    // Whether scaling applies is unknown when a SYN's window scale was cut (its window field is not the size).
    const unknown = !scaled && ((f.ws < 0 && f.wsCut) || (b.ws < 0 && b.wsCut));
    const nf = f.n, nb = b.n;
    if (nf > 0) {
      out.tcp_init_win_fwd = f.first;
      out.tcp_win_fwd_min = f.min;
      out.tcp_win_fwd_max = f.max;
      out.tcp_win_fwd_mean = f.sum / nf;
      out.tcp_scaled_win_fwd_max = unknown ? null : scaledMax(f, scaled);
    }
    if (nb > 0) {
      out.tcp_init_win_bwd = b.first;
      out.tcp_win_bwd_min = b.min;
      out.tcp_win_bwd_max = b.max;
      out.tcp_win_bwd_mean = b.sum / nb;
      out.tcp_scaled_win_bwd_max = unknown ? null : scaledMax(b, scaled);
    }
    out.tcp_win_scale_fwd = f.ws >= 0 ? f.ws : null;
    out.tcp_win_scale_bwd = b.ws >= 0 ? b.ws : null;
    out.tcp_win_fwd_zero_count = f.zero;
    out.tcp_win_bwd_zero_count = b.zero;
    out.tcp_win_fwd_up_count = f.up;
    out.tcp_win_fwd_down_count = f.down;
    out.tcp_win_fwd_change_count = f.up + f.down;
    out.tcp_win_bwd_up_count = b.up;
    out.tcp_win_bwd_down_count = b.down;
    out.tcp_win_bwd_change_count = b.up + b.down;
    const n = nf + nb;
    out.tcp_zero_win_ratio = n > 0 ? (f.zero + b.zero) / n : null;
  },
};
