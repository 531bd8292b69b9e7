/**
 * Extraction on several cores: each worker reads the inputs, decodes every packet, but keeps only the flows of
 * its shard (by flow hash) and turns them into JSON Lines itself, so that flow tables, feature groups and
 * serialization all run in parallel. Each line comes with its flow's place in one table's order
 * (`flowEndOrder`), and the main thread merges the workers' lines by it: the output is the same, byte for byte
 * and line for line, as one process's, also for packets a little out of time order (see `FlowTable`'s
 * reordering reach); a packet behind by more, or a clock that steps back further, can make a worker end a flow
 * at another packet than one table would. Batch buffers move between the threads without a copy;
 * the merge copies each line once.
 *
 * Why every worker reads and decodes the whole capture rather than the main thread reading it once and handing
 * each worker its packets: that was built and measured (2026-11-26, big-500, four groups, two workers, runs
 * interleaved with this design) and was slower, 5.3 to 6.8 s against 5.2 to 5.9 s, and 10.5 s against 9.8 s
 * with every group. The main thread's copy of 2.1 GB into shared memory took 0.7 s of its CPU, and each
 * worker's first touch of a packet, written by another core, cost it about 0.4 s in cache misses; a worker's
 * own read of the file lands in its own core's cache, and decoding the other workers' packets costs it less.
 *
 * Groups whose values depend on other flows (`connection`) need every flow in one place and cannot be sharded.
 *
 * @module
 */
import type { ExtractOptions, ExtractSummary } from "./extract.ts";
import { InputError, refuseBadFilter } from "./extract.ts";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";
import type { WorkerAck, WorkerMessage, WorkerStart, WorkerStop } from "./extract_worker.ts";
import { compareEndOrder, END_ORDER_WIDTH } from "./flow_table.ts";
import { loadExtractorModule, OptionError, planExtraction, SettingsError } from "./options.ts";
import { allExtractors, isRegistered } from "./registry.ts";

/** A batch of lines from a worker, merged line by line. */
interface Batch {
  buffer: ArrayBuffer;
  bytes: Uint8Array;
  /** End offset of each line in `bytes`. */
  ends: Uint32Array;
  /** Each line's order key (see `flowEndOrder`). */
  order: Float64Array;
  /** The next line to merge. */
  line: number;
}

/**
 * Options of a parallel run: the extract options that can cross to a worker (no callbacks, no plugins objects).
 *
 * @example
 * ```ts
 * import { extractJsonlParallel, type ParallelOptions } from "./parallel.ts";
 * const parallel: ParallelOptions = { workers: 2, onWarning: (message) => console.error(message) };
 * const it = extractJsonlParallel(["testdata/http.pcap"], { features: ["size"] }, parallel);
 * let r = await it.next();
 * while (!r.done) r = await it.next();
 * console.log(r.value.flows > 0); // true
 * ```
 */
export interface ParallelOptions {
  /** Number of workers, 1 to 64 (one runs the extraction in one worker, beside the main thread). */
  workers: number;
  /** Paths of user extractor modules, loaded in each worker. */
  extractorModules?: string[];
  /** Approximate size of a batch of lines (default 256 KiB). */
  batchBytes?: number;
  /** Called after each input buffer with the slowest worker's position and the flows held by all (default: the
   * extract options' `onProgress`). */
  onProgress?: (bytesRead: number, packets: number, activeFlows: number) => void;
  /** Called for each warning, from the first worker: all see the same input (default: the extract options'
   * `onWarning`). */
  onWarning?: (message: string) => void;
}

function cloneable(o: ExtractOptions): ExtractOptions {
  const out: Record<string, unknown> = {};
  // The signal reaches the workers as a message (see extractJsonlParallel).
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== "function" && k !== "extractors" && k !== "signal") out[k] = v;
  }
  return out as ExtractOptions;
}

/**
 * Why a run cannot be sharded over workers (empty when it can): a group that needs every flow in one place, an
 * eviction limit that needs every flow in one table, stdin (one stream cannot be read by every worker), and what
 * cannot cross to a worker (extractor objects, an `onFlowEnd` callback). `extractJsonlParallel` refuses such a
 * run; the CLI adds its own (output formats, `--label`, `--ipfix`).
 *
 * @example
 * ```ts
 * import { shardingConflicts } from "./parallel.ts";
 * console.log(shardingConflicts(["a.pcap"], {})); // []
 * console.log(shardingConflicts(["-"], { maxFlows: 10 }).length); // 2
 * ```
 */
export function shardingConflicts(inputs: readonly string[], options: ExtractOptions): string[] {
  const conflicts: string[] = [];
  if (inputs.includes("-")) conflicts.push("stdin input (-)");
  // Every worker opens every input: a pipe by name (a FIFO, the shell's <(...)) can be read only once.
  const pipes = inputs.filter((i) => {
    try {
      const info = Deno.statSync(i);
      return !info.isFile && !info.isDirectory;
    } catch {
      return false;
    }
  });
  if (pipes.length > 0) conflicts.push(`inputs that are not regular files (${pipes.join(", ")})`);
  if ((options.maxFlows ?? 0) > 0) {
    conflicts.push("--max-flows, whose eviction needs every flow in one table");
  }
  if ((options.extractors?.length ?? 0) > 0) {
    conflicts.push(
      "extractor objects (options.extractors), which cannot cross to a worker (name their modules)",
    );
  }
  if (options.onFlowEnd !== undefined) conflicts.push("an onFlowEnd callback, which workers cannot call");
  let extractors: ReturnType<typeof planExtraction>["extractors"] = [];
  try {
    extractors = planExtraction(options).extractors;
  } catch {
    // Groups of modules only the workers load, or invalid options: each worker plans again and refuses them.
  }
  for (const e of extractors) {
    if (e.finalize !== undefined) conflicts.push(`the ${e.name} group, which needs every flow in one place`);
  }
  return conflicts;
}

/**
 * Throws a RangeError naming every {@linkcode shardingConflicts} reason, if any: the main thread checks before
 * it starts workers, and each worker again once it has loaded the extractor modules only workers load.
 *
 * @example
 * ```ts
 * import { refuseUnshardable } from "./parallel.ts";
 * refuseUnshardable(["a.pcap"], {}); // no conflict: returns
 * ```
 */
export function refuseUnshardable(inputs: readonly string[], options: ExtractOptions): void {
  const conflicts = shardingConflicts(inputs, options);
  if (conflicts.length > 0) {
    throw new SettingsError(`extraction in workers cannot be used with ${conflicts.join(", ")}`);
  }
}

/**
 * Refuses a run whose groups include an extractor registered in this thread (`registerExtractor`) that no
 * module of `modules` exports: workers know only the built-in groups and the modules they load, so its columns
 * were left out without a word (or its name refused as an unknown group).
 */
async function refuseRegistered(options: ExtractOptions, modules: readonly string[]): Promise<void> {
  const registered = new Set(allExtractors().filter(isRegistered).map((e) => e.name));
  if (registered.size === 0) return;
  let planned: string[];
  try {
    planned = planExtraction(options).extractors.map((e) => e.name);
  } catch {
    return; // invalid options: each worker plans again and refuses them
  }
  const inModules = new Set<string>();
  for (const m of modules) for (const e of await loadExtractorModule(m)) inModules.add(e.name);
  const missing = planned.filter((n) => registered.has(n) && !inModules.has(n));
  if (missing.length > 0) {
    throw new SettingsError(
      `extraction in workers cannot run ${missing.join(", ")}, registered in this thread with ` +
        "registerExtractor(): name its module in extractorModules, or extract in one thread (extractFlows)",
    );
  }
}

/**
 * Yields JSON Lines as UTF-8 bytes (batches of complete lines) for the flows of `inputs`, computed by `workers`
 * workers, in the order one process would write them; returns the combined summary. A batch is valid until the
 * next call to `next()`: its buffer is then reused (copy it to keep it). A run that cannot be sharded (see
 * {@linkcode shardingConflicts}) is refused with a RangeError before any worker starts. Callbacks do not cross
 * to the workers: warnings and progress come through `parallel`'s, or else through `options`' `onWarning` and
 * `onProgress`, and `options.onSummary` is called with the combined summary (`onFlowEnd` is refused).
 *
 * @example
 * ```ts
 * import { extractJsonlParallel } from "./parallel.ts";
 * const it = extractJsonlParallel(["testdata/http.pcap"], { features: ["timing"] }, { workers: 2 });
 * let r = await it.next();
 * while (!r.done) {
 *   await Deno.stdout.write(r.value);
 *   r = await it.next();
 * }
 * console.error(r.value.flows, "flows");
 * ```
 */
export async function* extractJsonlParallel(
  inputs: string[],
  options: ExtractOptions,
  parallel: ParallelOptions,
): AsyncGenerator<Uint8Array, ExtractSummary, void> {
  refuseUnshardable(inputs, options);
  await refuseRegistered(options, parallel.extractorModules ?? []);
  // Checked here, once, rather than by workers that would then be stopped in the middle of a libpcap call.
  if (options.filter !== undefined && tryLoadLibpcap() !== null) refuseBadFilter(options.filter);
  // Before any worker starts: a bad value failed after them, and the workers kept the process alive.
  const n = parallel.workers;
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new OptionError("workers", "--workers", "an integer from 1 to 64", n);
  }
  const batchBytes = parallel.batchBytes ?? 262144;
  if (!Number.isInteger(batchBytes) || batchBytes < 1 || batchBytes > 1 << 30) {
    throw new OptionError("batchBytes", "batchBytes", "an integer from 1 to 2^30", batchBytes);
  }
  // The options' own callbacks serve where `parallel` gives none (they were ignored without a word).
  const onWarning = parallel.onWarning ?? options.onWarning;
  const onProgress = parallel.onProgress ?? options.onProgress;
  const queue: { worker: number; msg: WorkerMessage }[] = [];
  let wake: (() => void) | null = null;
  const workers: Worker[] = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL("./extract_worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (e: MessageEvent<WorkerMessage>) => {
      queue.push({ worker: i, msg: e.data });
      wake?.();
    };
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      queue.push({ worker: i, msg: { type: "error", name: "Error", message: e.message } });
      wake?.();
    };
    const start: WorkerStart = {
      inputs,
      options: cloneable(options),
      extractorModules: parallel.extractorModules ?? [],
      shard: { index: i, count: n },
      batchBytes,
    };
    w.postMessage(start);
    workers.push(w);
  }
  // Each worker stops reading and writes the flows it holds; the merge goes on to their ends.
  const stopWorkers = () => {
    for (const w of workers) w.postMessage({ type: "stop" } satisfies WorkerStop);
  };
  if (options.signal?.aborted) stopWorkers();
  else options.signal?.addEventListener("abort", stopWorkers, { once: true });
  const summaries: ExtractSummary[] = new Array(n);
  const finished: boolean[] = new Array(n).fill(false);
  /** Each worker's batches not yet merged; a worker's lines come in its own table's order. */
  const batches: Batch[][] = Array.from({ length: n }, () => []);
  const progress = Array.from({ length: n }, () => ({ bytesRead: 0, packets: 0, activeFlows: 0 }));
  /** Per worker, the least packet index its lines still to come can have (see the worker's progress message). */
  const lowest: number[] = new Array(n).fill(0);
  const out = new Uint8Array(2 * batchBytes);
  let outLength = 0;
  try {
    for (;;) {
      while (queue.length > 0) {
        const { worker, msg } = queue.shift()!;
        if (msg.type === "bytes") {
          batches[worker].push({
            buffer: msg.buffer,
            bytes: new Uint8Array(msg.buffer, 0, msg.length),
            ends: msg.ends,
            order: msg.order,
            line: 0,
          });
        } else if (msg.type === "progress") {
          progress[worker] = msg;
          lowest[worker] = msg.lowest;
          if (onProgress) {
            // The slowest worker's position; each holds its own share of the flows.
            let bytes = Infinity, packets = Infinity, flows = 0;
            for (const p of progress) {
              bytes = Math.min(bytes, p.bytesRead);
              packets = Math.min(packets, p.packets);
              flows += p.activeFlows;
            }
            onProgress(bytes, packets, flows);
          }
        } else if (msg.type === "warning") {
          onWarning?.(msg.message);
        } else if (msg.type === "done") {
          summaries[worker] = msg.summary as ExtractSummary;
          finished[worker] = true;
        } else {
          if (msg.name === "InputError") throw new InputError(msg.message);
          // An option or settings a worker refused are thrown as extractFlows throws them (usage errors in the
          // CLI); any other error (a RangeError too) is a runtime one.
          if (msg.name === "OptionError") {
            const e = new OptionError(msg.option ?? "", "", "", undefined);
            e.message = msg.message;
            throw e;
          }
          if (msg.name === "SettingsError") throw new SettingsError(msg.message);
          throw new Error(msg.message);
        }
      }
      // Merge: the next line is the least of the workers' next lines. A worker with no line at hand holds the
      // merge back only for lines at or above the packet index its lines still to come can start from.
      let waiting = false;
      for (;;) {
        let best: Batch | null = null, bestWorker = -1, limit = Infinity;
        for (let w = 0; w < n; w++) {
          const b = batches[w][0];
          if (b === undefined) {
            if (!finished[w] && lowest[w] < limit) limit = lowest[w];
            continue;
          }
          if (
            best === null ||
            compareEndOrder(b.order, b.line * END_ORDER_WIDTH, best.order, best.line * END_ORDER_WIDTH) < 0
          ) {
            best = b;
            bestWorker = w;
          }
        }
        if (best === null || best.order[best.line * END_ORDER_WIDTH] >= limit) {
          waiting = finished.some((f, w) => !f || batches[w].length > 0);
          break;
        }
        const start = best.line === 0 ? 0 : best.ends[best.line - 1], end = best.ends[best.line];
        if (outLength + end - start > out.length && outLength > 0) {
          yield out.subarray(0, outLength);
          outLength = 0;
        }
        if (end - start > out.length) yield best.bytes.subarray(start, end);
        else {
          out.set(best.bytes.subarray(start, end), outLength);
          outLength += end - start;
        }
        if (++best.line === best.ends.length) {
          batches[bestWorker].shift();
          workers[bestWorker].postMessage({ type: "ack", buffer: best.buffer } satisfies WorkerAck, [
            best.buffer,
          ]);
        }
      }
      if (outLength > 0) {
        yield out.subarray(0, outLength);
        outLength = 0;
      }
      if (!waiting) break;
      if (queue.length === 0) {
        await new Promise<void>((r) => wake = r);
        wake = null;
      }
    }
  } finally {
    options.signal?.removeEventListener("abort", stopWorkers);
    for (const w of workers) w.terminate();
  }
  const summary = mergeShardSummaries(summaries);
  options.onSummary?.(summary);
  return summary;
}

/** The skip reason of packets a stopped run's workers left: read by one, not by their own shard's. */
export const LEFT_BY_STOP = "left by the stop (their worker had stopped)";

/**
 * The summary of a run from its workers' (one per shard). Every worker reads every packet (the counts of packets
 * read and skipped are each worker's), while packets decoded, sampled out and flows are split between them. A
 * stopped run's workers stopped at different packets: the counts are the furthest one's, and the packets it read
 * that their own shard's worker had not reached are counted as skipped, {@linkcode LEFT_BY_STOP}, so that every
 * packet read is accounted for once.
 *
 * @example
 * ```ts
 * import { mergeShardSummaries } from "./parallel.ts";
 * const shard = (read: number, decoded: number) => ({
 *   inputs: 1, packetsRead: read, packetsDecoded: decoded, packetsSkipped: {}, packetsSampledOut: 0, flows: 1,
 *   bytesRead: 0, problems: [], failures: [], stopped: true, reader: "builtin",
 * });
 * const s = mergeShardSummaries([shard(100, 50), shard(80, 40)]);
 * console.log(s.packetsRead, s.packetsDecoded, s.packetsSkipped); // 100 90 { "left by the stop (their worker had stopped)": 10 }
 * ```
 */
export function mergeShardSummaries(summaries: readonly ExtractSummary[]): ExtractSummary {
  const furthest = summaries.reduce((a, s) => s.packetsRead > a.packetsRead ? s : a);
  const merged: ExtractSummary = {
    ...furthest,
    packetsSkipped: { ...furthest.packetsSkipped },
    packetsDecoded: summaries.reduce((a, s) => a + s.packetsDecoded, 0),
    packetsSampledOut: summaries.reduce((a, s) => a + s.packetsSampledOut, 0),
    flows: summaries.reduce((a, s) => a + s.flows, 0),
    stopped: summaries.some((s) => s.stopped),
    reader: `${summaries[0].reader} x${summaries.length} workers`,
  };
  const skipped = Object.values(merged.packetsSkipped).reduce((a, n) => a + n, 0);
  const left = merged.packetsRead - merged.packetsDecoded - merged.packetsSampledOut - skipped;
  if (merged.stopped && left > 0) merged.packetsSkipped[LEFT_BY_STOP] = left;
  return merged;
}
