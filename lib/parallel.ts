/**
 * Extraction on several cores: each worker reads the inputs, decodes every packet, but keeps only the flows of
 * its shard (by flow hash) and turns them into JSON Lines itself, so that flow tables, feature groups and
 * serialization all run in parallel. The main thread only writes the bytes (each batch's buffer moves between
 * the threads without a copy).
 *
 * Flows come out in time order of expiry within each worker; batches of different workers interleave.
 * Groups whose values depend on other flows (`connection`) need every flow in one place and cannot be sharded.
 *
 * @module
 */
import type { ExtractOptions, ExtractSummary } from "./extract.ts";
import { InputError } from "./extract.ts";
import type { WorkerAck, WorkerMessage, WorkerStart } from "./extract_worker.ts";

/** Options of a parallel run: the extract options that can cross to a worker (no callbacks, no plugins objects). */
export interface ParallelOptions {
  /** Number of workers (at least 2). */
  workers: number;
  /** Paths of user extractor modules, loaded in each worker. */
  extractorModules?: string[];
  /** Approximate size of a batch of lines (default 256 KiB). */
  batchBytes?: number;
  /** Called for each warning (from the first worker; all see the same input). */
  onWarning?: (message: string) => void;
}

function cloneable(o: ExtractOptions): ExtractOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v !== "function" && k !== "extractors") out[k] = v;
  return out as ExtractOptions;
}

/**
 * Yields JSON Lines as UTF-8 bytes (batches of complete lines) for the flows of `inputs`, computed by `workers`
 * workers; returns the combined summary. A batch is valid until the next call to `next()`: its buffer then goes
 * back to its worker (copy it to keep it).
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
  const n = parallel.workers;
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
      batchBytes: parallel.batchBytes ?? 262144,
    };
    w.postMessage(start);
    workers.push(w);
  }
  const summaries: ExtractSummary[] = new Array(n);
  let done = 0;
  try {
    while (done < n) {
      if (queue.length === 0) {
        await new Promise<void>((r) => wake = r);
        wake = null;
        continue;
      }
      const { worker, msg } = queue.shift()!;
      if (msg.type === "bytes") {
        yield new Uint8Array(msg.buffer, 0, msg.length);
        workers[worker].postMessage({ type: "ack", buffer: msg.buffer } satisfies WorkerAck, [msg.buffer]);
      } else if (msg.type === "warning") {
        parallel.onWarning?.(msg.message);
      } else if (msg.type === "done") {
        summaries[worker] = msg.summary as ExtractSummary;
        done++;
      } else {
        if (msg.name === "InputError") throw new InputError(msg.message);
        throw new Error(msg.message);
      }
    }
  } finally {
    for (const w of workers) w.terminate();
  }
  // Every worker read every packet; packets decoded and flows are split between them.
  const first = summaries[0];
  return {
    ...first,
    packetsDecoded: summaries.reduce((a, s) => a + s.packetsDecoded, 0),
    packetsSampledOut: summaries.reduce((a, s) => a + s.packetsSampledOut, 0),
    flows: summaries.reduce((a, s) => a + s.flows, 0),
    reader: `${first.reader} x${n} workers`,
  };
}
