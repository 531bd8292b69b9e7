/**
 * Joy's certificate fields (lib/joy/x509.ts) against OpenSSL's own printing (`openssl x509 -text`), on
 * certificates built to hold what Joy prints through OpenSSL: every X.509v3 extension OpenSSL 3.0 decodes
 * (name and policy constraints, policy mappings, private key usage period, RFC 3779 blocks, proxy certificate
 * information, otherNames), negative serial numbers, times with offsets or out of range, and extended key
 * usages of every object OpenSSL names (testdata/x509_edge).
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { certificateJson } from "../lib/joy/x509.ts";
import { hasCommand, ROOT, runCli } from "./helpers.ts";

const DIR = `${ROOT}/testdata/x509_edge`;
const HAS_OPENSSL = hasCommand("openssl");

/** Joy's `joy_utils_convert_to_json_string`: bytes outside printable ASCII, and \, / and ", become dots. */
function joySafe(bytes: Uint8Array): string {
  let s = "";
  for (const c of bytes) {
    s += c < 0x20 || c > 0x7e || c === 0x5c || c === 0x2f || c === 0x22 ? "." : String.fromCharCode(c);
  }
  return s;
}

/** `openssl x509 -text` of a DER certificate, with only the fields asked for. */
async function opensslText(file: string, show: string[]): Promise<Uint8Array> {
  const all = [
    "header",
    "version",
    "serial",
    "signame",
    "validity",
    "subject",
    "issuer",
    "pubkey",
    "sigdump",
    "aux",
    "extensions",
  ];
  const out = await new Deno.Command("openssl", {
    args: [
      "x509",
      "-inform",
      "der",
      "-in",
      file,
      "-noout",
      "-text",
      "-certopt",
      all.filter((x) => !show.includes(x)).map((x) => `no_${x}`).join(","),
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.stdout;
}

/**
 * The extensions OpenSSL decodes, by name, as Joy prints them: X509V3_EXT_print at indent 0 (the -text output
 * is at indent 16, in front of each line and of a part printed after an unended line). Extensions printed raw
 * (a line not indented) are null: Joy and -text dump undecoded bytes differently.
 */
async function opensslExtensions(file: string): Promise<[string, string | null][]> {
  const bytes = await opensslText(file, ["extensions"]);
  const lines: Uint8Array[] = [];
  // Lines, each ended by its newline (the text's last newline starts no empty line).
  for (let i = 0, start = 0; i < bytes.length || start < bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 10) {
      lines.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
  const out: [string, string | null][] = [];
  let name: string | null = null, value: Uint8Array[] = [], raw = false;
  const flush = () => {
    if (name === null) return;
    // The block's lines are the value's (the newline -text adds after it ends the last one; a value ending in a
    // newline leaves an empty line).
    const joined = value.map((l) => joySafe(l)).join(".");
    const v = joined.replace(/(^|\.) {16}/g, "$1").replace(/ {16}(?=[A-Za-z])/g, "");
    out.push([name, raw ? null : v]);
  };
  for (const l of lines) {
    const t = text(l);
    const header = /^ {12}(\S.*?): ?(critical)?$/.exec(t);
    if (header !== null) {
      flush();
      name = header[1];
      value = [];
      raw = false;
    } else if (name !== null && (/^ {16}/.test(t) || t === "")) value.push(l);
    else if (name !== null && /^ {4}\S/.test(t)) {
      flush();
      name = null;
    } else if (name !== null) {
      raw = true;
      value.push(l);
    }
  }
  flush();
  return out;
}

const CERTS = [
  "c1.der",
  "c2.der",
  "c3.der",
  "c4.der",
  "c5.der",
  "c6.der",
  "c7.der",
  "c8.der",
  "c9_names.der",
  "c10_akid.der",
  "c11_dp_names.der",
  "c12_dp_bad_utf8.der",
  "c13_dp_relative_cut.der",
  "c14_san_bad_bmp.der",
  "c_bp.der",
  "c_dsa.der",
  "c_ed448.der",
  "c_p521.der",
  "c_rsa-pss.der",
];

Deno.test({
  name: "x509 (Joy): every extension OpenSSL decodes, printed as OpenSSL prints it",
  ignore: !HAS_OPENSSL,
  async fn() {
    let compared = 0, rawSeen = 0;
    for (const file of CERTS) {
      const der = await Deno.readFile(`${DIR}/${file}`);
      const cert = JSON.parse(certificateJson(der, 0, der.length));
      const ours = new Map<string, string>();
      for (const e of cert.extensions ?? []) for (const [k, v] of Object.entries(e)) ours.set(k, v as string);
      // Joy prints a certificate's first 12 extensions.
      for (const [name, value] of (await opensslExtensions(`${DIR}/${file}`)).slice(0, 12)) {
        if (value === null) {
          // OpenSSL could not decode it (a name that does not decode fails the extension): jj prints it raw too.
          ok(
            !/^(Full Name|Relative Name|DirName)/.test(ours.get(name) ?? ""),
            `${file}: ${name}: ${ours.get(name)}`,
          );
          rawSeen++;
          continue;
        }
        equal(
          ours.get(name),
          value,
          `${file}: ${name}: ${JSON.stringify(ours.get(name))} ${JSON.stringify(value)}`,
        );
        compared++;
      }
    }
    // Name constraints, policy constraints and mappings, key usage period, proxy info, RFC 3779, EKU names...
    ok(compared >= 40, `${compared} extensions compared`);
    // c12's and c14's names do not decode (a UTF-8 surrogate, a BMP one).
    ok(rawSeen >= 2, `${rawSeen} extensions printed raw`);
  },
});

Deno.test({
  name:
    "x509 (Joy): a certificate OpenSSL cannot read (a subject whose UTF8String is not UTF-8) gives its length only",
  ignore: !HAS_OPENSSL,
  async fn() {
    const file = `${DIR}/c15_subject_bad_utf8.der`;
    const r = await new Deno.Command("openssl", {
      args: ["x509", "-inform", "der", "-in", file, "-noout"],
      stderr: "null",
    })
      .output();
    ok(!r.success, "openssl reads it");
    const der = await Deno.readFile(file);
    equal(certificateJson(der, 0, der.length), `{"length":${der.length}}`);
  },
});

Deno.test({
  name: "x509 (Joy): serial numbers (negative ones too) and validity times as OpenSSL prints them",
  ignore: !HAS_OPENSSL,
  async fn() {
    for (const file of CERTS) {
      const der = await Deno.readFile(`${DIR}/${file}`);
      const cert = JSON.parse(certificateJson(der, 0, der.length));
      const text = new TextDecoder().decode(await opensslText(`${DIR}/${file}`, ["serial", "validity"]));
      // OpenSSL's serial: the magnitude in hex (with "(Negative)" for a negative one), on one line or the next.
      const serial = /Serial Number:\s*(?:\(Negative\))?\s*(?:(-?\d+) \(-?0x([0-9a-f]+)\)|([0-9a-f:]+))/.exec(
        text,
      )!;
      const hex = serial[2] ?? serial[3].replace(/:/g, "");
      equal(cert.serial_number, hex.length % 2 ? `0${hex}` : hex, `${file}: serial`);
      const before = /Not Before: (.*)/.exec(text)![1].trim(),
        after = /Not After : (.*)/.exec(text)![1].trim();
      deepEqual([cert.validity_not_before, cert.validity_not_after], [before, after], `${file}: validity`);
    }
  },
});

Deno.test("x509 (Joy): a real TLS 1.2 session carrying c3.der gives its certificate in extract --format joy", async () => {
  // testdata/x509_edge/c3.pcap: openssl s_server with c3's certificate and s_client, captured on lo.
  const r = await runCli(["extract", "-q", "--format", "joy", `${DIR}/c3.pcap`]);
  equal(r.code, 0, r.stderr);
  const der = await Deno.readFile(`${DIR}/c3.der`);
  const expected = JSON.parse(certificateJson(der, 0, der.length));
  const certs = r.stdout.trim().split("\n").slice(1).flatMap((l) => JSON.parse(l).tls?.s_cert ?? []);
  ok(certs.some((c: { serial_number: string }) => c.serial_number === expected.serial_number));
  deepEqual(
    certs.find((c: { serial_number: string }) => c.serial_number === expected.serial_number).extensions,
    expected.extensions,
  );
});
