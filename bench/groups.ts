/**
 * CPU cost of feature-group sets, without output: the capture is read into memory once, then each set runs seven
 * times through the pipeline; prints the minimum and median CPU milliseconds (user + system). CPU time rather than
 * wall time, so that other load on the machine disturbs the figures less.
 *
 * Usage: deno run -A bench/groups.ts CAPTURE flow_meta flow_meta,timing,size,tcp all ...
 *
 * @module
 */
import process from "node:process";
import { readCapture } from "../lib/capture_file.ts";
import { memorySource } from "./memory_source.ts";
import { FlowPipeline } from "../lib/pipeline.ts";
import { selectExtractors } from "../lib/registry.ts";

const [path, ...sets] = Deno.args;
if (path === undefined || sets.length === 0) {
  console.error(
    "usage: deno run -A bench/groups.ts CAPTURE GROUPS [GROUPS ...] (GROUPS: a comma-separated set)",
  );
  Deno.exit(2);
}
const data = await Deno.readFile(path);
const source = () => memorySource(data);
for (const set of sets) {
  const ms: number[] = [];
  let packets = 0;
  for (let i = 0; i < 7; i++) {
    const p = new FlowPipeline(selectExtractors(set.split(",")), {}, () => {});
    const c = process.cpuUsage();
    const r = await readCapture(source(), p.packet);
    p.flush();
    const d = process.cpuUsage(c);
    packets = r.packets;
    ms.push((d.user + d.system) / 1000);
    if (Deno.env.get("BENCH_VERBOSE")) console.error(`run ${i}: ${ms[ms.length - 1].toFixed(0)} ms`);
  }
  ms.sort((a, b) => a - b);
  console.log(
    `${set}: cpu ms min ${ms[0].toFixed(0)} median ${ms[3].toFixed(0)}; ${
      (packets / ms[0] / 1000).toFixed(2)
    }M packets/s at the minimum`,
  );
}
