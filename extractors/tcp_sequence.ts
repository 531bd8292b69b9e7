/**
 * `tcp_sequence`: sequence and acknowledgement analysis per direction, following Wireshark's TCP analysis
 * (`tcp.analysis.*`) so that counts can be checked against tshark:
 *
 * - retransmission (`tcp.analysis.retransmission`, fast and spurious ones included): a segment with data, SYN or
 *   FIN that starts below the highest sequence number sent so far (a segment of more than one byte starting one
 *   below it adds data) and is not a keep-alive or a zero-window probe; a spurious one (data that ends at or
 *   below the peer's last ACK) counts here before any other test, and a fast one (after two or more duplicate
 *   ACKs from the peer; a run ends when the peer's ACK number changes, not at a window update) even where it
 *   would also pass for out of order, as tshark 4.0 decides;
 * - out of order (`tcp.analysis.out_of_order`): such a segment arriving within the handshake RTT (from the last
 *   SYN of either side to the ACK that answers it; 3 ms when unknown) of the highest one and not ending where it
 *   does;
 * - gap (`tcp.analysis.lost_segment`): a segment other than a RST starting above the next expected sequence
 *   number (a segment was not captured);
 * - duplicate ACK (`tcp.analysis.duplicate_ack`): an empty segment (no SYN, FIN, RST; non-zero window) with the
 *   same ACK and window as the direction's previous one, whose sequence number is the direction's next expected
 *   one, and that does not answer a keep-alive. Unlike tshark 4.0, MPTCP connections are not excused.
 *
 * Sequence numbers compare modulo 2^32, as Wireshark's LT_SEQ and GT_SEQ (2^31 apart, a number is both below and
 * above another). A SYN without ACK whose sequence number is not its direction's first, or, before that
 * direction's first packet, not the one the peer acknowledged (ports reused by a new connection, which tshark
 * makes a new tcp.stream) starts the analysis again in both directions; the counts go on adding up. For flows
 * that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";

/** What `tcp_sequence` keeps about one direction's segments. */
class TcpSequenceDirection {
  /** The flow's first sequence number in this direction (the column). */
  isn = 0;
  /** Whether `isn` is set (it outlives a new connection on the same ports, which starts the rest again). */
  isnSet = false;
  /** The first sequence number of the current connection, as Wireshark's base_seq. */
  base = 0;
  seen = false;
  nextseq = 0;
  nextseqTime = 0;
  window = -1;
  lastack = -1;
  lastackTime = 0;
  dupacknum = 0;
  keepAlive = false;
  /** Unique payload bytes captured (see `countBytes`). */
  bytes = 0;
  /** Wireshark's base_seq taken from the peer's ACK (its number less one) before this direction's first
   * packet, or -1: a SYN with another sequence number opens a new connection on the same ports. */
  ackBase = -1;
  /**
   * One past the highest payload byte captured (a pure ACK's sequence number, captured before the data it
   * follows, does not move it), and the lowest sequence number seen: data before it (a capture that began
   * inside the connection, with a segment sent again or reordered) is new too. Both are unwrapped: counted on
   * from the first sequence number without the modulo (a connection of more than 2 GiB, or a segment 2^31 away,
   * compared below everything before), and `dataEndSeq` is `dataEnd` modulo 2^32, against which a segment's
   * sequence number is unwrapped.
   */
  dataEnd = 0;
  dataStart = 0;
  dataEndSeq = 0;
  /** The run of segments farther than a window from the bytes seen, each near the ones before it (unwrapped
   * like them; NaN when none since), and how many: damaged sequence numbers, unless JUMP_SEGMENTS of them. */
  farStart = NaN;
  farEnd = NaN;
  farCount = 0;
  /** Unwrapped ranges `[start, end)` passed over by a gap and not yet captured, oldest first (null without). */
  holes: number[] | null = null;
  retrans = 0;
  gaps = 0;
  ooo = 0;
  acks = 0;
  dupAcks = 0;
}

/** Per-flow state of `tcp_sequence`. */
export class TcpSequenceState {
  fwd: TcpSequenceDirection = new TcpSequenceDirection();
  bwd: TcpSequenceDirection = new TcpSequenceDirection();
  packets = 0;
  /** Handshake: time of the last SYN (NaN before: a time can be negative, before 1970), whether the SYN-ACK was
   * seen, and the initial RTT (NaN, or negative from packets stamped out of order, until known). */
  synTime = NaN;
  synAckSeen = false;
  irtt = NaN;
  /** The direction of the last SYN: the client's (the initiator's, unless the capture began with a segment of
   * the server's, as one of an earlier connection on the same ports). */
  synDir: 0 | 1 = 0;
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("tcp_isn_fwd", "int", "The initiator's first sequence number (its ISN when the SYN was captured)."),
  f("tcp_isn_bwd", "int", "The responder's first sequence number."),
  f(
    "tcp_seq_fwd_bytes_sent",
    "int",
    "Payload bytes the initiator sent that the capture holds, each once (tcptrace's unique bytes sent): " +
      "retransmissions and duplicates of captured bytes, keep-alives and zero-window probes not counted, and a " +
      "first copy counted when it comes late. Past 256 holes at once, bytes filling the oldest are not counted; " +
      "a segment farther than a window (2^30) from the bytes seen (a damaged sequence number) counts its own, " +
      "and after 8 such segments in a row (the capture jumped), the bytes are measured from there.",
  ),
  f("tcp_seq_fwd_retrans", "int", "The initiator's retransmissions (as tcp.analysis.retransmission)."),
  f(
    "tcp_seq_fwd_gaps",
    "int",
    "Sequence gaps in the initiator's data (as tcp.analysis.lost_segment; a segment cut into IP fragments " +
      "counts its first fragment's bytes, and the rest is a gap).",
  ),
  f("tcp_seq_fwd_ooo", "int", "The initiator's out-of-order segments (as tcp.analysis.out_of_order)."),
  f(
    "tcp_seq_bwd_bytes_sent",
    "int",
    "Payload bytes the responder sent that the capture holds, each once (as tcp_seq_fwd_bytes_sent).",
  ),
  f("tcp_seq_bwd_retrans", "int", "The responder's retransmissions."),
  f("tcp_seq_bwd_gaps", "int", "Sequence gaps in the responder's data."),
  f("tcp_seq_bwd_ooo", "int", "The responder's out-of-order segments."),
  f("tcp_ack_fwd_count", "int", "The initiator's packets with the ACK flag."),
  f(
    "tcp_ack_fwd_dup",
    "int",
    "The initiator's duplicate ACKs (as tcp.analysis.duplicate_ack, but on MPTCP connections too, which " +
      "tshark 4.0 excuses when MPTCP options changed).",
  ),
  f("tcp_ack_bwd_count", "int", "The responder's packets with the ACK flag."),
  f("tcp_ack_bwd_dup", "int", "The responder's duplicate ACKs."),
  f("tcp_total_retrans", "int", "Retransmissions in both directions."),
  f("tcp_total_ooo", "int", "Out-of-order segments in both directions."),
  f("tcp_total_dup_acks", "int", "Duplicate ACKs in both directions."),
  f("tcp_retrans_ratio", "float", "tcp_total_retrans / TCP packets."),
];

/** a < b modulo 2^32. */
const lt = (a: number, b: number): boolean => ((a - b) | 0) < 0;

/** a > b modulo 2^32, as Wireshark's GT_SEQ: at exactly 2^31 apart a is both below and above b (a segment whose
 * top bit was flipped on the way is then a gap, as tshark's lost_segment). */
const gt = (a: number, b: number): boolean => ((b - a) | 0) < 0;

/** The largest window TCP can offer (65,535 scaled by 2^14): no segment lies farther beyond the bytes seen. */
const MAX_WINDOW = 2 ** 30;

/** Segments in a row, each farther than a window from the bytes seen and near the ones before it, that are taken
 * for a jump of the capture rather than damaged sequence numbers. */
const JUMP_SEGMENTS = 8;

/** Holes remembered per direction; past them, the oldest is forgotten (its bytes, if they come, not counted). A
 * download through a lossy link holds 20 to 41 at once; the list grows only as holes open (4 KiB at most). */
const MAX_HOLES = 256;

/** Remembers `[s, e)` as a hole, forgetting the oldest past `MAX_HOLES`. */
function addHole(me: TcpSequenceDirection, s: number, e: number): void {
  const h = me.holes ??= [];
  if (h.length >= 2 * MAX_HOLES) h.splice(0, 2);
  h.push(s, e);
}

/** The sequence number of a segment's first payload byte (a SYN takes one of its own). */
const payloadStart = (seq: number, flags: number): number => (flags & TCP.SYN ? seq + 1 : seq) >>> 0;

/**
 * Counts the payload bytes `[ps, ps + len)` not captured before, as tcptrace's unique bytes: those past the
 * highest captured before (`dataEnd`), a gap before them remembered as a hole (a reset's jump is no gap), and
 * those that fill a remembered hole. A duplicate, a retransmission of captured bytes, or a first copy that comes late
 * (reordered, which tshark calls a retransmission) is then counted once. `seq` is unwrapped to the position
 * nearest the highest byte (within 2^31 below to 2^31 above it); a segment more than a window away from the
 * bytes seen counts its own bytes only, unless it is one of JUMP_SEGMENTS such segments in a row near each other:
 * then the capture jumped, and the bytes are measured from there.
 */
function countBytes(me: TcpSequenceDirection, seq: number, len: number, flags: number): void {
  const next = me.dataEnd, first = me.dataStart;
  const ps = next + ((seq - me.dataEndSeq) | 0), pe = ps + len;
  if (ps > next + MAX_WINDOW || pe < first - MAX_WINDOW) {
    // Farther from every byte seen than any window reaches: a sequence number damaged on the way (it moved the
    // highest byte 2^31 on, and every later segment was then counted again), or the capture jumped. Its bytes
    // are new. Only a run of JUMP_SEGMENTS such segments, each near the ones before it, is taken for a jump (the
    // files of a rotation left out, a long stop), and the bytes are measured from there on (or every
    // retransmission after it was counted again); a damaged one or two are left alone.
    const fs = me.farStart;
    if (fs === fs && ps <= me.farEnd + MAX_WINDOW && pe >= fs - MAX_WINDOW) {
      me.farStart = Math.min(fs, ps);
      me.farEnd = Math.max(me.farEnd, pe);
      me.farCount++;
    } else {
      me.farStart = ps;
      me.farEnd = pe;
      me.farCount = 1;
    }
    me.bytes += len;
    if (me.farCount < JUMP_SEGMENTS) return;
    me.dataStart = me.farStart;
    me.dataEnd = me.farEnd;
    me.dataEndSeq = me.farEnd % 4294967296;
    me.holes = null;
    me.farStart = NaN;
    return;
  }
  me.farStart = NaN;
  if (ps < first && (flags & TCP.RST) === 0) {
    // Before everything seen so far: new, and what lies between it and that, a hole.
    me.bytes += Math.min(pe, first) - ps;
    me.dataStart = ps;
    if (pe < first) addHole(me, pe, first);
  }
  if (pe > next) {
    me.dataEnd = pe;
    me.dataEndSeq = pe % 4294967296;
    me.bytes += pe - Math.max(ps, next);
    if (ps > next && (flags & TCP.RST) === 0) addHole(me, next, ps);
  }
  const h = me.holes;
  if (h === null || ps >= next) return;
  // The part behind `next` and from the lowest seen before: what of it falls in holes is new.
  const e = Math.min(pe, next);
  for (let i = 0; i < h.length;) {
    const hs = h[i], he = h[i + 1];
    const s = Math.max(ps, hs), t = Math.min(e, he);
    if (t <= s) {
      i += 2;
      continue;
    }
    me.bytes += t - s;
    // What is left of the hole: before the bytes, after them, both or neither.
    const before = s > hs, after = t < he;
    if (before && after) {
      h.splice(i, 2, hs, s, t, he);
      i += 4;
    } else if (before) {
      h[i + 1] = s;
      i += 2;
    } else if (after) {
      h[i] = t;
      i += 2;
    } else h.splice(i, 2);
  }
  if (h.length === 0) me.holes = null;
}

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
    const me = dir === 0 ? s.fwd : s.bwd, other = dir === 0 ? s.bwd : s.fwd;
    const seq = p.tcpSeq, ack = p.tcpAck, win = p.tcpWindow, fl = p.tcpFlags, len = p.payloadLen, ts = p.tsNs;
    const synFin = (fl & (TCP.SYN | TCP.FIN)) !== 0;
    const ctl = (fl & (TCP.SYN | TCP.FIN | TCP.RST)) !== 0;
    if (fl & TCP.ACK) me.acks++;
    // Handshake RTT, as Wireshark's iRTT: the last SYN to the initiator's ACK of the SYN-ACK (the
    // out-of-order threshold).
    if (fl & TCP.SYN) {
      if (!(fl & TCP.ACK)) {
        if (!(s.irtt >= 0)) {
          s.synTime = ts;
          s.synDir = dir;
        }
      } else if (dir !== s.synDir) s.synAckSeen = true;
    } else if (
      dir === s.synDir && (fl & TCP.ACK) && s.synAckSeen && s.synTime === s.synTime && !(s.irtt >= 0)
    ) {
      s.irtt = (ts - s.synTime) / 1e9;
    }
    const end = (seq + len + (synFin ? 1 : 0)) >>> 0;
    if (
      (fl & (TCP.SYN | TCP.ACK)) === TCP.SYN &&
      (me.seen ? seq !== me.base : me.ackBase >= 0 && seq !== me.ackBase)
    ) {
      // A new connection on the same ports: nothing of the old one's sequence state applies to it. Also when
      // this side sent nothing yet, but the peer acknowledged other numbers (a capture that began with the old
      // connection's last segments), as tshark starts a new tcp.stream then.
      me.seen = other.seen = false;
      me.ackBase = other.ackBase = -1;
      s.synAckSeen = false;
      s.irtt = NaN;
      s.synTime = ts;
      s.synDir = dir;
    }
    // Before the peer's first packet its base is what this one acknowledges, as Wireshark takes it.
    if ((fl & TCP.ACK) && !other.seen && other.ackBase < 0) other.ackBase = (ack - 1) >>> 0;
    if (!me.seen) {
      me.seen = true;
      me.base = seq;
      if (!me.isnSet) {
        me.isnSet = true;
        me.isn = seq;
      }
      me.nextseq = end;
      me.nextseqTime = ts;
      me.bytes += len;
      me.dataStart = payloadStart(seq, fl);
      me.dataEnd = me.dataStart + len;
      me.dataEndSeq = me.dataEnd % 4294967296;
      me.holes = null;
      me.farStart = me.farEnd = NaN;
      me.window = win;
      me.lastack = ack;
      me.lastackTime = ts;
      me.dupacknum = 0;
      me.keepAlive = false;
      return;
    }
    const next = me.nextseq;
    let zeroWindowProbe = false, keepAlive = false, retrans = false;
    if (len === 1 && seq === next && other.window === 0) zeroWindowProbe = true;
    else {
      if (gt(seq, next) && !(fl & TCP.RST)) me.gaps++;
      if (len <= 1 && !ctl && ((next - 1) >>> 0) === seq) keepAlive = true;
      else if (
        len === 0 && win !== 0 && win === me.window && seq === next && ack === me.lastack && !ctl &&
        !other.keepAlive
      ) {
        me.dupacknum++;
        me.dupAcks++;
      }
    }
    // A run of duplicate ACKs ends when the ACK number changes (a window update keeps it), as in tshark.
    if (ack !== me.lastack) me.dupacknum = 0;
    if (!zeroWindowProbe && !keepAlive && (len > 0 || synFin)) {
      // Data the peer already acknowledged is a (spurious) retransmission before any other test, as tshark
      // 4.0 decides; a segment of more than one byte starting one below the next expected byte adds data.
      const notAdvanced = lt(seq, next) && !(len > 1 && ((next - 1) >>> 0) === seq);
      if (len > 0 && other.lastack > 0 && !gt((seq + len) >>> 0, other.lastack)) retrans = true;
      else if (notAdvanced) {
        const sinceDupAck = (ts - other.lastackTime) / 1e9;
        const sinceNext = (ts - me.nextseqTime) / 1e9;
        const oooThreshold = s.irtt > 0 ? s.irtt : 0.003;
        if (other.dupacknum >= 2 && other.lastack === seq && sinceDupAck < 0.02) retrans = true;
        else if (sinceNext < oooThreshold && next !== end) me.ooo++;
        else retrans = true;
      }
    }
    if (retrans) me.retrans++;
    // Not a keep-alive's old byte, nor a zero-window probe's (sent again once the window opens).
    if (len > 0 && !zeroWindowProbe && !keepAlive) countBytes(me, payloadStart(seq, fl), len, fl);
    if (gt(end, next) && !zeroWindowProbe) {
      me.nextseq = end;
      me.nextseqTime = ts;
    }
    me.keepAlive = keepAlive;
    me.window = win;
    me.lastack = ack;
    me.lastackTime = ts;
  },
  finish(s: TcpSequenceState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const f = s.fwd, b = s.bwd;
    out.tcp_isn_fwd = f.isnSet ? f.isn : null;
    out.tcp_isn_bwd = b.isnSet ? b.isn : null;
    out.tcp_seq_fwd_bytes_sent = f.bytes;
    out.tcp_seq_fwd_retrans = f.retrans;
    out.tcp_seq_fwd_gaps = f.gaps;
    out.tcp_seq_fwd_ooo = f.ooo;
    out.tcp_seq_bwd_bytes_sent = b.bytes;
    out.tcp_seq_bwd_retrans = b.retrans;
    out.tcp_seq_bwd_gaps = b.gaps;
    out.tcp_seq_bwd_ooo = b.ooo;
    out.tcp_ack_fwd_count = f.acks;
    out.tcp_ack_fwd_dup = f.dupAcks;
    out.tcp_ack_bwd_count = b.acks;
    out.tcp_ack_bwd_dup = b.dupAcks;
    const retrans = f.retrans + b.retrans;
    out.tcp_total_retrans = retrans;
    out.tcp_total_ooo = f.ooo + b.ooo;
    out.tcp_total_dup_acks = f.dupAcks + b.dupAcks;
    out.tcp_retrans_ratio = s.packets > 0 ? retrans / s.packets : null;
  },
};
