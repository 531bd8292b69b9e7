/**
 * Per-flow state kept by the flow table. Counters here are the ones every group needs; each feature group keeps
 * its own state in `groupState`.
 *
 * @module
 */

/**
 * Why a flow left the table.
 *
 * @example
 * ```ts
 * import type { EndReason } from "./flow.ts";
 * import { extractFlows } from "./extract.ts";
 * const reasons: EndReason[] = [];
 * const flows = extractFlows("testdata/http.pcap", { tcpEnd: true, onFlowEnd: (f) => reasons.push(f.endReason) });
 * for await (const _ of flows) {
 *   // each record
 * }
 * console.log(reasons.length > 0); // true
 * ```
 */
export type EndReason = "idle" | "active" | "fin" | "rst" | "evicted" | "end";

/**
 * One bidirectional flow. The initiator (direction 0) is the sender of the flow's first packet.
 *
 * @example
 * ```ts
 * import { FlowState } from "./flow.ts";
 * const f = new FlowState();
 * console.log(f.packets[0] + f.packets[1]); // 0
 * ```
 */
export class FlowState {
  /** Canonical key words (see FlowTable), compared on lookup: fields of the flow rather than an array of its
   * own, which a lookup would reach through one more memory load (a cache miss, among many flows). */
  k0 = 0;
  /** Key word 1 (see `k0`). */
  k1 = 0;
  /** Key word 2. */
  k2 = 0;
  /** Key word 3. */
  k3 = 0;
  /** Key word 4. */
  k4 = 0;
  /** Key word 5. */
  k5 = 0;
  /** Key word 6. */
  k6 = 0;
  /** Key word 7. */
  k7 = 0;
  /** Key word 8. */
  k8 = 0;
  /** Key word 9. */
  k9 = 0;
  /** Hash of the key. */
  hash = 0;
  /** IP version (4 or 6). */
  ipVersion = 4;
  /** Transport protocol number. */
  protocol = 0;
  /** Initiator and responder addresses, as text (RFC 5952 for IPv6). */
  srcIp = "";
  /** Responder address, as text. */
  dstIp = "";
  /** Initiator and responder ports (0 for protocols without ports). */
  srcPort = 0;
  /** Responder port (0 for protocols without ports). */
  dstPort = 0;
  /** Whether the initiator is the canonical key's first endpoint (gives each packet's direction). */
  srcIsA = true;

  /** First packet time, seconds. */
  firstTs = 0;
  /** Latest packet time, seconds (what timeouts count from). */
  lastTs = 0;
  /**
   * The last packet's time, seconds: JoyfulJay's `last_seen`, the end of `duration`. Behind `lastTs` when
   * packets are stamped out of order.
   */
  lastPacketTs = 0;
  /** The first packet's whole second: what its packets' `PacketView.tsNs` count from. */
  originSec = 0;
  /** The first and the last packet's `PacketView.tsNs`: exact nanoseconds, for the duration. */
  firstNs = 0;
  /** The latest packet time as `PacketView.tsNs`: what timeouts count from, exactly (`lastTs` as a double). */
  lastNs = 0;
  /** The last packet's `PacketView.tsNs`. */
  lastPacketNs = 0;
  /** The initiator's packets (direction 0): counted in fields of the flow, not arrays of their own, which each
   * packet would reach through more memory loads (cache misses, among many flows). */
  packets0 = 0;
  /** The responder's packets. */
  packets1 = 0;
  /** The initiator's wire bytes. */
  bytes0 = 0;
  /** The responder's wire bytes. */
  bytes1 = 0;
  /** The initiator's transport payload bytes (by header lengths). */
  payloadBytes0 = 0;
  /** The responder's transport payload bytes. */
  payloadBytes1 = 0;

  /** Packets per direction: a new array of `packets0` and `packets1` at each read (the counts then, not kept up
   * to date; the table's counts are not written through it). */
  get packets(): readonly [number, number] {
    return [this.packets0, this.packets1];
  }
  /** Wire bytes per direction (a new array at each read, as `packets`). */
  get bytes(): readonly [number, number] {
    return [this.bytes0, this.bytes1];
  }
  /** Transport payload bytes per direction (a new array at each read, as `packets`). */
  get payloadBytes(): readonly [number, number] {
    return [this.payloadBytes0, this.payloadBytes1];
  }
  /** The canonical key words `k0` to `k9` (a new array at each read). */
  get key(): readonly number[] {
    return [this.k0, this.k1, this.k2, this.k3, this.k4, this.k5, this.k6, this.k7, this.k8, this.k9];
  }
  /** FIN seen per direction, RST seen; used for the optional end on FIN/RST. */
  finSeen = 0;
  /** FIN acknowledged per direction (the other side's ACK number passed it). */
  finAcked = 0;
  /** The sequence number just past each direction's FIN, which its acknowledgement reaches. */
  finEnd0 = 0;
  /** The sequence number just past the responder's FIN. */
  finEnd1 = 0;
  /** RST seen in either direction. */
  rstSeen = false;
  /** Why the flow ended. */
  endReason: EndReason = "end";
  /** Ended ("end") because the capture's clock stepped back, before the packet that stepped it was counted. */
  endedByStepBack = false;
  /** When the flow's timeout fell due (`idle`: last packet + idle timeout; `active`: first packet + active
   * timeout); Infinity for the other reasons. */
  endTime: number = Infinity;
  /** Positions of the flow's first and last packet among the packets read: the table ends flows whose timeouts
   * fall due together by last activity (idle, end of input) or by creation (active), and these numbers let
   * parallel shards reproduce that order (see `flowEndOrder`). */
  firstPacket = 0;
  /** Position of the flow's last packet among the packets read. */
  lastPacket = 0;
  /** The number of the flow's first packet in its input (the packets a filter left out counted too): where a
   * user extractor's error points. */
  firstFrame = 0;
  /** The name of the input the flow began in (empty in a live capture). */
  firstInput = "";
  /** Tunnel the flow was carried in (0 none), and its outer endpoints as text. */
  tunnelType = 0;
  /** Outer source address of the tunnel, as text. */
  tunnelSrc = "";
  /** Outer destination address of the tunnel, as text. */
  tunnelDst = "";

  /** Per-group state, indexed like the pipeline's extractor list. */
  groupState: unknown[] = [];

  /** Intrusive lists: by last activity (LRU) and by creation time. */
  lruPrev: FlowState | null = null;
  /** Next flow by last activity. */
  lruNext: FlowState | null = null;
  /** Previous flow by creation time. */
  agePrev: FlowState | null = null;
  /** Next flow by creation time. */
  ageNext: FlowState | null = null;
  /** Next flow in the same hash bucket. */
  bucketNext: FlowState | null = null;
}
