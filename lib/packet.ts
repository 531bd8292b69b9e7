/**
 * The decoded view of one packet: a single preallocated object that the decoder refills for every packet
 * (gopacket's `DecodingLayerParser` idea). Nothing in it may be kept after the packet's callback returns:
 * `buf` is the capture's read buffer and is overwritten by the next read.
 *
 * @module
 */

/**
 * Layer codes recorded in {@linkcode PacketView.layers} (for `hdr_desc`).
 *
 * @example
 * ```ts
 * import { Layer } from "./packet.ts";
 * import { PacketDecoder } from "./decode.ts";
 * const d = new PacketDecoder();
 * const frame = new Uint8Array(60);
 * frame.set([0x81, 0x00, 0x00, 0x07, 0x08, 0x06], 12); // a VLAN tag, then ARP
 * d.decode(0, frame, 0, 60, 60, 1);
 * const p = d.packet;
 * console.log(p.layers[0] === Layer.ETH, p.layers[1] === Layer.VLAN, p.layerCount); // true true 2
 * ```
 */
export const Layer = {
  ETH: 1,
  VLAN: 2,
  SLL: 3,
  SLL2: 4,
  NULL: 5,
  PPP: 6,
  RAW: 7,
  IP4: 8,
  IP6: 9,
  TCP: 10,
  UDP: 11,
  ICMP: 12,
  ICMP6: 13,
  SCTP: 14,
  GRE: 15,
  VXLAN: 16,
  GTP: 17,
  TEREDO: 18,
  MPLS: 19,
  PPPOE: 20,
  OTHER: 21,
  GENEVE: 22,
  CHDLC: 23,
  ERSPAN: 24,
  LLC: 25,
  PBB: 26,
  PW: 27,
  UDPLITE: 28,
  DCCP: 29,
} as const;

/**
 * Display names of {@linkcode Layer} codes, as written in `hdr_desc` (`Layer.OTHER` is named by its protocol:
 * see {@linkcode layerName}).
 */
export const LAYER_NAMES: readonly string[] = [
  "",
  "ETH",
  "VLAN",
  "SLL",
  "SLL2",
  "NULL",
  "PPP",
  "RAW",
  "IP",
  "IP6",
  "TCP",
  "UDP",
  "ICMP",
  "ICMP6",
  "SCTP",
  "GRE",
  "VXLAN",
  "GTP",
  "TEREDO",
  "MPLS",
  "PPPoE",
  "",
  "GENEVE",
  "CHDLC",
  "ERSPAN",
  "LLC",
  "PBB",
  "PW",
  "UDPLITE",
  "DCCP",
];

/** The transport layer the decoder reads for each IP protocol number. */
const TRANSPORT_LAYERS: Readonly<Record<number, number>> = {
  1: Layer.ICMP,
  6: Layer.TCP,
  17: Layer.UDP,
  58: Layer.ICMP6,
  132: Layer.SCTP,
  136: Layer.UDPLITE,
  33: Layer.DCCP,
};

/**
 * The `hdr_desc` name of a layer of a packet whose IP protocol is `proto`. `Layer.OTHER`, the last layer when no
 * transport header was read, is named by the protocol: a non-first fragment as its transport (as JoyfulJay
 * names every flow), another protocol by number as JoyfulJay writes it (ESP: `PROTO50`).
 *
 * @example
 * ```ts
 * import { Layer, layerName } from "./packet.ts";
 * console.log(layerName(Layer.IP4, 6), layerName(Layer.OTHER, 17), layerName(Layer.OTHER, 50)); // IP UDP PROTO50
 * ```
 */
export function layerName(layer: number, proto: number): string {
  if (layer !== Layer.OTHER) return LAYER_NAMES[layer];
  const transport = TRANSPORT_LAYERS[proto];
  return transport !== undefined ? LAYER_NAMES[transport] : `PROTO${proto}`;
}

/**
 * One packet, decoded in place. Offsets index into `buf`.
 *
 * @example
 * ```ts
 * import { PacketView } from "./packet.ts";
 * const p = new PacketView();
 * p.reset();
 * console.log(p.proto); // 0
 * ```
 */
export class PacketView {
  /** Capture timestamp in seconds since the epoch. */
  ts = 0;
  /** The same time exactly: its whole seconds since the epoch, and the nanoseconds after them (0 to 1e9 - 1). */
  tsSec = 0;
  /** The nanoseconds of the time after {@linkcode tsSec}. */
  tsNsec = 0;
  /**
   * The time in whole nanoseconds from the whole second of its flow's first packet (set when the packet joins
   * its flow, before the groups see it): exact where `ts` is not (a double of epoch seconds keeps about 0.24
   * us), for 104 days from it. Gaps and durations are differences of it, divided by 1e9 once, so that a gap of
   * 3 us is 3e-6, as tshark's `frame.time_delta`.
   */
  tsNs = 0;
  /** Original length on the wire (the frame length tshark shows). */
  wireLen = 0;
  /** Captured length. */
  capLen = 0;
  /** Data link type of the packet's interface. */
  linkType = 0;
  /** The buffer holding the packet (shared, valid only during the callback). */
  buf: Uint8Array = new Uint8Array(0);
  /** Offset of the first byte of the packet in `buf`. */
  frameOff = 0;
  /** Offset one past the last captured byte in `buf`. */
  end = 0;
  /**
   * Offset one past the innermost IP datagram's last captured byte: where the transport header and payload must
   * stop (bytes after it are link-layer padding or the next frame's, never TCP options).
   */
  l4End = 0;

  /** Ethernet source/destination MAC offsets in `buf`, -1 when there is no Ethernet header. */
  macOff: number = -1;
  /** Outermost EtherType (after VLAN tags), 0 when none. */
  ethType = 0;
  /** Offset of what follows that EtherType (an ARP or IP header), -1 when none. */
  ethPayloadOff: number = -1;
  /**
   * Number of 802.1Q/802.1ad tags of the Ethernet header at `macOff`, the first one: the link's own, or on a link
   * without one (raw IP, Linux cooked) a tunnelled frame's. Tags of a frame tunnelled inside it are not counted.
   */
  vlanCount = 0;
  /** The innermost of those tags' VLAN id, -1 when there is no tag. */
  vlanId: number = -1;
  /** The EtherType after those tags (of the Ethernet header at `macOff`), 0 when there is no Ethernet header. */
  macEthType = 0;

  /** Layers seen, outermost first (codes of {@linkcode Layer}). */
  layers: Uint8Array = new Uint8Array(16);
  /** Number of entries of `layers` in use (at most its length; deeper layers are not recorded). */
  layerCount = 0;

  /** IP version of the (innermost) network layer: 4, 6, or 0 when there is none. */
  ipVersion = 0;
  /** Offset of the innermost IP header. */
  l3Off = 0;
  /** Offset of an IP header the capture ends inside of, before its addresses' end may be (20 bytes for IPv4, 40
   * for IPv6: a snapshot length); -1 otherwise. The packet is skipped as truncated; `anon --pcap` rewrites what
   * was captured of the addresses. */
  cutIpOff: number = -1;
  /**
   * Where the addresses are when not in `buf` (null): a later fragment of a tunnel's outer datagram holds no
   * inner header, and its inner packet's addresses are a copy of its first fragment's.
   */
  addrBuf: Uint8Array | null = null;
  /** Offsets of the source and destination addresses (4 or 16 bytes each) in `addrBuf`, or else `buf`. */
  srcAddrOff = 0;
  /** Offset of the destination address. */
  dstAddrOff = 0;
  /** IPv4 header length, or IPv6 fixed header plus extension headers. */
  ipHdrLen = 0;
  /** Length from the IP header: IPv4 total length or 40 + IPv6 payload length. */
  ipTotalLen = 0;
  /** IPv4 TTL / IPv6 hop limit. */
  ttl = 0;
  /** IPv4 TOS / IPv6 traffic class. */
  tos = 0;
  /** IPv4 identification. */
  ipId = 0;
  /** IPv4 flags (3 bits: reserved, DF, MF). */
  ipFlags = 0;
  /** IPv4 fragment offset in 8-byte units, or IPv6 fragment offset. */
  fragOffset = 0;
  /** True for a non-first fragment (no transport header). */
  isFragment = false;
  /**
   * The UDP datagram (its header, then its payload) that this fragment completed, put together from every
   * fragment as tshark reassembles it, for the protocol groups (null on every other packet, and when no group of
   * the run reads it: see `FeatureExtractor.datagrams`). The packet's own fields stay the fragment's.
   */
  datagram: Uint8Array | null = null;
  /**
   * True for a fragment of a UDP datagram that is held for reassembly and did not complete it: the protocol
   * groups read its datagram when `datagram` comes. A fragment not held (cut by the snapshot length, or an IP
   * length past the frame: it can never be reassembled) is read as far as it goes, as tshark reads it.
   */
  heldForReassembly = false;

  /** True for any IP fragment: a first one with more to come (MF), or a later one. */
  get fragmented(): boolean {
    return this.isFragment || (this.ipFlags & 1) !== 0;
  }
  /**
   * Bytes of the frame on the wire from the innermost IP header on (the whole frame when that header is not in
   * it): what an MTU bounds, whatever link header came before.
   */
  get ipWireLength(): number {
    return this.l3Off >= this.frameOff ? this.wireLen - (this.l3Off - this.frameOff) : this.wireLen;
  }
  /** IPv6 flow label. */
  flowLabel = 0;
  /** IPv6 extension headers seen, as a bitmask of (1 << n) for hop-by-hop 0, routing 1, fragment 2, dest 3, AH 4. */
  ip6ExtMask = 0;
  /** An IPsec authentication header (IPv4 or IPv6) was followed to the protocol it protects. */
  ah = false;

  /** Transport protocol number (6 TCP, 17 UDP, 1 ICMP, ...). */
  proto = 0;
  /** Offset of the transport header; -1 when the decoder stopped before it (see `reset`). */
  l4Off = 0;
  /** Ports (0 for protocols without ports). ICMP: type and code are in icmpType/icmpCode. */
  srcPort = 0;
  /** Destination port (0 for protocols without ports). */
  dstPort = 0;
  /** TCP fields. */
  tcpFlags = 0;
  /** TCP sequence number (unsigned 32-bit). */
  tcpSeq = 0;
  /** TCP acknowledgement number (unsigned 32-bit). */
  tcpAck = 0;
  /** TCP window, as in the header (not scaled). */
  tcpWindow = 0;
  /** TCP header length in bytes, options included (at least 20). */
  tcpHdrLen = 0;
  /** ICMP/ICMPv6 type and code, and echo id/sequence. */
  icmpType: number = -1;
  /** ICMP/ICMPv6 code, -1 when there is no ICMP header. */
  icmpCode: number = -1;
  /** ICMP/ICMPv6 echo identifier, -1 unless the packet is an echo request or reply. */
  icmpId: number = -1;
  /** ICMP/ICMPv6 echo sequence number, -1 unless the packet is an echo request or reply. */
  icmpSeq: number = -1;

  /** Offset of the transport payload in `buf`. */
  payloadOff = 0;
  /** Payload length by the headers (IP length minus headers), whatever was captured. */
  payloadLen = 0;
  /** Payload bytes actually present in `buf` (may be less than payloadLen with a snap length). */
  payloadCapLen = 0;

  /** Outer (tunnel) endpoints when the packet was decapsulated, else tunnelType 0. */
  tunnelType = 0;
  /** IP version of the outer (tunnel) endpoints (4 or 6), when `tunnelType` is not 0. */
  tunnelVersion = 0;
  /** A copy of the outer source address, zero-padded to 16 bytes (a copy: an inner decode moves the offsets). */
  tunnelSrc: Uint8Array = new Uint8Array(16);
  /** A copy of the outer destination address, zero-padded to 16 bytes. */
  tunnelDst: Uint8Array = new Uint8Array(16);

  /**
   * Counts decodes into this view: what tells two packets apart when every other field can be equal (a reader
   * that copies each packet to the same place of one buffer, as libpcap's does, and a repeated segment).
   */
  decodes = 0;

  /** Clears the fields the decoder fills conditionally (and counts a decode). */
  reset(): void {
    this.decodes++;
    this.cutIpOff = -1;
    this.macOff = -1;
    this.ethType = 0;
    this.ethPayloadOff = -1;
    this.vlanCount = 0;
    this.vlanId = -1;
    this.macEthType = 0;
    this.layerCount = 0;
    this.addrBuf = null;
    this.ipVersion = 0;
    this.proto = 0;
    // A decode that stops before the transport header (TRUNCATED after setting proto) must not leave the
    // previous packet's offset behind: the anonymizer would write a checksum there.
    this.l4Off = -1;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.tcpHdrLen = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.icmpId = -1;
    this.icmpSeq = -1;
    this.payloadOff = 0;
    this.payloadLen = 0;
    this.payloadCapLen = 0;
    this.tunnelType = 0;
    this.isFragment = false;
    this.datagram = null;
    this.heldForReassembly = false;
    this.ip6ExtMask = 0;
    this.ah = false;
    this.flowLabel = 0;
    this.ipFlags = 0;
    this.fragOffset = 0;
  }
}

/**
 * TCP flag bits.
 *
 * @example
 * ```ts
 * import { TCP } from "./packet.ts";
 * const flags = 0x12;
 * console.log((flags & TCP.SYN) !== 0 && (flags & TCP.ACK) !== 0); // true: a SYN+ACK
 * ```
 */
export const TCP = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
  /** Accurate ECN (NS in RFC 3540): the low bit of the header's byte 12, counted as the ninth flag. */
  AE: 0x100,
} as const;
