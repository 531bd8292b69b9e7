/**
 * Where the time goes: CPU milliseconds of each stage of the core on a capture held in memory (read, decode,
 * flow table, then each foundation group on top), the minimum and median of seven runs.
 *
 * Usage: deno run -A bench/stages.ts CAPTURE [STAGE]
 *
 * @module
 */
import process from "node:process";
import { readCapture } from "../lib/capture_file.ts";
import { memorySource } from "./memory_source.ts";
import { PacketDecoder } from "../lib/decode.ts";
import { FlowPipeline } from "../lib/pipeline.ts";
import type { PacketCallback } from "../lib/source.ts";
import { flowMetaExtractor, sizeExtractor, tcpExtractor, timingExtractor } from "../extractors/mod.ts";

interface Stage {
  packet: PacketCallback;
  flush(): void;
}

if (Deno.args[0] === undefined) {
  console.error("usage: deno run -A bench/stages.ts CAPTURE [STAGE]");
  Deno.exit(2);
}
const data = await Deno.readFile(Deno.args[0]);
const source = () => memorySource(data);
const pipeline = (...groups: Parameters<typeof makePipeline>[0]) => makePipeline(groups);
function makePipeline(groups: ConstructorParameters<typeof FlowPipeline>[0]): Stage {
  return new FlowPipeline(groups, {}, () => {});
}
const stages: [string, () => Stage][] = [
  ["read", () => ({ packet: () => {}, flush() {} })],
  ["decode", () => {
    const d = new PacketDecoder();
    return { packet: (a, b, c, e, f, g) => void d.decode(a, b, c, e, f, g), flush() {} };
  }],
  ["table", () => pipeline()],
  ["meta", () => pipeline(flowMetaExtractor)],
  ["meta+tcp", () => pipeline(flowMetaExtractor, tcpExtractor)],
  ["meta+timing", () => pipeline(flowMetaExtractor, timingExtractor)],
  ["meta+size", () => pipeline(flowMetaExtractor, sizeExtractor)],
  ["four", () => pipeline(flowMetaExtractor, timingExtractor, sizeExtractor, tcpExtractor)],
];
const chosen = stages.filter(([n]) => !Deno.args[1] || n === Deno.args[1]);
if (chosen.length === 0) {
  console.error(`unknown stage ${Deno.args[1]}: one of ${stages.map(([n]) => n).join(", ")}`);
  Deno.exit(2);
}
for (const [name, make] of chosen) {
  const ms: number[] = [];
  for (let i = 0; i < Number(Deno.env.get("RUNS") ?? 7); i++) {
    const p = make();
    const c = process.cpuUsage();
    await readCapture(source(), p.packet);
    p.flush();
    const d = process.cpuUsage(c);
    ms.push((d.user + d.system) / 1000);
  }
  ms.sort((a, b) => a - b);
  console.log(`${name.padEnd(12)} min ${ms[0].toFixed(0)} ms, median ${ms[ms.length >> 1].toFixed(0)} ms`);
}
