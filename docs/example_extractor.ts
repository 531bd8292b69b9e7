/**
 * An example user extractor: the first payload bytes of each side and the protocol they announce. Run it with
 *
 *     jj extract --extractor docs/example_extractor.ts capture.pcap
 *
 * or from code with `registerExtractor(extractor)` / `extractFlows(src, { extractors: [extractor] })`.
 * See docs/extractors.md for the contract.
 *
 * @module
 */
import type { Direction, FeatureExtractor, FlowRecord, FlowState, PacketView } from "../mod.ts";

/** Bytes shown per direction. */
const SHOWN = 8;

/** Per-flow state: plain fields, filled once per direction, so no allocation per packet. */
export class FirstBytesState {
  hex: string[] = ["", ""];
  firstLen = -1;
  proto: string | null = null;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The protocol a first payload announces, from its opening bytes. */
function announced(b: Uint8Array, o: number, n: number): string | null {
  const starts = (s: string): boolean => {
    if (n < s.length) return false;
    for (let i = 0; i < s.length; i++) if (b[o + i] !== s.charCodeAt(i)) return false;
    return true;
  };
  if (starts("GET ") || starts("POST ") || starts("HEAD ") || starts("PUT ") || starts("HTTP/1.")) {
    return "http";
  }
  if (starts("SSH-")) return "ssh";
  if (starts("220 ") || starts("220-")) return "smtp";
  if (n >= 3 && b[o] === 0x16 && b[o + 1] === 3 && b[o + 2] <= 4) return "tls";
  return null;
}

/**
 * The `first_bytes` group.
 *
 * @example
 * ```ts
 * import { extractor } from "./example_extractor.ts";
 * console.log(extractor.name, extractor.features.length); // first_bytes 4
 * ```
 */
export const extractor: FeatureExtractor<FirstBytesState> = {
  name: "first_bytes",
  features: [
    {
      name: "first_bytes_fwd",
      type: "str",
      description: "First 8 payload bytes from the initiator, in hex.",
    },
    {
      name: "first_bytes_bwd",
      type: "str",
      description: "First 8 payload bytes from the responder, in hex.",
    },
    { name: "first_payload_len", type: "int", description: "Length of the flow's first non-empty payload." },
    {
      name: "first_payload_proto",
      type: "str",
      description: "http, ssh, smtp or tls when the first payload opens like one, else null.",
    },
  ],
  init: (_flow: FlowState): FirstBytesState => new FirstBytesState(),
  update(s: FirstBytesState, p: PacketView, _flow: FlowState, dir: Direction): void {
    // `p.buf` is only valid during this call: copy out what is kept.
    const n = p.payloadCapLen;
    if (n === 0 || s.hex[dir] !== "") return;
    let h = "";
    for (let i = 0; i < Math.min(n, SHOWN); i++) h += HEX[p.buf[p.payloadOff + i]];
    s.hex[dir] = h;
    if (s.firstLen < 0) {
      s.firstLen = p.payloadLen;
      s.proto = announced(p.buf, p.payloadOff, n);
    }
  },
  finish(s: FirstBytesState, _flow: FlowState, out: FlowRecord): void {
    out.first_bytes_fwd = s.hex[0] || null;
    out.first_bytes_bwd = s.hex[1] || null;
    out.first_payload_len = s.firstLen >= 0 ? s.firstLen : null;
    out.first_payload_proto = s.proto;
  },
};
