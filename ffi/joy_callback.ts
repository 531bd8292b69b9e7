/**
 * The glue between libpcap and the Joy lifecycle API: a `Deno.UnsafeCallback` with the C `pcap_handler`
 * signature (`void (*)(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)`) that hands each packet
 * to `processPacket(user, h, bytes)`. As in the Joy library guide, the context index travels in `user`:
 *
 * ```c
 * more = pcap_dispatch(handle, NUM_PACKETS_IN_LOOP, joy_process_packet, (unsigned char *)index);
 * ```
 *
 * becomes `dispatch(reader.handle, 10, joyPcapHandler().pointer, index)`.
 *
 * @module
 */
import { loadLibpcap, PCAP_HANDLER_DEFINITION, type PcapHandlerDefinition, readPkthdr } from "./libpcap.ts";
import { processPacket } from "../lib/joy/api.ts";

const shared: (Deno.UnsafeCallback<PcapHandlerDefinition> | null)[] = [null, null];

/**
 * Whether a pcap handle delivers nanosecond timestamps (`pcap_get_tstamp_precision`); `PcapOfflineReader`
 * opens files with nanosecond precision, Joy expects microseconds.
 *
 * @example
 * ```ts
 * import { handleIsNano } from "./joy_callback.ts";
 * import { PcapOfflineReader } from "./libpcap.ts";
 * const r = PcapOfflineReader.open("capture.pcap");
 * console.log(handleIsNano(r.handle)); // true
 * r.close();
 * ```
 */
export function handleIsNano(handle: Deno.PointerValue): boolean {
  if (handle === null) return false;
  return loadLibpcap().symbols.pcap_get_tstamp_precision(handle) === 1;
}

/**
 * A `pcap_handler` that feeds the Joy context whose index is the `user` argument. The callback is created
 * once and shared; it stays valid until {@linkcode closeJoyPcapHandler}. With `nanosecond` (a handle that
 * delivers nanoseconds, see {@linkcode handleIsNano}) the timestamp is cut to microseconds first, as libpcap
 * does for a microsecond handle.
 *
 * @example
 * ```ts
 * import { closeJoyPcapHandler, handleIsNano, joyPcapHandler } from "./joy_callback.ts";
 * import { dispatch, PcapOfflineReader } from "./libpcap.ts";
 * import { initialize, JoyFlag } from "../lib/joy/api.ts";
 * initialize({ bitmask: JoyFlag.BIDIR, contexts: 1 }, ".", "flows.json");
 * const r = PcapOfflineReader.open("capture.pcap");
 * while (dispatch(r.handle, 10, joyPcapHandler(handleIsNano(r.handle)).pointer, 0) > 0) { }
 * r.close();
 * closeJoyPcapHandler();
 * ```
 */
export function joyPcapHandler(nanosecond = false): Deno.UnsafeCallback<PcapHandlerDefinition> {
  const i = nanosecond ? 1 : 0;
  let cb = shared[i];
  if (cb === null) {
    cb = shared[i] = new Deno.UnsafeCallback(
      PCAP_HANDLER_DEFINITION,
      nanosecond
        ? (user: number | bigint, hdr: Deno.PointerValue, data: Deno.PointerValue): void => {
          const h = readPkthdr(hdr);
          if (h === null) return;
          processPacket(Number(user), {
            tsSec: h.tsSec,
            tsUsec: Math.floor(h.tsFrac / 1000),
            capLen: h.capLen,
          }, data);
        }
        : (user: number | bigint, hdr: Deno.PointerValue, data: Deno.PointerValue): void => {
          processPacket(Number(user), hdr, data);
        },
    );
  }
  return cb;
}

/**
 * Releases the shared `pcap_handler` (after the last `pcap_dispatch` that uses it).
 *
 * @example
 * ```ts
 * import { closeJoyPcapHandler } from "./joy_callback.ts";
 * closeJoyPcapHandler();
 * ```
 */
export function closeJoyPcapHandler(): void {
  for (let i = 0; i < shared.length; i++) {
    shared[i]?.close();
    shared[i] = null;
  }
}
