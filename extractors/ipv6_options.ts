/**
 * `ipv6_options`: IPv6 header fields over the flow: packets per IP version, the flow label (which should stay
 * constant per direction) and the traffic class with its DSCP and ECN parts.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { ByteSet } from "../lib/byte_set.ts";

/** Distinct flow labels remembered per flow; the count stops growing there. */
const MAX_LABELS = 32;

/** Per-flow state of `ipv6_options`, for IPv6 flows (IPv4 flows have none: their packets are all IPv4). */
export class Ipv6OptionsState {
  v6 = 0;
  v4 = 0;
  /** The smallest flow label (JoyfulJay's ipv6_flow_label), and the distinct ones (up to MAX_LABELS). */
  minLabel = -1;
  labels: number[] = [];
  lastLabel = -1;
  /** Traffic classes seen. */
  trafficClasses: ByteSet = new ByteSet();
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("ipv6_packet_count", "int", "Packets carried in IPv6 (the flow's own header)."),
  f("ipv4_packet_count", "int", "Packets carried in IPv4."),
  f(
    "ipv6_flow_label",
    "int",
    "Smallest flow label of the flow's IPv6 packets, as JoyfulJay (null without IPv6).",
  ),
  f("ipv6_flow_label_unique_count", "int", "Distinct flow labels seen (both directions, max 32)."),
  f(
    "ipv6_flow_label_changes",
    "int",
    "ipv6_flow_label_unique_count minus one (JoyfulJay's count of label changes).",
  ),
  f("ipv6_traffic_class", "int", "Smallest traffic class of the flow's IPv6 packets, as JoyfulJay."),
  f("ipv6_traffic_class_unique_count", "int", "Distinct traffic classes seen."),
  f("ipv6_dscp", "int", "DSCP of ipv6_traffic_class (traffic class >> 2)."),
  f("ipv6_ecn", "int", "ECN bits of ipv6_traffic_class (traffic class & 3)."),
  f("ipv6_ratio", "float", "ipv6_packet_count / (ipv6_packet_count + ipv4_packet_count)."),
  f("is_ipv6_only", "int", "1 when every packet of the flow is IPv6, else 0 (JoyfulJay's integer flag)."),
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
  update(s: Ipv6OptionsState | null, p: PacketView): void {
    if (s === null) return;
    // A later fragment of a tunnel's outer datagram carries the rest of this flow's IPv6 packet, but no header
    // of it: its header fields are the outer one's. It counts as the flow's, as an IPv4 flow's does.
    if (p.addrBuf !== null) {
      s.v6++;
      return;
    }
    if (p.ipVersion === 4) {
      s.v4++;
      return;
    }
    if (p.ipVersion !== 6) return;
    s.v6++;
    const label = p.flowLabel, tc = p.tos;
    if (s.minLabel < 0 || label < s.minLabel) s.minLabel = label;
    // Most packets repeat the previous label: the list is searched only on a change.
    if (label !== s.lastLabel && !s.labels.includes(label) && s.labels.length < MAX_LABELS) {
      s.labels.push(label);
    }
    s.lastLabel = label;
    s.trafficClasses.add(tc);
  },
  finish(s: Ipv6OptionsState | null, flow: FlowState, out): void {
    if (s === null) {
      const v4 = flow.ipVersion === 4 ? flow.packets0 + flow.packets1 : 0;
      out.ipv6_packet_count = 0;
      out.ipv4_packet_count = v4;
      out.ipv6_flow_label_unique_count = 0;
      out.ipv6_flow_label_changes = 0;
      out.ipv6_traffic_class_unique_count = 0;
      out.ipv6_ratio = v4 > 0 ? 0 : null;
      out.is_ipv6_only = 0;
      return;
    }
    const total = s.v4 + s.v6;
    out.ipv6_packet_count = s.v6;
    out.ipv4_packet_count = s.v4;
    out.ipv6_flow_label_unique_count = s.labels.length;
    out.ipv6_flow_label_changes = Math.max(0, s.labels.length - 1);
    out.ipv6_traffic_class_unique_count = s.trafficClasses.size;
    if (s.v6 > 0) {
      const minTc = s.trafficClasses.min();
      out.ipv6_flow_label = s.minLabel;
      out.ipv6_traffic_class = minTc;
      out.ipv6_dscp = minTc >> 2;
      out.ipv6_ecn = minTc & 3;
    }
    out.ipv6_ratio = total > 0 ? s.v6 / total : null;
    out.is_ipv6_only = total > 0 && s.v4 === 0 ? 1 : 0;
  },
};
