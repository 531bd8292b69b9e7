/**
 * Parquet and CSV outputs read by an independent reader: DuckDB (C++, `@duckdb/node-api` under Node, through
 * tests/duckdb_read.mjs), the tool many ML users load flow tables with. `jj extract` writes the same captures
 * (the corpus, or testdata/ without ../shared) with every streaming group and every optional column to JSON
 * Lines, CSV and Parquet; DuckDB must read both files without error and give, row for row and column for
 * column, the JSON Lines values:
 *
 * - Parquet: each column's type as declared (int BIGINT, float DOUBLE, bool BOOLEAN, str/list/dict VARCHAR,
 *   lists and dicts as JSON text), integers exactly, floats bit for bit, nulls as NULL;
 * - CSV (RFC 4180 with a header, read strictly, every column as text): each cell as README.md describes it,
 *   an empty cell (null, or an empty string) as NULL.
 *
 * Needs Node and tests/peers' node_modules (`scripts/setup.sh --test` runs `npm ci` there).
 */
import assert from "node:assert/strict";
import type { FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import { allExtractors } from "../lib/registry.ts";
import { OPTIONAL_FEATURES } from "../lib/options.ts";
import { CAPTURES, expectedCsvCell, hasCommand, HAVE_CAPTURES, ROOT, run, runCli } from "./helpers.ts";

const READER = `${ROOT}/tests/duckdb_read.mjs`;
const HAVE_DUCKDB = (() => {
  try {
    Deno.statSync(`${ROOT}/tests/peers/node_modules/@duckdb/node-api/package.json`);
    return true;
  } catch {
    return false;
  }
})();
const HAVE_NODE = hasCommand("node");
const reason = !HAVE_NODE
  ? "node is not installed"
  : !HAVE_DUCKDB
  ? "DuckDB is not installed in tests/peers (sh scripts/setup.sh --test, or npm ci --prefix tests/peers)"
  : "";
if (reason) console.warn(`duckdb_outputs_test: skipped: ${reason}`);

const DUCKDB_TYPE: Record<string, string> = {
  int: "BIGINT",
  float: "DOUBLE",
  bool: "BOOLEAN",
  str: "VARCHAR",
  list: "VARCHAR",
  dict: "VARCHAR",
};

interface DuckTable {
  columns: { name: string; type: string }[];
  rows: unknown[][];
}

async function duckRead(format: "parquet" | "csv", path: string): Promise<DuckTable> {
  const r = await run("node", [READER, format, path]);
  assert.equal(r.code, 0, `DuckDB could not read ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A JSON Lines value as DuckDB gives it from the Parquet file (getRowsJson: 64-bit integers as strings). */
function parquetForm(f: FeatureSpec, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (f.type === "int") return String(v);
  if (f.type === "list" || f.type === "dict") return JSON.stringify(v);
  return v;
}

Deno.test({
  name:
    "DuckDB reads jj's Parquet and CSV: declared types, every value of every row equal to the JSON Lines" +
    (reason ? ` (skipped: ${reason})` : ""),
  ignore: reason !== "",
  fn: async () => {
    const input = HAVE_CAPTURES ? CAPTURES : `${ROOT}/testdata`;
    const dir = await Deno.makeTempDir({ prefix: "jj-duckdb-" });
    try {
      const common = [
        "extract",
        "-q",
        "--features",
        "all",
        "--include-flow-id",
        "--include-sequences",
        "--include-splt",
        "--workers",
        "1",
        input,
      ];
      const lines: FlowRecord[] = [];
      for (const ext of ["jsonl", "csv", "parquet"]) {
        const r = await runCli([...common, "-o", `${dir}/flows.${ext}`]);
        // The corpus holds a few files that are not captures: a warning each, exit 1; the others are written.
        assert.ok(r.code === 0 || (HAVE_CAPTURES && r.code === 1), `${ext}: exit ${r.code}: ${r.stderr}`);
      }
      for (const line of (await Deno.readTextFile(`${dir}/flows.jsonl`)).split("\n")) {
        if (line !== "") lines.push(JSON.parse(line));
      }
      assert.ok(lines.length >= (HAVE_CAPTURES ? 900 : 6), `${lines.length} flows`);

      const declared = new Map<string, FeatureSpec>();
      for (const e of allExtractors()) for (const f of e.features) declared.set(f.name, f);
      for (const f of OPTIONAL_FEATURES) declared.set(f.name, f);
      const names = Object.keys(lines[0]);
      const specs = names.map((n) => {
        const f = declared.get(n);
        assert.ok(f !== undefined, `column ${n} is declared`);
        return f;
      });

      // Parquet: the schema DuckDB sees, then every cell.
      const pq = await duckRead("parquet", `${dir}/flows.parquet`);
      assert.deepEqual(pq.columns.map((c) => c.name), names, "Parquet columns = JSON Lines keys, in order");
      for (const [i, f] of specs.entries()) assert.equal(pq.columns[i].type, DUCKDB_TYPE[f.type], f.name);
      assert.equal(pq.rows.length, lines.length, "Parquet rows");
      const nonNull = new Map<string, number>();
      for (let r = 0; r < lines.length; r++) {
        for (const [i, f] of specs.entries()) {
          const v = lines[r][f.name];
          assert.deepEqual(pq.rows[r][i], parquetForm(f, v), `Parquet row ${r} ${f.name}`);
          if (v !== null) nonNull.set(f.type, (nonNull.get(f.type) ?? 0) + 1);
        }
      }
      // Every kind of value was exercised, not only nulls.
      for (const t of ["int", "float", "bool", "str", "list"]) assert.ok((nonNull.get(t) ?? 0) > 0, t);

      // CSV: strict RFC 4180 parse, every cell as text.
      const csv = await duckRead("csv", `${dir}/flows.csv`);
      assert.deepEqual(csv.columns.map((c) => c.name), names, "CSV header = JSON Lines keys, in order");
      assert.equal(csv.rows.length, lines.length, "CSV rows");
      let quoted = 0;
      for (let r = 0; r < lines.length; r++) {
        for (const [i, f] of specs.entries()) {
          const cell = expectedCsvCell(lines[r][f.name] ?? null);
          if (/[",\n\r]/.test(cell)) quoted++;
          assert.equal(csv.rows[r][i], cell === "" ? null : cell, `CSV row ${r} ${f.name}`);
        }
      }
      // Cells that need quoting (lists, and strings with commas or quotes) were among them.
      assert.ok(quoted > 0, "no cell needed quoting");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
