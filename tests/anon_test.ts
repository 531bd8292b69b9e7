/**
 * Tests for anonymization (lib/anon/): Crypto-PAn against the published test vectors and as fast-check
 * properties, Joy-compatible AES against openssl, keyed hashing, key files, subnets and user names, round trips
 * on real flow records, and capture rewriting checked with tshark's checksum validation.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv } from "node:crypto";
import { gzipSync } from "node:zlib";
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
import { flowId } from "../lib/options.ts";
import { PacketDecoder, SkipReason } from "../lib/decode.ts";
import {
  cap,
  CAPTURES,
  chunkedReader,
  concat,
  ethernet,
  hasCommand,
  HAVE_CAPTURES,
  HAVE_TSHARK,
  hex,
  ipBytes,
  ipv4,
  ipv6,
  pcapFile,
  pcapngBlocks,
  pcapRecords,
  ROOT,
  runCli,
  type RunResult,
  tcp,
  toHex,
  udp,
} from "./helpers.ts";

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
      "udplite.check_checksum:TRUE",
      // ICMP and ICMPv6 checksums are always checked; an "icmp.check_checksum" preference does not exist, and
      // tshark refuses unknown preferences (it printed nothing, and the comparisons below passed vacuously).
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
  assert.ok(lines.length > 0, `tshark read nothing from ${path}`);
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
        // Frames without IP (ARP) have only the tab between the two empty fields.
        const changed = before.addrs.filter((a, i) => a.trim() !== "" && a !== after.addrs[i]).length;
        assert.equal(
          changed,
          before.addrs.filter((a) => a.trim() !== "").length,
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

Deno.test("anon --pcap reads tunnels as extract does: ERSPAN type I and a cut Teredo frame have their inner addresses changed", async () => {
  const dir = await Deno.makeTempDir();
  const keyPath = `${dir}/k.key`;
  const pick = (x: FlowRecord) =>
    JSON.stringify([x.src_ip, x.dst_ip, x.src_port, x.dst_port, x.total_packets]);
  for (const name of ["erspan1.pcap", "teredo_snap.pcap", "vxlan_arp.pcap", "pptp.pcap", "udp4789.pcap"]) {
    const path = `${ROOT}/testdata/tunnel_edge/${name}`;
    const r = await run(["anon", "-q", "--key", keyPath, "--pcap", path, "-o", `${dir}/a_${name}`]);
    assert.equal(r.code, 0, r.stderr);
    const a = new Anonymizer((await loadOrCreateKey(keyPath)).bytes);
    const viaRecords = (await corpusRecordsAt(path)).map((x) => a.record(x));
    assert.deepEqual(
      (await corpusRecordsAt(`${dir}/a_${name}`)).map(pick).sort(),
      viaRecords.map(pick).sort(),
      name,
    );
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("anon --pcap: a Teredo frame whose UDP length is 0 is decapsulated by the IP length, as extract does", async () => {
  const dir = await Deno.makeTempDir();
  const inner = ipv6("2001:db8::ccc", "2001:db8::bbb", 17, udp(5000, 6000, new Uint8Array(12)));
  const dgram = udp(3544, 40000, inner);
  dgram[4] = dgram[5] = 0; // UDP length 0 (as after segmentation offload): the IP length still holds
  const path = `${dir}/t.pcap`;
  await Deno.writeFile(
    path,
    pcapFile(1, [{ ts: 1, data: ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, dgram)) }]),
  );
  const [plain] = await corpusRecordsAt(path);
  assert.equal(plain.src_ip, "2001:db8::ccc", "extract decapsulates it");
  const r = await run(["anon", "-q", "--key", `${dir}/k`, "--pcap", path, "-o", `${dir}/a.pcap`]);
  assert.equal(r.code, 0, r.stderr);
  const [anon] = await corpusRecordsAt(`${dir}/a.pcap`);
  assert.notEqual(anon.src_ip, "2001:db8::ccc");
  assert.notEqual(anon.dst_ip, "2001:db8::bbb");
  await Deno.remove(dir, { recursive: true });
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
  // An empty input is named as extract names it.
  await Deno.writeFile(`${dir}/empty.pcap`, new Uint8Array(0));
  const r4 = await run(["anon", "--key", `${dir}/k`, "--pcap", `${dir}/empty.pcap`, "-o", `${dir}/o`]);
  assert.equal(r4.code, 1);
  assert.match(r4.stderr, /empty\.pcap: empty input: not a pcap or pcapng capture/);
  await Deno.remove(dir, { recursive: true });
});

// ---- Crafted packets: every place an address hides, checked against checksums recomputed from scratch ----

/** One's complement sum of `b[from, to)` as 16-bit words, added to `s` (not folded). */
function sum16(b: Uint8Array, from: number, to: number, s = 0): number {
  for (let i = from; i < to; i += 2) s += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** Sets the checksum at `at` over `b[from, to)` plus `pseudo`. */
function setChecksum(b: Uint8Array, at: number, from: number, to: number, pseudo = 0): void {
  b[at] = b[at + 1] = 0;
  const c = ~fold(sum16(b, from, to, pseudo)) & 0xffff;
  b[at] = c >> 8;
  b[at + 1] = c & 0xff;
}

/** True when `b[from, to)` plus `pseudo` checks out (sums to 0xffff). */
const checksumOk = (b: Uint8Array, from: number, to: number, pseudo = 0) =>
  fold(sum16(b, from, to, pseudo)) === 0xffff;

/** A transport pseudo-header's sum: source and destination (4 or 16 bytes at the offsets), protocol, length. */
const pseudo = (b: Uint8Array, src: number, dst: number, n: number, proto: number, len: number) =>
  sum16(b, src, src + n) + sum16(b, dst, dst + n) + proto + len;

/** An IPv4 header with `options` (padded to 4 bytes) and a right header checksum, then `payload`. */
function ipv4Opts(
  src: string,
  dst: string,
  proto: number,
  options: number[],
  payload: Uint8Array,
): Uint8Array {
  const opts = concat(options, new Array((4 - options.length % 4) % 4).fill(0));
  const hl = 20 + opts.length;
  const h = concat(
    [
      0x40 | (hl / 4),
      0,
      (hl + payload.length) >> 8,
      (hl + payload.length) & 0xff,
      0,
      1,
      0,
      0,
      64,
      proto,
      0,
      0,
    ],
    ipBytes(src),
    ipBytes(dst),
    opts,
  );
  setChecksum(h, 10, 0, hl);
  return concat(h, payload);
}

/** A capture anonymized in memory. */
/** Whether two byte arrays are equal (cheaply, for large ones). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A pcapng capture without its blocks of type `type`. */
function withoutBlocks(bytes: Uint8Array, type: number): Uint8Array {
  return concat(
    ...pcapngBlocks(bytes).filter((b) => b.type !== type).map((b) =>
      bytes.subarray(b.offset, b.offset + b.length)
    ),
  );
}

async function anonBytes(
  bytes: Uint8Array,
  a: Anonymizer,
  readSizes: number[] = [bytes.length],
): Promise<{ out: Uint8Array; r: Awaited<ReturnType<typeof anonymizeCapture>> }> {
  const reader = chunkedReader(bytes, readSizes);
  const chunks: Uint8Array[] = [];
  const w = new WritableStream<Uint8Array>({
    write(c) {
      chunks.push(c.slice());
    },
  });
  const r = await anonymizeCapture(reader, w, a);
  return { out: concat(...chunks), r };
}

/** The frames of a classic pcap file (the bytes of each record, in place). */
function frames(pcap: Uint8Array): Uint8Array[] {
  const dv = new DataView(pcap.buffer, pcap.byteOffset);
  const out: Uint8Array[] = [];
  for (let o = 24; o + 16 <= pcap.length;) {
    const n = dv.getUint32(o + 8, true);
    out.push(pcap.subarray(o + 16, o + 16 + n));
    o += 16 + n;
  }
  return out;
}

/** The anonymized text of an address, by a separate anonymizer with the same key. */
const anonOf = (ip: string) => new Anonymizer(KEY1).ip(ip);
const v4At = (b: Uint8Array, o: number) => formatIp(b, o, 4);
const v6At = (b: Uint8Array, o: number) => formatIp(b, o, 6);

Deno.test("PacketView.reset clears l4Off: a decode stopping in IPv6 extension headers keeps no stale offset", () => {
  const d = new PacketDecoder();
  const t = ethernet(ipv4("10.0.0.5", "10.0.0.6", 6, tcp(1000, 80, 2)));
  assert.equal(d.decode(0, t, 0, t.length, t.length, 1), SkipReason.NONE);
  assert.equal(d.packet.l4Off, 34);
  // Hop-by-hop header announcing 16 bytes, of which 8 were captured.
  const hbh = [6, 1, 1, 4, 0, 0, 0, 0];
  const v6 = ipv6("2001:db8::5", "2001:db8::6", 0, concat(hbh, new Array(8).fill(0), tcp(1, 2, 2)));
  const cut = v6.subarray(0, 48);
  assert.equal(d.decode(0, cut, 0, cut.length, v6.length, 101), SkipReason.TRUNCATED);
  assert.equal(d.packet.proto, 6);
  assert.equal(d.packet.l4Off, -1);
});

Deno.test("anon --pcap: a truncated inner IPv6 header gets its addresses anonymized, not a checksum written into them", async () => {
  const hbh = [6, 1, 1, 4, 0, 0, 0, 0, 1, 6, 0, 0, 0, 0, 0, 0];
  const t = tcp(1000, 80, 2);
  const inner = ipv6("2001:db8::5", "2001:db8::6", 0, concat(hbh, t));
  setChecksum(inner, 40 + 16 + 16, 40 + 16, inner.length, pseudo(inner, 8, 24, 16, 6, t.length));
  const frame = ethernet(ipv4("10.0.0.5", "10.0.0.6", 41, inner));
  const cut = frame.subarray(0, 14 + 20 + 40 + 8);
  const { out } = await anonBytes(
    pcapFile(1, [{ ts: 1, data: cut, wireLen: frame.length }]),
    new Anonymizer(KEY1),
  );
  const f = frames(out)[0];
  assert.equal(f.length, cut.length);
  assert.equal(v4At(f, 26), anonOf("10.0.0.5"));
  assert.equal(v6At(f, 34 + 8), anonOf("2001:db8::5"));
  assert.equal(v6At(f, 34 + 24), anonOf("2001:db8::6"));
  assert.ok(checksumOk(f, 14, 34));
  // Nothing but the addresses and the outer header checksum changed.
  const changedAt = [...f].flatMap((x, i) => x !== cut[i] ? [i] : []);
  assert.ok(changedAt.every((i) => (i >= 24 && i < 34) || (i >= 42 && i < 74)), `${changedAt}`);
});

Deno.test("anon --pcap: ARP on Linux cooked captures (SLL and SLL2) is anonymized as on Ethernet", async () => {
  const mac = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
  const arp = concat(
    [0, 1, 8, 0, 6, 4, 0, 1],
    mac,
    ipBytes("10.0.0.5"),
    new Array(6).fill(0),
    ipBytes("10.0.0.1"),
  );
  const sll = concat([0, 0, 0, 1, 0, 6], mac, [0, 0], [8, 6], arp);
  const sll2 = concat([8, 6, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6], mac, [0, 0], arp);
  for (
    const [link, frame, at] of [[113, sll, 16], [276, sll2, 20], [
      1,
      ethernet(arp, { type: 0x0806 }),
      14,
    ]] as const
  ) {
    const { out, r } = await anonBytes(pcapFile(link, [{ ts: 1, data: frame }]), new Anonymizer(KEY1));
    const f = frames(out)[0];
    assert.equal(r.addresses, 2, `link ${link}`);
    assert.equal(v4At(f, at + 14), anonOf("10.0.0.5"), `link ${link}`);
    assert.equal(v4At(f, at + 24), anonOf("10.0.0.1"), `link ${link}`);
  }
});

/** The crafted IPv4/IPv6 frames below, each with right checksums. */
function craftedFrames(): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  // Teredo with an origin indication: obfuscated port and client address (XOR 0xff...).
  {
    const inner = ipv6("2001:0:c000:201::1", "2001:db8::2", 59, new Uint8Array(0));
    const origin = concat(
      [0, 0, 40000 >> 8 ^ 0xff, (40000 & 0xff) ^ 0xff],
      ipBytes("10.1.2.3").map((x) => x ^ 0xff),
    );
    const u = udp(3544, 40000, concat(origin, inner));
    const ip = ipv4("192.0.2.1", "10.1.2.3", 17, u);
    setChecksum(ip, 26, 20, ip.length, pseudo(ip, 12, 16, 4, 17, u.length));
    out.teredo = ethernet(ip);
  }
  // ICMP redirect: the gateway in bytes 4-7, then the quoted datagram.
  {
    const quoted = ipv4("10.0.0.5", "8.8.8.8", 17, udp(1234, 53, new TextEncoder().encode("abcdefgh")))
      .subarray(0, 28);
    const icmp = concat([5, 1, 0, 0], ipBytes("10.0.0.254"), quoted);
    setChecksum(icmp, 2, 0, icmp.length);
    out.redirect = ethernet(ipv4("10.0.0.1", "10.0.0.5", 1, icmp));
  }
  // IPv4 record route, two of three slots filled (pointer 12); the empty one stays 0.0.0.0.
  {
    const u = udp(1, 2, new Uint8Array([1, 2, 3]));
    const ip = ipv4Opts("10.0.0.5", "10.0.0.6", 17, [
      7,
      15,
      12,
      ...ipBytes("10.0.0.77"),
      ...ipBytes("10.0.0.78"),
      0,
      0,
      0,
      0,
    ], u);
    setChecksum(ip, 36 + 6, 36, ip.length, pseudo(ip, 12, 16, 4, 17, u.length));
    out.rr = ethernet(ip);
  }
  // Loose source route not yet followed: the UDP pseudo-header has the final destination, 10.0.0.9.
  {
    const u = udp(1, 2, new Uint8Array([1, 2, 3, 4]));
    const ip = ipv4Opts("10.0.0.5", "10.0.0.1", 17, [
      131,
      11,
      4,
      ...ipBytes("10.0.0.2"),
      ...ipBytes("10.0.0.9"),
    ], u);
    setChecksum(ip, 32 + 6, 32, ip.length, pseudo(ip, 12, 20 + 7, 4, 17, u.length));
    out.lsrr = ethernet(ip);
  }
  // Timestamp with addresses (flag 1), one of two pairs filled.
  {
    const u = udp(1, 2, new Uint8Array([9]));
    const ts = [68, 20, 13, 1, ...ipBytes("10.0.0.33"), 0, 0, 4, 210, 0, 0, 0, 0, 0, 0, 0, 0];
    const ip = ipv4Opts("10.0.0.5", "10.0.0.6", 17, ts, u);
    setChecksum(ip, 40 + 6, 40, ip.length, pseudo(ip, 12, 16, 4, 17, u.length));
    out.timestamp = ethernet(ip);
  }
  // IPv6 segment routing header (type 4), segments left 1: the final destination is segment 0.
  {
    const t = tcp(1000, 80, 2);
    const srh = concat([6, 4, 4, 1, 1, 0, 0, 0], ipBytes("2001:db8::99"), ipBytes("2001:db8::6"));
    const ip = ipv6("2001:db8::5", "2001:db8::6", 43, concat(srh, t));
    setChecksum(ip, 80 + 16, 80, ip.length, pseudo(ip, 8, 48, 16, 6, t.length));
    out.srh = ethernet(ip);
  }
  // IPv6 routing header type 0, segments left 1: the final destination is the last address.
  {
    const u = udp(5, 6, new Uint8Array([1, 2, 3, 4]));
    const rh0 = concat([17, 4, 0, 1, 0, 0, 0, 0], ipBytes("2001:db8::6"), ipBytes("2001:db8::77"));
    const ip = ipv6("2001:db8::5", "2001:db8::6", 43, concat(rh0, u));
    setChecksum(ip, 80 + 6, 80, ip.length, pseudo(ip, 8, 64, 16, 17, u.length));
    out.rh0 = ethernet(ip);
  }
  // GRE with a checksum (C flag) over an inner IPv4/UDP packet.
  {
    const u = udp(1111, 2222, new TextEncoder().encode("hello"));
    const inner = ipv4("192.168.1.5", "192.168.1.6", 17, u);
    setChecksum(inner, 26, 20, inner.length, pseudo(inner, 12, 16, 4, 17, u.length));
    const gre = concat([0x80, 0, 8, 0, 0, 0, 0, 0], inner);
    setChecksum(gre, 4, 0, gre.length);
    out.gre = ethernet(ipv4("10.0.0.5", "10.0.0.6", 47, gre));
  }
  // Router advertisement: a prefix information option and a recursive DNS server option.
  {
    const prefix = concat([3, 4, 64, 0xc0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0], ipBytes("2001:db8:1:2::"));
    const rdnss = concat([25, 3, 0, 0, 0, 0, 0, 60], ipBytes("2001:db8::53"));
    const icmp = concat([134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], prefix, rdnss);
    const ip = ipv6("fe80::1", "ff02::1", 58, icmp);
    setChecksum(ip, 42, 40, ip.length, pseudo(ip, 8, 24, 16, 58, icmp.length));
    out.ra = ethernet(ip);
  }
  // ICMPv6 redirect with a redirected header option quoting the packet that caused it.
  {
    const quoted = ipv6("2001:db8::10", "2001:db8::20", 17, udp(1, 2, new Uint8Array(0)));
    const option = concat([4, (8 + quoted.length) / 8, 0, 0, 0, 0, 0, 0], quoted);
    const icmp = concat([137, 0, 0, 0, 0, 0, 0, 0], ipBytes("fe80::2"), ipBytes("2001:db8::20"), option);
    const ip = ipv6("fe80::1", "2001:db8::10", 58, icmp);
    setChecksum(ip, 42, 40, ip.length, pseudo(ip, 8, 24, 16, 58, icmp.length));
    out.redirect6 = ethernet(ip);
  }
  // UDP-Lite (checksum over the whole packet) and DCCP: pseudo-header checksums too.
  {
    const lite = concat([0x03, 0xe8, 0x07, 0xd0, 0, 0, 0, 0], new Uint8Array([1, 2, 3, 4]));
    const ip = ipv4("10.0.0.5", "10.0.0.6", 136, lite);
    setChecksum(ip, 26, 20, ip.length, pseudo(ip, 12, 16, 4, 136, lite.length));
    out.udplite = ethernet(ip);
    const dccp = new Uint8Array([0x03, 0xe8, 0x07, 0xd0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const ip2 = ipv4("10.0.0.5", "10.0.0.6", 33, dccp);
    setChecksum(ip2, 26, 20, ip2.length, pseudo(ip2, 12, 16, 4, 33, dccp.length));
    out.dccp = ethernet(ip2);
  }
  return out;
}

/** The crafted frames in one capture, anonymized with KEY1 (once, shared by the tests below). */
let craftedRun: Promise<{ input: Uint8Array; out: Uint8Array; got: Record<string, Uint8Array> }> | null =
  null;
function crafted(): Promise<{ input: Uint8Array; out: Uint8Array; got: Record<string, Uint8Array> }> {
  craftedRun ??= (async () => {
    const frames0 = craftedFrames();
    const names = Object.keys(frames0);
    const input = pcapFile(1, names.map((n, i) => ({ ts: i + 1, data: frames0[n] })));
    const { out, r } = await anonBytes(input, new Anonymizer(KEY1));
    assert.equal(r.warning, null);
    const got: Record<string, Uint8Array> = {};
    frames(out).forEach((f, i) => got[names[i]] = f);
    return { input, out, got };
  })();
  return craftedRun;
}

Deno.test("anon --pcap: the Teredo origin indication's obfuscated client address is anonymized", async () => {
  const f = (await crafted()).got.teredo;
  assert.equal(v4At(f.map((x) => x ^ 0xff), 42 + 4), anonOf("10.1.2.3"), "Teredo origin address");
  assert.deepEqual([f[44], f[45]], [40000 >> 8 ^ 0xff, (40000 & 0xff) ^ 0xff], "the obfuscated port stays");
  assert.ok(checksumOk(f, 34, f.length, pseudo(f, 26, 30, 4, 17, f.length - 34)), "Teredo UDP checksum");
});

Deno.test("anon --pcap: the ICMP redirect gateway is anonymized", async () => {
  const f = (await crafted()).got.redirect;
  assert.equal(v4At(f, 34 + 4), anonOf("10.0.0.254"), "redirect gateway");
  assert.equal(v4At(f, 42 + 12), anonOf("10.0.0.5"), "quoted source");
  assert.ok(checksumOk(f, 34, f.length), "ICMP checksum");
});

Deno.test("anon --pcap: IPv4 record route, source route and timestamp options; pseudo-header with the final hop", async () => {
  const { got } = await crafted();
  let f = got.rr;
  assert.deepEqual([v4At(f, 37), v4At(f, 41), v4At(f, 45)], [
    anonOf("10.0.0.77"),
    anonOf("10.0.0.78"),
    "0.0.0.0",
  ]);
  assert.ok(checksumOk(f, 14, 50), "IPv4 header checksum (record route)");
  assert.ok(
    checksumOk(f, 50, f.length, pseudo(f, 26, 30, 4, 17, f.length - 50)),
    "UDP checksum (record route)",
  );
  f = got.lsrr;
  assert.deepEqual([v4At(f, 30), v4At(f, 37), v4At(f, 41)], ["10.0.0.1", "10.0.0.2", "10.0.0.9"].map(anonOf));
  assert.ok(checksumOk(f, 14, 46), "IPv4 header checksum (source route)");
  assert.ok(
    checksumOk(f, 46, f.length, pseudo(f, 26, 41, 4, 17, f.length - 46)),
    "UDP checksum, final destination",
  );
  f = got.timestamp;
  assert.deepEqual([v4At(f, 38), v4At(f, 46)], [anonOf("10.0.0.33"), "0.0.0.0"]);
  assert.ok(checksumOk(f, 14, 54), "IPv4 header checksum (timestamp)");
});

Deno.test("anon --pcap: IPv6 routing headers (segment routing, type 0); pseudo-header with the final destination", async () => {
  const { got } = await crafted();
  let f = got.srh;
  assert.deepEqual([v6At(f, 62), v6At(f, 78)], [anonOf("2001:db8::99"), anonOf("2001:db8::6")]);
  assert.ok(checksumOk(f, 94, f.length, pseudo(f, 22, 62, 16, 6, f.length - 94)), "TCP checksum, segment 0");
  f = got.rh0;
  assert.deepEqual([v6At(f, 62), v6At(f, 78)], [anonOf("2001:db8::6"), anonOf("2001:db8::77")]);
  assert.ok(
    checksumOk(f, 94, f.length, pseudo(f, 22, 78, 16, 17, f.length - 94)),
    "UDP checksum, last address",
  );
});

Deno.test("anon --pcap: neighbor discovery options (prefixes, DNS servers, a redirect's quoted packet)", async () => {
  const { got } = await crafted();
  let f = got.ra;
  assert.equal(v6At(f, 14 + 40 + 16 + 16), anonOf("2001:db8:1:2::"), "advertised prefix");
  assert.equal(v6At(f, 14 + 40 + 16 + 32 + 8), anonOf("2001:db8::53"), "DNS server");
  assert.ok(checksumOk(f, 54, f.length, pseudo(f, 22, 38, 16, 58, f.length - 54)), "RA checksum");
  f = got.redirect6;
  assert.deepEqual(
    [v6At(f, 62), v6At(f, 78), v6At(f, 94 + 8 + 8), v6At(f, 94 + 8 + 24)],
    ["fe80::2", "2001:db8::20", "2001:db8::10", "2001:db8::20"].map(anonOf),
  );
  assert.ok(checksumOk(f, 54, f.length, pseudo(f, 22, 38, 16, 58, f.length - 54)), "redirect checksum");
});

Deno.test("anon --pcap: UDP-Lite and DCCP checksums follow the addresses", async () => {
  const { got } = await crafted();
  for (const [name, proto] of [["udplite", 136], ["dccp", 33]] as const) {
    const f = got[name];
    assert.equal(v4At(f, 26), anonOf("10.0.0.5"), name);
    assert.ok(checksumOk(f, 34, f.length, pseudo(f, 26, 30, 4, proto, f.length - 34)), `${name} checksum`);
  }
});

Deno.test("anon --pcap: a GRE checksum follows the inner packet's changes", async () => {
  const f = (await crafted()).got.gre;
  assert.equal(v4At(f, 42 + 12), anonOf("192.168.1.5"));
  assert.ok(checksumOk(f, 42, 62), "inner IPv4 header checksum");
  assert.ok(checksumOk(f, 34, f.length), "GRE checksum");
});

Deno.test("anon --pcap: the crafted capture reverses byte for byte, and tshark finds no checksum turned bad", async () => {
  const { input, out } = await crafted();
  const back = await anonBytes(out, new Anonymizer(KEY1, { reverse: true }));
  assert.deepEqual(back.out, input);
  if (HAVE_TSHARK) {
    const dir = await Deno.makeTempDir();
    await Deno.writeFile(`${dir}/in.pcap`, input);
    await Deno.writeFile(`${dir}/out.pcap`, out);
    const before = await tsharkVerdicts(`${dir}/in.pcap`), after = await tsharkVerdicts(`${dir}/out.pcap`);
    assert.deepEqual(bad(before.status), []);
    assert.deepEqual(after.status, before.status);
    await Deno.remove(dir, { recursive: true });
  }
});

/** A little-endian pcapng block. */
function ngBlock(type: number, body: Uint8Array): Uint8Array {
  const padded = concat(body, new Array((4 - body.length % 4) % 4).fill(0));
  const b = new Uint8Array(12 + padded.length);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, b.length, true);
  b.set(padded, 8);
  dv.setUint32(b.length - 4, b.length, true);
  return b;
}

/** A little-endian pcapng option. */
function ngOption(code: number, value: Uint8Array): Uint8Array {
  return concat(
    [code & 0xff, code >> 8, value.length & 0xff, value.length >> 8],
    value,
    new Array((4 - value.length % 4) % 4).fill(0),
  );
}

/** An enhanced packet block on interface `ifId`, claiming `capLen` captured bytes. */
function ngEpb(ifId: number, frame: Uint8Array, capLen = frame.length): Uint8Array {
  const h = new Uint8Array(20);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, ifId, true);
  dv.setUint32(12, capLen, true);
  dv.setUint32(16, frame.length, true);
  return ngBlock(6, concat(h, frame));
}

const NG_SHB = ngBlock(
  0x0a0d0d0a,
  new Uint8Array([0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 255, 255, 255, 255, 255, 255, 255, 255]),
);
/** An Ethernet interface description block with `options` (an opt_endofopt is added). */
const ngIdb = (...options: Uint8Array[]) =>
  ngBlock(1, concat([1, 0, 0, 0, 0, 0, 4, 0], ...options, ngOption(0, new Uint8Array(0))));
const NG_FRAME = ethernet(ipv4("10.0.0.5", "10.0.0.6", 17, udp(1, 2, new Uint8Array(4))));

/** The blocks of a little-endian pcapng file as [type, length], checking each trailing length. */
function ngTypes(out: Uint8Array): [number, number][] {
  const dv = new DataView(out.buffer, out.byteOffset);
  const blocks: [number, number][] = [];
  for (let o = 0; o < out.length;) {
    const len = dv.getUint32(o + 4, true);
    assert.equal(dv.getUint32(o + len - 4, true), len, "trailing block length");
    blocks.push([dv.getUint32(o, true), len]);
    o += len;
  }
  return blocks;
}

/** True when the bytes of address `a` appear anywhere in `out`. */
const inClear = (out: Uint8Array, a: string) =>
  Buffer.from(out).toString("hex").includes(Buffer.from(ipBytes(a)).toString("hex"));

Deno.test("anon --pcap: pcapng interface address options (if_IPv4addr, if_IPv6addr) are left out, the block stays valid", async () => {
  const idb = ngIdb(
    ngOption(2, new TextEncoder().encode("eth0")),
    ngOption(4, concat(ipBytes("10.0.0.5"), [255, 255, 255, 0])),
    ngOption(5, concat(ipBytes("2001:db8::5"), [64])),
  );
  const input = concat(NG_SHB, idb, ngEpb(0, NG_FRAME));
  const { out, r } = await anonBytes(input, new Anonymizer(KEY1));
  assert.equal(r.warning, null);
  assert.equal(r.packets, 1);
  assert.equal(r.droppedOptions, 2);
  for (const a of ["10.0.0.5", "2001:db8::5"]) assert.ok(!inClear(out, a), `${a} in clear`);
  const blocks = ngTypes(out);
  assert.deepEqual(blocks.map((b) => b[0]), [0x0a0d0d0a, 1, 6]);
  assert.equal(blocks[1][1], idb.length - 12 - 24); // if_IPv4addr: 4 + 8 bytes; if_IPv6addr: 4 + 17, padded
  assert.ok(new TextDecoder().decode(out).includes("eth0"), "if_name kept");
  if (HAVE_TSHARK) {
    const dir = await Deno.makeTempDir();
    await Deno.writeFile(`${dir}/o.pcapng`, out);
    assert.equal((await tsharkVerdicts(`${dir}/o.pcapng`)).addrs[0], `${anonOf("10.0.0.5")}\t`);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anon --pcap: pcapng capture filters and comments (section, interface, packet) are left out too", async () => {
  const text = (t: string) => new TextEncoder().encode(t);
  const end = ngOption(0, new Uint8Array(0));
  const shb = ngBlock(
    0x0a0d0d0a,
    concat(
      NG_SHB.subarray(8, 24),
      ngOption(1, text("lab capture of 10.0.0.5")),
      ngOption(4, text("dumpcap")),
      end,
    ),
  );
  const idb = ngIdb(
    ngOption(2, text("eth0")),
    ngOption(11, text("\0host 10.0.0.5")),
    ngOption(1, text("10.0.0.5")),
  );
  const epb = ngEpb(0, NG_FRAME);
  // The packet block with a comment after its (padded) data, before the trailing length.
  const withComment = ngBlock(
    6,
    concat(epb.subarray(8, epb.length - 4), ngOption(1, text("from 10.0.0.5")), end),
  );
  const { out, r } = await anonBytes(concat(shb, idb, withComment), new Anonymizer(KEY1));
  assert.equal(r.warning, null);
  assert.equal(r.packets, 1);
  assert.equal(r.droppedOptions, 4);
  assert.ok(!inClear(out, "10.0.0.5"), "10.0.0.5 in clear");
  assert.ok(!new TextDecoder().decode(out).includes("10.0.0.5"), "10.0.0.5 in a text option");
  assert.deepEqual(ngTypes(out).map((b) => b[0]), [0x0a0d0d0a, 1, 6]);
  const plain = new TextDecoder().decode(out);
  assert.ok(plain.includes("eth0") && plain.includes("dumpcap"), "if_name and shb_userappl kept");
  if (HAVE_TSHARK) {
    const dir = await Deno.makeTempDir();
    await Deno.writeFile(`${dir}/o.pcapng`, out);
    assert.equal((await tsharkVerdicts(`${dir}/o.pcapng`)).addrs[0], `${anonOf("10.0.0.5")}\t`);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anon --pcap: a frame whose IP header is malformed is left out; one cut in its addresses keeps what was captured, rewritten", async () => {
  const frame = ethernet(ipv4("10.0.0.5", "10.0.0.6", 17, udp(1, 2, new Uint8Array(4))));
  const cut = frame.subarray(0, 14 + 15); // the source address cut after its first 3 bytes
  const badIhl = frame.slice();
  badIhl[14] = 0x43; // IHL 3: shorter than the fixed header
  const input = pcapFile(1, [frame, cut, badIhl].map((data, i) => ({ ts: i + 1, data })));
  const { out, r } = await anonBytes(input, new Anonymizer(KEY1));
  assert.equal(r.packets, 3);
  assert.equal(r.droppedPackets, 1);
  assert.deepEqual(r.droppedPacketReasons, { "IP header cut short or malformed": 1 });
  const records = pcapRecords(out);
  assert.equal(records.length, 2);
  assert.ok(!inClear(out, "10.0.0.6"), "10.0.0.6 in clear");
  // The cut source's 3 bytes are those of its anonymized address (prefix preservation), not 10.0.0.
  const at = (k: number) => out.subarray(records[k].offset + 16 + 14 + 12, records[k].offset + 16 + 14 + 15);
  assert.deepEqual([...at(1)], [...at(0)]);
  assert.notDeepEqual([...at(1)], [10, 0, 0]);
});

Deno.test("anon --pcap: pcapng packet blocks that cannot be read are dropped and counted, not copied in clear", async () => {
  const input = concat(
    NG_SHB,
    ngIdb(),
    ngEpb(0, NG_FRAME),
    ngEpb(1, NG_FRAME),
    ngEpb(0, NG_FRAME, NG_FRAME.length + 100),
  );
  const { out, r } = await anonBytes(input, new Anonymizer(KEY1));
  assert.equal(r.warning, null);
  assert.equal(r.packets, 1);
  assert.equal(r.droppedPackets, 2);
  assert.deepEqual(r.droppedPacketReasons, {
    "interface id without an interface description": 1,
    "captured length past the end of the block": 1,
  });
  for (const a of ["10.0.0.5", "10.0.0.6"]) assert.ok(!inClear(out, a), `${a} in clear`);
  assert.deepEqual(ngTypes(out).map((b) => b[0]), [0x0a0d0d0a, 1, 6]);
  // The CLI says so on stderr, even with -q.
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/in.pcapng`, input);
  const c = await run([
    "anon",
    "-q",
    "-k",
    `${dir}/k.key`,
    "--pcap",
    `${dir}/in.pcapng`,
    "-o",
    `${dir}/o.pcapng`,
  ]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(
    c.stderr,
    /2 packet\(s\) left out \(1 interface id without an interface description, 1 captured length past the end of the block\)/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("anon: Joy records (sa, da) are anonymized and reversed; input without any address field is warned about", async () => {
  const dir = await Deno.makeTempDir();
  const key = `${dir}/k.key`;
  // A fixed key: Crypto-PAn leaves an address as it is for about one random key in 4000 (127.0.0.1 included),
  // which would fail the "changed" check below by chance.
  await Deno.writeTextFile(key, toHex(KEY1) + "\n", { mode: 0o600 });
  const x = await run(["extract", "-q", "--format", "joy", "testdata/http.pcap", "-o", `${dir}/joy.json`]);
  assert.equal(x.code, 0, x.stderr);
  const a = await run(["anon", "-q", "-k", key, `${dir}/joy.json`, "-o", `${dir}/joy.anon.json`]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stderr, "");
  const orig = (await Deno.readTextFile(`${dir}/joy.json`)).trim().split("\n").map((l) => JSON.parse(l));
  const anon = (await Deno.readTextFile(`${dir}/joy.anon.json`)).trim().split("\n").map((l) => JSON.parse(l));
  const flows = orig.filter((r) => "sa" in r);
  assert.ok(flows.length > 0);
  const k = (await loadOrCreateKey(key)).bytes;
  for (const [i, r] of orig.entries()) {
    if (!("sa" in r)) continue;
    assert.equal(anon[i].sa, new Anonymizer(k).ip(r.sa));
    assert.equal(anon[i].da, new Anonymizer(k).ip(r.da));
    assert.notEqual(anon[i].sa, r.sa);
  }
  const b = await run(["anon", "-q", "-r", "-k", key, `${dir}/joy.anon.json`]);
  assert.deepEqual(b.stdout.trim().split("\n").map((l) => JSON.parse(l)), orig);
  const none = await run(["anon", "-q", "-k", key], '{"a":1}\n{"b":"10.0.0.1"}\n');
  assert.equal(none.code, 0);
  assert.equal(none.stderr.trim().split("\n").length, 1, "warned once");
  assert.match(none.stderr, /<stdin>: no address field in any record/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("anon: inputs checked before a key is made; directories named; .gz captures in and out; --reverse with --subnets warns", async () => {
  const dir = await Deno.makeTempDir();
  const key = `${dir}/new.key`;
  const r1 = await run(["anon", "-k", key, "--pcap", `${dir}/missing.pcap`, "-o", `${dir}/o.pcap`]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /cannot read .*missing\.pcap: no such file/);
  const r2 = await run(["anon", "-k", key, `${dir}/missing.jsonl`]);
  assert.equal(r2.code, 1);
  assert.equal(await Deno.stat(key).catch(() => null), null, "no key file made for a missing input");
  for (const args of [[dir], ["--pcap", dir, "-o", `${dir}/o.pcap`]]) {
    const r = await run(["anon", "-k", key, ...args]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `jj: error: cannot read ${dir}: is a directory`);
  }
  // gzip: read like extract reads it, written compressed as -o promises. A fixed key, so that the output
  // differs from the input for certain (a random key leaves 127.0.0.1 as it is about once in 4000 keys).
  await Deno.writeTextFile(key, toHex(KEY1) + "\n", { mode: 0o600 });
  const plain = await Deno.readFile("testdata/http.pcap");
  const gz = new Uint8Array(
    await new Response(new Blob([plain]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  await Deno.writeFile(`${dir}/in.pcap.gz`, gz);
  const r3 = await run(["anon", "-q", "-k", key, "--pcap", `${dir}/in.pcap.gz`, "-o", `${dir}/out.pcap.gz`]);
  assert.equal(r3.code, 0, r3.stderr);
  const outGz = await Deno.readFile(`${dir}/out.pcap.gz`);
  assert.deepEqual([outGz[0], outGz[1]], [0x1f, 0x8b]);
  const r4 = await run(["anon", "-q", "-k", key, "--pcap", `${dir}/in.pcap.gz`, "-o", `${dir}/out.pcap`]);
  assert.equal(r4.code, 0, r4.stderr);
  const unz = new Uint8Array(
    await new Response(new Blob([outGz]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer(),
  );
  assert.deepEqual(unz, await Deno.readFile(`${dir}/out.pcap`));
  assert.notDeepEqual(unz, plain);
  // --reverse with --subnets: a warning, also with -q; the help says the same file is needed.
  await Deno.writeTextFile(`${dir}/nets.txt`, "10.0.0.0/8\n");
  const r5 = await run(
    ["anon", "-q", "-r", "-k", key, "--subnets", `${dir}/nets.txt`],
    '{"src_ip":"1.2.3.4"}\n',
  );
  assert.equal(r5.code, 0);
  assert.match(r5.stderr, /warning: --reverse with --subnets also "restores" real addresses/);
  const h = await run(["anon", "--help"]);
  assert.match(h.stdout.replace(/\s+/g, " "), /same key and the same --subnets file/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("anon --pcap: a pcapng whose section header cannot be read is an error, and -o keeps its content", async () => {
  // Found by fuzzing: it warned, wrote an empty capture and exited 0.
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/k.key`;
    const out = `${dir}/out.pcap`;
    const good = await Deno.readFile(`${ROOT}/testdata/http.pcap`);
    const cases: [string, Uint8Array][] = [
      ["length 0", hex("0a0d0d0a000000004d3c2b1a")],
      ["cut inside", hex("0a0d0d0a1c0000004d3c2b1a01000000ffffffff")],
      ["bad byte order", hex("0a0d0d0a1c000000deadbeef01000000ffffffffffffffff1c000000")],
    ];
    for (const [what, bytes] of cases) {
      const input = `${dir}/bad.pcapng`;
      await Deno.writeFile(input, bytes);
      await Deno.writeFile(out, good);
      const r = await runCli(["anon", "-q", "-k", key, "--pcap", input, "-o", out]);
      assert.equal(r.code, 1, `${what}: ${r.stderr}`);
      assert.match(r.stderr, /^jj: error: .*bad\.pcapng: (corrupt|truncated) pcapng section header/, what);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.deepEqual(await Deno.readFile(out), good, `${what}: -o was emptied`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "anon --pcap: captures longer than a read buffer, read in odd sizes, reverse byte for byte (pcap and multi-section pcapng)",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    // About 11 MB each: records cut by the ends of several 4 MiB buffers, and of reads of odd sizes.
    const pcap = await Deno.readFile(cap("tls12.pcap"));
    const records = pcap.subarray(24);
    const copies = Math.ceil(11e6 / records.length);
    const bigPcap = concat(pcap.subarray(0, 24), ...Array.from({ length: copies }, () => records));
    // Without its interface statistics block, whose comment ("Counters provided by dumpcap") anon leaves out
    // as it does every comment: the round trip is then byte for byte.
    const ng = withoutBlocks(await Deno.readFile(cap("tls3.pcapng")), 5);
    // pcapng files laid end to end are one capture of several sections.
    const bigNg = concat(...Array.from({ length: Math.ceil(11e6 / ng.length) }, () => ng));
    for (const [name, input] of [["pcap", bigPcap], ["pcapng", bigNg]] as const) {
      const whole = await anonBytes(input, new Anonymizer(KEY1));
      assert.equal(whole.r.warning, null, name);
      assert.ok(whole.r.addresses > 0);
      assert.notDeepEqual(whole.out, input);
      for (const sizes of [[65536], [1 << 20, 7, 4093]]) {
        const odd = await anonBytes(input, new Anonymizer(KEY1), sizes);
        assert.equal(odd.r.packets, whole.r.packets, `${name} ${sizes}`);
        // Compared without assert.deepEqual: its message for two 11 MB arrays that differ takes gigabytes.
        assert.ok(sameBytes(odd.out, whole.out), `${name} ${sizes}`);
      }
      const back = await anonBytes(whole.out, new Anonymizer(KEY1, { reverse: true }), [999_999]);
      assert.ok(sameBytes(back.out, input), `${name}: reverse is not byte-exact`);
    }
  },
});

Deno.test("anon: host fields (http_host, Joy's nested Host, an address as SNI) change their address part and reverse", () => {
  for (const mode of ["cryptopan", "joy"] as const) {
    const a = new Anonymizer(KEY1, { mode }), back = new Anonymizer(KEY1, { mode, reverse: true });
    const rec = {
      src_ip: "10.0.0.1",
      http_host: "192.168.1.1:8080",
      tls_sni: "2001:db8::1",
      quic_sni: "example.com",
      http: [{ out: { Host: "[2001:db8::2]:443", uri: "/" } }, { in: { Host: "unifi:8080" } }],
    };
    const original = structuredClone(rec);
    const anon = a.record(structuredClone(rec) as unknown as FlowRecord) as unknown as typeof rec;
    const v4 = a.ip("192.168.1.1"), v6a = a.ip("2001:db8::1"), v6b = a.ip("2001:db8::2");
    assert.notEqual(v4, "192.168.1.1", mode);
    assert.equal(anon.http_host, `${v4}:8080`, mode);
    assert.equal(anon.tls_sni, v6a, mode);
    assert.equal(anon.quic_sni, "example.com", mode);
    assert.equal(anon.http[0].out!.Host, `[${v6b}]:443`, mode);
    assert.equal(anon.http[1].in!.Host, "unifi:8080", mode);
    assert.deepEqual(back.record(anon as unknown as FlowRecord), original, mode);
  }
});

/** Every IPv4 and IPv6 address written in a Joy record, wherever it is: text, DHCP hex options, IDP headers. */
function joyRecordAddresses(line: string): Set<string> {
  const found = new Set<string>();
  const rec = JSON.parse(line);
  const walk = (v: unknown, key: string): void => {
    if (typeof v === "string") {
      if (parseIp(v, new Uint8Array(16)) !== 0) found.add(v);
      if ((key === "idp_out" || key === "idp_in") && v.startsWith("45")) {
        found.add(formatIp(hex(v.slice(24, 32)), 0, 4)).add(formatIp(hex(v.slice(32, 40)), 0, 4));
      }
      if (
        ["server_id", "address_request", "router", "name_server"].includes(key) && /^[0-9a-f]{8}$/.test(v)
      ) {
        found.add(formatIp(hex(v), 0, 4));
      }
    } else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) walk(x, k);
    }
  };
  walk(rec, "");
  found.delete("0.0.0.0");
  found.delete("255.255.255.255");
  return found;
}

Deno.test({
  name:
    "anon on Joy records: DNS answers, DHCP addresses and options, initial data packets change too, and come back",
  ignore: !HAVE_CAPTURES,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      for (const [capture, config] of [["dns_fragmented.pcap", "dns=1"], ["dhcp.pcapng", "dhcp=1"]]) {
        const joy = await run(["extract", "-q", "--format", "joy", "--joy-config", config, cap(capture)]);
        assert.equal(joy.code, 0, joy.stderr);
        const lines = joy.stdout.trim().split("\n").slice(1);
        const before = new Set(lines.flatMap((l) => [...joyRecordAddresses(l)]));
        // More than the endpoints: answers (dns), yiaddr and server_id (dhcp), IDP headers (both).
        const beyondEndpoints = lines.some((l) => {
          const { sa, da } = JSON.parse(l);
          return [...joyRecordAddresses(l)].some((a) => a !== sa && a !== da);
        });
        assert.ok(beyondEndpoints, `${capture}: no address past sa/da to test`);
        await Deno.writeTextFile(`${dir}/in.json`, lines.join("\n") + "\n");
        for (const mode of ["cryptopan", "hash", "joy"]) {
          const anon = await run(["anon", "-q", "--mode", mode, "--key", `${dir}/k.key`, `${dir}/in.json`]);
          assert.equal(anon.code, 0, anon.stderr);
          const left = anon.stdout.trim().split("\n").flatMap((l) => [...joyRecordAddresses(l)])
            .filter((a) => before.has(a));
          assert.deepEqual(left, [], `${capture} ${mode}: real addresses left`);
          const hasIdp = lines.some((l) => "idp_out" in JSON.parse(l));
          assert.equal(/initial data packet/.test(anon.stderr), mode === "joy" && hasIdp, anon.stderr);
          if (mode === "hash") continue;
          await Deno.writeTextFile(`${dir}/anon.json`, anon.stdout);
          const back = await run([
            "anon",
            "-q",
            "--reverse",
            "--mode",
            mode,
            "--key",
            `${dir}/k.key`,
            `${dir}/anon.json`,
          ]);
          assert.equal(back.code, 0, back.stderr);
          const original = lines.map((l) => JSON.parse(l));
          const restored = back.stdout.trim().split("\n").map((l) => JSON.parse(l));
          for (let i = 0; i < original.length; i++) {
            if (mode === "joy") {
              delete original[i].idp_out, delete original[i].idp_len_out;
              delete original[i].idp_in, delete original[i].idp_len_in;
            }
            assert.deepEqual(restored[i], original[i], `${capture} ${mode}: record ${i} not restored`);
          }
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("anon and label-subnets: an input without one JSON object is an input error, not empty success", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const pcap = `${ROOT}/testdata/http.pcap`;
    const a = await run(["anon", "-q", "--key", `${dir}/k.key`, pcap]);
    assert.equal(a.code, 1, a.stderr);
    assert.match(a.stderr, /http\.pcap: no JSON object in its \d+ line\(s\)/);
    assert.equal(a.stdout, "");
    const l = await run(["label-subnets", "--label", "x:10.0.0.0/8", pcap]);
    assert.equal(l.code, 1, l.stderr);
    assert.match(l.stderr, /no JSON object/);
    // An empty input is no error: nothing in, nothing out.
    const e = await run(["label-subnets", "-q", "--label", "x:10.0.0.0/8"], "");
    assert.equal(e.code, 0, e.stderr);
    // -o: an existing file keeps its content, a new one is not made, in every output format.
    for (const ext of ["jsonl", "csv", "parquet", "jsonl.gz"]) {
      for (
        const args of [["anon", "-q", "--key", `${dir}/k.key`], ["label-subnets", "--label", "x:10.0.0.0/8"]]
      ) {
        const kept = `${dir}/kept.${ext}`, fresh = `${dir}/fresh.${ext}`;
        await Deno.writeTextFile(kept, "keep\n");
        for (const out of [kept, fresh]) {
          const r = await run([...args, pcap, "-o", out]);
          assert.equal(r.code, 1, r.stderr);
        }
        assert.equal(await Deno.readTextFile(kept), "keep\n", `${args[0]} -o ${ext}`);
        await assert.rejects(Deno.stat(fresh), Deno.errors.NotFound, `${args[0]} -o ${ext}`);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anon: -o naming the key file (or --subnets, --users, a label file) is a usage error; the key stays", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = `${dir}/k.key`, recs = `${dir}/r.jsonl`, nets = `${dir}/nets.txt`;
    await Deno.writeTextFile(recs, '{"src_ip":"10.0.0.1","dst_ip":"10.0.0.2"}\n');
    await Deno.writeTextFile(nets, "10.0.0.0/8\n");
    assert.equal((await run(["anon", "-q", "--key", key, recs])).code, 0);
    const keyText = await Deno.readTextFile(key);
    for (const args of [["-o", key], ["--subnets", nets, "-o", nets]]) {
      const r = await run(["anon", "-q", "--key", key, recs, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /is also an input/);
    }
    const p = await run(["anon", "-q", "--key", key, "--pcap", `${ROOT}/testdata/http.pcap`, "-o", key]);
    assert.equal(p.code, 2, p.stderr);
    assert.equal(await Deno.readTextFile(key), keyText);
    const l = await run(["label-subnets", "--label", `lab:${nets}`, recs, "-o", nets]);
    assert.equal(l.code, 2, l.stderr);
    assert.equal(await Deno.readTextFile(nets), "10.0.0.0/8\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("record inputs: gzip by its bytes on stdin, every member of a multi-member file, a cut one named", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const gz = (text: string) => new Uint8Array(gzipSync(new TextEncoder().encode(text)));
    const two = concat(gz('{"src_ip":"10.0.0.1"}\n'), gz('{"src_ip":"10.0.0.2"}\n'));
    await Deno.writeFile(`${dir}/two.jsonl.gz`, two);
    for (const [args, stdin] of [[[`${dir}/two.jsonl.gz`], undefined], [[], two]] as const) {
      const r = await runCli(["label-subnets", "-q", "--label", "x:10.0.0.0/8", ...args], { stdin });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n").map((l) => JSON.parse(l).src_ip), [
        "10.0.0.1",
        "10.0.0.2",
      ]);
    }
    const whole = gz(
      Array.from({ length: 2000 }, (_, i) => `{"src_ip":"10.0.${i >> 8}.${i & 255}"}\n`).join(""),
    );
    await Deno.writeFile(`${dir}/cut.jsonl.gz`, whole.subarray(0, whole.length - 100));
    const c = await run(["label-subnets", "-q", "--label", "x:10.0.0.0/8", `${dir}/cut.jsonl.gz`]);
    assert.equal(c.code, 1, c.stderr);
    assert.match(c.stderr, /cut\.jsonl\.gz: the gzip stream is cut or corrupt .* after line \d+/);
    // What came before the cut is written.
    assert.ok(c.stdout.trim().split("\n").length > 1000, `${c.stdout.length} bytes written`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseIp takes a dotted quad only as an IPv6 address's last 32 bits (RFC 4291 2.2)", () => {
  const b = new Uint8Array(16);
  for (
    const [text, version] of [
      ["1.2.3.4::5", 0],
      ["1.2.3.4::", 0],
      ["1:2:3:4:5:6:7:1.2.3.4", 0],
      ["::1.2.3.4", 6],
      ["::ffff:1.2.3.4", 6],
      ["1::1.2.3.4", 6],
      ["1:2:3:4:5:6:1.2.3.4", 6],
    ] as const
  ) assert.equal(parseIp(text, b), version, text);
});

Deno.test("label-subnets warns when no record has src_ip or dst_ip (Joy's records have sa and da)", async () => {
  const joy = '{"sa":"10.0.0.1","da":"10.0.0.2","pr":17,"sp":1,"dp":2}\n';
  const r = await run(["label-subnets", "--label", "lab:10.0.0.0/8"], joy);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: <stdin>: no record has src_ip or dst_ip; nothing was labelled/);
  const ours = await run(
    ["label-subnets", "--label", "lab:10.0.0.0/8"],
    '{"src_ip":"10.0.0.1","dst_ip":"8.8.8.8"}\n',
  );
  assert.doesNotMatch(ours.stderr, /warning/);
});

Deno.test("anon --pcap refuses --users and an -o named as records (it ignored one and wrote a capture as .csv)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/users.txt`, "alice\n");
    const pcap = `${ROOT}/testdata/http.pcap`;
    for (
      const args of [["--users", `${dir}/users.txt`, "-o", `${dir}/x.pcap`], ["-o", `${dir}/x.csv`], [
        "-o",
        `${dir}/x.jsonl`,
      ]]
    ) {
      const r = await run(["anon", "-q", "--key", `${dir}/k.key`, "--pcap", pcap, ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    }
    const ok = await run(["anon", "-q", "--key", `${dir}/k.key`, "--pcap", pcap, "-o", `${dir}/x.pcap`]);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("anon: Joy DHCP options named like address fields (broadcast_address, policy_filter pairs) change too", () => {
  const key = new Uint8Array(32).fill(3);
  const rec = {
    sa: "10.0.0.1",
    da: "10.0.0.2",
    dhcp: [{
      options: [
        { broadcast_address: "0a0000ff" },
        { policy_filter: "0a000009ffffff00" },
        { home_agent_addrs: "0a000005" },
        { router: "0a000001" },
      ],
    }],
  };
  const a = new Anonymizer(key, { mode: "cryptopan" }).record(structuredClone(rec));
  const opts = (a.dhcp as { options: Record<string, string>[] }[])[0].options;
  const hexOf = (ip: string) =>
    hex(ip.split(".").map(Number).map((n) => n.toString(16).padStart(2, "0")).join(""));
  const changed = (text: string, ip: string) => !text.includes(toHex(hexOf(ip)));
  assert.ok(changed(opts[0].broadcast_address, "10.0.0.255"), opts[0].broadcast_address);
  assert.ok(changed(opts[1].policy_filter.slice(0, 8), "10.0.0.9"), opts[1].policy_filter);
  assert.equal(opts[1].policy_filter.slice(8), "ffffff00", "the mask of a policy_filter pair stays");
  assert.ok(changed(opts[2].home_agent_addrs, "10.0.0.5"));
  assert.ok(changed(opts[3].router, "10.0.0.1"));
  const back = new Anonymizer(key, { mode: "cryptopan", reverse: true }).record(a);
  assert.deepEqual(back, rec);
});

Deno.test("readJsonLines: a caller's stream is cancelled when the consumer stops early, released at its end", async () => {
  const { readJsonLines } = await import("../outputs/mod.ts");
  const make = () => {
    const state = { cancelled: false };
    let n = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (n++ < 3) c.enqueue(new TextEncoder().encode(`{"src_ip":"10.0.0.${n}"}\n`));
        else c.close();
      },
      cancel() {
        state.cancelled = true;
      },
    });
    return { stream, state };
  };
  const early = make();
  for await (const _ of readJsonLines(early.stream)) break;
  assert.deepEqual([early.stream.locked, early.state.cancelled], [false, true]);
  const whole = make();
  let count = 0;
  for await (const _ of readJsonLines(whole.stream)) count++;
  assert.deepEqual([count, whole.stream.locked, whole.state.cancelled], [3, false, false]);
});

Deno.test("record anonymization: the host of a request target (CONNECT, absolute URI) changes as http_host does", () => {
  const key = new Uint8Array(32).fill(5);
  const a = new Anonymizer(key, { mode: "cryptopan" });
  const r = a.record({
    http_host: "203.0.113.77:443",
    http_uri: "203.0.113.77:443",
    uri: "http://u@[2001:db8::5]:8080/x?ip=1.2.3.4",
  });
  const host = a.host("203.0.113.77:443");
  assert.notEqual(host, "203.0.113.77:443");
  assert.equal(r.http_uri, host);
  assert.equal(r.uri, `http://u@${a.host("[2001:db8::5]:8080")}/x?ip=1.2.3.4`);
  assert.equal(a.record({ http_uri: "/index.html" }).http_uri, "/index.html");
  const back = new Anonymizer(key, { mode: "cryptopan", reverse: true }).record({ ...r });
  assert.equal(back.http_uri, "203.0.113.77:443");
  assert.equal(back.uri, "http://u@[2001:db8::5]:8080/x?ip=1.2.3.4");
});

Deno.test("anon: flow_id is computed again from the new addresses (it was the real 5-tuple's hash), and reverses", async () => {
  const records: FlowRecord[] = [];
  for await (
    const r of extractFlows(`${ROOT}/testdata/http.pcap`, { features: ["flow_meta"], includeFlowId: true })
  ) {
    records.push(r);
  }
  assert.ok(records.length > 0);
  for (const mode of ["cryptopan", "joy", "hash"] as const) {
    const a = new Anonymizer(KEY1, { mode });
    for (const original of records) {
      const anon = a.record(structuredClone(original));
      assert.notEqual(anon.src_ip, original.src_ip, mode);
      assert.notEqual(anon.flow_id, original.flow_id, mode);
      const tuple = [anon.src_ip, anon.src_port, anon.dst_ip, anon.dst_port, anon.protocol] as const;
      assert.equal(anon.flow_id, flowId(...(tuple as [string, number, string, number, number])), mode);
      if (mode !== "hash") {
        assert.deepEqual(new Anonymizer(KEY1, { mode, reverse: true }).record(anon), original, mode);
      }
    }
  }
  // Without the whole 5-tuple it cannot be computed: null, not the real one.
  const partial = new Anonymizer(KEY1, { mode: "cryptopan" }).record({ src_ip: "10.0.0.1", flow_id: "ab" });
  assert.equal(partial.flow_id, null);
});

Deno.test("anon: host fields with an empty port, an IPv4 address's trailing dot or an IPv6 zone change their address too, and reverse", () => {
  for (const mode of ["cryptopan", "joy"] as const) {
    const a = new Anonymizer(KEY1, { mode }), back = new Anonymizer(KEY1, { mode, reverse: true });
    const v4 = a.ip("10.1.2.3"), v6 = a.ip("fe80::1");
    const cases: [string, string][] = [
      ["10.1.2.3:", `${v4}:`],
      ["10.1.2.3.", `${v4}.`],
      ["10.1.2.3.:8080", `${v4}.:8080`],
      ["fe80::1%eth0", `${v6}%eth0`],
      ["[fe80::1%25eth0]:80", `[${v6}%25eth0]:80`],
      ["[fe80::1]:", `[${v6}]:`],
      ["example.com.", "example.com."],
    ];
    for (const [host, want] of cases) {
      const rec = a.record({ http_host: host } as FlowRecord);
      assert.equal(rec.http_host, want, `${mode} ${host}`);
      assert.equal(back.record(rec).http_host, host, `${mode} ${host} reversed`);
    }
  }
});

Deno.test("anon --pcap: Cisco HDLC (DLT 104) is anonymized as extract decodes it; a SLARP frame is left out", async () => {
  const input = await Deno.readFile(`${ROOT}/testdata/reader_edge/chdlc104.pcap`);
  const { out, r } = await anonBytes(input, new Anonymizer(KEY1));
  assert.equal(r.unsupportedPackets, 0);
  assert.ok(r.addresses > 0);
  assert.ok(!inClear(out, "10.24.0.1") && !inClear(out, "10.24.0.2"));
  // SLARP (EtherType 0x8035 behind Cisco HDLC) carries an address in a layout of its own: a reply for 10.0.0.5.
  const slarp = concat(
    [0x8f, 0x00, 0x80, 0x35],
    [0, 0, 0, 1],
    ipBytes("10.0.0.5"),
    ipBytes("255.255.255.0"),
    [0, 0],
  );
  const s = await anonBytes(pcapFile(104, [{ ts: 1, data: slarp }]), new Anonymizer(KEY1));
  assert.deepEqual(s.r.droppedPacketReasons, { "Cisco SLARP (its address is not rewritten)": 1 });
  assert.ok(!inClear(s.out, "10.0.0.5"));
});

Deno.test("anon: addresses in Joy's text fields are rewritten (raw SNI, forwarding headers, certificate names, PTR names); NAT-D hashes are removed", () => {
  // A review's finds in real records: `sni` was rewritten but the raw server_name extension beside it not; the
  // X-Forwarded-For, Forwarded, Referer and Origin headers, a certificate's names and IP alternative names and
  // reverse-lookup names stayed in clear; IKE's NAT detection hashes gave the address back by brute force.
  const a = new Anonymizer(KEY1);
  const ext = (name: string) => {
    const n = new TextEncoder().encode(name);
    return toHex(new Uint8Array([0, n.length + 3, 0, 0, n.length, ...n]));
  };
  const rec = {
    sa: "10.77.1.2",
    da: "10.77.1.1",
    tls: {
      sni: ["10.77.1.1"],
      c_extensions: [{ server_name: ext("10.77.1.1") }, { server_name: ext("example.com") }],
      s_cert: [{
        subject: [{ commonName: "10.77.1.1" }, { organizationName: "Org 10.77.1.60" }],
        extensions: [{
          "X509v3 Subject Alternative Name":
            "IP Address:10.77.1.1, IP Address:2001:DB8:77:0:0:0:0:1, DNS:server.test",
        }],
      }],
    },
    http: [{
      out: [
        { "X-Forwarded-For": "10.77.1.2, 2001:db8:77::abcd, ::ffff:10.77.1.5" },
        { Forwarded: 'for=10.77.1.2;by="[2001:db8:77::1]:8080"' },
        { Referer: "http://10.77.1.60/ref" },
        { Origin: "http://[2001:db8:77::1]:8080" },
      ],
    }],
    dns: [{ rn: "2.1.77.10.in-addr.arpa" }],
    ike: {
      nat_detection_source_ip: "4fbeaa57ffae70cc08776899742185b6c2bbb55d",
      init_spi: "05ac0f4d122013f4",
    },
  };
  const out = a.record(structuredClone(rec) as unknown as FlowRecord) as unknown as typeof rec;
  const text = JSON.stringify(out);
  for (
    const secret of ["10.77.1", "2001:db8:77", "2001:DB8:77", toHex(new TextEncoder().encode("10.77.1"))]
  ) {
    assert.ok(!text.includes(secret), `${secret} left in clear: ${text}`);
  }
  const ip = (s: string) => a.ip(s);
  assert.equal(out.tls.c_extensions[0].server_name, ext(ip("10.77.1.1")));
  assert.equal(out.tls.c_extensions[1].server_name, ext("example.com"));
  assert.equal(out.tls.s_cert[0].subject[0].commonName, ip("10.77.1.1"));
  assert.equal(
    out.tls.s_cert[0].extensions[0]["X509v3 Subject Alternative Name"],
    `IP Address:${ip("10.77.1.1")}, IP Address:${ip("2001:db8:77::1")}, DNS:server.test`,
  );
  assert.deepEqual(out.http[0].out[0], {
    "X-Forwarded-For": `${ip("10.77.1.2")}, ${ip("2001:db8:77::abcd")}, ${ip("::ffff:10.77.1.5")}`,
  });
  assert.deepEqual(out.http[0].out[1], {
    Forwarded: `for=${ip("10.77.1.2")};by="[${ip("2001:db8:77::1")}]:8080"`,
  });
  assert.equal(out.dns[0].rn, `${ip("10.77.1.2").split(".").reverse().join(".")}.in-addr.arpa`);
  assert.ok(!("nat_detection_source_ip" in out.ike));
  // Reversed, the same values (IPv6 in RFC 5952 form), in cryptopan and in joy mode (its 32 hex digits).
  for (const mode of ["cryptopan", "joy"] as const) {
    const there = new Anonymizer(KEY1, { mode }).record(structuredClone(rec) as unknown as FlowRecord);
    const back = new Anonymizer(KEY1, { mode, reverse: true }).record(
      structuredClone(there),
    ) as unknown as typeof rec;
    assert.equal(back.dns[0].rn, "2.1.77.10.in-addr.arpa", mode);
    assert.deepEqual(back.http, rec.http, mode);
    assert.equal(
      back.tls.s_cert[0].extensions[0]["X509v3 Subject Alternative Name"],
      "IP Address:10.77.1.1, IP Address:2001:db8:77::1, DNS:server.test",
      mode,
    );
    // A common name is a name: in joy mode its 32 hex digits could be one (a hash-named device), so one that
    // was an address stays encrypted rather than a name be "decrypted".
    if (mode === "cryptopan") assert.deepEqual(back.tls.s_cert[0].subject, rec.tls.s_cert[0].subject);
  }
  // A review's: names of 32 hex digits (a common name, an alternative DNS name, an obfuscated Forwarded id) came
  // back from joy mode's --reverse as IPv6 addresses.
  const names = {
    sa: "10.0.0.1",
    http: [{ out: [{ Forwarded: "for=_0123456789abcdef0123456789abcdef" }] }],
    tls: {
      s_cert: [{
        subject: [{ commonName: "0123456789abcdef0123456789abcdef" }],
        extensions: [{ "X509v3 Subject Alternative Name": "DNS:0123456789abcdef0123456789abcdef.iot.test" }],
      }],
    },
  };
  const joyThere = new Anonymizer(KEY1, { mode: "joy" }).record(
    structuredClone(names) as unknown as FlowRecord,
  );
  const joyBack = new Anonymizer(KEY1, { mode: "joy", reverse: true }).record(structuredClone(joyThere));
  assert.deepEqual(joyBack, names);
});
