/**
 * How tunnel headers are recognised and skipped (GRE and ERSPAN, VXLAN, GTP-U, Teredo): one set of rules that
 * the decoder (`decode.ts`) and the packet anonymizer (`anon/pcap.ts`) both follow, so that `anon --pcap`
 * rewrites the inner addresses of exactly the packets `extract` decapsulates.
 *
 * @module
 */

/**
 * Bytes of a GRE header at `o` with its optional fields (checksum, key, sequence number, and in enhanced GRE,
 * version 1, the acknowledgement).
 *
 * @example
 * ```ts
 * import { greHeaderLength } from "./tunnels.ts";
 * console.log(greHeaderLength(new Uint8Array([0x30, 0x81, 0x88, 0x0b]), 0)); // 16
 * ```
 */
export function greHeaderLength(buf: Uint8Array, o: number): number {
  const flags = buf[o];
  let h = 4;
  if (flags & 0x80) h += 4; // checksum + reserved
  if (flags & 0x20) h += 4; // key
  if (flags & 0x10) h += 4; // sequence
  if ((buf[o + 1] & 7) === 1 && (buf[o + 1] & 0x80)) h += 4; // enhanced GRE's acknowledgement
  return h;
}

/**
 * Bytes of the ERSPAN header before the mirrored Ethernet frame at `inner`, for GRE protocol `type` with GRE
 * flags `greFlags`: type II 8 (it sets the GRE sequence bit), type I none, type III 12 (20 with its platform
 * subheader); -1 when `type` is not ERSPAN or the header is cut.
 *
 * @example
 * ```ts
 * import { erspanHeaderLength } from "./tunnels.ts";
 * console.log(erspanHeaderLength(new Uint8Array(20), 0, 20, 0x10, 0x88be)); // 8
 * ```
 */
export function erspanHeaderLength(
  buf: Uint8Array,
  inner: number,
  end: number,
  greFlags: number,
  type: number,
): number {
  if (type === 0x88be) {
    const h = greFlags & 0x10 ? 8 : 0;
    return end - inner >= h ? h : -1;
  }
  if (type === 0x22eb && end - inner >= 12) return 12 + (buf[inner + 11] & 1 ? 8 : 0);
  return -1;
}

/**
 * True when the UDP payload at `o` (ports `sp`, `dp`) is VXLAN with an Ethernet frame after its 8 bytes: the
 * port, the I flag and the last reserved byte zero.
 *
 * @example
 * ```ts
 * import { isVxlan } from "./tunnels.ts";
 * console.log(isVxlan(new Uint8Array(30).fill(8, 0, 1), 0, 30, 40000, 4789)); // true
 * ```
 */
export function isVxlan(buf: Uint8Array, o: number, end: number, sp: number, dp: number): boolean {
  return (dp === 4789 || sp === 4789 || dp === 8472) && end - o >= 8 + 14 && (buf[o] & 0x08) !== 0 &&
    buf[o + 7] === 0;
}

/**
 * Offset of the IP packet a GTP-U header at `o` (ports `sp`, `dp`) carries, past its extension headers; -1
 * when it is not GTP-U, a header is cut, or no IPv4/IPv6 packet follows.
 *
 * @example
 * ```ts
 * import { gtpInner } from "./tunnels.ts";
 * const b = new Uint8Array(28);
 * b.set([0x30, 0xff], 0);
 * b[8] = 0x45;
 * console.log(gtpInner(b, 0, 28, 2152, 2152)); // 8
 * ```
 */
export function gtpInner(buf: Uint8Array, o: number, end: number, sp: number, dp: number): number {
  const have = end - o;
  if ((dp !== 2152 && sp !== 2152) || have < 8 || (buf[o] >> 5) !== 1 || buf[o + 1] !== 0xff) return -1;
  let h = 8;
  if (buf[o] & 0x07) {
    if (have < 12) return -1;
    h = 12;
    let next = buf[o + 11];
    // Extension headers: length in 4-byte units, last byte is the next type.
    while (next !== 0) {
      if (o + h >= end) return -1;
      const len = buf[o + h] * 4;
      if (len === 0 || o + h + len > end) return -1;
      next = buf[o + h + len - 1];
      h += len;
    }
  }
  if (o + h >= end) return -1;
  const v = buf[o + h] >> 4;
  return v === 4 || v === 6 ? o + h : -1;
}

/**
 * Offset past a Teredo packet's optional authentication header (0x0001) at `o`, where an origin indication
 * or the IPv6 packet starts; -1 when that header is cut.
 *
 * @example
 * ```ts
 * import { teredoHeaders } from "./tunnels.ts";
 * console.log(teredoHeaders(new Uint8Array(48).fill(0x60, 0, 1), 0, 48)); // 0
 * ```
 */
export function teredoHeaders(buf: Uint8Array, o: number, end: number): number {
  if (end - o >= 2 && buf[o] === 0 && buf[o + 1] === 1) {
    if (end - o < 13) return -1;
    return o + 13 + buf[o + 2] + buf[o + 3];
  }
  return o;
}

/**
 * True when a Teredo origin indication (0x0000, 8 bytes: obfuscated port and client address) starts at `i`.
 *
 * @example
 * ```ts
 * import { teredoOrigin } from "./tunnels.ts";
 * console.log(teredoOrigin(new Uint8Array(8), 0, 8)); // true
 * ```
 */
export function teredoOrigin(buf: Uint8Array, i: number, end: number): boolean {
  return end - i >= 8 && buf[i] === 0 && buf[i + 1] === 0;
}

/**
 * Offset of the IPv6 packet a Teredo datagram at `o` (ports `sp`, `dp`) carries, or -1: past the optional
 * headers, a version 6 header whose payload length ends where the datagram does (`datagramEnd`, by the UDP
 * length, or the IP length when that is shorter: the capture may hold less).
 *
 * @example
 * ```ts
 * import { teredoInner } from "./tunnels.ts";
 * console.log(teredoInner(new Uint8Array(40).fill(0x60, 0, 1), 0, 40, 40, 3544, 40000)); // 0
 * ```
 */
export function teredoInner(
  buf: Uint8Array,
  o: number,
  end: number,
  datagramEnd: number,
  sp: number,
  dp: number,
): number {
  if (dp !== 3544 && sp !== 3544) return -1;
  let i = teredoHeaders(buf, o, end);
  if (i < 0) return -1;
  if (teredoOrigin(buf, i, end)) i += 8;
  return end - i >= 40 && (buf[i] >> 4) === 6 && 40 + ((buf[i + 4] << 8) | buf[i + 5]) === datagramEnd - i
    ? i
    : -1;
}

/**
 * Offset past the MPLS label stack at `o` (its bottom-of-stack label included), or -1 when it is cut short.
 *
 * @example
 * ```ts
 * import { mplsStackEnd } from "./tunnels.ts";
 * console.log(mplsStackEnd(new Uint8Array([0, 0x64, 0x01, 64, 0x45]), 0, 5)); // 4
 * ```
 */
export function mplsStackEnd(buf: Uint8Array, o: number, end: number): number {
  for (;;) {
    if (end - o < 4) return -1;
    const bottom = buf[o + 2] & 1;
    o += 4;
    if (bottom) return o;
  }
}

/**
 * Whether an MPLS payload at `o` is an Ethernet pseudowire behind its control word (RFC 4448: a first nibble of
 * 0, then a whole Ethernet header), as tshark reads it; else it is read as IP by its version nibble.
 *
 * @example
 * ```ts
 * import { isPwControlWord } from "./tunnels.ts";
 * console.log(isPwControlWord(new Uint8Array(18), 0, 18), isPwControlWord(new Uint8Array([0x45]), 0, 1)); // true false
 * ```
 */
export function isPwControlWord(buf: Uint8Array, o: number, end: number): boolean {
  return end - o >= 18 && (buf[o] >> 4) === 0;
}

/**
 * Bytes of a UDP datagram from its header (`udpLen` its length field, `ipLen` what the IP length leaves for it):
 * the UDP length when it fits and is shorter (bytes after it are no payload, RFC 768) or the IP packet is a first
 * fragment (whose datagram runs past it), else the IP length (a length of 0, a jumbogram's, or one that does
 * not fit). Where a tunnel inside must end, for the decoder and anon alike.
 *
 * @example
 * ```ts
 * import { udpDatagramLength } from "./tunnels.ts";
 * console.log(udpDatagramLength(100, 120, false), udpDatagramLength(1508, 1480, true), udpDatagramLength(0, 60, false)); // 100 1508 60
 * ```
 */
export function udpDatagramLength(udpLen: number, ipLen: number, firstFragment: boolean): number {
  return udpLen >= 8 && (udpLen < ipLen || firstFragment) ? udpLen : ipLen;
}
