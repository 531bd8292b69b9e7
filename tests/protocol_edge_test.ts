/**
 * Protocol columns a review found wrong, checked on real captures against tshark's reading of them:
 * a DHE ServerKeyExchange whose prime is 768 to 1023 bytes long (`testdata/tls_edge/`, OpenSSL on loopback),
 * the SSH packet carrying NEWKEYS and the first encrypted bytes (`testdata/tcp_edge/ssh_flights.pcap`), and
 * the ServerHello after a QUIC HelloRetryRequest (the corpus' quic-29.pcap), and TLS after a plain-text reply
 * without a line feed (`testdata/tls_edge/`, XMPP STARTTLS and a PostgreSQL SSLRequest on loopback).
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  cap,
  type CapPacket,
  collect,
  ethernet,
  HAVE_SHARED,
  HAVE_TSHARK,
  ipv4,
  pcapFile,
  ROOT,
  tcp,
  tsharkFields,
  tsharkRows,
  udp,
} from "./helpers.ts";

Deno.test("tls: a DHE prime of 6144 bits is not read as an ECDHE curve (its length's high byte is 3)", async () => {
  for (const [file, bits] of [["dhe6144.pcap", 6144], ["dhe2048.pcap", 2048]] as const) {
    const path = `${ROOT}/testdata/tls_edge/${file}`;
    const [r] = (await collect(path, { features: ["tls"] })).records;
    assert.equal(r.tls_cipher_suite, 158, file); // TLS_DHE_RSA_WITH_AES_128_GCM_SHA256
    assert.equal(r.tls_key_exchange_group, null, file); // was 255, bytes of the prime
    assert.equal(r.tls_key_exchange_length, bits, file); // was 2040
    if (HAVE_TSHARK) {
      const rows = tsharkRows([
        "-r",
        path,
        "-Y",
        "tls.handshake.p_len",
        "-T",
        "fields",
        "-e",
        "tls.handshake.p_len",
      ]);
      assert.deepEqual(rows.map((x) => Number(x[0]) * 8), [bits], file);
    }
  }
});

Deno.test("tls: a segment of the Certificate not captured: the ServerKeyExchange after it is still read (tshark)", async () => {
  // The server's bytes after the hole waited for a retransmission that never came: the key exchange was null,
  // and the certificate columns said 0 (none sent) where the Certificate was lost.
  const path = `${ROOT}/testdata/tls_edge/cert_segment_not_captured.pcap`;
  const [r] = (await collect(path, { features: ["tls"] })).records;
  assert.deepEqual(
    [r.tls_key_exchange_group, r.tls_key_exchange_group_name, r.tls_key_exchange_length],
    [0x1d, "x25519", 256],
  );
  assert.deepEqual([r.tls_cert_count, r.tls_cert_total_length, r.tls_cert_chain_length], [null, null, null]);
  if (HAVE_TSHARK) {
    const rows = tsharkRows([
      "-r",
      path,
      "-Y",
      "tls.handshake.type == 12",
      "-T",
      "fields",
      "-e",
      "tls.handshake.server_named_curve",
      "-e",
      "tls.handshake.server_point_len",
    ]);
    assert.deepEqual(rows.map((x) => [Number(x[0]), Number(x[1]) * 8]), [[0x1d, 256]]);
    // tshark reads no Certificate message either.
    assert.deepEqual(
      tsharkRows(["-r", path, "-Y", "tls.handshake.type == 11", "-T", "fields", "-e", "frame.number"]),
      [],
    );
  }
  // A hole ending exactly where a record ends, or where the message ends inside its record: the message is
  // passed over, the ServerKeyExchange read (both fell back to passing over the record, and lost it). The
  // Certificate in two records, the hole in the first: the message's length, not the record's end, says where
  // the ServerKeyExchange starts (the second record's bytes were read as a message header).
  for (const name of ["cert_hole_to_record_end", "cert_hole_to_message_end", "cert_two_records_hole"]) {
    const file = `${ROOT}/testdata/tls_edge/${name}.pcap`;
    const [b] = (await collect(file, { features: ["tls"] })).records;
    const want = [0x1d, 256, null];
    assert.deepEqual([b.tls_key_exchange_group, b.tls_key_exchange_length, b.tls_cert_count], want, name);
    // tshark does not read the message-end layout even without a hole.
    if (HAVE_TSHARK && name !== "cert_hole_to_message_end") {
      const curves = tsharkRows(["-r", file, "-Y", "tls.handshake.type == 12", "-T", "fields", "-e", CURVE]);
      assert.deepEqual(curves.map((x) => Number(x[0])), [0x1d], name);
    }
  }
});

const CURVE = "tls.handshake.server_named_curve";

Deno.test("ssh: the segment carrying NEWKEYS is a key exchange packet, not an encrypted one", async () => {
  const path = `${ROOT}/testdata/tcp_edge/ssh_flights.pcap`;
  const [r] = (await collect(path, { features: ["ssh"] })).records;
  // OpenSSH's server sends its KEX reply, NEWKEYS and the first encrypted bytes in one segment.
  assert.equal(r.ssh_encrypted_packets, 4);
  if (HAVE_TSHARK) {
    // Segments with payload after the one holding each direction's NEWKEYS (message 21), as tshark reads them.
    const rows = tsharkRows([
      "-r",
      path,
      "-d",
      "tcp.port==2222,ssh",
      "-T",
      "fields",
      "-e",
      "tcp.srcport",
      "-e",
      "tcp.len",
      "-e",
      "ssh.message_code",
    ]);
    const newKeysSeen = new Set<string>();
    let after = 0;
    for (const [port, len, codes] of rows) {
      if (newKeysSeen.has(port) && Number(len) > 0) after++;
      if (codes.split(",").includes("21")) newKeysSeen.add(port);
    }
    assert.equal(newKeysSeen.size, 2);
    assert.equal(r.ssh_encrypted_packets, after);
  }
});

Deno.test({
  name:
    "quic: after a HelloRetryRequest the ServerHello that follows gives the key exchange (tshark: x25519)",
  ignore: !HAVE_SHARED,
  async fn() {
    const r = (await collect(cap("quic-29.pcap"), { features: ["tls", "quic"] })).records
      .find((x) => x.src_port === 36588);
    assert.ok(r !== undefined);
    assert.equal(r.tls_key_exchange_group, 29);
    assert.equal(r.tls_key_exchange_group_name, "x25519");
    assert.equal(r.tls_key_exchange_length, 256);
    assert.equal(r.tls_session_resumed, false);
  },
});

/** A capture of TCP exchanges (client 10.0.0.1, server 10.0.0.2:80), each a list of [direction, bytes]. */
function tcpExchanges(exchanges: [0 | 1, string | Uint8Array][][], serverPort = 80): Uint8Array {
  const frames: CapPacket[] = [];
  let t = 1000;
  exchanges.forEach((messages, i) => {
    const port = 40000 + i;
    const seq = [1000, 5000];
    const seg = (dir: 0 | 1, flags: number, data: Uint8Array) => {
      const [src, dst, sp, dp] = dir === 0
        ? ["10.0.0.1", "10.0.0.2", port, serverPort]
        : ["10.0.0.2", "10.0.0.1", serverPort, port];
      frames.push({
        ts: t += 0.001,
        data: ethernet(ipv4(src, dst, 6, tcp(sp, dp, flags, data, { seq: seq[dir], ack: seq[dir ^ 1] }))),
      });
      seq[dir] += data.length + (flags & 0x03 ? 1 : 0);
    };
    seg(0, 0x02, new Uint8Array(0));
    seg(1, 0x12, new Uint8Array(0));
    seg(0, 0x10, new Uint8Array(0));
    for (const [dir, m] of messages) seg(dir, 0x18, typeof m === "string" ? new TextEncoder().encode(m) : m);
  });
  return pcapFile(1, frames);
}

Deno.test("http: short messages, methods tshark knows, and an empty line before the request line", async () => {
  const file = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    await Deno.writeFile(
      file,
      tcpExchanges([
        // 18 and 19 bytes: under the 24 a start waited for, and never read.
        [[0, "GET / HTTP/1.0\r\n\r\n"], [1, "HTTP/1.0 200 OK\r\n\r\n"]],
        [[0, "RPC_IN_DATA /rpc/rpcproxy.dll?x:6001 HTTP/1.1\r\nHost: ex\r\n\r\n"], [
          1,
          "HTTP/1.1 200 OK\r\n\r\n",
        ]],
        [[0, "\r\nGET /crlf HTTP/1.1\r\nHost: crlf\r\n\r\n"], [1, "HTTP/1.1 204 No Content\r\n\r\n"]],
        [[0, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"], [
          1,
          "\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
        ]],
      ]),
    );
    const records = (await collect(file, { features: ["http2"] })).records;
    assert.deepEqual(
      records.map((r) => [r.src_port, r.http_method, r.http_uri, r.http_status_code]),
      [
        [40000, "GET", "/", 200],
        [40001, "RPC_IN_DATA", "/rpc/rpcproxy.dll?x:6001", 200],
        [40002, "GET", "/crlf", 204],
        [40003, "GET", "/x", 404],
      ],
    );
    if (HAVE_TSHARK) {
      const rows = tsharkRows([
        "-r",
        file,
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-e",
        "http.request.method",
      ]);
      assert.deepEqual(rows.map((x) => x[0]), ["GET", "RPC_IN_DATA", "GET", "GET"]);
    }
  } finally {
    await Deno.remove(file);
  }
});

/** A DNS message: header (id, flags), one question for a.example A IN, and an A answer when `answer`. */
function dnsMessage(id: number, flags: number, answer: boolean): Uint8Array {
  const name = [1, 0x61, 7, ...new TextEncoder().encode("example"), 0];
  const header = [id >> 8, id & 0xff, flags >> 8, flags & 0xff, 0, 1, 0, answer ? 1 : 0, 0, 0, 0, 0];
  const rr = answer ? [0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1] : [];
  return new Uint8Array([...header, ...name, 0, 1, 0, 1, ...rr]);
}

Deno.test("dns: a bad first datagram does not make a flow not DNS, and malformed messages count as tshark counts them", async () => {
  const frames: CapPacket[] = [];
  let t = 1000;
  const dgram = (dir: 0 | 1, sport: number, payload: Uint8Array) =>
    frames.push({
      ts: t += 0.01,
      data: ethernet(
        dir === 0
          ? ipv4("10.0.0.1", "10.0.0.2", 17, udp(sport, 53, payload))
          : ipv4("10.0.0.2", "10.0.0.1", 17, udp(53, sport, payload)),
      ),
    });
  // Port 15001: 3 bytes first (it was dns_detected false for the whole flow), then a query and its answer.
  dgram(0, 15001, new Uint8Array([1, 2, 3]));
  dgram(0, 15001, dnsMessage(1, 0x0100, false));
  dgram(1, 15001, dnsMessage(1, 0x8180, true));
  // Port 15002: 40 queries, the 5th and the 36th malformed (a query with an error code): tshark counts all 40;
  // the 5th was left out and the 36th (past the 32 messages parsed) counted.
  for (let i = 1; i <= 40; i++) {
    const m = dnsMessage(i, 0x0100, false);
    if (i === 5 || i === 36) m[3] = 0x01;
    dgram(0, 15002, m);
  }
  // Port 15003: a response with the TC bit, cut to 20 bytes (malformed): counted, and truncated, as by tshark.
  dgram(0, 15003, dnsMessage(3, 0x0100, false));
  dgram(1, 15003, dnsMessage(3, 0x8380, true).subarray(0, 20));
  const file = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    await Deno.writeFile(file, pcapFile(1, frames));
    const records = (await collect(file, { features: ["dns"] })).records;
    assert.deepEqual(
      records.map((r) => [r.src_port, r.dns_detected, r.dns_queries, r.dns_responses, r.dns_truncated]),
      [[15001, true, 1, 1, false], [15002, true, 40, 0, false], [15003, true, 1, 1, true]],
    );
    // Over TCP, a response the capture cut (its first 20 bytes, then the end) is not counted: tshark never
    // reads that PDU.
    const query = dnsMessage(4, 0x0100, false), reply = dnsMessage(4, 0x8180, true);
    const framed = (m: Uint8Array) => new Uint8Array([m.length >> 8, m.length & 0xff, ...m]);
    await Deno.writeFile(file, tcpExchanges([[[0, framed(query)], [1, framed(reply).subarray(0, 20)]]], 53));
    const [tcpFlow] = (await collect(file, { features: ["dns"] })).records;
    assert.deepEqual([tcpFlow.dns_queries, tcpFlow.dns_responses], [1, 0]);
  } finally {
    await Deno.remove(file);
  }
});

Deno.test({
  name:
    "tls: full handshakes without a server certificate (PSK, DHE-PSK, ECDHE-PSK, anonymous DH) are no resumption",
  ignore: !HAVE_TSHARK,
  async fn() {
    for (const name of ["t12_psk", "t12_dhepsk", "t12_ecdhepsk", "t12_adh"]) {
      const path = `${ROOT}/testdata/tls_edge/${name}.pcap`;
      // tshark: the server sent ServerHelloDone and no Certificate; s_client said "New" (not "Reused").
      const types = (await tsharkFields(path, ["tls.handshake.type"])).flatMap((r) => r[0].split(/[,|]/));
      assert.ok(types.includes("14") && !types.includes("11"), `${name}: ${types.join(" ")}`);
      const said = await Deno.readTextFile(`${ROOT}/testdata/tls_edge/${name}.s_client.txt`);
      assert.match(said, /^New, /m);
      const { records } = await collect(path, { features: ["tls"] });
      const r = records.find((x) => x.tls_detected === true)!;
      assert.equal(r.tls_session_resumed, false, name);
      assert.equal(r.tls_cert_count, 0, name);
      // The server's key as s_client reports it (X25519 as its 256-bit public key, jj's length).
      const dh = /Server Temp Key: DH, (\d+) bits/.exec(said), x = /Server Temp Key: X25519/.test(said);
      if (dh !== null) assert.equal(r.tls_key_exchange_length, Number(dh[1]), name);
      else if (x) {
        assert.deepEqual([r.tls_key_exchange_group_name, r.tls_key_exchange_length], ["x25519", 256], name);
      } else assert.equal(r.tls_key_exchange_length, null, name);
    }
  },
});

Deno.test({
  name: "tls: a capture of the client's side only says nothing of the server's certificates (null, not 0)",
  ignore: !HAVE_TSHARK || !HAVE_SHARED,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/client.pcap`;
      const out = await new Deno.Command("tshark", {
        args: ["-r", cap("443-curl.pcap"), "-Y", "tcp.dstport == 443", "-F", "pcap", "-w", path],
        stdout: "null",
        stderr: "null",
      }).output();
      assert.equal(out.code, 0);
      const full = (await collect(cap("443-curl.pcap"), { features: ["tls"] })).records.find((r) =>
        r.tls_detected
      )!;
      const half = (await collect(path, { features: ["tls"] })).records.find((r) => r.tls_detected)!;
      assert.ok((full.tls_cert_count as number) > 0);
      assert.equal(half.packets_bwd, 0);
      assert.deepEqual([half.tls_cert_count, half.tls_cert_total_length, half.tls_session_resumed], [
        null,
        null,
        null,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** tshark's field output with every occurrence of a field, joined by "|". */
const ALL_OCCURRENCES = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"];

Deno.test({
  name:
    "tls: TLS after a plain-text reply without a line feed (XMPP <proceed/>, PostgreSQL's S) agrees with tshark",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Captured on lo: openssl s_client -starttls xmpp against a Python server (the XML stream has no line
    // feeds), and a PostgreSQL-style SSLRequest answered "S", then TLS 1.2 with a three-certificate chain.
    for (
      const [file, decodeAs] of [["starttls_xmpp.pcap", "5222,xmpp"], ["pg_sslrequest.pcap", "5433,pgsql"]]
    ) {
      const path = `${ROOT}/testdata/tls_edge/${file}`;
      const [r] = (await collect(path, { features: ["tls"] })).records;
      const rows = tsharkRows([
        "-r",
        path,
        "-d",
        `tcp.port==${decodeAs}`,
        "-Y",
        "tls.handshake.type == 1 || tls.handshake.type == 2",
        ...ALL_OCCURRENCES,
        ...["ja3", "ja3s", "extensions_server_name", "ciphersuite", "certificate_length"]
          .flatMap((f) => ["-e", `tls.handshake.${f}`]),
      ]);
      const client = rows.find((x) => x[0] !== ""), server = rows.find((x) => x[1] !== "");
      assert.ok(client !== undefined && server !== undefined, `${file}: tshark read both hellos`);
      assert.equal(r.ja3_hash, client[0], file);
      assert.equal(r.tls_sni, client[2], file);
      assert.equal(r.ja3s_hash, server[1], file);
      assert.equal(r.tls_cipher_suite, Number(server[3]), file);
      const certs = server[4].split("|").map(Number);
      assert.equal(r.tls_cert_count, certs.length, file);
      assert.equal(r.tls_version, 0x0303, file);
    }
  },
});

Deno.test({
  name:
    "tls: a second ClientHello after a HelloRetryRequest is read when the first carried 0-RTT data (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // OpenSSL on lo: a session, then a resumption offering early data with x25519 first to a server that wants
    // P-256: ClientHello, 0-RTT data, HelloRetryRequest, a second ClientHello in clear, ServerHello. The 0-RTT
    // record ended the client's side: its second ClientHello was not counted.
    const path = `${ROOT}/testdata/tls_edge/hrr_early_data.pcap`;
    const handshake = ["-Y", "tls.record.content_type == 22"];
    const frames = tsharkRows([
      "-r",
      path,
      ...handshake,
      "-T",
      "fields",
      "-e",
      "tcp.srcport",
      "-e",
      "tcp.dstport",
    ]);
    const { records } = await collect(path, { features: ["tls"] });
    assert.equal(records.length, 2);
    for (const r of records) {
      const want = frames.filter(([a, b]) => Number(a) === r.src_port || Number(b) === r.src_port).length;
      assert.equal(r.tls_handshake_packets, want, `port ${r.src_port}`);
    }
    const resumed = records.find((r) => r.tls_early_data_ext === true);
    assert.equal(resumed?.tls_handshake_packets, 4);
  },
});

/** A classic pcap's records, and the file put back together with them in another order (times kept in place). */
function reorderPcap(
  pcap: Uint8Array<ArrayBuffer>,
  order: (frames: number[]) => number[],
): Uint8Array<ArrayBuffer> {
  const dv = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const recs: Uint8Array[] = [];
  for (let o = 24; o + 16 <= pcap.length;) {
    const len = 16 + dv.getUint32(o + 8, true);
    recs.push(pcap.subarray(o, o + len));
    o += len;
  }
  const idx = order(recs.map((_, i) => i));
  const out = new Uint8Array(pcap.length);
  out.set(pcap.subarray(0, 24));
  let o = 24;
  idx.forEach((k, n) => {
    out.set(recs[k], o);
    out.set(recs[n].subarray(0, 8), o); // the n-th time stamp: times stay in order
    o += recs[k].length;
  });
  return out;
}

/** `column` of the first record of a capture held in memory, extracted with `group`. */
async function firstRecordColumn(
  bytes: Uint8Array<ArrayBuffer>,
  group: string,
  column: string,
): Promise<unknown> {
  const [r] = (await collect(new Blob([bytes]).stream(), { features: [group] })).records;
  return r[column];
}

Deno.test("tls: tls_handshake_packets does not depend on the order segments come in (tshark)", async () => {
  // OpenSSL at MTU 300: the server's flight (ServerHello to ServerHelloDone) spans 19 segments. Reversed or
  // shuffled, the segments waiting behind a hole were counted as one packet with the one that filled it (4, 6
  // or 7 instead of 22).
  const path = `${ROOT}/testdata/tls_edge/mtu300_handshake.pcap`;
  const pcap = await Deno.readFile(path);
  const count = (bytes: Uint8Array<ArrayBuffer>) => firstRecordColumn(bytes, "tls", "tls_handshake_packets");
  const inOrder = await count(pcap);
  if (HAVE_TSHARK) {
    // Each side's segments with payload before the first segment of its first application data record (the
    // segments tshark reassembled it from, or its own frame).
    const payload = await tsharkFields(path, ["frame.number", "tcp.srcport"], ["-Y", "tcp.len > 0"]);
    const appData = await tsharkFields(path, ["frame.number", "tcp.srcport", "tcp.segment"], [
      "-Y",
      "tls.record.content_type == 23",
    ]);
    const firstApp = new Map<string, number>();
    for (const [n, port, segments] of appData) {
      if (!firstApp.has(port)) firstApp.set(port, Number(segments === "" ? n : segments.split("|")[0]));
    }
    const expected = payload.filter(([n, port]) => Number(n) < (firstApp.get(port) ?? Infinity)).length;
    assert.equal(inOrder, expected);
  }
  assert.equal(inOrder, 22);
  // Frames 6 to 41 hold the server's flight (frame numbers from 1).
  const flight = (
    f: number[],
    arrange: (x: number[]) => number[],
  ) => [...f.slice(0, 5), ...arrange(f.slice(5, 41)), ...f.slice(41)];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const shuffle = (x: number[]) => {
    const y = [...x];
    for (let i = y.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [y[i], y[j]] = [y[j], y[i]];
    }
    return y;
  };
  for (const arrange of [(x: number[]) => [...x].reverse(), shuffle, shuffle, shuffle]) {
    assert.equal(await count(reorderPcap(pcap, (f) => flight(f, arrange))), inOrder);
  }
  // A segment the stream buffer refused (one disjoint range too many), sent again in order later: once, as
  // each distinct segment (it was counted when read, and matched again at the end).
  const refused = `${ROOT}/testdata/tls_edge/refused_segment_sent_again.pcap`;
  const [r] = (await collect(refused, { features: ["tls"] })).records;
  if (HAVE_TSHARK) {
    const distinct = new Set(
      tsharkRows(["-r", refused, "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.seq"])
        .map((x) => x.join(" ")),
    );
    assert.equal(r.tls_handshake_packets, distinct.size);
  }
  assert.equal(r.tls_handshake_packets, 139);
});

Deno.test("ssh: ssh_encrypted_packets does not depend on the order segments come in (tshark)", async () => {
  // ssh_flights.pcap with the client's two encrypted segments (frames 18 and 22) sent before its NEWKEYS
  // (frame 16): they waited behind it, were read with it in one go, and were not counted (2, not 4).
  const path = `${ROOT}/testdata/tcp_edge/ssh_flights.pcap`;
  const pcap = await Deno.readFile(path);
  const count = (bytes: Uint8Array<ArrayBuffer>) => firstRecordColumn(bytes, "ssh", "ssh_encrypted_packets");
  const inOrder = await count(pcap);
  assert.equal(inOrder, 4);
  if (HAVE_TSHARK) {
    // The client's segments with payload after the one carrying its NEWKEYS (message 21).
    const rows = tsharkRows([
      ...["-r", path, "-d", "tcp.port==2222,ssh", "-Y", "tcp.len > 0 && tcp.srcport == 39124"],
      ...["-T", "fields", "-e", "frame.number", "-e", "ssh.message_code"],
    ]);
    const newkeys = rows.findIndex((x) => x[1].split(",").includes("21"));
    assert.deepEqual(rows.slice(newkeys + 1).map((x) => Number(x[0])), [18, 22]);
  }
  const early = reorderPcap(
    pcap,
    (f) => [...f.slice(0, 15), 17, 21, 15, ...f.slice(16).filter((i) => i !== 17 && i !== 21)],
  );
  assert.equal(await count(early), inOrder);
});

Deno.test("tls: STARTTLS after a long plain-text phase, a refused STARTTLS, CONNECT after keep-alive exchanges, and a PROXY v2 header", async () => {
  const read = async (name: string) =>
    (await collect(`${ROOT}/testdata/tls_edge/${name}`, { features: ["tls"] })).records;
  const ja3 = (file: string, type: 1 | 2, extra: string[] = []) =>
    tsharkRows([
      "-r",
      file,
      ...extra,
      "-Y",
      `tls.handshake.type == ${type}`,
      "-T",
      "fields",
      "-e",
      type === 1 ? "tls.handshake.ja3" : "tls.handshake.ja3s",
    ]).map((x) => x[0]);
  // A real exim: a 1,000-line mail (72 KB) in clear, then STARTTLS on the same connection: past 512 lines the
  // client's direction was given up, and its ClientHello lost.
  const [smtp] = await read("smtp_late_starttls.pcap");
  assert.equal(smtp.ja3_hash, "8a9d5d0f12f7d43ee3af1c51d2998d99");
  // An FTP server's 600-line 220- banner before AUTH TLS: the server's direction was given up.
  const [ftp] = await read("ftp_long_banner.pcap");
  assert.equal(ftp.ja3s_hash, "abade5a4a7f42baf54766e5d108283b6");
  assert.equal(ftp.tls_cert_count, 1);
  if (HAVE_TSHARK) {
    assert.deepEqual(ja3(`${ROOT}/testdata/tls_edge/smtp_late_starttls.pcap`, 1), [smtp.ja3_hash]);
    const ftpFile = `${ROOT}/testdata/tls_edge/ftp_long_banner.pcap`;
    assert.deepEqual(ja3(ftpFile, 2, ["-d", "tcp.port==21,ftp"]), [ftp.ja3s_hash]);
  }
  // STARTTLS refused (454), and the client goes on in clear with a ClientHello's bytes in its mail: not TLS,
  // as tshark reads it (it was TLS with that hello's JA3).
  const [refused] = await read("starttls_refused.pcap");
  assert.deepEqual([refused.tls_detected, refused.ja3_hash, refused.tls_sni], [false, null, null]);
  // HTTP/1 through a proxy, TLS after a CONNECT on a kept-alive connection: after six plain GETs (the client's
  // side was given up past 64 lines), and after 30 KB and 100 KB response bodies (the server's, past 16
  // segments). And a ClientHello's bytes as a PUT's body, with no CONNECT: not TLS, as tshark reads it.
  const proxy = await read("http_proxy_keepalive.pcap");
  assert.equal(proxy.length, 3);
  for (const r of proxy) {
    assert.deepEqual(
      [r.ja3_hash, r.ja3s_hash, r.tls_sni],
      ["871a754af286dfb70c1b53c6887c62e0", "abade5a4a7f42baf54766e5d108283b6", "ec.example"],
      `${r.src_port}`,
    );
  }
  const [put] = await read("put_body_hello.pcap");
  assert.deepEqual([put.tls_detected, put.ja3_hash], [false, null]);
  // A PROXY protocol v2 header and the ClientHello in one segment read as when they come in two (the control).
  const proxied = await read("proxy_v2.pcap");
  assert.equal(proxied.length, 2);
  for (const r of proxied) {
    assert.deepEqual(
      [r.ja3_hash, r.tls_sni],
      ["871a754af286dfb70c1b53c6887c62e0", "ec.example"],
      `${r.src_port}`,
    );
  }
});

Deno.test({
  name:
    "tls: a handshake cut by the snapshot length is not called resumed, and its encrypted close_notify is no handshake alert (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Real: openssl s_server -tls1_2 (RSA key exchange, no tickets) and curl, captured whole, then through
    // editcap -s 200; and a TLS 1.2 session through -s 96, whose CCS records were cut (a review's captures).
    const dir = `${ROOT}/testdata/tls_edge`;
    const [full] = (await collect(`${dir}/rsa_full.pcap`, { features: ["tls"] })).records;
    assert.deepEqual([full.tls_session_resumed, full.tls_cert_count], [false, 1]);
    // The Certificate and ClientKeyExchange were in bytes never captured: the CCS after them proves nothing.
    const [cut] = (await collect(`${dir}/rsa_cut200.pcap`, { features: ["tls"] })).records;
    assert.equal(cut.tls_session_resumed, null);
    assert.equal(cut.tls_cert_count, null);
    const path = `${dir}/close_notify_cut96.pcap`;
    const alerts = tsharkRows([
      "-r",
      path,
      "-Y",
      "tls.record.content_type == 21",
      "-T",
      "fields",
      "-e",
      "tls.record.length",
    ]);
    assert.ok(alerts.length === 2 && alerts.every(([len]) => Number(len) > 2), "two encrypted alert records");
    const [closing] = (await collect(path, { features: ["tls"] })).records;
    assert.equal(closing.tls_alert_count, 0);
    // The same with the packet of a CCS lost rather than cut (a review's real TLS 1.2 session, a packet left
    // out): the record of the handshake seen was only the last segment's.
    const [lost] = (await collect(`${dir}/close_notify_lost_ccs.pcap`, { features: ["tls"] })).records;
    assert.deepEqual([lost.tls_version, lost.tls_alert_count], [771, 0]);
  },
});
