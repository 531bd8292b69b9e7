/**
 * The built-in capture reader: classic pcap (microsecond and nanosecond, both byte orders) and pcapng (several
 * sections, interfaces, link types and timestamp resolutions). It walks records in place in a large read buffer
 * and calls back once per packet; nothing per packet is allocated.
 *
 * @module
 */
import type { PacketCallback } from "./source.ts";
import { constants, createGunzip } from "node:zlib";

/**
 * Something bytes can be read from: a file, or stdin.
 *
 * @example
 * ```ts
 * import { type ByteReader, readCapture } from "./capture_file.ts";
 * using file = await Deno.open("testdata/http.pcap");
 * const reader: ByteReader = file;
 * let packets = 0;
 * await readCapture(reader, () => packets++);
 * console.log(packets > 0); // true
 * ```
 */
export interface ByteReader {
  /** Reads into `p`, returning the number of bytes read or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * A {@linkcode ByteReader} over a web stream (a gzip-decompressed file, stdin's `readable`); `close` releases
 * the stream's reader.
 *
 * @example
 * ```ts
 * import { streamReader } from "./capture_file.ts";
 * const r = streamReader(new Blob([new Uint8Array(4)]).stream());
 * console.log(await r.read(new Uint8Array(10))); // 4
 * r.close();
 * ```
 */
export function streamReader(
  stream: ReadableStream<Uint8Array>,
): ByteReader & { close(): void; cancel(): Promise<void> } {
  const r = stream.getReader();
  let left: Uint8Array | null = null;
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (left === null) {
        const { value, done } = await r.read();
        if (done) return null;
        // A stream of ArrayBuffers, or of other views, is read as their bytes; anything else is not a capture
        // (a string was read as no bytes at all: "empty input").
        const chunk: unknown = value;
        if (chunk instanceof Uint8Array) left = chunk;
        else if (ArrayBuffer.isView(chunk)) {
          left = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        } else if (chunk instanceof ArrayBuffer) left = new Uint8Array(chunk);
        else {
          throw new CaptureFormatError(
            `the stream gave ${
              typeof chunk === "object" ? Object.prototype.toString.call(chunk) : `a ${typeof chunk}`
            }` +
              " where bytes were expected (a ReadableStream of Uint8Array chunks)",
            0,
          );
        }
      }
      const n = Math.min(p.length, left.length);
      p.set(left.subarray(0, n));
      left = n < left.length ? left.subarray(n) : null;
      return n;
    },
    close() {
      r.releaseLock();
    },
    /** Cancels the stream (its source is told that nothing more will be read) and releases it. */
    async cancel() {
      await r.cancel().catch(() => {});
      r.releaseLock();
    },
  };
}

/**
 * A reader's warning about a gzip-compressed input, its offsets named for what they count: the decompressed
 * bytes (which can pass the file's size).
 *
 * @example
 * ```ts
 * import { decompressedOffsets } from "./capture_file.ts";
 * console.log(decompressedOffsets("truncated pcap record header at byte offset 401703"));
 * // truncated pcap record header at decompressed byte offset 401703
 * ```
 */
export function decompressedOffsets(warning: string): string {
  return warning.replace(/ byte offset /g, " decompressed byte offset ");
}

/** A compressed input that cannot be decompressed: the gzip stream is cut or corrupt. */
export class DecompressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecompressionError";
  }
}

/**
 * {@linkcode streamReader} over the gzip decompression of `stream`. The decompressor's own failures (a cut or
 * corrupt stream) come out of `read` as a {@linkcode DecompressionError}, so that callers tell them from errors
 * of their own code.
 *
 * @example
 * ```ts
 * import { gunzipReader } from "./capture_file.ts";
 * const bytes = new Blob([new Uint8Array([1, 2, 3])]).stream().pipeThrough(new CompressionStream("gzip"));
 * const r = gunzipReader(bytes as ReadableStream<Uint8Array>);
 * const buf = new Uint8Array(8);
 * console.log(await r.read(buf)); // 3
 * ```
 */
export function gunzipReader(stream: ReadableStream<Uint8Array>): ByteReader & { close(): void } {
  // node:zlib rather than DecompressionStream: it reads every member of a multi-member file (`cat a.gz b.gz`,
  // pigz, bgzip), where DecompressionStream fails at the second; and it is faster here (1.1 s against 1.5 s for
  // 214 MB). Its output is queued here rather than read through a web stream: an errored web stream drops the
  // chunks still queued in it, and a cut stream lost everything decompressed before the cut (all of a small
  // file). Z_SYNC_FLUSH hands on all that each input chunk decompresses to.
  const gz = createGunzip({ flush: constants.Z_SYNC_FLUSH });
  const queue: Uint8Array[] = [];
  let queued = 0, ended = false;
  let failure: DecompressionError | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const fail = (e: unknown): void => {
    failure ??= new DecompressionError(e instanceof Error ? e.message : String(e));
    notify();
  };
  gz.on("data", (c: Uint8Array) => {
    queue.push(c);
    queued += c.length;
    if (queued >= GUNZIP_QUEUE) gz.pause();
    notify();
  });
  gz.on("end", () => {
    ended = true;
    notify();
  });
  gz.on("error", fail);
  const source = stream.getReader();
  (async () => {
    for (;;) {
      const { done, value } = await source.read();
      if (done) break;
      if (!gz.write(value)) {
        await new Promise<void>((r) => {
          const done = () => {
            gz.off("drain", done).off("close", done);
            r();
          };
          gz.on("drain", done).on("close", done);
        });
      }
      if (gz.destroyed) return;
    }
    gz.end();
  })().catch(fail);
  return {
    async read(p: Uint8Array): Promise<number | null> {
      while (queue.length === 0) {
        if (failure !== null) throw failure;
        if (ended) return null;
        await new Promise<void>((r) => wake = r);
      }
      const c = queue[0];
      const n = Math.min(p.length, c.length);
      p.set(c.subarray(0, n));
      if (n < c.length) queue[0] = c.subarray(n);
      else queue.shift();
      queued -= n;
      if (queued < GUNZIP_QUEUE && gz.isPaused()) gz.resume();
      return n;
    },
    close() {
      gz.destroy();
      source.cancel().catch(() => {});
    },
  };
}

/** Decompressed bytes queued ahead of the reader at most (then decompression waits for it). */
const GUNZIP_QUEUE = 8 << 20;

/** What {@linkcode openCapture} opens: a reader of the capture's bytes. */
export interface OpenedCapture {
  /** The capture's bytes (decompressed, when `gzip`). */
  reader: ByteReader;
  /** Closes the input. */
  close(): void;
  /** Whether the input is gzip-compressed: the reader's offsets count decompressed bytes. */
  gzip: boolean;
}

/**
 * Opens a capture by path for {@linkcode readCapture} (`-`: stdin): the file itself, or its gzip decompression
 * when the name ends in `.gz` or the bytes start with gzip's magic number, so that a compressed capture is read
 * whatever its name, also on stdin. A regular file is read from itself (and so read ahead, see `ReadBuffer`).
 * Errors opening it are thrown as they come; `close` closes it; `gzip` says whether it is decompressed (the
 * reader's offsets then count decompressed bytes).
 *
 * @example
 * ```ts
 * import { openCapture, readCapture } from "./capture_file.ts";
 * const input = await openCapture("testdata/http.pcap");
 * const r = await readCapture(input.reader, () => {});
 * input.close();
 * console.log(r.format); // pcap
 * ```
 */
export async function openCapture(path: string): Promise<OpenedCapture> {
  if (path === "-") return sniffedPipe(Deno.stdin, false, () => {});
  const file = await Deno.open(path);
  const close = () => {
    try {
      file.close();
    } catch { /* already closed by the stream */ }
  };
  try {
    let gzip = /\.gz$/i.test(path);
    // A pipe by name (a FIFO, a shell's <(...)) cannot seek back: read as stdin is.
    if (!(await file.stat()).isFile) return sniffedPipe(file, gzip, close);
    if (!gzip) {
      gzip = isGzip(await readHead(file, new Uint8Array(2)));
      await file.seek(0, Deno.SeekMode.Start);
    }
    return { reader: gzip ? gunzipReader(file.readable) : file, close, gzip };
  } catch (e) {
    close();
    throw e;
  }
}

/**
 * A capture given as a stream or a {@linkcode ByteReader} (not a path) for {@linkcode readCapture}: its first
 * bytes are read to tell gzip by its magic number, as a path's are, and the capture is read through its
 * decompression when they are. `close` does nothing: the caller owns the source.
 *
 * @example
 * ```ts
 * import { openCaptureReader, streamReader } from "./capture_file.ts";
 * const gz = new Blob([new Uint8Array([1, 2])]).stream().pipeThrough(new CompressionStream("gzip"));
 * console.log((await openCaptureReader(streamReader(gz))).gzip); // true
 * ```
 */
export function openCaptureReader(source: ByteReader): Promise<OpenedCapture> {
  return sniffedPipe(source, false, () => {});
}

/**
 * A stream that cannot seek back (stdin, a FIFO): its first bytes are read to tell gzip by its magic number,
 * then handed on before the rest. Not an `FsFile` to the reader, so that nothing is read ahead of need.
 */
async function sniffedPipe(
  input: ByteReader,
  gzip: boolean,
  close: () => void,
): Promise<OpenedCapture> {
  const head = await readHead(input, new Uint8Array(65536));
  const rest = prefixedReader(head, input);
  const gzipped = gzip || isGzip(head);
  return { reader: gzipped ? gunzipReader(byteStream(rest)) : rest, close, gzip: gzipped };
}

/** Reads at least 2 bytes into `buf` (fewer only at the end of the input), for a look at a stream's start. */
async function readHead(reader: ByteReader, buf: Uint8Array): Promise<Uint8Array> {
  let n = 0;
  while (n < 2) {
    const got = await reader.read(buf.subarray(n));
    // null ends the input; so does undefined, from a reader that returns nothing at its end.
    if (got === null || got === undefined) break;
    n += got;
  }
  return buf.subarray(0, n);
}

/** gzip's magic number. */
function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * Whether `path` is a regular file (not stdin, a FIFO or a device) that is not gzip-compressed (by its name or
 * its first bytes): one libpcap's reader reads. False when it cannot be looked at.
 *
 * @example
 * ```ts
 * import { isPlainCaptureFile } from "./capture_file.ts";
 * console.log(await isPlainCaptureFile("testdata/http.pcap"), await isPlainCaptureFile("-")); // true false
 * ```
 */
export async function isPlainCaptureFile(path: string): Promise<boolean> {
  if (path === "-" || /\.gz$/i.test(path)) return false;
  try {
    if (!(await Deno.stat(path)).isFile) return false;
  } catch {
    return false;
  }
  return !(await isGzipFile(path));
}

/**
 * Whether `path` names a gzip-compressed file: by its name (`.gz`), or by the first bytes of a regular file
 * (only those are opened: a FIFO's open would wait for a writer). False when it cannot be looked at.
 *
 * @example
 * ```ts
 * import { isGzipFile } from "./capture_file.ts";
 * console.log(await isGzipFile("testdata/http.pcap"), await isGzipFile("x.pcap.gz")); // false true
 * ```
 */
export async function isGzipFile(path: string): Promise<boolean> {
  if (/\.gz$/i.test(path)) return true;
  try {
    if (path === "-" || !(await Deno.stat(path)).isFile) return false;
    using file = await Deno.open(path);
    return isGzip(await readHead(file, new Uint8Array(2)));
  } catch {
    return false;
  }
}

/**
 * {@linkcode isGzipFile}, synchronous (for the progress bar's total, made before reading starts).
 *
 * @example
 * ```ts
 * import { isGzipFileSync } from "./capture_file.ts";
 * console.log(isGzipFileSync("testdata/http.pcap")); // false
 * ```
 */
export function isGzipFileSync(path: string): boolean {
  if (/\.gz$/i.test(path)) return true;
  try {
    if (path === "-" || !Deno.statSync(path).isFile) return false;
    using file = Deno.openSync(path);
    const head = new Uint8Array(2);
    return file.readSync(head) === 2 && isGzip(head);
  } catch {
    return false;
  }
}

/**
 * What the built-in reader reads of a capture file that libpcap stopped reading (see
 * {@linkcode whereCaptureEnds}).
 *
 * @example
 * ```ts
 * import type { BuiltinReading } from "./capture_file.ts";
 * const whole: BuiltinReading = { damage: null, packetsBeforeDamage: 36, packets: 36 };
 * console.log(whole.damage === null); // true
 * ```
 */
export interface BuiltinReading {
  /** Where it is cut or corrupt, or the first block it skipped as damaged (what, and at which byte offset);
   * null when neither. */
  damage: string | null;
  /** Packets read before that damage (all of them when there is none). */
  packetsBeforeDamage: number;
  /** Packets read in all. */
  packets: number;
}

/**
 * How the built-in reader reads a capture file that libpcap stopped reading: where it is cut or corrupt (what,
 * and at which byte offset: libpcap's errors name none), and how many packets come before. Where they are more
 * than libpcap read, the failure is libpcap's alone (a later pcapng section of the other byte order, which it
 * takes for a corrupt block; Nokia's and other pcap variants). Undefined when the file cannot be read again:
 * only a regular file can be (stdin or a FIFO is gone; opening a FIFO again would wait for a writer forever).
 * `size`: the file's size when libpcap began reading it, read no further: a capture still being written grows
 * meanwhile, and its truncated end, read later, looked like more packets than libpcap read.
 *
 * @example
 * ```ts
 * import { whereCaptureEnds } from "./capture_file.ts";
 * console.log(await whereCaptureEnds("testdata/http.pcap")); // { damage: null, packetsBeforeDamage: 36, packets: 36 }
 * ```
 */
export async function whereCaptureEnds(path: string, size = Infinity): Promise<BuiltinReading | undefined> {
  try {
    if (path === "-" || !(await Deno.stat(path)).isFile) return undefined;
    const opened = await openCapture(path);
    try {
      // The size is the file's: a decompressed stream is not cut by it (libpcap reads no gzip anyway).
      const r = await readCapture(
        size === Infinity || opened.gzip ? opened.reader : firstBytes(opened.reader, size),
        () => {},
      );
      const skipped = r.skippedBlocks > 0
        ? `the built-in reader skips ${r.skippedBlocks} damaged block(s): ${r.notes[0]}`
        : null;
      // The first damage: a block skipped comes before the record that ended reading.
      return { damage: skipped ?? r.warning, packetsBeforeDamage: r.packetsBeforeDamage, packets: r.packets };
    } finally {
      opened.close();
    }
  } catch {
    return undefined;
  }
}

/** The first `size` bytes of `reader`. */
function firstBytes(reader: ByteReader, size: number): ByteReader {
  let left = size;
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (left <= 0) return null;
      const n = await reader.read(p.length > left ? p.subarray(0, left) : p);
      if (n !== null) left -= n;
      return n;
    },
  };
}

/** `head`, then the rest of `reader`. */
function prefixedReader(head: Uint8Array, reader: ByteReader): ByteReader {
  let left: Uint8Array | null = head.length > 0 ? head : null;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (left === null) return reader.read(p);
      const n = Math.min(p.length, left.length);
      p.set(left.subarray(0, n));
      left = n < left.length ? left.subarray(n) : null;
      return Promise.resolve(n);
    },
  };
}

/** A byte stream over a reader (for the decompressor). */
function byteStream(reader: ByteReader): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(65536);
      const n = await reader.read(buf);
      if (n === null) controller.close();
      else controller.enqueue(buf.subarray(0, n));
    },
  });
}

/**
 * A problem with the capture itself; `offset` is the byte offset in the capture where it was found.
 *
 * @example
 * ```ts
 * import { CaptureFormatError, readCapture, streamReader } from "./capture_file.ts";
 * const notACapture = streamReader(new Blob([new TextEncoder().encode("hello, world\n".repeat(4))]).stream());
 * try {
 *   await readCapture(notACapture, () => {});
 * } catch (e) {
 *   console.log(e instanceof CaptureFormatError && e.offset); // 0
 * }
 * ```
 */
export class CaptureFormatError extends Error {
  /** Byte offset in the input. */
  offset: number;
  /**
   * Creates an error with its message and the byte offset in the capture where the problem was found.
   *
   * @example
   * ```ts
   * import { CaptureFormatError } from "./capture_file.ts";
   * const e = new CaptureFormatError("not a capture", 0);
   * console.log(e.offset); // 0
   * ```
   */
  constructor(message: string, offset: number) {
    super(message);
    this.name = "CaptureFormatError";
    this.offset = offset;
  }
}

/**
 * What a read of a whole capture reports.
 *
 * @example
 * ```ts
 * import { type CaptureReadResult, readCapture } from "./capture_file.ts";
 * using file = await Deno.open("testdata/http.pcap");
 * const result: CaptureReadResult = await readCapture(file, () => {});
 * console.log(result.format, result.warning, result.linkTypes); // pcap null [ 1 ]
 * ```
 */
export interface CaptureReadResult {
  /** Packets handed to the callback. */
  packets: number;
  /** Bytes of the input consumed. */
  bytes: number;
  /** "pcap", "pcap-ns", "pcap-modified" (Kuznetzov's, with longer record headers), "pcap-nokia",
   * "pcap-redhat61", "pcap-suse63" (other variants with longer record headers: see `pcapRecordHeaderLength`) or
   * "pcapng". */
  format: string;
  /** Set when the capture ended early (truncated or corrupt): what was wrong and at which byte offset. */
  warning: string | null;
  /**
   * Packet blocks skipped while reading went on (pcapng: an interface never described, a captured length past
   * the block): not handed to the callback, each counted here.
   */
  skippedBlocks: number;
  /** What was wrong with the skipped blocks and where (the first {@linkcode MAX_NOTES}). */
  notes: string[];
  /** Packets handed over before the first damage: a skipped block, or the cut or corrupt record `warning`
   * names (then all of them); all of them when there was none. */
  packetsBeforeDamage: number;
  /** Link types seen. */
  linkTypes: number[];
  /** The reading was stopped (`stop` aborted) before the input's end: no warning is given for a record it cut. */
  stopped: boolean;
}

/** Notes on skipped blocks kept at most: a damaged capture could have one per block. */
export const MAX_NOTES = 5;

/**
 * File names that `extract` and the progress bar take for captures inside a directory: also the numbered ones
 * `tcpdump -C` rotates into (`x.pcap1`, `x.pcap2`, ...).
 */
export const CAPTURE_EXT: RegExp = /\.(pcap|pcapng|cap|dmp)\d*(\.gz)?$/i;

/** A capture name's part before a `tcpdump -C` number, and the number (-1 for none). */
const ROTATED_NAME = /^(.*\.(?:pcap|pcapng|cap|dmp))(\d*)((?:\.gz)?)$/i;

/**
 * The order of names in a directory: by name, but the files `tcpdump -C` numbered after one capture in their
 * number's order (`x.pcap`, `x.pcap1`, `x.pcap2`, ..., `x.pcap10`), as it wrote them.
 *
 * @example
 * ```ts
 * import { compareCaptureNames } from "./capture_file.ts";
 * console.log(["x.pcap10", "x.pcap2", "x.pcap", "a.pcap"].sort(compareCaptureNames));
 * // ["a.pcap", "x.pcap", "x.pcap2", "x.pcap10"]
 * ```
 */
export function compareCaptureNames(a: string, b: string): number {
  // By (name before the number, number, what follows): a total order, whatever mix of .gz names a directory
  // holds (tcpdump -C -z gzip compresses all but the file it writes).
  const x = ROTATED_NAME.exec(a), y = ROTATED_NAME.exec(b);
  const baseA = x === null ? a : x[1], baseB = y === null ? b : y[1];
  if (baseA !== baseB) return baseA < baseB ? -1 : 1;
  const numA = x === null || x[2] === "" ? -1 : Number(x[2]),
    numB = y === null || y[2] === "" ? -1 : Number(y[2]);
  if (numA !== numB) return numA < numB ? -1 : 1;
  const restA = x === null ? "" : x[3], restB = y === null ? "" : y[3];
  return restA < restB ? -1 : restA > restB ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The error of a directory input with no capture inside (one message for every output format).
 *
 * @example
 * ```ts
 * import { noCapturesIn } from "./capture_file.ts";
 * console.log(noCapturesIn("logs/")); // no capture files (*.pcap, *.pcapng, *.cap, *.dmp, optionally .gz) in directory logs/
 * ```
 */
export function noCapturesIn(dir: string): string {
  return `no capture files (*.pcap, *.pcapng, *.cap, *.dmp, optionally .gz) in directory ${dir}`;
}

/**
 * The captures inside a directory and its subdirectories ({@linkcode CAPTURE_EXT}), in name order
 * ({@linkcode compareCaptureNames}) at each
 * level: the files a directory input stands for (see {@linkcode walkCaptureTree}). A directory that cannot be
 * listed throws when it is `dir` itself; a subdirectory that cannot be is handed to `onUnreadable` (by default
 * thrown too), and the captures beside it are still found.
 *
 * @example
 * ```ts
 * import { captureFilesIn } from "./capture_file.ts";
 * const files = await captureFilesIn("testdata", (path, e) => console.error(`cannot read ${path}: ${e}`));
 * console.log(files.includes("testdata/http.pcap")); // true
 * ```
 */
export function captureFilesIn(
  dir: string,
  onUnreadable: (path: string, error: unknown) => void = (_, e) => {
    throw e;
  },
): Promise<string[]> {
  try {
    const found: string[] = [];
    walkCaptureTree(dir, (path) => found.push(path), onUnreadable);
    return Promise.resolve(found);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Walks a directory as its reading as an input does, the one walk for what reads it, counts it (progress) and
 * guards it (`-o`): `onCapture` gets each capture file ({@linkcode CAPTURE_EXT}), in name order at each level.
 * Only regular files (or links to them) count: a FIFO or a device with a capture's name would wait for a writer,
 * or never end. Links to directories are followed, each directory once (a link back up does not loop); a broken
 * link with a capture's name is handed to `onUnreadable`, and any other passed over. A directory that cannot be
 * listed throws when it is `dir`; a subdirectory that cannot be is handed to `onUnreadable`. Returns the real
 * paths of the directories walked.
 *
 * @example
 * ```ts
 * import { walkCaptureTree } from "./capture_file.ts";
 * let n = 0;
 * const dirs = walkCaptureTree("testdata", () => n++, () => {});
 * console.log(n > 0, dirs.has(Deno.realPathSync("testdata"))); // true true
 * ```
 */
export function walkCaptureTree(
  dir: string,
  onCapture: (path: string) => void,
  onUnreadable: (path: string, error: unknown) => void,
): Set<string> {
  const visited = new Set<string>();
  const walk = (dir: string, top: boolean) => {
    let entries: Deno.DirEntry[];
    try {
      const real = Deno.realPathSync(dir);
      if (visited.has(real)) return;
      visited.add(real);
      entries = [...Deno.readDirSync(dir)];
    } catch (e) {
      if (top) throw e;
      onUnreadable(dir, e);
      return;
    }
    entries.sort((a, b) => compareCaptureNames(a.name, b.name));
    for (const e of entries) {
      const path = dir === "/" ? `/${e.name}` : `${dir}/${e.name}`;
      let isDirectory = e.isDirectory, isFile = e.isFile;
      if (e.isSymlink) {
        try {
          const target = Deno.statSync(path);
          isDirectory = target.isDirectory;
          isFile = target.isFile;
        } catch (error) {
          // A broken link: a capture it stood for is gone (said), anything else passed over.
          if (CAPTURE_EXT.test(e.name)) onUnreadable(path, error);
          continue;
        }
      }
      if (isDirectory) walk(path, false);
      else if (isFile && CAPTURE_EXT.test(e.name)) onCapture(path);
    }
  };
  walk(dir.replace(/\/+$/, "") || "/", true);
  return visited;
}

/**
 * The time of the packet a reader of this module is handing to its callback, as libpcap gives it: whole seconds
 * and microseconds (finer stamps cut, not rounded). Exact where the callback's float seconds are not: a
 * nanosecond stamp 100 ns before a whole microsecond is a float within its rounding error of that microsecond.
 * Valid during the callback (Joy's API takes a `struct timeval`).
 *
 * @example
 * ```ts
 * import { packetTimeval, readCapture } from "./capture_file.ts";
 * const file = await Deno.open("testdata/http.pcap");
 * let first = "";
 * await readCapture(file, () => void (first ||= `${packetTimeval[0]}.${packetTimeval[1]}`));
 * console.log(first.length > 0); // true
 * ```
 */
export const packetTimeval: Float64Array = new Float64Array(2);

const CHUNK = 4 << 20;
/**
 * Room in front of each read for the unread tail of the previous buffer (a record cut by its end): more than the
 * largest record at libpcap's largest snapshot length (256 KiB), so that only corrupt-looking records need more.
 */
const RESERVE = 512 << 10;
/**
 * Where a read lands in its buffer: past the reserve by 2 KiB. At RESERVE itself (a multiple of the page size,
 * so the destination sat 16 bytes past a page boundary, as the allocator aligns large buffers, while the file's
 * pages start at one) the kernel's copy into the buffer took 4 to 5 times as long, measured on this machine
 * class: 2.1 GB read in 1.0-1.4 s of system time at offsets 0, 1 and 8 from a page boundary, 0.25-0.3 s at 16,
 * 64, 1000, 2048 or 4032. The 2 KiB keep the distance far from a page boundary on either side, whatever the
 * allocator's few bytes of alignment.
 */
const READ_AT = RESERVE + 2048;

/**
 * Read buffers given back by readers that are done, for the next ones: two of 4.5 MiB per input, zeroed by each
 * allocation, made 2,000 small captures take 4 ms each (a third of it allocating, a quarter collecting).
 */
const freeBuffers: Uint8Array[] = [];
const EMPTY = new Uint8Array(0);

/** A read buffer of the standard size, from those given back when there is one. */
function takeBuffer(): Uint8Array {
  return freeBuffers.pop() ?? new Uint8Array(READ_AT + CHUNK);
}

/** Keeps `b` for a later reader (one reader's pair at most; only the standard size). */
function giveBuffer(b: Uint8Array): void {
  if (b.length === READ_AT + CHUNK && freeBuffers.length < 2 && !freeBuffers.includes(b)) freeBuffers.push(b);
}
/** Bytes of records read ahead before the first is read, to tell pcap variants apart by their headers. */
const PROBE_BYTES = 65536;
/** The `format` of a classic pcap: by its record header length, or that plus 1 where its magic names another
 * length (0 for nanoseconds). */
const PCAP_VARIANTS: Record<number, string> = {
  0: "pcap-ns",
  16: "pcap",
  24: "pcap-modified",
  21: "pcap-nokia",
  25: "pcap-redhat61",
  29: "pcap-suse63",
};
/** Records larger than this are treated as corruption (libpcap's own bound is 256 KiB for most link types). */
const MAX_RECORD = 16 << 20;
/**
 * A pcap record's captured length past both the file's snapshot length and this is corruption, as tshark and
 * libpcap take it (their largest snapshot length).
 */
const MAX_SNAPLEN = 262144;
/** Smallest length of the pcapng blocks read, by type: their fixed fields and both length words. */
/** What a classic pcap file's magic number says: byte order, time unit, record header length. */
export interface PcapFormat {
  /** Little-endian fields. */
  le: boolean;
  /** Nanosecond (not microsecond) fractions. */
  nano: boolean;
  /** A record header's length: 16, or 24 in Alexey Kuznetzov's modified format (its ifindex, protocol,
   * packet type and a pad byte follow the usual four words; libpcap reads it, so we do). */
  hdrLen: number;
}

const PCAP_FORMATS: ReadonlyMap<number, PcapFormat> = new Map([
  [0xd4c3b2a1, { le: true, nano: false, hdrLen: 16 }],
  [0xa1b2c3d4, { le: false, nano: false, hdrLen: 16 }],
  [0x4d3cb2a1, { le: true, nano: true, hdrLen: 16 }],
  [0xa1b23c4d, { le: false, nano: true, hdrLen: 16 }],
  [0x34cdb2a1, { le: true, nano: false, hdrLen: 24 }],
  [0xa1b2cd34, { le: false, nano: false, hdrLen: 24 }],
]);

/**
 * The classic pcap format of a file whose first four bytes, read big-endian, are `magic`; null when it is none.
 *
 * @example
 * ```ts
 * import { pcapFormat } from "./capture_file.ts";
 * console.log(pcapFormat(0xd4c3b2a1)); // { le: true, nano: false, hdrLen: 16 }
 * ```
 */
export function pcapFormat(magic: number): PcapFormat | null {
  return PCAP_FORMATS.get(magic) ?? null;
}

/**
 * The record header length of a classic pcap, told by its first records, as tshark tells the variants apart
 * that share a magic number: the magic's own (16, or 24 for the modified one) unless the records do not follow
 * each other with it and they do with a longer one: 20 (Nokia's, the usual magic), 24 (Red Hat 6.1's, the
 * usual magic) or 28 (SuSE 6.3's, the modified magic), as `editcap -F nokiapcap`, `rh6_1pcap` and
 * `suse6_3pcap` write them. Read with 16 bytes, their first record was a packet of wrong bytes and the second a
 * corrupt record. `rb` is at the first record, after the file header; `swap` is the lengths' order (see
 * {@linkcode pcapLengthOrder}). A capture whose first two records fit the magic's length is read at once (a
 * live pipe is held back only until its second record); only one whose records do not is read ahead (64 KiB,
 * or to its end) to tell which it is.
 *
 * @example
 * ```ts
 * import { pcapFormat, pcapRecordHeaderLength, ReadBuffer, streamReader } from "./capture_file.ts";
 * // Two records of 4 bytes with 20-byte headers (Nokia's), then the input ends.
 * const bytes = new Uint8Array(48);
 * const dv = new DataView(bytes.buffer);
 * for (const at of [0, 24]) {
 *   dv.setUint32(at + 8, 4, true);
 *   dv.setUint32(at + 12, 4, true);
 * }
 * const rb = new ReadBuffer(streamReader(new Blob([bytes]).stream()));
 * await rb.fill(1);
 * console.log(await pcapRecordHeaderLength(rb, pcapFormat(0xd4c3b2a1)!, 262144)); // 20
 * rb.release();
 * ```
 */
export async function pcapRecordHeaderLength(
  rb: ReadBuffer,
  fmt: PcapFormat,
  maxCapLen: number,
  swap = 0,
): Promise<number> {
  for (;;) {
    const own = recordsFollow(rb.dv, rb.start, rb.end, rb.eof, fmt, maxCapLen, swap, fmt.hdrLen, false);
    if (own === 1 || (own === -1 && (rb.eof || rb.end - rb.start >= PROBE_BYTES))) return fmt.hdrLen;
    if (own === 0) break;
    // Two records are not at hand yet (a pipe): the first is read once the second came, or the input ended.
    await rb.fill(rb.end - rb.start + 1);
  }
  while (!rb.eof && rb.end - rb.start < PROBE_BYTES && await rb.fill(rb.end - rb.start + 1));
  for (const h of fmt.hdrLen === 16 ? [20, 24] : [28]) {
    if (recordsFollow(rb.dv, rb.start, rb.end, rb.eof, fmt, maxCapLen, swap, h, true) > 0) return h;
  }
  return fmt.hdrLen;
}

/**
 * Whether the first records from `at` follow each other with headers of `h` bytes, their lengths read in the
 * order `swap` says (see {@linkcode pcapLengthOrder}): 0 when they cannot (a length or fraction out of range,
 * or a record that does not end where the input does), 1 when they do, -1 when the bytes at hand cannot tell
 * yet. Leniently for the magic's own length (two whole records, or the input's end right after one, are
 * enough), `strictly` for another: three whole records from the first (none empty or longer than on the
 * wire), or two that end where the input does, so that a classic capture cut inside its second record, or one
 * with bytes inserted, is not taken for a variant, and a variant's capture damaged further on still is one.
 */
function recordsFollow(
  dv: DataView,
  at: number,
  end: number,
  eof: boolean,
  fmt: PcapFormat,
  maxCapLen: number,
  swap: number,
  h: number,
  strictly: boolean,
): number {
  let o = at, whole = 0;
  if (strictly) {
    // Whole records from the first on, up to a record that cannot be one or the bytes at hand: what follows
    // them may be damage, which the reading then reports where it lies.
    for (; whole < 64; whole++) {
      if (o + h > end) break;
      const first = dv.getUint32(o + 8, fmt.le), second = dv.getUint32(o + 12, fmt.le);
      const swapped = swap === 1 || (swap === 2 && first > second);
      const capLen = swapped ? second : first, wireLen = swapped ? first : second;
      // Not empty, nor longer than on the wire: bytes of another record read as a header often are.
      if (capLen === 0 || capLen > wireLen || capLen > maxCapLen) break;
      if (dv.getUint32(o + 4, fmt.le) >= (fmt.nano ? 1e9 : 1e6) || o + h + capLen > end) break;
      o += h + capLen;
    }
    // Three (two, and a classic capture cut inside its second record could pass for one), or two that end
    // where the input does.
    return whole >= 3 || (whole === 2 && o === end && eof) ? 1 : 0;
  }
  while (whole < 2) {
    if (o === end && eof) break;
    if (o + h > end) {
      if (eof) return 0;
      break;
    }
    const first = dv.getUint32(o + 8, fmt.le), second = dv.getUint32(o + 12, fmt.le);
    const capLen = swap === 1 || (swap === 2 && first > second) ? second : first;
    if (capLen > maxCapLen || dv.getUint32(o + 4, fmt.le) >= (fmt.nano ? 1e9 : 1e6)) return 0;
    o += h + capLen;
    if (o > end) {
      if (eof) return 0;
      break;
    }
    whole++;
  }
  return whole >= 2 || (whole === 1 && o === end && eof) ? 1 : -1;
}

/**
 * How records of pcap format `major.minor` hold their captured and original lengths: 0 in that order; 1 the
 * other way round (versions before 2.3); 2 either (2.3: swapped where the captured one passes the original).
 * libpcap's rule.
 *
 * @example
 * ```ts
 * import { pcapLengthOrder } from "./capture_file.ts";
 * console.log(pcapLengthOrder(2, 4), pcapLengthOrder(2, 2)); // 0 1
 * ```
 */
export function pcapLengthOrder(major: number, minor: number): 0 | 1 | 2 {
  return major < 2 || (major === 2 && minor < 3) ? 1 : major === 2 && minor === 3 ? 2 : 0;
}

const MIN_BLOCK: Readonly<Record<number, number>> = { 0x0a0d0d0a: 28, 1: 20, 2: 32, 3: 16, 6: 32 };

/**
 * Buffered reading of a capture with look-ahead: `fill(n)` makes `n` bytes available at `buf[start..]`, and the
 * caller walks records there and moves `start` on. Two buffers: while the records of one are walked, the next
 * read of a file fills the other (it runs on another thread), so that reading costs the walk no waiting. A read
 * lands READ_AT bytes into its buffer, where the unread tail of the current one (a record cut by the buffer's
 * end) is copied in front of it. Views into `buf` are valid until the next `fill`.
 *
 * @example
 * ```ts
 * import { ReadBuffer } from "./capture_file.ts";
 * const file = await Deno.open("testdata/http.pcap");
 * const rb = new ReadBuffer(file);
 * await rb.fill(24);
 * console.log(rb.dv.getUint32(rb.start, true).toString(16)); // a1b2c3d4
 * rb.start += 24;
 * console.log(rb.offset); // 24
 * file.close();
 * ```
 */
export class ReadBuffer {
  /** The bytes: unread input from `start` to `end`. */
  buf: Uint8Array = takeBuffer();
  /** A view of `buf`. */
  dv: DataView = new DataView(this.buf.buffer);
  /** The first byte not yet consumed. */
  start: number = READ_AT;
  /** One past the last byte read. */
  end: number = READ_AT;
  /** The input offset of `buf[0]`. */
  base: number = -READ_AT;
  /** The input has ended (no bytes past `end`). */
  eof = false;
  /**
   * What ended a decompressed input early (a cut or corrupt gzip stream) once some of it was read: the input
   * then ends there, so that a record it cut is reported, with its offset, as in a cut file.
   */
  failure: DecompressionError | null = null;
  #spare: Uint8Array = takeBuffer();
  #pending: Promise<number | null> | null = null;
  /**
   * Whether the next read starts before it is needed: only for files, whose reads complete at once. A pipe's
   * read (stdin, a stream) left in flight when the walk stops early (a corrupt record) would wait for its writer
   * and take bytes that are not the capture's.
   */
  readonly #readAhead: boolean;

  /**
   * Reads `input`; `onBytes` is told of every read's size. Once `stop` is aborted the input ends, also while a
   * read waits (a pipe whose writer is still running): `stopped` is then set.
   */
  constructor(
    private readonly input: ByteReader,
    private readonly onBytes?: (bytesRead: number) => void,
    private readonly stop?: AbortSignal,
  ) {
    this.#readAhead = input instanceof Deno.FsFile;
  }

  /** The input was ended by `stop`, not read to its end. */
  stopped = false;

  /**
   * Gives the buffers to the next reader, once this one is done (no byte of them is looked at after): one
   * reader after another (the captures of a directory) then allocates none. A buffer a read may still fill
   * (read ahead) is not given.
   */
  release(): void {
    giveBuffer(this.buf);
    if (this.#pending === null) giveBuffer(this.#spare);
    this.buf = this.#spare = EMPTY;
    this.dv = new DataView(EMPTY.buffer);
  }

  /** Ends the input for `stop` (`fill`'s false). */
  #stopped(): false {
    this.stopped = this.eof = true;
    return false;
  }

  /** The pending read's result, or null as soon as `stop` is aborted. */
  #awaitRead(read: Promise<number | null>): Promise<number | null> {
    const stop = this.stop;
    if (stop === undefined) return read;
    return new Promise((resolve, reject) => {
      const onAbort = () => resolve(null);
      if (stop.aborted) return onAbort();
      stop.addEventListener("abort", onAbort, { once: true });
      read.then(resolve, reject).finally(() => stop.removeEventListener("abort", onAbort));
    });
  }

  /**
   * The warning a reading of this buffer ends with: `warning` (a cut or corrupt record, or null), told that the
   * decompressed input ended early when it did (see `failure`).
   */
  endWarning(warning: string | null): string | null {
    if (this.failure === null) return warning;
    const why = `the gzip stream is cut or corrupt (${this.failure.message})`;
    return warning === null
      ? `${why} after ${this.base + this.end} bytes of capture`
      : `${warning}, where ${why}`;
  }

  /** The input offset of `buf[start]`. */
  get offset(): number {
    return this.base + this.start;
  }

  #prefetch(): void {
    const p = this.input.read(this.#spare.subarray(READ_AT));
    // A read still in flight when the walk stops early (a corrupt record) must not become an unhandled
    // rejection once its file is closed; errors of reads that are awaited are thrown by the await.
    p.catch(() => {});
    this.#pending = p;
  }

  /** Makes at least `n` bytes available at `start`; false at the end of the input. */
  async fill(n: number): Promise<boolean> {
    while (this.end - this.start < n) {
      if (this.stop?.aborted) return this.#stopped();
      if (this.#pending === null) {
        if (this.eof) return false;
        this.#prefetch();
      }
      let got: number | null;
      try {
        got = await this.#awaitRead(this.#pending!);
        if (this.stop?.aborted) return this.#stopped();
      } catch (e) {
        // Nothing read yet: not a compressed capture at all, which the caller reports as such.
        if (!(e instanceof DecompressionError) || this.base + this.end === 0) throw e;
        this.failure = e;
        got = null;
      }
      this.#pending = null;
      if (got === null || got === undefined) {
        this.eof = true;
        return false;
      }
      if (got === 0) continue;
      this.onBytes?.(got);
      const buf = this.buf, spare = this.#spare, start = this.start, end = this.end;
      const tail = end - start;
      if (tail > got && buf.length - end >= got) {
        // A short read (a pipe) behind a longer cut record: appended, rather than the record moved for it, so
        // that reading stays linear however small the reads.
        buf.set(spare.subarray(READ_AT, READ_AT + got), end);
        this.end = end + got;
        continue;
      }
      if (tail <= RESERVE) {
        spare.set(buf.subarray(start, end), READ_AT - tail);
        this.base += start - (READ_AT - tail);
        this.buf = spare;
        this.#spare = buf;
        this.start = READ_AT - tail;
        this.end = READ_AT + got;
      } else {
        // A record longer than the reserve (rare: pcap records are at most 256 KiB for most link types) that
        // the buffer has no room left for: gathered in one twice the size, so that gathering stays linear.
        const joined = new Uint8Array(Math.max(2 * (tail + got), READ_AT + CHUNK));
        joined.set(buf.subarray(start, end));
        joined.set(spare.subarray(READ_AT, READ_AT + got), tail);
        this.base += start;
        this.buf = joined;
        this.start = 0;
        this.end = tail + got;
      }
      this.dv = new DataView(this.buf.buffer);
    }
    if (this.#readAhead && this.#pending === null && !this.eof) this.#prefetch();
    return true;
  }
}

/**
 * Reads a pcap or pcapng stream and calls `onPacket` for every packet.
 *
 * @example
 * ```ts
 * import { readCapture } from "./capture_file.ts";
 * const file = await Deno.open("testdata/http.pcap");
 * let n = 0;
 * const r = await readCapture(file, () => n++);
 * file.close();
 * console.log(r.packets === n);
 * ```
 */
export async function readCapture(
  input: ByteReader,
  onPacket: PacketCallback,
  onBytes?: (bytesRead: number) => void,
): Promise<CaptureReadResult> {
  const it = readCaptureChunks(input, onPacket, onBytes);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}

/**
 * The same as {@linkcode readCapture}, as a generator that pauses after each buffer of records (so that callers
 * can write output while the input is still being read) and returns the result at the end. It also pauses after
 * the packet during which the caller set `pause[0]` (and clears it): a caller whose output piles up within one
 * buffer (a 4 MiB buffer of small packets can end 60,000 flows) hands it on without waiting for the buffer's end.
 * Once `stop` is aborted the input ends at the next refill of the buffer, or at once while a read waits.
 *
 * @example
 * ```ts
 * import { readCaptureChunks } from "./capture_file.ts";
 * const file = await Deno.open("testdata/http.pcap");
 * let n = 0;
 * const it = readCaptureChunks(file, () => n++);
 * let r = await it.next();
 * while (!r.done) r = await it.next();
 * file.close();
 * console.log(r.value.packets === n);
 * ```
 */
export async function* readCaptureChunks(
  input: ByteReader,
  onPacket: PacketCallback,
  onBytes?: (bytesRead: number) => void,
  pause: Uint8Array = new Uint8Array(1),
  stop?: AbortSignal,
): AsyncGenerator<void, CaptureReadResult, void> {
  const rb = new ReadBuffer(input, onBytes, stop);
  try {
    return yield* walkCapture(rb, onPacket, pause);
  } catch (e) {
    // Stopped before the file header was whole: no packet came, and the input ended where it was, not as a
    // capture too short or cut.
    if (!(e instanceof CaptureFormatError) || !rb.stopped) throw e;
    return {
      packets: 0,
      bytes: rb.offset,
      format: "",
      warning: null,
      skippedBlocks: 0,
      notes: [],
      packetsBeforeDamage: 0,
      linkTypes: [],
      stopped: true,
    };
  } finally {
    rb.release();
  }
}

/**
 * The nanoseconds after the whole second of a pcapng time stamp whose interface counts in units finer than a
 * nanosecond or in powers of two (`resol`, the if_tsresol byte), cut to whole nanoseconds as libpcap and tshark
 * cut them. Such interfaces are rare: this is out of the common path, exact with bigints (tshark 4.0's product
 * overflows for picoseconds).
 */
function pcapngNsec(tsHigh: number, tsLow: number, resol: number): number {
  const t = (BigInt(tsHigh) << 32n) | BigInt(tsLow);
  if (resol & 0x80) {
    const bits = BigInt(resol & 0x7f);
    return Number(((t & ((1n << bits) - 1n)) * 1_000_000_000n) >> bits);
  }
  const unit = 10n ** BigInt(resol);
  return Number(((t % unit) * 1_000_000_000n) / unit);
}

/** The walk of {@linkcode readCaptureChunks} over the records `rb` reads. */
async function* walkCapture(
  rb: ReadBuffer,
  onPacket: PacketCallback,
  pause: Uint8Array,
): AsyncGenerator<void, CaptureReadResult, void> {
  const result: CaptureReadResult = {
    packets: 0,
    bytes: 0,
    format: "",
    warning: null,
    skippedBlocks: 0,
    notes: [],
    packetsBeforeDamage: -1,
    linkTypes: [],
    stopped: false,
  };
  /** `result.linkTypes` as a set: a capture can hold a million interface blocks (a list lookup each was
   * quadratic). */
  const linkTypesSeen = new Set<number>();
  const skip = (note: string): void => {
    if (result.skippedBlocks === 0) result.packetsBeforeDamage = result.packets;
    result.skippedBlocks++;
    if (result.notes.length < MAX_NOTES) result.notes.push(note);
  };
  if (!await rb.fill(4)) {
    if (rb.end - rb.start === 0) throw new CaptureFormatError("empty input: not a pcap or pcapng capture", 0);
    throw new CaptureFormatError("not a pcap or pcapng capture (too short)", 0);
  }
  const magic = rb.dv.getUint32(rb.start, false);

  if (magic === 0x0a0d0d0a) {
    result.format = "pcapng";
    // Per section: interfaces' link types and timestamp units.
    let le = true;
    let ifLink: number[] = [];
    let ifScale: number[] = [];
    let ifDiv: number[] = [];
    /** Interfaces' if_tsresol byte (6 when absent: microseconds). */
    let ifResol: number[] = [];
    /** Interfaces' if_tsoffset, seconds added to their packets' times. */
    let ifOffset: number[] = [];
    /** Interfaces' snapshot lengths (0: none), which bound a simple packet block's data short of its padding. */
    let ifSnapLen: number[] = [];
    /** The last packet's time, for simple packet blocks, which have none, and its nanoseconds (-1: not known). */
    let lastTs = 0, lastNsec = 0;
    for (;;) {
      if (rb.end - rb.start < 12 && !await rb.fill(12)) {
        if (rb.offset === 0) throw new CaptureFormatError("truncated pcapng section header", 0);
        if (rb.end - rb.start > 0) {
          result.warning = `truncated pcapng block header at byte offset ${rb.offset}`;
        }
        break;
      }
      let type = rb.dv.getUint32(rb.start, le);
      if (type === 0x0a0d0d0a) {
        const bom = rb.dv.getUint32(rb.start + 8, true);
        if (bom === 0x1a2b3c4d) le = true;
        else if (bom === 0x4d3c2b1a) le = false;
        else {
          result.warning = `bad pcapng byte-order magic at byte offset ${rb.offset + 8}`;
          if (result.packets === 0) {
            throw new CaptureFormatError("corrupt pcapng section header", rb.offset);
          }
          break;
        }
        type = 0x0a0d0d0a;
        ifLink = [];
        ifScale = [];
        ifDiv = [];
        ifResol = [];
        ifOffset = [];
        ifSnapLen = [];
      }
      const blockLen = rb.dv.getUint32(rb.start + 4, le);
      if (blockLen < 12 || blockLen % 4 !== 0 || blockLen > MAX_RECORD) {
        result.warning = `corrupt pcapng block (length ${blockLen}) at byte offset ${rb.offset}`;
        if (result.packets === 0 && rb.offset === 0) {
          throw new CaptureFormatError("corrupt pcapng section header", 0);
        }
        break;
      }
      if (rb.end - rb.start < blockLen && !await rb.fill(blockLen)) {
        if (rb.offset === 0) throw new CaptureFormatError("truncated pcapng section header", 0);
        result.warning = `truncated pcapng block (${blockLen} bytes declared, ${
          rb.end - rb.start
        } present) at byte offset ${rb.offset}`;
        break;
      }
      const b = rb.start;
      const trailer = rb.dv.getUint32(b + blockLen - 4, le);
      if (trailer !== blockLen || blockLen < (MIN_BLOCK[type] ?? 12)) {
        // A length word that is wrong (the two disagree, or too short for the block's own fields) leaves the
        // next block's place unknown: reading stops here, as libpcap's and tshark's do.
        result.warning = trailer !== blockLen
          ? `corrupt pcapng block (length ${blockLen} at its start, ${trailer} at its end) at byte offset ${rb.offset}`
          : `corrupt pcapng block (type ${type}, length ${blockLen}, less than its ${
            MIN_BLOCK[type]
          } bytes of fixed fields) at byte offset ${rb.offset}`;
        if (result.packets === 0 && rb.offset === 0) {
          throw new CaptureFormatError("corrupt pcapng section header", 0);
        }
        break;
      }
      if (type === 6 || type === 2) {
        // Enhanced (6) or obsolete (2) packet block.
        const ifId = type === 6 ? rb.dv.getUint32(b + 8, le) : rb.dv.getUint16(b + 8, le);
        const tsHigh = rb.dv.getUint32(b + 12, le);
        const tsLow = rb.dv.getUint32(b + 16, le);
        const capLen = rb.dv.getUint32(b + 20, le);
        const wireLen = rb.dv.getUint32(b + 24, le);
        // The data must end before the block's trailing length word; past it, the length is wrong (tshark calls
        // the file damaged there).
        if (ifId < ifLink.length && 32 + capLen <= blockLen) {
          const div = ifDiv[ifId];
          let ts: number, nsec = -1;
          if (div !== 1) {
            // Nanosecond ticks pass 2^53: split into whole seconds and remainder exactly (2^32 = 65536^2 keeps
            // every product below 2^53), then add, as libpcap does with its seconds and fraction.
            const rem = (((tsHigh % div) * 65536 % div) * 65536 % div + tsLow % div) % div;
            // The offset joins the whole seconds before the fraction is added, as libpcap adds it: added after,
            // it rounded the time again (an offset of -1000 gave 0.0005129999999553547 for 0.000513).
            const sec = Math.round((tsHigh * 4294967296 + tsLow - rem) / div) + ifOffset[ifId];
            ts = sec + rem / div;
            nsec = div <= 1e9 ? rem * (1e9 / div) : pcapngNsec(tsHigh, tsLow, ifResol[ifId]);
            packetTimeval[0] = sec;
            // From the exact nanoseconds: a product of doubles (rem * 1e-6 for picoseconds) can fall below a
            // whole microsecond it should reach.
            packetTimeval[1] = Math.floor(nsec / 1000);
          } else {
            ts = (tsHigh * 4294967296 + tsLow) * ifScale[ifId];
            nsec = pcapngNsec(tsHigh, tsLow, ifResol[ifId]);
            // Whole seconds and microseconds from the exact nanoseconds, as libpcap cuts them: the double's
            // fraction is off by up to 0.24 us, a microsecond either way where it lies near a whole one (a
            // resolution of 2^-30 s: 6 packets of 82 in a real capture).
            packetTimeval[0] = Math.round(ts - nsec / 1e9) + ifOffset[ifId];
            packetTimeval[1] = Math.floor(nsec / 1000);
            ts += ifOffset[ifId];
          }
          lastTs = ts;
          lastNsec = nsec;
          result.packets++;
          onPacket(ts, rb.buf, b + 28, capLen, wireLen, ifLink[ifId], nsec);
        } else {
          skip(
            ifId >= ifLink.length
              ? `packet block of interface ${ifId}, which no interface block described, at byte offset ${rb.offset}`
              : `packet block whose captured length ${capLen} passes its end, at byte offset ${rb.offset}`,
          );
        }
      } else if (type === 3) {
        // Simple packet block: interface 0, no time of its own (it takes the last packet's, so that it stays in
        // its flow; 0 would start a flow of its own).
        if (ifLink.length > 0) {
          const wireLen = rb.dv.getUint32(b + 8, le);
          // The block's data is padded to 4 bytes: what was captured is the packet's length, cut at the
          // interface's snapshot length (the padding would be read as packet bytes).
          const snapLen = ifSnapLen[0];
          const capLen = Math.min(wireLen, blockLen - 16, snapLen === 0 ? Infinity : snapLen);
          result.packets++;
          onPacket(lastTs, rb.buf, b + 12, capLen, wireLen, ifLink[0], lastNsec);
        } else skip(`simple packet block before any interface block, at byte offset ${rb.offset}`);
      } else if (type === 1) {
        const link = rb.dv.getUint16(b + 8, le);
        let scale = 1e-6, div = 1e6, offset = 0, haveResolution = false, resol = 6;
        // Options start at 16; look for if_tsresol (9).
        let o = b + 16;
        const limit = b + blockLen - 4;
        while (o + 4 <= limit) {
          const code = rb.dv.getUint16(o, le);
          const len = rb.dv.getUint16(o + 2, le);
          if (code === 0) break;
          if (code === 9 && len >= 1 && !haveResolution) {
            // The option may appear once; of a repeated one, the first counts, as in tshark.
            haveResolution = true;
            const v = resol = rb.buf[o + 4];
            if (v & 0x80) {
              scale = Math.pow(2, -(v & 0x7f));
              div = 1;
            } else {
              scale = Math.pow(10, -v);
              div = v <= 15 ? Math.pow(10, v) : 1;
            }
          }
          if (code === 14 && len >= 8) {
            // if_tsoffset: signed seconds added to every time stamp of the interface.
            offset = Number(rb.dv.getBigInt64(o + 4, le));
          }
          o += 4 + ((len + 3) & ~3);
        }
        ifLink.push(link);
        ifScale.push(scale);
        ifDiv.push(div);
        ifResol.push(resol);
        ifOffset.push(offset);
        ifSnapLen.push(rb.dv.getUint32(b + 12, le));
        if (!linkTypesSeen.has(link)) {
          linkTypesSeen.add(link);
          result.linkTypes.push(link);
        }
      }
      rb.start += blockLen;
      if (pause[0] !== 0) {
        pause[0] = 0;
        yield;
      } else if (rb.end - rb.start < 4096 && !rb.eof) yield;
    }
  } else {
    const fmt = pcapFormat(magic);
    if (fmt === null) {
      throw new CaptureFormatError(
        `not a pcap or pcapng capture (magic 0x${magic.toString(16).padStart(8, "0")})`,
        0,
      );
    }
    const { le, nano } = fmt;
    if (!await rb.fill(24)) throw new CaptureFormatError("truncated pcap file header", 0);
    // The link type is the low 16 bits; above them, flags (an FCS length) that name no other link type.
    const link = rb.dv.getUint32(rb.start + 20, le) & 0xffff;
    // Bounded by MAX_RECORD too: a header's snapshot length can be anything (0xffffffff), and a corrupt record
    // within it would be gathered to the end of the input.
    const maxCapLen = Math.min(Math.max(rb.dv.getUint32(rb.start + 16, le), MAX_SNAPLEN), MAX_RECORD);
    result.linkTypes.push(link);
    const div = nano ? 1e9 : 1e6;
    const swap = pcapLengthOrder(rb.dv.getUint16(rb.start + 4, le), rb.dv.getUint16(rb.start + 6, le));
    rb.start += 24;
    const hdrLen = await pcapRecordHeaderLength(rb, fmt, maxCapLen, swap);
    result.format = PCAP_VARIANTS[hdrLen === fmt.hdrLen ? (nano ? 0 : hdrLen) : hdrLen + 1];
    for (;;) {
      if (rb.end - rb.start < hdrLen && !await rb.fill(hdrLen)) {
        if (rb.end - rb.start > 0) {
          result.warning = `truncated pcap record header at byte offset ${rb.offset}`;
        }
        break;
      }
      let capLen = rb.dv.getUint32(rb.start + 8, le), wireLen = rb.dv.getUint32(rb.start + 12, le);
      if (swap !== 0 && (swap === 1 || capLen > wireLen)) {
        const t = capLen;
        capLen = wireLen;
        wireLen = t;
      }
      if (capLen > maxCapLen) {
        result.warning = `corrupt pcap record (captured length ${capLen}) at byte offset ${rb.offset}`;
        break;
      }
      if (rb.end - rb.start < hdrLen + capLen && !await rb.fill(hdrLen + capLen)) {
        const present = rb.end - rb.start - hdrLen;
        result.warning =
          `truncated pcap record (${capLen} bytes declared, ${present} present) at byte offset ${rb.offset}`;
        // The cut-short last packet is left out, as tshark and libpcap's reader leave it out (and as a cut
        // pcapng block is): handed on, it made one packet more than theirs, with the bytes its record declared.
        rb.start = rb.end;
        break;
      }
      const sec = rb.dv.getUint32(rb.start, le);
      const frac = rb.dv.getUint32(rb.start + 4, le);
      result.packets++;
      packetTimeval[0] = sec;
      packetTimeval[1] = div === 1e6 ? frac : Math.floor(frac / 1000);
      const nsec = div === 1e6 ? frac * 1000 : frac;
      onPacket(sec + frac / div, rb.buf, rb.start + hdrLen, capLen, wireLen, link, nsec);
      rb.start += hdrLen + capLen;
      if (pause[0] !== 0) {
        pause[0] = 0;
        yield;
        continue;
      }
      if (rb.end - rb.start < 65552 && !rb.eof) {
        // The next fill will refill the buffer: let the caller flush its output first.
        if (rb.end - rb.start < hdrLen || rb.end - rb.start < hdrLen + rb.dv.getUint32(rb.start + 8, le)) {
          yield;
        }
      }
    }
  }
  result.bytes = rb.offset;
  result.warning = rb.stopped ? null : rb.endWarning(result.warning);
  result.stopped = rb.stopped;
  if (result.packetsBeforeDamage < 0) result.packetsBeforeDamage = result.packets;
  return result;
}
