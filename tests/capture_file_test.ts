/**
 * The built-in reader's buffering: records cut by the end of a read (at every possible place, as reads of any
 * size leave them), records longer than the room kept for a cut record and longer than a whole read buffer, and
 * the next read running while a buffer is walked. The packets must come out the same whatever the read sizes,
 * and the same as libpcap reads them.
 *
 * @module
 */
import * as assert from "node:assert/strict";
import * as fc from "fast-check";
import { type ByteReader, packetTimeval, readCapture, whereCaptureEnds } from "../lib/capture_file.ts";
import { PcapOfflineReader, tryLoadLibpcap } from "../ffi/libpcap.ts";
import {
  type CapPacket,
  CAPTURES,
  chunkedReader,
  concat,
  ethernet,
  hasCommand,
  HAVE_CAPTURES,
  ipv4,
  pcapFile,
  pcapngFile,
  ROOT,
  tsharkFields,
  udp,
} from "./helpers.ts";

/** One packet as the reader handed it over: time, lengths, link type and a hash of the bytes. */
type Seen = [number, number, number, number, number];

function fnv(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

async function readAll(
  input: ByteReader,
): Promise<{ seen: Seen[]; warning: string | null; bytes: number; packets: number; error?: string }> {
  const seen: Seen[] = [];
  try {
    const r = await readCapture(input, (ts, buf, off, capLen, wireLen, link) => {
      seen.push([ts, capLen, wireLen, link, fnv(buf, off, capLen)]);
    });
    return { seen, warning: r.warning, bytes: r.bytes, packets: r.packets };
  } catch (e) {
    // A capture cut inside its first header is an error, which must not depend on the read sizes either.
    return { seen, warning: null, bytes: 0, packets: 0, error: String(e) };
  }
}

function viaLibpcap(path: string): Seen[] {
  const seen: Seen[] = [];
  const reader = PcapOfflineReader.open(path);
  try {
    for (;;) {
      const r = reader.run((ts, buf, off, capLen, wireLen, link) => {
        seen.push([ts, capLen, wireLen, link, fnv(buf, off, capLen)]);
      }, 65536);
      if (r.error) throw new Error(r.error);
      if (r.packets === 0) break;
    }
  } finally {
    reader.close();
  }
  return seen;
}

/** Bytes with a recognisable pattern, different for each packet. */
function payload(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

/** Small packets around records of 300 KiB (past the 256 KiB kept for a cut record) and 9 MiB (past a buffer). */
const PACKETS: CapPacket[] = [
  ...[60, 1514, 40].map((n, i) => ({ ts: 1000 + i, data: payload(n, i) })),
  { ts: 1003.5, data: payload(300 << 10, 3) },
  ...Array.from({ length: 50 }, (_, i) => ({ ts: 1004 + i / 100, data: payload(64 + i * 7, 10 + i) })),
  { ts: 1005.25, data: payload(9 << 20, 4), wireLen: (9 << 20) + 100 },
  ...[1514, 60].map((n, i) => ({ ts: 1006 + i, data: payload(n, 90 + i) })),
];
/** A snapshot length that lets the large records through (past both it and 256 KiB, a record is corrupt). */
const BIG_SNAPLEN = 16 << 20;
const WANT: Seen[] = PACKETS.map((
  p,
) => [p.ts, p.data.length, p.wireLen ?? p.data.length, 1, fnv(p.data, 0, p.data.length)]);

Deno.test("built-in reader: records longer than a read buffer, cut by reads of every size, pcap and pcapng", async () => {
  const pcap = pcapFile(1, PACKETS, { snaplen: BIG_SNAPLEN });
  for (const [what, file] of [["pcap", pcap], ["pcapng", pcapngFile(1, PACKETS)]] as const) {
    for (
      const sizes of [[file.length], [4 << 20], [7, 4096, 1], [1, 2, 3, 65536], [65535, 3], [
        (256 << 10) + 1,
        5 << 20,
      ]]
    ) {
      const r = await readAll(chunkedReader(file, sizes));
      assert.deepEqual(r.seen, WANT, `${what}, reads of ${sizes.join(",")} bytes`);
      assert.equal(r.warning, null);
      assert.equal(r.bytes, file.length);
    }
  }
});

Deno.test("built-in reader: from a file, with the next read in flight while a buffer is walked; as libpcap reads it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Three copies: about 28 MB, so that reads run ahead over several buffers.
    const packets = [
      ...PACKETS,
      ...PACKETS.map((p) => ({ ...p, ts: p.ts + 10 })),
      ...PACKETS.map((p) => ({ ...p, ts: p.ts + 20 })),
    ];
    // As a classic pcap stores the times: whole seconds and microseconds.
    const stored = (ts: number) => Math.floor(ts) + Math.round((ts - Math.floor(ts)) * 1e6) / 1e6;
    const want = packets.map((p): Seen => [
      stored(p.ts),
      p.data.length,
      p.wireLen ?? p.data.length,
      1,
      fnv(p.data, 0, p.data.length),
    ]);
    const path = `${dir}/big.pcap`;
    await Deno.writeFile(path, pcapFile(1, packets, { snaplen: BIG_SNAPLEN }));
    const file = await Deno.open(path);
    const r = await readAll(file);
    file.close();
    assert.deepEqual(r.seen, want);
    // libpcap refuses records past 256 KiB whatever the file's snapshot length: it reads a 12 MB file of
    // ordinary packets instead, for an independent view of buffer ends.
    if (tryLoadLibpcap() !== null) {
      const small = Array.from(
        { length: 16000 },
        (_, i) => ({ ts: 2000 + i / 1000, data: payload(40 + (i * 37) % 1475, i) }),
      );
      const smallPath = `${dir}/small.pcap`;
      await Deno.writeFile(smallPath, pcapFile(1, small));
      const f2 = await Deno.open(smallPath);
      const mine = await readAll(f2);
      f2.close();
      assert.equal(mine.seen.length, small.length);
      assert.deepEqual(mine.seen, viaLibpcap(smallPath));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("built-in reader (fast-check): real captures read alike whatever the read sizes; a cut capture warns at the same offset", async () => {
  const names = ["http.pcap", "sll2.pcap"].map((n) => `${ROOT}/testdata/${n}`);
  if (HAVE_CAPTURES) {
    for (const n of ["tls3.pcapng", "ipv6.pcapng", "gre-erspan-vxlan.pcap", "dns.pcap"]) {
      names.push(`${CAPTURES}/${n}`);
    }
  }
  const files = await Promise.all(names.map((n) => Deno.readFile(n)));
  const whole = await Promise.all(files.map((f) => readAll(chunkedReader(f, [f.length]))));
  for (const w of whole) assert.ok(w.packets > 0);
  const sizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 300_000 })), {
    minLength: 1,
    maxLength: 8,
  });
  await fc.assert(
    fc.asyncProperty(
      fc.nat(files.length - 1),
      sizes,
      fc.double({ min: 0, max: 1, noNaN: true }),
      async (i, s, cutAt) => {
        assert.deepEqual(await readAll(chunkedReader(files[i], s)), whole[i]);
        // Cut: the packets before the cut, and a warning with the offset, the same as one read of it gives.
        const cut = files[i].subarray(0, 24 + Math.floor(cutAt * (files[i].length - 24)));
        const once = await readAll(chunkedReader(cut, [cut.length]));
        assert.deepEqual(await readAll(chunkedReader(cut, s)), once);
        assert.ok(once.seen.length <= whole[i].seen.length);
        const complete = Math.max(0, once.seen.length - 1);
        assert.deepEqual(once.seen.slice(0, complete), whole[i].seen.slice(0, complete));
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("built-in reader: a pipe is read no further than a corrupt record (no read left waiting on its writer)", async () => {
  const good = pcapFile(1, PACKETS.slice(0, 3));
  const corrupt = new Uint8Array(16);
  new DataView(corrupt.buffer).setUint32(8, 0x7fffffff, true); // captured length past any record
  const data = new Uint8Array(good.length + 16 + (1 << 20));
  data.set(good);
  data.set(corrupt, good.length);
  let handedOut = 0;
  const inner = chunkedReader(data, [100]);
  const pipe: ByteReader = {
    async read(p: Uint8Array): Promise<number | null> {
      const n = await inner.read(p);
      handedOut += n ?? 0;
      return n;
    },
  };
  const r = await readAll(pipe);
  assert.equal(r.packets, 3);
  assert.match(r.warning ?? "", new RegExp(`corrupt pcap record .* at byte offset ${good.length}$`));
  // The read that brought the corrupt header is the last one.
  assert.ok(handedOut <= good.length + 16 + 100, `${handedOut} bytes read`);
});

/** A pcapng block: type, body (padded to 4 bytes), both length words (`lengthAtEnd` to corrupt the second). */
function ngBlock(type: number, body: Uint8Array, lengthAtEnd?: number): Uint8Array {
  const len = 12 + ((body.length + 3) & ~3);
  const b = new Uint8Array(len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, len, true);
  b.set(body, 8);
  dv.setUint32(len - 4, lengthAtEnd ?? len, true);
  return b;
}

const ngHeader = (): Uint8Array => {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, 0x1a2b3c4d, true);
  dv.setUint16(4, 1, true);
  dv.setBigInt64(8, -1n, true);
  return ngBlock(0x0a0d0d0a, body);
};

/** An interface block (Ethernet, microseconds), with if_tsoffset when given. */
function ngInterface(tsOffset?: bigint): Uint8Array {
  const body = new Uint8Array(8 + (tsOffset === undefined ? 0 : 16));
  const dv = new DataView(body.buffer);
  dv.setUint16(0, 1, true);
  dv.setUint32(4, 262144, true);
  if (tsOffset !== undefined) {
    dv.setUint16(8, 14, true);
    dv.setUint16(10, 8, true);
    dv.setBigInt64(12, tsOffset, true);
  }
  return ngBlock(1, body);
}

function ngPacket(iface: number, ts: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(20 + data.length);
  const dv = new DataView(body.buffer);
  const ticks = BigInt(Math.round(ts * 1e6));
  dv.setUint32(0, iface, true);
  dv.setUint32(4, Number(ticks >> 32n), true);
  dv.setUint32(8, Number(ticks & 0xffffffffn), true);
  dv.setUint32(12, data.length, true);
  dv.setUint32(16, data.length, true);
  body.set(data, 20);
  return ngBlock(6, body);
}

function ngSimple(data: Uint8Array): Uint8Array {
  const body = new Uint8Array(4 + data.length);
  new DataView(body.buffer).setUint32(0, data.length, true);
  body.set(data, 4);
  return ngBlock(3, body);
}

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

async function readBytes(bytes: Uint8Array) {
  const seen: Seen[] = [];
  const r = await readCapture(chunkedReader(bytes, [bytes.length]), (ts, buf, off, capLen, wireLen, link) => {
    seen.push([ts, capLen, wireLen, link, fnv(buf, off, capLen)]);
  });
  return { r, seen };
}

Deno.test("built-in reader: corrupt length words stop at the block's own offset, as tshark and libpcap do", async () => {
  const pkts = [0, 1, 2, 3].map((i) => ngPacket(0, 1000 + i, payload(60 + i, i)));
  const head = cat(ngHeader(), ngInterface());
  // The third packet block's end length disagrees with its start (a length raised by corruption): the two
  // before it are read, and the warning names its offset, not one past garbage.
  const bad = ngBlock(6, pkts[2].subarray(8, pkts[2].length - 4), 0x12345678);
  const at = head.length + pkts[0].length + pkts[1].length;
  let { r, seen } = await readBytes(cat(head, pkts[0], pkts[1], bad, pkts[3]));
  assert.equal(seen.length, 2);
  assert.match(r.warning ?? "", new RegExp(`corrupt pcapng block .* at byte offset ${at}$`));
  // A packet block too short for its fields, at the very end of the first read buffer (it threw a RangeError
  // there: a usage error, exit 2, nothing written).
  const filler = ngBlock(0x0bad, new Uint8Array((4 << 20) - 12 - head.length - pkts[0].length - 12));
  const short = ngBlock(6, new Uint8Array(0));
  const bytes = cat(head, pkts[0], filler, short);
  assert.equal(bytes.length, 4 << 20);
  ({ r, seen } = await readBytes(bytes));
  assert.equal(seen.length, 1);
  assert.match(r.warning ?? "", new RegExp(`type 6, length 12.* at byte offset ${(4 << 20) - 12}$`));
  // A classic pcap record longer than both the snapshot length and 256 KiB is corrupt (tshark: "bigger than
  // the maximum of 262144"); it was taken as a 300 KB packet and the warning came at the next record.
  const three = pcapFile(1, [0, 1, 2].map((i) => ({ ts: 1000 + i, data: payload(60, i) })), {
    snaplen: 65535,
  });
  const recAt = 24 + 2 * (16 + 60);
  const corrupt = cat(three, new Uint8Array(300000));
  new DataView(corrupt.buffer).setUint32(recAt + 8, 300000, true);
  ({ r, seen } = await readBytes(corrupt));
  assert.equal(seen.length, 2);
  assert.match(r.warning ?? "", new RegExp(`captured length 300000\\) at byte offset ${recAt}$`));
  // Whatever the header's snapshot length says, past 16 MiB a record is corrupt (not gathered to the input's end).
  const anySnap = three.slice();
  new DataView(anySnap.buffer).setUint32(16, 0xffffffff, true);
  new DataView(anySnap.buffer).setUint32(recAt + 8, 100 << 20, true);
  ({ r, seen } = await readBytes(anySnap));
  assert.match(
    r.warning ?? "",
    new RegExp(`corrupt pcap record \\(captured length ${100 << 20}\\) at byte offset ${recAt}$`),
  );
});

Deno.test("built-in reader: if_tsoffset, the link type's FCS flags, a simple packet block's time; unreadable blocks counted and named", async () => {
  const frame = (i: number) => payload(60, i);
  // if_tsoffset adds whole seconds to the interface's times (tshark, tcpdump and libpcap: 1.7e9).
  let { r, seen } = await readBytes(
    cat(ngHeader(), ngInterface(1_000_000_000n), ngPacket(0, 700_000_000.5, frame(0))),
  );
  assert.deepEqual(seen.map((s) => s[0]), [1_700_000_000.5]);
  // To the whole seconds, before the fraction (libpcap's order): added after, it rounded the time once more
  // (0.0005129999999553547 for libpcap's and tshark's 0.000513).
  ({ r, seen } = await readBytes(cat(ngHeader(), ngInterface(-1000n), ngPacket(0, 1000.000513, frame(0)))));
  assert.deepEqual(seen.map((s) => s[0]), [0.000513]);
  // A simple packet block has no time: it takes the packet's before it (it was 0, a flow of its own).
  ({ r, seen } = await readBytes(
    cat(
      ngHeader(),
      ngInterface(),
      ngPacket(0, 1000, frame(0)),
      ngSimple(frame(1)),
      ngPacket(0, 1001, frame(2)),
    ),
  ));
  assert.deepEqual(seen.map((s) => s[0]), [1000, 1000, 1001]);
  // Packet blocks that cannot be read are skipped, each counted and named with its offset; reading goes on.
  const head = cat(ngHeader(), ngInterface());
  const p0 = ngPacket(0, 1000, frame(0)),
    stray = ngPacket(5, 1001, frame(1)),
    p2 = ngPacket(0, 1002, frame(2));
  ({ r, seen } = await readBytes(cat(head, p0, stray, p2)));
  assert.equal(seen.length, 2);
  assert.equal(r.warning, null);
  assert.equal(r.skippedBlocks, 1);
  assert.deepEqual(r.notes, [
    `packet block of interface 5, which no interface block described, at byte offset ${
      head.length + p0.length
    }`,
  ]);
  ({ r, seen } = await readBytes(cat(ngHeader(), ngSimple(frame(0)), ngSimple(frame(1)))));
  assert.equal(seen.length, 0);
  assert.equal(r.skippedBlocks, 2);
  // The link type is the low 16 bits of a pcap header's field: 0x24000001 is Ethernet with a 4-byte FCS
  // flag (it was "unsupported link type 67108865").
  const fcs = pcapFile(1, [{ ts: 1000, data: frame(0) }]);
  new DataView(fcs.buffer).setUint32(20, 0x24000001, true);
  ({ r, seen } = await readBytes(fcs));
  assert.deepEqual(r.linkTypes, [1]);
  assert.equal(seen[0][3], 1);
});

Deno.test({
  name: "pcap format 2.2 (record lengths the other way round) reads as tshark reads it",
  ignore: !hasCommand("tshark"),
  async fn() {
    // Five 100-byte frames captured at 68 bytes, written as libpcap before 2.3 did: original length first.
    const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 2000, new Uint8Array(58))));
    const head = new DataView(new ArrayBuffer(24));
    head.setUint32(0, 0xa1b2c3d4, true);
    head.setUint16(4, 2, true);
    head.setUint16(6, 2, true);
    head.setUint32(16, 68, true);
    head.setUint32(20, 1, true);
    const parts: Uint8Array[] = [new Uint8Array(head.buffer)];
    for (let i = 0; i < 5; i++) {
      const rec = new DataView(new ArrayBuffer(16));
      rec.setUint32(0, 1700000000 + i, true);
      rec.setUint32(8, frame.length, true);
      rec.setUint32(12, 68, true);
      parts.push(new Uint8Array(rec.buffer), frame.subarray(0, 68));
    }
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/v22.pcap`;
      await Deno.writeFile(path, concat(...parts));
      const theirs = await tsharkFields(path, ["frame.len", "frame.cap_len"]);
      const ours: number[][] = [];
      const file = await Deno.open(path);
      const r = await readCapture(file, (_ts, _b, _o, capLen, wireLen) => void ours.push([wireLen, capLen]));
      file.close();
      assert.equal(r.warning, null);
      assert.deepEqual(ours, theirs.map((row) => row.map(Number)));
      assert.deepEqual(ours[0], [100, 68]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "built-in reader: the timeval of a pcapng interface counting in 2^-30 s is the exact time cut to the " +
    "microsecond, as tshark's time and libpcap's",
  ignore: !hasCommand("tshark"),
  async fn() {
    // A real tcpdump capture (nanosecond) written again with if_tsresol 0x80|30 (the pcapng review): the
    // microseconds came from the time as a double, a microsecond off either way near a whole one (6 of 82).
    const path = `${ROOT}/testdata/reader_edge/tsresol_2p30.pcapng`;
    const ours: string[] = [];
    const file = await Deno.open(path);
    try {
      await readCapture(
        file,
        () => void ours.push(`${packetTimeval[0]}.${String(packetTimeval[1]).padStart(6, "0")}`),
      );
    } finally {
      file.close();
    }
    // tshark's time to the nanosecond, cut to the microsecond as text.
    const want = (await tsharkFields(path, ["frame.time_epoch"])).map(([t]) =>
      t.slice(0, t.indexOf(".") + 7)
    );
    assert.equal(want.length, 82);
    assert.deepEqual(ours, want);
    const pcap = tryLoadLibpcap();
    if (pcap === null) return;
    // libpcap's own, cut to the microsecond as Joy's reading through it cuts them.
    const libpcapTimes: string[] = [];
    const reader = PcapOfflineReader.open(path);
    try {
      reader.run((ts, _b, _o, _c, _w, _l, nsec = 0) => {
        libpcapTimes.push(
          `${Math.round(ts - nsec / 1e9)}.${String(Math.floor(nsec / 1000)).padStart(6, "0")}`,
        );
      }, 1000);
    } finally {
      reader.close();
    }
    assert.deepEqual(libpcapTimes, want);
  },
});

Deno.test({
  name:
    "built-in reader: Nokia's, Red Hat 6.1's and SuSE 6.3's pcap (longer record headers) read as tshark " +
    "reads them",
  ignore: !hasCommand("tshark"),
  async fn() {
    // testdata/http.pcap written by editcap -F nokiapcap, rh6_1pcap and suse6_3pcap (the pcapng review): read
    // with 16-byte record headers, the first record was a packet of wrong bytes and the second a corrupt record
    // (one packet read, a warning, exit 0), where tshark reads all 36.
    const want = (await readEdge("../http.pcap")).rows;
    assert.equal(want.length, 36);
    for (
      const [name, format] of [["nokia", "pcap-nokia"], ["redhat61", "pcap-redhat61"], [
        "suse63",
        "pcap-suse63",
      ]]
    ) {
      const ours = await readEdge(`http_${name}.pcap`);
      assert.equal(ours.format, format, name);
      assert.deepEqual(ours.rows, want, name);
      const theirs = await tsharkFields(`${ROOT}/testdata/reader_edge/http_${name}.pcap`, [
        "frame.len",
        "frame.cap_len",
      ]);
      assert.deepEqual(ours.rows.map((r) => r.slice(1)), theirs.map((row) => row.map(Number)), name);
    }
    // A classic pcap cut 4 or 8 bytes into its second record (the mend33 review): its one whole record fits
    // Nokia's or Red Hat's headers to the end of the input, and was read as one, 4 or 8 bytes off (no flow, no
    // warning). It is a classic one cut, as libpcap and 6392832 read it: a variant needs two records.
    const http = await Deno.readFile(`${ROOT}/testdata/http.pcap`);
    const second = 24 + 16 + new DataView(http.buffer).getUint32(24 + 8, true);
    for (const cut of [4, 8]) {
      const rows: number[][] = [];
      const r = await readCapture(
        chunkedReader(http.subarray(0, second + cut), [65536]),
        (ts, _b, _o, cap, wire) => void rows.push([ts, wire, cap]),
      );
      assert.equal(r.format, "pcap", `cut ${cut}`);
      assert.deepEqual(rows, want.slice(0, 1), `cut ${cut}`);
      assert.match(r.warning ?? "", /truncated pcap record header at byte offset 114/, `cut ${cut}`);
    }
    // A variant's capture cut short is still one (the mend33b review: cut 10 bytes before its end, it was read
    // as classic pcap, one record of wrong bytes, then "corrupt"): tshark reads its 35 whole packets.
    for (const name of ["nokia", "redhat61", "suse63"]) {
      const bytes = await Deno.readFile(`${ROOT}/testdata/reader_edge/http_${name}.pcap`);
      const rows: number[][] = [];
      const r = await readCapture(
        chunkedReader(bytes.subarray(0, bytes.length - 10), [65536]),
        (ts, _b, _o, cap, wire) => void rows.push([ts, wire, cap]),
      );
      assert.equal(r.format, `pcap-${name}`, name);
      assert.deepEqual(rows, want.slice(0, 35), name);
      assert.match(r.warning ?? "", /truncated pcap record \(66 bytes declared, 56 present\)/, name);
    }
    // A variant's capture damaged further on is still one (the mend33c review: with garbage appended, or a
    // record's length corrupt, it was read as classic, one record of wrong bytes): its records up to the damage
    // are read, as tshark reads them, and the damage is warned of where it lies.
    const nokia = await Deno.readFile(`${ROOT}/testdata/reader_edge/http_nokia.pcap`);
    const garbage = new Uint8Array(nokia.length + 300);
    garbage.set(nokia);
    for (let i = nokia.length; i < garbage.length; i++) garbage[i] = (i * 7919) & 255;
    const damaged: number[][] = [];
    const g = await readCapture(chunkedReader(garbage, [65536]), (ts, _b, _o, cap, wire) => {
      damaged.push([ts, wire, cap]);
    });
    assert.equal(g.format, "pcap-nokia");
    assert.deepEqual(damaged, want);
    assert.match(g.warning ?? "", new RegExp(`at byte offset ${nokia.length}$`));
    // The same bytes read through a pipe in small pieces (only the first record at hand): told apart too.
    const bytes = await Deno.readFile(`${ROOT}/testdata/reader_edge/http_nokia.pcap`);
    const rows: number[][] = [];
    const r = await readCapture(
      chunkedReader(bytes, [7]),
      (ts, _b, _o, cap, wire) => void rows.push([ts, wire, cap]),
    );
    assert.equal(r.warning, null);
    assert.deepEqual(rows, want);
  },
});

Deno.test("whereCaptureEnds reads no further than the size libpcap began with (a capture still being written)", async () => {
  // The mend33c review: a file growing while libpcap read it (tcpdump -w running) was read again later, longer,
  // and its cut end looked like more packets than libpcap read: a failure naming --reader builtin, exit 1,
  // where it is a cut capture (a warning, exit 0).
  const path = `${ROOT}/testdata/http.pcap`;
  assert.deepEqual(await whereCaptureEnds(path), { damage: null, packetsBeforeDamage: 36, packets: 36 });
  const cut = await whereCaptureEnds(path, 2000);
  assert.ok(cut !== undefined);
  assert.ok(cut.packets > 0 && cut.packets < 36, `${cut.packets}`);
  assert.equal(cut.packetsBeforeDamage, cut.packets);
  assert.match(cut.damage ?? "", /^truncated pcap record/);
  const size = (await Deno.stat(path)).size;
  assert.deepEqual(await whereCaptureEnds(path, size), await whereCaptureEnds(path));
});

/** What the built-in reader hands over for a capture of testdata/reader_edge: [time, length, captured length]. */
async function readEdge(name: string): Promise<{ rows: number[][]; skipped: number; format: string }> {
  const rows: number[][] = [];
  const file = await Deno.open(`${ROOT}/testdata/reader_edge/${name}`);
  try {
    const r = await readCapture(file, (ts, _b, _o, capLen, wireLen) => void rows.push([ts, wireLen, capLen]));
    return { rows, skipped: r.skippedBlocks, format: r.format };
  } finally {
    file.close();
  }
}

Deno.test({
  name:
    "built-in reader: Kuznetzov's modified pcap, a simple packet block cut at its snapshot length, a block " +
    "whose data runs over its trailer, a repeated if_tsresol, as tshark reads them",
  ignore: !hasCommand("tshark"),
  async fn() {
    const fields = ["frame.time_epoch", "frame.len", "frame.cap_len"];
    const theirs = async (name: string) =>
      (await tsharkFields(`${ROOT}/testdata/reader_edge/${name}`, fields)).map((row) => row.map(Number));
    // The modified format (editcap -F modpcap, and written by hand in either byte order) has 24-byte record
    // headers: it was refused as "not a pcap or pcapng capture".
    for (const name of ["modified_editcap.pcap", "modified_le.pcap", "modified_be.pcap"]) {
      const ours = await readEdge(name);
      assert.equal(ours.format, "pcap-modified", name);
      const want = await theirs(name);
      assert.equal(want.length, 3, name);
      assert.deepEqual(ours.rows, want, name);
    }
    // Simple packet blocks of a 54-byte frame under snapshot length 33: the block's padding to 36 bytes was
    // read as packet bytes, which completed the IPv4 header with a made-up destination address. tshark gives
    // a simple packet block no time.
    const spb = await readEdge("spb_snaplen.pcapng");
    assert.deepEqual(
      spb.rows.map((r) => r.slice(1)),
      (await theirs("spb_snaplen.pcapng")).map((r) => r.slice(1)),
    );
    assert.deepEqual(spb.rows.map((r) => r[2]), [33, 33, 33]);
    // The middle packet block declares 56 bytes where its 84-byte block holds 52 before its trailing length:
    // the trailer was read as packet bytes. tshark stops there as damaged; the block is skipped and counted,
    // and the packet after it read.
    const trailer = await readEdge("epb_past_trailer.pcapng");
    const run = new Deno.Command("tshark", {
      args: [
        "-r",
        `${ROOT}/testdata/reader_edge/epb_past_trailer.pcapng`,
        "-T",
        "fields",
        ...fields.flatMap((f) => ["-e", f]),
      ],
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    assert.match(new TextDecoder().decode(run.stderr), /damaged or corrupt/);
    const trailerWant = new TextDecoder().decode(run.stdout).trim().split("\n").map((l) =>
      l.split("\t").map(Number)
    );
    assert.equal(trailerWant.length, 1);
    assert.deepEqual(trailer.rows[0], trailerWant[0]);
    assert.equal(trailer.rows.length, 2);
    assert.equal(trailer.skipped, 1);
    // if_tsresol 9 then 6: the option may appear once, and tshark takes the first.
    assert.deepEqual((await readEdge("tsresol_twice.pcapng")).rows, await theirs("tsresol_twice.pcapng"));
  },
});

Deno.test("built-in reader: one reader after another takes the last one's buffer (none allocated per input), and reads its own bytes", async () => {
  const bytes = await Deno.readFile("testdata/http.pcap");
  const buffers: Uint8Array[] = [];
  const lengths: number[][] = [];
  for (let i = 0; i < 3; i++) {
    const seen: number[] = [];
    let buffer: Uint8Array | null = null;
    await readCapture(chunkedReader(bytes, [1 << 20]), (_ts, buf, _off, capLen) => {
      buffer = buf;
      seen.push(capLen);
    });
    buffers.push(buffer!);
    lengths.push(seen);
  }
  assert.equal(buffers[1], buffers[0]);
  assert.equal(buffers[2], buffers[0]);
  assert.deepEqual(lengths[1], lengths[0]);
  assert.deepEqual(lengths[2], lengths[0]);
});
