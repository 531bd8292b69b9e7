/**
 * `tcp_mptcp`: Multipath TCP (RFC 8684): MPTCP options (TCP option kind 30) and the MP_CAPABLE handshake of each
 * side. For flows that are not TCP every value is null.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { readTcpOptions } from "./tcp_options.ts";

/** MPTCP option subtypes. */
const MP_CAPABLE = 0, MP_JOIN = 1, DSS = 2, ADD_ADDR = 3, MP_FASTCLOSE = 7;

/** Per-flow state of `tcp_mptcp`. */
export class TcpMptcpState {
  packets = 0;
  /** MP_CAPABLE in the initiator's SYN and in the responder's SYN-ACK. */
  capableFwd = false;
  capableBwd = false;
  /** MP_JOIN in the initiator's SYN and in the responder's SYN-ACK. */
  joinedFwd = false;
  joinedBwd = false;
  subtypes = 0;
}

const f = (name: string, type: "int" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "mptcp_detected",
    "int",
    "1 when an MPTCP option (TCP option kind 30) was seen, else 0 (JoyfulJay's integer flag).",
  ),
  f("mptcp_capable_fwd", "int", "1 when the initiator's SYN carried MP_CAPABLE, else 0."),
  f("mptcp_capable_bwd", "int", "1 when the responder's SYN-ACK carried MP_CAPABLE, else 0."),
  f("mptcp_option_count", "int", "Packets carrying an MPTCP option."),
  f(
    "mptcp_stat",
    "int",
    "Bits: 0 MPTCP seen, 1 initiator MP_CAPABLE, 2 responder MP_CAPABLE, 3 both, 4 MP_JOIN, 5 DSS, " +
      "6 ADD_ADDR, 7 MP_FASTCLOSE.",
  ),
  f(
    "is_mptcp",
    "int",
    "1 for an MPTCP connection (both SYNs carried MP_CAPABLE, or an MP_JOIN subflow handshake), else 0.",
  ),
];

/**
 * The `tcp_mptcp` group.
 *
 * @example
 * ```ts
 * import { tcpMptcpExtractor } from "./tcp_mptcp.ts";
 * console.log(tcpMptcpExtractor.name); // tcp_mptcp
 * ```
 */
export const tcpMptcpExtractor: FeatureExtractor<TcpMptcpState | null> = {
  name: "tcp_mptcp",
  features,
  init: (flow: FlowState): TcpMptcpState | null => flow.protocol === 6 ? new TcpMptcpState() : null,
  update(s: TcpMptcpState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen <= 20) return;
    const o = readTcpOptions(p);
    if (o.mptcpCount === 0) return;
    s.packets++;
    const mask = o.mptcpSubtypes;
    s.subtypes |= mask;
    if (p.tcpFlags & TCP.SYN) {
      const synAck = (p.tcpFlags & TCP.ACK) !== 0;
      const capable = (mask & (1 << MP_CAPABLE)) !== 0, join = (mask & (1 << MP_JOIN)) !== 0;
      if (dir === 0 && !synAck) {
        s.capableFwd ||= capable;
        s.joinedFwd ||= join;
      } else if (dir === 1 && synAck) {
        s.capableBwd ||= capable;
        s.joinedBwd ||= join;
      }
    }
  },
  finish(s: TcpMptcpState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const fwd = s.capableFwd, bwd = s.capableBwd;
    const join = (s.subtypes & (1 << MP_JOIN)) !== 0;
    const joinHandshake = s.joinedFwd && s.joinedBwd;
    let stat = 0;
    if (s.packets > 0) stat |= 1;
    if (fwd) stat |= 2;
    if (bwd) stat |= 4;
    if (fwd && bwd) stat |= 8;
    if (join) stat |= 16;
    if (s.subtypes & (1 << DSS)) stat |= 32;
    if (s.subtypes & (1 << ADD_ADDR)) stat |= 64;
    if (s.subtypes & (1 << MP_FASTCLOSE)) stat |= 128;
    out.mptcp_detected = s.packets > 0 ? 1 : 0;
    out.mptcp_capable_fwd = fwd ? 1 : 0;
    out.mptcp_capable_bwd = bwd ? 1 : 0;
    out.mptcp_option_count = s.packets;
    out.mptcp_stat = stat;
    out.is_mptcp = (fwd && bwd) || joinHandshake ? 1 : 0;
  },
};
