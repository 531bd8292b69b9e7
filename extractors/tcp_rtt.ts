/**
 * `tcp_rtt`: round-trip times seen from the capture point, three ways:
 *
 * - handshake: from the initiator's SYN to its ACK of the SYN-ACK (a full round trip wherever the capture was
 *   taken);
 * - timestamps: from the first packet carrying a TSval to the first packet of the other side echoing it in TSecr;
 * - ACKs: from a data segment to the other side's ACK of exactly its last byte (Karn's rule: retransmitted
 *   segments give no sample).
 *
 * Samples of 0 (both packets stamped alike) and of 60 s or more are dropped. Each side's outstanding data
 * segments and TSvals are kept in send order, up to 256 of each per direction (so memory per flow is bounded, a
 * few kilobytes, also when the other direction is not captured and nothing is ever retired): an ACK retires the
 * segments it covers, an echo the TSvals up to the one it echoes. Past 256 outstanding, a new one is not kept
 * (it gives no sample), so that the samples stay spread over the flow: dropping the oldest instead kept only the
 * first segments and the quiet moments, and under load the RTT looked smaller than it was. For flows that are
 * not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { RunningStats } from "../lib/stats.ts";
import { readTcpOptions } from "./tcp_options.ts";

/** Outstanding data segments, and TSvals, kept per direction at most. */
const MAX_OUTSTANDING = 256;
const MAX_RTT = 60;

/**
 * Values in the order they were added, with their times: the oldest first from `head` on. Plain arrays grown
 * as needed (a flow with little in flight never holds more than a few).
 */
class Outstanding {
  values: number[] = [];
  times: number[] = [];
  head = 0;

  get size(): number {
    return this.values.length - this.head;
  }

  /** Adds a value unless MAX_OUTSTANDING are waiting. */
  add(v: number, t: number): void {
    if (this.values.length - this.head >= MAX_OUTSTANDING) return;
    this.values.push(v);
    this.times.push(t);
  }

  /** Retires the oldest. */
  shift(): void {
    if (++this.head === this.values.length) {
      this.values.length = 0;
      this.times.length = 0;
      this.head = 0;
    } else if (this.head >= MAX_OUTSTANDING && 2 * this.head >= this.values.length) {
      this.values.splice(0, this.head);
      this.times.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Signed difference of two 32-bit sequence numbers or TSvals (modulo 2^32). */
function diff(a: number, b: number): number {
  return (a - b) | 0;
}

/** What `tcp_rtt` keeps about one direction's packets, the lists created at the first packet that needs them. */
class TcpRttDirection {
  /** TSvals this side sent that await their echo, each newer than those before it, at their first packet. */
  ts: Outstanding | null = null;
  /** The newest TSval kept (-1 before any). */
  lastTsVal = -1;
  /** Last TSecr this side sent that matched a TSval (a repeat cannot match again: the first echo consumed it). */
  lastEcr = -1;
  /** This side's new data segments awaiting their ACK: the sequence number after each, and its time (NaN once
   * retransmitted: Karn's rule). Their ends grow, so an ACK retires them from the oldest. */
  seg: Outstanding | null = null;
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
  f(
    "tcp_rtt_min",
    "float",
    "Smallest timestamp-echo RTT sample, seconds: from the first packet carrying a TSval (one newer than the " +
      "side sent before) to the first packet of the other side echoing it; an echo also retires the older " +
      "TSvals still waiting, and up to 256 wait per side (a newer one past them is not kept). A sample of 0 " +
      "(the echo stamped with the packet it echoes) or of 60 s or more is left out.",
  ),
  f("tcp_rtt_max", "float", "Largest timestamp-echo RTT sample."),
  f("tcp_rtt_mean", "float", "Mean timestamp-echo RTT sample."),
  f("tcp_rtt_samples", "int", "Timestamp-echo RTT samples (both directions)."),
  f("tcp_rtt_std", "float", "Population standard deviation of the timestamp-echo samples."),
  f("tcp_rtt_jitter_avg", "float", "Mean absolute difference between consecutive timestamp-echo samples."),
  f(
    "tcp_rtt_ack_min",
    "float",
    "Smallest data-to-ACK RTT sample, seconds: from a new data segment to the other side's first ACK of " +
      "exactly its last byte (its FIN, when it carries one), not for a retransmitted one (Karn's rule); up to " +
      "256 segments await their ACK per side. A sample of 0 or of 60 s or more is left out, as tshark's ack_rtt " +
      "has no 0.",
  ),
  f("tcp_rtt_ack_max", "float", "Largest data-to-ACK RTT sample."),
  f("tcp_rtt_ack_mean", "float", "Mean data-to-ACK RTT sample."),
];

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
  const vals = other.ts;
  if (tsEcr !== 0 && tsEcr !== me.lastEcr && vals !== null) {
    // The echo is of the newest TSval received in order (RFC 7323): those older than it will not be echoed
    // (but by a reordered packet), and retire with it.
    while (vals.size > 0 && diff(vals.values[vals.head], tsEcr) < 0) vals.shift();
    if (vals.size > 0 && vals.values[vals.head] === tsEcr) {
      me.lastEcr = tsEcr; // only a found echo: one sent before its TSval was seen must not hide the real one
      const rtt = (t - vals.times[vals.head]) / 1e9;
      if (rtt > 0 && rtt < MAX_RTT) tsSample(s, rtt);
      vals.shift(); // the first echo only
    }
  }
  // Only a TSval newer than every one kept: one that reordering or a retransmission brings back is timed from
  // the packet that first carried it (or was echoed already).
  if (me.lastTsVal < 0 || diff(tsVal, me.lastTsVal) > 0) {
    me.lastTsVal = tsVal;
    (me.ts ??= new Outstanding()).add(tsVal, t);
  }
}

/** A data segment of `me` ending before sequence number `end`. One that ends past everything this side sent is
 * new and is kept; any other is a retransmission (whole or re-cut): it spoils the sample of the segment with its
 * end, if one awaits its ACK, and is never timed itself (Karn's rule). Ends compare modulo 2^32. */
function segment(me: TcpRttDirection, end: number, t: number): void {
  if (me.sentMax >= 0 && diff(end, me.sentMax) <= 0) {
    const e = me.seg;
    if (e === null) return;
    for (let i = e.head; i < e.values.length; i++) {
      const d = diff(e.values[i], end);
      if (d === 0) e.times[i] = NaN;
      if (d >= 0) return;
    }
    return;
  }
  me.sentMax = end;
  (me.seg ??= new Outstanding()).add(end, t);
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
    const fl = p.tcpFlags, t = p.tsNs;
    const me = dir === 0 ? s.fwd : s.bwd, other = dir === 0 ? s.bwd : s.fwd;
    if (fl & TCP.SYN) {
      if (!(fl & TCP.ACK)) {
        // x !== x: NaN, not yet seen.
        if (dir === 0 && s.synTime !== s.synTime) s.synTime = t;
      } else if (dir === 1 && s.synAckTime !== s.synAckTime && s.synTime === s.synTime) s.synAckTime = t;
    } else if (dir === 0 && (fl & TCP.ACK) && s.synAckTime === s.synAckTime && !(s.handshake >= 0)) {
      s.handshake = (t - s.synTime) / 1e9;
    }
    // Timestamp echoes.
    if (p.tcpHdrLen > 20) {
      const o = readTcpOptions(p);
      if (o.tsVal >= 0) timestamps(s, me, other, o.tsVal, o.tsEcr, t);
    }
    // Data-to-ACK: the ACK retires the segments it covers, from the oldest; the one it ends at gives a sample.
    const segs = other.seg;
    if ((fl & TCP.ACK) && segs !== null && segs.size > 0 && p.tcpAck !== me.lastAck) {
      const ack = p.tcpAck;
      me.lastAck = ack;
      while (segs.size > 0) {
        const d = diff(segs.values[segs.head], ack);
        if (d > 0) break;
        if (d === 0) {
          const sent = segs.times[segs.head];
          if (sent === sent) {
            const rtt = (t - sent) / 1e9;
            if (rtt > 0 && rtt < MAX_RTT) s.ack.add(rtt);
          }
        }
        segs.shift();
      }
    }
    const len = p.payloadLen;
    // A SYN takes the first sequence number: a Fast Open SYN's data ends one past its length. A FIN takes the
    // one after the data: the ACK of a segment with data and FIN is one past its last byte (as tshark's
    // ack_rtt and tcptrace time it; without the FIN, no ACK matched it and it gave no sample).
    if (len > 0) {
      const fl = p.tcpFlags;
      segment(me, (p.tcpSeq + len + (fl & TCP.SYN ? 1 : 0) + (fl & TCP.FIN ? 1 : 0)) >>> 0, t);
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
