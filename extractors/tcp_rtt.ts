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

/** Per-flow state of `tcp_rtt`. Rings hold RING entries per direction (direction d at d * RING). */
export class TcpRttState {
  synTime = -1;
  synAckTime = -1;
  handshake = -1;
  ts: RunningStats = new RunningStats();
  prevSample = -1;
  jitterSum = 0;
  ack: RunningStats = new RunningStats();
  /** TSvals sent and when they were first seen. */
  tsVal: number[] | null = null;
  tsTime: number[] | null = null;
  tsNext: number[] = [0, 0];
  lastTsVal: number[] = [-1, -1];
  /** Last TSecr looked up per direction (a repeat cannot match again: the first echo consumed it). */
  lastEcr: number[] = [-1, -1];
  /** Data segments awaiting their ACK: sequence number after the segment, and time (-1 after a retransmission). */
  segEnd: number[] | null = null;
  segTime: number[] | null = null;
  segNext: number[] = [0, 0];
  /** Segments awaiting their ACK per direction, and the last ACK number seen per direction. */
  pending: number[] = [0, 0];
  lastAck: number[] = [-1, -1];
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
    "Seconds from the initiator's SYN to its ACK of the SYN-ACK (null without both).",
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

function tsSample(s: TcpRttState, rtt: number): void {
  if (s.prevSample >= 0) s.jitterSum += Math.abs(rtt - s.prevSample);
  s.prevSample = rtt;
  s.ts.add(rtt);
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
    const fl = p.tcpFlags, t = p.ts, rev = 1 - dir;
    if (fl & TCP.SYN) {
      if (!(fl & TCP.ACK)) {
        if (dir === 0 && s.synTime < 0) s.synTime = t;
      } else if (dir === 1 && s.synAckTime < 0 && s.synTime >= 0) s.synAckTime = t;
    } else if (dir === 0 && (fl & TCP.ACK) && s.synAckTime >= 0 && s.handshake < 0) {
      s.handshake = t - s.synTime;
    }
    // Timestamp echoes.
    if (p.tcpHdrLen > 20) {
      const o = readTcpOptions(p);
      if (o.tsVal >= 0) {
        let vals = s.tsVal, times = s.tsTime;
        if (vals === null || times === null) {
          vals = s.tsVal = new Array(2 * RING).fill(-1);
          times = s.tsTime = new Array(2 * RING).fill(0);
        }
        if (o.tsEcr !== 0 && o.tsEcr !== s.lastEcr[dir]) {
          s.lastEcr[dir] = o.tsEcr;
          // Newest first: the echo is usually of the other side's latest TSval.
          const base = rev * RING;
          for (let k = 0, i = base + s.tsNext[rev]; k < RING; k++) {
            i = i === base ? base + RING - 1 : i - 1;
            if (vals[i] === o.tsEcr) {
              const rtt = t - times[i];
              if (rtt > 0 && rtt < MAX_RTT) tsSample(s, rtt);
              vals[i] = -1; // the first echo only
              break;
            }
          }
        }
        if (o.tsVal !== s.lastTsVal[dir]) {
          s.lastTsVal[dir] = o.tsVal;
          const i = dir * RING + s.tsNext[dir];
          vals[i] = o.tsVal;
          times[i] = t;
          s.tsNext[dir] = (s.tsNext[dir] + 1) % RING;
        }
      }
    }
    // Data-to-ACK.
    const ends = s.segEnd, times = s.segTime;
    if (
      (fl & TCP.ACK) && ends !== null && times !== null && s.pending[rev] > 0 && p.tcpAck !== s.lastAck[dir]
    ) {
      const ack = p.tcpAck, base = rev * RING;
      s.lastAck[dir] = ack;
      for (let i = base; i < base + RING; i++) {
        const e = ends[i];
        if (e < 0) continue;
        if (e === ack) {
          if (times[i] >= 0) {
            const rtt = t - times[i];
            if (rtt > 0 && rtt < MAX_RTT) s.ack.add(rtt);
          }
          ends[i] = -1;
          s.pending[rev]--;
        } else if (((e - ack) | 0) < 0) {
          ends[i] = -1; // acknowledged by a later ACK
          s.pending[rev]--;
        }
      }
    }
    const len = p.payloadLen;
    if (len > 0) {
      let e = s.segEnd, tm = s.segTime;
      if (e === null || tm === null) {
        e = s.segEnd = new Array(2 * RING).fill(-1);
        tm = s.segTime = new Array(2 * RING).fill(0);
      }
      const end = (p.tcpSeq + len) >>> 0, base = dir * RING;
      let retransmitted = false;
      for (let i = base; i < base + RING; i++) {
        if (e[i] === end) {
          tm[i] = -1;
          retransmitted = true;
        }
      }
      if (!retransmitted) {
        const i = base + s.segNext[dir];
        if (e[i] < 0) s.pending[dir]++;
        e[i] = end;
        tm[i] = t;
        s.segNext[dir] = (s.segNext[dir] + 1) % RING;
      }
    }
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
