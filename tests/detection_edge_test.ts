/**
 * Content-based detection on traffic that only looks a little like a protocol, in captures built here: a QUIC
 * short header's first byte read as an OpenVPN opcode, a client port of 4500 or 1701, a MySQL query whose bytes
 * read as a TLS record header, a DNS query and an NTP request read as QUIC long headers, cleartext HTTP on Tor's
 * port, and IP fragments the size of Tor cells.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FlowRecord } from "../lib/extractor.ts";
import {
  type CapPacket,
  concat,
  ethernet,
  F,
  ipv4,
  parseJsonl,
  pcapFile,
  rng,
  runCli,
  tcp,
  udp,
  withTempDir,
} from "./helpers.ts";

const T0 = 1764000000;
const A = "10.0.0.1", B = "10.0.0.2";

/** The records of these packets (Ethernet frames), all groups. */
async function records(frames: Uint8Array[], args: string[] = []): Promise<FlowRecord[]> {
  let out: FlowRecord[] = [];
  await withTempDir(async (dir) => {
    const packets: CapPacket[] = frames.map((data, i) => ({ ts: T0 + i * 0.01, data }));
    await Deno.writeFile(`${dir}/c.pcap`, pcapFile(1, packets));
    const r = await runCli(["extract", "-q", ...args, `${dir}/c.pcap`]);
    assert.equal(r.code, 0, r.stderr);
    out = parseJsonl(r.stdout);
  });
  return out;
}

const udpFrame = (from: string, to: string, sport: number, dport: number, payload: Uint8Array) =>
  ethernet(ipv4(from, to, 17, udp(sport, dport, payload)));

/** Random bytes after `head`, `n` in all. */
function bytes(head: number[], n: number, seed: number): Uint8Array {
  const r = rng(seed), b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = i < head.length ? head[i] : Math.floor(r() * 256);
  return b;
}

Deno.test("one opcode byte (a QUIC short header's 0x40 or 0x50) and large packets are not a likely OpenVPN", async () => {
  // A QUIC connection's record that starts with short headers (the capture began in it, or its idle timeout
  // split it): 0.3 for the opcode, and 0.2 more for packets near the MTU made it likely.
  const frames = [0x40, 0x50, 0x38].flatMap((op, k) =>
    Array.from(
      { length: 6 },
      (_, i) => udpFrame(A, B, 51000 + k, 443, bytes(i === 0 ? [op] : [0x40 | (i & 15)], 1400, 10 * k + i)),
    )
  );
  for (const r of await records(frames, ["--features", "fingerprint"])) {
    assert.equal(r.vpn_type, "openvpn", `${r.src_port}`);
    assert.equal(r.vpn_confidence, 0.3, `${r.src_port}`);
    assert.equal(r.likely_vpn, false, `${r.src_port}`);
    assert.notEqual(r.traffic_type, "vpn:openvpn");
  }
});

Deno.test("a client's port of 4500 or 1701, or a root query whose id starts like an OpenVPN reset, is not a VPN", async () => {
  // DNS queries: from port 4500 (any payload of 16 bytes or more on 4500 was IPsec ESP, 0.9), from port 1701
  // with an id whose second byte reads as L2TP version 2 (0.7), and ". NS" with id 0x40ab (an OpenVPN server
  // reset's opcode; a first label of 0 was not taken as DNS).
  const query = (id: number, name: number[]) =>
    new Uint8Array([id >> 8, id & 255, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...name, 0, 0, 2, 0, 1]);
  const example = [7, ...new TextEncoder().encode("example"), 3, 0x63, 0x6f, 0x6d];
  const recs = await records([
    udpFrame(A, B, 4500, 53, query(0x1234, example)),
    udpFrame(A, B, 1701, 53, query(0x9a42, example)),
    udpFrame(A, B, 40000, 53, query(0x40ab, [])),
  ], ["--features", "dns,fingerprint"]);
  assert.equal(recs.length, 3);
  for (const r of recs) {
    assert.equal(r.dns_detected, true, `${r.src_port}`);
    assert.equal(r.vpn_type, null, `${r.src_port}`);
    assert.equal(r.vpn_confidence, 0, `${r.src_port}`);
  }
});

Deno.test("a MySQL query whose bytes read as a TLS record header is not TLS, nor is a record of version 0x0399", async () => {
  // After the handshake and MySQL's own binary packets: a query of 791 bytes has the length 17 03 00, then
  // sequence 00 and command 03 (COM_QUERY): an application data record of SSL 3.0, once taken for TLS.
  const tcpFrame = (
    from: string,
    to: string,
    sp: number,
    dp: number,
    flags: number,
    seq: number,
    data: number[],
  ) => ethernet(ipv4(from, to, 6, tcp(sp, dp, flags, new Uint8Array(data), { seq, ack: 1 })));
  const greeting = [0x4a, 0, 0, 0, 0x0a, ...new TextEncoder().encode("8.0.36"), 0, ...new Array(66).fill(1)];
  const query = [0x17, 0x03, 0x00, 0x00, 0x03, ...new TextEncoder().encode("SELECT ".padEnd(786, "x"))];
  const mysql = [
    tcpFrame(A, B, 45000, 3306, F.SYN, 100, []),
    tcpFrame(B, A, 3306, 45000, F.SYN | F.ACK, 500, []),
    tcpFrame(B, A, 3306, 45000, F.ACK | F.PSH, 501, greeting),
    tcpFrame(A, B, 45000, 3306, F.ACK | F.PSH, 101, [0x20, 0, 0, 1, ...new Array(32).fill(2)]),
    tcpFrame(A, B, 45000, 3306, F.ACK | F.PSH, 137, query),
  ];
  // The first bytes of a stream read from its start: a record header of version 0x0399 and random bytes.
  const odd = [
    tcpFrame(A, B, 45001, 8443, F.SYN, 100, []),
    tcpFrame(A, B, 45001, 8443, F.ACK | F.PSH, 101, [...bytes([0x17, 0x03, 0x99, 0x00, 0x10], 21, 7)]),
  ];
  const recs = await records([...mysql, ...odd], ["--features", "tls,fingerprint"]);
  assert.equal(recs.length, 2);
  for (const r of recs) {
    assert.equal(r.tls_detected, false, `${r.dst_port}`);
    assert.equal(r.tls_record_version, null, `${r.dst_port}`);
    assert.notEqual(r.traffic_type, "encrypted", `${r.dst_port}`);
  }
});

Deno.test("a DNS query with id 0xc100 and no flags, and an NTP request, are not QUIC long headers (http3_detected)", async () => {
  // c1 | 00 00 00 01 reads as a long header of version 1; e3 and zeros as version negotiation (0).
  const dns = new Uint8Array([0xc1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0, 0, 1, 0, 1]);
  const ntp = new Uint8Array(48);
  ntp[0] = 0xe3;
  const recs = await records([udpFrame(A, B, 40000, 53, dns), udpFrame(A, B, 40001, 123, ntp)], [
    "--features",
    "http2,quic",
  ]);
  assert.equal(recs.length, 2);
  for (const r of recs) {
    assert.equal(r.http3_detected, false, `${r.dst_port}`);
    assert.equal(r.quic_detected, false, `${r.dst_port}`);
  }
});

Deno.test("cleartext HTTP on Tor's port with Tor-cell-sized responses is not Tor", async () => {
  // Port 9001 (0.2) and responses of 541 bytes (0.3) made it likely; Tor's links are TLS, and the tls group read
  // this flow as something else.
  const tcpFrame = (from: string, to: string, sp: number, dp: number, seq: number, data: Uint8Array) =>
    ethernet(ipv4(from, to, 6, tcp(sp, dp, F.ACK | F.PSH, data, { seq, ack: 1 })));
  const get = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const body = new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n".padEnd(541, "y"));
  const frames = [
    tcpFrame(A, B, 36852, 9001, 1, get),
    ...Array.from({ length: 6 }, (_, i) => tcpFrame(B, A, 9001, 36852, 1 + 541 * i, body)),
  ];
  const [r] = await records(frames, ["--features", "tls,http2,fingerprint"]);
  assert.equal(r.http_method, "GET");
  assert.equal(r.tls_detected, false);
  assert.equal(r.tor_confidence, 0);
  assert.equal(r.likely_tor, false);
});

Deno.test("IP fragments of a Tor cell's size are not Tor cells (padding and fingerprint)", async () => {
  // Datagrams of 1500 bytes to port 2049 cut at a 576-byte MTU: fragments carry 552 bytes each, which counted as
  // transport payloads of Tor's cell size.
  const frames: Uint8Array[] = [];
  for (let k = 0; k < 4; k++) {
    const datagram = udp(40000, 2049, bytes([], 1492, k));
    for (let off = 0; off < datagram.length; off += 552) {
      const part = datagram.subarray(off, Math.min(datagram.length, off + 552));
      frames.push(
        ethernet(
          ipv4(A, B, 17, concat(part), { id: 100 + k, mf: off + 552 < datagram.length, fragOffset: off / 8 }),
        ),
      );
    }
  }
  const [r] = await records(frames, ["--features", "padding,fingerprint"]);
  assert.equal(r.total_packets, 12);
  assert.equal(r.tor_cell_count, 0);
  assert.equal(r.tor_confidence, 0);
});

Deno.test("IPsec ESP in UDP when the gateway's packet comes first (a capture that starts inside the tunnel)", async () => {
  // The flow's responder is then the client's NAT port: the signature must look at the port sent to.
  const esp = (seed: number) => bytes([0x12, 0x34, 0x56, 0x78, 0, 0, 0, seed], 120, seed);
  const recs = await records([
    udpFrame(B, A, 4500, 14500, esp(1)),
    udpFrame(A, B, 14500, 4500, esp(2)),
    udpFrame(B, A, 4500, 14500, esp(3)),
  ], ["--features", "fingerprint"]);
  assert.equal(recs.length, 1);
  assert.equal(recs[0].vpn_type, "ipsec-esp");
  assert.equal(recs[0].vpn_confidence, 0.9);
});

Deno.test("TLS in a capture that starts inside a record (no SYN): the aligned records after it are TLS", async () => {
  const tcpFrame = (seq: number, data: Uint8Array) =>
    ethernet(ipv4(B, A, 6, tcp(443, 50000, F.ACK | F.PSH, data, { seq, ack: 1 })));
  const record = (seed: number) => bytes([0x17, 0x03, 0x03, 0x00, 0x40], 5 + 64, seed);
  const frames = [tcpFrame(1000, bytes([], 300, 9))];
  for (let i = 0; i < 4; i++) frames.push(tcpFrame(1300 + 69 * i, record(i)));
  const [r] = await records(frames, ["--features", "tls"]);
  assert.equal(r.tls_detected, true);
});

Deno.test("http3_detected: a client Initial cut by the snapshot length after the connection IDs' lengths", async () => {
  // DCID of 18 bytes, SCID of 17: a 70-byte snapshot holds the SCID's length, not all of its bytes.
  const initial = bytes([0xc3, 0, 0, 0, 1, 18, ...new Array(18).fill(7), 17], 1250, 3);
  await withTempDir(async (dir) => {
    const data = udpFrame(A, B, 40000, 443, initial);
    await Deno.writeFile(
      `${dir}/q.pcap`,
      pcapFile(1, [{ ts: T0, data: data.subarray(0, 70), wireLen: data.length }], { snaplen: 70 }),
    );
    const r = await runCli(["extract", "-q", "--features", "http2", `${dir}/q.pcap`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parseJsonl(r.stdout)[0].http3_detected, true);
  });
});
