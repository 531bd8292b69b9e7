/**
 * Anonymizes the addresses inside a capture (pcap or pcapng, written back in the same format, record for record):
 * every IPv4 and IPv6 header (tunnels included: IP-in-IP, GRE, ERSPAN, VXLAN, Geneve, GTP-U, Teredo and its
 * origin indication), the packet quoted by ICMP and ICMPv6 errors, the ICMP redirect gateway, the IPv4 record
 * route, source route and timestamp options, IPv6 routing headers of type 0, 2 and 4 (segment routing), ARP
 * sender and target addresses (Ethernet and Linux cooked captures), IPv6 neighbour discovery targets, IGMP and
 * multicast listener discovery groups and sources, node information subjects and addresses, SCTP's address
 * parameters (INIT, INIT ACK, ASCONF, error causes) and the copies of them in its state cookies and heartbeats,
 * VRRP's virtual addresses, PIM's encoded addresses (and the packet a Register carries) and OSPF's router ids,
 * neighbours and LSA addresses and prefixes (see `ospf`, `ospf3`); of an address the snapshot length cut short,
 * the bytes captured.
 * Checksums (IPv4 header, TCP, UDP, ICMP, ICMPv6, IGMP, GRE, VRRP, PIM, OSPF and its LSAs' Fletcher sums, SCTP's
 * CRC32c, inner and outer) are
 * updated incrementally (RFC 1624), so a checksum that was right stays right and one that was wrong (corruption)
 * stays wrong by the same amount, even for packets cut short by a snap length; a TCP or UDP field that holds
 * only the pseudo-header's sum (a sender's checksum offload) becomes the sum of the new addresses. TCP, UDP and
 * ICMPv6 pseudo-headers use the final destination of a source route or routing header, as senders compute
 * them. Not rewritten: addresses in application payloads, in IPv6 RPL (type 3) routing headers, and in
 * link-layer headers (MACs). pcapng name
 * resolution blocks, which map addresses to names, are dropped, and so are the options that can hold addresses:
 * the interface address options (if_IPv4addr, if_IPv6addr) and capture filter (if_filter) of interface
 * description blocks, packet blocks' hashes (epb_hash), and every comment and custom option; systemd journal,
 * decryption secrets, custom and unknown blocks are dropped too; a packet block that cannot be read (unknown
 * interface, lengths past the block's end), or a frame whose IP header is malformed or cut inside its options or
 * extension headers (where addresses can be that cannot all be found), is dropped rather than copied with its
 * addresses in clear; an IP header cut in its fixed part has what was captured of its addresses rewritten.
 *
 * @module
 */
import {
  type ByteReader,
  pcapFormat,
  pcapLengthOrder,
  pcapRecordHeaderLength,
  ReadBuffer,
  streamReader,
} from "../capture_file.ts";
import { describeLinkType, PacketDecoder, SkipReason, SUPPORTED_LINK_TYPES } from "../decode.ts";
import type { Anonymizer } from "./anonymizer.ts";
import { Layer, type PacketView } from "../packet.ts";
import CRC32C from "crc-32/crc32c.js";
import {
  erspanHeaderLength,
  greHeaderLength,
  gtpInner,
  isPwControlWord,
  isVxlan,
  mplsStackEnd,
  teredoHeaders,
  teredoInner,
  teredoOrigin,
  udpDatagramLength,
} from "../tunnels.ts";
import { int32At } from "../hash.ts";

/** What {@linkcode anonymizeCapture} reports. */
export interface CaptureAnonResult {
  /** "pcap" or "pcapng". */
  format: string;
  /** Packets read (and written). */
  packets: number;
  /** Packets in which at least one address changed. */
  packetsChanged: number;
  /** Addresses changed. */
  addresses: number;
  /** Checksums updated. */
  checksums: number;
  /** pcapng blocks left out: name resolution, systemd journal, decryption secrets, custom and unknown blocks. */
  droppedBlocks: number;
  /** pcapng options that can hold addresses left out (interface addresses and filters, comments, packet hashes). */
  droppedOptions: number;
  /** pcapng packet blocks left out because they could not be read (their addresses would stay in clear). */
  droppedPackets: number;
  /** Why those packet blocks were left out: reason → count. */
  droppedPacketReasons: Record<string, number>;
  /** Packets of link types the decoder does not read, written unchanged (their addresses are NOT anonymized). */
  unsupportedPackets: number;
  /** Names of those link types. */
  unsupportedLinkTypes: string[];
  /** Set when the capture ended early (truncated or corrupt); what was before it is written. */
  warning: string | null;
}

/** One IP layer found in a packet. */
interface IpLayer {
  version: 4 | 6;
  l3Off: number;
  hdrLen: number;
  ipEnd: number;
  /** End of the bytes of this layer that are present (the container's end, at most ipEnd). */
  capEnd: number;
  srcOff: number;
  dstOff: number;
  /** Where the destination of the transport pseudo-header is: `dstOff`, or the final hop of a source route. */
  pseudoDstOff: number;
  /** Where its source is: `srcOff`, or an IPv6 Home Address option's address (RFC 6275 section 6.3). */
  pseudoSrcOff: number;
  proto: number;
  /** Offset of the transport header; -1 when the decoder did not reach a usable one. */
  l4Off: number;
  fragment: boolean;
}

/**
 * IP layers rewritten in one frame at most: more than the decoder follows (9 IP headers, 8 tunnels deep), with
 * room for an ICMP error's quote inside; a frame with more is left out (see `walk`).
 */
const MAX_LAYERS = 16;
/**
 * EtherTypes (0: a link type without one) whose payload is IP, or leads to it (MPLS, PPPoE session, 802.1ah's
 * customer frame).
 */
const IP_CARRIERS: ReadonlySet<number> = new Set([0, 0x0800, 0x86dd, 0x8847, 0x8848, 0x8864, 0x88e7]);
const LINK_ETHERNET = 1, LINK_PPP = 9, LINK_RAW = 101;
/** What an SCTP type-length-value run holds (see `sctpTlvs`). */
const SctpTlv = { CHUNK: 0, PARAMETER: 1, CAUSE: 2 } as const;
type SctpTlv = typeof SctpTlv[keyof typeof SctpTlv];
/** Addresses of each IP version remembered for SCTP's opaque bytes (see `sctpOpaque`); past it, no new ones. */
const MAX_SCTP_ADDRESSES = 65536;

/**
 * Rewrites the addresses of one packet in place and fixes its checksums. One instance is reused for every
 * packet; nothing is allocated per packet.
 *
 * @example
 * ```ts
 * import { PacketAnonymizer } from "./pcap.ts";
 * import { Anonymizer } from "./anonymizer.ts";
 * const pa = new PacketAnonymizer(new Anonymizer(new Uint8Array(32).fill(1)));
 * const frame = new Uint8Array(60); // not IP: nothing to change
 * console.log(pa.rewrite(frame, 0, 60, 1)); // 0
 * ```
 */
export class PacketAnonymizer {
  private readonly decoder = new PacketDecoder();
  private readonly layers: IpLayer[] = [];
  private nLayers = 0;
  // Byte changes made so far in this packet: offset, old and new value.
  private chPos = new Int32Array(1024);
  private chOld = new Uint8Array(1024);
  private chNew = new Uint8Array(1024);
  private nCh = 0;
  private readonly prefixScratch = new Uint8Array(16);
  /** Set by `walk` when the frame cannot be kept (see `rewrite`). */
  private unsafe = false;
  /** Why the last frame `rewrite` refused cannot be kept. */
  unsafeReason = UNSAFE_IP;
  private readonly scratch = new Uint8Array(16);
  private buf: Uint8Array = new Uint8Array(0);
  /** Addresses seen in SCTP packets' IP headers and address parameters, which their state cookies may copy:
   * IPv4 as 32-bit words, IPv6 by their first word. */
  private readonly sctpAddrs4 = new Set<number>();
  private readonly sctpAddrs6 = new Set<string>();
  /** The first words of `sctpAddrs6`: most offsets are passed over without making a key. */
  private readonly sctpFirstWords6 = new Set<number>();
  /** The original pseudo-header addresses (see `isPartialChecksum`). */
  private readonly pseudoScratch = new Uint8Array(32);
  /** Opaque bytes of the SCTP packet being read (see `sctpOpaque`): start and end of each. */
  private readonly opaqueAt: number[] = [];
  /** An inner IP header of the frame being rewritten was cut in its fixed part (see `cutOverAddresses`). */
  private cutInner = false;
  /** Addresses `pimAddress` changed in the PIM message being read. */
  private pimChanged = 0;
  /** The changes to an SCTP packet, as an XOR over its length (see `fixSctpChecksum`): zeros between uses. */
  private crcScratch = new Uint8Array(0);
  /** Checksums updated so far. */
  checksums = 0;

  constructor(private readonly anonymizer: Anonymizer) {
    this.decoder.decap = false;
    for (let i = 0; i < MAX_LAYERS; i++) {
      this.layers.push({
        version: 4,
        l3Off: 0,
        hdrLen: 0,
        ipEnd: 0,
        capEnd: 0,
        srcOff: 0,
        pseudoSrcOff: 0,
        dstOff: 0,
        pseudoDstOff: 0,
        proto: 0,
        l4Off: 0,
        fragment: false,
      });
    }
  }

  /**
   * Rewrites the frame `buf[off, off + len)` of link type `linkType`; returns the number of addresses changed, or
   * -1 for a frame that cannot be kept (its IP header is malformed or cut in its options, see `walk`).
   */
  rewrite(buf: Uint8Array, off: number, len: number, linkType: number): number {
    this.buf = buf;
    this.nLayers = 0;
    this.nCh = 0;
    this.unsafe = false;
    this.unsafeReason = UNSAFE_IP;
    this.cutInner = false;
    let changed = this.walk(off, off + len, linkType, 0);
    if (this.unsafe) return -1;
    // Checksums: innermost first, so that outer ones include the inner ones' new values.
    for (let i = this.nLayers - 1; i >= 0; i--) this.fixChecksums(this.layers[i], i);
    if (changed === 0 && this.nCh > 0) changed = 1;
    return changed;
  }

  /**
   * Rewrites a raw IP packet (its first bytes, as Joy's initial data packet holds) in place; the same as
   * `rewrite` with link type RAW.
   */
  rewriteIp(packet: Uint8Array): number {
    return this.rewrite(packet, 0, packet.length, LINK_RAW);
  }

  private record(pos: number, oldV: number, newV: number): void {
    if (oldV === newV) return;
    if (this.nCh >= this.chPos.length) {
      const n = this.chPos.length * 2;
      const p = new Int32Array(n), o = new Uint8Array(n), w = new Uint8Array(n);
      p.set(this.chPos);
      o.set(this.chOld);
      w.set(this.chNew);
      this.chPos = p;
      this.chOld = o;
      this.chNew = w;
    }
    this.chPos[this.nCh] = pos;
    this.chOld[this.nCh] = oldV;
    this.chNew[this.nCh] = newV;
    this.nCh++;
  }

  /**
   * Anonymizes one address in place, recording the byte changes; 1 when it changed. An address the capture
   * cut short (the snapshot length) has its first bytes rewritten as those of the address they begin, zeros
   * after them: prefix preservation maps them as the whole address's first bytes (kept in clear, they named the
   * real prefix of every address that shares it).
   */
  private address(pos: number, version: 4 | 6, end: number): number {
    const n = version === 4 ? 4 : 16;
    if (pos < 0 || pos >= end) return 0;
    if (pos + n > end) return this.cutAddress(pos, version, end - pos);
    const buf = this.buf;
    const s = this.scratch;
    for (let i = 0; i < n; i++) s[i] = buf[pos + i];
    if (!this.anonymizer.bytes(buf, pos, version)) return 0;
    for (let i = 0; i < n; i++) this.record(pos + i, s[i], buf[pos + i]);
    return 1;
  }

  /**
   * The first `have` bytes of an address at `pos` that the capture cut short (see `address`). With `--subnets`,
   * bytes that cannot be told outside them (the zeros after them are not the address's) are zeroed.
   */
  private cutAddress(pos: number, version: 4 | 6, have: number): number {
    const buf = this.buf, a = this.prefixScratch;
    a.fill(0);
    a.set(buf.subarray(pos, pos + have));
    if (!this.anonymizer.bytes(a, 0, version)) {
      if (!this.anonymizer.restricted) return 0;
      a.fill(0);
    }
    for (let i = 0; i < have; i++) {
      const old = buf[pos + i];
      buf[pos + i] = a[i];
      this.record(pos + i, old, a[i]);
    }
    return 1;
  }

  /**
   * Anonymizes an address stored XOR 0xffffffff (Teredo's obfuscated origin address): un-obfuscates it,
   * anonymizes it, obfuscates it again, so that a reader that un-obfuscates it sees the anonymized address.
   */
  private obfuscatedAddress(pos: number, end: number): number {
    if (pos < 0 || pos + 4 > end) return 0;
    const buf = this.buf;
    const s = this.scratch;
    for (let i = 0; i < 4; i++) {
      s[i] = buf[pos + i];
      buf[pos + i] ^= 0xff;
    }
    const changed = this.anonymizer.bytes(buf, pos, 4);
    for (let i = 0; i < 4; i++) {
      buf[pos + i] ^= 0xff;
      this.record(pos + i, s[i], buf[pos + i]);
    }
    return changed ? 1 : 0;
  }

  /** ARP at `a` for IPv4: sender and target protocol addresses, whatever the hardware address length. */
  private arp(a: number, end: number): number {
    const buf = this.buf;
    if (a < 0 || a + 8 > end || buf[a + 2] !== 0x08 || buf[a + 3] !== 0x00 || buf[a + 5] !== 4) return 0;
    const hlen = buf[a + 4];
    return this.address(a + 8 + hlen, 4, end) + this.address(a + 12 + 2 * hlen, 4, end);
  }

  /**
   * IPv4 options of layer `L` (present up to `end`): the addresses of record route, loose and strict source
   * route, and timestamp (with addresses). A source route not yet completed puts its last hop, the final
   * destination, in the transport pseudo-header.
   */
  private ip4Options(L: IpLayer, end: number): number {
    const buf = this.buf;
    const stop = Math.min(end, L.l3Off + L.hdrLen);
    let i = L.l3Off + 20, changed = 0;
    while (i < stop) {
      const t = buf[i];
      if (t === 0) break;
      if (t === 1) {
        i++;
        continue;
      }
      if (i + 2 > stop) break;
      const len = buf[i + 1];
      if (len < 2 || i + len > stop) break;
      const ptr = len >= 3 ? buf[i + 2] : 0;
      if (t === 7 || t === 131 || t === 137) {
        // Record route: only the slots before the (1-based) pointer are filled; source routes: all are hops.
        const last = t === 7 ? Math.min(len, ptr - 1) : len;
        let s = 3;
        for (; s + 4 <= last; s += 4) changed += this.address(i + s, 4, stop);
        if (t !== 7 && s > 3 && ptr <= len) L.pseudoDstOff = i + s - 4;
      } else if (t === 82 && len >= 12) {
        // Traceroute (RFC 1393): the originator's address.
        changed += this.address(i + 8, 4, stop);
      } else if (t === 68 && len >= 4) {
        // Timestamp, flag 1: (address, time) pairs filled before the pointer; flag 3: prespecified addresses.
        const flag = buf[i + 3] & 0x0f;
        if (flag === 1 || flag === 3) {
          const last = flag === 1 ? Math.min(len, ptr - 1) : len;
          for (let s = 4; s + 8 <= last; s += 8) changed += this.address(i + s, 4, stop);
        }
      }
      i += len;
    }
    return changed;
  }

  /**
   * IPv6 routing headers of layer `L` (after hop-by-hop or destination options, present up to `end`): the
   * addresses of types 0, 2 and 4 (segment routing). With segments left, the final destination (the last
   * address of type 0, the home address of type 2, segment 0 of type 4) is the pseudo-header's destination.
   */
  private ip6Routing(L: IpLayer, end: number): number {
    const buf = this.buf;
    let next = buf[L.l3Off + 6];
    let h = L.l3Off + 40, changed = 0;
    while (next === 0 || next === 60 || next === 43) {
      if (h + 8 > end) break;
      const len = (buf[h + 1] + 1) * 8;
      if (next === 43) {
        const type = buf[h + 2], left = buf[h + 3];
        const slots = buf[h + 1] >> 1;
        let n = 0, final = 0;
        if (type === 0) {
          n = slots;
          final = n - 1;
        } else if (type === 2) n = Math.min(1, slots);
        else if (type === 4) n = Math.min(buf[h + 4] + 1, slots);
        const stop = Math.min(end, h + len);
        for (let k = 0; k < n; k++) changed += this.address(h + 8 + 16 * k, 6, stop);
        if (left > 0 && n > 0) L.pseudoDstOff = h + 8 + 16 * final;
      } else if (next === 60) changed += this.homeAddress(L, h + 2, Math.min(end, h + len));
      next = buf[h];
      h += len;
    }
    return changed;
  }

  /**
   * The options of a destination options header, `[o, stop)`: a Home Address option (Mobile IPv6, type 201)
   * holds the sender's home address, which is also the transport pseudo-header's source.
   */
  private homeAddress(L: IpLayer, o: number, stop: number): number {
    const buf = this.buf;
    let changed = 0;
    while (o < stop) {
      const type = buf[o];
      if (type === 0) {
        o++;
        continue;
      }
      if (o + 2 > stop) break;
      const len = buf[o + 1];
      if (type === 201 && len === 16 && o + 18 <= stop) {
        changed += this.address(o + 2, 6, stop);
        L.pseudoSrcOff = o + 2;
      }
      o += 2 + len;
    }
    return changed;
  }

  /** Decodes the frame (or inner packet) at `[off, end)`, rewrites its IP layer and descends into its payload. */
  private walk(off: number, end: number, linkType: number, depth: number): number {
    if (end <= off) return 0;
    if (depth >= MAX_LAYERS || this.nLayers >= MAX_LAYERS) {
      // More to read than this rewrites: what lies below would be copied in clear.
      this.unsafe = true;
      this.unsafeReason = `more than ${MAX_LAYERS} IP layers nested (this rewrites ${MAX_LAYERS})`;
      return 0;
    }
    const d = this.decoder;
    const r = d.decode(0, this.buf, off, end - off, end - off, linkType);
    const p = d.packet;
    if (p.ipVersion === 0) {
      // An IP header cut inside its fixed part (a snapshot length: an ICMP error's quote at -s 96, a tunnel's
      // inner header): what was captured of its addresses is rewritten, as other cut addresses are, and the
      // frame kept (every ICMPv6 error was left out at common snapshot lengths).
      const cut = p.cutIpOff;
      if (
        r === SkipReason.TRUNCATED && cut >= 0 && cut < end &&
        (this.buf[cut] >> 4 === 4 || this.buf[cut] >> 4 === 6)
      ) {
        if (depth > 0) this.cutInner = true;
        if (this.buf[cut] >> 4 === 6) return this.address(cut + 8, 6, end) + this.address(cut + 24, 6, end);
        // The header checksum covers the addresses' bytes past the cut as they were: its 16 bits of them (two
        // bytes of the destination could be solved for) are zeroed rather than updated.
        this.zero(cut + 10, Math.min(cut + 12, end));
        return this.address(cut + 12, 4, end) + this.address(cut + 16, 4, end);
      }
      // A frame that carries IP (by its EtherType, or a link type without one) whose IP header is malformed, or
      // cut inside its options or extension headers: what is there of its addresses cannot all be found, so the
      // frame cannot be kept.
      // Inside a tunnel or an ICMP error's quote, and behind MPLS or PPPoE, what is cut short is IP too.
      if (
        (r === SkipReason.TRUNCATED || r === SkipReason.BAD_IP) &&
        (depth > 0 || IP_CARRIERS.has(p.ethType))
      ) this.unsafe = true;
      // Behind Cisco HDLC, 0x8035 is SLARP, whose requests and replies carry an address in a layout of their
      // own: the frame is not kept (it was read as RARP, and its address copied in clear).
      if (p.ethType === 0x8035 && hasLayer(p, Layer.CHDLC)) {
        this.unsafe = true;
        this.unsafeReason = "Cisco SLARP (its address is not rewritten)";
        return 0;
      }
      // ARP or RARP (the same layout), after an Ethernet or Linux cooked header and any VLAN tags.
      return p.ethType === 0x0806 || p.ethType === 0x8035 ? this.arp(p.ethPayloadOff, end) : 0;
    }
    const L = this.layers[this.nLayers++];
    L.version = p.ipVersion === 4 ? 4 : 6;
    L.l3Off = p.l3Off;
    L.hdrLen = p.ipHdrLen;
    L.ipEnd = p.l3Off + p.ipTotalLen;
    L.srcOff = p.srcAddrOff;
    L.dstOff = p.dstAddrOff;
    L.pseudoDstOff = p.dstAddrOff;
    L.pseudoSrcOff = p.srcAddrOff;
    L.proto = p.proto;
    // -1 when the decode stopped before the transport header (PacketView.reset).
    L.l4Off = p.l4Off;
    L.fragment = p.isFragment;
    const icmpType = p.icmpType;
    const srcPort = p.srcPort, dstPort = p.dstPort;
    const firstFragment = (p.ipFlags & 1) !== 0 && p.fragOffset === 0;
    const dataEnd = Math.min(end, L.ipEnd);
    L.capEnd = dataEnd;
    if (L.proto === 132 && !L.fragment) {
      this.learnSctpAddress(L.srcOff, L.version, end);
      this.learnSctpAddress(L.dstOff, L.version, end);
    }
    let changed = this.address(L.srcOff, L.version, end) + this.address(L.dstOff, L.version, end);
    if (L.version === 4) {
      if (L.hdrLen > 20) changed += this.ip4Options(L, dataEnd);
    } else changed += this.ip6Routing(L, dataEnd);
    if (L.fragment || L.l4Off < 0 || L.l4Off >= dataEnd) return changed;
    const o = L.l4Off;
    switch (L.proto) {
      case 4:
      case 41:
        changed += this.walk(o, dataEnd, LINK_RAW, depth + 1);
        break;
      case 47:
        changed += this.gre(o, dataEnd, depth);
        break;
      case 17:
        if (o + 8 <= dataEnd) {
          // The datagram ends where its UDP length says when that is shorter than the IP payload, or in a first
          // fragment (longer), as the decoder takes it.
          const udpLen = (this.buf[o + 4] << 8) | this.buf[o + 5];
          const datagramEnd = o + udpDatagramLength(udpLen, L.ipEnd - o, firstFragment);
          changed += this.udpTunnel(o + 8, dataEnd, datagramEnd, srcPort, dstPort, depth);
        }
        break;
      case 1:
        // A redirect names the gateway to use in bytes 4-7.
        if (icmpType === 5) changed += this.address(o + 4, 4, dataEnd);
        // A router advertisement (RFC 1256) lists its addresses: count at 4, entry size in words at 5.
        if (icmpType === 9 && o + 8 <= dataEnd && this.buf[o + 5] >= 1) {
          const step = this.buf[o + 5] * 4;
          for (let k = 0, a = o + 8; k < this.buf[o + 4]; k++, a += step) {
            changed += this.address(a, 4, dataEnd);
          }
        }
        // ICMP errors quote the offending datagram after 8 bytes.
        if (icmpType === 3 || icmpType === 4 || icmpType === 5 || icmpType === 11 || icmpType === 12) {
          changed += this.walk(o + 8, dataEnd, LINK_RAW, depth + 1);
        }
        break;
      case 2:
        changed += this.igmp(o, L.ipEnd, dataEnd);
        break;
      case 132:
        changed += this.sctp(o, dataEnd);
        break;
      case 112:
        changed += this.vrrp(o, L.version, L.ipEnd, dataEnd);
        break;
      case 103:
        changed += this.pim(o, dataEnd, depth);
        break;
      case 89:
        changed += L.version === 4 ? this.ospf(o, dataEnd) : this.ospf3(o, dataEnd);
        break;
      case 58:
        if (icmpType >= 1 && icmpType <= 4) changed += this.walk(o + 8, dataEnd, LINK_RAW, depth + 1);
        else if (icmpType === 135 || icmpType === 136) {
          changed += this.address(o + 8, 6, dataEnd) + this.ndOptions(o + 24, dataEnd, depth);
        } else if (icmpType === 137) {
          changed += this.address(o + 8, 6, dataEnd) + this.address(o + 24, 6, dataEnd) +
            this.ndOptions(o + 40, dataEnd, depth);
        } else if (icmpType === 134) changed += this.ndOptions(o + 16, dataEnd, depth);
        else if (icmpType === 133) changed += this.ndOptions(o + 8, dataEnd, depth);
        // Mobile IPv6 (RFC 6275): a home agent address discovery reply's addresses, a mobile prefix
        // advertisement's prefix options.
        else if (icmpType === 145) {
          for (let a = o + 8; a < dataEnd; a += 16) changed += this.address(a, 6, dataEnd);
        } else if (icmpType === 147) changed += this.ndOptions(o + 8, dataEnd, depth);
        else if ((icmpType >= 130 && icmpType <= 132) || icmpType === 143) {
          changed += this.mld(o, icmpType, dataEnd);
        } else if (icmpType === 139 || icmpType === 140) {
          changed += this.nodeInformation(o, icmpType, dataEnd);
        }
        break;
    }
    return changed;
  }

  /**
   * Neighbor discovery options from `o` (RFC 4861 and later): the prefixes of prefix information (3) and route
   * information (24) options, the packet quoted by a redirected header (4), and recursive DNS servers (25).
   */
  private ndOptions(o: number, end: number, depth: number): number {
    const buf = this.buf;
    let changed = 0;
    while (o + 8 <= end) {
      const type = buf[o], len = buf[o + 1] * 8;
      if (len === 0) break;
      const stop = Math.min(end, o + len);
      if (type === 3 && len >= 32) changed += this.address(o + 16, 6, stop);
      else if (type === 24 && len >= 16) changed += this.prefix6(o + 8, len >= 24 ? 16 : 8, stop);
      else if (type === 4) changed += this.walk(o + 8, stop, LINK_RAW, depth + 1);
      else if (type === 25) {
        for (let a = o + 8; a < stop; a += 16) changed += this.address(a, 6, stop);
      }
      o += len;
    }
    return changed;
  }

  /**
   * Multicast listener discovery (RFC 2710, RFC 3810): the group of a query, report or done at 8, and an MLDv2
   * query's sources (their count at 26, when the message is longer than MLDv1's 24 bytes); an MLDv2 report's
   * records (their count at 6, from 8), each a group and its sources after 4 bytes, then auxiliary data.
   */
  private mld(o: number, type: number, end: number): number {
    const buf = this.buf;
    let changed = 0;
    if (type !== 143) {
      changed += this.address(o + 8, 6, end);
      if (type === 130 && o + 28 <= end) {
        const sources = (buf[o + 26] << 8) | buf[o + 27];
        for (let k = 0, a = o + 28; k < sources; k++, a += 16) changed += this.address(a, 6, end);
      }
      return changed;
    }
    return o + 8 <= end ? this.groupRecords(o + 8, (buf[o + 6] << 8) | buf[o + 7], end, 6) : 0;
  }

  /**
   * The records of an IGMPv3 or MLDv2 report from `r` (the same layout, addresses of the `version`'s size): type,
   * auxiliary data length in words, number of sources, the group, the sources, the auxiliary data.
   */
  private groupRecords(r: number, count: number, end: number, version: 4 | 6): number {
    const buf = this.buf, n = version === 4 ? 4 : 16;
    let changed = 0;
    for (let k = 0; k < count && r + 4 <= end; k++) {
      const sources = (buf[r + 2] << 8) | buf[r + 3];
      changed += this.address(r + 4, version, end);
      for (let i = 0; i < sources; i++) changed += this.address(r + 4 + n * (i + 1), version, end);
      r += 4 + n * (sources + 1) + 4 * buf[r + 1];
    }
    return changed;
  }

  /**
   * IGMP (RFC 1112, 2236, 3376): the group of a query, report or leave at 4, and an IGMPv3 query's sources
   * (their count at 10, when the message, `ipEnd - o` bytes, is longer than IGMPv2's 8); an IGMPv3 report's
   * records (their count at 6, from 8), each a group and its sources after 4 bytes, then auxiliary data.
   */
  private igmp(o: number, ipEnd: number, end: number): number {
    const buf = this.buf;
    if (o >= end) return 0;
    const type = buf[o];
    let changed = 0;
    if (type === 0x22) {
      return o + 8 > end ? 0 : this.groupRecords(o + 8, (buf[o + 6] << 8) | buf[o + 7], end, 4);
    }
    if (type !== 0x11 && type !== 0x12 && type !== 0x16 && type !== 0x17) return 0;
    changed += this.address(o + 4, 4, end);
    if (type === 0x11 && ipEnd - o >= 12 && o + 12 <= end) {
      const sources = (buf[o + 10] << 8) | buf[o + 11];
      for (let i = 0; i < sources; i++) changed += this.address(o + 12 + 4 * i, 4, end);
    }
    return changed;
  }

  /**
   * ICMPv6 node information (RFC 4620), after its 16-byte header: a query's subject when it is an IPv6 (code 0)
   * or IPv4 (code 2) address, and a successful reply's node addresses (query type 3) or IPv4 addresses (type
   * 4), each after a 4-byte TTL.
   */
  private nodeInformation(o: number, type: number, end: number): number {
    const buf = this.buf;
    const code = buf[o + 1];
    if (type === 139) {
      return code === 0 ? this.address(o + 16, 6, end) : code === 2 ? this.address(o + 16, 4, end) : 0;
    }
    const qtype = o + 6 <= end ? (buf[o + 4] << 8) | buf[o + 5] : 0;
    if (code !== 0 || (qtype !== 3 && qtype !== 4)) return 0;
    const n = qtype === 3 ? 16 : 4;
    let changed = 0;
    for (let a = o + 20; a < end; a += 4 + n) changed += this.address(a, qtype === 3 ? 6 : 4, end);
    return changed;
  }

  /**
   * SCTP's chunks after its 12-byte common header: the address parameters of INIT and INIT ACK (after their 16
   * fixed bytes) and of ASCONF (RFC 5061: after its serial number), and the addresses that ABORT and ERROR causes
   * and ASCONF ACK's error indications quote (RFC 9260 3.3.10). A host lists every address it has there
   * (multi-homing), not only the one in the IP header. Then the opaque bytes (see `sctpOpaque`).
   */
  private sctp(o: number, end: number): number {
    this.opaqueAt.length = 0;
    let changed = this.sctpTlvs(o + 12, end, 0, SctpTlv.CHUNK);
    // After every address parameter of the packet was learnt: an INIT ACK lists its own after its cookie.
    for (let i = 0; i < this.opaqueAt.length; i += 2) {
      changed += this.sctpOpaque(this.opaqueAt[i], this.opaqueAt[i + 1]);
    }
    return changed;
  }

  /**
   * SCTP's type-length-value runs from `p` to `end`, each padded to 4 bytes: chunks (a 1-byte type), parameters
   * or error causes (a 2-byte one); each goes to `sctpChunk`, `sctpParameter` or `sctpCause`.
   */
  private sctpTlvs(p: number, end: number, depth: number, kind: SctpTlv): number {
    const buf = this.buf;
    let changed = 0;
    while (p + 4 <= end) {
      const len = (buf[p + 2] << 8) | buf[p + 3];
      if (len < 4) break;
      const stop = Math.min(end, p + len);
      if (kind === SctpTlv.CHUNK) changed += this.sctpChunk(buf[p], p, stop, depth);
      else {
        const type = (buf[p] << 8) | buf[p + 1];
        changed += kind === SctpTlv.PARAMETER
          ? this.sctpParameter(type, len, p, stop, depth)
          : this.sctpCause(type, p, stop, depth);
      }
      p += (len + 3) & ~3;
    }
    return changed;
  }

  /** An SCTP chunk of `type` at `c` (also one an ERROR quotes as unrecognized, at `depth` 1 or more). */
  private sctpChunk(type: number, c: number, stop: number, depth: number): number {
    if (type === 1 || type === 2) return this.sctpTlvs(c + 20, stop, depth, SctpTlv.PARAMETER);
    // ASCONF and ASCONF ACK: parameters after the serial number.
    if (type === 0xc1 || type === 0x80) return this.sctpTlvs(c + 8, stop, depth, SctpTlv.PARAMETER);
    if (type === 6 || type === 9) return this.sctpTlvs(c + 4, stop, depth, SctpTlv.CAUSE);
    if (type === 10) this.opaque(c + 4, stop);
    // HEARTBEAT and HEARTBEAT ACK: the sender's heartbeat information (parameter 1), opaque too.
    else if ((type === 4 || type === 5) && c + 8 <= stop && this.buf[c + 4] === 0 && this.buf[c + 5] === 1) {
      this.opaque(c + 8, stop);
    }
    return 0;
  }

  /** Notes opaque bytes at `[from, to)` for `sctp` to look through. */
  private opaque(from: number, to: number): void {
    this.opaqueAt.push(from, to);
  }

  /** Remembers the address at `pos` (before it is rewritten) as one SCTP's opaque bytes may hold. */
  private learnSctpAddress(pos: number, version: 4 | 6, end: number): void {
    const buf = this.buf;
    if (pos + (version === 4 ? 4 : 16) > end) return;
    const w = int32At(buf, pos);
    if (version === 4) {
      if (this.sctpAddrs4.size < MAX_SCTP_ADDRESSES) this.sctpAddrs4.add(w);
      return;
    }
    if (this.sctpAddrs6.size >= MAX_SCTP_ADDRESSES) return;
    this.sctpAddrs6.add(addressKey6(buf, pos));
    this.sctpFirstWords6.add(w);
  }

  /**
   * SCTP's opaque bytes: a state cookie (an INIT ACK's parameter 7, a COOKIE ECHO's chunk) and heartbeat
   * information. Their layout is the sender's own, but Linux and usrsctp copy into them the INIT, the INIT ACK
   * and the peers' addresses (a cookie), the address the heartbeat went to. Every address that the capture's
   * SCTP headers and address parameters held so far is rewritten where its bytes appear in them, at any offset.
   */
  private sctpOpaque(from: number, to: number): number {
    const buf = this.buf;
    let changed = 0;
    for (let i = from; i + 4 <= to;) {
      const w = int32At(buf, i);
      if (this.sctpAddrs4.has(w)) {
        changed += this.address(i, 4, to);
        i += 4;
        continue;
      }
      if (this.sctpFirstWords6.has(w) && i + 16 <= to && this.sctpAddrs6.has(addressKey6(buf, i))) {
        changed += this.address(i, 6, to);
        i += 16;
        continue;
      }
      i++;
    }
    return changed;
  }

  /**
   * An SCTP parameter of `type` and `len` at `p`: an IPv4 (5) or IPv6 (6) address; what ASCONF's add
   * (0xc001), delete (0xc002) and set-primary (0xc004) parameters hold after their correlation id; an error
   * cause indication (0xc003)'s causes; the parameter an INIT ACK's unrecognized parameter (8) quotes; a state
   * cookie (7). Nesting is followed a few levels deep, as far as the RFCs nest them.
   */
  private sctpParameter(type: number, len: number, p: number, stop: number, depth: number): number {
    if ((type === 5 && len >= 8) || (type === 6 && len >= 20)) {
      const version = type === 5 ? 4 : 6;
      this.learnSctpAddress(p + 4, version, stop);
      return this.address(p + 4, version, stop);
    }
    if (type === 7 && depth === 0) this.opaque(p + 4, stop);
    else if (depth < 4 && type === 8) return this.sctpTlvs(p + 4, stop, depth + 1, SctpTlv.PARAMETER);
    else if (depth < 4 && (type === 0xc001 || type === 0xc002 || type === 0xc004)) {
      return this.sctpTlvs(p + 8, stop, depth + 1, SctpTlv.PARAMETER);
    } else if (depth < 4 && type === 0xc003) return this.sctpTlvs(p + 8, stop, depth + 1, SctpTlv.CAUSE);
    return 0;
  }

  /**
   * An SCTP error cause of `code` at `c`: an unresolvable address (5) and a restart's new addresses (11) hold
   * address parameters; ASCONF's errors (0x00a0 to 0x00a3) the ASCONF parameter they refuse; an unrecognized
   * chunk type (6) the chunk.
   */
  private sctpCause(code: number, c: number, stop: number, depth: number): number {
    if (depth >= 4) return 0;
    if (code === 5 || code === 11 || (code >= 0xa0 && code <= 0xa3)) {
      return this.sctpTlvs(c + 4, stop, depth + 1, SctpTlv.PARAMETER);
    }
    return code === 6 ? this.sctpTlvs(c + 4, stop, depth + 1, SctpTlv.CHUNK) : 0;
  }

  /**
   * PIM version 2 (RFC 7761, RFC 3973, RFC 5059): the encoded addresses of a Hello's address lists (options 24
   * and 65001), of Register-Stop, Join/Prune, Graft and Graft-Ack, Bootstrap, Assert, Candidate-RP-Advertisement
   * and State Refresh messages, and the packet a Register carries; a join attribute's RPF vector (RFC 5384,
   * 5496, 6513). A message of another type (DF election, PFM), an address family or encoding, or a join
   * attribute it does not know leaves the frame out: its addresses could not all be found.
   */
  private pim(o: number, end: number, depth: number): number {
    const buf = this.buf;
    if (o + 4 > end || buf[o] >> 4 !== 2) return 0;
    const type = buf[o] & 0x0f;
    this.pimChanged = 0;
    let p = o + 4;
    switch (type) {
      case 0:
        while (p + 4 <= end) {
          const option = (buf[p] << 8) | buf[p + 1], len = (buf[p + 2] << 8) | buf[p + 3];
          const stop = Math.min(end, p + 4 + len);
          if (option === 24 || option === 65001) {
            for (let a = p + 4; a >= 0 && a < stop;) a = this.pimAddress(a, stop, 2);
          }
          p += 4 + len;
        }
        break;
      case 1:
        return o + 8 < end ? this.walk(o + 8, end, LINK_RAW, depth + 1) : 0;
      case 2:
      case 5:
        this.pimAddress(this.pimAddress(p, end, 4), end, 2);
        break;
      case 9:
        this.pimAddress(this.pimAddress(this.pimAddress(p, end, 4), end, 2), end, 2);
        break;
      case 3:
      case 6:
      case 7: {
        p = this.pimAddress(p, end, 2);
        if (p < 0 || p + 4 > end) break;
        const groups = buf[p + 1];
        p += 4;
        for (let g = 0; g < groups && p >= 0; g++) {
          p = this.pimAddress(p, end, 4);
          if (p < 0 || p + 4 > end) break;
          const sources = ((buf[p] << 8) | buf[p + 1]) + ((buf[p + 2] << 8) | buf[p + 3]);
          p += 4;
          for (let k = 0; k < sources && p >= 0; k++) p = this.pimAddress(p, end, 4);
        }
        break;
      }
      case 4:
        p = this.pimAddress(p + 4, end, 2);
        while (p >= 0 && p < end) {
          p = this.pimAddress(p, end, 4);
          if (p < 0 || p + 4 > end) break;
          const rps = buf[p + 1];
          p += 4;
          for (let k = 0; k < rps && p >= 0; k++) {
            p = this.pimAddress(p, end, 2);
            if (p >= 0) p += 4;
          }
        }
        break;
      case 8: {
        const prefixes = buf[p];
        p = this.pimAddress(p + 4, end, 2);
        for (let k = 0; k < prefixes && p >= 0; k++) p = this.pimAddress(p, end, 4);
        break;
      }
      default:
        this.leaveOut(`PIM message type ${type} (its addresses are not rewritten)`);
    }
    return this.pimChanged;
  }

  /** Leaves the frame out: a message (PIM, OSPF) holds addresses this cannot find. */
  private leaveOut(reason: string): void {
    this.unsafe = true;
    this.unsafeReason = reason;
  }

  /**
   * A PIM encoded address at `p`: family (1 IPv4, 2 IPv6) and encoding type, then `header - 2` more bytes
   * (a group's or source's flags and mask length), then the address, which is rewritten. Returns where the next
   * field starts, or -1 (an encoding it does not know, or the end of the message).
   */
  private pimAddress(p: number, end: number, header: number): number {
    const buf = this.buf;
    if (p < 0 || p + header > end) return -1;
    const family = buf[p], encoding = buf[p + 1];
    // Encoding 1: a source with join attributes after its address (RFC 5384), in Join/Prune messages.
    if ((family !== 1 && family !== 2) || (encoding !== 0 && (encoding !== 1 || header !== 4))) {
      this.leaveOut(
        `PIM address family ${family} or encoding ${encoding} (its addresses are not rewritten)`,
      );
      return -1;
    }
    const version = family === 1 ? 4 : 6, n = version === 4 ? 4 : 16;
    this.pimChanged += this.address(p + header, version, end);
    let next = p + header + n;
    if (encoding === 0) return next;
    // Attributes: F and E (the last) bits and a type, a length, the value. An RPF vector (type 0) is an
    // address of the source's family; an MVPN RPF vector (type 1) a route distinguisher, then one.
    for (;;) {
      if (next + 2 > end) return -1;
      const flags = buf[next], type = flags & 0x3f, len = buf[next + 1];
      if (type === 0 && len === n) this.pimChanged += this.address(next + 2, version, end);
      else if (type === 1 && len === 8 + n) this.pimChanged += this.address(next + 10, version, end);
      else {
        this.leaveOut(`PIM join attribute ${type} (its addresses are not rewritten)`);
        return -1;
      }
      next += 2 + len;
      if (flags & 0x40) return next;
    }
  }

  /**
   * OSPF version 2 (RFC 2328): the router id of every packet's header; a Hello's designated and backup routers
   * and neighbours; the link state id and advertising router of the LSA headers in database descriptions,
   * requests, updates and acknowledgements; and in updates, the LSAs' bodies: router LSAs' link ids and data
   * (not a stub network's mask), network LSAs' attached routers, external LSAs' forwarding addresses. Masks,
   * area ids, opaque LSAs' ids and an address of 0.0.0.0 (none) stay. An LSA whose Fletcher checksum was right
   * gets it computed again (the copies of it in LSA headers without their LSA stay as they were).
   */
  private ospf(o: number, end: number): number {
    const buf = this.buf;
    if (o + 24 > end || buf[o] !== 2) return 0;
    const type = buf[o + 1];
    const stop = Math.min(end, o + ((buf[o + 2] << 8) | buf[o + 3]));
    let changed = this.ospfAddress(o + 4, stop);
    if (type === 1) {
      for (let a = o + 36; a < stop; a += 4) changed += this.ospfAddress(a, stop);
    } else if (type === 2 || type === 5) {
      for (let h = o + (type === 2 ? 32 : 24); h + 20 <= stop; h += 20) changed += this.lsaHeader(h, stop);
    } else if (type === 3) {
      for (let r = o + 24; r + 12 <= stop; r += 12) {
        const opaque = buf[r + 3] >= 9;
        if (!opaque) changed += this.ospfAddress(r + 4, stop);
        changed += this.ospfAddress(r + 8, stop);
      }
    } else if (type === 4 && o + 28 <= stop) changed += this.lsaUpdate(o + 24, stop, false);
    return changed;
  }

  /**
   * The LSAs of an OSPF link state update whose count is at `c` (version 2's or 3's), each LSA whose Fletcher
   * checksum was right, captured whole, with it computed again.
   */
  private lsaUpdate(c: number, stop: number, v3: boolean): number {
    const buf = this.buf;
    const count = (buf[c] << 24 | buf[c + 1] << 16 | buf[c + 2] << 8 | buf[c + 3]) >>> 0;
    let changed = 0;
    for (let k = 0, p = c + 4; k < count && p + 20 <= stop; k++) {
      const len = (buf[p + 18] << 8) | buf[p + 19];
      if (len < 20) break;
      const lsaEnd = Math.min(stop, p + len);
      const whole = p + len <= stop, valid = whole && fletcherValid(buf, p + 2, p + len);
      // An LSA cut by the snapshot length: its checksum covers bytes never captured, as they were (zeroed).
      if (!whole) this.zero(p + 16, Math.min(p + 18, stop));
      changed += v3
        ? this.ospfAddress(p + 8, lsaEnd) + this.lsa3Body(p, (buf[p + 2] << 8) | buf[p + 3], lsaEnd)
        : this.lsaHeader(p, lsaEnd) + this.lsaBody(p, buf[p + 3], lsaEnd);
      if (valid) this.fixLsaChecksum(p, len);
      p += len;
    }
    return changed;
  }

  /**
   * OSPF version 3 (RFC 5340): router ids (32 bits, taken as IPv4 addresses, as v2's are) of headers, Hellos'
   * designated routers and neighbours, LSA headers' advertising routers and the router ids LSA bodies name; and
   * the IPv6 prefixes and addresses of LSA bodies: inter-area and external prefixes (and external forwarding
   * addresses), link LSAs' link-local address and prefixes, intra-area prefixes. Link state ids, interface ids
   * and 0.0.0.0 stay. Fletcher checksums of LSAs are computed again as in version 2.
   */
  private ospf3(o: number, end: number): number {
    const buf = this.buf;
    if (o + 16 > end || buf[o] !== 3) return 0;
    const type = buf[o + 1];
    const stop = Math.min(end, o + ((buf[o + 2] << 8) | buf[o + 3]));
    let changed = this.ospfAddress(o + 4, stop);
    if (type === 1) {
      for (let a = o + 28; a < stop; a += 4) changed += this.ospfAddress(a, stop);
    } else if (type === 2 || type === 5) {
      for (let h = o + (type === 2 ? 28 : 16); h + 20 <= stop; h += 20) {
        changed += this.ospfAddress(h + 8, stop);
      }
    } else if (type === 3) {
      for (let r = o + 16; r + 12 <= stop; r += 12) changed += this.ospfAddress(r + 8, stop);
    } else if (type === 4 && o + 20 <= stop) changed += this.lsaUpdate(o + 16, stop, true);
    return changed;
  }

  /** The router ids and IPv6 addresses of an OSPFv3 LSA's body (see `ospf3`); `type` with its flag bits. */
  private lsa3Body(p: number, type: number, end: number): number {
    const buf = this.buf, b = p + 20;
    let changed = 0;
    switch (type & 0x1fff) {
      case 1: // router: interfaces of 16 bytes after the options, the neighbour's router id last
        for (let l = b + 4; l + 16 <= end; l += 16) changed += this.ospfAddress(l + 12, end);
        break;
      case 2: // network: attached routers after the options
        for (let a = b + 4; a < end; a += 4) changed += this.ospfAddress(a, end);
        break;
      case 3: // inter-area prefix: metric, then the prefix
        changed += this.ospf3Prefixes(b + 4, 1, end);
        break;
      case 4: // inter-area router: options, metric, destination router id
        changed += this.ospfAddress(b + 8, end);
        break;
      case 5:
      case 7: { // AS-external, NSSA: flags and metric, the prefix, then a forwarding address when F is set
        if (b + 8 > end) break;
        const flags = buf[b], plen = buf[b + 4];
        changed += this.ospf3Prefixes(b + 4, 1, end);
        if (flags & 0x02) changed += this.address(b + 8 + 4 * ((plen + 31) >> 5), 6, end);
        break;
      }
      case 8: // link: priority and options, the link-local address, the number of prefixes, the prefixes
        changed += this.address(b + 4, 6, end);
        if (b + 24 <= end) {
          const n = (buf[b + 20] << 24 | buf[b + 21] << 16 | buf[b + 22] << 8 | buf[b + 23]) >>> 0;
          changed += this.ospf3Prefixes(b + 24, n, end);
        }
        break;
      case 9: // intra-area prefix: the number of prefixes, the referenced LSA (its router), the prefixes
        if (b + 12 <= end) {
          changed += this.ospfAddress(b + 8, end) +
            this.ospf3Prefixes(b + 12, (buf[b] << 8) | buf[b + 1], end);
        }
        break;
      case 11: // grace: a period and a reason, no address
        break;
      default:
        // Router information, extended (E-) LSAs and others: layouts of their own, prefixes among them.
        this.leaveOut(`OSPFv3 LSA function ${type & 0x1fff} (its addresses are not rewritten)`);
    }
    return changed;
  }

  /**
   * `n` OSPFv3 prefixes from `q`, each its length in bits, options, 2 more bytes, and its bytes (whole 32-bit
   * words): rewritten as the start of an address, as prefix preservation maps it.
   */
  private ospf3Prefixes(q: number, n: number, end: number): number {
    const buf = this.buf;
    let changed = 0;
    for (let k = 0; k < n && q + 4 <= end; k++) {
      const bits = buf[q], bytes = 4 * ((bits + 31) >> 5);
      if (bytes > 16) break;
      if (bytes > 0) changed += this.prefix6(q + 4, bytes, Math.min(end, q + 4 + bytes));
      // The bits past the prefix's length are zero, as they were (the mapping fills them).
      for (let i = bits; i < 8 * bytes && q + 4 + (i >> 3) < end; i++) {
        const at = q + 4 + (i >> 3), old = buf[at];
        buf[at] = old & ~(0x80 >> (i & 7));
        this.record(at, old, buf[at]);
      }
      q += 4 + bytes;
    }
    return changed;
  }

  /** An OSPF address field at `a` (0.0.0.0, "none", stays). */
  private ospfAddress(a: number, end: number): number {
    const buf = this.buf;
    if (a + 4 <= end && (buf[a] | buf[a + 1] | buf[a + 2] | buf[a + 3]) === 0) return 0;
    return this.address(a, 4, end);
  }

  /** An LSA header at `h`: its link state id (not an opaque LSA's) and advertising router. */
  private lsaHeader(h: number, end: number): number {
    return (this.buf[h + 3] >= 9 ? 0 : this.ospfAddress(h + 4, end)) + this.ospfAddress(h + 8, end);
  }

  /** The addresses of an LSA's body (see `ospf`). */
  private lsaBody(p: number, type: number, end: number): number {
    const buf = this.buf;
    let changed = 0;
    if (type === 1 && p + 24 <= end) {
      const links = (buf[p + 22] << 8) | buf[p + 23];
      let l = p + 24;
      for (let k = 0; k < links && l + 12 <= end; k++) {
        const linkType = buf[l + 8];
        changed += this.ospfAddress(l, end);
        // A stub network's link data is its mask.
        if (linkType !== 3) changed += this.ospfAddress(l + 4, end);
        l += 12 + 4 * buf[l + 9];
      }
    } else if (type === 2) {
      for (let a = p + 24; a < end; a += 4) changed += this.ospfAddress(a, end);
    } else if (type === 5 || type === 7) {
      // Mask, then entries of 12 bytes (metric, forwarding address, route tag), the first for TOS 0.
      for (let e = p + 24; e + 12 <= end; e += 12) changed += this.ospfAddress(e + 4, end);
    } else if (type >= 9 && type <= 11 && buf[p + 4] === 3) {
      // A grace LSA (RFC 3623): TLVs, of which the restarting router's interface address (3).
      for (let t = p + 20; t + 4 <= end;) {
        const tlv = (buf[t] << 8) | buf[t + 1], len = (buf[t + 2] << 8) | buf[t + 3];
        if (tlv === 3 && len === 4) changed += this.ospfAddress(t + 4, end);
        t += 4 + ((len + 3) & ~3);
      }
    } else if (type !== 3 && type !== 4) {
      // Other opaque LSAs (traffic engineering, router information, extended links and prefixes) and group
      // membership LSAs hold addresses in layouts of their own.
      const opaque = type >= 9 && type <= 11 ? ` (opaque ${buf[p + 4]})` : "";
      this.leaveOut(`OSPF LSA type ${type}${opaque} (its addresses are not rewritten)`);
    }
    return changed;
  }

  /** Writes an LSA's Fletcher checksum (ISO 8473, over its bytes after the age, at its offset 16) again. */
  private fixLsaChecksum(p: number, len: number): void {
    const buf = this.buf, at = p + 16;
    const old0 = buf[at], old1 = buf[at + 1];
    buf[at] = 0;
    buf[at + 1] = 0;
    const sums = fletcherSums(buf, p + 2, p + len), c0 = sums >> 8, c1 = sums & 255;
    // The check bytes at position `at - (p + 2)` of the `len - 2` bytes summed, which make both sums zero.
    const n = len - 2, pos = at - (p + 2);
    let x = ((n - pos - 1) * c0 - c1) % 255;
    if (x <= 0) x += 255;
    let y = 510 - c0 - x;
    if (y > 255) y -= 255;
    buf[at] = x;
    buf[at + 1] = y;
    this.record(at, old0, x);
    this.record(at + 1, old1, y);
    if (old0 !== x || old1 !== y) this.checksums++;
  }

  /**
   * VRRP (RFC 3768 version 2, RFC 5798 version 3): the virtual router's addresses, their count at 3, from 8, of
   * the IP version of the packet that carries them.
   */
  private vrrp(o: number, version: 4 | 6, ipEnd: number, end: number): number {
    const buf = this.buf;
    if (o + 8 > end) return 0;
    const v = buf[o] >> 4, count = buf[o + 3], n = version === 4 ? 4 : 16;
    // OpenBSD's CARP is protocol 112 and version 2 too, with a counter and an HMAC where VRRP has addresses:
    // VRRP version 2 is 16 bytes and its addresses (authentication type 0 to 2), version 3 8 and its addresses.
    if (
      v === 2
        ? (version !== 4 || buf[o + 4] > 2 || ipEnd - o !== 16 + 4 * count)
        : v !== 3 || ipEnd - o < 8 + n * count
    ) {
      return 0;
    }
    let changed = 0;
    for (let k = 0, a = o + 8; k < count && a < end; k++, a += n) changed += this.address(a, version, end);
    return changed;
  }

  /**
   * Anonymizes the first `n` bytes of an IPv6 prefix at `pos` (a route information option may carry 8): as the
   * start of an address with zeros after it, which prefix preservation maps to the same start.
   */
  private prefix6(pos: number, n: number, end: number): number {
    if (n === 16) return this.address(pos, 6, end);
    if (pos >= end) return 0;
    // Cut by the snapshot length: as a cut address. Whole, the prefix is an address of zeros after it: with
    // --subnets one outside them stays as it is (a cut address is zeroed, not knowing its bytes after the cut).
    if (pos + n > end) return this.cutAddress(pos, 6, end - pos);
    const buf = this.buf, a = this.prefixScratch;
    a.fill(0);
    a.set(buf.subarray(pos, pos + n));
    if (!this.anonymizer.bytes(a, 0, 6)) return 0;
    for (let i = 0; i < n; i++) {
      const old = buf[pos + i];
      buf[pos + i] = a[i];
      this.record(pos + i, old, a[i]);
    }
    return 1;
  }

  private gre(o: number, end: number, depth: number): number {
    const buf = this.buf;
    if (end - o < 4) return 0;
    const type = (buf[o + 2] << 8) | buf[o + 3];
    const inner = o + greHeaderLength(buf, o);
    if ((buf[o + 1] & 7) === 1) {
      return type === 0x880b && inner < end ? this.walk(inner, end, LINK_PPP, depth + 1) : 0;
    }
    if (inner >= end) return 0;
    if (type === 0x0800 || type === 0x86dd) return this.walk(inner, end, LINK_RAW, depth + 1);
    if (type === 0x8847 || type === 0x8848) return this.mpls(inner, end, depth);
    const eh = type === 0x6558 ? 0 : erspanHeaderLength(buf, inner, end, buf[o], type);
    return eh >= 0 ? this.walk(inner + eh, end, LINK_ETHERNET, depth + 1) : 0;
  }

  /**
   * MPLS over GRE: past the label stack, IP, or an Ethernet pseudowire behind its control word, as the decoder
   * reads them; a stack cut short leaves the frame out.
   */
  private mpls(o: number, end: number, depth: number): number {
    const payload = mplsStackEnd(this.buf, o, end);
    if (payload < 0) {
      this.unsafe = true;
      return 0;
    }
    if (isPwControlWord(this.buf, payload, end)) return this.walk(payload + 4, end, LINK_ETHERNET, depth + 1);
    return this.walk(payload, end, LINK_RAW, depth + 1);
  }

  /** UDP-carried tunnels, recognised by the decoder's rules (`lib/tunnels.ts`). */
  private udpTunnel(
    o: number,
    end: number,
    datagramEnd: number,
    sp: number,
    dp: number,
    depth: number,
  ): number {
    const buf = this.buf;
    if (isVxlan(buf, o, end, sp, dp)) return this.walk(o + 8, end, LINK_ETHERNET, depth + 1);
    if ((dp === 6081 || sp === 6081) && end - o >= 8 && (buf[o] >> 6) === 0) {
      const type = (buf[o + 2] << 8) | buf[o + 3];
      const inner = o + 8 + (buf[o] & 0x3f) * 4;
      if (inner >= end) return 0;
      if (type === 0x6558) return this.walk(inner, end, LINK_ETHERNET, depth + 1);
      if (type === 0x0800 || type === 0x86dd) return this.walk(inner, end, LINK_RAW, depth + 1);
      return 0;
    }
    const gtp = gtpInner(buf, o, end, sp, dp);
    if (gtp >= 0) return this.walk(gtp, end, LINK_RAW, depth + 1);
    if (dp !== 3544 && sp !== 3544) return 0;
    let changed = 0;
    const i = teredoHeaders(buf, o, end);
    // Origin indication: obfuscated port (left as it is), then the obfuscated client address.
    if (i >= 0 && teredoOrigin(buf, i, end) && (end - i === 8 || (buf[i + 8] >> 4) === 6)) {
      changed += this.obfuscatedAddress(i + 4, end);
    }
    // The datagram's end by its length (the capture may hold less), as the decoder takes it.
    const inner = teredoInner(buf, o, end, datagramEnd, sp, dp);
    return inner >= 0 ? changed + this.walk(inner, end, LINK_RAW, depth + 1) : changed;
  }

  /**
   * One's complement sum of the changes inside `[from, to)`, each byte weighted by its parity relative to
   * `base` (the start of the checksummed data), as (~old + new) per RFC 1624.
   */
  private delta(from: number, to: number, base: number): number {
    let sum = 0;
    for (let i = 0; i < this.nCh; i++) {
      const pos = this.chPos[i];
      if (pos < from || pos >= to) continue;
      const hi = ((pos - base) & 1) === 0;
      const o = hi ? this.chOld[i] << 8 : this.chOld[i];
      const n = hi ? this.chNew[i] << 8 : this.chNew[i];
      sum += (~o & 0xffff) + n;
    }
    return sum;
  }

  /** The 16-bit checksum at `pos` with a delta applied; `udp`: a result of 0 is 0xffff. */
  private updated(pos: number, sum: number, udp: boolean): number {
    const buf = this.buf;
    const old = (buf[pos] << 8) | buf[pos + 1];
    const c = ~fold(sum + (~old & 0xffff)) & 0xffff;
    return udp && c === 0 ? 0xffff : c;
  }

  /** Applies a delta to the 16-bit checksum at `pos`; `udp`: a result of 0 is written as 0xffff. */
  private apply(pos: number, sum: number, udp: boolean): void {
    this.write16(pos, this.updated(pos, sum, udp));
  }

  /** Writes a new checksum value at `pos`, recording the change. */
  private write16(pos: number, c: number): void {
    const buf = this.buf;
    const old = (buf[pos] << 8) | buf[pos + 1];
    if (c === old) return;
    buf[pos] = c >> 8;
    buf[pos + 1] = c & 0xff;
    this.record(pos, old >> 8, c >> 8);
    this.record(pos + 1, old & 0xff, c & 0xff);
    this.checksums++;
  }

  /** Zeroes the bytes `[from, to)` (a checksum), recording the changes. */
  private zero(from: number, to: number): void {
    const buf = this.buf;
    for (let i = from; i < to; i++) {
      this.record(i, buf[i], 0);
      buf[i] = 0;
    }
  }

  /**
   * Whether the TCP or UDP checksum at `at` holds only the pseudo-header's sum: what a sender with checksum
   * offload hands its card, and a capture on that host records (Linux: the sum of the addresses, protocol and
   * length, not complemented; some drivers want it without the length). Updated as a whole checksum, it kept
   * the original addresses' sum (twice the old less the new): the address of a client could be worked out from
   * the output. A whole checksum that happens to have that value is told apart by `sum`'s update verifying over
   * the segment, when it was captured whole.
   */
  private isPartialChecksum(L: IpLayer, at: number, sum: number, udp: boolean): boolean {
    const buf = this.buf, n = L.version === 4 ? 4 : 16, old = this.pseudoScratch;
    // The original addresses: the bytes as they are now, with this packet's changes undone (the first change
    // of a byte holds its original value).
    for (let i = 0; i < n; i++) {
      old[i] = buf[L.pseudoSrcOff + i];
      old[n + i] = buf[L.pseudoDstOff + i];
    }
    for (let i = this.nCh - 1; i >= 0; i--) {
      const pos = this.chPos[i];
      if (pos >= L.pseudoSrcOff && pos < L.pseudoSrcOff + n) old[pos - L.pseudoSrcOff] = this.chOld[i];
      else if (pos >= L.pseudoDstOff && pos < L.pseudoDstOff + n) {
        old[n + pos - L.pseudoDstOff] = this.chOld[i];
      }
    }
    let addresses = L.proto;
    for (let i = 0; i < 2 * n; i += 2) addresses += (old[i] << 8) | old[i + 1];
    const o = L.l4Off, len = L.ipEnd - o;
    const field = (buf[at] << 8) | buf[at + 1];
    const udpLen = udp ? (buf[o + 4] << 8) | buf[o + 5] : len;
    if (
      field !== fold(addresses + (len >>> 16) + (len & 0xffff)) && field !== fold(addresses + udpLen) &&
      field !== fold(addresses)
    ) return false;
    if (L.capEnd < L.ipEnd) return true;
    // Captured whole: a checksum is whole when its update verifies (a sum of all ones).
    const c = this.updated(at, sum, udp);
    let total = L.proto + (len >>> 16) + (len & 0xffff);
    for (let i = 0; i < n; i += 2) {
      total += ((buf[L.pseudoSrcOff + i] << 8) | buf[L.pseudoSrcOff + i + 1]) +
        ((buf[L.pseudoDstOff + i] << 8) | buf[L.pseudoDstOff + i + 1]);
    }
    for (let i = o; i < L.ipEnd; i += 2) {
      total += i === at ? c : ((buf[i] << 8) | (i + 1 < L.ipEnd ? buf[i + 1] : 0));
      if (total > 0x3fffffff) total = fold(total);
    }
    return fold(total) !== 0xffff;
  }

  /** Updates a pseudo-header sum at `pos` (see `isPartialChecksum`) by the addresses' delta: it stays a sum. */
  private applyPartial(pos: number, pseudoSum: number): void {
    const buf = this.buf;
    this.write16(pos, fold(((buf[pos] << 8) | buf[pos + 1]) + pseudoSum));
  }

  /**
   * Whether layer `L` (the `index`th) was cut by the snapshot length where its message can hold addresses this
   * rewrites: its checksum covers them as they were, and updated by the captured changes it would still tell
   * 16 bits of them (a router id past the cut could be solved for). Such a checksum is zeroed. TCP and UDP
   * hold addresses only as a tunnel; ICMP's echoes and timestamps none.
   */
  private cutOverAddresses(L: IpLayer, index: number): boolean {
    if (L.capEnd >= L.ipEnd || L.l4Off < 0 || L.l4Off >= L.capEnd) return false;
    const type = this.buf[L.l4Off];
    switch (L.proto) {
      case 6:
      case 17:
      case 136:
      case 33:
        return this.nLayers > index + 1 || this.cutInner;
      case 1:
        return type !== 0 && type !== 8 && type !== 13 && type !== 14;
      case 58:
        return type !== 128 && type !== 129;
      default:
        return true;
    }
  }

  private fixChecksums(L: IpLayer, index: number): void {
    if (this.nCh === 0) return;
    const n = L.version === 4 ? 4 : 16;
    const o = L.l4Off;
    if (!L.fragment && o >= 0 && o < L.ipEnd) {
      let at = -1, pseudo = true, udp = false, sumEnd = L.capEnd;
      if (L.proto === 6) at = o + 16;
      else if (L.proto === 17) {
        at = o + 6;
        udp = true;
      } else if (L.proto === 58) at = o + 2;
      // Other checksums over the addresses' pseudo-header: UDP-Lite and DCCP; OSPFv3, PIM and the mobility
      // header over IPv6; VRRP version 3.
      else if (L.proto === 136 || L.proto === 33) at = o + 6;
      else if (L.proto === 89 && L.version === 6) at = o + 12;
      else if (L.proto === 89 && o + 16 <= L.capEnd && (this.buf[o + 14] << 8 | this.buf[o + 15]) !== 2) {
        // OSPFv2 without cryptographic authentication: over the packet (but its authentication field, which
        // nothing changes here), without a pseudo-header. With it, the digest after the packet covers it all.
        at = o + 12;
        pseudo = false;
        sumEnd = Math.min(sumEnd, o + ((this.buf[o + 2] << 8) | this.buf[o + 3]));
      } else if (L.proto === 103) {
        // PIM: over the message, with the pseudo-header over IPv6; a Register's over its first 8 bytes only,
        // without the packet it carries.
        at = o + 2;
        pseudo = L.version === 6;
        if (o < L.capEnd && (this.buf[o] & 0x0f) === 1) sumEnd = Math.min(sumEnd, o + 8);
      } else if (L.proto === 135 && L.version === 6) at = o + 4;
      else if (L.proto === 112 && o < L.capEnd && (this.buf[o] >> 4) === 3) at = o + 6;
      else if (L.proto === 112 && o < L.capEnd && (this.buf[o] >> 4) === 2) {
        // VRRP version 2: over the message alone.
        at = o + 6;
        pseudo = false;
      } else if (L.proto === 1 || L.proto === 2) {
        // ICMP, IGMP: over the message alone.
        at = o + 2;
        pseudo = false;
      } else if (L.proto === 47 && o + 4 <= L.capEnd && (this.buf[o] & 0x80) && (this.buf[o + 1] & 7) === 0) {
        // GRE with the C flag: a checksum over the GRE header and payload, which the inner layers changed.
        at = o + 4;
        pseudo = false;
      }
      if (L.proto === 132) this.fixSctpChecksum(o, L.ipEnd, L.capEnd);
      else if (at >= 0 && at + 2 <= L.capEnd) {
        const zeroUdp = udp && this.buf[at] === 0 && this.buf[at + 1] === 0;
        if (!zeroUdp && this.cutOverAddresses(L, index)) this.write16(at, 0);
        else if (!zeroUdp) {
          const pseudoSum = pseudo
            ? this.delta(L.pseudoSrcOff, L.pseudoSrcOff + n, L.pseudoSrcOff) +
              this.delta(L.pseudoDstOff, L.pseudoDstOff + n, L.pseudoDstOff)
            : 0;
          const sum = this.delta(o, sumEnd, o) + pseudoSum;
          if (
            pseudoSum !== 0 && (L.proto === 6 || L.proto === 17) && this.isPartialChecksum(L, at, sum, udp)
          ) {
            this.applyPartial(at, pseudoSum);
          } else if (sum !== 0) this.apply(at, sum, udp);
        }
      }
    }
    if (L.version === 4 && L.l3Off + 12 <= L.capEnd) {
      const sum = this.delta(L.l3Off, L.l3Off + L.hdrLen, L.l3Off);
      if (sum !== 0) this.apply(L.l3Off + 10, sum, false);
    }
  }

  /**
   * SCTP's CRC32c (RFC 9260 appendix A) at `o + 8`, over the packet `[o, ipEnd)` alone (no pseudo-header), after
   * its chunks changed. A CRC is linear: the CRCs of two messages of one length differ by the CRC (zero initial
   * value, no final XOR) of their XOR, which is zero but where bytes changed. So the stored value is updated by
   * the changes alone, as the one's complement sums are (RFC 1624): a wrong one stays wrong. A packet a snapshot
   * length cut gets a zero CRC (see below). A zero checksum (RFC 9653) is left as it is.
   */
  private fixSctpChecksum(o: number, ipEnd: number, capEnd: number): void {
    const buf = this.buf, at = o + 8, n = ipEnd - o;
    if (at + 4 > capEnd || n <= 12) return;
    let any = false;
    for (let i = 0; i < this.nCh && !any; i++) any = this.chPos[i] >= o + 12 && this.chPos[i] < capEnd;
    if (!any || (buf[at] | buf[at + 1] | buf[at + 2] | buf[at + 3]) === 0) return;
    if (capEnd < ipEnd) {
      // Cut by the snapshot length: updated by the captured changes, the CRC would hold the uncaptured bytes
      // as they were, and 32 bits of them (an address parameter past the cut) could be solved for. Zeroed.
      this.zero(at, at + 4);
      this.checksums++;
      return;
    }
    if (this.crcScratch.length < n) this.crcScratch = new Uint8Array(n);
    const x = this.crcScratch;
    for (let i = 0; i < this.nCh; i++) {
      const pos = this.chPos[i];
      if (pos >= o + 12 && pos < capEnd) x[pos - o] ^= this.chOld[i] ^ this.chNew[i];
    }
    const diff = ~CRC32C.buf(x.subarray(0, n), -1);
    x.fill(0, 0, n);
    // The value is stored least significant byte first (as Linux and usrsctp write it, and tshark reads it).
    for (let i = 0; i < 4; i++) {
      const old = buf[at + i], v = old ^ ((diff >>> (8 * i)) & 0xff);
      buf[at + i] = v;
      this.record(at + i, old, v);
    }
    this.checksums++;
  }
}

/** An IPv6 address at `b[pos]` as a string key (eight 16-bit character codes). */
function addressKey6(b: Uint8Array, pos: number): string {
  let k = "";
  for (let i = 0; i < 16; i += 2) k += String.fromCharCode((b[pos + i] << 8) | b[pos + i + 1]);
  return k;
}

/** Whether the Fletcher checksum (ISO 8473) over `b[from, to)` verifies: both running sums are 0 modulo 255. */
function fletcherValid(b: Uint8Array, from: number, to: number): boolean {
  return fletcherSums(b, from, to) === 0;
}

/** The two running sums of the Fletcher checksum over `b[from, to)`, modulo 255, as `c0 << 8 | c1`. */
function fletcherSums(b: Uint8Array, from: number, to: number): number {
  let c0 = 0, c1 = 0;
  for (let i = from; i < to; i++) {
    c0 = (c0 + b[i]) % 255;
    c1 = (c1 + c0) % 255;
  }
  return (c0 << 8) | c1;
}

/** A one's complement sum folded to 16 bits. */
function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return sum;
}

/** Options of any block that can hold text about the capture: comments and custom options. */
function isTextOption(code: number): boolean {
  return code === 1 || code === 2988 || code === 2989 || code === 19372 || code === 19373;
}

/**
 * Options an interface description block is left without: the capturing host's addresses (if_IPv4addr 4,
 * if_IPv6addr 5), the capture filter (if_filter 11, "host 10.1.2.3"), and the text options.
 */
function idbLeaks(code: number): boolean {
  return code === 4 || code === 5 || code === 11 || isTextOption(code);
}

/**
 * Options a packet block is left without: the hash of the packet as captured (epb_hash 3, which a guess of the
 * rewritten addresses can be checked against), and the text options.
 */
function packetLeaks(code: number): boolean {
  return code === 3 || isTextOption(code);
}

/**
 * The block at `buf[b, b + len)` (`dv` a view of `buf`), whose options start at `b + first`, without the options
 * `leaks` names, and the number of options removed; null when it has none (most blocks: nothing is allocated).
 */
function blockWithoutOptions(
  buf: Uint8Array,
  dv: DataView,
  b: number,
  len: number,
  le: boolean,
  first: number,
  leaks: (code: number) => boolean,
): [Uint8Array, number] | null {
  const end = b + len - 4;
  let removed = 0;
  for (let o = b + first; o + 4 <= end;) {
    const code = dv.getUint16(o, le), olen = dv.getUint16(o + 2, le);
    if (code === 0) break;
    if (leaks(code)) removed++;
    o += 4 + ((olen + 3) & ~3);
  }
  if (removed === 0) return null;
  const out = new Uint8Array(len);
  out.set(buf.subarray(b, b + first));
  let w = first, o = b + first;
  while (o + 4 <= end) {
    const code = dv.getUint16(o, le);
    const next = Math.min(end, o + 4 + ((dv.getUint16(o + 2, le) + 3) & ~3));
    if (code === 0 || !leaks(code)) {
      out.set(buf.subarray(o, next), w);
      w += next - o;
    }
    o = next;
    if (code === 0) break;
  }
  // Whatever follows the options (nothing, in a valid block) is kept as it is.
  out.set(buf.subarray(o, end), w);
  w += end - o;
  const odv = new DataView(out.buffer);
  odv.setUint32(4, w + 4, le);
  odv.setUint32(w, w + 4, le);
  return [out.subarray(0, w + 4), removed];
}

/** Buffered writing to a byte stream. */
class Output {
  private buf = new Uint8Array(1 << 20);
  private n = 0;
  constructor(private readonly w: WritableStreamDefaultWriter<Uint8Array>) {}

  async write(b: Uint8Array): Promise<void> {
    if (this.n + b.length > this.buf.length) await this.flush();
    if (b.length > this.buf.length) {
      await this.w.write(b.slice());
      return;
    }
    this.buf.set(b, this.n);
    this.n += b.length;
  }

  async flush(): Promise<void> {
    if (this.n === 0) return;
    await this.w.write(this.buf.slice(0, this.n));
    this.n = 0;
  }
}

const MAX_RECORD = 16 << 20;

/**
 * Reads a pcap or pcapng capture from `input` (a reader, or a stream such as a decompressed one), anonymizes its
 * packets with `anonymizer` (cryptopan or hash mode) and writes the capture in the same format to `output` (which
 * is closed at the end). Throws a RangeError when the input is not a capture.
 *
 * @example
 * ```ts
 * import { Anonymizer } from "./anonymizer.ts";
 * import { anonymizeCapture } from "./pcap.ts";
 * const input = await Deno.open("in.pcap");
 * const output = await Deno.open("out.pcap", { write: true, create: true, truncate: true });
 * const r = await anonymizeCapture(input, output.writable, new Anonymizer(new Uint8Array(32).fill(1)));
 * input.close();
 * console.log(r.packets, r.addresses);
 * ```
 */
export async function anonymizeCapture(
  input: ByteReader | ReadableStream<Uint8Array>,
  output: WritableStream<Uint8Array>,
  anonymizer: Anonymizer,
): Promise<CaptureAnonResult> {
  const inp = new ReadBuffer(input instanceof ReadableStream ? streamReader(input) : input);
  const writer = output.getWriter();
  const out = new Output(writer);
  const pa = new PacketAnonymizer(anonymizer);
  const result: CaptureAnonResult = {
    format: "",
    packets: 0,
    packetsChanged: 0,
    addresses: 0,
    checksums: 0,
    droppedBlocks: 0,
    droppedOptions: 0,
    droppedPackets: 0,
    droppedPacketReasons: {},
    unsupportedPackets: 0,
    unsupportedLinkTypes: [],
    warning: null,
  };
  /** A packet block that cannot be anonymized: left out, not copied with its addresses in clear. */
  const drop = (why: string) => {
    result.droppedPackets++;
    result.droppedPacketReasons[why] = (result.droppedPacketReasons[why] ?? 0) + 1;
  };
  /** Anonymizes one packet in place; false when it must be left out (then counted as dropped). */
  const packet = (off: number, capLen: number, link: number): boolean => {
    result.packets++;
    if (!SUPPORTED_LINK_TYPES.has(link)) {
      result.unsupportedPackets++;
      const name = describeLinkType(link);
      if (!result.unsupportedLinkTypes.includes(name)) result.unsupportedLinkTypes.push(name);
      return true;
    }
    const n = pa.rewrite(inp.buf, off, capLen, link);
    if (n < 0) {
      drop(pa.unsafeReason);
      return false;
    }
    if (n > 0) result.packetsChanged++;
    return true;
  };
  const before = anonymizer.changed;
  let completed = false;
  try {
    if (!await inp.fill(4)) {
      // The same words as extract's reader.
      throw new RangeError(
        inp.end === inp.start
          ? "empty input: not a pcap or pcapng capture"
          : "not a pcap or pcapng capture (too short)",
      );
    }
    const magic = inp.dv.getUint32(inp.start, false);
    if (magic === 0x0a0d0d0a) {
      result.format = "pcapng";
      let le = true;
      let links: number[] = [];
      for (;;) {
        // A first block that cannot be read leaves nothing to write: an error, as extract reports it, rather
        // than an empty output and exit 0.
        const atStart = inp.offset === 0;
        if (!await inp.fill(12)) {
          if (atStart) throw new RangeError("truncated pcapng section header");
          if (inp.end > inp.start) {
            result.warning = `truncated pcapng block at byte offset ${inp.offset}`;
          }
          break;
        }
        const s = inp.start;
        let type = inp.dv.getUint32(s, le);
        if (inp.dv.getUint32(s, false) === 0x0a0d0d0a) {
          const bom = inp.dv.getUint32(s + 8, true);
          if (bom === 0x1a2b3c4d) le = true;
          else if (bom === 0x4d3c2b1a) le = false;
          else {
            if (atStart) throw new RangeError("corrupt pcapng section header (bad byte-order magic)");
            result.warning = `bad pcapng byte-order magic at byte offset ${inp.base + s + 8}`;
            break;
          }
          type = 0x0a0d0d0a;
          links = [];
        }
        const len = inp.dv.getUint32(s + 4, le);
        if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) {
          if (atStart) throw new RangeError(`corrupt pcapng section header (block length ${len})`);
          result.warning = `corrupt pcapng block (length ${len}) at byte offset ${inp.base + s}`;
          break;
        }
        if (!await inp.fill(len)) {
          if (atStart) throw new RangeError("truncated pcapng section header");
          result.warning = `truncated pcapng block at byte offset ${inp.offset}`;
          break;
        }
        const b = inp.start;
        const dv = inp.dv;
        let keep = true;
        if (type === 1) {
          if (len < 20) {
            result.warning = `corrupt pcapng interface description block at byte offset ${inp.base + b}`;
            break;
          }
          links.push(dv.getUint16(b + 8, le));
        } else if (type === 6 || type === 2) {
          const ifId = len < 32 ? 0 : type === 6 ? dv.getUint32(b + 8, le) : dv.getUint16(b + 8, le);
          const capLen = len < 32 ? 0 : dv.getUint32(b + 20, le);
          if (len < 32 || 32 + capLen > len) {
            drop("captured length past the end of the block");
            keep = false;
          } else if (ifId >= links.length) {
            drop("interface id without an interface description");
            keep = false;
          } else keep = packet(b + 28, capLen, links[ifId]);
        } else if (type === 3) {
          if (links.length === 0 || len < 16) {
            drop(
              len < 16 ? "captured length past the end of the block" : "no interface description before it",
            );
            keep = false;
          } else keep = packet(b + 12, Math.min(dv.getUint32(b + 8, le), len - 16), links[0]);
        } else if (type !== 5 && type !== 0x0a0d0d0a) {
          // Name resolution (addresses and their names), systemd journal entries, decryption secrets (TLS
          // keys), custom blocks ("host 10.1.2.3 is alice") and any other block whose layout this does not
          // read (a vendor's, a later format's): none can be rewritten, so none is kept.
          result.droppedBlocks++;
          keep = false;
        }
        // Where the block's options start: section header, interface description, (enhanced) packet and
        // interface statistics blocks can carry comments, and an interface its addresses and capture filter.
        const first = type === 0x0a0d0d0a
          ? 24
          : type === 1
          ? 16
          : type === 5
          ? 20
          : (type === 6 || type === 2) && len >= 32
          ? 28 + ((dv.getUint32(b + 20, le) + 3) & ~3)
          : -1;
        const stripped = keep && first > 0 && first <= len - 4
          ? blockWithoutOptions(
            inp.buf,
            dv,
            b,
            len,
            le,
            first,
            type === 1 ? idbLeaks : type === 6 || type === 2 ? packetLeaks : isTextOption,
          )
          : null;
        if (stripped !== null) {
          await out.write(stripped[0]);
          result.droppedOptions += stripped[1];
        } else if (keep) await out.write(inp.buf.subarray(b, b + len));
        inp.start += len;
      }
    } else {
      const fmt = pcapFormat(magic);
      if (fmt === null) {
        throw new RangeError(`not a pcap or pcapng capture (magic 0x${magic.toString(16).padStart(8, "0")})`);
      }
      const { le } = fmt;
      result.format = "pcap";
      if (!await inp.fill(24)) throw new RangeError("truncated pcap file header");
      const link = inp.dv.getUint32(inp.start + 20, le) & 0xffff;
      const swap = pcapLengthOrder(inp.dv.getUint16(inp.start + 4, le), inp.dv.getUint16(inp.start + 6, le));
      const maxCapLen = Math.min(Math.max(inp.dv.getUint32(inp.start + 16, le), 262144), MAX_RECORD);
      await out.write(inp.buf.subarray(inp.start, inp.start + 24));
      inp.start += 24;
      // Its records' header length, as the extraction's reader tells it (Nokia's and other variants' are longer):
      // copied as they are, they keep the variant.
      const hdrLen = await pcapRecordHeaderLength(inp, fmt, maxCapLen, swap);
      for (;;) {
        if (!await inp.fill(hdrLen)) {
          if (inp.end > inp.start) {
            result.warning = `truncated pcap record header at byte offset ${inp.offset}`;
          }
          break;
        }
        const first = inp.dv.getUint32(inp.start + 8, le), second = inp.dv.getUint32(inp.start + 12, le);
        const capLen = swap === 1 || (swap === 2 && first > second) ? second : first;
        if (capLen > MAX_RECORD) {
          result.warning = `corrupt pcap record (captured length ${capLen}) at byte offset ${inp.offset}`;
          break;
        }
        if (!await inp.fill(hdrLen + capLen)) {
          result.warning = `truncated pcap record at byte offset ${inp.offset}; it is left out`;
          break;
        }
        const s = inp.start;
        if (packet(s + hdrLen, capLen, link)) await out.write(inp.buf.subarray(s, s + hdrLen + capLen));
        inp.start += hdrLen + capLen;
      }
    }
    await out.flush();
    result.warning = inp.endWarning(result.warning);
    completed = true;
  } finally {
    result.addresses = anonymizer.changed - before;
    result.checksums = pa.checksums;
    try {
      // On an error the output is aborted, not closed: a file output then keeps what it held before.
      if (completed) await writer.close();
      else await writer.abort();
    } catch { /* already closed */ }
  }
  return result;
}

/** Why a frame whose IP header cannot be read whole is not kept. */
const UNSAFE_IP = "IP header cut short or malformed";

/** Whether the decoded frame has a layer of kind `l`. */
function hasLayer(p: PacketView, l: number): boolean {
  for (let i = 0; i < p.layerCount; i++) if (p.layers[i] === l) return true;
  return false;
}
