/**
 * Tests for longest-prefix matching (lib/subnets.ts) and `jj label-subnets` / `jj extract --label`: the trie
 * against a brute-force scan, labels on real captures, errors, and build/lookup time for a million prefixes.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  BinaryTrie,
  formatCidr,
  parseCidr,
  parseCidrList,
  PrefixMap,
  SubnetLabeler,
} from "../lib/subnets.ts";
import { formatIp } from "../lib/addr.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import { cap, HAVE_CAPTURES, runCli, type RunResult } from "./helpers.ts";

/** `jj ARGS` with `stdin` fed in. */
const run = (args: string[], stdin?: string): Promise<RunResult> => runCli(args, { stdin });

/** Brute force: the longest of `nets` containing `addr`. */
function naive(
  nets: { bytes: Uint8Array; length: number; value: number }[],
  addr: Uint8Array,
): number | undefined {
  let best = -1, value: number | undefined;
  for (const n of nets) {
    let ok = true;
    for (let i = 0; i < n.length; i++) {
      const bit = (b: Uint8Array) => (b[i >> 3] >> (7 - (i & 7))) & 1;
      if (bit(n.bytes) !== bit(addr)) {
        ok = false;
        break;
      }
    }
    if (ok && n.length > best) {
      best = n.length;
      value = n.value;
    }
  }
  return value;
}

/** A small deterministic generator (xorshift). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

Deno.test("parseCidr: IPv4, IPv6, bare addresses, host bits cleared, errors", () => {
  assert.equal(formatCidr(parseCidr("10.1.2.3/8")!), "10.0.0.0/8");
  assert.equal(formatCidr(parseCidr("192.168.1.77")!), "192.168.1.77/32");
  assert.equal(formatCidr(parseCidr("2001:db8:abcd::1/32")!), "2001:db8::/32");
  assert.equal(formatCidr(parseCidr("::/0")!), "::/0");
  assert.equal(formatCidr(parseCidr("10.255.255.255/9")!), "10.128.0.0/9");
  for (const bad of ["10.0.0.0/33", "2001:db8::/129", "10.0.0/8", "x", "10.0.0.0/-1", "10.0.0.0/", ""]) {
    assert.equal(parseCidr(bad), null, bad);
  }
  assert.equal(parseCidrList("# c\n\n10.0.0.0/8 # x\n  fe80::/10\n", "f").length, 2);
  assert.throws(() => parseCidrList("10.0.0.0/8\nbogus\n", "nets.txt"), /nets\.txt:2: "bogus"/);
});

Deno.test("parseCidr / parseCidrList: no leading zeros in a prefix length, one network per line", () => {
  for (const bad of ["10.0.0.0/08", "2001:db8::/032", "10.0.0.0/00"]) assert.equal(parseCidr(bad), null, bad);
  assert.equal(parseCidr("10.0.0.0/0")?.length, 0);
  assert.equal(parseCidr("10.0.0.0/8")?.length, 8);
  // The second entry of a line was silently dropped; "10.0.0.0 255.0.0.0" (a netmask) is not two networks.
  for (const line of ["10.0.0.0/8 11.0.0.0/8", "10.0.0.0 255.0.0.0", "10.0.0.0/8\tlab"]) {
    assert.throws(
      () => parseCidrList(`# nets\n${line}\n`, "nets.txt"),
      /^RangeError: nets\.txt:2: ".*" has more than one entry; expected one CIDR per line$/,
    );
  }
});

Deno.test("SubnetLabeler: an IPv6 network is not NAME:CIDR; empty and unreadable label files are errors", async () => {
  // Bare networks, also written with host bits set (as `ip -6 addr` shows them).
  for (
    const spec of ["fe80::1", "fd00::/8", "2001::/16", "2001:db8::5/64", "fe80::1/64", "2001:db8:0:1::/48"]
  ) {
    await assert.rejects(
      SubnetLabeler.fromSpecs([spec]),
      (e: Error) =>
        e instanceof RangeError && e.message === `--label ${spec}: this is a network without a name; ` +
            `expected NAME:CIDR, e.g. net:${spec}`,
    );
  }
  // Both readings are exact networks: refused, saying how to write either.
  for (
    const [spec, name, net] of [["2001:db8::/32", "2001", "db8::/32"], [
      "dead:beef::/64",
      "dead",
      "beef::/64",
    ]]
  ) {
    await assert.rejects(
      SubnetLabeler.fromSpecs([spec]),
      (e: Error) =>
        e instanceof RangeError &&
        e.message === `--label ${spec}: this is a network without a name (expected ` +
            `NAME:CIDR, e.g. net:${spec}); if "${name}" is meant as the label of ${net}, give it a name that is ` +
            `not only hexadecimal digits (e.g. ${name}-net:${net})`,
    );
  }
  const l = await SubnetLabeler.fromSpecs(["v6:2001:db8::/32"]);
  assert.deepEqual(l.labelsOf("2001:db8::1"), ["v6"]);
  // A name of hexadecimal digits before an IPv6 network: as one address it has bits set after the prefix (bad:3ffe:507::
  // is not a /32), so it is NAME:CIDR.
  const hex = await SubnetLabeler.fromSpecs(["bad:3ffe:507::/32", "dc:2001:db8::/32", "a:10.0.0.0/8"]);
  assert.deepEqual(hex.labelsOf("3ffe:507::9"), ["bad"]);
  assert.deepEqual(hex.labelsOf("2001:db8:5::1"), ["dc"]);
  assert.deepEqual(hex.labelsOf("10.1.2.3"), ["a"]);
  assert.deepEqual(hex.labelsOf("bad:3ffe:507::1"), []);
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/empty.net`, "");
  await Deno.writeTextFile(`${dir}/comments.net`, "# nothing yet\n\n");
  for (const f of ["empty.net", "comments.net"]) {
    await assert.rejects(
      SubnetLabeler.fromSpecs([`x:${dir}/${f}`]),
      new RegExp(`no networks in "${dir}/${f}"`),
    );
  }
  await assert.rejects(
    SubnetLabeler.fromSpecs([`x:${dir}`]),
    (e: Error) => e.message === `--label x:${dir}: "${dir}" is a directory, not a file of networks`,
  );
  // Through the CLI: one line, exit 2; an input directory is named (exit 1).
  const r1 = await run(["label-subnets", "--label", "2001:db8::/32"], "");
  assert.equal(r1.code, 2);
  assert.equal(r1.stderr.trim().split("\n").length, 1);
  assert.match(r1.stderr, /--label 2001:db8::\/32: this is a network without a name \(expected NAME:CIDR/);
  const r2 = await run(["label-subnets", "--label", `x:${dir}/empty.net`], "");
  assert.equal(r2.code, 2);
  const r3 = await run(["label-subnets", "--label", "a:10.0.0.0/8", dir]);
  assert.equal(r3.code, 1);
  assert.equal(r3.stderr.trim(), `jj: error: cannot read ${dir}: is a directory`);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("BinaryTrie: longest-prefix match equals a brute-force scan (IPv4 and IPv6, random prefixes)", () => {
  for (const bits of [32, 128] as const) {
    const r = rng(bits);
    const n = bits / 8;
    const nets: { bytes: Uint8Array; length: number; value: number }[] = [];
    const trie = new BinaryTrie<number>(bits);
    // Clustered prefixes so that many nest and share paths.
    for (let i = 0; i < 1500; i++) {
      const b = new Uint8Array(16);
      b[0] = 10 + (r() % 3);
      for (let j = 1; j < n; j++) b[j] = r() % 4 === 0 ? r() & 0xff : j % 5;
      const length = r() % (bits + 1);
      const c = parseCidr(`${formatIp(b, 0, bits === 32 ? 4 : 6)}/${length}`)!;
      const i2 = nets.findIndex((x) => x.length === length && x.bytes.every((v, k) => v === c.bytes[k]));
      if (i2 >= 0) nets[i2].value = i;
      else nets.push({ bytes: c.bytes, length, value: i });
      trie.insert(c.bytes, length, i);
    }
    assert.equal(trie.size, nets.length);
    assert.ok(trie.nodeCount <= 2 * nets.length + 1);
    for (let q = 0; q < 4000; q++) {
      const a = new Uint8Array(16);
      a[0] = 10 + (r() % 3);
      for (let j = 1; j < n; j++) a[j] = r() % 2 === 0 ? r() & 0xff : j % 5;
      assert.equal(
        trie.lookup(a),
        naive(nets, a),
        `${bits}-bit query ${formatIp(a, 0, bits === 32 ? 4 : 6)}`,
      );
    }
  }
});

Deno.test("BinaryTrie: property, any insertion order gives the same answers (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })), {
        minLength: 1,
        maxLength: 40,
      }),
      fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 20 }),
      (prefixes, queries) => {
        const toBytes = (v: number) => new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
        const nets = prefixes.map(([v, len], i) => {
          const c = parseCidr(`${formatIp(toBytes(v), 0, 4)}/${len}`)!;
          return { bytes: c.bytes, length: len, value: i };
        });
        // Later duplicates win, as in the trie.
        const dedup = nets.filter((x, i) =>
          !nets.some((y, j) => j > i && y.length === x.length && y.bytes.every((v, k) => v === x.bytes[k]))
        );
        const fwd = new BinaryTrie<number>(32), rev = new BinaryTrie<number>(32);
        for (const x of nets) fwd.insert(x.bytes, x.length, x.value);
        for (const x of [...dedup].reverse()) rev.insert(x.bytes, x.length, x.value);
        for (const q of [...queries, ...prefixes.map(([v]) => v)]) {
          const a = toBytes(q);
          const want = naive(dedup, a);
          assert.equal(fwd.lookup(a), want);
          assert.equal(rev.lookup(a), want);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("SubnetLabeler: longest prefix wins, shared networks keep all labels, files, errors", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/internal.net`,
    "# internal networks\n10.0.0.0/8\n172.16.0.0/12 # lab\nfd00::/8\n",
  );
  const l = await SubnetLabeler.fromSpecs([
    `internal:${dir}/internal.net`,
    "dmz:10.1.0.0/16",
    "web:10.1.0.0/16",
    "host:10.1.2.3",
    "doc:2001:db8::/32",
    "any6:::/0",
  ]);
  assert.deepEqual(l.labelsOf("10.9.9.9"), ["internal"]);
  assert.deepEqual(l.labelsOf("10.1.9.9"), ["dmz", "web"]);
  assert.deepEqual(l.labelsOf("10.1.2.3"), ["host"]);
  assert.deepEqual(l.labelsOf("172.31.255.255"), ["internal"]);
  assert.deepEqual(l.labelsOf("172.32.0.0"), []);
  assert.deepEqual(l.labelsOf("fd12::1"), ["internal"]);
  assert.deepEqual(l.labelsOf("2001:db8::1"), ["doc"]);
  assert.deepEqual(l.labelsOf("2001:db9::1"), ["any6"]);
  assert.deepEqual(l.labelsOf("::ffff:10.1.2.3"), ["any6"]); // IPv4-mapped IPv6 is IPv6
  assert.deepEqual(l.labelsOf("c0a80101000000000000000000000000"), []); // anonymized (joy) text
  assert.deepEqual(l.labelsOf(null), []);
  const rec: FlowRecord = l.apply({ src_ip: "10.1.2.3", dst_ip: "8.8.8.8" });
  assert.deepEqual([rec.src_labels, rec.dst_labels], [["host"], []]);
  await assert.rejects(SubnetLabeler.fromSpecs(["nolabel"]), /expected NAME:CIDR or NAME:FILE/);
  await assert.rejects(
    SubnetLabeler.fromSpecs([`x:${dir}/missing.txt`]),
    /neither a CIDR network nor an existing file/,
  );
  await Deno.writeTextFile(`${dir}/bad.net`, "10.0.0.0/8\n300.1.1.1/8\n");
  await assert.rejects(SubnetLabeler.fromSpecs([`x:${dir}/bad.net`]), /bad\.net:2/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "label-subnets and extract --label on real captures: same labels, equal to a brute-force scan",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const specs = [
      "private:10.0.0.0/8",
      "private:172.16.0.0/12",
      "private:192.168.0.0/16",
      "home:192.168.1.0/24",
      "google6:2a00:1450::/32",
      "ula:fc00::/7",
    ];
    const captures = ["tls12.pcap", "http_ipv6.pcap", "dns.pcap", "gre-erspan-vxlan.pcap", "ipv6.pcapng"]
      .map(cap);
    const plain = await run(["extract", "-q", ...captures]);
    assert.equal(plain.code, 0, plain.stderr);
    const labelled = await run(["label-subnets", ...specs.flatMap((s) => ["--label", s])], plain.stdout);
    assert.equal(labelled.code, 0, labelled.stderr);
    assert.match(labelled.stderr, /records, \d+ labelled, 6 network\(s\)/);
    const direct = await run(["extract", "-q", ...specs.flatMap((s) => ["--label", s]), ...captures]);
    assert.equal(direct.code, 0, direct.stderr);
    const a = labelled.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const b = direct.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.ok(a.length > 10);
    assert.deepEqual(a, b);
    const nets = specs.map((s, i) => {
      const c = parseCidr(s.slice(s.indexOf(":") + 1))!;
      return { ...c, value: i };
    });
    const expectLabels = (ip: string) => {
      const bytes = new Uint8Array(16);
      const c = parseCidr(ip)!;
      bytes.set(c.bytes);
      const matching = nets.filter((n) => n.version === c.version);
      const best = naive(matching, bytes);
      if (best === undefined) return [];
      const win = nets[best];
      return nets.filter((n) =>
        n.version === win.version && n.length === win.length && n.bytes.every((v, k) => v === win.bytes[k])
      ).map((n) => specs[n.value].split(":")[0]);
    };
    let seen = 0;
    for (const r of a) {
      assert.deepEqual(r.src_labels, expectLabels(r.src_ip), r.src_ip);
      assert.deepEqual(r.dst_labels, expectLabels(r.dst_ip), r.dst_ip);
      if (r.src_labels.length > 0) seen++;
    }
    assert.ok(seen > 0);
    // Every other field is untouched.
    const orig = plain.stdout.trim().split("\n").map((l) => JSON.parse(l));
    for (let i = 0; i < orig.length; i++) {
      delete a[i].src_labels;
      delete a[i].dst_labels;
      assert.deepEqual(a[i], orig[i]);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("label-subnets: bad arguments exit 2 naming the argument", async () => {
  const r1 = await run(["label-subnets", "--label", "lab:10.0.0.0/33"], "");
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /--label lab:10\.0\.0\.0\/33/);
  const r2 = await run(["label-subnets"], "");
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /at least one --label/);
  const r3 = await run(["extract", "--label", "oops", "x.pcap"]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /--label oops/);
  const r4 = await run(["label-subnets", "--label", "a:1.2.3.0/24"], '{"src_ip":"1.2.3.4"}\nnot json\n');
  assert.equal(r4.code, 0);
  assert.match(r4.stderr, /<stdin>:2: not a JSON object/);
  assert.deepEqual(JSON.parse(r4.stdout).src_labels, ["a"]);
});

Deno.test("extract --label with --specific-features: only the label columns named are written, last", async () => {
  const T = "testdata/http.pcap";
  const lines = async (args: string[]) => {
    const r = await run(["extract", "-q", "--label", "lo:127.0.0.0/8", ...args, T]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as FlowRecord);
  };
  // Labels come from the addresses, which are read for them even when not written.
  for (const r of await lines(["--specific-features", "total_bytes,dst_labels"])) {
    assert.deepEqual(Object.keys(r), ["total_bytes", "dst_labels"]);
    assert.deepEqual(r.dst_labels, ["lo"]);
  }
  for (const r of await lines(["--specific-features", "src_labels,src_ip"])) {
    assert.deepEqual(Object.keys(r), ["src_ip", "src_labels"]);
  }
  // Neither named: --label would change nothing, a usage error as for any setting a run would ignore (its
  // columns were left out without a word).
  const ignored = await run([
    "extract",
    "-q",
    "--label",
    "lo:127.0.0.0/8",
    "--specific-features",
    "src_ip",
    T,
  ]);
  assert.equal(ignored.code, 2, ignored.stderr);
  assert.match(
    ignored.stderr,
    /--label adds the src_labels and dst_labels columns, which --specific-features/,
  );
  // With a setting whose columns are named too.
  for (const r of await lines(["--specific-features", "src_labels,flow_id", "--include-flow-id"])) {
    assert.deepEqual(Object.keys(r), ["flow_id", "src_labels"]);
  }
  // CSV has the same header.
  const csv = await run([
    "extract",
    "-q",
    "--label",
    "lo:127.0.0.0/8",
    "--specific-features",
    "src_labels,src_ip",
    "--format",
    "csv",
    T,
  ]);
  assert.equal(csv.stdout.split("\n")[0], "src_ip,src_labels");
  // A label column without --label is a usage error naming it.
  const r = await run(["extract", "-q", "--specific-features", "src_ip,src_labels", T]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /src_labels: written only with --label/);
});

Deno.test("1M random prefixes: build and lookup time (printed, not asserted)", () => {
  const r = rng(12345);
  const N = 1_000_000;
  for (const bits of [32, 128] as const) {
    const n = bits / 8;
    const keys = new Uint8Array(N * 16);
    const lens = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < n; j++) keys[i * 16 + j] = r() & 0xff;
      lens[i] = bits === 32 ? 8 + (r() % 25) : 16 + (r() % 113);
    }
    const t0 = performance.now();
    const m = new PrefixMap<number>();
    const trie = bits === 32 ? m.v4 : m.v6;
    for (let i = 0; i < N; i++) {
      // Clear host bits in place.
      const len = lens[i];
      for (let j = 0; j < n; j++) {
        const keep = len - 8 * j;
        if (keep <= 0) keys[i * 16 + j] = 0;
        else if (keep < 8) keys[i * 16 + j] &= (0xff << (8 - keep)) & 0xff;
      }
      trie.insert(keys, len, i, i * 16);
    }
    const t1 = performance.now();
    const q = new Uint8Array(16);
    let hits = 0;
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < n; j++) q[j] = r() & 0xff;
      if (trie.lookup(q) !== undefined) hits++;
    }
    const t2 = performance.now();
    // Lookups of the inserted networks themselves must all hit.
    for (let i = 0; i < 1000; i++) assert.notEqual(trie.lookup(keys, i * 16), undefined);
    console.log(
      `IPv${bits === 32 ? 4 : 6}: ${trie.size} prefixes (${trie.nodeCount} nodes) built in ${
        (t1 - t0).toFixed(0)
      } ms; ${N} random lookups in ${(t2 - t1).toFixed(0)} ms (${
        ((t2 - t1) * 1000 / N).toFixed(2)
      } µs each, ${hits} hits)`,
    );
  }
});
