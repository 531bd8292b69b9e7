/**
 * `ssh`: SSH detection on any TCP port (by the "SSH-" identification string, also after a client's HTTP CONNECT
 * to a proxy and the proxy's answer), client and server banners, the protocol version, HASSH / HASSH-server from
 * the two KEXINITs (as Wireshark's `ssh.kex.hassh` / `ssh.kex.hasshserver`), cleartext key-exchange message
 * count and encrypted packet count.
 *
 * The client is the side talking to port 22 when exactly one side uses it (Wireshark's rule), else the SYN
 * sender, else the side on an ephemeral port (32768 and up) facing one below, else the flow's initiator. Once
 * both directions are encrypted (or unparsable) only a counter runs.
 *
 * Each direction is reassembled from its SYN's sequence number (segments out of order or sent again, the first
 * copy kept), also before the banner has come. A direction whose first bytes seen are a KEXINIT packet (its
 * banner not captured: the capture, or the flow part, began after it) is read from there, once the other side's
 * banner made the flow SSH. After a gap that is never filled (a segment not captured), reading
 * goes on at the next packet: where the packet the gap cut ends, when its header was read (that packet is not
 * counted), else at the first segment after the gap that starts a cleartext key-exchange packet. When none does
 * (the gap held NEWKEYS), the direction's later messages and encrypted packets are not counted (once the direction
 * switched to encryption, nothing is read, and each packet captured counts: a gap then loses its own). The bytes a
 * snapshot length cut from a segment are passed over once the stream reaches them (a message by its length, a
 * banner line taken to end with its segment), and reading goes on after them.
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec, FlowRecord } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { isHttpConnect } from "../lib/protocols/http.ts";
import {
  hassh,
  hasshString,
  type SshDirectionParser,
  SshSession,
  startsSsh2Packet,
} from "../lib/protocols/ssh.ts";
import { payloadSeq, TcpStreamBuffer } from "../lib/protocols/tcp_stream.ts";

/** Bytes of out-of-order data kept per direction while the handshake is parsed. */
const STREAM_CAP = 65536;
/**
 * Bytes kept ahead of a direction's first byte, at most: past them, it is taken as lost. A banner and a KEXINIT
 * take 2-3 KB.
 */
const EARLY_MAX = 16384;
/** Packets per direction whose stream offset is kept until it settles (see `SshState.starts`). */
const MAX_STARTS = 256;

/**
 * Per-flow state of `ssh` (TCP flows only).
 *
 * @example
 * ```ts
 * import { SshState } from "./ssh.ts";
 * console.log(new SshState().session); // null
 * ```
 */
export class SshState {
  /**
   * Created when a direction's first payload starts with "SSH-", or when the server's does not but is text
   * (lines it may send before its identification string, RFC 4253 section 4.2).
   */
  session: SshSession | null = null;
  /** The session was started on the server's text, before any "SSH-": the client's first payload confirms it. */
  speculative = false;
  /** Directions whose first payload was examined (bit per direction). */
  seen = 0;
  /** Set when neither direction starts like SSH: nothing more to do. */
  notSsh = false;
  /** Direction of the server (0 or 1), fixed when the session is created. */
  serverDir = 1;
  /** Direction that sent a SYN without ACK (-1 unknown), and the SYN sequence numbers. */
  synDir = -1;
  isn0 = 0;
  isn1 = 0;
  isnKnown = 0;
  streams: TcpStreamBuffer[] | null = null;
  /** Payload packets seen after their direction switched to encryption. */
  encPackets = 0;
  /**
   * Per direction, once it switched: how far past the end of its NEWKEYS the highest payload packet since began
   * (bytes), and that packet's sequence number. A packet starting before that end (a retransmission of the
   * segment that held NEWKEYS) is not an encrypted one.
   */
  encAhead: [number, number] = [0, 0];
  encAheadSeq: [number, number] = [0, 0];
  /**
   * Stream offsets of each direction's payload packets read before it settled (MAX_STARTS at most): those
   * starting at or after the end of NEWKEYS are encrypted ones, whatever the order they came in (segments
   * waiting behind a hole were read in one go, and counted as one).
   */
  starts: [number[], number[]] | null = null;
  /** Both directions settled (encrypted or unparsable): only counting remains. */
  done = false;
}

const f = (name: string, type: "int" | "str" | "bool", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f("ssh_detected", "bool", "True when an SSH identification string was seen."),
  f("ssh_version", "str", 'SSH protocol version in use, e.g. "2.0" (the client\'s unless it is "1.99").'),
  f(
    "ssh_client_software",
    "str",
    'Client software version from its banner, e.g. "OpenSSH_8.9p1" (null when a snapshot length cut the banner ' +
      "before its end was seen).",
  ),
  f(
    "ssh_server_software",
    "str",
    'Server software version from its banner, e.g. "OpenSSH_9.1" (null when a snapshot length cut the banner ' +
      "before its end was seen).",
  ),
  f(
    "ssh_client_version",
    "str",
    "The client's full identification string (without CR LF; as far as it was captured when a snapshot length " +
      "cut it, as tshark shows it).",
  ),
  f("ssh_server_version", "str", "The server's full identification string (the same way)."),
  f("ssh_hassh", "str", "HASSH: MD5 of kex;enc_c2s;mac_c2s;comp_c2s from the client's KEXINIT."),
  f(
    "ssh_hassh_server",
    "str",
    "HASSH-server: MD5 of kex;enc_s2c;mac_s2c;comp_s2c from the server's KEXINIT.",
  ),
  f(
    "ssh_kex_packets",
    "int",
    "Cleartext key-exchange messages (SSH-2 numbers 20-49, read whole; SSH-1 key messages, by their type " +
      "byte). After a gap in a direction's stream that is never filled (a segment not captured), from the next " +
      "packet on: where the one the gap cut ends (not counted), else at the first segment that starts one; " +
      "none when no segment does.",
  ),
  f(
    "ssh_encrypted_packets",
    "int",
    "Payload packets sent after their direction switched to encryption (those starting after its NEWKEYS, " +
      "whatever the order they came in, a retransmitted copy too; not a copy of the segment that held NEWKEYS). " +
      "When a gap never filled before the switch hides where packets start, none of the direction's are " +
      "counted (see ssh_kex_packets); after the switch, a packet the capture missed is one less.",
  ),
  f("ssh_hassh_string", "str", "The HASSH input string of the client."),
  f("ssh_hassh_server_string", "str", "The HASSH-server input string of the server."),
];

const SSH_DASH = [0x53, 0x53, 0x48, 0x2d];

/** True when the payload starts with "SSH-" (or is shorter and a prefix of it). */
function startsWithSsh(p: PacketView): boolean {
  const b = p.buf, o = p.payloadOff, n = Math.min(4, p.payloadCapLen);
  for (let i = 0; i < n; i++) if (b[o + i] !== SSH_DASH[i]) return false;
  return n > 0;
}

/**
 * True when the payload can start a line of text a server sends before its identification string: any byte
 * from a tab up, as the line parser takes them (OpenSSH refuses only NUL there; a greeting may start with an
 * ANSI escape, ESC [ 1 m).
 */
function startsWithText(p: PacketView): boolean {
  return p.buf[p.payloadOff] >= 0x09;
}

/** The server's direction: the side on port 22 when exactly one side is, else the SYN's receiver. */
function serverDirection(s: SshState, flow: FlowState): number {
  const sp = flow.srcPort, dp = flow.dstPort;
  if (dp === 22 && sp !== 22) return 1;
  if (sp === 22 && dp !== 22) return 0;
  if (s.synDir >= 0) return s.synDir ^ 1;
  // No SYN (a capture, or a flow cut by a timeout, that begins later): the side on a port below the ephemeral
  // range facing one inside it is the server. A part that began with the server's packets (sshd on 2222) had
  // the server's banner and KEXINIT as the client's.
  if (sp < EPHEMERAL_PORTS && dp >= EPHEMERAL_PORTS) return 0;
  return 1;
}

/** The first port of the ephemeral range (Linux's default; IANA's is 49152). */
const EPHEMERAL_PORTS = 32768;

function startSession(s: SshState, flow: FlowState): void {
  s.serverDir = serverDirection(s, flow);
  s.session = new SshSession();
  // With the segments that came ahead of their direction's first byte, if any.
  streamsOf(s);
}

/** True when the packet's data starts past its direction's first byte (from the SYN), which has not come yet:
 * reordered, or lost. */
function aheadOfFirstByte(s: SshState, p: PacketView, dir: 0 | 1): boolean {
  if ((s.isnKnown & (1 << dir)) === 0) return false;
  const first = ((dir === 0 ? s.isn0 : s.isn1) + 1) >>> 0;
  return ((payloadSeq(p.tcpSeq, p.tcpFlags) - first) | 0) > 0;
}

/** The flow's two streams, made (from the SYNs' sequence numbers, where known) at the first call. */
function streamsOf(s: SshState): TcpStreamBuffer[] {
  if (s.streams !== null) return s.streams;
  const streams = [new TcpStreamBuffer(STREAM_CAP), new TcpStreamBuffer(STREAM_CAP)];
  for (let d = 0; d < 2; d++) {
    if (s.isnKnown & (1 << d)) streams[d].setInitialSeq(((d === 0 ? s.isn0 : s.isn1) + 1) >>> 0);
  }
  return s.streams = streams;
}

/** Packets read before their direction settled whose bytes start after its NEWKEYS (`role` 1: the server). */
function encryptedBefore(starts: number[], sess: SshSession, role: 0 | 1): number {
  const at = (role === 1 ? sess.server : sess.client).encryptedAt;
  if (at < 0) return 0;
  let n = 0;
  for (let i = 0; i < starts.length; i++) if (starts[i] >= at) n++;
  return n;
}

/** Reads the direction's bytes held in order. */
function feedHeld(sess: SshSession, role: 0 | 1, st: TcpStreamBuffer): void {
  const a = st.available;
  if (a > 0) {
    sess.feed(role, st.data, st.offset, st.offset + a, st.consumedBytes);
    st.consume(a);
  }
}

/**
 * Passes over the bytes a snapshot length cut from each held segment the stream has reached (as a segment in
 * order has them passed over: see SshSession.cut), then reads the bytes held after them.
 */
function reachCuts(sess: SshSession, role: 0 | 1, st: TcpStreamBuffer): void {
  for (let missing = st.takeReachedCut(); missing > 0; missing = st.takeReachedCut()) {
    sess.cut(role, missing);
    st.skip(missing);
    feedHeld(sess, role, st);
  }
}

/** A direction's parser settled: encrypted packets are counted from the end of its NEWKEYS on. */
function settleDirection(s: SshState, dir: 0 | 1, parser: SshDirectionParser, st: TcpStreamBuffer): void {
  if (parser.encrypted) {
    if (parser.encryptedAt >= 0) s.encAheadSeq[dir] = st.seqOf(parser.encryptedAt);
    else s.encAhead[dir] = 2 ** 52; // where it switched is not known: every packet counts
  }
  st.release();
  settle(s);
}

/**
 * Goes on past a gap in a direction's stream that will not fill: the receiver acknowledged bytes after it (the
 * capture missed them), for a second of capture time or with half the cap waiting behind it (see
 * `TcpStreamBuffer.gapMissedSettled`; `now` is the packet's time: a segment stamped after its acknowledgement
 * comes sooner), or the flow ended (`now` Infinity). When the gap lies within a packet whose header was read,
 * the next packet starts where its length says (`SshDirectionParser.skipLost`; the cut packet is not counted,
 * as tshark counts none it could not reassemble). Otherwise reading resumes at the first segment held after the
 * gap that starts a cleartext key-exchange packet (`SshDirectionParser.resync`): a server's KEXINIT behind its
 * lost banner still gives HASSH-server, and the messages after a lost one are counted. When no segment held
 * starts one, the direction waits, unread, as before.
 */
function resyncMissed(s: SshState, dir: 0 | 1, now: number): void {
  const ended = now === Infinity;
  const sess = s.session, streams = s.streams;
  if (sess === null || streams === null || s.done) return;
  const role = dir === s.serverDir ? 1 : 0,
    parser = role === 1 ? sess.server : sess.client,
    st = streams[dir];
  if (parser.settled) return;
  while (!parser.settled && st.hasGap && (ended || st.gapMissedSettled(now))) {
    const v = st.firstRange!, at = st.firstRangeOffset;
    // Lost bytes within the packet being read: the next one starts where its length says. Else the bytes held
    // after the gap begin with a segment, those of the later segments joined to them at offsets in `starts`: the
    // first that starts a packet is where reading goes on.
    let from = 0;
    if (st.available !== 0 || !parser.skipLost(at - st.consumedBytes)) {
      if (!ended && v.length < 6) return;
      if (!startsSsh2Packet(v, 0, v.length)) {
        from = v.length;
        for (const x of s.starts?.[dir] ?? []) {
          const k = x - at;
          if (k > 0 && k < from && startsSsh2Packet(v, k, v.length)) from = k;
        }
      }
      if (from === v.length || !parser.resync(v, from, v.length)) return;
    }
    st.skipGap();
    st.skip(from);
    feedHeld(sess, role, st);
    reachCuts(sess, role, st);
  }
  if (parser.settled) settleDirection(s, dir, parser, st);
}

function settle(s: SshState): void {
  const sess = s.session!;
  if (sess.client.settled && sess.server.settled) {
    s.done = true;
    s.streams = null;
  }
}

/**
 * The `ssh` group.
 *
 * @example
 * ```ts
 * import { sshExtractor } from "./ssh.ts";
 * console.log(sshExtractor.features[0].name); // ssh_detected
 * ```
 */
export const sshExtractor: FeatureExtractor<SshState | null> = {
  name: "ssh",
  features,
  init: (flow: FlowState): SshState | null => flow.protocol === 6 ? new SshState() : null,
  update(s: SshState | null, p: PacketView, flow: FlowState, dir: 0 | 1): void {
    if (s === null || s.notSsh || p.tcpHdrLen === 0 || p.isFragment) return;
    const n = p.payloadCapLen;
    // What the receiver has of the other direction: a gap there it acknowledged was missed by the capture.
    if (s.streams !== null && (p.tcpFlags & TCP.ACK) !== 0) {
      const other = s.streams[dir ^ 1];
      other.noteAck(p.tcpAck);
      if (other.hasGap) resyncMissed(s, (dir ^ 1) as 0 | 1, p.ts);
    }
    if (s.session === null) {
      const fl = p.tcpFlags;
      if (fl & TCP.SYN) {
        if (dir === 0) s.isn0 = p.tcpSeq;
        else s.isn1 = p.tcpSeq;
        s.isnKnown |= 1 << dir;
        if (!(fl & TCP.ACK)) s.synDir = dir;
        else if (s.synDir < 0) s.synDir = dir ^ 1;
      }
      if (n === 0) return;
      if ((s.seen & (1 << dir)) === 0 && aheadOfFirstByte(s, p, dir)) {
        // It cannot tell whether the flow is SSH: it is kept until the first byte comes and tells (a KEXINIT
        // ahead of its banner lost the HASSH). Past EARLY_MAX bytes the first byte is taken as lost: the
        // direction is judged as one that does not start like SSH.
        const st = streamsOf(s)[dir];
        st.push(payloadSeq(p.tcpSeq, p.tcpFlags), p.buf, p.payloadOff, n);
        if (st.buffered > EARLY_MAX) {
          st.release();
          s.seen |= 1 << dir;
          if (s.seen === 3) {
            s.notSsh = true;
            s.streams = null;
          }
        }
        return;
      }
      if (!startsWithSsh(p)) {
        // Only the server may send lines before its identification string, and only before the client has
        // sent anything else than its own.
        const server = serverDirection(s, flow);
        // Client bytes kept ahead of its first byte count as sent.
        const client = server ^ 1;
        const clientSent = (s.seen & (1 << client)) !== 0 ||
          (s.streams !== null && s.streams[client].buffered > 0);
        // Or the client's CONNECT to an HTTP proxy, whose answer comes before the server's banner, and its own
        // banner after the request's lines (ssh -o ProxyCommand, corkscrew, nc -X connect; tshark reads SSH there).
        const connect = dir === client && !clientSent && isHttpConnect(p.buf, p.payloadOff, p.payloadCapLen);
        if (!connect && (dir !== server || clientSent || !startsWithText(p))) {
          s.seen |= 1 << dir;
          if (s.seen === 3) {
            s.notSsh = true;
            s.streams = null;
          }
          return;
        }
        if (!connect) s.speculative = true;
      }
      s.seen |= 1 << dir;
      startSession(s, flow);
    }
    if (n === 0) return;
    const sess = s.session!;
    const role: 0 | 1 = dir === s.serverDir ? 1 : 0;
    if (s.speculative && role === 0 && !aheadOfFirstByte(s, p, dir)) {
      // The client's first bytes decide a session started on the server's text (an SMTP or FTP greeting, most
      // often).
      s.speculative = false;
      if (!startsWithSsh(p) && sess.server.banner === null) {
        s.session = null;
        s.streams = null;
        s.notSsh = true;
        return;
      }
    }
    const parser = role === 1 ? sess.server : sess.client;
    if (parser.settled) {
      if (parser.encrypted) {
        // Unwrapped from the highest packet since the switch, so that a flow of any length compares right.
        const seq = payloadSeq(p.tcpSeq, p.tcpFlags);
        const ahead = s.encAhead[dir] + ((seq - s.encAheadSeq[dir]) | 0);
        if (ahead >= 0) s.encPackets++;
        if (ahead > s.encAhead[dir]) {
          s.encAhead[dir] = ahead;
          s.encAheadSeq[dir] = seq;
        }
      }
      if (!s.done) settle(s);
      return;
    }
    const st = s.streams![dir];
    const seq = payloadSeq(p.tcpSeq, p.tcpFlags);
    const at = st.offsetOf(seq), starts = (s.starts ??= [[], []])[dir];
    if (st.isNext(seq)) {
      if (starts.length < MAX_STARTS) starts.push(at);
      sess.feed(role, p.buf, p.payloadOff, p.payloadOff + n, at);
      // A segment the snapshot length cut: its bytes not captured are passed over (see SshSession.cut), and the
      // stream goes on after them. (One that comes out of order waits for the stream to reach it: reachCuts.)
      const sent = Math.max(n, p.payloadLen);
      if (sent > n) sess.cut(role, sent - n);
      st.advanceDirect(seq, sent);
    } else {
      const dropped = st.droppedBytes;
      st.push(seq, p.buf, p.payloadOff, n);
      // New bytes the buffer kept (not a retransmission, not past its cap).
      if (
        at + n > st.consumedBytes && st.droppedBytes - dropped < n && starts.length < MAX_STARTS &&
        !starts.includes(at)
      ) starts.push(at);
      if (p.payloadLen > n) st.noteCut(seq + n, seq + p.payloadLen);
      feedHeld(sess, role, st);
      reachCuts(sess, role, st);
    }
    if (!parser.settled && st.hasGap) resyncMissed(s, dir, p.ts);
    else if (parser.settled) settleDirection(s, dir, parser, st);
  },
  finish(s: SshState | null, _flow: FlowState, out: FlowRecord): void {
    // The bytes held after gaps that were never filled.
    if (s !== null) { for (const d of [0, 1] as const) resyncMissed(s, d, Infinity); }
    const sess = s?.session ?? null;
    const c = sess?.client.banner ?? null;
    const v = sess?.server.banner ?? null;
    const detected = c !== null || v !== null;
    out.ssh_detected = detected;
    // Pipeline records start with every column null; a record made by hand gets them here.
    if (out.ssh_hassh_server_string === undefined) {
      for (let i = 1; i < features.length; i++) out[features[i].name] = null;
    }
    if (!detected || s === null || sess === null) return;
    out.ssh_version = sess.version;
    out.ssh_client_software = c?.software ?? null;
    out.ssh_server_software = v?.software ?? null;
    out.ssh_client_version = c?.raw ?? null;
    out.ssh_server_version = v?.raw ?? null;
    const ck = sess.client.kexInit, sk = sess.server.kexInit;
    out.ssh_hassh = ck !== null ? hassh(ck, false) : null;
    out.ssh_hassh_server = sk !== null ? hassh(sk, true) : null;
    out.ssh_kex_packets = sess.client.kexMessages + sess.server.kexMessages;
    const starts = s.starts ?? [[], []];
    out.ssh_encrypted_packets = s.encPackets + encryptedBefore(starts[0], sess, s.serverDir === 0 ? 1 : 0) +
      encryptedBefore(starts[1], sess, s.serverDir === 1 ? 1 : 0);
    out.ssh_hassh_string = ck !== null ? hasshString(ck, false) : null;
    out.ssh_hassh_server_string = sk !== null ? hasshString(sk, true) : null;
  },
};
