/**
 * Compares `jj`'s Joy output with Joy 4.5's for every flow of every capture in ../shared/corpus/joy: every
 * key of every flow (and the order of the keys), prints the per-field match figures and every remaining
 * difference with its reason, and fails on any difference that is not listed in {@link KNOWN} (a regression).
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { joyProcessFile } from "../lib/joy/offline.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";
import { cfloat, timeval } from "../lib/joy/json.ts";
import { exists, rng, SHARED } from "./helpers.ts";

const CORPUS = `${SHARED}/corpus`;

const DNS_HEAP =
  "Joy's name decoder follows a compression pointer and then skips the pointed-to name's length from the " +
  "pointer's position, which walks past the end of its heap copy of the message: Joy decodes whatever lies " +
  "there (the last record comes out as its malformed / DEBUG text), jj reads zeros (an all-zero record)";

/**
 * Every difference that remains, by capture, flow key and field, with its reason. Keys are
 * `capture sa|da|sp|dp|pr|time_start`.
 */
const KNOWN: Record<string, Record<string, string>> = {
  "dns_fragmented.pcap 2a00:1450:4013:c03::10a|2001:470:765b::a25:53|46433|53|17|1558968010.233766": {
    dns: DNS_HEAP,
  },
  "dns_fragmented.pcap 2a00:1450:4013:c06::105|2001:470:765b::a25:53|63369|53|17|1558968018.074594": {
    dns: DNS_HEAP,
  },
  "dns_fragmented.pcap 2001:470:1f0b:16b0:20c:29ff:fe7c:a4cb|2001:470:765b::a25:53|55729|53|17|1560869900.222469":
    { dns: DNS_HEAP },
};

// deno-lint-ignore no-explicit-any
type Flow = Record<string, any>;
/** The two JSON texts from a little before their first difference. */
function showDiff(a = "<absent>", b = "<absent>"): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  const from = Math.max(0, i - 40), pre = from > 0 ? "…" : "";
  return `joy ${pre}${a.slice(from, from + 200)} / jj ${pre}${b.slice(from, from + 200)}`;
}
const key = (d: Flow) => `${d.sa}|${d.da}|${d.sp}|${d.dp}|${d.pr}|${d.time_start}`;

for (const reader of ["auto", "builtin"] as const) {
  Deno.test(
    `Joy format matches Joy 4.5 on the corpus (${
      reader === "auto" ? "libpcap when it loads" : "built-in reader"
    })`,
    { ignore: !exists(`${SHARED}/corpus/joy`) },
    (t) => compareWithJoy(t, reader),
  );
}

async function compareWithJoy(t: Deno.TestContext, reader: "auto" | "builtin"): Promise<void> {
  {
    let total = 0, matched = 0;
    const fields: string[] = [];
    const good: Record<string, number> = {};
    const present: Record<string, number> = {};
    const unexpected: string[] = [];
    const known: string[] = [];
    const seen = new Set<string>();
    const names = [...Deno.readDirSync(`${CORPUS}/captures`)].map((e) => e.name).sort();
    for (const name of names) {
      // Each record's text too: values equal once parsed can still be written otherwise (spacing, numbers).
      const text = new Map<Flow, string>();
      const parse = (l: string): Flow => {
        const o = JSON.parse(l);
        text.set(o, l);
        return o;
      };
      const ref: Flow[] = Deno.readTextFileSync(`${CORPUS}/joy/${name}.json`).trim().split("\n").slice(1).map(
        parse,
      );
      const ours: Flow[] = [];
      await joyProcessFile(`${CORPUS}/captures/${name}`, defaultJoyConfig(), (l) => ours.push(parse(l)), {
        reader,
      });
      const byKey = new Map<string, Flow[]>();
      for (const o of ours) byKey.set(key(o), [...(byKey.get(key(o)) ?? []), o]);
      for (const r of ref) {
        total++;
        const id = `${name} ${key(r)}`;
        const c = byKey.get(key(r))?.shift();
        if (c === undefined) {
          unexpected.push(`<missing> ${id}`);
          continue;
        }
        let all = true;
        for (const f of new Set([...Object.keys(r), ...Object.keys(c)])) {
          if (!fields.includes(f)) fields.push(f);
          present[f] = (present[f] ?? 0) + 1;
          const a = JSON.stringify(r[f]), b = JSON.stringify(c[f]);
          if (a === b) {
            good[f] = (good[f] ?? 0) + 1;
            continue;
          }
          all = false;
          const why = KNOWN[id]?.[f];
          const line = `${f} ${id}: ${showDiff(a, b)}`;
          if (why === undefined) unexpected.push(line);
          else {
            known.push(`${line}\n      reason: ${why}`);
            seen.add(`${id}\n${f}`);
          }
        }
        if (all && Object.keys(r).join() !== Object.keys(c).join()) {
          all = false;
          unexpected.push(`<key order> ${id}: joy ${Object.keys(r).join()} / jj ${Object.keys(c).join()}`);
        }
        if (all && text.get(r) !== text.get(c)) {
          all = false;
          unexpected.push(`<text> ${id}: ${showDiff(text.get(r), text.get(c))}`);
        }
        if (all) matched++;
      }
      for (const rest of byKey.values()) for (const x of rest) unexpected.push(`<extra> ${name} ${key(x)}`);
    }
    await t.step("report", () => {
      console.log(`flows matched in every key: ${matched}/${total}`);
      console.log("per key: flows where it matches / flows where Joy or jj prints it");
      for (const f of fields) console.log(`  ${f.padEnd(16)} ${good[f] ?? 0}/${present[f]}`);
      console.log(`known differences (${known.length}):`);
      for (const d of known) console.log(`    ${d}`);
      console.log(`unexpected differences (${unexpected.length}):`);
      for (const d of unexpected) console.log(`    ${d}`);
    });
    deepEqual(unexpected, [], "differences not listed in KNOWN");
    for (const [id, why] of Object.entries(KNOWN)) {
      for (const f of Object.keys(why)) ok(seen.has(`${id}\n${f}`), `KNOWN entry now matches: ${f} ${id}`);
    }
    ok(matched >= 958, `flows matched ${matched}`);
  }
}

/** The double next to `v` towards +inf (`dir` 1) or -inf (`dir` -1), for finite non-zero `v`. */
function nextDouble(v: number, dir: 1 | -1): number {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  dv.setBigInt64(0, dv.getBigInt64(0) + ((v > 0) === (dir > 0) ? 1n : -1n));
  return dv.getFloat64(0);
}

Deno.test("cfloat prints %f as glibc does: exact ties to even, by magnitude (oracle: the shell's printf)", async () => {
  const values: number[] = [];
  // Exact ties: odd multiples of 2^-7 have exactly seven decimals, the last one 5.
  for (const k of [1, 3, 5, 7, 9, 11, 13, 15, 125, 127, 129, 255, 1001, 12345, 2 ** 20 + 1, 2 ** 30 + 3]) {
    values.push(k / 128);
  }
  values.push(1 + 1 / 128, 2.5 + 3 / 128, 1e6 + 5 / 128);
  const r = rng(20240611);
  for (let i = 0; i < 100; i++) values.push((2 * Math.floor(r() * 2 ** Math.floor(r() * 40)) + 1) / 128);
  // Near-ties: the doubles on either side of each tie, and values whose seventh decimal is 5 inexactly.
  for (const v of values.slice()) values.push(nextDouble(v, 1), nextDouble(v, -1));
  values.push(0.0000005, 0.1234565, 0.5000005, 2.0000015, 0.9999995, 1e-7 * 5);
  // Random values of several magnitudes.
  for (let i = 0; i < 300; i++) values.push(r() * 10 ** Math.floor(r() * 9 - 3));
  values.push(0, 1, 0.5, 1 / 3, 2 / 3, 8.000000, 123456.789);
  const all = [...values, ...values.filter((v) => v !== 0).map((v) => -v), -0];
  // The exact decimal value of each double (at most 100 decimals is exact for these magnitudes), so that the
  // shell's long double conversion gives back the same number.
  const args = all.map((v) => Object.is(v, -0) ? "-0.0" : v.toFixed(100));
  const out = await new Deno.Command("bash", { args: ["-c", 'printf "%f\\n" "$@"', "printf", ...args] })
    .output();
  ok(out.success, new TextDecoder().decode(out.stderr));
  const want = new TextDecoder().decode(out.stdout).trim().split("\n");
  equal(want.length, all.length);
  const bad = all.map((v, i) => [String(v), want[i], cfloat(v)]).filter(([, w, g]) => w !== g);
  deepEqual(
    bad,
    [],
    `printed unlike printf's %f ([value, printf, cfloat]): ${JSON.stringify(bad.slice(0, 8))}`,
  );
  // The examples of glibc's rounding.
  deepEqual([0.0078125, 0.0234375, 0.0390625, -0.0078125].map(cfloat), [
    "0.007812",
    "0.023438",
    "0.039062",
    "-0.007812",
  ]);
});

Deno.test("timeval: seconds and a six-digit integer fraction, also past 2^53 microseconds (it printed .-1048576)", () => {
  equal(timeval(1703606032925092), "1703606032.925092");
  equal(timeval(0), "0.000000");
  equal(timeval(-1500000), "-2.500000");
  // A pcapng timestamp of 2^31 seconds-ticks in milliseconds (found by fuzzing, read through libpcap).
  for (const us of [9223372032559822e6 - 1048576, 2 ** 60 + 12345, 2 ** 63, 1.5e21, 123456789.5]) {
    const t = timeval(us);
    ok(/^-?\d+\.\d{6}$/.test(t), `${us}: ${t}`);
    ok(Number.isFinite(JSON.parse(`{"t":${t}}`).t), t);
  }
  equal(timeval(NaN), "0.000000");
});
