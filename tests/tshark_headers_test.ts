/**
 * Whole-corpus differential test of the packet-header groups (`ip_extended`, `mac`, `tcp_window`,
 * `tcp_options`) against an independent reader: tshark dissects every corpus capture once (`-T fields`), this
 * file rebuilds the flows from its per-frame fields with the model of tests/tshark_flows.ts (bidirectional
 * 5-tuple, initiator = sender of the first packet, 60 s idle / 1800 s active timeouts) and recomputes every
 * column of the four groups from the definitions in docs/features.md (the extractors' declarations) from
 * tshark's header fields: `ip.ttl`, `ip.dsfield`, `ip.id`, `ip.flags`, `ipv6.hlim`, `ipv6.tclass`, `eth.*`,
 * `vlan.*`, `tcp.window_size_value` and the TCP option list (`tcp.option_kind` / `tcp.option_len` with the
 * per-option value fields). Integers, strings and booleans must be equal; floats agree to 1e-9 relative.
 *
 * What is left out, and counted:
 * - captures wiretap cannot read to the end (`capinfos` reports an error; tshark would exit non-zero);
 * - the outer 5-tuples of frames with more than one IP layer (tunnels): the flow is the innermost one's, and
 *   a tunnelled flow is compared only when jj has as many flows and packets for it as the model (jj
 *   decapsulated it as tshark did); its IP columns are the inner header's, its Ethernet ones the outermost
 *   header's (with the innermost VLAN tag, as jj's decoder keeps it);
 * - flows with a frame whose headers tshark could not fully read (as in tshark_features_test.ts: no IP
 *   length, a TCP header shorter than 20 bytes or cut off, TSO / jumbogram lengths), and flows with a TCP
 *   header longer than the IP payload or whose options tshark did not dissect to the end of the header
 *   (snap length, malformed options): the two readers end the option list at different places there.
 *
 * Mismatches that are known jj bugs are listed in `KNOWN_BUGS` (to be emptied once fixed).
 *
 * @module
 */
import assert from "node:assert/strict";
import { CAPTURES, flowsByKey, hasCommand, HAVE_CAPTURES, HAVE_TSHARK } from "./helpers.ts";
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
  fieldReader,
  FLOW_FIELDS,
  ipFragment,
  ipPayloadLength,
  type KeyedFrame,
  type ModelFlow,
  modelFlows,
  pairFlows,
  parseEpoch,
  readLayers,
  sameValue,
  sum,
  TCP_HEADER_CUT,
  tcpHeader,
  triage,
  TSHARK_PREFS,
  tsharkInt,
  tsharkRowsMerged,
} from "./tshark_flows.ts";
import { ipExtendedExtractor } from "../extractors/ip_extended.ts";
import { macExtractor } from "../extractors/mac.ts";
import { tcpOptionsExtractor } from "../extractors/tcp_options.ts";
import { tcpWindowExtractor } from "../extractors/tcp_window.ts";

/**
 * Known jj bugs, to be emptied once fixed (the test fails on an entry that no longer mismatches):
 * `capture|key|index|column` for a value, `capture|key|flows` for a 5-tuple split into a different number of
 * flows.
 */
const KNOWN_BUGS: ReadonlySet<string> = new Set<string>([]);

const GROUPS = ["ip_extended", "mac", "tcp_window", "tcp_options"];
/** Concatenated files dissected in parallel, one tshark each. */
const CHUNKS = 2;
/** Distinct MAC addresses and VLAN ids jj remembers per flow (extractors/mac.ts). */
const MAX_DISTINCT = 32;

const FIELDS = [
  ...FLOW_FIELDS,
  // the headers under test
  "ip.ttl",
  "ip.dsfield",
  "ip.id",
  "ip.flags",
  "ipv6.hlim",
  "ipv6.tclass",
  "eth.src",
  "eth.dst",
  "eth.type",
  "vlan.id",
  "vlan.etype",
  "tcp.window_size_value",
  "tcp.option_kind",
  "tcp.option_len",
  "tcp.options.mss_val",
  "tcp.options.wscale.shift",
  "tcp.options.sack_le",
  "tcp.options.timestamp.tsval",
  "tcp.options.timestamp.tsecr",
] as const;
type Field = typeof FIELDS[number];
const COL = columnsOf(FIELDS);

// ---------------------------------------------------------------------------------------------------------
// tshark

/** tshark's rows for every capture it can read, and the names of the others (tshark_flows.ts). */
function tsharkRowsByCapture(
  names: string[],
): Promise<{ rows: Map<string, string[][]>; unreadable: string[] }> {
  return tsharkRowsMerged(names, FIELDS, {
    chunks: CHUNKS,
    prefs: [...TSHARK_PREFS, "-o", "tcp.analyze_sequence_numbers:FALSE"],
    tempPrefix: "jj_tshark_headers_",
  });
}

/** The TCP options of a segment as the model reads them from tshark's option list. */
interface TcpOpts {
  /** An option other than NOP / end-of-list was read. */
  any: boolean;
  mss: number;
  ws: number;
  sackPermitted: boolean;
  sackBlocks: number;
  tsVal: number;
  tsEcr: number;
  mptcp: boolean;
  fastOpen: boolean;
  other: boolean;
}

/** One frame as this model reads it. */
interface Frame extends KeyedFrame {
  /** The frame has more than one IP layer (the key is the innermost one's). */
  tunnel: boolean;
  /** IP header: version, TTL / hop limit, ToS / traffic class, IPv4 identification and flags (3 bits). */
  ipv: 4 | 6;
  ttl: number;
  tos: number;
  ipId: number;
  ipFlags: number;
  /** Ethernet header (outermost), or null without one. */
  eth: { src: string; dst: string; type: number; vlan: number } | null;
  /** TCP header: flags (-1 without a complete header), window field and options. */
  flags: number;
  win: number;
  hdrLen: number;
  opts: TcpOpts | null;
}

function parseFrame(row: string[]): Frame {
  const f = fieldReader(row, COL);
  const frame: Frame = {
    ts: parseEpoch(f("frame.time_epoch")[0]),
    key: null,
    taint: [],
    tunnel: false,
    src: "",
    sport: 0,
    ipv: 4,
    ttl: -1,
    tos: -1,
    ipId: -1,
    ipFlags: 0,
    eth: null,
    flags: -1,
    win: -1,
    hdrLen: 0,
    opts: null,
  };
  const fl = readLayers(f), { layers, ips, keyOf } = fl;
  if (ips.length === 0) return frame;
  const ip = ips[ips.length - 1];
  const inner = keyOf(ip);
  if (ips.length > 1) {
    // A tunnel: the flow is the innermost 5-tuple's when jj decapsulates it as tshark does (checked by the
    // packet counts); the outer ones are not attributable.
    frame.tunnel = true;
    for (const outer of ips.slice(0, -1)) frame.taint.push([keyOf(outer).key, "tunnel (outer 5-tuple)"]);
  }
  frame.key = inner.key;
  frame.src = inner.src.toLowerCase();
  frame.sport = inner.sp;
  const bad = (why: string) => {
    frame.taint.push([inner.key, why]);
    return frame;
  };
  // The IP header under test.
  frame.ipv = ip.fam;
  if (ip.fam === 4) {
    frame.ttl = tsharkInt(f("ip.ttl")[ip.occ]);
    frame.tos = tsharkInt(f("ip.dsfield")[ip.occ]);
    frame.ipId = tsharkInt(f("ip.id")[ip.occ]);
    frame.ipFlags = tsharkInt(f("ip.flags")[ip.occ]);
  } else {
    frame.ttl = tsharkInt(f("ipv6.hlim")[ip.occ]);
    frame.tos = tsharkInt(f("ipv6.tclass")[ip.occ]);
  }
  if (!(frame.ttl >= 0) || !(frame.tos >= 0) || (ip.fam === 4 && !(frame.ipId >= 0 && frame.ipFlags >= 0))) {
    return bad("unreadable IP header");
  }
  // The link layer: the outermost Ethernet header (before the first IP layer), the EtherType after its VLAN
  // tags, and the innermost VLAN id of the frame (tags of an inner Ethernet header included).
  const ethAt = layers.indexOf("eth");
  if (ethAt >= 0 && ethAt < ips[0].at) {
    const outerTags = layers.slice(ethAt, ips[0].at).filter((l) => l === "vlan").length;
    const tagged = layers.slice(ethAt, ip.at).includes("vlan");
    const type = outerTags ? tsharkInt(f("vlan.etype")[outerTags - 1]) : tsharkInt(f("eth.type")[0]);
    frame.eth = {
      src: (f("eth.src")[0] ?? "").toLowerCase(),
      dst: (f("eth.dst")[0] ?? "").toLowerCase(),
      type,
      vlan: tagged ? tsharkInt(f("vlan.id").at(-1)) : -1,
    };
    if (!frame.eth.src || !frame.eth.dst || !(type >= 0) || (tagged && !(frame.eth.vlan >= 0))) {
      return bad("unreadable Ethernet header");
    }
  }
  // Length of the IP payload after the IP header (and IPv6 extension headers), by the IP header's length.
  const l4 = ipPayloadLength(f, fl, ip, inner);
  if (typeof l4 === "string") return bad(l4);
  const { l4Len, fragment } = l4;
  if (ips.length === 1) frame.fragment = ipFragment(f, ip, inner, fragment);
  if (fragment) return frame; // a non-first fragment: no transport header
  if (inner.t === "tcp") {
    const o = fl.occBefore("tcp", inner.j);
    const tcp = tcpHeader(f, o, l4Len);
    if (typeof tcp === "string") return bad(tcp);
    const win = tsharkInt(f("tcp.window_size_value")[o]), hl = tcp.hl;
    if (!(win >= 0)) return bad(TCP_HEADER_CUT);
    if (hl > l4Len) return bad("TCP header longer than the IP payload");
    frame.flags = tcp.flags;
    frame.win = win;
    frame.hdrLen = hl;
    if (hl > 20) {
      const opts = readOptions(f, hl - 20);
      if (opts === null) return bad("TCP options not dissected to the end of the header");
      frame.opts = opts;
    }
  } else if (inner.proto === 6) {
    return bad("transport header not dissected");
  }
  return frame;
}

/**
 * The options of a TCP header (`room` bytes of them) from tshark's option list, read as the option list is
 * defined (RFC 9293: options up to end-of-list; a kind-length option whose length is below 2 or runs past the
 * header ends the list); null when tshark's list does not account for the whole option space (the capture
 * ends inside the header, or tshark stopped at a malformed option) or its value fields do not line up.
 */
function readOptions(f: (name: Field) => string[], room: number): TcpOpts | null {
  const kinds = f("tcp.option_kind").map(tsharkInt), lens = f("tcp.option_len").map(tsharkInt);
  const mss = f("tcp.options.mss_val").map(tsharkInt), ws = f("tcp.options.wscale.shift").map(tsharkInt);
  const sackLe = f("tcp.options.sack_le").length;
  const tsv = f("tcp.options.timestamp.tsval").map(tsharkInt),
    tse = f("tcp.options.timestamp.tsecr").map(tsharkInt);
  const o: TcpOpts = {
    any: false,
    mss: -1,
    ws: -1,
    sackPermitted: false,
    sackBlocks: 0,
    tsVal: -1,
    tsEcr: -1,
    mptcp: false,
    fastOpen: false,
    other: false,
  };
  let pos = 0, li = 0, mi = 0, wi = 0, ti = 0, sackSeen = 0;
  let ended = false;
  for (const kind of kinds) {
    if (ended) {
      // tshark goes on past end-of-list (the padding); the list ended there.
      if (kind === 0) pos++;
      continue;
    }
    if (kind === 0) {
      ended = true;
      pos++;
      continue;
    }
    if (kind === 1) {
      pos++;
      continue;
    }
    const len = lens[li++];
    if (!(len >= 2) || pos + len > room) return null;
    pos += len;
    o.any = true;
    if (kind === 2 && len === 4) {
      if (!(mss[mi] >= 0)) return null;
      o.mss = mss[mi++];
    } else if (kind === 3 && len === 3) {
      if (!(ws[wi] >= 0)) return null;
      o.ws = ws[wi++];
    } else if (kind === 4 && len === 2) o.sackPermitted = true;
    else if (kind === 5) {
      const n = (len - 2) >> 3;
      o.sackBlocks += n;
      sackSeen += n;
    } else if (kind === 8 && len === 10) {
      if (!(tsv[ti] >= 0) || !(tse[ti] >= 0)) return null;
      o.tsVal = tsv[ti];
      o.tsEcr = tse[ti++];
    } else if (kind === 30 && len >= 3) o.mptcp = true;
    else if (kind === 34) o.fastOpen = true;
    else o.other = true;
  }
  // Every byte of the option space accounted for (padding after end-of-list is zeros tshark lists as kind 0).
  if (!ended && pos !== room) return null;
  if (ended && pos !== room) return null;
  if (sackSeen !== sackLe) return null;
  return o;
}

// ---------------------------------------------------------------------------------------------------------
// the model's flows

type Flow = ModelFlow<DirFrame<Frame>>;

// ---------------------------------------------------------------------------------------------------------
// the columns, from docs/features.md

type Value = number | string | boolean | null;

/** Times consecutive values of `a` differ (`up` / `down`: grew / shrank). */
function changes(a: number[]): { up: number; down: number } {
  let up = 0, down = 0;
  for (let i = 1; i < a.length; i++) {
    if (a[i] > a[i - 1]) up++;
    else if (a[i] < a[i - 1]) down++;
  }
  return { up, down };
}

/** The first `cap` distinct values of `a`, in order of appearance. */
function distinct<T>(a: T[], cap: number): T[] {
  const out: T[] = [];
  for (const x of a) if (!out.includes(x) && out.length < cap) out.push(x);
  return out;
}

function ipExtended(fl: Flow, out: Map<string, Value>): void {
  const p = fl.pkts;
  for (const [d, dir] of [["fwd", 0], ["bwd", 1]] as const) {
    const ttl = p.filter((x) => x.dir === dir).map((x) => x.fr.ttl);
    out.set(`ip_ttl_${d}_min`, ttl.length ? Math.min(...ttl) : null);
    out.set(`ip_ttl_${d}_max`, ttl.length ? Math.max(...ttl) : null);
    out.set(`ip_ttl_${d}_mean`, ttl.length ? sum(ttl) / ttl.length : null);
    out.set(`ip_ttl_${d}_changes`, ttl.length ? new Set(ttl).size - 1 : null);
  }
  const first = p.find((x) => x.dir === 0)?.fr.ttl;
  const init = first === undefined ? null : first <= 64 ? 64 : first <= 128 ? 128 : 255;
  out.set("ip_ttl_fwd_initial_est", init);
  out.set("ip_ttl_fwd_hops_est", init === null ? null : init - first!);
  const tos = Math.min(...p.map((x) => x.fr.tos));
  out.set("ip_tos_value", tos);
  out.set("ip_tos_unique_count", new Set(p.map((x) => x.fr.tos)).size);
  out.set("ip_dscp", tos >> 2);
  out.set("ip_ecn", tos & 3);
  const v4 = p.filter((x) => x.fr.ipv === 4);
  out.set("ip_flags", v4.length ? v4.reduce((a, x) => a | x.fr.ipFlags, 0) : null);
  const df = v4.filter((x) => (x.fr.ipFlags & 2) !== 0).length;
  out.set("ip_df_count", df);
  out.set("ip_df_ratio", df / p.length);
  out.set("ip_version", p[0].fr.ipv);
  let gaps = 0;
  for (const dir of [0, 1]) {
    const ids = v4.filter((x) => x.dir === dir).map((x) => x.fr.ipId);
    for (let i = 1; i < ids.length; i++) if (((ids[i] - ids[i - 1]) & 0xffff) > 1) gaps++;
  }
  out.set("ip_id_gaps", gaps);
}

function mac(fl: Flow, out: Map<string, Value>): void {
  const p = fl.pkts, e0 = p[0].fr.eth;
  const eth = p.filter((x) => x.fr.eth !== null);
  out.set("mac_src", e0 ? e0.src : null);
  out.set("mac_dst", e0 ? e0.dst : null);
  out.set("mac_eth_type", e0 ? e0.type : null);
  const vlans = distinct(eth.map((x) => x.fr.eth!.vlan).filter((v) => v >= 0), MAX_DISTINCT);
  out.set("mac_vlan_id", vlans.length ? Math.min(...vlans) : null);
  out.set("mac_vlan_count", vlans.length);
  // The initiator's side: source of its frames, destination of the responder's.
  const side0 = distinct(eth.map((x) => x.dir === 0 ? x.fr.eth!.src : x.fr.eth!.dst), MAX_DISTINCT);
  const side1 = distinct(eth.map((x) => x.dir === 0 ? x.fr.eth!.dst : x.fr.eth!.src), MAX_DISTINCT);
  out.set("mac_unique_src_count", side0.length);
  out.set("mac_unique_dst_count", side1.length);
  let stat = 0;
  if (e0) stat |= 3;
  if (side0.length > 1) stat |= 4;
  if (side1.length > 1) stat |= 8;
  if (vlans.length) stat |= 16;
  out.set("mac_stat", stat);
  const dsts = eth.map((x) => x.fr.eth!.dst);
  const bcast = dsts.filter((d) => d === "ff:ff:ff:ff:ff:ff").length;
  out.set("mac_broadcast_count", bcast);
  out.set("mac_multicast_count", dsts.filter((d) => (parseInt(d.slice(0, 2), 16) & 1) !== 0).length - bcast);
}

const SYN = 0x02, RST = 0x04;

function tcpWindow(fl: Flow, out: Map<string, Value>): void {
  const t = fl.pkts.filter((x) => x.fr.flags >= 0);
  const side = (dir: 0 | 1) => {
    const a = t.filter((x) => x.dir === dir);
    const w = a.map((x) => x.fr.win);
    // The window scale shift from the side's first SYN (shifts above 14 count as 14, RFC 7323). A port pair
    // reused by connections of other options is its own test (tcp_window's, against tshark's scaled windows).
    const synWs = a.find((x) => (x.fr.flags & SYN) !== 0)?.fr.opts?.ws;
    return {
      a,
      w,
      ws: synWs === undefined ? -1 : Math.min(synWs, 14),
      zero: a.filter((x) => x.fr.win === 0 && (x.fr.flags & RST) === 0).length,
      synMax: Math.max(-1, ...a.filter((x) => (x.fr.flags & SYN) !== 0).map((x) => x.fr.win)),
      dataMax: Math.max(-1, ...a.filter((x) => (x.fr.flags & SYN) === 0).map((x) => x.fr.win)),
    };
  };
  const s = [side(0), side(1)];
  const scaled = s[0].ws >= 0 && s[1].ws >= 0;
  for (const [d, x] of [["fwd", s[0]], ["bwd", s[1]]] as const) {
    const n = x.w.length;
    const c = changes(x.w);
    out.set(`tcp_init_win_${d}`, n ? x.w[0] : null);
    out.set(`tcp_win_scale_${d}`, x.ws >= 0 ? x.ws : null);
    out.set(`tcp_win_${d}_min`, n ? Math.min(...x.w) : null);
    out.set(`tcp_win_${d}_max`, n ? Math.max(...x.w) : null);
    out.set(`tcp_win_${d}_mean`, n ? sum(x.w) / n : null);
    out.set(`tcp_win_${d}_zero_count`, x.zero);
    out.set(`tcp_win_${d}_up_count`, c.up);
    out.set(`tcp_win_${d}_down_count`, c.down);
    out.set(`tcp_win_${d}_change_count`, c.up + c.down);
    // Windows outside SYNs are shifted when both SYNs carried window scale; SYN windows never are.
    out.set(
      `tcp_scaled_win_${d}_max`,
      !n ? null : scaled && x.dataMax >= 0 ? Math.max(x.synMax, x.dataMax * 2 ** x.ws) : Math.max(...x.w),
    );
  }
  out.set("tcp_zero_win_ratio", t.length ? (s[0].zero + s[1].zero) / t.length : null);
}

function tcpOptions(fl: Flow, out: Map<string, Value>): void {
  const t = fl.pkts.filter((x) => x.fr.opts?.any);
  let bitmap = 0;
  for (const x of t) {
    const o = x.fr.opts!;
    if (o.mss >= 0) bitmap |= 1;
    if (o.ws >= 0) bitmap |= 2;
    if (o.sackPermitted) bitmap |= 4;
    if (o.tsVal >= 0) bitmap |= 8;
    if (o.sackBlocks > 0) bitmap |= 16;
    if (o.mptcp) bitmap |= 32;
    if (o.fastOpen) bitmap |= 64;
    if (o.other) bitmap |= 128;
  }
  for (const [d, dir] of [["fwd", 0], ["bwd", 1]] as const) {
    const a = t.filter((x) => x.dir === dir).map((x) => x.fr.opts!);
    const mss = a.find((o) => o.mss >= 0)?.mss, ws = a.find((o) => o.ws >= 0)?.ws;
    out.set(`tcp_mss_${d}`, mss ?? null);
    out.set(`tcp_ws_${d}`, ws ?? null);
    out.set(`tcp_sack_permitted_${d}`, a.some((o) => o.sackPermitted) ? 1 : 0);
    const ts = a.filter((o) => o.tsVal >= 0);
    out.set(`tcp_ts_${d}_present`, ts.length > 0 ? 1 : 0);
    out.set(`tcp_ts_${d}_first`, ts.length ? ts[0].tsVal : null);
    out.set(`tcp_ts_${d}_last`, ts.length ? ts.at(-1)!.tsVal : null);
    out.set(`tcp_ts_${d}_diff`, ts.length ? (ts.at(-1)!.tsVal - ts[0].tsVal + 2 ** 32) % 2 ** 32 : null);
    out.set(`tcp_ts_ecr_${d}_first`, ts.length ? ts[0].tsEcr : null);
  }
  out.set("tcp_sack_blocks_total", sum(t.map((x) => x.fr.opts!.sackBlocks)));
  out.set("tcp_options_bitmap", bitmap);
  out.set("tcp_options_pkt_count", t.length);
}

/** Every column of the four groups for a flow; the TCP groups' columns are all null for other protocols. */
function features(fl: Flow, tcpCols: string[]): Map<string, Value> {
  const out = new Map<string, Value>();
  ipExtended(fl, out);
  mac(fl, out);
  if (fl.proto === 6) {
    tcpWindow(fl, out);
    tcpOptions(fl, out);
  } else for (const c of tcpCols) out.set(c, null);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// the test

interface Tally {
  compared: number;
  /** Of which the expected value is not null, and not null, 0 or false. */
  nonNull: number;
  nonZero: number;
  matched: number;
}

Deno.test({
  name: "tshark differential: ip_extended, mac, tcp_window and tcp_options of every attributable corpus flow",
  ignore: !HAVE_CAPTURES || !HAVE_TSHARK || !hasCommand("mergecap") || !hasCommand("capinfos"),
  async fn() {
    const tcpCols = [...tcpWindowExtractor.features, ...tcpOptionsExtractor.features].map((s) => s.name);
    const allCols = [
      ...ipExtendedExtractor.features,
      ...macExtractor.features,
      ...tcpWindowExtractor.features,
      ...tcpOptionsExtractor.features,
    ].map((s) => s.name);

    const names = captureNames();
    // tshark runs in subprocesses while jj reads the captures here.
    const [tshark, jjs] = await Promise.all([
      tsharkRowsByCapture(names),
      (async () => {
        const out: Map<string, FlowRecord[]>[] = [];
        for (const n of names) out.push(await flowsByKey(`${CAPTURES}/${n}`, { features: GROUPS }));
        return out;
      })(),
    ]);
    const tally = new Map<string, Tally>(
      allCols.map((c) => [c, { compared: 0, nonNull: 0, nonZero: 0, matched: 0 }]),
    );
    const exclusions = new Map<string, number>();
    const problems = new Map<string, string>();
    const unreadable = tshark.unreadable;
    let caps = 0, flowsCompared = 0, tunnelFlows = 0;
    for (let c = 0; c < names.length; c++) {
      const name = names[c], rows = tshark.rows.get(name);
      if (rows === undefined) continue;
      caps++;
      const frames = rows.map(parseFrame);
      const tunnelled = new Set(frames.filter((fr) => fr.tunnel && fr.key !== null).map((fr) => fr.key!));
      const { taint, model } = modelFlows(frames, (fr, dir): DirFrame<Frame> => ({ fr, dir }));
      const jj = jjs[c];
      countExclusions(exclusions, taint, jj);
      const decapsulatedElsewhere = (key: string, flows: Flow[], recs: FlowRecord[]): boolean => {
        if (
          !tunnelled.has(key) ||
          (recs.length === flows.length && flows.every((fl, i) => fl.pkts.length === recs[i].total_packets))
        ) return false;
        // jj did not decapsulate this tunnel (or not every packet of it) as tshark did.
        addCount(exclusions, "tunnel decapsulated differently (packet counts differ)", flows.length);
        return true;
      };
      for (const { key, flows, recs } of pairFlows(name, model, jj, taint, problems, decapsulatedElsewhere)) {
        for (let i = 0; i < flows.length; i++) {
          flowsCompared++;
          if (tunnelled.has(key)) tunnelFlows++;
          const want = features(flows[i], tcpCols);
          for (const col of allCols) {
            const v = want.get(col);
            assert.ok(v !== undefined, `the model has no value for ${col}`);
            const got = recs[i][col];
            const t = tally.get(col)!;
            t.compared++;
            if (v !== null) t.nonNull++;
            if (v !== null && v !== 0 && v !== false) t.nonZero++;
            if (sameValue(v, got ?? null)) t.matched++;
            else problems.set(`${name}|${key}|${i}|${col}`, `expected ${v}, jj ${got}`);
          }
        }
      }
    }
    const triaged = triage(problems, KNOWN_BUGS), { known, unknown } = triaged;
    const lines = [
      `tshark header differential: ${caps} captures read (wiretap cannot read: ${
        unreadable.join(", ") || "none"
      }), ${flowsCompared} flows compared (${tunnelFlows} of them tunnelled)`,
      `excluded flows: ${countsText(exclusions)}`,
      `known jj bugs still present: ${known.length}`,
      ...known.map(([id, what]) => `  ${id}: ${what}`),
      "column                       matched / compared (expected non-null, non-zero)",
      ...[...tally].map(([col, t]) =>
        `  ${col.padEnd(28)} ${t.matched} / ${t.compared} (${t.nonNull}, ${t.nonZero})`
      ),
    ];
    if (unknown.length) lines.push(`${unknown.length} new mismatches:`, ...unknown.slice(0, 200));
    console.log(lines.join("\n"));
    // The comparison is not vacuous: enough captures and flows, and every column set on some flow.
    assertNotVacuous(caps, flowsCompared);
    assertColumnsExercised(new Map([...tally].map(([c, t]) => [c, t.nonNull])));
    assertNoNewMismatches(triaged);
  },
});
