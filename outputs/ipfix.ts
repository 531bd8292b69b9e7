/**
 * IPFIX export (RFC 7011) of flow records to a collector over UDP or TCP.
 *
 * By default each bidirectional flow record is sent as up to two uni-flow data records: the initiator's
 * direction (biflowDirection 1) and, when the responder sent anything, the responder's direction with the
 * endpoints swapped (biflowDirection 2). Every IPFIX collector reads uni-flows, and Joy exported uni-flows
 * too. With `biflow` a flow is one RFC 5103 record whose reverse packet and byte counts use enterprise 29305:
 * nfdump 1.7 reads those as `out_packets` / `out_bytes`, but collectors without RFC 5103 support (nfdump 1.6
 * and many others) skip them silently and lose the responder's counters, so it is not the default.
 *
 * Templates: `simple` (5-tuple, packetDeltaCount, octetDeltaCount, flowStart/EndMilliseconds, flowEndReason,
 * biflowDirection) and `idp`, which adds Joy's initial data packet: the IP packet (header onward) of the
 * direction's first packet with a payload, truncated to `idpMaxBytes`, as a variable-length octetArray under
 * Joy's element 16386 of enterprise 9. Each template exists for IPv4 and IPv6.
 *
 * octetDeltaCount counts from the IP header (RFC 7012), and a uni-flow record's flowStart/EndMilliseconds are
 * its own direction's first and last packet: both come from the `ipfix_counters` group
 * ({@linkcode ipfixCountersExtractor}, which the CLI runs with `--ipfix`). A record without its columns is sent
 * with the frame bytes (`bytes_fwd` / `bytes_bwd`) and the whole flow's times.
 *
 * @module
 */
import dgram from "node:dgram";
import dns from "node:dns";
import type { Direction, FeatureExtractor, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import type { RecordWriter } from "./jsonl.ts";
import { formatIp, parseIp } from "../lib/addr.ts";

// ---------------------------------------------------------------------------------------------------------
// information elements

/**
 * IANA information element ids used here (RFC 7012 registry).
 *
 * @example
 * ```ts
 * import { IE } from "./ipfix.ts";
 * console.log(IE.flowStartMilliseconds); // 152
 * ```
 */
export const IE = {
  octetDeltaCount: 1,
  packetDeltaCount: 2,
  protocolIdentifier: 4,
  sourceTransportPort: 7,
  sourceIPv4Address: 8,
  destinationTransportPort: 11,
  destinationIPv4Address: 12,
  sourceIPv6Address: 27,
  destinationIPv6Address: 28,
  flowEndReason: 136,
  flowStartMilliseconds: 152,
  flowEndMilliseconds: 153,
  biflowDirection: 239,
} as const;

/**
 * Joy's enterprise number for its IDP element (Cisco, 9) and the element id (IPFIX_IDP).
 *
 * @example
 * ```ts
 * import { JOY_ENTERPRISE } from "./ipfix.ts";
 * console.log(JOY_ENTERPRISE); // 9
 * ```
 */
export const JOY_ENTERPRISE = 9;
/**
 * Joy's information element id for the initial data packet.
 *
 * @example
 * ```ts
 * import { JOY_IDP_ELEMENT } from "./ipfix.ts";
 * console.log(JOY_IDP_ELEMENT | 0x8000); // 49154, as sent in a template
 * ```
 */
export const JOY_IDP_ELEMENT = 16386;
/**
 * Field length meaning "variable length" in a template (RFC 7011 section 7).
 *
 * @example
 * ```ts
 * import { VARIABLE_LENGTH } from "./ipfix.ts";
 * console.log(VARIABLE_LENGTH); // 65535
 * ```
 */
export const VARIABLE_LENGTH = 65535;

/**
 * flowEndReason values (IANA): idle 1, active 2, end of flow detected 3, forced end 4, lack of resources 5.
 *
 * @example
 * ```ts
 * import { FLOW_END_REASON_CODES } from "./ipfix.ts";
 * console.log(FLOW_END_REASON_CODES.idle); // 1
 * ```
 */
export const FLOW_END_REASON_CODES: Readonly<Record<string, number>> = {
  idle: 1,
  active: 2,
  fin: 3,
  rst: 3,
  end: 4,
  evicted: 5,
};

/** One field specifier of a template. */
export interface IpfixField {
  /** Information element id (without the enterprise bit). */
  id: number;
  /** Field length in bytes, or {@linkcode VARIABLE_LENGTH}. */
  length: number;
  /** Enterprise number, 0 for IANA elements. */
  enterprise: number;
}

/** A template: id and fields in order. */
export interface IpfixTemplate {
  /** Template id (>= 256). */
  id: number;
  /** Field specifiers. */
  fields: IpfixField[];
}

/** The two template families. */
export type IpfixTemplateName = "simple" | "idp";

/** Transport to the collector. */
export type IpfixTransport = "udp" | "tcp";

const f = (id: number, length: number, enterprise = 0): IpfixField => ({ id, length, enterprise });

/**
 * RFC 5103's enterprise number for reverse information elements.
 *
 * @example
 * ```ts
 * import { REVERSE_PEN } from "./ipfix.ts";
 * console.log(REVERSE_PEN); // 29305
 * ```
 */
export const REVERSE_PEN = 29305;

function buildTemplate(id: number, v6: boolean, idp: boolean, biflow: boolean): IpfixTemplate {
  const fields = [
    f(v6 ? IE.sourceIPv6Address : IE.sourceIPv4Address, v6 ? 16 : 4),
    f(v6 ? IE.destinationIPv6Address : IE.destinationIPv4Address, v6 ? 16 : 4),
    f(IE.sourceTransportPort, 2),
    f(IE.destinationTransportPort, 2),
    f(IE.protocolIdentifier, 1),
    f(IE.packetDeltaCount, 8),
    f(IE.octetDeltaCount, 8),
  ];
  if (biflow) fields.push(f(IE.packetDeltaCount, 8, REVERSE_PEN), f(IE.octetDeltaCount, 8, REVERSE_PEN));
  fields.push(
    f(IE.flowStartMilliseconds, 8),
    f(IE.flowEndMilliseconds, 8),
    f(IE.flowEndReason, 1),
    f(IE.biflowDirection, 1),
  );
  if (idp) fields.push(f(JOY_IDP_ELEMENT, VARIABLE_LENGTH, JOY_ENTERPRISE));
  // Biflow: the responder's IDP follows as a second occurrence of the element (RFC 7011 allows repeats; order
  // gives the meaning). RFC 5103's reverse scheme covers IANA elements only.
  if (idp && biflow) fields.push(f(JOY_IDP_ELEMENT, VARIABLE_LENGTH, JOY_ENTERPRISE));
  return { id, fields };
}

/**
 * The templates of a family: `[ipv4, ipv6]`. Uni-flow layouts use ids 256-259, biflow layouts 260-263, so a
 * collector that caches templates never reads one layout with another's template.
 *
 * @example
 * ```ts
 * import { ipfixTemplates } from "./ipfix.ts";
 * const [v4, v6] = ipfixTemplates("simple");
 * console.log(v4.id, v6.id); // 256 257
 * ```
 */
export function ipfixTemplates(name: IpfixTemplateName, biflow = false): [IpfixTemplate, IpfixTemplate] {
  const base = (biflow ? 260 : 256) + (name === "idp" ? 2 : 0);
  return [
    buildTemplate(base, false, name === "idp", biflow),
    buildTemplate(base + 1, true, name === "idp", biflow),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// the counters group

/** Per-flow state of the `ipfix_counters` group: per direction, IP bytes and first and last packet times. */
export interface IpfixCountersState {
  ipBytes0: number;
  ipBytes1: number;
  first0: number;
  last0: number;
  first1: number;
  last1: number;
}

/**
 * A feature group with what an IPFIX uni-flow record needs beyond the flow's own columns: each direction's IP
 * bytes (IP header onward, by the IP length fields: RFC 7012's octetDeltaCount) and its first and last packet
 * times (flowStart/EndMilliseconds). It writes `ip_bytes_fwd`, `ip_bytes_bwd`, `start_time_fwd`,
 * `end_time_fwd`, `start_time_bwd`, `end_time_bwd` (times null for a direction that sent nothing).
 *
 * @example
 * ```ts
 * import { ipfixCountersExtractor } from "./ipfix.ts";
 * import { extractFlows } from "../lib/extract.ts";
 * for await (const r of extractFlows("capture.pcap", { extractors: [ipfixCountersExtractor()] })) {
 *   console.log(r.ip_bytes_fwd, r.start_time_bwd);
 * }
 * ```
 */
export function ipfixCountersExtractor(): FeatureExtractor<IpfixCountersState> {
  return {
    name: "ipfix_counters",
    features: [
      { name: "ip_bytes_fwd", type: "int", description: "IP bytes the initiator sent (IP header onward)." },
      { name: "ip_bytes_bwd", type: "int", description: "IP bytes the responder sent (IP header onward)." },
      { name: "start_time_fwd", type: "float", description: "Time of the initiator's first packet." },
      { name: "end_time_fwd", type: "float", description: "Time of the initiator's last packet." },
      {
        name: "start_time_bwd",
        type: "float",
        description: "Time of the responder's first packet (null: none).",
      },
      {
        name: "end_time_bwd",
        type: "float",
        description: "Time of the responder's last packet (null: none).",
      },
    ],
    init(): IpfixCountersState {
      return {
        ipBytes0: 0,
        ipBytes1: 0,
        first0: Infinity,
        last0: -Infinity,
        first1: Infinity,
        last1: -Infinity,
      };
    },
    update(s: IpfixCountersState, p: PacketView, _flow: FlowState, dir: Direction): void {
      const ts = p.ts;
      // The flow's IP bytes this frame carried: a length field that claims more than the frame held on the
      // wire counts what it held, and a later fragment of a tunnel's outer datagram (no inner header; its IP
      // header is the outer one) the inner bytes it carries. Its first fragment's inner length counted
      // the whole inner packet, and each later fragment's outer length again: more than the frames' bytes.
      const bytes = p.addrBuf !== null ? p.payloadLen : Math.min(p.ipTotalLen, p.ipWireLength);
      if (dir === 0) {
        s.ipBytes0 += bytes;
        if (ts < s.first0) s.first0 = ts;
        if (ts > s.last0) s.last0 = ts;
      } else {
        s.ipBytes1 += bytes;
        if (ts < s.first1) s.first1 = ts;
        if (ts > s.last1) s.last1 = ts;
      }
    },
    finish(s: IpfixCountersState, _flow: FlowState, out: FlowRecord): void {
      out.ip_bytes_fwd = s.ipBytes0;
      out.ip_bytes_bwd = s.ipBytes1;
      out.start_time_fwd = s.first0 === Infinity ? null : s.first0;
      out.end_time_fwd = s.first0 === Infinity ? null : s.last0;
      out.start_time_bwd = s.first1 === Infinity ? null : s.first1;
      out.end_time_bwd = s.first1 === Infinity ? null : s.last1;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// the idp feature group

/** Per-flow state of the `ipfix_idp` group: the first payload-carrying IP packet of each direction. */
export interface IdpState {
  /** Initiator's and responder's initial data packet, or null. */
  idp: [Uint8Array | null, Uint8Array | null];
}

/**
 * Joy's usual IDP size (its `idp=1300` configuration).
 *
 * @example
 * ```ts
 * import { DEFAULT_IDP_BYTES, idpExtractor } from "./ipfix.ts";
 * const group = idpExtractor(DEFAULT_IDP_BYTES);
 * ```
 */
export const DEFAULT_IDP_BYTES = 1300;
/**
 * Most IDP bytes a record carries (`--idp-bytes` at most): a biflow record's two IDPs and its other fields
 * stay within one IPFIX message (65535 bytes).
 */
export const MAX_IDP_BYTES = 16000;

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i]];
  return s;
}

function fromHex(s: string): Uint8Array | null {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * A feature group that keeps Joy's initial data packet per direction: the IP header onward of the first
 * packet with a transport payload, at most `maxBytes` (copied once per direction, so memory per flow is
 * bounded by `2 * maxBytes`). It writes `idp_out`, `idp_len_out`, `idp_in`, `idp_len_in` (hex and length, as
 * Joy's JSON names them); the IPFIX `idp` template exports them.
 *
 * @example
 * ```ts
 * import { idpExtractor } from "./ipfix.ts";
 * import { extractFlows } from "../lib/extract.ts";
 * for await (const r of extractFlows("capture.pcap", { extractors: [idpExtractor(1300)] })) {
 *   console.log(r.idp_len_out);
 * }
 * ```
 */
export function idpExtractor(maxBytes: number = DEFAULT_IDP_BYTES): FeatureExtractor<IdpState> {
  const cap = Math.max(0, Math.min(65535, Math.floor(maxBytes)));
  return {
    name: "ipfix_idp",
    features: [
      {
        name: "idp_out",
        type: "str",
        description: "Initiator's first IP packet with a payload (hex, Joy's IDP).",
      },
      { name: "idp_len_out", type: "int", description: "Bytes in idp_out." },
      { name: "idp_in", type: "str", description: "Responder's first IP packet with a payload (hex)." },
      { name: "idp_len_in", type: "int", description: "Bytes in idp_in." },
    ],
    init(): IdpState {
      return { idp: [null, null] };
    },
    update(s: IdpState, p: PacketView, _flow: FlowState, dir: Direction): void {
      if (s.idp[dir] !== null || p.payloadLen <= 0 || p.ipVersion === 0) return;
      const start = p.l3Off;
      const end = Math.min(p.end, start + p.ipTotalLen, start + cap);
      s.idp[dir] = end > start ? p.buf.slice(start, end) : new Uint8Array(0);
    },
    finish(s: IdpState, _flow: FlowState, out: FlowRecord): void {
      const [o, i] = s.idp;
      out.idp_out = o === null ? null : toHex(o);
      out.idp_len_out = o === null ? null : o.length;
      out.idp_in = i === null ? null : toHex(i);
      out.idp_len_in = i === null ? null : i.length;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// encoding

/** One encoded data record with the template it follows. */
export interface EncodedRecord {
  /** Template (and data set) id. */
  templateId: number;
  /** The record's bytes. */
  bytes: Uint8Array;
}

/** The smaller (`pick` Math.min) or larger of two times, either of which may be missing (null), or null. */
function extreme(pick: (a: number, b: number) => number, a: unknown, b: unknown): number | null {
  if (typeof a !== "number") return typeof b === "number" ? b : null;
  return typeof b === "number" ? pick(a, b) : a;
}

/** Options of {@linkcode IpfixEncoder}. */
export interface IpfixEncoderOptions {
  /** Template family (default `simple`). */
  template?: IpfixTemplateName;
  /**
   * One RFC 5103 biflow record per flow (reverse counters under enterprise 29305) instead of the default pair
   * of uni-flow records.
   */
  biflow?: boolean;
  /** Observation domain id in every message header (default 0). */
  observationDomainId?: number;
  /** Most IDP bytes exported per record (default 1300). */
  idpMaxBytes?: number;
}

const TWO_32 = 4294967296;

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function put64(dv: DataView, off: number, v: number): void {
  const x = Math.max(0, Math.floor(v));
  dv.setUint32(off, Math.floor(x / TWO_32) >>> 0);
  dv.setUint32(off + 4, x >>> 0);
}

/** The values of one data record, before encoding. */
interface RecordValues {
  src: Uint8Array;
  dst: Uint8Array;
  sp: number;
  dp: number;
  proto: number;
  packets: number;
  bytes: number;
  rPackets: number;
  rBytes: number;
  startMs: number;
  endMs: number;
  reason: number;
  direction: number;
  idp: (Uint8Array | null)[];
}

/**
 * Builds IPFIX messages: template sets, data records from flow records, and message headers. No I/O.
 *
 * @example
 * ```ts
 * import { IpfixEncoder } from "./ipfix.ts";
 * const enc = new IpfixEncoder({ template: "simple" });
 * const recs = enc.encodeFlow({
 *   src_ip: "10.0.0.1", dst_ip: "10.0.0.2", src_port: 1234, dst_port: 80, protocol: 6,
 *   packets_fwd: 3, bytes_fwd: 200, packets_bwd: 2, bytes_bwd: 400,
 *   start_time: 1700000000.25, end_time: 1700000001.5, flow_end_reason: "idle",
 * });
 * const msg = enc.message(1700000002, 0, recs, true);
 * console.log(recs.length, msg.length); // 2 214
 * ```
 */
export class IpfixEncoder {
  /** Template family. */
  readonly template: IpfixTemplateName;
  /** Whether flows are sent as RFC 5103 biflow records. */
  readonly biflow: boolean;
  /** The IPv4 and IPv6 templates. */
  readonly templates: readonly [IpfixTemplate, IpfixTemplate];
  /** Observation domain id. */
  readonly observationDomainId: number;
  /** Most IDP bytes per record. */
  readonly idpMaxBytes: number;
  readonly #templateSet: Uint8Array;
  readonly #addr = new Uint8Array(16);
  readonly #addr2 = new Uint8Array(16);

  constructor(opts: IpfixEncoderOptions = {}) {
    this.template = opts.template ?? "simple";
    this.biflow = opts.biflow ?? false;
    this.templates = ipfixTemplates(this.template, this.biflow);
    this.observationDomainId = (opts.observationDomainId ?? 0) >>> 0;
    this.idpMaxBytes = Math.max(
      0,
      Math.min(MAX_IDP_BYTES, Math.floor(opts.idpMaxBytes ?? DEFAULT_IDP_BYTES)),
    );
    this.#templateSet = encodeTemplateSet(this.templates);
  }

  /** The template set (set id 2) announcing both templates. */
  get templateSet(): Uint8Array {
    return this.#templateSet;
  }

  /**
   * Encodes one bidirectional flow record: as a biflow record, or as uni-flow records (the initiator's
   * direction, then the responder's when it sent packets). A record whose addresses cannot be read yields
   * nothing.
   */
  encodeFlow(r: FlowRecord): EncodedRecord[] {
    const a = this.#addr, b = this.#addr2;
    const va = typeof r.src_ip === "string" ? parseIp(r.src_ip, a) : 0;
    const vb = typeof r.dst_ip === "string" ? parseIp(r.dst_ip, b) : 0;
    if (va === 0 || va !== vb) return [];
    const v6 = va === 6;
    const idp = this.template === "idp";
    const idpOut = idp && typeof r.idp_out === "string" ? fromHex(r.idp_out) : null;
    const idpIn = idp && typeof r.idp_in === "string" ? fromHex(r.idp_in) : null;
    const pf = num(r.packets_fwd), pb = num(r.packets_bwd);
    // IP bytes and each direction's own times when the counters group ran (see the module comment).
    const counted = typeof r.ip_bytes_fwd === "number";
    const bf = num(counted ? r.ip_bytes_fwd : r.bytes_fwd), bb = num(counted ? r.ip_bytes_bwd : r.bytes_bwd);
    // Milliseconds cut, not rounded, as exporters write a packet's time (a packet at .0745 s is in ms 74). From
    // the fraction of a second (exact as a double), with an eighth of a microsecond for its binary error: a
    // microsecond stamp such as 1.001 s is 1.00099999... as a double.
    const ms = (x: unknown, whole: unknown) => {
      const t = num(counted && typeof x === "number" ? x : whole), sec = Math.floor(t);
      return sec * 1000 + Math.floor((t - sec) * 1000 + 1.25e-4);
    };
    const v: RecordValues = {
      src: a,
      dst: b,
      sp: num(r.src_port) & 0xffff,
      dp: num(r.dst_port) & 0xffff,
      proto: num(r.protocol) & 0xff,
      packets: pf,
      bytes: bf,
      rPackets: pb,
      rBytes: bb,
      // A biflow's times span both directions' packets: the earliest and the latest stamps, which are not the
      // first and last to arrive when packets are stamped out of order (its end came before its start).
      startMs: this.biflow
        ? ms(extreme(Math.min, r.start_time_fwd, r.start_time_bwd), r.start_time)
        : ms(r.start_time_fwd, r.start_time),
      endMs: this.biflow
        ? ms(extreme(Math.max, r.end_time_fwd, r.end_time_bwd), r.end_time)
        : ms(r.end_time_fwd, r.end_time),
      reason: FLOW_END_REASON_CODES[String(r.flow_end_reason)] ?? 4,
      direction: 1,
      idp: this.biflow ? [idpOut, idpIn] : [idpOut],
    };
    const t = this.templates[v6 ? 1 : 0];
    if (this.biflow) return [{ templateId: t.id, bytes: this.#encode(t, v) }];
    const out: EncodedRecord[] = [];
    if (pf > 0 || pb === 0) out.push({ templateId: t.id, bytes: this.#encode(t, v) });
    if (pb > 0) {
      v.src = b;
      v.dst = a;
      v.sp = num(r.dst_port) & 0xffff;
      v.dp = num(r.src_port) & 0xffff;
      v.packets = pb;
      v.bytes = bb;
      v.startMs = ms(r.start_time_bwd, r.start_time);
      v.endMs = ms(r.end_time_bwd, r.end_time);
      v.direction = 2;
      v.idp = [idpIn];
      out.push({ templateId: t.id, bytes: this.#encode(t, v) });
    }
    return out;
  }

  #encode(t: IpfixTemplate, v: RecordValues): Uint8Array {
    const idps = v.idp.map((x) => x === null ? null : x.subarray(0, Math.min(x.length, this.idpMaxBytes)));
    let len = 0;
    let k = 0;
    for (const fl of t.fields) {
      if (fl.length !== VARIABLE_LENGTH) len += fl.length;
      else {
        const n = idps[k++]?.length ?? 0;
        len += n + (n < 255 ? 1 : 3);
      }
    }
    const out = new Uint8Array(len);
    const dv = new DataView(out.buffer);
    let o = 0;
    k = 0;
    for (const fl of t.fields) {
      const rev = fl.enterprise === REVERSE_PEN;
      switch (fl.enterprise === JOY_ENTERPRISE ? -1 : fl.id) {
        case IE.sourceIPv4Address:
        case IE.sourceIPv6Address:
          out.set(v.src.subarray(0, fl.length), o);
          break;
        case IE.destinationIPv4Address:
        case IE.destinationIPv6Address:
          out.set(v.dst.subarray(0, fl.length), o);
          break;
        case IE.sourceTransportPort:
          dv.setUint16(o, v.sp);
          break;
        case IE.destinationTransportPort:
          dv.setUint16(o, v.dp);
          break;
        case IE.protocolIdentifier:
          dv.setUint8(o, v.proto);
          break;
        case IE.packetDeltaCount:
          put64(dv, o, rev ? v.rPackets : v.packets);
          break;
        case IE.octetDeltaCount:
          put64(dv, o, rev ? v.rBytes : v.bytes);
          break;
        case IE.flowStartMilliseconds:
          put64(dv, o, v.startMs);
          break;
        case IE.flowEndMilliseconds:
          put64(dv, o, v.endMs);
          break;
        case IE.flowEndReason:
          dv.setUint8(o, v.reason);
          break;
        case IE.biflowDirection:
          dv.setUint8(o, v.direction);
          break;
        case -1: {
          const b = idps[k++] ?? null;
          const n = b?.length ?? 0;
          if (n < 255) dv.setUint8(o++, n);
          else {
            dv.setUint8(o, 255);
            dv.setUint16(o + 1, n);
            o += 3;
          }
          if (b !== null) out.set(b, o);
          o += n;
          continue;
        }
      }
      o += fl.length;
    }
    return out;
  }

  /**
   * Size in bytes of a message holding `records` (grouped into one data set per template) and, when
   * `withTemplates`, the template set.
   */
  messageSize(records: readonly EncodedRecord[], withTemplates: boolean): number {
    let n = 16 + (withTemplates ? this.#templateSet.length : 0);
    const seen = new Set<number>();
    for (const r of records) {
      if (!seen.has(r.templateId)) {
        seen.add(r.templateId);
        n += 4;
      }
      n += r.bytes.length;
    }
    return n;
  }

  /**
   * A whole message: header (version 10, length, export time, sequence number, observation domain), the
   * template set when `withTemplates`, then one data set per template in first-seen order.
   */
  message(
    exportTime: number,
    sequence: number,
    records: readonly EncodedRecord[],
    withTemplates: boolean,
  ): Uint8Array {
    const size = this.messageSize(records, withTemplates);
    if (size > 65535) throw new RangeError(`IPFIX message of ${size} bytes exceeds 65535`);
    const msg = new Uint8Array(size);
    const dv = new DataView(msg.buffer);
    dv.setUint16(0, 10);
    dv.setUint16(2, size);
    dv.setUint32(4, Math.floor(exportTime) >>> 0);
    dv.setUint32(8, sequence >>> 0);
    dv.setUint32(12, this.observationDomainId);
    let o = 16;
    if (withTemplates) {
      msg.set(this.#templateSet, o);
      o += this.#templateSet.length;
    }
    const order: number[] = [];
    for (const r of records) if (!order.includes(r.templateId)) order.push(r.templateId);
    for (const id of order) {
      const start = o;
      o += 4;
      for (const r of records) {
        if (r.templateId !== id) continue;
        msg.set(r.bytes, o);
        o += r.bytes.length;
      }
      dv.setUint16(start, id);
      dv.setUint16(start + 2, o - start);
    }
    return msg;
  }
}

function encodeTemplateSet(templates: readonly IpfixTemplate[]): Uint8Array {
  let len = 4;
  for (const t of templates) {
    len += 4;
    for (const fl of t.fields) len += fl.enterprise !== 0 ? 8 : 4;
  }
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 2);
  dv.setUint16(2, len);
  let o = 4;
  for (const t of templates) {
    dv.setUint16(o, t.id);
    dv.setUint16(o + 2, t.fields.length);
    o += 4;
    for (const fl of t.fields) {
      dv.setUint16(o, fl.enterprise !== 0 ? (fl.id | 0x8000) : fl.id);
      dv.setUint16(o + 2, fl.length);
      o += 4;
      if (fl.enterprise !== 0) {
        dv.setUint32(o, fl.enterprise);
        o += 4;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// decoding (for tests and for checking a collector's view)

/** A decoded IPFIX message header. */
export interface IpfixHeader {
  version: number;
  length: number;
  exportTime: number;
  sequence: number;
  observationDomainId: number;
}

/** A decoded data record: element values by `id` (IANA) or `enterprise/id`; numbers, addresses as text, bytes. */
export type IpfixDataRecord = Record<string, number | string | Uint8Array>;

/** What {@linkcode decodeIpfixMessage} returns. */
export interface DecodedIpfixMessage {
  header: IpfixHeader;
  /** Templates defined in this message. */
  templates: IpfixTemplate[];
  /** Data records, with the id of the template that read them. */
  records: { templateId: number; values: IpfixDataRecord }[];
  /** Data sets skipped because their template was unknown. */
  unknownSets: number[];
}

function addrText(b: Uint8Array): string {
  return formatIp(b, 0, b.length === 4 ? 4 : 6);
}

/**
 * Decodes one IPFIX message, learning templates into `known` (keyed by template id) and reading data sets
 * with them. Returns `null` when the bytes are not a well-formed IPFIX message.
 *
 * @example
 * ```ts
 * import { decodeIpfixMessage, IpfixEncoder, type IpfixTemplate } from "./ipfix.ts";
 * const enc = new IpfixEncoder();
 * const known = new Map<number, IpfixTemplate>();
 * const msg = enc.message(0, 0, enc.encodeFlow({ src_ip: "10.0.0.1", dst_ip: "10.0.0.2", packets_fwd: 1 }), true);
 * console.log(decodeIpfixMessage(msg, known)?.records[0].values["8"]); // 10.0.0.1
 * ```
 */
export function decodeIpfixMessage(
  msg: Uint8Array,
  known: Map<number, IpfixTemplate>,
): DecodedIpfixMessage | null {
  if (msg.length < 16) return null;
  const dv = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const header: IpfixHeader = {
    version: dv.getUint16(0),
    length: dv.getUint16(2),
    exportTime: dv.getUint32(4),
    sequence: dv.getUint32(8),
    observationDomainId: dv.getUint32(12),
  };
  if (header.version !== 10 || header.length > msg.length || header.length < 16) return null;
  const out: DecodedIpfixMessage = { header, templates: [], records: [], unknownSets: [] };
  let o = 16;
  while (o + 4 <= header.length) {
    const setId = dv.getUint16(o), setLen = dv.getUint16(o + 2);
    if (setLen < 4 || o + setLen > header.length) return null;
    const end = o + setLen;
    let p = o + 4;
    if (setId === 2) {
      while (p + 4 <= end) {
        const id = dv.getUint16(p), count = dv.getUint16(p + 2);
        p += 4;
        const fields: IpfixField[] = [];
        for (let i = 0; i < count; i++) {
          if (p + 4 > end) return null;
          let id2 = dv.getUint16(p);
          const length = dv.getUint16(p + 2);
          p += 4;
          let enterprise = 0;
          if (id2 & 0x8000) {
            if (p + 4 > end) return null;
            id2 &= 0x7fff;
            enterprise = dv.getUint32(p);
            p += 4;
          }
          fields.push({ id: id2, length, enterprise });
        }
        const t = { id, fields };
        known.set(id, t);
        out.templates.push(t);
      }
    } else if (setId >= 256) {
      const t = known.get(setId);
      if (t === undefined) out.unknownSets.push(setId);
      else {
        const minLen = t.fields.reduce((a, fl) => a + (fl.length === VARIABLE_LENGTH ? 1 : fl.length), 0);
        while (minLen > 0 && p + minLen <= end) {
          const values: IpfixDataRecord = {};
          for (const fl of t.fields) {
            let len = fl.length;
            if (len === VARIABLE_LENGTH) {
              len = msg[p++];
              if (len === 255) {
                len = dv.getUint16(p);
                p += 2;
              }
            }
            if (p + len > end) return null;
            const key = fl.enterprise !== 0 ? `${fl.enterprise}/${fl.id}` : String(fl.id);
            const isAddr = fl.enterprise === 0 &&
              (fl.id === 8 || fl.id === 12 || fl.id === 27 || fl.id === 28) && (len === 4 || len === 16);
            if (isAddr) values[key] = addrText(msg.subarray(p, p + len));
            else if (fl.length !== VARIABLE_LENGTH && len <= 8) {
              let v = 0;
              for (let i = 0; i < len; i++) v = v * 256 + msg[p + i];
              values[key] = v;
            } else values[key] = msg.slice(p, p + len);
            p += len;
          }
          out.records.push({ templateId: setId, values });
        }
      }
    }
    o = end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the exporter

/** Options of {@linkcode IpfixExporter.connect}. */
export interface IpfixExporterOptions extends IpfixEncoderOptions {
  /** Collector host name or address. */
  host: string;
  /** Collector port. */
  port: number;
  /** `udp` (default) or `tcp`. */
  transport?: IpfixTransport;
  /**
   * Largest message sent; more records start a new message (default 1400 for UDP, 65000 for TCP). Over UDP
   * the templates go in a message of their own when a record would not fit beside them, and the IDP is cut to
   * what lets one record fit (with a warning): a datagram over the path MTU would be fragmented.
   */
  maxMessageSize?: number;
  /** UDP: resend the templates when this many seconds passed since they were last sent (default 60). */
  templateRefreshSeconds?: number;
  /** UDP: resend the templates after this many messages without them (default 100). */
  templateRefreshMessages?: number;
  /** Called once per send failure (the exporter keeps going and counts the lost records). */
  onWarning?: (message: string) => void;
  /**
   * TCP: milliseconds a connection may take to open (default 5000), and the collector may take no message
   * before it is taken as not reading (default 30000: a slow collector drains a full socket buffer in
   * seconds, and is waited for). Records are then dropped (counted in `stats.lost`) while more than 64
   * messages wait, rather than held without bound, and `close` waits no longer for them.
   */
  timeoutMs?: number;
}

/** Counters of an exporter. */
export interface IpfixExporterStats {
  /** Messages sent. */
  messages: number;
  /** Data records sent. */
  records: number;
  /** Messages that carried the templates. */
  templateMessages: number;
  /** Bytes sent. */
  bytes: number;
  /** Data records lost to send errors, or dropped while the collector did not read (TCP). */
  lost: number;
}

/**
 * Parses `HOST:PORT` (`[v6addr]:PORT` for IPv6).
 *
 * @example
 * ```ts
 * import { parseHostPort } from "./ipfix.ts";
 * console.log(parseHostPort("[::1]:4739")); // { host: "::1", port: 4739 }
 * ```
 */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new RangeError(`expected HOST:PORT (e.g. 127.0.0.1:4739 or [::1]:4739), got "${text}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new RangeError(`the port of "${text}" is outside 1 to 65535`);
  return { host: m[1], port };
}

interface Channel {
  send(msg: Uint8Array): Promise<void>;
  close(): void;
}

async function udpChannel(host: string, port: number): Promise<Channel> {
  // Resolve once, now: a name that does not resolve is an error at the start, not a warning per message.
  const { address, family } = await dns.promises.lookup(host);
  const sock = dgram.createSocket(family === 6 ? "udp6" : "udp4");
  sock.on("error", () => {}); // errors are reported through send callbacks
  sock.unref();
  return {
    send: (msg) =>
      new Promise<void>((resolve, reject) => {
        sock.send(msg, port, address, (err) => err ? reject(err) : resolve());
      }),
    close: () => {
      try {
        sock.close();
      } catch { /* already closed */ }
    },
  };
}

async function tcpChannel(opts: IpfixExporterOptions): Promise<Channel> {
  const { host, port } = opts, timeoutMs = opts.timeoutMs ?? 5000;
  // A collector whose SYNs go unanswered held the start (and a reconnect) for minutes, deaf to Ctrl-C.
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({
      hostname: host,
      port,
      transport: "tcp",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === "TimeoutError") {
      throw new Error(`no connection to ${host}:${port} within ${timeoutMs / 1000} s`);
    }
    throw e;
  }
  return {
    async send(msg) {
      let off = 0;
      while (off < msg.length) off += await conn.write(msg.subarray(off));
    },
    close() {
      try {
        conn.close();
      } catch { /* already closed */ }
    },
  };
}

/**
 * Sends flow records to an IPFIX collector. Records are queued into the current message, which is sent when
 * full, on {@linkcode flush} and on {@linkcode close}. Over UDP the templates go with the first message and
 * again every `templateRefreshSeconds` or `templateRefreshMessages`; over TCP once per connection (a lost
 * connection is reopened on the next send, with templates). The header's sequence number is the count of
 * data records sent before the message in this transport session (over TCP, since the connection opened).
 *
 * @example
 * ```ts
 * import { IpfixExporter } from "./ipfix.ts";
 * const ex = await IpfixExporter.connect({ host: "127.0.0.1", port: 4739, transport: "udp" });
 * await ex.write({ src_ip: "10.0.0.1", dst_ip: "10.0.0.2", protocol: 17, packets_fwd: 1, bytes_fwd: 60 });
 * await ex.close();
 * console.log(ex.stats.records); // 1
 * ```
 */
export class IpfixExporter implements RecordWriter {
  /** The encoder (templates, options). */
  readonly encoder: IpfixEncoder;
  /** Counters. */
  readonly stats: IpfixExporterStats = { messages: 0, records: 0, templateMessages: 0, bytes: 0, lost: 0 };
  readonly #opts: IpfixExporterOptions;
  readonly #transport: IpfixTransport;
  readonly #maxSize: number;
  #channel: Channel | null;
  #pending: EncodedRecord[] = [];
  #pendingSize = 0;
  #templatesSentAt = -Infinity;
  #messagesSinceTemplates = 0;
  #needTemplates = true;
  #closed = false;
  #warned = false;
  /** Data records sent in this transport session: the next message's sequence number (RFC 7011 section 3.1). */
  #sessionRecords = 0;
  /** Serialises sends so that messages leave in order even when flush is called concurrently. */
  #chain: Promise<void> = Promise.resolve();
  /** Messages, and their data records, queued on `#chain` and not yet sent. */
  #backlog = 0;
  #backlogRecords = 0;
  /** The collector left a message untaken for `timeoutMs`: writes no longer wait for it. */
  #stalled = false;
  /** `close` gave up on the queued messages: those still queued are not sent. */
  #abandoned = false;
  /** Sends completed: the collector's progress, which a wait for it watches. */
  #sends = 0;
  #stallWarned = false;
  #closing: Promise<void> | null = null;
  #timeoutMs: number;

  private constructor(opts: IpfixExporterOptions, channel: Channel) {
    this.#opts = opts;
    this.#transport = opts.transport ?? "udp";
    this.#timeoutMs = opts.timeoutMs ?? 30000;
    this.#maxSize = Math.max(
      256,
      Math.min(65535, opts.maxMessageSize ?? (this.#transport === "tcp" ? 65000 : 1400)),
    );
    let encoder = new IpfixEncoder(opts);
    if (this.#transport === "udp") {
      // One record with its IDPs must fit in a message: cut the IDP to what fits beside the largest template's
      // fixed fields (header 16, set header 4, 3 length bytes per IDP).
      let fixed = 0, idps = 0;
      for (const t of encoder.templates) {
        let n = 0, k = 0;
        for (const f of t.fields) {
          if (f.length === VARIABLE_LENGTH) k++;
          else n += f.length;
        }
        fixed = Math.max(fixed, n);
        idps = Math.max(idps, k);
      }
      const fit = idps > 0 ? Math.floor((this.#maxSize - 20 - fixed - 3 * idps) / idps) : Infinity;
      if (encoder.idpMaxBytes > fit) {
        opts.onWarning?.(
          `IPFIX over UDP: the IDP is cut to ${fit} bytes per direction so that a record fits in a ` +
            `${this.#maxSize}-byte message (TCP carries ${encoder.idpMaxBytes})`,
        );
        encoder = new IpfixEncoder({ ...opts, idpMaxBytes: fit });
      }
    }
    this.encoder = encoder;
    this.#channel = channel;
  }

  /**
   * Opens the channel to the collector (a TCP connection, or a UDP socket).
   *
   * @throws when the TCP connection is refused.
   * @example
   * ```ts
   * import { IpfixExporter } from "./ipfix.ts";
   * const ex = await IpfixExporter.connect({ host: "127.0.0.1", port: 4739, template: "idp" });
   * await ex.close();
   * ```
   */
  static async connect(opts: IpfixExporterOptions): Promise<IpfixExporter> {
    const ch = (opts.transport ?? "udp") === "tcp"
      ? await tcpChannel(opts)
      : await udpChannel(opts.host, opts.port);
    return new IpfixExporter(opts, ch);
  }

  /** Where records go, as `udp://host:port`. */
  get target(): string {
    const h = this.#opts.host.includes(":") ? `[${this.#opts.host}]` : this.#opts.host;
    return `${this.#transport}://${h}:${this.#opts.port}`;
  }

  /** Queues a flow record (as one or two data records); sends the current message first when it is full. */
  async write(record: FlowRecord): Promise<void> {
    if (this.#closed) return;
    for (const r of this.encoder.encodeFlow(record)) {
      let extra = r.bytes.length + (this.#pending.some((p) => p.templateId === r.templateId) ? 0 : 4);
      const base = this.#pendingSize === 0 ? 16 + this.encoder.templateSet.length : this.#pendingSize;
      if (this.#pending.length > 0 && base + extra > this.#maxSize) {
        // The send is awaited (a collector slower than the capture slows it down, losing nothing), but not
        // past the timeout: a collector that stopped reading held every output back, and memory grew.
        const sent = this.flush();
        if (!this.#stalled && !await this.#progressing(sent)) this.#stall();
        // Alone in the next message: its data set needs its own 4-byte header.
        extra = r.bytes.length + 4;
      }
      if (this.#pending.length === 0) this.#pendingSize = 16 + this.encoder.templateSet.length;
      this.#pending.push(r);
      this.#pendingSize += extra;
    }
  }

  /** Sends what is queued (and the templates when due). */
  flush(): Promise<void> {
    const records = this.#pending;
    this.#pending = [];
    this.#pendingSize = 0;
    const refresh = this.#templatesDue();
    if (records.length === 0 && !refresh) return this.#chain;
    if (this.#backlog >= MAX_BACKLOG) {
      // The collector does not take what waits: these are dropped rather than held.
      this.stats.lost += records.length;
      this.#stall();
      return Promise.resolve();
    }
    this.#backlog++;
    this.#backlogRecords += records.length;
    const p = this.#chain.then(() => this.#send(records)).finally(() => {
      this.#backlog--;
      this.#backlogRecords -= records.length;
      // A message taken: the collector reads (slowly, perhaps), and writes wait for it again.
      this.#sends++;
      this.#stalled = false;
    });
    this.#chain = p.catch(() => {});
    return p;
  }

  /**
   * Waits for `p` while the collector takes messages: false once none was taken for `timeoutMs` (a collector
   * that reads slowly is waited for, and loses nothing).
   */
  async #progressing(p: Promise<void>): Promise<boolean> {
    // Looked at every quarter second, so that `hurry` shortens a wait already begun.
    let sends = this.#sends, since = performance.now();
    for (;;) {
      if (await within(p, 250) !== TIMED_OUT) return true;
      if (this.#sends !== sends) {
        sends = this.#sends;
        since = performance.now();
      } else if (performance.now() - since >= this.#timeoutMs) return false;
    }
  }

  /** The collector is taken as not reading: said once, and writes stop waiting for it. */
  #stall(): void {
    if (!this.#stalled && !this.#stallWarned) {
      this.#stallWarned = true;
      this.#opts.onWarning?.(
        `IPFIX collector ${this.target} is not reading: records are dropped while ${MAX_BACKLOG} messages wait`,
      );
    }
    this.#stalled = true;
  }

  /** Whether the next message must carry the templates. */
  #templatesDue(): boolean {
    if (this.#needTemplates) return true;
    if (this.#transport === "tcp") return false;
    const secs = this.#opts.templateRefreshSeconds ?? 60;
    const msgs = this.#opts.templateRefreshMessages ?? 100;
    return performance.now() / 1000 - this.#templatesSentAt >= secs || this.#messagesSinceTemplates >= msgs;
  }

  async #send(records: EncodedRecord[]): Promise<void> {
    if (this.#abandoned) return; // counted lost by close
    let withTemplates = this.#templatesDue();
    if (records.length === 0 && !withTemplates) return;
    if (
      withTemplates && records.length > 0 && this.#channel !== null &&
      this.encoder.messageSize(records, true) > this.#maxSize
    ) {
      // Beside the templates these records would not fit: the templates go first, alone.
      await this.#send([]);
      withTemplates = this.#templatesDue();
    }
    let sent = 0;
    try {
      if (this.#channel === null) {
        // TCP after a failure: reconnect (a new transport session: sequence numbers restart), templates first.
        this.#channel = await tcpChannel(this.#opts);
        this.#needTemplates = true;
        this.#sessionRecords = 0;
        return this.#send(records);
      }
      const msg = this.encoder.message(Date.now() / 1000, this.#sessionRecords, records, withTemplates);
      await this.#channel.send(msg);
      sent = msg.length;
    } catch (e) {
      if (this.#abandoned) return; // counted lost by close
      this.stats.lost += records.length;
      if (!this.#warned) {
        this.#warned = true;
        this.#opts.onWarning?.(
          `IPFIX export to ${this.target} failed: ${e instanceof Error ? e.message : e}`,
        );
      }
      if (this.#transport === "tcp") {
        this.#channel?.close();
        this.#channel = null;
        this.#needTemplates = true;
      }
      return;
    }
    this.stats.messages++;
    this.stats.records += records.length;
    this.#sessionRecords = (this.#sessionRecords + records.length) % TWO_32;
    this.stats.bytes += sent;
    if (withTemplates) {
      this.stats.templateMessages++;
      this.#templatesSentAt = performance.now() / 1000;
      this.#messagesSinceTemplates = 0;
      this.#needTemplates = false;
    } else this.#messagesSinceTemplates++;
  }

  /**
   * From now on, waits for a collector that takes no message at most `ms` milliseconds (a run being stopped:
   * its last flows and files should not wait the full timeout for a collector that no longer reads).
   */
  hurry(ms = 2000): void {
    this.#timeoutMs = Math.min(this.#timeoutMs, ms);
  }

  /** Sends what is queued and closes the channel (idempotent: every call gives the first's promise). */
  close(): Promise<void> {
    return this.#closing ??= this.#close();
  }

  async #close(): Promise<void> {
    void this.flush();
    // Not once no message was taken for the timeout (at once when it was already taken as not reading): a
    // collector that does not read would hold the end of the run (and the flows and files still to write) for
    // ever.
    if (this.#stalled ? await within(this.#chain, 0) === TIMED_OUT : !await this.#progressing(this.#chain)) {
      this.#abandoned = true;
      this.stats.lost += this.#backlogRecords;
      this.#stall();
    }
    this.#closed = true;
    this.#channel?.close();
    this.#channel = null;
  }
}

/** Messages queued behind one a TCP collector has not taken, at most (see `IpfixExporterOptions.timeoutMs`). */
const MAX_BACKLOG = 64;

const TIMED_OUT: unique symbol = Symbol("timed out");

/** `p`'s value, or TIMED_OUT when it does not settle within `ms` milliseconds (its rejection is thrown). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) =>
    timer = setTimeout(() => resolve(TIMED_OUT), ms)
  );
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
