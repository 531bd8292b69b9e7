/**
 * Compares `jj`'s Joy output with Joy 4.5's for every flow of every capture in ../shared/corpus/joy, field by
 * field, prints the match figures and every remaining difference with its reason, and fails when the figures
 * drop below what is known to match (a regression).
 */
import { ok } from "node:assert/strict";
import { joyProcessFile } from "../lib/joy/offline.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";

const CORPUS = "../shared/corpus";
const FIELDS = [
  "sa",
  "da",
  "sp",
  "dp",
  "pr",
  "bytes_out",
  "num_pkts_out",
  "bytes_in",
  "num_pkts_in",
  "time_start",
  "time_end",
  "packets",
  "byte_dist",
  "entropy",
  "total_entropy",
  "idp_out",
  "idp_len_out",
  "idp_in",
  "idp_len_in",
  "tls",
  "dns",
  "http",
];

/** Why a field can still differ (see docs/joy_lifecycle.md, "Differences that remain"). */
const REASONS: Record<string, string> = {
  "<missing>":
    "Joy split or merged the flow differently: its 4.5 source is not available, and some split / " +
    "direction rules (UDP flows printed at the final flush with the responder first) could not be inferred",
  "<extra>": "the counterpart of a <missing> flow (same packets, other split or direction)",
  byte_dist: "Joy 4.5 stops counting after an amount of payload that could not be pinned down exactly",
  entropy: "follows byte_dist (computed from the same reduced counts)",
  total_entropy: "follows byte_dist",
  time_end: "Joy 4.5 leaves some packets (retransmissions, late FIN/ACKs) out of a flow's end time",
  tls: "s_cert is not produced (Joy prints OpenSSL's certificate dump); srlt follows the packet differences",
  http: "per-packet parse differences after TCP reordering and retransmissions",
  dns: "Joy prints its debug text for some malformed records",
  bytes_out: "malformed / truncated packets that Joy 4.5 counts or drops by rules not reproduced",
  bytes_in: "as bytes_out",
  num_pkts_out: "as bytes_out",
  num_pkts_in: "as bytes_out",
  packets: "as bytes_out",
};

// deno-lint-ignore no-explicit-any
type Flow = Record<string, any>;
const key = (d: Flow) => `${d.sa}|${d.da}|${d.sp}|${d.dp}|${d.pr}|${d.time_start}`;

Deno.test("Joy format matches Joy 4.5 on the corpus", async (t) => {
  let total = 0, matched = 0;
  const good: Record<string, number> = {};
  const diffs: Record<string, string[]> = {};
  const names = [...Deno.readDirSync(`${CORPUS}/captures`)].map((e) => e.name).sort();
  for (const name of names) {
    const ref: Flow[] = Deno.readTextFileSync(`${CORPUS}/joy/${name}.json`).trim().split("\n").slice(1).map((
      l,
    ) => JSON.parse(l));
    const ours: Flow[] = [];
    await joyProcessFile(`${CORPUS}/captures/${name}`, defaultJoyConfig(), (l) => ours.push(JSON.parse(l)));
    const byKey = new Map<string, Flow[]>();
    for (const o of ours) byKey.set(key(o), [...(byKey.get(key(o)) ?? []), o]);
    for (const r of ref) {
      total++;
      const c = byKey.get(key(r))?.shift();
      if (c === undefined) {
        (diffs["<missing>"] ??= []).push(`${name} ${key(r)}`);
        continue;
      }
      let all = true;
      for (const f of FIELDS) {
        const a = JSON.stringify(r[f]), b = JSON.stringify(c[f]);
        if (a === b) good[f] = (good[f] ?? 0) + 1;
        else {
          all = false;
          (diffs[f] ??= []).push(`${name} ${key(r)}: joy ${a?.slice(0, 120)} / jj ${b?.slice(0, 120)}`);
        }
      }
      if (all) matched++;
    }
    for (const rest of byKey.values()) {
      for (const x of rest) (diffs["<extra>"] ??= []).push(`${name} ${key(x)}`);
    }
  }
  await t.step("report", () => {
    console.log(`flows matched in every compared field: ${matched}/${total}`);
    for (const f of FIELDS) console.log(`  ${f.padEnd(14)} ${good[f] ?? 0}/${total}`);
    for (const [f, list] of Object.entries(diffs)) {
      console.log(`differences in ${f} (${list.length}): ${REASONS[f] ?? "unexplained"}`);
      for (const d of list) console.log(`    ${d}`);
    }
  });
  // Regression floors: what matches today.
  ok(matched >= 510, `flows matched ${matched}`);
  for (const f of ["sa", "da", "sp", "dp", "pr", "time_start", "idp_out", "idp_len_out"]) {
    ok((good[f] ?? 0) >= 790, `${f}: ${good[f]}`);
  }
  ok((good.packets ?? 0) >= 785, `packets: ${good.packets}`);
  ok((good.tls ?? 0) >= 755, `tls: ${good.tls}`);
  ok((good.dns ?? 0) >= 785, `dns: ${good.dns}`);
  ok((good.http ?? 0) >= 740, `http: ${good.http}`);
});
