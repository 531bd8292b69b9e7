import process from "node:process";
import { readCapture } from "../lib/capture_file.ts";
import { PacketDecoder } from "../lib/decode.ts";
import { FlowPipeline } from "../lib/pipeline.ts";
import { selectExtractors } from "../lib/registry.ts";
import { flowMetaExtractor, sizeExtractor, tcpExtractor, timingExtractor } from "../extractors/mod.ts";
const data = await Deno.readFile(Deno.args[0]);
const source = () => {
  let o = 0;
  return {
    read(p: Uint8Array) {
      if (o >= data.length) return Promise.resolve(null);
      const n = Math.min(p.length, data.length - o);
      p.set(data.subarray(o, o + n));
      o += n;
      return Promise.resolve(n);
    },
  };
};
const only = Deno.args[1];
const stages0: [string, () => any][] = [
  ["read", () => ({ packet: () => {}, flush() {} })],
  ["decode", () => {
    const d = new PacketDecoder();
    return {
      packet: (a: number, b: Uint8Array, c: number, e: number, f: number, g: number) => {
        d.decode(a, b, c, e, f, g);
      },
      flush() {},
    };
  }],
  ["table", () => new FlowPipeline([], {}, () => {})],
  ["meta", () => new FlowPipeline([flowMetaExtractor], {}, () => {})],
  ["meta+tcp", () => new FlowPipeline([flowMetaExtractor, tcpExtractor], {}, () => {})],
  ["meta+timing", () => new FlowPipeline([flowMetaExtractor, timingExtractor], {}, () => {})],
  ["meta+size", () => new FlowPipeline([flowMetaExtractor, sizeExtractor], {}, () => {})],
  [
    "four",
    () => new FlowPipeline([flowMetaExtractor, timingExtractor, sizeExtractor, tcpExtractor], {}, () => {}),
  ],
];
const stages = only ? stages0.filter(([n]) => n === only) : stages0;
for (const [name, mk] of stages) {
  const ms: number[] = [];
  for (let i = 0; i < 7; i++) {
    const p = mk();
    const c = process.cpuUsage();
    await readCapture(source(), p.packet);
    p.flush();
    const d = process.cpuUsage(c);
    ms.push((d.user + d.system) / 1000);
  }
  ms.sort((a, b) => a - b);
  console.log(name.padEnd(12), "min", ms[0].toFixed(0), "med", ms[3].toFixed(0));
}
