/**
 * Shared test helpers: paths of the corpus and of the CLI, running subprocesses (the CLI, tshark), collecting
 * flow records, keying flows like `../shared/tools/score.py`, and writing small pcap/pcapng captures by hand
 * (Ethernet, IPv4/IPv6, TCP/UDP/ICMP headers built byte by byte, independently of the code under test).
 *
 * @module
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import { extractFlows, type ExtractOptions, type ExtractSummary } from "../lib/extract.ts";
import type { CaptureSource } from "../lib/extract.ts";
import type { FlowRecord } from "../lib/extractor.ts";

// ---------------------------------------------------------------------------------------------------------
// paths and tools

/** The project root (absolute path, no trailing slash). */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");
/** The shared corpus and tools: `$JJ_SHARED`, or `../shared` beside the project. */
export const SHARED: string = Deno.env.get("JJ_SHARED") ||
  fileURLToPath(new URL("../../shared", import.meta.url));
/** The real captures of the corpus. */
export const CAPTURES: string = `${SHARED}/corpus/captures`;
/** The tshark-derived expected values. */
export const EXPECTED: string = `${SHARED}/corpus/expected`;
/** The corpus captures' directory as a URL ending in `/`, to resolve capture names against. */
export const CAPTURES_URL: URL = pathToFileURL(`${CAPTURES}/`);
/** The expected values' directory as a URL ending in `/`. */
export const EXPECTED_URL: URL = pathToFileURL(`${EXPECTED}/`);
/** The CLI entry point. */
export const CLI: string = `${ROOT}/cli.ts`;
/** The Deno binary running the tests. */
export const DENO: string = Deno.execPath();

/**
 * True when `path` exists.
 *
 * @example
 * ```ts
 * import { exists } from "./helpers.ts";
 * console.log(exists("/")); // true
 * ```
 */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when an executable `name` is on the PATH (or, for a name with a slash, is that executable file).
 *
 * @example
 * ```ts
 * import { hasCommand } from "./helpers.ts";
 * console.log(typeof hasCommand("tshark")); // boolean
 * ```
 */
export function hasCommand(name: string): boolean {
  if (name.includes("/")) return isExecutable(name);
  const path = Deno.env.get("PATH") ?? "/usr/bin:/bin";
  for (const dir of path.split(":")) {
    if (!dir) continue;
    if (isExecutable(`${dir}/${name}`)) return true;
  }
  return false;
}

function isExecutable(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** True when the shared corpus is present. */
export const HAVE_SHARED: boolean = exists(CAPTURES) && exists(EXPECTED);
/** True when tshark is installed. */
export const HAVE_TSHARK: boolean = hasCommand("tshark");
/** True when the corpus captures are present (whether or not the expected values are). */
export const HAVE_CAPTURES: boolean = exists(CAPTURES);

/**
 * Path of a corpus capture.
 *
 * @example
 * ```ts
 * import { cap } from "./helpers.ts";
 * console.log(cap("dns.pcap").endsWith("/dns.pcap")); // true
 * ```
 */
export function cap(name: string): string {
  return `${CAPTURES}/${name}`;
}

/** What a finished subprocess gave. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Standard output, as text. */
  stdout: string;
  /** Standard error, as text. */
  stderr: string;
}

/**
 * Runs a command to completion, optionally feeding `stdin`.
 *
 * @example
 * ```ts
 * import { run } from "./helpers.ts";
 * const r = await run("true", []);
 * console.log(r.code); // 0
 * ```
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { stdin?: Uint8Array | string; cwd?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    const data = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
    // A write error (the child exited early) shows up in the exit code.
    await w.write(data).catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Runs `deno run -A cli.ts ARGS` from the project root.
 *
 * @example
 * ```ts
 * import { runCli } from "./helpers.ts";
 * const r = await runCli(["features"]);
 * console.log(r.code); // 0
 * ```
 */
export function runCli(
  args: string[],
  opts: { stdin?: Uint8Array | string; cwd?: string } = {},
): Promise<RunResult> {
  return run(DENO, ["run", "-A", CLI, ...args], opts);
}

/**
 * Parses JSON Lines output into records.
 *
 * @example
 * ```ts
 * import { parseJsonl } from "./helpers.ts";
 * console.log(parseJsonl('{"a":1}\n').length); // 1
 * ```
 */
export function parseJsonl(text: string): FlowRecord[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as FlowRecord);
}

/**
 * Runs {@linkcode extractFlows} to the end and returns the records and the summary.
 *
 * @example
 * ```ts
 * import { collect } from "./helpers.ts";
 * const { records } = await collect("testdata/http.pcap");
 * console.log(records.length > 0); // true
 * ```
 */
export async function collect(
  source: CaptureSource | CaptureSource[],
  options: ExtractOptions = {},
): Promise<{ records: FlowRecord[]; summary: ExtractSummary }> {
  const it = extractFlows(source, options);
  const records: FlowRecord[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { records, summary: r.value };
    records.push(r.value);
  }
}

/**
 * Reads a JSON Lines file into records (blank lines skipped).
 *
 * @example
 * ```ts
 * import { readJsonlFile } from "./helpers.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"a":1}\n');
 * console.log((await readJsonlFile(path)).length); // 1
 * ```
 */
export async function readJsonlFile(path: string): Promise<FlowRecord[]> {
  return parseJsonl(await Deno.readTextFile(path));
}

/**
 * Runs `fn` with a new temporary directory, removed afterwards (also when `fn` throws).
 *
 * @example
 * ```ts
 * import { withTempDir } from "./helpers.ts";
 * await withTempDir(async (dir) => await Deno.writeTextFile(`${dir}/x`, "x"));
 * ```
 */
export async function withTempDir(fn: (dir: string) => Promise<void>, prefix = "jj_"): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------------------
// live processes on the loopback interface

/** True when the tests run as root (live capture on `lo` needs it). */
export const IS_ROOT: boolean = Deno.uid() === 0;

/**
 * A free TCP port on 127.0.0.1 (bound, then released; also used for UDP).
 *
 * @example
 * ```ts
 * import { freePort } from "./helpers.ts";
 * console.log(freePort() > 0); // true
 * ```
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @example
 * ```ts
 * import { sleep } from "./helpers.ts";
 * await sleep(1);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A child process whose stdout and stderr are collected as text while it runs. */
export interface Proc {
  /** The process. */
  child: Deno.ChildProcess;
  /** Standard output so far. */
  out(): string;
  /** Standard error so far. */
  err(): string;
  /** Waits until stderr matches (or the process exits, or `ms` pass); returns whether it matched. */
  waitErr(re: RegExp, ms?: number): Promise<boolean>;
  /** Waits for exit (and the end of its output); returns the exit code. */
  done(): Promise<number>;
}

/**
 * Starts `cmd args` (stdin closed) and collects its output as it comes.
 *
 * @example
 * ```ts
 * import { spawn } from "./helpers.ts";
 * const p = spawn("sh", ["-c", "echo hi >&2"]);
 * console.log(await p.done(), p.err()); // 0 hi
 * ```
 */
export function spawn(cmd: string, args: string[]): Proc {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
  let out = "", err = "";
  let exited = false;
  const pump = async (s: ReadableStream<Uint8Array>, add: (t: string) => void) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) add(c);
  };
  const pumps = Promise.all([pump(child.stdout, (t) => out += t), pump(child.stderr, (t) => err += t)]);
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    child,
    out: () => out,
    err: () => err,
    async waitErr(re, ms = 15000) {
      const end = Date.now() + ms;
      while (!re.test(err) && !exited && Date.now() < end) await sleep(20);
      return re.test(err);
    },
    async done() {
      const s = await status;
      await pumps;
      return s.code;
    },
  };
}

/**
 * Sends `sig` to a process unless it has exited.
 *
 * @example
 * ```ts
 * import { signal, spawn } from "./helpers.ts";
 * const p = spawn("sleep", ["10"]);
 * signal(p, "SIGTERM");
 * await p.done();
 * ```
 */
export function signal(p: Proc, sig: Deno.Signal): void {
  try {
    p.child.kill(sig);
  } catch { /* exited */ }
}

/**
 * Runs `openssl ARGS` (stdin and stdout closed); throws with its stderr when it fails.
 *
 * @example
 * ```ts
 * import { openssl } from "./helpers.ts";
 * await openssl(["version"]);
 * ```
 */
export async function openssl(args: string[]): Promise<void> {
  const r = await new Deno.Command("openssl", { args, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  if (!r.success) throw new Error(`openssl ${args.join(" ")}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * Writes a throw-away self-signed P-256 certificate for `cn` into `dir` (`cert.pem`, `key.pem`), valid `days`.
 *
 * @example
 * ```ts
 * import { selfSignedCert } from "./helpers.ts";
 * const dir = await Deno.makeTempDir();
 * await selfSignedCert(dir, "localhost");
 * ```
 */
export async function selfSignedCert(dir: string, cn: string, days = 1): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/cert.pem`,
    "-days",
    String(days),
    "-subj",
    `/CN=${cn}`,
  ]);
}

/** A running `tcpdump -w` on `lo`. */
export interface Tcpdump {
  /** The process. */
  child: Deno.ChildProcess;
  /** Stops it with SIGINT (it then writes what it still holds) and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * Starts `tcpdump -i lo -U --immediate-mode [EXTRA] -w FILE FILTER` and resolves once it reports that it is
 * listening; its stderr is drained from then on so that it never blocks. `--immediate-mode`: packets reach the
 * file at once (else a SIGINT can lose the last second of them).
 *
 * @example
 * ```ts
 * import { startTcpdump } from "./helpers.ts";
 * const dump = await startTcpdump("/tmp/lo.pcap", "tcp port 9");
 * await dump.stop();
 * ```
 */
export async function startTcpdump(file: string, filter: string, extraArgs: string[] = []): Promise<Tcpdump> {
  const child = new Deno.Command("tcpdump", {
    args: ["-i", "lo", "-U", "--immediate-mode", ...extraArgs, "-w", file, filter],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15000;
  while (!/listening on/.test(text)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`tcpdump did not start: ${text}`);
    text += value;
  }
  // Keep draining stderr so that tcpdump never blocks on it.
  (async () => {
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch { /* the process ended */ }
  })();
  return {
    child,
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* exited */ }
      await child.status;
    },
  };
}

/**
 * A seeded pseudo-random generator (mulberry32) of numbers in [0, 1), for reproducible shuffles and cuts.
 *
 * @example
 * ```ts
 * import { rng } from "./helpers.ts";
 * console.log(rng(1)() === rng(1)()); // true
 * ```
 */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------
// flow keys and totals

/**
 * The bidirectional 5-tuple of a record, as `score.py` builds it: `proto|ipA|portA|ipB|portB` with
 * (ipA, portA) <= (ipB, portB), comparing addresses as text and then ports as numbers.
 *
 * @example
 * ```ts
 * import { canonicalKey } from "./helpers.ts";
 * console.log(canonicalKey(6, "10.0.0.2", 80, "10.0.0.1", 5000)); // 6|10.0.0.1|5000|10.0.0.2|80
 * ```
 */
export function canonicalKey(proto: number, ipA: string, portA: number, ipB: string, portB: number): string {
  const a = ipA.toLowerCase(), b = ipB.toLowerCase();
  const aFirst = a < b || (a === b && portA <= portB);
  return aFirst ? `${proto}|${a}|${portA}|${b}|${portB}` : `${proto}|${b}|${portB}|${a}|${portA}`;
}

/**
 * The canonical key of a flow record.
 *
 * @example
 * ```ts
 * import { recordKey } from "./helpers.ts";
 * console.log(recordKey({ protocol: 17, src_ip: "::1", src_port: 53, dst_ip: "::1", dst_port: 5000 }));
 * ```
 */
export function recordKey(r: FlowRecord): string {
  return canonicalKey(
    r.protocol as number,
    r.src_ip as string,
    r.src_port as number,
    r.dst_ip as string,
    r.dst_port as number,
  );
}

/**
 * Runs {@linkcode extractFlows} and groups the records by {@linkcode recordKey} (a flow may end and start
 * again, so a key can have several records). A `URL` source is read from its path.
 *
 * @example
 * ```ts
 * import { flowsByKey } from "./helpers.ts";
 * const m = await flowsByKey("testdata/http.pcap", { features: ["timing"] });
 * console.log(m.size > 0); // true
 * ```
 */
export async function flowsByKey(
  source: CaptureSource | URL,
  options: ExtractOptions = {},
): Promise<Map<string, FlowRecord[]>> {
  const m = new Map<string, FlowRecord[]>();
  for await (const r of extractFlows(source instanceof URL ? source.pathname : source, options)) {
    const k = recordKey(r);
    const l = m.get(k);
    if (l) l.push(r);
    else m.set(k, [r]);
  }
  return m;
}

/** Packets and bytes of one 5-tuple. */
export interface Totals {
  /** Packets. */
  packets: number;
  /** Sum of frame lengths. */
  bytes: number;
}

/**
 * Sums total_packets and total_bytes of records by canonical key.
 *
 * @example
 * ```ts
 * import { totalsByKey } from "./helpers.ts";
 * console.log(totalsByKey([]).size); // 0
 * ```
 */
export function totalsByKey(records: FlowRecord[]): Map<string, Totals> {
  const m = new Map<string, Totals>();
  for (const r of records) {
    const k = recordKey(r);
    const t = m.get(k) ?? { packets: 0, bytes: 0 };
    t.packets += r.total_packets as number;
    t.bytes += r.total_bytes as number;
    m.set(k, t);
  }
  return m;
}

/**
 * Sorts a map's entries by key, for stable deep comparisons.
 *
 * @example
 * ```ts
 * import { sortedEntries } from "./helpers.ts";
 * console.log(sortedEntries(new Map([["b", 1], ["a", 2]]))); // [["a", 2], ["b", 1]]
 * ```
 */
export function sortedEntries<T>(m: Map<string, T>): [string, T][] {
  return [...m.entries()].sort((x, y) => x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------------
// tshark

/**
 * Runs `tshark -n -r FILE -T fields -e F...` (IP reassembly off, every occurrence joined with `|`) and returns
 * one row of field strings per frame.
 *
 * @example
 * ```ts
 * import { cap, tsharkFields } from "./helpers.ts";
 * const rows = await tsharkFields(cap("dns.pcap"), ["frame.len"]);
 * console.log(rows.length); // 5
 * ```
 */
export function tsharkFields(file: string, fields: string[], extra: string[] = []): Promise<string[][]> {
  // tshark takes seconds to start: each (file, fields, options) is read once per test process.
  const key = JSON.stringify([file, fields, extra]);
  let p = tsharkCache.get(key);
  if (p === undefined) {
    p = runTshark(file, fields, extra);
    tsharkCache.set(key, p);
    p.catch(() => tsharkCache.delete(key));
  }
  return p;
}

const tsharkCache = new Map<string, Promise<string[][]>>();

async function runTshark(
  file: string,
  fields: string[],
  extra: string[] = [],
): Promise<string[][]> {
  const args = [
    "-n",
    "-o",
    "ip.defragment:FALSE",
    "-o",
    "ipv6.defragment:FALSE",
    "-r",
    file,
    ...extra,
    "-T",
    "fields",
    "-E",
    "separator=\t",
    "-E",
    "occurrence=a",
    "-E",
    "aggregator=|",
  ];
  for (const f of fields) args.push("-e", f);
  const r = await run("tshark", args);
  if (r.code !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "").map((l) => l.split("\t"));
}

/**
 * Runs `tshark ARGS` and returns its output lines split at tabs, empty lines left out: for `-T fields` output with
 * arguments of the caller's choosing. A tshark failure throws with its message (an empty result would let a
 * comparison pass on nothing), except a capture cut short, whose frames before the cut are returned.
 *
 * @example
 * ```ts
 * import { cap, tsharkRows } from "./helpers.ts";
 * const rows = tsharkRows(["-r", cap("dns.pcap"), "-T", "fields", "-e", "frame.len"]);
 * console.log(rows.length); // 5
 * ```
 */
export function tsharkRows(args: string[]): string[][] {
  const out = new Deno.Command("tshark", { args, stdout: "piped", stderr: "piped" }).outputSync();
  const stderr = new TextDecoder().decode(out.stderr);
  if (out.code !== 0 && !/cut short/.test(stderr)) {
    throw new Error(`tshark ${args.join(" ")} exited with ${out.code}: ${stderr.trim()}`);
  }
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.length > 0).map((l) =>
    l.split("\t")
  );
}

/** One frame as tshark reads it, keyed like our flows. */
export interface TsharkPacket {
  /** Frame length (wire length). */
  len: number;
  /** Canonical key of the innermost (or, with `outer`, outermost) flow; null when the frame has no IP. */
  key: string | null;
  /** Outermost IP source and destination when the frame carries more than one IP layer. */
  outer: [string, string] | null;
}

const TS_FIELDS = [
  "frame.len",
  "frame.protocols",
  "ip.src",
  "ip.dst",
  "ipv6.src",
  "ipv6.dst",
  "tcp.srcport",
  "tcp.dstport",
  "udp.srcport",
  "udp.dstport",
  "sctp.srcport",
  "sctp.dstport",
  "ip.proto",
  "ipv6.nxt",
  "ipv6.fraghdr.nxt",
];

const IP6_EXT = new Set(["ipv6.hopopts", "ipv6.routing", "ipv6.dstopts", "ipv6.fraghdr", "ah"]);

/**
 * Keys every frame of a capture by its innermost IP layer (the last one before any ICMP error quote) and the
 * transport right after it, or by its outermost IP layer with `outer`, from tshark's `frame.protocols` and the
 * matching occurrence of each address and port field. The fragments of a datagram tshark reassembles take the
 * key of its first fragment, which holds the transport header.
 *
 * @example
 * ```ts
 * import { cap, tsharkPackets } from "./helpers.ts";
 * const pkts = await tsharkPackets(cap("gre-sample.pcap"));
 * console.log(pkts[0].outer !== null); // true
 * ```
 */
export async function tsharkPackets(file: string, opts: { outer?: boolean; extra?: string[] } = {}): Promise<
  TsharkPacket[]
> {
  const rows = await tsharkFields(file, TS_FIELDS, opts.extra ?? []);
  const out: TsharkPacket[] = [];
  for (const row of rows) {
    const [len, protos, s4, d4, s6, d6, ts, td, us, ud, ss, sd, p4, n6, f6] = row.map((x) =>
      x ? x.split("|") : []
    );
    const layers = protos.length ? protos[0].split(":") : [];
    const ips = ipLayers(layers);
    if (ips.length === 0) {
      out.push({ len: Number(len[0]), key: null, outer: null });
      continue;
    }
    const ip = opts.outer ? ips[0] : ips[ips.length - 1];
    const src = ip.fam === 4 ? s4[ip.occ] : s6[ip.occ];
    const dst = ip.fam === 4 ? d4[ip.occ] : d6[ip.occ];
    // Occurrence index of a transport layer: how many layers of that name come before position `at`.
    const occBefore = (name: string, at: number) => layers.slice(0, at).filter((l) => l === name).length;
    let j = ip.at + 1;
    while (j < layers.length && IP6_EXT.has(layers[j])) j++;
    // Every IP layer lies before the first ICMP layer, so layers[j] is at most that ICMP layer.
    const t: string | undefined = layers[j];
    let proto: number, sp = 0, dp = 0;
    if (t === "tcp") {
      const o = occBefore("tcp", j);
      [proto, sp, dp] = [6, Number(ts[o]), Number(td[o])];
    } else if (t === "udp") {
      const o = occBefore("udp", j);
      [proto, sp, dp] = [17, Number(us[o]), Number(ud[o])];
    } else if (t === "sctp") {
      const o = occBefore("sctp", j);
      [proto, sp, dp] = [132, Number(ss[o]), Number(sd[o])];
    } else if (t === "icmp") proto = 1;
    else if (t === "icmpv6") proto = 58;
    else if (t === "gre") proto = 47;
    else if (t === "ip") proto = 4;
    else if (t === "ipv6") proto = 41;
    else if (ip.fam === 4) proto = Number(p4[ip.occ]);
    else if (layers[j - 1] === "ipv6.fraghdr") proto = Number(f6[f6.length - 1]);
    else proto = Number(n6[ip.occ]);
    const outer: [string, string] | null = ips.length > 1
      ? [ips[0].fam === 4 ? s4[0] : s6[0], ips[0].fam === 4 ? d4[0] : d6[0]]
      : null;
    out.push({ len: Number(len[0]), key: canonicalKey(proto, src, sp, dst, dp), outer });
  }
  if (opts.outer) return out;
  const reassembled = await tsharkFields(file, ["ip.fragment", "ipv6.fragment"], [
    "-o",
    "ip.defragment:TRUE",
    "-o",
    "ipv6.defragment:TRUE",
  ]);
  for (const row of reassembled) {
    const frames = row.flatMap((x) => x ? x.split("|").map(Number) : []);
    if (frames.length === 0) continue;
    const first = Math.min(...frames);
    for (const n of frames) out[n - 1].key = out[first - 1].key;
  }
  return out;
}

/**
 * Packets and bytes per key from {@linkcode tsharkPackets} (frames without IP left out).
 *
 * @example
 * ```ts
 * import { tsharkTotals } from "./helpers.ts";
 * console.log(tsharkTotals([{ len: 60, key: "6|a|1|b|2", outer: null }]).get("6|a|1|b|2")); // { packets: 1, bytes: 60 }
 * ```
 */
export function tsharkTotals(pkts: TsharkPacket[]): Map<string, Totals> {
  const m = new Map<string, Totals>();
  for (const p of pkts) {
    if (p.key === null) continue;
    const t = m.get(p.key) ?? { packets: 0, bytes: 0 };
    t.packets++;
    t.bytes += p.len;
    m.set(p.key, t);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// building packets and captures

/**
 * Concatenates byte arrays.
 *
 * @example
 * ```ts
 * import { concat } from "./helpers.ts";
 * console.log(concat([1], new Uint8Array([2])).length); // 2
 * ```
 */
export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Bytes of a hex string (two digits a byte, no separators).
 *
 * @example
 * ```ts
 * import { hex } from "./helpers.ts";
 * console.log(hex("0aff")); // Uint8Array [10, 255]
 * ```
 */
export function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
  return out;
}

/**
 * A reader over `data` (a `ByteReader`, as a file is one) whose reads return the sizes `sizes` gives in turn,
 * cycled, at most what is asked: records of a capture then end up cut by reads at every kind of place.
 *
 * @example
 * ```ts
 * import { chunkedReader } from "./helpers.ts";
 * const r = chunkedReader(new Uint8Array(10), [3]);
 * console.log(await r.read(new Uint8Array(8))); // 3
 * ```
 */
export function chunkedReader(
  data: Uint8Array,
  sizes: number[],
): { read(p: Uint8Array): Promise<number | null> } {
  let o = 0, i = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (o >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, data.length - o, sizes[i++ % sizes.length]);
      p.set(data.subarray(o, o + n));
      o += n;
      return Promise.resolve(n);
    },
  };
}

/**
 * Writes, in `dir`, a user extractor module whose group `count_flows` needs every flow (`finalize`: column
 * `run_flows` is the number of flows in the run); returns its path.
 *
 * @example
 * ```ts
 * import { writeCountFlowsPlugin } from "./helpers.ts";
 * const path = await writeCountFlowsPlugin(await Deno.makeTempDir());
 * console.log(path.endsWith("count_flows.ts")); // true
 * ```
 */
export async function writeCountFlowsPlugin(dir: string): Promise<string> {
  const path = `${dir}/count_flows.ts`;
  await Deno.writeTextFile(
    path,
    `export const countFlows = {
  name: "count_flows",
  features: [{ name: "run_flows", type: "int", description: "Flows in the run." }],
  init: () => 0,
  update() {},
  finish() {},
  finalize(records: Record<string, unknown>[]) {
    for (const r of records) r.run_flows = records.length;
  },
};
`,
  );
  return path;
}

/**
 * The hex form of bytes (two lowercase digits a byte), the inverse of {@linkcode hex}.
 *
 * @example
 * ```ts
 * import { toHex } from "./helpers.ts";
 * console.log(toHex([10, 255])); // "0aff"
 * ```
 */
export function toHex(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Bytes of a dotted-quad IPv4 address or an IPv6 address (with `::`), written without lib/addr.ts.
 *
 * @example
 * ```ts
 * import { ipBytes } from "./helpers.ts";
 * console.log(ipBytes("10.0.0.1")); // Uint8Array [10, 0, 0, 1]
 * ```
 */
export function ipBytes(text: string): Uint8Array {
  if (!text.includes(":")) return new Uint8Array(text.split(".").map(Number));
  const [head, tail] = text.includes("::") ? text.split("::") : [text, null];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = tail === null ? hs : [...hs, ...new Array(8 - hs.length - ts.length).fill("0"), ...ts];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

function checksum(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * An Ethernet II header (optionally with one 802.1Q tag) followed by `payload`.
 *
 * @example
 * ```ts
 * import { ethernet } from "./helpers.ts";
 * console.log(ethernet(new Uint8Array(20)).length); // 34
 * ```
 */
export function ethernet(payload: Uint8Array, opts: { type?: number; vlan?: number } = {}): Uint8Array {
  const dst = [0x02, 0, 0, 0, 0, 0x02], src = [0x02, 0, 0, 0, 0, 0x01];
  const type = opts.type ?? ((payload[0] >> 4) === 6 ? 0x86dd : 0x0800);
  if (opts.vlan !== undefined) return concat(dst, src, u16(0x8100), u16(opts.vlan), u16(type), payload);
  return concat(dst, src, u16(type), payload);
}

/**
 * An IPv4 header (with a correct checksum) followed by `payload`.
 *
 * @example
 * ```ts
 * import { ipv4 } from "./helpers.ts";
 * console.log(ipv4("10.0.0.1", "10.0.0.2", 17, new Uint8Array(8)).length); // 28
 * ```
 */
export function ipv4(
  src: string,
  dst: string,
  proto: number,
  payload: Uint8Array,
  opts: { ttl?: number; id?: number; mf?: boolean; fragOffset?: number } = {},
): Uint8Array {
  const h = concat(
    [0x45, 0],
    u16(20 + payload.length),
    u16(opts.id ?? 1),
    u16((opts.mf ? 0x2000 : 0) | (opts.fragOffset ?? 0)),
    [opts.ttl ?? 64, proto, 0, 0],
    ipBytes(src),
    ipBytes(dst),
  );
  const c = checksum(h);
  h[10] = c >> 8;
  h[11] = c & 0xff;
  return concat(h, payload);
}

/**
 * An IPv6 header followed by `payload` (`next` is the next-header value).
 *
 * @example
 * ```ts
 * import { ipv6 } from "./helpers.ts";
 * console.log(ipv6("2001:db8::1", "2001:db8::2", 17, new Uint8Array(8)).length); // 48
 * ```
 */
export function ipv6(src: string, dst: string, next: number, payload: Uint8Array, hopLimit = 64): Uint8Array {
  return concat([0x60, 0, 0, 0], u16(payload.length), [next, hopLimit], ipBytes(src), ipBytes(dst), payload);
}

/** TCP flag bits for {@linkcode tcp}. */
export const F = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 } as const;

/**
 * A 20-byte TCP header (checksum left 0) followed by `payload`.
 *
 * @example
 * ```ts
 * import { F, tcp } from "./helpers.ts";
 * console.log(tcp(1234, 80, F.SYN).length); // 20
 * ```
 */
export function tcp(
  sport: number,
  dport: number,
  flags: number,
  payload: Uint8Array = new Uint8Array(0),
  opts: { seq?: number; ack?: number; window?: number } = {},
): Uint8Array {
  return concat(
    u16(sport),
    u16(dport),
    u32(opts.seq ?? 1000),
    u32(opts.ack ?? 0),
    [0x50, flags],
    u16(opts.window ?? 65535),
    [0, 0, 0, 0],
    payload,
  );
}

/**
 * A UDP header (checksum 0) followed by `payload`.
 *
 * @example
 * ```ts
 * import { udp } from "./helpers.ts";
 * console.log(udp(53, 5353, new Uint8Array(4)).length); // 12
 * ```
 */
export function udp(sport: number, dport: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  return concat(u16(sport), u16(dport), u16(8 + payload.length), [0, 0], payload);
}

/**
 * An ICMP (or ICMPv6) echo header followed by `payload`.
 *
 * @example
 * ```ts
 * import { icmpEcho } from "./helpers.ts";
 * console.log(icmpEcho(8, 1, 1).length); // 8
 * ```
 */
export function icmpEcho(
  type: number,
  id: number,
  seq: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const m = concat([type, 0, 0, 0], u16(id), u16(seq), payload);
  const c = checksum(m);
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return m;
}

/** One packet of a hand-made capture. */
export interface CapPacket {
  /** Timestamp, seconds since the epoch. */
  ts: number;
  /** Captured bytes. */
  data: Uint8Array;
  /** Original length (default: the captured length). */
  wireLen?: number;
  /** In {@linkcode pcapngFile}: a simple packet block, which has no time (`ts` is not written). */
  simple?: boolean;
  /** In {@linkcode pcapFile}: the exact time in nanoseconds since the epoch, written instead of `ts`. */
  ns?: bigint;
  /** In {@linkcode pcapngFile}: the time stamp in the interface's units (its `tsresol`), written instead of `ts`. */
  ticks?: bigint;
}

/**
 * A classic pcap file (little endian, microseconds unless `nano`; snapshot length 256 KiB unless `snaplen`).
 *
 * @example
 * ```ts
 * import { pcapFile } from "./helpers.ts";
 * console.log(pcapFile(1, []).length); // 24
 * ```
 */
export function pcapFile(
  linkType: number,
  packets: CapPacket[],
  opts: { nano?: boolean; snaplen?: number } = {},
): Uint8Array {
  const div = opts.nano ? 1e9 : 1e6;
  const size = 24 + packets.reduce((a, p) => a + 16 + p.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, opts.nano ? 0xa1b23c4d : 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, opts.snaplen ?? 262144, true);
  dv.setUint32(20, linkType, true);
  let o = 24;
  for (const p of packets) {
    let sec = Math.floor(p.ts);
    let frac = Math.round((p.ts - sec) * div);
    if (frac >= div) {
      sec++;
      frac -= div;
    }
    if (p.ns !== undefined) {
      sec = Number(p.ns / 1_000_000_000n);
      frac = Number(p.ns % 1_000_000_000n) / (1e9 / div);
    }
    dv.setUint32(o, sec, true);
    dv.setUint32(o + 4, frac, true);
    dv.setUint32(o + 8, p.data.length, true);
    dv.setUint32(o + 12, p.wireLen ?? p.data.length, true);
    out.set(p.data, o + 16);
    o += 16 + p.data.length;
  }
  return out;
}

/**
 * A pcapng file with one section and one interface (microsecond timestamps; with `tsOffset`, the interface's
 * `if_tsoffset` in seconds, which the packets' times are written relative to; with `tsresol`, its
 * `if_tsresol` byte, for packets that give their `ticks`).
 *
 * @example
 * ```ts
 * import { pcapngFile } from "./helpers.ts";
 * console.log(pcapngFile(1, []).length); // 48
 * ```
 */
export function pcapngFile(
  linkType: number,
  packets: CapPacket[],
  opts: { tsOffset?: number; tsresol?: number } = {},
): Uint8Array {
  const blocks: Uint8Array[] = [];
  const block = (type: number, body: Uint8Array) => {
    const padded = (body.length + 3) & ~3;
    const len = 12 + padded;
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, type, true);
    dv.setUint32(4, len, true);
    b.set(body, 8);
    dv.setUint32(len - 4, len, true);
    blocks.push(b);
  };
  const shb = new Uint8Array(16);
  const sdv = new DataView(shb.buffer);
  sdv.setUint32(0, 0x1a2b3c4d, true);
  sdv.setUint16(4, 1, true);
  sdv.setBigInt64(8, -1n, true);
  block(0x0a0d0d0a, shb);
  const offset = opts.tsOffset ?? 0;
  // if_tsoffset (option 14, 8 bytes), if_tsresol (9, 1 byte padded to 4), then the end of options.
  const options = (offset === 0 ? 0 : 12) + (opts.tsresol === undefined ? 0 : 8);
  const idb = new Uint8Array(options === 0 ? 8 : 8 + options + 4);
  const idv = new DataView(idb.buffer);
  idv.setUint16(0, linkType, true);
  idv.setUint32(4, 262144, true);
  let o = 8;
  if (offset !== 0) {
    idv.setUint16(o, 14, true);
    idv.setUint16(o + 2, 8, true);
    idv.setBigInt64(o + 4, BigInt(offset), true);
    o += 12;
  }
  if (opts.tsresol !== undefined) {
    idv.setUint16(o, 9, true);
    idv.setUint16(o + 2, 1, true);
    idb[o + 4] = opts.tsresol;
  }
  block(1, idb);
  for (const p of packets) {
    if (p.simple) {
      const body = new Uint8Array(4 + p.data.length);
      new DataView(body.buffer).setUint32(0, p.wireLen ?? p.data.length, true);
      body.set(p.data, 4);
      block(3, body);
      continue;
    }
    const body = new Uint8Array(20 + p.data.length);
    const dv = new DataView(body.buffer);
    const ticks = p.ticks ?? BigInt(Math.round((p.ts - offset) * 1e6));
    dv.setUint32(0, 0, true);
    dv.setUint32(4, Number(ticks >> 32n), true);
    dv.setUint32(8, Number(ticks & 0xffffffffn), true);
    dv.setUint32(12, p.data.length, true);
    dv.setUint32(16, p.wireLen ?? p.data.length, true);
    body.set(p.data, 20);
    block(6, body);
  }
  return concat(...blocks);
}

/** Where one record of a classic pcap file lies. */
export interface PcapRecordInfo {
  /** Byte offset of the record header. */
  offset: number;
  /** Timestamp, seconds. */
  ts: number;
  /** Captured length. */
  capLen: number;
}

/**
 * Lists the records of a classic pcap file (either byte order, micro- or nanoseconds).
 *
 * @example
 * ```ts
 * import { pcapFile, pcapRecords } from "./helpers.ts";
 * console.log(pcapRecords(pcapFile(1, [{ ts: 1, data: new Uint8Array(60) }]))[0].offset); // 24
 * ```
 */
export function pcapRecords(bytes: Uint8Array): PcapRecordInfo[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const nano = magic === 0xa1b23c4d || magic === 0x4d3cb2a1;
  const out: PcapRecordInfo[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const capLen = dv.getUint32(o + 8, le);
    out.push({ offset: o, ts: dv.getUint32(o, le) + dv.getUint32(o + 4, le) / (nano ? 1e9 : 1e6), capLen });
    o += 16 + capLen;
  }
  return out;
}

/**
 * A byte stream delivering `bytes` in chunks of `chunk` bytes; `onPull` sees how many bytes were handed out.
 *
 * @example
 * ```ts
 * import { byteStream } from "./helpers.ts";
 * const s = byteStream(new Uint8Array(10), 4);
 * console.log(s instanceof ReadableStream); // true
 * ```
 */
export function byteStream(
  bytes: Uint8Array,
  chunk = 65536,
  onPull?: (delivered: number) => void | Promise<void>,
): ReadableStream<Uint8Array> {
  let o = 0;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (o >= bytes.length) {
        ctrl.close();
        return;
      }
      const n = Math.min(chunk, bytes.length - o);
      // A copy: the reader may keep the chunk while the test goes on.
      ctrl.enqueue(bytes.slice(o, o + n));
      o += n;
      await onPull?.(o);
    },
  }, { highWaterMark: 0 });
}

/** Where one block of a pcapng file lies. */
export interface PcapngBlockInfo {
  /** Byte offset of the block. */
  offset: number;
  /** Block type (6 = enhanced packet block). */
  type: number;
  /** Block total length. */
  length: number;
  /** For packet blocks: the timestamp in microseconds' units of the default resolution, as seconds. */
  ts: number;
}

/**
 * Lists the blocks of a little-endian pcapng file (timestamps assume the default microsecond resolution).
 *
 * @example
 * ```ts
 * import { pcapngBlocks, pcapngFile } from "./helpers.ts";
 * console.log(pcapngBlocks(pcapngFile(1, [])).map((b) => b.type)); // [168627466, 1]
 * ```
 */
export function pcapngBlocks(bytes: Uint8Array): PcapngBlockInfo[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PcapngBlockInfo[] = [];
  let o = 0;
  while (o + 12 <= bytes.length) {
    const type = dv.getUint32(o, true), length = dv.getUint32(o + 4, true);
    if (length < 12) break;
    const ts = type === 6 ? (dv.getUint32(o + 12, true) * 4294967296 + dv.getUint32(o + 16, true)) / 1e6 : 0;
    out.push({ offset: o, type, length, ts });
    o += length;
  }
  return out;
}

/** One IP layer of tshark's `frame.protocols`: family, occurrence among layers of that family, and position. */
export interface IpLayer {
  /** 4 or 6. */
  fam: 4 | 6;
  /** Index among the frame's IP layers of the same family (tshark's field occurrence). */
  occ: number;
  /** Position in the protocol list. */
  at: number;
}

/**
 * Every IP layer of a frame in order, from tshark's `frame.protocols` split on ":", stopping at ICMP (what
 * follows is a quoted packet).
 *
 * @example
 * ```ts
 * import { ipLayers } from "./helpers.ts";
 * console.log(ipLayers("eth:ethertype:ip:udp:ipv6:tcp".split(":")).length); // 2
 * ```
 */
export function ipLayers(layers: string[]): IpLayer[] {
  const ips: IpLayer[] = [];
  let n4 = 0, n6 = 0;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l === "ip") ips.push({ fam: 4, occ: n4++, at: i });
    else if (l === "ipv6") ips.push({ fam: 6, occ: n6++, at: i });
    else if (l === "icmp" || l === "icmpv6") break;
  }
  return ips;
}

/**
 * A CSV cell as README.md describes jj's CSV, written here independently of outputs/csv.ts: null (and an absent
 * column) empty, a string as it is, a number, a boolean or a list as its JSON text.
 *
 * @example
 * ```ts
 * import { expectedCsvCell } from "./helpers.ts";
 * console.log(expectedCsvCell(null), expectedCsvCell(0.5), expectedCsvCell(["a", 1])); //  0.5 ["a",1]
 * ```
 */
export function expectedCsvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "string" ? v : JSON.stringify(v);
}
