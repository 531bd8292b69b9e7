/**
 * `tcp_fingerprint`: TCP stack fingerprints of both ends from the handshake: JA4T of the initiator's SYN and
 * JA4TS of the responder's SYN-ACK (`window_optionkinds_mss_windowscale`, e.g. `64240_2-4-8-1-3_1460_7`), a
 * coarse OS hint from the initial TTL and option layout (p0f's idea), the raw parts, and an uptime estimate from
 * TCP timestamps. For flows that are not TCP every value is null; without a captured SYN (SYN-ACK) that side's
 * fingerprint, OS hint and raw parts are null (its uptime comes from any packet with a timestamp option).
 *
 * @module
 */
import type { FeatureExtractor, FeatureSpec } from "../lib/extractor.ts";
import type { FlowState } from "../lib/flow.ts";
import { type PacketView, TCP } from "../lib/packet.ts";
import { readTcpOptions, tcpOptionKinds, tcpOptionsCut } from "./tcp_options.ts";

/** The handshake packet (SYN or SYN-ACK) of one side: window field, TTL, MSS and window scale (-1 absent), and
 * option kinds as {@linkcode tcpOptionKinds} writes them. */
export interface SynInfo {
  window: number;
  ttl: number;
  mss: number;
  ws: number;
  kinds: string;
  /** The capture cut the options short (a snapshot length): their layout, so JA4T and the OS hint, is unknown. */
  cut?: boolean;
}

/** Per-flow state of `tcp_fingerprint`. */
export class TcpFingerprintState {
  /** The initiator's SYN and the responder's SYN-ACK. */
  synFwd: SynInfo | null = null;
  synBwd: SynInfo | null = null;
  /** The responder's own SYN (a simultaneous open), taken when it sent no SYN-ACK. */
  synBwdOpen: SynInfo | null = null;
  /** First and last TSval of each side and when they were seen (-1: no timestamps). */
  tsFirstFwd = -1;
  tsFirstTimeFwd = 0;
  tsLastFwd = -1;
  tsLastTimeFwd = 0;
  tsFirstBwd = -1;
  tsFirstTimeBwd = 0;
  tsLastBwd = -1;
  tsLastTimeBwd = 0;
}

const f = (name: string, type: "int" | "float" | "str", description: string): FeatureSpec => ({
  name,
  type,
  description,
});

const features: FeatureSpec[] = [
  f(
    "tcp_fp_fwd",
    "str",
    "JA4T of the initiator's SYN: window_optionkinds_mss_windowscale (00 when absent; the MSS in at least two " +
      "digits and a window scale of 0 as 00, as FoxIO's reference writes them). Null when the capture cut the " +
      "SYN's options short (a snapshot length): the layout is not known.",
  ),
  f(
    "tcp_fp_bwd",
    "str",
    "JA4TS of the responder's SYN-ACK, same layout (of its own SYN in a simultaneous open without one).",
  ),
  f(
    "tcp_os_hint_fwd",
    "str",
    "Initiator OS family guessed from its SYN (null without one, or when its options were cut): scanner for a window of at most 4096 with no " +
      "option or MSS alone; else by initial TTL, at most 64: macos for options starting 2-1-3-1-1-8-4, linux for " +
      "2-4-8-1-3, 2-4-1-1-1-3 or 2-1-1-4-1-3, freebsd for 2-1-3-4-8 or 2-1-3-1-1-4-8, otherwise unix; at most " +
      "128: windows; above: network-device.",
  ),
  f("tcp_os_hint_bwd", "str", "Responder OS family guessed from its SYN-ACK (same values)."),
  f(
    "tcp_uptime_fwd",
    "float",
    "Initiator uptime estimate in hours: its first TSval (from any packet with the timestamp option) over the " +
      "timestamp clock rate: the rate measured between its first and last TSval when they are at least 1 s " +
      "apart and within 25% of 10, 100, 250 or 1000 Hz (that one), else 1000 Hz; meaningless for stacks that " +
      "randomize timestamps (Linux 4.10+).",
  ),
  f("tcp_uptime_bwd", "float", "Responder uptime estimate in hours, the same way."),
  f("tcp_fp_fwd_window", "int", "Window field of the initiator's SYN."),
  f("tcp_fp_fwd_ttl", "int", "IP TTL / hop limit of the initiator's SYN."),
  f(
    "tcp_fp_fwd_mss",
    "int",
    "MSS option of the initiator's SYN (null when absent, or cut off by the snapshot length).",
  ),
  f(
    "tcp_fp_fwd_ws",
    "int",
    "Window scale of the initiator's SYN (null when absent, or cut off by the snapshot length).",
  ),
  f("tcp_fp_bwd_window", "int", "Window field of the responder's SYN-ACK."),
  f("tcp_fp_bwd_ttl", "int", "IP TTL / hop limit of the responder's SYN-ACK."),
  f("tcp_fp_bwd_mss", "int", "MSS option of the responder's SYN-ACK (null when absent)."),
  f("tcp_fp_bwd_ws", "int", "Window scale of the responder's SYN-ACK (null when absent)."),
];

/**
 * JA4T text of a handshake packet (JA4TS for a SYN-ACK).
 *
 * @example
 * ```ts
 * import { ja4t } from "./tcp_fingerprint.ts";
 * console.log(ja4t({ window: 1024, ttl: 40, mss: 1460, ws: -1, kinds: "2" })); // 1024_2_1460_00
 * console.log(ja4t({ window: 5744, ttl: 64, mss: 1436, ws: 0, kinds: "2-4-8-1-3" })); // 5744_2-4-8-1-3_1436_00
 * console.log(ja4t({ window: 8192, ttl: 64, mss: 9, ws: 7, kinds: "2-3" })); // 8192_2-3_09_7
 * ```
 */
export function ja4t(s: SynInfo): string {
  // As FoxIO's reference formats them: the MSS in at least two digits, a window scale of 0 as absent ("00").
  const mss = s.mss >= 0 ? String(s.mss).padStart(2, "0") : "00";
  return `${s.window}_${s.kinds === "" ? "00" : s.kinds}_${mss}_${s.ws > 0 ? s.ws : "00"}`;
}

/**
 * A coarse OS family from a SYN's initial TTL and option layout.
 *
 * @example
 * ```ts
 * import { osHint } from "./tcp_fingerprint.ts";
 * console.log(osHint({ window: 64240, ttl: 64, mss: 1460, ws: 7, kinds: "2-4-8-1-3" })); // linux
 * ```
 */
export function osHint(s: SynInfo): string {
  const k = s.kinds;
  if (k === "" || k === "2") {
    // Scanners craft bare SYNs (nmap: window 1024-4096, MSS only).
    if (s.window <= 4096) return "scanner";
  }
  if (s.ttl <= 64) {
    if (k.startsWith("2-1-3-1-1-8-4")) return "macos";
    if (k.startsWith("2-4-8-1-3") || k === "2-4-1-1-1-3" || k.startsWith("2-1-1-4-1-3")) return "linux";
    if (k.startsWith("2-1-3-4-8") || k.startsWith("2-1-3-1-1-4-8")) return "freebsd";
    return "unix";
  }
  if (s.ttl <= 128) return "windows";
  return "network-device";
}

/** Usual TCP timestamp clock rates, Hz. */
const CLOCK_RATES: readonly number[] = [10, 100, 250, 1000];

function uptime(first: number, firstTime: number, last: number, lastTime: number): number | null {
  if (first < 0) return null;
  let hz = 1000;
  const dt = (lastTime - firstTime) / 1e9;
  if (dt >= 1) {
    const rate = ((last - first) >>> 0) / dt;
    for (const h of CLOCK_RATES) {
      if (Math.abs(rate - h) <= 0.25 * h) hz = h;
    }
  }
  return first / hz / 3600;
}

/**
 * The `tcp_fingerprint` group.
 *
 * @example
 * ```ts
 * import { tcpFingerprintExtractor } from "./tcp_fingerprint.ts";
 * console.log(tcpFingerprintExtractor.features[0].name); // tcp_fp_fwd
 * ```
 */
export const tcpFingerprintExtractor: FeatureExtractor<TcpFingerprintState | null> = {
  name: "tcp_fingerprint",
  features,
  init: (flow: FlowState): TcpFingerprintState | null =>
    flow.protocol === 6 ? new TcpFingerprintState() : null,
  update(s: TcpFingerprintState | null, p: PacketView, _flow: FlowState, dir: 0 | 1): void {
    if (s === null || p.tcpHdrLen === 0) return;
    const fl = p.tcpFlags;
    const simultaneous = dir === 1 && (fl & TCP.ACK) === 0 && s.synBwdOpen === null;
    if (
      (fl & TCP.SYN) &&
      (simultaneous || (((fl & TCP.ACK) !== 0) === (dir === 1) && (dir === 0 ? s.synFwd : s.synBwd) === null))
    ) {
      const o = readTcpOptions(p);
      const info: SynInfo = {
        window: p.tcpWindow,
        ttl: p.ttl,
        mss: o.mss,
        ws: o.ws,
        kinds: tcpOptionKinds(p),
        cut: tcpOptionsCut(p),
      };
      if (dir === 0) s.synFwd = info;
      else if (simultaneous) s.synBwdOpen = info;
      else s.synBwd = info;
    }
    if (p.tcpHdrLen > 20) {
      const tsVal = readTcpOptions(p).tsVal;
      if (tsVal >= 0) {
        if (dir === 0) {
          if (s.tsFirstFwd < 0) {
            s.tsFirstFwd = tsVal;
            s.tsFirstTimeFwd = p.tsNs;
          }
          s.tsLastFwd = tsVal;
          s.tsLastTimeFwd = p.tsNs;
        } else {
          if (s.tsFirstBwd < 0) {
            s.tsFirstBwd = tsVal;
            s.tsFirstTimeBwd = p.tsNs;
          }
          s.tsLastBwd = tsVal;
          s.tsLastTimeBwd = p.tsNs;
        }
      }
    }
  },
  finish(s: TcpFingerprintState | null, _flow: FlowState, out): void {
    if (s === null) return;
    const a = s.synFwd, b = s.synBwd ?? s.synBwdOpen;
    if (a !== null) {
      out.tcp_fp_fwd = a.cut ? null : ja4t(a);
      out.tcp_os_hint_fwd = a.cut ? null : osHint(a);
      out.tcp_fp_fwd_window = a.window;
      out.tcp_fp_fwd_ttl = a.ttl;
      out.tcp_fp_fwd_mss = a.mss >= 0 ? a.mss : null;
      out.tcp_fp_fwd_ws = a.ws >= 0 ? a.ws : null;
    }
    if (b !== null) {
      out.tcp_fp_bwd = b.cut ? null : ja4t(b);
      out.tcp_os_hint_bwd = b.cut ? null : osHint(b);
      out.tcp_fp_bwd_window = b.window;
      out.tcp_fp_bwd_ttl = b.ttl;
      out.tcp_fp_bwd_mss = b.mss >= 0 ? b.mss : null;
      out.tcp_fp_bwd_ws = b.ws >= 0 ? b.ws : null;
    }
    out.tcp_uptime_fwd = uptime(s.tsFirstFwd, s.tsFirstTimeFwd, s.tsLastFwd, s.tsLastTimeFwd);
    out.tcp_uptime_bwd = uptime(s.tsFirstBwd, s.tsFirstTimeBwd, s.tsLastBwd, s.tsLastTimeBwd);
  },
};
