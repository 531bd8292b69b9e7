/**
 * Pieces every subcommand shares: usage errors (exit 2), option value parsers that name the option and the
 * accepted range, and number formatting for summaries.
 *
 * @module
 */
import { type Command, InvalidArgumentError, type Option } from "commander";
import { basename, dirname, resolve } from "node:path";
import { CAPTURE_EXT, walkCaptureTree } from "../capture_file.ts";
import { InputError } from "../extract.ts";
import { whyUnreadable } from "../why_unreadable.ts";

/**
 * A usage error: the CLI prints it on one line and exits 2.
 *
 * @example
 * ```ts
 * import { UsageError } from "./common.ts";
 * console.log(new UsageError("bad").message); // bad
 * ```
 */
export class UsageError extends Error {}

/**
 * A decimal number as a user writes one (`60`, `0.5`, `1e3`, `.25`), NaN for anything else: `Number` alone
 * takes `0x3c`, `0b101`, `0o7`, `Infinity` and an empty string (0), none of which an option means.
 */
function decimal(v: string): number {
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(v) ? Number(v) : NaN;
}

/**
 * Parser for a non-negative (or positive) number option.
 *
 * @example
 * ```ts
 * import { positiveNumber } from "./common.ts";
 * console.log(positiveNumber("--idle-timeout")("60")); // 60
 * ```
 */
export function positiveNumber(name: string, allowZero = false): (v: string) => number {
  return (v: string): number => {
    const n = decimal(v);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
      throw new InvalidArgumentError(`${name} must be a ${allowZero ? "non-negative" : "positive"} number`);
    }
    return n;
  };
}

/**
 * Parser for an integer option with a minimum.
 *
 * @example
 * ```ts
 * import { integer } from "./common.ts";
 * console.log(integer("--max-flows", 0)("10")); // 10
 * ```
 */
export function integer(name: string, min: number): (v: string) => number {
  // Past 2^53 an integer is not held exactly (99999999999999999999 read as 1e20, taken as no limit).
  return integerBetween(min, Number.MAX_SAFE_INTEGER, `${name} must be an integer from ${min} to 2^53 - 1`);
}

/** Parser for an integer from `min` to `max`, failing with `message`. */
function integerBetween(min: number, max: number, message: string): (v: string) => number {
  return (v: string): number => {
    const n = decimal(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(message);
    }
    return n;
  };
}

/**
 * Parser for an integer option from `min` to `max`: {@linkcode integer} with an upper bound, whose message
 * states the whole range (values that reach libpcap as a C int, bounded buffers).
 *
 * @example
 * ```ts
 * import { integerInRange } from "./common.ts";
 * console.log(integerInRange("--snaplen", 1, 262144)("1500")); // 1500
 * ```
 */
export function integerInRange(name: string, min: number, max: number): (v: string) => number {
  return integerBetween(min, max, `${name} must be an integer from ${min} to ${max}`);
}

/**
 * Parser for a TCP/UDP port option: an integer from 0 (any free port) to 65535.
 *
 * @example
 * ```ts
 * import { portNumber } from "./common.ts";
 * console.log(portNumber("--metrics")("9464")); // 9464
 * ```
 */
export function portNumber(name: string): (v: string) => number {
  return integerBetween(0, 65535, `${name} must be a port number, 0 to 65535`);
}

/**
 * Parser for a fraction in (0, 1].
 *
 * @example
 * ```ts
 * import { fraction } from "./common.ts";
 * console.log(fraction("--sampling-rate")("0.5")); // 0.5
 * ```
 */
export function fraction(name: string): (v: string) => number {
  return (v: string): number => {
    const n = decimal(v);
    if (!Number.isFinite(n) || n <= 0 || n > 1) throw new InvalidArgumentError(`${name} must be in (0, 1]`);
    return n;
  };
}

/**
 * 1234567 -> "1.23M".
 *
 * @example
 * ```ts
 * import { fmtRate } from "./common.ts";
 * console.log(fmtRate(2500)); // 2.5k
 * ```
 */
export function fmtRate(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

/** The packet and flow counts of a run, as both summaries have them. */
export interface PacketCounts {
  packetsRead: number;
  packetsDecoded: number;
  packetsSkipped: Record<string, number>;
  packetsSampledOut: number;
  flows: number;
}

/**
 * The parts of a summary line that count packets and flows: read (or `verb`), decoded, skipped with the
 * reasons, sampled out (when any), flows written.
 *
 * @example
 * ```ts
 * import { packetCountParts } from "./common.ts";
 * const s = { packetsRead: 3, packetsDecoded: 2, packetsSkipped: { "not IP": 1 }, packetsSampledOut: 0, flows: 1 };
 * console.log(packetCountParts(s, "read").join(", "));
 * // 3 packets read, 2 decoded, 1 skipped (not IP: 1), 1 flows written
 * ```
 */
export function packetCountParts(s: PacketCounts, verb: string): string[] {
  const skipped = Object.entries(s.packetsSkipped);
  const nSkipped = skipped.reduce((a, [, v]) => a + v, 0);
  const parts = [
    `${s.packetsRead} packets ${verb}`,
    `${s.packetsDecoded} decoded`,
    `${nSkipped} skipped${skipped.length ? ` (${skipped.map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}`,
  ];
  if (s.packetsSampledOut > 0) parts.push(`${s.packetsSampledOut} sampled out`);
  parts.push(`${s.flows} flows written`);
  return parts;
}

/**
 * The exit code of a run over capture files, once its summary is written: 130 when a signal stopped it, 1 when
 * it failed (an input none of whose packets could be read, one that is not a capture among several, records an
 * export lost), after an error line giving the first reason (a warning gave it too), so that the run does not
 * end on a summary alone; else 0.
 *
 * @example
 * ```ts
 * import { runExitCode } from "./common.ts";
 * console.log(runExitCode({ stopped: false, failures: [] })); // 0
 * ```
 */
export function runExitCode(summary: { stopped: boolean; failures: readonly string[] }): number {
  if (summary.stopped) return 130;
  const failures = summary.failures;
  if (failures.length === 0) return 0;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more, in the warnings above)` : "";
  console.error(`jj: error: ${failures[0]}${more}`);
  return 1;
}

/** What a run says on stderr when its first signal stops it (see {@linkcode stopOnSignals}). */
export const STOPPING = "jj: stopping; writing the flows still held (signal again to quit at once)";

/** What {@linkcode stopOnSignals} gives. */
export interface SignalStop {
  /** Aborted by the first SIGINT, SIGTERM or SIGHUP. */
  signal: AbortSignal;
  /** Removes the signal listeners. */
  dispose(): void;
}

/**
 * Stops a run cleanly on its first SIGINT, SIGTERM or SIGHUP (Ctrl-C, `kill`, or the terminal closed, as
 * tcpdump does): `signal` is aborted, after `notice`
 * is written on stderr unless it is empty; a second signal exits at once with 130, after `beforeExit` (which
 * puts the terminal back, for a progress bar). Without it a signal killed the process: the flows a capture on a
 * pipe still held (`tcpdump -w - | jj extract -`, stopped with Ctrl-C) were lost.
 *
 * @example
 * ```ts
 * import { stopOnSignals } from "./common.ts";
 * const stop = stopOnSignals("");
 * console.log(stop.signal.aborted); // false
 * stop.dispose();
 * ```
 */
export function stopOnSignals(notice: string, beforeExit?: () => void): SignalStop {
  const stop = new AbortController();
  const onSignal = () => {
    if (!stop.signal.aborted) {
      try {
        if (notice !== "") console.error(notice);
      } catch {
        // A closed terminal (SIGHUP): the run still ends cleanly, and writes its files.
      }
      stop.abort();
      return;
    }
    beforeExit?.();
    Deno.exit(130);
  };
  const sigs: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const s of sigs) Deno.addSignalListener(s, onSignal);
  return {
    signal: stop.signal,
    dispose: () => {
      for (const s of sigs) Deno.removeSignalListener(s, onSignal);
    },
  };
}

/**
 * Writes every byte of `bytes` to `w` (a file, stdout or a connection), however many `write` calls it takes.
 *
 * @example
 * ```ts
 * import { writeAll } from "./common.ts";
 * await writeAll(Deno.stdout, new TextEncoder().encode("x\n"));
 * ```
 */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await w.write(bytes.subarray(off));
}

/**
 * A byte stream onto `file` whose writes reach the file at once. `FsFile.writable` buffers (in Deno 2.9 a write
 * shows in the file only at close, which would hold a live capture's lines back until it stops) and drops the
 * error of a failed write (a full disk gave a cut file and exit code 0). Errors here reject the write. Closing
 * the stream closes the file. With `truncate`, the file (opened without truncating) is emptied just before the
 * first write, or at close when nothing was written: a run that fails before its first output leaves an existing
 * file as it was.
 *
 * @example
 * ```ts
 * import { unbufferedFileStream } from "./common.ts";
 * const file = await Deno.open(await Deno.makeTempFile(), { write: true });
 * const w = unbufferedFileStream(file).getWriter();
 * await w.write(new TextEncoder().encode("x\n"));
 * await w.close();
 * ```
 */
export function unbufferedFileStream(
  file: Deno.FsFile,
  options: { truncate?: boolean; path?: string; created?: boolean } = {},
): WritableStream<Uint8Array> {
  let pendingTruncate = options.truncate === true;
  let written = false;
  const named = (e: unknown): unknown =>
    options.path === undefined || e instanceof Deno.errors.BrokenPipe
      ? e
      : new InputError(`cannot write ${options.path}: ${e instanceof Error ? e.message : e}`);
  // Devices (/dev/null, /dev/stdout) cannot be truncated, and need not be.
  const truncate = async (): Promise<void> => {
    pendingTruncate = false;
    if ((await file.stat()).isFile) await file.truncate(0);
  };
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      try {
        if (pendingTruncate) await truncate();
        written = true;
        await writeAll(file, chunk);
      } catch (e) {
        throw named(e);
      }
    },
    async close() {
      try {
        if (pendingTruncate) await truncate();
      } catch (e) {
        throw named(e);
      } finally {
        file.close();
      }
    },
    abort() {
      file.close();
      // A failed run leaves no empty file it created (an empty .parquet or .gz is not even a valid one).
      if (options.created === true && !written && options.path !== undefined) {
        try {
          Deno.removeSync(options.path);
        } catch { /* already gone */ }
      }
    },
  });
}

/**
 * Opens `path` for output as {@linkcode unbufferedFileStream} with `truncate` writes to it: created when missing,
 * emptied only when output begins, removed again when the stream is aborted before any write (a run that failed)
 * and it was created here. Throws an {@linkcode InputError} naming the path when it cannot be opened.
 *
 * @example
 * ```ts
 * import { openOutputFile } from "./common.ts";
 * const w = (await openOutputFile(await Deno.makeTempFile())).getWriter();
 * await w.close();
 * ```
 */
export async function openOutputFile(path: string): Promise<WritableStream<Uint8Array>> {
  let file: Deno.FsFile;
  let created = false;
  try {
    try {
      file = await Deno.open(path, { write: true, createNew: true });
      created = true;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      file = await Deno.open(path, { write: true });
    }
  } catch (e) {
    throw new InputError(`cannot write ${path}: ${e instanceof Error ? e.message : e}`);
  }
  return unbufferedFileStream(file, { truncate: true, path, created });
}

/**
 * Refuses (a {@linkcode UsageError}) an output file that is also one of the inputs: it would be emptied while it
 * is still being read. Compared by device and inode, so that another name for the same file is caught too. An
 * output name that starts with `-` (but `-`, stdout) is refused as well: it is an option taken for the name.
 *
 * @example
 * ```ts
 * import { refuseOutputAsInput } from "./common.ts";
 * refuseOutputAsInput(["testdata/http.pcap"], "flows.jsonl"); // different files: returns
 * ```
 */
export function refuseOutputAsInput(inputs: readonly string[], output: string | undefined): void {
  if (output === "") throw new UsageError("-o needs a file name (or - for stdout), got an empty one");
  if (output === undefined || output === "-") return;
  refuseOptionAsFileName("-o", output);
  for (const input of inputs) {
    if (input === "-") {
      // Stdin redirected from the output file (`-o F < F`): truncating F emptied the input part way. A device
      // (`-o /dev/null < /dev/null`) is not emptied.
      if (sameFile("/dev/stdin", output) && isFileSync(output)) {
        throw new UsageError(
          `-o ${output} is also an input (stdin is redirected from it), which it would overwrite; write to ` +
            "another file",
        );
      }
      continue;
    }
    if (sameFile(input, output)) {
      throw new UsageError(
        `-o ${output} is also an input (${input}), which it would overwrite; write to another file`,
      );
    }
    if (CAPTURE_EXT.test(basename(output)) && isInside(output, input)) {
      throw new UsageError(
        `-o ${output} is a capture file name inside the input directory ${input}: it would be read as an ` +
          `input (and overwritten if it is one); write outside it or under another name`,
      );
    }
  }
}

/**
 * Refuses (a {@linkcode UsageError}) a file name that starts with `-` (but `-` itself, stdin or stdout) given
 * to `flag`: the option parser takes the next word as the value, whatever it is, so `-o --format csv` wrote a file
 * named `--format` and `--key --quiet` made a key file of that name.
 *
 * @example
 * ```ts
 * import { refuseOptionAsFileName } from "./common.ts";
 * refuseOptionAsFileName("--save-pcap", "lo.pcap"); // a name: returns
 * ```
 */
export function refuseOptionAsFileName(flag: string, value: string | undefined): void {
  if (value === undefined || value === "-") return;
  if (value.startsWith("-")) {
    throw new UsageError(
      `${flag} needs a file name, got ${value} (for a file of that name, write ./${value})`,
    );
  }
  // `-o=flows.csv`: a short option takes no "=" (its value is "=flows.csv"), which wrote a file of that name, or
  // made a new key `=site.key` in place of the one meant.
  if (value.startsWith("=")) {
    // A name with a directory in it (=/tmp/x.key) is no file named so in this one.
    const named = value.includes("/") ? "" : `; for a file of that name, write ./${value}`;
    throw new UsageError(
      `${flag} needs a file name, got ${value} (an option's value comes after a space, not "=": -o FILE, ` +
        `-k FILE${named})`,
    );
  }
}

/**
 * Refuses (a {@linkcode UsageError}) stdin (`-`) given more than once among the inputs: it can be read once (the
 * second was an empty input, a failure).
 *
 * @example
 * ```ts
 * import { refuseStdinTwice } from "./common.ts";
 * refuseStdinTwice(["-", "a.pcap"]); // once: returns
 * ```
 */
export function refuseStdinTwice(inputs: readonly string[]): void {
  if (inputs.filter((i) => i === "-").length > 1) {
    throw new UsageError("stdin (-) is given more than once among the inputs; it can be read once");
  }
}

/**
 * Throws an {@linkcode InputError} when an input of records (`anon`, `label-subnets`) had lines but not one
 * JSON object: a capture, a Parquet or CSV file, or compressed bytes given where JSON Lines are read. Its lines
 * were each left out with a warning; exit 0 with empty output would pass for success.
 *
 * @example
 * ```ts
 * import { refuseNoRecords } from "./common.ts";
 * refuseNoRecords("flows.jsonl", 3, 1); // records were read: nothing to say
 * ```
 */
export function refuseNoRecords(source: string, records: number, bad: number): void {
  if (records > 0 || bad === 0) return;
  throw new InputError(
    `${source === "-" ? "<stdin>" : source}: no JSON object in its ${bad} line(s); this command reads ` +
      "JSON Lines flow records (jj extract's output, also --format joy)",
  );
}

/**
 * Whether `path` lies somewhere below the directory `dir` (both resolved through symbolic links as far as they
 * exist), or below a directory that a link inside `dir` leads to: a capture file written there is one a
 * directory input reads. (Only capture names are checked, so the walk is rare.)
 */
function isInside(path: string, dir: string): boolean {
  const real = (p: string): string => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return resolve(p);
    }
  };
  try {
    if (!Deno.statSync(dir).isDirectory) return false;
  } catch {
    return false;
  }
  const parent = real(dirname(resolve(path)));
  const root = real(dir);
  if (parent === root || parent.startsWith(root.endsWith("/") ? root : `${root}/`)) return true;
  // A directory input's reading follows links to directories: the directories they reach are inside it too.
  try {
    return walkCaptureTree(dir, () => {}, () => {}).has(parent);
  } catch {
    return false;
  }
}

/** Whether `path` is a regular file (not a device, a FIFO or a directory; false when it cannot be read). */
function isFileSync(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Whether two paths name the same file: the same path once resolved, or, when both exist, the same device and
 * inode (a link, another relative path).
 *
 * @example
 * ```ts
 * import { sameFile } from "./common.ts";
 * console.log(sameFile("a.pcap", "./a.pcap"), sameFile("a.pcap", "b.pcap")); // true false
 * ```
 */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const x = Deno.statSync(a), y = Deno.statSync(b);
    return x.ino !== null && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/**
 * Fails with an {@linkcode InputError} naming `path` when it is missing or a directory (`-`, stdin, passes).
 * Checked before anything is created (a key file, an output file).
 *
 * @example
 * ```ts
 * import { checkInputFile } from "./common.ts";
 * await checkInputFile("-");
 * await checkInputFile("/no/such/file").catch((e) => console.log(e.message)); // cannot read /no/such/file: no such file or directory
 * ```
 */
export async function checkInputFile(path: string): Promise<void> {
  if (path === "-") return;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${whyUnreadable(e)}`);
  }
  if (info.isDirectory) throw new InputError(`cannot read ${path}: is a directory`);
}

/**
 * Reads a generator to its end, awaiting `each` for every value, and returns the generator's return value (a
 * run's summary). When `each` throws, the generator is ended (its `finally` blocks run) before the error is
 * thrown on.
 *
 * @example
 * ```ts
 * import { drain } from "./common.ts";
 * async function* gen(): AsyncGenerator<number, string> {
 *   yield 1;
 *   return "done";
 * }
 * console.log(await drain(gen(), async () => {})); // done
 * ```
 */
export async function drain<T, R>(it: AsyncGenerator<T, R>, each: (value: T) => Promise<void>): Promise<R> {
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    try {
      await each(r.value);
    } catch (e) {
      // The generator's own clean-up (its finally: closing files, ending workers) runs before the error goes on.
      await it.return(undefined as R).catch(() => {});
      throw e;
    }
  }
}

/**
 * The long flags (`--no-decap` for `decap`) of the options given on `cmd`'s command line, not by default.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { givenOptions } from "./common.ts";
 * const cmd = new Command("x").option("--a").option("--b", "", "1").parse(["--a"], { from: "user" });
 * console.log(givenOptions(cmd)); // ["--a"]
 * ```
 */
export function givenOptions(cmd: Command): string[] {
  return cmd.options
    .filter((opt) => cmd.getOptionValueSource(opt.attributeName()) === "cli")
    .map((opt) => opt.long ?? opt.short ?? opt.flags);
}

/**
 * Makes `cmd` and its subcommands refuse an option that takes a value given twice (a usage error, exit 2), but
 * those `repeatable` names (`--label`, `--extractor`): commander keeps the last value without a word, so that
 * `anon --subnets a.net --subnets b.net` left the addresses of a.net in clear, and `--filter A --filter B`
 * filtered by B alone.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { refuseRepeatedOptions } from "./common.ts";
 * const p = new Command("x").option("--key <file>").exitOverride().configureOutput({ outputError: () => {} });
 * refuseRepeatedOptions(p, () => false);
 * let code = 0;
 * try {
 *   p.parse(["--key", "a", "--key", "b"], { from: "user" });
 * } catch (e) {
 *   code = (e as { exitCode: number }).exitCode;
 * }
 * console.log(code); // 2
 * ```
 */
export function refuseRepeatedOptions(cmd: Command, repeatable: (option: Option) => boolean): void {
  for (const sub of cmd.commands) refuseRepeatedOptions(sub, repeatable);
  for (const option of cmd.options) {
    if (!(option.required || option.optional) || option.variadic || repeatable(option)) continue;
    let given = 0;
    cmd.on(`option:${option.name()}`, () => {
      if (++given > 1) {
        cmd.error(
          `error: ${option.long ?? option.short} is given more than once; it takes one value: give it once`,
          { exitCode: 2, code: "jj.repeatedOption" },
        );
      }
    });
  }
}
