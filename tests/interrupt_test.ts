/**
 * Ctrl-C (SIGINT), SIGTERM or SIGHUP during `extract` of a capture on a pipe, the way `tcpdump -w - | jj extract -` is
 * stopped: the input ends where it is, the flows held are written, the summary says so, and the exit code is
 * 130. Before, the signal killed jj and every flow was lost.
 */
import assert from "node:assert/strict";
import {
  CLI,
  collect,
  DENO,
  ethernet,
  ipv4,
  parseJsonl,
  pcapFile,
  ROOT,
  sleep,
  udp,
  withTempDir,
} from "./helpers.ts";
import { extractFlows, type ExtractSummary } from "../lib/extract.ts";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";

/** Whether process `pid` catches `signal` (its handler is installed): bit signal-1 of SigCgt. */
function catches(pid: number, signal: number): boolean {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const mask = /SigCgt:\s+([0-9a-f]+)/.exec(status)?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(signal - 1))) !== 0n;
  } catch {
    return false;
  }
}

/** Starts jj with `args`, its stdin a pipe that `bytes` are written to and that stays open (as tcpdump's). */
async function startOnPipe(
  args: string[],
  bytes: Uint8Array,
): Promise<{ child: Deno.ChildProcess; w: WritableStreamDefaultWriter<Uint8Array> }> {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", CLI, ...args],
    cwd: ROOT,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(bytes);
  return { child, w };
}

// SIGHUP: the terminal closed, or an SSH session dropped (it killed jj, and the flows held were lost).
for (const [name, number] of [["SIGINT", 2], ["SIGTERM", 15], ["SIGHUP", 1]] as const) {
  Deno.test({
    name: `extract - : ${name} while the pipe is still open writes the flows held, says so, exit 130`,
    ignore: Deno.build.os !== "linux",
    async fn() {
      await withTempDir(async (dir) => {
        const capture = await Deno.readFile(`${ROOT}/testdata/http.pcap`);
        const { child, w } = await startOnPipe(["extract", "-", "-o", `${dir}/flows.jsonl`], capture);
        // The writer keeps the pipe open, as tcpdump does until it is stopped.
        for (let i = 0; i < 200 && !catches(child.pid, number); i++) await sleep(50);
        assert.ok(catches(child.pid, number), `jj does not catch ${name}`);
        await sleep(1500);
        child.kill(name);
        const out = await child.output();
        await w.close().catch(() => {});
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 130, stderr);
        assert.match(stderr, /stopping; writing the flows still held/);
        assert.match(stderr, /36 packets read, 36 decoded, 0 skipped, 3 flows written.*stopped by a signal/);
        const { records } = await collect(`${ROOT}/testdata/http.pcap`);
        assert.deepEqual(
          parseJsonl(await Deno.readTextFile(`${dir}/flows.jsonl`)),
          JSON.parse(JSON.stringify(records)),
        );
      });
    },
  });
}

Deno.test({
  name: "fingerprint - : SIGINT while the pipe is still open writes the handshakes held, says so, exit 130",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // The first 10 packets of an OpenSSH session (handshakes, then both banners): the banners' lines wait for
    // their KEXINITs, or for the flow's end. The signal killed jj, and they were lost with the summary.
    const whole = await Deno.readFile(`${ROOT}/testdata/ssh_edge/loss_full.pcap`);
    const dv = new DataView(whole.buffer);
    let end = 24;
    for (let i = 0; i < 10; i++) end += 16 + dv.getUint32(end + 8, true);
    await withTempDir(async (dir) => {
      const { child, w } = await startOnPipe(
        ["fingerprint", "-", "-o", `${dir}/lines.jsonl`],
        whole.subarray(0, end),
      );
      for (let i = 0; i < 200 && !catches(child.pid, 2); i++) await sleep(50);
      assert.ok(catches(child.pid, 2), "jj fingerprint does not catch SIGINT");
      await sleep(1500);
      child.kill("SIGINT");
      const out = await child.output();
      await w.close().catch(() => {});
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 130, stderr);
      assert.match(stderr, /stopping; writing the handshakes still held/);
      assert.match(stderr, /10 packets read, 10 decoded, 0 skipped/);
      assert.match(stderr, /4 handshakes \(ssh_client 1, ssh_server 1, tcp_syn 1, tcp_synack 1\)/);
      const lines = parseJsonl(await Deno.readTextFile(`${dir}/lines.jsonl`));
      assert.deepEqual(lines.map((l) => l.type), ["tcp_syn", "tcp_synack", "ssh_client", "ssh_server"]);
    });
  },
});

Deno.test({
  name:
    "extractFlows with libpcap's reader: an abort from the event loop (a signal's listener) stops it part way",
  ignore: tryLoadLibpcap() === null,
  async fn() {
    await withTempDir(async (dir) => {
      // A million packets of 50 flows: longer to read than the reader goes without a turn of the event loop.
      const n = 1_000_000;
      const frames = Array.from(
        { length: 50 },
        (_, i) => ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000 + i, 53))),
      );
      const packets = Array.from(
        { length: n },
        (_, i) => ({ ts: 1_700_000_000 + i * 1e-5, data: frames[i % 50] }),
      );
      await Deno.writeFile(`${dir}/big.pcap`, pcapFile(1, packets));
      const stop = new AbortController();
      let asked = false;
      let summary: ExtractSummary | null = null;
      const run = extractFlows(`${dir}/big.pcap`, {
        reader: "libpcap",
        features: ["flow_meta"],
        signal: stop.signal,
        // A listener's abort: it runs only when the event loop turns.
        onProgress: () => {
          if (!asked) setTimeout(() => stop.abort(), 0);
          asked = true;
        },
        onSummary: (s) => summary = s,
      });
      let records = 0;
      for await (const _ of run) records++;
      assert.ok(summary !== null);
      const s = summary as ExtractSummary;
      assert.equal(s.stopped, true, "not stopped");
      assert.ok(s.packetsRead < n, `${s.packetsRead} packets read: the abort waited for the end of the file`);
      assert.equal(records, 50);
    });
  },
});

Deno.test("extractFlows: an abort while the capture's file header is still coming ends the input, not as a bad capture", async () => {
  for (const head of [[0xd4, 0xc3, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0]]) {
    // The first bytes of a pcap (and of a pcapng) header, and then nothing while the writer is alive.
    const source = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(head)) });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    let summary: ExtractSummary | null = null;
    for await (const _ of extractFlows(source, { signal: stop.signal, onSummary: (s) => summary = s })) {
      // no flow
    }
    assert.equal((summary as ExtractSummary | null)?.stopped, true);
    assert.equal((summary as ExtractSummary | null)?.packetsRead, 0);
  }
});

Deno.test({
  name: "extract - | cat: Ctrl-C to the whole pipeline (the consumer dies too) still exits 130, not 0",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await withTempDir(async (dir) => {
      await Deno.copyFile(`${ROOT}/testdata/http.pcap`, `${dir}/in.pcap`);
      // As a terminal's Ctrl-C: SIGINT to the process group of a pipeline whose writer keeps the pipe open.
      const script = `(cat in.pcap; sleep 60) | '${DENO}' run -A '${CLI}' extract - | cat >/dev/null; ` +
        `echo "status \${PIPESTATUS[1]}" > status.txt`;
      const child = new Deno.Command("setsid", {
        args: ["bash", "-c", script],
        cwd: dir,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // The pipeline's leader is bash (setsid made it a group's leader): wait for jj to catch SIGINT.
      const jj = () => {
        for (const e of Deno.readDirSync("/proc")) {
          if (!/^\d+$/.test(e.name)) continue;
          try {
            const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
            const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`).split(" ");
            if (cmd.includes("extract") && cmd.includes(CLI) && Number(stat[4]) === child.pid) {
              return Number(e.name);
            }
          } catch { /* gone */ }
        }
        return -1;
      };
      let pid = -1;
      for (let i = 0; i < 200 && !(pid >= 0 && catches(pid, 2)); i++) {
        await sleep(50);
        pid = jj();
      }
      assert.ok(pid >= 0 && catches(pid, 2), "jj does not catch SIGINT");
      await sleep(1000);
      Deno.kill(-child.pid, "SIGINT");
      const out = await child.output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(await Deno.readTextFile(`${dir}/status.txt`), "status 130\n", stderr);
    });
  },
});
