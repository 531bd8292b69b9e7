/**
 * The flow model shared by the whole-corpus tshark differential tests (tests/tshark_features_test.ts,
 * tests/tshark_headers_test.ts, tests/tshark_payload_test.ts): running tshark (`-T fields`, IP
 * defragmentation and TCP desegmentation off) over single or merged captures, reading its per-frame fields
 * (IP layers, the innermost 5-tuple keyed like jj's flows, the IP and transport lengths, and the exclusion
 * rules for frames whose headers tshark could not fully read), and splitting a capture's frames into flows as
 * jj's flow table does (bidirectional 5-tuple, initiator = sender of the first packet in file order, 60 s
 * idle / 1800 s active timeouts). Also the comparison plumbing the three tests share: pairing the model's
 * flows with jj's records, counting exclusions, and sorting mismatches against a list of known jj bugs.
 *
 * Each test keeps its own fields, frame contents and column computations.
 *
 * @module
 */
import assert from "node:assert/strict";
import { canonicalKey, CAPTURES, type IpLayer, ipLayers } from "./helpers.ts";
import type { FlowRecord } from "../lib/extractor.ts";

/** jj's idle timeout (seconds): a flow whose last packet is older ends. */
export const IDLE_TIMEOUT = 60;
/** jj's active timeout (seconds): a flow older than this ends. */
export const ACTIVE_TIMEOUT = 1800;

// ---------------------------------------------------------------------------------------------------------
// small helpers

/**
 * The corpus captures' file names, sorted.
 *
 * @example
 * ```ts
 * import { captureNames } from "./tshark_flows.ts";
 * console.log(captureNames().length > 0); // true
 * ```
 */
export function captureNames(): string[] {
  return [...Deno.readDirSync(CAPTURES)].filter((e) => e.isFile).map((e) => e.name).sort();
}

/**
 * Runs `fn` over `items`, at most `n` at a time, keeping the order of the results.
 *
 * @example
 * ```ts
 * import { pool } from "./tshark_flows.ts";
 * console.log(await pool([1, 2, 3], 2, async (x) => x * 2)); // [2, 4, 6]
 * ```
 */
export async function pool<T, R>(items: T[], n: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/**
 * The sum of `a` (0 when empty), added in order.
 *
 * @example
 * ```ts
 * import { sum } from "./tshark_flows.ts";
 * console.log(sum([1, 2, 3])); // 6
 * ```
 */
export function sum(a: number[]): number {
  let s = 0;
  for (const x of a) s += x;
  return s;
}

/**
 * Seconds since the epoch from tshark's `S.FFFFFFFFF` text: whole seconds plus the fraction, as a pcap reader
 * adds them.
 *
 * @example
 * ```ts
 * import { parseEpoch } from "./tshark_flows.ts";
 * console.log(parseEpoch("1.500000000")); // 1.5
 * ```
 */
export function parseEpoch(text: string): number {
  const dot = text.indexOf(".");
  if (dot < 0) return Number(text);
  const frac = text.slice(dot + 1);
  return Number(text.slice(0, dot)) + Number(frac) / 10 ** frac.length;
}

/**
 * tshark's `frame.time_epoch` as exact nanoseconds since the epoch (tshark's own `nstime`), so that gaps are
 * exact as tshark's `frame.time_delta` is; {@linkcode secondsBetween} makes seconds of two.
 *
 * @example
 * ```ts
 * import { parseEpochNs } from "./tshark_flows.ts";
 * console.log(parseEpochNs("1700000000.000003000") - parseEpochNs("1700000000.000000000")); // 3000n
 * ```
 */
export function parseEpochNs(text: string): bigint {
  const negative = text.startsWith("-");
  const t = negative ? text.slice(1) : text;
  const dot = t.indexOf(".");
  const whole = BigInt(dot < 0 ? t : t.slice(0, dot) || "0");
  const frac = dot < 0 ? "" : t.slice(dot + 1, dot + 10).padEnd(9, "0");
  const ns = whole * 1_000_000_000n + BigInt(frac || "0");
  return negative ? -ns : ns;
}

/**
 * Seconds from exact time `b` to exact time `a` (nanoseconds), as one division of an exact difference.
 *
 * @example
 * ```ts
 * import { secondsBetween } from "./tshark_flows.ts";
 * console.log(secondsBetween(1_700_000_000_000_003_000n, 1_700_000_000_000_000_000n)); // 0.000003
 * ```
 */
export function secondsBetween(a: bigint, b: bigint): number {
  return Number(a - b) / 1e9;
}

// ---------------------------------------------------------------------------------------------------------
// tshark

/** The preferences of every run: no name resolution, no IP defragmentation, no TCP desegmentation. */
export const TSHARK_PREFS: readonly string[] = [
  "-n",
  "-o",
  "ip.defragment:FALSE",
  "-o",
  "ipv6.defragment:FALSE",
  "-o",
  "tcp.desegment_tcp_streams:FALSE",
];

/** The fields the flow model reads (a test adds its own after them). */
export const FLOW_FIELDS = [
  "frame.time_epoch",
  "frame.len",
  "frame.protocols",
  "ip.src",
  "ip.dst",
  "ipv6.src",
  "ipv6.dst",
  "ip.proto",
  "ip.len",
  "ip.hdr_len",
  "ip.frag_offset",
  "ip.id",
  "ip.flags.mf",
  "ipv6.nxt",
  "ipv6.plen",
  "ipv6.fraghdr.nxt",
  "ipv6.fraghdr.offset",
  "ipv6.fraghdr.ident",
  "ipv6.fraghdr.more",
  "ipv6.hopopts.len_oct",
  "ipv6.dstopts.len_oct",
  "ipv6.routing.len_oct",
  "ah.length",
  "tcp.srcport",
  "tcp.dstport",
  "tcp.flags",
  "tcp.hdr_len",
  "udp.srcport",
  "udp.dstport",
  "udp.length",
  "sctp.srcport",
  "sctp.dstport",
  "_ws.expert.message",
] as const;

/** A field of {@linkcode FLOW_FIELDS}. */
export type FlowField = typeof FLOW_FIELDS[number];

/** A frame's field, by name: every occurrence (tshark's `|`-joined list), empty when absent. */
export type FieldReader<F extends string> = (name: F) => string[];

/**
 * The column of each field in tshark's rows when run with `fields` in this order.
 *
 * @example
 * ```ts
 * import { columnsOf } from "./tshark_flows.ts";
 * console.log(columnsOf(["frame.len", "ip.src"] as const)["ip.src"]); // 1
 * ```
 */
export function columnsOf<F extends string>(fields: readonly F[]): Record<F, number> {
  return Object.fromEntries(fields.map((f, i) => [f, i])) as Record<F, number>;
}

/**
 * The field reader of one tshark row (`col` from {@linkcode columnsOf}).
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader } from "./tshark_flows.ts";
 * const f = fieldReader(["1|2", ""], columnsOf(["ip.ttl", "ip.id"] as const));
 * console.log(f("ip.ttl"), f("ip.id")); // ["1", "2"] []
 * ```
 */
export function fieldReader<F extends string>(
  row: string[],
  col: Readonly<Record<F, number>>,
): FieldReader<F> {
  return (name) => {
    const v = row[col[name]];
    return v ? v.split("|") : [];
  };
}

/**
 * tshark's arguments to dissect `file` into tab-separated `fields` (every occurrence, joined with `|`).
 *
 * @example
 * ```ts
 * import { tsharkFieldArgs } from "./tshark_flows.ts";
 * console.log(tsharkFieldArgs("a.pcap", ["frame.len"]).slice(-2)); // ["-e", "frame.len"]
 * ```
 */
export function tsharkFieldArgs(
  file: string,
  fields: readonly string[],
  prefs: readonly string[] = TSHARK_PREFS,
): string[] {
  const args = [...prefs, "-r", file, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"];
  args.push("-E", "aggregator=|");
  for (const f of fields) args.push("-e", f);
  return args;
}

/**
 * tshark's `-T fields` output as rows of fields, empty lines left out.
 *
 * @example
 * ```ts
 * import { splitRows } from "./tshark_flows.ts";
 * console.log(splitRows(new TextEncoder().encode("1\ta\n2\tb\n"))); // [["1", "a"], ["2", "b"]]
 * ```
 */
export function splitRows(stdout: Uint8Array): string[][] {
  return new TextDecoder().decode(stdout).split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
}

/**
 * tshark's rows of `fields` for one capture file, or null when tshark cannot read it to the end (it exits
 * non-zero with an error about that file). Any other failure (an unknown preference or field, a bad option:
 * tshark then names no file and prints no rows) throws, so that it cannot pass for an unreadable capture.
 *
 * @example
 * ```ts
 * import { CAPTURES } from "./helpers.ts";
 * import { FLOW_FIELDS, tsharkRowsOf } from "./tshark_flows.ts";
 * const rows = await tsharkRowsOf(`${CAPTURES}/dns.pcap`, FLOW_FIELDS);
 * console.log(rows?.length);
 * ```
 */
export async function tsharkRowsOf(file: string, fields: readonly string[]): Promise<string[][] | null> {
  const args = tsharkFieldArgs(file, fields);
  const out = await new Deno.Command("tshark", { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  if (out.code !== 0) {
    const err = new TextDecoder().decode(out.stderr);
    if (err.includes(`"${file}"`)) return null;
    throw new Error(`tshark exited with ${out.code} on ${file}: ${err}`);
  }
  return splitRows(out.stdout);
}

/** Options of {@linkcode tsharkRowsMerged}. */
export interface MergedOptions {
  /** Concatenated files dissected in parallel, one tshark each. */
  chunks: number;
  /** tshark's preferences ({@linkcode TSHARK_PREFS} by default). */
  prefs?: readonly string[];
  /** Prefix of the temporary directory of the concatenated files. */
  tempPrefix?: string;
  /** The directory of the captures (the corpus by default). */
  dir?: string;
}

/**
 * tshark's rows of `fields` for every capture it can read, by capture name, and the names of the others.
 * Starting tshark costs about a second, so the readable captures are concatenated (`mergecap -a`, each file's
 * interfaces kept apart) into `chunks` files of about equal frame counts, each dissected by one tshark, and
 * the rows are split back by the frame counts `capinfos` reports; a capture wiretap cannot read to the end
 * (`capinfos` reports an error) is left out. Needs `mergecap` and `capinfos`.
 *
 * @example
 * ```ts
 * import { captureNames, FLOW_FIELDS, tsharkRowsMerged } from "./tshark_flows.ts";
 * const { rows, unreadable } = await tsharkRowsMerged(captureNames(), FLOW_FIELDS, { chunks: 2 });
 * console.log(rows.size, unreadable);
 * ```
 */
export async function tsharkRowsMerged(
  names: string[],
  fields: readonly string[],
  opts: MergedOptions,
): Promise<{ rows: Map<string, string[][]>; unreadable: string[] }> {
  const base = opts.dir ?? CAPTURES;
  const paths = names.map((n) => `${base}/${n}`);
  const info = await new Deno.Command("capinfos", {
    args: ["-T", "-r", "-c", "-M", ...paths],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  const bad = new Set<string>();
  for (const m of dec.decode(info.stderr).matchAll(/"([^"]+)"/g)) bad.add(m[1]);
  const counts = new Map<string, number>();
  for (const line of dec.decode(info.stdout).split("\n")) {
    const [path, n] = line.split("\t");
    if (path && n !== undefined) counts.set(path, Number(n));
  }
  // capinfos reports each file on stdout or names it in an error on stderr: a capinfos that failed outright
  // (bad option, missing tool) would otherwise leave no capture readable and the comparison empty.
  const unaccounted = paths.filter((p) => !counts.has(p) && !bad.has(p));
  assert.deepEqual(
    unaccounted.slice(0, 5),
    [],
    `capinfos (exit ${info.code}) reported nothing on ${unaccounted.length} captures: ${
      dec.decode(info.stderr)
    }`,
  );
  const readable = names.filter((_n, i) => !bad.has(paths[i]) && counts.get(paths[i])! > 0);
  const unreadable = names.filter((_n, i) => bad.has(paths[i]));
  // Chunks of about equal frame counts, in order.
  const total = readable.reduce((a, n) => a + counts.get(`${base}/${n}`)!, 0);
  const chunks: string[][] = [[]];
  let acc = 0;
  for (const n of readable) {
    if (acc >= (total / opts.chunks) * chunks.length && chunks.length < opts.chunks) chunks.push([]);
    chunks.at(-1)!.push(n);
    acc += counts.get(`${base}/${n}`)!;
  }
  const dir = await Deno.makeTempDir({ prefix: opts.tempPrefix ?? "jj_tshark_" });
  const rows = new Map<string, string[][]>();
  try {
    await Promise.all(
      chunks.filter((c) => c.length).map(async (chunk, ci) => {
        const merged = `${dir}/chunk${ci}.pcapng`;
        const m = await new Deno.Command("mergecap", {
          args: ["-a", "-I", "none", "-F", "pcapng", "-w", merged, ...chunk.map((n) => `${base}/${n}`)],
          stdout: "null",
          stderr: "piped",
          stdin: "null",
        }).output();
        assert.equal(m.code, 0, `mergecap: ${dec.decode(m.stderr)}`);
        const out = await new Deno.Command("tshark", {
          args: tsharkFieldArgs(merged, fields, opts.prefs),
          stdout: "piped",
          stderr: "piped",
          stdin: "null",
        }).output();
        assert.equal(out.code, 0, `tshark: ${dec.decode(out.stderr)}`);
        const all = dec.decode(out.stdout).split("\n");
        if (all.at(-1) === "") all.pop();
        let at = 0;
        for (const n of chunk) {
          const k = counts.get(`${base}/${n}`)!;
          rows.set(n, all.slice(at, at + k).map((l) => l.split("\t")));
          at += k;
        }
        assert.equal(at, all.length, "tshark's frames do not add up to capinfos' counts");
      }),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return { rows, unreadable };
}

// ---------------------------------------------------------------------------------------------------------
// frames

/** The 5-tuple of one IP layer: key, source, source port, protocol, transport layer position and name. */
export interface IpKey {
  /** Canonical key (helpers.ts `canonicalKey`). */
  key: string;
  src: string;
  sp: number;
  proto: number;
  /** Position of the layer after the IP header and its IPv6 extension headers. */
  j: number;
  /** Name of that layer (undefined past the end). */
  t: string | undefined;
}

/** A frame's protocol layers (tshark's `frame.protocols`) and its IP layers. */
export interface FrameLayers {
  layers: string[];
  ips: IpLayer[];
  /** How many layers named `name` come before position `at` (that layer's field occurrence). */
  occBefore(name: string, at: number): number;
  /** The 5-tuple of the IP layer `ip`. */
  keyOf(ip: IpLayer): IpKey;
}

const IP6_EXT = new Set(["ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "ipv6.fraghdr", "ah"]);

/**
 * A frame's layers, and the 5-tuple of each of its IP layers as jj keys flows.
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader, FLOW_FIELDS, readLayers } from "./tshark_flows.ts";
 * const row = FLOW_FIELDS.map(() => "");
 * const f = fieldReader(row, columnsOf(FLOW_FIELDS));
 * console.log(readLayers(f).ips.length); // 0
 * ```
 */
export function readLayers(f: FieldReader<FlowField>): FrameLayers {
  const layers = (f("frame.protocols")[0] ?? "").split(":");
  const occBefore = (name: string, at: number) => {
    let n = 0;
    for (let i = 0; i < at; i++) if (layers[i] === name) n++;
    return n;
  };
  const keyOf = (ip: IpLayer): IpKey => {
    const src = ip.fam === 4 ? f("ip.src")[ip.occ] : f("ipv6.src")[ip.occ];
    const dst = ip.fam === 4 ? f("ip.dst")[ip.occ] : f("ipv6.dst")[ip.occ];
    let j = ip.at + 1;
    while (j < layers.length && IP6_EXT.has(layers[j])) j++;
    const t: string | undefined = layers[j];
    let proto: number, sp = 0, dp = 0;
    if (t === "tcp") {
      const o = occBefore("tcp", j);
      [proto, sp, dp] = [6, Number(f("tcp.srcport")[o]), Number(f("tcp.dstport")[o])];
    } else if (t === "udp") {
      const o = occBefore("udp", j);
      [proto, sp, dp] = [17, Number(f("udp.srcport")[o]), Number(f("udp.dstport")[o])];
    } else if (t === "sctp") {
      const o = occBefore("sctp", j);
      [proto, sp, dp] = [132, Number(f("sctp.srcport")[o]), Number(f("sctp.dstport")[o])];
    } else if (t === "icmp") proto = 1;
    else if (t === "icmpv6") proto = 58;
    else if (t === "gre") proto = 47;
    else if (t === "ip") proto = 4;
    else if (t === "ipv6") proto = 41;
    else if (ip.fam === 4) proto = Number(f("ip.proto")[ip.occ]);
    else if (layers[j - 1] === "ipv6.fraghdr") proto = Number(f("ipv6.fraghdr.nxt").at(-1));
    else proto = Number(f("ipv6.nxt")[ip.occ]);
    return { key: canonicalKey(proto, src, sp, dst, dp), src, sp, proto, j, t };
  };
  return { layers, ips: ipLayers(layers), occBefore, keyOf };
}

/**
 * Length of the IP payload of `ip` after its header (and IPv6 extension headers), by the IP header's length,
 * and whether the frame is a non-first fragment; or why the frame's flow is not attributable (no IP length,
 * an IPv4 total length below the header length or an IPv6 payload length of 0: TSO or jumbograms, where jj
 * falls back to the captured length; an unreadable IPv6 extension header).
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader, FLOW_FIELDS, ipPayloadLength, readLayers } from "./tshark_flows.ts";
 * const row = FLOW_FIELDS.map(() => "");
 * const f = fieldReader(row, columnsOf(FLOW_FIELDS));
 * const l = readLayers(f);
 * if (l.ips.length) console.log(ipPayloadLength(f, l, l.ips[0], l.keyOf(l.ips[0])));
 * ```
 */
export function ipPayloadLength(
  f: FieldReader<FlowField>,
  fl: FrameLayers,
  ip: IpLayer,
  inner: IpKey,
): { l4Len: number; fragment: boolean } | string {
  // An IP length past the end of a frame captured whole: tshark says how many bytes the frame holds, and the
  // datagram ends there (jj counts no payload past the frame).
  const held = (what: string): number => {
    for (const m of f("_ws.expert.message")) {
      const r = new RegExp(`^${what} \\((\\d+) bytes\\)`).exec(m);
      if (r !== null) return Number(r[1]);
    }
    return Infinity;
  };
  if (ip.fam === 4) {
    const total = Number(f("ip.len")[ip.occ]), ihl = Number(f("ip.hdr_len")[ip.occ]);
    if (!(total >= 0) || !(ihl >= 20)) return "unreadable IP header";
    if (total < ihl) return "IP total length below header length (TSO)";
    const bounded = Math.min(total, held("IPv4 total length exceeds packet length"));
    return { l4Len: bounded - ihl, fragment: Number(f("ip.frag_offset")[ip.occ] ?? 0) !== 0 };
  }
  const plen = Math.min(
    Number(f("ipv6.plen")[ip.occ]),
    held("IPv6 payload length exceeds framing length"),
  );
  if (!(plen >= 0)) return "unreadable IP header";
  if (plen === 0) return "IPv6 payload length 0 (jumbogram or TSO)";
  let ext = 0, fragment = false;
  for (let i = ip.at + 1; i < inner.j; i++) {
    const l = fl.layers[i], o = fl.occBefore(l, i);
    let n: number;
    if (l === "ipv6.fraghdr") {
      n = 8;
      if (Number(f("ipv6.fraghdr.offset")[o] ?? 0) !== 0) fragment = true;
    } else if (l === "ah") n = (Number(f("ah.length")[o]) + 2) * 4;
    else n = Number(f(`${l}.len_oct` as FlowField)[o]);
    if (!(n >= 8)) return "unreadable IPv6 extension header";
    ext += n;
  }
  return { l4Len: plen - ext, fragment };
}

/**
 * The IP fragment a frame with one IP layer `ip` is (`later`: not the first, from {@linkcode ipPayloadLength}):
 * its datagram (protocol, addresses, IP id), whether it is the first and whether more follow; null when the
 * frame is not a fragment.
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader, FLOW_FIELDS, ipFragment, readLayers } from "./tshark_flows.ts";
 * const row = FLOW_FIELDS.map(() => "");
 * const f = fieldReader(row, columnsOf(FLOW_FIELDS));
 * const l = readLayers(f);
 * if (l.ips.length) console.log(ipFragment(f, l.ips[0], l.keyOf(l.ips[0]), false));
 * ```
 */
export function ipFragment(
  f: FieldReader<FlowField>,
  ip: IpLayer,
  inner: IpKey,
  later: boolean,
): { datagram: string; first: boolean; more: boolean } | null {
  const v4 = ip.fam === 4;
  const id = v4 ? f("ip.id")[ip.occ] : f("ipv6.fraghdr.ident").at(-1);
  const more = v4 ? f("ip.flags.mf")[ip.occ] === "1" : f("ipv6.fraghdr.more").at(-1) === "1";
  if (id === undefined || (!later && !more)) return null;
  const dst = v4 ? f("ip.dst")[ip.occ] : f("ipv6.dst")[ip.occ];
  return { datagram: `${inner.proto}|${inner.src}|${dst}|${id}`, first: !later, more };
}

/** Why a flow is not attributable when its TCP header is not complete. */
export const TCP_HEADER_CUT = "TCP header cut off or shorter than 20 bytes";

/**
 * The TCP header (occurrence `occ`) of a frame whose IP payload is `l4Len` bytes: its length and flags (low
 * 8 bits); or why the flow is not attributable (jj reads no flags when the IP length leaves less than 20
 * bytes of TCP header, where tshark reads past it; a header tshark could not read or shorter than 20 bytes).
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader, FLOW_FIELDS, tcpHeader } from "./tshark_flows.ts";
 * const col = columnsOf(FLOW_FIELDS);
 * const row = FLOW_FIELDS.map(() => "");
 * row[col["tcp.hdr_len"]] = "20";
 * row[col["tcp.flags"]] = "0x0012";
 * console.log(tcpHeader(fieldReader(row, col), 0, 40)); // { hl: 20, flags: 18 }
 * ```
 */
export function tcpHeader(
  f: FieldReader<FlowField>,
  occ: number,
  l4Len: number,
): { hl: number; flags: number } | string {
  if (l4Len < 20) return "TCP header cut off by the IP length";
  const hl = Number(f("tcp.hdr_len")[occ]);
  const flags = parseInt(f("tcp.flags")[occ] ?? "", 16);
  if (!(hl >= 20) || !(flags >= 0)) return TCP_HEADER_CUT;
  return { hl, flags: flags & 0xff };
}

/** One frame as the flow model reads it. */
export interface FlowFrame {
  ts: number;
  /** The same time in exact nanoseconds ({@linkcode parseEpochNs}). */
  ns: bigint;
  /** Wire length. */
  len: number;
  /** Canonical key; null for frames without IP and for tunnelled frames. */
  key: string | null;
  /** Keys that are not attributable because of this frame (tunnels, unreadable headers), with the reason. */
  taint: [string, string][];
  src: string;
  sport: number;
  /** Transport payload by the IP length. */
  pay: number;
  /** TCP flags (low 8 bits), or -1 without a (complete) TCP header. */
  flags: number;
  /**
   * An IP fragment's datagram (protocol, addresses and IP id), whether it is the first fragment and whether
   * more follow; null when the frame is not a fragment. See {@linkcode modelFlows}.
   */
  fragment: { datagram: string; first: boolean; more: boolean } | null;
}

/** How a frame's flow was read, for a test that reads more of the frame. */
export interface FrameDetail {
  fl: FrameLayers;
  /** The 5-tuple of the frame's (only) IP layer. */
  inner: IpKey;
  /** A non-first fragment: no transport header, the payload is the whole fragment. */
  fragment: boolean;
}

/**
 * One frame of tshark's rows as the flow model reads it, with the exclusion rules: a frame with more than one
 * IP layer taints both its innermost and outermost 5-tuple ("tunnel": jj and tshark decapsulate, but not
 * always the same tunnels); a frame whose IP or transport headers tshark could not fully read taints its
 * 5-tuple (see {@linkcode ipPayloadLength}, {@linkcode tcpHeader}; a TCP, UDP or SCTP header tshark did not
 * dissect: jj skips or zero-fills such packets). `detail` is null unless the frame is attributable.
 *
 * @example
 * ```ts
 * import { columnsOf, fieldReader, FLOW_FIELDS, parseFlowFrame } from "./tshark_flows.ts";
 * const row = FLOW_FIELDS.map(() => "");
 * row[0] = "1.5";
 * console.log(parseFlowFrame(fieldReader(row, columnsOf(FLOW_FIELDS))).frame.key); // null
 * ```
 */
export function parseFlowFrame(f: FieldReader<FlowField>): { frame: FlowFrame; detail: FrameDetail | null } {
  const frame: FlowFrame = {
    ts: parseEpoch(f("frame.time_epoch")[0]),
    ns: parseEpochNs(f("frame.time_epoch")[0]),
    len: Number(f("frame.len")[0]),
    key: null,
    taint: [],
    src: "",
    sport: 0,
    pay: 0,
    flags: -1,
    fragment: null,
  };
  const fl = readLayers(f), ips = fl.ips;
  if (ips.length === 0) return { frame, detail: null };
  const inner = fl.keyOf(ips[ips.length - 1]);
  if (ips.length > 1) {
    // A tunnel: neither the inner nor the outer 5-tuple is attributable.
    frame.taint.push([inner.key, "tunnel"], [fl.keyOf(ips[0]).key, "tunnel"]);
    return { frame, detail: null };
  }
  frame.key = inner.key;
  frame.src = inner.src.toLowerCase();
  frame.sport = inner.sp;
  const bad = (why: string) => {
    frame.taint.push([inner.key, why]);
    return { frame, detail: null };
  };
  const ip = ipPayloadLength(f, fl, ips[0], inner);
  if (typeof ip === "string") return bad(ip);
  const { l4Len, fragment } = ip;
  frame.fragment = ipFragment(f, ips[0], inner, fragment);
  if (fragment) frame.pay = Math.max(0, l4Len);
  else if (inner.t === "tcp") {
    const tcp = tcpHeader(f, fl.occBefore("tcp", inner.j), l4Len);
    if (typeof tcp === "string") return bad(tcp);
    frame.flags = tcp.flags;
    frame.pay = Math.max(0, l4Len - tcp.hl);
  } else if (inner.t === "udp") {
    // By the UDP length when it fits in the IP payload (RFC 768: bytes past it are no payload).
    const udpLen = Number(f("udp.length")[fl.occBefore("udp", inner.j)]);
    frame.pay = udpLen >= 8 && udpLen < l4Len ? udpLen - 8 : Math.max(0, l4Len - 8);
  } else if (inner.t === "icmp" || inner.t === "icmpv6") {
    frame.pay = Math.max(0, l4Len - 8);
  } else if (inner.t === "sctp") {
    frame.pay = Math.max(0, l4Len - 12);
  } else if (inner.proto === 6 || inner.proto === 17 || inner.proto === 132) {
    // tshark did not dissect the transport (too short): jj skips or zero-fills such packets.
    return bad("transport header not dissected");
  } else {
    frame.pay = Math.max(0, l4Len);
  }
  return { frame, detail: { fl, inner, fragment } };
}

// ---------------------------------------------------------------------------------------------------------
// flows

/** What {@linkcode buildFlows} needs of a frame. */
export interface KeyedFrame {
  ts: number;
  /** The same time in exact nanoseconds: timeouts are then compared to the nanosecond, as jj's table does. */
  ns?: bigint;
  /** Canonical key; null for frames that belong to no flow. */
  key: string | null;
  src: string;
  sport: number;
  /** Keys that are not attributable because of this frame, with the reason. */
  taint: [string, string][];
  /** An IP fragment's datagram, as {@linkcode FlowFrame}'s (absent or null: not a fragment). */
  fragment?: { datagram: string; first: boolean; more: boolean } | null;
}

/** A packet of a model flow: a test's parsed frame `F` and its direction (0 from the initiator). */
export interface DirFrame<F> {
  fr: F;
  dir: 0 | 1;
}

/** A flow of the model, with the packets `P` a test keeps of its frames. */
export interface ModelFlow<P> {
  key: string;
  /** The initiator (sender of the first packet) and its port. */
  src: string;
  sport: number;
  proto: number;
  firstTs: number;
  lastTs: number;
  /** The first and the latest time in exact nanoseconds, when the frames have them. */
  firstNs?: bigint;
  lastNs?: bigint;
  /** Index of the flow's last frame. */
  lastIdx: number;
  pkts: P[];
}

/**
 * Splits a capture's frames into flows, applying the idle and active timeouts (seconds; jj's defaults unless
 * given) as the flow table does, to the nanosecond where the frames have exact times; `pkt` makes a flow's
 * packet of a frame and its direction (0: from the initiator).
 *
 * @example
 * ```ts
 * import { buildFlows } from "./tshark_flows.ts";
 * const fr = (ts: number, src: string) => ({ ts, key: "17|a|1|b|2", src, sport: 1, taint: [] });
 * const m = buildFlows([fr(0, "a"), fr(1, "b"), fr(100, "a")], (f, dir) => dir);
 * console.log(m.get("17|a|1|b|2")?.map((f) => f.pkts)); // [[0, 1], [0]]
 * ```
 */
export function buildFlows<F extends KeyedFrame, P>(
  frames: readonly F[],
  pkt: (fr: F, dir: 0 | 1) => P,
  timeouts: { idle: number; active: number } = { idle: IDLE_TIMEOUT, active: ACTIVE_TIMEOUT },
): Map<string, ModelFlow<P>[]> {
  const byKey = new Map<string, ModelFlow<P>[]>();
  const open = new Map<string, ModelFlow<P>>();
  const idleNs = BigInt(Math.round(timeouts.idle * 1e9)),
    activeNs = BigInt(Math.round(timeouts.active * 1e9));
  let now = -Infinity, nowNs = 0n, raisedAt = -1;
  // Whether a time is past the flow's deadline: exactly with nanoseconds, else on the doubles.
  const past = (flow: ModelFlow<P>, ts: number, ns: bigint | undefined) =>
    ns !== undefined && flow.lastNs !== undefined && flow.firstNs !== undefined
      ? ns - flow.lastNs > idleNs || ns - flow.firstNs > activeNs
      : Math.min(flow.lastTs + timeouts.idle, flow.firstTs + timeouts.active) < ts;
  for (let i = 0; i < frames.length; i++) {
    const fr = frames[i];
    if (fr.ns !== undefined ? raisedAt < 0 || fr.ns > nowNs : fr.ts > now) {
      now = fr.ts;
      nowNs = fr.ns ?? 0n;
      raisedAt = i;
    }
    if (fr.key === null) continue;
    let flow = open.get(fr.key);
    if (flow) {
      // The table ends a flow when the capture's clock (its latest timestamp), advanced since the flow's last
      // packet, passes the deadline; and a flow's own packet past the deadline starts a new flow, whatever
      // the clock (captures whose time goes backwards, e.g. merged ones).
      if (
        (raisedAt > flow.lastIdx && past(flow, now, fr.ns === undefined ? undefined : nowNs)) ||
        past(flow, fr.ts, fr.ns)
      ) {
        flow = undefined;
      }
    }
    if (!flow) {
      flow = {
        key: fr.key,
        src: fr.src,
        sport: fr.sport,
        proto: Number(fr.key.split("|")[0]),
        firstTs: fr.ts,
        lastTs: fr.ts,
        firstNs: fr.ns,
        lastNs: fr.ns,
        lastIdx: i,
        pkts: [],
      };
      open.set(fr.key, flow);
      const l = byKey.get(fr.key);
      if (l) l.push(flow);
      else byKey.set(fr.key, [flow]);
    }
    if (fr.ts > flow.lastTs) flow.lastTs = fr.ts;
    if (fr.ns !== undefined && flow.lastNs !== undefined && fr.ns > flow.lastNs) flow.lastNs = fr.ns;
    flow.lastIdx = i;
    const dir = fr.src === flow.src && fr.sport === flow.sport ? 0 : 1;
    flow.pkts.push(pkt(fr, dir));
  }
  return byKey;
}

/**
 * The keys the frames make not attributable, with the first reason, and the flows of the other frames
 * ({@linkcode buildFlows}).
 *
 * @example
 * ```ts
 * import { modelFlows } from "./tshark_flows.ts";
 * const frames = [{ ts: 0, key: "1|a|0|b|0", src: "a", sport: 0, taint: [["1|a|0|b|0", "why"]] as [string, string][] }];
 * console.log(modelFlows(frames, (f) => f.ts).model.size); // 0
 * ```
 */
export function modelFlows<F extends KeyedFrame, P>(
  frames: readonly F[],
  pkt: (fr: F, dir: 0 | 1) => P,
  timeouts?: { idle: number; active: number },
): { taint: Map<string, string>; model: Map<string, ModelFlow<P>[]> } {
  const taint = new Map<string, string>();
  for (const fr of frames) for (const [k, why] of fr.taint) if (!taint.has(k)) taint.set(k, why);
  const model = buildFlows(
    fragmentsKeyed(frames).filter((fr) => fr.key === null || !taint.has(fr.key)),
    pkt,
    timeouts,
  );
  return { taint, model };
}

/**
 * The frames, with each IP fragment after a datagram's first one keyed as that first one (its 5-tuple and
 * sender), as jj's decoder does: within 60 s of the first, until the last fragment (no more to come); a
 * fragment before its first one keeps its own key (ports 0).
 */
function fragmentsKeyed<F extends KeyedFrame>(frames: readonly F[]): F[] {
  const firsts = new Map<string, { key: string | null; src: string; sport: number; ts: number }>();
  return frames.map((fr) => {
    const g = fr.fragment;
    if (g === undefined || g === null) return fr;
    if (g.first) {
      firsts.delete(g.datagram);
      firsts.set(g.datagram, { key: fr.key, src: fr.src, sport: fr.sport, ts: fr.ts });
      return fr;
    }
    const first = firsts.get(g.datagram);
    if (first === undefined) return fr;
    if (Math.abs(fr.ts - first.ts) > 60) {
      firsts.delete(g.datagram);
      return fr;
    }
    if (!g.more) firsts.delete(g.datagram);
    return { ...fr, key: first.key, src: first.src, sport: first.sport };
  });
}

// ---------------------------------------------------------------------------------------------------------
// comparing

/**
 * Adds `n` to the count of `key`.
 *
 * @example
 * ```ts
 * import { addCount } from "./tshark_flows.ts";
 * const m = new Map<string, number>();
 * addCount(m, "x", 2);
 * console.log(m.get("x")); // 2
 * ```
 */
export function addCount(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/**
 * Counts the excluded flows by reason: jj's flows of each tainted key (1 when jj has none).
 *
 * @example
 * ```ts
 * import { countExclusions } from "./tshark_flows.ts";
 * const ex = new Map<string, number>();
 * countExclusions(ex, new Map([["k", "tunnel"]]), new Map());
 * console.log(ex.get("tunnel")); // 1
 * ```
 */
export function countExclusions(
  exclusions: Map<string, number>,
  taint: ReadonlyMap<string, string>,
  jj: ReadonlyMap<string, FlowRecord[]>,
): void {
  for (const [k, why] of taint) addCount(exclusions, why, jj.get(k)?.length ?? 1);
}

/**
 * The text of counts by name for a report: `name: n; ...`, or "none".
 *
 * @example
 * ```ts
 * import { countsText } from "./tshark_flows.ts";
 * console.log(countsText(new Map([["tunnel", 3]]))); // tunnel: 3
 * ```
 */
export function countsText(m: ReadonlyMap<string, number>): string {
  return [...m].map(([k, n]) => `${k}: ${n}`).join("; ") || "none";
}

/** The model's flows of a key and jj's records of it, as many of each. */
export interface FlowPair<P> {
  key: string;
  flows: ModelFlow<P>[];
  recs: FlowRecord[];
}

/**
 * Pairs the model's flows with jj's records by key, lazily (in the model's key order). Recorded as problems,
 * by id `tag|key|flows`: a key jj has and the model neither has nor excludes, and a key split into a
 * different number of flows. `exclude` may leave a key out (before the flow counts are compared).
 *
 * @example
 * ```ts
 * import { pairFlows } from "./tshark_flows.ts";
 * const problems = new Map<string, string>();
 * for (const p of pairFlows("cap", new Map(), new Map(), new Map(), problems)) console.log(p.key);
 * ```
 */
export function* pairFlows<P>(
  tag: string,
  model: ReadonlyMap<string, ModelFlow<P>[]>,
  jj: ReadonlyMap<string, FlowRecord[]>,
  taint: ReadonlyMap<string, string>,
  problems: Map<string, string>,
  exclude?: (key: string, flows: ModelFlow<P>[], recs: FlowRecord[]) => boolean,
): Generator<FlowPair<P>> {
  for (const [key, recs] of jj) {
    if (taint.has(key) || model.has(key)) continue;
    problems.set(`${tag}|${key}|flows`, `jj has ${recs.length} flow(s), the tshark model none`);
  }
  for (const [key, flows] of model) {
    const recs: FlowRecord[] = jj.get(key) ?? [];
    if (exclude?.(key, flows, recs)) continue;
    if (recs.length !== flows.length) {
      problems.set(`${tag}|${key}|flows`, `tshark model has ${flows.length} flow(s), jj ${recs.length}`);
      continue;
    }
    yield { key, flows, recs };
  }
}

/**
 * An integer from tshark's decimal or `0x` hexadecimal field text; NaN when the field is absent.
 *
 * @example
 * ```ts
 * import { tsharkInt } from "./tshark_flows.ts";
 * console.log(tsharkInt("0x0303"), tsharkInt("771"), tsharkInt("")); // 771 771 NaN
 * ```
 */
export function tsharkInt(text: string | undefined): number {
  if (text === undefined || text === "") return NaN;
  return text.startsWith("0x") ? parseInt(text, 16) : Number(text);
}

/**
 * Whether jj's value `b` equals the model's `a`: integers, strings and booleans exactly, floats to 1e-9
 * relative (1e-9 absolute near 0), lists element by element.
 *
 * @example
 * ```ts
 * import { sameValue } from "./tshark_flows.ts";
 * console.log(sameValue(0.1 + 0.2, 0.3), sameValue([1, 2], [1, 2]), sameValue(1, 2)); // true true false
 * ```
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  }
  if (typeof a !== "number") return a === b;
  if (typeof b !== "number") return false;
  if (Number.isInteger(a) && Number.isInteger(b)) return a === b;
  const d = Math.abs(a - b);
  return d <= 1e-9 || d <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

/** Problems sorted against the known jj bugs. */
export interface Triage {
  /** Known bugs still present: id and what. */
  known: [string, string][];
  /** New problems, as `id: what`. */
  unknown: string[];
  /** Known bugs that no longer occur. */
  stale: string[];
}

/**
 * Sorts the problems (by id) into known jj bugs, new ones, and known bugs no longer present.
 *
 * @example
 * ```ts
 * import { triage } from "./tshark_flows.ts";
 * console.log(triage(new Map([["a", "x"]]), new Set(["b"]))); // { known: [], unknown: ["a: x"], stale: ["b"] }
 * ```
 */
export function triage(problems: ReadonlyMap<string, string>, knownBugs: ReadonlySet<string>): Triage {
  return {
    known: [...problems].filter(([id]) => knownBugs.has(id)),
    unknown: [...problems].filter(([id]) => !knownBugs.has(id)).map(([id, what]) => `${id}: ${what}`),
    stale: [...knownBugs].filter((id) => !problems.has(id)),
  };
}

/**
 * The least numbers of corpus captures read and flows compared by the whole-corpus differential tests (on this
 * corpus: 90 of 91 captures read, 886 to 905 flows compared, depending on the test's exclusions). A tool that
 * fails or prints nothing would otherwise leave every capture out and the comparison empty, and pass.
 */
export const MIN_CAPTURES_READ = 85;
/** See {@linkcode MIN_CAPTURES_READ}. */
export const MIN_FLOWS_COMPARED = 850;

/**
 * Fails when fewer than {@linkcode MIN_CAPTURES_READ} captures were read or fewer than
 * {@linkcode MIN_FLOWS_COMPARED} flows compared (the comparison would be close to vacuous).
 *
 * @example
 * ```ts
 * import { assertNotVacuous } from "./tshark_flows.ts";
 * assertNotVacuous(90, 900);
 * ```
 */
export function assertNotVacuous(captures: number, flows: number): void {
  assert.ok(captures >= MIN_CAPTURES_READ, `only ${captures} corpus captures read (tshark failed?)`);
  assert.ok(flows >= MIN_FLOWS_COMPARED, `only ${flows} flows compared`);
}

/**
 * Fails when a column's expected value was never set (not null, not an empty list) on any compared flow: the
 * column was compared against nulls only (a tshark field that is gone or renamed reads as absent).
 *
 * @example
 * ```ts
 * import { assertColumnsExercised } from "./tshark_flows.ts";
 * assertColumnsExercised(new Map([["a", 3]]));
 * ```
 */
export function assertColumnsExercised(nonNull: ReadonlyMap<string, number>): void {
  const never = [...nonNull].filter(([, n]) => !(n > 0)).map(([c]) => c);
  assert.deepEqual(never, [], "columns whose expected value is null on every compared flow");
}

/**
 * Fails on new mismatches (the first 50 shown) and on known bugs that no longer occur.
 *
 * @example
 * ```ts
 * import { assertNoNewMismatches, triage } from "./tshark_flows.ts";
 * assertNoNewMismatches(triage(new Map(), new Set()));
 * ```
 */
export function assertNoNewMismatches(t: Triage): void {
  assert.deepEqual(
    t.unknown.slice(0, 50),
    [],
    `${t.unknown.length} mismatches between jj and the tshark model`,
  );
  assert.deepEqual(t.stale, [], "KNOWN_BUGS entries that now match: remove them");
}
