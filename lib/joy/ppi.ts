/**
 * Joy's per-packet information (`ppi.c`) and SALT sequence (`salt.c`) features, both fed with every TCP packet
 * Joy keeps (not with retransmissions it drops, nor with packets whose TCP header is invalid):
 *
 * - `ppi`: the first 200 packets of each direction with sequence and acknowledgement numbers, flags, payload
 *   length, option length and the first 24 option bytes; printed (up to `num_pkts` per direction, merged by
 *   time) as `"ppi":[{"seq":..,"ack":..,"rseq":..,"rack":..,"b":..,"olen":..,"dir":">","t":..,"flags":"SA",
 *   "opts":[...]}]`. `rseq` / `rack` are relative to the direction's (and the other direction's) highest
 *   sequence number seen so far, `t` is milliseconds since the flow's first packet, `dir` is `>` for the side
 *   seen (or synchronised) first as client. A bidirectional flow with no packet kept in one direction prints
 *   no `ppi`.
 * - `salt`: the sequence and acknowledgement numbers of the first 200 packets of each direction, printed as
 *   `"oseq"` / `"oack"` (and `"iseq"` / `"iack"` for the twin): the first value as is, then the differences
 *   (modulo 2^32).
 *
 * @module
 */
import { iptMs } from "./json.ts";
import { TCP_OPT_LEN } from "./flow_record.ts";
import { tcpFlagsString, tcpOptionsJson } from "./tcp_opts.ts";

/** Packets kept per direction (`MAX_NUM_PKT`). */
export const MAX_NUM_PKT = 200;

/**
 * Per-packet information of one direction.
 *
 * @example
 * ```ts
 * import { JoyPpi } from "./ppi.ts";
 * const p = new JoyPpi();
 * p.update(0, 1000, 0, 0x02, 20, 0, new Uint8Array(20), 20, 20); // a SYN without options
 * console.log(p.np, p.flags[0]); // 1 2
 * ```
 */
export class JoyPpi {
  /** Packets kept. */
  np = 0;
  /** Sequence number of each packet kept. */
  readonly seq: Uint32Array = new Uint32Array(MAX_NUM_PKT);
  /** Acknowledgement number of each packet kept. */
  readonly ack: Uint32Array = new Uint32Array(MAX_NUM_PKT);
  /** TCP flags of each packet kept. */
  readonly flags: Uint8Array = new Uint8Array(MAX_NUM_PKT);
  /** Payload length of each packet kept (16 bits). */
  readonly len: Uint16Array = new Uint16Array(MAX_NUM_PKT);
  /** TCP option length of each packet kept (header length minus 20). */
  readonly optLen: Uint16Array = new Uint16Array(MAX_NUM_PKT);
  /** The first option bytes of each packet kept, `TCP_OPT_LEN` bytes per packet (zero past those captured). */
  readonly opts: Uint8Array = new Uint8Array(MAX_NUM_PKT * TCP_OPT_LEN);
  /** Time (µs) of each packet kept. */
  readonly time: Float64Array = new Float64Array(MAX_NUM_PKT);

  /**
   * Records one TCP segment seen at `ts` (µs): its header fields as the caller parsed them (header length `hl`,
   * at least 20), its payload length, and its option bytes at `buf[optOff ..]`, captured up to `end`.
   */
  update(
    ts: number,
    seq: number,
    ack: number,
    flags: number,
    hl: number,
    payloadLen: number,
    buf: Uint8Array,
    optOff: number,
    end: number,
  ): void {
    if (this.np >= MAX_NUM_PKT) return;
    const i = this.np++;
    this.seq[i] = seq;
    this.ack[i] = ack;
    this.flags[i] = flags;
    this.len[i] = payloadLen & 0xffff;
    this.optLen[i] = hl - 20;
    this.time[i] = ts;
    const n = Math.min(hl - 20, TCP_OPT_LEN, Math.max(0, end - optOff));
    this.opts.set(buf.subarray(optOff, optOff + n), i * TCP_OPT_LEN);
  }
}

const ROLE_UNKNOWN = 0, ROLE_CLIENT = 1, ROLE_SERVER = 2;
interface TcpState {
  seq: number;
  role: number;
}

function pktJson(x: JoyPpi, i: number, st: TcpState, rev: TcpState, tsFirst: number): string {
  const seq = x.seq[i], ack = x.ack[i], flags = x.flags[i];
  let rseq: number, rack: number;
  if (flags & 0x02) {
    st.seq = seq;
    rseq = 0;
  } else {
    rseq = seq - st.seq;
    if (((seq - st.seq) | 0) > 0) st.seq = seq;
  }
  rack = flags & 0x10 ? ack - rev.seq : 0;
  // The SYN and SYN/ACK may have been missed: the first side seen is taken as the client.
  if (st.role === ROLE_UNKNOWN) {
    if (rev.role === ROLE_UNKNOWN) {
      st.role = ROLE_CLIENT;
      st.seq = seq;
      rseq = rack = 0;
    } else if (rev.role === ROLE_CLIENT) {
      st.role = ROLE_SERVER;
      st.seq = seq;
      rseq = 0;
    } else if (rev.role === ROLE_SERVER) st.role = ROLE_CLIENT;
  }
  const f = tcpFlagsString(flags);
  const ol = x.optLen[i];
  const o = i * TCP_OPT_LEN;
  return `{"seq":${seq},"ack":${ack},"rseq":${rseq},"rack":${rack},"b":${x.len[i]},"olen":${ol},` +
    `"dir":"${st.role === ROLE_SERVER ? "<" : ">"}","t":${iptMs(x.time[i], tsFirst)},"flags":"${f}"` +
    tcpOptionsJson(x.opts.subarray(o, o + Math.min(ol, TCP_OPT_LEN))) + "}";
}

/**
 * The `,"ppi":[...]` fragment (`ppi_print_json`): the record's packets, merged by time with the twin's when
 * the twin has a `ppi` too; at most `numPkts` per direction.
 *
 * @example
 * ```ts
 * import { JoyPpi, ppiPrintJson } from "./ppi.ts";
 * console.log(ppiPrintJson(new JoyPpi(), null, 50)); // (empty string)
 * ```
 */
export function ppiPrintJson(x1: JoyPpi, x2: JoyPpi | null, numPkts: number): string {
  const st: TcpState = { seq: 0, role: ROLE_UNKNOWN }, rev: TcpState = { seq: 0, role: ROLE_UNKNOWN };
  const imax = Math.min(x1.np, numPkts);
  const parts: string[] = [];
  if (x2 === null) {
    if (x1.np === 0) return "";
    for (let i = 0; i < imax; i++) parts.push(pktJson(x1, i, st, rev, x1.time[0]));
    return `,"ppi":[${parts.join(",")}]`;
  }
  const tsFirst = x1.time[0] < x2.time[0] ? x1.time[0] : x2.time[0];
  const jmax = Math.min(x2.np, numPkts);
  if (imax === 0 || jmax === 0) return "";
  let i = 0, j = 0;
  while (i < imax || j < jmax) {
    if (i >= imax) parts.push(pktJson(x2, j++, rev, st, tsFirst));
    else if (j >= jmax) parts.push(pktJson(x1, i++, st, rev, tsFirst));
    else if (x1.time[i] < x2.time[j]) parts.push(pktJson(x1, i++, st, rev, tsFirst));
    else parts.push(pktJson(x2, j++, rev, st, tsFirst));
  }
  return `,"ppi":[${parts.join(",")}]`;
}

/**
 * SALT sequence of one direction: sequence and acknowledgement numbers of the first 200 TCP packets kept.
 *
 * @example
 * ```ts
 * import { JoySalt } from "./ppi.ts";
 * const s = new JoySalt();
 * s.update(9, 1);
 * console.log(s.np, s.seq[0]); // 1 9
 * ```
 */
export class JoySalt {
  /** Packets kept. */
  np = 0;
  /** Sequence number of each packet kept. */
  readonly seq: Uint32Array = new Uint32Array(MAX_NUM_PKT);
  /** Acknowledgement number of each packet kept. */
  readonly ack: Uint32Array = new Uint32Array(MAX_NUM_PKT);

  /** Records one TCP segment's sequence and acknowledgement numbers. */
  update(seq: number, ack: number): void {
    if (this.np >= MAX_NUM_PKT) return;
    const i = this.np++;
    this.seq[i] = seq;
    this.ack[i] = ack;
  }
}

function deltas(a: Uint32Array, n: number): string {
  const v: number[] = [];
  for (let i = 0; i < n; i++) v.push(i === 0 ? a[0] : (a[i] - a[i - 1]) >>> 0);
  return v.join(",");
}

/**
 * The SALT fragment (`salt_print_json`): `,"oseq":[...],"oack":[...]` and, for the twin, `iseq` / `iack`.
 *
 * @example
 * ```ts
 * import { JoySalt, saltPrintJson } from "./ppi.ts";
 * const s = new JoySalt();
 * s.update(9, 1);
 * s.update(7, 1);
 * console.log(saltPrintJson(s, null)); // ,"oseq":[9,4294967294],"oack":[1,0]
 * ```
 */
export function saltPrintJson(x1: JoySalt, x2: JoySalt | null): string {
  let s = "";
  if (x1.np) s += `,"oseq":[${deltas(x1.seq, x1.np)}],"oack":[${deltas(x1.ack, x1.np)}]`;
  if (x2 !== null && x2.np) s += `,"iseq":[${deltas(x2.seq, x2.np)}],"iack":[${deltas(x2.ack, x2.np)}]`;
  return s;
}
