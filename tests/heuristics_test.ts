/**
 * The heuristic columns on captures built to exercise their rules (testdata/heuristics_edge, made by the
 * mk_*.py scripts there): HTTP/2 stream concurrency and frame counts against tshark's HTTP/2 dissector, and the
 * VPN signals (ESP in UDP, OpenVPN tls-auth packet ids, near-MTU IP packets) against what tshark decodes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { collect, HAVE_TSHARK, ROOT, tsharkFields } from "./helpers.ts";

const DIR = `${ROOT}/testdata/heuristics_edge`;

Deno.test({
  name:
    "http2: frame counts as tshark's dissector counts them, also when only the server's SETTINGS show HTTP/2",
  ignore: !HAVE_TSHARK,
  async fn() {
    // h_prior: curl --http2-prior-knowledge against Python's http.server (port 8081), which answers in HTML: the
    // server's bytes are no frames (its first frame would have to be SETTINGS).
    for (const name of ["h2_push", "h2_seq", "h2_conc", "h2c_upgrade", "h2_midcapture2", "h_prior"]) {
      // HTTP on port 8080 (tshark follows the h2c upgrade), HTTP/2 from the start where there is no upgrade.
      const as = name === "h2c_upgrade" ? "http" : "http2", port = name === "h_prior" ? 8081 : 8080;
      const rows = await tsharkFields(`${DIR}/${name}.pcap`, ["http2.type"], [
        "-d",
        `tcp.port==${port},${as}`,
      ]);
      const types = rows.flatMap((r) => r[0] === "" ? [] : r[0].split(/[,|]/)).map(Number);
      const { records } = await collect(`${DIR}/${name}.pcap`, { features: ["http2"] });
      // (h_prior holds two connections of the same exchange: the counts are summed.)
      const sum = (k: string) => records.reduce((n, r) => n + ((r[k] as number) ?? 0), 0);
      const r = {
        http2_frame_count: sum("http2_frame_count"),
        http2_headers_frames: sum("http2_headers_frames"),
        http2_settings_frames: sum("http2_settings_frames"),
        http2_server_push: records.some((x) => x.http2_server_push === true),
      };
      assert.equal(r.http2_frame_count, types.length, `${name}: frames`);
      assert.equal(r.http2_headers_frames, types.filter((t) => t === 1).length, `${name}: HEADERS`);
      assert.equal(r.http2_settings_frames, types.filter((t) => t === 4).length, `${name}: SETTINGS`);
      assert.equal(r.http2_server_push, types.includes(5), `${name}: PUSH_PROMISE`);
    }
  },
});

Deno.test("http2_multiplexed follows RFC 9113's stream states on the built exchanges", async () => {
  // As mk_h2.py builds them: streams 1, 3, 5 one after the other; 1 and 3 at once; a push whose promised
  // stream gets its HEADERS after stream 1 closed (reserved is not open); an h2c upgrade (stream 1 half-closed
  // by the upgrade request) then a request on stream 3 after stream 1's response ended; the same sequential
  // requests where the capture missed the preface.
  const want: Record<string, boolean> = {
    h2_seq: false,
    h2_conc: true,
    h2_push: false,
    h2c_upgrade: false,
    h2_midcapture2: false,
  };
  for (const [name, multiplexed] of Object.entries(want)) {
    const { records } = await collect(`${DIR}/${name}.pcap`, { features: ["http2"] });
    assert.equal(records[0].http2_multiplexed, multiplexed, name);
  }
});

Deno.test({
  name:
    "vpn signals: ESP in UDP, OpenVPN tls-auth, near-MTU IP packets whatever the link (tshark decodes them)",
  ignore: !HAVE_TSHARK,
  async fn() {
    const one = async (name: string) =>
      (await collect(`${DIR}/${name}.pcap`, { features: ["fingerprint"] })).records[0];
    // tshark reads ESP in the UDP 4500 datagrams (RFC 3948).
    const spis = await tsharkFields(`${DIR}/esp_natt.pcap`, ["esp.spi"]);
    assert.ok(spis.some((r) => r[0] !== ""), "tshark decodes ESP");
    const esp = await one("esp_natt");
    assert.deepEqual([esp.vpn_type, esp.vpn_confidence, esp.traffic_type], [
      "ipsec-esp",
      0.9,
      "vpn:ipsec-esp",
    ]);
    // tshark reads the tls-auth packet id behind the HMAC: as sure a reset as tls-crypt's.
    const pid = await tsharkFields(`${DIR}/ovpn_tlsauth.pcap`, ["openvpn.pid"], [
      "-d",
      "udp.port==1195,openvpn",
    ]);
    assert.ok(pid.some((r) => r[0] !== ""), "tshark decodes the packet id");
    const auth = await one("ovpn_tlsauth"), crypt = await one("ovpn_tlscrypt");
    assert.equal(auth.vpn_type, "openvpn");
    assert.equal(auth.vpn_confidence, crypt.vpn_confidence);
    assert.ok((auth.vpn_confidence as number) >= 0.6);
    // 1500-byte IP packets count as near the MTU on Ethernet as on raw IP.
    assert.equal((await one("wg_mtu1500_eth")).vpn_confidence, (await one("wg_mtu1500_raw")).vpn_confidence);
  },
});

Deno.test("fingerprint: a VPN's port alone with large packets is not a likely VPN (an scp to 1194, RTP to 51820)", async () => {
  // A port is no signature: the near-MTU bonus made both 0.6, likely_vpn, "vpn:openvpn" and "vpn:wireguard".
  for (
    const [name, type, traffic] of [["vpn_port_scp1194", "openvpn", "encrypted"], [
      "vpn_port_rtp51820",
      "wireguard",
      "unknown",
    ]]
  ) {
    const { records } = await collect(`${DIR}/${name}.pcap`, { features: ["fingerprint"] });
    const r = records.find((x) => x.protocol !== 1)!;
    assert.deepEqual([r.vpn_confidence, r.likely_vpn, r.vpn_type, r.traffic_type], [
      0.4,
      false,
      type,
      traffic,
    ], name);
  }
});

Deno.test("fingerprint: Tor and DoH scores do not depend on which side's packet the capture begins with", async () => {
  // The same connections cut to begin inside them: the server's packet first made the relay's port and the
  // resolver's address the initiator's, and they were not seen (0.3 "encrypted", 0 "encrypted").
  for (
    const [a, b, col, want, traffic] of [
      ["tor9001_mid_client_first", "tor9001_mid_relay_first", "tor_confidence", 0.5, "tor"],
      ["doh_mid_client_first", "doh_mid_resolver_first", "doh_confidence", 0.6, "doh"],
    ] as const
  ) {
    const [ra] = (await collect(`${DIR}/${a}.pcap`, { features: ["fingerprint"] })).records;
    const [rb] = (await collect(`${DIR}/${b}.pcap`, { features: ["fingerprint"] })).records;
    assert.equal(ra.src_port, rb.dst_port, "the two begin on opposite sides");
    assert.deepEqual([ra[col], ra.traffic_type], [want, traffic], a);
    assert.deepEqual([rb[col], rb.traffic_type], [want, traffic], b);
  }
  // From its SYN the client is known: its own port of 9001 is no relay's (0.8 from the name and the cells,
  // not 1).
  const [c] = (await collect(`${DIR}/client_port_9001_with_syn.pcap`, { features: ["fingerprint"] })).records;
  assert.deepEqual([c.src_port, c.dst_port, c.tor_confidence], [9001, 443, 0.8]);
});

Deno.test("fingerprint: HTTPS to sites whose names look like Tor's is not Tor (nDPI calls it TLS)", async () => {
  // curl to www.w3schools.com, www.y2mate.com, www.bet365.com, www.4shared.com (a digit 2-7 in the name) and
  // www.google.com: 0.5 from the name alone made them "tor", as it did www.google.com and www.bet365.com over a
  // path of MTU 600, whose 548-byte payloads read as Tor cells (0.2 + 0.3, 0.5 + 0.3). curl offers ALPN, Tor
  // never does.
  for (const name of ["https_tor_like_names", "https_mtu600", "https_digit_name_mtu600"]) {
    const { records } = await collect(`${DIR}/${name}.pcap`, { features: ["tls", "fingerprint", "padding"] });
    assert.ok(records.length >= 1, name);
    for (const r of records) {
      assert.deepEqual([r.likely_tor, r.traffic_type], [false, "encrypted"], `${name} ${r.tls_sni}`);
      assert.ok((r.tls_alpn_offered as string[]).length > 0);
    }
    if (name !== "https_tor_like_names") assert.ok((records[0].tor_cell_count as number) >= 70);
  }
  // Tor's own links (the corpus' tor.pcap) offer no ALPN, and stay Tor whatever their names: see groups_test.
});

Deno.test("padding: Tor cells are TCP payloads (a ping or UDP of 560 bytes is none); no constant rate out of order", async () => {
  // The same sizes over ICMP and UDP counted as cells: is_tor_like true, padding_score up by 0.3.
  for (const name of ["ping560", "udp550"]) {
    const { records } = await collect(`${DIR}/${name}.pcap`, { features: ["padding"] });
    const r = records.find((x) => (x.total_packets as number) >= 20)!;
    if (HAVE_TSHARK) {
      // tshark: every packet of the flow carries 536-600 payload bytes.
      const lens = await tsharkFields(`${DIR}/${name}.pcap`, ["data.len"]);
      assert.ok(lens.filter((x) => Number(x[0]) >= 536 && Number(x[0]) <= 600).length >= 20, name);
    }
    assert.deepEqual([r.tor_cell_count, r.is_tor_like], [0, false], name);
  }
  // The last packet stamped before the first: a negative mean gap gave a CV of -2.2, "constant rate".
  const [r] = (await collect(`${DIR}/out_of_order_times.pcap`, { features: ["padding"] })).records;
  assert.ok((r.iat_cv as number) < 0);
  assert.equal(r.is_constant_rate, null);
});

Deno.test({
  name:
    "fingerprint and tls on real VPN software: IPsec NAT-T, OpenVPN tls-crypt-v2 and tls-auth with SHA-256 (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    const dir = `${ROOT}/testdata/heuristics_edge`;
    const vpn = async (name: string) => {
      const { records } = await collect(`${dir}/${name}`, { features: ["flow_meta", "fingerprint", "tls"] });
      return records.filter((r) => (r.total_packets as number) > 3);
    };
    // strongSwan IKEv2 then ESP in UDP on 4500 (tshark: 12 ESP packets): the first payload of each direction was
    // IKE's, and only it was looked at ("ipsec-ike" 0.8). The same with a NAT keepalive first (0.4, "unknown"),
    // and with IKE_INTERMEDIATE (exchange 43, RFC 9242) for the first exchange on 4500 (both edited from it).
    const esp = (await tsharkFields(`${dir}/ike2_esp.pcap`, ["esp.spi"])).filter((r) => r[0] !== "").length;
    assert.ok(esp >= 12, `${esp} ESP packets`);
    for (
      const name of ["ike2_esp.pcap", "edited_natt_keepalive_first.pcap", "edited_ike_intermediate.pcap"]
    ) {
      const [r] = (await vpn(name)).filter((r) => r.dst_port === 4500);
      assert.deepEqual([r.vpn_type, r.vpn_confidence, r.likely_vpn], ["ipsec-esp", 0.9, true], name);
    }
    // The same exchange moved to UDP port 4500 (edited; tshark reads OpenVPN with -d udp.port==4500,openvpn):
    // both hard resets, yet "ipsec-esp" 0.9, its packets reading as ESP in UDP too.
    const [on4500] = await vpn("edited_ovpn_port4500.pcap");
    assert.deepEqual([on4500.vpn_type, on4500.vpn_confidence], ["openvpn", 0.9]);
    // OpenVPN 2.6 with tls-crypt-v2 (its packet ids start at 0x0f000001): both hard resets, 0.4 by the port.
    const [v2] = await vpn("ovpn_udp_tls_crypt_v2.pcap");
    assert.deepEqual([v2.vpn_type, v2.likely_vpn], ["openvpn", true]);
    assert.ok((v2.vpn_confidence as number) >= 0.9, String(v2.vpn_confidence));
    // tls-auth with `auth SHA256`: the TLS handshake inside was not read (a SHA-1 HMAC was assumed). tshark reads
    // it when told the HMAC's size.
    const sha = `${dir}/ovpn_udp_tls_auth_sha256.pcap`;
    const [[ja3, ja3s]] = (await tsharkFields(sha, ["tls.handshake.ja3", "tls.handshake.ja3s"], [
      "-o",
      "openvpn.tls_auth_hmac_size:32",
    ])).reduce((acc, r) => [[acc[0][0] || r[0], acc[0][1] || r[1]]], [["", ""]]);
    const [t] = await vpn("ovpn_udp_tls_auth_sha256.pcap");
    assert.deepEqual([t.ja3_hash, t.ja3s_hash], [ja3, ja3s]);
    // And SHA-384's 48 bytes (a review's capture, OpenVPN 2.6 with `auth SHA384`): the same handshake.
    const [t384] = await vpn("ovpn_udp_tls_auth_sha384.pcap");
    assert.deepEqual([t384.ja3_hash, t384.ja3s_hash], [ja3, ja3s]);
    // IKE only on 4500: IKE_INTERMEDIATE without the ESP after it (its ESP packets taken out) is IKE, and an
    // IKE_AUTH in IP fragments (a review's, scapy) is no ESP: a later fragment's payload has no marker.
    for (const name of ["edited_ike_intermediate_only.pcap", "edited_ike_4500_fragmented.pcap"]) {
      const [r] = (await vpn(name)).filter((r) => r.dst_port === 4500);
      assert.deepEqual([r.vpn_type, r.vpn_confidence], ["ipsec-ike", 0.8], name);
    }
  },
});
