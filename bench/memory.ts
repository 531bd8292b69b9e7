/**
 * Memory on a capture ten times larger: builds a classic pcap made of TIMES copies of CAPTURE laid end to end
 * in time (each copy shifted past the previous one's last packet by an hour, so that the flows open at once
 * are those of one copy, as in a long real capture), then runs `run_one.ts` on the capture and on the long
 * one, with every streaming group, in one process and in two workers, and prints peak RSS and throughput of
 * each. Peak memory should stay that of the original: flows leave the table as they end.
 *
 * Usage: deno run -A bench/memory.ts [--times N] [--groups G] CAPTURE
 *
 * @module
 */
import { readCapture, readCaptureChunks } from "../lib/capture_file.ts";
import { writeAll } from "../lib/cli/common.ts";
const args = [...Deno.args];
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const times = Number(opt("--times", "10"));
const groups = opt("--groups", "all");
const capture = args[0];
if (!capture || !(times >= 2)) {
  console.error("usage: deno run -A bench/memory.ts [--times N] [--groups G] CAPTURE (a classic pcap)");
  Deno.exit(2);
}
const here = new URL(".", import.meta.url).pathname;

const long = `${here}out/${capture.replace(/.*\//, "").replace(/\.pcap$/, "")}-x${times}.pcap`;
try {
  await Deno.stat(long);
} catch {
  // First pass: the time span, so that each copy starts an hour after the previous one ends.
  let first = Infinity, last = -Infinity;
  const f = await Deno.open(capture);
  const r = await readCapture(f, (ts) => {
    if (ts < first) first = ts;
    if (ts > last) last = ts;
  });
  f.close();
  if (r.format !== "pcap" && r.format !== "pcap-ns") throw new Error(`${capture}: not a classic pcap`);
  const shift = Math.ceil(last - first) + 3600;
  const head = new Uint8Array(24);
  const h = await Deno.open(capture);
  await h.read(head);
  h.close();
  const magic = new DataView(head.buffer).getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  console.error(`memory: writing ${long} (${times} copies, each ${shift} s after the previous)`);
  await Deno.mkdir(`${here}out`, { recursive: true });
  const out = await Deno.open(`${long}.part`, { write: true, create: true, truncate: true });
  await writeAll(out, head);
  let buf = new Uint8Array(8 << 20), n = 0;
  for (let k = 0; k < times; k++) {
    const file = await Deno.open(capture);
    // Each record (its 16-byte header precedes the packet in the reader's buffer) with its seconds shifted.
    const it = readCaptureChunks(file, (_ts, b, off, cap) => {
      if (n + 16 + cap > buf.length) {
        const bigger = new Uint8Array(Math.max(2 * buf.length, n + 16 + cap));
        bigger.set(buf.subarray(0, n));
        buf = bigger;
      }
      buf.set(b.subarray(off - 16, off + cap), n);
      const dv = new DataView(buf.buffer, n, 4);
      dv.setUint32(0, dv.getUint32(0, le) + k * shift, le);
      n += 16 + cap;
    });
    for (let step = await it.next();; step = await it.next()) {
      await writeAll(out, buf.subarray(0, n));
      n = 0;
      if (step.done) break;
    }
    file.close();
  }
  out.close();
  await Deno.rename(`${long}.part`, long);
}

for (const workers of [1, 2]) {
  for (const file of [capture, long]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${here}run_one.ts`, "builtin", groups, file, String(workers)],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`run_one.ts failed on ${file}`);
    console.log(JSON.stringify({ file, ...JSON.parse(new TextDecoder().decode(out.stdout)) }));
  }
}
