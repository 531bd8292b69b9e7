/**
 * `tcp_rtt`: round-trip times seen from the capture point, three ways:
 *
 * - handshake: from the initiator's SYN to its ACK of the SYN-ACK (a full round trip wherever the capture was
 *   taken);
 * - timestamps: from the first packet carrying a TSval to the first packet of the other side echoing it in TSecr;
 * - ACKs: from a data segment to the other side's ACK of exactly its last byte (Karn's rule: retransmitted
 *   segments give no sample).
 *
 * Samples of 60 s or more are dropped. Outstanding timestamps and segments are kept in small rings (16 per
 * direction), so memory per flow is bounded. For flows that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { RunningStats } from "../lib/stats.ts";
import { readTcpOptions } from "./tcp_options.ts";

const RING = 16;
const MAX_RTT = 60;

/** What `tcp_rtt` keeps about one direction's packets. Rings of RING entries, created at the first packet that
 * needs them. */
class TcpRttDirection {
  /** TSvals this side sent (slots 0 to RING - 1, -1 free) and when they were first seen (RING on); the next
   * slot; the last TSval seen. */
  ts: number[] | null = null;
  tsNext = 0;
  lastTsVal = -1;
  /** Last TSecr this side sent that matched a TSval (a repeat cannot match again: the first echo consumed it). */
  lastEcr = -1;
  /** This side's data segments awaiting their ACK: sequence number after the segment (slots 0 to RING - 1, -1
   * free), and time (RING on, NaN after a retransmission); the next slot; how many slots are in use. */
  seg: number[] | null = null;
  segNext = 0;
  pending = 0;
  /** The highest end this side ever sent (-1 before any): a segment ending at or below it is a retransmission. */
  sentMax = -1;
  /** Last ACK number this side sent. */
  lastAck = -1;
}

/** Per-flow state of `tcp_rtt`. */
export class TcpRttState {
  /** The initiator's first SYN and the responder's first SYN-ACK (NaN before: a time can be negative, before
   * 1970), and the handshake's RTT (NaN, or negative from packets stamped out of order, until known). */
  synTime = NaN;
  synAckTime = NaN;
  handshake = NaN;
  ts: RunningStats = new RunningStats();
  prevSample = -1;
  jitterSum = 0;
  ack: RunningStats = new RunningStats();
  fwd: TcpRttDirection = new TcpRttDirection();
  bwd: TcpRttDirection = new TcpRttDirection();
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "tcp_rtt_handshake",
    "float",
    "Seconds from the initiator's first SYN to its ACK of the SYN-ACK (null without both); a retransmitted " +
      "SYN counts from the first, so its timeout is included (tshark's initial RTT starts at the last).",
  ),
  f("tcp_rtt_min", "float", "Smallest timestamp-echo RTT sample, seconds."),
  f("tcp_rtt_max", "float", "Largest timestamp-echo RTT sample."),
  f("tcp_rtt_mean", "float", "Mean timestamp-echo RTT sample."),
  f("tcp_rtt_samples", "int", "Timestamp-echo RTT samples (both directions)."),
  f("tcp_rtt_std", "float", "Population standard deviation of the timestamp-echo samples."),
  f("tcp_rtt_jitter_avg", "float", "Mean absolute difference between consecutive timestamp-echo samples."),
  f("tcp_rtt_ack_min", "float", "Smallest data-to-ACK RTT sample, seconds."),
  f("tcp_rtt_ack_max", "float", "Largest data-to-ACK RTT sample."),
  f("tcp_rtt_ack_mean", "float", "Mean data-to-ACK RTT sample."),
];

/** A ring: RING free values (-1), then RING times. An array literal: `new Array(n).fill()` costs far more, and a
 * flow needs up to four rings. */
function newRing(): number[] {
  // deno-fmt-ignore
  return [
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  ];
}

function tsSample(s: TcpRttState, rtt: number): void {
  if (s.prevSample >= 0) s.jitterSum += Math.abs(rtt - s.prevSample);
  s.prevSample = rtt;
  s.ts.add(rtt);
}

/** A packet of `me` carrying timestamps: its echo of the other side's TSval gives a sample, its TSval is kept. */
function timestamps(
  s: TcpRttState,
  me: TcpRttDirection,
  other: TcpRttDirection,
  tsVal: number,
  tsEcr: number,
  t: number,
): void {
  let mine = me.ts;
  if (mine === null) mine = me.ts = newRing();
  if (tsEcr !== 0 && tsEcr !== me.lastEcr) {
    const vals = other.ts;
    if (vals !== null) {
      // Newest first: the echo is usually of the other side's latest TSval.
      for (let k = 0, i = other.tsNext; k < RING; k++) {
        i = i === 0 ? RING - 1 : i - 1;
        if (vals[i] === tsEcr) {
          me.lastEcr = tsEcr; // only a found echo: one sent before its TSval was seen must not hide the real one
          const rtt = t - vals[RING + i];
          if (rtt > 0 && rtt < MAX_RTT) tsSample(s, rtt);
          vals[i] = -1; // the first echo only
          break;
        }
      }
    }
  }
  // A TSval already waiting in the ring is not stored again: one that reordering or a retransmission brings
  // back is timed from the packet that first carried it.
  if (tsVal !== me.lastTsVal && !waiting(mine, tsVal)) {
    me.lastTsVal = tsVal;
    const i = me.tsNext;
    mine[i] = tsVal;
    mine[RING + i] = t;
    me.tsNext = i + 1 === RING ? 0 : i + 1;
  }
}

/** True when the TSval `v` is in the ring's value slots. */
function waiting(ring: number[], v: number): boolean {
  for (let i = 0; i < RING; i++) if (ring[i] === v) return true;
  return false;
}

/** A data segment of `me` ending before sequence number `end`. One that ends past everything this side sent is
 * new and takes the next slot; any other is a retransmission (whole or re-cut): it spoils the sample of the entry
 * with its end, if one awaits its ACK, and is never timed itself (Karn's rule). Ends compare modulo 2^32. */
function segment(me: TcpRttDirection, end: number, t: number): void {
  let e = me.seg;
  if (e === null) e = me.seg = newRing();
  if (me.sentMax >= 0 && ((end - me.sentMax) | 0) <= 0) {
    let left = me.pending;
    for (let i = 0; left > 0 && i < RING; i++) {
      const x = e[i];
      if (x < 0) continue;
      if (x === end) {
        e[RING + i] = NaN;
        return;
      }
      left--;
    }
    return;
  }
  me.sentMax = end;
  const i = me.segNext;
  if (e[i] < 0) me.pending++;
  e[i] = end;
  e[RING + i] = t;
  me.segNext = i + 1 === RING ? 0 : i + 1;
}

/**
 * The `tcp_rtt` group.
 *
 * @example
 * ```ts
 * import { tcpRttExtractor } from "./tcp_rtt.ts";
 * console.log(tcpRttExtractor.features[0].name); // tcp_rtt_handshake
 * ```
 */
export const tcpRttExtractor: FeatureExtractor<TcpRttState | null> = {
  name: "tcp_rtt",
  features,
  init: (flow: FlowState): TcpRttState | null => flow.protocol === 6 ? new TcpRttState() : null,
  update(s: TcpRttState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen === 0) return;
    const fl = p.tcpFlags, t = p.ts;
    const me = dir === 0 ? s.fwd : s.bwd, other = dir === 0 ? s.bwd : s.fwd;
    if (fl & TCP.SYN) {
      if (!(fl & TCP.ACK)) {
        // x !== x: NaN, not yet seen.
        if (dir === 0 && s.synTime !== s.synTime) s.synTime = t;
      } else if (dir === 1 && s.synAckTime !== s.synAckTime && s.synTime === s.synTime) s.synAckTime = t;
    } else if (dir === 0 && (fl & TCP.ACK) && s.synAckTime === s.synAckTime && !(s.handshake >= 0)) {
      s.handshake = t - s.synTime;
    }
    // Timestamp echoes.
    if (p.tcpHdrLen > 20) {
      const o = readTcpOptions(p);
      if (o.tsVal >= 0) timestamps(s, me, other, o.tsVal, o.tsEcr, t);
    }
    // Data-to-ACK.
    if ((fl & TCP.ACK) && other.pending > 0 && p.tcpAck !== me.lastAck) {
      const ack = p.tcpAck;
      me.lastAck = ack;
      const ends = other.seg!;
      // Only the slots in use matter: stop once all of them were seen.
      let left = other.pending;
      for (let i = 0; i < RING; i++) {
        const e = ends[i];
        if (e < 0) continue;
        if (e === ack) {
          const sent = ends[RING + i];
          if (sent === sent) {
            const rtt = t - sent;
            if (rtt > 0 && rtt < MAX_RTT) s.ack.add(rtt);
          }
          ends[i] = -1;
          other.pending--;
        } else if (((e - ack) | 0) < 0) {
          ends[i] = -1; // acknowledged by a later ACK
          other.pending--;
        }
        if (--left === 0) break;
      }
    }
    const len = p.payloadLen;
    if (len > 0) segment(me, (p.tcpSeq + len) >>> 0, t);
  },
  finish(s: TcpRttState | null, _flow: FlowState, out): void {
    if (s === null) return;
    out.tcp_rtt_handshake = s.handshake >= 0 ? s.handshake : null;
    const ts = s.ts, ack = s.ack;
    out.tcp_rtt_samples = ts.n;
    if (ts.n > 0) {
      out.tcp_rtt_min = ts.min;
      out.tcp_rtt_max = ts.max;
      out.tcp_rtt_mean = ts.mean;
      out.tcp_rtt_std = ts.std;
      out.tcp_rtt_jitter_avg = ts.n > 1 ? s.jitterSum / (ts.n - 1) : null;
    }
    if (ack.n > 0) {
      out.tcp_rtt_ack_min = ack.min;
      out.tcp_rtt_ack_max = ack.max;
      out.tcp_rtt_ack_mean = ack.mean;
    }
  },
};
