/**
 * Which context a packet belongs to when packets are divided between Joy contexts (Joy's
 * `joy_packet_to_context`): a hash of the flow's two addresses that is the same in both directions, so
 * that a flow and its twin always land in the same context.
 *
 * @module
 */

/**
 * The context index (0..n-1) of an Ethernet frame; frames that are not IP go to context 0.
 *
 * @example
 * ```ts
 * import { packetToContext } from "./hash.ts";
 * console.log(packetToContext(new Uint8Array(60), 0, 60, 4)); // 0
 * ```
 */
export function packetToContext(buf: Uint8Array, off: number, capLen: number, n: number): number {
  if (n <= 1 || capLen < 14) return 0;
  let type = (buf[off + 12] << 8) | buf[off + 13];
  let ip = off + 14;
  for (let i = 0; i < 2 && (type === 0x8100 || type === 0x88a8) && ip + 4 <= off + capLen; i++) {
    type = (buf[ip + 2] << 8) | buf[ip + 3];
    ip += 4;
  }
  const end = off + capLen;
  let a = 0, b = 0;
  // Addresses only: every packet of a Joy record (and of its twin) has them, whatever its transport header,
  // fragments and IPv6 extension headers included.
  if (type === 0x0800 && ip + 20 <= end) {
    for (let i = 0; i < 4; i++) {
      a = (Math.imul(a, 31) + buf[ip + 12 + i]) | 0;
      b = (Math.imul(b, 31) + buf[ip + 16 + i]) | 0;
    }
  } else if (type === 0x86dd && ip + 40 <= end) {
    for (let i = 0; i < 16; i++) {
      a = (Math.imul(a, 31) + buf[ip + 8 + i]) | 0;
      b = (Math.imul(b, 31) + buf[ip + 24 + i]) | 0;
    }
  } else return 0;
  const h = ((a ^ b) + Math.imul(a + b, 0x9e3779b1)) >>> 0;
  return (Math.imul(h ^ (h >>> 16), 0x45d9f3b) >>> 0) % n;
}
