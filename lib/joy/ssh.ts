/**
 * Joy's SSH feature (`ssh.c`): each direction's protocol banner, first KEXINIT (cookie and name lists) and
 * key-exchange messages, up to NEWKEYS; at print time the negotiated key exchange and, for the
 * Diffie-Hellman, ECDH, group-exchange and RSA exchanges, the exchange values, host key and signature.
 * Printed as `"ssh":{"cli":{...},"srv":{...}}` with Joy's quirks (the cookie is left out when its first byte
 * is zero; the key-exchange match only looks past the server's first algorithm for the client's first one).
 *
 * @module
 */
import { hex } from "./json.ts";

const MAX_SSH_STRING_LEN = 512;
const MAX_SSH_KEX_MESSAGES = 2;
const MAX_SSH_PAYLOAD_LEN = 32768;
/** Bound on bytes kept while waiting for the rest of a packet (Joy keeps everything until NEWKEYS). */
const MAX_SSH_BUFFER = 65536;

const LISTS = [
  "kex_algos",
  "s_host_key_algos",
  "c_encryption_algos",
  "s_encryption_algos",
  "c_mac_algos",
  "s_mac_algos",
  "c_comp_algos",
  "s_comp_algos",
  "c_languages",
  "s_languages",
] as const;

const ROLE_UNKNOWN = 0, ROLE_CLIENT = 1, ROLE_SERVER = 2;

/** `copy_printable_string`: bytes up to the first one that is not printable ASCII or is `"` / `\\`. */
function printable(d: Uint8Array, off: number, len: number, max: number): string {
  let s = "";
  for (let i = 0; i < len && i < max; i++) {
    const c = d[off + i];
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** Position of `sub` in `d[off, off+len)`, stopping at a NUL byte (Joy's `memsearch`), or -1. */
function memsearch(d: Uint8Array, off: number, len: number, sub: readonly number[]): number {
  for (let i = 0; i < len; i++) {
    if (i + sub.length > len || d[off + i] === 0) break;
    let k = 0;
    while (k < sub.length && d[off + i + k] === sub[k]) k++;
    if (k === sub.length) return off + i;
  }
  return -1;
}

const u32 = (d: Uint8Array, p: number) =>
  ((d[p] << 24) | (d[p + 1] << 16) | (d[p + 2] << 8) | d[p + 3]) >>> 0;

/** `decode_ssh_vector`: a length-prefixed string at `cur.p` within `cur.len`, or null. */
function vector(d: Uint8Array, cur: { p: number; len: number }, max: number): Uint8Array | null {
  if (cur.len < 4) return null;
  const n = u32(d, cur.p);
  cur.len -= 4;
  if (n > cur.len || n > max) return null;
  const v = d.slice(cur.p + 4, cur.p + 4 + n);
  cur.p += 4 + n;
  cur.len -= n;
  return v;
}

/**
 * SSH state of one direction of a flow.
 *
 * @example
 * ```ts
 * import { JoySsh } from "./ssh.ts";
 * const s = new JoySsh();
 * const b = new TextEncoder().encode("SSH-2.0-OpenSSH_9.0\r\n");
 * s.update(b, 0, b.length);
 * console.log(s.protocol); // SSH-2.0-OpenSSH_9.0
 * ```
 */
export class JoySsh {
  /** 1 once the banner was seen (Joy calls that side the client until the exchange says otherwise). */
  role: number = ROLE_UNKNOWN;
  /** Banner line, printable part. */
  protocol = "";
  /** KEXINIT cookie. */
  cookie: Uint8Array = new Uint8Array(16);
  /** KEXINIT name lists, in {@linkcode LISTS} order (empty until seen). */
  lists: Uint8Array[] = [];
  /** Key-exchange messages (codes 30–49): the first two. */
  kexMsgs: { code: number; data: Uint8Array }[] = [];
  /** NEWKEYS seen; payloads seen before it. */
  newkeys = false;
  /** TCP payloads seen before NEWKEYS. */
  unencrypted = 0;
  /** Filled at print time from the key-exchange messages. */
  kexAlgo: string | null = null;
  /** The client's exchange value. */
  cKex: Uint8Array | null = null;
  /** The server's exchange value. */
  sKex: Uint8Array | null = null;
  /** The server's host key. */
  sHostkey: Uint8Array | null = null;
  /** The host key's type name. */
  sHostkeyType: Uint8Array | null = null;
  /** The server's signature of the exchange hash. */
  sSignature: Uint8Array | null = null;
  /** The signature's type name. */
  sSignatureType: Uint8Array | null = null;
  /** Group exchange: the prime `p` the server sent. */
  sGexP: Uint8Array | null = null;
  /** Group exchange: the generator `g` the server sent. */
  sGexG: Uint8Array | null = null;
  private buffer: Uint8Array | null = null;
  private processed = false;

  /** Bytes held waiting for the rest of a packet (at most 64 KiB). */
  get heldBytes(): number {
    return this.buffer === null ? 0 : this.buffer.length;
  }

  /** `ssh_update`: one TCP payload. */
  update(buf: Uint8Array, off: number, len: number): void {
    if (len <= 0 || this.newkeys) return;
    this.unencrypted++;
    // A full buffer that parsing could not consume (a capture begun mid-session, a lost segment) stays as it is:
    // nothing more would be added or read (each packet copied the whole of it).
    if (this.buffer !== null && this.buffer.length >= MAX_SSH_BUFFER) return;
    let d: Uint8Array;
    if (this.buffer === null) d = buf.slice(off, off + len);
    else {
      const n = Math.min(len, Math.max(0, MAX_SSH_BUFFER - this.buffer.length));
      d = new Uint8Array(this.buffer.length + n);
      d.set(this.buffer);
      d.set(buf.subarray(off, off + n), this.buffer.length);
    }
    this.buffer = d;
    let p = 0, rem = d.length;
    if (this.role === ROLE_UNKNOWN) {
      const v = memsearch(d, p, rem, [0x53, 0x53, 0x48, 0x2d]);
      if (v < 0) return;
      rem -= v - p;
      p = v;
      this.protocol = printable(d, p, rem, MAX_SSH_STRING_LEN);
      const nl = memsearch(d, p, rem, [0x0a]);
      if (nl < 0) return;
      rem -= nl + 1 - p;
      p = nl + 1;
      this.role = ROLE_CLIENT;
    }
    while (rem > 0) {
      if (rem < 6) break;
      let length = u32(d, p);
      if (length > MAX_SSH_PAYLOAD_LEN) break;
      const total = length + 4;
      const code = d[p + 5];
      length -= d[p + 4];
      if (length > MAX_SSH_PAYLOAD_LEN || length <= 0 || total > rem) break;
      if (code === 20) this.kexinit(d, p + 6, length);
      else if (code === 21) this.newkeys = true;
      else if (code >= 30 && code <= 49 && this.kexMsgs.length < MAX_SSH_KEX_MESSAGES) {
        this.kexMsgs.push({ code, data: d.slice(p + 6, p + 6 + length) });
      }
      rem -= total;
      p += total;
    }
    this.buffer = rem > 0 ? (p === 0 ? d : d.slice(p, p + rem)) : null;
  }

  /** The first KEXINIT's payload at `d[off]` of `len` bytes: cookie and name lists (later ones are ignored). */
  private kexinit(d: Uint8Array, off: number, len: number): void {
    if (this.lists.length && this.lists[0].length) return;
    if (len < 16) return;
    this.cookie = sliceZ(d, off, 16);
    const cur = { p: off + 16, len: len - 16 };
    this.lists = [];
    for (let i = 0; i < LISTS.length; i++) {
      const v = vector(d, cur, MAX_SSH_STRING_LEN);
      if (v === null) return;
      this.lists.push(v);
    }
  }

  /** The reply to the client's exchange value: host key, server value, signature (`ssh_parse_kexdh_reply`). */
  reply(data: Uint8Array): void {
    const cur = { p: 0, len: data.length };
    if (this.hostKeyAndValue(data, cur) && this.signature(data, cur)) this.role = ROLE_SERVER;
  }

  /** Reads the host key (and its type) and the server's exchange value; false when one is cut short. */
  private hostKeyAndValue(data: Uint8Array, cur: { p: number; len: number }): boolean {
    const hk = vector(data, cur, MAX_SSH_PAYLOAD_LEN);
    if (hk === null) return false;
    this.sHostkey = hk;
    const t = vector(hk, { p: 0, len: hk.length }, MAX_SSH_STRING_LEN);
    if (t === null) return false;
    this.sHostkeyType = t;
    const k = vector(data, cur, MAX_SSH_PAYLOAD_LEN);
    if (k === null) return false;
    this.sKex = k;
    return true;
  }

  /** Reads the signature (and its type); false when it is cut short. */
  private signature(data: Uint8Array, cur: { p: number; len: number }): boolean {
    const sig = vector(data, cur, MAX_SSH_PAYLOAD_LEN);
    if (sig === null) return false;
    this.sSignature = sig;
    const st = vector(sig, { p: 0, len: sig.length }, MAX_SSH_STRING_LEN);
    if (st === null) return false;
    this.sSignatureType = st;
    return true;
  }

  /** The client's exchange value (`ssh_parse_kexdh_init`). */
  init(data: Uint8Array): void {
    const v = vector(data, { p: 0, len: data.length }, MAX_SSH_PAYLOAD_LEN);
    if (v === null) return;
    this.cKex = v;
    this.role = ROLE_CLIENT;
  }

  /** The group of a group exchange (`ssh_parse_kex_dh_gex_group`). */
  gexGroup(data: Uint8Array): void {
    const cur = { p: 0, len: data.length };
    const pv = vector(data, cur, MAX_SSH_PAYLOAD_LEN);
    if (pv === null) return;
    this.sGexP = pv;
    const g = vector(data, cur, MAX_SSH_PAYLOAD_LEN);
    if (g !== null) this.sGexG = g;
  }

  /** Runs Joy's `ssh_process` once (it is part of printing). */
  process(srv: JoySsh): void {
    if (this.processed) return;
    this.processed = true;
    const algo = negotiate(this.lists[0], srv.lists[0]);
    this.kexAlgo = srv.kexAlgo = algo;
    const c = this.kexMsgs, s = srv.kexMsgs;
    if (
      algo.includes("diffie-hellman-group-exchange-sha1") ||
      algo.includes("diffie-hellman-group-exchange-sha256")
    ) {
      if (s[0]?.code === 31) srv.gexGroup(s[0].data);
      if (c[1]?.code === 32) this.init(c[1].data);
      if (s[1]?.code === 33) srv.reply(s[1].data);
    } else if (
      algo.includes("diffie-hellman-group1-sha1") || algo.includes("diffie-hellman-group14-sha1") ||
      algo.includes("ecdh-sha2-") || algo.includes("ecmqv-sha2-") || algo.includes("curve25519-sha256")
    ) {
      if (c[0]?.code === 30) this.init(c[0].data);
      if (s[0]?.code === 31) srv.reply(s[0].data);
    } else if (algo.includes("rsa1024-sha1") || algo.includes("rsa2048-sha256")) {
      if (s[0]?.code === 30) srv.rsaPubkey(s[0].data);
      if (c[0]?.code === 31) this.init(c[0].data);
      if (s[1]?.code === 32) srv.rsaDone(s[1].data);
    }
  }

  /** RSA key exchange: the server's KEXRSA_PUBKEY (host key and transient key). */
  private rsaPubkey(data: Uint8Array): void {
    if (this.hostKeyAndValue(data, { p: 0, len: data.length })) this.role = ROLE_SERVER;
  }

  /** RSA key exchange: the server's KEXRSA_DONE (signature). */
  private rsaDone(data: Uint8Array): void {
    if (this.signature(data, { p: 0, len: data.length })) this.role = ROLE_SERVER;
  }
}

function sliceZ(d: Uint8Array, off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  out.set(d.subarray(off, Math.min(d.length, off + len)));
  return out;
}

function vectorString(v: Uint8Array | undefined | null): string {
  return v ? printable(v, 0, v.length, v.length) : "";
}

/**
 * `ssh_get_kex_algo`, with its quirk: the server list is tokenized in place on the first pass, so for the
 * client's later algorithms only the server's first one is compared.
 */
function negotiate(cli: Uint8Array | undefined, srv: Uint8Array | undefined): string {
  const c = vectorString(cli).split(",").filter((x) => x !== "");
  const s = vectorString(srv).split(",").filter((x) => x !== "");
  for (let i = 0; i < c.length; i++) {
    const candidates = i === 0 ? s : s.slice(0, 1);
    if (candidates.includes(c[i])) return c[i];
  }
  return "";
}

function listsJson(x: JoySsh): string {
  return LISTS.map((n, i) => `,"${n}":"${vectorString(x.lists[i])}"`).join("");
}

const hexOf = (v: Uint8Array) => `"${hex(v, 0, v.length)}"`;

/**
 * `ssh_print_json`: the `"ssh"` object of a flow, from the printed side's state (which must have seen a
 * banner) and its twin's.
 *
 * @example
 * ```ts
 * import { JoySsh, sshPrintJson } from "./ssh.ts";
 * console.log(sshPrintJson(new JoySsh(), null)); // ""
 * ```
 */
export function sshPrintJson(x1: JoySsh, x2: JoySsh | null): string {
  if (x1.role === ROLE_UNKNOWN) return "";
  const cli = x1, srv = x2;
  if (srv !== null) cli.process(srv);
  let s = `,"ssh":{"cli":{"protocol":"${cli.protocol}"`;
  if (cli.cookie[0] !== 0) s += `,"cookie":${hexOf(cli.cookie)}`;
  s += listsJson(cli);
  if (cli.kexAlgo !== null) s += `,"kex_algo":"${cli.kexAlgo}"`;
  if (cli.cKex !== null && cli.cKex.length) s += `,"c_kex":${hexOf(cli.cKex)}`;
  s += `,"newkeys":"${cli.newkeys}","unencrypted":${cli.unencrypted}}`;
  if (srv !== null) {
    s += `,"srv":{"protocol":"${srv.protocol}"`;
    if (srv.cookie[0] !== 0) s += `,"cookie":${hexOf(srv.cookie)}`;
    s += listsJson(srv);
    if (srv.sHostkey !== null && srv.sHostkey.length) {
      s += `,"s_hostkey_type":"${vectorString(srv.sHostkeyType)}","s_hostkey":${hexOf(srv.sHostkey)}`;
    }
    if (srv.sSignature !== null && srv.sSignature.length) {
      s += `,"s_signature_type":"${vectorString(srv.sSignatureType)}","s_signature":${hexOf(srv.sSignature)}`;
    }
    if (srv.kexAlgo !== null) s += `,"kex_algo":"${srv.kexAlgo}"`;
    if (srv.sKex !== null && srv.sKex.length) s += `,"s_kex":${hexOf(srv.sKex)}`;
    if (srv.sGexP !== null && srv.sGexP.length && srv.sGexG !== null && srv.sGexG.length) {
      s += `,"s_gex_p":${hexOf(srv.sGexP)},"s_gex_g":${hexOf(srv.sGexG)}`;
    }
    s += `,"newkeys":"${srv.newkeys}","unencrypted":${srv.unencrypted}}`;
  }
  return s + "}";
}
