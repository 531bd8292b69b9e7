/**
 * Throughput and memory benchmark: packets/s, MB/s and peak RSS for each reader (built-in, libpcap) and feature
 * set, and for the built-in reader in two workers (`extract --workers 2`, what `--workers auto` picks for a
 * large capture on two cores), on a large capture built from the corpus with ../shared/tools/mkbigpcap.py (or a
 * capture you name). Each figure is the best of `--runs` fresh processes (the machine is shared; the best run is
 * the least disturbed).
 *
 * Usage: deno task bench [--runs N] [--copies N] [CAPTURE]
 *
 * @module
 */
const args = [...Deno.args];
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const runs = opt("--runs", 3);
const copies = opt("--copies", 50);
let capture = args[0];
const here = new URL(".", import.meta.url).pathname;
if (!capture) {
  capture = `${here}out/big-${copies}.pcap`;
  try {
    await Deno.stat(capture);
  } catch {
    await Deno.mkdir(`${here}out`, { recursive: true });
    // The corpus and tools, where the tests find them.
    const shared = Deno.env.get("JJ_SHARED") || `${here}../../shared`;
    const corpus = `${shared}/corpus/captures`;
    const inputs: string[] = [];
    try {
      await Deno.stat(`${shared}/tools/mkbigpcap.py`);
      await Deno.stat(corpus);
    } catch {
      console.error(
        `bench: no capture given, and none to build one from (${corpus}, from ../shared or $JJ_SHARED): ` +
          "name one (deno task bench CAPTURE)",
      );
      Deno.exit(1);
    }
    for await (const e of Deno.readDir(corpus)) {
      if (e.name.endsWith(".pcap")) inputs.push(`${corpus}/${e.name}`);
    }
    inputs.sort();
    console.error(`bench: building ${capture} (${copies} copies of the corpus' Ethernet captures)`);
    const p = await new Deno.Command("python3", {
      args: [`${shared}/tools/mkbigpcap.py`, capture, String(copies), "1", ...inputs],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!p.success) {
      console.error("bench: mkbigpcap.py failed");
      Deno.exit(1);
    }
  }
}
const size = (await Deno.stat(capture)).size;
console.log(`capture: ${capture} (${(size / 1e6).toFixed(1)} MB), best of ${runs} runs`);
// The foundation's four groups, the same with the protocol groups (issue "protocol metadata"), every streaming
// group (`all`: every group but `connection`, which needs every flow in one place and runs only when named).
const sets = ["flow_meta,timing,size,tcp", "flow_meta,timing,size,tcp,tls,quic,ssh,dns,http2", "all"];
// The built-in reader in one process and in two workers (`extract --workers 2`), then libpcap in one process.
const configs: [string, number][] = [["builtin", 1], ["builtin", 2], ["libpcap", 1]];
for (const [reader, workers] of configs) {
  for (const groups of sets) {
    let best: Record<string, number | string> | null = null;
    for (let i = 0; i < runs; i++) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `${here}run_one.ts`, reader, groups, capture, String(workers)],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      const r = JSON.parse(new TextDecoder().decode(out.stdout));
      if (!best || r.seconds < (best.seconds as number)) best = r;
    }
    console.log(JSON.stringify(best));
  }
}
