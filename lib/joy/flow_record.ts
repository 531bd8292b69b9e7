/**
 * Joy's per-flow state: one unidirectional record per (sa, da, sp, dp, pr), as Joy keeps them, linked to its
 * reverse "twin" when bidirectional merging is on. Times are integer microseconds since the epoch (Joy keeps
 * `struct timeval`s).
 *
 * @module
 */
import type { JoyTls } from "./tls.ts";
import type { JoyDns } from "./dns.ts";
import type { JoyHttp } from "./http.ts";
import type { JoySsh } from "./ssh.ts";
import type { JoyDhcp } from "./dhcp.ts";
import type { JoyDhcpv6 } from "./dhcpv6.ts";
import type { JoyIke } from "./ike.ts";
import type { JoyPpi, JoySalt } from "./ppi.ts";

/** Most packet lengths and times a record stores (Joy's `MAX_NUM_PKT_LEN`). */
export const MAX_NUM_PKT_LEN = 200;
/** Most IP identifications a record stores (Joy's `MAX_NUM_IP_ID`). */
export const MAX_NUM_IP_ID = 50;
/** TCP sequence numbers remembered for retransmission detection (Joy's `MAX_TCP_RETRANS_BUFFER`). */
export const MAX_TCP_RETRANS_BUFFER = 10;
/** Most TCP option bytes kept from a SYN (Joy's `TCP_OPT_LEN`). */
export const TCP_OPT_LEN = 24;

/**
 * How a record left the table: `a` active timeout, `i` inactive timeout, 0 at the final flush.
 *
 * @example
 * ```ts
 * import type { JoyExpireType } from "./flow_record.ts";
 * import { defaultJoyConfig } from "./config.ts";
 * import { joyProcessFile } from "./offline.ts";
 * const types: JoyExpireType[] = [];
 * await joyProcessFile("testdata/http.pcap", defaultJoyConfig(), (line) => {
 *   types.push(JSON.parse(line).expire_type ?? "");
 * });
 * console.log(types.length > 0); // true
 * ```
 */
export type JoyExpireType = "a" | "i" | "";

/**
 * One direction of a flow, with Joy's counters.
 *
 * @example
 * ```ts
 * import { JoyFlowRecord } from "./flow_record.ts";
 * const r = new JoyFlowRecord();
 * console.log(r.np, r.ttl); // 0 255
 * ```
 */
export class JoyFlowRecord {
  /** Key: addresses as text, address bytes (4 or 16) for hashing/twins, ports, protocol. */
  sa = "";
  /** Destination address, as text. */
  da = "";
  /** Source address bytes (4 or 16). */
  saBytes: Uint8Array = new Uint8Array(0);
  /** Destination address bytes (4 or 16). */
  daBytes: Uint8Array = new Uint8Array(0);
  /** Source port (0 for protocols without ports). */
  sp = 0;
  /** Destination port (0 for protocols without ports). */
  dp = 0;
  /** IP protocol number. */
  prot = 0;
  /** 4 or 6. */
  ipVersion = 4;
  /** Hash bucket of the key, and the next record in it. */
  hash = 0;
  /** Next record in the same hash bucket. */
  bucketNext: JoyFlowRecord | null = null;
  /** The reverse direction, when merged. */
  twin: JoyFlowRecord | null = null;
  /** Chronological list (only records without a twin at creation are in it). */
  inChrono = false;
  /** Previous record on the chronological list. */
  timePrev: JoyFlowRecord | null = null;
  /** Next record on the chronological list. */
  timeNext: JoyFlowRecord | null = null;

  /** Packets (`np`), packets with data in `pktLen` (`op`), payload bytes (`ob`). */
  np = 0;
  /** Packets entered in `pktLen` and `pktTime`. */
  op = 0;
  /** Payload bytes (Joy's counter is 16 bits wide: code that follows Joy masks it with `0xffff`). */
  ob = 0;
  /**
   * First packet time (µs). 0 means unset, as in Joy's zero-filled record tested with `timerisset`: a record
   * whose packets were all dropped prints 0.000000, and a packet stamped exactly 0 leaves the start unset.
   */
  start: number = 0;
  /** Last packet time (µs), 0 before the start is set. */
  end: number = 0;
  /** Payload lengths and times of the first packets with data. */
  pktLen: Int32Array = new Int32Array(MAX_NUM_PKT_LEN);
  /** Times (µs) of the packets in `pktLen`. */
  pktTime: Float64Array = new Float64Array(MAX_NUM_PKT_LEN);

  /**
   * Byte counts (the first 4000 payload bytes, counted against Joy's 16-bit `ob`, so they resume when it
   * wraps), compact counts, running mean and variance.
   */
  byteCount: Uint32Array = new Uint32Array(256);
  /** Byte counts by the compact distribution's 16 classes; null until the first payload with `cdist` on. */
  compactByteCount: Uint32Array | null = null;
  /** Payload bytes taken into `bdMean` and `bdVariance`. */
  numBytes = 0;
  /** Running mean of the payload byte values. */
  bdMean = 0;
  /** Running sum of squared deviations from the mean (Welford's method); printed as a standard deviation. */
  bdVariance = 0;

  /** Minimum TTL / hop limit, and the first IPv4 identifications. */
  ttl = 255;
  /** The first IPv4 identifications (at most `MAX_NUM_IP_ID`). */
  ipIds: number[] = [];

  /** TCP: last seq/ack, first SYN/SYN-ACK flags, first seq, window, options, retransmissions. */
  tcpSeq = 0;
  /** Acknowledgement number of the last segment entered in `pktLen`. */
  tcpAck = 0;
  /** Flags of the first SYN or SYN-ACK (2 or 18), 0 before one. */
  tcpFlags = 0;
  /** Sequence number of the first SYN. */
  tcpFirstSeq = 0;
  /** Window of the first SYN or SYN-ACK. */
  tcpFirstWindow = 0;
  /** Options of the latest SYN or SYN-ACK that had any (at most `TCP_OPT_LEN` bytes). */
  tcpOpts: Uint8Array | null = null;
  /** Retransmitted segments seen. */
  tcpRetrans = 0;
  /** Joy zero-fills the buffer, so a first segment with sequence number 0 counts as a retransmission. */
  retransSeq: Float64Array = new Float64Array(MAX_TCP_RETRANS_BUFFER);
  /** Payload lengths of the segments in `retransSeq` (16 bits, as Joy keeps them). */
  retransLen: Int32Array = new Int32Array(MAX_TCP_RETRANS_BUFFER);
  /** Where the next segment goes in the circular `retransSeq` / `retransLen` buffer. */
  retransTail = 0;
  /** The latest data segment: 0 new, 1 a retransmission, 2 a retransmission longer than the original. */
  isTcpRetrans = 0;
  /** Initial data packet and its TCP sequence bookkeeping. */
  idp: Uint8Array | null = null;
  /** Sequence number of the latest SYN or SYN-ACK, until the data segment that follows it is found (then 0). */
  idpSeqNum = 0;
  /** True when the current TCP segment is the one to keep as the initial data packet. */
  idpPacket = false;
  /** Packets that could not be parsed as their transport protocol. */
  invalid = 0;
  /**
   * Application guessed by Joy's protocol identification (443 TLS, 80 HTTP, 53 DNS; 0 none) and the
   * direction it implies (1 client, 2 server, 0 unknown); see `proto_identify.ts`.
   */
  app = 0;
  /** Direction implied by `app`: 1 client, 2 server, 0 unknown. */
  dir = 0;
  /** Why the record left the table. */
  expType: JoyExpireType = "";

  /** Protocol features (null until the first packet that concerns them). */
  tls: JoyTls | null = null;
  /** DNS feature state. */
  dns: JoyDns | null = null;
  /** HTTP feature state. */
  http: JoyHttp | null = null;
  /** SSH feature state. */
  ssh: JoySsh | null = null;
  /** DHCP feature state. */
  dhcp: JoyDhcp | null = null;
  /** DHCPv6 feature state. */
  dhcpv6: JoyDhcpv6 | null = null;
  /** IKE feature state. */
  ike: JoyIke | null = null;
  /** TCP features: per-packet information and the SALT sequence. */
  ppi: JoyPpi | null = null;
  /** SALT feature state: the TCP sequence and acknowledgement numbers. */
  salt: JoySalt | null = null;
  /**
   * Header description state, laid out like Joy's `header_description_t`: constant mask, constant values, counter
   * mask and initial bytes (32 each), then the payload count (see `context.ts`).
   */
  hdBytes: Uint8Array | null = null;
  /** Walsh-Hadamard transform sums over the payload bytes (4 values), and the byte count. */
  wht: Float64Array | null = null;
  /** Payload bytes taken into `wht`. */
  whtBytes = 0;
}
