/**
 * Flow tables under crafted keys: flows whose keys all share one value of a fixed, public hash (the kind an
 * attacker can compute offline and put in a capture) must not share a bucket, or every packet walks all of them
 * (50,000 such flows in 6 MB took jj 5 minutes). Each table counts the flows of other keys it passes over
 * (`chainSteps`); with a keyed hash that is about a quarter per packet at most. Two kinds of crafted keys: keys
 * solved to share one value of the former fixed hash, and keys that differ only in the top bits of their words
 * (which a keyed multiply-shift hash, tried first, put in a few buckets whatever its multipliers).
 */
import assert from "node:assert/strict";
import { FlowPipeline } from "../lib/pipeline.ts";
import { flowMetaExtractor } from "../extractors/mod.ts";
import { JoyContext } from "../lib/joy/context.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";
import { ethernet, ipv4, ipv6, udp } from "./helpers.ts";

const P = 0x01000193, P_INVERSE = 0x359c449b;
/** Flows per test: with every key in one bucket, about FLOWS * FLOWS chain steps. */
const FLOWS = 3000;

function dotted(x: number): string {
  return [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255].join(".");
}

/** One round of the flow table's former bucket hash (FNV-1a over key words, each followed by an xorshift). */
function fnvXorshiftRound(h: number, word: number): number {
  h = Math.imul(h ^ word, P);
  return h ^ (h >>> 15);
}

/** The inverse of `y => y ^ (y >>> 15)` on 32 bits. */
function unXorshift(u: number): number {
  return (u ^ (u >>> 15) ^ (u >>> 30)) | 0;
}

/**
 * UDP flows from 10.0.0.1 to 11.0.0.i whose canonical keys all have the former bucket hash `target`: the port
 * word, hashed last, is solved for it.
 */
function collidingTableFlows(n: number, target: number): [string, string, number, number][] {
  const src = 0x0a000001;
  const flows: [string, string, number, number][] = [];
  for (let i = 1; i <= n; i++) {
    const dst = (0x0b000000 | i) | 0;
    // The canonical key: (version, protocol), the smaller address first, then its port with the other's.
    const key = [(4 << 8) | 17, src, 0, 0, 0, dst, 0, 0, 0];
    let h = 0x811c9dc5 | 0;
    for (const w of key) h = fnvXorshiftRound(h, w);
    const ports = h ^ Math.imul(unXorshift(target), P_INVERSE);
    assert.equal(fnvXorshiftRound(h, ports), target | 0);
    flows.push([dotted(src), dotted(dst >>> 0), ports >>> 16, ports & 0xffff]);
  }
  return flows;
}

/** Joy's former flow key hash: FNV-1a over the address bytes, then the ports and (protocol, version) words. */
function joyFnv(src: number, dst: number, sp: number, dp: number, protoVersion: number): number {
  let h = 0x811c9dc5 | 0;
  for (const a of [src, dst]) for (let s = 24; s >= 0; s -= 8) h = Math.imul(h ^ ((a >>> s) & 255), P);
  for (const w of [sp, dp, protoVersion]) h = Math.imul(h ^ w, P);
  return h;
}

/**
 * UDP flows from 10.0.0.1 to 11.0.x.y whose keys (in the packets' direction) all have Joy's former hash
 * `target`: for each destination, the source port for which some destination port reaches it.
 */
function collidingJoyFlows(n: number, target: number): [string, string, number, number][] {
  const src = 0x0a000001, pv = 17 | (4 << 8);
  // Before the protocol word: x; before the destination port word (h ^ dp) * P = x, so h ^ dp = x * P^-1.
  const beforeDp = Math.imul(Math.imul(target, P_INVERSE) ^ pv, P_INVERSE);
  const flows: [string, string, number, number][] = [];
  for (let i = 1; flows.length < n; i++) {
    const dst = (0x0b000000 | i) | 0;
    let h = 0x811c9dc5 | 0;
    for (const a of [src, dst]) for (let s = 24; s >= 0; s -= 8) h = Math.imul(h ^ ((a >>> s) & 255), P);
    for (let sp = 1024; sp < 65536; sp++) {
      const dp = Math.imul(h ^ sp, P) ^ beforeDp;
      if (dp >>> 16 === 0) {
        assert.equal(joyFnv(src, dst, sp, dp, pv), target | 0);
        flows.push([dotted(src), dotted(dst >>> 0), sp, dp]);
        break;
      }
    }
  }
  return flows;
}

Deno.test("flow table: flows crafted to share one value of a fixed hash do not share a bucket", () => {
  const flows = collidingTableFlows(FLOWS, 0x12345678);
  const frames = flows.map(([s, d, sp, dp]) => ethernet(ipv4(s, d, 17, udp(sp, dp, new Uint8Array(4)))));
  let records = 0;
  const pipeline = new FlowPipeline([flowMetaExtractor], {}, () => records++);
  // Each flow twice: created, then found again.
  let ts = 1_700_000_000;
  for (let round = 0; round < 2; round++) {
    for (const f of frames) pipeline.packet(ts += 1e-6, f, 0, f.length, f.length, 1);
  }
  pipeline.flush();
  assert.equal(records, FLOWS);
  const packets = 2 * FLOWS;
  assert.ok(
    pipeline.table.chainSteps <= packets,
    `${pipeline.table.chainSteps} chain steps for ${packets} packets: the crafted flows share buckets`,
  );
});

Deno.test("Joy context: flows crafted to share one value of a fixed hash do not share a bucket", () => {
  const flows = collidingJoyFlows(FLOWS, 0x2468ace0);
  const ctx = new JoyContext(defaultJoyConfig());
  let usec = 0;
  for (let round = 0; round < 2; round++) {
    for (const [s, d, sp, dp] of flows) {
      const f = ethernet(ipv4(s, d, 17, udp(sp, dp, new Uint8Array(4))));
      ctx.processPacket(1_700_000_000, usec++, f.length, f, 0);
    }
  }
  assert.equal(ctx.stats.recordsInTable, FLOWS);
  const packets = 2 * FLOWS;
  // Each packet also looks for its reverse flow (Joy's twin), which is one more lookup.
  assert.ok(
    ctx.chainSteps <= 2 * packets,
    `${ctx.chainSteps} chain steps for ${packets} packets: the crafted flows share buckets`,
  );
});

/** IPv4 UDP flows whose addresses and ports differ only in their top 6 bits. */
function topBitFlows4(n: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let i = 0; frames.length < n; i++) {
    const a = ((i & 31) << 26) | 1, b = ((32 | ((i >> 5) & 31)) << 26) | 2;
    const sp = (((i >> 10) & 63) << 10) | 7;
    frames.push(ethernet(ipv4(dotted(a >>> 0), dotted(b >>> 0), 17, udp(sp, 53, new Uint8Array(4)))));
  }
  return frames;
}

/** IPv6 UDP flows whose address words and ports differ only in their top 2 bits. */
function topBitFlows6(n: number): Uint8Array[] {
  const hex = (w: number) => [(w >>> 16) & 0xffff, w & 0xffff].map((x) => x.toString(16)).join(":");
  const frames: Uint8Array[] = [];
  for (let i = 0; frames.length < n; i++) {
    const a = [((i & 1) << 30) | 1, ...[2, 4, 6].map((s) => (((i >> s) & 3) << 30) | 1)];
    const b = [((2 | ((i >> 1) & 1)) << 30) | 2, ...[8, 10, 12].map((s) => (((i >> s) & 3) << 30) | 2)];
    const sp = (((i >> 14) & 3) << 14) | 1000;
    const src = a.map((w) => hex(w >>> 0)).join(":"), dst = b.map((w) => hex(w >>> 0)).join(":");
    frames.push(ethernet(ipv6(src, dst, 17, udp(sp, 53, new Uint8Array(4))), { type: 0x86dd }));
  }
  return frames;
}

for (const [name, frames] of [["IPv4", topBitFlows4(FLOWS)], ["IPv6", topBitFlows6(FLOWS)]] as const) {
  Deno.test(`flow table and Joy context: ${name} flows that differ only in their words' top bits do not share buckets`, () => {
    let records = 0;
    const pipeline = new FlowPipeline([flowMetaExtractor], {}, () => records++);
    const ctx = new JoyContext(defaultJoyConfig());
    let ts = 1_700_000_000, usec = 0;
    for (let round = 0; round < 2; round++) {
      for (const f of frames) {
        pipeline.packet(ts += 1e-6, f, 0, f.length, f.length, 1);
        ctx.processPacket(1_700_000_000, usec++, f.length, f, 0);
      }
    }
    pipeline.flush();
    assert.equal(records, FLOWS);
    assert.equal(ctx.stats.recordsInTable, FLOWS);
    const packets = 2 * FLOWS;
    assert.ok(pipeline.table.chainSteps <= packets, `flow table: ${pipeline.table.chainSteps} chain steps`);
    assert.ok(ctx.chainSteps <= 2 * packets, `Joy context: ${ctx.chainSteps} chain steps`);
  });
}
