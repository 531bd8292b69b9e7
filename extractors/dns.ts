/**
 * `dns`: DNS over UDP and over TCP (length-prefixed, reassembled) on any port, detected by content: a sane
 * header (known opcode, a query has questions and rcode 0) and readable questions of a known class.
 *
 * The question fields come from the first query read (else the first response); rcode, section counts and RA
 * from the first response's header, whether or not the rest of it can be read (counts from the query when there
 * is no response); TTLs and answer data are gathered over the responses among the flow's first 32 messages (every
 * message counts, read or not; at most 64 answers are listed), which bounds a flow's memory whatever its length.
 * A message that does not read as DNS (a query without a question) is counted by its header once the flow is
 * DNS: over UDP when a later datagram reads as DNS; over TCP, where a direction's first message decides, when
 * the other direction's first message does. A 32-letter NetBIOS-encoded first name makes a flow on port 137 NetBIOS (as tshark
 * decides by that port), not DNS. `dns_queries` / `dns_responses` count every message by its QR bit. Over TCP, after a sequence
 * gap that is never filled (a segment not captured), messages are read again from the next segment that starts
 * one; one that starts inside a message ends the counting, as later messages cannot be delimited.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import {
  DNS_MAX_ANSWERS,
  type DnsMessage,
  dnsRcodeName,
  dnsTypeName,
  isCutDnsMessage,
  parseDnsMessage,
} from "../lib/protocols/dns.ts";
import { notStreamStart, payloadSeq, TcpStreamBuffer } from "../lib/protocols/tcp_stream.ts";

/** Messages parsed in full per flow; later ones only have their header counted. */
const MAX_PARSED = 32;
/** Largest DNS-over-TCP message plus its length prefix. */
const TCP_CAP = 65537;
/**
 * Bytes a direction's stream may span, the hole included, while none of its bytes can be read in order (its
 * first segment is missing) before the flow is declared not DNS: room for a first segment retransmitted behind
 * an initial window of later ones (IW10 of 1448 bytes spans 14.5 KB, IW16 23 KB), as the http2 group allows. A
 * hole that never fills costs no more than this; one that fills a round trip later is read (three packets,
 * counted before, gave up on a message of four segments whose first one was lost). The first PARTIAL_TEST
 * in-order bytes decide a flow that is not DNS anyway.
 */
const GAP_BYTES = 24576;
/** UDP datagrams examined before a flow none of which was a DNS message is taken for not DNS. */
const UDP_PROBES = 3;
/** Bytes of an incomplete first TCP message enough to hold its header and a longest question. */
const PARTIAL_TEST = 2 + 12 + 256 + 4;

const enum Mode {
  UNKNOWN = 0,
  DNS = 1,
  NOT_DNS = 2,
}

/**
 * Per-flow state of `dns` (UDP and TCP flows).
 *
 * @example
 * ```ts
 * import { DnsState } from "./dns.ts";
 * console.log(new DnsState().queries); // 0
 * ```
 */
export class DnsState {
  mode: Mode = Mode.UNKNOWN;
  tcp = false;
  /** A side of the flow is on port 137, NetBIOS name service's. */
  netbiosPort = false;
  /** A side of the flow is on a DNS port (53, mDNS's 5353, LLMNR's 5355). */
  dnsPort = false;
  /** TCP: directions (bit per direction) whose messages can no longer be found (see `cutTcpMessage`). */
  lostDirs = 0;
  /** UDP: datagrams examined while probing. */
  probes0 = 0;
  /** TCP: directions (bit per direction) whose first message cannot be DNS. */
  hopeless = 0;
  /**
   * TCP: directions (bit per direction) whose unfinished first message passed the partial test. More bytes of
   * it cannot make it fail (they only add answers, which the test does not judge), so it is not parsed again
   * for each segment: a message announced 64 KB long and sent a byte at a time was parsed whole 65,000 times.
   */
  partialPassed = 0;
  /**
   * TCP: directions (bit per direction) whose unfinished, hopeless first message is not stored yet: only where it
   * starts, how many bytes came and its first 8 bytes (all that any later reading of it looks at) are kept, and
   * the stream gets those bytes when the direction sends more or the flow ends (see {@linkcode materialize}).
   */
  deferred = 0;
  defStart0 = 0;
  defStart1 = 0;
  defLen0 = 0;
  defLen1 = 0;
  defHead0 = 0;
  defTail0 = 0;
  defHead1 = 0;
  defTail1 = 0;
  isn0 = 0;
  isn1 = 0;
  isnKnown = 0;
  streams: TcpStreamBuffer[] | null = null;
  queries = 0;
  responses = 0;
  /** Messages counted (parsed or by their header alone): the first MAX_PARSED are parsed in full. */
  messages = 0;
  /**
   * The first query's and the first response's 12 header bytes: the columns "of the first response" come from
   * its header, also when the rest of it cannot be read or it came past the parsed messages (as tshark reads
   * them).
   */
  queryHeader: Uint8Array | null = null;
  responseHeader: Uint8Array | null = null;
  /** Which message (its count) the first response was, and its RCODE's upper bits when it was parsed. */
  responseAt = 0;
  responseExtendedRcode = 0;
  /**
   * UDP: headers of the datagrams that did not read as DNS while the flow was undecided (at most
   * UDP_PROBES - 1, their 12 header bytes): counted once a later one decides the flow is DNS (a dig
   * +header-only query has no question, which alone does not make a flow DNS).
   */
  pending: Uint8Array[] | null = null;
  firstQuery: DnsMessage | null = null;
  firstResponse: DnsMessage | null = null;
  truncated = false;
  minTtl: number | null = null;
  maxTtl: number | null = null;
  /** Answer strings gathered, created with the first one (the column is [] for a flow without any). */
  answers: string[] | null = null;
  /** A response's answers could not all be read (cut by the snapshot length, or malformed). */
  answersUnread = false;
}

const f = (name: string, type: "int" | "str" | "bool" | "list", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("dns_detected", "bool", "True when a DNS message was recognised in the flow."),
  f("dns_query_name", "str", "Name of the first question (Wireshark rendering, <Root> for the root)."),
  f("dns_query_type", "int", "Type of the first question (1 A, 28 AAAA, ...)."),
  f("dns_query_type_str", "str", 'Mnemonic of the query type ("A", "AAAA", ...).'),
  f(
    "dns_response_code",
    "int",
    "RCODE of the first response: the header's 4 bits, with an OPT record's upper 8 bits above them " +
      "(RFC 6891: 16 BADVERS, 23 BADCOOKIE).",
  ),
  f("dns_response_code_str", "str", 'Mnemonic of the RCODE ("NOERROR", "NXDOMAIN", "BADCOOKIE", ...).'),
  f("dns_answer_count", "int", "ANCOUNT of the first response (of the query when there is none)."),
  f("dns_authority_count", "int", "NSCOUNT of the first response (of the query when there is none)."),
  f("dns_additional_count", "int", "ARCOUNT of the first response (of the query when there is none)."),
  f("dns_min_ttl", "int", "Smallest TTL of the answer records of the responses among the first 32 messages."),
  f("dns_max_ttl", "int", "Largest TTL of the answer records of the responses among the first 32 messages."),
  f("dns_is_query", "bool", "A query (QR 0) was seen."),
  f("dns_is_response", "bool", "A response (QR 1) was seen."),
  f("dns_truncated", "bool", "A message had the TC bit set."),
  f("dns_recursion_desired", "bool", "RD bit of the first query (of the first response when there is none)."),
  f("dns_recursion_available", "bool", "RA bit of the first response."),
  f(
    "dns_queries",
    "int",
    "Query messages (QR 0) seen. Over TCP, the messages a gap in a direction's stream that is never filled " +
      "(segments the capture missed) holds are not counted; those after it are, from the next segment that " +
      "starts with a message, as tshark reads a segment after a lost one. When that segment starts inside a " +
      "message, the direction's later messages cannot be delimited and are not counted.",
  ),
  f("dns_responses", "int", "Response messages (QR 1) seen (over TCP, as dns_queries past a gap)."),
  f(
    "dns_answers",
    "list",
    "Answer data of the responses among the first 32 messages as text, at most 64: addresses (RFC 5952 for " +
      "IPv6), names (CNAME, NS, PTR, MX, SRV targets), and TXT data with its strings joined as one, as SPF and " +
      "DKIM read a record split into strings. Null when none could be listed because the responses' answers " +
      "could not be read (a snapshot length cut them).",
  ),
];

/** Counts the message at `buf[off]` (12 header bytes present) by its header, as tshark counts one it cannot read
 * further: QR and TC, and the first query's and response's header is kept. */
function countHeader(s: DnsState, buf: Uint8Array, off: number, have = 12): void {
  s.messages++;
  const flags = (buf[off + 2] << 8) | buf[off + 3];
  if (flags & 0x8000) {
    s.responses++;
    if (s.responseHeader === null) {
      s.responseHeader = headerOf(buf, off, have);
      s.responseAt = s.messages;
    }
  } else {
    s.queries++;
    if (s.queryHeader === null) s.queryHeader = headerOf(buf, off, have);
  }
  if (flags & 0x0200) s.truncated = true;
}

/**
 * The 12 header bytes of the message at `buf[off]`, of which `have` (6 to 12) were captured; the byte after them
 * (a 13th) is how many, so that counts a cut left out are unknown.
 */
function headerOf(buf: Uint8Array, off: number, have: number): Uint8Array {
  const h = new Uint8Array(13);
  h.set(buf.subarray(off, off + Math.min(have, 12)));
  h[12] = Math.min(have, 12);
  return h;
}

/**
 * True when the first `have` bytes (6 to 11) of a message the snapshot length cut inside its header read as a DNS
 * header as far as they go: a known opcode, a query's rcode 0, and at most 64 questions (a query at least one).
 * With fewer than 6 (no question count) too much passes: "GET / " reads as flags of opcode 5.
 */
function isCutDnsHeader(buf: Uint8Array, off: number, have: number): boolean {
  if (have < 6) return false;
  const flags = (buf[off + 2] << 8) | buf[off + 3];
  const opcode = (flags >> 11) & 0xf;
  if (opcode === 3 || opcode > 6) return false;
  const query = (flags & 0x8000) === 0;
  if (query && (flags & 0xf) !== 0) return false;
  const qd = (buf[off + 4] << 8) | buf[off + 5];
  return qd <= 64 && (!query || qd >= 1);
}

/** DNS's port, mDNS's and LLMNR's. */
function isDnsPort(port: number): boolean {
  return port === 53 || port === 5353 || port === 5355;
}

/** Counts the datagrams that did not read as DNS before the flow was found to be (see `DnsState.pending`). */
function countPending(s: DnsState): void {
  const pending = s.pending;
  if (pending === null) return;
  for (const header of pending) countHeader(s, header, 0);
  s.pending = null;
}

/** Keeps what the columns need of a parsed message (its header is counted by `countHeader`). */
function addMessage(s: DnsState, m: DnsMessage): void {
  if (m.qr) {
    // Its header was just counted: the first response's RCODE takes an OPT record's extended bits.
    if (s.responseAt === s.messages) s.responseExtendedRcode = m.extendedRcode;
    if (s.firstResponse === null) s.firstResponse = m;
    if (m.minTtl !== null && (s.minTtl === null || m.minTtl < s.minTtl)) s.minTtl = m.minTtl;
    if (m.maxTtl !== null && (s.maxTtl === null || m.maxTtl > s.maxTtl)) s.maxTtl = m.maxTtl;
    if (m.answersRead < m.anCount) s.answersUnread = true;
    if (m.answers.length > 0) {
      const answers = s.answers ??= [];
      for (const a of m.answers) {
        if (answers.length >= DNS_MAX_ANSWERS) break;
        answers.push(a);
      }
    }
  } else if (s.firstQuery === null) s.firstQuery = m;
}

/**
 * NetBIOS name service (RFC 1002, port 137) shares the DNS layout; its first name is a 32-letter "A".."P"
 * encoding. On other ports such a name is a DNS name like any other.
 */
function isNetbiosName(s: DnsState, buf: Uint8Array, off: number, end: number): boolean {
  if (!s.netbiosPort) return false;
  const p = off + 12;
  if (end - p < 33 || buf[p] !== 32) return false;
  for (let i = 1; i <= 32; i++) if (buf[p + i] < 0x41 || buf[p + i] > 0x50) return false;
  return true;
}

/** Handles one message after detection; returns false when it is not DNS. */
function onMessage(s: DnsState, buf: Uint8Array, off: number, end: number): boolean {
  if (s.mode === Mode.UNKNOWN && isNetbiosName(s, buf, off, end)) return false;
  if (s.messages >= MAX_PARSED) {
    // Header only, without allocating.
    if (end - off < 12) return false;
    countHeader(s, buf, off);
    return true;
  }
  // The question name is written from the first query (else the first response): once a query is kept, later
  // messages' names are never used.
  const m = parseDnsMessage(buf, off, end, s.firstQuery === null);
  if (m === null) {
    // In a DNS flow a malformed message still counts, by its header, as past MAX_PARSED (and as tshark does).
    if (s.mode !== Mode.DNS || end - off < 12) return false;
    countHeader(s, buf, off);
    return true;
  }
  countHeader(s, buf, off);
  addMessage(s, m);
  return true;
}

/**
 * Handles the length-prefixed messages in the contiguous bytes `d[o, end)` of a direction; returns the bytes used
 * (whole messages; an unfinished one is left).
 */
function drainRange(s: DnsState, d: Uint8Array, o: number, end: number, dir: number): number {
  let p = o;
  for (;;) {
    const a = end - p;
    if (a < 2) break;
    const len = (d[p] << 8) | d[p + 1];
    // An unfinished message is left for later bytes; at the end (the capture cut it, or lost its last
    // segment) it is not read at all: tshark never reads that PDU, and its answers, TTLs and code, read as far
    // as they went, made a response of it.
    if (a < 2 + len) break;
    const ok = len >= 12 && onMessage(s, d, p + 2, p + 2 + len);
    if (s.mode === Mode.UNKNOWN) {
      if (!ok) {
        // A first message with a header that does not read as DNS (dig +tcp +header-only: a query without a
        // question) leaves its direction unable to make the flow DNS; it is kept, unread, for the other
        // direction to decide, and counted by its header if that one is DNS. With no header, or both
        // directions so, the flow is not DNS.
        s.hopeless |= 1 << dir;
        if (len < 12 || s.hopeless === 3) s.mode = Mode.NOT_DNS;
        break;
      }
      s.mode = Mode.DNS;
    }
    p += 2 + len;
  }
  return p - o;
}

function drainTcp(s: DnsState, st: TcpStreamBuffer, dir: number): void {
  const o = st.offset;
  st.consume(drainRange(s, st.data, o, o + st.available, dir));
}

/**
 * True when a direction's first message, whose length prefix starts at `d[o]` (8 bytes present), can never be
 * read as DNS: its length or header fails a test of {@linkcode parseDnsMessage}, whatever follows.
 */
function hopelessStart(d: Uint8Array, o: number): boolean {
  if (((d[o] << 8) | d[o + 1]) < 12) return true;
  const flags = (d[o + 4] << 8) | d[o + 5];
  const opcode = (flags >> 11) & 0xf;
  if (opcode === 3 || opcode > 6) return true;
  const qd = (d[o + 6] << 8) | d[o + 7];
  if ((flags & 0x8000) === 0 && (qd === 0 || (flags & 0xf) !== 0)) return true;
  return qd > 64;
}

/** Stores a deferred first message in its stream: its first 8 bytes as they came, zeros after (never read). */
function materialize(s: DnsState, st: TcpStreamBuffer, dir: number): void {
  s.deferred &= ~(1 << dir);
  const len = dir === 0 ? s.defLen0 : s.defLen1;
  const head = dir === 0 ? s.defHead0 : s.defHead1, tail = dir === 0 ? s.defTail0 : s.defTail1;
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len && i < 8; i++) {
    bytes[i] = (i < 4 ? head >>> (24 - 8 * i) : tail >>> (56 - 8 * i)) & 0xff;
  }
  st.push(dir === 0 ? s.defStart0 : s.defStart1, bytes, 0, len);
}

/** Keeps the start of a hopeless unfinished first message `d[off, off + a)` (a >= 8) instead of storing it. */
function defer(s: DnsState, dir: number, seq: number, d: Uint8Array, off: number, a: number): void {
  s.deferred |= 1 << dir;
  const head = ((d[off] << 24) | (d[off + 1] << 16) | (d[off + 2] << 8) | d[off + 3]) >>> 0;
  const tail = ((d[off + 4] << 24) | (d[off + 5] << 16) | (d[off + 6] << 8) | d[off + 7]) >>> 0;
  if (dir === 0) {
    s.defStart0 = seq;
    s.defLen0 = a;
    s.defHead0 = head;
    s.defTail0 = tail;
  } else {
    s.defStart1 = seq;
    s.defLen1 = a;
    s.defHead1 = head;
    s.defTail1 = tail;
  }
}

function updateTcp(s: DnsState, p: PacketView, dir: 0 | 1): void {
  const n = p.payloadCapLen;
  if (s.streams !== null && (p.tcpFlags & TCP.ACK) !== 0) s.streams[dir ^ 1].noteAck(p.tcpAck);
  if (s.streams === null) {
    if (p.tcpFlags & TCP.SYN) {
      if (dir === 0) s.isn0 = p.tcpSeq;
      else s.isn1 = p.tcpSeq;
      s.isnKnown |= 1 << dir;
    }
    if (n === 0) return;
    const b = p.buf, o = p.payloadOff;
    // Cheap test before any allocation: a length prefix of at least a header (on the direction's first bytes;
    // an out-of-order segment starts anywhere in a message).
    if (
      n >= 2 && ((b[o] << 8) | b[o + 1]) < 12 &&
      !notStreamStart(s.isnKnown, dir, dir === 0 ? s.isn0 : s.isn1, payloadSeq(p.tcpSeq, p.tcpFlags))
    ) {
      s.mode = Mode.NOT_DNS;
      return;
    }
    s.streams = [new TcpStreamBuffer(TCP_CAP), new TcpStreamBuffer(TCP_CAP)];
    for (let d = 0; d < 2; d++) {
      if (s.isnKnown & (1 << d)) s.streams[d].setInitialSeq(((d === 0 ? s.isn0 : s.isn1) + 1) >>> 0);
    }
  }
  if (n === 0) return;
  const st = s.streams[dir];
  if ((s.deferred & (1 << dir)) !== 0) materialize(s, st, dir);
  const b = p.buf, o = p.payloadOff, seq = payloadSeq(p.tcpSeq, p.tcpFlags);
  // Unconsumed contiguous bytes of the direction after this packet: d[off, off + a).
  let d: Uint8Array, off: number, a: number;
  let used = -1;
  const nextBefore = st.nextSeq;
  if (st.isNext(seq) && n <= st.maxBytes) {
    // In order with nothing buffered: read the messages in place; only an unfinished one is stored (below).
    used = drainRange(s, b, o, o + n, dir);
    st.advanceDirect(seq, used);
    d = b;
    off = o + used;
    a = n - used;
  } else {
    st.push(seq, b, o, n);
    drainTcp(s, st, dir);
    d = st.data;
    off = st.offset;
    a = st.available;
  }
  if (s.mode === Mode.UNKNOWN) {
    // No complete first message yet: test the header and question of the partial one, and give up when a
    // direction has sent a few packets without even a header.
    // (A complete first message that did not read as DNS waits, unread, in a hopeless direction: see drainRange.)
    if (a >= PARTIAL_TEST && a < 2 + ((d[off] << 8) | d[off + 1])) {
      if ((s.partialPassed & (1 << dir)) === 0) {
        if (parseDnsMessage(d, off + 2, off + a, false) === null) s.mode = Mode.NOT_DNS;
        else s.partialPassed |= 1 << dir;
      }
    } else if (used < 0 && st.nextSeq === nextBefore && st.buffered >= GAP_BYTES && !st.gapAwaited) {
      s.mode = Mode.NOT_DNS;
    }
    // Only a direction whose first message reads as DNS can make the flow DNS. When neither can, the flow ends
    // not DNS whatever follows (the same columns as giving up now).
    if (s.mode === Mode.UNKNOWN && a >= 8 && (s.hopeless & (1 << dir)) === 0 && hopelessStart(d, off)) {
      s.hopeless |= 1 << dir;
      if (s.hopeless === 3) s.mode = Mode.NOT_DNS;
    }
  }
  if (s.mode === Mode.NOT_DNS) {
    s.streams = null;
    return;
  }
  if (used >= 0 && a > 0) {
    // An unfinished first message that cannot be DNS waits for the other direction to decide the flow (most
    // often: not DNS either) without being copied.
    if (
      s.mode === Mode.UNKNOWN && used === 0 && a >= 8 && (s.hopeless & (1 << dir)) !== 0 &&
      a < 2 + ((b[off] << 8) | b[off + 1])
    ) {
      defer(s, dir, seq, b, off, a);
    } else st.push((seq + used) >>> 0, b, off, a);
  }
}

/**
 * The stream reached `missing` bytes a snapshot length cut from a segment (see `TcpStreamBuffer.noteCut`): the
 * message the cut fell in is counted by its header (its answers unknown) if the header was
 * captured, and passed over by its length, as tshark reads the captured part of such a segment. When a message
 * starts in bytes not captured, its length is unknown: the direction's later messages cannot be found, and are
 * not read.
 */
function cutTcpMessage(s: DnsState, st: TcpStreamBuffer, dir: number, missing: number): void {
  const a = st.available, o = st.offset, d = st.data;
  if (a < 2) {
    loseDirection(s, dir);
    return;
  }
  const len = (d[o] << 8) | d[o + 1];
  if (a >= 14 && len >= 12) {
    // Read as far as it was captured: the question and the answers that fit, as in a datagram the cut ended.
    const end = o + Math.min(a, 2 + len);
    const m = s.messages < MAX_PARSED ? parseDnsMessage(d, o + 2, end, s.firstQuery === null) : null;
    if (s.mode === Mode.UNKNOWN) {
      if (!s.dnsPort || (s.hopeless & (1 << dir)) !== 0 || (m === null && !isCutDnsMessage(d, o + 2, end))) {
        return;
      }
      s.mode = Mode.DNS;
    }
    countHeader(s, d, o + 2);
    if (m !== null) addMessage(s, m);
    else if ((d[o + 4] & 0x80) !== 0) s.answersUnread = true;
  } else if (a >= 6 && len >= 12 && isCutDnsHeader(d, o + 2, a - 2)) {
    // Cut inside the header: counted by its flags, its counts unknown.
    if (s.mode === Mode.UNKNOWN) {
      if (!s.dnsPort || (s.hopeless & (1 << dir)) !== 0) return;
      s.mode = Mode.DNS;
    }
    countHeader(s, d, o + 2, a - 2);
    if ((d[o + 4] & 0x80) !== 0) s.answersUnread = true;
  } else if (s.mode === Mode.UNKNOWN) return;
  st.skip(2 + len);
  // A message starts among the bytes not captured: its length is not known.
  if (a + missing > 2 + len) loseDirection(s, dir);
}

/**
 * Passes over each message a cut fell in that the direction's stream has reached (`cutTcpMessage`), then reads
 * the messages after it that were held, in order.
 */
function reachCuts(s: DnsState, dir: number): void {
  if (s.streams === null || (s.deferred & (1 << dir)) !== 0) return;
  const st = s.streams[dir];
  for (let missing = st.takeReachedCut(); missing > 0; missing = st.takeReachedCut()) {
    if ((s.lostDirs & (1 << dir)) !== 0) return;
    cutTcpMessage(s, st, dir, missing);
    if (s.mode !== Mode.DNS || (s.lostDirs & (1 << dir)) !== 0) return;
    drainTcp(s, st, dir);
  }
}

/**
 * Goes on past a gap in a direction's stream that will not fill: the receiver acknowledged bytes after it (the
 * capture missed them), for a second of capture time or with half the cap waiting behind it (see
 * `TcpStreamBuffer.gapMissedSettled`; `now` is the packet's time: a segment stamped after its acknowledgement
 * comes sooner), or the flow ended (`now` Infinity). The direction continues at the segment held after the gap
 * when that segment starts with a message that reads as DNS, as tshark reads a segment after a lost one from
 * its start; the messages lost in the gap are not counted (how many is unknown), and their answers are unknown.
 * When the segment starts inside a message, the direction's later messages cannot be found: it is not read
 * further. A flow not yet DNS goes on so on a DNS port (its first message lost), where tshark reads it by port.
 */
function resyncMissed(s: DnsState, dir: number, now: number): void {
  const ended = now === Infinity;
  if (s.streams === null || (s.lostDirs & (1 << dir)) !== 0 || (s.deferred & (1 << dir)) !== 0) return;
  const st = s.streams[dir];
  while (st.hasGap && (ended || st.gapMissedSettled(now))) {
    if (s.mode !== Mode.DNS && !(s.mode === Mode.UNKNOWN && s.dnsPort)) return;
    const v = st.firstRange!;
    const len = v.length >= 2 ? (v[0] << 8) | v[1] : 0;
    // Enough of it to tell: the whole message, or its header and a longest question, or all there will be.
    if (!ended && v.length < 2 + len && v.length < PARTIAL_TEST) return;
    if (
      v.length < 14 || len < 12 || hopelessStart(v, 0) ||
      parseDnsMessage(v, 2, Math.min(v.length, 2 + len), false) === null
    ) {
      loseDirection(s, dir);
      return;
    }
    st.skipGap();
    s.answersUnread = true;
    drainTcp(s, st, dir);
  }
}

/** A direction whose message boundaries were lost (see `cutTcpMessage`): its later segments are not read. */
function loseDirection(s: DnsState, dir: number): void {
  s.lostDirs |= 1 << dir;
  // Responses may be among what is not read: their answers are unknown.
  s.answersUnread = true;
}

/**
 * The `dns` group.
 *
 * @example
 * ```ts
 * import { dnsExtractor } from "./dns.ts";
 * console.log(dnsExtractor.features[0].name); // dns_detected
 * ```
 */
export const dnsExtractor: FeatureExtractor<DnsState | null> = {
  name: "dns",
  features,
  datagrams: true,
  init: (flow: FlowState): DnsState | null => {
    if (flow.protocol !== 6 && flow.protocol !== 17) return null;
    const s = new DnsState();
    s.tcp = flow.protocol === 6;
    s.netbiosPort = flow.srcPort === 137 || flow.dstPort === 137;
    s.dnsPort = isDnsPort(flow.srcPort) || isDnsPort(flow.dstPort);
    return s;
  },
  update(s: DnsState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || s.mode === Mode.NOT_DNS) return;
    if (s.tcp) {
      if (p.tcpHdrLen === 0 || p.isFragment || (s.lostDirs & (1 << dir)) !== 0) return;
      updateTcp(s, p, dir);
      // The snapshot length cut the segment: the message it cut is counted by its header, and passed over, once
      // the stream reaches the cut (a segment before it may come later).
      const n = p.payloadCapLen;
      if (n < p.payloadLen && s.streams !== null && (s.mode as Mode) !== Mode.NOT_DNS) {
        const seq = payloadSeq(p.tcpSeq, p.tcpFlags);
        s.streams[dir].noteCut(seq + n, seq + p.payloadLen);
      }
      reachCuts(s, dir);
      // A gap this packet's bytes, or its acknowledgement of the other direction's, showed to be missed.
      if (s.streams !== null && s.streams[dir].hasGap) resyncMissed(s, dir, p.ts);
      if (s.streams !== null && s.streams[dir ^ 1].hasGap) resyncMissed(s, dir ^ 1, p.ts);
      return;
    }
    if (p.proto !== 17) return;
    let b = p.buf, o = p.payloadOff, n = p.payloadCapLen;
    if (p.datagram !== null) {
      // A fragmented datagram's message is read once, whole, at the fragment that completes it, as tshark reads
      // it; its other fragments wait for it (a datagram that never completes is not read). A first fragment
      // that can never be reassembled (cut by the snapshot length) is read as far as it goes, as tshark does.
      const d = p.datagram;
      if (d.length < 8) return;
      b = d;
      o = 8;
      const udpLen = (d[4] << 8) | d[5];
      n = (udpLen >= 8 && udpLen <= d.length ? udpLen : d.length) - 8;
    } else if (p.heldForReassembly || p.isFragment) return;
    if (n === 0) return;
    // The snapshot length cut the datagram, or this is a first fragment that nothing can reassemble: a message
    // cut inside its question is counted by its header, its answers unknown, on a DNS port or in a flow already
    // DNS (tshark reads it by its port).
    const cut = p.datagram === null && (n < p.payloadLen || (p.ipFlags & 1) !== 0);
    if (s.mode === Mode.DNS) {
      if (onMessage(s, b, o, o + n)) {
        if (cut && (b[o + 2] & 0x80) !== 0) s.answersUnread = true;
      } else if (cut && n < 12 && isCutDnsHeader(b, o, n)) {
        countHeader(s, b, o, n);
        if ((b[o + 2] & 0x80) !== 0) s.answersUnread = true;
      }
      return;
    }
    // One bad datagram first (a probe, a malformed query) does not make the flow not DNS: a few are examined,
    // and once one reads as DNS the ones before it are counted by their header, in their order.
    const m = isNetbiosName(s, b, o, o + n) ? null : parseDnsMessage(b, o, o + n, true);
    // Cut inside its question, or inside the header itself (by the flags and counts it kept, 6 bytes or more).
    if (m === null && cut && s.dnsPort && (n < 12 ? isCutDnsHeader(b, o, n) : isCutDnsMessage(b, o, o + n))) {
      s.mode = Mode.DNS;
      countPending(s);
      countHeader(s, b, o, Math.min(n, 12));
      if ((b[o + 2] & 0x80) !== 0) s.answersUnread = true;
      return;
    }
    if (m === null) {
      if (++s.probes0 >= UDP_PROBES) {
        s.mode = Mode.NOT_DNS;
        s.pending = null;
      } else if (n >= 12) (s.pending ??= []).push(b.slice(o, o + 12));
      return;
    }
    s.mode = Mode.DNS;
    countPending(s);
    countHeader(s, b, o);
    addMessage(s, m);
  },
  finish(s: DnsState | null, _flow: FlowState, out: FlowRecord): void {
    if (s !== null && s.tcp && s.streams !== null) {
      for (let d = 0; d < 2; d++) {
        // Whole messages still held are read; an unfinished one is not (a deferred first message is one).
        drainTcp(s, s.streams[d], d);
        // Then those after gaps that were never filled.
        resyncMissed(s, d, Infinity);
      }
      s.streams = null;
    }
    const detected = s !== null && s.mode === Mode.DNS && (s.queries > 0 || s.responses > 0);
    out.dns_detected = detected;
    // Pipeline records start with every column null; a record made by hand gets them here.
    if (out.dns_answers === undefined) {
      for (let i = 1; i < features.length; i++) out[features[i].name] = null;
    }
    if (!detected || s === null) return;
    const first = s.firstQuery ?? s.firstResponse;
    if (first !== null) {
      out.dns_query_name = first.qName;
      out.dns_query_type = first.qType;
      out.dns_query_type_str = first.qType === null ? null : dnsTypeName(first.qType);
    }
    // Header fields: of the first query or response, whether or not the rest of it could be read.
    const q = s.queryHeader, r = s.responseHeader;
    if (q !== null || r !== null) out.dns_recursion_desired = ((q ?? r)![2] & 0x01) !== 0;
    const counts = r ?? q;
    if (counts !== null) {
      // Those a snapshot length cut from the header are unknown.
      const have = counts[12];
      out.dns_answer_count = have >= 8 ? (counts[6] << 8) | counts[7] : null;
      out.dns_authority_count = have >= 10 ? (counts[8] << 8) | counts[9] : null;
      out.dns_additional_count = have >= 12 ? (counts[10] << 8) | counts[11] : null;
    }
    if (r !== null) {
      const rcode = (s.responseExtendedRcode << 4) | (r[3] & 0xf);
      out.dns_response_code = rcode;
      out.dns_response_code_str = dnsRcodeName(rcode);
      out.dns_recursion_available = (r[3] & 0x80) !== 0;
    }
    out.dns_min_ttl = s.minTtl;
    out.dns_max_ttl = s.maxTtl;
    out.dns_is_query = s.queries > 0;
    out.dns_is_response = s.responses > 0;
    out.dns_truncated = s.truncated;
    out.dns_queries = s.queries;
    out.dns_responses = s.responses;
    // None listed, though a response held answers that could not be read: unknown, not none.
    out.dns_answers = s.answers ?? (s.answersUnread ? null : []);
  },
};
