/**
 * Live capture: a {@linkcode FlowPipeline} fed from a non-blocking libpcap handle, yielding flow records as
 * flows end (idle and active timeouts, by packet time and by the wall clock, so idle flows leave while no
 * packets come), and every remaining flow when the capture stops.
 *
 * The loop never blocks Deno's event loop: it waits for packets with `poll(2)` on libpcap's selectable file
 * descriptor, called as a non-blocking FFI call (Deno runs it on a worker thread and resolves a promise), with
 * a short timeout; where that is not available it polls on a timer. Timers, signals and output keep running
 * while it waits, and each wake-up handles at most one batch of packets before yielding again.
 *
 * @module
 */
import type { FeatureExtractor, FlowRecord } from "./extractor.ts";
import type { PacketCallback } from "./source.ts";
import { FlowPipeline, type FlowPipelineOptions } from "./pipeline.ts";
import {
  checkBoolean,
  checkNumber,
  type ExtractionPlan,
  type FeatureOptions,
  OptionError,
  planExtraction,
  refuseUnknownOptions,
  RUN_OPTION_KEYS,
} from "./options.ts";
import type { CaptureMetrics } from "./metrics.ts";
import { PcapDumper, PcapError, PcapLive, type PcapStats } from "../ffi/libpcap.ts";
import { describeLinkType, SUPPORTED_LINK_TYPES } from "./decode.ts";

/** Options of {@linkcode captureFlows}. */
export interface LiveOptions extends FlowPipelineOptions, FeatureOptions {
  /** Interface to capture on (`lo`, `eth0`, `any`). */
  iface: string;
  /** BPF filter. */
  filter?: string;
  /** Bytes kept per packet (default 262144). */
  snaplen?: number;
  /** Promiscuous mode (default false). */
  promisc?: boolean;
  /**
   * Kernel capture buffer in bytes (default {@linkcode DEFAULT_LIVE_BUFFER}): room for a burst that comes
   * while the loop is busy (writing output, a pause of the runtime). Packets reach the loop within 50 ms.
   */
  bufferSize?: number;
  /** Stop after this many seconds. */
  duration?: number;
  /** Stop after this many packets. */
  count?: number;
  /** Also write every captured packet to this pcap file, with the kernel's timestamps to the nanosecond. */
  savePcap?: string;
  /** Feature groups (default all); `flow_meta` is always on. */
  features?: string[];
  /** Extra extractors (plugins, or the IPFIX `idp` group). */
  extractors?: FeatureExtractor<unknown>[];
  /** Burst threshold in milliseconds (default 50). */
  burstThresholdMs?: number;
  /** Stops the capture (e.g. from a SIGINT handler); every flow is then flushed. */
  signal?: AbortSignal;
  /** How often flows are expired by the wall clock, ms (default 1000). */
  expireIntervalMs?: number;
  /** Longest single wait for packets, ms (default 100); bounds how late a stop is noticed. */
  pollTimeoutMs?: number;
  /** Most packets handled per wake-up before yielding to the event loop (default 4096). */
  batch?: number;
  /** Counters to keep up to date (for the metrics endpoint). */
  metrics?: CaptureMetrics;
  /** Called once the capture is open. */
  onStart?: (info: LiveStartInfo) => void;
  /** Called for each non-fatal problem. */
  onWarning?: (message: string) => void;
}

/** What {@linkcode LiveOptions.onStart} receives. */
export interface LiveStartInfo {
  /** Interface captured on. */
  iface: string;
  /** Its link type. */
  linkType: number;
  /** How the loop waits: `poll` on the selectable descriptor, or `timer`. */
  waitMode: "poll" | "timer";
}

/** Why a capture ended. */
export type LiveStopReason = "signal" | "duration" | "count" | "error";

/** Totals of a live capture. */
export interface LiveSummary {
  /** Interface captured on. */
  iface: string;
  /** Packets read. */
  packetsRead: number;
  /** Packets decoded. */
  packetsDecoded: number;
  /** Packets skipped, by reason. */
  packetsSkipped: Record<string, number>;
  /** Packets left out by `samplingRate`. */
  packetsSampledOut: number;
  /** Bytes on the wire of the packets read. */
  bytes: number;
  /** Flow records yielded. */
  flows: number;
  /** `pcap_stats` at the end: packets received by the filter. */
  received: number;
  /** `pcap_stats`: packets the kernel dropped (its buffer full). */
  dropped: number;
  /** `pcap_stats`: packets the interface dropped. */
  ifDropped: number;
  /** Packets written to `savePcap`. */
  savedPackets: number;
  /** Wall-clock seconds captured. */
  seconds: number;
  /** Why it stopped. */
  stoppedBy: LiveStopReason;
  /** The read error that stopped it, when `stoppedBy` is `error`. */
  error: string | null;
  /** The interface's link type when jj does not decode it (every packet skipped: the run failed), else null. */
  unsupportedLinkType: number | null;
  /** How the loop waited for packets. */
  waitMode: "poll" | "timer";
}

/**
 * Default kernel capture buffer: 64 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIVE_BUFFER } from "./live.ts";
 * console.log(DEFAULT_LIVE_BUFFER / 1048576); // 64
 * ```
 */
export const DEFAULT_LIVE_BUFFER = 64 * 1024 * 1024;

/** The kernel's read timeout: packets reach the loop this long after their capture, at most. */
const LIVE_TIMEOUT_MS = 50;
/** Longest the packets captured before the stop are read for, after it (traffic faster than jj reads). */
const DRAIN_MS = 30000;

/** Largest snaplen captured in immediate mode (64 MiB of 4 KiB slots: 16,000 packets). */
const IMMEDIATE_MAX_SNAPLEN = 4096;

// ---------------------------------------------------------------------------------------------------------
// waiting for packets without blocking the event loop

const POLL_SYMBOLS = {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
} as const;

type PollLib = Deno.DynamicLibrary<typeof POLL_SYMBOLS>;
let pollLib: PollLib | null | undefined;

function loadPoll(): PollLib | null {
  if (pollLib !== undefined) return pollLib;
  const names = Deno.build.os === "darwin" ? ["libSystem.B.dylib", "/usr/lib/libSystem.B.dylib"] : [
    "libc.so.6",
    "libc.so",
  ];
  for (const n of names) {
    try {
      pollLib = Deno.dlopen(n, POLL_SYMBOLS);
      return pollLib;
    } catch { /* next */ }
  }
  pollLib = null;
  return null;
}

/** Waits until `fd` is readable or `ms` pass; `inflight` is the pending call, to await before closing `fd`. */
class FdWaiter {
  readonly mode: "poll" | "timer";
  inflight: Promise<unknown> | null = null;
  readonly #lib: PollLib | null;
  readonly #pfd = new Uint8Array(8);

  constructor(fd: number) {
    this.#lib = fd >= 0 ? loadPoll() : null;
    this.mode = this.#lib !== null ? "poll" : "timer";
    // struct pollfd { int fd; short events; short revents; } in host byte order (little-endian here)
    const dv = new DataView(this.#pfd.buffer);
    const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
    dv.setInt32(0, fd, le);
    dv.setInt16(4, 1, /* POLLIN */ le);
  }

  wait(ms: number): Promise<unknown> {
    const t = Math.max(0, Math.min(1000, Math.ceil(ms)));
    let p: Promise<unknown>;
    if (this.#lib !== null) {
      this.#pfd[6] = this.#pfd[7] = 0;
      p = this.#lib.symbols.poll(this.#pfd, 1n, t);
    } else {
      p = new Promise((r) => setTimeout(r, Math.min(t, 10)));
    }
    this.inflight = p;
    return p.finally(() => {
      if (this.inflight === p) this.inflight = null;
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// the capture loop

/** "cannot write PATH: reason" from the dump file, naming the option it came from too. */
function saveError(e: PcapError): string {
  return e.message.replace(/^cannot write /, "cannot write --save-pcap ");
}

/**
 * Every key of {@linkcode LiveOptions} (the type checker holds this list to the interface, both ways): another one
 * is refused rather than ignored, as `extractFlows` refuses it (a misspelt `durration` captured for ever, a
 * JoyfulJay `bpf_filter` captured everything).
 */
const LIVE_OPTION_KEYS: readonly string[] = Object.keys(
  {
    iface: true,
    filter: true,
    snaplen: true,
    promisc: true,
    bufferSize: true,
    duration: true,
    count: true,
    savePcap: true,
    signal: true,
    expireIntervalMs: true,
    pollTimeoutMs: true,
    batch: true,
    metrics: true,
    onStart: true,
    onWarning: true,
    ...RUN_OPTION_KEYS,
    features: true,
    extractors: true,
    burstThresholdMs: true,
  } satisfies Record<keyof LiveOptions, true>,
);

/** Largest snapshot length libpcap takes (as `jj live --snaplen`). */
const MAX_LIVE_SNAPLEN = 262144;

/**
 * The capture's own options, checked as `jj live` checks its flags (the flow and feature options are
 * `planExtraction`'s): before, `count: 0.5` stopped after one packet, `duration: -1` never stopped, `promisc:
 * "no"` was promiscuous and `bufferSize: NaN` failed inside the FFI call without naming the option.
 */
function checkLiveOptions(opts: LiveOptions): void {
  if (opts === null || typeof opts !== "object" || Array.isArray(opts)) {
    throw new OptionError("options", "options", "an object of options", opts);
  }
  refuseUnknownOptions(opts, LIVE_OPTION_KEYS);
  const o = opts as unknown as Record<string, unknown>;
  const want = (key: string, flag: string, accepted: string, ok: (v: unknown) => boolean) => {
    if (o[key] !== undefined && !ok(o[key])) throw new OptionError(key, flag, accepted, o[key]);
  };
  const intIn = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max;
  const positive = (n: number) => n > 0;
  const isFunction = (v: unknown) => typeof v === "function";
  if (typeof opts.iface !== "string" || opts.iface === "") {
    throw new OptionError(
      "iface",
      "--interface",
      "an interface name (jj live --list lists them)",
      opts.iface,
    );
  }
  want("filter", "--filter", "a BPF filter string", (v) => typeof v === "string");
  checkNumber(
    o,
    "snaplen",
    "--snaplen",
    intIn(1, MAX_LIVE_SNAPLEN),
    `an integer from 1 to ${MAX_LIVE_SNAPLEN}`,
  );
  checkBoolean(o, "promisc", "--promisc");
  checkNumber(
    o,
    "bufferSize",
    "--buffer-size",
    intIn(65536, 2 ** 31 - 1),
    "an integer from 65536 to 2^31 - 1",
  );
  checkNumber(o, "duration", "--duration", positive, "a positive number of seconds");
  checkNumber(o, "count", "--count", intIn(1, Number.MAX_SAFE_INTEGER), "an integer from 1 to 2^53 - 1");
  want("savePcap", "--save-pcap", "a path", (v) => typeof v === "string" && v !== "");
  checkNumber(o, "expireIntervalMs", "expireIntervalMs", positive, "a positive number of milliseconds");
  checkNumber(o, "pollTimeoutMs", "pollTimeoutMs", positive, "a positive number of milliseconds");
  checkNumber(o, "batch", "batch", intIn(1, 2 ** 31 - 1), "an integer from 1 to 2^31 - 1");
  want("signal", "signal", "an AbortSignal", (v) => v instanceof AbortSignal);
  want("onStart", "onStart", "a function", isFunction);
  want("onWarning", "onWarning", "a function", isFunction);
  want("metrics", "--metrics", "a CaptureMetrics", (v) => v !== null && typeof v === "object");
}

/**
 * What a capture with these options runs and writes (as `extractFlows` plans it): the groups, `features`
 * (default all) and the extra extractors, with `sequences` when asked for; the records' columns (a writer's
 * schema); the transform each record goes through (`specificFeatures`, `bidirectionalSplit`, `anonymizeIps`).
 * A group that needs every flow first (`connection`) is refused: a capture never reaches the end of its input.
 *
 * @example
 * ```ts
 * import { livePlan } from "./live.ts";
 * const plan = livePlan({ iface: "lo", features: ["timing"], includeSplt: true });
 * console.log(plan.extractors.map((g) => g.name)); // ["flow_meta", "timing", "sequences"]
 * ```
 */
export function livePlan(opts: LiveOptions): ExtractionPlan {
  checkLiveOptions(opts);
  const plan = planExtraction(opts);
  if (plan.hold) {
    const names = plan.extractors.filter((e) => e.finalize !== undefined).map((e) => e.name).join(", ");
    throw new OptionError(
      "features",
      "--features",
      `groups a capture can write as flows end (not ${names})`,
      names,
    );
  }
  return plan;
}

/**
 * Captures on an interface and yields one record per flow as flows end; returns the totals. Stops on
 * `signal`, `duration` or `count` (or a capture error), then flushes every flow still held.
 *
 * @throws {PcapError} when the capture cannot be opened (unknown interface with the list, missing permission
 * naming the fix, bad filter); {@linkcode LibpcapUnavailableError} without libpcap.
 * @example
 * ```ts
 * import { captureFlows } from "./live.ts";
 * // Ten seconds of TCP on lo, or less on Ctrl-C.
 * const stop = new AbortController();
 * const onInt = () => stop.abort();
 * Deno.addSignalListener("SIGINT", onInt);
 * const it = captureFlows({ iface: "lo", filter: "tcp", idleTimeout: 10, duration: 10, signal: stop.signal });
 * for (;;) {
 *   const r = await it.next();
 *   if (r.done) {
 *     console.error(`${r.value.received} received, ${r.value.dropped} dropped`);
 *     break;
 *   }
 *   console.log(JSON.stringify(r.value));
 * }
 * Deno.removeSignalListener("SIGINT", onInt);
 * ```
 */
export async function* captureFlows(opts: LiveOptions): AsyncGenerator<FlowRecord, LiveSummary, void> {
  const plan = livePlan(opts);
  const live = PcapLive.open({
    iface: opts.iface,
    snaplen: opts.snaplen,
    promisc: opts.promisc,
    filter: opts.filter,
    bufferSize: opts.bufferSize ?? DEFAULT_LIVE_BUFFER,
    timeoutMs: LIVE_TIMEOUT_MS,
    // Immediate mode gives Linux's ring one snaplen-sized slot per packet: with a small snaplen the buffer
    // still holds many packets, and without it a snaplen this small delivered none (TPACKET_V3 blocks, on lo:
    // tcpdump -s 20 too). With a large one, blocks hold tens of thousands of packets where slots hold 1,000.
    immediate: (opts.snaplen ?? 262144) <= IMMEDIATE_MAX_SNAPLEN,
  });
  if (live.warning !== null) opts.onWarning?.(`${opts.iface}: ${live.warning}`);
  const unsupported = SUPPORTED_LINK_TYPES.has(live.linkType) ? null : live.linkType;
  if (unsupported !== null) {
    // Said at once: every packet will be skipped, and the run fails at its end, as extract fails on such an
    // input (it wrote nothing and exited 0). Captured all the same, for --save-pcap.
    opts.onWarning?.(
      `${opts.iface}: link type ${
        describeLinkType(unsupported)
      }, which jj does not decode: its packets are ` +
        "skipped (capture on an interface with Ethernet, Linux cooked (any), raw IP or loopback framing)",
    );
  }
  let dumper: PcapDumper | null = null;
  const waiter = new FdWaiter(live.selectableFd);
  const started = performance.now();
  const metrics = opts.metrics;
  const summary: LiveSummary = {
    iface: opts.iface,
    packetsRead: 0,
    packetsDecoded: 0,
    packetsSkipped: {},
    packetsSampledOut: 0,
    bytes: 0,
    flows: 0,
    received: 0,
    dropped: 0,
    ifDropped: 0,
    savedPackets: 0,
    seconds: 0,
    stoppedBy: "signal",
    error: null,
    unsupportedLinkType: unsupported,
    waitMode: waiter.mode,
  };
  let pending: FlowRecord[] = [];
  const output = plan.output;
  const pipeline = new FlowPipeline(plan.extractors, opts, (rec, flow) => {
    pending.push(output(rec));
    metrics?.flowEnded(flow.endReason);
  });
  const pipe = pipeline.packet;
  let bytes = 0, saved = 0;
  let cb: PacketCallback = (ts, buf, off, cap, wire, lt, nsec) => {
    bytes += wire;
    pipe(ts, buf, off, cap, wire, lt, nsec);
  };
  const updateStats = () => {
    let st: PcapStats | null = null;
    try {
      st = live.stats();
    } catch { /* not on every platform */ }
    if (st !== null) {
      summary.received = st.received;
      summary.dropped = st.dropped;
      summary.ifDropped = st.ifDropped;
    }
    if (metrics !== undefined) {
      metrics.packets = pipeline.stats.read;
      metrics.packetsDecoded = pipeline.stats.decoded;
      metrics.skipped = new Map(Object.entries(pipeline.summary().skipped));
      metrics.packetsSampledOut = pipeline.stats.sampledOut;
      metrics.bytes = bytes;
      metrics.activeFlows = pipeline.table.size;
      metrics.received = summary.received;
      metrics.dropped = summary.dropped;
      metrics.ifDropped = summary.ifDropped;
    }
  };
  /** The --save-pcap file lost packets: the run ends as failed, without claiming a count of packets saved. */
  const saveFailed = (e: unknown): void => {
    if (!(e instanceof PcapError)) throw e;
    summary.stoppedBy = "error";
    summary.error = saveError(e);
    saved = 0;
  };
  try {
    if (opts.savePcap !== undefined) {
      try {
        dumper = PcapDumper.forLive(live, opts.savePcap);
      } catch (e) {
        // "cannot write PATH: reason" names the file; name the option it came from too
        if (!(e instanceof PcapError)) throw e;
        throw new PcapError(saveError(e), e.status);
      }
      const d = dumper;
      cb = (ts, buf, off, cap, wire, lt, nsec) => {
        bytes += wire;
        saved++;
        // the kernel's seconds and nanoseconds as they came: `ts`, a double, would round them to ~0.24 µs
        d.writeParts(live.tsSec, live.tsFrac, buf, off, cap, wire);
        pipe(ts, buf, off, cap, wire, lt, nsec);
      };
    }
    opts.onStart?.({ iface: opts.iface, linkType: live.linkType, waitMode: waiter.mode });
    const batch = Math.max(1, opts.batch ?? 4096);
    const pollMs = Math.max(1, opts.pollTimeoutMs ?? 100);
    const expireMs = Math.max(10, opts.expireIntervalMs ?? 1000);
    const deadline = opts.duration !== undefined && opts.duration > 0
      ? started + opts.duration * 1000
      : Infinity;
    const count = opts.count !== undefined && opts.count > 0 ? opts.count : Infinity;
    let lastExpire = performance.now();
    for (;;) {
      if (opts.signal?.aborted) {
        summary.stoppedBy = "signal";
        break;
      }
      let n = 0;
      const asked = Math.min(batch, count - pipeline.stats.read);
      try {
        n = live.dispatch(cb, asked);
      } catch (e) {
        if (!(e instanceof PcapError)) throw e;
        summary.stoppedBy = "error";
        summary.error = e.message;
        break;
      }
      const now = performance.now();
      // Expiry by the wall clock only once the packets waiting are read (a batch that did not fill): during a
      // backlog, the clock is ahead of them, and it ended flows whose next packets were still waiting. And
      // behind the clock by twice the kernel's timeout: a packet captured into a block the kernel has not yet
      // handed on is not waiting to libpcap, and a flow whose next packet sat there ended (a gap 10 ms under
      // the idle timeout split the flow, which extract of the same packets keeps whole).
      if (n < asked && now - lastExpire >= expireMs) {
        lastExpire = now;
        pipeline.table.expire((Date.now() - 2 * LIVE_TIMEOUT_MS) / 1000);
        updateStats();
        try {
          dumper?.flush();
        } catch (e) {
          // The capture stops; the flows held are still written (below).
          saveFailed(e);
          break;
        }
      }
      if (pending.length > 0) {
        const out = pending;
        pending = [];
        yield* out;
      }
      if (pipeline.stats.read >= count) {
        summary.stoppedBy = "count";
        break;
      }
      if (performance.now() >= deadline) {
        summary.stoppedBy = "duration";
        break;
      }
      if (n < batch && !opts.signal?.aborted) {
        await waiter.wait(Math.min(pollMs, deadline - performance.now(), expireMs));
      }
    }
    // Packets already captured still count (not after --count was reached): the kernel hands on its last
    // block once it is a timeout old, then everything waiting is read.
    if (summary.stoppedBy !== "count" && summary.stoppedBy !== "error") {
      const stopTs = Date.now() / 1000;
      await new Promise((r) => setTimeout(r, 2 * LIVE_TIMEOUT_MS));
      // Every packet captured before the stop is read (the loop may be seconds behind: the records' reader slow,
      // a burst of new flows), not only a second's worth: those left were in no record and in no count. The
      // drain ends at the first batch that reaches packets stamped after the stop, or when none are waiting;
      // bounded, for traffic faster than jj reads. (`pcap_stats` cannot tell: on lo it counts each packet twice.)
      const drainUntil = performance.now() + DRAIN_MS;
      let lastTs = -Infinity;
      const drainCb: PacketCallback = (ts, buf, off, cap, wire, lt, nsec) => {
        lastTs = ts;
        cb(ts, buf, off, cap, wire, lt, nsec);
      };
      try {
        for (
          let empty = 0;
          pipeline.stats.read < count && performance.now() < drainUntil && lastTs <= stopTs;
        ) {
          if (live.dispatch(drainCb, Math.min(batch, count - pipeline.stats.read)) > 0) empty = 0;
          // Nothing waiting: the kernel hands on a block a timeout after its first packet; then done.
          else if (++empty > 2) break;
          else await new Promise((r) => setTimeout(r, LIVE_TIMEOUT_MS));
        }
      } catch { /* the capture is ending anyway */ }
    }
    updateStats();
    if (dumper !== null && summary.error === null) {
      try {
        dumper.close();
      } catch (e) {
        saveFailed(e);
      }
    }
    pipeline.flush();
    if (pending.length > 0) {
      const out = pending;
      pending = [];
      yield* out;
    }
  } finally {
    if (waiter.inflight !== null) await waiter.inflight.catch(() => {});
    try {
      dumper?.close();
    } catch { /* a lost packet was reported above, or the run is failing already */ }
    live.close();
    const st = pipeline.summary();
    summary.packetsRead = st.read;
    summary.packetsDecoded = st.decoded;
    summary.packetsSkipped = st.skipped;
    summary.packetsSampledOut = st.sampledOut;
    summary.flows = st.flows;
    summary.bytes = bytes;
    summary.savedPackets = saved;
    summary.seconds = (performance.now() - started) / 1000;
    if (metrics !== undefined) metrics.activeFlows = 0;
  }
  return summary;
}
