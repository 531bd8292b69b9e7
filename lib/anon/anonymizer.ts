/**
 * Address (and user name) anonymization of flow records, in three modes:
 *
 * - `joy`: as Cisco Joy's anon.c does: the address bytes (IPv4 in the first 4 bytes of a zeroed 16-byte block,
 *   IPv6 as its 16 bytes) encrypted with AES-128-ECB under the key, written as 32 hex digits. Reversible with the
 *   key, except that an IPv6 address whose bytes 4..15 are zero has the same block as an IPv4 address and comes
 *   back as that IPv4 address (Joy's format cannot tell them apart). A Joy key file (`pcap2flow.bin`, 16 bytes)
 *   is read as Joy reads it.
 * - `cryptopan`: prefix-preserving Crypto-PAn (IPv4 and IPv6); the results are addresses again. Reversible.
 * - `hash`: HMAC-SHA256 of the address, truncated to an address of the same family. One-way.
 *
 * Key files: 64 hex digits (32 bytes; any mode), 32 hex digits (16 bytes; joy and hash), or Joy's 16-byte
 * binary key file (joy and hash). A missing key file is created with mode 0600 holding a new random key.
 *
 * @module
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { formatIp, parseIp } from "../addr.ts";
import type { FeatureValue, FlowRecord } from "../extractor.ts";
import { type Cidr, PrefixMap } from "../subnets.ts";
import { CryptoPan } from "./cryptopan.ts";
import { flowId, mapHostLiteral, mapTargetHost, SettingsError } from "../options.ts";

/** Anonymization modes. */
export type AnonMode = "joy" | "cryptopan" | "hash";

/**
 * The modes, for option parsers and help (the default first).
 *
 * @example
 * ```ts
 * import { ANON_MODES } from "./anonymizer.ts";
 * console.log(ANON_MODES[0]); // cryptopan
 * ```
 */
export const ANON_MODES: readonly AnonMode[] = ["cryptopan", "joy", "hash"];

/** A key file that cannot be read, created or used: the CLI reports it and exits 1. */
export class KeyError extends Error {
  /**
   * @example
   * ```ts
   * import { KeyError } from "./anonymizer.ts";
   * console.log(new KeyError("bad key").name); // KeyError
   * ```
   */
  constructor(message: string) {
    super(message);
    this.name = "KeyError";
  }
}

/** A loaded key. */
export interface AnonKey {
  /** The key bytes (32, or 16 for a short or Joy key). */
  bytes: Uint8Array;
  /** True when the file did not exist and was created. */
  created: boolean;
  /** True when the file was a Joy `pcap2flow.bin` key file. */
  joyKeyFile: boolean;
  /** The file's permission bits (null when unknown). */
  mode: number | null;
}

/** The key Joy uses to encrypt its key file (anon.c, `key_init`). */
const JOY_KEYFILE_KEY = new Uint8Array(
  [0xa9, 0xd1, 0x62, 0x94, 0x4b, 0x7c, 0x20, 0x18, 0xac, 0x6d, 0x1a, 0x6b, 0x42, 0x8a, 0x0b, 0x2e],
);

function hexToBytes(h: string): Uint8Array {
  const out = new Uint8Array(h.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function bytesToHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
  return s;
}

/**
 * Writes a Joy key file (`pcap2flow.bin`): the 16-byte key encrypted as Joy stores it. For tests and for
 * sharing a key with Joy.
 *
 * @example
 * ```ts
 * import { joyKeyFileBytes } from "./anonymizer.ts";
 * console.log(joyKeyFileBytes(new Uint8Array(16)).length); // 16
 * ```
 */
export function joyKeyFileBytes(key: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-128-ecb", JOY_KEYFILE_KEY, null);
  c.setAutoPadding(false);
  return new Uint8Array(c.update(key.subarray(0, 16)));
}

/**
 * Reads a key file, or creates it (mode 0600, 32 random bytes as 64 hex digits) when it does not exist.
 * Throws a {@linkcode KeyError} when it cannot be read or created or is not a key.
 *
 * @example
 * ```ts
 * import { loadOrCreateKey } from "./anonymizer.ts";
 * const path = Deno.makeTempDirSync() + "/k.key";
 * const k = await loadOrCreateKey(path);
 * console.log(k.created, k.bytes.length); // true 32
 * ```
 */
export async function loadOrCreateKey(path: string): Promise<AnonKey> {
  let data: Uint8Array;
  try {
    data = await Deno.readFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new KeyError(`cannot read key file ${path}: ${e instanceof Error ? e.message : e}`);
    }
    const key = new Uint8Array(randomBytes(32));
    try {
      await Deno.writeTextFile(path, bytesToHex(key) + "\n", { createNew: true, mode: 0o600 });
      await Deno.chmod(path, 0o600);
    } catch (e2) {
      throw new KeyError(`cannot create key file ${path}: ${e2 instanceof Error ? e2.message : e2}`);
    }
    return { bytes: key, created: true, joyKeyFile: false, mode: 0o600 };
  }
  let mode: number | null = null;
  try {
    mode = (await Deno.stat(path)).mode;
    if (mode !== null) mode &= 0o777;
  } catch { /* permission bits are only for a warning */ }
  const text = new TextDecoder().decode(data).trim();
  if (/^[0-9a-fA-F]{64}$/.test(text) || /^[0-9a-fA-F]{32}$/.test(text)) {
    return { bytes: hexToBytes(text), created: false, joyKeyFile: false, mode };
  }
  if (data.length === 16) {
    const d = createDecipheriv("aes-128-ecb", JOY_KEYFILE_KEY, null);
    d.setAutoPadding(false);
    return { bytes: new Uint8Array(d.update(data)), created: false, joyKeyFile: true, mode };
  }
  throw new KeyError(
    `key file ${path} is not a key: expected 64 hex digits (or 32), or a 16-byte Joy key file; ` +
      `got ${data.length} bytes (remove it to have a new key made)`,
  );
}

/** Options of an {@linkcode Anonymizer}. */
export interface AnonymizerOptions {
  /** The mode (default cryptopan). */
  mode?: AnonMode;
  /** Undo an earlier anonymization with the same key (joy and cryptopan only). */
  reverse?: boolean;
  /** Only addresses inside these networks are changed (all when absent or empty). */
  subnets?: readonly Cidr[];
  /** User names to anonymize where they appear in user fields and HTTP URIs. */
  users?: Iterable<string>;
}

/** Field names whose values are addresses or lists of addresses (and DHCP's client, your, server, relay address). */
const ADDRESS_FIELD = /(^|_)(ip|ips|addr|addrs|address|addresses)$|^[cysg]iaddr$/;
/** Address fields of Joy's JSON (`jj extract --format joy`): source and destination address. */
const JOY_ADDRESS_FIELDS = new Set(["sa", "da"]);
/** Address fields of the objects nested in Joy's records: a DNS answer's A and AAAA record. */
const JOY_NESTED_ADDRESS_FIELDS = new Set(["a", "aaaa"]);
/**
 * Joy's DHCP options whose data is IPv4 addresses end to end (RFC 2132 and later), printed as hex: routers,
 * servers of every kind, the requested and the server's address. `policy_filter` holds address and mask pairs
 * (only the addresses change); `static_route` destination and router pairs.
 */
const DHCP_ADDRESS_OPTIONS: ReadonlySet<string> = new Set([
  "router",
  "policy_filter",
  "time_server",
  "name_server",
  "domain_server",
  "log_server",
  "quotes_server",
  "lpr_server",
  "impress_server",
  "rlp_server",
  "swap_server",
  "broadcast_address",
  "router_request",
  "static_route",
  "nis_servers",
  "ntp_servers",
  "netbios_name_srv",
  "netbios_dist_srv",
  "xwindow_font",
  "xwindow_manager",
  "address_request",
  "server_id",
  "nis_server_addr",
  "home_agent_addrs",
  "smtp_server",
  "pop3_server",
  "nntp_server",
  "www_server",
  "finger_server",
  "irc_server",
  "street_talk_server",
  "stda_server",
  "nds_servers",
  "bcmcs_controller_ipv4_address",
  "associated_ip",
  "netinfo_address",
  "subnet_selection",
  "option_capwap_ac_v4",
  "tftp_server_address|etherboot",
]);
/** Joy's initial data packets (`idp=N`): an IP packet's first bytes, in hex. */
const JOY_IDP_FIELDS = new Set(["idp_out", "idp_in"]);
const HEX_BYTES = /^(?:[0-9a-f]{2})+$/;
/** List fields that mix addresses with other text; only the entries that are addresses change. */
const MIXED_ADDRESS_FIELDS = new Set(["dns_answers"]);
/** Field names whose values are user names. */
const USER_FIELD = /^(usernames?|users?)$|_(user|users|username|usernames)$/;
/**
 * Fields whose values are host names, or addresses with a port (`http_host` "192.168.1.1:8080", Joy's HTTP
 * `Host`, a server name sent as an address literal): the address part changes, names stay.
 */
const HOST_FIELD = /(^|_)(host|hosts|sni)$/i;
/** Nested objects (Joy's http, tls, dns) are walked this deep. */
const MAX_NESTING = 8;
/** URI fields in which user names are masked as Joy masks them. */
const URI_FIELDS = new Set(["http_uri", "uri"]);
/** HTTP headers (Joy's records name them as sent) that hold a list of client addresses. */
const FORWARDED_FOR_HEADERS =
  /^(x-forwarded-for|x-real-ip|x-client-ip|true-client-ip|cf-connecting-ip|x-originating-ip)$/i;
/** HTTP headers that hold an absolute URI, whose host is rewritten as a request target's is. */
const URI_HEADERS = /^(referer|origin|location|content-location)$/i;
/** Certificate fields (Joy's x509 text) whose text can hold addresses: names and alternative names. */
const CERT_TEXT_FIELDS = new Set([
  "commonName",
  "organizationName",
  "organizationalUnitName",
  "X509v3 Subject Alternative Name",
  "X509v3 Issuer Alternative Name",
]);
/** The address literals `textLiterals` changes (see there). */
const TEXT_LITERAL_SOURCE = "(IP Address:)([0-9A-Fa-f:.]+)" +
  "|(?<![0-9A-Za-z:.])((?:[0-9A-Fa-f]{0,4}:){2,6}\\d{1,3}(?:\\.\\d{1,3}){3})(?!\\d)(?!\\.\\d)" +
  "|(?<!\\d)(?<!\\d\\.)(\\d{1,3}(?:\\.\\d{1,3}){3})(?!\\d)(?!\\.\\d)" +
  "|(?<![0-9A-Za-z:.])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})(?![0-9A-Za-z:])";
const TEXT_LITERAL = new RegExp(TEXT_LITERAL_SOURCE, "g");
/** Names that can be reverse-lookup names (a PTR query): a DNS query name, Joy's `qn` and `rn`. */
const QUERY_NAME_FIELDS = new Set(["dns_query_name", "qn", "rn"]);
/** IKE's NAT detection hashes (SHA-1 of the SPIs, an address and a port, all but the address in the record):
 * the address can be found by hashing each candidate, so they are removed. */
const NAT_DETECTION_FIELDS = new Set(["nat_detection_source_ip", "nat_detection_destination_ip"]);
const HEX32 = /^[0-9a-f]{32}$/;

/**
 * Anonymizes addresses (text in records, or bytes in packets) and listed user names.
 *
 * @example
 * ```ts
 * import { Anonymizer } from "./anonymizer.ts";
 * const key = new Uint8Array(32).fill(7);
 * const a = new Anonymizer(key, { mode: "cryptopan" });
 * const anon = a.record({ src_ip: "10.0.0.1", dst_ip: "10.0.0.2", total_packets: 3 });
 * const back = new Anonymizer(key, { mode: "cryptopan", reverse: true }).record({ ...anon });
 * console.log(back.src_ip, back.dst_ip); // 10.0.0.1 10.0.0.2
 * ```
 */
export class Anonymizer {
  /** The mode in use. */
  readonly mode: AnonMode;
  /** Reversing an earlier anonymization. */
  readonly reverse: boolean;
  private readonly key: Uint8Array;
  private readonly cryptoPan: CryptoPan | null = null;
  private readonly enc: ReturnType<typeof createCipheriv>;
  private readonly dec: ReturnType<typeof createDecipheriv>;
  private readonly subnets: PrefixMap<true> | null = null;
  private readonly users: Set<string>;
  private readonly userPattern: RegExp | null = null;
  private readonly cache = new Map<string, string>();
  private readonly tmp = new Uint8Array(16);
  /** Addresses changed so far (in records: every field value changed; in packets: every address rewritten). */
  changed = 0;
  /**
   * Joy initial data packets removed from records: in joy mode (whose results do not fit in a packet), or
   * whose IP header could not be read to be rewritten.
   */
  droppedPackets = 0;
  /** Rewrites the addresses of a packet's bytes (see `setPacketRewriter`). */
  private packetRewriter: ((packet: Uint8Array) => boolean) | null = null;
  /** Address fields with a value (text or list) seen so far in records, changed or not. */
  addressFields = 0;

  /** `key`: 32 bytes (16 are enough for joy and hash). Throws a {@linkcode KeyError} when it does not fit. */
  constructor(key: Uint8Array, options: AnonymizerOptions = {}) {
    this.mode = options.mode ?? "cryptopan";
    this.reverse = options.reverse ?? false;
    this.key = key;
    if (this.mode === "cryptopan") {
      if (key.length !== 32) {
        throw new KeyError(
          `--mode cryptopan needs a 32-byte key (64 hex digits); this key has ${key.length} bytes`,
        );
      }
      this.cryptoPan = new CryptoPan(key);
    } else if (key.length < 16) throw new KeyError(`the key is too short (${key.length} bytes)`);
    if (this.reverse && this.mode === "hash") {
      throw new SettingsError(
        "--reverse cannot undo --mode hash (keyed hashing is one-way); use joy or cryptopan",
      );
    }
    this.enc = createCipheriv("aes-128-ecb", key.subarray(0, 16), null);
    this.enc.setAutoPadding(false);
    this.dec = createDecipheriv("aes-128-ecb", key.subarray(0, 16), null);
    this.dec.setAutoPadding(false);
    if (options.subnets && options.subnets.length > 0) {
      const m = new PrefixMap<true>();
      for (const c of options.subnets) {
        if (this.reverse && this.mode === "cryptopan") {
          // Prefix preservation maps the network onto one anonymized network of the same length.
          const b = new Uint8Array(c.bytes);
          this.cryptoPan!.anonymize(b, 0, c.version);
          const n = c.version === 4 ? 4 : 16;
          for (let i = 0; i < n; i++) {
            const keep = c.length - 8 * i;
            if (keep <= 0) b[i] = 0;
            else if (keep < 8) b[i] &= (0xff << (8 - keep)) & 0xff;
          }
          m.set({ version: c.version, bytes: b, length: c.length }, true);
        } else m.set(c, true);
      }
      this.subnets = m;
    }
    this.users = new Set(options.users ?? []);
    if (this.users.size > 0) {
      const alts = [...this.users].sort((a, b) => b.length - a.length).map((u) =>
        u.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      );
      this.userPattern = new RegExp(alts.join("|"), "g");
    }
  }

  /**
   * Whether only the addresses of some networks are changed (`subnets`): an address cut short cannot be told
   * inside or outside them.
   *
   * @example
   * ```ts
   * import { Anonymizer } from "./anonymizer.ts";
   * console.log(new Anonymizer(new Uint8Array(32), { mode: "hash" }).restricted); // false
   * ```
   */
  get restricted(): boolean {
    return this.subnets !== null;
  }

  /** Whether the address at `addr[off..]` is to be changed (inside the subnets, or no subnets given). */
  private selected(addr: Uint8Array, off: number, version: 4 | 6): boolean {
    return this.subnets === null || this.subnets.lookup(addr, off, version) !== undefined;
  }

  private hashInto(addr: Uint8Array, off: number, version: 4 | 6): void {
    const n = version === 4 ? 4 : 16;
    const h = createHmac("sha256", this.key);
    h.update(new Uint8Array([version]));
    h.update(addr.subarray(off, off + n));
    const d = h.digest();
    for (let i = 0; i < n; i++) addr[off + i] = d[i];
  }

  /**
   * Rewrites the 4 or 16 address bytes at `addr[off..]` in place (cryptopan and hash: the result is an address
   * of the same family). Returns false when the address is left as it is (outside the subnets). Throws in joy
   * mode, whose results do not fit in an address.
   */
  bytes(addr: Uint8Array, off: number, version: 4 | 6): boolean {
    if (!this.transform(addr, off, version)) return false;
    this.changed++;
    return true;
  }

  private transform(addr: Uint8Array, off: number, version: 4 | 6): boolean {
    if (this.mode === "joy") {
      throw new RangeError("--mode joy writes 128-bit hex strings and cannot rewrite packet addresses");
    }
    if (!this.selected(addr, off, version)) return false;
    if (this.mode === "hash") this.hashInto(addr, off, version);
    else if (this.reverse) this.cryptoPan!.deanonymize(addr, off, version);
    else this.cryptoPan!.anonymize(addr, off, version);
    return true;
  }

  /**
   * The anonymized (or, reversing, the original) form of one address in text form. Text that is not an address
   * (or, reversing joy, not 32 hex digits) is returned as it is.
   */
  ip(text: string): string {
    let out = this.cache.get(text);
    if (out === undefined) {
      out = this.ipUncached(text);
      if (this.cache.size >= 65536) this.cache.clear();
      this.cache.set(text, out);
    }
    if (out !== text) this.changed++;
    return out;
  }

  private ipUncached(text: string): string {
    const b = this.tmp;
    if (this.mode === "joy" && this.reverse) {
      if (!HEX32.test(text)) return text;
      const plain = this.dec.update(hexToBytes(text));
      let v4 = true;
      for (let i = 4; i < 16; i++) if (plain[i] !== 0) v4 = false;
      b.set(plain);
      const version = v4 ? 4 : 6;
      if (!this.selected(b, 0, version)) return text;
      return formatIp(b, 0, version);
    }
    const version = parseIp(text, b);
    if (version === 0) return text;
    if (this.mode === "joy") {
      if (!this.selected(b, 0, version)) return text;
      return bytesToHex(this.enc.update(b));
    }
    if (!this.transform(b, 0, version)) return text;
    return formatIp(b, 0, version);
  }

  /** A user name's anonymized form (hex), or its original when reversing. */
  user(name: string): string {
    if (this.reverse) {
      if (!/^(?:[0-9a-f]{32})+$/.test(name)) return name;
      try {
        const plain = new Uint8Array(this.dec.update(hexToBytes(name)));
        const padLen = plain[plain.length - 1];
        if (padLen < 1 || padLen > 16) return name;
        for (let i = plain.length - padLen; i < plain.length; i++) if (plain[i] !== padLen) return name;
        return new TextDecoder("utf-8", { fatal: true }).decode(plain.subarray(0, plain.length - padLen));
      } catch {
        return name;
      }
    }
    if (!this.users.has(name)) return name;
    const bytes = new TextEncoder().encode(name);
    if (this.mode === "hash") {
      return bytesToHex(
        createHmac("sha256", this.key).update("user\0").update(bytes).digest().subarray(0, 16),
      );
    }
    const padLen = 16 - (bytes.length % 16);
    const padded = new Uint8Array(bytes.length + padLen);
    padded.set(bytes);
    padded.fill(padLen, bytes.length);
    return bytesToHex(this.enc.update(padded));
  }

  /**
   * A request target with the address of its host changed ({@linkcode Anonymizer.host}: CONNECT's authority, an
   * absolute URI's host, userinfo and port kept), then listed user names masked as Joy masks them: a name
   * between separators becomes asterisks.
   */
  uri(target: string): string {
    const text = mapTargetHost(target, (host) => this.host(host));
    if (this.userPattern === null || this.reverse) return text;
    const special = (c: string | undefined) => c === undefined || "?&/-\\_.=;".includes(c);
    return text.replace(
      this.userPattern,
      (m: string, at: number) =>
        special(at > 0 ? text[at - 1] : undefined) && special(text[at + m.length]) ? "*".repeat(m.length) : m,
    );
  }

  private value(v: FeatureValue, f: (s: string) => string): FeatureValue {
    if (typeof v === "string") return f(v);
    if (Array.isArray(v)) return v.map((x) => typeof x === "string" ? f(x) : x);
    return v;
  }

  /**
   * Anonymizes every address field (and host, user field, and URI) of a record in place, also in nested
   * objects (Joy's records); returns it.
   */
  record(rec: FlowRecord): FlowRecord {
    this.fields(rec as Record<string, unknown>, 0);
    if (typeof rec.flow_id === "string") rec.flow_id = this.flowIdOf(rec);
    return rec;
  }

  /**
   * `flow_id` computed again from the rewritten 5-tuple (without a salt), or null when the record lacks part of
   * it. Left as extract wrote it, a hash of the real addresses and the ports (with no salt unless one was
   * given), it gave them away to anyone who hashed candidate addresses: 65,536 guesses found a /16 client.
   * Reversing computes it from the restored addresses, which gives back extract's when it had no salt.
   */
  private flowIdOf(rec: FlowRecord): string | null {
    const { src_ip, dst_ip, src_port, dst_port, protocol } = rec;
    if (
      typeof src_ip !== "string" || typeof dst_ip !== "string" || typeof src_port !== "number" ||
      typeof dst_port !== "number" || typeof protocol !== "number"
    ) return null;
    return flowId(src_ip, src_port, dst_ip, dst_port, protocol);
  }

  /** The rewrites of values, made once (not per record and nested object). */
  private readonly ipOf = (s: string): string => this.ip(s);
  private readonly hostOf = (s: string): string => this.host(s);
  private readonly userOf = (s: string): string => this.user(s);

  /**
   * Gives the function that rewrites the addresses of a raw IP packet in place (true when it could), for Joy's
   * initial data packets; lib/anon/pcap.ts's `PacketAnonymizer` is one. Without it, those fields are removed.
   */
  setPacketRewriter(rewrite: (packet: Uint8Array) => boolean): void {
    this.packetRewriter = rewrite;
  }

  private fields(obj: Record<string, unknown>, depth: number): void {
    const ip = this.ipOf, host = this.hostOf, user = this.userOf;
    const names = this.users.size > 0 || this.reverse;
    for (const k in obj) {
      const v = obj[k];
      if (v === null || typeof v === "number" || typeof v === "boolean") continue;
      if (NAT_DETECTION_FIELDS.has(k)) {
        delete obj[k];
        continue;
      }
      // DHCP options first: some are named like address fields (broadcast_address), but hold hex.
      if (depth > 0 && typeof v === "string" && DHCP_ADDRESS_OPTIONS.has(k)) {
        obj[k] = this.hexAddresses(v, k === "policy_filter");
      } else if (
        ADDRESS_FIELD.test(k) || JOY_ADDRESS_FIELDS.has(k) || MIXED_ADDRESS_FIELDS.has(k) ||
        (depth > 0 && JOY_NESTED_ADDRESS_FIELDS.has(k))
      ) {
        this.addressFields++;
        obj[k] = this.value(v as FeatureValue, ip);
      } else if (depth === 0 && JOY_IDP_FIELDS.has(k) && typeof v === "string") {
        this.initialDataPacket(obj, k, v);
      } else if (HOST_FIELD.test(k)) obj[k] = this.value(v as FeatureValue, host);
      else if (names && USER_FIELD.test(k)) obj[k] = this.value(v as FeatureValue, user);
      else if (URI_FIELDS.has(k) && typeof v === "string") obj[k] = this.uri(v);
      else if (typeof v === "string" && depth > 0 && this.joyText(obj, k, v)) continue;
      else if (typeof v === "string" && QUERY_NAME_FIELDS.has(k)) obj[k] = this.reverseName(v);
      else if (typeof v === "object" && depth < MAX_NESTING) {
        for (const x of Array.isArray(v) ? v : [v]) {
          if (x !== null && typeof x === "object" && !Array.isArray(x)) {
            this.fields(x as Record<string, unknown>, depth + 1);
          }
        }
      }
    }
  }

  /**
   * A run of IPv4 addresses in hex (a Joy DHCP option's data), each changed as text is: in joy mode each
   * becomes its 32 hex digits (and, reversing, 32 digits that decrypt to an IPv4 address become its 8). With
   * `pairs`, only the first address of each pair changes (the second is a mask). Other text stays.
   */
  private hexAddresses(hex: string, pairs: boolean): string {
    if (!HEX_BYTES.test(hex)) return hex;
    const width = this.mode === "joy" && this.reverse ? 32 : 8;
    if (hex.length % width !== 0) return hex;
    let out = "";
    for (let i = 0, n = 0; i < hex.length; i += width, n++) {
      const part = hex.slice(i, i + width);
      if (pairs && n % 2 === 1) {
        out += part;
        continue;
      }
      const text = width === 8
        ? `${parseInt(part.slice(0, 2), 16)}.${parseInt(part.slice(2, 4), 16)}.${
          parseInt(part.slice(4, 6), 16)
        }.${parseInt(part.slice(6, 8), 16)}`
        : part;
      const changed = this.ip(text);
      if (changed === text) out += part;
      else if (this.mode === "joy" && !this.reverse) out += changed;
      else {
        const b = this.tmp;
        if (parseIp(changed, b) !== 4) return hex;
        out += bytesToHex(b.subarray(0, 4));
      }
    }
    this.addressFields++;
    return out;
  }

  /**
   * A Joy initial data packet (an IP packet's first bytes in hex): its addresses rewritten as a capture's are
   * (`anon --pcap`); removed with its length in joy mode, whose results do not fit in a packet, and when its IP
   * header cannot be read.
   */
  private initialDataPacket(obj: Record<string, unknown>, k: string, hex: string): void {
    if (hex.length === 0) return;
    const lengthKey = k === "idp_out" ? "idp_len_out" : "idp_len_in";
    if (this.mode !== "joy" && this.packetRewriter !== null && HEX_BYTES.test(hex)) {
      const packet = hexToBytes(hex);
      if (this.packetRewriter(packet)) {
        this.addressFields++;
        obj[k] = bytesToHex(packet);
        return;
      }
    }
    delete obj[k];
    delete obj[lengthKey];
    this.droppedPackets++;
  }

  /**
   * Fields of Joy's nested objects that hold addresses in text of their own: forwarding headers (address lists,
   * RFC 7239's `for=` and `by=`), headers holding a URI, a certificate's names and alternative names, the raw
   * server_name extension (hex) beside the `sni` it gives. True when `k` was one of them.
   */
  private joyText(obj: Record<string, unknown>, k: string, v: string): boolean {
    if (FORWARDED_FOR_HEADERS.test(k) || /^forwarded$/i.test(k) || CERT_TEXT_FIELDS.has(k)) {
      obj[k] = this.mode === "joy" && this.reverse ? this.joyTextBack(k, v) : this.textLiterals(v);
    } else if (URI_HEADERS.test(k)) obj[k] = this.uri(v);
    else if (k === "server_name" && HEX_BYTES.test(v)) obj[k] = this.serverNameExtension(v);
    else return false;
    this.addressFields++;
    return true;
  }

  /**
   * The address literals in free text changed: dotted quads, IPv6 addresses in brackets or standing alone (a
   * run of hex groups with two or more colons that reads as one); the rest of the text as it is.
   */
  private textLiterals(text: string): string {
    const scratch = new Uint8Array(16);
    const mapped = (a: string) => parseIp(a, scratch) === 0 ? a : this.ip(a);
    // One pass, each literal changed once: a subject alternative name's "IP Address:" (its colon no part of
    // the address), an IPv6 address ending in a dotted quad (::ffff:192.0.2.1, as dual-stack servers write
    // clients in X-Forwarded-For), a dotted quad, an IPv6 address.
    return text.replace(
      TEXT_LITERAL,
      (_m, label: string | undefined, san: string, v6v4: string, v4: string, v6: string) =>
        label !== undefined ? label + mapped(san) : mapped(v6v4 ?? v4 ?? v6),
    );
  }

  /**
   * Joy mode reversed in a text field (see `textLiterals`): its 32 hex digits go back to the address only where
   * an address stood, an alternative name's "IP Address:", an item of a forwarding list, Forwarded's `for=`
   * and `by=`. Elsewhere 32 hex digits can be a name (a certificate's common name, an obfuscated node id), and
   * stay; a common name that was an address stays encrypted.
   */
  private joyTextBack(k: string, text: string): string {
    const hex = /^[0-9a-f]{32}$/;
    if (FORWARDED_FOR_HEADERS.test(k)) {
      return text.split(",").map((item) => item.replace(/\S+/, (x) => hex.test(x) ? this.ip(x) : x)).join(
        ",",
      );
    }
    if (/^forwarded$/i.test(k)) {
      return text.replace(
        /\b(for|by)=("?)(\[?)([0-9a-f]{32})(\]?)/gi,
        (_m, key, q, open, x, close) => `${key}=${q}${open}${this.ip(x)}${close}`,
      );
    }
    return text.replace(/(IP Address:)([0-9a-f]{32})(?![0-9A-Za-z])/g, (_m, label, x) => label + this.ip(x));
  }

  /**
   * A TLS server_name extension's data in hex (a list of names, each a type, a length and the name), its
   * names that are address literals rewritten as `sni` is; other data stays.
   */
  private serverNameExtension(hex: string): string {
    const b = hexToBytes(hex);
    if (b.length < 2 || ((b[0] << 8) | b[1]) !== b.length - 2) return hex;
    const parts: Uint8Array[] = [];
    for (let p = 2; p < b.length;) {
      if (p + 3 > b.length) return hex;
      const n = (b[p + 1] << 8) | b[p + 2];
      if (p + 3 + n > b.length) return hex;
      let name = b.subarray(p + 3, p + 3 + n);
      if (b[p] === 0) name = new TextEncoder().encode(this.host(new TextDecoder().decode(name)));
      const entry = new Uint8Array(3 + name.length);
      entry.set([b[p], name.length >> 8, name.length & 255]);
      entry.set(name, 3);
      parts.push(entry);
      p += 3 + n;
    }
    const total = parts.reduce((n, x) => n + x.length, 0);
    const out = new Uint8Array(2 + total);
    out.set([total >> 8, total & 255]);
    let o = 2;
    for (const x of parts) {
      out.set(x, o);
      o += x.length;
    }
    return bytesToHex(out);
  }

  /**
   * A reverse-lookup name (`4.3.2.1.in-addr.arpa`, an `ip6.arpa` name of 32 nibbles) with its address
   * changed and written back the same way (a hash, which is no address, stands before the suffix); any other
   * name stays.
   */
  private reverseName(name: string): string {
    const m4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(\.in-addr\.arpa\.?)$/i.exec(name);
    const m6 = m4 === null ? /^((?:[0-9a-f]\.){31}[0-9a-f])(\.ip6\.arpa\.?)$/i.exec(name) : null;
    if (m4 === null && m6 === null) {
      // Joy mode's 32 hex digits in place of the address, reversed.
      const joy = this.reverse ? /^([0-9a-f]{32})(\.(?:in-addr|ip6)\.arpa\.?)$/i.exec(name) : null;
      return joy === null ? name : reverseLookupName(this.ip(joy[1]), joy[2], /[A-Z]/.test(joy[2]));
    }
    const address = m4 !== null
      ? `${m4[4]}.${m4[3]}.${m4[2]}.${m4[1]}`
      : m6![1].split(".").reverse().join("").replace(/(.{4})(?!$)/g, "$1:");
    const mapped = this.ip(address);
    if (mapped === address) return name;
    // The suffix as it was written (IN-ADDR.ARPA too), so that reversing gives the name back.
    return reverseLookupName(mapped, m4 !== null ? m4[5] : m6![2], m6 !== null && /[A-F]/.test(m6[1]));
  }

  /**
   * A host value with its address changed (the forms of `mapHostLiteral`: `10.1.2.3`, `10.1.2.3:8080`,
   * `[2001:db8::1]:443`, a bare IPv6 address, an IPv6 zone kept; in joy mode, the 32 hex digits in its place);
   * a host name is left as it is.
   */
  host(text: string): string {
    return mapHostLiteral(text, this.ipOf);
  }

  /** A one-line description for messages. */
  describe(): string {
    const nets = this.subnets === null ? "all addresses" : `${this.subnets.size} subnet(s)`;
    return `${this.reverse ? "reversing " : ""}${this.mode} on ${nets}`;
  }
}

/**
 * The reverse-lookup name of `address` ending in `suffix` (`.in-addr.arpa`, `.ip6.arpa.`, as written; IPv6
 * nibbles in capitals with `upper`); a text of another family, or no address (a hash, joy mode's hex), stands
 * before the suffix as it is.
 */
function reverseLookupName(address: string, suffix: string, upper: boolean): string {
  const bytes = new Uint8Array(16), version = parseIp(address, bytes);
  if (version === 4 && /^\.in-addr/i.test(suffix)) {
    return `${address.split(".").reverse().join(".")}${suffix}`;
  }
  if (version !== 6 || !/^\.ip6/i.test(suffix)) return `${address}${suffix}`;
  let nibbles = [...bytes].map((x) => x.toString(16).padStart(2, "0")).join("");
  if (upper) nibbles = nibbles.toUpperCase();
  return `${[...nibbles].reverse().join(".")}${suffix}`;
}

/**
 * Reads a user name list: one name per line, `#` comments, surrounding blanks ignored.
 *
 * @example
 * ```ts
 * import { parseUserList } from "./anonymizer.ts";
 * console.log(parseUserList("alice\n# staff\nbob\n")); // ["alice", "bob"]
 * ```
 */
export function parseUserList(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.replace(/#.*$/, "").trim()).filter((l) => l.length > 0);
}
