/**
 * Subnets: CIDR parsing, a path-compressed binary trie for longest-prefix match over IPv4 and IPv6 (fast with
 * millions of prefixes: a lookup walks at most one node per distinct prefix length on the address's path), and
 * the labeller behind `jj label-subnets` and `jj extract --label`.
 *
 * @module
 */
import { formatIp, parseIp } from "./addr.ts";
import type { FeatureSpec, FlowRecord } from "./extractor.ts";
import { whyUnreadable } from "./why_unreadable.ts";

/** One network: version, 16 address bytes (IPv4 in the first 4, host bits cleared) and prefix length. */
export interface Cidr {
  /** 4 or 6. */
  version: 4 | 6;
  /** The network address, host bits cleared (IPv4 in the first 4 bytes). */
  bytes: Uint8Array;
  /** Prefix length: 0..32 for IPv4, 0..128 for IPv6. */
  length: number;
}

/**
 * Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128). Host bits are cleared, as Joy does.
 * Returns null when the text is not a network (a prefix length with a leading zero, `/08`, is not one).
 *
 * @example
 * ```ts
 * import { parseCidr } from "./subnets.ts";
 * console.log(parseCidr("10.1.2.3/8")?.length); // 8
 * console.log(parseCidr("nonsense")); // null
 * ```
 */
export function parseCidr(text: string): Cidr | null {
  return parseCidrAsWritten(text)?.cidr ?? null;
}

/** {@linkcode parseCidr}, and whether the text is a network as written (no bit set after its prefix). */
function parseCidrAsWritten(text: string): { cidr: Cidr; exact: boolean } | null {
  const t = text.trim();
  const slash = t.indexOf("/");
  const addr = slash >= 0 ? t.slice(0, slash) : t;
  const bytes = new Uint8Array(16);
  const version = parseIp(addr, bytes);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const m = t.slice(slash + 1);
    // No leading zeros: `/08` is more likely a typo than a /8.
    if (!/^(0|[1-9]\d{0,2})$/.test(m)) return null;
    length = Number(m);
    if (length > max) return null;
  }
  const exact = maskBytes(bytes, length, version);
  return { cidr: { version, bytes, length }, exact };
}

/** Clears the bits after `length` (and the unused bytes of an IPv4 address); false when one was set. */
function maskBytes(b: Uint8Array, length: number, version: 4 | 6): boolean {
  const n = version === 4 ? 4 : 16;
  let exact = true;
  for (let i = 0; i < 16; i++) {
    const was = b[i];
    if (i >= n) b[i] = 0;
    else if (i * 8 >= length) b[i] = 0;
    else if (i * 8 + 8 > length) b[i] &= (0xff << (8 - (length - i * 8))) & 0xff;
    if (b[i] !== was) exact = false;
  }
  return exact;
}

/**
 * Formats a network as `addr/len`.
 *
 * @example
 * ```ts
 * import { formatCidr, parseCidr } from "./subnets.ts";
 * console.log(formatCidr(parseCidr("10.1.2.3/8")!)); // 10.0.0.0/8
 * ```
 */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.bytes, 0, c.version)}/${c.length}`;
}

/**
 * Parses a subnet list in Joy's format: one CIDR (or address) per line, `#` starts a comment, blank lines are
 * ignored. Throws a RangeError naming `source` and the line of the first bad entry; a line with more than one
 * entry is one (`10.0.0.0 255.0.0.0` is not a network in this format).
 *
 * @example
 * ```ts
 * import { parseCidrList } from "./subnets.ts";
 * console.log(parseCidrList("# internal\n10.0.0.0/8\n192.168.0.0/16 # lab\n", "nets.txt").length); // 2
 * ```
 */
export function parseCidrList(text: string, source: string): Cidr[] {
  const out: Cidr[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const hash = lines[i].indexOf("#");
    const line = (hash >= 0 ? lines[i].slice(0, hash) : lines[i]).trim();
    if (line === "") continue;
    if (/\s/.test(line)) {
      throw new RangeError(
        `${source}:${i + 1}: "${line}" has more than one entry; expected one CIDR per line`,
      );
    }
    const c = parseCidr(line);
    if (c === null) throw new RangeError(`${source}:${i + 1}: "${line}" is not a CIDR network or address`);
    out.push(c);
  }
  // An empty list is a mistake (a wrong file), not a request for no networks.
  if (out.length === 0) throw new RangeError(`no networks in "${source}"`);
  return out;
}

/**
 * A path-compressed binary (Patricia) trie from prefixes to values, for one address width (32 bits for IPv4,
 * 128 for IPv6). Each insertion adds at most two nodes, so a million prefixes take at most two million nodes.
 * A node's key words, prefix length, children and value index sit next to each other in one Int32Array, so a
 * lookup touches one cache line per node it visits.
 *
 * @example
 * ```ts
 * import { BinaryTrie } from "./subnets.ts";
 * const t = new BinaryTrie<string>(32);
 * t.insert(new Uint8Array([10, 0, 0, 0]), 8, "ten");
 * t.insert(new Uint8Array([10, 1, 0, 0]), 16, "ten-one");
 * console.log(t.lookup(new Uint8Array([10, 1, 2, 3]))); // ten-one
 * console.log(t.lookup(new Uint8Array([10, 2, 2, 3]))); // ten
 * console.log(t.lookup(new Uint8Array([11, 2, 2, 3]))); // undefined
 * ```
 */
export class BinaryTrie<T> {
  /** Address width in bits (32 or 128). */
  readonly bits: number;
  private readonly words: number;
  /** Int32s per node: key words, then length, child 0, child 1, value index (-1: none). */
  private readonly stride: number;
  private nodes: Int32Array;
  private count = 1;
  private readonly values: T[] = [];
  private readonly q: Int32Array;

  constructor(bits: 32 | 128, initialCapacity = 1024) {
    this.bits = bits;
    this.words = bits / 32;
    this.stride = this.words + 4;
    this.nodes = new Int32Array(Math.max(2, initialCapacity) * this.stride);
    this.initNode(0, 0);
    this.q = new Int32Array(this.words);
  }

  /** Number of prefixes stored. */
  get size(): number {
    return this.values.length;
  }

  /** Number of trie nodes (prefixes plus branching nodes). */
  get nodeCount(): number {
    return this.count;
  }

  private initNode(n: number, len: number): void {
    const b = n * this.stride + this.words;
    this.nodes[b] = len;
    this.nodes[b + 1] = -1;
    this.nodes[b + 2] = -1;
    this.nodes[b + 3] = -1;
  }

  /** Loads address bytes into the query words. */
  private load(addr: Uint8Array, off: number): Int32Array {
    const q = this.q;
    for (let w = 0; w < this.words; w++) {
      const o = off + 4 * w;
      q[w] = (addr[o] << 24) | (addr[o + 1] << 16) | (addr[o + 2] << 8) | addr[o + 3];
    }
    return q;
  }

  /** Length of the common prefix of the query and node `n`'s key, at most `limit`. */
  private common(q: Int32Array, n: number, limit: number): number {
    const base = n * this.stride;
    const k = this.nodes;
    for (let w = 0; w * 32 < limit; w++) {
      const x = q[w] ^ k[base + w];
      if (x !== 0) {
        const l = w * 32 + Math.clz32(x);
        return l < limit ? l : limit;
      }
    }
    return limit;
  }

  private newNode(q: Int32Array, len: number, withValue: boolean): number {
    if ((this.count + 1) * this.stride > this.nodes.length) {
      const grown = new Int32Array(this.nodes.length * 2);
      grown.set(this.nodes);
      this.nodes = grown;
    }
    const n = this.count++;
    const base = n * this.stride;
    for (let w = 0; w < this.words; w++) {
      const keep = len - w * 32;
      const mask = keep >= 32 ? -1 : keep <= 0 ? 0 : -1 << (32 - keep);
      this.nodes[base + w] = q[w] & mask;
    }
    this.initNode(n, len);
    if (withValue) this.nodes[base + this.words + 3] = this.values.length;
    return n;
  }

  /**
   * Sets the value of a prefix: `update` receives the value already stored for exactly that prefix (or
   * undefined) and returns the new one. `addr` holds the network address from `off` (4 or 16 bytes).
   */
  upsert(addr: Uint8Array, length: number, update: (old: T | undefined) => T, off = 0): void {
    if (length < 0 || length > this.bits) throw new RangeError(`prefix length ${length} out of range`);
    const q = this.load(addr, off);
    const S = this.stride, W = this.words;
    let n = 0;
    for (;;) {
      const nb = n * S + W;
      const nlen = this.nodes[nb];
      if (nlen === length) {
        const vi = this.nodes[nb + 3];
        if (vi >= 0) this.values[vi] = update(this.values[vi]);
        else {
          this.nodes[nb + 3] = this.values.length;
          this.values.push(update(undefined));
        }
        return;
      }
      const b = (q[nlen >>> 5] >>> (31 - (nlen & 31))) & 1;
      const c = this.nodes[nb + 1 + b];
      if (c < 0) {
        const leaf = this.newNode(q, length, true);
        this.values.push(update(undefined));
        this.nodes[n * S + W + 1 + b] = leaf;
        return;
      }
      const clen = this.nodes[c * S + W];
      const l = this.common(q, c, Math.min(length, clen));
      if (l === clen) {
        n = c;
        continue;
      }
      if (l === length) {
        // The new prefix sits between n and c.
        const mid = this.newNode(q, length, true);
        this.values.push(update(undefined));
        const cb = (this.nodes[c * S + (length >>> 5)] >>> (31 - (length & 31))) & 1;
        this.nodes[mid * S + W + 1 + cb] = c;
        this.nodes[n * S + W + 1 + b] = mid;
        return;
      }
      // Branch where the new prefix and c part.
      const glue = this.newNode(q, l, false);
      const leaf = this.newNode(q, length, true);
      this.values.push(update(undefined));
      const lb = (q[l >>> 5] >>> (31 - (l & 31))) & 1;
      this.nodes[glue * S + W + 1 + lb] = leaf;
      this.nodes[glue * S + W + 2 - lb] = c;
      this.nodes[n * S + W + 1 + b] = glue;
      return;
    }
  }

  /** Sets (replaces) the value of a prefix. */
  insert(addr: Uint8Array, length: number, value: T, off = 0): void {
    this.upsert(addr, length, () => value, off);
  }

  /** The value of the longest prefix containing the address at `addr[off..]`, or undefined. */
  lookup(addr: Uint8Array, off = 0): T | undefined {
    const q = this.load(addr, off);
    const nodes = this.nodes;
    const S = this.stride, W = this.words, bits = this.bits;
    let best = nodes[W + 3];
    let len = nodes[W];
    let n = 0;
    for (;;) {
      if (len >= bits) break;
      const c = nodes[n * S + W + 1 + ((q[len >>> 5] >>> (31 - (len & 31))) & 1)];
      if (c < 0) break;
      n = c;
      const nb = n * S;
      len = nodes[nb + W];
      // The node's key must match the query over its whole length (bits were skipped on the way).
      let ok = true;
      for (let w = 0; w * 32 < len; w++) {
        const keep = len - w * 32;
        const x = (q[w] ^ nodes[nb + w]) & (keep >= 32 ? -1 : -1 << (32 - keep));
        if (x !== 0) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
      const v = nodes[nb + W + 3];
      if (v >= 0) best = v;
    }
    return best >= 0 ? this.values[best] : undefined;
  }
}

/**
 * A set of IPv4 and IPv6 prefixes with longest-prefix lookup of values.
 *
 * @example
 * ```ts
 * import { PrefixMap, parseCidr } from "./subnets.ts";
 * const m = new PrefixMap<string>();
 * m.set(parseCidr("2001:db8::/32")!, "doc");
 * console.log(m.lookupText("2001:db8::1")); // doc
 * ```
 */
export class PrefixMap<T> {
  /** The IPv4 trie. */
  readonly v4: BinaryTrie<T> = new BinaryTrie<T>(32);
  /** The IPv6 trie. */
  readonly v6: BinaryTrie<T> = new BinaryTrie<T>(128);
  private readonly tmp = new Uint8Array(16);

  /** Number of prefixes. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** Sets the value of a network. */
  set(c: Cidr, value: T): void {
    (c.version === 4 ? this.v4 : this.v6).insert(c.bytes, c.length, value);
  }

  /** Updates the value of a network from the one already there. */
  update(c: Cidr, f: (old: T | undefined) => T): void {
    (c.version === 4 ? this.v4 : this.v6).upsert(c.bytes, c.length, f);
  }

  /** Longest-prefix lookup of 4 or 16 address bytes at `off`. */
  lookup(addr: Uint8Array, off: number, version: 4 | 6): T | undefined {
    return version === 4 ? this.v4.lookup(addr, off) : this.v6.lookup(addr, off);
  }

  /** Longest-prefix lookup of an address in text form; undefined for text that is not an address. */
  lookupText(ip: string): T | undefined {
    const v = parseIp(ip, this.tmp);
    if (v === 0) return undefined;
    return this.lookup(this.tmp, 0, v);
  }
}

/**
 * The two columns a labeller adds.
 *
 * @example
 * ```ts
 * import { LABEL_FEATURES } from "./subnets.ts";
 * console.log(LABEL_FEATURES.map((f) => f.name)); // ["src_labels", "dst_labels"]
 * ```
 */
export const LABEL_FEATURES: readonly FeatureSpec[] = [
  {
    name: "src_labels",
    type: "list",
    description: "Labels of the longest --label prefix containing src_ip (empty when none).",
  },
  {
    name: "dst_labels",
    type: "list",
    description: "Labels of the longest --label prefix containing dst_ip (empty when none).",
  },
];

/**
 * Labels flows by longest-prefix match of their source and destination addresses. Several labels given for the
 * same network are all reported, in the order given.
 *
 * @example
 * ```ts
 * import { SubnetLabeler } from "./subnets.ts";
 * const l = new SubnetLabeler();
 * l.addSpec("lab:10.0.0.0/8");
 * l.addSpec("dmz:10.1.0.0/16");
 * const rec = l.apply({ src_ip: "10.1.2.3", dst_ip: "8.8.8.8" });
 * console.log(rec.src_labels, rec.dst_labels); // ["dmz"] []
 * ```
 */
export class SubnetLabeler {
  /** Network → labels. */
  readonly map: PrefixMap<string[]> = new PrefixMap<string[]>();
  private static readonly NONE: readonly string[] = Object.freeze([]);

  /** Adds one label for one network. */
  add(name: string, c: Cidr): void {
    this.map.update(c, (old) => {
      if (!old) return [name];
      if (!old.includes(name)) old.push(name);
      return old;
    });
  }

  /**
   * Adds `NAME:CIDR` (or `NAME:ADDRESS`) given inline. Returns false when the part after the first colon is not
   * a network (then it may be a file: see {@linkcode SubnetLabeler.fromSpecs}); throws a RangeError when the
   * name is empty or the whole spec is a network (`2001:db8::/32` is not the label 2001 on db8::/32).
   */
  addSpec(spec: string): boolean {
    const colon = spec.indexOf(":");
    if (colon <= 0) throw new RangeError(`--label ${spec}: expected NAME:CIDR or NAME:FILE`);
    const name = spec.slice(0, colon), rest = spec.slice(colon + 1);
    const part = parseCidrAsWritten(rest), whole = parseCidrAsWritten(spec);
    // A name of hexadecimal digits followed by an IPv6 network also reads as one IPv6 network. It is taken for
    // NAME:CIDR only when that reading is the clean one: the name has a letter (`2001` is an address group),
    // the part after it is a network as written, and the whole is not (`bad:3ffe:507::/32` has bits set after
    // its /32). Anything else that parses whole is a bare network, refused: `2001:db8::/32`, `2001:db8::5/64`.
    if (whole !== null) {
      const restExact = part !== null && part.exact;
      if (restExact && !whole.exact && /[a-f]/i.test(name)) {
        this.add(name, part.cidr);
        return true;
      }
      if (restExact && whole.exact) {
        throw new RangeError(
          `--label ${spec}: this is a network without a name (expected NAME:CIDR, e.g. net:${spec}); if ` +
            `"${name}" is meant as the label of ${rest}, give it a name that is not only hexadecimal digits ` +
            `(e.g. ${name}-net:${rest})`,
        );
      }
      throw new RangeError(
        `--label ${spec}: this is a network without a name; expected NAME:CIDR, e.g. net:${spec}`,
      );
    }
    if (part === null) return false;
    this.add(name, part.cidr);
    return true;
  }

  /**
   * Builds a labeller from `--label` values: `NAME:CIDR`, or `NAME:FILE` where FILE lists one network per line
   * (Joy's format, `#` comments). Throws a RangeError naming the bad value, file or line.
   *
   * @example
   * ```ts
   * import { SubnetLabeler } from "./subnets.ts";
   * const l = await SubnetLabeler.fromSpecs(["lab:192.168.0.0/16", "v6:2001:db8::/32"]);
   * console.log(l.map.size); // 2
   * ```
   */
  static async fromSpecs(specs: readonly string[]): Promise<SubnetLabeler> {
    const l = new SubnetLabeler();
    for (const spec of specs) {
      if (l.addSpec(spec)) continue;
      const colon = spec.indexOf(":");
      const name = spec.slice(0, colon);
      const path = spec.slice(colon + 1);
      if (path === "") {
        throw new RangeError(`--label ${spec} has nothing after the colon (NAME:CIDR or NAME:FILE)`);
      }
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound
          ? "is neither a CIDR network nor an existing file"
          : e instanceof Deno.errors.IsADirectory
          ? "is a directory, not a file of networks"
          : `cannot be read: ${whyUnreadable(e)}`;
        throw new RangeError(`--label ${spec}: "${path}" ${why}`);
      }
      for (const c of parseCidrList(text, path)) l.add(name, c);
    }
    return l;
  }

  /** Labels of the longest prefix containing `ip` (text form); empty when none or when `ip` is not an address. */
  labelsOf(ip: unknown): readonly string[] {
    if (typeof ip !== "string") return SubnetLabeler.NONE;
    return this.map.lookupText(ip) ?? SubnetLabeler.NONE;
  }

  /** Sets `src_labels` and `dst_labels` on the record (in place) and returns it. */
  apply(record: FlowRecord): FlowRecord {
    record.src_labels = [...this.labelsOf(record.src_ip)];
    record.dst_labels = [...this.labelsOf(record.dst_ip)];
    return record;
  }
}
