/**
 * The streaming library API: captures (files, directories, stdin, streams) in, flow records out as an async
 * iterable, with the same options as `jj extract`.
 *
 * @module
 */
import type { FeatureExtractor, FlowRecord } from "./extractor.ts";
import type { FlowState } from "./flow.ts";
import type { PacketCallback } from "./source.ts";
import {
  type ByteReader,
  captureFilesIn,
  CaptureFormatError,
  decompressedOffsets,
  DecompressionError,
  isGzipFile,
  isPlainCaptureFile,
  noCapturesIn,
  openCapture,
  openCaptureReader,
  type OpenedCapture,
  readCaptureChunks,
  streamReader,
  whereCaptureEnds,
} from "./capture_file.ts";
import { FlowPipeline, type FlowPipelineOptions } from "./pipeline.ts";
import { describeLinkType, SKIP_REASON_NAMES, SkipReason, SUPPORTED_LINK_TYPES } from "./decode.ts";
import { whyUnreadable } from "./why_unreadable.ts";

import {
  type FeatureOptions,
  OptionError,
  planExtraction,
  refuseUnknownOptions,
  RUN_OPTION_KEYS,
} from "./options.ts";
import {
  BpfPacketFilter,
  filterError,
  PcapError,
  PcapOfflineReader,
  refusesMixedInterfaces,
  tryLoadLibpcap,
} from "../ffi/libpcap.ts";

/** The skip reason of packet blocks the reader could not read (see `CaptureReadResult.skippedBlocks`). */
const UNREADABLE_BLOCK = "unreadable packet block";
/** The summary's reason for packets the BPF filter left out. */
const FILTERED = "left out by --filter";

/**
 * Something to read a capture from: a path (`-` for stdin), a byte stream, or a reader.
 *
 * @example
 * ```ts
 * import { type CaptureSource, extractFlows } from "./extract.ts";
 * // A path, `-` for stdin, a web stream of bytes, or a reader such as an open file.
 * const sources: CaptureSource[] = ["testdata/http.pcap", (await Deno.open("testdata/http.pcap")).readable];
 * for (const source of sources) {
 *   for await (const flow of extractFlows(source)) console.log(flow.total_packets);
 * }
 * ```
 */
export type CaptureSource = string | ReadableStream<Uint8Array> | ByteReader;

/** Records of ended flows held before they are handed on, at most (about 1024 records of a few KB each). */
const MAX_PENDING_RECORDS = 1024;

/**
 * Every key of {@linkcode ExtractOptions} (the type checker holds this list to the interface, both ways): another
 * one is refused rather than ignored.
 */
const EXTRACT_OPTION_KEYS: readonly string[] = Object.keys(
  {
    ...RUN_OPTION_KEYS,
    features: true,
    extractors: true,
    burstThresholdMs: true,
    filter: true,
    reader: true,
    reuseRecords: true,
    oneCapture: true,
    onFlowEnd: true,
    onWarning: true,
    onSummary: true,
    onProgress: true,
    signal: true,
  } satisfies Record<keyof ExtractOptions, true>,
);

/**
 * Options of {@linkcode extractFlows} (and of `jj extract`).
 *
 * @example
 * ```ts
 * import { extractFlows, type ExtractOptions } from "./extract.ts";
 * const options: ExtractOptions = {
 *   features: ["timing", "size"],
 *   idleTimeout: 30,
 *   onWarning: (message) => console.error(message),
 * };
 * for await (const flow of extractFlows("testdata/http.pcap", options)) console.log(flow.iat_mean, flow.pkt_len_mean);
 * ```
 */
export interface ExtractOptions extends FlowPipelineOptions, FeatureOptions {
  /**
   * Feature groups to compute (default, and `all`: every group that streams, built-in or registered; those with
   * `finalize`, such as `connection`, only when named). `flow_meta` is always on.
   */
  features?: string[];
  /** Extra extractors (user plugins) to run after the built-in groups. */
  extractors?: FeatureExtractor<unknown>[];
  /**
   * A BPF filter (`tcp port 443`); needs libpcap. A capture file is read by libpcap's reader with it (unless
   * `reader` is `builtin`); stdin, a pipe, a stream source or gzip by the built-in reader, which runs libpcap's
   * filter on each packet (so that output streams).
   */
  filter?: string;
  /**
   * Which reader to use for files: `auto` (the built-in reader; libpcap's for a filter on a capture file),
   * `builtin`, `libpcap`.
   */
  reader?: "auto" | "builtin" | "libpcap";
  /** Burst threshold in milliseconds (default 50). */
  burstThresholdMs?: number;
  /**
   * Reuse record objects: each yielded record is valid only until the next one is asked for (copy it to keep
   * it). For consumers that write each record at once: with every group but connection on (400 columns), it
   * halves what a run allocates (see `FlowPipeline.recycle`). Records held for a group that needs every flow
   * (`connection`) are not reused.
   */
  reuseRecords?: boolean;
  /**
   * Reads the inputs as one capture, in the order given (a directory's captures by name): a flow goes on from one
   * input into the next, as in captures that `tcpdump -G` or `-C` rotated, and the flows held end only after the
   * last input (default false: each input is a capture of its own, whose flows end with it). An input that fails
   * part way (a cut capture) ends no flow either. Packet numbers (in a user extractor's error) count over every
   * input. A clock that steps back between inputs (inputs out of order) ends the flows after it, as within one.
   */
  oneCapture?: boolean;
  /**
   * Called as each flow ends, with its state and the number of packets read so far over every input (so, the
   * packet during which it ended), before its record is yielded; records are yielded in the same order, except
   * those held for a group that needs every flow. Parallel workers use it to merge their shards back into one
   * table's order (see `flowEndOrder`).
   */
  onFlowEnd?: (flow: FlowState, packetsRead: number) => void;
  /**
   * Called for each problem that does not stop the run: a truncated or corrupt capture (its readable flows are
   * written), an unsupported link type, or, among several inputs, one that cannot be read at all (the others
   * are; the last two are also listed in the summary's `failures`, an unsupported link type only when no packet
   * of its input was decoded).
   */
  onWarning?: (message: string) => void;
  /** Called with the totals once every input was read. */
  onSummary?: (summary: ExtractSummary) => void;
  /**
   * Called after each buffer (libpcap's reader: each 65,536 packets) with the bytes read so far (of a gzip input,
   * decompressed), the packets read and the flows held, for progress displays.
   */
  onProgress?: (bytesRead: number, packets: number, activeFlows: number) => void;
  /**
   * Ends the run early once aborted: reading stops (at once while waiting for input, or at the next buffer of a
   * file) and the inputs not yet read are left, the flows held are written as at the end of input, and the
   * summary's `stopped` is true. `jj extract` aborts it on its first SIGINT or SIGTERM.
   */
  signal?: AbortSignal;
}

/**
 * Totals of a run.
 *
 * @example
 * ```ts
 * import { extractFlows, type ExtractSummary } from "./extract.ts";
 * let summary: ExtractSummary | null = null;
 * for await (const _ of extractFlows("testdata/http.pcap", { onSummary: (s) => summary = s })) {
 *   // each record
 * }
 * console.log(summary!.packetsRead, summary!.flows, summary!.reader);
 * ```
 */
export interface ExtractSummary {
  /** Inputs read (of which a packet at least was read, or a capture of none); one that could not be, which
   * `failures` names, is not counted. */
  inputs: number;
  /** Packets read, decoded, skipped by reason. */
  packetsRead: number;
  /** Packets decoded and counted in a flow. */
  packetsDecoded: number;
  /** Packets skipped, counted by reason. */
  packetsSkipped: Record<string, number>;
  /** Packets left out by sampling. */
  packetsSampledOut: number;
  /** Flow records written. */
  flows: number;
  /** Bytes of capture read: of a gzip-compressed one, the decompressed bytes. */
  bytesRead: number;
  /** Warnings: truncated or corrupt captures (every readable flow is still written). */
  problems: string[];
  /**
   * Inputs that could not be used at all (every packet of an unsupported link type; among several inputs, one
   * that is not a capture or cannot be opened); non-empty means exit code 1.
   */
  failures: string[];
  /** The run was ended early by `signal` (see {@linkcode ExtractOptions}). */
  stopped: boolean;
  /**
   * Which reader was used: `builtin` or `libpcap`; `builtin + libpcap filter` for a filter run on the built-in
   * reader's packets (stdin, a pipe, a stream, gzip, or `reader: "builtin"`); several, comma-separated, when the
   * inputs were read differently.
   */
  reader: string;
}

/**
 * An input that cannot be read at all (missing file, not a capture).
 *
 * @example
 * ```ts
 * import { extractFlows, InputError } from "./extract.ts";
 * try {
 *   for await (const _ of extractFlows("no-such-capture.pcap")) {
 *     // never reached
 *   }
 * } catch (e) {
 *   console.log(e instanceof InputError); // true
 * }
 * ```
 */
export class InputError extends Error {
  /**
   * Creates the error with its message.
   *
   * @example
   * ```ts
   * import { InputError } from "./extract.ts";
   * console.log(new InputError("x").name); // InputError
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/**
 * Expands directories to the captures inside (recursively, sorted). A path that cannot be read, or a directory
 * without captures, throws when it is the only source; among several it goes to `onFailure` and the others are
 * still read.
 */
async function expandInputs(
  sources: CaptureSource[],
  onFailure: (message: string) => void,
): Promise<CaptureSource[]> {
  const out: CaptureSource[] = [];
  const fail = (message: string): void => {
    if (sources.length === 1) throw new InputError(message);
    onFailure(message);
  };
  for (const s of sources) {
    if (typeof s !== "string" || s === "-") {
      out.push(s);
      continue;
    }
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(s);
    } catch (e) {
      fail(`cannot read ${s}: ${whyUnreadable(e)}`);
      continue;
    }
    if (!info.isDirectory) {
      out.push(s);
      continue;
    }
    let found: string[];
    try {
      // A subdirectory that cannot be listed is one input that cannot be read: the captures beside it still are.
      found = await captureFilesIn(s, (path, e) => onFailure(`cannot read ${path}: ${whyUnreadable(e)}`));
    } catch (e) {
      fail(`cannot read ${s}: ${whyUnreadable(e)}`);
      continue;
    }
    if (found.length === 0) {
      fail(noCapturesIn(s));
      continue;
    }
    out.push(...found);
  }
  return out;
}

/**
 * Throws an `OptionError` (a usage error) when libpcap does not compile `filter`, with libpcap's message.
 * Needs libpcap (see `tryLoadLibpcap`).
 *
 * @example
 * ```ts
 * import { refuseBadFilter } from "./extract.ts";
 * refuseBadFilter("tcp port 443"); // compiles: returns
 * ```
 */
export function refuseBadFilter(filter: string): void {
  const bad = filterError(filter);
  if (bad !== null) {
    throw new OptionError("filter", "--filter", `a BPF filter libpcap compiles (${bad})`, filter);
  }
}

/** A pipeline's counts, to take an input's share of them (see `addCounts`). */
interface PipelineCounts {
  read: number;
  decoded: number;
  sampledOut: number;
  flows: number;
  skipped: Record<string, number>;
}

/** The counts of `pipeline` so far. */
function countsOf(pipeline: FlowPipeline): PipelineCounts {
  const st = pipeline.summary();
  return {
    read: st.read,
    decoded: st.decoded,
    sampledOut: st.sampledOut,
    flows: st.flows,
    skipped: { ...st.skipped },
  };
}

/** Adds what `pipeline` counted since `before` to `summary`, and returns that share. */
function addCounts(summary: ExtractSummary, pipeline: FlowPipeline, before: PipelineCounts): PipelineCounts {
  const st = pipeline.summary();
  const share: PipelineCounts = {
    read: st.read - before.read,
    decoded: st.decoded - before.decoded,
    sampledOut: st.sampledOut - before.sampledOut,
    flows: st.flows - before.flows,
    skipped: {},
  };
  for (const [k, v] of Object.entries(st.skipped)) {
    const n = v - (before.skipped[k] ?? 0);
    if (n > 0) share.skipped[k] = n;
  }
  summary.packetsRead += share.read;
  summary.packetsDecoded += share.decoded;
  summary.packetsSampledOut += share.sampledOut;
  summary.flows += share.flows;
  for (const [k, v] of Object.entries(share.skipped)) {
    summary.packetsSkipped[k] = (summary.packetsSkipped[k] ?? 0) + v;
  }
  return share;
}

/**
 * The options object itself, its callbacks, `reuseRecords` and `oneCapture`: checked before any input is read (a callback
 * that is not a function failed only when first called, part way through the run or after its last record).
 */
function checkCallOptions(options: ExtractOptions): void {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw new OptionError("options", "options", "an object of options", options);
  }
  for (const key of ["onFlowEnd", "onWarning", "onSummary", "onProgress"] as const) {
    const f = options[key];
    if (f !== undefined && typeof f !== "function") throw new OptionError(key, key, "a function", f);
  }
  if (options.reuseRecords !== undefined && typeof options.reuseRecords !== "boolean") {
    throw new OptionError("reuseRecords", "reuseRecords", "true or false", options.reuseRecords);
  }
  if (options.oneCapture !== undefined && typeof options.oneCapture !== "boolean") {
    throw new OptionError("oneCapture", "oneCapture", "true or false", options.oneCapture);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new OptionError("signal", "signal", "an AbortSignal", options.signal);
  }
}

/** A capture source of none of the kinds {@linkcode CaptureSource} names is refused, naming it. */
function checkSource(s: unknown): void {
  if (typeof s === "string" || s instanceof ReadableStream) return;
  if (s !== null && typeof s === "object" && typeof (s as { read?: unknown }).read === "function") return;
  // Bytes in memory go in as a stream: new Blob([bytes]).stream().
  throw new OptionError(
    "source",
    "CAPTURE",
    "a path, a ReadableStream of bytes (new Blob([bytes]).stream() for bytes in memory) or a ByteReader",
    s !== null && typeof s === "object" ? Object.prototype.toString.call(s) : s,
  );
}

/**
 * Options that only work on paths: libpcap (`filter`, `reader: "libpcap"`) opens files itself, so with a stream
 * or ByteReader source they would be ignored.
 */
function checkReaderOptions(options: ExtractOptions, sources: CaptureSource[]): void {
  const reader = options.reader;
  if (reader !== undefined && reader !== "auto" && reader !== "builtin" && reader !== "libpcap") {
    throw new OptionError("reader", "--reader", "auto, builtin or libpcap", reader);
  }
  if (options.filter !== undefined && typeof options.filter !== "string") {
    throw new OptionError("filter", "--filter", "a BPF filter string", options.filter);
  }
  if (reader === "libpcap" && sources.some((s) => typeof s !== "string")) {
    throw new OptionError(
      "reader",
      "--reader",
      "used with paths only (files, directories, - for stdin), which libpcap opens itself",
      "a stream source",
    );
  }
}

/** True for a path to a regular file (not `-`, a FIFO or a device, and not a path that cannot be read). */
async function isRegularFile(path: string): Promise<boolean> {
  if (path === "-") return false;
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * Reads captures and yields one flow record per flow, as flows end (output starts before the input ends).
 * Exception: when a selected group needs every flow (`connection`, which runs only when named), records are held until
 * the end of the last input, completed, then yielded. Invalid options throw an `OptionError` (a RangeError)
 * naming the option before any input is read, and an object in `extractors` that is not a feature extractor a
 * TypeError saying why. An input that cannot be read throws an `InputError`; with `reader: "libpcap"` or a
 * `filter`, a `$JJ_LIBPCAP` that names a library that does not load throws a `LibpcapUnavailableError`.
 *
 * @example
 * ```ts
 * import { extractFlows } from "./extract.ts";
 * for await (const flow of extractFlows("testdata/http.pcap", { features: ["timing"] })) {
 *   console.log(flow.src_ip, flow.dst_ip, flow.total_packets, flow.iat_mean);
 * }
 * ```
 */
export async function* extractFlows(
  source: CaptureSource | CaptureSource[],
  options: ExtractOptions = {},
): AsyncGenerator<FlowRecord, ExtractSummary, void> {
  checkCallOptions(options);
  refuseUnknownOptions(options, EXTRACT_OPTION_KEYS);
  const plan = planExtraction(options);
  const reuse = options.reuseRecords === true;
  const extractors = plan.extractors, output = plan.output, held: FlowRecord[] = [];
  const sources = Array.isArray(source) ? source : [source];
  for (const s of sources) checkSource(s);
  checkReaderOptions(options, sources);
  const summary: ExtractSummary = {
    inputs: 0,
    packetsRead: 0,
    packetsDecoded: 0,
    packetsSkipped: {},
    packetsSampledOut: 0,
    flows: 0,
    bytesRead: 0,
    problems: [],
    failures: [],
    stopped: false,
    reader: "builtin",
  };
  const warn = (m: string) => {
    summary.problems.push(m);
    options.onWarning?.(m);
  };
  const inputs = await expandInputs(sources, (m) => {
    summary.failures.push(m);
    options.onWarning?.(m);
  });
  // One input that cannot be read fails the run with its error; among several (counting those already found
  // missing), it is a warning, and the others are read.
  const singleInput = inputs.length === 1 && summary.failures.length === 0;
  /** libpcap's reader reads the files (a filter, or reader: "libpcap", with libpcap loaded). */
  let libpcapLoaded = false;
  const useLibpcap = options.reader === "libpcap" || options.filter !== undefined;
  if (useLibpcap) {
    if (tryLoadLibpcap() === null) {
      if (options.filter !== undefined) {
        throw new InputError(
          "--filter needs libpcap, which could not be loaded: install it (apt-get install -y libpcap0.8) " +
            "or set JJ_LIBPCAP=/path/to/libpcap.so",
        );
      }
      options.onWarning?.("libpcap could not be loaded; reading with the built-in pcap/pcapng reader");
    } else {
      libpcapLoaded = true;
      // A filter that does not compile is a usage error, once, not a failure of every input.
      if (options.filter !== undefined) refuseBadFilter(options.filter);
    }
  }

  /**
   * Where ended flows go: `onFlowEnd` told (`packetsSoFar` the packet number), then the record held for a group's
   * `finalize`, or through the plan's output to `push` (the record given back to `pipeline` when output copied it).
   */
  const recordSink = (
    push: (rec: FlowRecord) => void,
    pipeline: () => FlowPipeline,
    packetsSoFar: () => number,
  ): (rec: FlowRecord, flow: FlowState) => void => {
    const keep = plan.hold ? (rec: FlowRecord) => void held.push(rec) : plan.copies
      ? (rec: FlowRecord) => {
        push(output(rec));
        pipeline().recycle(rec);
      }
      : (rec: FlowRecord) => push(output(rec));
    const onFlowEnd = options.onFlowEnd;
    return onFlowEnd === undefined ? keep : (rec, flow) => {
      onFlowEnd(flow, packetsSoFar());
      keep(rec);
    };
  };
  /** Which reader read each input (see `ExtractSummary.reader`). */
  const readersUsed = new Set<string>();
  const oneCapture = options.oneCapture === true;
  /** With `oneCapture`, the pipeline every input feeds, and where it hands each ended flow: the current input's
   * (its pending records, its packet numbers). */
  let shared: FlowPipeline | null = null;
  let sharedEmit: (rec: FlowRecord, flow: FlowState) => void = () => {};
  for (let index = 0; index < inputs.length; index++) {
    const input = inputs[index];
    if (options.signal?.aborted) {
      summary.stopped = true;
      break;
    }
    // Records ended within one read are handed on once that many wait (not at the read's end: a read of small
    // packets can end tens of thousands of flows, each record a few KB held at once). Outside the try: an input
    // that fails part way (a filter that does not compile for its second link type) still hands on the records
    // of the flows it ended, which the summary counts (see the catch).
    let pending: FlowRecord[] = [];
    const packetsBefore = summary.packetsRead;
    try {
      const name = typeof input === "string" ? (input === "-" ? "<stdin>" : input) : "<stream>";
      const pause = new Uint8Array(1);
      let libpcapReader: PcapOfflineReader | null = null;
      const queue = (rec: FlowRecord): void => {
        if (pending.push(rec) >= MAX_PENDING_RECORDS) {
          pause[0] = 1;
          libpcapReader?.stop();
        }
      };
      /** Packets of this input a filter left out so far: they are read, and count in the packet numbers. */
      let filteredSoFar = (): number => 0;
      /** Packets of this input read so far, and of every input so far. */
      const inputPackets = () => pipeline.stats.read - before.read + filteredSoFar();
      const packetsSoFar = () => summary.packetsRead + inputPackets();
      const emit = recordSink(queue, () => pipeline, packetsSoFar);
      const pipeline = !oneCapture
        ? new FlowPipeline(extractors, options, emit)
        : (shared ??= new FlowPipeline(extractors, options, (rec, flow) => sharedEmit(rec, flow)));
      sharedEmit = emit;
      pipeline.frameOf = inputPackets;
      pipeline.inputName = name;
      // What becomes of the flows held when this input is cut short: written, or (one capture) read on.
      const goOn = oneCapture && index < inputs.length - 1 ? "go on with the next input" : "are written";
      /** The pipeline's counts before this input (zero, but with `oneCapture`). */
      const before = countsOf(pipeline);
      // Records the consumer is done with once it asks for the next (see `reuseRecords`).
      const recycleYielded = reuse && !plan.hold && !plan.copies;
      const emitBatch = function* (batch: FlowRecord[]): Generator<FlowRecord, void, void> {
        for (let i = 0; i < batch.length; i++) {
          yield batch[i];
          if (recycleYielded) pipeline.recycle(batch[i]);
        }
      };
      summary.inputs++;
      const progress = () => {
        options.onProgress?.(summary.bytesRead, packetsSoFar(), pipeline.table.size);
      };
      /** Set once the input was read to its end, or stopped by an input error (see the catch below). */
      let readEnded = false;
      try {
        // libpcap's reader reads in blocking calls: on stdin or a FIFO, output waited for the writer to fill a
        // batch, and Ctrl-C or SIGTERM for it to close. --reader libpcap reads such an input with the built-in
        // reader, saying so.
        const pipe = options.reader === "libpcap" && libpcapLoaded && typeof input === "string" &&
          !(await isRegularFile(input));
        if (pipe) {
          const what = input === "-" ? name : `${name} is not a regular file:`;
          options.onWarning?.(
            `${what} read with the built-in reader (libpcap's would hold every flow and Ctrl-C back until its ` +
              "writer stops or closes it)",
          );
        }
        // A filter with the built-in reader, or on what libpcap's reader reads badly or not at all: stdin or a
        // pipe (in blocking batches, holding output back until one filled), a stream source, gzip. The built-in
        // reader reads it, and libpcap's filter runs on each packet.
        const filterHere = options.filter !== undefined && (options.reader !== "libpcap" || pipe) &&
          (options.reader === "builtin" || typeof input !== "string" || !(await isPlainCaptureFile(input)));
        const viaLibpcap = libpcapLoaded && typeof input === "string" && !filterHere && !pipe;
        readersUsed.add(viaLibpcap ? "libpcap" : filterHere ? "builtin + libpcap filter" : "builtin");
        if (viaLibpcap) {
          // By its bytes too (gzip under another name): libpcap said only "unknown file format".
          if (await isGzipFile(input)) {
            throw new InputError(
              `${name}: libpcap does not read gzip-compressed captures; decompress it (gunzip -k) to use ` +
                "--reader libpcap (--filter alone reads it)",
            );
          }
          // Its size now: a capture still being written is read again only as far (see whereCaptureEnds).
          const sizeAtOpen = await Deno.stat(input).then((s) => s.size, () => Infinity);
          let reader: PcapOfflineReader;
          try {
            reader = PcapOfflineReader.open(input, options.filter, { countFiltered: true });
          } catch (e) {
            if (e instanceof PcapError) throw new InputError(`${name}: ${e.message}`);
            throw e;
          }
          libpcapReader = reader;
          filteredSoFar = () => reader.filtered;
          /** Bytes of the inputs before this one: this one's are its stream's position as it is read. */
          const bytesBefore = summary.bytesRead;
          /** When the event loop last turned (see below). */
          let turned = performance.now();
          try {
            for (;;) {
              const r = reader.run(pipeline.packet, 65536);
              summary.bytesRead = bytesBefore + reader.bytesRead();
              if (r.error) {
                progress();
                // Read again by the built-in reader, for where the capture is cut (libpcap names no offset), and
                // whether libpcap stopped before it.
                const mixed = refusesMixedInterfaces(r.error);
                const seen = mixed ? undefined : await whereCaptureEnds(input, sizeAtOpen);
                if (mixed || (seen !== undefined && seen.packetsBeforeDamage > inputPackets())) {
                  // Not a cut capture: libpcap refuses a pcapng whose interfaces have different link types or
                  // snapshot lengths (captures merged), and takes a later section of the other byte order for a
                  // corrupt block (its length in the first section's order), and Nokia's and other variants'
                  // longer record headers for corrupt records, where the built-in reader reads on. The rest of
                  // the input is lost: a failure, with the way out.
                  const m = `${name}: libpcap cannot read it (${r.error}, after packet ${inputPackets()})` +
                    `${mixed ? "" : `, where the built-in reader reads ${seen!.packets} packets`}; ` +
                    "read it with --reader builtin";
                  // Nothing read of the only input: an error, as for any input that cannot be read at all (it
                  // was a warning, with exit code 1).
                  if (singleInput && inputPackets() === 0) throw new InputError(m);
                  summary.failures.push(m);
                  options.onWarning?.(m);
                  break;
                }
                const where = seen?.damage ?? null;
                warn(
                  `${name}: ${r.error} (after packet ${inputPackets()}${
                    where === null ? "" : `; ${where}`
                  }); flows read so far ${goOn}`,
                );
                break;
              }
              if (r.packets === 0) break;
              if (pending.length > 0) {
                const batch = pending;
                pending = [];
                yield* emitBatch(batch);
              }
              progress();
              if (options.signal !== undefined && performance.now() - turned > 200) {
                // libpcap's reading is synchronous: without a turn of the event loop now and then, a signal's
                // listener (which aborts) or a worker's stop message would wait for the end of the file.
                await new Promise((resolve) => setTimeout(resolve, 0));
                turned = performance.now();
              }
              if (options.signal?.aborted) {
                summary.stopped = true;
                break;
              }
            }
          } finally {
            reader.close();
            if (reader.filtered > 0) {
              summary.packetsRead += reader.filtered;
              summary.packetsSkipped[FILTERED] = (summary.packetsSkipped[FILTERED] ?? 0) + reader.filtered;
            }
            filteredSoFar = () => 0; // counted in summary.packetsRead from here on
          }
          try {
            summary.bytesRead = bytesBefore + (await Deno.stat(input)).size;
          } catch { /* size is only for the summary */ }
        } else {
          let opened: OpenedCapture | null = null;
          let stream: ReturnType<typeof streamReader> | null = null;
          let ended = false;
          let byteReader: ByteReader;
          if (typeof input === "string") {
            try {
              opened = await openCapture(input);
            } catch (e) {
              throw new InputError(`cannot read ${input}: ${whyUnreadable(e)}`);
            }
            byteReader = opened.reader;
          } else byteReader = input instanceof ReadableStream ? (stream = streamReader(input)) : input;
          const bpf = filterHere ? new BpfPacketFilter(options.filter!) : null;
          let filtered = 0;
          filteredSoFar = () => filtered;
          const onPacket: PacketCallback = bpf === null
            ? pipeline.packet
            : (ts, buf, off, capLen, wireLen, linkType, nsec) => {
              // A link type the decoder does not read goes on to be counted as such, unfiltered: libpcap cannot
              // compile most filters for it (DLT 147: "link-layer type filtering not implemented"), which failed a
              // pcapng with such an interface beside an Ethernet one.
              if (!SUPPORTED_LINK_TYPES.has(linkType) || bpf.matches(buf, off, capLen, wireLen, linkType)) {
                pipeline.packet(ts, buf, off, capLen, wireLen, linkType, nsec);
              } else filtered++;
            };
          try {
            if (opened === null) {
              // A stream or ByteReader: gzip is told by its first bytes, as a path's is.
              try {
                opened = await openCaptureReader(byteReader);
              } catch (e) {
                throw e instanceof CaptureFormatError ? new InputError(`${name}: ${e.message}`) : e;
              }
              byteReader = opened.reader;
            }
            const it = readCaptureChunks(
              byteReader,
              onPacket,
              (n) => summary.bytesRead += n,
              pause,
              options.signal,
            );
            let result;
            for (;;) {
              let r;
              try {
                r = await it.next();
              } catch (e) {
                // Not a capture, or a filter that does not compile for a link type of this input (as libpcap's
                // reader refuses it).
                if (e instanceof CaptureFormatError || e instanceof PcapError) {
                  throw new InputError(`${name}: ${e.message}`);
                }
                // Thrown only before any byte came out (a stream cut later ends the capture there, with its
                // warning): not gzip at all (zlib's "incorrect header check": a .gz name on something else),
                // or gzip cut or damaged before its first capture bytes (a download that stopped early).
                if (e instanceof DecompressionError) {
                  // A wrong CRC or length in the trailer: zlib drops the output of the write that failed,
                  // all of a small file (gunzip -c writes it out before it complains).
                  throw new InputError(
                    /header check/.test(e.message)
                      ? `${name}: not a gzip-compressed capture (${e.message})`
                      : /(data|length) check/.test(e.message)
                      ? `${name}: the gzip stream fails its check (${e.message}), and nothing of it could be ` +
                        "read; 'gunzip -c' writes out what it holds"
                      : `${name}: the gzip stream is cut or corrupt before any capture data (${e.message})`,
                  );
                }
                throw e;
              }
              if (pending.length > 0) {
                const batch = pending;
                pending = [];
                yield* emitBatch(batch);
              }
              progress();
              if (r.done) {
                result = r.value;
                if (result.stopped) summary.stopped = true;
                break;
              }
            }
            if (result !== undefined && result.skippedBlocks > 0) {
              summary.packetsRead += result.skippedBlocks;
              summary.packetsSkipped[UNREADABLE_BLOCK] = (summary.packetsSkipped[UNREADABLE_BLOCK] ?? 0) +
                result.skippedBlocks;
              const gzipped = opened?.gzip === true;
              for (const note of result.notes) {
                warn(`${name}: skipped a ${gzipped ? decompressedOffsets(note) : note}`);
              }
              if (result.skippedBlocks > result.notes.length) {
                warn(
                  `${name}: skipped ${
                    result.skippedBlocks - result.notes.length
                  } more unreadable packet blocks`,
                );
              }
            }
            if (result?.warning) {
              // A gzip input's offsets count its decompressed bytes (they can pass the file's size).
              const what = opened?.gzip === true ? decompressedOffsets(result.warning) : result.warning;
              warn(`${name}: ${what}; flows read before it ${goOn}`);
            }
            ended = true;
          } finally {
            bpf?.close();
            if (filtered > 0) {
              summary.packetsRead += filtered;
              summary.packetsSkipped[FILTERED] = (summary.packetsSkipped[FILTERED] ?? 0) + filtered;
              filtered = 0; // counted in summary.packetsRead from here on
            }
            opened?.close();
            // A stream given by the caller is released; left before its end (the consumer stopped, or an
            // error), it is cancelled too, which closes a file's stream.
            if (stream !== null) {
              if (ended) stream.close();
              else await stream.cancel();
            }
          }
        }
        readEnded = true;
      } catch (e) {
        // An input error part way ends the flows read before it, whose records are written. A consumer that
        // stopped (a break out of the loop) or another error (a user extractor's) discards them: no record is
        // built and no onFlowEnd called for flows no record will come of (a break waited for every open flow's),
        // and the error is the one thrown, not one of a finish on half-updated state.
        if (e instanceof InputError) readEnded = true;
        throw e;
      } finally {
        // One capture's flows go on into the next input; its last (or a run stopped, below the loop) ends them.
        if (!readEnded) pipeline.discard();
        else if (!oneCapture || index === inputs.length - 1) pipeline.flush();
        const st = addCounts(summary, pipeline, before);
        for (const lt of pipeline.takeUnsupportedLinkTypes()) {
          const m = `${name}: unsupported link type ${describeLinkType(lt)}; its packets are skipped`;
          // A failure only when every packet of the input was of a link type not read: a pcapng of an Ethernet
          // interface and, say, a USB one (dumpcap on both) is a warning, also when the Ethernet one carried no
          // IP (non-IP frames are not a failure).
          if (st.skipped[SKIP_REASON_NAMES[SkipReason.UNSUPPORTED_LINK]] === st.read) {
            summary.failures.push(m);
          }
          options.onWarning?.(m);
        }
      }
      if (pending.length > 0) {
        const batch = pending;
        pending = [];
        yield* emitBatch(batch);
      }
    } catch (e) {
      // An input that failed part way, or a user extractor that threw: the records of the flows that ended
      // before are whole, and written (the flows still open were discarded, not written half done).
      const left = pending;
      pending = [];
      for (let i = 0; i < left.length; i++) yield left[i];
      // One input that cannot be read at all (not a capture, ...) among several: the others are still read;
      // the run ends as failed (exit code 1), as with an unsupported link type.
      if (!(e instanceof InputError) || singleInput) throw e;
      // Not read, when not a packet of it was (not a capture, a file that cannot be opened), as a missing one.
      if (summary.packetsRead === packetsBefore) summary.inputs--;
      summary.failures.push(e.message);
      options.onWarning?.(e.message);
    }
  }
  if (shared !== null && shared.table.size > 0) {
    // One capture stopped before its last input (a signal): the flows held end here, as at its end.
    const ended: FlowRecord[] = [];
    const before = countsOf(shared);
    const table = shared;
    sharedEmit = recordSink((rec) => ended.push(rec), () => table, () => summary.packetsRead);
    shared.flush();
    addCounts(summary, shared, before);
    for (let i = 0; i < ended.length; i++) yield ended[i];
  }
  if (plan.hold) {
    plan.finalize(held);
    for (let i = 0; i < held.length; i++) {
      const r = output(held[i]);
      held[i] = null as unknown as FlowRecord; // let written records go
      yield r;
    }
  }
  if (readersUsed.size > 0) summary.reader = [...readersUsed].join(", ");
  else if (libpcapLoaded) summary.reader = "libpcap";
  options.onSummary?.(summary);
  return summary;
}
