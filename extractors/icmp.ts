/**
 * `icmp`: ICMP and ICMPv6 messages of a flow: counts by kind (echo request and reply, destination unreachable,
 * time exceeded), distinct types and codes, the dominant type, echo identifiers and sequence numbers. ICMPv6
 * types are mapped to their ICMP meaning (128/129 echo, 1 unreachable, 3 time exceeded, 137 redirect); the type
 * columns keep the raw type numbers. For flows that are not ICMP the counts are 0 and the rest null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";

/** Distinct values (type/code pairs, identifiers) and sequence numbers remembered per flow. */
const MAX_DISTINCT = 64;
const MAX_SEQS = 4096;

/** Kinds, as bits of `icmp_stat`. */
const Kind = {
  ECHO_REQUEST: 1,
  ECHO_REPLY: 2,
  UNREACHABLE: 4,
  TIME_EXCEEDED: 8,
  REDIRECT: 16,
  OTHER: 32,
} as const;

/** Per-flow state of `icmp`. */
export class IcmpState {
  v6: boolean;
  packets = 0;
  requests = 0;
  replies = 0;
  unreachable = 0;
  timeExceeded = 0;
  stat = 0;
  /** Type/code pairs as type * 256 + code; how often each type was seen, as (type, count) pairs. */
  typeCodes: number[] = [];
  typeCounts: number[] = [];
  ids: number[] = [];
  seqs: number[] = [];
  seqMin = 65536;
  seqMax = -1;
  constructor(v6: boolean) {
    this.v6 = v6;
  }
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "icmp_packet_count",
    "int",
    "ICMP / ICMPv6 packets with a readable type: one per message (the later IP fragments of a fragmented " +
      "message carry no ICMP header and are not counted), as JoyfulJay counts them.",
  ),
  f("icmp_echo_request_count", "int", "Echo requests (ICMP 8, ICMPv6 128)."),
  f("icmp_echo_reply_count", "int", "Echo replies (ICMP 0, ICMPv6 129)."),
  f("icmp_dest_unreachable_count", "int", "Destination unreachable messages (ICMP 3, ICMPv6 1)."),
  f("icmp_time_exceeded_count", "int", "Time exceeded messages (ICMP 11, ICMPv6 3)."),
  f("icmp_unique_type_codes", "int", "Distinct (type, code) pairs (max 64)."),
  f("icmp_dominant_type", "int", "Most frequent type (the smallest among ties)."),
  f("icmp_dominant_type_count", "int", "Packets of the most frequent type."),
  f("icmp_echo_success_ratio", "float", "Echo replies / echo requests (null without requests)."),
  f("icmp_unique_ids", "int", "Distinct echo identifiers (max 64)."),
  f("icmp_seq_min", "int", "Smallest echo sequence number."),
  f("icmp_seq_max", "int", "Largest echo sequence number."),
  f("icmp_seq_gaps", "int", "Holes in the sorted distinct echo sequence numbers (first 4096 packets)."),
  f(
    "icmp_stat",
    "int",
    "Bits: 0 echo request, 1 echo reply, 2 destination unreachable, 3 time exceeded, 4 redirect, 5 other types.",
  ),
  f("icmp_ratio", "float", "icmp_packet_count / total_packets."),
  f("is_icmp_only", "bool", "Every packet of the flow counts in icmp_packet_count."),
];

function kindOf(v6: boolean, type: number): number {
  if (v6) {
    return type === 128
      ? Kind.ECHO_REQUEST
      : type === 129
      ? Kind.ECHO_REPLY
      : type === 1
      ? Kind.UNREACHABLE
      : type === 3
      ? Kind.TIME_EXCEEDED
      : type === 137
      ? Kind.REDIRECT
      : Kind.OTHER;
  }
  return type === 8
    ? Kind.ECHO_REQUEST
    : type === 0
    ? Kind.ECHO_REPLY
    : type === 3
    ? Kind.UNREACHABLE
    : type === 11
    ? Kind.TIME_EXCEEDED
    : type === 5
    ? Kind.REDIRECT
    : Kind.OTHER;
}

/** Adds one packet of `type` to (type, count) pairs; there are at most 256 types. */
function countType(a: number[], type: number): void {
  for (let i = 0; i < a.length; i += 2) {
    if (a[i] === type) {
      a[i + 1]++;
      return;
    }
  }
  a.push(type, 1);
}

/**
 * The `icmp` group.
 *
 * @example
 * ```ts
 * import { icmpExtractor } from "./icmp.ts";
 * console.log(icmpExtractor.features.length); // 16
 * ```
 */
export const icmpExtractor: FeatureExtractor<IcmpState | null> = {
  name: "icmp",
  features,
  init: (flow: FlowState): IcmpState | null =>
    flow.protocol === 1 || flow.protocol === 58 ? new IcmpState(flow.protocol === 58) : null,
  update(s: IcmpState | null, p: PacketView, _flow: FlowState, _dir: 0 | 1): void {
    if (s === null || p.icmpType < 0) return;
    const type = p.icmpType;
    s.packets++;
    const k = kindOf(s.v6, type);
    s.stat |= k;
    if (k === Kind.ECHO_REQUEST) s.requests++;
    else if (k === Kind.ECHO_REPLY) s.replies++;
    else if (k === Kind.UNREACHABLE) s.unreachable++;
    else if (k === Kind.TIME_EXCEEDED) s.timeExceeded++;
    const tc = type * 256 + p.icmpCode;
    if (s.typeCodes.length < MAX_DISTINCT && !s.typeCodes.includes(tc)) s.typeCodes.push(tc);
    countType(s.typeCounts, type);
    if (p.icmpId >= 0) {
      if (s.ids.length < MAX_DISTINCT && !s.ids.includes(p.icmpId)) s.ids.push(p.icmpId);
      const q = p.icmpSeq;
      if (q < s.seqMin) s.seqMin = q;
      if (q > s.seqMax) s.seqMax = q;
      if (s.seqs.length < MAX_SEQS) s.seqs.push(q);
    }
  },
  finish(s: IcmpState | null, flow: FlowState, out): void {
    const total = flow.packets0 + flow.packets1;
    const n = s === null ? 0 : s.packets;
    out.icmp_packet_count = n;
    out.icmp_echo_request_count = s === null ? 0 : s.requests;
    out.icmp_echo_reply_count = s === null ? 0 : s.replies;
    out.icmp_dest_unreachable_count = s === null ? 0 : s.unreachable;
    out.icmp_time_exceeded_count = s === null ? 0 : s.timeExceeded;
    out.icmp_ratio = total > 0 ? n / total : null;
    out.is_icmp_only = total > 0 && n === total;
    if (s === null || n === 0) return;
    out.icmp_unique_type_codes = s.typeCodes.length;
    let dom = -1, domCount = 0;
    const counts = s.typeCounts;
    for (let i = 0; i < counts.length; i += 2) {
      const t = counts[i], c = counts[i + 1];
      if (c > domCount || (c === domCount && t < dom)) {
        dom = t;
        domCount = c;
      }
    }
    out.icmp_dominant_type = dom;
    out.icmp_dominant_type_count = domCount;
    out.icmp_echo_success_ratio = s.requests > 0 ? s.replies / s.requests : null;
    out.icmp_unique_ids = s.ids.length;
    out.icmp_stat = s.stat;
    if (s.seqMax >= 0) {
      out.icmp_seq_min = s.seqMin;
      out.icmp_seq_max = s.seqMax;
      const q = Float64Array.from(s.seqs).sort();
      let gaps = 0;
      for (let i = 1; i < q.length; i++) if (q[i] - q[i - 1] > 1) gaps++;
      out.icmp_seq_gaps = gaps;
    }
  },
};
