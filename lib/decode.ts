/**
 * Decodes one frame in place into a reused {@linkcode PacketView}: link layer, IP (with tunnels decapsulated to
 * the innermost flow), transport. No allocation per packet; a packet that cannot be used is reported by a
 * {@linkcode SkipReason}.
 *
 * @module
 */
import { Layer, PacketView } from "./packet.ts";
import {
  erspanHeaderLength,
  greHeaderLength,
  gtpInner,
  isPwControlWord,
  isVxlan,
  mplsStackEnd,
  teredoInner,
  udpDatagramLength,
} from "./tunnels.ts";

/**
 * Why a packet was not turned into a flow update.
 *
 * @example
 * ```ts
 * import { PacketDecoder, SkipReason } from "./decode.ts";
 * const frame = new Uint8Array(60);
 * frame.set([0x08, 0x06], 12); // ARP
 * console.log(new PacketDecoder().decode(0, frame, 0, 60, 60, 1) === SkipReason.NOT_IP); // true
 * ```
 */
export const SkipReason = {
  NONE: 0,
  UNSUPPORTED_LINK: 1,
  NOT_IP: 2,
  TRUNCATED: 3,
  BAD_IP: 4,
} as const;

/** Names of {@linkcode SkipReason} codes, as shown in the summary. */
export const SKIP_REASON_NAMES: readonly string[] = [
  "",
  "unsupported link type",
  "not IP (ARP, LLDP, STP, ...)",
  "truncated headers",
  "malformed IP header",
];

/** Link types the decoder reads. */
export const SUPPORTED_LINK_TYPES: ReadonlySet<number> = new Set([
  0,
  1,
  9,
  12,
  14,
  50,
  101,
  104,
  108,
  113,
  228,
  229,
  276,
]);

/**
 * A link type for messages: its number, with its name when it is a common one.
 *
 * @example
 * ```ts
 * import { describeLinkType } from "./decode.ts";
 * console.log(describeLinkType(127), describeLinkType(147)); // 127 (802.11 radiotap) 147
 * ```
 */
export function describeLinkType(link: number): string {
  const names: Record<number, string> = {
    0: "BSD loopback (NULL)",
    1: "Ethernet",
    9: "PPP",
    12: "raw IP",
    14: "raw IP",
    50: "PPP in HDLC framing",
    101: "raw IP",
    105: "IEEE 802.11",
    108: "OpenBSD loopback",
    113: "Linux cooked (SLL)",
    127: "802.11 radiotap",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
  };
  return names[link] === undefined ? `${link}` : `${link} (${names[link]})`;
}

const PROTO_TCP = 6, PROTO_UDP = 17, PROTO_ICMP = 1, PROTO_ICMP6 = 58, PROTO_SCTP = 132, PROTO_AH = 51;
const PROTO_UDPLITE = 136, PROTO_DCCP = 33;
/** Tunnels followed inside each other at most; a deeper one is the flow (its packet is the 8th tunnel's). */
const MAX_DEPTH = 8;
/** Datagrams being fragmented whose ports are remembered at once (the oldest is forgotten past this). */
const MAX_FRAGMENTED = 4096;
/** Seconds a first fragment's ports are remembered for the rest of its datagram (Linux's reassembly timeout
 * is 30 s). */
const FRAGMENT_TIMEOUT = 60;
/** Seconds a tunnel's outer first fragment lends its inner flow to its later ones (see `laterFragment`). */
const OUTER_FRAGMENT_TIMEOUT = 2;

/** The ports of a fragmented datagram, from its first fragment, and when it was seen. */
interface FragmentPorts {
  srcPort: number;
  dstPort: number;
  /** Its transport protocol: past the IPv6 headers that follow a Fragment header (destination options, AH). */
  proto: number;
  ts: number;
  /** For a tunnel's outer datagram: the inner packet's flow, which its later fragments join (else null). */
  inner: InnerFlow | null;
}

/** A UDP datagram being put together from its fragments (see `PacketView.datagram`). */
interface DatagramParts {
  /** Each fragment's bytes (a copy), and where it starts in the datagram (from the transport header on). */
  pieces: Uint8Array[];
  starts: number[];
  /** Bytes of `pieces`. */
  bytes: number;
  /** The byte ranges held, [start, end) pairs, sorted and apart. */
  ranges: number[];
  /** Its length, once the last fragment (no more to come) was seen; -1 before. */
  total: number;
  /** When its first fragment to come was seen. */
  ts: number;
}

/** Datagrams being reassembled at once, and the bytes they may hold in all (the oldest is dropped past them). */
const MAX_REASSEMBLING = 1024;
const MAX_REASSEMBLY_BYTES = 16 << 20;
/** Fragments held in all: each is an array of its own (a few hundred bytes besides its data), so that a flood of
 * 8-byte fragments, a million within the bytes' bound, cannot hold half a gigabyte. */
const MAX_REASSEMBLY_PIECES = 65536;
/**
 * Fragments of one datagram held at most (a datagram of more is not reassembled): a 64 KB datagram on a link of
 * MTU 576 comes in 119; the bound stops a flood of tiny fragments of one datagram, the bytes held being bound
 * anyway.
 */
const MAX_PARTS = 1024;

/** The inner packet of a tunnel's outer datagram, as its first fragment carried it. */
interface InnerFlow {
  tunnelType: number;
  ipVersion: number;
  /** Source address at 0, destination at 16. */
  addrs: Uint8Array;
}

/**
 * The decoder. One instance per packet source; `decode` refills `view` (also exposed as `packet`).
 *
 * @example
 * ```ts
 * import { PacketDecoder } from "./decode.ts";
 * const d = new PacketDecoder();
 * const frame = new Uint8Array(60); // all zeros: Ethernet with EtherType 0
 * console.log(d.decode(0, frame, 0, 60, 60, 1)); // 2 (not IP)
 * ```
 */
export class PacketDecoder {
  /** The reused packet view. */
  readonly packet: PacketView = new PacketView();
  /** Decapsulate tunnels (default) or keep the outer flow. */
  decap = true;
  /**
   * Reassemble fragmented UDP datagrams into `PacketView.datagram` (default false): set when a group reads it
   * (`FeatureExtractor.datagrams`); otherwise their fragments would be held for nothing.
   */
  reassembleUdp = false;
  /**
   * The ports of datagrams whose first fragment was seen, by addresses, IP id and protocol: the fragments after
   * it carry no transport header, and take the first one's ports so that they count in its flow (a fragment
   * that comes before its first one keeps ports 0). Only fragmented datagrams allocate.
   */
  private readonly fragments = new Map<string, FragmentPorts>();
  /**
   * Where the frame ends on the wire, then where the current IP datagram can end at most: a length field that
   * claims more than the frame held (a frame captured whole, yet shorter than its IP length says) counts no
   * payload past it, as tshark takes it.
   */
  private reportedEnd = 0;
  /** The protocol that keys the current IP layer's fragments: IPv4's, or the IPv6 Fragment header's next header. */
  private fragNext = 0;
  /** UDP datagrams whose fragments are being put together, by the key of `fragments`. */
  private readonly datagrams = new Map<string, DatagramParts>();
  /** Bytes and fragments `datagrams` holds. */
  private reassemblyBytes = 0;
  private reassemblyPieces = 0;

  /** Bytes of fragments held for reassembly (see `reassembleUdp`): at most 16 MiB. */
  get heldFragmentBytes(): number {
    return this.reassemblyBytes;
  }

  /** Fragments held for reassembly: at most 65,536 (besides its bytes, each costs an array of its own). */
  get heldFragments(): number {
    return this.reassemblyPieces;
  }
  /**
   * The current IP layer's fragment data (after the IPv4 header or the IPv6 Fragment header): where it starts in
   * the frame, and whether the frame holds all of it (no snapshot length cut, no IP length past the frame).
   */
  private fragDataOff = 0;
  private fragDataWhole = false;
  /** The character codes of an IPv6 datagram's fragment key (see `fragmentKey`). */
  private readonly keyCodes: number[] = new Array(19).fill(0);
  /** The keys of the tunnels' outer datagrams that are first fragments (see `enterTunnel`): empty mostly. */
  private readonly outerKeys: string[] = [];
  /** Tunnels followed inside each other at most in this decode: MAX_DEPTH, less to read a skipped packet's
   * innermost readable one (see afterDecode). */
  private depthLimit = MAX_DEPTH;
  /** Tunnels entered in this decode of the frame. */
  private tunnelsEntered = 0;
  /** The EtherType being read follows the Ethernet header at `macOff`: its tags and type are the view's. */
  private macTags = false;

  /**
   * Decodes a frame; returns a {@linkcode SkipReason} (0 when the packet is usable). A tunnel whose inner packet
   * cannot be read (not IP, such as ARP in VXLAN or PPP control in PPTP; cut by the snapshot length; or a
   * datagram on a tunnel's port that is not the tunnel) leaves the packet in its outer flow, as tshark's
   * conversations do, rather than skipped. `nsec` is the time's nanoseconds within its second where the source
   * has them (see `PacketCallback`); without them, or out of range, they are had from `ts`.
   */
  decode(
    ts: number,
    buf: Uint8Array,
    off: number,
    capLen: number,
    wireLen: number,
    linkType: number,
    nsec?: number,
  ): number {
    const p = this.packet;
    this.setTime(p, ts, nsec);
    const r = this.decodeFrame(ts, buf, off, capLen, wireLen, linkType);
    if (r === SkipReason.NONE && !p.fragmented && this.outerKeys.length === 0) return r;
    // The rare cases out of line: calls in the common path, even rarely taken ones, made the decode up to a
    // quarter slower (measured with bench/stages.ts).
    return this.afterDecode(r);
  }

  /** The packet's exact time (`tsSec`, `tsNsec`): from `nsec` where the source gives it, else from `ts`. */
  private setTime(p: PacketView, ts: number, nsec: number | undefined): void {
    if (nsec !== undefined && nsec >= 0 && nsec < 1e9 && Math.floor(nsec) === nsec) {
      // ts is within half a unit of its last place (well below half a second) of sec + nsec / 1e9.
      p.tsSec = Math.round(ts - nsec / 1e9);
      p.tsNsec = nsec;
    } else {
      let sec = Math.floor(ts), ns = Math.round((ts - sec) * 1e9);
      if (ns === 1e9) {
        sec++;
        ns = 0;
      }
      p.tsSec = sec;
      p.tsNsec = ns;
    }
  }

  /**
   * A skipped packet inside a tunnel decoded again, one tunnel less each time, down to none (the frame is the
   * view's, which `decodeFrame` keeps): its flow is the innermost packet that can be read, as tshark's
   * conversations have it (of nested tunnels, the one around the packet that cannot be read, not the
   * outermost); a fragment's ports.
   */
  private afterDecode(r: number): number {
    const p = this.packet;
    if (r !== SkipReason.NONE) {
      if (p.tunnelType === 0 || !this.decap) return r;
      try {
        for (let limit = this.tunnelsEntered - 1; limit >= 0; limit--) {
          this.depthLimit = limit;
          r = this.decodeFrame(p.ts, p.buf, p.frameOff, p.capLen, p.wireLen, p.linkType);
          if (r === SkipReason.NONE) break;
        }
      } finally {
        this.depthLimit = MAX_DEPTH;
      }
      if (r !== SkipReason.NONE) return r;
    }
    if (p.fragmented) this.fragment();
    for (const key of this.outerKeys) this.outerFirstFragment(key);
    return r;
  }

  /** One decode of a frame, tunnels decapsulated or not by `decap` (see {@linkcode PacketDecoder.decode}). */
  private decodeFrame(
    ts: number,
    buf: Uint8Array,
    off: number,
    capLen: number,
    wireLen: number,
    linkType: number,
  ): number {
    const p = this.packet;
    p.reset();
    p.ts = ts;
    p.buf = buf;
    if (this.outerKeys.length !== 0) this.outerKeys.length = 0;
    this.tunnelsEntered = 0;
    this.macTags = false;
    p.frameOff = off;
    p.end = off + capLen;
    p.capLen = capLen;
    p.wireLen = wireLen;
    p.linkType = linkType;
    const end = off + capLen;
    this.reportedEnd = off + Math.max(capLen, wireLen);
    switch (linkType) {
      case 1:
        return this.ether(buf, off, end, 0);
      case 0: {
        // BSD loopback: address family in host byte order.
        if (end - off < 4) return SkipReason.TRUNCATED;
        this.addLayer(Layer.NULL);
        // The family is small, so OR-ing the four bytes reads it in either byte order.
        const fam = buf[off] | buf[off + 1] | buf[off + 2] | buf[off + 3];
        if (fam === 2) return this.ip4(buf, off + 4, end, 0);
        if (fam === 24 || fam === 28 || fam === 30 || fam === 10) return this.ip6(buf, off + 4, end, 0);
        return this.ipGuess(buf, off + 4, end, 0);
      }
      case 108: {
        if (end - off < 4) return SkipReason.TRUNCATED;
        this.addLayer(Layer.NULL);
        return this.ipGuess(buf, off + 4, end, 0);
      }
      case 9:
        return this.ppp(buf, off, end, 0);
      case 50:
        // PPP in HDLC framing also carries Cisco HDLC (address 0x0f unicast, 0x8f broadcast; an EtherType).
        if (end - off >= 4 && (buf[off] === 0x0f || buf[off] === 0x8f)) return this.chdlc(buf, off, end);
        return this.ppp(buf, off, end, 0);
      case 104:
        return this.chdlc(buf, off, end);
      case 12:
      case 14:
      case 101:
      case 228:
      case 229:
        this.addLayer(Layer.RAW);
        return this.ipGuess(buf, off, end, 0);
      case 113: {
        if (end - off < 16) return SkipReason.TRUNCATED;
        this.addLayer(Layer.SLL);
        return this.etherType(buf, off + 16, end, (buf[off + 14] << 8) | buf[off + 15], 0);
      }
      case 276: {
        if (end - off < 20) return SkipReason.TRUNCATED;
        this.addLayer(Layer.SLL2);
        return this.etherType(buf, off + 20, end, (buf[off] << 8) | buf[off + 1], 0);
      }
      default:
        return SkipReason.UNSUPPORTED_LINK;
    }
  }

  /** Records a {@linkcode Layer} code in the view (layers past the view's 16 slots are not recorded). */
  private addLayer(l: number): void {
    const p = this.packet;
    if (p.layerCount < p.layers.length) p.layers[p.layerCount++] = l;
  }

  /** Ethernet II header at `off`; the outermost one gives `macOff`. */
  private ether(buf: Uint8Array, off: number, end: number, depth: number): number {
    if (end - off < 14) return SkipReason.TRUNCATED;
    const p = this.packet;
    if (p.macOff < 0) {
      p.macOff = off;
      this.macTags = true;
    }
    this.addLayer(Layer.ETH);
    return this.etherType(buf, off + 14, end, (buf[off + 12] << 8) | buf[off + 13], depth);
  }

  /** What follows an EtherType `type` at `off`: VLAN tags, then IPv4, IPv6, MPLS or PPPoE. */
  private etherType(buf: Uint8Array, off: number, end: number, type: number, depth: number): number {
    const p = this.packet;
    for (;;) {
      // An IEEE 802.3 length, then LLC with a SNAP header (AA AA 03, an OUI): the EtherType is the SNAP's.
      if (
        type < 0x600 && end - off >= 8 && buf[off] === 0xaa && buf[off + 1] === 0xaa && buf[off + 2] === 3
      ) {
        this.addLayer(Layer.LLC);
        type = (buf[off + 6] << 8) | buf[off + 7];
        off += 8;
        continue;
      }
      if (type === 0x8100 || type === 0x88a8 || type === 0x9100) {
        if (end - off < 4) return SkipReason.TRUNCATED;
        // The tags of the Ethernet header whose addresses are `macOff` (a frame tunnelled inside it has only a
        // layer; one behind a Linux cooked header is the first Ethernet header).
        if (this.macTags) {
          p.vlanCount++;
          p.vlanId = ((buf[off] & 0x0f) << 8) | buf[off + 1];
        }
        this.addLayer(Layer.VLAN);
        type = (buf[off + 2] << 8) | buf[off + 3];
        off += 4;
        continue;
      }
      break;
    }
    if (this.macTags) {
      this.macTags = false;
      p.macEthType = type;
    }
    if (p.ethType === 0) {
      p.ethType = type;
      p.ethPayloadOff = off;
    }
    switch (type) {
      case 0x0800:
        return this.ip4(buf, off, end, depth);
      case 0x86dd:
        return this.ip6(buf, off, end, depth);
      case 0x8847:
      case 0x8848:
        return this.mpls(buf, off, end, depth);
      case 0x88e7:
        // Provider backbone bridging (802.1ah): a 4-byte I-tag, then the customer's Ethernet frame.
        if (end - off < 4) return SkipReason.TRUNCATED;
        this.addLayer(Layer.PBB);
        return this.ether(buf, off + 4, end, depth);
      case 0x8864: {
        // PPPoE session: 6-byte header, then a PPP protocol field.
        if (end - off < 8) return SkipReason.TRUNCATED;
        this.addLayer(Layer.PPPOE);
        // Its payload is a PPP frame (tshark: pppoes:ppp), as over GRE.
        this.addLayer(Layer.PPP);
        return this.pppProto(buf, off + 8, end, (buf[off + 6] << 8) | buf[off + 7], depth);
      }
      default:
        return SkipReason.NOT_IP;
    }
  }

  /**
   * An MPLS label stack at `off`, then IPv4 or IPv6 by the version nibble, or an Ethernet pseudowire behind its
   * control word (RFC 4448: a first nibble of 0), as tshark reads them.
   */
  private mpls(buf: Uint8Array, off: number, end: number, depth: number): number {
    this.addLayer(Layer.MPLS);
    const payload = mplsStackEnd(buf, off, end);
    if (payload < 0) return SkipReason.TRUNCATED;
    if (isPwControlWord(buf, payload, end)) {
      this.addLayer(Layer.PW);
      return this.ether(buf, payload + 4, end, depth);
    }
    return this.ipGuess(buf, payload, end, depth);
  }

  /** Cisco HDLC at `off`: address, control, then an EtherType (tshark's chdlc). */
  private chdlc(buf: Uint8Array, off: number, end: number): number {
    if (end - off < 4) return SkipReason.TRUNCATED;
    this.addLayer(Layer.CHDLC);
    return this.etherType(buf, off + 4, end, (buf[off + 2] << 8) | buf[off + 3], 0);
  }

  /** PPP frame at `off`, with or without the HDLC address and control bytes, and with a 1- or 2-byte protocol. */
  private ppp(buf: Uint8Array, off: number, end: number, depth: number): number {
    if (end - off < 2) return SkipReason.TRUNCATED;
    this.addLayer(Layer.PPP);
    if (buf[off] === 0xff && buf[off + 1] === 0x03) off += 2;
    if (end - off < 1) return SkipReason.TRUNCATED;
    // Protocol field compression: a one-byte protocol has its low bit set.
    if (buf[off] & 1) return this.pppProto(buf, off + 1, end, buf[off], depth);
    if (end - off < 2) return SkipReason.TRUNCATED;
    return this.pppProto(buf, off + 2, end, (buf[off] << 8) | buf[off + 1], depth);
  }

  /** What follows a PPP protocol number: IPv4 (0x21) or IPv6 (0x57); anything else is not IP. */
  private pppProto(buf: Uint8Array, off: number, end: number, proto: number, depth: number): number {
    if (proto === 0x21) return this.ip4(buf, off, end, depth);
    if (proto === 0x57) return this.ip6(buf, off, end, depth);
    return SkipReason.NOT_IP;
  }

  /** An IP header of either version, told apart by its version nibble (raw IP, MPLS payloads, unknown families). */
  private ipGuess(buf: Uint8Array, off: number, end: number, depth: number): number {
    if (end - off < 1) return SkipReason.TRUNCATED;
    const v = buf[off] >> 4;
    if (v === 4) return this.ip4(buf, off, end, depth);
    if (v === 6) return this.ip6(buf, off, end, depth);
    return SkipReason.NOT_IP;
  }

  /** Remembers the current IP layer's endpoints as the tunnel's outer endpoints before decoding an inner one. */
  private enterTunnel(type: number): void {
    const p = this.packet;
    this.tunnelsEntered++;
    // The inner packet has its own ports (or none, e.g. ICMP): the outer UDP ports must not leak into its key.
    p.srcPort = 0;
    p.dstPort = 0;
    const n = p.ipVersion === 4 ? 4 : 16;
    // A first fragment of the outer datagram: its later ones hold no inner header, and join the inner packet's
    // flow through this key (they were a flow of the outer endpoints of their own). Each tunnel's, when tunnels
    // nest: a tunnel inside another fragments too.
    if ((p.ipFlags & 1) !== 0 && p.fragOffset === 0) this.outerKeys.push(this.fragmentKey(n));
    if (p.tunnelType !== 0) return; // keep the outermost endpoints
    p.tunnelType = type;
    p.tunnelVersion = p.ipVersion;
    p.tunnelSrc.fill(0);
    p.tunnelDst.fill(0);
    for (let i = 0; i < n; i++) {
      p.tunnelSrc[i] = p.buf[p.srcAddrOff + i];
      p.tunnelDst[i] = p.buf[p.dstAddrOff + i];
    }
  }

  /** IPv4 header at `off`; a non-first fragment stops here, with its data as the payload. */
  private ip4(buf: Uint8Array, off: number, end: number, depth: number): number {
    const p = this.packet;
    if (end - off < 20) {
      p.cutIpOff = off;
      return SkipReason.TRUNCATED;
    }
    const vihl = buf[off];
    const ihl = (vihl & 0x0f) * 4;
    if (vihl >> 4 !== 4 || ihl < 20) return SkipReason.BAD_IP;
    if (end - off < ihl) return SkipReason.TRUNCATED;
    this.addLayer(Layer.IP4);
    let total = (buf[off + 2] << 8) | buf[off + 3];
    // TSO/LRO captures carry 0 or a short total length; fall back to the frame's length on the wire, as tshark
    // does (what was captured would make a capture cut by its snapshot length count only the captured bytes).
    if (total < ihl) total = this.reportedEnd - off;
    p.ipVersion = 4;
    p.l3Off = off;
    p.srcAddrOff = off + 12;
    p.dstAddrOff = off + 16;
    p.ipHdrLen = ihl;
    p.ipTotalLen = total;
    p.tos = buf[off + 1];
    p.ipId = (buf[off + 4] << 8) | buf[off + 5];
    p.ipFlags = buf[off + 6] >> 5;
    p.fragOffset = ((buf[off + 6] & 0x1f) << 8) | buf[off + 7];
    p.ttl = buf[off + 8];
    const proto = buf[off + 9];
    p.proto = proto;
    this.fragNext = proto;
    const l4 = off + ihl;
    // The IP datagram may end before the frame does (Ethernet padding).
    const ipEnd = Math.min(end, off + total);
    if (off + total < this.reportedEnd) this.reportedEnd = off + total;
    const l4Len = this.reportedEnd - off - ihl;
    this.fragDataOff = l4;
    this.fragDataWhole = ipEnd === off + total && this.reportedEnd === off + total;
    if (p.fragOffset !== 0) {
      p.isFragment = true;
      p.l4Off = l4;
      p.l4End = ipEnd;
      p.payloadOff = l4;
      p.payloadLen = l4Len;
      p.payloadCapLen = Math.max(0, ipEnd - l4);
      this.addLayer(Layer.OTHER);
      return SkipReason.NONE;
    }
    return this.transport(buf, l4, ipEnd, l4Len, proto, depth);
  }

  /**
   * The key of the current IP layer's datagram in `fragments`: protocol, id and addresses as 16-bit character
   * codes (no number formatting: a capture can be mostly fragments).
   */
  private fragmentKey(n: number): string {
    const p = this.packet, b = p.buf, sa = p.srcAddrOff, da = p.dstAddrOff;
    const id = p.ipId;
    // One call: a flat string, where appending each pair made a rope, flattened again by every Map lookup.
    if (n === 4) {
      return String.fromCharCode(
        this.fragNext,
        id >>> 16,
        id & 0xffff,
        (b[sa] << 8) | b[sa + 1],
        (b[da] << 8) | b[da + 1],
        (b[sa + 2] << 8) | b[sa + 3],
        (b[da + 2] << 8) | b[da + 3],
      );
    }
    const codes = this.keyCodes;
    codes[0] = this.fragNext;
    codes[1] = id >>> 16;
    codes[2] = id & 0xffff;
    for (let i = 0; i < n; i += 2) {
      codes[3 + i] = (b[sa + i] << 8) | b[sa + i + 1];
      codes[4 + i] = (b[da + i] << 8) | b[da + i + 1];
    }
    return String.fromCharCode.apply(null, codes);
  }

  /**
   * A decoded fragment of the innermost IP layer: a first one (offset 0, more to come) has its protocol and
   * ports remembered, a later one takes them. (A tunnel's outer datagram is remembered by `outerFirstFragment`,
   * from the key `enterTunnel` took: here are the inner packet's header fields, not its flags.)
   */
  private fragment(): void {
    const p = this.packet;
    const reassemble = this.reassembleUdp && this.fragNext === PROTO_UDP;
    // A later fragment with no first one remembered, and not reassembled, needs no key.
    if (!reassemble && (p.isFragment ? this.fragments.size === 0 : p.fragOffset !== 0)) return;
    // One key for both tables (built once: a capture can be mostly fragments).
    const key = this.fragmentKey(p.ipVersion === 4 ? 4 : 16);
    if (reassemble) this.reassemble(key);
    if (p.isFragment) this.laterFragment(key);
    // Every protocol's first fragment: its later ones take its protocol too, which differs from their own
    // header's when an extension header (IPv6 destination options, AH) comes before the transport header.
    else if (p.fragOffset === 0) this.remember(key, null);
  }

  /**
   * Adds a UDP datagram's fragment to what was held of it, and hands the whole datagram on (`datagram`) when this
   * fragment completes it. A fragment cut by the snapshot length, or whose bytes differ where it overlaps one
   * held (Linux drops such a datagram), leaves its datagram unread; so do more than `MAX_PARTS` pieces. A
   * tunnel's outer datagram is left to `laterFragment` (its later fragments join the inner packet's flow).
   */
  private reassemble(key: string): void {
    const p = this.packet;
    const all = this.datagrams;
    let d = all.get(key);
    if (d !== undefined && Math.abs(p.ts - d.ts) > FRAGMENT_TIMEOUT) {
      this.dropDatagram(key, d);
      d = undefined;
    }
    if (!this.fragDataWhole || this.fragments.get(key)?.inner) {
      if (d !== undefined) this.dropDatagram(key, d);
      return;
    }
    const b = p.buf, from = this.fragDataOff, len = p.l4End - from;
    const start = p.fragOffset * 8, end = start + len;
    const last = (p.ipFlags & 1) === 0;
    // A length past IP's, or fragments that disagree on where the datagram ends.
    if (end > 65535 || (d !== undefined && d.total >= 0 && (last ? d.total !== end : end > d.total))) {
      if (d !== undefined) this.dropDatagram(key, d);
      return;
    }
    // The first range that ends at or after this fragment's start (the ranges are sorted: a binary search, as a
    // datagram can come in a thousand fragments).
    let i = 0;
    if (d !== undefined) {
      const held = d.ranges;
      let below = 0, above = held.length >> 1;
      while (below < above) {
        const mid = (below + above) >> 1;
        if (held[2 * mid + 1] < start) below = mid + 1;
        else above = mid;
      }
      i = 2 * below;
      // Bytes already held where this fragment overlaps must be the same (a fragment sent or captured twice).
      let overlaps = false;
      for (let k = i; k < held.length && held[k] < end && !overlaps; k += 2) overlaps = held[k + 1] > start;
      for (let k = 0; overlaps && k < d.pieces.length; k++) {
        const q = d.pieces[k], qs = d.starts[k];
        const lo = Math.max(start, qs), hi = Math.min(end, qs + q.length);
        for (let j = lo; j < hi; j++) {
          if (q[j - qs] !== b[from + j - start]) {
            this.dropDatagram(key, d);
            return;
          }
        }
      }
    } else {
      d = { pieces: [], starts: [], bytes: 0, ranges: [], total: -1, ts: p.ts };
      all.set(key, d);
    }
    const r = d.ranges;
    if (last) d.total = end;
    // A fragment held already (captured twice) adds nothing: only the first range past its start can hold it.
    if (!(i < r.length && r[i] <= start && end <= r[i + 1])) {
      if (d.pieces.length >= MAX_PARTS) {
        this.dropDatagram(key, d);
        return;
      }
      // The oldest datagrams go to make room (never this one, wherever it stands).
      if (!this.reassemblyRoom(len)) {
        for (const [oldKey, old] of all) {
          if (old !== d) this.dropDatagram(oldKey, old);
          if (this.reassemblyRoom(len)) break;
        }
      }
      // Only this fragment's bytes are copied: a far offset costs no more than a near one.
      d.pieces.push(b.slice(from, from + len));
      d.starts.push(start);
      d.bytes += len;
      this.reassemblyBytes += len;
      this.reassemblyPieces++;
    }
    // Merge [start, end) into the sorted ranges.
    let j = i;
    let lo = start, hi = end;
    while (j < r.length && r[j] <= end) {
      lo = Math.min(lo, r[j]);
      hi = Math.max(hi, r[j + 1]);
      j += 2;
    }
    r.splice(i, j - i, lo, hi);
    if (d.total >= 0 && r.length === 2 && r[0] === 0 && r[1] === d.total) {
      this.dropDatagram(key, d);
      const whole = new Uint8Array(d.total);
      for (let k = 0; k < d.pieces.length; k++) whole.set(d.pieces[k], d.starts[k]);
      p.datagram = whole;
    } else p.heldForReassembly = true;
  }

  /** Whether a fragment of `len` bytes can be held within the bounds on datagrams, bytes and fragments. */
  private reassemblyRoom(len: number): boolean {
    return this.datagrams.size <= MAX_REASSEMBLING && this.reassemblyBytes + len <= MAX_REASSEMBLY_BYTES &&
      this.reassemblyPieces < MAX_REASSEMBLY_PIECES;
  }

  /** Forgets a datagram being reassembled. */
  private dropDatagram(key: string, d: DatagramParts): void {
    this.datagrams.delete(key);
    this.reassemblyBytes -= d.bytes;
    this.reassemblyPieces -= d.pieces.length;
  }

  /** Remembers the current packet's ports and protocol (and `inner`) for the later fragments of datagram `key`. */
  private remember(key: string, inner: InnerFlow | null): void {
    const p = this.packet;
    const f = this.fragments;
    f.delete(key);
    if (f.size >= MAX_FRAGMENTED) f.delete(f.keys().next().value!);
    f.set(key, { srcPort: p.srcPort, dstPort: p.dstPort, proto: p.proto, ts: p.ts, inner });
  }

  /** A tunnel's outer datagram whose first fragment this packet is: the inner packet's flow is remembered. */
  private outerFirstFragment(key: string): void {
    const p = this.packet;
    if (p.tunnelType === 0) return; // decoded again without decapsulation
    const addrs = new Uint8Array(32);
    const n = p.ipVersion === 4 ? 4 : 16, b = p.addrBuf ?? p.buf;
    for (let i = 0; i < n; i++) {
      addrs[i] = b[p.srcAddrOff + i];
      addrs[16 + i] = b[p.dstAddrOff + i];
    }
    this.remember(key, { tunnelType: p.tunnelType, ipVersion: p.ipVersion, addrs });
  }

  /**
   * A later fragment: the ports of its first one, when seen. The last one does not forget them: fragments can
   * come out of order, after the last one (the datagram's ports stay until its timeout or the table's bound).
   */
  private laterFragment(key: string): void {
    const f = this.fragments;
    if (f.size === 0) return;
    const p = this.packet;
    const first = f.get(key);
    if (first === undefined) return;
    if (Math.abs(p.ts - first.ts) > FRAGMENT_TIMEOUT) {
      f.delete(key);
      return;
    }
    const inner = first.inner;
    if (inner !== null) {
      // An IP id is reused within seconds on a busy tunnel: a later fragment takes a datagram's inner flow
      // (another subscriber's, maybe) only within OUTER_FRAGMENT_TIMEOUT of its first fragment.
      if (Math.abs(p.ts - first.ts) > OUTER_FRAGMENT_TIMEOUT) return;
      // A later fragment of a tunnel's outer datagram: the inner packet's, its endpoints the tunnel's.
      this.enterTunnel(inner.tunnelType);
      p.ipVersion = inner.ipVersion;
      p.addrBuf = inner.addrs;
      p.srcAddrOff = 0;
      p.dstAddrOff = 16;
    }
    p.srcPort = first.srcPort;
    p.dstPort = first.dstPort;
    p.proto = first.proto;
  }

  /** IPv6 header at `off` and its extension headers; a non-first fragment stops here, with its data as the payload. */
  private ip6(buf: Uint8Array, off: number, end: number, depth: number): number {
    const p = this.packet;
    if (end - off < 40) {
      p.cutIpOff = off;
      return SkipReason.TRUNCATED;
    }
    if (buf[off] >> 4 !== 6) return SkipReason.BAD_IP;
    this.addLayer(Layer.IP6);
    const plen = (buf[off + 4] << 8) | buf[off + 5];
    p.ipVersion = 6;
    p.l3Off = off;
    p.srcAddrOff = off + 8;
    p.dstAddrOff = off + 24;
    p.tos = ((buf[off] & 0x0f) << 4) | (buf[off + 1] >> 4);
    p.flowLabel = ((buf[off + 1] & 0x0f) << 16) | (buf[off + 2] << 8) | buf[off + 3];
    p.ttl = buf[off + 7];
    // This layer's own fragment fields (an outer IPv4 header's MF or offset must not carry over to it).
    p.ipId = 0;
    p.ipFlags = 0;
    p.fragOffset = 0;
    // Jumbograms (payload length 0) and TSO: the frame's length on the wire (as for IPv4's, see ip4); with no
    // next header, there is nothing (the rest is the link's padding).
    const total = plen === 0 && buf[off + 6] !== 59 ? this.reportedEnd - off : 40 + plen;
    p.ipTotalLen = total;
    const ipEnd = Math.min(end, off + total);
    if (off + total < this.reportedEnd) this.reportedEnd = off + total;
    const reported = this.reportedEnd - off;
    let next = buf[off + 6];
    let o = off + 40;
    let mask = 0;
    for (;;) {
      let bit = -1;
      if (next === 0) bit = 0;
      else if (next === 43) bit = 1;
      else if (next === 44) bit = 2;
      else if (next === 60) bit = 3;
      else if (next === 51) bit = 4;
      else if (next === 135 || next === 139 || next === 140) bit = 5;
      if (bit < 0) break;
      if (ipEnd - o < 8) return SkipReason.TRUNCATED;
      mask |= 1 << bit;
      const nh = buf[o];
      if (next === 44) {
        this.fragNext = nh;
        const fo = ((buf[o + 2] << 8) | buf[o + 3]) >> 3;
        p.fragOffset = fo;
        p.ipId = ((buf[o + 4] << 24) | (buf[o + 5] << 16) | (buf[o + 6] << 8) | buf[o + 7]) >>> 0;
        if (buf[o + 3] & 1) p.ipFlags |= 1;
        o += 8;
        this.fragDataOff = o;
        this.fragDataWhole = ipEnd === off + total && this.reportedEnd === off + total;
        if (fo !== 0) {
          p.ip6ExtMask = mask;
          p.ipHdrLen = o - off;
          p.proto = nh;
          p.isFragment = true;
          p.l4Off = o;
          p.l4End = ipEnd;
          p.payloadOff = o;
          p.payloadLen = Math.max(0, reported - (o - off));
          p.payloadCapLen = Math.max(0, ipEnd - o);
          this.addLayer(Layer.OTHER);
          return SkipReason.NONE;
        }
      } else if (next === 51) {
        p.ah = true;
        o += (buf[o + 1] + 2) * 4;
      } else {
        o += (buf[o + 1] + 1) * 8;
      }
      next = nh;
    }
    p.ip6ExtMask = mask;
    p.ipHdrLen = o - off;
    p.proto = next;
    if (o > ipEnd) return SkipReason.TRUNCATED;
    return this.transport(buf, o, ipEnd, reported - (o - off), next, depth);
  }

  /** Transport layer; `l4Len` is the length by the IP header, `end` the end of captured IP data. */
  private transport(
    buf: Uint8Array,
    o: number,
    end: number,
    l4Len: number,
    proto: number,
    depth: number,
  ): number {
    const p = this.packet;
    p.l4Off = o;
    p.l4End = end;
    const have = end - o;
    if (proto === PROTO_TCP) {
      this.addLayer(Layer.TCP);
      if (have < 4) return SkipReason.TRUNCATED;
      p.srcPort = (buf[o] << 8) | buf[o + 1];
      p.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      if (have < 20) {
        // A header cut by the snapshot length (IPv6 at tcpdump's former default, -s 68, leaves 14 bytes): its
        // fields are not read (tcpHdrLen stays 0, and the TCP groups pass the packet by), but once its data
        // offset was captured the IP length gives the payload's, as for a header captured whole; else 0.
        p.payloadOff = end;
        if (have >= 13) p.payloadLen = Math.max(0, l4Len - Math.max(20, (buf[o + 12] >> 4) * 4));
        return SkipReason.NONE;
      }
      p.tcpSeq = ((buf[o + 4] << 24) | (buf[o + 5] << 16) | (buf[o + 6] << 8) | buf[o + 7]) >>> 0;
      p.tcpAck = ((buf[o + 8] << 24) | (buf[o + 9] << 16) | (buf[o + 10] << 8) | buf[o + 11]) >>> 0;
      let hl = (buf[o + 12] >> 4) * 4;
      if (hl < 20) hl = 20;
      p.tcpHdrLen = hl;
      // Nine flag bits, as tshark and scapy count them: AE (NS in RFC 3540) is byte 12's low bit.
      p.tcpFlags = ((buf[o + 12] & 1) << 8) | buf[o + 13];
      p.tcpWindow = (buf[o + 14] << 8) | buf[o + 15];
      return this.payload(o + hl, end, l4Len - hl);
    }
    if (proto === PROTO_UDP) {
      this.addLayer(Layer.UDP);
      if (have < 4) return SkipReason.TRUNCATED;
      const sp = (buf[o] << 8) | buf[o + 1];
      const dp = (buf[o + 2] << 8) | buf[o + 3];
      p.srcPort = sp;
      p.dstPort = dp;
      // The datagram is as long as its length field says when that fits (RFC 768): bytes after it are no
      // payload. 0 (a jumbogram's) or a length that does not fit leaves the IP length.
      const udpLen = have >= 6 ? (buf[o + 4] << 8) | buf[o + 5] : 0;
      const r = udpLen >= 8 && udpLen < l4Len
        ? this.payload(o + 8, Math.min(end, o + udpLen), udpLen - 8)
        : this.payload(o + 8, end, l4Len - 8);
      if (this.decap && depth < this.depthLimit && p.payloadCapLen > 0) {
        // The datagram's end by the lengths (the capture may hold less): a first fragment's UDP length runs
        // past its IP length, and says where the datagram ends.
        const firstFragment = (p.ipFlags & 1) !== 0 && p.fragOffset === 0;
        const datagramEnd = o + udpDatagramLength(udpLen, l4Len, firstFragment);
        const t = this.udpTunnel(
          buf,
          p.payloadOff,
          p.payloadOff + p.payloadCapLen,
          datagramEnd,
          sp,
          dp,
          depth,
        );
        if (t >= 0) return t;
      }
      return r;
    }
    if (proto === PROTO_ICMP || proto === PROTO_ICMP6) {
      this.addLayer(proto === PROTO_ICMP ? Layer.ICMP : Layer.ICMP6);
      if (have >= 2) {
        p.icmpType = buf[o];
        p.icmpCode = buf[o + 1];
        const echo = proto === PROTO_ICMP
          ? (p.icmpType === 0 || p.icmpType === 8)
          : (p.icmpType === 128 || p.icmpType === 129);
        if (echo && have >= 8) {
          p.icmpId = (buf[o + 4] << 8) | buf[o + 5];
          p.icmpSeq = (buf[o + 6] << 8) | buf[o + 7];
        }
      }
      return this.payload(o + 8, end, l4Len - 8);
    }
    if (proto === PROTO_SCTP) {
      this.addLayer(Layer.SCTP);
      if (have < 4) return SkipReason.TRUNCATED;
      p.srcPort = (buf[o] << 8) | buf[o + 1];
      p.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      return this.payload(o + 12, end, l4Len - 12);
    }
    // UDP-Lite (RFC 3828) and DCCP (RFC 4340) have ports where UDP has them: connections between two hosts were
    // one flow of ports 0. UDP-Lite's header is UDP's 8 bytes (its length field is a checksum coverage); DCCP's
    // data offset, in words, is at 4.
    if (proto === PROTO_UDPLITE || proto === PROTO_DCCP) {
      this.addLayer(proto === PROTO_UDPLITE ? Layer.UDPLITE : Layer.DCCP);
      if (have < 4) return SkipReason.TRUNCATED;
      p.srcPort = (buf[o] << 8) | buf[o + 1];
      p.dstPort = (buf[o + 2] << 8) | buf[o + 3];
      const hl = proto === PROTO_UDPLITE ? 8 : have >= 5 ? Math.max(12, buf[o + 4] * 4) : 12;
      return this.payload(o + hl, end, l4Len - hl);
    }
    if (proto === PROTO_AH && have >= 2) {
      // IPv4's authentication header, followed to the protocol it protects as IPv6's extension headers are.
      const ah = (buf[o + 1] + 2) * 4;
      if (have >= ah) {
        p.proto = buf[o];
        p.ah = true;
        return this.transport(buf, o + ah, end, l4Len - ah, buf[o], depth);
      }
    }
    if (this.decap && depth < this.depthLimit) {
      if (proto === 4) {
        this.enterTunnel(4);
        return this.ip4(buf, o, end, depth + 1);
      }
      if (proto === 41) {
        this.enterTunnel(41);
        return this.ip6(buf, o, end, depth + 1);
      }
      if (proto === 47) {
        const t = this.gre(buf, o, end, depth);
        if (t >= 0) return t;
      }
    }
    this.addLayer(Layer.OTHER);
    return this.payload(o, end, l4Len);
  }

  /** Sets the payload at `o`: `len` bytes by the headers, of which those before `end` were captured. */
  private payload(o: number, end: number, len: number): number {
    const p = this.packet;
    p.payloadOff = o;
    p.payloadLen = len > 0 ? len : 0;
    p.payloadCapLen = end > o ? end - o : 0;
    if (p.payloadCapLen > p.payloadLen) p.payloadCapLen = p.payloadLen;
    return SkipReason.NONE;
  }

  /** GRE: returns a skip reason when the payload was decapsulated, -1 to keep GRE as the flow. */
  private gre(buf: Uint8Array, o: number, end: number, depth: number): number {
    if (end - o < 4) return -1;
    const type = (buf[o + 2] << 8) | buf[o + 3];
    const h = greHeaderLength(buf, o);
    if ((buf[o + 1] & 7) === 1) {
      // Enhanced GRE (PPTP): carries PPP. An acknowledgement alone carries no PPP frame: it stays in the GRE
      // flow.
      if (type !== 0x880b || end - o <= h) return -1;
      this.enterTunnel(47);
      this.addLayer(Layer.GRE);
      return this.ppp(buf, o + h, end, depth + 1);
    }
    if (end - o < h) return -1;
    const inner = o + h;
    if (type === 0x0800 || type === 0x86dd) {
      this.enterTunnel(47);
      this.addLayer(Layer.GRE);
      return type === 0x0800 ? this.ip4(buf, inner, end, depth + 1) : this.ip6(buf, inner, end, depth + 1);
    }
    if (type === 0x8847 || type === 0x8848) {
      // MPLS over GRE (RFC 4023).
      this.enterTunnel(47);
      this.addLayer(Layer.GRE);
      return this.mpls(buf, inner, end, depth + 1);
    }
    const eh = type === 0x6558 ? 0 : erspanHeaderLength(buf, inner, end, buf[o], type);
    if (eh < 0) return -1;
    // Transparent Ethernet bridging, or the frame an ERSPAN header mirrors.
    this.enterTunnel(47);
    this.addLayer(Layer.GRE);
    if (type !== 0x6558) this.addLayer(Layer.ERSPAN);
    return this.ether(buf, inner + eh, end, depth + 1);
  }

  /** UDP-carried tunnels (VXLAN, Geneve, GTP-U, Teredo); -1 when the datagram is not one. */
  private udpTunnel(
    buf: Uint8Array,
    o: number,
    end: number,
    datagramEnd: number,
    sp: number,
    dp: number,
    depth: number,
  ): number {
    if (isVxlan(buf, o, end, sp, dp)) {
      this.enterTunnel(17);
      this.addLayer(Layer.VXLAN);
      return this.ether(buf, o + 8, end, depth + 1);
    }
    if ((dp === 6081 || sp === 6081) && end - o >= 8 && (buf[o] >> 6) === 0) {
      const optLen = (buf[o] & 0x3f) * 4;
      const type = (buf[o + 2] << 8) | buf[o + 3];
      const inner = o + 8 + optLen;
      if (inner < end && (type === 0x6558 || type === 0x0800 || type === 0x86dd)) {
        this.enterTunnel(17);
        this.addLayer(Layer.GENEVE);
        if (type === 0x6558) return this.ether(buf, inner, end, depth + 1);
        return type === 0x0800 ? this.ip4(buf, inner, end, depth + 1) : this.ip6(buf, inner, end, depth + 1);
      }
      return -1;
    }
    const gtp = gtpInner(buf, o, end, sp, dp);
    if (gtp >= 0) {
      this.enterTunnel(17);
      this.addLayer(Layer.GTP);
      return (buf[gtp] >> 4) === 4 ? this.ip4(buf, gtp, end, depth + 1) : this.ip6(buf, gtp, end, depth + 1);
    }
    const teredo = teredoInner(buf, o, end, datagramEnd, sp, dp);
    if (teredo >= 0) {
      this.enterTunnel(17);
      this.addLayer(Layer.TEREDO);
      return this.ip6(buf, teredo, end, depth + 1);
    }
    return -1;
  }
}
