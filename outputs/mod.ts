/**
 * Choosing and opening an output: JSON Lines (default), CSV or Parquet, to a file or stdout, gzip-compressed
 * when the file name ends in `.gz`. Also the JSON Lines reader the filter subcommands (`anon`,
 * `label-subnets`) use.
 *
 * @module
 */
import type { FeatureSpec, FeatureType, FlowRecord } from "../lib/extractor.ts";
import { InputError } from "../lib/extract.ts";
import { allExtractors, selectExtractors } from "../lib/registry.ts";
import { LABEL_FEATURES } from "../lib/subnets.ts";
import { splitName } from "../lib/options.ts";
import { CsvWriter } from "./csv.ts";
import { JsonlWriter, type RecordWriter } from "./jsonl.ts";
import { ParquetRecordWriter } from "./parquet.ts";
import { idpExtractor, ipfixCountersExtractor } from "./ipfix.ts";
import { openOutputFile } from "../lib/cli/common.ts";
import { type ByteReader, DecompressionError, openCapture, streamReader } from "../lib/capture_file.ts";
import { whyUnreadable } from "../lib/why_unreadable.ts";

export type { RecordWriter } from "./jsonl.ts";

/** A {@linkcode RecordWriter} as {@linkcode openRecordWriter} opens it: one that can always be aborted. */
export type OpenedRecordWriter = RecordWriter & { abort(reason?: unknown): Promise<void> };

/** Output formats. */
export type OutputFormat = "jsonl" | "csv" | "parquet";

/**
 * The formats, in the order `--format` lists them.
 *
 * @example
 * ```ts
 * import { OUTPUT_FORMATS } from "./mod.ts";
 * console.log(OUTPUT_FORMATS.join(", ")); // jsonl, csv, parquet
 * ```
 */
export const OUTPUT_FORMATS: readonly OutputFormat[] = ["jsonl", "csv", "parquet"];

/**
 * A bad output choice (unknown format, binary to a terminal): the CLI exits 2.
 *
 * @example
 * ```ts
 * import { OutputChoiceError } from "./mod.ts";
 * console.log(new OutputChoiceError("x") instanceof RangeError); // true
 * ```
 */
export class OutputChoiceError extends RangeError {}

/**
 * The format and compression a path asks for by its extension (`.jsonl`, `.json`, `.ndjson`, `.csv`,
 * `.parquet`, each optionally `.gz`); format null when the extension says nothing.
 *
 * @example
 * ```ts
 * import { formatFromPath } from "./mod.ts";
 * console.log(formatFromPath("flows.csv.gz")); // { format: "csv", gzip: true }
 * ```
 */
export function formatFromPath(path: string): { format: OutputFormat | null; gzip: boolean } {
  const gzip = /\.gz$/i.test(path);
  const base = gzip ? path.slice(0, -3) : path;
  const m = /\.([a-z0-9]+)$/i.exec(base);
  const ext = m ? m[1].toLowerCase() : "";
  const format: OutputFormat | null = ext === "csv"
    ? "csv"
    : ext === "parquet" || ext === "pq"
    ? "parquet"
    : ext === "jsonl" || ext === "ndjson" || ext === "json"
    ? "jsonl"
    : null;
  return { format, gzip };
}

/**
 * The declared columns of records made with the feature groups `groups` (all when absent), plus
 * `src_labels`/`dst_labels` when `labels` is set: the header of CSV and the schema of Parquet.
 *
 * @example
 * ```ts
 * import { recordFeatures } from "./mod.ts";
 * console.log(recordFeatures(["timing"])[0].name); // src_ip
 * ```
 */
export function recordFeatures(groups?: string[], labels = false): FeatureSpec[] {
  const out = selectExtractors(groups).flatMap((e) => [...e.features]);
  if (labels) out.push(...LABEL_FEATURES);
  return out;
}

/**
 * Declared columns for records whose groups are not known (JSON Lines read back): every key of `records`, in
 * order of first appearance, with its declared spec where one exists (also under the names
 * `--bidirectional-split` gives), else a type guessed from its first value that is not null.
 *
 * @example
 * ```ts
 * import { inferFeatures } from "./mod.ts";
 * console.log(inferFeatures({ src_ip: "10.0.0.1", x: 1.5 }).map((f) => f.type)); // ["str", "float"]
 * console.log(inferFeatures([{ y: null }, { y: true, z: [1] }]).map((f) => f.type)); // ["bool", "list"]
 * ```
 */
export function inferFeatures(records: FlowRecord | readonly FlowRecord[]): FeatureSpec[] {
  const all = Array.isArray(records) ? records : [records as FlowRecord];
  const known = new Map<string, FeatureSpec>();
  for (const e of allExtractors()) {
    for (const f of e.features) {
      known.set(f.name, f);
      const split = splitName(f.name);
      if (split !== f.name) known.set(split, { ...f, name: split });
    }
  }
  // The columns CLI options add (--label, --ipfix, --ipfix-template idp) keep their declared types too: guessed
  // from the first records, a counter was a double, and a column null in them a string.
  for (const f of [...LABEL_FEATURES, ...ipfixCountersExtractor().features, ...idpExtractor().features]) {
    known.set(f.name, f);
  }
  const names = new Set<string>();
  for (const r of all) for (const name of Object.keys(r)) names.add(name);
  return [...names].map((name) => {
    const k = known.get(name);
    if (k) return k;
    const v = all.find((r) => r[name] !== null && r[name] !== undefined)?.[name] ?? null;
    const type: FeatureType = typeof v === "number"
      ? "float"
      : typeof v === "boolean"
      ? "bool"
      : Array.isArray(v)
      ? "list"
      : v !== null && typeof v === "object"
      ? "dict"
      : "str";
    return { name, type, description: "" };
  });
}

/** Options of {@linkcode openRecordWriter}. */
export interface OpenOptions {
  /** Compress with gzip (default: when the path ends in `.gz`). */
  gzip?: boolean;
  /** Parquet rows per row group (default 10 000). */
  rowGroupSize?: number;
  /**
   * With `features` null, the columns of an output that gets no record (default: none, a Parquet file of no
   * column, which DuckDB refuses and which empties a pyarrow dataset it is read first in).
   */
  columnsWhenEmpty?: readonly FeatureSpec[];
  /**
   * JSON Lines and CSV: called once when a batch written in the background (on a timer, 200 ms after a record)
   * fails, before a later record could tell: a live capture stops then (see `BatchWriter.onFailure`).
   */
  onFailure?: (error: unknown) => void;
}

/** The writers `openRecordWriter` makes: all of them can abort. */
type AbortableWriter = RecordWriter & { abort(reason?: unknown): Promise<void> };

/** Wraps a writer so that `close` also waits for the compression pipe and closes the file. */
class SinkWriter implements RecordWriter {
  private inner: AbortableWriter | null = null;
  /** JSON Lines and CSV serialise a record in `write`, Parquet copies its values into columns. */
  readonly writesAtOnce = true;
  /**
   * Records held until the columns are known, when they are taken from the records: up to `inferFrom` of them,
   * so that a column missing or null in the first record still gets its place and type.
   */
  private held: FlowRecord[] = [];
  constructor(
    private readonly open: (features: readonly FeatureSpec[]) => AbortableWriter,
    private readonly features: readonly FeatureSpec[] | null,
    private readonly done: () => Promise<void>,
    /** Aborts the stream `open` writes to, while no writer holds it. */
    private readonly abortStream: (reason?: unknown) => Promise<void>,
    private readonly inferFrom = 1,
    private readonly whenEmpty: readonly FeatureSpec[] = [],
  ) {
    if (features !== null) this.inner = open(features);
  }

  private written = false;

  /** The columns taken from the first records (null when declared): a later record must fit in them. */
  private inferred: Set<string> | null = null;
  private count = 0;

  async write(record: FlowRecord): Promise<void> {
    this.count++;
    if (this.inner === null) {
      // Copied: a caller may reuse its record object once this returns.
      this.held.push({ ...record });
      if (this.held.length < this.inferFrom) return;
      await this.openHeld();
      return;
    }
    if (this.inferred !== null) this.refuseNewColumn(record);
    this.written = true;
    return await this.inner.write(record);
  }

  /**
   * Fails on a record with a column the first records did not have: CSV's header and Parquet's schema are
   * written before it, and leaving its value out would lose it without a word (records of two shapes mixed in
   * one input, e.g. two extractions with different groups).
   */
  private refuseNewColumn(record: FlowRecord): void {
    for (const k in record) {
      if (!this.inferred!.has(k)) {
        const first = this.inferFrom === 1 ? "the first record" : `the first ${this.inferFrom} records`;
        throw new InputError(
          `record ${this.count} has a column ${k} that ${first} did not have, and the output's columns were ` +
            `taken from ${
              this.inferFrom === 1 ? "it" : "them"
            }: split the input by shape, or write JSON Lines`,
        );
      }
    }
  }

  /** Opens the writer with the columns of the records held, and writes them. */
  private async openHeld(): Promise<void> {
    const held = this.held;
    this.held = [];
    const columns = held.length === 0 ? [...this.whenEmpty] : inferFeatures(held);
    this.inferred = new Set(columns.map((c) => c.name));
    this.inner = this.open(columns);
    for (const r of held) {
      this.written = true;
      await this.inner.write(r);
    }
  }

  async close(): Promise<void> {
    if (this.inner === null) {
      try {
        await this.openHeld();
      } catch (e) {
        // A held record the output cannot hold: the ones before it are written, as when it comes later.
        await this.abort(e).catch(() => {});
        throw e;
      }
    }
    await this.inner!.close();
    await this.done();
  }

  /**
   * Ends a run that failed: what was written stays (the writer is closed, its last batch included); with
   * nothing written, the stream is aborted, so that a file keeps its former content.
   */
  async abort(reason?: unknown): Promise<void> {
    if (this.held.length > 0) await this.openHeld();
    if (this.written) return await this.close();
    if (this.inner === null) await this.abortStream(reason);
    else await this.inner.abort(reason);
    await this.done().catch(() => {});
  }
}

/**
 * Opens a record writer on a file path (`-` for stdout) or a byte stream. The format is `format` when given,
 * else the path's extension, else JSON Lines; `.gz` compresses. `features` are the declared columns (CSV header,
 * Parquet schema); null takes them from the first record. Throws an {@linkcode InputError} when the file
 * cannot be created and an {@linkcode OutputChoiceError} for an unknown format or Parquet to a terminal.
 * A file is emptied only when output begins; `abort` ends a run that failed, keeping what was written, or,
 * when nothing was, the file's former content.
 *
 * @example
 * ```ts
 * import { openRecordWriter, recordFeatures } from "./mod.ts";
 * const w = await openRecordWriter("flows.csv", undefined, recordFeatures());
 * await w.write({ src_ip: "10.0.0.1", dst_ip: "10.0.0.2" });
 * await w.close();
 * ```
 */
export async function openRecordWriter(
  target: string | WritableStream<Uint8Array>,
  format: OutputFormat | string | undefined,
  features: readonly FeatureSpec[] | null,
  options: OpenOptions = {},
): Promise<OpenedRecordWriter> {
  const byPath = typeof target === "string" && target !== "-"
    ? formatFromPath(target)
    : { format: null, gzip: false };
  const fmt = format ?? byPath.format ?? "jsonl";
  if (!OUTPUT_FORMATS.includes(fmt as OutputFormat)) {
    throw new OutputChoiceError(`unknown output format "${fmt}"; supported: ${OUTPUT_FORMATS.join(", ")}`);
  }
  const gzip = options.gzip ?? byPath.gzip;
  const toStdout = target === "-";
  if (toStdout && (fmt === "parquet" || gzip) && Deno.stdout.isTerminal()) {
    throw new OutputChoiceError(`refusing to write ${gzip ? "gzip" : "Parquet"} to a terminal; use -o FILE`);
  }
  let base: WritableStream<Uint8Array>;
  let closeBase: boolean;
  if (typeof target !== "string") {
    base = target;
    closeBase = true;
  } else if (toStdout) {
    base = Deno.stdout.writable;
    closeBase = false;
  } else {
    base = await openOutputFile(target);
    closeBase = true;
  }
  let stream = base;
  let closeStream = closeBase;
  let done = () => Promise.resolve();
  if (gzip) {
    const gz = gzipInto(base, { preventClose: !closeBase, preventAbort: !closeBase });
    stream = gz.writable;
    closeStream = true;
    done = () => gz.piped;
  }
  const open = (f: readonly FeatureSpec[]): AbortableWriter => {
    if (fmt === "parquet") {
      return new ParquetRecordWriter(stream, f, { closeStream, rowGroupSize: options.rowGroupSize });
    }
    const w = fmt === "csv" ? new CsvWriter(stream, f, closeStream) : new JsonlWriter(stream, closeStream);
    w.onFailure = options.onFailure ?? null;
    return w;
  };
  // A stream the writer does not own (stdout) is left usable.
  const abortStream = (reason?: unknown) =>
    closeStream ? stream.abort(reason).catch(() => {}) : Promise.resolve();
  // Columns taken from the records: Parquet, which holds a row group anyway, takes them from its first
  // thousand records (copies, held until then), CSV, which streams, from the first.
  const inferFrom = fmt === "parquet" ? Math.min(options.rowGroupSize ?? 10000, 1000) : 1;
  return new SinkWriter(
    open,
    fmt === "jsonl" ? [] : features,
    done,
    abortStream,
    inferFrom,
    options.columnsWhenEmpty,
  );
}

/**
 * A gzip compressor writing into `base`: `writable` takes the bytes, and `piped` settles once the compressed
 * bytes are all in `base` (its rejection is handled: a failed write of the file, a full disk, rejects it before
 * it is awaited, and an unhandled rejection ended the process with a stack trace; awaiting it still gives the
 * error). A failed write or close of `writable` throws the pipe's error, the file's, rather than the
 * compressor's own "Writable stream is closed or errored", which a write in progress got when the file's error
 * reached it first (a race: the message depended on timing).
 *
 * @example
 * ```ts
 * import { gzipInto } from "./mod.ts";
 * const chunks: Uint8Array[] = [];
 * const gz = gzipInto(new WritableStream({ write: (c) => void chunks.push(c) }));
 * const w = gz.writable.getWriter();
 * await w.write(new TextEncoder().encode("x\n"));
 * await w.close();
 * await gz.piped;
 * console.log(chunks.length > 0); // true
 * ```
 */
export function gzipInto(
  base: WritableStream<Uint8Array>,
  options: StreamPipeOptions = {},
): { writable: WritableStream<Uint8Array>; piped: Promise<void> } {
  const cs = new CompressionStream("gzip");
  const piped = cs.readable.pipeTo(base, options);
  piped.catch(() => {});
  const writer = (cs.writable as WritableStream<Uint8Array>).getWriter();
  // The pipe ends once the compressor is errored or closed, so this settles whenever a write failed.
  const rootCause = async (e: unknown): Promise<never> => {
    throw await piped.then(() => e, (cause) => cause);
  };
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => writer.write(chunk).catch(rootCause),
    close: () => writer.close().catch(rootCause),
    abort: (reason) => writer.abort(reason),
  });
  return { writable, piped };
}

/**
 * Reads the JSON Lines records of `source` (as {@linkcode readJsonLines}), writes each as `transform` returns
 * it, and closes `writer`; returns the records read and the lines left out. Up to five lines that are not JSON
 * objects are named in a warning on stderr. On an error the writer is aborted, which keeps what was written
 * (its last batch too), so that a bad record or a cut input loses nothing before it. An input of lines none of
 * which is a record is not JSON Lines: the writer is aborted too, with nothing written (an -o file is left as
 * it was).
 *
 * @example
 * ```ts
 * import { openRecordWriter, rewriteJsonLines } from "./mod.ts";
 * const writer = await openRecordWriter("-", "jsonl", null);
 * const { records } = await rewriteJsonLines("flows.jsonl", writer, (r) => ({ ...r, seen: true }));
 * console.log(records);
 * ```
 */
export async function rewriteJsonLines(
  source: string,
  writer: OpenedRecordWriter,
  transform: (record: FlowRecord) => FlowRecord,
): Promise<{ records: number; bad: number }> {
  let bad = 0, records = 0;
  try {
    const warn = (n: number): void => {
      if (bad++ < 5) {
        console.error(
          `jj: warning: ${source === "-" ? "<stdin>" : source}:${n}: not a JSON object; left out`,
        );
      }
    };
    for await (const rec of readJsonLines(source, warn)) {
      records++;
      await writer.write(transform(rec));
    }
  } catch (e) {
    await writer.abort(e).catch(() => {});
    throw e;
  }
  // Lines, and not one record among them: not JSON Lines (a capture, a text file), which the command refuses.
  // Aborted with nothing written, an -o file keeps its former content (and a new one is not made).
  if (records === 0 && bad > 0) await writer.abort();
  else await writer.close();
  return { records, bad };
}

/**
 * Reads JSON Lines records from a path (`-` for stdin) or a stream; a path's gzip is decompressed, told by its
 * name or its bytes, all members of it. Lines that are not JSON objects are reported to `onBad` (line number,
 * text) and skipped; blank lines are ignored. Throws an {@linkcode InputError} when the file cannot be opened,
 * and when its gzip stream is cut or corrupt (after yielding the records before the damage).
 *
 * @example
 * ```ts
 * import { readJsonLines } from "./mod.ts";
 * for await (const rec of readJsonLines("flows.jsonl", (n) => console.error(`bad line ${n}`))) {
 *   console.log(rec.src_ip);
 * }
 * ```
 */
export async function* readJsonLines(
  source: string | ReadableStream<Uint8Array>,
  onBad: (line: number, text: string) => void = () => {},
): AsyncGenerator<FlowRecord, void, void> {
  let input: { reader: ByteReader; close(): void | Promise<void> };
  let ended = false;
  if (typeof source !== "string") {
    const reader = streamReader(source);
    // Left before its end (the consumer stopped), a caller's stream is cancelled, as extractFlows does.
    input = { reader, close: () => ended ? reader.close() : reader.cancel() };
  } else {
    // As captures are opened: gzip told by its bytes too (stdin, a file not named .gz), every member read.
    try {
      input = await openCapture(source);
    } catch (e) {
      throw new InputError(`cannot read ${source === "-" ? "<stdin>" : source}: ${whyUnreadable(e)}`);
    }
  }
  const name = source === "-" ? "<stdin>" : typeof source === "string" ? source : "the input";
  const decoder = new TextDecoder();
  const chunk = new Uint8Array(1 << 16);
  /** The pieces of the line not yet ended. */
  const pieces: string[] = [];
  let lineNo = 0;
  const parse = (line: string): FlowRecord | null => {
    lineNo++;
    if (line.trim() === "") return null;
    try {
      const v = JSON.parse(line);
      if (v !== null && typeof v === "object" && !Array.isArray(v)) return v as FlowRecord;
    } catch { /* reported below */ }
    onBad(lineNo, line);
    return null;
  };
  try {
    for (;;) {
      let n: number | null;
      try {
        n = await input.reader.read(chunk);
      } catch (e) {
        if (!(e instanceof DecompressionError)) throw e;
        throw new InputError(
          `${name}: the gzip stream is cut or corrupt (${e.message}) after line ${lineNo}; the records before ` +
            "it were written",
        );
      }
      if (n === null) break;
      // Only the new text is searched, and a line's earlier pieces are joined once it ends: joining and
      // searching the whole unfinished line at each chunk made a long line quadratic (a 40 MB line: 11 s).
      const text = decoder.decode(chunk.subarray(0, n), { stream: true });
      let start = 0;
      for (;;) {
        const nl = text.indexOf("\n", start);
        if (nl < 0) break;
        const piece = text.slice(start, nl);
        const rec = parse(pieces.length === 0 ? piece : pieces.join("") + piece);
        pieces.length = 0;
        start = nl + 1;
        if (rec !== null) yield rec;
      }
      if (start < text.length) pieces.push(text.slice(start));
    }
    pieces.push(decoder.decode());
    ended = true;
    const rest = pieces.join("");
    if (rest.length > 0) {
      const rec = parse(rest);
      if (rec !== null) yield rec;
    }
  } finally {
    // Stopped early (the consumer broke off) or done: close the input.
    await input.close();
  }
}
