/**
 * Joy's printing of the TCP options of a flow's SYN or SYN/ACK (`"opts":[{"mss":1460},{"noop":null},...]`,
 * `tcp_opt_print_json`): at most 24 option bytes, stopping at the end-of-list option.
 *
 * @module
 */
import { TCP_OPT_LEN } from "./flow_record.ts";

/**
 * The `,"opts":[...]` fragment for raw TCP option bytes.
 *
 * @example
 * ```ts
 * import { tcpOptionsJson } from "./tcp_opts.ts";
 * console.log(tcpOptionsJson(new Uint8Array([2, 4, 5, 180, 1]))); // ,"opts":[{"mss":1460},{"noop":null}]
 * ```
 */
export function tcpOptionsJson(o: Uint8Array): string {
  const parts: string[] = [];
  const hexOf = (from: number, n: number) => {
    let h = "";
    for (let k = 0; k < n && from + k < o.length; k++) h += o[from + k].toString(16).padStart(2, "0");
    return h;
  };
  const malformed = (kind: number, from: number, n: number) =>
    `{"malformed":{"kind":${kind},"data":"${n >= 0 ? hexOf(from, n) : ""}","len":${n >>> 0}}}`;
  let total = Math.min(o.length, TCP_OPT_LEN);
  let i = 0;
  while (total > 0) {
    const kind = o[i];
    if (kind === 0) break; // end of option list
    let optlen: number;
    if (kind === 1) optlen = 1;
    else if (total > 1) optlen = o[i + 1];
    else break;
    if (optlen > total || optlen === 0) {
      parts.push(`{"malformed":{"kind":${kind},"len":${optlen}}}`);
      break;
    }
    const data = i + 2, datalen = optlen - 2;
    if (kind === 1) parts.push(`{"noop":null}`);
    else if (kind === 2) {
      parts.push(datalen !== 2 ? malformed(kind, data, datalen) : `{"mss":${(o[data] << 8) | o[data + 1]}}`);
    } else if (kind === 3) parts.push(datalen !== 1 ? malformed(kind, data, datalen) : `{"ws":${o[data]}}`);
    else if (kind === 4) parts.push(`{"sackp":null}`);
    else if (kind === 8) {
      if (datalen !== 8) parts.push(malformed(kind, data, datalen));
      else {
        const u32 = (k: number) => ((o[k] << 24) | (o[k + 1] << 16) | (o[k + 2] << 8) | o[k + 3]) >>> 0;
        parts.push(`{"ts":{"val":${u32(data)},"ecr":${u32(data + 4)}}}`);
      }
    } else if (datalen > total) parts.push(malformed(kind, data, total));
    else parts.push(`{"kind":${kind},"data":"${hexOf(data, datalen)}"}`);
    total -= optlen;
    i += optlen;
  }
  return `,"opts":[${parts.join(",")}]`;
}

const TCP_FLAG_CHARS = "FSRPAUEC";

/**
 * TCP flags as Joy prints them: one letter per bit set, FIN first (`"SA"` for a SYN/ACK).
 *
 * @example
 * ```ts
 * import { tcpFlagsString } from "./tcp_opts.ts";
 * console.log(tcpFlagsString(0x12)); // SA
 * ```
 */
export function tcpFlagsString(f: number): string {
  let s = "";
  for (let i = 0; i < 8; i++) if (f & (1 << i)) s += TCP_FLAG_CHARS[i];
  return s;
}
