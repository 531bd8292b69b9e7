/**
 * Messages sent a few bytes per segment: DNS over TCP and HTTP/1 heads read the same as when sent whole. The
 * groups resume their work where the last segment's stopped (a DNS message's partial test passes once; an HTTP
 * head's search for its blank line goes on from where it was), so every way a message or a head's end can be
 * split between segments is tried here: one, two and three bytes per segment.
 */
import assert from "node:assert/strict";
import { FlowPipeline } from "../lib/pipeline.ts";
import { dnsExtractor, flowMetaExtractor, httpExtractor } from "../extractors/mod.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import { ethernet, F, ipv4, tcp } from "./helpers.ts";

const enc = new TextEncoder();

/**
 * The record of one TCP connection (handshake, then the client's bytes and the server's, each cut into
 * segments of `size` bytes) through flow_meta and `group`.
 */
function connection(
  group: typeof dnsExtractor | typeof httpExtractor,
  port: number,
  client: Uint8Array,
  server: Uint8Array,
  size: number,
): FlowRecord {
  const records: FlowRecord[] = [];
  const pipeline = new FlowPipeline([flowMetaExtractor, group], {}, (r) => records.push(structuredClone(r)));
  let ts = 1_700_000_000;
  const send = (fromClient: boolean, flags: number, payload: Uint8Array, seq: number, ack: number) => {
    const seg = fromClient
      ? tcp(40000, port, flags, payload, { seq, ack })
      : tcp(port, 40000, flags, payload, { seq, ack });
    const f = ethernet(
      fromClient ? ipv4("10.0.0.1", "10.0.0.2", 6, seg) : ipv4("10.0.0.2", "10.0.0.1", 6, seg),
    );
    pipeline.packet(ts += 1e-4, f, 0, f.length, f.length, 1);
  };
  send(true, F.SYN, new Uint8Array(0), 1000, 0);
  send(false, F.SYN | F.ACK, new Uint8Array(0), 5000, 1001);
  send(true, F.ACK, new Uint8Array(0), 1001, 5001);
  for (let o = 0; o < client.length; o += size) {
    send(true, F.PSH | F.ACK, client.subarray(o, o + size), 1001 + o, 5001);
  }
  for (let o = 0; o < server.length; o += size) {
    send(false, F.PSH | F.ACK, server.subarray(o, o + size), 5001 + o, 1001 + client.length);
  }
  pipeline.flush();
  assert.equal(records.length, 1);
  return records[0];
}

/** The columns of `record` whose names start with `prefix`. */
function columns(record: FlowRecord, prefix: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => k.startsWith(prefix)));
}

/** A DNS message for example.org with `answers` A records (a response) or none (a query), behind its TCP length. */
function dnsOverTcp(response: boolean, answers: number): Uint8Array {
  const m = [
    0x12,
    0x34,
    response ? 0x81 : 0x01,
    response ? 0x80 : 0,
    0,
    1,
    answers >> 8,
    answers & 255,
    0,
    0,
    0,
    0,
  ];
  for (const label of ["www", "example", "org"]) m.push(label.length, ...enc.encode(label));
  m.push(0, 0, 1, 0, 1);
  for (let i = 0; i < answers; i++) m.push(0xc0, 12, 0, 1, 0, 1, 0, 0, 1, i, 0, 4, 192, 0, 2, i);
  return new Uint8Array([m.length >> 8, m.length & 255, ...m]);
}

Deno.test("dns over TCP: a query and a 40-answer response sent 1, 2 or 3 bytes per segment read as when sent whole", () => {
  const query = dnsOverTcp(false, 0), response = dnsOverTcp(true, 40);
  // Longer than the partial test's 274 bytes: the response is tested while unfinished.
  assert.ok(response.length > 274);
  const whole = columns(connection(dnsExtractor, 53, query, response, 1 << 16), "dns_");
  assert.equal(whole.dns_detected, true);
  assert.equal(whole.dns_answer_count, 40);
  assert.equal(whole.dns_query_name, "www.example.org");
  for (const size of [1, 2, 3]) {
    assert.deepEqual(columns(connection(dnsExtractor, 53, query, response, size), "dns_"), whole, `${size}`);
  }
});

Deno.test("http: heads of 4 KB ending in CRLF CRLF or LF LF, sent 1, 2 or 3 bytes per segment, read as when sent whole", () => {
  const headers = Array.from({ length: 130 }, (_, i) => `X-Header-${i}: ${"v".repeat(20)}`);
  for (const eol of ["\r\n", "\n"]) {
    const request = enc.encode(
      ["GET /trickle HTTP/1.1", "Host: example.org", "User-Agent: trickle/1", ...headers, "", ""].join(eol),
    );
    const response = enc.encode(
      ["HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 2", ...headers, "", "ok"].join(eol),
    );
    assert.ok(request.length > 4000);
    const whole = columns(connection(httpExtractor, 80, request, response, 1 << 16), "http_");
    assert.equal(whole.http_method, "GET");
    assert.equal(whole.http_uri, "/trickle");
    assert.equal(whole.http_status_code, 200);
    assert.equal(whole.http_content_type, "text/plain");
    for (const size of [1, 2, 3]) {
      assert.deepEqual(
        columns(connection(httpExtractor, 80, request, response, size), "http_"),
        whole,
        `${JSON.stringify(eol)}, ${size}`,
      );
    }
  }
});
