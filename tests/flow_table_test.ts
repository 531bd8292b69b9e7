/**
 * The flow table: who the initiator is, idle and active timeouts, the optional end on FIN/RST, LRU eviction
 * under `maxFlows`, the order flows leave in, and streaming (records come out before the input ends). Tested
 * on the table directly (hand-filled PacketViews), on hand-made pcaps, and on real captures.
 */
import assert from "node:assert/strict";
import { FlowTable, type FlowTableOptions } from "../lib/flow_table.ts";
import type { FlowState } from "../lib/flow.ts";
import { PacketView } from "../lib/packet.ts";
import type { FeatureExtractor, FlowRecord } from "../lib/extractor.ts";
import { extractFlows } from "../lib/extract.ts";
import {
  byteStream,
  cap,
  collect,
  concat,
  ethernet,
  F,
  HAVE_SHARED,
  ipBytes,
  ipv4,
  pcapFile,
  rng,
  tcp,
  udp,
} from "./helpers.ts";

/** A PacketView as the decoder would fill it for a TCP/UDP packet between two IPv4 or IPv6 endpoints. */
function view(
  ts: number,
  src: string,
  sport: number,
  dst: string,
  dport: number,
  opts: {
    proto?: number;
    flags?: number;
    wireLen?: number;
    payloadLen?: number;
    seq?: number;
    ack?: number;
    /** The exact time, whole seconds and nanoseconds, as a reader gives it with `ts`. */
    exact?: [number, number];
  } = {},
): PacketView {
  const p = new PacketView();
  p.reset();
  const s = ipBytes(src), d = ipBytes(dst);
  p.buf = concat([0xee, 0xee], s, d);
  p.srcAddrOff = 2;
  p.dstAddrOff = 2 + s.length;
  p.ipVersion = s.length === 4 ? 4 : 6;
  p.proto = opts.proto ?? 6;
  p.srcPort = sport;
  p.dstPort = dport;
  p.ts = ts;
  // Its exact time; without one, as the decoder takes it from a time without nanoseconds.
  p.tsSec = opts.exact?.[0] ?? Math.floor(ts);
  p.tsNsec = opts.exact?.[1] ?? Math.min(Math.round((ts - p.tsSec) * 1e9), 999999999);
  p.wireLen = opts.wireLen ?? 60;
  p.payloadLen = opts.payloadLen ?? 0;
  p.tcpFlags = opts.flags ?? F.ACK;
  p.tcpSeq = opts.seq ?? 0;
  p.tcpAck = opts.ack ?? 0;
  p.tcpHdrLen = p.proto === 6 ? 20 : 0;
  return p;
}

/** A table that records ended flows (and their end reasons) in order. */
function table(options: FlowTableOptions): { t: FlowTable; ended: FlowState[]; reasons: string[] } {
  const ended: FlowState[] = [];
  const reasons: string[] = [];
  const t = new FlowTable(options, (f) => {
    ended.push(f);
    reasons.push(f.endReason);
  }, () => {});
  return { t, ended, reasons };
}

/** Feeds a packet the way the pipeline does (add, then afterPacket). */
function feed(t: FlowTable, p: PacketView): FlowState {
  const f = t.add(p);
  assert.ok(f, "the table kept the packet's flow (no sampling or shards here)");
  t.afterPacket(f);
  return f;
}

/** An Ethernet/IPv4 frame of a TCP or UDP packet. */
function frame(
  src: string,
  sport: number,
  dst: string,
  dport: number,
  proto: 6 | 17,
  flags: number = F.ACK,
  n = 0,
  seq?: { seq: number; ack: number },
): Uint8Array {
  const payload = new Uint8Array(n).fill(0x61);
  return ethernet(
    ipv4(src, dst, proto, proto === 6 ? tcp(sport, dport, flags, payload, seq) : udp(sport, dport, payload)),
  );
}

// ---------------------------------------------------------------------------------------------------------
// initiator

Deno.test("initiator: the sender of a flow's first packet is src, whichever endpoint sorts first", () => {
  const { t, ended } = table({});
  // The first packet comes from the endpoint that sorts last (higher address); a reply follows.
  const f = feed(t, view(1, "10.0.0.9", 80, "10.0.0.1", 40000, { flags: F.SYN | F.ACK }));
  assert.equal(t.lastDir, 0);
  assert.equal(t.lastCreated, true);
  feed(t, view(2, "10.0.0.1", 40000, "10.0.0.9", 80));
  assert.equal(t.lastDir, 1);
  assert.equal(t.lastCreated, false);
  feed(t, view(3, "10.0.0.9", 80, "10.0.0.1", 40000));
  t.flushAll();
  assert.equal(ended.length, 1);
  assert.equal(ended[0], f);
  assert.deepEqual([f.srcIp, f.srcPort, f.dstIp, f.dstPort], ["10.0.0.9", 80, "10.0.0.1", 40000]);
  assert.deepEqual(f.packets, [2, 1]);
  assert.equal(f.endReason, "end");
  // Same addresses: ports decide the canonical order; still the first sender is src.
  const g = table({});
  const h = feed(g.t, view(1, "::1", 9000, "::1", 53, { proto: 17 }));
  feed(g.t, view(2, "::1", 53, "::1", 9000, { proto: 17 }));
  assert.equal(g.t.lastDir, 1);
  assert.deepEqual([h.srcIp, h.srcPort, h.dstPort, h.packets[0], h.packets[1]], ["::1", 9000, 53, 1, 1]);
});

Deno.test("initiator: extractFlows reports the first sender as src_ip/src_port (hand-made pcap)", async () => {
  const pkts = [
    { ts: 100, data: frame("192.168.1.20", 443, "192.168.1.10", 51000, 6, F.ACK | F.PSH, 100) },
    { ts: 100.5, data: frame("192.168.1.10", 51000, "192.168.1.20", 443, 6, F.ACK) },
  ];
  const { records } = await collect(byteStream(pcapFile(1, pkts)), { features: ["flow_meta"] });
  assert.equal(records.length, 1);
  const r = records[0];
  assert.deepEqual([r.src_ip, r.src_port, r.dst_ip, r.dst_port], [
    "192.168.1.20",
    443,
    "192.168.1.10",
    51000,
  ]);
  assert.deepEqual([r.packets_fwd, r.packets_bwd, r.bytes_fwd, r.bytes_bwd], [1, 1, 154, 54]);
});

// ---------------------------------------------------------------------------------------------------------
// timeouts

Deno.test("idle timeout: a 120 s gap splits a flow (default 60 s); a 59 s gap does not", async () => {
  const mk = (gap: number) =>
    pcapFile(1, [
      { ts: 1000, data: frame("10.0.0.1", 5000, "10.0.0.2", 53, 17) },
      { ts: 1000 + gap, data: frame("10.0.0.1", 5000, "10.0.0.2", 53, 17) },
    ]);
  const split = await collect(byteStream(mk(120)), { features: ["flow_meta"] });
  assert.equal(split.records.length, 2);
  assert.deepEqual(split.records.map((r) => [r.start_time, r.total_packets, r.flow_end_reason]), [
    [1000, 1, "idle"],
    [1120, 1, "end"],
  ]);
  const kept = await collect(byteStream(mk(59)), { features: ["flow_meta"] });
  assert.deepEqual(kept.records.map((r) => [r.total_packets, r.duration, r.flow_end_reason]), [[
    2,
    59,
    "end",
  ]]);
  // The idle timeout is an option.
  const short = await collect(byteStream(mk(59)), { features: ["flow_meta"], idleTimeout: 30 });
  assert.equal(short.records.length, 2);
});

Deno.test("idle timeout on the table: expiry happens on a later packet of any flow, or on expire()", () => {
  const { t, reasons, ended } = table({ idleTimeout: 10 });
  feed(t, view(0, "10.0.0.1", 1, "10.0.0.2", 2));
  feed(t, view(5, "10.0.0.3", 1, "10.0.0.4", 2));
  assert.equal(ended.length, 0);
  feed(t, view(12, "10.0.0.5", 1, "10.0.0.6", 2)); // 12 > 0 + 10: the first flow ends
  assert.deepEqual(ended.map((f) => f.srcIp), ["10.0.0.1"]);
  t.expire(15.5); // 15.5 > 5 + 10
  assert.deepEqual(ended.map((f) => f.srcIp), ["10.0.0.1", "10.0.0.3"]);
  assert.equal(t.size, 1);
  t.flushAll();
  assert.deepEqual(reasons, ["idle", "idle", "end"]);
  assert.equal(t.size, 0);
});

Deno.test("a clock that steps back (merged captures): a flow's own late packet still ends it on idle/active", () => {
  const { t, ended } = table({ idleTimeout: 60, activeTimeout: 300 });
  feed(t, view(5000, "10.0.0.9", 1, "10.0.0.8", 2)); // the latest time seen is now 5000
  // From here on no packet raises the latest time, so the table-wide expiry never runs.
  feed(t, view(100, "10.0.0.1", 1000, "10.0.0.2", 500));
  feed(t, view(150, "10.0.0.2", 500, "10.0.0.1", 1000)); // 50 s later: same flow
  feed(t, view(250, "10.0.0.1", 1000, "10.0.0.2", 500)); // 100 s after its last packet: a new flow
  for (let ts = 290; ts <= 530; ts += 40) feed(t, view(ts, "10.0.0.1", 1000, "10.0.0.2", 500));
  t.flushAll();
  assert.deepEqual(
    ended.filter((f) => f.srcIp === "10.0.0.1").map((
      f,
    ) => [f.firstTs, f.lastTs, f.packets[0] + f.packets[1], f.endReason]),
    [
      [100, 150, 2, "idle"],
      [250, 530, 8, "end"],
    ],
  );
  // The second flow started at 250: a packet after 250 + 300 ends it on the active timeout.
  const again = table({ idleTimeout: 60, activeTimeout: 300 });
  feed(again.t, view(5000, "10.0.0.9", 1, "10.0.0.8", 2));
  for (let ts = 250; ts <= 610; ts += 40) feed(again.t, view(ts, "10.0.0.1", 1000, "10.0.0.2", 500));
  again.t.flushAll();
  assert.deepEqual(
    again.ended.filter((f) => f.srcIp === "10.0.0.1").map((f) => [f.firstTs, f.lastTs, f.endReason]),
    [
      [250, 530, "active"],
      [570, 610, "end"],
    ],
  );
});

Deno.test("active timeout: a long flow is cut every activeTimeout seconds", () => {
  const { t, ended } = table({ idleTimeout: 60, activeTimeout: 30 });
  for (let ts = 0; ts <= 100; ts += 10) feed(t, view(ts, "10.0.0.1", 1000, "10.0.0.2", 80));
  t.flushAll();
  assert.deepEqual(ended.map((f) => [f.firstTs, f.lastTs, f.packets[0], f.endReason]), [
    [0, 30, 4, "active"],
    [40, 70, 4, "active"],
    [80, 100, 3, "end"],
  ]);
});

Deno.test("active timeout 0 never cuts; via extractFlows the option is activeTimeout", async () => {
  const pkts = [];
  for (let i = 0; i <= 20; i++) {
    pkts.push({ ts: 1000 + 50 * i, data: frame("10.0.0.1", 1000, "10.0.0.2", 80, 6) });
  }
  const bytes = pcapFile(1, pkts);
  const never = await collect(byteStream(bytes), { features: ["flow_meta"], activeTimeout: 0 });
  assert.deepEqual(never.records.map((r) => [r.total_packets, r.flow_end_reason]), [[21, "end"]]);
  const cut = await collect(byteStream(bytes), { features: ["flow_meta"], activeTimeout: 400 });
  assert.deepEqual(cut.records.map((r) => [r.start_time, r.total_packets, r.flow_end_reason]), [
    [1000, 9, "active"],
    [1450, 9, "active"],
    [1900, 3, "end"],
  ]);
});

Deno.test("a packet far in the future does not stop the timeouts: the clock steps back with the next packet", () => {
  const { t, ended } = table({ idleTimeout: 60 });
  feed(t, view(1000, "10.0.0.1", 1, "10.0.0.2", 2, { proto: 17 }));
  feed(t, view(4e9, "10.9.9.9", 9, "10.9.9.8", 9, { proto: 17 })); // a stray time: every flow's timeout passed
  for (let i = 0; i < 5; i++) {
    feed(t, view(1100 + 100 * i, "10.0.0.1", 100 + i, "10.0.0.2", 53, { proto: 17 }));
  }
  const summary = () => ended.map((f) => [f.firstTs, f.endReason]);
  // The stray flow ends when the clock steps back (as at the end of an input); then each flow ends idle.
  assert.deepEqual(summary(), [
    [1000, "idle"],
    [4e9, "end"],
    [1100, "idle"],
    [1200, "idle"],
    [1300, "idle"],
    [1400, "idle"],
  ]);
  assert.equal(t.size, 1);
  // A step back within the idle timeout (packets slightly out of order) ends nothing.
  feed(t, view(1450, "10.0.0.3", 7, "10.0.0.4", 7, { proto: 17 }));
  assert.equal(ended.length, 6);
  assert.equal(t.size, 2);
  // A step back of exactly the idle timeout (microsecond times as the readers make them, seconds + us / 1e6) is
  // not more than it: it ended the flows after the new time at some times of day (25 of 60 fractions of a
  // second, a review's hand-made captures) and not at others.
  for (let k = 0; k < 60; k++) {
    const us = Math.round((k / 60) * 1e6), at = (d: number) => 1795624920 + (us + d) / 1e6;
    const udp = (d: number) => ({
      proto: 17,
      exact: [1795624920 + Math.floor((us + d) / 1e6), ((us + d) % 1e6) * 1000] as [number, number],
    });
    const s = table({ idleTimeout: 0.1 });
    feed(s.t, view(at(0), "10.5.0.1", 3002, "10.5.0.2", 53, udp(0)));
    feed(s.t, view(at(100000), "10.5.0.1", 4002, "10.5.0.2", 53, udp(100000)));
    feed(s.t, view(at(0), "10.5.0.1", 5002, "10.5.0.2", 53, udp(0)));
    feed(s.t, view(at(150000), "10.5.0.1", 4002, "10.5.0.2", 53, udp(150000)));
    s.t.flushAll();
    const b = s.ended.filter((f) => f.srcPort === 4002);
    assert.deepEqual(b.map((f) => f.packets[0]), [2], `fraction ${us} us`);
  }
  // To the nanosecond: a step back of exactly the idle timeout ends nothing, one a nanosecond more ends the flows
  // after the new time.
  for (const [back, ends] of [[0, 0], [1, 1]]) {
    const s = table({ idleTimeout: 0.1 });
    const at = (ns: number) => ({ proto: 17, exact: [1795624920, 300_000_000 + ns] as [number, number] });
    feed(s.t, view(1795624920.3, "10.6.0.1", 1, "10.6.0.2", 53, at(0)));
    feed(s.t, view(1795624920.4, "10.6.0.1", 2, "10.6.0.2", 53, at(100_000_000)));
    feed(s.t, view(1795624920.3, "10.6.0.1", 3, "10.6.0.2", 53, at(-back)));
    assert.deepEqual(
      s.ended.map((f) => [f.srcPort, f.endReason]),
      ends ? [[1, "end"], [2, "end"]] : [],
      `${back}`,
    );
  }
  // Packets alternating between two clocks 4000 s apart (two flows on the earlier one): every switch back ends
  // the later clock's flow, every switch forward expires the earlier clock's flows; a step back ends only the
  // flows after the new time, found from the end of the list.
  const two = table({ idleTimeout: 60 });
  for (let i = 0; i < 50; i++) {
    feed(two.t, view(4000 + i, "10.1.0.1", 1, "10.1.0.2", 2, { proto: 17 }));
    feed(two.t, view(i, "10.2.0.1", 1, "10.2.0.2", 2, { proto: 17 }));
    feed(two.t, view(i, "10.3.0.1", 1, "10.3.0.2", 2, { proto: 17 }));
  }
  assert.deepEqual([two.ended.length, two.t.size], [148, 2]);
  assert.ok(two.ended.every((f) => f.packets[0] === 1 && f.packets[1] === 0));
  assert.deepEqual(
    two.ended.slice(0, 3).map((f) => [f.firstTs, f.endReason]),
    [[4000, "end"], [0, "idle"], [0, "idle"]],
  );
});

// ---------------------------------------------------------------------------------------------------------
// TCP end

Deno.test("tcpEnd: a flow ends with the acknowledgement of the second FIN, or on RST; off by default", () => {
  // Client sequence numbers from 100, server's from 500 (as a real stack numbers them).
  const conv = (t: FlowTable) => {
    feed(t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.SYN, seq: 100 }));
    feed(t, view(0.1, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.SYN | F.ACK, seq: 500, ack: 101 }));
    feed(t, view(0.2, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.ACK, seq: 101, ack: 501 }));
    feed(t, view(0.3, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.FIN | F.ACK, seq: 101, ack: 501 }));
    feed(t, view(0.4, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 102 }));
    feed(t, view(0.5, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.ACK, seq: 102, ack: 502 }));
    t.flushAll();
  };
  const on = table({ tcpEnd: true });
  conv(on.t);
  // The flow ends with the last ACK, which acknowledges the second FIN (not a flow of its own).
  assert.deepEqual(on.ended.map((f) => [f.packets[0] + f.packets[1], f.endReason]), [[6, "fin"]]);
  // A retransmitted second FIN stays in the flow, which ends at the ACK of it.
  const again = table({ tcpEnd: true });
  feed(again.t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.FIN | F.ACK, seq: 101, ack: 501 }));
  feed(again.t, view(0.1, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 102 }));
  feed(again.t, view(0.3, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 102 }));
  assert.equal(again.ended.length, 0);
  feed(again.t, view(0.4, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.ACK, seq: 102, ack: 502 }));
  assert.deepEqual(again.ended.map((f) => [f.packets[0], f.packets[1], f.endReason]), [[2, 2, "fin"]]);
  // FINs that cross (neither acknowledges the other): the flow ends at the second of the two last ACKs, not
  // at the first (the other one became a flow of its own); a FIN sent again after both were acknowledged
  // does not end it either.
  const cross = table({ tcpEnd: true });
  feed(cross.t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.FIN | F.ACK, seq: 101, ack: 501 }));
  feed(cross.t, view(0.1, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 101 }));
  feed(cross.t, view(0.2, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.ACK, seq: 102, ack: 502 }));
  assert.equal(cross.ended.length, 0);
  feed(cross.t, view(0.3, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 102 }));
  assert.equal(cross.ended.length, 0);
  feed(cross.t, view(0.4, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.ACK, seq: 502, ack: 102 }));
  assert.deepEqual(cross.ended.map((f) => [f.packets[0], f.packets[1], f.endReason]), [[2, 3, "fin"]]);
  // The last ACK not captured, then a new connection on the same ports: its SYN starts a flow of its own.
  const reuse = table({ tcpEnd: true });
  feed(reuse.t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.FIN | F.ACK, seq: 101, ack: 501 }));
  feed(reuse.t, view(0.1, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.FIN | F.ACK, seq: 501, ack: 102 }));
  // (The server's FIN came second, so the client's SYN would otherwise be taken for the last ACK.)
  const syn = feed(reuse.t, view(5, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.SYN }));
  assert.deepEqual(reuse.ended.map((f) => [f.packets[0], f.packets[1], f.endReason]), [[1, 1, "fin"]]);
  assert.deepEqual([syn.packets[0], syn.firstTs, syn.srcPort], [1, 5, 40000], "the SYN starts the new flow");
  const off = table({});
  conv(off.t);
  assert.deepEqual(off.ended.map((f) => [f.packets[0] + f.packets[1], f.endReason]), [[6, "end"]]);

  const rst = table({ tcpEnd: true });
  feed(rst.t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.SYN }));
  feed(rst.t, view(0.1, "10.0.0.2", 80, "10.0.0.1", 40000, { flags: F.RST | F.ACK }));
  assert.deepEqual(rst.ended.map((f) => [f.packets[0], f.packets[1], f.endReason]), [[1, 1, "rst"]]);
  assert.equal(rst.t.size, 0);
  // A single FIN does not end the flow; UDP is never ended early.
  const one = table({ tcpEnd: true });
  feed(one.t, view(0, "10.0.0.1", 40000, "10.0.0.2", 80, { flags: F.FIN | F.ACK }));
  feed(one.t, view(0, "10.0.0.1", 53, "10.0.0.2", 53, { proto: 17, flags: F.RST }));
  assert.equal(one.ended.length, 0);
  assert.equal(one.t.size, 2);
});

Deno.test("tcpEnd through extractFlows: flow_end_reason fin / rst", async () => {
  const a = "10.1.1.1", b = "10.2.2.2";
  const pkts = [
    { ts: 1, data: frame(a, 40000, b, 80, 6, F.SYN, 0, { seq: 100, ack: 0 }) },
    { ts: 1.1, data: frame(b, 80, a, 40000, 6, F.SYN | F.ACK, 0, { seq: 500, ack: 101 }) },
    { ts: 1.2, data: frame(a, 40000, b, 80, 6, F.FIN | F.ACK, 3, { seq: 101, ack: 501 }) },
    { ts: 1.3, data: frame(b, 80, a, 40000, 6, F.FIN | F.ACK, 0, { seq: 501, ack: 105 }) },
    { ts: 1.4, data: frame(a, 40000, b, 80, 6, F.ACK, 0, { seq: 105, ack: 502 }) },
    { ts: 2, data: frame(a, 40001, b, 80, 6, F.SYN) },
    { ts: 2.1, data: frame(b, 80, a, 40001, 6, F.RST | F.ACK) },
  ];
  const { records } = await collect(byteStream(pcapFile(1, pkts)), { features: ["flow_meta"], tcpEnd: true });
  assert.deepEqual(records.map((r) => [r.src_port, r.total_packets, r.flow_end_reason]), [
    [40000, 5, "fin"],
    [40001, 2, "rst"],
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// eviction

Deno.test("maxFlows: the table never holds more than maxFlows; the least recently active flow is evicted", () => {
  const max = 10;
  const { t, ended } = table({ maxFlows: max, idleTimeout: 1e9 });
  let peak = 0;
  for (let i = 0; i < 1000; i++) {
    const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    feed(t, view(i * 0.001, ip, 1234, "192.0.2.1", 80));
    // Keep flow 0 busy: it is never the least recently active, so it is never evicted.
    feed(t, view(i * 0.001, "10.0.0.0", 1234, "192.0.2.1", 80));
    assert.ok(t.size <= max, `size ${t.size} > ${max}`);
    peak = Math.max(peak, t.size);
  }
  assert.equal(peak, max);
  assert.equal(ended.length, 1000 - max);
  assert.ok(ended.every((f) => f.endReason === "evicted"));
  assert.ok(!ended.some((f) => f.srcIp === "10.0.0.0"), "the busiest flow was evicted");
  // Evicted in order of last activity: 10.0.0.1, 10.0.0.2, ...
  assert.deepEqual(ended.slice(0, 3).map((f) => f.srcIp), ["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  t.flushAll();
  assert.equal(t.size, 0);
  assert.equal(t.created, 1000);
});

Deno.test("evictionStrategy oldest: maxFlows evicts the first created flow, however active; lru the idlest", () => {
  const evicted = (strategy: "lru" | "oldest") => {
    const { t, ended } = table({ maxFlows: 3, idleTimeout: 1e9, evictionStrategy: strategy });
    feed(t, view(1, "10.0.0.1", 1000, "192.0.2.1", 80));
    feed(t, view(2, "10.0.0.2", 1000, "192.0.2.1", 80));
    feed(t, view(3, "10.0.0.3", 1000, "192.0.2.1", 80));
    // The first flow is the most recently active when a fourth arrives.
    feed(t, view(4, "10.0.0.1", 1000, "192.0.2.1", 80));
    feed(t, view(5, "10.0.0.4", 1000, "192.0.2.1", 80));
    feed(t, view(6, "10.0.0.5", 1000, "192.0.2.1", 80));
    assert.ok(ended.every((f) => f.endReason === "evicted"));
    return ended.map((f) => f.srcIp);
  };
  assert.deepEqual(evicted("lru"), ["10.0.0.2", "10.0.0.3"]);
  assert.deepEqual(evicted("oldest"), ["10.0.0.1", "10.0.0.2"]);
});

Deno.test({
  name: "maxFlows on a real capture: evicted flows are written (flow_end_reason evicted), no packet is lost",
  ignore: !HAVE_SHARED,
  async fn() {
    const file = cap("bittorrent.pcap");
    const full = await collect(file, { features: ["flow_meta"] });
    const small = await collect(file, { features: ["flow_meta"], maxFlows: 5 });
    assert.ok(full.records.length > 20);
    assert.ok(small.records.some((r) => r.flow_end_reason === "evicted"));
    const sum = (rs: FlowRecord[], k: string) => rs.reduce((a, r) => a + (r[k] as number), 0);
    assert.equal(sum(small.records, "total_packets"), sum(full.records, "total_packets"));
    assert.equal(sum(small.records, "total_bytes"), sum(full.records, "total_bytes"));
    assert.equal(small.summary.packetsDecoded, full.summary.packetsDecoded);
  },
});

// ---------------------------------------------------------------------------------------------------------
// order of expiry

/** A small deterministic PRNG (mulberry32). */
Deno.test("flows leave in time order of their expiry (idle and active timeouts mixed)", () => {
  for (let seed = 1; seed <= 20; seed++) {
    const r = rng(seed);
    const idle = 5, active = 12;
    const { t, ended } = table({ idleTimeout: idle, activeTimeout: active });
    const expiry: number[] = [];
    let ts = 0;
    for (let i = 0; i < 400; i++) {
      ts += r() * 0.6;
      const n = Math.floor(r() * 30);
      const before = ended.length;
      feed(t, view(ts, `10.0.0.${n}`, 1000 + n, "10.9.9.9", 80));
      // Flows ended by this packet ended because their time was up before it.
      for (const f of ended.slice(before)) {
        const e = f.endReason === "idle" ? f.lastTs + idle : f.firstTs + active;
        assert.ok(e < ts, `flow ended at ${ts} expires only at ${e}`);
        expiry.push(e);
      }
    }
    assert.ok(ended.length > 10, "the test made too few timeouts");
    for (const f of ended) assert.ok(f.endReason === "idle" || f.endReason === "active");
    for (let i = 1; i < expiry.length; i++) {
      assert.ok(
        expiry[i - 1] <= expiry[i],
        `seed ${seed}: flow ${i} expires at ${expiry[i]}, before ${expiry[i - 1]}`,
      );
    }
    // Every flow still held has time left.
    const held = t.size;
    t.expire(ts);
    assert.equal(t.size, held);
  }
});

Deno.test("flows whose last times are one double are ordered exactly: the one due first ends first", () => {
  // A review's case: flow 2's packet is stamped 50 ns before flow 1's but comes after it; both times are the
  // same double. The lists kept arrival order there, and a packet 60 s + 1 ns after flow 2's found flow 1 (not
  // due) at the head: flow 2 waited (it ended at the end of input), where one table per shard ended it idle.
  const T = 1795624920;
  const at = (ns: number) => ({ proto: 17, exact: [T + Math.floor(ns / 1e9), ns % 1e9] as [number, number] });
  const ts = (ns: number) => T + ns / 1e9;
  assert.equal(ts(1000), ts(950), "the test needs the two times to be one double");
  const { t, ended } = table({ idleTimeout: 60 });
  feed(t, view(ts(1000), "10.1.0.1", 1, "10.1.0.2", 9, at(1000)));
  feed(t, view(ts(950), "10.1.0.1", 2, "10.1.0.2", 9, at(950)));
  feed(t, view(ts(60e9 + 951), "10.1.0.1", 3, "10.1.0.2", 9, at(60e9 + 951)));
  assert.deepEqual(ended.map((f) => [f.srcPort, f.endReason]), [[2, "idle"]]);
  // The same for the creation list and the active timeout.
  const a = table({ idleTimeout: 600, activeTimeout: 60 });
  feed(a.t, view(ts(1000), "10.1.0.1", 1, "10.1.0.2", 9, at(1000)));
  feed(a.t, view(ts(950), "10.1.0.1", 2, "10.1.0.2", 9, at(950)));
  feed(a.t, view(ts(30e9), "10.1.0.1", 1, "10.1.0.2", 9, at(30e9)));
  feed(a.t, view(ts(30e9), "10.1.0.1", 2, "10.1.0.2", 9, at(30e9)));
  feed(a.t, view(ts(60e9 + 951), "10.1.0.1", 3, "10.1.0.2", 9, at(60e9 + 951)));
  assert.deepEqual(a.ended.map((f) => [f.srcPort, f.endReason]), [[2, "active"]]);
});

Deno.test("at the end of input, the remaining flows are written in order of last activity", () => {
  const { t, ended } = table({});
  feed(t, view(1, "10.0.0.1", 1, "10.0.0.2", 2));
  feed(t, view(2, "10.0.0.3", 1, "10.0.0.4", 2));
  feed(t, view(3, "10.0.0.1", 1, "10.0.0.2", 2));
  t.flushAll();
  assert.deepEqual(ended.map((f) => [f.srcIp, f.endReason]), [["10.0.0.3", "end"], ["10.0.0.1", "end"]]);
});

// ---------------------------------------------------------------------------------------------------------
// streaming

Deno.test("streaming: the first record arrives long before a slow source reaches its end", async () => {
  // 400 one-packet UDP flows, 2 s apart, idle timeout 1 s: each packet ends the flow before it.
  const pkts = [];
  for (let i = 0; i < 400; i++) {
    pkts.push({ ts: 1000 + 2 * i, data: frame(`10.0.${i >> 8}.${i & 255}`, 5000, "10.9.9.9", 53, 17) });
  }
  const bytes = pcapFile(1, pkts);
  let delivered = 0;
  const seen: number[] = [];
  const stream = byteStream(bytes, 256, async (n) => {
    delivered = n;
    await new Promise((r) => setTimeout(r, 0)); // a slow source
  });
  let count = 0;
  for await (const rec of extractFlows(stream, { features: ["flow_meta"], idleTimeout: 1 })) {
    if (count === 0) seen.push(delivered);
    if (count === 199) seen.push(delivered);
    count++;
    assert.equal(rec.total_packets, 1);
  }
  assert.equal(count, 400);
  assert.ok(seen[0] < bytes.length / 10, `first record after ${seen[0]} of ${bytes.length} bytes`);
  assert.ok(seen[1] < bytes.length, `200th record only after ${seen[1]} of ${bytes.length} bytes`);
});

Deno.test({
  name: "streaming: on a large real capture (read as a stream), records come out before the reader is done",
  ignore: !HAVE_SHARED,
  async fn() {
    const bytes = await Deno.readFile(cap("443-firefox.pcap"));
    let delivered = 0;
    let firstAt = -1;
    const stream = byteStream(bytes, 4096, (n) => {
      delivered = n;
    });
    let count = 0;
    for await (const _ of extractFlows(stream, { features: ["flow_meta"], idleTimeout: 1 })) {
      if (firstAt < 0) firstAt = delivered;
      count++;
    }
    assert.ok(count > 1);
    assert.ok(
      firstAt >= 0 && firstAt < bytes.length,
      `first record after ${firstAt} of ${bytes.length} bytes`,
    );
  },
});

Deno.test("thousands of flows open at once: each packet finds its own flow while the buckets grow", () => {
  const { t, ended } = table({ idleTimeout: 1e6 });
  const N = 5000;
  // Three rounds over N flows (v4 and v6, both directions): the first round creates them (growing the bucket
  // array several times), the later ones must find them again, before and after growth.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < N; i++) {
      const a = i % 2 === 0 ? `10.${(i >> 8) & 255}.${i & 255}.1` : `2001:db8::${i.toString(16)}`;
      const b = i % 2 === 0 ? "192.168.0.1" : "2001:db8::ffff:1";
      const p = round === 1
        ? view((round * N + i) / 1000, b, 443, a, 40000 + (i % 1000))
        : view((round * N + i) / 1000, a, 40000 + (i % 1000), b, 443);
      const f = t.add(p)!;
      assert.equal(t.lastCreated, round === 0, `flow ${i} round ${round}`);
      assert.equal(t.lastDir, round === 1 ? 1 : 0);
      assert.equal(f.packets[0] + f.packets[1], round + 1);
    }
  }
  assert.equal(t.size, N);
  t.flushAll();
  assert.equal(ended.length, N);
  assert.equal(t.size, 0);
  for (const f of ended) assert.deepEqual(f.packets, [2, 1]);
  // The emptied table still works.
  const f = t.add(view(1e5, "10.9.9.9", 1, "10.9.9.8", 2))!;
  assert.equal(t.lastCreated, true);
  assert.deepEqual(f.packets, [1, 0]);
});

Deno.test("--sampling-rate keeps about that share of the flows, each whole", async () => {
  // 4000 flows of 3 packets each: the share kept follows the rate (it is chosen by flow hash, the same on
  // every run, so the bounds are no matter of luck: a threshold off by 10x was not caught before).
  const packets = [];
  for (let i = 0; i < 4000; i++) {
    for (let k = 0; k < 3; k++) {
      packets.push({
        ts: i + k / 10,
        data: ethernet(ipv4("10.0.0.1", `10.${i >> 8}.${i & 255}.2`, 17, udp(1000, 53))),
      });
    }
  }
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/many.pcap`, pcapFile(1, packets));
    for (const [rate, low, high] of [[0.5, 0.45, 0.55], [0.1, 0.07, 0.13]]) {
      const { records, summary } = await collect(`${dir}/many.pcap`, {
        features: ["flow_meta"],
        samplingRate: rate,
      });
      const share = records.length / 4000;
      assert.ok(share >= low && share <= high, `rate ${rate}: ${records.length} of 4000 flows kept`);
      assert.ok(records.every((r) => r.total_packets === 3), "a kept flow has all its packets");
      assert.equal(summary.packetsSampledOut, 3 * (4000 - records.length));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a consumer that stops early: the flows still open are dropped without a record or onFlowEnd call", async () => {
  // Flows 0-49 at t=100, 50-99 at t=1000: the first packet at 1000 ends the first fifty (idle timeout).
  const pkts = Array.from({ length: 100 }, (_, i) => ({
    ts: i < 50 ? 100 : 1000,
    data: ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(10000 + i, 53))),
  }));
  let ended = 0, yielded = 0;
  for await (
    const _ of extractFlows(byteStream(pcapFile(1, pkts)), {
      features: ["timing", "size"],
      onFlowEnd: () => ended++,
    })
  ) {
    yielded++;
    break;
  }
  // The fifty other flows were finished and reported after the break (a break waited for every open flow).
  assert.equal(yielded, 1);
  assert.equal(ended, 50);
  // The dropped flows' groups still ran their finish (into a scratch record): the same packets read to the end
  // give every flow's record.
  const { records } = await collect(byteStream(pcapFile(1, pkts)), { features: ["timing", "size"] });
  assert.equal(records.length, 100);
});

Deno.test("an error of a user extractor is the error thrown, not one of a finish on the flow it broke", async () => {
  const breaks: FeatureExtractor<{ n: number }> = {
    name: "breaks",
    features: [{ name: "breaks_n", type: "int", description: "packets" }],
    init: () => {
      throw new Error("init boom");
    },
    update: (s) => void s.n++,
    finish: (s, _f, out) => void (out.breaks_n = s.n),
  };
  const pkts = [{ ts: 1, data: ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 53))) }];
  await assert.rejects(
    collect(byteStream(pcapFile(1, pkts)), { extractors: [breaks] }),
    /^ExtractorError: extractor breaks: init threw Error: init boom \(flow 10\.0\.0\.1:1 > 10\.0\.0\.2:53, from packet 1 of <stream>\)$/,
  );
});
