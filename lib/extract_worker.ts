/**
 * A worker of {@linkcode extractJsonlParallel}: extracts one shard of the flows of the inputs and posts them as
 * JSON Lines text in batches, with at most a few batches not yet acknowledged by the main thread (so that a slow
 * writer holds every worker back instead of letting memory grow).
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
  | { type: "lines"; text: string }
  | { type: "warning"; message: string }
  | { type: "done"; summary: unknown; otherShard: number }
  | { type: "error"; name: string; message: string };

// deno-lint-ignore no-explicit-any
const scope = self as any;
/** Batches posted and not yet acknowledged; the worker pauses at WINDOW (a round trip per batch is too slow). */
let inFlight = 0;
const WINDOW = 8;
let resume: (() => void) | null = null;

scope.onmessage = async (e: MessageEvent) => {
  if (e.data === "ack") {
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
      post({ type: "lines", text });
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
