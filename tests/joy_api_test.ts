import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  cleanup,
  getCompactBd,
  initialize,
  JOY_FAILURE,
  JOY_JSON_FORMAT,
  JOY_OK,
  JOY_SINGLE_SUBNET,
  JoyFlag,
  joyLastError,
  labelSubnets,
  printConfig,
  printFlows,
  processPacket,
  shutdown,
} from "../lib/joy/api.ts";
import { closeJoyPcapHandler, handleIsNano, joyPcapHandler } from "../ffi/joy_callback.ts";
import { dispatch, PcapOfflineReader, tryLoadLibpcap } from "../ffi/libpcap.ts";
import { joyProcessFile } from "../lib/joy/offline.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";
import { cap, ethernet, HAVE_CAPTURES, ipv4, udp } from "./helpers.ts";

const CAP = cap("tls12.pcap");
const BITS = JoyFlag.BIDIR | JoyFlag.DIST | JoyFlag.ENTROPY | JoyFlag.TLS | JoyFlag.DNS | JoyFlag.HTTP |
  JoyFlag.SSH;

function lines(path: string): string[] {
  return Deno.readTextFileSync(path).trim().split("\n").filter(Boolean);
}

Deno.test("calls before initialize and with a bad context fail with a clear error", () => {
  shutdown();
  equal(printFlows(0, false), JOY_FAILURE);
  match(joyLastError(), /not been initialized/);
  equal(initialize({ bitmask: BITS, contexts: 11 }), JOY_FAILURE);
  match(joyLastError(), /contexts must be 1\.\.10/);
  const dir = Deno.makeTempDirSync();
  equal(initialize({ bitmask: BITS, contexts: 2 }, dir, "f.json"), JOY_OK);
  equal(initialize({ bitmask: BITS }, dir, "g.json"), JOY_FAILURE);
  match(joyLastError(), /already initialized/);
  equal(processPacket(5, { tsSec: 0, tsUsec: 0, capLen: 0 }, new Uint8Array(0)), JOY_FAILURE);
  match(joyLastError(), /invalid context 5/);
  equal(cleanup(0), JOY_OK);
  equal(cleanup(0), JOY_FAILURE);
  match(joyLastError(), /cleaned up/);
  equal(cleanup(1), JOY_OK);
  ok(Deno.statSync(`${dir}/f_0.json`).isFile && Deno.statSync(`${dir}/f_1.json`).isFile);
  shutdown();
});

Deno.test(
  "the lifecycle with typed arrays writes the config line and Joy flows",
  { ignore: !HAVE_CAPTURES },
  async () => {
    shutdown();
    const dir = Deno.makeTempDirSync();
    equal(initialize({ bitmask: BITS, idp: 1300 }, dir, "out.json"), JOY_OK);
    equal(labelSubnets("lab", JOY_SINGLE_SUBNET, "192.168.0.0/16"), JOY_OK);
    equal(printConfig(0, JOY_JSON_FORMAT), JOY_OK);
    const file = await Deno.open(CAP);
    const { readCapture } = await import("../lib/capture_file.ts");
    await readCapture(file, (ts, buf, off, cap) => {
      const sec = Math.floor(ts);
      processPacket(
        0,
        { tsSec: sec, tsUsec: Math.round((ts - sec) * 1e6), capLen: cap },
        buf.subarray(off, off + cap),
      );
    });
    equal(printFlows(0, false), JOY_OK);
    equal(cleanup(0), JOY_OK);
    const out = lines(`${dir}/out.json`);
    ok(out[0].startsWith('{"version":"4.5.0"'));
    const flow = JSON.parse(out[1]);
    equal(flow.sa, "192.168.133.129");
    deepStrictEqual(flow.sa_labels, ["lab"]);
    equal(flow.tls.sni[0], "contile.services.mozilla.com");
    shutdown();
  },
);

Deno.test("pcap_dispatch feeds a context through the pcap_handler callback (real libpcap handle)", {
  ignore: !HAVE_CAPTURES,
}, async () => {
  if (tryLoadLibpcap() === null) {
    console.log("libpcap not available: skipped");
    return;
  }
  shutdown();
  const dir = Deno.makeTempDirSync();
  equal(initialize({ bitmask: BITS, idp: 1300, contexts: 2 }, dir, "ffi.json"), JOY_OK);
  const r = PcapOfflineReader.open(CAP);
  const handler = joyPcapHandler(handleIsNano(r.handle));
  const ctxIndex = 1;
  while (dispatch(r.handle, 10, handler.pointer, ctxIndex) > 0) printFlows(ctxIndex, true);
  r.close();
  closeJoyPcapHandler();
  equal(cleanup(0), JOY_OK);
  equal(cleanup(1), JOY_OK);
  equal(lines(`${dir}/ffi_0.json`).length, 0);
  const got = lines(`${dir}/ffi_1.json`);
  const ref: string[] = [];
  await joyProcessFile(CAP, defaultJoyConfig(), (l) => ref.push(l), { reader: "libpcap" });
  deepStrictEqual(got.map((l) => JSON.parse(l)), ref.map((l) => JSON.parse(l)));
  shutdown();
});

Deno.test("getCompactBd turns on compact_byte_dist", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(
    `${dir}/cbd.txt`,
    Array.from({ length: 256 }, (_, i) => `${i} ${i >> 4}`).join("\n"),
  );
  equal(getCompactBd(`${dir}/cbd.txt`), JOY_OK);
  equal(initialize({ bitmask: BITS }, dir, "c.json"), JOY_OK);
  const frame = new Uint8Array(60);
  frame.set([0x08, 0x00, 0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17], 12);
  frame.set([10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0x00, 0x35, 0, 26, 0, 0], 26);
  frame.fill(0xab, 42);
  equal(processPacket(0, { tsSec: 1, tsUsec: 0, capLen: 60 }, frame), JOY_OK);
  equal(cleanup(0), JOY_OK);
  const f = JSON.parse(lines(`${dir}/c.json`)[0]);
  equal(f.compact_byte_dist.length, 16);
  equal(f.compact_byte_dist[10], 18);
  shutdown();
});

Deno.test("a preemptive timeout writes the ended flow (Joy prints it at once), then starts a new one", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  // Joy's defaults: inactive 10 s, active 20 s; a packet more than 30 s after the flow's start ends it.
  equal(initialize({ bitmask: JoyFlag.BIDIR | JoyFlag.PREEMPTIVE_TIMEOUT }, dir, "out.json"), JOY_OK);
  const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 2000, new Uint8Array(5))));
  for (const sec of [100, 101, 102, 140, 141]) {
    equal(processPacket(0, { tsSec: sec, tsUsec: 0, capLen: frame.length }, frame), JOY_OK);
  }
  equal(printFlows(0, false), JOY_OK);
  equal(cleanup(0), JOY_OK);
  const flows = lines(`${dir}/out.json`).map((l) => JSON.parse(l));
  deepStrictEqual(
    flows.map((f) => [f.num_pkts_out, f.time_start, f.time_end]),
    [[3, 100, 102], [2, 140, 141]],
  );
  shutdown();
});
