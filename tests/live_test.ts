/**
 * Tests for live capture (`jj live`, lib/live.ts). As root they capture on `lo` while the test makes real
 * traffic between local processes (an HTTP exchange, and a TLS exchange with `openssl s_server`), stop jj
 * with a signal, and check the flows against an independent tcpdump capture of the same traffic. Without root
 * (or without libpcap) those tests are skipped with the reason printed.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { decodeIpfixMessage, type IpfixTemplate } from "../outputs/ipfix.ts";
import { findAllDevs, tryLoadLibpcap } from "../ffi/libpcap.ts";
import type { FlowRecord } from "../lib/extractor.ts";
// The library entry point, as docs/extractors.md names it (it was missing there).
import { captureFlows } from "../mod.ts";
import {
  CLI,
  DENO,
  freePort,
  hasCommand,
  IS_ROOT,
  openssl,
  parseJsonl,
  type Proc,
  readJsonlFile,
  runCli,
  signal,
  sleep,
  spawn,
  startTcpdump,
  toHex,
  writeCountFlowsPlugin,
} from "./helpers.ts";

const dec = new TextDecoder();

const HAVE_LIBPCAP = tryLoadLibpcap() !== null;
const HAVE_TCPDUMP = hasCommand("tcpdump");
const HAVE_OPENSSL = hasCommand("openssl");
const CAN_CAPTURE = HAVE_LIBPCAP && IS_ROOT;
if (!HAVE_LIBPCAP) {
  console.warn("live_test: libpcap not loadable (apt-get install libpcap0.8): skipping live tests");
} else if (!IS_ROOT) {
  console.warn(
    "live_test: not root: skipping live capture tests (capturing on lo needs root or CAP_NET_RAW)",
  );
}
if (CAN_CAPTURE && !HAVE_TCPDUMP) {
  console.warn("live_test: tcpdump missing: skipping the reference comparison");
}
if (CAN_CAPTURE && !HAVE_OPENSSL) console.warn("live_test: openssl missing: skipping the TLS exchange");

function jj(args: string[]): Proc {
  return spawn(DENO, ["run", "-A", CLI, ...args]);
}

/** Flows of `jj extract` on a capture file. */
async function extractFile(path: string): Promise<FlowRecord[]> {
  const r = await runCli(["extract", "-q", "--features", "flow_meta", path]);
  assert.equal(r.code, 0, r.stderr);
  return parseJsonl(r.stdout);
}

/** Packets in a pcap matching a BPF filter, counted by tcpdump itself. */
function tcpdumpCount(path: string, filter: string): number {
  const r = new Deno.Command("tcpdump", { args: ["-n", "-r", path, filter], stdout: "piped", stderr: "null" })
    .outputSync();
  return dec.decode(r.stdout).split("\n").filter((l) => l.trim() !== "").length;
}

const COUNTERS = [
  "packets_fwd",
  "packets_bwd",
  "bytes_fwd",
  "bytes_bwd",
  "payload_bytes_fwd",
  "payload_bytes_bwd",
];

function pick(f: FlowRecord): Record<string, unknown> {
  const o: Record<string, unknown> = { src_port: f.src_port, dst_port: f.dst_port, protocol: f.protocol };
  for (const k of COUNTERS) o[k] = f[k];
  return o;
}

/** A CA (ca.pem) and a server certificate for 127.0.0.1 signed by it (cert.pem, key.pem) in `dir`. */
async function makeCertificates(dir: string): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    `${dir}/ca.key`,
    "-out",
    `${dir}/ca.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=jj test CA",
  ]);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/server.csr`,
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    `${dir}/server.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "1",
    "-extfile",
    `${dir}/ext.cnf`,
  ]);
}

// ---------------------------------------------------------------------------------------------------------
// HTTP and TLS on lo, stopped by SIGINT

Deno.test({
  name: "live: captures an HTTP and a TLS exchange on lo, SIGINT flushes them with the right packet counts" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE || !HAVE_TCPDUMP || !HAVE_OPENSSL,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const httpPort = freePort(), tlsPort = freePort(), metricsPort = freePort();
    const filter = `tcp port ${httpPort} or tcp port ${tlsPort}`;
    // an IPFIX collector for the live export
    const sink = dgram.createSocket("udp4");
    const ipfixMessages: Uint8Array[] = [];
    sink.on("message", (m: Uint8Array) => ipfixMessages.push(new Uint8Array(m)));
    await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
    const ipfixPort = sink.address().port;

    // TLS server: openssl s_server with a throw-away CA and server certificate
    const key = `${dir}/key.pem`, cert = `${dir}/cert.pem`, ca = `${dir}/ca.pem`;
    await makeCertificates(dir);
    const tlsServer = spawn("openssl", [
      "s_server",
      "-accept",
      `127.0.0.1:${tlsPort}`,
      "-cert",
      cert,
      "-key",
      key,
      "-www",
    ]);
    // HTTP server in this process
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: httpPort, onListen: () => {} },
      () => new Response("hello from the live test\n".repeat(200), { headers: { connection: "close" } }),
    );

    const ref = spawn("tcpdump", ["-i", "lo", "-n", "-U", "-w", `${dir}/ref.pcap`, filter]);
    const metricsAtEnd = { packets: -1, decoded: -1, bytes: -1 };
    const live = jj([
      "live",
      "-i",
      "lo",
      "--filter",
      filter,
      "-o",
      `${dir}/live.jsonl`,
      "--save-pcap",
      `${dir}/saved.pcap`,
      "--metrics",
      String(metricsPort),
      "--ipfix",
      `127.0.0.1:${ipfixPort}`,
    ]);
    try {
      assert.ok(await live.waitErr(/capturing on lo/), live.err());
      assert.ok(await ref.waitErr(/listening on lo/), ref.err());
      await sleep(200);

      // HTTP: a client in another process
      const client = await new Deno.Command(DENO, {
        args: [
          "eval",
          `const r = await fetch("http://127.0.0.1:${httpPort}/"); console.log((await r.text()).length);`,
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(dec.decode(client.stdout).trim(), String(25 * 200), dec.decode(client.stderr));

      // TLS: this process against openssl s_server
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: tlsPort,
        caCerts: [await Deno.readTextFile(ca)],
      });
      await conn.write(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
      let reply = "";
      const buf = new Uint8Array(16384);
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        reply += dec.decode(buf.subarray(0, n));
      }
      try {
        conn.close();
      } catch { /* closed by the server */ }
      assert.match(reply, /^HTTP\/1\.0 200/);
      await sleep(1500); // the metrics tick is 1 s

      const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const packetsMetric = Number(/^jj_packets_total (\d+)$/m.exec(scrape)?.[1]);
      assert.ok(packetsMetric > 10, scrape);
      // Compared with the flows written below (all the traffic came before this scrape).
      metricsAtEnd.packets = packetsMetric;
      metricsAtEnd.decoded = Number(/^jj_packets_decoded_total (\d+)$/m.exec(scrape)?.[1]);
      metricsAtEnd.bytes = Number(/^jj_bytes_total (\d+)$/m.exec(scrape)?.[1]);
      assert.match(scrape, /^jj_active_flows 2$/m);
      assert.match(scrape, /^jj_capture_dropped_total\{where="kernel"\} 0$/m);

      live.child.kill("SIGINT");
      assert.equal(await live.done(), 0, live.err());
    } finally {
      signal(live, "SIGKILL");
      await sleep(300);
      signal(ref, "SIGINT");
      await ref.done();
      signal(tlsServer, "SIGTERM");
      await tlsServer.done();
      await http.shutdown();
    }
    try {
      const err = live.err();
      const stats = /pcap_stats: (\d+) received, (\d+) dropped by kernel, (\d+) dropped by interface/.exec(
        err,
      );
      assert.ok(stats, err);
      const captured = Number(/(\d+) packets captured/.exec(err)?.[1]);
      assert.match(err, /stopped by signal/);
      assert.equal(Number(stats[2]), 0);
      // on lo the kernel hands libpcap each packet twice (out and in); libpcap drops the outgoing copy
      assert.ok(Number(stats[1]) >= captured, err);

      const flows = await readJsonlFile(`${dir}/live.jsonl`);
      assert.equal(flows.length, 2, JSON.stringify(flows.map(pick)));
      const httpFlow = flows.find((f) => f.dst_port === httpPort)!;
      const tlsFlow = flows.find((f) => f.dst_port === tlsPort)!;
      assert.ok(httpFlow && tlsFlow);
      for (const f of flows) {
        assert.equal(f.protocol, 6);
        assert.equal(f.src_ip, "127.0.0.1");
        assert.equal(f.flow_end_reason, "end"); // flushed at the signal (idle timeout is 60 s)
      }
      assert.equal(tlsFlow.tls_detected, true);
      assert.ok((httpFlow.payload_bytes_bwd as number) >= 25 * 200);

      // packet counts against tcpdump's own capture of the same traffic
      const refPcap = `${dir}/ref.pcap`;
      assert.equal(httpFlow.total_packets, tcpdumpCount(refPcap, `tcp port ${httpPort}`));
      assert.equal(tlsFlow.total_packets, tcpdumpCount(refPcap, `tcp port ${tlsPort}`));
      const refFlows = await extractFile(refPcap);
      assert.deepEqual(
        refFlows.map(pick).sort((a, b) => (a.dst_port as number) - (b.dst_port as number)),
        [httpFlow, tlsFlow].map(pick).sort((a, b) => (a.dst_port as number) - (b.dst_port as number)),
      );
      assert.equal(captured, (httpFlow.total_packets as number) + (tlsFlow.total_packets as number));
      // The metrics scraped once the traffic was over count the same packets and bytes.
      assert.deepEqual(metricsAtEnd, {
        packets: captured,
        decoded: captured,
        bytes: (httpFlow.total_bytes as number) + (tlsFlow.total_bytes as number),
      });
      console.log(
        `live_test: ${captured} packets captured (HTTP ${httpFlow.packets_fwd}+${httpFlow.packets_bwd}, ` +
          `TLS ${tlsFlow.packets_fwd}+${tlsFlow.packets_bwd}); pcap_stats ${stats[1]} received, ${
            stats[2]
          } dropped`,
      );

      // --save-pcap holds every captured packet
      assert.equal(tcpdumpCount(`${dir}/saved.pcap`, "tcp"), captured);
      const savedFlows = await extractFile(`${dir}/saved.pcap`);
      assert.deepEqual(savedFlows.map(pick).sort(), flows.map(pick).sort());

      // IPFIX from live: the same flows as uni-flow records
      await sleep(100);
      const known = new Map<number, IpfixTemplate>();
      const recs = ipfixMessages.flatMap((m) => decodeIpfixMessage(m, known)?.records ?? []);
      const got = recs.map((r) => `${r.values["7"]}>${r.values["11"]}:${r.values["2"]}/${r.values["1"]}`)
        .sort();
      // octetDeltaCount counts from the IP header: on lo each frame has a 14-byte link header.
      const want = flows.flatMap((f) => [
        `${f.src_port}>${f.dst_port}:${f.packets_fwd}/${f.ip_bytes_fwd}`,
        `${f.dst_port}>${f.src_port}:${f.packets_bwd}/${f.ip_bytes_bwd}`,
      ]).sort();
      for (const f of flows) {
        assert.equal(f.ip_bytes_fwd, (f.bytes_fwd as number) - 14 * (f.packets_fwd as number));
        assert.equal(f.ip_bytes_bwd, (f.bytes_bwd as number) - 14 * (f.packets_bwd as number));
      }
      assert.deepEqual(got, want);
    } finally {
      sink.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// flows leave on the wall clock while no packets come; --duration and --count stop by themselves

/** A test that captures on lo: skipped, saying why, without root and libpcap; subprocesses outlive its ops. */
function captureTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name: name + (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
    ignore: !CAN_CAPTURE,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/** `jj live` arguments capturing on lo the UDP datagrams of one port. */
function liveOnUdpPort(port: number, ...more: string[]): string[] {
  return ["live", "-i", "lo", "--filter", `udp port ${port}`, ...more];
}

async function sendUdp(port: number, n: number): Promise<void> {
  const s = dgram.createSocket("udp4");
  for (let i = 0; i < n; i++) {
    await new Promise<void>((r) => s.send(`datagram ${i}`, port, "127.0.0.1", () => r()));
  }
  s.close();
}

Deno.test({
  name: "live: an idle flow is written while capture goes on; --duration stops by itself" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const port = freePort();
    const live = jj(liveOnUdpPort(port, "--idle-timeout", "1", "--duration", "5", "-o", `${dir}/out.jsonl`));
    try {
      assert.ok(await live.waitErr(/capturing on lo/), live.err());
      const t0 = Date.now();
      await sendUdp(port, 3);
      let early: FlowRecord[] = [];
      while (Date.now() - t0 < 3500 && early.length === 0) {
        await sleep(100);
        early = await readJsonlFile(`${dir}/out.jsonl`);
      }
      const waited = Date.now() - t0;
      assert.equal(early.length, 1, "the idle flow reached the file before the capture ended");
      assert.equal(early[0].flow_end_reason, "idle");
      assert.equal(early[0].total_packets, 3);
      // Not before its idle timeout (1 s after the last packet); found while the capture still ran (5 s).
      assert.ok(waited >= 900, `written ${waited} ms after the last packet`);
      assert.equal(await live.done(), 0, live.err());
      assert.match(live.err(), /stopped by duration after \d+\.\d\d s/);
      assert.equal((await readJsonlFile(`${dir}/out.jsonl`)).length, 1);
    } finally {
      signal(live, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "live: --count stops after that many packets; SIGTERM also stops cleanly" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const port = freePort();
    const live = jj(["live", "-i", "lo", "--filter", `udp port ${port}`, "--count", "5"]);
    assert.ok(await live.waitErr(/capturing on lo/), live.err());
    await sendUdp(port, 12);
    assert.equal(await live.done(), 0, live.err());
    assert.match(live.err(), /stopped by count/);
    const flows = live.out().trim().split("\n").map((l) => JSON.parse(l) as FlowRecord);
    assert.equal(flows.reduce((a, f) => a + (f.total_packets as number), 0), 5);

    const term = jj(["live", "-i", "lo", "--filter", `udp port ${port}`]);
    assert.ok(await term.waitErr(/capturing on lo/), term.err());
    await sendUdp(port, 4);
    await sleep(300);
    term.child.kill("SIGTERM");
    assert.equal(await term.done(), 0, term.err());
    assert.match(term.err(), /stopped by signal/);
    assert.match(term.err(), /pcap_stats: \d+ received, 0 dropped by kernel/);
    const f2 = term.out().trim().split("\n").map((l) => JSON.parse(l) as FlowRecord);
    assert.equal(f2.length, 1);
    assert.equal(f2[0].total_packets, 4);
  },
});

Deno.test({
  name: "live: the library loop keeps the event loop free (timers run while it waits for packets)" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const port = freePort();
    const stop = new AbortController();
    // Waits of up to 1 s per poll: a loop that blocked the event loop would starve the 10 ms timer for
    // about a second at a time; a free loop keeps it ticking (a loaded machine slows it, never to 1 s gaps).
    let ticks = 0, last = performance.now(), maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    setTimeout(() => sendUdp(port, 2), 200);
    setTimeout(() => stop.abort(), 1500);
    const it = captureFlows({
      iface: "lo",
      filter: `udp port ${port}`,
      signal: stop.signal,
      features: ["timing"],
      pollTimeoutMs: 1000,
    });
    const flows: FlowRecord[] = [];
    let summary;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        summary = r.value;
        break;
      }
      flows.push(r.value);
    }
    clearInterval(timer);
    assert.equal(summary.waitMode, "poll");
    assert.equal(summary.stoppedBy, "signal");
    // The event loop kept turning while capture waited (a blocked one gives a tick or two in 1.5 s); no time
    // bound is asserted: a loaded machine stretches them.
    assert.ok(ticks >= 10, `${ticks} timer ticks, longest gap ${maxGap.toFixed(0)} ms`);
    assert.equal(flows.length, 1);
    assert.equal(flows[0].total_packets, 2);
    assert.equal(summary.packetsRead, 2);
  },
});

// ---------------------------------------------------------------------------------------------------------
// errors name the fix

Deno.test({
  name: "live: --list shows lo; no -i is a usage error",
  ignore: !HAVE_LIBPCAP,
  fn: async () => {
    const list = jj(["live", "--list"]);
    assert.equal(await list.done(), 0, list.err());
    assert.match(list.out(), /^lo\t.*loopback/m);
    const none = jj(["live"]);
    assert.equal(await none.done(), 2);
    assert.match(none.err(), /live needs -i IFACE \(jj live --list shows the interfaces\)/);
  },
});

Deno.test({
  name: "live: an unknown interface is named with the list of interfaces" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  fn: async () => {
    // --metrics: its URL is announced only once the capture is open, so the error comes alone
    const p = jj(["live", "-i", "nosuch0", "--duration", "1", "--metrics", "0"]);
    assert.equal(await p.done(), 1);
    assert.match(p.err(), /^jj: error: no such interface nosuch0; available: [^\n]*\blo\b[^\n]*\n$/);
    // A capture that never started leaves a previous -o file as it was, in every output format.
    const dir = await Deno.makeTempDir({ prefix: "jj-live-o-" });
    try {
      for (const name of ["flows.jsonl", "flows.csv", "flows.parquet", "flows.jsonl.gz"]) {
        const path = `${dir}/${name}`;
        await Deno.writeTextFile(path, "previous results\n");
        const q = jj(["live", "-i", "nosuch0", "-o", path]);
        assert.equal(await q.done(), 1, name);
        assert.match(q.err(), /no such interface nosuch0/);
        assert.equal(await Deno.readTextFile(path), "previous results\n", name);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const HAVE_SETPRIV = IS_ROOT && hasCommand("setpriv");

Deno.test({
  name: "live: without privileges the error says to run as root or grant CAP_NET_RAW" +
    (HAVE_SETPRIV ? "" : " (skipped: needs root to drop to nobody with setpriv)"),
  ignore: !HAVE_LIBPCAP || !HAVE_SETPRIV,
  fn: async () => {
    const denoDir = await Deno.makeTempDir({ prefix: "jj-deno-" });
    await Deno.chmod(denoDir, 0o777);
    try {
      const r = await new Deno.Command("setpriv", {
        args: [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "env",
          `DENO_DIR=${denoDir}`,
          `HOME=${denoDir}`,
          DENO,
          "run",
          "-A",
          CLI,
          "live",
          "-i",
          "lo",
          "--duration",
          "1",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = dec.decode(r.stderr);
      if (/Permission denied|EACCES/i.test(err) && !/capturing on lo/.test(err)) {
        // The checkout itself is not readable by nobody: nothing to learn here.
        console.warn(`live_test: nobody cannot run the checkout: ${err.split("\n")[0]}`);
        return;
      }
      assert.equal(r.code, 1, err);
      assert.match(err, /permission denied capturing on lo: run as root or grant CAP_NET_RAW/);
    } finally {
      await Deno.remove(denoDir, { recursive: true });
    }
  },
});

const HAVE_UNSHARE = IS_ROOT && hasCommand("unshare");

Deno.test({
  name: "live: without libpcap the error says how to install it" +
    (HAVE_UNSHARE ? "" : " (skipped: needs root and unshare to hide libpcap)"),
  ignore: !HAVE_LIBPCAP || !HAVE_UNSHARE,
  fn: async () => {
    // In a private mount namespace, cover every libpcap file with /dev/null.
    const script = `for f in $(ldconfig -p | awk '/libpcap/ {print $NF}'); do ` +
      `mount --bind /dev/null "$(readlink -f "$f")" || exit 99; done; ` +
      `exec "$0" run -A "$1" live -i lo --duration 1`;
    const r = await new Deno.Command("unshare", {
      args: ["-m", "sh", "-c", script, DENO, CLI],
      env: { JJ_LIBPCAP: "" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (r.code === 99) {
      console.warn("live_test: cannot bind-mount here: skipping the missing-libpcap check");
      return;
    }
    const err = dec.decode(r.stderr);
    assert.equal(r.code, 1, err);
    assert.match(err, /libpcap not found: install libpcap0\.8 \(apt-get install -y libpcap0\.8\)/);
  },
});

Deno.test("live: --features connection (alone or in a list) is a usage error: it needs the whole input", async () => {
  for (const groups of ["connection", "all,connection", "timing, connection"]) {
    const p = jj(["live", "-i", "lo", "--duration", "1", "-q", "--features", groups]);
    assert.equal(await p.done(), 2, `${groups}: ${p.err()}`);
    assert.equal(p.out(), "");
    assert.match(p.err(), /^jj: error: --features connection: .*whole input.*jj extract only/m);
    assert.ok(!/^\s+at /m.test(p.err()), p.err());
  }
});

Deno.test("live: --save-pcap to stdout with the records there, or named .gz, is a usage error saying why", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The packets went over the records on stdout, which libpcap's dumper then closed (the last records were
    // lost, exit 0); a .gz name held an uncompressed pcap that extract then refused to read.
    for (
      const args of [
        ["--save-pcap", "-"],
        ["--save-pcap", "/dev/stdout", "-o", "-"],
        ["--save-pcap", "-", "-o", "/dev/stdout"],
        ["--save-pcap", `${dir}/lo.pcap.gz`],
      ]
    ) {
      const p = jj(["live", "-i", "lo", "--duration", "1", "-q", ...args]);
      assert.equal(await p.done(), 2, `${args.join(" ")}: ${p.err()}`);
      assert.equal(p.out(), "");
      assert.match(
        p.err(),
        /^jj: error: --save-pcap (.* writes the packets to stdout|writes an uncompressed pcap)/,
      );
      assert.equal(p.err().trim().split("\n").length, 1, p.err());
    }
    await assert.rejects(Deno.stat(`${dir}/lo.pcap.gz`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("live: a setting the capture would ignore is a usage error, as in extract; --list takes no capture option", async () => {
  const cases: [string[], RegExp][] = [
    [["--eviction-strategy", "oldest"], /^jj: error: --eviction-strategy only applies with --max-flows N$/m],
    [
      ["--burst-threshold-ms", "5", "--features", "tcp"],
      /^jj: error: --burst-threshold-ms only applies with/m,
    ],
    [
      ["--list", "--filter", "tcp"],
      /^jj: error: --list only lists the interfaces: it takes no --interface, --filter/m,
    ],
  ];
  for (const [args, message] of cases) {
    const p = jj(["live", "-i", "lo", "--duration", "1", "-q", ...args]);
    assert.equal(await p.done(), 2, `${args.join(" ")}: ${p.err()}`);
    assert.equal(p.out(), "");
    assert.match(p.err(), message);
  }
});

Deno.test("live: --metrics outside 0..65535 is a usage error at parse time", async () => {
  for (const port of ["70000", "65536", "-1"]) {
    const p = jj(["live", "-i", "lo", "--duration", "1", "-q", "--metrics", port]);
    assert.equal(await p.done(), 2, `${port}: ${p.err()}`);
    assert.match(p.err(), /--metrics must be a port number, 0 to 65535/);
  }
});

Deno.test("live: --snaplen and --buffer-size beyond what libpcap takes are usage errors naming the range", async () => {
  for (
    const [opt, value, range] of [
      ["--snaplen", "2147483648", "1 to 262144"],
      ["--snaplen", "262145", "1 to 262144"],
      ["--snaplen", "0", "1 to 262144"],
      ["--buffer-size", "2147483648", "65536 to 2147483647"],
      ["--buffer-size", "1000", "65536 to 2147483647"],
    ]
  ) {
    const p = jj(["live", "-i", "lo", "--duration", "1", "-q", opt, value]);
    assert.equal(await p.done(), 2, `${opt} ${value}: ${p.err()}`);
    assert.match(p.err(), new RegExp(`${opt} must be an integer from ${range}`));
    assert.ok(!/FFI/.test(p.err()), p.err());
  }
});

Deno.test("live: --metrics on a busy port names the fix", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const p = jj(["live", "-i", "lo", "--duration", "1", "--metrics", String(port)]);
    assert.equal(await p.done(), 1, p.err());
    assert.match(
      p.err(),
      new RegExp(
        `^jj: error: cannot serve metrics on 127\\.0\\.0\\.1:${port}: .*; choose another port, or 0 for any free one\n$`,
      ),
    );
  } finally {
    busy.close();
  }
});

Deno.test({
  name: "live: a JJ_LIBPCAP that does not load is an error naming it, for live capture and files alike",
  ignore: !HAVE_LIBPCAP,
  fn: async () => {
    for (
      const args of [
        ["live", "-i", "lo", "--duration", "1"],
        ["extract", "-q", "--reader", "libpcap", "testdata/http.pcap"],
        ["fingerprint", "-q", "--filter", "tcp", "testdata/http.pcap"],
      ]
    ) {
      const r = await new Deno.Command(DENO, {
        args: ["run", "-A", CLI, ...args],
        env: { JJ_LIBPCAP: "/nonexistent/libpcap.so" },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = dec.decode(r.stderr);
      assert.equal(r.code, 1, `${args[0]}: ${err}`);
      assert.equal(dec.decode(r.stdout), "", args[0]);
      assert.match(
        err,
        /^jj: error: cannot load JJ_LIBPCAP=\/nonexistent\/libpcap\.so: .*No such file or directory .*unset it.*\n$/,
      );
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// what a live capture keeps and how it handles odd interfaces

/** The timestamps of a little-endian pcap file as "seconds.fraction" (nanoseconds or microseconds) strings. */
function pcapTimestamps(path: string): { nano: boolean; ts: string[] } {
  const b = Deno.readFileSync(path);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = dv.getUint32(0, true);
  assert.ok(magic === 0xa1b23c4d || magic === 0xa1b2c3d4, `${path}: magic ${magic.toString(16)}`);
  const nano = magic === 0xa1b23c4d;
  const ts: string[] = [];
  for (let off = 24; off + 16 <= b.length; off += 16 + dv.getUint32(off + 8, true)) {
    ts.push(`${dv.getUint32(off, true)}.${String(dv.getUint32(off + 4, true)).padStart(nano ? 9 : 6, "0")}`);
  }
  return { nano, ts };
}

Deno.test({
  name:
    "live: --save-pcap keeps the kernel's nanosecond timestamps, as tcpdump's nanosecond capture has them" +
    (CAN_CAPTURE && HAVE_TCPDUMP ? "" : " (skipped: needs root, libpcap and tcpdump)"),
  ignore: !CAN_CAPTURE || !HAVE_TCPDUMP,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const port = freePort();
    const filter = `udp port ${port}`;
    const ref = await startTcpdump(`${dir}/ref.pcap`, filter, [
      "--time-stamp-precision=nano",
      // a 64 MiB buffer (as jj's): libpcap's 2 MB default holds about 30 of lo's 64 KiB slots, and a burst of 20
      // datagrams, seen twice on lo, overflows it
      "-B",
      "65536",
    ]);
    const live = jj([
      "live",
      "-i",
      "lo",
      "--filter",
      filter,
      "--count",
      "20",
      "--save-pcap",
      `${dir}/saved.pcap`,
    ]);
    try {
      assert.ok(await live.waitErr(/capturing on lo/), live.err());
      await sendUdp(port, 20);
      assert.equal(await live.done(), 0, live.err());
      await sleep(200);
      await ref.stop();
      const saved = pcapTimestamps(`${dir}/saved.pcap`);
      const want = pcapTimestamps(`${dir}/ref.pcap`);
      assert.ok(saved.nano && want.nano);
      assert.equal(saved.ts.length, 20);
      // Both sockets get the skb's one timestamp: the saved file must have it to the nanosecond (a double in
      // between rounds it to a multiple of 2^-22 s, about 238 ns).
      assert.deepEqual(saved.ts.toSorted(), want.ts.toSorted());
    } finally {
      signal(live, "SIGKILL");
      await ref.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "live: a filter with 'ip broadcast' compiles (the interface's netmask is looked up)" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  fn: async () => {
    const p = jj(["live", "-i", "lo", "--filter", "ip broadcast or udp port 9", "--duration", "1"]);
    assert.equal(await p.done(), 0, p.err());
    assert.match(p.err(), /stopped by duration/);
  },
});

Deno.test({
  name: "live: --save-pcap to a path that cannot be written names the option, the path and the reason" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  fn: async () => {
    const p = jj(["live", "-i", "lo", "--duration", "1", "-q", "--save-pcap", "/nonexistent/x.pcap"]);
    assert.equal(await p.done(), 1, p.err());
    assert.equal(
      p.err(),
      "jj: error: cannot write --save-pcap /nonexistent/x.pcap: No such file or directory\n",
    );
  },
});

const HAVE_NFLOG = CAN_CAPTURE && Deno.build.os === "linux" && findAllDevs().some((d) => d.name === "nflog");

Deno.test({
  name: "live: nflog (whose reads say EAGAIN while nothing is logged) runs until --duration" +
    (HAVE_NFLOG ? "" : " (skipped: needs root, libpcap and the nflog device)"),
  ignore: !HAVE_NFLOG,
  fn: async () => {
    const p = jj(["live", "-i", "nflog", "--duration", "2"]);
    // Its link type (239) is not decoded: said at once, and the run fails (see below).
    assert.equal(await p.done(), 1, p.err());
    assert.match(p.err(), /stopped by duration/);
  },
});

const CAN_ADD_LINK = CAN_CAPTURE && Deno.build.os === "linux" && hasCommand("ip");

/** Runs `ip ARGS`; returns whether it succeeded. */
async function ip(...args: string[]): Promise<boolean> {
  return (await new Deno.Command("ip", { args, stdout: "null", stderr: "null" }).output()).success;
}

/** Creates an ifb interface (down) for `fn` and deletes it after; `null` when one cannot be made here. */
async function withIfb(fn: (name: string) => Promise<void>): Promise<boolean> {
  const name = `jjt${Deno.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  if (!await ip("link", "add", name, "type", "ifb")) return false;
  try {
    await fn(name);
  } finally {
    await ip("link", "del", name);
  }
  return true;
}

Deno.test({
  name: "live: an interface that is down, or that goes away, gives one line naming the fix or the problem" +
    (CAN_ADD_LINK ? "" : " (skipped: needs root, libpcap and ip)"),
  ignore: !CAN_ADD_LINK,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const made = await withIfb(async (name) => {
      const down = jj(["live", "-i", name, "--duration", "1"]);
      assert.equal(await down.done(), 1, down.err());
      assert.equal(
        down.err(),
        `jj: error: cannot capture on ${name}: That device is not up (bring it up: ip link set ${name} up)\n`,
      );

      assert.ok(await ip("link", "set", name, "up"));
      const gone = jj(["live", "-i", name, "--duration", "20"]);
      try {
        assert.ok(await gone.waitErr(/capturing on/), gone.err());
        await sleep(300);
        assert.ok(await ip("link", "del", name));
        assert.equal(await gone.done(), 1, gone.err());
        // the prefix once: "capture on X failed: The interface disappeared"
        assert.match(gone.err(), new RegExp(`^jj: error: capture on ${name} failed: `, "m"));
        assert.equal(gone.err().split(`capture on ${name} failed`).length, 2, gone.err());
      } finally {
        signal(gone, "SIGKILL");
      }
    });
    if (!made) console.warn("live_test: cannot create an ifb interface here: skipping the interface checks");
  },
});

captureTest(
  "live: a --save-pcap file that cannot be written stops the capture with an error naming it; the flows held " +
    "are still written",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const port = freePort();
    // /dev/full takes the file open and refuses every write: pcap_dump itself reports nothing.
    const live = jj(
      liveOnUdpPort(port, "--duration", "4", "--save-pcap", "/dev/full", "-o", `${dir}/out.jsonl`),
    );
    try {
      assert.ok(await live.waitErr(/capturing on lo/), live.err());
      await sendUdp(port, 3);
      assert.equal(await live.done(), 1, live.err());
      assert.match(live.err(), /stopped by error/);
      assert.match(live.err(), /jj: error: cannot write --save-pcap \/dev\/full: packets were lost/);
      assert.doesNotMatch(live.err(), /packets saved/);
      const flows = await readJsonlFile(`${dir}/out.jsonl`);
      assert.equal(flows.length, 1);
      assert.equal(flows[0].total_packets, 3);
    } finally {
      signal(live, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test({
  name:
    "live and fingerprint --live: a filter libpcap does not compile, and -o naming the --save-pcap file, " +
    "are usage errors" + (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  fn: async () => {
    for (
      const args of [
        ["live", "-i", "lo", "--duration", "1", "--filter", "tcp port"],
        ["fingerprint", "--live", "-i", "lo", "--duration", "1", "--filter", "tcp port"],
        [
          "live",
          "-i",
          "lo",
          "--duration",
          "1",
          "--save-pcap",
          "/tmp/jj-same.pcap",
          "-o",
          "/tmp/./jj-same.pcap",
        ],
      ]
    ) {
      const r = await runCli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  },
});

captureTest(
  "fingerprint --live accounts for every packet (skipped ones by reason)",
  async () => {
    const port = freePort();
    const fp = jj([
      "fingerprint",
      "--live",
      "-i",
      "lo",
      "--snaplen",
      "20",
      "--filter",
      `udp port ${port}`,
      "--duration",
      "3",
      "-o",
      "/dev/null",
    ]);
    try {
      assert.ok(await fp.waitErr(/capturing on lo/), fp.err());
      await sendUdp(port, 4);
      assert.equal(await fp.done(), 0, fp.err());
      assert.match(fp.err(), /4 packets captured, 0 decoded, 4 skipped \(truncated headers: 4\)/);
    } finally {
      signal(fp, "SIGKILL");
    }
  },
);

captureTest(
  "live: a burst that waits while jj is paused is captured whole and its flow stays one flow",
  async () => {
    // jj is stopped (SIGSTOP: as a slow reader of its output or a pause of the runtime would hold it) while
    // 20,000 datagrams of one flow arrive, and resumed more than the idle timeout later. The ring held about
    // 1,000 packets at the default snaplen (immediate mode: one 64 KiB slot per packet), and the wall clock,
    // ahead of the waiting packets, ended the flow after the first batch of them.
    const port = freePort();
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const p = jj([
      "live",
      "-i",
      "lo",
      "--filter",
      `udp port ${port}`,
      "--idle-timeout",
      "1",
      "--features",
      "flow_meta",
      "--save-pcap",
      `${dir}/saved.pcap`,
    ]);
    try {
      assert.ok(await p.waitErr(/capturing on lo/), p.err());
      signal(p, "SIGSTOP");
      const s = dgram.createSocket("udp4");
      s.bind(0, "127.0.0.1");
      const payload = new Uint8Array(64);
      let sent = 0;
      for (let i = 0; i < 20000; i++) {
        await new Promise<void>((r) => s.send(payload, port, "127.0.0.1", () => r()));
        sent++;
      }
      s.close();
      await sleep(1500);
      signal(p, "SIGCONT");
      await sleep(1500);
      signal(p, "SIGTERM");
      assert.equal(await p.done(), 0, p.err());
      assert.match(p.err(), new RegExp(`${sent} packets captured`));
      assert.match(p.err(), /, 0 dropped by kernel/);
      const flows = parseJsonl(p.out());
      assert.equal(flows.length, 1, p.out());
      assert.equal(flows[0].total_packets, sent);
      assert.deepEqual(
        flows.map((f) => f.total_packets),
        (await extractFile(`${dir}/saved.pcap`)).map((f) => f.total_packets),
      );
    } finally {
      signal(p, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

captureTest(
  "live: at a stop, every packet the kernel received before it is read, however long that takes",
  async () => {
    // A review's case: jj held back (SIGSTOP, as a slow reader of its records holds it) while 30,000 datagrams
    // of 30,000 flows arrive, then stopped by a signal. The packets waiting were read for one second: 16,384 of
    // 39,310 in the review's run, the rest in no record and no count ("0 dropped by kernel").
    const base = 20000 + Math.floor(Math.random() * 20000);
    const ports = 30;
    const p = jj([
      "live",
      "-i",
      "lo",
      "--filter",
      `udp dst portrange ${base}-${base + ports - 1}`,
      "-o",
      "/dev/null",
    ]);
    try {
      assert.ok(await p.waitErr(/capturing on lo/), p.err());
      signal(p, "SIGSTOP");
      const payload = new Uint8Array(32);
      let sent = 0;
      for (let k = 0; k < 1000; k++) {
        const s = dgram.createSocket("udp4");
        s.bind(0, "127.0.0.1");
        for (let i = 0; i < ports; i++) {
          await new Promise<void>((r) => s.send(payload, base + i, "127.0.0.1", () => r()));
          sent++;
        }
        s.close();
      }
      await sleep(500);
      signal(p, "SIGINT");
      signal(p, "SIGCONT");
      assert.equal(await p.done(), 0, p.err());
      // Every datagram was captured before the stop (pcap_stats on lo counts each twice: not compared).
      assert.match(p.err(), new RegExp(`${sent} packets captured`), p.err());
      assert.match(p.err(), /, 0 dropped by kernel/);
    } finally {
      signal(p, "SIGKILL");
    }
  },
);

Deno.test({
  name: "live: an interface whose link type jj does not decode (nflog) is said at once, and the run fails",
  ignore: !HAVE_NFLOG,
  async fn() {
    // It captured, skipped every packet as an unsupported link type, wrote no flow and exited 0.
    const r = await runCli(["live", "-i", "nflog", "--duration", "1"]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trim().split("\n");
    assert.match(
      lines[0],
      /^jj: warning: nflog: link type 239, which jj does not decode: its packets are skipped/,
    );
    assert.ok(lines.some((l) => /stopped by duration/.test(l)), r.stderr);
  },
});

Deno.test({
  name: "fingerprint --live on an interface whose link type jj does not decode (nflog) fails, as live does",
  ignore: !HAVE_NFLOG,
  async fn() {
    // It warned, and exited 0.
    const r = await runCli(["fingerprint", "--live", "-i", "nflog", "--duration", "1"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^jj: warning: nflog: link type 239, which jj does not decode/);
  },
});

captureTest(
  "live: a flow whose gaps are just under the idle timeout stays one flow, as extract of the same packets",
  async () => {
    // Linux hands packets on in blocks, the last one once it is 50 ms old (the read timeout): a flow was ended
    // by the wall clock while its next packet, captured, sat in that block. Four flows, each four datagrams
    // 0.97 s apart, idle timeout 1 s, expiry every 10 ms (so that a tick falls in each wait): every flow came
    // out in two to four parts. The reference is extract of the run's own saved packets, so that a datagram
    // sent late (a gap truly past the timeout) splits both alike.
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const port = freePort();
    const ports = [port, port + 1, port + 2, port + 3];
    try {
      const it = captureFlows({
        iface: "lo",
        filter: `udp and dst portrange ${port}-${port + 3}`,
        features: ["flow_meta"],
        idleTimeout: 1,
        duration: 5,
        expireIntervalMs: 10,
        savePcap: `${dir}/saved.pcap`,
      });
      const records: FlowRecord[] = [];
      const collecting = (async () => {
        for await (const r of it) records.push({ ...r });
      })();
      await sleep(300);
      const s = dgram.createSocket("udp4");
      const start = performance.now() + 100;
      const sends = ports.flatMap((p, i) => [0, 1, 2, 3].map((k) => ({ at: start + 250 * i + 970 * k, p })))
        .sort((a, b) => a.at - b.at);
      for (const { at, p } of sends) {
        await sleep(Math.max(0, at - performance.now()));
        await new Promise<void>((r) => s.send("g", p, "127.0.0.1", () => r()));
      }
      s.close();
      await collecting;
      const parts = (rs: FlowRecord[]) => rs.map((r) => `${r.dst_port} ${r.total_packets}`).sort();
      const reference = await runCli([
        "extract",
        "-q",
        "--features",
        "flow_meta",
        "--idle-timeout",
        "1",
        `${dir}/saved.pcap`,
      ]);
      assert.equal(reference.code, 0, reference.stderr);
      assert.equal(records.reduce((n, r) => n + (r.total_packets as number), 0), 16);
      assert.deepEqual(parts(records), parts(parseJsonl(reference.stdout)));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

captureTest(
  "live: output that fails in the background (a full disk) ends the capture at once, not at the next flow",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
    const port = freePort();
    await Deno.symlink("/dev/full", `${dir}/full.jsonl`);
    // A long --duration: only the failed write can end it within the test.
    const live = jj(
      liveOnUdpPort(port, "--idle-timeout", "1", "--duration", "60", "-o", `${dir}/full.jsonl`),
    );
    try {
      assert.ok(await live.waitErr(/capturing on lo/), live.err());
      await sendUdp(port, 3);
      // The flow ends idle after 1 s, its line is written 200 ms later and fails; before, jj captured on until a
      // second flow was written (on a quiet interface, for hours).
      assert.ok(await live.waitErr(/No space left on device/, 15000), live.err());
      assert.equal(await live.done(), 1, live.err());
      assert.match(live.err(), /cannot write .*full\.jsonl: No space left on device/);
    } finally {
      signal(live, "SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * Captures `count` UDP datagrams on lo with `options`, writing `-o live.EXT` and saving the packets, then extracts
 * the saved packets with the same options to `extract.EXT`; hands the directory, with both files, to `check`.
 */
async function liveAsExtract(
  options: string[],
  count: number,
  ext: string,
  check: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "jj-live-" });
  const port = freePort();
  const live = jj([
    ...["live", "-i", "lo", "--filter", `udp port ${port}`, "--count", String(count), ...options],
    ...["--save-pcap", `${dir}/saved.pcap`, "-o", `${dir}/live.${ext}`],
  ]);
  try {
    assert.ok(await live.waitErr(/capturing on lo/), live.err());
    await sendUdp(port, count);
    assert.equal(await live.done(), 0, live.err());
    const r = await runCli(["extract", "-q", ...options, "-o", `${dir}/extract.${ext}`, `${dir}/saved.pcap`]);
    assert.equal(r.code, 0, r.stderr);
    await check(dir);
  } finally {
    signal(live, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "live: --include-splt, --include-sequences, --max-sequence-length and --entropy-sample-bytes, as extract" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // live had none of them (a review's find): a researcher's SPLT came only from extract of a saved capture.
    const shape = ["--include-splt", "--include-sequences", "--max-sequence-length", "5"];
    await liveAsExtract([...shape, "--entropy-sample-bytes", "4"], 12, "csv", async (dir) => {
      const csv = await Deno.readTextFile(`${dir}/live.csv`);
      const header = csv.split("\n")[0].split(",");
      for (const c of ["splt", "splt_lengths", "iat_sequence", "pkt_len_sequence"]) {
        assert.ok(header.includes(c), c);
      }
      // The same records as extract of the packets it saved, column for column (the SPLT, the sequences cut at
      // 5 packets, entropy over 4 bytes).
      assert.equal(csv, await Deno.readTextFile(`${dir}/extract.csv`));
      const [rec] = parseJsonl((await runCli(["extract", "-q", ...shape, `${dir}/saved.pcap`])).stdout);
      assert.deepEqual([(rec.pkt_len_sequence as number[]).length, (rec.splt as unknown[]).length], [5, 5]);
    });
  },
});

Deno.test({
  name:
    "live: --specific-features, --bidirectional-split, --include-flow-id and --anonymize-ips, as extract" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const shape = [
      ...["--specific-features", "flow_id,src_ip,dst_ip,packets_fwd,total_total_bytes"],
      ...["--bidirectional-split", "--anonymize-ips", "--anonymization-salt", "pepper"],
    ];
    await liveAsExtract(shape, 6, "parquet", async (dir) => {
      // The same file, byte for byte, as extract writes from the packets it saved (Parquet: the schema too).
      assert.deepEqual(
        await Deno.readFile(`${dir}/live.parquet`),
        await Deno.readFile(`${dir}/extract.parquet`),
      );
      const [rec] = parseJsonl((await runCli(["extract", "-q", ...shape, `${dir}/saved.pcap`])).stdout);
      assert.deepEqual(Object.keys(rec), ["flow_id", "src_ip", "dst_ip", "packets_fwd", "total_total_bytes"]);
      assert.match(rec.src_ip as string, /^[0-9a-f]{16}$/);
    });
    // The export reads the records' own columns: with them reshaped, --ipfix is refused.
    const bad = await runCli(["live", "-i", "lo", "--bidirectional-split", "--ipfix", "127.0.0.1:4739"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--ipfix cannot be used with --bidirectional-split/);
  },
});

Deno.test({
  name: "live: --extractor loads user extractors, as extract" +
    (CAN_CAPTURE ? "" : " (skipped: needs root and libpcap)"),
  ignore: !CAN_CAPTURE,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // live had no --extractor (left alone last stop): a plugin's columns came only from extract of a saved capture.
    const options = ["--features", "timing", "--extractor", "docs/example_extractor.ts"];
    await liveAsExtract(options, 4, "csv", async (dir) => {
      const csv = await Deno.readTextFile(`${dir}/live.csv`);
      assert.equal(csv, await Deno.readTextFile(`${dir}/extract.csv`));
      const [rec] = parseJsonl((await runCli(["extract", "-q", ...options, `${dir}/saved.pcap`])).stdout);
      // sendUdp's first datagram is "datagram 0": its first 8 bytes, in hex.
      assert.equal(rec.first_bytes_fwd, toHex(new TextEncoder().encode("datagram")));
      assert.ok(csv.split("\n")[0].split(",").includes("first_bytes_fwd"));
    });
    const dir = await Deno.makeTempDir();
    try {
      // A plugin that needs every flow is refused, naming the module (--features was not given).
      const plugin = await writeCountFlowsPlugin(dir);
      const whole = await runCli(["live", "-i", "lo", "--extractor", plugin]);
      assert.equal(whole.code, 2, whole.stderr);
      assert.match(whole.stderr, /^jj: error: --extractor .*count_flows\.ts: count_flows needs every flow/);
      const missing = await runCli(["live", "-i", "lo", "--extractor", `${dir}/nope.ts`]);
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /^jj: error: --extractor .*nope\.ts/);
      // -o may not overwrite a module it loads.
      const over = await runCli(["live", "-i", "lo", "--extractor", plugin, "-o", plugin]);
      assert.equal(over.code, 2, over.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
