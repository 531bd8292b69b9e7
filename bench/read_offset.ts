/**
 * What the destination offset of a file read costs: reads a capture in 4 MiB reads into one buffer at each given
 * byte offset from a page-size boundary of the buffer, and prints the seconds of each pass (the reason for
 * `READ_AT` in lib/capture_file.ts: on this machine class, offsets 0, 1 and 8 took 4 to 5 times as long as 16
 * and above). Run it on a capture already in the page cache (read it once first).
 *
 * Usage: deno run -A bench/read_offset.ts CAPTURE [OFFSET...]
 *
 * @module
 */
const [path, ...offsetArgs] = Deno.args;
if (path === undefined) {
  console.error("usage: deno run -A bench/read_offset.ts CAPTURE [OFFSET...]");
  Deno.exit(2);
}
const offsets = offsetArgs.length > 0 ? offsetArgs.map(Number) : [0, 8, 16, 64, 2048];
const CHUNK = 4 << 20;
const buf = new Uint8Array(8192 + CHUNK);
for (const offset of offsets) {
  const file = await Deno.open(path);
  const view = buf.subarray(4096 + offset, 4096 + offset + CHUNK);
  let bytes = 0;
  const t0 = performance.now();
  for (;;) {
    const got = file.readSync(view);
    if (got === null || got === 0) break;
    bytes += got;
  }
  file.close();
  const s = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({ offset, bytes, seconds: Number(s.toFixed(3)), mb_per_s: Math.round(bytes / 1e6 / s) }),
  );
}
