// Reads a Parquet or CSV file with DuckDB (an independent C++ reader) and prints, as one JSON object, the
// column names and types DuckDB sees and every row's values (64-bit integers as decimal strings, so that
// nothing is rounded on the way). Used by tests/duckdb_outputs_test.ts; runs under Node with the
// @duckdb/node-api package of tests/peers (`scripts/setup.sh --test` installs it).
//
// usage: node tests/duckdb_read.mjs parquet|csv FILE
import { createRequire } from "node:module";

const require = createRequire(new URL("./peers/package.json", import.meta.url));
const { DuckDBInstance } = await import(require.resolve("@duckdb/node-api"));

const [format, file] = process.argv.slice(2);
if ((format !== "parquet" && format !== "csv") || !file) {
  console.error("usage: node tests/duckdb_read.mjs parquet|csv FILE");
  process.exit(2);
}
const quoted = `'${file.replaceAll("'", "''")}'`;
// CSV: RFC 4180 as jj writes it (comma, double quotes doubled inside quoted fields, a header line), every
// column as text so that the test compares the cells themselves; an empty cell reads as NULL.
const source = format === "parquet"
  ? `read_parquet(${quoted})`
  : `read_csv(${quoted}, header = true, delim = ',', quote = '"', escape = '"', all_varchar = true, ` +
    `auto_detect = false, strict_mode = true, columns = ${await csvColumns()})`;

async function csvColumns() {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(file, "utf8");
  const header = text.slice(0, text.indexOf("\n"));
  // The header holds feature names only (letters, digits, underscores): no quoting.
  const names = header.split(",");
  return `{${names.map((n) => `'${n}': 'VARCHAR'`).join(", ")}}`;
}

const db = await DuckDBInstance.create(":memory:");
const c = await db.connect();
const described = await c.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
const columns = described.getRowObjectsJson().map((r) => ({ name: r.column_name, type: r.column_type }));
const read = await c.runAndReadAll(`SELECT * FROM ${source}`);
process.stdout.write(JSON.stringify({ columns, rows: read.getRowsJson() }));
