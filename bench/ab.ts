/**
 * Two versions of the core compared in one process: imports the code of two checkouts (A and B), and alternates
 * runs of the four foundation groups over a capture held in memory (A then B, then B then A, ...), printing the
 * CPU time of each: the minimum and median, and each pair's ratio B / A. This machine class's timings swing by
 * 20% and more between runs of one command; alternating in one process makes both versions meet the same
 * moments, which separate runs of each do not.
 *
 * Usage: deno run -A --config DIR_B/deno.json bench/ab.ts DIR_A DIR_B CAPTURE [ROUNDS]
 *
 * @module
 */
import process from "node:process";

/** One run of a version's core over the capture: its CPU milliseconds. */
type Run = () => Promise<number>;

const [dirA, dirB, file, roundsArg] = Deno.args;
const rounds = Number(roundsArg ?? 8);
if (dirA === undefined || dirB === undefined || file === undefined || !(rounds >= 1)) {
  console.error("usage: deno run -A --config DIR_B/deno.json bench/ab.ts DIR_A DIR_B CAPTURE [ROUNDS]");
  Deno.exit(2);
}
const data = await Deno.readFile(file);

/** The core of the checkout at `dir`, as a run. */
async function core(dir: string): Promise<Run> {
  const root = new URL(`file://${await Deno.realPath(dir)}/`);
  const capture = await import(new URL("lib/capture_file.ts", root).href);
  const memory = await import(new URL("bench/memory_source.ts", root).href);
  const pipeline = await import(new URL("lib/pipeline.ts", root).href);
  const groups = await import(new URL("extractors/mod.ts", root).href);
  return async () => {
    const four = [
      groups.flowMetaExtractor,
      groups.timingExtractor,
      groups.sizeExtractor,
      groups.tcpExtractor,
    ];
    const p = new pipeline.FlowPipeline(four, {}, () => {});
    const before = process.cpuUsage();
    await capture.readCapture(memory.memorySource(data), p.packet);
    p.flush();
    const spent = process.cpuUsage(before);
    return (spent.user + spent.system) / 1000;
  };
}

const a = await core(dirA), b = await core(dirB);
const ta: number[] = [], tb: number[] = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    ta.push(await a());
    tb.push(await b());
  } else {
    tb.push(await b());
    ta.push(await a());
  }
}
const summary = (x: number[]): string => {
  const y = [...x].sort((p, q) => p - q);
  return `min ${y[0].toFixed(0)} ms, median ${y[y.length >> 1].toFixed(0)} ms`;
};
const ratios = ta.map((x, i) => tb[i] / x);
const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
console.log(`A ${summary(ta)}`);
console.log(`B ${summary(tb)}`);
console.log(
  `B / A by pair: ${ratios.map((r) => r.toFixed(2)).join(" ")} (geometric mean ${geomean.toFixed(3)})`,
);
