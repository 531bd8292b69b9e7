/**
 * The flow and feature options that several subcommands take, declared once: the flow-table options (timeouts,
 * `--max-flows`, `--no-decap`, sampling, burst threshold) of `jj extract` and `jj live`, and the record-shaping
 * options (`--specific-features`, `--include-*`, `--entropy-sample-bytes`, `--extractor`, ...) of `jj extract`;
 * with the conversion of the parsed values into library options.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { FlowPipelineOptions } from "../pipeline.ts";
import { collect } from "./label_subnets.ts";
import { fraction, integer, integerInRange, positiveNumber, UsageError } from "./common.ts";
import { ANONYMIZED_COLUMNS, type FeatureOptions, planExtraction, splitName } from "../options.ts";
import { TIMING_BURST_COLUMNS } from "../../extractors/timing.ts";
import { PADDING_BURST_COLUMNS } from "../../extractors/padding.ts";

/** The flow-table options as commander parses them (see {@linkcode addFlowOptions}). */
export interface FlowCliOptions {
  idleTimeout: number;
  activeTimeout: number;
  tcpEnd?: boolean;
  maxFlows: number;
  evictionStrategy?: "lru" | "oldest";
  decap: boolean;
  samplingRate: number;
  burstThresholdMs: number;
}

/** The flow-table options in library form, as `ExtractOptions` and `LiveOptions` take them. */
export interface FlowSettings extends FlowPipelineOptions {
  /** Burst threshold in milliseconds. */
  burstThresholdMs: number;
}

/**
 * Adds `--idle-timeout`, `--active-timeout`, `--tcp-end`, `--max-flows`, `--no-decap`, `--sampling-rate` and
 * `--burst-threshold-ms` (with their defaults) to a command, in that order.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addFlowOptions } from "./flow_options.ts";
 * const cmd = addFlowOptions(new Command("x"));
 * console.log(cmd.options.some((o) => o.long === "--idle-timeout")); // true
 * ```
 */
export function addFlowOptions(cmd: Command): Command {
  return cmd
    .option(
      "--idle-timeout <seconds>",
      "end a flow at a gap longer than this without packets (compared to the nanosecond)",
      positiveNumber("--idle-timeout"),
      60,
    )
    .option(
      "--active-timeout <seconds>",
      "end a flow this long after its first packet (0: never)",
      positiveNumber("--active-timeout", true),
      1800,
    )
    .option(
      "--tcp-end",
      "end TCP flows on RST, with the last ACK once both sides' FINs are acknowledged, or at a new SYN after the sender's FIN",
    )
    .option(
      "--max-flows <n>",
      "most flows held at once; one is evicted to make room (0: no limit)",
      integer("--max-flows", 0),
      0,
    )
    .addOption(
      new Option(
        "--eviction-strategy <which>",
        "which flow --max-flows evicts: the least recently active (lru) or the oldest",
      ).choices(["lru", "oldest"]).default("lru"),
    )
    .option("--no-decap", "keep tunnels' outer flows instead of decoding to the innermost flow")
    .option(
      "--sampling-rate <fraction>",
      "keep only this fraction of flows, chosen by flow hash",
      fraction("--sampling-rate"),
      1,
    )
    .option(
      "--burst-threshold-ms <ms>",
      "gaps below this join packets into a burst; longer ones are idle periods",
      positiveNumber("--burst-threshold-ms"),
      50,
    );
}

/**
 * The flow-table options of {@linkcode addFlowOptions} as library options (`--tcp-end` absent: false).
 *
 * @example
 * ```ts
 * import { flowOptionsFrom } from "./flow_options.ts";
 * const s = flowOptionsFrom({
 *   idleTimeout: 60, activeTimeout: 1800, maxFlows: 0, decap: true, samplingRate: 1, burstThresholdMs: 50,
 * });
 * console.log(s.tcpEnd); // false
 * ```
 */
export function flowOptionsFrom(o: FlowCliOptions): FlowSettings {
  return {
    idleTimeout: o.idleTimeout,
    activeTimeout: o.activeTimeout,
    tcpEnd: o.tcpEnd ?? false,
    maxFlows: o.maxFlows,
    evictionStrategy: o.evictionStrategy,
    decap: o.decap,
    samplingRate: o.samplingRate,
    burstThresholdMs: o.burstThresholdMs,
  };
}

/** The record-shaping options as commander parses them (see {@linkcode addFeatureOptions}). */
export interface FeatureCliOptions {
  specificFeatures?: string;
  bidirectionalSplit?: boolean;
  includeFlowId?: boolean;
  anonymizeIps?: boolean;
  anonymizationSalt?: string;
  includeSequences?: boolean;
  includeSplt?: boolean;
  maxSequenceLength?: number;
  entropySampleBytes?: number;
  /** User extractor modules (`--extractor FILE`, repeatable). */
  extractor?: string[];
}

/**
 * Adds `--specific-features`, `--bidirectional-split`, `--include-flow-id`, `--anonymize-ips`,
 * `--anonymization-salt`, `--include-sequences`, `--include-splt`, `--max-sequence-length`,
 * `--entropy-sample-bytes` and `--extractor` to a command (`extract` and `live`), in that order.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addFeatureOptions } from "./flow_options.ts";
 * const cmd = addFeatureOptions(new Command("x"));
 * console.log(cmd.options.some((o) => o.long === "--include-splt")); // true
 * ```
 */
export function addFeatureOptions(cmd: Command): Command {
  return cmd
    .option(
      "--specific-features <names>",
      "write only these columns (comma-separated feature names, see `jj features`)",
    )
    .option("--bidirectional-split", "rename directional columns as JoyfulJay: fwd_*, bwd_*, total_*")
    .option("--include-flow-id", "add flow_id: a 32-hex hash of the canonical 5-tuple")
    .option(
      "--anonymize-ips",
      "replace addresses (endpoints, tunnel endpoints, MACs, DNS address answers, address literals as host, " +
        "SNI, query name or request target host) by 16 hex digits of SHA-256(salt + address); reverse-lookup " +
        "names (in-addr.arpa) and TXT text stay",
    )
    .option(
      "--anonymization-salt <salt>",
      "salt for --anonymize-ips and flow_id (default none, as JoyfulJay: unsalted hashes of IPv4 addresses are " +
        "undone by hashing all 2^32, of IPv6 ones made from a MAC by hashing its vendor's 2^24; give a secret one)",
    )
    .option("--include-sequences", "add iat_sequence, timestamp_sequence and pkt_len_sequence")
    .option("--include-splt", "add splt, splt_lengths, splt_times, splt_directions")
    .option(
      "--max-sequence-length <n>",
      "packets per flow in sequences (1-65536, default 50)",
      integerInRange("--max-sequence-length", 1, 65536),
    )
    .option(
      "--entropy-sample-bytes <n>",
      "payload bytes per direction sampled for entropy (0-1048576, default 256)",
      integerInRange("--entropy-sample-bytes", 0, 1048576),
    )
    .option("--extractor <file>", "load feature extractors from a module (repeatable)", collect);
}

/**
 * The record-shaping options of {@linkcode addFeatureOptions} as library options (`--specific-features a,b`
 * split into names; `--extractor` is loaded by the command itself).
 *
 * @example
 * ```ts
 * import { featureOptionsFrom } from "./flow_options.ts";
 * console.log(featureOptionsFrom({ specificFeatures: "src_ip, dst_ip" }).specificFeatures); // ["src_ip", "dst_ip"]
 * ```
 */
export function featureOptionsFrom(o: FeatureCliOptions): FeatureOptions {
  return {
    specificFeatures: o.specificFeatures?.split(",").map((s) => s.trim()).filter(Boolean),
    bidirectionalSplit: o.bidirectionalSplit,
    includeFlowId: o.includeFlowId,
    anonymizeIps: o.anonymizeIps,
    anonymizationSalt: o.anonymizationSalt,
    includeSequences: o.includeSequences,
    includeSplt: o.includeSplt,
    maxSequenceLength: o.maxSequenceLength,
    entropySampleBytes: o.entropySampleBytes,
  };
}

/** The columns the burst threshold changes: with none of them written, `--burst-threshold-ms` changes nothing. */
const BURST_COLUMNS = [...TIMING_BURST_COLUMNS, ...PADDING_BURST_COLUMNS];

/**
 * Refuses (a {@linkcode UsageError}) a setting given for something the run does not do: it would be ignored
 * without a word (a salt given alone could pass for anonymization). What the run does is its extraction plan:
 * the groups `features` and `--specific-features` select, and the optional columns. `given`: the long flags given
 * on the command line.
 *
 * @example
 * ```ts
 * import { refuseIgnoredSettings } from "./flow_options.ts";
 * const o = { idleTimeout: 60, activeTimeout: 1800, maxFlows: 0, decap: true, samplingRate: 1, burstThresholdMs: 50 };
 * try {
 *   refuseIgnoredSettings({ ...o, evictionStrategy: "oldest" }, ["--eviction-strategy"]);
 * } catch (e) {
 *   console.log((e as Error).message); // --eviction-strategy only applies with --max-flows N
 * }
 * ```
 */
export function refuseIgnoredSettings(
  o: FlowCliOptions & FeatureCliOptions,
  given: readonly string[],
  features?: string[],
): void {
  // live has no --specific-features: the hint names it only where it was given.
  const leftOut = `which this run leaves out (see --features${
    o.specificFeatures !== undefined ? " and --specific-features" : ""
  })`;
  // Whether a group writes at least one column (--specific-features can leave all of a running group's out).
  const writes = (plan: ReturnType<typeof planExtraction>, ...groups: string[]): boolean => {
    const columns = new Set(plan.columns);
    return plan.extractors.some((e) =>
      groups.includes(e.name) && e.features.some((f) => columns.has(f.name) || columns.has(splitName(f.name)))
    );
  };
  const has = (plan: ReturnType<typeof planExtraction>, name: string): boolean =>
    plan.columns.includes(name) || plan.columns.includes(splitName(name));
  const only = (flag: string, by: string): string => `${flag} only applies with ${by}`;
  const leftOutBySpecific = "which --specific-features leaves out";
  // Each setting given, whether this run uses it, and the usage error when it does not.
  const settings: [string, (plan: ReturnType<typeof planExtraction>) => boolean, string][] = [
    [
      "--anonymization-salt",
      (p) => o.anonymizeIps === true || has(p, "flow_id"),
      only("--anonymization-salt", "--anonymize-ips, or with the flow_id column (--include-flow-id)"),
    ],
    [
      "--max-sequence-length",
      (p) => writes(p, "sequences"),
      only("--max-sequence-length", "the columns of --include-sequences or --include-splt"),
    ],
    ["--eviction-strategy", () => (o.maxFlows ?? 0) > 0, only("--eviction-strategy", "--max-flows N")],
    [
      "--burst-threshold-ms",
      (p) => BURST_COLUMNS.some((c) => has(p, c)),
      only("--burst-threshold-ms", `the burst and idle columns (${BURST_COLUMNS.join(", ")}), ${leftOut}`),
    ],
    [
      "--entropy-sample-bytes",
      (p) => writes(p, "entropy"),
      only("--entropy-sample-bytes", `the entropy group's columns, ${leftOut}`),
    ],
    [
      "--include-flow-id",
      (p) => has(p, "flow_id"),
      `--include-flow-id adds the flow_id column, ${leftOutBySpecific}`,
    ],
    [
      "--include-sequences",
      (p) => has(p, "iat_sequence") || has(p, "timestamp_sequence") || has(p, "pkt_len_sequence"),
      `--include-sequences adds iat_sequence, timestamp_sequence and pkt_len_sequence, ${leftOutBySpecific}`,
    ],
    [
      "--include-splt",
      (p) => p.columns.some((c) => c.startsWith("splt")),
      `--include-splt adds the splt columns, ${leftOutBySpecific}`,
    ],
    [
      "--anonymize-ips",
      (p) => ANONYMIZED_COLUMNS.some((c) => has(p, c)),
      `--anonymize-ips changes the address columns (${ANONYMIZED_COLUMNS.join(", ")}), ${leftOutBySpecific}`,
    ],
    [
      "--bidirectional-split",
      (p) =>
        p.extractors.some((e) =>
          e.features.some((f) => splitName(f.name) !== f.name && p.columns.includes(splitName(f.name)))
        ),
      `--bidirectional-split renames the directional columns (*_initiator, *_responder, total_bytes and the ` +
      `like), ${leftOutBySpecific}`,
    ],
  ];
  const asked = settings.filter(([flag]) => given.includes(flag));
  if (asked.length === 0) return;
  const plan = planExtraction({ features, ...featureOptionsFrom(o) });
  for (const [, used, message] of asked) if (!used(plan)) throw new UsageError(message);
}
