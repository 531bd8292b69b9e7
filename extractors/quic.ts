/**
 * `quic`: QUIC detection by content on any port (IETF v1, v2, drafts, mvfst and Google QUIC), version, connection
 * ID and packet number lengths, Initial / 0-RTT / Retry packets, the spin bit, and from the decrypted client
 * Initial packets the ClientHello's SNI, ALPN, JA3 and JA4 (with the `q` prefix). Google QUIC gives the SNI of its
 * clear-text CHLO. Values are null for flows that are not QUIC; `quic_detected` is false for them.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import type { PacketView } from "../lib/packet.ts";
import { isGoogleVersion, QuicFlowAnalyzer, quicVersionString } from "../lib/protocols/quic.ts";
import { alpnText, clientHelloPrints, parseClientHello } from "../lib/protocols/tls.ts";

const f = (name: string, type: FeatureSpec["type"], description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "quic_detected",
    "bool",
    "True if a QUIC packet (long header of a known version, or a gQUIC public header) was seen.",
  ),
  f("quic_version", "int", "QUIC version of the first long header, as a 32-bit integer."),
  f(
    "quic_version_str",
    "str",
    'Readable version, as JoyfulJay writes it: "QUIC v1", "QUIC v2", "QUIC draft-29"; also "gQUIC Q046", ' +
      '"gQUIC T051", "QUIC mvfst-27".',
  ),
  f("quic_dcid_len", "int", "Destination Connection ID length of the first long header packet (bytes)."),
  f("quic_scid_len", "int", "Source Connection ID length of the first long header packet (bytes)."),
  f(
    "quic_pn_length",
    "int",
    "Packet number length of the first decrypted client Initial packet (1-4 bytes).",
  ),
  f("quic_initial_packets", "int", "Initial packets seen, both directions, coalesced ones included."),
  f("quic_0rtt_detected", "bool", "True if a 0-RTT packet was seen."),
  f("quic_retry_detected", "bool", "True if a Retry packet was seen."),
  f(
    "quic_spin_bit",
    "bool",
    "True if the spin bit is in use: it changed between consecutive short header packets of one direction " +
      "(it spins once per round trip; a disabled one keeps its value). Null without short headers.",
  ),
  f("quic_alpn", "str", "First ALPN protocol offered in the ClientHello."),
  f(
    "quic_sni",
    "str",
    "Server name from the ClientHello (or the gQUIC CHLO); of CRYPTO data sent twice with other bytes, the " +
      "first copy counts.",
  ),
  f("quic_ja4", "str", "JA4 fingerprint of the QUIC ClientHello (q prefix)."),
  f("quic_ja4_r", "str", "JA4 raw (unhashed) string of the QUIC ClientHello."),
  f("quic_ja3_hash", "str", "JA3 MD5 hash of the QUIC ClientHello."),
  f("quic_ja3_string", "str", "JA3 string of the QUIC ClientHello."),
  f("quic_alpn_offered", "list", "Every ALPN protocol offered in the ClientHello, in order."),
];

/** The ClientHello-derived columns. */
interface HelloColumns {
  sni: string | null;
  alpn: string[] | null;
  ja4: string | null;
  ja4r: string | null;
  ja3: string | null;
  ja3s: string | null;
}

const NO_HELLO: HelloColumns = { sni: null, alpn: null, ja4: null, ja4r: null, ja3: null, ja3s: null };

/** `quicVersionString` with JoyfulJay's prefix ("QUIC v1", "QUIC draft-29"); Google QUIC as "gQUIC Q046". */
function quicVersionLabel(v: number): string {
  return `${isGoogleVersion(v) ? "gQUIC" : "QUIC"} ${quicVersionString(v)}`;
}

function helloColumns(bytes: Uint8Array): HelloColumns {
  const ch = parseClientHello(bytes, 0, bytes.length);
  if (ch === null) return NO_HELLO;
  const prints = clientHelloPrints(ch, "q");
  return {
    // Its bytes as UTF-8, as tls_sni and the fingerprint lines read them.
    sni: ch.sni === null ? null : alpnText(ch.sni),
    alpn: ch.alpn.map(alpnText),
    ja4: prints.ja4,
    ja4r: prints.ja4r,
    ja3: prints.ja3Hash,
    ja3s: prints.ja3String,
  };
}

function writeNull(out: FlowRecord): void {
  out.quic_detected = false;
  // Pipeline records start with every column null; a record made by hand gets them here.
  if (out.quic_alpn_offered === undefined) {
    for (let i = 1; i < features.length; i++) out[features[i].name] = null;
  }
}

/**
 * The `quic` feature group (UDP flows only; state is null for other protocols).
 *
 * @example
 * ```ts
 * import { quicExtractor } from "./quic.ts";
 * console.log(quicExtractor.name, quicExtractor.features[0].name); // quic quic_detected
 * ```
 */
export const quicExtractor: FeatureExtractor<QuicFlowAnalyzer | null> = {
  name: "quic",
  features,
  init: (flow: FlowState): QuicFlowAnalyzer | null => flow.protocol === 17 ? new QuicFlowAnalyzer() : null,
  update: (s: QuicFlowAnalyzer | null, pkt: PacketView, _flow: FlowState, dir: 0 | 1): void => {
    if (s === null || pkt.proto !== 17 || pkt.isFragment || pkt.payloadCapLen <= 0) return;
    if (s.done && !s.detected) return;
    s.onDatagram(dir, pkt.buf, pkt.payloadOff, pkt.payloadCapLen);
  },
  finish: (s: QuicFlowAnalyzer | null, _flow: FlowState, out: FlowRecord): void => {
    if (s === null || !s.detected) {
      writeNull(out);
      return;
    }
    const v = s.version;
    out.quic_detected = true;
    out.quic_version = v;
    out.quic_version_str = v === null ? null : quicVersionLabel(v);
    out.quic_dcid_len = s.dcidLen;
    out.quic_scid_len = s.scidLen;
    out.quic_pn_length = s.pnLength;
    out.quic_initial_packets = s.initialPackets;
    out.quic_0rtt_detected = s.zeroRttPackets > 0;
    out.quic_retry_detected = s.retryPackets > 0;
    out.quic_spin_bit = s.shortPackets > 0 ? s.spinFlips > 0 : null;
    const h = s.clientHello !== null ? helloColumns(s.clientHello) : null;
    const alpn = h?.alpn ?? null;
    out.quic_alpn = alpn !== null && alpn.length > 0 ? alpn[0] : null;
    const chloSni = s.chlo?.sni ?? null;
    out.quic_sni = h?.sni ?? (chloSni === null ? null : alpnText(chloSni));
    out.quic_ja4 = h?.ja4 ?? null;
    out.quic_ja4_r = h?.ja4r ?? null;
    out.quic_ja3_hash = h?.ja3 ?? null;
    out.quic_ja3_string = h?.ja3s ?? null;
    out.quic_alpn_offered = alpn;
  },
};
