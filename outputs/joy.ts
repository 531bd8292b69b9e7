/**
 * The Joy JSON writer: Joy 4.5's output file layout — the configuration line first, then one flow object per
 * line — to stdout or a file, gzip-compressed when the file name ends in `.gz` (as Joy does).
 *
 * @module
 */
import { configLine, type JoyConfig } from "../lib/joy/config.ts";
import { type JoyLineSink, openLineSink } from "../lib/joy/output.ts";

/**
 * Writes Joy JSON lines.
 *
 * @example
 * ```ts
 * import { JoyJsonWriter } from "./joy.ts";
 * import { defaultJoyConfig } from "../lib/joy/config.ts";
 * const w = new JoyJsonWriter("/tmp/flows.json.gz", defaultJoyConfig());
 * w.writeLine('{"sa":"10.0.0.1"}');
 * w.close();
 * ```
 */
export class JoyJsonWriter {
  private readonly sink: JoyLineSink;
  /** Flow lines written. */
  flows = 0;

  /** Opens `path` (`-` or undefined: stdout) and writes the configuration line. */
  constructor(path: string | undefined, config: JoyConfig) {
    this.sink = openLineSink(path);
    this.sink.write(configLine(config));
  }

  /** Writes one flow line (as produced by a `JoyContext`). */
  writeLine(line: string): void {
    this.flows++;
    this.sink.write(line);
  }

  /** Flushes and closes. */
  close(): void {
    this.sink.close();
  }

  /** Closes without writing what is queued (a run that failed; a file not yet written to is left as it was). */
  abort(): void {
    this.sink.abort();
  }
}
