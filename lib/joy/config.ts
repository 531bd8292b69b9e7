/**
 * Joy's configuration: the feature switches of `joy_init.bitmask`, the options Joy's command line takes
 * (`bidir=1 dist=1 ...`), and the configuration line Joy writes first in every output file.
 *
 * @module
 */

/**
 * Feature flags of `joy_init.bitmask`. Bits 0 to 16 are those of the `joy_api.h` whose `joy_init` this API
 * follows (`type`, `idp`, `ipfix_host`, `ipfix_port`, `bitmask`): `JOY_BIDIR_ON` is `1 << 0` ...
 * `JOY_IPFIX_EXPORT_ON` `0x10000`. Later Joy headers moved IPFIX export to `1 << 17` and gave `1 << 16` to IDP;
 * a C caller built against those must translate. Bits 17 and above are this library's, for features Joy
 * switches on through its configuration instead.
 *
 * @example
 * ```ts
 * import { JoyFlag } from "./config.ts";
 * const bitmask = JoyFlag.BIDIR | JoyFlag.TLS | JoyFlag.HTTP;
 * console.log((bitmask & JoyFlag.TLS) !== 0); // true
 * ```
 */
export const JoyFlag = {
  BIDIR: 1 << 0,
  DNS: 1 << 1,
  SSH: 1 << 2,
  TLS: 1 << 3,
  DHCP: 1 << 4,
  HTTP: 1 << 5,
  IKE: 1 << 6,
  PAYLOAD: 1 << 7,
  EXE: 1 << 8,
  ZERO: 1 << 9,
  RETRANS: 1 << 10,
  DIST: 1 << 11,
  ENTROPY: 1 << 12,
  CLASSIFY: 1 << 13,
  HEADER: 1 << 14,
  PREEMPTIVE_TIMEOUT: 1 << 15,
  IPFIX_EXPORT: 1 << 16,
  IPFIX_IDP_EXPORT: 1 << 17,
  /** Initial data packet; also on whenever `idp > 0` is given. */
  IDP: 1 << 18,
  /** Walsh-Hadamard transform of the payload bytes. */
  WHT: 1 << 19,
  /** Per-packet information (`ppi`). */
  PPI: 1 << 20,
  /** DHCPv6. */
  DHCPV6: 1 << 21,
} as const;

/**
 * SPLT (sequence of packet lengths and times) or SALT (sequence of application lengths and times).
 *
 * @example
 * ```ts
 * import { cleanup, initialize, JoyFlag, JoyType } from "./api.ts";
 * const dir = Deno.makeTempDirSync();
 * // SALT: Joy's sequence of application lengths and times (with `oseq` / `oack`).
 * console.log(initialize({ bitmask: JoyFlag.BIDIR, type: JoyType.SALT }, dir, "salt.json")); // 0
 * cleanup(0);
 * ```
 */
export const JoyType = { SPLT: 1, SALT: 2 } as const;

/**
 * Joy's processing options, named as in Joy's configuration.
 *
 * @example
 * ```ts
 * import { defaultJoyConfig, type JoyConfig } from "./config.ts";
 * import { joyProcessFile } from "./offline.ts";
 * const config: JoyConfig = { ...defaultJoyConfig(), numPkts: 10, inactiveTimeout: 5 };
 * let flows = 0;
 * await joyProcessFile("testdata/http.pcap", config, () => flows++);
 * console.log(flows > 0); // true
 * ```
 */
export interface JoyConfig {
  /** Merge the two directions of a flow into one record. */
  bidir: boolean;
  /** Packets reported in `packets` (Joy's `num_pkts`, at most 200). */
  numPkts: number;
  /** Include zero-length packets in `packets`. */
  zeros: boolean;
  /** Include TCP retransmissions in `packets` and the byte counts. */
  retrans: boolean;
  /** Byte distribution (`byte_dist`, `byte_dist_mean`, `byte_dist_std`). */
  dist: boolean;
  /** Compact byte distribution mapping (256 entries, values 0..15), or null when off. */
  cdist: Uint8Array | null;
  /** The name of the compact byte distribution file, for the configuration line. */
  cdistName: string;
  /** Entropy and total entropy of the payload bytes. */
  entropy: boolean;
  /** Bytes of the first data packet to report (`idp`); 0 is off. */
  idp: number;
  /** Header description: bytes of each TCP payload described (`hd`, 0..32, Joy's `HDR_DSC_LEN`); 0 is off. */
  hd: number;
  /** Walsh-Hadamard transform. */
  wht: boolean;
  /** Joy's SALT feature (`salt.c`): the TCP sequence and acknowledgement numbers (`oseq`, `oack`, ...). */
  salt: boolean;
  /** Protocol features. */
  dns: boolean;
  /** SSH feature (`ssh.c`): banners, KEXINIT name lists and key-exchange messages. */
  ssh: boolean;
  /** TLS feature (`tls.c`): record lengths and times, hello contents and certificates. */
  tls: boolean;
  /** DHCP (v4) feature (`dhcp.c`): messages between ports 67 and 68. */
  dhcp: boolean;
  /** DHCPv6 feature (`dhcpv6.c`): messages between ports 546 and 547. */
  dhcpv6: boolean;
  /** HTTP feature (`http.c`): start lines, headers and the first body bytes of each message. */
  http: boolean;
  /** IKE feature (`ike.c`): ISAKMP / IKEv1 and IKEv2 messages on UDP port 500 or 4500. */
  ike: boolean;
  /** Per-packet information. */
  ppi: boolean;
  /** Inactive and active timeouts in seconds (Joy: 10 and 20; a flow ends 30 s after its start). */
  inactiveTimeout: number;
  /** Active timeout in seconds (see `inactiveTimeout`). */
  activeTimeout: number;
  /** End a flow at once when a packet arrives past its active timeout (Joy's preemptive timeout). */
  preemptiveTimeout: boolean;
  /** Verbosity 0 (off) to 5 (critical). */
  verbosity: number;
  /** IPFIX export destination. */
  ipfixHost: string;
  /** IPFIX export port. */
  ipfixPort: number;
  /** Output file and directory names as written in the configuration line. */
  output: string;
  /** Output directory name, as written in the configuration line. */
  outputDir: string;
}

/**
 * The configuration Joy 4.5 used for the reference corpus (`bidir=1 dist=1 entropy=1 tls=1 dns=1 http=1 ssh=1
 * idp=1300`), with every other option at Joy's default.
 *
 * @example
 * ```ts
 * import { defaultJoyConfig } from "./config.ts";
 * console.log(defaultJoyConfig().numPkts); // 50
 * ```
 */
export function defaultJoyConfig(overrides: Partial<JoyConfig> = {}): JoyConfig {
  return {
    bidir: true,
    numPkts: 50,
    zeros: false,
    retrans: false,
    dist: true,
    cdist: null,
    cdistName: "none",
    entropy: true,
    idp: 1300,
    hd: 0,
    wht: false,
    salt: false,
    dns: true,
    ssh: true,
    tls: true,
    dhcp: false,
    dhcpv6: false,
    http: true,
    ike: false,
    ppi: false,
    inactiveTimeout: 10,
    activeTimeout: 20,
    preemptiveTimeout: false,
    verbosity: 4,
    ipfixHost: "",
    ipfixPort: 0,
    output: "joyout.json",
    outputDir: ".",
    ...overrides,
  };
}

/**
 * Builds a configuration from a `joy_init`-style bitmask (everything off that the mask does not turn on).
 *
 * @example
 * ```ts
 * import { configFromBitmask, JoyFlag } from "./config.ts";
 * const c = configFromBitmask(JoyFlag.BIDIR | JoyFlag.TLS, 1300);
 * console.log(c.tls, c.http, c.idp); // true false 1300
 * ```
 */
export function configFromBitmask(bitmask: number, idp: number): JoyConfig {
  const on = (f: number): boolean => (bitmask & f) !== 0;
  return defaultJoyConfig({
    bidir: on(JoyFlag.BIDIR),
    dns: on(JoyFlag.DNS),
    ssh: on(JoyFlag.SSH),
    tls: on(JoyFlag.TLS),
    dhcp: on(JoyFlag.DHCP),
    dhcpv6: on(JoyFlag.DHCPV6),
    http: on(JoyFlag.HTTP),
    ike: on(JoyFlag.IKE),
    zeros: on(JoyFlag.ZERO),
    retrans: on(JoyFlag.RETRANS),
    dist: on(JoyFlag.DIST),
    entropy: on(JoyFlag.ENTROPY),
    hd: on(JoyFlag.HEADER) ? 32 : 0,
    wht: on(JoyFlag.WHT),
    ppi: on(JoyFlag.PPI),
    preemptiveTimeout: on(JoyFlag.PREEMPTIVE_TIMEOUT),
    idp: idp > 0 ? idp : on(JoyFlag.IDP) ? 1300 : 0,
  });
}

/**
 * The configuration line Joy 4.5 writes first (`joy_print_config` in JSON format), key for key.
 *
 * @example
 * ```ts
 * import { configLine, defaultJoyConfig } from "./config.ts";
 * console.log(configLine(defaultJoyConfig()).startsWith('{"version":"4.5.0"')); // true
 * ```
 */
export function configLine(c: JoyConfig): string {
  const b = (v: boolean): number => (v ? 1 : 0);
  const parts: [string, string | number][] = [
    ["version", "4.5.0"],
    ["interface", "none"],
    ["promisc", 0],
    ["output", c.output],
    ["outputdir", c.outputDir],
    ["username", "none"],
    ["info", "none"],
    ["count", 0],
    ["upload", "none"],
    ["keyfile", "none"],
    ["retain", 0],
    ["bidir", b(c.bidir)],
    ["num_pkts", c.numPkts],
    ["zeros", b(c.zeros)],
    ["retrans", b(c.retrans)],
    ["dist", b(c.dist)],
    ["cdist", c.cdist ? c.cdistName : "none"],
    ["entropy", b(c.entropy)],
    ["hd", c.hd],
    ["classify", 0],
    ["idp", c.idp],
    ["exe", 0],
    ["anon", "none"],
    ["useranon", "none"],
    ["bpf", "none"],
    ["verbosity", c.verbosity],
    ["threads", 1],
    ["updater", 0],
    ["wht", b(c.wht)],
    ["example", 0],
    ["dns", b(c.dns)],
    ["ssh", b(c.ssh)],
    ["tls", b(c.tls)],
    ["dhcp", b(c.dhcp)],
    ["dhcpv6", b(c.dhcpv6)],
    ["http", b(c.http)],
    ["ike", b(c.ike)],
    ["payload", 0],
    ["salt", b(c.salt)],
    ["ppi", b(c.ppi)],
    ["fpx", 0],
    ["end-config", 1],
  ];
  return "{" + parts.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",") + "}";
}

/**
 * Parses a compact byte distribution mapping: 256 lines `byte value`, or 256 values (`#` starts a comment),
 * each value 0..15. Returns the mapping, or the reason it is not one.
 *
 * @example
 * ```ts
 * import { parseCompactBd } from "./config.ts";
 * const m = parseCompactBd(Array.from({ length: 256 }, (_, i) => `${i} ${i >> 4}`).join("\n"));
 * console.log(m instanceof Uint8Array && m[255]); // 15
 * ```
 */
export function parseCompactBd(text: string): Uint8Array | string {
  const map = new Uint8Array(256);
  const lines = text.split(/\r?\n/).map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
  const pairs = lines.every((l) => l.split(/\s+/).length === 2);
  if (pairs && lines.length > 0) {
    for (const l of lines) {
      const [k, v] = l.split(/\s+/).map(Number);
      if (!Number.isInteger(k) || k < 0 || k > 255 || !Number.isInteger(v) || v < 0 || v > 15) {
        return `bad line "${l}" (expected "byte value", value 0..15)`;
      }
      map[k] = v;
    }
  } else {
    const vals = lines.join(" ").split(/[\s,]+/).filter(Boolean).map(Number);
    if (vals.length !== 256 || vals.some((v) => !Number.isInteger(v) || v < 0 || v > 15)) {
      return "expected 256 values 0..15";
    }
    map.set(vals);
  }
  return map;
}

type BoolKey =
  | "bidir"
  | "zeros"
  | "retrans"
  | "dist"
  | "entropy"
  | "wht"
  | "salt"
  | "ppi"
  | "dns"
  | "ssh"
  | "tls"
  | "dhcp"
  | "dhcpv6"
  | "http"
  | "ike"
  | "preemptiveTimeout";

/** Joy's boolean options (name in Joy's configuration: field). */
const BOOL_OPTIONS: Record<string, BoolKey> = {
  bidir: "bidir",
  zeros: "zeros",
  retrans: "retrans",
  dist: "dist",
  entropy: "entropy",
  wht: "wht",
  salt: "salt",
  ppi: "ppi",
  dns: "dns",
  ssh: "ssh",
  tls: "tls",
  dhcp: "dhcp",
  dhcpv6: "dhcpv6",
  http: "http",
  ike: "ike",
  preemptive_timeout: "preemptiveTimeout",
};

/** Joy's numeric options: field and range. */
const NUM_OPTIONS: Record<string, ["numPkts" | "idp" | "hd" | "verbosity", number, number]> = {
  num_pkts: ["numPkts", 0, 200],
  idp: ["idp", 0, 1500], // MAX_IDP
  hd: ["hd", 0, 32], // HDR_DSC_LEN
  verbosity: ["verbosity", 0, 5],
};

/** The option names {@linkcode parseJoyConfigList} knows (named in its error). */
const JOY_CONFIG_KEYS: readonly string[] = [
  ...Object.keys(BOOL_OPTIONS),
  ...Object.keys(NUM_OPTIONS),
  "cdist",
];

/**
 * Applies a list of Joy options (`dhcp=1,ike=1,num_pkts=100,cdist=FILE`, Joy's names and values) to a
 * configuration (Joy's corpus settings by default). Throws a `RangeError` naming the first unknown option or
 * bad value; `cdist` reads its file with `readText`.
 *
 * @example
 * ```ts
 * import { parseJoyConfigList } from "./config.ts";
 * const c = parseJoyConfigList("dhcp=1,bidir=0,num_pkts=100");
 * console.log(c.dhcp, c.bidir, c.numPkts); // true false 100
 * ```
 */
export function parseJoyConfigList(
  list: string,
  base: JoyConfig = defaultJoyConfig(),
  readText: (path: string) => string = Deno.readTextFileSync,
): JoyConfig {
  const c: JoyConfig = { ...base };
  for (const item of list.split(",").map((x) => x.trim()).filter(Boolean)) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new RangeError(`"${item}" is not KEY=VALUE`);
    const key = item.slice(0, eq).trim(), value = item.slice(eq + 1).trim();
    if (key in BOOL_OPTIONS) {
      if (value !== "0" && value !== "1") throw new RangeError(`${key}=${value}: expected 0 or 1`);
      c[BOOL_OPTIONS[key]] = value === "1";
    } else if (key in NUM_OPTIONS) {
      const [field, min, max] = NUM_OPTIONS[key];
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new RangeError(`${key}=${value}: expected an integer ${min}..${max}`);
      }
      c[field] = n;
    } else if (key === "cdist") {
      if (value === "" || value === "none") {
        c.cdist = null;
        c.cdistName = "none";
        continue;
      }
      let text: string;
      try {
        text = readText(value);
      } catch (e) {
        throw new RangeError(`cdist=${value}: ${e instanceof Error ? e.message : String(e)}`);
      }
      const m = parseCompactBd(text);
      if (typeof m === "string") throw new RangeError(`cdist=${value}: ${m}`);
      c.cdist = m;
      c.cdistName = value;
    } else {
      throw new RangeError(`unknown option "${key}" (known: ${JOY_CONFIG_KEYS.join(", ")})`);
    }
  }
  return c;
}
