/**
 * Every JoyfulJay column: extracting real captures with every group on (`all,connection`) gives records holding every
 * name of ../shared/reference/joyfuljay-columns.txt, each value of the type the feature reference (seed 004)
 * documents; declarations agree with that reference; `jj features` and docs/features.md come from the same
 * declarations (the doc fails here when stale: run `deno task docs:features`).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FeatureType, FlowRecord } from "../lib/extractor.ts";
import { allExtractors } from "../lib/registry.ts";
import { cap, collect, HAVE_SHARED, parseJsonl, recordKey, runCli, SHARED } from "./helpers.ts";
import { FEATURES_DOC, featuresMarkdown } from "../scripts/features_doc.ts";

const REFERENCE = `${SHARED}/reference/joyfuljay-columns.txt`;
const SEEDS = `${SHARED}/seeds`;
/** Every group, `connection` included (it is not part of the streaming default `all`). */
const ALL = ["all", "connection"];

function referenceColumns(): string[] {
  return Deno.readTextFileSync(REFERENCE).split("\n").map((l) => l.trim()).filter(Boolean);
}

/** Types the feature reference documents: lines `name type description` of its tables. */
function seedTypes(): Map<string, FeatureType> {
  const file = [...Deno.readDirSync(SEEDS)].map((e) => e.name).find((n) => n.startsWith("004_"))!;
  const out = new Map<string, FeatureType>();
  for (const line of Deno.readTextFileSync(`${SEEDS}/${file}`).split("\n")) {
    const m = /^([a-z][a-z0-9_]*) (int|float|str|bool|dict|list(?:\[[^\]]*\])?) /.exec(line);
    if (m && !out.has(m[1])) out.set(m[1], (m[2].startsWith("list") ? "list" : m[2]) as FeatureType);
  }
  return out;
}

function declaredTypes(): Map<string, FeatureType> {
  return new Map(
    allExtractors().flatMap((e) => e.features.map((f) => [f.name, f.type] as [string, FeatureType])),
  );
}

function hasType(v: unknown, t: FeatureType): boolean {
  switch (t) {
    case "int":
      return typeof v === "number" && Number.isInteger(v);
    case "float":
      return typeof v === "number" && Number.isFinite(v);
    case "str":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "list":
      return Array.isArray(v);
    case "dict":
      return typeof v === "object" && v !== null && !Array.isArray(v);
  }
}

Deno.test({
  name:
    "declarations: every reference column is declared once, with the type the feature reference documents",
  ignore: !HAVE_SHARED,
  fn() {
    const ref = referenceColumns();
    assert.equal(ref.length, 401);
    const seeds = seedTypes(), declared = declaredTypes();
    const counts = new Map<string, number>();
    for (const e of allExtractors()) {
      for (const f of e.features) counts.set(f.name, (counts.get(f.name) ?? 0) + 1);
    }
    const missing = ref.filter((n) => !declared.has(n));
    assert.deepEqual(missing, [], "reference columns no group declares");
    assert.deepEqual([...counts].filter(([, c]) => c > 1), [], "columns declared twice");
    let documented = 0;
    for (const n of ref) {
      const t = seeds.get(n);
      if (t === undefined) continue;
      documented++;
      assert.equal(declared.get(n), t, `${n}: declared ${declared.get(n)}, documented ${t}`);
    }
    assert.ok(documented > 200, `${documented} reference columns have a documented type`);
  },
});

const CAPTURES = [
  "tor.pcap",
  "dns.pcap",
  "ssh.pcap",
  "quic.pcap",
  "http2.pcapng",
  "tls12.pcap",
  "malformed_icmp.pcap",
  "icmp-tunnel.pcap",
  "ipv6.pcapng",
  "openvpn.pcap",
  "wireguard.pcap",
  "doh.pcapng",
  "macos_tcp_flags.pcap",
  "tcp_scan.pcapng",
];

Deno.test({
  name:
    "records of real captures with every group on (all,connection) hold every reference column, each value of its type",
  ignore: !HAVE_SHARED,
  async fn() {
    const ref = referenceColumns(), declared = declaredTypes();
    const seen = new Map<string, number>(); // non-null values per column
    let records = 0;
    for (const name of CAPTURES) {
      const recs: FlowRecord[] = (await collect(cap(name), { features: ALL })).records;
      assert.ok(recs.length > 0, name);
      for (const r of recs) {
        records++;
        const keys = new Set(Object.keys(r));
        const missing = ref.filter((n) => !keys.has(n));
        assert.deepEqual(missing, [], `${name} ${recordKey(r)}: missing columns`);
        // The reference columns come in the reference's order.
        assert.deepEqual(Object.keys(r).filter((k) => ref.includes(k)), ref, `${name}: column order`);
        for (const [k, v] of Object.entries(r)) {
          if (v === null) continue;
          const t = declared.get(k);
          assert.ok(t !== undefined, `${name}: undeclared column ${k}`);
          assert.ok(hasType(v, t), `${name} ${recordKey(r)}: ${k} = ${JSON.stringify(v)} is not ${t}`);
          seen.set(k, (seen.get(k) ?? 0) + 1);
        }
      }
    }
    assert.ok(records > 50);
    // Most reference columns get a value somewhere in these captures (a few need traffic they lack).
    const never = ref.filter((n) => !seen.has(n));
    assert.ok(never.length < 40, `columns never set: ${never.join(", ")}`);
  },
});

Deno.test({
  name: "the CLI writes the same columns as JSON Lines (every reference column, JSON-safe values)",
  ignore: !HAVE_SHARED,
  async fn() {
    const r = await runCli(["extract", "-q", "--features", "all,connection", cap("tor.pcap")]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /NaN|Infinity/);
    const ref = referenceColumns();
    const recs = parseJsonl(r.stdout);
    // Not vacuous: the CLI wrote every record the library gives for the capture.
    const want = (await collect(cap("tor.pcap"), { features: ALL })).records.length;
    assert.ok(want > 5, `tor.pcap: ${want} records`);
    assert.equal(recs.length, want, "records written by the CLI");
    for (const rec of recs) for (const n of ref) assert.ok(n in rec, n);
  },
});

Deno.test("jj features lists every declared feature with its group, type and description", async () => {
  const r = await runCli(["features"]);
  assert.equal(r.code, 0, r.stderr);
  const listed = new Map(parseJsonl(r.stdout).map((x) => [x.name as string, x]));
  for (const e of allExtractors()) {
    for (const f of e.features) {
      const x = listed.get(f.name);
      assert.ok(x, f.name);
      assert.equal(x.group, e.name);
      assert.equal(x.type, f.type);
      assert.equal(x.description, f.description);
    }
  }
});

Deno.test("docs/features.md is generated from the declarations and up to date (deno task docs:features)", async () => {
  const want = await featuresMarkdown();
  let have = "";
  try {
    have = await Deno.readTextFile(FEATURES_DOC);
  } catch { /* missing */ }
  assert.ok(have === want, "docs/features.md is stale: run `deno task docs:features`");
  for (const e of allExtractors()) {
    assert.ok(want.includes(`## ${e.name}`), e.name);
    for (const f of e.features) assert.ok(want.includes(`\`${f.name}\` (${f.type})`), f.name);
  }
});
