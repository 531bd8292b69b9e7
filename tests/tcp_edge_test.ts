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
import { collect, HAVE_TSHARK, ROOT, tsharkRows } from "./helpers.ts";

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
