/**
 * Subnets: CIDR parsing, a path-compressed binary trie for longest-prefix match over IPv4 and IPv6 (fast with
 * millions of prefixes: a lookup walks at most one node per distinct prefix length on the address's path), and
 * the labeller behind `jj label-subnets` and `jj extract --label`.
 *
 * @module
 */
import { formatIp, parseIp } from "./addr.ts";
import type { FeatureSpec, FlowRecord } from "./extractor.ts";

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
 * Returns null when the text is not a network.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./subnets.ts";
 * console.log(parseCidr("10.1.2.3/8")?.length); // 8
 * console.log(parseCidr("nonsense")); // null
 * ```
 */
export function parseCidr(text: string): Cidr | null {
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
    if (!/^\d{1,3}$/.test(m)) return null;
    length = Number(m);
    if (length > max) return null;
  }
  maskBytes(bytes, length, version);
  return { version, bytes, length };
}

/** Clears the bits after `length` (and the unused bytes of an IPv4 address). */
function maskBytes(b: Uint8Array, length: number, version: 4 | 6): void {
  const n = version === 4 ? 4 : 16;
  for (let i = 0; i < 16; i++) {
    if (i >= n) b[i] = 0;
    else if (i * 8 >= length) b[i] = 0;
    else if (i * 8 + 8 > length) b[i] &= (0xff << (8 - (length - i * 8))) & 0xff;
  }
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
 * ignored. Throws a RangeError naming `source` and the line of the first bad entry.
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
    const c = parseCidr(line.split(/\s+/)[0]);
    if (c === null) throw new RangeError(`${source}:${i + 1}: "${line}" is not a CIDR network or address`);
    out.push(c);
  }
  return out;
}

/**
 * A path-compressed binary (Patricia) trie from prefixes to values, for one address width (32 bits for IPv4,
 * 128 for IPv6). Nodes live in typed arrays; each insertion adds at most two nodes, so a million prefixes take
 * at most two million nodes.
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
  private keys: Uint32Array;
  private lens: Uint8Array;
  private child0: Int32Array;
  private child1: Int32Array;
  private vals: Int32Array;
  private nodes = 1;
  private readonly values: T[] = [];
  private readonly q: Uint32Array;

  constructor(bits: 32 | 128, initialCapacity = 1024) {
    this.bits = bits;
    this.words = bits / 32;
    const cap = Math.max(2, initialCapacity);
    this.keys = new Uint32Array(cap * this.words);
    this.lens = new Uint8Array(cap);
    this.child0 = new Int32Array(cap).fill(-1);
    this.child1 = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap).fill(-1);
    this.q = new Uint32Array(this.words);
  }

  /** Number of prefixes stored. */
  get size(): number {
    return this.values.length;
  }

  /** Number of trie nodes (prefixes plus branching nodes). */
  get nodeCount(): number {
    return this.nodes;
  }

  private grow(): void {
    const cap = this.lens.length * 2;
    const k = new Uint32Array(cap * this.words);
    k.set(this.keys);
    this.keys = k;
    const l = new Uint8Array(cap);
    l.set(this.lens);
    this.lens = l;
    const grown = (a: Int32Array) => {
      const b = new Int32Array(cap).fill(-1);
      b.set(a);
      return b;
    };
    this.child0 = grown(this.child0);
    this.child1 = grown(this.child1);
    this.vals = grown(this.vals);
  }

  /** Loads address bytes into the query words. */
  private load(addr: Uint8Array, off: number): Uint32Array {
    const q = this.q;
    for (let w = 0; w < this.words; w++) {
      const o = off + 4 * w;
      q[w] = ((addr[o] << 24) | (addr[o + 1] << 16) | (addr[o + 2] << 8) | addr[o + 3]) >>> 0;
    }
    return q;
  }

  /** Bit `i` (0 = most significant) of the query. */
  private static bit(q: Uint32Array, i: number): number {
    return (q[i >>> 5] >>> (31 - (i & 31))) & 1;
  }

  /** Length of the common prefix of the query and node `n`, at most `limit`. */
  private common(q: Uint32Array, n: number, limit: number): number {
    const base = n * this.words;
    const k = this.keys;
    for (let w = 0; w * 32 < limit; w++) {
      const x = (q[w] ^ k[base + w]) >>> 0;
      if (x !== 0) {
        const l = w * 32 + Math.clz32(x);
        return l < limit ? l : limit;
      }
    }
    return limit;
  }

  private newNode(q: Uint32Array, len: number): number {
    if (this.nodes >= this.lens.length) this.grow();
    const n = this.nodes++;
    const base = n * this.words;
    for (let w = 0; w < this.words; w++) {
      const keep = len - w * 32;
      const mask = keep >= 32 ? 0xffffffff : keep <= 0 ? 0 : (0xffffffff << (32 - keep)) >>> 0;
      this.keys[base + w] = (q[w] & mask) >>> 0;
    }
    this.lens[n] = len;
    return n;
  }

  private setChild(parent: number, bit: number, child: number): void {
    if (bit === 0) this.child0[parent] = child;
    else this.child1[parent] = child;
  }

  /**
   * Sets the value of a prefix: `update` receives the value already stored for exactly that prefix (or
   * undefined) and returns the new one. `addr` holds the network address from `off` (4 or 16 bytes).
   */
  upsert(addr: Uint8Array, length: number, update: (old: T | undefined) => T, off = 0): void {
    if (length < 0 || length > this.bits) throw new RangeError(`prefix length ${length} out of range`);
    const q = this.load(addr, off);
    let n = 0;
    for (;;) {
      if (this.lens[n] === length) {
        const vi = this.vals[n];
        if (vi >= 0) this.values[vi] = update(this.values[vi]);
        else {
          this.vals[n] = this.values.length;
          this.values.push(update(undefined));
        }
        return;
      }
      const b = BinaryTrie.bit(q, this.lens[n]);
      const c = b === 0 ? this.child0[n] : this.child1[n];
      if (c < 0) {
        const leaf = this.newNode(q, length);
        this.vals[leaf] = this.values.length;
        this.values.push(update(undefined));
        this.setChild(n, b, leaf);
        return;
      }
      const clen = this.lens[c];
      const l = this.common(q, c, Math.min(length, clen));
      if (l === clen) {
        n = c;
        continue;
      }
      if (l === length) {
        // The new prefix sits between n and c.
        const mid = this.newNode(q, length);
        this.vals[mid] = this.values.length;
        this.values.push(update(undefined));
        const cb = (this.keys[c * this.words + (length >>> 5)] >>> (31 - (length & 31))) & 1;
        this.setChild(mid, cb, c);
        this.setChild(n, b, mid);
        return;
      }
      // Branch where the new prefix and c part.
      const glue = this.newNode(q, l);
      const leaf = this.newNode(q, length);
      this.vals[leaf] = this.values.length;
      this.values.push(update(undefined));
      const nb = BinaryTrie.bit(q, l);
      this.setChild(glue, nb, leaf);
      this.setChild(glue, nb ^ 1, c);
      this.setChild(n, b, glue);
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
    let n = 0;
    let best = this.vals[0];
    for (;;) {
      const len = this.lens[n];
      if (n !== 0) {
        if (this.common(q, n, len) !== len) break;
        const v = this.vals[n];
        if (v >= 0) best = v;
      }
      if (len >= this.bits) break;
      const c = BinaryTrie.bit(q, len) === 0 ? this.child0[n] : this.child1[n];
      if (c < 0) break;
      n = c;
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

/** The two columns a labeller adds. */
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
   * name is empty.
   */
  addSpec(spec: string): boolean {
    const colon = spec.indexOf(":");
    if (colon <= 0) throw new RangeError(`--label ${spec}: expected NAME:CIDR or NAME:FILE`);
    const c = parseCidr(spec.slice(colon + 1));
    if (c === null) return false;
    this.add(spec.slice(0, colon), c);
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
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (e) {
        const why = e instanceof Deno.errors.NotFound ? "neither a CIDR network nor an existing file" : String(e);
        throw new RangeError(`--label ${spec}: "${path}" is ${why}`);
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
