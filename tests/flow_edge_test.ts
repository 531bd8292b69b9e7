/**
 * The flow table's ends against tshark's reading of captures in `testdata/flow_edge/` (built by its `make.py`):
 * `--tcp-end` ends a connection at its last ACK however the FINs cross; a gap of exactly the idle timeout stays
 * in its flow, to the microsecond, at any time of day; a step back of the clock keeps 1 and 2 workers' output
 * the same, byte for byte.
 *
 * @module
 */
import assert from "node:assert/strict";
import { HAVE_TSHARK, parseJsonl, ROOT, runCli, tsharkRows } from "./helpers.ts";
import type { FlowRecord } from "../lib/extractor.ts";

const DIR = `${ROOT}/testdata/flow_edge`;

Deno.test({
  name:
    "--tcp-end: a connection ends at its last ACK, also after a simultaneous close or a retransmitted FIN",
  ignore: !HAVE_TSHARK,
  async fn() {
    for (const name of ["four_way_close.pcap", "simultaneous_close.pcap", "fin_retransmitted.pcap"]) {
      const file = `${DIR}/${name}`;
      const frames = tsharkRows(["-r", file, "-T", "fields", "-e", "frame.time_epoch", "-e", "tcp.stream"]);
      assert.ok(frames.length >= 9 && frames.every((f) => f[1] === "0"), `${name}: one TCP stream`);
      const r = await runCli(["extract", "-q", "--tcp-end", "--features", "flow_meta", file]);
      assert.equal(r.code, 0, r.stderr);
      // The last ACK made a flow of its own (reversed) after a simultaneous close; a retransmitted FIN ended
      // the flow, and the last ACK after it made one.
      const records = parseJsonl(r.stdout);
      assert.equal(records.length, 1, `${name}: ${r.stdout}`);
      assert.equal(records[0].total_packets, frames.length, name);
      assert.equal(records[0].flow_end_reason, "fin", name);
      assert.equal(records[0].end_time, Number(frames[frames.length - 1][0]), name);
    }
  },
});

/** Microseconds of an epoch time as tshark writes it (nine decimals), exactly. */
function micros(text: string): bigint {
  const [s, f] = text.split(".");
  return BigInt(s) * 1000000n + BigInt(f.slice(0, 6));
}

Deno.test({
  name:
    "idle and active timeouts: a gap of exactly the timeout stays in the flow, a microsecond more ends it",
  ignore: !HAVE_TSHARK,
  async fn() {
    const file = `${DIR}/idle_exact_gaps.pcap`;
    const rows = tsharkRows(["-r", file, "-T", "fields", "-e", "frame.time_epoch", "-e", "udp.srcport"]);
    for (
      const [flag, timeout, fromFirst] of [["--idle-timeout", 100000n, false], [
        "--active-timeout",
        200000n,
        true,
      ]] as const
    ) {
      // The documented rule, in whole microseconds: a packet more than the timeout after the flow's last
      // (idle) or first (active) packet starts a new record.
      const want = new Map<number, number[]>();
      const state = new Map<number, { first: bigint; last: bigint }>();
      for (const [time, port] of rows) {
        const t = micros(time), p = Number(port);
        const s = state.get(p);
        const counts = want.get(p) ?? [];
        if (s === undefined || t - (fromFirst ? s.first : s.last) > timeout) {
          state.set(p, { first: t, last: t });
          counts.push(1);
        } else {
          s.last = t;
          counts[counts.length - 1]++;
        }
        want.set(p, counts);
      }
      const args = flag === "--idle-timeout" ? ["--idle-timeout", "0.1"] : ["--active-timeout", "0.2"];
      const r = await runCli(["extract", "-q", ...args, "--features", "flow_meta", file]);
      assert.equal(r.code, 0, r.stderr);
      const got = new Map<number, number[]>();
      for (
        const rec of parseJsonl(r.stdout).sort((a, b) => (a.start_time as number) - (b.start_time as number))
      ) {
        const p = rec.src_port as number;
        got.set(p, [...(got.get(p) ?? []), rec.total_packets as number]);
      }
      assert.equal(want.size, 40);
      assert.deepEqual(got, want, flag);
    }
  },
});

Deno.test("a step back of the clock at a RST: 1 and 2 workers write the same records in the same order", async () => {
  // Four UDP flows, then a RST stamped 900 s earlier: the step back ends the four before the RST's flow is
  // made and ended; 2 workers wrote the RST's record between them.
  const file = `${DIR}/stepback_rst.pcap`;
  const one = await runCli(["extract", "-q", "--tcp-end", "--workers", "1", "--features", "flow_meta", file]);
  const two = await runCli(["extract", "-q", "--tcp-end", "--workers", "2", "--features", "flow_meta", file]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  const records = parseJsonl(one.stdout);
  assert.deepEqual(records.map((r) => r.flow_end_reason), ["end", "end", "end", "end", "rst"]);
  assert.equal(two.stdout, one.stdout);
});

/** Records of a capture in testdata/snaplen_edge/, by ports. */
async function snaplenRecords(name: string, groups: string): Promise<Map<string, FlowRecord>> {
  const r = await runCli(["extract", "-q", "--features", groups, `${ROOT}/testdata/snaplen_edge/${name}`]);
  assert.equal(r.code, 0, r.stderr);
  return new Map(parseJsonl(r.stdout).map((x) => [`${x.src_port}-${x.dst_port}`, x]));
}

Deno.test("a TCP header cut by the snapshot length: the payload still counts from the IP length (IPv6 at -s 68, IPv4 at -s 48)", async () => {
  // Real veth traffic (an IPv6 download, an interactive IPv6 session, an interactive IPv4 one), captured whole,
  // then cut by editcap -s 68 and -s 48. Only flags-derived columns may differ: a TCP header short of 20 bytes
  // is not read (as tshark); at -s 48 the IPv6 headers themselves are cut, so only the IPv4 flow remains.
  const groups = "flow_meta,timing,size";
  const full = await snaplenRecords("full.pcap", groups);
  assert.equal(full.size, 3);
  for (const [name, flows] of [["cut68.pcap", 3], ["cut48.pcap", 1]] as const) {
    const cut = await snaplenRecords(name, groups);
    assert.equal(cut.size, flows, name);
    for (const [key, record] of cut) {
      const whole = full.get(key)!;
      assert.ok((whole.payload_bytes_total as number) > 0, key);
      for (const column of Object.keys(whole)) {
        if (column === "flow_stat") continue;
        assert.deepEqual(record[column], whole[column], `${name} ${key} ${column}`);
      }
    }
  }
});

Deno.test("SACK options cut by the snapshot length: the blocks captured whole count, and the kind is seen (-s 78, -s 74)", async () => {
  // Real plain TCP with losses between namespaces (the mptcpreal review): the client's SYN and its 159 ACKs
  // carrying SACK blocks (397 in all), through editcap -s 78 (24 bytes of options: timestamps, then SACK
  // blocks cut) and -s 74 (no block whole). Every block of a cut option was dropped, and its kind with them.
  const s78 = await snaplenRecords("sack_s78.pcap", "tcp_options");
  const s74 = await snaplenRecords("sack_s74.pcap", "tcp_options");
  const [a] = [...s78.values()], [b] = [...s74.values()];
  assert.equal(s78.size, 1);
  assert.equal(a.tcp_sack_blocks_total, 159);
  assert.equal(b.tcp_sack_blocks_total, 0);
  assert.equal((a.tcp_options_bitmap as number) & 16, 16);
  assert.equal((b.tcp_options_bitmap as number) & 16, 16);
  if (HAVE_TSHARK) {
    // tshark's blocks whose right edge was captured (the left one comes first), and packets with the kind.
    for (const [name, record] of [["sack_s78.pcap", a], ["sack_s74.pcap", b]] as const) {
      const rows = tsharkRows([
        "-r",
        `${ROOT}/testdata/snaplen_edge/${name}`,
        "-T",
        "fields",
        "-e",
        "tcp.options.sack_re",
        "-e",
        "tcp.option_kind",
      ]);
      const whole = rows.reduce((n, r) => n + (r[0] === "" ? 0 : r[0].split(",").length), 0);
      assert.equal(record.tcp_sack_blocks_total, whole, name);
      assert.equal(rows.filter((r) => r[1].split(",").includes("5")).length, 159, name);
    }
  }
});

Deno.test("TCP options cut by the snapshot length: what was captured is read, what was not is null (-s 64, -s 68)", async () => {
  // The IPv4 session of full.pcap through editcap -s 64 and -s 68: 10 and 14 bytes of options. A timestamp
  // option cut part-way was taken as malformed: the timestamps read as never sent at -s 64, their first value
  // came from a later packet at -s 68, and the window, its scale unseen, read as unscaled.
  const groups = "tcp_options,tcp_window";
  const full = await snaplenRecords("full.pcap", groups);
  for (const name of ["cut64.pcap", "cut68.pcap"]) {
    const cut = await snaplenRecords(name, groups);
    const v4 = [...cut].filter(([, r]) => !String(r.src_ip).includes(":"));
    assert.equal(v4.length, 1, name);
    for (const [key, record] of v4) {
      const whole = full.get(key)!;
      assert.equal(record.tcp_ts_fwd_present, 1, name);
      assert.equal(record.tcp_ts_bwd_present, 1, name);
      assert.equal(record.tcp_ts_fwd_last, whole.tcp_ts_fwd_last, name);
      assert.equal(record.tcp_ws_fwd, null, `${name}: the window scale follows the cut`);
      for (const column of Object.keys(whole)) {
        // The bitmap says which options were seen: fewer when the capture holds fewer.
        if (column === "tcp_options_bitmap" || record[column] === null) continue;
        assert.deepEqual(record[column], whole[column], `${name} ${key} ${column}`);
      }
    }
  }
  // At -s 48 the TCP header itself is cut (14 of its 20 bytes): whether options were sent is unknown.
  const [[, cut48]] = [...(await snaplenRecords("cut48.pcap", groups))];
  assert.deepEqual(
    [cut48.tcp_ts_fwd_present, cut48.tcp_ts_bwd_present, cut48.tcp_sack_permitted_fwd],
    [null, null, null],
  );
});

Deno.test("an IP length of 0 (segmentation offload) in a cut capture counts the payload by the frame's length on the wire (as tshark for IPv4; tshark 4.0 reads no TCP in the IPv6 one)", async () => {
  // 1514-byte frames captured at 96 bytes: IPv4 with total length 0, IPv6 with payload length 0, and IPv4 with
  // its length (the control), three of each.
  const flows = await snaplenRecords("tso_trunc.pcap", "flow_meta");
  assert.equal(flows.get("1100-80")!.payload_bytes_fwd, 3 * 1460);
  assert.equal(flows.get("1101-80")!.payload_bytes_fwd, 3 * 1440);
  assert.equal(flows.get("1102-80")!.payload_bytes_fwd, 3 * 1460);
});

Deno.test({
  name:
    "UDP-Lite and DCCP flows are told apart by their ports, as tshark's conversations (they were one flow of ports 0)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // UDP-Lite from Python sockets between namespaces (a review's): two client ports to one IPv4 server port, two
    // to one IPv6 port, 6 packets each; DCCP frames crafted with scapy.
    for (
      const [file, proto, fields] of [
        ["udplite.pcap", 136, ["udp.srcport", "udp.dstport"]],
        ["dccp.pcap", 33, ["dccp.srcport", "dccp.dstport"]],
      ] as const
    ) {
      const path = `${ROOT}/testdata/flow_edge/${file}`;
      const want = new Map<string, number>();
      for (const [sp, dp] of tsharkRows(["-r", path, "-T", "fields", "-e", fields[0], "-e", fields[1]])) {
        if (sp === "") continue;
        const key = [Number(sp), Number(dp)].sort((a, b) => a - b).join("-");
        want.set(key, (want.get(key) ?? 0) + 1);
      }
      const r = await runCli(["extract", "-q", "--features", "flow_meta", path]);
      assert.equal(r.code, 0, r.stderr);
      const got = new Map<string, number>();
      for (const f of parseJsonl(r.stdout).filter((f) => f.protocol === proto)) {
        got.set(
          [f.src_port as number, f.dst_port as number].sort((a, b) => a - b).join("-"),
          f.total_packets as number,
        );
      }
      assert.deepEqual([...got].sort(), [...want].sort(), file);
    }
  },
});

Deno.test({
  name:
    "--tcp-end: a capture of one direction splits connections that reuse a port at each new SYN (tshark's streams)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // A review's: three real connections from one client port to one server, only the client's packets kept
    // (asymmetric routing). A new SYN ended the flow only after both sides' FINs, and the server's is not there:
    // the three were one flow of 53 packets, as without --tcp-end.
    const path = `${ROOT}/testdata/flow_edge/port_reuse_one_way.pcap`;
    const streams = new Set(tsharkRows(["-r", path, "-T", "fields", "-e", "tcp.stream"]).map((r) => r[0]));
    assert.equal(streams.size, 3);
    const ended = await runCli(["extract", "-q", "--tcp-end", "--features", "flow_meta", path]);
    assert.equal(ended.code, 0, ended.stderr);
    assert.deepEqual(parseJsonl(ended.stdout).map((r) => r.total_packets), [17, 18, 18]);
    const whole = await runCli(["extract", "-q", "--features", "flow_meta", path]);
    assert.deepEqual(parseJsonl(whole.stdout).map((r) => r.total_packets), [53]);
    // The server's side only (a review's, on lo): each connection opens with the server's SYN-ACK after its FIN
    // of the last one, which ended the flow only without ACK (one flow of 15 packets).
    const server = `${ROOT}/testdata/flow_edge/port_reuse_server_side.pcap`;
    // tshark keeps them one stream, but flags each later SYN-ACK "port numbers reused".
    const reused = tsharkRows([
      "-r",
      server,
      "-Y",
      "tcp.analysis.reused_ports",
      "-T",
      "fields",
      "-e",
      "frame.number",
    ]);
    assert.deepEqual(reused.map((r) => r[0]), ["6", "11"]);
    const split = await runCli(["extract", "-q", "--tcp-end", "--features", "flow_meta", server]);
    assert.deepEqual(parseJsonl(split.stdout).map((r) => [r.total_packets, r.flow_end_reason]), [
      [5, "fin"],
      [5, "fin"],
      [5, "end"],
    ]);
    // Not a SYN-ACK sent again after the server's FIN (a review's, between namespaces: a TCP Fast Open server
    // sends its data and FIN before the client's ACK, which iptables held back): one connection, one tcp.stream,
    // where it was cut in two, the server the second part's initiator. Nor any SYN-ACK once the client spoke.
    const tfo = `${ROOT}/testdata/flow_edge/tfo_synack_after_fin.pcap`;
    assert.equal(
      new Set(tsharkRows(["-r", tfo, "-T", "fields", "-e", "tcp.stream"]).map((r) => r[0])).size,
      1,
    );
    const one = await runCli(["extract", "-q", "--tcp-end", "--features", "flow_meta", tfo]);
    assert.deepEqual(parseJsonl(one.stdout).map((r) => r.total_packets), [7]);
  },
});
