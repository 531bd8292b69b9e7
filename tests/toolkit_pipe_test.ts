/**
 * The Unix-style toolkit end to end, through real subprocesses and a real shell pipe:
 * `jj extract x.pcap | jj anon --key k.key | jj label-subnets --label lab:10.0.0.0/8 | jq`, the reverse pipe,
 * help with examples on every subcommand, `--version`, shell completions (checked by the shells themselves)
 * and usage errors that name the bad argument and exit 2.
 */
import assert from "node:assert/strict";
import { Anonymizer, loadOrCreateKey } from "../lib/anon/mod.ts";
import { SubnetLabeler } from "../lib/subnets.ts";
import { VERSION } from "../cli.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import { CAPTURES, CLI, DENO, hasCommand, HAVE_CAPTURES } from "./helpers.ts";

const HAS_JQ = hasCommand("jq");
const JJ = `'${DENO}' run -A '${CLI}'`;

async function sh(script: string, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: ["-o", "pipefail", "-c", script],
    cwd,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const lines = (s: string): FlowRecord[] => s.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

Deno.test({
  name: "extract | anon --key k.key | label-subnets --label lab:10.0.0.0/8 | jq, as real processes",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const caps = ["gre-erspan-vxlan.pcap", "tls12.pcap", "http_ipv6.pcap", "dns.pcap"].map((c) =>
      `'${CAPTURES}/${c}'`
    )
      .join(" ");
    const tail = HAS_JQ ? " | jq -c ." : "";
    const pipe = await sh(
      `${JJ} extract ${caps} | ${JJ} anon --key k.key | ${JJ} label-subnets --label lab:10.0.0.0/8 --label any:0.0.0.0/0${tail}`,
      dir,
    );
    assert.equal(pipe.code, 0, pipe.stderr);
    assert.match(pipe.stderr, /created key file k\.key/);
    assert.match(pipe.stderr, /flows written/);
    assert.match(pipe.stderr, /records, \d+ address\(es\) anonymized; cryptopan/);
    const plain = await sh(`${JJ} extract -q ${caps}`, dir);
    const orig = lines(plain.stdout), out = lines(pipe.stdout);
    assert.equal(out.length, orig.length);
    assert.ok(out.length > 10);
    // What the pipe should give, computed in-process with the key file the pipe created.
    const key = await loadOrCreateKey(`${dir}/k.key`);
    assert.equal(key.created, false);
    assert.equal((await Deno.stat(`${dir}/k.key`)).mode! & 0o777, 0o600);
    const anon = new Anonymizer(key.bytes);
    const labeler = await SubnetLabeler.fromSpecs(["lab:10.0.0.0/8", "any:0.0.0.0/0"]);
    let v4 = 0;
    // Crypto-PAn leaves a given address as it is under about one random key in 4000, so the check that the
    // pipe changed addresses counts distinct addresses instead of asking it of every record.
    const seen = new Set<string>(), kept = new Set<string>();
    for (let i = 0; i < out.length; i++) {
      const want = labeler.apply(anon.record(structuredClone(orig[i])));
      assert.deepEqual(out[i], want);
      for (const k of ["src_ip", "dst_ip"]) {
        seen.add(orig[i][k] as string);
        if (out[i][k] === orig[i][k]) kept.add(orig[i][k] as string);
      }
      if (!(out[i].src_ip as string).includes(":")) {
        v4++;
        // Whether an anonymized address falls in 10/8 depends on the (random) key; every IPv4 one gets a label.
        assert.equal((out[i].src_labels as string[]).length, 1);
      }
    }
    assert.ok(v4 > 0);
    assert.ok(seen.size >= 8 && kept.size * 2 < seen.size, `${kept.size} of ${seen.size} addresses kept`);

    // The reverse pipe restores the records exactly.
    const back = await sh(
      `${JJ} extract -q ${caps} | ${JJ} anon -q --key k.key | ${JJ} anon -q --key k.key --reverse`,
      dir,
    );
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(lines(back.stdout), orig);
    // Joy mode too, and files with .gz in between.
    const joy = await sh(
      `${JJ} extract -q ${caps} | ${JJ} anon -q -m joy --key j.key -o a.jsonl.gz && ${JJ} anon -q -m joy --key j.key -r a.jsonl.gz`,
      dir,
    );
    assert.equal(joy.code, 0, joy.stderr);
    assert.deepEqual(lines(joy.stdout), orig);
    // A capture anonymized with --pcap, read from stdin and written to stdout.
    const pc = await sh(
      `${JJ} anon -q --key k.key --pcap - < '${CAPTURES}/tls12.pcap' | ${JJ} extract -q - | ${JJ} anon -q -r --key k.key`,
      dir,
    );
    assert.equal(pc.code, 0, pc.stderr);
    const directRun = await sh(`${JJ} extract -q '${CAPTURES}/tls12.pcap'`);
    assert.equal(directRun.code, 0, directRun.stderr);
    const direct = lines(directRun.stdout);
    assert.ok(
      direct.length > 0,
      "tls12.pcap gives no record: the comparison below would be of two empty lists",
    );
    assert.deepEqual(
      lines(pc.stdout).map((r) => [r.src_ip, r.dst_ip, r.total_packets]),
      direct.map((r) => [r.src_ip, r.dst_ip, r.total_packets]),
    );
    // The end of a pipe can be Parquet or CSV.
    const pq = await sh(
      `${JJ} extract -q ${caps} | ${JJ} label-subnets -q --label lab:10.0.0.0/8 -o l.csv`,
      dir,
    );
    assert.equal(pq.code, 0, pq.stderr);
    const csv = (await Deno.readTextFile(`${dir}/l.csv`)).trim().split("\n");
    assert.equal(csv.length, orig.length + 1);
    assert.ok(csv[0].startsWith("src_ip,dst_ip,") && csv[0].endsWith("src_labels,dst_labels"));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("--help of every subcommand shows examples; --version", async () => {
  for (const cmd of ["extract", "anon", "label-subnets", "completions"]) {
    const r = await sh(`${JJ} ${cmd} --help`);
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, /Examples:/, cmd);
    assert.match(r.stdout, new RegExp(`Usage: jj ${cmd}`), cmd);
  }
  const v = await sh(`${JJ} --version`);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), VERSION);
});

Deno.test("usage errors name the bad argument and exit 2", async () => {
  const cases: [string, RegExp][] = [
    ["extract --format xml x.pcap", /'--format <format>' argument 'xml' is invalid/],
    ["extract --idle-timeout -5 x.pcap", /--idle-timeout/],
    ["extract --bogus x.pcap", /unknown option '--bogus'/],
    ["anon --key k --mode nope", /--mode/],
    ["anon", /--key <file>' not specified/],
    ["label-subnets --label :10.0.0.0/8", /--label :10\.0\.0\.0\/8/],
    ["completions tcsh", /value 'tcsh' is invalid for argument 'shell'/],
    ["extract -o x.parquet --format nope y.pcap", /--format/],
  ];
  for (const [args, re] of cases) {
    const r = await sh(`${JJ} ${args} < /dev/null`);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, re, args);
  }
});

Deno.test("completions: generated from the command tree, valid for bash, zsh and fish, and they complete", async () => {
  const dir = await Deno.makeTempDir();
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await sh(`${JJ} completions ${shell} > ${dir}/jj.${shell}`);
    assert.equal(r.code, 0, r.stderr);
    const text = await Deno.readTextFile(`${dir}/jj.${shell}`);
    for (
      const word of ["extract", "anon", "label-subnets", "completions", "format", "parquet", "cryptopan"]
    ) {
      assert.ok(text.includes(word), `${shell} script lacks ${word}`);
    }
    if (hasCommand(shell)) {
      const check = await sh(`${shell} -n ${dir}/jj.${shell}`);
      assert.equal(check.code, 0, `${shell} -n: ${check.stderr}`);
    } else console.log(`${shell} is not installed: its script was generated but not syntax-checked`);
  }
  // bash: drive the completion function as readline would.
  const complete = async (words: string[]) => {
    const r = await sh(
      `source ${dir}/jj.bash; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${
        words.length - 1
      }; _jj; printf '%s\\n' "\${COMPREPLY[@]}"`,
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").filter(Boolean);
  };
  assert.deepEqual(await complete(["jj", "ex"]), ["extract"]);
  assert.deepEqual(await complete(["jj", "la"]), ["label-subnets"]);
  assert.deepEqual(await complete(["jj", "extract", "--form"]), ["--format"]);
  assert.deepEqual((await complete(["jj", "extract", "--format", ""])).slice(0, 3), [
    "jsonl",
    "csv",
    "parquet",
  ]);
  assert.deepEqual(await complete(["jj", "anon", "--mode", "c"]), ["cryptopan"]);
  assert.deepEqual(await complete(["jj", "anon", "-k", "k.key", "--rev"]), ["--reverse"]);
  assert.deepEqual(await complete(["jj", "completions", "z"]), ["zsh"]);
  await Deno.writeTextFile(`${dir}/capture.pcap`, "");
  assert.deepEqual(await complete(["jj", "extract", "cap"]), ["capture.pcap"]);
  // A name with a space or a glob character is one completion, as it is, for inputs and file options alike.
  await Deno.writeTextFile(`${dir}/with space.pcap`, "");
  await Deno.writeTextFile(`${dir}/star*.pcap`, "");
  assert.deepEqual(await complete(["jj", "extract", "wi"]), ["with space.pcap"]);
  assert.deepEqual(await complete(["jj", "extract", "-o", "wi"]), ["with space.pcap"]);
  assert.deepEqual(await complete(["jj", "extract", "sta"]), ["star*.pcap"]);
  if (hasCommand("fish")) {
    const r = await sh(`fish -c 'source ${dir}/jj.fish; complete -C "jj anon --mode "'`);
    assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.split("\t")[0]).sort(), [
      "cryptopan",
      "hash",
      "joy",
    ]);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "progress bar: shown on a terminal (pseudo-terminal via script) for records written to a file; not with " +
    "records on stdout, piped or with --quiet",
  ignore: !HAVE_CAPTURES || !hasCommand("script"),
  fn: async () => {
    // Twice the corpus: a run long enough (over a second) for the bar to appear.
    const args = `extract -o /dev/null '${CAPTURES}' '${CAPTURES}'`;
    const tty = await sh(`script -qfec "${JJ.replaceAll('"', '\\"')} ${args}" /dev/null`);
    assert.equal(tty.code, 0, tty.stderr);
    const screen = tty.stdout.replaceAll("\r", "\n");
    assert.match(screen, /\d+% \| [\d.]+\/[\d.]+ MB \| [\d.]+k? packets\/s \| \d+ active flows/);
    assert.match(screen, /100% \|/);
    // The bar's line ends before the summary.
    assert.match(screen, /(^|\n)jj: [^\n]*flows written/);
    // The same from workers, which report their progress to the main thread.
    const workers = await sh(`script -qfec "${JJ.replaceAll('"', '\\"')} ${args} --workers 2" /dev/null`);
    assert.equal(workers.code, 0, workers.stderr);
    const workerScreen = workers.stdout.replaceAll("\r", "\n");
    assert.match(workerScreen, /\d+% \| [\d.]+\/[\d.]+ MB \| [\d.]+k? packets\/s \| \d+ active flows/);
    assert.match(workerScreen, /(^|\n)jj: [^\n]*flows written[^\n]*x2 workers/);
    const quiet = await sh(`script -qfec "${JJ.replaceAll('"', '\\"')} ${args} --quiet" /dev/null`);
    assert.equal(quiet.code, 0);
    assert.doesNotMatch(quiet.stdout, /active flows/);
    // Records on stdout share the terminal (here at once; through jq or less as often): no bar cuts into them.
    const toScreen = await sh(
      `script -qfec "${JJ.replaceAll('"', '\\"')} extract '${CAPTURES}' '${CAPTURES}'" /dev/null`,
    );
    assert.equal(toScreen.code, 0);
    assert.match(toScreen.stdout, /"src_ip"/);
    assert.doesNotMatch(toScreen.stdout, /active flows/);
    const piped = await sh(`${JJ} ${args}`);
    assert.equal(piped.code, 0);
    assert.doesNotMatch(piped.stderr, /active flows/);
    assert.match(piped.stderr, /flows written/);
  },
});
