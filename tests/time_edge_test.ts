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
  ipv4,
  parseJsonl,
  pcapFile,
  pcapngFile,
  runCli,
  tcp,
  udp,
  withTempDir,
} from "./helpers.ts";

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
