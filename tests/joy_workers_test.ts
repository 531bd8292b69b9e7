import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { joyInWorkers } from "../docs/joy_workers.ts";
import { JoyContext } from "../lib/joy/context.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";
import { packetToContext } from "../lib/joy/hash.ts";
import { readCapture } from "../lib/capture_file.ts";
import { cap, HAVE_CAPTURES } from "./helpers.ts";

const CAPS = [cap("v6.pcap"), cap("dns_fragmented.pcap")];

async function oneContext(path: string, n = 1, flowsPerContext: number[] = []): Promise<string[]> {
  const ctxs = Array.from({ length: n }, () => new JoyContext(defaultJoyConfig()));
  const file = await Deno.open(path);
  await readCapture(file, (ts, buf, off, capLen) => {
    const sec = Math.floor(ts);
    const usec = Math.min(999999, Math.round((ts - sec) * 1e6));
    ctxs[packetToContext(buf, off, capLen, n)].processPacket(sec, usec, capLen, buf, off);
  });
  try {
    file.close();
  } catch { /* closed */ }
  const lines: string[] = [];
  for (const c of ctxs) {
    const before = lines.length;
    c.printFlows(false, (l) => lines.push(l));
    flowsPerContext.push(lines.length - before);
  }
  return lines;
}

Deno.test("packetToContext sends both directions of a flow to the same context", () => {
  const f = new Uint8Array(54);
  f[12] = 0x08;
  f[14] = 0x45;
  f.set([10, 0, 0, 1], 26);
  f.set([10, 0, 0, 2], 30);
  const g = f.slice();
  g.set([10, 0, 0, 2], 26);
  g.set([10, 0, 0, 1], 30);
  for (const n of [2, 3, 7]) assertEquals(packetToContext(f, 0, 54, n), packetToContext(g, 0, 54, n));
});

Deno.test("several contexts (divided by flow hash) give the same flows as one context", {
  ignore: !HAVE_CAPTURES,
}, async () => {
  for (const cap of CAPS) {
    const one = (await oneContext(cap)).sort();
    const perContext: number[] = [];
    const four = (await oneContext(cap, 4, perContext)).sort();
    assertEquals(four, one);
    // Not vacuous: the capture has flows, and the hash really divides them (a hash sending every packet to
    // one context would pass the comparison above).
    assert(one.length >= 10, `${cap}: only ${one.length} flows`);
    assert(perContext.filter((x) => x > 0).length >= 2, `${cap}: flows per context ${perContext}`);
  }
});

Deno.test("contexts in Workers give the same flows as one context", { ignore: !HAVE_CAPTURES }, async () => {
  for (const cap of CAPS) {
    const one = (await oneContext(cap)).sort();
    const workers = (await joyInWorkers(cap, 3)).sort();
    assert(one.length >= 10, `${cap}: only ${one.length} flows`);
    assertEquals(workers.length, one.length);
    assertEquals(workers, one);
  }
});
