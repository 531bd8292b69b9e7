/**
 * `jj fingerprint`: one JSON line per handshake (TLS client and server, QUIC client, SSH client and server, TCP
 * SYN and SYN+ACK) in captures or live, written as each handshake message is read; optional labels from a
 * fingerprint database (`--db`), with a count of known and unknown fingerprints on stderr.
 *
 * @module
 */
import type { Command } from "commander";
import { formatFromPath, openRecordWriter } from "../../outputs/mod.ts";
import type { FlowRecord } from "../extractor.ts";
import type { ExtractSummary } from "../extract.ts";
import type { LiveSummary } from "../live.ts";
import {
  fingerprintCapture,
  FingerprintDb,
  fingerprintLive,
  HANDSHAKE_TYPES,
  type HandshakeEvent,
  type HandshakeType,
} from "../fingerprint.ts";
import {
  drain,
  integer,
  integerInRange,
  packetCountParts,
  positiveNumber,
  refuseOutputAsInput,
  refuseStdinTwice,
  runExitCode,
  stopOnSignals,
  UsageError,
} from "./common.ts";
import { MAX_SNAPLEN } from "../../ffi/libpcap.ts";

/** Options of `jj fingerprint` as commander parses them. */
export interface FingerprintCliOptions {
  db?: string;
  types?: string;
  output?: string;
  filter?: string;
  live?: boolean;
  interface?: string;
  snaplen?: number;
  promisc?: boolean;
  duration?: number;
  count?: number;
  quiet?: boolean;
}

/** Counts of a run, for the summary line. */
export interface FingerprintTally {
  /** Events by type. */
  byType: Partial<Record<HandshakeType, number>>;
  /** Events written. */
  total: number;
  /** With a database: events whose fingerprint it knows, and the others. */
  known: number;
  unknown: number;
}

/** The options that only a live capture uses, as `--flag` and the option's attribute name. */
const LIVE_ONLY: readonly [string, keyof FingerprintCliOptions][] = [
  ["-i/--interface", "interface"],
  ["--snaplen", "snaplen"],
  ["--promisc", "promisc"],
  ["--duration", "duration"],
  ["--count", "count"],
];

/** The live-only options set in `o` (none of them has a default). */
function liveOnlySet(o: FingerprintCliOptions): string[] {
  return LIVE_ONLY.filter(([, attr]) => o[attr] !== undefined && o[attr] !== false).map(([flag]) => flag);
}

/** Parses `--types a,b`, checking the names. */
function parseTypes(text: string | undefined): HandshakeType[] | undefined {
  if (text === undefined) return undefined;
  const list = text.split(",").map((s) => s.trim()).filter(Boolean);
  // An empty list read as every type, what leaving --types out gives.
  if (list.length === 0) {
    throw new UsageError(
      `--types names no handshake type (got "${text}"); valid: ${HANDSHAKE_TYPES.join(", ")}`,
    );
  }
  for (const t of list) {
    if (!(HANDSHAKE_TYPES as readonly string[]).includes(t)) {
      throw new UsageError(`unknown handshake type "${t}" in --types; valid: ${HANDSHAKE_TYPES.join(", ")}`);
    }
  }
  return list as HandshakeType[];
}

/**
 * The summary line of a run: events by type and, with a database, how many were known and unknown.
 *
 * @example
 * ```ts
 * import { fingerprintSummaryLine } from "./fingerprint.ts";
 * console.log(fingerprintSummaryLine({ byType: { tls_client: 2 }, total: 2, known: 1, unknown: 1 }, true));
 * // jj: fingerprint: 2 handshakes (tls_client 2); database: 1 known, 1 unknown
 * ```
 */
export function fingerprintSummaryLine(t: FingerprintTally, withDb: boolean): string {
  const parts = HANDSHAKE_TYPES.filter((k) => (t.byType[k] ?? 0) > 0).map((k) => `${k} ${t.byType[k]}`);
  return `jj: fingerprint: ${t.total} handshake${t.total === 1 ? "" : "s"}` +
    (parts.length > 0 ? ` (${parts.join(", ")})` : "") +
    (withDb ? `; database: ${t.known} known, ${t.unknown} unknown` : "");
}

/**
 * Runs `jj fingerprint`; returns the exit code. Live-only options (`-i/--interface`, `--snaplen`, ...) without
 * `--live` are a usage error.
 *
 * @example
 * ```ts
 * import { runFingerprint } from "./fingerprint.ts";
 * const code = await runFingerprint(["testdata/http.pcap"], { quiet: true });
 * console.log(code); // 0
 * ```
 */
export async function runFingerprint(
  inputs: string[],
  o: FingerprintCliOptions,
): Promise<number> {
  const liveOnlyGiven = liveOnlySet(o);
  const types = parseTypes(o.types);
  if (o.live) {
    if (inputs.length > 0) throw new UsageError("fingerprint --live takes no capture files");
    if (o.interface === undefined || o.interface === "") {
      throw new UsageError("fingerprint --live needs -i IFACE (jj live --list shows the interfaces)");
    }
  } else {
    if (inputs.length === 0) throw new UsageError("fingerprint needs a capture (or --live -i IFACE)");
    // Silently reading the files as if they had not been given would hide a mistake (a missing --live).
    if (liveOnlyGiven.length > 0) {
      throw new UsageError(`${liveOnlyGiven.join(", ")} need${liveOnlyGiven.length === 1 ? "s" : ""} --live`);
    }
  }
  // The database is read too: -o must not overwrite it.
  refuseOutputAsInput(o.db === undefined ? inputs : [...inputs, o.db], o.output);
  refuseStdinTwice(inputs);
  // Events are JSON Lines: a name asking for another format got JSON Lines under it.
  const asked = o.output !== undefined ? formatFromPath(o.output).format : null;
  if (asked !== null && asked !== "jsonl") {
    throw new UsageError(`fingerprint writes JSON Lines (optionally .gz): -o ${o.output} names ${asked}`);
  }
  const db = o.db !== undefined ? await FingerprintDb.load(o.db) : null;
  const tally: FingerprintTally = { byType: {}, total: 0, known: 0, unknown: 0 };

  // JSON Lines sent in batches at most 200 ms after a line (BatchWriter), so that lines keep moving while the
  // source waits; a run that fails before its first line leaves a previous -o file as it was.
  // A live capture ends at once when its output fails in the background (a full disk, a closed pipe).
  const outputFailed = new AbortController();
  const writer = await openRecordWriter(o.output ?? "-", "jsonl", null, {
    onFailure: () => outputFailed.abort(),
  });
  let ended = false;
  const end = async (failed: boolean): Promise<void> => {
    if (ended) return;
    ended = true;
    await (failed ? writer.abort() : writer.close());
  };
  const write = (ev: HandshakeEvent): Promise<void> => {
    tally.total++;
    tally.byType[ev.type] = (tally.byType[ev.type] ?? 0) + 1;
    if (db !== null) {
      if (ev.match !== null && ev.match !== undefined) tally.known++;
      else tally.unknown++;
    }
    return writer.write(ev as unknown as FlowRecord);
  };

  try {
    if (!o.live) {
      // Ctrl-C ends the input where it is (a capture on a pipe has no other end), and the handshakes held until
      // their flow ends (an SSH banner without a KEXINIT, a lone HelloRetryRequest) are written, as extract
      // writes its flows.
      const stop = stopOnSignals(
        o.quiet ? "" : "jj: stopping; writing the handshakes still held (signal again to quit at once)",
      );
      let summary: ExtractSummary;
      try {
        const it = fingerprintCapture(inputs, {
          db,
          types,
          filter: o.filter,
          signal: stop.signal,
          onWarning: (m) => console.error(`jj: warning: ${m}`),
        });
        summary = await drain(it, write);
      } finally {
        stop.dispose();
      }
      await end(false);
      if (!o.quiet) {
        // Every packet accounted for, as extract does; the fingerprints have their own line below.
        console.error(
          `jj: ${packetCountParts(summary, "read").slice(0, -1).join(", ")}; ${summary.inputs} input(s)`,
        );
        console.error(fingerprintSummaryLine(tally, db !== null));
      }
      return runExitCode(summary);
    }

    const stop = stopOnSignals("");
    try {
      const it = fingerprintLive({
        iface: o.interface!,
        filter: o.filter,
        snaplen: o.snaplen,
        promisc: o.promisc ?? false,
        duration: o.duration,
        count: o.count,
        signal: AbortSignal.any([stop.signal, outputFailed.signal]),
        db,
        types,
        onWarning: (m) => console.error(`jj: warning: ${m}`),
        onStart: (info) => {
          if (!o.quiet) {
            console.error(`jj: capturing on ${info.iface} (link type ${info.linkType}); Ctrl-C stops`);
          }
        },
      });
      const summary: LiveSummary = await drain(it, write);
      await end(summary.error !== null);
      if (!o.quiet) {
        console.error(
          `jj: live on ${summary.iface} stopped by ${summary.stoppedBy} after ${
            summary.seconds.toFixed(2)
          } s: ` +
            // Every packet accounted for, as live does; the fingerprints have their own line below.
            `${packetCountParts(summary, "captured").slice(0, -1).join(", ")}; pcap_stats: ` +
            `${summary.received} received, ${summary.dropped} dropped by kernel, ${summary.ifDropped} dropped by ` +
            "interface",
        );
        console.error(fingerprintSummaryLine(tally, db !== null));
      }
      if (summary.error !== null) {
        console.error(`jj: error: ${summary.error}`); // "capture on IFACE failed: ..."
        return 1;
      }
      // An interface whose packets were all skipped (said when the capture began) fails the run, as in live.
      return summary.unsupportedLinkType !== null ? 1 : 0;
    } finally {
      stop.dispose();
    }
  } finally {
    await end(true).catch(() => {});
  }
}

/**
 * Adds `fingerprint` to the program.
 *
 * @example
 * ```ts
 * import { Command } from "commander";
 * import { addFingerprintCommand } from "./fingerprint.ts";
 * addFingerprintCommand(new Command("jj"), () => {});
 * ```
 */
export function addFingerprintCommand(program: Command, setResult: (p: Promise<number>) => void): Command {
  return program.command("fingerprint")
    .description(
      "Write one JSON line per handshake (TLS/QUIC JA3, JA4; SSH HASSH; TCP SYN p0f-style signature) as it is " +
        "read, from captures or live (--live -i IFACE); --db labels known fingerprints.",
    )
    .argument("[inputs...]", "pcap/pcapng files, directories of captures, or - for stdin")
    .option("--db <file>", "JSON fingerprint database (docs/fingerprint-db.md); adds `match` to every line")
    .option("--types <list>", `only these event types (${HANDSHAKE_TYPES.join(", ")})`)
    .option("-o, --output <file>", "write to FILE instead of stdout")
    .option(
      "--filter <bpf>",
      "BPF filter, e.g. 'tcp port 443' (needs libpcap; with --live, Linux takes VLAN tags off first: 'tcp' matches tagged TCP too)",
    )
    .option("--live", "capture on an interface instead of reading captures (needs root or CAP_NET_RAW)")
    .option("-i, --interface <name>", "interface for --live")
    .option(
      "--snaplen <bytes>",
      `bytes kept per packet (--live; 1 to ${MAX_SNAPLEN})`,
      integerInRange("--snaplen", 1, MAX_SNAPLEN),
    )
    .option("--promisc", "promiscuous mode (--live)")
    .option("--duration <seconds>", "stop after this many seconds (--live)", positiveNumber("--duration"))
    .option("--count <packets>", "stop after this many packets (--live)", integer("--count", 1))
    .option("-q, --quiet", "no summary on stderr")
    .addHelpText(
      "after",
      `
Each line has type (tls_client, tls_server, quic_client, quic_server, ssh_client, ssh_server, tcp_syn,
tcp_synack), ts, src_ip, src_port, dst_ip, dst_port, protocol and the fingerprints of its type; with --db also
match (the entry's type, fingerprint, label and notes, or null when unknown) and a known/unknown count on
stderr. Lines are written as handshakes are read, not when flows end.

Examples:
  jj fingerprint capture.pcap | jq -c 'select(.type == "tls_client") | [.ja4, .sni]'
  jj fingerprint --db testdata/fingerprints.json captures/
  jj fingerprint --live -i eth0 --filter 'tcp port 443 or tcp port 22 or udp port 443'`,
    )
    .action((inputs: string[], o: FingerprintCliOptions) => setResult(runFingerprint(inputs, o)));
}
