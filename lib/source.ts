/**
 * What every packet source (the built-in file reader, libpcap offline and live) hands on: one call per packet,
 * with a view into its own buffer. No packet object is created.
 *
 * @module
 */

/**
 * Called once per packet. `buf[off .. off + capLen)` holds the captured bytes and is only valid during the call.
 * `ts` is seconds since the epoch (fractional), `wireLen` the original length on the wire. `nsec`, when the source
 * knows it, is the time stamp's fraction of its second in whole nanoseconds, exactly as the capture holds it:
 * `ts`, a double of some 1.7e9 seconds, keeps only about 0.24 us of it, and gaps between packets are taken from
 * `nsec` (see `PacketView.tsNs`). A source that leaves it out has its times taken from `ts`.
 *
 * @example
 * ```ts
 * import type { PacketCallback } from "./source.ts";
 * let n = 0;
 * const count: PacketCallback = () => {
 *   n++;
 * };
 * count(0, new Uint8Array(0), 0, 0, 0, 1);
 * ```
 */
export type PacketCallback = (
  ts: number,
  buf: Uint8Array,
  off: number,
  capLen: number,
  wireLen: number,
  linkType: number,
  nsec?: number,
) => void;
