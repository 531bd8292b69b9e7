/**
 * Runs a capture file through a Joy context the way the `joy` program does offline: the capture filter
 * `ip or ip6 or vlan`, packets in batches of 10 that pass it (`pcap_dispatch(handle, 10, ...)`), the expired
 * flows printed after each batch, every remaining flow at the end. Reads through libpcap with its exact
 * `struct pcap_pkthdr` timestamps when libpcap is there, else with the built-in reader.
 *
 * @module
 */
import { type JoyConfig } from "./config.ts";
import { JoyContext } from "./context.ts";
import { InputError } from "../extract.ts";
import { packetTimeval, readCapture, whereCaptureEnds } from "../capture_file.ts";
import {
  dispatch,
  PCAP_HANDLER_DEFINITION,
  PcapError,
  PcapOfflineReader,
  readPkthdr,
  refusesMixedInterfaces,
  tryLoadLibpcap,
} from "../../ffi/libpcap.ts";

/** Packets per `pcap_dispatch` call in Joy's offline loop (`NUM_PACKETS_IN_LOOP`). */
export const NUM_PACKETS_IN_LOOP = 10;

/** The capture filter the `joy` program installs. */
export const JOY_BPF_FILTER = "ip or ip6 or vlan";

const DLT_EN10MB = 1;

/** What {@linkcode JOY_BPF_FILTER} accepts on Ethernet: IPv4, IPv6, or a VLAN tag (802.1Q, 802.1ad, QinQ). */
function passesJoyFilter(buf: Uint8Array, off: number, capLen: number): boolean {
  if (capLen < 14) return false;
  const t = (buf[off + 12] << 8) | buf[off + 13];
  return t === 0x0800 || t === 0x86dd || t === 0x8100 || t === 0x88a8 || t === 0x9100;
}

/**
 * Options of {@linkcode joyProcessFile}.
 *
 * @example
 * ```ts
 * import { joyProcessFile, type JoyFileOptions } from "./offline.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * import { JoyContext } from "./context.ts";
 * const context = new JoyContext(defaultJoyConfig());
 * const options: JoyFileOptions = { reader: "builtin", context };
 * await joyProcessFile("testdata/http.pcap", defaultJoyConfig(), () => {}, options);
 * console.log(context.stats.packets > 0); // true
 * ```
 */
export interface JoyFileOptions {
  /** `libpcap` (exact timestamps), `builtin`, or `auto` (libpcap when it loads). */
  reader?: "auto" | "libpcap" | "builtin";
  /** The context to use (a new one from `config` by default). */
  context?: JoyContext;
  /** Called when the capture is cut short or corrupt: what, and where (its flows before that are written). */
  onWarning?: (message: string) => void;
}

/** Packets libpcap reads of `path` before its error (the whole file's without one): Joy's own reading filters
 * them, and counts only what passes. */
function libpcapPacketsBeforeError(path: string): number {
  const r = PcapOfflineReader.open(path);
  try {
    return r.run(() => {}).packets;
  } finally {
    r.close();
  }
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
 * await joyProcessFile("testdata/http.pcap", defaultJoyConfig(), (l) => lines.push(l));
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
    // Joy reads with the filter "ip or ip6 or vlan": other frames never reach it, and batches count only the
    // frames that pass. Where the filter does not compile (link types without VLANs), Joy gives up on the
    // file and prints no flows.
    PcapOfflineReader.open(path).close();
    // Its size now: a capture still being written is read again only as far (see whereCaptureEnds).
    const sizeAtOpen = await Deno.stat(path).then((s) => s.size, () => Infinity);
    let r: PcapOfflineReader | null = null;
    try {
      r = PcapOfflineReader.open(path, JOY_BPF_FILTER);
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
    }
    if (r !== null) {
      const scratch = new Uint8Array(262144);
      const cb = new Deno.UnsafeCallback(
        PCAP_HANDLER_DEFINITION,
        (_user: number | bigint, hdr: Deno.PointerValue, data: Deno.PointerValue): void => {
          const h = readPkthdr(hdr);
          if (h === null || data === null) return;
          const cap = Math.min(h.capLen, scratch.length);
          // Only the captured bytes are copied: past them, `scratch` keeps what earlier packets left, as
          // libpcap's own buffer does (Joy reads past short packets; see JoyContext).
          if (cap > 0) Deno.UnsafePointerView.copyInto(data, scratch.subarray(0, cap));
          // The reader is nanosecond; Joy's libpcap handle is microsecond (libpcap truncates).
          ctx.processPacket(h.tsSec, Math.floor(h.tsFrac / 1000), cap, scratch, 0, scratch.length);
        },
      );
      try {
        let rc: number;
        while ((rc = dispatch(r.handle, NUM_PACKETS_IN_LOOP, cb.pointer, 0)) > 0) ctx.printFlows(true, out);
        const error = rc === -1 ? r.lastError() : "";
        if (rc === -1) {
          // Not a cut capture: a pcapng whose interfaces differ in link type or snapshot length (captures
          // merged), or one that the built-in reader reads on past where libpcap stopped (a later section of the
          // other byte order, a pcap variant): a failure naming the way out, as extract's (lib/extract.ts).
          // Otherwise a warning with where the built-in reader finds the capture cut (libpcap names no offset).
          const mixed = refusesMixedInterfaces(error);
          const seen = mixed ? undefined : await whereCaptureEnds(path, sizeAtOpen);
          if (mixed || (seen !== undefined && seen.packetsBeforeDamage > libpcapPacketsBeforeError(path))) {
            const more = mixed ? "" : `, where the built-in reader reads ${seen!.packets} packets`;
            throw new InputError(
              `${path}: libpcap cannot read it (${error})${more}; read it with --reader builtin`,
            );
          }
          const where = seen?.damage ?? null;
          options.onWarning?.(
            `${path}: ${error}${where === null ? "" : ` (${where})`}; flows read before it are written`,
          );
        }
      } finally {
        cb.close();
        r.close();
      }
    }
  } else {
    if (mode === "libpcap") {
      throw new Error(
        "libpcap could not be loaded: install libpcap0.8 (apt-get install -y libpcap0.8) or set " +
          "JJ_LIBPCAP=/path/to/libpcap.so",
      );
    }
    const file = await Deno.open(path);
    let count = 0;
    // Like libpcap's packet buffer: each packet is copied to the start, what lies past it is left over from
    // earlier packets (Joy reads past short packets; see JoyContext).
    let pktBuf = new Uint8Array(262144);
    try {
      const result = await readCapture(file, (_ts, buf, off, capLen, _wireLen, linkType) => {
        // Without libpcap the filter is applied here; it only compiles for Ethernet.
        if (linkType !== DLT_EN10MB || !passesJoyFilter(buf, off, capLen)) return;
        if (capLen > pktBuf.length) {
          const bigger = new Uint8Array(capLen);
          bigger.set(pktBuf);
          pktBuf = bigger;
        }
        pktBuf.set(buf.subarray(off, off + capLen));
        // The stamp as libpcap gives it (finer ones cut to microseconds), exact: the float seconds are not.
        ctx.processPacket(packetTimeval[0], packetTimeval[1], capLen, pktBuf, 0, pktBuf.length);
        if (++count % NUM_PACKETS_IN_LOOP === 0) ctx.printFlows(true, out);
      });
      if (result.warning !== null) {
        options.onWarning?.(`${path}: ${result.warning}; flows read before it are written`);
      }
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
