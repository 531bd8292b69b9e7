/**
 * `tcp_sequence`: sequence and acknowledgement analysis per direction, following Wireshark's TCP analysis
 * (`tcp.analysis.*`) so that counts can be checked against tshark:
 *
 * - retransmission (`tcp.analysis.retransmission`, fast and spurious ones included): a segment with data, SYN or
 *   FIN that starts below the highest sequence number sent so far, and is neither a keep-alive nor out of order;
 * - out of order (`tcp.analysis.out_of_order`): such a segment arriving within the handshake RTT (3 ms when
 *   unknown) of the highest one and not ending where it does;
 * - gap (`tcp.analysis.lost_segment`): a segment starting above the next expected sequence number (a segment was
 *   not captured);
 * - duplicate ACK (`tcp.analysis.duplicate_ack`): an empty segment with the same ACK, window and sequence number
 *   as the direction's previous one (no SYN, FIN, RST; non-zero window).
 *
 * Sequence numbers compare modulo 2^32. For flows that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";

/** Per-flow state of `tcp_sequence`; arrays are indexed by direction. */
export class TcpSequenceState {
  isn: number[] = [0, 0];
  seen: boolean[] = [false, false];
  nextseq: number[] = [0, 0];
  nextseqTime: number[] = [0, 0];
  window: number[] = [-1, -1];
  lastack: number[] = [-1, -1];
  lastackTime: number[] = [0, 0];
  dupacknum: number[] = [0, 0];
  keepAlive: boolean[] = [false, false];
  bytes: number[] = [0, 0];
  retrans: number[] = [0, 0];
  gaps: number[] = [0, 0];
  ooo: number[] = [0, 0];
  acks: number[] = [0, 0];
  dupAcks: number[] = [0, 0];
  packets = 0;
  /** Handshake: time of the last SYN, whether the SYN-ACK was seen, and the initial RTT (-1 unknown). */
  synTime = -1;
  synAckSeen = false;
  irtt = -1;
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("tcp_isn_fwd", "int", "The initiator's first sequence number (its ISN when the SYN was captured)."),
  f("tcp_isn_bwd", "int", "The responder's first sequence number."),
  f("tcp_seq_fwd_bytes_sent", "int", "Payload bytes the initiator sent, retransmitted segments excluded."),
  f("tcp_seq_fwd_retrans", "int", "The initiator's retransmissions (as tcp.analysis.retransmission)."),
  f("tcp_seq_fwd_gaps", "int", "Sequence gaps in the initiator's data (as tcp.analysis.lost_segment)."),
  f("tcp_seq_fwd_ooo", "int", "The initiator's out-of-order segments (as tcp.analysis.out_of_order)."),
  f("tcp_seq_bwd_bytes_sent", "int", "Payload bytes the responder sent, retransmitted segments excluded."),
  f("tcp_seq_bwd_retrans", "int", "The responder's retransmissions."),
  f("tcp_seq_bwd_gaps", "int", "Sequence gaps in the responder's data."),
  f("tcp_seq_bwd_ooo", "int", "The responder's out-of-order segments."),
  f("tcp_ack_fwd_count", "int", "The initiator's packets with the ACK flag."),
  f("tcp_ack_fwd_dup", "int", "The initiator's duplicate ACKs (as tcp.analysis.duplicate_ack)."),
  f("tcp_ack_bwd_count", "int", "The responder's packets with the ACK flag."),
  f("tcp_ack_bwd_dup", "int", "The responder's duplicate ACKs."),
  f("tcp_total_retrans", "int", "Retransmissions in both directions."),
  f("tcp_total_ooo", "int", "Out-of-order segments in both directions."),
  f("tcp_total_dup_acks", "int", "Duplicate ACKs in both directions."),
  f("tcp_retrans_ratio", "float", "tcp_total_retrans / TCP packets."),
];

/** a < b modulo 2^32. */
const lt = (a: number, b: number): boolean => ((a - b) | 0) < 0;
/** a > b modulo 2^32. */
const gt = (a: number, b: number): boolean => ((a - b) | 0) > 0;

/**
 * The `tcp_sequence` group.
 *
 * @example
 * ```ts
 * import { tcpSequenceExtractor } from "./tcp_sequence.ts";
 * console.log(tcpSequenceExtractor.features.length); // 18
 * ```
 */
export const tcpSequenceExtractor: FeatureExtractor<TcpSequenceState | null> = {
  name: "tcp_sequence",
  features,
  init: (flow: FlowState): TcpSequenceState | null => flow.protocol === 6 ? new TcpSequenceState() : null,
  update(s: TcpSequenceState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen === 0) return;
    s.packets++;
    const rev = 1 - dir;
    const seq = p.tcpSeq, ack = p.tcpAck, win = p.tcpWindow, fl = p.tcpFlags, len = p.payloadLen, ts = p.ts;
    const synFin = (fl & (TCP.SYN | TCP.FIN)) !== 0;
    const ctl = (fl & (TCP.SYN | TCP.FIN | TCP.RST)) !== 0;
    if (fl & TCP.ACK) s.acks[dir]++;
    // Handshake RTT, as Wireshark's iRTT: the last SYN to the initiator's ACK of the SYN-ACK (the
    // out-of-order threshold).
    if (fl & TCP.SYN) {
      if (!(fl & TCP.ACK)) {
        if (s.irtt < 0) s.synTime = ts;
      } else if (dir === 1) s.synAckSeen = true;
    } else if (dir === 0 && (fl & TCP.ACK) && s.synAckSeen && s.synTime >= 0 && s.irtt < 0) {
      s.irtt = ts - s.synTime;
    }
    if (!s.seen[dir]) {
      s.seen[dir] = true;
      s.isn[dir] = seq;
      s.nextseq[dir] = (seq + len + (synFin ? 1 : 0)) >>> 0;
      s.nextseqTime[dir] = ts;
      s.bytes[dir] += len;
      s.window[dir] = win;
      s.lastack[dir] = ack;
      s.lastackTime[dir] = ts;
      s.dupacknum[dir] = 0;
      s.keepAlive[dir] = false;
      return;
    }
    const next = s.nextseq[dir];
    let zeroWindowProbe = false, keepAlive = false, dupAck = false, retrans = false;
    if (len === 1 && seq === next && s.window[rev] === 0) zeroWindowProbe = true;
    else {
      if (gt(seq, next) && !(fl & TCP.RST)) s.gaps[dir]++;
      if (len <= 1 && !ctl && ((next - 1) >>> 0) === seq) keepAlive = true;
      else if (
        len === 0 && win !== 0 && win === s.window[dir] && seq === next && ack === s.lastack[dir] && !ctl &&
        !s.keepAlive[rev]
      ) {
        dupAck = true;
        s.dupacknum[dir]++;
        s.dupAcks[dir]++;
      }
    }
    if (!dupAck) s.dupacknum[dir] = 0;
    if (!zeroWindowProbe && !keepAlive && (len > 0 || synFin) && lt(seq, next)) {
      const sinceDupAck = ts - s.lastackTime[rev];
      const sinceNext = ts - s.nextseqTime[dir];
      const oooThreshold = s.irtt > 0 ? s.irtt : 0.003;
      if (s.dupacknum[rev] >= 2 && s.lastack[rev] === seq && sinceDupAck < 0.02) retrans = true;
      else if (sinceNext < oooThreshold && next !== ((seq + len + (synFin ? 1 : 0)) >>> 0)) s.ooo[dir]++;
      else retrans = true;
    }
    if (retrans) s.retrans[dir]++;
    else s.bytes[dir] += len;
    const end = (seq + len + (synFin ? 1 : 0)) >>> 0;
    if (gt(end, next) && !zeroWindowProbe) {
      s.nextseq[dir] = end;
      s.nextseqTime[dir] = ts;
    }
    s.keepAlive[dir] = keepAlive;
    s.window[dir] = win;
    s.lastack[dir] = ack;
    s.lastackTime[dir] = ts;
  },
  finish(s: TcpSequenceState | null, _flow: FlowState, out): void {
    if (s === null) return;
    out.tcp_isn_fwd = s.seen[0] ? s.isn[0] : null;
    out.tcp_isn_bwd = s.seen[1] ? s.isn[1] : null;
    out.tcp_seq_fwd_bytes_sent = s.bytes[0];
    out.tcp_seq_fwd_retrans = s.retrans[0];
    out.tcp_seq_fwd_gaps = s.gaps[0];
    out.tcp_seq_fwd_ooo = s.ooo[0];
    out.tcp_seq_bwd_bytes_sent = s.bytes[1];
    out.tcp_seq_bwd_retrans = s.retrans[1];
    out.tcp_seq_bwd_gaps = s.gaps[1];
    out.tcp_seq_bwd_ooo = s.ooo[1];
    out.tcp_ack_fwd_count = s.acks[0];
    out.tcp_ack_fwd_dup = s.dupAcks[0];
    out.tcp_ack_bwd_count = s.acks[1];
    out.tcp_ack_bwd_dup = s.dupAcks[1];
    const retrans = s.retrans[0] + s.retrans[1];
    out.tcp_total_retrans = retrans;
    out.tcp_total_ooo = s.ooo[0] + s.ooo[1];
    out.tcp_total_dup_acks = s.dupAcks[0] + s.dupAcks[1];
    out.tcp_retrans_ratio = s.packets > 0 ? retrans / s.packets : null;
  },
};
