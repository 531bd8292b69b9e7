/**
 * Feature groups: declared names equal the keys written (for every registered group), the JoyfulJay columns of
 * the foundation groups are all there, values are finite and of their declared type, and the foundation
 * features (flow_meta, timing, size, tcp) have the values worked out by hand on small flows built byte by byte.
 */
import assert from "node:assert/strict";
import { allExtractors } from "../lib/registry.ts";
import { BoundedSample, IntegerCounts } from "../lib/stats.ts";
import type { FeatureExtractor, FeatureType, FlowRecord } from "../lib/extractor.ts";
import {
  byteStream,
  cap,
  CAPTURES,
  collect,
  ethernet,
  F,
  HAVE_SHARED,
  icmpEcho,
  ipv4,
  ipv6,
  pcapFile,
  SHARED,
  tcp,
  udp,
} from "./helpers.ts";

const COLUMNS = `${SHARED}/reference/joyfuljay-columns.txt`;
const FOUNDATION = ["flow_meta", "timing", "size", "tcp"];

/** Declared names of groups, deduplicated in order (as the record factory lays them out). */
function declaredNames(groups: readonly FeatureExtractor<unknown>[]): string[] {
  const names: string[] = [];
  for (const g of groups) for (const f of g.features) if (!names.includes(f.name)) names.push(f.name);
  return names;
}

/** Records of a hand-made Ethernet pcap. */
async function flows(pkts: { ts: number; data: Uint8Array }[], features = FOUNDATION): Promise<FlowRecord[]> {
  const { records } = await collect(byteStream(pcapFile(1, pkts)), { features });
  return records;
}

/** Asserts `got` has every key of `want` with that value (numbers to 1e-9 relative). */
function assertFields(got: FlowRecord, want: Record<string, unknown>): void {
  const bad: string[] = [];
  for (const [k, v] of Object.entries(want)) {
    assert.ok(k in got, `no feature ${k}`);
    const g = got[k];
    if (typeof v === "number" && typeof g === "number") {
      if (Math.abs(g - v) > 1e-9 * Math.max(1, Math.abs(v))) bad.push(`${k}: got ${g}, want ${v}`);
    } else if (JSON.stringify(g) !== JSON.stringify(v)) {
      bad.push(`${k}: got ${JSON.stringify(g)}, want ${JSON.stringify(v)}`);
    }
  }
  assert.deepEqual(bad, [], bad.join("\n"));
}

/** Every value of a record (nested too) that is a non-finite number, by path. */
function nonFinite(v: unknown, path: string, out: string[]): void {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) out.push(`${path} = ${v}`);
  } else if (Array.isArray(v)) v.forEach((x, i) => nonFinite(x, `${path}[${i}]`, out));
  else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) nonFinite(x, `${path}.${k}`, out);
  }
}

function typeOk(type: FeatureType, v: unknown): boolean {
  if (v === null) return true;
  switch (type) {
    case "int":
      return Number.isInteger(v);
    case "float":
      return typeof v === "number";
    case "str":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "list":
      return Array.isArray(v);
    case "dict":
      return typeof v === "object" && !Array.isArray(v);
  }
}

const SAMPLE = [
  "tls12.pcap",
  "quic.pcap",
  "dns.pcap",
  "ssh.pcap",
  "http.pcapng",
  "http2.pcapng",
  "v6.pcap",
  "gre-sample.pcap",
  "icmp-tunnel.pcap",
];

// ---------------------------------------------------------------------------------------------------------
// names, columns, values

Deno.test("every registered group declares features with distinct names, a type and a description", () => {
  const all = allExtractors();
  assert.deepEqual(all.slice(0, 4).map((e) => e.name), FOUNDATION);
  const seen = new Map<string, string>();
  for (const e of all) {
    assert.ok(e.features.length > 0, `${e.name} declares no feature`);
    for (const f of e.features) {
      assert.ok(!seen.has(f.name), `${f.name} is declared by ${seen.get(f.name)} and ${e.name}`);
      seen.set(f.name, e.name);
      assert.ok(
        ["int", "float", "str", "bool", "list", "dict"].includes(f.type),
        `${e.name}.${f.name}: type ${f.type}`,
      );
      assert.ok(f.description.length > 0, `${e.name}.${f.name}: no description`);
    }
  }
});

Deno.test({
  name: "with all groups on, every record's keys are exactly the declared names, in order",
  ignore: !HAVE_SHARED,
  async fn() {
    const names = declaredNames(allExtractors());
    for (const name of SAMPLE) {
      const { records } = await collect(cap(name), { features: ["all", "connection"] });
      assert.ok(records.length > 0, name);
      for (const r of records) assert.deepEqual(Object.keys(r), names, `${name}: keys of a record`);
    }
  },
});

Deno.test({
  name: "each group alone (with flow_meta) writes exactly flow_meta's names then its own",
  ignore: !HAVE_SHARED,
  async fn() {
    const all = allExtractors();
    for (const g of all) {
      const want = declaredNames(g.name === "flow_meta" ? [g] : [all[0], g]);
      for (const name of ["tls12.pcap", "quic.pcap", "dns.pcap", "ssh.pcap", "http.pcapng"]) {
        const { records } = await collect(cap(name), { features: [g.name] });
        assert.ok(records.length > 0, `${g.name} on ${name}: no record to check`);
        for (const r of records) assert.deepEqual(Object.keys(r), want, `${g.name} on ${name}`);
      }
    }
  },
});

Deno.test({
  name: "every JoyfulJay column of flow_meta, timing, size and tcp (src_ip .. tcp_flags_bwd) is written",
  ignore: !HAVE_SHARED,
  async fn() {
    const cols = (await Deno.readTextFile(COLUMNS)).split("\n").map((s) => s.trim()).filter(Boolean);
    const last = cols.indexOf("tcp_flags_bwd");
    assert.equal(cols[0], "src_ip");
    assert.ok(last > 0);
    const foundation = cols.slice(0, last + 1);
    const { records } = await collect(cap("tls12.pcap"), { features: FOUNDATION });
    const keys = new Set(Object.keys(records[0]));
    const missing = foundation.filter((c) => !keys.has(c));
    assert.deepEqual(missing, [], `missing columns: ${missing.join(", ")}`);
    // And the foundation groups declare them.
    const declared = new Set(declaredNames(allExtractors().filter((e) => FOUNDATION.includes(e.name))));
    assert.deepEqual(foundation.filter((c) => !declared.has(c)), []);
  },
});

Deno.test({
  name: "no value in any record of any corpus capture is NaN or Infinity; values have their declared type",
  ignore: !HAVE_SHARED,
  async fn() {
    const types = new Map<string, FeatureType>();
    for (const e of allExtractors()) for (const f of e.features) types.set(f.name, f.type);
    const problems: string[] = [];
    let n = 0;
    for (const e of [...Deno.readDirSync(CAPTURES)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const { records } = await collect(`${CAPTURES}/${e.name}`);
      for (const r of records) {
        n++;
        const bad: string[] = [];
        nonFinite(r, "", bad);
        for (const [k, v] of Object.entries(r)) {
          if (!typeOk(types.get(k)!, v)) bad.push(`${k} = ${JSON.stringify(v)} is not ${types.get(k)}`);
        }
        for (const b of bad) if (problems.length < 30) problems.push(`${e.name}: ${b}`);
      }
    }
    assert.ok(n > 500);
    assert.deepEqual(problems, [], problems.join("\n"));
  },
});

// ---------------------------------------------------------------------------------------------------------
// values by hand

const A = "192.168.1.10", B = "192.168.1.20";

Deno.test("a 3-packet TCP flow: every foundation feature worked out by hand", async () => {
  // SYN (54 bytes) at 10.000, SYN-ACK (54) at 10.010, PSH-ACK with 100 payload bytes (154) at 10.040.
  const payload = new Uint8Array(100).fill(0x41);
  const recs = await flows([
    { ts: 10, data: ethernet(ipv4(A, B, 6, tcp(40000, 80, F.SYN))) },
    { ts: 10.01, data: ethernet(ipv4(B, A, 6, tcp(80, 40000, F.SYN | F.ACK))) },
    { ts: 10.04, data: ethernet(ipv4(A, B, 6, tcp(40000, 80, F.PSH | F.ACK, payload))) },
  ]);
  assert.equal(recs.length, 1);
  const r = recs[0];
  const mean = 262 / 3;
  const variance = ((54 - mean) ** 2 * 2 + (154 - mean) ** 2) / 3;
  assertFields(r, {
    // flow_meta
    src_ip: A,
    dst_ip: B,
    src_port: 40000,
    dst_port: 80,
    dst_port_class: "well_known",
    dst_port_class_num: 0,
    protocol: 6,
    start_time: 10,
    end_time: 10.04,
    duration: 0.04,
    total_packets: 3,
    packets_fwd: 2,
    packets_bwd: 1,
    total_bytes: 262,
    bytes_fwd: 208,
    bytes_bwd: 54,
    payload_bytes_fwd: 100,
    payload_bytes_bwd: 0,
    payload_bytes_total: 100,
    packets_ratio: 2,
    bytes_ratio: 208 / 54,
    packets_per_second: 75,
    bytes_per_second: 6550,
    avg_packet_size: mean,
    time_first: 10,
    time_last: 10.04,
    flow_stat: 0b11, // SYN, SYN-ACK
    num_hdrs: 3,
    hdr_desc: "ETH-IP-TCP",
    ip_version_flow: 4,
    flow_end_reason: "end",
    tunnel_type: null,
    tunnel_src_ip: null,
    tunnel_dst_ip: null,
    // timing: gaps 0.010 and 0.030
    iat_min: 0.01,
    iat_max: 0.03,
    iat_mean: 0.02,
    iat_std: 0.01,
    iat_median: 0.02,
    iat_sum: 0.04,
    iat_p25: 0.015, // numpy linear: 0.01 + 0.25 * (0.03 - 0.01)
    iat_p75: 0.025,
    iat_p90: 0.028,
    iat_p99: 0.0298,
    iat_fwd_min: 0.04,
    iat_fwd_max: 0.04,
    iat_fwd_mean: 0.04,
    iat_fwd_std: 0,
    iat_fwd_median: 0.04,
    iat_bwd_min: null,
    iat_bwd_max: null,
    iat_bwd_mean: null,
    iat_bwd_std: null,
    iat_bwd_median: null,
    burstiness_index: 0.5,
    burstiness_index_fwd: 0,
    burstiness_index_bwd: null,
    burst_count: 1, // both gaps below 50 ms: one burst of 3 packets
    avg_burst_packets: 3,
    avg_burst_duration: 0.04,
    max_burst_packets: 3,
    idle_count: 0,
    avg_idle_duration: null,
    max_idle_duration: null,
    first_response_time: 0.01,
    // size: lengths 54, 54, 154; payloads 0, 0, 100
    pkt_len_min: 54,
    pkt_len_max: 154,
    pkt_len_mean: mean,
    pkt_len_std: Math.sqrt(variance),
    pkt_len_median: 54,
    pkt_len_p25: 54,
    pkt_len_p75: 104,
    pkt_len_p90: 134,
    pkt_len_fwd_min: 54,
    pkt_len_fwd_max: 154,
    pkt_len_fwd_mean: 104,
    pkt_len_fwd_std: 50,
    pkt_len_fwd_median: 104,
    pkt_len_bwd_min: 54,
    pkt_len_bwd_max: 54,
    pkt_len_bwd_mean: 54,
    pkt_len_bwd_std: 0,
    pkt_len_bwd_median: 54,
    payload_len_min: 0,
    payload_len_max: 100,
    payload_len_mean: 100 / 3,
    payload_len_std: Math.sqrt(((100 / 3) ** 2 * 2 + (200 / 3) ** 2) / 3),
    payload_len_fwd_mean: 50,
    payload_len_fwd_std: 50,
    payload_len_bwd_mean: 0,
    payload_len_bwd_std: 0,
    packets_with_payload: 1,
    packets_with_payload_fwd: 1,
    packets_with_payload_bwd: 0,
    header_only_ratio: 2 / 3,
    pkt_len_variance: variance,
    dominant_pkt_size: 54,
    dominant_pkt_ratio: 2 / 3,
    l7_bytes_fwd: 100,
    l7_bytes_bwd: 0,
    l7_bytes_total: 100,
    l7_pkt_min_fwd: 100,
    l7_pkt_max_fwd: 100,
    l7_pkt_min_bwd: null, // no non-empty responder payload
    l7_pkt_max_bwd: 0,
    pkt_asymmetry: 1 / 3,
    byte_asymmetry: (208 - 54) / 262,
    // tcp
    tcp_is_tcp: true,
    tcp_syn_count: 1,
    tcp_synack_count: 1,
    tcp_fin_count: 0,
    tcp_rst_count: 0,
    tcp_ack_count: 2,
    tcp_psh_count: 1,
    tcp_urg_count: 0,
    tcp_ece_count: 0,
    tcp_cwr_count: 0,
    tcp_complete_handshake: true,
    tcp_graceful_close: false,
    tcp_reset_close: false,
    tcp_syn_ratio: 2 / 3,
    tcp_fin_ratio: 0,
    tcp_rst_ratio: 0,
    tcp_psh_ratio: 1 / 3,
    tcp_data_packets: 1,
    tcp_ack_only_packets: 0,
    tcp_flags_anomaly: false,
    tcp_initiator_syn: true,
    tcp_responder_synack: true,
    tcp_fstat: 1 | 2 | 4 | 64, // SYN, SYN-ACK, ACK after the handshake, data
    tcp_flags_agg: F.SYN | F.ACK | F.PSH,
    tcp_flags_fwd: F.SYN | F.ACK | F.PSH,
    tcp_flags_bwd: F.SYN | F.ACK,
  });
});

Deno.test("TCP close: FIN both ways, pure ACKs, RST; flag counts, flow_stat and tcp_fstat bits", async () => {
  const recs = await flows([
    { ts: 1, data: ethernet(ipv4(A, B, 6, tcp(40000, 443, F.ACK | F.PSH, new Uint8Array(10)))) },
    { ts: 2, data: ethernet(ipv4(B, A, 6, tcp(443, 40000, F.ACK))) },
    { ts: 3, data: ethernet(ipv4(A, B, 6, tcp(40000, 443, F.FIN | F.ACK))) },
    { ts: 4, data: ethernet(ipv4(B, A, 6, tcp(443, 40000, F.FIN | F.ACK))) },
    { ts: 5, data: ethernet(ipv4(A, B, 6, tcp(40000, 443, F.ACK))) },
    { ts: 6, data: ethernet(ipv4(B, A, 6, tcp(443, 40000, F.RST))) },
  ]);
  assert.equal(recs.length, 1);
  assertFields(recs[0], {
    total_packets: 6,
    flow_stat: 4 | 8 | 16, // FIN from initiator, FIN from responder, RST; no handshake, so no proper termination
    tcp_syn_count: 0,
    tcp_synack_count: 0,
    tcp_fin_count: 2,
    tcp_rst_count: 1,
    tcp_ack_count: 5,
    tcp_psh_count: 1,
    tcp_complete_handshake: false,
    tcp_graceful_close: true,
    tcp_reset_close: true,
    tcp_fin_ratio: 2 / 6,
    tcp_rst_ratio: 1 / 6,
    tcp_data_packets: 1,
    tcp_ack_only_packets: 2,
    tcp_flags_anomaly: false,
    tcp_initiator_syn: false,
    tcp_responder_synack: false,
    tcp_fstat: 4 | 8 | 16 | 32 | 64, // ACK beyond the handshake (none seen), FIN fwd, FIN bwd, RST, data
    tcp_flags_agg: F.ACK | F.PSH | F.FIN | F.RST,
    tcp_flags_fwd: F.ACK | F.PSH | F.FIN,
    tcp_flags_bwd: F.ACK | F.FIN | F.RST,
    // gaps of 1 s, each at least 50 ms: six one-packet bursts and five idle periods between them
    burst_count: 6,
    avg_burst_packets: 1,
    avg_burst_duration: 0,
    max_burst_packets: 1,
    idle_count: 5,
    avg_idle_duration: 1,
    max_idle_duration: 1,
    first_response_time: 1,
  });
});

Deno.test("flow_stat bit 6 (proper termination) needs the handshake, then FIN both ways or a RST", async () => {
  const tcpFlow = (port: number, steps: [0 | 1, number][]) =>
    steps.map(([dir, fl], i) => ({
      ts: 1 + i / 10,
      data: dir === 0
        ? ethernet(ipv4(A, B, 6, tcp(port, 443, fl)))
        : ethernet(ipv4(B, A, 6, tcp(443, port, fl))),
    }));
  const recs = await flows([
    // handshake then RST: 0x53
    ...tcpFlow(41000, [[0, F.SYN], [1, F.SYN | F.ACK], [0, F.ACK], [1, F.RST]]),
    // refused (seed 004's 0x11): SYN, then RST with ACK
    ...tcpFlow(41001, [[0, F.SYN], [1, F.RST | F.ACK]]),
    // handshake then FIN both ways: 0x4F
    ...tcpFlow(41002, [[0, F.SYN], [1, F.SYN | F.ACK], [0, F.FIN | F.ACK], [1, F.FIN | F.ACK], [0, F.ACK]]),
    // handshake, one FIN only: no bit 6
    ...tcpFlow(41003, [[0, F.SYN], [1, F.SYN | F.ACK], [0, F.FIN | F.ACK]]),
  ].sort((x, y) => x.ts - y.ts));
  const stat = new Map(recs.map((r) => [r.src_port, [r.flow_stat, r.tcp_fstat]]));
  assert.deepEqual(stat.get(41000), [0x53, 1 | 2 | 4 | 32]);
  assert.deepEqual(stat.get(41001), [0x11, 1 | 4 | 32]);
  assert.deepEqual(stat.get(41002), [0x4f, 1 | 2 | 4 | 8 | 16]);
  assert.deepEqual(stat.get(41003), [0x07, 1 | 2 | 4 | 8]);
});

Deno.test("anomalous TCP flags: SYN+FIN, null, XMAS and bare FIN packets set tcp_flags_anomaly and tcp_fstat bit 7", async () => {
  for (const fl of [F.SYN | F.FIN, 0, F.FIN | F.PSH | F.URG, F.SYN | F.RST, F.FIN]) {
    const [r] = await flows([{ ts: 1, data: ethernet(ipv4(A, B, 6, tcp(1, 2, fl))) }]);
    assert.equal(r.tcp_flags_anomaly, true, `flags 0x${fl.toString(16)}`);
    assert.equal((r.tcp_fstat as number) & 128, 128);
  }
  // A FIN with ACK closes a connection: no anomaly.
  const [fin] = await flows([{ ts: 1, data: ethernet(ipv4(A, B, 6, tcp(1, 2, F.FIN | F.ACK))) }]);
  assert.equal(fin.tcp_flags_anomaly, false);
});

Deno.test("tcp_fstat bits 0 and 1 are the initiator's SYN and the responder's SYN-ACK (JoyfulJay's code)", async () => {
  // A capture that starts at the SYN-ACK: its sender is the initiator, so neither bit.
  const recs = await flows([
    { ts: 1, data: ethernet(ipv4(B, A, 6, tcp(443, 41000, F.SYN | F.ACK))) },
    { ts: 1.1, data: ethernet(ipv4(A, B, 6, tcp(41000, 443, F.ACK))) },
  ]);
  assert.equal((recs[0].tcp_fstat as number) & 3, 0);
  assert.deepEqual([recs[0].tcp_initiator_syn, recs[0].tcp_responder_synack], [false, false]);
});

Deno.test("a one-packet flow: nulls where a value is undefined, never NaN", async () => {
  const [r] = await flows([{ ts: 5, data: ethernet(ipv4(A, B, 17, udp(5353, 53, new Uint8Array(18)))) }]);
  assertFields(r, {
    total_packets: 1,
    total_bytes: 60,
    duration: 0,
    packets_ratio: null,
    bytes_ratio: null,
    packets_per_second: null,
    bytes_per_second: null,
    avg_packet_size: 60,
    payload_bytes_fwd: 18,
    iat_min: null,
    iat_max: null,
    iat_mean: null,
    iat_std: null,
    iat_median: null,
    iat_sum: null,
    iat_p25: null,
    iat_p99: null,
    iat_fwd_mean: null,
    iat_bwd_mean: null,
    burstiness_index: null,
    burstiness_index_fwd: null,
    burstiness_index_bwd: null,
    burst_count: 0,
    avg_burst_packets: null,
    avg_burst_duration: null,
    max_burst_packets: 0,
    idle_count: 0,
    avg_idle_duration: null,
    max_idle_duration: null,
    first_response_time: null,
    pkt_len_min: 60,
    pkt_len_max: 60,
    pkt_len_mean: 60,
    pkt_len_std: 0,
    pkt_len_median: 60,
    pkt_len_p90: 60,
    pkt_len_variance: 0,
    pkt_len_bwd_min: null,
    pkt_len_bwd_mean: null,
    pkt_len_bwd_std: null,
    pkt_len_bwd_median: null,
    payload_len_bwd_mean: null,
    payload_len_bwd_std: null,
    l7_pkt_min_bwd: null,
    l7_pkt_max_bwd: null,
    dominant_pkt_size: 60,
    dominant_pkt_ratio: 1,
    header_only_ratio: 0,
    pkt_asymmetry: 1,
    byte_asymmetry: 1,
    flow_stat: 0,
    hdr_desc: "ETH-IP-UDP",
    dst_port_class: "well_known",
    tcp_is_tcp: false,
  });
  for (const e of allExtractors().filter((g) => g.name === "tcp")) {
    for (const f of e.features) if (f.name !== "tcp_is_tcp") assert.equal(r[f.name], null, f.name);
  }
});

Deno.test("a one-direction flow: backward features null, forward gaps computed", async () => {
  const pkts = [0, 0.5, 2].map((dt) => ({
    ts: 100 + dt,
    data: ethernet(ipv4(A, B, 17, udp(50000, 50001, new Uint8Array(10)))),
  }));
  const [r] = await flows(pkts);
  assertFields(r, {
    packets_fwd: 3,
    packets_bwd: 0,
    bytes_bwd: 0,
    dst_port_class: "dynamic",
    dst_port_class_num: 2,
    packets_ratio: null,
    bytes_ratio: null,
    iat_fwd_min: 0.5,
    iat_fwd_max: 1.5,
    iat_fwd_mean: 1,
    iat_fwd_std: 0.5,
    iat_fwd_median: 1,
    iat_bwd_min: null,
    iat_bwd_std: null,
    first_response_time: null,
    idle_count: 2, // the 0.5 s and 1.5 s gaps (both at least 50 ms)
    avg_idle_duration: 1,
    max_idle_duration: 1.5,
    burst_count: 3, // each packet alone
    max_burst_packets: 1,
    pkt_len_bwd_max: null,
    payload_len_bwd_mean: null,
    packets_with_payload_bwd: 0,
    l7_bytes_bwd: 0,
    pkt_asymmetry: 1,
  });
});

Deno.test("an IPv6-only flow: RFC 5952 addresses, IPv6 header and payload lengths", async () => {
  const s = "2001:db8:0:0:0:0:0:1", d = "2001:db8:0:0:1:0:0:1";
  const recs = await flows([
    { ts: 1, data: ethernet(ipv6(s, d, 17, udp(40000, 53, new Uint8Array(30)))) },
    { ts: 1.25, data: ethernet(ipv6(d, s, 17, udp(53, 40000, new Uint8Array(70)))) },
  ]);
  assert.equal(recs.length, 1);
  assertFields(recs[0], {
    src_ip: "2001:db8::1",
    dst_ip: "2001:db8::1:0:0:1",
    ip_version_flow: 6,
    hdr_desc: "ETH-IP6-UDP",
    total_bytes: 14 + 40 + 8 + 30 + 14 + 40 + 8 + 70,
    payload_bytes_fwd: 30,
    payload_bytes_bwd: 70,
    first_response_time: 0.25,
    iat_mean: 0.25,
    tcp_is_tcp: false,
  });
});

Deno.test("an ICMP-only flow: echo request and reply, ports 0, no TCP features", async () => {
  const recs = await flows([
    { ts: 1, data: ethernet(ipv4(A, B, 1, icmpEcho(8, 7, 1, new Uint8Array(56)))) },
    { ts: 1.002, data: ethernet(ipv4(B, A, 1, icmpEcho(0, 7, 1, new Uint8Array(56)))) },
  ]);
  assert.equal(recs.length, 1);
  assertFields(recs[0], {
    protocol: 1,
    src_ip: A,
    src_port: 0,
    dst_port: 0,
    packets_fwd: 1,
    packets_bwd: 1,
    total_bytes: 2 * 98,
    payload_bytes_fwd: 56,
    payload_bytes_bwd: 56,
    hdr_desc: "ETH-IP-ICMP",
    flow_stat: 0,
    tcp_is_tcp: false,
    tcp_syn_count: null,
    tcp_fstat: null,
  });
});

Deno.test("payload lengths follow the IP header, not Ethernet padding; wire length counts the padding", async () => {
  // A 54-byte TCP ACK padded to the 60-byte Ethernet minimum.
  const frame = new Uint8Array(60);
  frame.set(ethernet(ipv4(A, B, 6, tcp(1000, 2000, F.ACK))));
  const [r] = await flows([{ ts: 1, data: frame }]);
  assertFields(r, { total_bytes: 60, payload_bytes_fwd: 0, tcp_ack_only_packets: 1, tcp_data_packets: 0 });
});

Deno.test("burst threshold and quantiles on a longer flow (numpy linear interpolation)", async () => {
  // Gaps: 0.01, 0.02, 0.2, 0.01, 1.5 (seconds); bursts: {p0,p1,p2}, {p3,p4} and {p5}, split by the idle
  // periods 0.2 and 1.5.
  const times = [0, 0.01, 0.03, 0.23, 0.24, 1.74];
  const pkts = times.map((t) => ({
    ts: 50 + t,
    data: ethernet(ipv4(A, B, 17, udp(1000, 2000, new Uint8Array(4)))),
  }));
  const [r] = await flows(pkts);
  // sorted gaps: 0.01 0.01 0.02 0.2 1.5
  assertFields(r, {
    iat_median: 0.02,
    iat_p25: 0.01,
    iat_p75: 0.2,
    iat_p90: 0.2 + 0.6 * 1.3, // pos 3.6
    iat_p99: 0.2 + 0.96 * 1.3, // pos 3.96
    burst_count: 3,
    avg_burst_packets: 2,
    avg_burst_duration: (0.03 + 0.01 + 0) / 3,
    max_burst_packets: 3,
    idle_count: 2,
    avg_idle_duration: (0.2 + 1.5) / 2,
    max_idle_duration: 1.5,
  });
  // With a 5 ms threshold every gap is an idle period: each packet is a burst of its own.
  const { records } = await collect(byteStream(pcapFile(1, pkts)), {
    features: ["timing"],
    burstThresholdMs: 5,
  });
  assert.equal(records[0].burst_count, 6);
  assert.equal(records[0].max_burst_packets, 1);
  assert.equal(records[0].idle_count, 5);
  await collect(byteStream(pcapFile(1, pkts)), { features: ["timing"], burstThresholdMs: 50 });
});

Deno.test({
  name:
    "long flows: timing and size quantiles from the per-flow log equal per-packet samples, past both capacities",
  fn: async () => {
    // timing and size log each flow's first 4096 packets and switch to per-packet samples after (timing: 4096
    // values, then a reservoir; size: counts). The oracle feeds them packet by packet, as the groups did before
    // the log; the
    // lengths cross the log's capacity, the samples' and the reservoir's. Times repeat (zero gaps), and one
    // flow starts at time 0 with a responder packet at 0 (the log tells a negated 0 by its sign bit).
    let seed = 7;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
    for (const [n, start] of [[3, 0], [4096, 100], [4097, 100], [4098, 0], [9000, 100]]) {
      const pkts: { ts: number; data: Uint8Array }[] = [];
      const oracle = {
        all: new BoundedSample(),
        fwd: new BoundedSample(),
        bwd: new BoundedSample(),
        // Lengths are counted, exactly while they take at most 2048 values (they take fewer here).
        len: new IntegerCounts(),
        lenFwd: new IntegerCounts(),
        lenBwd: new IntegerCounts(),
      };
      let sec = start, usec = 0, last = -1;
      const lastDir = [-1, -1];
      for (let i = 0; i < n; i++) {
        const zeroResponder = n === 3 && i === 1;
        if (i > 0 && !zeroResponder && rnd() < 0.8) {
          usec += Math.floor(rnd() * 300_000);
          sec += Math.floor(usec / 1e6);
          usec %= 1e6;
        }
        const ts = sec + usec / 1e6;
        // Gaps are exact: of nanosecond times, as the groups take them.
        const ns = sec * 1e9 + usec * 1000;
        const dir = i === 0 ? 0 : n === 3 || rnd() < 0.5 ? 1 : 0;
        const payload = new Uint8Array(Math.floor(rnd() * 40));
        const data = dir === 0
          ? ethernet(ipv4(A, B, 17, udp(1000, 2000, payload)))
          : ethernet(ipv4(B, A, 17, udp(2000, 1000, payload)));
        pkts.push({ ts, data });
        if (last >= 0) oracle.all.add((ns - last) / 1e9);
        last = ns;
        if (lastDir[dir] >= 0) (dir === 0 ? oracle.fwd : oracle.bwd).add((ns - lastDir[dir]) / 1e9);
        lastDir[dir] = ns;
        oracle.len.add(data.length);
        (dir === 0 ? oracle.lenFwd : oracle.lenBwd).add(data.length);
      }
      if (n === 3) assert.deepEqual([pkts[1].ts, lastDir[1] >= 0], [0, true], "a responder packet at time 0");
      const [r, ...rest] = await flows(pkts, ["timing", "size"]);
      assert.equal(rest.length, 0);
      assert.equal(r.total_packets, n);
      const mode = oracle.len.mode();
      const want: Record<string, unknown> = {
        iat_median: oracle.all.quantile(0.5),
        iat_p25: oracle.all.quantile(0.25),
        iat_p75: oracle.all.quantile(0.75),
        iat_p90: oracle.all.quantile(0.9),
        iat_p99: oracle.all.quantile(0.99),
        iat_fwd_median: oracle.fwd.quantile(0.5),
        iat_bwd_median: oracle.bwd.quantile(0.5),
        pkt_len_median: oracle.len.quantile(0.5),
        pkt_len_p25: oracle.len.quantile(0.25),
        pkt_len_p75: oracle.len.quantile(0.75),
        pkt_len_p90: oracle.len.quantile(0.9),
        pkt_len_fwd_median: oracle.lenFwd.quantile(0.5),
        pkt_len_bwd_median: oracle.lenBwd.quantile(0.5),
        dominant_pkt_size: mode?.value,
        dominant_pkt_ratio: mode?.ratio,
      };
      for (const [k, v] of Object.entries(want)) assert.equal(r[k], v, `${k} of a ${n}-packet flow`);
      if (n > 4097) assert.ok(!oracle.all.exact, "the oracle's sample is a reservoir");
      for (const o of Object.values(oracle)) o.release();
    }
  },
});

Deno.test("burstThresholdMs and entropySampleBytes belong to their own extraction, even two running at once", async () => {
  const times = [0, 0.01, 0.03];
  const pkts = times.map((t) => ({
    ts: 50 + t,
    data: ethernet(ipv4(A, B, 17, udp(1000, 2000, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])))),
  }));
  const run = (o: Record<string, number>) =>
    collect(byteStream(pcapFile(1, pkts)), { features: ["timing", "padding", "entropy"], ...o });
  // Started together: each flow's groups are created while the other extraction is also running.
  const [fine, coarse, plain] = await Promise.all([
    run({ burstThresholdMs: 5, entropySampleBytes: 2 }),
    run({ burstThresholdMs: 500 }),
    run({}),
  ]);
  // Gaps of 10 and 20 ms: three one-packet bursts with 5 ms; one burst of 3 packets with 500 ms and with the
  // 50 ms default.
  assert.equal(fine.records[0].burst_count, 3);
  assert.equal(coarse.records[0].burst_count, 1);
  assert.equal(
    plain.records[0].burst_count,
    1,
    "the default threshold (50 ms) applies when the option is absent",
  );
  assert.equal(coarse.records[0].max_burst_packets, 3);
  // Entropy over a 2-byte sample (bytes 1, 2: 1 bit) versus the default 256 (8 distinct bytes x 3: 3 bits).
  assert.equal(fine.records[0].entropy_initiator, 1);
  assert.equal(plain.records[0].entropy_initiator, 3);
});
