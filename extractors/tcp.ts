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
  /** Packets with each flag bit set, FIN to CWR: fields, not an array of their own, which each packet would
   * reach through two more memory loads (cache misses, among many flows). */
  fin = 0;
  syn = 0;
  rst = 0;
  psh = 0;
  ack = 0;
  urg = 0;
  ece = 0;
  cwr = 0;
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
    // Unrolled: a loop over the bits cost more than the rest of the update.
    if (fl & 0x01) s.fin++;
    if (fl & 0x02) s.syn++;
    if (fl & 0x04) s.rst++;
    if (fl & 0x08) s.psh++;
    if (fl & 0x10) s.ack++;
    if (fl & 0x20) s.urg++;
    if (fl & 0x40) s.ece++;
    if (fl & 0x80) s.cwr++;
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
    const n = s.packets;
    out.tcp_syn_count = s.synOnly;
    out.tcp_synack_count = s.synAck;
    out.tcp_fin_count = s.fin;
    out.tcp_rst_count = s.rst;
    out.tcp_ack_count = s.ack;
    out.tcp_psh_count = s.psh;
    out.tcp_urg_count = s.urg;
    out.tcp_ece_count = s.ece;
    out.tcp_cwr_count = s.cwr;
    out.tcp_complete_handshake = s.initiatorSyn && s.responderSynAck;
    out.tcp_graceful_close = s.fin0 && s.fin1;
    out.tcp_reset_close = s.rst > 0;
    out.tcp_syn_ratio = ratio(s.syn, n);
    out.tcp_fin_ratio = ratio(s.fin, n);
    out.tcp_rst_ratio = ratio(s.rst, n);
    out.tcp_psh_ratio = ratio(s.psh, n);
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
    if (s.ack > s.synAck) fstat |= 4;
    if (s.fin0) fstat |= 8;
    if (s.fin1) fstat |= 16;
    if (s.rst > 0) fstat |= 32;
    if (s.dataPackets > 0) fstat |= 64;
    if (s.anomaly) fstat |= 128;
    out.tcp_fstat = fstat;
    out.tcp_flags_agg = s.flags0 | s.flags1;
    out.tcp_flags_fwd = s.flags0;
    out.tcp_flags_bwd = s.flags1;
  },
};
