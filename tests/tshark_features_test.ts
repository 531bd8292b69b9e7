/**
 * Whole-corpus differential test of the foundation groups (`flow_meta`, `timing`, `size`, `tcp`) against an
 * independent reader: tshark dissects every corpus capture once (`-T fields`), this file rebuilds the flows
 * from its per-frame fields (bidirectional 5-tuple, initiator = sender of the first packet in file order, the
 * 60 s idle / 1800 s active timeouts: a flow ends when the capture's latest timestamp, or its own next packet,
 * passes its deadline) and recomputes each feature from the definitions in `reference/joyfuljay-columns.txt`,
 * seeds/004 and docs/features.md. Integers must be equal; floats agree to 1e-9 relative (1e-9 absolute near 0).
 * The frame parser, the flow model and the exclusion rules are tests/tshark_flows.ts (shared with the other
 * tshark differential tests).
 *
 * What is left out, and counted:
 * - captures tshark cannot read to the end (it exits non-zero);
 * - flows whose 5-tuple (inner or outer) appears in a frame with more than one IP layer: tunnels are
 *   decapsulated by jj and by tshark, but not always the same ones, so such flows are not attributable;
 * - flows with a frame whose headers tshark could not fully read (no IP length, a TCP header shorter than 20
 *   bytes or cut off by the capture or by the IP length, where tshark reads flags past the IP datagram and jj
 *   none; an IPv4 total length below the header length or an IPv6 payload length of 0: TSO or jumbograms,
 *   where jj falls back to the captured length);
 * - quantiles (medians, percentiles) of flows longer than jj's exact capacity (4096 values): of
 *   inter-arrival times, and of packet lengths when they take more than 2048 different values (else counted
 *   exactly at any length).
 *
 * Mismatches that are known jj bugs are listed in `KNOWN_BUGS` (to be emptied once fixed).
 *
 * @module
 */
import { CAPTURES, flowsByKey, HAVE_CAPTURES, HAVE_TSHARK } from "./helpers.ts";
import {
  addCount,
  assertNoNewMismatches,
  assertNotVacuous,
  captureNames,
  columnsOf,
  countExclusions,
  countsText,
  fieldReader,
  FLOW_FIELDS,
  type FlowFrame,
  type ModelFlow,
  modelFlows,
  pairFlows,
  parseFlowFrame,
  pool,
  sameValue,
  secondsBetween,
  sum,
  triage,
  tsharkRowsOf,
} from "./tshark_flows.ts";

/**
 * Known jj bugs, to be emptied once fixed (the test fails on an entry that no longer mismatches):
 * `capture|key|index|feature` for a value, `capture|key|flows` for a 5-tuple split into a different number of
 * flows.
 *
 * ipsec_isakmp_esp.pcap is two captures merged: at frame 287 time jumps back 19 hours and never again reaches
 * the maximum, so the table-wide expiry (which runs when time moves forward) never fires again; a flow's own
 * packet past its idle deadline must still end the flow (fixed in `FlowTable.add`; the list is empty and the
 * test fails if an entry is added back without a reason).
 */
const KNOWN_BUGS: ReadonlySet<string> = new Set<string>([]);

const GROUPS = ["flow_meta", "timing", "size", "tcp"];
const BURST_THRESHOLD = 0.05;
/** jj's quantiles of times are exact up to this many values (lib/stats.ts DEFAULT_SAMPLE_CAPACITY). */
const SAMPLE_CAPACITY = 4096;
const PARALLEL = 4;

const COL = columnsOf(FLOW_FIELDS);

/** One frame as this model reads it (tests/tshark_flows.ts). */
function parseFrame(row: string[]): FlowFrame {
  return parseFlowFrame(fieldReader(row, COL)).frame;
}

// ---------------------------------------------------------------------------------------------------------
// the model's flows and features

/** A packet of a flow: time, wire length, transport payload length, direction, TCP flags (-1: none). */
interface Pkt {
  ts: number;
  /** The time in exact nanoseconds: gaps and durations are exact, as tshark's `frame.time_delta`. */
  ns: bigint;
  len: number;
  pay: number;
  dir: 0 | 1;
  flags: number;
}

const pktOf = (fr: FlowFrame, dir: 0 | 1): Pkt => ({
  ts: fr.ts,
  ns: fr.ns,
  len: fr.len,
  pay: fr.pay,
  dir,
  flags: fr.flags,
});

type Value = number | string | boolean | null;

function mean(a: number[]): number | null {
  return a.length ? sum(a) / a.length : null;
}
/** Population standard deviation (numpy's `std`), two-pass. */
function std(a: number[]): number | null {
  if (!a.length) return null;
  const m = sum(a) / a.length;
  let s = 0;
  for (const x of a) s += (x - m) * (x - m);
  return Math.sqrt(s / a.length);
}
function min(a: number[]): number | null {
  return a.length ? a.reduce((x, y) => (y < x ? y : x)) : null;
}
function max(a: number[]): number | null {
  return a.length ? a.reduce((x, y) => (y > x ? y : x)) : null;
}
/** numpy.quantile, method "linear" (numpy's lerp: from the nearer end). */
function quantile(a: number[], q: number): number | null {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos), hi = Math.min(lo + 1, s.length - 1);
  const t = pos - lo, d = s[hi] - s[lo];
  return t >= 0.5 ? s[hi] - d * (1 - t) : s[lo] + d * t;
}
function ratioOf(a: number, b: number): number | null {
  return b !== 0 ? a / b : null;
}

/**
 * Feature values of a flow, by column name; quantile columns of samples longer than jj's exact capacity are
 * left out (and counted by `skipped`).
 */
function features(fl: ModelFlow<Pkt>, skipped: (col: string) => void): Map<string, Value> {
  const out = new Map<string, Value>();
  const p = fl.pkts;
  const fwd = p.filter((x) => x.dir === 0), bwd = p.filter((x) => x.dir === 1);
  const q = (name: string, a: number[], qq: number) => {
    if (a.length <= SAMPLE_CAPACITY) out.set(name, quantile(a, qq));
    else skipped(name);
  };
  // Lengths are counted exactly unless a long flow's take more than 2048 different values (IntegerCounts).
  const exact = (name: string, a: number[], qq: number) => {
    if (a.length <= SAMPLE_CAPACITY || new Set(a).size <= 2048) out.set(name, quantile(a, qq));
    else skipped(name);
  };
  out.set("src_ip", fl.src);
  out.set("src_port", fl.sport);
  out.set("protocol", fl.proto);
  // flow_meta
  out.set("total_packets", p.length);
  out.set("packets_fwd", fwd.length);
  out.set("packets_bwd", bwd.length);
  out.set("total_bytes", sum(p.map((x) => x.len)));
  out.set("bytes_fwd", sum(fwd.map((x) => x.len)));
  out.set("bytes_bwd", sum(bwd.map((x) => x.len)));
  out.set("payload_bytes_fwd", sum(fwd.map((x) => x.pay)));
  out.set("payload_bytes_bwd", sum(bwd.map((x) => x.pay)));
  out.set("payload_bytes_total", sum(p.map((x) => x.pay)));
  out.set("start_time", p[0].ts);
  out.set("end_time", max(p.map((x) => x.ts)));
  out.set("duration", secondsBetween(p[p.length - 1].ns, p[0].ns));
  // timing: gaps between consecutive packets in capture order
  const gaps: number[] = [];
  for (let i = 1; i < p.length; i++) gaps.push(secondsBetween(p[i].ns, p[i - 1].ns));
  const dirGaps = (a: typeof p) => a.slice(1).map((x, i) => secondsBetween(x.ns, a[i].ns));
  const gf = dirGaps(fwd), gb = dirGaps(bwd);
  out.set("iat_min", min(gaps));
  out.set("iat_max", max(gaps));
  out.set("iat_mean", mean(gaps));
  out.set("iat_std", std(gaps));
  out.set("iat_sum", gaps.length ? secondsBetween(p[p.length - 1].ns, p[0].ns) : null);
  q("iat_median", gaps, 0.5);
  q("iat_p25", gaps, 0.25);
  q("iat_p75", gaps, 0.75);
  q("iat_p90", gaps, 0.9);
  q("iat_p99", gaps, 0.99);
  for (const [d, g] of [["fwd", gf], ["bwd", gb]] as const) {
    out.set(`iat_${d}_min`, min(g));
    out.set(`iat_${d}_max`, max(g));
    out.set(`iat_${d}_mean`, mean(g));
    out.set(`iat_${d}_std`, std(g));
    q(`iat_${d}_median`, g, 0.5);
  }
  out.set("burstiness_index", gaps.length ? ratioOf(std(gaps)!, mean(gaps)!) : null);
  // Bursts: the maximal runs of packets whose gaps are all below the threshold, one packet or more (JoyfulJay's
  // definition); a one-packet flow has none. The gaps between them are the idle periods. Gaps are exact: one of
  // the threshold ends a burst (the corpus has gaps of exactly 50 ms).
  const idleGap = (g: number) => g >= BURST_THRESHOLD;
  const bursts: { n: number; dur: number }[] = [];
  let runStart = 0;
  for (let i = 1; i <= p.length && p.length >= 2; i++) {
    if (i === p.length || idleGap(gaps[i - 1])) {
      bursts.push({ n: i - runStart, dur: secondsBetween(p[i - 1].ns, p[runStart].ns) });
      runStart = i;
    }
  }
  out.set("burst_count", bursts.length);
  out.set("avg_burst_packets", bursts.length ? mean(bursts.map((b) => b.n)) : null);
  out.set("max_burst_packets", bursts.length ? max(bursts.map((b) => b.n)) : 0);
  out.set("avg_burst_duration", bursts.length ? mean(bursts.map((b) => b.dur)) : null);
  const idle = gaps.filter(idleGap);
  out.set("idle_count", idle.length);
  out.set("avg_idle_duration", mean(idle));
  out.set("max_idle_duration", max(idle));
  out.set("first_response_time", bwd.length ? secondsBetween(bwd[0].ns, p[0].ns) : null);
  // size
  const len = p.map((x) => x.len), lf = fwd.map((x) => x.len), lb = bwd.map((x) => x.len);
  out.set("pkt_len_min", min(len));
  out.set("pkt_len_max", max(len));
  out.set("pkt_len_mean", mean(len));
  out.set("pkt_len_std", std(len));
  exact("pkt_len_median", len, 0.5);
  exact("pkt_len_p25", len, 0.25);
  exact("pkt_len_p75", len, 0.75);
  exact("pkt_len_p90", len, 0.9);
  for (const [d, a] of [["fwd", lf], ["bwd", lb]] as const) {
    out.set(`pkt_len_${d}_min`, min(a));
    out.set(`pkt_len_${d}_max`, max(a));
    out.set(`pkt_len_${d}_mean`, mean(a));
    out.set(`pkt_len_${d}_std`, std(a));
    exact(`pkt_len_${d}_median`, a, 0.5);
  }
  const pay = p.map((x) => x.pay), pf = fwd.map((x) => x.pay), pb = bwd.map((x) => x.pay);
  out.set("payload_len_min", min(pay));
  out.set("payload_len_max", max(pay));
  out.set("payload_len_mean", mean(pay));
  out.set("payload_len_std", std(pay));
  out.set("payload_len_fwd_mean", mean(pf));
  out.set("payload_len_fwd_std", std(pf));
  out.set("payload_len_bwd_mean", mean(pb));
  out.set("payload_len_bwd_std", std(pb));
  const wf = pf.filter((x) => x > 0), wb = pb.filter((x) => x > 0);
  out.set("packets_with_payload", wf.length + wb.length);
  out.set("packets_with_payload_fwd", wf.length);
  out.set("packets_with_payload_bwd", wb.length);
  out.set("header_only_ratio", (p.length - wf.length - wb.length) / p.length);
  out.set("l7_pkt_min_fwd", min(wf));
  out.set("l7_pkt_max_fwd", max(pf));
  out.set("l7_pkt_min_bwd", min(wb));
  out.set("l7_pkt_max_bwd", max(pb));
  const counts = new Map<number, number>();
  for (const x of len) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = Infinity, bestN = 0;
  for (const [v, n] of counts) if (n > bestN || (n === bestN && v < best)) [best, bestN] = [v, n];
  if (len.length > SAMPLE_CAPACITY && counts.size > 2048) skipped("dominant_pkt_size");
  else out.set("dominant_pkt_size", best);
  // tcp: packets with a complete TCP header
  if (fl.proto === 6) {
    const t = p.filter((x) => x.flags >= 0);
    const count = (pred: (fl: number) => boolean) => t.filter((x) => pred(x.flags)).length;
    out.set("tcp_syn_count", count((x) => (x & 0x12) === 0x02));
    out.set("tcp_synack_count", count((x) => (x & 0x12) === 0x12));
    out.set("tcp_fin_count", count((x) => (x & 0x01) !== 0));
    out.set("tcp_rst_count", count((x) => (x & 0x04) !== 0));
    out.set("tcp_psh_count", count((x) => (x & 0x08) !== 0));
    out.set("tcp_ack_count", count((x) => (x & 0x10) !== 0));
    out.set("tcp_urg_count", count((x) => (x & 0x20) !== 0));
    out.set("tcp_ece_count", count((x) => (x & 0x40) !== 0));
    out.set("tcp_cwr_count", count((x) => (x & 0x80) !== 0));
    out.set("tcp_data_packets", t.filter((x) => x.pay > 0).length);
    out.set("tcp_ack_only_packets", t.filter((x) => x.pay === 0 && (x.flags & 0x17) === 0x10).length);
    out.set("tcp_flags_agg", t.reduce((a, x) => a | x.flags, 0));
    out.set("tcp_flags_fwd", t.filter((x) => x.dir === 0).reduce((a, x) => a | x.flags, 0));
    out.set("tcp_flags_bwd", t.filter((x) => x.dir === 1).reduce((a, x) => a | x.flags, 0));
  }
  out.set("tcp_is_tcp", fl.proto === 6);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the test

interface Tally {
  compared: number;
  matched: number;
}

Deno.test({
  name: "tshark differential: flow_meta, timing, size and tcp features of every attributable corpus flow",
  ignore: !HAVE_CAPTURES || !HAVE_TSHARK,
  async fn() {
    const names = captureNames();
    const rowsByCap = await pool(names, PARALLEL, (n) => tsharkRowsOf(`${CAPTURES}/${n}`, FLOW_FIELDS));
    const tally = new Map<string, Tally>();
    const exclusions = new Map<string, number>();
    const skippedQuantiles = new Map<string, number>();
    /** Problems by id (see KNOWN_BUGS). */
    const problems = new Map<string, string>();
    const unreadable: string[] = [];
    let caps = 0, flowsCompared = 0;
    for (let c = 0; c < names.length; c++) {
      const name = names[c], rows = rowsByCap[c];
      if (rows === null) {
        unreadable.push(name);
        continue;
      }
      caps++;
      const { taint, model } = modelFlows(rows.map(parseFrame), pktOf);
      const jj = await flowsByKey(`${CAPTURES}/${name}`, { features: GROUPS });
      countExclusions(exclusions, taint, jj);
      for (const { key, flows, recs } of pairFlows(name, model, jj, taint, problems)) {
        for (let i = 0; i < flows.length; i++) {
          flowsCompared++;
          const want = features(
            flows[i],
            (col) => addCount(skippedQuantiles, col, 1),
          );
          for (const [col, v] of want) {
            const got = recs[i][col];
            const t = tally.get(col) ?? { compared: 0, matched: 0 };
            t.compared++;
            if (sameValue(v, got)) t.matched++;
            else problems.set(`${name}|${key}|${i}|${col}`, `expected ${v}, jj ${got}`);
            tally.set(col, t);
          }
        }
      }
    }
    const triaged = triage(problems, KNOWN_BUGS), { known, unknown } = triaged;
    const lines = [
      `tshark differential: ${caps} captures read (tshark cannot read: ${
        unreadable.join(", ") || "none"
      }), ` +
      `${flowsCompared} flows compared`,
      `excluded flows: ${countsText(exclusions)}`,
      `quantiles left out (sample over ${SAMPLE_CAPACITY}): ${countsText(skippedQuantiles)}`,
      `known jj bugs still present: ${known.length}`,
      ...known.map(([id, what]) => `  ${id}: ${what}`),
      "feature                    matched / compared",
      ...[...tally].map(([col, t]) => `  ${col.padEnd(26)} ${t.matched} / ${t.compared}`),
    ];
    if (unknown.length) lines.push(`${unknown.length} new mismatches:`, ...unknown.slice(0, 100));
    console.log(lines.join("\n"));
    // The comparison is not vacuous: a tshark that rejects its arguments leaves every capture out.
    assertNotVacuous(caps, flowsCompared);
    assertNoNewMismatches(triaged);
  },
});
