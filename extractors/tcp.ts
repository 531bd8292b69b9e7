/**
 * `tcp`: flag counts and ratios, handshake and close, data and pure-ACK packets, anomalous flag combinations,
 * and Tranalyzer-style aggregate flags. For flows that are not TCP every value but `tcp_is_tcp` is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { ratio } from "../lib/stats.ts";

/** Per-flow state of `tcp`. */
export class TcpState {
  /** Packets with each flag bit set (index = bit number). */
  flagCounts: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  synOnly = 0;
  synAck = 0;
  dataPackets = 0;
  ackOnly = 0;
  anomaly = false;
  initiatorSyn = false;
  responderSynAck = false;
  /** Flag bits seen (OR of the packets' flags) and FIN seen, per direction. */
  flags0 = 0;
  flags1 = 0;
  fin0 = false;
  fin1 = false;
  packets = 0;
}

const f = (name: string, type: "int" | "float" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "tcp_is_tcp",
    "bool",
    "True for TCP flows. The group's counts are over the packets that carry a whole TCP header (20 bytes or " +
      "more): not the later fragments of a fragmented segment, nor a first fragment cut inside its header.",
  ),
  f("tcp_syn_count", "int", "Packets with SYN and without ACK."),
  f("tcp_synack_count", "int", "Packets with SYN and ACK."),
  f("tcp_fin_count", "int", "Packets with FIN."),
  f("tcp_rst_count", "int", "Packets with RST."),
  f("tcp_ack_count", "int", "Packets with ACK."),
  f("tcp_psh_count", "int", "Packets with PSH."),
  f("tcp_urg_count", "int", "Packets with URG."),
  f("tcp_ece_count", "int", "Packets with ECE."),
  f("tcp_cwr_count", "int", "Packets with CWR."),
  f("tcp_complete_handshake", "bool", "SYN from the initiator and SYN-ACK from the responder were seen."),
  f("tcp_graceful_close", "bool", "Both sides sent FIN."),
  f("tcp_reset_close", "bool", "A RST was seen."),
  f("tcp_syn_ratio", "float", "Share of packets with SYN."),
  f("tcp_fin_ratio", "float", "Share of packets with FIN."),
  f("tcp_rst_ratio", "float", "Share of packets with RST."),
  f("tcp_psh_ratio", "float", "Share of packets with PSH."),
  f("tcp_data_packets", "int", "Packets with a non-empty payload."),
  f("tcp_ack_only_packets", "int", "Packets with ACK, no payload and no SYN, FIN or RST."),
  f(
    "tcp_flags_anomaly",
    "bool",
    "A null, XMAS (FIN+PSH+URG), SYN+FIN, SYN+RST or FIN-without-ACK (FIN scan) packet was seen.",
  ),
  f("tcp_initiator_syn", "bool", "The initiator sent a SYN."),
  f("tcp_responder_synack", "bool", "The responder sent a SYN-ACK."),
  f(
    "tcp_fstat",
    "int",
    "Bits: 0 SYN from the initiator, 1 SYN-ACK from the responder, 2 ACK beyond the handshake (more ACK " +
      "packets than SYN-ACKs), 3 FIN fwd, 4 FIN bwd, 5 RST, 6 data, 7 anomaly.",
  ),
  f("tcp_flags_agg", "int", "OR of all TCP flags of the flow (nine bits: AE, formerly NS, is 256)."),
  f("tcp_flags_fwd", "int", "OR of the initiator's TCP flags."),
  f("tcp_flags_bwd", "int", "OR of the responder's TCP flags."),
];

/**
 * The `tcp` group.
 *
 * @example
 * ```ts
 * import { tcpExtractor } from "./tcp.ts";
 * console.log(tcpExtractor.features[0].name); // tcp_is_tcp
 * ```
 */
export const tcpExtractor: FeatureExtractor<TcpState | null> = {
  name: "tcp",
  features,
  init: (flow: FlowState): TcpState | null => flow.protocol === 6 ? new TcpState() : null,
  update(s: TcpState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen === 0) return;
    const fl = p.tcpFlags;
    s.packets++;
    const c = s.flagCounts;
    // Unrolled: a loop over the bits cost more than the rest of the update.
    if (fl & 0x01) c[0]++;
    if (fl & 0x02) c[1]++;
    if (fl & 0x04) c[2]++;
    if (fl & 0x08) c[3]++;
    if (fl & 0x10) c[4]++;
    if (fl & 0x20) c[5]++;
    if (fl & 0x40) c[6]++;
    if (fl & 0x80) c[7]++;
    if (dir === 0) s.flags0 |= fl;
    else s.flags1 |= fl;
    if (fl & TCP.SYN) {
      if (fl & TCP.ACK) {
        s.synAck++;
        if (dir === 1) s.responderSynAck = true;
      } else {
        s.synOnly++;
        if (dir === 0) s.initiatorSyn = true;
      }
    }
    if (p.payloadLen > 0) s.dataPackets++;
    else if ((fl & (TCP.ACK | TCP.SYN | TCP.FIN | TCP.RST)) === TCP.ACK) s.ackOnly++;
    if (
      fl === 0 || (fl & (TCP.FIN | TCP.PSH | TCP.URG)) === (TCP.FIN | TCP.PSH | TCP.URG) ||
      (fl & (TCP.SYN | TCP.FIN)) === (TCP.SYN | TCP.FIN) ||
      (fl & (TCP.SYN | TCP.RST)) === (TCP.SYN | TCP.RST) ||
      (fl & (TCP.FIN | TCP.ACK | TCP.SYN)) === TCP.FIN
    ) s.anomaly = true;
    if (fl & TCP.FIN) {
      if (dir === 0) s.fin0 = true;
      else s.fin1 = true;
    }
  },
  finish(s: TcpState | null, _flow: FlowState, out): void {
    out.tcp_is_tcp = s !== null;
    if (s === null) return; // the record starts with every feature null
    const c = s.flagCounts, n = s.packets;
    out.tcp_syn_count = s.synOnly;
    out.tcp_synack_count = s.synAck;
    out.tcp_fin_count = c[0];
    out.tcp_rst_count = c[2];
    out.tcp_ack_count = c[4];
    out.tcp_psh_count = c[3];
    out.tcp_urg_count = c[5];
    out.tcp_ece_count = c[6];
    out.tcp_cwr_count = c[7];
    out.tcp_complete_handshake = s.initiatorSyn && s.responderSynAck;
    out.tcp_graceful_close = s.fin0 && s.fin1;
    out.tcp_reset_close = c[2] > 0;
    out.tcp_syn_ratio = ratio(c[1], n);
    out.tcp_fin_ratio = ratio(c[0], n);
    out.tcp_rst_ratio = ratio(c[2], n);
    out.tcp_psh_ratio = ratio(c[3], n);
    out.tcp_data_packets = s.dataPackets;
    out.tcp_ack_only_packets = s.ackOnly;
    out.tcp_flags_anomaly = s.anomaly;
    out.tcp_initiator_syn = s.initiatorSyn;
    out.tcp_responder_synack = s.responderSynAck;
    let fstat = 0;
    // JoyfulJay's bits 0 and 1: the handshake's own SYN and SYN-ACK (a SYN from the responder is not one).
    if (s.initiatorSyn) fstat |= 1;
    if (s.responderSynAck) fstat |= 2;
    // An ACK outside the handshake: ACK packets beyond the SYN+ACKs.
    if (c[4] > s.synAck) fstat |= 4;
    if (s.fin0) fstat |= 8;
    if (s.fin1) fstat |= 16;
    if (c[2] > 0) fstat |= 32;
    if (s.dataPackets > 0) fstat |= 64;
    if (s.anomaly) fstat |= 128;
    out.tcp_fstat = fstat;
    out.tcp_flags_agg = s.flags0 | s.flags1;
    out.tcp_flags_fwd = s.flags0;
    out.tcp_flags_bwd = s.flags1;
  },
};
