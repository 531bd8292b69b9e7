/**
 * CSV output (RFC 4180 quoting by `csv-stringify`): a header with the declared feature names in order, then one
 * row per flow. `null` is an empty cell, booleans are `true`/`false`, lists and objects are JSON text. Fields a
 * record has beyond the declared ones are left out; declared ones it lacks are empty.
 *
 * @module
 */
import { stringify } from "csv-stringify/sync";
import type { FeatureSpec, FeatureValue, FlowRecord } from "../lib/extractor.ts";
import type { RecordWriter } from "./jsonl.ts";

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
 * Writes records as CSV to a byte stream, in batches (at most 1000 rows or 200 ms apart).
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
export class CsvWriter implements RecordWriter {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly enc = new TextEncoder();
  private readonly names: string[];
  private rows: string[][] = [];
  private headerDone = false;
  private lastFlush = Date.now();

  constructor(
    stream: WritableStream<Uint8Array>,
    features: readonly FeatureSpec[],
    private readonly closeStream = false,
  ) {
    this.writer = stream.getWriter();
    this.names = features.map((f) => f.name);
  }

  /** Queues a record; writes the batch when it is large or old. */
  async write(record: FlowRecord): Promise<void> {
    const row = new Array<string>(this.names.length);
    for (let i = 0; i < this.names.length; i++) row[i] = csvCell(record[this.names[i]]);
    this.rows.push(row);
    if (this.rows.length >= 1000 || Date.now() - this.lastFlush > 200) await this.flush();
  }

  /** Writes what is queued (and the header, the first time). */
  async flush(): Promise<void> {
    this.lastFlush = Date.now();
    if (this.headerDone && this.rows.length === 0) return;
    const text = stringify(this.rows, { header: !this.headerDone, columns: this.names, eof: true });
    this.headerDone = true;
    this.rows = [];
    await this.writer.write(this.enc.encode(text));
  }

  /** Flushes and releases (or closes) the stream. A run without records still writes the header. */
  async close(): Promise<void> {
    await this.flush();
    if (this.closeStream) await this.writer.close();
    else this.writer.releaseLock();
  }
}
