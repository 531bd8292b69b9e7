/**
 * Joy's compact byte distribution (`cdist=FILE`, `compact_byte_dist`) and header description (`hd=N`, `hd`),
 * checked flow by flow on real captures against values worked out here from tshark's payload bytes and the
 * semantics of Joy 4.5's source (`p2f.c`, `pkt_proc.c`, `hdr_dsc.c`):
 *
 * - compact_byte_dist: every payload byte of every TCP (retransmissions left out unless `retrans=1`), UDP,
 *   ICMP and other-IP packet, no 4000-byte limit, is counted under `mapping[byte]`; both directions are
 *   summed, then scaled like `byte_dist` (`reduce_bd_bits`: shifted right until the largest fits 8 bits).
 *   The mapping file holds `byte value` pairs; bytes it does not list map to 0.
 * - hd: only TCP payloads of at least `hd` bytes, of the printed side only, the first ten of them:
 *   `i` the first one's first `hd` bytes, `cm` the bits equal in all (`cm &= ~(cv ^ p)`, `cv = cm & p`), `cv`
 *   their values, `sm` the bytes that were once "one more than `cv`" with `cm` 0 (so, equal to 1); printed as
 *   `{"n","cm","cv","sm","i"}` hex strings of `hd` bytes, once two headers were seen.
 *
 * Each corpus test prints how many flows and values it compared.
 */
import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { joyProcessFile } from "../lib/joy/offline.ts";
import { defaultJoyConfig, parseJoyConfigList } from "../lib/joy/config.ts";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";
import {
  cap,
  ethernet,
  F,
  HAVE_CAPTURES,
  HAVE_TSHARK,
  ipv4,
  pcapFile,
  tcp,
  toHex,
  tsharkFields,
  udp,
} from "./helpers.ts";

const CORPUS = HAVE_CAPTURES && HAVE_TSHARK;

// deno-lint-ignore no-explicit-any
type Flow = Record<string, any>;

/** Joy flow records of a capture (the configuration line left out) with `--joy-config LIST`. */
async function joyFlows(path: string, list: string): Promise<Flow[]> {
  const cfg = parseJoyConfigList(list, defaultJoyConfig());
  const out: Flow[] = [];
  await joyProcessFile(path, cfg, (l) => {
    const f = JSON.parse(l);
    if (f.version === undefined) out.push(f);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// mapping files

/** byte >> 4, every byte listed, tab-separated (the layout of Joy's own examples). */
const MAP_HIGH_NIBBLE = (b: number): number => b >> 4;

/** Character classes; 0x80..0xff spread over 8..15 by their low bits. */
function mapClasses(b: number): number {
  if (b === 0) return 0;
  if (b < 0x20) return 1;
  if (b === 0x20) return 2;
  if (b >= 0x30 && b <= 0x39) return 3;
  if (b >= 0x41 && b <= 0x5a) return 4;
  if (b >= 0x61 && b <= 0x7a) return 5;
  if (b < 0x7f) return 6;
  if (b === 0x7f) return 7;
  return 8 + (b & 7);
}

/** Writes a mapping file: `byte<sep>value` lines; with `sparse`, only the bytes whose value is not 0. */
function writeMap(path: string, fn: (b: number) => number, sep: string, sparse: boolean): void {
  const lines: string[] = [];
  for (let b = 0; b < 256; b++) if (!sparse || fn(b) !== 0) lines.push(`${b}${sep}${fn(b)}`);
  Deno.writeTextFileSync(path, lines.join("\n") + "\n");
}

// ---------------------------------------------------------------------------------------------------------
// the independent computation

/** Joy's `reduce_bd_bits` then `(unsigned char)`, worked out from its definition. */
function reduce(counts: number[]): number[] {
  let or = 0;
  for (const c of counts) or |= c;
  let rest = or >>> 8, shift = 0;
  while (rest !== 0 && shift < 24) {
    rest >>>= 1;
    shift++;
  }
  return counts.map((c) => (c >>> shift) & 0xff);
}

interface HdExpected {
  n: number;
  cm: string;
  cv: string;
  sm: string;
  i: string;
}

/**
 * The header description of `headers` (each at least `n` bytes, in arrival order), or null when fewer than
 * two; `edge` when Joy's counter scan would run past byte 0 (not worked out here).
 */
function headerDescription(headers: Uint8Array[], n: number): HdExpected | null | "edge" {
  const used = headers.slice(0, 10);
  if (used.length < 2) return null;
  const first = used[0];
  const cm = new Array(n).fill(0xff), cv = Array.from(first.subarray(0, n)), sm = new Array(n).fill(0);
  for (const h of used.slice(1)) {
    for (let i = 0; i < n; i++) {
      cm[i] &= ~(cv[i] ^ h[i]) & 0xff;
      cv[i] = cm[i] & h[i];
      if (cm[i] === 0 && h[i] === 1) sm[i] = 0xff;
    }
    // with n < 32 the byte before byte 0 in Joy's struct is a mask byte that is still 0xff: the scan stops
    if (n === 32 && cm[0] === 0 && h[0] === 1) return "edge";
  }
  return { n: used.length, cm: toHex(cm), cv: toHex(cv), sm: toHex(sm), i: toHex(first.subarray(0, n)) };
}

/** One packet as tshark reads it. */
interface Pkt {
  ts: number;
  proto: number;
  src: string;
  sp: number;
  dst: string;
  dp: number;
  /** Transport payload size as the IP header gives it. */
  size: number;
  payload: Uint8Array;
  seq: number;
}

const FIELDS = [
  "frame.time_epoch",
  "frame.protocols",
  "ip.src",
  "ip.dst",
  "ipv6.src",
  "ipv6.dst",
  "ip.len",
  "ip.hdr_len",
  "ipv6.plen",
  "ip.flags.mf",
  "ip.frag_offset",
  "tcp.srcport",
  "tcp.dstport",
  "tcp.len",
  "tcp.payload",
  "tcp.seq_raw",
  "udp.srcport",
  "udp.dstport",
  "udp.length",
  "udp.payload",
];

function usec(epoch: string): number {
  const [s, f = ""] = epoch.split(".");
  return Number(s) * 1e6 + Number(f.padEnd(9, "0").slice(0, 6));
}

function bytesOf(hexText: string): Uint8Array {
  const h = hexText.replaceAll(":", "");
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const unordered = (proto: number, a: string, ap: number, b: string, bp: number): string =>
  `${a}|${ap}` < `${b}|${bp}` ? `${proto}|${a}|${ap}|${b}|${bp}` : `${proto}|${b}|${bp}|${a}|${ap}`;

/**
 * tshark's TCP and UDP packets of a capture, and the flows (unordered keys) left out because some packet of
 * theirs is not plain (tunnelled, ICMP-quoted, fragmented, IPv6 extension headers, truncated, UDP length not
 * the IP payload): for those the payload bytes Joy reads are not the ones tshark shows.
 */
async function tsharkPackets(path: string): Promise<{ pkts: Pkt[]; excluded: Set<string> }> {
  const rows = await tsharkFields(path, FIELDS);
  const pkts: Pkt[] = [], excluded = new Set<string>();
  for (const r of rows) {
    const [
      epoch,
      protos,
      s4,
      d4,
      s6,
      d6,
      ipLen,
      ipHl,
      plen,
      mf,
      fo,
      ts,
      td,
      tlen,
      tpay,
      seq,
      us,
      ud,
      ulen,
      upay,
    ] = r;
    const layers = protos.split(":");
    const isTcp = layers.includes("tcp"), isUdp = layers.includes("udp");
    if (!isTcp && !isUdp) continue;
    const v6 = s4 === "" || s4 === undefined;
    const src = (v6 ? s6 : s4)?.split("|")[0], dst = (v6 ? d6 : d4)?.split("|")[0];
    if (!src || !dst) continue;
    const sp = Number((isTcp ? ts : us).split("|")[0]), dp = Number((isTcp ? td : ud).split("|")[0]);
    const proto = isTcp ? 6 : 17;
    const key = unordered(proto, src, sp, dst, dp);
    const ipLayers = layers.filter((l) => l === "ip" || l === "ipv6").length;
    const plain = ipLayers === 1 && !layers.some((l) => l.startsWith("icmp") || l.startsWith("ipv6.")) &&
      mf !== "1" && (fo === "" || fo === "0") && !(isTcp && isUdp);
    const ipPayload = v6 ? Number(plen) : Number(ipLen) - Number(ipHl);
    const size = isTcp ? Number(tlen) : ipPayload - 8;
    const payload = bytesOf((isTcp ? tpay : upay) ?? "");
    if (!plain || payload.length !== size || (isUdp && Number(ulen) !== ipPayload)) {
      excluded.add(key);
      continue;
    }
    pkts.push({ ts: usec(epoch), proto, src, sp, dst, dp, size, payload, seq: Number(seq || 0) });
  }
  return { pkts, excluded };
}

/**
 * Pairs each TCP/UDP Joy record with its packets: all of its flow's when the flow has one record, else those
 * within its time range. Flows whose packets cannot be told apart are left out (counted in `skipped`).
 */
function recordPackets(
  flows: Flow[],
  pkts: Pkt[],
  excluded: Set<string>,
): { pairs: [Flow, Pkt[]][]; skipped: number } {
  const byKey = new Map<string, Flow[]>();
  for (const f of flows) {
    if (f.pr !== 6 && f.pr !== 17) continue;
    const k = unordered(f.pr, f.sa, f.sp, f.da, f.dp);
    byKey.set(k, [...(byKey.get(k) ?? []), f]);
  }
  const pktsByKey = new Map<string, Pkt[]>();
  for (const p of pkts) {
    const k = unordered(p.proto, p.src, p.sp, p.dst, p.dp);
    pktsByKey.set(k, [...(pktsByKey.get(k) ?? []), p]);
  }
  const pairs: [Flow, Pkt[]][] = [];
  let skipped = 0;
  for (const [k, recs] of byKey) {
    const ps = pktsByKey.get(k) ?? [];
    if (excluded.has(k)) {
      skipped += recs.length;
      continue;
    }
    const directional = (f: Flow, p: Pkt) =>
      f.bytes_in !== undefined || (p.src === f.sa && p.sp === f.sp && p.dst === f.da && p.dp === f.dp);
    if (recs.length === 1) {
      pairs.push([recs[0], ps.filter((p) => directional(recs[0], p))]);
      continue;
    }
    const win = (f: Flow) => [Math.round(f.time_start * 1e6), Math.round(f.time_end * 1e6)];
    const assigned = recs.map(() => [] as Pkt[]);
    let ambiguous = false;
    for (const p of ps) {
      const hits = recs.map((f, i) => [f, i] as const).filter(([f]) => {
        const [a, b] = win(f);
        return p.ts >= a && p.ts <= b && directional(f, p);
      });
      if (hits.length !== 1) ambiguous = true;
      else assigned[hits[0][1]].push(p);
    }
    if (ambiguous) skipped += recs.length;
    else recs.forEach((f, i) => pairs.push([f, assigned[i]]));
  }
  return { pairs, skipped };
}

function expectedCdist(ps: Pkt[], map: (b: number) => number): number[] {
  const c = new Array(16).fill(0);
  for (const p of ps) for (const b of p.payload) c[map(b)]++;
  return reduce(c);
}

/** True when, in each direction, the TCP data packets have distinct, non-zero sequence numbers. */
function noRetrans(ps: Pkt[]): boolean {
  const seen = new Set<string>();
  for (const p of ps) {
    if (p.proto !== 6 || p.size === 0) continue;
    const k = `${p.src}|${p.sp}|${p.seq}`;
    if (p.seq === 0 || seen.has(k)) return false;
    seen.add(k);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// corpus comparisons

const CAPTURES = [
  "http.pcapng",
  "dns.pcap",
  "tls12.pcap",
  "443-curl.pcap",
  "443-firefox.pcap",
  "ssh.pcap",
  "ftp.pcap",
  "smtp-starttls.pcap",
  "bittorrent.pcap",
  "http_ipv6.pcap",
  "tls_long_cert.pcap",
  "quic.pcap",
  "wireguard.pcap",
  "openvpn.pcap",
  "tor.pcap",
  "dhcp.pcapng",
  "doh.pcapng",
  "chrome.pcap",
  "socks-https-example.pcap",
  "ssh-scp-1050.pcap",
];

interface Run {
  /** `--joy-config` list, `MAP` standing for the mapping file. */
  list: string;
  map: (b: number) => number;
  sep: string;
  sparse: boolean;
  hd: number;
  /** Compare only records with no TCP retransmission (the list leaves `retrans` at 0). */
  cleanOnly: boolean;
}

const RUNS: Run[] = [
  {
    list: "cdist=MAP,hd=4,retrans=1",
    map: MAP_HIGH_NIBBLE,
    sep: "\t",
    sparse: false,
    hd: 4,
    cleanOnly: false,
  },
  { list: "cdist=MAP,hd=32,retrans=1", map: mapClasses, sep: " ", sparse: true, hd: 32, cleanOnly: false },
  {
    list: "cdist=MAP,hd=16,retrans=1,bidir=0",
    map: mapClasses,
    sep: "\t",
    sparse: false,
    hd: 16,
    cleanOnly: false,
  },
  { list: "cdist=MAP,hd=8", map: MAP_HIGH_NIBBLE, sep: "\t", sparse: true, hd: 8, cleanOnly: true },
];

Deno.test({
  name: "compact_byte_dist and hd of every corpus flow equal the values worked out from tshark's payloads",
  ignore: !CORPUS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj_joyfeat_" });
    try {
      let flowsCompared = 0, cdistValues = 0, hdCompared = 0, hdPrinted = 0, skipped = 0, edges = 0;
      for (const [ri, run] of RUNS.entries()) {
        const mapFile = `${dir}/map${ri}.txt`;
        writeMap(mapFile, run.map, run.sep, run.sparse);
        for (const name of CAPTURES) {
          const { pkts, excluded } = await tsharkPackets(cap(name));
          const flows = await joyFlows(cap(name), run.list.replace("MAP", mapFile));
          const { pairs, skipped: s } = recordPackets(flows, pkts, excluded);
          skipped += s;
          for (const [f, ps] of pairs) {
            if (run.cleanOnly && !noRetrans(ps)) {
              skipped++;
              continue;
            }
            const what = `${name} [${run.list}] ${f.sa}:${f.sp} > ${f.da}:${f.dp}/${f.pr}`;
            deepEqual(f.compact_byte_dist, expectedCdist(ps, run.map), `${what}: compact_byte_dist`);
            cdistValues += 16;
            const headers = ps.filter((p) =>
              p.proto === 6 && p.src === f.sa && p.sp === f.sp && p.size >= run.hd
            )
              .map((p) => p.payload);
            const hd = headerDescription(headers, run.hd);
            if (hd === "edge") {
              edges++;
            } else {
              deepEqual(f.hd, hd ?? undefined, `${what}: hd`);
              hdCompared++;
              if (hd !== null) hdPrinted++;
            }
            flowsCompared++;
          }
        }
      }
      console.log(
        `compact_byte_dist: ${flowsCompared} records (${cdistValues} values) equal; hd: ${hdCompared} records ` +
          `equal (${hdPrinted} printed, the others rightly without "hd"); ${skipped} records left out ` +
          `(not plain, or not told apart), ${edges} hd scans past byte 0`,
      );
      ok(flowsCompared >= 300, `only ${flowsCompared} records compared`);
      ok(hdPrinted >= 100, `only ${hdPrinted} header descriptions printed`);
      ok(skipped < flowsCompared / 5, `${skipped} records left out`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// hand-made captures: the rules one at a time

const A = "10.0.0.1", B = "10.0.0.2";

function frameTcp(
  src: string,
  dst: string,
  sp: number,
  dp: number,
  payload: number[],
  seq: number,
): Uint8Array {
  return ethernet(ipv4(src, dst, 6, tcp(sp, dp, F.ACK | F.PSH, new Uint8Array(payload), { seq })));
}

async function withCapture(frames: Uint8Array[], fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jj_joyfeat_" });
  try {
    const path = `${dir}/c.pcap`;
    Deno.writeFileSync(path, pcapFile(1, frames.map((data, i) => ({ ts: 1_700_000_000 + i * 0.001, data }))));
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hd: TCP payloads of at least hd bytes, the first ten, printed side only, no retransmissions", async () => {
  const frames: Uint8Array[] = [];
  let seq = 1000;
  // client: 12 payloads of 7 bytes, one retransmission, one payload too short; server: one payload (fewer than
  // two: no "hd" for it); UDP payloads never count. Byte 0 changes only after the tenth header.
  for (let k = 0; k < 12; k++) {
    const p = [
      k >= 10 ? 0 : 0x17,
      0x03,
      k < 3 ? 0x03 : 0x01,
      k,
      0xaa,
      k & 1 ? 0xf0 : 0x0f,
      k === 0 ? 0xfe : 0x01,
    ];
    frames.push(frameTcp(A, B, 40000, 443, p, seq));
    if (k === 1) frames.push(frameTcp(A, B, 40000, 443, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], seq));
    if (k === 2) frames.push(frameTcp(A, B, 40000, 443, [1, 2, 3], 9000));
    seq += 7;
  }
  frames.push(frameTcp(B, A, 443, 40000, [1, 2, 3, 4, 5, 6, 7], 5000));
  frames.push(ethernet(ipv4(A, B, 17, udp(40000, 443, new Uint8Array([1, 2, 3, 4, 5, 6, 7])))));
  frames.push(ethernet(ipv4(A, B, 17, udp(40000, 443, new Uint8Array([9, 2, 3, 4, 5, 6, 7])))));
  await withCapture(frames, async (path) => {
    const flows = await joyFlows(path, "hd=7,bidir=0");
    // headers k = 0..9: byte 2 goes 3 -> 1 (mask ~(3 ^ 1)), byte 3 counts 0..9 (mask 0xf0), byte 5 flips all
    // bits (mask 0), byte 6 goes 0xfe -> 1: mask 0 and value 1, a "counter"
    const client = {
      n: 10,
      cm: "fffffdf0ff0000",
      cv: "17030100aa0000",
      sm: "000000000000ff",
      i: "17030300aa0ffe",
    };
    deepEqual(flows.find((f) => f.pr === 6 && f.sa === A)?.hd, client);
    equal(flows.find((f) => f.pr === 6 && f.sa === B)?.hd, undefined);
    const u = flows.filter((f) => f.pr === 17);
    equal(u.length, 1);
    equal(u[0].hd, undefined);
    // retrans=1: the all-0xff retransmission is the third header, and k = 9 drops out
    const r = (await joyFlows(path, "hd=7,bidir=0,retrans=1")).find((f) => f.pr === 6 && f.sa === A);
    deepEqual(r?.hd, {
      n: 10,
      cm: "17030100aa0000",
      cv: "17030100aa0000",
      sm: "000000000000ff",
      i: client.i,
    });
    // bidir=1: the printed side's description only
    const m = (await joyFlows(path, "hd=7")).find((f) => f.pr === 6)!;
    deepEqual(m.hd, m.sa === A ? client : undefined);
    // hd=0 is off
    equal((await joyFlows(path, "hd=0,bidir=0")).find((f) => f.pr === 6 && f.sa === A)?.hd, undefined);
  });
});

Deno.test("hd: Joy's counter scan runs on past byte 0 into the struct (hd=32), as in hdr_dsc.c", async () => {
  // header 1: byte 0 = 0xfe, byte 31 = 0; header 2: byte 0 = 1 (mask 0, value 1: a counter), byte 31 = 0xfb,
  // so const_mask[31] = ~(0 ^ 0xfb) = 0x04, and the TCP header's last byte (urgent pointer, low byte) is 5.
  // At i = -1 Joy reads const_mask[-1] = initial[31] = 0 and const_value[-1] = const_mask[31] = 4, and
  // 4 + 1 == payload[-1] = 5, so it sets seq_mask[-1], which is const_value[31], to 0xff; at i = -2,
  // const_mask[-2] = initial[30] = 0x11 is not 0: the scan stops.
  const p1 = new Array(32).fill(0x11), p2 = new Array(32).fill(0x11);
  p1[0] = 0xfe, p1[31] = 0, p2[0] = 1, p2[31] = 0xfb;
  const f1 = frameTcp(A, B, 40000, 9999, p1, 1000), f2 = frameTcp(A, B, 40000, 9999, p2, 1032);
  f2[14 + 20 + 19] = 5;
  await withCapture([f1, f2], async (path) => {
    const f = (await joyFlows(path, "hd=32")).find((f) => f.pr === 6)!;
    deepEqual(f.hd, {
      n: 2,
      cm: "00" + "ff".repeat(30) + "04",
      cv: "00" + "11".repeat(30) + "ff",
      sm: "ff" + "00".repeat(31),
      i: "fe" + "11".repeat(30) + "00",
    });
  });
  // the same without the urgent pointer: the scan stops at byte 0
  f2[14 + 20 + 19] = 0;
  await withCapture([f1, f2], async (path) => {
    const f = (await joyFlows(path, "hd=32")).find((f) => f.pr === 6)!;
    equal(f.hd.cv, "00" + "11".repeat(30) + "00");
  });
});

Deno.test("compact_byte_dist: sparse mapping, both directions, no 4000-byte limit, scaled like byte_dist", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jj_joyfeat_" });
  try {
    const mapFile = `${dir}/map.txt`;
    writeMap(mapFile, mapClasses, " ", true);
    const frames: Uint8Array[] = [];
    for (let k = 0; k < 5; k++) {
      frames.push(ethernet(ipv4(A, B, 17, udp(5000, 6000, new Uint8Array(1000).fill(0x41)))));
    }
    frames.push(ethernet(ipv4(B, A, 17, udp(6000, 5000, new Uint8Array(100)))));
    frames.push(ethernet(ipv4(B, A, 17, udp(6000, 5000, new Uint8Array([0x31, 0x80, 0x87, 0x7f])))));
    await withCapture(frames, async (path) => {
      // 'A' x 5000 -> class 4; 0 x 100 -> class 0; '1' -> 3, 0x80 -> 8, 0x87 -> 15, 0x7f -> 7. The largest,
      // 5000, needs 13 bits: every count is shifted right by 5.
      const f = (await joyFlows(path, `cdist=${mapFile},dist=1`)).find((f) => f.pr === 17)!;
      deepEqual(f.compact_byte_dist, [3, 0, 0, 0, 156, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      // byte_dist stops at 4000 bytes per direction: 'A' counted 4000 times (4000 >> 4 = 250)
      equal(f.byte_dist[0x41], 250);
      const one = (await joyFlows(path, `cdist=${mapFile},bidir=0`)).find((f) => f.sa === B)!;
      deepEqual(one.compact_byte_dist, [100, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1]);
      // without cdist there is no compact_byte_dist
      equal((await joyFlows(path, "dist=1")).find((f) => f.pr === 17)!.compact_byte_dist, undefined);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compact_byte_dist: bytes read past a short frame count as in byte_dist (Joy's packet buffer)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jj_joyfeat_" });
  try {
    const mapFile = `${dir}/map.txt`;
    writeMap(mapFile, mapClasses, "\t", false);
    // Joy keeps an IP length up to the frame's captured length, so it may read up to 14 bytes past a frame cut
    // short: whatever its packet buffer holds there (zeros at first, then what longer packets left).
    // 1: 20 'a' declared, 10 captured, fresh buffer: 10 zeros; 2: 200 'A'; 3: 100 'a' declared, 90 captured:
    // the packet before left 'A's at payload offsets 90..99.
    const first = ethernet(ipv4(A, B, 17, udp(5001, 6001, new Uint8Array(20).fill(0x61))));
    const long = ethernet(ipv4(B, A, 17, udp(7000, 8000, new Uint8Array(200).fill(0x41))));
    const cut = ethernet(ipv4(A, B, 17, udp(5000, 6000, new Uint8Array(100).fill(0x61))));
    const path = `${dir}/c.pcap`;
    Deno.writeFileSync(
      path,
      pcapFile(1, [
        { ts: 1_700_000_000, data: first.subarray(0, first.length - 10), wireLen: first.length },
        { ts: 1_700_000_000.001, data: long },
        { ts: 1_700_000_000.002, data: cut.subarray(0, cut.length - 10), wireLen: cut.length },
      ]),
    );
    for (const reader of ["builtin", "libpcap"] as const) {
      if (reader === "libpcap" && Deno.build.os === "windows") continue;
      const cfg = parseJoyConfigList(`cdist=${mapFile},dist=1`, defaultJoyConfig());
      const flows: Flow[] = [];
      try {
        await joyProcessFile(path, cfg, (l) => flows.push(JSON.parse(l)), { reader });
      } catch (e) {
        // no libpcap here: only then is the libpcap reader left out (any other error of it is a failure)
        if (reader === "libpcap" && tryLoadLibpcap() === null) continue;
        throw e;
      }
      const f = flows.find((f) => f.sp === 5001)!;
      deepEqual(f.compact_byte_dist, [10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], reader);
      deepEqual([f.byte_dist[0], f.byte_dist[0x61]], [10, 10], reader);
      const g = flows.find((f) => f.sp === 5000)!;
      deepEqual(g.compact_byte_dist, [0, 0, 0, 0, 10, 90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], reader);
      deepEqual([g.byte_dist[0x41], g.byte_dist[0x61]], [10, 90], reader);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--joy-config hd: Joy's range 0..32 (HDR_DSC_LEN)", () => {
  equal(parseJoyConfigList("hd=32").hd, 32);
  throws(() => parseJoyConfigList("hd=33"), /hd=33: expected an integer 0\.\.32/);
});

// ---------------------------------------------------------------------------------------------------------
// unset times and option ranges

/** The raw Joy lines (the configuration line left out) of a capture of `frames` stamped `times` (seconds). */
async function joyLinesAt(frames: Uint8Array[], times: number[]): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "jj_joyfeat_" });
  try {
    const path = `${dir}/c.pcap`;
    Deno.writeFileSync(path, pcapFile(1, frames.map((data, i) => ({ ts: times[i], data }))));
    const out: string[] = [];
    await joyProcessFile(path, defaultJoyConfig(), (l) => {
      if (!l.startsWith('{"version"')) out.push(l);
    });
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a record whose start was never set prints time 0.000000, as Joy's zero-filled record", async () => {
  // Sequence number 0 matches the zero-filled retransmission buffer: with retrans=0 (Joy's default) the packet
  // is dropped as a retransmission after its record was created, so the record has no time at all.
  const lines = await joyLinesAt([frameTcp(A, B, 1234, 80, [1, 2, 3, 4], 0)], [1_700_000_000.5]);
  equal(lines.length, 1);
  ok(lines[0].includes('"time_start":0.000000,"time_end":0.000000,'), lines[0]);
});

Deno.test("a packet stamped 0.000000 leaves the start unset (timerisset): the next packet starts the flow", async () => {
  const frame = ethernet(ipv4(A, B, 17, udp(1000, 2000, new Uint8Array([1, 2, 3]))));
  const lines = await joyLinesAt([frame, frame, frame], [0, 5.25, 6.5]);
  equal(lines.length, 1);
  const f = JSON.parse(lines[0]);
  deepEqual([f.num_pkts_out, f.time_start, f.time_end], [3, 5.25, 6.5]);
  ok(lines[0].includes('"time_start":5.250000,"time_end":6.500000,'), lines[0]);
});

Deno.test("--joy-config idp: Joy's range 0..1500 (MAX_IDP)", () => {
  equal(parseJoyConfigList("idp=1500").idp, 1500);
  equal(parseJoyConfigList("idp=0").idp, 0);
  throws(() => parseJoyConfigList("idp=1501"), /idp=1501: expected an integer 0\.\.1500/);
});
