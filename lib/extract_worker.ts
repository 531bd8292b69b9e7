/**
 * A worker of {@linkcode extractJsonlParallel}: extracts one shard of the flows of the inputs and posts them as
 * JSON Lines in batches of UTF-8 bytes, with at most a few batches not yet acknowledged by the main thread (so
 * that a slow writer holds every worker back instead of letting memory grow).
 *
 * A batch's buffer is transferred, not copied, and comes back with its acknowledgement to be filled again: the
 * main thread neither copies nor encodes the text, and no batch allocates (a fresh buffer per batch cost page
 * faults and zeroing in the kernel, which on this machine class took more time than the copy itself).
 *
 * @module
 */
import { extractFlows, type ExtractOptions } from "./extract.ts";
import { loadExtractorModule } from "./options.ts";
import { registerExtractor } from "./registry.ts";

/** The message that starts a worker. */
export interface WorkerStart {
  inputs: string[];
  options: ExtractOptions;
  extractorModules: string[];
  shard: { index: number; count: number };
  batchBytes: number;
}

/** Messages a worker posts. */
export type WorkerMessage =
  | { type: "bytes"; buffer: ArrayBuffer; length: number }
  | { type: "warning"; message: string }
  | { type: "done"; summary: unknown; otherShard: number }
  | { type: "error"; name: string; message: string };

// deno-lint-ignore no-explicit-any
const scope = self as any;
/** The main thread's acknowledgement of a batch: its buffer, given back. */
export interface WorkerAck {
  type: "ack";
  buffer: ArrayBuffer;
}

/** Batches posted and not yet acknowledged; the worker pauses at WINDOW (a round trip per batch is too slow). */
let inFlight = 0;
const WINDOW = 8;
let resume: (() => void) | null = null;
/** Buffers given back by the main thread, ready for the next batches. */
const free: ArrayBuffer[] = [];
const encoder = new TextEncoder();

scope.onmessage = async (e: MessageEvent) => {
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
    for (const m of start.extractorModules) {
      for (const x of await loadExtractorModule(m)) registerExtractor(x);
    }
    const it = extractFlows(start.inputs, {
      ...start.options,
      shard: start.shard,
      // Each record is serialised below before the next is asked for.
      reuseRecords: true,
      // Warnings are the same in every shard: only the first one reports them.
      onWarning: start.shard.index === 0 ? (message) => post({ type: "warning", message }) : undefined,
    });
    let parts: string[] = [];
    let size = 0;
    const flush = async () => {
      if (parts.length === 0) return;
      const text = parts.join("\n") + "\n";
      parts = [];
      size = 0;
      let buffer = free.pop() ?? new ArrayBuffer(2 * start.batchBytes);
      let r = encoder.encodeInto(text, new Uint8Array(buffer));
      if (r.read < text.length) {
        // Larger than the buffer (a very long record, or text far from ASCII): one of its own.
        buffer = new ArrayBuffer(text.length * 3);
        r = encoder.encodeInto(text, new Uint8Array(buffer));
      }
      scope.postMessage({ type: "bytes", buffer, length: r.written } satisfies WorkerMessage, [buffer]);
      inFlight++;
      while (inFlight >= WINDOW) await new Promise<void>((resolve) => resume = resolve);
    };
    for (;;) {
      const r = await it.next();
      if (r.done) {
        await flush();
        post({ type: "done", summary: r.value, otherShard: 0 });
        break;
      }
      const line = JSON.stringify(r.value);
      parts.push(line);
      size += line.length + 1;
      if (size >= start.batchBytes) await flush();
    }
  } catch (err) {
    post({
      type: "error",
      name: err instanceof Error ? err.name : "Error",
      message: err instanceof Error ? err.message : String(err),
    });
  }
};
