/**
 * The decoder per link type and encapsulation, on real captures, compared with tshark: every flow's 5-tuple
 * (innermost for tunnels, outermost with `decap: false`), packets and bytes must be what tshark reads frame by
 * frame. Also: RFC 5952 address text (lib/addr.ts), and packet accounting with IP fragments.
 */
import assert from "node:assert/strict";
import { formatIp, parseIp } from "../lib/addr.ts";
import { PacketDecoder, SkipReason } from "../lib/decode.ts";
import { Layer } from "../lib/packet.ts";
import type { FlowRecord } from "../lib/extractor.ts";
import {
  cap,
  collect,
  concat,
  ethernet,
  HAVE_SHARED,
  HAVE_TSHARK,
  ipv4,
  ipv6,
  pcapFile,
  pcapRecords,
  recordKey,
  ROOT,
  sortedEntries,
  totalsByKey,
  tsharkFields,
  tsharkPackets,
  tsharkRows,
  tsharkTotals,
  udp,
} from "./helpers.ts";

const NO_CORPUS = !HAVE_SHARED || !HAVE_TSHARK;
if (!HAVE_SHARED) console.warn("decode_test: ../shared is absent: skipping the corpus comparisons");
if (!HAVE_TSHARK) console.warn("decode_test: tshark is not installed: skipping the corpus comparisons");

/** Our records (flow_meta only: the decoder is under test) and tshark's per-5-tuple totals of one capture. */
async function compare(
  file: string,
  opts: { decap?: boolean } = {},
): Promise<{ records: FlowRecord[]; ours: [string, unknown][]; theirs: [string, unknown][] }> {
  const { records } = await collect(file, { features: ["flow_meta"], decap: opts.decap ?? true });
  const pkts = await tsharkPackets(file, { outer: opts.decap === false });
  return {
    records,
    ours: sortedEntries(totalsByKey(records)),
    theirs: sortedEntries(tsharkTotals(pkts)),
  };
}

async function assertSameAsTshark(file: string, opts: { decap?: boolean } = {}): Promise<FlowRecord[]> {
  const { records, ours, theirs } = await compare(file, opts);
  assert.ok(theirs.length > 0, `tshark found no IP flows in ${file}`);
  assert.deepEqual(ours, theirs, `${file}: flows (key -> packets, bytes) differ from tshark's`);
  return records;
}

// ---------------------------------------------------------------------------------------------------------
// addresses

Deno.test("formatIp: IPv4 dotted quad", () => {
  assert.equal(formatIp(new Uint8Array([192, 168, 0, 1]), 0, 4), "192.168.0.1");
  assert.equal(formatIp(new Uint8Array([9, 9, 0, 0, 0, 255, 255, 255]), 4, 4), "0.255.255.255");
});

Deno.test("formatIp: IPv6 in RFC 5952 form", () => {
  const v6 = (groups: number[]) => {
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return formatIp(b, 0, 6);
  };
  // 4.2.1: shortest form, no leading zeros.
  assert.equal(v6([0x2001, 0x0db8, 0, 0, 0, 0, 0, 1]), "2001:db8::1");
  assert.equal(
    v6([0x2001, 0x0db8, 0xaaaa, 0xbbbb, 0xcccc, 0xdddd, 0x00ee, 0x000f]),
    "2001:db8:aaaa:bbbb:cccc:dddd:ee:f",
  );
  // 4.2.2: a single 16-bit zero field is not shortened.
  assert.equal(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), "2001:db8:0:1:1:1:1:1");
  // 4.2.3: the longest run is shortened; the first of equal runs.
  assert.equal(v6([0x2001, 0, 0, 1, 0, 0, 0, 1]), "2001:0:0:1::1");
  assert.equal(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), "2001:db8::1:0:0:1");
  // 4.3: lower case.
  assert.equal(v6([0x2001, 0xdb8, 0, 0, 0, 0, 0xabcd, 0xef01]), "2001:db8::abcd:ef01");
  // Runs at the ends, all zeros, loopback.
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0, 0]), "::");
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0, 1]), "::1");
  assert.equal(v6([1, 0, 0, 0, 0, 0, 0, 0]), "1::");
  assert.equal(v6([0xfe80, 0, 0, 0, 0x0202, 0xb3ff, 0xfe1e, 0x8329]), "fe80::202:b3ff:fe1e:8329");
  assert.equal(v6([1, 2, 3, 4, 5, 6, 7, 0]), "1:2:3:4:5:6:7:0");
  assert.equal(v6([0, 2, 3, 4, 5, 6, 7, 8]), "0:2:3:4:5:6:7:8");
  // 5: IPv4-mapped addresses end in dotted-quad form.
  assert.equal(v6([0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280]), "::ffff:192.0.2.128");
  assert.equal(v6([0, 0, 0, 0, 0, 0xffff, 0, 0]), "::ffff:0.0.0.0");
  // IPv4-compatible addresses too, where six zero groups lead, as tshark 4.0 and glibc's inet_ntop write each
  // of these (a capture of them, read by both); seven leading zero groups stay hexadecimal.
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0x0102, 0x0304]), "::1.2.3.4");
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0x0a00, 1]), "::10.0.0.1");
  assert.equal(v6([0, 0, 0, 0, 0, 0, 1, 2]), "::0.1.0.2");
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0, 0x0102]), "::102");
  assert.equal(v6([0, 0, 0, 0, 0, 0, 0, 0xffff]), "::ffff");
  assert.equal(v6([0, 0, 0, 0, 0, 1, 0, 0]), "::1:0:0");
  assert.equal(v6([0, 0, 0, 0, 1, 0xffff, 0x0102, 0x0304]), "::1:ffff:102:304");
  assert.equal(v6([0, 0, 0, 0, 0xffff, 0, 0x0102, 0x0304]), "::ffff:0:102:304");
  assert.equal(v6([1, 0, 0, 0, 0, 0, 0x0102, 0x0304]), "1::102:304");
  // At an offset inside a larger buffer.
  const buf = concat([1, 2, 3], [0x20, 0x01, 0x0d, 0xb8], new Array(11).fill(0), [0x42]);
  assert.equal(formatIp(buf, 3, 6), "2001:db8::42");
});

Deno.test("parseIp: valid addresses, round trips through formatIp", () => {
  const out = new Uint8Array(16);
  assert.equal(parseIp("10.0.0.1", out), 4);
  assert.deepEqual([...out.subarray(0, 4)], [10, 0, 0, 1]);
  for (
    const text of [
      "2001:db8::1",
      "::",
      "::1",
      "1::",
      "fe80::202:b3ff:fe1e:8329",
      "2001:0:0:1::1",
      "1:2:3:4:5:6:7:8",
      "::ffff:192.0.2.128",
    ]
  ) {
    assert.equal(parseIp(text, out), 6, text);
    assert.equal(formatIp(out, 0, 6), text, `round trip of ${text}`);
  }
  // Non-canonical input is read, and formatted canonically.
  assert.equal(parseIp("2001:0DB8:0000:0000:0000:0000:0000:0001", out), 6);
  assert.equal(formatIp(out, 0, 6), "2001:db8::1");
  // "::" standing for a single zero group is read, but never written (RFC 5952 4.2.2).
  assert.equal(parseIp("1:2:3:4:5:6:7::", out), 6);
  assert.equal(formatIp(out, 0, 6), "1:2:3:4:5:6:7:0");
  assert.equal(parseIp("::2:3:4:5:6:7:8", out), 6);
  assert.equal(formatIp(out, 0, 6), "0:2:3:4:5:6:7:8");
  assert.equal(parseIp("2001:db8:0:0:1:0:0:1", out), 6);
  assert.equal(formatIp(out, 0, 6), "2001:db8::1:0:0:1");
});

Deno.test("parseIp: invalid text gives 0", () => {
  const out = new Uint8Array(16);
  for (
    const bad of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "1.2.3.x",
      "1::2::3",
      ":::",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8::",
      "12345::",
      "g::1",
      ":1::2",
      "::ffff:1.2.3",
    ]
  ) {
    assert.equal(parseIp(bad, out), 0, JSON.stringify(bad));
  }
});

// ---------------------------------------------------------------------------------------------------------
// link types

Deno.test({
  name: "link type PPP (dlt_ppp.pcap) matches tshark",
  ignore: NO_CORPUS,
  async fn() {
    const recs = await assertSameAsTshark(cap("dlt_ppp.pcap"));
    assert.ok(
      recs.every((r) => (r.hdr_desc as string).startsWith("PPP-IP")),
      recs.map((r) => r.hdr_desc).join(),
    );
  },
});

Deno.test({
  name: "SCTP ports (sctp.cap) match tshark",
  ignore: NO_CORPUS,
  async fn() {
    const recs = await assertSameAsTshark(cap("sctp.cap"));
    assert.ok(recs.length > 0 && recs.every((r) => r.protocol === 132));
    assert.ok(recs.every((r) => (r.src_port as number) > 0 && (r.dst_port as number) > 0));
  },
});

for (const name of ["http2.pcapng", "quic-v2.pcapng"]) {
  Deno.test({
    name: `link type Linux cooked SLL (${name}) matches tshark`,
    ignore: NO_CORPUS,
    async fn() {
      const recs = await assertSameAsTshark(cap(name));
      assert.ok(recs.every((r) => (r.hdr_desc as string).startsWith("SLL-")));
    },
  });
}

Deno.test({
  name: "link type Linux cooked v2 SLL2 (testdata/sll2.pcap, IPv4 and IPv6) matches tshark",
  ignore: !HAVE_TSHARK,
  async fn() {
    const recs = await assertSameAsTshark(`${ROOT}/testdata/sll2.pcap`);
    assert.ok(recs.every((r) => (r.hdr_desc as string).startsWith("SLL2-")));
    assert.deepEqual(new Set(recs.map((r) => r.ip_version_flow)), new Set([4, 6]));
  },
});

for (
  const name of ["tls-alpn-h2.pcap", "http-empty-useragent.pcap", "ipv6.pcapng", "http1-with-cookies.pcapng"]
) {
  Deno.test({
    name: `link type BSD loopback NULL (${name}) matches tshark`,
    ignore: NO_CORPUS,
    async fn() {
      const recs = await assertSameAsTshark(cap(name));
      assert.ok(recs.every((r) => (r.hdr_desc as string).startsWith("NULL-")));
    },
  });
}

/** Rewrites an Ethernet capture (untagged frames only) as a raw IP capture with link type `linkType`. */
async function toRawIp(src: string, linkType: number, dir: string): Promise<string> {
  const bytes = await Deno.readFile(src);
  const out: { ts: number; data: Uint8Array; wireLen: number }[] = [];
  const dv = new DataView(bytes.buffer);
  for (const r of pcapRecords(bytes)) {
    const frame = bytes.subarray(r.offset + 16, r.offset + 16 + r.capLen);
    const type = (frame[12] << 8) | frame[13];
    if (type !== 0x0800 && type !== 0x86dd) continue;
    out.push({ ts: r.ts, data: frame.subarray(14), wireLen: dv.getUint32(r.offset + 12, true) - 14 });
  }
  const path = `${dir}/raw${linkType}.pcap`;
  await Deno.writeFile(path, pcapFile(linkType, out));
  return path;
}

for (
  const [linkType, source] of [[101, "443-curl.pcap"], [12, "443-curl.pcap"], [14, "v6.pcap"], [
    228,
    "443-curl.pcap",
  ], [
    229,
    "v6.pcap",
  ]] as const
) {
  Deno.test({
    name: `link type raw IP ${linkType} (${source} without its Ethernet headers) matches tshark`,
    ignore: NO_CORPUS,
    async fn() {
      const dir = await Deno.makeTempDir({ prefix: "jj_raw_" });
      try {
        const file = await toRawIp(cap(source), linkType, dir);
        const recs = await assertSameAsTshark(file);
        assert.ok(recs.every((r) => (r.hdr_desc as string).startsWith("RAW-IP")));
        // The same flows as from the Ethernet original, 14 bytes lighter per packet.
        const orig = await collect(cap(source), { features: ["flow_meta"] });
        const want = new Map(
          [...totalsByKey(orig.records)].map(([k, t]) => [k, [t.packets, t.bytes - 14 * t.packets]]),
        );
        const got = new Map([...totalsByKey(recs)].map(([k, t]) => [k, [t.packets, t.bytes]]));
        assert.deepEqual(sortedEntries(got), sortedEntries(want));
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

for (const name of ["ipv6.pcapng", "v6.pcap", "dhcpv6.pcap", "http_ipv6.pcap"]) {
  Deno.test({
    name: `IPv6 (extension headers, ICMPv6 errors) in ${name} matches tshark, addresses in RFC 5952 form`,
    ignore: NO_CORPUS,
    async fn() {
      const recs = await assertSameAsTshark(cap(name));
      for (const r of recs) {
        if (r.ip_version_flow !== 6) continue;
        for (const a of [r.src_ip, r.dst_ip] as string[]) {
          const b = new Uint8Array(16);
          assert.equal(parseIp(a, b), 6, a);
          assert.equal(formatIp(b, 0, 6), a, `${a} is not in RFC 5952 form`);
        }
      }
    },
  });
}

Deno.test({
  name: "IPv6 hop-by-hop options header (dhcpv6.pcap): the ICMPv6 behind it is the flow",
  ignore: NO_CORPUS,
  async fn() {
    const recs = await assertSameAsTshark(cap("dhcpv6.pcap"));
    assert.ok(recs.some((r) => r.protocol === 58 && (r.hdr_desc as string).endsWith("IP6-ICMP6")));
  },
});

for (
  const [name, stack] of [
    ["dns.pcap", "ETH-VLAN-VLAN-PPPoE-PPP-IP-UDP"], // QinQ, then PPPoE (tshark: vlan:vlan:pppoes:ppp:ip:udp)
    ["ja3_lots_of_cipher_suites.pcap", "ETH-VLAN-VLAN-IP-TCP"], // QinQ
    ["smtp-starttls.pcap", "ETH-VLAN-IP6-TCP"],
  ]
) {
  Deno.test({
    name: `802.1Q/802.1ad VLAN (${name}) matches tshark`,
    ignore: NO_CORPUS,
    async fn() {
      const recs = await assertSameAsTshark(cap(name));
      assert.ok(recs.some((r) => r.hdr_desc === stack), recs.map((r) => r.hdr_desc).join());
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// tunnels

const TUNNELS: [string, string][] = [
  ["gre-sample.pcap", "gre"],
  ["gre.pcapng", "gre"],
  ["vxlan.pcap", "udp"],
  ["tcpdump-geneve.pcap", "udp"],
  ["teredo.pcap", "udp"],
  ["4in6tunnel.pcap", "ipip"],
  ["gre-erspan-vxlan.pcap", "gre"],
];

for (const [name, type] of TUNNELS) {
  Deno.test({
    name:
      `tunnel ${name}: innermost 5-tuples, packets and bytes match tshark; tunnel_* name the outer endpoints`,
    ignore: NO_CORPUS,
    async fn() {
      const file = cap(name);
      const recs = await assertSameAsTshark(file);
      // Outer endpoints of each flow's first packet, as tshark reads them.
      const firstOuter = new Map<string, [string, string]>();
      for (const p of await tsharkPackets(file)) {
        if (p.key !== null && p.outer !== null && !firstOuter.has(p.key)) firstOuter.set(p.key, p.outer);
      }
      for (const r of recs) {
        const k = recordKey(r);
        const outer = firstOuter.get(k);
        assert.ok(outer, `${k}: tshark saw no tunnel`);
        assert.equal(r.tunnel_type, type, `${k}: tunnel_type`);
        assert.deepEqual([r.tunnel_src_ip, r.tunnel_dst_ip], outer, `${k}: tunnel endpoints`);
      }
    },
  });

  Deno.test({
    name: `tunnel ${name} with decap: false: the outer flows match tshark's outermost 5-tuples`,
    ignore: NO_CORPUS,
    async fn() {
      const recs = await assertSameAsTshark(cap(name), { decap: false });
      for (const r of recs) {
        assert.equal(r.tunnel_type, null);
        assert.equal(r.tunnel_src_ip, null);
        assert.equal(r.tunnel_dst_ip, null);
      }
    },
  });
}

Deno.test("tunnel: ICMP carried in a UDP tunnel has ports 0 (no outer UDP ports leak into the inner key)", () => {
  // Geneve (UDP 6081) carrying Ethernet + IPv4 + ICMP echo, built by hand.
  const icmp = [8, 0, 0xf7, 0xfe, 0, 1, 0, 1];
  const inner = ethernet(ipv4("30.0.0.1", "30.0.0.2", 1, new Uint8Array(icmp)));
  const geneve = concat([0, 0, 0x65, 0x58, 0, 0, 1, 0], inner);
  const frame = ethernet(ipv4("20.0.0.1", "20.0.0.2", 17, udp(12618, 6081, geneve)));
  const d = new PacketDecoder();
  assert.equal(d.decode(0, frame, 0, frame.length, frame.length, 1), SkipReason.NONE);
  const p = d.packet;
  assert.equal(p.proto, 1);
  assert.equal(p.tunnelType, 17);
  assert.equal(p.icmpType, 8);
  assert.equal(p.srcPort, 0, "srcPort of an ICMP packet must be 0 (got the outer UDP source port)");
  assert.equal(p.dstPort, 0, "dstPort of an ICMP packet must be 0 (got the outer UDP destination port)");
});

Deno.test("decoder: IPv4 fragments after the first take its ports, by addresses, id and protocol, for 60 s", () => {
  const d = new PacketDecoder();
  const frag = (id: number, mf: boolean, fragOffset: number, payload: Uint8Array, src = "10.0.0.1") =>
    ethernet(ipv4(src, "10.0.0.2", 17, payload, { id, mf, fragOffset }));
  const ports = (ts: number, f: Uint8Array) => {
    assert.equal(d.decode(ts, f, 0, f.length, f.length, 1), SkipReason.NONE);
    return [d.packet.srcPort, d.packet.dstPort];
  };
  const middle = frag(7, true, 3, new Uint8Array(24)), last = frag(7, false, 6, new Uint8Array(8));
  assert.deepEqual(ports(0, middle), [0, 0], "before its first fragment");
  assert.deepEqual(ports(1, frag(7, true, 0, udp(1111, 53, new Uint8Array(16)))), [1111, 53]);
  assert.deepEqual(ports(1.1, middle), [1111, 53]);
  assert.deepEqual(ports(1.2, frag(8, true, 3, new Uint8Array(24))), [0, 0], "another datagram (id)");
  assert.deepEqual(ports(1.2, frag(7, true, 3, new Uint8Array(24), "10.0.0.9")), [0, 0], "another source");
  assert.deepEqual(ports(1.3, last), [1111, 53]);
  // Fragments come out of order too: one after the last (or the last again) is still the datagram's.
  assert.deepEqual(ports(1.4, last), [1111, 53], "after the last fragment");
  assert.deepEqual(ports(1.5, middle), [1111, 53], "a middle one after the last");
  assert.deepEqual(ports(2, frag(9, true, 0, udp(2222, 53, new Uint8Array(16)))), [2222, 53]);
  assert.deepEqual(ports(62.5, frag(9, false, 3, new Uint8Array(8))), [0, 0], "more than 60 s later");
});

Deno.test("decoder: an outer IPv4 header's more-fragments flag does not make its inner IPv6 packet a fragment", () => {
  const d = new PacketDecoder();
  const inner = ipv6("2001:db8::1", "2001:db8::2", 17, udp(1111, 2222, new Uint8Array(8)));
  const tunnelled = ethernet(ipv4("10.0.0.1", "10.0.0.2", 41, inner, { mf: true }));
  assert.equal(d.decode(0, tunnelled, 0, tunnelled.length, tunnelled.length, 1), SkipReason.NONE);
  assert.deepEqual([d.packet.isFragment, d.packet.ipFlags & 1, d.packet.srcPort], [false, 0, 1111]);
  // A native later fragment with id 0 between the same addresses: no first fragment was seen, ports 0.
  const later = ethernet(
    ipv6("2001:db8::1", "2001:db8::2", 44, concat([17, 0, 0, 0x10, 0, 0, 0, 0], new Uint8Array(8))),
  );
  assert.equal(d.decode(1, later, 0, later.length, later.length, 1), SkipReason.NONE);
  assert.deepEqual([d.packet.isFragment, d.packet.srcPort, d.packet.dstPort], [true, 0, 0]);
});

Deno.test("decoder: layer stack, VLAN id and IPv6 fragment header of hand-made frames", () => {
  const d = new PacketDecoder();
  // VLAN 42, IPv4, UDP.
  const f1 = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, udp(1000, 53, new Uint8Array(4))), { vlan: 42 });
  assert.equal(d.decode(0, f1, 0, f1.length, f1.length, 1), SkipReason.NONE);
  assert.deepEqual([...d.packet.layers.subarray(0, d.packet.layerCount)], [
    Layer.ETH,
    Layer.VLAN,
    Layer.IP4,
    Layer.UDP,
  ]);
  assert.equal(d.packet.vlanId, 42);
  assert.equal(d.packet.payloadLen, 4);
  // IPv6 first fragment (offset 0, M set) of a UDP datagram: the ports are read.
  const frag0 = concat([17, 0, 0, 1, 0, 0, 0, 7], udp(2000, 53, new Uint8Array(16)));
  const f2 = ethernet(ipv6("2001:db8::1", "2001:db8::2", 44, frag0));
  assert.equal(d.decode(0, f2, 0, f2.length, f2.length, 1), SkipReason.NONE);
  assert.equal(d.packet.proto, 17);
  assert.equal(d.packet.srcPort, 2000);
  assert.equal(d.packet.ip6ExtMask, 1 << 2);
  // The last fragment (offset 16, M clear): no transport header; the first one's ports, kept for fragments
  // that come after it.
  const frag1 = concat([17, 0, 0, 0x10, 0, 0, 0, 7], new Uint8Array(16));
  const f3 = ethernet(ipv6("2001:db8::1", "2001:db8::2", 44, frag1));
  assert.equal(d.decode(0, f3, 0, f3.length, f3.length, 1), SkipReason.NONE);
  assert.equal(d.packet.isFragment, true);
  assert.equal(d.packet.proto, 17);
  assert.deepEqual([d.packet.srcPort, d.packet.dstPort], [2000, 53]);
  assert.equal(d.decode(0, f3, 0, f3.length, f3.length, 1), SkipReason.NONE);
  assert.deepEqual([d.packet.srcPort, d.packet.dstPort], [2000, 53], "a repeated last fragment");
  // ARP is not IP; a truncated IPv4 header is truncated; an unknown link type is unsupported.
  const arp = ethernet(new Uint8Array(28), { type: 0x0806 });
  assert.equal(d.decode(0, arp, 0, arp.length, arp.length, 1), SkipReason.NOT_IP);
  assert.equal(d.decode(0, f1, 0, 14 + 4 + 10, 60, 1), SkipReason.TRUNCATED);
  assert.equal(d.decode(0, f1, 0, f1.length, f1.length, 105), SkipReason.UNSUPPORTED_LINK);
});

// ---------------------------------------------------------------------------------------------------------
// fragments

for (const name of ["ip_fragmented_garbage.pcap", "dns_fragmented.pcap"]) {
  Deno.test({
    name:
      `IP fragments (${name}): every packet is accounted (read = decoded + skipped) and keyed as tshark keys it`,
    ignore: NO_CORPUS,
    async fn() {
      const file = cap(name);
      const { records, summary } = await collect(file, { features: ["flow_meta"] });
      const skipped = Object.values(summary.packetsSkipped).reduce((a, b) => a + b, 0);
      const frames = (await tsharkFields(file, ["frame.number"])).length;
      assert.equal(summary.packetsRead, frames);
      assert.equal(summary.packetsRead, summary.packetsDecoded + skipped);
      const inFlows = records.reduce((a, r) => a + (r.total_packets as number), 0);
      assert.equal(inFlows, summary.packetsDecoded);
      // A flow whose first packet is a later fragment still names its transport protocol in hdr_desc.
      const names: Record<number, string> = { 6: "TCP", 17: "UDP" };
      for (const r of records) {
        assert.ok((r.hdr_desc as string).endsWith(`-${names[r.protocol as number]}`), `${r.hdr_desc}`);
      }
      await assertSameAsTshark(file);
    },
  });
}

/** The frames of the decoder's edge cases (each checked against tshark below), with their expected reading. */
function decodeEdgeFrames(): { ts: number; data: Uint8Array; wireLen?: number; link?: number }[] {
  const u16 = (v: number) => [v >> 8, v & 0xff];
  const frames: { ts: number; data: Uint8Array }[] = [];
  let t = 1;
  const add = (data: Uint8Array) => frames.push({ ts: t++, data });
  // An IPv4 length (1500) past the end of a frame captured whole: 5 payload bytes, not 1460.
  const lie = ipv4("10.0.1.1", "10.0.1.2", 6, concat(tcpHeader(1000, 80), new Uint8Array(5)));
  lie[2] = 0x05, lie[3] = 0xdc;
  add(ethernet(lie));
  // UDP length 10 inside 20 bytes of IP payload: 2 payload bytes.
  const short = udp(1000, 2000, new Uint8Array(12));
  short[4] = 0, short[5] = 10;
  add(ethernet(ipv4("10.0.2.1", "10.0.2.2", 17, short)));
  // IPv4 fragments out of order: first, last, then the middle one (its datagram's ports all the same).
  const datagram = udp(5555, 6666, new Uint8Array(40));
  add(ethernet(ipv4("10.0.3.1", "10.0.3.2", 17, datagram.subarray(0, 16), { id: 9, mf: true })));
  add(ethernet(ipv4("10.0.3.1", "10.0.3.2", 17, datagram.subarray(32), { id: 9, fragOffset: 4 })));
  add(
    ethernet(ipv4("10.0.3.1", "10.0.3.2", 17, datagram.subarray(16, 32), { id: 9, mf: true, fragOffset: 2 })),
  );
  // IPv6 fragments with a destination options header after the Fragment header (RFC 8200's fragmentable
  // part): the later fragment is the same UDP datagram.
  const v6dgram = udp(7777, 8888, new Uint8Array(24));
  const dst = [17, 0, 1, 4, 0, 0, 0, 0];
  add(
    ethernet(
      ipv6("2001:db8::1", "2001:db8::2", 44, concat([60, 0, 0, 1, 0, 0, 0, 5], dst, v6dgram.subarray(0, 16))),
    ),
  );
  add(
    ethernet(
      ipv6("2001:db8::1", "2001:db8::2", 44, concat([60, 0, 0, 3 << 3, 0, 0, 0, 5], v6dgram.subarray(16))),
    ),
  );
  // AH over IPv4 protecting TCP: the TCP flow (as over IPv6).
  const ah = concat([6, 4], [0, 0], [0, 0, 0, 1], [0, 0, 0, 1], new Uint8Array(12));
  add(ethernet(ipv4("10.0.4.1", "10.0.4.2", 51, concat(ah, tcpHeader(3333, 4444), new Uint8Array(6)))));
  // IPv6 without a next header, payload length 0, in a padded Ethernet frame: no payload.
  add(ethernet(concat(ipv6("2001:db8::3", "2001:db8::4", 59, new Uint8Array(0)), new Uint8Array(6))));
  return frames;

  function tcpHeader(sport: number, dport: number): Uint8Array {
    return concat(u16(sport), u16(dport), [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18], u16(1000), [0, 0, 0, 0]);
  }
}

Deno.test({
  name:
    "decoder edge cases as tshark reads them: IP length past the frame, UDP length, fragments out of order, " +
    "IPv6 headers after the Fragment header, IPv4 AH, IPv6 no next header",
  ignore: !HAVE_TSHARK,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/edge.pcap`;
      await Deno.writeFile(path, pcapFile(1, decodeEdgeFrames()));
      const { records } = await collect(path, { features: ["flow_meta"] });
      const ours = records.map((r) =>
        `${r.protocol} ${r.src_ip}:${r.src_port} > ${r.dst_ip}:${r.dst_port} packets ${r.total_packets} payload ${r.payload_bytes_fwd}`
      ).sort();
      assert.deepEqual(ours, [
        "17 10.0.2.1:1000 > 10.0.2.2:2000 packets 1 payload 2",
        "17 10.0.3.1:5555 > 10.0.3.2:6666 packets 3 payload 40",
        "17 2001:db8::1:7777 > 2001:db8::2:8888 packets 2 payload 24",
        "59 2001:db8::3:0 > 2001:db8::4:0 packets 1 payload 0",
        "6 10.0.1.1:1000 > 10.0.1.2:80 packets 1 payload 5",
        "6 10.0.4.1:3333 > 10.0.4.2:4444 packets 1 payload 6",
      ]);
      // tshark, reassembling the fragments, reads the same transports, ports and payload lengths.
      const out = await new Deno.Command("tshark", {
        args: [
          "-r",
          path,
          "-o",
          "ip.defragment:TRUE",
          "-o",
          "ipv6.defragment:TRUE",
          "-T",
          "fields",
          "-E",
          "occurrence=l",
          "-e",
          "tcp.srcport",
          "-e",
          "udp.srcport",
          "-e",
          "tcp.len",
          "-e",
          "udp.length",
          "-e",
          "ipv6.plen",
          "-e",
          "eth.padding",
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) => l.split("\t"));
      assert.deepEqual(rows[0].slice(0, 3), ["1000", "", "5"], "IP length past the frame: tcp.len");
      assert.equal(rows[1][3], "10", "UDP length");
      assert.deepEqual(rows[4].slice(1, 4), ["5555", "", "48"], "reassembled IPv4 datagram");
      assert.deepEqual(rows[6].slice(1, 4), ["7777", "", "32"], "reassembled IPv6 datagram");
      assert.deepEqual(rows[7].slice(0, 3), ["3333", "", "6"], "TCP under IPv4 AH");
      assert.deepEqual([rows[8][4], rows[8][5]], ["0", "000000000000"], "IPv6 no next header: padding");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("decoder: Cisco HDLC in link type 50 (PPP in HDLC framing) carries IP by EtherType", () => {
  const d = new PacketDecoder();
  const f = concat([0x0f, 0x00, 0x08, 0x00], ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 2, new Uint8Array(2))));
  assert.equal(d.decode(0, f, 0, f.length, f.length, 50), SkipReason.NONE);
  assert.deepEqual([d.packet.srcPort, d.packet.dstPort, d.packet.payloadLen], [1, 2, 2]);
  assert.equal(d.packet.layers[0], Layer.CHDLC);
  // PPP in HDLC framing proper still reads as PPP.
  const ppp = concat([0xff, 0x03, 0x00, 0x21], ipv4("10.0.0.1", "10.0.0.2", 17, udp(1, 2)));
  assert.equal(d.decode(0, ppp, 0, ppp.length, ppp.length, 50), SkipReason.NONE);
  assert.equal(d.packet.layers[0], Layer.PPP);
});

Deno.test("flow table: the tunnel columns come from the first tunnelled packet, also after plain ones", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const inner = ipv4("10.0.0.1", "10.0.0.2", 17, udp(1111, 80, new Uint8Array(4)));
    const gre = ipv4("192.0.2.1", "192.0.2.2", 47, concat([0, 0, 0x08, 0x00], inner));
    await Deno.writeFile(
      `${dir}/t.pcap`,
      pcapFile(1, [{ ts: 1, data: ethernet(inner) }, { ts: 2, data: ethernet(gre) }]),
    );
    const { records } = await collect(`${dir}/t.pcap`, { features: ["flow_meta"] });
    assert.equal(records.length, 1);
    assert.deepEqual(
      [records[0].total_packets, records[0].tunnel_type, records[0].tunnel_src_ip, records[0].tunnel_dst_ip],
      [2, "gre", "192.0.2.1", "192.0.2.2"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IPsec AH over IPv4 and IPv6 alike: the protected TCP flow, with vpn_type ipsec-ah", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const syn = concat([4, 210, 0, 80], [0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    const ah = concat([6, 4, 0, 0], [0, 0, 0, 1, 0, 0, 0, 1], new Uint8Array(12));
    await Deno.writeFile(
      `${dir}/ah.pcap`,
      pcapFile(1, [
        { ts: 1, data: ethernet(ipv4("10.0.0.1", "10.0.0.2", 51, concat(ah, syn))) },
        { ts: 2, data: ethernet(ipv6("2001:db8::1", "2001:db8::2", 51, concat(ah, syn))) },
      ]),
    );
    const { records } = await collect(`${dir}/ah.pcap`, { features: ["flow_meta", "fingerprint"] });
    assert.deepEqual(
      records.map((r) => [r.protocol, r.src_port, r.dst_port, r.hdr_desc, r.vpn_type]),
      [[6, 1234, 80, "ETH-IP-TCP", "ipsec-ah"], [6, 1234, 80, "ETH-IP6-TCP", "ipsec-ah"]],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "packets stamped out of order, the AE flag, ERSPAN and PPPoE layers: as tshark reads the frames",
  ignore: !HAVE_TSHARK,
  async fn() {
    const tcp = (sport: number, dport: number, flags: number, aeBit = 0) =>
      concat([sport >> 8, sport & 255, dport >> 8, dport & 255], [
        0,
        0,
        0,
        1,
        0,
        0,
        0,
        0,
        0x50 | aeBit,
        flags,
      ], [
        0xff,
        0xff,
        0,
        0,
        0,
        0,
      ]);
    const a = "10.0.0.1", b = "10.0.0.2";
    // Flow 1001: its responder's first packet is stamped before the flow's first; the last packet is not the
    // latest. Flow 8100: AE with other flags; flow 8101: AE alone.
    const frames = [
      { ts: 100.5, data: ethernet(ipv4(a, b, 17, udp(1001, 53, new Uint8Array(4)))) },
      { ts: 100.2, data: ethernet(ipv4(b, a, 17, udp(53, 1001, new Uint8Array(4)))) },
      { ts: 100.9, data: ethernet(ipv4(a, b, 17, udp(1001, 53, new Uint8Array(4)))) },
      { ts: 100.1, data: ethernet(ipv4(b, a, 17, udp(53, 1001, new Uint8Array(4)))) },
      { ts: 100.3, data: ethernet(ipv4(a, b, 17, udp(1001, 53, new Uint8Array(4)))) },
      { ts: 101, data: ethernet(ipv4(a, b, 6, tcp(8100, 80, 0xc2, 1))) },
      { ts: 101.1, data: ethernet(ipv4(b, a, 6, tcp(80, 8100, 0x12, 1))) },
      { ts: 102, data: ethernet(ipv4(a, b, 6, tcp(8101, 80, 0x00, 1))) },
      // PPPoE session carrying IPv4.
      {
        ts: 103,
        data: ethernet(
          concat([0x11, 0, 0, 1], [0, 24], [0, 0x21], ipv4(a, b, 17, udp(7000, 7001, new Uint8Array(4)))),
          {
            type: 0x8864,
          },
        ),
      },
    ];
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/edges.pcap`;
      await Deno.writeFile(path, pcapFile(1, frames));
      const rows = await tsharkFields(path, [
        "frame.time_epoch",
        "udp.srcport",
        "tcp.srcport",
        "tcp.flags",
        "frame.protocols",
      ]);
      const { records } = await collect(path, { features: ["flow_meta", "timing", "tcp"] });
      const bySport = (p: number) => records.find((r) => r.src_port === p)!;
      // The last packet of flow 1001 (tshark's last frame of it) ends it; the responder came 0.3 s "before".
      const times = rows.filter((r) => r[1] === "1001" || r[1] === "53").map((r) => Number(r[0]));
      const u = bySport(1001);
      assert.equal(u.end_time, times[times.length - 1]);
      assert.ok(Math.abs((u.duration as number) - (times[times.length - 1] - times[0])) < 1e-9);
      assert.ok(Math.abs((u.first_response_time as number) - (times[1] - times[0])) < 1e-9);
      // tshark's nine-bit flags, OR-ed per flow: frames 6 and 7 are flow 8100, frame 8 flow 8101 (AE alone, no
      // null packet).
      assert.equal(bySport(8100).tcp_flags_agg, parseInt(rows[5][3], 16) | parseInt(rows[6][3], 16));
      assert.equal(bySport(8100).tcp_flags_agg, 0x1d2);
      assert.equal(bySport(8101).tcp_flags_agg, parseInt(rows[7][3], 16));
      assert.equal(bySport(8101).tcp_flags_anomaly, false);
      // Layers: tshark's protocol stack (eth:ethertype:pppoes:ppp:ip:udp) without its pseudo-layers.
      assert.match(rows[8][4], /pppoes:ppp:ip:udp/);
      assert.equal(bySport(7000).hdr_desc, "ETH-PPPoE-PPP-IP-UDP");
      if (HAVE_SHARED) {
        // ERSPAN between GRE and the mirrored frame, as tshark's stack has it.
        const erspan = cap("gre-erspan-vxlan.pcap");
        const protocols = (await tsharkFields(erspan, ["frame.protocols"]))[0][0];
        assert.match(protocols, /:gre:erspan:eth:/);
        const { records: mirrored } = await collect(erspan, { features: ["flow_meta"] });
        assert.equal(mirrored[0].hdr_desc, "ETH-IP-GRE-ERSPAN-ETH-IP-UDP-VXLAN-ETH-IP-TCP");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "decode: later fragments join their first one's flow when an extension header precedes ICMP",
  ignore: !HAVE_TSHARK,
  async fn() {
    // Built to order (scapy), RFC 8200's layout: IPv6, Fragment, Destination Options, ICMPv6 (two 2,500-byte
    // echo exchanges); and IPv4, AH, ICMP, fragmented. The later fragments' own next header is 60 or 51; they
    // belong to the first fragment's ICMP flow (tshark, not reassembling, shows every frame between the two
    // addresses).
    for (
      const [file, proto, icmp] of [["icmp6_dstopts_frag.pcap", 58, 4], ["icmp4_ah_frag.pcap", 1, 2]] as const
    ) {
      const path = `testdata/frag_edge/${file}`;
      const frames = tsharkRows(["-r", path, "-T", "fields", "-e", "frame.number"]).length;
      const { records } = await collect(path, { features: ["flow_meta", "icmp"] });
      assert.equal(records.length, 1, `${file}: one flow`);
      assert.equal(records[0].protocol, proto, file);
      assert.equal(records[0].total_packets, frames, file);
      assert.equal(records[0].icmp_packet_count, icmp, file);
    }
  },
});

Deno.test({
  name:
    "Cisco HDLC as link type 104 (a review's capture relabelled by editcap): flows as tshark's chdlc reads them",
  ignore: !HAVE_TSHARK,
  async fn() {
    const records = await assertSameAsTshark(`${ROOT}/testdata/reader_edge/chdlc104.pcap`);
    assert.equal(records.reduce((a, r) => a + (r.total_packets as number), 0), 12);
  },
});

Deno.test("reassembly: fragments that never complete are held within 16 MiB, a far offset costing only its bytes", () => {
  // A review's flood: later fragments at offset 64,000, each of a new datagram. Each held one cost a 64 KB buffer
  // (ten to nineteen times slower); now only its own bytes, and the oldest go past the bound.
  const d = new PacketDecoder();
  d.reassembleUdp = true;
  const data = new Uint8Array(200);
  let most = 0;
  for (let id = 0; id < 100000; id++) {
    const frame = ethernet(
      ipv4("10.0.0.1", "10.0.0.2", 17, data, { id: id & 0xffff, mf: true, fragOffset: 8000 }),
    );
    d.decode(id * 1e-3, frame, 0, frame.length, frame.length, 1);
    most = Math.max(most, d.heldFragmentBytes);
  }
  assert.ok(most <= 16 << 20, `${most}`);
  assert.ok(most >= 200 * 1000, `${most}`);
  // A second review's flood: 8-byte fragments of 1,024 datagrams, every other block, never complete. Within
  // 16 MiB a million could be held, each an array of a few hundred bytes (470 MB, 4 to 14 times slower): at most
  // 65,536 fragments are held now, the oldest datagrams going first.
  const tiny = new PacketDecoder();
  tiny.reassembleUdp = true;
  const eight = new Uint8Array(8);
  let mostPieces = 0;
  for (let block = 1; block < 200; block += 2) {
    for (let id = 0; id < 1024; id++) {
      const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, eight, { id, mf: true, fragOffset: block }));
      tiny.decode(block * 1e-3, frame, 0, frame.length, frame.length, 1);
      mostPieces = Math.max(mostPieces, tiny.heldFragments);
    }
  }
  assert.ok(mostPieces <= 65536, `${mostPieces} fragments held`);
  assert.ok(mostPieces >= 60000, `${mostPieces} fragments held`);
  // Without a group that reads datagrams, nothing is held.
  const off = new PacketDecoder();
  const frame = ethernet(ipv4("10.0.0.1", "10.0.0.2", 17, data, { mf: true, fragOffset: 8000 }));
  off.decode(0, frame, 0, frame.length, frame.length, 1);
  assert.equal(off.heldFragmentBytes, 0);
});
