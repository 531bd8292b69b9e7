/**
 * The bidirectional flow table. Flows are found by a hash of the canonical 5-tuple, kept in two intrusive lists
 * (by last activity and by creation) so that idle and active timeouts, and LRU eviction, are O(1) per packet and
 * flows leave in the time order of their expiry.
 *
 * The buckets' hash is keyed by random tables of each table (simple tabulation, lib/hash.ts): captures are
 * hostile input, and a fixed hash let 50,000 crafted flows of 6 MB share one bucket (each packet then walked
 * them all: 290 packets/s).
 *
 * @module
 */
import { formatIp } from "./addr.ts";
import { type EndReason, FlowState } from "./flow.ts";
import type { PacketView } from "./packet.ts";
import { TCP } from "./packet.ts";
import { int32At, KeyHash } from "./hash.ts";

/**
 * Flow table settings.
 *
 * @example
 * ```ts
 * import { FlowTable, type FlowTableOptions } from "./flow_table.ts";
 * const options: FlowTableOptions = { idleTimeout: 30, activeTimeout: 600, tcpEnd: true, maxFlows: 100000 };
 * const table = new FlowTable(options, (flow) => console.log(flow.endReason), () => {});
 * console.log(table.size); // 0
 * ```
 */
export interface FlowTableOptions {
  /** Seconds without a packet after which a flow ends (default 60, JoyfulJay's `flow_timeout`): a gap longer
   * than this, by a nanosecond or more, ends it. */
  idleTimeout?: number;
  /** Seconds after its first packet at which a flow ends even if still active (default 1800; 0 = never). */
  activeTimeout?: number;
  /** End a TCP flow on RST, with the last ACK once both sides' FINs are acknowledged, or at a new SYN from a
   * side whose FIN was seen (default false). */
  tcpEnd?: boolean;
  /** Most flows held at once; one is evicted to make room (default 0 = no limit). */
  maxFlows?: number;
  /**
   * Which flow `maxFlows` evicts: the least recently active (`"lru"`, the default) or the oldest, first created
   * (`"oldest"`); JoyfulJay's `flow_eviction_strategy`.
   */
  evictionStrategy?: "lru" | "oldest";
  /** Keep only this fraction of flows, chosen by flow hash so that a flow is kept or left whole (default 1). */
  samplingRate?: number;
  /** Keep only the flows of one shard out of `count` (by flow hash), for parallel workers. */
  shard?: { index: number; count: number };
}

/** Why `FlowTable.add` returned null. */
export const Rejected = { NONE: 0, SAMPLED_OUT: 1, OTHER_SHARD: 2 } as const;

/**
 * The flow table. `add` finds or creates the packet's flow and returns it with the packet's direction in
 * `lastDir`; ended flows are handed to `onEnd` as they leave.
 *
 * @example
 * ```ts
 * import { FlowTable } from "./flow_table.ts";
 * const ended: string[] = [];
 * const table = new FlowTable({ idleTimeout: 60 }, (f) => ended.push(f.srcIp), () => {});
 * table.flushAll();
 * console.log(ended.length); // 0
 * ```
 */
export class FlowTable {
  /** Direction of the last packet given to `add`: 0 from the initiator, 1 from the responder. */
  lastDir: 0 | 1 = 0;
  /** True when the last `add` created the flow. */
  lastCreated = false;
  /** True when the last packet given to `add` was TCP with FIN set. */
  lastFin = false;
  /** Flows currently held. */
  size = 0;
  /** Flows created in all. */
  created = 0;
  /** When `add` returned null: a {@linkcode Rejected} code. */
  lastRejected = 0;
  /** Flows of other keys passed over in bucket chains while finding packets' flows (about 0.25 per packet at
   * the fullest: the buckets are at least twice the flows). */
  chainSteps = 0;

  private readonly idle: number;
  private readonly active: number;
  /** The timeouts in nanoseconds, which gaps are compared with exactly (see `over`). */
  private readonly idleNs: number;
  private readonly activeNs: number;
  /** The timeouts less `NEAR`: a gap of doubles below these is not over the timeout, whatever the rounding. */
  private readonly idleNear: number;
  private readonly activeNear: number;
  private readonly tcpEnd: boolean;
  private readonly maxFlows: number;
  private readonly evictOldest: boolean;
  /** Flow hashes (30-bit) at or above this are sampled out; -1 keeps every flow. */
  private readonly sampleBelow: number;
  private readonly shardCount: number;
  private readonly shardIndex: number;
  /** Hash buckets (chained through `bucketNext`), indexed by the bucket hash's top bits (`>>> shift`); a power
   * of two, at least twice the flows held. An array index rather than a Map lookup per packet. */
  private buckets: (FlowState | null)[] = new Array(1024).fill(null);
  /** 30 less the bits of a bucket index. */
  private shift = 20;
  /** The bucket hash, with random tables drawn for this table (see lib/hash.ts). */
  private readonly keyHash = new KeyHash(10);
  private lruHead: FlowState | null = null;
  private lruTail: FlowState | null = null;
  private ageHead: FlowState | null = null;
  private ageTail: FlowState | null = null;
  private readonly scratch = new Int32Array(10);
  /** The latest packet time seen (as a double, then exactly: its second and nanoseconds), in a typed array:
   * stored as a field it cost a heap number per packet (measured: 16 bytes allocated per packet), as a
   * typed-array element it is stored in place. */
  private readonly clock = new Float64Array([-Infinity, 0, 0]);

  /**
   * Creates an empty table with the given timeouts, limits, sampling and shard.
   *
   * @param onEnd called for each flow leaving the table, in expiry order.
   * @param onCreate called for each new flow before its first packet is counted.
   */
  constructor(
    options: FlowTableOptions,
    private readonly onEnd: (flow: FlowState) => void,
    private readonly onCreate: (flow: FlowState) => void,
  ) {
    this.idle = options.idleTimeout ?? 60;
    this.active = options.activeTimeout ?? 1800;
    this.idleNs = Math.round(this.idle * 1e9);
    this.activeNs = Math.round(this.active * 1e9);
    this.idleNear = this.idle - NEAR;
    this.activeNear = this.active - NEAR;
    this.tcpEnd = options.tcpEnd ?? false;
    this.maxFlows = options.maxFlows ?? 0;
    this.evictOldest = options.evictionStrategy === "oldest";
    const rate = options.samplingRate ?? 1;
    this.sampleBelow = rate >= 1 ? -1 : Math.floor(rate * 1073741824);
    this.shardCount = options.shard?.count ?? 1;
    this.shardIndex = options.shard?.index ?? 0;
  }

  /**
   * Ends every flow whose timeout passed by time `ts` (seconds since the epoch; to the nanosecond when its exact
   * whole second `sec` and nanoseconds `nsec` are given), oldest expiry first.
   */
  expire(ts: number, sec?: number, nsec?: number): void {
    if (sec === undefined || nsec === undefined) {
      // As the decoder takes a time given without nanoseconds (PacketDecoder's setTime).
      sec = Math.floor(ts);
      nsec = Math.round((ts - sec) * 1e9);
      if (nsec === 1e9) {
        sec++;
        nsec = 0;
      }
    }
    const clock = this.clock;
    if (ts > clock[0] || (ts === clock[0] && nsBetween(sec, nsec, clock[1], clock[2]) > 0)) {
      clock[0] = ts;
      clock[1] = sec;
      clock[2] = nsec;
    }
    const active = this.active > 0;
    for (;;) {
      const a = this.lruHead;
      if (a === null) return;
      const b = active ? this.ageHead! : null;
      // The heads are the first due, as the doubles order them; which of two due first, too (their order in the
      // output). Whether one is due is exact.
      const aDue = over(a, sec, nsec, a.lastNs, this.idleNs);
      const bDue = b !== null && over(b, sec, nsec, b.firstNs, this.activeNs);
      if (aDue && (!bDue || a.lastTs + this.idle <= b!.firstTs + this.active)) this.end(a, "idle");
      else if (bDue) this.end(b!, "active");
      else return;
    }
  }

  /**
   * Finds or creates the flow of a decoded packet, counts the packet, and returns the flow; null when the flow
   * is sampled out or belongs to another shard (`lastRejected` says which).
   */
  add(p: PacketView): FlowState | null {
    const ts = p.ts;
    const clock = this.clock;
    if (ts > clock[0]) {
      // expire's first test, here: most packets end no flow, and a call passing a double boxes it (an
      // allocation per packet).
      const a = this.lruHead, b = this.ageHead;
      if (
        a !== null &&
        (a.lastTs + this.idleNear < ts || (this.active > 0 && b!.firstTs + this.activeNear < ts))
      ) {
        this.expire(ts, p.tsSec, p.tsNsec);
      } else {
        clock[0] = ts;
        clock[1] = p.tsSec;
        clock[2] = p.tsNsec;
      }
    } else if (ts === clock[0]) {
      // Within a double's step of the latest time (0.24 us): later by a few nanoseconds, maybe, and past a
      // timeout by them.
      if (nsBetween(p.tsSec, p.tsNsec, clock[1], clock[2]) > 0) this.expire(ts, p.tsSec, p.tsNsec);
    } else if (
      ts < clock[0] - this.idleNear && nsBetween(clock[1], clock[2], p.tsSec, p.tsNsec) > this.idleNs
    ) this.stepBack(ts, p.tsSec, p.tsNsec);
    const k = this.scratch;
    const buf = p.addrBuf ?? p.buf;
    const v6 = p.ipVersion === 6;
    const sa = p.srcAddrOff, da = p.dstAddrOff;
    // Words 1-4: address A, 5-8: address B, in canonical order (smaller endpoint first).
    let srcFirst: boolean;
    const s0 = int32At(buf, sa), d0 = int32At(buf, da);
    if (!v6) {
      srcFirst = s0 !== d0 ? (s0 >>> 0) < (d0 >>> 0) : p.srcPort <= p.dstPort;
      k[1] = srcFirst ? s0 : d0;
      k[5] = srcFirst ? d0 : s0;
      k[2] =
        k[3] =
        k[4] =
        k[6] =
        k[7] =
        k[8] =
          0;
    } else {
      let cmp = 0;
      for (let i = 0; i < 16 && cmp === 0; i += 4) {
        const x = int32At(buf, sa + i) >>> 0, y = int32At(buf, da + i) >>> 0;
        if (x !== y) cmp = x < y ? -1 : 1;
      }
      srcFirst = cmp !== 0 ? cmp < 0 : p.srcPort <= p.dstPort;
      const a = srcFirst ? sa : da, b = srcFirst ? da : sa;
      for (let i = 0; i < 4; i++) {
        k[1 + i] = int32At(buf, a + 4 * i);
        k[5 + i] = int32At(buf, b + 4 * i);
      }
    }
    k[0] = (p.ipVersion << 8) | p.proto;
    k[9] = srcFirst ? (p.srcPort << 16) | p.dstPort : (p.dstPort << 16) | p.srcPort;
    if (this.shardCount > 1 || this.sampleBelow >= 0) {
      // Shards and sampling choose flows by a hash that every worker, and every run, computes alike.
      const s = stableHash(k);
      // Shards use the high bits so that they stay independent of sampling's threshold test. They come first:
      // each shard then counts only its own flows' packets as sampled out (the counts are summed).
      if (this.shardCount > 1 && ((s >>> 20) % this.shardCount) !== this.shardIndex) {
        this.lastRejected = Rejected.OTHER_SHARD;
        return null;
      }
      if (this.sampleBelow >= 0 && s >= this.sampleBelow) {
        this.lastRejected = Rejected.SAMPLED_OUT;
        return null;
      }
    }
    // 30 bits, in V8's small-integer range: a larger number stored in a flow is a heap number.
    const h = this.keyHash.hash(k, 10);
    let f = this.buckets[h >>> this.shift];
    while (f !== null) {
      if (
        f.hash === h && f.k0 === k[0] && f.k1 === k[1] && f.k5 === k[5] && f.k9 === k[9] &&
        f.k2 === k[2] && f.k3 === k[3] && f.k4 === k[4] && f.k6 === k[6] && f.k7 === k[7] && f.k8 === k[8]
      ) break;
      this.chainSteps++;
      f = f.bucketNext;
    }
    if (f !== null) {
      // The table-wide expiry runs only when time moves forward; in a capture whose clock steps back (merged
      // captures) a flow's own packet can come after its timeout without any packet raising the latest time.
      const idleOver = over(f, p.tsSec, p.tsNsec, f.lastNs, this.idleNs);
      const activeOver = this.active > 0 && over(f, p.tsSec, p.tsNsec, f.firstNs, this.activeNs);
      if (idleOver || activeOver) {
        const idleFirst = idleOver && (!activeOver || f.lastTs + this.idle <= f.firstTs + this.active);
        this.end(f, idleFirst ? "idle" : "active");
        f = null;
      } else if (
        this.tcpEnd && p.proto === 6 && (p.tcpFlags & TCP.SYN) !== 0 &&
        (f.finSeen === 3 || ((f.finSeen & (1 << (srcFirst === f.srcIsA ? 0 : 1))) !== 0 &&
          ((p.tcpFlags & TCP.ACK) === 0 || newSynAck(f, srcFirst === f.srcIsA ? 0 : 1, p.tcpSeq))))
      ) {
        // A SYN after both FINs opens a new connection on the same ports (the last ACK was not captured): the
        // closed one ends first. So does a SYN from a side whose own FIN was seen: in a capture of one direction
        // (asymmetric routing) the other side's FIN never is; of the server's side, its SYN-ACK (see newSynAck).
        this.end(f, "fin");
        f = null;
      }
    }
    if (f === null) {
      if (this.maxFlows > 0 && this.size >= this.maxFlows && this.lruHead !== null) {
        this.end(this.evictOldest ? this.ageHead! : this.lruHead, "evicted");
      }
      f = new FlowState();
      f.k0 = k[0];
      f.k1 = k[1];
      f.k2 = k[2];
      f.k3 = k[3];
      f.k4 = k[4];
      f.k5 = k[5];
      f.k6 = k[6];
      f.k7 = k[7];
      f.k8 = k[8];
      f.k9 = k[9];
      f.hash = h;
      f.ipVersion = p.ipVersion;
      f.protocol = p.proto;
      f.srcIp = formatIp(buf, sa, p.ipVersion);
      f.dstIp = formatIp(buf, da, p.ipVersion);
      f.srcPort = p.srcPort;
      f.dstPort = p.dstPort;
      f.srcIsA = srcFirst;
      f.firstTs = ts;
      f.lastTs = ts;
      f.lastPacketTs = ts;
      f.originSec = p.tsSec;
      f.firstNs =
        f.lastNs =
        f.lastPacketNs =
        p.tsNs =
          p.tsNsec;
      if (p.tunnelType !== 0) setTunnel(f, p);
      const b = h >>> this.shift;
      f.bucketNext = this.buckets[b];
      this.buckets[b] = f;
      this.insertLru(f);
      // The creation list, in order of first packet time (see insertLru).
      let after = this.ageTail;
      for (let steps = 0; after !== null && startsAfter(after, f); steps++) {
        if (steps === MAX_REORDER) {
          after = this.ageTail;
          break;
        }
        after = after.agePrev;
      }
      f.agePrev = after;
      f.ageNext = after === null ? this.ageHead : after.ageNext;
      if (f.ageNext !== null) f.ageNext.agePrev = f;
      else this.ageTail = f;
      if (after !== null) after.ageNext = f;
      else this.ageHead = f;
      if (++this.size > this.buckets.length >> 1) this.growBuckets();
      this.created++;
      this.lastCreated = true;
      this.onCreate(f);
    } else {
      this.lastCreated = false;
      // The tunnel columns are the first tunnelled packet's, also when packets outside it came first (a span
      // port that sees both sides of a tunnel router).
      if (p.tunnelType !== 0 && f.tunnelType === 0) setTunnel(f, p);
      f.lastPacketTs = ts;
      // Exact for 104 days from the flow's first second (2^53 ns).
      const ns = f.lastPacketNs = p.tsNs = (p.tsSec - f.originSec) * 1e9 + p.tsNsec;
      if (ns > f.lastNs) {
        f.lastNs = ns;
        // A later time is never a smaller double (the rounding is monotonic).
        f.lastTs = ts;
      }
      // Move to its place by last activity: the tail, unless its time is behind.
      if (this.lruTail !== f) {
        const prev = f.lruPrev, next = f.lruNext!;
        if (prev) prev.lruNext = next;
        else this.lruHead = next;
        next.lruPrev = prev;
        this.insertLru(f);
      }
    }
    const dir: 0 | 1 = srcFirst === f.srcIsA ? 0 : 1;
    this.lastDir = dir;
    if (dir === 0) {
      f.packets0++;
      f.bytes0 += p.wireLen;
      f.payloadBytes0 += p.payloadLen;
    } else {
      f.packets1++;
      f.bytes1 += p.wireLen;
      f.payloadBytes1 += p.payloadLen;
    }
    // FIN and RST bookkeeping serves only the end on FIN/RST: no work per packet without it.
    if (this.tcpEnd && p.proto === 6) {
      const fl = p.tcpFlags;
      this.lastFin = (fl & TCP.FIN) !== 0;
      if (this.lastFin) {
        // The FIN takes one sequence number after the segment's data (and its SYN's, if any).
        const end = (p.tcpSeq + p.payloadLen + 1 + (fl & TCP.SYN ? 1 : 0)) >>> 0;
        if (dir === 0) f.finEnd0 = end;
        else f.finEnd1 = end;
        f.finSeen |= 1 << dir;
      }
      const other = dir ^ 1;
      if ((fl & TCP.ACK) !== 0 && (f.finSeen & (1 << other)) !== 0) {
        if (((p.tcpAck - (other === 0 ? f.finEnd0 : f.finEnd1)) | 0) >= 0) f.finAcked |= 1 << other;
      }
      if (fl & TCP.RST) f.rstSeen = true;
    }
    return f;
  }

  /**
   * Links `f` into the LRU list after the last flow no more recently active than it: the tail, unless its time
   * is behind the tail's (packets slightly out of order, as multi-queue capture stamps them), then found from
   * the tail. The list then stays in order of last activity, so that every flow whose idle timeout passed is at
   * its head, whichever other flows a table holds: one table and each worker's shard end the same flows at the
   * same packet (with the list in arrival order, a flow behind one not yet due waited for it in one table and
   * not in a shard). A time behind by more than `MAX_REORDER` flows goes to the tail, as before: the walk stays
   * bounded (a capture whose clock steps back is ordered only approximately).
   */
  private insertLru(f: FlowState): void {
    let after = this.lruTail;
    for (let steps = 0; after !== null && activeAfter(after, f); steps++) {
      if (steps === MAX_REORDER) {
        after = this.lruTail;
        break;
      }
      after = after.lruPrev;
    }
    f.lruPrev = after;
    f.lruNext = after === null ? this.lruHead : after.lruNext;
    if (f.lruNext !== null) f.lruNext.lruPrev = f;
    else this.lruTail = f;
    if (after !== null) after.lruNext = f;
    else this.lruHead = f;
  }

  /**
   * After the packet's features were updated, when `tcpEnd` is set: ends the flow at once on RST, and at the
   * last ACK once both sides' FINs are acknowledged: a packet without FIN after both acknowledgements were
   * seen, which, left out, would start a flow of its own. (At the other side's next packet after the second
   * FIN, a simultaneous close lost its last ACK to a new flow, and a retransmitted FIN ended the flow before
   * it.) A flow whose last acknowledgement never comes ends by its timeouts, or at a SYN reusing its ports.
   */
  afterPacket(f: FlowState): void {
    if (!this.tcpEnd || f.protocol !== 6) return;
    if (f.rstSeen) this.end(f, "rst");
    else if (f.finAcked === 3 && !this.lastFin) this.end(f, "fin");
  }

  /**
   * The capture's clock stepped back by more than the idle timeout (after a packet stamped far in the future,
   * or captures merged out of order): the flows last active after `ts` end now, as at the end of an input, and
   * the clock restarts at `ts`. Left in the table, their deadlines, later than every new flow's, would hold
   * back the expiry of all the flows behind them in the lists (a single stray time stopped every timeout for
   * the rest of the input); and flows entered behind them would break the lists' time order, which expiry and
   * the workers' merge rely on. They are the end of the LRU list (it is in order of last activity), found from
   * its tail and ended in its order, so a step back costs only the flows it ends.
   */
  private stepBack(ts: number, sec: number, nsec: number): void {
    let f = this.lruTail;
    while (f !== null && nsBetween(f.originSec, f.lastNs, sec, nsec) > 0) f = f.lruPrev;
    for (let g = f === null ? this.lruHead : f.lruNext; g !== null;) {
      const next = g.lruNext;
      g.endedByStepBack = true;
      this.end(g, "end");
      g = next;
    }
    this.clock[0] = ts;
    this.clock[1] = sec;
    this.clock[2] = nsec;
  }

  /** Doubles the bucket array and rechains every flow (walking the LRU list, which holds them all). */
  private growBuckets(): void {
    const n = this.buckets.length * 2;
    const buckets: (FlowState | null)[] = new Array(n).fill(null);
    const shift = this.shift - 1;
    for (let f = this.lruHead; f !== null; f = f.lruNext) {
      const b = f.hash >>> shift;
      f.bucketNext = buckets[b];
      buckets[b] = f;
    }
    this.buckets = buckets;
    this.shift = shift;
  }

  /** Ends every remaining flow, in order of last activity. */
  flushAll(): void {
    while (this.lruHead !== null) this.end(this.lruHead, "end");
  }

  /** Removes a flow from its bucket and both lists, records why and when it ended, and hands it to `onEnd`. */
  private end(f: FlowState, reason: EndReason): void {
    // Unlink from the bucket chain.
    const b = f.hash >>> this.shift;
    const head = this.buckets[b]!;
    if (head === f) {
      this.buckets[b] = f.bucketNext;
    } else {
      let q = head;
      while (q.bucketNext !== f) q = q.bucketNext!;
      q.bucketNext = f.bucketNext;
    }
    if (f.lruPrev) f.lruPrev.lruNext = f.lruNext;
    else this.lruHead = f.lruNext;
    if (f.lruNext) f.lruNext.lruPrev = f.lruPrev;
    else this.lruTail = f.lruPrev;
    if (f.agePrev) f.agePrev.ageNext = f.ageNext;
    else this.ageHead = f.ageNext;
    if (f.ageNext) f.ageNext.agePrev = f.agePrev;
    else this.ageTail = f.agePrev;
    f.lruPrev =
      f.lruNext =
      f.agePrev =
      f.ageNext =
      f.bucketNext =
        null;
    this.size--;
    f.endReason = reason;
    f.endTime = reason === "idle"
      ? f.lastTs + this.idle
      : reason === "active"
      ? f.firstTs + this.active
      : Infinity;
    this.onEnd(f);
  }
}

/** Sets a flow's tunnel columns from a tunnelled packet. */
function setTunnel(f: FlowState, p: PacketView): void {
  f.tunnelType = p.tunnelType;
  f.tunnelSrc = formatIp(p.tunnelSrc, 0, p.tunnelVersion);
  f.tunnelDst = formatIp(p.tunnelDst, 0, p.tunnelVersion);
}

/**
 * Time `a` less time `b` in nanoseconds, each given as whole seconds and nanoseconds from them (a flow's times
 * are nanoseconds from its first second): exact while the difference is under 104 days (2^53 ns), and beyond,
 * off by far less than any timeout.
 */
function nsBetween(aSec: number, aNs: number, bSec: number, bNs: number): number {
  return (aSec - bSec) * 1e9 + (aNs - bNs);
}

/** Whether the time `sec` and `nsec` is later than a flow's time `ns` by more than `limitNs`. */
function over(f: FlowState, sec: number, nsec: number, ns: number, limitNs: number): boolean {
  return nsBetween(sec, nsec, f.originSec, ns) > limitNs;
}

/**
 * Whether flow `a` was last active after flow `b`: by their times as doubles, and exactly where the doubles are
 * equal (within 0.24 us): the LRU list is then in exact order, and the flow due first is at its head.
 */
function activeAfter(a: FlowState, b: FlowState): boolean {
  return a.lastTs > b.lastTs ||
    (a.lastTs === b.lastTs && nsBetween(a.originSec, a.lastNs, b.originSec, b.lastNs) > 0);
}

/** Whether flow `a` began after flow `b` (as {@linkcode activeAfter}, for the creation list). */
function startsAfter(a: FlowState, b: FlowState): boolean {
  return a.firstTs > b.firstTs ||
    (a.firstTs === b.firstTs && nsBetween(a.originSec, a.firstNs, b.originSec, b.firstNs) > 0);
}

/**
 * A bound on how far a difference of two times as doubles of epoch seconds, less a timeout, can be from the exact
 * one: a few of their steps (0.24 us until 2038, 0.95 us until 2242). Gaps of doubles within it of a timeout are
 * compared exactly.
 */
const NEAR = 1e-5;

/** Flows a packet whose time is behind is moved back past at most, to keep the lists in time order. */
const MAX_REORDER = 64;

/**
 * A 30-bit hash of a canonical key that is the same in every process and run: what shards and sampling choose
 * flows by (FNV-1a over the words, each followed by an xorshift). Not for buckets: crafted keys collide in it.
 */
function stableHash(k: Int32Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < 10; i++) {
    h = Math.imul(h ^ k[i], 0x01000193);
    h ^= h >>> 15;
  }
  return h & 0x3fffffff;
}

/**
 * Values of one ended flow's place in the table's output order (see {@linkcode flowEndOrder}).
 *
 * @example
 * ```ts
 * import { compareEndOrder, END_ORDER_WIDTH, flowEndOrder } from "./flow_table.ts";
 * import { FlowState } from "./flow.ts";
 * // Two flows' keys side by side in one array.
 * const keys = new Float64Array(2 * END_ORDER_WIDTH);
 * const a = new FlowState(), b = new FlowState();
 * a.endReason = b.endReason = "end";
 * flowEndOrder(a, 10, keys, 0);
 * flowEndOrder(b, 12, keys, END_ORDER_WIDTH);
 * console.log(compareEndOrder(keys, 0, keys, END_ORDER_WIDTH) < 0); // true: a ended first
 * ```
 */
export const END_ORDER_WIDTH = 6;

/**
 * Writes, at `out[at..at+6)`, a key that orders an ended flow as one table over every flow would have ended it:
 * by the packet during which it ended (`packetIndex`, counted over every packet read, so the same in every
 * shard); then by the time its timeout fell due (the end of input and FIN/RST/eviction have none; a step back
 * of the clock, which ends flows before its packet is counted, comes first); then idle
 * before active before FIN/RST/eviction before the end of input; then in the order of the table's lists (last
 * activity for idle flows and the end of input, creation for active ones): time (exact: whole seconds, then
 * nanoseconds, as the lists order flows whose times are equal doubles), then packet number. Shards
 * merged by this key (ties kept in each shard's order) give exactly one table's order while the capture's clock
 * is in order or out of order by less than the lists' reordering reach (see `FlowTable.insertLru`), and, when
 * it steps back further, whenever the shards end the same flows at the same packet.
 *
 * @example
 * ```ts
 * import { flowEndOrder } from "./flow_table.ts";
 * import { FlowState } from "./flow.ts";
 * const f = new FlowState();
 * f.endReason = "idle";
 * f.endTime = 61;
 * f.lastPacket = 7;
 * // Last active at 1.000000250 s (its first packet's second, and nanoseconds from it).
 * f.originSec = 1;
 * f.lastNs = 250;
 * const key = new Float64Array(6);
 * flowEndOrder(f, 9, key, 0);
 * console.log([...key]); // [9, 61, 0, 1, 250, 7]
 * ```
 */
export function flowEndOrder(
  f: FlowState,
  packetIndex: number,
  out: Float64Array | number[],
  at: number,
): void {
  const r = f.endReason;
  out[at] = packetIndex;
  // A step back ends its flows before anything else happens at its packet (a timeout of the packet's own flow,
  // a FIN or RST it carries): first among the flows ended there.
  out[at + 1] = f.endedByStepBack ? -Infinity : f.endTime;
  out[at + 2] = r === "idle" ? 0 : r === "active" ? 1 : r === "end" ? 3 : 2;
  const byCreation = r === "active", none = r === "fin" || r === "rst" || r === "evicted";
  // Nanoseconds from the flow's first second: whole seconds and the rest, exactly (below 2^53).
  const ns = none ? 0 : byCreation ? f.firstNs : f.lastNs, nsec = ns % 1e9;
  out[at + 3] = none ? 0 : f.originSec + (ns - nsec) / 1e9;
  out[at + 4] = nsec;
  out[at + 5] = none ? 0 : byCreation ? f.firstPacket : f.lastPacket;
}

/**
 * Compares two keys written by {@linkcode flowEndOrder}: negative when `a[i..]` comes first.
 *
 * @example
 * ```ts
 * import { compareEndOrder } from "./flow_table.ts";
 * console.log(compareEndOrder([9, 61, 0, 1, 0, 7], 0, [9, 61, 1, 1, 0, 2], 0) < 0); // true: idle before active
 * console.log(compareEndOrder([9, 61, 0, 1, 0, 7], 0, [9, 61, 0, 1, 0, 8], 0) < 0); // true: by last activity
 * ```
 */
export function compareEndOrder(
  a: Float64Array | number[],
  i: number,
  b: Float64Array | number[],
  j: number,
): number {
  for (let k = 0; k < END_ORDER_WIDTH; k++) {
    // Not a subtraction: two Infinity times would give NaN.
    const x = a[i + k], y = b[j + k];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Whether a SYN-ACK from side `side`, whose FIN was seen, opens a new connection: in a capture of that side only
 * (the other sent nothing in the flow), with a sequence number other than its connection's first (a SYN-ACK sent
 * again, after a TCP Fast Open server's data and FIN, lies its data and two below its FIN's end; the payload
 * bytes counted, retransmissions included, bound that). In a capture of both sides, the client's SYN tells a new
 * connection.
 */
function newSynAck(f: FlowState, side: 0 | 1, seq: number): boolean {
  if ((side === 0 ? f.packets1 : f.packets0) !== 0) return false;
  const below = ((side === 0 ? f.finEnd0 : f.finEnd1) - seq) | 0;
  return !(below > 0 && below <= (side === 0 ? f.payloadBytes0 : f.payloadBytes1) + 2);
}
