/**
 * Incremental statistics for per-flow features: running moments (exact for any flow length) and a bounded
 * sample for medians and percentiles (exact up to its capacity, a uniform reservoir sample beyond it).
 *
 * @module
 */

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
    return this.n > 0 ? Math.sqrt(Math.max(0, this.m2 / this.n)) : null;
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

/** Samples up to this size are sorted by insertion; longer ones use selection (quickselect). */
const SHORT = 48;

/**
 * Moves the k-th smallest element of `a` to index k (Hoare's quickselect with a median-of-three pivot) and
 * returns it. O(n) on average; repeated calls on the same array get cheaper as it becomes partitioned.
 */
function select(a: Float64Array, k: number): number {
  let left = 0, right = a.length - 1;
  while (right > left) {
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

function emptyDoubles(): number[] {
  const a = [0.5];
  a.length = 0;
  return a;
}

/** Default capacity of a {@linkcode BoundedSample}. */
export const DEFAULT_SAMPLE_CAPACITY = 4096;

/**
 * Keeps up to `capacity` values in a growing Float64Array; past that, a uniform reservoir sample (with a fixed
 * seed, so output is reproducible). Quantiles are numpy's default (linear interpolation).
 *
 * @example
 * ```ts
 * import { BoundedSample } from "./stats.ts";
 * const s = new BoundedSample();
 * for (const x of [4, 1, 3, 2]) s.add(x);
 * console.log(s.quantile(0.5)); // 2.5
 * ```
 */
export class BoundedSample {
  // A plain array: cheaper than a typed array to create per flow, and most flows are short. It starts as an
  // array of doubles (then emptied) so that every sample shares one elements kind and `push` stays monomorphic
  // whether the values are integers (lengths) or not (gaps).
  private data: number[] = emptyDoubles();
  /** Values offered. */
  seen = 0;
  private rng = 0x9e3779b9;
  private sorted: ArrayLike<number> | null = null;
  private work: Float64Array | null = null;
  private fullySorted = false;
  private readonly capacity: number;

  constructor(capacity: number = DEFAULT_SAMPLE_CAPACITY) {
    this.capacity = capacity;
  }

  /** Values kept. */
  get length(): number {
    return this.data.length;
  }

  /** Offers one value. */
  add(x: number): void {
    const i = this.seen++;
    this.sorted = null;
    if (i < this.capacity) {
      this.data.push(x);
      return;
    }
    // xorshift32 picks Algorithm R's slot.
    let r = this.rng;
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    this.rng = r;
    const j = (r >>> 0) % (i + 1);
    if (j < this.capacity) this.data[j] = x;
  }

  /** True when every value offered is kept (quantiles are exact). */
  get exact(): boolean {
    return this.seen === this.data.length;
  }

  /** Sorts a short sample in place (insertion sort); longer ones use selection instead of a full sort. */
  private sortShort(): number[] {
    const d = this.data;
    if (this.sorted === null) {
      for (let i = 1; i < d.length; i++) {
        const x = d[i];
        let j = i - 1;
        while (j >= 0 && d[j] > x) {
          d[j + 1] = d[j];
          j--;
        }
        d[j + 1] = x;
      }
      this.sorted = d;
    }
    return d;
  }

  /** The k-th smallest kept value (0-based). */
  private kth(k: number): number {
    const n = this.data.length;
    if (n <= SHORT) return this.sortShort()[k];
    let w = this.work;
    if (w === null || this.sorted === null) {
      w = this.work = Float64Array.from(this.data);
      this.sorted = w;
      this.fullySorted = false;
    }
    return this.fullySorted ? w[k] : select(w, k);
  }

  /** Quantile q in [0, 1] by linear interpolation (numpy's default); null when empty. */
  quantile(q: number): number | null {
    const n = this.data.length;
    if (n === 0) return null;
    if (n === 1) return this.data[0];
    const pos = q * (n - 1);
    const lo = Math.floor(pos);
    const a = this.kth(lo);
    if (pos === lo) return a;
    const b = this.kth(Math.min(lo + 1, n - 1));
    return a + (b - a) * (pos - lo);
  }

  /** The most common value (the smallest among ties) and its share of the sample; null when empty. */
  mode(): { value: number; ratio: number } | null {
    const n = this.data.length;
    if (n === 0) return null;
    let v: ArrayLike<number>;
    if (n <= SHORT) v = this.sortShort();
    else {
      // One native sort of the working copy; later quantiles then read it directly.
      const w = Float64Array.from(this.data).sort();
      this.work = w;
      this.sorted = w;
      this.fullySorted = true;
      v = w;
    }
    let best = 0, bestN = 0;
    for (let i = 0; i < n;) {
      let j = i;
      while (j < n && v[j] === v[i]) j++;
      if (j - i > bestN) {
        best = v[i];
        bestN = j - i;
      }
      i = j;
    }
    return { value: best, ratio: bestN / n };
  }

  /** The kept values (in arrival order until a quantile of a short sample was asked, sorted after). */
  values(): readonly number[] {
    return this.data;
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
