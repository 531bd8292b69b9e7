/**
 * Extraction options beyond the flow table: which columns are written (`specificFeatures`), optional columns
 * (`includeFlowId`, `includeSequences`, `includeSplt`), privacy (`anonymizeIps`) and JoyfulJay's
 * `bidirectional_split` renaming; their validation, with errors that name the option and its accepted range;
 * and loading user extractors from a module (`jj extract --extractor FILE`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { FeatureExtractor, FeatureSpec, FeatureType, FlowRecord } from "./extractor.ts";
import type { FlowState } from "./flow.ts";
import type { FlowPipelineOptions } from "./pipeline.ts";
import {
  allExtractors,
  configureGroups,
  isRegistered,
  selectExtractors,
  takenColumnNames,
} from "./registry.ts";
import { guardExtractor } from "./user_extractor.ts";
import { flatString, recordClass } from "./record.ts";
import { formatIp, parseIp } from "./addr.ts";
import { SEQUENCE_FEATURES, sequencesExtractor } from "../extractors/sequences.ts";

/**
 * Options of `extractFlows` that shape the records (JoyfulJay's names in parentheses).
 *
 * @example
 * ```ts
 * import type { FeatureOptions } from "./options.ts";
 * import { extractFlows } from "./extract.ts";
 * const shape: FeatureOptions = { specificFeatures: ["src_ip", "dst_ip", "total_bytes"] };
 * for await (const flow of extractFlows("testdata/http.pcap", shape)) {
 *   console.log(Object.keys(flow)); // [ "src_ip", "dst_ip", "total_bytes" ]
 * }
 * ```
 */
export interface FeatureOptions {
  /** Keep only these columns, in record order (`specific_features`). Names must exist; see `jj features`. */
  specificFeatures?: string[];
  /** Rename directional columns as JoyfulJay does (`bidirectional_split`): `*_initiator` to `fwd_*`,
   * `*_responder` to `bwd_*`, and flow totals of directional quantities to `total_*`. */
  bidirectionalSplit?: boolean;
  /** Add `flow_id`, 32 hex digits of SHA-256 over the salt and the canonical 5-tuple (`include_flow_id`). */
  includeFlowId?: boolean;
  /**
   * Replace addresses by 16 hex digits of SHA-256(salt + address) (`anonymize_ips`): the endpoints', the tunnel
   * endpoints', the MAC addresses (`mac_src`, `mac_dst`: an IPv6 address made from a MAC gives its hash back
   * otherwise), the DNS answers that are addresses (a TXT answer's text is kept), and an address literal as HTTP
   * host, SNI, DNS query name or host of the request target (CONNECT's authority, an absolute URI's host; the
   * port kept).
   */
  anonymizeIps?: boolean;
  /** Salt for `anonymizeIps` and `flow_id` (`anonymization_salt`, default ""). */
  anonymizationSalt?: string;
  /** Add `iat_sequence`, `timestamp_sequence` and `pkt_len_sequence` (`include_sequences`). */
  includeSequences?: boolean;
  /** Add `splt`, `splt_lengths`, `splt_times`, `splt_directions` (`include_splt`). */
  includeSplt?: boolean;
  /** Packets per flow in sequences, 1-65536 (`max_sequence_length`, default 50). */
  maxSequenceLength?: number;
  /** Payload bytes per direction sampled by the entropy group, 0-1048576 (`entropy_sample_bytes`, default 256). */
  entropySampleBytes?: number;
}

/** The options {@linkcode validateOptions} checks (a subset of `ExtractOptions`). */
export interface CheckedOptions extends FeatureOptions {
  features?: string[];
  extractors?: FeatureExtractor<unknown>[];
  idleTimeout?: number;
  activeTimeout?: number;
  maxFlows?: number;
  evictionStrategy?: string;
  samplingRate?: number;
  burstThresholdMs?: number;
  decap?: boolean;
  tcpEnd?: boolean;
}

/**
 * The keys of the options every run takes, a file's (`extractFlows`) or a capture's (`captureFlows`): the flow
 * table's and the records' (the type checker holds the list to the two interfaces, both ways). Each entry point
 * adds its own and refuses any other key with {@linkcode refuseUnknownOptions}.
 *
 * @example
 * ```ts
 * import { RUN_OPTION_KEYS } from "./options.ts";
 * console.log("idleTimeout" in RUN_OPTION_KEYS, "reader" in RUN_OPTION_KEYS); // true false
 * ```
 */
export const RUN_OPTION_KEYS = {
  idleTimeout: true,
  activeTimeout: true,
  tcpEnd: true,
  maxFlows: true,
  evictionStrategy: true,
  samplingRate: true,
  shard: true,
  decap: true,
  specificFeatures: true,
  bidirectionalSplit: true,
  includeFlowId: true,
  anonymizeIps: true,
  anonymizationSalt: true,
  includeSequences: true,
  includeSplt: true,
  maxSequenceLength: true,
  entropySampleBytes: true,
} as const satisfies Record<keyof FlowPipelineOptions | keyof FeatureOptions, true>;

/**
 * An invalid option value. The message names the option (library and CLI spelling) and what it accepts; the CLI
 * prints it and exits 2.
 *
 * @example
 * ```ts
 * import { OptionError } from "./options.ts";
 * const e = new OptionError("maxSequenceLength", "--max-sequence-length", "an integer in 1..65536", 0);
 * console.log(e.message); // maxSequenceLength (--max-sequence-length) must be an integer in 1..65536; got 0
 * ```
 */
export class OptionError extends RangeError {
  /** The library option's name. */
  readonly option: string;
  /** An error for library option `option` (CLI `flag`), which must be `accepted` and was `got`. */
  constructor(option: string, flag: string, accepted: string, got: unknown) {
    super(`${option} (${flag}) must be ${accepted}; got ${describe(got)}`);
    this.name = "OptionError";
    this.option = option;
  }
}

/** JoyfulJay's `Config` names with their library counterparts (docs/joyfuljay.md), for the hint of an unknown
 * option. */
const JOYFULJAY_NAMES: Readonly<Record<string, string>> = {
  flow_timeout: "idleTimeout",
  max_concurrent_flows: "maxFlows",
  flow_eviction_strategy: "evictionStrategy",
  sampling_rate: "samplingRate",
  bidirectional_split: "bidirectionalSplit",
  include_flow_id: "includeFlowId",
  anonymize_ips: "anonymizeIps",
  anonymization_salt: "anonymizationSalt",
  include_raw_sequences: "includeSequences",
  include_splt: "includeSplt",
  max_sequence_length: "maxSequenceLength",
  burst_threshold_ms: "burstThresholdMs",
  entropy_sample_bytes: "entropySampleBytes",
  terminate_on_fin_rst: "tcpEnd",
  bpf_filter: "filter",
  specific_features: "specificFeatures",
};

/**
 * Throws a {@linkcode SettingsError} for the first key of `options` that is not in `known` (an option that would
 * otherwise be ignored without a word: a misspelling, or a JoyfulJay `Config` name), naming the option it most
 * likely means.
 *
 * @example
 * ```ts
 * import { refuseUnknownOptions } from "./options.ts";
 * try {
 *   refuseUnknownOptions({ flow_timeout: 5 }, ["idleTimeout"]);
 * } catch (e) {
 *   console.log((e as Error).message); // unknown option flow_timeout (JoyfulJay's flow_timeout is idleTimeout)
 * }
 * ```
 */
export function refuseUnknownOptions(options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    // Own keys only: `toString` is not a JoyfulJay name because every object has one.
    const jj = Object.hasOwn(JOYFULJAY_NAMES, key) ? JOYFULJAY_NAMES[key] : undefined;
    const folded = key.replace(/_/g, "").toLowerCase();
    const near = known.find((k) => k.toLowerCase() === folded);
    const hint = jj !== undefined
      ? ` (JoyfulJay's ${key} is ${jj})`
      : near !== undefined
      ? ` (did you mean ${near}?)`
      : ` (known: ${known.join(", ")})`;
    throw new SettingsError(`unknown option ${key}${hint}`);
  }
}

/**
 * Settings refused together (a combination that cannot work, such as a BPF filter with the built-in reader): a
 * usage error, as an {@linkcode OptionError} is, where any other RangeError met while extracting (a user
 * extractor's, a stack overflow) is a runtime error.
 *
 * @example
 * ```ts
 * import { SettingsError } from "./options.ts";
 * console.log(new SettingsError("--filter needs libpcap") instanceof RangeError); // true
 * ```
 */
export class SettingsError extends RangeError {
  /** An error saying which settings cannot go together, and why. */
  constructor(message: string) {
    super(message);
    this.name = "SettingsError";
  }
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return JSON.stringify(v);
  if (v !== null && typeof v === "object") {
    try {
      return JSON.stringify(v);
    } catch {
      return String(v);
    }
  }
  return String(v);
}

const FEATURE_TYPES: ReadonlySet<FeatureType> = new Set(["int", "float", "str", "bool", "list", "dict"]);

/** Defaults of the numeric options. */
export const OPTION_DEFAULTS = { maxSequenceLength: 50 } as const;

/**
 * Throws an {@linkcode OptionError} when option `key` of `o` is given and is not a finite number that `ok`
 * accepts.
 *
 * @example
 * ```ts
 * import { checkNumber } from "./options.ts";
 * checkNumber({ count: 3 }, "count", "--count", (n) => n >= 1, "at least 1"); // returns
 * ```
 */
export function checkNumber(
  o: Record<string, unknown>,
  key: string,
  flag: string,
  ok: (n: number) => boolean,
  accepted: string,
): void {
  const v = o[key];
  if (v === undefined) return;
  if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new OptionError(key, flag, accepted, v);
}

/**
 * Throws an {@linkcode OptionError} when option `key` of `o` is given and is not a boolean.
 *
 * @example
 * ```ts
 * import { checkBoolean } from "./options.ts";
 * checkBoolean({ promisc: true }, "promisc", "--promisc"); // returns
 * ```
 */
export function checkBoolean(o: Record<string, unknown>, key: string, flag: string): void {
  const v = o[key];
  if (v !== undefined && typeof v !== "boolean") throw new OptionError(key, flag, "true or false", v);
}

/** A non-empty list of names, when given. */
function checkNameList(o: Record<string, unknown>, key: string, flag: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string" && x.length > 0)) {
    throw new OptionError(key, flag, "a non-empty list of names", v);
  }
}

/**
 * Checks that `e` is a usable feature extractor; throws a TypeError saying what is wrong.
 *
 * @example
 * ```ts
 * import { checkExtractor } from "./options.ts";
 * checkExtractor({
 *   name: "x", features: [{ name: "x_n", type: "int", description: "n" }],
 *   init: () => 0, update: () => {}, finish: () => {},
 * }, "example");
 * ```
 */
export function checkExtractor(e: unknown, where: string): asserts e is FeatureExtractor<unknown> {
  const bad = (what: string): never => {
    throw new TypeError(`${where}: not a feature extractor: ${what}`);
  };
  if (typeof e !== "object" || e === null) bad("not an object");
  const x = e as Record<string, unknown>;
  // Lower case: --features names groups as written, and every built-in group's name is.
  if (typeof x.name !== "string" || !/^[a-z][a-z0-9_]*$/.test(x.name)) {
    bad("name must be lower-case letters, digits and _, starting with a letter");
  }
  // `features: ["all"]` names every group: a group of that name could not be named alone.
  if (x.name === "all") bad('name "all" stands for every group in --features');
  for (const fn of ["init", "update", "finish", "finalize"]) {
    if (fn === "finalize" && x[fn] === undefined) continue;
    if (typeof x[fn] !== "function") bad(`${fn} must be a function`);
    // What an async function does comes after the call returns: after the record was written, or with a
    // promise for the flow's state. TypeScript accepts one where a void function is expected.
    const kind = (x[fn] as { constructor?: { name?: unknown } }).constructor?.name;
    if (kind === "AsyncFunction" || kind === "AsyncGeneratorFunction" || kind === "GeneratorFunction") {
      bad(`${fn} must be a plain synchronous function (it is an ${kind}: its work would come too late)`);
    }
  }
  if (x.datagrams !== undefined && typeof x.datagrams !== "boolean") bad("datagrams must be true or false");
  if (!Array.isArray(x.features) || x.features.length === 0) bad("features must be a non-empty array");
  // Each column once, also under --bidirectional-split's names (q_initiator and fwd_q would both be fwd_q).
  const columns = new Map<string, string>();
  for (const f of x.features as unknown[]) {
    const s = f as Partial<FeatureSpec>;
    if (typeof s !== "object" || s === null || typeof s.name !== "string" || s.name === "") {
      bad("every feature needs a name");
    }
    // A name of digits would come first in a JSON object, whatever the declared order; a comma or a line break
    // could not be given to --specific-features.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.name!)) {
      bad(`feature ${JSON.stringify(s.name)}: name must be letters, digits and _, not starting with a digit`);
    }
    if (!FEATURE_TYPES.has(s.type as FeatureType)) {
      bad(`feature ${s.name}: type must be one of ${[...FEATURE_TYPES].join(", ")}`);
    }
    if (typeof s.description !== "string") bad(`feature ${s.name}: description must be a string`);
    for (const column of new Set([s.name!, splitName(s.name!)])) {
      const other = columns.get(column);
      if (other !== undefined) {
        bad(
          other === s.name
            ? `feature ${s.name} is declared twice`
            : `features ${other} and ${s.name} would both be column ${column} under --bidirectional-split`,
        );
      }
      columns.set(column, s.name!);
    }
  }
}

/**
 * Validates extraction options; throws an {@linkcode OptionError} naming the first bad one.
 *
 * @example
 * ```ts
 * import { validateOptions } from "./options.ts";
 * validateOptions({ samplingRate: 0.5, maxSequenceLength: 20 });
 * ```
 */
export function validateOptions(options: CheckedOptions): void {
  const o = options as Record<string, unknown>;
  checkNumber(o, "idleTimeout", "--idle-timeout", (n) => n > 0, "a number of seconds > 0");
  checkNumber(o, "activeTimeout", "--active-timeout", (n) => n >= 0, "a number of seconds >= 0 (0: never)");
  checkNumber(
    o,
    "maxFlows",
    "--max-flows",
    (n) => Number.isSafeInteger(n) && n >= 0,
    "an integer >= 0 (0: no limit)",
  );
  if (o.evictionStrategy !== undefined && o.evictionStrategy !== "lru" && o.evictionStrategy !== "oldest") {
    throw new OptionError("evictionStrategy", "--eviction-strategy", '"lru" or "oldest"', o.evictionStrategy);
  }
  checkNumber(o, "samplingRate", "--sampling-rate", (n) => n > 0 && n <= 1, "a fraction in (0, 1]");
  // Set by the parallel workers only: one share of the flows.
  const shard = o.shard as { index?: unknown; count?: unknown } | undefined;
  if (
    shard !== undefined &&
    (typeof shard !== "object" || shard === null || !Number.isInteger(shard.count) ||
      (shard.count as number) < 1 || !Number.isInteger(shard.index) || (shard.index as number) < 0 ||
      (shard.index as number) >= (shard.count as number))
  ) {
    throw new OptionError(
      "shard",
      "shard",
      "{ index, count } with integers 0 <= index < count",
      shard,
    );
  }
  checkNumber(o, "burstThresholdMs", "--burst-threshold-ms", (n) => n > 0, "a number of milliseconds > 0");
  checkNumber(
    o,
    "maxSequenceLength",
    "--max-sequence-length",
    (n) => Number.isInteger(n) && n >= 1 && n <= 65536,
    "an integer in 1..65536",
  );
  checkNumber(
    o,
    "entropySampleBytes",
    "--entropy-sample-bytes",
    (n) => Number.isInteger(n) && n >= 0 && n <= 1048576,
    "an integer in 0..1048576",
  );
  for (
    const [k, flag] of [
      ["bidirectionalSplit", "--bidirectional-split"],
      ["includeFlowId", "--include-flow-id"],
      ["anonymizeIps", "--anonymize-ips"],
      ["includeSequences", "--include-sequences"],
      ["includeSplt", "--include-splt"],
      ["decap", "--no-decap"],
      ["tcpEnd", "--tcp-end"],
    ]
  ) checkBoolean(o, k, flag);
  // An empty salt is no salt: `--anonymization-salt "$SALT"` with SALT unset gave unsalted hashes, which 2^32
  // guesses undo for IPv4, without a word.
  if (
    o.anonymizationSalt !== undefined &&
    (typeof o.anonymizationSalt !== "string" || o.anonymizationSalt === "")
  ) {
    throw new OptionError(
      "anonymizationSalt",
      "--anonymization-salt",
      "a non-empty string",
      o.anonymizationSalt,
    );
  }
  // Empty lists are refused, as the CLI refuses them: `features: []` ran every group, and `specificFeatures: []`
  // wrote `{}` for every flow.
  checkNameList(o, "features", "--features");
  checkNameList(o, "specificFeatures", "--specific-features");
  if (options.extractors !== undefined) {
    if (!Array.isArray(options.extractors)) {
      throw new OptionError("extractors", "--extractor", "a list", "not a list");
    }
    const registered = allExtractors();
    const groups = new Set(registered.map((e) => e.name));
    const columns = takenColumnNames(registered);
    options.extractors.forEach((e, i) => {
      checkExtractor(e, `extractors[${i}]`);
      // Registered and given for the run too (a module that registers itself): the same group, run once.
      if (registered.includes(e)) return;
      if (groups.has(e.name)) throw new TypeError(`extractor ${e.name}: a group of that name already exists`);
      groups.add(e.name);
      for (const f of e.features) {
        // Under --bidirectional-split's names too (a group's fwd_z and another's z_initiator).
        if (columns.has(f.name) || columns.has(splitName(f.name))) {
          throw new TypeError(`extractor ${e.name}: feature ${f.name} is already declared`);
        }
        columns.add(f.name).add(splitName(f.name));
      }
    });
  }
  // Group names are checked where they are looked up (selectExtractors).
}

/** Groups whose columns another group reads in `finish`: they run too whenever the other runs (their columns
 * are not written unless their group or the columns themselves are asked for). */
const GROUP_NEEDS: Record<string, string[]> = { fingerprint: ["tls", "quic", "ssh"] };

/** JoyfulJay's directional quantities that `bidirectional_split` renames to `total_*` (bidir_split.py). */
const SPLIT_TOTALS: ReadonlySet<string> = new Set([
  "packet_count",
  "total_bytes",
  "payload_bytes",
  "mean_packet_size",
  "min_packet_size",
  "max_packet_size",
  "std_packet_size",
  "mean_payload_size",
  "mean_iat",
  "min_iat",
  "max_iat",
  "std_iat",
  "iat_sequence",
  "size_sequence",
  "burst_count",
  "mean_burst_duration",
  "mean_burst_packets",
  "mean_burst_bytes",
  "tcp_syn_count",
  "tcp_ack_count",
  "tcp_fin_count",
  "tcp_rst_count",
  "tcp_psh_count",
  "tcp_urg_count",
  "entropy_payload",
  "byte_distribution_uniformity",
  "printable_ratio",
  "null_ratio",
  "high_byte_ratio",
]);

/** The columns `anonymizeIps` replaces whole: addresses. */
const ADDRESS_COLUMNS = ["src_ip", "dst_ip", "tunnel_src_ip", "tunnel_dst_ip", "mac_src", "mac_dst"];
/** The columns where `anonymizeIps` replaces an address given as a host or server name. */
const LITERAL_COLUMNS = ["http_host", "tls_sni", "quic_sni", "dns_query_name"];

/**
 * Every column `anonymizeIps` can change: addresses, DNS answers, names given as address literals, and the
 * request target's host.
 *
 * @example
 * ```ts
 * import { ANONYMIZED_COLUMNS } from "./options.ts";
 * console.log(ANONYMIZED_COLUMNS.includes("src_ip"), ANONYMIZED_COLUMNS.includes("total_packets")); // true false
 * ```
 */
export const ANONYMIZED_COLUMNS: readonly string[] = [
  ...ADDRESS_COLUMNS,
  "dns_answers",
  ...LITERAL_COLUMNS,
  "http_uri",
];

/**
 * A column's name under `bidirectional_split`.
 *
 * @example
 * ```ts
 * import { splitName } from "./options.ts";
 * console.log(splitName("entropy_initiator"), splitName("burst_count"), splitName("iat_mean"));
 * // fwd_entropy total_burst_count iat_mean
 * ```
 */
export function splitName(name: string): string {
  if (name.endsWith("_initiator")) return `fwd_${name.slice(0, -10)}`;
  if (name.endsWith("_responder")) return `bwd_${name.slice(0, -10)}`;
  if (SPLIT_TOTALS.has(name)) return `total_${name}`;
  return name;
}

/** The `flow_id` column. */
const FLOW_ID_FEATURE: FeatureSpec = {
  name: "flow_id",
  type: "str",
  description:
    "32 hex digits of SHA-256(salt + 'ipA:portA:ipB:portB:protocol'), endpoints in canonical (sorted) order, so " +
    "both directions and every record of the 5-tuple share it (include_flow_id).",
};

/**
 * The canonical flow identifier of a 5-tuple (either direction gives the same value).
 *
 * @example
 * ```ts
 * import { flowId } from "./options.ts";
 * console.log(flowId("10.0.0.2", 443, "10.0.0.1", 5000, 6) === flowId("10.0.0.1", 5000, "10.0.0.2", 443, 6)); // true
 * ```
 */
export function flowId(
  srcIp: string,
  srcPort: number,
  dstIp: string,
  dstPort: number,
  protocol: number,
  salt = "",
): string {
  const aFirst = srcIp < dstIp || (srcIp === dstIp && srcPort <= dstPort);
  const t = aFirst
    ? `${srcIp}:${srcPort}:${dstIp}:${dstPort}:${protocol}`
    : `${dstIp}:${dstPort}:${srcIp}:${srcPort}:${protocol}`;
  return createHash("sha256").update(salt + t).digest("hex").slice(0, 32);
}

/**
 * An address as `anonymize_ips` writes it: 16 hex digits of SHA-256(salt + address).
 *
 * @example
 * ```ts
 * import { anonymizeIp } from "./options.ts";
 * console.log(anonymizeIp("10.0.0.1", "s").length); // 16
 * ```
 */
export function anonymizeIp(ip: string, salt = ""): string {
  return createHash("sha256").update(salt + ip).digest("hex").slice(0, 16);
}

const literalScratch = new Uint8Array(16);

/**
 * `text`, a host as HTTP, SNI and URIs write it, with its address part replaced by `f` of it: `10.1.2.3`, with a
 * port (`:8080`, or an empty one, valid in RFC 3986's authority), with an IPv4 address's trailing dot (an
 * address to WHATWG's URL rules), `[2001:db8::1]:443`, a bare IPv6 address, and an IPv6 zone (`fe80::1%eth0`,
 * `[fe80::1%25eth0]:80`) kept around the changed address. A host name is given to `f` too (it returns names as
 * they are). Shared by `anonymizeIps` and `jj anon`, so that both change the same forms.
 *
 * @example
 * ```ts
 * import { mapHostLiteral } from "./options.ts";
 * console.log(mapHostLiteral("[fe80::1%25eth0]:80", (a) => a.toUpperCase())); // [FE80::1%25eth0]:80
 * ```
 */
export function mapHostLiteral(text: string, f: (address: string) => string): string {
  const zone = text.indexOf("%");
  if (zone > 0 && text[0] !== "[") {
    const address = text.slice(0, zone), a = f(address);
    return a === address ? text : a + text.slice(zone);
  }
  const bracketed = /^\[([^\]%]+)(%[^\]]*)?\](:\d*)?$/.exec(text);
  if (bracketed !== null) {
    const a = f(bracketed[1]);
    return a === bracketed[1] ? text : `[${a}${bracketed[2] ?? ""}]${bracketed[3] ?? ""}`;
  }
  const withPort = /^([0-9A-Fa-f.]+?)(\.?)(:\d*)?$/.exec(text);
  if (withPort !== null) {
    const a = f(withPort[1]);
    return a === withPort[1] ? text : a + withPort[2] + (withPort[3] ?? "");
  }
  return text.indexOf(":") !== text.lastIndexOf(":") ? f(text) : text;
}

/**
 * `text` with an address literal in it hashed as {@linkcode anonymizeIp} does (the forms of
 * {@linkcode mapHostLiteral}), the port kept; anything else (a host name) as it is.
 */
function anonymizeLiteral(text: string, salt: string): string {
  return mapHostLiteral(text, (address) => {
    const version = parseIp(address, literalScratch);
    // Hashed in its canonical form, as the endpoint columns are (2001:DB8:0::1 and 2001:db8::1 alike).
    return version === 0 ? address : anonymizeIp(formatIp(literalScratch, 0, version), salt);
  });
}

/**
 * An HTTP request target with its host (CONNECT's authority form `10.0.0.1:443`, an absolute URI's host with
 * userinfo and port kept) replaced by `f` of it; a path and `*` are left as they are.
 *
 * @example
 * ```ts
 * import { mapTargetHost } from "./options.ts";
 * console.log(mapTargetHost("http://u@h:80/x", (h) => h.toUpperCase())); // http://u@H:80/x
 * ```
 */
export function mapTargetHost(target: string, f: (host: string) => string): string {
  const abs = /^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#]*)(.*)$/s.exec(target);
  if (abs === null) return target.startsWith("/") || target === "*" ? target : f(target);
  const at = abs[2].lastIndexOf("@");
  return abs[1] + abs[2].slice(0, at + 1) + f(abs[2].slice(at + 1)) + abs[3];
}

function flowIdExtractor(salt: string): FeatureExtractor<null> {
  return {
    name: "flow_id",
    features: [FLOW_ID_FEATURE],
    init: (): null => null,
    update(): void {},
    finish(_s: null, f: FlowState, out: FlowRecord): void {
      out.flow_id = flowId(f.srcIp, f.srcPort, f.dstIp, f.dstPort, f.protocol, salt);
    },
  };
}

/**
 * Columns that exist only when an option asks for them, with the option, for `jj features` and the docs.
 *
 * @example
 * ```ts
 * import { OPTIONAL_FEATURES } from "./options.ts";
 * console.log(OPTIONAL_FEATURES[0].name, OPTIONAL_FEATURES[0].option); // flow_id include_flow_id
 * ```
 */
export const OPTIONAL_FEATURES: readonly (FeatureSpec & { option: string })[] = [
  { ...FLOW_ID_FEATURE, option: "include_flow_id" },
  ...SEQUENCE_FEATURES.map((f) => ({
    ...f,
    option: f.name.startsWith("splt") ? "include_splt" : "include_sequences",
  })),
];

/** What {@linkcode planExtraction} decided. */
export interface ExtractionPlan {
  /** Groups to run, in output order. */
  extractors: FeatureExtractor<unknown>[];
  /** Columns of the written records, in order. */
  columns: string[];
  /** Their declarations (renamed under `bidirectionalSplit`), for writers that need a schema. */
  features: FeatureSpec[];
  /** True when a group needs every flow first (`finalize`): records are held until the end of input. */
  hold: boolean;
  /** Turns a record from the pipeline into the written one (identity when no option reshapes records). */
  output: (record: FlowRecord) => FlowRecord;
  /** True when `output` returns a new record (the pipeline's own is then free at once). */
  copies: boolean;
  /** Calls every group's `finalize` on the held records. */
  finalize: (records: FlowRecord[]) => void;
}

/**
 * Validates `options` and works out the groups, the columns and the record transform of a run.
 *
 * @example
 * ```ts
 * import { planExtraction } from "./options.ts";
 * const plan = planExtraction({ specificFeatures: ["src_ip", "iat_mean"] });
 * console.log(plan.columns); // ["src_ip", "iat_mean"]
 * ```
 */
export function planExtraction(options: CheckedOptions): ExtractionPlan {
  validateOptions(options);
  const o = { ...options };
  const specific = o.specificFeatures;
  const extra = o.extractors ?? [];
  if (specific !== undefined) {
    // Optional columns asked for by name switch their option on (under their --bidirectional-split names too).
    const asked = (name: string) =>
      specific.includes(name) || (o.bidirectionalSplit && specific.includes(splitName(name)));
    if (asked("flow_id")) o.includeFlowId = true;
    if (asked("iat_sequence") || asked("timestamp_sequence") || asked("pkt_len_sequence")) {
      o.includeSequences = true;
    }
    if (specific.some((n) => n.startsWith("splt"))) o.includeSplt = true;
  }
  let groups = o.features;
  if (specific !== undefined && (groups === undefined || groups.length === 0 || groups.includes("all"))) {
    // Run only the groups that write the columns asked for.
    const owner = new Map<string, string>();
    for (const e of [...allExtractors(), ...extra]) {
      for (const f of e.features) {
        owner.set(f.name, e.name);
        if (o.bidirectionalSplit) owner.set(splitName(f.name), e.name);
      }
    }
    const need = new Set<string>(["flow_meta"]);
    for (const n of specific) {
      const g = owner.get(n);
      if (g !== undefined) {
        need.add(g);
        for (const d of GROUP_NEEDS[g] ?? []) need.add(d);
      }
    }
    groups = [...need];
  }
  /** Groups run only for another group's sake, whose columns are left out. */
  const helpers = new Set<string>();
  if (groups !== undefined && groups.length > 0 && !groups.includes("all")) {
    for (const g of groups) for (const d of GROUP_NEEDS[g] ?? []) if (!groups.includes(d)) helpers.add(d);
    if (helpers.size > 0) groups = [...groups, ...helpers];
  }
  let extractors = configureGroups(selectExtractors(groups, extra), o) as FeatureExtractor<unknown>[];
  if (specific !== undefined && extra.length > 0) {
    // Extra extractors run only when asked for.
    extractors = extractors.filter((e) =>
      !extra.includes(e) ||
      e.features.some((f) =>
        specific.includes(f.name) || (o.bidirectionalSplit && specific.includes(splitName(f.name)))
      )
    );
  }
  // User extractors run guarded (their errors named, their values checked: see lib/user_extractor.ts).
  extractors = extractors.map((e) => extra.includes(e) || isRegistered(e) ? guardExtractor(e) : e);
  if (o.includeSequences || o.includeSplt) {
    const seq = sequencesExtractor({
      includeSequences: o.includeSequences ?? false,
      includeSplt: o.includeSplt ?? false,
      maxSequenceLength: o.maxSequenceLength ?? OPTION_DEFAULTS.maxSequenceLength,
    }) as FeatureExtractor<unknown>;
    const at = extractors.findIndex((e) => e.name === "timing");
    extractors.splice(at >= 0 ? at + 1 : 1, 0, seq);
  }
  if (o.includeFlowId) {
    extractors.unshift(flowIdExtractor(o.anonymizationSalt ?? "") as FeatureExtractor<unknown>);
  }

  const names: string[] = [], specs = new Map<string, FeatureSpec>();
  for (const e of extractors) {
    for (const f of e.features) {
      if (!specs.has(f.name)) {
        names.push(f.name);
        specs.set(f.name, f);
      }
    }
  }
  const renamed = o.bidirectionalSplit ? names.map(splitName) : names;
  let columns = renamed;
  if (specific !== undefined) {
    const have = new Set(renamed);
    const missing = specific.filter((n) => !have.has(n));
    if (missing.length > 0) {
      const declared = [...allExtractors(), ...extra].flatMap((e) => e.features.map((f) => f.name))
        .concat(OPTIONAL_FEATURES.map((f) => f.name));
      const known = new Set(o.bidirectionalSplit ? declared.map(splitName) : declared);
      const unknown = missing.filter((n) => !known.has(n));
      // A name as it is without --bidirectional-split, which renames it.
      const renamedAway = o.bidirectionalSplit
        ? unknown.filter((n) => declared.includes(n) && splitName(n) !== n)
        : [];
      throw new OptionError(
        "specificFeatures",
        "--specific-features",
        renamedAway.length > 0
          ? `names as --bidirectional-split writes them (${
            renamedAway.map((n) => `${n} is ${splitName(n)}`).join(", ")
          })`
          : unknown.length > 0
          ? "names of features (see `jj features`)"
          : "features of the selected groups (add their groups to --features)",
        unknown.length > 0 ? unknown : missing,
      );
    }
    const want = new Set(specific);
    columns = renamed.filter((n) => want.has(n));
  } else if (helpers.size > 0) {
    const hidden = new Set(
      extractors.filter((e) => helpers.has(e.name)).flatMap((e) => e.features.map((f) => f.name)),
    );
    columns = renamed.filter((_n, i) => !hidden.has(names[i]));
  }

  const salt = o.anonymizationSalt ?? "";
  const anonymize = o.anonymizeIps === true;
  const reshape = o.bidirectionalSplit === true || specific !== undefined || helpers.size > 0;
  let copy: ((r: FlowRecord) => FlowRecord) | null = null;
  if (reshape) {
    const pairs: [string, string][] = [];
    for (let i = 0; i < names.length; i++) {
      if (columns.includes(renamed[i])) pairs.push([renamed[i], names[i]]);
    }
    // A generated constructor keeps the records on JSON.stringify's fast path (see lib/record.ts).
    const Out = recordClass(pairs.map((p) => p[0]), pairs.map((p) => p[1]));
    copy = (r) => new Out(r);
  }
  const output = (r: FlowRecord): FlowRecord => {
    if (anonymize) {
      // MAC addresses too: an IPv6 address made from one (EUI-64) is its MAC's, and would give the hash back.
      for (const k of ADDRESS_COLUMNS) {
        const v = r[k];
        if (typeof v === "string") r[k] = flatString(anonymizeIp(v, salt)); // see lib/record.ts
      }
      // Addresses in other columns too: DNS answers, and a host or server name given as an address literal.
      const answers = r.dns_answers;
      if (Array.isArray(answers)) {
        r.dns_answers = answers.map((a) => typeof a === "string" ? anonymizeLiteral(a, salt) : a);
      }
      for (const k of LITERAL_COLUMNS) {
        const v = r[k];
        if (typeof v === "string") r[k] = anonymizeLiteral(v, salt);
      }
      // The request target: CONNECT's authority, an absolute URI's host.
      const uri = r.http_uri;
      if (typeof uri === "string") r.http_uri = mapTargetHost(uri, (host) => anonymizeLiteral(host, salt));
    }
    return copy === null ? r : copy(r);
  };
  const finalizers = extractors.filter((e) => typeof e.finalize === "function");
  const byColumn = new Map<string, FeatureSpec>();
  for (let i = 0; i < names.length; i++) {
    byColumn.set(renamed[i], { ...specs.get(names[i])!, name: renamed[i] });
  }
  return {
    extractors,
    columns,
    features: columns.map((c) => byColumn.get(c)!),
    hold: finalizers.length > 0,
    output: anonymize || copy !== null ? output : (r) => r,
    copies: copy !== null,
    finalize: (records) => {
      for (const e of finalizers) e.finalize!(records);
    },
  };
}

/**
 * Loads user extractors from a module: every export that is a feature extractor (`export const extractor =
 * {...}`, several exports, or a default export). Throws a TypeError naming the file when there is none or one
 * is malformed.
 *
 * @example
 * ```ts
 * import { loadExtractorModule } from "./options.ts";
 * const [ex] = await loadExtractorModule("docs/example_extractor.ts");
 * console.log(ex.name); // first_bytes
 * ```
 */
export async function loadExtractorModule(path: string): Promise<FeatureExtractor<unknown>[]> {
  let url: string;
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) && !/^[a-z]:[\\/]/i.test(path)) url = path;
  else {
    const abs = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
    url = new URL(`file://${abs.split("/").map(encodeURIComponent).join("/")}`).href;
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(url);
  } catch (e) {
    // One line: Deno's message can hold a code frame over several lines, and the bytes of a file that is not
    // a module at all.
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0]
      .replace(/[^\x20-\x7e]+/g, "?").slice(0, 300);
    throw new TypeError(`cannot load extractor module ${path}: ${why}`);
  }
  const found: FeatureExtractor<unknown>[] = [];
  for (const [key, v] of Object.entries(mod)) {
    // An object with features and any of the three calls is meant as an extractor: what it lacks (update, say)
    // is named, rather than the module said to export none.
    if (
      typeof v !== "object" || v === null || !("features" in v) ||
      !("init" in v || "update" in v || "finish" in v)
    ) continue;
    checkExtractor(v, `${path} (export ${key})`);
    if (!found.includes(v)) found.push(v);
  }
  if (found.length === 0) {
    throw new TypeError(
      `${path} exports no feature extractor (an object with name, features, init, update and finish)`,
    );
  }
  return found;
}
