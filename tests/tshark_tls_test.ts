/**
 * Whole-corpus differential test of the `tls` group's handshake columns against tshark as an independent
 * reader. (JA3, JA3S, SNI and JA4 are checked in `tls_test.ts`; this file covers the other columns.)
 *
 * For every corpus capture that carries TLS over TCP, tshark (TLS record and TCP stream reassembly on) dissects
 * the handshake into JSON; a model written here from each column's declared description turns it into the
 * values jj should give for each flow, and they are compared with what `extractFlows` writes. Flows are keyed by
 * their bidirectional 5-tuple (innermost IP layer, as `score.py`). QUIC is left to its own group; TLS inside an
 * OpenVPN control channel over UDP is not TLS over TCP and is left out too (tshark's frames there are keyed by
 * UDP). STARTTLS, SOCKS, HTTP CONNECT and OpenVPN-over-TCP flows are included: tshark decodes those as well.
 *
 * The model follows the descriptions in `extractors/tls.ts`:
 * - ClientHello columns come from the flow's first ClientHello (the one sent before any HelloRetryRequest);
 *   ServerHello columns from the first ServerHello that is not a HelloRetryRequest (else the HRR).
 * - Counts and lists leave GREASE values (0x?a?a) out; `tls_signature_algorithms` is the signature_algorithms
 *   extension (13) only, not signature_algorithms_cert (50).
 * - A direction's handshake ends with its first application-data record, and in TLS <= 1.2 with the (encrypted)
 *   Finished that follows its ChangeCipherSpec; a TLS 1.3 server's with its ServerHello (what follows is
 *   encrypted). A client ChangeCipherSpec followed by a second ClientHello (HelloRetryRequest) ends nothing.
 * - `tls_handshake_packets`: frames that carried bytes of the handshake records (content type 22) of that span,
 *   every TCP segment (or OpenVPN fragment) of a reassembled record counted; retransmissions are not counted
 *   (tshark does not dissect them).
 * - `tls_alert_count`: alert records (content type 21 on the wire) in that span.
 * - Records that tshark decrypted with keys embedded in a capture count as what they are on the wire
 *   (application data, opaque type 23), since jj has no keys.
 *
 * Mismatches where jj is wrong (by the column's description) are listed in {@linkcode KNOWN_BUGS}: the test
 * fails when an unlisted mismatch appears, and when a listed one starts matching (so the list stays current).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FlowRecord } from "../lib/extractor.ts";
import { canonicalKey, CAPTURES, flowsByKey, HAVE_CAPTURES, HAVE_TSHARK, ipLayers } from "./helpers.ts";

// ---------------------------------------------------------------------------------------------------------------
// Known jj bugs: (capture, flow key, column) triples where jj disagrees with its own column description.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Known wrong values of jj, as (capture, flow key, why) per column: jj disagrees with the column's own
 * description there. The test fails when one of them starts matching. (Emptied after the analyzer kept reading a
 * server direction after ServerHelloDone and a direction after its ChangeCipherSpec up to its Finished: 50
 * `tls_handshake_packets` values were short by the packets carrying NewSessionTicket or CCS + Finished.)
 */
const KNOWN_BUGS: Readonly<Record<string, readonly (readonly [string, string, string])[]>> = {};

/**
 * Values the model cannot give, with the reason: (capture, flow key, columns). These are not compared.
 */
const EXCLUDED: readonly { capture: string; key: string; columns: string[]; why: string }[] = [
  {
    capture: "4in6tunnel.pcap",
    key: "6|10.10.10.1|443|192.168.0.1|64455",
    columns: ["tls_cipher_suite", "tls_session_resumed", "tls_handshake_packets"],
    why:
      "the capture ends inside the server's first record (ServerHello + Certificate, 1372 of ~4000 bytes): " +
      "tshark never completes it and shows no ServerHello, while jj reads the complete ServerHello message at " +
      "its start (cipher 0xc02f, not resumed, 2 handshake packets), which is right",
  },
];

// ---------------------------------------------------------------------------------------------------------------
// tshark JSON helpers
// ---------------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** A value as a list: undefined is empty, an array stays, anything else is a singleton. */
function arr<T = unknown>(x: unknown): T[] {
  if (x === undefined || x === null) return [];
  return Array.isArray(x) ? x as T[] : [x as T];
}

/** tshark's number text ("0x0303" or "771") as a number. */
function num(x: unknown): number {
  const s = String(x);
  return s.startsWith("0x") ? parseInt(s.slice(2), 16) : Number(s);
}

/** Every value stored under `key` anywhere below `node` (depth first, in document order). */
function fieldAll(node: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) {
    for (const x of node) fieldAll(x, key, out);
  } else if (node !== null && typeof node === "object") {
    for (const [k, v] of Object.entries(node as Json)) {
      if (k === key) out.push(...arr(v));
      else if (typeof v === "object") fieldAll(v, key, out);
    }
  }
  return out;
}

function firstField(node: unknown, key: string): unknown {
  const all = fieldAll(node, key);
  return all.length > 0 ? all[0] : undefined;
}

/** GREASE values (RFC 8701): 0x0a0a, 0x1a1a ... 0xfafa. */
function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && (v >> 8) === (v & 0xff);
}

const HRR_RANDOM =
  "cf:21:ad:74:e5:9a:61:11:be:1d:8c:02:1e:65:b8:91:c2:a2:11:16:7a:bb:8c:5e:07:9e:09:e2:c8:a8:33:9c";

/** The extensions of a hello message, in wire order: type and the extension's subtree. */
function extensions(h: Json): { type: number; node: unknown }[] {
  const out: { type: number; node: unknown }[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (!k.startsWith("Extension: ")) continue;
    for (const e of arr<Json>(v)) out.push({ type: num(e["tls.handshake.extension.type"]), node: e });
  }
  return out;
}

/** A hello message as the model needs it. */
interface Hello {
  version: number;
  random: string;
  sessionId: string;
  sessionIdLen: number;
  ciphers: number[];
  exts: { type: number; node: unknown }[];
}

function hello(h: Json): Hello {
  const ciphers = arr(
    h["tls.handshake.ciphersuites"] !== undefined
      ? (h["tls.handshake.ciphersuites"] as Json)["tls.handshake.ciphersuite"]
      : h["tls.handshake.ciphersuite"],
  ).map(num);
  return {
    version: num(h["tls.handshake.version"]),
    random: String(h["tls.handshake.random"] ?? ""),
    sessionId: String(h["tls.handshake.session_id"] ?? ""),
    sessionIdLen: num(h["tls.handshake.session_id_length"] ?? 0),
    ciphers,
    exts: extensions(h),
  };
}

function ext(h: Hello, type: number): unknown | undefined {
  return h.exts.find((e) => e.type === type)?.node;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a capture with tshark
// ---------------------------------------------------------------------------------------------------------------

/** One TLS record as tshark shows it (in the frame where it was complete). */
interface Rec {
  frame: number;
  dir: string;
  type: number;
  version: number;
  /** Handshake messages (type and subtree) of a plaintext handshake record. */
  msgs: { type: number; node: Json }[];
  /** Frames that carried the record's bytes (the TCP segments of a reassembled PDU, or the frame itself). */
  frames: number[];
}

/** What tshark shows of one flow. */
interface TsFlow {
  key: string;
  capture: string;
  recs: Rec[];
}

const TSHARK_ARGS = [
  "-n",
  "-o",
  "tls.desegment_ssl_records:TRUE",
  "-o",
  "tcp.desegment_tcp_streams:TRUE",
  "-o",
  "ip.defragment:FALSE",
  "-o",
  "ipv6.defragment:FALSE",
  // Frames with a record other than application data ("~=": any occurrence differs). Frames of application data
  // only are left out: their payload would make the JSON five times larger and the run twice as slow, and the
  // model needs them only to see where a direction's handshake ended, which its ChangeCipherSpec and Finished
  // (TLS <= 1.2), its ServerHello (TLS 1.3 server) or an application-data record in a kept frame also tell.
  "-Y",
  "tls.record.content_type ~= 23",
  "-T",
  "json",
  "--no-duplicate-keys",
  "-J",
  "frame ip ipv6 tcp tcp.segments openvpn tls",
];

/**
 * tshark's JSON of `file`. A non-zero exit is accepted only with an error about the capture itself (cut short,
 * as fuzz captures are: what tshark read before is kept); any other failure (an unknown preference, a bad
 * filter) throws, since it would otherwise leave the capture without TLS flows.
 */
async function tsharkJson(file: string): Promise<Json[]> {
  const out = await new Deno.Command("tshark", {
    args: ["-r", file, ...TSHARK_ARGS],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (out.code !== 0 && !err.includes(`"${file}"`)) {
    throw new Error(`tshark exited with ${out.code} on ${file}: ${err}`);
  }
  const text = new TextDecoder().decode(out.stdout).trim();
  return text === "" ? [] : JSON.parse(text) as Json[];
}

/** Groups tshark's TLS-over-TCP records by flow. */
function tsharkFlows(capture: string, packets: Json[]): Map<string, TsFlow> {
  const flows = new Map<string, TsFlow>();
  for (const p of packets) {
    const L = (p._source as Json).layers as Json;
    const frame = L.frame as Json;
    const no = Number(frame["frame.number"]);
    const layers = String(frame["frame.protocols"]).split(":");
    if (layers.includes("icmp") || layers.includes("icmpv6") || layers.includes("quic")) continue;
    const ips = ipLayers(layers);
    if (ips.length === 0) continue;
    const ip = ips[ips.length - 1];
    const t = layers.indexOf("tcp", ip.at);
    if (t < 0) continue;
    const tcpOcc = layers.slice(0, t).filter((l) => l === "tcp").length;
    const ipNode = arr<Json>(L[ip.fam === 4 ? "ip" : "ipv6"])[ip.occ];
    const tcpNode = arr<Json>(L.tcp)[tcpOcc];
    if (ipNode === undefined || tcpNode === undefined) continue;
    const pre = ip.fam === 4 ? "ip" : "ipv6";
    const src = String(ipNode[`${pre}.src`]), dst = String(ipNode[`${pre}.dst`]);
    const sp = Number(tcpNode["tcp.srcport"]), dp = Number(tcpNode["tcp.dstport"]);
    const key = canonicalKey(6, src, sp, dst, dp);
    let f = flows.get(key);
    if (f === undefined) flows.set(key, f = { key, capture, recs: [] });
    // Frames whose bytes went into this frame's records: TCP segments of a reassembled PDU, OpenVPN fragments.
    const segs = [...fieldAll(L["tcp.segments"], "tcp.segment"), ...fieldAll(L.openvpn, "openvpn.fragment")]
      .map(Number);
    const frames = [...new Set([...segs, no])];
    for (const tls of arr<Json>(L.tls)) {
      for (const r of arr<Json>(tls["tls.record"])) {
        if (r["tls.record.content_type"] === undefined) continue; // SSLv2 and the like
        const opaque = r["tls.record.opaque_type"] !== undefined;
        const type = opaque ? num(r["tls.record.opaque_type"]) : num(r["tls.record.content_type"]);
        const msgs: { type: number; node: Json }[] = [];
        if (type === 22) {
          for (const h of arr(r["tls.handshake"])) {
            if (h !== null && typeof h === "object" && (h as Json)["tls.handshake.type"] !== undefined) {
              msgs.push({ type: num((h as Json)["tls.handshake.type"]), node: h as Json });
            } else msgs.push({ type: -1, node: {} }); // encrypted handshake message
          }
        }
        f.recs.push({
          frame: no,
          dir: `${src}|${sp}`,
          type,
          version: num(r["tls.record.version"]),
          msgs,
          frames,
        });
      }
    }
  }
  return flows;
}

// ---------------------------------------------------------------------------------------------------------------
// The model: each column from its description
// ---------------------------------------------------------------------------------------------------------------

const VERSION_NAMES: Record<number, string> = {
  0x0300: "SSL 3.0",
  0x0301: "TLS 1.0",
  0x0302: "TLS 1.1",
  0x0303: "TLS 1.2",
  0x0304: "TLS 1.3",
};

/** Name of a version; TLS 1.3 drafts (0x7fNN, and Facebook's 0xfbNN) are "TLS 1.3". */
function versionName(v: number | null): string | null {
  if (v === null) return null;
  if ((v >> 8) === 0x7f || (v >> 8) === 0xfb) return "TLS 1.3";
  return VERSION_NAMES[v] ?? null;
}

/** IANA TLS Supported Groups names (the ones a capture may plausibly use). */
const GROUP_NAMES: Record<number, string> = {
  21: "secp224r1",
  22: "secp256k1",
  23: "secp256r1",
  24: "secp384r1",
  25: "secp521r1",
  26: "brainpoolP256r1",
  27: "brainpoolP384r1",
  28: "brainpoolP512r1",
  29: "x25519",
  30: "x448",
  256: "ffdhe2048",
  257: "ffdhe3072",
  258: "ffdhe4096",
  259: "ffdhe6144",
  260: "ffdhe8192",
  0x11ec: "X25519MLKEM768",
  0x6399: "X25519Kyber768Draft00",
};

type Value = number | string | boolean | null | (number | string)[];

/** The model's values for one flow, or null when tshark shows no hello in it. */
function model(f: TsFlow, initiator: string): Record<string, Value> {
  const hellos = f.recs.flatMap((r) =>
    r.msgs.filter((m) => m.type === 1 || m.type === 2).map((m) => ({ r, m }))
  );
  const firstCh = hellos.find((x) => x.m.type === 1);
  const firstSh = hellos.find((x) => x.m.type === 2);
  // Directions: the client sends the ClientHello; without one, the server sends the ServerHello.
  const [a, b] = f.key.split("|").slice(1).reduce<string[]>((acc, x, i) => {
    if (i % 2 === 0) acc.push(x);
    else acc[acc.length - 1] += `|${x}`;
    return acc;
  }, []);
  const client = firstCh !== undefined
    ? firstCh.r.dir
    : firstSh !== undefined
    ? (firstSh.r.dir === a ? b : a)
    : initiator;
  const server = client === a ? b : a;
  const chs = hellos.filter((x) => x.m.type === 1 && x.r.dir === client).map((x) => hello(x.m.node));
  const shsAll = hellos.filter((x) => x.m.type === 2 && x.r.dir === server).map((x) => hello(x.m.node));
  const ch = chs.length > 0 ? chs[0] : null;
  const sh = shsAll.find((s) => s.random !== HRR_RANDOM) ?? (shsAll.length > 0 ? shsAll[0] : null);
  const isHrr = sh !== null && sh.random === HRR_RANDOM;

  const out: Record<string, Value> = {};
  // Version.
  let version: number | null = null;
  if (sh !== null) {
    const sv = ext(sh, 43);
    version = sv !== undefined
      ? num(firstField(sv, "tls.handshake.extensions.supported_version"))
      : sh.version;
  } else if (ch !== null) {
    const sv = ext(ch, 43);
    const vs = sv === undefined
      ? []
      : fieldAll(sv, "tls.handshake.extensions.supported_version").map(num).filter((v) => !isGrease(v));
    version = vs.length > 0 ? Math.max(...vs) : ch.version;
  }
  out.tls_version = version;
  out.tls_version_str = versionName(version);
  const tls13 = sh !== null && !isHrr && versionName(version) === "TLS 1.3";

  // ServerHello columns.
  out.tls_cipher_suite = sh !== null ? sh.ciphers[0] ?? null : null;
  // ClientHello columns.
  const alpnOffered = ch === null
    ? null
    : fieldAll(ext(ch, 16), "tls.handshake.extensions_alpn_str").map(String);
  if (ch !== null) {
    const ciphers = ch.ciphers.filter((c) => !isGrease(c));
    const exts = ch.exts.map((e) => e.type).filter((t) => !isGrease(t));
    out.tls_cipher_count = ch.ciphers.length;
    out.tls_extension_count = ch.exts.length;
    out.tls_session_id_len = ch.sessionIdLen;
    out.tls_session_ticket_ext = exts.includes(35);
    out.tls_psk_ext = exts.includes(41);
    out.tls_early_data_ext = exts.includes(42);
    out.tls_client_version = ch.version;
    out.tls_alpn_offered = alpnOffered!;
    out.tls_ciphers = ciphers;
    out.tls_extensions = exts;
    out.tls_supported_groups = fieldAll(ext(ch, 10), "tls.handshake.extensions_supported_group").map(num)
      .filter((g) => !isGrease(g));
    out.tls_signature_algorithms = fieldAll(ext(ch, 13), "tls.handshake.sig_hash_alg").map(num)
      .filter((g) => !isGrease(g));
  } else {
    for (const c of CH_COLUMNS) out[c] = null;
  }
  // ALPN: the server's selection, else the client's first offer.
  const shAlpn = sh === null ? undefined : ext(sh, 16);
  out.tls_alpn = shAlpn !== undefined
    ? String(firstField(shAlpn, "tls.handshake.extensions_alpn_str") ?? "")
    : alpnOffered !== null && alpnOffered.length > 0
    ? alpnOffered[0]
    : null;

  // Records in wire order per direction, and how far each direction's handshake went.
  const byDir = (d: string) => f.recs.filter((r) => r.dir === d);
  const clientRecs = byDir(client), serverRecs = byDir(server);
  const cEnd = handshakeEnd(clientRecs, tls13), sEnd = handshakeEnd(serverRecs, tls13);
  const plainRecs = [...clientRecs.slice(0, cEnd), ...serverRecs.slice(0, sEnd)];
  out.tls_handshake_packets = handshakeFrames(plainRecs).size;
  out.tls_alert_count = plainRecs.filter((r) => r.type === 21).length;
  out.tls_record_version = clientRecs.length > 0
    ? clientRecs[0].version
    : serverRecs.length > 0
    ? serverRecs[0].version
    : null;

  // Server certificates (TLS <= 1.2: in TLS 1.3 the Certificate message is encrypted).
  const certMsg = tls13 ? undefined : serverRecs.flatMap((r) => r.msgs).find((m) => m.type === 11);
  // Resumption: TLS 1.3 PSK accepted; or the server echoed the client's session id; or an abbreviated handshake
  // (the server's ChangeCipherSpec came without a Certificate before it).
  let resumed: boolean | null = null;
  if (sh !== null) {
    if (tls13) resumed = ext(sh, 41) !== undefined;
    else if (ch !== null && sh.sessionIdLen > 0 && sh.sessionId === ch.sessionId) resumed = true;
    else {
      resumed = false;
      for (const r of serverRecs) {
        if (r.msgs.some((m) => m.type === 11)) break;
        if (r.type === 20) {
          resumed = true;
          break;
        }
      }
    }
  }
  out.tls_session_resumed = resumed;
  if (certMsg !== undefined) {
    const lens = fieldAll(certMsg.node, "tls.handshake.certificate_length").map(num);
    out.tls_cert_count = lens.length;
    out.tls_cert_chain_length = lens.length;
    out.tls_cert_total_length = lens.reduce((s, x) => s + x, 0);
    out.tls_cert_first_length = lens.length > 0 ? lens[0] : null;
  } else {
    const z = resumed === true ? 0 : null;
    out.tls_cert_count = out.tls_cert_chain_length = out.tls_cert_total_length = z;
    out.tls_cert_first_length = null;
  }

  // Key exchange: TLS 1.3 key_share of the ServerHello, else the ServerKeyExchange.
  let group: number | null = null, bits: number | null = null;
  const ks = sh === null ? undefined : ext(sh, 51);
  if (ks !== undefined && firstField(ks, "tls.handshake.extensions_key_share_group") !== undefined) {
    group = num(firstField(ks, "tls.handshake.extensions_key_share_group"));
    bits = num(firstField(ks, "tls.handshake.extensions_key_share_key_exchange_length")) * 8;
  } else if (
    ks !== undefined && firstField(ks, "tls.handshake.extensions_key_share_selected_group") !== undefined
  ) {
    group = num(firstField(ks, "tls.handshake.extensions_key_share_selected_group"));
  } else {
    const ske = serverRecs.flatMap((r) => r.msgs).find((m) => m.type === 12);
    if (ske !== undefined) {
      const curveType = firstField(ske.node, "tls.handshake.server_curve_type");
      const p = firstField(ske.node, "tls.handshake.p");
      if (curveType !== undefined && num(curveType) === 3) {
        group = num(firstField(ske.node, "tls.handshake.server_named_curve"));
        bits = num(firstField(ske.node, "tls.handshake.server_point_len")) * 8;
      } else if (p !== undefined) {
        const bytes = String(p).split(":");
        let lead = 0;
        while (lead < bytes.length && bytes[lead] === "00") lead++;
        bits = (bytes.length - lead) * 8;
      }
    }
  }
  out.tls_key_exchange_group = group;
  out.tls_key_exchange_group_name = group === null ? null : GROUP_NAMES[group] ?? null;
  out.tls_key_exchange_length = bits;
  return out;
}

/**
 * How many of a direction's records (in wire order) belong to its handshake: up to its first application-data
 * record; in TLS <= 1.2 up to the (encrypted) Finished that follows its ChangeCipherSpec. A client's
 * ChangeCipherSpec followed by a ClientHello is TLS 1.3's middlebox-compatibility one before a second
 * ClientHello (after a HelloRetryRequest), which does not end anything.
 */
function handshakeEnd(recs: Rec[], tls13: boolean): number {
  let ccs = false;
  for (let i = 0; i < recs.length; i++) {
    const r = recs[i];
    if (r.type === 23) return i;
    if (r.type === 20 && !tls13) {
      const next = recs[i + 1];
      if (next !== undefined && next.msgs.some((m) => m.type === 1)) continue;
      ccs = true;
    } else if (ccs && r.type === 22) return i + 1; // the Finished
  }
  return recs.length;
}

/** Frames that carried bytes of the given plaintext handshake records (every segment of a reassembled one). */
function handshakeFrames(recs: Rec[]): Set<number> {
  const s = new Set<number>();
  for (const r of recs) if (r.type === 22) { for (const fr of r.frames) s.add(fr); }
  return s;
}

const CH_COLUMNS = [
  "tls_cipher_count",
  "tls_extension_count",
  "tls_session_id_len",
  "tls_session_ticket_ext",
  "tls_psk_ext",
  "tls_early_data_ext",
  "tls_client_version",
  "tls_alpn_offered",
  "tls_ciphers",
  "tls_extensions",
  "tls_supported_groups",
  "tls_signature_algorithms",
];

/** The columns compared, in the table's order. */
const COLUMNS = [
  "tls_version",
  "tls_version_str",
  "tls_cipher_suite",
  "tls_cipher_count",
  "tls_extension_count",
  "tls_alpn",
  "tls_alpn_offered",
  "tls_handshake_packets",
  "tls_cert_count",
  "tls_cert_total_length",
  "tls_cert_first_length",
  "tls_cert_chain_length",
  "tls_session_id_len",
  "tls_session_ticket_ext",
  "tls_session_resumed",
  "tls_psk_ext",
  "tls_early_data_ext",
  "tls_key_exchange_group",
  "tls_key_exchange_group_name",
  "tls_key_exchange_length",
  "tls_ciphers",
  "tls_extensions",
  "tls_supported_groups",
  "tls_signature_algorithms",
  "tls_alert_count",
  "tls_client_version",
  "tls_record_version",
];

// ---------------------------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------------------------

/** Captures whose bytes contain something like a TLS handshake record header (a cheap pre-filter). */
function candidates(): string[] {
  const out: string[] = [];
  for (const e of [...Deno.readDirSync(CAPTURES)].sort((x, y) => x.name < y.name ? -1 : 1)) {
    if (!e.isFile) continue;
    const b = Deno.readFileSync(`${CAPTURES}/${e.name}`);
    for (let i = 0; i + 5 < b.length; i++) {
      if (b[i] === 0x16 && b[i + 1] === 3 && b[i + 2] <= 4 && (b[i + 5] === 1 || b[i + 5] === 2)) {
        out.push(e.name);
        break;
      }
    }
  }
  return out;
}

/** Runs `fn` over `items` with at most `n` running at once; results in order. */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

function show(v: unknown): string {
  return JSON.stringify(v === undefined ? null : v);
}

Deno.test({
  name: "tshark: tls handshake columns agree with tshark on every TLS-over-TCP flow of the corpus",
  ignore: !HAVE_CAPTURES || !HAVE_TSHARK,
  async fn() {
    const names = candidates();
    // tshark runs in two processes while jj reads the captures here.
    const dissected = pool(names, 2, (n) => tsharkJson(`${CAPTURES}/${n}`));
    // A tshark failure rejects `dissected` while jj runs: it is thrown by the `await` below, inside the test.
    dissected.catch(() => {});
    const jjByCapture: Map<string, FlowRecord[]>[] = [];
    for (const n of names) jjByCapture.push(await flowsByKey(`${CAPTURES}/${n}`, { features: ["tls"] }));
    const tsAll = await dissected;

    const compared: Record<string, number> = {}, matched: Record<string, number> = {};
    for (const c of COLUMNS) compared[c] = matched[c] = 0;
    const mismatches: { capture: string; key: string; column: string; want: unknown; got: unknown }[] = [];
    const notes: string[] = [];
    /** Flows where tshark dissects a TLS handshake and jj detects no TLS: never compared, so they fail. */
    const undetected: string[] = [];
    let flowsCompared = 0, capturesUsed = 0;
    for (let i = 0; i < names.length; i++) {
      const flows = tsharkFlows(names[i], tsAll[i]);
      let used = false;
      for (const f of flows.values()) {
        const recs = jjByCapture[i].get(f.key) ?? [];
        const detected = recs.filter((r) => r.tls_detected === true)
          .sort((x, y) => (x.start_time as number) - (y.start_time as number));
        if (detected.length === 0) {
          undetected.push(`${names[i]} ${f.key}: jj does not detect TLS (${recs.length} records)`);
          continue;
        }
        if (detected.length > 1) {
          notes.push(
            `${names[i]} ${f.key}: jj split the flow (idle timeout) into ${recs.length} records; ` +
              `the first holds the handshake and is compared, the ${detected.length - 1} later ones are not`,
          );
        }
        const got = detected[0];
        const want = model(f, `${got.src_ip}|${got.src_port}`);
        const skip = EXCLUDED.find((e) => e.capture === names[i] && e.key === f.key);
        used = true;
        flowsCompared++;
        for (const c of COLUMNS) {
          if (skip !== undefined && skip.columns.includes(c)) continue;
          compared[c]++;
          if (show(got[c]) === show(want[c])) matched[c]++;
          else mismatches.push({ capture: names[i], key: f.key, column: c, want: want[c], got: got[c] });
        }
      }
      // TLS flows jj finds where tshark dissects no TLS at all.
      for (const [key, recs] of jjByCapture[i]) {
        if (key.startsWith("6|") && !flows.has(key) && recs.some((r) => r.tls_detected === true)) {
          notes.push(
            `${
              names[i]
            } ${key}: jj detects TLS, tshark shows no handshake, alert or CCS record (only application data, or no TLS: SOCKS4 payload, OpenVPN on port 443)`,
          );
        }
      }
      if (used) capturesUsed++;
    }

    const known = new Set<string>();
    for (const [column, cases] of Object.entries(KNOWN_BUGS)) {
      for (const [capture, key] of cases) known.add(`${capture} ${key} ${column}`);
    }
    const id = (m: { capture: string; key: string; column: string }) => `${m.capture} ${m.key} ${m.column}`;
    const wrong: Record<string, number> = {};
    for (const m of mismatches) wrong[m.column] = (wrong[m.column] ?? 0) + (known.has(id(m)) ? 1 : 0);
    const rows = COLUMNS.map((c) =>
      `${c.padEnd(30)} ${String(compared[c]).padStart(5)} ${String(matched[c]).padStart(5)} ` +
      `${String(wrong[c] ?? 0).padStart(5)}`
    );
    console.log(
      `tshark vs jj, tls columns: ${flowsCompared} flows in ${capturesUsed} captures\n` +
        `${"column".padEnd(30)} ${"cmp".padStart(5)} ${"match".padStart(5)} ${"bugs".padStart(5)}\n` +
        rows.join("\n"),
    );
    for (const e of EXCLUDED) {
      console.log(`not compared: ${e.capture} ${e.key} ${e.columns.join(",")}: ${e.why}`);
    }
    for (const n of notes) console.log(`note: ${n}`);

    const unexpected = mismatches.filter((m) => !known.has(id(m)));
    for (const m of unexpected) {
      console.log(`MISMATCH ${id(m)}: tshark ${show(m.want)} jj ${show(m.got)}`);
    }
    const seen = new Set(mismatches.map(id));
    const fixed = [...known].filter((k) => !seen.has(k));
    assert.deepEqual(unexpected, [], "mismatches not in KNOWN_BUGS");
    assert.deepEqual(fixed, [], "KNOWN_BUGS entries that now match: remove them");
    assert.deepEqual(undetected, [], "flows with a TLS handshake for tshark where jj detects no TLS");
    assert.ok(flowsCompared >= 200, `only ${flowsCompared} flows compared`);
    assert.ok(capturesUsed >= 35, `only ${capturesUsed} captures compared`);
  },
});
