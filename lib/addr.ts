/**
 * IP address text forms: dotted quad for IPv4, RFC 5952 for IPv6 (lower case, no leading zeros, the longest
 * run of two or more zero groups as `::`, IPv4-mapped addresses as `::ffff:a.b.c.d`, and IPv4-compatible ones as
 * `::a.b.c.d`, as tshark and `inet_ntop` write them).
 *
 * @module
 */

/**
 * Formats 4 or 16 address bytes starting at `off`.
 *
 * @example
 * ```ts
 * import { formatIp } from "./addr.ts";
 * console.log(formatIp(new Uint8Array([192, 168, 0, 1]), 0, 4)); // 192.168.0.1
 * const v6 = new Uint8Array(16);
 * v6[0] = 0x20; v6[1] = 0x01; v6[2] = 0x0d; v6[3] = 0xb8; v6[15] = 1;
 * console.log(formatIp(v6, 0, 6)); // 2001:db8::1
 * ```
 */
export function formatIp(b: Uint8Array, off: number, version: number): string {
  if (version === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  const g = new Array<number>(8);
  for (let i = 0; i < 8; i++) g[i] = (b[off + 2 * i] << 8) | b[off + 2 * i + 1];
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0) {
    if (g[5] === 0xffff) return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
    // IPv4-compatible (deprecated, RFC 4291): tshark and inet_ntop, which Joy prints with, write `::1.2.3.4`
    // where six zero groups lead; `::1` and `::102` (seven) stay hexadecimal.
    if (g[5] === 0 && g[6] !== 0) return `::${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  let s = "";
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += "::";
      i += bestLen - 1;
      continue;
    }
    if (s.length > 0 && !s.endsWith(":")) s += ":";
    s += g[i].toString(16);
  }
  return s;
}

/**
 * Parses an IPv4 or IPv6 address into 16 bytes (IPv4 in the first 4); returns the version or 0 when invalid.
 *
 * @example
 * ```ts
 * import { parseIp } from "./addr.ts";
 * const out = new Uint8Array(16);
 * console.log(parseIp("10.0.0.1", out)); // 4
 * ```
 */
export function parseIp(text: string, out: Uint8Array): 0 | 4 | 6 {
  out.fill(0);
  if (!text.includes(":")) {
    const parts = text.split(".");
    if (parts.length !== 4) return 0;
    for (let i = 0; i < 4; i++) {
      if (!/^\d{1,3}$/.test(parts[i])) return 0;
      const v = Number(parts[i]);
      if (v > 255) return 0;
      out[i] = v;
    }
    return 4;
  }
  let head = text, tail = "";
  const dbl = text.indexOf("::");
  if (dbl >= 0) {
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
    if (tail.includes("::")) return 0;
  }
  // A dotted quad only as the last 32 bits (RFC 4291 section 2.2): at the end of the tail, or of the head
  // when there is no "::".
  const groups = (s: string, last: boolean): number[] | null => {
    if (s === "") return [];
    const res: number[] = [];
    const parts = s.split(":");
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (last && i === parts.length - 1 && part.includes(".")) {
        const v4 = new Uint8Array(16);
        if (parseIp(part, v4) !== 4) return null;
        res.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) return null;
        res.push(parseInt(part, 16));
      }
    }
    return res;
  };
  const h = groups(head, dbl < 0), t = groups(tail, true);
  if (!h || !t) return 0;
  if (dbl < 0 && h.length !== 8) return 0;
  if (dbl >= 0 && h.length + t.length > 7) return 0;
  const all = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return 6;
}
