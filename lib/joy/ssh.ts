/**
 * Joy's SSH feature, reduced: the protocol banner of each side and the algorithm lists of its first KEXINIT,
 * parsed per packet as Joy does, printed as `"ssh":{"cli":{...},"srv":{...}}`.
 *
 * @module
 */
import { hex } from "./json.ts";

const LISTS = [
  "kex_algos",
  "s_host_key_algos",
  "c_encryption_algos",
  "s_encryption_algos",
  "c_mac_algos",
  "s_mac_algos",
  "c_comp_algos",
  "s_comp_algos",
  "c_languages",
  "s_languages",
];

/**
 * SSH state of one direction.
 *
 * @example
 * ```ts
 * import { JoySsh } from "./ssh.ts";
 * const s = new JoySsh();
 * const b = new TextEncoder().encode("SSH-2.0-OpenSSH_9.0\r\n");
 * s.update(b, 0, b.length);
 * console.log(s.protocol); // SSH-2.0-OpenSSH_9.0
 * ```
 */
export class JoySsh {
  /** Banner line without CR LF. */
  protocol: string | null = null;
  /** KEXINIT cookie (hex) and name lists. */
  cookie: string | null = null;
  lists: string[] | null = null;

  /** One TCP payload. */
  update(buf: Uint8Array, off: number, len: number): void {
    if (this.protocol === null) {
      if (
        len >= 4 && buf[off] === 0x53 && buf[off + 1] === 0x53 && buf[off + 2] === 0x48 &&
        buf[off + 3] === 0x2d
      ) {
        let e = off;
        while (e < off + len && buf[e] !== 13 && buf[e] !== 10) e++;
        this.protocol = String.fromCharCode(...buf.subarray(off, Math.min(e, off + 255)));
      }
      return;
    }
    if (this.lists !== null || len < 22) return;
    // binary packet: length(4) padding(1) type(1) = 20 (KEXINIT), cookie(16), name-lists
    if (buf[off + 5] !== 20) return;
    const end = off +
      Math.min(
        len,
        4 + (((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0),
      );
    this.cookie = hex(buf, off + 6, 16);
    let p = off + 22;
    const lists: string[] = [];
    for (let i = 0; i < LISTS.length; i++) {
      if (p + 4 > end) return;
      const n = ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
      p += 4;
      if (p + n > end) return;
      let s = "";
      for (let k = 0; k < n; k++) s += String.fromCharCode(buf[p + k]);
      lists.push(s);
      p += n;
    }
    this.lists = lists;
  }
}

function side(s: JoySsh): string {
  const parts: string[] = [];
  if (s.protocol !== null) parts.push(`"protocol":${JSON.stringify(s.protocol)}`);
  if (s.cookie !== null && s.lists !== null) {
    parts.push(`"cookie":"${s.cookie}"`);
    s.lists.forEach((v, i) => parts.push(`${JSON.stringify(LISTS[i])}:${JSON.stringify(v)}`));
  }
  return `{${parts.join(",")}}`;
}

/**
 * The `"ssh"` object (client side first, by who sent its banner first).
 *
 * @example
 * ```ts
 * import { JoySsh, sshPrintJson } from "./ssh.ts";
 * console.log(sshPrintJson(new JoySsh(), null)); // ""
 * ```
 */
export function sshPrintJson(a: JoySsh, b: JoySsh | null): string {
  if (a.protocol === null && (b === null || b.protocol === null)) return "";
  return `,"ssh":{"cli":${side(a)},"srv":${b ? side(b) : "{}"}}`;
}
