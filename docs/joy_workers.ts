/**
 * Several Joy contexts in Workers: the main thread reads a capture, divides its packets between N contexts by
 * a symmetric hash of the addresses (`packetToContext`), and each Worker runs one context and sends its flow
 * lines back. The flows are the same as with one context (flows are printed at the end here; with periodic
 * expiry each context's clock only advances with its own packets, as in Joy).
 *
 *     deno run -A docs/joy_workers.ts capture.pcap 4
 *
 * @module
 */
import { packetTimeval, readCapture } from "../lib/capture_file.ts";
import { packetToContext } from "../lib/joy/hash.ts";
import { JoyContext } from "../lib/joy/context.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";

/** What the main thread sends a Worker: batches of frames with their µs timestamps, then "end". */
type ToWorker = { frames: { sec: number; usec: number; data: Uint8Array }[] } | { end: true };

function workerMain(): void {
  const ctx = new JoyContext(defaultJoyConfig());
  const scope = self as unknown as {
    onmessage: (e: MessageEvent<ToWorker>) => void;
    postMessage(m: unknown): void;
    close(): void;
  };
  scope.onmessage = (e) => {
    const m = e.data;
    if ("end" in m) {
      const lines: string[] = [];
      ctx.printFlows(false, (l) => lines.push(l));
      scope.postMessage(lines);
      scope.close();
      return;
    }
    for (const f of m.frames) ctx.processPacket(f.sec, f.usec, f.data.length, f.data, 0);
  };
}

/** True inside a Worker (this module is also the Workers' body). */
const IN_WORKER = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";
if (IN_WORKER) workerMain();

/**
 * Runs `path` through `n` Worker contexts and returns every flow line.
 *
 * @example
 * ```ts
 * import { joyInWorkers } from "./joy_workers.ts";
 * const lines = await joyInWorkers("capture.pcap", 2);
 * console.log(lines.length);
 * ```
 */
export async function joyInWorkers(path: string, n: number): Promise<string[]> {
  const workers = Array.from({ length: n }, () => new Worker(import.meta.url, { type: "module" }));
  const batches: ToWorker[] = Array.from({ length: n }, () => ({ frames: [] }));
  const send = (i: number) => {
    const b = batches[i] as { frames: unknown[] };
    if (b.frames.length) workers[i].postMessage(batches[i]);
    batches[i] = { frames: [] };
  };
  const file = await Deno.open(path);
  try {
    await readCapture(file, (_ts, buf, off, capLen) => {
      // The stamp as libpcap gives it (finer ones cut to microseconds), exact where the float is not.
      const sec = packetTimeval[0], usec = packetTimeval[1];
      const i = packetToContext(buf, off, capLen, n);
      const b = batches[i] as { frames: { sec: number; usec: number; data: Uint8Array }[] };
      b.frames.push({ sec, usec, data: buf.slice(off, off + capLen) });
      if (b.frames.length >= 256) send(i);
    });
  } finally {
    try {
      file.close();
    } catch { /* closed by the reader */ }
  }
  const results = workers.map((w) =>
    new Promise<string[]>((resolve, reject) => {
      w.onmessage = (e: MessageEvent<string[]>) => resolve(e.data);
      w.onerror = (e) => reject(e);
    })
  );
  for (let i = 0; i < n; i++) {
    send(i);
    workers[i].postMessage({ end: true } satisfies ToWorker);
  }
  return (await Promise.all(results)).flat();
}

if (import.meta.main && !IN_WORKER) {
  const [path, n = "4"] = Deno.args;
  if (!path) {
    console.error("usage: deno run -A docs/joy_workers.ts CAPTURE [CONTEXTS]");
    Deno.exit(2);
  }
  const contexts = Number(n);
  if (!Number.isInteger(contexts) || contexts < 1) {
    console.error(`CONTEXTS must be an integer >= 1, got ${JSON.stringify(n)}`);
    Deno.exit(2);
  }
  let lines: string[];
  try {
    lines = await joyInWorkers(path, contexts);
  } catch (e) {
    // A missing file or one that is not a capture: one line, and the workers end with the process.
    console.error(`joy_workers: ${path}: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
  for (const l of lines) console.log(l);
}
