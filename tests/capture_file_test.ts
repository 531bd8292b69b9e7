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
import { type ByteReader, readCapture } from "../lib/capture_file.ts";
import { PcapOfflineReader, tryLoadLibpcap } from "../ffi/libpcap.ts";
import {
  type CapPacket,
  CAPTURES,
  chunkedReader,
  HAVE_CAPTURES,
  pcapFile,
  pcapngFile,
  ROOT,
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
const WANT: Seen[] = PACKETS.map((
  p,
) => [p.ts, p.data.length, p.wireLen ?? p.data.length, 1, fnv(p.data, 0, p.data.length)]);

Deno.test("built-in reader: records longer than a read buffer, cut by reads of every size, pcap and pcapng", async () => {
  for (const [what, file] of [["pcap", pcapFile(1, PACKETS)], ["pcapng", pcapngFile(1, PACKETS)]] as const) {
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
    await Deno.writeFile(path, pcapFile(1, packets));
    const file = await Deno.open(path);
    const r = await readAll(file);
    file.close();
    assert.deepEqual(r.seen, want);
    // libpcap refuses records past the file's snapshot length (256 KiB here), which the built-in reader takes
    // up to 16 MiB: it reads a 12 MB file of ordinary packets instead, for an independent view of buffer ends.
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
