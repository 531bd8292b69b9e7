/**
 * Joy's printing of the TCP options of a flow's SYN or SYN/ACK (`"opts":[{"mss":1460},{"noop":null},...]`).
 *
 * @module
 */

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
  let i = 0;
  while (i < o.length) {
    const kind = o[i];
    if (kind === 0) {
      parts.push(`{"eol":null}`);
      break;
    }
    if (kind === 1) {
      parts.push(`{"noop":null}`);
      i++;
      continue;
    }
    if (i + 1 >= o.length) break;
    const len = o[i + 1];
    if (len < 2 || i + len > o.length) break;
    const v = (k: number) => o[i + k];
    if (kind === 2 && len === 4) parts.push(`{"mss":${(v(2) << 8) | v(3)}}`);
    else if (kind === 3 && len === 3) parts.push(`{"ws":${v(2)}}`);
    else if (kind === 4) parts.push(`{"sackp":null}`);
    else if (kind === 8 && len === 10) {
      const val = ((v(2) << 24) | (v(3) << 16) | (v(4) << 8) | v(5)) >>> 0;
      const ecr = ((v(6) << 24) | (v(7) << 16) | (v(8) << 8) | v(9)) >>> 0;
      parts.push(`{"ts":{"val":${val},"ecr":${ecr}}}`);
    } else {
      let h = "";
      for (let k = 2; k < len; k++) h += o[i + k].toString(16).padStart(2, "0");
      parts.push(`{"kind":${kind},"data":"${h}"}`);
    }
    i += len;
  }
  return `,"opts":[${parts.join(",")}]`;
}
