/**
 * `jj extract`: captures in, one JSON line per flow out, a summary on stderr.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { extractFlows, type ExtractOptions, type ExtractSummary } from "../extract.ts";
import type { FeatureSpec, FlowRecord } from "../extractor.ts";
import { idpExtractor, ipfixCountersExtractor } from "../../outputs/ipfix.ts";
import { registerExtractor } from "../registry.ts";
import { loadExtractorModule, planExtraction } from "../options.ts";
import { LABEL_FEATURES } from "../subnets.ts";
import { formatFromPath, openRecordWriter, OUTPUT_FORMATS } from "../../outputs/mod.ts";
import { extractJsonlParallel, shardingConflicts } from "../parallel.ts";
import { createProgress, inputBytes } from "../progress.ts";
import { collect, LABEL_OPTION_HELP, labelerFromOptions, labelSources } from "./label_subnets.ts";
import {
  drain,
  fmtRate,
  givenOptions,
  integerInRange,
  openOutputFile,
  packetCountParts,
  refuseOutputAsInput,
  refuseStdinTwice,
  runExitCode,
  stopOnSignals,
  STOPPING,
  UsageError,
  writeAll,
} from "./common.ts";
import {
  addFeatureOptions,
  addFlowOptions,
  type FeatureCliOptions,
  featureOptionsFrom,
  type FlowCliOptions,
  flowOptionsFrom,
  refuseIgnoredSettings,
} from "./flow_options.ts";
import { addIpfixOptions, type IpfixCliOptions, refuseIdleIpfixOptions, withIpfix } from "./live.ts";
import { JOY_NO_STDIN, runJoyExtract } from "../joy/extract.ts";
import { parseJoyConfigList } from "../joy/config.ts";

/** Options of `jj extract` as commander parses them. */
export interface ExtractCliOptions extends IpfixCliOptions, FlowCliOptions, FeatureCliOptions {
  output?: string;
  format?: string;
  label?: string[];
  features?: string;
  filter?: string;
  reader: "auto" | "builtin" | "libpcap";
  quiet?: boolean;
  /** Worker count for sharded extraction (1 or absent: in this thread; `auto`: see {@linkcode autoWorkers}). */
  workers?: number | "auto";
  /** Joy options for `--format joy` (`dhcp=1,ike=1,...`). */
  joyConfig?: string;
  /** Read the inputs as one capture (see `ExtractOptions.oneCapture`). */
  oneCapture?: boolean;
}

/**
 * Loads `--extractor` modules and registers their extractors (so that `--features` and the writers know their
 * columns); returns their group names. A module that cannot be used is a usage error.
 *
 * @example
 * ```ts
 * import { loadUserExtractors } from "./extract.ts";
 * console.log(await loadUserExtractors(["docs/example_extractor.ts"])); // ["first_bytes"]
 * ```
 */
export async function loadUserExtractors(files: string[] | undefined): Promise<string[]> {
  const names: string[] = [];
  for (const file of files ?? []) {
    try {
      for (const e of await loadExtractorModule(file)) {
        registerExtractor(e);
        names.push(e.name);
      }
    } catch (e) {
      throw new UsageError(`--extractor ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return names;
}

/**
 * The groups a run extracts when `--extractor` loaded the groups `plugins`: those `features` names (all by
 * default) and every loaded one, which runs whatever `--features` names (`all` leaves out registered groups with
 * `finalize`, such as a plugin that needs every flow).
 *
 * @example
 * ```ts
 * import { withUserExtractors } from "./extract.ts";
 * console.log(withUserExtractors(["timing"], ["first_bytes"])); // ["timing", "first_bytes"]
 * console.log(withUserExtractors(undefined, [])); // undefined
 * ```
 */
export function withUserExtractors(features: string[] | undefined, plugins: string[]): string[] | undefined {
  if (plugins.length === 0) return features;
  const named = features ?? ["all"];
  return [...named, ...plugins.filter((n) => !named.includes(n))];
}

/**
 * Prints the one-line summary of a run on stderr.
 *
 * @example
 * ```ts
 * import { printSummary } from "./extract.ts";
 * printSummary({
 *   inputs: 1, packetsRead: 10, packetsDecoded: 9, packetsSkipped: { "not IP": 1 }, packetsSampledOut: 0,
 *   flows: 2, bytesRead: 1000, problems: [], failures: [], stopped: false, reader: "builtin",
 * }, 0.01);
 * ```
 */
export function printSummary(s: ExtractSummary, seconds: number): void {
  const parts = packetCountParts(s, "read");
  console.error(
    `jj: ${parts.join(", ")}; ${s.inputs} input(s), ${(s.bytesRead / 1e6).toFixed(1)} MB in ${
      seconds.toFixed(2)
    } s (${fmtRate(s.packetsRead / Math.max(seconds, 1e-9))} packets/s, reader ${s.reader})${
      s.stopped ? "; stopped by a signal before the end of the input" : ""
    }`,
  );
}

/**
 * Turns `--features a,b` into a list (the names are checked where they are looked up: selectExtractors). A list
 * without a name (`--features ""`, `,`) is a usage error: it read as every group, what leaving it out gives.
 *
 * @example
 * ```ts
 * import { parseFeatureList } from "./extract.ts";
 * console.log(parseFeatureList("timing, tcp")); // [ "timing", "tcp" ]
 * ```
 */
export function parseFeatureList(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new UsageError(`--features names no group (got "${text}"); see jj features`);
  return list;
}

/** The options `--format joy` uses (Joy's own pipeline reads the captures); any other one given is an error. */
const JOY_OPTIONS: ReadonlySet<string> = new Set([
  "--output",
  "--format",
  "--reader",
  "--joy-config",
  "--quiet",
]);

/**
 * Option combinations that cannot work, as usage errors, checked before any input is read. `given`: the long
 * flags given on the command line (see {@linkcode runExtract}).
 */
function checkConflicts(o: ExtractCliOptions, given: readonly string[]): void {
  if (o.format === "joy") {
    const unused = given.filter((f) => !JOY_OPTIONS.has(f));
    if (unused.length > 0) {
      throw new UsageError(
        `${unused.join(", ")} cannot be used with --format joy, which takes only -o/--output, --reader, ` +
          "--joy-config and -q/--quiet",
      );
    }
    return;
  }
  if (o.joyConfig !== undefined) throw new UsageError("--joy-config needs --format joy");
  refuseIdleIpfixOptions(o, given);
  if (o.label !== undefined && o.anonymizeIps) {
    throw new UsageError(
      "--label cannot be used with --anonymize-ips: labels match the flows' real addresses, which " +
        "--anonymize-ips replaces in the records before labels would be applied",
    );
  }
}

/**
 * Runs `jj extract`; returns the exit code. `given` lists the long flags of the options given on the command
 * line (not left at their defaults): with `--format joy`, any option but those Joy uses is a usage error.
 *
 * @example
 * ```ts
 * import { runExtract } from "./extract.ts";
 * const code = await runExtract(["testdata/http.pcap"], {
 *   format: "jsonl", reader: "auto", idleTimeout: 60, activeTimeout: 1800, maxFlows: 0, decap: true,
 *   samplingRate: 1, burstThresholdMs: 50, quiet: true,
 * });
 * console.log(code); // 0
 * ```
 */
export async function runExtract(
  inputs: string[],
  o: ExtractCliOptions,
  given: readonly string[] = [],
): Promise<number> {
  checkConflicts(o, given);
  // The label files and extractor modules are read too: -o must not overwrite them.
  refuseOutputAsInput([...inputs, ...labelSources(o.label), ...(o.extractor ?? [])], o.output);
  refuseStdinTwice(inputs);
  if (o.format === "joy") {
    if (inputs.includes("-")) throw new UsageError(JOY_NO_STDIN);
    let config;
    try {
      config = o.joyConfig === undefined ? undefined : parseJoyConfigList(o.joyConfig);
    } catch (e) {
      throw new UsageError(`--joy-config: ${e instanceof Error ? e.message : String(e)}`);
    }
    return runJoyExtract(inputs, { output: o.output, reader: o.reader, quiet: o.quiet, config });
  }
  const started = performance.now();
  const features = withUserExtractors(parseFeatureList(o.features), await loadUserExtractors(o.extractor));
  const labeler = await labelerFromOptions(o.label);
  // Records on stdout reach a terminal too, at once or through a pipe (jq): the bar's redraws would cut into
  // their lines there. It is shown when they go to a file.
  const progress = createProgress(inputs, { quiet: o.quiet || o.output === undefined || o.output === "-" });
  const opts: ExtractOptions = {
    features,
    filter: o.filter,
    reader: o.reader,
    oneCapture: o.oneCapture,
    ...flowOptionsFrom(o),
    ...featureOptionsFrom(o),
    onWarning: (m) => console.error(`jj: warning: ${m}`),
    onProgress: progress?.update,
  };
  // JoyfulJay's default, an empty salt, is kept (its hashes match JoyfulJay's), but said: 2^32 guesses undo an
  // unsalted IPv4 hash.
  if (opts.anonymizeIps === true && opts.anonymizationSalt === undefined) {
    console.error(
      "jj: warning: --anonymize-ips without --anonymization-salt hashes addresses unsalted (as JoyfulJay does): " +
        "anyone can hash every IPv4 address (or every IPv6 one made from a MAC) and undo them; give a secret salt",
    );
  }
  const labels = labelStep(labeler, opts);
  // As the library is asked: the label columns, which this command writes, stand for the addresses they need.
  refuseIgnoredSettings({ ...o, specificFeatures: opts.specificFeatures?.join(",") }, given, features);
  const conflicts = o.workers === 1 ? [] : parallelConflicts(inputs, o, opts, labeler !== null);
  // `auto` only changes speed, so it keeps user extractors in one thread: each worker loads a module of its own,
  // and a module's state across flows (a counter in the module) would be split between them. --workers N
  // asks for that (docs/extractors.md).
  const workers = o.workers === "auto"
    ? autoWorkers(inputs, (o.extractor?.length ?? 0) > 0 ? [...conflicts, "--extractor"] : conflicts)
    : o.workers ?? 1;
  // Ctrl-C ends the input where it is, and the flows held are written (a capture on a pipe has no other end).
  const stop = stopOnSignals(o.quiet ? "" : STOPPING, () => progress?.stop());
  opts.signal = stop.signal;
  let summary: ExtractSummary;
  try {
    summary = workers > 1
      ? await runParallel(inputs, workers, o, opts, conflicts)
      : await runOneThread(inputs, o, opts, labels);
  } catch (e) {
    // Ctrl-C reaches the whole pipeline: the consumer is gone too when the flows held are written. The run was
    // still stopped by a signal, not complete (it exited 0, as a consumer that stops early leaves it).
    // The consumer may have died of the signal before jj saw it: the producer, gone too, ended the input, and
    // the flows held met the closed pipe first. The signal is waited for a moment (exit 0 there was a race).
    if (e instanceof Deno.errors.BrokenPipe && !stop.signal.aborted) await signalGrace(stop.signal);
    if (e instanceof Deno.errors.BrokenPipe && stop.signal.aborted) {
      if (!o.quiet) {
        console.error(
          "jj: stopped by a signal; the output pipe was closed before the flows held were written",
        );
      }
      return 130;
    }
    throw e;
  } finally {
    stop.dispose();
    // Ends the bar's line, so that the summary or an error starts a line of its own.
    progress?.stop();
  }
  if (!o.quiet) printSummary(summary, (performance.now() - started) / 1000);
  return runExitCode(summary);
}

/** Resolves when `signal` aborts, or after 200 ms. */
function signalGrace(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, 200);
    signal.addEventListener("abort", done);
  });
}

/** What `--label` does to the records of a run (see {@linkcode labelStep}). */
interface LabelStep {
  /** The label columns written, after the others. */
  columns: readonly FeatureSpec[];
  /** Columns the library writes only for the labels' sake (the addresses), left out of the output. */
  hidden: ReadonlySet<string>;
  /** Labels a record (and takes the hidden columns out). */
  apply(record: FlowRecord): FlowRecord;
}

/**
 * How `--label` shapes the records: both label columns, or under `--specific-features` those it names (none:
 * no label is written), after the other columns. The addresses they are found from are extracted even when
 * `--specific-features` leaves them out, and taken out again. A label column named without `--label` is a
 * usage error. `opts.specificFeatures` loses the label names (the library does not write them).
 */
function labelStep(
  labeler: Awaited<ReturnType<typeof labelerFromOptions>>,
  opts: ExtractOptions,
): LabelStep | null {
  const names = new Set(LABEL_FEATURES.map((f) => f.name));
  const specific = opts.specificFeatures;
  const asked = specific?.filter((n) => names.has(n)) ?? [];
  if (labeler === null) {
    if (asked.length > 0) {
      throw new UsageError(`--specific-features ${asked.join(",")}: written only with --label`);
    }
    return null;
  }
  if (specific === undefined) {
    return { columns: LABEL_FEATURES, hidden: new Set(), apply: (r) => labeler.apply(r) };
  }
  opts.specificFeatures = specific.filter((n) => !names.has(n));
  // A setting the run would ignore is a usage error, as --include-flow-id without flow_id is.
  if (asked.length === 0) {
    throw new UsageError(
      "--label adds the src_labels and dst_labels columns, which --specific-features leaves out",
    );
  }
  const hidden = new Set(["src_ip", "dst_ip"].filter((a) => !specific.includes(a)));
  opts.specificFeatures.push(...hidden);
  const dropped = LABEL_FEATURES.map((f) => f.name).filter((n) => !asked.includes(n));
  return {
    columns: LABEL_FEATURES.filter((f) => asked.includes(f.name)),
    hidden,
    apply(r) {
      labeler.apply(r);
      for (const c of dropped) delete r[c];
      for (const c of hidden) delete r[c];
      return r;
    },
  };
}

/** `extract` in this thread, to any output format. */
async function runOneThread(
  inputs: string[],
  o: ExtractCliOptions,
  opts: ExtractOptions,
  labels: LabelStep | null,
): Promise<ExtractSummary> {
  // The columns are worked out once withIpfix has added its groups (the idp template's) to opts.extractors.
  const writer = await withIpfix(
    () =>
      openRecordWriter(o.output ?? "-", o.format, [
        ...planExtraction(opts).features.filter((f) => labels === null || !labels.hidden.has(f.name)),
        ...(labels?.columns ?? []),
      ]),
    o,
    opts,
  );
  // Labels add columns to a record, so that it could not be reused as it is.
  opts.reuseRecords = writer.writesAtOnce === true && labels === null;
  let summary: ExtractSummary;
  let written = 0, writeError: { error: unknown } | null = null;
  try {
    summary = await drain(
      extractFlows(inputs, opts),
      async (r) => {
        try {
          await writer.write(labels !== null ? labels.apply(r) : r);
        } catch (error) {
          writeError = { error };
          throw error;
        }
        written++;
      },
    );
  } catch (e) {
    // The extraction failed (a user extractor threw) after records were made: they are written, queued ones
    // too. Else the batch being written is finished, what was written is kept, and -o is left as it was when
    // nothing was (see openRecordWriter), as a parallel run does.
    if (writeError === null && written > 0) await writer.close().catch(() => writer.abort(e).catch(() => {}));
    else await writer.abort(e).catch(() => {});
    throw e;
  }
  if (summary.flows === 0 && summary.failures.length > 0) {
    // A run that failed and wrote nothing (every input unreadable) leaves -o as it was, as one bad input does.
    await writer.abort(new Error(summary.failures[0])).catch(() => {});
    return summary;
  }
  await writer.close();
  // Records the collector never got make the run fail, as a write error to a file does.
  const lost = writer.ipfix?.stats.lost ?? 0;
  if (lost > 0) summary.failures.push(`IPFIX export: ${lost} records lost`);
  return summary;
}

/** Inputs at least this large (in total) are worth the start-up of workers (about 0.25 s on this machine class,
 * against a run about 30% shorter on two cores). */
const AUTO_WORKERS_MIN_BYTES = 256 * 1024 * 1024;

/**
 * `--workers auto`: as many workers as cores (at most 4) when the run can be sharded (`conflicts` is empty) and
 * the inputs are files of at least `minBytes` in all (enough to repay the workers' start-up); else 1. Sharded
 * output is the same as one thread's (see lib/parallel.ts), so the choice only changes speed.
 *
 * @example
 * ```ts
 * import { autoWorkers } from "./extract.ts";
 * console.log(autoWorkers(["testdata/http.pcap"], [])); // 1 (a small capture)
 * ```
 */
export function autoWorkers(
  inputs: string[],
  conflicts: string[],
  minBytes = AUTO_WORKERS_MIN_BYTES,
): number {
  const cores = navigator.hardwareConcurrency ?? 1;
  if (cores < 2 || conflicts.length > 0) return 1;
  const bytes = inputBytes(inputs);
  return bytes > 0 && bytes >= minBytes ? Math.min(cores, 4) : 1;
}

/** Why a run cannot be sharded over workers (empty when it can). */
function parallelConflicts(
  inputs: string[],
  o: ExtractCliOptions,
  opts: ExtractOptions,
  labels: boolean,
): string[] {
  // Invalid options are refused here, as a usage error, before any worker starts.
  planExtraction(opts);
  const byPath = o.output && o.output !== "-" ? formatFromPath(o.output) : { format: null, gzip: false };
  const fmt = o.format ?? byPath.format ?? "jsonl";
  const conflicts: string[] = [];
  if (fmt !== "jsonl" || byPath.gzip) conflicts.push("output formats other than plain JSON Lines");
  if (labels) conflicts.push("--label");
  if (o.ipfix) conflicts.push("--ipfix");
  return [...conflicts, ...shardingConflicts(inputs, opts)];
}

/** `extract --workers N`: sharded extraction in workers, JSON Lines text written as it comes. */
async function runParallel(
  inputs: string[],
  workers: number,
  o: ExtractCliOptions,
  opts: ExtractOptions,
  conflicts: string[],
): Promise<ExtractSummary> {
  if (conflicts.length > 0) throw new UsageError(`--workers cannot be used with ${conflicts.join(", ")}`);
  const file = o.output && o.output !== "-" ? (await openOutputFile(o.output)).getWriter() : null;
  const it = extractJsonlParallel(inputs, opts, {
    workers,
    extractorModules: o.extractor,
    onWarning: opts.onWarning,
    onProgress: opts.onProgress,
  });
  const write = file !== null
    ? (b: Uint8Array) => file.write(b)
    : (b: Uint8Array) => writeAll(Deno.stdout, b);
  let summary: ExtractSummary;
  try {
    summary = await drain(it, write);
  } catch (e) {
    // A failed run leaves -o as it was when nothing was written yet (openOutputFile).
    await file?.abort(e).catch(() => {});
    throw e;
  }
  if (summary.flows === 0 && summary.failures.length > 0) {
    // Every input unreadable: -o is left as it was (or not made), as one thread leaves it.
    await file?.abort(new Error(summary.failures[0])).catch(() => {});
    return summary;
  }
  await file?.close();
  return summary;
}

/**
 * Columns that only a CLI option adds, with the option: `--label`'s, the counters `--ipfix` exports and the
 * initial data packets of `--ipfix-template idp` (also written to the records). For `jj features` and
 * docs/features.md.
 *
 * @example
 * ```ts
 * import { OPTION_COLUMNS } from "./extract.ts";
 * console.log(OPTION_COLUMNS[0].name, OPTION_COLUMNS[0].option); // src_labels --label
 * ```
 */
export const OPTION_COLUMNS: readonly (FeatureSpec & { option: string })[] = [
  ...LABEL_FEATURES.map((f) => ({ ...f, option: "--label" })),
  ...ipfixCountersExtractor().features.map((f) => ({ ...f, option: "--ipfix" })),
  ...idpExtractor().features.map((f) => ({ ...f, option: "--ipfix-template idp" })),
];

/** Most workers `--workers` takes: each reads the whole input, so more than the cores only costs memory. */
const MAX_WORKERS = 64;

/** Parses `--workers`: `auto` or an integer from 1 to {@linkcode MAX_WORKERS}. */
function workerCount(v: string): number | "auto" {
  if (v === "auto") return "auto";
  try {
    return integerInRange("--workers", 1, MAX_WORKERS)(v);
  } catch {
    throw new InvalidArgumentError(`--workers must be auto or an integer from 1 to ${MAX_WORKERS}`);
  }
}

/**
 * Adds `extract` to the program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addExtractCommand } from "./extract.ts";
 * addExtractCommand(new Command("jj"), () => {});
 * ```
 */
export function addExtractCommand(program: Command, setResult: (p: Promise<number>) => void): Command {
  const base = program.command("extract")
    .description(
      "Read captures (files, directories, or - for stdin) and write one record per flow (JSON Lines, CSV or " +
        "Parquet).",
    )
    .argument("<inputs...>", "pcap/pcapng files, directories of captures, or - for stdin")
    .option(
      "-o, --output <file>",
      "write to FILE instead of stdout (format by extension: .jsonl .csv .parquet, +.gz)",
    )
    .addOption(
      new Option(
        "--format <format>",
        "output format (default: by extension, else jsonl); joy: Joy 4.5's JSON from uncompressed capture files " +
          "(as Joy reads them), which takes only -o, --reader, --joy-config and -q",
      ).choices([
        ...OUTPUT_FORMATS,
        "joy",
      ]),
    )
    .option("--label <spec>", LABEL_OPTION_HELP, collect)
    .option(
      "--features <groups>",
      "comma-separated feature groups (default: all, every group that streams; add connection for graph metrics, " +
        "which holds every flow until the end of input)",
    )
    .option("--filter <bpf>", "BPF filter, e.g. 'tcp port 443' (needs libpcap; not with --format joy)")
    .option(
      "--joy-config <list>",
      "with --format joy: Joy options over Joy's corpus settings, e.g. dhcp=1,dhcpv6=1,ike=1,ppi=1,salt=1,wht=1," +
        "zeros=1,retrans=1,hd=32,num_pkts=100,bidir=0,idp=0,dist=0,entropy=0,cdist=FILE (0/1 switches; " +
        "num_pkts 0..200)",
    )
    .addOption(
      new Option("--reader <reader>", "capture reader for files").choices(["auto", "builtin", "libpcap"])
        .default(
          "auto",
        ),
    )
    .option(
      "--one-capture",
      "read the inputs as one capture, in the order given: flows go on from one input into the next (captures " +
        "rotated by tcpdump -G or -C); by default each input's flows end with it",
    );
  const cmd = addFeatureOptions(addFlowOptions(base))
    .option(
      "--workers <n>",
      "extract on N workers, each holding a share of the flows, with the same output as one (JSON Lines; not " +
        "with connection, --max-flows, --label, --ipfix, stdin); auto: one per core (at most 4) for file inputs " +
        "of 256 MiB or more when the run allows it and no --extractor is given, else 1",
      workerCount,
      "auto",
    )
    .option("-q, --quiet", "no summary on stderr")
    .addHelpText(
      "after",
      `
With --format joy only -o/--output, --reader, --joy-config and -q/--quiet apply; any other option given is
an error (Joy applies its own filter, timeouts and features).

Examples:
  jj extract capture.pcap | jq .
  jj extract --features timing,size --filter 'tcp port 443' captures/ -o flows.jsonl
  jj extract --format joy --joy-config dhcp=1,ike=1,ppi=1 capture.pcap -o flows.json.gz
  tcpdump -i eth0 -w - | jj extract -
  jj extract --one-capture captures/   (tcpdump -G or -C rotated files, in their order)`,
    )
    .action((inputs: string[], o: ExtractCliOptions, cmd: Command) =>
      setResult(runExtract(inputs, o, givenOptions(cmd)))
    );
  return addIpfixOptions(cmd);
}
