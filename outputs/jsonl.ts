/**
 * JSON Lines output: one flow record per line, written in batches so that output starts at once and stays cheap.
 *
 * @module
 */
import type { FlowRecord } from "../lib/extractor.ts";

/**
 * A record as one line of JSON Lines: `JSON.stringify`'s text, with the line breaks it leaves raw in strings
 * escaped (NEL U+0085 and the line and paragraph separators U+2028 and U+2029, which a DNS name can hold, as
 * tshark writes it), so that a reader splitting lines at every Unicode line break (Python's `str.splitlines`)
 * still reads one record per line.
 *
 * @example
 * ```ts
 * import { jsonLine } from "./jsonl.ts";
 * console.log(jsonLine({ dns_query_name: "a\u2028b.test" })); // {"dns_query_name":"a\u2028b.test"}
 * ```
 */
export function jsonLine(record: unknown): string {
  const line = JSON.stringify(record);
  // Mostly no-op: a line of one-byte characters cannot hold the separators, and indexOf knows it at once.
  if (line.indexOf("\u0085") < 0 && line.indexOf("\u2028") < 0 && line.indexOf("\u2029") < 0) return line;
  return line.replace(/[\u0085\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * Where records go.
 *
 * @example
 * ```ts
 * import { JsonlWriter, type RecordWriter } from "./jsonl.ts";
 * const out: RecordWriter = new JsonlWriter(Deno.stdout.writable);
 * await out.write({ src_ip: "10.0.0.1", total_packets: 3 });
 * await out.close();
 * ```
 */
export interface RecordWriter {
  /** Writes one record. */
  write(record: FlowRecord): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
  /**
   * True when `write` is done with the record by the time it returns (it serialised it and keeps no reference),
   * so that the caller may reuse the record object (see `ExtractOptions.reuseRecords`).
   */
  readonly writesAtOnce?: boolean;
  /**
   * Stops without finishing: what is buffered is dropped and the stream is aborted, so that a file opened with
   * `openOutputFile` keeps its former content when nothing was written to it yet (a run that failed before its
   * first record). Optional: writers without it are closed instead.
   */
  abort?(reason?: unknown): Promise<void>;
}

/**
 * The batching both text writers share: records queue up and go out as one write when the batch is large, and
 * at most `delayMs` after the first record of a batch was queued (a timer), so that a source that pauses (a pipe,
 * a quiet live capture) still shows its flows at once. Writes never overlap (a timer's flush waits for the
 * write in progress); an error of a timer's flush is thrown by the next `write` or `close`.
 *
 * @example
 * ```ts
 * import { BatchWriter } from "./jsonl.ts";
 * class Lines extends BatchWriter {
 *   private lines: string[] = [];
 *   add(line: string): Promise<void> {
 *     this.lines.push(line);
 *     return this.queued(this.lines.length >= 100);
 *   }
 *   protected take(): Uint8Array | null {
 *     if (this.lines.length === 0) return null;
 *     const text = this.lines.join("\n") + "\n";
 *     this.lines = [];
 *     return new TextEncoder().encode(text);
 *   }
 * }
 * const w = new Lines(Deno.stdout.writable);
 * await w.add("x");
 * await w.close();
 * ```
 */
export abstract class BatchWriter {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private inFlight: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private failure: { error: unknown } | null = null;
  /**
   * Called once when a batch written on the timer fails (a full disk, a closed pipe), which the next `write`
   * would otherwise be the first to tell: a live capture on a quiet interface went on capturing for hours after
   * its output had failed.
   */
  onFailure: ((error: unknown) => void) | null = null;

  /** Writes to `stream`; `close` closes it when `closeStream` is true, and only releases it otherwise. */
  constructor(
    stream: WritableStream<Uint8Array>,
    private readonly closeStream = false,
    private readonly delayMs = 200,
  ) {
    this.writer = stream.getWriter();
  }

  /** The queued batch as bytes (valid until the next call), or null when nothing is queued. */
  protected abstract take(): Uint8Array | null;

  /** Called after queueing: flushes now when `full`, else makes sure a timer will. */
  protected queued(full: boolean): Promise<void> {
    // Rejected, not thrown: `write` returns a promise, and `write(r).catch(...)` must see the error.
    if (this.failure !== null) return Promise.reject(this.failure.error);
    if (full) return this.flush();
    if (this.timer === undefined) this.timer = setTimeout(this.onTimer, this.delayMs);
    return Promise.resolve();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    // Waits for the write too (flush starts it), so that its failure is known here.
    this.flush().then(() => this.settle()).catch((error) => {
      this.failure ??= { error };
      const told = this.onFailure;
      this.onFailure = null;
      told?.(error);
    });
  };

  /**
   * Starts writing what is queued, once the write before it is done, and returns without waiting for this one:
   * the stream writes (on another thread, for a file) while the caller makes the next batch. Its error, if any,
   * is thrown by the next `write`, `flush` or `close`.
   */
  async flush(): Promise<void> {
    // Inline, not through settle(): that would add a tick in which a second flush (the timer's) could also
    // find no write in progress and take a batch into the buffer being written.
    while (this.inFlight !== null) await this.inFlight;
    if (this.failure !== null) throw this.failure.error;
    const bytes = this.take();
    if (bytes === null) return;
    this.inFlight = this.writer.write(bytes).then(
      () => {
        this.inFlight = null;
      },
      (error) => {
        this.failure ??= { error };
        this.inFlight = null;
      },
    );
  }

  /** Waits for the write in progress, and throws the error of an earlier write. */
  private async settle(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
    if (this.failure !== null) throw this.failure.error;
  }

  /**
   * Drops what is queued and aborts the stream (see `RecordWriter.abort`); a stream this writer does not own
   * (`closeStream` false, e.g. stdout) is only released, so that it stays usable.
   */
  async abort(reason?: unknown): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.failure ??= { error: reason ?? new Error("aborted") };
    while (this.inFlight !== null) await this.inFlight;
    if (this.closeStream) await this.writer.abort(reason).catch(() => {});
    else this.writer.releaseLock();
  }

  /** Flushes, waits until everything is written, and releases (or closes) the stream. */
  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.settle();
    if (this.closeStream) await this.writer.close();
    else this.writer.releaseLock();
  }
}

/**
 * Writes records as JSON Lines to a byte stream, flushing whenever 256 KiB are pending, 200 ms after a record
 * when fewer are, and on `close`.
 *
 * @example
 * ```ts
 * import { JsonlWriter } from "./jsonl.ts";
 * const w = new JsonlWriter(Deno.stdout.writable);
 * await w.write({ src_ip: "10.0.0.1", total_packets: 3 });
 * await w.close();
 * ```
 */
export class JsonlWriter extends BatchWriter implements RecordWriter {
  private readonly enc = new TextEncoder();
  /** The batch being filled, encoded line by line as records come (no joined string, no second copy). */
  private buf = new Uint8Array(1 << 20);
  /** The batch being written, if any; filled again once that write is done (see `take`). */
  private spare = new Uint8Array(1 << 20);
  private size = 0;
  /** Records are serialised in `write`. */
  readonly writesAtOnce = true;

  /** Writes to `stream`; `close` closes it when `closeStream` is true, and only releases it otherwise. */
  constructor(stream: WritableStream<Uint8Array>, closeStream = false) {
    super(stream, closeStream);
  }

  /** Queues a record; writes the batch when it is large. */
  write(record: FlowRecord): Promise<void> {
    const line = jsonLine(record);
    // At most 3 bytes per UTF-16 unit, and the newline. A batch goes out at 256 KiB, but records keep coming
    // while a timer's flush waits for the write before it: the buffer then grows.
    const need = this.size + 3 * line.length + 1;
    if (need > this.buf.length) {
      const bigger = new Uint8Array(Math.max(need, 2 * this.buf.length));
      bigger.set(this.buf.subarray(0, this.size));
      this.buf = bigger;
    }
    this.size += this.enc.encodeInto(line, this.buf.subarray(this.size)).written;
    this.buf[this.size++] = 10;
    return this.queued(this.size >= 262144);
  }

  /**
   * The queued lines. The two buffers take turns: a batch's buffer is filled again only once its write is done
   * (`flush` takes the next batch after that).
   */
  protected take(): Uint8Array | null {
    const size = this.size;
    if (size === 0) return null;
    const full = this.buf;
    this.buf = this.spare;
    this.spare = full;
    this.size = 0;
    return full.subarray(0, size);
  }
}
