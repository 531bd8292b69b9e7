/**
 * Tests for anonymization (lib/anon/): Crypto-PAn against the published test vectors and as fast-check
 * properties, Joy-compatible AES against openssl, keyed hashing, key files, subnets and user names, round trips
 * on real flow records, and capture rewriting checked with tshark's checksum validation.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import fc from "fast-check";
import {
  anonymizeCapture,
  Anonymizer,
  CryptoPan,
  joyKeyFileBytes,
  KeyError,
  loadOrCreateKey,
} from "../lib/anon/mod.ts";
import { formatIp, parseIp } from "../lib/addr.ts";
import { extractFlows } from "../lib/extract.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import { parseCidr } from "../lib/subnets.ts";
import { cap, CAPTURES, hasCommand, HAVE_CAPTURES, HAVE_TSHARK, runCli, type RunResult } from "./helpers.ts";

const HAS_OPENSSL = hasCommand("openssl");

/** `jj ARGS` with `stdin` fed in. */
const run = (args: string[], stdin?: string): Promise<RunResult> => runCli(args, { stdin });

// The sample key of the Crypto-PAn reference distribution, and two more keys whose vectors several
// implementations publish (Yawning Angel's Go cryptopan, noinkling/node-cryptopan).
const KEY1 = new Uint8Array([
  21,
  34,
  23,
  141,
  51,
  164,
  207,
  128,
  19,
  10,
  91,
  22,
  73,
  144,
  125,
  16,
  216,
  152,
  143,
  131,
  121,
  121,
  101,
  39,
  98,
  87,
  76,
  45,
  42,
  132,
  34,
  2,
]);
const KEY2 = new Uint8Array([
  0x80,
  0x09,
  0xab,
  0x3a,
  0x60,
  0x54,
  0x35,
  0xbe,
  0xa0,
  0xc3,
  0x85,
  0xbe,
  0xa1,
  0x84,
  0x85,
  0xd8,
  0xb0,
  0xa1,
  0x10,
  0x3d,
  0x65,
  0x90,
  0xbd,
  0xf4,
  0x8c,
  0x96,
  0x8b,
  0xe5,
  0xde,
  0x53,
  0x83,
  0x6e,
]);
const KEY3 = new Uint8Array(32).map((_, i) => i);

/** From sample_trace_raw.dat / sample_trace_sanitized.dat of the reference implementation, and others. */
const VECTORS: [Uint8Array, string, string][] = [
  ...([
    ["128.11.68.132", "135.242.180.132"],
    ["129.118.74.4", "134.136.186.123"],
    ["130.132.252.244", "133.68.164.234"],
    ["141.223.7.43", "141.167.8.160"],
    ["141.233.145.108", "141.129.237.235"],
    ["152.163.225.39", "151.140.114.167"],
    ["156.29.3.236", "147.225.12.42"],
    ["165.247.96.84", "162.9.99.234"],
    ["166.107.77.190", "160.132.178.185"],
    ["192.102.249.13", "252.138.62.131"],
    ["192.215.32.125", "252.43.47.189"],
    ["192.233.80.103", "252.25.108.8"],
    ["192.41.57.43", "252.222.221.184"],
    ["193.150.244.223", "253.169.52.216"],
    ["195.205.63.100", "255.186.223.5"],
    ["198.200.171.101", "249.199.68.213"],
    ["198.26.132.101", "249.36.123.202"],
    ["198.36.213.5", "249.7.21.132"],
    ["198.51.77.238", "249.18.186.254"],
    ["199.217.79.101", "248.38.184.213"],
    ["202.49.198.20", "245.206.7.234"],
    ["203.12.160.252", "244.248.163.4"],
    ["204.184.162.189", "243.192.77.90"],
    ["204.202.136.230", "243.178.4.198"],
    ["204.29.20.4", "243.33.20.123"],
    ["205.178.38.67", "242.108.198.51"],
    ["205.188.147.153", "242.96.16.101"],
    ["205.188.248.25", "242.96.88.27"],
    ["205.245.121.43", "242.21.121.163"],
    ["207.105.49.5", "241.118.205.138"],
    ["207.135.65.238", "241.202.129.222"],
    ["207.155.9.214", "241.220.250.22"],
    ["207.188.7.45", "241.255.249.220"],
    ["207.25.71.27", "241.33.119.156"],
    ["207.33.151.131", "241.1.233.131"],
    ["208.147.89.59", "227.237.98.191"],
    ["208.234.120.210", "227.154.67.17"],
    ["208.28.185.184", "227.39.94.90"],
    ["208.52.56.122", "227.8.63.165"],
    ["209.12.231.7", "226.243.167.8"],
    ["209.238.72.3", "226.6.119.243"],
    ["209.246.74.109", "226.22.124.76"],
    ["209.68.60.238", "226.184.220.233"],
    ["209.85.249.6", "226.170.70.6"],
    ["212.120.124.31", "228.135.163.231"],
    ["212.146.8.236", "228.19.4.234"],
    ["212.186.227.154", "228.59.98.98"],
    ["212.204.172.118", "228.71.195.169"],
    ["212.206.130.201", "228.69.242.193"],
    ["216.148.237.145", "235.84.194.111"],
    ["216.157.30.252", "235.89.31.26"],
    ["216.184.159.48", "235.96.225.78"],
    ["216.227.10.221", "235.28.253.36"],
    ["216.254.18.172", "235.7.16.162"],
    ["216.32.132.250", "235.192.139.38"],
    ["216.35.217.178", "235.195.157.81"],
    ["24.0.250.221", "100.15.198.226"],
    ["24.13.62.231", "100.2.192.247"],
    ["24.14.213.138", "100.1.42.141"],
    ["24.5.0.80", "100.9.15.210"],
    ["24.7.198.88", "100.10.6.25"],
    ["24.94.26.44", "100.88.228.35"],
    ["38.15.67.68", "64.3.66.187"],
    ["4.3.88.225", "124.60.155.63"],
    ["63.14.55.111", "95.9.215.7"],
    ["63.195.241.44", "95.179.238.44"],
    ["63.97.7.140", "95.97.9.123"],
    ["64.14.118.196", "0.255.183.58"],
    ["64.34.154.117", "0.221.154.117"],
    ["64.39.15.238", "0.219.7.41"],
    ["10.185.25.118", "117.161.29.118"],
    ["127.0.0.1", "33.0.243.129"],
    ["0.0.0.0", "120.255.240.1"],
    ["255.255.255.255", "206.120.97.255"],
    ["::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"],
    ["::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"],
    ["::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"],
    ["2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"],
    ["2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"],
  ] as const).map(([a, b]) => [KEY1, a, b] as [Uint8Array, string, string]),
  ...([
    ["123.123.123.123", "117.8.135.123"],
    ["131.159.1.42", "162.112.255.43"],
    ["8.8.8.8", "55.21.62.136"],
    ["255.8.1.100", "240.232.0.156"],
    ["0.0.0.0", "56.131.176.115"],
    ["255.255.255.255", "240.15.248.0"],
    ["2a02:0db8:85a3:0000:0000:8a2e:0370:7344", "1482:f447:75b3:f1f9:fbdf:622e:34f:ff7b"],
    ["2a02:0db8:85a3:08d3:1319:8a2e:0370:7344", "1482:f447:75b3:f904:c1d9:ba2e:489:1346"],
    ["2001:b8:a3:00:00:2e:70:44", "1f18:b37b:1cc3:8118:41f:9fd1:f875:fab8"],
    ["fc00::", "f33c:8ca3:ef0f:e019:e7ff:f1e3:f91f:f800"],
  ] as const).map(([a, b]) => [KEY2, a, b] as [Uint8Array, string, string]),
  ...([
    ["192.0.2.1", "2.90.93.17"],
    ["10.0.1.128", "246.35.190.47"],
    ["148.88.132.153", "106.38.130.153"],
    ["148.88.133.200", "106.38.131.223"],
    ["2001:db8::1", "dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00"],
  ] as const).map(([a, b]) => [KEY3, a, b] as [Uint8Array, string, string]),
];

function addr(text: string): { b: Uint8Array; v: 4 | 6 } {
  const b = new Uint8Array(16);
  const v = parseIp(text, b);
  if (v === 0) throw new Error(text);
  return { b, v };
}

function commonPrefix(a: Uint8Array, b: Uint8Array, bits: number): number {
  for (let i = 0; i < bits; i++) {
    const x = (a[i >> 3] >> (7 - (i & 7))) & 1, y = (b[i >> 3] >> (7 - (i & 7))) & 1;
    if (x !== y) return i;
  }
  return bits;
}

Deno.test("Crypto-PAn: the published test vectors (IPv4 reference trace, IPv6, three keys), and their inverse", () => {
  for (const [key, from, to] of VECTORS) {
    const cp = new CryptoPan(key);
    const { b, v } = addr(from);
    cp.anonymize(b, 0, v);
    assert.equal(formatIp(b, 0, v), formatIp(addr(to).b, 0, v), `${from}`);
    cp.deanonymize(b, 0, v);
    assert.equal(formatIp(b, 0, v), formatIp(addr(from).b, 0, v));
  }
  assert.throws(() => new CryptoPan(new Uint8Array(16)), /32-byte key/);
});

const arbKey = fc.uint8Array({ minLength: 32, maxLength: 32 });
const arbAddr = (v: 4 | 6) => fc.uint8Array({ minLength: v === 4 ? 4 : 16, maxLength: v === 4 ? 4 : 16 });

Deno.test("Crypto-PAn properties (fast-check): prefix preservation, one-to-one, fixed by the key", () => {
  for (const v of [4, 6] as const) {
    const bits = v === 4 ? 32 : 128;
    // Prefix preservation: a shared k-bit prefix (and exactly k bits) survives.
    fc.assert(
      fc.property(arbKey, arbAddr(v), arbAddr(v), fc.integer({ min: 0, max: bits }), (key, a, b0, k) => {
        // Make b share exactly k bits with a: copy the first k bits, flip bit k.
        const b = new Uint8Array(b0);
        for (let i = 0; i < k; i++) {
          const m = 1 << (7 - (i & 7));
          b[i >> 3] = (b[i >> 3] & ~m) | (a[i >> 3] & m);
        }
        if (k < bits) {
          const m = 1 << (7 - (k & 7));
          b[k >> 3] = (b[k >> 3] & ~m) | (~a[k >> 3] & m);
        }
        const cp = new CryptoPan(key);
        const x = new Uint8Array(a), y = new Uint8Array(b);
        cp.anonymize(x, 0, v);
        cp.anonymize(y, 0, v);
        assert.equal(commonPrefix(a, b, bits), k);
        assert.equal(commonPrefix(x, y, bits), k);
      }),
      { numRuns: v === 4 ? 300 : 120 },
    );
    // One-to-one: the inverse recovers every address, so distinct inputs give distinct outputs.
    fc.assert(
      fc.property(arbKey, arbAddr(v), arbAddr(v), (key, a, b) => {
        const cp = new CryptoPan(key);
        const x = new Uint8Array(a), y = new Uint8Array(b);
        cp.anonymize(x, 0, v);
        cp.anonymize(y, 0, v);
        assert.equal(x.every((e, i) => e === y[i]), a.every((e, i) => e === b[i]));
        cp.deanonymize(x, 0, v);
        assert.deepEqual(x, a);
      }),
      { numRuns: v === 4 ? 300 : 100 },
    );
    // Fixed by the key: two instances with the same key agree; another key gives another mapping.
    fc.assert(
      fc.property(arbKey, arbKey, fc.array(arbAddr(v), { minLength: 4, maxLength: 8 }), (k1, k2, addrs) => {
        const p = new CryptoPan(k1), q = new CryptoPan(new Uint8Array(k1)), r = new CryptoPan(k2);
        let differs = false;
        for (const a of addrs) {
          const x = new Uint8Array(a), y = new Uint8Array(a), z = new Uint8Array(a);
          p.anonymize(x, 0, v);
          q.anonymize(y, 0, v);
          r.anonymize(z, 0, v);
          assert.deepEqual(x, y);
          if (!x.every((e, i) => e === z[i])) differs = true;
        }
        if (!k1.every((e, i) => e === k2[i])) assert.ok(differs);
      }),
      { numRuns: 100 },
    );
  }
});

Deno.test("joy mode: AES-128-ECB of the address block as Joy's anon.c, as openssl computes it; Joy key files", async () => {
  const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  const a = new Anonymizer(key, { mode: "joy" });
  const expected = (ip: string) => {
    const { b } = addr(ip);
    const c = createCipheriv("aes-128-ecb", key.subarray(0, 16), null);
    c.setAutoPadding(false);
    return Buffer.from(c.update(b)).toString("hex");
  };
  for (const ip of ["64.104.192.129", "10.0.0.1", "2001:db8::1"]) {
    const got = a.ip(ip);
    assert.match(got, /^[0-9a-f]{32}$/);
    assert.equal(got, expected(ip));
  }
  if (HAS_OPENSSL) {
    // Independently: openssl enc on the 16-byte block (IPv4 address, then 12 zero bytes).
    const block = new Uint8Array(16);
    block.set([64, 104, 192, 129]);
    const p = new Deno.Command("openssl", {
      args: ["enc", "-aes-128-ecb", "-nopad", "-K", Buffer.from(key.subarray(0, 16)).toString("hex")],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const w = p.stdin.getWriter();
    await w.write(block);
    await w.close();
    const out = await p.output();
    assert.equal(Buffer.from(out.stdout).toString("hex"), a.ip("64.104.192.129"));
  }
  // A Joy key file (pcap2flow.bin: the key encrypted under Joy's built-in key) gives the same results.
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/pcap2flow.bin`, joyKeyFileBytes(key));
  const k = await loadOrCreateKey(`${dir}/pcap2flow.bin`);
  assert.equal(k.joyKeyFile, true);
  assert.deepEqual(k.bytes, key.subarray(0, 16));
  assert.equal(new Anonymizer(k.bytes, { mode: "joy" }).ip("64.104.192.129"), a.ip("64.104.192.129"));
  assert.throws(() => new Anonymizer(k.bytes, { mode: "cryptopan" }), KeyError);
  // Reverse.
  const back = new Anonymizer(key, { mode: "joy", reverse: true });
  for (const ip of ["64.104.192.129", "10.0.0.1", "2001:db8::1", "fe80::1:2:3:4"]) {
    assert.equal(back.ip(a.ip(ip)), ip);
  }
  assert.equal(back.ip("not-an-address"), "not-an-address");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("hash mode: keyed, one-way, same family; --reverse refused", () => {
  const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(32).fill(2);
  const a = new Anonymizer(k1, { mode: "hash" }), b = new Anonymizer(k2, { mode: "hash" });
  const x = a.ip("192.0.2.1");
  assert.equal(x, new Anonymizer(k1, { mode: "hash" }).ip("192.0.2.1"));
  assert.notEqual(x, b.ip("192.0.2.1"));
  assert.notEqual(x, "192.0.2.1");
  assert.equal(parseIp(x, new Uint8Array(16)), 4);
  assert.equal(parseIp(a.ip("2001:db8::1"), new Uint8Array(16)), 6);
  // Not prefix-preserving: neighbours scatter.
  assert.ok(commonPrefix(addr(a.ip("192.0.2.1")).b, addr(a.ip("192.0.2.2")).b, 32) < 30);
  assert.throws(() => new Anonymizer(k1, { mode: "hash", reverse: true }), /one-way/);
});

Deno.test("key files: created 0600 with a random key, reused, wrong or unreadable keys are errors", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/site.key`;
  const k = await loadOrCreateKey(path);
  assert.equal(k.created, true);
  assert.equal(k.bytes.length, 32);
  assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const again = await loadOrCreateKey(path);
  assert.equal(again.created, false);
  assert.deepEqual(again.bytes, k.bytes);
  const other = await loadOrCreateKey(`${dir}/other.key`);
  assert.notDeepEqual(other.bytes, k.bytes);
  await Deno.writeTextFile(`${dir}/bad.key`, "this is not a key\n");
  await assert.rejects(loadOrCreateKey(`${dir}/bad.key`), KeyError);
  await assert.rejects(loadOrCreateKey(dir), /cannot read key file/);
  await assert.rejects(loadOrCreateKey(`${dir}/no/such/dir/k.key`), /cannot create key file/);
  // Through the CLI: exit 1 and a clear message; a reverse without the key file is refused, not created.
  const r1 = await run(["anon", "--key", `${dir}/bad.key`], "");
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /bad\.key is not a key/);
  const r2 = await run(["anon", "--reverse", "--key", `${dir}/missing.key`], "");
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /does not exist; --reverse needs the key/);
  assert.equal(await Deno.stat(`${dir}/missing.key`).catch(() => null), null);
  const r3 = await run(["anon", "--key", dir], "");
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /cannot read key file/);
  const r4 = await run(["anon", "--mode", "rot13", "--key", path], "");
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /--mode/);
  const r5 = await run(["anon", "--mode", "hash", "--reverse", "--key", path], "");
  assert.equal(r5.code, 2);
  assert.match(r5.stderr, /one-way/);
  const r6 = await run(["anon", "--key", path, "--subnets", `${dir}/none.txt`], "");
  assert.equal(r6.code, 2);
  assert.match(r6.stderr, /--subnets .*none\.txt/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("subnets and user names: only listed networks change; users in fields and URIs; reverse", () => {
  const key = new Uint8Array(32).fill(9);
  const subnets = [parseCidr("10.0.0.0/8")!, parseCidr("2001:db8::/32")!];
  const rec = (): FlowRecord => ({
    src_ip: "10.1.2.3",
    dst_ip: "8.8.8.8",
    tunnel_src_ip: "2001:db8::5",
    tunnel_dst_ip: null,
    dns_answers: ["10.9.9.9", "example.com", "8.8.4.4"],
    http_user: "alice",
    usernames: ["alice", "carol"],
    http_uri: "/home/alice/index.html?u=alice&x=malice",
    total_packets: 3,
  });
  for (const mode of ["cryptopan", "joy"] as const) {
    const a = new Anonymizer(key, { mode, subnets, users: ["alice", "bob"] });
    const out = a.record(rec());
    assert.notEqual(out.src_ip, "10.1.2.3");
    assert.equal(out.dst_ip, "8.8.8.8");
    assert.notEqual(out.tunnel_src_ip, "2001:db8::5");
    assert.equal(out.tunnel_dst_ip, null);
    const answers = out.dns_answers as string[];
    assert.notEqual(answers[0], "10.9.9.9");
    assert.deepEqual(answers.slice(1), ["example.com", "8.8.4.4"]);
    if (mode === "cryptopan") {
      assert.ok((out.src_ip as string).split(".").length === 4);
      // Prefix preserved: 10.1.2.3 and 10.9.9.9 share 12 bits.
      assert.equal(commonPrefix(addr(out.src_ip as string).b, addr(answers[0]).b, 32), 12);
    }
    assert.match(out.http_user as string, /^[0-9a-f]{32}$/);
    assert.equal((out.usernames as string[])[1], "carol");
    assert.equal(out.http_uri, "/home/*****/index.html?u=*****&x=malice");
    assert.equal(out.total_packets, 3);
    const back = new Anonymizer(key, { mode, subnets, reverse: true }).record(structuredClone(out));
    const want = rec();
    want.http_uri = out.http_uri; // masked names cannot come back
    assert.deepEqual(back, want);
  }
  const h = new Anonymizer(key, { mode: "hash", users: ["alice"] }).record(rec());
  assert.match(h.http_user as string, /^[0-9a-f]{32}$/);
  assert.notEqual(h.dst_ip, "8.8.8.8");
});

async function corpusRecords(names: string[]): Promise<FlowRecord[]> {
  const out: FlowRecord[] = [];
  for await (const r of extractFlows(names.map(cap))) out.push(r);
  return out;
}

const ADDRESS_KEYS = ["src_ip", "dst_ip", "tunnel_src_ip", "tunnel_dst_ip"];

Deno.test({
  name: "anon → anon --reverse on real flow records (every capture; joy and cryptopan) gives the input back",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const names = [...Deno.readDirSync(CAPTURES)].map((e) => e.name).filter((n) =>
      /\.(pcap|pcapng|cap)$/.test(n)
    )
      .sort();
    const records = await corpusRecords(names);
    assert.ok(records.length > 500);
    const key = new Uint8Array(32).map((_, i) => 255 - i);
    for (const mode of ["cryptopan", "joy"] as const) {
      const fwd = new Anonymizer(key, { mode });
      const rev = new Anonymizer(key, { mode, reverse: true });
      let addresses = 0;
      for (const rec of records) {
        const r = structuredClone(rec);
        const a = fwd.record(structuredClone(r));
        for (const k of ADDRESS_KEYS) {
          if (typeof r[k] === "string") {
            addresses++;
            assert.notEqual(a[k], r[k], `${mode} ${k} ${r[k]}`);
            if (mode === "joy") assert.match(a[k] as string, /^[0-9a-f]{32}$/);
          }
        }
        if (Array.isArray(r.dns_answers)) {
          for (const [i, x] of (r.dns_answers as string[]).entries()) {
            if (parseIp(x, new Uint8Array(16)) !== 0) assert.notEqual((a.dns_answers as string[])[i], x);
          }
        }
        assert.deepEqual(rev.record(a), r);
      }
      assert.ok(addresses > 1000);
    }
  },
});

/** Per-frame checksum verdicts of tshark (ip, tcp, udp, icmp, icmpv6), and the addresses it reads. */
async function tsharkVerdicts(path: string): Promise<{ status: string[]; addrs: string[] }> {
  const out = await new Deno.Command("tshark", {
    args: [
      "-r",
      path,
      "-o",
      "tcp.check_checksum:TRUE",
      "-o",
      "udp.check_checksum:TRUE",
      "-o",
      "ip.check_checksum:TRUE",
      "-o",
      "icmp.check_checksum:TRUE",
      "-T",
      "fields",
      "-e",
      "ip.checksum.status",
      "-e",
      "tcp.checksum.status",
      "-e",
      "udp.checksum.status",
      "-e",
      "icmp.checksum.status",
      "-e",
      "icmpv6.checksum.status",
      "-e",
      "ip.src",
      "-e",
      "ipv6.src",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  const lines = new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.length > 0);
  return {
    status: lines.map((l) => l.split("\t").slice(0, 5).join("\t")),
    addrs: lines.map((l) => l.split("\t").slice(5).join("\t")),
  };
}

/** Frames with a bad checksum (status 2) anywhere, as tshark's -Y filter would find them. */
const bad = (status: string[]) => status.flatMap((s, i) => s.split(/[\t,]/).includes("2") ? [i + 1] : []);

const PCAP_CASES = [
  "tls12.pcap", // Ethernet, IPv4, TCP
  "http_ipv6.pcap", // IPv6, TCP
  "ipv6.pcapng", // pcapng, IPv6
  "dns.pcap", // UDP
  "dns_fragmented.pcap", // IPv4 fragments (UDP checksum over the reassembled datagram)
  "gre-erspan-vxlan.pcap", // three IP layers: GRE, ERSPAN, VXLAN
  "teredo.pcap", // IPv6 in UDP
  "4in6tunnel.pcap", // IPv4 in IPv6
  "malformed_icmp.pcap", // ICMP
  "dhcpv6.pcap", // ICMPv6-free IPv6 UDP, link-local
  "tcp_scan.pcapng", // pcapng, many flows
  "dlt_ppp.pcap", // PPP link type
  "sctp.cap", // SCTP (CRC32c, unchanged)
];

Deno.test({
  name:
    "anon --pcap: addresses rewritten, no checksum that was good turns bad (tshark), reverse is byte-exact",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const key = new Uint8Array(32).map((_, i) => (i * 7) & 0xff);
    let totalChanged = 0;
    for (const name of PCAP_CASES) {
      const src = cap(name);
      const anon = `${dir}/anon_${name}`, back = `${dir}/back_${name}`;
      for (const [from, to, reverse] of [[src, anon, false], [anon, back, true]] as const) {
        const input = await Deno.open(from);
        const output = await Deno.open(to, { write: true, create: true, truncate: true });
        const r = await anonymizeCapture(input, output.writable, new Anonymizer(key, { reverse }));
        input.close();
        assert.equal(r.warning, null, `${name}: ${r.warning}`);
        if (!reverse) totalChanged += r.addresses;
      }
      const orig = await Deno.readFile(src);
      assert.notDeepEqual(await Deno.readFile(anon), orig, name);
      assert.deepEqual(await Deno.readFile(back), orig, `${name}: reverse is not byte-exact`);
      if (HAVE_TSHARK) {
        const before = await tsharkVerdicts(src), after = await tsharkVerdicts(anon);
        assert.equal(after.status.length, before.status.length, name);
        const newlyBad = bad(after.status).filter((f) => !bad(before.status).includes(f));
        assert.deepEqual(newlyBad, [], `${name}: frames whose checksums turned bad`);
        // Verdicts are the same frame for frame (good stays good, unverified stays unverified).
        assert.deepEqual(after.status, before.status, name);
        const changed = before.addrs.filter((a, i) => a !== "" && a !== after.addrs[i]).length;
        assert.equal(
          changed,
          before.addrs.filter((a) => a !== "").length,
          `${name}: some addresses unchanged`,
        );
      }
    }
    assert.ok(totalChanged > 500, `${totalChanged} addresses changed`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "anon --pcap and anon of flow records agree: extract(anon(capture)) = anon(extract(capture))",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const keyPath = `${dir}/k.key`;
    for (const name of ["gre-erspan-vxlan.pcap", "tls12.pcap", "ipv6.pcapng", "teredo.pcap"]) {
      const r = await run([
        "anon",
        "-q",
        "--key",
        keyPath,
        "--pcap",
        cap(name),
        "-o",
        `${dir}/a_${name}`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const viaPcap = await corpusRecordsAt(`${dir}/a_${name}`);
      const key = (await loadOrCreateKey(keyPath)).bytes;
      const a = new Anonymizer(key);
      const viaRecords = (await corpusRecords([name])).map((x) => a.record(x));
      const pick = (x: FlowRecord) =>
        JSON.stringify([
          x.src_ip,
          x.dst_ip,
          x.src_port,
          x.dst_port,
          x.total_packets,
          x.tunnel_src_ip,
          x.tunnel_dst_ip,
        ]);
      assert.deepEqual(viaPcap.map(pick).sort(), viaRecords.map(pick).sort(), name);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

async function corpusRecordsAt(path: string): Promise<FlowRecord[]> {
  const out: FlowRecord[] = [];
  for await (const r of extractFlows(path)) out.push(r);
  return out;
}

Deno.test("anon --pcap: joy mode and non-captures are refused clearly", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/x.txt`, "hello, not a capture\n");
  const r1 = await run([
    "anon",
    "--mode",
    "joy",
    "--key",
    `${dir}/k`,
    "--pcap",
    `${dir}/x.txt`,
    "-o",
    `${dir}/o`,
  ]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /--mode joy/);
  const r2 = await run(["anon", "--key", `${dir}/k`, "--pcap", `${dir}/x.txt`, "-o", `${dir}/o`]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /not a pcap or pcapng capture/);
  const r3 = await run(["anon", "--key", `${dir}/k`, "--pcap", `${dir}/nope.pcap`, "-o", `${dir}/o`]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /nope\.pcap/);
  await Deno.remove(dir, { recursive: true });
});
