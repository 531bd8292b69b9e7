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

/** How a record left the table: `a` active timeout, `i` inactive timeout, 0 at the final flush. */
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
  da = "";
  saBytes: Uint8Array = new Uint8Array(0);
  daBytes: Uint8Array = new Uint8Array(0);
  sp = 0;
  dp = 0;
  prot = 0;
  /** 4 or 6. */
  ipVersion = 4;
  /** Hash bucket of the key, and the next record in it. */
  hash = 0;
  bucketNext: JoyFlowRecord | null = null;
  /** The reverse direction, when merged. */
  twin: JoyFlowRecord | null = null;
  /** Chronological list (only records without a twin at creation are in it). */
  inChrono = false;
  timePrev: JoyFlowRecord | null = null;
  timeNext: JoyFlowRecord | null = null;

  /** Packets (`np`), packets with data in `pktLen` (`op`), payload bytes (`ob`). */
  np = 0;
  op = 0;
  ob = 0;
  /** First and last packet times (µs); `start === -1` before the first packet. */
  start = -1;
  end = -1;
  /** Payload lengths and times of the first packets with data. */
  pktLen: Int32Array = new Int32Array(MAX_NUM_PKT_LEN);
  pktTime: Float64Array = new Float64Array(MAX_NUM_PKT_LEN);

  /**
   * Byte counts (the first 4000 payload bytes, counted against Joy's 16-bit `ob`, so they resume when it
   * wraps), compact counts, running mean and variance.
   */
  byteCount: Uint32Array = new Uint32Array(256);
  compactByteCount: Uint32Array | null = null;
  numBytes = 0;
  bdMean = 0;
  bdVariance = 0;

  /** Minimum TTL / hop limit, and the first IPv4 identifications. */
  ttl = 255;
  ipIds: number[] = [];

  /** TCP: last seq/ack, first SYN/SYN-ACK flags, first seq, window, options, retransmissions. */
  tcpSeq = 0;
  tcpAck = 0;
  tcpFlags = 0;
  tcpFirstSeq = 0;
  tcpFirstWindow = 0;
  tcpOpts: Uint8Array | null = null;
  tcpRetrans = 0;
  /** Joy zero-fills the buffer, so a first segment with sequence number 0 counts as a retransmission. */
  retransSeq: Float64Array = new Float64Array(MAX_TCP_RETRANS_BUFFER);
  retransLen: Int32Array = new Int32Array(MAX_TCP_RETRANS_BUFFER);
  retransTail = 0;
  isTcpRetrans = 0;
  /** Initial data packet and its TCP sequence bookkeeping. */
  idp: Uint8Array | null = null;
  idpSeqNum = 0;
  idpPacket = false;
  /** Packets that could not be parsed as their transport protocol. */
  invalid = 0;
  /**
   * Application guessed by Joy's protocol identification (443 TLS, 80 HTTP, 53 DNS; 0 none) and the
   * direction it implies (1 client, 2 server, 0 unknown); see `proto_identify.ts`.
   */
  app = 0;
  dir = 0;
  /** Why the record left the table. */
  expType: JoyExpireType = "";

  /** Protocol features (null until the first packet that concerns them). */
  tls: JoyTls | null = null;
  dns: JoyDns | null = null;
  http: JoyHttp | null = null;
  ssh: JoySsh | null = null;
  dhcp: JoyDhcp | null = null;
  dhcpv6: JoyDhcpv6 | null = null;
  ike: JoyIke | null = null;
  /** TCP features: per-packet information and the SALT sequence. */
  ppi: JoyPpi | null = null;
  salt: JoySalt | null = null;
  /**
   * Header description state, laid out like Joy's `header_description_t`: constant mask, constant values, counter
   * mask and initial bytes (32 each), then the payload count (see `context.ts`).
   */
  hdBytes: Uint8Array | null = null;
  /** Walsh-Hadamard transform sums over the payload bytes (4 values), and the byte count. */
  wht: Float64Array | null = null;
  whtBytes = 0;
}
