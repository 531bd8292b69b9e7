/**
 * `extract --workers N`: flows sharded over Workers by flow hash must give exactly the records and the packet
 * accounting of one process, on real captures (the corpus when present, else the captures in testdata/).
 *
 * @module
 */
import assert from "node:assert/strict";
import { CAPTURES, HAVE_CAPTURES, parseJsonl, ROOT, runCli } from "./helpers.ts";

/** Captures to run: a directory of the corpus (every kind of link type and tunnel), or testdata's. */
const INPUTS = HAVE_CAPTURES ? [CAPTURES] : [`${ROOT}/testdata/http.pcap`, `${ROOT}/testdata/sll2.pcap`];

/** Records as sorted JSON texts: the workers write flows in a different order, never different flows. */
function sortedLines(stdout: string): string[] {
  return parseJsonl(stdout).map((r) => JSON.stringify(r)).sort();
}

/** The summary line without its timing (elapsed, rate, reader). */
function accounting(stderr: string): string {
  const line = stderr.split("\n").find((l) => l.startsWith("jj: ") && l.includes("packets read")) ?? "";
  return line.replace(/ in [0-9.]+ s \(.*$/, "");
}

for (const features of ["flow_meta,timing,size,tcp", "all"]) {
  Deno.test(`--workers 2 and 3 give the records and accounting of one process (${features})`, async () => {
    const one = await runCli(["extract", "--features", features, ...INPUTS]);
    assert.equal(one.code, 0, one.stderr);
    const want = sortedLines(one.stdout);
    assert.ok(want.length > 0);
    for (const n of ["2", "3"]) {
      const par = await runCli(["extract", "--workers", n, "--features", features, ...INPUTS]);
      assert.equal(par.code, 0, par.stderr);
      assert.equal(accounting(par.stderr), accounting(one.stderr), `summary with --workers ${n}`);
      const got = sortedLines(par.stdout);
      assert.equal(got.length, want.length, `flows with --workers ${n}`);
      assert.deepEqual(got, want);
    }
  });
}

Deno.test("--workers refuses what needs every flow in one place or one stream, with exit 2", async () => {
  for (
    const args of [
      ["--workers", "2", "--features", "all,connection"],
      ["--workers", "2", "-o", "x.csv"],
      ["--workers", "2", "--label", "lab:10.0.0.0/8"],
    ]
  ) {
    const r = await runCli(["extract", ...args, `${ROOT}/testdata/http.pcap`]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /--workers cannot be used with/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});
