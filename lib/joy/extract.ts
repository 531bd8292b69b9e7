/**
 * `jj extract --format joy`: Joy 4.5's output for captures — its configuration line, then one flow per line
 * (gzip-compressed when the output name ends in `.gz`).
 *
 * @module
 */
import { defaultJoyConfig, type JoyConfig } from "./config.ts";
import { joyProcessFile } from "./offline.ts";
import { JoyJsonWriter } from "../../outputs/joy.ts";
import { InputError } from "../extract.ts";
import { whyUnreadable } from "../why_unreadable.ts";
import { captureFilesIn, noCapturesIn } from "../capture_file.ts";
import { tryLoadLibpcap } from "../../ffi/libpcap.ts";

/** Options of {@linkcode runJoyExtract}. */
export interface JoyExtractOptions {
  /** Output path (`-` or undefined: stdout). */
  output?: string;
  /** Reader: `auto` (libpcap when it loads), `libpcap`, or `builtin`. */
  reader?: "auto" | "libpcap" | "builtin";
  /** Configuration (Joy's corpus settings by default). */
  config?: JoyConfig;
  /** No summary on stderr. */
  quiet?: boolean;
}

/**
 * Why `-` is refused: Joy reads capture files (opened twice, to check the format and then with its filter).
 *
 * @example
 * ```ts
 * import { JOY_NO_STDIN } from "./extract.ts";
 * console.log(JOY_NO_STDIN.startsWith("--format joy")); // true
 * ```
 */
export const JOY_NO_STDIN =
  "--format joy reads capture files, as Joy does, not stdin (-): write the capture to a file first";

/** A write of Joy's output that failed (see `runJoyExtract`). */
class JoyOutputError extends Error {}

/** Why `--format joy` refuses an input that is not a regular file. */
const JOY_NO_PIPE =
  "--format joy reads capture files, as Joy does, not pipes: write the capture to a file first";

/**
 * The capture files of the inputs. An input that cannot be read is thrown alone (its error is the run's); among
 * several, it is warned about and left out (`failed` counts it), as the other formats do.
 */
async function expand(
  inputs: string[],
  warn: (message: string) => void,
): Promise<{ files: string[]; failed: number }> {
  const files: string[] = [];
  let failed = 0;
  const refuse = (e: InputError): void => {
    if (inputs.length === 1) throw e;
    warn(e.message);
    failed++;
  };
  for (const p of inputs) {
    if (p === "-") throw new InputError(JOY_NO_STDIN);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(p);
    } catch (e) {
      refuse(new InputError(`cannot read ${p}: ${whyUnreadable(e)}`));
      continue;
    }
    if (!info.isDirectory) {
      if (!info.isFile) {
        // A pipe (a FIFO, /dev/stdin, the shell's <(...)) can be read once: Joy's reading opens its file twice
        // (once to tell a capture that is not one from a filter that does not compile).
        refuse(new InputError(`${p}: ${JOY_NO_PIPE}`));
      } else if (/\.gz$/i.test(p)) {
        refuse(
          new InputError(
            `${p}: --format joy reads uncompressed captures, as Joy does: decompress it first (gunzip -k ${
              shellWord(p)
            })`,
          ),
        );
      } else files.push(p);
      continue;
    }
    // A directory stands for the same captures as for the other formats, but the compressed ones, which Joy
    // does not read (a decompressed copy beside one is read): left out, and the run says so by its exit code.
    let found: string[];
    try {
      found = await captureFilesIn(p, (path, e) => {
        warn(`cannot read ${path}: ${whyUnreadable(e)}`);
        failed++;
      });
    } catch (e) {
      refuse(new InputError(`cannot read ${p}: ${whyUnreadable(e)}`));
      continue;
    }
    if (found.length === 0) {
      refuse(new InputError(noCapturesIn(p)));
      continue;
    }
    for (const f of found) {
      if (/\.gz$/i.test(f)) {
        warn(`${f}: --format joy reads uncompressed captures, as Joy does; skipped`);
        failed++;
      } else files.push(f);
    }
  }
  return { files, failed };
}

/**
 * Writes Joy JSON for the inputs (files or directories of captures); returns the exit code: 1 when an input
 * was left out (a warning names it; the others are still read), as for the other formats.
 *
 * @example
 * ```ts
 * import { runJoyExtract } from "./extract.ts";
 * const code = await runJoyExtract(["capture.pcap"], { output: "flows.json.gz", quiet: true });
 * console.log(code); // 0
 * ```
 */
export async function runJoyExtract(inputs: string[], o: JoyExtractOptions = {}): Promise<number> {
  const started = performance.now();
  const cfg = o.config ?? defaultJoyConfig();
  const warn = (m: string) => console.error(`jj: warning: ${m}`);
  const { files, failed: skipped } = await expand(inputs, warn);
  let failed = skipped;
  // Nothing to read: the output (a file's former content) is left as it was.
  if (files.length === 0) return 1;
  const w = new JoyJsonWriter(o.output, cfg);
  // A failed write (a full disk) is the output's: it ends the run, named as such, rather than being taken for
  // the input's (a warning per input, each blamed).
  const writeLine = (line: string): void => {
    try {
      w.writeLine(line);
    } catch (e) {
      if (e instanceof Deno.errors.BrokenPipe) throw e;
      const why = whyUnreadable(e);
      // A file's sink names it already.
      throw new JoyOutputError(
        why.startsWith("cannot write") ? why : `cannot write ${o.output ?? "stdout"}: ${why}`,
      );
    }
  };
  // --reader libpcap without libpcap reads with the built-in reader, saying so once, as the other formats do.
  let reader = o.reader;
  if (reader === "libpcap" && tryLoadLibpcap() === null) {
    warn("libpcap could not be loaded; reading with the built-in pcap/pcapng reader");
    reader = "builtin";
  }
  try {
    for (const f of files) {
      try {
        await joyProcessFile(f, cfg, writeLine, { reader, onWarning: warn });
      } catch (e) {
        // A closed output (`| head`) is not the input's fault: the CLI ends quietly on it.
        if (e instanceof Deno.errors.BrokenPipe || e instanceof JoyOutputError) throw e;
        const err = e instanceof InputError ? e : new InputError(`${f}: ${whyUnreadable(e)}`);
        if (files.length + skipped === 1) throw err;
        warn(err.message);
        failed++;
      }
    }
    if (failed === files.length + skipped) {
      // Not one input could be read: the output keeps its former content, as for one unreadable input.
      w.abort();
      return 1;
    }
  } catch (e) {
    // What was queued is not written: a file not yet written to keeps its former content.
    w.abort();
    throw e;
  }
  w.close();
  const flows = w.flows;
  if (!o.quiet) {
    console.error(
      `jj: ${flows} Joy flow records from ${files.length - (failed - skipped)} input(s)${
        failed > 0 ? `, ${failed} left out` : ""
      } in ${((performance.now() - started) / 1000).toFixed(2)} s`,
    );
  }
  return failed > 0 ? 1 : 0;
}

/** `path` as one word of a shell command to paste: quoted when it holds anything but safe characters. */
function shellWord(path: string): string {
  const p = path.startsWith("-") ? `./${path}` : path;
  return /^[\w./,:+=@%-]+$/.test(p) ? p : `'${p.replaceAll("'", `'\\''`)}'`;
}
