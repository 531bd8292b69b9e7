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

/** Per-flow state of `mac`. An address is kept as three 16-bit parts (small integers, cheap to compare), or as
 * one 48-bit number in the lists of further addresses. */
export class MacState {
  first = true;
  src = "";
  dst = "";
  ethType = -1;
  ethernet = false;
  /** The first address seen on the initiator's (0) and responder's (1) side (set with `ethernet`). */
  a0 = 0;
  b0 = 0;
  c0 = 0;
  a1 = 0;
  b1 = 0;
  c1 = 0;
  /** Further distinct addresses per side, created when a side uses a second one. */
  more0: number[] | null = null;
  more1: number[] | null = null;
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
  f(
    "mac_src",
    "str",
    "Source MAC address of the first packet (the initiator's side), aa:bb:cc:dd:ee:ff (with anonymize_ips, " +
      "16 hex digits of SHA-256(salt + address), as the IP addresses).",
  ),
  f("mac_dst", "str", "Destination MAC address of the first packet (hashed as mac_src with anonymize_ips)."),
  f(
    "mac_eth_type",
    "int",
    "EtherType of the first packet's Ethernet header (the one of mac_src), after its VLAN tags (0x0800 IPv4, " +
      "0x86dd IPv6).",
  ),
  f(
    "mac_vlan_id",
    "int",
    "Smallest VLAN id seen (the innermost tag of the first Ethernet header, the one whose addresses are mac_src " +
      "and mac_dst: the link's own, or on a link without one, such as raw IP or Linux cooked, a tunnelled " +
      "frame's; the tags of a frame tunnelled inside it are not counted), null when untagged.",
  ),
  f("mac_vlan_count", "int", "Number of distinct VLAN ids seen, counted up to 32 (0 when untagged)."),
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

/** Texts of recent addresses, direct-mapped by their parts: a capture has few distinct MACs, and most flows
 * repeat them. */
const TEXT_SLOTS = 256;
const TEXT_KEYS: number[] = new Array(3 * TEXT_SLOTS).fill(-1);
const TEXTS: string[] = new Array(TEXT_SLOTS).fill("");

function macText(b: Uint8Array, o: number): string {
  const x = (b[o] << 8) | b[o + 1], y = (b[o + 2] << 8) | b[o + 3], z = (b[o + 4] << 8) | b[o + 5];
  const slot = (x ^ y ^ z ^ (z >> 8)) & (TEXT_SLOTS - 1), k = 3 * slot;
  if (TEXT_KEYS[k] === x && TEXT_KEYS[k + 1] === y && TEXT_KEYS[k + 2] === z) return TEXTS[slot];
  const t = `${HEX[b[o]]}:${HEX[b[o + 1]]}:${HEX[b[o + 2]]}:${HEX[b[o + 3]]}:${HEX[b[o + 4]]}:${
    HEX[b[o + 5]]
  }`;
  TEXT_KEYS[k] = x;
  TEXT_KEYS[k + 1] = y;
  TEXT_KEYS[k + 2] = z;
  TEXTS[slot] = t;
  return t;
}

/** An address seen on the initiator's side, after its first. */
function see0(s: MacState, x: number, y: number, z: number): void {
  if (x !== s.a0 || y !== s.b0 || z !== s.c0) rememberMore(s, 0, (x * 65536 + y) * 65536 + z);
}

/** An address seen on the responder's side, after its first. */
function see1(s: MacState, x: number, y: number, z: number): void {
  if (x !== s.a1 || y !== s.b1 || z !== s.c1) rememberMore(s, 1, (x * 65536 + y) * 65536 + z);
}

/** A further address of a side (not its first one). */
function rememberMore(s: MacState, side: number, mac: number): void {
  let a = side === 0 ? s.more0 : s.more1;
  if (a === null) {
    a = [];
    if (side === 0) s.more0 = a;
    else s.more1 = a;
  }
  if (!a.includes(mac) && a.length < MAX_DISTINCT - 1) a.push(mac);
}

/** Distinct addresses seen on a side. */
function sideCount(has: boolean, more: number[] | null): number {
  if (!has) return 0;
  return 1 + (more === null ? 0 : more.length);
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
      s.ethType = p.macEthType;
      if (o >= 0) {
        s.dst = macText(p.buf, o);
        s.src = macText(p.buf, o + 6);
      }
    }
    if (o < 0) return;
    const b = p.buf;
    // Destination at o, source at o + 6; the initiator's side is the source of its packets.
    const dx = (b[o] << 8) | b[o + 1], dy = (b[o + 2] << 8) | b[o + 3], dz = (b[o + 4] << 8) | b[o + 5];
    const sx = (b[o + 6] << 8) | b[o + 7], sy = (b[o + 8] << 8) | b[o + 9], sz = (b[o + 10] << 8) | b[o + 11];
    if (!s.ethernet) {
      // The flow's first Ethernet frame gives each side its first address.
      s.ethernet = true;
      s.a0 = dir === 0 ? sx : dx;
      s.b0 = dir === 0 ? sy : dy;
      s.c0 = dir === 0 ? sz : dz;
      s.a1 = dir === 0 ? dx : sx;
      s.b1 = dir === 0 ? dy : sy;
      s.c1 = dir === 0 ? dz : sz;
    } else if (dir === 0) {
      see0(s, sx, sy, sz);
      see1(s, dx, dy, dz);
    } else {
      see0(s, dx, dy, dz);
      see1(s, sx, sy, sz);
    }
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
    const n0 = sideCount(s.ethernet, s.more0), n1 = sideCount(s.ethernet, s.more1), vlans = s.vlans ?? [];
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
