/**
 * `fingerprint`: is the flow Tor, a VPN (and which), or DNS over HTTPS, with a confidence for each, and an
 * overall `traffic_type`. Signals are behavioural and from the first payload bytes of each direction (VPN
 * handshake shapes), not ports alone:
 *
 * - Tor: a Tor-style random TLS server name (`www.<base32>.com`), Tor-cell-sized packets, Tor ports.
 * - VPN: OpenVPN hard-reset opcodes (UDP, or TCP with its length prefix), WireGuard message shapes, IPsec ESP/AH
 *   (protocols 50/51), IKE headers on UDP 500/4500, L2TP headers on UDP 1701; the well-known port alone is a
 *   weaker signal, and a majority of near-MTU packets adds a little.
 * - DoH: port 443 with a known DoH server name or resolver address, and DNS-sized exchanges.
 *
 * The server name comes from the `tls` and `quic` groups' `tls_sni` / `quic_sni`, and TLS, QUIC and SSH
 * detection from theirs: those groups run whenever this one does, before it (`GROUP_NEEDS` in
 * `lib/options.ts`); their columns are written only when their groups or columns are asked for.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { OPENVPN_HMAC_SIZES } from "../lib/protocols/tls.ts";
import { torCellSized } from "./padding.ts";

/** Signature bits found in a first payload. */
const Sig = {
  /** OpenVPN hard-reset opcodes, the same with the layout of a first reset, and a server reset that
   * acknowledges the client's session id. */
  OVPN_CLIENT_RESET: 1,
  OVPN_SERVER_RESET: 2,
  OVPN_SHAPED: 16,
  OVPN_ACKED: 32,
  IKE: 4,
  L2TP: 8,
  /** ESP in UDP on port 4500 (RFC 3948): a non-zero SPI where IKE has its zero non-ESP marker. */
  ESP_UDP: 64,
} as const;

/** Per-flow state of `fingerprint`. */
export class FingerprintState {
  /** Signature bits of each direction's first payload (-1 before it). */
  sigFwd = -1;
  sigBwd = -1;
  /** A packet came under an IPsec authentication header. */
  ah = false;
  /** The session id of an OpenVPN client reset (two 32-bit halves), -1 when none. */
  ovpnHi = -1;
  ovpnLo = -1;
  /** Packets with payload per direction, and payload bytes after each direction's first payload (the
   * handshake hello). */
  payloadPacketsFwd = 0;
  payloadPacketsBwd = 0;
  laterBytesFwd = 0;
  laterBytesBwd = 0;
  torCells = 0;
  nearMtu = 0;
  /** WireGuard: handshake initiation and response seen per direction, and transport data messages. */
  wgInitFwd = false;
  wgInitBwd = false;
  wgRespFwd = false;
  wgRespBwd = false;
  wgData = 0;
  /** The initiator's SYN was seen: it is the client, and only the responder's port says the service. */
  clientSyn = false;
}

const f = (name: string, type: "float" | "bool" | "str", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("likely_tor", "bool", "tor_confidence is at least 0.5."),
  f(
    "tor_confidence",
    "float",
    "0-1, 0 when the tls group found the flow is not TLS: Tor-style TLS server name www.<base32>.com|net in a " +
      "ClientHello offering no ALPN, as Tor's (+0.5, +0.2 without a digit; +0.1 when ALPN is offered), at " +
      "least 3 Tor-cell-sized TCP payloads (not IP fragments) making >= 30% of the payloads (+0.3), " +
      "Tor port 9001/9030/9050/9051/9150 on the responder's side, or on either side without the SYN (+0.2).",
  ),
  f("likely_vpn", "bool", "vpn_confidence is at least 0.5."),
  f(
    "vpn_confidence",
    "float",
    "0-1: handshake seen both ways 0.9 (OpenVPN: client and server hard resets, acknowledged or with tls-auth " +
      "or tls-crypt packet ids; WireGuard: initiation and response), one way 0.6-0.7, WireGuard data only 0.6, " +
      "OpenVPN opcode only 0.3, IPsec ESP/AH 0.9 (ESP also in UDP to port 4500, after IKE there too), an IKE " +
      "message 0.8 (to port 500 or 4500), an L2TP header to port 1701 0.7, the destination's well-known port " +
      "only 0.4; +0.1 for OpenVPN's or WireGuard's port with a signature, +0.2 when most IP packets are near the " +
      "MTU (1400-1500 bytes) and there is a signature, more than an opcode. OpenVPN is told by its control " +
      "packets at a direction's start: a flow part of data channel packets only gets its port's 0.4 at most.",
  ),
  f(
    "vpn_type",
    "str",
    "openvpn, wireguard, ipsec-esp, ipsec-ah, ipsec-ike, l2tp, or null when no VPN signal was seen.",
  ),
  f("likely_doh", "bool", "doh_confidence is at least 0.5."),
  f(
    "doh_confidence",
    "float",
    "0-1, port 443 only (the responder's, or either side without the SYN; the resolver is the side on 443): " +
      "known DoH server name (+0.6), known DoH resolver address (+0.4), DNS-sized exchanges after the " +
      "handshake (+0.2).",
  ),
  f(
    "traffic_type",
    "str",
    "tor, vpn:<vpn_type>, doh, encrypted (TLS, QUIC or SSH seen), or unknown.",
  ),
];

const TOR_PORTS = new Set([9001, 9030, 9050, 9051, 9150]);
/** Tor link connections use a random `www.<base32 chars>.com|net` server name (6 to 21 characters seen). */
const TOR_SNI = /^www\.[a-z2-7]{4,25}\.(com|net)$/;

/** Server names of public DoH services (a name matches itself and its subdomains). */
export const DOH_SERVER_NAMES: readonly string[] = [
  "cloudflare-dns.com",
  "one.one.one.one",
  "dns.google",
  "dns.google.com",
  "doh.opendns.com",
  "dns.quad9.net",
  "doh.cleanbrowsing.org",
  "dns.adguard.com",
  "dns.adguard-dns.com",
  "doh.dns.sb",
  "dns.nextdns.io",
  "doh.mullvad.net",
  "dns.alidns.com",
  "doh.pub",
];

/** Addresses of public DoH resolvers. */
export const DOH_RESOLVER_IPS: ReadonlySet<string> = new Set([
  "1.1.1.1",
  "1.0.0.1",
  "1.1.1.2",
  "1.0.0.2",
  "1.1.1.3",
  "1.0.0.3",
  "8.8.8.8",
  "8.8.4.4",
  "9.9.9.9",
  "149.112.112.112",
  "9.9.9.10",
  "9.9.9.11",
  "208.67.222.222",
  "208.67.220.220",
  "94.140.14.14",
  "94.140.15.15",
  "185.228.168.168",
  "2606:4700:4700::1111",
  "2606:4700:4700::1001",
  "2001:4860:4860::8888",
  "2001:4860:4860::8844",
  "2620:fe::fe",
  "2620:fe::9",
]);

/** Signature bits of one payload (the first of its direction). */
function firstPayloadSig(s: FingerprintState, p: PacketView, flow: FlowState): number {
  const b = p.buf, o = p.payloadOff, n = p.payloadCapLen;
  let sig = 0;
  if (flow.protocol === 17) {
    sig |= openvpnSig(s, b, o, o + n, p.ts);
    // The port the packet was sent to, either way (a capture that starts inside a NAT-T tunnel begins with the
    // gateway's packet): the sender's own port is the system's or a NAT's choice (a DNS query from port 4500
    // was "IPsec ESP"). A DNS message is none of these.
    const dp = dnsShaped(b, o, o + n) ? 0 : p.dstPort;
    if (dp === 500 || dp === 4500) {
      // IKE header (after the 4-byte non-ESP marker on 4500): version at 17, exchange type at 18.
      let h = o;
      if (dp === 4500 && n >= 4 && b[o] === 0 && b[o + 1] === 0 && b[o + 2] === 0 && b[o + 3] === 0) {
        h += 4;
      } else if (dp === 4500 && n >= 16) {
        // SPI and sequence number, then at least an IV's worth of ciphertext.
        sig |= Sig.ESP_UDP;
      }
      if (h + 28 <= o + n) {
        const ver = b[h + 17], ex = b[h + 18];
        if (
          (ver === 0x20 && ((ex >= 34 && ex <= 37) || ex === 43)) ||
          (ver === 0x10 && (ex === 2 || ex === 4 || ex === 5 || ex === 32))
        ) {
          sig |= Sig.IKE;
        }
      }
    }
    if (dp === 1701 && n >= 8) {
      const ver = b[o + 1] & 0x0f;
      if (ver === 2 || ver === 3) sig |= Sig.L2TP;
    }
  } else if (flow.protocol === 6 && n >= 3) {
    // OpenVPN over TCP: a 2-byte length prefix, then the packet as over UDP.
    const len = (b[o] << 8) | b[o + 1];
    if (len + 2 <= p.payloadLen && len >= 9) {
      sig |= openvpnSig(s, b, o + 2, Math.min(o + n, o + 2 + len), p.ts);
    }
  }
  return sig;
}

/**
 * A later payload that is ESP in UDP (to port 4500, not IKE's zero marker, not a NAT keepalive): IKE moves to 4500
 * before ESP starts there, or a keepalive comes first, so the first payload of a NAT-T flow is seldom its ESP.
 */
function espInUdp(p: PacketView, flow: FlowState): boolean {
  // A later IP fragment's payload is the middle of a datagram (an IKE_AUTH with certificates is fragmented
  // often): it holds no marker to tell IKE from ESP.
  if (flow.protocol !== 17 || p.dstPort !== 4500 || p.payloadCapLen < 16 || p.isFragment) return false;
  const b = p.buf, o = p.payloadOff;
  return !(b[o] === 0 && b[o + 1] === 0 && b[o + 2] === 0 && b[o + 3] === 0) &&
    !dnsShaped(b, o, o + p.payloadCapLen);
}

const u32 = (b: Uint8Array, i: number): number =>
  ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;

/**
 * With tls-crypt the session id is followed by a small packet id and the sender's Unix time, which must be
 * within a day of the packet's own time: any payload whose bytes 9 to 16 happen to read as a small number and a
 * recent time (a DNS query's counts and first label do, for 2 transaction ids in 256) is not enough. With
 * tls-auth an HMAC comes first: SHA-1's 20 bytes (the default), or MD5's 16, SHA-224's 28, SHA-256's 32,
 * SHA-384's 48 or SHA-512's 64.
 */
function timeStamped(b: Uint8Array, o: number, end: number, ts: number): boolean {
  for (const hmac of OPENVPN_HMAC_SIZES) {
    const at = o + 9 + hmac;
    if (end - at < 8) continue;
    // tls-crypt-v2 starts its packet ids at EARLY_NEG_START (0x0f000000): its first reset carries 0x0f000001.
    const raw = u32(b, at), t = u32(b, at + 4);
    const id = raw >>> 24 === 0x0f ? raw & 0xffffff : raw;
    if (id >= 1 && id <= 16 && Math.abs(t - ts) <= 86400) return true;
  }
  return false;
}

/**
 * OpenVPN control packets: opcode << 3 | key id, then the sender's 8-byte session id. A client hard reset (v2/v3,
 * 0x38 / 0x50) without tls-auth continues with an empty ACK array and packet id 0; the server's reset (0x40)
 * acknowledges it, carrying the client's session id.
 */
/**
 * A DNS header with one question and a first label after it: a DNS message whose transaction id starts with an
 * OpenVPN opcode (2 in 256 for resets), not a VPN. An OpenVPN packet has its random session id there, which reads
 * so in 1 of 2^32.
 */
function dnsShaped(b: Uint8Array, o: number, end: number): boolean {
  if (end - o < 14) return false;
  // A first label of 0 is the root (a priming query for ". NS").
  const label = b[o + 12];
  return b[o + 4] === 0 && b[o + 5] === 1 && b[o + 6] === 0 && b[o + 8] === 0 && b[o + 10] === 0 &&
    label <= 63 && o + 13 + label <= end;
}

function openvpnSig(s: FingerprintState, b: Uint8Array, o: number, end: number, ts: number): number {
  if (end - o < 9 || dnsShaped(b, o, end)) return 0;
  const op = b[o];
  if (op === 0x38 || op === 0x50) {
    s.ovpnHi = u32(b, o + 1);
    s.ovpnLo = u32(b, o + 5);
    const shaped = (end - o >= 14 && b[o + 9] === 0 && u32(b, o + 10) === 0) || timeStamped(b, o, end, ts);
    return Sig.OVPN_CLIENT_RESET | (shaped ? Sig.OVPN_SHAPED : 0);
  }
  if (op !== 0x40) return 0;
  let sig: number = Sig.OVPN_SERVER_RESET;
  // Without tls-auth: ACK array of one packet id, then the client's session id.
  if ((end - o >= 22 && b[o + 9] === 1 && u32(b, o + 10) === 0) || timeStamped(b, o, end, ts)) {
    sig |= Sig.OVPN_SHAPED;
  }
  if (s.ovpnHi >= 0) {
    const last = Math.min(end, o + 96) - 8;
    for (let i = o + 9; i <= last; i++) {
      if (u32(b, i) === s.ovpnHi && u32(b, i + 4) === s.ovpnLo) {
        sig |= Sig.OVPN_ACKED;
        break;
      }
    }
  }
  return sig;
}

function str(v: unknown): string | null {
  return typeof v === "string" && v.length > 0 ? v : null;
}

const round = (x: number): number => Math.min(1, Math.round(x * 100) / 100);

function torConfidence(s: FingerprintState, flow: FlowState, out: FlowRecord): number {
  // Tor's links are TLS: a flow the tls group read as something else (cleartext HTTP on 9001) is not Tor.
  if (out.tls_detected === false) return 0;
  let c = 0;
  const sni = str(out.tls_sni)?.toLowerCase() ?? null;
  if (sni !== null && TOR_SNI.test(sni)) {
    // Real sites have such names too (www.w3schools.com, www.bet365.com, www.google.com). Tor's ClientHello
    // offers no ALPN, where browsers and curl offer one: such a client's name counts little.
    const alpn = out.tls_alpn_offered;
    if (Array.isArray(alpn) && alpn.length > 0) c += 0.1;
    else c += /[2-7]/.test(sni) ? 0.5 : 0.2;
  }
  const pay = s.payloadPacketsFwd + s.payloadPacketsBwd;
  if (s.torCells >= 3 && s.torCells >= 0.3 * pay) c += 0.3;
  // Either port, but for a connection seen from its SYN: a capture that begins inside the connection may have
  // the relay's packet first.
  if (TOR_PORTS.has(flow.dstPort) || (!s.clientSyn && TOR_PORTS.has(flow.srcPort))) c += 0.2;
  return round(c);
}

/** WireGuard handshake seen: 2 initiation one way and response the other, 1 one of them, 0 neither. */
function wgHandshake(s: FingerprintState): number {
  if ((s.wgInitFwd && s.wgRespBwd) || (s.wgInitBwd && s.wgRespFwd)) return 2;
  return s.wgInitFwd || s.wgInitBwd || s.wgRespFwd || s.wgRespBwd ? 1 : 0;
}

function vpn(s: FingerprintState, flow: FlowState): { c: number; type: string | null } {
  const fwd = s.sigFwd < 0 ? 0 : s.sigFwd, bwd = s.sigBwd < 0 ? 0 : s.sigBwd;
  const sig = fwd | bwd;
  const dp = flow.dstPort, sp = flow.srcPort, udp = flow.protocol === 17;
  let c = 0, type: string | null = null, weakSignature = false;
  const total = flow.packets0 + flow.packets1, payloads = s.payloadPacketsFwd + s.payloadPacketsBwd;
  // Both OpenVPN hard resets, the server's acknowledging the client's or both laid out as resets: OpenVPN, also
  // on port 4500, where its packets read as ESP in UDP too.
  const openvpnBoth = (fwd & Sig.OVPN_CLIENT_RESET) !== 0 && (bwd & Sig.OVPN_SERVER_RESET) !== 0 &&
    ((bwd & Sig.OVPN_ACKED) !== 0 || ((fwd & Sig.OVPN_SHAPED) !== 0 && (bwd & Sig.OVPN_SHAPED) !== 0));
  if (flow.protocol === 50 || (udp && sig & Sig.ESP_UDP && !openvpnBoth)) {
    c = 0.9;
    type = "ipsec-esp";
  } else if (flow.protocol === 51 || s.ah) {
    c = 0.9;
    type = "ipsec-ah";
  } else if (sig & (Sig.OVPN_CLIENT_RESET | Sig.OVPN_SERVER_RESET)) {
    // The server acknowledging the client's session: certain; a reset laid out as one: likely; an opcode: weak.
    c = openvpnBoth ? 0.9 : sig & Sig.OVPN_SHAPED ? 0.6 : 0.3;
    // An opcode alone is one byte (a QUIC short header's first is often 0x40 or 0x50): large packets do not
    // make it likely.
    if (c === 0.3) weakSignature = true;
    if (dp === 1194 || sp === 1194) c += 0.1;
    type = "openvpn";
  } else if (udp && (wgHandshake(s) > 0 || (s.wgData >= 2 && s.wgData >= 0.9 * payloads))) {
    const h = wgHandshake(s);
    c = h === 2 ? 0.9 : h === 1 ? 0.7 : 0.6;
    if (dp === 51820 || sp === 51820) c += 0.1;
    type = "wireguard";
  } else if (udp && sig & Sig.IKE) {
    c = 0.8;
    type = "ipsec-ike";
  } else if (udp && sig & Sig.L2TP) {
    c = 0.7;
    type = "l2tp";
  } else if (udp || flow.protocol === 6) {
    // The destination's port only (a client's own port of 4500 is no IPsec). A port is no signature: large
    // packets on it (a bulk copy over SSH to 1194, RTP to 51820) do not make it likely.
    if (dp === 1194) type = "openvpn";
    else if (udp && dp === 51820) type = "wireguard";
    else if (udp && (dp === 500 || dp === 4500)) type = "ipsec-ike";
    else if (udp && dp === 1701) type = "l2tp";
    if (type !== null) {
      c = 0.4;
      weakSignature = true;
    }
  }
  if (c > 0 && !weakSignature && total > 0 && s.nearMtu * 2 > total) c += 0.2;
  return { c: round(c), type };
}

function dohConfidence(s: FingerprintState, flow: FlowState, out: FlowRecord): number {
  if (flow.protocol !== 6 && flow.protocol !== 17) return 0;
  // The resolver is the side on port 443: the responder, or the initiator when the capture began with the
  // resolver's packet (inside the connection).
  const resolverFirst = flow.dstPort !== 443 && flow.srcPort === 443 && !s.clientSyn;
  if (flow.dstPort !== 443 && !resolverFirst) return 0;
  let c = 0;
  const sni = (str(out.tls_sni) ?? str(out.quic_sni))?.toLowerCase() ?? null;
  if (sni !== null && DOH_SERVER_NAMES.some((d) => sni === d || sni.endsWith("." + d))) c += 0.6;
  if (DOH_RESOLVER_IPS.has(resolverFirst ? flow.srcIp : flow.dstIp)) c += 0.4;
  // After the hellos, DNS messages in HTTP/2 frames: small requests, modest responses.
  const nReq = (resolverFirst ? s.payloadPacketsBwd : s.payloadPacketsFwd) - 1;
  const nResp = (resolverFirst ? s.payloadPacketsFwd : s.payloadPacketsBwd) - 1;
  const reqBytes = resolverFirst ? s.laterBytesBwd : s.laterBytesFwd;
  const respBytes = resolverFirst ? s.laterBytesFwd : s.laterBytesBwd;
  if (nReq >= 2 && nResp >= 2 && reqBytes / nReq <= 300 && respBytes / nResp <= 1000) c += 0.2;
  return round(c);
}

/**
 * The `fingerprint` group.
 *
 * @example
 * ```ts
 * import { fingerprintExtractor } from "./fingerprint.ts";
 * console.log(fingerprintExtractor.features.map((f) => f.name).includes("traffic_type")); // true
 * ```
 */
export const fingerprintExtractor: FeatureExtractor<FingerprintState> = {
  name: "fingerprint",
  features,
  init: (): FingerprintState => new FingerprintState(),
  update(s: FingerprintState, p: PacketView, flow: FlowState, dir: 0 | 1): void {
    // The IP packet's length: an MTU bounds it, whatever the link header around it.
    const len = p.ipWireLength;
    if (p.ah) s.ah = true;
    if (len >= 1400 && len <= 1500) s.nearMtu++;
    if (dir === 0 && (p.tcpFlags & (TCP.SYN | TCP.ACK)) === TCP.SYN && p.proto === 6) s.clientSyn = true;
    const pay = p.payloadLen;
    if (pay === 0) return;
    if (dir === 0) {
      if (s.sigFwd < 0) s.sigFwd = firstPayloadSig(s, p, flow);
      else {
        s.laterBytesFwd += pay;
        if (espInUdp(p, flow)) s.sigFwd |= Sig.ESP_UDP;
      }
      s.payloadPacketsFwd++;
    } else {
      if (s.sigBwd < 0) s.sigBwd = firstPayloadSig(s, p, flow);
      else {
        s.laterBytesBwd += pay;
        if (espInUdp(p, flow)) s.sigBwd |= Sig.ESP_UDP;
      }
      s.payloadPacketsBwd++;
    }
    if (torCellSized(p)) s.torCells++;
    if (flow.protocol === 17 && p.payloadCapLen >= 4) {
      // WireGuard messages: type 1-4 and three zero bytes; initiation 148 bytes, response 92, data >= 32.
      const b = p.buf, o = p.payloadOff, t = b[o];
      if (t >= 1 && t <= 4 && b[o + 1] === 0 && b[o + 2] === 0 && b[o + 3] === 0) {
        if (t === 1 && pay === 148) {
          if (dir === 0) s.wgInitFwd = true;
          else s.wgInitBwd = true;
        } else if (t === 2 && pay === 92) {
          if (dir === 0) s.wgRespFwd = true;
          else s.wgRespBwd = true;
        } else if (t === 4 && pay >= 32) s.wgData++;
      }
    }
  },
  finish(s: FingerprintState, flow: FlowState, out): void {
    const tor = torConfidence(s, flow, out);
    const v = vpn(s, flow);
    const doh = dohConfidence(s, flow, out);
    const likelyTor = tor >= 0.5, likelyVpn = v.c >= 0.5, likelyDoh = doh >= 0.5;
    out.likely_tor = likelyTor;
    out.tor_confidence = tor;
    out.likely_vpn = likelyVpn;
    out.vpn_confidence = v.c;
    out.vpn_type = v.type;
    out.likely_doh = likelyDoh;
    out.doh_confidence = doh;
    let type = "unknown";
    if (likelyTor) type = "tor";
    else if (likelyVpn) type = v.type !== null ? `vpn:${v.type}` : "vpn";
    else if (likelyDoh) type = "doh";
    else if (out.tls_detected === true || out.quic_detected === true || out.ssh_detected === true) {
      type = "encrypted";
    }
    out.traffic_type = type;
  },
};
