/**
 * SSH analysis: identification banners (RFC 4253 section 4.2, SSH-1 included), the binary packet layer up to
 * NEWKEYS, KEXINIT parsing and the HASSH / HASSH-server fingerprints exactly as Wireshark computes
 * `ssh.kex.hassh` and `ssh.kex.hasshserver`.
 *
 * The parsers are pure (bytes in, results out); {@linkcode SshDirectionParser} consumes one direction's in-order
 * byte stream incrementally and buffers only a KEXINIT payload (bounded by {@linkcode SSH_MAX_KEXINIT}).
 *
 * @module
 */
import { md5Hex } from "./hash.ts";
import { byteString, isAscii } from "./text.ts";
import { withRoom } from "./buffers.ts";

/** Largest KEXINIT payload that is buffered for parsing; larger ones are skipped. */
export const SSH_MAX_KEXINIT = 65536;
/** Largest binary packet length accepted before NEWKEYS (RFC 4253 asks for 35000; some stacks go higher). */
export const SSH_MAX_PACKET = 262144;
/** Longest identification line kept (RFC 4253: 255 including CR LF; allow slack). */
const MAX_LINE = 1024;
/**
 * Longest line a server may send before its identification string (RFC 4253 4.2 sets no limit for them; these
 * are OpenSSH's, whose client accepts such greetings): a longer one is skipped, not kept.
 */
const MAX_PRE_LINE = 8192;
/** Pre-banner lines a server may send before its identification string (OpenSSH's limit). */
const MAX_PRE_LINES = 1024;

/** SSH-2 message numbers used here. */
export const SshMsg = {
  KEXINIT: 20,
  NEWKEYS: 21,
} as const;

/** A parsed identification string `SSH-protoversion-softwareversion SP comments`. */
export interface SshBanner {
  /** The whole line without CR LF (what Wireshark shows as `ssh.protocol`). */
  raw: string;
  /** Protocol version, e.g. "2.0", "1.99", "1.5". */
  protoVersion: string;
  /** Software version, e.g. "OpenSSH_8.9p1"; null when a snapshot length cut the line before its end was seen. */
  software: string | null;
  /** Comments after the first space, or null. */
  comments: string | null;
}

/** The name-lists of a KEXINIT message (RFC 4253 section 7.1). */
export interface SshKexInit {
  kex: string;
  hostKey: string;
  encC2s: string;
  encS2c: string;
  macC2s: string;
  macS2c: string;
  compC2s: string;
  compS2c: string;
  langC2s: string;
  langS2c: string;
  firstKexFollows: boolean;
}

function latin1Ascii(buf: Uint8Array, off: number, end: number): string {
  if (isAscii(buf, off, end)) return byteString(buf, off, end);
  let s = "";
  for (let i = off; i < end; i++) {
    const c = buf[i];
    s += c < 0x80 ? String.fromCharCode(c) : "\uFFFD";
  }
  return s;
}

/**
 * Parses an identification line starting at `off` (which must begin with "SSH-"). `end` is the end of the line
 * (exclusive, CR LF or LF already excluded or included: trailing CR/LF are stripped). Returns null when the line is
 * not an SSH banner.
 *
 * @example
 * ```ts
 * import { parseSshBanner } from "./ssh.ts";
 * const line = new TextEncoder().encode("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n");
 * console.log(parseSshBanner(line, 0, line.length)?.software); // "OpenSSH_8.9p1"
 * ```
 */
export function parseSshBanner(buf: Uint8Array, off: number, end: number): SshBanner | null {
  if (end > buf.length) end = buf.length;
  while (end > off && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
  if (end - off < 5) return null;
  if (buf[off] !== 0x53 || buf[off + 1] !== 0x53 || buf[off + 2] !== 0x48 || buf[off + 3] !== 0x2d) {
    return null;
  }
  const raw = latin1Ascii(buf, off, end);
  const dash = raw.indexOf("-", 4);
  const protoVersion = dash < 0 ? raw.slice(4) : raw.slice(4, dash);
  if (protoVersion.length === 0 || !/^[0-9]+\.[0-9]+$/.test(protoVersion)) return null;
  let software = "";
  let comments: string | null = null;
  if (dash >= 0) {
    const rest = raw.slice(dash + 1);
    const sp = rest.indexOf(" ");
    if (sp < 0) software = rest;
    else {
      software = rest.slice(0, sp);
      comments = rest.slice(sp + 1);
    }
  }
  return { raw, protoVersion, software, comments };
}

/** The big-endian `uint32` at `buf[off]` (RFC 4251 section 5). */
function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Reads one SSH `string` at `off`; returns its end offset or -1 when it does not fit before `end`. */
function stringEnd(buf: Uint8Array, off: number, end: number): number {
  if (off + 4 > end) return -1;
  const n = u32(buf, off);
  if (n > end - off - 4) return -1;
  return off + 4 + n;
}

/** Decodes a name-list the way Wireshark's `%s` of an ENC_ASCII string sees it: up to a NUL, non-ASCII as U+FFFD. */
function nameList(buf: Uint8Array, off: number, end: number): string {
  let stop = off;
  while (stop < end && buf[stop] !== 0) stop++;
  return latin1Ascii(buf, off, stop);
}

/**
 * Parses a KEXINIT payload. `off` points at the message number byte (20), `end` is the end of the payload (the
 * padding excluded). Returns null when the message is truncated or not a KEXINIT.
 *
 * @example
 * ```ts
 * import { parseSshKexInit } from "./ssh.ts";
 * console.log(parseSshKexInit(new Uint8Array([20]), 0, 1)); // null
 * ```
 */
export function parseSshKexInit(buf: Uint8Array, off: number, end: number): SshKexInit | null {
  if (end > buf.length) end = buf.length;
  if (off < 0 || off >= end || buf[off] !== SshMsg.KEXINIT) return null;
  const p = off + 17; // message number and 16-byte cookie
  if (p > end) return null;
  // The result depends only on the bytes after the cookie, which one client or server stack repeats on every
  // connection: a KEXINIT seen recently is not parsed again (its bytes are compared in full).
  const n = end - p;
  let h = 0x811c9dc5 ^ n;
  for (let i = p; i < end; i += 16) h = Math.imul(h ^ buf[i], 0x01000193);
  const seen = recentKex.get(h);
  if (seen !== undefined && seen.bytes.length === n) {
    const sb = seen.bytes;
    let same = true;
    for (let i = 0; i < n; i++) {
      if (sb[i] !== buf[p + i]) {
        same = false;
        break;
      }
    }
    if (same) return { ...seen.kex };
  }
  const kex = parseKexLists(buf, p, end);
  if (kex !== null && n <= 4096) {
    if (seen === undefined && recentKex.size >= 256) recentKex.clear();
    recentKex.set(h, { bytes: buf.slice(p, end), kex });
    return { ...kex };
  }
  return kex;
}

/** KEXINITs parsed recently, by a hash of their bytes after the cookie. */
const recentKex = new Map<number, { bytes: Uint8Array; kex: SshKexInit }>();

/** The name-lists and flag of a KEXINIT from `p` (just past the cookie) to `end`. */
function parseKexLists(buf: Uint8Array, p: number, end: number): SshKexInit | null {
  const lists: string[] = [];
  for (let i = 0; i < 10; i++) {
    const e = stringEnd(buf, p, end);
    if (e < 0) return null;
    lists.push(nameList(buf, p + 4, e));
    p = e;
  }
  const firstKexFollows = p < end ? buf[p] !== 0 : false;
  return {
    kex: lists[0],
    hostKey: lists[1],
    encC2s: lists[2],
    encS2c: lists[3],
    macC2s: lists[4],
    macS2c: lists[5],
    compC2s: lists[6],
    compS2c: lists[7],
    langC2s: lists[8],
    langS2c: lists[9],
    firstKexFollows,
  };
}

/**
 * The HASSH input string: "kex;enc;mac;comp" with the client-to-server lists for a client's KEXINIT
 * (`server` false) and the server-to-client lists for a server's (`server` true).
 *
 * @example
 * ```ts
 * import { hasshString, type SshKexInit } from "./ssh.ts";
 * const k = { kex: "a", hostKey: "", encC2s: "b", encS2c: "x", macC2s: "c", macS2c: "y", compC2s: "none",
 *   compS2c: "zlib", langC2s: "", langS2c: "", firstKexFollows: false } as SshKexInit;
 * console.log(hasshString(k, false)); // "a;b;c;none"
 * ```
 */
export function hasshString(k: SshKexInit, server: boolean): string {
  return server
    ? `${k.kex};${k.encS2c};${k.macS2c};${k.compS2c}`
    : `${k.kex};${k.encC2s};${k.macC2s};${k.compC2s}`;
}

/**
 * MD5 (hex) of {@linkcode hasshString}: HASSH for a client KEXINIT, HASSH-server for a server one.
 *
 * @example
 * ```ts
 * import { hassh, type SshKexInit } from "./ssh.ts";
 * const k = { kex: "a", hostKey: "", encC2s: "b", encS2c: "b", macC2s: "c", macS2c: "c", compC2s: "none",
 *   compS2c: "none", langC2s: "", langS2c: "", firstKexFollows: false } as SshKexInit;
 * console.log(hassh(k, false).length); // 32
 * ```
 */
export function hassh(k: SshKexInit, server: boolean): string {
  return md5Hex(hasshString(k, server));
}

/** Parser states. */
const enum St {
  BANNER = 0,
  HEADER = 1,
  BODY = 2,
  ENCRYPTED = 3,
  FAILED = 4,
  SSH1_HEADER = 5,
  SSH1_PAD = 6,
  SSH1_BODY = 7,
  /** Waiting for the protocol (SSH-1 or SSH-2) after a 1.99 banner. */
  AWAIT_MODE = 8,
}

/**
 * Incremental parser of one direction of an SSH connection: identification line, then the cleartext binary packets
 * until NEWKEYS (SSH-2) or until the key messages of SSH-1 (PUBLIC_KEY / SESSION_KEY), after which the direction is
 * encrypted. Feed it the direction's bytes in order.
 *
 * @example
 * ```ts
 * import { SshDirectionParser } from "./ssh.ts";
 * const p = new SshDirectionParser();
 * p.feed(new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n"), 0, 21);
 * console.log(p.banner?.software); // "OpenSSH_9.6"
 * ```
 */
export class SshDirectionParser {
  /** The identification string, once seen. */
  banner: SshBanner | null = null;
  /** The first KEXINIT of this direction, once parsed. */
  kexInit: SshKexInit | null = null;
  /** Cleartext key-exchange messages (SSH-2 numbers 20..49, SSH-1 PUBLIC_KEY / SESSION_KEY). */
  kexMessages = 0;
  /** Cleartext binary packets seen (any message number). */
  cleartextPackets = 0;
  /** Segments (feed calls) that carried bytes after the switch to encryption. */
  encryptedSegments = 0;
  /** Stream offset of the first byte after NEWKEYS (-1 until known: known when a feed given its stream offset
   * reaches it). */
  encryptedAt = -1;
  /** Set when the stream stopped looking like SSH (parsing then stops). */
  failed = false;
  /**
   * Protocol to assume after a "1.99" banner: 2 unless told otherwise (set from the peer's banner by
   * {@linkcode SshSession}).
   */
  peerMajor = 2;

  private st: St = St.BANNER;
  /** Bytes of the current line (banner phase) or of a packet header. */
  private line: Uint8Array | null = null;
  private lineLen = 0;
  /** Bytes of a pre-banner line too long to keep, skipped up to its end; -1 when none is. */
  private skipLen = -1;
  private preLines = 0;
  private hdr = new Uint8Array(8);
  private hdrLen = 0;
  /** Bytes of the current packet still to consume, after the header. */
  private remaining = 0;
  private padLeft = 0;
  private msg = 0;
  /** KEXINIT body being collected. */
  private body: Uint8Array | null = null;
  /** Bytes `body` may grow to: the KEXINIT payload's length as its packet header claims it. */
  private bodyCap = 0;
  private bodyLen = 0;
  /** False when bytes of the packet being read were lost (see `skipLost`): its message is not counted. */
  private whole = true;

  /** True once this direction is encrypted (after NEWKEYS) or parsing gave up. */
  get settled(): boolean {
    return this.st === St.ENCRYPTED || this.st === St.FAILED;
  }

  /** True once this direction switched to encryption. */
  /** Bytes held for a KEXINIT being read (grown as its packet comes: at most its claimed length, 64 KiB). */
  get heldBytes(): number {
    return this.body === null ? 0 : this.body.length;
  }

  get encrypted(): boolean {
    return this.st === St.ENCRYPTED;
  }

  /** Consumes `buf[off, end)`, the next bytes of this direction (`pos`: the stream offset of `buf[off]`, when
   * the caller knows it). Never throws. */
  feed(buf: Uint8Array, off: number, end: number, pos = -1): void {
    if (end > buf.length) end = buf.length;
    let p = off;
    while (p < end) {
      switch (this.st) {
        case St.BANNER:
          // A capture that began after this side's identification string (no SYN, the banner's segment not
          // seen), once the other side's made the session: the direction's first bytes are its KEXINIT packet,
          // read as tshark reads it.
          if (
            p === off && this.banner === null && this.lineLen === 0 && this.skipLen < 0 &&
            this.preLines === 0 &&
            startsSsh2Packet(buf, p, end) && buf[p + 5] === SshMsg.KEXINIT
          ) {
            this.st = St.HEADER;
            break;
          }
          p = this.feedLine(buf, p, end);
          break;
        case St.HEADER:
          p = this.feedHeader(buf, p, end);
          break;
        case St.BODY:
          p = this.feedBody(buf, p, end);
          break;
        case St.SSH1_HEADER:
          p = this.feedSsh1Header(buf, p, end);
          break;
        case St.AWAIT_MODE:
          this.st = this.peerMajor === 1 ? St.SSH1_HEADER : St.HEADER;
          break;
        case St.SSH1_PAD:
          p = this.feedSsh1Pad(buf, p, end);
          break;
        case St.SSH1_BODY: {
          const n = Math.min(this.remaining, end - p);
          this.remaining -= n;
          p += n;
          if (this.remaining === 0) this.endSsh1Packet();
          break;
        }
        case St.ENCRYPTED:
          // Only a segment that starts encrypted: the one carrying NEWKEYS (OpenSSH sends encrypted bytes
          // after it in the same segment) is a key exchange packet, as tshark counts it.
          if (p === off) this.encryptedSegments++;
          if (this.encryptedAt < 0 && pos >= 0) this.encryptedAt = pos + (p - off);
          return;
        default:
          return;
      }
    }
    // NEWKEYS ended these bytes: the encrypted ones begin right after them.
    if (this.st === St.ENCRYPTED && this.encryptedAt < 0 && pos >= 0) this.encryptedAt = pos + (end - off);
  }

  /**
   * The direction's next `n` bytes were sent but not captured, and end their segment (a snapshot length cut
   * it). A packet they fall in is passed over by its length, its message counted by its number (tshark reads it
   * from the bytes captured; a KEXINIT so cut has no HASSH); a banner line they cut is taken to end with the
   * segment. Where they hide a packet's start (its length unknown), reading stops.
   */
  cut(n: number): void {
    if (n <= 0) return;
    switch (this.st) {
      case St.BANNER: {
        if (this.lineLen === 0 || this.skipLen >= 0) return this.fail();
        this.endLine(this.line!, 0, this.lineLen);
        this.lineLen = 0;
        // The software version is whole only when the space after it was captured.
        const b = this.banner;
        if (b !== null && b.comments === null) this.banner = { ...b, software: null };
        return;
      }
      case St.BODY:
        if (n > this.remaining) {
          // The next packet starts in the bytes not captured; this one's message number was read.
          if (this.msg >= 20 && this.msg <= 49) this.kexMessages++;
          return this.fail();
        }
        this.body = null;
        this.remaining -= n;
        if (this.remaining === 0) this.endPacket();
        return;
      case St.ENCRYPTED:
      case St.FAILED:
        return;
      default:
        return this.fail();
    }
  }

  /**
   * Bytes of this direction were lost (a gap the capture never filled), and reading goes on at `buf[off, end)`
   * when they start a cleartext SSH-2 binary packet (see {@linkcode startsSsh2Packet}): what was being read is
   * dropped (a banner not seen stays unknown) and the parser expects that packet's header. Returns false,
   * changing nothing, when they do not start one, or when the direction is not reading SSH-2 packets (settled,
   * or an SSH-1 session).
   */
  resync(buf: Uint8Array, off: number, end: number): boolean {
    if (this.settled || this.peerMajor === 1 || this.banner?.protoVersion.startsWith("1.") === true) {
      return false;
    }
    if (!startsSsh2Packet(buf, off, end)) return false;
    this.st = St.HEADER;
    this.line = null;
    this.lineLen = 0;
    this.skipLen = -1;
    this.hdrLen = 0;
    this.remaining = 0;
    this.body = null;
    this.bodyLen = 0;
    this.whole = true;
    return true;
  }

  /**
   * The direction's next `n` bytes were lost (a gap the capture never filled). When they lie within the packet
   * being read, it is passed over by its length, its message not counted (as tshark counts none it could not
   * reassemble; a KEXINIT so cut has no HASSH), and reading goes on with the next packet. Returns false,
   * changing nothing, when they do not: the next packet starts among them, at a place unknown.
   */
  skipLost(n: number): boolean {
    if (this.st !== St.BODY || n > this.remaining) return false;
    this.body = null;
    this.whole = false;
    this.remaining -= n;
    if (this.remaining === 0) this.endPacket();
    return true;
  }

  private fail(): void {
    this.st = St.FAILED;
    this.failed = true;
    this.line = null;
    this.body = null;
  }

  private feedLine(buf: Uint8Array, p: number, end: number): number {
    // Fast path: a whole line in this segment with nothing buffered.
    let nl = -1;
    for (let i = p; i < end; i++) {
      if (buf[i] === 0x0a) {
        nl = i;
        break;
      }
    }
    if (this.skipLen >= 0) return this.skipLine(p, nl, end);
    if (this.lineLen === 0 && nl >= 0) {
      this.endLine(buf, p, nl);
      return nl + 1;
    }
    if (
      this.lineLen === 0 && end - p >= 4 && !(buf[p] === 0x53 && buf[p + 1] === 0x53 && buf[p + 2] === 0x48)
    ) {
      // A pre-banner line must be printable text; anything else is not SSH.
      if (buf[p] < 0x09) {
        this.fail();
        return end;
      }
    }
    const stop = nl >= 0 ? nl : end;
    const n = stop - p;
    if (this.lineLen + n > MAX_LINE) {
      // Too long for an identification string; a longer line before it is skipped to its end.
      if (this.lineStartsWithSsh(buf, p, stop)) {
        this.fail();
        return end;
      }
      this.skipLen = this.lineLen;
      this.lineLen = 0;
      return this.skipLine(p, nl, end);
    }
    if (this.line === null) this.line = new Uint8Array(MAX_LINE);
    this.line.set(buf.subarray(p, stop), this.lineLen);
    this.lineLen += n;
    if (nl < 0) return end;
    const line = this.line;
    const len = this.lineLen;
    this.lineLen = 0;
    this.endLine(line, 0, len);
    return nl + 1;
  }

  private endLine(buf: Uint8Array, off: number, end: number): void {
    const b = parseSshBanner(buf, off, end);
    if (b !== null) {
      this.banner = b;
      this.line = null;
      // After "1.99" the protocol is the peer's choice, known by the time this side sends its next bytes.
      this.st = b.protoVersion === "1.99"
        ? St.AWAIT_MODE
        : b.protoVersion.startsWith("1.")
        ? St.SSH1_HEADER
        : St.HEADER;
      this.hdrLen = 0;
      return;
    }
    // RFC 4253's 255 bytes bound the identification string, not the lines before it.
    const long = end - off > (isSshDash(buf, off, end) ? 255 : MAX_PRE_LINE);
    if (++this.preLines > MAX_PRE_LINES || long) this.fail();
  }

  /** Skips `buf[p, nl or end)` of a long pre-banner line; returns where reading goes on. */
  private skipLine(p: number, nl: number, end: number): number {
    this.skipLen += (nl >= 0 ? nl : end) - p;
    if (this.skipLen > MAX_PRE_LINE) {
      this.fail();
      return end;
    }
    if (nl < 0) return end;
    this.skipLen = -1;
    if (++this.preLines > MAX_PRE_LINES) this.fail();
    return nl + 1;
  }

  /** True when the current line (the bytes kept, then `buf[p, stop)`) starts with "SSH-" as far as it goes. */
  private lineStartsWithSsh(buf: Uint8Array, p: number, stop: number): boolean {
    for (let i = 0; i < 4; i++) {
      const c = i < this.lineLen
        ? this.line![i]
        : p + i - this.lineLen < stop
        ? buf[p + i - this.lineLen]
        : -1;
      if (c < 0) return true;
      if (c !== "SSH-".charCodeAt(i)) return false;
    }
    return true;
  }

  private feedHeader(buf: Uint8Array, p: number, end: number): number {
    while (this.hdrLen < 6 && p < end) this.hdr[this.hdrLen++] = buf[p++];
    if (this.hdrLen < 6) return p;
    const h = this.hdr;
    const len = u32(h, 0);
    const pad = h[4];
    if (len > SSH_MAX_PACKET || len < pad + 2) {
      this.fail();
      return end;
    }
    this.msg = h[5];
    this.remaining = len - 2; // padding length byte and message number consumed
    this.cleartextPackets++;
    if (this.msg === SshMsg.KEXINIT && this.kexInit === null) {
      const payloadLen = len - 1 - pad; // includes the message number
      if (payloadLen <= SSH_MAX_KEXINIT) {
        if (end - p >= this.remaining) {
          // The whole packet is in these bytes (the message number just read is at p - 1): parse it in place.
          const k = parseSshKexInit(buf, p - 1, p - 1 + payloadLen);
          p += this.remaining;
          this.remaining = 0;
          this.kexInit = k;
          this.kexMessages++;
          this.hdrLen = 0;
          this.st = St.HEADER;
          return p;
        }
        // Grown as the packet comes (withRoom): a header can claim 64 KiB and nothing follow it.
        this.bodyCap = payloadLen;
        this.body = new Uint8Array(Math.min(payloadLen, 2048));
        this.body[0] = this.msg;
        this.bodyLen = 1;
      }
    }
    this.st = St.BODY;
    if (this.remaining === 0) this.endPacket();
    return p;
  }

  private feedBody(buf: Uint8Array, p: number, end: number): number {
    const n = Math.min(this.remaining, end - p);
    let body = this.body;
    if (body !== null && this.bodyLen < this.bodyCap) {
      const take = Math.min(n, this.bodyCap - this.bodyLen);
      body = this.body = withRoom(
        body,
        this.bodyLen,
        Math.min(this.bodyLen + take, this.bodyCap),
        this.bodyCap,
      );
      body.set(buf.subarray(p, p + take), this.bodyLen);
      this.bodyLen += take;
    }
    this.remaining -= n;
    p += n;
    if (this.remaining === 0) this.endPacket();
    return p;
  }

  /** A whole packet was read: a key-exchange message counts only then (one cut by a gap never read is not). */
  private endPacket(): void {
    if (this.msg >= 20 && this.msg <= 49 && this.whole) this.kexMessages++;
    this.whole = true;
    if (this.body !== null) {
      this.kexInit = parseSshKexInit(this.body, 0, this.bodyLen);
      this.body = null;
    }
    this.hdrLen = 0;
    this.st = this.msg === SshMsg.NEWKEYS ? St.ENCRYPTED : St.HEADER;
  }

  private feedSsh1Header(buf: Uint8Array, p: number, end: number): number {
    // SSH-1: uint32 length, 8 - length % 8 bytes of padding, then type, data and CRC (the length counts these).
    while (this.hdrLen < 4 && p < end) this.hdr[this.hdrLen++] = buf[p++];
    if (this.hdrLen < 4) return p;
    const h = this.hdr;
    const len = u32(h, 0);
    if (len < 5 || len > SSH_MAX_PACKET) {
      this.fail();
      return end;
    }
    this.padLeft = 8 - (len % 8);
    this.remaining = len;
    this.st = St.SSH1_PAD;
    return p;
  }

  private feedSsh1Pad(buf: Uint8Array, p: number, end: number): number {
    const n = Math.min(this.padLeft, end - p);
    this.padLeft -= n;
    p += n;
    if (this.padLeft > 0 || p >= end) return p;
    this.msg = buf[p++];
    this.remaining--;
    this.cleartextPackets++;
    // SSH_SMSG_PUBLIC_KEY (2) from the server, SSH_CMSG_SESSION_KEY (3) from the client.
    if (this.msg === 2 || this.msg === 3) this.kexMessages++;
    this.st = St.SSH1_BODY;
    if (this.remaining === 0) this.endSsh1Packet();
    return p;
  }

  private endSsh1Packet(): void {
    this.hdrLen = 0;
    // Everything after the key messages is encrypted.
    this.st = this.msg === 2 || this.msg === 3 ? St.ENCRYPTED : St.SSH1_HEADER;
  }
}

/**
 * Both directions of one SSH connection with the client side known: banners, KEXINITs and HASSH values.
 *
 * @example
 * ```ts
 * import { SshSession } from "./ssh.ts";
 * const s = new SshSession();
 * s.feed(1, new TextEncoder().encode("SSH-2.0-OpenSSH_9.6\r\n"), 0, 21);
 * console.log(s.server.banner?.protoVersion); // "2.0"
 * ```
 */
export class SshSession {
  /** The parsers, indexed by role: `client` and `server`. */
  readonly client: SshDirectionParser = new SshDirectionParser();
  readonly server: SshDirectionParser = new SshDirectionParser();

  /** Feeds bytes from the client (`fromServer` 0) or from the server (1); `pos` as for the direction's feed. */
  feed(fromServer: 0 | 1, buf: Uint8Array, off: number, end: number, pos = -1): void {
    if (fromServer === 0) {
      this.client.feed(buf, off, end, pos);
      if (this.client.banner !== null) {
        this.server.peerMajor = this.client.banner.protoVersion.startsWith("1.") &&
            this.client.banner.protoVersion !== "1.99"
          ? 1
          : 2;
      }
    } else {
      this.server.feed(buf, off, end, pos);
    }
  }

  /**
   * A direction's next `n` bytes were not captured and end their segment (see
   * {@linkcode SshDirectionParser.cut}).
   */
  cut(fromServer: 0 | 1, n: number): void {
    if (fromServer === 1) {
      this.server.cut(n);
      return;
    }
    this.client.cut(n);
    const b = this.client.banner;
    if (b !== null) {
      this.server.peerMajor = b.protoVersion.startsWith("1.") && b.protoVersion !== "1.99" ? 1 : 2;
    }
  }

  /** The protocol version in use: the client's unless it only answered a 1.99 server, else the server's. */
  get version(): string | null {
    const c = this.client.banner?.protoVersion ?? null;
    const s = this.server.banner?.protoVersion ?? null;
    if (c !== null && c !== "1.99") return c;
    if (s !== null && s !== "1.99") return s;
    return c ?? s;
  }

  /** True once both KEXINITs are parsed (or can no longer be). */
  get kexDone(): boolean {
    return (this.client.kexInit !== null || this.client.settled) &&
      (this.server.kexInit !== null || this.server.settled);
  }
}

/**
 * True when `buf[off, end)` starts like a cleartext SSH-2 binary packet of the key exchange (RFC 4253 section
 * 6): a length within bounds that, with its own 4 bytes, is a multiple of 8 (the block size without a cipher),
 * 4 to 255 bytes of padding within it, and a key-exchange message number (20 to 49).
 *
 * @example
 * ```ts
 * import { startsSsh2Packet } from "./ssh.ts";
 * // A NEWKEYS packet: length 12, padding 10, message 21.
 * console.log(startsSsh2Packet(new Uint8Array([0, 0, 0, 12, 10, 21]), 0, 6)); // true
 * ```
 */
export function startsSsh2Packet(buf: Uint8Array, off: number, end: number): boolean {
  if (end - off < 6) return false;
  const len = u32(buf, off);
  const pad = buf[off + 4], msg = buf[off + 5];
  return len <= SSH_MAX_PACKET && (len + 4) % 8 === 0 && pad >= 4 && len >= pad + 2 && msg >= 20 && msg <= 49;
}

/** True when `buf[off, end)` starts with "SSH-". */
function isSshDash(buf: Uint8Array, off: number, end: number): boolean {
  return end - off >= 4 && buf[off] === 0x53 && buf[off + 1] === 0x53 && buf[off + 2] === 0x48 &&
    buf[off + 3] === 0x2d;
}
