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
  /** The side's first SYN was seen; its window scale shift (-1 absent), the reported one. */
  synSeen = false;
  ws = -1;
  /**
   * The current connection's (a new SYN on the same ports starts another, whose options scale its windows): the
   * side's SYN (its sequence number, -1 before), window scale shift and whether the snapshot length cut the
   * SYN's options before it, and the largest
   * window in SYNs and outside them.
   */
  synSeq = -1;
  curWs = -1;
  curWsCut = false;
  maxData = -1;
  synMax = -1;
  /** The largest window in bytes of the connections before the current one (-1: none). */
  best = -1;
}

/** Per-flow state of `tcp_window`. */
export class TcpWindowState {
  fwd: TcpWindowDirection = new TcpWindowDirection();
  bwd: TcpWindowDirection = new TcpWindowDirection();
  /** A connection's scaling was unknown (a SYN's options cut before its window scale). */
  unknown = false;
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
    "Window scale shift in the initiator's first SYN, or its SYN-ACK when the capture began after the SYN " +
      "(null when absent).",
  ),
  f(
    "tcp_win_scale_bwd",
    "int",
    "Window scale shift in the responder's first SYN-ACK (or SYN; null when absent).",
  ),
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
      "else the field, each connection on the ports (a new SYN) by its own SYNs; null when a snapshot length " +
      "cut a SYN's options before its window scale.",
  ),
  f("tcp_scaled_win_bwd_max", "int", "Largest responder window in bytes, scaled the same way."),
  f("tcp_zero_win_ratio", "float", "Zero-window packets / TCP packets, both directions."),
];

/**
 * Largest window of a direction in the current connection, in bytes: SYN windows as sent, others shifted when
 * scaling is in effect.
 */
function scaledMax(d: TcpWindowDirection, scaled: boolean): number {
  if (!scaled || d.maxData < 0) return Math.max(d.synMax, d.maxData);
  // A shift past 14 is taken as 14 (RFC 7323 section 2.3), as the column reports the shift as sent.
  return Math.max(d.synMax, d.maxData * 2 ** Math.min(d.curWs, 14));
}

/**
 * Ends the current connection: its largest windows in bytes join the flow's, and both sides start the next one
 * with no SYN seen (a port pair reused: the options its SYNs carry apply to its windows alone).
 */
function endConnection(s: TcpWindowState): void {
  const f = s.fwd, b = s.bwd;
  const scaled = f.curWs >= 0 && b.curWs >= 0;
  // Whether scaling applies is unknown when a SYN's window scale was cut (its window field is not the size).
  if (!scaled && ((f.curWs < 0 && f.curWsCut) || (b.curWs < 0 && b.curWsCut))) s.unknown = true;
  for (const d of [f, b]) {
    d.best = Math.max(d.best, scaledMax(d, scaled));
    d.synSeq = -1;
    d.curWs = -1;
    d.curWsCut = false;
    d.maxData = -1;
    d.synMax = -1;
  }
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
      // A SYN without ACK with a sequence number of its own, after the flow's first connection began: the port
      // pair is reused by a new connection (as tcp_sequence takes it).
      if (
        (fl & TCP.ACK) === 0 && d.synSeq !== p.tcpSeq &&
        (d.synSeq >= 0 || s.fwd.maxData >= 0 || s.bwd.maxData >= 0)
      ) endConnection(s);
      if (d.synSeq < 0) {
        d.synSeq = p.tcpSeq;
        const o = p.tcpHdrLen > 20 ? readTcpOptions(p) : null;
        if (o !== null && o.ws >= 0) d.curWs = o.ws;
        else if (o !== null && (o.wsSeen || o.cut)) d.curWsCut = true;
        // The reported shift is the side's first SYN's.
        if (!d.synSeen) {
          d.synSeen = true;
          d.ws = d.curWs;
        }
      }
      if (w > d.synMax) d.synMax = w;
    } else if (w > d.maxData) d.maxData = w;
  },
  finish(s: TcpWindowState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const f = s.fwd, b = s.bwd;
    endConnection(s);
    const unknown = s.unknown;
    const nf = f.n, nb = b.n;
    if (nf > 0) {
      out.tcp_init_win_fwd = f.first;
      out.tcp_win_fwd_min = f.min;
      out.tcp_win_fwd_max = f.max;
      out.tcp_win_fwd_mean = f.sum / nf;
      out.tcp_scaled_win_fwd_max = unknown ? null : f.best;
    }
    if (nb > 0) {
      out.tcp_init_win_bwd = b.first;
      out.tcp_win_bwd_min = b.min;
      out.tcp_win_bwd_max = b.max;
      out.tcp_win_bwd_mean = b.sum / nb;
      out.tcp_scaled_win_bwd_max = unknown ? null : b.best;
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
