/**
 * `flow_meta`: identification, counts, rates and the protocol stack of a flow (JoyfulJay's group of that name).
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { layerName, type PacketView, TCP } from "../lib/packet.ts";
import { ratio } from "../lib/stats.ts";

/** Per-flow state of `flow_meta`. */
export interface FlowMetaState {
  /** Layer stack of the first packet, e.g. "ETH-IP-TCP". */
  hdrDesc: string;
  /** Number of layers in it. */
  numHdrs: number;
  /** Tranalyzer-style status bits. */
  flowStat: number;
}

const TUNNEL_NAMES: Record<number, string> = { 4: "ipip", 41: "ip6ip", 47: "gre", 17: "udp" };

/** Port classes as JoyfulJay names them. */
export function portClass(port: number): "well_known" | "registered" | "dynamic" {
  return port < 1024 ? "well_known" : port < 49152 ? "registered" : "dynamic";
}

const features: FeatureSpec[] = [
  {
    name: "src_ip",
    type: "str",
    description: "Initiator address (sender of the first packet); IPv6 in RFC 5952 form.",
  },
  { name: "dst_ip", type: "str", description: "Responder address." },
  { name: "src_port", type: "int", description: "Initiator port (0 for protocols without ports)." },
  { name: "dst_port", type: "int", description: "Responder port (0 for protocols without ports)." },
  {
    name: "dst_port_class",
    type: "str",
    description: "well_known (0-1023), registered (1024-49151), dynamic.",
  },
  { name: "dst_port_class_num", type: "int", description: "0 well_known, 1 registered, 2 dynamic." },
  { name: "protocol", type: "int", description: "IP protocol number (6 TCP, 17 UDP, 1 ICMP, ...)." },
  { name: "start_time", type: "float", description: "Time of the first packet, seconds since the epoch." },
  {
    name: "end_time",
    type: "float",
    description: "Time of the last packet (the last to come, also when packets are stamped out of order), " +
      "seconds since the epoch.",
  },
  {
    name: "duration",
    type: "float",
    description:
      "end_time - start_time, seconds, exact: of the packets' own nanoseconds, not of the two doubles.",
  },
  { name: "total_packets", type: "int", description: "Packets in both directions." },
  { name: "packets_fwd", type: "int", description: "Packets from the initiator." },
  { name: "packets_bwd", type: "int", description: "Packets from the responder." },
  {
    name: "total_bytes",
    type: "int",
    description: "Sum of the packets' original lengths on the wire (frame length).",
  },
  { name: "bytes_fwd", type: "int", description: "Wire bytes from the initiator." },
  { name: "bytes_bwd", type: "int", description: "Wire bytes from the responder." },
  { name: "payload_bytes_fwd", type: "int", description: "Transport payload bytes from the initiator." },
  { name: "payload_bytes_bwd", type: "int", description: "Transport payload bytes from the responder." },
  { name: "payload_bytes_total", type: "int", description: "Transport payload bytes in both directions." },
  {
    name: "packets_ratio",
    type: "float",
    description: "packets_fwd / packets_bwd (null when no backward packet).",
  },
  { name: "bytes_ratio", type: "float", description: "bytes_fwd / bytes_bwd (null when no backward byte)." },
  {
    name: "packets_per_second",
    type: "float",
    description: "total_packets / duration (null unless duration is positive: packets stamped out of order " +
      "can make it negative).",
  },
  {
    name: "bytes_per_second",
    type: "float",
    description: "total_bytes / duration (null unless duration is positive).",
  },
  { name: "avg_packet_size", type: "float", description: "total_bytes / total_packets." },
  { name: "time_first", type: "float", description: "Alias of start_time (Tranalyzer)." },
  { name: "time_last", type: "float", description: "Alias of end_time (Tranalyzer)." },
  {
    name: "flow_stat",
    type: "int",
    description: "Bits: 0 SYN, 1 SYN-ACK, 2 FIN from initiator, 3 FIN from responder, 4 RST, 6 proper " +
      "termination (SYN and SYN-ACK seen, and FIN both ways or a RST).",
  },
  { name: "num_hdrs", type: "int", description: "Number of protocol layers of the first packet." },
  {
    name: "hdr_desc",
    type: "str",
    description: "Layer stack of the first packet, e.g. ETH-IP-TCP, ETH-VLAN-IP6-UDP, ETH-IP-PROTO50 (ESP).",
  },
  { name: "ip_version_flow", type: "int", description: "IP version of the flow's (inner) addresses." },
  { name: "flow_end_reason", type: "str", description: "idle, active, fin, rst, evicted or end (of input)." },
  {
    name: "tunnel_type",
    type: "str",
    description: "Tunnel the flow was carried in (gre, ipip, ip6ip, udp), else null.",
  },
  { name: "tunnel_src_ip", type: "str", description: "Outer source address of the first tunnelled packet." },
  {
    name: "tunnel_dst_ip",
    type: "str",
    description: "Outer destination address of the first tunnelled packet.",
  },
];

/**
 * The `flow_meta` group.
 *
 * @example
 * ```ts
 * import { flowMetaExtractor } from "./flow_meta.ts";
 * console.log(flowMetaExtractor.features.some((f) => f.name === "total_bytes")); // true
 * ```
 */
export const flowMetaExtractor: FeatureExtractor<FlowMetaState> = {
  name: "flow_meta",
  features,
  init(): FlowMetaState {
    return { hdrDesc: "", numHdrs: 0, flowStat: 0 };
  },
  update(s: FlowMetaState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s.numHdrs === 0) {
      const names: string[] = [];
      for (let i = 0; i < p.layerCount; i++) {
        names.push(layerName(p.layers[i], p.proto));
      }
      s.hdrDesc = names.join("-");
      s.numHdrs = p.layerCount;
    }
    if (p.proto === 6) {
      const fl = p.tcpFlags;
      if (fl & TCP.SYN) s.flowStat |= fl & TCP.ACK ? 2 : 1;
      if (fl & TCP.FIN) s.flowStat |= dir === 0 ? 4 : 8;
      if (fl & TCP.RST) s.flowStat |= 16;
    }
  },
  finish(s: FlowMetaState, f: FlowState, out): void {
    const pf = f.packets0, pb = f.packets1, bf = f.bytes0, bb = f.bytes1;
    const total = pf + pb, bytes = bf + bb;
    // From the first packet to the last, in the order they came (JoyfulJay's last_seen - start_time).
    const duration = (f.lastPacketNs - f.firstNs) / 1e9;
    const cls = portClass(f.dstPort);
    out.src_ip = f.srcIp;
    out.dst_ip = f.dstIp;
    out.src_port = f.srcPort;
    out.dst_port = f.dstPort;
    out.dst_port_class = cls;
    out.dst_port_class_num = cls === "well_known" ? 0 : cls === "registered" ? 1 : 2;
    out.protocol = f.protocol;
    out.start_time = f.firstTs;
    out.end_time = f.lastPacketTs;
    out.duration = duration;
    out.total_packets = total;
    out.packets_fwd = pf;
    out.packets_bwd = pb;
    out.total_bytes = bytes;
    out.bytes_fwd = bf;
    out.bytes_bwd = bb;
    out.payload_bytes_fwd = f.payloadBytes0;
    out.payload_bytes_bwd = f.payloadBytes1;
    out.payload_bytes_total = f.payloadBytes0 + f.payloadBytes1;
    out.packets_ratio = ratio(pf, pb);
    out.bytes_ratio = ratio(bf, bb);
    // A negative duration (the last packet stamped before the first) gives no rate.
    out.packets_per_second = duration > 0 ? ratio(total, duration) : null;
    out.bytes_per_second = duration > 0 ? ratio(bytes, duration) : null;
    out.avg_packet_size = ratio(bytes, total);
    out.time_first = f.firstTs;
    out.time_last = f.lastPacketTs;
    // Proper termination (JoyfulJay's bit 6): a handshake seen, then FIN both ways or a RST.
    const st = s.flowStat;
    out.flow_stat = (st & 3) === 3 && ((st & 12) === 12 || (st & 16) !== 0) ? st | 64 : st;
    out.num_hdrs = s.numHdrs;
    out.hdr_desc = s.hdrDesc;
    out.ip_version_flow = f.ipVersion;
    out.flow_end_reason = f.endReason;
    out.tunnel_type = f.tunnelType !== 0 ? TUNNEL_NAMES[f.tunnelType] ?? String(f.tunnelType) : null;
    out.tunnel_src_ip = f.tunnelType !== 0 ? f.tunnelSrc : null;
    out.tunnel_dst_ip = f.tunnelType !== 0 ? f.tunnelDst : null;
  },
};
