/**
 * Joy's TLS feature (`tls.c`): per-packet record lengths and times with handshake types (`srlt`), and from the
 * buffered handshake bytes the hello versions, randoms, session ids, SNI, cipher suites, raw extensions and the
 * client key exchange. Joy parses each packet on its own (no TCP reassembly), buffering handshake packets until
 * the first non-handshake record; this module does the same so that its output matches Joy's.
 *
 * @module
 */
import { hex, iptMs } from "./json.ts";
import { parseCertificateMessage } from "./x509.ts";

const MAX_HANDSHAKE_LENGTH = 11000;
const MAX_NUM_RCD_LEN = 100;
const NUM_PKT_LEN_TLS = 50;
const MAX_TLS_HANDSHAKES = 5;
const MAX_CS = 256;
const MAX_EXTENSIONS = 64;
const MAX_CERTIFICATES = 4;

const CT_CCS = 20, CT_ALERT = 21, CT_APP = 23;
const SNI_DECODER = new TextDecoder();
const ROLE_CLIENT = 1, ROLE_SERVER = 2;

/**
 * Joy's internal TLS version numbers (`c_version` / `s_version`).
 *
 * @example
 * ```ts
 * import { JoyTlsVersion } from "./tls.ts";
 * console.log(JoyTlsVersion.TLS1_2); // 5
 * ```
 */
export const JoyTlsVersion = { SSLV2: 1, SSLV3: 2, TLS1_0: 3, TLS1_1: 4, TLS1_2: 5, TLS1_3: 6 } as const;

function versionToInternal(major: number, minor: number): number {
  if (major === 3) {
    if (minor <= 4) return minor + 2;
    return 0;
  }
  if (major === 0x7f && minor === 0x12) return JoyTlsVersion.TLS1_3;
  return 0;
}

/**
 * One TLS extension as Joy keeps it: type and raw data.
 *
 * @example
 * ```ts
 * import { JoyTls, type JoyTlsExtension } from "./tls.ts";
 * // A ClientHello offering one suite and one extension (supported_versions: TLS 1.3).
 * const ext = [0, 43, 0, 3, 2, 3, 4];
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, ext.length, ...ext];
 * const hs = [1, 0, 0, body.length, ...body];
 * const t = new JoyTls();
 * t.update(0, new Uint8Array([22, 3, 1, 0, hs.length, ...hs]), 0, 5 + hs.length);
 * t.finish(); // Joy parses the handshake when it prints the flow
 * const first: JoyTlsExtension = t.extensions[0];
 * console.log(first.type, first.data.length); // 43 3
 * ```
 */
export interface JoyTlsExtension {
  /** Extension type. */
  type: number;
  /** Raw extension data (empty when longer than Joy prints, 1024 bytes: see `length`). */
  data: Uint8Array;
  /** Its length as the extension's header gives it. */
  length: number;
}

/**
 * Per-record statistics (`tls_message_stat_t`).
 *
 * @example
 * ```ts
 * import { JoyTls, type MsgStat } from "./tls.ts";
 * // A ClientHello offering one suite and one extension (supported_versions: TLS 1.3).
 * const ext = [0, 43, 0, 3, 2, 3, 4];
 * const body = [3, 3, ...new Array(32).fill(0), 0, 0, 2, 0x13, 0x01, 1, 0, 0, ext.length, ...ext];
 * const hs = [1, 0, 0, body.length, ...body];
 * const t = new JoyTls();
 * t.update(0, new Uint8Array([22, 3, 1, 0, hs.length, ...hs]), 0, 5 + hs.length);
 * t.finish(); // Joy parses the handshake when it prints the flow
 * const record: MsgStat = t.stats[0];
 * console.log(record.contentType, record.hsTypes); // 22 [ 1 ]
 * ```
 */
export interface MsgStat {
  /** The record's content type (20 change cipher spec, 21 alert, 22 handshake, 23 application data). */
  contentType: number;
  /** Types of the handshake messages in the record (at most 5). */
  hsTypes: number[];
  /** Body lengths of those handshake messages. */
  hsLens: number[];
}

const EXT_NAMES: Record<number, string> = {
  0: "server_name",
  1: "max_fragment_length",
  2: "client_certificate_url",
  3: "trusted_ca_keys",
  4: "truncated_hmac",
  5: "status_request",
  6: "user_mapping",
  7: "client_authz",
  8: "server_authz",
  9: "cert_type",
  10: "supported_groups",
  11: "ec_point_formats",
  12: "srp",
  13: "signature_algorithms",
  14: "use_srtp",
  15: "heartbeat",
  16: "application_layer_protocol_negotiation",
  17: "status_request_v2",
  18: "signed_certificate_timestamp",
  19: "client_certificate_type",
  20: "server_certificate_type",
  21: "padding",
  22: "encrypt_then_mac",
  23: "extended_master_secret",
  24: "token_binding",
  25: "cached_info",
  35: "session_ticket",
  65281: "renegotiation_info",
};

/**
 * Joy's TLS state for one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoyTls, tlsPrintJson } from "./tls.ts";
 * const t = new JoyTls();
 * t.update(0, new Uint8Array([23, 3, 3, 0, 1, 0]), 0, 6);
 * console.log(tlsPrintJson(t, null)); // "" (no handshake, no version)
 * ```
 */
export class JoyTls {
  /** Internal version (0 unknown), role (1 client, 2 server). */
  version = 0;
  /** Role shown by the hello this direction sent: 1 client, 2 server, 0 unknown. */
  role = 0;
  /** The hello's 32-byte random. */
  random: Uint8Array = new Uint8Array(32);
  /** The hello's session id; null when empty or not seen. */
  sid: Uint8Array | null = null;
  /** Server name from the ClientHello's `server_name` extension; null when there is none. */
  sni: string | null = null;
  /** Cipher suites offered by the ClientHello (at most 256), or the one the ServerHello chose. */
  ciphersuites: number[] = [];
  /** ClientHello extensions, in order (at most 64). */
  extensions: JoyTlsExtension[] = [];
  /** ServerHello extensions, in order (at most 64). */
  serverExtensions: JoyTlsExtension[] = [];
  /** Length in bits of the ClientKeyExchange body; 0 when not seen. */
  clientKeyLength = 0;
  /** The ClientKeyExchange body; null when not seen. */
  clientKeyExchange: Uint8Array | null = null;
  /** The certificates of the Certificate messages seen, as Joy prints them (JSON object texts, at most 4). */
  certificates: string[] = [];
  private handshake: Uint8Array | null = null;
  private handshakeLength = 0;
  /** True once the buffered handshake was parsed: buffering stops at the first non-handshake record. */
  doneHandshake = false;
  private segOffset = 0;
  /** Records seen, their lengths, times (µs) and statistics. */
  op = 0;
  /** Lengths of the first records (at most 100). */
  lengths: number[] = [];
  /** Times (µs) of the packets that carried those records. */
  times: number[] = [];
  /** Content type and handshake messages of those records. */
  stats: MsgStat[] = [];

  /**
   * `tls_update`: one TCP payload of `len` bytes at `buf[off]`; bytes at or past `end` read as zero (Joy reads
   * the whole length its headers give, captured or not, and record headers past it; see
   * `JoyContext.processPacket`).
   */
  update(ts: number, buf: Uint8Array, off: number, len: number, end: number = buf.length): void {
    if (len <= 0) return;
    end = Math.min(end, buf.length);
    const ct0 = off < end ? buf[off] : 0;
    if (!this.doneHandshake && !(ct0 === CT_CCS || ct0 === CT_ALERT || ct0 === CT_APP)) {
      if (len >= MAX_HANDSHAKE_LENGTH - this.handshakeLength) return;
      const nb = new Uint8Array(this.handshakeLength + len);
      if (this.handshake) nb.set(this.handshake.subarray(0, this.handshakeLength));
      if (off < end) nb.set(buf.subarray(off, Math.min(end, off + len)), this.handshakeLength);
      this.handshake = nb;
      this.handshakeLength += len;
    }
    let p = off, rem = len;
    if (this.segOffset) {
      if (this.segOffset > len) {
        this.segOffset -= len;
        return;
      }
      p += this.segOffset;
      rem -= this.segOffset;
      this.segOffset = 0;
    }
    // Joy reads the 5-byte header even when fewer bytes remain in the payload: it then sees what its packet
    // buffer holds past the packet (see JoyContext), as this does; past `end`, zeros.
    while (rem > 0) {
      const ct = p < end ? buf[p] : 0;
      const msgLen = ((p + 3 < end ? buf[p + 3] : 0) << 8) | (p + 4 < end ? buf[p + 4] : 0);
      if (msgLen > rem) this.segOffset = msgLen - (rem - 5);
      if (
        !this.doneHandshake && this.handshake !== null && (ct === CT_CCS || ct === CT_ALERT || ct === CT_APP)
      ) {
        this.parseHandshakeBuffer();
        this.handshake = null;
        this.handshakeLength = 0;
        this.doneHandshake = true;
        if (!this.version) {
          const v = versionToInternal(p + 1 < end ? buf[p + 1] : 0, p + 2 < end ? buf[p + 2] : 0);
          if (!v) return;
          this.version = v;
        }
      }
      if (this.op < MAX_NUM_RCD_LEN) {
        this.stats[this.op] ??= { contentType: 0, hsTypes: [], hsLens: [] };
        this.stats[this.op].contentType = ct;
        this.lengths[this.op] = msgLen;
        this.times[this.op] = ts;
      }
      this.op++;
      rem -= msgLen + 5;
      p += msgLen + 5;
    }
  }

  /** Parses the buffered handshake bytes if that was not done yet (Joy does it at print time). */
  finish(): void {
    if (!this.version && this.handshake !== null) {
      this.parseHandshakeBuffer();
      this.handshake = null;
      this.handshakeLength = 0;
      this.doneHandshake = true;
    }
  }

  /** Parses the buffered handshake records: hellos, client key exchange, certificates, each record's messages. */
  private parseHandshakeBuffer(): void {
    const d = this.handshake;
    if (d === null) return;
    let p = 0;
    let dataLen = this.handshakeLength;
    let msgCount = 0;
    while (dataLen > 0 && dataLen <= MAX_HANDSHAKE_LENGTH) {
      if (dataLen < 5) return;
      const ct = d[p];
      let tlsLen = (d[p + 3] << 8) | d[p + 4];
      if (tlsLen > dataLen) return;
      if (ct === CT_CCS || ct === CT_ALERT || ct === CT_APP) {
        p += tlsLen + 5;
        dataLen -= tlsLen + 5;
        msgCount++;
        continue;
      }
      p += 5;
      dataLen -= 5;
      if (dataLen <= 0) return;
      while (tlsLen > 0) {
        if (dataLen < 4) return;
        const type = d[p];
        if ((type > 4 && type < 11) || (type > 16 && type < 20) || type > 23) return;
        const bodyLen = (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3];
        if (bodyLen > tlsLen) return;
        p += 4;
        dataLen -= 4;
        if (dataLen <= 0) return;
        const body = p;
        if (type === 1) {
          if (!this.version) {
            const v = versionToInternal(d[body], d[body + 1]);
            if (!v) return;
            this.version = v;
          }
          this.role = ROLE_CLIENT;
          this.clientHelloCiphersuites(d, body, bodyLen);
          this.clientHelloExtensions(d, body, bodyLen);
        } else if (type === 2) {
          if (!this.version) {
            const v = versionToInternal(d[body], d[body + 1]);
            if (!v) return;
            this.version = v;
          }
          this.role = ROLE_SERVER;
          this.serverHelloCiphersuite(d, body, bodyLen);
          this.serverHelloExtensions(d, body, bodyLen);
        } else if (type === 16) {
          if (this.clientKeyLength === 0) {
            const bits = bodyLen * 8;
            if (bits < 8193) {
              this.clientKeyLength = bits;
              this.clientKeyExchange = d.slice(body, body + bodyLen);
            }
          }
        } else if (type === 11) {
          const room = MAX_CERTIFICATES - this.certificates.length;
          if (room > 0) this.certificates.push(...parseCertificateMessage(d, body, bodyLen, room));
        }
        if (msgCount < MAX_NUM_RCD_LEN) {
          const st = this.stats[msgCount] ??= { contentType: 0, hsTypes: [], hsLens: [] };
          if (st.hsTypes.length < MAX_TLS_HANDSHAKES) {
            st.hsTypes.push(type);
            st.hsLens.push(bodyLen);
          }
        }
        p += bodyLen;
        dataLen -= bodyLen;
        tlsLen -= bodyLen + 4;
      }
      msgCount++;
    }
  }

  /** ClientHello body at `d[y]` of `len` bytes: random, session id and cipher suites. */
  private clientHelloCiphersuites(d: Uint8Array, y: number, len: number): void {
    if (!this.version || this.ciphersuites.length) return;
    this.random = d.slice(y + 2, y + 34);
    if (this.random.length < 32) {
      const r = new Uint8Array(32);
      r.set(this.random);
      this.random = r;
    }
    y += 34;
    const sidLen = d[y] ?? 0;
    len -= sidLen + 3;
    if (len < 0) return;
    if (sidLen) this.sid = d.slice(y + 1, y + 1 + sidLen);
    y += sidLen + 1;
    const csLen = ((d[y] ?? 0) << 8) | (d[y + 1] ?? 0);
    if (len < csLen) return;
    y += 2;
    const n = Math.min(csLen >> 1, MAX_CS);
    for (let i = 0; i < n; i++) this.ciphersuites.push(((d[y] ?? 0) << 8) | (d[y + 1] ?? 0)), y += 2;
  }

  /** ClientHello body at `d[y]` of `len` bytes: extensions, and the server name. */
  private clientHelloExtensions(d: Uint8Array, y: number, len: number): void {
    if (!this.version || this.extensions.length) return;
    const u16 = (o: number) => ((d[o] ?? 0) << 8) | (d[o + 1] ?? 0);
    y += 34;
    len -= 34;
    const sidLen = d[y] ?? 0;
    len -= sidLen + 3;
    if (len < 0) return;
    y += sidLen + 1;
    const csLen = u16(y);
    if (len < csLen) return;
    y += 2;
    len -= 2;
    y += csLen;
    len -= csLen;
    const cmLen = d[y] ?? 0;
    y += 1 + cmLen;
    len -= 1 + cmLen;
    if (len < 2) return;
    const extLen = u16(y);
    if (len < extLen) return;
    y += 2;
    len -= 2;
    while (len > 0 && this.extensions.length < MAX_EXTENSIONS) {
      const type = u16(y);
      const elen = u16(y + 2);
      if (type === 0) {
        // Joy prints the name's bytes as they are (up to a NUL): UTF-8 read as UTF-8, so that JSON writes the
        // same bytes (byte by byte, each non-ASCII one came out as two); bytes that are not UTF-8, which would
        // make Joy's line invalid JSON, become U+FFFD.
        const n = u16(y + 7);
        const name = d.subarray(Math.min(d.length, y + 9), Math.min(d.length, y + 9 + n));
        const z = name.indexOf(0);
        this.sni = SNI_DECODER.decode(z >= 0 ? name.subarray(0, z) : name);
      }
      this.extensions.push(extension(type, d, y + 4, elen));
      len -= 4 + elen;
      y += 4 + elen;
    }
  }

  /** ServerHello body at `d[y]` of `len` bytes: random, session id (before TLS 1.3) and cipher suite. */
  private serverHelloCiphersuite(d: Uint8Array, y: number, len: number): void {
    if (!this.version || this.ciphersuites.length) return;
    const tls13 = this.version === JoyTlsVersion.TLS1_3;
    this.random = sliceZ(d, y + 2, 32);
    y += 34;
    if (!tls13) {
      const sidLen = d[y] ?? 0;
      if (sidLen + 3 > len) return;
      if (sidLen) this.sid = d.slice(y + 1, y + 1 + sidLen);
      y += sidLen + 1;
    }
    this.ciphersuites = [((d[y] ?? 0) << 8) | (d[y + 1] ?? 0)];
  }

  /** ServerHello body at `d[y]` of `len` bytes: extensions (stopping at one longer than 256 bytes). */
  private serverHelloExtensions(d: Uint8Array, y: number, len: number): void {
    if (!this.version || this.serverExtensions.length) return;
    const tls13 = this.version === JoyTlsVersion.TLS1_3;
    const u16 = (o: number) => ((d[o] ?? 0) << 8) | (d[o + 1] ?? 0);
    y += 34;
    len -= 34;
    if (!tls13) {
      const sidLen = d[y] ?? 0;
      len -= sidLen + 1;
      y += sidLen + 1;
    }
    len -= 2;
    y += 2;
    if (!tls13) {
      const cm = d[y] ?? 0;
      y += 1 + cm;
      len -= 1 + cm;
    }
    if (len < 2) return;
    const extLen = u16(y);
    if (len < extLen) return;
    y += 2;
    len -= 2;
    while (len > 0 && this.serverExtensions.length < MAX_EXTENSIONS) {
      const elen = u16(y + 2);
      if (elen > 256) break;
      this.serverExtensions.push(extension(u16(y), d, y + 4, elen));
      len -= 4 + elen;
      y += 4 + elen;
    }
  }
}

/**
 * An extension of `len` bytes at `d[off]`. Its bytes are kept only when Joy prints them (1024 at most): a
 * header can claim 65,535 bytes that were never sent (a 64 KiB array per flow held until it was printed).
 */
function extension(type: number, d: Uint8Array, off: number, len: number): JoyTlsExtension {
  return { type, data: len > MAX_PRINTED_EXTENSION ? EMPTY_DATA : sliceZ(d, off, len), length: len };
}

/** Longest extension data Joy prints (longer ones print as ""). */
const MAX_PRINTED_EXTENSION = 1024;
const EMPTY_DATA = new Uint8Array(0);

function sliceZ(d: Uint8Array, off: number, len: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, len));
  const n = Math.max(0, Math.min(len, d.length - off));
  if (n > 0) out.set(d.subarray(off, off + n));
  return out;
}

function rawHex(data: Uint8Array | null, len: number): string {
  if (len > MAX_PRINTED_EXTENSION || data === null) return '""';
  return `"${hex(data, 0, len)}"`;
}

function extensionsJson(name: string, exts: JoyTlsExtension[]): string {
  const parts = exts.map((e) => {
    const n = EXT_NAMES[e.type];
    return n !== undefined
      ? `{"${n}":${rawHex(e.data, e.length)}}`
      : `{"kind":${e.type},"data":${rawHex(e.data, e.length)}}`;
  });
  return `,"${name}":[${parts.join(",")}]`;
}

function recordJson(len: number, dir: string, ipt: number, st: MsgStat | undefined): string {
  let s = `{"b":${len},"dir":"${dir}","ipt":${ipt},"tp":${st?.contentType ?? 0}`;
  if (st && st.hsTypes.length) {
    s += `,"hs_types":[${st.hsTypes.join(",")}],"hs_lens":[${st.hsLens.join(",")}]`;
  }
  return s + "}";
}

function srltJson(a: JoyTls, b: JoyTls | null): string {
  const parts: string[] = [];
  if (b === null) {
    const imax = Math.min(a.op, NUM_PKT_LEN_TLS);
    for (let i = 0; i < imax; i++) {
      parts.push(recordJson(a.lengths[i], "<", i > 0 ? iptMs(a.times[i], a.times[i - 1]) : 0, a.stats[i]));
    }
  } else {
    const t0 = a.times[0] ?? 0, t1 = b.times[0] ?? 0;
    let last = t0 < t1 ? t0 : t1;
    const imax = Math.min(a.op, NUM_PKT_LEN_TLS), jmax = Math.min(b.op, NUM_PKT_LEN_TLS);
    let i = 0, j = 0;
    while (i < imax || j < jmax) {
      let ts: number, len: number, st: MsgStat | undefined, dir: string;
      if (i >= imax || (j < jmax && !(a.times[i] < b.times[j]))) {
        dir = "<";
        ts = b.times[j];
        len = b.lengths[j];
        st = b.stats[j++];
      } else {
        dir = ">";
        ts = a.times[i];
        len = a.lengths[i];
        st = a.stats[i++];
      }
      parts.push(recordJson(len, dir, iptMs(ts, last), st));
      last = ts;
    }
  }
  return `,"srlt":[${parts.join(",")}]`;
}

/**
 * `tls_print_json`: the `"tls"` object of a flow from the record's and its twin's TLS state, with Joy's
 * quirks (both versions print the record's version; the twin is dropped when its version is unknown). `hint1` /
 * `hint2` give the role (1 client, 2 server) of a side whose hello was not seen.
 *
 * @example
 * ```ts
 * import { JoyTls, tlsPrintJson } from "./tls.ts";
 * console.log(tlsPrintJson(new JoyTls(), null)); // ""
 * ```
 */
export function tlsPrintJson(d1: JoyTls, d2: JoyTls | null, hint1 = 0, hint2 = 0): string {
  const data = d1;
  let twin = d2;
  if (!data.version) {
    data.finish();
    if (!data.version) return "";
  }
  if (twin !== null && !twin.version) {
    twin.finish();
    if (!twin.version) twin = null;
  }
  // A side whose handshake was not seen takes the role its port suggests (443: server).
  const role1 = data.role || hint1, role2 = twin === null ? 0 : twin.role || hint2;
  let s = `,"tls":{`;
  if (role1 === ROLE_CLIENT) {
    s += `"c_version":${data.version}`;
    if (twin && twin.version) {
      if (role2 === ROLE_CLIENT) return s + `,"error":"twin clients"}`;
      s += `,"s_version":${data.version}`;
    }
  } else if (role1 === ROLE_SERVER) {
    s += `"s_version":${data.version}`;
    if (twin && twin.version) {
      if (role2 === ROLE_SERVER) return s + `,"error":"twin servers"}`;
      s += `,"c_version":${data.version}`;
    }
  } else {
    return s + `"error":"no role"}`;
  }
  if (data.clientKeyLength) {
    s += `,"c_key_length":${data.clientKeyLength},"c_key_exchange":${
      rawHex(data.clientKeyExchange, data.clientKeyLength / 8)
    }`;
  } else if (twin && twin.clientKeyLength) {
    s += `,"c_key_length":${twin.clientKeyLength},"c_key_exchange":${
      rawHex(twin.clientKeyExchange, twin.clientKeyLength / 8)
    }`;
  }
  if (role1 === ROLE_CLIENT) {
    s += `,"c_random":${rawHex(data.random, 32)}`;
    if (twin) s += `,"s_random":${rawHex(twin.random, 32)}`;
  } else {
    s += `,"s_random":${rawHex(data.random, 32)}`;
    if (twin) s += `,"c_random":${rawHex(twin.random, 32)}`;
  }
  if (data.sid && data.sid.length) {
    const me = role1 === ROLE_CLIENT ? "c_sid" : "s_sid",
      other = role1 === ROLE_CLIENT ? "s_sid" : "c_sid";
    s += `,"${me}":${rawHex(data.sid, data.sid.length)}`;
    if (twin && twin.sid && twin.sid.length) s += `,"${other}":${rawHex(twin.sid, twin.sid.length)}`;
  }
  if (data.sni !== null) s += `,"sni":[${JSON.stringify(data.sni)}]`;
  else if (twin && twin.sni !== null) s += `,"sni":[${JSON.stringify(twin.sni)}]`;
  const csList = (cs: number[]) =>
    `,"cs":[${cs.map((c) => `"${c.toString(16).padStart(4, "0")}"`).join(",")}]`;
  if (role1 === ROLE_CLIENT) {
    if (twin && twin.ciphersuites.length === 1) {
      s += `,"scs":"${twin.ciphersuites[0].toString(16).padStart(4, "0")}"`;
    }
    if (data.ciphersuites.length) s += csList(data.ciphersuites);
  } else {
    if (data.ciphersuites.length === 1) s += `,"scs":"${data.ciphersuites[0].toString(16).padStart(4, "0")}"`;
    if (twin && twin.ciphersuites.length) s += csList(twin.ciphersuites);
  }
  if (data.extensions.length && role1 === ROLE_CLIENT) {
    s += extensionsJson("c_extensions", data.extensions);
  } else if (twin && twin.extensions.length && role2 === ROLE_CLIENT) {
    s += extensionsJson("c_extensions", twin.extensions);
  }
  if (data.serverExtensions.length && role1 === ROLE_SERVER) {
    s += extensionsJson("s_extensions", data.serverExtensions);
  } else if (twin && twin.serverExtensions.length && role2 === ROLE_SERVER) {
    s += extensionsJson("s_extensions", twin.serverExtensions);
  }
  const certs = (k: string, c: string[]) => c.length ? `,"${k}":[${c.join(",")}]` : "";
  if (role1 === ROLE_CLIENT) {
    s += certs("c_cert", data.certificates) + (twin ? certs("s_cert", twin.certificates) : "");
  } else s += certs("s_cert", data.certificates) + (twin ? certs("c_cert", twin.certificates) : "");
  if (data.op) s += srltJson(data, twin);
  return s + "}";
}
