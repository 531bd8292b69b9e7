/**
 * One benchmark run in a fresh process: extracts a capture with the given reader and groups, writes JSON Lines
 * to /dev/null as the CLI does, and prints one JSON line of figures (peak RSS from /proc/self/status).
 *
 * Usage: deno run -A bench/run_one.ts READER GROUPS FILE
 *
 * @module
 */
import { extractFlows } from "../lib/extract.ts";
import { JsonlWriter } from "../outputs/jsonl.ts";

const [reader, groups, file] = Deno.args;
const sink = await Deno.open("/dev/null", { write: true });
const writer = new JsonlWriter(sink.writable, true);
const t0 = performance.now();
const it = extractFlows(file, { reader: reader as "builtin" | "libpcap", features: groups.split(",") });
let r = await it.next();
while (!r.done) {
  await writer.write(r.value);
  r = await it.next();
}
await writer.close();
const seconds = (performance.now() - t0) / 1000;
const status = await Deno.readTextFile("/proc/self/status");
const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
const s = r.value;
console.log(JSON.stringify({
  reader: s.reader,
  groups,
  packets: s.packetsRead,
  flows: s.flows,
  seconds: Number(seconds.toFixed(3)),
  packets_per_s: Math.round(s.packetsRead / seconds),
  mb_per_s: Number((s.bytesRead / 1e6 / seconds).toFixed(1)),
  peak_rss_mb: Number(hwm.toFixed(1)),
}));
