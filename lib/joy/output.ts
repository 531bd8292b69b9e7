/**
 * Where a Joy context's JSON lines go: stdout, or a file written synchronously (gzip-compressed when the name
 * ends in `.gz`, as Joy's `zfile` output does).
 *
 * @module
 */
import { gzipSync } from "node:zlib";
import { InputError } from "../extract.ts";

/** A synchronous line sink. */
export interface JoyLineSink {
  /** Queues one line (without the newline). */
  write(line: string): void;
  /** Writes what is queued. */
  flush(): void;
  /** Flushes and closes. */
  close(): void;
  /** Closes without writing what is queued (a run that failed): a file not yet written to is left as it was. */
  abort(): void;
}

const enc = new TextEncoder();

function writeAll(w: { writeSync(p: Uint8Array): number }, b: Uint8Array): void {
  let off = 0;
  while (off < b.length) off += w.writeSync(b.subarray(off));
}

/**
 * A sink for a path (`-` or undefined: stdout). Lines are buffered and written every 64 KiB and on `flush`;
 * a `.gz` file gets one gzip member per flush (a valid multi-member gzip stream). The file is created (or
 * emptied) by the first write, so that a run that fails before it (`abort`) leaves it as it was; `openNow`
 * opens it at once instead (and throws here when it cannot be). A write error names the file.
 *
 * @example
 * ```ts
 * import { openLineSink } from "./output.ts";
 * const dir = Deno.makeTempDirSync();
 * const s = openLineSink(`${dir}/joy-example.json`);
 * s.write('{"a":1}');
 * s.close();
 * ```
 */
export function openLineSink(path?: string, openNow = false): JoyLineSink {
  const toFile = path !== undefined && path !== "-";
  // Joy's lifecycle API opens its files at initialize, which reports a file that cannot be opened.
  let file: Deno.FsFile | null = toFile && openNow
    ? Deno.openSync(path, { write: true, create: true, truncate: true })
    : null;
  const gz = path !== undefined && /\.gz$/i.test(path);
  let parts: string[] = [];
  let size = 0;
  let closed = false;
  const flush = (): void => {
    if (parts.length === 0) return;
    const data = enc.encode(parts.join("\n") + "\n");
    parts = [];
    size = 0;
    if (!toFile) return writeAll(Deno.stdout, gz ? gzipSync(data) : data);
    try {
      file ??= Deno.openSync(path, { write: true, create: true, truncate: true });
      writeAll(file, gz ? gzipSync(data) : data);
    } catch (e) {
      throw new InputError(`cannot write ${path}: ${e instanceof Error ? e.message : e}`);
    }
  };
  return {
    write(line: string): void {
      parts.push(line);
      size += line.length + 1;
      if (size >= 65536) flush();
    },
    flush,
    close(): void {
      // Closing twice (the last cleanup closed the log, then shutdown) is no error.
      if (closed) return;
      closed = true;
      try {
        flush();
      } finally {
        file?.close();
      }
    },
    abort(): void {
      parts = [];
      file?.close();
    },
  };
}

/**
 * A sink that collects lines in memory (for tests and for Workers that post their lines back).
 *
 * @example
 * ```ts
 * import { memoryLineSink } from "./output.ts";
 * const lines: string[] = [];
 * memoryLineSink(lines).write("x");
 * console.log(lines); // ["x"]
 * ```
 */
export function memoryLineSink(lines: string[]): JoyLineSink {
  return { write: (l) => void lines.push(l), flush: () => {}, close: () => {}, abort: () => {} };
}
