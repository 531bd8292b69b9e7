/**
 * Flow records are laid out for JSON.stringify's fast path (lib/record.ts): plain fast-mode objects whose strings
 * are flat. Flatness is invisible to JavaScript, so the last test asks V8 itself in a subprocess.
 */
import assert from "node:assert/strict";
import type { FlowRecord } from "../lib/extractor.ts";
import { flatString, flattenStrings, recordClass } from "../lib/record.ts";
import { CAPTURES, DENO, HAVE_CAPTURES, ROOT, run, withTempDir } from "./helpers.ts";

Deno.test("recordClass: columns in order, null or copied, plain objects", () => {
  const Empty = recordClass(["b", "a", "c d"]);
  const r = new Empty();
  assert.deepEqual(Object.keys(r), ["b", "a", "c d"]);
  assert.deepEqual(Object.values(r), [null, null, null]);
  assert.equal(Object.getPrototypeOf(r), Object.prototype);
  r.a = 1;
  r["c d"] = "x";
  const Renamed = recordClass(["x", "y"], ["c d", "a"]);
  const o = new Renamed(r);
  assert.equal(JSON.stringify(o), '{"x":"x","y":1}');
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  // A name that would close its string literal stays a name.
  const Odd = recordClass(['"]; throw 1; //']);
  assert.deepEqual(Object.keys(new Odd()), ['"]; throw 1; //']);
});

Deno.test("flatString copies every code unit, whatever the string", () => {
  const long = "x".repeat(9000) + "y";
  const cases = [
    "",
    "short",
    "192.168." + 26 + "." + 134,
    "héllo wörld, ☃ and 𝄞 " + 1,
    "lone \ud800 surrogate and \udfff too",
    "e\u0301 stays decomposed " + 2, // not normalised: NFC would make it é
    long,
  ];
  for (const s of cases) {
    const f = flatString(s);
    assert.equal(f, s);
    assert.equal(f.length, s.length);
  }
});

Deno.test("flattenStrings rewrites only the given columns' strings and list elements", () => {
  const flatten = flattenStrings(["s", "n", "short"], ["l"]);
  const list = ["10.0.0." + 1 + "/" + 24 + ".and.more", 5, null, "ab"];
  const r: FlowRecord = {
    s: "a".repeat(5) + "b".repeat(10),
    n: null,
    short: "abc",
    l: list,
    other: "x".repeat(3) + "y".repeat(20),
  };
  const before = JSON.stringify(r);
  flatten(r);
  assert.equal(JSON.stringify(r), before);
  assert.equal(r.l, list); // in place
});

Deno.test({
  name:
    "records of every group reach JSON.stringify as fast-mode plain objects with flat strings (asked of V8)",
  fn: () =>
    withTempDir(async (dir) => {
      const inputs = HAVE_CAPTURES ? CAPTURES : `${ROOT}/testdata`;
      const script = `${dir}/probe.js`;
      // %DebugPrint shows a rope as c"..." (V8's short print of a ConsString).
      await Deno.writeTextFile(
        script,
        `import { extractFlows } from ${JSON.stringify(`${ROOT}/mod.ts`)};
let records = 0, strings = 0, slow = 0, proto = 0;
const probe = (v) => { if (typeof v === "string" && v.length >= 13) { strings++; %DebugPrint(v); } };
for (const features of [["all"], ["flow_meta", "tls"]]) {
  const opts = features.length === 1 ? { features } : { features, specificFeatures: ["src_ip", "dst_ip", "tls_sni"] };
  for await (const r of extractFlows(${JSON.stringify(inputs)}, opts)) {
    records++;
    if (!%HasFastProperties(r)) slow++;
    if (Object.getPrototypeOf(r) !== Object.prototype) proto++;
    for (const v of Object.values(r)) { probe(v); if (Array.isArray(v)) v.forEach(probe); }
  }
}
console.log(JSON.stringify({ records, strings, slow, proto }));
`,
      );
      const r = await run(DENO, [
        "run",
        "-A",
        "--config",
        `${ROOT}/deno.json`,
        "--v8-flags=--allow-natives-syntax",
        script,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split("\n");
      const summary = JSON.parse(lines.at(-1)!);
      assert.ok(summary.records > 10 && summary.strings > 10, r.stdout.slice(-500));
      assert.equal(summary.slow, 0, "records in dictionary mode");
      assert.equal(summary.proto, 0, "records with another prototype");
      const printed = lines.filter((l) => /<String\[\d+\]: /.test(l));
      assert.equal(printed.length, summary.strings, "V8's debug print format changed");
      const ropes = printed.filter((l) => /<String\[\d+\]: c"/.test(l));
      assert.deepEqual(ropes.slice(0, 5), []);
    }),
});
