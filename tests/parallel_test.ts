/**
 * `extract --workers N`: flows sharded over Workers by flow hash must give exactly the records and the packet
 * accounting of one process, on real captures (the corpus when present, else the captures in testdata/), and,
 * once merged back by each flow's place in one table's order, the same text line for line wherever the
 * capture's clock never steps back.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  CAPTURES,
  HAVE_CAPTURES,
  parseJsonl,
  pcapRecords,
  ROOT,
  runCli,
  writeCountFlowsPlugin,
} from "./helpers.ts";
import { readCapture } from "../lib/capture_file.ts";
import { extractFlows, type ExtractOptions, type ExtractSummary } from "../lib/extract.ts";
import { flowMetaExtractor } from "../extractors/mod.ts";
import { extractJsonlParallel, LEFT_BY_STOP, mergeShardSummaries } from "../lib/parallel.ts";
import { OptionError } from "../lib/options.ts";
import { autoWorkers } from "../lib/cli/extract.ts";
import { drain } from "../lib/cli/common.ts";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";

/** Captures to run: a directory of the corpus (every kind of link type and tunnel), or testdata's. */
const INPUTS = HAVE_CAPTURES ? [CAPTURES] : [`${ROOT}/testdata/http.pcap`, `${ROOT}/testdata/sll2.pcap`];

/** Records as sorted JSON texts: the workers write flows in a different order, never different flows. */
function sortedLines(stdout: string): string[] {
  return parseJsonl(stdout).map((r) => JSON.stringify(r)).sort();
}

/** The summary line without its timing (elapsed, rate, reader). */
function accounting(stderr: string): string {
  const line = stderr.split("\n").find((l) => l.startsWith("jj: ") && l.includes("packets read")) ?? "";
  return line.replace(/ in [0-9.]+ s \(.*$/, "");
}

for (const features of ["flow_meta,timing,size,tcp", "all"]) {
  Deno.test(`--workers 2 and 3 give the records and accounting of one process (${features})`, async () => {
    const one = await runCli(["extract", "--features", features, ...INPUTS]);
    assert.equal(one.code, 0, one.stderr);
    const want = sortedLines(one.stdout);
    assert.ok(want.length > 0);
    // The summary line is compared below: it must be there (two missing lines compare equal).
    assert.match(accounting(one.stderr), /packets read/, one.stderr);
    for (const n of ["2", "3"]) {
      const par = await runCli(["extract", "--workers", n, "--features", features, ...INPUTS]);
      assert.equal(par.code, 0, par.stderr);
      assert.equal(accounting(par.stderr), accounting(one.stderr), `summary with --workers ${n}`);
      const got = sortedLines(par.stdout);
      assert.equal(got.length, want.length, `flows with --workers ${n}`);
      assert.deepEqual(got, want);
    }
  });
}

Deno.test("--workers 2 with --sampling-rate counts each sampled-out packet once, as one process", async () => {
  const args = ["extract", "--sampling-rate", "0.5", "--features", "flow_meta", ...INPUTS];
  const one = await runCli(args);
  assert.equal(one.code, 0, one.stderr);
  assert.match(accounting(one.stderr), /[1-9][0-9]* sampled out/, one.stderr);
  const par = await runCli(["extract", "--workers", "2", ...args.slice(1)]);
  assert.equal(par.code, 0, par.stderr);
  assert.equal(accounting(par.stderr), accounting(one.stderr));
  assert.deepEqual(sortedLines(par.stdout), sortedLines(one.stdout));
});

/** The captures among `INPUTS` (directories expanded) whose packet times never decrease. */
async function steadyClockCaptures(): Promise<{ steady: string[]; stepsBack: string[] }> {
  const files: string[] = [];
  for (const input of INPUTS) {
    if (!Deno.statSync(input).isDirectory) files.push(input);
    else {
      for (const e of Deno.readDirSync(input)) {
        if (/\.(pcap|pcapng)$/.test(e.name)) files.push(`${input}/${e.name}`);
      }
    }
  }
  files.sort();
  const steady: string[] = [], stepsBack: string[] = [];
  for (const f of files) {
    const file = await Deno.open(f);
    let last = -Infinity, back = false;
    try {
      await readCapture(file, (ts) => {
        if (ts < last) back = true;
        last = ts;
      });
    } catch {
      back = true; // not read whole: leave it to the sorted comparison
    } finally {
      file.close();
    }
    (back ? stepsBack : steady).push(f);
  }
  return { steady, stepsBack };
}

Deno.test("--workers 2 and 3 write one process's text, line for line, where the clock never steps back", async () => {
  const { steady } = await steadyClockCaptures();
  assert.ok(steady.length >= (HAVE_CAPTURES ? 40 : 2), `captures with a steady clock: ${steady.length}`);
  for (const features of ["flow_meta,timing,size,tcp", "all"]) {
    const one = await runCli(["extract", "--workers", "1", "--features", features, ...steady]);
    assert.equal(one.code, 0, one.stderr);
    // Not vacuous: two empty outputs are equal too.
    const lines = parseJsonl(one.stdout).length;
    assert.ok(lines >= (HAVE_CAPTURES ? 300 : 4), `--features ${features}: only ${lines} records to compare`);
    for (const n of ["2", "3"]) {
      const par = await runCli(["extract", "--workers", n, "--features", features, ...steady]);
      assert.equal(par.code, 0, par.stderr);
      assert.ok(par.stderr.includes(`x${n} workers`), par.stderr);
      assert.equal(par.stdout, one.stdout, `--workers ${n} --features ${features}`);
    }
  }
});

Deno.test("--workers write one process's text for captures whose packets are slightly out of time order", async () => {
  // Multi-queue capture stamps packets a little out of order: here, in each pcap with a steady clock, a third of
  // the packets are stamped up to 0.3 s early. With a short idle timeout many flows expire while such a
  // packet is behind: a flow behind one not yet due waited for it in one table and not in a shard, and the
  // workers wrote such flows in another order.
  const { steady } = await steadyClockCaptures();
  const dir = await Deno.makeTempDir();
  try {
    const jittered: string[] = [];
    let moved = 0, seed = 7;
    for (const f of steady.filter((f) => f.endsWith(".pcap"))) {
      const bytes = await Deno.readFile(f);
      const dv = new DataView(bytes.buffer);
      const magic = dv.getUint32(0, true);
      if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) continue; // little-endian only, to keep this short
      const div = magic === 0xa1b23c4d ? 1e9 : 1e6;
      for (const r of pcapRecords(bytes)) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        if (seed % 3 !== 0) continue;
        // Up to 0.3 s early: behind the packets before it.
        const t = Math.round((r.ts - (seed >>> 8) % 300 / 1000) * div);
        dv.setUint32(r.offset, Math.floor(t / div), true);
        dv.setUint32(r.offset + 4, t % div, true);
        moved++;
      }
      const out = `${dir}/${jittered.length}.pcap`;
      await Deno.writeFile(out, bytes);
      jittered.push(out);
    }
    assert.ok(moved >= (HAVE_CAPTURES ? 1000 : 5), `${moved} packets moved`);
    const args = ["extract", "--idle-timeout", "0.5", "--features", "flow_meta,timing", ...jittered];
    const one = await runCli([...args, "--workers", "1"]);
    assert.equal(one.code, 0, one.stderr);
    assert.ok(parseJsonl(one.stdout).length >= (HAVE_CAPTURES ? 300 : 4));
    for (const n of ["2", "3"]) {
      const par = await runCli([...args, "--workers", n]);
      assert.equal(par.code, 0, par.stderr);
      assert.equal(par.stdout, one.stdout, `--workers ${n}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the merge of small batches (many per worker, workers waiting on each other) keeps one table's order", async () => {
  const { steady } = await steadyClockCaptures();
  const options = { features: ["flow_meta", "timing", "size", "tcp", "tls", "dns"] };
  let want = "";
  let records = 0;
  for await (const r of extractFlows(steady, options)) {
    want += JSON.stringify(r) + "\n";
    records++;
  }
  // Not vacuous: two empty texts are equal too.
  assert.ok(records >= (HAVE_CAPTURES ? 300 : 4), `only ${records} records to merge`);
  const dec = new TextDecoder();
  for (const batchBytes of [1, 3000]) {
    let got = "";
    const it = extractJsonlParallel(steady, options, { workers: 3, batchBytes });
    let r = await it.next();
    while (!r.done) {
      got += dec.decode(r.value);
      r = await it.next();
    }
    assert.equal(got, want, `batches of ${batchBytes} bytes`);
    assert.equal(r.value.flows, want.split("\n").length - 1);
  }
});

Deno.test("--workers auto: one per core for large file inputs when the run can be sharded, else 1", () => {
  const cores = navigator.hardwareConcurrency ?? 1;
  const inputs = [`${ROOT}/testdata/http.pcap`];
  assert.equal(autoWorkers(inputs, [], 1), cores >= 2 ? Math.min(cores, 4) : 1);
  assert.equal(autoWorkers(inputs, ["--label"], 1), 1);
  // Below the size that repays the workers' start-up (the default threshold is far above testdata's).
  assert.equal(autoWorkers(inputs, []), 1);
  assert.equal(autoWorkers(["-"], [], 1), 1);
});

Deno.test("--workers refuses an input that is a pipe by name (each worker opens every input)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo`] }).output();
    // It hung (the second worker waited to open the FIFO), or read an empty input from <(...).
    const r = await runCli(["extract", "--workers", "2", `${dir}/fifo`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /not regular files/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--workers takes auto or a positive integer; anything else is a usage error naming both", async () => {
  for (const bad of ["0", "-1", "1.5", "many"]) {
    const r = await runCli(["extract", "--workers", bad, `${ROOT}/testdata/http.pcap`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--workers must be auto or an integer from 1 to 64/);
  }
  const auto = await runCli(["extract", "--workers", "auto", `${ROOT}/testdata/http.pcap`]);
  assert.equal(auto.code, 0, auto.stderr);
  // A small capture: one thread.
  assert.doesNotMatch(auto.stderr, /workers/);
});

Deno.test("--workers refuses what needs every flow in one place or one stream, with exit 2", async () => {
  for (
    const args of [
      ["--workers", "2", "--features", "all,connection"],
      ["--workers", "2", "-o", "x.csv"],
      ["--workers", "2", "--label", "lab:10.0.0.0/8"],
      ["--workers", "2", "--max-flows", "10"],
    ]
  ) {
    const r = await runCli(["extract", ...args, `${ROOT}/testdata/http.pcap`]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /--workers cannot be used with/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test("extractJsonlParallel (the library) refuses what cannot be sharded, also a finalize group only workers load", async () => {
  const http = `${ROOT}/testdata/http.pcap`;
  const cases: [string[], ExtractOptions, RegExp][] = [
    [["-"], {}, /stdin input/],
    [[http], { maxFlows: 10 }, /--max-flows/],
    [[http], { features: ["flow_meta", "connection"] }, /the connection group, which needs every flow/],
    [[http], { extractors: [flowMetaExtractor] }, /extractor objects/],
    [[http], { onFlowEnd: () => {} }, /onFlowEnd/],
  ];
  for (const [inputs, options, why] of cases) {
    await assert.rejects(
      extractJsonlParallel(inputs, options, { workers: 2 }).next(),
      (e: Error) => e instanceof RangeError && why.test(e.message),
      JSON.stringify(Object.keys(options)),
    );
  }
  const dir = await Deno.makeTempDir();
  try {
    const plugin = await writeCountFlowsPlugin(dir);
    await assert.rejects(
      (async () => {
        const it = extractJsonlParallel([http], { features: ["count_flows"] }, {
          workers: 2,
          extractorModules: [plugin],
        });
        for (let r = await it.next(); !r.done; r = await it.next());
      })(),
      (e: Error) => e instanceof RangeError && /count_flows group, which needs every flow/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Runs `fn` with `Worker` counting the workers started (counted, not stopped: a worker ended in the middle of a
 * libpcap call could crash the process at exit); returns the count.
 */
async function workersStartedBy(fn: () => Promise<unknown>): Promise<number> {
  let started = 0;
  const RealWorker = globalThis.Worker;
  globalThis.Worker = class extends RealWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      started++;
    }
  };
  try {
    await fn();
  } finally {
    globalThis.Worker = RealWorker;
  }
  return started;
}

Deno.test("extractJsonlParallel: bad workers or batchBytes refused before any worker starts; modules' groups run with features", async () => {
  const http = `${ROOT}/testdata/http.pcap`;
  const started = await workersStartedBy(async () => {
    // They failed after the workers had started, which then kept the process from ending.
    for (const parallel of [{ workers: 1.5 }, { workers: 0 }, { workers: 2, batchBytes: -1 }]) {
      await assert.rejects(
        extractJsonlParallel([http], { features: ["timing"] }, parallel).next(),
        (e: Error) => e instanceof RangeError && /workers|batchBytes/.test(e.message),
        JSON.stringify(parallel),
      );
    }
  });
  assert.equal(started, 0);
  // A module's group runs whatever groups `features` names, as the CLI's --extractor (it was left out).
  const lines: string[] = [];
  const it = extractJsonlParallel([http], { features: ["timing"] }, {
    workers: 2,
    extractorModules: [`${ROOT}/docs/example_extractor.ts`],
  });
  for (let r = await it.next(); !r.done; r = await it.next()) lines.push(new TextDecoder().decode(r.value));
  const records = lines.join("").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  assert.equal(records.length, 3);
  for (const r of records) assert.ok("first_payload_len" in r && "iat_mean" in r, Object.keys(r).join());
});

Deno.test({
  name: "a filter libpcap does not compile is refused before any worker starts (a usage error, once)",
  ignore: tryLoadLibpcap() === null,
  fn: async () => {
    const http = `${ROOT}/testdata/http.pcap`;
    const started = await workersStartedBy(() =>
      assert.rejects(
        extractJsonlParallel([http], { filter: "bogus(((" }, { workers: 2 }).next(),
        (e: Error) => e instanceof RangeError && /--filter/.test(e.message),
      )
    );
    assert.equal(started, 0);
    const r = await runCli(["extract", "--workers", "2", "--filter", "bogus(((", http]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  },
});

Deno.test("drain ends the generator (its finally: workers, files) when writing a value fails", async () => {
  let cleaned = false;
  async function* values(): AsyncGenerator<number, string> {
    try {
      yield 1;
      yield 2;
      return "done";
    } finally {
      cleaned = true;
    }
  }
  await assert.rejects(drain(values(), () => Promise.reject(new Error("write failed"))), /write failed/);
  assert.ok(cleaned);
  // With -o /dev/full, a parallel run fails at its first write and leaves no worker behind: the run ends.
  const r = await runCli([
    "extract",
    "-q",
    "--workers",
    "2",
    "-o",
    "/dev/full",
    `${ROOT}/testdata/http.pcap`,
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot write \/dev\/full/);
});

Deno.test("extractJsonlParallel refuses a bad option with the error extractFlows throws for it (OptionError, its option)", async () => {
  const cases: ExtractOptions[] = [{ features: ["timming"] }, { maxSequenceLength: 0 }, { idleTimeout: -1 }];
  for (const options of cases) {
    const thrown = async (run: () => Promise<unknown>) => {
      try {
        await run();
      } catch (e) {
        return e as Error;
      }
      throw new Error(`${JSON.stringify(options)} was accepted`);
    };
    const single = await thrown(async () => {
      for await (const _ of extractFlows(`${ROOT}/testdata/http.pcap`, options)) { /* none */ }
    });
    const parallel = await thrown(async () => {
      for await (const _ of extractJsonlParallel([`${ROOT}/testdata/http.pcap`], options, { workers: 2 })) {
        /* none */
      }
    });
    assert.ok(single instanceof OptionError, `${single}`);
    assert.ok(parallel instanceof OptionError, `${JSON.stringify(options)}: ${parallel.name}`);
    assert.equal(parallel.option, single.option);
    assert.equal(parallel.message, single.message);
  }
});

Deno.test("a stopped run's workers stopped at different packets: every packet the furthest read is accounted for once", () => {
  const shard = (read: number, decoded: number, notIp: number, sampledOut: number): ExtractSummary => ({
    inputs: 1,
    packetsRead: read,
    packetsDecoded: decoded,
    packetsSkipped: { "not IP": notIp },
    packetsSampledOut: sampledOut,
    flows: 1,
    bytesRead: read * 100,
    problems: [],
    failures: [],
    stopped: true,
    reader: "builtin",
  });
  // Shard 0 read 1,000 packets (480 its own, 20 not IP), shard 1 only 600 of them (290 of its own).
  const s = mergeShardSummaries([shard(600, 290, 12, 0), shard(1000, 480, 20, 0)]);
  assert.equal(s.packetsRead, 1000);
  assert.equal(s.bytesRead, 100000);
  assert.equal(s.packetsDecoded, 770);
  assert.deepEqual(s.packetsSkipped, { "not IP": 20, [LEFT_BY_STOP]: 210 });
  assert.equal(s.stopped, true);
  assert.equal(s.reader, "builtin x2 workers");
  // A run that was not stopped is as before: every worker read every packet.
  const whole = mergeShardSummaries([
    { ...shard(1000, 500, 20, 0), stopped: false },
    { ...shard(1000, 480, 20, 0), stopped: false },
  ]);
  assert.deepEqual(whole.packetsSkipped, { "not IP": 20 });
  assert.equal(whole.packetsDecoded, 980);
});

Deno.test("extractJsonlParallel: the extract options' onWarning, onProgress and onSummary are called (they were ignored)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = await Deno.readFile(`${ROOT}/testdata/http.pcap`);
    await Deno.writeFile(`${dir}/cut.pcap`, bytes.subarray(0, 3000));
    const warnings: string[] = [], progress: number[] = [];
    let summary: ExtractSummary | null = null;
    const it = extractJsonlParallel([`${dir}/cut.pcap`], {
      features: ["flow_meta"],
      onWarning: (m) => warnings.push(m),
      onProgress: (_b, packets) => progress.push(packets),
      onSummary: (s) => summary = s,
    }, { workers: 2 });
    let r = await it.next();
    while (!r.done) r = await it.next();
    assert.match(warnings.join("\n"), /cut\.pcap: truncated pcap record/);
    assert.ok(progress.length > 0);
    assert.deepEqual(summary, r.value);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
