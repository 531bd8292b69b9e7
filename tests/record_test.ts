/**
 * Flow records are laid out for JSON.stringify's fast path (lib/record.ts): plain fast-mode objects whose strings
 * are flat. Flatness is invisible to JavaScript, so the last test asks V8 itself in a subprocess.
 */
import assert from "node:assert/strict";
import type { FlowRecord } from "../lib/extractor.ts";
import { flatString, flattenStrings, recordClass } from "../lib/record.ts";
import { extractFlows, type ExtractOptions } from "../lib/extract.ts";
import { BUILTIN_EXTRACTORS } from "../extractors/mod.ts";
import {
  byteStream,
  CAPTURES,
  DENO,
  ethernet,
  F,
  HAVE_CAPTURES,
  icmpEcho,
  ipv4,
  ipv6,
  pcapFile,
  ROOT,
  run,
  tcp,
  udp,
  withTempDir,
} from "./helpers.ts";

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

Deno.test("reuseRecords: record objects are reused, and each is, when yielded, what it is without reuse", async () => {
  // 6,000 flows of five kinds in turn (UDP both ways, a TCP connection with options and data, an ICMP echo, one
  // empty UDP packet, IPv6), 10 MB, ending (1 s idle timeout) while the capture is still read: records yielded
  // from one 4 MiB buffer's batch are reused by later flows of another kind, so that a value one kind leaves
  // unset would show the previous flow's. Every group but connection (which holds all records to the end) is
  // on: records of 400 columns, those reuse matters for.
  const pkts: { ts: number; data: Uint8Array }[] = [];
  const at = (i: number, k: number, data: Uint8Array) => pkts.push({ ts: 1000 + i * 0.01 + k * 0.001, data });
  for (let i = 0; i < 6000; i++) {
    const a = `10.${(i >> 8) & 255}.${i & 255}.1`, b = "192.168.0.1";
    const data = new Uint8Array(600 + (i % 7) * 100).fill(i);
    switch (i % 5) {
      case 0:
        at(i, 0, ethernet(ipv4(a, b, 17, udp(4000, 53, data))));
        at(i, 2, ethernet(ipv4(b, a, 17, udp(53, 4000, data.subarray(100)))));
        break;
      case 1:
        at(i, 0, ethernet(ipv4(a, b, 6, tcp(5000, 443, F.SYN, new Uint8Array(0), { seq: 1 }))));
        at(
          i,
          1,
          ethernet(ipv4(b, a, 6, tcp(443, 5000, F.SYN | F.ACK, new Uint8Array(0), { seq: 7, ack: 2 }))),
        );
        at(i, 2, ethernet(ipv4(a, b, 6, tcp(5000, 443, F.ACK | F.PSH, data, { seq: 2, ack: 8 }))));
        at(
          i,
          3,
          ethernet(ipv4(b, a, 6, tcp(443, 5000, F.ACK | F.FIN, new Uint8Array(0), { seq: 8, ack: 602 }))),
        );
        break;
      case 2:
        at(i, 0, ethernet(ipv4(a, b, 1, icmpEcho(8, i, 1, data.subarray(0, 56)))));
        at(i, 1, ethernet(ipv4(b, a, 1, icmpEcho(0, i, 1, data.subarray(0, 56)))));
        break;
      case 3:
        at(i, 0, ethernet(ipv4(a, b, 17, udp(6000, 9999))));
        break;
      default:
        at(i, 0, ethernet(ipv6(`2001:db8::${i.toString(16)}`, "2001:db8::1", 17, udp(7000, 443, data))));
    }
  }
  const capture = pcapFile(1, pkts);
  const features = BUILTIN_EXTRACTORS.map((e) => e.name).filter((n) => n !== "connection");
  const texts = async (options: ExtractOptions) => {
    const lines: string[] = [];
    const objects = new Set<unknown>();
    for await (const r of extractFlows(byteStream(capture), { idleTimeout: 1, features, ...options })) {
      lines.push(JSON.stringify(r));
      objects.add(r);
    }
    return { lines, objects: objects.size };
  };
  const plain = await texts({});
  const reused = await texts({ reuseRecords: true });
  assert.equal(plain.lines.length, 6000);
  assert.equal(plain.objects, 6000);
  assert.equal(new Set(plain.lines.map((l) => JSON.parse(l).protocol)).size, 3, "UDP, TCP and ICMP flows");
  assert.ok(reused.objects < 1000, `${reused.objects} record objects for 6000 flows`);
  assert.deepEqual(reused.lines, plain.lines);
  // A reshaping option copies each record: the pipeline's own is reused at once, with or without the option.
  const specific = { specificFeatures: ["src_ip", "iat_mean", "entropy_payload", "pkt_len_median"] };
  const copied = await texts({ ...specific, reuseRecords: true });
  assert.equal(copied.objects, 6000);
  const kept = new Set(specific.specificFeatures);
  const subset = (l: string) =>
    JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(l)).filter(([k]) => kept.has(k))));
  assert.deepEqual(copied.lines, plain.lines.map(subset));
  // With connection on, records are held to the end: none is reused, the option notwithstanding.
  const held = await texts({ features: ["timing", "connection"], reuseRecords: true });
  assert.equal(held.objects, 6000);
});
