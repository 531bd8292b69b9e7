/**
 * `BoundedSample` keeps its values in chunks of a shared arena: samples that grow side by side, release their
 * chunks and get new ones must never see each other's values, and quantiles must stay numpy's.
 */
import assert from "node:assert/strict";
import { BoundedSample, IntegerCounts, integerVariance, RunningStats, SortedValues } from "../lib/stats.ts";
import { readCapture } from "../lib/capture_file.ts";
import { collect, ROOT } from "./helpers.ts";

/** numpy.quantile with linear interpolation, on a copy. */
/** numpy.percentile's linear method as numpy computes it (`_lerp`: from the nearer end of the interval). */
function npQuantile(values: number[], q: number): number {
  const v = [...values].sort((a, b) => a - b);
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  if (pos === lo) return v[lo];
  const a = v[lo], b = v[lo + 1], t = pos - lo;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

Deno.test("quantiles equal numpy's to the bit (np.percentile, values of a real flow)", () => {
  // Packet lengths of a flow of the corpus' chrome.pcap; np.percentile(x, 90) is 667.8000000000001 (a + (b - a)
  // * t gave 667.8000000000002).
  const lengths = [78, 74, 66, 701, 66, 326, 66, 146, 772, 66, 369, 66];
  for (const s of [new BoundedSample(), new SortedValues(64), new IntegerCounts()]) {
    for (const x of lengths) s.add(x);
    assert.equal(s.quantile(0.9), 667.8000000000001);
  }
});

Deno.test("quantiles and mode worked by hand", () => {
  const s = new BoundedSample();
  for (const x of [4, 1, 3, 2, 2]) s.add(x);
  // Sorted: 1 2 2 3 4. Median index 2 -> 2; p25 index 1 -> 2; p90 index 3.6 -> 3 + 0.6 * 1 = 3.6.
  assert.equal(s.quantile(0.5), 2);
  assert.equal(s.quantile(0.25), 2);
  assert.equal(s.quantile(0.9), 3.6);
  assert.deepEqual(s.mode(), { value: 2, ratio: 0.4 });
  assert.deepEqual(s.values(), [4, 1, 3, 2, 2]);
  s.release();
  assert.equal(s.length, 0);
  assert.equal(s.quantile(0.5), null);
  assert.equal(s.mode(), null);
});

Deno.test("SortedValues: numpy's quantiles and the mode, reused across flows, for short and long runs with ties", () => {
  const v = new SortedValues(5000);
  let seed = 11;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  // Lengths either side of the insertion-sort threshold (48); values from a few distinct ones (ties) or many.
  for (const n of [1, 2, 3, 47, 48, 49, 50, 500, 4999, 5000]) {
    for (const distinct of [3, 1000]) {
      const values = Array.from({ length: n }, () => Math.floor(rnd() * distinct) / 7);
      v.clear();
      for (const x of values) v.add(x);
      assert.equal(v.length, n);
      // Quantiles in an order that reads before and after the mode sorts (long runs select until then).
      for (const q of [0.5, 0.25, 0.99]) assert.equal(v.quantile(q), npQuantile(values, q), `n ${n} q ${q}`);
      const counts = new Map<number, number>();
      for (const x of values) counts.set(x, (counts.get(x) ?? 0) + 1);
      const top = Math.max(...counts.values());
      const value = Math.min(...[...counts].filter(([, c]) => c === top).map(([x]) => x));
      assert.deepEqual(v.mode(), { value, ratio: top / n });
      for (const q of [0.75, 0.9, 0, 1]) assert.equal(v.quantile(q), npQuantile(values, q), `n ${n} q ${q}`);
    }
  }
  v.clear();
  assert.equal(v.quantile(0.5), null);
  assert.equal(v.mode(), null);
  for (let i = 0; i < 5000; i++) v.add(i);
  assert.throws(() => v.add(1), RangeError);
});

Deno.test("IntegerCounts: numpy's quantiles and the mode of integer values, exact at any count", () => {
  let seed = 5;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  for (const n of [1, 2, 3, 10, 4097, 20000]) {
    for (const distinct of [2, 3, 1500]) {
      const values = Array.from({ length: n }, () => 40 + Math.floor(rnd() * distinct));
      const c = new IntegerCounts();
      for (const x of values) c.add(x);
      assert.equal(c.length, n);
      for (const q of [0.5, 0.25, 0.75, 0.9, 0, 1]) {
        assert.equal(c.quantile(q), npQuantile(values, q), `n ${n} distinct ${distinct} q ${q}`);
      }
      const counts = new Map<number, number>();
      for (const x of values) counts.set(x, (counts.get(x) ?? 0) + 1);
      const top = Math.max(...counts.values());
      const value = Math.min(...[...counts].filter(([, k]) => k === top).map(([x]) => x));
      assert.deepEqual(c.mode(), { value, ratio: top / n });
      c.add(values[0]);
      assert.equal(c.length, n + 1, "counting goes on after a quantile");
      c.release();
      assert.deepEqual([c.length, c.quantile(0.5), c.mode()], [0, null, null]);
    }
  }
  // Past maxDistinct different values: a uniform sample of everything counted, then of the later values.
  const c = new IntegerCounts(100);
  for (let i = 0; i < 100; i++) c.add(i % 10);
  assert.equal(c.exact, true);
  for (let i = 0; i < 20000; i++) c.add(1000 + i);
  assert.equal(c.exact, false);
  assert.equal(c.length, 20100);
  const median = c.quantile(0.5)!;
  assert.ok(median > 9000 && median < 13000, `${median}: about the median of 1000..20999`);
  c.release();
  assert.equal(c.exact, true);
});

Deno.test("samples growing side by side past chunk boundaries keep their own values", () => {
  const a = new BoundedSample(), b = new BoundedSample(), c = new BoundedSample();
  const va: number[] = [], vb: number[] = [], vc: number[] = [];
  for (let i = 0; i < 1000; i++) {
    va.push(i * 0.5);
    a.add(i * 0.5);
    if (i % 3 === 0) {
      vb.push(-i);
      b.add(-i);
    }
    if (i % 7 === 0) {
      vc.push(1000 + (i % 13));
      c.add(1000 + (i % 13));
    }
  }
  assert.deepEqual(a.values(), va);
  assert.deepEqual(b.values(), vb);
  assert.deepEqual(c.values(), vc);
  // Quantiles of one sample, then another, then the first again (the shared working copy changes hands).
  for (const q of [0.5, 0.25, 0.75, 0.9, 0.99]) {
    assert.equal(a.quantile(q), npQuantile(va, q), `a q${q}`);
    assert.equal(b.quantile(q), npQuantile(vb, q), `b q${q}`);
    assert.equal(c.quantile(q), npQuantile(vc, q), `c q${q}`);
  }
  assert.equal(a.quantile(0.5), 249.75);
  // c: 143 values, 1000 + (i % 13) for i = 0, 7, ..., 994; the most common remainder, smallest among ties.
  const counts = new Map<number, number>();
  for (const x of vc) counts.set(x, (counts.get(x) ?? 0) + 1);
  const top = Math.max(...counts.values());
  const want = Math.min(...[...counts].filter(([, n]) => n === top).map(([x]) => x));
  assert.deepEqual(c.mode(), { value: want, ratio: top / vc.length });

  // Released chunks are reused by new samples; the survivors and the newcomers stay apart.
  a.release();
  const d = new BoundedSample(), vd: number[] = [];
  for (let i = 0; i < 500; i++) {
    vd.push(7 + i);
    d.add(7 + i);
    b.add(0.25);
    vb.push(0.25);
  }
  assert.deepEqual(d.values(), vd);
  assert.deepEqual(b.values(), vb);
  assert.deepEqual(c.values(), vc);
  assert.equal(d.quantile(0.5), npQuantile(vd, 0.5));
  for (const s of [b, c, d]) s.release();
});

Deno.test("past its capacity a sample is a reproducible uniform reservoir of the values offered", () => {
  const run = () => {
    const s = new BoundedSample(50);
    for (let i = 0; i < 10000; i++) s.add(i);
    const kept = s.values();
    const r = { kept, seen: s.seen, exact: s.exact, length: s.length, median: s.quantile(0.5) };
    s.release();
    return r;
  };
  const r1 = run(), r2 = run();
  assert.equal(r1.length, 50);
  assert.equal(r1.seen, 10000);
  assert.equal(r1.exact, false);
  assert.deepEqual(r1, r2, "same seed, same sample");
  assert.equal(new Set(r1.kept).size, 50, "each kept value is a distinct offered value");
  for (const x of r1.kept) assert.ok(Number.isInteger(x) && x >= 0 && x < 10000);
  // Replacement happened throughout the stream, not only at its start.
  assert.ok(r1.kept.filter((x) => x >= 5000).length > 10, `kept ${r1.kept}`);
  assert.equal(r1.median, npQuantile(r1.kept, 0.5));
});

Deno.test("RunningStats: Welford's moments worked by hand", () => {
  const s = new RunningStats();
  for (const x of [2, 4, 4, 4, 5, 5, 7, 9]) s.add(x);
  assert.equal(s.mean, 5);
  assert.equal(s.std, 2);
  assert.equal(s.variance, 4);
  assert.equal(s.minOrNull, 2);
  assert.equal(s.maxOrNull, 9);
  assert.equal(s.sum, 40);
  assert.equal(new RunningStats().std, null);
});

Deno.test("integerVariance: the exact variance rounded once, also for values near 2^32 and past 2^53", () => {
  // 1..4: 1.25; the same shifted by 2^32 - 8 (Welford's lost 9 digits there).
  assert.equal(integerVariance(4, 1, 10, 14), 1.25);
  const big = 2 ** 32 - 8;
  assert.equal(integerVariance(4, big + 1, 4 * big + 10, 14), 1.25);
  // n * squares past 2^53: computed in big integers (1e6 values alternating 0 and 2^26: variance 2^50).
  assert.equal(integerVariance(1e6, 0, 5e5 * 2 ** 26, 5e5 * 2 ** 52), 2 ** 50);
  assert.equal(integerVariance(0, 0, 0, 0), null);
});

Deno.test("size: length means and variances are exact on real flows (the mean is total_bytes / total_packets)", async () => {
  // Real TCP flows of 1000 and 1500 packets: Welford's running mean ended at 853.4039999999995 for 853.404.
  for (const file of ["spurious_rst.pcap", "fastrt_nots.pcap", "rtt50_sender.pcap"]) {
    const path = `${ROOT}/testdata/tcp_loss/${file}`;
    // The wire lengths, as the reader gives them (one flow per capture).
    const lengths: number[] = [];
    const input = await Deno.open(path);
    await readCapture(input, (_ts, _buf, _off, _cap, wireLen) => void lengths.push(wireLen));
    input.close();
    const n = BigInt(lengths.length);
    const sum = lengths.reduce((a, x) => a + BigInt(x), 0n);
    const squares = lengths.reduce((a, x) => a + BigInt(x) * BigInt(x), 0n);
    const { records } = await collect(path, { features: ["flow_meta", "size", "padding"] });
    assert.equal(records.length, 1, file);
    const r = records[0];
    assert.equal(r.total_packets, lengths.length, file);
    assert.equal(r.pkt_len_mean, Number(sum) / Number(n), file);
    assert.equal(r.pkt_len_mean, r.avg_packet_size, file);
    const variance = Number(n * squares - sum * sum) / Number(n * n); // both below 2^53: rounded once
    assert.equal(r.pkt_len_variance, variance, file);
    assert.equal(r.pkt_size_variance, variance, file);
    assert.equal(r.pkt_len_std, Math.sqrt(variance), file);
  }
});
