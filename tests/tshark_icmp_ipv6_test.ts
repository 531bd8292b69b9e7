/**
 * Whole-corpus differential test of the `icmp` and `ipv6_options` groups against an independent reader:
 * tshark dissects every corpus capture once (`-T fields`), the flows are rebuilt from its per-frame fields
 * with the model of tests/tshark_flows.ts, and every column of the two groups is recomputed from its declared
 * description (extractors/icmp.ts, extractors/ipv6_options.ts):
 *
 * - `icmp` from the first ICMP header after the flow's IP header of each frame of an ICMP (1) or ICMPv6 (58)
 *   flow: `icmp.type` / `icmp.code` and, for echo requests and replies (ICMP 8 / 0, ICMPv6 128 / 129),
 *   `icmp.ident` / `icmp.seq` (big-endian) or `icmpv6.echo.identifier` / `icmpv6.echo.sequence_number`. A
 *   frame counts as an ICMP packet when tshark read its type and code (non-first fragments carry no ICMP
 *   header; a header cut after one byte has no code). An ICMP error's quoted datagram comes after that header
 *   (the flow model's IP layers end at the first ICMP layer), so its fields are never taken for the flow's.
 * - `ipv6_options` from the IP version of each frame's (innermost) IP header and, for IPv6, its `ipv6.flow` and
 *   `ipv6.tclass`. No column of the group depends on the extension headers (they only shift the transport
 *   header, which the flow model reads past).
 *
 * Flows: those of tests/tshark_flows.ts, plus tunnelled ones (more than one IP layer): the flow is the
 * innermost 5-tuple's, compared when jj has as many flows and packets for it as the model (it decapsulated
 * the tunnel as tshark did), the outer 5-tuples are left out. Integers, strings and booleans must be equal;
 * floats agree to 1e-9 relative. Exclusions (counted): the flow model's unreadable headers, the tunnels' outer
 * 5-tuples and tunnels decapsulated differently. Mismatches that are known jj bugs are listed in `KNOWN_BUGS`.
 *
 * The corpus never exercises the groups' bounds (32 flow labels, 64 identifiers or type/code pairs, 4096
 * sequence numbers) nor a flow label changing within a direction: a second test runs the same comparison over
 * a hand-made capture that does (and ties for the dominant type where the larger type comes first, ICMP
 * headers cut short, non-first fragments).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type CapPacket,
  CAPTURES,
  concat,
  ethernet,
  flowsByKey,
  hasCommand,
  HAVE_CAPTURES,
  HAVE_TSHARK,
  icmpEcho,
  ipv4,
  ipv6,
  pcapFile,
  udp,
  withTempDir,
} from "./helpers.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import {
  addCount,
  assertColumnsExercised,
  assertNoNewMismatches,
  assertNotVacuous,
  captureNames,
  columnsOf,
  countExclusions,
  countsText,
  type DirFrame,
  type FieldReader,
  fieldReader,
  FLOW_FIELDS,
  type FlowField,
  type FlowFrame,
  type FrameDetail,
  ipPayloadLength,
  type ModelFlow,
  modelFlows,
  pairFlows,
  parseFlowFrame,
  readLayers,
  sameValue,
  tcpHeader,
  type Triage,
  triage,
  tsharkInt,
  tsharkRowsMerged,
  tsharkRowsOf,
} from "./tshark_flows.ts";
import { icmpExtractor } from "../extractors/icmp.ts";
import { ipv6OptionsExtractor } from "../extractors/ipv6_options.ts";

/**
 * Known jj bugs, to be emptied once fixed (the test fails on an entry that no longer mismatches):
 * `capture|key|index|column` for a value, `capture|key|flows` for a 5-tuple split into a different number of
 * flows.
 */
const KNOWN_BUGS: ReadonlySet<string> = new Set<string>([]);

const GROUPS = ["icmp", "ipv6_options"];
const CHUNKS = 3;
/** Distinct (type, code) pairs and echo identifiers jj remembers per flow (extractors/icmp.ts). */
const MAX_DISTINCT = 64;
/** Echo sequence numbers kept for the gap count. */
const MAX_SEQS = 4096;
/** Distinct flow labels jj remembers per flow (extractors/ipv6_options.ts). */
const MAX_LABELS = 32;

const FIELDS = [
  ...FLOW_FIELDS,
  "icmp.type",
  "icmp.code",
  "icmp.ident",
  "icmp.seq",
  "icmpv6.type",
  "icmpv6.code",
  "icmpv6.echo.identifier",
  "icmpv6.echo.sequence_number",
  "ipv6.flow",
  "ipv6.tclass",
] as const;
type Field = typeof FIELDS[number];
const COL = columnsOf(FIELDS);

// ---------------------------------------------------------------------------------------------------------
// frames

interface Frame extends FlowFrame {
  /** Whether the frame has more than one IP layer (its flow is the innermost 5-tuple's). */
  tunnel: boolean;
  /** IP version of the frame's innermost IP header; 0 without one. */
  ipVersion: number;
  /** IPv6 flow label and traffic class of that header (-1 for IPv4). */
  label: number;
  tc: number;
  /** ICMP / ICMPv6 type and code of the header after it (-1 when not read). */
  icmpType: number;
  icmpCode: number;
  /** Echo identifier and sequence number (-1 unless an echo with both read). */
  icmpId: number;
  icmpSeq: number;
}

/**
 * A tunnelled frame (more than one IP layer): the flow is the innermost 5-tuple's, the outer ones are not
 * attributable; the flow model's rules for unreadable headers apply to the innermost headers.
 */
function tunnelDetail(f: FieldReader<Field>, frame: FlowFrame): FrameDetail | null {
  const fl = readLayers(f as FieldReader<FlowField>), ips = fl.ips;
  const ip = ips[ips.length - 1], inner = fl.keyOf(ip);
  frame.taint = ips.slice(0, -1).map((o) => [fl.keyOf(o).key, "tunnel (outer 5-tuple)"]);
  frame.key = inner.key;
  frame.src = inner.src.toLowerCase();
  frame.sport = inner.sp;
  const bad = (why: string): null => {
    frame.taint.push([inner.key, why]);
    return null;
  };
  const l4 = ipPayloadLength(f as FieldReader<FlowField>, fl, ip, inner);
  if (typeof l4 === "string") return bad(l4);
  if (!l4.fragment && inner.t === "tcp") {
    const tcp = tcpHeader(f as FieldReader<FlowField>, fl.occBefore("tcp", inner.j), l4.l4Len);
    if (typeof tcp === "string") return bad(tcp);
  } else if (!l4.fragment && inner.t !== "udp" && inner.t !== "sctp" && [6, 17, 132].includes(inner.proto)) {
    return bad("transport header not dissected");
  }
  return { fl, inner, fragment: l4.fragment };
}

function parseFrame(row: string[]): Frame {
  const f = fieldReader(row, COL);
  const parsed = parseFlowFrame(f as FieldReader<FlowField>);
  const out: Frame = {
    ...parsed.frame,
    tunnel: false,
    ipVersion: 0,
    label: -1,
    tc: -1,
    icmpType: -1,
    icmpCode: -1,
    icmpId: -1,
    icmpSeq: -1,
  };
  let detail = parsed.detail;
  if (detail === null && parsed.frame.key === null && parsed.frame.taint.length) {
    out.tunnel = true;
    detail = tunnelDetail(f, out);
  }
  if (detail === null) return out;
  const { fl, inner } = detail;
  const ip = fl.ips[fl.ips.length - 1];
  out.ipVersion = ip.fam;
  if (ip.fam === 6) {
    out.label = tsharkInt(f("ipv6.flow")[ip.occ]);
    out.tc = tsharkInt(f("ipv6.tclass")[ip.occ]);
    assert.ok(out.label >= 0 && out.tc >= 0, "an IPv6 header without flow label or traffic class");
  }
  if (detail.fragment) return out;
  if (inner.t === "icmp" || inner.t === "icmpv6") {
    const v6 = inner.t === "icmpv6", pre = v6 ? "icmpv6" : "icmp";
    const o = fl.occBefore(inner.t, inner.j);
    const type = tsharkInt(f(`${pre}.type` as Field)[o]), code = tsharkInt(f(`${pre}.code` as Field)[o]);
    if (type >= 0 && code >= 0) {
      out.icmpType = type;
      out.icmpCode = code;
      const echo = v6 ? type === 128 || type === 129 : type === 0 || type === 8;
      if (echo) {
        // An echo quotes no datagram, and no ICMP header comes before it (the IP layers end at the first
        // one): its identifier and sequence number are the frame's first ones.
        const id = tsharkInt(f(v6 ? "icmpv6.echo.identifier" : "icmp.ident")[0]);
        const seq = tsharkInt(f(v6 ? "icmpv6.echo.sequence_number" : "icmp.seq")[0]);
        if (id >= 0 && seq >= 0) {
          out.icmpId = id;
          out.icmpSeq = seq;
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the columns

type Flow = ModelFlow<DirFrame<Frame>>;
type Value = number | string | boolean | null;

/** The ICMP kind of a type, as the group's description maps ICMPv6 types to ICMP meanings. */
function kind(v6: boolean, type: number): "req" | "rep" | "unreach" | "exceeded" | "redirect" | "other" {
  const [req, rep, unreach, exceeded, redirect] = v6 ? [128, 129, 1, 3, 137] : [8, 0, 3, 11, 5];
  return type === req
    ? "req"
    : type === rep
    ? "rep"
    : type === unreach
    ? "unreach"
    : type === exceeded
    ? "exceeded"
    : type === redirect
    ? "redirect"
    : "other";
}

const STAT_BITS = { req: 1, rep: 2, unreach: 4, exceeded: 8, redirect: 16, other: 32 } as const;

function icmp(fl: Flow, cols: string[], out: Map<string, Value>): void {
  for (const c of cols) out.set(c, null);
  const total = fl.pkts.length;
  const isIcmp = fl.proto === 1 || fl.proto === 58;
  const p = isIcmp ? fl.pkts.filter((x) => x.fr.icmpType >= 0).map((x) => x.fr) : [];
  const v6 = fl.proto === 58;
  const kinds = p.map((x) => kind(v6, x.icmpType));
  const count = (k: string) => kinds.filter((x) => x === k).length;
  const n = p.length, req = count("req"), rep = count("rep");
  out.set("icmp_packet_count", n);
  out.set("icmp_echo_request_count", req);
  out.set("icmp_echo_reply_count", rep);
  out.set("icmp_dest_unreachable_count", count("unreach"));
  out.set("icmp_time_exceeded_count", count("exceeded"));
  out.set("icmp_ratio", total > 0 ? n / total : null);
  out.set("is_icmp_only", total > 0 && n === total);
  if (n === 0) return;
  out.set(
    "icmp_unique_type_codes",
    Math.min(MAX_DISTINCT, new Set(p.map((x) => `${x.icmpType}/${x.icmpCode}`)).size),
  );
  const byType = new Map<number, number>();
  for (const x of p) byType.set(x.icmpType, (byType.get(x.icmpType) ?? 0) + 1);
  const [dom, domCount] = [...byType].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  out.set("icmp_dominant_type", dom);
  out.set("icmp_dominant_type_count", domCount);
  out.set("icmp_echo_success_ratio", req > 0 ? rep / req : null);
  const echoes = p.filter((x) => x.icmpId >= 0);
  out.set("icmp_unique_ids", Math.min(MAX_DISTINCT, new Set(echoes.map((x) => x.icmpId)).size));
  out.set("icmp_stat", [...new Set(kinds)].reduce((a, k) => a | STAT_BITS[k], 0));
  if (echoes.length) {
    const seqs = echoes.map((x) => x.icmpSeq);
    out.set("icmp_seq_min", Math.min(...seqs));
    out.set("icmp_seq_max", Math.max(...seqs));
    const distinct = [...new Set(seqs.slice(0, MAX_SEQS))].sort((a, b) => a - b);
    let gaps = 0;
    for (let i = 1; i < distinct.length; i++) if (distinct[i] - distinct[i - 1] > 1) gaps++;
    out.set("icmp_seq_gaps", gaps);
  }
}

function ipv6Options(fl: Flow, cols: string[], out: Map<string, Value>): void {
  for (const c of cols) out.set(c, null);
  const v6 = fl.pkts.filter((x) => x.fr.ipVersion === 6);
  const nv6 = v6.length, nv4 = fl.pkts.filter((x) => x.fr.ipVersion === 4).length;
  out.set("ipv6_packet_count", nv6);
  out.set("ipv4_packet_count", nv4);
  const labels = Math.min(MAX_LABELS, new Set(v6.map((x) => x.fr.label)).size);
  out.set("ipv6_flow_label_unique_count", labels);
  out.set("ipv6_flow_label_changes", Math.max(0, labels - 1));
  out.set("ipv6_traffic_class_unique_count", new Set(v6.map((x) => x.fr.tc)).size);
  if (nv6 > 0) {
    // The smallest label and traffic class, as JoyfulJay.
    const tc = Math.min(...v6.map((x) => x.fr.tc));
    out.set("ipv6_flow_label", Math.min(...v6.map((x) => x.fr.label)));
    out.set("ipv6_traffic_class", tc);
    out.set("ipv6_dscp", tc >> 2);
    out.set("ipv6_ecn", tc & 3);
  }
  const total = nv6 + nv4;
  out.set("ipv6_ratio", total > 0 ? nv6 / total : null);
  out.set("is_ipv6_only", total > 0 && nv4 === 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------------------
// comparing

interface Tally {
  compared: number;
  nonNull: number;
  matched: number;
}

/** What the comparison of some captures gathers. */
class Acc {
  tally: Map<string, Tally>;
  exclusions = new Map<string, number>();
  problems = new Map<string, string>();
  flows = 0;
  tunnelFlows = 0;
  icmpFlows = 0;
  v6Flows = 0;
  icmpCaps = new Set<string>();
  constructor(readonly icmpCols: string[], readonly v6Cols: string[]) {
    this.tally = new Map([...icmpCols, ...v6Cols].map((c) => [c, { compared: 0, nonNull: 0, matched: 0 }]));
  }

  /** Compares jj's records of capture `name` with the model's flows of its tshark rows. */
  compare(name: string, rows: string[][], jj: Map<string, FlowRecord[]>): void {
    const frames = rows.map(parseFrame);
    const tunnelled = new Set(frames.filter((fr) => fr.tunnel && fr.key !== null).map((fr) => fr.key!));
    const { taint, model } = modelFlows(frames, (fr, dir): DirFrame<Frame> => ({ fr, dir }));
    countExclusions(this.exclusions, taint, jj);
    const decapsulatedElsewhere = (key: string, flows: Flow[], recs: FlowRecord[]): boolean => {
      if (
        !tunnelled.has(key) ||
        (recs.length === flows.length && flows.every((fl, i) => fl.pkts.length === recs[i].total_packets))
      ) return false;
      // jj did not decapsulate this tunnel (or not every packet of it) as tshark did.
      addCount(this.exclusions, "tunnel decapsulated differently (packet counts differ)", flows.length);
      return true;
    };
    for (
      const { key, flows, recs } of pairFlows(name, model, jj, taint, this.problems, decapsulatedElsewhere)
    ) {
      for (let i = 0; i < flows.length; i++) {
        this.flows++;
        if (tunnelled.has(key)) this.tunnelFlows++;
        const want = new Map<string, Value>();
        icmp(flows[i], this.icmpCols, want);
        ipv6Options(flows[i], this.v6Cols, want);
        if ((want.get("icmp_packet_count") as number) > 0) {
          this.icmpFlows++;
          this.icmpCaps.add(name);
        }
        if ((want.get("ipv6_packet_count") as number) > 0) this.v6Flows++;
        for (const [col, t] of this.tally) {
          const v = want.get(col);
          assert.ok(v !== undefined, `the model has no value for ${col}`);
          const got = recs[i][col] ?? null;
          t.compared++;
          if (v !== null) t.nonNull++;
          if (sameValue(v, got)) t.matched++;
          else {this.problems.set(
              `${name}|${key}|${i}|${col}`,
              `expected ${JSON.stringify(v)}, jj ${JSON.stringify(got)}`,
            );}
        }
      }
    }
  }

  /** The report's lines: flows, exclusions, known bugs, the table of columns; then the new mismatches. */
  report(title: string, triaged: Triage): string {
    const lines = [
      `${title}: ${this.flows} flows compared (${this.tunnelFlows} tunnelled, ${this.icmpFlows} with ICMP` +
      ` packets, ${this.v6Flows} IPv6)`,
      `captures with ICMP flows: ${[...this.icmpCaps].join(", ") || "none"}`,
      `excluded flows: ${countsText(this.exclusions)}`,
      `known jj bugs still present: ${triaged.known.length}`,
      ...triaged.known.map(([id, what]) => `  ${id}: ${what}`),
      "column                            matched / compared (expected non-null)",
      ...[...this.tally].map(([col, t]) => `  ${col.padEnd(33)} ${t.matched} / ${t.compared} (${t.nonNull})`),
    ];
    const { unknown } = triaged;
    if (unknown.length) lines.push(`${unknown.length} new mismatches:`, ...unknown.slice(0, 300));
    return lines.join("\n");
  }
}

const NEED_TOOLS = !HAVE_TSHARK || !hasCommand("mergecap") || !hasCommand("capinfos");

Deno.test({
  name: "tshark differential: icmp and ipv6_options of every attributable corpus flow",
  ignore: !HAVE_CAPTURES || NEED_TOOLS,
  async fn() {
    const acc = new Acc(
      icmpExtractor.features.map((s) => s.name),
      ipv6OptionsExtractor.features.map((s) => s.name),
    );
    const names = captureNames();
    const [tshark, jjs] = await Promise.all([
      tsharkRowsMerged(names, FIELDS, { chunks: CHUNKS, tempPrefix: "jj_tshark_icmp_ipv6_" }),
      (async () => {
        const out: Map<string, FlowRecord[]>[] = [];
        for (const n of names) out.push(await flowsByKey(`${CAPTURES}/${n}`, { features: GROUPS }));
        return out;
      })(),
    ]);
    let caps = 0;
    for (let c = 0; c < names.length; c++) {
      const rows = tshark.rows.get(names[c]);
      if (rows === undefined) continue;
      caps++;
      acc.compare(names[c], rows, jjs[c]);
    }
    const triaged = triage(acc.problems, KNOWN_BUGS);
    const unreadable = tshark.unreadable.join(", ") || "none";
    console.log(
      acc.report(
        `tshark icmp / ipv6_options: ${caps} captures read (wiretap cannot read: ${unreadable})`,
        triaged,
      ),
    );
    // The comparison is not vacuous.
    const t = (c: string) => acc.tally.get(c)!.nonNull;
    assert.ok(t("icmp_seq_gaps") > 0 && t("icmp_dominant_type") > 0 && t("ipv6_flow_label") > 0);
    assertNotVacuous(caps, acc.flows);
    assertColumnsExercised(new Map([...acc.tally].map(([c, x]) => [c, x.nonNull])));
    assertNoNewMismatches(triaged);
  },
});

// ---------------------------------------------------------------------------------------------------------
// hand-made edge cases

/** An IPv6 packet with flow label `label` and traffic class `tc`. */
function ip6(
  src: string,
  dst: string,
  next: number,
  payload: Uint8Array,
  label: number,
  tc: number,
): Uint8Array {
  const b = ipv6(src, dst, next, payload);
  b[0] = 0x60 | (tc >> 4);
  b[1] = ((tc & 0xf) << 4) | (label >> 16);
  b[2] = (label >> 8) & 0xff;
  b[3] = label & 0xff;
  return b;
}

/** An ICMP message of `type` / `code` with four bytes of rest-of-header and `extra` bytes after it. */
function icmpMsg(type: number, code: number, extra = 0): Uint8Array {
  return concat([type, code, 0, 0, 0, 0, 0, 0], new Uint8Array(extra));
}

/**
 * A capture past the corpus' reach: more than 32 flow labels and 64 echo identifiers or type/code pairs,
 * labels changing within a direction, more than 4096 echoes with holes before and after the 4096th, ties of
 * the dominant type, every ICMP kind, ICMP headers cut short (1 and 6 bytes), non-first fragments.
 */
function edgeCapture(): Uint8Array {
  const pkts: CapPacket[] = [];
  let ts = 1_700_000_000;
  const add = (data: Uint8Array) => pkts.push({ ts: ts += 0.005, data: ethernet(data) });
  const a6 = "2001:db8::1", b6 = "2001:db8::2", c6 = "2001:db8::3";
  // ICMPv6 echoes: 5000 requests (70 identifiers, sequence numbers with holes), labels changing every third
  // packet (40 of them), traffic classes with every ECN value; as many replies, so types 128 and 129 tie.
  for (let i = 0; i < 5000; i++) {
    const seq = i < 4096 ? (i % 250 === 7 ? i + 3 : i) : i * 2;
    const label = (Math.floor(i / 3) % 40) * 4099 + 1, tc = (0xb9 + (i % 7) * 9) & 0xff;
    add(ip6(a6, b6, 58, icmpEcho(128, i % 70, seq), label, tc));
    add(ip6(b6, a6, 58, icmpEcho(129, i % 70, seq), 77, 0));
  }
  // ICMPv6 errors and others: 70 destination unreachable codes (more than 64 pairs), time exceeded, redirect,
  // router solicitation, one echo cut after 6 bytes and one ICMPv6 header of 1 byte.
  for (let c = 0; c < 70; c++) add(ip6(a6, c6, 58, icmpMsg(1, c), 5, 0));
  for (const t of [3, 3, 137, 133]) add(ip6(c6, a6, 58, icmpMsg(t, 0, 40), 6, 1));
  add(ip6(a6, c6, 58, icmpEcho(128, 9, 9).slice(0, 6), 5, 0));
  add(ip6(a6, c6, 58, new Uint8Array([128]), 5, 0));
  // IPv4: time exceeded, echo requests without replies (types 11 and 8 tie, 11 first), redirect, timestamp
  // (other), a request in two fragments (the second without ICMP header), a header cut after 1 byte.
  const a4 = "10.9.0.1", b4 = "10.9.0.2";
  for (let i = 0; i < 4; i++) add(ipv4(b4, a4, 1, icmpMsg(11, i & 1, 28)));
  for (let i = 0; i < 3; i++) add(ipv4(a4, b4, 1, icmpEcho(8, 300 + i, 40 + 3 * i)));
  add(ipv4(b4, a4, 1, icmpMsg(5, 1, 28)));
  add(ipv4(a4, b4, 1, icmpMsg(13, 0, 12)));
  const big = icmpEcho(8, 7, 100, new Uint8Array(1000));
  add(ipv4(a4, b4, 1, big.slice(0, 512), { id: 77, mf: true }));
  add(ipv4(a4, b4, 1, big.slice(512), { id: 77, fragOffset: 64 }));
  add(ipv4(a4, b4, 1, new Uint8Array([8])));
  // A UDP flow over IPv6 with labels changing in both directions.
  for (let i = 0; i < 10; i++) {
    add(ip6(a6, b6, 17, udp(4000, 53, new Uint8Array(4)), i % 3, 4));
    add(ip6(b6, a6, 17, udp(53, 4000, new Uint8Array(4)), 100 + (i >> 2), 4 + (i & 1)));
  }
  return pcapFile(1, pkts);
}

Deno.test({
  name: "tshark differential: icmp and ipv6_options of hand-made edge cases",
  ignore: NEED_TOOLS,
  async fn() {
    await withTempDir(async (dir) => {
      const file = `${dir}/edge.pcap`;
      Deno.writeFileSync(file, edgeCapture());
      const acc = new Acc(
        icmpExtractor.features.map((s) => s.name),
        ipv6OptionsExtractor.features.map((s) => s.name),
      );
      const rows = await tsharkRowsOf(file, FIELDS);
      assert.ok(rows !== null, "tshark cannot read the hand-made capture");
      acc.compare("edge.pcap", rows, await flowsByKey(file, { features: GROUPS }));
      const triaged = triage(acc.problems, new Set());
      console.log(acc.report("tshark icmp / ipv6_options, hand-made edge cases", triaged));
      assert.equal(acc.flows, 4);
      assertNoNewMismatches(triaged);
    }, "jj_tshark_icmp_ipv6_edge_");
  },
});
