/**
 * Handshake fingerprints as a stream of events: one event per handshake message seen, emitted the moment the
 * analyzer that reads it has the whole message (not when the flow ends):
 *
 * - `tls_client`: a ClientHello is complete: `ja3`, `ja3_string`, `ja4`, `ja4_r`, `sni`, `alpn`;
 * - `tls_server`: a ServerHello: `ja3s`, `ja3s_string`, `version`, `cipher_suite`, `alpn`;
 * - `quic_client`: the ClientHello of the client Initials is decrypted: `ja4` (`q` prefix), `ja4_r`, `ja3`,
 *   `ja3_string`, `sni`, `alpn` (a gQUIC CHLO gives the SNI only);
 * - `quic_server`: the ServerHello of the server Initials: `ja3s`, `ja3s_string`, `version`, `cipher_suite`;
 * - `ssh_client` / `ssh_server`: a KEXINIT is parsed: `hassh` / `hassh_server` and the algorithm strings,
 *   `banner`, `software`;
 * - `tcp_syn` / `tcp_synack`: a SYN / SYN+ACK: `tcp_signature` (p0f 3 style), `p0f_raw`, TTL, window, MSS,
 *   window scale, options, quirks, `ja4t`.
 *
 * Every event also has `ts` (seconds since the epoch, of the packet that completed the message) and the 5-tuple
 * of that packet: `src_ip`, `src_port` (the sender: the client for `*_client` and `tcp_syn`), `dst_ip`,
 * `dst_port`, `protocol` (6 or 17).
 *
 * How it works: {@linkcode handshakeObserver} is a feature group (its one column, a count of events, is not
 * output) that runs after the `tls`, `quic` and `ssh` groups, reads their analyzers after every packet (so
 * nothing is parsed twice) and emits an event when an analyzer has just finished a message.
 * {@linkcode fingerprintCapture} and {@linkcode fingerprintLive} drive it with `extractFlows` / `captureFlows`
 * and hand the events out as they come, between two reads of the capture, while flows are still open.
 *
 * A JSON fingerprint database ({@linkcode FingerprintDb}, format in docs/fingerprint-db.md) labels the events.
 *
 * TCP signatures follow p0f 3 (`ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`), see
 * {@linkcode tcpSignature}.
 *
 * @module
 */
import type { FeatureExtractor, FlowRecord } from "./extractor.ts";
import type { FlowState } from "./flow.ts";
import { type PacketView, TCP } from "./packet.ts";
import {
  type CaptureSource,
  extractFlows,
  type ExtractOptions,
  type ExtractSummary,
  InputError,
} from "./extract.ts";
import { captureFlows, type LiveOptions, type LiveSummary } from "./live.ts";
import {
  alpnText,
  type ClientHelloInfo,
  isHelloRetryRandom,
  ja3Hash,
  ja3sHash,
  ja3sString,
  ja3String,
  ja4,
  ja4Raw,
  parseClientHello,
  parseServerHello,
  type ServerHelloInfo,
  tlsVersionName,
} from "./protocols/tls.ts";
import { QuicFlowAnalyzer, quicVersionString } from "./protocols/quic.ts";
import { hassh, hasshString, type SshBanner, type SshDirectionParser } from "./protocols/ssh.ts";
import { TlsState } from "../extractors/tls.ts";
import { SshState } from "../extractors/ssh.ts";
import { ja4t, osHint, type SynInfo } from "../extractors/tcp_fingerprint.ts";
import { tcpOptionKinds, tcpOptionsCut } from "../extractors/tcp_options.ts";

// ---------------------------------------------------------------------------------------------------------
// events

/** The kinds of handshake event. */
export type HandshakeType =
  | "tls_client"
  | "tls_server"
  | "quic_client"
  | "quic_server"
  | "ssh_client"
  | "ssh_server"
  | "tcp_syn"
  | "tcp_synack";

/** Every event type, in documentation order. */
export const HANDSHAKE_TYPES: readonly HandshakeType[] = [
  "tls_client",
  "tls_server",
  "quic_client",
  "quic_server",
  "ssh_client",
  "ssh_server",
  "tcp_syn",
  "tcp_synack",
];

/** What a database entry that matched says (see {@linkcode FingerprintDb}). */
export interface DbMatch {
  /** Kind of fingerprint that matched (see {@linkcode FINGERPRINT_KINDS}). */
  type: FingerprintKind;
  /** The entry's fingerprint (for TCP signatures, the pattern, possibly with wildcards). */
  fingerprint: string;
  /** What the fingerprint is, e.g. "curl 7.68 (OpenSSL)". */
  label: string;
  /** The entry's notes, or null. */
  notes: string | null;
}

/** Fields every event has. */
export interface EventBase {
  type: HandshakeType;
  /** Time of the packet that completed the message, seconds since the epoch. */
  ts: number;
  /** Sender of the message. */
  src_ip: string;
  src_port: number;
  /** Receiver of the message. */
  dst_ip: string;
  dst_port: number;
  /** 6 (TCP) or 17 (UDP). */
  protocol: number;
  /** Set only when a database is used: the matching entry, or null for an unknown fingerprint. */
  match?: DbMatch | null;
}

/** A TLS ClientHello (over TCP, after STARTTLS, or in an OpenVPN control channel). */
export interface TlsClientEvent extends EventBase {
  type: "tls_client";
  /** JA3 MD5 and string as Wireshark computes them; null for a ClientHello cut short. */
  ja3: string | null;
  ja3_string: string | null;
  /** JA4 and JA4_r (FoxIO), transport `t`. */
  ja4: string;
  ja4_r: string;
  /** First server name, or null. */
  sni: string | null;
  /** ALPN protocols offered, in order. */
  alpn: string[];
}

/** A TLS ServerHello (the first one that is not a HelloRetryRequest). */
export interface TlsServerEvent extends EventBase {
  type: "tls_server";
  /** JA3S MD5 and string as Wireshark computes them; null for a ServerHello cut short. */
  ja3s: string | null;
  ja3s_string: string | null;
  /** Selected version ("TLS 1.3"...), cipher suite, and ALPN protocol (or null). */
  version: string | null;
  cipher_suite: number;
  alpn: string | null;
  /** A HelloRetryRequest came first. */
  hello_retry: boolean;
}

/** The ClientHello of a QUIC connection (decrypted from the client Initial packets), or a gQUIC CHLO. */
export interface QuicClientEvent extends EventBase {
  type: "quic_client";
  /** QUIC version ("v1", "draft-29", "Q046"...) of the packets that carried the ClientHello (after a Version
   * Negotiation, the version the client went on in), or null. */
  quic_version: string | null;
  /** JA4 (`q` prefix), JA4_r, JA3 and its string; null for Google QUIC, whose CHLO is not TLS. */
  ja4: string | null;
  ja4_r: string | null;
  ja3: string | null;
  ja3_string: string | null;
  /** Server name (ClientHello or gQUIC CHLO). */
  sni: string | null;
  /** ALPN protocols offered; null for Google QUIC (a CHLO has none, as the `quic` group's column). */
  alpn: string[] | null;
}

/** The ServerHello of a QUIC connection (decrypted from the server Initial packets). */
export interface QuicServerEvent extends EventBase {
  type: "quic_server";
  /** QUIC version of the packets that carried the ServerHello (a v1 connection answered in v2, RFC 9368: v2),
   * or null. */
  quic_version: string | null;
  /** JA3S and its string as Wireshark computes them for QUIC; null for a ServerHello cut short. */
  ja3s: string | null;
  ja3s_string: string | null;
  /** Selected TLS version, cipher suite, ALPN protocol (or null). */
  version: string | null;
  cipher_suite: number;
  alpn: string | null;
  /** A HelloRetryRequest came first (a flow that only had one: this line is it). */
  hello_retry: boolean;
}

/** An SSH KEXINIT (client or server side), or the banner alone when no KEXINIT could be read. */
export interface SshEvent extends EventBase {
  type: "ssh_client" | "ssh_server";
  /** HASSH (client) or HASSH-server (server), and the algorithm string it hashes; null without a KEXINIT. */
  hassh?: string | null;
  hassh_string?: string | null;
  hassh_server?: string | null;
  hassh_server_string?: string | null;
  /** The identification line ("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3") and its software part, or null. */
  banner: string | null;
  software: string | null;
}

/** A TCP SYN or SYN+ACK signature, p0f 3 style (see {@linkcode tcpSignature}). */
export interface TcpEvent extends EventBase, TcpSignature {
  type: "tcp_syn" | "tcp_synack";
  /** JA4T of a SYN, JA4TS of a SYN+ACK (`window_optionkinds_mss_windowscale`), as the `tcp_fingerprint` group
   * writes it. */
  ja4t: string | null;
  /** The `tcp_fingerprint` group's coarse OS family from the TTL and option layout ("linux", "windows"...). Both
   * are null when the capture cut the options short (quirk `bad`). */
  os_hint: string | null;
}

/** One handshake event. */
export type HandshakeEvent =
  | TlsClientEvent
  | TlsServerEvent
  | QuicClientEvent
  | QuicServerEvent
  | SshEvent
  | TcpEvent;

// ---------------------------------------------------------------------------------------------------------
// p0f-style TCP signatures

/** The p0f-style description of a SYN or SYN+ACK. */
export interface TcpSignature {
  /**
   * `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`, the p0f 3 signature with the guessed initial TTL
   * (what a database entry matches), e.g. `4:64:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0`.
   */
  tcp_signature: string;
  /** The same as p0f prints it in `raw_sig`: observed TTL plus distance (`4:52+12:...`, `+?` when far). */
  p0f_raw: string;
  /** IP version, observed TTL (hop limit), guessed initial TTL (32, 64, 128, 255) and the difference. */
  ip_version: number;
  ttl: number;
  ittl: number;
  distance: number;
  /** IPv4 option bytes (0 for IPv6). */
  ip_options_length: number;
  /** Window field, MSS option (null when absent), window scale option (null when absent). */
  window: number;
  mss: number | null;
  window_scale: number | null;
  /** Option layout, e.g. "mss,sok,ts,nop,ws" (`eol+N`, `?K` for other kinds). */
  options: string;
  /** p0f quirks, in p0f's order: df, id+, id-, ecn, 0+, flow, seq-, ack+, ack-, uptr+, urgf+, pushf+, ts1-,
   * ts2+, opt+, exws, bad. */
  quirks: string[];
  /** The segment carries payload (p0f payload class "+"). */
  payload: boolean;
}

const MAX_DIST = 35;
const MAX_TCP_OPT = 24;
const SPECIAL_MSS = 1331;

/** Quirk bits in p0f's print order. */
const QUIRK_NAMES = [
  "df",
  "id+",
  "id-",
  "ecn",
  "0+",
  "flow",
  "seq-",
  "ack+",
  "ack-",
  "uptr+",
  "urgf+",
  "pushf+",
  "ts1-",
  "ts2+",
  "opt+",
  "exws",
  "bad",
] as const;
const Q = {
  DF: 1 << 0,
  NZ_ID: 1 << 1,
  ZERO_ID: 1 << 2,
  ECN: 1 << 3,
  NZ_MBZ: 1 << 4,
  FLOW: 1 << 5,
  ZERO_SEQ: 1 << 6,
  NZ_ACK: 1 << 7,
  ZERO_ACK: 1 << 8,
  NZ_URG: 1 << 9,
  URG: 1 << 10,
  PUSH: 1 << 11,
  ZERO_TS1: 1 << 12,
  NZ_TS2: 1 << 13,
  EOL_NZ: 1 << 14,
  EXWS: 1 << 15,
  BAD: 1 << 16,
} as const;

function guessIttl(ttl: number): number {
  return ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

/** p0f's `detect_win_multi`: "mss*N" / "mtu*N" when the window is a multiple of an MSS or MTU, else null. */
function windowMultiple(
  win: number,
  mss: number,
  ts1: number,
  ipVersion: number,
  totHdr: number,
  synMss: number,
): string | null {
  if (win === 0 || mss < 100) return null;
  const divs: [number, string][] = [[mss, "mss"]];
  if (ts1 !== 0) divs.push([mss - 12, "mss"]);
  divs.push([1460, "mss"], [1448, "mss"]);
  if (ipVersion === 6) divs.push([1440, "mss"], [1428, "mss"]);
  divs.push([mss + 40, "mtu"], [mss + totHdr, "mtu"]);
  if (ipVersion === 6) divs.push([mss + 60, "mtu"]);
  divs.push([1500, "mtu"]);
  if (synMss > 0) {
    divs.push([synMss, "mss"]);
    if (synMss > 12) divs.push([synMss - 12, "mss"]);
  }
  for (const [d, kind] of divs) if (d > 0 && win % d === 0) return `${kind}*${win / d}`;
  return null;
}

function readU32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

/**
 * The p0f 3 signature of a TCP SYN or SYN+ACK, computed as p0f 3.09 does (`process.c` / `fp_tcp.c`), or null
 * for a packet that is not a SYN or SYN+ACK (or is a fragment or has silly flags). `synMss` is the MSS of the
 * flow's SYN, which a SYN+ACK's window may be a multiple of (0 when unknown).
 *
 * Differences from p0f: IPv6 extension headers are skipped (p0f ignores such packets), `ack+` is set for any
 * non-zero acknowledgment number on a segment without ACK (p0f 3.09 tests only its lowest bit), and options cut
 * off by the snap length count as `bad`.
 *
 * @example
 * ```ts
 * import { tcpSignature } from "./fingerprint.ts";
 * import { PacketView } from "./packet.ts";
 * console.log(tcpSignature(new PacketView(), 0)); // null (not TCP)
 * ```
 */
export function tcpSignature(p: PacketView, synMss: number): TcpSignature | null {
  // Fragments are left out, as p0f leaves them: a first fragment's options and payload may go on in the next
  // (IPv6's Fragment header too: its SYN was fingerprinted with the options cut at the fragment's end).
  if (p.proto !== 6 || p.tcpHdrLen < 20 || p.fragmented) return null;
  const b = p.buf, t = p.l4Off;
  if (t + 20 > p.end || t + 20 > b.length) return null;
  const flags = b[t + 13];
  const kind = flags & (TCP.SYN | TCP.ACK | TCP.FIN | TCP.RST);
  if (kind !== TCP.SYN && kind !== (TCP.SYN | TCP.ACK)) return null;
  const v = p.ipVersion;
  let quirks = 0;
  let olen = 0;
  if (v === 4) {
    olen = Math.max(0, p.ipHdrLen - 20);
    if ((p.tos & 0x03) !== 0) quirks |= Q.ECN;
    if ((p.ipFlags & 4) !== 0) quirks |= Q.NZ_MBZ;
    if ((p.ipFlags & 2) !== 0) {
      quirks |= Q.DF;
      if (p.ipId !== 0) quirks |= Q.NZ_ID;
    } else if (p.ipId === 0) quirks |= Q.ZERO_ID;
  } else if (v === 6) {
    if (p.flowLabel !== 0) quirks |= Q.FLOW;
    if ((p.tos & 0x03) !== 0) quirks |= Q.ECN;
  } else return null;
  const doff = p.tcpHdrLen;
  const win = (b[t + 14] << 8) | b[t + 15];
  const seq = readU32(b, t + 4);
  const ack = readU32(b, t + 8);
  const urg = (b[t + 18] << 8) | b[t + 19];
  if ((flags & (TCP.ECE | TCP.CWR)) !== 0 || (b[t + 12] & 0x01) !== 0) quirks |= Q.ECN;
  if (seq === 0) quirks |= Q.ZERO_SEQ;
  if ((flags & TCP.ACK) !== 0) {
    if (ack === 0) quirks |= Q.ZERO_ACK;
  } else if (ack !== 0 && (flags & TCP.RST) === 0) quirks |= Q.NZ_ACK;
  if ((flags & TCP.URG) !== 0) quirks |= Q.URG;
  else if (urg !== 0) quirks |= Q.NZ_URG;
  if ((flags & TCP.PSH) !== 0) quirks |= Q.PUSH;

  // options, as p0f walks them
  const layout: string[] = [];
  let mss = 0, ws = 0, ts1 = 0, eolPad = 0;
  let hasMss = false, hasWs = false;
  const declaredEnd = t + doff;
  const optEnd = Math.min(declaredEnd, p.end, b.length);
  if (optEnd < declaredEnd) quirks |= Q.BAD;
  let o = t + 20;
  let aborted = false;
  while (o < optEnd && layout.length < MAX_TCP_OPT) {
    const k = b[o++];
    if (k === 0) {
      eolPad = declaredEnd - o;
      layout.push(`eol+${eolPad}`);
      while (o < optEnd && b[o] === 0) o++;
      if (o !== optEnd) quirks |= Q.EOL_NZ;
      o = optEnd;
      break;
    }
    if (k === 1) {
      layout.push("nop");
      continue;
    }
    if (o >= optEnd) {
      layout.push(
        k === 2 ? "mss" : k === 3 ? "ws" : k === 4 ? "sok" : k === 5 ? "sack" : k === 8 ? "ts" : `?${k}`,
      );
      aborted = true;
      break;
    }
    const len = b[o];
    if (k === 2) {
      layout.push("mss");
      if (len !== 4) quirks |= Q.BAD;
      if (o + 3 > optEnd) {
        aborted = true;
        break;
      }
      mss = (b[o + 1] << 8) | b[o + 2];
      hasMss = true;
      o += 3;
    } else if (k === 3) {
      layout.push("ws");
      if (len !== 3) quirks |= Q.BAD;
      if (o + 2 > optEnd) {
        aborted = true;
        break;
      }
      ws = b[o + 1];
      hasWs = true;
      if (ws > 14) quirks |= Q.EXWS;
      o += 2;
    } else if (k === 4) {
      layout.push("sok");
      if (len !== 2) quirks |= Q.BAD;
      if (o + 1 > optEnd) {
        aborted = true;
        break;
      }
      o += 1;
    } else if (k === 5) {
      layout.push("sack");
      if (len < 10 || len > 34 || o - 1 + len > optEnd) {
        aborted = true;
        break;
      }
      o += len - 1;
    } else if (k === 8) {
      layout.push("ts");
      if (len !== 10) quirks |= Q.BAD;
      if (o + 9 > optEnd) {
        aborted = true;
        break;
      }
      ts1 = readU32(b, o + 1);
      if (ts1 === 0) quirks |= Q.ZERO_TS1;
      if (kind === TCP.SYN && readU32(b, o + 5) !== 0) quirks |= Q.NZ_TS2;
      o += 9;
    } else {
      layout.push(`?${k}`);
      if (len < 2 || len > 40 || o - 1 + len > optEnd) {
        aborted = true;
        break;
      }
      o += len - 1;
    }
  }
  if (aborted || o !== optEnd) quirks |= Q.BAD;

  const ttl = p.ttl;
  const ittl = guessIttl(ttl);
  const dist = ittl - ttl;
  const totHdr = p.ipHdrLen + doff;
  const multi = windowMultiple(win, mss, ts1, v, totHdr, kind === TCP.SYN ? 0 : synMss);
  const mssText = mss === SPECIAL_MSS && kind !== TCP.SYN ? "*" : String(mss);
  const names: string[] = [];
  for (let i = 0; i < QUIRK_NAMES.length; i++) if ((quirks & (1 << i)) !== 0) names.push(QUIRK_NAMES[i]);
  const options = layout.join(",");
  const rest = `:${olen}:${mssText}:${multi ?? win},${ws}:${options}:${names.join(",")}:${
    p.payloadLen > 0 ? "+" : "0"
  }`;
  return {
    tcp_signature: `${v}:${ittl}${rest}`,
    p0f_raw: `${v}:${ttl}+${dist > MAX_DIST ? "?" : dist}${rest}`,
    ip_version: v,
    ttl,
    ittl,
    distance: dist,
    ip_options_length: olen,
    window: win,
    mss: hasMss ? mss : null,
    window_scale: hasWs ? ws : null,
    options,
    quirks: names,
    payload: p.payloadLen > 0,
  };
}

// ---------------------------------------------------------------------------------------------------------
// the observer

const E_TLS_CLIENT = 1, E_TLS_SERVER = 2, E_QUIC = 4, E_SSH_CLIENT = 8, E_SSH_SERVER = 16, E_SYN = 32;
const E_SYNACK = 64, E_QUIC_SERVER = 128, E_SYN_PEER = 256;

/**
 * Per-flow state of {@linkcode handshakeObserver}: the analyzers of the groups that ran before it, and which
 * events were emitted.
 *
 * @example
 * ```ts
 * import { HandshakeState } from "./fingerprint.ts";
 * console.log(new HandshakeState().emitted); // 0
 * ```
 */
export class HandshakeState {
  /** The `tls` group's state (TCP and OpenVPN-over-UDP TLS), or null when that group does not run. */
  tls: TlsState | null = null;
  /** The `ssh` group's state, or null. */
  ssh: SshState | null = null;
  /** The `quic` group's analyzer, or null (the `tls` group's own one is used when `quic` does not run). */
  quic: QuicFlowAnalyzer | null = null;
  /** Bits of the events already emitted. */
  emitted = 0;
  /** MSS of the flow's SYN (for the SYN+ACK's window multiple), 0 when unknown. */
  synMss = 0;
  /** Direction of the first SYN emitted (-1 none): a SYN from the other one is a simultaneous open's. */
  synDir = -1;
  /** A TCP segment with payload was seen: no more SYNs to expect. */
  payloadSeen = false;
  /** Direction the ClientHello came from (-1 before it). */
  tlsClientDir = -1;
  /** When a HelloRetryRequest (TLS or QUIC) was first seen, 0 before: the time of its line if no ServerHello
   * follows it. */
  hrrTs = 0;
  /** When the SSH banners were first seen (for the banner-only events emitted at flow end). */
  bannerTs: number[] = [0, 0];
  /** Nothing more to learn from this flow. */
  done = false;
  /** TCP (true) or UDP (false). */
  tcp = true;
}

/** A sink for events. */
export type HandshakeSink = (event: HandshakeEvent) => void;

function base(
  type: HandshakeType,
  ts: number,
  flow: FlowState,
  fromInitiator: boolean,
): EventBase {
  return fromInitiator
    ? {
      type,
      ts,
      src_ip: flow.srcIp,
      src_port: flow.srcPort,
      dst_ip: flow.dstIp,
      dst_port: flow.dstPort,
      protocol: flow.protocol,
    }
    : {
      type,
      ts,
      src_ip: flow.dstIp,
      src_port: flow.dstPort,
      dst_ip: flow.srcIp,
      dst_port: flow.srcPort,
      protocol: flow.protocol,
    };
}

function text(s: string | null): string | null {
  return s === null ? null : alpnText(s);
}

function tlsClientEvent(ch: ClientHelloInfo, ts: number, flow: FlowState, dir: number): TlsClientEvent {
  return {
    ...base("tls_client", ts, flow, dir === 0),
    type: "tls_client",
    ja3: ch.truncated ? null : ja3Hash(ch),
    ja3_string: ch.truncated ? null : ja3String(ch),
    ja4: ja4(ch, "t"),
    ja4_r: ja4Raw(ch, "t"),
    sni: text(ch.sni),
    alpn: ch.alpn.map(alpnText),
  };
}

function tlsServerEvent(
  sh: ServerHelloInfo,
  hrr: boolean,
  ts: number,
  flow: FlowState,
  dir: number,
): TlsServerEvent {
  return {
    ...base("tls_server", ts, flow, dir === 0),
    type: "tls_server",
    ja3s: sh.truncated ? null : ja3sHash(sh),
    ja3s_string: sh.truncated ? null : ja3sString(sh),
    version: tlsVersionName(sh.selectedVersion ?? sh.version),
    cipher_suite: sh.cipherSuite,
    alpn: text(sh.alpn),
    hello_retry: hrr,
  };
}

function versionOf(v: number | null): string | null {
  return v === null ? null : quicVersionString(v);
}

function quicClientEvent(q: QuicFlowAnalyzer, ts: number, flow: FlowState): QuicClientEvent | null {
  const ch = q.clientHello !== null ? parseClientHello(q.clientHello, 0, q.clientHello.length) : null;
  if (ch === null && q.chlo === null) return null;
  return {
    ...base("quic_client", ts, flow, q.clientDir !== 1),
    type: "quic_client",
    quic_version: versionOf(q.clientHelloVersion ?? q.version),
    ja4: ch === null ? null : ja4(ch, "q"),
    ja4_r: ch === null ? null : ja4Raw(ch, "q"),
    ja3: ch === null || ch.truncated ? null : ja3Hash(ch),
    ja3_string: ch === null || ch.truncated ? null : ja3String(ch),
    sni: ch !== null ? text(ch.sni) : q.chlo?.sni ?? null,
    alpn: ch !== null ? ch.alpn.map(alpnText) : null,
  };
}

function quicServerEvent(
  q: QuicFlowAnalyzer,
  ts: number,
  flow: FlowState,
  hrr: boolean,
): QuicServerEvent | null {
  const sh = q.serverHello !== null ? parseServerHello(q.serverHello, 0, q.serverHello.length) : null;
  if (sh === null) return null;
  return {
    ...base("quic_server", ts, flow, q.clientDir === 1),
    type: "quic_server",
    quic_version: versionOf(q.serverHelloVersion ?? q.version),
    ja3s: sh.truncated ? null : ja3sHash(sh),
    ja3s_string: sh.truncated ? null : ja3sString(sh),
    version: tlsVersionName(sh.selectedVersion ?? sh.version),
    cipher_suite: sh.cipherSuite,
    alpn: text(sh.alpn),
    hello_retry: hrr,
  };
}

function sshEvent(
  server: boolean,
  parser: SshDirectionParser,
  ts: number,
  flow: FlowState,
  fromInitiator: boolean,
): SshEvent {
  const k = parser.kexInit;
  const banner: SshBanner | null = parser.banner;
  const ev: SshEvent = {
    ...base(server ? "ssh_server" : "ssh_client", ts, flow, fromInitiator),
    type: server ? "ssh_server" : "ssh_client",
  } as SshEvent;
  if (server) {
    ev.hassh_server = k !== null ? hassh(k, true) : null;
    ev.hassh_server_string = k !== null ? hasshString(k, true) : null;
  } else {
    ev.hassh = k !== null ? hassh(k, false) : null;
    ev.hassh_string = k !== null ? hasshString(k, false) : null;
  }
  ev.banner = banner?.raw ?? null;
  ev.software = banner?.software ?? null;
  return ev;
}

/** Emits what the TLS analyzer has finished since the last packet. */
function checkTls(s: HandshakeState, ts: number, flow: FlowState, dir: number, emit: HandshakeSink): void {
  const a = s.tls?.analyzer ?? null;
  if (a === null) return;
  if ((s.emitted & E_TLS_CLIENT) === 0 && a.clientHellos.length > 0) {
    s.emitted |= E_TLS_CLIENT;
    s.tlsClientDir = dir;
    emit(tlsClientEvent(a.clientHellos[0], ts, flow, dir));
  }
  if ((s.emitted & E_TLS_SERVER) === 0 && a.serverHellos.length > 0) {
    if (s.hrrTs === 0 && a.serverHellos[0].isHelloRetryRequest) s.hrrTs = ts;
    let hrr = false;
    for (const sh of a.serverHellos) {
      if (sh.isHelloRetryRequest) {
        hrr = true;
        continue;
      }
      s.emitted |= E_TLS_SERVER;
      emit(tlsServerEvent(sh, hrr, ts, flow, dir));
      break;
    }
  }
}

/** Emits the SSH KEXINITs parsed since the last packet (or banner-only events for a side that settled). */
function checkSsh(s: HandshakeState, ts: number, flow: FlowState, emit: HandshakeSink, final: boolean): void {
  const st = s.ssh;
  const sess = st?.session ?? null;
  if (st === null || sess === null) return;
  if ((s.emitted & E_SSH_CLIENT) === 0) checkSshSide(s, st, sess.client, false, ts, flow, emit, final);
  if ((s.emitted & E_SSH_SERVER) === 0) checkSshSide(s, st, sess.server, true, ts, flow, emit, final);
}

function checkSshSide(
  s: HandshakeState,
  st: SshState,
  parser: SshDirectionParser,
  server: boolean,
  ts: number,
  flow: FlowState,
  emit: HandshakeSink,
  final: boolean,
): void {
  const i = server ? 1 : 0;
  if (parser.banner !== null && s.bannerTs[i] === 0) s.bannerTs[i] = ts;
  if (parser.kexInit === null && (parser.banner === null || !(parser.settled || final))) return;
  s.emitted |= server ? E_SSH_SERVER : E_SSH_CLIENT;
  const senderDir = server ? st.serverDir : st.serverDir ^ 1;
  const when = parser.kexInit !== null ? ts : s.bannerTs[i] || ts;
  emit(sshEvent(server, parser, when, flow, senderDir === 0));
}

/**
 * Emits the QUIC ClientHello and ServerHello once each. The analyzer holds a HelloRetryRequest until the
 * ServerHello after it replaces it: that one is the server's line, or at the flow's end (`final`) the retry.
 */
function checkQuic(
  s: HandshakeState,
  ts: number,
  flow: FlowState,
  emit: HandshakeSink,
  final: boolean,
): void {
  const q = s.quic ?? s.tls?.quic ?? null;
  if (q === null || !q.detected) return;
  if ((s.emitted & E_QUIC) === 0 && (q.clientHello !== null || q.chlo !== null)) {
    const ev = quicClientEvent(q, ts, flow);
    if (ev !== null) {
      s.emitted |= E_QUIC;
      emit(ev);
    }
  }
  if ((s.emitted & E_QUIC_SERVER) === 0 && q.serverHello !== null) {
    const retry = isHelloRetryRandom(q.serverHello, 6);
    if (retry && s.hrrTs === 0) s.hrrTs = ts;
    if (retry && !final) return;
    s.emitted |= E_QUIC_SERVER;
    const ev = quicServerEvent(q, retry ? s.hrrTs : ts, flow, s.hrrTs !== 0);
    if (ev !== null) emit(ev);
  }
}

/**
 * A feature group that emits a {@linkcode HandshakeEvent} to `emit` when a handshake message
 * completes. It reads the analyzers of the `tls`, `quic` and `ssh` groups, so it must run after them (as an
 * extra extractor it does; {@linkcode fingerprintCapture} selects them); events a missing group would give are
 * not emitted. SYN and SYN+ACK signatures it computes itself. Each kind of event is emitted at most once per
 * flow: the first ClientHello, the first ServerHello that is not a HelloRetryRequest, the first SYN and SYN+ACK
 * (retransmissions are not repeated). An SSH side whose KEXINIT never came (SSH-1, a capture cut short) gets
 * its event, banner only, when it settles or when the flow ends.
 *
 * @example
 * ```ts
 * import { handshakeObserver, type HandshakeEvent } from "./fingerprint.ts";
 * import { extractFlows } from "./extract.ts";
 * const events: HandshakeEvent[] = [];
 * const observer = handshakeObserver((e) => events.push(e));
 * const opts = { features: ["tls", "quic", "ssh"], extractors: [observer] };
 * for await (const _ of extractFlows("testdata/http.pcap", opts)) {
 *   // flow records are not needed here
 * }
 * console.log(events.filter((e) => e.type === "tcp_syn").length > 0); // true
 * ```
 */
export function handshakeObserver(emit: HandshakeSink): FeatureExtractor<HandshakeState | null> {
  return {
    name: "handshake_events",
    features: [{
      name: "handshake_events",
      type: "int",
      description: "Handshake events emitted for the flow (fingerprint observer; not a flow feature).",
    }],
    init(flow: FlowState): HandshakeState | null {
      if (flow.protocol !== 6 && flow.protocol !== 17) return null;
      const s = new HandshakeState();
      s.tcp = flow.protocol === 6;
      for (const g of flow.groupState) {
        if (g instanceof TlsState) s.tls = g;
        else if (g instanceof SshState) s.ssh = g;
        else if (g instanceof QuicFlowAnalyzer) s.quic = g;
      }
      return s;
    },
    update(s: HandshakeState | null, p: PacketView, flow: FlowState, dir: 0 | 1): void {
      if (s === null || s.done) return;
      const ts = p.ts;
      if (s.tcp) {
        if (p.proto !== 6) return;
        if (!s.payloadSeen && (p.tcpFlags & TCP.SYN) !== 0) {
          const synack = (p.tcpFlags & TCP.ACK) !== 0;
          // In a simultaneous open each side sends its own SYN: both hosts are fingerprinted.
          const bit = synack ? E_SYNACK : s.synDir >= 0 && s.synDir !== dir ? E_SYN_PEER : E_SYN;
          if ((s.emitted & bit) === 0) {
            const sig = tcpSignature(p, synack ? s.synMss : 0);
            if (sig !== null) {
              s.emitted |= bit;
              if (!synack && sig.mss !== null) s.synMss = sig.mss;
              if (bit === E_SYN) s.synDir = dir;
              const info: SynInfo = {
                window: sig.window,
                ttl: sig.ttl,
                mss: sig.mss ?? -1,
                ws: sig.window_scale ?? -1,
                kinds: tcpOptionKinds(p),
                cut: tcpOptionsCut(p),
              };
              emit({
                ...base(synack ? "tcp_synack" : "tcp_syn", ts, flow, dir === 0),
                ...sig,
                ja4t: info.cut ? null : ja4t(info),
                os_hint: info.cut ? null : osHint(info),
              } as TcpEvent);
            }
          }
        }
        // A SYN's own data (TCP Fast Open) still leaves the SYN+ACK to come; so do the later fragments of a
        // fragmented SYN (no TCP header, their bytes its options and data).
        if (p.payloadLen > 0 && (p.tcpFlags & TCP.SYN) === 0 && !p.isFragment) s.payloadSeen = true;
        checkTls(s, ts, flow, dir, emit);
        checkSsh(s, ts, flow, emit, false);
        const tls = s.tls;
        const tlsOver = tls === null || tls.done || (s.emitted & (E_TLS_CLIENT | E_TLS_SERVER)) ===
            (E_TLS_CLIENT | E_TLS_SERVER);
        const ssh = s.ssh;
        const sshOver = ssh === null || ssh.notSsh ||
          (s.emitted & (E_SSH_CLIENT | E_SSH_SERVER)) === (E_SSH_CLIENT | E_SSH_SERVER);
        const synOver = s.payloadSeen || (s.emitted & (E_SYN | E_SYNACK)) === (E_SYN | E_SYNACK);
        if (tlsOver && sshOver && synOver) s.done = true;
        return;
      }
      if (p.proto !== 17) return;
      checkTls(s, ts, flow, dir, emit);
      checkQuic(s, ts, flow, emit, false);
      const q = s.quic ?? s.tls?.quic ?? null;
      const tls = s.tls;
      const tlsOver = tls === null ||
        (tls.analyzer === null ? tls.done : tls.analyzer.done ||
          (s.emitted & (E_TLS_CLIENT | E_TLS_SERVER)) === (E_TLS_CLIENT | E_TLS_SERVER));
      const quicOver = (s.emitted & (E_QUIC | E_QUIC_SERVER)) === (E_QUIC | E_QUIC_SERVER) ||
        (q !== null && q.done) ||
        (q === null && tls !== null && tls.done);
      if (tlsOver && quicOver) s.done = true;
    },
    finish(s: HandshakeState | null, flow: FlowState, out: FlowRecord): void {
      if (s === null) return;
      const ts = flow.lastTs;
      if (s.tcp) {
        checkSsh(s, ts, flow, emit, true);
        // A HelloRetryRequest with no ServerHello after it still says what the server is.
        const a = s.tls?.analyzer ?? null;
        if (a !== null && (s.emitted & E_TLS_SERVER) === 0 && a.serverHellos.length > 0) {
          s.emitted |= E_TLS_SERVER;
          emit(tlsServerEvent(a.serverHellos[0], true, s.hrrTs || ts, flow, s.tlsClientDir === 1 ? 0 : 1));
        }
      } else checkQuic(s, ts, flow, emit, true);
      let n = 0;
      for (let b = s.emitted; b !== 0; b &= b - 1) n++;
      out.handshake_events = n;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// the fingerprint database

/** Kinds of fingerprint a database entry can hold. */
export type FingerprintKind = "ja4" | "ja3" | "ja3s" | "hassh" | "hassh_server" | "tcp_syn" | "tcp_synack";

/** Every kind, as listed in docs/fingerprint-db.md. */
export const FINGERPRINT_KINDS: readonly FingerprintKind[] = [
  "ja4",
  "ja3",
  "ja3s",
  "hassh",
  "hassh_server",
  "tcp_syn",
  "tcp_synack",
];

/** One entry of the database file. */
export interface FingerprintEntry {
  /** Which fingerprint it is. */
  type: FingerprintKind;
  /** The value: an MD5 (ja3, ja3s, hassh, hassh_server), a JA4, or a p0f-style TCP signature. */
  fingerprint: string;
  /** What it identifies. */
  label: string;
  /** Free text. */
  notes?: string;
}

/** Which kinds each event type is looked up by, best first. */
const LOOKUP: Record<HandshakeType, FingerprintKind[]> = {
  tls_client: ["ja4", "ja3"],
  tls_server: ["ja3s"],
  quic_client: ["ja4", "ja3"],
  quic_server: ["ja3s"],
  ssh_client: ["hassh"],
  ssh_server: ["hassh_server"],
  tcp_syn: ["tcp_syn"],
  tcp_synack: ["tcp_synack"],
};

/** The value of an event for a kind, or null. */
function eventValue(ev: HandshakeEvent, kind: FingerprintKind): string | null {
  switch (kind) {
    case "ja4":
      return (ev as TlsClientEvent | QuicClientEvent).ja4 ?? null;
    case "ja3":
      return (ev as TlsClientEvent | QuicClientEvent).ja3 ?? null;
    case "ja3s":
      return (ev as TlsServerEvent | QuicServerEvent).ja3s ?? null;
    case "hassh":
      return (ev as SshEvent).hassh ?? null;
    case "hassh_server":
      return (ev as SshEvent).hassh_server ?? null;
    default:
      return (ev as TcpEvent).tcp_signature ?? null;
  }
}

/** Splits a TCP signature into its 9 parts (ver, ittl, olen, mss, wsize, scale, olayout, quirks, pclass). */
function signatureParts(sig: string): string[] | null {
  const f = sig.split(":");
  if (f.length !== 8) return null;
  const comma = f[4].lastIndexOf(",");
  if (comma < 0) return null;
  return [f[0], f[1], f[2], f[3], f[4].slice(0, comma), f[4].slice(comma + 1), f[5], f[6], f[7]];
}

/** The initial TTL of a signature's TTL field: "64", "52+12" (= 64), "89+?" (a distance past `MAX_DIST`: the
 * initial TTL guessed as the signature's own, 128). */
function ittlOf(field: string): number {
  const m = /^(\d+)(?:\+(\d+|\?))?$/.exec(field);
  if (m === null) return NaN;
  if (m[2] === "?") return guessIttl(Number(m[1]));
  return Number(m[1]) + (m[2] !== undefined ? Number(m[2]) : 0);
}

/**
 * Whether a database TCP signature `pattern` matches an observed `tcp_signature` (as {@linkcode tcpSignature}
 * writes it, optionally with its raw window `window`). Any field of the pattern may be `*`; the TTL field
 * compares initial TTLs ("64" and "52+12" are the same); the window matches the multiple the observed signature
 * shows ("mss*44") or the plain number; quirks compare as sets. Field by field otherwise.
 *
 * @example
 * ```ts
 * import { tcpSignatureMatches } from "./fingerprint.ts";
 * const sig = "4:64:0:1460:mss*44,7:mss,sok,ts,nop,ws:df,id+:0";
 * console.log(tcpSignatureMatches("*:64:0:*:mss*44,*:mss,sok,ts,nop,ws:id+,df:0", sig)); // true
 * ```
 */
export function tcpSignatureMatches(pattern: string, signature: string, window?: number): boolean {
  const pa = signatureParts(pattern), sa = signatureParts(signature);
  if (pa === null || sa === null) return false;
  for (let i = 0; i < 9; i++) {
    const want = pa[i], got = sa[i];
    if (want === "*") continue;
    if (i === 1) {
      if (ittlOf(want) !== ittlOf(got)) return false;
    } else if (i === 4) {
      if (want !== got && (window === undefined || want !== String(window))) return false;
    } else if (i === 7) {
      const a = want === "" ? [] : want.split(",").sort();
      const b = got === "" ? [] : got.split(",").sort();
      if (a.join(",") !== b.join(",")) return false;
    } else if (want !== got) return false;
  }
  return true;
}

/**
 * A fingerprint database: JSON entries of `type`, `fingerprint`, `label` and optional `notes` (the format is
 * in docs/fingerprint-db.md). Hashes and JA4 compare exactly (case-insensitive); TCP signatures may have
 * wildcards ({@linkcode tcpSignatureMatches}).
 *
 * @example
 * ```ts
 * import { FingerprintDb } from "./fingerprint.ts";
 * const db = FingerprintDb.parse('[{"type":"hassh","fingerprint":"EC7378C1A92F5A8DDE7E8B7A1DDF33D1","label":"x"}]');
 * console.log(db.size, db.lookup("hassh", "ec7378c1a92f5a8dde7e8b7a1ddf33d1")?.label); // 1 x
 * ```
 */
export class FingerprintDb {
  readonly #exact = new Map<string, FingerprintEntry>();
  readonly #tcp: FingerprintEntry[] = [];
  /** Entries loaded. */
  readonly size: number;

  private constructor(entries: FingerprintEntry[]) {
    for (const e of entries) {
      if (e.type === "tcp_syn" || e.type === "tcp_synack") this.#tcp.push(e);
      const key = `${e.type}\0${isHashKind(e.type) ? e.fingerprint.toLowerCase() : e.fingerprint}`;
      if (!this.#exact.has(key)) this.#exact.set(key, e);
    }
    this.size = entries.length;
  }

  /**
   * Parses the text of a database file: a JSON array of entries, or an object with a `fingerprints` array.
   * Throws {@linkcode InputError} naming the first bad entry.
   *
   * @example
   * ```ts
   * import { FingerprintDb } from "./fingerprint.ts";
   * console.log(FingerprintDb.parse('{"fingerprints": []}').size); // 0
   * ```
   */
  static parse(text: string, name = "fingerprint database"): FingerprintDb {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${name}: not JSON: ${(e as Error).message}`);
    }
    const list = Array.isArray(doc) ? doc : doc !== null && typeof doc === "object" &&
        Array.isArray((doc as { fingerprints?: unknown }).fingerprints)
      ? (doc as { fingerprints: unknown[] }).fingerprints
      : null;
    if (list === null) {
      throw new InputError(
        `${name}: expected a JSON array of entries or an object with a "fingerprints" array`,
      );
    }
    const entries: FingerprintEntry[] = [];
    list.forEach((raw: unknown, i: number) => {
      const where = `${name}: entry ${i}`;
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        throw new InputError(`${where}: not an object`);
      }
      const r = raw as Record<string, unknown>;
      if (typeof r.type !== "string" || !(FINGERPRINT_KINDS as readonly string[]).includes(r.type)) {
        throw new InputError(`${where}: "type" must be one of ${FINGERPRINT_KINDS.join(", ")}`);
      }
      if (typeof r.fingerprint !== "string" || r.fingerprint === "") {
        throw new InputError(`${where}: "fingerprint" must be a non-empty string`);
      }
      if (typeof r.label !== "string" || r.label === "") {
        throw new InputError(`${where}: "label" must be a non-empty string`);
      }
      if (r.notes !== undefined && typeof r.notes !== "string") {
        throw new InputError(`${where}: "notes" must be a string`);
      }
      const type = r.type as FingerprintKind;
      if ((type === "tcp_syn" || type === "tcp_synack") && signatureParts(r.fingerprint) === null) {
        throw new InputError(
          `${where}: a TCP signature has the form ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`,
        );
      }
      if (isHashKind(type) && !/^[0-9a-fA-F]{32}$/.test(r.fingerprint)) {
        throw new InputError(`${where}: a ${type} fingerprint is 32 hexadecimal digits`);
      }
      entries.push({
        type,
        fingerprint: r.fingerprint,
        label: r.label,
        ...(r.notes !== undefined ? { notes: r.notes as string } : {}),
      });
    });
    return new FingerprintDb(entries);
  }

  /**
   * Reads and parses a database file; throws {@linkcode InputError} when it cannot.
   *
   * @example
   * ```ts
   * import { FingerprintDb } from "./fingerprint.ts";
   * const db = await FingerprintDb.load("testdata/fingerprints.json");
   * console.log(db.size > 0); // true
   * ```
   */
  static async load(path: string): Promise<FingerprintDb> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new InputError(`cannot read the fingerprint database ${path}: ${(e as Error).message}`);
    }
    return FingerprintDb.parse(text, path);
  }

  /**
   * The entry for one fingerprint value of a kind, or null (TCP kinds: the first entry whose pattern matches).
   *
   * @example
   * ```ts
   * import { FingerprintDb } from "./fingerprint.ts";
   * console.log(FingerprintDb.parse("[]").lookup("ja3", "00")); // null
   * ```
   */
  lookup(kind: FingerprintKind, value: string, window?: number): FingerprintEntry | null {
    const key = `${kind}\0${isHashKind(kind) ? value.toLowerCase() : value}`;
    const hit = this.#exact.get(key);
    if (hit !== undefined) return hit;
    if (kind === "tcp_syn" || kind === "tcp_synack") {
      for (const e of this.#tcp) {
        if (e.type === kind && tcpSignatureMatches(e.fingerprint, value, window)) return e;
      }
    }
    return null;
  }

  /**
   * The best match for an event (JA4 before JA3 for client hellos), or null when its fingerprints are unknown.
   *
   * @example
   * ```ts
   * import { FingerprintDb, type HandshakeEvent } from "./fingerprint.ts";
   * const hash = "21b457a327ce7a2d4fce5ef2c42400bd";
   * const db = FingerprintDb.parse(JSON.stringify([{ type: "hassh", fingerprint: hash, label: "OpenSSH" }]));
   * const ev = { type: "ssh_client", ts: 0, src_ip: "10.0.0.1", src_port: 5000, dst_ip: "10.0.0.2", dst_port: 22,
   *   protocol: 6, hassh: hash, banner: null, software: null } as HandshakeEvent;
   * console.log(db.match(ev)?.label); // OpenSSH
   * ```
   */
  match(ev: HandshakeEvent): DbMatch | null {
    for (const kind of LOOKUP[ev.type]) {
      const v = eventValue(ev, kind);
      if (v === null) continue;
      const e = this.lookup(kind, v, (ev as TcpEvent).window);
      if (e !== null) {
        return { type: kind, fingerprint: e.fingerprint, label: e.label, notes: e.notes ?? null };
      }
    }
    return null;
  }
}

function isHashKind(k: FingerprintKind): boolean {
  return k === "ja3" || k === "ja3s" || k === "hassh" || k === "hassh_server";
}

// ---------------------------------------------------------------------------------------------------------
// driving the observer over a capture or a live interface

/** The feature groups whose analyzers the observer reads. */
export const HANDSHAKE_GROUPS: readonly string[] = ["tls", "quic", "ssh"];

/** Options shared by {@linkcode fingerprintCapture} and {@linkcode fingerprintLive}. */
export interface FingerprintOptions {
  /** Annotate each event with `match` from this database. */
  db?: FingerprintDb | null;
  /** Emit only these event types (default all). */
  types?: readonly HandshakeType[];
}

/** `options` without the keys of {@linkcode FingerprintOptions}. */
function omitFingerprintOptions<O extends object>(options: O & FingerprintOptions): Omit<O, "db" | "types"> {
  const { db: _db, types: _types, ...rest } = options;
  return rest;
}

/**
 * Runs `start` with a fresh observer and yields its events as they are emitted: between two reads of the
 * source (the pipeline runs synchronously within a read, and the source's generator awaits between reads), not
 * only when the source yields a flow record.
 */
async function* drive<R>(
  start: (observer: FeatureExtractor<HandshakeState | null>) => AsyncGenerator<unknown, R, void>,
  o: FingerprintOptions,
): AsyncGenerator<HandshakeEvent, R, void> {
  const db = o.db ?? null;
  const only = o.types !== undefined && o.types.length > 0 ? new Set(o.types) : null;
  let queue: HandshakeEvent[] = [];
  let wake: (() => void) | null = null;
  const observer = handshakeObserver((ev) => {
    if (only !== null && !only.has(ev.type)) return;
    queue.push(ev);
    if (wake !== null) {
      const w = wake;
      wake = null;
      w();
    }
  });
  const it = start(observer);
  const step = (): Promise<IteratorResult<unknown, R>> => {
    const p = it.next();
    p.catch(() => {}); // awaited below; this only keeps a rejection during a yield from counting as unhandled
    return p;
  };
  let pending = step();
  let finished = false;
  try {
    for (;;) {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        for (const ev of batch) {
          if (db !== null) ev.match = db.match(ev);
          yield ev;
        }
      }
      const woke = new Promise<"wake">((resolve) => wake = () => resolve("wake"));
      const r = await Promise.race([pending, woke]);
      wake = null;
      if (r === "wake") continue;
      if (r.done) {
        finished = true;
        for (const ev of queue) {
          if (db !== null) ev.match = db.match(ev);
          yield ev;
        }
        queue = [];
        return r.value;
      }
      pending = step();
    }
  } finally {
    // Stopped early by the consumer: the source ends at its next step (a live capture keeps running until
    // then; stop it with its `signal`).
    if (!finished) it.return(undefined as R).catch(() => {});
  }
}

/**
 * Reads captures (paths, directories, `-`, streams, as {@linkcode extractFlows} takes them) and yields one event
 * per handshake as soon as it is read; returns the reading totals. `options` are `extractFlows`' (its
 * `features` and `extractors` are set here) plus a database and a type filter.
 *
 * @example
 * ```ts
 * import { fingerprintCapture } from "./fingerprint.ts";
 * for await (const ev of fingerprintCapture("testdata/http.pcap")) {
 *   console.log(ev.type, ev.src_ip, ev.dst_port);
 * }
 * ```
 */
export function fingerprintCapture(
  source: CaptureSource | CaptureSource[],
  options: ExtractOptions & FingerprintOptions = {},
): AsyncGenerator<HandshakeEvent, ExtractSummary, void> {
  return drive(
    (observer) =>
      extractFlows(source, {
        // The extraction's options, without the fingerprint ones (extractFlows refuses what it does not know).
        ...omitFingerprintOptions(options),
        // A connection that reuses the ports of a closed one is a flow of its own, with its own handshakes.
        tcpEnd: options.tcpEnd ?? true,
        features: [...HANDSHAKE_GROUPS],
        extractors: [observer as FeatureExtractor<unknown>],
      }),
    options,
  );
}

/**
 * Captures on an interface (as {@linkcode captureFlows}; needs libpcap and root or CAP_NET_RAW) and yields one
 * event per handshake as soon as it is captured; returns the capture totals once `signal`, `duration` or
 * `count` stops it.
 *
 * @example
 * ```ts
 * import { fingerprintLive } from "./fingerprint.ts";
 * for await (const ev of fingerprintLive({ iface: "lo", filter: "tcp port 443", duration: 5 })) {
 *   console.log(JSON.stringify(ev));
 * }
 * ```
 */
export function fingerprintLive(
  options: LiveOptions & FingerprintOptions,
): AsyncGenerator<HandshakeEvent, LiveSummary, void> {
  return drive(
    (observer) =>
      captureFlows({
        // The capture's options, without the fingerprint ones (captureFlows refuses what it does not know).
        ...omitFingerprintOptions(options),
        tcpEnd: options.tcpEnd ?? true,
        features: [...HANDSHAKE_GROUPS],
        extractors: [observer as FeatureExtractor<unknown>],
      }),
    options,
  );
}
