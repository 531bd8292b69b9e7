/**
 * Parquet output with `hyparquet-writer`, streamed: records are buffered into columns and every `rowGroupSize`
 * rows (10 000 by default) become one row group, encoded and written out at once, so memory stays bounded by one
 * row group whatever the number of flows. It uses the library's incremental `ParquetWriter` (one `write` call
 * per row group, then `finish` for the footer) over a `Writer` whose `flush` hands the bytes encoded so far to
 * the output stream.
 *
 * Column types come from the declared feature types: `int` → INT64, `float` → DOUBLE, `str` → UTF-8 string,
 * `bool` → BOOLEAN, `list` and `dict` → UTF-8 string holding JSON text. Every column is optional (null when
 * the feature is undefined for a flow). A value of the wrong type is written as null rather than failing.
 *
 * @module
 */
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import type { FeatureSpec, FeatureType, FlowRecord } from "../lib/extractor.ts";
import type { RecordWriter } from "./jsonl.ts";

/** Parquet schema element (the subset used here). */
interface SchemaElement {
  name: string;
  num_children?: number;
  type?: "BOOLEAN" | "INT64" | "DOUBLE" | "BYTE_ARRAY";
  converted_type?: "UTF8";
  repetition_type?: "OPTIONAL" | "REQUIRED";
}

/**
 * Rows per row group unless told otherwise.
 *
 * @example
 * ```ts
 * import { DEFAULT_ROW_GROUP_SIZE } from "./parquet.ts";
 * console.log(DEFAULT_ROW_GROUP_SIZE); // 10000
 * ```
 */
export const DEFAULT_ROW_GROUP_SIZE = 10000;

/** A hyparquet-writer `Writer` that hands its bytes to a stream on every flush (after each row group). */
class StreamByteWriter extends ByteWriter {
  constructor(private readonly out: WritableStreamDefaultWriter<Uint8Array>) {
    super(1 << 16);
  }

  flush(): Promise<void> {
    if (this.index === 0) return Promise.resolve();
    const chunk = new Uint8Array(this.buffer, 0, this.index).slice();
    this.index = 0;
    return this.out.write(chunk);
  }

  override finish(): Promise<void> {
    // A file of no row group is whole in the buffer here (only a row group flushes it).
    if (this.noRowGroup) markEmptyRowGroupList(new Uint8Array(this.buffer, 0, this.index));
    return this.flush();
  }

  /** Set when the file has no row group: see {@linkcode markEmptyRowGroupList}. */
  noRowGroup = false;
}

/**
 * Gives the empty `row_groups` list of a file without rows its element type, STRUCT, in place. hyparquet-writer
 * 0.17 writes an empty list's header as 0x00 (element type 0), which Thrift's compact protocol does not define:
 * arrow-rs's readers (polars, DataFusion, parquet-wasm) refuse the file ("Expected list element type of Struct
 * but got Byte"), where DuckDB and hyparquet read it. `file` is the whole file; FileMetaData's fields 1 to 3
 * (version, schema, num_rows) are skipped to reach field 4. Leaves the bytes alone when they are not as expected.
 */
function markEmptyRowGroupList(file: Uint8Array): void {
  const n = file.length;
  if (n < 12) return;
  const metaLen = file[n - 8] | (file[n - 7] << 8) | (file[n - 6] << 16) | (file[n - 5] << 24);
  let p = n - 8 - metaLen;
  if (p < 4) return;
  const varint = (): number => {
    let v = 0, shift = 0;
    while (p < n) {
      const b = file[p++];
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
    throw new RangeError("cut");
  };
  // Skips one value of compact type `t` (lists' elements: booleans take a byte each).
  const skip = (t: number): void => {
    if (t === 1 || t === 2) return;
    if (t === 3) p++;
    else if (t === 4 || t === 5 || t === 6) varint();
    else if (t === 7) p += 8;
    else if (t === 8) {
      const len = varint();
      p += len;
    } else if (t === 9 || t === 10) {
      const h = file[p++];
      const size = h >> 4 === 15 ? varint() : h >> 4, e = h & 0x0f;
      for (let i = 0; i < size; i++) e === 1 || e === 2 ? p++ : skip(e);
    } else if (t === 12) {
      for (;;) {
        const h = file[p++];
        if (h === 0) return;
        if ((h >> 4) === 0) varint();
        skip(h & 0x0f);
      }
    } else throw new RangeError(`compact type ${t}`);
  };
  try {
    let field = 0;
    while (p < n - 8) {
      const h = file[p];
      if (h === 0) return;
      field = (h >> 4) === 0 ? NaN : field + (h >> 4);
      p++;
      if (Number.isNaN(field)) return;
      if (field === 4 && (h & 0x0f) === 9) {
        if (file[p] === 0x00) file[p] = 0x0c;
        return;
      }
      if (field > 4) return;
      skip(h & 0x0f);
    }
  } catch {
    // Not the layout expected: left as written.
  }
}

function schemaElement(f: FeatureSpec): SchemaElement {
  const name = f.name;
  switch (f.type) {
    case "int":
      return { name, type: "INT64", repetition_type: "OPTIONAL" };
    case "float":
      return { name, type: "DOUBLE", repetition_type: "OPTIONAL" };
    case "bool":
      return { name, type: "BOOLEAN", repetition_type: "OPTIONAL" };
    default:
      return { name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" };
  }
}

/**
 * Converts a value for a column of the given feature type (null when it does not fit).
 *
 * @example
 * ```ts
 * import { parquetValue } from "./parquet.ts";
 * console.log(parquetValue("int", 3)); // 3n
 * console.log(parquetValue("list", [1, 2])); // [1,2]
 * console.log(parquetValue("int", 1.5)); // null
 * console.log(parquetValue("int", 2 ** 60)); // 1152921504606846976n
 * ```
 */
export function parquetValue(type: FeatureType, v: unknown): bigint | number | boolean | string | null {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "int":
      // Any integer INT64 holds, as JSON Lines and CSV write it (past 2^53 a double is already rounded: the same
      // value in every format, where Parquet had null).
      return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 63
        ? BigInt(v)
        : typeof v === "bigint"
        ? v
        : null;
    case "float":
      // As JSON Lines and CSV: no NaN or Infinity (a plugin's 0/0 is null).
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    case "bool":
      return typeof v === "boolean" ? v : null;
    case "str":
      return typeof v === "string" ? v : typeof v === "object" ? JSON.stringify(v) : String(v);
    default:
      return JSON.stringify(v);
  }
}

/** A value in a few characters of JSON, for a message. */
function shortJson(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Options of {@linkcode ParquetRecordWriter}. */
export interface ParquetWriterOptions {
  /** Rows per row group (default 10 000). */
  rowGroupSize?: number;
  /** Close the stream at the end (else only release it). */
  closeStream?: boolean;
}

/**
 * Writes records as a Parquet file to a byte stream, one row group per `rowGroupSize` records.
 *
 * @example
 * ```ts
 * import { ParquetRecordWriter } from "./parquet.ts";
 * const file = await Deno.open("flows.parquet", { write: true, create: true, truncate: true });
 * const w = new ParquetRecordWriter(file.writable, [
 *   { name: "src_ip", type: "str", description: "" },
 *   { name: "total_packets", type: "int", description: "" },
 * ], { closeStream: true });
 * await w.write({ src_ip: "10.0.0.1", total_packets: 3 });
 * await w.close();
 * ```
 */
export class ParquetRecordWriter implements RecordWriter {
  private readonly out: WritableStreamDefaultWriter<Uint8Array>;
  private readonly pw: ParquetWriter;
  private readonly bytes: StreamByteWriter;
  private readonly features: readonly FeatureSpec[];
  private columns: (bigint | number | boolean | string | null)[][];
  private rows = 0;
  private readonly rowGroupSize: number;
  private readonly closeStream: boolean;
  /** Row groups written so far. */
  rowGroups = 0;
  /** Rows in the row groups written so far. */
  private written = 0;
  /** One record's values, checked before they are taken. */
  private readonly row: (bigint | number | boolean | string | null)[] = [];

  constructor(
    stream: WritableStream<Uint8Array>,
    features: readonly FeatureSpec[],
    options: ParquetWriterOptions = {},
  ) {
    this.out = stream.getWriter();
    this.features = features;
    this.rowGroupSize = Math.max(1, options.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE);
    this.closeStream = options.closeStream ?? false;
    const schema: SchemaElement[] = [
      { name: "root", num_children: features.length },
      ...features.map(schemaElement),
    ];
    this.bytes = new StreamByteWriter(this.out);
    this.pw = new ParquetWriter({
      writer: this.bytes,
      schema,
      createdBy: "jj",
      kvMetadata: [{
        key: "jj.json_columns",
        value: JSON.stringify(
          features.filter((f) => f.type === "list" || f.type === "dict").map((f) => f.name),
        ),
      }],
    });
    this.columns = features.map(() => []);
  }

  /**
   * Adds a record; writes a row group when `rowGroupSize` records are buffered. A value its column's type cannot
   * hold (a string or 12.5 in an int column, an object in a float one: records read back, whose columns' types
   * are declared or guessed from the first records) is an error naming it, as CSV refuses a record of other
   * columns: it was written null without a word, where JSON Lines and CSV keep it. A number that is not finite
   * is null, as JSON writes it.
   */
  async write(record: FlowRecord): Promise<void> {
    const f = this.features, row = this.row;
    for (let i = 0; i < f.length; i++) {
      const v = record[f[i].name];
      const value = parquetValue(f[i].type, v);
      if (value === null && v !== null && v !== undefined && !(typeof v === "number" && !isFinite(v))) {
        // Before any of the record is taken: the rows before it stay whole, and are written at close.
        const at = this.written + this.rows + 1;
        throw new Error(
          `record ${at}: column ${f[i].name} is ${
            f[i].type
          } in this Parquet file (declared, or taken from the ` +
            `first records) and cannot hold ${shortJson(v)}; JSON Lines and CSV keep every value`,
        );
      }
      row[i] = value;
    }
    for (let i = 0; i < f.length; i++) this.columns[i].push(row[i]);
    if (++this.rows >= this.rowGroupSize) await this.flushGroup();
  }

  private async flushGroup(): Promise<void> {
    if (this.rows === 0) return;
    const columnData = this.features.map((f, i) => ({ name: f.name, data: this.columns[i] }));
    this.columns = this.features.map(() => []);
    const n = this.rows;
    this.rows = 0;
    this.written += n;
    await this.pw.write({ columnData, rowGroupSize: n });
    this.rowGroups++;
  }

  /** Drops the buffered rows and aborts the stream, or only releases one it does not own (`closeStream`). */
  async abort(reason?: unknown): Promise<void> {
    this.columns = this.features.map(() => []);
    this.rows = 0;
    if (this.closeStream) await this.out.abort(reason).catch(() => {});
    else this.out.releaseLock();
  }

  /** Writes the last row group and the footer, then releases (or closes) the stream. */
  async close(): Promise<void> {
    await this.flushGroup();
    this.bytes.noRowGroup = this.rowGroups === 0;
    await this.pw.finish();
    if (this.closeStream) await this.out.close();
    else this.out.releaseLock();
  }
}
