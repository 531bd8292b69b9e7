/**
 * `ipv6_options`: IPv6 header fields over the flow: packets per IP version, the flow label (which should stay
 * constant per direction) and the traffic class with its DSCP and ECN parts.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";

/** Distinct flow labels remembered per flow; the count stops growing there. */
const MAX_LABELS = 32;

/** Per-flow state of `ipv6_options`, for IPv6 flows (IPv4 flows have none: their packets are all IPv4). */
export class Ipv6OptionsState {
  v6 = 0;
  v4 = 0;
  firstLabel = -1;
  labels: number[] = [];
  lastLabel0 = -1;
  lastLabel1 = -1;
  labelChanges = 0;
  firstTc = -1;
  /** Traffic classes seen: 256 bits in eight 32-bit words. */
  tcSeen: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("ipv6_packet_count", "int", "Packets carried in IPv6 (the flow's own header)."),
  f("ipv4_packet_count", "int", "Packets carried in IPv4."),
  f("ipv6_flow_label", "int", "Flow label of the first IPv6 packet (null without IPv6)."),
  f("ipv6_flow_label_unique_count", "int", "Distinct flow labels seen (both directions, max 32)."),
  f("ipv6_flow_label_changes", "int", "Times a direction's flow label differed from its previous packet's."),
  f("ipv6_traffic_class", "int", "Traffic class of the first IPv6 packet."),
  f("ipv6_traffic_class_unique_count", "int", "Distinct traffic classes seen."),
  f("ipv6_dscp", "int", "DSCP of the first IPv6 packet (traffic class >> 2)."),
  f("ipv6_ecn", "int", "ECN bits of the first IPv6 packet (traffic class & 3)."),
  f("ipv6_ratio", "float", "ipv6_packet_count / (ipv6_packet_count + ipv4_packet_count)."),
  f("is_ipv6_only", "bool", "Every packet of the flow is IPv6."),
];

/**
 * The `ipv6_options` group. A flow's packets all have its IP version (the flow key holds it), so an IPv4 flow
 * needs no state: its counts come from the flow's packet count.
 *
 * @example
 * ```ts
 * import { ipv6OptionsExtractor } from "./ipv6_options.ts";
 * console.log(ipv6OptionsExtractor.features.length); // 11
 * ```
 */
export const ipv6OptionsExtractor: FeatureExtractor<Ipv6OptionsState | null> = {
  name: "ipv6_options",
  features,
  init: (flow: FlowState): Ipv6OptionsState | null => flow.ipVersion === 6 ? new Ipv6OptionsState() : null,
  update(s: Ipv6OptionsState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null) return;
    if (p.ipVersion === 4) {
      s.v4++;
      return;
    }
    if (p.ipVersion !== 6) return;
    s.v6++;
    const label = p.flowLabel, tc = p.tos;
    if (s.firstLabel < 0) {
      s.firstLabel = label;
      s.firstTc = tc;
    }
    const last = dir === 0 ? s.lastLabel0 : s.lastLabel1;
    if (last >= 0 && last !== label) s.labelChanges++;
    if (dir === 0) s.lastLabel0 = label;
    else s.lastLabel1 = label;
    if (last !== label && !s.labels.includes(label) && s.labels.length < MAX_LABELS) s.labels.push(label);
    s.tcSeen[tc >> 5] |= 1 << (tc & 31);
  },
  finish(s: Ipv6OptionsState | null, flow: FlowState, out): void {
    if (s === null) {
      const v4 = flow.ipVersion === 4 ? flow.packets[0] + flow.packets[1] : 0;
      out.ipv6_packet_count = 0;
      out.ipv4_packet_count = v4;
      out.ipv6_flow_label_unique_count = 0;
      out.ipv6_flow_label_changes = 0;
      out.ipv6_traffic_class_unique_count = 0;
      out.ipv6_ratio = v4 > 0 ? 0 : null;
      out.is_ipv6_only = false;
      return;
    }
    const total = s.v4 + s.v6;
    out.ipv6_packet_count = s.v6;
    out.ipv4_packet_count = s.v4;
    out.ipv6_flow_label_unique_count = s.labels.length;
    out.ipv6_flow_label_changes = s.labelChanges;
    let tcs = 0;
    for (const w of s.tcSeen) {
      for (let x = w; x !== 0; x &= x - 1) tcs++;
    }
    out.ipv6_traffic_class_unique_count = tcs;
    if (s.v6 > 0) {
      out.ipv6_flow_label = s.firstLabel;
      out.ipv6_traffic_class = s.firstTc;
      out.ipv6_dscp = s.firstTc >> 2;
      out.ipv6_ecn = s.firstTc & 3;
    }
    out.ipv6_ratio = total > 0 ? s.v6 / total : null;
    out.is_ipv6_only = total > 0 && s.v4 === 0;
  },
};
