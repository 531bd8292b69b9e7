/**
 * Joy's anonymization and labelling helpers: subnets whose addresses are printed encrypted (AES-128 with a
 * per-process key, as hex), HTTP user names replaced in URIs, and labelled subnets (`sa_labels` /
 * `da_labels`).
 *
 * @module
 */
import { createCipheriv, randomBytes } from "node:crypto";
import { parseIp } from "../addr.ts";

/** One subnet: address bytes, version, prefix length. */
export interface Subnet {
  /** Address bytes (4 or 16). */
  addr: Uint8Array;
  /** 4 or 6. */
  version: number;
  /** Prefix length in bits. */
  bits: number;
}

/**
 * Parses `a.b.c.d/n` or `x::y/n` (a bare address is a host route); null when it is not a subnet.
 *
 * @example
 * ```ts
 * import { parseSubnet } from "./anon.ts";
 * console.log(parseSubnet("10.0.0.0/8")?.bits); // 8
 * ```
 */
export function parseSubnet(text: string): Subnet | null {
  const [a, b] = text.trim().split("/");
  const buf = new Uint8Array(16);
  const v = parseIp(a, buf);
  if (v === 0) return null;
  const max = v === 4 ? 32 : 128;
  const bits = b === undefined ? max : Number(b);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) return null;
  return { addr: buf.slice(0, v === 4 ? 4 : 16), version: v, bits };
}

/**
 * Reads a subnet file: one subnet per line, `#` starts a comment, blank lines allowed. Throws with the line
 * number on a line that is not a subnet.
 *
 * @example
 * ```ts
 * import { parseSubnetLines } from "./anon.ts";
 * console.log(parseSubnetLines("10.0.0.0/8  # lab\n\n").length); // 1
 * ```
 */
export function parseSubnetLines(text: string): Subnet[] {
  const out: Subnet[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.replace(/#.*/, "").trim();
    if (t === "") return;
    const s = parseSubnet(t);
    if (s === null) throw new Error(`line ${i + 1}: not a subnet: ${t}`);
    out.push(s);
  });
  return out;
}

/**
 * Whether an address (text) is inside a subnet.
 *
 * @example
 * ```ts
 * import { inSubnet, parseSubnet } from "./anon.ts";
 * console.log(inSubnet("10.1.2.3", parseSubnet("10.0.0.0/8")!)); // true
 * ```
 */
export function inSubnet(ip: string, s: Subnet): boolean {
  const buf = new Uint8Array(16);
  const v = parseIp(ip, buf);
  if (v !== s.version) return false;
  let bits = s.bits;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((buf[i] & m) !== (s.addr[i] & m)) return false;
  }
  return true;
}

const KEY = randomBytes(16);

/**
 * The anonymized form of a string or address: AES-128 of its bytes (zero-padded to 16) as 32 hex digits.
 *
 * @example
 * ```ts
 * import { anonymize } from "./anon.ts";
 * console.log(anonymize("10.0.0.1").length); // 32
 * ```
 */
export function anonymize(text: string): string {
  const block = new Uint8Array(16);
  const b = new TextEncoder().encode(text).subarray(0, 16);
  block.set(b);
  const c = createCipheriv("aes-128-ecb", KEY, null);
  c.setAutoPadding(false);
  const out = c.update(block);
  return Array.from(out, (x: number) => x.toString(16).padStart(2, "0")).join("");
}
