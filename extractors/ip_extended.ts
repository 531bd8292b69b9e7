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

/** Per-flow state of `ip_extended`. */
export class IpExtendedState {
  ttlMin: number[] = [256, 256];
  ttlMax: number[] = [-1, -1];
  ttlSum: number[] = [0, 0];
  ttlN: number[] = [0, 0];
  ttlLast: number[] = [-1, -1];
  ttlChanges: number[] = [0, 0];
  firstTtl = -1;
  firstTos = -1;
  /** Set of ToS values seen: 256 bits in eight 32-bit words. */
  tosSeen: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  flags = 0;
  df = 0;
  v4 = 0;
  idLast: number[] = [-1, -1];
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
  f("ip_ttl_fwd_changes", "int", "Times the initiator's TTL differed from its previous packet's."),
  f("ip_ttl_bwd_min", "int", "Smallest TTL of the responder's packets."),
  f("ip_ttl_bwd_max", "int", "Largest TTL of the responder's packets."),
  f("ip_ttl_bwd_mean", "float", "Mean TTL of the responder's packets."),
  f("ip_ttl_bwd_changes", "int", "Times the responder's TTL differed from its previous packet's."),
  f(
    "ip_ttl_fwd_initial_est",
    "int",
    "Initiator's likely initial TTL: 64, 128 or 255 (next one at or above the first).",
  ),
  f("ip_ttl_fwd_hops_est", "int", "ip_ttl_fwd_initial_est minus the initiator's first TTL: routers passed."),
  f("ip_tos_value", "int", "IPv4 ToS / IPv6 traffic class byte of the first packet."),
  f("ip_tos_unique_count", "int", "Distinct ToS / traffic class values seen."),
  f("ip_dscp", "int", "DSCP of the first packet (ToS >> 2)."),
  f("ip_ecn", "int", "ECN bits of the first packet (ToS & 3)."),
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
    if (p.ipVersion === 0) return;
    const ttl = p.ttl, tos = p.tos;
    if (ttl < s.ttlMin[dir]) s.ttlMin[dir] = ttl;
    if (ttl > s.ttlMax[dir]) s.ttlMax[dir] = ttl;
    s.ttlSum[dir] += ttl;
    s.ttlN[dir]++;
    const last = s.ttlLast[dir];
    if (last >= 0 && last !== ttl) s.ttlChanges[dir]++;
    s.ttlLast[dir] = ttl;
    if (s.firstTtl < 0 && dir === 0) s.firstTtl = ttl;
    if (s.firstTos < 0) s.firstTos = tos;
    s.tosSeen[tos >> 5] |= 1 << (tos & 31);
    if (p.ipVersion === 4) {
      s.v4++;
      const fl = p.ipFlags;
      s.flags |= fl;
      if (fl & 2) s.df++;
      const id = p.ipId, prev = s.idLast[dir];
      if (prev >= 0 && ((id - prev) & 0xffff) > 1) s.idGaps++;
      s.idLast[dir] = id;
    }
  },
  finish(s: IpExtendedState, flow: FlowState, out): void {
    const nf = s.ttlN[0], nb = s.ttlN[1];
    if (nf > 0) {
      out.ip_ttl_fwd_min = s.ttlMin[0];
      out.ip_ttl_fwd_max = s.ttlMax[0];
      out.ip_ttl_fwd_mean = s.ttlSum[0] / nf;
      out.ip_ttl_fwd_changes = s.ttlChanges[0];
      const init = s.firstTtl <= 64 ? 64 : s.firstTtl <= 128 ? 128 : 255;
      out.ip_ttl_fwd_initial_est = init;
      out.ip_ttl_fwd_hops_est = init - s.firstTtl;
    }
    if (nb > 0) {
      out.ip_ttl_bwd_min = s.ttlMin[1];
      out.ip_ttl_bwd_max = s.ttlMax[1];
      out.ip_ttl_bwd_mean = s.ttlSum[1] / nb;
      out.ip_ttl_bwd_changes = s.ttlChanges[1];
    }
    if (s.firstTos >= 0) {
      out.ip_tos_value = s.firstTos;
      let n = 0;
      for (const w of s.tosSeen) {
        for (let x = w; x !== 0; x &= x - 1) n++;
      }
      out.ip_tos_unique_count = n;
      out.ip_dscp = s.firstTos >> 2;
      out.ip_ecn = s.firstTos & 3;
    } else out.ip_tos_unique_count = 0;
    out.ip_flags = s.v4 > 0 ? s.flags : null;
    out.ip_df_count = s.df;
    const total = flow.packets[0] + flow.packets[1];
    out.ip_df_ratio = total > 0 ? s.df / total : null;
    out.ip_version = flow.ipVersion;
    out.ip_id_gaps = s.idGaps;
  },
};
