/**
 * Incremental statistics for per-flow features: running moments (Welford's, for real values such as gaps:
 * accurate to rounding; exact integer sums for integer series such as lengths, see
 * {@linkcode integerVariance}), a bounded sample for medians and percentiles (exact up to its capacity, a
 * uniform reservoir sample beyond it), and exact counts for integer series such as packet lengths.
 *
 * @module
 */

/**
 * Population variance of integers, from their count `n`, the first of them `x0`, their sum and the sum of their
 * squared differences from `x0` (sums that are exact while below 2^53: lengths of up to 64 KiB over two million
 * packets): the exact value, rounded once while `n` times the sum of squares stays below 2^53, else computed
 * exactly in big integers and rounded twice. Welford's running mean and variance, updated by a division per
 * value, drift with each rounding (a mean of 1089.0809999999976 for 1089081 / 1000). Null when `n` is 0.
 *
 * @example
 * ```ts
 * import { integerVariance } from "./stats.ts";
 * // 1, 2, 3, 4: x0 1, sum 10, squared differences from 1: 0 + 1 + 4 + 9.
 * console.log(integerVariance(4, 1, 10, 14)); // 1.25
 * ```
 */
export function integerVariance(n: number, x0: number, sum: number, squares: number): number | null {
  if (n === 0) return null;
  const d = sum - n * x0;
  const a = n * squares, b = d * d;
  if (a < EXACT && b < EXACT) return Math.max(0, a - b) / (n * n);
  const bn = BigInt(n), bd = BigInt(d);
  return Math.max(0, Number(bn * BigInt(squares) - bd * bd) / Number(bn * bn));
}

/** 2^53: integers below it are exact doubles, and so are sums and products that stay below it. */
const EXACT = 9007199254740992;

/**
 * Count, mean, variance (population, as numpy's `std`), min, max and sum by Welford's method.
 *
 * @example
 * ```ts
 * import { RunningStats } from "./stats.ts";
 * const s = new RunningStats();
 * s.add(1); s.add(3);
 * console.log(s.mean, s.std); // 2 1
 * ```
 */
export class RunningStats {
  /** Values seen. */
  n = 0;
  /** Running mean. */
  mean = 0;
  /** Sum of squared deviations from the mean. */
  m2 = 0;
  /** Smallest and largest values (Infinity / -Infinity when empty). */
  min = Infinity;
  max = -Infinity;
  /** Sum of values. */
  sum = 0;

  /** Adds one value. */
  add(x: number): void {
    const n = ++this.n;
    const d = x - this.mean;
    this.mean += d / n;
    this.m2 += d * (x - this.mean);
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
    this.sum += x;
  }

  /** Population standard deviation, null when empty. */
  get std(): number | null {
    return welfordStd(this.m2, this.n);
  }
  /** Population variance, null when empty. */
  get variance(): number | null {
    return this.n > 0 ? Math.max(0, this.m2 / this.n) : null;
  }
  /** Mean, null when empty. */
  get meanOrNull(): number | null {
    return this.n > 0 ? this.mean : null;
  }
  /** Minimum, null when empty. */
  get minOrNull(): number | null {
    return this.n > 0 ? this.min : null;
  }
  /** Maximum, null when empty. */
  get maxOrNull(): number | null {
    return this.n > 0 ? this.max : null;
  }
}

/**
 * Population standard deviation from Welford's sum of squared deviations `m2` over `n` values; null when `n` is
 * 0. For groups that keep Welford's fields in their own state rather than in a {@linkcode RunningStats}.
 *
 * @example
 * ```ts
 * import { welfordStd } from "./stats.ts";
 * console.log(welfordStd(8, 2)); // 2
 * ```
 */
export function welfordStd(m2: number, n: number): number | null {
  return n > 0 ? Math.sqrt(Math.max(0, m2 / n)) : null;
}

/** Samples up to this size are sorted by insertion; longer ones use selection (quickselect). */
const SHORT = 48;

/**
 * Moves the k-th smallest element of `a` to index k (Hoare's quickselect with a median-of-three pivot) and
 * returns it. O(n) on average; repeated calls on the same array get cheaper as it becomes partitioned. Gaps
 * chosen against the median of three (a capture's times are input) make quickselect quadratic: past twice the
 * rounds a halving would take, the rest of the range is sorted (introselect), O(n log n) at worst.
 */
function select(a: Float64Array, n: number, k: number): number {
  let left = 0, right = n - 1;
  let rounds = 2 * (32 - Math.clz32(n));
  while (right > left) {
    if (--rounds < 0) {
      a.subarray(left, right + 1).sort();
      return a[k];
    }
    const mid = (left + right) >>> 1;
    // Median of three as the pivot, placed at `mid`.
    if (a[mid] < a[left]) swap(a, mid, left);
    if (a[right] < a[left]) swap(a, right, left);
    if (a[right] < a[mid]) swap(a, right, mid);
    const pivot = a[mid];
    let i = left, j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Values per chunk of the sample arena. */
const CHUNK = 32;

/**
 * The values of every live {@linkcode BoundedSample}, in chunks of 32 linked per sample: one typed array outside
 * the collected heap instead of a growing array per sample. Growing arrays were most of what the timing and size
 * groups allocated (over 200 bytes per packet); each growth was a new array that outlived young-generation
 * collections (its flow was still open), so the collector copied and promoted it, and the heap's growth cost
 * page faults. Chunks of finished samples go back to a free list (`release`). The arena doubles when full and
 * never shrinks: it stays at the size the most flows open at once needed.
 */
let arena = new Float64Array(CHUNK * 4096);
/** Next chunk of the same sample, or of the free list; -1 ends a chain. */
let nextChunk = new Int32Array(4096);
let freeChunk = -1;
/** Chunks handed out at least once (the rest of the arena is untouched). */
let chunksUsed = 0;

function allocChunk(): number {
  let c = freeChunk;
  if (c >= 0) {
    freeChunk = nextChunk[c];
  } else {
    if (chunksUsed === nextChunk.length) {
      const a = new Float64Array(arena.length * 2);
      a.set(arena);
      arena = a;
      const n = new Int32Array(nextChunk.length * 2);
      n.set(nextChunk);
      nextChunk = n;
    }
    c = chunksUsed++;
  }
  nextChunk[c] = -1;
  return c;
}

/** Appends `x` as value number `k` of the chain whose last chunk is `tail` (-1: none); returns its last chunk. */
function chainAppend(tail: number, k: number, x: number): number {
  const off = k % CHUNK;
  if (off === 0) {
    const c = allocChunk();
    if (tail >= 0) nextChunk[tail] = c;
    tail = c;
  }
  arena[tail * CHUNK + off] = x;
  return tail;
}

/** Copies the first `n` values of the chain starting at chunk `head` to the start of `out`. */
function chainRead(head: number, n: number, out: Float64Array): void {
  const a = arena;
  let o = 0;
  for (let c = head; c >= 0 && o < n; c = nextChunk[c]) {
    const base = c * CHUNK, m = Math.min(CHUNK, n - o);
    for (let i = 0; i < m; i++) out[o + i] = a[base + i];
    o += m;
  }
}

/** Gives the chunks of the chain from `head` to `tail` back to the free list (nothing when `head` is -1). */
function chainRelease(head: number, tail: number): void {
  if (head >= 0) {
    nextChunk[tail] = freeChunk;
    freeChunk = head;
  }
}

/** Working copy of the sample being finished, shared: one sample at a time is finished. */
let scratch = new Float64Array(1024);
let scratchOwner: BoundedSample | null = null;

/** Default capacity of a {@linkcode BoundedSample}. */
export const DEFAULT_SAMPLE_CAPACITY = 4096;

/**
 * Keeps up to `capacity` values (in a shared arena, see `release`); past that, a uniform reservoir sample (with a
 * fixed seed, so output is reproducible). Quantiles are numpy's default (linear interpolation).
 *
 * @example
 * ```ts
 * import { BoundedSample } from "./stats.ts";
 * const s = new BoundedSample();
 * for (const x of [4, 1, 3, 2]) s.add(x);
 * console.log(s.quantile(0.5)); // 2.5
 * s.release();
 * ```
 */
export class BoundedSample implements ValueSink {
  /** First and last chunk of this sample's chain in the arena (-1: none yet). */
  private head = -1;
  private tail = -1;
  private n = 0;
  /** Values offered. */
  seen = 0;
  private rng = 0x9e3779b9;
  /** Chunk of each index (built when the reservoir starts replacing values). */
  private directory: Int32Array | null = null;
  /** True when the scratch copy (if this sample owns it) is sorted. */
  private sortedCopy = false;
  private readonly capacity: number;

  constructor(capacity: number = DEFAULT_SAMPLE_CAPACITY) {
    this.capacity = capacity;
  }

  /** Values kept. */
  get length(): number {
    return this.n;
  }

  /** Offers one value. */
  add(x: number): void {
    const i = this.seen++;
    if (scratchOwner === this) scratchOwner = null;
    if (i < this.capacity) {
      const k = this.n++;
      this.tail = chainAppend(this.tail, k, x);
      if (k === 0) this.head = this.tail;
      return;
    }
    // xorshift32 picks Algorithm R's slot.
    let r = this.rng;
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    this.rng = r;
    const j = (r >>> 0) % (i + 1);
    if (j < this.capacity) {
      let d = this.directory;
      if (d === null) {
        d = this.directory = new Int32Array(Math.ceil(this.capacity / CHUNK));
        for (let c = this.head, q = 0; c >= 0; c = nextChunk[c]) d[q++] = c;
      }
      arena[d[(j / CHUNK) | 0] * CHUNK + (j % CHUNK)] = x;
    }
  }

  /** True when every value offered is kept (quantiles are exact). */
  get exact(): boolean {
    return this.seen === this.n;
  }

  /** The values, in arrival order, copied into the shared scratch array (which this sample then owns). */
  private copy(): Float64Array {
    const n = this.n;
    if (scratch.length < n) scratch = new Float64Array(Math.max(n, scratch.length * 2));
    this.readInto(scratch);
    scratchOwner = this;
    this.sortedCopy = false;
    return scratch;
  }

  /** Copies the values, in arrival order, to the start of `w` (at least `length` long). */
  private readInto(w: Float64Array): void {
    chainRead(this.head, this.n, w);
  }

  /** The scratch copy of this sample, made if another sample (or an add) took it since. */
  private working(): Float64Array {
    return scratchOwner === this ? scratch : this.copy();
  }

  /** Sorts the working copy: insertion sort for short samples, the native sort for longer ones. */
  private sorted(): Float64Array {
    const w = this.working();
    if (!this.sortedCopy) {
      sortPrefix(w, this.n);
      this.sortedCopy = true;
    }
    return w;
  }

  /** The k-th smallest kept value (0-based, below `length`). */
  kth(k: number): number {
    const n = this.n;
    if (n <= SHORT) return this.sorted()[k];
    const w = this.working();
    return this.sortedCopy ? w[k] : select(w, n, k);
  }

  /** Quantile q in [0, 1] by linear interpolation (numpy's default); null when empty. */
  quantile(q: number): number | null {
    const n = this.n;
    if (n === 0) return null;
    if (n === 1) return arena[this.head * CHUNK];
    return interpolated(this, n, q);
  }

  /** The most common value (the smallest among ties) and its share of the sample; null when empty. */
  mode(): { value: number; ratio: number } | null {
    // One sort of the working copy; later quantiles then read it directly.
    return this.n === 0 ? null : sortedMode(this.sorted(), this.n);
  }

  /** The kept values, in arrival order (a copy). */
  values(): number[] {
    const w = new Float64Array(this.n);
    this.readInto(w);
    return Array.from(w);
  }

  /**
   * Gives the sample's storage back for later samples; call it when the flow is finished (the sample is empty
   * after). A sample dropped without it keeps its chunks of the arena for the life of the process.
   */
  release(): void {
    if (scratchOwner === this) scratchOwner = null;
    chainRelease(this.head, this.tail);
    this.head = this.tail = -1;
    this.n = this.seen = 0;
    this.directory = null;
  }
}

/** Sorts the first `n` values of `a` in place: insertion sort for short runs, the native sort otherwise. */
function sortPrefix(a: Float64Array, n: number): void {
  if (n <= SHORT) {
    for (let i = 1; i < n; i++) {
      const x = a[i];
      let j = i - 1;
      while (j >= 0 && a[j] > x) {
        a[j + 1] = a[j];
        j--;
      }
      a[j + 1] = x;
    }
  } else a.subarray(0, n).sort();
}

/** The most common of the first `n` (> 0) values of sorted `a`, the smallest among ties, and its share. */
function sortedMode(a: Float64Array, n: number): { value: number; ratio: number } {
  let best = 0, bestN = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j < n && a[j] === a[i]) j++;
    if (j - i > bestN) {
      best = a[i];
      bestN = j - i;
    }
    i = j;
  }
  return { value: best, ratio: bestN / n };
}

/** Quantile q of a set of n (> 0) values by linear interpolation between order statistics (numpy's default). */
function interpolated(values: { kth(k: number): number }, n: number, q: number): number {
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const a = values.kth(lo);
  if (pos === lo) return a;
  const b = values.kth(Math.min(lo + 1, n - 1));
  const t = pos - lo;
  // numpy's lerp, to the bit: from the nearer end (a + (b - a) * t alone was an ulp off for t >= 0.5).
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

/** Something values can be offered to: a {@linkcode BoundedSample} or {@linkcode SortedValues}. */
export interface ValueSink {
  /** Offers one value. */
  add(x: number): void;
}

/**
 * What a {@linkcode SeriesLog} moves a flow that outgrows its log to: values added one by one, then quantiles
 * and the mode, and its storage given back.
 */
export interface SeriesSample extends ValueSink {
  /** Quantile q in [0, 1] by linear interpolation (numpy's default); null when empty. */
  quantile(q: number): number | null;
  /** The most common value (the smallest among ties) and its share; null when empty. */
  mode(): { value: number; ratio: number } | null;
  /** Gives the storage back; the sample is empty after. */
  release(): void;
}

/**
 * Counts of integer values (packet lengths): exact quantiles and mode of any number of values while they take
 * at most `maxDistinct` different values, in memory bounded by that; past it (lengths that all differ), a
 * {@linkcode BoundedSample} of the values counted so far and of the later ones, so that memory stays bounded
 * whatever the values.
 *
 * @example
 * ```ts
 * import { IntegerCounts } from "./stats.ts";
 * const c = new IntegerCounts();
 * for (const x of [60, 1500, 60, 1500, 40]) c.add(x);
 * console.log(c.quantile(0.5), c.mode(), c.exact); // 60 { value: 60, ratio: 0.4 } true
 * ```
 */
export class IntegerCounts implements SeriesSample {
  private counts: Map<number, number> | null = new Map();
  /** The values once they took more than `maxDistinct` different values. */
  private sample: BoundedSample | null = null;
  private n = 0;
  /** Distinct values in ascending order and the count up to and including each, made by a quantile. */
  private keys: Float64Array | null = null;
  private cumulative: Float64Array | null = null;

  constructor(private readonly maxDistinct: number = 2048) {}

  /** Values counted. */
  get length(): number {
    return this.n;
  }

  /** True while every value is counted (quantiles and the mode are exact). */
  get exact(): boolean {
    return this.sample === null;
  }

  /** Counts one value. */
  add(x: number): void {
    this.n++;
    const counts = this.counts;
    if (counts === null) {
      this.sample!.add(x);
      return;
    }
    counts.set(x, (counts.get(x) ?? 0) + 1);
    this.keys = null;
    if (counts.size > this.maxDistinct) {
      // A uniform sample of what was counted (a reservoir's content does not depend on the order of its
      // values), then of every later value.
      const sample = new BoundedSample();
      for (const k of [...counts.keys()].sort((a, b) => a - b)) {
        for (let i = counts.get(k)!; i > 0; i--) sample.add(k);
      }
      this.sample = sample;
      this.counts = null;
    }
  }

  private index(): void {
    const counts = this.counts!;
    const keys = Float64Array.from(counts.keys()).sort();
    const cumulative = new Float64Array(keys.length);
    let c = 0;
    for (let i = 0; i < keys.length; i++) cumulative[i] = c += counts.get(keys[i])!;
    this.keys = keys;
    this.cumulative = cumulative;
  }

  /** The k-th smallest value counted (0-based, below `length`), while `exact`. */
  kth(k: number): number {
    if (this.keys === null) this.index();
    const keys = this.keys!, cum = this.cumulative!;
    let lo = 0, hi = keys.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > k) hi = mid;
      else lo = mid + 1;
    }
    return keys[lo];
  }

  /** Quantile q in [0, 1] by linear interpolation (numpy's default); null when empty. */
  quantile(q: number): number | null {
    if (this.sample !== null) return this.sample.quantile(q);
    return this.n === 0 ? null : interpolated(this, this.n, q);
  }

  /** The most common value (the smallest among ties) and its share; null when empty. */
  mode(): { value: number; ratio: number } | null {
    if (this.sample !== null) return this.sample.mode();
    if (this.n === 0) return null;
    let best = 0, bestN = 0;
    for (const [x, c] of this.counts!) {
      if (c > bestN || (c === bestN && x < best)) {
        best = x;
        bestN = c;
      }
    }
    return { value: best, ratio: bestN / this.n };
  }

  /** Forgets every value. */
  release(): void {
    this.sample?.release();
    this.sample = null;
    this.counts = new Map();
    this.n = 0;
    this.keys = this.cumulative = null;
  }
}

/**
 * Up to `capacity` values in one reused array, sorted once for quantiles and the mode: what a group's finish
 * reads its logged values into (see {@linkcode SeriesLog}), one flow at a time. Quantiles and the mode are those
 * of a {@linkcode BoundedSample} holding the same values, without its arena chunks and working copy.
 *
 * @example
 * ```ts
 * import { SortedValues } from "./stats.ts";
 * const v = new SortedValues(8);
 * for (const x of [4, 1, 3, 2]) v.add(x);
 * console.log(v.quantile(0.5), v.mode()); // 2.5 { value: 1, ratio: 0.25 }
 * v.clear();
 * ```
 */
export class SortedValues implements ValueSink {
  private readonly values: Float64Array;
  private n = 0;
  private sorted = true;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  /** Values held. */
  get length(): number {
    return this.n;
  }

  /** Adds one value (beyond the capacity, a RangeError). */
  add(x: number): void {
    if (this.n === this.values.length) throw new RangeError(`SortedValues: more than ${this.n} values`);
    this.values[this.n++] = x;
    this.sorted = false;
  }

  /** Empties it for the next flow. */
  clear(): void {
    this.n = 0;
    this.sorted = true;
  }

  private sortedValues(): Float64Array {
    if (!this.sorted) {
      sortPrefix(this.values, this.n);
      this.sorted = true;
    }
    return this.values;
  }

  /** The k-th smallest value (0-based, below `length`): sorted, or selected while a long run is unsorted. */
  kth(k: number): number {
    const n = this.n;
    if (n <= SHORT) return this.sortedValues()[k];
    return this.sorted ? this.values[k] : select(this.values, n, k);
  }

  /** Quantile q in [0, 1] by linear interpolation (numpy's default, as BoundedSample's); null when empty. */
  quantile(q: number): number | null {
    return this.n === 0 ? null : interpolated(this, this.n, q);
  }

  /** The most common value (the smallest among ties) and its share; null when empty. */
  mode(): { value: number; ratio: number } | null {
    return this.n === 0 ? null : sortedMode(this.sortedValues(), this.n);
  }
}

/**
 * The per-flow fields of a {@linkcode SeriesLog}, kept in a group's own state (start them at -1, -1, 0, null,
 * null, null).
 */
export interface SeriesState {
  /** First and last arena chunk of the flow's log (-1: none), and the values logged. */
  logHead: number;
  logTail: number;
  logN: number;
  /** The three series' samples, made only when the flow outgrows its log (then filled per packet). */
  allSample: SeriesSample | null;
  fwdSample: SeriesSample | null;
  bwdSample: SeriesSample | null;
}

/** A flow's three series at finish, as {@linkcode SeriesLog.finish} gives them. */
export interface FinishedSeries {
  all: SeriesSample | SortedValues;
  fwd: SeriesSample | SortedValues;
  bwd: SeriesSample | SortedValues;
}

/**
 * Decodes `n` logged values into the three series, in the order the packets came: each group encodes a
 * packet's value and direction in one number its own way.
 */
export type SeriesReplay = (
  log: Float64Array,
  n: number,
  all: ValueSink,
  fwd: ValueSink,
  bwd: ValueSink,
) => void;

/**
 * Three series of a flow's packets (all, the initiator's, the responder's) for medians, percentiles and the mode,
 * logged as one value per packet. Each packet appends to a log in the sample arena whose fields are part of the
 * group's own state, instead of adding to up to three {@linkcode BoundedSample}s: each sample is an object of its
 * own and a chunk of its own, and in a busy capture the flows interleave, so each was a cache miss per packet.
 * At finish the log is decoded into three {@linkcode SortedValues} reused from flow to flow. A flow that outgrows
 * the log moves to samples, which start with the logged values, so that its memory stays bounded; its group
 * then adds to them per packet. Either way the series hold the same values in the same order.
 *
 * @example
 * ```ts
 * import { SeriesLog, type SeriesState } from "./stats.ts";
 * // Initiator values as they are, responder values negated (values here are positive).
 * const lengths = new SeriesLog(4096, (log, n, all, fwd, bwd) => {
 *   for (let i = 0; i < n; i++) {
 *     all.add(Math.abs(log[i]));
 *     (log[i] > 0 ? fwd : bwd).add(Math.abs(log[i]));
 *   }
 * });
 * const s: SeriesState = { logHead: -1, logTail: -1, logN: 0, allSample: null, fwdSample: null, bwdSample: null };
 * for (const x of [60, -1500, 60, -1500, -40]) lengths.append(s, x);
 * const { all, fwd, bwd } = lengths.finish(s);
 * console.log(all.quantile(0.5), fwd.quantile(0.5), bwd.mode()); // 60 60 { value: 1500, ratio: 0.6666666666666666 }
 * lengths.release(s);
 * ```
 */
export class SeriesLog {
  private readonly copy: Float64Array;
  private readonly sorted: FinishedSeries & { all: SortedValues; fwd: SortedValues; bwd: SortedValues };
  private readonly finished: FinishedSeries;

  /**
   * `capacity`: values a flow logs before it moves to samples, made by `sample` (default: a
   * {@linkcode BoundedSample} of the same capacity; {@linkcode IntegerCounts} keeps integer series exact).
   */
  constructor(
    private readonly capacity: number,
    private readonly replay: SeriesReplay,
    private readonly sample: () => SeriesSample = () => new BoundedSample(),
  ) {
    this.copy = new Float64Array(capacity);
    const v = () => new SortedValues(capacity);
    this.sorted = { all: v(), fwd: v(), bwd: v() };
    this.finished = { ...this.sorted };
  }

  /**
   * Logs one packet's value. When the log is full, the flow moves to samples seeded with the logged values; its
   * group adds to `allSample`, `fwdSample` and `bwdSample` from then on.
   */
  append(s: SeriesState, x: number): void {
    const k = s.logN;
    if (k < this.capacity) {
      const t = chainAppend(s.logTail, k, x);
      if (k === 0) s.logHead = t;
      s.logTail = t;
      s.logN = k + 1;
    } else if (s.allSample === null) this.toSamples(s);
  }

  /**
   * Moves the flow to samples now, seeded with the logged values, if it is not there yet: for a value the log
   * cannot encode (a group that keeps the direction in the sign, given a negative time). Nothing is logged
   * after it: its group adds to the samples.
   */
  toSamples(s: SeriesState): void {
    if (s.allSample !== null) return;
    const all = s.allSample = this.sample();
    const fwd = s.fwdSample = this.sample();
    const bwd = s.bwdSample = this.sample();
    this.decode(s, all, fwd, bwd);
    chainRelease(s.logHead, s.logTail);
    s.logHead = s.logTail = -1;
    // Full: append logs nothing more.
    s.logN = this.capacity;
  }

  /** The flow's three series: its samples, or its logged values in the reused arrays (until the next finish). */
  finish(s: SeriesState): FinishedSeries {
    const f = this.finished;
    if (s.allSample !== null && s.fwdSample !== null && s.bwdSample !== null) {
      f.all = s.allSample;
      f.fwd = s.fwdSample;
      f.bwd = s.bwdSample;
    } else {
      const { all, fwd, bwd } = this.sorted;
      all.clear();
      fwd.clear();
      bwd.clear();
      this.decode(s, all, fwd, bwd);
      f.all = all;
      f.fwd = fwd;
      f.bwd = bwd;
    }
    return f;
  }

  /** Gives the flow's log and samples back to the arena, once it is finished. */
  release(s: SeriesState): void {
    s.allSample?.release();
    s.fwdSample?.release();
    s.bwdSample?.release();
    s.allSample = s.fwdSample = s.bwdSample = null;
    chainRelease(s.logHead, s.logTail);
    s.logHead = s.logTail = -1;
    s.logN = 0;
  }

  private decode(s: SeriesState, all: ValueSink, fwd: ValueSink, bwd: ValueSink): void {
    chainRead(s.logHead, s.logN, this.copy);
    this.replay(this.copy, s.logN, all, fwd, bwd);
  }
}

/**
 * A finite number or null: undefined values (0/0, empty sets) are never written as NaN or Infinity.
 *
 * @example
 * ```ts
 * import { num } from "./stats.ts";
 * console.log(num(1 / 0)); // null
 * ```
 */
export function num(x: number | null | undefined): number | null {
  return x === null || x === undefined || !Number.isFinite(x) ? null : x;
}

/**
 * a / b, or null when b is 0.
 *
 * @example
 * ```ts
 * import { ratio } from "./stats.ts";
 * console.log(ratio(1, 0)); // null
 * ```
 */
export function ratio(a: number, b: number): number | null {
  return b !== 0 ? num(a / b) : null;
}
