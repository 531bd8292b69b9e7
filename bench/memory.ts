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

/** Calls `onRecord(offsetOfHeader)` for each record of a classic pcap held in `buf` from `start`. */
function walk(
  buf: Uint8Array,
  start: number,
  end: number,
  le: boolean,
  onRecord: (off: number) => void,
): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = start;
  while (off + 16 <= end) {
    const incl = dv.getUint32(off + 8, le);
    if (off + 16 + incl > end) break;
    onRecord(off);
    off += 16 + incl;
  }
  return off;
}

/** Streams the records of `path` through `each(chunk)` (whole records only), after its 24-byte header. */
async function records(path: string, each: (chunk: Uint8Array, dv: DataView) => Promise<void> | void) {
  const file = await Deno.open(path);
  const head = new Uint8Array(24);
  if ((await file.read(head)) !== 24) throw new Error(`${path}: too short`);
  let buf = new Uint8Array(8 << 20);
  let have = 0;
  for (;;) {
    const got = await file.read(buf.subarray(have));
    if (got === null) break;
    have += got;
    const magic = new DataView(head.buffer).getUint32(0, true);
    const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
    const used = walk(buf, 0, have, le, () => {});
    if (used === 0 && have === buf.length) {
      const bigger = new Uint8Array(buf.length * 2);
      bigger.set(buf);
      buf = bigger;
      continue;
    }
    await each(buf.subarray(0, used), new DataView(buf.buffer, 0, used));
    buf.copyWithin(0, used, have);
    have -= used;
  }
  file.close();
  return head;
}

const long = `${here}out/${capture.replace(/.*\//, "").replace(/\.pcap$/, "")}-x${times}.pcap`;
try {
  await Deno.stat(long);
} catch {
  const head = new Uint8Array(24);
  const f = await Deno.open(capture);
  await f.read(head);
  f.close();
  const magic = new DataView(head.buffer).getUint32(0, true);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d && magic !== 0xd4c3b2a1 && magic !== 0x4d3cb2a1) {
    throw new Error(`${capture}: not a classic pcap`);
  }
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  // First pass: the time span, so that each copy starts an hour after the previous one ends.
  let first = Infinity, last = -Infinity;
  await records(capture, (chunk, dv) => {
    walk(chunk, 0, chunk.length, le, (off) => {
      const s = dv.getUint32(off, le);
      if (s < first) first = s;
      if (s > last) last = s;
    });
  });
  const shift = last - first + 3600;
  console.error(`memory: writing ${long} (${times} copies, each ${shift} s after the previous)`);
  await Deno.mkdir(`${here}out`, { recursive: true });
  const out = await Deno.open(`${long}.part`, { write: true, create: true, truncate: true });
  await out.write(head);
  for (let k = 0; k < times; k++) {
    await records(capture, async (chunk, dv) => {
      walk(chunk, 0, chunk.length, le, (off) => dv.setUint32(off, dv.getUint32(off, le) + k * shift, le));
      let done = 0;
      while (done < chunk.length) done += await out.write(chunk.subarray(done));
    });
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
