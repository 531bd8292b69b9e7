/**
 * One benchmark run in a fresh process: extracts a capture with the given reader and groups (in WORKERS workers
 * when given, as `extract --workers`, whose lines are merged into one thread's order), writes JSON Lines to
 * /dev/null as the CLI does, and prints one JSON line of figures (peak RSS from /proc/self/status, which covers
 * the workers: they are threads of this process).
 *
 * Usage: deno run -A bench/run_one.ts READER GROUPS FILE [WORKERS]
 *
 * @module
 */
import { extractFlows } from "../lib/extract.ts";
import { JsonlWriter } from "../outputs/jsonl.ts";
import { extractJsonlParallel } from "../lib/parallel.ts";
import type { ExtractSummary } from "../lib/extract.ts";
import { writeAll } from "../lib/cli/common.ts";

const [reader, groups, file, workersArg] = Deno.args;
const workers = Number(workersArg ?? 1);
if (
  (reader !== "builtin" && reader !== "libpcap") || groups === undefined || file === undefined ||
  !Number.isInteger(workers) || workers < 1
) {
  console.error("usage: deno run -A bench/run_one.ts builtin|libpcap GROUPS CAPTURE [WORKERS]");
  Deno.exit(2);
}
const sink = await Deno.open("/dev/null", { write: true });
const options = { reader: reader as "builtin" | "libpcap", features: groups.split(",") };
const t0 = performance.now();
let s: ExtractSummary;
if (workers > 1) {
  const it = extractJsonlParallel([file], options, { workers });
  let r = await it.next();
  while (!r.done) {
    await writeAll(sink, r.value);
    r = await it.next();
  }
  s = r.value;
  sink.close();
} else {
  const writer = new JsonlWriter(sink.writable, true);
  // As the CLI does for JSON Lines: each record is written before the next is asked for.
  const it = extractFlows(file, { ...options, reuseRecords: true });
  let r = await it.next();
  while (!r.done) {
    await writer.write(r.value);
    r = await it.next();
  }
  await writer.close();
  s = r.value;
}
const seconds = (performance.now() - t0) / 1000;
const status = await Deno.readTextFile("/proc/self/status");
const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
console.log(JSON.stringify({
  reader: s.reader,
  groups,
  workers,
  packets: s.packetsRead,
  flows: s.flows,
  seconds: Number(seconds.toFixed(3)),
  packets_per_s: Math.round(s.packetsRead / seconds),
  mb_per_s: Number((s.bytesRead / 1e6 / seconds).toFixed(1)),
  peak_rss_mb: Number(hwm.toFixed(1)),
}));
