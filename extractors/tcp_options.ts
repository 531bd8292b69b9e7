/**
 * `tcp_options`: TCP options per direction: MSS, window scale and SACK-permitted from the handshake, SACK blocks,
 * timestamps (first, last, their difference and the first echo), which options were seen, and how many packets
 * carried options. Also exports the option reader the other TCP groups share ({@linkcode readTcpOptions}).
 * For flows that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";

/**
 * The options of one TCP segment, read in place. One instance is reused for every packet: read it during the
 * `update` call that asked for it.
 */
export class TcpOptionView {
  /** True when any option other than NOP and end-of-list is present. */
  any = false;
  /** Maximum segment size (kind 2), -1 when absent or cut. */
  mss = -1;
  /** Window scale shift (kind 3), -1 when absent or cut. */
  ws = -1;
  /** SACK permitted (kind 4). */
  sackPermitted = false;
  /** SACK blocks (kind 5): of one the snapshot length cut, those captured whole. */
  sackBlocks = 0;
  /** A SACK option was cut by the snapshot length after its kind (its blocks may all be past the cut). */
  sackCut = false;
  /** Timestamps (kind 8): value and echo reply, -1 when absent or cut. */
  tsVal = -1;
  tsEcr = -1;
  /** The kinds seen, also of an option the snapshot length cut (its value then unknown). */
  mssSeen = false;
  wsSeen = false;
  tsSeen = false;
  /** The capture ends inside the options (see {@linkcode tcpOptionsCut}): those after it are unknown. */
  cut = false;
  /** MPTCP options (kind 30): their subtypes as a mask of `1 << subtype` (a DSS and an ADD_ADDR often share a
   * segment), and their number. */
  mptcpSubtypes = 0;
  mptcpCount = 0;
  /** TCP Fast Open cookie (kind 34, or its experimental form before RFC 7413: kind 254 with the experiment id
   * 0xF989, which Linux sends when the kind 34 SYN got no cookie back). */
  fastOpen = false;
  /** Some other option kind. */
  other = false;
  /** Options ended early (a length running past the header). */
  malformed = false;
  // Which packet this was read from: the view and its decode count (every decode resets the view, which counts
  // it; buffer, offset and header fields can all repeat, as with libpcap's reader and duplicate ACKs).
  private view: PacketView | null = null;
  private decodes = -1;

  /** True when this view already holds `p`'s options. */
  holds(p: PacketView): boolean {
    return this.view === p && this.decodes === p.decodes;
  }

  /** Reads `p`'s options. */
  read(p: PacketView): void {
    this.view = p;
    this.decodes = p.decodes;
    this.any = false;
    this.mss = -1;
    this.ws = -1;
    this.sackPermitted = false;
    this.sackBlocks = 0;
    this.sackCut = false;
    this.tsVal = -1;
    this.tsEcr = -1;
    this.mptcpSubtypes = 0;
    this.mptcpCount = 0;
    this.fastOpen = false;
    this.other = false;
    this.malformed = false;
    this.mssSeen = false;
    this.wsSeen = false;
    this.tsSeen = false;
    this.cut = false;
    if (p.tcpHdrLen <= 20) return;
    const b = p.buf;
    let o = p.l4Off + 20;
    const hdrEnd = p.l4Off + p.tcpHdrLen;
    const end = Math.min(hdrEnd, p.l4End);
    this.cut = end < hdrEnd;
    // The usual layout of segments after the handshake: NOP, NOP, timestamps.
    if (end - o === 12 && b[o] === 1 && b[o + 1] === 1 && b[o + 2] === 8 && b[o + 3] === 10) {
      this.any = true;
      this.tsSeen = true;
      this.tsVal = ((b[o + 4] << 24) | (b[o + 5] << 16) | (b[o + 6] << 8) | b[o + 7]) >>> 0;
      this.tsEcr = ((b[o + 8] << 24) | (b[o + 9] << 16) | (b[o + 10] << 8) | b[o + 11]) >>> 0;
      return;
    }
    while (o < end) {
      const kind = b[o];
      if (kind === 0) break;
      if (kind === 1) {
        o++;
        continue;
      }
      if (o + 1 >= end) {
        // Only its kind was captured (a snapshot length): seen, its value unknown (tshark 4.0 shows no option
        // without its length byte; the column counts kinds captured, as documented).
        if (this.cut) this.seenCut(kind, 1, b, o, end);
        else this.malformed = true;
        break;
      }
      const len = b[o + 1];
      if (len < 2 || o + len > hdrEnd) {
        this.malformed = true;
        break;
      }
      if (o + len > end) {
        this.seenCut(kind, len, b, o, end);
        break;
      }
      this.any = true;
      if (kind === 2) this.mssSeen = true;
      else if (kind === 3) this.wsSeen = true;
      else if (kind === 8) this.tsSeen = true;
      if (kind === 2 && len === 4) this.mss = (b[o + 2] << 8) | b[o + 3];
      else if (kind === 3 && len === 3) this.ws = b[o + 2];
      else if (kind === 4 && len === 2) this.sackPermitted = true;
      else if (kind === 5) this.sackBlocks += (len - 2) >> 3;
      else if (kind === 8 && len === 10) {
        this.tsVal = ((b[o + 2] << 24) | (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5]) >>> 0;
        this.tsEcr = ((b[o + 6] << 24) | (b[o + 7] << 16) | (b[o + 8] << 8) | b[o + 9]) >>> 0;
      } else if (kind === 30 && len >= 3) {
        this.mptcpSubtypes |= 1 << (b[o + 2] >> 4);
        this.mptcpCount++;
      } else if (kind === 34 || (kind === 254 && isFastOpenExperiment(b, o, len, o + len))) {
        this.fastOpen = true;
      } else if (kind !== 2 && kind !== 3 && kind !== 4 && kind !== 8 && kind !== 30) {
        // A kind above with a length it cannot have is malformed, not another kind.
        this.other = true;
      }
      o += len;
    }
  }

  /**
   * An option of `len` (1: its length byte not captured) at `o` that the capture's end `end` cuts: its kind
   * is seen, and of a timestamp the TSval when its four bytes were captured (tshark reads them so).
   */
  private seenCut(kind: number, len: number, b: Uint8Array, o: number, end: number): void {
    this.any = true;
    if (kind === 2) this.mssSeen = true;
    else if (kind === 3) this.wsSeen = true;
    else if (kind === 4) this.sackPermitted = true;
    else if (kind === 8) {
      this.tsSeen = true;
      if (len === 10 && o + 6 <= end) {
        this.tsVal = ((b[o + 2] << 24) | (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5]) >>> 0;
      }
    } else if (kind === 30) {
      if (o + 3 <= end) {
        this.mptcpSubtypes |= 1 << (b[o + 2] >> 4);
        this.mptcpCount++;
      }
    } else if (kind === 5) {
      // The blocks whose two edges were captured, as tshark reads them (all were dropped, the kind too).
      this.sackCut = true;
      if (len > 1) this.sackBlocks += Math.min((len - 2) >> 3, Math.max(0, (end - o - 2) >> 3));
    } else if (kind === 34) this.fastOpen = true;
    else if (kind === 254 && isFastOpenExperiment(b, o, len, end)) this.fastOpen = true;
    else this.other = true;
  }
}

const shared = new TcpOptionView();

/**
 * An experimental option (RFC 6994) at `o`, of length `len`, whose experiment id, captured before `end`, is TCP
 * Fast Open's, 0xF989.
 */
function isFastOpenExperiment(b: Uint8Array, o: number, len: number, end: number): boolean {
  return len >= 4 && o + 4 <= end && b[o + 2] === 0xf9 && b[o + 3] === 0x89;
}

/**
 * The options of `p`'s TCP header, read once per packet however many groups ask (the view is shared and
 * overwritten by the next packet).
 *
 * @example
 * ```ts
 * import { readTcpOptions } from "./tcp_options.ts";
 * import { PacketView } from "../lib/packet.ts";
 * const p = new PacketView();
 * console.log(readTcpOptions(p).mss); // -1
 * ```
 */
export function readTcpOptions(p: PacketView): TcpOptionView {
  if (!shared.holds(p)) shared.read(p);
  return shared;
}

/**
 * The option kinds of `p`'s TCP header in order, NOP and end-of-list included, joined with `-` (JA4T style,
 * e.g. `2-4-8-1-3`); empty when there are none.
 *
 * @example
 * ```ts
 * import { tcpOptionKinds } from "./tcp_options.ts";
 * import { PacketView } from "../lib/packet.ts";
 * console.log(tcpOptionKinds(new PacketView())); // ""
 * ```
 */
export function tcpOptionKinds(p: PacketView): string {
  if (p.tcpHdrLen <= 20) return "";
  const b = p.buf;
  let o = p.l4Off + 20;
  const hdrEnd = p.l4Off + p.tcpHdrLen;
  const end = Math.min(hdrEnd, p.l4End);
  const kinds: number[] = [];
  let ended = false;
  while (o < end) {
    const kind = b[o];
    // What follows the end of the list is padding: zeros, each listed as an end of list again (macOS pads with
    // them), up to a byte that is not (tshark's "non-zero header padding"); an option that claims more than the
    // header holds ends the list too. The kinds tshark lists (tcp.option_kind), which JA4T is made of.
    if (kind === 0) {
      kinds.push(0);
      ended = true;
      o++;
      continue;
    }
    if (ended) break;
    if (kind === 1) {
      kinds.push(1);
      o++;
      continue;
    }
    if (o + 1 < end) {
      const len = b[o + 1];
      if (len < 2 || o + len > hdrEnd) break;
      o += len;
    } else if (end === hdrEnd) break;
    else o = end;
    kinds.push(kind);
  }
  return kinds.join("-");
}

/**
 * True when the capture holds less of `p`'s TCP header than its data offset says (a snapshot length cut the
 * options): the options read are only the first ones.
 *
 * @example
 * ```ts
 * import { tcpOptionsCut } from "./tcp_options.ts";
 * import { PacketView } from "../lib/packet.ts";
 * console.log(tcpOptionsCut(new PacketView())); // false
 * ```
 */
export function tcpOptionsCut(p: PacketView): boolean {
  return p.l4Off + p.tcpHdrLen > p.l4End;
}

/** What `tcp_options` keeps about one direction's options. */
class TcpOptionsDirection {
  /** The first MSS and window scale seen; -1 also when the first was cut (`mssSeen`, `wsSeen` say seen). */
  mss = -1;
  mssSeen = false;
  ws = -1;
  wsSeen = false;
  sackPermitted = false;
  /** Packets with timestamps; the first's TSval and TSecr, the last's TSval (-1: cut by the snapshot length). */
  tsN = 0;
  tsFirst = -1;
  tsLast = -1;
  ecrFirst = -1;
  /** Packets whose options were captured whole, and cut (see `tcpOptionsCut`); a SYN's cut. */
  whole = 0;
  cut = 0;
  synCut = false;
}

/** Per-flow state of `tcp_options`. */
export class TcpOptionsState {
  fwd: TcpOptionsDirection = new TcpOptionsDirection();
  bwd: TcpOptionsDirection = new TcpOptionsDirection();
  sackBlocks = 0;
  withOptions = 0;
  bitmap = 0;
}

const f = (name: string, type: "int" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("tcp_mss_fwd", "int", "MSS option the initiator sent (first seen), null when absent."),
  f("tcp_mss_bwd", "int", "MSS option the responder sent."),
  f("tcp_ws_fwd", "int", "Window scale shift the initiator sent, null when absent."),
  f("tcp_ws_bwd", "int", "Window scale shift the responder sent."),
  f(
    "tcp_sack_permitted_fwd",
    "int",
    "1 when the initiator sent SACK-permitted, else 0 (JoyfulJay's integer flag); null when a snapshot " +
      "length cut its SYN's options before it was seen, or every packet's.",
  ),
  f("tcp_sack_permitted_bwd", "int", "1 when the responder sent SACK-permitted, else 0."),
  f(
    "tcp_sack_blocks_total",
    "int",
    "SACK blocks in all packets of both directions (of an option a snapshot length cut, the blocks captured " +
      "whole, as tshark reads them).",
  ),
  f(
    "tcp_ts_fwd_present",
    "int",
    "1 when the initiator sent TCP timestamps, else 0 (JoyfulJay's integer flag); null when a snapshot " +
      "length cut the options of every packet that had any. Of an option cut part-way, what was captured is " +
      "read (a TSval, as tshark does); a value not captured is null.",
  ),
  f("tcp_ts_fwd_first", "int", "The initiator's first TSval."),
  f("tcp_ts_fwd_last", "int", "The initiator's last TSval."),
  f("tcp_ts_fwd_diff", "int", "tcp_ts_fwd_last - tcp_ts_fwd_first modulo 2^32 (timestamp clock ticks)."),
  f("tcp_ts_ecr_fwd_first", "int", "The initiator's first TSecr."),
  f("tcp_ts_bwd_present", "int", "1 when the responder sent TCP timestamps, else 0."),
  f("tcp_ts_bwd_first", "int", "The responder's first TSval."),
  f("tcp_ts_bwd_last", "int", "The responder's last TSval."),
  f("tcp_ts_bwd_diff", "int", "tcp_ts_bwd_last - tcp_ts_bwd_first modulo 2^32."),
  f("tcp_ts_ecr_bwd_first", "int", "The responder's first TSecr."),
  f(
    "tcp_options_bitmap",
    "int",
    "Options seen in either direction: 1 MSS, 2 window scale, 4 SACK-permitted, 8 timestamps, 16 SACK blocks, " +
      "32 MPTCP, 64 Fast Open (kind 34, or 254 with its experiment id), 128 other kinds (of options a " +
      "snapshot length cut, those whose kind was captured).",
  ),
  f("tcp_options_pkt_count", "int", "Packets carrying at least one option other than NOP / end-of-list."),
];

/** The timestamp columns of one direction; a value the snapshot length cut is null. */
function timestamps(d: TcpOptionsDirection, out: FlowRecord, names: readonly string[]): void {
  if (d.tsN === 0) return;
  if (d.tsFirst >= 0) out[names[0]] = d.tsFirst;
  if (d.tsLast >= 0) out[names[1]] = d.tsLast;
  if (d.tsFirst >= 0 && d.tsLast >= 0) out[names[2]] = (d.tsLast - d.tsFirst) >>> 0;
  if (d.ecrFirst >= 0) out[names[3]] = d.ecrFirst;
}

/** The columns `timestamps` writes, per direction (names made once, not per flow). */
const TS_FWD = ["tcp_ts_fwd_first", "tcp_ts_fwd_last", "tcp_ts_fwd_diff", "tcp_ts_ecr_fwd_first"] as const;
const TS_BWD = ["tcp_ts_bwd_first", "tcp_ts_bwd_last", "tcp_ts_bwd_diff", "tcp_ts_ecr_bwd_first"] as const;

/**
 * The `tcp_options` group.
 *
 * @example
 * ```ts
 * import { tcpOptionsExtractor } from "./tcp_options.ts";
 * console.log(tcpOptionsExtractor.features[0].name); // tcp_mss_fwd
 * ```
 */
export const tcpOptionsExtractor: FeatureExtractor<TcpOptionsState | null> = {
  name: "tcp_options",
  features,
  init: (flow: FlowState): TcpOptionsState | null => flow.protocol === 6 ? new TcpOptionsState() : null,
  update(s: TcpOptionsState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null) return;
    const d = dir === 0 ? s.fwd : s.bwd;
    if (p.tcpHdrLen === 0) {
      // A header cut before its 20 bytes (a snapshot length, a tiny first fragment; a later fragment has
      // none): options unknown.
      if (!p.isFragment) d.cut++;
      return;
    }
    if (p.tcpHdrLen <= 20) {
      d.whole++;
      return;
    }
    const o = readTcpOptions(p);
    if (o.cut) {
      d.cut++;
      if (p.tcpFlags & TCP.SYN) d.synCut = true;
    } else d.whole++;
    if (!o.any) return;
    s.withOptions++;
    let bits = 0;
    if (o.mssSeen) {
      bits |= 1;
      if (!d.mssSeen) {
        d.mssSeen = true;
        d.mss = o.mss;
      }
    }
    if (o.wsSeen) {
      bits |= 2;
      if (!d.wsSeen) {
        d.wsSeen = true;
        d.ws = o.ws;
      }
    }
    if (o.sackPermitted) {
      bits |= 4;
      d.sackPermitted = true;
    }
    if (o.tsSeen) {
      bits |= 8;
      if (d.tsN++ === 0) {
        d.tsFirst = o.tsVal;
        d.ecrFirst = o.tsEcr;
      }
      d.tsLast = o.tsVal;
    }
    if (o.sackBlocks > 0 || o.sackCut) {
      bits |= 16;
      s.sackBlocks += o.sackBlocks;
    }
    if (o.mptcpCount > 0) bits |= 32;
    if (o.fastOpen) bits |= 64;
    if (o.other) bits |= 128;
    s.bitmap |= bits;
  },
  finish(s: TcpOptionsState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const f = s.fwd, b = s.bwd;
    out.tcp_mss_fwd = f.mss >= 0 ? f.mss : null;
    out.tcp_mss_bwd = b.mss >= 0 ? b.mss : null;
    out.tcp_ws_fwd = f.ws >= 0 ? f.ws : null;
    out.tcp_ws_bwd = b.ws >= 0 ? b.ws : null;
    // A snapshot length that cut every packet's options (and the SYN's, for SACK-permitted) leaves unknown
    // whether an option that was not seen was sent.
    out.tcp_sack_permitted_fwd = f.sackPermitted ? 1 : f.synCut || (f.whole === 0 && f.cut > 0) ? null : 0;
    out.tcp_sack_permitted_bwd = b.sackPermitted ? 1 : b.synCut || (b.whole === 0 && b.cut > 0) ? null : 0;
    out.tcp_sack_blocks_total = s.sackBlocks;
    out.tcp_ts_fwd_present = f.tsN > 0 ? 1 : f.whole === 0 && f.cut > 0 ? null : 0;
    out.tcp_ts_bwd_present = b.tsN > 0 ? 1 : b.whole === 0 && b.cut > 0 ? null : 0;
    timestamps(f, out, TS_FWD);
    timestamps(b, out, TS_BWD);
    out.tcp_options_bitmap = s.bitmap;
    out.tcp_options_pkt_count = s.withOptions;
  },
};
