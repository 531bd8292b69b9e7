/**
 * Several inputs, one of which cannot be read at all: the others are still read and written, a warning names
 * the bad one, and the run ends with exit code 1. One input that cannot be read is a one-line error.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseJsonl, ROOT, runCli } from "./helpers.ts";

Deno.test("a directory holding a file that is not a capture: the other captures are read, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Sorted first, so that it would stop the run before the good capture is read.
    await Deno.writeTextFile(`${dir}/a.pcap`, "these bytes are not a capture\n");
    await Deno.copyFile(`${ROOT}/testdata/http.pcap`, `${dir}/b.pcap`);
    const alone = await runCli(["extract", `${ROOT}/testdata/http.pcap`]);
    assert.equal(alone.code, 0, alone.stderr);
    const r = await runCli(["extract", dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(parseJsonl(r.stdout), parseJsonl(alone.stdout));
    assert.match(r.stderr, /a\.pcap: not a pcap or pcapng capture/);
    assert.match(r.stderr, /flows written/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    const only = await runCli(["extract", `${dir}/a.pcap`]);
    assert.equal(only.code, 1);
    assert.equal(only.stderr.trim().split("\n").length, 1, only.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
