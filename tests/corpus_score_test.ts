/**
 * The corpus score: `../shared/tools/score.py` runs `cli.ts extract` on every corpus capture and compares each
 * flow's packets, bytes and handshake fingerprints with what tshark reads. Every row must be 100%: captures,
 * flows, packets, bytes (the foundation) and ja3, ja3s, sni, hassh, hassh_server, quic (the protocol groups).
 */
import assert from "node:assert/strict";
import { CAPTURES, DENO, EXPECTED, hasCommand, HAVE_SHARED, ROOT, run, SHARED } from "./helpers.ts";

const SCORE = `${SHARED}/tools/score.py`;
const HAVE_PYTHON = hasCommand("python3");
const ASSERTED = [
  "captures",
  "flows",
  "packets",
  "bytes",
  "ja3",
  "ja3s",
  "sni",
  "hassh",
  "hassh_server",
  "quic",
];

let reason = "";
if (!HAVE_SHARED) reason = `${CAPTURES} or ${EXPECTED} is absent`;
else if (!HAVE_PYTHON) reason = "python3 is not installed";
if (reason) console.warn(`corpus_score_test: skipped: ${reason}`);

/** A row of score.py's table: `name  ok / total  pct%`. */
interface ScoreRow {
  ok: number;
  total: number;
  percent: number;
}

function parseTable(out: string): Map<string, ScoreRow> {
  const rows = new Map<string, ScoreRow>();
  for (const line of out.split("\n")) {
    const m = /^(\w+)\s+(\d+)\s*\/\s*(\d+)\s+([\d.]+)%$/.exec(line.trim());
    if (m) rows.set(m[1], { ok: Number(m[2]), total: Number(m[3]), percent: Number(m[4]) });
  }
  return rows;
}

Deno.test({
  name: "corpus score: every row of score.py (flows, packets, bytes, JA3, JA3S, SNI, HASSH, QUIC) is 100%",
  ignore: reason !== "",
  async fn() {
    const r = await run("python3", [
      SCORE,
      "--show",
      "20",
      "--fields",
      ASSERTED.join(","),
      EXPECTED,
      CAPTURES,
      "--",
      DENO,
      "run",
      "-A",
      `${ROOT}/cli.ts`,
      "extract",
    ]);
    console.log(r.stdout.trimEnd());
    if (r.stderr.trim()) console.log(r.stderr.trimEnd());
    const table = parseTable(r.stdout);
    for (const field of ASSERTED) {
      const row = table.get(field);
      assert.ok(row, `score.py printed no "${field}" row:\n${r.stdout}${r.stderr}`);
      assert.ok(row.total > 0, `no ${field} were scored`);
      assert.equal(row.percent, 100, `${field}: ${row.ok} / ${row.total} (see the misses above)`);
      assert.equal(row.ok, row.total);
    }
    // Every capture with an expected file was scored.
    const expected = [...Deno.readDirSync(EXPECTED)].filter((e) => e.name.endsWith(".jsonl")).length;
    assert.equal(table.get("captures")!.total, expected);
    assert.match(r.stdout, /^score: 1\.0000$/m);
    assert.equal(r.code, 0);
  },
});
