/**
 * Extraction options: validation (library errors and CLI exit 2 naming the option and its range),
 * `specificFeatures`, `bidirectionalSplit`, `includeFlowId`, `anonymizeIps` with salt, sequences, and the
 * columns writers are given.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { extractFlows, type ExtractOptions } from "../lib/extract.ts";
import {
  anonymizeIp,
  OptionError,
  planExtraction,
  SettingsError,
  splitName,
  validateOptions,
} from "../lib/options.ts";
import { tryLoadLibpcap } from "../ffi/libpcap.ts";
import { captureFlows, type LiveOptions } from "../lib/live.ts";
import {
  byteStream,
  cap,
  collect,
  concat,
  ethernet,
  HAVE_SHARED,
  ipv4,
  parseJsonl,
  pcapFile,
  ROOT,
  runCli,
  udp,
  withTempDir,
} from "./helpers.ts";

const T0 = 1_600_000_000;
const A = "10.0.0.1", B = "10.0.0.2";

/** One UDP flow A:1111 -> B:2222 with a reply, in either order. */
function udpFlow(reversed = false): Uint8Array {
  const fwd = ethernet(ipv4(A, B, 17, udp(1111, 2222, new Uint8Array(8))));
  const bwd = ethernet(ipv4(B, A, 17, udp(2222, 1111, new Uint8Array(8))));
  const [first, second] = reversed ? [bwd, fwd] : [fwd, bwd];
  return pcapFile(1, [{ ts: T0, data: first }, { ts: T0 + 0.1, data: second }]);
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

Deno.test("validation: each bad value is an OptionError naming the option, its flag and the accepted range", () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ idleTimeout: 0 }, /idleTimeout \(--idle-timeout\) must be a number of seconds > 0; got 0/],
    [{ activeTimeout: -1 }, /activeTimeout \(--active-timeout\) must be .*>= 0/],
    [{ maxFlows: 1.5 }, /maxFlows \(--max-flows\) must be an integer >= 0/],
    // Past 2^53 an integer is not held exactly: it acted as no limit.
    [{ maxFlows: 2 ** 60 }, /maxFlows \(--max-flows\) must be an integer >= 0/],
    [
      { evictionStrategy: "newest" },
      /evictionStrategy \(--eviction-strategy\) must be "lru" or "oldest"; got/,
    ],
    [{ samplingRate: 0 }, /samplingRate \(--sampling-rate\) must be a fraction in \(0, 1\]; got 0/],
    [{ samplingRate: 1.5 }, /samplingRate/],
    [
      { burstThresholdMs: -5 },
      /burstThresholdMs \(--burst-threshold-ms\) must be a number of milliseconds > 0/,
    ],
    [
      { maxSequenceLength: 0 },
      /maxSequenceLength \(--max-sequence-length\) must be an integer in 1\.\.65536; got 0/,
    ],
    [{ maxSequenceLength: 70000 }, /1\.\.65536; got 70000/],
    [
      { entropySampleBytes: -1 },
      /entropySampleBytes \(--entropy-sample-bytes\) must be an integer in 0\.\.1048576/,
    ],
    [{ entropySampleBytes: 2.5 }, /entropySampleBytes/],
    [{ includeFlowId: "yes" }, /includeFlowId \(--include-flow-id\) must be true or false; got "yes"/],
    [{ anonymizationSalt: 5 }, /anonymizationSalt \(--anonymization-salt\) must be a non-empty string/],
    // No salt: unsalted hashes of the addresses, which 2^32 guesses undo ("$SALT" with SALT unset).
    [
      { anonymizationSalt: "" },
      /anonymizationSalt \(--anonymization-salt\) must be a non-empty string; got ""/,
    ],
    [
      { specificFeatures: "src_ip" },
      /specificFeatures \(--specific-features\) must be a non-empty list of names/,
    ],
    [{ specificFeatures: ["no_such_column"] }, /names of features.*got \["no_such_column"\]/],
    [{ features: ["timing"], specificFeatures: ["ja3_hash"] }, /features of the selected groups/],
    // An empty list wrote `{}` for every flow; an unknown group was a plain RangeError naming no option.
    [{ specificFeatures: [] }, /specificFeatures \(--specific-features\) must be a non-empty list of names/],
    [
      { features: ["timing", "nope"] },
      /features \(--features\) must be group names among all, flow_meta.*got "nope"/,
    ],
  ];
  for (const [o, re] of cases) {
    assert.throws(() => planExtraction(o), (e: unknown) => {
      assert.ok(e instanceof OptionError, `${JSON.stringify(o)}: ${e}`);
      assert.ok(e instanceof RangeError, "the CLI maps RangeError to exit 2");
      assert.match(e.message, re);
      return true;
    });
  }
  validateOptions({ idleTimeout: 5, activeTimeout: 0, maxFlows: 10, samplingRate: 1, maxSequenceLength: 1 });
});

Deno.test("validation: extractFlows rejects bad options before reading any input", async () => {
  await assert.rejects(
    async () => {
      for await (const _ of extractFlows("/no/such/file.pcap", { maxSequenceLength: -3 })) { /* nothing */ }
    },
    /maxSequenceLength/,
  );
});

Deno.test("validation: reader and filter are checked, and refused with a stream source (they were ignored)", async () => {
  const run = async (source: string | ReadableStream<Uint8Array>, o: Record<string, unknown>) => {
    for await (const _ of extractFlows(source, o)) { /* nothing */ }
  };
  const isOption = (option: string, re: RegExp) => (e: unknown) => {
    assert.ok(e instanceof OptionError, String(e));
    assert.equal(e.option, option);
    assert.match(e.message, re);
    return true;
  };
  await assert.rejects(
    run("testdata/http.pcap", { reader: "foo" }),
    isOption("reader", /auto, builtin or libpcap/),
  );
  await assert.rejects(
    run("testdata/http.pcap", { filter: 5 }),
    isOption("filter", /a BPF filter string; got 5/),
  );
  const stream = () => byteStream(udpFlow());
  await assert.rejects(run(stream(), { reader: "libpcap" }), isOption("reader", /paths only/));
  // The same stream without it reads as before.
  assert.equal((await collect(stream())).records.length, 1);
  // A filter runs on a stream's packets as on a file's (the built-in reader reads it; it was refused).
  if (tryLoadLibpcap() !== null) {
    assert.equal((await collect(stream(), { filter: "udp" })).records.length, 1);
    assert.equal((await collect(stream(), { filter: "tcp" })).records.length, 0);
  }
});

Deno.test("CLI: invalid option values exit 2 with one line naming the option", async () => {
  const cases: [string[], RegExp][] = [
    // The CLI's message gives the whole range at both ends.
    [["--max-sequence-length", "0"], /--max-sequence-length must be an integer from 1 to 65536/],
    [["--max-sequence-length", "99999"], /--max-sequence-length must be an integer from 1 to 65536/],
    [["--entropy-sample-bytes", "-4"], /--entropy-sample-bytes must be an integer from 0 to 1048576/],
    [["--entropy-sample-bytes", "2000000"], /--entropy-sample-bytes must be an integer from 0 to 1048576/],
    [["--max-flows", "99999999999999999999"], /--max-flows must be an integer from 0 to 2\^53 - 1/],
    [["--specific-features", "src_ip,bogus"], /specificFeatures \(--specific-features\).*bogus/],
    [["--sampling-rate", "2"], /--sampling-rate/],
    // A filter that does not compile: once, as a usage error (it was a failure per input, exit 1).
    [
      ["--filter", "tcp port"],
      /filter \(--filter\) must be a BPF filter libpcap compiles \(.*syntax error\); got "tcp port"$/m,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(["extract", "-q", ...args, "testdata/http.pcap"]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");
  }
});

Deno.test("specificFeatures: only those columns, in record order; only the groups that write them run", async () => {
  const plan = planExtraction({ specificFeatures: ["iat_mean", "src_ip", "entropy_payload"] });
  assert.deepEqual(plan.columns, ["src_ip", "iat_mean", "entropy_payload"]);
  assert.deepEqual(plan.extractors.map((e) => e.name), ["flow_meta", "timing", "entropy"]);
  assert.equal(plan.hold, false, "connection is not needed");
  assert.deepEqual(plan.features.map((f) => [f.name, f.type]), [
    ["src_ip", "str"],
    ["iat_mean", "float"],
    ["entropy_payload", "float"],
  ]);
  const { records } = await collect(byteStream(udpFlow()), {
    specificFeatures: ["iat_mean", "src_ip", "dst_port"],
  });
  assert.deepEqual(Object.keys(records[0]), ["src_ip", "dst_port", "iat_mean"]);
  assert.equal(records[0].dst_port, 2222);
  // The fingerprint group reads the TLS/QUIC/SSH groups' columns: they run (unwritten) when it is asked for.
  assert.deepEqual(
    planExtraction({ specificFeatures: ["traffic_type"] }).extractors.map((e) => e.name),
    ["flow_meta", "tls", "quic", "ssh", "fingerprint"],
  );
  assert.deepEqual(planExtraction({ specificFeatures: ["traffic_type"] }).columns, ["traffic_type"]);
  // The same when the group is asked for by --features: the helpers' columns stay out unless asked for too.
  const byGroup = planExtraction({ features: ["fingerprint"] });
  assert.deepEqual(byGroup.extractors.map((e) => e.name), ["flow_meta", "tls", "quic", "ssh", "fingerprint"]);
  assert.equal(byGroup.columns.includes("traffic_type"), true);
  assert.equal(byGroup.columns.some((c) => /^(tls|quic|ssh)_/.test(c)), false);
  assert.equal(planExtraction({ features: ["fingerprint", "tls"] }).columns.includes("tls_sni"), true);
  for (const features of [["fingerprint"], ["fingerprint", "ssh"]]) {
    const [ssh] = (await collect(`${ROOT}/testdata/tcp_edge/tfo_ssh.pcap`, { features })).records;
    assert.equal(ssh.traffic_type, "encrypted", features.join());
    assert.equal("ssh_detected" in ssh, features.includes("ssh"));
  }
});

Deno.test("includeFlowId: 32 hex digits of SHA-256 of the canonical 5-tuple, the same in both directions", async () => {
  const want = sha("10.0.0.1:1111:10.0.0.2:2222:17").slice(0, 32);
  const [a] =
    (await collect(byteStream(udpFlow()), { features: ["flow_meta"], includeFlowId: true })).records;
  const [b] =
    (await collect(byteStream(udpFlow(true)), { features: ["flow_meta"], includeFlowId: true })).records;
  assert.equal(Object.keys(a)[0], "flow_id", "first column");
  assert.equal(a.flow_id, want);
  assert.equal(b.flow_id, want, "initiator and responder swapped");
  const [s] =
    (await collect(byteStream(udpFlow()), { includeFlowId: true, anonymizationSalt: "pepper" })).records;
  assert.equal(s.flow_id, sha("pepper10.0.0.1:1111:10.0.0.2:2222:17").slice(0, 32));
  const [none] = (await collect(byteStream(udpFlow()), { features: ["flow_meta"] })).records;
  assert.equal("flow_id" in none, false);
});

Deno.test("anonymizeIps: 16 hex digits of SHA-256(salt + address), salt changes them", async () => {
  const [r] = (await collect(byteStream(udpFlow()), {
    features: ["flow_meta"],
    anonymizeIps: true,
    anonymizationSalt: "s3cret",
  })).records;
  assert.equal(r.src_ip, sha(`s3cret${A}`).slice(0, 16));
  assert.equal(r.dst_ip, sha(`s3cret${B}`).slice(0, 16));
  const [u] = (await collect(byteStream(udpFlow()), { features: ["flow_meta"], anonymizeIps: true })).records;
  assert.equal(u.src_ip, sha(A).slice(0, 16), "empty salt by default");
  assert.notEqual(u.src_ip, r.src_ip);
});

Deno.test("anonymizeIps: addresses in DNS answers and address literals as host or SNI are hashed too", async () => {
  const { output } = planExtraction({ features: ["dns", "http2", "tls", "quic"], anonymizeIps: true });
  const h = (ip: string) => sha(ip).slice(0, 16);
  const r = output({
    src_ip: "10.0.0.1",
    dst_ip: "10.0.0.2",
    dns_answers: ["10.0.0.9", "cdn.example.com", "2001:db8::1"],
    http_host: "10.0.0.2:8080",
    tls_sni: "[2001:db8::2]:443",
    quic_sni: "example.org",
  });
  assert.deepEqual(r.dns_answers, [h("10.0.0.9"), "cdn.example.com", h("2001:db8::1")]);
  assert.equal(r.http_host, `${h("10.0.0.2")}:8080`);
  assert.equal(r.tls_sni, `[${h("2001:db8::2")}]:443`);
  assert.equal(r.quic_sni, "example.org");
  // Written another way, the same address is the same pseudonym as in the endpoint columns.
  assert.equal(output({ http_host: "[2001:DB8:0:0:0:0:0:1]:8080" }).http_host, `[${h("2001:db8::1")}]:8080`);
  if (HAVE_SHARED) {
    // A real DNS capture: no answer left in clear (they were written as they are).
    const answers = (await collect(cap("dns.pcap"), { anonymizeIps: true })).records
      .flatMap((x) => (x.dns_answers as string[] | null) ?? []);
    assert.ok(answers.length > 0);
    for (const a of answers) assert.doesNotMatch(a, /^\d+\.\d+\.\d+\.\d+$|:.*:/);
  }
});

Deno.test("anonymizeIps: MAC addresses are hashed (an IPv6 address made from one gave its hash back) and so is an address as DNS query name", async () => {
  // Real Linux traffic whose link-local addresses are made from their MACs (modified EUI-64, RFC 4291).
  const file = `${ROOT}/testdata/anon_edge/mld_linux.pcap`;
  const clear = (await collect(file, { features: ["flow_meta", "mac"] })).records;
  const anon = (await collect(file, { features: ["flow_meta", "mac"], anonymizeIps: true })).records;
  const eui64 = (mac: string) => {
    const b = mac.split(":").map((x) => parseInt(x, 16));
    b[0] ^= 2;
    const w = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    return `fe80::${w(b[0], b[1])}:${w(b[2], 0xff)}:${w(0xfe, b[3])}:${w(b[4], b[5])}`;
  };
  let fromMac = 0;
  for (let i = 0; i < clear.length; i++) {
    for (const k of ["mac_src", "mac_dst"]) {
      assert.equal(anon[i][k], sha(clear[i][k] as string).slice(0, 16), k);
    }
    if (clear[i].src_ip === eui64(clear[i].mac_src as string)) fromMac++;
    assert.doesNotMatch(JSON.stringify(anon[i]), /[0-9a-f]{2}(:[0-9a-f]{2}){5}/, "no MAC left in clear");
  }
  assert.ok(fromMac > 0, "the capture has addresses made from MACs");
  // Real traffic: `dig @10.9.0.1 10.9.0.5 A` against dnsmasq (an address as the name asked for).
  const dns = (await collect(`${ROOT}/testdata/dns_edge/query_literal.pcap`, {
    features: ["dns"],
    anonymizeIps: true,
    anonymizationSalt: "s",
  })).records;
  const names = dns.map((r) => r.dns_query_name);
  assert.ok(names.includes(sha("s10.9.0.5").slice(0, 16)), String(names));
  assert.ok(!names.includes("10.9.0.5"));
  // A reverse-lookup name stays (documented).
  assert.ok(names.some((n) => typeof n === "string" && n.endsWith(".ip6.arpa")));
});

Deno.test({
  name: "anonymizeIps: tunnel endpoints are anonymized too, and the connection graph is unchanged",
  ignore: !HAVE_SHARED,
  async fn() {
    const plain = (await collect(cap("gre-sample.pcap"))).records;
    const anon =
      (await collect(cap("gre-sample.pcap"), { anonymizeIps: true, anonymizationSalt: "x" })).records;
    assert.equal(anon.length, plain.length);
    for (let i = 0; i < plain.length; i++) {
      for (const k of ["src_ip", "dst_ip", "tunnel_src_ip", "tunnel_dst_ip"]) {
        const v = plain[i][k];
        assert.equal(anon[i][k], typeof v === "string" ? sha(`x${v}`).slice(0, 16) : v, k);
      }
      assert.equal(anon[i].conn_src_community, plain[i].conn_src_community);
      assert.equal(anon[i].conn_src_betweenness, plain[i].conn_src_betweenness);
    }
  },
});

Deno.test("bidirectionalSplit: JoyfulJay's renaming (fwd_*, bwd_*, total_*)", async () => {
  assert.equal(splitName("entropy_initiator"), "fwd_entropy");
  assert.equal(splitName("entropy_responder"), "bwd_entropy");
  assert.equal(splitName("entropy_payload"), "total_entropy_payload");
  assert.equal(splitName("tcp_syn_count"), "total_tcp_syn_count");
  assert.equal(splitName("iat_fwd_mean"), "iat_fwd_mean");
  const [r] = (await collect(byteStream(udpFlow()), {
    features: ["flow_meta", "timing", "entropy", "tcp"],
    bidirectionalSplit: true,
  })).records;
  for (
    const k of [
      "fwd_entropy",
      "bwd_entropy",
      "total_entropy_payload",
      "total_burst_count",
      "total_total_bytes",
    ]
  ) {
    assert.ok(k in r, k);
  }
  for (const k of ["entropy_initiator", "entropy_payload", "burst_count", "total_bytes"]) {
    assert.ok(!(k in r), k);
  }
  assert.equal(r.total_total_bytes, 2 * 50);
  assert.equal(r.total_packets, 2, "not a directional quantity: unchanged");
  // Selection applies to the renamed columns.
  const [s] = (await collect(byteStream(udpFlow()), {
    bidirectionalSplit: true,
    specificFeatures: ["fwd_entropy", "src_ip"],
  })).records;
  assert.deepEqual(Object.keys(s), ["src_ip", "fwd_entropy"]);
});

Deno.test("sequences: asked for by name in specificFeatures, or through the CLI flags", async () => {
  const [r] =
    (await collect(byteStream(udpFlow()), { specificFeatures: ["splt_directions", "iat_sequence"] }))
      .records;
  assert.deepEqual(Object.keys(r), ["iat_sequence", "splt_directions"]);
  assert.deepEqual(r.splt_directions, [1, -1]);
  assert.equal((r.iat_sequence as number[]).length, 50, "padded to the default 50");
  const dir = await Deno.makeTempDir({ prefix: "jj-opts-" });
  try {
    await Deno.writeFile(`${dir}/f.pcap`, concat(udpFlow()));
    const out = await runCli([
      "extract",
      "-q",
      "--features",
      "flow_meta",
      "--include-sequences",
      "--include-splt",
      "--max-sequence-length",
      "3",
      "--include-flow-id",
      `${dir}/f.pcap`,
    ]);
    assert.equal(out.code, 0, out.stderr);
    const [c] = parseJsonl(out.stdout);
    assert.equal((c.iat_sequence as number[]).length, 3);
    assert.deepEqual(c.splt_lengths, [50, 50]);
    assert.equal(typeof c.flow_id, "string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("CLI: --specific-features, --anonymize-ips and --bidirectional-split reach the records (JSONL and CSV)", async () => {
  const r = await runCli([
    "extract",
    "-q",
    "--specific-features",
    "src_ip,dst_ip,fwd_entropy",
    "--bidirectional-split",
    "--anonymize-ips",
    "--anonymization-salt",
    "k",
    "testdata/http.pcap",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const recs = parseJsonl(r.stdout);
  assert.ok(recs.length > 0);
  for (const rec of recs) {
    assert.deepEqual(Object.keys(rec), ["src_ip", "dst_ip", "fwd_entropy"]);
    assert.match(rec.src_ip as string, /^[0-9a-f]{16}$/);
  }
  const dir = await Deno.makeTempDir({ prefix: "jj-opts-" });
  try {
    const csv = await runCli([
      "extract",
      "-q",
      "--specific-features",
      "src_port,dst_port,traffic_type",
      "-o",
      `${dir}/out.csv`,
      "testdata/http.pcap",
    ]);
    assert.equal(csv.code, 0, csv.stderr);
    const header = (await Deno.readTextFile(`${dir}/out.csv`)).split("\n")[0];
    assert.equal(header.replaceAll('"', ""), "src_port,dst_port,traffic_type");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("shard (the parallel workers' option) is checked like the others", async () => {
  for (
    const shard of [{ index: 2, count: 2 }, { index: 0, count: 0 }, { index: -1, count: 2 }, {
      index: 0.5,
      count: 2,
    }]
  ) {
    // The value quoted once (it was a JSON string of the JSON: got "{\"index\":2,...}").
    await assert.rejects(
      extractFlows("testdata/http.pcap", { shard }).next(),
      (e: Error) => e instanceof RangeError && e.message.endsWith(`; got ${JSON.stringify(shard)}`),
      JSON.stringify(shard),
    );
  }
});

Deno.test("anonymizeIps: the host of a request target (CONNECT, absolute URI) is hashed, a path is not", async () => {
  const { output } = planExtraction({ features: ["http2"], anonymizeIps: true, anonymizationSalt: "s" });
  const h = (ip: string) => sha("s" + ip).slice(0, 16);
  const uri = (u: string) => output({ http_uri: u }).http_uri;
  assert.equal(uri("203.0.113.77:443"), `${h("203.0.113.77")}:443`);
  assert.equal(uri("http://203.0.113.88/secret?a=1"), `http://${h("203.0.113.88")}/secret?a=1`);
  assert.equal(uri("http://u:p@[2001:db8::5]:8080/x"), `http://u:p@[${h("2001:db8::5")}]:8080/x`);
  assert.equal(uri("http://example.org/10.0.0.1"), "http://example.org/10.0.0.1");
  assert.equal(uri("/index.html"), "/index.html");
  assert.equal(uri("*"), "*");
  // Built to order (scapy): a CONNECT to an address and an absolute-form GET naming one.
  const rs = (await collect("testdata/http_edge/uri_literals.pcap", {
    features: ["http2"],
    anonymizeIps: true,
    anonymizationSalt: "s",
  })).records;
  const uris = rs.map((r) => r.http_uri).filter((u) => u !== null).sort();
  assert.deepEqual(uris, [`${h("203.0.113.77")}:443`, `http://${h("203.0.113.88")}/secret`].sort());
});

Deno.test("extractFlows refuses an option it does not know, naming the one meant (JoyfulJay's names too)", async () => {
  const run = async (options: Record<string, unknown>) => {
    const it = extractFlows("testdata/http.pcap", options as ExtractOptions);
    await it.next();
  };
  await assert.rejects(run({ include_splt: true }), (e: Error) => {
    assert.ok(e instanceof SettingsError);
    assert.equal(e.message, "unknown option include_splt (JoyfulJay's include_splt is includeSplt)");
    return true;
  });
  await assert.rejects(run({ flow_timeout: 5 }), /JoyfulJay's flow_timeout is idleTimeout/);
  await assert.rejects(run({ idleTimeOut: 3 }), /unknown option idleTimeOut \(did you mean idleTimeout\?\)/);
  await assert.rejects(run({ colour: "red" }), /unknown option colour \(known: idleTimeout, /);
  // Names every object has are not JoyfulJay's ("JoyfulJay's toString is function toString() ...").
  for (const key of ["toString", "constructor", "hasOwnProperty", "valueOf"]) {
    await assert.rejects(
      run({ [key]: 1 }),
      new RegExp(`^SettingsError: unknown option ${key} \\(known: idleTimeout, `),
    );
  }
  // Every documented option is known.
  const it = extractFlows("testdata/http.pcap", { includeSplt: true, idleTimeout: 5, samplingRate: 1 });
  let n = 0;
  for await (const r of it) n += r.splt === undefined ? 0 : 1;
  assert.equal(n, 3);
});

Deno.test("captureFlows checks its options before it opens a capture, as jj live checks its flags", async () => {
  // No capture is opened (no libpcap or privilege needed): each is refused at the first next().
  const run = (options: Record<string, unknown>) =>
    captureFlows({ iface: "lo", duration: 1, ...options } as unknown as LiveOptions).next();
  await assert.rejects(
    run({ bpf_filter: "tcp" }),
    /^SettingsError: unknown option bpf_filter \(JoyfulJay's bpf_filter is filter\)/,
  );
  await assert.rejects(run({ durration: 1 }), /^SettingsError: unknown option durration \(known: iface, /);
  await assert.rejects(run({ flow_timeout: 5 }), /JoyfulJay's flow_timeout is idleTimeout/);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ duration: -1 }, /^OptionError: duration \(--duration\) must be a positive number of seconds; got -1/],
    [{ duration: NaN }, /duration \(--duration\)/],
    [{ duration: "1" }, /duration \(--duration\)/],
    [{ count: 0.5 }, /^OptionError: count \(--count\) must be an integer from 1 to 2\^53 - 1; got 0.5/],
    [{ count: -3 }, /count \(--count\)/],
    [{ snaplen: 0 }, /^OptionError: snaplen \(--snaplen\) must be an integer from 1 to 262144; got 0/],
    [{ promisc: "no" }, /^OptionError: promisc \(--promisc\) must be true or false/],
    [{ bufferSize: NaN }, /^OptionError: bufferSize \(--buffer-size\)/],
    [{ iface: undefined }, /^OptionError: iface \(--interface\) must be an interface name/],
    [{ signal: "stop" }, /^OptionError: signal \(signal\) must be an AbortSignal/],
    [{ idleTimeout: -5 }, /idleTimeout \(--idle-timeout\)/],
  ];
  for (const [options, message] of bad) await assert.rejects(run(options), message, JSON.stringify(options));
});

Deno.test("extractFlows checks the options object, its callbacks and its sources before any input is read", async () => {
  const run = async (source: unknown, o: unknown) => {
    for await (const _ of extractFlows(source as string, o as ExtractOptions)) { /* nothing */ }
  };
  const refused = (option: string, re: RegExp) => (e: unknown) => {
    assert.ok(e instanceof OptionError, String(e));
    assert.equal(e.option, option);
    assert.match(e.message, re);
    return true;
  };
  const http = "testdata/http.pcap";
  // A callback that is not a function failed only when first called (onSummary after the last record); a
  // string for reuseRecords was taken; null options and a number as source were TypeErrors of the internals.
  await assert.rejects(run(http, null), refused("options", /an object of options; got null/));
  await assert.rejects(run(http, "timing"), refused("options", /an object of options/));
  for (const key of ["onFlowEnd", "onWarning", "onSummary", "onProgress"]) {
    await assert.rejects(run(http, { [key]: 1 }), refused(key, /must be a function; got 1/));
  }
  await assert.rejects(run(http, { reuseRecords: "yes" }), refused("reuseRecords", /true or false/));
  for (const bad of [42, null, new Uint8Array(4), {}, new URL("file:///x.pcap")]) {
    await assert.rejects(
      run(bad, {}),
      refused("source", /a path, a ReadableStream of bytes .* or a ByteReader/),
    );
  }
  // A stream of ArrayBuffer chunks, and a reader that ends with undefined, are read.
  const bytes = await Deno.readFile(http);
  const buffers = new ReadableStream({
    start(c) {
      c.enqueue(bytes.buffer.slice(0));
      c.close();
    },
  }) as unknown as ReadableStream<Uint8Array>;
  assert.equal((await collect(buffers)).records.length, 3);
  let off = 0;
  const reader = {
    read(p: Uint8Array): Promise<number | null> {
      if (off >= bytes.length) return Promise.resolve(undefined as unknown as null);
      const k = Math.min(p.length, bytes.length - off);
      p.set(bytes.subarray(off, off + k));
      off += k;
      return Promise.resolve(k);
    },
  };
  assert.equal((await collect(reader)).records.length, 3);
});

Deno.test("with --filter, packet numbers count the packets it left out: onFlowEnd, onProgress, and where a cut capture ends", async () => {
  // 5 UDP queries (5 flows) and 2 TCP SYNs, the second 100 s later: the others end idle at it, packet 7.
  const file = `${ROOT}/testdata/flow_edge/filter_mix.pcap`;
  const ends = async (options: ExtractOptions) => {
    const at: number[] = [], progress: number[] = [];
    for await (
      const _ of extractFlows(file, {
        ...options,
        features: ["flow_meta"],
        onFlowEnd: (_f, n) => at.push(n),
        onProgress: (_b, n) => progress.push(n),
      })
    );
    return { at, last: progress.at(-1) };
  };
  const all = await ends({});
  assert.deepEqual(all.at, [7, 7, 7, 7, 7, 7, 7]);
  const readers: ExtractOptions["reader"][] = tryLoadLibpcap() !== null
    ? ["builtin", "libpcap"]
    : ["builtin"];
  for (const reader of readers) {
    const tcp = await ends({ filter: "tcp", reader });
    assert.deepEqual(tcp.at, [7, 7], reader);
    assert.equal(tcp.last, 7, reader);
  }
  if (tryLoadLibpcap() !== null) {
    // libpcap's reader names the packet a cut capture ends after: every packet read, not only those kept.
    await withTempDir(async (dir) => {
      await Deno.writeFile(
        `${dir}/cut.pcap`,
        (await Deno.readFile(`${ROOT}/testdata/http.pcap`)).subarray(0, 3000),
      );
      const warnings: string[] = [];
      for await (
        const _ of extractFlows(`${dir}/cut.pcap`, {
          reader: "libpcap",
          filter: "udp",
          onWarning: (m) => warnings.push(m),
        })
      );
      assert.match(warnings.join("\n"), /after packet 27\b/);
    });
  }
});

Deno.test("--anonymize-ips: HTTP hosts and URIs with an empty port, a trailing dot or an IPv6 zone are hashed too (as jj anon)", async () => {
  // Real curl requests to a Python server, with -H "Host: ..." and --request-target (a review's capture).
  const file = `${ROOT}/testdata/http_edge/host_literals.pcap`;
  const plain = (await collect(file, { features: ["http2"] })).records;
  const hashed = (await collect(file, { features: ["http2"], anonymizeIps: true })).records;
  const v4 = anonymizeIp("10.9.9.9"), v6 = anonymizeIp("fe80::1");
  const want = new Map<string, string>([
    ["10.9.9.9:", `${v4}:`],
    ["10.9.9.9.", `${v4}.`],
    ["[fe80::1%25eth0]:80", `[${v6}%25eth0]:80`],
    ["fe80::1%eth0", `${v6}%eth0`],
    ["10.9.9.9:8080", `${v4}:8080`],
    ["http://10.9.9.9.:18080/x", `http://${v4}.:18080/x`],
    ["http://[fe80::1%25eth0]:18080/x", `http://[${v6}%25eth0]:18080/x`],
  ]);
  let seen = 0;
  for (const [i, r] of plain.entries()) {
    for (const column of ["http_host", "http_uri"]) {
      const w = want.get(r[column] as string);
      if (w === undefined) continue;
      assert.equal(hashed[i][column], w, `${column} ${r[column]}`);
      seen++;
    }
  }
  assert.equal(seen, want.size);
});
