/**
 * `http2`: HTTP/1.x and cleartext HTTP/2 on any port, detected by content. HTTP/1: the first request line
 * (method, URI, version), Host, User-Agent and Content-Type, and the first status line. HTTP/2: the client
 * preface (prior knowledge) or an `Upgrade: h2c` exchange (on any request of the connection once either side
 * named h2c: a later request's head, or the 101, begins a segment), then frame headers by type across segments
 * (payloads are skipped, nothing is buffered beyond a frame header), stream ids, server push and multiplexing.
 * Bytes lost for good where a frame header lay (a segment the capture missed, which the receiver acknowledged;
 * one whose retransmission came behind more than 64 KiB; a hole larger than that; the end of the capture) lose
 * the frames they held: reading resumes at the next frame header that the two after it confirm. HTTP/2 over TLS
 * is encrypted and not seen. `http3_detected` is true for a UDP flow that starts with a QUIC v1/v2/draft long
 * header (HTTP/3 is QUIC's usual payload; the ALPN is not visible here).
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import {
  findHeadEnd,
  type Http1Head,
  Http2Connection,
  httpMethodLength,
  httpStartPrefix,
  isHttp2Preface,
  isHttpStatusStart,
  parseHttp1Head,
} from "../lib/protocols/http.ts";
import { notStreamStart, payloadSeq, TcpStreamBuffer } from "../lib/protocols/tcp_stream.ts";

/**
 * Longest message head collected across segments (a longer one is read as far as it goes): nginx's default
 * limit for a request head (four 8 KB buffers), half the stream buffer. A head is read whole however it was
 * split into segments up to this size.
 */
const HEAD_CAP = 32768;
/** Stream buffer cap (heads and out-of-order HTTP/2 data). */
const STREAM_CAP = 65536;
/** Chunks of client data after an `Upgrade: h2c` request searched for the preface. */
const PREFACE_WATCH = 8;
const PREFACE_LEN = 24;

const enum Dir {
  NEW = 0,
  HEAD = 1,
  H2 = 2,
  WATCH_PREFACE = 3,
  DONE = 4,
  /** The capture began inside this direction's stream (no SYN, first bytes not a head): a later segment that
   * starts a request or status line starts the direction over. */
  SEEK = 5,
}

/** Segments a flow checks, in SEEK, for the start of a head (the check allocates nothing). */
const SEEK_SEGMENTS = 1024;

/**
 * Per-flow state of `http2`.
 *
 * @example
 * ```ts
 * import { HttpState } from "./http.ts";
 * console.log(new HttpState().prefaceSeen); // false
 * ```
 */
export class HttpState {
  udp = false;
  /** Per direction parsing state (see {@linkcode dirState}). */
  st0: Dir = Dir.NEW;
  st1: Dir = Dir.NEW;
  /** Direction of the HTTP/2 client (preface or upgrade request sender), -1 unknown. */
  clientDir = -1;
  isn0 = 0;
  isn1 = 0;
  isnKnown = 0;
  /** The direction that sent a SYN-ACK (the server, also when the SYN was not captured); -1 when none was. */
  synAckDir = -1;
  stream0: TcpStreamBuffer | null = null;
  stream1: TcpStreamBuffer | null = null;
  request: Http1Head | null = null;
  response: Http1Head | null = null;
  upgradeH2c = false;
  watch = 0;
  /** Segments checked in SEEK, both directions. */
  seeks = 0;
  /** Directions (bits) that left SEEK at a head: one still unfinished at the end is not read (its later
   * segments may have come before it, and were not kept), as tshark shows none. */
  seeked = 0;
  /** Body bytes of the h2c upgrade request still to come before the client preface (by its Content-Length). */
  bodyLeft = 0;
  /**
   * An Upgrade header of either side named h2c: a later request of the connection may upgrade it (curl asks on
   * the next request when the first had a body, or when the server's response offered h2c), so a direction
   * whose first message was read looks on for the next head (SEEK) rather than stopping (see `headEnded`).
   */
  h2cOffered = false;
  /** Directions (bits) that stopped after a final head of theirs, which an h2c offer starts again. */
  headEnded = 0;
  /** The highest acknowledgement each direction's bytes got (bit set in `ackKnown`), given to its stream when
   * one is made: the acknowledgement that passes a missed first segment may come before the direction has a
   * stream. */
  ack0 = 0;
  ack1 = 0;
  ackKnown = 0;
  /**
   * Bytes of each direction's unfinished head already searched for its end: the next segment's search resumes
   * there, rather than from the head's start (a 32 KB head sent a byte at a time was searched 32,000 times).
   */
  headScanned0 = 0;
  headScanned1 = 0;
  prefaceSeen = false;
  h2: Http2Connection | null = null;
  quic = false;
  /** True once neither direction needs more work. */
  done = false;
}

/**
 * Bytes a direction's stream may span, the hole included, while its first bytes are missing before it is given
 * up: room for a first segment retransmitted behind an initial window of later ones (IW10 of 1448 bytes spans
 * 14.5 KB, IW16 23 KB), well under STREAM_CAP.
 */
const GAP_BYTES = 24576;

function dirState(s: HttpState, dir: number): Dir {
  return dir === 0 ? s.st0 : s.st1;
}

function setDirState(s: HttpState, dir: number, v: Dir): void {
  if (dir === 0) s.st0 = v;
  else s.st1 = v;
  setHeadScanned(s, dir, 0);
}

/** Sets how much of direction `dir`'s unfinished head was searched (see `HttpState.headScanned0`). */
function setHeadScanned(s: HttpState, dir: number, n: number): void {
  if (dir === 0) s.headScanned0 = n;
  else s.headScanned1 = n;
}

function setStream(s: HttpState, dir: number, st: TcpStreamBuffer | null): void {
  if (dir === 0) s.stream0 = st;
  else s.stream1 = st;
}

const f = (name: string, type: "int" | "str" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("http2_detected", "bool", "Cleartext HTTP/2 (h2c) frames or the client preface were seen."),
  f(
    "http3_detected",
    "bool",
    "UDP flow whose first datagram either way is a QUIC v1/v2/draft long header (the initiator's in a " +
      "datagram of 1200 bytes or more, as a client's Initial is) (HTTP/3 transport); false for every other flow.",
  ),
  f("http2_preface_seen", "bool", "The HTTP/2 client connection preface was seen."),
  f(
    "http2_frame_count",
    "int",
    "HTTP/2 frames seen, both directions. Where bytes holding a frame header were lost (not captured, or " +
      "retransmitted behind more than 64 KiB), the frames they held are not counted, and counting resumes at the " +
      "next header that the two after it confirm, in bytes captured in a row (frames of at most 16 KiB, streams " +
      "at most 200 past the highest seen until 17 KB pass without one; at the end of the capture, a header whose " +
      "frames end at its last byte): where a snapshot length cuts every segment short, counting ends at the " +
      "first header it cut. A segment far ahead is jumped to only when the receiver acknowledged the bytes " +
      "before it.",
  ),
  f("http2_data_frames", "int", "HTTP/2 DATA frames."),
  f("http2_headers_frames", "int", "HTTP/2 HEADERS frames."),
  f("http2_settings_frames", "int", "HTTP/2 SETTINGS frames."),
  f("http2_push_promise_frames", "int", "HTTP/2 PUSH_PROMISE frames."),
  f("http2_goaway_frames", "int", "HTTP/2 GOAWAY frames."),
  f("http2_window_update_frames", "int", "HTTP/2 WINDOW_UPDATE frames."),
  f(
    "http2_streams_estimate",
    "int",
    "Distinct HTTP/2 streams opened (new HEADERS/DATA stream ids and promised ids).",
  ),
  f("http2_server_push", "bool", "The server sent PUSH_PROMISE."),
  f(
    "http2_multiplexed",
    "bool",
    "Two or more HTTP/2 streams were open (or half-closed) at the same time; a stream a PUSH_PROMISE reserves " +
      "opens with its HEADERS.",
  ),
  f(
    "http_version",
    "str",
    '"HTTP/1.0", "HTTP/1.1" from the request (else, when no request was seen, status) line, or "HTTP/2" for h2c; ' +
      "null when the request line was cut before its version (also by the head's 32 KB: a target longer than " +
      "that keeps its method only).",
  ),
  f("http_method", "str", "Method of the first HTTP/1 request."),
  f(
    "http_host",
    "str",
    "Host header of the first HTTP/1 request (folded lines joined by a space; a head that came in several " +
      "segments is read up to 32 KB, nginx's limit, and a header past that is not seen).",
  ),
  f("http_user_agent", "str", "User-Agent header of the first HTTP/1 request (read as http_host is)."),
  f(
    "http_status_code",
    "int",
    "Status code of the first final HTTP/1 response: interim ones (100 Continue, 103 Early Hints) are passed " +
      "over, and given only when no final one came; 101 Switching Protocols is final.",
  ),
  f(
    "http_uri",
    "str",
    "Request target of the first HTTP/1 request (whitespace around it, which servers take, left out).",
  ),
  f(
    "http_content_type",
    "str",
    "Content-Type of the HTTP/1 response of http_status_code (of the first request when that response's head, " +
      "read whole, has none; null when a snapshot length cut it before one); HTTP/2 headers are not read.",
  ),
];

/** A segment's payload `b[o, o + n)` begins a request or status line (after empty lines). */
function startsHead(b: Uint8Array, o: number, n: number): boolean {
  let k = o;
  while (k < o + n && (b[k] === 0x0d || b[k] === 0x0a)) k++;
  return k < o + n && (httpMethodLength(b, k, o + n) > 0 || isHttpStatusStart(b, k, o + n));
}

/**
 * A QUIC v1, v2 or draft long header at `b[o]` (`n` bytes captured) with connection ID lengths of at most 20; from
 * the initiator, in a datagram of 1200 bytes or more (`len`): a client's first is an Initial, padded so (RFC 9000
 * section 14.1). A version is 1, 0x6b3343cf or a draft's, so that DNS (a query's flags and counts there) and
 * NTP (0xe3 and zeros, version 0) are not taken. An RTP packet (first byte 0x80-0xbf) passes only with a payload
 * type of 0 and sequence number 0 and a timestamp of 1 in its first bytes, which is rare.
 */
function isQuicLong(b: Uint8Array, o: number, n: number, len: number, fromInitiator: boolean): boolean {
  // The long header form bit; the fixed bit may be 0 (RFC 9287's grease_quic_bit, which ngtcp2 uses), as the
  // quic group takes it.
  if (n < 7 || (b[o] & 0x80) === 0) return false;
  const v = ((b[o + 1] << 24) | (b[o + 2] << 16) | (b[o + 3] << 8) | b[o + 4]) >>> 0;
  if (v !== 1 && v !== 0x6b3343cf && ((v >>> 8) !== 0xff0000 || (v & 0xff) === 0)) return false;
  const dcil = b[o + 5];
  if (dcil > 20 || 7 + dcil > n || b[o + 6 + dcil] > 20) return false;
  return !fromInitiator || len >= 1200;
}

/** The bytes `b[o, o + n)` (fewer than 9) can begin what {@linkcode looksLikeSettings} accepts. */
function settingsPrefix(b: Uint8Array, o: number, n: number): boolean {
  if (n >= 3) {
    const len = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
    if (len % 6 !== 0 || len > 36 * 6) return false;
  }
  if (n >= 4 && b[o + 3] !== 4) return false;
  for (let i = 4; i < n && i < 9; i++) if (b[o + i] !== 0) return false;
  return n > 0;
}

/** First 9 bytes form an empty-flag SETTINGS frame header on stream 0 (a server's first frame). */
function looksLikeSettings(b: Uint8Array, o: number, n: number): boolean {
  if (n < 9) return false;
  const len = (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
  return b[o + 3] === 4 && b[o + 4] === 0 && len % 6 === 0 && len <= 36 * 6 &&
    (b[o + 5] | b[o + 6] | b[o + 7] | b[o + 8]) === 0;
}

function checkDone(s: HttpState): void {
  if (s.st0 === Dir.DONE && s.st1 === Dir.DONE) {
    s.done = true;
    s.stream0 = null;
    s.stream1 = null;
  }
}

function setHead(s: HttpState, h: Http1Head): void {
  if (h.isRequest) {
    if (s.request === null) s.request = h;
  } else if (s.response === null || isInterim(s.response)) s.response = h;
}

/** An interim response (100 Continue, 103 Early Hints...): the final one follows on the same connection. 101
 * Switching Protocols is the last HTTP/1 response there. */
function isInterim(h: Http1Head): boolean {
  const code = h.statusCode;
  return code !== null && code >= 100 && code < 200 && code !== 101;
}

function ensureH2(s: HttpState): Http2Connection {
  if (s.h2 === null) s.h2 = new Http2Connection();
  return s.h2;
}

/**
 * Whether `dir` may be the server, whose SETTINGS may come before the client's preface (nghttpd sends them at
 * once): the SYN-ACK's sender, or either side when no SYN-ACK was captured (a client's first bytes are its
 * preface, never a bare SETTINGS frame).
 */
function mayBeServer(s: HttpState, dir: 0 | 1): boolean {
  return s.synAckDir < 0 || s.synAckDir === dir;
}

/** Decides what a direction's first bytes are. Returns the new state. */
function classify(s: HttpState, dir: 0 | 1, b: Uint8Array, o: number, n: number): Dir {
  if (n >= PREFACE_LEN && isHttp2Preface(b, o, o + n)) {
    s.prefaceSeen = true;
    s.clientDir = dir;
    ensureH2(s).startSeen();
    return Dir.H2;
  }
  if (httpMethodLength(b, o, o + n) > 0 || isHttpStatusStart(b, o, o + n)) return Dir.HEAD;
  // The other direction already began HTTP/2 (a preface, or the server's SETTINGS when the preface was not
  // captured): this one is HTTP/2 too.
  if (s.h2 !== null) return Dir.H2;
  if (mayBeServer(s, dir) && looksLikeSettings(b, o, n)) {
    s.clientDir = dir ^ 1;
    ensureH2(s);
    return Dir.H2;
  }
  return Dir.DONE;
}

function stream(s: HttpState, dir: 0 | 1): TcpStreamBuffer {
  let st = dir === 0 ? s.stream0 : s.stream1;
  if (st === null) {
    st = new TcpStreamBuffer(STREAM_CAP);
    if (s.isnKnown & (1 << dir)) st.setInitialSeq(((dir === 0 ? s.isn0 : s.isn1) + 1) >>> 0);
    if (s.ackKnown & (1 << dir)) st.noteAck(dir === 0 ? s.ack0 : s.ack1);
    setStream(s, dir, st);
  }
  return st;
}

/**
 * A gap inside an HTTP/2 frame's payload, which the parser passes over unread (DATA, HEADERS...): passed over at
 * once, so that the frames after it are read now. Held until its retransmission instead, the bytes after it
 * could pass STREAM_CAP (more than 64 KB in flight, a loss recovered late): they were dropped, and the counts
 * ended at the gap for the rest of the connection. A gap over a frame header still waits for its bytes.
 */
function skipGapInPayload(s: HttpState, dir: 0 | 1, st: TcpStreamBuffer): void {
  const h2 = s.h2!;
  const role: 0 | 1 = dir === s.clientDir ? 0 : 1;
  for (;;) {
    const k = h2.skippable(role);
    if (k === 0 || st.available >= k) return;
    st.skip(k);
    h2.skip(role, k);
    const a = st.available;
    if (a > 0) st.consume(process(s, dir, st.data, st.offset, a, false));
    if (dirState(s, dir) !== Dir.H2 || !st.hasGap) return;
  }
}

/**
 * Gives up on a gap over a frame header that will not be filled: the receiver acknowledged its bytes (the
 * capture missed them: not captured, cut by the snapshot length), or (`full`) more than STREAM_CAP would wait
 * behind it, and bytes past the cap would be dropped, or the capture ended. Waiting for it ended the frame counts
 * for the rest of the connection (430 frames of 1,310 in a 20 MB download where one header's retransmission
 * came 71 KB late); the frames resume at the next header the one after it confirms (`Http2Connection.resync`),
 * and only those in the gap are lost.
 */
function resyncPastLoss(s: HttpState, dir: 0 | 1, st: TcpStreamBuffer, full: boolean): void {
  const h2 = s.h2!;
  const role: 0 | 1 = dir === s.clientDir ? 0 : 1;
  // Given up for `full`: the first gap (what the cap needs); then each the receiver acknowledged.
  let force = full;
  while (
    dirState(s, dir) === Dir.H2 && st.hasGap && h2.skippable(role) === 0 && (force || st.gapMissed)
  ) {
    force = false;
    st.skipGap();
    h2.resync(role);
    const a = st.available;
    if (a > 0) st.consume(process(s, dir, st.data, st.offset, a, false));
    skipGapInPayload(s, dir, st);
  }
}

/**
 * The direction's first bytes were missed by the capture, not lost on the way: the receiver acknowledged them,
 * and they will not come again. It is read on from what came after, as a capture that began there is (it gave
 * up after 24 KiB held: the other requests of a keep-alive connection, an HTTP/2 side's frames, were lost): its
 * first segment held that begins a head, or, where the other side is HTTP/2, the next confirmed frame header.
 */
function startMissed(s: HttpState, dir: 0 | 1, st: TcpStreamBuffer): void {
  st.skipGap();
  if (s.h2 !== null && s.clientDir >= 0) {
    setDirState(s, dir, Dir.H2);
    s.h2.resync(dir === s.clientDir ? 0 : 1);
  } else if (st.available === 0 || !startsHead(st.data, st.offset, st.available)) {
    // Look on at later segments' starts, as a capture without the SYN does.
    if (s.seeks >= SEEK_SEGMENTS) setDirState(s, dir, Dir.DONE);
    else setDirState(s, dir, Dir.SEEK);
    setStream(s, dir, null);
    checkDone(s);
    return;
  }
  s.seeked |= 1 << dir;
  readHeld(s, dir, st);
  releaseIfDone(s, dir);
}

/**
 * Reads the direction's bytes held in order; an HTTP/2 direction then passes over a gap inside a frame's payload,
 * or gives up one over a header that will not be filled. Returns how many bytes were held to read.
 */
function readHeld(s: HttpState, dir: 0 | 1, st: TcpStreamBuffer): number {
  const a = st.available;
  if (a > 0) st.consume(process(s, dir, st.data, st.offset, a, false));
  if (dirState(s, dir) === Dir.H2 && st.hasGap) {
    skipGapInPayload(s, dir, st);
    resyncPastLoss(s, dir, st, false);
  }
  return a;
}

/** A direction done lets its stream go, and the flow is done when both are. */
function releaseIfDone(s: HttpState, dir: number): void {
  if (dirState(s, dir) === Dir.DONE) {
    setStream(s, dir, null);
    checkDone(s);
  }
}

/** An Upgrade header named h2c: a direction that stopped after its first head looks on (see `h2cOffered`). */
function offerH2c(s: HttpState): void {
  s.h2cOffered = true;
  for (let d = 0; d < 2; d++) {
    if ((s.headEnded & (1 << d)) !== 0 && dirState(s, d) === Dir.DONE) {
      setDirState(s, d, Dir.SEEK);
      setStream(s, d, null);
    }
  }
  s.headEnded = 0;
  s.done = false;
}

/** Processes the contiguous bytes `b[o, o + n)` of direction `dir`; returns how many were consumed. */
function process(s: HttpState, dir: 0 | 1, b: Uint8Array, o: number, n: number, final: boolean): number {
  let used = 0;
  while (used < n) {
    const p = o + used, left = n - used;
    switch (dirState(s, dir)) {
      case Dir.NEW:
        // Empty lines before a request line are ignored (RFC 9112 section 2.2).
        if (b[p] === 0x0d || b[p] === 0x0a) {
          used++;
          break;
        }
        // A very short start that may still become a request, status line or preface (or, from the responder,
        // a SETTINGS frame header): wait for more.
        if (left < PREFACE_LEN && !final && httpStartPrefix(b, p, p + left)) return used;
        if (dir === 1 && left < 9 && !final && s.h2 === null && settingsPrefix(b, p, left)) return used;
        setDirState(s, dir, classify(s, dir, b, p, left));
        if (
          dirState(s, dir) === Dir.H2 && s.prefaceSeen && s.clientDir === dir &&
          isHttp2Preface(b, p, p + left)
        ) {
          used += PREFACE_LEN;
        }
        break;
      case Dir.HEAD: {
        // The search resumes 2 bytes back: the blank line that ends a head spans up to 3 bytes.
        const scanned = dir === 0 ? s.headScanned0 : s.headScanned1;
        const he = findHeadEnd(b, Math.max(p, p + scanned - 2), p + left);
        if (he < 0 && left < HEAD_CAP && !final) {
          setHeadScanned(s, dir, left);
          return used; // wait for more
        }
        setHeadScanned(s, dir, 0);
        const h = parseHttp1Head(b, p, he < 0 ? p + left : he);
        if (h === null) {
          setDirState(s, dir, Dir.DONE);
          return n;
        }
        // A head read up to HEAD_CAP without its end is as whole as this group reads heads: the capture did not
        // cut it (see http_content_type).
        if (he < 0 && left >= HEAD_CAP) h.complete = true;
        setHead(s, h);
        const h2c = h.upgrade !== null && /\bh2c\b/i.test(h.upgrade);
        if (h.isRequest && h2c) {
          s.upgradeH2c = true;
          s.clientDir = dir;
        }
        if (h2c && !s.h2cOffered) offerH2c(s);
        if (
          !h.isRequest && h.statusCode === 101 && he >= 0 &&
          (s.upgradeH2c || (h.upgrade !== null && /\bh2c\b/i.test(h.upgrade)))
        ) {
          if (s.clientDir < 0) s.clientDir = dir ^ 1;
          ensureH2(s).upgraded();
          setDirState(s, dir, Dir.H2);
          used = he - o;
          break;
        }
        if (!h.isRequest && he >= 0 && isInterim(h)) {
          // An interim response (100 Continue to a request's Expect, 103 Early Hints): the final one, which
          // the columns describe, follows (also the 101 of an h2c upgrade).
          used = he - o;
          break;
        }
        if (s.upgradeH2c && h.isRequest && he >= 0) {
          // The preface follows the request (and its body, if any) once the server switched.
          setDirState(s, dir, Dir.WATCH_PREFACE);
          s.bodyLeft = h.contentLength ?? 0;
          used = he - o;
          break;
        }
        // Its head read, the direction is done, unless h2c was offered: the connection may upgrade on a later
        // request, whose head (or 101) begins a later segment.
        if (he >= 0 && s.h2cOffered && s.seeks < SEEK_SEGMENTS) {
          setDirState(s, dir, Dir.SEEK);
          return n;
        }
        if (he >= 0) s.headEnded |= 1 << dir;
        setDirState(s, dir, Dir.DONE);
        return n;
      }
      case Dir.WATCH_PREFACE:
        if (s.bodyLeft > 0) {
          // The request's body, by its Content-Length: the preface comes right after it.
          const k = Math.min(left, s.bodyLeft);
          s.bodyLeft -= k;
          used += k;
          break;
        }
        if (left < PREFACE_LEN && !final && httpStartPrefix(b, p, p + left) && b[p] === 0x50) return used;
        // The upgrade was refused: the client's next request, which may ask again.
        if (httpMethodLength(b, p, p + left) > 0 && !isHttp2Preface(b, p, p + left)) {
          setDirState(s, dir, Dir.HEAD);
          break;
        }
        if (left >= PREFACE_LEN && isHttp2Preface(b, p, p + left)) {
          s.prefaceSeen = true;
          ensureH2(s);
          setDirState(s, dir, Dir.H2);
          used += PREFACE_LEN;
          break;
        }
        if (++s.watch >= PREFACE_WATCH) setDirState(s, dir, Dir.DONE);
        return n;
      case Dir.H2: {
        const h2 = s.h2!;
        const role: 0 | 1 = dir === s.clientDir ? 0 : 1;
        const took = h2.feed(role, b, p, p + left, final);
        if (h2.failed(role)) {
          setDirState(s, dir, Dir.DONE);
          return n;
        }
        return used + took;
      }
      default:
        return n;
    }
  }
  return used;
}

/**
 * The `http2` group (HTTP/1 and HTTP/2).
 *
 * @example
 * ```ts
 * import { httpExtractor } from "./http.ts";
 * console.log(httpExtractor.features[0].name); // http2_detected
 * ```
 */
export const httpExtractor: FeatureExtractor<HttpState | null> = {
  name: "http2",
  features,
  init: (flow: FlowState): HttpState | null => {
    if (flow.protocol !== 6 && flow.protocol !== 17) return null;
    const s = new HttpState();
    s.udp = flow.protocol === 17;
    return s;
  },
  update(s: HttpState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || s.done || p.isFragment) return;
    const n = p.payloadCapLen;
    if (s.udp) {
      if (n === 0 || p.proto !== 17) return;
      const b = p.buf, o = p.payloadOff;
      if (dirState(s, dir) === Dir.NEW) {
        setDirState(s, dir, Dir.DONE);
        if (isQuicLong(b, o, n, p.payloadLen, dir === 0)) s.quic = true;
        if (httpMethodLength(b, o, o + n) > 0 || isHttpStatusStart(b, o, o + n)) {
          const h = parseHttp1Head(b, o, o + n);
          if (h !== null) setHead(s, h);
        }
      }
      if (s.st0 === Dir.DONE && s.st1 === Dir.DONE) s.done = true;
      return;
    }
    if (p.tcpHdrLen === 0) return;
    if (p.tcpFlags & TCP.SYN) {
      if (dir === 0) s.isn0 = p.tcpSeq;
      else s.isn1 = p.tcpSeq;
      s.isnKnown |= 1 << dir;
      if (p.tcpFlags & TCP.ACK) s.synAckDir = dir;
    }
    if (p.tcpFlags & TCP.ACK) {
      const other = dir === 0 ? s.stream1 : s.stream0;
      const od = dir ^ 1, last = od === 0 ? s.ack0 : s.ack1;
      if ((s.ackKnown & (1 << od)) === 0 || ((p.tcpAck - last) | 0) > 0) {
        if (od === 0) s.ack0 = p.tcpAck;
        else s.ack1 = p.tcpAck;
        s.ackKnown |= 1 << od;
      }
      if (other !== null) {
        other.noteAck(p.tcpAck);
        if (dirState(s, dir ^ 1) === Dir.NEW && other.available === 0 && other.gapMissed) {
          startMissed(s, (dir ^ 1) as 0 | 1, other);
        }
      }
    }
    if (n === 0 || dirState(s, dir) === Dir.DONE) return;
    const b = p.buf, o = p.payloadOff, seq = payloadSeq(p.tcpSeq, p.tcpFlags);
    if (dirState(s, dir) === Dir.SEEK) {
      if (!startsHead(b, o, n)) {
        if (++s.seeks >= SEEK_SEGMENTS) {
          setDirState(s, dir, Dir.DONE);
          checkDone(s);
        }
        return;
      }
      setDirState(s, dir, Dir.NEW);
      s.seeked |= 1 << dir;
      // The stream starts over at this segment (the SYN's number, when known, is far behind it).
      const st = new TcpStreamBuffer(STREAM_CAP);
      st.setInitialSeq(seq);
      setStream(s, dir, st);
    }
    if (
      dirState(s, dir) === Dir.NEW && (dir === 0 ? s.stream0 : s.stream1) === null &&
      !notStreamStart(s.isnKnown, dir, dir === 0 ? s.isn0 : s.isn1, seq)
    ) {
      // First payload: decide without allocating for flows that are not HTTP. Empty lines before a request
      // line are skipped here too (see process).
      let k = o;
      while (k < o + n && (b[k] === 0x0d || b[k] === 0x0a)) k++;
      const m = o + n - k;
      const guess = m === 0 || n >= PREFACE_LEN && isHttp2Preface(b, o, o + n) ||
        httpMethodLength(b, k, k + m) > 0 ||
        isHttpStatusStart(b, k, k + m) || s.h2 !== null ||
        (mayBeServer(s, dir) && (looksLikeSettings(b, o, n) || (n < 9 && settingsPrefix(b, o, n)))) ||
        (m < PREFACE_LEN && httpStartPrefix(b, k, k + m));
      if (!guess) {
        // Without a SYN the capture may have begun inside a message (a body): a later head is still read,
        // as tshark reads it. After a SYN, the stream's first bytes are not HTTP.
        if ((s.isnKnown & (1 << dir)) === 0 && s.seeks < SEEK_SEGMENTS) {
          setDirState(s, dir, Dir.SEEK);
          return;
        }
        setDirState(s, dir, Dir.DONE);
        checkDone(s);
        return;
      }
    }
    const st = stream(s, dir);
    if (st.isNext(seq)) {
      // In order with nothing buffered: work on the packet's bytes, keep only an unfinished remainder.
      const used = process(s, dir, b, o, n, false);
      st.advanceDirect(seq, used);
      if (used < n && dirState(s, dir) !== Dir.DONE) {
        st.push((seq + used) >>> 0, b, o + used, n - used);
      }
    } else {
      // Bytes past the cap would be dropped while a lost frame header is waited for: give it up first; a hole
      // larger than the cap (a capture's drops), with nothing held before the segment, is passed over to it.
      if (dirState(s, dir) === Dir.H2 && st.wouldDrop(seq, n)) {
        resyncPastLoss(s, dir, st, true);
        // Only where the receiver's acknowledgements passed the bytes held (or none were captured to tell): a
        // stray segment far ahead, which the receiver never took, is not jumped to.
        if (dirState(s, dir) === Dir.H2 && st.wouldDrop(seq, n) && (!st.ackKnown || st.ackPassesHeld)) {
          st.skip(st.offsetOf(seq) - st.consumedBytes);
          s.h2!.resync(dir === s.clientDir ? 0 : 1);
        }
      }
      st.push(seq, b, o, n);
      const a = readHeld(s, dir, st);
      if (a === 0 && dirState(s, dir) === Dir.NEW && st.gapMissed) startMissed(s, dir, st);
      else if (a === 0 && dirState(s, dir) === Dir.NEW && st.buffered >= GAP_BYTES && !st.gapAwaited) {
        // Its first bytes were lost before the capture saw them: it cannot be classified, and would otherwise
        // be buffered up to STREAM_CAP for nothing. (Not when its receiver waits for them too: they will come,
        // and were held back on purpose, to hide the request.)
        setDirState(s, dir, Dir.DONE);
      }
    }
    releaseIfDone(s, dir);
  },
  finish(s: HttpState | null, _flow: FlowState, out: FlowRecord): void {
    if (s !== null && !s.udp) {
      // A head still waiting for its end, or a start too short to tell yet (GET / HTTP/1.0 and an empty line
      // are 18 bytes): read what arrived.
      for (let d = 0; d < 2; d++) {
        const st = d === 0 ? s.stream0 : s.stream1;
        const state = dirState(s, d);
        if (
          st !== null && st.available > 0 && (state === Dir.HEAD || state === Dir.NEW) &&
          (s.seeked & (1 << d)) === 0
        ) {
          process(s, d as 0 | 1, st.data, st.offset, st.available, true);
        }
        // HTTP/2 frames held behind gaps the capture never filled (no acknowledgement told they were missed), and
        // those held after a resync for want of the frames that would confirm them: the capture ended.
        for (let k = 0; st !== null && k < 256 && st.hasGap && dirState(s, d) === Dir.H2; k++) {
          skipGapInPayload(s, d as 0 | 1, st);
          resyncPastLoss(s, d as 0 | 1, st, true);
        }
        if (st !== null && st.available > 0 && dirState(s, d) === Dir.H2) {
          process(s, d as 0 | 1, st.data, st.offset, st.available, true);
        }
      }
    }
    const h2 = s?.h2 ?? null;
    // Frames without a preface are HTTP/2 when the capture missed the client's preface; not when it holds the
    // client's HTTP/1 request instead, unanswered in HTTP/1 (no 101): an HTTP/2-only server refusing it with
    // SETTINGS and GOAWAY. The exchange is HTTP/1.1, as tshark reads it.
    const refusedHttp1 = s !== null && !s.prefaceSeen && s.request !== null && s.response === null;
    const h2Detected = s !== null && (s.prefaceSeen || (h2 !== null && h2.frames > 0 && !refusedHttp1));
    out.http2_detected = h2Detected;
    // Pipeline records start with every column null; a record made by hand gets them here.
    if (out.http_content_type === undefined) {
      for (let i = 1; i < features.length; i++) out[features[i].name] = null;
    }
    // Neither TCP nor UDP (the group keeps no state): surely no HTTP/3 and no HTTP/2 preface.
    out.http3_detected = s !== null && s.udp && s.quic;
    out.http2_preface_seen = s !== null && s.prefaceSeen;
    if (s === null) return;
    if (h2Detected && h2 !== null) {
      out.http2_frame_count = h2.frames;
      out.http2_data_frames = h2.data;
      out.http2_headers_frames = h2.headers;
      out.http2_settings_frames = h2.settings;
      out.http2_push_promise_frames = h2.pushPromise;
      out.http2_goaway_frames = h2.goaway;
      out.http2_window_update_frames = h2.windowUpdate;
      out.http2_streams_estimate = h2.streamsOpened;
      out.http2_server_push = h2.pushPromise > 0;
      out.http2_multiplexed = h2.multiplexed;
    }
    const rq = s.request, rs = s.response;
    // The status line's version only without a request: a request line cut before its version (a snapshot
    // length) leaves it unknown, the server's (HTTP/1.0 from Python's) being no answer to it.
    out.http_version = h2Detected ? "HTTP/2" : rq !== null ? rq.version : rs?.version ?? null;
    if (rq !== null) {
      out.http_method = rq.method;
      out.http_host = rq.host;
      out.http_user_agent = rq.userAgent;
      out.http_uri = rq.uri;
    }
    if (rs !== null) out.http_status_code = rs.statusCode;
    // A response head cut short (the snapshot length) may hold its Content-Type in what was not captured: the
    // request's stands in only for a head read whole without one.
    out.http_content_type = rs !== null && !rs.complete
      ? rs.contentType
      : rs?.contentType ?? rq?.contentType ?? null;
  },
};
