/**
 * `tls`: TLS handshake features of TCP flows: versions, cipher suites, SNI, ALPN, JA3/JA3S (as Wireshark
 * computes them), JA4/JA4_r, certificates, session resumption and key exchange.
 *
 * TLS is recognised by content on any port (also after STARTTLS, SOCKS / HTTP CONNECT preambles and inside
 * OpenVPN over TCP or UDP). For QUIC flows the hellos decrypted from the Initial packets give the same columns
 * (JA4 with the "q" prefix); the `quic` group's analyzer is reused when that group runs. Each direction is reassembled with a bounded buffer; once the handshake has nothing more
 * to tell (encrypted data flows), the group stops looking at packets.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { md5Hex } from "../lib/protocols/hash.ts";
import { QuicFlowAnalyzer } from "../lib/protocols/quic.ts";
import {
  alpnText,
  type ClientHelloInfo,
  clientHelloPrints,
  isGrease,
  ja3sString,
  negotiatedVersion,
  parseClientHello,
  parseServerHello,
  type ServerHelloInfo,
  TlsFlowAnalyzer,
  tlsGroupName,
  tlsVersionName,
} from "../lib/protocols/tls.ts";

/**
 * Per-flow state of `tls`; the analyzer is created with the flow's first payload.
 *
 * @example
 * ```ts
 * import { TlsState } from "./tls.ts";
 * console.log(new TlsState().analyzer); // null
 * ```
 */
export class TlsState {
  /** The analyzer, once a payload was seen. */
  analyzer: TlsFlowAnalyzer | null = null;
  /** SYN sequence numbers per direction, replayed into the analyzer when it is created (bit d of synKnown). */
  syn0 = 0;
  syn1 = 0;
  synKnown = 0;
  /** Nothing more to do (neither TCP nor UDP, or the analyzer is done). */
  done = false;
  /** A UDP flow: only OpenVPN-over-UDP control channels are analysed here. */
  udp = false;
  /**
   * QUIC flows: the `quic` group's analyzer (shared, so Initial packets are decrypted once), or our own when
   * that group is not running. Its hellos give the fingerprint columns.
   */
  quic: QuicFlowAnalyzer | null = null;
  ownQuic = false;
}

const f = (name: string, type: FeatureSpec["type"], description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: readonly FeatureSpec[] = [
  f("tls_detected", "bool", "True when a TLS record stream was recognised in the flow."),
  f(
    "tls_version",
    "int",
    "Negotiated version (0x0303 TLS 1.2, 0x0304 TLS 1.3): ServerHello supported_versions, else ServerHello " +
      "version; without a ServerHello, the ClientHello's highest supported_versions entry, else its version.",
  ),
  f("tls_version_str", "str", 'Readable tls_version: "SSL 3.0", "TLS 1.0" ... "TLS 1.3".'),
  f("tls_cipher_suite", "int", "Cipher suite selected by the ServerHello."),
  f("tls_cipher_count", "int", "Cipher suites offered in the ClientHello (GREASE values included)."),
  f("tls_extension_count", "int", "Extensions in the ClientHello (GREASE values included)."),
  f("tls_sni", "str", "Server Name Indication host name from the ClientHello."),
  f(
    "tls_alpn",
    "str",
    "ALPN protocol selected by the server (TLS 1.2's ServerHello), else the first one offered by the client: " +
      "in TLS 1.3 the server's choice is encrypted, so there it is always the client's first offer, which the " +
      "server may not have taken.",
  ),
  f("ja3_hash", "str", "JA3 client fingerprint (MD5), as Wireshark's tls.handshake.ja3."),
  f("ja3s_hash", "str", "JA3S server fingerprint (MD5), as Wireshark's tls.handshake.ja3s."),
  f(
    "tls_handshake_packets",
    "int",
    "Packets carrying bytes of TLS handshake records: each TCP segment that holds any (a repeat of the same " +
      "bytes once), whatever the order they came in (tshark shows a record in the frame that completes it).",
  ),
  f(
    "tls_cert_count",
    "int",
    "Certificates in the server's Certificate message (0 on a resumed session over TCP, or when a full " +
      "handshake's cipher needs none: PSK, anonymous; null when they are encrypted: TLS 1.3 and QUIC).",
  ),
  f("tls_cert_total_length", "int", "Total bytes of the server's certificates."),
  f("tls_cert_first_length", "int", "Bytes of the server's own (first) certificate."),
  f("tls_cert_chain_length", "int", "Depth of the server's certificate chain (certificates sent)."),
  f("tls_session_id_len", "int", "Length of the ClientHello session id."),
  f("tls_session_ticket_ext", "bool", "ClientHello carries the session_ticket extension."),
  f(
    "tls_session_resumed",
    "bool",
    "The session was resumed (TLS 1.3 PSK accepted, or an abbreviated handshake); null without a ServerHello, " +
      "when a ChangeCipherSpec without a Certificate before it followed bytes never captured, or when neither " +
      "the server's ChangeCipherSpec nor a full handshake's message (Certificate to ClientKeyExchange) was seen.",
  ),
  f("tls_psk_ext", "bool", "ClientHello carries the pre_shared_key extension."),
  f("tls_early_data_ext", "bool", "ClientHello carries the early_data extension (0-RTT)."),
  f(
    "tls_key_exchange_group",
    "int",
    "Key exchange group: ServerHello key_share (TLS 1.3) or ServerKeyExchange curve (ECDHE).",
  ),
  f("tls_key_exchange_group_name", "str", 'Name of tls_key_exchange_group, e.g. "x25519", "secp256r1".'),
  f("tls_key_exchange_length", "int", "Key exchange data length in bits (server public key, or DHE prime)."),
  f("ja3_string", "str", "The JA3 input string."),
  f("ja3s_string", "str", "The JA3S input string."),
  f("ja4", "str", "JA4 client fingerprint (FoxIO)."),
  f("ja4_r", "str", "JA4_r: the JA4 fingerprint with its lists unhashed."),
  f("tls_alpn_offered", "list", "ALPN protocols offered by the client, in order."),
  f("tls_ciphers", "list", "Cipher suites offered by the client, in order (GREASE excluded)."),
  f("tls_extensions", "list", "ClientHello extension types, in order (GREASE excluded)."),
  f(
    "tls_supported_groups",
    "list",
    "Groups of the ClientHello supported_groups extension (GREASE excluded).",
  ),
  f("tls_signature_algorithms", "list", "ClientHello signature_algorithms, in order (GREASE excluded)."),
  f("tls_alert_count", "int", "TLS alert records seen during the handshake."),
  f("tls_client_version", "int", "ClientHello legacy version (client_version)."),
  f(
    "tls_record_version",
    "int",
    "Record-layer version of the client's first TLS record (the server's when the client's was not captured).",
  ),
];

/** The values of `list` that are not GREASE, as a new array. */
function nonGrease(list: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < list.length; i++) if (!isGrease(list[i])) out.push(list[i]);
  return out;
}

/**
 * Sets every column of the group to null when `out` does not have them yet. The pipeline's records start with
 * every declared column null, in order; a record made by hand (`{}`) gets them here, in the same order.
 */
function ensureColumns(out: FlowRecord): void {
  if (out.tls_record_version === undefined) { for (const spec of features) out[spec.name] = null; }
}

/** Writes the columns that come from the two hellos. */
function writeHellos(
  ch: ClientHelloInfo | null,
  sh: ServerHelloInfo | null,
  transport: "t" | "q",
  out: FlowRecord,
): void {
  if (sh !== null) out.tls_cipher_suite = sh.cipherSuite;
  if (ch !== null) {
    const ciphers = nonGrease(ch.ciphers);
    const extensions = nonGrease(ch.extensions);
    // Counts of what was offered, GREASE values included (JoyfulJay's and seed 004's meaning); the lists leave
    // GREASE out, as JA3 does.
    out.tls_cipher_count = ch.ciphers.length;
    out.tls_extension_count = ch.extensions.length;
    out.tls_sni = ch.sni === null ? null : alpnText(ch.sni);
    out.tls_session_id_len = ch.sessionId.length;
    out.tls_session_ticket_ext = ch.hasSessionTicket;
    out.tls_psk_ext = ch.hasPsk;
    out.tls_early_data_ext = ch.hasEarlyData;
    out.tls_client_version = ch.version;
    out.tls_alpn_offered = ch.alpn.map(alpnText);
    out.tls_ciphers = ciphers;
    out.tls_extensions = extensions;
    out.tls_supported_groups = nonGrease(ch.supportedGroups);
    out.tls_signature_algorithms = nonGrease(ch.signatureAlgorithms);
    const prints = clientHelloPrints(ch, transport);
    if (!ch.truncated) {
      out.ja3_string = prints.ja3String;
      out.ja3_hash = prints.ja3Hash;
    }
    out.ja4 = prints.ja4;
    out.ja4_r = prints.ja4r;
  }
  const alpn = sh !== null && sh.alpn !== null
    ? sh.alpn
    : ch !== null && ch.alpn.length > 0
    ? ch.alpn[0]
    : null;
  out.tls_alpn = alpn === null ? null : alpnText(alpn);
  if (sh !== null && !sh.truncated) {
    const ja3s = ja3sString(sh);
    out.ja3s_string = ja3s;
    out.ja3s_hash = md5Hex(ja3s);
  }
}

/** Writes the group's columns for a TCP (or OpenVPN) flow, analyzed or not. */
function write(a: TlsFlowAnalyzer | null, out: FlowRecord): void {
  ensureColumns(out);
  if (a === null || !a.detected) {
    out.tls_detected = false;
    return;
  }
  out.tls_detected = true;
  const version = a.version;
  out.tls_version = version;
  out.tls_version_str = tlsVersionName(version);
  writeHellos(a.clientHello, a.serverHello, "t", out);
  out.tls_handshake_packets = a.handshakePackets;
  const resumed = a.sessionResumed;
  out.tls_session_resumed = resumed;
  if (a.certCount !== null) {
    out.tls_cert_count = a.certCount;
    out.tls_cert_chain_length = a.certCount;
    out.tls_cert_total_length = a.certTotalLength;
    out.tls_cert_first_length = a.certFirstLength;
  } else if ((resumed === true || a.fullHandshake) && !a.gapSkipped) {
    // Resumed, or a full handshake whose cipher needs no certificate (PSK, anonymous): none was sent. Not when
    // bytes were never captured: the Certificate may have been in them.
    out.tls_cert_count = 0;
    out.tls_cert_chain_length = 0;
    out.tls_cert_total_length = 0;
  }
  const group = a.keyExchangeGroup;
  out.tls_key_exchange_group = group;
  out.tls_key_exchange_group_name = tlsGroupName(group);
  out.tls_key_exchange_length = a.keyExchangeBits;
  out.tls_alert_count = a.alertCount;
  out.tls_record_version = a.recordVersion;
}

/**
 * Writes the columns of a QUIC flow from the TLS hellos carried in its Initial packets (transport "q" for JA4).
 * Record-layer and certificate columns stay null: QUIC has no TLS records and encrypts the certificates.
 */
function writeQuic(q: QuicFlowAnalyzer, out: FlowRecord): boolean {
  const ch = q.clientHello !== null ? parseClientHello(q.clientHello, 0, q.clientHello.length) : null;
  const sh = q.serverHello !== null ? parseServerHello(q.serverHello, 0, q.serverHello.length) : null;
  if (ch === null && sh === null) return false;
  out.tls_detected = true;
  const version = negotiatedVersion(ch, sh);
  out.tls_version = version;
  out.tls_version_str = tlsVersionName(version);
  writeHellos(ch, sh, "q", out);
  if (sh !== null && !sh.isHelloRetryRequest) {
    out.tls_session_resumed = sh.hasPsk;
    out.tls_key_exchange_group = sh.keyShareGroup;
    out.tls_key_exchange_group_name = tlsGroupName(sh.keyShareGroup);
    out.tls_key_exchange_length = sh.keyShareLength === null ? null : sh.keyShareLength * 8;
  }
  return true;
}

/**
 * The `tls` group.
 *
 * @example
 * ```ts
 * import { tlsExtractor } from "./tls.ts";
 * console.log(tlsExtractor.features[0].name); // tls_detected
 * ```
 */
export const tlsExtractor: FeatureExtractor<TlsState> = {
  name: "tls",
  features,
  init(flow: FlowState): TlsState {
    const s = new TlsState();
    if (flow.protocol === 17) s.udp = true;
    else if (flow.protocol !== 6) s.done = true;
    return s;
  },
  update(s: TlsState, p: PacketView, flow: FlowState, dir: 0 | 1): void {
    if (s.done || p.isFragment) return;
    let a = s.analyzer;
    if (s.udp) {
      if (p.proto !== 17 || p.payloadCapLen <= 0) return;
      if (a === null && s.quic === null) {
        if (TlsFlowAnalyzer.isOpenVpnDatagram(p.buf, p.payloadOff, p.payloadCapLen)) {
          a = s.analyzer = new TlsFlowAnalyzer();
        } else {
          for (const g of flow.groupState) {
            if (g instanceof QuicFlowAnalyzer) {
              s.quic = g; // the quic group decrypts the Initials; read its hellos at the end
              s.done = true;
              return;
            }
          }
          s.quic = new QuicFlowAnalyzer();
          s.ownQuic = true;
        }
      }
      if (a !== null) {
        a.onDatagram(dir, p.buf, p.payloadOff, p.payloadCapLen);
        if (a.done) s.done = true;
      } else if (s.ownQuic && s.quic !== null) {
        s.quic.onDatagram(dir, p.buf, p.payloadOff, p.payloadCapLen);
        if (s.quic.done) s.done = true;
      }
      return;
    }
    if (p.proto !== 6 || p.tcpHdrLen === 0) return;
    if (a === null) {
      if ((p.tcpFlags & TCP.SYN) !== 0) {
        if (dir === 0) s.syn0 = p.tcpSeq;
        else s.syn1 = p.tcpSeq;
        s.synKnown |= 1 << dir;
      }
      if (p.payloadCapLen <= 0) return;
      a = new TlsFlowAnalyzer();
      if (s.synKnown & 1) a.onSegment(0, s.syn0, p.buf, 0, 0, TCP.SYN);
      if (s.synKnown & 2) a.onSegment(1, s.syn1, p.buf, 0, 0, TCP.SYN);
      s.analyzer = a;
    }
    a.onSegment(dir, p.tcpSeq, p.buf, p.payloadOff, p.payloadCapLen, p.tcpFlags, p.tcpAck);
    if (a.done) {
      s.done = true;
      if (!a.detected) s.analyzer = null; // nothing to report: let it go now
    }
  },
  finish(s: TlsState, _flow: FlowState, out: FlowRecord): void {
    s.analyzer?.endOfFlow();
    write(s.analyzer, out);
    if (s.analyzer === null && s.quic !== null && s.quic.detected) writeQuic(s.quic, out);
  },
};
