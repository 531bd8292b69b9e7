import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  hassh,
  hasshString,
  parseSshBanner,
  parseSshKexInit,
  SshDirectionParser,
  SshSession,
} from "../lib/protocols/ssh.ts";
import { sshExtractor, type SshState } from "../extractors/ssh.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import { FlowState } from "../lib/flow.ts";
import { PacketView, TCP } from "../lib/packet.ts";
import {
  canonicalKey,
  CAPTURES_URL,
  collect,
  concat,
  EXPECTED_URL,
  flowsByKey,
  freePort,
  hasCommand,
  HAVE_CAPTURES,
  HAVE_SHARED,
  HAVE_TSHARK,
  hex,
  IS_ROOT,
  pcapRecords,
  rng,
  ROOT,
  startTcpdump,
  tsharkFields,
  tsharkRows,
} from "./helpers.ts";

const CAPTURES = CAPTURES_URL;
const EXPECTED = EXPECTED_URL;
const enc = new TextEncoder();

/** The records of a capture with these groups, by flow key. */
const records = (path: string | URL, features: string[]): Promise<Map<string, FlowRecord[]>> =>
  flowsByKey(path, { features });

function values(rs: FlowRecord[] | undefined, name: string): Set<unknown> {
  const s = new Set<unknown>();
  for (const r of rs ?? []) if (r[name] !== null && r[name] !== undefined) s.add(r[name]);
  return s;
}

// ---------------------------------------------------------------------------------------------------------
// Synthetic messages

function sshString(s: string | Uint8Array): Uint8Array {
  const b = typeof s === "string" ? enc.encode(s) : s;
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}

const LISTS = [
  "curve25519-sha256,diffie-hellman-group14-sha256",
  "ssh-ed25519,rsa-sha2-512",
  "aes128-ctr,aes256-gcm@openssh.com",
  "chacha20-poly1305@openssh.com,aes256-ctr",
  "hmac-sha2-256",
  "hmac-sha2-512,hmac-sha1",
  "none,zlib@openssh.com",
  "none",
  "",
  "",
];

function kexInitPayload(lists: string[] = LISTS): Uint8Array {
  const cookie = new Uint8Array(16).fill(0xab);
  return concat(new Uint8Array([20]), cookie, ...lists.map((l) => sshString(l)), new Uint8Array(5));
}

/** An unencrypted SSH-2 binary packet (block size 8, at least 4 bytes of padding). */
function sshPacket(payload: Uint8Array): Uint8Array {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  const len = 1 + payload.length + pad;
  const out = new Uint8Array(4 + len);
  new DataView(out.buffer).setUint32(0, len);
  out[4] = pad;
  out.set(payload, 5);
  return out;
}

Deno.test("parseSshBanner: SSH-2, SSH-1, comments, and rejects", () => {
  const b = enc.encode("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n");
  const r = parseSshBanner(b, 0, b.length);
  assert.deepEqual(r, {
    raw: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1",
    protoVersion: "2.0",
    software: "OpenSSH_8.9p1",
    comments: "Ubuntu-3ubuntu0.1",
  });
  const v1 = enc.encode("SSH-1.5-1.2.26\n");
  assert.equal(parseSshBanner(v1, 0, v1.length)?.protoVersion, "1.5");
  const v199 = enc.encode("SSH-1.99-OpenSSH_3.9p1");
  assert.equal(parseSshBanner(v199, 0, v199.length)?.software, "OpenSSH_3.9p1");
  for (const bad of ["SSH-", "SSH-x.y-foo", "HTTP/1.1 200 OK", "SSH2.0-x", ""]) {
    const e = enc.encode(bad);
    assert.equal(parseSshBanner(e, 0, e.length), null, bad);
  }
});

Deno.test("parseSshKexInit and HASSH strings", () => {
  const p = kexInitPayload();
  const k = parseSshKexInit(p, 0, p.length);
  assert.ok(k !== null);
  assert.equal(k.kex, LISTS[0]);
  assert.equal(k.compS2c, "none");
  assert.equal(hasshString(k, false), `${LISTS[0]};${LISTS[2]};${LISTS[4]};${LISTS[6]}`);
  assert.equal(hasshString(k, true), `${LISTS[0]};${LISTS[3]};${LISTS[5]};${LISTS[7]}`);
  assert.equal(hassh(k, false), createHash("md5").update(hasshString(k, false)).digest("hex"));
  // Every truncation is rejected without throwing.
  for (let n = 0; n < p.length - 5; n++) assert.equal(parseSshKexInit(p, 0, n), null);
  // Wrong message number.
  const q = p.slice();
  q[0] = 21;
  assert.equal(parseSshKexInit(q, 0, q.length), null);
  // Lengths pointing past the end.
  const r = p.slice();
  r[17] = 0xff;
  assert.equal(parseSshKexInit(r, 0, r.length), null);
});

Deno.test("SshDirectionParser: byte-at-a-time feeding equals one-shot, NEWKEYS switches to encrypted", () => {
  const stream = concat(
    enc.encode("SSH-2.0-Test_1.0 c\r\n"),
    sshPacket(kexInitPayload()),
    sshPacket(new Uint8Array([30, 1, 2, 3])),
    sshPacket(new Uint8Array([21])),
    new Uint8Array([9, 9, 9, 9, 9, 9, 9]),
  );
  const whole = new SshDirectionParser();
  whole.feed(stream, 0, stream.length);
  const bytes = new SshDirectionParser();
  for (let i = 0; i < stream.length; i++) bytes.feed(stream, i, i + 1);
  for (const p of [whole, bytes]) {
    assert.equal(p.banner?.software, "Test_1.0");
    assert.equal(p.kexInit?.kex, LISTS[0]);
    assert.equal(p.kexMessages, 3);
    assert.equal(p.cleartextPackets, 3);
    assert.ok(p.encrypted);
    assert.ok(!p.failed);
  }
  // One segment carrying NEWKEYS and encrypted bytes is a key exchange packet, as tshark counts it.
  assert.equal(whole.encryptedSegments, 0);
  assert.equal(bytes.encryptedSegments, 7);
});

Deno.test("SshDirectionParser: a KEXINIT header claiming 64 KiB holds what came of it; a large one is still read whole", () => {
  // A review's flood: each flow's KEXINIT header claimed 65,000 bytes and 10 followed (44 KB held per flow).
  const claim = concat(enc.encode("SSH-2.0-Test_1.0 c\r\n"), new Uint8Array([0, 0, 0xfd, 0xe8, 4, 20]));
  const p = new SshDirectionParser();
  p.feed(claim, 0, claim.length);
  p.feed(new Uint8Array(10), 0, 10);
  assert.ok(p.heldBytes <= 2048, `held ${p.heldBytes}`);
  // A real-sized KEXINIT with 30 KB of algorithm names, fed 100 bytes at a time: parsed as before.
  const names = Array.from({ length: 1500 }, (_, i) => `algo-${i}@example.com`).join(",");
  const payload = kexInitPayload([names, ...LISTS.slice(1)]);
  const stream = concat(enc.encode("SSH-2.0-Test_1.0 c\r\n"), sshPacket(payload));
  const q = new SshDirectionParser();
  for (let i = 0; i < stream.length; i += 100) q.feed(stream, i, Math.min(stream.length, i + 100));
  assert.equal(q.kexInit?.kex, names);
  assert.equal(q.heldBytes, 0);
});

Deno.test("SshDirectionParser: pre-banner lines, garbage and oversize lines", () => {
  const p = new SshDirectionParser();
  const s = enc.encode("hello there\r\nSSH-2.0-X\r\n");
  p.feed(s, 0, s.length);
  assert.equal(p.banner?.software, "X");
  const g = new SshDirectionParser();
  g.feed(new Uint8Array([0, 1, 2, 3, 4]), 0, 5);
  assert.ok(g.failed);
  // A line before the banner may be long (OpenSSH's client takes up to 8 KB): skipped, not kept.
  const long = new SshDirectionParser();
  const l = new Uint8Array(5000).fill(0x41);
  long.feed(l, 0, l.length);
  assert.ok(!long.failed);
  const rest = enc.encode("AAA\r\nSSH-2.0-Y\r\n");
  long.feed(rest, 0, rest.length);
  assert.equal(long.banner?.software, "Y");
  const longer = new SshDirectionParser();
  const ll = new Uint8Array(9000).fill(0x41);
  longer.feed(ll, 0, ll.length);
  assert.ok(longer.failed);
  // A packet length of zero is refused.
  const z = new SshDirectionParser();
  const zs = concat(enc.encode("SSH-2.0-X\r\n"), new Uint8Array([0, 0, 0, 0, 0, 0]));
  z.feed(zs, 0, zs.length);
  assert.ok(z.failed);
});

Deno.test("SshSession: SSH-1 after a 1.99 server counts the key messages", () => {
  const s = new SshSession();
  const srv = enc.encode("SSH-1.99-Old\n");
  const cli = enc.encode("SSH-1.5-Client\n");
  s.feed(1, srv, 0, srv.length);
  s.feed(0, cli, 0, cli.length);
  // SSH-1 packet: length 5 (type + 4 CRC), 3 bytes of padding, type 2 (PUBLIC_KEY).
  const pk = new Uint8Array([0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 0]);
  s.feed(1, pk, 0, pk.length);
  assert.equal(s.version, "1.5");
  assert.equal(s.server.kexMessages, 1);
  assert.ok(s.server.encrypted);
});

// ---------------------------------------------------------------------------------------------------------
// Real captures through the pipeline

const SSH_CAPTURES = [
  "ssh.pcap",
  "ssh.pcapng",
  "ssh2.pcapng",
  "ssh-r.pcap",
  "ssh-scp-1050.pcap",
  "ssh2-malformed.pcap",
  "ssh2-moloch-crash.pcap",
];

Deno.test(
  "ssh: HASSH and HASSH-server match the expected values for every flow",
  { ignore: !HAVE_SHARED },
  async () => {
    let checked = 0;
    for (const name of SSH_CAPTURES) {
      const got = await records(new URL(name, CAPTURES), ["ssh"]);
      const lines = (await Deno.readTextFile(new URL(name + ".jsonl", EXPECTED))).split("\n").filter((l) =>
        l
      );
      for (const line of lines) {
        const e = JSON.parse(line);
        if (!e.hassh && !e.hassh_server) continue;
        const k = JSON.stringify(e.key);
        const rs = got.get(canonicalKey(...(e.key as [number, string, number, string, number])));
        assert.ok(rs, `${name}: no record for ${k}`);
        assert.deepEqual([...values(rs, "ssh_hassh")], e.hassh, `${name} ${k} hassh`);
        assert.deepEqual([...values(rs, "ssh_hassh_server")], e.hassh_server, `${name} ${k} hassh_server`);
        assert.ok(values(rs, "ssh_detected").has(true));
        checked++;
      }
    }
    assert.equal(checked, 9);
  },
);

Deno.test({
  name: "ssh: banners, versions and KEX fields agree with tshark",
  ignore: !HAVE_TSHARK || !HAVE_CAPTURES,
  async fn() {
    // ssh2.pcapng holds the same SSH flow as ssh.pcapng among much other traffic: leave it to the HASSH test.
    for (
      const name of [
        ...SSH_CAPTURES.filter((n) => n !== "ssh2.pcapng"),
        "ssh_unidirectional.pcap",
        "sshv1.pcap",
      ]
    ) {
      const path = new URL(name, CAPTURES).pathname;
      const got = await records(path, ["ssh"]);
      const rows = tsharkRows([
        "-r",
        path,
        "-Y",
        "ssh.protocol || ssh.kex.hassh || ssh.kex.hasshserver",
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "tcp.srcport",
        "-e",
        "ip.dst",
        "-e",
        "ipv6.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "ssh.protocol",
        "-e",
        "ssh.kex.hassh_algorithms",
        "-e",
        "ssh.kex.hasshserver_algorithms",
      ]);
      assert.ok(rows.length > 0, name);
      for (const [s4, s6, sp, d4, d6, dp, proto, hs, hss] of rows) {
        const k = canonicalKey(6, s4 || s6, Number(sp), d4 || d6, Number(dp));
        const rs = got.get(k);
        assert.ok(rs, `${name}: no record for ${k}`);
        const fromServer = sp === "22";
        if (proto) {
          assert.ok(
            values(rs, fromServer ? "ssh_server_version" : "ssh_client_version").has(proto),
            `${name} ${proto}`,
          );
          const v = proto.split("-")[1];
          assert.ok(values(rs, "ssh_version").has(v === "1.99" ? "2.0" : v), `${name} version ${v}`);
        }
        if (hs) assert.ok(values(rs, "ssh_hassh_string").has(hs), `${name} hassh string`);
        if (hss) assert.ok(values(rs, "ssh_hassh_server_string").has(hss), `${name} hassh server string`);
      }
    }
  },
});

Deno.test("ssh: SSH-1, one-sided and non-SSH flows", { ignore: !HAVE_CAPTURES }, async () => {
  const v1 = [...(await records(new URL("sshv1.pcap", CAPTURES), ["ssh"])).values()].flat();
  const s1 = v1.find((r) => r.ssh_detected === true);
  assert.ok(s1);
  assert.equal(s1.ssh_version, "1.5");
  assert.equal(s1.ssh_client_software, "1.2.26");
  assert.equal(s1.ssh_hassh, null);
  assert.equal(s1.ssh_kex_packets, 2);
  assert.ok((s1.ssh_encrypted_packets as number) > 10);
  // Every DNS flow of that capture is not SSH.
  assert.ok(
    v1.filter((r) => r.protocol === 17).every((r) => r.ssh_detected === false && r.ssh_version === null),
  );

  const uni = [...(await records(new URL("ssh_unidirectional.pcap", CAPTURES), ["ssh"])).values()].flat();
  assert.equal(uni.length, 1);
  assert.equal(uni[0].ssh_server_version, "SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7");
  assert.equal(uni[0].ssh_client_version, null);
  assert.equal(uni[0].ssh_hassh_server, null);

  const full = [...(await records(new URL("ssh.pcapng", CAPTURES), ["ssh"])).values()].flat();
  assert.equal(full.length, 1);
  const r = full[0];
  assert.equal(r.ssh_client_software, "OpenSSH_7.6p1");
  assert.equal(r.ssh_server_software, "OpenSSH_8.9p1");
  assert.equal(r.ssh_kex_packets, 6); // KEXINIT x2, ECDH init/reply, NEWKEYS x2
  assert.ok((r.ssh_encrypted_packets as number) > 100);
  const names = sshExtractor.features.map((f) => f.name);
  assert.deepEqual(Object.keys(r).filter((k) => k.startsWith("ssh_")), names);
});

// ---------------------------------------------------------------------------------------------------------
// Direct driving: re-segmentation, reordering and fuzzing with real payloads

interface Seg {
  dir: 0 | 1;
  seq: number;
  flags: number;
  data: Uint8Array;
}

/** The segments of the first TCP stream of a capture, with absolute sequence numbers (needs tshark). */
function segments(path: string): Seg[] {
  const rows = tsharkRows([
    "-r",
    path,
    "-Y",
    "tcp.stream == 0",
    "-o",
    "tcp.relative_sequence_numbers:FALSE",
    "-T",
    "fields",
    "-e",
    "tcp.srcport",
    "-e",
    "tcp.seq",
    "-e",
    "tcp.flags",
    "-e",
    "tcp.payload",
  ]);
  const first = rows[0][0];
  return rows.map(([sp, seq, fl, pl]) => ({
    dir: sp === first ? 0 : 1,
    seq: Number(seq) >>> 0,
    flags: parseInt(fl, 16),
    data: hex(pl ?? ""),
  }));
}

function runSegments(segs: Seg[], srcPort: number, dstPort: number): FlowRecord {
  return driveSegments(segs, srcPort, dstPort).out;
}

/** The record of a flow of these segments, and the group's state after them. */
function driveSegments(segs: Seg[], srcPort: number, dstPort: number): { out: FlowRecord; state: SshState } {
  const flow = new FlowState();
  flow.protocol = 6;
  flow.srcPort = srcPort;
  flow.dstPort = dstPort;
  const st = sshExtractor.init(flow) as SshState;
  const p = new PacketView();
  for (const s of segs) {
    p.reset();
    p.proto = 6;
    p.tcpHdrLen = 20;
    p.tcpSeq = s.seq;
    p.tcpFlags = s.flags;
    p.buf = s.data;
    p.payloadOff = 0;
    p.payloadCapLen = s.data.length;
    p.payloadLen = s.data.length;
    sshExtractor.update(st, p, flow, s.dir);
  }
  const out: FlowRecord = {};
  sshExtractor.finish(st, flow, out);
  return { out, state: st };
}

/** Splits each segment into pieces of at most `size` bytes. */
function split(segs: Seg[], size: number): Seg[] {
  const out: Seg[] = [];
  for (const s of segs) {
    if (s.data.length <= size) {
      out.push(s);
      continue;
    }
    for (let o = 0; o < s.data.length; o += size) {
      out.push({ dir: s.dir, seq: (s.seq + o) >>> 0, flags: TCP.ACK, data: s.data.subarray(o, o + size) });
    }
  }
  return out;
}

/** Deterministic PRNG (mulberry32). */
Deno.test({
  name: "ssh: HASSH survives re-segmentation, reordering and retransmission",
  ignore: !HAVE_TSHARK || !HAVE_CAPTURES,
  fn() {
    const segs = segments(new URL("ssh.pcapng", CAPTURES).pathname);
    const base = runSegments(segs, 57377, 22);
    assert.equal(base.ssh_hassh, "06046964c022c6407d15a27b12a6a4fb");
    assert.equal(base.ssh_hassh_server, "699519fdcc30cbcd093d5cd01e4b1d56");
    for (const size of [1, 7, 100]) {
      const r = runSegments(split(segs.slice(0, 12), size), 57377, 22);
      assert.equal(r.ssh_hassh, base.ssh_hassh, `size ${size}`);
      assert.equal(r.ssh_hassh_server, base.ssh_hassh_server, `size ${size}`);
    }
    // Swap neighbouring pieces and duplicate some: the stream buffer restores the order.
    const rand = rng(7);
    const pieces = split(segs.slice(0, 12), 50);
    const shuffled: Seg[] = [];
    for (let i = 0; i < pieces.length; i++) {
      if (i + 1 < pieces.length && rand() < 0.3) {
        shuffled.push(pieces[i + 1], pieces[i]);
        i++;
      } else shuffled.push(pieces[i]);
      if (rand() < 0.1) shuffled.push(pieces[i]);
    }
    const r = runSegments(shuffled, 57377, 22);
    assert.equal(r.ssh_hassh, base.ssh_hassh);
    assert.equal(r.ssh_hassh_server, base.ssh_hassh_server);
  },
});

Deno.test({
  name: "ssh: mutated real packets never throw",
  ignore: !HAVE_TSHARK || !HAVE_CAPTURES,
  fn() {
    const names = ["ssh.pcapng", "ssh2-malformed.pcap", "sshv1.pcap", "ssh-r.pcap"];
    const all = names.map((n) => segments(new URL(n, CAPTURES).pathname).slice(0, 30));
    const rand = rng(12345);
    for (let iter = 0; iter < 400; iter++) {
      const src = all[iter % all.length];
      const segs = src.map((s) => {
        const d = s.data.slice();
        const mode = rand();
        if (d.length > 0 && mode < 0.5) {
          const flips = 1 + Math.floor(rand() * 8);
          for (let i = 0; i < flips; i++) d[Math.floor(rand() * d.length)] = Math.floor(rand() * 256);
        } else if (mode < 0.6) {
          return { ...s, data: d.subarray(0, Math.floor(rand() * (d.length + 1))) };
        } else if (mode < 0.65 && d.length >= 4) {
          d.set(
            [0xff, 0xff, 0xff, 0xff].map(() => Math.floor(rand() * 256)),
            Math.floor(rand() * (d.length - 3)),
          );
        }
        return { ...s, data: d, seq: rand() < 0.05 ? Math.floor(rand() * 2 ** 32) : s.seq };
      });
      const out = runSegments(segs, 40000, 22);
      assert.deepEqual(Object.keys(out), sshExtractor.features.map((f) => f.name));
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// Live loopback capture: ssh against a local sshd

async function waitFor(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

Deno.test({
  name: "ssh: loopback capture of ssh against a local sshd agrees with tshark",
  ignore: !IS_ROOT || !HAVE_TSHARK || !hasCommand("tcpdump") || !hasCommand("ssh") ||
    !hasCommand("ssh-keygen") ||
    !hasCommand("/usr/sbin/sshd"),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "jj_ssh_" });
    const port = freePort();
    const pcap = `${dir}/lo.pcap`;
    try {
      await new Deno.Command("ssh-keygen", {
        args: ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_key`],
        stdout: "null",
        stderr: "null",
      }).output();
      await Deno.writeTextFile(
        `${dir}/sshd_config`,
        [
          `Port ${port}`,
          "ListenAddress 127.0.0.1",
          `HostKey ${dir}/host_key`,
          `PidFile ${dir}/sshd.pid`,
          "UsePAM no",
          "StrictModes no",
          "PasswordAuthentication no",
          "KbdInteractiveAuthentication no",
          "",
        ].join("\n"),
      );
      await Deno.mkdir("/run/sshd", { recursive: true });
      const dump = await startTcpdump(pcap, `tcp port ${port}`);
      const sshd = new Deno.Command("/usr/sbin/sshd", {
        args: ["-D", "-f", `${dir}/sshd_config`, "-E", `${dir}/sshd.log`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const up = await waitFor(async () => {
        try {
          (await Deno.connect({ hostname: "127.0.0.1", port })).close();
          return true;
        } catch {
          return false;
        }
      }, 5000);
      if (up) {
        await new Deno.Command("ssh", {
          args: [
            "-p",
            String(port),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "jj-nobody@127.0.0.1",
            "true",
          ],
          stdout: "null",
          stderr: "null",
        }).output();
      }
      await new Promise((r) => setTimeout(r, 1000));
      sshd.kill("SIGTERM");
      await sshd.status;
      await dump.stop();
      assert.ok(up, "sshd did not start");

      const rows = tsharkRows([
        "-r",
        pcap,
        "-d",
        `tcp.port==${port},ssh`,
        "-Y",
        "ssh.kex.hassh || ssh.kex.hasshserver",
        "-T",
        "fields",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.dstport",
        "-e",
        "ssh.kex.hassh",
        "-e",
        "ssh.kex.hasshserver",
      ]);
      const want = new Map<string, { hassh?: string; server?: string }>();
      for (const [sp, dp, h, hs] of rows) {
        const k = canonicalKey(6, "127.0.0.1", Number(sp), "127.0.0.1", Number(dp));
        const w = want.get(k) ?? {};
        if (h) w.hassh = h;
        if (hs) w.server = hs;
        want.set(k, w);
      }
      assert.ok(want.size >= 1, "tshark saw no KEXINIT");
      const got = await records(pcap, ["ssh"]);
      for (const [k, w] of want) {
        const rs = got.get(k);
        assert.ok(rs, `no record for ${k}`);
        assert.ok(values(rs, "ssh_hassh").has(w.hassh), `hassh ${w.hassh}`);
        assert.ok(values(rs, "ssh_hassh_server").has(w.server), `hassh_server ${w.server}`);
        assert.ok([...values(rs, "ssh_client_software")].some((v) => String(v).startsWith("OpenSSH_")));
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "ssh: a server's lines before its banner (empty, UTF-8, 300 bytes long) agree with tshark",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Captured on lo: test servers that send lines before their identification string, then a real key
    // exchange (OpenSSH's client accepted each): preline_openssh.pcap, "\r\n" (port 2236) and "Überwachung
    // aktiv" (2237) against OpenSSH 9.2's client; greetings.pcap, "\r\n" (2228), a 300-byte line (2231), and an
    // empty software version (2230) and a dash in it (2232) as controls.
    const cases: [string, number[]][] = [
      ["preline_openssh.pcap", [2236, 2237]],
      ["greetings.pcap", [2228, 2230, 2231, 2232]],
    ];
    for (const [file, ports] of cases) {
      const path = `testdata/ssh_edge/${file}`;
      const got = [...(await records(path, ["ssh"])).values()].flat();
      const rows = tsharkRows([
        "-r",
        path,
        ...ports.flatMap((p) => ["-d", `tcp.port==${p},ssh`]),
        "-Y",
        "ssh",
        ...["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"],
        ...["tcp.srcport", "tcp.dstport", "ssh.protocol", "ssh.kex.hasshserver", "ssh.message_code"]
          .flatMap((f) => ["-e", f]),
      ]);
      for (const port of ports) {
        const r = got.find((r) => r.dst_port === port);
        assert.ok(r !== undefined, `${file}: no flow to ${port}`);
        const fromServer = rows.filter((row) => Number(row[0]) === port);
        const banner = fromServer.find((row) => row[2] !== "")?.[2] ?? null;
        const hasshServer = fromServer.find((row) => row[3] !== "")?.[3] ?? null;
        let kex = 0;
        for (const row of rows) {
          if (Number(row[0]) !== port && Number(row[1]) !== port) continue;
          for (const c of row[4].split("|")) if (c !== "" && Number(c) >= 20 && Number(c) <= 49) kex++;
        }
        assert.ok(
          banner !== null && hasshServer !== null,
          `${file} ${port}: tshark found the server's banner`,
        );
        assert.equal(r.ssh_server_version, banner, `${file} ${port} banner`);
        assert.equal(r.ssh_hassh_server, hasshServer, `${file} ${port} hassh server`);
        assert.equal(r.ssh_kex_packets, kex, `${file} ${port} kex packets`);
      }
    }
  },
});

Deno.test({
  name:
    "ssh: a KEXINIT or a banner's end that comes before the banner's start still gives the HASSH (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Real OpenSSH 9.2 bytes, reordered: both KEXINITs before both banners, or the client's banner's second half
    // (with its KEXINIT) before its first, each before the server said anything. The segments ahead of a
    // direction's first byte were judged "not SSH" and dropped.
    for (const file of ["kexinit_before_banners.pcap", "banner_halves_reordered.pcap"]) {
      const path = `testdata/ssh_edge/${file}`;
      const rows = tsharkRows([
        "-o",
        "tcp.reassemble_out_of_order:TRUE",
        "-r",
        path,
        "-Y",
        "ssh.kex.hassh || ssh.kex.hasshserver",
        "-T",
        "fields",
        "-e",
        "ssh.kex.hassh",
        "-e",
        "ssh.kex.hasshserver",
      ]);
      const hassh = rows.map((r) => r[0]).filter((x) => x !== "");
      const server = rows.map((r) => r[1]).filter((x) => x !== "");
      assert.equal(hassh.length, 1, `${file}: tshark read the client's KEXINIT`);
      assert.equal(server.length, 1, `${file}: tshark read the server's KEXINIT`);
      const [[r]] = [...(await records(path, ["ssh"])).values()];
      assert.equal(r.ssh_detected, true, file);
      assert.equal(r.ssh_hassh, hassh[0], file);
      assert.equal(r.ssh_hassh_server, server[0], file);
      assert.equal(r.ssh_client_version, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10", file);
    }
  },
});

Deno.test("ssh: a flow that is not SSH keeps no bytes, also when its first segment was not captured", () => {
  // An upload the server only acknowledges: 60 segments of 1400 bytes after the first, which says HTTP. Each was
  // kept "ahead of the first byte" (64 KiB per direction until the flow's end), and with the first segment lost
  // they were kept until the end too.
  const syn: Seg[] = [
    { dir: 0, seq: 1000, flags: TCP.SYN, data: new Uint8Array(0) },
    { dir: 1, seq: 5000, flags: TCP.SYN | TCP.ACK, data: new Uint8Array(0) },
  ];
  const body = (i: number): Seg => ({
    dir: 0,
    seq: 1101 + 1400 * i,
    flags: TCP.ACK,
    data: new Uint8Array(1400).fill(0x61),
  });
  const head: Seg = {
    dir: 0,
    seq: 1001,
    flags: TCP.ACK,
    data: enc.encode("POST /u HTTP/1.1\r\n".padEnd(100, "x")),
  };
  const upload = Array.from({ length: 60 }, (_, i) => body(i));
  const cases: [string, Seg[]][] = [["whole", [...syn, head, ...upload]], ["first lost", [
    ...syn,
    ...upload,
  ]]];
  for (const [label, segs] of cases) {
    const { out, state } = driveSegments(segs, 40000, 8080);
    assert.equal(out.ssh_detected, false, label);
    const held = (state.streams ?? []).reduce((a, st) => a + st.capacity, 0);
    assert.equal(held, 0, `${label}: bytes of storage held`);
  }
});

Deno.test("ssh: a server's text after a client whose first segment was not captured is not taken for SSH", () => {
  // The client's request lost its first segment; the rest, kept ahead of the first byte, still counts as the
  // client having spoken, so the server's reply (with an SSH banner in its body) is not read as lines before a
  // server's banner.
  const out = runSegments(
    [
      { dir: 0, seq: 1000, flags: TCP.SYN, data: new Uint8Array(0) },
      { dir: 1, seq: 5000, flags: TCP.SYN | TCP.ACK, data: new Uint8Array(0) },
      { dir: 0, seq: 1101, flags: TCP.ACK, data: enc.encode("Host: example\r\n\r\n") },
      {
        dir: 1,
        seq: 5001,
        flags: TCP.ACK,
        data: enc.encode("HTTP/1.1 200 OK\r\n\r\nSSH-2.0-OpenSSH_9.2p1\r\n"),
      },
    ],
    40000,
    8080,
  );
  assert.equal(out.ssh_detected, false);
  assert.equal(out.ssh_server_version, null);
});

Deno.test("ssh: a flow part that begins with the server's packets (sshd on 2222, no SYN) keeps client and server apart", async () => {
  // A real session to sshd on port 2222 whose times a review shifted, so that a 1 s idle timeout cuts it just
  // after the client's banner: the second part begins with the server's banner and KEXINIT, from its initiator.
  const file = `${ROOT}/testdata/ssh_edge/bannercut_2222.pcap`;
  const [whole] = (await collect(file, { features: ["ssh"] })).records;
  const parts = (await collect(file, { features: ["ssh"], idleTimeout: 1 })).records;
  const second = parts.find((r) => r.src_port === 2222 && r.ssh_server_version !== null);
  assert.ok(
    second,
    JSON.stringify(parts.map((r) => [r.src_port, r.ssh_client_version, r.ssh_server_version])),
  );
  assert.equal(second.ssh_server_version, whole.ssh_server_version);
  assert.equal(second.ssh_hassh_server, whole.ssh_hassh_server);
  // The client's banner is in the first part; its KEXINIT, the first bytes of its side here, is read as in a
  // capture that begins there (tshark reads it so).
  assert.deepEqual([second.ssh_client_version, second.ssh_hassh], [null, whole.ssh_hassh]);
});

Deno.test({
  name:
    "ssh: through an HTTP CONNECT proxy, after an ANSI-escaped greeting, and a key exchange reply never captured (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    const dir = `${ROOT}/testdata/ssh_edge`;
    const theirs = tsharkKex;
    const ours = async (file: string) => {
      const [r] = (await collect(file, { features: ["flow_meta", "ssh"] })).records;
      return r;
    };
    // ssh -o ProxyCommand through a CONNECT proxy on 3128: the client's CONNECT request, the proxy's 200, then
    // SSH both ways (not detected: the client's first bytes were not "SSH-").
    const proxy = await ours(`${dir}/http_connect_proxy.pcap`);
    assert.equal(proxy.ssh_detected, true);
    assert.deepEqual(
      [proxy.ssh_hassh, proxy.ssh_hassh_server, proxy.ssh_kex_packets],
      await theirs(`${dir}/http_connect_proxy.pcap`, 3128),
    );
    // A line starting with ESC [ 1 m before sshd's banner, sent before the client's (OpenSSH took it): the server
    // side was lost. tshark reads no line before a banner; the server is the same sshd as the proxy's.
    const escape = await ours(`${dir}/greeting_escape.pcap`);
    assert.deepEqual(
      [escape.ssh_server_version, escape.ssh_hassh_server, escape.ssh_kex_packets],
      [proxy.ssh_server_version, proxy.ssh_hassh_server, proxy.ssh_kex_packets],
    );
    // The server's KEX_ECDH_REPLY segment cut short (its rest never captured): a message counted from its header.
    const lost = await ours(`${dir}/kex_reply_lost.pcap`);
    assert.equal(lost.ssh_kex_packets, (await theirs(`${dir}/kex_reply_lost.pcap`, 2200))[2]);
  },
});

/** tshark's HASSH, HASSH-server and number of key exchange messages (codes 20-49) of a capture (SSH on `port`). */
async function tsharkKex(file: string, port = 22): Promise<(string | number | null)[]> {
  const rows = await tsharkFields(file, ["ssh.kex.hassh", "ssh.kex.hasshserver", "ssh.message_code"], [
    "-d",
    `tcp.port==${port},ssh`,
  ]);
  const pick = (i: number) => rows.map((r) => r[i]).find((v) => v !== "") ?? null;
  const codes = rows.flatMap((r) => r[2] === "" ? [] : r[2].split(/[,|]/).map(Number));
  return [pick(0), pick(1), codes.filter((c) => c >= 20 && c <= 49).length];
}

Deno.test({
  name:
    "ssh: after segments the capture missed, reading goes on at the next packet (tshark, and the whole capture)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // A review's: OpenSSH 9.2 between network namespaces, captured whole (loss_full, loss_mtu400_full: MTU 400,
    // so that each KEXINIT and the server's ECDH reply span several segments), then one frame removed with
    // editcap, as a capture that missed it. A gap that never filled stopped its direction for good: the
    // server's KEXINIT behind its lost banner gave no HASSH-server, and the messages after a lost one were not
    // counted, nor were the encrypted packets after them.
    const dir = `${ROOT}/testdata/ssh_edge`;
    const theirs = tsharkKex;
    const ours = async (file: string) => {
      const r = (await collect(`${dir}/${file}`, { features: ["ssh"] })).records.find((r) => r.ssh_detected)!;
      return [r.ssh_hassh, r.ssh_hassh_server, r.ssh_kex_packets, r.ssh_encrypted_packets];
    };
    const full = await ours("loss_full.pcap");
    assert.deepEqual(full.slice(0, 3), await theirs(`${dir}/loss_full.pcap`));
    // The server's banner (its KEXINIT comes in the next segment), the client's ECDH init, and, at MTU 400, the
    // third of the server's ECDH reply's four segments (the next starts inside it: the reply's length tells
    // where NEWKEYS begins; the reply itself is not counted, as tshark counts no message it could not
    // reassemble). As tshark reads them; no encrypted packet was among the frames removed.
    for (
      const [file, whole] of [
        ["loss_server_banner_missed.pcap", full],
        // Without the handshake's packets too: the server's first bytes seen are its KEXINIT.
        ["loss_nosyn_server_banner_missed.pcap", full],
        ["loss_dh_init_missed.pcap", full],
        ["loss_mtu400_reply_part_missed.pcap", await ours("loss_mtu400_full.pcap")],
      ] as const
    ) {
      const got = await ours(file);
      assert.deepEqual(got.slice(0, 3), await theirs(`${dir}/${file}`), file);
      assert.equal(got[3], whole[3], `${file}: encrypted packets`);
    }
    // The first of the client's KEXINIT's two segments: its second segment starts inside the KEXINIT, and the
    // client's next segment with its ECDH init. Every message but that KEXINIT is in the capture (tshark, which
    // takes the second segment for the start of a packet, reads none of the client's after it: 3).
    assert.deepEqual(await ours("loss_kexinit_head_missed.pcap"), [
      null,
      full[1],
      (full[2] as number) - 1,
      full[3],
    ]);
    // A tty session of 500 writes with the client's ECDH init missed (a second review's): while the direction
    // waited past its gap, more than 256 segments came, past what the group keeps of where they start, and 56
    // encrypted packets of 613 went uncounted. No encrypted packet was missed.
    const tty = await ours("tty500.pcap");
    assert.deepEqual(await ours("tty500_dh_init_missed.pcap"), [
      tty[0],
      tty[1],
      (tty[2] as number) - 1,
      tty[3],
    ]);
  },
});

Deno.test("ssh: a segment the capture stamps after its acknowledgement is waited for, not given up", async () => {
  // A review's: OpenSSH's client to dropbear on a link of MTU 400, and the same capture with a segment of the
  // client's KEXINIT moved to the 4th frame after the server's ACK of it (as capturing on two queues can stamp
  // it), no byte removed. Giving the gap up 4 packets after the acknowledgement lost the HASSH and a message.
  const read = async (file: string) => {
    const r = (await collect(`${ROOT}/testdata/ssh_edge/${file}`, { features: ["ssh"] })).records.find((r) =>
      r.ssh_detected
    )!;
    return [r.ssh_hassh, r.ssh_hassh_server, r.ssh_kex_packets, r.ssh_encrypted_packets];
  };
  const whole = await read("dropbear_mtu400.pcap");
  assert.equal(typeof whole[0], "string");
  assert.deepEqual(await read("dropbear_mtu400_kexinit_late.pcap"), whole);
});

Deno.test("ssh: segments the snapshot length cut are passed over by their packets' lengths, and reading goes on", async () => {
  // A review's: ssh to a local sshd between network namespaces, captured with tcpdump -s 200 and -s 96. A cut
  // KEXINIT stopped its direction (ssh_kex_packets and ssh_encrypted_packets 0, where NEWKEYS and 9 packets
  // after it are in the capture: tshark reads the client's NEWKEYS), and a banner cut before its CR LF made the
  // flow not SSH (tshark reads "SSH-2.0-OpenSSH_9.2p1 Debian-" at -s 96).
  const read = async (file: string) =>
    (await collect(file, { features: ["ssh"] })).records.filter((r) => r.ssh_detected).map((r) => [
      r.ssh_kex_packets,
      r.ssh_encrypted_packets,
      r.ssh_version,
      r.ssh_client_software,
      r.ssh_server_software,
    ]);
  // Per flow: the KEXINITs and the client's ECDH_INIT and NEWKEYS counted by the message number captured (the
  // server's NEWKEYS came in the bytes the cut left out), and the client's 9 packets after its NEWKEYS.
  const both = [5, 9, "2.0", "OpenSSH_9.2p1", "OpenSSH_9.2p1"];
  assert.deepEqual(await read("testdata/ssh_edge/live_snap200.pcap"), [both, both]);
  assert.deepEqual(await read("testdata/ssh_edge/live_snap96.pcap"), [both, both]);
  // The same capture with each side's cut KEXINIT segments swapped (the second first): the cuts are passed over
  // once the stream reaches them (the direction stopped at the first one, 0 and 0).
  assert.deepEqual(await read("testdata/ssh_edge/live_snap200_reordered.pcap"), [both, both]);
  // At -s 80 the banner is cut inside the software version ("SSH-2.0-OpenSS"): the version is known, the
  // software not.
  const [cut] = (await collect("testdata/dns_edge/ns_snap80.pcap", { features: ["ssh"] })).records
    .filter((r) => r.ssh_detected);
  assert.deepEqual([cut.ssh_version, cut.ssh_client_software, cut.ssh_server_software], ["2.0", null, null]);
  if (HAVE_TSHARK) {
    const banners = tsharkRows([
      ...[
        "-r",
        "testdata/ssh_edge/live_snap96.pcap",
        "-Y",
        "ssh.protocol",
        "-T",
        "fields",
        "-e",
        "ssh.protocol",
      ],
    ]);
    assert.equal(banners.length, 4);
    for (const [b] of banners) assert.match(b, /^SSH-2\.0-OpenSSH_9\.2p1 /);
  }
});

Deno.test("ssh: a segment holding NEWKEYS sent again is not an encrypted packet (client's and server's)", async () => {
  // A real session with one frame repeated (testdata/README.md). The copy starts before the end of NEWKEYS, as
  // the first did: it was counted as encrypted once the direction had switched (18 for 17). The capture with the
  // copy taken out is the reference.
  for (const name of ["newkeys_sent_again_client.pcap", "newkeys_sent_again_server.pcap"]) {
    const file = `testdata/ssh_edge/${name}`;
    const bytes = await Deno.readFile(file);
    const recs = pcapRecords(bytes);
    const body = (i: number) => bytes.subarray(recs[i].offset + 16, recs[i].offset + 16 + recs[i].capLen);
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, k) => x === b[k]);
    const copy = recs.findIndex((_, i) => i > 0 && same(body(i), body(i - 1)));
    assert.ok(copy > 0, `${name}: the repeated frame`);
    const without = concat(
      bytes.subarray(0, recs[copy].offset),
      bytes.subarray(recs[copy].offset + 16 + recs[copy].capLen),
    );
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/without.pcap`, without);
      const [want] = (await collect(`${dir}/without.pcap`, { features: ["ssh"] })).records;
      const [got] = (await collect(file, { features: ["ssh"] })).records;
      assert.ok((want.ssh_encrypted_packets as number) > 10, name);
      assert.deepEqual(
        [got.ssh_encrypted_packets, got.ssh_kex_packets],
        [want.ssh_encrypted_packets, want.ssh_kex_packets],
        name,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
