/**
 * `mac`: the Ethernet layer of a flow: addresses and EtherType of its first packet, VLAN tags, how many MAC
 * addresses each side used, broadcast and multicast frames. For flows captured without Ethernet headers (raw
 * IP, loopback, Linux cooked) the values are null and the counts 0.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";

/** Distinct MAC addresses and VLAN ids remembered per flow; counts stop growing there. */
const MAX_DISTINCT = 32;

/** Per-flow state of `mac`. MAC addresses are kept as two numbers: the first 2 bytes and the last 4. */
export class MacState {
  first = true;
  src = "";
  dst = "";
  ethType = -1;
  ethernet = false;
  /** The first address seen on the initiator's (0) and responder's (1) side: high and low parts (-1 none). */
  hi0 = -1;
  lo0 = -1;
  hi1 = -1;
  lo1 = -1;
  /** Further distinct addresses per side as (high, low) pairs, created when a side uses a second one. */
  more: (number[] | null)[] | null = null;
  vlans: number[] | null = null;
  broadcast = 0;
  multicast = 0;
}

const f = (name: string, type: "int" | "str", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("mac_src", "str", "Source MAC address of the first packet (the initiator's side), aa:bb:cc:dd:ee:ff."),
  f("mac_dst", "str", "Destination MAC address of the first packet."),
  f("mac_eth_type", "int", "EtherType of the first packet after any VLAN tags (0x0800 IPv4, 0x86dd IPv6)."),
  f("mac_vlan_id", "int", "Smallest (innermost-tag) VLAN id seen, null when untagged."),
  f("mac_vlan_count", "int", "Number of distinct VLAN ids seen (0 when untagged)."),
  f(
    "mac_unique_src_count",
    "int",
    "Distinct MAC addresses on the initiator's side: source of its packets, destination of replies (max 32).",
  ),
  f("mac_unique_dst_count", "int", "Distinct MAC addresses on the responder's side (max 32)."),
  f(
    "mac_stat",
    "int",
    "Bits: 0 source MAC present, 1 destination MAC present, 2 several MACs on the initiator's side, " +
      "3 several on the responder's side, 4 VLAN tagged.",
  ),
  f("mac_broadcast_count", "int", "Frames sent to ff:ff:ff:ff:ff:ff."),
  f("mac_multicast_count", "int", "Frames sent to a multicast MAC (group bit set, broadcast excluded)."),
];

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, "0"));

function macText(b: Uint8Array, o: number): string {
  return `${HEX[b[o]]}:${HEX[b[o + 1]]}:${HEX[b[o + 2]]}:${HEX[b[o + 3]]}:${HEX[b[o + 4]]}:${HEX[b[o + 5]]}`;
}

function remember(s: MacState, side: number, b: Uint8Array, o: number): void {
  const hi = (b[o] << 8) | b[o + 1];
  const lo = ((b[o + 2] << 24) | (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5]) >>> 0;
  if (side === 0) {
    if (s.hi0 < 0) {
      s.hi0 = hi;
      s.lo0 = lo;
      return;
    }
    if (s.hi0 === hi && s.lo0 === lo) return;
  } else {
    if (s.hi1 < 0) {
      s.hi1 = hi;
      s.lo1 = lo;
      return;
    }
    if (s.hi1 === hi && s.lo1 === lo) return;
  }
  const more = s.more ??= [null, null];
  const a = more[side] ??= [];
  for (let i = 0; i < a.length; i += 2) if (a[i] === hi && a[i + 1] === lo) return;
  if (a.length < 2 * (MAX_DISTINCT - 1)) a.push(hi, lo);
}

/** Distinct addresses seen on a side. */
function sideCount(s: MacState, side: number): number {
  const first = side === 0 ? s.hi0 : s.hi1;
  if (first < 0) return 0;
  const a = s.more === null ? null : s.more[side];
  return 1 + (a === null ? 0 : a.length / 2);
}

/**
 * The `mac` group.
 *
 * @example
 * ```ts
 * import { macExtractor } from "./mac.ts";
 * console.log(macExtractor.name); // mac
 * ```
 */
export const macExtractor: FeatureExtractor<MacState> = {
  name: "mac",
  features,
  init: (): MacState => new MacState(),
  update(s: MacState, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    const o = p.macOff;
    if (s.first) {
      s.first = false;
      s.ethType = p.ethType;
      if (o >= 0) {
        s.ethernet = true;
        s.dst = macText(p.buf, o);
        s.src = macText(p.buf, o + 6);
      }
    }
    if (o < 0) return;
    s.ethernet = true;
    const b = p.buf;
    // Destination at o, source at o + 6; the initiator's side is the source of its packets.
    remember(s, dir, b, o + 6);
    remember(s, 1 - dir, b, o);
    if (b[o] & 1) {
      if (
        b[o] === 0xff && b[o + 1] === 0xff && b[o + 2] === 0xff && b[o + 3] === 0xff && b[o + 4] === 0xff &&
        b[o + 5] === 0xff
      ) s.broadcast++;
      else s.multicast++;
    }
    if (p.vlanCount > 0 && p.vlanId >= 0) {
      const v = s.vlans ??= [];
      if (!v.includes(p.vlanId) && v.length < MAX_DISTINCT) v.push(p.vlanId);
    }
  },
  finish(s: MacState, _flow: FlowState, out): void {
    const n0 = sideCount(s, 0), n1 = sideCount(s, 1), vlans = s.vlans ?? [];
    out.mac_src = s.src !== "" ? s.src : null;
    out.mac_dst = s.dst !== "" ? s.dst : null;
    out.mac_eth_type = s.ethernet && s.ethType > 0 ? s.ethType : null;
    out.mac_vlan_id = vlans.length > 0 ? Math.min(...vlans) : null;
    out.mac_vlan_count = vlans.length;
    out.mac_unique_src_count = n0;
    out.mac_unique_dst_count = n1;
    let stat = 0;
    if (s.src !== "") stat |= 1;
    if (s.dst !== "") stat |= 2;
    if (n0 > 1) stat |= 4;
    if (n1 > 1) stat |= 8;
    if (vlans.length > 0) stat |= 16;
    out.mac_stat = stat;
    out.mac_broadcast_count = s.broadcast;
    out.mac_multicast_count = s.multicast;
  },
};
