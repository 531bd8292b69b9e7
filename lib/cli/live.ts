/**
 * `jj live`: capture on an interface through libpcap and write one JSON line per flow as flows end; optional
 * IPFIX export and Prometheus metrics. Also the `--ipfix` options that `jj extract` shares.
 *
 * @module
 */
import { type Command, Option } from "commander";
import type { FeatureExtractor, FlowRecord } from "../extractor.ts";
import { captureFlows, type LiveOptions, livePlan, type LiveSummary } from "../live.ts";
import { CaptureMetrics, type MetricsServer, serveMetrics } from "../metrics.ts";
import { type OpenedRecordWriter, openRecordWriter, OUTPUT_FORMATS } from "../../outputs/mod.ts";
import {
  DEFAULT_IDP_BYTES,
  idpExtractor,
  ipfixCountersExtractor,
  IpfixExporter,
  type IpfixTemplateName,
  type IpfixTransport,
  MAX_IDP_BYTES,
  parseHostPort,
} from "../../outputs/ipfix.ts";
import { findAllDevs, MAX_SNAPLEN } from "../../ffi/libpcap.ts";
import { InputError } from "../extract.ts";
import { allExtractors } from "../registry.ts";
import { loadUserExtractors, parseFeatureList, withUserExtractors } from "./extract.ts";
import {
  drain,
  fmtRate,
  givenOptions,
  integer,
  integerInRange,
  packetCountParts,
  portNumber,
  positiveNumber,
  refuseOptionAsFileName,
  refuseOutputAsInput,
  sameFile,
  stopOnSignals,
  STOPPING,
  UsageError,
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

// ---------------------------------------------------------------------------------------------------------
// capture options, shared with fingerprint --live

/** Largest `--buffer-size`: `pcap_set_buffer_size` takes a C int. */
export const MAX_BUFFER_SIZE = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------------------
// --ipfix, shared with extract

/** The `--ipfix*` options as commander parses them (all optional). */
export interface IpfixCliOptions {
  /** Collector as HOST:PORT. */
  ipfix?: string;
  ipfixTransport?: IpfixTransport;
  ipfixTemplate?: IpfixTemplateName;
  ipfixBiflow?: boolean;
  ipfixRefresh?: number;
  idpBytes?: number;
  quiet?: boolean;
}

/**
 * Adds `--ipfix HOST:PORT`, `--ipfix-transport`, `--ipfix-template`, `--ipfix-biflow`, `--ipfix-refresh` and
 * `--idp-bytes` to a command.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addIpfixOptions } from "./live.ts";
 * const cmd = addIpfixOptions(new Command("x"));
 * console.log(cmd.options.some((o) => o.long === "--ipfix")); // true
 * ```
 */
export function addIpfixOptions(cmd: Command): Command {
  return cmd
    .option("--ipfix <host:port>", "also export flows over IPFIX (RFC 7011) to this collector")
    .addOption(
      new Option("--ipfix-transport <proto>", "IPFIX transport").choices(["udp", "tcp"]).default("udp"),
    )
    .addOption(
      new Option(
        "--ipfix-template <name>",
        "IPFIX template: simple (5-tuple, counters, times) or idp (+ Joy's IDP)",
      )
        .choices(["simple", "idp"]).default("simple"),
    )
    .option("--ipfix-biflow", "one RFC 5103 biflow record per flow instead of two uni-flow records")
    .option(
      "--ipfix-refresh <seconds>",
      "UDP: resend IPFIX templates this often",
      positiveNumber("--ipfix-refresh"),
      60,
    )
    .option(
      "--idp-bytes <n>",
      `most bytes of the initial data packet kept for --ipfix-template idp (at most ${MAX_IDP_BYTES})`,
      integerInRange("--idp-bytes", 1, MAX_IDP_BYTES),
      DEFAULT_IDP_BYTES,
    );
}

/**
 * Refuses, as usage errors, `--ipfix` with options that reshape or hash the records it reads, and IPFIX options
 * that would change nothing: the export's options without `--ipfix`, `--idp-bytes` without the idp template,
 * `--ipfix-refresh` over TCP (templates go once per connection).
 * `given`: the long flags given on the command line (see `givenOptions`).
 *
 * @example
 * ```ts
 * import { refuseIdleIpfixOptions } from "./live.ts";
 * refuseIdleIpfixOptions({ ipfix: "127.0.0.1:4739" }, ["--ipfix"]); // nothing idle: returns
 * ```
 */
export function refuseIdleIpfixOptions(
  o: IpfixCliOptions & Pick<FeatureCliOptions, "anonymizeIps" | "specificFeatures" | "bidirectionalSplit">,
  given: readonly string[],
): void {
  if (o.ipfix !== undefined) {
    const reshaping = [
      o.anonymizeIps ? "--anonymize-ips" : "",
      o.specificFeatures !== undefined ? "--specific-features" : "",
      o.bidirectionalSplit ? "--bidirectional-split" : "",
    ].filter(Boolean);
    if (reshaping.length > 0) {
      const names = reshaping.join(", ");
      throw new UsageError(
        `--ipfix cannot be used with ${names}: the IPFIX export needs each flow's own addresses and counters, ` +
          "which these options replace, drop or rename in the written records",
      );
    }
  }
  const exportOnly = given.filter((f) => f.startsWith("--ipfix-") || f === "--idp-bytes");
  if (o.ipfix === undefined && exportOnly.length > 0) {
    throw new UsageError(
      `${exportOnly.join(", ")} only ${exportOnly.length === 1 ? "applies" : "apply"} with --ipfix HOST:PORT`,
    );
  }
  if (given.includes("--idp-bytes") && (o.ipfixTemplate ?? "simple") !== "idp") {
    throw new UsageError("--idp-bytes only applies with --ipfix-template idp");
  }
  if (given.includes("--ipfix-refresh") && o.ipfixTransport === "tcp") {
    throw new UsageError(
      "--ipfix-refresh only applies to UDP export: over TCP the templates are sent once per connection",
    );
  }
}

/**
 * When `o.ipfix` is set: connects an {@linkcode IpfixExporter}, adds the `idp` group to `target.extractors`
 * for the idp template, and returns a writer that writes to both `writer` and the exporter (`ipfix`; closing
 * prints the IPFIX totals on stderr unless `o.quiet`). Otherwise returns `writer` itself. `writer` may
 * be a function that opens it: it is called once `target.extractors` is final, so that a writer with a fixed
 * column list (CSV, Parquet) can include the idp group's columns.
 *
 * @example
 * ```ts
 * import { withIpfix } from "./live.ts";
 * import { JsonlWriter } from "../../outputs/jsonl.ts";
 * const opts: { extractors?: never[] } = {};
 * const w = await withIpfix(new JsonlWriter(Deno.stdout.writable), { ipfix: "127.0.0.1:4739" }, opts);
 * await w.close();
 * ```
 */
export async function withIpfix(
  writer: OpenedRecordWriter | (() => Promise<OpenedRecordWriter>),
  o: IpfixCliOptions,
  // deno-lint-ignore no-explicit-any
  target: { extractors?: FeatureExtractor<any>[] },
): Promise<OpenedRecordWriter & { ipfix?: IpfixExporter }> {
  if (o.ipfix === undefined) return typeof writer === "function" ? await writer() : writer;
  let hp: { host: string; port: number };
  try {
    hp = parseHostPort(o.ipfix);
  } catch (e) {
    throw new UsageError(`--ipfix: ${(e as Error).message}`);
  }
  const template = o.ipfixTemplate ?? "simple";
  let exporter: IpfixExporter;
  try {
    exporter = await IpfixExporter.connect({
      ...hp,
      transport: o.ipfixTransport ?? "udp",
      template,
      biflow: o.ipfixBiflow ?? false,
      templateRefreshSeconds: o.ipfixRefresh ?? 60,
      idpMaxBytes: o.idpBytes ?? DEFAULT_IDP_BYTES,
      onWarning: (m) => console.error(`jj: warning: ${m}`),
    });
  } catch (e) {
    throw new InputError(
      `cannot reach the IPFIX collector ${o.ipfixTransport ?? "udp"}://${o.ipfix}: ${(e as Error).message}` +
        (/ENOTFOUND|EAI_AGAIN/.test(String((e as Error).message))
          ? " (check the host name)"
          : " (is it listening? e.g. nfcapd -p PORT -w DIR, which takes UDP)"),
    );
  }
  target.extractors = [
    ...(target.extractors ?? []),
    ipfixCountersExtractor(),
    ...(template === "idp" ? [idpExtractor(o.idpBytes)] : []),
  ];
  let out: OpenedRecordWriter;
  try {
    out = typeof writer === "function" ? await writer() : writer;
  } catch (e) {
    await exporter.close().catch(() => {});
    throw e;
  }
  // Records come one at a time (each awaited); the exporter orders its own sends, so a timer's flush of it
  // may run between them.
  return {
    ipfix: exporter,
    async write(r: FlowRecord) {
      await out.write(r);
      await exporter.write(r);
    },
    async close() {
      await out.close();
      await exporter.close();
      if (!o.quiet) {
        const s = exporter.stats;
        console.error(
          `jj: IPFIX: ${s.records} data records in ${s.messages} messages (${s.templateMessages} with templates, ` +
            `${s.bytes} bytes) to ${exporter.target}${s.lost > 0 ? `; ${s.lost} records lost` : ""}`,
        );
      }
    },
    async abort(reason?: unknown) {
      try {
        await out.abort(reason);
      } finally {
        await exporter.close();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// live

/** Options of `jj live` as commander parses them. */
export interface LiveCliOptions extends IpfixCliOptions, FlowCliOptions, FeatureCliOptions {
  interface?: string;
  list?: boolean;
  filter?: string;
  snaplen?: number;
  promisc?: boolean;
  duration?: number;
  count?: number;
  savePcap?: string;
  bufferSize?: number;
  output?: string;
  format?: string;
  features?: string;
  metrics?: number;
}

const FLAG_NAMES: [number, string][] = [[1, "loopback"], [2, "up"], [4, "running"], [8, "wireless"]];

/**
 * Prints the capture interfaces (`pcap_findalldevs`): name, flags, addresses, description.
 *
 * @example
 * ```ts
 * import { listInterfaces } from "./live.ts";
 * listInterfaces();
 * ```
 */
export function listInterfaces(): void {
  const lines = findAllDevs().map((d) => {
    const flags = FLAG_NAMES.filter(([bit]) => d.flags & bit).map(([, n]) => n).join(",");
    const addrs = d.addresses.length > 0 ? d.addresses.join(" ") : "-";
    return `${d.name}\t${flags || "-"}\t${addrs}${d.description ? `\t${d.description}` : ""}`;
  });
  console.log(lines.join("\n"));
}

/**
 * Prints the end-of-capture line: packets, flows and `pcap_stats` (received, dropped).
 *
 * @example
 * ```ts
 * import { printLiveSummary } from "./live.ts";
 * printLiveSummary({
 *   iface: "lo", packetsRead: 10, packetsDecoded: 10, packetsSkipped: {}, packetsSampledOut: 0, bytes: 900,
 *   flows: 2, received: 10, dropped: 0, ifDropped: 0, savedPackets: 0, seconds: 1, stoppedBy: "signal",
 *   error: null, unsupportedLinkType: null, waitMode: "poll",
 * });
 * ```
 */
export function printLiveSummary(s: LiveSummary): void {
  const parts = packetCountParts(s, "captured");
  if (s.savedPackets > 0) parts.push(`${s.savedPackets} packets saved`);
  console.error(
    `jj: live on ${s.iface} stopped by ${s.stoppedBy} after ${s.seconds.toFixed(2)} s: ${
      parts.join(", ")
    }; ` +
      `${(s.bytes / 1e6).toFixed(1)} MB (${fmtRate(s.packetsRead / Math.max(s.seconds, 1e-9))} packets/s)`,
  );
  console.error(
    `jj: pcap_stats: ${s.received} received, ${s.dropped} dropped by kernel, ${s.ifDropped} dropped by interface`,
  );
}

/**
 * Runs `jj live`; returns the exit code. SIGINT, SIGTERM and SIGHUP stop the capture cleanly (every flow is written);
 * a second signal exits at once.
 *
 * @example
 * ```ts
 * import { runLive } from "./live.ts";
 * const code = await runLive({
 *   interface: "lo", duration: 2, format: "jsonl", idleTimeout: 60, activeTimeout: 1800, maxFlows: 0,
 *   decap: true, samplingRate: 1, burstThresholdMs: 50,
 * });
 * ```
 */
export async function runLive(o: LiveCliOptions, given: readonly string[] = []): Promise<number> {
  refuseIdleIpfixOptions(o, given);
  if (o.list) {
    // Options for a capture that --list does not make would be ignored without a word.
    const others = given.filter((f) => f !== "--list" && f !== "--quiet");
    if (others.length > 0) {
      throw new UsageError(`--list only lists the interfaces: it takes no ${others.join(", ")}`);
    }
    listInterfaces();
    return 0;
  }
  if (o.interface === undefined || o.interface === "") {
    throw new UsageError("live needs -i IFACE (jj live --list shows the interfaces)");
  }
  // Extractor modules are read: -o must not overwrite them.
  refuseOutputAsInput(o.extractor ?? [], o.output);
  if (
    o.savePcap !== undefined && o.output !== undefined && o.output !== "-" && sameFile(o.savePcap, o.output)
  ) {
    throw new UsageError(`--save-pcap and -o name the same file (${o.output}); write them to two files`);
  }
  refuseOptionAsFileName("--save-pcap", o.savePcap);
  if (o.savePcap !== undefined) {
    // libpcap's dumper writes a plain pcap whatever the name: a .gz name made a file jj then refused to read.
    if (/\.gz$/i.test(o.savePcap)) {
      throw new UsageError(
        `--save-pcap writes an uncompressed pcap: name it without .gz (${o.savePcap}), and compress it after`,
      );
    }
    // Packets and records on one stdout would mix (and the dumper closes it, losing the last records).
    const stdout = ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"];
    if (stdout.includes(o.savePcap) && (o.output === undefined || stdout.includes(o.output))) {
      throw new UsageError(
        `--save-pcap ${o.savePcap} writes the packets to stdout, where the records go: write the records to a ` +
          "file (-o FILE) or the packets to one",
      );
    }
  }
  const plugins = await loadUserExtractors(o.extractor);
  const features = withUserExtractors(parseFeatureList(o.features), plugins);
  refuseIgnoredSettings(o, given, features);
  // A group with `finalize` (connection, or a plugin's) needs every flow before it can write one; live never
  // reaches the end of its input, so its columns would stay null.
  const whole = allExtractors().filter((e) => e.finalize !== undefined && features?.includes(e.name));
  if (whole.length > 0) {
    const names = whole.map((e) => e.name).join(", ");
    const loaded = whole.some((e) => plugins.includes(e.name));
    throw new UsageError(
      `${
        loaded ? `--extractor ${o.extractor!.join(", ")}` : `--features ${names}`
      }: ${names} needs every flow ` +
        "of the whole input before it can write one, so it works with jj extract only",
    );
  }
  const stop = stopOnSignals(o.quiet ? "" : STOPPING);
  // Output that fails in the background (a full disk, a closed pipe) ends the capture at once, not at the next
  // flow written (on a quiet interface, hours later).
  const outputFailed = new AbortController();
  const metrics = new CaptureMetrics();
  let server: MetricsServer | null = null;
  let writer: OpenedRecordWriter | null = null;
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    const opts: LiveOptions = {
      iface: o.interface,
      filter: o.filter,
      snaplen: o.snaplen,
      promisc: o.promisc ?? false,
      bufferSize: o.bufferSize,
      duration: o.duration,
      count: o.count,
      savePcap: o.savePcap,
      features,
      ...flowOptionsFrom(o),
      ...featureOptionsFrom(o),
      signal: AbortSignal.any([stop.signal, outputFailed.signal]),
      metrics,
      onWarning: (m) => console.error(`jj: warning: ${m}`),
      onStart: (info) => {
        if (!o.quiet) {
          console.error(`jj: capturing on ${info.iface} (link type ${info.linkType}); Ctrl-C stops`);
          // announced once the capture is open: an interface that cannot be opened gets its error alone
          if (server !== null) console.error(`jj: metrics on ${server.url}`);
        }
      },
    };
    // A run that fails ends with abort: a capture that cannot start (a mistyped interface) leaves a previous
    // -o file as it was (see openRecordWriter).
    const ipfixColumns = o.ipfix === undefined
      ? []
      : [...ipfixCountersExtractor().features, ...(o.ipfixTemplate === "idp" ? idpExtractor().features : [])];
    const base = await openRecordWriter(o.output ?? "-", o.format, [
      ...livePlan({ ...opts, extractors: undefined }).features,
      ...ipfixColumns,
    ], { onFailure: () => outputFailed.abort() });
    const inner = await withIpfix(base, o, opts).catch(async (e) => {
      await base.abort(e).catch(() => {});
      throw e;
    });
    const ipfix = inner.ipfix;
    writer = inner;
    if (o.metrics !== undefined) {
      try {
        server = serveMetrics(o.metrics, metrics);
      } catch (e) {
        throw new InputError(
          `cannot serve metrics on 127.0.0.1:${o.metrics}: ${
            (e as Error).message
          }; choose another port, or 0 ` +
            "for any free one",
        );
      }
    }
    // IPFIX messages keep moving while capture waits (the text writers send their batches themselves).
    if (ipfix !== undefined) {
      // Once stopped, a collector that takes nothing is waited for briefly (the flows held still go to -o).
      stop.signal.addEventListener("abort", () => ipfix.hurry(), { once: true });
      timer = setInterval(() => {
        metrics.ipfixRecords = ipfix.stats.records;
        metrics.ipfixLost = ipfix.stats.lost;
        ipfix.flush().catch(() => {});
      }, 500);
    }
    const summary: LiveSummary = await drain(captureFlows(opts), (r) => inner.write(r));
    clearInterval(timer);
    timer = undefined;
    writer = null;
    await (summary.error !== null ? inner.abort() : inner.close());
    if (ipfix !== undefined) metrics.ipfixRecords = ipfix.stats.records;
    if (!o.quiet) printLiveSummary(summary);
    if (summary.error !== null) {
      console.error(`jj: error: ${summary.error}`); // "capture on IFACE failed: ..."
      return 1;
    }
    // An interface whose packets were all skipped (said when the capture began) fails the run, as in extract.
    if (summary.unsupportedLinkType !== null) return 1;
    // Records the collector never got fail the run, as in extract (the IPFIX totals line counts them).
    return ipfix !== undefined && ipfix.stats.lost > 0 ? 1 : 0;
  } finally {
    if (timer !== undefined) clearInterval(timer);
    stop.dispose();
    if (writer !== null) await writer.abort().catch(() => {});
    await server?.close();
  }
}

/**
 * Adds `live` to the program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addLiveCommand } from "./live.ts";
 * addLiveCommand(new Command("jj"), () => {});
 * ```
 */
export function addLiveCommand(program: Command, setResult: (p: Promise<number>) => void): Command {
  const base = program.command("live")
    .description(
      "Capture on an interface (libpcap) and write a record per flow (JSON Lines, CSV, Parquet) as flows end; " +
        "Ctrl-C, SIGTERM or SIGHUP " +
        "stops and writes the flows still held.",
    )
    .option("-i, --interface <name>", "interface to capture on (see --list)")
    .option("--list", "list the capture interfaces and exit")
    .option(
      "--filter <bpf>",
      "BPF filter, e.g. 'tcp port 443' (Linux takes VLAN tags off first: 'tcp' matches tagged TCP too)",
    )
    .option(
      "--snaplen <bytes>",
      `bytes kept per packet (1 to ${MAX_SNAPLEN})`,
      integerInRange("--snaplen", 1, MAX_SNAPLEN),
      MAX_SNAPLEN,
    )
    .option("--promisc", "promiscuous mode")
    .option(
      "--buffer-size <bytes>",
      `kernel capture buffer (default 64 MiB; 65536 to ${MAX_BUFFER_SIZE})`,
      integerInRange("--buffer-size", 65536, MAX_BUFFER_SIZE),
    )
    .option("--duration <seconds>", "stop after this many seconds", positiveNumber("--duration"))
    .option("--count <packets>", "stop after this many packets", integer("--count", 1))
    .option(
      "--save-pcap <file>",
      "also write every captured packet to FILE (uncompressed pcap; - for stdout when -o takes the records)",
    )
    .option(
      "-o, --output <file>",
      "write to FILE instead of stdout (format by extension: .jsonl .csv .parquet, +.gz)",
    )
    .addOption(
      new Option("--format <format>", "output format (default: by extension, else jsonl)").choices([
        ...OUTPUT_FORMATS,
      ]),
    )
    .option(
      "--features <groups>",
      "comma-separated feature groups (default: all; not connection, which needs the whole input: use extract)",
    );
  const cmd = addFeatureOptions(addFlowOptions(base))
    .option(
      "--metrics <port>",
      "serve Prometheus metrics on http://127.0.0.1:PORT/metrics (0: any free port)",
      portNumber("--metrics"),
    )
    .option("-q, --quiet", "no messages or summary on stderr");
  return addIpfixOptions(cmd)
    .addHelpText(
      "after",
      `
Needs root or CAP_NET_RAW (setcap cap_net_raw,cap_net_admin=eip $(readlink -f $(which deno))).

Examples:
  jj live --list
  jj live -i eth0 --filter 'tcp port 443' --idle-timeout 30 -o flows.jsonl
  jj live -i lo --duration 60 --save-pcap lo.pcap --ipfix 127.0.0.1:9995 --metrics 9464`,
    )
    .action((o: LiveCliOptions, command: Command) => setResult(runLive(o, givenOptions(command))));
}
