/**
 * Prometheus metrics for a running capture: counters kept in plain numbers (cheap to bump per packet) and
 * rendered in the Prometheus text exposition format (version 0.0.4) on `GET /metrics`.
 *
 * @module
 */

/**
 * Flow end reasons counted separately (the values of `flow_end_reason`).
 *
 * @example
 * ```ts
 * import { END_REASONS } from "./metrics.ts";
 * console.log(END_REASONS.includes("idle")); // true
 * ```
 */
export const END_REASONS: readonly string[] = ["idle", "active", "fin", "rst", "evicted", "end"];

/**
 * The counters and gauges of a capture. The capture loop bumps them; {@linkcode render} formats them.
 *
 * @example
 * ```ts
 * import { CaptureMetrics } from "./metrics.ts";
 * const m = new CaptureMetrics();
 * m.packets += 2;
 * m.bytes += 120;
 * m.flowEnded("idle");
 * console.log(m.render().includes('jj_flows_total{reason="idle"} 1')); // true
 * ```
 */
export class CaptureMetrics {
  /** Packets read from the capture. */
  packets = 0;
  /** Bytes of those packets on the wire. */
  bytes = 0;
  /** Packets decoded into a flow. */
  packetsDecoded = 0;
  /** Packets skipped, by reason. */
  skipped: Map<string, number> = new Map();
  /** Packets of flows sampling left out. */
  packetsSampledOut = 0;
  /** Flows held now. */
  activeFlows = 0;
  /** Packets received by the capture filter (`pcap_stats` ps_recv). */
  received = 0;
  /** Packets dropped by the kernel for lack of buffer space (`pcap_stats` ps_drop). */
  dropped = 0;
  /** Packets dropped by the interface or driver (`pcap_stats` ps_ifdrop). */
  ifDropped = 0;
  /** IPFIX data records sent. */
  ipfixRecords = 0;
  /** IPFIX data records lost to send errors. */
  ipfixLost = 0;
  /** Flows ended, by reason. */
  readonly flowsByReason: Map<string, number> = new Map(END_REASONS.map((r) => [r, 0]));
  /** When the capture started (seconds since the epoch). */
  readonly startTime: number = Date.now() / 1000;

  /** Counts one ended flow. */
  flowEnded(reason: string): void {
    this.flowsByReason.set(reason, (this.flowsByReason.get(reason) ?? 0) + 1);
  }

  /** The metrics in Prometheus text format. */
  render(): string {
    const out: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric("jj_packets_total", "counter", "Packets read from the capture.", [
      `jj_packets_total ${this.packets}`,
    ]);
    metric("jj_bytes_total", "counter", "Bytes on the wire of the packets read.", [
      `jj_bytes_total ${this.bytes}`,
    ]);
    metric("jj_packets_decoded_total", "counter", "Packets decoded and counted in a flow.", [
      `jj_packets_decoded_total ${this.packetsDecoded}`,
    ]);
    // With these, packets read = decoded + skipped + sampled out, as the summary accounts for them.
    metric(
      "jj_packets_skipped_total",
      "counter",
      "Packets read but not counted in a flow, by reason (as the summary names them).",
      byReason("jj_packets_skipped_total", this.skipped),
    );
    metric("jj_packets_sampled_out_total", "counter", "Packets of flows --sampling-rate left out.", [
      `jj_packets_sampled_out_total ${this.packetsSampledOut}`,
    ]);
    metric(
      "jj_flows_total",
      "counter",
      "Flows ended, by reason (idle, active, fin, rst, evicted, end).",
      byReason("jj_flows_total", this.flowsByReason),
    );
    metric("jj_active_flows", "gauge", "Flows held in the flow table.", [
      `jj_active_flows ${this.activeFlows}`,
    ]);
    metric("jj_capture_received_total", "counter", "Packets received by the capture filter (pcap_stats).", [
      `jj_capture_received_total ${this.received}`,
    ]);
    metric(
      "jj_capture_dropped_total",
      "counter",
      "Packets dropped, by where: kernel (no buffer space) or interface (pcap_stats).",
      [
        `jj_capture_dropped_total{where="kernel"} ${this.dropped}`,
        `jj_capture_dropped_total{where="interface"} ${this.ifDropped}`,
      ],
    );
    metric("jj_ipfix_records_total", "counter", "IPFIX data records sent.", [
      `jj_ipfix_records_total ${this.ipfixRecords}`,
    ]);
    metric("jj_ipfix_lost_records_total", "counter", "IPFIX data records lost to send errors.", [
      `jj_ipfix_lost_records_total ${this.ipfixLost}`,
    ]);
    metric("jj_start_time_seconds", "gauge", "When the capture started, seconds since the epoch.", [
      `jj_start_time_seconds ${this.startTime}`,
    ]);
    return out.join("\n") + "\n";
  }
}

/** A counter's lines, one per reason. */
function byReason(name: string, counts: Map<string, number>): string[] {
  return [...counts].map(([r, n]) => `${name}{reason="${escapeLabel(r)}"} ${n}`);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The port listened on (useful with port 0). */
  readonly port: number;
  /** The URL of the metrics page. */
  readonly url: string;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * Serves `metrics.render()` on `http://127.0.0.1:PORT/metrics` (port 0 picks a free one). Other paths get 404.
 *
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 * @example
 * ```ts
 * import { CaptureMetrics, serveMetrics } from "./metrics.ts";
 * const server = serveMetrics(9464, new CaptureMetrics());
 * console.log(await (await fetch(server.url)).text());
 * await server.close();
 * ```
 */
export function serveMetrics(
  port: number,
  metrics: { render(): string },
  hostname = "127.0.0.1",
): MetricsServer {
  const server = Deno.serve({ hostname, port, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path !== "/metrics") return new Response("not found; see /metrics\n", { status: 404 });
    if (req.method !== "GET" && req.method !== "HEAD") return new Response(null, { status: 405 });
    return new Response(metrics.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    port: addr.port,
    url: `http://${hostname}:${addr.port}/metrics`,
    async close() {
      await server.shutdown();
    },
  };
}
