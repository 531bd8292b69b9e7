/**
 * The Joy library lifecycle API (Joy 4.5's `joy_api.h`), for TypeScript and for C-style callers:
 *
 * 1. `initialize(init, outputDir?, outputFile?, logfile?)` — first, once; `init.bitmask` selects the features,
 *    `init.contexts` the number of independent flow tables.
 * 2. `processPacket(ctx, hdr, data)` — per packet, with libpcap's `struct pcap_pkthdr *` and packet pointer
 *    (or typed arrays); `printFlows(ctx, expiredOnly)` / `exportFlowsIpfix(ctx, expiredOnly)` periodically.
 * 3. `cleanup(ctx)` — per context when done.
 *
 * Every call returns Joy's status code (`JOY_OK` 0, `JOY_FAILURE` 1); the reason of the last failure is in
 * {@linkcode joyLastError} and in the log file (stderr by default). Calls before `initialize`, with a context
 * index out of range, or after `cleanup` of that context fail with a message saying so.
 *
 * @module
 */
import dgram from "node:dgram";
import { configFromBitmask, configLine, type JoyConfig, JoyFlag, JoyType, parseCompactBd } from "./config.ts";
import { JoyContext } from "./context.ts";
import type { JoyFlowRecord } from "./flow_record.ts";
import { type JoyLineSink, openLineSink } from "./output.ts";
import { anonymize, inSubnet, parseSubnet, parseSubnetLines, type Subnet } from "./anon.ts";
import { IpfixEncoder } from "../../outputs/ipfix.ts";

export { JoyFlag, JoyType };

/**
 * Success.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JOY_FAILURE, JOY_OK, JoyFlag, joyLastError } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * console.log(initialize({ bitmask: JoyFlag.BIDIR }, dir, "ok.json") === JOY_OK); // true
 * console.log(initialize({ bitmask: JoyFlag.BIDIR }, dir, "again.json") === JOY_FAILURE); // true
 * console.log(joyLastError() !== ""); // true: it says why (already initialized)
 * cleanup(0);
 * ```
 */
export const JOY_OK = 0;
/**
 * Failure (see {@linkcode joyLastError}).
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JOY_FAILURE, JOY_OK, JoyFlag, joyLastError } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * console.log(initialize({ bitmask: JoyFlag.BIDIR }, dir, "ok.json") === JOY_OK); // true
 * console.log(initialize({ bitmask: JoyFlag.BIDIR }, dir, "again.json") === JOY_FAILURE); // true
 * console.log(joyLastError() !== ""); // true: it says why (already initialized)
 * cleanup(0);
 * ```
 */
export const JOY_FAILURE = 1;
/**
 * `printConfig` format: one `name: value` line per option.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JOY_JSON_FORMAT, JOY_TERMINAL_FORMAT, JoyFlag, printConfig } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "config.json");
 * printConfig(0, JOY_TERMINAL_FORMAT); // "name: value" lines, in the output file
 * printConfig(0, JOY_JSON_FORMAT); // one JSON line
 * cleanup(0);
 * ```
 */
export const JOY_TERMINAL_FORMAT = 0;
/**
 * `printConfig` format: JSON.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JOY_JSON_FORMAT, JOY_TERMINAL_FORMAT, JoyFlag, printConfig } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "config.json");
 * printConfig(0, JOY_TERMINAL_FORMAT); // "name: value" lines, in the output file
 * printConfig(0, JOY_JSON_FORMAT); // one JSON line
 * cleanup(0);
 * ```
 */
export const JOY_JSON_FORMAT = 1;
/**
 * `labelSubnets` type: one subnet given as text (`10.0.0.0/8`).
 *
 * @example
 * ```ts
 * import { initialize, JOY_FILE_SUBNET, JOY_SINGLE_SUBNET, JoyFlag, labelSubnets, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/lab-subnets.txt`, "192.168.0.0/16\n");
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "labelled.json");
 * console.log(labelSubnets("lab", JOY_SINGLE_SUBNET, "10.0.0.0/8")); // 0
 * console.log(labelSubnets("office", JOY_FILE_SUBNET, `${dir}/lab-subnets.txt`)); // 0
 * shutdown();
 * ```
 */
export const JOY_SINGLE_SUBNET = 0;
/**
 * `labelSubnets` type: subnets read from a file.
 *
 * @example
 * ```ts
 * import { initialize, JOY_FILE_SUBNET, JOY_SINGLE_SUBNET, JoyFlag, labelSubnets, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/lab-subnets.txt`, "192.168.0.0/16\n");
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "labelled.json");
 * console.log(labelSubnets("lab", JOY_SINGLE_SUBNET, "10.0.0.0/8")); // 0
 * console.log(labelSubnets("office", JOY_FILE_SUBNET, `${dir}/lab-subnets.txt`)); // 0
 * shutdown();
 * ```
 */
export const JOY_FILE_SUBNET = 1;
/** Most contexts (Joy's `MAX_LIB_CONTEXTS`). */
export const MAX_LIB_CONTEXTS = 10;

/**
 * A Joy status code.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, type JoyStatus } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * const status: JoyStatus = initialize({ bitmask: JoyFlag.BIDIR }, dir, "status.json");
 * console.log(status); // 0
 * cleanup(0);
 * ```
 */
export type JoyStatus = 0 | 1;

/**
 * `struct joy_init`.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, type JoyInit } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * const init: JoyInit = {
 *   bitmask: JoyFlag.BIDIR | JoyFlag.TLS | JoyFlag.DNS,
 *   type: "SPLT",
 *   idp: 1300,
 *   inactiveTimeout: 10,
 *   activeTimeout: 20,
 * };
 * console.log(initialize(init, dir, "init.json")); // 0
 * cleanup(0);
 * ```
 */
export interface JoyInit {
  /**
   * `JoyType.SPLT` (1, default) or `JoyType.SALT` (2, turns on Joy's `salt` feature: `oseq` / `oack` ...); the
   * names are accepted too.
   */
  type?: number | "SPLT" | "SALT";
  /** 0 (off) to 5 (critical); 4 (errors) by default. */
  verbosity?: number;
  /** Bytes of the initial data packet to report (Joy recommends 1300); 0 leaves IDP to the `IDP` flag. */
  idp?: number;
  /** IPFIX collector (for `exportFlowsIpfix`). */
  ipfixHost?: string;
  /** IPFIX collector port (default 4739). */
  ipfixPort?: number;
  /** Features: an OR of {@linkcode JoyFlag} values. */
  bitmask: number;
  /** Number of contexts (1 to 10, default 1). */
  contexts?: number;
  /** Packets reported per flow in `packets` (default 50). */
  numPkts?: number;
  /** Inactive and active timeouts in seconds (default 10 and 20, as Joy). */
  inactiveTimeout?: number;
  /** Active timeout in seconds (default 20, as Joy); a flow ends once it is older than both timeouts together. */
  activeTimeout?: number;
}

/**
 * A `struct pcap_pkthdr` given without pointers.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, type JoyPktHdr, processPacket } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "hdr.json");
 * const hdr: JoyPktHdr = { tsSec: 1700000000, tsUsec: 250000, capLen: 60, len: 60 };
 * console.log(processPacket(0, hdr, new Uint8Array(60))); // 0
 * cleanup(0);
 * ```
 */
export interface JoyPktHdr {
  /** `ts.tv_sec`. */
  tsSec: number;
  /** `ts.tv_usec`. */
  tsUsec: number;
  /** `caplen`. */
  capLen: number;
  /** `len` (original length). */
  len?: number;
}

interface Slot {
  ctx: JoyContext;
  sink: JoyLineSink;
  closed: boolean;
}

interface LibState {
  config: JoyConfig;
  slots: Slot[];
  log: JoyLineSink;
  ipfix:
    | {
      host: string;
      port: number;
      encoder: IpfixEncoder;
      socket: dgram.Socket | null;
      seq: number;
      /** Messages not yet sent (queued, or handed to the socket: sends complete on the event loop). */
      pending: number;
      /**
       * Messages waiting for the one being sent: each is sent once the one before it went out, so that they
       * leave in order (datagrams given to a socket not yet bound went out last first: the templates, in the
       * first message, reached the collector after the records that need them).
       */
      queue: Uint8Array[];
      /** A message is being sent. */
      sending: boolean;
      /** Set by the last `cleanup`: the socket closes once nothing is pending. */
      closing: boolean;
    }
    | null;
}

let lib: LibState | null = null;
let lastError = "";
const anonNets: Subnet[] = [];
const anonUsers: string[] = [];
const labels: { label: string; net: Subnet }[] = [];
let compactBd: Uint8Array | null = null;
let compactBdName = "none";
let spltParams: number[] | null = null;
let bdParams: number[] | null = null;

function fail(msg: string): JoyStatus {
  lastError = msg;
  if (lib === null || lib.config.verbosity > 0) {
    try {
      if (lib) lib.log.write(`joy: error: ${msg}`), lib.log.flush();
      else console.error(`joy: error: ${msg}`);
    } catch {
      // The log file was closed by the last cleanup: the status and joyLastError still say it.
      console.error(`joy: error: ${msg}`);
    }
  }
  return JOY_FAILURE;
}

function slot(index: number, fn: string): Slot | string {
  if (lib === null) return `${fn}: the Joy library has not been initialized (call initialize first)`;
  if (!Number.isInteger(index) || index < 0 || index >= lib.slots.length) {
    return `${fn}: invalid context ${index} (contexts are 0..${lib.slots.length - 1})`;
  }
  const s = lib.slots[index];
  if (s.closed) return `${fn}: context ${index} was cleaned up`;
  return s;
}

/**
 * The message of the last failed call ("" when none failed).
 *
 * @example
 * ```ts
 * import { joyLastError, printFlows } from "./api.ts";
 * printFlows(0, true);
 * console.log(joyLastError()); // printFlows: the Joy library has not been initialized ...
 * ```
 */
export function joyLastError(): string {
  return lastError;
}

function hooks(): JoyContext["hooks"] {
  if (anonNets.length === 0 && labels.length === 0 && anonUsers.length === 0) return null;
  return {
    addr: anonNets.length
      ? (ip) => (anonNets.some((n) => inSubnet(ip, n)) ? anonymize(ip) : null)
      : undefined,
    labels: labels.length
      ? (ip) => [...new Set(labels.filter((l) => inSubnet(ip, l.net)).map((l) => l.label))]
      : undefined,
    uri: anonUsers.length
      ? (u) => anonUsers.reduce((acc, name) => acc.split(name).join(anonymize(name)), u)
      : undefined,
  };
}

function contextOutputName(file: string, index: number, n: number): string {
  if (n === 1) return file;
  const m = /^(.*?)(\.[^./]+(?:\.gz)?)?$/.exec(file)!;
  return `${m[1]}_${index}${m[2] ?? ""}`;
}

/**
 * `joy_initialize`: must come first. Sets the features from `init.bitmask`, creates `init.contexts` contexts
 * and opens their outputs: `outputDir/outputFile` (one file per context, `name_N.ext` when there are several;
 * gzip when the name ends in `.gz`), stdout when no file is given. `logfile` receives errors (stderr when
 * absent).
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, JOY_OK } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * const rc = initialize({ bitmask: JoyFlag.BIDIR | JoyFlag.TLS | JoyFlag.HTTP, idp: 1300 }, dir, "flows.json");
 * console.log(rc === JOY_OK); // true
 * cleanup(0);
 * ```
 */
export function initialize(
  init: JoyInit,
  outputDir?: string,
  outputFile?: string,
  logfile?: string,
): JoyStatus {
  if (lib !== null && lib.slots.some((s) => !s.closed)) {
    return fail("initialize: the Joy library is already initialized (clean up every context first)");
  }
  if (init === null || typeof init !== "object" || typeof init.bitmask !== "number") {
    return fail("initialize: init must be an object with a numeric bitmask");
  }
  const n = init.contexts ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LIB_CONTEXTS) {
    return fail(`initialize: contexts must be 1..${MAX_LIB_CONTEXTS}, got ${n}`);
  }
  const type = init.type === "SALT"
    ? JoyType.SALT
    : init.type === "SPLT" || init.type === undefined
    ? JoyType.SPLT
    : init.type;
  if (type !== JoyType.SPLT && type !== JoyType.SALT) {
    return fail(`initialize: type must be SPLT (1) or SALT (2)`);
  }
  const verbosity = init.verbosity ?? 4;
  if (!Number.isInteger(verbosity) || verbosity < 0 || verbosity > 5) {
    return fail("initialize: verbosity is 0..5");
  }
  const cfg = configFromBitmask(init.bitmask, init.idp ?? 0);
  cfg.salt = type === JoyType.SALT;
  cfg.verbosity = verbosity;
  if (init.numPkts !== undefined) cfg.numPkts = Math.max(0, Math.min(200, Math.floor(init.numPkts)));
  if (init.inactiveTimeout !== undefined) cfg.inactiveTimeout = init.inactiveTimeout;
  if (init.activeTimeout !== undefined) cfg.activeTimeout = init.activeTimeout;
  cfg.cdist = compactBd;
  cfg.cdistName = compactBdName;
  cfg.output = outputFile ?? "stdout";
  cfg.outputDir = outputDir ?? "./";
  cfg.ipfixHost = init.ipfixHost ?? "";
  // 0 (or none) is the default port, as in Joy's own examples.
  cfg.ipfixPort = init.ipfixPort || 4739;
  // Every check before anything is opened: a failed initialize leaves no file emptied and no handle open.
  const exportsIpfix = (init.bitmask & (JoyFlag.IPFIX_EXPORT | JoyFlag.IPFIX_IDP_EXPORT)) !== 0;
  if (exportsIpfix && !cfg.ipfixHost) return fail("initialize: IPFIX export needs ipfixHost");
  if (exportsIpfix && (!Number.isInteger(cfg.ipfixPort) || cfg.ipfixPort < 1 || cfg.ipfixPort > 65535)) {
    return fail(`initialize: ipfixPort must be 1..65535, got ${cfg.ipfixPort}`);
  }
  let log: JoyLineSink;
  try {
    log = logfile
      ? openLineSink(logfile, true)
      : { write: (l) => console.error(l), flush: () => {}, close: () => {}, abort: () => {} };
  } catch (e) {
    return fail(`initialize: cannot open log file ${logfile}: ${e instanceof Error ? e.message : e}`);
  }
  const slots: Slot[] = [];
  for (let i = 0; i < n; i++) {
    let sink: JoyLineSink;
    try {
      const path = outputFile
        ? `${(outputDir ?? ".").replace(/\/+$/, "")}/${contextOutputName(outputFile, i, n)}`
        : undefined;
      sink = openLineSink(path, true);
    } catch (e) {
      for (const s of slots) s.sink.close();
      log.close();
      return fail(`initialize: cannot open output: ${e instanceof Error ? e.message : e}`);
    }
    const ctx = new JoyContext(cfg);
    slots.push({ ctx, sink, closed: false });
  }
  let ipfix: LibState["ipfix"] = null;
  if (exportsIpfix) {
    ipfix = {
      host: cfg.ipfixHost,
      port: cfg.ipfixPort,
      encoder: new IpfixEncoder({
        template: init.bitmask & JoyFlag.IPFIX_IDP_EXPORT ? "idp" : "simple",
        idpMaxBytes: cfg.idp || 1300,
      }),
      socket: null,
      seq: 0,
      pending: 0,
      queue: [],
      sending: false,
      closing: false,
    };
  }
  lib = { config: cfg, slots, log, ipfix };
  for (const s of slots) s.ctx.hooks = hooks();
  lastError = "";
  return JOY_OK;
}

/**
 * The context object behind an index (for callers that want the records themselves), or null.
 *
 * @example
 * ```ts
 * import { joyContext } from "./api.ts";
 * console.log(joyContext(0)); // null before initialize
 * ```
 */
export function joyContext(index: number): JoyContext | null {
  const s = slot(index, "joyContext");
  return typeof s === "string" ? null : s.ctx;
}

const scratchHdr = new Uint8Array(24);

/**
 * `joy_process_packet`: one packet into context `ctx`. `hdr` is a `struct pcap_pkthdr *` (as libpcap passes
 * it to a `pcap_handler`), the 24 bytes of one (LP64 layout), or a {@linkcode JoyPktHdr}; `data` is the packet
 * pointer or its bytes.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, processPacket } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "p.json");
 * const frame = new Uint8Array(60);
 * console.log(processPacket(0, { tsSec: 1, tsUsec: 0, capLen: 60 }, frame)); // 0
 * cleanup(0);
 * ```
 */
export function processPacket(
  ctx: number,
  hdr: Deno.PointerValue | Uint8Array | JoyPktHdr,
  data: Deno.PointerValue | Uint8Array,
): JoyStatus {
  const s = slot(ctx, "processPacket");
  if (typeof s === "string") return fail(s);
  let sec: number, usec: number, cap: number;
  if (hdr === null) return fail("processPacket: null packet header");
  if (hdr instanceof Uint8Array) {
    if (hdr.length < 24) return fail("processPacket: a pcap_pkthdr has 24 bytes");
    const dv = new DataView(hdr.buffer, hdr.byteOffset, 24);
    sec = dv.getUint32(0, true) + dv.getInt32(4, true) * 4294967296;
    usec = dv.getUint32(8, true) + dv.getInt32(12, true) * 4294967296;
    cap = dv.getUint32(16, true);
  } else if (typeof hdr === "object" && "tsSec" in hdr) {
    sec = hdr.tsSec;
    usec = hdr.tsUsec;
    cap = hdr.capLen;
    if (![sec, usec, cap].every((v) => Number.isSafeInteger(v) && v >= 0)) {
      return fail("processPacket: tsSec, tsUsec and capLen must be whole numbers, 0 or more");
    }
  } else {
    // Anything else must be a pointer (what pcap_dispatch hands its callback); not one, a failure, as a null.
    try {
      Deno.UnsafePointerView.copyInto(hdr as Deno.PointerObject, scratchHdr);
    } catch {
      return fail(
        "processPacket: the header is neither a pcap_pkthdr pointer, its 24 bytes, nor a JoyPktHdr",
      );
    }
    const dv = new DataView(scratchHdr.buffer);
    sec = dv.getUint32(0, true) + dv.getInt32(4, true) * 4294967296;
    usec = dv.getUint32(8, true) + dv.getInt32(12, true) * 4294967296;
    cap = dv.getUint32(16, true);
  }
  if (data === null) return fail("processPacket: null packet");
  let bytes: Uint8Array;
  if (data instanceof Uint8Array) {
    bytes = data;
    if (cap > data.length) cap = data.length;
  } else {
    if (cap === 0) return JOY_OK;
    try {
      bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(data as Deno.PointerObject, cap));
    } catch {
      return fail("processPacket: the packet is neither a pointer nor a Uint8Array");
    }
  }
  s.ctx.processPacket(sec, usec, cap, bytes, 0);
  return JOY_OK;
}

/**
 * `joy_print_flow_data`: writes the expired flows of a context (or all of them) to its output as Joy JSON lines
 * and removes them from the flow table.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, printFlows } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "p.json");
 * console.log(printFlows(0, false)); // 0
 * cleanup(0);
 * ```
 */
export function printFlows(ctx: number, expiredOnly: boolean): JoyStatus {
  const s = slot(ctx, "printFlows");
  if (typeof s === "string") return fail(s);
  return written("printFlows", () => {
    s.ctx.printFlows(expiredOnly, (l) => s.sink.write(l));
    s.sink.flush();
  });
}

/**
 * Runs what writes to a context's output: a failed write (a full disk, a closed pipe) is the call's failure,
 * with its reason in `joyLastError`, as every call reports its status, instead of an exception out of the
 * caller's packet loop.
 */
function written(call: string, write: () => void): JoyStatus {
  try {
    write();
    return JOY_OK;
  } catch (e) {
    return fail(`${call}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A Joy record as the jj column names the IPFIX encoder reads. */
function ipfixRecord(record: JoyFlowRecord): Record<string, string | number | null> {
  const twin = record.twin;
  const rec = twin !== null && twin.start < record.start ? twin : record;
  const other = rec === record ? twin : record;
  const hexOf = (
    b: Uint8Array | null,
  ) => (b ? Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("") : null);
  return {
    src_ip: rec.sa,
    dst_ip: rec.da,
    src_port: rec.sp,
    dst_port: rec.dp,
    protocol: rec.prot,
    packets_fwd: rec.np,
    bytes_fwd: rec.ob,
    packets_bwd: other?.np ?? 0,
    bytes_bwd: other?.ob ?? 0,
    start_time: Math.min(rec.start, other?.start ?? Infinity) / 1e6,
    end_time: Math.max(rec.end, other?.end ?? -Infinity) / 1e6,
    flow_end_reason: rec.expType === "a" ? "active" : rec.expType === "i" ? "idle" : "end",
    idp_out: hexOf(rec.idp),
    idp_in: hexOf(other?.idp ?? null),
  };
}

/**
 * `joy_export_flows_ipfix`: sends the expired (or all) flows of a context to the IPFIX collector given at
 * `initialize` (UDP), and removes them from the flow table. Needs the `IPFIX_EXPORT` flag. Flows that the
 * preemptive timeout ended are written to the context's JSON output first (Joy prints them at once).
 *
 * @example
 * ```ts
 * import { cleanup, exportFlowsIpfix, initialize, JoyFlag } from "./api.ts";
 * initialize({ bitmask: JoyFlag.BIDIR | JoyFlag.IPFIX_EXPORT, ipfixHost: "127.0.0.1", ipfixPort: 4739 });
 * exportFlowsIpfix(0, false);
 * cleanup(0);
 * ```
 */
export function exportFlowsIpfix(ctx: number, expiredOnly: boolean): JoyStatus {
  const s = slot(ctx, "exportFlowsIpfix");
  if (typeof s === "string") return fail(s);
  const ip = lib!.ipfix;
  if (ip === null) {
    return fail("exportFlowsIpfix: IPFIX export is off (set JoyFlag.IPFIX_EXPORT and ipfixHost)");
  }
  // Records a preemptive timeout ended go to the JSON output, as Joy's library prints them at once.
  const pending = written("exportFlowsIpfix", () => {
    if (s.ctx.flushPending((l) => s.sink.write(l)) > 0) s.sink.flush();
  });
  if (pending !== JOY_OK) return pending;
  const recs = [] as ReturnType<IpfixEncoder["encodeFlow"]>;
  s.ctx.takeFlows(expiredOnly, (r) => recs.push(...ip.encoder.encodeFlow(ipfixRecord(r))));
  if (recs.length === 0) return JOY_OK;
  if (ip.socket === null) {
    ip.socket = dgram.createSocket(ip.host.includes(":") ? "udp6" : "udp4");
    ip.socket.on("error", () => {});
  }
  const socket = ip.socket;
  // Held open while messages are pending (a program that returns right after cleanup still sends them all),
  // and not otherwise: an idle socket must not keep the program running.
  socket.ref();
  const next = (): void => {
    const msg = ip.queue.shift();
    if (msg === undefined) {
      ip.sending = false;
      if (ip.closing) socket.close();
      else socket.unref();
      return;
    }
    ip.sending = true;
    try {
      socket.send(msg, ip.port, ip.host, () => {
        ip.pending--;
        next();
      });
    } catch {
      // A socket closed under us (cleanup after an error): what is queued cannot go.
      ip.pending -= 1 + ip.queue.length;
      ip.queue.length = 0;
      ip.sending = false;
    }
  };
  // Messages of at most MAX_UDP_MESSAGE bytes, as the CLI's exporter sends over UDP (a record larger than that
  // goes alone); the templates come with the first message of each call, or alone before it when its first
  // record does not fit beside them (a 1,300-byte IDP made 1,486-byte datagrams).
  const now = Math.floor(Date.now() / 1000);
  let templates = true;
  if (ip.encoder.messageSize(recs.slice(0, 1), true) > MAX_UDP_MESSAGE) {
    ip.queue.push(ip.encoder.message(now, ip.seq, [], true));
    ip.pending++;
    templates = false;
  }
  for (let i = 0; i < recs.length;) {
    let j = i + 1;
    while (j < recs.length && ip.encoder.messageSize(recs.slice(i, j + 1), templates) <= MAX_UDP_MESSAGE) j++;
    const batch = recs.slice(i, j);
    ip.queue.push(ip.encoder.message(now, ip.seq, batch, templates));
    ip.seq = (ip.seq + batch.length) % 0x100000000;
    ip.pending++;
    templates = false;
    i = j;
  }
  if (!ip.sending) next();
  return JOY_OK;
}

/** Largest IPFIX message the Joy API sends over UDP, as the CLI's exporter (outputs/ipfix.ts). */
const MAX_UDP_MESSAGE = 1400;

/**
 * `joy_cleanup`: prints the context's remaining flows (exports them with IPFIX export on, after writing the
 * ones a preemptive timeout ended to the output), closes its output, and frees it. The library can be
 * initialized again once every context was cleaned up.
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "c.json");
 * console.log(cleanup(0), cleanup(0)); // 0 1
 * ```
 */
export function cleanup(ctx: number): JoyStatus {
  const s = slot(ctx, "cleanup");
  if (typeof s === "string") return fail(s);
  let status: JoyStatus = lib!.ipfix !== null
    ? exportFlowsIpfix(ctx, false)
    : written("cleanup", () => s.ctx.printFlows(false, (l) => s.sink.write(l)));
  // Freed whether or not its last lines could be written (the status says which).
  const closed = written("cleanup", () => s.sink.close());
  if (status === JOY_OK) status = closed;
  s.ctx.clear();
  s.closed = true;
  if (lib!.slots.every((x) => x.closed)) {
    lib!.log.close();
    const ip = lib!.ipfix;
    if (ip !== null && ip.socket !== null) {
      // What cleanup exported is still being sent: the last send closes the socket.
      if (ip.pending > 0) ip.closing = true;
      else {
        try {
          ip.socket.close();
        } catch { /* already closed */ }
      }
    }
  }
  return status;
}

/**
 * `joy_print_config`: writes the configuration to a context's output, as Joy's JSON configuration line
 * (`JOY_JSON_FORMAT`) or as `name: value` lines (`JOY_TERMINAL_FORMAT`).
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JOY_JSON_FORMAT, JoyFlag, printConfig } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "cfg.json");
 * printConfig(0, JOY_JSON_FORMAT);
 * cleanup(0);
 * ```
 */
export function printConfig(ctx: number, format: number): JoyStatus {
  const s = slot(ctx, "printConfig");
  if (typeof s === "string") return fail(s);
  const line = configLine(s.ctx.config);
  if (format === JOY_JSON_FORMAT) s.sink.write(line);
  else if (format === JOY_TERMINAL_FORMAT) {
    for (const [k, v] of Object.entries(JSON.parse(line) as Record<string, unknown>)) {
      s.sink.write(`${k}: ${v}`);
    }
  } else {return fail(
      `printConfig: format must be JOY_JSON_FORMAT (1) or JOY_TERMINAL_FORMAT (0), got ${format}`,
    );}
  return written("printConfig", () => s.sink.flush());
}

/** Joy's check at the top of its settings calls: the library must be initialized first. */
function notInitialized(fn: string): JoyStatus | null {
  return lib === null
    ? fail(`${fn}: the Joy library has not been initialized (call initialize first)`)
    : null;
}

function readText(file: string, fn: string): string | JoyStatus {
  try {
    return Deno.readTextFileSync(file);
  } catch (e) {
    return fail(`${fn}: cannot read ${file}: ${e instanceof Error ? e.message : e}`);
  }
}

function refreshHooks(): void {
  if (lib) { for (const s of lib.slots) s.ctx.hooks = hooks(); }
}

/**
 * `joy_anon_subnets`: addresses inside the subnets of `file` (one per line, `#` comments) are printed
 * anonymized (AES-128, hex).
 *
 * @example
 * ```ts
 * import { anonSubnets, initialize, JoyFlag, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/anon.txt`, "10.0.0.0/8 # lab\n");
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "anon.json");
 * console.log(anonSubnets(`${dir}/anon.txt`)); // 0
 * shutdown();
 * ```
 */
export function anonSubnets(file: string): JoyStatus {
  const uninitialized = notInitialized("anonSubnets");
  if (uninitialized !== null) return uninitialized;
  const t = readText(file, "anonSubnets");
  if (typeof t !== "string") return t;
  try {
    anonNets.push(...parseSubnetLines(t));
  } catch (e) {
    return fail(`anonSubnets: ${file}: ${e instanceof Error ? e.message : e}`);
  }
  refreshHooks();
  return JOY_OK;
}

/**
 * `joy_anon_http_usernames`: user names (one per line) are replaced by their anonymized form in HTTP URIs.
 *
 * @example
 * ```ts
 * import { anonHttpUsernames, initialize, JoyFlag, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/users.txt`, "alice\n");
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "users.json");
 * console.log(anonHttpUsernames(`${dir}/users.txt`)); // 0
 * shutdown();
 * ```
 */
export function anonHttpUsernames(file: string): JoyStatus {
  const uninitialized = notInitialized("anonHttpUsernames");
  if (uninitialized !== null) return uninitialized;
  const t = readText(file, "anonHttpUsernames");
  if (typeof t !== "string") return t;
  anonUsers.push(...t.split(/\r?\n/).map((l) => l.trim()).filter(Boolean));
  refreshHooks();
  return JOY_OK;
}

/**
 * `joy_label_subnets`: flows to or from the subnet (`JOY_SINGLE_SUBNET`, e.g. `"10.0.0.0/8"`) or the subnets
 * of a file (`JOY_FILE_SUBNET`) get `sa_labels` / `da_labels` with `label`.
 *
 * @example
 * ```ts
 * import { initialize, JOY_SINGLE_SUBNET, JoyFlag, labelSubnets, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "labels.json");
 * console.log(labelSubnets("lab", JOY_SINGLE_SUBNET, "10.0.0.0/8")); // 0
 * shutdown();
 * ```
 */
export function labelSubnets(label: string, type: number, subnetOrFile: string): JoyStatus {
  const uninitialized = notInitialized("labelSubnets");
  if (uninitialized !== null) return uninitialized;
  if (typeof label !== "string" || label === "") return fail("labelSubnets: the label is empty");
  let nets: Subnet[];
  if (type === JOY_SINGLE_SUBNET) {
    const n = parseSubnet(subnetOrFile);
    if (n === null) return fail(`labelSubnets: not a subnet: ${subnetOrFile}`);
    nets = [n];
  } else if (type === JOY_FILE_SUBNET) {
    const t = readText(subnetOrFile, "labelSubnets");
    if (typeof t !== "string") return t;
    try {
      nets = parseSubnetLines(t);
    } catch (e) {
      return fail(`labelSubnets: ${subnetOrFile}: ${e instanceof Error ? e.message : e}`);
    }
  } else return fail(`labelSubnets: type must be JOY_SINGLE_SUBNET (0) or JOY_FILE_SUBNET (1), got ${type}`);
  for (const net of nets) labels.push({ label, net });
  refreshHooks();
  return JOY_OK;
}

function readNumbers(file: string, fn: string): number[] | JoyStatus {
  const t = readText(file, fn);
  if (typeof t !== "string") return t;
  const nums = t.split(/[\s,]+/).filter(Boolean).map(Number);
  if (nums.length === 0 || nums.some((x) => !Number.isFinite(x))) {
    return fail(`${fn}: ${file} is not a list of numbers`);
  }
  return nums;
}

/**
 * `joy_update_splt_bd_params`: loads classifier parameters for SPLT and byte distribution (files of numbers as
 * Joy's `model.py` writes them). They are kept for callers; this library does not run Joy's classifier.
 *
 * @example
 * ```ts
 * import { initialize, JoyFlag, shutdown, updateSpltBdParams } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/splt.txt`, "0.1 0.2\n");
 * Deno.writeTextFileSync(`${dir}/bd.txt`, "0.3\n");
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "params.json");
 * console.log(updateSpltBdParams(`${dir}/splt.txt`, `${dir}/bd.txt`)); // 0
 * shutdown();
 * ```
 */
export function updateSpltBdParams(spltFile: string, bdFile: string): JoyStatus {
  const uninitialized = notInitialized("updateSpltBdParams");
  if (uninitialized !== null) return uninitialized;
  const a = readNumbers(spltFile, "updateSpltBdParams");
  if (!Array.isArray(a)) return a;
  const b = readNumbers(bdFile, "updateSpltBdParams");
  if (!Array.isArray(b)) return b;
  spltParams = a;
  bdParams = b;
  return JOY_OK;
}

/**
 * The classifier parameters loaded by {@linkcode updateSpltBdParams} (null before).
 *
 * @example
 * ```ts
 * import { spltBdParams } from "./api.ts";
 * console.log(spltBdParams().splt === null || Array.isArray(spltBdParams().splt)); // true
 * ```
 */
export function spltBdParams(): { splt: number[] | null; bd: number[] | null } {
  return { splt: spltParams, bd: bdParams };
}

/**
 * `joy_get_compact_bd`: loads the compact byte distribution mapping (256 lines `byte value` or 256 values,
 * each value 0..15) and turns `compact_byte_dist` on for every context.
 *
 * @example
 * ```ts
 * import { getCompactBd, initialize, JoyFlag, shutdown } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/cbd.txt`, Array.from({ length: 256 }, (_, i) => `${i} ${i >> 4}`).join("\n"));
 * initialize({ bitmask: JoyFlag.BIDIR }, dir, "cbd.json");
 * console.log(getCompactBd(`${dir}/cbd.txt`)); // 0
 * shutdown();
 * ```
 */
export function getCompactBd(file: string): JoyStatus {
  const uninitialized = notInitialized("getCompactBd");
  if (uninitialized !== null) return uninitialized;
  const t = readText(file, "getCompactBd");
  if (typeof t !== "string") return t;
  const map = parseCompactBd(t);
  if (typeof map === "string") return fail(`getCompactBd: ${file}: ${map}`);
  compactBd = map;
  compactBdName = file;
  if (lib) {
    for (const s of lib.slots) {
      s.ctx.config.cdist = map;
      s.ctx.config.cdistName = file;
    }
  }
  return JOY_OK;
}

/**
 * Forgets every setting (anonymization, labels, compact mapping) and context, closing outputs: the library is
 * as before the first `initialize` (for tests and long-running programs).
 *
 * @example
 * ```ts
 * import { shutdown } from "./api.ts";
 * shutdown();
 * ```
 */
export function shutdown(): void {
  if (lib !== null) {
    for (const s of lib.slots) if (!s.closed) s.sink.close();
    lib.log.close();
    try {
      lib.ipfix?.socket?.close();
    } catch { /* already closed */ }
  }
  lib = null;
  anonNets.length = 0;
  anonUsers.length = 0;
  labels.length = 0;
  compactBd = null;
  compactBdName = "none";
  spltParams = bdParams = null;
  lastError = "";
}
