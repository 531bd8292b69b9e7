/**
 * Traffic crafted to show a monitor other bytes than the receiver reads (`testdata/evasion/`): a raw client sent
 * segments out of order, overlapping with other data, to a Linux server in another network namespace, which
 * logged the bytes it received. jj must report what the server read: a ClientHello naming `real.example.com`
 * (a second one naming `fake.example.com` was sent too), or an HTTP request for `real.example.com`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { TcpStreamBuffer } from "../lib/protocols/tcp_stream.ts";
import { collect, HAVE_TSHARK, ROOT, runCli, tsharkRows } from "./helpers.ts";

const dir = `${ROOT}/testdata/evasion`;

/** The capture's bytes hold both names: each test can tell which one jj took. */
async function holdsBoth(path: string): Promise<void> {
  const text = new TextDecoder("latin1").decode(await Deno.readFile(path));
  assert.ok(/real\.ex/.test(text) && /fake\.ex/.test(text), path);
}

/** tshark's server name and JA3 of each ClientHello, with its reassembly of out-of-order segments on. */
function tsharkHellos(path: string): string[][] {
  return tsharkRows([
    ...[
      "-r",
      path,
      "-o",
      "tcp.reassemble_out_of_order:TRUE",
      "-Y",
      "tls.handshake.type == 1",
      "-T",
      "fields",
    ],
    ...["-e", "tls.handshake.extensions_server_name", "-e", "tls.handshake.ja3"],
  ]);
}

/** The record of the connection (the captures also hold a stray retransmission of an earlier one's server). */
async function record(file: string, features: string[]) {
  const path = `${dir}/${file}`;
  await holdsBoth(path);
  const { records } = await collect(path, { features: ["flow_meta", ...features] });
  const r = records.filter((x) => (x.total_packets as number) > 1);
  assert.equal(r.length, 1, file);
  return r[0];
}

Deno.test("evasion: 50 KB sent ahead of the ClientHello, a fake hello first among them: the server's hello is read", async () => {
  // The bytes after the hole passed the point where a hole is given up (48 KiB): the fake ClientHello at their
  // start was taken as the stream's, though the server's acknowledgements showed it still waited for the hole.
  const r = await record("tlsgap.pcap", ["tls"]);
  assert.equal(r.tls_sni, "real.example.com");
  const fp = await runCli(["fingerprint", `${dir}/tlsgap.pcap`]);
  assert.equal(fp.code, 0);
  assert.match(fp.stdout, /"sni":"real\.example\.com"/);
  assert.doesNotMatch(fp.stdout, /fake\.example\.com/);
});

Deno.test("evasion: an HTTP request's body sent before its head (24 KB and more) still shows the request", async () => {
  // Its first bytes were taken as lost before the capture: every HTTP column was null.
  const r = await record("gapskip.pcap", ["http2"]);
  assert.deepEqual(
    [r.http_method, r.http_host, r.http_uri, r.http_user_agent],
    ["POST", "real.example.com", "/upload", "curl/8.0"],
  );
});

Deno.test("evasion: overlapping out-of-order segments: the bytes a Linux receiver keeps (tshark agrees on ooo2)", async () => {
  // ooo2: fake [100, 300), then real [50, 340) covering it, then [0, 50). ooo: fake [50, 300), then real
  // [50, 340), the same start and longer. httpooo: fake [30, 50), then real [20, end), then [0, 20). Linux's
  // out-of-order queue drops a segment that a later one starting no later covers; the first copy was kept.
  // ooo3: fake [30, 40), real [20, 30), real [25, 45), the rest: Linux does not join [20, 30) to the segment
  // after it, so [25, 45) starts before the fake one and replaces it.
  const cases: [string, string][] = [
    ["ooo2.pcap", "tls"],
    ["ooo.pcap", "tls"],
    ["httpooo.pcap", "http2"],
    ["ooo3.pcap", "http2"],
  ];
  for (const [file, group] of cases) {
    const r = await record(file, [group]);
    assert.equal(r.tls_sni ?? r.http_host, "real.example.com", file);
  }
  if (HAVE_TSHARK) {
    const rows = tsharkHellos(`${dir}/ooo2.pcap`);
    assert.deepEqual(rows.map((x) => x[0]), ["real.example.com"]);
  }
});

Deno.test("evasion: a ClientHello sent as every other 4-byte segment first (43 holes) is read whole", async () => {
  const path = `${dir}/ranges.pcap`;
  const { records } = await collect(path, { features: ["tls"] });
  assert.equal(records.length, 1);
  // Past 32 disjoint ranges, segments were dropped for good (the server acknowledged them): no name, no JA3.
  assert.equal(records[0].tls_sni, "real.example.com");
  assert.equal(typeof records[0].ja3_hash, "string");
  if (HAVE_TSHARK) {
    const rows = tsharkHellos(path);
    assert.deepEqual(rows, [["real.example.com", records[0].ja3_hash]]);
  }
});

Deno.test("evasion: a ClientHello in a record of version 0x0305 or 0x03ff (OpenSSL answers it) is read", async () => {
  // tshark passes such a record over, and so did jj: no server name, JA3 or JA4, a one-byte way to hide them.
  const [plain] = (await collect(`${dir}/ranges.pcap`, { features: ["tls"] })).records;
  for (const [file, version] of [["recver_0305.pcap", 0x0305], ["recver_03ff.pcap", 0x03ff]] as const) {
    const { records } = await collect(`${dir}/${file}`, { features: ["tls"] });
    assert.equal(records.length, 1, file);
    const r = records[0];
    assert.deepEqual(
      [r.tls_sni, r.tls_record_version, r.ja3_hash, r.ja4, r.tls_cipher_suite],
      ["real.example.com", version, plain.ja3_hash, plain.ja4, 0x1302],
      file,
    );
  }
});

/** The bytes in order after segments `[seq, length, fill]` pushed in turn into a stream starting at 0. */
function delivered(...segments: [number, number, number][]): number[] {
  const s = new TcpStreamBuffer(1024);
  s.setInitialSeq(0);
  for (const [seq, n, v] of segments) s.push(seq, new Uint8Array(n).fill(v), 0, n);
  return Array.from(s.data.subarray(s.offset, s.offset + s.available));
}

const run = (n: number, v: number): number[] => new Array(n).fill(v);

Deno.test("tcp_stream: overlapping copies keep the bytes a Linux receiver delivers", () => {
  // A later segment starting earlier and covering an out-of-order one replaces it.
  assert.deepEqual(delivered([10, 10, 1], [5, 20, 2], [0, 5, 3]), [...run(5, 3), ...run(20, 2)]);
  // The same start: the later one when at least as long; a shorter one is dropped.
  assert.deepEqual(
    delivered([10, 10, 1], [10, 10, 2], [10, 5, 3], [0, 10, 4]),
    [...run(10, 4), ...run(10, 2)],
  );
  // Starting inside an out-of-order range: that range's bytes stay, the rest is the new segment's.
  assert.deepEqual(
    delivered([10, 10, 1], [15, 10, 2], [0, 10, 4]),
    [...run(10, 4), ...run(10, 1), ...run(5, 2)],
  );
  // A segment that ends where an earlier-sent one starts stays apart from it: which bytes win depends on the
  // start of the segment that wrote them.
  assert.deepEqual(
    delivered([30, 10, 1], [20, 10, 2], [25, 20, 3], [0, 20, 4]),
    [...run(20, 4), ...run(10, 2), ...run(15, 3)],
  );
  // Bytes already in order are never replaced; past them the new copy wins over waiting ones.
  assert.deepEqual(delivered([0, 10, 1], [12, 4, 2], [5, 10, 3]), [...run(10, 1), ...run(5, 3), 2]);
  // A shorter copy at the first byte of a range that follows another one it touches: dropped (a review of this
  // stop's change found it written over the range, looking at the range before only).
  assert.deepEqual(
    delivered([20, 10, 1], [10, 10, 2], [20, 5, 3], [0, 10, 4]),
    [...run(10, 4), ...run(10, 2), ...run(10, 1)],
  );
});

Deno.test("evasion: a shorter copy at the start of an out-of-order range that touches another: the server's bytes", async () => {
  // A review's, on a Linux server in a network namespace (a raw client's segments, the server and its
  // handshake real): [20, 30) out of order, then [10, 20), then a shorter [20, 25) with other bytes. The TLS
  // server's SNI callback saw realname.example (tshark too); the HTTP server logged the request's AAAAA.
  const only = async (file: string, group: string) => {
    const { records } = await collect(`${dir}/${file}`, { features: ["flow_meta", group] });
    const r = records.filter((x) => (x.total_packets as number) > 1);
    assert.equal(r.length, 1, file);
    return r[0];
  };
  assert.equal((await only("adjacent_tls.pcap", "tls")).tls_sni, "realname.example");
  const http = await only("adjacent_http.pcap", "http2");
  assert.equal(http.http_uri, "/abcdefghijklmnoAAAAAAAAAAzabcdefghijklmn");
  if (HAVE_TSHARK) {
    assert.deepEqual(tsharkHellos(`${dir}/adjacent_tls.pcap`).map((x) => x[0]), ["realname.example"]);
  }
});

Deno.test("tcp_stream: a gap is awaited while the receiver's acknowledgements stop at it", () => {
  const s = new TcpStreamBuffer(1024);
  s.setInitialSeq(1000);
  s.push(1010, new Uint8Array(5), 0, 5);
  assert.equal(s.gapAwaited, false); // no acknowledgement seen: nothing tells
  s.noteAck(1000);
  assert.equal(s.gapAwaited, true);
  s.noteAck(990); // an older one changes nothing
  assert.equal(s.gapAwaited, true);
  s.noteAck(1012); // the receiver had the bytes: the capture missed them
  assert.equal(s.gapAwaited, false);
  // Past 2^32.
  const w = new TcpStreamBuffer(1024);
  w.setInitialSeq(0xfffffff0);
  w.push(0x00000005, new Uint8Array(5), 0, 5);
  w.noteAck(0xfffffff0);
  assert.equal(w.gapAwaited, true);
  w.noteAck(0x00000001);
  assert.equal(w.gapAwaited, false);
});
