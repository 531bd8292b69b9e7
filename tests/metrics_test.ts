/**
 * Tests for the Prometheus metrics (lib/metrics.ts): the text format, and the endpoint served on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { CaptureMetrics, END_REASONS, serveMetrics } from "../lib/metrics.ts";

/** Parses Prometheus text format into `name{labels}` -> value, checking every sample has HELP and TYPE. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  const typed = new Set<string>();
  const helped = new Set<string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (m) {
      (m[1] === "HELP" ? helped : typed).add(m[2]);
      if (m[1] === "TYPE") assert.ok(["counter", "gauge"].includes(m[3]), line);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    assert.ok(typed.has(m[1]) && helped.has(m[1]), `${m[1]} lacks HELP/TYPE`);
    out.set(m[1] + (m[2] ?? ""), Number(m[3]));
  }
  return out;
}

Deno.test("metrics: text format carries packets, bytes, flows by end reason, active flows, drops", () => {
  const m = new CaptureMetrics();
  m.packets = 120;
  m.bytes = 98765;
  m.packetsDecoded = 118;
  m.activeFlows = 7;
  m.received = 240;
  m.dropped = 3;
  m.ifDropped = 1;
  m.flowEnded("idle");
  m.flowEnded("idle");
  m.flowEnded("fin");
  m.flowEnded("end");
  // Read = decoded + skipped + sampled out, as the summary accounts for them (there was no way to check it).
  m.skipped = new Map([["truncated headers", 1]]);
  m.packetsSampledOut = 1;
  const v = parseProm(m.render());
  assert.equal(v.get('jj_packets_skipped_total{reason="truncated headers"}'), 1);
  assert.equal(v.get("jj_packets_sampled_out_total"), 1);
  assert.equal(v.get("jj_packets_total"), 120);
  assert.equal(v.get("jj_bytes_total"), 98765);
  assert.equal(v.get("jj_packets_decoded_total"), 118);
  assert.equal(v.get("jj_active_flows"), 7);
  assert.equal(v.get("jj_capture_received_total"), 240);
  assert.equal(v.get('jj_capture_dropped_total{where="kernel"}'), 3);
  assert.equal(v.get('jj_capture_dropped_total{where="interface"}'), 1);
  assert.equal(v.get('jj_flows_total{reason="idle"}'), 2);
  assert.equal(v.get('jj_flows_total{reason="fin"}'), 1);
  assert.equal(v.get('jj_flows_total{reason="end"}'), 1);
  for (const r of END_REASONS) assert.ok(v.has(`jj_flows_total{reason="${r}"}`), r);
});

Deno.test("metrics: label values are escaped", () => {
  const m = new CaptureMetrics();
  m.flowEnded('we"ird\\');
  assert.ok(m.render().includes('jj_flows_total{reason="we\\"ird\\\\"} 1'));
});

Deno.test("metrics: served on 127.0.0.1 /metrics, 404 elsewhere", async () => {
  const m = new CaptureMetrics();
  const server = serveMetrics(0, m);
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}/metrics`);
    m.packets = 5;
    let res = await fetch(server.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    assert.equal(parseProm(await res.text()).get("jj_packets_total"), 5);
    m.packets = 9; // rendered fresh on each scrape
    res = await fetch(server.url);
    assert.equal(parseProm(await res.text()).get("jj_packets_total"), 9);
    res = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(res.status, 404);
    await res.body?.cancel();
    res = await fetch(server.url, { method: "POST" });
    assert.equal(res.status, 405);
    await res.body?.cancel();
  } finally {
    await server.close();
  }
});

Deno.test("metrics: a taken port is an error", async () => {
  const a = serveMetrics(0, new CaptureMetrics());
  try {
    assert.throws(() => serveMetrics(a.port, new CaptureMetrics()), Deno.errors.AddrInUse);
  } finally {
    await a.close();
  }
});
