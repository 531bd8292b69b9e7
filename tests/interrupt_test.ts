/**
 * Ctrl-C (SIGINT) or SIGTERM during `extract` of a capture on a pipe, the way `tcpdump -w - | jj extract -` is
 * stopped: the input ends where it is, the flows held are written, the summary says so, and the exit code is
 * 130. Before, the signal killed jj and every flow was lost.
 */
import assert from "node:assert/strict";
import { CLI, collect, DENO, parseJsonl, ROOT, sleep, withTempDir } from "./helpers.ts";

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

for (const [name, number] of [["SIGINT", 2], ["SIGTERM", 15]] as const) {
  Deno.test({
    name: `extract - : ${name} while the pipe is still open writes the flows held, says so, exit 130`,
    ignore: Deno.build.os !== "linux",
    async fn() {
      await withTempDir(async (dir) => {
        const capture = await Deno.readFile(`${ROOT}/testdata/http.pcap`);
        const child = new Deno.Command(DENO, {
          args: ["run", "-A", CLI, "extract", "-", "-o", `${dir}/flows.jsonl`],
          cwd: ROOT,
          stdin: "piped",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const w = child.stdin.getWriter();
        await w.write(capture);
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
