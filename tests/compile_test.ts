/**
 * The single binary: `deno task compile` (deno.json) builds `jj` with `deno compile`, and the binary runs the
 * whole toolkit on its own, libpcap included (loaded by path at run time through FFI).
 *
 * `deno compile` needs the `denort` runtime matching this Deno, which it normally downloads; where there is no
 * network it must be given with `DENORT_BIN=/path/to/denort`. Without it this test is skipped, saying so.
 */
import assert from "node:assert/strict";
import { VERSION } from "../cli.ts";
import { CAPTURES as CAPTURES_DIR } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const CAPTURES = CAPTURES_DIR;
const DENO = Deno.execPath();

function denortReason(): string | null {
  const bin = Deno.env.get("DENORT_BIN");
  if (!bin) return "DENORT_BIN is not set (deno compile needs a denort runtime and cannot download one here)";
  try {
    if (!Deno.statSync(bin).isFile) return `DENORT_BIN=${bin} is not a file`;
  } catch {
    return `DENORT_BIN=${bin} does not exist`;
  }
  return null;
}
const SKIP = denortReason();
const HAVE_CORPUS = (() => {
  try {
    return Deno.statSync(CAPTURES).isDirectory;
  } catch {
    return false;
  }
})();
if (SKIP) console.log(`compile_test: skipped: ${SKIP}`);

/** The `compile` task of deno.json, with its output redirected to `out`. */
function compileArgs(out: string): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.compile;
  const words = task.split(/\s+/).filter(Boolean);
  // The pinned Deno, by its path in node_modules.
  assert.match(words[0], /(^|\/)deno$/);
  assert.equal(words[1], "compile");
  const i = words.indexOf("--output");
  assert.ok(i > 0, "the compile task names its --output");
  words[i + 1] = out;
  return words.slice(1);
}

async function exec(cmd: string, args: string[], cwd?: string) {
  const o = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

Deno.test({
  name: SKIP
    ? `deno task compile builds a working jj (skipped: ${SKIP})`
    : "deno task compile builds a working jj",
  ignore: SKIP !== null,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const bin = `${dir}/jj`;
    const c = await exec(DENO, compileArgs(bin), ROOT);
    assert.equal(c.code, 0, c.stderr);
    const info = await Deno.stat(bin);
    assert.ok(info.isFile && (info.mode! & 0o111) !== 0);
    console.log(`compiled binary: ${(info.size / 1e6).toFixed(1)} MB`);

    const v = await exec(bin, ["--version"], dir);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout.trim(), VERSION);
    const h = await exec(bin, ["anon", "--help"], dir);
    assert.match(h.stdout, /Examples:/);
    const comp = await exec(bin, ["completions", "bash"], dir);
    assert.match(comp.stdout, /complete .* jj/);
    const bad = await exec(bin, ["extract", "--format", "xml", "x.pcap"], dir);
    assert.equal(bad.code, 2);

    if (HAVE_CORPUS) {
      // CAPTURES has no trailing slash (helpers.ts): `${CAPTURES}tls12.pcap` named a file that does not exist
      const cap = `${CAPTURES}/tls12.pcap`;
      const viaDeno = await exec(DENO, ["run", "-A", `${ROOT}cli.ts`, "extract", "-q", cap]);
      assert.equal(viaDeno.code, 0, viaDeno.stderr);
      assert.ok(viaDeno.stdout.trim() !== "", "no record to compare the binary's output with");
      const viaBin = await exec(bin, ["extract", "-q", cap], dir);
      assert.equal(viaBin.code, 0, viaBin.stderr);
      assert.equal(viaBin.stdout, viaDeno.stdout);
      // The extraction workers' module is inside the binary (workers are not found by static imports).
      const viaWorkers = await exec(bin, ["extract", "-q", "--workers", "2", cap], dir);
      assert.equal(viaWorkers.code, 0, viaWorkers.stderr);
      assert.equal(viaWorkers.stdout, viaDeno.stdout);
      // npm packages inside the binary: Parquet output and anonymization.
      const pq = await exec(bin, ["extract", "-q", cap, "-o", `${dir}/f.parquet`], dir);
      assert.equal(pq.code, 0, pq.stderr);
      assert.equal(
        new TextDecoder().decode((await Deno.readFile(`${dir}/f.parquet`)).subarray(0, 4)),
        "PAR1",
      );
      const an = await exec(bin, [
        "anon",
        "-q",
        "--key",
        `${dir}/k.key`,
        "--pcap",
        cap,
        "-o",
        `${dir}/a.pcap`,
      ], dir);
      assert.equal(an.code, 0, an.stderr);
      // libpcap is found at run time by the binary too (when this machine has it at all).
      const viaDenoPcap = await exec(DENO, [
        "run",
        "-A",
        `${ROOT}cli.ts`,
        "extract",
        "--reader",
        "libpcap",
        cap,
      ]);
      if (/reader libpcap/.test(viaDenoPcap.stderr)) {
        const lp = await exec(bin, ["extract", "--reader", "libpcap", cap], dir);
        assert.equal(lp.code, 0, lp.stderr);
        assert.match(lp.stderr, /reader libpcap/);
        assert.equal(lp.stdout, viaDeno.stdout);
      } else console.log("libpcap is not loadable on this machine; the binary's libpcap check was not run");
    }
    await Deno.remove(dir, { recursive: true });
  },
});
