/**
 * A worker of {@linkcode extractJsonlParallel}: extracts one shard of the flows of the inputs and posts them as
 * JSON Lines in batches of UTF-8 bytes, with at most a few batches not yet acknowledged by the main thread (so
 * that a slow writer holds every worker back instead of letting memory grow).
 *
 * A batch's buffer is transferred, not copied, and comes back with its acknowledgement to be filled again, so
 * that no batch allocates (a fresh buffer per batch cost page faults and zeroing in the kernel, which on this
 * machine class took more time than the copy itself). Each line is encoded where it lands in the buffer.
 *
 * @module
 */
import { extractFlows, type ExtractOptions } from "./extract.ts";
import { loadExtractorModule, OptionError } from "./options.ts";
import { refuseUnshardable } from "./parallel.ts";
import { registerExtractor } from "./registry.ts";
import { END_ORDER_WIDTH, flowEndOrder } from "./flow_table.ts";
import { jsonLine } from "../outputs/jsonl.ts";

/** The message that starts a worker. */
export interface WorkerStart {
  inputs: string[];
  options: ExtractOptions;
  extractorModules: string[];
  shard: { index: number; count: number };
  batchBytes: number;
}

/**
 * Messages a worker posts. A batch of lines comes with each line's end offset in `buffer` and its place in the
 * order one flow table would have written it (`END_ORDER_WIDTH` numbers per line, see `flowEndOrder`).
 */
export type WorkerMessage =
  | { type: "bytes"; buffer: ArrayBuffer; length: number; ends: Uint32Array; order: Float64Array }
  /**
   * After each input buffer: the position, and the least packet index (first number of the order key) that any
   * line this worker has not yet posted can have, so that the main thread can merge other workers' lines below
   * it without waiting for this one's next batch.
   */
  | { type: "progress"; bytesRead: number; packets: number; activeFlows: number; lowest: number }
  | { type: "warning"; message: string }
  | { type: "done"; summary: unknown; otherShard: number }
  /** `option`: an OptionError's option (the main thread throws it as an OptionError again). */
  | { type: "error"; name: string; message: string; option?: string };

// deno-lint-ignore no-explicit-any
const scope = self as any;
/** The main thread's acknowledgement of a batch: its buffer, given back. */
export interface WorkerAck {
  type: "ack";
  buffer: ArrayBuffer;
}

/** The main thread's request to stop reading (its run's signal was aborted): the flows held are written. */
export interface WorkerStop {
  type: "stop";
}

/** Aborted by a {@linkcode WorkerStop}. */
const stop = new AbortController();

/** Batches posted and not yet acknowledged; the worker pauses at WINDOW (a round trip per batch is too slow). */
let inFlight = 0;
const WINDOW = 8;
let resume: (() => void) | null = null;
/** Buffers given back by the main thread, ready for the next batches. */
const free: ArrayBuffer[] = [];
const encoder = new TextEncoder();

scope.onmessage = async (e: MessageEvent) => {
  if ((e.data as WorkerStop).type === "stop") {
    stop.abort();
    return;
  }
  if ((e.data as WorkerAck).type === "ack") {
    free.push((e.data as WorkerAck).buffer);
    inFlight--;
    const r = resume;
    resume = null;
    r?.();
    return;
  }
  const start = e.data as WorkerStart;
  const post = (m: WorkerMessage) => scope.postMessage(m);
  try {
    // The modules' groups run whatever groups `features` names, as the CLI runs --extractor's (they were left
    // out when `features` was given).
    const loaded: string[] = [];
    for (const m of start.extractorModules) {
      for (const x of await loadExtractorModule(m)) {
        registerExtractor(x);
        loaded.push(x.name);
      }
    }
    const named = start.options.features;
    if (named !== undefined && loaded.length > 0) {
      start.options.features = [...named, ...loaded.filter((name) => !named.includes(name))];
    }
    // A group from a module only the workers load can need every flow too (the main thread could not see it).
    refuseUnshardable(start.inputs, start.options);
    // Each flow's order key, from its end to its record's turn (records follow flow ends in the same order).
    const pendingOrder: number[] = [];
    let orderHead = 0;
    const pendingFirst = () => orderHead < pendingOrder.length ? pendingOrder[orderHead] : Infinity;
    // The batch being filled: each line's end offset and order key.
    const ends: number[] = [];
    const order: number[] = [];
    const it = extractFlows(start.inputs, {
      ...start.options,
      shard: start.shard,
      // Each record is serialised below before the next is asked for.
      reuseRecords: true,
      signal: stop.signal,
      onFlowEnd: (flow, packetsRead) => {
        flowEndOrder(flow, packetsRead, pendingOrder, pendingOrder.length);
      },
      // Warnings are the same in every shard: only the first one reports them.
      onWarning: start.shard.index === 0 ? (message) => post({ type: "warning", message }) : undefined,
      // Every flow still to end ends at a packet from here on. The lines written so far go now, however few: a
      // shard whose flows end rarely would otherwise hold every other worker's lines back until its batch fills.
      onProgress: (bytesRead, packets, activeFlows) => {
        postBatch();
        post({
          type: "progress",
          bytesRead,
          packets,
          activeFlows,
          lowest: Math.min(packets, pendingFirst()),
        });
      },
    });
    let buffer = new ArrayBuffer(2 * start.batchBytes);
    let bytes = new Uint8Array(buffer);
    let size = 0;
    /** Posts the lines written so far (none: nothing), without waiting for the window. */
    const postBatch = () => {
      if (ends.length === 0) return;
      const message: WorkerMessage = {
        type: "bytes",
        buffer,
        length: size,
        ends: Uint32Array.from(ends),
        order: Float64Array.from(order),
      };
      scope.postMessage(message, [buffer, message.ends.buffer, message.order.buffer]);
      ends.length = 0;
      order.length = 0;
      size = 0;
      buffer = free.pop() ?? new ArrayBuffer(2 * start.batchBytes);
      bytes = new Uint8Array(buffer);
      inFlight++;
    };
    const flush = async () => {
      postBatch();
      while (inFlight >= WINDOW) await new Promise<void>((resolve) => resume = resolve);
    };
    for (;;) {
      const r = await it.next();
      if (r.done) {
        await flush();
        post({ type: "done", summary: r.value, otherShard: 0 });
        break;
      }
      const line = jsonLine(r.value);
      let w = encoder.encodeInto(line, bytes.subarray(size));
      if (w.read < line.length || size + w.written >= bytes.length) {
        await flush();
        w = encoder.encodeInto(line, bytes);
        if (w.read < line.length || w.written >= bytes.length) {
          // Longer than a batch (a very long record): a buffer of its own.
          buffer = new ArrayBuffer(line.length * 3 + 1);
          bytes = new Uint8Array(buffer);
          w = encoder.encodeInto(line, bytes);
        }
      }
      size += w.written;
      bytes[size++] = 10;
      ends.push(size);
      for (let k = 0; k < END_ORDER_WIDTH; k++) order.push(pendingOrder[orderHead++]);
      if (orderHead === pendingOrder.length) pendingOrder.length = orderHead = 0;
      if (size >= start.batchBytes) await flush();
    }
  } catch (err) {
    post({
      type: "error",
      name: err instanceof Error ? err.name : "Error",
      message: err instanceof Error ? err.message : String(err),
      option: err instanceof OptionError ? err.option : undefined,
    });
  }
};
