/**
 * libpcap bindings (via `Deno.dlopen`): offline and live packet sources that feed a
 * {@linkcode PacketCallback}, BPF filters, interface listing and pcap writing.
 *
 * @example
 * ```ts
 * import { PcapOfflineReader } from "./mod.ts";
 * const r = PcapOfflineReader.open("capture.pcap");
 * const { packets, error } = r.run(() => {});
 * r.close();
 * ```
 *
 * @module
 */

export {
  dispatch,
  findAllDevs,
  LibpcapUnavailableError,
  libpcapVersion,
  loadLibpcap,
  PCAP_HANDLER_DEFINITION,
  PCAP_SYMBOLS,
  PcapDumper,
  PcapError,
  pcapHandlerCallback,
  PcapLive,
  PcapOfflineReader,
  readPkthdr,
  tryLoadLibpcap,
} from "./libpcap.ts";
export type {
  Libpcap,
  LibpcapSymbols,
  PcapDevice,
  PcapDumperOptions,
  PcapHandlerDefinition,
  PcapHandlerFunction,
  PcapLiveOptions,
  PcapPkthdr,
  PcapRunResult,
  PcapStats,
} from "./libpcap.ts";
export type { PacketCallback } from "../lib/source.ts";
