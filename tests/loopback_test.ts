/**
 * Live traffic on the loopback interface: tcpdump records HTTP (IPv4 and IPv6, from `Deno.serve` and `fetch`)
 * and a UDP exchange made by the test itself; every flow jj extracts must have tshark's packets and bytes for
 * its 5-tuple, and reading the capture from a pipe (`tcpdump -r x -w - | jj extract -`) must give the same
 * output as reading the file. Needs root, tcpdump and tshark; skipped with the reason otherwise.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  canonicalKey,
  DENO,
  exists,
  freePort,
  hasCommand,
  parseJsonl,
  ROOT,
  run,
  runCli,
  SHARED,
  sortedEntries,
  startTcpdump,
  type Totals,
  totalsByKey,
  tsharkPackets,
  tsharkTotals,
} from "./helpers.ts";

const ORACLE = `${SHARED}/tools/oracle.py`;
let reason = "";
if (Deno.build.os !== "linux") reason = "not Linux (the loopback interface is lo)";
else if (Deno.uid() !== 0) reason = "not running as root (tcpdump needs it)";
else if (!hasCommand("tcpdump")) reason = "tcpdump is not installed";
else if (!hasCommand("tshark")) reason = "tshark is not installed";
if (reason) console.warn(`loopback_test: skipped: ${reason}`);

/** Makes HTTP traffic over IPv4 and IPv6 and a UDP exchange, all on `port`. */
async function makeTraffic(port: number): Promise<void> {
  const handler = (req: Request) => new Response(`hello ${new URL(req.url).pathname}\n`.repeat(20));
  const servers = [
    Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, handler),
    Deno.serve({ hostname: "::1", port, onListen: () => {} }, handler),
  ];
  for (const host of ["127.0.0.1", "[::1]"]) {
    for (const path of ["/a", "/b", "/c"]) {
      const r = await fetch(`http://${host}:${port}${path}`);
      assert.equal(r.status, 200);
      await r.text();
    }
  }
  for (const s of servers) await s.shutdown();

  // UDP: three requests and replies.
  const server = dgram.createSocket("udp4");
  const client = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => server.bind(port, "127.0.0.1", resolve));
  server.on(
    "message",
    (msg, from) => server.send(Buffer.concat([Buffer.from("re: "), msg]), from.port, from.address),
  );
  for (let i = 0; i < 3; i++) {
    const reply = new Promise<void>((resolve) => client.once("message", () => resolve()));
    client.send(Buffer.from(`ping ${i}`), port, "127.0.0.1");
    await reply;
  }
  client.close();
  server.close();
}

/** tshark's totals per 5-tuple: from ../shared/tools/oracle.py when present, else from tshark's fields here. */
async function expectedTotals(file: string): Promise<Map<string, Totals>> {
  if (exists(ORACLE)) {
    const r = await run("python3", [ORACLE, file]);
    assert.equal(r.code, 0, r.stderr);
    const m = new Map<string, Totals>();
    for (const line of r.stdout.split("\n").filter(Boolean)) {
      const e = JSON.parse(line) as {
        key: [number, string, number, string, number];
        packets: number;
        bytes: number;
      };
      m.set(canonicalKey(...e.key), { packets: e.packets, bytes: e.bytes });
    }
    return m;
  }
  return tsharkTotals(await tsharkPackets(file));
}

Deno.test({
  name:
    "loopback: live HTTP (v4, v6) and UDP recorded with tcpdump: every flow's packets and bytes match tshark",
  ignore: reason !== "",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "jj_lo_" });
    try {
      const file = `${dir}/lo.pcap`;
      const port = freePort();
      // -Z root: stay root, so that tcpdump can write into the test's private temporary directory.
      const tcpdump = await startTcpdump(file, `port ${port}`, ["-Z", "root"]);
      try {
        await makeTraffic(port);
        await new Promise((r) => setTimeout(r, 500)); // let the last packets reach the file
      } finally {
        await tcpdump.stop();
      }

      const out = await runCli(["extract", file]);
      assert.equal(out.code, 0, out.stderr);
      const records = parseJsonl(out.stdout);
      const ours = totalsByKey(records);
      const theirs = await expectedTotals(file);
      assert.deepEqual(sortedEntries(ours), sortedEntries(theirs));

      // The traffic that was made is there: HTTP over IPv4 and IPv6, and UDP, all on our port.
      const kinds = new Set(records.map((r) => `${r.protocol}/${r.ip_version_flow}`));
      for (const k of ["6/4", "6/6", "17/4"]) assert.ok(kinds.has(k), `no ${k} flow: ${[...kinds]}`);
      assert.ok(records.every((r) => r.src_port === port || r.dst_port === port));
      const frames = (await tsharkPackets(file)).length;
      assert.equal(records.reduce((a, r) => a + (r.total_packets as number), 0), frames);

      // The same capture through a pipe, as a live tcpdump would feed it.
      const piped = await run("sh", [
        "-c",
        `tcpdump -r "${file}" -w - 2>/dev/null | "${DENO}" run -A "${ROOT}/cli.ts" extract -q -`,
      ]);
      assert.equal(piped.code, 0, piped.stderr);
      const direct = await runCli(["extract", "-q", file]);
      assert.ok(direct.stdout.length > 0);
      assert.equal(piped.stdout, direct.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
