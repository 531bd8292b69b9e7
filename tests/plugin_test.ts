/**
 * User extractors: the example plugin in docs/ loaded from the library (`loadExtractorModule`,
 * `registerExtractor`, `extractors` option) and from the CLI (`--extractor FILE`), and clear errors for modules
 * that are not extractors.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FeatureExtractor } from "../lib/extractor.ts";
import { checkExtractor, loadExtractorModule, OptionError } from "../lib/options.ts";
import { allExtractors, registerExtractor } from "../lib/registry.ts";
import { extractor as example } from "../docs/example_extractor.ts";
import {
  cap,
  collect,
  DENO,
  ethernet,
  HAVE_SHARED,
  ipv4,
  parseJsonl,
  pcapFile,
  ROOT,
  run,
  runCli,
  udp,
  writeCountFlowsPlugin,
} from "./helpers.ts";

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

Deno.test("a user extractor reads the flow's counts and key (fields of the flow, also as arrays)", async () => {
  // The table keeps them as fields of the flow (the mend33 review: `key` was gone, undefined to a plugin).
  const seen: string[] = [];
  const counts: FeatureExtractor<null> = {
    name: "counts_probe",
    features: [{ name: "counts_probe", type: "str", description: "the flow's counts and key, as read" }],
    init: () => null,
    update() {},
    finish(_s, flow, out) {
      const key = flow.key;
      seen.push(key.length === 10 && key.every((k) => Number.isInteger(k)) ? "key" : "no key");
      out.counts_probe = [flow.packets, flow.bytes, flow.payloadBytes].map((a) => `${a[0]},${a[1]}`).join(
        " ",
      );
    },
  };
  const { records } = await collect("testdata/http.pcap", { features: ["flow_meta"], extractors: [counts] });
  assert.ok(records.length > 0);
  for (const r of records) {
    const want = [
      [r.packets_fwd, r.packets_bwd],
      [r.bytes_fwd, r.bytes_bwd],
      [r.payload_bytes_fwd, r.payload_bytes_bwd],
    ].map((a) => `${a[0]},${a[1]}`).join(" ");
    assert.equal(r.counts_probe, want);
  }
  assert.deepEqual(seen, records.map(() => "key"));
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
    // The same object again is registered once (a module may register its own and be given to --extractor);
    // another of the same name is refused.
    registerExtractor(counter);
    assert.equal(allExtractors().filter((e) => e.name === "pkt_counter").length, 1);
    assert.throws(() => registerExtractor({ ...counter }), /already registered/);
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
      [
        "noupdate.ts",
        `export const e = { name: "nou", features: [{ name: "nou_x", type: "int", description: "" }],
  init: () => null, finish: () => {} };\n`,
        /noupdate\.ts \(export e\): not a feature extractor: update must be a function/,
      ],
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
  // "all" names every group in `features`: a group of that name could not be asked for alone.
  const all = { ...example, name: "all" };
  assert.throws(() => registerExtractor(all), /name "all" stands for every group/);
  assert.throws(() => checkExtractor(all, "x.ts"), /x\.ts: not a feature extractor: name "all"/);
});

Deno.test("a key a user extractor writes without declaring it stays in its own flow's record (records are reused)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Writes `und_secret`, which it does not declare, for the first flow only.
    await Deno.writeTextFile(
      `${dir}/undeclared.ts`,
      `let first = true;
export const extractor = {
  name: "undeclared",
  features: [{ name: "und_n", type: "int", description: "packets" }],
  init: () => ({ n: 0, first: (() => { const f = first; first = false; return f; })() }),
  update: (s) => { s.n++; },
  finish: (s, _flow, out) => { out.und_n = s.n; if (s.first) out.und_secret = "first flow"; },
};
`,
    );
    // 12000 one-packet flows 2 s apart, 6 MB: with a 1 s idle timeout each ends at the next packet, and the
    // records of one read buffer's flows are given back and reused for the next buffer's.
    const payload = new Uint8Array(500);
    const packets = Array.from({ length: 12000 }, (_, i) => ({
      ts: 2 * i,
      data: ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000 + i, 53, payload))),
    }));
    await Deno.writeFile(`${dir}/many.pcap`, pcapFile(1, packets));
    for (const workers of ["1", "2"]) {
      const r = await runCli([
        "extract",
        "-q",
        "--idle-timeout",
        "1",
        "--features",
        "flow_meta",
        "--workers",
        workers,
        "--extractor",
        `${dir}/undeclared.ts`,
        `${dir}/many.pcap`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const records = parseJsonl(r.stdout);
      assert.equal(records.length, 12000);
      assert.equal(
        records.filter((x) => "und_secret" in x).length,
        workers === "1" ? 1 : 2,
        `--workers ${workers}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a RangeError thrown by a user extractor is a runtime error (exit 1), not a usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/throws.ts`,
      `export const extractor = {
  name: "throws_range",
  features: [{ name: "tr_n", type: "int", description: "never written" }],
  init: () => ({}),
  update: () => { new Array(-1); },
  finish: () => {},
};
`,
    );
    const r = await runCli(["extract", "-q", "--extractor", `${dir}/throws.ts`, "testdata/http.pcap"], {
      cwd: ROOT,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^jj: error: .*Invalid array length/m);
    // An option the library refuses (an OptionError, a RangeError too) stays a usage error.
    const u = await runCli(["extract", "-q", "--filter", "tcp port", "testdata/http.pcap"], { cwd: ROOT });
    assert.equal(u.code, 2, u.stderr);
    assert.match(u.stderr, /must be a BPF filter libpcap compiles/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a user extractor may not declare a column an option adds or --bidirectional-split makes (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const column of ["flow_id", "src_labels", "ip_bytes_fwd", "idp_out", "total_burst_count"]) {
      await Deno.writeTextFile(
        `${dir}/p.ts`,
        `export const extractor = {
  name: "mine",
  features: [{ name: "${column}", type: "str", description: "x" }],
  init: () => ({}),
  update: () => {},
  finish: (_s, _f, out) => { out["${column}"] = "PLUGIN"; },
};
`,
      );
      const r = await runCli(["extract", "-q", "--extractor", `${dir}/p.ts`, "testdata/http.pcap"], {
        cwd: ROOT,
      });
      assert.equal(r.code, 2, `${column}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`^jj: error: --extractor .*p\\.ts: feature ${column} of mine is already declared`),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("library: with bidirectionalSplit, specificFeatures names a user extractor's column as the split writes it", async () => {
  const myx = {
    name: "myx",
    features: [{ name: "myx_initiator", type: "int" as const, description: "x" }],
    init: () => ({}),
    update: () => {},
    finish: (_s: unknown, _f: unknown, out: Record<string, unknown>) => void (out.myx_initiator = 42),
  };
  const { records } = await collect("testdata/http.pcap", {
    extractors: [myx],
    bidirectionalSplit: true,
    specificFeatures: ["src_port", "fwd_myx"],
  });
  assert.deepEqual(Object.keys(records[0]), ["src_port", "fwd_myx"]);
  assert.equal(records[0].fwd_myx, 42);
});

Deno.test("--extractor: a module that does not parse, or a capture given as one, is a one-line usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/syntax.ts`, "export const extractor = {\n  name: 'x',\n");
    for (const module of [`${dir}/syntax.ts`, `${ROOT}/testdata/http.pcap`]) {
      const r = await runCli(["extract", "-q", "--extractor", module, "testdata/http.pcap"], { cwd: ROOT });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(
        r.stderr.trim(),
        /^jj: error: --extractor .*: cannot load extractor module .*: SyntaxError: [\x20-\x7e]*$/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A module exporting one extractor `name` with `features` (name:type pairs) and the given bodies. */
function pluginSource(
  name: string,
  features: [string, string][],
  body: { init?: string; update?: string; finish?: string; head?: string } = {},
): string {
  const specs = features.map(([n, t]) => `{ name: "${n}", type: "${t}", description: "x" }`).join(", ");
  return `${body.head ?? ""}
export const extractor = {
  name: "${name}",
  features: [${specs}],
  init: ${body.init ?? "() => ({ n: 0 })"},
  update: ${body.update ?? "(s) => { s.n++; }"},
  finish: ${body.finish ?? "() => {}"},
};
`;
}

Deno.test("user extractors: columns that --bidirectional-split would make one are refused, in either order (exit 2)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // fwd_z of one and z_initiator of the other were both written fwd_z: one value lost, two CSV columns.
    await Deno.writeTextFile(`${dir}/s1.ts`, pluginSource("sp1", [["fwd_z", "int"]]));
    await Deno.writeTextFile(`${dir}/s2.ts`, pluginSource("sp2", [["z_initiator", "str"]]));
    await Deno.writeTextFile(`${dir}/s4.ts`, pluginSource("sp4", [["q_initiator", "int"], ["fwd_q", "int"]]));
    await Deno.writeTextFile(`${dir}/dup.ts`, pluginSource("dup", [["dw_x", "int"], ["dw_x", "float"]]));
    for (const modules of [["s1", "s2"], ["s2", "s1"], ["s4"], ["dup"]]) {
      const r = await runCli([
        "extract",
        "-q",
        "--bidirectional-split",
        ...modules.flatMap((m) => ["--extractor", `${dir}/${m}.ts`]),
        "testdata/http.pcap",
      ], { cwd: ROOT });
      assert.equal(r.code, 2, `${modules}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, /already declared|would both be column fwd_q|declared twice/, r.stderr);
    }
    // The library's extractors option, both in one run.
    const one = (await import(`file://${dir}/s1.ts`)).extractor;
    const two = (await import(`file://${dir}/s2.ts`)).extractor;
    await assert.rejects(collect("testdata/http.pcap", { extractors: [one, two] }), /already declared/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user extractors: async functions are refused when loaded (their columns came out null, exit 0)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/async.ts`,
      pluginSource("as", [["as_n", "int"]], { finish: "async (s, _f, out) => { await 0; out.as_n = s.n; }" }),
    );
    await Deno.writeTextFile(
      `${dir}/async_init.ts`,
      pluginSource("ai", [["ai_n", "int"]], { init: "async () => ({ n: 0 })" }),
    );
    for (const m of ["async", "async_init"]) {
      const r = await runCli(["extract", "-q", "--extractor", `${dir}/${m}.ts`, "testdata/http.pcap"], {
        cwd: ROOT,
      });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /(finish|init) must be a plain synchronous function \(it is an AsyncFunction/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user extractors: an error names the extractor, the call and the flow; the records made before are written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // testdata/http.pcap has three flows; finish throws on the third. The first two were queued in the writer
    // and dropped with it.
    await Deno.writeTextFile(
      `${dir}/late.ts`,
      pluginSource("late", [["late_k", "int"]], {
        head: "let k = 0;",
        finish: "(_s, _f, out) => { if (++k === 3) throw new TypeError('no third'); out.late_k = k; }",
      }),
    );
    const out = `${dir}/out.jsonl`;
    const r = await runCli([
      "extract",
      "-q",
      "--extractor",
      `${dir}/late.ts`,
      "-o",
      out,
      "testdata/http.pcap",
    ], {
      cwd: ROOT,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      "jj: error: extractor late: finish threw TypeError: no third (flow 127.0.0.1:33908 > 127.0.0.1:8080, from packet 25 of testdata/http.pcap)",
    );
    assert.deepEqual(parseJsonl(await Deno.readTextFile(out)).map((x) => x.late_k), [1, 2]);
    // With a filter, the flow's first packet is numbered in its capture as Wireshark numbers it (frame 25, where
    // it said the filter's 1st); of two inputs, the one the flow began in is named.
    await Deno.writeTextFile(
      `${dir}/where.ts`,
      pluginSource("where", [["where_n", "int"]], {
        update: "(s, _p, flow) => { if (flow.srcPort === 33908) throw new Error('here'); s.n++; }",
      }),
    );
    for (
      const args of [
        ["--filter", "tcp port 33908", "testdata/http.pcap"],
        ["testdata/sll2.pcap", "testdata/http.pcap"],
        ["--workers", "2", "testdata/sll2.pcap", "testdata/http.pcap"],
      ]
    ) {
      const again = await runCli(["extract", "-q", "--extractor", `${dir}/where.ts`, ...args], { cwd: ROOT });
      assert.equal(again.code, 1, again.stderr);
      assert.match(
        again.stderr,
        /\(flow 127\.0\.0\.1:33908 > 127\.0\.0\.1:8080, from packet 25 of testdata\/http\.pcap\)$/m,
        args.join(" "),
      );
    }
    // A thrown value that is not an Error is named too (it said "jj: error: undefined").
    await Deno.writeTextFile(
      `${dir}/undef.ts`,
      pluginSource("undef", [["u_n", "int"]], { update: "() => { throw undefined; }" }),
    );
    const u = await runCli(["extract", "-q", "--extractor", `${dir}/undef.ts`, "testdata/http.pcap"], {
      cwd: ROOT,
    });
    assert.equal(u.code, 1, u.stderr);
    assert.match(
      u.stderr,
      /^jj: error: extractor undef: update threw undefined \(flow 127\.0\.0\.1:33902 > /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("user extractors: values are checked against the declared types, so every output format agrees", async () => {
  const mk = (type: "int" | "str" | "list", value: () => unknown) => ({
    name: "typed",
    features: [{ name: "typed_v", type, description: "x" }],
    init: () => ({}),
    update: () => {},
    finish: (_s: unknown, _f: unknown, out: Record<string, unknown>) => void (out.typed_v = value()),
  });
  // Parquet made these null and JSON Lines kept them; a BigInt stopped JSON Lines part way.
  for (
    const [type, value, shown] of [
      ["int", () => "12", 'the string "12"'],
      ["int", () => 1.5, "the number 1.5"],
      ["int", () => 2n ** 64n, "the bigint 18446744073709551616n"],
      ["str", () => new Date(0), "a Date"],
    ] as const
  ) {
    await assert.rejects(
      collect("testdata/http.pcap", { extractors: [mk(type, value)], features: ["flow_meta"] }),
      (e: Error) =>
        e.message.startsWith(`extractor typed: finish wrote ${shown} to typed_v, declared ${type} (flow `),
    );
  }
  // Inside a list too (JSON Lines stopped at it naming no extractor), and a promise from a plain function.
  await assert.rejects(
    collect("testdata/http.pcap", { extractors: [mk("list", () => [1, [2n]])], features: ["flow_meta"] }),
    /^ExtractorError: extractor typed: finish wrote the bigint 2n inside typed_v, which no output can write/,
  );
  // A list or dict that holds itself (JSON Lines stopped; one that branches took hours to walk), but not
  // undefined inside one (JSON writes it), which the first version of the guard refused.
  const cycle: unknown[] = [1];
  cycle.push(cycle);
  await assert.rejects(
    collect("testdata/http.pcap", { extractors: [mk("list", () => cycle)], features: ["flow_meta"] }),
    /^ExtractorError: extractor typed: finish wrote a list or dict that holds itself inside typed_v/,
  );
  const branching: Record<string, unknown> = {};
  for (const k of ["a", "b", "c", "d"]) branching[k] = branching;
  await assert.rejects(
    collect("testdata/http.pcap", { extractors: [mk("list", () => [branching])], features: ["flow_meta"] }),
    /holds itself/,
  );
  const holes = await collect("testdata/http.pcap", {
    extractors: [mk("list", () => [1, undefined, { a: undefined }])],
    features: ["flow_meta"],
  });
  assert.equal(JSON.stringify(holes.records[0].typed_v), "[1,null,{}]");
  const later = { ...mk("int", () => 1), finish: () => Promise.resolve() as unknown as void };
  await assert.rejects(
    collect("testdata/http.pcap", { extractors: [later], features: ["flow_meta"] }),
    /^ExtractorError: extractor typed: finish returned a promise/,
  );
  // undefined (`out.x = list[0]` of an empty list) is null, and the key stays (JSON Lines dropped it).
  const { records } = await collect("testdata/http.pcap", {
    extractors: [mk("int", () => undefined)],
    features: ["flow_meta"],
  });
  assert.ok(records.every((r) => "typed_v" in r && r.typed_v === null));
  // A frozen list, which FeatureValue allows, is written (it threw "Cannot assign to read only property").
  const names = Object.freeze(["interactive-session-one", "interactive-session-two"]);
  const frozen = await collect("testdata/http.pcap", {
    extractors: [mk("list", () => names)],
    features: ["flow_meta"],
  });
  assert.deepEqual(frozen.records[0].typed_v, names);
});

Deno.test("user extractors: finalize's values are checked too; integers past 2^53, lone surrogates and other groups' columns are refused", async () => {
  // A review's plugins: each was kept by JSON Lines and CSV and written otherwise (or not at all) by Parquet.
  const mk = (
    type: "int" | "str" | "list",
    finish: (out: Record<string, unknown>) => void,
    finalize?: (records: Record<string, unknown>[]) => void,
  ) => ({
    name: "typed",
    features: [{ name: "typed_v", type, description: "x" }],
    init: () => ({}),
    update: () => {},
    finish: (_s: unknown, _f: unknown, out: Record<string, unknown>) => finish(out),
    ...(finalize === undefined ? {} : { finalize }),
  });
  const run = (e: ReturnType<typeof mk>) =>
    collect("testdata/http.pcap", { extractors: [e], features: ["flow_meta"] });
  for (
    const [type, value, shown] of [
      ["int", 1e20, "the number 100000000000000000000"],
      ["int", 2 ** 53, "the number 9007199254740992"],
      ["str", "a\ud800b", 'the string "a\\ud800b" (a lone surrogate: not Unicode text)'],
    ] as const
  ) {
    await assert.rejects(
      run(mk(type, (out) => void (out.typed_v = value))),
      (e: Error) =>
        e.message.startsWith(`extractor typed: finish wrote ${shown} to typed_v, declared ${type}`),
    );
  }
  await assert.rejects(
    run(mk("list", (out) => void (out.typed_v = ["ok", "\udc00"]))),
    /finish wrote the string "\\udc00" \(a lone surrogate: not Unicode text\) inside typed_v/,
  );
  // finalize: a value of another type, a bigint, undefined (the key was dropped from JSON Lines).
  const fin = (v: unknown) =>
    mk("int", (out) => void (out.typed_v = 0), (rs) => rs.forEach((r) => r.typed_v = v));
  await assert.rejects(
    run(fin("12")),
    /^ExtractorError: extractor typed: finalize wrote the string "12" to typed_v, declared int \(flow /,
  );
  await assert.rejects(run(fin(5n)), /finalize wrote the bigint 5n to typed_v/);
  const undef = await run(fin(undefined));
  assert.ok(undef.records.every((r) => "typed_v" in r && r.typed_v === null));
  const ok = await run(fin(7));
  assert.ok(ok.records.length > 0 && ok.records.every((r) => r.typed_v === 7));
  // Another group's column changed in finish: refused, naming it (its value was lost).
  await assert.rejects(
    run(mk("int", (out) => void (out.total_packets = "lots"))),
    /^ExtractorError: extractor typed: finish changed total_packets, a column of another group .*\(flow /,
  );
  await assert.rejects(
    run(mk("int", (out) => void delete out.src_ip)),
    /^ExtractorError: extractor typed: finish changed src_ip, a column of another group/,
  );
  // Still allowed (a review of the first version, a view of the record, found each refused or broken): reading
  // other columns, keys of its own it adds, sets again and deletes, symbol keys, and the record's identity
  // from finish to finalize.
  const seen = new WeakMap<object, number>();
  const mark = Symbol("mine");
  const fine = await run(mk("int", (out) => {
    out.typed_v = out.total_packets as number;
    out.typed_note = "few";
    out.typed_note = "many";
    (out as Record<symbol, unknown>)[mark] = 1;
    seen.set(out, out.total_packets as number);
  }, (rs) => {
    for (const r of rs) {
      r.typed_v = seen.get(r) ?? -1;
      delete r.typed_note;
    }
  }));
  assert.ok(fine.records.length > 0);
  assert.ok(fine.records.every((r) => r.typed_v === r.total_packets && !("typed_note" in r)));
});

Deno.test("user extractors: group names are lower case and column names letters, digits and _ (a name of digits came first in JSON)", () => {
  const base = {
    name: "mine",
    features: [{ name: "mine_n", type: "int" as const, description: "x" }],
    init: () => ({}),
    update: () => {},
    finish: () => {},
  };
  assert.throws(() => checkExtractor({ ...base, name: "Mine" }, "m.ts"), /name must be lower-case letters/);
  for (const bad of ["0", "a,b", "new\nline", "9lives"]) {
    assert.throws(
      () => checkExtractor({ ...base, features: [{ name: bad, type: "int", description: "x" }] }, "m.ts"),
      /name must be letters, digits and _, not starting with a digit/,
      bad,
    );
  }
  checkExtractor(base, "m.ts");
});

Deno.test("registerExtractor: the same object twice registers it once; extractJsonlParallel refuses a registered one", async () => {
  // In a process of its own: a registration stays for every later extraction of the process.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/t.ts`,
      `import { extractJsonlParallel, registerExtractor } from "${ROOT}/mod.ts";
const mine = {
  name: "mine",
  features: [{ name: "mine_n", type: "int", description: "x" }],
  init: () => ({ n: 0 }),
  update: (s) => { s.n++; },
  finish: (s, _f, out) => { out.mine_n = s.n; },
};
registerExtractor(mine);
registerExtractor(mine);
try {
  const it = extractJsonlParallel(["${ROOT}/testdata/http.pcap"], {}, { workers: 2 });
  while (!(await it.next()).done);
  console.log("ran");
} catch (e) {
  console.log(e.name, e.message);
}
`,
    );
    const r = await run(DENO, ["run", "-A", `${dir}/t.ts`], { cwd: ROOT });
    assert.equal(r.code, 0, r.stderr);
    // The workers left its column out without a word.
    assert.match(r.stdout, /^SettingsError extraction in workers cannot run mine, registered in this thread/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jj features --extractor lists a module's features after the groups'", async () => {
  const r = await runCli(["features", "--extractor", EXAMPLE], { cwd: ROOT });
  assert.equal(r.code, 0, r.stderr);
  const rows = parseJsonl(r.stdout);
  assert.deepEqual(
    rows.filter((x) => x.group === "first_bytes").map((x) => x.name),
    example.features.map((f) => f.name),
  );
});

Deno.test("library: an extractor registered and also given in extractors runs once (a module that registers itself)", async () => {
  const counter = {
    name: "self_registered",
    features: [{ name: "self_registered_n", type: "int" as const, description: "Packets seen." }],
    init: () => ({ n: 0 }),
    update: (s: { n: number }) => void s.n++,
    finish: (s: { n: number }, _f: unknown, out: Record<string, unknown>) =>
      void (out.self_registered_n = s.n),
  };
  registerExtractor(counter);
  const { records } = await collect(`${ROOT}/testdata/http.pcap`, {
    features: ["flow_meta"],
    extractors: [counter],
  });
  assert.ok(records.length > 0);
  for (const r of records) assert.equal(r.self_registered_n, r.total_packets);
  // Another object of the same name is still refused.
  await assert.rejects(
    collect(`${ROOT}/testdata/http.pcap`, { extractors: [{ ...counter }] }),
    /a group of that name already exists/,
  );
});

Deno.test("library: features: [] is refused as --features '' is (it ran every group)", async () => {
  await assert.rejects(collect(`${ROOT}/testdata/http.pcap`, { features: [] }), OptionError);
});
