/**
 * `ip_extended`: IP header fields over the flow: TTL (hop limit) per direction and the initiator's estimated
 * initial TTL and hop count, ToS / traffic class, DSCP and ECN, IPv4 flags and DF, and gaps in the IPv4
 * identification sequence. Values come from the flow's own (innermost) IP header.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { ByteSet } from "../lib/byte_set.ts";

/** What `ip_extended` keeps about one direction's IP headers. */
class IpExtendedDirection {
  ttlMin = 256;
  ttlMax = -1;
  ttlSum = 0;
  ttlN = 0;
  /** The first TTL, and the TTLs other than it (created at the first one: most flows keep one TTL). */
  ttlFirst = -1;
  ttlOthers: ByteSet | null = null;
  idLast = -1;
}

/** Per-flow state of `ip_extended`. */
export class IpExtendedState {
  fwd: IpExtendedDirection = new IpExtendedDirection();
  bwd: IpExtendedDirection = new IpExtendedDirection();
  /** The first packet's ToS, and the other values seen (created at the first one). */
  firstTos = -1;
  tosOthers: ByteSet | null = null;
  flags = 0;
  df = 0;
  v4 = 0;
  idGaps = 0;
}

const f = (name: string, type: "int" | "float", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("ip_ttl_fwd_min", "int", "Smallest TTL / hop limit of the initiator's packets."),
  f("ip_ttl_fwd_max", "int", "Largest TTL of the initiator's packets."),
  f("ip_ttl_fwd_mean", "float", "Mean TTL of the initiator's packets."),
  f(
    "ip_ttl_fwd_changes",
    "int",
    "Distinct TTLs of the initiator's packets minus one (JoyfulJay's count of TTL changes).",
  ),
  f("ip_ttl_bwd_min", "int", "Smallest TTL of the responder's packets."),
  f("ip_ttl_bwd_max", "int", "Largest TTL of the responder's packets."),
  f("ip_ttl_bwd_mean", "float", "Mean TTL of the responder's packets."),
  f("ip_ttl_bwd_changes", "int", "Distinct TTLs of the responder's packets minus one."),
  f(
    "ip_ttl_fwd_initial_est",
    "int",
    "Initiator's likely initial TTL: 64, 128 or 255 (next one at or above the first).",
  ),
  f("ip_ttl_fwd_hops_est", "int", "ip_ttl_fwd_initial_est minus the initiator's first TTL: routers passed."),
  f("ip_tos_value", "int", "Smallest IPv4 ToS / IPv6 traffic class byte of the flow (as JoyfulJay)."),
  f("ip_tos_unique_count", "int", "Distinct ToS / traffic class values seen."),
  f("ip_dscp", "int", "DSCP of ip_tos_value (ToS >> 2)."),
  f("ip_ecn", "int", "ECN bits of ip_tos_value (ToS & 3)."),
  f("ip_flags", "int", "OR of the IPv4 flags over the flow: 4 reserved, 2 DF, 1 MF."),
  f("ip_df_count", "int", "IPv4 packets with Don't Fragment set."),
  f("ip_df_ratio", "float", "ip_df_count / total_packets."),
  f("ip_version", "int", "IP version of the flow (4 or 6)."),
  f(
    "ip_id_gaps",
    "int",
    "Consecutive IPv4 packets of one direction whose identification grew by more than 1 (mod 65536).",
  ),
];

/**
 * The `ip_extended` group.
 *
 * @example
 * ```ts
 * import { ipExtendedExtractor } from "./ip_extended.ts";
 * console.log(ipExtendedExtractor.features.length); // 19
 * ```
 */
export const ipExtendedExtractor: FeatureExtractor<IpExtendedState> = {
  name: "ip_extended",
  features,
  init: (): IpExtendedState => new IpExtendedState(),
  update(s: IpExtendedState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const version = p.ipVersion;
    // No inner IP header: a later fragment of a tunnel's outer datagram (its header fields are the outer one's).
    if (version === 0 || p.addrBuf !== null) return;
    const d = dir === 0 ? s.fwd : s.bwd;
    const ttl = p.ttl, tos = p.tos;
    if (ttl < d.ttlMin) d.ttlMin = ttl;
    if (ttl > d.ttlMax) d.ttlMax = ttl;
    d.ttlSum += ttl;
    d.ttlN++;
    if (d.ttlFirst < 0) d.ttlFirst = ttl;
    else if (ttl !== d.ttlFirst) (d.ttlOthers ??= new ByteSet()).add(ttl);
    if (s.firstTos < 0) s.firstTos = tos;
    else if (tos !== s.firstTos) (s.tosOthers ??= new ByteSet()).add(tos);
    if (version === 4) {
      s.v4++;
      const fl = p.ipFlags;
      s.flags |= fl;
      if (fl & 2) s.df++;
      const id = p.ipId, prev = d.idLast;
      if (prev >= 0 && ((id - prev) & 0xffff) > 1) s.idGaps++;
      d.idLast = id;
    }
  },
  finish(s: IpExtendedState, flow: FlowState, out): void {
    const f = s.fwd, b = s.bwd;
    const nf = f.ttlN, nb = b.ttlN;
    if (nf > 0) {
      out.ip_ttl_fwd_min = f.ttlMin;
      out.ip_ttl_fwd_max = f.ttlMax;
      out.ip_ttl_fwd_mean = f.ttlSum / nf;
      out.ip_ttl_fwd_changes = f.ttlOthers?.size ?? 0;
      const first = f.ttlFirst;
      const init = first <= 64 ? 64 : first <= 128 ? 128 : 255;
      out.ip_ttl_fwd_initial_est = init;
      out.ip_ttl_fwd_hops_est = init - first;
    }
    if (nb > 0) {
      out.ip_ttl_bwd_min = b.ttlMin;
      out.ip_ttl_bwd_max = b.ttlMax;
      out.ip_ttl_bwd_mean = b.ttlSum / nb;
      out.ip_ttl_bwd_changes = b.ttlOthers?.size ?? 0;
    }
    if (s.firstTos >= 0) {
      const others = s.tosOthers, tos = others === null ? s.firstTos : Math.min(s.firstTos, others.min());
      out.ip_tos_value = tos;
      out.ip_tos_unique_count = 1 + (others?.size ?? 0);
      out.ip_dscp = tos >> 2;
      out.ip_ecn = tos & 3;
    } else out.ip_tos_unique_count = 0;
    out.ip_flags = s.v4 > 0 ? s.flags : null;
    out.ip_df_count = s.df;
    const total = flow.packets0 + flow.packets1;
    out.ip_df_ratio = total > 0 ? s.df / total : null;
    out.ip_version = flow.ipVersion;
    out.ip_id_gaps = s.idGaps;
  },
};
