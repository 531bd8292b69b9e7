/**
 * Packet times at their edges, in captures built here: a gap of exactly the burst threshold at any time of day,
 * times before 1970 (a pcapng's offset) and after 2038 (a classic pcap's unsigned seconds, through both readers),
 * a pcapng simple packet block (no time) through both readers, and a last packet stamped before the first.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import {
  type CapPacket,
  ethernet,
  HAVE_TSHARK,
  ipv4,
  parseJsonl,
  pcapFile,
  pcapngFile,
  runCli,
  tcp,
  tsharkFields,
  udp,
  withTempDir,
} from "./helpers.ts";
import {
  columnsOf,
  fieldReader,
  FLOW_FIELDS,
  modelFlows,
  parseFlowFrame,
  tsharkRowsOf,
} from "./tshark_flows.ts";

const HAVE_LIBPCAP = tryLoadLibpcap() !== null;

/** A UDP packet of flow `n` (its source port) with `payload` bytes, from the initiator or the responder. */
function udpPacket(ts: number, n: number, payload: number, back = false): CapPacket {
  const u = back ? udp(53, 10000 + n, new Uint8Array(payload)) : udp(10000 + n, 53, new Uint8Array(payload));
  return {
    ts,
    data: ethernet(back ? ipv4("10.0.0.2", "10.0.0.1", 17, u) : ipv4("10.0.0.1", "10.0.0.2", 17, u)),
  };
}

async function extract(dir: string, name: string, bytes: Uint8Array, args: string[]): Promise<FlowRecord[]> {
  const file = `${dir}/${name}`;
  await Deno.writeFile(file, bytes);
  const r = await runCli(["extract", "-q", ...args, file]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonl(r.stdout);
}

Deno.test("a gap of exactly the burst threshold ends a burst at any time of day (timing and padding)", async () => {
  // 60 flows at times whose fractions differ: each has a gap of 50.000 ms (an idle period: "at least" the
  // threshold), then one of 49.999 ms (within the second burst). The doubles' rounding made the first gap a
  // little under 50 ms at most times of day, and the flow one burst.
  const packets: CapPacket[] = [];
  for (let n = 0; n < 60; n++) {
    const t0 = 1764000000 + n * 1.013 + n * 0.000137;
    packets.push(udpPacket(t0, n, 100), udpPacket(t0 + 0.05, n, 10), udpPacket(t0 + 0.05 + 0.049999, n, 10));
  }
  packets.sort((a, b) => a.ts - b.ts);
  await withTempDir(async (dir) => {
    const records = await extract(dir, "burst.pcap", pcapFile(1, packets), ["--features", "timing,padding"]);
    assert.equal(records.length, 60);
    // Bursts [100] and [10, 10]: payload over wire bytes (42 bytes of headers each) per burst, then the mean.
    const efficiency = (100 / 142 + 20 / 104) / 2;
    for (const r of records) {
      assert.equal(r.burst_count, 2, JSON.stringify(r));
      assert.equal(r.idle_count, 1);
      assert.equal(r.max_burst_packets, 2);
      assert.ok(
        Math.abs((r.avg_burst_payload_efficiency as number) - efficiency) < 1e-12,
        `${r.avg_burst_payload_efficiency}`,
      );
    }
  });
});

/** The columns of gaps and round trips, which shifting every time by the same amount must leave alone. */
const GAP_COLUMNS = [
  "duration",
  "iat_min",
  "iat_max",
  "iat_mean",
  "iat_median",
  "iat_sum",
  "iat_fwd_min",
  "iat_fwd_median",
  "iat_bwd_min",
  "iat_bwd_median",
  "burst_count",
  "idle_count",
  "first_response_time",
  "packets_per_second",
  "tcp_rtt_handshake",
  "avg_burst_payload_efficiency",
];

/** A UDP exchange and a TCP handshake with data, at `base` plus gaps that are exact in binary (1/64 s). */
function exchange(base: number): CapPacket[] {
  const g = 1 / 64;
  const t = (port: number, flags: number, back: boolean, at: number, seq: number, ack: number, data = 0) => {
    const seg = back
      ? tcp(80, port, flags, new Uint8Array(data), { seq, ack })
      : tcp(port, 80, flags, new Uint8Array(data), { seq, ack });
    return {
      ts: base + at,
      data: ethernet(back ? ipv4("10.0.0.2", "10.0.0.1", 6, seg) : ipv4("10.0.0.1", "10.0.0.2", 6, seg)),
    };
  };
  return [
    udpPacket(base, 1, 20),
    udpPacket(base + g, 1, 30, true),
    udpPacket(base + 2 * g, 1, 20),
    udpPacket(base + 6 * g, 1, 20),
    t(4000, 2, false, 8 * g, 100, 0),
    t(4000, 18, true, 9 * g, 500, 101),
    t(4000, 16, false, 10 * g, 101, 501),
    t(4000, 24, false, 11 * g, 101, 501, 40),
    t(4000, 16, true, 12 * g, 501, 141),
  ];
}

Deno.test("times before 1970 (a pcapng's negative if_tsoffset) give the same gaps as the same packets after it", async () => {
  await withTempDir(async (dir) => {
    const args = ["--features", "flow_meta,timing,padding,tcp_rtt,tcp_sequence"];
    const after = await extract(dir, "after.pcapng", pcapngFile(1, exchange(1764000000)), args);
    // Negative times: -2e9 s is in 1906. The offset is written in the interface, the ticks from it.
    const before = await extract(
      dir,
      "before.pcapng",
      pcapngFile(1, exchange(-2000000000), { tsOffset: -2000000100 }),
      args,
    );
    assert.equal(before.length, 2);
    assert.equal(before[0].start_time, -2000000000);
    for (let i = 0; i < 2; i++) {
      for (const c of GAP_COLUMNS) assert.equal(before[i][c], after[i][c], `${c} of flow ${i}`);
    }
    // Not null: the gaps were there (sentinel times of -1 read every negative time as none).
    assert.equal(after[0].iat_min, 1 / 64);
    assert.equal(after[1].tcp_rtt_handshake, 2 / 64);
  });
});

Deno.test({
  name: "a classic pcap's seconds past 2038 are unsigned through libpcap's reader too",
  ignore: !HAVE_LIBPCAP,
  async fn() {
    await withTempDir(async (dir) => {
      // 2^31 + 1 s (2038): libpcap sign-extends a classic pcap's seconds, which made the times 1901's.
      const packets = exchange(2147483649);
      const bytes = pcapFile(1, packets);
      const args = ["--features", "flow_meta,timing,tcp_rtt"];
      const builtin = await extract(dir, "y2038.pcap", bytes, ["--reader", "builtin", ...args]);
      const libpcap = await extract(dir, "y2038.pcap", bytes, ["--reader", "libpcap", ...args]);
      assert.equal(builtin[0].start_time, 2147483649);
      assert.deepEqual(libpcap, builtin);
      // And through libpcap's filter, which reads files with libpcap's reader.
      const filtered = await extract(dir, "y2038.pcap", bytes, ["--filter", "udp", ...args]);
      assert.deepEqual(filtered, [builtin[0]]);
    });
  },
});

Deno.test({
  name: "a pcapng simple packet block takes the last packet's time through both readers",
  ignore: !HAVE_LIBPCAP,
  async fn() {
    await withTempDir(async (dir) => {
      const [a, b, c] = [
        udpPacket(1764000000.5, 1, 10),
        udpPacket(0, 1, 10, true),
        udpPacket(1764000001, 1, 10),
      ];
      const bytes = pcapngFile(1, [a, { ...b, simple: true }, c]);
      const args = ["--features", "flow_meta,timing"];
      const builtin = await extract(dir, "spb.pcapng", bytes, ["--reader", "builtin", ...args]);
      assert.equal(builtin.length, 1);
      assert.equal(builtin[0].total_packets, 3);
      assert.deepEqual(builtin[0].iat_min, 0);
      const libpcap = await extract(dir, "spb.pcapng", bytes, ["--reader", "libpcap", ...args]);
      assert.deepEqual(libpcap, builtin);
      const filtered = await extract(dir, "spb.pcapng", bytes, ["--filter", "udp", ...args]);
      assert.deepEqual(filtered, builtin);
    });
  },
});

Deno.test("a last packet stamped before the first: a negative duration, and no rate", async () => {
  await withTempDir(async (dir) => {
    const records = await extract(
      dir,
      "back.pcap",
      pcapFile(1, [udpPacket(1764000010, 1, 10), udpPacket(1764000000, 1, 10, true)]),
      ["--features", "flow_meta"],
    );
    assert.equal(records.length, 1);
    assert.equal(records[0].duration, -10);
    assert.equal(records[0].packets_per_second, null);
    assert.equal(records[0].bytes_per_second, null);
  });
});

Deno.test("a burst threshold under a microsecond: packets at the same time are one burst", async () => {
  // The threshold less half a microsecond was below 0, so that a gap of 0 ended a burst.
  await withTempDir(async (dir) => {
    const t = 1764000000.5;
    const records = await extract(
      dir,
      "same.pcap",
      pcapFile(1, [udpPacket(t, 1, 10), udpPacket(t, 1, 10), udpPacket(t, 1, 10), udpPacket(t + 1, 1, 10)]),
      ["--burst-threshold-ms", "0.0004", "--features", "timing"],
    );
    assert.equal(records[0].burst_count, 2);
    assert.equal(records[0].idle_count, 1);
    assert.equal(records[0].max_burst_packets, 3);
  });
});

/** UDP packets of flow `n` at exact nanosecond times (since the epoch), alternately from each side. */
function exactPackets(n: number, times: bigint[]): CapPacket[] {
  return times.map((ns, i) => ({ ...udpPacket(0, n, 10, i % 2 === 1), ns }));
}

Deno.test({
  name: "gaps and durations are exact in a nanosecond capture, also eleven years after its first packet",
  fn: async () => {
    // Packets 500 ns apart: the doubles of epoch seconds (steps of 0.24 us) made the gaps 0.477 and 0.596 us,
    // a variance where there is none, and no constant rate. Flow 2 comes 11 years after flow 1 (the corpus's
    // dns.pcap is such a merge): times counted from the capture's first packet would pass 2^53 ns there.
    const t1 = 1_112_172_654_366_527_001n, t2 = 1_484_673_025_972_667_123n;
    const steps = [0n, 500n, 1000n, 1500n, 2000n];
    const packets = [
      ...exactPackets(1, steps.map((d) => t1 + d)),
      ...exactPackets(2, [t2, t2 + 3_477_000n, t2 + 3_477_500n]),
    ];
    const bytes = pcapFile(1, packets, { nano: true });
    await withTempDir(async (dir) => {
      for (const reader of HAVE_LIBPCAP ? ["builtin", "libpcap"] : ["builtin"]) {
        const [a, b] = await extract(dir, "nano.pcap", bytes, [
          "--reader",
          reader,
          "--features",
          "timing,padding,tcp_rtt",
          "--include-splt",
          "--include-sequences",
          "--max-sequence-length",
          "3",
        ]);
        const want = {
          duration: 2e-6,
          iat_min: 5e-7,
          iat_max: 5e-7,
          iat_mean: 5e-7,
          iat_std: 0,
          iat_median: 5e-7,
          iat_sum: 2e-6,
          iat_fwd_mean: 1e-6,
          iat_bwd_mean: 1e-6,
          first_response_time: 5e-7,
          iat_variance: 0,
          is_constant_rate: true,
          splt_times: [0, 5e-7, 5e-7],
          iat_sequence: [5e-7, 5e-7, 5e-7],
          timestamp_sequence: [0, 5e-7, 1e-6],
        };
        for (const [k, v] of Object.entries(want)) assert.deepEqual(a[k], v, `${reader}: ${k}`);
        assert.deepEqual(
          [b.start_time, b.duration, b.iat_min, b.iat_max, b.first_response_time, b.splt_times],
          [1484673025.972667123, 0.0034775, 5e-7, 0.003477, 0.003477, [0, 0.003477, 5e-7]],
          reader,
        );
      }
    });
  },
});

Deno.test({
  name:
    "timeouts to the nanosecond: a gap of a timeout keeps a flow, one a nanosecond longer ends it, at any time",
  fn: async () => {
    // 60 flows whose times have different fractions, in two captures. With an idle timeout of 1 s: packets at
    // t, t + 1 s (kept) and t + 2 s + 1 ns (a new flow). With an active timeout of 3 s: packets 0.9 s apart, then
    // at t + 3 s (kept) and t + 3 s + 1 ns (a new flow). The table compared its timeouts on doubles of epoch
    // seconds with half a microsecond of slack: it kept both at every time of day. A clock flow (port 9) has a
    // packet at each flow's t + 2 s + 1 ns and + 3 s + 1 ns too, before the flow's own: the timeouts pass by
    // the table's clock as by the flow's own packet.
    const base = 1_764_000_000_000_000_000n;
    const idle: CapPacket[] = [], active: CapPacket[] = [];
    for (let n = 0; n < 60; n++) {
      const t = base + BigInt(n) * 5_013_000_137n + BigInt(n * n * 7919);
      idle.push(...exactPackets(n, [t, t + 1_000_000_000n, t + 2_000_000_001n]));
      active.push(...exactPackets(n, [0n, 900n, 1800n, 2700n].map((ms) => t + ms * 1_000_000n)));
      active.push(...exactPackets(n, [t + 3_000_000_000n, t + 3_000_000_001n]));
      if (n % 2 === 0) {
        // Before the flow's own packets at the same times (stable sort below).
        idle.splice(idle.length - 1, 0, exactPackets(9000, [t + 2_000_000_001n])[0]);
        active.splice(active.length - 1, 0, exactPackets(9000, [t + 3_000_000_001n])[0]);
      }
    }
    const byTime = (a: CapPacket, b: CapPacket) => (a.ns! < b.ns! ? -1 : a.ns! > b.ns! ? 1 : 0);
    idle.sort(byTime);
    active.sort(byTime);
    const runs: [string, CapPacket[], string[], number[]][] = [
      ["idle", idle, ["--idle-timeout", "1"], [2, 1]],
      ["active", active, ["--idle-timeout", "1", "--active-timeout", "3"], [5, 1]],
    ];
    await withTempDir(async (dir) => {
      for (const [name, packets, timeouts, want] of runs) {
        const file = `${dir}/${name}.pcap`;
        const ways = [["--reader", "builtin"], ["--reader", "builtin", "--workers", "2"]];
        if (HAVE_LIBPCAP) ways.push(["--reader", "libpcap"]);
        let first: string | undefined;
        for (const way of ways) {
          const records = await extract(dir, `${name}.pcap`, pcapFile(1, packets, { nano: true }), [
            ...way,
            ...timeouts,
            "--features",
            "flow_meta",
          ]);
          const parts = new Map<number, number[]>();
          for (const r of records) {
            const port = r.src_port === 53 ? r.dst_port as number : r.src_port as number;
            if (port !== 19000) parts.set(port, [...parts.get(port) ?? [], r.total_packets as number]);
          }
          assert.equal(parts.size, 60, `${name} ${way}`);
          for (const [port, got] of parts) {
            assert.deepEqual(got, want, `${name} ${way}: flow ${port - 10000}`);
          }
          const text = JSON.stringify(records);
          if (first === undefined) first = text;
          else assert.equal(text, first, `${name} ${way}: the same records as one table's`);
        }
        if (!HAVE_TSHARK) continue;
        // tshark's times, split by the same timeouts in exact nanoseconds, give the same flows.
        const rows = (await tsharkRowsOf(file, FLOW_FIELDS))!;
        const cols = columnsOf(FLOW_FIELDS);
        const frames = rows.map((row) => parseFlowFrame(fieldReader(row, cols)).frame);
        const { model } = modelFlows(frames, () => 0, {
          idle: 1,
          active: name === "active" ? 3 : 1800,
        });
        const split = [...model.values()].filter((f) => f[0].sport !== 19000 && f[0].sport !== 53);
        assert.equal(split.length, 60);
        for (const flows of split) assert.deepEqual(flows.map((f) => f.pkts.length), want, `tshark ${name}`);
      }
    });
  },
});

Deno.test("flows whose last times are one double end in exact order, in one table and in shards", async () => {
  // A review's case: flow 2's packet stamped 50 ns before flow 1's, after it; flow 3 60 s + 1 ns after flow 2.
  // One table ended flow 2 at the end of input, 3 and 4 workers idle (the lists ordered them by the doubles).
  const t = 1_795_624_920_000_000_000n;
  const packets = [
    ...exactPackets(1, [t + 1000n]),
    ...exactPackets(2, [t + 950n]),
    ...exactPackets(3, [t + 60_000_000_951n]),
  ];
  await withTempDir(async (dir) => {
    const bytes = pcapFile(1, packets, { nano: true });
    for (const way of [[], ["--workers", "3"], ["--workers", "4"]]) {
      const records = await extract(dir, "tie.pcap", bytes, [...way, "--features", "flow_meta"]);
      assert.deepEqual(
        records.map((r) => [r.src_port, r.flow_end_reason]),
        [[10002, "idle"], [10001, "end"], [10003, "end"]],
        `${way}`,
      );
    }
  });
});

Deno.test({
  name:
    "pcapng interfaces counting in powers of two and in picoseconds: gaps cut to the nanosecond, as tshark",
  fn: async () => {
    // Units of 2^-32 and 2^-30 s: each time is cut to its nanosecond, as tshark and libpcap cut it, and gaps are
    // differences of those. Picoseconds (with an if_tsoffset, 64 bits of them reach only 213 days): the same,
    // where tshark 4.0's product overflows. The times used to come from the double of the seconds (0.24 us).
    const cases: [number, bigint, bigint, number][] = [[0xa0, 32n, 2048n, 0], [0x9e, 30n, 2048n, 0], [
      12,
      0n,
      500_000n,
      1764000000,
    ]];
    await withTempDir(async (dir) => {
      for (const [resol, bits, step, offset] of cases) {
        const units = bits > 0n ? 1n << bits : 10n ** BigInt(resol);
        const base = (1764000000n - BigInt(offset)) * units + units / 3n;
        const ticks = [0n, 1n, 2n, 3n, 4n].map((k) => base + k * step + k * k * 7n);
        const file = `${dir}/resol${resol}.pcapng`;
        await Deno.writeFile(
          file,
          pcapngFile(1, ticks.map((t, i) => ({ ...udpPacket(0, 1, 10, i % 2 === 1), ticks: t })), {
            tsresol: resol,
            tsOffset: offset,
          }),
        );
        // Each time's nanoseconds, cut; the gaps between them.
        const ns = ticks.map((t) => ((t % units) * 1_000_000_000n) / units);
        const gaps = [0, ...ns.slice(1).map((x, i) => Number(x - ns[i]) / 1e9)];
        if (HAVE_TSHARK && bits > 0n) {
          const delta = (await tsharkFields(file, ["frame.time_delta"])).map((r) => Number(r[0]));
          assert.deepEqual(delta, gaps, "the model is tshark's");
        }
        for (const reader of HAVE_LIBPCAP ? ["builtin", "libpcap"] : ["builtin"]) {
          const r = await runCli([
            "extract",
            "-q",
            "--reader",
            reader,
            "--features",
            "timing",
            "--include-splt",
            file,
          ]);
          assert.equal(r.code, 0, r.stderr);
          const [rec] = parseJsonl(r.stdout);
          assert.deepEqual(rec.splt_times, gaps, `${resol} ${reader}`);
          assert.equal(rec.duration, Number(ns[4] - ns[0]) / 1e9);
        }
      }
    });
  },
});

Deno.test("a burst threshold of a fraction of a nanosecond: a gap below it joins a burst, one at it or above ends one", async () => {
  // Gaps of 0, 0, 2, 0 and 2 ns. The threshold was rounded to whole nanoseconds: 2.4 ns became 2, so that gaps of
  // 2 ns (below it) ended bursts, and 0.4 ns became 0, so that gaps of 0 did.
  const t = 1_764_000_000_000_000_000n;
  const bytes = pcapFile(1, exactPackets(1, [t, t, t, t + 2n, t + 2n, t + 4n]), { nano: true });
  await withTempDir(async (dir) => {
    for (const [ms, bursts] of [["0.0000024", 1], ["0.0000004", 3], ["0.000002", 3]] as const) {
      const [r] = await extract(dir, "subns.pcap", bytes, [
        "--burst-threshold-ms",
        ms,
        "--features",
        "timing",
      ]);
      assert.equal(r.burst_count, bursts, ms);
    }
  });
});
