/**
 * CSV output (RFC 4180 quoting by `csv-stringify`): a header with the declared feature names in order, then one
 * row per flow. `null` is an empty cell (so is an empty string: CSV cannot tell the two apart, where JSON Lines
 * and Parquet can), booleans are `true`/`false`, lists and objects are JSON text. Fields a
 * record has beyond the declared ones are left out; declared ones it lacks are empty.
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";
import type { FeatureSpec, FeatureValue, FlowRecord } from "../lib/extractor.ts";
import { BatchWriter, type RecordWriter } from "./jsonl.ts";

/**
 * Turns one value into its CSV cell text.
 *
 * @example
 * ```ts
 * import { csvCell } from "./csv.ts";
 * console.log(csvCell(["h2", "http/1.1"])); // ["h2","http/1.1"]
 * console.log(csvCell(null) === ""); // true
 * ```
 */
export function csvCell(v: FeatureValue | undefined): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  if (typeof v === "boolean") return v ? "true" : "false";
  return JSON.stringify(v);
}

/**
 * Writes records as CSV to a byte stream, in batches (1000 rows, or what is queued 200 ms after a row).
 *
 * @example
 * ```ts
 * import { CsvWriter } from "./csv.ts";
 * const w = new CsvWriter(Deno.stdout.writable, [
 *   { name: "src_ip", type: "str", description: "" },
 *   { name: "total_packets", type: "int", description: "" },
 * ]);
 * await w.write({ src_ip: "10.0.0.1", total_packets: 3 });
 * await w.close(); // src_ip,total_packets\n10.0.0.1,3
 * ```
 */
export class CsvWriter extends BatchWriter implements RecordWriter {
  private readonly enc = new TextEncoder();
  private readonly names: string[];
  private rows: string[][] = [];
  private headerDone = false;

  constructor(
    stream: WritableStream<Uint8Array>,
    features: readonly FeatureSpec[],
    closeStream = false,
  ) {
    super(stream, closeStream);
    this.names = features.map((f) => f.name);
  }

  /** Queues a record; writes the batch when it is large (or 200 ms later). */
  write(record: FlowRecord): Promise<void> {
    const row = new Array<string>(this.names.length);
    for (let i = 0; i < this.names.length; i++) row[i] = csvCell(record[this.names[i]]);
    this.rows.push(row);
    return this.queued(this.rows.length >= 1000);
  }

  /** The queued rows (and the header, the first time); a run without records still writes the header. */
  protected take(): Uint8Array | null {
    if (this.headerDone && this.rows.length === 0) return null;
    const text = stringify(this.rows, { header: !this.headerDone, columns: this.names, eof: true });
    this.headerDone = true;
    this.rows = [];
    return this.enc.encode(text);
  }
}
