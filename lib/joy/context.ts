/**
 * One Joy processing context: Joy 4.5's packet processing (`process_packet`), its unidirectional flow table with
 * twins and chronological list, its expiry rules, and its JSON flow printing (`flow_record_print_json`). Each
 * context is independent; several of them can share the work of one capture.
 *
 * @module
 */
import { formatIp } from "../addr.ts";
import { int32At, KeyHash } from "../hash.ts";
import type { JoyConfig } from "./config.ts";
import {
  JoyFlowRecord,
  MAX_NUM_IP_ID,
  MAX_NUM_PKT_LEN,
  MAX_TCP_RETRANS_BUFFER,
  TCP_OPT_LEN,
} from "./flow_record.ts";
import { cfloat, hex, iptMs, timeval } from "./json.ts";
import { JoyTls, tlsPrintJson } from "./tls.ts";
import { dnsPrintJson, JoyDns } from "./dns.ts";
import { httpPrintJson, JoyHttp } from "./http.ts";
import { JoySsh, sshPrintJson } from "./ssh.ts";
import { tcpFlagsString, tcpOptionsJson } from "./tcp_opts.ts";
import { osJson } from "./osdetect.ts";
import { whtJson, whtUpdate } from "./wht.ts";
import { dhcpPrintJson, JoyDhcp } from "./dhcp.ts";
import { dhcpv6PrintJson, JoyDhcpv6 } from "./dhcpv6.ts";
import { ikePrintJson, JoyIke } from "./ike.ts";
import { JoyPpi, JoySalt, ppiPrintJson, saltPrintJson } from "./ppi.ts";
import { identifyTcp, identifyUdp } from "./proto_identify.ts";

/** Bytes of payload counted in the byte distribution (Joy's `MAX_JOY_BD_OCTETS`). */
const MAX_BD_OCTETS = 4000;
const ETH_IP = 0x0800, ETH_IP6 = 0x86dd, ETH_VLAN = 0x8100, ETH_QINQ = 0x88a8;

/**
 * Header description state (Joy's `header_description_t`, `hdr_dsc.c`), kept in `JoyFlowRecord.hdBytes` as
 * the struct's memory: `initial`, `const_mask`, `const_value`, `seq_mask` (32 bytes each, Joy's
 * `HDR_DSC_LEN`), then `num_headers_seen`. Keeping Joy's layout lets the counter scan run past the start of
 * `seq_mask`'s row into the array before it, as Joy's does (see `headerDescription`).
 */
const HD_LEN = 32;
const HD_CM = HD_LEN, HD_CV = 2 * HD_LEN, HD_SM = 3 * HD_LEN, HD_N = 4 * HD_LEN;
/** Joy's `MAX_NUM_HDRS`: the description is refined with the first ten headers only. */
const HD_MAX_HDRS = 10;

/**
 * Optional changes at print time: anonymized addresses, subnet labels, anonymized HTTP user names.
 *
 * @example
 * ```ts
 * import { JoyContext, type JoyPrintHooks } from "./context.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * const hooks: JoyPrintHooks = {
 *   addr: (ip) => ip.startsWith("10.") ? "10.0.0.0" : null,
 *   labels: (ip) => ip.startsWith("192.168.") ? ["lab"] : [],
 * };
 * const ctx = new JoyContext(defaultJoyConfig());
 * ctx.hooks = hooks;
 * ```
 */
export interface JoyPrintHooks {
  /** Replacement text for an address, or null to print it as is. */
  addr?: (ip: string) => string | null;
  /** Labels of the subnets an address is in. */
  labels?: (ip: string) => string[];
  /** Rewrites an HTTP request URI. */
  uri?: (uri: string) => string;
}

/**
 * Counters of a context (Joy's `flocap_stats`).
 *
 * @example
 * ```ts
 * import { JoyContext, type JoyStats } from "./context.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * const ctx = new JoyContext(defaultJoyConfig());
 * const stats: JoyStats = ctx.stats;
 * console.log(stats.packets, stats.recordsInTable); // 0 0
 * ```
 */
export interface JoyStats {
  /** Packets handed to the context. */
  packets: number;
  /** Transport bytes of the packets used. */
  bytes: number;
  /** Records in the table now. */
  recordsInTable: number;
  /** Flow records printed or exported. */
  recordsOutput: number;
}

/**
 * A Joy context: packets in (`processPacket`), flow records out as JSON lines (`printFlows`).
 *
 * @example
 * ```ts
 * import { JoyContext } from "./context.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * const ctx = new JoyContext(defaultJoyConfig());
 * const lines: string[] = [];
 * ctx.printFlows(true, (l) => lines.push(l));
 * console.log(lines.length); // 0
 * ```
 */
export class JoyContext {
  /** Counters. */
  readonly stats: JoyStats = { packets: 0, bytes: 0, recordsInTable: 0, recordsOutput: 0 };
  /** Latest packet time seen (µs): Joy's notion of "now". */
  globalTime = 0;
  /** Records of other keys passed over in hash buckets while finding packets' records (see `hashKey`). */
  chainSteps = 0;
  private readonly buckets = new Map<number, JoyFlowRecord>();
  /** `hashKey`'s hash, with random tables drawn for this context, and its key words. */
  private readonly keyHash = new KeyHash(10);
  private readonly keyWords = new Int32Array(10);
  private chronoFirst: JoyFlowRecord | null = null;
  /**
   * At most the earliest start or end time of a record on the chronological list (microseconds): while the
   * inactive timeout has not passed since it, no record can have expired, and `printFlows(true)`, which Joy's
   * reading loop calls every 10 packets, need not walk them all (40,000 flows opened within a second took 21 s
   * of such walks).
   */
  private earliestTime = Infinity;
  private chronoLast: JoyFlowRecord | null = null;

  /**
   * End of the readable bytes for the current packet (see `processPacket`'s `readEnd`). Joy computes payload
   * sizes from the IP header and reads that many bytes even when fewer were captured (IPv6 extension headers
   * are counted twice, truncated frames), so it sees what its packet buffer holds past the packet: leftovers
   * of earlier, longer packets. The byte distribution and the TLS / DNS / HTTP modules read up to here, and
   * zeros past it.
   */
  private bufEnd = 0;

  /** Print-time hooks (anonymization, labels); null for none. */
  hooks: JoyPrintHooks | null = null;

  /** Creates a context with an empty flow table that processes packets as `config` says. */
  constructor(readonly config: JoyConfig) {}

  /**
   * Processes one captured frame (Ethernet, as Joy reads every link type). `tvSec`/`tvUsec` are the libpcap
   * header's timestamp, `capLen` the captured length; the frame is `buf[off .. off + capLen)`.
   *
   * `readEnd` (default: the end of the frame) is how far Joy's reads past a short frame may go in `buf`:
   * a caller that keeps frames in a libpcap-like buffer (each copied to the same place, the rest left over
   * from earlier frames) passes `buf.length` to see exactly what Joy sees; past `readEnd` bytes read as zero,
   * so by default the output depends only on the frames themselves.
   */
  processPacket(
    tvSec: number,
    tvUsec: number,
    capLen: number,
    buf: Uint8Array,
    off: number,
    readEnd: number = off + capLen,
  ): void {
    this.stats.packets++;
    this.bufEnd = Math.min(buf.length, Math.max(readEnd, off + capLen));
    if (capLen < 14 || off + capLen > buf.length) return;
    const ts = tvSec * 1e6 + tvUsec;
    let type = (buf[off + 12] << 8) | buf[off + 13];
    let ipOff = off + 14;
    if (type === ETH_VLAN || type === ETH_QINQ) {
      if (capLen < 18) return;
      type = (buf[off + 16] << 8) | buf[off + 17];
      ipOff = off + 18;
      if (type === ETH_VLAN || type === ETH_QINQ) {
        if (capLen < 22) return;
        type = (buf[off + 20] << 8) | buf[off + 21];
        ipOff = off + 22;
      }
    }
    const end = off + capLen;
    if (type === ETH_IP) this.ip4(ts, buf, ipOff, end, capLen);
    else if (type === ETH_IP6) this.ip6(ts, buf, ipOff, end, capLen);
  }

  /** IPv4 header at `ip`: Joy's length checks, then the transport layer (a fragment counts as protocol 0). */
  private ip4(ts: number, buf: Uint8Array, ip: number, end: number, capLen: number): void {
    if (end - ip < 20) return;
    const hdrLen = (buf[ip] & 0x0f) * 4;
    if (hdrLen < 20) return;
    let ipLen = (buf[ip + 2] << 8) | buf[ip + 3];
    if (ipLen < 20) return;
    // Joy 4.5 keeps packets cut short by the capture, with the IP length cut to what was captured.
    if (ipLen > capLen) ipLen = end - ip;
    if (ipLen < hdrLen) return;
    const frag = ((buf[ip + 6] << 8) | buf[ip + 7]) & 0x3fff;
    const prot = frag === 0 ? buf[ip + 9] : 0;
    this.transport(
      ts,
      buf,
      ip,
      end,
      4,
      ip + 12,
      ip + 16,
      prot,
      ip + hdrLen,
      ipLen - hdrLen,
      ipLen,
      buf[ip + 8],
      (buf[ip + 4] << 8) | buf[ip + 5],
    );
  }

  /** IPv6 header at `ip`: steps over extension headers to the transport header; ignored when longer than the frame. */
  private ip6(ts: number, buf: Uint8Array, ip: number, end: number, capLen: number): void {
    if (end - ip < 40) return;
    const plen = (buf[ip + 4] << 8) | buf[ip + 5];
    const ipLen = plen + 40;
    if (ipLen > capLen) return;
    let next = buf[ip + 6];
    let t = ip + 40;
    // Extension headers are stepped over to find the transport header; the transport length stays the IPv6
    // payload length, as Joy 4.5 computes it.
    for (let guard = 0; guard < 8; guard++) {
      if (next === 0 || next === 43 || next === 60) {
        if (end - t < 8) break;
        const n = buf[t];
        t += (buf[t + 1] + 1) * 8;
        next = n;
      } else if (next === 44) {
        if (end - t < 8) break;
        next = buf[t];
        t += 8;
      } else break;
    }
    this.transport(ts, buf, ip, end, 6, ip + 8, ip + 24, next, t, plen, ipLen, buf[ip + 7], -1);
  }

  /**
   * One IP packet's transport layer: finds or creates its record through the protocol's handler (a packet that
   * does not parse as its protocol counts in a port-less record, marked `invalid`), then updates the counters
   * every record keeps (IP ids, TTL, times) and the initial data packet. `ipId` is -1 for IPv6.
   */
  private transport(
    ts: number,
    buf: Uint8Array,
    ip: number,
    end: number,
    ver: number,
    saOff: number,
    daOff: number,
    prot: number,
    t: number,
    tlen: number,
    ipLen: number,
    ttl: number,
    ipId: number,
  ): void {
    if (ts > this.globalTime) this.globalTime = ts;
    let rec: JoyFlowRecord | null = null;
    let sp = 0, dp = 0;
    if (prot === 6) {
      rec = this.tcp(ts, buf, t, end, tlen, ver, saOff, daOff);
      if (rec === null) {
        if (tlen >= 20 && end - t >= 4) {
          sp = (buf[t] << 8) | buf[t + 1];
          dp = (buf[t + 2] << 8) | buf[t + 3];
          const hl = (buf[t + 12] >> 4) * 4;
          if (hl < 20 || hl > tlen) sp = dp = 0;
        }
        const found = sp !== 0 || dp !== 0 ? this.find(buf, ver, saOff, daOff, sp, dp, 6) : null;
        if (found !== null && found.isTcpRetrans !== 0) return;
      }
    } else if (prot === 17) {
      rec = this.udp(ts, buf, t, end, tlen, ver, saOff, daOff);
    } else if (prot === 1 || prot === 58) {
      rec = this.icmp(ts, buf, t, end, tlen, ver, saOff, daOff, prot);
    } else {
      rec = this.plainIp(ts, buf, t, end, tlen, ver, saOff, daOff, prot);
    }
    if (rec === null) {
      rec = this.plainIp(ts, buf, t, end, tlen, ver, saOff, daOff, prot);
      if (rec === null) return;
      rec.invalid = 1;
    }
    if (ipId >= 0 && rec.ipIds.length < MAX_NUM_IP_ID) rec.ipIds.push(ipId);
    if (rec.ttl > ttl) rec.ttl = ttl;
    rec.np++;
    // Joy: `if (timerisset(&record->start)) end = ts; else start = end = ts;`.
    if (rec.start !== 0) rec.end = ts;
    else rec.start = rec.end = ts;
    if (ts < this.earliestTime) this.earliestTime = ts;
    const idpMax = this.config.idp;
    if (idpMax > 0 && rec.op > 0 && rec.idp === null) {
      const len = Math.min(ipLen, idpMax);
      if (prot !== 6 || rec.idpPacket) {
        rec.idp = buf.slice(ip, Math.min(end, ip + len));
        // Joy 4.5 keeps the transport protocol in the IPv6 header's next-header field.
        if (ver === 6 && rec.idp.length > 6) rec.idp[6] = prot;
        if (rec.idp.length < len) {
          const full = new Uint8Array(len);
          full.set(rec.idp);
          rec.idp = full;
        }
        rec.idpPacket = false;
      }
    }
    this.stats.bytes += tlen;
  }

  /**
   * A TCP segment of `tlen` bytes at `t`: retransmission check, SPLT, SYN fields, byte counts, protocol
   * guess, features, header description, initial data packet tracking, SALT and PPI. Null when the header
   * is invalid, or for a retransmission when `retrans` is off.
   */
  private tcp(
    ts: number,
    buf: Uint8Array,
    t: number,
    end: number,
    tlen: number,
    ver: number,
    saOff: number,
    daOff: number,
  ): JoyFlowRecord | null {
    if (end - t < 20) return null;
    const hl = (buf[t + 12] >> 4) * 4;
    if (hl < 20 || hl > tlen) return null;
    const size = tlen - hl;
    const sp = (buf[t] << 8) | buf[t + 1];
    const dp = (buf[t + 2] << 8) | buf[t + 3];
    const rec = this.getRecord(buf, ver, saOff, daOff, sp, dp, 6, ts);
    const seq = ((buf[t + 4] << 24) | (buf[t + 5] << 16) | (buf[t + 6] << 8) | buf[t + 7]) >>> 0;
    const ack = ((buf[t + 8] << 24) | (buf[t + 9] << 16) | (buf[t + 10] << 8) | buf[t + 11]) >>> 0;
    const flags = buf[t + 13];
    const cfg = this.config;
    if (size > 0) {
      rec.isTcpRetrans = retransDetected(rec, seq, size & 0xffff);
      if (rec.isTcpRetrans !== 0) {
        rec.tcpRetrans++;
        if (!cfg.retrans) return null;
      }
    }
    if (cfg.zeros || size > 0) {
      if (rec.op < MAX_NUM_PKT_LEN - 1) {
        this.splt(rec, size, ts);
        rec.tcpSeq = seq;
        rec.tcpAck = ack;
        rec.retransSeq[rec.retransTail] = seq;
        rec.retransLen[rec.retransTail] = size & 0xffff;
        rec.retransTail = (rec.retransTail + 1) % MAX_TCP_RETRANS_BUFFER;
      }
    }
    if (flags === 2 || flags === 18) {
      if (!rec.tcpFlags) rec.tcpFlags = flags;
      if (flags === 2 && rec.tcpFirstSeq === 0) rec.tcpFirstSeq = seq;
      if (!rec.tcpFirstWindow) rec.tcpFirstWindow = (buf[t + 14] << 8) | buf[t + 15];
      const optLen = Math.min(hl - 20, TCP_OPT_LEN);
      if (optLen > 0) rec.tcpOpts = buf.slice(t + 20, Math.min(end, t + 20 + optLen));
    }
    const p = t + hl;
    const avail = Math.min(size, Math.max(0, end - p));
    this.bytes(rec, buf, p, avail, size);
    rec.ob += size;
    if (rec.app === 0 && rec.op <= 2) {
      const g = identifyTcp(buf, p, avail);
      if (g !== null) {
        rec.app = g.app;
        rec.dir = g.dir;
      }
    }
    this.features(rec, ts, buf, p, avail, 6, size);
    if (cfg.hd > 0 && size >= cfg.hd) this.headerDescription(rec, buf, p, avail);
    if (flags & 0x02) rec.idpSeqNum = seq;
    else if (rec.idpSeqNum !== 0) {
      if (size > 0 && seq === ((rec.idpSeqNum + 1) >>> 0)) {
        rec.idpSeqNum = 0;
        rec.idpPacket = true;
      }
    } else if (size > 0) rec.idpPacket = true;
    // Joy's TCP features (salt, ppi) see each packet its TCP processing kept.
    if (cfg.salt) (rec.salt ??= new JoySalt()).update(seq, ack);
    if (cfg.ppi) (rec.ppi ??= new JoyPpi()).update(ts, seq, ack, flags, hl, size, buf, t + 20, end);
    return rec;
  }

  /** A UDP datagram of `tlen` bytes at `t`: SPLT, byte counts, protocol guess and features; null when too short. */
  private udp(
    ts: number,
    buf: Uint8Array,
    t: number,
    end: number,
    tlen: number,
    ver: number,
    saOff: number,
    daOff: number,
  ): JoyFlowRecord | null {
    if (tlen < 8 || end - t < 4) return null;
    const sp = (buf[t] << 8) | buf[t + 1];
    const dp = (buf[t + 2] << 8) | buf[t + 3];
    const rec = this.getRecord(buf, ver, saOff, daOff, sp, dp, 17, ts);
    const size = tlen - 8, p = t + 8;
    const avail = this.countPayload(rec, ts, buf, p, end, size);
    if (rec.app === 0 && rec.op <= 2) {
      const g = identifyUdp(buf, p, avail);
      if (g !== null) {
        rec.app = g.app;
        rec.dir = g.dir;
      }
    }
    this.features(rec, ts, buf, p, avail, 17, size);
    return rec;
  }

  /** An ICMP or ICMPv6 message (`prot` 1 or 58), keyed without ports; null when shorter than its 8-byte header. */
  private icmp(
    ts: number,
    buf: Uint8Array,
    t: number,
    end: number,
    tlen: number,
    ver: number,
    saOff: number,
    daOff: number,
    prot: number,
  ): JoyFlowRecord | null {
    if (tlen < 8) return null;
    const rec = this.getRecord(buf, ver, saOff, daOff, 0, 0, prot, ts);
    const size = tlen - 8, p = t + 8;
    this.features(rec, ts, buf, p, this.countPayload(rec, ts, buf, p, end, size), prot, size);
    return rec;
  }

  /** Any other protocol (or a packet that did not parse as its own): the whole transport length as payload. */
  private plainIp(
    ts: number,
    buf: Uint8Array,
    t: number,
    end: number,
    tlen: number,
    ver: number,
    saOff: number,
    daOff: number,
    prot: number,
  ): JoyFlowRecord | null {
    const rec = this.getRecord(buf, ver, saOff, daOff, 0, 0, prot, ts);
    const size = Math.max(0, tlen);
    this.features(rec, ts, buf, t, this.countPayload(rec, ts, buf, t, end, size), prot, size);
    return rec;
  }

  /**
   * A non-TCP payload of `size` bytes at `p`: its SPLT entry, byte counts and octets; returns how many of its
   * bytes were captured.
   */
  private countPayload(
    rec: JoyFlowRecord,
    ts: number,
    buf: Uint8Array,
    p: number,
    end: number,
    size: number,
  ): number {
    this.simpleSplt(rec, size, ts);
    const avail = Math.min(size, Math.max(0, end - p));
    this.bytes(rec, buf, p, avail, size);
    rec.ob += size;
    return avail;
  }

  /** SPLT for protocols other than TCP: records the payload length and time while the record has room. */
  private simpleSplt(rec: JoyFlowRecord, size: number, ts: number): void {
    if (rec.op < MAX_NUM_PKT_LEN && (this.config.zeros || size !== 0)) {
      rec.pktLen[rec.op] = size;
      rec.pktTime[rec.op] = ts;
      rec.op++;
    }
  }

  /**
   * SPLT for TCP: Joy 4.5's default ("raw") packet-length algorithm. Joy's `salt` option is a separate feature
   * (`salt.c`, the `oseq` / `oack` lists), not a change to `packets`.
   */
  private splt(rec: JoyFlowRecord, size: number, ts: number): void {
    if (this.config.zeros || size !== 0) {
      rec.pktLen[rec.op] = size;
      rec.pktTime[rec.op] = ts;
      rec.op++;
    }
  }

  /**
   * Byte distribution, compact distribution, mean/variance. `len` bytes were captured of a payload of
   * `size`; the distributions and mean take all `size` bytes, as Joy does (see `bufEnd`). The compact
   * distribution (`flow_record_update_compact_byte_count`) has no 4000-byte limit.
   */
  private bytes(rec: JoyFlowRecord, buf: Uint8Array, p: number, len: number, size: number): void {
    const cfg = this.config;
    if (size <= 0) return;
    if (cfg.dist || cfg.entropy) {
      // Joy 4.5 counts the first 4000 payload bytes of each direction, cutting the packet that crosses the
      // limit; its byte counter is 16 bits wide, so counting starts again when it wraps.
      const counted = rec.ob & 0xffff;
      if (counted < MAX_BD_OCTETS) {
        const bc = rec.byteCount;
        const n = Math.min(size, MAX_BD_OCTETS - counted);
        const m = Math.min(n, Math.max(len, this.bufEnd - p));
        for (let i = 0; i < m; i++) bc[buf[p + i]]++;
        bc[0] += n - m;
      }
      let n = rec.numBytes, mean = rec.bdMean, v = rec.bdVariance;
      const readable = Math.max(len, this.bufEnd - p);
      for (let i = 0; i < size; i++) {
        const x = i < readable ? buf[p + i] : 0;
        n++;
        const d = x - mean;
        mean += d / n;
        v += d * (x - mean);
      }
      rec.numBytes = n;
      rec.bdMean = mean;
      rec.bdVariance = v;
    }
    if (cfg.cdist) {
      const m = cfg.cdist;
      const c = rec.compactByteCount ??= new Uint32Array(16);
      const r = Math.min(size, Math.max(len, this.bufEnd - p));
      for (let i = 0; i < r; i++) c[m[buf[p + i]] & 15]++;
      c[m[0] & 15] += size - r;
    }
  }

  /**
   * Header description (Joy's `header_description_update`, TCP payloads of at least `hd` bytes, retransmissions
   * left out unless `retrans`): the first payload's first `hd` bytes (`initial`), the bits that stayed the same
   * in the first ten (`const_mask`) and their values (`const_value`), and the bytes found counting
   * (`seq_mask`). `len` of the `size` payload bytes were captured; reads go on to `bufEnd` as Joy's do.
   */
  private headerDescription(rec: JoyFlowRecord, buf: Uint8Array, p: number, len: number): void {
    const hd = Math.min(this.config.hd, HD_LEN);
    const readable = Math.max(len, this.bufEnd - p);
    let s = rec.hdBytes;
    if (s === null) {
      s = rec.hdBytes = new Uint8Array(HD_N + 1);
      for (let i = 0; i < hd; i++) s[i] = s[HD_CV + i] = i < readable ? buf[p + i] : 0;
      s.fill(0xff, HD_CM, HD_CM + HD_LEN);
      s[HD_N] = 1;
      return;
    }
    if (s[HD_N] >= HD_MAX_HDRS) return;
    for (let i = 0; i < hd; i++) {
      const x = i < readable ? buf[p + i] : 0;
      s[HD_CM + i] &= ~(s[HD_CV + i] ^ x);
      s[HD_CV + i] = s[HD_CM + i] & x;
    }
    // Joy's counter scan, from the last byte down: a byte whose mask is 0 and whose value is one more than
    // `const_value` (so, 1) is a counter. Its inner loop has no lower bound: past byte 0 it reads the arrays
    // before each row (`const_mask[-1]` is `initial[31]`, ...) and the TCP header before the payload, and may
    // set `seq_mask[-1]`, which is `const_value[31]`. Kept, within the struct.
    let i = hd - 1;
    while (i >= 0) {
      while (
        i >= -HD_LEN && s[HD_CM + i] === 0 && s[HD_CV + i] + 1 === (i < 0 || i < readable ? buf[p + i] : 0)
      ) {
        s[HD_SM + i] = 0xff;
        i--;
      }
      i--;
    }
    s[HD_N]++;
  }

  /**
   * Protocol modules. `len` bytes of the payload were captured, of `size` in all: like Joy, TLS, DNS, HTTP,
   * DHCP, DHCPv6, IKE and WHT read all `size` bytes (see `bufEnd`); SSH reads what was captured.
   */
  private features(
    rec: JoyFlowRecord,
    ts: number,
    buf: Uint8Array,
    p: number,
    len: number,
    prot: number,
    size: number,
  ): void {
    const cfg = this.config;
    // Each Joy module sees a payload only when the flow looks like its protocol: the protocol guess, or the
    // well-known port on either side (Joy's `tls_filter`, `dns_filter`, `http_filter`, `ssh_filter`,
    // `ike_filter`; `dhcp_filter` / `dhcpv6_filter` want the client and server ports on the two sides).
    const port = (n: number) => rec.sp === n || rec.dp === n;
    const readEnd = this.bufEnd; // p + len never passes it: `len` is what the frame holds
    // WHT and IKE state exist from the first packet their filter lets through, payload or not.
    if (cfg.wht) whtUpdate(rec, buf, p, size, readEnd);
    if (cfg.ike && prot === 17 && (port(500) || port(4500))) {
      (rec.ike ??= new JoyIke()).update(buf, p, size, readEnd);
    }
    if (size <= 0) return;
    if (prot === 17 && (cfg.dhcp || cfg.dhcpv6)) {
      const sp = rec.sp, dp = rec.dp;
      if (cfg.dhcp && ((sp === 68 && dp === 67) || (sp === 67 && dp === 68))) {
        (rec.dhcp ??= new JoyDhcp()).update(buf, p, size, readEnd);
      }
      if (cfg.dhcpv6 && ((sp === 546 && dp === 547) || (sp === 547 && dp === 546))) {
        (rec.dhcpv6 ??= new JoyDhcpv6()).update(buf, p, size, readEnd);
      }
    }
    if (cfg.tls && (rec.app === APP_TLS || port(443))) {
      (rec.tls ??= new JoyTls()).update(ts, buf, p, size, this.bufEnd);
    }
    if (cfg.dns && prot === 17 && (rec.app === 53 || port(53))) {
      (rec.dns ??= new JoyDns()).update(buf, p, size, this.bufEnd);
    }
    if (cfg.http && prot === 6 && (rec.app === 80 || port(80))) {
      (rec.http ??= new JoyHttp()).update(buf, p, size, this.bufEnd);
    }
    if (cfg.ssh && prot === 6 && (rec.app === 22 || port(22)) && len > 0) {
      (rec.ssh ??= new JoySsh()).update(buf, p, len);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // flow table

  /**
   * A 30-bit hash of a flow key (both addresses, the ports, and the protocol with the IP version), keyed by this
   * context's random tables as the flow table's is (lib/hash.ts): crafted keys cannot be made to share a bucket.
   */
  private hashKey(
    buf: Uint8Array,
    ver: number,
    saOff: number,
    daOff: number,
    sp: number,
    dp: number,
    prot: number,
  ): number {
    const k = this.keyWords;
    k[0] = (sp << 16) | dp;
    k[1] = prot | (ver << 8);
    const words = ver === 4 ? 1 : 4;
    for (let i = 0; i < words; i++) {
      k[2 + i] = int32At(buf, saOff + 4 * i);
      k[6 + i] = int32At(buf, daOff + 4 * i);
    }
    // An IPv4 key's other address words are 0 (a word of 0 adds nothing to the hash).
    if (ver === 4) {
      k.fill(0, 3, 6);
      k.fill(0, 7, 10);
    }
    return this.keyHash.hash(k, 10);
  }

  /** The record of a flow key (addresses at `saOff` and `daOff` in `buf`), or null when there is none. */
  private find(
    buf: Uint8Array,
    ver: number,
    saOff: number,
    daOff: number,
    sp: number,
    dp: number,
    prot: number,
  ): JoyFlowRecord | null {
    const h = this.hashKey(buf, ver, saOff, daOff, sp, dp, prot);
    return this.findHashed(h, buf, ver, saOff, daOff, sp, dp, prot);
  }

  /** `find` with the key's hash `h` already computed. */
  private findHashed(
    h: number,
    buf: Uint8Array,
    ver: number,
    saOff: number,
    daOff: number,
    sp: number,
    dp: number,
    prot: number,
  ): JoyFlowRecord | null {
    let r = this.buckets.get(h) ?? null;
    const n = ver === 4 ? 4 : 16;
    outer: while (r !== null) {
      if (r.sp === sp && r.dp === dp && r.prot === prot && r.ipVersion === ver) {
        const a = r.saBytes, b = r.daBytes;
        for (let i = 0; i < n; i++) {
          if (a[i] !== buf[saOff + i] || b[i] !== buf[daOff + i]) {
            this.chainSteps++;
            r = r.bucketNext;
            continue outer;
          }
        }
        return r;
      }
      this.chainSteps++;
      r = r.bucketNext;
    }
    return null;
  }

  /** `flow_key_get_record` with record creation. */
  private getRecord(
    buf: Uint8Array,
    ver: number,
    saOff: number,
    daOff: number,
    sp: number,
    dp: number,
    prot: number,
    ts: number,
  ): JoyFlowRecord {
    const h = this.hashKey(buf, ver, saOff, daOff, sp, dp, prot);
    let r = this.findHashed(h, buf, ver, saOff, daOff, sp, dp, prot);
    if (r !== null) {
      if (!(this.config.preemptiveTimeout && r.inChrono && this.activeExpired(r, ts))) return r;
      // Joy prints the ended record at once; here it waits for the next printFlows' output.
      this.printAndDelete(r, (line) => this.pending.push(line));
    }
    const n = ver === 4 ? 4 : 16;
    r = new JoyFlowRecord();
    r.ipVersion = ver;
    r.saBytes = buf.slice(saOff, saOff + n);
    r.daBytes = buf.slice(daOff, daOff + n);
    r.sa = formatIp(r.saBytes, 0, ver);
    r.da = formatIp(r.daBytes, 0, ver);
    r.sp = sp;
    r.dp = dp;
    r.prot = prot;
    r.hash = h;
    r.bucketNext = this.buckets.get(h) ?? null;
    this.buckets.set(h, r);
    this.stats.recordsInTable++;
    let twin: JoyFlowRecord | null = null;
    if (this.config.bidir) twin = this.find(buf, ver, daOff, saOff, dp, sp, prot);
    if (twin !== null && twin.twin === null) {
      r.twin = twin;
      twin.twin = r;
    } else this.chronoAppend(r);
    return r;
  }

  /**
   * Joy's preemptive timeout test: true when, at packet time `ts`, the record (and its twin) started more than
   * both timeouts ago, compared in whole seconds as Joy does.
   */
  private activeExpired(r: JoyFlowRecord, ts: number): boolean {
    const max = (this.config.inactiveTimeout + this.config.activeTimeout) * 1e6;
    const sec = Math.floor(ts / 1e6) * 1e6;
    return sec > Math.floor(r.start / 1e6) * 1e6 + max &&
      (r.twin === null || sec > Math.floor(r.twin.start / 1e6) * 1e6 + max);
  }

  /** Appends a record to the end of the chronological list. */
  private chronoAppend(r: JoyFlowRecord): void {
    r.inChrono = true;
    if (this.chronoLast === null) this.chronoFirst = this.chronoLast = r;
    else {
      this.chronoLast.timeNext = r;
      r.timePrev = this.chronoLast;
      this.chronoLast = r;
    }
  }

  /** Unlinks a record from the chronological list, if it is on it. */
  private chronoRemove(r: JoyFlowRecord): void {
    if (!r.inChrono) return;
    if (r === this.chronoFirst) this.chronoFirst = r.timeNext;
    if (r === this.chronoLast) this.chronoLast = r.timePrev;
    if (r.timePrev) r.timePrev.timeNext = r.timeNext;
    if (r.timeNext) r.timeNext.timePrev = r.timePrev;
    r.timePrev = r.timeNext = null;
    r.inChrono = false;
  }

  /** Unlinks a record from its hash bucket and counts it out of the table. */
  private deleteRecord(r: JoyFlowRecord): void {
    const head = this.buckets.get(r.hash);
    if (head === undefined) return;
    if (head === r) {
      if (r.bucketNext) this.buckets.set(r.hash, r.bucketNext);
      else this.buckets.delete(r.hash);
    } else {
      let q = head;
      while (q.bucketNext !== null && q.bucketNext !== r) q = q.bucketNext;
      if (q.bucketNext === r) q.bucketNext = r.bucketNext;
    }
    r.bucketNext = null;
    this.stats.recordsInTable--;
  }

  /** `flow_record_is_expired`: sets the record's expiry type when it has expired at the context's time. */
  isExpired(r: JoyFlowRecord): boolean {
    const inactiveCutoff = this.globalTime - this.config.inactiveTimeout * 1e6;
    const activeCutoff = inactiveCutoff - this.config.activeTimeout * 1e6;
    if (r.start < activeCutoff && (r.twin === null || r.twin.start < activeCutoff)) {
      r.expType = "a";
      return true;
    }
    if (r.end < inactiveCutoff && (r.twin === null || r.twin.end < inactiveCutoff)) {
      r.expType = "i";
      return true;
    }
    return false;
  }

  /** Counts a record as output, prints it to `out`, and removes it with its twin. */
  private printAndDelete(r: JoyFlowRecord, out: (line: string) => void): void {
    this.stats.recordsOutput++;
    out(flowRecordJson(this.config, r, this.hooks));
    this.remove(r);
  }

  /** Removes a record and its twin from the table, and the record from the chronological list. */
  private remove(r: JoyFlowRecord): void {
    if (r.twin !== null) this.deleteRecord(r.twin);
    this.chronoRemove(r);
    this.deleteRecord(r);
  }

  /** Pending output of records ended by a preemptive timeout (printed by the next `printFlows`). */
  private pending: string[] = [];

  /**
   * Writes (to `out`) the JSON lines of the records a preemptive timeout ended since the last call; Joy prints
   * them at once. `printFlows` does this first; the IPFIX export paths call it too, so that none is lost.
   */
  flushPending(out: (line: string) => void): number {
    const lines = this.pending;
    this.pending = [];
    for (const l of lines) out(l);
    return lines.length;
  }

  /**
   * `joy_print_flow_data`: prints (as JSON lines, to `out`) and removes the expired flows, scanning the whole
   * chronological list, or every flow when `expiredOnly` is false.
   */
  printFlows(expiredOnly: boolean, out: (line: string) => void): number {
    let n = this.flushPending(out);
    // None can have expired (see `earliestTime`): the walk would print nothing.
    if (expiredOnly && this.globalTime - this.config.inactiveTimeout * 1e6 <= this.earliestTime) return n;
    let earliest = Infinity;
    for (let r = this.chronoFirst; r !== null;) {
      const next = r.timeNext;
      if (!expiredOnly || this.isExpired(r)) {
        this.printAndDelete(r, out);
        n++;
      } else earliest = Math.min(earliest, r.start, r.end);
      r = next;
    }
    this.earliestTime = earliest;
    return n;
  }

  /**
   * Hands the expired (or all) flows to `fn` instead of printing them, removing them from the table
   * (Joy's `joy_flow_record_external_processing`, used for IPFIX export). Walks the chronological list as
   * `printFlows` does. Records pending from a preemptive timeout are not included (see `flushPending`).
   */
  takeFlows(expiredOnly: boolean, fn: (r: JoyFlowRecord) => void): number {
    let n = 0;
    for (let r = this.chronoFirst; r !== null;) {
      const next = r.timeNext;
      if (!expiredOnly || this.isExpired(r)) {
        this.stats.recordsOutput++;
        fn(r);
        this.remove(r);
        n++;
      }
      r = next;
    }
    return n;
  }

  /** Forgets every flow without printing (`joy_cleanup`). */
  clear(): void {
    this.buckets.clear();
    this.chronoFirst = this.chronoLast = null;
    this.stats.recordsInTable = 0;
    this.pending = [];
  }
}

function retransDetected(rec: JoyFlowRecord, seq: number, len: number): number {
  for (let i = 0; i < MAX_TCP_RETRANS_BUFFER; i++) {
    if (rec.retransSeq[i] === seq) {
      if (rec.retransLen[i] < len) {
        rec.retransLen[i] = len;
        return 2;
      }
      return 1;
    }
  }
  return 0;
}

// -----------------------------------------------------------------------------------------------------------
// printing

const OUT = "<", IN = ">";
const APP_TLS = 443;

function pktJson(len: number, dir: string, ipt: number): string {
  return len < 32768
    ? `{"b":${len},"dir":"${dir}","ipt":${ipt}}`
    : `{"rep":${65536 - len},"dir":"${dir}","ipt":${ipt}}`;
}

function reduceBdBits(bd: Uint32Array | number[], len: number): void {
  let mask = 0;
  for (let i = 0; i < len; i++) mask |= bd[i];
  mask >>= 8;
  let shift = 0;
  for (let i = 0; i < 24 && mask; i++) {
    mask >>= 1;
    if (mask === 0) {
      shift = i + 1;
      break;
    }
  }
  for (let i = 0; i < len; i++) bd[i] = bd[i] >>> shift;
}

/** Entropy in bits per byte as Joy computes it, in single precision. */
function byteCountEntropy(counts: Uint32Array, numBytes: number): number {
  const f = Math.fround;
  let sum = f(0);
  const nb = f(numBytes);
  for (let i = 0; i < 256; i++) {
    const tmp = f(f(counts[i]) / nb);
    if (tmp > 1.1920928955078125e-7) sum = f(sum - f(tmp * f(Math.log(tmp))));
  }
  return f(sum / f(Math.log(2)));
}

/**
 * One flow record as the JSON line Joy 4.5 prints (`flow_record_print_json`); `record` is the record on the
 * chronological list, merged with its twin when there is one.
 *
 * @example
 * ```ts
 * import { flowRecordJson } from "./context.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * import { JoyFlowRecord } from "./flow_record.ts";
 * const r = new JoyFlowRecord();
 * r.sa = "10.0.0.1"; r.da = "10.0.0.2"; r.prot = 17; r.start = r.end = 0;
 * console.log(JSON.parse(flowRecordJson(defaultJoyConfig(), r)).pr); // 17
 * ```
 */
export function flowRecordJson(
  cfg: JoyConfig,
  record: JoyFlowRecord,
  hooks: JoyPrintHooks | null = null,
): string {
  let rec: JoyFlowRecord;
  let tsStart: number, tsEnd: number;
  const tw = record.twin;
  if (tw !== null) {
    // Joy 4.5 first asks which side is the client (protocol guess, then SYN / SYN-ACK). When it knows, that
    // side is printed first, from its own start, and the flow ends where the record that opened it (the one
    // on the chronological list) ended. Otherwise the side seen first is printed first and the flow ends at
    // the later of the two ends.
    const c = clientFlow(record, tw);
    if (c !== null) {
      rec = c;
      tsStart = c.start;
      tsEnd = record.end;
    } else {
      rec = record.start < tw.start ? record : tw;
      tsStart = rec.start;
      tsEnd = record.end < tw.end ? tw.end : record.end;
    }
  } else {
    rec = record;
    tsStart = record.start;
    tsEnd = record.end;
  }
  const twin = rec.twin;
  const numPkts = Math.min(cfg.numPkts, MAX_NUM_PKT_LEN);
  const sa = hooks?.addr?.(rec.sa) ?? rec.sa, da = hooks?.addr?.(rec.da) ?? rec.da;
  let s = `{"sa":"${sa}","da":"${da}","pr":${rec.prot},`;
  if (rec.prot === 6 || rec.prot === 17) s += `"sp":${rec.sp},"dp":${rec.dp},`;
  else s += `"sp":null,"dp":null,`;
  if (hooks?.labels) {
    const la = hooks.labels(rec.sa), lb = hooks.labels(rec.da);
    if (la.length) s += `"sa_labels":${JSON.stringify(la)},`;
    if (lb.length) s += `"da_labels":${JSON.stringify(lb)},`;
  }
  // Joy 4.5 prints the byte count as 16 bits and the packet count as 8 bits.
  s += `"bytes_out":${rec.ob & 0xffff},"num_pkts_out":${rec.np & 0xff},`;
  if (twin !== null) s += `"bytes_in":${twin.ob & 0xffff},"num_pkts_in":${twin.np & 0xff},`;
  s += `"time_start":${timeval(tsStart)},"time_end":${timeval(tsEnd)},"packets":[`;
  if (twin === null) {
    const imax = Math.min(rec.op, numPkts);
    const parts: string[] = [];
    for (let i = 0; i < imax; i++) {
      parts.push(pktJson(rec.pktLen[i], OUT, i > 0 ? iptMs(rec.pktTime[i], rec.pktTime[i - 1]) : 0));
    }
    s += parts.join(",") + "]";
  } else {
    const imax = Math.min(rec.op, numPkts), jmax = Math.min(twin.op, numPkts);
    let i = 0, j = 0, last = tsStart;
    const parts: string[] = [];
    while (i < imax || j < jmax) {
      let ts: number, len: number, dir: string;
      if (i >= imax) {
        dir = OUT;
        ts = twin.pktTime[j];
        len = twin.pktLen[j++];
      } else if (j >= jmax) {
        dir = IN;
        ts = rec.pktTime[i];
        len = rec.pktLen[i++];
      } else if (rec.pktTime[i] < twin.pktTime[j]) {
        dir = IN;
        ts = rec.pktTime[i];
        len = rec.pktLen[i++];
      } else {
        dir = OUT;
        ts = twin.pktTime[j];
        len = twin.pktLen[j++];
      }
      parts.push(pktJson(len, dir, iptMs(ts, last)));
      last = ts;
    }
    s += parts.join(",") + "]";
  }
  if (cfg.dist || cfg.entropy || cfg.cdist) {
    const tmp = new Uint32Array(256);
    const ctmp = new Uint32Array(16);
    let numBytes: number, mean = 0, variance = 0;
    if (twin === null) {
      tmp.set(rec.byteCount);
      if (rec.compactByteCount) ctmp.set(rec.compactByteCount);
      numBytes = rec.ob & 0xffff;
      if (rec.numBytes !== 0) {
        mean = rec.bdMean;
        variance = Math.sqrt(rec.bdVariance / (rec.numBytes - 1));
        if (rec.numBytes === 1) variance = 0;
      }
    } else {
      for (let i = 0; i < 256; i++) tmp[i] = rec.byteCount[i] + twin.byteCount[i];
      for (let i = 0; i < 16; i++) {
        ctmp[i] = (rec.compactByteCount?.[i] ?? 0) + (twin.compactByteCount?.[i] ?? 0);
      }
      numBytes = (rec.ob & 0xffff) + (twin.ob & 0xffff);
      const n = rec.numBytes + twin.numBytes;
      if (n !== 0) {
        mean = rec.numBytes / n * rec.bdMean + twin.numBytes / n * twin.bdMean;
        variance = rec.numBytes / n * rec.bdVariance + twin.numBytes / n * twin.bdVariance;
        variance = Math.sqrt(variance / (n - 1));
        if (n === 1) variance = 0;
      }
    }
    if (cfg.dist) {
      reduceBdBits(tmp, 256);
      const parts: number[] = [];
      for (let i = 0; i < 256; i++) parts.push(tmp[i] & 0xff);
      s += `,"byte_dist":[${parts.join(",")}]`;
      if (numBytes !== 0) s += `,"byte_dist_mean":${cfloat(mean)},"byte_dist_std":${cfloat(variance)}`;
    }
    if (cfg.cdist) {
      reduceBdBits(ctmp, 16);
      const parts: number[] = [];
      for (let i = 0; i < 16; i++) parts.push(ctmp[i] & 0xff);
      s += `,"compact_byte_dist":[${parts.join(",")}]`;
    }
    if (cfg.entropy && numBytes !== 0) {
      const e = byteCountEntropy(tmp, numBytes);
      s += `,"entropy":${cfloat(e)},"total_entropy":${cfloat(e * numBytes)}`;
    }
  }
  // IP object
  s += `,"ip":{"out":{"ttl":${rec.ttl}`;
  if (rec.ipIds.length) s += `,"id":[${rec.ipIds.join(",")}]`;
  s += "}";
  if (twin !== null) {
    s += `,"in":{"ttl":${twin.ttl}`;
    if (twin.ipIds.length) s += `,"id":[${twin.ipIds.join(",")}]`;
    s += "}";
  }
  s += "}";
  if (rec.prot === 6) s += tcpJson(rec);
  // feature modules, in the order of Joy's feature list (wht, dns, ssh, tls, dhcp, dhcpv6, http, ike, salt,
  // ppi); each prints when the printed record has its state (Joy's `print_feature`)
  if (cfg.wht) s += whtJson(rec, twin);
  if (cfg.dns && rec.dns) s += dnsPrintJson(rec.dns, twin?.dns ?? null, twin !== null);
  if (cfg.ssh && rec.ssh) s += sshPrintJson(rec.ssh, twin?.ssh ?? null);
  if (cfg.tls && rec.tls) {
    const hint = (r: JoyFlowRecord) => r.dp === 443 ? 1 : r.sp === 443 ? 2 : 0;
    s += tlsPrintJson(rec.tls, twin?.tls ?? null, hint(rec), twin === null ? 0 : hint(twin));
  }
  if (cfg.dhcp && rec.dhcp) s += dhcpPrintJson(rec.dhcp, hooks?.addr);
  if (cfg.dhcpv6 && rec.dhcpv6) s += dhcpv6PrintJson(rec.dhcpv6);
  if (cfg.http && rec.http) s += httpPrintJson(rec.http, twin?.http ?? null, hooks?.uri);
  if (cfg.ike && rec.ike) s += ikePrintJson(rec.ike, twin?.ike ?? null);
  if (cfg.salt && rec.salt) s += saltPrintJson(rec.salt, twin?.salt ?? null);
  if (cfg.ppi && rec.ppi) {
    s += ppiPrintJson(rec.ppi, twin?.ppi ?? null, Math.min(cfg.numPkts, MAX_NUM_PKT_LEN));
  }
  if (cfg.hd > 0 && rec.hdBytes !== null && rec.hdBytes[HD_N] >= 2) {
    // Joy's `header_description_printf`: the printed record's side only, once two headers were seen
    const h = rec.hdBytes, n = Math.min(cfg.hd, HD_LEN);
    s += `,"hd":{"n":${h[HD_N]},"cm":"${hex(h, HD_CM, n)}","cv":"${hex(h, HD_CV, n)}","sm":"${
      hex(h, HD_SM, n)
    }","i":"${hex(h, 0, n)}"}`;
  }
  s += osJson(rec, twin);
  if (cfg.idp > 0) {
    if (rec.idp !== null) {
      s += `,"idp_out":"${hex(rec.idp, 0, rec.idp.length)}","idp_len_out":${rec.idp.length}`;
    }
    if (twin !== null && twin.idp !== null) {
      s += `,"idp_in":"${hex(twin.idp, 0, twin.idp.length)}","idp_len_in":${twin.idp.length}`;
    }
  }
  const retrans = rec.tcpRetrans + (twin?.tcpRetrans ?? 0);
  const invalid = rec.invalid + (twin?.invalid ?? 0);
  if (retrans || invalid) {
    const d: string[] = [];
    if (retrans) d.push(`"tcp_retrans":${retrans}`);
    if (invalid) d.push(`"invalid":${invalid}`);
    s += `,"debug":{${d.join(",")}}`;
  }
  if (rec.expType) s += `,"expire_type":"${rec.expType}"`;
  return s + "}";
}

function tcpClientFlow(a: JoyFlowRecord, b: JoyFlowRecord): JoyFlowRecord | null {
  if (!a.tcpFlags && !b.tcpFlags) return null;
  if (a.tcpFlags === 2 && b.tcpFlags === 2) return null;
  if (a.tcpFlags === 2) return a;
  if (b.tcpFlags === 2) return b;
  if (a.tcpFlags === 18 && b.tcpFlags === 18) return null;
  if (a.tcpFlags === 18) return b;
  if (b.tcpFlags === 18) return a;
  return null;
}

function clientFlow(a: JoyFlowRecord, b: JoyFlowRecord): JoyFlowRecord | null {
  if (a.dir === 1) return a;
  if (b.dir === 1) return b;
  if (a.dir === 2) return b;
  if (b.dir === 2) return a;
  return tcpClientFlow(a, b);
}

function tcpJson(rec: JoyFlowRecord): string {
  const twin = rec.twin;
  const notEmpty = (r: JoyFlowRecord) =>
    r.tcpFlags !== 0 || r.tcpFirstWindow !== 0 || (r.tcpOpts?.length ?? 0) > 0;
  const outE = !notEmpty(rec), inE = twin === null || !notEmpty(twin);
  const firstSeq = rec.tcpFirstSeq || (twin?.tcpFirstSeq ?? 0);
  if (!firstSeq && outE && inE) return "";
  const parts: string[] = [];
  if (firstSeq) parts.push(`"first_seq":${firstSeq}`);
  const side = (r: JoyFlowRecord): string => {
    const p: string[] = [];
    if (r.tcpFlags) p.push(`"flags":"${tcpFlagsString(r.tcpFlags)}"`);
    if (r.tcpFirstWindow) p.push(`"first_window_size":${r.tcpFirstWindow}`);
    if (r.tcpOpts && r.tcpOpts.length) p.push(`"opt_len":${r.tcpOpts.length}` + tcpOptionsJson(r.tcpOpts));
    return `{${p.join(",")}}`;
  };
  if (!outE) parts.push(`"out":${side(rec)}`);
  if (!inE) parts.push(`"in":${side(twin!)}`);
  return `,"tcp":{${parts.join(",")}}`;
}
