/**
 * Protocol columns a review found wrong, checked on real captures against tshark's reading of them:
 * a DHE ServerKeyExchange whose prime is 768 to 1023 bytes long (`testdata/tls_edge/`, OpenSSL on loopback),
 * the SSH packet carrying NEWKEYS and the first encrypted bytes (`testdata/tcp_edge/ssh_flights.pcap`), and
 * the ServerHello after a QUIC HelloRetryRequest (the corpus' quic-29.pcap).
 *
 * @module
 */
import assert from "node:assert/strict";
import { cap, collect, HAVE_SHARED, HAVE_TSHARK, ROOT, tsharkRows } from "./helpers.ts";

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
