/**
 * JSON Lines output: one flow record per line, written in batches so that output starts at once and stays cheap.
 *
 * @module
 */
import type { FlowRecord } from "../lib/extractor.ts";

/** Where records go. */
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
}

/**
 * Writes records as JSON Lines to a byte stream, flushing whenever 256 KiB are pending (and on `close`).
 *
 * @example
 * ```ts
 * import { JsonlWriter } from "./jsonl.ts";
 * const w = new JsonlWriter(Deno.stdout.writable);
 * await w.write({ src_ip: "10.0.0.1", total_packets: 3 });
 * await w.close();
 * ```
 */
export class JsonlWriter implements RecordWriter {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly enc = new TextEncoder();
  private parts: string[] = [];
  private size = 0;
  private lastFlush = Date.now();
  private out = new Uint8Array(1 << 20);
  /** Records are serialised in `write`. */
  readonly writesAtOnce = true;

  /** Writes to `stream`; `close` closes it when `closeStream` is true, and only releases it otherwise. */
  constructor(stream: WritableStream<Uint8Array>, private readonly closeStream = false) {
    this.writer = stream.getWriter();
  }

  /** Queues a record; writes the batch when it is large. */
  async write(record: FlowRecord): Promise<void> {
    const line = JSON.stringify(record);
    this.parts.push(line);
    this.size += line.length + 1;
    // Flush on size, and at least every 200 ms so that a slow live source still shows its flows promptly.
    if (this.size >= 262144 || Date.now() - this.lastFlush > 200) await this.flush();
  }

  /** Writes what is queued. */
  async flush(): Promise<void> {
    this.lastFlush = Date.now();
    if (this.parts.length === 0) return;
    const text = this.parts.join("\n") + "\n";
    this.parts = [];
    this.size = 0;
    // encodeInto a reused buffer: encode() would allocate a fresh one for every batch.
    if (this.out.length < text.length * 3) this.out = new Uint8Array(text.length * 3);
    const { written } = this.enc.encodeInto(text, this.out);
    await this.writer.write(this.out.subarray(0, written));
  }

  /** Flushes and releases (or closes) the stream. */
  async close(): Promise<void> {
    await this.flush();
    if (this.closeStream) await this.writer.close();
    else this.writer.releaseLock();
  }
}
