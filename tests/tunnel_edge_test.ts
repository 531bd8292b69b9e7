/**
 * Tunnels the decoder cannot take to an inner IP packet (captures in `testdata/tunnel_edge/`, built by its
 * `make.py`): the packet stays in its outer flow, as tshark's conversations keep it, instead of being skipped;
 * of nested tunnels, in the flow of the tunnel around it (a real capture).
 * Also ERSPAN type I (no ERSPAN header), a Teredo packet cut by the snapshot length, and plain UDP on VXLAN's
 * port. The protocol stacks are checked against tshark's when it is installed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  collect,
  HAVE_TSHARK,
  ROOT,
  sortedEntries,
  totalsByKey,
  tsharkPackets,
  tsharkRows,
  tsharkTotals,
} from "./helpers.ts";
import { tsharkRowsOf } from "./tshark_flows.ts";

const DIR = `${ROOT}/testdata/tunnel_edge`;

interface Case {
  capture: string;
  /** Each flow as "protocol src:port > dst:port packets hdr_desc", in output order. */
  flows: string[];
  /** tshark's `frame.protocols` of each frame. */
  stacks: string[];
}

const CASES: Case[] = [
  {
    capture: "udp4789.pcap",
    flows: ["17 10.0.0.1:4789 > 10.0.0.53:53 2 ETH-IP-UDP"],
    stacks: ["eth:ethertype:ip:udp:dns", "eth:ethertype:ip:udp:dns"],
  },
  {
    capture: "vxlan_arp.pcap",
    flows: [
      "17 192.168.1.1:1234 > 192.168.2.2:53 1 ETH-IP-UDP-VXLAN-ETH-IP-UDP",
      "17 1.1.1.1:55555 > 2.2.2.2:4789 1 ETH-IP-UDP",
    ],
    stacks: [
      "eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp:dns",
      "eth:ethertype:ip:udp:vxlan:eth:ethertype:arp",
    ],
  },
  {
    capture: "gre_arp.pcap",
    flows: ["47 1.1.1.1:0 > 2.2.2.2:0 1 ETH-IP-PROTO47"],
    stacks: ["eth:ethertype:ip:gre:eth:ethertype:arp"],
  },
  {
    capture: "pptp.pcap",
    flows: [
      "6 192.168.1.1:1234 > 192.168.2.2:80 1 ETH-IP-GRE-PPP-IP-TCP",
      "47 2.2.2.2:0 > 1.1.1.1:0 2 ETH-IP-PROTO47",
    ],
    stacks: ["eth:ethertype:ip:gre:ppp:ip:tcp", "eth:ethertype:ip:gre", "eth:ethertype:ip:gre:ppp:lcp"],
  },
  {
    capture: "erspan1.pcap",
    flows: ["6 192.168.1.1:1234 > 192.168.2.2:80 2 ETH-IP-GRE-ERSPAN-ETH-IP-TCP"],
    stacks: [
      "eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp",
      "eth:ethertype:ip:gre:erspan:eth:ethertype:ip:tcp",
    ],
  },
  {
    capture: "teredo_snap.pcap",
    flows: ["6 2001:0:4136:e378:8000:63bf:3fff:fdd2:5000 > 2001:db8::1:443 2 ETH-IP-UDP-TEREDO-IP6-TCP"],
    stacks: ["eth:ethertype:ip:udp:teredo:ipv6:tcp", "eth:ethertype:ip:udp:teredo:ipv6:tcp:data"],
  },
  {
    // The inner IPv4 header is cut before its addresses.
    capture: "gtp_snap.pcap",
    flows: ["17 1.1.1.1:2152 > 2.2.2.2:2152 1 ETH-IP-UDP"],
    stacks: ["eth:ethertype:ip:udp:gtp:ip"],
  },
];

for (const c of CASES) {
  Deno.test(`tunnel edge cases: ${c.capture} keeps every packet in a flow`, async () => {
    const { records, summary } = await collect(`${DIR}/${c.capture}`, { features: ["flow_meta"] });
    const flows = records.map((r) =>
      `${r.protocol} ${r.src_ip}:${r.src_port} > ${r.dst_ip}:${r.dst_port} ${r.total_packets} ${r.hdr_desc}`
    );
    assert.deepEqual(flows, c.flows);
    assert.equal(summary.packetsDecoded, c.stacks.length);
  });
}

Deno.test({
  name: "tunnel edge cases: tshark reads the same protocol stacks",
  ignore: !HAVE_TSHARK,
  fn() {
    for (const c of CASES) {
      const rows = tsharkRows(["-r", `${DIR}/${c.capture}`, "-T", "fields", "-e", "frame.protocols"]);
      assert.deepEqual(rows.map((r) => r[0]), c.stacks, c.capture);
    }
  },
});

Deno.test({
  name:
    "nested tunnels: a packet whose innermost header was cut is in the flow of the tunnel around it (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // A review's, real kernel VXLAN (VNI 70) inside VXLAN (VNI 42), MTUs 1500, 1450 and 1400, both levels
    // fragmented, captured on the underlay and cut with `editcap -s 120`: the innermost IP header is cut. Those
    // packets went to the outermost flows (10.0.0.1:39386 > 10.0.0.2:4789, 322 packets), where tshark's
    // innermost readable packet is the VXLAN datagram between the middle tunnel's endpoints.
    const path = `${DIR}/vxlan_nested_snap120.pcap`;
    const rows = (await tsharkRowsOf(path, ["frame.len", "ip.src", "ip.dst", "udp.srcport", "udp.dstport"]))!;
    // Per frame with two UDP headers: the second one's 5-tuple, frames and bytes.
    const middle = new Map<string, [number, number]>();
    for (const [len, src, dst, sp, dp] of rows) {
      const [ips, dsts, sps, dps] = [src, dst, sp, dp].map((f) => f.split("|"));
      if (sps.length !== 2 || ips.length !== 2) continue;
      const key = `${ips[1]}:${sps[1]} > ${dsts[1]}:${dps[1]}`;
      const t = middle.get(key) ?? [0, 0];
      middle.set(key, [t[0] + 1, t[1] + Number(len)]);
    }
    const { records } = await collect(path, { features: ["flow_meta"] });
    assert.ok(records.length >= 10);
    for (const r of records) {
      assert.equal(r.tunnel_type, "udp", `${r.src_ip}:${r.src_port} > ${r.dst_ip}:${r.dst_port}`);
      assert.match(r.src_ip as string, /^192\.168\.42\./);
    }
    const big = records.find((r) => r.src_port === 39386)!;
    assert.deepEqual(
      [big.total_packets, big.total_bytes],
      middle.get("192.168.42.1:39386 > 192.168.42.2:4789"),
    );
  },
});

Deno.test({
  name: "mac: a VLAN tag inside a tunnel is not the outer frame's (VXLAN carrying an 802.1Q frame, tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Captured on a veth between two network namespaces: VXLAN (kernel) carrying frames tagged with VLAN 20
    // (the tag added on a TAP device inside). The mac columns are the outer Ethernet header's: untagged.
    const path = `${DIR}/vxlan_inner_vlan.pcap`;
    const outerTypes = new Set(
      tsharkRows(["-r", path, "-T", "fields", "-e", "eth.type", "-E", "occurrence=f"]).map(
        (r) => r[0],
      ),
    );
    const innerTags = tsharkRows(["-r", path, "-T", "fields", "-e", "vlan.id"]).filter((r) =>
      r[0] !== ""
    ).length;
    assert.ok(!outerTypes.has("0x8100") && innerTags > 0, "tshark: tags inside, none outside");
    const { records } = await collect(path, { features: ["flow_meta", "mac"] });
    assert.ok(records.length > 0);
    for (const r of records) {
      assert.equal(r.tunnel_type, "udp");
      assert.equal(r.mac_vlan_id, null);
      assert.equal((r.mac_stat as number) & 16, 0, `mac_stat ${r.mac_stat}: bit 4, VLAN tagged`);
      assert.match(r.hdr_desc as string, /VXLAN-ETH-VLAN-IP/);
    }
  },
});

Deno.test({
  name:
    "mac: behind a Linux cooked header, the tunnelled frame is the first Ethernet header, tags and type (tshark)",
  ignore: !HAVE_TSHARK,
  async fn() {
    // vxlan_inner_vlan.pcap's frames with a cooked header (v1, v2) for their Ethernet one, as `tcpdump -i any`
    // writes them: the VXLAN frame's header is now the only Ethernet header, and the mac columns are its. They
    // mixed its addresses with the cooked header's protocol (0x0800, the outer IPv4) and left its tag out.
    for (const name of ["vxlan_inner_vlan_sll", "vxlan_inner_vlan_sll2"]) {
      const path = `${DIR}/${name}.pcap`;
      const rows = tsharkRows([
        "-r",
        path,
        "-T",
        "fields",
        "-e",
        "eth.src",
        "-e",
        "vlan.id",
        "-e",
        "vlan.etype",
      ]);
      const macs = new Set(rows.map((r) => r[0]));
      assert.deepEqual(new Set(rows.map((r) => `${r[1]} ${r[2]}`)), new Set(["20 0x0800"]), name);
      const { records } = await collect(path, { features: ["flow_meta", "mac"] });
      assert.ok(records.length > 0, name);
      for (const r of records) {
        assert.equal(r.tunnel_type, "udp", name);
        assert.ok(macs.has(r.mac_src as string) && macs.has(r.mac_dst as string), name);
        assert.deepEqual([r.mac_vlan_id, r.mac_vlan_count, r.mac_eth_type], [20, 1, 0x0800], name);
        assert.equal((r.mac_stat as number) & 16, 16, `${name}: mac_stat ${r.mac_stat}: bit 4, VLAN tagged`);
      }
    }
    // The cooked header's protocol (IPv6 there) is not the tunnelled frame's EtherType (IPv4): tshark's eth.type.
    const six = `${DIR}/vxlan6_sll.pcap`;
    const [types] = tsharkRows(["-r", six, "-T", "fields", "-e", "sll.etype", "-e", "eth.type"]);
    assert.deepEqual(types, ["0x86dd", "0x0800"]);
    const [r6] = (await collect(six, { features: ["flow_meta", "mac"] })).records;
    assert.deepEqual([r6.tunnel_type, r6.mac_eth_type], ["udp", 0x0800]);
  },
});

Deno.test({
  name: "a tunnel's outer datagram in fragments: its later fragments count in the inner flow, as tshark's",
  ignore: !HAVE_TSHARK,
  async fn() {
    // The later fragments hold no inner header; they made a flow of the outer endpoints of their own (ports 0),
    // and the inner flow lost their packets and bytes. Teredo's first fragment was not even decapsulated: its
    // IPv6 packet, longer than the fragment, was not taken as Teredo's.
    const files = ["gre", "ipip", "vxlan", "gre6", "gtp", "teredo", "gre_ipip"].map((t) =>
      `${DIR}/${t}_outer_frag.pcap`
    );
    for (const file of files) {
      const { records } = await collect(file, { features: ["flow_meta", "ipv6_options"] });
      const r = records[0];
      assert.equal((r.ipv4_packet_count as number) + (r.ipv6_packet_count as number), r.total_packets, file);
      const theirs = tsharkTotals(await tsharkPackets(file));
      assert.deepEqual(
        sortedEntries(totalsByKey(records)),
        sortedEntries(theirs),
        file,
      );
      assert.equal(records.length, 1, file);
      assert.notEqual(records[0].tunnel_type, null, file);
      // Every inner payload byte once: the fragments' data after the first one's share.
      if (file.endsWith("gtp_outer_frag.pcap")) assert.equal(records[0].payload_bytes_total, 5 * 1460);
    }
    // IPv6 in fragmented IPv4, IPv4 in fragmented IPv6: every packet counts in the inner version, both ways (an
    // IPv6 flow left its later fragment out of ipv6_packet_count; an IPv4 flow counted it).
    const file = `${DIR}/v6v4_outer_frag.pcap`;
    const { records } = await collect(file, { features: ["flow_meta", "ipv6_options"] });
    assert.deepEqual(
      sortedEntries(totalsByKey(records)),
      sortedEntries(tsharkTotals(await tsharkPackets(file))),
    );
    assert.deepEqual(
      records.map((
        r,
      ) => [r.tunnel_type, r.total_packets, r.ipv6_packet_count, r.ipv4_packet_count, r.ipv6_ratio]),
      [["ip6ip", 2, 2, 0, 1], ["ipip", 2, 0, 2, 0]],
    );
  },
});

Deno.test("a tunnel's outer later fragment: no inner IP header fields, and no other datagram's inner flow", async () => {
  // Its IP header is the outer one: its TTL (250), ToS, MF flag and id were read as the inner packets'.
  const [gre] =
    (await collect(`${DIR}/gre_ttl_outer_frag.pcap`, { features: ["flow_meta", "ip_extended"] })).records;
  assert.equal(gre.tunnel_type, "gre");
  assert.equal(gre.ip_ttl_bwd_max, 64);
  assert.equal(gre.ip_ttl_bwd_changes, 0);
  assert.equal(gre.ip_flags, 2, "DF only");
  assert.equal(gre.ip_id_gaps, 0);
  // The same outer IP id 10 s later: the second subscriber's fragment that came before its first is not the
  // first one's (it keeps ports 0, an outer flow, as any fragment before its first).
  const { records } = await collect(`${DIR}/gtp_stale_id.pcap`, { features: ["flow_meta"] });
  assert.deepEqual(
    records.map((r) => `${r.src_ip}:${r.src_port} ${r.dst_ip}:${r.dst_port} ${r.total_packets}`),
    [
      "203.0.113.10:443 100.64.0.1:50000 2",
      "192.0.2.2:0 192.0.2.1:0 1",
      "203.0.113.10:443 100.64.0.2:50000 1",
    ],
  );
});

Deno.test({
  name:
    "MPLS over GRE, five tunnels deep, LLC/SNAP, 802.1ah and Ethernet pseudowires: the inner flows, as tshark's",
  ignore: !HAVE_TSHARK,
  async fn() {
    // MPLS over GRE stayed one GRE flow; a fifth tunnel made every flow the fourth tunnel's (one flow of
    // protocol 4); LLC/SNAP and 802.1ah frames, and Ethernet behind an MPLS pseudowire's control word, were
    // skipped as "not IP".
    for (const name of ["mpls_gre", "ipip_nest5", "llc_snap", "pbb"]) {
      const file = `${DIR}/${name}.pcap`;
      const { records, summary } = await collect(file, { features: ["flow_meta"] });
      assert.equal(summary.packetsDecoded, summary.packetsRead, name);
      assert.deepEqual(
        sortedEntries(totalsByKey(records)),
        sortedEntries(tsharkTotals(await tsharkPackets(file))),
        name,
      );
      assert.ok(records.every((r) => r.protocol !== 4 && r.protocol !== 47), name);
    }
    // tshark's heuristic passes over two of the pseudowire's frames (router solicitations); the same frames as
    // 802.1ah's, all read.
    const pw = (await collect(`${DIR}/eompls_cw.pcap`, { features: ["flow_meta"] })).records;
    const pbb = (await collect(`${DIR}/pbb.pcap`, { features: ["flow_meta"] })).records;
    assert.deepEqual(sortedEntries(totalsByKey(pw)), sortedEntries(totalsByKey(pbb)));
    assert.ok(pw.every((r) => String(r.hdr_desc).startsWith("ETH-MPLS-PW-ETH-IP")), pw[0].hdr_desc as string);
  },
});
