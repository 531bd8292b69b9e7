/**
 * Runs a capture file through a Joy context the way the `joy` program does offline: packets in batches of 10
 * (`pcap_dispatch(handle, 10, ...)`), the expired flows printed after each batch, every remaining flow at the
 * end. Reads through libpcap with its exact `struct pcap_pkthdr` timestamps when libpcap is there, else with
 * the built-in reader.
 *
 * @module
 */
import { type JoyConfig } from "./config.ts";
import { JoyContext } from "./context.ts";
import { readCapture } from "../capture_file.ts";
import {
  dispatch,
  PCAP_HANDLER_DEFINITION,
  PcapOfflineReader,
  readPkthdr,
  tryLoadLibpcap,
} from "../../ffi/libpcap.ts";

/** Packets per `pcap_dispatch` call in Joy's offline loop (`NUM_PACKETS_IN_LOOP`). */
export const NUM_PACKETS_IN_LOOP = 10;

/** Options of {@linkcode joyProcessFile}. */
export interface JoyFileOptions {
  /** `libpcap` (exact timestamps), `builtin`, or `auto` (libpcap when it loads). */
  reader?: "auto" | "libpcap" | "builtin";
  /** The context to use (a new one from `config` by default). */
  context?: JoyContext;
}

/**
 * Processes one capture file and calls `onLine` with each Joy JSON flow line, in Joy's output order. Returns
 * the number of flows written.
 *
 * @example
 * ```ts
 * import { joyProcessFile } from "./offline.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * const lines: string[] = [];
 * await joyProcessFile("capture.pcap", defaultJoyConfig(), (l) => lines.push(l));
 * ```
 */
export async function joyProcessFile(
  path: string,
  config: JoyConfig,
  onLine: (line: string) => void,
  options: JoyFileOptions = {},
): Promise<number> {
  const ctx = options.context ?? new JoyContext(config);
  let n = 0;
  const out = (l: string) => {
    n++;
    onLine(l);
  };
  const mode = options.reader ?? "auto";
  if (mode !== "builtin" && tryLoadLibpcap() !== null) {
    const r = PcapOfflineReader.open(path);
    const scratch = new Uint8Array(262144);
    const cb = new Deno.UnsafeCallback(
      PCAP_HANDLER_DEFINITION,
      (_user: number | bigint, hdr: Deno.PointerValue, data: Deno.PointerValue): void => {
        const h = readPkthdr(hdr);
        if (h === null || data === null) return;
        const cap = Math.min(h.capLen, scratch.length);
        if (cap > 0) Deno.UnsafePointerView.copyInto(data, scratch.subarray(0, cap));
        // The reader is nanosecond; Joy's libpcap handle is microsecond (libpcap truncates).
        ctx.processPacket(h.tsSec, Math.floor(h.tsFrac / 1000), cap, scratch, 0);
      },
    );
    try {
      while (dispatch(r.handle, NUM_PACKETS_IN_LOOP, cb.pointer, 0) > 0) ctx.printFlows(true, out);
    } finally {
      cb.close();
      r.close();
    }
  } else {
    if (mode === "libpcap") throw new Error("libpcap could not be loaded");
    const file = await Deno.open(path);
    let count = 0;
    try {
      await readCapture(file, (ts, buf, off, capLen) => {
        const sec = Math.floor(ts);
        let usec = Math.round((ts - sec) * 1e6);
        let s = sec;
        if (usec >= 1e6) {
          usec -= 1e6;
          s++;
        }
        ctx.processPacket(s, usec, capLen, buf, off);
        if (++count % NUM_PACKETS_IN_LOOP === 0) ctx.printFlows(true, out);
      });
    } finally {
      try {
        file.close();
      } catch { /* closed */ }
    }
    ctx.printFlows(true, out);
  }
  ctx.printFlows(false, out);
  return n;
}
