/**
 * Property tests: real captures, mutated (cut at random offsets, random bytes flipped, record and block length
 * fields overwritten with absurd values, garbage inserted), go through `extractFlows` with every group on. It
 * must never throw anything but `InputError`, must finish (a generous time guard, not a speed assertion), and
 * must yield a bounded number of records. Set JJ_FUZZ_SEED to replay a failure fast-check reported, and
 * JJ_FUZZ_SCALE=20 for a longer campaign.
 */
import assert from "node:assert/strict";
import * as fc from "fast-check";
import { extractFlows, type ExtractOptions, InputError } from "../lib/extract.ts";
import type { ByteReader } from "../lib/capture_file.ts";
import { byteStream, cap, HAVE_SHARED, pcapngBlocks, pcapRecords, ROOT } from "./helpers.ts";

/** Small real captures of every format and several link types and encapsulations. */
const SEED_FILES = [
  `${ROOT}/testdata/http.pcap`,
  `${ROOT}/testdata/sll2.pcap`,
  ...(HAVE_SHARED
    ? [
      "tls12.pcap", // pcap, TLS ClientHello
      "dns.pcap", // pcapng, QinQ, PPPoE
      "sctp.cap",
      "dlt_ppp.pcap", // PPP, QUIC
      "gre-erspan-vxlan.pcap", // nested tunnels
      "teredo.pcap",
      "http.pcapng", // nanosecond pcapng
      "quic-tls-handshake.pcapng",
      "ssh2-malformed.pcap",
      "tls-alpn-h2.pcap", // BSD loopback
      "dhcpv6.pcap", // IPv6 hop-by-hop
      "4in6tunnel.pcap",
    ].map(cap)
    : []),
];
const SEEDS: Uint8Array[] = SEED_FILES.map((f) => Deno.readFileSync(f));
const IS_PCAPNG = SEEDS.map((b) => b[0] === 0x0a && b[1] === 0x0d && b[2] === 0x0d && b[3] === 0x0a);

/** Generous bound on one extraction of a few kilobytes (it takes milliseconds). */
const TIME_GUARD_MS = 15000;

const ABSURD = [0, 1, 3, 11, 12, 13, 0x7fff, 0xffff, 0x10000, 0x00ffffff, 0x01000000, 0x7fffffff, 0xffffffff];

type Mutation =
  | { kind: "cut"; at: number }
  | { kind: "flip"; at: number[]; xor: number[] }
  | { kind: "length"; record: number; field: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.array(fc.nat(), { minLength: 1, maxLength: 24 }),
    xor: fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 24, maxLength: 24 }),
  }),
  fc.record({
    kind: fc.constant("length" as const),
    record: fc.nat(),
    field: fc.nat({ max: 3 }),
    value: fc.oneof(fc.constantFrom(...ABSURD), fc.nat({ max: 0xffffffff })),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }),
  }),
);

/** Applies one mutation; length mutations hit record (pcap) or block (pcapng) headers of the seed. */
function mutate(seed: number, input: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case "cut":
      return input.slice(0, m.at % (input.length + 1));
    case "flip": {
      const out = input.slice();
      m.at.forEach((a, i) => {
        if (out.length > 0) out[a % out.length] ^= m.xor[i];
      });
      return out;
    }
    case "insert": {
      const at = m.at % (input.length + 1);
      const out = new Uint8Array(input.length + m.bytes.length);
      out.set(input.subarray(0, at));
      out.set(m.bytes, at);
      out.set(input.subarray(at), at + m.bytes.length);
      return out;
    }
    case "length": {
      const out = input.slice();
      const dv = new DataView(out.buffer);
      // Field offsets inside a record header: pcap caplen / wirelen; pcapng block length (both copies),
      // packet block captured length.
      let offsets: number[];
      if (IS_PCAPNG[seed]) {
        offsets = pcapngBlocks(SEEDS[seed]).flatMap((
          b,
        ) => [b.offset + 4, b.offset + b.length - 4, b.offset + 20]);
      } else {
        offsets = pcapRecords(SEEDS[seed]).flatMap((r) => [r.offset + 8, r.offset + 12]);
        offsets.push(16, 20); // snaplen, link type
      }
      const pick = offsets[(m.record * 4 + m.field) % offsets.length];
      if (pick + 4 <= out.length) dv.setUint32(pick, m.value >>> 0, true);
      return out;
    }
  }
}

/** A ByteReader handing out at most `step` bytes per read (odd sizes exercise the refill paths). */
function reader(bytes: Uint8Array, step: number): ByteReader {
  let o = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (o >= bytes.length) return Promise.resolve(null);
      const n = Math.min(step, p.length, bytes.length - o);
      p.set(bytes.subarray(o, o + n));
      o += n;
      return Promise.resolve(n);
    },
  };
}

/**
 * How the extractions of the properties ended: read to the end (with how many records), or refused with an
 * `InputError`. A property that only ever met `InputError` (say, every input refused at once) would pass without
 * having read anything: the tests below check that most inputs were really read.
 */
const tally = { completed: 0, inputErrors: 0, records: 0 };

/**
 * Runs one extraction to the end; returns what went wrong (null when nothing did). With `strict`, an
 * `InputError` or an extraction without any record is wrong too (for the unmutated seeds).
 */
async function extractAll(
  bytes: Uint8Array,
  asStream: boolean,
  step: number,
  options: ExtractOptions,
  strict = false,
): Promise<string | null> {
  const source = asStream ? byteStream(bytes, step) : reader(bytes, step);
  const work = (async (): Promise<string | null> => {
    let records = 0;
    const it = extractFlows(source, options);
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) {
          const s = r.value;
          // Every record needs at least one packet, every packet at least a 16-byte header.
          if (s.packetsRead > bytes.length / 12 + 1) {
            return `${s.packetsRead} packets from ${bytes.length} bytes`;
          }
          if (s.flows !== records) return `summary says ${s.flows} flows, ${records} were yielded`;
          if (strict && records === 0) return "no record";
          tally.completed++;
          tally.records += records;
          return null;
        }
        if (++records > bytes.length / 16 + 1) return `${records} records from ${bytes.length} bytes`;
      }
    } catch (e) {
      if (e instanceof InputError) {
        if (strict) return `InputError: ${e.message}`;
        tally.inputErrors++;
        return null;
      }
      return `threw ${e instanceof Error ? e.stack ?? e.message : String(e)}`;
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`did not finish within ${TIME_GUARD_MS} ms`), TIME_GUARD_MS);
  });
  try {
    return await Promise.race([work, guard]);
  } finally {
    clearTimeout(timer);
  }
}

const options: fc.Arbitrary<ExtractOptions> = fc.record({
  decap: fc.boolean(),
  tcpEnd: fc.boolean(),
  maxFlows: fc.constantFrom(0, 0, 2),
  idleTimeout: fc.constantFrom(60, 60, 0.001),
});

/** fast-check settings; JJ_FUZZ_SEED replays a run, JJ_FUZZ_SCALE multiplies the number of runs. */
function params(runs: number): fc.Parameters<unknown> {
  const seed = Deno.env.get("JJ_FUZZ_SEED");
  const scale = Number(Deno.env.get("JJ_FUZZ_SCALE") ?? "1") || 1;
  return { numRuns: Math.round(runs * scale), ...(seed ? { seed: Number(seed) } : {}), endOnFailure: true };
}

/** The property: any mutation chain of any seed capture is read without an unexpected throw. */
function property(maxMutations: number) {
  return fc.asyncProperty(
    fc.nat({ max: SEEDS.length - 1 }),
    fc.array(mutation, { minLength: 1, maxLength: maxMutations }),
    fc.boolean(),
    fc.integer({ min: 1, max: 4096 }),
    options,
    async (seed, muts, asStream, step, opts) => {
      let bytes = SEEDS[seed];
      for (const m of muts) bytes = mutate(seed, bytes, m);
      const problem = await extractAll(bytes, asStream, step, opts);
      assert.equal(problem, null, `${SEED_FILES[seed]} after ${JSON.stringify(muts)}: ${problem}`);
    },
  );
}

Deno.test("fuzz: the unmutated seed captures are read without error", async () => {
  for (let i = 0; i < SEEDS.length; i++) {
    // strict: an InputError or no record at all is a failure here (these captures are valid)
    assert.equal(await extractAll(SEEDS[i], true, 65536, {}, true), null, SEED_FILES[i]);
    assert.equal(await extractAll(SEEDS[i], false, 7, {}, true), null, SEED_FILES[i]);
  }
  assert.ok(SEEDS.length >= (HAVE_SHARED ? 14 : 2), `${SEEDS.length} seed captures`);
});

/** Runs a property and checks that at least `minRead` of its extractions read their input to the end. */
async function assertReads(p: fc.IAsyncProperty<unknown[]>, runs: number, minRead: number): Promise<void> {
  const before = { ...tally };
  await fc.assert(p, params(runs));
  const completed = tally.completed - before.completed, refused = tally.inputErrors - before.inputErrors;
  console.log(
    `${completed} inputs read to the end (${tally.records - before.records} records), ${refused} refused`,
  );
  assert.ok(
    completed >= minRead * (completed + refused),
    `only ${completed} of ${completed + refused} inputs read to the end: the property hardly ran the reader`,
  );
}

Deno.test("fuzz: one mutation (cut, flip, absurd length, garbage) never throws anything but InputError", async () => {
  await assertReads(property(1), 100, 0.5);
});

Deno.test("fuzz: chains of up to four mutations never throw anything but InputError", async () => {
  await assertReads(property(4), 70, 0.25);
});

Deno.test("fuzz: random bytes after a valid pcap or pcapng header never throw anything but InputError", async () => {
  const pcapHeader = SEEDS[0].slice(0, 24);
  // A pcapng section header and interface blocks: everything before the first packet block.
  const ng = SEEDS[IS_PCAPNG.indexOf(true)];
  const ngHeader = ng ? ng.slice(0, pcapngBlocks(ng).find((b) => b.type === 6)!.offset) : pcapHeader;
  await assertReads(
    fc.asyncProperty(fc.boolean(), fc.uint8Array({ maxLength: 600 }), async (useNg, tail) => {
      const head = useNg ? ngHeader : pcapHeader;
      const bytes = new Uint8Array(head.length + tail.length);
      bytes.set(head);
      bytes.set(tail, head.length);
      assert.equal(await extractAll(bytes, true, 64, {}), null);
    }),
    30,
    0.5,
  );
});
