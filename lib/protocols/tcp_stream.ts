/**
 * Bounded reassembly of one direction of a TCP connection.
 *
 * Segments may arrive in any order. Where copies of a byte differ (a retransmission with other data, overlapping
 * segments: traffic crafted to show a monitor other bytes than the receiver reads), the one kept is the one a
 * Linux receiver delivers: bytes of the contiguous prefix are never replaced; among out-of-order bytes, those of
 * the segment that starts first win, and of two that start at the same byte, the later one when it is at least as
 * long (Linux's out-of-order queue keeps segments that way). Out-of-order bytes are kept until the gap before them
 * fills. The contiguous prefix is exposed to a consumer, which consumes what it has used. Memory is bounded: no
 * more than `maxBytes` bytes past the first unconsumed byte are ever stored, so a direction that never yields a
 * parsable message cannot grow; and it is the bytes held that take memory, not where they lie (each out-of-order
 * range has storage of its own), so a byte far beyond a hole costs a byte, not the hole.
 *
 * Sequence numbers are 32-bit and wrap; all positions are computed as signed 32-bit differences.
 *
 * @module
 */

/**
 * Default cap on buffered bytes per direction (64 KiB).
 *
 * @example
 * ```ts
 * import { DEFAULT_STREAM_CAP, TcpStreamBuffer } from "./tcp_stream.ts";
 * console.log(new TcpStreamBuffer().maxBytes === DEFAULT_STREAM_CAP); // true
 * ```
 */
export const DEFAULT_STREAM_CAP = 65536;

/**
 * The sequence number of a TCP segment's first payload byte: a SYN takes the segment's own number, so data it
 * carries (TCP Fast Open) starts one after it.
 *
 * @example
 * ```ts
 * import { payloadSeq } from "./tcp_stream.ts";
 * console.log(payloadSeq(1000, 0x02), payloadSeq(1000, 0x18)); // 1001 1000
 * ```
 */
export function payloadSeq(seq: number, flags: number): number {
  return (flags & 0x02) !== 0 ? (seq + 1) >>> 0 : seq;
}

/**
 * Whether a direction's payload at `seq` is known not to be its first bytes: its SYN was seen (bit `dir` of
 * `isnKnown`, sequence number `isn`) and the payload starts elsewhere (an out-of-order segment). A test on a
 * direction's first bytes must not be made on such a segment; without the SYN, the first segment seen is taken
 * as the start.
 *
 * @example
 * ```ts
 * import { notStreamStart } from "./tcp_stream.ts";
 * console.log(notStreamStart(1, 0, 1000, 1001), notStreamStart(1, 0, 1000, 1021)); // false true
 * ```
 */
export function notStreamStart(isnKnown: number, dir: number, isn: number, seq: number): boolean {
  return (isnKnown & (1 << dir)) !== 0 && seq !== ((isn + 1) >>> 0);
}

/**
 * Most separate out-of-order ranges kept; further disjoint segments are dropped. A receiver keeps more (a
 * ClientHello sent as every other 4-byte segment first leaves 40 holes, and Linux reads it whole): the bound
 * keeps the work per segment (a walk of the ranges: 1,024 made crafted traffic five times slower) bounded.
 */
const MAX_RANGES = 256;

/**
 * How long a gap stays known missed before it is taken as lost for good (see `TcpStreamBuffer.gapMissedSettled`):
 * a second of capture time, or this many packets of the flow, whichever comes first. A capture that stamps a
 * segment after its acknowledgement (capturing on several queues or interfaces, merged captures) brings it
 * within a few packets (4 were not enough: the mend32 review's reorders reached 10), and waiting longer than it
 * must costs too: what the other direction reads meanwhile comes first (DNS's first 32 messages), and the
 * segments held meanwhile (SSH keeps where 256 start).
 */
const MISSED_SETTLE_SECONDS = 1;
const MISSED_SETTLE_PACKETS = 16;

/** Cuts held at once (see `TcpStreamBuffer.noteCut`). */
const MAX_CUTS = 16;

/** Initial storage size; grows by doubling up to the cap. */
const INITIAL_STORE = 256;

/** A store larger than this is let go when the stream has nothing left to hold (see `rebaseWhenEmpty`). */
const KEEP_STORE = 4096;

/**
 * One direction's byte stream.
 *
 * Positions count from sequence number `base`: `store[i]` holds the contiguous byte at position `i`. `head` is
 * the first unconsumed byte, `tail` one past the contiguous prefix; out-of-order ranges lie beyond `tail` and are
 * recorded as flat `[start, end)` pairs, each with its bytes in its own array of `chunks`, whose first element
 * is the byte at position `origins[k]` (an array may have room before and after its range, to grow either way).
 *
 * @example
 * ```ts
 * import { TcpStreamBuffer } from "./tcp_stream.ts";
 * const s = new TcpStreamBuffer(1024);
 * s.setInitialSeq(1000);
 * s.push(1003, new Uint8Array([4, 5]), 0, 2); // out of order: kept
 * s.push(1000, new Uint8Array([1, 2, 3]), 0, 3); // fills the gap
 * console.log(s.available); // 5
 * console.log(s.data[s.offset]); // 1
 * s.consume(5);
 * console.log(s.nextSeq); // 1005
 * ```
 */
export class TcpStreamBuffer {
  /** Cap on bytes held past the first unconsumed one. */
  readonly maxBytes: number;
  /** Bytes refused because they lay beyond the cap or had no room for another out-of-order range. */
  droppedBytes = 0;
  /** Bytes declared lost by {@linkcode TcpStreamBuffer.skipGap}. */
  skippedBytes = 0;
  /** Bytes consumed so far (stream position of the first unconsumed byte). */
  consumedBytes = 0;
  /**
   * Bytes the consumer took but still holds on its side (e.g. the start of an unfinished text line): they count
   * against the cap and in {@linkcode TcpStreamBuffer.buffered} as if they were still stored here, so the stream
   * behaves the same whether the consumer keeps them or leaves them unconsumed.
   */
  held = 0;

  private store: Uint8Array = EMPTY;
  private base = 0;
  private head = 0;
  private tail = 0;
  /** Out-of-order `[start, end)` pairs; the shared empty list until the first one (never written to). */
  private ranges: number[] = NO_RANGES;
  /** The bytes of each out-of-order range (the `k`th of `ranges[2k] .. ranges[2k + 1]` from its index 0), in
   * arrays that may be longer (room to grow at their end). */
  private chunks: Uint8Array[] = NO_CHUNKS;
  private origins: number[] = NO_RANGES;
  private started = false;
  /** Segments a snapshot length cut: [captured end, sent end) pairs (see `noteCut`). */
  private cuts: number[] | null = null;
  /** The peer's highest acknowledgement number, once one was seen (`ackSeen`). */
  private ack = 0;
  private ackSeen = false;
  /** When (capture time, seconds) the gap starting at sequence number `missedSeq` was first known missed; NaN
   * while none is. */
  private missedSince = NaN;
  private missedSeq = 0;
  /** Calls of `gapMissedSettled` since then. */
  private missedCalls = 0;

  /** Creates an empty stream that buffers at most `maxBytes` bytes. */
  constructor(maxBytes: number = DEFAULT_STREAM_CAP) {
    this.maxBytes = Math.max(16, maxBytes | 0);
  }

  /** True once the initial sequence number is known (from a SYN or the first segment). */
  get initialized(): boolean {
    return this.started;
  }

  /** Sequence number of the next byte expected after the contiguous prefix. */
  get nextSeq(): number {
    return (this.base + this.tail) >>> 0;
  }

  /** Number of contiguous bytes ready for the consumer. */
  get available(): number {
    return this.tail - this.head;
  }

  /** Backing array of the contiguous prefix: `data[offset .. offset + available)`. Valid until the next call. */
  get data(): Uint8Array {
    return this.store;
  }

  /** Offset of the first unconsumed byte in {@linkcode TcpStreamBuffer.data}. */
  get offset(): number {
    return this.head;
  }

  /** Bytes from the first unconsumed one to the last one held (contiguous, out of order, and the holes
   * between). */
  get buffered(): number {
    const n = this.ranges.length;
    return (n > 0 ? this.ranges[n - 1] : this.tail) - this.head + this.held;
  }

  /** Bytes of storage currently allocated: the contiguous prefix's and the out-of-order ranges' (at most about
   * two and a quarter times {@linkcode TcpStreamBuffer.maxBytes}, room to grow included: the store's, and a
   * quarter more than the ranges hold). */
  get capacity(): number {
    let n = this.store.length;
    for (const c of this.chunks) n += c.length;
    return n;
  }

  /** True when out-of-order bytes wait for a gap to fill. */
  get hasGap(): boolean {
    return this.ranges.length > 0;
  }

  /**
   * The out-of-order bytes just after the first gap, as a view (valid until the stream changes); null without a
   * gap. They begin with the first byte of a segment after the gap: where a consumer can try to go on when the
   * gap will not fill (see {@linkcode TcpStreamBuffer.skipGap}).
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(1000);
   * s.push(1010, new Uint8Array([7, 8, 9]), 0, 3);
   * console.log([...s.firstRange!]); // [7, 8, 9]
   * ```
   */
  get firstRange(): Uint8Array | null {
    const r = this.ranges;
    if (r.length === 0) return null;
    const origin = this.origins[0];
    return this.chunks[0].subarray(r[0] - origin, r[1] - origin);
  }

  /** The stream offset of {@linkcode TcpStreamBuffer.firstRange}'s first byte; -1 without a gap. */
  get firstRangeOffset(): number {
    return this.ranges.length === 0 ? -1 : this.consumedBytes + (this.ranges[0] - this.head);
  }

  /**
   * Takes note of an acknowledgement number from the other direction (a segment with ACK set): what the receiver
   * has of this direction's bytes.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(1000);
   * s.push(1010, new Uint8Array(5), 0, 5); // bytes 1000-1009 not seen yet
   * s.noteAck(1000);
   * console.log(s.gapAwaited); // true: the receiver waits for them too
   * s.noteAck(1015);
   * console.log(s.gapAwaited); // false: it had them, the capture missed them
   * ```
   */
  noteAck(ack: number): void {
    if (!this.ackSeen || ((ack - this.ack) | 0) > 0) this.ack = ack >>> 0;
    this.ackSeen = true;
  }

  /**
   * True when the gap before the out-of-order bytes is one the receiver waits for as well (its acknowledgements
   * do not pass the gap's start): the sender will send its bytes again, so they are to be waited for rather than
   * given up on, however much arrives after it (a sender can send out of order on purpose, to have a monitor
   * take a later message for the first). False without a gap, or without an acknowledgement to tell (a capture of
   * one direction).
   */
  get gapAwaited(): boolean {
    return this.ranges.length > 0 && this.ackSeen && ((this.ack - this.base - this.tail) | 0) <= 0;
  }

  /**
   * True when the receiver acknowledged bytes of the gap before the out-of-order bytes: it had them and the
   * capture did not (or not all: a snapshot length cut them, or they came when more than the cap waited), so
   * they will not come again.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(1000);
   * s.push(1010, new Uint8Array(5), 0, 5);
   * s.noteAck(1015);
   * console.log(s.gapMissed); // true
   * ```
   */
  get gapMissed(): boolean {
    return this.ranges.length > 0 && this.ackPassesHeld;
  }

  /**
   * True when the gap's bytes will not come: {@linkcode TcpStreamBuffer.gapMissed} has held for a second of
   * capture time (`now`, the current packet's time in seconds) or 16 calls (a consumer calls this once a packet
   * of the flow), or the bytes waiting behind the gap fill half the cap (more would be dropped). Until then a
   * segment stamped after its acknowledgement is waited for. The wait starts again for another gap, and after
   * {@linkcode TcpStreamBuffer.skipGap}.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(1000);
   * s.push(1010, new Uint8Array(5), 0, 5);
   * s.noteAck(1015);
   * console.log([100, 100.5, 101].map((t) => s.gapMissedSettled(t))); // [false, false, true]
   * ```
   */
  gapMissedSettled(now: number): boolean {
    if (!this.gapMissed) {
      this.missedSince = NaN;
      return false;
    }
    // Another gap than the one waited for (that one filled): the wait starts again.
    const seq = (this.base + this.tail) >>> 0;
    if (Number.isNaN(this.missedSince) || seq !== this.missedSeq) {
      this.missedSeq = seq;
      this.missedSince = now;
      this.missedCalls = 0;
    }
    return ++this.missedCalls >= MISSED_SETTLE_PACKETS || now - this.missedSince >= MISSED_SETTLE_SECONDS ||
      2 * this.buffered >= this.maxBytes;
  }

  /**
   * True when the receiver acknowledged bytes past those held in order (whether or not any are held after
   * them); false also without an acknowledgement to tell.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(1000);
   * s.noteAck(1500);
   * console.log(s.ackPassesHeld, s.ackKnown); // true true
   * ```
   */
  get ackPassesHeld(): boolean {
    return this.ackSeen && ((this.ack - this.base - this.tail) | 0) > 0;
  }

  /** True once an acknowledgement of this direction's bytes was noted (a capture of one direction has none). */
  get ackKnown(): boolean {
    return this.ackSeen;
  }

  /**
   * The stream offset of sequence number `seq`: bytes from the stream's first (0 before the stream starts: the
   * first segment seen begins it). Valid within 2 GiB of the first unconsumed byte.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer();
   * s.setInitialSeq(1000);
   * console.log(s.offsetOf(1500)); // 500
   * ```
   */
  offsetOf(seq: number): number {
    if (!this.started) return 0;
    return this.consumedBytes + ((seq - this.base - this.head) | 0);
  }

  /**
   * The sequence number of stream offset `offset` ({@linkcode TcpStreamBuffer.offsetOf}'s inverse), within 2 GiB
   * of the first unconsumed byte.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer();
   * s.setInitialSeq(1000);
   * console.log(s.seqOf(500)); // 1500
   * ```
   */
  seqOf(offset: number): number {
    return (this.base + this.head + (offset - this.consumedBytes)) >>> 0;
  }

  /**
   * Sets the sequence number of the first data byte (SYN sequence + 1). Ignored once data has been seen.
   */
  setInitialSeq(seq: number): void {
    if (this.started) return;
    this.base = seq >>> 0;
    this.head = 0;
    this.tail = 0;
    this.started = true;
  }

  /**
   * True when a segment starting at `seq` can be handed to the consumer straight from the packet: nothing is
   * buffered and `seq` is the next expected byte (or nothing is known yet).
   */
  isNext(seq: number): boolean {
    if (!this.started) return true;
    return this.head === this.tail && this.ranges.length === 0 && ((seq - this.base - this.tail) | 0) === 0;
  }

  /**
   * Records that `n` bytes starting at `seq` were consumed directly from a packet (after
   * {@linkcode TcpStreamBuffer.isNext} returned true), without storing them.
   */
  advanceDirect(seq: number, n: number): void {
    if (n <= 0) {
      if (!this.started) this.setInitialSeq(seq);
      return;
    }
    this.base = (seq + n) >>> 0;
    this.head = 0;
    this.tail = 0;
    this.started = true;
    this.consumedBytes += n;
  }

  /**
   * True when a segment of `len` bytes at `seq` lies past the bytes held in order (filling no gap before it) and
   * would have bytes dropped by the cap: a consumer that can give up on the gap may do so first (or, with nothing
   * held to give up, `skip` to it), and lose nothing more.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(100);
   * s.setInitialSeq(0);
   * s.push(10, new Uint8Array(80), 0, 80);
   * console.log(s.wouldDrop(90, 20), s.wouldDrop(0, 20)); // true false
   * ```
   */
  wouldDrop(seq: number, len: number): boolean {
    if (!this.started) return false;
    const s = (seq - this.base) | 0;
    return s > this.tail && s + len > this.head + this.maxBytes - this.held;
  }

  /**
   * Adds a segment's bytes `src[off .. off + len)` starting at sequence number `seq`. Bytes already received
   * are ignored; bytes beyond the cap are dropped and counted in {@linkcode TcpStreamBuffer.droppedBytes}.
   */
  push(seq: number, src: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    if (!this.started) this.setInitialSeq(seq);
    let s = (seq - this.base) | 0;
    let e = s + len;
    if (e <= this.tail) return; // entirely old: retransmission
    if (s < this.tail) {
      off += this.tail - s;
      s = this.tail;
    }
    const limit = this.head + this.maxBytes - this.held;
    if (s >= limit) {
      this.droppedBytes += e - s;
      return;
    }
    if (e > limit) {
      this.droppedBytes += e - limit;
      e = limit;
    }
    const ranges = this.ranges;
    if (s > this.tail && ranges.length >= MAX_RANGES * 2 && !this.touchesRange(s, e)) {
      this.droppedBytes += e - s;
      return;
    }
    if (s === this.tail) {
      // In order: its bytes win over the out-of-order ones it covers (it starts before them).
      const shift = this.makeRoom(e);
      s -= shift;
      e -= shift;
      this.store.set(src.subarray(off, off + (e - s)), s);
      this.tail = e;
      if (ranges.length > 0) this.absorbRanges();
      return;
    }
    this.insertSegment(s, e, src, off);
  }

  /** Marks `n` contiguous bytes as used by the consumer. */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.tail - this.head) n = this.tail - this.head;
    this.head += n;
    this.consumedBytes += n;
    this.rebaseWhenEmpty();
  }

  /**
   * Consumes `n` bytes the consumer passes over unread (a message body it skips), also past the contiguous
   * prefix: a gap among them is then no gap, and no byte of them needs to be held or to arrive at all. Bytes of
   * them that come later are taken as old. Out-of-order bytes beyond them become the contiguous prefix.
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(0);
   * s.push(10, new Uint8Array([7, 8]), 0, 2); // bytes 0-9 not here yet
   * s.skip(10); // bytes 0-9 are a body the consumer does not read
   * console.log(s.available, s.data[s.offset]); // 2 7
   * ```
   */
  skip(n: number): void {
    if (n <= this.tail - this.head) {
      this.consume(n);
      return;
    }
    if (n <= 0) return;
    if (!this.started) return;
    this.consumedBytes += n;
    this.head += n;
    this.tail = this.head;
    this.absorbRanges();
    this.rebaseWhenEmpty();
  }

  /**
   * Gives up on the missing bytes before the first out-of-order range: any unconsumed contiguous bytes are
   * discarded too, and the stream continues at that range. Returns the number of sequence numbers skipped
   * (0 when there is no gap).
   */
  skipGap(): number {
    if (this.ranges.length === 0) return 0;
    const skipped = this.ranges[0] - this.head;
    this.missedSince = NaN;
    this.consumedBytes += skipped;
    this.skippedBytes += this.ranges[0] - this.tail;
    this.head = this.tail = this.ranges[0];
    this.absorbRanges();
    return skipped;
  }

  /**
   * Notes that a snapshot length cut a segment: its bytes from `capturedEnd` to `sentEnd` (sequence numbers)
   * were sent but not captured. Its consumer passes over them once the stream reaches them
   * ({@linkcode TcpStreamBuffer.takeReachedCut}); at most 16 are held (past them, the stream waits at the cut
   * as at any gap).
   */
  noteCut(capturedEnd: number, sentEnd: number): void {
    const cuts = this.cuts ??= [];
    if (cuts.length < 2 * MAX_CUTS) cuts.push(capturedEnd >>> 0, sentEnd >>> 0);
  }

  /**
   * The length of the bytes not captured (see {@linkcode TcpStreamBuffer.noteCut}) that start at the stream's
   * next byte, 0 when none do; the cut is forgotten, and so are those the stream already passed (a copy sent
   * again). The consumer passes over them (`skip`).
   *
   * @example
   * ```ts
   * import { TcpStreamBuffer } from "./tcp_stream.ts";
   * const s = new TcpStreamBuffer(1024);
   * s.setInitialSeq(0);
   * s.push(0, new Uint8Array(10), 0, 10); // a 30-byte segment of which 10 were captured
   * s.noteCut(10, 30);
   * s.consume(10);
   * console.log(s.takeReachedCut(), s.takeReachedCut()); // 20 0
   * ```
   */
  takeReachedCut(): number {
    const cuts = this.cuts;
    if (cuts === null) return 0;
    const next = this.nextSeq;
    for (let i = 0; i < cuts.length;) {
      const ahead = (cuts[i] - next) | 0;
      if (ahead > 0) {
        i += 2;
        continue;
      }
      const [from, to] = cuts.splice(i, 2);
      if (ahead === 0) return (to - from) | 0;
    }
    return 0;
  }

  /** Drops everything and releases the storage; later segments are ignored until re-initialised. */
  release(): void {
    this.store = EMPTY;
    this.ranges = NO_RANGES;
    this.chunks = NO_CHUNKS;
    this.origins = NO_RANGES;
    this.head = 0;
    this.tail = 0;
  }

  /**
   * Stores an out-of-order segment's bytes `[s, e)` (positions, `s` past the contiguous prefix), joined with the
   * ranges it overlaps or continues. Of the bytes of a range it overlaps, those of one that starts before it, or
   * at the same byte and ends after it, are kept; the segment's win over the others (see the module's
   * documentation).
   */
  private insertSegment(s: number, e: number, src: Uint8Array, off: number): void {
    let r = this.ranges;
    if (r === NO_RANGES) {
      this.ranges = r = [];
      this.chunks = [];
      this.origins = [];
    }
    const chunks = this.chunks, origins = this.origins;
    let i = 0;
    while (i < r.length && r[i + 1] < s) i += 2;
    // r[i] is the first range that may overlap [s, e) or end where it starts (which it continues).
    // A range that starts where the segment ends stays apart: Linux joins a segment only to the one it continues,
    // and which bytes win an overlap depends on where each segment started.
    // The first range past s (not one that ends at s, which the segment continues) may keep its own bytes.
    let pos = s;
    const k = i < r.length && r[i + 1] === s ? i + 2 : i;
    if (k < r.length && (r[k] < s || (r[k] === s && r[k + 1] > e))) pos = r[k + 1];
    let start = s, end = e, j = i, largest = -1;
    while (j < r.length && r[j] < e) {
      if (r[j] < start) start = r[j];
      if (r[j + 1] > end) end = r[j + 1];
      if (largest < 0 || r[j + 1] - r[j] > r[largest + 1] - r[largest]) largest = j;
      j += 2;
    }
    // The largest range joined keeps its array when it has room for the whole (else the array grows, below);
    // only the others' bytes are copied: a segment that joins a small range to a large one, again and again,
    // costs its own bytes, not the large one's.
    let chunk: Uint8Array, origin: number;
    if (largest < 0) {
      chunk = new Uint8Array(e - s);
      origin = s;
    } else {
      chunk = chunks[largest >> 1];
      origin = origins[largest >> 1];
      if (origin > start || origin + chunk.length < end) {
        // A quarter longer (or what it needs), most of the room on the side it grows to, a quarter on the other:
        // little room held, a range grown a byte at a time is copied a bounded number of times per byte, and one
        // grown on both sides by turns is moved a few times, not once per segment (a review's crafted sequences).
        const size = Math.min(Math.max(end - start, Math.ceil(1.25 * chunk.length)), this.maxBytes);
        const room = size - (end - start);
        const forward = end > origin + chunk.length, backward = start < origin;
        const at = start - (backward && forward ? room >> 1 : backward ? room - (room >> 2) : room >> 2);
        const next = new Uint8Array(size);
        next.set(chunk.subarray(r[largest] - origin, r[largest + 1] - origin), r[largest] - at);
        chunk = next;
        origin = at;
      }
      for (let k = i; k < j; k += 2) {
        if (k !== largest) {
          chunk.set(
            chunks[k >> 1].subarray(r[k] - origins[k >> 1], r[k + 1] - origins[k >> 1]),
            r[k] - origin,
          );
        }
      }
    }
    if (pos < e) chunk.set(src.subarray(off + (pos - s), off + (e - s)), pos - origin);
    r.splice(i, j - i, start, end);
    chunks.splice(i >> 1, (j - i) >> 1, chunk);
    origins.splice(i >> 1, (j - i) >> 1, origin);
  }

  /** Out-of-order ranges that the contiguous prefix now reaches join it (their bytes past it are copied). */
  private absorbRanges(): void {
    const r = this.ranges, chunks = this.chunks;
    while (r.length > 0 && r[0] <= this.tail) {
      if (r[1] > this.tail) {
        this.makeRoom(r[1]);
        const origin = this.origins[0];
        this.store.set(chunks[0].subarray(this.tail - origin, r[1] - origin), this.tail);
        this.tail = r[1];
      }
      r.splice(0, 2);
      chunks.shift();
      this.origins.shift();
    }
  }

  /**
   * Everything read and nothing waiting: positions start again from the next byte, and a large store is let go
   * (a stream that held a message once need not keep its room for the connection's life).
   */
  private rebaseWhenEmpty(): void {
    if (this.head >= this.tail && this.ranges.length === 0) {
      this.base = (this.base + this.head) >>> 0;
      this.head = 0;
      this.tail = 0;
      if (this.store.length > KEEP_STORE) this.store = EMPTY;
    }
  }

  private touchesRange(s: number, e: number): boolean {
    const r = this.ranges;
    for (let i = 0; i < r.length; i += 2) {
      // What insertSegment joins: a range the segment overlaps or continues (not one it ends at, which stays
      // apart; counting those let segments sent backwards make ranges without bound).
      if (s <= r[i + 1] && e > r[i]) return true;
    }
    return false;
  }

  /**
   * Room in the store for the contiguous prefix to reach position `need`: the consumed bytes before `head` are
   * dropped first (every position moves back by as many, the number returned), then the store grows.
   */
  private makeRoom(need: number): number {
    if (need <= this.store.length) return 0;
    const shift = this.head;
    if (shift > 0) {
      const n = this.ranges.length;
      if (this.tail > shift) this.store.copyWithin(0, shift, this.tail);
      this.base = (this.base + shift) >>> 0;
      this.head = 0;
      this.tail -= shift;
      for (let i = 0; i < n; i++) this.ranges[i] -= shift;
      for (let i = 0; i < this.origins.length; i++) this.origins[i] -= shift;
      need -= shift;
    }
    if (need > this.store.length) {
      let size = this.store.length || INITIAL_STORE;
      while (size < need) size *= 2;
      if (size > this.maxBytes) size = this.maxBytes;
      if (size < need) size = need;
      const next = new Uint8Array(size);
      if (this.tail > 0) next.set(this.store.subarray(0, this.tail));
      this.store = next;
    }
    return shift;
  }
}

const EMPTY = new Uint8Array(0);
const NO_RANGES: number[] = [];
const NO_CHUNKS: Uint8Array[] = [];
