/**
 * User extractors: the example plugin in docs/ loaded from the library (`loadExtractorModule`,
 * `registerExtractor`, `extractors` option) and from the CLI (`--extractor FILE`), and clear errors for modules
 * that are not extractors.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FeatureExtractor } from "../lib/extractor.ts";
import { checkExtractor, loadExtractorModule } from "../lib/options.ts";
import { allExtractors, registerExtractor } from "../lib/registry.ts";
import { extractor as example } from "../docs/example_extractor.ts";
import { cap, collect, HAVE_SHARED, parseJsonl, ROOT, runCli, writeCountFlowsPlugin } from "./helpers.ts";

const EXAMPLE = `${ROOT}/docs/example_extractor.ts`;

Deno.test("the example extractor follows the contract and loads from its module", async () => {
  checkExtractor(example, "docs/example_extractor.ts");
  const loaded = await loadExtractorModule("docs/example_extractor.ts");
  assert.equal(loaded.length, 1);
  assert.equal(loaded[0], example, "the same object as a static import");
  assert.deepEqual(loaded[0].features.map((f) => f.name), [
    "first_bytes_fwd",
    "first_bytes_bwd",
    "first_payload_len",
    "first_payload_proto",
  ]);
});

Deno.test("library: the extractors option runs a plugin after the selected groups", async () => {
  const { records } = await collect("testdata/http.pcap", { features: ["flow_meta"], extractors: [example] });
  const web = records.find((r) => r.dst_port === 8080 && r.protocol === 6)!;
  assert.equal(web.first_payload_proto, "http");
  assert.equal(web.first_bytes_fwd, "474554202f204854", "G E T space / space H T");
  assert.equal(typeof web.first_payload_len, "number");
  const keys = Object.keys(web);
  assert.equal(keys.at(-1), "first_payload_proto", "plugin columns come last");
});

Deno.test({
  name: "library: registerExtractor makes a plugin part of every later extraction and of --features",
  ignore: !HAVE_SHARED,
  async fn() {
    const counter = {
      name: "pkt_counter",
      features: [{ name: "pkt_counter_n", type: "int" as const, description: "Packets seen by the plugin." }],
      init: () => ({ n: 0 }),
      update: (s: { n: number }) => void s.n++,
      finish: (s: { n: number }, _f: unknown, out: Record<string, unknown>) => void (out.pkt_counter_n = s.n),
    };
    registerExtractor(counter);
    assert.ok(allExtractors().some((e) => e.name === "pkt_counter"));
    const { records } = await collect(cap("ssh.pcap"), { features: ["pkt_counter"] });
    for (const r of records) assert.equal(r.pkt_counter_n, r.total_packets);
    assert.throws(() => registerExtractor(counter), /already registered/);
  },
});

Deno.test({
  name:
    "CLI: --extractor docs/example_extractor.ts adds its columns, with or without its group in --features",
  ignore: !HAVE_SHARED,
  async fn() {
    const r = await runCli([
      "extract",
      "-q",
      "--extractor",
      "docs/example_extractor.ts",
      "--features",
      "flow_meta,first_bytes",
      cap("ssh.pcap"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const recs = parseJsonl(r.stdout);
    assert.ok(recs.length > 0);
    const ssh = recs.find((x) => x.first_payload_proto === "ssh");
    assert.ok(ssh, "an SSH banner opens the connection");
    assert.equal((ssh.first_bytes_fwd as string).slice(0, 8), "5353482d", "S S H -");
    const plain = await runCli([
      "extract",
      "-q",
      "--extractor",
      "docs/example_extractor.ts",
      "--features",
      "timing",
      cap("ssh.pcap"),
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(parseJsonl(plain.stdout).every((x) => "first_payload_proto" in x && "iat_mean" in x));
    // Absolute paths work as well.
    const abs = await runCli([
      "extract",
      "-q",
      "--extractor",
      EXAMPLE,
      "--specific-features",
      "first_payload_proto",
      cap("ssh.pcap"),
    ]);
    assert.equal(abs.code, 0, abs.stderr);
    assert.deepEqual(Object.keys(parseJsonl(abs.stdout)[0]), ["first_payload_proto"]);
  },
});

Deno.test("CLI: modules that are not extractors are usage errors (exit 2) naming the file and the problem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jj-plugin-" });
  try {
    const cases: [string, string, RegExp][] = [
      ["none.ts", "export const answer = 42;\n", /none\.ts exports no feature extractor/],
      [
        "badtype.ts",
        `export const e = { name: "bad", features: [{ name: "bad_x", type: "number", description: "" }],
  init: () => null, update: () => {}, finish: () => {} };\n`,
        /feature bad_x: type must be one of int, float, str, bool, list, dict/,
      ],
      [
        "dup.ts",
        `export const e = { name: "dup", features: [{ name: "src_ip", type: "str", description: "" }],
  init: () => null, update: () => {}, finish: () => {} };\n`,
        /feature src_ip of dup is already declared/,
      ],
      ["syntax.ts", "export const = ;\n", /cannot load extractor module/],
    ];
    for (const [name, text, re] of cases) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const r = await runCli(["extract", "-q", "--extractor", `${dir}/${name}`, "testdata/http.pcap"]);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.match(r.stderr, /^jj: error: --extractor /);
      assert.match(r.stderr, re, name);
    }
    const missing = await runCli(["extract", "-q", "--extractor", `${dir}/nope.ts`, "testdata/http.pcap"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /nope\.ts/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: a plugin with finalize runs by default and with all (it was dropped); --workers refuses it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plugin = await writeCountFlowsPlugin(dir);
    for (const extra of [[], ["--features", "all"], ["--features", "timing"]]) {
      const r = await runCli(["extract", "-q", ...extra, "--extractor", plugin, "testdata/http.pcap"]);
      assert.equal(r.code, 0, r.stderr);
      const recs = parseJsonl(r.stdout);
      assert.equal(recs.length, 3);
      assert.deepEqual(recs.map((x) => x.run_flows), [3, 3, 3], extra.join(" "));
    }
    const w = await runCli(["extract", "-q", "--workers", "2", "--extractor", plugin, "testdata/http.pcap"]);
    assert.equal(w.code, 2, w.stderr);
    assert.match(w.stderr, /--workers cannot be used with the count_flows group, which needs every flow/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("registerExtractor checks what it is given (a bad one broke every later extraction)", () => {
  assert.throws(
    () => registerExtractor({ name: "bad name!", features: [] } as unknown as FeatureExtractor<unknown>),
    /registerExtractor: not a feature extractor/,
  );
});
