import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  anonHttpUsernames,
  anonSubnets,
  cleanup,
  exportFlowsIpfix,
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
  updateSpltBdParams,
} from "../lib/joy/api.ts";
import { closeJoyPcapHandler, handleIsNano, joyPcapHandler } from "../ffi/joy_callback.ts";
import { dispatch, PcapOfflineReader, tryLoadLibpcap } from "../ffi/libpcap.ts";
import { joyProcessFile } from "../lib/joy/offline.ts";
import { defaultJoyConfig } from "../lib/joy/config.ts";
import { JoyContext } from "../lib/joy/context.ts";
import type { JoyFlowRecord } from "../lib/joy/flow_record.ts";
import { cap, ethernet, freePort, HAVE_CAPTURES, ipv4, ROOT, SHARED, udp } from "./helpers.ts";
import { decodeIpfixMessage, type IpfixTemplate } from "../outputs/ipfix.ts";

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

Deno.test("processPacket with a header or packet of no kind it takes returns JOY_FAILURE saying why (it threw)", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  equal(initialize({ bitmask: BITS }, dir, "bad.json"), JOY_OK);
  const frame = new Uint8Array(60);
  const hdr = { tsSec: 1, tsUsec: 0, capLen: 60 };
  const cases: [unknown, unknown, RegExp][] = [
    [42, frame, /header is neither a pcap_pkthdr pointer/],
    [{}, frame, /header is neither a pcap_pkthdr pointer/],
    [undefined, frame, /header is neither a pcap_pkthdr pointer/],
    [{ tsSec: NaN, tsUsec: 0, capLen: 60 }, frame, /whole numbers, 0 or more/],
    [hdr, [1, 2, 3], /packet is neither a pointer nor a Uint8Array/],
    [hdr, undefined, /packet is neither a pointer nor a Uint8Array/],
  ];
  for (const [h, d, why] of cases) {
    equal(processPacket(0, h as Uint8Array, d as Uint8Array), JOY_FAILURE);
    match(joyLastError(), why);
  }
  equal(processPacket(0, hdr, frame), JOY_OK);
  equal(cleanup(0), JOY_OK);
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
  equal(initialize({ bitmask: BITS }, dir, "c.json"), JOY_OK);
  equal(getCompactBd(`${dir}/cbd.txt`), JOY_OK);
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

Deno.test("takeFlows (IPFIX export) takes the same expired flows as printFlows, past a flow still active", () => {
  // Flow X (started first, first on the chronological list) stays active; flow Y, behind it, is idle past the
  // 10 s inactive timeout when the last packet comes.
  const x = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 2000, new Uint8Array(5))));
  const y = ethernet(ipv4("10.0.0.3", "10.0.0.4", 17, udp(3000, 4000, new Uint8Array(7))));
  const packets: [number, Uint8Array][] = [[100, x], [101, y], [104, x], [108, x], [112, x], [114, x]];
  const feed = (ctx: JoyContext) => {
    for (const [sec, f] of packets) ctx.processPacket(sec, 0, f.length, f, 0);
  };
  const printed = new JoyContext(defaultJoyConfig());
  feed(printed);
  const lines: string[] = [];
  equal(printed.printFlows(true, (l) => lines.push(l)), 1);
  const taken = new JoyContext(defaultJoyConfig());
  feed(taken);
  const recs: JoyFlowRecord[] = [];
  equal(taken.takeFlows(true, (r) => recs.push(r)), 1);
  deepStrictEqual(
    recs.map((r) => [r.sa, r.sp, r.np, r.expType]),
    lines.map((l) => JSON.parse(l)).map((f) => [f.sa, f.sp, f.num_pkts_out, f.expire_type]),
  );
  deepStrictEqual(recs.map((r) => [r.sa, r.sp, r.np, r.expType]), [["10.0.0.3", 3000, 1, "i"]]);
  // The active flow is still there for the next call.
  const rest: JoyFlowRecord[] = [];
  equal(taken.takeFlows(false, (r) => rest.push(r)), 1);
  deepStrictEqual(rest.map((r) => [r.sa, r.np]), [["10.0.0.1", 5]]);
});

/** Packets that make the preemptive timeout end a flow: the one at 140 s ends the flow started at 100 s. */
function preemptivePackets(): void {
  const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 2000, new Uint8Array(5))));
  for (const sec of [100, 101, 102, 140, 141]) {
    equal(processPacket(0, { tsSec: sec, tsUsec: 0, capLen: frame.length }, frame), JOY_OK);
  }
}

const IPFIX_BITS = JoyFlag.BIDIR | JoyFlag.PREEMPTIVE_TIMEOUT | JoyFlag.IPFIX_EXPORT;

Deno.test("IPFIX mode: exportFlowsIpfix writes the flows a preemptive timeout ended to the JSON output", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  equal(
    initialize({ bitmask: IPFIX_BITS, ipfixHost: "127.0.0.1", ipfixPort: freePort() }, dir, "out.json"),
    JOY_OK,
  );
  preemptivePackets();
  equal(exportFlowsIpfix(0, false), JOY_OK);
  const flows = lines(`${dir}/out.json`).map((l) => JSON.parse(l));
  deepStrictEqual(flows.map((f) => [f.num_pkts_out, f.time_start, f.time_end]), [[3, 100, 102]]);
  equal(cleanup(0), JOY_OK);
  equal(lines(`${dir}/out.json`).length, 1);
  shutdown();
});

Deno.test("IPFIX mode: cleanup writes the flows a preemptive timeout ended before it clears the context", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  equal(
    initialize({ bitmask: IPFIX_BITS, ipfixHost: "127.0.0.1", ipfixPort: freePort() }, dir, "out.json"),
    JOY_OK,
  );
  preemptivePackets();
  equal(cleanup(0), JOY_OK);
  const flows = lines(`${dir}/out.json`).map((l) => JSON.parse(l));
  deepStrictEqual(flows.map((f) => [f.num_pkts_out, f.time_start, f.time_end]), [[3, 100, 102]]);
  shutdown();
});

Deno.test("a write that fails is the call's status (JOY_FAILURE and joyLastError), not an exception", () => {
  shutdown();
  equal(initialize({ bitmask: JoyFlag.BIDIR }, "/dev", "full"), JOY_OK);
  preemptivePackets();
  equal(printFlows(0, false), JOY_FAILURE);
  match(joyLastError(), /^printFlows: cannot write \/dev\/full/);
  cleanup(0);
  shutdown();
});

Deno.test("a failed initialize opens no file and leaves none emptied", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/out_0.json`, "kept\n");
  const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
  const before = fds();
  for (let i = 0; i < 5; i++) {
    // IPFIX export without a collector: refused before the outputs were opened (each was emptied, and left open).
    equal(
      initialize({ bitmask: JoyFlag.BIDIR | JoyFlag.IPFIX_EXPORT, contexts: 2 }, dir, "out.json"),
      JOY_FAILURE,
    );
    match(joyLastError(), /IPFIX export needs ipfixHost/);
  }
  // A port no socket takes: refused here (send threw it out of cleanup, and the flows were lost).
  const bits = JoyFlag.BIDIR | JoyFlag.IPFIX_EXPORT;
  equal(
    initialize({ bitmask: bits, ipfixHost: "127.0.0.1", ipfixPort: 70000 }, dir, "out.json"),
    JOY_FAILURE,
  );
  match(joyLastError(), /ipfixPort must be 1\.\.65535/);
  equal(fds(), before);
  equal(Deno.readTextFileSync(`${dir}/out_0.json`), "kept\n");
  deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out_0.json"]);
  // Without IPFIX export a port is not used; 0 is Joy's own examples' "default".
  equal(initialize({ bitmask: JoyFlag.BIDIR, ipfixPort: 0 }, dir, "none.json"), JOY_OK);
  cleanup(0);
  shutdown();
});

Deno.test("IPFIX export: what cleanup exports reaches the collector though the program ends right after it, in order", async () => {
  // A program in the shape of a pcap_dispatch loop: packets, cleanup, return. The sends it started were lost
  // when cleanup closed the socket at once; then they arrived last first (a socket not yet bound sent its
  // queued datagrams in reverse), the templates after the records that need them, which a collector drops.
  const { createSocket } = await import("node:dgram");
  const collector = createSocket("udp4");
  const messages: Uint8Array[] = [];
  collector.on("message", (m: Uint8Array) => messages.push(new Uint8Array(m)));
  await new Promise<void>((r) => collector.bind(0, "127.0.0.1", r));
  const port = collector.address().port;
  const dir = Deno.makeTempDirSync();
  try {
    const api = new URL("../lib/joy/api.ts", import.meta.url).href;
    const helpers = new URL("./helpers.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      `${dir}/prog.ts`,
      `import { cleanup, initialize, JoyFlag, processPacket } from "${api}";
import { ethernet, ipv4, udp } from "${helpers}";
const [flows, payload, idp] = Deno.args.map(Number);
const bits = JoyFlag.BIDIR | (idp > 0 ? JoyFlag.IPFIX_IDP_EXPORT : JoyFlag.IPFIX_EXPORT);
initialize({ bitmask: bits, idp, ipfixHost: "127.0.0.1", ipfixPort: ${port} });
for (let i = 0; i < flows; i++) {
  const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000 + i, 2000, new Uint8Array(payload))));
  processPacket(0, { tsSec: 100 + i, tsUsec: 0, capLen: frame.length }, frame);
}
if (cleanup(0) !== 0) throw new Error("cleanup failed");
`,
    );
    // 100 small flows; 20 flows of 4000-byte datagrams with 4000-byte IDPs (20 records in one message were
    // past IPFIX's 65535 bytes: cleanup threw); 3 flows with 1300-byte IDPs, each record under 1400 bytes alone
    // but not beside the templates (a 1486-byte datagram).
    for (const [flows, payload, idp] of [[100, 5, 0], [20, 4000, 4000], [3, 1300, 1300]]) {
      messages.length = 0;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--config",
          `${ROOT}/deno.json`,
          `${dir}/prog.ts`,
          `${flows}`,
          `${payload}`,
          `${idp}`,
        ],
        stderr: "piped",
      }).output();
      equal(out.code, 0, new TextDecoder().decode(out.stderr));
      // The datagrams sent before the program ended: until none has come for 200 ms (2 s at most).
      for (let i = 0, seen = -1, quiet = 0; i < 40 && quiet < 4; i++) {
        await new Promise((r) => setTimeout(r, 50));
        quiet = messages.length === seen ? quiet + 1 : 0;
        seen = messages.length;
      }
      // Read in arrival order, as a collector does: every data set's template came before it.
      const known = new Map<number, IpfixTemplate>();
      let total = 0, sequence = 0;
      for (const m of messages) {
        const d = decodeIpfixMessage(m, known)!;
        deepStrictEqual(d.unknownSets, [], `a data set before its template (message ${d.header.sequence})`);
        equal(d.header.sequence, sequence, "sequence numbers in arrival order");
        sequence += d.records.length;
        total += d.records.length;
        // Small records share messages of at most 1400 bytes; a record larger than that goes alone, without
        // the templates.
        ok(
          m.length <= 1400 || (d.records.length === 1 && d.templates.length === 0),
          `${m.length}-byte message of ${d.records.length} records and ${d.templates.length} templates`,
        );
      }
      equal(total, flows, `${flows} flows`);
    }
  } finally {
    collector.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "docs/joy_lifecycle.ts: Joy's flows for an Ethernet capture, none (and a clean exit) where the filter cannot compile",
  ignore: !HAVE_CAPTURES || tryLoadLibpcap() === null,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      for (const name of ["dns.pcap", "dlt_ppp.pcap"]) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", `${ROOT}/docs/joy_lifecycle.ts`, cap(name), `${dir}/${name}`],
          stdout: "null",
          stderr: "piped",
        }).output();
        equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const ours = Deno.readTextFileSync(`${dir}/${name}/flows.json`).trim().split("\n").slice(1);
        const joy = Deno.readTextFileSync(`${SHARED}/corpus/joy/${name}.json`).trim().split("\n").slice(1);
        deepStrictEqual(ours, joy, name);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "docs/joy_lifecycle.ts and docs/joy_workers.ts: a missing file or one that is not a capture is one line, exit 1",
  ignore: tryLoadLibpcap() === null,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      for (const input of [`${dir}/missing.pcap`, `${ROOT}/README.md`]) {
        for (const args of [["joy_lifecycle.ts", input, `${dir}/out`], ["joy_workers.ts", input, "2"]]) {
          const out = await new Deno.Command(Deno.execPath(), {
            args: ["run", "-A", `${ROOT}/docs/${args[0]}`, ...args.slice(1)],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const err = new TextDecoder().decode(out.stderr).trim();
          equal(out.code, 1, `${args.join(" ")}: ${err}`);
          equal(err.split("\n").length, 1, err);
          ok(err.includes(input), err);
          equal(new TextDecoder().decode(out.stdout), "");
        }
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("settings calls before initialize fail as Joy's do; calls after the last cleanup fail, also with a log file", () => {
  shutdown();
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/nets.txt`, "10.0.0.0/8\n");
    Deno.writeTextFileSync(`${dir}/nums.txt`, "0.1\n");
    Deno.writeTextFileSync(`${dir}/cbd.txt`, Array.from({ length: 256 }, (_, i) => `${i} 0`).join("\n"));
    for (
      const call of [
        () => anonSubnets(`${dir}/nets.txt`),
        () => anonHttpUsernames(`${dir}/nets.txt`),
        () => labelSubnets("lab", JOY_SINGLE_SUBNET, "10.0.0.0/8"),
        () => updateSpltBdParams(`${dir}/nums.txt`, `${dir}/nums.txt`),
        () => getCompactBd(`${dir}/cbd.txt`),
      ]
    ) {
      equal(call(), 1);
      match(joyLastError(), /has not been initialized/);
    }
    equal(initialize({ bitmask: BITS }, dir, "l.json", `${dir}/joy.log`), JOY_OK);
    equal(anonSubnets(`${dir}/nets.txt`), JOY_OK);
    equal(cleanup(0), JOY_OK);
    // The log file is closed now: these return their status (they threw writing to it).
    equal(cleanup(0), 1);
    equal(processPacket(0, { tsSec: 1, tsUsec: 0, capLen: 0 }, new Uint8Array(0)), 1);
  } finally {
    shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});
