/**
 * A progress bar on stderr for long runs (`cli-progress`): bytes of capture read (with a percentage and ETA when
 * the inputs' total size is known), packets per second and flows held. It appears only when stderr is a
 * terminal, after the first second (short runs stay silent), and never with `--quiet`; `extract` shows it only
 * when the records go to a file (`-o`).
 *
 * @module
 */
import process from "node:process";
import cliProgress from "cli-progress";
import { fmtRate } from "./cli/common.ts";
import { isGzipFileSync, walkCaptureTree } from "./capture_file.ts";

/** The `cli-progress` bar API used here. */
interface Bar {
  start(total: number, value: number, payload?: Record<string, unknown>): void;
  update(value: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}

/** What the extraction loop calls. */
export interface ProgressReporter {
  /** Progress so far: bytes of capture read, packets read, flows currently held. */
  update(bytesRead: number, packets: number, activeFlows: number): void;
  /** Removes nothing, ends the bar's line; call before printing the summary. */
  stop(): void;
}

/** Options of {@linkcode createProgress}. */
export interface ProgressOptions {
  /** No bar at all. */
  quiet?: boolean;
  /** Show the bar even when stderr is not a terminal (tests). */
  force?: boolean;
  /** Seconds to wait before showing the bar (default 1). */
  delay?: number;
}

/**
 * Total size in bytes of the given inputs (files, and captures inside directories); 0 when unknown (stdin).
 *
 * @example
 * ```ts
 * import { inputBytes } from "./progress.ts";
 * console.log(inputBytes(["-"])); // 0
 * ```
 */
export function inputBytes(inputs: readonly string[]): number {
  let total = 0;
  for (const i of inputs) {
    if (i === "-") return 0;
    try {
      const info = Deno.statSync(i);
      if (!info.isDirectory) {
        total += info.size;
        continue;
      }
      // What a directory input reads (links followed, each directory once); a part that cannot be read makes
      // the total unknown.
      let unknown = false;
      walkCaptureTree(i, (path) => total += Deno.statSync(path).size, () => unknown = true);
      if (unknown) return 0;
    } catch {
      return 0;
    }
  }
  return total;
}

/** True when a file input, or a capture inside a directory input, is gzip-compressed (by name or bytes). */
function isCompressed(input: string): boolean {
  try {
    if (input === "-" || !Deno.statSync(input).isDirectory) return isGzipFileSync(input);
  } catch {
    return false;
  }
  // The captures a directory input reads (links followed, each directory once).
  let found = false;
  walkCaptureTree(input, (path) => found ||= isGzipFileSync(path), () => {});
  return found;
}

/**
 * A progress bar for reading `inputs`, or null when none is to be shown (quiet, or stderr not a terminal).
 *
 * @example
 * ```ts
 * import { createProgress } from "./progress.ts";
 * const p = createProgress(["capture.pcap"], { quiet: true });
 * console.log(p); // null
 * ```
 */
export function createProgress(
  inputs: readonly string[],
  options: ProgressOptions = {},
): ProgressReporter | null {
  if (options.quiet) return null;
  if (!options.force && !Deno.stderr.isTerminal()) return null;
  // A compressed input's bytes read are the decompressed ones, which its file size does not bound: the bar
  // showed 100% from the first second, "523.8/7.7 MB". Without a total it shows the bytes read.
  const total = inputs.some(isCompressed) ? 0 : inputBytes(inputs);
  const delayMs = (options.delay ?? 1) * 1000;
  const started = performance.now();
  const format = total > 0
    ? "{bar} {percentage}% | {mb}/{totalMb} MB | {pps} packets/s | {flows} active flows | ETA {eta_formatted}"
    : "{mb} MB read | {pps} packets/s | {flows} active flows";
  let bar: Bar | null = null;
  let last = { bytes: 0, packets: 0, flows: 0 };
  const payload = (bytes: number, packets: number, flows: number) => {
    const secs = Math.max((performance.now() - started) / 1000, 1e-3);
    return {
      mb: (bytes / 1e6).toFixed(1),
      totalMb: (total / 1e6).toFixed(1),
      pps: fmtRate(packets / secs),
      flows,
    };
  };
  return {
    update(bytes: number, packets: number, flows: number): void {
      last = { bytes, packets, flows };
      if (bar === null) {
        if (performance.now() - started < delayMs) return;
        bar = new cliProgress.SingleBar({
          format,
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
          barsize: 30,
          noTTYOutput: options.force === true,
          notTTYSchedule: 500,
          etaBuffer: 50,
        }, cliProgress.Presets.shades_classic) as Bar;
        bar.start(
          total > 0 ? total : 1,
          total > 0 ? Math.min(bytes, total) : 0,
          payload(bytes, packets, flows),
        );
        return;
      }
      bar.update(total > 0 ? Math.min(bytes, total) : 0, payload(bytes, packets, flows));
    },
    stop(): void {
      if (bar === null) return;
      bar.update(total > 0 ? Math.min(last.bytes, total) : 0, payload(last.bytes, last.packets, last.flows));
      bar.stop();
      bar = null;
    },
  };
}
