/**
 * The protocol groups that read TCP streams (`dns`, `http`, `ssh`) on segmentations real stacks produce rarely
 * but legitimately (captures in `testdata/tcp_edge/`, built by its `make.py`): data in the SYN (TCP Fast Open),
 * a direction's first segment arriving after its second, a message sent a byte per segment, and an SSH server's
 * text lines before its identification string. Each capture's values are what tshark reads from it, checked
 * against tshark itself when it is installed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type CapPacket,
  collect,
  ethernet,
  HAVE_TSHARK,
  ipv4,
  parseJsonl,
  pcapFile,
  ROOT,
  runCli,
  tcp,
  tsharkRows,
} from "./helpers.ts";

const DIR = `${ROOT}/testdata/tcp_edge`;

interface Case {
  capture: string;
  /** The capture's one flow's values. */
  expected: Record<string, unknown>;
  /** tshark's reading: arguments after `-r FILE`, and the rows it must give (fields of matching frames, in any order). */
  tshark: { args: string[]; rows: string[][] };
}

/** tshark's fields for each protocol, and its option to reassemble segments that come out of order. */
const fields = (...names: string[]): string[] => ["-T", "fields", ...names.flatMap((n) => ["-e", n])];
const DNS = ["-Y", "dns", ...fields("dns.qry.name", "dns.flags.response")];
const HTTP = ["-Y", "http", ...fields("http.request.method", "http.host", "http.response.code")];
const HASSH = [
  "-Y",
  "ssh.kex.hassh || ssh.kex.hasshserver",
  ...fields("ssh.kex.hassh", "ssh.kex.hasshserver"),
];
const OUT_OF_ORDER = ["-o", "tcp.reassemble_out_of_order:TRUE"];

const OPENSSH = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10";
const HASSH_CLIENT = "472b5de333ad665af5cbf10ff892c4df";
const HASSH_SERVER = "425d29fe50d8e4f5e37efb6e24bcf660";
const HASSH_ROWS = [["", HASSH_SERVER], [HASSH_CLIENT, ""]];
const WWW = [["www.example.com", "0"], ["www.example.com", "1"]];

const CASES: Case[] = [
  {
    capture: "tfo_dns.pcap",
    expected: { dns_detected: true, dns_queries: 1, dns_responses: 1, dns_query_name: "www.example.com" },
    tshark: { args: DNS, rows: WWW },
  },
  {
    capture: "tfo_http.pcap",
    expected: {
      http_method: "GET",
      http_host: "tfo.example",
      http_user_agent: "TFO/1",
      http_status_code: 204,
    },
    tshark: { args: HTTP, rows: [["GET", "tfo.example", ""], ["", "", "204"]] },
  },
  {
    capture: "tfo_ssh.pcap",
    expected: {
      ssh_detected: true,
      ssh_client_version: OPENSSH,
      ssh_hassh: HASSH_CLIENT,
      ssh_hassh_server: HASSH_SERVER,
    },
    tshark: { args: HASSH, rows: HASSH_ROWS },
  },
  {
    capture: "ssh_prebanner.pcap",
    expected: {
      ssh_detected: true,
      ssh_server_version: OPENSSH,
      ssh_hassh: HASSH_CLIENT,
      ssh_hassh_server: HASSH_SERVER,
    },
    tshark: { args: HASSH, rows: HASSH_ROWS },
  },
  {
    capture: "dns_tcp_reordered.pcap",
    expected: { dns_detected: true, dns_queries: 1, dns_responses: 1, dns_query_name: "www.example.com" },
    tshark: { args: [...OUT_OF_ORDER, ...DNS], rows: WWW },
  },
  {
    capture: "dns_tcp_bytewise.pcap",
    expected: { dns_detected: true, dns_queries: 2, dns_responses: 2, dns_query_name: "www.example.com" },
    tshark: { args: DNS, rows: [...WWW, ["mail.example.org", "0"], ["mail.example.org", "1"]] },
  },
  {
    capture: "http_reordered.pcap",
    expected: { http_method: "GET", http_host: "a.example", http_user_agent: "UA/1", http_status_code: 200 },
    tshark: { args: [...OUT_OF_ORDER, ...HTTP], rows: [["GET", "a.example", ""], ["", "", "200"]] },
  },
];

for (const c of CASES) {
  Deno.test(`tcp edge cases: ${c.capture} read as tshark reads it`, async () => {
    const { records } = await collect(`${DIR}/${c.capture}`, {
      features: ["flow_meta", "dns", "http2", "ssh"],
    });
    assert.equal(records.length, 1);
    const got = Object.fromEntries(Object.keys(c.expected).map((k) => [k, records[0][k]]));
    assert.deepEqual(got, c.expected);
  });
}

Deno.test({
  name: "tcp edge cases: the expected values are tshark's",
  ignore: !HAVE_TSHARK,
  fn() {
    for (const c of CASES) {
      const rows = tsharkRows(["-r", `${DIR}/${c.capture}`, ...c.tshark.args]);
      assert.deepEqual(rows.sort(), [...c.tshark.rows].sort(), c.capture);
    }
  },
});

/** Flags of tcp.analysis tshark sets on a capture, counted by name. */
function tsharkAnalysis(file: string): Record<string, number> {
  const names = ["retransmission", "lost_segment", "out_of_order", "reused_ports"];
  const counts: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  for (const row of tsharkRows(["-r", file, ...fields(...names.map((n) => `tcp.analysis.${n}`))])) {
    names.forEach((n, i) => counts[n] += row[i] !== "" ? 1 : 0);
  }
  return counts;
}

Deno.test("tcp_sequence: a new connection on the same ports starts the analysis again, as tshark's new tcp.stream", async () => {
  // Two connections on 10.0.0.1:40000 -> 10.0.0.2:80, 5 s apart (one flow for jj), the second with ISNs below
  // (client) and above (server) the first's: its SYN and data counted as retransmissions, the server's as a
  // gap. Then a SYN sent again with a new ISN before any answer (port 1001).
  const A = "10.0.0.1", B = "10.0.0.2";
  const SYN = 0x02, SYNACK = 0x12, ACK = 0x10, PSHACK = 0x18, FINACK = 0x11;
  const frames: CapPacket[] = [];
  const seg = (t: number, dir: 0 | 1, sport: number, flags: number, seq: number, ack: number, data = 0) =>
    frames.push({
      ts: t,
      data: ethernet(
        dir === 0
          ? ipv4(A, B, 6, tcp(sport, 80, flags, new Uint8Array(data), { seq, ack }))
          : ipv4(B, A, 6, tcp(80, sport, flags, new Uint8Array(data), { seq, ack })),
      ),
    });
  const connection = (t: number, c: number, s: number) => {
    seg(t, 0, 40000, SYN, c, 0);
    seg(t + 0.01, 1, 40000, SYNACK, s, c + 1);
    seg(t + 0.02, 0, 40000, ACK, c + 1, s + 1);
    for (let i = 0; i < 3; i++) {
      seg(t + 0.03 + i * 0.02, 0, 40000, PSHACK, c + 1 + i * 100, s + 1, 100);
      seg(t + 0.04 + i * 0.02, 1, 40000, ACK, s + 1, c + 1 + (i + 1) * 100);
    }
    seg(t + 0.1, 0, 40000, FINACK, c + 301, s + 1);
    seg(t + 0.11, 1, 40000, FINACK, s + 1, c + 302);
    seg(t + 0.12, 0, 40000, ACK, c + 302, s + 2);
  };
  connection(1000, 1_000_000, 5_000_000);
  connection(1005, 100, 9_000_000);
  seg(1010, 0, 1001, SYN, 1000, 0);
  seg(1011, 0, 1001, SYN, 500_000, 0);
  seg(1011.01, 1, 1001, SYNACK, 7000, 500_001);
  seg(1011.02, 0, 1001, ACK, 500_001, 7001);
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/reuse.pcap`;
    await Deno.writeFile(file, pcapFile(1, frames));
    const { records } = await collect(file, { features: ["tcp_sequence"] });
    const [reused, resent] = records.sort((a, b) => (a.src_port as number) - (b.src_port as number))
      .reverse();
    assert.equal(reused.src_port, 40000);
    assert.equal(reused.tcp_isn_fwd, 1_000_000, "the flow's first ISN");
    assert.equal(reused.tcp_seq_fwd_bytes_sent, 600);
    assert.equal(resent.tcp_isn_fwd, 1000);
    for (const r of [reused, resent]) {
      assert.equal(r.tcp_total_retrans, 0);
      assert.equal((r.tcp_seq_fwd_gaps as number) + (r.tcp_seq_bwd_gaps as number), 0);
      assert.equal(r.tcp_total_ooo, 0);
    }
    if (HAVE_TSHARK) {
      assert.deepEqual(tsharkAnalysis(file), {
        retransmission: 0,
        lost_segment: 0,
        out_of_order: 0,
        reused_ports: 2,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "tcp_rtt: a Fast Open SYN's data and a segment with data and FIN are timed to the ACK one past them (tshark's ack_rtt)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // A review's, real (Linux, tcp_fastopen): a SYN carrying 10 bytes accepted, and one refused (the server
    // without Fast Open acknowledges the SYN only; the client sends the 10 bytes again). The SYN's data was
    // taken to end one byte short: its sample was lost, and the refused one's retransmission was timed. The same
    // for data sent with a FIN (data_fin_rtt.pcap, both sides corked: no sample at all).
    for (const capture of ["tfo_rtt.pcap", "tfo_refused_rtt.pcap", "data_fin_rtt.pcap"]) {
      const path = `${DIR}/${capture}`;
      const rows = tsharkRows([
        "-r",
        path,
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "tcp.stream",
        "-e",
        "tcp.len",
        "-e",
        "tcp.analysis.retransmission",
        "-e",
        "tcp.analysis.acks_frame",
        "-e",
        "tcp.analysis.ack_rtt",
      ]);
      const byFrame = new Map(rows.map((r) => [r[0], r]));
      // Per stream, the ACK times of segments with data that were not sent again.
      const want = new Map<string, number[]>();
      for (const [, stream, , , acks, rtt] of rows) {
        const acked = byFrame.get(acks);
        if (acked === undefined || Number(acked[2]) === 0 || acked[3] !== "") continue;
        if (rows.some((r) => r[3] !== "" && r[1] === stream && Number(r[0]) > Number(acks))) continue;
        want.set(stream, [...(want.get(stream) ?? []), Number(rtt)]);
      }
      const records = (await collect(path, { features: ["tcp_rtt"] })).records;
      assert.equal(records.length, 2, capture);
      for (const [i, r] of records.entries()) {
        const samples = want.get(String(i)) ?? [];
        assert.ok(samples.length > 0, `${capture} stream ${i}`);
        // tshark's times are to the microsecond, as the capture's.
        assert.ok(
          Math.abs((r.tcp_rtt_ack_min as number) - Math.min(...samples)) < 1.5e-6,
          `${capture} ${i} min`,
        );
        assert.ok(
          Math.abs((r.tcp_rtt_ack_max as number) - Math.max(...samples)) < 1.5e-6,
          `${capture} ${i} max`,
        );
      }
    }
  },
});

Deno.test({
  name: "a simultaneous open fingerprints both hosts' SYNs (tcp_fingerprint, jj fingerprint; tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // A review's, real: two Linux sockets connect() to each other with fixed ports, the first SYN dropped at
    // its peer. The second host sent a SYN, no SYN-ACK: it was not fingerprinted at all.
    const path = `${DIR}/simultaneous_open.pcap`;
    const syns = tsharkRows([
      "-r",
      path,
      "-Y",
      "tcp.flags.syn == 1 and tcp.flags.ack == 0",
      "-T",
      "fields",
      "-e",
      "ip.src",
      "-e",
      "tcp.window_size_value",
    ]);
    assert.equal(new Set(syns.map((r) => r[0])).size, 2);
    const [r] = (await collect(path, { features: ["tcp_fingerprint"] })).records;
    assert.deepEqual(
      [r.tcp_fp_fwd_window, r.tcp_fp_bwd_window],
      syns.map((s) => Number(s[1])),
    );
    const fp = await runCli(["fingerprint", path]);
    assert.equal(fp.code, 0, fp.stderr);
    const lines = parseJsonl(fp.stdout).filter((l) => l.type === "tcp_syn");
    assert.deepEqual(lines.map((l) => [l.src_ip, l.window]), syns.map((s) => [s[0], Number(s[1])]));
  },
});

Deno.test("tcp_options: Linux's experimental Fast Open option (kind 254, id 0xF989) is Fast Open, not another kind", async () => {
  // A review's, real (Linux 6.18, sendto with MSG_FASTOPEN to a server without Fast Open, twice): the first SYN
  // asks for a cookie with kind 34; getting none, the second asks with the experimental form.
  const { records } = await collect(`${DIR}/tfo_experimental.pcap`, {
    features: ["flow_meta", "tcp_options"],
  });
  assert.deepEqual(records.map((r) => [r.src_port, r.tcp_options_bitmap]), [[40011, 79], [40012, 79]]);
});

Deno.test("tcp_fingerprint: the option kinds end at the end of the list and at an option longer than the header (tshark)", async () => {
  // Hand-built SYNs: padding after the end of the list (03 03 05) was read as three more options, and an option
  // whose length passes the header, or is below 2, was listed (JA4T's kinds are tshark's tcp.option_kind).
  const path = `${DIR}/syn_option_layouts.pcap`;
  const want = new Map([[50010, "2"], [50011, "2-1"], [50002, "2-4-8-1-3-0"], [50007, "2"]]);
  if (HAVE_TSHARK) {
    const rows = tsharkRows(["-r", path, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.option_kind"]);
    assert.deepEqual(new Map(rows.map(([port, kinds]) => [Number(port), kinds.replaceAll(",", "-")])), want);
  }
  const { records } = await collect(path, { features: ["flow_meta", "tcp_fingerprint"] });
  assert.equal(records.length, 4);
  for (const r of records) {
    assert.equal((r.tcp_fp_fwd as string).split("_")[1], want.get(r.src_port as number), String(r.src_port));
  }
  const fp = await runCli(["fingerprint", path]);
  assert.equal(fp.code, 0);
  assert.deepEqual(
    [...fp.stdout.matchAll(/"ja4t":"[^_]*_([^_]*)_/g)].map((m) => m[1]),
    ["2", "2-1", "2-4-8-1-3-0", "2"],
  );
});

Deno.test("tcp_window: a port pair reused by a connection of other options scales each connection's windows by its own SYNs", async () => {
  // A review's, between network namespaces: client port 40070 to 5070 four times in a row; before the second
  // connection the server turned window scaling off (its SYN-ACK carries none). The scaled maxima took every
  // connection's window fields shifted by the first connection's scale (65535 << 10 = 67107840), and the
  // responder's scale came from a later connection's SYN-ACK when the first one had none.
  const want: Record<string, [number, number | null, number, number]> = {
    // capture: tcp_win_scale_fwd, tcp_win_scale_bwd, scaled maxima (tshark's, below, when it runs)
    "reuse_ws_scale_first.pcap": [10, 10, 549888, 532480],
    "reuse_ws_noscale_first.pcap": [10, null, 80896, 137216],
  };
  for (const [file, [wsF, wsB, maxF, maxB]] of Object.entries(want)) {
    const path = `testdata/tcp_edge/${file}`;
    const { records } = await collect(path, { features: ["tcp_window"] });
    assert.equal(records.length, 1, file);
    const r = records[0];
    assert.deepEqual(
      [r.tcp_win_scale_fwd, r.tcp_win_scale_bwd, r.tcp_scaled_win_fwd_max, r.tcp_scaled_win_bwd_max],
      [wsF, wsB, maxF, maxB],
      file,
    );
    if (!HAVE_TSHARK) continue;
    // tshark scales each connection (tcp.stream) by its own handshake: the largest window in bytes per side,
    // a SYN's as sent.
    const out = new Deno.Command("tshark", {
      args: [
        "-r",
        path,
        "-T",
        "fields",
        "-e",
        "tcp.srcport",
        "-e",
        "tcp.flags.syn",
        "-e",
        "tcp.window_size_value",
        "-e",
        "tcp.window_size",
      ],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const most = new Map<string, number>();
    for (const line of new TextDecoder().decode(out.stdout).trim().split("\n")) {
      const [port, syn, raw, scaled] = line.split("\t");
      const w = syn === "1" ? Number(raw) : Number(scaled);
      most.set(port, Math.max(most.get(port) ?? -1, w));
    }
    assert.deepEqual([most.get("40070"), most.get("5070")], [maxF, maxB], `${file}: tshark`);
  }
});
