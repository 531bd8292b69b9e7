/**
 * Tests for the IPFIX exporter (outputs/ipfix.ts): RFC 7011 encoding, sequence numbers and template refresh
 * over UDP and TCP against local sockets, Joy's IDP, and a round trip through a real collector: `jj extract
 * --ipfix` into nfcapd (Debian package nfdump), read back with `nfdump -r`, compared with the JSON Lines output.
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import {
  decodeIpfixMessage,
  type EncodedRecord,
  idpExtractor,
  ipfixCountersExtractor,
  IpfixEncoder,
  IpfixExporter,
  type IpfixTemplate,
  ipfixTemplates,
  JOY_ENTERPRISE,
  JOY_IDP_ELEMENT,
  parseHostPort,
  REVERSE_PEN,
} from "../outputs/ipfix.ts";
import { extractFlows } from "../lib/extract.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import {
  byteStream,
  cap,
  CAPTURES,
  ethernet,
  freePort,
  hasCommand,
  HAVE_CAPTURES,
  HAVE_TSHARK,
  ipv4,
  pcapFile,
  readJsonlFile,
  ROOT,
  runCli,
  tsharkRows,
  udp,
} from "./helpers.ts";

const HAVE_NFDUMP = hasCommand("nfcapd") && hasCommand("nfdump");
if (!HAVE_CAPTURES) console.warn(`ipfix_test: ${CAPTURES} absent: skipping tests on captures`);
if (!HAVE_NFDUMP) {
  console.warn(
    "ipfix_test: nfcapd/nfdump not installed (apt-get install nfdump): skipping the collector round trip",
  );
}

const FLOW: FlowRecord = {
  src_ip: "192.0.2.10",
  dst_ip: "198.51.100.7",
  src_port: 51514,
  dst_port: 443,
  protocol: 6,
  packets_fwd: 12,
  bytes_fwd: 1800,
  packets_bwd: 10,
  bytes_bwd: 9000,
  start_time: 1700000000.123456,
  end_time: 1700000042.5,
  flow_end_reason: "fin",
};

const FLOW6: FlowRecord = {
  ...FLOW,
  src_ip: "2001:db8::10",
  dst_ip: "2001:db8:1::7",
  protocol: 17,
  packets_bwd: 0,
  bytes_bwd: 0,
  flow_end_reason: "idle",
};

// ---------------------------------------------------------------------------------------------------------
// encoding

Deno.test("ipfix: template set layout (RFC 7011 section 3.4.1), enterprise bit for Joy's IDP", () => {
  const enc = new IpfixEncoder({ template: "simple" });
  const ts = enc.templateSet;
  const dv = new DataView(ts.buffer, ts.byteOffset, ts.byteLength);
  assert.equal(dv.getUint16(0), 2); // template set id
  assert.equal(dv.getUint16(2), ts.length);
  assert.equal(dv.getUint16(4), 256);
  assert.equal(dv.getUint16(6), 11); // field count
  const ids: number[] = [];
  for (let i = 0; i < 11; i++) ids.push(dv.getUint16(8 + 4 * i));
  assert.deepEqual(ids, [8, 12, 7, 11, 4, 2, 1, 152, 153, 136, 239]);
  assert.equal(dv.getUint16(8 + 2), 4); // sourceIPv4Address length
  // second template: IPv6 addresses 27/28 of 16 bytes
  const t6 = 8 + 4 * 11;
  assert.equal(dv.getUint16(t6), 257);
  assert.equal(dv.getUint16(t6 + 4), 27);
  assert.equal(dv.getUint16(t6 + 6), 16);
  assert.equal(dv.getUint16(t6 + 8), 28);

  const idp = new IpfixEncoder({ template: "idp" });
  const [v4] = idp.templates;
  assert.equal(v4.id, 258);
  const last = v4.fields[v4.fields.length - 1];
  assert.deepEqual(last, { id: JOY_IDP_ELEMENT, length: 65535, enterprise: JOY_ENTERPRISE });
  const its = idp.templateSet;
  const idv = new DataView(its.buffer, its.byteOffset, its.byteLength);
  const off = 8 + 4 * 11; // the 12th field specifier
  assert.equal(idv.getUint16(off), JOY_IDP_ELEMENT | 0x8000);
  assert.equal(idv.getUint16(off + 2), 65535);
  assert.equal(idv.getUint32(off + 4), JOY_ENTERPRISE);

  const [b4] = ipfixTemplates("simple", true);
  assert.equal(b4.id, 260);
  assert.deepEqual(b4.fields.filter((f) => f.enterprise === REVERSE_PEN).map((f) => f.id), [2, 1]);
});

Deno.test("ipfix: message header and data records decode back (uni-flow pairs, IPv4 and IPv6)", () => {
  const enc = new IpfixEncoder({ observationDomainId: 77 });
  const recs = [...enc.encodeFlow(FLOW), ...enc.encodeFlow(FLOW6)];
  assert.equal(recs.length, 3); // FLOW6 has no reverse packets: one record
  const msg = enc.message(1700000100, 41, recs, true);
  const known = new Map<number, IpfixTemplate>();
  const d = decodeIpfixMessage(msg, known);
  assert.ok(d);
  assert.deepEqual(d.header, {
    version: 10,
    length: msg.length,
    exportTime: 1700000100,
    sequence: 41,
    observationDomainId: 77,
  });
  assert.deepEqual(d.templates.map((t) => t.id), [256, 257]);
  assert.equal(d.records.length, 3);
  const [fwd, rev, v6] = d.records.map((r) => r.values);
  assert.deepEqual(fwd, {
    "8": "192.0.2.10",
    "12": "198.51.100.7",
    "7": 51514,
    "11": 443,
    "4": 6,
    "2": 12,
    "1": 1800,
    "152": 1700000000123,
    "153": 1700000042500,
    "136": 3,
    "239": 1,
  });
  assert.equal(rev["8"], "198.51.100.7");
  assert.equal(rev["12"], "192.0.2.10");
  assert.equal(rev["7"], 443);
  assert.equal(rev["11"], 51514);
  assert.equal(rev["2"], 10);
  assert.equal(rev["1"], 9000);
  assert.equal(rev["239"], 2);
  assert.equal(v6["27"], "2001:db8::10");
  assert.equal(v6["28"], "2001:db8:1::7");
  assert.equal(v6["136"], 1); // idle timeout
  assert.equal(v6["4"], 17);
  // one data set per template, templates first
  const dv = new DataView(msg.buffer);
  assert.equal(dv.getUint16(16), 2);
  const afterTemplates = 16 + enc.templateSet.length;
  assert.equal(dv.getUint16(afterTemplates), 256);
  // without templates, data can only be read by a collector that already knows them
  const plain = enc.message(0, 44, recs, false);
  assert.equal(decodeIpfixMessage(plain, new Map())?.unknownSets.length, 2);
  assert.equal(decodeIpfixMessage(plain, known)?.records.length, 3);
});

Deno.test("ipfix: RFC 5103 biflow records carry reverse counters", () => {
  const enc = new IpfixEncoder({ biflow: true });
  const recs = enc.encodeFlow(FLOW);
  assert.equal(recs.length, 1);
  const d = decodeIpfixMessage(enc.message(0, 0, recs, true), new Map());
  const v = d!.records[0].values;
  assert.equal(v["2"], 12);
  assert.equal(v["1"], 1800);
  assert.equal(v[`${REVERSE_PEN}/2`], 10);
  assert.equal(v[`${REVERSE_PEN}/1`], 9000);
});

Deno.test("ipfix: idp is a variable-length octetArray (1-byte and 3-byte length prefixes)", () => {
  const short = "45".padEnd(2 * 60, "ab");
  const long = "45".padEnd(2 * 600, "cd");
  const enc = new IpfixEncoder({ template: "idp", idpMaxBytes: 500 });
  const recs = enc.encodeFlow({ ...FLOW, idp_out: short, idp_in: long });
  const d = decodeIpfixMessage(enc.message(0, 0, recs, true), new Map())!;
  const key = `${JOY_ENTERPRISE}/${JOY_IDP_ELEMENT}`;
  const a = d.records[0].values[key] as Uint8Array;
  const b = d.records[1].values[key] as Uint8Array;
  assert.equal(a.length, 60);
  assert.equal(a[0], 0x45);
  assert.equal(b.length, 500); // truncated to idpMaxBytes, so the 0xff + u16 form is used
  assert.equal(b[1], 0xcd);
  // raw check of the 3-byte form: 0xff, then 500 big-endian, right after the fixed fields of record 2
  const fixed = 4 + 4 + 2 + 2 + 1 + 8 + 8 + 8 + 8 + 1 + 1;
  assert.deepEqual([...recs[1].bytes.subarray(fixed, fixed + 3)], [255, 500 >> 8, 500 & 255]);
  // no IDP: zero-length field
  const none = enc.encodeFlow({ ...FLOW, packets_bwd: 0 });
  assert.equal(none[0].bytes[fixed], 0);
  assert.equal(none[0].bytes.length, fixed + 1);
});

Deno.test("ipfix: unreadable addresses produce no record; HOST:PORT parsing", () => {
  const enc = new IpfixEncoder();
  assert.deepEqual(enc.encodeFlow({ src_ip: null, dst_ip: "10.0.0.1" }), []);
  assert.deepEqual(enc.encodeFlow({ src_ip: "10.0.0.1", dst_ip: "::1" }), []);
  assert.deepEqual(parseHostPort("127.0.0.1:4739"), { host: "127.0.0.1", port: 4739 });
  assert.deepEqual(parseHostPort("[::1]:9995"), { host: "::1", port: 9995 });
  assert.deepEqual(parseHostPort("collector.example:2055"), { host: "collector.example", port: 2055 });
  assert.throws(() => parseHostPort("127.0.0.1"), RangeError);
  assert.throws(() => parseHostPort("h:70000"), RangeError);
  // A port out of range is named as such (it was "expected HOST:PORT", which the text is).
  assert.throws(
    () => parseHostPort("127.0.0.1:0"),
    /^RangeError: the port of "127\.0\.0\.1:0" is outside 1 to 65535$/,
  );
});

// ---------------------------------------------------------------------------------------------------------
// exporter over UDP and TCP against local sockets

/** A UDP socket on 127.0.0.1 collecting datagrams. */
async function udpSink(): Promise<{ port: number; messages: Uint8Array[]; close(): void }> {
  const sock = dgram.createSocket("udp4");
  const messages: Uint8Array[] = [];
  sock.on("message", (m: Uint8Array) => messages.push(new Uint8Array(m)));
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  return { port: sock.address().port, messages, close: () => sock.close() };
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
}

function manyFlows(n: number): FlowRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    ...FLOW,
    src_ip: `10.${(i >> 8) & 255}.${i & 255}.1`,
    src_port: 1024 + i,
    packets_bwd: i % 3 === 0 ? 0 : 4,
  }));
}

Deno.test("ipfix: UDP export: messages within the size limit, sequence = data records sent before", async () => {
  const sink = await udpSink();
  try {
    const ex = await IpfixExporter.connect({ host: "127.0.0.1", port: sink.port, maxMessageSize: 1400 });
    const flows = manyFlows(200);
    for (const f of flows) await ex.write(f);
    await ex.close();
    const expectedRecords = flows.reduce((a, f) => a + (f.packets_bwd === 0 ? 1 : 2), 0);
    assert.equal(ex.stats.records, expectedRecords);
    await waitFor(() => sink.messages.length === ex.stats.messages);
    assert.equal(sink.messages.length, ex.stats.messages);
    assert.ok(ex.stats.messages > 10);
    const known = new Map<number, IpfixTemplate>();
    let seq = 0;
    let total = 0;
    for (const m of sink.messages) {
      assert.ok(m.length <= 1400, `message of ${m.length} bytes`);
      const d = decodeIpfixMessage(m, known)!;
      assert.equal(d.header.sequence, seq);
      assert.deepEqual(d.unknownSets, []);
      seq += d.records.length;
      total += d.records.length;
    }
    assert.equal(total, expectedRecords);
    assert.ok(
      decodeIpfixMessage(sink.messages[0], new Map())!.templates.length === 2,
      "templates come first",
    );
  } finally {
    sink.close();
  }
});

Deno.test("ipfix: UDP with the idp template: no message over the limit, templates alone when needed", async () => {
  // A full 1300-byte IDP and the templates did not fit in 1400 bytes (1486-byte datagrams), nor did a biflow
  // record's two IDPs (up to 2713).
  const idp = "45".padEnd(2 * 1500, "ab");
  const flows: FlowRecord[] = manyFlows(20).map((f) => ({ ...f, idp_out: idp, idp_in: idp }));
  for (const biflow of [false, true]) {
    const sink = await udpSink();
    const warnings: string[] = [];
    try {
      const ex = await IpfixExporter.connect({
        host: "127.0.0.1",
        port: sink.port,
        template: "idp",
        biflow,
        onWarning: (m) => warnings.push(m),
      });
      for (const f of flows) await ex.write(f);
      await ex.close();
      await waitFor(() => sink.messages.length === ex.stats.messages);
      const known = new Map<number, IpfixTemplate>();
      let records = 0;
      for (const m of sink.messages) {
        assert.ok(m.length <= 1400, `biflow ${biflow}: message of ${m.length} bytes`);
        records += decodeIpfixMessage(m, known)!.records.length;
      }
      assert.equal(records, ex.stats.records);
      assert.equal(records, flows.reduce((a, f) => a + (biflow || f.packets_bwd === 0 ? 1 : 2), 0));
      assert.equal(ex.stats.lost, 0);
      // Uni-flow records keep the whole 1300 bytes; biflow ones are cut, and say so.
      if (!biflow) assert.equal(ex.encoder.idpMaxBytes, 1300);
      else assert.ok(ex.encoder.idpMaxBytes < 1300 && ex.encoder.idpMaxBytes > 500);
      assert.equal(warnings.length, biflow ? 1 : 0, warnings.join("; "));
      if (biflow) assert.match(warnings[0], /IDP is cut to \d+ bytes/);
    } finally {
      sink.close();
    }
  }
});

Deno.test("ipfix: a UDP collector name that does not resolve is an error at connect", async () => {
  await assert.rejects(
    IpfixExporter.connect({ host: "nosuchhost.invalid", port: 4739 }),
    /ENOTFOUND|not found|failed to lookup/i,
  );
});

Deno.test("ipfix: UDP template refresh every N messages and every N seconds", async () => {
  const sink = await udpSink();
  try {
    const ex = await IpfixExporter.connect({
      host: "127.0.0.1",
      port: sink.port,
      templateRefreshMessages: 3,
      templateRefreshSeconds: 3600,
    });
    for (let i = 0; i < 9; i++) {
      await ex.write(FLOW);
      await ex.flush(); // one message each
    }
    await waitFor(() => sink.messages.length === 9);
    const withT = sink.messages.map((m) => decodeIpfixMessage(m, new Map())!.templates.length > 0);
    assert.deepEqual(withT, [true, false, false, false, true, false, false, false, true]);
    assert.equal(ex.stats.templateMessages, 3);
    await ex.close();

    const sink2 = await udpSink();
    const ex2 = await IpfixExporter.connect({
      host: "127.0.0.1",
      port: sink2.port,
      templateRefreshSeconds: 0.2,
    });
    await ex2.write(FLOW);
    await ex2.flush();
    await ex2.write(FLOW);
    await ex2.flush(); // too soon: no templates
    await new Promise((r) => setTimeout(r, 300));
    await ex2.flush(); // due: a template-only message even without records
    await ex2.close();
    await waitFor(() => sink2.messages.length === 3);
    const t2 = sink2.messages.map((m) => decodeIpfixMessage(m, new Map())!);
    assert.deepEqual(t2.map((d) => d.templates.length > 0), [true, false, true]);
    assert.deepEqual(t2.map((d) => d.header.sequence), [0, 2, 4]);
    sink2.close();
  } finally {
    sink.close();
  }
});

Deno.test("ipfix: TCP export: one stream, templates once, sequence numbers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const received = (async () => {
    const conn = await listener.accept();
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    conn.close();
    const all = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return all;
  })();
  try {
    const ex = await IpfixExporter.connect({
      host: "127.0.0.1",
      port,
      transport: "tcp",
      maxMessageSize: 2000,
    });
    const flows = manyFlows(300);
    for (const f of flows) await ex.write(f);
    await ex.write(FLOW6);
    await ex.close();
    const stream = await received;
    // split the stream by the header's length field
    const known = new Map<number, IpfixTemplate>();
    let o = 0, seq = 0, msgs = 0, withTemplates = 0, v6 = 0;
    while (o < stream.length) {
      const len = (stream[o + 2] << 8) | stream[o + 3];
      const d = decodeIpfixMessage(stream.subarray(o, o + len), known)!;
      assert.ok(d, "well-formed message");
      assert.equal(d.header.sequence, seq);
      seq += d.records.length;
      if (d.templates.length > 0) withTemplates++;
      v6 += d.records.filter((r) => r.templateId === 257).length;
      msgs++;
      o += len;
    }
    assert.equal(o, stream.length);
    assert.equal(msgs, ex.stats.messages);
    assert.equal(withTemplates, 1);
    assert.equal(seq, ex.stats.records);
    assert.equal(v6, 1);
  } finally {
    listener.close();
  }
});

Deno.test("ipfix: TCP reconnect: a new transport session restarts sequence numbers, templates first", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const first = await Promise.all([
    listener.accept(),
    IpfixExporter.connect({ host: "127.0.0.1", port, transport: "tcp" }),
  ]);
  const [conn1, ex] = first;
  try {
    for (let i = 0; i < 3; i++) {
      await ex.write(FLOW);
      await ex.flush();
    }
    const buf = new Uint8Array(65536);
    await conn1.read(buf);
    conn1.close(); // the collector goes away; the next sends fail, then one reconnects
    const second = listener.accept();
    let conn2: Deno.Conn | null = null;
    second.then((c) => conn2 = c);
    for (let i = 0; i < 200 && conn2 === null; i++) {
      await ex.write(FLOW);
      await ex.flush();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(conn2 !== null, "the exporter reconnected");
    await ex.close();
    const c2 = conn2 as Deno.Conn;
    const chunks: Uint8Array[] = [];
    for (;;) {
      const n = await c2.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    c2.close();
    const stream = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
    chunks.reduce((o, c) => (stream.set(c, o), o + c.length), 0);
    const d = decodeIpfixMessage(stream.subarray(0, (stream[2] << 8) | stream[3]), new Map())!;
    assert.equal(d.header.sequence, 0, "sequence numbers count per transport session");
    assert.equal(d.templates.length, 2);
  } finally {
    listener.close();
  }
});

Deno.test("ipfix: TCP collector not listening is an error at connect", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(() => IpfixExporter.connect({ host: "127.0.0.1", port, transport: "tcp" }));
});

Deno.test("ipfix: encoder message matches the documented example size", () => {
  const enc = new IpfixEncoder();
  const recs: EncodedRecord[] = enc.encodeFlow({
    src_ip: "10.0.0.1",
    dst_ip: "10.0.0.2",
    src_port: 1234,
    dst_port: 80,
    protocol: 6,
    packets_fwd: 3,
    bytes_fwd: 200,
    packets_bwd: 2,
    bytes_bwd: 400,
    start_time: 1700000000.25,
    end_time: 1700000001.5,
    flow_end_reason: "idle",
  });
  assert.equal(recs.length, 2);
  assert.equal(enc.message(1700000002, 0, recs, true).length, 214);
});

// ---------------------------------------------------------------------------------------------------------
// Joy's IDP

Deno.test({
  name: "ipfix: idp group keeps each direction's first IP packet with a payload",
  ignore: !HAVE_CAPTURES,
  fn: async () => {
    const flows: FlowRecord[] = [];
    for await (const r of extractFlows(cap("tls12.pcap"), { extractors: [idpExtractor(1300)] })) {
      flows.push(r);
    }
    const tcp = flows.filter((f) => f.protocol === 6 && (f.payload_bytes_fwd as number) > 0);
    assert.ok(tcp.length > 0);
    for (const f of tcp) {
      const hex = f.idp_out as string;
      assert.equal(hex.length / 2, f.idp_len_out);
      const b = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
      assert.equal(b[0] >> 4, 4); // IPv4 header first
      assert.equal(b[9], 6); // protocol TCP
      assert.equal(`${b[12]}.${b[13]}.${b[14]}.${b[15]}`, f.src_ip);
      const ipLen = (b[2] << 8) | b[3];
      assert.equal(b.length, Math.min(ipLen, 1300));
      const thl = (b[20 + 12] >> 4) * 4;
      assert.ok(ipLen > 20 + thl, "the IDP carries a payload");
      if ((f.payload_bytes_bwd as number) > 0) assert.ok((f.idp_len_in as number) > 0);
    }
  },
});

// ---------------------------------------------------------------------------------------------------------
// a real collector: nfcapd + nfdump

interface Nfcapd {
  port: number;
  dir: string;
  /** Stops nfcapd (SIGTERM makes it write its file) and returns its log. */
  stop(): Promise<string>;
}

async function startNfcapd(): Promise<Nfcapd> {
  const dir = await Deno.makeTempDir({ prefix: "jj-nfcapd-" });
  const help = new Deno.Command("nfcapd", { args: ["-h"], stdout: "piped", stderr: "piped" }).outputSync();
  const helpText = new TextDecoder().decode(help.stdout) + new TextDecoder().decode(help.stderr);
  const dirFlag = /-w\s+flowdir/.test(helpText) || !/-l\s/.test(helpText) ? "-w" : "-l"; // -l before 1.7
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    const child = new Deno.Command("nfcapd", {
      args: ["-b", "127.0.0.1", "-p", String(port), dirFlag, dir],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let log = "";
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const c of s.pipeThrough(new TextDecoderStream())) log += c;
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
    const end = Date.now() + 5000;
    let exited = false;
    child.status.then(() => exited = true);
    while (!/Startup/.test(log) && !exited && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (exited) {
      await pumps;
      continue; // port taken: try another
    }
    await new Promise((r) => setTimeout(r, 100));
    return {
      port,
      dir,
      async stop() {
        child.kill("SIGTERM");
        await child.status;
        await pumps;
        return log;
      },
    };
  }
  throw new Error("nfcapd did not start");
}

interface NfRecord {
  first: string;
  last: string;
  in_packets: number;
  in_bytes: number;
  out_packets?: number;
  out_bytes?: number;
  proto: number;
  src_port?: number;
  dst_port?: number;
  icmp_type?: number;
  icmp_code?: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
}

async function nfdumpRead(dir: string): Promise<NfRecord[]> {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => /^nfcapd\.\d+/.test(n));
  assert.ok(files.length >= 1, `nfcapd wrote no file in ${dir}`);
  const out: NfRecord[] = [];
  for (const f of files) {
    const r = await new Deno.Command("nfdump", {
      args: ["-r", `${dir}/${f}`, "-o", "json"],
      env: { TZ: "UTC" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    const text = new TextDecoder().decode(r.stdout).trim();
    // nfcapd starts a new file every 5 minutes: one that got no flow (a run across the boundary) prints this.
    if (text !== "" && !/^\[\s*No matching flows\s*\]$/.test(text)) {
      out.push(...(JSON.parse(text) as NfRecord[]).filter((x) => (x as { type?: string }).type === "FLOW"));
    }
  }
  return out;
}

/** Runs `jj extract` with --ipfix to `port` and JSON Lines to a file; returns the flows and stderr. */
async function extractWithIpfix(
  inputs: string[],
  port: number,
  extra: string[],
): Promise<{ flows: FlowRecord[]; stderr: string }> {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  const r = await runCli([
    "extract",
    "--features",
    "flow_meta",
    "--ipfix",
    `127.0.0.1:${port}`,
    ...extra,
    "-o",
    out,
    ...inputs,
  ]);
  const stderr = r.stderr;
  assert.equal(r.code, 0, stderr);
  const flows = await readJsonlFile(out);
  await Deno.remove(out);
  return { flows, stderr };
}

function nfKey(r: NfRecord, withOut: boolean): string {
  const port = r.proto === 1 || r.proto === 58 ? ((r.icmp_type ?? 0) << 8) | (r.icmp_code ?? 0) : r.dst_port;
  const sport = r.proto === 1 || r.proto === 58 ? 0 : r.src_port;
  const ms = (s: string) => Date.parse(s + "Z");
  return [
    r.src4_addr ?? r.src6_addr,
    r.dst4_addr ?? r.dst6_addr,
    sport,
    port,
    r.proto,
    r.in_packets,
    r.in_bytes,
    ...(withOut ? [r.out_packets ?? 0, r.out_bytes ?? 0] : []),
    ms(r.first),
    ms(r.last),
  ].join("|");
}

/**
 * The records nfdump should read for the flows: octets from the IP header on (RFC 7012), and a uni-flow
 * record's times its own direction's first and last packet (a biflow record's, the flow's).
 */
function expectedKeys(flows: FlowRecord[], biflow: boolean): string[] {
  const keys: string[] = [];
  // A packet's time cut to its millisecond (as exporters write it), allowing for the double's error.
  const ms = (t: unknown) => {
    const sec = Math.floor(t as number);
    return sec * 1000 + Math.floor(((t as number) - sec) * 1000 + 1.25e-4);
  };
  for (const f of flows) {
    const pf = f.packets_fwd as number, pb = f.packets_bwd as number;
    const k = (a: unknown, b: unknown, sp: unknown, dp: unknown, p: unknown, by: unknown, rest: unknown[]) =>
      [a, b, sp, dp, f.protocol, p, by, ...rest].join("|");
    if (biflow) {
      keys.push(
        k(f.src_ip, f.dst_ip, f.src_port, f.dst_port, pf, f.ip_bytes_fwd, [pb, f.ip_bytes_bwd]) +
          `|${ms(f.start_time)}|${ms(f.end_time)}`,
      );
      continue;
    }
    if (pf > 0 || pb === 0) {
      keys.push(
        k(f.src_ip, f.dst_ip, f.src_port, f.dst_port, pf, f.ip_bytes_fwd, []) +
          `|${ms(f.start_time_fwd ?? f.start_time)}|${ms(f.end_time_fwd ?? f.end_time)}`,
      );
    }
    if (pb > 0) {
      keys.push(
        k(f.dst_ip, f.src_ip, f.dst_port, f.src_port, pb, f.ip_bytes_bwd, []) +
          `|${ms(f.start_time_bwd)}|${ms(f.end_time_bwd)}`,
      );
    }
  }
  return keys.sort();
}

/**
 * The IP bytes (IP header on, by the length fields) of every frame of the captures, as tshark reads them: of
 * the first IP layer (the captures have no tunnels; a second layer is the datagram an ICMP error quotes).
 */
function tsharkIpBytes(files: string[]): number {
  let total = 0;
  for (const file of files) {
    for (
      const [v4, v6] of tsharkRows([
        "-r",
        file,
        "-T",
        "fields",
        "-E",
        "occurrence=f",
        "-e",
        "ip.len",
        "-e",
        "ipv6.plen",
      ])
    ) {
      if (v4 !== "") total += Number(v4);
      else if (v6 !== "") total += 40 + Number(v6);
    }
  }
  return total;
}

const ROUND_TRIP_CAPTURES = [
  "v6.pcap",
  "http_ipv6.pcap",
  "chrome.pcap",
  "dns.pcap",
  "bittorrent.pcap",
  "tls12.pcap",
];

for (
  const [label, extra, biflow] of [
    ["uni-flow records", [], false],
    ["RFC 5103 biflow records", ["--ipfix-biflow"], true],
    ["idp template", ["--ipfix-template", "idp"], false],
  ] as [string, string[], boolean][]
) {
  Deno.test({
    name: `ipfix: extract --ipfix into nfcapd, nfdump -r gives the JSON Lines flows (${label})`,
    ignore: !HAVE_CAPTURES || !HAVE_NFDUMP,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const nf = await startNfcapd();
      let log = "";
      let flows: FlowRecord[] = [];
      let stderr = "";
      try {
        ({ flows, stderr } = await extractWithIpfix(
          ROUND_TRIP_CAPTURES.map(cap),
          nf.port,
          extra,
        ));
        await new Promise((r) => setTimeout(r, 200)); // let nfcapd take the last datagrams
      } finally {
        log = await nf.stop();
      }
      try {
        const got = await nfdumpRead(nf.dir);
        assert.ok(flows.length > 50, `${flows.length} flows`);
        assert.ok(flows.some((f) => f.ip_version_flow === 6) && flows.some((f) => f.ip_version_flow === 4));
        const want = expectedKeys(flows, biflow);
        assert.equal(
          got.length,
          want.length,
          `nfdump has ${got.length} records, JSON Lines make ${want.length}`,
        );
        assert.deepEqual(got.map((r) => nfKey(r, biflow)).sort(), want);
        // totals, as nfcapd counted them on receipt
        const packets = flows.reduce((a, f) => a + (f.total_packets as number), 0);
        const bytes = flows.reduce((a, f) => a + (f.ip_bytes_fwd as number) + (f.ip_bytes_bwd as number), 0);
        if (HAVE_TSHARK) {
          assert.equal(bytes, tsharkIpBytes(ROUND_TRIP_CAPTURES.map(cap)), "IP bytes by tshark");
        }
        // One line per file nfcapd closed: a run across its 5-minute boundary has two (the first was taken
        // alone, and a CI run found 0 flows in it).
        const lines = [
          ...log.matchAll(
            /Flows: (\d+), Packets: (\d+), Bytes: (\d+), Sequence Errors: (\d+), Bad Packets: (\d+)/g,
          ),
        ];
        assert.ok(lines.length > 0, log);
        const sums = [0, 0, 0, 0, 0];
        for (const m of lines) m.slice(1).forEach((v, i) => sums[i] += Number(v));
        assert.deepEqual(sums, [want.length, packets, bytes, 0, 0]);
        assert.match(stderr, new RegExp(`IPFIX: ${want.length} data records`));
      } finally {
        await Deno.remove(nf.dir, { recursive: true });
      }
    },
  });
}

Deno.test("ipfix: each uni-flow record has its own direction's times and IP bytes (ipfix_counters)", async () => {
  const e = new IpfixEncoder({ template: "simple" });
  // Two packets from the initiator (at 0 and 10 s, 38 IP bytes each in 52-byte frames), one back at 20 s.
  const frame = (src: string, dst: string, sp: number, dp: number) =>
    ethernet(ipv4(src, dst, 17, udp(sp, dp, new Uint8Array(10))));
  const capture = pcapFile(1, [
    { ts: 1000, data: frame("10.0.0.1", "10.0.0.2", 40000, 5000) },
    { ts: 1010, data: frame("10.0.0.1", "10.0.0.2", 40000, 5000) },
    { ts: 1020, data: frame("10.0.0.2", "10.0.0.1", 5000, 40000) },
  ]);
  const records: FlowRecord[] = [];
  const opts = { features: ["flow_meta"], extractors: [ipfixCountersExtractor()], idleTimeout: 100 };
  for await (const r of extractFlows(byteStream(capture), opts)) records.push({ ...r });
  assert.equal(records.length, 1);
  const r = records[0];
  assert.deepEqual(
    [r.ip_bytes_fwd, r.ip_bytes_bwd, r.bytes_fwd, r.bytes_bwd],
    [76, 38, 104, 52],
  );
  assert.deepEqual([r.start_time_fwd, r.end_time_fwd, r.start_time_bwd, r.end_time_bwd], [
    1000,
    1010,
    1020,
    1020,
  ]);
  const d = decodeIpfixMessage(e.message(0, 0, e.encodeFlow(r), true), new Map())!;
  // octetDeltaCount (1), flowStartMilliseconds (152), flowEndMilliseconds (153) of each direction's record.
  const v = d.records.map((x) => [x.values["1"], x.values["152"], x.values["153"]].map(Number));
  assert.deepEqual(v, [[76, 1000_000, 1010_000], [38, 1020_000, 1020_000]]);
});

Deno.test("ipfix: a biflow record spans its earliest and latest packets, stamped out of order too", async () => {
  // The initiator at 1010 s, the reply at 1010.5 s, then an initiator packet stamped 1009 s (out of order): the
  // biflow's end was the last to arrive (1009 s), before its start (1010 s).
  const frame = (src: string, dst: string, sp: number, dp: number) =>
    ethernet(ipv4(src, dst, 17, udp(sp, dp, new Uint8Array(10))));
  const capture = pcapFile(1, [
    { ts: 1010, data: frame("10.0.0.1", "10.0.0.2", 40000, 5000) },
    { ts: 1010.5, data: frame("10.0.0.2", "10.0.0.1", 5000, 40000) },
    { ts: 1009, data: frame("10.0.0.1", "10.0.0.2", 40000, 5000) },
  ]);
  const records: FlowRecord[] = [];
  const opts = { features: ["flow_meta"], extractors: [ipfixCountersExtractor()], idleTimeout: 100 };
  for await (const r of extractFlows(byteStream(capture), opts)) records.push({ ...r });
  assert.equal(records.length, 1);
  const e = new IpfixEncoder({ biflow: true });
  const d = decodeIpfixMessage(e.message(0, 0, e.encodeFlow(records[0]), true), new Map())!;
  assert.deepEqual([d.records[0].values["152"], d.records[0].values["153"]].map(Number), [
    1009_000,
    1010_500,
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// the CLI's --ipfix: option conflicts, and the idp columns in every output format

Deno.test("ipfix: extract --ipfix with --anonymize-ips, --specific-features or --bidirectional-split: exit 2", async () => {
  const sink = await udpSink();
  try {
    for (
      const extra of [
        ["--anonymize-ips"],
        ["--specific-features", "src_ip,dst_ip"],
        ["--bidirectional-split"],
      ]
    ) {
      const r = await runCli([
        "extract",
        "-q",
        "--ipfix",
        `127.0.0.1:${sink.port}`,
        ...extra,
        "testdata/http.pcap",
      ]);
      assert.equal(r.code, 2, `${extra[0]}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        new RegExp(`^jj: error: --ipfix cannot be used with ${extra[0]}.*own addresses`, "m"),
      );
      assert.ok(!/^\s+at /m.test(r.stderr), r.stderr);
    }
    // The export's own options without --ipfix were ignored.
    const r = await runCli([
      "extract",
      "-q",
      "--ipfix-biflow",
      "--ipfix-template",
      "idp",
      "testdata/http.pcap",
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^jj: error: --ipfix-template, --ipfix-biflow only apply with --ipfix HOST:PORT$/m,
    );
    // Options that would change nothing: alone, --idp-bytes without the idp template, --ipfix-refresh over TCP.
    for (
      const [args, message] of [
        [["--idp-bytes", "5"], /--idp-bytes only applies with --ipfix HOST:PORT/],
        [
          ["--ipfix", `127.0.0.1:${sink.port}`, "--idp-bytes", "5"],
          /--idp-bytes only applies with --ipfix-template idp/,
        ],
        [
          ["--ipfix", `127.0.0.1:${sink.port}`, "--ipfix-transport", "tcp", "--ipfix-refresh", "5"],
          /--ipfix-refresh only applies to UDP export/,
        ],
        // More IDP bytes than a record carries: refused, not cut without a word.
        [
          ["--ipfix", `127.0.0.1:${sink.port}`, "--ipfix-template", "idp", "--idp-bytes", "16001"],
          /--idp-bytes must be an integer from 1 to 16000/,
        ],
      ] as [string[], RegExp][]
    ) {
      for (const cmd of [["extract", "testdata/http.pcap"], ["live", "-i", "lo", "--duration", "1"]]) {
        const r = await runCli([...cmd, "-q", ...args]);
        assert.equal(r.code, 2, `${cmd[0]} ${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, message);
      }
    }
  } finally {
    sink.close();
  }
});

Deno.test("ipfix: extract --ipfix --ipfix-template idp writes the idp_* columns to CSV as to JSON Lines", async () => {
  const sink = await udpSink();
  const dir = await Deno.makeTempDir({ prefix: "jj-ipfix-" });
  try {
    const base = [
      "extract",
      "-q",
      "--features",
      "flow_meta",
      "--ipfix",
      `127.0.0.1:${sink.port}`,
      "--ipfix-template",
      "idp",
    ];
    const csv = await runCli([...base, "-o", `${dir}/f.csv`, "testdata/http.pcap"]);
    assert.equal(csv.code, 0, csv.stderr);
    const jsonl = await runCli([...base, "-o", `${dir}/f.jsonl`, "testdata/http.pcap"]);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const flows = await readJsonlFile(`${dir}/f.jsonl`);
    assert.ok(flows.length > 0 && flows.some((f) => typeof f.idp_out === "string"));
    const [header, ...rows] = (await Deno.readTextFile(`${dir}/f.csv`)).trim().split("\n");
    const cols = header.split(",");
    assert.deepEqual(cols, Object.keys(flows[0]));
    for (const n of ["idp_out", "idp_len_out", "idp_in", "idp_len_in"]) assert.ok(cols.includes(n), n);
    assert.equal(rows.length, flows.length);
    const at = cols.indexOf("idp_len_out");
    assert.deepEqual(
      rows.map((l) => l.split(",")[at]),
      flows.map((f) => f.idp_len_out === null ? "" : String(f.idp_len_out)),
    );
  } finally {
    sink.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ipfix: flowStartMilliseconds is the packet's millisecond, cut (a nanosecond stamp just before one too)", () => {
  const enc = new IpfixEncoder();
  const known = new Map<number, IpfixTemplate>();
  for (
    const [t, want] of [
      [1700000000.0749996, 1700000000074], // 0.4 µs before the next millisecond
      [1700000000.0745, 1700000000074],
      [1700000000.001, 1700000000001], // a microsecond stamp that is 1.00099999... as a double
      [1700000000.999999, 1700000000999],
    ]
  ) {
    const rec = {
      src_ip: "10.0.0.1",
      dst_ip: "10.0.0.2",
      protocol: 17,
      packets_fwd: 1,
      start_time: t,
      end_time: t,
    };
    const d = decodeIpfixMessage(enc.message(0, 0, enc.encodeFlow(rec), true), known)!;
    assert.equal(d.records[0].values["152"], want, `${t}`);
  }
});

Deno.test("ipfix: a TCP collector that stops reading: writes and close end in time, drops are counted", async () => {
  // It accepts and never reads. Each send waited on it: the run's other outputs with it, for ever, and what
  // waited grew without bound.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  const warnings: string[] = [];
  try {
    const ex = await IpfixExporter.connect({
      host: "127.0.0.1",
      port,
      transport: "tcp",
      maxMessageSize: 60000,
      timeoutMs: 300,
      onWarning: (m) => warnings.push(m),
    });
    await accepted;
    const started = performance.now();
    // Some 30 MB of records: far past what the socket's buffers take.
    const flows = manyFlows(1000);
    for (let round = 0; round < 400; round++) for (const f of flows) await ex.write(f);
    await ex.close();
    const seconds = (performance.now() - started) / 1000;
    assert.ok(ex.stats.lost > 0, "records dropped");
    const records = 400 * flows.reduce((a, f) => a + ex.encoder.encodeFlow(f).length, 0);
    assert.equal(ex.stats.records + ex.stats.lost, records, "every record sent or counted lost");
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /is not reading/);
    assert.ok(seconds < 60, `${seconds} s`);
  } finally {
    (await accepted.catch(() => null))?.close();
    listener.close();
  }
});

Deno.test("ipfix: a TCP collector whose connection does not open is an error within the timeout", async () => {
  // A listener whose accept queue is full: the kernel drops further SYNs, so a connect hangs in its retries
  // (about two minutes), deaf to Ctrl-C.
  const port = freePort();
  const blackhole = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket,sys,time\n" +
      "l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
      `l.bind(('127.0.0.1', ${port})); l.listen(0)\n` +
      "fill=[]\n" +
      "for i in range(3):\n" +
      "  c=socket.socket(); c.setblocking(False)\n" +
      `  try: c.connect(('127.0.0.1', ${port}))\n` +
      "  except BlockingIOError: pass\n" +
      "  fill.append(c)\n" +
      "print('ready', flush=True)\n" +
      "time.sleep(60)\n",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = blackhole.stdout.getReader();
    await reader.read(); // "ready"
    reader.releaseLock();
    const started = performance.now();
    await assert.rejects(
      () => IpfixExporter.connect({ host: "127.0.0.1", port, transport: "tcp", timeoutMs: 500 }),
      /no connection to 127\.0\.0\.1:\d+ within 0\.5 s/,
    );
    assert.ok(performance.now() - started < 20000);
  } finally {
    blackhole.kill();
    await blackhole.status;
    await blackhole.stdout.cancel().catch(() => {});
  }
});

Deno.test("ipfix: a TCP collector that reads slowly is waited for and loses nothing; close twice counts once", async () => {
  // It reads 4 KB every 20 ms through a 4 KB receive buffer: once a message waited longer than the timeout,
  // every record past 64 queued messages was dropped for the rest of the run.
  const port = freePort();
  const collector = new Deno.Command("python3", {
    args: [
      "-c",
      "import socket,sys,time\n" +
      "l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
      "l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)\n" +
      `l.bind(('127.0.0.1', ${port})); l.listen(1)\n` +
      "print('ready', flush=True)\n" +
      "c,_=l.accept(); n=0\n" +
      "while True:\n" +
      "  b=c.recv(4096)\n" +
      "  if not b: break\n" +
      "  n+=len(b); time.sleep(0.02)\n" +
      "print(n, flush=True)\n",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // Its output read as it comes: the first line says it listens (a fixed wait was too short on a loaded
  // machine: connection refused).
  let listening: () => void = () => {};
  const ready = new Promise<void>((r) => listening = r);
  const text = (async () => {
    let all = "";
    for await (const chunk of collector.stdout.pipeThrough(new TextDecoderStream())) {
      all += chunk;
      if (all.includes("ready\n")) listening();
    }
    return all;
  })();
  try {
    await Promise.race([ready, text]);
    const ex = await IpfixExporter.connect({
      host: "127.0.0.1",
      port,
      transport: "tcp",
      maxMessageSize: 60000,
      timeoutMs: 100,
    });
    const flows = manyFlows(1000);
    for (let round = 0; round < 8; round++) for (const f of flows) await ex.write(f);
    const closes = [ex.close(), ex.close()];
    await Promise.all(closes);
    const records = 8 * flows.reduce((a, f) => a + ex.encoder.encodeFlow(f).length, 0);
    const got = Number((await text).trim().split("\n").at(-1));
    assert.equal(ex.stats.lost, 0);
    assert.equal(ex.stats.records, records);
    assert.equal(got, ex.stats.bytes);
  } finally {
    try {
      collector.kill();
    } catch { /* ended */ }
    await text.catch(() => "");
    await collector.status;
  }
});

Deno.test({
  name:
    "ipfix_counters: IP bytes are what the frames carried: a length past the frame, a tunnel's outer fragments (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    const ipBytes = async (file: string) => {
      const records: FlowRecord[] = [];
      const opts = { features: ["flow_meta"], extractors: [ipfixCountersExtractor()] };
      for await (const r of extractFlows(file, opts)) records.push({ ...r });
      for (const r of records) {
        assert.ok((r.ip_bytes_fwd as number) <= (r.bytes_fwd as number), file);
        assert.ok((r.ip_bytes_bwd as number) <= (r.bytes_bwd as number), file);
      }
      return records.reduce((n, r) => n + (r.ip_bytes_fwd as number) + (r.ip_bytes_bwd as number), 0);
    };
    // A DNS reply whose IPv4 total length says 1500 in a 271-byte frame: the frame held 257 IP bytes (tshark:
    // "IPv4 total length exceeds packet length (257 bytes)"); 1500 were counted.
    const past = `${ROOT}/testdata/flow_edge/ip_len_past_frame.pcap`;
    const [[frameLen, ipLen]] = tsharkRows(["-r", past, "-T", "fields", "-e", "frame.len", "-e", "ip.len"]);
    assert.ok(Number(ipLen) > Number(frameLen));
    assert.equal(await ipBytes(past), Number(frameLen) - 14);
    // Tunnels whose outer datagrams are fragmented: the inner packets' IP lengths, once each (tshark, without
    // reassembly, reads the inner header in each first fragment). The later fragments' outer lengths were added
    // to the first one's inner length: 2,794 bytes for a 1,677-byte inner packet in 1,779 bytes of frames.
    for (const tunnel of ["ipip", "gre", "vxlan", "gtp"]) {
      const file = `${ROOT}/testdata/tunnel_edge/${tunnel}_outer_frag.pcap`;
      const rows = tsharkRows(["-r", file, "-o", "ip.defragment:FALSE", "-T", "fields", "-e", "ip.len"]);
      const inner = rows.map((row) => row[0].split(",")).filter((lens) => lens.length >= 2)
        .reduce((n, lens) => n + Number(lens[lens.length - 1]), 0);
      assert.equal(await ipBytes(file), inner, tunnel);
    }
  },
});
